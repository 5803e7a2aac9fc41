//! The endpoint agent (issue 14) end to end: a gateway on loopback, the real `vigil-agent`
//! service with a test install root, workstation users made for the test, programs run by
//! them in tmux or through `su`.

use std::time::Duration;

use crate::harness::{Gateway, details, eventually, sha256_file, text};
use crate::workstation::{Tmux, Workstation, endpoint_sessions, os_user, run_as, run_event};

const WAIT: Duration = Duration::from_secs(60);

/// Prints, asks a name, asks a secret without echo, exits 3.
const ASKING: &str = "#!/bin/sh\n\
echo \"vtest says hello\"\n\
printf 'name? '; read name\n\
stty -echo; printf 'secret? '; read secret; stty echo; echo\n\
echo \"got $name\"\n\
exit 3\n";

fn one_session(gw: &Gateway, host: &str) -> serde_json::Value {
    eventually(WAIT, "the run's session", || {
        let s = endpoint_sessions(gw, host);
        (!s.is_empty()).then(|| s[0].clone())
    })
}

#[test]
fn a_recorded_program_shows_both_uploads_and_is_a_session_with_its_tracks() {
    let gw = Gateway::start();
    let user = "vwsrec1";
    os_user(user, None, &[]);
    gw.add_user(user, "Vws-rec1-password");
    let mut ws = Workstation::enrol(&gw, "ws-rec1");
    ws.approve(&gw);
    let program = ws.program("/usr/local/bin/vtest1", ASKING);
    gw.ok(&[
        "agent-policy",
        "add",
        "vtest1",
        "--path",
        "/usr/local/bin/vtest1",
        "--record",
        "yes",
        "--user",
        user,
    ]);
    ws.start();
    ws.wait_wrapped("/usr/local/bin/vtest1");

    let term = Tmux::login(user);
    term.line(&format!("{} first-arg; echo status=$?", program.display()));
    term.wait_for("name?", WAIT);
    term.line("alice-name");
    term.wait_for("secret?", WAIT);
    term.line("hunter2");
    let screen = term.wait_for("status=3", WAIT);
    assert!(screen.contains("vtest says hello"), "{screen}");
    assert!(screen.contains("got alice-name"), "{screen}");
    assert!(
        screen.contains(
            "Uploading recorded output data...\nOK.\n\nUploading recorded input data...\nOK.\nstatus=3"
        ),
        "{screen}"
    );
    assert!(!screen.contains("hunter2"), "{screen}");

    let s = one_session(&gw, "ws-rec1");
    let id = s["id"].as_str().unwrap();
    assert_eq!(s["user_name"], user);
    assert_eq!(s["status"], "closed");
    let run = run_event(&gw, id);
    assert_eq!(run["program"], "/usr/local/bin/vtest1");
    assert_eq!(run["exit"], 3);
    assert_eq!(run["known_user"], true);
    assert_eq!(run["record"], true);
    assert_eq!(run["argv"][1], "first-arg");
    assert_eq!(run["policies"][0], "vtest1");
    let uploads = details(&gw.session(id), "endpoint_uploaded");
    let objects: Vec<&str> = uploads
        .iter()
        .map(|u| u["object"].as_str().unwrap())
        .collect();
    assert_eq!(objects, ["output", "input"]);

    let cast = String::from_utf8(gw.export(id)).unwrap();
    assert!(cast.contains("vtest says hello"), "{cast}");
    assert!(cast.contains("\"i\", \"alice-name"), "{cast}");
    assert!(
        !cast.contains("hunter2"),
        "a secret typed without echo is recorded: {cast}"
    );
    assert!(
        cast.contains("input redacted: 8 bytes typed without echo"),
        "{cast}"
    );
    assert!(cast.contains("\"x\", \"3\""), "{cast}");
    // The spool let go of the run once the server confirmed it.
    assert!(ws.spooled().is_empty(), "{:?}", ws.spooled());

    // And the recording plays in asciinema.
    let path = gw.dir.path().join("endpoint.cast");
    std::fs::write(&path, &cast).unwrap();
    let played = std::process::Command::new("timeout")
        .args(["60", "script", "-qec"])
        .arg(format!("{} play -s 20 {}", asciinema(), path.display()))
        .arg("/dev/null")
        .stdin(std::process::Stdio::null())
        .output()
        .unwrap();
    assert!(played.status.success(), "{}", text(&played));
    assert!(String::from_utf8_lossy(&played.stdout).contains("got alice-name"));
}

