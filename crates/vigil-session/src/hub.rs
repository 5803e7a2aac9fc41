//! The registry of live sessions on this node and the path of control messages to them.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::mpsc;
use vigil_core::{EndReason, EventKind, Evidence, SessionId, SessionStatus};
use vigil_record::RecordingStore;
use vigil_store::{ControlCommand, EvidenceConsumer, EvidenceRow, NewSession, Store};

use crate::SessionIo;
use crate::audit::{CommandRules, Unreadable};
use crate::error::HubError;
use crate::recorder::LiveView;
use crate::recorder::RecordingFailed;
use crate::stage::{Policy, StageFactory};
use crate::tracks::Tracks;

/// What a session's adapter must obey.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Control {
    /// End the session; the operator is told "You have been disconnected".
    Terminate { by: String },
    /// The recording cannot be written any more: end the session (fail closed).
    RecordingFailed(String),
    /// The node is stopping.
    Shutdown,
    /// The operator's input is now dropped (the gate is already closed when this arrives);
    /// the adapter tells the operator who locked it.
    Lock { by: String },
    /// Input flows again; the adapter tells the operator.
    Unlock { by: String },
    /// The session's policy ended it (a stage's `Action::End`, an audited command's
    /// interrupt): the end reason, and what the operator is told.
    End { reason: EndReason, notice: String },
}

/// Why a live view or a live-control request cannot be had from this node.
#[derive(Debug, thiserror::Error)]
pub enum ControlError {
    #[error("session {0} is not running on this node")]
    NotHere(SessionId),
    #[error("session {0} has not opened its terminal yet: try again in a moment")]
    NotStarted(SessionId),
    #[error("session {0} has ended")]
    Ended(SessionId),
    #[error("session {0} has no recording track {1} yet")]
    NoTrack(SessionId, u32),
    #[error(transparent)]
    Store(#[from] vigil_store::StoreError),
}

/// This node's live sessions.
pub struct Hub {
    node: String,
    store: Store,
    recordings: Arc<dyn RecordingStore>,
    live: Mutex<HashMap<SessionId, Entry>>,
    closed: std::sync::atomic::AtomicU64,
    /// Sessions between the start and the end of `LiveSession::close` (out of the registry,
    /// but still finishing their recording and writing their end).
    closing: std::sync::atomic::AtomicUsize,
    /// The live event bus: every row of the evidence outbox, from any process, as it is
    /// written; fed by one task started by the first subscriber.
    bus: tokio::sync::broadcast::Sender<EvidenceRow>,
    feeding: tokio::sync::Mutex<bool>,
    /// The stages every session's policy is built with (see [`Hub::policy`]).
    stages: Vec<Arc<dyn StageFactory>>,
    /// The rules last compiled, with the rows they came from.
    rules:
        tokio::sync::Mutex<Option<(Vec<vigil_store::RuleRow>, Arc<vigil_audit::rules::RuleSet>)>>,
    /// The node's `unreadable_lines` setting, taken into each session's policy.
    unreadable: Setting<Unreadable>,
    sign_ins: vigil_core::LoginLimiter,
    /// Session evidence held while the store is unreachable (see `held.rs`).
    held: Arc<crate::held::Held>,
    /// Where transferred files wait while they are inspected (see [`Hub::set_spool_dir`]).
    spool_dir: Setting<std::path::PathBuf>,
    /// Where workstation recordings wait while they are uploaded (see
    /// [`Hub::set_upload_dir`]).
    upload_dir: Setting<std::path::PathBuf>,
    /// Signs the chain of every recording this node writes (see [`Hub::set_recording_signer`]).
    signer: Setting<Option<Arc<dyn vigil_record::chain::LinkSigner>>>,
    /// Woken when a control command was queued for this node (see [`Hub::commands_queued`]).
    commands_queued: Arc<tokio::sync::Notify>,
}

/// A node setting `serve` gives once and sessions read as they start.
struct Setting<T>(std::sync::Mutex<T>);

impl<T: Clone> Setting<T> {
    fn new(value: T) -> Self {
        Setting(std::sync::Mutex::new(value))
    }

    fn set(&self, value: T) {
        *self.0.lock().unwrap_or_else(|p| p.into_inner()) = value;
    }

