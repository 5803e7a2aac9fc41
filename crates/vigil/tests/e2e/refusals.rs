//! What the gateway refuses, and that each refusal is clear to the operator and logged.

use crate::harness::{Gateway, Target, has_event, text};

#[test]
fn wrong_password_and_unknown_user_are_rejected_and_audited() {
    let target = Target::start();
    let gw = Gateway::start();
    gw.provision(&target, "web01", "alice", "alice-pw");
    let out = gw
        .ssh("alice:web01", "not-the-password")
        .arg("true")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(255), "{}", text(&out));
    let out = gw
        .ssh("mallory:web01", "whatever")
        .arg("true")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(255), "{}", text(&out));
    let audit = gw.audit();
    let failed: Vec<String> = audit
        .iter()
        .filter(|e| e["action"] == "auth_failed")
        .map(|e| format!("{} {}", e["actor"], e["detail"]))
        .collect();
    assert!(
        failed
            .iter()
            .any(|f| f.contains("alice:web01") && f.contains("wrong password")),
        "{failed:?}"
    );
    assert!(
        failed
            .iter()
            .any(|f| f.contains("mallory:web01") && f.contains("unknown user")),
        "{failed:?}"
    );
    assert!(
        failed.iter().all(|f| f.contains("127.0.0.1")),
        "the client address is logged: {failed:?}"
    );
    assert!(gw.sessions().is_empty(), "no session for failed logins");
    let out = gw.ok(&["user", "disable", "alice"]);
    assert!(out.contains("disabled"));
    let out = gw
        .ssh("alice:web01", "alice-pw")
        .arg("true")
        .output()
        .unwrap();
    assert_eq!(
        out.status.code(),
        Some(255),
        "a disabled user cannot log in: {}",
        text(&out)
    );
}

#[test]
fn no_access_gives_a_clear_message() {
    let target = Target::start();
    let gw = Gateway::start();
    gw.provision(&target, "web01", "alice", "alice-pw");
    gw.add_user("bob", "bob-pw");
    let out = gw
        .ssh("bob:web01", "bob-pw")
        .arg("echo should-not-run")
        .output()
        .unwrap();
    let all = text(&out);
    assert!(
        all.contains("vigil: user bob has no access to target web01"),
        "{all}"
    );
    assert!(!all.contains("should-not-run"));
    assert_ne!(out.status.code(), Some(0));
    // An unknown target reads the same, so target names do not leak.
    let out = gw.ssh("bob:db99", "bob-pw").arg("true").output().unwrap();
    assert!(
        text(&out).contains("vigil: user bob has no access to target db99"),
        "{}",
        text(&out)
    );
    let s = gw.last_closed_session();
    assert!(has_event(&s, "connect_failed", ""), "{s}");
    assert!(
        s["session"]["end_reason"]
            .as_str()
            .unwrap()
            .starts_with("error("),
        "{s}"
    );
}

#[test]
fn target_down_gives_a_clear_message() {
    let target = Target::start();
    let gw = Gateway::start();
    gw.provision(&target, "web01", "alice", "alice-pw");
    drop(target);
    let out = gw
        .ssh("alice:web01", "alice-pw")
        .arg("true")
        .output()
        .unwrap();
    let all = text(&out);
    assert!(
        all.contains("vigil: target web01 (127.0.0.1:") && all.contains("is unreachable"),
        "{all}"
    );
    assert_eq!(out.status.code(), Some(255));
}

#[test]
fn host_key_mismatch_refuses_the_session() {
    let target = Target::start();
    let other = Target::start();
    let gw = Gateway::start();
    // Pin the other server's key: the real target's key will not match.
    gw.add_target("web01", target.port, other.host_key_pub().to_str().unwrap());
    gw.add_login_and_user("web01", "alice", "alice-pw");
    let out = gw
        .ssh("alice:web01", "alice-pw")
        .arg("echo should-not-run")
        .output()
        .unwrap();
    let all = text(&out);
    assert!(all.contains("does not match the key pinned"), "{all}");
    assert!(!all.contains("should-not-run"));
    let s = gw.last_closed_session();
    assert!(has_event(&s, "host_key_mismatch", ""), "{s}");
    assert!(
        gw.audit()
            .iter()
            .any(|e| e["action"] == "host_key_mismatch" && e["subject"] == "web01")
    );
    // The password must not have been sent to the impostor: sshd logs no password attempt.
    let sshd_log = std::fs::read_to_string(target.dir.path().join("sshd.log")).unwrap_or_default();
    assert!(!sshd_log.contains("password for"), "{sshd_log}");
}

#[test]
fn trust_on_add_pins_the_presented_key() {
    let target = Target::start();
    let gw = Gateway::start();
    let out = gw.ok(&[
        "target",
        "add",
        "web01",
        "--host",
        "127.0.0.1",
        "--port",
        &target.port.to_string(),
        "--trust-on-add",
    ]);
    assert!(out.contains("host key SHA256:"), "{out}");
    let out = gw.cli(&[
        "target",
        "add",
        "web02",
        "--host",
        "127.0.0.1",
        "--port",
        "22",
    ]);
    assert!(!out.status.success());
    assert!(
        text(&out).contains("pin the target's host key"),
        "{}",
        text(&out)
    );
    gw.add_login_and_user("web01", "alice", "alice-pw");
    let out = gw
        .ssh("alice:web01", "alice-pw")
        .arg("echo pinned-ok")
        .output()
        .unwrap();
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        "pinned-ok\n",
        "{}",
        text(&out)
    );
}

