//! The stream between a wrapper (`vigil-rec`) and the agent over the agent's Unix socket: what
//! a run is, its recorded bytes as they happen, and how it ended; back from the agent, how each
//! recording's upload went.
//!
//! A frame is a kind byte, the payload's length (u32, little endian) and the payload. Timed
//! frames start with the nanoseconds since the run started (u64, little endian); `Start`, `End`
//! and `Uploaded` carry JSON. [`Decoder`] is an I/O-free state machine: bytes in, frames out,
//! whatever the reads' sizes.
//!
//! What it is not: authenticated. The agent learns who is on the other end from the socket's
//! peer credentials, never from a frame.

use serde::{Deserialize, Serialize};

/// A payload larger than this is refused (a wrapper sends at most one read of 64 KiB).
pub const MAX_PAYLOAD: usize = 1 << 20;
const HEADER: usize = 5;

/// What the wrapper knows of a run when it starts.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RunStart {
    /// The policy path the wrapper stands for (for a symbolic-link rule, the link).
    pub program: String,
    /// Where the program really is (the diverted original).
    pub real_path: String,
    pub argv: Vec<String>,
    pub cwd: String,
    pub tty: Option<String>,
    /// Unix milliseconds.
    pub started_at: i64,
    pub record: bool,
    pub cols: u16,
    pub rows: u16,
    pub term: Option<String>,
}

/// How a run ended.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RunEnd {
    pub at_ns: u64,
    /// Unix milliseconds.
    pub ended_at: i64,
    pub exit_status: Option<i32>,
    pub signal: Option<String>,
}

/// How the upload of one recording went, for the wrapper to tell the user.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UploadNotice {
    /// `output` or `input`.
    pub object: String,
    /// Uploaded and confirmed by the server.
    pub ok: bool,
    /// Why not, when it was queued instead.
    pub message: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Frame {
    Start(RunStart),
    Output {
        at_ns: u64,
        bytes: Vec<u8>,
    },
    Input {
        at_ns: u64,
        bytes: Vec<u8>,
    },
    Resize {
        at_ns: u64,
        cols: u16,
        rows: u16,
    },
    /// Bytes typed while the terminal did not echo (a password): counted, never sent.
    Redacted {
        at_ns: u64,
        bytes: u32,
    },
    End(RunEnd),
    /// The agent's answer to `Start`: whether the run may go on.
    Accepted(Acceptance),
    Uploaded(UploadNotice),
}

