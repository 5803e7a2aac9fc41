//! Where a transferred file waits at the gateway while it is inspected: on disk under the
//! data directory (never whole in memory), written by offset on a thread of its own (SFTP
//! writes may come out of order; a file must be whole when finished), hashed as the bytes
//! come when they come in order (otherwise once complete), removed when dropped.
//!
//! What it is not: a quota. A disk that fills refuses the file being written
//! ([`SpoolError::Full`]); other transfers and sessions go on.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use sha2::{Digest, Sha256};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use vigil_core::Direction;

/// What a plugin knows of a file besides its bytes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileInfo {
    /// The path on the target (upload: where it goes; download: where it comes from).
    pub path: String,
    pub direction: Direction,
    pub size: u64,
    /// SHA-256 of the whole file, lowercase hex.
    pub sha256: String,
    /// Other paths the file may land under: legacy SCP's sink, not the source, decides
    /// whether the target path is a directory (`scp a.txt host:/tmp/x.sh` lands as
    /// `/tmp/x.sh` unless that is a directory). Name checks look at every one.
    pub aliases: Vec<String>,
}

impl FileInfo {
    /// The path and its aliases.
    pub fn names(&self) -> impl Iterator<Item = &str> {
        std::iter::once(self.path.as_str()).chain(self.aliases.iter().map(String::as_str))
    }
}

/// Why a file could not be spooled.
#[derive(Debug, thiserror::Error)]
pub enum SpoolError {
    #[error(
        "the gateway's spool ({dir}) is full: the file cannot be inspected, so it is refused; tell an administrator"
    )]
    Full { dir: String },
    #[error(
        "{missing} bytes of the file were never written (a sparse file): the gateway inspects whole files only, so it is refused"
    )]
    Holes { missing: u64 },
    #[error(
        "the file was written in more than {MAX_PIECES} separate pieces: the gateway refuses it"
    )]
    Fragmented,
    #[error("the gateway cannot spool the file in {dir}: {source}")]
    Io {
        dir: String,
        #[source]
        source: std::io::Error,
    },
}

/// The spool directory of a node.
#[derive(Debug, Clone)]
pub struct Spool {
    dir: PathBuf,
}

/// Names files uniquely within this process.
static NEXT: AtomicU64 = AtomicU64::new(0);

impl Spool {
    pub fn new(dir: impl Into<PathBuf>) -> Spool {
        Spool { dir: dir.into() }
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// A new spooled file for `path` (on the target) going `direction`.
    pub async fn writer(
        &self,
        path: &str,
        direction: Direction,
    ) -> Result<SpoolWriter, SpoolError> {
        tokio::fs::create_dir_all(&self.dir)
            .await
            .map_err(|e| self.error(e))?;
        let name = format!(
            "transfer-{}-{}.spool",
            std::process::id(),
            NEXT.fetch_add(1, Ordering::Relaxed)
        );
        let at = self.dir.join(name);
        let file = std::fs::OpenOptions::new()
            .create_new(true)
            .read(true)
            .write(true)
            .open(&at)
            .map_err(|e| self.error(e))?;
        Ok(SpoolWriter::start(self.clone(), file, at, path, direction))
    }

    fn error(&self, e: std::io::Error) -> SpoolError {
        let dir = self.dir.display().to_string();
        if e.raw_os_error() == Some(28) || e.kind() == std::io::ErrorKind::StorageFull {
            SpoolError::Full { dir }
        } else {
            SpoolError::Io { dir, source: e }
        }
    }
}

/// Removes the spooled file when the last owner lets go of it.
#[derive(Debug)]
struct Remove(PathBuf);

impl Drop for Remove {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

/// A file being spooled. Its bytes go to a blocking thread of their own, which writes them
/// at their offsets and hashes them as they come in order: a write is queued, not waited for
/// (the sender moves on while the disk works), and the SHA-256 is ready when the last byte
/// is, without reading the file again. A write's failure (a full disk) is reported by a
/// later write or by [`SpoolWriter::finish`].
#[derive(Debug)]
pub struct SpoolWriter {
    spool: Spool,
    jobs: tokio::sync::mpsc::UnboundedSender<(Job, OwnedSemaphorePermit)>,
    /// Bytes that may wait for the thread (each job holds its share until written).
    room: Arc<Semaphore>,
    worker: tokio::task::JoinHandle<std::io::Result<Written>>,
    guard: Remove,
    path: String,
    aliases: Vec<String>,
    direction: Direction,
    size: u64,
    written: Coverage,
}

/// Most disjoint written ranges a file may have before it is complete.
const MAX_PIECES: usize = 4096;

/// The byte ranges written so far, sorted, disjoint and not touching: a file must be covered
/// whole when it is finished (a hole would be hashed and delivered as zeros the client never
/// sent, and a huge one costs the gateway time for nothing). Writes in order keep one range.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
struct Coverage(Vec<(u64, u64)>);

impl Coverage {
    /// Adds `start..end`; false when the file is in too many pieces.
    fn add(&mut self, start: u64, end: u64) -> bool {
        if start >= end {
            return true;
        }
        // The common case: appending to the last range.
        if let Some(last) = self.0.last_mut()
            && start >= last.0
            && start <= last.1
        {
            last.1 = last.1.max(end);
            return true;
        }
        // Ranges that touch or overlap start..end merge with it.
        let first = self.0.partition_point(|r| r.1 < start);
        let past = self.0.partition_point(|r| r.0 <= end);
        let merged = if first < past {
            (self.0[first].0.min(start), self.0[past - 1].1.max(end))
        } else {
            (start, end)
        };
        self.0.splice(first..past, [merged]);
        self.0.len() <= MAX_PIECES
    }

