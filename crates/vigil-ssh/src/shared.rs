//! What one operator connection's tasks share: the session, the target link, the open
//! channels and how to tell the operator something on each, the end reason, and the input
//! budget that paces operators through their window.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, OnceLock};

use russh::ChannelId;
use russh::server;
use vigil_core::{EndReason, EventKind, LoginSpec, User};
use vigil_session::{Hub, LiveSession};

use crate::settings::SshSettings;
use crate::target::TargetLink;

/// An operator channel's writing half.
pub(crate) type OperatorWrite = russh::ChannelWriteHalf<russh::server::Msg>;

/// What the operator is told when the target's side of a channel goes away unclosed.
pub(crate) const TARGET_LOST: &str =
    "vigil: the connection to the target was lost (it closed without ending the session's channel)";

/// State shared by a connection's handler and its channel tasks.
pub(crate) struct Shared {
    pub(crate) hub: Arc<Hub>,
    pub(crate) settings: Arc<SshSettings>,
    pub(crate) peer: SocketAddr,
    handle: OnceLock<server::Handle>,
    pub(crate) user: OnceLock<User>,
    pub(crate) spec: OnceLock<LoginSpec>,
    pub(crate) session: OnceLock<Arc<LiveSession>>,
    pub(crate) target: tokio::sync::Mutex<Option<Arc<TargetLink>>>,
    /// Open operator channels and whether each has a PTY (how to show a message on it).
    channels: Mutex<HashMap<ChannelId, bool>>,
    end: Mutex<Option<EndReason>>,
    /// Every task that touches the session holds a clone; when all are dropped the relay is done.
    alive: Mutex<Option<tokio::sync::mpsc::Sender<()>>>,
    control: Mutex<Option<tokio::task::JoinHandle<()>>>,
    pub(crate) input_budget: InputBudget,
    /// The connection's place among those signing in, until it signs in.
    pre_auth: Mutex<Option<crate::preauth::Pass>>,
    /// Channels (sessions and forwards) open at once, against [`MAX_CHANNELS`].
    open_channels: std::sync::atomic::AtomicUsize,
    /// Set when the operator's connection is gone: writes to it that wait for window
    /// (which will never come) give up, so the relay drains and the session closes at once.
    gone: tokio::sync::watch::Sender<bool>,
    /// Whether a refusal for too many channels was logged (once per connection: a client
    /// opening thousands must not write thousands of events).
    told_too_many: std::sync::atomic::AtomicBool,
}

/// Channels one operator connection may hold open at once (OpenSSH allows 10 sessions per
/// connection by default; forwards count here too).
pub(crate) const MAX_CHANNELS: usize = 64;

/// A channel's place against [`MAX_CHANNELS`], given back when its task ends.
pub(crate) struct ChannelSlot(Arc<Shared>);

impl Drop for ChannelSlot {
    fn drop(&mut self) {
        self.0
            .open_channels
            .fetch_sub(1, std::sync::atomic::Ordering::AcqRel);
    }
}

impl Shared {
    pub(crate) fn new(
        hub: Arc<Hub>,
        settings: Arc<SshSettings>,
        peer: SocketAddr,
        alive: tokio::sync::mpsc::Sender<()>,
    ) -> Self {
        Shared {
            hub,
            settings,
            peer,
            handle: OnceLock::new(),
            user: OnceLock::new(),
            spec: OnceLock::new(),
            session: OnceLock::new(),
            target: tokio::sync::Mutex::new(None),
            channels: Mutex::new(HashMap::new()),
            end: Mutex::new(None),
            alive: Mutex::new(Some(alive)),
            control: Mutex::new(None),
            input_budget: InputBudget::default(),
            pre_auth: Mutex::new(None),
            open_channels: std::sync::atomic::AtomicUsize::new(0),
            gone: tokio::sync::watch::Sender::new(false),
            told_too_many: std::sync::atomic::AtomicBool::new(false),
        }
    }

