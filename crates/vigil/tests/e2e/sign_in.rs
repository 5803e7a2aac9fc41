//! Sign-in limits the console and SSH share, cleared by an administrator; and what an SSH
//! client that never signs in costs the node (login grace time, per-address cap).

use std::io::Read;
use std::net::TcpStream;
use std::path::PathBuf;
use std::process::Command;
use std::time::{Duration, Instant};

use crate::harness::{Gateway, Target, eventually, text};

/// A console client with its own cookie jar (curl, as a script would call the API).
struct Console {
    base: String,
    jar: PathBuf,
    csrf: String,
}

fn curl(args: &[&str]) -> (u16, String) {
    let out = Command::new("curl")
        .args(["-sk", "-w", "\n%{http_code}", "--max-time", "20"])
        .args(args)
        .output()
        .expect("curl (the test script installs it)");
    let all = String::from_utf8_lossy(&out.stdout).into_owned();
    let (body, code) = all.rsplit_once('\n').unwrap_or(("", "0"));
    (code.trim().parse().unwrap_or(0), body.to_owned())
}

impl Console {
    fn new(gw: &Gateway, name: &str) -> Console {
        Console {
            base: format!("https://127.0.0.1:{}/api/v1", gw.http_port),
            jar: gw.dir.path().join(format!("{name}.cookies")),
            csrf: String::new(),
        }
    }

    /// Signs in; the status and the body.
    fn login(&mut self, user: &str, password: &str) -> (u16, String) {
        let body = serde_json::json!({ "username": user, "password": password }).to_string();
        let jar = self.jar.display().to_string();
        let (code, answer) = curl(&[
            "-c",
            &jar,
            "-H",
            "content-type: application/json",
            "-d",
            &body,
            &format!("{}/auth/login", self.base),
        ]);
        if code == 200 {
            let v: serde_json::Value = serde_json::from_str(&answer).unwrap();
            self.csrf = v["csrf_token"].as_str().unwrap_or_default().to_owned();
        }
        (code, answer)
    }

    fn call(&self, method: &str, path: &str) -> (u16, serde_json::Value) {
        let jar = self.jar.display().to_string();
        let csrf = format!("x-csrf-token: {}", self.csrf);
        let (code, body) = curl(&[
            "-b",
            &jar,
            "-H",
            &csrf,
            "-X",
            method,
            &format!("{}{path}", self.base),
        ]);
        (
            code,
            serde_json::from_str(&body).unwrap_or(serde_json::Value::String(body)),
        )
    }
}

fn ssh_works(gw: &Gateway, password: &str) -> bool {
    ssh_works_from(gw, password, "127.0.0.1")
}

/// Whether alice gets through with `password`, connecting from loopback address `from`.
fn ssh_works_from(gw: &Gateway, password: &str, from: &str) -> bool {
    let out = gw
        .ssh_with(
            "alice:web01",
            password,
            // One method, so that each attempt is one failure.
            &["-b", from, "-o", "PreferredAuthentications=password"],
        )
        .arg("echo signed-in-ok")
        .output()
        .unwrap();
    out.status.success() && text(&out).contains("signed-in-ok")
}

fn limited(admin: &Console) -> Vec<serde_json::Value> {
    let (code, v) = admin.call("GET", "/sign-in-limits");
    assert_eq!(code, 200, "{v}");
    v["limited"].as_array().cloned().unwrap_or_default()
}

fn blocked(list: &[serde_json::Value], key: &str) -> bool {
    list.iter()
        .any(|l| l["key"] == key && l["blocked_secs"].as_u64().is_some())
}

