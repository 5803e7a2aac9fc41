//! What an operator does through the gateway works as it would directly, and is recorded.

use std::io::Write;
use std::process::Stdio;
use std::time::Duration;

use crate::assert_eventually;
use crate::harness::{Gateway, Target, text};

fn events(session: &serde_json::Value) -> Vec<String> {
    session["events"]
        .as_array()
        .map(|a| {
            a.iter()
                .filter_map(|e| e["kind"].as_str().map(str::to_owned))
                .collect()
        })
        .unwrap_or_default()
}

#[test]
fn exec_propagates_exit_status_and_output() {
    let target = Target::start();
    let gw = Gateway::start();
    gw.provision(&target, "web01", "alice", "alice-pw");
    let out = gw
        .ssh("alice:web01", "alice-pw")
        .arg("echo out-$((6*7)); echo err >&2; exit 7")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(7), "{}", text(&out));
    assert_eq!(String::from_utf8_lossy(&out.stdout), "out-42\n");
    assert_eq!(String::from_utf8_lossy(&out.stderr), "err\n");
    let s = gw.last_closed_session();
    assert_eq!(s["session"]["end_reason"], "operator_exit");
    assert_eq!(s["session"]["login"], "vigiltarget");
    assert_eq!(s["session"]["target_name"], "web01");
    let kinds = events(&s);
    for k in [
        "authenticated",
        "connected",
        "channel_opened",
        "exit_status",
        "ended",
    ] {
        assert!(kinds.contains(&k.to_owned()), "missing {k} in {kinds:?}");
    }
    let opened = s["events"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["kind"] == "channel_opened")
        .unwrap();
    assert!(
        opened["detail"].as_str().unwrap().contains("exit 7"),
        "the exec command is logged: {opened}"
    );
}

#[test]
fn interactive_shell_with_tty_is_recorded() {
    let target = Target::start();
    let gw = Gateway::start();
    gw.provision(&target, "web01", "alice", "alice-pw");
    let out = gw.typed_session(
        "alice:web01",
        "alice-pw",
        &[(800, b"echo marker-$((100+23))\n"), (300, b"exit\n")],
    );
    let shown = String::from_utf8_lossy(&out.stdout);
    assert!(shown.contains("marker-123"), "{shown}");
    let s = gw.last_closed_session();
    let id = s["session"]["id"].as_str().unwrap();
    let cast = vigil_record::read_cast(&gw.export(id)[..]).unwrap();
    assert!(String::from_utf8_lossy(&cast.output_bytes()).contains("marker-123"));
    assert!(String::from_utf8_lossy(&cast.input_bytes()).contains("echo marker-$((100+23))"));
    let opened = s["events"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["kind"] == "channel_opened")
        .unwrap();
    assert!(opened["detail"].as_str().unwrap().contains("\"pty\":true"));
}

#[test]
fn resize_is_forwarded_and_recorded() {
    let target = Target::start();
    let gw = Gateway::start();
    gw.provision(&target, "web01", "alice", "alice-pw");
    let tmux = format!("vigil-resize-{}", gw.port);
    let ssh = gw.ssh("alice:web01", "alice-pw");
    let mut cmd = vec!["env".to_owned()];
    for (k, v) in ssh.get_envs() {
        if let (k, Some(v)) = (k.to_string_lossy(), v) {
            cmd.push(format!("{k}={}", v.to_string_lossy()));
        }
    }
    cmd.push("ssh".into());
    cmd.extend(ssh.get_args().map(|a| a.to_string_lossy().into_owned()));
    cmd.push("-t".into());
    let status = std::process::Command::new("tmux")
        .args(["new-session", "-d", "-s", &tmux, "-x", "100", "-y", "30"])
        .args(&cmd)
        .status()
        .unwrap();
    assert!(status.success());
    let tmux_do = |args: &[&str]| {
        std::process::Command::new("tmux")
            .args(args)
            .output()
            .unwrap()
    };
    assert_eventually!(
        String::from_utf8_lossy(&tmux_do(&["capture-pane", "-p", "-t", &tmux]).stdout)
            .contains("vigiltarget@"),
        Duration::from_secs(10),
        "no prompt in tmux"
    );
    tmux_do(&["resize-window", "-t", &tmux, "-x", "132", "-y", "43"]);
    std::thread::sleep(Duration::from_millis(500));
    tmux_do(&["send-keys", "-t", &tmux, "stty size; exit", "Enter"]);
    let s = gw.last_closed_session();
    let _ = tmux_do(&["kill-session", "-t", &tmux]);
    let cast =
        vigil_record::read_cast(&gw.export(s["session"]["id"].as_str().unwrap())[..]).unwrap();
    assert_eq!((cast.header.term.cols, cast.header.term.rows), (100, 30));
    assert!(
        cast.events
            .iter()
            .any(|e| e.data == vigil_record::EventData::Resize(132, 43)),
        "resize recorded: {:?}",
        cast.events
            .iter()
            .filter(|e| matches!(e.data, vigil_record::EventData::Resize(..)))
            .collect::<Vec<_>>()
    );
    assert!(
        String::from_utf8_lossy(&cast.output_bytes()).contains("43 132"),
        "the target saw the new size"
    );
}

