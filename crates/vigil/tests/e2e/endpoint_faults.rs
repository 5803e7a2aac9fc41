//! The endpoint agent (issue 14) when things go wrong: the server away, the agent killed
//! while it uploads or while a program runs, a workstation waiting for approval, a full
//! spool. Same fixtures as `endpoint.rs`.

use std::time::Duration;

use crate::endpoint::{WAIT, one_session};
use crate::harness::{Gateway, details, eventually, sha256_file, text};
use crate::workstation::{Tmux, Workstation, endpoint_sessions, os_user, rule, run_as, wrapped};

/// The server down while a recorded program runs: the terminal says the upload is queued;
/// when the server returns, the agent uploads it, once, byte for byte.
#[test]
fn with_the_server_down_the_upload_is_queued_and_arrives_exactly_once() {
    let mut gw = Gateway::start();
    let user = "vwsdown1";
    os_user(user, None, &[]);
    let (ws, program) = wrapped(
        &gw,
        "ws-down1",
        "vdown",
        "#!/bin/sh\necho down-output\nexit 0\n",
        &["--record", "yes", "--user", user],
        &[],
    );
    gw.stop();

    let out = run_as(user, &program.display().to_string(), "");
    let said = text(&out);
    assert!(out.status.success(), "{said}");
    assert!(said.contains("down-output"), "{said}");
    assert!(
        said.contains("Uploading recorded output data...\r\nQueued: "),
        "{said}"
    );
    assert!(said.contains("does not answer"), "{said}");
    let spooled = ws.spooled();
    assert_eq!(spooled.len(), 1, "{spooled:?}");
    let output_sum = sha256_file(&spooled[0].join("output.cast.zst"));
    assert!(ws.status().contains("1 run(s) waiting"), "{}", ws.status());

    gw.restart();
    let s = one_session(&gw, "ws-down1");
    let id = s["id"].as_str().unwrap().to_owned();
    eventually(WAIT, "both uploads", || {
        (details(&gw.session(&id), "endpoint_uploaded").len() == 2).then_some(())
    });
    let uploads = details(&gw.session(&id), "endpoint_uploaded");
    assert_eq!(uploads[0]["object"], "output");
    assert_eq!(uploads[0]["sha256"], output_sum.as_str());
    eventually(WAIT, "the spool empties", || {
        ws.spooled().is_empty().then_some(())
    });
    std::thread::sleep(Duration::from_secs(2));
    assert_eq!(endpoint_sessions(&gw, "ws-down1").len(), 1);
    assert!(
        String::from_utf8(gw.export(&id))
            .unwrap()
            .contains("down-output")
    );
}

/// The agent killed while it uploads (slowed by `--upload-rate`): restarted, it goes on from
/// the offset the server holds, and the recording arrives whole.
#[test]
fn an_agent_killed_mid_upload_resumes_at_the_committed_offset() {
    let gw = Gateway::start();
    let user = "vwsresume1";
    os_user(user, None, &[]);
    let (mut ws, program) = wrapped(
        &gw,
        "ws-resume1",
        "vbig",
        "#!/bin/sh\nhead -c 1500000 /dev/urandom | base64\necho big-done\n",
        &["--record", "yes", "--user", user],
        &["--upload-rate", "300000"],
    );
    let runner = {
        let program = program.display().to_string();
        std::thread::spawn(move || run_as(user, &format!("{program} > /dev/null"), ""))
    };
    let staged_dir = gw.data.join("uploads");
    let staged = || -> Option<(std::path::PathBuf, u64)> {
        let e = std::fs::read_dir(&staged_dir)
            .ok()?
            .flatten()
            .find(|e| e.file_name().to_string_lossy().ends_with(".output"))?;
        Some((e.path(), e.metadata().ok()?.len()))
    };
    let (file, at_kill) = eventually(WAIT, "part of the output uploaded", || {
        staged().filter(|(_, n)| *n > 0)
    });
    let spooled = ws.spooled();
    assert_eq!(spooled.len(), 1);
    let whole = std::fs::metadata(spooled[0].join("output.cast.zst"))
        .unwrap()
        .len();
    let sum = sha256_file(&spooled[0].join("output.cast.zst"));
    assert!(
        at_kill < whole,
        "the upload was not slowed: {at_kill} of {whole}"
    );
    ws.kill();
    let said = text(&runner.join().unwrap());
    assert!(said.contains("Queued"), "{said}");
    let held = std::fs::metadata(&file).unwrap().len();
    assert!(held >= at_kill);

    ws.with_args(&[]);
    ws.start();
    // From the held offset on: the staged copy only grows until it is taken whole.
    let mut last = held;
    // (Until it is merged and removed.)
    while let Ok(m) = std::fs::metadata(&file) {
        assert!(
            m.len() >= last,
            "the upload restarted from {} (held {last})",
            m.len()
        );
        last = m.len();
        std::thread::sleep(Duration::from_millis(20));
    }
    let s = one_session(&gw, "ws-resume1");
    let id = s["id"].as_str().unwrap().to_owned();
    eventually(WAIT, "the output upload", || {
        details(&gw.session(&id), "endpoint_uploaded")
            .into_iter()
            .find(|u| u["object"] == "output")
    });
    let output = details(&gw.session(&id), "endpoint_uploaded")
        .into_iter()
        .find(|u| u["object"] == "output")
        .unwrap();
    assert_eq!(output["sha256"], sum.as_str());
    assert_eq!(output["size"], whole);
    assert!(
        String::from_utf8(gw.export(&id))
            .unwrap()
            .contains("big-done")
    );
}

