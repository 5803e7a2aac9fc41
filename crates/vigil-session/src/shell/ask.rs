//! The shell query at work on one channel (see `vigil_audit::query`): typing its setup,
//! following bash's prompts, asking at Enter and deciding on the answer, and ending it when a
//! line could have changed it.

use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use bytes::Bytes;
use vigil_audit::line::ends_with_prompt;
use vigil_audit::query::{QUERY_KEY, Reply, setup_line};

use super::{ShellStage, Typed};
use crate::audit::{Source, marker};
use crate::shell::Decided;
use crate::stage::{Action, Decider, Hold};

/// How long the output must have been quiet before the setup is typed (the shell is at its
/// first prompt, not printing a banner).
const QUIET_BEFORE_SETUP: Duration = Duration::from_millis(150);

/// How long the setup's answer is waited for before the shell is taken for one without it.
pub(super) const SETUP_WAIT: Duration = Duration::from_secs(2);

/// Queries in a row without an answer after which a channel stops asking.
const MAX_MISSES: u32 = 3;

/// The query's state on one channel.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Query {
    /// Not typed yet: waiting for the first key after a quiet screen.
    NotInstalled,
    SettingUp(Instant),
    /// The shell (bash or zsh) answers line queries.
    Asking,
    /// Not bash, or bash stopped answering: typed lines only.
    Absent,
}

/// An Enter held while bash is asked for its buffer.
pub(super) struct Asked {
    pub(super) decider: Decider,
    pub(super) typed: String,
    pub(super) exact: bool,
    pub(super) tail: String,
    pub(super) key: Bytes,
    /// When bash was asked: the answer's round trip teaches the wait.
    pub(super) at: Instant,
}

impl ShellStage {
    /// Holds the key and asks bash for its buffer; if bash does not answer in time, the
    /// typed line decides.
    pub(super) fn ask(&mut self, s: Typed, key: Bytes, out: &mut Vec<Action>) {
        self.settle_unconfirmed(false, out);
        self.at_prompt = false;
        // After a gateway cancel, bash's buffer may hold keys the typed line does not show:
        // should bash not answer, its keys are a guess (a shell without the query, such as
        // a nested bash, has only its keys and keeps deciding by them).
        let exact = s.exact && !self.unsure_buffer;
        let (mut default, decided) = self.judge(s.text.clone(), exact, &s.tail, key.clone());
        // Whether the default is taken is known only at the deadline: a default that cancels
        // leaves the buffer unsure until an answer in time says otherwise.
        self.note_cancel(&default);
        if super::cancels(&default) {
            // Taken only at the deadline, when bash may still be in the query's handler.
            self.cancelled_while_asked = true;
        }
        default.insert(0, Action::Mark(marker(&decided.line, &decided.decision)));
        let evidence = self.evidence.clone();
        let misses = self.misses.clone();
        // A line the default lets run unread (or one whose keys change what sudo means)
        // turns sudo answering off, should the default be taken.
        let unread = self.elevate.as_ref().and_then(|r| {
            let risky = !decided.source.is_exact()
                || vigil_audit::elevation::changes_elevation(&decided.line).is_some();
            (risky && super::runs(&default)).then(|| r.unread_flag())
        });
        let (hold, decider) = Hold::new("the line");
        let hold = hold.with_deadline(self.answer_wait.wait_for(exact), default, move || {
            misses.fetch_add(1, Ordering::Relaxed);
            if let Some(unread) = unread {
                unread.store(true, Ordering::SeqCst);
            }
            let _ = evidence.send(decided.into());
        });
        out.push(Action::Inject(Bytes::from_static(QUERY_KEY)));
        out.push(Action::Hold(hold));
        self.asked = Some(Asked {
            decider,
            typed: s.text,
            exact: s.exact,
            tail: s.tail,
            key,
            at: Instant::now(),
        });
    }

    /// bash answered with its buffer: decide it (and the typed line, when that is exact and
    /// differs: the stricter verdict wins).
    pub(super) fn answered(&mut self, line: Option<String>) {
        let Some(asked) = self.asked.take() else {
            return;
        };
        self.misses.store(0, Ordering::Relaxed);
        // Late or not, the answer says how far bash is.
        self.answer_wait.sample(asked.at.elapsed());
        let (actions, decided) = match line {
            Some(line) if asked.exact && line != asked.typed => {
                let (qa, qd) = self.verdict_on(line, Source::ShellQuery, asked.key.clone());
                let (ta, td) = self.verdict_on(asked.typed, Source::TypedLine, asked.key);
                if td.decision.action > qd.decision.action {
                    (ta, td)
                } else {
                    (qa, qd)
                }
            }
            Some(line) => self.verdict_on(line, Source::ShellQuery, asked.key),
            // An answer that cannot be read: as if none came.
            None => self.judge(asked.typed, asked.exact, &asked.tail, asked.key),
        };
        let mut all = vec![Action::Mark(marker(&decided.line, &decided.decision))];
        all.extend(actions);
        self.distrust_after(&decided, &mut all);
        let cancel = super::cancels(&all);
        if super::runs(&all) {
            // Even when the answer is late (the typed keys decided), it says what bash held:
            // a line that changed what sudo means counts.
            self.line_runs(&decided, &mut all);
        }
        if asked.decider.decide(all) {
            // Only an answer in time says what the buffer held; a late one settles nothing.
            self.unsure_buffer = cancel;
            self.cancelled_while_asked = cancel;
            let _ = self.evidence.send(decided.into());
        }
    }

