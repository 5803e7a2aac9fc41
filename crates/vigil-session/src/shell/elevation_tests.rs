//! The sudo responder inside the shell stage, against a simulated bash and sudo. The real
//! sudo is in the e2e tests (`crates/vigil/tests/e2e/elevation.rs`).

use std::sync::Arc;

use vigil_core::{Account, EventKind, SecretKind, SudoInject};
use vigil_vault::Secret;

use super::tests::{bash, held, osc, summary};
use super::*;
use crate::elevate::Responder;
use crate::elevation::Elevation;

const PASSWORD: &str = "canary-Pw-1";
const ROOT: &str = "root-Pw-2";
const PROMPT: &str = "[sudo] password for ops: ";
/// What bash prints between the submitted line and the program's output.
const ECHO: &str = "\r\n\x1b[?2004l\r";

fn account(mode: SudoInject, ticket_minutes: u32) -> Account {
    Account {
        id: "a".into(),
        target_id: "t".into(),
        login: "ops".into(),
        secret_kind: SecretKind::Password,
        sudo_inject: mode,
        sudo_secret: false,
        su_secret: true,
        sudo_blocked: false,
        sudo_ticket_minutes: ticket_minutes,
    }
}

fn elevation(mode: SudoInject, ticket_minutes: u32) -> Arc<Elevation> {
    Arc::new(Elevation::new(
        &account(mode, ticket_minutes),
        "web01",
        Some(Secret::from(PASSWORD.to_string())),
        Some(Secret::from(ROOT.to_string())),
    ))
}

/// A bash stage answering sudo on demand, and its evidence.
fn on_demand(ticket_minutes: u32) -> (ShellStage, mpsc::UnboundedReceiver<Note>) {
    let (s, _) = bash();
    with(s, elevation(SudoInject::OnDemand, ticket_minutes), false)
}

fn with(
    mut s: ShellStage,
    e: Arc<Elevation>,
    start: bool,
) -> (ShellStage, mpsc::UnboundedReceiver<Note>) {
    let (tx, rx) = mpsc::unbounded_channel();
    s.evidence = tx.clone();
    let notes = tx.clone();
    let sink = Box::new(move |n| {
        let _ = notes.send(Note::Elevation(n));
    });
    s.elevate = Some(Responder::new(e, sink, start));
    (s, rx)
}

/// Submits `line` at bash's prompt, bash answers with it, and the Enter goes through.
async fn submit(s: &mut ShellStage, line: &str) {
    s.on_output(Bytes::from(osc(s, "P", None)));
    let mut typed = line.as_bytes().to_vec();
    typed.push(b'\r');
    let hold = held(s.on_input(Bytes::from(typed)));
    let quoted = format!("'{}'", line.replace('\'', "'\\''"));
    s.on_output(Bytes::from(osc(s, "L", Some(&quoted))));
    let decided = summary(&hold.decided().await);
    assert!(
        decided.iter().any(|a| a == "forward \r"),
        "{line:?}: {decided:?}"
    );
}

/// Types `line` as a person would (its keys echoed), then Enter, without the query; returns
/// what the Enter became.
fn type_line(s: &mut ShellStage, line: &str) -> Vec<Action> {
    s.on_input(Bytes::from_static(b"\x15"));
    s.on_output(Bytes::from_static(b"\r\x1b[K$ "));
    s.on_input(Bytes::from(line.as_bytes().to_vec()));
    s.on_output(Bytes::from(line.as_bytes().to_vec()));
    s.on_input(Bytes::from_static(b"\r"))
}

/// What bash prints once it runs the submitted line (its newline, the end of bracketed
/// paste, the `PS0` marker), then `output`, the line's own.
fn after(s: &ShellStage, output: &str) -> Bytes {
    let mut b = ECHO.as_bytes().to_vec();
    b.extend(osc(s, "E", None));
    b.extend(output.as_bytes());
    Bytes::from(b)
}

fn injected(out: &[Action]) -> Vec<String> {
    out.iter()
        .filter_map(|a| match a {
            Action::Inject(b) => Some(String::from_utf8_lossy(b).into_owned()),
            _ => None,
        })
        .collect()
}

fn shown(out: &[Action]) -> String {
    out.iter()
        .filter_map(|a| match a {
            Action::Forward(b) => Some(String::from_utf8_lossy(b).into_owned()),
            _ => None,
        })
        .collect()
}

/// The elevation evidence sent so far: kind and detail.
fn notes(rx: &mut mpsc::UnboundedReceiver<Note>) -> Vec<(EventKind, serde_json::Value)> {
    let mut out = Vec::new();
    while let Ok(n) = rx.try_recv() {
        if let Note::Elevation(e) = n {
            out.push((e.kind, e.detail));
        }
    }
    out
}

