//! Audited commands on exec requests (issue 10), through real OpenSSH: the command is known
//! exactly, so a refused one never reaches the target (the target's own evidence, a file the
//! command would have made, proves it).

use std::path::PathBuf;

use crate::harness::{Gateway, Target, command_events, text};

/// A file on the target host that a command would create (the target is this machine).
fn proof(name: &str) -> PathBuf {
    let path = std::env::temp_dir().join(format!("vigil-proof-{name}-{}", std::process::id()));
    let _ = std::fs::remove_file(&path);
    path
}

#[test]
fn exec_commands_are_decided_before_the_target_sees_them() {
    let target = Target::start();
    let gw = Gateway::start();
    gw.provision(&target, "web01", "alice", "alice-pw");
    gw.command_rule("no-touch", "touch", 40, "prohibit");
    gw.ok(&[
        "rule",
        "add",
        "whoami",
        "--pattern",
        r"^id(\s|$)",
        "--score",
        "5",
        "--action",
        "alert",
    ]);

    // Prohibited, hidden behind a wrapper and a harmless first command: nothing runs.
    let made = proof("prohibited");
    let out = gw
        .ssh("alice:web01", "alice-pw")
        .arg(format!(
            "echo first; sudo -n /usr/bin/../bin/touch {}",
            made.display()
        ))
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(126), "{}", text(&out));
    assert!(
        text(&out).contains("refused by rule no-touch"),
        "{}",
        text(&out)
    );
    assert!(
        !text(&out).lines().any(|l| l.trim() == "first"),
        "no part of the line ran: {:?}",
        text(&out)
    );
    assert!(!made.exists(), "the prohibited command ran on the target");
    let s = gw.last_closed_session();
    let id = s["session"]["id"].as_str().unwrap();
    let events = command_events(&gw, id);
    assert_eq!(events.len(), 1, "{events:?}");
    assert_eq!(events[0]["action"], "prohibit");
    assert_eq!(events[0]["source"], "exec");
    assert_eq!(events[0]["rules"][0]["rule"], "no-touch");
    assert_eq!(s["session"]["risk"], 40);
    let shown = gw.ok(&["session", "show", id]);
    assert!(
        shown.contains("commands (risk 40):") && shown.contains("prohibit   no-touch"),
        "{shown}"
    );

    // Alert: it runs, and is scored and logged; a command no rule names is logged too.
    let out = gw
        .ssh("alice:web01", "alice-pw")
        .arg("id -u")
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", text(&out));
    let s = gw.last_closed_session();
    let id = s["session"]["id"].as_str().unwrap();
    assert_eq!(command_events(&gw, id)[0]["action"], "alert");
    assert_eq!(s["session"]["risk"], 5);
    let out = gw
        .ssh("alice:web01", "alice-pw")
        .arg("uptime")
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", text(&out));
    let s = gw.last_closed_session();
    let id = s["session"]["id"].as_str().unwrap();
    assert_eq!(command_events(&gw, id)[0]["action"], "none");
    // Who ran what, where: across sessions, newest first, case-insensitive.
    let hits: Vec<serde_json::Value> =
        serde_json::from_str(&gw.ok(&["command", "search", "TOUCH", "--json"])).unwrap();
    assert_eq!(hits.len(), 1, "{hits:?}");
    assert_eq!(
        (
            hits[0]["user"].as_str(),
            hits[0]["target"].as_str(),
            hits[0]["action"].as_str()
        ),
        (Some("alice"), Some("web01"), Some("prohibit"))
    );
    assert!(hits[0]["command"].as_str().unwrap().contains("touch"));
    // The recording marks the command.
    let cast = vigil_record::read_cast(&gw.export(id)[..]).unwrap();
    assert!(
        cast.events.iter().any(
            |e| matches!(&e.data, vigil_record::EventData::Marker(m) if m == "command: uptime")
        )
    );
}

#[test]
fn interrupt_ends_the_session_and_deactivate_disables_the_user() {
    let target = Target::start();
    let gw = Gateway::start();
    gw.provision(&target, "web01", "alice", "alice-pw");
    gw.command_rule("no-shutdown", "shutdown", 10, "interrupt");
    gw.command_rule("no-useradd", "useradd", 10, "deactivate");

    let out = gw
        .ssh("alice:web01", "alice-pw")
        .arg("shutdown -h now")
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(text(&out).contains("rule no-shutdown"), "{}", text(&out));
    let s = gw.last_closed_session();
    assert_eq!(s["session"]["end_reason"], "command_action(no-shutdown)");

    let out = gw
        .ssh("alice:web01", "alice-pw")
        .arg("useradd eve")
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(text(&out).contains("account disabled"), "{}", text(&out));
    let s = gw.last_closed_session();
    assert_eq!(s["session"]["end_reason"], "command_action(no-useradd)");
    let audit = gw.audit();
    assert!(
        audit.iter().any(|e| e["action"] == "user_disabled"
            && e["subject"] == "alice"
            && e["actor"] == "system"),
        "the deactivation is in the administration log"
    );
    let refused = gw
        .ssh("alice:web01", "alice-pw")
        .arg("true")
        .output()
        .unwrap();
    assert!(
        !refused.status.success(),
        "a deactivated user cannot sign in"
    );
    gw.ok(&["user", "enable", "alice"]);
    let again = gw
        .ssh("alice:web01", "alice-pw")
        .arg("true")
        .output()
        .unwrap();
    assert!(again.status.success(), "{}", text(&again));
}

