//! sudo answered by the gateway with the vaulted password (issue 12), against the real sudo
//! on the target: the test login may run anything as root with its own password, asked
//! every time (`timestamp_timeout=0`). In every case the password (the login's canary) is in
//! no file of the data directory, no recording, no SIEM message and not on the screen.

use std::sync::OnceLock;

use crate::harness::{Gateway, TARGET_USER, Target, files_under, target_password, text};
use crate::privacy::{all_recorded_bytes, contains};
use crate::rsyslog::Rsyslog;

/// The sudoers rule of the test login (made once per test process).
fn sudoers() {
    static DONE: OnceLock<()> = OnceLock::new();
    DONE.get_or_init(|| {
        let rule = format!(
            "Defaults:{TARGET_USER} timestamp_timeout=0, lecture=never\n{TARGET_USER} ALL=(ALL) ALL\n"
        );
        let path = "/etc/sudoers.d/vigil-e2e";
        std::fs::write(path, rule).expect("write the sudoers rule (run as root)");
        let _ = std::process::Command::new("chmod").args(["440", path]).status();
        let checked = std::process::Command::new("visudo")
            .args(["-c", "-f", path])
            .output()
            .expect("visudo");
        assert!(checked.status.success(), "{}", text(&checked));
    });
}

/// A target and a gateway whose login answers sudo in `mode`, sending every event to a
/// receiver.
fn setup(mode: &str, sudo_password: Option<&str>) -> (Target, Gateway, Rsyslog) {
    sudoers();
    let target = Target::start();
    let mut gw = Gateway::start();
    gw.provision(&target, "web01", "alice", "alice-pw");
    let rsyslog = Rsyslog::start(gw.dir.path());
    std::fs::write(gw.data.join("vigil.toml"), rsyslog.siem_tables("")).unwrap();
    gw.restart();
    let mut args = vec![
        "account",
        "set",
        "web01",
        TARGET_USER,
        "--sudo-inject",
        mode,
        "--sudo-ticket-minutes",
        "0",
    ];
    if sudo_password.is_some() {
        args.push("--sudo-password-stdin");
    }
    let out = gw.cli_stdin(&args, sudo_password);
    assert!(out.status.success(), "{}", text(&out));
    (target, gw, rsyslog)
}

/// alice's session at web01 with `typed`: what she saw, and the session's id.
fn typed(gw: &Gateway, typed: &[(u64, &[u8])]) -> (String, String) {
    let out = gw.typed_session("alice:web01", "alice-pw", typed);
    let screen = String::from_utf8_lossy(&out.stdout).into_owned();
    let id = gw.last_closed_session()["session"]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    (screen, id)
}

/// Installs the line query, runs `SHOW_ROOT`, then ends the sudo (if it still waits) and the
/// session.
fn one_sudo(gw: &Gateway) -> (String, String) {
    typed(
        gw,
        &[
            // The first key, after a quiet screen, installs the line query.
            (1500, b"e"),
            (700, b"cho ready\r"),
            (800, format!("{SHOW_ROOT}\r").as_bytes()),
            // pam_unix waits about two seconds before sudo says a password was wrong.
            (4000, b"\x03"),
            (500, b"exit\r"),
        ],
    )
}

fn events_of(gw: &Gateway, id: &str, kind: &str) -> Vec<serde_json::Value> {
    gw.session(id)["events"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["kind"] == kind)
        .map(|e| serde_json::from_str(e["detail"].as_str().unwrap()).unwrap())
        .collect()
}

/// The password is nowhere: the screen, every file of the data directory, every recorded
/// byte (decoded), every exported recording, every SIEM message.
fn password_is_nowhere(gw: &Gateway, rsyslog: &Rsyslog, screen: &str, password: &str) {
    let p = password.as_bytes();
    assert!(!screen.contains(password), "on the screen");
    for f in files_under(&gw.data) {
        let bytes = std::fs::read(&f).unwrap_or_default();
        assert!(!contains(&bytes, p), "in {}", f.display());
    }
    assert!(!contains(&all_recorded_bytes(gw), p), "in a recording");
    for s in gw.sessions() {
        let id = s["id"].as_str().unwrap();
        if !s["recording_key"].is_null() {
            assert!(!contains(&gw.export(id), p), "in the export of {id}");
        }
    }
    for f in files_under(&rsyslog.dir) {
        let bytes = std::fs::read(&f).unwrap_or_default();
        assert!(
            !contains(&bytes, p),
            "in the SIEM receiver's {}",
            f.display()
        );
    }
}

/// A sudo line whose output (a line `root`) shows that it ran as root.
const SHOW_ROOT: &str = "sudo id -un";

