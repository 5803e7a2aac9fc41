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

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use tokio::sync::{OwnedRwLockReadGuard, RwLock};
use vigil_core::Evidence;

use crate::audit::{CommandVerdict, Source};
use crate::elevate::Responder;
use crate::error::HubError;
use crate::recorder::{LiveView, RecEvent, Recorder, RecorderError, RecorderTask};
use crate::shell::ShellStage;
use crate::stage::{self, Action, ChannelKind, Direction, Held, Policy, Stage};
use crate::stdin::StdinStage;
use crate::tracks::{TrackStart, Tracks};

/// How long locking waits for chunks already past the gate to reach the target.
const DRAIN_WAIT: Duration = Duration::from_secs(5);

struct IoInner {
    tracks: Tracks,
    /// The rules the session runs under, taken when it started; every channel's stages come
    /// from it.
    policy: Policy,
    /// Where terminal channels send their decided lines' evidence (one task, in order).
    evidence: tokio::sync::mpsc::UnboundedSender<crate::shell::Note>,
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

/// A channel's stages, used by both of its relay tasks.
type SharedStages = Arc<Mutex<Vec<Box<dyn Stage>>>>;

/// One channel's pipeline. Cheap to clone: one per relay task.
#[derive(Clone)]
pub struct ChannelIo {
    session: SessionIo,
    channel: u32,
    kind: ChannelKind,
    /// The channel's own recording track (terminal and exec channels).
    track: Option<(u32, Recorder)>,
    /// The stages the policy gives this kind of channel, shared by both directions; none
    /// for a channel without stages (its chunks skip the runner and the lock).
    stages: Option<SharedStages>,
}

/// What the pipeline made of one chunk: actions to carry out in order (see
/// [`ChannelIo::carry`]), and perhaps a hold that stopped it. For operator input it holds the
/// lock gate's permit until it is dropped, so a lock waits for what already passed the gate.
#[must_use = "carry out the actions, then drop the passage"]
pub struct Passage {
    direction: Direction,
    ready: Vec<Action>,
    held: Option<Held>,
    _permit: Option<OwnedRwLockReadGuard<()>>,
}

impl Passage {
    fn dropped() -> Passage {
        Passage {
            direction: Direction::FromOperator,
            ready: Vec::new(),
            held: None,
            _permit: None,
        }
    }

    /// The actions ready now (a hold, if any, comes after them).
    pub fn take_ready(&mut self) -> Vec<Action> {
        std::mem::take(&mut self.ready)
    }

    pub(crate) fn is_input(&self) -> bool {
        self.direction == Direction::FromOperator
    }

    /// The bytes this passage forwards now, joined; none when it forwards nothing.
    pub fn forwarded(&self) -> Option<Bytes> {
        let mut parts = self.ready.iter().filter_map(|a| match a {
            Action::Forward(b) => Some(b.clone()),
            _ => None,
        });
        let first = parts.next()?;
        let rest: Vec<Bytes> = parts.collect();
        if rest.is_empty() {
            return Some(first);
        }
        let mut joined = first.to_vec();
        rest.iter().for_each(|b| joined.extend_from_slice(b));
        Some(joined.into())
    }

