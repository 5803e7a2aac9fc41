//! Merges the two recordings a workstation's agent uploads for one program run (issue 14): its
//! output (`o`, `r`, `x`, `m` events) and its input (`i` events), both timed from the run's
//! start, into one asciicast v3 recording like the gateway's, so players, exports and the
//! input permission treat it like any other session.
//!
//! Streaming: one event of each side is held at a time, whatever the recordings' size. A `b`
//! event (the exact bytes of the `o` or `i` event before it) stays right after its event. At
//! equal times output comes first. The output's header is the merged header; the input's
//! must be a valid v3 header too.
//!
//! What it is not: a validator of the events' data beyond what the order needs (a malformed
//! line is an error naming the side and the line).

use std::io::{BufRead, Write};
use std::time::Duration;

use crate::RecordError;

/// One event and the `b` lines that belong to it.
struct Unit {
    at: Duration,
    code: String,
    data: String,
    exact: Vec<String>,
}

/// The events of one side, in order.
struct Side<R: BufRead> {
    name: &'static str,
    lines: std::iter::Enumerate<std::io::Lines<R>>,
    time: Duration,
    /// A line read ahead (the event after a unit).
    ahead: Option<(usize, String)>,
}

#[derive(serde::Deserialize)]
struct Line(f64, String, String);

impl<R: BufRead> Side<R> {
    fn new(name: &'static str, reader: R) -> Side<R> {
        Side {
            name,
            lines: reader.lines().enumerate(),
            time: Duration::ZERO,
            ahead: None,
        }
    }

    fn error(&self, line: usize, reason: String) -> RecordError {
        RecordError::Parse {
            line: line + 1,
            reason: format!("{} recording: {reason}", self.name),
        }
    }

    /// The next line that is not blank or a comment.
    fn line(&mut self) -> Result<Option<(usize, String)>, RecordError> {
        if let Some(l) = self.ahead.take() {
            return Ok(Some(l));
        }
        for (n, line) in self.lines.by_ref() {
            let line = line.map_err(|source| RecordError::Io {
                path: "recording".into(),
                source,
            })?;
            if !line.trim().is_empty() && !line.starts_with('#') {
                return Ok(Some((n, line)));
            }
        }
        Ok(None)
    }

    /// The header line, checked to be asciicast v3.
    fn header(&mut self) -> Result<String, RecordError> {
        let Some((n, line)) = self.line()? else {
            return Err(self.error(0, "empty".into()));
        };
        let h: crate::CastHeader =
            serde_json::from_str(&line).map_err(|e| self.error(n, format!("header: {e}")))?;
        if h.version != 3 {
            return Err(self.error(n, format!("version {} is not 3", h.version)));
        }
        Ok(line)
    }

    fn parse(&self, n: usize, line: &str) -> Result<Line, RecordError> {
        serde_json::from_str(line).map_err(|e| self.error(n, e.to_string()))
    }

    /// Moves the side's clock `interval` seconds on (line `n`); a stored file may hold any
    /// number there.
    fn later(&mut self, n: usize, interval: f64) -> Result<(), RecordError> {
        self.time = crate::reader::after_interval(self.time, interval)
            .map_err(|reason| self.error(n, reason))?;
        Ok(())
    }

    fn next(&mut self) -> Result<Option<Unit>, RecordError> {
        let Some((n, line)) = self.line()? else {
            return Ok(None);
        };
        let Line(interval, code, data) = self.parse(n, &line)?;
        if code == "b" {
            return Err(self.error(n, "a b event does not follow an o or i event".into()));
        }
        self.later(n, interval)?;
        let mut unit = Unit {
            at: self.time,
            code,
            data,
            exact: Vec::new(),
        };
        while let Some((n, line)) = self.line()? {
            let l = self.parse(n, &line)?;
            if l.1 == "b" {
                self.later(n, l.0)?;
                unit.exact.push(l.2);
            } else {
                self.ahead = Some((n, line));
                break;
            }
        }
        Ok(Some(unit))
    }
}

/// Writes events with intervals from the previous one, as the writer does.
struct Out<W: Write> {
    out: W,
    last: Duration,
}

