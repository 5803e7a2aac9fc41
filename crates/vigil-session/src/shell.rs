//! The audited-command stage of a terminal channel: it holds each submit key until the line
//! is decided, and lets it through, or cancels the line in the target's shell (Ctrl-C: it
//! returns to a fresh prompt) and tells the operator which rule stopped it. Evidence is
//! written by the session's evidence task, after the decision and in order.
//!
//! The line comes from the strongest source that answers, named in its evidence (`source`):
//! 1. bash's own buffer (`shell-query`): at the operator's first key the stage types the
//!    query's setup into the shell (`vigil_audit::query`, hidden from the operator and the
//!    recording); at each Enter on a prompt bash drew, it sends the query key and holds the
//!    Enter until bash answers (a round trip to the target's shell through SSH) or the wait
//!    learnt from this channel's round trips passes (`wait.rs`: one second at least);
//! 2. the typed keys with the terminal's erase and kill rules (`typed-line`): exact for sh
//!    and dash, which have no line editor, and for lines typed without editing keys;
//! 3. the screen (`screen`, see `screen.rs`) for a line edited with keys the gateway cannot
//!    follow, once the shell's redraw is on it;
//! 4. otherwise the typed keys are a guess (`typed-line-inexact`) and, while a rule could
//!    stop the line, it does not run (`unreadable`: fail closed, the operator types it out;
//!    `unreadable_lines = "allow"` lets it run).
//!
//! After the gateway cancels a line, bash's buffer is unknown until bash answers a query in
//! time (a Ctrl-C can leave keys of a paste behind): until then the typed keys of a line
//! bash was asked for and did not answer are a guess, not exact. A line no query is asked for
//! (a nested shell, a program) is still decided by its keys, except right after a cancel of a
//! line bash was asked about: that Ctrl-C may have reached bash inside the query's key
//! handler, which absorbs it and keeps the line, so the next Enter that is not asked about
//! (bash drew no fresh prompt) is refused and the line cancelled again, outside any query
//! (`cancelled_while_asked`; test
//! `after_a_cancel_bash_did_not_confirm_an_enter_does_not_run_what_its_buffer_may_hold`).
//!
//! What it is not: see `vigil_audit::query` (the operator can subvert their own shell: when
//! the typed line is exact it is decided too and the stricter verdict wins, and a line that
//! could rebind the query (`bind`, `trap`, `eval`, `source`, a command built at run time, a
//! change to `PROMPT_COMMAND`) ends the query on that channel; a shell prepared before the
//! session, such as a `.bashrc` that rebinds the key at every prompt, is beyond it),
//! `vigil_audit::line` and `vigil_audit::command`.

use std::sync::Arc;
use std::sync::atomic::AtomicU32;
use std::time::Instant;

use bytes::Bytes;
use tokio::sync::mpsc;
use vigil_audit::line::{Echo, LineTracker, Submitted, echoed};
use vigil_audit::query::Replies;
use vigil_core::SessionId;
use vigil_store::Store;

use crate::audit::{CommandRules, Source, marker, record, verdict};
use crate::elevate::Responder;
use crate::elevation::{Elevation, ElevationNote};
use crate::held::until_stored;
use crate::recent::Recent;
use crate::stage::{Action, Stage};

mod ask;
mod screen;
mod wait;
use ask::{Asked, Query, SETUP_WAIT, subverts_query};
use screen::LineScreen;
use wait::AnswerWait;

/// What the evidence task writes for a decided line.
pub(crate) struct Decided {
    line: String,
    source: Source,
    decision: vigil_audit::rules::Decision,
    /// When it was decided (its evidence may be written later).
    at: i64,
}

impl Decided {
    pub(crate) fn new(
        line: String,
        source: Source,
        decision: vigil_audit::rules::Decision,
    ) -> Self {
        Decided {
            line,
            source,
            decision,
            at: vigil_core::now_millis(),
        }
    }

