#![allow(clippy::unwrap_used)]
//! The agent's commands when something is missing or wrong: each says what and what to do.
//! (The service itself is tested end to end in crates/vigil/tests/e2e/endpoint.rs, which
//! finds these binaries beside `vigil`: this test makes `cargo test --workspace` build them.)

use std::process::{Command, Output};

fn agent(state: &std::path::Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_vigil-agent"))
        .arg("--state-dir")
        .arg(state)
        .args(args)
        .output()
        .unwrap()
}

fn said(out: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

#[test]
fn status_of_a_workstation_never_enrolled_says_how_to_enrol() {
    let dir = tempfile::tempdir().unwrap();
    let out = agent(dir.path(), &["status"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(said(&out).contains("not enrolled"), "{}", said(&out));
    assert!(said(&out).contains("vigil-agent enrol --server URL --token TOKEN"));
    let out = agent(dir.path(), &["run"]);
    assert!(said(&out).contains("not enrolled"), "{}", said(&out));
}

#[test]
fn enrolment_refuses_a_server_in_the_clear_and_a_missing_ca_file() {
    let dir = tempfile::tempdir().unwrap();
    let out = agent(
        dir.path(),
        &["enrol", "--server", "http://127.0.0.1:1", "--token", "t"],
    );
    assert_eq!(out.status.code(), Some(1));
    assert!(said(&out).contains("https://"), "{}", said(&out));
    let out = agent(
        dir.path(),
        &[
            "enrol",
            "--server",
            "https://127.0.0.1:1",
            "--token",
            "t",
            "--ca-file",
            "/nonexistent/ca.pem",
        ],
    );
    assert_eq!(out.status.code(), Some(1));
    assert!(said(&out).contains("/nonexistent/ca.pem"), "{}", said(&out));
    // A CA file without a certificate: said, and nothing is written.
    let ca = dir.path().join("ca.pem");
    std::fs::write(&ca, "not a certificate").unwrap();
    let out = agent(
        dir.path(),
        &[
            "enrol",
            "--server",
            "https://127.0.0.1:1",
            "--token",
            "t",
            "--ca-file",
            ca.to_str().unwrap(),
        ],
    );
    assert_eq!(out.status.code(), Some(1));
    assert!(said(&out).contains("no PEM certificate"), "{}", said(&out));
    assert!(!dir.path().join("enrolment.json").exists());
}

#[test]
fn the_wrapper_runs_only_where_the_agent_installed_it() {
    let out = Command::new(env!("CARGO_BIN_EXE_vigil-rec"))
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(126));
    assert!(
        said(&out).contains("runs only where vigil-agent installed it"),
        "{}",
        said(&out)
    );
}
