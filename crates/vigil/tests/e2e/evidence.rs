//! Tamper-evident recordings (issue 15): `vigil verify` on real sessions, untouched,
//! altered on disk in each way, and cut short by a crash of the node.

use std::process::Stdio;
use std::time::{Duration, Instant};

use crate::harness::{Gateway, Target, Tmpfs, eventually, files_under, text};

/// Runs `script` on the node's SQLite store, as someone with the disk would.
fn sql(db: &std::path::Path, script: &str) {
    let out = std::process::Command::new("python3")
        .args([
            "-c",
            "import sqlite3, sys; c = sqlite3.connect(sys.argv[1]); c.executescript(sys.argv[2]); c.commit()",
        ])
        .arg(db)
        .arg(script)
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", text(&out));
}

/// The stored recording file of session `id` (track 0).
fn stored(gw: &Gateway, id: &str) -> std::path::PathBuf {
    files_under(&gw.data.join("recordings"))
        .into_iter()
        .find(|p| {
            let name = p.file_name().unwrap().to_string_lossy().into_owned();
            name.starts_with(&format!("{id}.cast.zst"))
        })
        .unwrap_or_else(|| panic!("no recording file for {id}"))
}

fn verify(gw: &Gateway, id: &str) -> (bool, String, serde_json::Value) {
    let out = gw.cli(&["verify", id]);
    let json = gw.cli(&["verify", id, "--json"]);
    let parsed = serde_json::from_slice(&json.stdout).unwrap_or(serde_json::Value::Null);
    assert_eq!(out.status.success(), json.status.success());
    (out.status.success(), text(&out), parsed)
}