    /// The file is cut at `size`.
    fn cut(&mut self, size: u64) {
        self.0.retain(|r| r.0 < size);
        if let Some(last) = self.0.last_mut() {
            last.1 = last.1.min(size);
        }
    }

    /// Bytes of `0..size` never written.
    fn missing(&self, size: u64) -> u64 {
        let covered: u64 = self.0.iter().map(|r| r.1.min(size) - r.0.min(size)).sum();
        size - covered
    }
}

/// Bytes queued for the writing thread at most: enough to keep it busy, little memory.
const QUEUED_BYTES: usize = 1 << 20;

#[derive(Debug)]
enum Job {
    Write(u64, Vec<u8>),
    Truncate(u64),
}

impl Job {
    /// Its share of [`QUEUED_BYTES`].
    fn weight(&self) -> u32 {
        let bytes = match self {
            Job::Write(_, data) => data.len(),
            Job::Truncate(_) => 0,
        };
        // A permit count fits u32: QUEUED_BYTES does.
        bytes.clamp(1, QUEUED_BYTES) as u32
    }
}

/// What the writing thread leaves: the file, and the hash of its first `hashed` bytes when
/// every write so far came in order (`None` once one did not).
#[derive(Debug)]
struct Written {
    file: std::fs::File,
    hash: Option<Sha256>,
    hashed: u64,
}

/// The writing thread's loop. Invariant: `hash`, when there is one, is the SHA-256 of the
/// file's bytes `0..hashed` as they are on disk now; a write or truncation inside that range
/// drops it (the file is then hashed in one pass at the end).
fn write_jobs(
    file: std::fs::File,
    mut jobs: tokio::sync::mpsc::UnboundedReceiver<(Job, OwnedSemaphorePermit)>,
) -> std::io::Result<Written> {
    use std::os::unix::fs::FileExt;
    let mut hash = Some(Sha256::new());
    let mut hashed = 0u64;
    while let Some((job, _room)) = jobs.blocking_recv() {
        match job {
            Job::Write(offset, data) => {
                file.write_all_at(&data, offset)?;
                if offset < hashed {
                    hash = None;
                } else if offset == hashed
                    && let Some(h) = &mut hash
                {
                    h.update(&data);
                    hashed += data.len() as u64;
                }
            }
            Job::Truncate(size) => {
                file.set_len(size)?;
                if size < hashed {
                    hash = None;
                }
            }
        }
    }
    Ok(Written { file, hash, hashed })
}

impl SpoolWriter {
    fn start(
        spool: Spool,
        file: std::fs::File,
        at: PathBuf,
        path: &str,
        direction: Direction,
    ) -> SpoolWriter {
        let (jobs, queue) = tokio::sync::mpsc::unbounded_channel();
        let worker = tokio::task::spawn_blocking(move || write_jobs(file, queue));
        SpoolWriter {
            spool,
            jobs,
            room: Arc::new(Semaphore::new(QUEUED_BYTES)),
            worker,
            guard: Remove(at),
            path: path.to_owned(),
            aliases: Vec::new(),
            direction,
            size: 0,
            written: Coverage::default(),
        }
    }