fn asciinema() -> String {
    let out = std::process::Command::new("sh")
        .arg("-c")
        .arg("command -v asciinema || ls $HOME/.cargo/bin/asciinema")
        .output()
        .unwrap();
    let path = String::from_utf8_lossy(&out.stdout).trim().to_owned();
    assert!(
        !path.is_empty(),
        "asciinema 3 is needed; the test script installs it"
    );
    path
}

/// A symbolic-link rule wraps what the link points to; a run through the link (here without a
/// terminal: pipes) is recorded under the link's path. A user the rule does not name, and a
/// copy of the program made before the rule, run unrecorded (the documented limit); a copy of
/// the wrapper cannot reach the original.
#[test]
fn a_symlink_rule_records_runs_through_the_link_and_copies_are_the_documented_limit() {
    let gw = Gateway::start();
    let user = "vwslink1";
    let other = "vwslink2";
    os_user(user, None, &[]);
    os_user(other, None, &[]);
    let mut ws = Workstation::enrol(&gw, "ws-link1");
    ws.approve(&gw);
    let tool = ws.program(
        "/usr/lib/vtool/vtool",
        "#!/bin/sh\nread line\necho \"tool read: $line\" \necho to-stderr >&2\nexit 0\n",
    );
    let link = ws.path("/usr/local/bin/vtool");
    std::os::unix::fs::symlink("../../lib/vtool/vtool", &link).unwrap();
    let early_copy = ws.path("/usr/local/bin/vtool-copy");
    std::fs::copy(&tool, &early_copy).unwrap();
    gw.ok(&[
        "agent-policy",
        "add",
        "vtool",
        "--path",
        "/usr/local/bin/vtool",
        "--symlink",
        "--record",
        "yes",
        "--user",
        user,
    ]);
    ws.start();
    ws.wait_wrapped("/usr/lib/vtool/vtool");
    assert!(
        std::fs::symlink_metadata(&link)
            .unwrap()
            .file_type()
            .is_symlink()
    );

    let out = run_as(user, &link.display().to_string(), "piped-in\n");
    let said = text(&out);
    assert!(out.status.success(), "{said}");
    assert!(said.contains("tool read: piped-in"), "{said}");
    assert!(
        said.contains("Uploading recorded input data...\r\nOK."),
        "{said}"
    );
    let s = one_session(&gw, "ws-link1");
    let id = s["id"].as_str().unwrap();
    let run = run_event(&gw, id);
    assert_eq!(run["program"], "/usr/local/bin/vtool");
    assert_eq!(run["tty"], serde_json::Value::Null);
    assert_eq!(run["exit"], 0);
    let cast = String::from_utf8(gw.export(id)).unwrap();
    assert!(cast.contains("tool read: piped-in"), "{cast}");
    assert!(cast.contains("to-stderr"), "{cast}");
    assert!(cast.contains("\"i\", \"piped-in"), "{cast}");

    // Another user: the program runs as ever, nothing is reported.
    let out = run_as(other, &link.display().to_string(), "other-in\n");
    assert!(text(&out).contains("tool read: other-in"), "{}", text(&out));
    assert!(!text(&out).contains("Uploading"), "{}", text(&out));
    // A copy made before the rule: unrecorded (docs/ENDPOINT.md, limits).
    let out = run_as(user, &early_copy.display().to_string(), "copy-in\n");
    assert!(text(&out).contains("tool read: copy-in"), "{}", text(&out));
    assert!(!text(&out).contains("Uploading"));
    // A copy of the wrapper loses its group: it cannot open the original.
    let home_copy = format!("/home/{user}/vtool-wrapper-copy");
    let out = run_as(
        user,
        &format!("cp {} {home_copy} && {home_copy}", tool.display()),
        "",
    );
    assert!(!out.status.success());
    assert!(
        text(&out).contains("cannot open the program"),
        "{}",
        text(&out)
    );
    std::thread::sleep(Duration::from_secs(2));
    assert_eq!(endpoint_sessions(&gw, "ws-link1").len(), 1);
}

