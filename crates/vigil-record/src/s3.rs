//! Recordings in an S3-compatible bucket (issue 16), shared by every node of a cluster.
//!
//! Objects under the store's prefix, per recording key:
//! - `KEY.cast.zst`: a finished recording, one object;
//! - `KEY.live/0000000000`, `…/0000000001`, …: a live recording's segments, each the bytes
//!   appended since the one before, uploaded at a flush once [`S3RecordingStore`]'s upload
//!   interval has passed. Read in order they are the recording up to the last upload, so any
//!   node plays a live recording, and a node lost with its disk loses at most one interval.
//!
//! While live, the bytes are also written to a local spool file (the local store's own
//! format): at the end that file is uploaded as the finished object and the segments go. A
//! spool file a crash or an unreachable bucket left behind is uploaded when the node starts
//! again ([`S3RecordingStore::upload_spooled`], unless its recording was purged meanwhile): a
//! crashed recording stays what it was (its chain says it was cut short), now whole up to
//! the node's last local flush.
//!
//! What it is not: a cache. Every read goes to the bucket. A bucket that cannot take a
//! segment for [`MAX_OUTAGE`] fails the recording (and so the session: fail closed); shorter
//! outages are retried at the next flush with everything pending.

use std::io;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use futures::{StreamExt, TryStreamExt};
use object_store::path::Path as ObjectPath;
use object_store::{ObjectStore, PutPayload};

use crate::RecordError;
use crate::blob::{BlobFuture, BlobReader, LiveBlob, LocalRecordingStore, RecordingStore};

/// How long a bucket may refuse segments before the recording fails.
pub const MAX_OUTAGE: Duration = Duration::from_secs(30);

/// The default time between segment uploads of a live recording.
pub const DEFAULT_UPLOAD_EVERY: Duration = Duration::from_secs(2);

/// Recordings in a bucket, under a prefix.
pub struct S3RecordingStore {
    bucket: Arc<dyn ObjectStore>,
    prefix: String,
    /// Live recordings' local copies (and finished ones not uploaded yet).
    spool: LocalRecordingStore,
    upload_every: Duration,
}

impl S3RecordingStore {
    /// `bucket` is any object store (S3, or an in-memory one in tests); `prefix` may be
    /// empty; `spool_dir` is this node's local directory for live copies.
    pub fn new(
        bucket: Arc<dyn ObjectStore>,
        prefix: &str,
        spool_dir: impl Into<PathBuf>,
        upload_every: Duration,
    ) -> S3RecordingStore {
        S3RecordingStore {
            bucket,
            prefix: prefix.trim_matches('/').to_owned(),
            spool: LocalRecordingStore::new(spool_dir.into()),
            upload_every,
        }
    }

    fn object(&self, name: &str) -> ObjectPath {
        if self.prefix.is_empty() {
            ObjectPath::from(name)
        } else {
            ObjectPath::from(format!("{}/{name}", self.prefix))
        }
    }

    fn finished(&self, key: &str) -> ObjectPath {
        self.object(&format!("{key}.cast.zst"))
    }

    fn segments_dir(&self, key: &str) -> ObjectPath {
        self.object(&format!("{key}.live"))
    }

    /// Writes, reads and removes a probe object: the bucket is reachable and writable.
    pub async fn probe(&self, node: &str) -> Result<(), RecordError> {
        let path = self.object(&format!(".vigil-probe-{node}"));
        let name = path.to_string();
        self.bucket
            .put(&path, PutPayload::from_static(b"vigil"))
            .await
            .map_err(storage(&name))?;
        self.bucket
            .get(&path)
            .await
            .map_err(storage(&name))?
            .bytes()
            .await
            .map_err(storage(&name))?;
        self.bucket.delete(&path).await.map_err(storage(&name))
    }

    /// The recordings the spool holds from an earlier run (a crash, or a bucket that was away
    /// at a recording's end), by key.
    pub async fn spooled(&self) -> Vec<String> {
        self.spool.keys().await
    }

    /// Uploads a spooled recording as its finished object (whole up to the node's last local
    /// flush), removes its segments, then its spool copy.
    pub async fn upload_spooled(&self, key: &str) -> Result<(), RecordError> {
        for file in self.spool.files(key).await {
            self.upload_finished(key, &file).await?;
            let _ = tokio::fs::remove_file(&file).await;
        }
        Ok(())
    }

