//! Binary data, file transfer tools and port forwards through the gateway.

use std::io::{Read, Write};
use std::process::Stdio;
use std::time::Duration;

use crate::harness::{Gateway, Target, has_event, text};

fn random_bytes(n: usize) -> Vec<u8> {
    let mut buf = vec![0u8; n];
    std::fs::File::open("/dev/urandom")
        .unwrap()
        .read_exact(&mut buf)
        .unwrap();
    buf
}

fn sha256(bytes: &[u8]) -> String {
    let mut child = std::process::Command::new("sha256sum")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdin = child.stdin.take().unwrap();
    let data = bytes.to_vec();
    let writer = std::thread::spawn(move || stdin.write_all(&data));
    let out = child.wait_with_output().unwrap();
    writer.join().unwrap().unwrap();
    String::from_utf8_lossy(&out.stdout)
        .split_whitespace()
        .next()
        .unwrap_or_default()
        .to_owned()
}

#[test]
fn hundred_megabytes_of_random_data_both_ways() {
    let target = Target::start();
    let gw = Gateway::start();
    gw.provision(&target, "web01", "alice", "alice-pw");
    let input = gw.dir.path().join("input.bin");
    std::fs::write(&input, random_bytes(100 << 20)).unwrap();
    // `cat` echoes every byte back: 100 MB up and 100 MB down at the same time.
    let out = gw
        .ssh("alice:web01", "alice-pw")
        .arg("cat")
        .stdin(std::fs::File::open(&input).unwrap())
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(out.stdout.len(), 100 << 20);
    assert_eq!(sha256(&out.stdout), sha256(&std::fs::read(&input).unwrap()));
    let s = gw.last_closed_session();
    assert_eq!(s["session"]["bytes_in"], 100 << 20);
    assert_eq!(s["session"]["bytes_out"], 100 << 20);
}

#[test]
fn recording_round_trips_random_binary_output_byte_for_byte() {
    let target = Target::start();
    let gw = Gateway::start();
    gw.provision(&target, "web01", "alice", "alice-pw");
    let payload = random_bytes(3 << 20);
    let out = gw
        .ssh("alice:web01", "alice-pw")
        .arg("cat")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut child = out;
    let mut stdin = child.stdin.take().unwrap();
    let data = payload.clone();
    let writer = std::thread::spawn(move || stdin.write_all(&data));
    let out = child.wait_with_output().unwrap();
    writer.join().unwrap().unwrap();
    assert_eq!(out.stdout, payload);
    let s = gw.last_closed_session();
    let cast =
        vigil_record::read_cast(&gw.export(s["session"]["id"].as_str().unwrap())[..]).unwrap();
    assert!(
        cast.output_bytes() == payload,
        "output track differs from what the target sent"
    );
    assert!(
        cast.input_bytes() == payload,
        "input track differs from what the operator sent"
    );
    assert_eq!(cast.header.command.as_deref(), Some("cat"));
}

#[test]
fn sftp_scp_and_rsync_pass_through() {
    let target = Target::start();
    let gw = Gateway::start();
    gw.provision(&target, "web01", "alice", "alice-pw");
    let local = gw.dir.path().join("up.bin");
    let payload = random_bytes(2 << 20);
    std::fs::write(&local, &payload).unwrap();
    // sftp -b implies BatchMode (no password prompts): alice logs in with a key.
    let key = gw.user_key("alice");
    let batch = gw.dir.path().join("batch");
    let back = gw.dir.path().join("back.bin");
    std::fs::write(
        &batch,
        format!(
            "put {} sftp.bin\nget sftp.bin {}\n",
            local.display(),
            back.display()
        ),
    )
    .unwrap();
    let mut sftp = gw.transfer_tool("sftp", "alice-pw");
    // The user name holds ':', which scp and sftp read as a path separator: pass it with -o User.
    let out = sftp
        .args([
            "-P",
            &gw.port.to_string(),
            "-o",
            "User=alice:web01",
            "-o",
            "IdentitiesOnly=yes",
            "-i",
        ])
        .arg(&key)
        .arg("-b")
        .arg(&batch)
        .arg("127.0.0.1")
        .output()
        .unwrap();
    assert!(out.status.success(), "sftp: {}", text(&out));
    assert_eq!(std::fs::read(&back).unwrap(), payload);
    let s = gw.last_closed_session();
    assert!(
        s["events"].as_array().unwrap().iter().any(
            |e| e["kind"] == "channel_opened" && e["detail"].as_str().unwrap().contains("sftp")
        ),
        "{s}"
    );

    let out = gw
        .transfer_tool("scp", "alice-pw")
        .args(["-P", &gw.port.to_string(), "-o", "User=alice:web01"])
        .arg(&local)
        .arg("127.0.0.1:scp.bin")
        .output()
        .unwrap();
    assert!(out.status.success(), "scp: {}", text(&out));
    let scp_back = gw.dir.path().join("scp_back.bin");
    let out = gw
        .transfer_tool("scp", "alice-pw")
        .args(["-P", &gw.port.to_string(), "-o", "User=alice:web01"])
        .arg("127.0.0.1:scp.bin")
        .arg(&scp_back)
        .output()
        .unwrap();
    assert!(out.status.success(), "scp back: {}", text(&out));
    assert_eq!(std::fs::read(&scp_back).unwrap(), payload);

    let rsync_back = gw.dir.path().join("rsync_back.bin");
    let ssh_cmd = format!(
        "ssh -p {} -l alice:web01 -o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null -o LogLevel=ERROR",
        gw.port
    );
    let mut rsync = std::process::Command::new("rsync");
    gw.operator_env(&mut rsync, "alice-pw");
    let out = rsync
        .args(["-a", "-e", &ssh_cmd])
        .arg(&local)
        .arg("127.0.0.1:rsync.bin")
        .stdin(Stdio::null())
        .output()
        .unwrap();
    assert!(out.status.success(), "rsync up: {}", text(&out));
    let mut rsync = std::process::Command::new("rsync");
    gw.operator_env(&mut rsync, "alice-pw");
    let out = rsync
        .args(["-a", "-e", &ssh_cmd])
        .arg("127.0.0.1:rsync.bin")
        .arg(&rsync_back)
        .stdin(Stdio::null())
        .output()
        .unwrap();
    assert!(out.status.success(), "rsync down: {}", text(&out));
    assert_eq!(std::fs::read(&rsync_back).unwrap(), payload);
}

