//! Recording tracks (issue 9): each PTY channel of a multiplexed connection is recorded on
//! its own, not mixed into one screen.

use std::process::Stdio;
use std::time::Duration;

use crate::harness::{Gateway, Target, eventually, text};

#[test]
fn two_ptys_over_one_multiplexed_connection_each_get_their_own_track() {
    let target = Target::start();
    let gw = Gateway::start();
    gw.provision(&target, "web01", "alice", "alice-pw");
    let socket = gw.dir.path().join("master.sock");
    let control = format!("ControlPath={}", socket.display());
    let mut master = gw
        .ssh("alice:web01", "alice-pw")
        .args(["-M", "-N", "-o", &control])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    eventually(Duration::from_secs(15), "the master connection", || {
        socket.exists().then_some(())
    });
    // Both PTYs at once over the one connection: one session, two channels.
    let run = |command: &str| {
        gw.ssh("alice:web01", "alice-pw")
            .args(["-S", socket.to_str().unwrap(), "-tt", command])
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap()
    };
    let one = run("sleep 0.5; echo ONE-$((40+2)); sleep 0.5");
    let two = run("sleep 0.3; echo TWO-$((30+3)); sleep 0.5");
    for (child, want) in [(one, "ONE-42"), (two, "TWO-33")] {
        let out = child.wait_with_output().unwrap();
        assert!(text(&out).contains(want), "{want}: {}", text(&out));
    }
    let exit = gw
        .ssh("alice:web01", "alice-pw")
        .args(["-S", socket.to_str().unwrap(), "-O", "exit"])
        .output()
        .unwrap();
    assert!(exit.status.success(), "ssh -O exit: {}", text(&exit));
    let _ = master.wait();

    let session = gw.last_closed_session();
    let id = session["session"]["id"].as_str().unwrap();
    assert_eq!(gw.sessions().len(), 1, "one connection, one session");
    let tracks = gw.tracks(id);
    assert_eq!(tracks.len(), 2, "{tracks:?}");
    let mut seen = Vec::new();
    for track in &tracks {
        assert_eq!(track["kind"], "terminal");
        let n = track["track"].as_u64().unwrap();
        let command = track["command"].as_str().unwrap();
        let cast = vigil_record::read_cast(&gw.export_track(id, n)[..]).unwrap();
        let output = String::from_utf8_lossy(&cast.output_bytes()).into_owned();
        let (mine, other) = if command.contains("ONE") {
            ("ONE-42", "TWO-33")
        } else {
            ("TWO-33", "ONE-42")
        };
        assert!(output.contains(mine), "track {n}: {output:?}");
        assert!(
            !output.contains(other),
            "track {n} holds the other PTY: {output:?}"
        );
        assert_eq!(cast.header.command.as_deref(), Some(command));
        seen.push(mine);
    }
    seen.sort();
    assert_eq!(seen, ["ONE-42", "TWO-33"]);
    // The session log names each channel's track.
    let opened: Vec<_> = session["events"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["kind"] == "channel_opened")
        .map(|e| serde_json::from_str::<serde_json::Value>(e["detail"].as_str().unwrap()).unwrap()["track"].as_u64())
        .collect();
    let mut numbers: Vec<_> = opened.into_iter().flatten().collect();
    numbers.sort();
    assert_eq!(numbers, [0, 1]);
}
