//! Reads asciicast v3 back, restoring exact bytes from `b` extension events.

use serde::Deserialize;
use std::io::BufRead;
use std::time::Duration;

use crate::RecordError;

#[derive(Debug, Clone, Deserialize, PartialEq)]
pub struct CastHeader {
    pub version: u8,
    pub term: CastTerm,
    #[serde(default)]
    pub timestamp: Option<u64>,
    #[serde(default)]
    pub title: Option<String>,
    #[serde(default)]
    pub command: Option<String>,
}

#[derive(Debug, Clone, Deserialize, PartialEq)]
pub struct CastTerm {
    pub cols: u16,
    pub rows: u16,
    #[serde(rename = "type", default)]
    pub type_: Option<String>,
}

#[derive(Debug, Clone, PartialEq)]
pub enum EventData {
    Output(Vec<u8>),
    Input(Vec<u8>),
    Resize(u16, u16),
    Marker(String),
    Exit(i64),
    Other(String, String),
}

#[derive(Debug, Clone, PartialEq)]
pub struct CastEvent {
    /// Offset from the session's start.
    pub time: Duration,
    pub data: EventData,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Cast {
    pub header: CastHeader,
    pub events: Vec<CastEvent>,
}

impl Cast {
    /// Every output byte in order, exactly as the target sent it.
    pub fn output_bytes(&self) -> Vec<u8> {
        self.collect(|d| {
            if let EventData::Output(b) = d {
                Some(b)
            } else {
                None
            }
        })
    }

    /// Every input byte in order, exactly as the operator typed it.
    pub fn input_bytes(&self) -> Vec<u8> {
        self.collect(|d| {
            if let EventData::Input(b) = d {
                Some(b)
            } else {
                None
            }
        })
    }

