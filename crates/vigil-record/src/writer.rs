//! Writes asciicast v3 event by event. Knows nothing of where the bytes go: the session's
//! recorder task hands it a buffer and flushes that buffer to the store.

use serde::Serialize;
use std::io::{self, Write};
use std::time::Duration;

use crate::utf8::{Text, Utf8Carry};

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

/// True when valid UTF-8 is binary rather than terminal text: JSON escapes would make it more
/// than twice as long (NULs and other control bytes cost six bytes each). Terminal output,
/// escape sequences included, stays far below that; text in any script does too.
fn is_binary(len: usize, escape_cost: usize) -> bool {
    len >= 64 && escape_cost > len
}

/// Bytes JSON escaping adds to `bytes`: five for a control byte written `\u00XX`, one for the
/// control bytes with a short escape (`\n`, `\r`, `\t`, `\b`, `\f`) and for `"` and `\\`.
///
/// Every recorded byte passes here, so it is written as flag counts over blocks of at most 255
/// bytes (the counters cannot overflow): the compiler turns that into SIMD compares, about 20
/// times faster than a `match` per byte on bulk output.
fn escape_cost(bytes: &[u8]) -> usize {
    let mut total = 0usize;
    for block in bytes.chunks(255) {
        let (mut control, mut short, mut quote) = (0u8, 0u8, 0u8);
        for &b in block {
            control += u8::from(b < 0x20);
            short += u8::from(matches!(b, b'\n' | b'\r' | b'\t' | 0x08 | 0x0c));
            quote += u8::from(b == b'"' || b == b'\\');
        }
        total += 5 * usize::from(control) - 4 * usize::from(short) + usize::from(quote);
    }
    total
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
}

/// Coalesced output, with the JSON escape cost of its bytes counted as they arrived, so each
/// byte is scanned once.
struct Pending {
    start: Duration,
    buf: Vec<u8>,
    escape_cost: usize,
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
        })
    }

    pub fn output(&mut self, at: Duration, bytes: &[u8]) -> io::Result<()> {
        // Binary chunks are large and kept apart, so text next to them stays readable text.
        let cost = escape_cost(bytes);
        let binary = is_binary(bytes.len(), cost);
        if let Some(p) = &mut self.pending {
            let close = at.saturating_sub(p.start) <= COALESCE_WITHIN;
            if !binary && close && p.buf.len() + bytes.len() <= COALESCE_MAX {
                p.buf.extend_from_slice(bytes);
                p.escape_cost += cost;
                return Ok(());
            }
            self.flush_pending()?;
        }
        if binary {
            let text = self.output.push(bytes);
            return self.text_event(at, "o", text, true);
        }
        self.pending = Some(Pending {
            start: at,
            buf: bytes.to_vec(),
            escape_cost: cost,
        });
        Ok(())
    }

    /// Writes output held back for coalescing; the recorder calls it before every flush so
    /// that nothing waits in memory longer than the flush interval.
    pub fn flush_pending(&mut self) -> io::Result<()> {
        match self.pending.take() {
            Some(p) => {
                let binary = is_binary(p.buf.len(), p.escape_cost);
                let text = self.output.push(&p.buf);
                self.text_event(p.start, "o", text, binary)
            }
            None => Ok(()),
        }
    }

    pub fn input(&mut self, at: Duration, bytes: &[u8]) -> io::Result<()> {
        self.flush_pending()?;
        let binary = is_binary(bytes.len(), escape_cost(bytes));
        let text = self.input.push(bytes);
        self.text_event(at, "i", text, binary)
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
        self.text_event(at, "o", out, false)?;
        let inp = self.input.finish();
        self.text_event(at, "i", inp, false)?;
        self.out.flush()
    }

    pub fn get_mut(&mut self) -> &mut W {
        &mut self.out
    }

    pub fn into_inner(self) -> W {
        self.out
    }

    /// `binary`: the bytes were classified by [`is_binary`] when they arrived.
    fn text_event(
        &mut self,
        at: Duration,
        code: &str,
        text: Option<Text<'_>>,
        binary: bool,
    ) -> io::Result<()> {
        match text {
            None => Ok(()),
            Some(Text::Exact(s)) if !binary => self.event(at, code, &s),
            // Binary that happens to be valid UTF-8 (NULs, control bytes) would cost up to six
            // bytes each as JSON escapes: keep it exactly, in base64, and show nothing.
            Some(Text::Exact(s)) => {
                self.event(at, code, "")?;
                self.bytes_event(at, s.as_bytes())
            }
            Some(Text::Lossy { lossy, raw })
                if binary || lossy.len() + escape_cost(lossy.as_bytes()) > 2 * raw.len() =>
            {
                self.event(at, code, "")?;
                self.bytes_event(at, &raw)
            }
            Some(Text::Lossy { lossy, raw }) => {
                self.event(at, code, &lossy)?;
                self.bytes_event(at, &raw)
            }
        }
    }

    /// The `b` event: exact bytes in base64, which never needs JSON escaping, so it is written
    /// between quotes as it is rather than scanned again by the JSON serializer.
    fn bytes_event(&mut self, at: Duration, raw: &[u8]) -> io::Result<()> {
        self.scratch.clear();
        base64_simd::STANDARD.encode_append(raw, &mut self.scratch);
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
        let interval = at.saturating_sub(self.last);
        self.last = self.last.max(at);
        let micros = interval.as_micros();
        write!(
            self.out,
            "[{}.{:06}, \"{code}\", ",
            micros / 1_000_000,
            micros % 1_000_000
        )
    }
}

#[cfg(test)]
mod tests {
    use super::escape_cost;
    use proptest::prelude::*;

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

    proptest! {
        #[test]
        fn escape_cost_blocks_equal_the_per_byte_count(bytes in proptest::collection::vec(any::<u8>(), 0..2000)) {
            prop_assert_eq!(escape_cost(&bytes), escape_cost_per_byte(&bytes));
        }
    }
}