    pub(crate) fn line(&self) -> &str {
        &self.line
    }

    #[cfg(test)]
    pub(crate) fn source(&self) -> Source {
        self.source
    }

    pub(crate) fn decision(&self) -> &vigil_audit::rules::Decision {
        &self.decision
    }

    /// Puts `what` and the line's length in place of its text (a secret).
    pub(crate) fn redact(&mut self, what: &str) {
        self.line = format!("[{what}, {} chars]", self.line.chars().count());
        for c in &mut self.decision.commands {
            c.command = self.line.clone();
        }
    }
}

/// What a session's evidence task writes, in the order its stages said it.
#[derive(Debug)]
pub(crate) enum Note {
    Line(Decided),
    Elevation(ElevationNote),
}

impl From<Decided> for Note {
    fn from(d: Decided) -> Self {
        Note::Line(d)
    }
}

impl std::fmt::Debug for Decided {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Decided")
            .field("line", &self.line)
            .field("source", &self.source)
            .finish_non_exhaustive()
    }
}

/// Starts the task that writes one session's evidence of decided lines and elevation
/// answers, in order.
pub(crate) fn evidence_task(
    store: Store,
    session: SessionId,
    user: String,
    elevation: Option<Arc<Elevation>>,
) -> mpsc::UnboundedSender<Note> {
    let (tx, mut rx) = mpsc::unbounded_channel::<Note>();
    tokio::spawn(async move {
        while let Some(note) = rx.recv().await {
            // While the store does not answer, the note waits (and those behind it): it is
            // written, with the time it happened, when the store is back.
            let (store, session, user, elevation, note) =
                (&store, &session, &user, elevation.as_deref(), &note);
            let written = until_stored("a session's evidence", || async move {
                match note {
                    Note::Line(d) => {
                        let at = Some(d.at);
                        record(store, session, user, &d.line, d.source, &d.decision, at).await
                    }
                    Note::Elevation(n) => {
                        crate::elevation::record(store, session, elevation, n).await
                    }
                }
            })
            .await;
            if let Err(e) = written {
                tracing::error!(session = %session, error = %e, "the store refused a session's evidence");
            }
        }
    });
    tx
}

/// A line as the typed keys give it.
struct Typed {
    text: String,
    exact: bool,
    /// The keys typed since the last key the tracker cannot follow.
    tail: String,
}

pub(crate) struct ShellStage {
    tracker: LineTracker,
    rules: CommandRules,
    evidence: mpsc::UnboundedSender<Note>,
    /// A line typed and submitted in one chunk: logged once the output after it says
    /// whether the terminal echoed it (a command) or not (a secret at a prompt).
    unconfirmed: Option<(Decided, String)>,
    replies: Replies,
    nonce: String,
    query: Query,
    /// bash drew its prompt since the last line was let through: the query key may be sent
    /// (a program in the foreground must never receive it).
    at_prompt: bool,
    asked: Option<Asked>,
    /// The setup started on the keys of a line not yet entered: that line's echo is held
    /// with the setup's output (see `input`).
    line_in_setup: bool,
    /// Queries in a row that got no answer (shared with the holds' deadlines).
    misses: Arc<AtomicU32>,
    /// How long an Enter waits for bash, learnt from the answers so far.
    answer_wait: AnswerWait,
    last_output: Option<Instant>,
    /// The end of what the screen showed last (to see a prompt before typing the setup).
    tail: Recent,
    /// The line as the screen shows it, for lines typed keys cannot give.
    screen: LineScreen,
    /// Output chunks shown so far, and how many there were when a key the tracker cannot
    /// follow last came: the screen is read only once the shell's redraw could be on it.
    outputs: u64,
    edited_at: u64,
    /// The gateway cancelled a line and bash has not since answered a query in time: what
    /// its buffer holds is unknown (a cancel can leave keys of a paste behind, or land
    /// after them), so the typed keys alone are not taken as exact.
    unsure_buffer: bool,
    /// The last cancel was for a line bash was asked for: it may have reached bash inside
    /// the query's key handler, where a Ctrl-C is absorbed and readline keeps the line.
    /// Until bash answers a query in time or the gateway cancels again outside a query, an
    /// Enter that is not asked about is refused (see `buffer_may_hold_a_cancelled_line`).
    cancelled_while_asked: bool,
    /// Answers sudo with the vaulted password, when the login is set to.
    elevate: Option<Responder>,
}