#[test]
fn failed_sign_ins_count_across_ssh_and_the_console_and_an_administrator_clears_them() {
    let target = Target::start();
    let gw = Gateway::start();
    gw.provision(&target, "web01", "alice", "alice-pw");
    // The administrator signs in first: the failures below limit this address too.
    let mut admin = Console::new(&gw, "admin");
    assert_eq!(admin.login("admin", &gw.admin_password).0, 200);
    // Three wrong passwords over SSH, two at the console: five for alice, and for the address.
    for _ in 0..3 {
        assert!(!ssh_works(&gw, "wrong-pw"));
    }
    let mut alice = Console::new(&gw, "alice");
    for _ in 0..2 {
        assert_eq!(alice.login("alice", "wrong-pw").0, 401);
    }
    // Limited everywhere, the right password included, before it is even checked.
    assert_eq!(alice.login("alice", "alice-pw").0, 429);
    assert!(
        !ssh_works(&gw, "alice-pw"),
        "SSH is limited by console failures too"
    );
    let list = limited(&admin);
    assert!(blocked(&list, "user:alice"), "{list:?}");
    assert!(blocked(&list, "addr:127.0.0.1"), "{list:?}");
    // Cleared for the user: the address is still limited.
    let (code, v) = admin.call("DELETE", "/sign-in-limits/user%3Aalice");
    assert_eq!(code, 200, "{v}");
    assert!(
        !ssh_works(&gw, "alice-pw"),
        "the address's own failures still count"
    );
    let (code, v) = admin.call("DELETE", "/sign-in-limits/addr%3A127.0.0.1");
    assert_eq!(code, 200, "{v}");
    assert!(
        ssh_works(&gw, "alice-pw"),
        "cleared: the right password works at once"
    );
    assert!(limited(&admin).is_empty());
    let (code, v) = admin.call("DELETE", "/sign-in-limits/user%3Aalice");
    assert_eq!(code, 404, "nothing left to clear: {v}");
    let (code, v) = admin.call("DELETE", "/sign-in-limits/alice");
    assert_eq!(code, 400, "not a limit's key: {v}");
    // Each refusal and each clearing is in the administration log, with who cleared what.
    let audit = gw.audit();
    let cleared: Vec<_> = audit
        .iter()
        .filter(|e| e["action"] == "sign_in_limit_cleared")
        .collect();
    assert_eq!(cleared.len(), 2, "{audit:?}");
    assert!(cleared.iter().all(|e| e["actor"] == "admin"));
    assert!(audit.iter().any(|e| e["action"] == "ssh_login_blocked"));
    assert!(audit.iter().any(|e| e["action"] == "console_login_blocked"));
}

#[test]
fn an_ssh_client_that_never_signs_in_is_cut_off_and_capped_per_address() {
    let target = Target::start();
    let mut gw = Gateway::start();
    gw.provision(&target, "web01", "alice", "alice-pw");
    std::fs::write(
        gw.data.join("vigil.toml"),
        "login_grace_secs = 3\nmax_unauthenticated_per_address = 4\n",
    )
    .unwrap();
    gw.restart();
    let addr = format!("127.0.0.1:{}", gw.port);
    // The harness's probes of the port count until the node sees them gone.
    std::thread::sleep(Duration::from_millis(500));
    // Four silent connections from 127.0.0.1 take its places (each is greeted).
    let silent: Vec<TcpStream> = (0..4)
        .map(|_| {
            let mut s = TcpStream::connect(&addr).unwrap();
            s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
            let mut greeting = [0u8; 8];
            s.read_exact(&mut greeting).unwrap();
            assert_eq!(&greeting, b"SSH-2.0-");
            s
        })
        .collect();
    // A fifth from the same address is refused at once, and told why.
    let mut fifth = TcpStream::connect(&addr).unwrap();
    fifth
        .set_read_timeout(Some(Duration::from_secs(5)))
        .unwrap();
    let mut said = String::new();
    let _ = fifth.read_to_string(&mut said);
    assert!(said.contains("already signing in"), "{said:?}");
    // Another address is not affected (all of 127/8 is loopback).
    assert!(ssh_works_from(&gw, "alice-pw", "127.0.0.2"));
    // The grace time: each silent connection is closed within it (plus a little).
    let started = Instant::now();
    for mut s in silent {
        let mut rest = Vec::new();
        let _ = s.read_to_end(&mut rest);
    }
    let waited = started.elapsed();
    assert!(
        waited < Duration::from_secs(8),
        "closed after {waited:?}, the grace time is 3 s"
    );
    // A client that finished the handshake but never answers the password prompt is cut
    // off too.
    let stalled = gw.dir.path().join("stalled-askpass");
    std::fs::write(&stalled, "#!/bin/sh\nsleep 30\n").unwrap();
    let _ = Command::new("chmod").arg("755").arg(&stalled).status();
    let started = Instant::now();
    let mut client = gw
        .ssh_with(
            "alice:web01",
            "unused",
            &["-o", "PreferredAuthentications=password"],
        )
        .env("SSH_ASKPASS", &stalled)
        .arg("echo never")
        .spawn()
        .unwrap();
    // (The client itself notices only when its prompt returns.)
    eventually(
        Duration::from_secs(10),
        "the stalled client cut off",
        || {
            gw.log_text()
                .contains("not signed in within the login grace time")
                .then_some(())
        },
    );
    assert!(
        started.elapsed() < Duration::from_secs(8),
        "cut off after {:?}",
        started.elapsed()
    );
    let _ = client.kill();
    let _ = client.wait();
    // Their places are back: a real operator signs in.
    assert!(ssh_works(&gw, "alice-pw"));
    // An operator who signs in in time keeps the connection past the grace time.
    let (mut child, _) = gw.interactive("alice:web01", "alice-pw", "sleep 5; echo still-here");
    let out = {
        let mut s = String::new();
        let _ = child.stdout.take().unwrap().read_to_string(&mut s);
        s
    };
    let _ = child.wait();
    assert!(out.contains("still-here"), "{out}");
}