    fn get(&self) -> T {
        self.0.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }
}

/// Why a session cannot have its policy (and must be refused).
#[derive(Debug, thiserror::Error)]
pub enum PolicyError {
    #[error("cannot read the audited-command rules: {0}")]
    Store(#[from] vigil_store::StoreError),
    #[error("the audited-command rules cannot be used ({0}): fix or disable that rule")]
    Rules(String),
}

/// One live session as the registry knows it.
struct Entry {
    control: mpsc::UnboundedSender<Control>,
    /// Set once the recording starts; the live stream comes from it.
    io: Option<SessionIo>,
}

impl Hub {
    /// A hub whose sessions run no stages besides the lock gate and the recorder.
    pub fn new(node: String, store: Store, recordings: Arc<dyn RecordingStore>) -> Arc<Self> {
        Hub::with_stages(node, store, recordings, Vec::new())
    }

    /// A hub whose sessions run `stages` on their channels, in this order, after the lock
    /// gate and before the recorder. A node registers its stages once, at start.
    pub fn with_stages(
        node: String,
        store: Store,
        recordings: Arc<dyn RecordingStore>,
        stages: Vec<Arc<dyn StageFactory>>,
    ) -> Arc<Self> {
        Arc::new(Hub {
            node,
            store,
            recordings,
            live: Mutex::new(HashMap::new()),
            closed: std::sync::atomic::AtomicU64::new(0),
            closing: std::sync::atomic::AtomicUsize::new(0),
            bus: tokio::sync::broadcast::channel(4096).0,
            feeding: tokio::sync::Mutex::new(false),
            stages,
            rules: tokio::sync::Mutex::new(None),
            unreadable: Setting::new(Unreadable::default()),
            sign_ins: vigil_core::LoginLimiter::new(5, std::time::Duration::from_secs(300)),
            held: Arc::default(),
            spool_dir: Setting::new(std::env::temp_dir().join("vigil-spool")),
            upload_dir: Setting::new(std::env::temp_dir().join("vigil-uploads")),
            signer: Setting::new(None),
            commands_queued: Arc::new(tokio::sync::Notify::new()),
        })
    }

    /// What wakes the command poller at once (PostgreSQL's LISTEN, fed by
    /// `Store::announce_commands_to`): a command queued on another node or by the CLI is taken
    /// without waiting for the poll.
    pub fn commands_queued(&self) -> Arc<tokio::sync::Notify> {
        Arc::clone(&self.commands_queued)
    }

    /// Failed sign-ins per user name and per client address, the console's and SSH's
    /// together: five in five minutes block both for the rest of the five minutes.
    pub fn sign_ins(&self) -> &vigil_core::LoginLimiter {
        &self.sign_ins
    }

    /// What sessions that start from now on do with interactive lines no exact source could
    /// read (the node's `unreadable_lines` setting).
    pub fn set_unreadable_lines(&self, unreadable: Unreadable) {
        self.unreadable.set(unreadable);
    }

    /// Transferred files wait under `dir` while they are inspected (the node's data
    /// directory; the default is the system's temporary directory).
    pub fn set_spool_dir(&self, dir: std::path::PathBuf) {
        self.spool_dir.set(dir);
    }

    pub fn spool_dir(&self) -> std::path::PathBuf {
        self.spool_dir.get()
    }

    /// Workstation recordings being uploaded wait under `dir` until they are whole (the
    /// node's data directory; kept across restarts, so an upload resumes).
    /// The node's recording key: from now on every recording (session tracks, workstation
    /// runs) is hash-chained and signed with it (issue 15). Without one, recordings are
    /// written unchained.
    pub fn set_recording_signer(&self, signer: Arc<dyn vigil_record::chain::LinkSigner>) {
        self.signer.set(Some(signer));
    }

    /// The recording key as the signer of session logs' seals.
    pub fn log_signer(&self) -> Option<Arc<dyn vigil_store::log_chain::LogSigner>> {
        self.recording_signer().map(|s| {
            Arc::new(crate::verify::LogSignerOf(s)) as Arc<dyn vigil_store::log_chain::LogSigner>
        })
    }

    /// The node's recording key, when it has one.
    pub fn recording_signer(&self) -> Option<Arc<dyn vigil_record::chain::LinkSigner>> {
        self.signer.get()
    }

    /// Where recordings are written: the recording store, chaining and signing them when the
    /// node has a recording key. (Kept files go to [`Hub::recordings`] as they are.)
    pub fn recording_writer(&self) -> Arc<dyn RecordingStore> {
        match self.signer.get() {
            Some(signer) => Arc::new(vigil_record::chain::ChainedStore {
                inner: Arc::clone(&self.recordings),
                signer,
            }),
            None => Arc::clone(&self.recordings),
        }
    }

