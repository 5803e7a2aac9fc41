//! Session recordings: the asciicast v3 format, written live and read back losslessly, and the
//! store that keeps recording blobs.
//!
//! Format: a JSON header line, then one `[interval, code, data]` line per event (`o` output,
//! `i` input, `r` resize, `m` marker, `x` exit), so asciinema's own tools play our files.
//!
//! Lossless extension: asciicast data is JSON text, but a terminal stream is bytes. A UTF-8
//! sequence split across two chunks is carried to the next event; any other invalid byte makes
//! the event hold the lossy text a terminal would show (U+FFFD), followed at once by a
//! `[0.0, "b", "<base64>"]` event holding the event's exact bytes. Players ignore unknown codes
//! (asciinema 3 parses them as "other"); [`read_cast`] puts the exact bytes back. Binary (a
//! chunk whose JSON text, escapes or U+FFFD replacements included, would more than double it:
//! NULs, random or compressed bytes) is classified when it arrives and written as an empty `o`
//! event followed by its `b` event: exact, compact, blank in players, and no lossy text is
//! built for it.
//!
//! On disk the file is a sequence of zstd frames: compressed ones, and stored ones (raw
//! blocks) for base64 of bytes that do not compress; any zstd reader reads both.
//!
//! Architecture invariant: this crate knows nothing of SSH, HTTP or SQL. It turns events into
//! bytes on disk and back.
#![forbid(unsafe_code)]

mod blob;
pub mod chain;
mod compress;
mod filter;
mod merge;
mod reader;
pub mod s3;
mod screen;
mod seek;
mod utf8;
mod writer;

pub use blob::{
    BlobFuture, BlobReader, CastReader, LiveBlob, LocalRecordingStore, RecordingStore, read_whole,
};
pub use compress::LiveCompressor;
pub use filter::OutputOnly;
pub use merge::{merge_casts, merge_stored};
pub use reader::{Cast, CastEvent, CastHeader, EventData, read_cast};
pub use screen::Screen;
pub use seek::{KEYFRAME_EVERY, Keyframe, SeekIndex, Seeked, markers, seek};
pub use writer::{CastWriter, Header};

#[derive(Debug, thiserror::Error)]
pub enum RecordError {
    #[error("recording i/o failed for {path}: {source}")]
    Io {
        path: String,
        source: std::io::Error,
    },
    #[error("recording line {line} is not valid asciicast v3: {reason}")]
    Parse { line: usize, reason: String },
    #[error("recording {0} does not exist")]
    NotFound(String),
    /// The object store refused or could not be reached.
    #[error("recording storage failed for {key}: {reason}")]
    Storage { key: String, reason: String },
}
