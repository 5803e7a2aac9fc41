//! The database stopped under a running node (issue 15): new sessions are refused with a
//! message that says why; a running session goes on and is recorded; its events are held and
//! written, with the time they happened, when the database returns; nothing is lost.

use std::io::Write;
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use crate::harness::{Gateway, Target, eventually, free_port, text};

/// A PostgreSQL cluster of this test's own, on a free loopback port, that it may stop.
struct Postgres {
    dir: tempfile::TempDir,
    bin: PathBuf,
    port: u16,
}

fn as_postgres(bin: &std::path::Path, tool: &str, args: &[&str]) -> std::process::Output {
    Command::new("runuser")
        .args(["-u", "postgres", "--"])
        .arg(bin.join(tool))
        .args(args)
        .output()
        .expect("runuser")
}

impl Postgres {
    fn start() -> Postgres {
        let bin = std::fs::read_dir("/usr/lib/postgresql")
            .expect("PostgreSQL server binaries (the test script installs them)")
            .flatten()
            .map(|e| e.path().join("bin"))
            .filter(|p| p.join("initdb").exists())
            .max()
            .expect("initdb");
        let dir = tempfile::tempdir().unwrap();
        let _ = Command::new("chown")
            .args(["-R", "postgres"])
            .arg(dir.path())
            .status();
        let data = dir.path().join("data").display().to_string();
        let out = as_postgres(
            &bin,
            "initdb",
            &["-D", &data, "-U", "postgres", "--auth=trust", "-E", "UTF8"],
        );
        assert!(out.status.success(), "initdb: {}", text(&out));
        let pg = Postgres {
            dir,
            bin,
            port: free_port(),
        };
        pg.up();
        pg
    }

    fn data(&self) -> String {
        self.dir.path().join("data").display().to_string()
    }

    fn up(&self) {
        let opts = format!(
            "-p {} -k {} -c listen_addresses=127.0.0.1",
            self.port,
            self.dir.path().display()
        );
        let log = self.dir.path().join("log").display().to_string();
        let out = as_postgres(
            &self.bin,
            "pg_ctl",
            &["-D", &self.data(), "-l", &log, "-o", &opts, "-w", "start"],
        );
        assert!(out.status.success(), "pg_ctl start: {}", text(&out));
    }

    fn down(&self) {
        let out = as_postgres(
            &self.bin,
            "pg_ctl",
            &["-D", &self.data(), "-m", "fast", "-w", "stop"],
        );
        assert!(out.status.success(), "pg_ctl stop: {}", text(&out));
    }

    fn url(&self) -> String {
        format!("postgres://postgres@127.0.0.1:{}/postgres", self.port)
    }
}

impl Drop for Postgres {
    fn drop(&mut self) {
        let _ = as_postgres(
            &self.bin,
            "pg_ctl",
            &["-D", &self.data(), "-m", "immediate", "stop"],
        );
    }
}

/// The operator's sign-in as OpenSSH shows it (banners included).
fn sign_in_as_shown(gw: &Gateway) -> (bool, String) {
    let mut c = Command::new("ssh");
    c.args([
        "-o",
        "StrictHostKeyChecking=no",
        "-o",
        "UserKnownHostsFile=/dev/null",
        "-o",
        "LogLevel=INFO",
        "-o",
        "NumberOfPasswordPrompts=1",
        "-o",
        "PreferredAuthentications=password",
        "-p",
        &gw.port.to_string(),
        "alice:web01@127.0.0.1",
        "echo new-session-ok",
    ])
    .stdin(Stdio::null());
    gw.operator_env(&mut c, "alice-pw");
    let out = c.output().unwrap();
    (text(&out).contains("new-session-ok"), text(&out))
}

