//! Answering `sudo` (and `su`) with the login's vaulted password, never shown (issue 12).
//!
//! A [`Responder`] lives in a terminal channel's shell stage, which tells it each line it let
//! run and every piece of output; it answers by injecting the password (never recorded as
//! input, never passed on to later stages) and writes what it did as evidence:
//! - **start**: the channel runs [`START_COMMAND`] instead of the login shell; its first
//!   output must be sudo's prompt for the login, which is answered before any operator input
//!   reaches the target (that input is held, not dropped, until sudo is done).
//! - **on-demand**: after a line read from bash's own buffer (or the command of an exec
//!   request with a terminal, `ssh -t host sudo ...`) that
//!   [`vigil_audit::elevation::eligibility`] accepts, with nothing typed since Enter, when the
//!   first output after the line's echo is exactly the prompt, within [`PROMPT_WAIT`], the
//!   first prompt of that invocation, and no earlier sudo on this terminal may have left a
//!   cached credential (the login's `sudo_ticket_minutes`; a standalone `sudo -k` clears it).
//!   A line that changes what `sudo` or `PATH` means, or one that ran without being read
//!   exactly, turns on-demand answering off for the rest of the session.
//! - A rejection ("Sorry, try again.", su's "Authentication failure") stops the invocation
//!   (Ctrl-C), turns answering off for the session and is counted for the login's circuit
//!   breaker (two in 15 minutes block the login until an administrator acts).
//! - Every injected password is masked in the output from then on (`redact.rs`).
//!
//! What it is not: proof of what `sudo` is. A shell prepared before the session (a function
//! or `PATH` in the login's startup files) can still show a fake prompt after a plain `sudo`
//! line, and a cached credential lets a program print one; `sudo_ticket_minutes` must match
//! the target (`Defaults timestamp_timeout=0` is the safe setting for on-demand).

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use bytes::Bytes;
use vigil_audit::elevation::{
    Eligibility, Tool, changes_elevation, clears_sudo_ticket, eligibility, may_run_sudo,
};
use vigil_core::{EventKind, SudoInject};

use crate::audit::Source;
use crate::elevation::{Elevation, ElevationNote, START_COMMAND};
use crate::stage::{Action, Decider, Hold};

mod redact;
use redact::Redactor;

/// How long after a line its prompt may come.
pub(crate) const PROMPT_WAIT: Duration = Duration::from_secs(5);
/// How long after an answer a rejection is looked for (pam_unix waits about 2 s to say so).
const REJECTION_WAIT: Duration = Duration::from_secs(10);
/// How long operator input waits for a start-mode elevation before it goes on anyway.
const START_WAIT: Duration = Duration::from_secs(15);
/// Output looked at for a prompt or a rejection, at most.
const SEEN_MAX: usize = 4096;

const SORRY: &str = "Sorry, try again.";
const SU_FAILED: &str = "Authentication failure";
/// What the shell prints between the submitted line and the program's first output: the
/// line's newline and bash's end of bracketed paste.
const ECHO_PARTS: &[&[u8]] = &[b"\r", b"\n", b"\x1b[?2004l"];

/// Where the responder's evidence goes: the session's evidence task, in order with its lines.
pub(crate) type NoteSink = Box<dyn Fn(ElevationNote) + Send + Sync>;

/// What the responder waits for on one channel.
enum Watch {
    Idle,
    /// Start mode: sudo's prompt, before anything else.
    Start {
        since: Instant,
        seen: Vec<u8>,
    },
    /// A line ran: its first output may be its prompt.
    Line(LineWatch),
    /// The password was sent: a rejection may follow.
    Answered {
        tool: Tool,
        line: String,
        start: bool,
        since: Instant,
        seen: Vec<u8>,
    },
}

/// A line that ran and may get a prompt. `refusal`: why it would not be answered (logged
/// only if the prompt comes).
struct LineWatch {
    tool: Tool,
    line: String,
    refusal: Option<String>,
    since: Instant,
    seen: Vec<u8>,
    /// Where in `seen` bash said it runs the line (`PS0`): the line's own output.
    running: Option<usize>,
}

impl LineWatch {
    /// Keeps watching, unless too much came without a verdict.
    fn go_on(self) -> Watch {
        if self.seen.len() > SEEN_MAX {
            return Watch::Idle;
        }
        Watch::Line(self)
    }
}

/// One terminal channel's elevation responder (see the module doc).
pub(crate) struct Responder {
    elevation: Arc<Elevation>,
    notes: NoteSink,
    /// When a sudo may last have left a cached credential on this terminal.
    ticket_at: Option<Instant>,
    watch: Watch,
    redact: Redactor,
    /// Start mode: the operator's first input, held until sudo is done.
    held: Option<(Decider, Vec<Action>)>,
    /// Set when a line ran unread on the query's deadline (see `shell/ask.rs`).
    unread: Arc<AtomicBool>,
    /// Why a start-mode shell did not start elevated: told at its first output.
    notice: Option<&'static str>,
}