    /// Drops a spooled copy nobody keeps (its recording was purged while the node was away).
    pub async fn discard_spooled(&self, key: &str) -> Result<(), RecordError> {
        self.spool.delete(key).await
    }

    async fn segments(&self, key: &str) -> Result<Vec<ObjectPath>, RecordError> {
        segments_in(&*self.bucket, &self.segments_dir(key), key).await
    }

    /// Uploads a local file as `key`'s finished object, then removes its segments.
    async fn upload_finished(&self, key: &str, file: &std::path::Path) -> Result<(), RecordError> {
        upload_file(&*self.bucket, &self.finished(key), file, key).await?;
        remove_segments(&*self.bucket, &self.segments_dir(key), key).await
    }
}

/// A live recording's segments under `dir`, in order.
async fn segments_in(
    bucket: &dyn ObjectStore,
    dir: &ObjectPath,
    key: &str,
) -> Result<Vec<ObjectPath>, RecordError> {
    let mut paths: Vec<ObjectPath> = bucket
        .list(Some(dir))
        .map_ok(|m| m.location)
        .try_collect()
        .await
        .map_err(storage(key))?;
    paths.sort_by(|a, b| a.as_ref().cmp(b.as_ref()));
    Ok(paths)
}

async fn remove_segments(
    bucket: &dyn ObjectStore,
    dir: &ObjectPath,
    key: &str,
) -> Result<(), RecordError> {
    for segment in segments_in(bucket, dir, key).await? {
        bucket.delete(&segment).await.map_err(storage(key))?;
    }
    Ok(())
}

fn storage<E: std::fmt::Display>(key: &str) -> impl FnOnce(E) -> RecordError + '_ {
    move |e| RecordError::Storage {
        key: key.to_owned(),
        reason: e.to_string(),
    }
}

/// Streams a local file into one object (multipart for large files).
async fn upload_file(
    bucket: &dyn ObjectStore,
    to: &ObjectPath,
    file: &std::path::Path,
    key: &str,
) -> Result<(), RecordError> {
    use tokio::io::AsyncReadExt;
    let mut f = tokio::fs::File::open(file)
        .await
        .map_err(|source| RecordError::Io {
            path: file.display().to_string(),
            source,
        })?;
    let upload = bucket.put_multipart(to).await.map_err(storage(key))?;
    let mut writer = object_store::WriteMultipart::new(upload);
    let mut buf = vec![0u8; 1 << 20];
    loop {
        let n = f.read(&mut buf).await.map_err(|source| RecordError::Io {
            path: file.display().to_string(),
            source,
        })?;
        if n == 0 {
            break;
        }
        writer.wait_for_capacity(4).await.map_err(storage(key))?;
        writer.write(&buf[..n]);
    }
    writer.finish().await.map_err(storage(key))?;
    Ok(())
}

fn exists(key: &str) -> RecordError {
    RecordError::Io {
        path: key.to_owned(),
        source: io::Error::new(
            io::ErrorKind::AlreadyExists,
            "a recording with this key exists",
        ),
    }
}

impl RecordingStore for S3RecordingStore {
    fn create_live<'a>(&'a self, key: &'a str) -> BlobFuture<'a, Box<dyn LiveBlob>> {
        Box::pin(async move {
            match self.bucket.head(&self.finished(key)).await {
                Ok(_) => return Err(exists(key)),
                Err(object_store::Error::NotFound { .. }) => {}
                Err(e) => return Err(storage(key)(e)),
            }
            if !self.segments(key).await?.is_empty() {
                return Err(exists(key));
            }
            let local = self.spool.create_live(key).await?;
            Ok(Box::new(S3Live {
                local,
                bucket: Arc::clone(&self.bucket),
                key: key.to_owned(),
                segments_dir: self.segments_dir(key),
                finished: self.finished(key),
                spool_file: self.spool.sealed_path(key),
                pending: Vec::new(),
                next_segment: 0,
                last_upload: Instant::now(),
                failing_since: None,
                upload_every: self.upload_every,
            }) as Box<dyn LiveBlob>)
        })
    }