#[tokio::test]
async fn a_plain_sudo_line_gets_the_password_and_the_evidence_says_so() {
    let (mut s, mut rx) = on_demand(0);
    submit(&mut s, "sudo id -u").await;
    // The prompt may come in pieces.
    let out = s.on_output(after(&s, "[sudo] pass"));
    assert!(injected(&out).is_empty());
    let out = s.on_output(Bytes::from_static(b"word for ops: "));
    assert_eq!(injected(&out), [format!("{PASSWORD}\r")]);
    assert_eq!(shown(&out), "word for ops: ");
    let n = notes(&mut rx);
    assert_eq!(n.len(), 1, "{n:?}");
    assert_eq!(n[0].0, EventKind::ElevationSupplied);
    assert_eq!(n[0].1["command"], "sudo id -u");
    assert!(!n[0].1.to_string().contains(PASSWORD));
    // Should the target ever echo it, the password is masked, even cut in two.
    let out = s.on_output(Bytes::from(format!("\r\nx {PASSWORD} y canary-")));
    assert_eq!(shown(&out), "\r\nx *********** y ");
    let out = s.on_output(Bytes::from_static(b"Pw-1\r\n0\r\n"));
    assert_eq!(
        shown(&out),
        "canary-Pw-1\r\n0\r\n"
            .replace(PASSWORD, "***********")
            .replace("canary-Pw-1", "***********")
    );
}

#[tokio::test]
async fn a_fake_prompt_printed_by_another_program_gets_nothing() {
    let (mut s, mut rx) = on_demand(0);
    submit(&mut s, "printf '[sudo] password for ops: '; read x").await;
    let out = s.on_output(after(&s, PROMPT));
    assert!(injected(&out).is_empty());
    assert!(notes(&mut rx).is_empty());
    // A sudo line whose first output is something else, then a prompt.
    submit(&mut s, "sudo id").await;
    let out = s.on_output(after(&s, &format!("hello\r\n{PROMPT}")));
    assert!(injected(&out).is_empty());
    let n = notes(&mut rx);
    assert_eq!(n[0].0, EventKind::ElevationNotAnswered);
    assert!(n[0].1["reason"].as_str().unwrap().contains("first output"));
    // Refused forms: said when their prompt shows.
    for line in [
        "sudo -S id",
        "SUDO_PROMPT=x sudo id",
        "sudo id | cat",
        "./sudo id",
    ] {
        submit(&mut s, line).await;
        let out = s.on_output(after(&s, PROMPT));
        assert!(injected(&out).is_empty(), "{line}");
        assert_eq!(
            notes(&mut rx)[0].0,
            EventKind::ElevationNotAnswered,
            "{line}"
        );
    }
}

#[tokio::test]
async fn a_prompt_before_bash_says_it_runs_the_line_gets_nothing() {
    let (mut s, mut rx) = on_demand(0);
    submit(&mut s, "sudo id").await;
    // The redraw after the query, then a prompt without PS0's marker (PS0 was reset).
    let out = s.on_output(Bytes::from(format!("\r\x1b[K$ sudo id{ECHO}{PROMPT}")));
    assert!(injected(&out).is_empty());
    let n = notes(&mut rx);
    assert!(n[0].1["reason"].as_str().unwrap().contains("PS0"), "{n:?}");
}

#[tokio::test]
async fn keys_typed_after_enter_or_a_late_prompt_get_nothing() {
    let (mut s, mut rx) = on_demand(0);
    submit(&mut s, "sudo id").await;
    s.on_input(Bytes::from_static(b"x"));
    let out = s.on_output(after(&s, PROMPT));
    assert!(injected(&out).is_empty());
    assert!(notes(&mut rx).is_empty());
}

#[tokio::test]
async fn an_alias_for_sudo_turns_answering_off_for_the_session() {
    let (mut s, mut rx) = on_demand(0);
    // A definition is not asked for (it could rebind the query): its typed keys decide.
    s.on_output(Bytes::from(osc(&s, "P", None)));
    type_line(&mut s, "alias sudo='printf x'");
    let n = notes(&mut rx);
    assert_eq!(n[0].0, EventKind::ElevationAnsweringOff);
    type_line(&mut s, "sudo id -u");
    let out = s.on_output(after(&s, PROMPT));
    assert!(injected(&out).is_empty());
    let n = notes(&mut rx);
    assert_eq!(n[0].0, EventKind::ElevationNotAnswered);
    assert!(n[0].1["reason"].as_str().unwrap().contains("off"), "{n:?}");
}

#[tokio::test]
async fn a_rejected_password_stops_sudo_and_answering() {
    let (mut s, mut rx) = on_demand(0);
    submit(&mut s, "sudo id").await;
    s.on_output(after(&s, PROMPT));
    let out = s.on_output(Bytes::from(format!("\r\nSorry, try again.\r\n{PROMPT}")));
    assert_eq!(injected(&out), ["\u{3}"]);
    assert!(
        summary(&out)
            .iter()
            .any(|a| a.starts_with("tell vigil: the target refused"))
    );
    let n = notes(&mut rx);
    assert_eq!(
        n.iter().map(|(k, _)| *k).collect::<Vec<_>>(),
        [EventKind::ElevationSupplied, EventKind::ElevationRejected]
    );
    submit(&mut s, "sudo id").await;
    let out = s.on_output(after(&s, PROMPT));
    assert!(
        injected(&out).is_empty(),
        "answering is off after a rejection"
    );
}

