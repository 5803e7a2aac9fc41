//! Evidence: every session-log event and every administration-log entry, as one typed value
//! with a written spec. The store writes each one in the same transaction as the change it
//! records, into an ordered outbox that every consumer (the live event bus, the SIEM
//! forwarder, cluster peers) reads from its own cursor.
//!
//! The spec (`kinds!` below) is the one source of the kinds' names, the log each belongs to,
//! the detail keys each must carry and what it means; `docs/EVENTS.md` is generated from it
//! and a test keeps the two equal. The names are stable: they are stored and sent to SIEMs.

use crate::SessionId;

/// Which log shows an event.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Log {
    /// The session's timeline (Session logs in the console); the event names its session.
    Session,
    /// The administration log: who did what to users, targets, logins, grants, sessions and
    /// recordings; the event names its actor and `via` (how it reached Vigil).
    Admin,
    /// Both: something a person did to one session (a live viewing, a refused host key).
    Both,
}

impl Log {
    pub fn as_str(self) -> &'static str {
        match self {
            Log::Session => "session",
            Log::Admin => "admin",
            Log::Both => "both",
        }
    }
}

macro_rules! kinds {
    ($( $(#[doc = $doc:literal])+ $variant:ident = $name:literal, $log:ident, [$($key:literal),*]; )*) => {
        /// Kinds of evidence. See the module doc and `docs/EVENTS.md`.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        pub enum EventKind {
            $( $(#[doc = $doc])+ $variant, )*
        }

        impl EventKind {
            /// Every kind, in the order of the spec.
            pub const ALL: &'static [EventKind] = &[$(EventKind::$variant,)*];

            pub fn as_str(self) -> &'static str {
                match self { $(EventKind::$variant => $name,)* }
            }

            pub fn log(self) -> Log {
                match self { $(EventKind::$variant => Log::$log,)* }
            }

            /// Keys the event's detail always carries (others may be added).
            pub fn required_keys(self) -> &'static [&'static str] {
                match self { $(EventKind::$variant => &[$($key),*],)* }
            }

            /// What the event means, from the spec.
            pub fn meaning(self) -> &'static str {
                match self { $(EventKind::$variant => concat!($($doc),+),)* }
            }

            pub fn parse(s: &str) -> Option<EventKind> {
                match s { $($name => Some(EventKind::$variant),)* _ => None }
            }
        }
    };
}