#[test]
fn a_recording_verifies_intact_and_every_alteration_is_named() {
    let target = Target::start();
    let gw = Gateway::start();
    gw.provision(&target, "web01", "alice", "alice-pw");
    let out = gw
        .ssh("alice:web01", "alice-pw")
        .args([
            "-tt",
            "for i in 1 2 3; do echo evidence-line-$i; sleep 1; done",
        ])
        .output()
        .unwrap();
    assert!(String::from_utf8_lossy(&out.stdout).contains("evidence-line-3"));
    let s = gw.last_closed_session();
    let id = s["session"]["id"].as_str().unwrap().to_owned();
    let (ok, said, json) = verify(&gw, &id);
    assert!(ok, "{said}");
    assert!(said.contains("intact"), "{said}");
    assert_eq!(json["verdict"], "intact", "{json}");
    assert_eq!(
        json["running"], false,
        "an ended session's verdict is final: {json}"
    );
    assert!(json["tracks"][0]["links"].as_u64().unwrap() >= 3, "{json}");
    assert_eq!(json["tracks"][0]["sealed"], true);

    let path = stored(&gw, &id);
    let original = std::fs::read(&path).unwrap();
    // A flipped byte in the middle.
    let mut flipped = original.clone();
    let mid = flipped.len() / 2;
    flipped[mid] ^= 0x20;
    std::fs::write(&path, &flipped).unwrap();
    let (ok, said, json) = verify(&gw, &id);
    assert!(!ok, "{said}");
    assert!(
        said.contains("altered") || said.contains("damaged"),
        "{said}"
    );
    assert_eq!(json["verdict"], "altered", "{json}");
    // Cut short although the session closed normally: its seal is missing.
    let cut = &original[..original.len() - 162];
    std::fs::write(&path, cut).unwrap();
    let (ok, said, _) = verify(&gw, &id);
    assert!(!ok, "{said}");
    assert!(
        said.contains("truncated") && said.contains("seal is missing"),
        "{said}"
    );
    // Bytes added after the seal.
    std::fs::write(&path, [&original[..], b"forged"].concat()).unwrap();
    let (ok, said, _) = verify(&gw, &id);
    assert!(!ok && said.contains("follow the seal"), "{said}");
    // As it was: intact again, and it still plays as before.
    std::fs::write(&path, &original).unwrap();
    assert!(verify(&gw, &id).0);
    let played = String::from_utf8(gw.export(&id)).unwrap();
    assert!(played.contains("evidence-line-3"));

    // The session log: chained and sealed when the session closed.
    let (_, _, json) = verify(&gw, &id);
    assert_eq!(json["log"]["verdict"], "intact", "{json}");
    assert!(
        json["log"]["sealed_events"].as_u64().unwrap() >= 3,
        "{json}"
    );
    let db = gw.data.join("vigil.db");
    // A row changed in the database behind Vigil's back, then put back.
    sql(
        &db,
        &format!(
            "UPDATE evidence SET detail = replace(detail, 'operator_exit', 'terminated_by(x)') WHERE session_id = '{id}' AND kind = 'ended'"
        ),
    );
    let (ok, said, json) = verify(&gw, &id);
    assert!(
        !ok && said.contains("session log's chain breaks at event"),
        "{said}"
    );
    assert_eq!(json["log"]["verdict"], "altered", "{json}");
    assert_eq!(json["recording"]["verdict"], "intact", "{json}");
    sql(
        &db,
        &format!(
            "UPDATE evidence SET detail = replace(detail, 'terminated_by(x)', 'operator_exit') WHERE session_id = '{id}' AND kind = 'ended'"
        ),
    );
    assert!(verify(&gw, &id).0);
    // The log cut from its `ended` event on (the export's note follows it): the seal names
    // what is gone.
    let from = format!(
        "session_id = '{id}' AND seq >= (SELECT seq FROM evidence WHERE session_id = '{id}' AND kind = 'ended')"
    );
    sql(
        &db,
        &format!(
            "CREATE TABLE kept AS SELECT * FROM evidence WHERE {from}; DELETE FROM evidence WHERE {from}"
        ),
    );
    let (ok, said, _) = verify(&gw, &id);
    assert!(!ok && said.contains("session log was cut"), "{said}");
    sql(
        &db,
        "INSERT INTO evidence SELECT * FROM kept; DROP TABLE kept",
    );
    // The seal removed: a normally closed session on a signing node had one.
    sql(
        &db,
        &format!(
            "CREATE TABLE kept AS SELECT * FROM session_log_seals WHERE session_id = '{id}'; \
         DELETE FROM session_log_seals WHERE session_id = '{id}'"
        ),
    );
    let (ok, said, _) = verify(&gw, &id);
    assert!(!ok && said.contains("the seal is missing"), "{said}");
    sql(
        &db,
        "INSERT INTO session_log_seals SELECT * FROM kept; DROP TABLE kept",
    );
    assert!(verify(&gw, &id).0);

    // Deleted behind Vigil's back: missing, and nothing says it was purged.
    std::fs::remove_file(&path).unwrap();
    let (ok, said, _) = verify(&gw, &id);
    assert!(
        !ok && said.contains("missing, and no purge removed it"),
        "{said}"
    );
    std::fs::write(&path, &original).unwrap();
    // Purged under retention: the tombstone, signed by the node, says what it was.
    gw.ok(&["purge", "--days", "0"]);
    assert!(!path.exists());
    let (ok, said, json) = verify(&gw, &id);
    assert!(ok, "{said}");
    assert_eq!(json["verdict"], "purged", "{json}");
    assert!(
        said.contains("tombstone is signed") && said.contains("was intact"),
        "{said}"
    );
}

/// `kill -9` of the node mid-session: at restart the session is interrupted and its recording
/// verifies as authentic up to at most about a second before the kill.
#[test]
fn a_node_killed_mid_session_leaves_a_recording_authentic_up_to_the_kill() {
    let target = Target::start();
    let mut gw = Gateway::start();
    gw.provision(&target, "web01", "alice", "alice-pw");
    let mut child = gw
        .ssh("alice:web01", "alice-pw")
        .args([
            "-tt",
            "i=0; while true; do i=$((i+1)); echo tick-$i; sleep 0.2; done",
        ])
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let id = eventually(Duration::from_secs(15), "an active session", || {
        gw.sessions()
            .into_iter()
            .find(|s| s["status"] == "active")
            .and_then(|s| s["id"].as_str().map(str::to_owned))
    });
    let started = Instant::now();
    std::thread::sleep(Duration::from_millis(3500));
    let ran = started.elapsed();
    gw.crash();
    let _ = child.kill();
    let _ = child.wait();
    gw.start_again();
    let s = gw.session(&id);
    assert_eq!(s["session"]["end_reason"], "interrupted", "{s}");
    let (ok, said, json) = verify(&gw, &id);
    assert!(
        ok,
        "an interrupted recording is authentic up to the kill: {said}"
    );
    assert_eq!(json["verdict"], "interrupted", "{json}");
    assert!(said.contains("intact up to its interruption"), "{said}");
    // The restarted node marked it interrupted and sealed its log as it stood.
    assert_eq!(json["log"]["verdict"], "intact", "{json}");
    let verified = Duration::from_millis(json["tracks"][0]["verified_ms"].as_u64().unwrap());
    // The session's recording started a little before `started`: what is verified reaches to
    // within about a second (the flush interval, plus scheduling) of the kill.
    assert!(
        verified + Duration::from_millis(1800) >= ran,
        "verified up to {verified:?} of {ran:?}: {said}"
    );
    let cast = String::from_utf8(gw.export(&id)).unwrap();
    assert!(cast.contains("tick-"), "readable after the crash");
}

