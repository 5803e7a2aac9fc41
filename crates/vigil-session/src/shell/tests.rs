//! The stage against a simulated bash: what it types, holds, asks and decides. The real
//! shells are in the e2e tests (`crates/vigil/tests/e2e/commands.rs`).

use std::time::{Duration, Instant};

use std::sync::atomic::Ordering;

use vigil_audit::query::QUERY_KEY;
use vigil_audit::rules::Action as RuleAction;

use super::*;
use crate::audit::command_rules;
use crate::stage::Hold;

/// The evidence a stage sends, as decided lines.
pub(crate) struct Lines(pub(crate) mpsc::UnboundedReceiver<Note>);

impl Lines {
    pub(crate) async fn recv(&mut self) -> Option<Decided> {
        match self.0.recv().await? {
            Note::Line(d) => Some(d),
            other => panic!("not a line: {other:?}"),
        }
    }

    pub(crate) fn try_recv(&mut self) -> Result<Decided, String> {
        match self.0.try_recv() {
            Ok(Note::Line(d)) => Ok(d),
            other => Err(format!("{other:?}")),
        }
    }
}

fn stage() -> (ShellStage, Lines) {
    let (tx, rx) = mpsc::unbounded_channel();
    let rx = Lines(rx);
    let rules = command_rules(&[("no-rm", "rm", 10, RuleAction::Prohibit)]);
    let mut s = ShellStage::new(rules, tx, true, 80);
    s.on_output(Bytes::from_static(b"motd\r\n$ "));
    s.last_output = Some(Instant::now() - Duration::from_secs(1));
    (s, rx)
}

pub(crate) fn osc(stage: &ShellStage, kind: &str, payload: Option<&str>) -> Vec<u8> {
    let body = match payload {
        Some(p) => format!("\x1b]7767;{kind};{};{p}\x07", stage.nonce),
        None => format!("\x1b]7767;{kind};{}\x07", stage.nonce),
    };
    body.into_bytes()
}

/// The stage after bash installed the query and drew a prompt.
pub(crate) fn bash() -> (ShellStage, Lines) {
    let (mut s, rx) = stage();
    let out = s.on_input(Bytes::from_static(b"l"));
    assert!(matches!(&out[0], Action::Inject(b) if b.starts_with(b" case ${BASH_VERSION-}")));
    assert!(matches!(&out[1], Action::Forward(b) if b == "l"));
    let mut answer = b" case ${BASH_VERSION-} in ...\r\n".to_vec();
    answer.extend(osc(&s, "H", Some("bash")));
    answer.extend(b"$ ");
    answer.extend(osc(&s, "P", None));
    answer.extend(b"l");
    let out = s.on_output(Bytes::from(answer));
    assert!(matches!(&out[0], Action::Mark(m) if m.contains("bash answers")));
    assert!(
        matches!(&out[1], Action::Forward(b) if b == "\r\x1b[K$ l"),
        "{out:?}"
    );
    assert_eq!(s.query, Query::Asking);
    assert!(s.at_prompt);
    (s, rx)
}

pub(crate) fn held(out: Vec<Action>) -> Hold {
    let mut it = out
        .into_iter()
        .skip_while(|a| matches!(a, Action::Forward(_)));
    assert!(matches!(it.next(), Some(Action::Inject(b)) if b == QUERY_KEY));
    match it.next() {
        Some(Action::Hold(h)) => h,
        other => panic!("no hold: {other:?}"),
    }
}

pub(crate) fn summary(actions: &[Action]) -> Vec<String> {
    actions
        .iter()
        .map(|a| match a {
            Action::Forward(b) => format!("forward {}", String::from_utf8_lossy(b)),
            Action::Inject(b) => format!("inject {:?}", String::from_utf8_lossy(b)),
            Action::Tell(t) => format!("tell {t}"),
            Action::Mark(m) => format!("mark {m}"),
            Action::End { reason, .. } => format!("end {reason}"),
            Action::Hold(_) => "hold".into(),
        })
        .collect()
}