/// A group rule applies to the users whose passwd entry names the group; a supplementary
/// member of it is not recorded.
#[test]
fn only_the_primary_group_counts() {
    let gw = Gateway::start();
    os_user("vwsgrp1", Some("vwsrecorded"), &[]);
    os_user("vwsgrp2", None, &["vwsrecorded"]);
    let mut ws = Workstation::enrol(&gw, "ws-grp1");
    ws.approve(&gw);
    let program = ws.program("/usr/local/bin/vgrp", "#!/bin/sh\necho grp-ran\n");
    gw.ok(&[
        "agent-policy",
        "add",
        "vgrp",
        "--path",
        "/usr/local/bin/vgrp",
        "--record",
        "yes",
        "--group",
        "vwsrecorded",
    ]);
    ws.start();
    ws.wait_wrapped("/usr/local/bin/vgrp");

    let supplementary = run_as("vwsgrp2", &program.display().to_string(), "");
    assert!(text(&supplementary).contains("grp-ran"));
    assert!(
        !text(&supplementary).contains("Uploading"),
        "{}",
        text(&supplementary)
    );
    let primary = run_as("vwsgrp1", &program.display().to_string(), "");
    assert!(text(&primary).contains("grp-ran"));
    assert!(
        text(&primary).contains("Uploading recorded output data"),
        "{}",
        text(&primary)
    );
    let s = one_session(&gw, "ws-grp1");
    let run = run_event(&gw, s["id"].as_str().unwrap());
    assert_eq!(run["primary_group"], "vwsrecorded");
    assert_eq!(
        run["known_user"], false,
        "no Vigil user vwsgrp1: kept and flagged"
    );
    std::thread::sleep(Duration::from_secs(1));
    assert_eq!(endpoint_sessions(&gw, "ws-grp1").len(), 1);
}

