//! Ending sessions from outside, evidence that holds no secrets, and recordings others can play.

use std::process::Stdio;
use std::time::Duration;

use crate::assert_eventually;
use crate::harness::{Gateway, Target, eventually, files_under, target_password, text};

/// Regression (issue 9): `vigil session kill` wrote neither `terminate_requested` nor an
/// administration entry, where the console's terminate wrote both.
#[test]
fn kill_ends_the_session_and_the_operator_is_told() {
    let target = Target::start();
    let gw = Gateway::start();
    gw.provision(&target, "web01", "alice", "alice-pw");
    let (child, id) = gw.interactive("alice:web01", "alice-pw", "sleep 60");
    let out = gw.ok(&["session", "kill", &id]);
    assert!(out.contains("ended: terminated_by(cli:"), "{out}");
    let out = child.wait_with_output().unwrap();
    assert!(
        text(&out).contains("You have been disconnected"),
        "{}",
        text(&out)
    );
    let s = gw.session(&id);
    let ended = s["events"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["kind"] == "ended")
        .unwrap()
        .clone();
    assert!(
        ended["actor"].as_str().unwrap().starts_with("cli:"),
        "{ended}"
    );
    let requested = s["events"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["kind"] == "terminate_requested")
        .unwrap_or_else(|| panic!("no terminate_requested in the session log: {s}"))
        .clone();
    assert!(
        requested["actor"].as_str().unwrap().starts_with("cli:"),
        "{requested}"
    );
    let audit: serde_json::Value =
        serde_json::from_str(&gw.ok(&["audit", "list", "--json"])).unwrap();
    let entry = audit
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["action"] == "session_terminated" && e["subject"] == id.as_str())
        .unwrap_or_else(|| panic!("no session_terminated in the administration log: {audit}"))
        .clone();
    assert!(
        entry["actor"].as_str().unwrap().starts_with("cli:"),
        "{entry}"
    );
    let killed = gw.cli(&["session", "kill", &id]);
    assert!(
        !killed.status.success() && text(&killed).contains("already ended"),
        "{}",
        text(&killed)
    );
}

#[test]
fn the_vaulted_password_appears_nowhere() {
    let target = Target::start();
    let gw = Gateway::start();
    gw.provision(&target, "web01", "alice", "alice-pw");
    let out = gw
        .ssh("alice:web01", "alice-pw")
        .arg("-tt")
        .arg("echo hello; id")
        .output()
        .unwrap();
    assert!(String::from_utf8_lossy(&out.stdout).contains("hello"));
    let _ = gw
        .ssh("alice:web01", "alice-pw")
        .arg("cat /etc/hostname")
        .output()
        .unwrap();
    let s = gw.last_closed_session();
    let canary = target_password().as_bytes();
    let mut checked = 0;
    for file in files_under(gw.dir.path()) {
        let bytes = std::fs::read(&file).unwrap_or_default();
        assert!(
            !bytes.windows(canary.len()).any(|w| w == canary),
            "the canary is in {}",
            file.display()
        );
        checked += 1;
    }
    assert!(
        checked >= 5,
        "data directory, database, keys, recordings and log checked"
    );
    // Sealed recordings are compressed: check their plain text too.
    for session in gw.sessions() {
        let cast = gw.export(session["id"].as_str().unwrap());
        assert!(
            !cast.windows(canary.len()).any(|w| w == canary),
            "the canary is in a recording"
        );
    }
    let log = gw.log_text();
    assert!(!log.contains(target_password()));
    let all = serde_json::to_string(&s).unwrap() + &serde_json::to_string(&gw.audit()).unwrap();
    assert!(!all.contains(target_password()));
}

