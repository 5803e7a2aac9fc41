//! Where recording bytes live. A recording is written live while the session runs (appended,
//! flushed at least once a second so a crash loses at most the last second, finished when the
//! session ends) and read back as a byte stream. The trait is what a local directory and an
//! S3-compatible bucket can both implement: no method hands out a file or a path, and every
//! method is async and never blocks the runtime (the local store runs its file system calls
//! through tokio).
//!
//! What is stored is the writer's stream of zstd frames ([`crate::LiveCompressor`]); a
//! reader decodes it with [`CastReader`], in a blocking task when the recording is large.

use std::future::Future;
use std::io::{self, Read};
use std::path::{Path, PathBuf};
use std::pin::Pin;
use std::sync::Arc;

use bytes::Bytes;
use tokio::io::AsyncRead;

use crate::RecordError;
use crate::compress::UnfinishedFrame;

/// What the store's async methods return.
pub type BlobFuture<'a, T> = Pin<Box<dyn Future<Output = Result<T, RecordError>> + Send + 'a>>;

/// A stored recording's bytes, as the store serves them.
pub type BlobReader = Box<dyn AsyncRead + Send + Unpin>;

/// A place that keeps recordings by key.
pub trait RecordingStore: Send + Sync + 'static {
    /// Starts the live recording of `key`; fails when the store cannot take it (fail closed:
    /// the session is refused). Never overwrites an existing recording.
    fn create_live<'a>(&'a self, key: &'a str) -> BlobFuture<'a, Box<dyn LiveBlob>>;
    /// The stored bytes of `key`: a live recording up to its last flush, a finished one
    /// whole. `NotFound` when there is none.
    fn open<'a>(&'a self, key: &'a str) -> BlobFuture<'a, BlobReader>;
    /// Removes a recording in whatever state it is (live, finished, or left by a crash).
    fn delete<'a>(&'a self, key: &'a str) -> BlobFuture<'a, ()>;
}

/// A recording being written.
pub trait LiveBlob: Send {
    /// Appends bytes (not yet durable, not yet readable for sure). Owned, so a store that
    /// keeps them a while (the bucket's pending segment) needs no copy.
    fn append(&mut self, bytes: Bytes) -> BlobFuture<'_, ()>;
    /// Makes everything appended so far durable and readable.
    fn flush(&mut self) -> BlobFuture<'_, ()>;
    /// Ends the recording and moves it to rest.
    fn finish(self: Box<Self>) -> BlobFuture<'static, ()>;
}

/// Decodes a stored recording (zstd frames, or the plain asciicast of versions before live
/// compression) into its asciicast bytes; a live one up to its last complete flush.
pub struct CastReader<R: Read>(Inner<R>);

enum Inner<R: Read> {
    Compressed(Box<UnfinishedFrame<std::io::Chain<io::Cursor<Vec<u8>>, R>>>),
    Plain(std::io::Chain<io::Cursor<Vec<u8>>, R>),
}

impl<R: Read> CastReader<R> {
    pub fn new(mut stored: R) -> io::Result<Self> {
        // zstd frames start with their magic (a chained recording with a skippable frame, its
        // first link); anything else is a plain asciicast file.
        let mut head = Vec::with_capacity(4);
        (&mut stored).take(4).read_to_end(&mut head)?;
        let zstd = head.len() == 4
            && ((head[0] == 0x28 && head[1..] == [0xB5, 0x2F, 0xFD])
                || (head[0] & 0xF0 == 0x50 && head[1..] == [0x2A, 0x4D, 0x18]));
        let whole = io::Cursor::new(head).chain(stored);
        Ok(CastReader(if zstd {
            Inner::Compressed(Box::new(UnfinishedFrame::new(whole)?))
        } else {
            Inner::Plain(whole)
        }))
    }
}

impl<R: Read> Read for CastReader<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        match &mut self.0 {
            Inner::Compressed(r) => r.read(buf),
            Inner::Plain(r) => r.read(buf),
        }
    }
}

/// Recordings under one local directory: `KEY.cast.zst.part` while live, `KEY.cast.zst` at
/// rest. (`KEY.cast`, a plain live file of versions before live compression, is still read.)
#[derive(Debug, Clone)]
pub struct LocalRecordingStore {
    root: PathBuf,
}

impl LocalRecordingStore {
    pub fn new(root: impl Into<PathBuf>) -> Self {
        Self { root: root.into() }
    }

    fn live_path(&self, key: &str) -> PathBuf {
        self.root.join(format!("{key}.cast.zst.part"))
    }

    fn plain_live_path(&self, key: &str) -> PathBuf {
        self.root.join(format!("{key}.cast"))
    }

    pub(crate) fn sealed_path(&self, key: &str) -> PathBuf {
        self.root.join(format!("{key}.cast.zst"))
    }