    /// A place for one more channel; `None` when the connection holds [`MAX_CHANNELS`], which
    /// the session log says once.
    pub(crate) async fn channel_slot(self: &Arc<Self>, kind: &str) -> Option<ChannelSlot> {
        use std::sync::atomic::Ordering;
        let taken = self
            .open_channels
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| {
                (n < MAX_CHANNELS).then_some(n + 1)
            })
            .is_ok();
        if taken {
            return Some(ChannelSlot(Arc::clone(self)));
        }
        if !self.told_too_many.swap(true, Ordering::AcqRel) {
            tracing::warn!(peer = %self.peer, "channel refused: too many open at once");
            self.event(
                vigil_core::EventKind::ChannelRefused,
                serde_json::json!({
                    "kind": kind,
                    "reason": format!("more than {MAX_CHANNELS} channels open at once on one connection (further refusals on this connection are not logged)"),
                }),
            )
            .await;
        }
        None
    }

    pub(crate) fn hold_pre_auth(&self, pass: crate::preauth::Pass) {
        if let Ok(mut p) = self.pre_auth.lock() {
            *p = Some(pass);
        }
    }

    /// Signed in (or gone): the connection no longer counts among those signing in.
    pub(crate) fn release_pre_auth(&self) {
        if let Ok(mut p) = self.pre_auth.lock() {
            p.take();
        }
    }

    /// A token for a task that touches the session; `None` once the connection is ending.
    pub(crate) fn alive(&self) -> Option<tokio::sync::mpsc::Sender<()>> {
        self.alive.lock().ok().and_then(|a| a.clone())
    }

    pub(crate) fn release_alive(&self) {
        if let Ok(mut a) = self.alive.lock() {
            a.take();
        }
    }

    /// Keeps the control task, so that the end of the connection can stop it.
    pub(crate) fn set_control(&self, task: tokio::task::JoinHandle<()>) {
        if let Ok(mut slot) = self.control.lock() {
            *slot = Some(task);
        }
    }

    pub(crate) fn stop_control(&self) {
        if let Some(task) = self.control.lock().ok().and_then(|mut c| c.take()) {
            task.abort();
        }
    }

    pub(crate) fn set_handle(&self, handle: server::Handle) {
        let _ = self.handle.set(handle);
    }

    pub(crate) fn handle(&self) -> Option<&server::Handle> {
        self.handle.get()
    }

    /// The first reason wins: a kill that causes the target to close is still a kill.
    /// The session's policy ends it (a stage, an audited command): through the control
    /// path, like a kill, so the operator is told why and every channel closes.
    pub(crate) fn end_with(&self, reason: EndReason, notice: String) {
        // The reason is the session's from now on: the operator's client may hang up before
        // the control task gets to it (first reason wins).
        self.set_end(reason.clone());
        if let Some(session) = self.session.get() {
            session
                .hub()
                .control(session.id(), vigil_session::Control::End { reason, notice });
        }
    }

    pub(crate) fn set_end(&self, reason: EndReason) {
        if let Ok(mut end) = self.end.lock()
            && end.is_none()
        {
            *end = Some(reason);
        }
    }

    pub(crate) fn end_reason(&self) -> EndReason {
        self.end
            .lock()
            .ok()
            .and_then(|e| e.clone())
            .unwrap_or(EndReason::OperatorExit)
    }

    /// The target's side of channel `id` went away without closing it (its connection was
    /// cut, its process killed): the session ends for that reason and the operator is told
    /// before the channel closes.
    pub(crate) async fn target_lost(&self, id: ChannelId) {
        // Only when it is why the session ends: after a termination or a lock-out the
        // target's side goes away because Vigil ended it, and the operator was told that.
        let first = self.end.lock().map(|e| e.is_none()).unwrap_or(false);
        self.set_end(EndReason::TargetClosed);
        if first {
            self.say(id, TARGET_LOST).await;
        }
    }

    pub(crate) fn track_channel(&self, id: ChannelId, pty: bool) {
        if let Ok(mut c) = self.channels.lock() {
            c.insert(id, pty);
        }
    }

    pub(crate) fn forget_channel(&self, id: ChannelId) {
        if let Ok(mut c) = self.channels.lock() {
            c.remove(&id);
        }
    }

    pub(crate) async fn reply(&self, id: ChannelId, ok: bool) {
        if let Some(h) = self.handle() {
            let _ = if ok {
                h.channel_success(id).await
            } else {
                h.channel_failure(id).await
            };
        }
    }

    /// Writes a line the operator will see on this channel: in the terminal when there is a
    /// PTY, on stderr otherwise.
    /// The operator's connection ended.
    pub(crate) fn connection_gone(&self) {
        self.gone.send_replace(true);
    }

    /// `write` to the operator, unless the connection is or goes away first (`None`).
    pub(crate) async fn unless_gone<T>(
        &self,
        write: impl std::future::Future<Output = T>,
    ) -> Option<T> {
        let mut gone = self.gone.subscribe();
        tokio::select! {
            out = write => Some(out),
            _ = gone.wait_for(|g| *g) => None,
        }
    }

    pub(crate) async fn say(&self, id: ChannelId, text: &str) {
        let pty = self
            .channels
            .lock()
            .ok()
            .and_then(|c| c.get(&id).copied())
            .unwrap_or(false);
        if let Some(h) = self.handle() {
            let _ = self
                .unless_gone(async {
                    if pty {
                        h.data(id, format!("\r\n{}\r\n", text.replace('\n', "\r\n")))
                            .await
                    } else {
                        h.extended_data(id, 1, format!("{text}\n")).await
                    }
                })
                .await;
        }
    }

    pub(crate) async fn event(&self, kind: EventKind, detail: serde_json::Value) {
        if let Some(s) = self.session.get() {
            s.event(kind, None, detail).await;
        }
    }

    fn channel_ids(&self) -> Vec<ChannelId> {
        self.channels
            .lock()
            .map(|c| c.keys().copied().collect())
            .unwrap_or_default()
    }

    /// Tells every open channel `text` (a notice from the gateway, not from the target).
    pub(crate) async fn notify_all(&self, text: &str) {
        for id in self.channel_ids() {
            self.say(id, text).await;
        }
    }

    /// Tells every open channel `text`, closes them and ends the connection.
    pub(crate) async fn disconnect_all(&self, text: &str) {
        for id in &self.channel_ids() {
            self.say(*id, text).await;
            if let Some(h) = self.handle() {
                let _ = h.close(*id).await;
            }
        }
        if let Some(h) = self.handle() {
            let _ = h
                .disconnect(
                    russh::Disconnect::ByApplication,
                    text.to_owned(),
                    "en".into(),
                )
                .await;
        }
        self.drop_target().await;
    }

    pub(crate) async fn drop_target(&self) {
        if let Some(link) = self.target.lock().await.take() {
            let _ = link
                .handle
                .disconnect(russh::Disconnect::ByApplication, "session ended", "en")
                .await;
        }
    }
}

