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
use vigil_audit::line::{LineTracker, Submitted};
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
}

/// What cancels the line in the target's shell: interrupt (bash, dash, zsh all return to a
/// fresh prompt).
const CANCEL: &[u8] = b"\x03";

impl ShellStage {
    pub(crate) fn new(rules: CommandRules, evidence: mpsc::UnboundedSender<Decided>) -> Self {
        ShellStage {
            tracker: LineTracker::new(),
            rules,
            evidence,
        }
    }

    /// The actions for one submit key: the key itself, or the cancel and the notice.
    fn decide(&mut self, text: String, exact: bool, key: Bytes, out: &mut Vec<Action>) {
        let source = if exact {
            Source::TypedLine
        } else {
            Source::TypedLineInexact
        };
        let decision = self.rules.decide(&text);
        out.push(Action::Mark(marker(&text, &decision)));
        let v = verdict(&text, decision.clone());
        let _ = self.evidence.send(Decided {
            line: text,
            source,
            decision,
        });
        if v.run {
            out.push(Action::Forward(key));
            return;
        }
        out.push(Action::Inject(Bytes::from_static(CANCEL)));
        let notice = v.notice.unwrap_or_else(|| "vigil: command refused".into());
        match v.end {
            Some(reason) => out.push(Action::End { reason, notice }),
            None => out.push(Action::Tell(notice)),
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
                Submitted::Line { text, exact } => self.decide(text, exact, key, &mut out),
                Submitted::Unechoed { .. } | Submitted::Empty => out.push(Action::Forward(key)),
            }
        }
        if start < data.len() {
            out.push(Action::Forward(data.slice(start..)));
        }
        out
    }

    fn on_output(&mut self, data: Bytes) -> Vec<Action> {
        self.tracker.output(&data);
        vec![Action::Forward(data)]
    }
}
