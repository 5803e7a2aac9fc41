//! One operator connection: russh's handler (authentication, channel opens) and the state its
//! channel tasks share.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, OnceLock};

use russh::server::{self, Auth, ChannelOpenHandle, Msg, Response, Session};
use russh::{Channel, ChannelId, MethodKind, MethodSet};
use vigil_core::{EndReason, EventKind, LoginSpec, User};
use vigil_session::{Hub, LiveSession};
use vigil_store::NewSession;

use crate::SshError;
use crate::auth::{Authenticator, Factor};
use crate::server::SshSettings;
use crate::target::TargetLink;

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
    pub(crate) input_budget: crate::relay::InputBudget,
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
            input_budget: crate::relay::InputBudget::default(),
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

    pub(crate) fn target_lost(&self) {
        self.set_end(EndReason::TargetClosed);
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
    pub(crate) async fn say(&self, id: ChannelId, text: &str) {
        let pty = self
            .channels
            .lock()
            .ok()
            .and_then(|c| c.get(&id).copied())
            .unwrap_or(false);
        if let Some(h) = self.handle() {
            let _ = if pty {
                h.data(id, format!("\r\n{}\r\n", text.replace('\n', "\r\n")))
                    .await
            } else {
                h.extended_data(id, 1, format!("{text}\n")).await
            };
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

#[derive(Default)]
enum KeyboardInteractive {
    #[default]
    Idle,
    AwaitPassword,
    AwaitCode(User),
}

/// russh's per-connection handler.
pub(crate) struct Connection {
    pub(crate) shared: Arc<Shared>,
    /// A user who passed the first factor and owes a TOTP code.
    half: Option<User>,
    ki: KeyboardInteractive,
    method: &'static str,
}

impl Connection {
    pub(crate) fn new(shared: Arc<Shared>) -> Self {
        Connection {
            shared,
            half: None,
            ki: KeyboardInteractive::Idle,
            method: "",
        }
    }

    fn auth(&self) -> Authenticator<'_> {
        Authenticator {
            store: self.shared.hub.store(),
            peer: self.shared.peer,
        }
    }

    fn accept(&mut self, raw_user: &str, user: User, method: &'static str) -> Auth {
        match LoginSpec::parse(raw_user) {
            Ok(spec) => {
                let _ = self.shared.spec.set(spec);
                let _ = self.shared.user.set(user);
                self.method = method;
                Auth::Accept
            }
            Err(_) => Auth::reject(),
        }
    }

    fn code_prompt() -> Auth {
        Auth::Partial {
            name: "".into(),
            instructions: "".into(),
            prompts: vec![("Verification code: ".into(), true)].into(),
        }
    }

    fn after(&mut self, raw_user: &str, factor: Factor, method: &'static str) -> Auth {
        match factor {
            Factor::Done(user) => self.accept(raw_user, user, method),
            Factor::NeedCode(user) => {
                self.half = Some(user);
                let mut methods = MethodSet::empty();
                methods.push(MethodKind::KeyboardInteractive);
                Auth::Reject {
                    proceed_with_methods: Some(methods),
                    partial_success: true,
                }
            }
            Factor::Failed => Auth::reject(),
        }
    }
}

impl server::Handler for Connection {
    type Error = SshError;

    async fn auth_password(&mut self, user: &str, password: &str) -> Result<Auth, Self::Error> {
        let factor = self.auth().password(user, password.as_bytes()).await;
        Ok(self.after(user, factor, "password"))
    }

    async fn auth_publickey_offered(
        &mut self,
        user: &str,
        offer: server::PublicKeyOffer<'_>,
    ) -> Result<Auth, Self::Error> {
        Ok(if self.auth().knows_key(user, offer.public_key).await {
            Auth::Accept
        } else {
            Auth::reject()
        })
    }

    async fn auth_publickey(
        &mut self,
        user: &str,
        key: server::VerifiedPublicKey<'_>,
    ) -> Result<Auth, Self::Error> {
        let factor = self.auth().public_key(user, key.public_key).await;
        Ok(self.after(user, factor, "publickey"))
    }

    async fn auth_keyboard_interactive<'a>(
        &'a mut self,
        user: &str,
        _submethods: &str,
        response: Option<Response<'a>>,
    ) -> Result<Auth, Self::Error> {
        let answer = response.and_then(|mut r| r.next());
        let state = std::mem::take(&mut self.ki);
        match (state, answer) {
            (_, None) => {
                if let Some(u) = self.half.take() {
                    self.ki = KeyboardInteractive::AwaitCode(u);
                    return Ok(Self::code_prompt());
                }
                self.ki = KeyboardInteractive::AwaitPassword;
                Ok(Auth::Partial {
                    name: "".into(),
                    instructions: "".into(),
                    prompts: vec![("Password: ".into(), false)].into(),
                })
            }
            (KeyboardInteractive::AwaitPassword, Some(password)) => {
                match self.auth().password(user, &password).await {
                    Factor::NeedCode(u) => {
                        self.ki = KeyboardInteractive::AwaitCode(u);
                        Ok(Self::code_prompt())
                    }
                    other => Ok(self.after(user, other, "keyboard-interactive")),
                }
            }
            (KeyboardInteractive::AwaitCode(u), Some(code)) => {
                let factor = self.auth().totp(user, u, &code).await;
                Ok(self.after(user, factor, "totp"))
            }
            (KeyboardInteractive::Idle, Some(_)) => Ok(Auth::reject()),
        }
    }

    async fn auth_succeeded(&mut self, session: &mut Session) -> Result<(), Self::Error> {
        self.shared.set_handle(session.handle());
        let (Some(user), Some(spec)) = (self.shared.user.get(), self.shared.spec.get()) else {
            return Ok(());
        };
        let new = NewSession {
            id: vigil_core::SessionId::new(),
            user_name: user.name.clone(),
            target_name: spec.target.clone(),
            login: spec.login.clone(),
            client_addr: self.shared.peer.to_string(),
            node: self.shared.hub.node().to_owned(),
            protocol: "ssh".into(),
        };
        let (live, inbox) = self.shared.hub.open(new).await.map_err(|e| match e {
            vigil_session::HubError::Store(s) => SshError::Store(s),
            other => SshError::Store(vigil_store::StoreError::Invalid {
                what: "session",
                why: other.to_string(),
            }),
        })?;
        live.event(EventKind::Authenticated, Some(&user.name), serde_json::json!({ "method": self.method, "client": self.shared.peer.to_string(), "requested": spec.to_string() })).await;
        let _ = self.shared.session.set(live);
        let task = tokio::spawn(crate::server::obey(Arc::clone(&self.shared), inbox));
        if let Ok(mut slot) = self.shared.control.lock() {
            *slot = Some(task);
        }
        Ok(())
    }

    async fn channel_open_session(
        &mut self,
        channel: Channel<Msg>,
        reply: ChannelOpenHandle,
        session: &mut Session,
    ) -> Result<(), Self::Error> {
        self.shared.set_handle(session.handle());
        reply.accept().await;
        self.shared.track_channel(channel.id(), false);
        if let Some(alive) = self.shared.alive() {
            tokio::spawn(crate::channel::run(
                Arc::clone(&self.shared),
                channel,
                alive,
            ));
        }
        Ok(())
    }

    async fn channel_open_direct_tcpip(
        &mut self,
        channel: Channel<Msg>,
        host_to_connect: &str,
        port_to_connect: u32,
        originator_address: &str,
        originator_port: u32,
        reply: ChannelOpenHandle,
        _session: &mut Session,
    ) -> Result<(), Self::Error> {
        let request = crate::forward::Request {
            host: host_to_connect.to_owned(),
            port: port_to_connect,
            origin: format!("{originator_address}:{originator_port}"),
        };
        if let Some(alive) = self.shared.alive() {
            tokio::spawn(crate::forward::run(
                Arc::clone(&self.shared),
                channel,
                reply,
                request,
                alive,
            ));
        }
        Ok(())
    }

    // russh keeps one "wants reply" flag per channel, set by the latest request, so a reply
    // sent later from another task can land on the wrong request. Requests we can answer at
    // once are therefore answered here, inside the session loop; only shell/exec/subsystem wait
    // for the target (channel.rs).

    #[allow(clippy::too_many_arguments)]
    async fn pty_request(
        &mut self,
        channel: ChannelId,
        _term: &str,
        _cols: u32,
        _rows: u32,
        _pix_width: u32,
        _pix_height: u32,
        _modes: &[(russh::Pty, u32)],
        session: &mut Session,
    ) -> Result<(), Self::Error> {
        // Replayed on the target when the program starts; a target refusal is reported then.
        session.channel_success(channel)?;
        Ok(())
    }

    async fn env_request(
        &mut self,
        channel: ChannelId,
        _name: &str,
        _value: &str,
        session: &mut Session,
    ) -> Result<(), Self::Error> {
        session.channel_success(channel)?;
        Ok(())
    }

    async fn x11_request(
        &mut self,
        channel: ChannelId,
        _single: bool,
        _protocol: &str,
        _cookie: &str,
        _screen: u32,
        session: &mut Session,
    ) -> Result<(), Self::Error> {
        session.channel_failure(channel)?;
        Ok(())
    }

    async fn agent_request(
        &mut self,
        _channel: ChannelId,
        _session: &mut Session,
    ) -> Result<bool, Self::Error> {
        // russh answers with failure when the client asked for a reply.
        Ok(false)
    }

    /// Called each time russh tops up an operator's window; the value is the window to grant
    /// next time. A congested connection is granted little, so operators slow down instead of
    /// filling memory (see `relay::operator_to_target`).
    fn adjust_window(&mut self, _channel: ChannelId, _current: u32) -> u32 {
        if self.shared.input_budget.congested() {
            crate::relay::InputBudget::SMALL_WINDOW
        } else {
            crate::server::WINDOW
        }
    }

    async fn tcpip_forward(
        &mut self,
        address: &str,
        port: &mut u32,
        _session: &mut Session,
    ) -> Result<bool, Self::Error> {
        self.shared.event(EventKind::ChannelRefused, serde_json::json!({ "kind": "remote-forward", "address": address, "port": *port, "reason": "remote forwarding is not allowed through the gateway" })).await;
        Ok(false)
    }

    async fn channel_open_x11(
        &mut self,
        _channel: Channel<Msg>,
        _address: &str,
        _port: u32,
        reply: ChannelOpenHandle,
        _session: &mut Session,
    ) -> Result<(), Self::Error> {
        drop(reply);
        Ok(())
    }
}