#[tokio::test]
async fn a_recalled_line_is_read_from_bash_and_refused() {
    let (mut s, mut rx) = bash();
    // Up arrow: the typed keys say nothing of the line.
    let hold = held(s.on_input(Bytes::from_static(b"\x1b[A\r")));
    let mut reply = b"\r\x1b[K\r".to_vec();
    reply.extend(osc(&s, "L", Some("'rm -rf /tmp/x'")));
    reply.extend(b"$ rm -rf /tmp/x");
    let out = s.on_output(Bytes::from(reply));
    assert_eq!(summary(&out), ["forward \r\x1b[K\r$ rm -rf /tmp/x"]);
    let decided = summary(&hold.decided().await);
    assert!(decided[0].starts_with("mark command: rm -rf /tmp/x (rule no-rm"));
    assert_eq!(decided[1], "inject \"\\u{3}\"");
    assert!(decided[2].starts_with("tell vigil: command refused by rule no-rm"));
    let d = rx.recv().await.unwrap();
    assert_eq!(
        (d.line.as_str(), d.source),
        ("rm -rf /tmp/x", Source::ShellQuery)
    );
    // Until bash draws its next prompt, nothing is asked.
    assert!(!s.at_prompt);
    s.on_output(Bytes::from(osc(&s, "P", None)));
    assert!(s.at_prompt);
}

#[tokio::test]
async fn a_completed_line_that_is_allowed_runs() {
    let (mut s, mut rx) = bash();
    let hold = held(s.on_input(Bytes::from_static(b"s /tm\t\r")));
    s.on_output(Bytes::from(osc(&s, "L", Some("'ls /tmp/'"))));
    assert_eq!(
        summary(&hold.decided().await),
        ["mark command: ls /tmp/", "forward \r"]
    );
    assert_eq!(rx.recv().await.unwrap().source, Source::ShellQuery);
    // A program runs now: its lines are not queried.
    let out = s.on_input(Bytes::from_static(b"yes\r"));
    assert!(!out.iter().any(|a| matches!(a, Action::Hold(_))));
}

#[tokio::test]
async fn when_the_answer_and_the_exact_typed_line_differ_the_stricter_wins() {
    let (mut s, mut rx) = bash();
    // The operator rebound the key to print a harmless line.
    let hold = held(s.on_input(Bytes::from_static(b"\x15rm -rf /srv\r")));
    s.on_output(Bytes::from(osc(&s, "L", Some("'ls'"))));
    let decided = summary(&hold.decided().await);
    assert!(
        decided[0].contains("rm -rf /srv (rule no-rm"),
        "{decided:?}"
    );
    assert!(decided[2].starts_with("tell vigil: command refused"));
    assert_eq!(rx.recv().await.unwrap().source, Source::TypedLine);
}

#[tokio::test(start_paused = true)]
async fn no_answer_falls_back_to_the_typed_line_and_fails_closed_when_unreadable() {
    let (mut s, mut rx) = bash();
    let hold = held(s.on_input(Bytes::from_static(b"\x1b[A\r")));
    let decided = summary(&hold.decided().await);
    assert!(
        decided.len() > 2 && decided[2].starts_with("tell vigil: this line was edited"),
        "{decided:?}"
    );
    assert_eq!(rx.recv().await.unwrap().source, Source::Unreadable);
    assert_eq!(s.misses.load(Ordering::Relaxed), 1);
    // A late answer decides nothing and is not shown.
    let out = s.on_output(Bytes::from(osc(&s, "L", Some("'rm x'"))));
    assert!(out.is_empty(), "{out:?}");
}

#[tokio::test(start_paused = true)]
async fn a_line_its_keys_cannot_read_waits_longer_for_bash_than_an_exact_one() {
    let (mut s, mut rx) = bash();
    // Exact keys: the learnt wait (the floor here), then the typed line decides.
    let hold = tokio::spawn(held(s.on_input(Bytes::from_static(b"s /tmp\r"))).decided());
    tokio::time::sleep(wait::FLOOR + Duration::from_millis(100)).await;
    assert!(hold.is_finished());
    assert_eq!(rx.recv().await.unwrap().source, Source::TypedLine);
    s.on_output(Bytes::from(osc(&s, "L", Some("'ls /tmp'"))));
    s.on_output(Bytes::from(osc(&s, "P", None)));
    // A completed line answered after three seconds (a slow completion, a loaded target)
    // is still read from bash, not refused unread.
    let hold = tokio::spawn(held(s.on_input(Bytes::from_static(b"ls /tm\t\r"))).decided());
    tokio::time::sleep(Duration::from_secs(3)).await;
    assert!(!hold.is_finished());
    s.on_output(Bytes::from(osc(&s, "L", Some("'ls /tmp/'"))));
    assert_eq!(
        summary(&hold.await.unwrap()),
        ["mark command: ls /tmp/", "forward \r"]
    );
    assert_eq!(rx.recv().await.unwrap().source, Source::ShellQuery);
}