/// Operator bytes read from russh but not yet forwarded to the target, per connection.
#[derive(Default)]
pub(crate) struct InputBudget {
    buffered: std::sync::atomic::AtomicUsize,
    drained: tokio::sync::Notify,
}

impl InputBudget {
    /// Above this, the operator is granted only [`InputBudget::SMALL_WINDOW`].
    pub(crate) const HIGH: usize = 1 << 20;
    pub(crate) const SMALL_WINDOW: u32 = 64 * 1024;
    /// A client that ignores the window could still flood us: past this the reader waits.
    const HARD: usize = 32 << 20;

    pub(crate) async fn add(&self, n: usize) {
        use std::sync::atomic::Ordering;
        while self.buffered.load(Ordering::Acquire) > Self::HARD {
            let drained = self.drained.notified();
            if self.buffered.load(Ordering::Acquire) <= Self::HARD {
                break;
            }
            drained.await;
        }
        self.buffered.fetch_add(n, Ordering::AcqRel);
    }

    pub(crate) fn release(&self, n: usize) {
        if n > 0 {
            self.buffered
                .fetch_sub(n, std::sync::atomic::Ordering::AcqRel);
            self.drained.notify_waiters();
        }
    }

    pub(crate) fn congested(&self) -> bool {
        self.buffered.load(std::sync::atomic::Ordering::Acquire) > Self::HIGH
    }
}