impl Responder {
    /// `start`: this channel runs [`START_COMMAND`].
    pub(crate) fn new(elevation: Arc<Elevation>, notes: NoteSink, start: bool) -> Self {
        Responder {
            elevation,
            notes,
            ticket_at: None,
            watch: if start {
                Watch::Start {
                    since: Instant::now(),
                    seen: Vec::new(),
                }
            } else {
                Watch::Idle
            },
            redact: Redactor::default(),
            held: None,
            unread: Arc::new(AtomicBool::new(false)),
            notice: None,
        }
    }

    /// Says, at the channel's first output, why a shell of a start-mode login did not start
    /// elevated.
    pub(crate) fn not_started(mut self, why: &'static str) -> Self {
        self.notice = Some(why);
        self
    }

    /// The flag a query's deadline sets when it lets a line run that turns answering off.
    pub(crate) fn unread_flag(&self) -> Arc<AtomicBool> {
        Arc::clone(&self.unread)
    }

    /// Turns on-demand answering off for the session, logged, when the line (or one that ran
    /// unread before it) takes away the trust it needs.
    fn check_changes(&mut self, line: &str, source: Source, out: &mut Vec<Action>) {
        let why = if self.unread.swap(false, Ordering::SeqCst) {
            Some("a line ran that bash did not answer for in time and whose keys the gateway could not read exactly, or that changed what sudo means".to_owned())
        } else if !source.is_exact() {
            Some("a line ran that the gateway could not read exactly".to_owned())
        } else {
            changes_elevation(line).map(|w| format!("a line ran that {w}"))
        };
        if let Some(why) = why
            && self.elevation.turn_off(&why)
        {
            self.note(
                EventKind::ElevationAnsweringOff,
                serde_json::json!({ "reason": why, "command": line }),
            );
            out.push(Action::Mark(format!(
                "vigil: sudo is no longer answered in this session: {why}"
            )));
        }
    }

    fn note(&self, kind: EventKind, detail: serde_json::Value) {
        (self.notes)(ElevationNote {
            kind,
            detail,
            at: vigil_core::now_millis(),
        });
    }

    /// Whether operator input must wait (a start-mode elevation is not done).
    pub(crate) fn holds_input(&self) -> bool {
        matches!(
            self.watch,
            Watch::Start { .. } | Watch::Answered { start: true, .. }
        )
    }

    /// Holds `actions` (what the stage made of operator input) until sudo is done, or
    /// [`START_WAIT`]. Input holding a hold of its own is not held again.
    pub(crate) fn hold_input(&mut self, actions: Vec<Action>) -> Vec<Action> {
        if self.held.is_some() {
            return actions;
        }
        let Some(copy) = copy_of(&actions) else {
            return actions;
        };
        let (hold, decider) = Hold::new("your input while the session is elevated");
        let hold = hold.with_deadline(START_WAIT, copy, || {});
        self.held = Some((decider, actions));
        vec![Action::Hold(hold)]
    }

    fn release_input(&mut self) {
        if let Some((decider, actions)) = self.held.take() {
            decider.decide(actions);
        }
    }

    /// The operator typed: a prompt after this is not the submitted line's alone.
    pub(crate) fn typed(&mut self) {
        if matches!(self.watch, Watch::Line(_)) {
            self.watch = Watch::Idle;
        }
    }

    /// The channel runs `command` (an exec request with a terminal, `ssh -t host sudo ...`):
    /// it is exact, and the channel's first output is its own.
    pub(crate) fn command_runs(&mut self, command: &str) {
        let mut marks = Vec::new();
        self.line_runs(command, Source::Exec, &mut marks);
        if let Watch::Line(w) = &mut self.watch {
            w.running = Some(0);
        }
    }

    /// A line the shell stage let run (`source`: how it was read).
    pub(crate) fn line_runs(&mut self, line: &str, source: Source, out: &mut Vec<Action>) {
        // Lines are watched only for on-demand answering (start mode answers once, first).
        if self.elevation.mode() != SudoInject::OnDemand {
            return;
        }
        self.check_changes(line, source, out);
        let cached = self
            .ticket_at
            .is_some_and(|t| t.elapsed() < self.elevation.ticket());
        if clears_sudo_ticket(line) {
            self.ticket_at = None;
        } else if may_run_sudo(line) {
            self.ticket_at = Some(Instant::now());
        }
        let (tool, refusal) = match eligibility(line) {
            Eligibility::NotElevation => {
                self.watch = Watch::Idle;
                return;
            }
            Eligibility::Refuse(tool, why) => (tool, Some(why.to_owned())),
            Eligibility::Answer(tool) => (tool, self.refusal(tool, source, cached)),
        };
        self.watch = Watch::Line(LineWatch {
            tool,
            line: line.to_owned(),
            refusal,
            since: Instant::now(),
            seen: Vec::new(),
            running: None,
        });
    }

