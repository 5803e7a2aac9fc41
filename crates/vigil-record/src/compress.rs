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

//!
//! Compression must pay for itself. Binary output is written as base64 (`b` events), which
//! zstd shrinks by a quarter whatever the bytes are: Huffman coding wins back base64's 6 bits
//! per character. On bytes that are already random (compressed archives, encrypted data) that
//! quarter is all it wins, at about 2.4 CPU seconds per GiB of output, more than the rest of
//! the recorder together. So each large push that is mostly base64 is measured: when compression
//! saved no more than base64's overhead, the next [`STORE_AFTER_MISS`] bytes of such pushes
//! are written as stored zstd frames (raw blocks: any zstd reader reads them, nothing is
//! computed), then one is compressed again to see whether the output changed. Text, and small
//! pushes (a terminal's output, once a second), are always compressed.

use std::io::{self, Read, Write};

/// Fast level: bulk binary output must not cost the relay its throughput, and terminal text
/// still shrinks to a few percent.
const LEVEL: i32 = 1;

/// Pushes at least this large and mostly base64 are judged (and may be stored); others are
/// compressed.
const JUDGED: usize = 64 * 1024;
/// Bytes of large pushes stored after one that did not pay, before compression is tried
/// again: the probe then costs about 3% of what compressing everything would.
const STORE_AFTER_MISS: usize = 8 << 20;

/// Compression paid when it took off more than base64's overhead: output under 70% of the
/// input (base64 of random bytes comes out at 75%; text at 2-30%; zeros at almost nothing).
fn paid(input: usize, output: usize) -> bool {
    10 * output < 7 * input
}

#[derive(Default)]
pub struct LiveCompressor {
    /// The frame being written; `None` between frames.
    encoder: Option<zstd::stream::write::Encoder<'static, Vec<u8>>>,
    /// Bytes of large pushes still to store without compressing.
    store_budget: usize,
}

