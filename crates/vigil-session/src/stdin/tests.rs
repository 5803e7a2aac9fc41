use vigil_audit::rules::Action as RuleAction;

use crate::audit::command_rules;

use super::*;

fn stage() -> (StdinStage, crate::shell::tests::Lines) {
    let rules = command_rules(&[
        ("no-rm", "rm", 5, RuleAction::Prohibit),
        ("no-halt", "halt", 5, RuleAction::Interrupt),
    ]);
    let (tx, rx) = mpsc::unbounded_channel();
    (StdinStage::new(rules, tx), crate::shell::tests::Lines(rx))
}

fn summary(actions: &[Action]) -> Vec<String> {
    actions
        .iter()
        .map(|a| match a {
            Action::Forward(b) => format!("forward {}", String::from_utf8_lossy(b)),
            Action::Tell(t) => format!("tell {t}"),
            Action::Mark(m) => format!("mark {m}"),
            Action::End { reason, .. } => format!("end {reason}"),
            other => format!("{other:?}"),
        })
        .collect()
}

#[test]
fn lines_are_held_until_their_newline_and_a_refused_one_is_never_sent() {
    let (mut s, mut rx) = stage();
    assert!(s.on_input(Bytes::from_static(b"echo a; r")).is_empty());
    let out = summary(&s.on_input(Bytes::from_static(b"m -rf /x\necho ok\n")));
    assert_eq!(out.len(), 4, "{out:?}");
    assert!(
        out[0].starts_with("mark command: echo a; rm -rf /x (rule no-rm"),
        "{out:?}"
    );
    assert!(
        out[1].starts_with("tell vigil: command refused by rule no-rm"),
        "{out:?}"
    );
    assert_eq!(out[2], "mark command: echo ok");
    assert_eq!(out[3], "forward echo ok\n");
    assert_eq!(rx.try_recv().unwrap().source(), Source::StdinLine);
}

#[test]
fn a_last_line_without_newline_is_decided_when_the_input_ends() {
    let (mut s, _rx) = stage();
    assert!(s.on_input(Bytes::from_static(b"halt")).is_empty());
    let out = summary(&s.on_input_end());
    assert!(
        out.iter()
            .any(|a| a.starts_with("end command_action(no-halt)")),
        "{out:?}"
    );
    assert!(s.on_input_end().is_empty(), "nothing is left");
}

#[test]
fn a_line_after_a_password_prompt_is_not_logged_unless_a_rule_hits() {
    let (mut s, mut rx) = stage();
    s.on_output(Bytes::from_static(b"[sudo] password for alice: "));
    let out = summary(&s.on_input(Bytes::from_static(b"hunter2\n")));
    assert_eq!(out, ["forward hunter2\n"]);
    assert!(rx.try_recv().is_err(), "the secret is not evidence");
    s.on_output(Bytes::from_static(b"Password: "));
    s.on_input(Bytes::from_static(b"rm-me-not rm x\n"));
    s.on_output(Bytes::from_static(b"Password: "));
    let out = summary(&s.on_input(Bytes::from_static(b"rm secret\n")));
    assert!(
        out[0].contains("[a line typed after a password prompt, 9 chars]"),
        "{out:?}"
    );
}

#[test]
fn a_long_stream_without_newlines_is_decided_in_bounded_pieces() {
    let (mut s, _rx) = stage();
    let data = Bytes::from(vec![b'x'; MAX_LINE * 2 + 10]);
    let out = s.on_input(data);
    let forwarded: usize = out
        .iter()
        .map(|a| match a {
            Action::Forward(b) => b.len(),
            _ => 0,
        })
        .sum();
    assert_eq!(forwarded, MAX_LINE * 2);
    assert_eq!(s.line.len(), 10);
}