#[test]
fn on_demand_answers_a_plain_sudo_line_and_nothing_that_only_looks_like_it() {
    let (_target, gw, rsyslog) = setup("on-demand", None);
    let fake = format!("printf '[sudo] password for {TARGET_USER}: '; read x; echo got-$x");
    let (screen, id) = typed(
        &gw,
        &[
            // The first key, after a quiet screen, installs the line query.
            (1500, b"e"),
            (700, b"cho ready\r"),
            (800, format!("{SHOW_ROOT}\r").as_bytes()),
            // A fake prompt gets what the operator types, never the password.
            (1500, format!("{fake}\r").as_bytes()),
            (1200, b"typed-marker-4711\r"),
            // An alias for sudo turns answering off for the session.
            (800, b"alias sudo='sudo'\r"),
            (800, format!("{SHOW_ROOT}\r").as_bytes()),
            (1500, b"\x03"),
            (500, b"exit\r"),
        ],
    );
    // The first sudo ran as root with nothing typed; the second was not answered.
    assert_eq!(screen.matches("\r\nroot\r\n").count(), 1, "{screen}");
    assert!(screen.contains("got-typed-marker-4711"), "{screen}");
    let supplied = events_of(&gw, &id, "elevation_supplied");
    assert_eq!(supplied.len(), 1, "{supplied:?}");
    assert_eq!(supplied[0]["command"], SHOW_ROOT);
    assert_eq!(supplied[0]["mode"], "on-demand");
    let off = events_of(&gw, &id, "elevation_answering_off");
    assert!(
        off[0]["reason"].as_str().unwrap().contains("alias"),
        "{off:?}"
    );
    let refused = events_of(&gw, &id, "elevation_not_answered");
    assert_eq!(refused.len(), 1, "{refused:?}");
    assert!(
        refused[0]["reason"].as_str().unwrap().contains("off"),
        "{refused:?}"
    );
    // The SIEM hears of it.
    crate::harness::eventually(
        std::time::Duration::from_secs(10),
        "no ELEVATION_SUPPLIED at the receiver",
        || {
            rsyslog
                .lines("udp-rfc5424")
                .iter()
                .any(|l| l.contains("ELEVATION_SUPPLIED"))
                .then_some(())
        },
    );
    // The command of an exec request with a terminal is exact: answered too.
    let exec_screen = String::from_utf8_lossy(
        &gw.typed_session_with(
            &["-tt", SHOW_ROOT],
            "alice:web01",
            "alice-pw",
            &[(3000, b"")],
        )
        .stdout,
    )
    .into_owned();
    assert!(exec_screen.contains("\r\nroot\r\n"), "{exec_screen}");
    password_is_nowhere(&gw, &rsyslog, &screen, target_password());
    assert!(!exec_screen.contains(target_password()));
}

#[test]
fn a_wrong_vaulted_password_is_tried_once_and_two_rejections_block_the_login() {
    let wrong = "Wrong-vaulted-pw-5150";
    let (_target, gw, rsyslog) = setup("on-demand", Some(wrong));
    let run = || one_sudo(&gw);
    let (screen, id) = run();
    assert_eq!(screen.matches("Sorry, try again.").count(), 1, "{screen}");
    assert!(!screen.contains("\r\nroot\r\n"), "{screen}");
    assert!(
        screen.contains("vigil: the target refused the vaulted sudo password"),
        "{screen}"
    );
    let rejected = events_of(&gw, &id, "elevation_rejected");
    assert_eq!(rejected[0]["blocked"], false, "{rejected:?}");
    let (_, id) = run();
    assert_eq!(
        events_of(&gw, &id, "elevation_rejected")[0]["blocked"],
        true
    );
    assert!(gw.ok(&["account", "list", "web01"]).contains("BLOCKED"));
    // Blocked: the next prompt is not answered, and says why.
    let (screen, id) = run();
    assert!(!screen.contains("Sorry, try again."), "{screen}");
    let refused = events_of(&gw, &id, "elevation_not_answered");
    assert!(
        refused[0]["reason"].as_str().unwrap().contains("blocked"),
        "{refused:?}"
    );
    // An administrator acting closes the breaker.
    gw.ok(&[
        "account",
        "set",
        "web01",
        TARGET_USER,
        "--sudo-inject",
        "on-demand",
    ]);
    assert!(!gw.ok(&["account", "list", "web01"]).contains("BLOCKED"));
    password_is_nowhere(&gw, &rsyslog, &screen, wrong);
}

#[test]
fn start_mode_lands_at_a_root_prompt_and_holds_early_keys() {
    let (_target, gw, rsyslog) = setup("start", None);
    let (screen, id) = typed(
        &gw,
        &[
            // Typed before sudo asked: held, not lost, not given to sudo's prompt.
            (50, b"id -un\r"),
            (2500, b"exit\r"),
        ],
    );
    // The early `id -un` ran at root's prompt, after sudo.
    assert!(screen.contains("# id -un\r\n"), "{screen}");
    assert!(screen.contains("\rroot\r\n"), "{screen}");
    assert!(!screen.contains("Sorry"), "{screen}");
    let supplied = events_of(&gw, &id, "elevation_supplied");
    assert_eq!(supplied[0]["mode"], "start", "{supplied:?}");
    password_is_nowhere(&gw, &rsyslog, &screen, target_password());
}

#[test]
fn off_leaves_the_prompt_to_the_operator() {
    let (_target, gw, rsyslog) = setup("off", None);
    let (screen, id) = one_sudo(&gw);
    assert!(
        screen.contains(&format!("[sudo] password for {TARGET_USER}: ")),
        "{screen}"
    );
    assert!(!screen.contains("\r\nroot\r\n"), "{screen}");
    let session = gw.session(&id);
    assert!(
        !session["events"]
            .as_array()
            .unwrap()
            .iter()
            .any(|e| e["kind"].as_str().unwrap().starts_with("elevation_")),
        "{session}"
    );
    password_is_nowhere(&gw, &rsyslog, &screen, target_password());
}