#[test]
fn menu_lists_targets_and_connects_the_choice() {
    let target = Target::start();
    let gw = Gateway::start();
    gw.provision(&target, "web01", "alice", "alice-pw");
    let mut child = gw
        .ssh("alice", "alice-pw")
        .arg("-tt")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdin = child.stdin.take().unwrap();
    std::thread::sleep(Duration::from_millis(800));
    stdin.write_all(b"1\r").unwrap();
    std::thread::sleep(Duration::from_millis(1200));
    stdin.write_all(b"echo via-menu-$((1+1))\nexit\n").unwrap();
    let out = child.wait_with_output().unwrap();
    let shown = String::from_utf8_lossy(&out.stdout);
    assert!(
        shown.contains("web01") && shown.contains("Choose a target"),
        "{shown}"
    );
    assert!(shown.contains("via-menu-2"), "{shown}");
    let s = gw.last_closed_session();
    assert_eq!(s["session"]["target_name"], "web01");
}

#[test]
fn public_key_and_totp_authentication() {
    let target = Target::start();
    let gw = Gateway::start();
    gw.provision(&target, "web01", "alice", "alice-pw");
    let key = gw.dir.path().join("alice_key");
    assert!(
        std::process::Command::new("ssh-keygen")
            .args(["-q", "-t", "ed25519", "-N", ""])
            .arg("-f")
            .arg(&key)
            .status()
            .unwrap()
            .success()
    );
    gw.ok(&[
        "user",
        "key",
        "add",
        "alice",
        "--file",
        &format!("{}.pub", key.display()),
    ]);
    let out = gw
        .ssh("alice:web01", "wrong-password")
        .args(["-o", "BatchMode=yes", "-o", "IdentitiesOnly=yes", "-i"])
        .arg(&key)
        .arg("echo key-ok")
        .output()
        .unwrap();
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        "key-ok\n",
        "{}",
        text(&out)
    );
    let s = gw.last_closed_session();
    assert!(
        s["events"][0]["detail"]
            .as_str()
            .unwrap()
            .contains("publickey")
    );

    let enrol = gw.ok(&["user", "totp", "alice"]);
    let secret = enrol
        .lines()
        .find_map(|l| l.trim().strip_prefix("secret: "))
        .unwrap()
        .to_owned();
    let secret = vigil_vault::totp_secret_from_base32(&secret).unwrap();
    gw.write_code(&vigil_vault::current_totp(&secret).unwrap());
    let out = gw
        .ssh("alice:web01", "alice-pw")
        .arg("echo totp-ok")
        .output()
        .unwrap();
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        "totp-ok\n",
        "{}",
        text(&out)
    );
    gw.write_code("000000");
    let out = gw
        .ssh("alice:web01", "alice-pw")
        .arg("echo should-not-run")
        .output()
        .unwrap();
    assert!(
        !out.status.success() && out.stdout.is_empty(),
        "a wrong code must fail: {}",
        text(&out)
    );
    // The password alone no longer opens a session: the key needs the code too.
    let out = gw
        .ssh("alice:web01", "alice-pw")
        .args(["-o", "PreferredAuthentications=password"])
        .arg("echo nope")
        .output()
        .unwrap();
    assert!(!out.status.success(), "{}", text(&out));
    assert!(gw.audit().iter().any(|e| {
        e["action"] == "auth_failed"
            && e["detail"]
                .as_str()
                .unwrap_or("")
                .contains("verification code")
    }));
}

#[test]
fn postgres_store_serves_sessions_and_cli() {
    let target = Target::start();
    let gw = Gateway::start_postgres();
    gw.provision(&target, "web01", "alice", "alice-pw");
    let out = gw
        .ssh("alice:web01", "alice-pw")
        .arg("echo on-postgres")
        .output()
        .unwrap();
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        "on-postgres\n",
        "{}",
        text(&out)
    );
    let s = gw.last_closed_session();
    assert_eq!(s["session"]["end_reason"], "operator_exit");
    assert!(
        !gw.data.join("vigil.db").exists(),
        "no SQLite file when the store is PostgreSQL"
    );
}

#[test]
fn keepalives_and_eof_work() {
    let target = Target::start();
    let gw = Gateway::start();
    gw.provision(&target, "web01", "alice", "alice-pw");
    let out = gw
        .ssh("alice:web01", "alice-pw")
        .args(["-o", "ServerAliveInterval=1", "-o", "ServerAliveCountMax=2"])
        .arg("sleep 4; echo still-alive")
        .output()
        .unwrap();
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        "still-alive\n",
        "{}",
        text(&out)
    );
    let mut child = gw
        .ssh("alice:web01", "alice-pw")
        .arg("wc -c")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    child.stdin.take().unwrap().write_all(b"12345").unwrap();
    let out = child.wait_with_output().unwrap();
    assert_eq!(
        String::from_utf8_lossy(&out.stdout).trim(),
        "5",
        "EOF reached the target: {}",
        text(&out)
    );
}