#[test]
fn port_forward_only_where_the_grant_allows() {
    let target = Target::start();
    let gw = Gateway::start();
    gw.provision(&target, "web01", "alice", "alice-pw");
    // A service on the target side: the target's own sshd, reached through -L.
    let local_port = crate::harness::free_port();
    let forward = format!("{local_port}:127.0.0.1:{}", target.port);
    let mut child = gw
        .ssh("alice:web01", "alice-pw")
        .args(["-N", "-o", "ExitOnForwardFailure=yes", "-L", &forward])
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    std::thread::sleep(Duration::from_millis(1500));
    let banner = read_banner(local_port);
    // On a loaded machine the refusal (after the target is reached) may come after the
    // banner read gave up: wait for it before hanging up.
    crate::harness::eventually(Duration::from_secs(15), "the forward refused", || {
        let id = gw.sessions().into_iter().next()?["id"].as_str()?.to_owned();
        has_event(&gw.session(&id), "channel_refused", "port forwarding").then_some(())
    });
    let _ = child.kill();
    let _ = child.wait();
    assert!(
        banner.is_empty() || !banner.starts_with("SSH-"),
        "forwarding must be refused without the grant, got {banner:?}"
    );
    let s = gw.last_closed_session();
    assert!(has_event(&s, "channel_refused", "port forwarding"), "{s}");

    gw.add_user("bob", "bob-pw");
    gw.ok(&["access", "grant", "bob", "web01", "--allow-port-forwarding"]);
    let mut child = gw
        .ssh("bob:web01", "bob-pw")
        .args(["-N", "-L", &forward])
        .spawn()
        .unwrap();
    let mut banner = String::new();
    for _ in 0..40 {
        std::thread::sleep(Duration::from_millis(100));
        banner = read_banner(local_port);
        if banner.starts_with("SSH-") {
            break;
        }
    }
    let _ = child.kill();
    let _ = child.wait();
    assert!(
        banner.starts_with("SSH-2.0-OpenSSH"),
        "the forward reaches the target's service: {banner:?}"
    );
    let s = gw.last_closed_session();
    assert!(has_event(&s, "forward_opened", ""), "{s}");
}

fn read_banner(port: u16) -> String {
    let Ok(mut stream) = std::net::TcpStream::connect(("127.0.0.1", port)) else {
        return String::new();
    };
    let _ = stream.set_read_timeout(Some(Duration::from_secs(3)));
    let mut buf = [0u8; 64];
    let n = stream.read(&mut buf).unwrap_or(0);
    String::from_utf8_lossy(&buf[..n]).into_owned()
}

#[test]
fn agent_and_x11_forwarding_are_refused_with_a_message() {
    let target = Target::start();
    let gw = Gateway::start();
    gw.provision(&target, "web01", "alice", "alice-pw");
    let agent = std::process::Command::new("ssh-agent")
        .arg("-s")
        .output()
        .unwrap();
    let agent_env = String::from_utf8_lossy(&agent.stdout).into_owned();
    let sock = agent_env
        .split(';')
        .find_map(|p| p.trim().strip_prefix("SSH_AUTH_SOCK="))
        .unwrap()
        .to_owned();
    let pid = agent_env
        .split(';')
        .find_map(|p| p.trim().strip_prefix("SSH_AGENT_PID="))
        .unwrap()
        .to_owned();
    let out = gw
        .ssh("alice:web01", "alice-pw")
        .env("SSH_AUTH_SOCK", &sock)
        .args([
            "-A",
            "-o",
            "PreferredAuthentications=keyboard-interactive,password",
        ])
        .arg("echo ran; echo agent=${SSH_AUTH_SOCK:-none}")
        .output()
        .unwrap();
    let _ = std::process::Command::new("kill").arg(&pid).status();
    let all = text(&out);
    assert!(all.contains("agent forwarding is not allowed"), "{all}");
    assert!(
        all.contains("agent=none"),
        "no agent socket reaches the target: {all}"
    );
    let s = gw.last_closed_session();
    assert!(has_event(&s, "channel_refused", "agent"));
}