    /// The file may also land as `path` (see [`FileInfo::aliases`]).
    pub fn also_named(&mut self, path: String) {
        if path != self.path && !self.aliases.contains(&path) {
            self.aliases.push(path);
        }
    }

    pub fn direction(&self) -> Direction {
        self.direction
    }

    /// The path on the target the file is spooled for.
    pub fn path(&self) -> &str {
        &self.path
    }

    /// Writes `data` at `offset`, in any order; a file still holding bytes never written when
    /// it is finished is refused ([`SpoolError::Holes`]).
    pub async fn write_at(
        &mut self,
        offset: u64,
        data: impl Into<Vec<u8>>,
    ) -> Result<(), SpoolError> {
        let data = data.into();
        let end = offset.saturating_add(data.len() as u64);
        if !self.written.add(offset, end) {
            return Err(SpoolError::Fragmented);
        }
        self.queue(Job::Write(offset, data)).await?;
        self.size = self.size.max(end);
        Ok(())
    }

    /// Cuts the file at `size` (SFTP's SETSTAT size, an `O_TRUNC` open).
    pub async fn truncate(&mut self, size: u64) -> Result<(), SpoolError> {
        self.queue(Job::Truncate(size)).await?;
        self.size = size;
        self.written.cut(size);
        Ok(())
    }

    async fn queue(&mut self, job: Job) -> Result<(), SpoolError> {
        // The semaphore is never closed.
        if let Ok(room) = Arc::clone(&self.room)
            .acquire_many_owned(job.weight())
            .await
            && self.jobs.send((job, room)).is_ok()
        {
            return Ok(());
        }
        // The thread stopped: it says why.
        let failed = (&mut self.worker).await;
        Err(self.failure(failed))
    }

    fn failure(
        &self,
        ended: Result<std::io::Result<Written>, tokio::task::JoinError>,
    ) -> SpoolError {
        let e = match joined(ended) {
            Ok(_) => std::io::Error::other("the spool's writer stopped"),
            Err(e) => e,
        };
        self.spool.error(e)
    }

    /// The bytes so far.
    pub fn size(&self) -> u64 {
        self.size
    }