#[test]
fn session_is_refused_when_the_recording_cannot_be_created() {
    let target = Target::start();
    let gw = Gateway::start();
    gw.provision(&target, "web01", "alice", "alice-pw");
    let recordings = gw.data.join("recordings");
    std::fs::remove_dir_all(&recordings).unwrap();
    std::fs::write(
        &recordings,
        b"a file where the recording directory should be",
    )
    .unwrap();
    let out = gw
        .ssh("alice:web01", "alice-pw")
        .arg("echo should-not-run")
        .output()
        .unwrap();
    let all = text(&out);
    assert!(
        all.contains("vigil: session refused") && all.contains("recording"),
        "{all}"
    );
    assert!(!all.contains("should-not-run"));
    let s = gw.last_closed_session();
    assert!(has_event(&s, "recording_failed", ""), "{s}");
    assert!(
        s["events"]
            .as_array()
            .unwrap()
            .iter()
            .all(|e| e["kind"] != "connected"),
        "the target is never contacted: {s}"
    );
}

#[test]
fn session_ends_when_the_recording_fails_mid_session() {
    let target = Target::start();
    // Files of the serve process may not grow past 4 MiB; the write fails with EFBIG. The
    // recording is compressed as it is written, so the output must be incompressible.
    let gw = Gateway::start_with(Some("trap '' XFSZ; ulimit -f 4096"));
    gw.provision(&target, "web01", "alice", "alice-pw");
    let out = gw
        .ssh("alice:web01", "alice-pw")
        .arg("echo started; sleep 1; head -c 50000000 /dev/urandom; sleep 30")
        .output()
        .unwrap();
    let all = text(&out);
    assert!(all.contains("started"));
    assert!(
        all.contains("can no longer be recorded"),
        "{}",
        String::from_utf8_lossy(&all.as_bytes()[all.len().saturating_sub(500)..])
    );
    assert!(
        out.stdout.len() < 50_000_000,
        "the session ended before all the output was delivered"
    );
    let s = gw.last_closed_session();
    let reason = s["session"]["end_reason"].as_str().unwrap();
    assert!(reason.starts_with("error(recording failed"), "{reason}");
}

#[test]
fn a_broken_config_line_is_named() {
    let gw = Gateway::start();
    let config = gw.data.join("vigil.toml");
    let original = std::fs::read_to_string(&config).unwrap();
    let mut body = original.clone();
    body.push_str("ssh_lisen = \"127.0.0.1:1\"\n");
    std::fs::write(&config, body).unwrap();
    let out = gw.cli(&["session", "list"]);
    assert!(!out.status.success());
    let all = text(&out);
    assert!(
        all.contains("vigil.toml") && all.contains("ssh_lisen") && all.contains("allowed keys"),
        "{all}"
    );
    std::fs::write(&config, original).unwrap();
    let out = gw.cli(&["--database-url", "mysql://x", "session", "list"]);
    assert!(
        text(&out).contains("only sqlite://PATH and postgres://"),
        "{}",
        text(&out)
    );
}

#[test]
fn ssh_sign_ins_are_rate_limited_per_user_and_address() {
    let target = Target::start();
    let gw = Gateway::start();
    gw.provision(&target, "web01", "alice", "alice-pw");
    for _ in 0..5 {
        let out = gw.ssh("alice:web01", "guess").arg("true").output().unwrap();
        assert!(!out.status.success());
    }
    // The right password no longer gets in: it is not even checked while blocked.
    let out = gw
        .ssh("alice:web01", "alice-pw")
        .arg("echo in")
        .output()
        .unwrap();
    assert!(
        !text(&out).contains("in\n") && !out.status.success(),
        "{}",
        text(&out)
    );
    let audit = gw.audit();
    let failed = audit
        .iter()
        .filter(|e| e["action"] == "auth_failed")
        .count();
    assert_eq!(failed, 5, "{audit:?}");
    let blocked = audit
        .iter()
        .find(|e| e["action"] == "ssh_login_blocked")
        .expect("the refused attempt is logged");
    assert_eq!(blocked["actor"], "alice:web01");
    let detail: serde_json::Value =
        serde_json::from_str(blocked["detail"].as_str().unwrap()).unwrap();
    assert!(
        detail["client"].as_str().unwrap().starts_with("127.0.0.1:"),
        "{detail}"
    );
    assert!(detail["wait_secs"].as_u64().unwrap() > 200, "{detail}");
    // Another user from the same address is blocked too (one place guessing many users).
    gw.add_user("bob", "bob-pw");
    gw.ok(&["access", "grant", "bob", "web01"]);
    let out = gw
        .ssh("bob:web01", "bob-pw")
        .arg("echo in")
        .output()
        .unwrap();
    assert!(!out.status.success(), "{}", text(&out));
}