    /// Why an eligible line is still not answered, if it is not.
    fn refusal(&self, tool: Tool, source: Source, cached: bool) -> Option<String> {
        let elevation = &self.elevation;
        if elevation.is_blocked() {
            return Some("answering is blocked for this login after the target rejected its vaulted password: an administrator must set its elevation again".into());
        }
        if let Some(off) = elevation.off_reason() {
            return Some(format!("answering is off in this session ({off})"));
        }
        if !matches!(source, Source::ShellQuery | Source::Exec) {
            return Some(
                "the line was not read from the shell's own buffer (bash's line query)".into(),
            );
        }
        if elevation.secret(tool).is_none() {
            return Some(format!(
                "no password is vaulted to answer {} for this login",
                tool.as_str()
            ));
        }
        if tool == Tool::Sudo && cached {
            return Some(format!(
                "an earlier sudo on this terminal may have left its credential cached (within {} minutes): run sudo -k first",
                elevation.ticket().as_secs() / 60
            ));
        }
        None
    }

    /// Target output: what to show for it (passwords masked); `out` gets the answer, the
    /// stop after a rejection, and marks. `running_at`: where in `data` bash said it runs
    /// the submitted line.
    pub(crate) fn output(
        &mut self,
        data: Vec<u8>,
        running_at: Option<usize>,
        out: &mut Vec<Action>,
    ) -> Vec<u8> {
        if let Some(why) = self.notice.take() {
            out.push(Action::Tell(format!(
                "vigil: this session is not elevated: {why}"
            )));
            self.note(
                EventKind::ElevationNotAnswered,
                serde_json::json!({ "tool": "sudo", "command": START_COMMAND, "reason": why }),
            );
        }
        if self.elevation.mode() == SudoInject::OnDemand && contains(&data, b"[sudo] password for")
        {
            // Someone may answer this prompt: a credential may be cached after it (what
            // on-demand answering must know).
            self.ticket_at = Some(Instant::now());
        }
        let watch = std::mem::replace(&mut self.watch, Watch::Idle);
        self.watch = match watch {
            Watch::Idle => Watch::Idle,
            Watch::Start { since, mut seen } => {
                seen.extend_from_slice(&data);
                self.on_start_output(since, seen, out)
            }
            Watch::Line(mut w) if w.since.elapsed() <= PROMPT_WAIT => {
                w.running = w.running.or(running_at.map(|at| w.seen.len() + at));
                w.seen.extend_from_slice(&data);
                self.on_line_output(w, out)
            }
            Watch::Line(_) => Watch::Idle,
            Watch::Answered {
                tool,
                line,
                start,
                since,
                mut seen,
            } => {
                seen.extend_from_slice(&data);
                self.on_answered_output(tool, line, start, since, seen, out)
            }
        };
        if !self.holds_input() {
            self.release_input();
        }
        self.redact.filter(data)
    }

    fn on_start_output(&mut self, since: Instant, seen: Vec<u8>, out: &mut Vec<Action>) -> Watch {
        let prompt = self.elevation.prompt(Tool::Sudo);
        if seen == prompt.as_bytes() {
            self.answer(Tool::Sudo, START_COMMAND, true, out);
            return watch_answer(Tool::Sudo, START_COMMAND.to_owned(), true);
        }
        if prompt.as_bytes().starts_with(&seen) && since.elapsed() <= START_WAIT {
            return Watch::Start { since, seen };
        }
        out.push(Action::Mark(
            "vigil: sudo did not ask for a password at the start of the session; nothing was answered"
                .into(),
        ));
        Watch::Idle
    }

    fn on_line_output(&mut self, w: LineWatch, out: &mut Vec<Action>) -> Watch {
        let prompt = self.elevation.prompt(w.tool);
        let shown = contains(&w.seen, prompt.as_bytes());
        if let Some(why) = &w.refusal {
            // Not answered: said once, if the prompt shows.
            if shown {
                self.not_answered(w.tool, &w.line, why, out);
                return Watch::Idle;
            }
            return w.go_on();
        }
        let Some(at) = w.running else {
            if shown {
                self.not_answered(
                    w.tool,
                    &w.line,
                    "the shell did not say when it ran the line (bash's PS0 marker)",
                    out,
                );
                return Watch::Idle;
            }
            return w.go_on();
        };
        let rest = after_echo(&w.seen[at..]);
        if rest == prompt.as_bytes() {
            self.answer(w.tool, &w.line, false, out);
            return watch_answer(w.tool, w.line, false);
        }
        if prompt.as_bytes().starts_with(rest) {
            return w.go_on();
        }
        if shown {
            self.not_answered(
                w.tool,
                &w.line,
                "the prompt was not the first output of the line",
                out,
            );
        }
        Watch::Idle
    }

