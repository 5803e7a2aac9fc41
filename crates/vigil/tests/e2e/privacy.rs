//! What recordings must not hold (issue 9): file contents moved by scp, rsync or SFTP, and
//! what the operator typed at a prompt that did not echo it.

use std::process::Stdio;
use std::time::Duration;

use crate::harness::{Gateway, Target, text};

/// Every recorded byte of every track of every session, output and input, decoded (b events
/// included).
pub(crate) fn all_recorded_bytes(gw: &Gateway) -> Vec<u8> {
    let mut all = Vec::new();
    for s in gw.sessions() {
        if s["recording_key"].is_null() {
            continue;
        }
        let id = s["id"].as_str().unwrap();
        for track in gw.tracks(id) {
            let n = track["track"].as_u64().unwrap();
            let cast = vigil_record::read_cast(&gw.export_track(id, n)[..]).unwrap();
            all.extend(cast.output_bytes());
            all.extend(cast.input_bytes());
        }
    }
    all
}

pub(crate) fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
}

/// Regression (issue 9): scp and rsync ran as exec channels and the content of every copied
/// file ended up in the terminal recording, both directions.
#[test]
fn copied_files_leave_no_trace_in_any_recording() {
    let target = Target::start();
    let gw = Gateway::start();
    gw.provision(&target, "web01", "alice", "alice-pw");
    let canary = b"VIGIL-CANARY-7f3a9c1e";
    let mut content = b"-----BEGIN OPENSSH PRIVATE KEY-----\n".to_vec();
    for _ in 0..200 {
        content.extend_from_slice(canary);
        content.push(b'\n');
    }
    let local = gw.dir.path().join("id_secret");
    std::fs::write(&local, &content).unwrap();
    let port = gw.port.to_string();
    // scp in both protocols: -O runs `scp -t`/`scp -f` as an exec channel, the default SFTP.
    for (flags, name) in [(&["-O"][..], "legacy.key"), (&[][..], "sftp.key")] {
        let out = gw
            .transfer_tool("scp", "alice-pw")
            .args(flags)
            .args(["-P", &port, "-o", "User=alice:web01"])
            .arg(&local)
            .arg(format!("127.0.0.1:{name}"))
            .output()
            .unwrap();
        assert!(out.status.success(), "scp {flags:?} up: {}", text(&out));
        let back = gw.dir.path().join(format!("back-{name}"));
        let out = gw
            .transfer_tool("scp", "alice-pw")
            .args(flags)
            .args(["-P", &port, "-o", "User=alice:web01"])
            .arg(format!("127.0.0.1:{name}"))
            .arg(&back)
            .output()
            .unwrap();
        assert!(out.status.success(), "scp {flags:?} down: {}", text(&out));
        assert_eq!(std::fs::read(&back).unwrap(), content);
    }
    let ssh_cmd = format!(
        "ssh -p {port} -l alice:web01 -o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null -o LogLevel=ERROR"
    );
    for (from, to) in [
        (
            local.display().to_string(),
            "127.0.0.1:rsync.key".to_owned(),
        ),
        (
            "127.0.0.1:rsync.key".to_owned(),
            gw.dir.path().join("rsync-back").display().to_string(),
        ),
    ] {
        let mut rsync = std::process::Command::new("rsync");
        gw.operator_env(&mut rsync, "alice-pw");
        let out = rsync
            .args(["-a", "-e", &ssh_cmd, &from, &to])
            .stdin(Stdio::null())
            .output()
            .unwrap();
        assert!(out.status.success(), "rsync {from} -> {to}: {}", text(&out));
    }
    // Let the last session close, then look at everything recorded.
    gw.last_closed_session();
    std::thread::sleep(Duration::from_millis(500));
    let recorded = all_recorded_bytes(&gw);
    assert!(
        !contains(&recorded, canary),
        "a copied file's content is in a recording"
    );
    // Each transfer is in its session's log, with its tool and direction.
    let mut seen = Vec::new();
    for s in gw.sessions() {
        let log = gw.session(s["id"].as_str().unwrap());
        for e in log["events"].as_array().unwrap() {
            if e["kind"] == "transfer_opened" {
                let d: serde_json::Value =
                    serde_json::from_str(e["detail"].as_str().unwrap()).unwrap();
                seen.push(format!(
                    "{} {}",
                    d["tool"].as_str().unwrap(),
                    d["direction"].as_str().unwrap()
                ));
            }
        }
    }
    seen.sort();
    assert_eq!(
        seen,
        [
            "rsync download",
            "rsync upload",
            "scp download",
            "scp upload",
            "sftp both",
            "sftp both"
        ],
        "transfers logged"
    );
}

/// Regression (issue 9): a password typed on the target at a prompt that does not echo was
/// in the `i` track, which anyone who may download recordings could read.
#[test]
fn a_password_typed_at_read_s_is_not_in_the_input_track() {
    let target = Target::start();
    let gw = Gateway::start();
    gw.provision(&target, "web01", "alice", "alice-pw");
    let out = gw.typed_session(
        "alice:web01",
        "alice-pw",
        &[
            (
                800,
                b"read -s -p 'vault pw: ' PW; echo; echo \"got ${#PW} chars\"\n",
            ),
            (600, b"s3cr3t-c4n4ry\n"),
            (600, b"exit\n"),
        ],
    );
    let shown = String::from_utf8_lossy(&out.stdout);
    assert!(shown.contains("got 13 chars"), "{shown}");
    let s = gw.last_closed_session();
    let cast =
        vigil_record::read_cast(&gw.export(s["session"]["id"].as_str().unwrap())[..]).unwrap();
    let input = String::from_utf8_lossy(&cast.input_bytes()).into_owned();
    assert!(
        !input.contains("s3cr3t"),
        "the password is in the input track: {input:?}"
    );
    assert!(
        input.contains("read -s -p"),
        "echoed commands stay: {input:?}"
    );
    assert!(input.contains("exit"), "{input:?}");
    // 13 characters; the Enter that follows is the line's submit key, recorded as input.
    let redacted = cast.events.iter().any(|e| {
        matches!(&e.data, vigil_record::EventData::Marker(m) if m == "input redacted: 13 bytes typed without echo")
    });
    // Nor is it a "command": typed with its Enter in one chunk, the output after it showed
    // no echo, so the audited-command stage logged nothing of it.
    let marked = cast
        .events
        .iter()
        .any(|e| matches!(&e.data, vigil_record::EventData::Marker(m) if m.contains("s3cr3t")));
    assert!(!marked, "the password is in a marker: {:?}", cast.events);
    assert!(
        !s.to_string().contains("s3cr3t"),
        "the password is in the session log: {s}"
    );
    assert!(
        redacted,
        "a marker says how many bytes were typed: {:?}",
        cast.events
    );
}
