//! The forwarder against receivers made here: a TCP and a TLS listener that read
//! octet-counted frames, and a UDP socket.

use std::sync::Arc;
use std::time::Duration;

use tokio::io::{AsyncBufReadExt, AsyncReadExt, BufReader};
use tokio::net::{TcpListener, UdpSocket};
use tokio::sync::mpsc;
use tokio_rustls::rustls;
use vigil_core::{EventKind, Evidence};
use vigil_siem::{Event, Field};

use crate::Forwarder;
use crate::destination::{Destination, DestinationSpec};
use crate::outlet::Outlet;

fn known(kind: &str) -> bool {
    EventKind::parse(kind).is_some()
}

fn destination(url: &str, queue_size: usize) -> Destination {
    Destination::from_spec(
        &DestinationSpec {
            url: url.into(),
            format: Some("rfc5424".into()),
            queue_size: Some(queue_size),
            ..Default::default()
        },
        known,
    )
    .unwrap()
}

fn event(n: usize, command: &str) -> Arc<Event> {
    Arc::new(Event {
        kind: "command_detected".into(),
        signature: 2000,
        msgid: "COMMAND_DETECTED".into(),
        name: "Command detected".into(),
        severity: 3,
        at_ms: 1_796_140_800_000,
        id: n.to_string(),
        node: "n1".into(),
        fields: vec![Field::Command(command.into())],
        message: format!("event {n}"),
    })
}

/// Reads octet-counted frames from every connection to `listener`.
async fn octet_frames<S>(mut stream: S, out: mpsc::UnboundedSender<String>)
where
    S: tokio::io::AsyncRead + Unpin,
{
    let mut reader = BufReader::new(&mut stream);
    loop {
        let mut len = Vec::new();
        match reader.read_until(b' ', &mut len).await {
            Ok(0) | Err(_) => return,
            Ok(_) => {}
        }
        let n: usize = std::str::from_utf8(&len[..len.len() - 1])
            .unwrap()
            .parse()
            .expect("an octet count");
        let mut msg = vec![0; n];
        if reader.read_exact(&mut msg).await.is_err() {
            return;
        }
        let _ = out.send(String::from_utf8(msg).unwrap());
    }
}

fn tcp_receiver(listener: TcpListener) -> mpsc::UnboundedReceiver<String> {
    let (tx, rx) = mpsc::unbounded_channel();
    tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            tokio::spawn(octet_frames(stream, tx.clone()));
        }
    });
    rx
}

async fn next(rx: &mut mpsc::UnboundedReceiver<String>) -> String {
    tokio::time::timeout(Duration::from_secs(10), rx.recv())
        .await
        .expect("a message within 10 s")
        .expect("the receiver runs")
}

#[tokio::test]
async fn tcp_frames_carry_a_hostile_command_whole() {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let mut rx = tcp_receiver(listener);
    let outlet = Outlet::new(destination(&format!("tcp://127.0.0.1:{port}"), 100));
    tokio::spawn(Arc::clone(&outlet).run("n1".into()));
    let hostile = "echo 12 <13>1 x\n] \" \\ |=";
    outlet.offer(&event(1, hostile));
    outlet.offer(&event(2, "ls"));
    let first = next(&mut rx).await;
    assert!(
        first.contains(r#"cmd="echo 12 <13>1 x\\x0a\] \" \\ |=""#),
        "{first}"
    );
    assert!(next(&mut rx).await.contains("cmd=\"ls\""));
    assert_eq!(outlet.sent(), 2);
    assert_eq!(outlet.state().state, "connected");
}

#[tokio::test]
async fn a_receiver_that_comes_back_hears_what_was_dropped_then_the_newest() {
    // A port nothing listens on yet, below the ephemeral range so that no other test's
    // listener or connection takes it meanwhile.
    let port = (20_000..32_000)
        .map(|p| p + (std::process::id() as u16 % 1000))
        .find(|p| std::net::TcpListener::bind(("127.0.0.1", *p)).is_ok())
        .unwrap();
    let outlet = Outlet::new(destination(&format!("tcp://127.0.0.1:{port}"), 3));
    tokio::spawn(Arc::clone(&outlet).run("n1".into()));
    for n in 0..10 {
        outlet.offer(&event(n, "true"));
    }
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(outlet.state().state, "down");
    assert!(
        outlet
            .state()
            .last_error
            .unwrap()
            .contains("cannot resolve or reach")
    );
    assert_eq!((outlet.queued(), outlet.dropped()), (3, 7));
    let listener = TcpListener::bind(("127.0.0.1", port)).await.unwrap();
    let mut rx = tcp_receiver(listener);
    let report = next(&mut rx).await;
    assert!(
        report.contains("SIEM_DROPPED") && report.contains("count=\"7\""),
        "{report}"
    );
    for n in 7..10 {
        let m = next(&mut rx).await;
        assert!(m.contains(&format!("event {n}")), "{m}");
    }
    // The receiver restarts: the next events reach the new one.
    drop(rx);
}

#[tokio::test]
async fn udp_sends_one_datagram_per_event_within_its_size() {
    let socket = UdpSocket::bind("127.0.0.1:0").await.unwrap();
    let port = socket.local_addr().unwrap().port();
    let outlet = Outlet::new(destination(&format!("udp://127.0.0.1:{port}"), 10));
    tokio::spawn(Arc::clone(&outlet).run("n1".into()));
    outlet.offer(&event(1, &"y".repeat(5000)));
    let mut buf = vec![0; 65536];
    let n = tokio::time::timeout(Duration::from_secs(5), socket.recv(&mut buf))
        .await
        .unwrap()
        .unwrap();
    let text = std::str::from_utf8(&buf[..n]).unwrap();
    assert!(n <= 2048 && text.contains("truncated=\"1\""), "{n}: {text}");
}

#[tokio::test]
async fn tls_checks_the_receivers_certificate_and_frames_by_octets() {
    let dir = tempfile::tempdir().unwrap();
    let cert =
        rcgen::generate_simple_self_signed(vec!["127.0.0.1".into(), "localhost".into()]).unwrap();
    let ca_file = dir.path().join("ca.pem");
    std::fs::write(&ca_file, cert.cert.pem()).unwrap();
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let key = rustls::pki_types::PrivateKeyDer::try_from(cert.signing_key.serialize_der()).unwrap();
    let server = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_no_client_auth()
        .with_single_cert(vec![cert.cert.der().clone()], key)
        .unwrap();
    let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(server));
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let (tx, mut rx) = mpsc::unbounded_channel();
    tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            if let Ok(tls) = acceptor.accept(stream).await {
                tokio::spawn(octet_frames(tls, tx.clone()));
            }
        }
    });
    let spec = |name: Option<&str>| DestinationSpec {
        url: format!("tls://127.0.0.1:{port}"),
        format: Some("cef".into()),
        ca_file: Some(ca_file.clone()),
        server_name: name.map(str::to_owned),
        ..Default::default()
    };
    let good = Destination::from_spec(&spec(None), known).unwrap();
    let outlet = Outlet::new(good.clone());
    tokio::spawn(Arc::clone(&outlet).run("n1".into()));
    outlet.offer(&event(1, "id"));
    let m = next(&mut rx).await;
    assert!(
        m.contains("CEF:0|Vigil|Vigil|") && m.contains("cs3=id"),
        "{m}"
    );
    assert!(matches!(
        crate::send_test(&good, "n1").await,
        Ok(crate::Accepted::Stream)
    ));
    assert!(next(&mut rx).await.contains("SIEM_TEST"));
    // A name the certificate does not have is refused before anything is sent.
    let wrong = Destination::from_spec(&spec(Some("siem.example")), known).unwrap();
    let e = crate::send_test(&wrong, "n1").await.unwrap_err();
    assert!(e.to_string().contains("TLS"), "{e}");
}