/// How much of the latest output is kept to look for a prompt.
const TAIL: usize = 512;

/// What cancels the line in the target's shell: interrupt (bash, dash, zsh all return to a
/// fresh prompt).
const CANCEL: &[u8] = b"\x03";

/// What the operator is told when an Enter comes before bash showed that a refused line
/// was cleared.
const UNSURE: &str = "vigil: the refused line may still be in the shell's buffer, so this Enter did not run it; the line was cleared: type your command again at the prompt";

/// What the operator is told when a line cannot be read exactly while rules could stop it.
const UNREADABLE: &str = "vigil: this line was edited with keys the gateway cannot follow (history, completion or cursor keys) and audited-command rules apply: type it out in full";

impl ShellStage {
    /// `shell`: the channel runs the login shell (a shell request). The query is typed only
    /// there: a command run with a PTY (`ssh -t host vim x`) must never receive it.
    pub(crate) fn new(
        rules: CommandRules,
        evidence: mpsc::UnboundedSender<Note>,
        shell: bool,
        cols: u16,
    ) -> Self {
        let nonce = uuid::Uuid::new_v4().simple().to_string();
        ShellStage {
            tracker: LineTracker::new(),
            rules,
            evidence,
            unconfirmed: None,
            replies: Replies::new(nonce.clone()),
            nonce,
            query: if shell {
                Query::NotInstalled
            } else {
                Query::Absent
            },
            at_prompt: false,
            asked: None,
            line_in_setup: false,
            misses: Arc::new(AtomicU32::new(0)),
            answer_wait: AnswerWait::default(),
            last_output: None,
            tail: Recent::new(TAIL),
            screen: LineScreen::new(cols),
            outputs: 0,
            edited_at: 0,
            unsure_buffer: false,
            cancelled_while_asked: false,
            elevate: None,
        }
    }

    /// Answers sudo's prompt as `responder` decides (see `elevate.rs`).
    pub(crate) fn answering_sudo(mut self, responder: Responder) -> Self {
        self.elevate = Some(responder);
        self
    }

    /// Tells the responder that a line runs (read from `source`).
    fn line_runs(&mut self, decided: &Decided, out: &mut Vec<Action>) {
        if let Some(r) = &mut self.elevate {
            r.line_runs(&decided.line, decided.source, out);
        }
    }

    /// The actions for one submit key decided from the typed line: the key itself, or the
    /// cancel and the notice. Every line is decided; only its logging depends on its echo.
    fn decide_typed(&mut self, s: Typed, echo: Echo, key: Bytes, out: &mut Vec<Action>) {
        self.settle_unconfirmed(false, out);
        let (mut actions, decided) = if self.buffer_may_hold_a_cancelled_line() {
            self.refuse_unsure(s.text)
        } else {
            self.judge(s.text, s.exact, &s.tail, key)
        };
        self.distrust_after(&decided, &mut actions);
        self.note_cancel(&actions);
        if runs(&actions) && echo != Echo::NotShown {
            self.line_runs(&decided, &mut actions);
        }
        match echo {
            Echo::Shown => self.log(decided, out),
            Echo::NotShown => self.log_secret(decided, out),
            Echo::Unknown if !actions.iter().any(|a| matches!(a, Action::Forward(_))) => {
                // A line that does not run is never echoed (the cancel discards the keys the
                // shell has not read yet) and the session may end now: its evidence cannot
                // wait for an echo. A rule, not a prompt, stopped it.
                self.log(decided, out)
            }
            Echo::Unknown => self.unconfirmed = Some((decided, String::new())),
        }
        out.extend(actions);
    }