    /// The file is complete: every write done, measured and hashed (by then, when the writes
    /// came in order; otherwise in one sequential read now).
    pub async fn finish(self) -> Result<Spooled, SpoolError> {
        let SpoolWriter {
            spool,
            jobs,
            room: _,
            worker,
            guard,
            path,
            aliases,
            direction,
            size,
            written,
        } = self;
        drop(jobs);
        let missing = written.missing(size);
        if missing > 0 {
            return Err(SpoolError::Holes { missing });
        }
        let this = |e| spool.error(e);
        let written = joined(worker.await).map_err(this)?;
        let (file, sha256) =
            joined(tokio::task::spawn_blocking(move || hash_of(written, size)).await)
                .map_err(this)?;
        Ok(Spooled {
            info: FileInfo {
                path,
                direction,
                size,
                sha256,
                aliases,
            },
            file: Arc::new(file),
            guard,
        })
    }
}

/// The file's SHA-256 in hex: the hash kept while writing when it covers the whole file,
/// otherwise one pass over it.
fn hash_of(written: Written, size: u64) -> std::io::Result<(std::fs::File, String)> {
    let Written { file, hash, hashed } = written;
    let hash = match hash {
        Some(h) if hashed == size => h,
        _ => {
            let mut h = Sha256::new();
            let mut at = 0u64;
            loop {
                let block = read_full(&file, at, BLOCK)?;
                if block.is_empty() {
                    break;
                }
                h.update(&block);
                at += block.len() as u64;
            }
            h
        }
    };
    let hex = hash.finalize().iter().map(|b| format!("{b:02x}")).collect();
    Ok((file, hex))
}

/// Bytes per read of a spooled file from the blocking pool.
const BLOCK: usize = 256 * 1024;

/// Up to `len` bytes of `file` from `offset`; fewer only at its end.
fn read_full(file: &std::fs::File, offset: u64, len: usize) -> std::io::Result<Vec<u8>> {
    use std::os::unix::fs::FileExt;
    let mut buf = vec![0u8; len];
    let mut got = 0;
    while got < len {
        let n = file.read_at(&mut buf[got..], offset + got as u64)?;
        if n == 0 {
            break;
        }
        got += n;
    }
    buf.truncate(got);
    Ok(buf)
}

/// A blocking task's result, its panic as an I/O error.
fn joined<T>(ended: Result<std::io::Result<T>, tokio::task::JoinError>) -> std::io::Result<T> {
    ended.map_err(|e| std::io::Error::other(e.to_string()))?
}

/// A complete spooled file, ready for the plugins; removed from the spool when dropped.
#[derive(Debug)]
pub struct Spooled {
    pub info: FileInfo,
    file: Arc<std::fs::File>,
    guard: Remove,
}

impl Spooled {
    /// Where the bytes are (for a plugin that runs a program on them).
    pub fn local_path(&self) -> &Path {
        &self.guard.0
    }

    /// Up to `n` bytes from the start (content sniffing).
    pub async fn head(&self, n: usize) -> std::io::Result<Vec<u8>> {
        self.read_at(0, n).await
    }

    /// Up to `len` bytes from `offset` (fewer only at the end of the file), read on the
    /// blocking pool in one go.
    pub async fn read_at(&self, offset: u64, len: usize) -> std::io::Result<Vec<u8>> {
        let file = Arc::clone(&self.file);
        joined(tokio::task::spawn_blocking(move || read_full(&file, offset, len)).await)
    }

    /// The file in order, a block of up to `BLOCK` bytes at a time, the next block read while
    /// the caller sends this one.
    pub fn blocks(&self) -> Blocks<'_> {
        Blocks {
            file: self,
            next: 0,
            ahead: None,
        }
    }
}

/// See [`Spooled::blocks`].
pub struct Blocks<'a> {
    file: &'a Spooled,
    next: u64,
    ahead: Option<tokio::task::JoinHandle<std::io::Result<Vec<u8>>>>,
}