kinds! {
    // --- the session log ---------------------------------------------------------------
    /// The operator proved who they are; `requested` is the SSH user name as typed.
    Authenticated = "authenticated", Session, ["method", "client", "requested"];
    /// The gateway logged in to the target with the vaulted credential.
    Connected = "connected", Session, ["target", "host", "port", "login"];
    /// The target could not be reached or refused the vaulted credential.
    ConnectFailed = "connect_failed", Session, ["target", "reason"];
    /// The target presented a host key other than the pinned one; nothing was sent to it.
    HostKeyMismatch = "host_key_mismatch", Both, ["target", "reason"];
    /// A channel opened: `kind` is shell, exec or subsystem; `channel` is the operator's
    /// channel number and `track` the recording track it is recorded in (null for a file
    /// transfer or SFTP, which are not recorded).
    ChannelOpened = "channel_opened", Session, ["kind", "channel", "track"];
    /// A channel or request the gateway refused, and why.
    ChannelRefused = "channel_refused", Session, ["kind", "reason"];
    /// A `-L` port forward opened (allowed by the grant).
    ForwardOpened = "forward_opened", Session, ["to", "from"];
    /// A file transfer channel (scp, rsync, SFTP): its bytes are counted and logged, not put
    /// in the terminal recording; `direction` is `upload`, `download` or `both` (SFTP).
    TransferOpened = "transfer_opened", Session, ["tool", "direction"];
    /// A transferred file passed every check of the session's transfer policy; it is
    /// delivered after this is written. `tool` scp or sftp, `path` on the target, `size` in
    /// bytes, `sha256` of the whole file, `took_ms` from its first byte to the decision.
    FileAllowed = "file_allowed", Session, ["tool", "direction", "path", "size", "sha256"];
    /// A transferred file was refused and nothing of it was delivered: `plugin` is the check
    /// that refused it (`spool` when the gateway could not hold it) and `reason` what the
    /// operator was told.
    FileRefused = "file_refused", Session, ["tool", "direction", "path", "plugin", "reason"];
    /// An allowed file did not reach the far side (the target could not write it, the
    /// operator's client refused it, the channel closed), and why.
    FileUndelivered = "file_undelivered", Session, ["tool", "direction", "path", "reason"];
    /// A change an SFTP client made on the target that is not a file's content, or a
    /// listing: `op` is list, mkdir, rmdir, remove, rename, symlink or setstat; `to` the
    /// new name (rename, symlink); `error` the target's refusal when it failed.
    SftpOperation = "sftp_operation", Session, ["op", "path"];
    /// A program an endpoint access policy names ran on a workstation (the session's target)
    /// and ended: `program` the wrapped path, `argv`, `cwd`, `tty`, `exit` its status (or
    /// `signal`), `record` whether it was recorded, `policies` the rules that applied,
    /// `known_user` false when no Vigil user has the workstation user's name (kept, and
    /// flagged in the console).
    EndpointRun = "endpoint_run", Session, ["program", "argv", "exit", "record"];
    /// One of a recorded run's two recordings (`object`: output or input) reached the server
    /// whole: `size` in bytes and `sha256` as the agent computed them and the server checked.
    EndpointUploaded = "endpoint_uploaded", Session, ["object", "size", "sha256"];
    /// The target's exit status or signal for a channel.
    ExitStatus = "exit_status", Session, ["channel"];
    /// The recording could not be written; the session ends (fail closed).
    RecordingFailed = "recording_failed", Session, ["error"];
    /// Someone started watching the session live (the operator is not told).
    LiveViewStarted = "live_view_started", Both, ["addr"];
    /// A live viewer left.
    LiveViewEnded = "live_view_ended", Both, ["addr"];
    /// Someone asked for the session to end; `ended` follows with `terminated_by`.
    TerminateRequested = "terminate_requested", Session, ["via"];
    /// The operator's input is dropped at the gateway from now on.
    Locked = "locked", Session, ["user"];
    /// The operator's input flows again; `input_dropped_bytes` were dropped meanwhile.
    Unlocked = "unlocked", Session, ["user", "input_dropped_bytes"];
    /// The session ended, with its reason and byte counts.
    Ended = "ended", Session, ["reason"];
    /// The gateway answered an elevation prompt with the vaulted password (never in the
    /// evidence): `tool` sudo or su, `mode` start or on-demand, `command` the line it
    /// answered for.
    ElevationSupplied = "elevation_supplied", Session, ["tool", "mode", "command"];
    /// An elevation prompt the gateway did not answer for an operator, and why (the line is
    /// not one plain sudo command, sudo's credential may still be cached, answering is off
    /// for the session or blocked for the login); the prompt reached the operator.
    ElevationNotAnswered = "elevation_not_answered", Session, ["tool", "command", "reason"];
    /// The target refused the vaulted elevation password ("Sorry, try again.", "su:
    /// Authentication failure"): the invocation was stopped and the login's password flagged;
    /// `blocked` says whether this tripped the circuit breaker.
    ElevationRejected = "elevation_rejected", Both, ["tool", "command", "blocked"];
    /// On-demand answering is off for the rest of the session: a line changed what `sudo`
    /// or `PATH` means, or ran unread.
    ElevationAnsweringOff = "elevation_answering_off", Session, ["reason", "command"];

    // --- the administration log ----------------------------------------------------------
    /// A sign-in to the gateway failed; the actor is the user name as typed.
    AuthFailed = "auth_failed", Admin, ["reason"];
    /// A user signed in to the console.
    ConsoleLogin = "console_login", Admin, ["addr"];
    /// An SSH sign-in was refused by the rate limit, without its credential being checked.
    SshLoginBlocked = "ssh_login_blocked", Admin, ["client", "wait_secs"];
    /// A console sign-in was refused by the rate limit.
    ConsoleLoginBlocked = "console_login_blocked", Admin, ["addr"];
    /// An administrator cleared a user name's or an address's failed sign-ins on a node
    /// (subject `user:NAME` or `addr:IP`), unblocking it at once.
    SignInLimitCleared = "sign_in_limit_cleared", Admin, ["failures", "node"];
    /// A console sign-in failed (wrong password or code, unknown or disabled user).
    ConsoleLoginFailed = "console_login_failed", Admin, ["addr", "reason"];
    /// A user signed out of the console.
    ConsoleLogout = "console_logout", Admin, ["addr"];
    /// A user was added.
    UserAdded = "user_added", Admin, ["role"];
    /// A user's role changed.
    UserRoleChanged = "user_role_changed", Admin, ["from", "to"];
    /// A user was disabled: no new sign-in or session; their console sessions end.
    UserDisabled = "user_disabled", Admin, [];
    /// A disabled user was enabled again.
    UserEnabled = "user_enabled", Admin, [];
    /// A user's password was set; their console sessions were signed out.
    PasswordChanged = "password_changed", Admin, [];
    /// An SSH public key was added to a user.
    UserKeyAdded = "user_key_added", Admin, ["fingerprint"];
    /// An SSH public key was removed from a user.
    UserKeyRemoved = "user_key_removed", Admin, ["key"];
    /// A TOTP second factor was enrolled.
    TotpEnrolled = "totp_enrolled", Admin, [];
    /// A TOTP second factor was removed.
    TotpRemoved = "totp_removed", Admin, [];
    /// A user locked by a session lock may start sessions again.
    UserReleased = "user_released", Admin, ["locked_by"];
    /// An API token was created (its value is never stored).
    ApiTokenCreated = "api_token_created", Admin, ["id"];
    /// An API token was revoked.
    ApiTokenRevoked = "api_token_revoked", Admin, [];
    /// A target was added, with the fingerprint of its pinned host key.
    TargetAdded = "target_added", Admin, ["host", "port", "host_key"];
    /// A target's host or port changed.
    TargetAddressChanged = "target_address_changed", Admin, ["from", "to"];
    /// A target was disabled: no new session reaches it.
    TargetDisabled = "target_disabled", Admin, [];
    /// A disabled target was enabled again.
    TargetEnabled = "target_enabled", Admin, [];
    /// A target was removed, with its logins and grants.
    TargetRemoved = "target_removed", Admin, ["host", "port"];
    /// A login with a vaulted credential was added to a target (subject `login@target`).
    AccountAdded = "account_added", Admin, ["kind"];
    /// A login's vaulted credential was replaced.
    AccountCredentialChanged = "account_credential_changed", Admin, ["kind"];
    /// A login's elevation settings changed: `sudo_inject` (off, start, on-demand) and
    /// whether a separate sudo or su credential was set, kept or removed (never the value).
    AccountElevationChanged = "account_elevation_changed", Admin, ["sudo_inject", "sudo_secret", "su_secret"];
    /// A login was removed from a target.
    AccountRemoved = "account_removed", Admin, [];
    /// A file-transfer policy was set (subject: the target, or `login@target`), replacing
    /// the one before: `policy` is the whole policy. Sessions that start from now on run
    /// under it.
    TransferPolicySet = "transfer_policy_set", Admin, ["policy"];
    /// A file-transfer policy was removed: its sessions fall back to the target's policy, or
    /// to the default (everything allowed, nothing inspected).
    TransferPolicyCleared = "transfer_policy_cleared", Admin, [];
    /// An enrolment token for a workstation's agent was made (shown once; only its SHA-256
    /// is kept): `expires_at` in Unix milliseconds.
    AgentTokenCreated = "agent_token_created", Admin, ["expires_at"];
    /// A workstation's agent enrolled with a token (subject: its host name); it is pending
    /// until an administrator approves it. `fingerprint` is its key's.
    AgentEnrolled = "agent_enrolled", Admin, ["machine_id", "fingerprint"];
    /// A workstation (the subject) was approved: its agent's uploads are accepted.
    AgentApproved = "agent_approved", Admin, ["fingerprint"];
    /// A workstation was removed: its agent can no longer sign in (its recordings stay).
    AgentRemoved = "agent_removed", Admin, ["fingerprint"];
    /// A workstation's agent (the subject) raised an alert: `alert` names it (`spool_full`:
    /// its recording spool is full and recorded programs are refused until it empties),
    /// `message` says it in words.
    AgentAlert = "agent_alert", Admin, ["alert", "message"];
    /// An endpoint access policy was added (subject: its name): `policy` is the whole rule.
    AgentPolicyAdded = "agent_policy_added", Admin, ["policy"];
    /// An endpoint access policy was enabled.
    AgentPolicyEnabled = "agent_policy_enabled", Admin, [];
    /// An endpoint access policy was disabled: kept, but it applies nowhere.
    AgentPolicyDisabled = "agent_policy_disabled", Admin, [];
    /// An endpoint access policy was removed: `policy` is the rule as it was.
    AgentPolicyRemoved = "agent_policy_removed", Admin, ["policy"];
    /// A user (the subject) was granted access to a target, or to one login on it.
    AccessGranted = "access_granted", Admin, ["grant", "target"];
    /// A grant (the subject) was revoked.
    AccessRevoked = "access_revoked", Admin, [];
    /// Someone ended a live session (the session log has `terminate_requested`).
    SessionTerminated = "session_terminated", Admin, ["user"];
    /// Someone locked a session's operator input.
    SessionLocked = "session_locked", Admin, ["user"];
    /// Someone unlocked a session's operator input.
    SessionUnlocked = "session_unlocked", Admin, ["user"];
    /// A session was kept from the retention purge, with the justification.
    SessionPreventPurge = "session_prevent_purge", Admin, ["reason"];
    /// A session may be purged again.
    SessionPreventPurgeLifted = "session_prevent_purge_lifted", Admin, ["was"];
    /// A session's auditors were set.
    SessionAuditorsSet = "session_auditors_set", Admin, ["before", "after"];
    /// A recording was played in the console.
    RecordingPlayed = "recording_played", Admin, ["track"];
    /// A recording was downloaded from the console.
    RecordingDownloaded = "recording_downloaded", Admin, ["track"];
    /// A recording was exported with the CLI.
    RecordingExported = "recording_exported", Admin, ["track"];
    /// Someone downloaded a transferred file the policy kept with the session.
    KeptFileDownloaded = "kept_file_downloaded", Admin, ["path", "sha256"];
    /// Session evidence a node held while its store was unreachable and could not write:
    /// `count` pieces (more than it can hold, or refused by the store when it returned).
    EvidenceLost = "evidence_lost", Admin, ["count"];
    /// A node (the subject) joined the cluster, or rejoined it after a restart: `url` is
    /// where its peers reach it, `version` the Vigil it runs.
    NodeJoined = "node_joined", Admin, ["url", "version"];
    /// A node (the subject) stopped heartbeating and was marked down by the node that saw it
    /// (the actor is `system`, `node` names the observer): `last_heartbeat` in Unix
    /// milliseconds, `interrupted` the sessions it had open, now closed as interrupted.
    NodeDown = "node_down", Admin, ["last_heartbeat", "interrupted", "node"];
    /// A node (the subject) left the cluster by shutting down cleanly.
    NodeLeft = "node_left", Admin, [];
    /// An administrator removed a node that is not up from the list (it may join again).
    NodeRemoved = "node_removed", Admin, ["state"];
    /// A session's recording and log were purged, by the retention job or a person.
    /// `tombstone`: each track's state when it went (verdict, links, sealed), signed with the
    /// purging node's recording key, so a purged recording is told apart from a missing one.
    SessionPurged = "session_purged", Admin, ["retention_days", "user", "target", "tombstone"];
    /// An audited-command rule was added: its pattern (`kind`: regex, command or class),
    /// score, action and scope. It applies to sessions that start from now on.
    RuleAdded = "rule_added", Admin, ["kind", "pattern", "score", "action", "scope"];
    /// An audited-command rule was edited, enabled or disabled: the rule `before` and
    /// `after`. Running sessions keep the rules they started with.
    RuleChanged = "rule_changed", Admin, ["before", "after"];
    /// An audited-command rule was removed (`rule`: what it was).
    RuleRemoved = "rule_removed", Admin, ["rule"];
    /// A command the operator ran (or tried to): `command` as lexed, `source` (exec request,
    /// shell buffer, typed line, screen), the rules it matched with their scores, the `score`
    /// it added to the session, and the `action` taken (none, alert, prohibit, interrupt,
    /// deactivate).
    CommandDetected = "command_detected", Session, ["command", "source", "rules", "score", "action"];
}