    /// The verdict on a typed line, without logging it: what to do with the key, and the
    /// evidence. A line the keys do not give exactly is read from the screen when it shows
    /// it (`tail`: the keys typed since the last editing key).
    fn judge(&self, text: String, exact: bool, tail: &str, key: Bytes) -> (Vec<Action>, Decided) {
        if !exact
            && self.outputs > self.edited_at
            && let Some(shown) = self.screen.read(tail)
        {
            return self.verdict_on(shown, Source::Screen, key);
        }
        // A line edited with keys the gateway cannot follow (history, completion, cursor)
        // may not be what the shell runs: while a rule could stop it, it does not run
        // unread (fail closed); the operator types it out.
        if !exact && self.rules.refuses_unreadable() {
            return self.refuse_unread(text, UNREADABLE);
        }
        let source = if exact {
            Source::TypedLine
        } else {
            Source::TypedLineInexact
        };
        self.verdict_on(text, source, key)
    }

    /// A line that does not run because the gateway cannot know what it is: cancelled, the
    /// operator told `why`.
    fn refuse_unread(&self, text: String, why: &str) -> (Vec<Action>, Decided) {
        let decided = self.decided(text, Source::Unreadable);
        let actions = vec![
            Action::Inject(Bytes::from_static(CANCEL)),
            Action::Tell(why.into()),
        ];
        (actions, decided)
    }

    /// After a cancel, bash has neither drawn a fresh prompt nor answered a query: its
    /// buffer may still hold the cancelled line (a Ctrl-C that reached bash inside the
    /// query's key handler is absorbed, and readline keeps the line). The keys typed since
    /// are then no guide to what an Enter runs: it is refused (fail closed) and the line
    /// cancelled again, which returns to a fresh prompt where bash is asked. Only where bash
    /// answers queries: a shell without them keeps deciding by its keys.
    fn buffer_may_hold_a_cancelled_line(&self) -> bool {
        self.cancelled_while_asked && self.query_answers() && self.rules.refuses_unreadable()
    }

    /// The refusal of an Enter while the buffer may hold a cancelled line. Its own cancel
    /// reaches bash outside any query, so it clears the line.
    fn refuse_unsure(&mut self, text: String) -> (Vec<Action>, Decided) {
        self.cancelled_while_asked = false;
        self.refuse_unread(text, UNSURE)
    }

    /// Remembers that the gateway cancelled a line (see `unsure_buffer`).
    fn note_cancel(&mut self, actions: &[Action]) {
        if cancels(actions) {
            self.unsure_buffer = true;
        }
    }

    fn decided(&self, line: String, source: Source) -> Decided {
        Decided {
            decision: self.rules.decide(&line),
            line,
            source,
            at: vigil_core::now_millis(),
        }
    }

    /// What the rules make of an exact line.
    fn verdict_on(&self, text: String, source: Source, key: Bytes) -> (Vec<Action>, Decided) {
        let decided = self.decided(text, source);
        let v = verdict(&decided.line, decided.decision.clone());
        if v.run {
            return (vec![Action::Forward(key)], decided);
        }
        let mut actions = vec![Action::Inject(Bytes::from_static(CANCEL))];
        let notice = v.notice.unwrap_or_else(|| "vigil: command refused".into());
        actions.push(match v.end {
            Some(reason) => Action::End { reason, notice },
            None => Action::Tell(notice),
        });
        (actions, decided)
    }

    fn log(&self, d: Decided, out: &mut Vec<Action>) {
        out.push(Action::Mark(marker(&d.line, &d.decision)));
        let _ = self.evidence.send(d.into());
    }