/// The server down while a recorded program runs: the terminal says the upload is queued;
/// when the server returns, the agent uploads it, once, byte for byte.
#[test]
fn with_the_server_down_the_upload_is_queued_and_arrives_exactly_once() {
    let mut gw = Gateway::start();
    let user = "vwsdown1";
    os_user(user, None, &[]);
    let mut ws = Workstation::enrol(&gw, "ws-down1");
    ws.approve(&gw);
    let program = ws.program(
        "/usr/local/bin/vdown",
        "#!/bin/sh\necho down-output\nexit 0\n",
    );
    gw.ok(&[
        "agent-policy",
        "add",
        "vdown",
        "--path",
        "/usr/local/bin/vdown",
        "--record",
        "yes",
        "--user",
        user,
    ]);
    ws.start();
    ws.wait_wrapped("/usr/local/bin/vdown");
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
    let mut ws = Workstation::enrol(&gw, "ws-resume1");
    ws.approve(&gw);
    ws.with_args(&["--upload-rate", "300000"]);
    let program = ws.program(
        "/usr/local/bin/vbig",
        "#!/bin/sh\nhead -c 1500000 /dev/urandom | base64\necho big-done\n",
    );
    gw.ok(&[
        "agent-policy",
        "add",
        "vbig",
        "--path",
        "/usr/local/bin/vbig",
        "--record",
        "yes",
        "--user",
        user,
    ]);
    ws.start();
    ws.wait_wrapped("/usr/local/bin/vbig");
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
    loop {
        match std::fs::metadata(&file) {
            Ok(m) => {
                assert!(
                    m.len() >= last,
                    "the upload restarted from {} (held {last})",
                    m.len()
                );
                last = m.len();
            }
            Err(_) => break, // merged and removed
        }
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
    gw.ok(&[
        "agent-policy",
        "add",
        "vpend",
        "--path",
        "/usr/local/bin/vpend",
        "--record",
        "yes",
        "--user",
        user,
    ]);
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

/// On the real root the original is moved aside with the real `dpkg-divert --local
/// --rename` (a throwaway path), and put back, diversion removed, when the rule goes.
#[test]
fn on_the_real_root_originals_are_diverted_with_dpkg_and_restored() {
    let gw = Gateway::start();
    let user = "vwsdpkg1";
    os_user(user, None, &[]);
    let mut ws = Workstation::enrol(&gw, "ws-dpkg1");
    ws.approve(&gw);
    ws.on_the_real_root();
    let path = format!("/usr/local/bin/vigil-e2e-divert-{}", std::process::id());
    let script = "#!/bin/sh\necho diverted-program-ran\n";
    let _cleanup = Diverted(path.clone());
    std::fs::write(&path, script).unwrap();
    std::fs::set_permissions(&path, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
    gw.ok(&[
        "agent-policy",
        "add",
        "vdpkg",
        "--path",
        &path,
        "--record",
        "yes",
        "--user",
        user,
    ]);
    ws.start();
    ws.wait_wrapped(&path);
    let list = diversions(&path);
    assert!(
        list.contains(&format!(
            "local diversion of {path} to /usr/lib/vigil-agent/orig{path}"
        )),
        "{list}"
    );
    let out = run_as(user, &path, "");
    assert!(
        text(&out).contains("diverted-program-ran"),
        "{}",
        text(&out)
    );
    assert!(
        text(&out).contains("Uploading recorded input data...\r\nOK."),
        "{}",
        text(&out)
    );
    one_session(&gw, "ws-dpkg1");

    gw.ok(&["agent-policy", "remove", "vdpkg"]);
    eventually(WAIT, "the original back in place", || {
        (std::fs::read_to_string(&path).ok()? == script).then_some(())
    });
    assert_eq!(diversions(&path), "");
    let out = run_as(user, &path, "");
    assert!(!text(&out).contains("Uploading"), "{}", text(&out));
}

fn diversions(path: &str) -> String {
    let out = std::process::Command::new("dpkg-divert")
        .args(["--list", path])
        .output()
        .unwrap();
    String::from_utf8_lossy(&out.stdout).trim().to_owned()
}

/// Removes the throwaway program and any diversion of it left by a failed test.
struct Diverted(String);

impl Drop for Diverted {
    fn drop(&mut self) {
        let original = format!("/usr/lib/vigil-agent/orig{}", self.0);
        if !diversions(&self.0).is_empty() {
            let _ = std::fs::remove_file(&self.0);
            let _ = std::process::Command::new("dpkg-divert")
                .args([
                    "--local", "--rename", "--divert", &original, "--remove", &self.0,
                ])
                .status();
        }
        let _ = std::fs::remove_file(&self.0);
        let _ = std::fs::remove_file(&original);
    }
}

/// A full spool: a recorded program is refused (it cannot be recorded), the user told why,
/// and the server's administration log and SIEM get the agent's alert.
#[test]
fn a_full_spool_refuses_recorded_programs_and_alerts_the_server() {
    let gw = Gateway::start();
    let user = "vwsfull1";
    os_user(user, None, &[]);
    let mut ws = Workstation::enrol(&gw, "ws-full1");
    ws.approve(&gw);
    ws.with_args(&["--spool-quota-mib", "0"]);
    let program = ws.program("/usr/local/bin/vfull", "#!/bin/sh\necho full-ran\n");
    gw.ok(&[
        "agent-policy",
        "add",
        "vfull",
        "--path",
        "/usr/local/bin/vfull",
        "--record",
        "yes",
        "--user",
        user,
    ]);
    ws.start();
    ws.wait_wrapped("/usr/local/bin/vfull");
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

/// The documented limits, shown: root runs the diverted original directly (unrecorded); an
/// interpreter named by a rule records every script it runs as itself (the script is only in
/// the arguments); a script whose interpreter is not named runs unrecorded.
#[test]
fn root_bypasses_and_an_interpreter_records_as_itself() {
    let gw = Gateway::start();
    let user = "vwslimit1";
    os_user(user, None, &[]);
    let mut ws = Workstation::enrol(&gw, "ws-limit1");
    ws.approve(&gw);
    // An interpreter of our own: a copy of dash.
    let interpreter = ws.path("/usr/local/bin/vsh");
    std::fs::copy("/bin/dash", &interpreter).unwrap();
    gw.ok(&[
        "agent-policy",
        "add",
        "vsh",
        "--path",
        "/usr/local/bin/vsh",
        "--record",
        "yes",
        "--user",
        user,
    ]);
    ws.start();
    ws.wait_wrapped("/usr/local/bin/vsh");
    let script = ws.program(
        "/usr/local/share/vscript",
        &format!("#!{}\necho script-ran-under-vsh\n", interpreter.display()),
    );
    let out = run_as(user, &script.display().to_string(), "");
    assert!(
        text(&out).contains("script-ran-under-vsh"),
        "{}",
        text(&out)
    );
    assert!(
        text(&out).contains("Uploading recorded output data"),
        "{}",
        text(&out)
    );
    let s = one_session(&gw, "ws-limit1");
    let run = run_event(&gw, s["id"].as_str().unwrap());
    assert_eq!(
        run["program"], "/usr/local/bin/vsh",
        "recorded as the interpreter"
    );
    assert_eq!(
        run["argv"][1],
        script.display().to_string(),
        "the script only in argv"
    );

    // Root reaches the original and runs it unwrapped.
    let original = ws.root.join("usr/lib/vigil-agent/orig/usr/local/bin/vsh");
    let out = std::process::Command::new(&original)
        .args(["-c", "echo root-bypass"])
        .output()
        .unwrap();
    assert!(text(&out).contains("root-bypass"));
    assert!(!text(&out).contains("Uploading"));
    // The user cannot: the originals' directory is the agent group's.
    let out = run_as(user, &format!("{} -c 'echo nope'", original.display()), "");
    assert!(!out.status.success(), "{}", text(&out));
    assert!(text(&out).contains("Permission denied"), "{}", text(&out));
    std::thread::sleep(Duration::from_secs(1));
    assert_eq!(endpoint_sessions(&gw, "ws-limit1").len(), 1);
}

/// An audit-only rule: the run is reported (command line, directory, exit status) and
/// nothing is recorded or uploaded; the user sees only the program.
#[test]
fn an_audit_only_rule_reports_the_run_without_recording_it() {
    let gw = Gateway::start();
    let user = "vwsaudit1";
    os_user(user, None, &[]);
    let mut ws = Workstation::enrol(&gw, "ws-audit1");
    ws.approve(&gw);
    let program = ws.program(
        "/usr/local/bin/vaudit",
        "#!/bin/sh\necho audited-ran \"$@\"\nexit 5\n",
    );
    gw.ok(&[
        "agent-policy",
        "add",
        "vaudit",
        "--path",
        "/usr/local/bin/vaudit",
        "--audit",
        "yes",
        "--user",
        user,
    ]);
    ws.start();
    ws.wait_wrapped("/usr/local/bin/vaudit");
    let out = run_as(
        user,
        &format!("cd /tmp && {} one two", program.display()),
        "",
    );
    assert_eq!(out.status.code(), Some(5), "{}", text(&out));
    assert_eq!(text(&out), "audited-ran one two\n");
    let s = one_session(&gw, "ws-audit1");
    let id = s["id"].as_str().unwrap();
    let run = run_event(&gw, id);
    assert_eq!(run["record"], false);
    assert_eq!(run["exit"], 5);
    assert_eq!(run["cwd"], "/tmp");
    assert_eq!(run["argv"][2], "two");
    assert!(details(&gw.session(id), "endpoint_uploaded").is_empty());
    assert_eq!(s["recording_key"], serde_json::Value::Null);
    eventually(WAIT, "the spool empties", || {
        ws.spooled().is_empty().then_some(())
    });
}

/// The agent killed while a recorded program runs: the program is hung up (it cannot go on
/// unrecorded); at the agent's next start the run is kept up to what reached its spool and
/// uploaded.
#[test]
fn an_agent_killed_while_a_program_runs_hangs_it_up_and_keeps_what_it_recorded() {
    let gw = Gateway::start();
    let user = "vwscrash1";
    os_user(user, None, &[]);
    let mut ws = Workstation::enrol(&gw, "ws-crash1");
    ws.approve(&gw);
    let program = ws.program(
        "/usr/local/bin/vcrash",
        "#!/bin/sh\necho before-the-crash\nwhile true; do sleep 0.2; echo tick; done\n",
    );
    gw.ok(&[
        "agent-policy",
        "add",
        "vcrash",
        "--path",
        "/usr/local/bin/vcrash",
        "--record",
        "yes",
        "--user",
        user,
    ]);
    ws.start();
    ws.wait_wrapped("/usr/local/bin/vcrash");
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
