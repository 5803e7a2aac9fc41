//! A recording without its operator-input track, for readers who may see output only (the
//! input track can hold what was typed at prompts: it has a permission of its own).
//!
//! `OutputOnly` reads an asciicast v3 stream line by line and leaves out `i` events and the
//! `b` events that carry their exact bytes. asciicast stores intervals, so the time of each
//! left-out event is added to the next event kept: the rest plays at the same moments.
//!
//! What this is not: a validator. Lines it cannot read as events pass through unchanged (a
//! player reports them), so nothing is lost or invented; only lines that are certainly input
//! are removed.

use std::io::{self, BufRead, Read};

pub struct OutputOnly<R: BufRead> {
    inner: R,
    /// The line being handed out, and how far.
    line: Vec<u8>,
    at: usize,
    header_done: bool,
    /// Microseconds of left-out events, owed to the next event kept.
    carried_micros: u128,
    /// The code of the last event kept or left out, for its `b` follow-up.
    last_was_input: bool,
}

impl<R: BufRead> OutputOnly<R> {
    pub fn new(inner: R) -> Self {
        OutputOnly {
            inner,
            line: Vec::new(),
            at: 0,
            header_done: false,
            carried_micros: 0,
            last_was_input: false,
        }
    }

    /// Reads lines until one is to be handed out (left in `self.line`); false at the end.
    fn next_line(&mut self) -> io::Result<bool> {
        loop {
            self.line.clear();
            self.at = 0;
            if self.inner.read_until(b'\n', &mut self.line)? == 0 {
                return Ok(false);
            }
            if !self.header_done {
                self.header_done = !self.line.iter().all(u8::is_ascii_whitespace);
                return Ok(true);
            }
            let Some((micros, code, rest_at)) = event_head(&self.line) else {
                return Ok(true);
            };
            let drop = code == b"i" || (code == b"b" && self.last_was_input);
            if code != b"b" {
                self.last_was_input = code == b"i";
            }
            if drop {
                self.carried_micros = self.carried_micros.saturating_add(micros);
                continue;
            }
            if self.carried_micros > 0 {
                let total = micros.saturating_add(std::mem::take(&mut self.carried_micros));
                let mut rewritten =
                    format!("[{}.{:06}", total / 1_000_000, total % 1_000_000).into_bytes();
                rewritten.extend_from_slice(&self.line[rest_at..]);
                self.line = rewritten;
            }
            return Ok(true);
        }
    }
}

/// `[interval, "code", ...`: the interval in microseconds, the code, and where the line goes
/// on after the interval (at the comma).
pub(crate) fn event_head(line: &[u8]) -> Option<(u128, &[u8], usize)> {
    let open = line.iter().position(|b| !b.is_ascii_whitespace())?;
    if line[open] != b'[' {
        return None;
    }
    let comma = open + 1 + line[open + 1..].iter().position(|&b| b == b',')?;
    let number = std::str::from_utf8(&line[open + 1..comma]).ok()?.trim();
    let micros = micros_of(number)?;
    let after = &line[comma + 1..];
    let quote = after.iter().position(|b| !b.is_ascii_whitespace())?;
    if after[quote] != b'"' {
        return None;
    }
    let code_start = quote + 1;
    let code_len = after[code_start..].iter().position(|&b| b == b'"')?;
    Some((micros, &after[code_start..code_start + code_len], comma))
}

/// An interval as microseconds: exactly for `S.ffffff` (what the writer emits), through a
/// float for other spellings of a number and for numbers too large to count exactly (those
/// saturate: a hostile file's interval can be any length, and sums of them saturate too).
fn micros_of(number: &str) -> Option<u128> {
    if let Some((secs, frac)) = number.split_once('.')
        && !secs.is_empty()
        && secs.bytes().all(|b| b.is_ascii_digit())
        && !frac.is_empty()
        && frac.len() <= 6
        && frac.bytes().all(|b| b.is_ascii_digit())
        && let Some(exact) = exact_micros(secs, frac)
    {
        return Some(exact);
    }
    let seconds: f64 = number.parse().ok()?;
    (seconds.is_finite() && seconds >= 0.0).then(|| (seconds * 1e6).round() as u128)
}

/// `secs.frac` in microseconds, or `None` when it does not fit.
fn exact_micros(secs: &str, frac: &str) -> Option<u128> {
    let scale = 10u128.pow(6 - u32::try_from(frac.len()).ok()?);
    secs.parse::<u128>()
        .ok()?
        .checked_mul(1_000_000)?
        .checked_add(frac.parse::<u128>().ok()? * scale)
}