    /// A line the terminal did not show: its text is never logged. Only a line a rule hit,
    /// or one refused unread, is evidence, with its length in place of its text.
    fn log_secret(&self, mut d: Decided, out: &mut Vec<Action>) {
        if d.decision.action.is_none() && d.source != Source::Unreadable {
            return;
        }
        d.redact("a line typed without echo");
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

    /// Several lines in one chunk are a paste (or keys typed ahead faster than any person):
    /// they are decided together before any of them runs. When one is refused, none is sent
    /// (the line being typed before is cancelled too) and the operator is told which; only
    /// the refused lines are evidence, since nothing ran.
    fn refuse_pasted_lines(
        &mut self,
        submits: &[vigil_audit::line::Submit],
    ) -> Option<Vec<Action>> {
        let lines: Vec<&str> = submits
            .iter()
            .filter_map(|s| match &s.what {
                Submitted::Line { text, .. } => Some(text.as_str()),
                Submitted::Empty => None,
            })
            .collect();
        if lines.len() < 2 {
            return None;
        }
        let refused: Vec<(Vec<Action>, Decided)> = lines
            .iter()
            .map(|l| self.verdict_on((*l).to_owned(), Source::TypedLine, Bytes::new()))
            .filter(|(actions, _)| !actions.iter().any(|a| matches!(a, Action::Forward(_))))
            .collect();
        if refused.is_empty() {
            return None;
        }
        self.settle_unconfirmed(false, &mut Vec::new());
        self.unsure_buffer = true;
        let mut out = vec![Action::Inject(Bytes::from_static(CANCEL))];
        let total = lines.len();
        let mut end = None;
        for (actions, decided) in refused {
            out.push(Action::Mark(marker(&decided.line, &decided.decision)));
            let _ = self.evidence.send(decided.into());
            for a in actions {
                match a {
                    Action::Tell(notice) => out.push(Action::Tell(format!(
                        "{notice} (none of the {total} lines entered together ran)"
                    ))),
                    Action::End { .. } if end.is_none() => end = Some(a),
                    _ => {}
                }
            }
        }
        out.extend(end);
        Some(out)
    }
}

impl Stage for ShellStage {
    fn on_input(&mut self, data: Bytes) -> Vec<Action> {
        let Some(r) = &mut self.elevate else {
            return self.input(data);
        };
        r.typed();
        let out = self.input(data);
        match &mut self.elevate {
            Some(r) if r.holds_input() => r.hold_input(out),
            _ => out,
        }
    }

