//! A login's transfer policy at work on real clients (issue 13): directions and rsync refused
//! or allowed, over legacy SCP (per channel) and SFTP (per file). Each refusal says
//! why to the client, is logged, and leaves nothing on the target.

use std::process::{Output, Stdio};

use crate::harness::{Gateway, Target, has_event, home_file, scp, text};

fn rsync(gw: &Gateway, from: &str, to: &str) -> Output {
    let ssh_cmd = format!(
        "ssh -p {} -l alice:web01 -o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null -o LogLevel=ERROR",
        gw.port
    );
    let mut cmd = std::process::Command::new("rsync");
    gw.operator_env(&mut cmd, "alice-pw");
    cmd.args(["-a", "-e", &ssh_cmd])
        .arg(from)
        .arg(to)
        .stdin(Stdio::null())
        .output()
        .unwrap()
}

#[test]
fn directions_and_rsync_are_enforced_for_every_transfer_protocol() {
    let target = Target::start();
    let gw = Gateway::start();
    gw.provision(&target, "web01", "alice", "alice-pw");
    let tag = std::process::id();
    let local = gw.dir.path().join("up.txt");
    std::fs::write(&local, b"policy test\n").unwrap();
    let local_s = local.display().to_string();
    gw.ok(&[
        "transfer-policy",
        "set",
        "web01",
        "--download",
        "deny",
        "--rsync",
        "deny",
    ]);

    // Uploads still work with scp -O.
    let up = format!("pol-up-{tag}.txt");
    let out = scp(&gw, true, &[&local_s, &format!("127.0.0.1:{up}")]);
    assert!(out.status.success(), "scp -O up: {}", text(&out));
    assert!(home_file(&up).exists());
    let _ = std::fs::remove_file(home_file(&up));

    // A download is refused, saying why, and nothing arrives.
    let back = gw.dir.path().join("back.txt");
    let out = scp(
        &gw,
        true,
        &["127.0.0.1:.profile", &back.display().to_string()],
    );
    assert!(!out.status.success());
    assert!(
        text(&out).contains("downloads are refused"),
        "{}",
        text(&out)
    );
    assert!(!back.exists());
    let s = gw.last_closed_session();
    assert!(
        has_event(&s, "channel_refused", "downloads are refused"),
        "{s}"
    );

    // rsync is refused whatever the direction.
    let rs = format!("pol-rsync-{tag}.txt");
    let out = rsync(&gw, &local_s, &format!("127.0.0.1:{rs}"));
    assert!(!out.status.success());
    assert!(text(&out).contains("rsync is refused"), "{}", text(&out));
    assert!(!home_file(&rs).exists());

    // SFTP (scp's default) carries both directions: its uploads pass, its downloads are
    // refused file by file, saying why.
    let sf = format!("pol-sftp-{tag}.txt");
    let out = scp(&gw, false, &[&local_s, &format!("127.0.0.1:{sf}")]);
    assert!(out.status.success(), "SFTP upload: {}", text(&out));
    assert!(home_file(&sf).exists());
    let _ = std::fs::remove_file(home_file(&sf));
    let out = scp(
        &gw,
        false,
        &["127.0.0.1:.profile", &back.display().to_string()],
    );
    assert!(!out.status.success());
    assert!(
        text(&out).contains("downloads are refused"),
        "{}",
        text(&out)
    );
    assert!(!back.exists());

    // Cleared: everything passes again.
    gw.ok(&["transfer-policy", "clear", "web01"]);
    let out = scp(&gw, false, &[&local_s, &format!("127.0.0.1:{sf}")]);
    assert!(out.status.success(), "scp after clear: {}", text(&out));
    assert!(home_file(&sf).exists());
    let _ = std::fs::remove_file(home_file(&sf));
}