    pub fn set_upload_dir(&self, dir: std::path::PathBuf) {
        self.upload_dir.set(dir);
    }

    pub fn upload_dir(&self) -> std::path::PathBuf {
        self.upload_dir.get()
    }

    /// The policy snapshot of a session that starts now: the grant's decision, the audited-
    /// command rules as they are now (compiled once per change of the rules, shared by the
    /// sessions that start under them) and the stages this node runs. An error refuses the
    /// session: it would run without its rules.
    pub async fn policy(
        &self,
        allow_port_forwarding: bool,
        at: vigil_audit::rules::Where,
    ) -> Result<Policy, PolicyError> {
        let rules = self.compiled_rules().await?;
        let unreadable = self.unreadable.get();
        let commands = CommandRules::new(rules, at).with_unreadable(unreadable);
        let policy = Policy::new(allow_port_forwarding, commands);
        Ok(self
            .stages
            .iter()
            .fold(policy, |p, s| p.with_stage(Arc::clone(s))))
    }

    async fn compiled_rules(&self) -> Result<Arc<vigil_audit::rules::RuleSet>, PolicyError> {
        let rows = self.store.audit_rules().await?;
        let mut cache = self.rules.lock().await;
        if let Some((cached, set)) = cache.as_ref()
            && *cached == rows
        {
            return Ok(Arc::clone(set));
        }
        let rules = rows
            .iter()
            .map(crate::admin::rule_of)
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| PolicyError::Rules(e.to_string()))?;
        // Compiling thousands of expressions is CPU work: off the async runtime.
        let set = tokio::task::spawn_blocking(move || vigil_audit::rules::RuleSet::compile(rules))
            .await
            .map_err(|e| PolicyError::Rules(e.to_string()))?
            .map_err(|e| PolicyError::Rules(e.to_string()))?;
        let set = Arc::new(set);
        *cache = Some((rows, Arc::clone(&set)));
        Ok(set)
    }

    pub fn node(&self) -> &str {
        &self.node
    }

    pub fn store(&self) -> &Store {
        &self.store
    }

    pub fn recordings(&self) -> &Arc<dyn RecordingStore> {
        &self.recordings
    }

    fn registry(&self) -> std::sync::MutexGuard<'_, HashMap<SessionId, Entry>> {
        // A panic while holding this lock cannot leave the map inconsistent (single inserts
        // and removes), so a poisoned lock is still usable.
        self.live.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Registers a new session and writes its row. The returned inbox carries the control
    /// messages the adapter must obey.
    pub async fn open(
        self: &Arc<Self>,
        new: NewSession,
    ) -> Result<(Arc<LiveSession>, ControlInbox), HubError> {
        self.store.create_session(&new).await?;
        let (tx, rx) = mpsc::unbounded_channel();
        self.registry().insert(
            new.id.clone(),
            Entry {
                control: tx,
                io: None,
            },
        );
        let (failed_tx, failed_rx) = mpsc::unbounded_channel();
        let live = Arc::new(LiveSession {
            hub: Arc::clone(self),
            id: new.id,
            failed_tx,
            recording: tokio::sync::Mutex::new(RecordingState::default()),
            closed: std::sync::atomic::AtomicBool::new(false),
        });
        Ok((
            live,
            ControlInbox {
                control: rx,
                failed: failed_rx,
            },
        ))
    }

    /// Delivers a control message to a session of this node; false if it is not here.
    pub fn control(&self, id: &SessionId, control: Control) -> bool {
        self.registry()
            .get(id)
            .is_some_and(|e| e.control.send(control).is_ok())
    }

    /// Joins a session's live stream: its current screen, then live output. Only the node
    /// that runs the session has it (seed 001).
    /// Each recorded channel has its own track: `track` 0 is the session's first.
    pub async fn watch(&self, id: &SessionId, track: u32) -> Result<LiveView, ControlError> {
        self.io_of(id)?
            .watch(track)
            .await
            .ok_or_else(|| ControlError::NoTrack(id.clone(), track))?
            .map_err(|_| ControlError::Ended(id.clone()))
    }

