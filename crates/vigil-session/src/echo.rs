//! Input typed where the terminal does not echo it (passwords at `sudo`, `read -s`, `passwd`)
//! must never reach the recording as bytes: only a redaction marker with the byte count. The
//! gateway cannot see the target's terminal modes, so it tells by what comes back: typed text
//! that is echoed shows up in the output that follows it, on the same line.
//!
//! `EchoJudge` is an I/O-free state machine per terminal channel. Each operator chunk with
//! printable text waits (in order) until the output after it either shows that text before the
//! next line break (echoed: recorded as typed) or does not (a line break first, or nothing
//! within [`ECHO_WAIT`]: redacted). Chunks of control bytes only (Enter, Ctrl-C, arrows) are
//! recorded as typed, in their place.
//!
//! What this is not: a terminal emulator. It errs toward redaction: keystrokes of full-screen
//! programs that draw something other than the key (vim's `dd`), keys typed while other output
//! streams past, and echoes slower than [`ECHO_WAIT`] are redacted too; the output track still
//! shows their effect. A program that prints the typed text back on purpose (a masked prompt
//! that shows the password) defeats it, as it would any observer of the screen.

use std::collections::VecDeque;
use std::time::Duration;

use bytes::Bytes;

/// How long a chunk's echo may take before the chunk is judged not echoed.
pub const ECHO_WAIT: Duration = Duration::from_secs(2);
/// Output kept while judging; past this the waiting chunks are judged not echoed.
const MAX_SEEN: usize = 64 * 1024;

/// What the recording gets for operator input, in the order it was typed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    /// Echoed (or control bytes only): record these bytes as typed at this time.
    Typed(Duration, Bytes),
    /// Not echoed: record that this many bytes were typed, never the bytes.
    Redacted(Duration, usize),
}

struct Waiting {
    at: Duration,
    bytes: Bytes,
    /// The printable text the echo must show (escape sequences and controls removed).
    expect: Vec<u8>,
    /// Where in `seen` the output after this chunk starts.
    from: usize,
    decided: Option<bool>,
}

#[derive(Default)]
pub struct EchoJudge {
    waiting: VecDeque<Waiting>,
    /// Output since the oldest waiting chunk, escape sequences and controls removed, line
    /// feeds kept.
    seen: Vec<u8>,
    out_esc: Escapes,
}

/// Strips escape sequences (CSI, OSC, DCS and two-byte ones) from a byte stream, across
/// chunk boundaries.
#[derive(Default, Clone, Copy, PartialEq, Eq)]
enum Escapes {
    #[default]
    Text,
    Esc,
    Csi,
    /// OSC, DCS, APC, PM, SOS: until BEL or ESC `\`.
    String,
    StringEsc,
}

impl Escapes {
    /// Feeds one byte; returns it when it is text or a line feed, nothing otherwise.
    fn feed(&mut self, b: u8) -> Option<u8> {
        match (*self, b) {
            (Escapes::Text, 0x1b) => *self = Escapes::Esc,
            (Escapes::Text, b'\n') => return Some(b'\n'),
            // A carriage return alone redraws the line (shells do, after completion): not a
            // line break.
            (Escapes::Text, b'\r') => {}
            (Escapes::Text, b) if b >= 0x20 && b != 0x7f => return Some(b),
            (Escapes::Text, _) => {}
            (Escapes::Esc, b'[') => *self = Escapes::Csi,
            (Escapes::Esc, b']' | b'P' | b'_' | b'^' | b'X') => *self = Escapes::String,
            // Two-byte sequences (and ESC followed by anything else) end here.
            (Escapes::Esc, _) => *self = Escapes::Text,
            (Escapes::Csi, 0x40..=0x7e) => *self = Escapes::Text,
            (Escapes::Csi, _) => {}
            (Escapes::String, 0x07) => *self = Escapes::Text,
            (Escapes::String, 0x1b) => *self = Escapes::StringEsc,
            (Escapes::String, _) => {}
            (Escapes::StringEsc, b'\\') => *self = Escapes::Text,
            (Escapes::StringEsc, _) => *self = Escapes::String,
        }
        None
    }
}

/// The printable text of typed input (escape sequences such as arrows and bracketed-paste
/// marks, and control bytes, removed).
fn printable(bytes: &[u8]) -> Vec<u8> {
    let mut esc = Escapes::default();
    bytes
        .iter()
        .filter_map(|&b| esc.feed(b))
        .filter(|&b| b != b'\n')
        .collect()
}

impl EchoJudge {
    /// Operator input at `at`. Returns what can be recorded now, in order.
    pub fn input(&mut self, at: Duration, bytes: Bytes) -> Vec<Verdict> {
        let expect = printable(&bytes);
        if expect.is_empty() && self.waiting.is_empty() {
            return vec![Verdict::Typed(at, bytes)];
        }
        self.waiting.push_back(Waiting {
            at,
            decided: expect.is_empty().then_some(true),
            bytes,
            expect,
            from: self.seen.len(),
        });
        self.release()
    }

