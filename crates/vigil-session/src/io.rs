//! The session's data path, as stages the relay calls for every chunk. The relay knows only
//! "operator sent this" and "target sent this"; what happens to the bytes (recording today;
//! lock gate, command hold and live fan-out later) is decided here, so new stages plug in
//! without touching the relay.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use bytes::Bytes;
use vigil_record::Header;

use crate::recorder::{LiveView, RecEvent, Recorder, RecorderError};

/// What kind of channel a chunk travels on: only terminal and exec streams go into the
/// terminal recording; subsystems (SFTP) and port forwards are counted and logged.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ChannelTag {
    Terminal,
    Exec,
    Subsystem,
    Forward,
}

impl ChannelTag {
    fn recorded(self) -> bool {
        matches!(self, ChannelTag::Terminal | ChannelTag::Exec)
    }
}

struct IoInner {
    recorder: Recorder,
    bytes_in: AtomicU64,
    bytes_out: AtomicU64,
    /// The lock gate: while set, operator input is dropped here (never queued for later).
    locked: std::sync::atomic::AtomicBool,
    /// Operator bytes dropped by the gate since the last lock.
    dropped: AtomicU64,
}

/// Cheap to clone: one per relay task.
#[derive(Clone)]
pub struct SessionIo {
    inner: Arc<IoInner>,
}

impl SessionIo {
    pub(crate) fn new(recorder: Recorder) -> Self {
        SessionIo {
            inner: Arc::new(IoInner {
                recorder,
                bytes_in: AtomicU64::new(0),
                bytes_out: AtomicU64::new(0),
                locked: std::sync::atomic::AtomicBool::new(false),
                dropped: AtomicU64::new(0),
            }),
        }
    }

    /// Sets the recording's header; only the first call counts.
    pub async fn start(
        &self,
        cols: u32,
        rows: u32,
        term: Option<String>,
        command: Option<String>,
    ) -> Result<(), RecorderError> {
        let timestamp = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_secs())
            .unwrap_or(0);
        // A client without a terminal size reports 0x0; players need a real size.
        let (cols, rows) = if cols == 0 || rows == 0 {
            (80, 24)
        } else {
            (cols, rows)
        };
        let header = Header {
            cols: u16::try_from(cols).unwrap_or(u16::MAX),
            rows: u16::try_from(rows).unwrap_or(u16::MAX),
            term_type: term,
            timestamp,
            title: None,
            command,
        };
        self.inner.recorder.send(RecEvent::Start(header)).await
    }

    /// Input stage: operator to target. Returns the bytes to forward, or `None` when the lock
    /// gate drops them (their content is not recorded: only the count, in the session log).
    pub async fn from_operator(
        &self,
        tag: ChannelTag,
        data: Bytes,
    ) -> Result<Option<Bytes>, RecorderError> {
        if self.is_locked() {
            self.inner
                .dropped
                .fetch_add(data.len() as u64, Ordering::Relaxed);
            return Ok(None);
        }
        self.inner
            .bytes_in
            .fetch_add(data.len() as u64, Ordering::Relaxed);
        if tag.recorded() {
            let at = self.inner.recorder.elapsed();
            self.inner
                .recorder
                .send(RecEvent::Input(at, data.clone()))
                .await?;
        }
        Ok(Some(data))
    }

    /// Closes the lock gate at once: from the next chunk on, operator input is dropped.
    pub fn lock(&self) {
        self.inner.dropped.store(0, Ordering::Relaxed);
        self.inner.locked.store(true, Ordering::SeqCst);
    }

    /// Opens the gate; returns how many operator bytes it dropped while closed.
    pub fn unlock(&self) -> u64 {
        self.inner.locked.store(false, Ordering::SeqCst);
        self.inner.dropped.swap(0, Ordering::Relaxed)
    }

    pub fn is_locked(&self) -> bool {
        self.inner.locked.load(Ordering::SeqCst)
    }

    /// Output stage: target to operator. Returns the bytes to forward.
    pub async fn from_target(&self, tag: ChannelTag, data: Bytes) -> Result<Bytes, RecorderError> {
        self.inner
            .bytes_out
            .fetch_add(data.len() as u64, Ordering::Relaxed);
        if tag.recorded() {
            let at = self.inner.recorder.elapsed();
            self.inner
                .recorder
                .send(RecEvent::Output(
                    at,
                    data.clone(),
                    tag == ChannelTag::Terminal,
                ))
                .await?;
        }
        Ok(data)
    }

    pub async fn resize(&self, cols: u32, rows: u32) -> Result<(), RecorderError> {
        let at = self.inner.recorder.elapsed();
        self.inner
            .recorder
            .send(RecEvent::Resize(at, cols, rows))
            .await
    }

    pub async fn exit(&self, status: u32) -> Result<(), RecorderError> {
        let at = self.inner.recorder.elapsed();
        self.inner
            .recorder
            .send(RecEvent::Exit(at, i64::from(status)))
            .await
    }

    pub async fn marker(&self, label: String) -> Result<(), RecorderError> {
        let at = self.inner.recorder.elapsed();
        self.inner.recorder.send(RecEvent::Marker(at, label)).await
    }

    /// Joins the live stream (see [`LiveView`]).
    pub async fn watch(&self) -> Result<LiveView, RecorderError> {
        self.inner.recorder.watch().await
    }

    /// Bytes from the operator and from the target so far.
    pub fn bytes(&self) -> (u64, u64) {
        (
            self.inner.bytes_in.load(Ordering::Relaxed),
            self.inner.bytes_out.load(Ordering::Relaxed),
        )
    }
}