#[tokio::test]
async fn dash_has_no_query_and_its_typed_lines_decide() {
    let (mut s, _rx) = stage();
    s.on_input(Bytes::from_static(b"r"));
    let mut answer = b" case ...\r\n".to_vec();
    answer.extend(osc(&s, "H", Some("")));
    answer.extend(b"$ ");
    s.on_output(Bytes::from(answer));
    assert_eq!(s.query, Query::Absent);
    let out = summary(&s.on_input(Bytes::from_static(b"m -rf /x\r")));
    assert!(
        out.iter()
            .any(|a| a.starts_with("tell vigil: command refused"))
    );
}

#[tokio::test]
async fn the_setup_waits_for_a_quiet_screen_and_a_plain_key() {
    let (mut s, _rx) = stage();
    s.last_output = Some(Instant::now());
    assert!(
        !s.on_input(Bytes::from_static(b"l"))
            .iter()
            .any(|a| matches!(a, Action::Inject(_)))
    );
    s.last_output = Some(Instant::now() - Duration::from_secs(1));
    let (mut s2, _rx2) = stage();
    // Enter as the first key: the setup waits for a later key.
    assert!(
        !s2.on_input(Bytes::from_static(b"\r"))
            .iter()
            .any(|a| matches!(a, Action::Inject(_)))
    );
}

#[tokio::test]
async fn a_line_entered_while_the_setup_is_answered_is_logged() {
    // The line's keys are the plain chunk that starts the setup; its Enter comes before bash
    // answered. The setup's output is held, so the line's echo is never seen: it must still
    // be logged as a command (it was typed at a shell prompt), never dropped as a secret.
    let (mut s, mut rx) = stage();
    let out = s.on_input(Bytes::from_static(b"echo pasted-ahead"));
    assert!(
        out.iter().any(|a| matches!(a, Action::Inject(_))),
        "the setup starts"
    );
    let out = summary(&s.on_input(Bytes::from_static(b"\r")));
    assert!(
        out.iter()
            .any(|a| a.starts_with("mark command: echo pasted-ahead")),
        "{out:?}"
    );
    assert_eq!(rx.try_recv().unwrap().line, "echo pasted-ahead");
    // The next line does not settle it again.
    let _ = s.on_output(Bytes::from_static(b"pasted-ahead\r\n$ "));
    assert!(rx.try_recv().is_err());
}

#[tokio::test]
async fn a_refused_line_typed_in_one_chunk_is_logged_with_its_text() {
    // Its echo never comes (the cancel discards what the shell had not read), so it cannot
    // wait for one; a rule, not a prompt, stopped it.
    let (mut s, mut rx) = stage();
    let out = summary(&s.on_input(Bytes::from_static(b"rm -rf /x\r")));
    assert!(
        out.iter().any(|a| a.starts_with("mark command: rm -rf /x")),
        "{out:?}"
    );
    assert_eq!(rx.recv().await.unwrap().line, "rm -rf /x");
}

#[tokio::test]
async fn the_setup_is_typed_only_at_a_shell_prompt_of_a_shell_channel() {
    // A command run with a PTY (`ssh -t host vim x`) never gets it.
    let (tx, _rx) = mpsc::unbounded_channel();
    let mut exec = ShellStage::new(CommandRules::default(), tx, false, 80);
    exec.on_output(Bytes::from_static(b"$ "));
    exec.last_output = Some(Instant::now() - Duration::from_secs(1));
    assert!(
        !exec
            .on_input(Bytes::from_static(b"l"))
            .iter()
            .any(|a| matches!(a, Action::Inject(_)))
    );
    // A shell channel whose screen shows a question, not a prompt.
    let (mut s, _rx) = stage();
    s.on_output(Bytes::from_static(b"\r\nPassword: "));
    s.last_output = Some(Instant::now() - Duration::from_secs(1));
    assert!(
        !s.on_input(Bytes::from_static(b"l"))
            .iter()
            .any(|a| matches!(a, Action::Inject(_)))
    );
}

#[tokio::test]
async fn unreadable_lines_may_be_allowed_by_the_node() {
    let (mut s, mut rx) = stage();
    s.rules = s
        .rules
        .clone()
        .with_unreadable(crate::audit::Unreadable::Allow);
    s.query = Query::Absent;
    let out = summary(&s.on_input(Bytes::from_static(b"\x1b[A\r")));
    assert!(out.iter().any(|a| a == "forward \r"), "{out:?}");
    // Its text is logged once its echo is known; the decision was made on what was typed.
    s.on_output(Bytes::from_static(b"\r\n$ "));
    assert_eq!(rx.recv().await.unwrap().source, Source::TypedLineInexact);
}

