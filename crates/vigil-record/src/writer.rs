//! Writes asciicast v3 event by event. Knows nothing of where the bytes go: the session's
//! recorder task hands it a buffer and flushes that buffer to the store.

use serde::Serialize;
use std::io::{self, Write};
use std::time::Duration;

use crate::utf8::{Text, Utf8Carry, has_invalid_utf8};

/// What the header line says about the session.
#[derive(Debug, Clone, Serialize)]
pub struct Header {
    pub cols: u16,
    pub rows: u16,
    pub term_type: Option<String>,
    /// Unix seconds of the session's start.
    pub timestamp: u64,
    pub title: Option<String>,
    pub command: Option<String>,
}

/// What one pass over a chunk learns; every recorded byte is scanned once, here.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
struct Scan {
    /// Bytes JSON escaping would add: five for a control byte written `\u00XX`, one for the
    /// control bytes with a short escape (`\n`, `\r`, `\t`, `\b`, `\f`) and for `"` and `\\`.
    escape_cost: usize,
    /// Bytes of 0x80 and above: where the text is not UTF-8, each may become a three-byte
    /// U+FFFD in the lossy text a player shows.
    high: usize,
}

impl Scan {
    /// Written as flag counts over blocks of at most 255 bytes (the counters cannot
    /// overflow): the compiler turns that into SIMD compares, about 20 times faster than a
    /// `match` per byte on bulk output.
    fn of(bytes: &[u8]) -> Scan {
        let mut scan = Scan::default();
        for block in bytes.chunks(255) {
            let (mut control, mut short, mut quote, mut high) = (0u8, 0u8, 0u8, 0u8);
            for &b in block {
                control += u8::from(b < 0x20);
                short += u8::from(matches!(b, b'\n' | b'\r' | b'\t' | 0x08 | 0x0c));
                quote += u8::from(b == b'"' || b == b'\\');
                high += u8::from(b >= 0x80);
            }
            scan.escape_cost +=
                5 * usize::from(control) - 4 * usize::from(short) + usize::from(quote);
            scan.high += usize::from(high);
        }
        scan
    }

    fn add(&mut self, other: Scan) {
        self.escape_cost += other.escape_cost;
        self.high += other.high;
    }
}

/// A chunk at least this long is first judged by its two ends (see [`classify`]).
const SAMPLED: usize = 4096;
/// Bytes of each end judged.
const SAMPLE: usize = 512;

/// Binary output (random, compressed or encrypted bytes: what `tar czf -` prints) arrives in
/// chunks of 32 KiB that are binary from end to end, and counting every byte of them was 7%
/// of the node's CPU on such output. So a long chunk is first judged by [`SAMPLE`] bytes at
/// each end: when both are plainly binary, so is the chunk, and the rest is not counted.
/// Anything else is counted whole and judged by [`is_binary`], exactly as short chunks are.
///
/// "Plainly binary" is stricter than [`is_binary`]: bytes that are not UTF-8 and would more
/// than double as JSON text, or controls so dense that no terminal writes them (runs of NUL).
/// Text that is UTF-8, however dense its escape sequences (a full-screen program redrawing),
/// is never judged by samples. What this is not: a chunk that is binary at both ends with
/// text between (a prompt inside a binary stream) is a `b` event as a whole, so players show
/// nothing of it; its bytes are recorded exactly either way.
///
/// Returns the chunk's scan when it is text (binary chunks need none).
fn classify(bytes: &[u8]) -> Option<Scan> {
    let scan = if bytes.len() < SAMPLED {
        Scan::of(bytes)
    } else {
        let (head, rest) = bytes.split_at(SAMPLE);
        let mut scan = Scan::of(head);
        if plainly_binary(head, scan) {
            let (middle, tail) = rest.split_at(rest.len() - SAMPLE);
            let tail_scan = Scan::of(tail);
            if plainly_binary(tail, tail_scan) {
                return None;
            }
            scan.add(tail_scan);
            scan.add(Scan::of(middle));
        } else {
            scan.add(Scan::of(rest));
        }
        scan
    };
    (!is_binary(bytes.len(), scan, || has_invalid_utf8(bytes))).then_some(scan)
}