impl LiveCompressor {
    /// Compresses `plain` (or stores it, see the module doc); returns the bytes for the file.
    /// Everything pushed is in them but for the end of the current frame, which [`flush`]
    /// writes. `base64`: how many of the bytes are base64 payload (`b` events), as
    /// [`CastWriter::take_base64_written`] counts them.
    ///
    /// [`flush`]: LiveCompressor::flush
    /// [`CastWriter::take_base64_written`]: crate::CastWriter::take_base64_written
    pub fn push(&mut self, plain: &[u8], base64: usize) -> io::Result<Vec<u8>> {
        if plain.is_empty() {
            return Ok(Vec::new());
        }
        let judged = plain.len() >= JUDGED && 10 * base64 >= 9 * plain.len();
        if judged && self.store_budget > 0 {
            self.store_budget = self.store_budget.saturating_sub(plain.len());
            let mut out = self.flush()?;
            stored_frame(plain, &mut out);
            return Ok(out);
        }
        let encoder = match &mut self.encoder {
            Some(e) => e,
            None => self
                .encoder
                .insert(zstd::stream::write::Encoder::new(Vec::new(), LEVEL)?),
        };
        encoder.write_all(plain)?;
        // Emits everything buffered (a block boundary, not the frame's end): what comes back
        // is exactly this push's cost, so it can be judged.
        encoder.flush()?;
        let out = std::mem::take(encoder.get_mut());
        if judged && !paid(plain.len(), out.len()) {
            self.store_budget = STORE_AFTER_MISS;
        }
        Ok(out)
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

/// Appends `plain` as one zstd frame of raw (stored) blocks: RFC 8878's frame header with a
/// 128 KiB window and no checksum, then blocks of at most 128 KiB, the last one flagged.
fn stored_frame(plain: &[u8], out: &mut Vec<u8>) {
    const MAGIC: [u8; 4] = [0x28, 0xB5, 0x2F, 0xFD];
    const MAX_BLOCK: usize = 128 * 1024;
    // Frame header descriptor: no content size, not single-segment, no checksum, no dictionary.
    // Window descriptor: exponent 7, mantissa 0 (2^(10+7) = 128 KiB, the largest block).
    out.reserve(plain.len() + 6 + 3 * plain.len().div_ceil(MAX_BLOCK));
    out.extend_from_slice(&MAGIC);
    out.extend_from_slice(&[0x00, 7 << 3]);
    let mut blocks = plain.chunks(MAX_BLOCK).peekable();
    while let Some(block) = blocks.next() {
        let last = u32::from(blocks.peek().is_none());
        // Block header, 3 bytes little-endian: last flag, type 0 (raw), size. The size fits:
        // a block is at most 128 KiB and the field has 21 bits.
        let size = u32::try_from(block.len()).unwrap_or(0);
        let header = (size << 3) | last;
        out.extend_from_slice(&header.to_le_bytes()[..3]);
        out.extend_from_slice(block);
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

    fn decode(file: &[u8]) -> io::Result<Vec<u8>> {
        let mut whole = Vec::new();
        zstd::stream::read::Decoder::new(file)?.read_to_end(&mut whole)?;
        Ok(whole)
    }

    /// base64 of bytes no compressor can shrink, as a recording holds them.
    fn base64_noise(len: usize) -> Vec<u8> {
        let noise = crate::writer::tests::noise(len * 3 / 4, 5);
        base64_simd::STANDARD.encode_to_string(&noise).into_bytes()
    }

    #[test]
    fn stored_frames_are_plain_zstd() -> io::Result<()> {
        for len in [1, 1000, 128 * 1024, 128 * 1024 + 1, 300_000] {
            let plain: Vec<u8> = (0..len).map(|i| (i % 251) as u8).collect();
            let mut file = Vec::new();
            stored_frame(&plain, &mut file);
            assert_eq!(decode(&file)?, plain, "{len} bytes");
            let mut got = Vec::new();
            UnfinishedFrame::new(&file[..])?.read_to_end(&mut got)?;
            assert_eq!(got, plain);
        }
        Ok(())
    }

    #[test]
    fn incompressible_pushes_are_stored_and_text_stays_compressed() -> io::Result<()> {
        let mut c = LiveCompressor::default();
        let text =
            b"[0.1, \"o\", \"drwxr-xr-x 2 root root 4096 /usr/share/doc\\r\\n\"]\n".repeat(5000);
        let noise = base64_noise(256 * 1024);
        let mut file = c.push(&text, 0)?;
        assert!(
            file.len() * 20 < text.len(),
            "text compresses: {}",
            file.len()
        );
        let mut stored = 0;
        let mut want = text.clone();
        for _ in 0..34 {
            let out = c.push(&noise, noise.len())?;
            if out.len() > noise.len() {
                stored += 1;
            }
            file.extend(out);
            want.extend_from_slice(&noise);
        }
        // The first push is compressed and judged; the next 8 MiB are stored; then one probe.
        assert_eq!(stored, 32, "pushes stored");
        // Text after it is compressed at once.
        let out = c.push(&text, 0)?;
        assert!(
            out.len() * 20 < text.len(),
            "text compresses: {}",
            out.len()
        );
        file.extend(out);
        want.extend_from_slice(&text);
        file.extend(c.finish()?);
        assert_eq!(decode(&file)?, want);
        Ok(())
    }

    #[test]
    fn flushed_bytes_decode_before_the_frame_ends() -> io::Result<()> {
        let mut c = LiveCompressor::default();
        let mut file = c.push(b"{\"version\":3}\n", 0)?;
        file.extend(c.push(&b"[0.1, \"o\", \"hi\"]\n".repeat(50), 0)?);
        file.extend(c.flush()?);
        let mut got = Vec::new();
        UnfinishedFrame::new(&file[..])?.read_to_end(&mut got)?;
        assert!(got.starts_with(b"{\"version\":3}\n"));
        assert_eq!(got.len(), 14 + 17 * 50);
        assert!(c.flush()?.is_empty(), "nothing new, no empty frame");
        // A frame cut short by a crash: what was flushed before it still reads.
        let mut cut = file.clone();
        let mut c2 = LiveCompressor::default();
        let mut partial = c2.push(&b"[0.3, \"o\", \"lost in the crash\"]\n".repeat(1000), 0)?;
        partial.extend(c2.flush()?);
        cut.extend(&partial[..partial.len() / 2]);
        got.clear();
        UnfinishedFrame::new(&cut[..])?.read_to_end(&mut got)?;
        assert_eq!(got.len(), 14 + 17 * 50);
        file.extend(c.push(b"[0.2, \"x\", \"0\"]\n", 0)?);
        file.extend(c.finish()?);
        let mut whole = Vec::new();
        zstd::stream::read::Decoder::new(&file[..])?.read_to_end(&mut whole)?;
        assert!(whole.ends_with(b"[0.2, \"x\", \"0\"]\n"));
        Ok(())
    }
}