/// The actor of what a node does by itself (the retention job).
pub const SYSTEM_ACTOR: &str = "system";

/// One piece of evidence, before the store gives it its place in the outbox.
#[derive(Debug, Clone, PartialEq)]
pub struct Evidence {
    pub kind: EventKind,
    /// The session the event is about: set for every session-log event, and for
    /// administration entries about a session.
    pub session: Option<SessionId>,
    /// Who acted: a user name, `system`, or none for what the operator's own connection did
    /// (the session names its user).
    pub actor: Option<String>,
    /// What the event is about: a user, target or session name or id.
    pub subject: String,
    /// Details: an object carrying at least [`EventKind::required_keys`].
    pub detail: serde_json::Value,
    /// When it happened, for evidence written later than it happened (kept while the store
    /// was unreachable); `None`: when it is committed.
    pub occurred_at: Option<i64>,
}

impl Evidence {
    /// A session-log event.
    pub fn session(
        kind: EventKind,
        session: &SessionId,
        actor: Option<&str>,
        detail: serde_json::Value,
    ) -> Evidence {
        Evidence {
            kind,
            session: Some(session.clone()),
            actor: actor.map(str::to_owned),
            subject: session.0.clone(),
            detail,
            occurred_at: None,
        }
    }

    /// An administration-log entry: `actor` did `kind` to `subject`.
    pub fn admin(
        kind: EventKind,
        actor: &str,
        subject: &str,
        detail: serde_json::Value,
    ) -> Evidence {
        Evidence {
            kind,
            session: None,
            actor: Some(actor.to_owned()),
            subject: subject.to_owned(),
            detail,
            occurred_at: None,
        }
    }