    /// The keys of every recording kept here, live (or left by a crash) or at rest (the
    /// bucket store's spool: what an earlier run left to upload).
    pub async fn keys(&self) -> Vec<String> {
        let mut keys = Vec::new();
        let mut dirs = vec![self.root.clone()];
        while let Some(dir) = dirs.pop() {
            let Ok(mut entries) = tokio::fs::read_dir(&dir).await else {
                continue;
            };
            while let Ok(Some(e)) = entries.next_entry().await {
                let path = e.path();
                if e.file_type().await.is_ok_and(|t| t.is_dir()) {
                    dirs.push(path);
                    continue;
                }
                let Ok(rel) = path.strip_prefix(&self.root) else {
                    continue;
                };
                let rel = rel.to_string_lossy();
                if let Some(key) = rel
                    .strip_suffix(".cast.zst.part")
                    .or_else(|| rel.strip_suffix(".cast.zst"))
                {
                    keys.push(key.to_owned());
                }
            }
        }
        keys
    }

    /// Every file kept for `key` (this store's own detail, for checks; not part of the trait).
    pub async fn files(&self, key: &str) -> Vec<PathBuf> {
        let mut out = Vec::new();
        for path in [
            self.live_path(key),
            self.plain_live_path(key),
            self.sealed_path(key),
        ] {
            if tokio::fs::try_exists(&path).await.unwrap_or(false) {
                out.push(path);
            }
        }
        out
    }
}

pub(crate) fn io_err(path: &Path) -> impl FnOnce(io::Error) -> RecordError + '_ {
    move |source| RecordError::Io {
        path: path.display().to_string(),
        source,
    }
}

/// What blocking work gave, its panic as an I/O error.
pub(crate) async fn joined<T>(work: tokio::task::JoinHandle<io::Result<T>>) -> io::Result<T> {
    work.await.unwrap_or_else(|e| Err(io::Error::other(e)))
}

/// Written bytes left in the page cache before they are written back and dropped from it.
const DROP_EVERY: u64 = 8 << 20;

struct LocalLive {
    /// The file, written at its end by one blocking write at a time (its offset is shared).
    file: Arc<std::fs::File>,
    live: PathBuf,
    sealed: PathBuf,
    /// The write in flight: the recorder goes on while it runs, and the bytes are written
    /// from the buffer the recorder handed over, not copied into another first.
    writing: Option<tokio::task::JoinHandle<io::Result<()>>>,
    written: u64,
    /// Bytes before this offset were handed to a drop (see [`LocalLive::drop_written`]).
    dropped: u64,
    dropping: Option<tokio::task::JoinHandle<()>>,
}

impl LocalLive {
    /// Recordings are written once and seldom read: left in the page cache they crowd out
    /// what is read, and growing the cache into memory never touched before costs the writer
    /// a slow copy per page (on this project's VMs the node spent 43% of its CPU in
    /// `copy_folio_from_iter_atomic` once 2-3 GB of incompressible recordings had been
    /// written). So every [`DROP_EVERY`] bytes, a blocking task writes the range back and
    /// drops it from the cache, one at a time, never awaited by the writer.
    fn drop_written(&mut self) {
        if self.written - self.dropped < DROP_EVERY
            || self.dropping.as_ref().is_some_and(|d| !d.is_finished())
        {
            return;
        }
        let (from, to) = (self.dropped, self.written);
        self.dropped = to;
        let pages = Arc::clone(&self.file);
        self.dropping = Some(tokio::task::spawn_blocking(move || {
            drop_pages(&pages, from, to)
        }));
    }

    /// Waits for the write in flight; its error is this call's.
    async fn write_landed(&mut self) -> Result<(), RecordError> {
        match self.writing.take() {
            Some(w) => joined(w).await.map_err(io_err(&self.live)),
            None => Ok(()),
        }
    }
}

/// Writes `from..to` back, then drops it from the page cache (DONTNEED drops only clean
/// pages). Failures only leave the pages cached: the recording itself is not affected.
fn drop_pages(file: &std::fs::File, from: u64, to: u64) {
    let _ = rustix::fs::fdatasync(file);
    let _ = rustix::fs::fadvise(
        file,
        from,
        std::num::NonZeroU64::new(to.saturating_sub(from)),
        rustix::fs::Advice::DontNeed,
    );
}

impl LiveBlob for LocalLive {
    fn append(&mut self, bytes: Bytes) -> BlobFuture<'_, ()> {
        Box::pin(async move {
            self.write_landed().await?;
            self.written += bytes.len() as u64;
            let file = Arc::clone(&self.file);
            self.writing = Some(tokio::task::spawn_blocking(move || {
                std::io::Write::write_all(&mut &*file, &bytes)
            }));
            Ok(())
        })
    }

    fn flush(&mut self) -> BlobFuture<'_, ()> {
        Box::pin(async move {
            self.write_landed().await?;
            self.drop_written();
            Ok(())
        })
    }

    fn finish(mut self: Box<Self>) -> BlobFuture<'static, ()> {
        Box::pin(async move {
            self.write_landed().await?;
            let LocalLive {
                file,
                live,
                sealed,
                written,
                dropping,
                ..
            } = *self;
            if let Some(d) = dropping {
                let _ = d.await;
            }
            // Durable, and at rest it is read seldom: none of it needs to stay cached.
            joined(tokio::task::spawn_blocking(move || {
                file.sync_all()?;
                drop_pages(&file, 0, written);
                Ok(())
            }))
            .await
            .map_err(io_err(&live))?;
            tokio::fs::rename(&live, &sealed)
                .await
                .map_err(io_err(&sealed))
        })
    }
}

