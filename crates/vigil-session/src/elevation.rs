//! A login's elevation settings for one session (issue 12), taken when it starts like its
//! rules, and the evidence of what the gateway answered. The answering itself is the
//! responder's (`elevate.rs`).

use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use vigil_audit::elevation::Tool;
use vigil_core::{Account, EventKind, SudoInject};
use vigil_vault::Secret;

/// What a start-mode channel runs in place of the login shell: root's login shell, through
/// sudo by its system path (no alias, no `PATH`).
pub const START_COMMAND: &str = "/usr/bin/sudo -i";

/// A login's elevation for one session, taken when the session starts (like its rules).
pub struct Elevation {
    mode: SudoInject,
    login: String,
    target: String,
    sudo: Option<Secret>,
    su: Option<Secret>,
    /// sudo's prompt for the login, made once.
    sudo_prompt: String,
    ticket: Duration,
    /// The circuit breaker is open for the login (at the start, or tripped since).
    blocked: AtomicBool,
    /// Why on-demand answering is off for the rest of the session.
    off: Mutex<Option<String>>,
}

impl std::fmt::Debug for Elevation {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Elevation")
            .field("mode", &self.mode)
            .field("login", &self.login)
            .field("target", &self.target)
            .finish_non_exhaustive()
    }
}

impl Elevation {
    /// `sudo`: the password that answers sudo (the login's own unless a separate one is
    /// vaulted); `su`: root's, if vaulted.
    pub fn new(account: &Account, target: &str, sudo: Option<Secret>, su: Option<Secret>) -> Self {
        Elevation {
            mode: account.sudo_inject,
            login: account.login.clone(),
            target: target.to_owned(),
            sudo,
            su,
            sudo_prompt: format!("[sudo] password for {}: ", account.login),
            ticket: Duration::from_secs(u64::from(account.sudo_ticket_minutes) * 60),
            blocked: AtomicBool::new(account.sudo_blocked),
            off: Mutex::new(None),
        }
    }

    pub fn mode(&self) -> SudoInject {
        self.mode
    }

    /// How long an earlier sudo's credential may stay cached on a terminal.
    pub(crate) fn ticket(&self) -> Duration {
        self.ticket
    }

    pub fn is_blocked(&self) -> bool {
        self.blocked.load(Ordering::SeqCst)
    }

    /// The circuit breaker tripped: nothing more is answered for the login.
    pub(crate) fn block(&self) {
        self.blocked.store(true, Ordering::SeqCst);
    }

    /// Whether a shell channel opening now starts elevated (start mode, a password, not
    /// blocked), or why not when the login is set to.
    pub fn starts_elevated(&self) -> Result<bool, &'static str> {
        if self.mode != SudoInject::Start {
            return Ok(false);
        }
        if self.is_blocked() {
            return Err(
                "answering sudo is blocked for this login after the target rejected its vaulted password: an administrator must set its elevation again",
            );
        }
        if self.sudo.is_none() {
            return Err("no password is vaulted to answer sudo for this login");
        }
        Ok(true)
    }

    pub(crate) fn off_reason(&self) -> Option<String> {
        self.off.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }

    /// Turns on-demand answering off for the session; true the first time.
    pub(crate) fn turn_off(&self, why: &str) -> bool {
        let mut off = self.off.lock().unwrap_or_else(|p| p.into_inner());
        if off.is_some() {
            return false;
        }
        *off = Some(why.to_owned());
        true
    }

    pub(crate) fn secret(&self, tool: Tool) -> Option<&Secret> {
        match tool {
            Tool::Sudo => self.sudo.as_ref(),
            Tool::Su => self.su.as_ref(),
        }
    }

    pub(crate) fn prompt(&self, tool: Tool) -> &str {
        match tool {
            Tool::Sudo => &self.sudo_prompt,
            Tool::Su => "Password: ",
        }
    }
}

/// Evidence of the responder, for the session's evidence task (never a password).
#[derive(Debug)]
pub(crate) struct ElevationNote {
    pub(crate) kind: EventKind,
    pub(crate) detail: serde_json::Value,
    /// When it happened (its evidence may be written later).
    pub(crate) at: i64,
}

/// Writes one note of the responder. A rejection also counts for the login's circuit
/// breaker, in the same transaction; `blocked` says whether it tripped.
pub(crate) async fn record(
    store: &vigil_store::Store,
    session: &vigil_core::SessionId,
    elevation: Option<&Elevation>,
    note: &ElevationNote,
) -> Result<(), vigil_store::StoreError> {
    let mut detail = note.detail.clone();
    let mut tx = store.begin().await?;
    let mut subject = None;
    if note.kind == EventKind::ElevationRejected
        && let Some(e) = elevation
    {
        let blocked = tx
            .elevation_rejected(&e.target, &e.login, vigil_core::now_millis())
            .await?;
        if blocked {
            e.block();
        }
        detail["blocked"] = serde_json::Value::Bool(blocked);
        subject = Some(format!("{}@{}", e.login, e.target));
    }
    let mut evidence = vigil_core::Evidence::session(note.kind, session, None, detail);
    evidence.occurred_at = Some(note.at);
    if let Some(subject) = subject {
        // The administration log names the login whose password was rejected; the gateway
        // acted.
        evidence.subject = subject;
        evidence.actor = Some(vigil_core::SYSTEM_ACTOR.to_owned());
    }
    tx.record(evidence);
    tx.commit().await.map(|_| ())
}