#[tokio::test]
async fn a_line_that_could_rebind_the_query_ends_it() {
    let (mut s, _rx) = bash();
    // Typed plainly: decided on the keys, not asked.
    let decided = summary(&s.on_input(Bytes::from_static(b"\x15bind -x x\r")));
    assert!(decided.iter().any(|a| a == "forward \r"), "{decided:?}");
    assert!(
        decided.iter().any(|a| a.contains("no longer trusted")),
        "{decided:?}"
    );
    assert_eq!(s.query, Query::Absent);
    // From now on a recalled line is unreadable, whatever the shell would answer.
    s.on_output(Bytes::from(osc(&s, "P", None)));
    let out = summary(&s.on_input(Bytes::from_static(b"\x1b[A\r")));
    assert!(
        out.iter()
            .any(|a| a.starts_with("tell vigil: this line was edited")),
        "{out:?}"
    );
}

#[tokio::test]
async fn an_answer_that_could_rebind_the_query_ends_it() {
    let (mut s, _rx) = bash();
    // Recalled from history: only bash's answer says what it is.
    let hold = held(s.on_input(Bytes::from_static(b"\x1b[A\r")));
    s.on_output(Bytes::from(osc(&s, "L", Some("'eval \"$x\"'"))));
    let decided = summary(&hold.decided().await);
    assert!(
        decided.iter().any(|a| a.contains("no longer trusted")),
        "{decided:?}"
    );
    assert_eq!(s.query, Query::Absent);
}

#[tokio::test(start_paused = true)]
async fn after_a_cancel_a_line_bash_did_not_answer_for_is_not_decided_by_its_keys() {
    let (mut s, mut rx) = bash();
    // A refused paste: the cancel may leave some of its keys in bash's buffer.
    let hold = held(s.on_input(Bytes::from_static(
        b"\x1b[200~rm -rf /x\recho b\recho c\x1b[201~\r",
    )));
    s.on_output(Bytes::from(osc(
        &s,
        "L",
        Some("'rm -rf /x\necho b\necho c'"),
    )));
    let decided = summary(&hold.decided().await);
    assert_eq!(decided[1], "inject \"\\u{3}\"", "{decided:?}");
    assert!(rx.recv().await.is_some());
    s.on_output(Bytes::from(osc(&s, "P", None)));
    // The next line's keys look harmless, but bash does not answer: it does not run.
    let hold = held(s.on_input(Bytes::from_static(b"touch /tmp/y\r")));
    let decided = summary(&hold.decided().await);
    assert!(
        decided
            .iter()
            .any(|a| a.starts_with("tell vigil: this line was edited")),
        "{decided:?}"
    );
    assert_eq!(rx.recv().await.unwrap().source, Source::Unreadable);
    // A late answer settles nothing.
    s.on_output(Bytes::from(osc(&s, "L", Some("'echo b; touch /tmp/y'"))));
    assert!(s.unsure_buffer);
    // An answer in time settles the buffer: typed lines are exact again.
    s.on_output(Bytes::from(osc(&s, "P", None)));
    let hold = held(s.on_input(Bytes::from_static(b"ls\r")));
    s.on_output(Bytes::from(osc(&s, "L", Some("'ls'"))));
    assert_eq!(
        summary(&hold.decided().await),
        ["mark command: ls", "forward \r"]
    );
    assert_eq!(rx.recv().await.unwrap().source, Source::ShellQuery);
    assert!(!s.unsure_buffer);
    s.on_output(Bytes::from(osc(&s, "P", None)));
    let hold = held(s.on_input(Bytes::from_static(b"touch /tmp/z\r")));
    assert_eq!(
        summary(&hold.decided().await),
        ["mark command: touch /tmp/z", "forward \r"]
    );
}

#[tokio::test]
async fn lines_entered_together_are_decided_before_any_runs() {
    // dash has no bracketed paste: a pasted block arrives as lines in one chunk.
    let (mut s, mut rx) = stage();
    s.query = Query::Absent;
    let out = summary(&s.on_input(Bytes::from_static(b"echo one\rrm -rf /x\recho three\r")));
    assert!(
        !out.iter().any(|a| a.starts_with("forward")),
        "nothing is sent: {out:?}"
    );
    assert_eq!(out[0], "inject \"\\u{3}\"");
    assert!(
        out.iter()
            .any(|a| a.contains("none of the 3 lines entered together ran")),
        "{out:?}"
    );
    assert_eq!(rx.recv().await.unwrap().line, "rm -rf /x");
    assert!(
        rx.try_recv().is_err(),
        "lines that did not run are not evidence"
    );
    // Allowed lines entered together run as before.
    let out = summary(&s.on_input(Bytes::from_static(b"echo a\recho b\r")));
    assert_eq!(
        out.iter().filter(|a| a.as_str() == "forward \r").count(),
        2,
        "{out:?}"
    );
}