/// A workstation that is pending (enrolled again under a new key after approval) keeps what
/// it records and uploads nothing until it is approved.
#[test]
fn an_unapproved_workstation_uploads_nothing() {
    let gw = Gateway::start();
    let user = "vwspend1";
    os_user(user, None, &[]);
    let mut ws = Workstation::enrol(&gw, "ws-pend1");
    let program = ws.program("/usr/local/bin/vpend", "#!/bin/sh\necho pend-output\n");
    rule(
        &gw,
        "vpend",
        "/usr/local/bin/vpend",
        &["--record", "yes", "--user", user],
    );
    ws.start();
    // Pending: the server gives it no policies, so nothing is wrapped yet.
    eventually(WAIT, "the agent waits for approval", || {
        ws.log_text().contains("waiting for approval").then_some(())
    });
    assert!(!std::fs::read(&program).unwrap().ends_with(b"VIGILREC"));
    ws.approve(&gw);
    ws.wait_wrapped("/usr/local/bin/vpend");
    ws.kill();
    ws.enrol_again(&gw);
    ws.start();

    let out = run_as(user, &program.display().to_string(), "");
    let said = text(&out);
    assert!(said.contains("pend-output"), "{said}");
    assert!(said.contains("Queued: "), "{said}");
    assert!(
        said.contains("waits for an administrator's approval"),
        "{said}"
    );
    std::thread::sleep(Duration::from_secs(2));
    assert!(endpoint_sessions(&gw, "ws-pend1").is_empty());
    assert_eq!(ws.spooled().len(), 1);

    ws.approve(&gw);
    let s = one_session(&gw, "ws-pend1");
    let id = s["id"].as_str().unwrap().to_owned();
    eventually(WAIT, "both uploads", || {
        (details(&gw.session(&id), "endpoint_uploaded").len() == 2).then_some(())
    });
}

/// A full spool: a recorded program is refused (it cannot be recorded), the user told why,
/// and the server's administration log and SIEM get the agent's alert.
#[test]
fn a_full_spool_refuses_recorded_programs_and_alerts_the_server() {
    let gw = Gateway::start();
    let user = "vwsfull1";
    os_user(user, None, &[]);
    let (ws, program) = wrapped(
        &gw,
        "ws-full1",
        "vfull",
        "#!/bin/sh\necho full-ran\n",
        &["--record", "yes", "--user", user],
        &["--spool-quota-mib", "0"],
    );
    let out = run_as(user, &program.display().to_string(), "");
    let said = text(&out);
    assert_eq!(out.status.code(), Some(126), "{said}");
    assert!(!said.contains("full-ran"), "{said}");
    assert!(
        said.contains("the recording spool on this workstation is full"),
        "{said}"
    );
    let what = format!(
        "the agent's alert in the administration log: {}",
        ws.log_text()
    );
    let alert = eventually(WAIT, &what, || {
        gw.audit()
            .into_iter()
            .find(|e| e["action"] == "agent_alert")
    });
    assert_eq!(alert["subject"], "ws-full1");
    assert!(
        alert["detail"].as_str().unwrap().contains("spool_full"),
        "{alert}"
    );
    assert!(ws.spooled().is_empty());
}

/// The agent killed while a recorded program runs: the program is hung up (it cannot go on
/// unrecorded); at the agent's next start the run is kept up to what reached its spool and
/// uploaded.
#[test]
fn an_agent_killed_while_a_program_runs_hangs_it_up_and_keeps_what_it_recorded() {
    let gw = Gateway::start();
    let user = "vwscrash1";
    os_user(user, None, &[]);
    let (mut ws, program) = wrapped(
        &gw,
        "ws-crash1",
        "vcrash",
        "#!/bin/sh\necho before-the-crash\nwhile true; do sleep 0.2; echo tick; done\n",
        &["--record", "yes", "--user", user],
        &[],
    );
    let term = Tmux::login(user);
    term.line(&format!("{}; echo status=$?", program.display()));
    term.wait_for("tick", WAIT);
    std::thread::sleep(Duration::from_millis(1500));
    ws.kill();
    let screen = term.wait_for("\nstatus=", WAIT);
    assert!(
        screen.contains("the Vigil agent stopped taking the recording"),
        "{screen}"
    );
    assert!(endpoint_sessions(&gw, "ws-crash1").is_empty());
    ws.start();
    let s = one_session(&gw, "ws-crash1");
    let id = s["id"].as_str().unwrap().to_owned();
    eventually(WAIT, "both uploads", || {
        (details(&gw.session(&id), "endpoint_uploaded").len() == 2).then_some(())
    });
    let cast = String::from_utf8(gw.export(&id)).unwrap();
    assert!(cast.contains("before-the-crash"), "{cast}");
    assert!(cast.contains("tick"), "{cast}");
    assert!(ws.log_text().contains("cut short"), "{}", ws.log_text());
}
