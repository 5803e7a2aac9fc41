//! Recordings in an S3-compatible bucket (issue 16), shared by every node of a cluster.
//!
//! Objects under the store's prefix, per recording key:
//! - `KEY.cast.zst`: a finished recording, one object;
//! - `KEY.live/0000000000`, `…/0000000001`, …: a live recording's segments, each the bytes
//!   appended since the one before, uploaded at a flush once [`S3RecordingStore`]'s upload
//!   interval has passed, or as soon as [`SEGMENT_BYTES`] are pending (`live.rs`). Read in
//!   order they are the recording up to the last upload, so any node plays a live recording,
//!   and a node lost with its disk loses at most one interval.
//!
//! While live, the bytes are also written to a local spool file (the local store's own
//! format): at the end that file is uploaded as the finished object and the segments go,
//! unless the segments already hold [`KEEP_SEGMENTS_FROM`] (bulk output): then the last
//! segment is uploaded and the segments are the finished recording (a reader takes the one
//! object when there is one, else the segments in order; which it is says nothing of whether
//! the recording is complete: its chain does). A
//! spool file a crash or an unreachable bucket left behind is uploaded when the node starts
//! again ([`S3RecordingStore::upload_spooled`], unless its recording was purged meanwhile): a
//! crashed recording stays what it was (its chain says it was cut short), now whole up to
//! the node's last local flush.
//!
//! What it is not: a cache. Every read goes to the bucket. A bucket that cannot take a
//! segment for [`MAX_OUTAGE`] fails the recording (and so the session: fail closed); shorter
//! outages are retried with everything pending, the recording waiting for the bucket once
//! [`MAX_PENDING`] are held.

use std::io;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use futures::{StreamExt, TryStreamExt};
use object_store::path::Path as ObjectPath;
use object_store::{ObjectStore, PutPayload};

use crate::RecordError;
use crate::blob::{
    BlobFuture, BlobReader, LiveBlob, LocalRecordingStore, RecordingStore, io_err, joined,
};
use live::{Limits, S3Live};

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
    /// The constants of this module, smaller in tests.
    limits: Limits,
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
            limits: Limits {
                upload_every,
                segment_bytes: SEGMENT_BYTES,
                max_pending: MAX_PENDING,
                keep_segments_from: KEEP_SEGMENTS_FROM,
                max_outage: MAX_OUTAGE,
            },
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

/// A finished recording whose segments already hold this much stays as its segments (when
/// there are fewer than [`MAX_KEPT_SEGMENTS`]): uploading bulk output a second time as one
/// object would double the node's upload work. Smaller recordings (interactive sessions, a
/// few MiB) become one object, cheap to upload again and quicker to read.
pub const KEEP_SEGMENTS_FROM: u64 = 64 << 20;
/// More segments than this are read too slowly one request at a time: one object instead.
pub const MAX_KEPT_SEGMENTS: u64 = 1000;

/// Pending bytes that make a segment at once, whatever the interval (bulk output).
pub const SEGMENT_BYTES: usize = 8 << 20;
/// Pending bytes past which a recording waits for a bucket that refuses its segments.
pub const MAX_PENDING: usize = 64 << 20;

/// The size of each part of a finished recording's upload.
const PART_SIZE: usize = 8 << 20;

/// Streams a local file into one object (multipart for large files).
async fn upload_file(
    bucket: &dyn ObjectStore,
    to: &ObjectPath,
    file: &std::path::Path,
    key: &str,
) -> Result<(), RecordError> {
    let mut f = std::fs::File::open(file).map_err(io_err(file))?;
    let upload = bucket.put_multipart(to).await.map_err(storage(key))?;
    let mut writer = object_store::WriteMultipart::new_with_chunk_size(upload, PART_SIZE);
    loop {
        // Read straight into a part of its own (one copy, from the page cache), handed to
        // the upload without another.
        let (back, part) = joined(tokio::task::spawn_blocking(move || {
            let mut part = Vec::with_capacity(PART_SIZE);
            std::io::Read::read_to_end(
                &mut std::io::Read::take(&mut f, PART_SIZE as u64),
                &mut part,
            )?;
            Ok((f, part))
        }))
        .await
        .map_err(io_err(file))?;
        f = back;
        if part.is_empty() {
            break;
        }
        writer.wait_for_capacity(4).await.map_err(storage(key))?;
        writer.put(Bytes::from(part));
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
            Ok(Box::new(S3Live::new(local, self, key)) as Box<dyn LiveBlob>)
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

mod live;
#[cfg(test)]
mod tests;