    /// Every piece of evidence written from now on, by this process, a CLI process or
    /// another node, in outbox order (the live event bus; a consumer that must not miss
    /// anything across restarts uses a durable [`EvidenceConsumer`] instead). A subscriber
    /// that falls more than 4,096 rows behind is told how many it missed.
    pub async fn subscribe(
        &self,
    ) -> Result<tokio::sync::broadcast::Receiver<EvidenceRow>, vigil_store::StoreError> {
        let mut feeding = self.feeding.lock().await;
        let rx = self.bus.subscribe();
        if !*feeding {
            let mut consumer = EvidenceConsumer::live(&self.store).await?;
            let bus = self.bus.clone();
            tokio::spawn(async move {
                loop {
                    match consumer.next().await {
                        Ok(row) => {
                            let _ = bus.send(row);
                        }
                        Err(e) => {
                            tracing::warn!(error = %e, "cannot read the evidence outbox; retrying");
                            tokio::time::sleep(Duration::from_secs(1)).await;
                        }
                    }
                }
            });
            *feeding = true;
        }
        Ok(rx)
    }

    /// Writes an event to the session log (the evidence outbox). A write that fails is
    /// reported, not fatal: the recording is the evidence that must not be lost.
    pub async fn session_event(
        &self,
        id: &SessionId,
        kind: EventKind,
        actor: Option<&str>,
        detail: serde_json::Value,
    ) {
        self.record_event(Evidence::session(kind, id, actor, detail))
            .await;
    }

    /// Records evidence of a running session; while the store does not answer it is held and
    /// written, in order and with the time it happened, when it does (see `held.rs`).
    async fn record_event(&self, evidence: Evidence) {
        self.held.record(&self.store, evidence).await;
    }

    fn io_of(&self, id: &SessionId) -> Result<SessionIo, ControlError> {
        match self.registry().get(id) {
            None => Err(ControlError::NotHere(id.clone())),
            Some(Entry { io: None, .. }) => Err(ControlError::NotStarted(id.clone())),
            Some(Entry { io: Some(io), .. }) => Ok(io.clone()),
        }
    }

    pub fn is_local(&self, id: &SessionId) -> bool {
        self.registry().contains_key(id)
    }

    /// Locks the operator's interaction: input is dropped from now on (the gate closes before
    /// this returns), the operator is told who locked it, and the user cannot start new
    /// sessions until released. The status, the user's lock, the `locked` event and `with`
    /// (the administration entry, when a person asked here) are one transaction. Locking a
    /// locked session changes nothing.
    pub async fn lock(
        &self,
        id: &SessionId,
        by: &str,
        with: Vec<Evidence>,
    ) -> Result<(), ControlError> {
        let io = self.io_of(id)?;
        if io.is_locked() {
            return Ok(());
        }
        // Returns once nothing that passed the gate is still on its way to the target.
        let drained = io.lock().await;
        let _ = io.marker(format!("input locked by {by}")).await;
        let row = self.store.session(&id.0).await?;
        let mut tx = self.store.begin().await?;
        tx.set_session_status(id, SessionStatus::Locked).await?;
        tx.lock_user(&row.user_name, by, &id.0).await?;
        tx.record(Evidence::session(
            EventKind::Locked,
            id,
            Some(by),
            serde_json::json!({ "user": row.user_name, "drained": drained }),
        ));
        with.into_iter().for_each(|e| tx.record(e));
        tx.commit().await?;
        self.control(id, Control::Lock { by: by.to_owned() });
        Ok(())
    }

    /// Opens the gate again and releases the user (one transaction, as for [`Hub::lock`]).
    pub async fn unlock(
        &self,
        id: &SessionId,
        by: &str,
        with: Vec<Evidence>,
    ) -> Result<(), ControlError> {
        let io = self.io_of(id)?;
        if !io.is_locked() {
            return Ok(());
        }
        let dropped = io.unlock();
        let _ = io.marker(format!("input unlocked by {by}")).await;
        let row = self.store.session(&id.0).await?;
        let mut tx = self.store.begin().await?;
        tx.set_session_status(id, SessionStatus::Active).await?;
        tx.release_user(&row.user_name).await?;
        tx.record(Evidence::session(
            EventKind::Unlocked,
            id,
            Some(by),
            serde_json::json!({ "user": row.user_name, "input_dropped_bytes": dropped }),
        ));
        with.into_iter().for_each(|e| tx.record(e));
        tx.commit().await?;
        self.control(id, Control::Unlock { by: by.to_owned() });
        Ok(())
    }

