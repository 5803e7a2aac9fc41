//! Hostile SSH clients (issue 15): garbage and truncated packets, a client that opens ten
//! thousand channels, one that stops reading, a sign-in flood from many addresses. Each
//! leaves the node up and the other operators unaffected.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::process::Stdio;
use std::sync::Arc;
use std::time::{Duration, Instant};

use russh::keys::PublicKeyOrCertificate;

use crate::harness::{Gateway, Target, eventually, text};

/// A client that trusts any host key (the node's is not what these tests are about).
struct Anything;

impl russh::client::Handler for Anything {
    type Error = russh::Error;

    async fn check_server_key(
        &mut self,
        _key: &PublicKeyOrCertificate,
    ) -> Result<bool, Self::Error> {
        Ok(true)
    }
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap()
}

/// An honest operator gets through, and at once.
fn an_operator_still_works(gw: &Gateway) {
    let started = Instant::now();
    let out = gw
        .ssh("alice:web01", "alice-pw")
        .arg("echo still-served")
        .output()
        .unwrap();
    assert!(text(&out).contains("still-served"), "{}", text(&out));
    assert!(
        started.elapsed() < Duration::from_secs(10),
        "served after {:?}",
        started.elapsed()
    );
}

fn node_rss_kib(gw: &Gateway) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{}/status", gw.pid())).unwrap();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or(0)
}

/// Bytes that look like nothing in particular (xorshift: no seed to manage).
fn noise(n: usize, mut x: u64) -> Vec<u8> {
    (0..n)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x as u8
        })
        .collect()
}

#[test]
fn garbage_and_truncated_packets_are_dropped_and_the_node_stays_up() {
    let target = Target::start();
    let gw = Gateway::start();
    gw.provision(&target, "web01", "alice", "alice-pw");
    let hello = b"SSH-2.0-hostile\r\n".to_vec();
    let cases: Vec<(&str, Vec<u8>)> = vec![
        ("nothing at all", Vec::new()),
        (
            "HTTP instead of SSH",
            b"GET / HTTP/1.1\r\nHost: x\r\n\r\n".to_vec(),
        ),
        (
            "a 4 GiB packet length",
            [hello.clone(), vec![0xff, 0xff, 0xff, 0xff], noise(64, 1)].concat(),
        ),
        (
            "a packet cut short",
            [hello.clone(), vec![0, 0, 1, 0, 4, 20], noise(40, 2)].concat(),
        ),
        (
            "noise after the version",
            [hello.clone(), noise(256 * 1024, 3)].concat(),
        ),
        ("a version line that never ends", noise(300 * 1024, 4)),
        ("binary before the version", [noise(8, 5), hello].concat()),
    ];
    for (name, bytes) in &cases {
        let mut s = TcpStream::connect(("127.0.0.1", gw.port)).unwrap();
        s.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
        let _ = s.write_all(bytes);
        let _ = s.shutdown(std::net::Shutdown::Write);
        let started = Instant::now();
        let mut sink = Vec::new();
        // Closed, or reset (it hung up with our bytes unread); a timeout is a hang.
        let closed = match s.read_to_end(&mut sink) {
            Ok(_) => true,
            Err(e) => !matches!(
                e.kind(),
                std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
            ),
        };
        assert!(
            closed && started.elapsed() < Duration::from_secs(20),
            "{name}: the node did not hang up ({:?})",
            started.elapsed()
        );
    }
    an_operator_still_works(&gw);
}

#[test]
fn ten_thousand_channels_on_one_connection_are_refused_past_the_cap() {
    let target = Target::start();
    let gw = Gateway::start();
    gw.provision(&target, "web01", "alice", "alice-pw");
    let before = node_rss_kib(&gw);
    let rt = runtime();
    let (handle, mut open, refused) = rt.block_on(async {
        let config = Arc::new(russh::client::Config::default());
        let mut h = russh::client::connect(config, ("127.0.0.1", gw.port), Anything)
            .await
            .unwrap();
        let auth = h
            .authenticate_password("alice:web01", "alice-pw")
            .await
            .unwrap();
        assert!(auth.success());
        let (mut open, mut refused) = (Vec::new(), 0);
        for _ in 0..10_000 {
            match h.channel_open_session().await {
                Ok(c) => open.push(c),
                Err(_) => refused += 1,
            }
        }
        (h, open, refused)
    });
    assert_eq!(open.len(), 64, "the first 64 open");
    assert_eq!(refused, 10_000 - 64);
    let grown = node_rss_kib(&gw).saturating_sub(before);
    assert!(grown < 64 * 1024, "the node grew by {grown} KiB");
    // The channels it holds still work, and so does everyone else.
    let said = rt.block_on(async {
        let ch = open.pop().unwrap();
        ch.exec(true, "echo from-channel-64").await.unwrap();
        let mut out = Vec::new();
        let mut ch = ch;
        while let Some(msg) = ch.wait().await {
            if let russh::ChannelMsg::Data { data } = msg {
                out.extend_from_slice(&data);
            }
        }
        String::from_utf8_lossy(&out).into_owned()
    });
    assert!(said.contains("from-channel-64"), "{said:?}");
    an_operator_still_works(&gw);
    drop(open);
    rt.block_on(async {
        let _ = handle
            .disconnect(russh::Disconnect::ByApplication, "", "en")
            .await;
    });
    // The refusal is in the session log once, not ten thousand times.
    let id = eventually(
        Duration::from_secs(15),
        "the flood's session closed",
        || {
            gw.sessions()
                .into_iter()
                .find(|s| {
                    s["status"] == "closed"
                        && gw
                            .session(s["id"].as_str().unwrap_or_default())
                            .to_string()
                            .contains("channels open at once")
                })
                .and_then(|s| s["id"].as_str().map(str::to_owned))
        },
    );
    let log = gw.session(&id).to_string();
    assert_eq!(log.matches("channels open at once").count(), 1, "{log}");
}