/// See [`classify`]: a sample of bytes that no terminal text looks like.
fn plainly_binary(sample: &[u8], scan: Scan) -> bool {
    scan.escape_cost > 4 * sample.len()
        || (2 * scan.high + scan.escape_cost > sample.len() && has_invalid_utf8(sample))
}

/// True when `len` bytes are binary rather than terminal text: written as JSON text they
/// would more than double. Escapes cost up to six bytes for a control byte; where the bytes
/// are not UTF-8 (`invalid` is asked only then), each high byte may become a three-byte
/// U+FFFD in the lossy text, which a `b` event must then follow. Terminal output, escape
/// sequences included, stays far below both; text in any script is valid UTF-8.
///
/// Binary chunks go straight to a `b` event: no lossy text is built for them.
fn is_binary(len: usize, scan: Scan, invalid: impl FnOnce() -> bool) -> bool {
    len >= 64 && (scan.escape_cost > len || (2 * scan.high + scan.escape_cost > len && invalid()))
}

#[derive(Serialize)]
struct HeaderLine<'a> {
    version: u8,
    term: Term<'a>,
    timestamp: u64,
    #[serde(skip_serializing_if = "Option::is_none")]
    title: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    command: Option<&'a str>,
}

#[derive(Serialize)]
struct Term<'a> {
    cols: u16,
    rows: u16,
    #[serde(rename = "type", skip_serializing_if = "Option::is_none")]
    type_: Option<&'a str>,
}

/// Streams events into `out`. Times are offsets from the session's start; the file stores
/// intervals, as v3 requires.
pub struct CastWriter<W: Write> {
    out: W,
    last: Duration,
    output: Utf8Carry,
    input: Utf8Carry,
    /// Output not yet written and when it started: chunks that follow within
    /// [`COALESCE_WITHIN`] join one event, so a shell printing line by line does not pay an
    /// event's framing for every line.
    pending: Option<Pending>,
    /// Reused for the base64 of binary events, so bulk output allocates nothing per chunk.
    scratch: Vec<u8>,
    /// base64 bytes written since [`CastWriter::take_base64_written`] was last called.
    base64_written: usize,
}

/// Coalesced output, with what the scan of its bytes found as they arrived, so each byte is
/// scanned once.
struct Pending {
    start: Duration,
    buf: Vec<u8>,
    scan: Scan,
}

/// Output chunks this close together become one event: a shell that forks a program per line
/// writes a line every 1-2 ms, and at 10 ms the framing of an event every few lines was a
/// third of the recording's overhead. 40 ms is one frame at 25 fps, finer than players show;
/// input still ends the coalescing, so each echoed keystroke keeps its own time.
const COALESCE_WITHIN: Duration = Duration::from_millis(40);
/// An event never grows past this while coalescing.
const COALESCE_MAX: usize = 64 * 1024;

impl<W: Write> CastWriter<W> {
    pub fn new(mut out: W, header: &Header) -> io::Result<Self> {
        let line = HeaderLine {
            version: 3,
            term: Term {
                cols: header.cols,
                rows: header.rows,
                type_: header.term_type.as_deref(),
            },
            timestamp: header.timestamp,
            title: header.title.as_deref(),
            command: header.command.as_deref(),
        };
        serde_json::to_writer(&mut out, &line)?;
        out.write_all(b"\n")?;
        Ok(Self {
            out,
            last: Duration::ZERO,
            output: Utf8Carry::default(),
            input: Utf8Carry::default(),
            pending: None,
            scratch: Vec::new(),
            base64_written: 0,
        })
    }

    pub fn output(&mut self, at: Duration, bytes: &[u8]) -> io::Result<()> {
        // Binary chunks are large and kept apart, so text next to them stays readable text.
        let text_scan = classify(bytes);
        if let Some(p) = &mut self.pending {
            let close = at.saturating_sub(p.start) <= COALESCE_WITHIN;
            if let Some(scan) = text_scan
                && close
                && p.buf.len() + bytes.len() <= COALESCE_MAX
            {
                p.buf.extend_from_slice(bytes);
                p.scan.add(scan);
                return Ok(());
            }
            self.flush_pending()?;
        }
        let Some(scan) = text_scan else {
            return self.binary_event(at, "o", bytes);
        };
        self.pending = Some(Pending {
            start: at,
            buf: bytes.to_vec(),
            scan,
        });
        Ok(())
    }

