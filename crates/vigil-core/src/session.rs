//! Session lifecycle and the vocabulary of the session log.

use std::fmt;
use std::time::{SystemTime, UNIX_EPOCH};

/// Milliseconds since the Unix epoch: the one time unit stored everywhere.
pub fn now_millis() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
        .unwrap_or(0)
}

/// Session ids are UUIDv7: unique across nodes and sortable by start time.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct SessionId(pub String);

impl SessionId {
    pub fn new() -> Self {
        SessionId(uuid::Uuid::now_v7().to_string())
    }
}

impl Default for SessionId {
    fn default() -> Self {
        Self::new()
    }
}

impl fmt::Display for SessionId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// `authenticating → connecting → active ⇄ locked → closed(reason)`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SessionStatus {
    Connecting,
    Active,
    Locked,
    Closed,
}

impl SessionStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            SessionStatus::Connecting => "connecting",
            SessionStatus::Active => "active",
            SessionStatus::Locked => "locked",
            SessionStatus::Closed => "closed",
        }
    }
    pub fn parse(s: &str) -> Option<Self> {
        [Self::Connecting, Self::Active, Self::Locked, Self::Closed]
            .into_iter()
            .find(|v| v.as_str() == s)
    }
}

/// Why a session ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EndReason {
    OperatorExit,
    TargetClosed,
    TerminatedBy(String),
    IdleTimeout,
    NodeShutdown,
    /// Found open by a node that restarted: the process that owned it died.
    Interrupted,
    /// A stage of the session's policy ended it (a refused transfer, ...).
    Policy(String),
    /// An audited command whose rule interrupts (or deactivates): the rule's name.
    CommandAction(String),
    Error(String),
}

impl fmt::Display for EndReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            EndReason::OperatorExit => f.write_str("operator_exit"),
            EndReason::TargetClosed => f.write_str("target_closed"),
            EndReason::TerminatedBy(who) => write!(f, "terminated_by({who})"),
            EndReason::IdleTimeout => f.write_str("idle_timeout"),
            EndReason::NodeShutdown => f.write_str("node_shutdown"),
            EndReason::Interrupted => f.write_str("interrupted"),
            EndReason::Policy(why) => write!(f, "policy({why})"),
            EndReason::CommandAction(rule) => write!(f, "command_action({rule})"),
            EndReason::Error(e) => write!(f, "error({e})"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reasons_print_stably() {
        assert_eq!(
            EndReason::TerminatedBy("admin".into()).to_string(),
            "terminated_by(admin)"
        );
        assert_eq!(EndReason::OperatorExit.to_string(), "operator_exit");
        for s in [SessionStatus::Active, SessionStatus::Closed] {
            assert_eq!(SessionStatus::parse(s.as_str()), Some(s));
        }
    }

    #[test]
    fn session_ids_sort_by_creation() {
        let a = SessionId::new();
        let b = SessionId::new();
        assert!(a < b);
    }
}