#[test]
fn a_client_that_stops_reading_holds_only_its_own_session() {
    let target = Target::start();
    let gw = Gateway::start();
    gw.provision(&target, "web01", "alice", "alice-pw");
    // Signing in allocates (argon2): warm up first, so what is measured is the stall.
    an_operator_still_works(&gw);
    let before = node_rss_kib(&gw);
    // Endless output to a client whose stdout nobody reads: it stops reading the socket.
    let mut stalled = gw
        .ssh("alice:web01", "alice-pw")
        .arg("yes stalled-line")
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    eventually(Duration::from_secs(10), "the stalled session runs", || {
        gw.sessions()
            .into_iter()
            .find(|s| s["status"] == "active")
            .map(|_| ())
    });
    std::thread::sleep(Duration::from_secs(3));
    let stalled_at = node_rss_kib(&gw);
    for _ in 0..3 {
        an_operator_still_works(&gw);
    }
    std::thread::sleep(Duration::from_secs(3));
    let now = node_rss_kib(&gw);
    assert!(
        now.saturating_sub(stalled_at) < 16 * 1024 && now.saturating_sub(before) < 64 * 1024,
        "a stalled reader must not make the node buffer: {before} KiB before, {stalled_at} KiB stalled, {now} KiB 3 s later"
    );
    // Its output is still there for it; killed, its session ends.
    let mut first = [0u8; 4096];
    let n = stalled.stdout.as_mut().unwrap().read(&mut first).unwrap();
    assert!(String::from_utf8_lossy(&first[..n]).contains("stalled-line"));
    let _ = stalled.kill();
    let _ = stalled.wait();
    let killed = Instant::now();
    eventually(
        Duration::from_secs(60),
        "the stalled session closed",
        || {
            gw.sessions()
                .into_iter()
                .all(|s| s["status"] == "closed")
                .then_some(())
        },
    );
    // Writes waiting for the dead client's window give up when its connection ends: the
    // session closes at once (it took 45 s before: a 15 s drain and a 30 s writer timeout).
    assert!(
        killed.elapsed() < Duration::from_secs(5),
        "closed {:?} after the kill",
        killed.elapsed()
    );
}

#[test]
fn a_sign_in_flood_from_many_addresses_leaves_other_operators_in() {
    let target = Target::start();
    let gw = Gateway::start();
    gw.provision(&target, "web01", "alice", "alice-pw");
    let rt = runtime();
    // 200 addresses (127.0.0.2 ..), each guessing passwords for made-up users.
    let failures = rt.block_on(async {
        let mut tasks = Vec::new();
        for i in 0..200u32 {
            let port = gw.port;
            tasks.push(tokio::spawn(async move {
                let from =
                    std::net::Ipv4Addr::new(127, 0, 1 + (i / 250) as u8, 2 + (i % 250) as u8);
                let socket = tokio::net::TcpSocket::new_v4().ok()?;
                socket.bind((from, 0).into()).ok()?;
                let stream = socket.connect(([127, 0, 0, 1], port).into()).await.ok()?;
                let config = Arc::new(russh::client::Config::default());
                let mut h = russh::client::connect_stream(config, stream, Anything)
                    .await
                    .ok()?;
                let mut failed = 0;
                for n in 0..3 {
                    let r = h
                        .authenticate_password(format!("guess{i}-{n}"), "wrong")
                        .await
                        .ok()?;
                    if !r.success() {
                        failed += 1;
                    }
                }
                Some(failed)
            }));
        }
        let mut total = 0;
        for t in tasks {
            total += t.await.ok().flatten().unwrap_or(0);
        }
        total
    });
    assert!(
        failures >= 400,
        "the flood was refused: {failures} failures"
    );
    an_operator_still_works(&gw);
}