impl<W: Write> Out<W> {
    fn event(&mut self, at: Duration, code: &str, data: &str) -> std::io::Result<()> {
        crate::writer::event_prefix(&mut self.out, &mut self.last, at, code)?;
        serde_json::to_writer(&mut self.out, data)?;
        self.out.write_all(b"]\n")
    }

    fn unit(&mut self, u: &Unit) -> std::io::Result<()> {
        self.event(u.at, &u.code, &u.data)?;
        for exact in &u.exact {
            self.event(u.at, "b", exact)?;
        }
        Ok(())
    }
}

/// Merges `output` and `input` into `out` (see the module doc).
pub fn merge_casts(
    output: impl BufRead,
    input: impl BufRead,
    out: impl Write,
) -> Result<(), RecordError> {
    let io = |source| RecordError::Io {
        path: "merged recording".into(),
        source,
    };
    let mut o = Side::new("output", output);
    let mut i = Side::new("input", input);
    let header = o.header()?;
    i.header()?;
    let mut w = Out {
        out,
        last: Duration::ZERO,
    };
    w.out.write_all(header.as_bytes()).map_err(io)?;
    w.out.write_all(b"\n").map_err(io)?;
    let (mut next_o, mut next_i) = (o.next()?, i.next()?);
    loop {
        let take_output = match (&next_o, &next_i) {
            (None, None) => break,
            (Some(_), None) => true,
            (None, Some(_)) => false,
            (Some(a), Some(b)) => a.at <= b.at,
        };
        if take_output {
            if let Some(u) = next_o.take() {
                w.unit(&u).map_err(io)?;
            }
            next_o = o.next()?;
        } else {
            if let Some(u) = next_i.take() {
                w.unit(&u).map_err(io)?;
            }
            next_i = i.next()?;
        }
    }
    w.out.flush().map_err(io)
}