    /// The same entry, about a session as well.
    pub fn about(mut self, session: &SessionId) -> Evidence {
        self.session = Some(session.clone());
        self
    }

    /// What the spec requires that this event lacks: required detail keys, the session of a
    /// session-log event, the actor of an administration entry. Empty when it is complete.
    pub fn missing(&self) -> Vec<&'static str> {
        let mut missing: Vec<&'static str> = self
            .kind
            .required_keys()
            .iter()
            .copied()
            .filter(|k| self.detail.get(k).is_none())
            .collect();
        let log = self.kind.log();
        if matches!(log, Log::Session | Log::Both) && self.session.is_none() {
            missing.push("session");
        }
        if matches!(log, Log::Admin | Log::Both) {
            if self.actor.as_deref().is_none_or(str::is_empty) {
                missing.push("actor");
            }
            if self.kind.log() == Log::Admin && self.detail.get("via").is_none() {
                missing.push("via");
            }
        }
        if !self.detail.is_object() {
            missing.push("detail (an object)");
        }
        missing
    }
}

/// `docs/EVENTS.md`'s table of kinds, as the spec says it (a test compares the two).
pub fn spec_markdown() -> String {
    let mut out =
        String::from("| kind | log | detail keys always present | meaning |\n|---|---|---|---|\n");
    for kind in EventKind::ALL {
        let keys: Vec<String> = kind
            .required_keys()
            .iter()
            .map(|k| format!("`{k}`"))
            .collect();
        out.push_str(&format!(
            "| `{}` | {} | {} | {} |\n",
            kind.as_str(),
            kind.log().as_str(),
            if keys.is_empty() {
                "-".to_owned()
            } else {
                keys.join(", ")
            },
            kind.meaning().trim()
        ));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_unique_and_parse_back() {
        let mut seen = std::collections::HashSet::new();
        for kind in EventKind::ALL {
            assert!(seen.insert(kind.as_str()), "{} twice", kind.as_str());
            assert_eq!(EventKind::parse(kind.as_str()), Some(*kind));
            assert!(!kind.meaning().trim().is_empty());
        }
    }

    #[test]
    fn missing_names_what_the_spec_requires() {
        let id = SessionId("s1".into());
        let table: &[(Evidence, &[&str])] = &[
            (
                Evidence::session(
                    EventKind::Locked,
                    &id,
                    Some("ann"),
                    serde_json::json!({"user": "bob"}),
                ),
                &[],
            ),
            (
                Evidence::session(
                    EventKind::Unlocked,
                    &id,
                    Some("ann"),
                    serde_json::json!({"user": "bob"}),
                ),
                &["input_dropped_bytes"],
            ),
            (
                Evidence::admin(
                    EventKind::UserAdded,
                    "",
                    "bob",
                    serde_json::json!({"role": "operator", "via": "cli"}),
                ),
                &["actor"],
            ),
            (
                Evidence::admin(
                    EventKind::UserAdded,
                    "ann",
                    "bob",
                    serde_json::json!({"role": "operator"}),
                ),
                &["via"],
            ),
            (
                Evidence::admin(
                    EventKind::UserDisabled,
                    "ann",
                    "bob",
                    serde_json::json!(null),
                ),
                &["via", "detail (an object)"],
            ),
            (
                Evidence::session(
                    EventKind::LiveViewStarted,
                    &id,
                    None,
                    serde_json::json!({"addr": "::1"}),
                ),
                &["actor"],
            ),
        ];
        for (ev, want) in table {
            assert_eq!(ev.missing(), *want, "{ev:?}");
        }
        let mut orphan = Evidence::session(
            EventKind::Ended,
            &id,
            None,
            serde_json::json!({"reason": "x"}),
        );
        orphan.session = None;
        assert_eq!(orphan.missing(), vec!["session"]);
    }
}