    fn open<'a>(&'a self, key: &'a str) -> BlobFuture<'a, BlobReader> {
        Box::pin(async move {
            match self.bucket.get(&self.finished(key)).await {
                Ok(got) => {
                    let stream = got.into_stream().map_err(io::Error::other);
                    return Ok(Box::new(tokio_util::io::StreamReader::new(stream)) as BlobReader);
                }
                Err(object_store::Error::NotFound { .. }) => {}
                Err(e) => return Err(storage(key)(e)),
            }
            let segments = self.segments(key).await?;
            if segments.is_empty() {
                return Err(RecordError::NotFound(key.to_owned()));
            }
            let bucket = Arc::clone(&self.bucket);
            let stream = futures::stream::iter(segments)
                .then(move |path| {
                    let bucket = Arc::clone(&bucket);
                    async move { bucket.get(&path).await }
                })
                .map_ok(|got| got.into_stream())
                .try_flatten()
                .map_err(io::Error::other);
            Ok(Box::new(tokio_util::io::StreamReader::new(Box::pin(stream))) as BlobReader)
        })
    }

    fn delete<'a>(&'a self, key: &'a str) -> BlobFuture<'a, ()> {
        Box::pin(async move {
            match self.bucket.delete(&self.finished(key)).await {
                Ok(()) | Err(object_store::Error::NotFound { .. }) => {}
                Err(e) => return Err(storage(key)(e)),
            }
            remove_segments(&*self.bucket, &self.segments_dir(key), key).await?;
            self.spool.delete(key).await
        })
    }
}

/// A recording being written: to the spool at once, to the bucket a segment at a time.
struct S3Live {
    local: Box<dyn LiveBlob>,
    bucket: Arc<dyn ObjectStore>,
    key: String,
    segments_dir: ObjectPath,
    finished: ObjectPath,
    /// Where the local store puts the spool copy once finished.
    spool_file: PathBuf,
    /// Appended since the last segment.
    pending: Vec<u8>,
    next_segment: u64,
    last_upload: Instant,
    failing_since: Option<Instant>,
    upload_every: Duration,
}

impl S3Live {
    async fn upload_pending(&mut self) -> Result<(), RecordError> {
        if self.pending.is_empty() {
            return Ok(());
        }
        let path = self
            .segments_dir
            .child(format!("{:010}", self.next_segment));
        let bytes = Bytes::from(std::mem::take(&mut self.pending));
        match self
            .bucket
            .put(&path, PutPayload::from(bytes.clone()))
            .await
        {
            Ok(_) => {
                self.next_segment += 1;
                self.last_upload = Instant::now();
                self.failing_since = None;
                Ok(())
            }
            Err(e) => {
                // Kept for the next try (the payload is gone: no copy is made).
                self.pending = Vec::from(bytes);
                let since = *self.failing_since.get_or_insert_with(Instant::now);
                if since.elapsed() >= MAX_OUTAGE {
                    return Err(storage(&self.key)(e));
                }
                tracing::warn!(key = %self.key, error = %e, "the bucket did not take a recording segment; retried at the next flush");
                Ok(())
            }
        }
    }
}

impl LiveBlob for S3Live {
    fn append<'a>(&'a mut self, bytes: &'a [u8]) -> BlobFuture<'a, ()> {
        Box::pin(async move {
            self.local.append(bytes).await?;
            self.pending.extend_from_slice(bytes);
            Ok(())
        })
    }

    fn flush(&mut self) -> BlobFuture<'_, ()> {
        Box::pin(async move {
            self.local.flush().await?;
            if self.last_upload.elapsed() >= self.upload_every {
                self.upload_pending().await?;
            }
            Ok(())
        })
    }

    fn finish(self: Box<Self>) -> BlobFuture<'static, ()> {
        Box::pin(async move {
            let S3Live {
                local,
                bucket,
                key,
                segments_dir,
                finished,
                spool_file,
                ..
            } = *self;
            local.finish().await?;
            // The whole recording, one object; then the segments go. Should the bucket be
            // away now, the spool keeps it for `upload_spooled` at the next start.
            upload_file(&*bucket, &finished, &spool_file, &key).await?;
            remove_segments(&*bucket, &segments_dir, &key).await?;
            let _ = tokio::fs::remove_file(&spool_file).await;
            Ok(())
        })
    }
}

#[cfg(test)]
mod tests;