    /// Writes output held back for coalescing; the recorder calls it before every flush so
    /// that nothing waits in memory longer than the flush interval.
    pub fn flush_pending(&mut self) -> io::Result<()> {
        match self.pending.take() {
            Some(p) => {
                let text = self.output.push(&p.buf);
                self.text_event(p.start, "o", text, p.scan)
            }
            None => Ok(()),
        }
    }

    pub fn input(&mut self, at: Duration, bytes: &[u8]) -> io::Result<()> {
        self.flush_pending()?;
        let Some(scan) = classify(bytes) else {
            return self.binary_event(at, "i", bytes);
        };
        let text = self.input.push(bytes);
        self.text_event(at, "i", text, scan)
    }

    pub fn resize(&mut self, at: Duration, cols: u32, rows: u32) -> io::Result<()> {
        self.flush_pending()?;
        self.event(at, "r", &format!("{cols}x{rows}"))
    }

    pub fn marker(&mut self, at: Duration, label: &str) -> io::Result<()> {
        self.flush_pending()?;
        self.event(at, "m", label)
    }

    pub fn exit(&mut self, at: Duration, status: i64) -> io::Result<()> {
        self.flush_pending()?;
        self.event(at, "x", &status.to_string())
    }

    /// Writes what the UTF-8 carries still hold; call once when the session ends.
    pub fn finish(&mut self, at: Duration) -> io::Result<()> {
        self.flush_pending()?;
        // What the carries hold is at most three bytes: never worth base64 on its own.
        let out = self.output.finish();
        self.text_event(at, "o", out, Scan::default())?;
        let inp = self.input.finish();
        self.text_event(at, "i", inp, Scan::default())?;
        self.out.flush()
    }

    pub fn get_mut(&mut self) -> &mut W {
        &mut self.out
    }

    pub fn into_inner(self) -> W {
        self.out
    }

    /// How many of the bytes written since the last call were base64 payload of `b` events:
    /// the compressor judges only output that is mostly that (see [`crate::LiveCompressor`]).
    pub fn take_base64_written(&mut self) -> usize {
        std::mem::take(&mut self.base64_written)
    }

    /// A chunk classified binary when it arrived: an empty event (so players show nothing and
    /// readers know the stream) and its exact bytes, led by whatever the stream's UTF-8 carry
    /// held from the text before it.
    fn binary_event(&mut self, at: Duration, code: &str, bytes: &[u8]) -> io::Result<()> {
        let carry = match code {
            "i" => self.input.take(),
            _ => self.output.take(),
        };
        self.event(at, code, "")?;
        if carry.is_empty() {
            return self.bytes_event(at, bytes);
        }
        let mut joined = carry;
        joined.extend_from_slice(bytes);
        self.bytes_event(at, &joined)
    }

    /// `scan`: what [`Scan::of`] found in these bytes when they arrived.
    fn text_event(
        &mut self,
        at: Duration,
        code: &str,
        text: Option<Text<'_>>,
        scan: Scan,
    ) -> io::Result<()> {
        match text {
            None => Ok(()),
            Some(Text::Exact(s)) if !is_binary(s.len(), scan, || false) => self.event(at, code, &s),
            // Binary that happens to be valid UTF-8 (NULs, control bytes) would cost up to six
            // bytes each as JSON escapes: keep it exactly, in base64, and show nothing.
            Some(Text::Exact(s)) => {
                self.event(at, code, "")?;
                self.bytes_event(at, s.as_bytes())
            }
            Some(Text::Invalid(raw)) if is_binary(raw.len(), scan, || true) => {
                self.event(at, code, "")?;
                self.bytes_event(at, &raw)
            }
            // Mostly text with a few bytes that are not UTF-8 (a Latin-1 file, a cut
            // sequence): the lossy text a terminal would show, then the exact bytes.
            Some(Text::Invalid(raw)) => {
                self.event(at, code, &String::from_utf8_lossy(&raw))?;
                self.bytes_event(at, &raw)
            }
        }
    }