#[tokio::test]
async fn a_sudo_whose_credential_may_be_cached_is_not_answered_until_sudo_k() {
    let (mut s, mut rx) = on_demand(15);
    submit(&mut s, "sudo id").await;
    let out = s.on_output(after(&s, PROMPT));
    assert_eq!(injected(&out).len(), 1);
    s.on_output(Bytes::from_static(b"\r\nuid=0(root)\r\n"));
    notes(&mut rx);
    submit(&mut s, "sudo ./fake-prompt").await;
    let out = s.on_output(after(&s, PROMPT));
    assert!(injected(&out).is_empty());
    let n = notes(&mut rx);
    assert!(
        n[0].1["reason"].as_str().unwrap().contains("sudo -k"),
        "{n:?}"
    );
    submit(&mut s, "sudo -k").await;
    submit(&mut s, "sudo id").await;
    let out = s.on_output(after(&s, PROMPT));
    assert_eq!(injected(&out).len(), 1);
}

#[tokio::test]
async fn su_to_root_gets_the_root_password() {
    let (mut s, mut rx) = on_demand(0);
    submit(&mut s, "su -").await;
    let out = s.on_output(after(&s, "Password: "));
    assert_eq!(injected(&out), [format!("{ROOT}\r")]);
    assert_eq!(notes(&mut rx)[0].1["tool"], "su");
}

#[tokio::test]
async fn a_line_bash_did_not_read_is_not_answered() {
    // dash: no query, lines come from the typed keys.
    let (mut s, _) = bash();
    s.query = ask::Query::Absent;
    let (mut s, mut rx) = with(s, elevation(SudoInject::OnDemand, 0), false);
    let out = type_line(&mut s, "sudo id");
    assert!(
        summary(&out).iter().any(|a| a == "forward \r"),
        "{:?}",
        summary(&out)
    );
    let out = s.on_output(after(&s, PROMPT));
    assert!(injected(&out).is_empty(), "{out:?}");
    let n = notes(&mut rx);
    assert!(
        n[0].1["reason"]
            .as_str()
            .unwrap()
            .contains("shell's own buffer"),
        "{n:?}"
    );
}

#[tokio::test]
async fn start_mode_answers_first_and_holds_the_operators_keys_until_then() {
    let (tx, _rx) = mpsc::unbounded_channel();
    let rules = crate::audit::command_rules(&[]);
    let s = ShellStage::new(rules, tx, true, 80);
    let (mut s, mut rx) = with(s, elevation(SudoInject::Start, 15), true);
    let out = s.on_input(Bytes::from_static(b"id -u\r"));
    let hold = match out.as_slice() {
        [Action::Hold(_)] => out.into_iter().next().and_then(|a| match a {
            Action::Hold(h) => Some(h),
            _ => None,
        }),
        other => panic!("not held: {other:?}"),
    }
    .unwrap();
    let out = s.on_output(Bytes::from_static(PROMPT.as_bytes()));
    assert_eq!(injected(&out), [format!("{PASSWORD}\r")]);
    assert_eq!(notes(&mut rx)[0].1["mode"], "start");
    s.on_output(Bytes::from_static(b"\r\n"));
    s.on_output(Bytes::from_static(b"root@web01:~# "));
    let decided = summary(&hold.decided().await);
    assert!(decided.iter().any(|a| a == "forward id -u"), "{decided:?}");
}

#[tokio::test]
async fn the_command_of_an_exec_request_with_a_terminal_is_answered() {
    let (tx, _rx) = mpsc::unbounded_channel();
    let s = ShellStage::new(crate::audit::command_rules(&[]), tx, false, 80);
    let (mut s, mut rx) = with(s, elevation(SudoInject::OnDemand, 0), false);
    if let Some(r) = &mut s.elevate {
        r.command_runs("sudo systemctl restart nginx");
    }
    let out = s.on_output(Bytes::from_static(PROMPT.as_bytes()));
    assert_eq!(injected(&out), [format!("{PASSWORD}\r")]);
    assert_eq!(
        notes(&mut rx)[0].1["command"],
        "sudo systemctl restart nginx"
    );
    // One that is not plain is not.
    let (tx, _rx) = mpsc::unbounded_channel();
    let s = ShellStage::new(crate::audit::command_rules(&[]), tx, false, 80);
    let (mut s, mut rx) = with(s, elevation(SudoInject::OnDemand, 0), false);
    if let Some(r) = &mut s.elevate {
        r.command_runs("sudo -S id");
    }
    let out = s.on_output(Bytes::from_static(PROMPT.as_bytes()));
    assert!(injected(&out).is_empty());
    assert_eq!(notes(&mut rx)[0].0, EventKind::ElevationNotAnswered);
}