    /// Target output. Returns what can be recorded now, in order.
    pub fn output(&mut self, bytes: &[u8]) -> Vec<Verdict> {
        if self.waiting.is_empty() {
            // Nothing to judge: keep the escape state only, so a sequence cut across chunks
            // is still recognised when input starts waiting.
            for &b in bytes {
                self.out_esc.feed(b);
            }
            return Vec::new();
        }
        for &b in bytes {
            if let Some(t) = self.out_esc.feed(b) {
                self.seen.push(t);
            }
        }
        if self.seen.len() > MAX_SEEN {
            for w in self.waiting.iter_mut().filter(|w| w.decided.is_none()) {
                w.decided = Some(false);
            }
        }
        self.judge();
        self.release()
    }

    /// The clock moved on to `now`: chunks waiting longer than [`ECHO_WAIT`] were not echoed.
    pub fn tick(&mut self, now: Duration) -> Vec<Verdict> {
        for w in self.waiting.iter_mut().filter(|w| w.decided.is_none()) {
            if now.saturating_sub(w.at) >= ECHO_WAIT {
                w.decided = Some(false);
            }
        }
        self.release()
    }

    /// The channel ended: whatever still waits was not echoed.
    pub fn finish(&mut self) -> Vec<Verdict> {
        for w in self.waiting.iter_mut() {
            w.decided.get_or_insert(false);
        }
        self.release()
    }

    fn judge(&mut self) {
        for w in self.waiting.iter_mut().filter(|w| w.decided.is_none()) {
            let after = &self.seen[w.from.min(self.seen.len())..];
            let line = match after.iter().position(|&b| b == b'\n') {
                Some(end) => &after[..end],
                None => after,
            };
            let found = line
                .windows(w.expect.len())
                .any(|window| window == w.expect.as_slice());
            if found {
                w.decided = Some(true);
            } else if line.len() < after.len() {
                // The line ended without the text: not echoed.
                w.decided = Some(false);
            }
        }
    }