    /// The `b` event: exact bytes in base64, which never needs JSON escaping, so it is written
    /// between quotes as it is rather than scanned again by the JSON serializer.
    fn bytes_event(&mut self, at: Duration, raw: &[u8]) -> io::Result<()> {
        self.scratch.clear();
        base64_simd::STANDARD.encode_append(raw, &mut self.scratch);
        self.base64_written += self.scratch.len();
        self.event_prefix(at, "b")?;
        self.out.write_all(b"\"")?;
        self.out.write_all(&self.scratch)?;
        self.out.write_all(b"\"]\n")
    }

    fn event(&mut self, at: Duration, code: &str, data: &str) -> io::Result<()> {
        self.event_prefix(at, code)?;
        serde_json::to_writer(&mut self.out, data)?;
        self.out.write_all(b"]\n")
    }

    /// `[interval, "code", ` of an event line.
    fn event_prefix(&mut self, at: Duration, code: &str) -> io::Result<()> {
        event_prefix(&mut self.out, &mut self.last, at, code)
    }
}

/// `[interval, "code", ` of an event line at `at`, the interval counted from `last` (which
/// moves on): microseconds, as every Vigil recording writes them.
pub(crate) fn event_prefix(
    out: &mut impl Write,
    last: &mut Duration,
    at: Duration,
    code: &str,
) -> io::Result<()> {
    let interval = at.saturating_sub(*last);
    *last = (*last).max(at);
    let micros = interval.as_micros();
    write!(out, "[{}.{:06}, ", micros / 1_000_000, micros % 1_000_000)?;
    serde_json::to_writer(&mut *out, code)?;
    out.write_all(b", ")
}

#[cfg(test)]
pub(crate) mod tests {
    use super::{SAMPLE, SAMPLED, Scan, classify, is_binary, plainly_binary};
    use crate::utf8::has_invalid_utf8;
    use proptest::prelude::*;

    fn escape_cost(bytes: &[u8]) -> usize {
        Scan::of(bytes).escape_cost
    }

    /// What JSON escaping really adds, byte by byte.
    fn escape_cost_per_byte(bytes: &[u8]) -> usize {
        bytes
            .iter()
            .map(|&b| match b {
                b'\n' | b'\r' | b'\t' | b'"' | b'\\' | 0x08 | 0x0c => 1,
                0x00..=0x1f => 5,
                _ => 0,
            })
            .sum()
    }

    #[test]
    fn escape_cost_matches_serde_json() -> Result<(), serde_json::Error> {
        let all: Vec<u8> = (0u8..0x80).collect();
        let text = std::str::from_utf8(&all).map_err(serde::ser::Error::custom)?;
        let escaped = serde_json::to_string(text)?;
        assert_eq!(escape_cost(&all), escaped.len() - 2 - all.len());
        Ok(())
    }

    /// Bytes that look like random or compressed data (xorshift, so the test needs no crate).
    pub(crate) fn noise(len: usize, mut seed: u64) -> Vec<u8> {
        (0..len)
            .map(|_| {
                seed ^= seed << 13;
                seed ^= seed >> 7;
                seed ^= seed << 17;
                (seed >> 24) as u8
            })
            .collect()
    }

    #[test]
    fn chunks_are_classified_by_what_writing_them_as_text_would_cost() {
        let latin1: Vec<u8> = "Résumé de l'été à Genève\r\n"
            .chars()
            .map(|c| u8::try_from(u32::from(c)).unwrap_or(b'?'))
            .collect::<Vec<u8>>()
            .repeat(8);
        let table: Vec<(&str, Vec<u8>, bool)> = vec![
            ("random bytes", noise(32 * 1024, 7), true),
            ("a short random chunk", noise(63, 7), false),
            ("zeros", vec![0; 4096], true),
            (
                "coloured ls output",
                b"\x1b[01;34mbin\x1b[0m  \x1b[01;32mrun.sh\x1b[0m\r\n".repeat(40),
                false,
            ),
            (
                "text in other scripts",
                "olá, 世界 — ação, Ελλάδα\r\n".repeat(40).into_bytes(),
                false,
            ),
            ("Latin-1 text (not UTF-8, a few high bytes)", latin1, false),
            ("a shell prompt", b"root@web01:~# ".to_vec(), false),
        ];
        for (what, bytes, want) in table {
            assert_eq!(binary_by_every_byte(&bytes), want, "{what}");
        }
    }