    /// Sessions this node has closed since it started.
    pub fn closed_count(&self) -> u64 {
        self.closed.load(std::sync::atomic::Ordering::Relaxed)
    }

    /// True when no session runs here and none is still closing: what a node waits for
    /// before it closes the store on shutdown.
    pub fn is_idle(&self) -> bool {
        self.registry().is_empty() && self.closing.load(std::sync::atomic::Ordering::SeqCst) == 0
    }

    pub fn live_sessions(&self) -> Vec<SessionId> {
        self.registry().keys().cloned().collect()
    }

    /// Claims control commands queued for this node (by the CLI or another node) and delivers
    /// them, until the process ends.
    pub async fn run_command_poller(self: Arc<Self>, every: Duration) {
        let mut tick = tokio::time::interval(every);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                _ = tick.tick() => {}
                () = self.commands_queued.notified() => {}
            }
            match self.store.take_commands(&self.node).await {
                Ok(commands) => {
                    for c in commands {
                        let id = SessionId(c.session_id.clone());
                        let done = match c.command {
                            ControlCommand::Terminate => self.control(
                                &id,
                                Control::Terminate {
                                    by: c.actor.clone(),
                                },
                            ),
                            // The administration entry was written with the queued command.
                            ControlCommand::Lock => self
                                .lock(&id, &c.actor, Vec::new())
                                .await
                                .map_err(
                                    |e| tracing::warn!(session = %id, error = %e, "cannot lock"),
                                )
                                .is_ok(),
                            ControlCommand::Unlock => self
                                .unlock(&id, &c.actor, Vec::new())
                                .await
                                .map_err(
                                    |e| tracing::warn!(session = %id, error = %e, "cannot unlock"),
                                )
                                .is_ok(),
                        };
                        if !done {
                            tracing::warn!(session = %id, command = c.command.as_str(), "control command for a session this node no longer runs");
                        }
                    }
                }
                Err(e) => tracing::warn!(error = %e, "cannot read control commands"),
            }
        }
    }
}

/// Control messages for one session, read by the adapter's control task.
pub struct ControlInbox {
    control: mpsc::UnboundedReceiver<Control>,
    failed: mpsc::UnboundedReceiver<RecordingFailed>,
}

impl ControlInbox {
    /// The next control message; pending forever once nothing can send one.
    pub async fn next(&mut self) -> Control {
        tokio::select! {
            Some(c) = self.control.recv() => c,
            Some(RecordingFailed(why)) = self.failed.recv() => Control::RecordingFailed(why),
            else => std::future::pending().await,
        }
    }
}

#[derive(Default)]
struct RecordingState {
    io: Option<SessionIo>,
}

/// One running session, shared by its adapter's tasks.
pub struct LiveSession {
    hub: Arc<Hub>,
    id: SessionId,
    failed_tx: mpsc::UnboundedSender<RecordingFailed>,
    recording: tokio::sync::Mutex<RecordingState>,
    closed: std::sync::atomic::AtomicBool,
}

impl LiveSession {
    pub fn id(&self) -> &SessionId {
        &self.id
    }

    pub fn hub(&self) -> &Arc<Hub> {
        &self.hub
    }

    /// Starts the recording once; an error means the session must be refused (fail closed).
    /// `policy` is the session's snapshot of the rules (see [`Policy`]): only the first call's
    /// counts.
    pub async fn start_recording(&self, policy: Policy) -> Result<SessionIo, HubError> {
        let mut state = self.recording.lock().await;
        if let Some(io) = &state.io {
            return Ok(io.clone());
        }
        let key = self.id.0.clone();
        let tracks = Tracks::start(
            self.id.clone(),
            key.clone(),
            self.hub.store.clone(),
            self.hub.recording_writer(),
            self.failed_tx.clone(),
        )
        .await?;
        self.hub.store.set_session_recording(&self.id, &key).await?;
        let io = SessionIo::new(tracks, policy);
        if let Some(entry) = self.hub.registry().get_mut(&self.id) {
            entry.io = Some(io.clone());
        }
        state.io = Some(io.clone());
        Ok(io)
    }

    /// The session's data path, once its recording started.
    pub async fn io(&self) -> Option<SessionIo> {
        self.recording.lock().await.io.clone()
    }

