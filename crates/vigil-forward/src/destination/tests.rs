use super::*;

fn spec(url: &str) -> DestinationSpec {
    DestinationSpec {
        url: url.into(),
        ..Default::default()
    }
}

fn known(kind: &str) -> bool {
    vigil_core::EventKind::parse(kind).is_some()
}

#[test]
fn urls_that_work() {
    let table: &[(&str, &str, u16, &str, usize)] = &[
        ("udp://127.0.0.1:514", "127.0.0.1", 514, "Udp", 2048),
        ("tcp://siem.example:6514", "siem.example", 6514, "Tcp", 8192),
        ("udp://[::1]:1514", "::1", 1514, "Udp", 2048),
    ];
    for (url, host, port, transport, max) in table {
        let d = Destination::from_spec(&spec(url), known).unwrap();
        assert_eq!(
            (
                d.host.as_str(),
                d.port,
                format!("{:?}", d.transport),
                d.max_message_bytes
            ),
            (*host, *port, transport.to_string(), *max),
            "{url}"
        );
        assert_eq!(d.format, Format::Rfc5424);
    }
    let d = Destination::from_spec(&spec("udp://[::1]:1514"), known).unwrap();
    assert_eq!(d.authority(), "[::1]:1514");
    assert_eq!((d.origin.facility, d.origin.enterprise), (10, 32473));
    let d = Destination::from_spec(
        &DestinationSpec {
            facility: Some("local3".into()),
            enterprise_number: Some(99999),
            ..spec("udp://h:1")
        },
        known,
    )
    .unwrap();
    assert_eq!((d.origin.facility, d.origin.enterprise), (19, 99999));
}

#[test]
fn bad_tables_name_the_key_and_what_is_allowed() {
    let table: &[(DestinationSpec, &str, &str)] = &[
        (spec("127.0.0.1:514"), "url", "udp://HOST:PORT"),
        (
            spec("http://127.0.0.1:514"),
            "url",
            "use udp://, tcp:// or tls://",
        ),
        (spec("tcp://127.0.0.1"), "url", "HOST:PORT"),
        (spec("tcp://127.0.0.1:0"), "url", "HOST:PORT"),
        (spec("tcp://127.0.0.1:99999"), "url", "HOST:PORT"),
        (spec("tcp://::1:514"), "url", "in brackets"),
        (
            DestinationSpec {
                format: Some("leef".into()),
                ..spec("udp://h:1")
            },
            "format",
            "rfc5424 or cef",
        ),
        (
            DestinationSpec {
                min_severity: Some(11),
                ..spec("udp://h:1")
            },
            "min_severity",
            "0 to 10",
        ),
        (
            DestinationSpec {
                kinds: Some(vec!["ended".into(), "sesion_locked".into()]),
                ..spec("udp://h:1")
            },
            "kinds",
            "\"sesion_locked\"",
        ),
        (
            DestinationSpec {
                ca_file: Some("/x".into()),
                ..spec("tcp://h:1")
            },
            "ca_file",
            "for tls://",
        ),
        (
            DestinationSpec {
                ca_file: Some("/nonexistent/ca.pem".into()),
                ..spec("tls://h:1")
            },
            "ca_file",
            "/nonexistent/ca.pem",
        ),
        (
            DestinationSpec {
                facility: Some("local9".into()),
                ..spec("udp://h:1")
            },
            "facility",
            "local0 to local7",
        ),
        (
            DestinationSpec {
                queue_size: Some(0),
                ..spec("udp://h:1")
            },
            "queue_size",
            "from 1",
        ),
        (
            DestinationSpec {
                max_message_bytes: Some(100),
                ..spec("udp://h:1")
            },
            "max_message_bytes",
            "480",
        ),
    ];
    for (s, key, why) in table {
        let e = Destination::from_spec(s, known).unwrap_err();
        assert_eq!(e.key, *key, "{s:?}: {e}");
        assert!(e.why.contains(why), "{s:?}: {e}");
    }
}

#[test]
fn tls_files_are_checked_at_start() {
    let dir = tempfile::tempdir().unwrap();
    let ca = rcgen::generate_simple_self_signed(vec!["localhost".into()]).unwrap();
    let ca_file = dir.path().join("ca.pem");
    std::fs::write(&ca_file, ca.cert.pem()).unwrap();
    let not_pem = dir.path().join("junk.pem");
    std::fs::write(&not_pem, "not a certificate").unwrap();
    let tls = |ca: &std::path::Path| DestinationSpec {
        ca_file: Some(ca.to_owned()),
        ..spec("tls://127.0.0.1:6514")
    };
    let d = Destination::from_spec(&tls(&ca_file), known).unwrap();
    assert!(format!("{:?}", d.transport).starts_with("Tls("));
    let e = Destination::from_spec(&tls(&not_pem), known).unwrap_err();
    assert!(
        e.key == "ca_file" && e.why.contains("no PEM certificate"),
        "{e}"
    );
    let only_cert = DestinationSpec {
        cert_file: Some(ca_file.clone()),
        ..tls(&ca_file)
    };
    let e = Destination::from_spec(&only_cert, known).unwrap_err();
    assert!(e.key == "cert_file" && e.why.contains("together"), "{e}");
    let bad_name = DestinationSpec {
        server_name: Some("not a name!".into()),
        ..tls(&ca_file)
    };
    assert_eq!(
        Destination::from_spec(&bad_name, known).unwrap_err().key,
        "server_name"
    );
}

#[test]
fn filters_by_severity_and_kind() {
    let d = Destination::from_spec(
        &DestinationSpec {
            min_severity: Some(5),
            kinds: Some(vec!["session_locked".into(), "command_detected".into()]),
            ..spec("udp://h:1")
        },
        known,
    )
    .unwrap();
    let event = |kind: &str, severity| vigil_siem::Event {
        kind: kind.into(),
        signature: 1,
        msgid: "X".into(),
        name: "x".into(),
        severity,
        at_ms: 0,
        id: "1".into(),
        node: "n".into(),
        fields: vec![],
        message: String::new(),
    };
    assert!(d.wants(&event("session_locked", 5)));
    assert!(!d.wants(&event("session_locked", 4)));
    assert!(!d.wants(&event("ended", 9)));
}