#[test]
fn exported_recording_plays_in_asciinema() {
    let target = Target::start();
    let gw = Gateway::start();
    gw.provision(&target, "web01", "alice", "alice-pw");
    let out = gw
        .ssh("alice:web01", "alice-pw")
        .arg("-tt")
        .arg("printf 'play-%s\\n' check; printf '\\xff\\xfe raw\\n'")
        .output()
        .unwrap();
    assert!(String::from_utf8_lossy(&out.stdout).contains("play-check"));
    let s = gw.last_closed_session();
    let id = s["session"]["id"].as_str().unwrap();
    let path = gw.dir.path().join("play.cast");
    gw.ok(&["recording", "export", id, "-o", path.to_str().unwrap()]);
    let asciinema = which("asciinema")
        .expect("asciinema 3 (cargo install asciinema) is needed; the test script installs it");
    // asciinema play needs a terminal: `script` gives it one.
    let played = std::process::Command::new("timeout")
        .args(["60", "script", "-qec"])
        .arg(format!("{asciinema} play -s 20 {}", path.display()))
        .arg("/dev/null")
        .stdin(Stdio::null())
        .output()
        .unwrap();
    assert!(played.status.success(), "{}", text(&played));
    let shown = String::from_utf8_lossy(&played.stdout);
    assert!(shown.contains("play-check"), "{shown}");
    assert!(shown.contains("raw"), "{shown}");
}

fn which(program: &str) -> Option<String> {
    let out = std::process::Command::new("sh")
        .arg("-c")
        .arg(format!(
            "command -v {program} || ls $HOME/.cargo/bin/{program} 2>/dev/null"
        ))
        .output()
        .ok()?;
    let path = String::from_utf8_lossy(&out.stdout)
        .lines()
        .next()?
        .trim()
        .to_owned();
    (!path.is_empty()).then_some(path)
}

#[test]
fn a_crashed_node_marks_its_open_sessions_interrupted() {
    let target = Target::start();
    let mut gw = Gateway::start();
    gw.provision(&target, "web01", "alice", "alice-pw");
    let mut child = gw
        .ssh("alice:web01", "alice-pw")
        .args(["-tt", "sleep 60"])
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    assert_eventually!(
        gw.sessions().iter().any(|s| s["status"] == "active"),
        Duration::from_secs(10),
        "no active session"
    );
    // SIGTERM: the node ends its sessions itself, with the reason.
    gw.stop();
    let _ = child.wait();
    let s = gw.sessions().into_iter().next().unwrap();
    assert_eq!(s["end_reason"], "node_shutdown", "{s}");
    gw.restart();
    let out = gw
        .ssh("alice:web01", "alice-pw")
        .arg("echo after-restart")
        .output()
        .unwrap();
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        "after-restart\n",
        "{}",
        text(&out)
    );
    let _ = child.kill();
}

#[test]
fn the_live_recording_reaches_disk_within_a_second() {
    let target = Target::start();
    let gw = Gateway::start();
    gw.provision(&target, "web01", "alice", "alice-pw");
    let child = gw
        .ssh("alice:web01", "alice-pw")
        .args(["-tt", "echo flushed-$((20+22)); sleep 30"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let id = eventually(Duration::from_secs(10), "no active session", || {
        gw.sessions()
            .into_iter()
            .find(|s| s["status"] == "active")
            .and_then(|s| s["id"].as_str().map(str::to_owned))
    });
    // A crash loses at most the last second: the bytes are in the live file by then, in
    // decodable form (the live file is a zstd frame that is flushed, not yet finished).
    let live = gw
        .data
        .join("recordings")
        .join(format!("{id}.cast.zst.part"));
    let found = eventually(
        Duration::from_millis(2500),
        "output not on disk within the flush interval",
        || {
            let bytes = std::fs::read(&live).ok()?;
            let text = String::from_utf8(decode_unfinished(&bytes)).ok()?;
            text.contains("flushed-42").then_some(text)
        },
    );
    assert!(found.starts_with("{\"version\":3"));
    gw.ok(&["session", "kill", &id]);
    let _ = child.wait_with_output();
}

/// What a reader gets from a zstd frame that is still being written: everything flushed.
fn decode_unfinished(bytes: &[u8]) -> Vec<u8> {
    use std::io::Read;
    let mut out = Vec::new();
    if let Ok(mut d) = zstd::stream::read::Decoder::new(bytes) {
        // The frame has no end yet: read_to_end keeps what it decoded before the error.
        let _ = d.read_to_end(&mut out);
    }
    out
}
