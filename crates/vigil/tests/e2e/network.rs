//! The network to the target cut mid-session (issue 15): the target's sshd runs in a network
//! namespace this test makes, reached over a veth pair; setting the pair's near end down cuts
//! it without closing anything. The node must notice by itself (the target stops answering
//! its keepalives), end the session with a reason and tell the operator.

use std::io::{Read, Write};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::harness::{Gateway, TARGET_USER, eventually, target_password, text};

fn ip(args: &[&str]) {
    let out = Command::new("ip")
        .args(args)
        .output()
        .expect("ip (iproute2)");
    assert!(
        out.status.success(),
        "ip {}: {}",
        args.join(" "),
        text(&out)
    );
}

/// An OpenSSH server in a network namespace of its own.
struct NetTarget {
    dir: tempfile::TempDir,
    ns: String,
    near: String,
    addr: String,
    sshd: Option<Child>,
}

impl NetTarget {
    fn start() -> NetTarget {
        target_password();
        let n = std::process::id() % 0xffff;
        let (ns, near, far) = (
            format!("vgl{n:x}"),
            format!("vgh{n:x}"),
            format!("vgt{n:x}"),
        );
        let subnet = 16 + (n % 200);
        let (near_addr, addr) = (format!("10.231.{subnet}.1"), format!("10.231.{subnet}.2"));
        let _ = Command::new("ip").args(["netns", "del", &ns]).output();
        ip(&["netns", "add", &ns]);
        ip(&["link", "add", &near, "type", "veth", "peer", "name", &far]);
        ip(&["link", "set", &far, "netns", &ns]);
        ip(&["addr", "add", &format!("{near_addr}/30"), "dev", &near]);
        ip(&["link", "set", &near, "up"]);
        ip(&[
            "netns",
            "exec",
            &ns,
            "ip",
            "addr",
            "add",
            &format!("{addr}/30"),
            "dev",
            &far,
        ]);
        ip(&["netns", "exec", &ns, "ip", "link", "set", &far, "up"]);
        ip(&["netns", "exec", &ns, "ip", "link", "set", "lo", "up"]);
        let dir = tempfile::tempdir().unwrap();
        let key = dir.path().join("host_key");
        let ok = Command::new("ssh-keygen")
            .args(["-q", "-t", "ed25519", "-N", "", "-f"])
            .arg(&key)
            .status()
            .unwrap()
            .success();
        assert!(ok);
        std::fs::create_dir_all("/run/sshd").unwrap();
        let config = dir.path().join("sshd_config");
        std::fs::write(
            &config,
            format!(
                "Port 22\nListenAddress {addr}\nHostKey {}\nPidFile {}\nPasswordAuthentication yes\nKbdInteractiveAuthentication no\nUsePAM no\nStrictModes no\nClientAliveInterval 0\nLogLevel VERBOSE\n",
                key.display(),
                dir.path().join("sshd.pid").display()
            ),
        )
        .unwrap();
        let sshd = Command::new("ip")
            .args(["netns", "exec", &ns, "/usr/sbin/sshd", "-D", "-e", "-f"])
            .arg(&config)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let target = NetTarget {
            dir,
            ns,
            near,
            addr,
            sshd: Some(sshd),
        };
        eventually(
            Duration::from_secs(10),
            "sshd in the namespace listens",
            || {
                let to = format!("{}:22", target.addr).parse().ok()?;
                std::net::TcpStream::connect_timeout(&to, Duration::from_millis(200))
                    .ok()
                    .map(|_| ())
            },
        );
        target
    }

    /// The cable pulled: nothing is closed, packets just stop.
    fn cut(&self) {
        ip(&["link", "set", &self.near, "down"]);
    }
}

impl Drop for NetTarget {
    fn drop(&mut self) {
        if let Some(mut c) = self.sshd.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
        // Deleting the namespace deletes the pair with it.
        let _ = Command::new("ip").args(["netns", "del", &self.ns]).output();
    }
}

#[test]
fn a_cut_network_to_the_target_ends_the_session_with_a_reason_and_the_operator_told() {
    let target = NetTarget::start();
    let mut gw = Gateway::start();
    std::fs::write(gw.data.join("vigil.toml"), "target_keepalive_secs = 2\n").unwrap();
    gw.restart();
    let key = target.dir.path().join("host_key.pub");
    gw.ok(&[
        "target",
        "add",
        "far01",
        "--host",
        &target.addr,
        "--port",
        "22",
        "--host-key-file",
        key.to_str().unwrap(),
    ]);
    let out = gw.cli_stdin(
        &["account", "add", "far01", TARGET_USER, "--password-stdin"],
        Some(target_password()),
    );
    assert!(out.status.success(), "{}", text(&out));
    gw.add_user("alice", "alice-pw");
    gw.ok(&["access", "grant", "alice", "far01"]);

    let mut shell = gw
        .ssh_with("alice:far01", "alice-pw", &["-tt"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut keys = shell.stdin.take().unwrap();
    std::thread::sleep(Duration::from_millis(1500));
    keys.write_all(b"echo before-the-cut-$((6*7))\r").unwrap();
    keys.flush().unwrap();
    let id = eventually(Duration::from_secs(15), "the session runs", || {
        gw.sessions()
            .into_iter()
            .find(|s| s["status"] == "active")
            .and_then(|s| s["id"].as_str().map(str::to_owned))
    });
    std::thread::sleep(Duration::from_secs(1));
    target.cut();
    let cut_at = Instant::now();
    // The operator types on into the void.
    let _ = keys.write_all(b"echo after-the-cut\r");
    let _ = keys.flush();
    let s = eventually(Duration::from_secs(30), "the session ended", || {
        let s = gw.session(&id);
        (s["session"]["status"] == "closed").then_some(s)
    });
    let took = cut_at.elapsed();
    // Three keepalives of 2 s unanswered, and a little.
    assert!(
        took < Duration::from_secs(15),
        "ended {took:?} after the cut"
    );
    let reason = s["session"]["end_reason"].as_str().unwrap_or_default();
    assert_eq!(reason, "target_closed", "{s}");
    drop(keys);
    let _ = shell.wait();
    let mut screen = String::new();
    let _ = shell.stdout.take().unwrap().read_to_string(&mut screen);
    let mut err = String::new();
    let _ = shell.stderr.take().unwrap().read_to_string(&mut err);
    assert!(screen.contains("before-the-cut-42"), "{screen}");
    assert!(
        format!("{screen}{err}").contains("connection to the target was lost"),
        "the operator is told: {screen:?} {err:?}"
    );
    // What was recorded up to the cut is there and verifies.
    let verified = gw.cli(&["verify", &id]);
    assert!(verified.status.success(), "{}", text(&verified));
}