#[tokio::test]
async fn a_line_edited_where_the_typed_keys_cannot_follow_is_read_from_the_screen_once_redrawn() {
    // zsh (no query): history recall, shown by the shell, then Enter.
    let (mut s, mut rx) = stage();
    s.query = Query::Absent;
    s.on_output(Bytes::from_static(b"\r\nhost% "));
    // The recall and Enter in one chunk: the redraw cannot be on the screen yet.
    let out = summary(&s.on_input(Bytes::from_static(b"\x1b[A\r")));
    assert!(
        out.iter()
            .any(|a| a.starts_with("tell vigil: this line was edited")),
        "{out:?}"
    );
    assert_eq!(rx.recv().await.unwrap().source, Source::Unreadable);
    s.on_output(Bytes::from_static(b"^C\r\nhost% "));
    // The recall, its redraw, then Enter: the screen says what runs.
    s.on_input(Bytes::from_static(b"\x1b[A"));
    s.on_output(Bytes::from_static(b"rm -rf /srv"));
    let out = summary(&s.on_input(Bytes::from_static(b"\r")));
    assert!(
        out.iter()
            .any(|a| a.starts_with("tell vigil: command refused by rule no-rm")),
        "{out:?}"
    );
    let d = rx.recv().await.unwrap();
    assert_eq!((d.line.as_str(), d.source), ("rm -rf /srv", Source::Screen));
    // Keys typed after the edit must be on the screen too.
    s.on_output(Bytes::from_static(b"^C\r\nhost% "));
    s.on_input(Bytes::from_static(b"\x1b[A"));
    s.on_output(Bytes::from_static(b"ls"));
    let out = summary(&s.on_input(Bytes::from_static(b" /x\r")));
    assert!(
        out.iter()
            .any(|a| a.starts_with("tell vigil: this line was edited")),
        "{out:?}"
    );
}

#[tokio::test]
async fn a_shell_that_only_switched_to_the_alternate_screen_is_still_audited() {
    let (mut s, _rx) = bash();
    // The operator prints the sequence a full-screen program would, to pause detection.
    let out = summary(&s.on_output(Bytes::from_static(b"\x1b[?1049h")));
    assert!(
        out.iter().any(|a| a.contains("detection pauses")),
        "{out:?}"
    );
    assert!(s.tracker.paused());
    // bash's own prompt message says a command line is being typed.
    let out = summary(&s.on_output(Bytes::from(osc(&s, "P", None))));
    assert!(
        out.iter().any(|a| a.contains("detection goes on")),
        "{out:?}"
    );
    let hold = held(s.on_input(Bytes::from_static(b"rm -rf /x\r")));
    s.on_output(Bytes::from(osc(&s, "L", Some("'rm -rf /x'"))));
    let decided = summary(&hold.decided().await);
    assert!(
        decided
            .iter()
            .any(|a| a.starts_with("tell vigil: command refused")),
        "{decided:?}"
    );
}

#[tokio::test]
async fn after_a_cancel_bash_did_not_confirm_an_enter_does_not_run_what_its_buffer_may_hold() {
    let (mut s, mut rx) = bash();
    // A refused paste whose cancel bash absorbed: it redraws the line, not a fresh prompt.
    let hold = held(s.on_input(Bytes::from_static(
        b"\x1b[200~echo a\rrm -rf /x\recho c\x1b[201~\r",
    )));
    s.on_output(Bytes::from(osc(
        &s,
        "L",
        Some("'echo a\nrm -rf /x\necho c'"),
    )));
    let decided = summary(&hold.decided().await);
    assert!(
        decided.iter().any(|a| a == "inject \"\\u{3}\""),
        "{decided:?}"
    );
    assert!(rx.recv().await.is_some());
    s.on_output(Bytes::from_static(b"^C\r\n$ echo a\r\nrm -rf /x\r\necho c"));
    // Harmless keys and an Enter: not forwarded, the line cancelled again, the operator told.
    let out = summary(&s.on_input(Bytes::from_static(b"PS1=x\r")));
    assert!(!out.iter().any(|a| a == "forward \r"), "{out:?}");
    assert!(out.iter().any(|a| a == "inject \"\\u{3}\""), "{out:?}");
    assert!(
        out.iter()
            .any(|a| a.contains("may still be in the shell's buffer")),
        "{out:?}"
    );
    assert_eq!(rx.recv().await.unwrap().source, Source::Unreadable);
    // That cancel reached bash outside any query, so the buffer is clear: keys decide again.
    let out = summary(&s.on_input(Bytes::from_static(b"\r")));
    assert_eq!(out, ["forward \r"]);
    assert!(!s.cancelled_while_asked);
}