    fn collect(&self, pick: impl Fn(&EventData) -> Option<&Vec<u8>>) -> Vec<u8> {
        let mut out = Vec::new();
        for e in &self.events {
            if let Some(b) = pick(&e.data) {
                out.extend_from_slice(b);
            }
        }
        out
    }
}

#[derive(Deserialize)]
struct Line(f64, String, String);

/// The moment `interval` seconds after `time`, or why a recording's line cannot say that: a
/// stored file may hold any number (negative, or past what a duration holds, which
/// `Duration::from_secs_f64` would panic on).
pub(crate) fn after_interval(time: Duration, interval: f64) -> Result<Duration, String> {
    if !(interval.is_finite() && interval >= 0.0) {
        return Err(format!("interval {interval} is not a non-negative number"));
    }
    Duration::try_from_secs_f64(interval)
        .ok()
        .and_then(|d| time.checked_add(d))
        .ok_or_else(|| format!("interval {interval} takes the recording past any real time"))
}

pub fn read_cast(reader: impl BufRead) -> Result<Cast, RecordError> {
    let mut lines = reader.lines().enumerate();
    let parse_err = |line: usize, reason: String| RecordError::Parse {
        line: line + 1,
        reason,
    };
    let io_err = |source| RecordError::Io {
        path: "recording".into(),
        source,
    };
    let header = loop {
        match lines.next() {
            None => return Err(parse_err(0, "empty file".into())),
            Some((_, Err(e))) => return Err(io_err(e)),
            Some((_, Ok(l))) if l.trim().is_empty() => continue,
            Some((n, Ok(l))) => {
                let h: CastHeader =
                    serde_json::from_str(&l).map_err(|e| parse_err(n, format!("header: {e}")))?;
                if h.version != 3 {
                    return Err(parse_err(n, format!("version {} is not 3", h.version)));
                }
                break h;
            }
        }
    };
    let mut events: Vec<CastEvent> = Vec::new();
    let mut time = Duration::ZERO;
    for (n, line) in lines {
        let line = line.map_err(io_err)?;
        if line.trim().is_empty() || line.starts_with('#') {
            continue;
        }
        let Line(interval, code, data) =
            serde_json::from_str(&line).map_err(|e| parse_err(n, e.to_string()))?;
        time = after_interval(time, interval).map_err(|reason| parse_err(n, reason))?;
        let data = match code.as_str() {
            "o" => EventData::Output(data.into_bytes()),
            "i" => EventData::Input(data.into_bytes()),
            "r" => {
                let size = data
                    .split_once('x')
                    .and_then(|(c, r)| Some((c.parse().ok()?, r.parse().ok()?)));
                let (c, r) =
                    size.ok_or_else(|| parse_err(n, format!("resize {data:?} is not COLSxROWS")))?;
                EventData::Resize(c, r)
            }
            "m" => EventData::Marker(data),
            "x" => EventData::Exit(
                data.parse()
                    .map_err(|_| parse_err(n, format!("exit {data:?}")))?,
            ),
            "b" => {
                let raw = base64_simd::STANDARD
                    .decode_to_vec(&data)
                    .map_err(|e| parse_err(n, format!("b event: {e}")))?;
                match events.last_mut().map(|e| &mut e.data) {
                    Some(EventData::Output(b) | EventData::Input(b)) => *b = raw,
                    _ => {
                        return Err(parse_err(
                            n,
                            "b event does not follow an o or i event".into(),
                        ));
                    }
                }
                continue;
            }
            _ => EventData::Other(code, data),
        };
        events.push(CastEvent { time, data });
    }
    Ok(Cast { header, events })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{CastWriter, Header};
    use proptest::prelude::*;

    fn header() -> Header {
        Header {
            cols: 80,
            rows: 24,
            term_type: Some("xterm".into()),
            timestamp: 1,
            title: None,
            command: None,
        }
    }

    fn write(chunks: &[(bool, Vec<u8>)]) -> Vec<u8> {
        let mut w = CastWriter::new(Vec::new(), &header()).unwrap();
        for (i, (is_input, c)) in chunks.iter().enumerate() {
            let at = Duration::from_millis(i as u64 * 7);
            if *is_input {
                w.input(at, c).unwrap()
            } else {
                w.output(at, c).unwrap()
            }
        }
        w.resize(Duration::from_secs(1), 100, 40).unwrap();
        w.exit(Duration::from_secs(2), 3).unwrap();
        w.finish(Duration::from_secs(2)).unwrap();
        w.into_inner()
    }

    #[test]
    fn text_session_reads_back() {
        let file = write(&[
            (false, b"hello ".to_vec()),
            (true, b"ls\r".to_vec()),
            (false, "wörld\n".as_bytes().to_vec()),
        ]);
        let text = String::from_utf8(file.clone()).unwrap();
        assert!(
            text.starts_with(
                "{\"version\":3,\"term\":{\"cols\":80,\"rows\":24,\"type\":\"xterm\"}"
            )
        );
        assert!(text.contains("[0.007000, \"i\", \"ls\\r\"]"), "{text}");
        let cast = read_cast(&file[..]).unwrap();
        assert_eq!(cast.output_bytes(), "hello wörld\n".as_bytes());
        assert_eq!(cast.input_bytes(), b"ls\r");
        assert!(
            cast.events
                .iter()
                .any(|e| e.data == EventData::Resize(100, 40))
        );
        assert!(
            cast.events
                .iter()
                .any(|e| e.data == EventData::Exit(3) && e.time == Duration::from_secs(2))
        );
    }

    #[test]
    fn bad_lines_are_named() {
        let err = read_cast(&b"{\"version\":3,\"term\":{\"cols\":1,\"rows\":1}}\n[1, \"o\"]\n"[..])
            .unwrap_err();
        assert!(err.to_string().contains("line 2"), "{err}");
        assert!(read_cast(&b"{\"version\":2}\n"[..]).is_err());
    }

    /// Found by the `cast_reader` fuzz target: an interval too large for a duration made
    /// `Duration::from_secs_f64` panic; intervals that fit could add up past one.
    #[test]
    fn intervals_past_any_real_time_are_named_not_panicked_on() {
        let found =
            include_bytes!("../../../fuzz/corpus/cast_reader/regression-interval-too-large");
        // The target's first byte is its own knob; the rest is the file.
        let err = read_cast(&found[1..]).unwrap_err();
        assert!(err.to_string().contains("line 2"), "{err}");
        assert!(err.to_string().contains("past any real time"), "{err}");
        let head = "{\"version\":3,\"term\":{\"cols\":1,\"rows\":1}}\n";
        let sum = format!("{head}[1e19, \"o\", \"a\"]\n[1e19, \"o\", \"b\"]\n");
        let err = read_cast(sum.as_bytes()).unwrap_err();
        assert!(err.to_string().contains("line 3"), "{err}");
        let negative = format!("{head}[-1, \"o\", \"a\"]\n");
        let err = read_cast(negative.as_bytes()).unwrap_err();
        assert!(
            err.to_string().contains("not a non-negative number"),
            "{err}"
        );
        // The largest that fits still reads.
        let fits = format!("{head}[1e19, \"o\", \"a\"]\n");
        assert_eq!(read_cast(fits.as_bytes()).unwrap().output_bytes(), b"a");
    }

    #[test]
    fn binary_output_is_kept_in_base64_not_escapes() {
        let zeros = vec![0u8; 4096];
        let file = write(&[(false, zeros.clone()), (false, b"plain text\r\n".to_vec())]);
        assert!(
            file.len() < 4096 * 2,
            "binary costs about 4/3, not 6x: {}",
            file.len()
        );
        let text = String::from_utf8(file.clone()).unwrap();
        assert!(
            text.contains("\"plain text\\r\\n\""),
            "text stays text: {text}"
        );
        let cast = read_cast(&file[..]).unwrap();
        let mut want = zeros;
        want.extend_from_slice(b"plain text\r\n");
        assert_eq!(cast.output_bytes(), want);
    }

    #[test]
    fn random_output_is_bytes_only_and_exact() {
        let random = crate::writer::tests::noise(40_000, 99);
        let latin1 = b"caf\xe9 cr\xe8me br\xfbl\xe9e, na\xefve fa\xe7ade\r\n".repeat(4);
        // Text whose last UTF-8 sequence is cut, then binary: the carried bytes lead the `b`.
        let cut = "price: 5€".as_bytes();
        let file = write(&[
            (false, random.clone()),
            (false, latin1.clone()),
            (false, cut[..cut.len() - 1].to_vec()),
            (false, random.clone()),
        ]);
        let text = String::from_utf8(file.clone()).unwrap();
        let replacement = text.matches('\u{FFFD}').count();
        assert!(
            replacement > 0 && replacement < 200,
            "lossy text only for the Latin-1 line: {replacement} U+FFFD"
        );
        assert!(file.len() < 2 * 4 * 40_000 / 3 + 2_000, "{}", file.len());
        let mut want = random.clone();
        want.extend_from_slice(&latin1);
        want.extend_from_slice(&cut[..cut.len() - 1]);
        want.extend_from_slice(&random);
        assert_eq!(read_cast(&file[..]).unwrap().output_bytes(), want);
    }

    #[test]
    fn close_output_chunks_share_one_event() {
        let mut w = CastWriter::new(Vec::new(), &header()).unwrap();
        for i in 0..100u64 {
            w.output(
                Duration::from_micros(i * 50),
                format!("line {i}\r\n").as_bytes(),
            )
            .unwrap();
        }
        w.output(Duration::from_secs(1), b"later").unwrap();
        w.finish(Duration::from_secs(2)).unwrap();
        let file = w.into_inner();
        let cast = read_cast(&file[..]).unwrap();
        assert_eq!(cast.events.len(), 2, "{}", String::from_utf8_lossy(&file));
        assert_eq!(cast.events[1].time, Duration::from_secs(1));
        assert!(String::from_utf8_lossy(&cast.output_bytes()).starts_with("line 0\r\nline 1\r\n"));
    }

    #[test]
    fn text_in_any_script_stays_text() {
        let text = "olá, 世界 — ação\r\n".repeat(20);
        let file = write(&[(false, text.as_bytes().to_vec())]);
        assert!(String::from_utf8(file).unwrap().contains("世界"));
    }

    proptest! {
        #[test]
        fn any_bytes_round_trip(chunks in proptest::collection::vec((any::<bool>(), proptest::collection::vec(any::<u8>(), 0..300)), 0..40)) {
            let file = write(&chunks);
            let cast = read_cast(&file[..]).unwrap();
            let want_out: Vec<u8> = chunks.iter().filter(|(i, _)| !i).flat_map(|(_, c)| c.clone()).collect();
            let want_in: Vec<u8> = chunks.iter().filter(|(i, _)| *i).flat_map(|(_, c)| c.clone()).collect();
            prop_assert_eq!(cast.output_bytes(), want_out);
            prop_assert_eq!(cast.input_bytes(), want_in);
        }

        #[test]
        fn utf8_split_anywhere_stays_exact_text(s in "\\PC{0,40}", cut in 0usize..200) {
            let bytes = s.as_bytes();
            let cut = cut.min(bytes.len());
            let file = write(&[(false, bytes[..cut].to_vec()), (false, bytes[cut..].to_vec())]);
            let text = String::from_utf8(file.clone()).unwrap();
            prop_assert!(!text.contains(", \"b\", "), "valid text must not need the extension");
            prop_assert_eq!(read_cast(&file[..]).unwrap().output_bytes(), bytes.to_vec());
        }
    }
}