    fn on_output(&mut self, data: Bytes) -> Vec<Action> {
        self.output(data)
    }
}

impl ShellStage {
    fn input(&mut self, data: Bytes) -> Vec<Action> {
        let mut out = Vec::new();
        if let Query::SettingUp(since) = self.query
            && since.elapsed() > SETUP_WAIT
        {
            self.query = Query::Absent;
        }
        self.maybe_set_up(&data, &mut out);
        if !self.screen.line_open() && self.tracker.current().is_empty() && !self.tracker.paused() {
            self.screen.line_began();
        }
        let edits = self.tracker.edits();
        let submits = self.tracker.input(&data);
        if self.tracker.edits() > edits {
            self.edited_at = self.outputs;
        }
        if let Some(refused) = self.refuse_pasted_lines(&submits) {
            self.screen.line_ended();
            out.extend(refused);
            return out;
        }
        let mut start = 0;
        for s in submits {
            if s.at > start {
                out.push(Action::Forward(data.slice(start..s.at)));
            }
            let key = data.slice(s.at..s.at + 1);
            start = s.at + 1;
            match s.what {
                Submitted::Line { text, exact, .. }
                    if self.can_ask() && !(exact && subverts_query(&self.rules.decide(&text))) =>
                {
                    let typed = Typed {
                        text,
                        exact,
                        tail: s.tail,
                    };
                    self.ask(typed, key, &mut out)
                }
                Submitted::Line { text, exact, echo } => {
                    let typed = Typed {
                        text,
                        exact,
                        tail: s.tail,
                    };
                    // The setup started on this line's keys, at a shell prompt: while bash
                    // answers it, its output (this line's echo included) is held, so "not
                    // shown" is the gateway's doing. The line is a command, never a secret
                    // to drop unlogged. (Only this first line: a later one may be a password
                    // at a prompt the first line's program drew.)
                    let echo = if matches!(self.query, Query::SettingUp(_))
                        && std::mem::take(&mut self.line_in_setup)
                    {
                        Echo::Shown
                    } else {
                        echo
                    };
                    self.decide_typed(typed, echo, key, &mut out)
                }
                // An empty line runs what bash's buffer holds: after a cancel bash has not
                // confirmed, that may be the cancelled line. At a prompt, bash is asked.
                Submitted::Empty if self.cancelled_while_asked && self.can_ask() => {
                    let typed = Typed {
                        text: String::new(),
                        exact: true,
                        tail: String::new(),
                    };
                    self.ask(typed, key, &mut out)
                }
                Submitted::Empty if self.buffer_may_hold_a_cancelled_line() => {
                    let (actions, decided) = self.refuse_unsure(String::new());
                    self.log(decided, &mut out);
                    out.extend(actions);
                }
                Submitted::Empty => {
                    self.at_prompt = false;
                    out.push(Action::Forward(key))
                }
            }
            self.screen.line_ended();
        }
        if data.contains(&0x03) {
            // A Ctrl-C abandons the line; the next one begins at the next prompt.
            self.screen.line_ended();
        }
        if start < data.len() {
            if let Some(r) = &mut self.elevate {
                // Keys typed after the Enter: a prompt now is not the line's alone.
                r.typed();
            }
            out.push(Action::Forward(data.slice(start..)));
        }
        out
    }

    fn output(&mut self, data: Bytes) -> Vec<Action> {
        self.last_output = Some(Instant::now());
        let mut out = Vec::new();
        let mut show = Vec::new();
        if self.replies.setting_up() && !matches!(self.query, Query::SettingUp(_)) {
            // The setup was never answered: what was held is shown after all.
            show = self.replies.give_up_setup();
        }
        let scanned = self.replies.feed(&data);
        for reply in scanned.replies {
            self.on_reply(reply, &mut out);
        }
        let running_at = scanned.running_at.map(|at| show.len() + at);
        show.extend(scanned.show);
        if let Some(r) = &mut self.elevate {
            show = r.output(show, running_at, &mut out);
        }
        if show.is_empty() {
            return out;
        }
        let paused = self.tracker.paused();
        self.tracker.output(&show);
        if paused != self.tracker.paused() {
            out.push(Action::Mark(
                if paused {
                    "vigil: the alternate screen was left: command detection resumes"
                } else {
                    "vigil: a full-screen program holds the alternate screen: command detection pauses"
                }
                .into(),
            ));
        }
        self.screen.output(&show);
        self.outputs += 1;
        self.tail.push(&show);
        if let Some((d, seen)) = &mut self.unconfirmed {
            seen.push_str(&String::from_utf8_lossy(&show));
            match echoed(&d.line, seen) {
                Some(shown) => self.settle_unconfirmed(shown, &mut out),
                None if seen.len() > 4096 => self.settle_unconfirmed(false, &mut out),
                None => {}
            }
        }
        // The marker comes before the output that follows the line.
        let show = if show[..] == data[..] {
            data
        } else {
            Bytes::from(show)
        };
        out.push(Action::Forward(show));
        out
    }
}

/// Whether `actions` let the line run.
fn runs(actions: &[Action]) -> bool {
    actions.iter().any(|a| matches!(a, Action::Forward(_)))
}

/// Whether `actions` cancel the line in the target's shell.
fn cancels(actions: &[Action]) -> bool {
    actions
        .iter()
        .any(|a| matches!(a, Action::Inject(b) if b[..] == *CANCEL))
}

#[cfg(test)]
mod elevation_tests;
#[cfg(test)]
pub(crate) mod tests;
