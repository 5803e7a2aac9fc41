//! Seeking in a recording without replaying it from the start: keyframes of the screen.
//!
//! A keyframe is the screen (avt's dump) at a moment, with the byte offset in the decoded
//! asciicast stream of the line after it. [`seek`] reads a stream from the latest keyframe
//! before the wanted moment (skipping the bytes before it undecoded as JSON), replays the
//! events up to that moment on a screen model, and stops at the first event after it; it
//! adds a keyframe to the index every [`KEYFRAME_EVERY`] bytes it replays (by default), so the index grows
//! where people seek and a later seek near there replays at most that much.
//!
//! What it is not: an exact copy of the terminal's state. The dump redraws the visible screen,
//! its cursor and modes; scrollback and a program's private state (a half-received escape
//! sequence at the keyframe) are not carried. Byte offsets are of the stream given, so an index
//! is only good for the same recording read the same way (with or without its input track).

use std::io::{self, BufRead, Read};
use std::time::Duration;

use crate::Screen;
use crate::filter::event_head;
use crate::reader::CastHeader;

/// Bytes of events between two keyframes: a seek replays at most this much (tens of
/// milliseconds), and an index of a 1 GiB recording holds about 256 screens.
pub const KEYFRAME_EVERY: u64 = 4 << 20;

/// The screen at a moment of a recording.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Keyframe {
    /// Time from the start of the recording.
    pub at: Duration,
    /// Offset in the decoded stream of the line after the keyframe's last event.
    pub offset: u64,
    pub cols: u16,
    pub rows: u16,
    /// Escape sequences that draw the screen on a blank terminal of that size.
    pub screen: String,
}

/// The keyframes found so far in one recording, by offset.
#[derive(Debug, Clone)]
pub struct SeekIndex {
    frames: Vec<Keyframe>,
    every: u64,
}

impl Default for SeekIndex {
    fn default() -> Self {
        SeekIndex::with_spacing(KEYFRAME_EVERY)
    }
}

impl SeekIndex {
    /// An index that keeps a keyframe every `bytes` of events replayed.
    pub fn with_spacing(bytes: u64) -> SeekIndex {
        SeekIndex {
            frames: Vec::new(),
            every: bytes.max(1),
        }
    }

    pub fn len(&self) -> usize {
        self.frames.len()
    }

    pub fn is_empty(&self) -> bool {
        self.frames.is_empty()
    }

    /// The latest keyframe at or before `at`.
    fn before(&self, at: Duration) -> Option<&Keyframe> {
        self.frames.iter().rev().find(|k| k.at <= at)
    }

    fn add(&mut self, k: Keyframe) {
        if let Err(i) = self.frames.binary_search_by_key(&k.offset, |f| f.offset) {
            self.frames.insert(i, k);
        }
    }
}

/// Where a seek landed.
#[derive(Debug, Clone, PartialEq)]
pub struct Seeked {
    /// The recording's header line, as stored.
    pub header: String,
    /// The moment reached (the wanted one, or the end of the recording before it).
    pub at: Duration,
    pub cols: u16,
    pub rows: u16,
    pub screen: String,
    /// The first event after `at`, its interval rewritten to count from `at`; none at the end.
    pub next: Option<Vec<u8>>,
}

/// Reads `stream` (decoded asciicast) up to `at`; afterwards the stream is at the event after
/// `next`. See the module doc.
pub fn seek<R: BufRead>(stream: &mut R, index: &mut SeekIndex, at: Duration) -> io::Result<Seeked> {
    let mut offset = 0u64;
    let mut line = Vec::new();
    let header = loop {
        line.clear();
        let n = stream.read_until(b'\n', &mut line)?;
        if n == 0 {
            return Err(io::Error::new(
                io::ErrorKind::UnexpectedEof,
                "the recording is empty",
            ));
        }
        offset += n as u64;
        if !line.iter().all(u8::is_ascii_whitespace) {
            break String::from_utf8_lossy(&line).trim_end().to_owned();
        }
    };
    let parsed: CastHeader = serde_json::from_str(&header).map_err(|e| {
        io::Error::new(
            io::ErrorKind::InvalidData,
            format!("the recording's header is not asciicast v3: {e}"),
        )
    })?;
    let mut screen = Screen::new(parsed.term.cols, parsed.term.rows);
    let mut time = Duration::ZERO;
    if let Some(k) = index.before(at).filter(|k| k.offset >= offset).cloned() {
        let skip = k.offset - offset;
        let skipped = io::copy(&mut stream.by_ref().take(skip), &mut io::sink())?;
        if skipped != skip {
            return Err(io::Error::new(
                io::ErrorKind::UnexpectedEof,
                "the recording is shorter than its seek index says",
            ));
        }
        offset = k.offset;
        time = k.at;
        screen = Screen::new(k.cols, k.rows);
        screen.feed(k.screen.as_bytes());
    }
    let mut since_keyframe = 0u64;
    loop {
        line.clear();
        let n = stream.read_until(b'\n', &mut line)?;
        if n == 0 {
            let (cols, rows) = screen.size();
            return Ok(Seeked {
                header,
                at: time.min(at),
                cols,
                rows,
                screen: screen.dump(),
                next: None,
            });
        }
        offset += n as u64;
        let Some((micros, code, rest_at)) = event_head(&line) else {
            continue;
        };
        // Saturating, as in `markers`: a stored file's intervals may add up past any duration.
        let when = time.saturating_add(Duration::from_micros(
            u64::try_from(micros).unwrap_or(u64::MAX),
        ));
        if when > at {
            let after = when - at;
            let mut next =
                format!("[{}.{:06}", after.as_secs(), after.subsec_micros()).into_bytes();
            next.extend_from_slice(&line[rest_at..]);
            let (cols, rows) = screen.size();
            return Ok(Seeked {
                header,
                at,
                cols,
                rows,
                screen: screen.dump(),
                next: Some(next),
            });
        }
        time = when;
        match code {
            b"o" => {
                if let Ok((_, _, text)) = serde_json::from_slice::<(f64, String, String)>(&line) {
                    screen.feed(text.as_bytes());
                }
            }
            b"r" => {
                if let Ok((_, _, size)) = serde_json::from_slice::<(f64, String, String)>(&line)
                    && let Some((c, r)) = size.split_once('x')
                    && let (Ok(c), Ok(r)) = (c.parse(), r.parse())
                {
                    screen.resize(c, r);
                }
            }
            _ => {}
        }
        since_keyframe += n as u64;
        if since_keyframe >= index.every {
            since_keyframe = 0;
            let (cols, rows) = screen.size();
            index.add(Keyframe {
                at: time,
                offset,
                cols,
                rows,
                screen: screen.dump(),
            });
        }
    }
}

/// The markers of a decoded stream (commands, gateway notices, locks), with their times
/// from the start. Only marker lines are parsed as JSON; the rest is read for its interval.
pub fn markers<R: BufRead>(stream: R) -> io::Result<Vec<(Duration, String)>> {
    let mut out = Vec::new();
    let mut micros = 0u128;
    for line in stream.split(b'\n') {
        let line = line?;
        let Some((interval, code, _)) = event_head(&line) else {
            continue;
        };
        micros = micros.saturating_add(interval);
        if code == b"m"
            && let Ok((_, _, label)) = serde_json::from_slice::<(f64, String, String)>(&line)
        {
            let at = Duration::from_micros(u64::try_from(micros).unwrap_or(u64::MAX));
            out.push((at, label));
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests;
