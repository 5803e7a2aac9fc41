//! The session's data path: one pipeline per channel ([`ChannelIo`]), made when the channel
//! opens, that the relay calls for every chunk. The relay knows only "operator sent this" and
//! "target sent this" and carries out what comes back; what happens to bytes is decided here,
//! in stage order, so new stages (command audit, sudo responder, transfer inspection) plug in
//! without touching the relay.
//!
//! Operator to target: the lock gate (first: locked input is dropped, never queued), the byte
//! count, then the recorder (terminal and exec channels; a terminal's input is judged for echo
//! there, see `echo.rs`). Target to operator: the byte count, then the recorder.
//!
//! The lock gate has no window: a chunk that passes it holds a permit (in its [`Passage`])
//! until the relay has handed the bytes to the target, and locking waits for every permit out
//! before it returns. So once `Hub::lock` returns, no operator byte is forwarded.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

use bytes::Bytes;
use tokio::sync::{OwnedRwLockReadGuard, RwLock};
use vigil_core::{Evidence, TransferTool};

use crate::error::HubError;
use crate::recorder::{LiveView, RecEvent, Recorder, RecorderError, RecorderTask};
use crate::tracks::{TrackStart, Tracks};

/// What a channel carries, decided when it opens: only terminal and exec streams go into the
/// terminal recording; file transfers (scp, rsync, SFTP) and port forwards are counted and
/// logged.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ChannelKind {
    /// A PTY: its screen is modelled and its unechoed input redacted.
    Terminal,
    /// A command without a PTY.
    Exec,
    /// An exec channel running a transfer's server side.
    Transfer(TransferTool),
    /// A subsystem (SFTP).
    Subsystem,
    /// A `-L` port forward.
    Forward,
}

impl ChannelKind {
    /// The track kind a recorded channel is written as; none for what is not recorded.
    fn recorded_as(self) -> Option<&'static str> {
        match self {
            ChannelKind::Terminal => Some("terminal"),
            ChannelKind::Exec => Some("exec"),
            _ => None,
        }
    }
}

/// How long locking waits for chunks already past the gate to reach the target.
const DRAIN_WAIT: Duration = Duration::from_secs(5);

struct IoInner {
    tracks: Tracks,
    bytes_in: AtomicU64,
    bytes_out: AtomicU64,
    /// The lock gate: while set, operator input is dropped (never queued for later).
    locked: AtomicBool,
    /// Held (shared) by every chunk between the gate and the target; locking takes it
    /// exclusively to wait for them.
    in_flight: Arc<RwLock<()>>,
    /// Operator bytes dropped by the gate since the last lock.
    dropped: AtomicU64,
}

/// The session-wide side of the data path (recording tracks, counters, lock gate). Cheap to
/// clone.
#[derive(Clone)]
pub struct SessionIo {
    inner: Arc<IoInner>,
}

/// One channel's pipeline. Cheap to clone: one per relay task.
#[derive(Clone)]
pub struct ChannelIo {
    session: SessionIo,
    channel: u32,
    kind: ChannelKind,
    /// The channel's own recording track (terminal and exec channels).
    track: Option<(u32, Recorder)>,
}

/// What the relay does with one operator chunk: forward `forward` (if any) to the target,
/// then drop the passage, which lets a waiting lock through.
#[must_use = "forward the bytes, then drop the passage"]
pub struct Passage {
    pub forward: Option<Bytes>,
    _permit: Option<OwnedRwLockReadGuard<()>>,
}

impl Passage {
    fn dropped() -> Passage {
        Passage {
            forward: None,
            _permit: None,
        }
    }
}

impl SessionIo {
    pub(crate) fn new(tracks: Tracks) -> Self {
        SessionIo {
            inner: Arc::new(IoInner {
                tracks,
                bytes_in: AtomicU64::new(0),
                bytes_out: AtomicU64::new(0),
                locked: AtomicBool::new(false),
                in_flight: Arc::new(RwLock::new(())),
                dropped: AtomicU64::new(0),
            }),
        }
    }

    /// The pipeline of a channel that opens now. A terminal or exec channel gets its own
    /// recording track (see `tracks.rs`); `opened` builds the evidence of the opening from
    /// the track number, written in one transaction with the track. An error means the
    /// channel cannot be recorded and must be refused.
    pub async fn channel(
        &self,
        channel: u32,
        kind: ChannelKind,
        start: &TrackStart,
        opened: impl FnOnce(Option<u32>) -> Vec<Evidence>,
    ) -> Result<ChannelIo, HubError> {
        let tracks = &self.inner.tracks;
        let track = match kind.recorded_as() {
            Some(name) => Some(tracks.open(channel, name, start, opened).await?),
            None => {
                tracks.record(opened(None)).await?;
                None
            }
        };
        Ok(ChannelIo {
            session: self.clone(),
            channel,
            kind,
            track,
        })
    }

