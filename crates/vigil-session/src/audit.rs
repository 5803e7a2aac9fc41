//! Audited commands in a session: the rules it started with, and what a decided command does
//! to the session (its log, its risk score, its recording, the user's account, its end).
//! The decision itself is `vigil-audit`'s, I/O-free; this is where it takes effect.

use std::sync::Arc;

use vigil_audit::rules::{Action, Decision, RuleSet, Where};
use vigil_core::{EndReason, EventKind, Evidence, SYSTEM_ACTOR, SessionId};
use vigil_store::{Store, StoreError};

/// The audited-command rules of one session: the compiled set as it was when the session
/// started (later changes reach the next session only), and who runs it where.
#[derive(Clone, Default)]
pub struct CommandRules {
    rules: Arc<RuleSet>,
    at: Where,
    unreadable: Unreadable,
}

/// What happens to an interactive line no exact source could read (edited with keys the
/// gateway cannot follow, at a shell without the line query) while a rule could stop it:
/// `unreadable_lines` in `vigil.toml`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Unreadable {
    /// It does not run; the operator is told to type it out (fail closed, the default).
    #[default]
    Refuse,
    /// It runs, decided on what was typed, and is logged as `typed-line-inexact`.
    Allow,
}

impl Unreadable {
    pub fn parse(s: &str) -> Option<Unreadable> {
        match s {
            "refuse" => Some(Unreadable::Refuse),
            "allow" => Some(Unreadable::Allow),
            _ => None,
        }
    }
}

impl CommandRules {
    pub fn new(rules: Arc<RuleSet>, at: Where) -> CommandRules {
        CommandRules {
            rules,
            at,
            unreadable: Unreadable::default(),
        }
    }

    pub fn with_unreadable(mut self, unreadable: Unreadable) -> CommandRules {
        self.unreadable = unreadable;
        self
    }

    /// Whether a line no exact source could read is refused (see [`Unreadable`]).
    pub fn refuses_unreadable(&self) -> bool {
        self.unreadable == Unreadable::Refuse && self.can_stop()
    }

    pub fn decide(&self, line: &str) -> Decision {
        self.rules.decide(line, &self.at)
    }

    /// Whether a rule of this session can keep a command from running.
    pub fn can_stop(&self) -> bool {
        self.rules.can_stop(&self.at)
    }

    pub fn user(&self) -> &str {
        &self.at.user
    }
}

/// Where a command line was read from (`source` in the session log).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Source {
    /// The command of an exec request: exact.
    Exec,
    /// An interactive line rebuilt from the keys typed, with only erase/kill editing: what
    /// a shell without a line editor runs.
    TypedLine,
    /// An interactive line in which cursor keys, recall or completion were used: what the
    /// shell runs may differ.
    TypedLineInexact,
    /// Such a line while a rule could stop it: it did not run (fail closed); the command
    /// logged is what was typed, not necessarily what the shell had.
    Unreadable,
    /// bash's own line buffer, answered through the query the gateway installed
    /// (`vigil_audit::query`): exact after edits, recall, completion and pastes.
    ShellQuery,
    /// A line of the input of a shell without a terminal (`ssh host bash`): exact.
    StdinLine,
    /// The line as the screen showed it (edited with keys the gateway cannot follow, at a
    /// shell it cannot ask): what the shell displays, after its prompt.
    Screen,
}

impl Source {
    /// Whether the line is what the shell runs (as far as the gateway can know).
    pub fn is_exact(self) -> bool {
        !matches!(self, Source::TypedLineInexact | Source::Unreadable)
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Source::Exec => "exec",
            Source::TypedLine => "typed-line",
            Source::TypedLineInexact => "typed-line-inexact",
            Source::Unreadable => "unreadable",
            Source::ShellQuery => "shell-query",
            Source::StdinLine => "stdin-line",
            Source::Screen => "screen",
        }
    }
}

/// What the adapter does with a decided command.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CommandVerdict {
    /// Whether the command may run.
    pub run: bool,
    /// What the operator is told (none when the command runs unnoticed).
    pub notice: Option<String>,
    /// The session ends with this reason.
    pub end: Option<EndReason>,
    pub decision: Decision,
}

/// Writes what a decided command means, in one transaction: the `command_detected` event,
/// the session's new risk score and, for `deactivate`, the user's disabled account with its
/// administration-log entry. Returns what the adapter must do. A store failure is returned:
/// a command whose evidence cannot be written does not run.
pub(crate) async fn take_effect(
    store: &Store,
    session: &SessionId,
    rules: &CommandRules,
    line: &str,
    source: Source,
) -> Result<CommandVerdict, StoreError> {
    let decision = rules.decide(line);
    record(store, session, rules.user(), line, source, &decision, None).await?;
    Ok(verdict(line, decision))
}