    /// A line that can change what the query answers (a key binding, a trap, a sourced
    /// file, or one built at run time: `eval`, a command name from a variable) ends the
    /// query for this channel when it runs: from then on the typed keys decide, and a line
    /// they cannot read does not run while a rule could stop it.
    pub(super) fn distrust_after(&mut self, decided: &Decided, out: &mut Vec<Action>) {
        let runs = out.iter().any(|a| matches!(a, Action::Forward(_)));
        if self.query == Query::Absent || !runs || !subverts_query(&decided.decision) {
            return;
        }
        self.query = Query::Absent;
        out.push(Action::Mark(
            "vigil: the shell's line query is no longer trusted on this channel (a line could have changed it); commands are read from typed keys"
                .into(),
        ));
    }

    /// Whether bash answers queries on this channel (not whether one may be asked now).
    pub(super) fn query_answers(&self) -> bool {
        self.query == Query::Asking && self.misses.load(Ordering::Relaxed) < MAX_MISSES
    }

    /// Whether the query is asked for this line.
    pub(super) fn can_ask(&self) -> bool {
        self.query == Query::Asking
            && self.at_prompt
            && self.asked.is_none()
            && self.misses.load(Ordering::Relaxed) < MAX_MISSES
            && !self.tracker.paused()
    }

    /// Types the query's setup before the operator's first key, once the screen is quiet and
    /// shows a prompt.
    pub(super) fn maybe_set_up(&mut self, data: &[u8], out: &mut Vec<Action>) {
        let quiet = self
            .last_output
            .is_some_and(|t| t.elapsed() >= QUIET_BEFORE_SETUP);
        let plain = !data
            .iter()
            .any(|b| matches!(b, b'\r' | b'\n' | 0x03 | 0x04));
        let elevating = self.elevate.as_ref().is_some_and(|r| r.holds_input());
        if self.query == Query::NotInstalled
            && !elevating
            && quiet
            && plain
            && self.tracker.current().is_empty()
            && !self.tracker.paused()
            && ends_with_prompt(self.tail.as_str())
        {
            self.query = Query::SettingUp(Instant::now());
            self.line_in_setup = true;
            self.replies.expect_setup();
            out.push(Action::Inject(Bytes::from(setup_line(&self.nonce))));
        }
    }

    pub(super) fn on_reply(&mut self, reply: Reply, out: &mut Vec<Action>) {
        match reply {
            Reply::Hello { shell } if let Query::SettingUp(since) = self.query => {
                // The setup is one line bash reads and answers: a first round trip.
                self.answer_wait.sample(since.elapsed());
                let asking = matches!(shell.as_str(), "bash" | "zsh");
                self.query = if asking { Query::Asking } else { Query::Absent };
                out.push(Action::Mark(if asking {
                    format!("vigil: {shell} answers line queries (commands are read from its buffer)")
                } else {
                    "vigil: the shell has no line query (commands are read from typed keys and the screen)".into()
                }));
            }
            Reply::Hello { .. } => {}
            Reply::Prompt => {
                self.at_prompt = true;
                if self.tracker.paused() {
                    self.tracker.at_shell_prompt();
                    out.push(Action::Mark(
                        "vigil: the shell drew its prompt on the alternate screen: command detection goes on"
                            .into(),
                    ));
                }
            }
            Reply::Line(line) => self.answered(line),
            // Where it came is what matters: see `ShellStage::output`.
            Reply::Running => {}
        }
    }
}

/// Whether a line could rebind the query key, change the prompt hook or run code the
/// gateway did not read.
pub(super) fn subverts_query(d: &vigil_audit::rules::Decision) -> bool {
    use vigil_audit::command::Class;
    d.commands.iter().any(|c| {
        let program = c.command.split_whitespace().next().unwrap_or("");
        c.classes
            .iter()
            .any(|k| matches!(k, Class::Definition | Class::Eval | Class::DynamicCommand))
            || matches!(program, "source" | ".")
            || c.command.contains("PROMPT_COMMAND")
            || c.command.contains("precmd")
    })
}