    fn on_answered_output(
        &mut self,
        tool: Tool,
        line: String,
        start: bool,
        since: Instant,
        seen: Vec<u8>,
        out: &mut Vec<Action>,
    ) -> Watch {
        let failed = match tool {
            Tool::Sudo => SORRY,
            Tool::Su => SU_FAILED,
        };
        if contains(&seen, failed.as_bytes()) {
            self.rejected(tool, &line, out);
            return Watch::Idle;
        }
        if start {
            // Done once sudo printed something that is not the start of its refusal.
            let text = String::from_utf8_lossy(&seen);
            let shown = text.trim_start_matches(['\r', '\n']);
            if !shown.is_empty() && !failed.starts_with(shown) {
                return Watch::Idle;
            }
        }
        if since.elapsed() > REJECTION_WAIT || seen.len() > SEEN_MAX {
            return Watch::Idle;
        }
        Watch::Answered {
            tool,
            line,
            start,
            since,
            seen,
        }
    }

    fn answer(&mut self, tool: Tool, line: &str, start: bool, out: &mut Vec<Action>) {
        let Some(secret) = self.elevation.secret(tool) else {
            return;
        };
        let mut bytes = secret.expose().to_vec();
        self.redact.hide(&bytes);
        bytes.push(b'\r');
        out.push(Action::Inject(Bytes::from(bytes)));
        out.push(Action::Mark(format!(
            "vigil: the gateway answered {}'s prompt with the vaulted password",
            tool.as_str()
        )));
        self.note(
            EventKind::ElevationSupplied,
            serde_json::json!({
                "tool": tool.as_str(),
                "mode": if start { "start" } else { "on-demand" },
                "command": line,
            }),
        );
    }

    fn not_answered(&self, tool: Tool, line: &str, why: &str, out: &mut Vec<Action>) {
        out.push(Action::Mark(format!(
            "vigil: {}'s prompt was not answered: {why}",
            tool.as_str()
        )));
        self.note(
            EventKind::ElevationNotAnswered,
            serde_json::json!({ "tool": tool.as_str(), "command": line, "reason": why }),
        );
    }

    fn rejected(&mut self, tool: Tool, line: &str, out: &mut Vec<Action>) {
        if tool == Tool::Sudo {
            // sudo asks again: stop it rather than let it count more failures.
            out.push(Action::Inject(Bytes::from_static(b"\x03")));
        }
        out.push(Action::Tell(format!(
            "vigil: the target refused the vaulted {} password; it is no longer answered in this session and an administrator is told",
            tool.as_str()
        )));
        self.elevation
            .turn_off("the target rejected the vaulted password");
        self.note(
            EventKind::ElevationRejected,
            serde_json::json!({ "tool": tool.as_str(), "command": line }),
        );
    }
}

/// Watching for a rejection of the password just sent.
fn watch_answer(tool: Tool, line: String, start: bool) -> Watch {
    Watch::Answered {
        tool,
        line,
        start,
        since: Instant::now(),
        seen: Vec::new(),
    }
}

/// What follows the shell's echo of the submitted line's end (see [`ECHO_PARTS`]).
fn after_echo(mut seen: &[u8]) -> &[u8] {
    'strip: loop {
        for part in ECHO_PARTS {
            if let Some(rest) = seen.strip_prefix(*part) {
                seen = rest;
                continue 'strip;
            }
        }
        return seen;
    }
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    !needle.is_empty() && haystack.windows(needle.len()).any(|w| w == needle)
}

/// A copy of `actions` when none of them is a hold.
fn copy_of(actions: &[Action]) -> Option<Vec<Action>> {
    actions
        .iter()
        .map(|a| match a {
            Action::Forward(b) => Some(Action::Forward(b.clone())),
            Action::Inject(b) => Some(Action::Inject(b.clone())),
            Action::Tell(t) => Some(Action::Tell(t.clone())),
            Action::Mark(m) => Some(Action::Mark(m.clone())),
            Action::End { reason, notice } => Some(Action::End {
                reason: reason.clone(),
                notice: notice.clone(),
            }),
            Action::Hold(_) => None,
        })
        .collect()
}