    /// Whether a hold waits after the ready actions.
    pub fn is_held(&self) -> bool {
        self.held.is_some()
    }
}

impl SessionIo {
    pub(crate) fn new(tracks: Tracks, policy: Policy) -> Self {
        let evidence = crate::shell::evidence_task(
            tracks.store().clone(),
            tracks.session().clone(),
            policy.commands.user().to_owned(),
            policy.elevation.clone(),
        );
        SessionIo {
            inner: Arc::new(IoInner {
                tracks,
                policy,
                evidence,
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
        // A terminal's lines are audited first, right after the lock gate.
        let mut stages: Vec<Box<dyn Stage>> = Vec::new();
        if kind == ChannelKind::Terminal {
            let mut shell = ShellStage::new(
                self.inner.policy.commands.clone(),
                self.inner.evidence.clone(),
                start.command.is_none(),
                start
                    .pty
                    .as_ref()
                    .and_then(|(cols, _, _)| u16::try_from(*cols).ok())
                    .unwrap_or(80),
            );
            if let Some(elevation) = &self.inner.policy.elevation {
                let evidence = self.inner.evidence.clone();
                let mut responder = Responder::new(
                    Arc::clone(elevation),
                    Box::new(move |note| {
                        let _ = evidence.send(crate::shell::Note::Elevation(note));
                    }),
                    start.elevated,
                );
                match &start.command {
                    Some(command) => responder.command_runs(command),
                    None if !start.elevated => {
                        if let Err(why) = self.inner.policy.elevated_start() {
                            responder = responder.not_started(why);
                        }
                    }
                    None => {}
                }
                shell = shell.answering_sudo(responder);
            }
            stages.push(Box::new(shell));
        } else if kind == ChannelKind::Exec
            && vigil_audit::command::reads_commands_from_stdin(start.command.as_deref())
        {
            // A shell without a terminal reads its commands from the operator's input.
            stages.push(Box::new(StdinStage::new(
                self.inner.policy.commands.clone(),
                self.inner.evidence.clone(),
            )));
        }
        stages.extend(self.inner.policy.stages_for(kind));
        Ok(ChannelIo {
            session: self.clone(),
            channel,
            kind,
            track,
            stages: (!stages.is_empty()).then(|| Arc::new(Mutex::new(stages))),
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

    /// The rules the session runs under (taken when it started).
    pub fn policy(&self) -> &Policy {
        &self.inner.policy
    }

    pub fn is_locked(&self) -> bool {
        self.inner.locked.load(Ordering::SeqCst)
    }

    /// Decides a command line with the session's rules and writes what it means (the
    /// session log, the risk score, a deactivated account) and a marker in every track. An
    /// error means its evidence could not be written: the command must not run.
    pub async fn audit_command(
        &self,
        line: &str,
        source: Source,
    ) -> Result<CommandVerdict, vigil_store::StoreError> {
        let tracks = &self.inner.tracks;
        let verdict = crate::audit::take_effect(
            tracks.store(),
            tracks.session(),
            &self.inner.policy.commands,
            line,
            source,
        )
        .await?;
        let _ = self
            .marker(crate::audit::marker(line, &verdict.decision))
            .await;
        Ok(verdict)
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

    /// Operator to target: the lock gate, the count, the stages, the recorder. Locked input
    /// is dropped at the gate (its content is not recorded: only the count, in the session
    /// log).
    pub async fn from_operator(&self, data: Bytes) -> Result<Passage, RecorderError> {
        let io = &self.session.inner;
        let Some(permit) = self.session.pass_gate(data.len()).await else {
            return Ok(Passage::dropped());
        };
        io.bytes_in.fetch_add(data.len() as u64, Ordering::Relaxed);
        self.staged_chunk(Direction::FromOperator, data, Some(permit))
            .await
    }

    /// A signal from the operator (Ctrl-C sent as a request) is input too: `None` while the
    /// gate is closed; otherwise hold the passage until the signal is sent.
    pub async fn operator_signal(&self) -> Option<Passage> {
        let permit = self.session.pass_gate(0).await?;
        Some(Passage {
            direction: Direction::FromOperator,
            ready: Vec::new(),
            held: None,
            _permit: Some(permit),
        })
    }

    /// The operator's input ended (EOF): what the stages held is decided and goes on (a last
    /// line without its newline); `None` when nothing is left.
    pub async fn input_ended(&self) -> Result<Option<Passage>, RecorderError> {
        let Some(stages) = &self.stages else {
            return Ok(None);
        };
        let outcome = {
            let mut stages = stages.lock().unwrap_or_else(|p| p.into_inner());
            stage::input_ended(&mut stages)
        };
        if outcome.ready.is_empty() && outcome.held.is_none() {
            return Ok(None);
        }
        let permit = self.session.pass_gate(0).await;
        if permit.is_none() {
            return Ok(Some(Passage::dropped()));
        }
        self.recorded(Direction::FromOperator, outcome, permit)
            .await
            .map(Some)
    }

    /// Target to operator: the count, the stages, the recorder.
    pub async fn from_target(&self, data: Bytes) -> Result<Passage, RecorderError> {
        let io = &self.session.inner;
        io.bytes_out.fetch_add(data.len() as u64, Ordering::Relaxed);
        self.staged_chunk(Direction::FromTarget, data, None).await
    }

    /// After the ready actions of `passage` were carried out: waits for its hold, if any, and
    /// runs the decision (then what waited behind it) through the rest of the pipeline. For
    /// operator input the gate is passed again: what a decision lets through while the
    /// session is locked is dropped.
    pub(crate) async fn resume(&self, passage: Passage) -> Result<Option<Passage>, RecorderError> {
        let Passage {
            direction,
            held,
            _permit: permit,
            ..
        } = passage;
        // The gate's permit is not kept while waiting: a lock does not wait for a decision.
        drop(permit);
        let Some(held) = held else {
            return Ok(None);
        };
        let work = held.decided().await;
        let permit = match direction {
            Direction::FromTarget => None,
            Direction::FromOperator => {
                let len = work
                    .iter()
                    .map(|(_, a)| match a {
                        Action::Forward(b) => b.len(),
                        _ => 0,
                    })
                    .sum();
                match self.session.pass_gate(len).await {
                    Some(permit) => Some(permit),
                    None => return Ok(Some(Passage::dropped())),
                }
            }
        };
        self.staged(direction, work, permit).await.map(Some)
    }

    /// One chunk through the pipeline. Without stages (the relay's common case: exec,
    /// transfer and forward channels) it goes straight to the recorder.
    async fn staged_chunk(
        &self,
        direction: Direction,
        data: Bytes,
        permit: Option<OwnedRwLockReadGuard<()>>,
    ) -> Result<Passage, RecorderError> {
        match &self.stages {
            Some(_) => self.staged(direction, stage::chunk(data), permit).await,
            None => {
                let outcome = stage::Outcome {
                    ready: vec![Action::Forward(data)],
                    held: None,
                };
                self.recorded(direction, outcome, permit).await
            }
        }
    }

    /// Runs `work` through the stages, then records what is ready.
    async fn staged(
        &self,
        direction: Direction,
        work: std::collections::VecDeque<(usize, Action)>,
        permit: Option<OwnedRwLockReadGuard<()>>,
    ) -> Result<Passage, RecorderError> {
        let outcome = match &self.stages {
            Some(stages) => {
                let mut stages = stages.lock().unwrap_or_else(|p| p.into_inner());
                stage::run(&mut stages, direction, work)
            }
            // No stage: what was decided leaves as it is.
            None => stage::run(&mut [], direction, work),
        };
        self.recorded(direction, outcome, permit).await
    }

    /// Records what is ready: forwarded bytes as input or output, notices and marks as
    /// markers (injected bytes are not operator input), and makes the passage.
    async fn recorded(
        &self,
        direction: Direction,
        outcome: stage::Outcome,
        permit: Option<OwnedRwLockReadGuard<()>>,
    ) -> Result<Passage, RecorderError> {
        if let Some(recorder) = self.recorder() {
            for action in &outcome.ready {
                let at = recorder.elapsed();
                let terminal = self.kind == ChannelKind::Terminal;
                let event = match (action, direction) {
                    (Action::Forward(bytes), Direction::FromOperator) => RecEvent::Input {
                        at,
                        channel: self.channel,
                        bytes: bytes.clone(),
                        terminal,
                    },
                    (Action::Forward(bytes), Direction::FromTarget) => RecEvent::Output {
                        at,
                        channel: self.channel,
                        bytes: bytes.clone(),
                        terminal,
                    },
                    (Action::Tell(text), _) => {
                        RecEvent::Marker(at, format!("vigil told the operator: {text}"))
                    }
                    (Action::Mark(label), _) => RecEvent::Marker(at, label.clone()),
                    _ => continue,
                };
                recorder.send(event).await?;
            }
        }
        Ok(Passage {
            direction,
            ready: outcome.ready,
            held: outcome.held,
            _permit: permit,
        })
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
