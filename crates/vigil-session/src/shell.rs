//! The audited-command stage of a terminal channel: it follows the line being typed
//! (`vigil_audit::line`), holds each submit key until the line is decided (a synchronous
//! decision against the session's compiled rules: microseconds, no round trip), and lets it
//! through, or cancels the line in the target's shell (Ctrl-C: it returns to a fresh prompt)
//! and tells the operator which rule stopped it. Evidence is written by the session's
//! evidence task, after the decision and in order.
//!
//! What it is not: exact for lines edited with cursor keys, recall or completion (their
//! source says so: `typed-line-inexact`), and blind to what programs run by themselves;
//! see `vigil_audit::line` and `vigil_audit::command`.

use bytes::Bytes;
use tokio::sync::mpsc;
use vigil_audit::line::{Echo, LineTracker, Submitted, echoed};
use vigil_core::SessionId;
use vigil_store::Store;

use crate::audit::{CommandRules, Source, marker, record, verdict};
use crate::stage::{Action, Stage};

/// What the evidence task writes for a decided line.
pub(crate) struct Decided {
    line: String,
    source: Source,
    decision: vigil_audit::rules::Decision,
}

/// Starts the task that writes decided lines' evidence for one session, in order.
pub(crate) fn evidence_task(
    store: Store,
    session: SessionId,
    user: String,
) -> mpsc::UnboundedSender<Decided> {
    let (tx, mut rx) = mpsc::unbounded_channel::<Decided>();
    tokio::spawn(async move {
        while let Some(d) = rx.recv().await {
            if let Err(e) = record(&store, &session, &user, &d.line, d.source, &d.decision).await {
                tracing::error!(session = %session, error = %e, "cannot write a detected command");
            }
        }
    });
    tx
}

pub(crate) struct ShellStage {
    tracker: LineTracker,
    rules: CommandRules,
    evidence: mpsc::UnboundedSender<Decided>,
    /// A line typed and submitted in one chunk: logged once the output after it says
    /// whether the terminal echoed it (a command) or not (a secret at a prompt).
    unconfirmed: Option<(Decided, String)>,
}

/// What cancels the line in the target's shell: interrupt (bash, dash, zsh all return to a
/// fresh prompt).
const CANCEL: &[u8] = b"\x03";

/// What the operator is told when a line cannot be read exactly while rules could stop it.
const UNREADABLE: &str = "vigil: this line was edited with keys the gateway cannot follow (history, completion or cursor keys) and audited-command rules apply: type it out in full";

impl ShellStage {
    pub(crate) fn new(rules: CommandRules, evidence: mpsc::UnboundedSender<Decided>) -> Self {
        ShellStage {
            tracker: LineTracker::new(),
            rules,
            evidence,
            unconfirmed: None,
        }
    }

    /// The actions for one submit key: the key itself, or the cancel and the notice. Every
    /// line is decided; only its logging depends on its echo.
    fn decide(&mut self, text: String, exact: bool, echo: Echo, key: Bytes, out: &mut Vec<Action>) {
        self.settle_unconfirmed(false, out);
        let decision = self.rules.decide(&text);
        // A line edited with keys the gateway cannot follow (history, completion, cursor)
        // may not be what the shell runs: while a rule could stop it, it does not run
        // unread (fail closed); the operator types it out.
        let unreadable = !exact && self.rules.can_stop();
        let source = match (unreadable, exact) {
            (true, _) => Source::Unreadable,
            (false, true) => Source::TypedLine,
            (false, false) => Source::TypedLineInexact,
        };
        let v = verdict(&text, decision.clone());
        let decided = Decided {
            line: text,
            source,
            decision,
        };
        match echo {
            Echo::Shown => self.log(decided, out),
            Echo::NotShown => self.log_secret(decided, out),
            Echo::Unknown => self.unconfirmed = Some((decided, String::new())),
        }
        if unreadable {
            out.push(Action::Inject(Bytes::from_static(CANCEL)));
            out.push(Action::Tell(UNREADABLE.into()));
            return;
        }
        if v.run {
            out.push(Action::Forward(key));
            return;
        }
        out.push(Action::Inject(Bytes::from_static(CANCEL)));
        let notice = v.notice.unwrap_or_else(|| "vigil: command refused".into());
        match v.end {
            Some(reason) => {
                // The session ends now: its evidence cannot wait for an echo.
                self.settle_unconfirmed(true, out);
                out.push(Action::End { reason, notice })
            }
            None => out.push(Action::Tell(notice)),
        }
    }

    fn log(&self, d: Decided, out: &mut Vec<Action>) {
        out.push(Action::Mark(marker(&d.line, &d.decision)));
        let _ = self.evidence.send(d);
    }

    /// A line the terminal did not show: its text is never logged. Only a line a rule hit,
    /// or one refused unread, is evidence, with its length in place of its text.
    fn log_secret(&self, mut d: Decided, out: &mut Vec<Action>) {
        if d.decision.action.is_none() && d.source != Source::Unreadable {
            return;
        }
        d.line = format!(
            "[a line typed without echo, {} chars]",
            d.line.chars().count()
        );
        for c in &mut d.decision.commands {
            c.command = d.line.clone();
        }
        self.log(d, out);
    }

    /// Logs the unconfirmed line: as a command when `shown` (or when it cannot wait), else
    /// as a secret.
    fn settle_unconfirmed(&mut self, shown: bool, out: &mut Vec<Action>) {
        if let Some((d, _)) = self.unconfirmed.take() {
            if shown {
                self.log(d, out);
            } else {
                self.log_secret(d, out);
            }
        }
    }
}

impl Stage for ShellStage {
    fn on_input(&mut self, data: Bytes) -> Vec<Action> {
        let submits = self.tracker.input(&data);
        if submits.is_empty() {
            return vec![Action::Forward(data)];
        }
        let mut out = Vec::new();
        let mut start = 0;
        for s in submits {
            if s.at > start {
                out.push(Action::Forward(data.slice(start..s.at)));
            }
            let key = data.slice(s.at..s.at + 1);
            start = s.at + 1;
            match s.what {
                Submitted::Line { text, exact, echo } => {
                    self.decide(text, exact, echo, key, &mut out)
                }
                Submitted::Empty => out.push(Action::Forward(key)),
            }
        }
        if start < data.len() {
            out.push(Action::Forward(data.slice(start..)));
        }
        out
    }

    fn on_output(&mut self, data: Bytes) -> Vec<Action> {
        self.tracker.output(&data);
        let mut out = Vec::new();
        if let Some((d, seen)) = &mut self.unconfirmed {
            seen.push_str(&String::from_utf8_lossy(&data));
            match echoed(&d.line, seen) {
                Some(shown) => self.settle_unconfirmed(shown, &mut out),
                None if seen.len() > 4096 => self.settle_unconfirmed(false, &mut out),
                None => {}
            }
        }
        // The marker comes before the output that follows the line.
        out.push(Action::Forward(data));
        out
    }
}