/// The seed: rules are fixed when a session starts. A rule added while a session runs does
/// not reach it (over a multiplexed connection, the same session), but reaches the next one.
/// Also the regression of a multiplexed command that printed nothing: sshd may send EOF
/// before the exit status, OpenSSH then closes the channel, and the exit status written
/// after a store write was lost (ssh exited 255).
#[test]
fn rules_added_or_edited_during_a_session_reach_the_next_one_only() {
    let target = Target::start();
    let gw = Gateway::start();
    gw.provision(&target, "web01", "alice", "alice-pw");
    // A rule the session starts with, as an alert: edited to prohibit while it runs.
    gw.command_rule("no-touch", "touch", 10, "alert");
    let socket = gw.dir.path().join("rules.sock");
    let control = format!("ControlPath={}", socket.display());
    let mut master = gw
        .ssh("alice:web01", "alice-pw")
        .args(["-M", "-N", "-o", "ControlPersist=60", "-o", &control])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let _ = master.wait();
    crate::harness::eventually(
        std::time::Duration::from_secs(15),
        "the master connection",
        || socket.exists().then_some(()),
    );
    let over_master = |command: &str| {
        gw.ssh("alice:web01", "alice-pw")
            .args(["-S", socket.to_str().unwrap(), command])
            .output()
            .unwrap()
    };
    // The session reaches its target (and takes its rules) with its first channel.
    for (command, status) in [("true", 0), ("exit 3", 3)] {
        let out = over_master(command);
        assert_eq!(out.status.code(), Some(status), "{command}: {}", text(&out));
    }
    gw.ok(&["rule", "edit", "no-touch", "--action", "prohibit"]);
    gw.command_rule("no-mkdir", "mkdir", 10, "prohibit");
    let during = proof("during");
    let out = over_master(&format!("touch {}", during.display()));
    assert!(out.status.success(), "{:?} {}", out.status, text(&out));
    assert!(
        during.exists(),
        "the running session keeps the rules it started with (edited)"
    );
    let made = proof("during-dir");
    let out = over_master(&format!("mkdir {}", made.display()));
    assert!(
        out.status.success() && made.exists(),
        "and has none added later: {}",
        text(&out)
    );
    let _ = std::fs::remove_dir(&made);
    let _ = gw
        .ssh("alice:web01", "alice-pw")
        .args(["-S", socket.to_str().unwrap(), "-O", "exit"])
        .output();
    let next = proof("next");
    let out = gw
        .ssh("alice:web01", "alice-pw")
        .arg(format!("touch {}", next.display()))
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(126), "{}", text(&out));
    assert!(!next.exists(), "the next session has the new rule");
    let _ = std::fs::remove_file(&during);
}

/// Interactive shells (bash, then dash): Enter is held until the typed line is decided; a
/// prohibited line never runs (the target's own evidence: the file it would make is not
/// there), the shell returns to a prompt, and the session goes on.
#[test]
fn prohibited_lines_typed_at_bash_and_dash_never_run() {
    let target = Target::start();
    let gw = Gateway::start();
    gw.provision(&target, "web01", "alice", "alice-pw");
    gw.command_rule("no-touch", "touch", 7, "prohibit");
    for shell in ["bash", "dash"] {
        let proofs: Vec<PathBuf> = (0..8).map(|i| proof(&format!("{shell}-{i}"))).collect();
        let p = |i: usize| proofs[i].display().to_string();
        let lines: Vec<Vec<u8>> = vec![
            format!("exec {shell}\r").into_bytes(),
            format!("touch {}\r", p(0)).into_bytes(),
            // Edited with backspace: still touch.
            format!("tou\x7f\x7fouch {}\r", p(1)).into_bytes(),
            // Hidden behind a harmless command.
            format!("echo ok; \\touch {}\r", p(2)).into_bytes(),
            // Ctrl-C abandons a line; the next one is decided on its own.
            format!("rm -rf /nonexistent\x03touch {}\r", p(3)).into_bytes(),
            // Every list and pipe operator, and a sudo prefix.
            format!("true && touch {}\r", p(4)).into_bytes(),
            format!("false || touch {}\r", p(5)).into_bytes(),
            format!("echo hi | touch {}\r", p(6)).into_bytes(),
            format!("sudo -n touch {}\r", p(7)).into_bytes(),
            // History recall (bash recalls the refused touch; dash has no history and gets
            // the arrow's bytes): not readable while a rule could stop it, so it does not run.
            b"\x1b[A\r".to_vec(),
            b"echo alive-$((6*7))\r".to_vec(),
            b"exit\r".to_vec(),
        ];
        let typed: Vec<(u64, &[u8])> = lines.iter().map(|l| (700, l.as_slice())).collect();
        let out = gw.typed_session("alice:web01", "alice-pw", &typed);
        let seen = text(&out);
        for (i, proof) in proofs.iter().enumerate() {
            assert!(!proof.exists(), "{shell}: prohibited line {i} ran: {seen}");
        }
        assert!(
            seen.contains("alive-42"),
            "{shell}: the shell is usable after: {seen}"
        );
        assert!(seen.contains("refused by rule no-touch"), "{shell}: {seen}");
        let s = gw.last_closed_session();
        let id = s["session"]["id"].as_str().unwrap();
        let events = command_events(&gw, id);
        let refused = events.iter().filter(|e| e["action"] == "prohibit").count();
        assert_eq!(refused, 8, "{shell}: {events:#?}");
        assert!(
            events
                .iter()
                .any(|e| e["command"] == "echo alive-$((6*7))" && e["action"] == "none")
        );
        assert!(
            events.iter().any(|e| e["source"] == "unreadable"),
            "{shell}: the recalled line is logged as unreadable: {events:#?}"
        );
        assert!(seen.contains("type it out in full"), "{shell}: {seen}");
        assert_eq!(s["session"]["risk"], 56, "{shell}");
    }
}