/// An export carries its proof beside it: `vigil verify FILE` says it is what was exported
/// (and what the stored recording was then), names a changed file, and says when the proof
/// is missing. The export still plays as before.
#[test]
fn an_export_is_verified_with_the_proof_beside_it() {
    let target = Target::start();
    let gw = Gateway::start();
    gw.provision(&target, "web01", "alice", "alice-pw");
    let out = gw
        .ssh("alice:web01", "alice-pw")
        .args(["-tt", "echo exported-evidence-42"])
        .output()
        .unwrap();
    assert!(String::from_utf8_lossy(&out.stdout).contains("exported-evidence-42"));
    let s = gw.last_closed_session();
    let id = s["session"]["id"].as_str().unwrap().to_owned();
    let file = gw.dir.path().join("export.cast");
    let out = gw.cli(&["recording", "export", &id, "-o", file.to_str().unwrap()]);
    assert!(out.status.success(), "{}", text(&out));
    assert!(text(&out).contains("vigil-proof"), "{}", text(&out));
    let proof = file.with_file_name("export.cast.vigil-proof");
    assert!(proof.exists());
    let ok = gw.cli(&["verify", file.to_str().unwrap()]);
    assert!(ok.status.success(), "{}", text(&ok));
    assert!(
        text(&ok).contains("as it was exported") && text(&ok).contains("intact"),
        "{}",
        text(&ok)
    );
    // One character changed in the export.
    let original = std::fs::read_to_string(&file).unwrap();
    std::fs::write(
        &file,
        original.replace("exported-evidence-42", "exported-evidence-43"),
    )
    .unwrap();
    let bad = gw.cli(&["verify", file.to_str().unwrap()]);
    assert!(!bad.status.success());
    assert!(
        text(&bad).contains("not the one exported"),
        "{}",
        text(&bad)
    );
    // The proof edited to match: its signature no longer does.
    let (sha, size) = {
        let out = std::process::Command::new("sha256sum")
            .arg(&file)
            .output()
            .unwrap();
        let sha = String::from_utf8_lossy(&out.stdout)
            .split_whitespace()
            .next()
            .unwrap()
            .to_owned();
        (sha, std::fs::metadata(&file).unwrap().len())
    };
    let mut p: serde_json::Value = serde_json::from_slice(&std::fs::read(&proof).unwrap()).unwrap();
    p["sha256"] = sha.into();
    p["size"] = size.into();
    std::fs::write(&proof, serde_json::to_vec(&p).unwrap()).unwrap();
    let forged = gw.cli(&["verify", file.to_str().unwrap()]);
    assert!(!forged.status.success());
    assert!(
        text(&forged).contains("does not match its signature"),
        "{}",
        text(&forged)
    );
    std::fs::remove_file(&proof).unwrap();
    let none = gw.cli(&["verify", file.to_str().unwrap()]);
    assert!(!none.status.success());
    assert!(
        text(&none).contains("no proof beside it"),
        "{}",
        text(&none)
    );
}