    /// Closes the gate: from now on operator input is dropped. Returns once every chunk
    /// that passed the gate before has reached the target, or after [`DRAIN_WAIT`] (false:
    /// a chunk is still on its way to a target that does not read).
    pub async fn lock(&self) -> bool {
        self.inner.dropped.store(0, Ordering::Relaxed);
        self.inner.locked.store(true, Ordering::SeqCst);
        tokio::time::timeout(DRAIN_WAIT, self.inner.in_flight.write())
            .await
            .is_ok()
    }

    /// Opens the gate; returns how many operator bytes it dropped while closed.
    pub fn unlock(&self) -> u64 {
        self.inner.locked.store(false, Ordering::SeqCst);
        self.inner.dropped.swap(0, Ordering::Relaxed)
    }

    pub fn is_locked(&self) -> bool {
        self.inner.locked.load(Ordering::SeqCst)
    }

    /// Marks the moment in every track.
    pub async fn marker(&self, label: String) -> Result<(), RecorderError> {
        for recorder in self.inner.tracks.recorders().await {
            recorder
                .send_now(|at| RecEvent::Marker(at, label.clone()))
                .await?;
        }
        Ok(())
    }

    /// Joins a track's live stream (see [`LiveView`]); `None` when there is no such track.
    pub async fn watch(&self, track: u32) -> Option<Result<LiveView, RecorderError>> {
        let recorder = self.inner.tracks.recorder(track).await?;
        Some(recorder.watch().await)
    }

    /// Bytes from the operator and from the target so far.
    pub fn bytes(&self) -> (u64, u64) {
        (
            self.inner.bytes_in.load(Ordering::Relaxed),
            self.inner.bytes_out.load(Ordering::Relaxed),
        )
    }

    /// No track opens from now on; the writers to wait for before the session's end.
    pub(crate) async fn close_tracks(&self) -> Vec<RecorderTask> {
        self.inner.tracks.close().await
    }

    /// Passes the lock gate, or `None` when it is closed.
    async fn pass_gate(&self, len: usize) -> Option<OwnedRwLockReadGuard<()>> {
        let permit = Arc::clone(&self.inner.in_flight).read_owned().await;
        if self.is_locked() {
            self.inner.dropped.fetch_add(len as u64, Ordering::Relaxed);
            return None;
        }
        Some(permit)
    }
}

impl ChannelIo {
    pub fn kind(&self) -> ChannelKind {
        self.kind
    }

    /// The channel's recording track, if it is recorded.
    pub fn track(&self) -> Option<u32> {
        self.track.as_ref().map(|(n, _)| *n)
    }

    fn recorder(&self) -> Option<&Recorder> {
        self.track.as_ref().map(|(_, r)| r)
    }

    /// Operator to target: the lock gate, the count, the recorder. Locked input is dropped
    /// here (its content is not recorded: only the count, in the session log).
    pub async fn from_operator(&self, data: Bytes) -> Result<Passage, RecorderError> {
        let io = &self.session.inner;
        let Some(permit) = self.session.pass_gate(data.len()).await else {
            return Ok(Passage::dropped());
        };
        io.bytes_in.fetch_add(data.len() as u64, Ordering::Relaxed);
        if let Some(recorder) = self.recorder() {
            let at = recorder.elapsed();
            let terminal = self.kind == ChannelKind::Terminal;
            recorder
                .send(RecEvent::Input {
                    at,
                    channel: self.channel,
                    bytes: data.clone(),
                    terminal,
                })
                .await?;
        }
        Ok(Passage {
            forward: Some(data),
            _permit: Some(permit),
        })
    }

    /// A signal from the operator (Ctrl-C sent as a request) is input too: `None` while the
    /// gate is closed; otherwise hold the passage until the signal is sent.
    pub async fn operator_signal(&self) -> Option<Passage> {
        let permit = self.session.pass_gate(0).await?;
        Some(Passage {
            forward: None,
            _permit: Some(permit),
        })
    }

    /// Target to operator: the count, the recorder. Returns the bytes to forward.
    pub async fn from_target(&self, data: Bytes) -> Result<Bytes, RecorderError> {
        let io = &self.session.inner;
        io.bytes_out.fetch_add(data.len() as u64, Ordering::Relaxed);
        if let Some(recorder) = self.recorder() {
            let at = recorder.elapsed();
            recorder
                .send(RecEvent::Output {
                    at,
                    channel: self.channel,
                    bytes: data.clone(),
                    terminal: self.kind == ChannelKind::Terminal,
                })
                .await?;
        }
        Ok(data)
    }

    pub async fn resize(&self, cols: u32, rows: u32) -> Result<(), RecorderError> {
        match self.recorder() {
            Some(r) => r.send_now(|at| RecEvent::Resize(at, cols, rows)).await,
            None => Ok(()),
        }
    }

    pub async fn exit(&self, status: u32) -> Result<(), RecorderError> {
        match self.recorder() {
            Some(r) => r.send_now(|at| RecEvent::Exit(at, i64::from(status))).await,
            None => Ok(()),
        }
    }

    /// The channel is done: input still waiting for its echo is judged now.
    pub async fn closed(&self) {
        if self.kind == ChannelKind::Terminal
            && let Some(recorder) = self.recorder()
        {
            let _ = recorder.send(RecEvent::ChannelClosed(self.channel)).await;
        }
    }
}