    /// The rule applied to every byte, which sampling may only shortcut.
    fn binary_by_every_byte(bytes: &[u8]) -> bool {
        is_binary(bytes.len(), Scan::of(bytes), || has_invalid_utf8(bytes))
    }

    #[test]
    fn long_chunks_are_judged_by_their_ends_only_when_both_are_plainly_binary() {
        let text = "olá, 世界 — ação, Ελλάδα\r\n".repeat(400).into_bytes();
        // Cut inside a character at both ends, as 32 KiB packets cut text.
        let cut_text = text[1..text.len() - 1].to_vec();
        let redraw = b"\x1b[H\x1b[2J\x1b[1;1H\x1b[K\x1b[7m \x1b[m".repeat(1000);
        let listing =
            b"drwxr-xr-x 2 root root 4096 Dec  4 10:00 \x1b[01;34mbin\x1b[0m\r\n".repeat(300);
        let noise = noise(32 * 1024, 11);
        let mixed = |head: &[u8], middle: &[u8], tail: &[u8]| [head, middle, tail].concat();
        let table: Vec<(&str, Vec<u8>, bool)> = vec![
            ("random bytes", noise.clone(), true),
            ("zeros", vec![0; 32 * 1024], true),
            ("text in other scripts, cut at both ends", cut_text, false),
            (
                "a full-screen redraw (dense escapes, UTF-8)",
                redraw.clone(),
                binary_by_every_byte(&redraw),
            ),
            (
                "text with binary at its start only: judged by every byte",
                mixed(&noise[..SAMPLE], &listing, b"$ "),
                false,
            ),
            (
                "text with binary at its end only: judged by every byte",
                mixed(b"$ ", &listing, &noise[..SAMPLE]),
                false,
            ),
            (
                "binary at both ends with text between: binary as a whole (documented)",
                mixed(&noise[..SAMPLE], &listing, &noise[..SAMPLE]),
                true,
            ),
            (
                "one byte short of sampling: judged by every byte",
                mixed(
                    &noise[..SAMPLE],
                    &listing[..SAMPLED - 1 - 2 * SAMPLE],
                    &noise[..SAMPLE],
                ),
                false,
            ),
        ];
        for (what, bytes, want) in table {
            assert_eq!(classify(&bytes).is_none(), want, "{what}");
        }
    }

    /// Chunks of text with runs of noise and of NULs in them, of any length around the
    /// sampling threshold.
    fn patchwork() -> impl Strategy<Value = Vec<u8>> {
        let piece = prop_oneof![
            (1usize..3000).prop_map(|n| "ls -l é 世\r\n\x1b[0m".repeat(n / 16 + 1).into_bytes()),
            (1usize..3000, any::<u64>()).prop_map(|(n, seed)| noise(n, seed | 1)),
            (1usize..600).prop_map(|n| vec![0u8; n]),
        ];
        proptest::collection::vec(piece, 1..6).prop_map(|pieces| pieces.concat())
    }

    proptest! {
        #[test]
        fn sampling_never_calls_binary_text_that_every_byte_calls_text_unless_both_ends_are(
            bytes in patchwork(),
        ) {
            let every_byte = binary_by_every_byte(&bytes);
            match classify(&bytes) {
                Some(scan) => {
                    prop_assert!(!every_byte);
                    prop_assert_eq!(scan, Scan::of(&bytes));
                }
                None if !every_byte => {
                    // Only a long chunk with plainly binary ends.
                    prop_assert!(bytes.len() >= SAMPLED);
                    let (head, tail) = (&bytes[..SAMPLE], &bytes[bytes.len() - SAMPLE..]);
                    prop_assert!(plainly_binary(head, Scan::of(head)));
                    prop_assert!(plainly_binary(tail, Scan::of(tail)));
                }
                None => {}
            }
        }

        #[test]
        fn scan_blocks_equal_the_per_byte_count(bytes in proptest::collection::vec(any::<u8>(), 0..2000)) {
            let scan = Scan::of(&bytes);
            prop_assert_eq!(scan.escape_cost, escape_cost_per_byte(&bytes));
            prop_assert_eq!(scan.high, bytes.iter().filter(|b| **b >= 0x80).count());
        }
    }
}