impl Blocks<'_> {
    /// The next block; `None` at the end of the file.
    pub async fn next(&mut self) -> std::io::Result<Option<Vec<u8>>> {
        let block = match self.ahead.take() {
            Some(reading) => joined(reading.await)?,
            None => self.file.read_at(self.next, BLOCK).await?,
        };
        if block.is_empty() {
            return Ok(None);
        }
        self.next += block.len() as u64;
        if self.next < self.file.info.size {
            let (file, offset) = (Arc::clone(&self.file.file), self.next);
            self.ahead = Some(tokio::task::spawn_blocking(move || {
                read_full(&file, offset, BLOCK)
            }));
        }
        Ok(Some(block))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn writes_by_offset_out_of_order_hash_the_whole_file_and_leave_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let spool = Spool::new(dir.path().join("spool"));
        let mut w = spool.writer("/srv/x", Direction::Upload).await.unwrap();
        w.write_at(6, b"world").await.unwrap();
        w.write_at(20, b"!").await.unwrap();
        w.write_at(0, b"hello ").await.unwrap();
        w.write_at(11, b"\0\0\0\0\0\0\0\0\0").await.unwrap();
        assert_eq!(w.size(), 21);
        let f = w.finish().await.unwrap();
        let mut want = b"hello world".to_vec();
        want.resize(20, 0);
        want.push(b'!');
        assert_eq!(std::fs::read(f.local_path()).unwrap(), want);
        let hash: String = Sha256::digest(&want)
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect();
        assert_eq!(f.info.sha256, hash);
        assert_eq!((f.info.size, f.info.path.as_str()), (21, "/srv/x"));
        assert_eq!(f.head(5).await.unwrap(), b"hello");
        let at = f.local_path().to_owned();
        drop(f);
        assert!(!at.exists(), "the spooled file is removed");
        // A writer given up leaves nothing either.
        let mut w = spool.writer("/srv/y", Direction::Download).await.unwrap();
        w.write_at(0, b"partial").await.unwrap();
        w.truncate(3).await.unwrap();
        assert_eq!(w.size(), 3);
        drop(w);
        assert_eq!(std::fs::read_dir(spool.dir()).unwrap().count(), 0);
    }

    #[tokio::test]
    async fn a_file_with_bytes_never_written_is_refused_before_it_is_read() {
        let dir = tempfile::tempdir().unwrap();
        let spool = Spool::new(dir.path().join("spool"));
        // Five bytes a terabyte in: hashing it would read a terabyte of zeros.
        let mut w = spool
            .writer("/srv/sparse", Direction::Upload)
            .await
            .unwrap();
        w.write_at(1 << 40, b"hello").await.unwrap();
        let e = w.finish().await.unwrap_err();
        assert!(
            matches!(e, SpoolError::Holes { missing } if missing == 1 << 40),
            "{e}"
        );
        // A truncation that extends the file leaves a hole too.
        let mut w = spool
            .writer("/srv/longer", Direction::Upload)
            .await
            .unwrap();
        w.write_at(0, b"abc").await.unwrap();
        w.truncate(10).await.unwrap();
        assert!(matches!(
            w.finish().await,
            Err(SpoolError::Holes { missing: 7 })
        ));
        // Thousands of scattered pieces are refused as they come.
        let mut w = spool
            .writer("/srv/pieces", Direction::Upload)
            .await
            .unwrap();
        let mut refused = None;
        for i in 0..=MAX_PIECES as u64 {
            if let Err(e) = w.write_at(i * 10, b"x").await {
                refused = Some((i, e));
                break;
            }
        }
        assert!(matches!(refused, Some((n, SpoolError::Fragmented)) if n == MAX_PIECES as u64));
        drop(w);
        assert_eq!(std::fs::read_dir(spool.dir()).unwrap().count(), 0);
    }

    #[test]
    fn coverage_merges_what_touches_and_counts_what_is_missing() {
        let mut c = Coverage::default();
        for (start, end) in [(10, 20), (30, 40), (20, 25), (0, 5), (5, 10), (26, 30)] {
            assert!(c.add(start, end));
        }
        assert_eq!(c.0, vec![(0, 25), (26, 40)]);
        assert_eq!(c.missing(40), 1);
        assert_eq!(c.missing(50), 11);
        assert!(c.add(24, 27));
        assert_eq!(c.0, vec![(0, 40)]);
        c.cut(12);
        assert_eq!(c.0, vec![(0, 12)]);
        assert_eq!(c.missing(12), 0);
        c.add(3, 3);
        assert_eq!(c.0, vec![(0, 12)]);
    }

    /// What a sequence of writes and truncations leaves, kept in memory, and how many of
    /// its bytes were never written.
    fn model(ops: &[(bool, u64, Vec<u8>)]) -> (Vec<u8>, u64) {
        let mut want = Vec::new();
        let mut written = Vec::new();
        for (truncate, at, data) in ops {
            let at = *at as usize;
            if *truncate {
                want.resize(at, 0);
                written.resize(at, false);
            } else {
                if want.len() < at + data.len() {
                    want.resize(at + data.len(), 0);
                    written.resize(at + data.len(), false);
                }
                want[at..at + data.len()].copy_from_slice(data);
                written[at..at + data.len()].fill(true);
            }
        }
        let missing = written.iter().filter(|w| !**w).count() as u64;
        (want, missing)
    }

    fn hex(bytes: &[u8]) -> String {
        Sha256::digest(bytes)
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect()
    }

    proptest::proptest! {
        /// In order, out of order, overwritten, cut: the spooled bytes and their hash are
        /// the file's, whichever way the hash was made (while writing or in one pass); a
        /// file with bytes never written is refused, saying how many.
        #[test]
        fn bytes_and_hash_are_the_files_whatever_the_order(
            ops in proptest::collection::vec(
                (proptest::bool::weighted(0.1), 0u64..5000, proptest::collection::vec(proptest::num::u8::ANY, 0..3000)),
                0..12,
            ),
            mode in 0u8..3,
        ) {
            // One file written front to back in pieces (the hash is then made while
            // writing), the same pieces back to front (whole, but hashed in one pass at the
            // end), or writes and cuts anywhere (mostly with holes).
            let ops: Vec<(bool, u64, Vec<u8>)> = if mode < 2 {
                let mut at = 0;
                let mut pieces: Vec<_> = ops.into_iter().map(|(_, _, d)| { let w = (false, at, d); at += w.2.len() as u64; w }).collect();
                if mode == 1 {
                    pieces.reverse();
                }
                pieces
            } else {
                ops
            };
            let rt = tokio::runtime::Builder::new_current_thread().build().unwrap();
            let got = rt.block_on(async {
                let dir = tempfile::tempdir().unwrap();
                let mut w = Spool::new(dir.path()).writer("/x", Direction::Upload).await.unwrap();
                for (truncate, at, data) in &ops {
                    if *truncate {
                        w.truncate(*at).await.unwrap();
                    } else {
                        w.write_at(*at, &data[..]).await.unwrap();
                    }
                }
                let f = w.finish().await?;
                let mut bytes = Vec::new();
                let mut blocks = f.blocks();
                while let Some(b) = blocks.next().await.unwrap() {
                    bytes.extend(b);
                }
                Ok::<_, SpoolError>((bytes, f.info.sha256.clone(), f.info.size))
            });
            let (want, missing) = model(&ops);
            match got {
                Err(SpoolError::Holes { missing: m }) => proptest::prop_assert_eq!(m, missing),
                Err(e) => proptest::prop_assert!(false, "{e}"),
                Ok((bytes, sha, size)) => {
                    proptest::prop_assert_eq!(missing, 0);
                    proptest::prop_assert_eq!(size, want.len() as u64);
                    proptest::prop_assert_eq!(&bytes, &want);
                    proptest::prop_assert_eq!(sha, hex(&want));
                }
            }
        }
    }

    #[tokio::test]
    async fn a_file_larger_than_a_block_reads_back_whole_in_order() {
        let dir = tempfile::tempdir().unwrap();
        let mut w = Spool::new(dir.path())
            .writer("/big", Direction::Download)
            .await
            .unwrap();
        let body: Vec<u8> = (0..(BLOCK * 2 + 12345)).map(|i| (i % 251) as u8).collect();
        for (n, piece) in body.chunks(32 * 1024).enumerate() {
            w.write_at((n * 32 * 1024) as u64, piece).await.unwrap();
        }
        let f = w.finish().await.unwrap();
        assert_eq!(f.info.sha256, hex(&body));
        let mut blocks = f.blocks();
        let mut got = Vec::new();
        let mut sizes = Vec::new();
        while let Some(b) = blocks.next().await.unwrap() {
            sizes.push(b.len());
            got.extend(b);
        }
        assert_eq!(sizes, vec![BLOCK, BLOCK, 12345]);
        assert_eq!(got, body);
        assert_eq!(
            f.read_at(BLOCK as u64 * 2 + 12340, 100).await.unwrap(),
            &body[BLOCK * 2 + 12340..]
        );
    }
}