/// [`merge_casts`] over stored recordings (zstd frames or plain asciicast, as
/// [`crate::CastReader`] reads them), writing the merged recording compressed with zstd.
pub fn merge_stored(
    output: impl std::io::Read,
    input: impl std::io::Read,
    out: impl Write,
) -> Result<(), RecordError> {
    let io = |source| RecordError::Io {
        path: "merged recording".into(),
        source,
    };
    let output = std::io::BufReader::new(crate::CastReader::new(output).map_err(io)?);
    let input = std::io::BufReader::new(crate::CastReader::new(input).map_err(io)?);
    let mut encoder = zstd::stream::write::Encoder::new(out, 3).map_err(io)?;
    merge_casts(output, input, &mut encoder)?;
    encoder.finish().map_err(io)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{CastWriter, EventData, Header, read_cast};
    use proptest::prelude::*;

    fn header() -> Header {
        Header {
            cols: 80,
            rows: 24,
            term_type: Some("xterm".into()),
            timestamp: 1,
            title: None,
            command: Some("/usr/bin/ping -c 1 host".into()),
        }
    }

    /// One side's recording of `events` (milliseconds, bytes).
    fn side(input: bool, events: &[(u64, Vec<u8>)]) -> Vec<u8> {
        let mut w = CastWriter::new(Vec::new(), &header()).unwrap();
        for (ms, bytes) in events {
            let at = Duration::from_millis(*ms);
            if input {
                w.input(at, bytes).unwrap();
            } else {
                w.output(at, bytes).unwrap();
            }
        }
        if !input {
            let end = events.last().map_or(0, |e| e.0);
            w.exit(Duration::from_millis(end), 0).unwrap();
        }
        w.finish(Duration::ZERO).unwrap();
        w.into_inner()
    }

    #[test]
    fn events_come_in_time_order_with_their_exact_bytes() {
        // Output events 100 ms apart: the writer keeps each its own event.
        let out = side(
            false,
            &[
                (0, b"PING\r\n".to_vec()),
                (300, vec![0xff, 0xfe, b'x']),
                (500, b"done\r\n".to_vec()),
            ],
        );
        let inp = side(
            true,
            &[
                (100, b"a".to_vec()),
                (300, b"\x03".to_vec()),
                (600, b"q".to_vec()),
            ],
        );
        let mut merged = Vec::new();
        merge_casts(&out[..], &inp[..], &mut merged).unwrap();
        let cast = read_cast(&merged[..]).unwrap();
        assert_eq!(
            cast.header.command.as_deref(),
            Some("/usr/bin/ping -c 1 host")
        );
        let seq: Vec<(u128, char)> = cast
            .events
            .iter()
            .map(|e| {
                let kind = match &e.data {
                    EventData::Output(_) => 'o',
                    EventData::Input(_) => 'i',
                    EventData::Exit(_) => 'x',
                    _ => '?',
                };
                (e.time.as_millis(), kind)
            })
            .collect();
        assert_eq!(
            seq,
            [
                (0, 'o'),
                (100, 'i'),
                (300, 'o'),
                (300, 'i'),
                (500, 'o'),
                (500, 'x'),
                (600, 'i')
            ]
        );
        assert_eq!(cast.output_bytes(), b"PING\r\n\xff\xfexdone\r\n");
        assert_eq!(cast.input_bytes(), b"a\x03q");
    }

    #[test]
    fn stored_recordings_merge_compressed_or_plain() {
        let out = side(false, &[(0, b"hello\r\n".to_vec())]);
        let inp = side(true, &[(5, b"y".to_vec())]);
        let packed = zstd::encode_all(&out[..], 3).unwrap();
        let mut merged = Vec::new();
        merge_stored(&packed[..], &inp[..], &mut merged).unwrap();
        let plain = zstd::decode_all(&merged[..]).unwrap();
        let cast = read_cast(&plain[..]).unwrap();
        assert_eq!(cast.output_bytes(), b"hello\r\n");
        assert_eq!(cast.input_bytes(), b"y");
    }

    #[test]
    fn a_bad_side_is_named() {
        let out = side(false, &[(0, b"x".to_vec())]);
        let mut sink = Vec::new();
        let e = merge_casts(&out[..], &b"{\"version\":2}\n"[..], &mut sink).unwrap_err();
        assert!(e.to_string().contains("input recording"), "{e}");
        let e = merge_casts(&b""[..], &out[..], &mut sink).unwrap_err();
        assert!(e.to_string().contains("output recording: empty"), "{e}");
        let bad = [&out[..], b"[1.0, \"o\"]\n"].concat();
        let e = merge_casts(&bad[..], &out[..], &mut sink).unwrap_err();
        assert!(e.to_string().contains("output recording"), "{e}");
    }

    #[test]
    fn intervals_past_any_real_time_are_named_not_panicked_on() {
        let out = side(false, &[(0, b"x".to_vec())]);
        let mut sink = Vec::new();
        // One interval no duration holds; then two that do, whose sum does not (in a `b`
        // continuation too).
        for tail in [
            &b"[1e300, \"o\", \"y\"]\n"[..],
            b"[1e19, \"o\", \"y\"]\n[1e19, \"o\", \"z\"]\n",
            b"[1e19, \"o\", \"\"]\n[1e19, \"b\", \"eQ==\"]\n",
        ] {
            let bad = [&out[..], tail].concat();
            let e = merge_casts(&bad[..], &out[..], &mut sink).unwrap_err();
            assert!(e.to_string().contains("past any real time"), "{e}");
        }
    }

    proptest! {
        /// Whatever the two sides hold, the merge keeps every byte of each, in each side's
        /// order, and its times never go backwards.
        #[test]
        fn nothing_is_lost_or_reordered(
            outs in proptest::collection::vec((0u64..500, proptest::collection::vec(any::<u8>(), 0..40)), 0..20),
            ins in proptest::collection::vec((0u64..500, proptest::collection::vec(any::<u8>(), 0..10)), 0..20),
        ) {
            let sorted = |mut v: Vec<(u64, Vec<u8>)>| { v.sort_by_key(|e| e.0); v };
            let (outs, ins) = (sorted(outs), sorted(ins));
            let (o, i) = (side(false, &outs), side(true, &ins));
            let mut merged = Vec::new();
            merge_casts(&o[..], &i[..], &mut merged).unwrap();
            let cast = read_cast(&merged[..]).unwrap();
            let want_o: Vec<u8> = outs.iter().flat_map(|e| e.1.clone()).collect();
            let want_i: Vec<u8> = ins.iter().flat_map(|e| e.1.clone()).collect();
            prop_assert_eq!(cast.output_bytes(), want_o);
            prop_assert_eq!(cast.input_bytes(), want_i);
            prop_assert!(cast.events.windows(2).all(|w| w[0].time <= w[1].time));
        }
    }
}