impl RecordingStore for LocalRecordingStore {
    fn create_live<'a>(&'a self, key: &'a str) -> BlobFuture<'a, Box<dyn LiveBlob>> {
        Box::pin(async move {
            let live = self.live_path(key);
            let sealed = self.sealed_path(key);
            if let Some(dir) = live.parent() {
                tokio::fs::create_dir_all(dir).await.map_err(io_err(dir))?;
            }
            if tokio::fs::try_exists(&sealed).await.unwrap_or(false) {
                return Err(io_err(&sealed)(io::Error::new(
                    io::ErrorKind::AlreadyExists,
                    "a recording with this key exists",
                )));
            }
            let mut options = tokio::fs::OpenOptions::new();
            options.write(true).create_new(true);
            #[cfg(unix)]
            options.mode(0o640);
            let file = Arc::new(
                options
                    .open(&live)
                    .await
                    .map_err(io_err(&live))?
                    .into_std()
                    .await,
            );
            Ok(Box::new(LocalLive {
                file,
                live,
                sealed,
                writing: None,
                written: 0,
                dropped: 0,
                dropping: None,
            }) as Box<dyn LiveBlob>)
        })
    }

    fn open<'a>(&'a self, key: &'a str) -> BlobFuture<'a, BlobReader> {
        Box::pin(async move {
            // At rest, live, or a plain file of an older version, in that order.
            for path in [
                self.sealed_path(key),
                self.live_path(key),
                self.plain_live_path(key),
            ] {
                match tokio::fs::File::open(&path).await {
                    Ok(file) => return Ok(Box::new(file) as BlobReader),
                    Err(e) if e.kind() == io::ErrorKind::NotFound => continue,
                    Err(e) => return Err(io_err(&path)(e)),
                }
            }
            Err(RecordError::NotFound(key.to_owned()))
        })
    }

    fn delete<'a>(&'a self, key: &'a str) -> BlobFuture<'a, ()> {
        Box::pin(async move {
            for path in self.files(key).await {
                tokio::fs::remove_file(&path).await.map_err(io_err(&path))?;
            }
            Ok(())
        })
    }
}

/// Reads a stored recording whole and decodes it: for tests and small recordings (a large
/// one is decoded in a blocking task with [`CastReader`] over a bridge).
pub async fn read_whole(store: &dyn RecordingStore, key: &str) -> Result<Vec<u8>, RecordError> {
    use tokio::io::AsyncReadExt;
    let mut stored = Vec::new();
    store
        .open(key)
        .await?
        .read_to_end(&mut stored)
        .await
        .map_err(|source| RecordError::Io {
            path: key.to_owned(),
            source,
        })?;
    let mut cast = Vec::new();
    CastReader::new(&stored[..])
        .and_then(|mut r| r.read_to_end(&mut cast))
        .map_err(|source| RecordError::Io {
            path: key.to_owned(),
            source,
        })?;
    Ok(cast)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn live_then_sealed_reads_the_same() {
        let dir = tempfile::tempdir().unwrap();
        let store = LocalRecordingStore::new(dir.path());
        let key = "2026/11/22/abc";
        let mut live = store.create_live(key).await.unwrap();
        let body = b"{\"version\":3}\n[0.1, \"o\", \"hi\"]\n".repeat(100);
        let mut compressor = crate::LiveCompressor::default();
        live.append(compressor.push(&body, 0).unwrap().into())
            .await
            .unwrap();
        live.append(compressor.flush().unwrap().into())
            .await
            .unwrap();
        live.flush().await.unwrap();
        let rest = compressor.finish().unwrap();
        assert!(
            store.create_live(key).await.is_err(),
            "never overwrite a recording"
        );
        assert_eq!(
            read_whole(&store, key).await.unwrap(),
            body,
            "a live recording reads up to its last flush"
        );
        live.append(rest.into()).await.unwrap();
        live.finish().await.unwrap();
        let files = store.files(key).await;
        assert_eq!(files.len(), 1);
        assert!(files[0].to_string_lossy().ends_with(".zst"));
        assert!(std::fs::metadata(&files[0]).unwrap().len() < body.len() as u64 / 4);
        assert_eq!(read_whole(&store, key).await.unwrap(), body);
        assert!(store.create_live(key).await.is_err(), "nor one at rest");
        store.delete(key).await.unwrap();
        assert!(matches!(
            store.open(key).await,
            Err(RecordError::NotFound(_))
        ));
    }

    #[tokio::test]
    async fn plain_files_of_older_versions_still_read() {
        let dir = tempfile::tempdir().unwrap();
        let store = LocalRecordingStore::new(dir.path());
        let body = b"{\"version\":3}\n[0.1, \"o\", \"old\"]\n".repeat(10);
        std::fs::write(dir.path().join("old.cast"), &body).unwrap();
        assert_eq!(read_whole(&store, "old").await.unwrap(), body);
        store.delete("old").await.unwrap();
        assert!(store.files("old").await.is_empty());
    }
}