/// What the adapter does with a decided line.
pub(crate) fn verdict(line: &str, decision: Decision) -> CommandVerdict {
    let rule = decision.rule.clone().unwrap_or_default();
    let (run, notice, end) = match decision.action {
        None | Some(Action::Alert) => (true, None, None),
        Some(Action::Prohibit) => (
            false,
            Some(format!("vigil: command refused by rule {rule}: {line}")),
            None,
        ),
        Some(Action::Interrupt) => (
            false,
            Some(format!(
                "vigil: the session was ended: rule {rule} does not allow {line}"
            )),
            Some(EndReason::CommandAction(rule.clone())),
        ),
        Some(Action::Deactivate) => (
            false,
            Some(format!(
                "vigil: the session was ended and your account disabled: rule {rule} does not allow {line}; ask an administrator"
            )),
            Some(EndReason::CommandAction(rule.clone())),
        ),
    };
    CommandVerdict {
        run,
        notice,
        end,
        decision,
    }
}

/// The marker that names a decided line in the recording.
pub(crate) fn marker(line: &str, d: &Decision) -> String {
    match (&d.rule, d.action) {
        (Some(rule), Some(action)) => format!(
            "command: {line} (rule {rule}, +{}, {})",
            d.score,
            action.as_str()
        ),
        _ => format!("command: {line}"),
    }
}

/// Writes a decided line's evidence (see [`take_effect`]).
pub(crate) async fn record(
    store: &Store,
    session: &SessionId,
    user: &str,
    line: &str,
    source: Source,
    decision: &Decision,
    occurred_at: Option<i64>,
) -> Result<(), StoreError> {
    let hits: Vec<serde_json::Value> = decision
        .commands
        .iter()
        .flat_map(|c| {
            c.hits.iter().map(move |h| {
                serde_json::json!({ "command": c.command, "rule": h.rule, "score": h.score, "action": h.action.as_str() })
            })
        })
        .collect();
    let commands: Vec<&str> = decision
        .commands
        .iter()
        .map(|c| c.command.as_str())
        .collect();
    let classes: Vec<&str> = decision
        .commands
        .iter()
        .flat_map(|c| c.classes.iter().map(|k| k.as_str()))
        .collect();
    let action = decision.action;
    let rule = decision.rule.clone().unwrap_or_default();
    let mut tx = store.begin().await?;
    let risk = if decision.score > 0 {
        Some(
            tx.add_session_risk(session, i64::from(decision.score))
                .await?,
        )
    } else {
        None
    };
    let mut evidence = Evidence::session(
        EventKind::CommandDetected,
        session,
        None,
        serde_json::json!({
            "command": line,
            "commands": commands,
            "classes": classes,
            "source": source.as_str(),
            "rules": hits,
            "score": decision.score,
            "risk": risk,
            "action": action.map_or("none", Action::as_str),
        }),
    );
    evidence.occurred_at = occurred_at;
    tx.record(evidence);
    if action == Some(Action::Deactivate) {
        tx.set_user_disabled(user, true).await?;
        tx.record(Evidence::admin(
            EventKind::UserDisabled,
            SYSTEM_ACTOR,
            user,
            serde_json::json!({ "reason": format!("command_action({rule})"), "rule": rule, "session": session.0, "command": line, "via": "node" }),
        ));
    }
    tx.commit().await.map(|_| ())
}

/// Rules for the stages' unit tests: `(name, command prefix, score, action)`, everywhere, for
/// alice as root on web.
#[cfg(test)]
pub(crate) fn command_rules(rules: &[(&str, &str, u32, Action)]) -> CommandRules {
    use vigil_audit::rules::{Pattern, Rule, Scope};
    let rules = rules
        .iter()
        .map(|(name, command, score, action)| Rule {
            name: (*name).into(),
            pattern: Pattern::Command((*command).into()),
            score: *score,
            action: *action,
            enabled: true,
            scope: Scope::default(),
        })
        .collect();
    let at = Where {
        target: "web".into(),
        login: "root".into(),
        user: "alice".into(),
    };
    let set = RuleSet::compile(rules).unwrap_or_else(|e| panic!("test rules: {e}"));
    CommandRules::new(Arc::new(set), at)
}
