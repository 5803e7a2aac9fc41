//! The endpoint agent (issue 14) end to end: a gateway on loopback, the real `vigil-agent`
//! service with a test install root, workstation users made for the test, programs run by
//! them in tmux or through `su`.

use std::time::Duration;

use crate::harness::{Gateway, details, eventually, text};
use crate::workstation::{
    Tmux, Workstation, endpoint_sessions, os_user, rule, run_as, run_event, wrapped,
};

pub(crate) const WAIT: Duration = Duration::from_secs(60);

/// Prints, asks a name, asks a secret without echo, exits 3.
const ASKING: &str = "#!/bin/sh\n\
echo \"vtest says hello\"\n\
printf 'name? '; read name\n\
stty -echo; printf 'secret? '; read secret; stty echo; echo\n\
echo \"got $name\"\n\
exit 3\n";

pub(crate) fn one_session(gw: &Gateway, host: &str) -> serde_json::Value {
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
    let (ws, program) = wrapped(
        &gw,
        "ws-rec1",
        "vtest1",
        ASKING,
        &["--record", "yes", "--user", user],
        &[],
    );

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
    rule(
        &gw,
        "vtool",
        "/usr/local/bin/vtool",
        &["--symlink", "--record", "yes", "--user", user],
    );
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
    let (_ws, program) = wrapped(
        &gw,
        "ws-grp1",
        "vgrp",
        "#!/bin/sh\necho grp-ran\n",
        &["--record", "yes", "--group", "vwsrecorded"],
        &[],
    );

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
    rule(&gw, "vdpkg", &path, &["--record", "yes", "--user", user]);
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
    rule(
        &gw,
        "vsh",
        "/usr/local/bin/vsh",
        &["--record", "yes", "--user", user],
    );
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
    let (ws, program) = wrapped(
        &gw,
        "ws-audit1",
        "vaudit",
        "#!/bin/sh\necho audited-ran \"$@\"\nexit 5\n",
        &["--audit", "yes", "--user", user],
        &[],
    );
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