    /// Appends to the session log. A log write that fails is reported, not fatal: the
    /// recording is the evidence that must not be lost, and it has its own failure path.
    pub async fn event(&self, kind: EventKind, actor: Option<&str>, detail: serde_json::Value) {
        self.hub.session_event(&self.id, kind, actor, detail).await;
    }

    /// Appends to the session log, or says why it could not: for evidence that must be
    /// written before what it records happens (a transferred file's decision).
    pub async fn record(
        &self,
        kind: EventKind,
        detail: serde_json::Value,
    ) -> Result<(), vigil_store::StoreError> {
        self.hub
            .store
            .record(Evidence::session(kind, &self.id, None, detail))
            .await
            .map(|_| ())
    }

    /// Appends evidence about this session that is not a plain session-log event (one whose
    /// subject is not the session, such as a refused host key naming its target).
    pub async fn evidence(&self, evidence: Evidence) {
        self.hub.record_event(evidence).await;
    }

    pub async fn set_status(&self, status: SessionStatus) {
        if let Err(e) = self.hub.store.set_session_status(&self.id, status).await {
            tracing::error!(session = %self.id, error = %e, "cannot update session status");
        }
    }

    pub async fn set_target(&self, target: &str, login: &str) {
        if let Err(e) = self
            .hub
            .store
            .set_session_target(&self.id, target, login)
            .await
        {
            tracing::error!(session = %self.id, error = %e, "cannot update session target");
        }
    }

    /// Ends the session once: finishes and seals the recording, closes the row, logs `ended`.
    /// Call after the relay's tasks are gone, so the recording has every byte.
    pub async fn close(&self, reason: EndReason) {
        if self.closed.swap(true, std::sync::atomic::Ordering::SeqCst) {
            return;
        }
        // Counted as closing from before it leaves the registry until its end is written.
        self.hub
            .closing
            .fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        self.hub.registry().remove(&self.id);
        let state = std::mem::take(&mut *self.recording.lock().await);
        let (bytes_in, bytes_out) = state.io.as_ref().map(SessionIo::bytes).unwrap_or((0, 0));
        let tasks = match &state.io {
            Some(io) => io.close_tracks().await,
            None => Vec::new(),
        };
        // Dropping our handle lets the writers finish once the relay's clones are gone too.
        drop(state.io);
        let mut reason = reason;
        let mut failed = None;
        let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
        for task in tasks {
            match tokio::time::timeout_at(deadline, task.done).await {
                // The writer finished its track (at rest) before it reported.
                Ok(Ok(Ok(_))) => {}
                Ok(Ok(Err(why))) => {
                    failed.get_or_insert(why);
                }
                Ok(Err(_)) | Err(_) => {
                    tracing::error!(session = %self.id, "recording writer did not finish in time");
                }
            }
        }
        if let Some(why) = &failed
            && !matches!(reason, EndReason::Error(_))
        {
            reason = EndReason::Error(format!("recording failed: {why}"));
        }
        let actor = match &reason {
            EndReason::TerminatedBy(who) => Some(who.clone()),
            _ => None,
        };
        // The row's end and the log's `ended` (with the failure before it) are one change.
        let closed = || async {
            let mut tx = self.hub.store.begin().await?;
            tx.close_session(&self.id, &reason, bytes_in, bytes_out)
                .await?;
            if let Some(why) = &failed {
                tx.record(Evidence::session(
                    EventKind::RecordingFailed,
                    &self.id,
                    None,
                    serde_json::json!({ "error": why }),
                ));
            }
            tx.record(Evidence::session(
                EventKind::Ended,
                &self.id,
                actor.as_deref(),
                serde_json::json!({ "reason": reason.to_string(), "bytes_in": bytes_in, "bytes_out": bytes_out }),
            ));
            if let Some(signer) = self.hub.log_signer() {
                tx.seal_session_log(&self.id.0, signer);
            }
            tx.commit().await
        };
        // The end comes after every event held while the store was away, and is itself
        // retried until the store takes it (or refuses it while answering).
        self.hub.held.drained().await;
        if let Err(e) = crate::held::until_stored("a session's end", closed).await {
            tracing::error!(session = %self.id, error = %e, "cannot close session row");
        }
        self.hub
            .closed
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        self.hub
            .closing
            .fetch_sub(1, std::sync::atomic::Ordering::SeqCst);
    }
}

impl Drop for LiveSession {
    fn drop(&mut self) {
        self.hub.registry().remove(&self.id);
    }
}
