//! One operator connection: russh's handler (authentication, channel opens) and the state its
//! channel tasks share.

use std::sync::Arc;

use russh::server::{self, Auth, ChannelOpenHandle, Msg, Response, Session};
use russh::{Channel, ChannelId, ChannelOpenFailure, MethodKind, MethodSet};
use vigil_core::{EventKind, LoginSpec, User};
use vigil_store::NewSession;

use crate::SshError;
use crate::auth::{Authenticator, Factor};
use crate::shared::{InputBudget, Shared};

/// What an operator is told when the gateway cannot reach its database.
pub(crate) const STORE_AWAY: &str = "vigil: this gateway cannot reach its database, so no session can start now (it could not be recorded). Try again in a few minutes; if it lasts, tell the Vigil administrators.\r\n";

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
            limiter: self.shared.hub.sign_ins(),
        }
    }

    fn accept(&mut self, raw_user: &str, user: User, method: &'static str) -> Auth {
        match LoginSpec::parse(raw_user) {
            Ok(spec) => {
                let _ = self.shared.spec.set(spec);
                let _ = self.shared.user.set(user);
                self.shared.release_pre_auth();
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

    /// Before sign-in: when the store does not answer, say so (no session could start, and
    /// nothing would be recorded), instead of leaving the operator with "Permission denied".
    async fn authentication_banner(&mut self) -> Result<Option<String>, Self::Error> {
        let ping = self.shared.hub.store().ping();
        match tokio::time::timeout(std::time::Duration::from_secs(3), ping).await {
            Ok(Ok(())) => Ok(None),
            Ok(Err(e)) => {
                tracing::error!(peer = %self.shared.peer, error = %e, "the store does not answer: sign-ins are refused");
                Ok(Some(STORE_AWAY.into()))
            }
            Err(_) => Ok(Some(STORE_AWAY.into())),
        }
    }

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
        let task = tokio::spawn(crate::control::obey(Arc::clone(&self.shared), inbox));
        self.shared.set_control(task);
        Ok(())
    }

    async fn channel_open_session(
        &mut self,
        channel: Channel<Msg>,
        reply: ChannelOpenHandle,
        session: &mut Session,
    ) -> Result<(), Self::Error> {
        self.shared.set_handle(session.handle());
        let Some(slot) = self.shared.channel_slot("session").await else {
            reply.reject(ChannelOpenFailure::ResourceShortage).await;
            return Ok(());
        };
        reply.accept().await;
        self.shared.track_channel(channel.id(), false);
        if let Some(alive) = self.shared.alive() {
            let shared = Arc::clone(&self.shared);
            tokio::spawn(async move {
                crate::channel::run(shared, channel, alive).await;
                drop(slot);
            });
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
        let Some(slot) = self.shared.channel_slot("direct-tcpip").await else {
            reply.reject(ChannelOpenFailure::ResourceShortage).await;
            return Ok(());
        };
        if let Some(alive) = self.shared.alive() {
            let shared = Arc::clone(&self.shared);
            tokio::spawn(async move {
                crate::forward::run(shared, channel, reply, request, alive).await;
                drop(slot);
            });
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
            InputBudget::SMALL_WINDOW
        } else {
            crate::settings::WINDOW
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