impl<R: BufRead> Read for OutputOnly<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if self.at >= self.line.len() && !self.next_line()? {
            return Ok(0);
        }
        let n = buf.len().min(self.line.len() - self.at);
        buf[..n].copy_from_slice(&self.line[self.at..self.at + n]);
        self.at += n;
        Ok(n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{CastWriter, Header, read_cast};
    use std::time::Duration;

    fn filtered(cast: &[u8]) -> Vec<u8> {
        let mut out = Vec::new();
        OutputOnly::new(cast).read_to_end(&mut out).unwrap();
        out
    }

    #[test]
    fn input_and_its_exact_bytes_go_and_the_timing_stays() {
        let header = Header {
            cols: 80,
            rows: 24,
            term_type: None,
            timestamp: 1,
            title: None,
            command: None,
        };
        let mut w = CastWriter::new(Vec::new(), &header).unwrap();
        w.output(Duration::from_millis(100), b"$ ").unwrap();
        w.input(Duration::from_millis(1100), b"hunter2\xff\r")
            .unwrap();
        w.output(Duration::from_millis(1500), b"caf\xe9\r\n")
            .unwrap();
        w.marker(Duration::from_millis(1600), "input redacted: 6 bytes")
            .unwrap();
        w.input(Duration::from_millis(1700), &[0u8; 100]).unwrap();
        w.exit(Duration::from_millis(2500), 0).unwrap();
        w.finish(Duration::from_millis(2500)).unwrap();
        let bytes = w.into_inner();
        let full = read_cast(&bytes[..]).unwrap();
        let out = filtered(&bytes);
        let text = String::from_utf8(out.clone()).unwrap();
        assert!(!text.contains("\"i\""), "{text}");
        assert!(!text.contains("aHVudGVy"), "no base64 of the input: {text}");
        let cast = read_cast(&out[..]).unwrap();
        assert_eq!(cast.input_bytes(), b"");
        assert_eq!(cast.output_bytes(), full.output_bytes(), "output is exact");
        let times: Vec<Duration> = cast.events.iter().map(|e| e.time).collect();
        let want: Vec<Duration> = full
            .events
            .iter()
            .filter(|e| !matches!(e.data, crate::EventData::Input(_)))
            .map(|e| e.time)
            .collect();
        assert_eq!(times, want, "events keep their moments");
    }

    #[test]
    fn lines_that_are_not_events_pass_unchanged() {
        let cast = b"{\"version\":3,\"term\":{\"cols\":1,\"rows\":1}}\n# a comment\n[0.5, \"i\", \"x\"]\nnot json\n[1, \"o\", \"y\"]\n";
        let out = String::from_utf8(filtered(cast)).unwrap();
        assert_eq!(
            out,
            "{\"version\":3,\"term\":{\"cols\":1,\"rows\":1}}\n# a comment\nnot json\n[1.500000, \"o\", \"y\"]\n"
        );
    }

    #[test]
    fn intervals_are_read_exactly() {
        let table: &[(&str, Option<u128>)] = &[
            ("0.000001", Some(1)),
            ("12.5", Some(12_500_000)),
            ("3", Some(3_000_000)),
            ("1e-3", Some(1000)),
            ("-1", None),
            ("x", None),
            // Too large to count exactly (found by fuzzing output_only: the product overflowed).
            ("55555555555555555555555555555555555556.5", Some(u128::MAX)),
            ("340282366920938463463374607431768211455.0", Some(u128::MAX)),
            ("1e300", Some(u128::MAX)),
        ];
        for (text, want) in table {
            assert_eq!(micros_of(text), *want, "{text}");
        }
    }

    /// The fuzzer's finding: huge intervals around left-out input once overflowed the sum
    /// owed to the next event. They saturate and the line is still rewritten.
    #[test]
    fn intervals_too_large_to_count_saturate() {
        let huge = "55555555555555555555555555555555555556.5";
        let cast = format!(
            "{{\"version\":3}}\n[{huge}, \"i\", \"x\"]\n[{huge}, \"i\", \"x\"]\n[{huge}, \"o\", \"y\"]\n"
        );
        let out = String::from_utf8(filtered(cast.as_bytes())).unwrap();
        let max = u128::MAX;
        assert_eq!(
            out,
            format!(
                "{{\"version\":3}}\n[{}.{:06}, \"o\", \"y\"]\n",
                max / 1_000_000,
                max % 1_000_000
            )
        );
        // The fuzzer's input itself.
        let found = include_bytes!("../../../fuzz/corpus/output_only/regression-interval-overflow");
        let mut sink = Vec::new();
        OutputOnly::new(&found[..]).read_to_end(&mut sink).unwrap();
    }
}