    /// Hands out decided chunks from the front, in order; forgets output nobody waits for.
    fn release(&mut self) -> Vec<Verdict> {
        let mut out = Vec::new();
        while let Some(echoed) = self.waiting.front().and_then(|w| w.decided) {
            let Some(w) = self.waiting.pop_front() else {
                break;
            };
            out.push(if echoed {
                Verdict::Typed(w.at, w.bytes)
            } else {
                Verdict::Redacted(w.at, w.bytes.len())
            });
        }
        match self.waiting.front().map(|w| w.from) {
            None => self.seen.clear(),
            Some(from) if from > 0 => {
                self.seen.drain(..from.min(self.seen.len()));
                for w in &mut self.waiting {
                    w.from -= from;
                }
            }
            Some(_) => {}
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn ms(n: u64) -> Duration {
        Duration::from_millis(n)
    }

    /// One step of a script: `(">", typed)` or `("<", output)`.
    type Step<'a> = (&'a str, &'a [u8]);

    /// Runs a script of `(">", typed)` and `("<", output)` steps, 10 ms apart, then finishes;
    /// returns what the recording would hold: typed bytes as text, redactions as `[N]`.
    fn run(script: &[Step<'_>]) -> String {
        let mut judge = EchoJudge::default();
        let mut out = Vec::new();
        for (i, (dir, bytes)) in script.iter().enumerate() {
            let at = ms(10 * i as u64);
            out.extend(match *dir {
                ">" => judge.input(at, Bytes::copy_from_slice(bytes)),
                _ => judge.output(bytes),
            });
        }
        out.extend(judge.finish());
        out.iter()
            .map(|v| match v {
                Verdict::Typed(_, b) => String::from_utf8_lossy(b).into_owned(),
                Verdict::Redacted(_, n) => format!("[{n}]"),
            })
            .collect()
    }

    #[test]
    fn table() {
        let prompt: &[u8] = b"\r\nalice@web01:~$ ";
        let table: Vec<(&str, Vec<Step<'_>>, &str)> = vec![
            (
                "keys echoed one by one",
                vec![
                    (">", b"l"),
                    ("<", b"l"),
                    (">", b"s"),
                    ("<", b"s"),
                    (">", b"\r"),
                    ("<", b"\r\nfile\r\n"),
                ],
                "ls\r",
            ),
            (
                "typed faster than the echo",
                vec![(">", b"l"), (">", b"s"), ("<", b"ls"), (">", b"\r")],
                "ls\r",
            ),
            (
                "a password at a no-echo prompt",
                vec![
                    ("<", b"[sudo] password for alice: "),
                    (">", b"s"),
                    (">", b"3"),
                    (">", b"cret"),
                    (">", b"\r"),
                    ("<", prompt),
                ],
                "[1][1][4]\r",
            ),
            (
                "a pasted password and Enter in one chunk",
                vec![("<", b"Password: "), (">", b"hunter2\r"), ("<", prompt)],
                "[8]",
            ),
            (
                "a secret that starts like the next prompt",
                vec![
                    ("<", b"Password: "),
                    (">", b"alice"),
                    (">", b"\r"),
                    ("<", prompt),
                ],
                "[5]\r",
            ),
            (
                "echo wrapped in colour codes (fish, zsh highlighting)",
                vec![
                    (">", b"git"),
                    ("<", b"\x1b[31mg\x1b[0m\x1b[31mi\x1b[0m\x1b[32mt\x1b[0m"),
                ],
                "git",
            ),
            (
                "echo arriving in pieces",
                vec![
                    (">", b"hello"),
                    ("<", b"\x1b[?2004l"),
                    ("<", b"hel"),
                    ("<", b"lo"),
                ],
                "hello",
            ),
            (
                "an insert in the middle of a line redraws the rest",
                vec![(">", b"X"), ("<", b"Xrest of line\x1b[12D")],
                "X",
            ),
            (
                "arrows and Ctrl-C are recorded as typed",
                vec![(">", b"\x1b[A"), (">", b"\x03"), ("<", b"^C\r\n")],
                "\x1b[A\x03",
            ),
            (
                "bracketed paste is matched on its text",
                vec![(">", b"\x1b[200~echo hi\x1b[201~"), ("<", b"echo hi")],
                "\x1b[200~echo hi\x1b[201~",
            ),
            (
                "masked input shows stars, not the text",
                vec![
                    ("<", b"PIN: "),
                    (">", b"1234"),
                    ("<", b"****"),
                    (">", b"\r"),
                    ("<", b"\r\n"),
                ],
                "[4]\r",
            ),
            (
                "input with no output at all is redacted at the end",
                vec![(">", b"secret")],
                "[6]",
            ),
            (
                "order is kept around a redaction",
                vec![
                    ("<", b"pw: "),
                    (">", b"x"),
                    (">", b"\r"),
                    ("<", b"\r\n$ "),
                    (">", b"id"),
                    ("<", b"id"),
                ],
                "[1]\rid",
            ),
        ];
        for (what, script, want) in table {
            assert_eq!(run(&script), want, "{what}");
        }
    }

    #[test]
    fn unechoed_input_is_judged_after_the_wait() {
        let mut judge = EchoJudge::default();
        assert!(judge.input(ms(0), Bytes::from_static(b"pw")).is_empty());
        assert!(judge.tick(ms(1000)).is_empty());
        assert_eq!(judge.tick(ms(2000)), vec![Verdict::Redacted(ms(0), 2)]);
        // A late echo no longer matters, and is not kept.
        assert!(judge.output(b"pw").is_empty());
        assert!(judge.seen.is_empty());
    }

    proptest! {
        /// Whatever the streams, every typed byte is accounted for once, in order: as typed
        /// bytes or inside a redaction count.
        #[test]
        fn every_chunk_is_accounted_for_in_order(
            steps in proptest::collection::vec((any::<bool>(), proptest::collection::vec(any::<u8>(), 1..20)), 0..60)
        ) {
            let mut judge = EchoJudge::default();
            let mut verdicts = Vec::new();
            let mut typed = Vec::new();
            for (i, (is_input, bytes)) in steps.iter().enumerate() {
                if *is_input {
                    typed.push((ms(i as u64), bytes.len()));
                    verdicts.extend(judge.input(ms(i as u64), Bytes::copy_from_slice(bytes)));
                } else {
                    verdicts.extend(judge.output(bytes));
                }
            }
            verdicts.extend(judge.finish());
            let got: Vec<(Duration, usize)> = verdicts.iter().map(|v| match v {
                Verdict::Typed(at, b) => (*at, b.len()),
                Verdict::Redacted(at, n) => (*at, *n),
            }).collect();
            prop_assert_eq!(got, typed);
        }

        /// Text that never comes back is never recorded as bytes.
        #[test]
        fn text_never_echoed_is_never_recorded(secret in "[a-z0-9]{1,12}", prompt in "[A-Za-z: ]{0,20}") {
            let mut judge = EchoJudge::default();
            let mut verdicts = judge.output(prompt.as_bytes());
            verdicts.extend(judge.input(ms(1), Bytes::from(secret.clone().into_bytes())));
            verdicts.extend(judge.input(ms(2), Bytes::from_static(b"\r")));
            verdicts.extend(judge.output(b"\r\n$ "));
            verdicts.extend(judge.finish());
            for v in verdicts {
                if let Verdict::Typed(_, b) = v {
                    prop_assert!(!String::from_utf8_lossy(&b).contains(&secret));
                }
            }
        }
    }
}
