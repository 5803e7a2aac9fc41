//! A live recording in the bucket: every byte to the spool at once, and to the bucket as
//! numbered segments (see the parent module for the layout).
//!
//! A segment is cut when [`Limits::segment_bytes`] are pending (bulk output: memory stays
//! bounded, and the upload runs while the recorder goes on, one segment in flight at a time
//! so they land in order) or at a flush once the upload interval has passed (interactive
//! output: readable from every node a few seconds behind; such a flush waits for its
//! upload). A segment the bucket refuses is put back in front of what is pending and tried
//! again, no faster than [`RETRY_EVERY`]; past [`Limits::max_pending`] the recording waits
//! for the bucket (and its session with it) instead of holding more, and after
//! [`Limits::max_outage`] of refusals it fails.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use object_store::path::Path as ObjectPath;
use object_store::{ObjectStore, PutPayload};
use tokio::task::JoinHandle;

use super::{MAX_KEPT_SEGMENTS, S3RecordingStore, remove_segments, storage, upload_file};
use crate::RecordError;
use crate::blob::{BlobFuture, LiveBlob};

/// How soon a segment the bucket refused is tried again.
pub(super) const RETRY_EVERY: Duration = Duration::from_secs(1);

/// When a live recording's bytes go to the bucket.
#[derive(Clone, Copy, Debug)]
pub(super) struct Limits {
    pub(super) upload_every: Duration,
    /// Pending bytes that make a segment at once.
    pub(super) segment_bytes: usize,
    /// Pending bytes past which the recording waits for a refusing bucket.
    pub(super) max_pending: usize,
    /// Segments holding this much stay as the finished recording.
    pub(super) keep_segments_from: u64,
    /// How long a bucket may refuse segments before the recording fails.
    pub(super) max_outage: Duration,
}

/// A segment on its way to the bucket.
struct InFlight {
    number: u64,
    chunks: Vec<Bytes>,
    len: usize,
    put: JoinHandle<Result<(), object_store::Error>>,
}

pub(super) struct S3Live {
    local: Box<dyn LiveBlob>,
    bucket: Arc<dyn ObjectStore>,
    key: String,
    segments_dir: ObjectPath,
    finished: ObjectPath,
    /// Where the local store puts the spool copy once finished.
    spool_file: PathBuf,
    limits: Limits,
    /// Appended since the last segment, as the recorder handed them over: the segment's
    /// payload is these chunks, never copied into one buffer.
    pending: Vec<Bytes>,
    pending_len: usize,
    in_flight: Option<InFlight>,
    next_segment: u64,
    /// Bytes in the segments the bucket has taken.
    uploaded: u64,
    last_try: Instant,
    failing_since: Option<Instant>,
}

impl S3Live {
    /// `key`'s live recording in `store`, its spool copy `local`.
    pub(super) fn new(local: Box<dyn LiveBlob>, store: &S3RecordingStore, key: &str) -> S3Live {
        S3Live {
            local,
            bucket: Arc::clone(&store.bucket),
            key: key.to_owned(),
            segments_dir: store.segments_dir(key),
            finished: store.finished(key),
            spool_file: store.spool.sealed_path(key),
            limits: store.limits,
            pending: Vec::new(),
            pending_len: 0,
            in_flight: None,
            next_segment: 0,
            uploaded: 0,
            last_try: Instant::now(),
            failing_since: None,
        }
    }

    /// Sends what is pending as the next segment, without waiting for it.
    fn start_put(&mut self) {
        debug_assert!(self.in_flight.is_none());
        if self.pending.is_empty() {
            return;
        }
        let number = self.next_segment;
        let path = self.segments_dir.child(format!("{number:010}"));
        let chunks = std::mem::take(&mut self.pending);
        let payload: PutPayload = chunks.iter().cloned().collect();
        let bucket = Arc::clone(&self.bucket);
        self.in_flight = Some(InFlight {
            number,
            chunks,
            len: std::mem::take(&mut self.pending_len),
            put: tokio::spawn(async move { bucket.put(&path, payload).await.map(|_| ()) }),
        });
        self.next_segment += 1;
        self.last_try = Instant::now();
    }

    /// Waits for the segment in flight. One the bucket refused goes back in front of what
    /// is pending, under its own number; the error is given back once refusals have lasted
    /// [`Limits::max_outage`], or at once when `must_land`.
    async fn settle(&mut self, must_land: bool) -> Result<(), RecordError> {
        let Some(sent) = self.in_flight.take() else {
            return Ok(());
        };
        let error = match sent.put.await {
            Ok(Ok(())) => {
                self.uploaded += sent.len as u64;
                self.failing_since = None;
                return Ok(());
            }
            Ok(Err(e)) => e.to_string(),
            Err(e) => format!("the upload task ended: {e}"),
        };
        let mut chunks = sent.chunks;
        chunks.append(&mut self.pending);
        self.pending = chunks;
        self.pending_len += sent.len;
        self.next_segment = sent.number;
        let since = *self.failing_since.get_or_insert_with(Instant::now);
        if must_land || since.elapsed() >= self.limits.max_outage {
            return Err(storage(&self.key)(error));
        }
        tracing::warn!(key = %self.key, %error, "the bucket did not take a recording segment; tried again");
        Ok(())
    }

    /// Cuts a segment of what is pending once the one in flight has landed.
    async fn ship(&mut self) -> Result<(), RecordError> {
        self.settle(false).await?;
        if self.pending.is_empty() {
            return Ok(());
        }
        if self.failing_since.is_some() {
            let wait = RETRY_EVERY.saturating_sub(self.last_try.elapsed());
            if !wait.is_zero() {
                if self.pending_len < self.limits.max_pending {
                    return Ok(());
                }
                tokio::time::sleep(wait).await;
            }
        }
        self.start_put();
        Ok(())
    }
}

impl LiveBlob for S3Live {
    fn append(&mut self, bytes: Bytes) -> BlobFuture<'_, ()> {
        Box::pin(async move {
            self.local.append(bytes.clone()).await?;
            self.pending_len += bytes.len();
            self.pending.push(bytes);
            if self.pending_len >= self.limits.segment_bytes {
                self.ship().await?;
            }
            Ok(())
        })
    }

    fn flush(&mut self) -> BlobFuture<'_, ()> {
        Box::pin(async move {
            self.local.flush().await?;
            if self.last_try.elapsed() >= self.limits.upload_every || self.failing_since.is_some() {
                self.ship().await?;
                self.settle(false).await?;
            }
            Ok(())
        })
    }

    fn finish(mut self: Box<Self>) -> BlobFuture<'static, ()> {
        Box::pin(async move {
            // Whatever is in flight lands (or comes back) before the end is decided: a
            // segment landing after its recording became one object would be a stray. A
            // refusal is in `failing_since`; the whole-object path below then reports it.
            let _ = self.settle(false).await;
            let segments_stay = self.failing_since.is_none()
                && self.uploaded + self.pending_len as u64 >= self.limits.keep_segments_from
                && self.next_segment < MAX_KEPT_SEGMENTS;
            // Should the bucket be away now, the spool keeps the recording for
            // `upload_spooled` at the next start (which makes it one object).
            if segments_stay {
                self.local.flush().await?;
                self.start_put();
                self.settle(true).await?;
            }
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
            if !segments_stay {
                // The whole recording, one object; then the segments go.
                upload_file(&*bucket, &finished, &spool_file, &key).await?;
                remove_segments(&*bucket, &segments_dir, &key).await?;
            }
            let _ = tokio::fs::remove_file(&spool_file).await;
            Ok(())
        })
    }
}