#[test]
fn a_stopped_database_refuses_new_sessions_and_loses_no_event_of_running_ones() {
    let pg = Postgres::start();
    let target = Target::start();
    let gw = Gateway::start_on(&pg.url());
    gw.provision(&target, "web01", "alice", "alice-pw");
    let mut shell = gw
        .ssh_with("alice:web01", "alice-pw", &["-tt"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut keys = shell.stdin.take().unwrap();
    let mut type_line = |line: &str| {
        // Typed as a person would: the shell's prompt first, then the line.
        std::thread::sleep(Duration::from_millis(1200));
        keys.write_all(line.as_bytes()).unwrap();
        keys.write_all(b"\r").unwrap();
        keys.flush().unwrap();
    };
    let id = eventually(Duration::from_secs(15), "the session runs", || {
        gw.sessions()
            .into_iter()
            .find(|s| s["status"] == "active")
            .and_then(|s| s["id"].as_str().map(str::to_owned))
    });
    type_line("echo before-outage-$((1+1))");

    pg.down();
    let down_at = vigil_core::now_millis();
    type_line("echo during-outage-$((2+2))");
    type_line("echo during-outage-$((3+3))");
    // A new session is refused, and the operator is told why.
    let (ok, said) = sign_in_as_shown(&gw);
    assert!(!ok, "{said}");
    assert!(said.contains("cannot reach its database"), "{said}");
    // So is a console sign-in: 503, saying why, never "wrong password" or a bare 500.
    let out = Command::new("curl")
        .args([
            "-sk",
            "--max-time",
            "30",
            "-w",
            "\n%{http_code}",
            "-H",
            "content-type: application/json",
        ])
        .args(["-d", r#"{"username":"admin","password":"whatever"}"#])
        .arg(format!(
            "https://127.0.0.1:{}/api/v1/auth/login",
            gw.http_port
        ))
        .output()
        .unwrap();
    let answer = text(&out);
    assert!(
        answer.trim_end().ends_with("503") && answer.contains("cannot reach its database"),
        "{answer}"
    );

    pg.up();
    let up_at = vigil_core::now_millis();
    type_line("echo after-outage-$((4+4))");
    type_line("exit");
    let started = Instant::now();
    let _ = shell.wait();
    let screen = {
        let mut s = String::new();
        let _ = std::io::Read::read_to_string(&mut shell.stdout.take().unwrap(), &mut s);
        s
    };
    for line in [
        "before-outage-2",
        "during-outage-4",
        "during-outage-6",
        "after-outage-8",
    ] {
        assert!(
            screen.contains(line),
            "the session went on: {line} in {screen:?}"
        );
    }
    let s = eventually(Duration::from_secs(30), "the session's end written", || {
        let s = gw.session(&id);
        (s["session"]["status"] == "closed").then_some(s)
    });
    eprintln!("closed {:?} after exit", started.elapsed());
    // Every command is in the log, the ones typed during the outage with the time they ran.
    let seen: Vec<(String, i64)> = gw.session(&id)["events"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["kind"] == "command_detected")
        .map(|e| {
            let detail: serde_json::Value =
                serde_json::from_str(e["detail"].as_str().unwrap_or("{}")).unwrap();
            (
                detail["command"].as_str().unwrap_or_default().to_owned(),
                e["at"].as_i64().unwrap_or(0),
            )
        })
        .collect();
    for (needle, during) in [
        ("before-outage", false),
        ("during-outage-$((2+2))", true),
        ("during-outage-$((3+3))", true),
        ("after-outage", false),
    ] {
        let found = seen.iter().find(|(c, _)| c.contains(needle));
        let (_, at) = found.unwrap_or_else(|| {
            panic!(
                "{needle} is not in the log: {seen:?}\n{}",
                gw.session(&id)["events"]
            )
        });
        if during {
            assert!(
                *at >= down_at && *at <= up_at,
                "{needle} is logged at {at}, not during the outage ({down_at}..{up_at})"
            );
        }
    }
    assert_eq!(s["session"]["end_reason"], "operator_exit", "{s}");
    // The recording has what the operator saw, and the evidence verifies.
    let recorded = String::from_utf8_lossy(&gw.export(&id)).into_owned();
    assert!(recorded.contains("during-outage-4"), "{recorded}");
    let verified = gw.cli(&["verify", &id]);
    assert!(verified.status.success(), "{}", text(&verified));
    // Nothing was lost, and new sessions start again.
    assert!(
        !gw.audit().iter().any(|e| e["action"] == "evidence_lost"),
        "no loss"
    );
    let (ok, said) = sign_in_as_shown(&gw);
    assert!(ok, "{said}");
}