/// Whether the agent takes a run: a recorded run is refused when it cannot be recorded (the
/// spool is full), and the wrapper then refuses to run the program.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Acceptance {
    pub ok: bool,
    pub message: String,
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum WireError {
    #[error("unknown frame kind {0}")]
    Kind(u8),
    #[error("a frame of {0} bytes is larger than {MAX_PAYLOAD}")]
    TooLarge(usize),
    #[error("a {kind} frame is malformed: {why}")]
    Malformed { kind: &'static str, why: String },
}

const START: u8 = 1;
const OUTPUT: u8 = 2;
const INPUT: u8 = 3;
const RESIZE: u8 = 4;
const REDACTED: u8 = 5;
const END: u8 = 6;
const UPLOADED: u8 = 16;
const ACCEPTED: u8 = 17;

impl Frame {
    /// The frame's bytes on the wire.
    pub fn encode(&self) -> Vec<u8> {
        let (kind, payload) = match self {
            Frame::Start(s) => (START, json(s)),
            Frame::End(e) => (END, json(e)),
            Frame::Uploaded(u) => (UPLOADED, json(u)),
            Frame::Accepted(a) => (ACCEPTED, json(a)),
            Frame::Output { at_ns, bytes } => (OUTPUT, timed(*at_ns, bytes)),
            Frame::Input { at_ns, bytes } => (INPUT, timed(*at_ns, bytes)),
            Frame::Resize { at_ns, cols, rows } => {
                let mut size = cols.to_le_bytes().to_vec();
                size.extend_from_slice(&rows.to_le_bytes());
                (RESIZE, timed(*at_ns, &size))
            }
            Frame::Redacted { at_ns, bytes } => (REDACTED, timed(*at_ns, &bytes.to_le_bytes())),
        };
        let len = u32::try_from(payload.len()).unwrap_or(u32::MAX);
        let mut out = Vec::with_capacity(HEADER + payload.len());
        out.push(kind);
        out.extend_from_slice(&len.to_le_bytes());
        out.extend_from_slice(&payload);
        out
    }
}

/// Appends an `Output` (or, with `input`, an `Input`) frame of `bytes` to `out`: what
/// [`Frame::encode`] gives for it, without making the frame (the wrapper's hot path).
pub fn encode_chunk(out: &mut Vec<u8>, input: bool, at_ns: u64, bytes: &[u8]) {
    let len = u32::try_from(8 + bytes.len()).unwrap_or(u32::MAX);
    out.push(if input { INPUT } else { OUTPUT });
    out.extend_from_slice(&len.to_le_bytes());
    out.extend_from_slice(&at_ns.to_le_bytes());
    out.extend_from_slice(bytes);
}

/// A JSON payload: plain structs of strings and numbers, which cannot fail to serialize.
fn json<T: Serialize>(value: &T) -> Vec<u8> {
    serde_json::to_vec(value).unwrap_or_default()
}

fn timed(at_ns: u64, bytes: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(8 + bytes.len());
    out.extend_from_slice(&at_ns.to_le_bytes());
    out.extend_from_slice(bytes);
    out
}

/// Frames out of a byte stream, however it was cut.
#[derive(Debug, Default)]
pub struct Decoder {
    buf: Vec<u8>,
    /// Where the undecoded bytes start in `buf` (compacted when a push would grow it).
    at: usize,
}

impl Decoder {
    pub fn push(&mut self, bytes: &[u8]) {
        if self.at > 0 {
            self.buf.drain(..self.at);
            self.at = 0;
        }
        self.buf.extend_from_slice(bytes);
    }

    /// Bytes received that are not a whole frame yet.
    pub fn pending(&self) -> usize {
        self.buf.len() - self.at
    }

    /// The next whole frame, if one has arrived. After an error the stream is unusable.
    pub fn next_frame(&mut self) -> Result<Option<Frame>, WireError> {
        let rest = &self.buf[self.at..];
        let Some(header) = rest.get(..HEADER) else {
            return Ok(None);
        };
        let kind = header[0];
        let len = u32::from_le_bytes([header[1], header[2], header[3], header[4]]) as usize;
        if !matches!(
            kind,
            START | OUTPUT | INPUT | RESIZE | REDACTED | END | UPLOADED | ACCEPTED
        ) {
            return Err(WireError::Kind(kind));
        }
        if len > MAX_PAYLOAD {
            return Err(WireError::TooLarge(len));
        }
        let Some(payload) = rest.get(HEADER..HEADER + len) else {
            return Ok(None);
        };
        let frame = parse(kind, payload)?;
        self.at += HEADER + len;
        Ok(Some(frame))
    }
}

fn parse(kind: u8, payload: &[u8]) -> Result<Frame, WireError> {
    fn json<T: serde::de::DeserializeOwned>(
        kind: &'static str,
        payload: &[u8],
    ) -> Result<T, WireError> {
        serde_json::from_slice(payload).map_err(|e| WireError::Malformed {
            kind,
            why: e.to_string(),
        })
    }
    let split = |kind: &'static str| -> Result<(u64, &[u8]), WireError> {
        let (time, rest) =
            payload
                .split_first_chunk::<8>()
                .ok_or_else(|| WireError::Malformed {
                    kind,
                    why: "shorter than its time".into(),
                })?;
        Ok((u64::from_le_bytes(*time), rest))
    };
    let exact = |kind: &'static str, rest: &[u8], want: usize| {
        if rest.len() == want {
            Ok(())
        } else {
            Err(WireError::Malformed {
                kind,
                why: format!("{} bytes after the time, not {want}", rest.len()),
            })
        }
    };
    Ok(match kind {
        START => Frame::Start(json("start", payload)?),
        END => Frame::End(json("end", payload)?),
        UPLOADED => Frame::Uploaded(json("uploaded", payload)?),
        ACCEPTED => Frame::Accepted(json("accepted", payload)?),
        OUTPUT => {
            let (at_ns, rest) = split("output")?;
            Frame::Output {
                at_ns,
                bytes: rest.to_vec(),
            }
        }
        INPUT => {
            let (at_ns, rest) = split("input")?;
            Frame::Input {
                at_ns,
                bytes: rest.to_vec(),
            }
        }
        RESIZE => {
            let (at_ns, rest) = split("resize")?;
            exact("resize", rest, 4)?;
            Frame::Resize {
                at_ns,
                cols: u16::from_le_bytes([rest[0], rest[1]]),
                rows: u16::from_le_bytes([rest[2], rest[3]]),
            }
        }
        _ => {
            let (at_ns, rest) = split("redacted")?;
            exact("redacted", rest, 4)?;
            Frame::Redacted {
                at_ns,
                bytes: u32::from_le_bytes([rest[0], rest[1], rest[2], rest[3]]),
            }
        }
    })
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use proptest::prelude::*;

    fn start() -> RunStart {
        RunStart {
            program: "/usr/bin/psql".into(),
            real_path: "/usr/lib/vigil-agent/orig/usr/bin/psql".into(),
            argv: vec!["psql".into(), "-h".into(), "db".into()],
            cwd: "/home/alice".into(),
            tty: Some("/dev/pts/3".into()),
            started_at: 1_700_000_000_000,
            record: true,
            cols: 80,
            rows: 24,
            term: Some("xterm".into()),
        }
    }

    fn all_kinds() -> Vec<Frame> {
        vec![
            Frame::Start(start()),
            Frame::Output {
                at_ns: 5,
                bytes: b"hello\r\n".to_vec(),
            },
            Frame::Input {
                at_ns: 7,
                bytes: vec![0, 255, 3],
            },
            Frame::Output {
                at_ns: 8,
                bytes: vec![],
            },
            Frame::Resize {
                at_ns: 9,
                cols: 132,
                rows: 43,
            },
            Frame::Redacted {
                at_ns: 10,
                bytes: 9,
            },
            Frame::End(RunEnd {
                at_ns: 11,
                ended_at: 1_700_000_000_500,
                exit_status: Some(3),
                signal: None,
            }),
            Frame::Accepted(Acceptance {
                ok: false,
                message: "the spool is full".into(),
            }),
            Frame::Uploaded(UploadNotice {
                object: "output".into(),
                ok: false,
                message: "the server does not answer".into(),
            }),
        ]
    }

    #[test]
    fn every_kind_round_trips() {
        for frame in all_kinds() {
            let mut d = Decoder::default();
            d.push(&frame.encode());
            assert_eq!(d.next_frame().unwrap(), Some(frame));
            assert_eq!(d.next_frame().unwrap(), None);
            assert_eq!(d.pending(), 0);
        }
    }

    #[test]
    fn a_chunk_encodes_as_its_frame() {
        let mut out = Vec::new();
        encode_chunk(&mut out, false, 42, b"abc");
        encode_chunk(&mut out, true, 43, b"");
        let frames = [
            Frame::Output {
                at_ns: 42,
                bytes: b"abc".to_vec(),
            },
            Frame::Input {
                at_ns: 43,
                bytes: vec![],
            },
        ];
        assert_eq!(out, [frames[0].encode(), frames[1].encode()].concat());
    }

    #[test]
    fn bad_frames_are_named() {
        let cases: Vec<(Vec<u8>, WireError)> = vec![
            (vec![9, 0, 0, 0, 0], WireError::Kind(9)),
            (
                vec![OUTPUT, 0xff, 0xff, 0xff, 0x7f],
                WireError::TooLarge(0x7fff_ffff),
            ),
            (
                vec![OUTPUT, 3, 0, 0, 0, 1, 2, 3],
                WireError::Malformed {
                    kind: "output",
                    why: "shorter than its time".into(),
                },
            ),
            (
                [vec![RESIZE, 10, 0, 0, 0], vec![0; 10]].concat(),
                WireError::Malformed {
                    kind: "resize",
                    why: "2 bytes after the time, not 4".into(),
                },
            ),
        ];
        for (bytes, want) in cases {
            let mut d = Decoder::default();
            d.push(&bytes);
            assert_eq!(d.next_frame(), Err(want), "{bytes:?}");
        }
        let mut d = Decoder::default();
        d.push(&[START, 2, 0, 0, 0, b'{', b'}']);
        assert!(matches!(
            d.next_frame(),
            Err(WireError::Malformed { kind: "start", .. })
        ));
    }

    proptest! {
        /// However the stream is cut into reads, the same frames come out in order.
        #[test]
        fn frames_survive_any_cut(cuts in proptest::collection::vec(1usize..64, 1..40)) {
            let frames = all_kinds();
            let stream: Vec<u8> = frames.iter().flat_map(Frame::encode).collect();
            let mut d = Decoder::default();
            let mut got = Vec::new();
            let mut rest = &stream[..];
            let mut i = 0;
            while !rest.is_empty() {
                let n = cuts[i % cuts.len()].min(rest.len());
                d.push(&rest[..n]);
                rest = &rest[n..];
                i += 1;
                while let Some(f) = d.next_frame().unwrap() {
                    got.push(f);
                }
            }
            prop_assert_eq!(got, frames);
        }

        /// Arbitrary bytes give frames or an error, never a panic.
        #[test]
        fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..256)) {
            let mut d = Decoder::default();
            d.push(&bytes);
            while let Ok(Some(_)) = d.next_frame() {}
        }
    }
}
