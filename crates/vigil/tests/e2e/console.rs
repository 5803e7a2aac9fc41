//! The web console in a real browser: `web/tests/console.test.mjs` drives Debian's Chromium
//! with Playwright and the operator's OpenSSH client; this test sets the stage (a real target
//! sshd, a real `vigil serve` with its HTTPS console) and hands it over.

use std::path::Path;
use std::process::Command;

use std::time::Duration;

use crate::harness::{Gateway, TARGET_USER, Target, eventually, vigil_bin};
use crate::workstation::{Workstation, endpoint_sessions, os_user, run_as, wrapped};

/// The target account's home: where the operator's shell writes its evidence files.
pub(crate) fn target_home() -> String {
    let out = Command::new("getent")
        .args(["passwd", TARGET_USER])
        .output()
        .expect("getent");
    String::from_utf8_lossy(&out.stdout)
        .split(':')
        .nth(5)
        .unwrap_or("/nonexistent")
        .to_owned()
}

#[test]
fn console_in_a_browser() {
    let target = Target::start();
    let gw = Gateway::start();
    gw.provision(&target, "web01", "alice", "alice-pw");
    gw.add_user("carol", "carol-pw-7d1c");
    // A workstation run recorded by the real agent, by a user with no Vigil user: flagged.
    let (_workstation, endpoint_session) = endpoint_run(&gw);
    let operator = browser_operator(&gw.ssh("alice:web01", "alice-pw"));
    let shots = screenshots();
    let status = browser_walk("console.test.mjs")
        .env("VIGIL_URL", format!("https://127.0.0.1:{}", gw.http_port))
        .env("VIGIL_ADMIN_PASSWORD", &gw.admin_password)
        .env("VIGIL_OPERATOR_SSH", operator.to_string())
        .env("VIGIL_BIN", vigil_bin())
        .env("VIGIL_DATA_DIR", &gw.data)
        .env("VIGIL_SCREENSHOTS", &shots)
        .env("VIGIL_TARGET_HOME", target_home())
        .env("VIGIL_ENDPOINT_SESSION", &endpoint_session)
        .env("VIGIL_CANARY", crate::harness::target_password())
        .status()
        .expect("node (the test script installs Node.js and Chromium)");
    eprintln!("console screenshots: {shots}");
    assert!(
        status.success(),
        "the browser tests failed (see above); serve log:\n{}",
        gw.log_text()
    );
    // Nor is it in the node's own log or any file it wrote.
    let canary = crate::harness::target_password();
    assert!(
        !gw.log_text().contains(canary),
        "the vaulted credential is in the serve log"
    );
    for f in crate::files::files_under(&gw.data) {
        let bytes = std::fs::read(&f).unwrap_or_default();
        assert!(
            !bytes.windows(canary.len()).any(|w| w == canary.as_bytes()),
            "the vaulted credential is in {}",
            f.display()
        );
    }
}

/// How the browser walk runs the operator's ssh: `{program, args, env}`.
pub(crate) fn browser_operator(ssh: &Command) -> serde_json::Value {
    serde_json::json!({
        "program": ssh.get_program().to_string_lossy(),
        "args": ssh.get_args().map(|a| a.to_string_lossy().into_owned()).collect::<Vec<_>>(),
        "env": ssh.get_envs().filter_map(|(k, v)| Some((k.to_string_lossy().into_owned(), v?.to_string_lossy().into_owned()))).collect::<std::collections::BTreeMap<_, _>>(),
    })
}

/// Where the walks' screenshots go: kept after the run for a reviewer
/// (CARGO_TARGET_DIR/tmp/console-screenshots unless VIGIL_SCREENSHOTS says otherwise).
pub(crate) fn screenshots() -> String {
    std::env::var("VIGIL_SCREENSHOTS").unwrap_or_else(|_| {
        Path::new(env!("CARGO_TARGET_TMPDIR"))
            .join("console-screenshots")
            .display()
            .to_string()
    })
}

/// `node --test web/tests/FILE` (Playwright driving Debian's Chromium), to be given its
/// environment and run.
pub(crate) fn browser_walk(file: &str) -> Command {
    let mut node = Command::new("node");
    node.args(["--test", "--test-reporter=spec", &format!("tests/{file}")])
        .current_dir(Path::new(env!("CARGO_MANIFEST_DIR")).join("../../web"));
    node
}

/// A recorded run on a workstation enrolled with `gw`; returns its session's id.
fn endpoint_run(gw: &Gateway) -> (Workstation, String) {
    let user = "vwsconsole";
    os_user(user, None, &[]);
    let (ws, program) = wrapped(
        gw,
        "ws-console",
        "vconsole",
        "#!/bin/sh\necho endpoint-console-42\nexit 7\n",
        &["--record", "yes", "--user", user],
        &[],
    );
    let out = run_as(user, &program.display().to_string(), "");
    assert!(crate::harness::text(&out).contains("OK."));
    let id = eventually(Duration::from_secs(60), "the endpoint session", || {
        endpoint_sessions(gw, "ws-console")
            .first()
            .and_then(|s| s["id"].as_str().map(str::to_owned))
    });
    // Kept from the purge another browser test runs.
    gw.ok(&[
        "session",
        "prevent-purge",
        &id,
        "--reason",
        "the browser test's workstation run",
    ]);
    (ws, id)
}
