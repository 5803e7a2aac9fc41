//! Where a transferred file waits at the gateway while it is inspected: on disk under the
//! data directory (never whole in memory), written by offset (SFTP writes may come out of
//! order, with holes), hashed once complete, removed when dropped.
//!
//! What it is not: a quota. A disk that fills refuses the file being written
//! ([`SpoolError::Full`]); other transfers and sessions go on.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use sha2::{Digest, Sha256};
use tokio::io::{AsyncReadExt, AsyncSeekExt, AsyncWriteExt};
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
        let file = tokio::fs::OpenOptions::new()
            .create_new(true)
            .read(true)
            .write(true)
            .open(&at)
            .await
            .map_err(|e| self.error(e))?;
        Ok(SpoolWriter {
            spool: self.clone(),
            file,
            guard: Remove(at),
            path: path.to_owned(),
            aliases: Vec::new(),
            direction,
            size: 0,
            position: 0,
        })
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

/// A file being spooled.
#[derive(Debug)]
pub struct SpoolWriter {
    spool: Spool,
    file: tokio::fs::File,
    guard: Remove,
    path: String,
    aliases: Vec<String>,
    direction: Direction,
    size: u64,
    /// Where the file's cursor is.
    position: u64,
}

impl SpoolWriter {
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

    /// Writes `data` at `offset` (a hole before it reads as zeros, as on the target).
    pub async fn write_at(&mut self, offset: u64, data: &[u8]) -> Result<(), SpoolError> {
        // Writes mostly come in order: a seek (a round trip to the blocking pool) only when
        // one does not.
        if offset != self.position {
            self.file
                .seek(std::io::SeekFrom::Start(offset))
                .await
                .map_err(|e| self.spool.error(e))?;
        }
        self.file
            .write_all(data)
            .await
            .map_err(|e| self.spool.error(e))?;
        self.position = offset + data.len() as u64;
        self.size = self.size.max(self.position);
        Ok(())
    }

    /// Cuts the file at `size` (SFTP's SETSTAT size, an `O_TRUNC` open).
    pub async fn truncate(&mut self, size: u64) -> Result<(), SpoolError> {
        self.file
            .set_len(size)
            .await
            .map_err(|e| self.spool.error(e))?;
        self.size = size;
        // set_len leaves the cursor; the next write seeks whatever it was.
        self.position = u64::MAX;
        Ok(())
    }

    /// The bytes so far.
    pub fn size(&self) -> u64 {
        self.size
    }

    /// The file is complete: flushed, measured and hashed (one sequential read).
    pub async fn finish(mut self) -> Result<Spooled, SpoolError> {
        self.file.flush().await.map_err(|e| self.spool.error(e))?;
        self.file
            .sync_data()
            .await
            .map_err(|e| self.spool.error(e))?;
        self.file
            .seek(std::io::SeekFrom::Start(0))
            .await
            .map_err(|e| self.spool.error(e))?;
        let mut hash = Sha256::new();
        let mut buf = vec![0u8; 64 * 1024];
        loop {
            let n = self
                .file
                .read(&mut buf)
                .await
                .map_err(|e| self.spool.error(e))?;
            if n == 0 {
                break;
            }
            hash.update(&buf[..n]);
        }
        let sha256 = hash.finalize().iter().map(|b| format!("{b:02x}")).collect();
        Ok(Spooled {
            info: FileInfo {
                path: self.path,
                direction: self.direction,
                size: self.size,
                sha256,
                aliases: self.aliases,
            },
            guard: self.guard,
        })
    }
}

/// A complete spooled file, ready for the plugins; removed from the spool when dropped.
#[derive(Debug)]
pub struct Spooled {
    pub info: FileInfo,
    guard: Remove,
}

impl Spooled {
    /// Where the bytes are (for a plugin that runs a program on them).
    pub fn local_path(&self) -> &Path {
        &self.guard.0
    }

    /// Reads the file from its start.
    pub async fn open(&self) -> std::io::Result<tokio::fs::File> {
        tokio::fs::File::open(&self.guard.0).await
    }

    /// Up to `n` bytes from the start (content sniffing).
    pub async fn head(&self, n: usize) -> std::io::Result<Vec<u8>> {
        let mut buf = Vec::with_capacity(n.min(1 << 20));
        self.open()
            .await?
            .take(n as u64)
            .read_to_end(&mut buf)
            .await?;
        Ok(buf)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn writes_by_offset_with_holes_hash_the_whole_file_and_leave_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let spool = Spool::new(dir.path().join("spool"));
        let mut w = spool.writer("/srv/x", Direction::Upload).await.unwrap();
        w.write_at(6, b"world").await.unwrap();
        w.write_at(0, b"hello ").await.unwrap();
        w.write_at(20, b"!").await.unwrap();
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
}