/// The recordings' disk fills mid-session (a 2 MiB tmpfs made by the test): the running session
/// ends as `error(recording failed…)` with the operator told, a new session is refused with a
/// message that says why, and what was recorded up to then stays readable and verifies as
/// authentic up to the failure.
#[test]
fn a_full_recordings_disk_ends_the_session_and_keeps_what_was_recorded() {
    let target = Target::start();
    let gw = Gateway::start();
    gw.provision(&target, "web01", "alice", "alice-pw");
    let _small = Tmpfs::mount(&gw.data.join("recordings"), "2m");
    let out = gw
        .ssh("alice:web01", "alice-pw")
        .arg("echo before-the-disk-filled; sleep 1.5; head -c 20000000 /dev/urandom; sleep 30")
        .output()
        .unwrap();
    let said = text(&out);
    assert!(said.contains("before-the-disk-filled"));
    assert!(
        said.contains("can no longer be recorded"),
        "{}",
        &said[said.len().saturating_sub(300)..]
    );
    let s = gw.last_closed_session();
    let id = s["session"]["id"].as_str().unwrap().to_owned();
    let reason = s["session"]["end_reason"].as_str().unwrap();
    assert!(reason.starts_with("error(recording failed"), "{reason}");
    let (ok, summary, json) = verify(&gw, &id);
    assert!(ok, "authentic up to the failure: {summary}");
    assert_eq!(json["verdict"], "interrupted", "{json}");
    assert!(
        String::from_utf8(gw.export(&id))
            .unwrap()
            .contains("before-the-disk-filled")
    );
    // The disk is still full: the next session cannot be recorded and is not let through.
    let next = gw
        .ssh("alice:web01", "alice-pw")
        .arg("echo second-session-ran")
        .output()
        .unwrap();
    let said = text(&next);
    assert!(
        !String::from_utf8_lossy(&next.stdout).contains("second-session-ran"),
        "{said}"
    );
    assert!(said.contains("record"), "{said}");
}

/// The target's side of the session killed (its sshd process for this session, SIGKILL):
/// the session ends at once as `target_closed`, the operator is told why before the client
/// exits, and the recording is sealed and intact.
#[test]
fn the_target_killed_mid_session_ends_it_with_a_reason() {
    let target = Target::start();
    let gw = Gateway::start();
    gw.provision(&target, "web01", "alice", "alice-pw");
    let marker = 7000 + std::process::id() % 1000;
    let mut child = gw
        .ssh("alice:web01", "alice-pw")
        .args(["-tt", &format!("echo target-up; exec sleep {marker}")])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let sleeper = eventually(Duration::from_secs(15), "the target's sleep", || {
        let out = std::process::Command::new("pgrep")
            .args(["-f", &format!("^sleep {marker}$")])
            .output()
            .ok()?;
        String::from_utf8_lossy(&out.stdout)
            .trim()
            .parse::<u32>()
            .ok()
    });
    // Its parent is the target's sshd process for this session.
    let stat = std::fs::read_to_string(format!("/proc/{sleeper}/stat")).unwrap();
    let ppid: u32 = stat
        .rsplit(')')
        .next()
        .unwrap()
        .split_whitespace()
        .nth(1)
        .unwrap()
        .parse()
        .unwrap();
    let started = Instant::now();
    assert!(
        std::process::Command::new("kill")
            .args(["-KILL", &ppid.to_string()])
            .status()
            .unwrap()
            .success()
    );
    let out = eventually(
        Duration::from_secs(20),
        "the operator's client exits",
        || child.try_wait().ok().flatten(),
    );
    assert!(
        started.elapsed() < Duration::from_secs(15),
        "{:?}",
        started.elapsed()
    );
    let mut said = String::new();
    use std::io::Read;
    let _ = child.stdout.take().unwrap().read_to_string(&mut said);
    let _ = child.stderr.take().unwrap().read_to_string(&mut said);
    assert!(said.contains("target-up"), "{said}");
    assert!(
        said.contains("the connection to the target was lost"),
        "the operator is told: {said:?}"
    );
    let _ = out;
    let s = gw.last_closed_session();
    let reason = s["session"]["end_reason"].as_str().unwrap().to_owned();
    assert_eq!(reason, "target_closed", "{s}");
    let id = s["session"]["id"].as_str().unwrap().to_owned();
    let (ok, summary, _) = verify(&gw, &id);
    assert!(ok && summary.contains("intact"), "{summary}");
    let _ = std::process::Command::new("kill")
        .arg(sleeper.to_string())
        .status();
}