#[tokio::test]
async fn the_forwarder_sends_committed_evidence_with_its_cursor_kept() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}?mode=rwc", dir.path().join("v.db").display());
    let store = vigil_store::Store::open(&url, Arc::new(vigil_vault::MasterKey::generate()))
        .await
        .unwrap()
        .with_origin("n1");
    store
        .record(Evidence::admin(
            EventKind::UserAdded,
            "admin",
            "before",
            serde_json::json!({"role": "operator", "via": "cli"}),
        ))
        .await
        .unwrap();
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let mut rx = tcp_receiver(listener);
    let forwarder = Forwarder::start(
        store.clone(),
        "n1",
        vec![destination(&format!("tcp://127.0.0.1:{port}"), 100)],
    )
    .await
    .unwrap();
    let seq = store
        .record(Evidence::admin(
            EventKind::UserDisabled,
            "carol",
            "mallory",
            serde_json::json!({"addr": "192.0.2.1", "via": "api"}),
        ))
        .await
        .unwrap();
    let m = next(&mut rx).await;
    assert!(
        m.contains("USER_DISABLED")
            && m.contains("user=\"carol\"")
            && m.contains("src=\"192.0.2.1\""),
        "only what came after the first start: {m}"
    );
    let mut reports = Vec::new();
    for _ in 0..50 {
        tokio::time::sleep(Duration::from_millis(100)).await;
        reports = store.siem_status().await.unwrap();
        if reports.first().is_some_and(|r| r.sent == 1) {
            break;
        }
    }
    assert_eq!(
        store.consumer_cursor(crate::CONSUMER).await.unwrap(),
        Some(seq)
    );
    assert_eq!(reports.len(), 1);
    assert_eq!(
        (reports[0].sent, reports[0].state.as_str()),
        (1, "connected")
    );
    assert_eq!(forwarder.reports()[0].dropped, 0);
}

/// Two nodes of one store with destinations: the one holding the forwarding lease sends each
/// event, the other sends nothing (no event twice).
#[tokio::test]
async fn of_two_nodes_one_forwards() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}?mode=rwc", dir.path().join("v.db").display());
    let store = vigil_store::Store::open(&url, Arc::new(vigil_vault::MasterKey::generate()))
        .await
        .unwrap();
    let mut receivers = Vec::new();
    let mut forwarders = Vec::new();
    for node in ["n1", "n2"] {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        receivers.push(tcp_receiver(listener));
        let on = store.clone().with_origin(node);
        forwarders.push(
            Forwarder::start(
                on,
                node,
                vec![destination(&format!("tcp://127.0.0.1:{port}"), 100)],
            )
            .await
            .unwrap(),
        );
        // n1 takes the lease before n2 starts.
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
    for n in 0..3 {
        store
            .record(Evidence::admin(
                EventKind::UserDisabled,
                "carol",
                &format!("user-{n}"),
                serde_json::json!({"addr": "192.0.2.1", "via": "api"}),
            ))
            .await
            .unwrap();
    }
    for n in 0..3 {
        let m = next(&mut receivers[0]).await;
        assert!(m.contains(&format!("user-{n}")), "{m}");
    }
    assert!(
        tokio::time::timeout(Duration::from_millis(1500), receivers[1].recv())
            .await
            .is_err(),
        "the node without the lease sends nothing"
    );
    drop(forwarders);
}
