//! Locking an operator's interaction from the command line: the CLI reaches the node through
//! the command queue, the operator is told, new sessions are refused until the release.

use std::io::Write;
use std::time::Duration;

use crate::harness::{Gateway, Target, eventually, text};

#[test]
fn cli_lock_unlock_and_release() {
    let target = Target::start();
    let gw = Gateway::start();
    gw.provision(&target, "web01", "alice", "alice-pw");
    let (mut child, id) = gw.interactive("alice:web01", "alice-pw", "cat");
    let out = gw.ok(&["session", "lock", &id]);
    assert!(out.contains("is locked"), "{out}");
    let refused = gw
        .ssh("alice:web01", "alice-pw")
        .arg("echo should-not-run")
        .output()
        .unwrap();
    let all = text(&refused);
    assert!(
        !refused.status.success()
            && all.contains("was locked by cli:")
            && !all.contains("should-not-run"),
        "{all}"
    );
    let stdin = child.stdin.as_mut().unwrap();
    stdin.write_all(b"typed-while-locked\r").unwrap();
    std::thread::sleep(Duration::from_millis(500));
    let out = gw.ok(&["user", "release", "alice"]);
    assert!(out.contains("released alice (locked by cli:"), "{out}");
    eventually(
        Duration::from_secs(5),
        "the release unlocks the session",
        || (gw.session(&id)["session"]["status"] == "active").then_some(()),
    );
    stdin.write_all(b"typed-after-release\r").unwrap();
    std::thread::sleep(Duration::from_millis(500));
    gw.ok(&["session", "kill", &id]);
    let out = child.wait_with_output().unwrap();
    let seen = text(&out);
    assert!(
        seen.contains("your session was locked by cli:")
            && seen.contains("your session was unlocked by cli:"),
        "{seen}"
    );
    assert!(
        seen.contains("typed-after-release") && !seen.contains("typed-while-locked"),
        "{seen}"
    );
    let s = gw.session(&id);
    let unlocked = s["events"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["kind"] == "unlocked")
        .unwrap()
        .clone();
    let detail: serde_json::Value =
        serde_json::from_str(unlocked["detail"].as_str().unwrap()).unwrap();
    assert_eq!(detail["input_dropped_bytes"], 19, "{unlocked}");
    assert!(gw.audit().iter().any(|e| e["action"] == "user_released"));
}
