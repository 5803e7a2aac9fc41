//! Compression while the session runs. The recording is written as one zstd frame from the
//! start: what reaches the disk is already small, and ending the session only ends the frame,
//! instead of writing every byte plain and reading it all back to compress it at close (that
//! plain write was a quarter of the gateway's CPU during bulk transfers).
//!
//! The compressor works in memory and hands back compressed bytes, so the caller decides how
//! they reach the file (the recorder task writes them asynchronously).
//!
//! Each flush (once a second) ends the current frame and frees the compression context; the
//! next bytes start a new frame. zstd readers read concatenated frames as one stream, and an
//! idle session holds no compressor at all (a context is about 110 KiB: with one per session,
//! 1,000 idle sessions took 192 KiB each instead of 78).

use std::io::{self, Read, Write};

/// Fast level: bulk binary output must not cost the relay its throughput, and terminal text
/// still shrinks to a few percent.
const LEVEL: i32 = 1;

#[derive(Default)]
pub struct LiveCompressor {
    /// The frame being written; `None` between frames.
    encoder: Option<zstd::stream::write::Encoder<'static, Vec<u8>>>,
}

impl LiveCompressor {
    /// Compresses `plain`; returns whatever compressed bytes are ready for the file.
    pub fn push(&mut self, plain: &[u8]) -> io::Result<Vec<u8>> {
        if plain.is_empty() {
            return Ok(Vec::new());
        }
        let encoder = match &mut self.encoder {
            Some(e) => e,
            None => self
                .encoder
                .insert(zstd::stream::write::Encoder::new(Vec::new(), LEVEL)?),
        };
        encoder.write_all(plain)?;
        Ok(std::mem::take(encoder.get_mut()))
    }

    /// Returns the compressed bytes that make everything pushed so far decodable (the frame
    /// ends): after they reach the disk, a crash loses nothing that was pushed.
    pub fn flush(&mut self) -> io::Result<Vec<u8>> {
        match self.encoder.take() {
            Some(e) => e.finish(),
            None => Ok(Vec::new()),
        }
    }

    /// The last bytes of the file.
    pub fn finish(mut self) -> io::Result<Vec<u8>> {
        self.flush()
    }
}

/// Reads a frame that may still be written (or was cut short by a crash): everything up to the
/// last flush, then end of file instead of an error.
pub(crate) struct UnfinishedFrame<R: Read> {
    inner: zstd::stream::read::Decoder<'static, io::BufReader<R>>,
}

impl<R: Read> UnfinishedFrame<R> {
    pub(crate) fn new(reader: R) -> io::Result<Self> {
        Ok(Self {
            inner: zstd::stream::read::Decoder::new(reader)?,
        })
    }
}

impl<R: Read> Read for UnfinishedFrame<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        match self.inner.read(buf) {
            Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => Ok(0),
            other => other,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flushed_bytes_decode_before_the_frame_ends() -> io::Result<()> {
        let mut c = LiveCompressor::default();
        let mut file = c.push(b"{\"version\":3}\n")?;
        file.extend(c.push(&b"[0.1, \"o\", \"hi\"]\n".repeat(50))?);
        file.extend(c.flush()?);
        let mut got = Vec::new();
        UnfinishedFrame::new(&file[..])?.read_to_end(&mut got)?;
        assert!(got.starts_with(b"{\"version\":3}\n"));
        assert_eq!(got.len(), 14 + 17 * 50);
        assert!(c.flush()?.is_empty(), "nothing new, no empty frame");
        // A frame cut short by a crash: what was flushed before it still reads.
        let mut cut = file.clone();
        let mut c2 = LiveCompressor::default();
        let mut partial = c2.push(&b"[0.3, \"o\", \"lost in the crash\"]\n".repeat(1000))?;
        partial.extend(c2.flush()?);
        cut.extend(&partial[..partial.len() / 2]);
        got.clear();
        UnfinishedFrame::new(&cut[..])?.read_to_end(&mut got)?;
        assert_eq!(got.len(), 14 + 17 * 50);
        file.extend(c.push(b"[0.2, \"x\", \"0\"]\n")?);
        file.extend(c.finish()?);
        let mut whole = Vec::new();
        zstd::stream::read::Decoder::new(&file[..])?.read_to_end(&mut whole)?;
        assert!(whole.ends_with(b"[0.2, \"x\", \"0\"]\n"));
        Ok(())
    }
}
