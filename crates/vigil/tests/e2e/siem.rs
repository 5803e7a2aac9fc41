//! SIEM messages (issue 11) received by a real rsyslogd over UDP, TCP and TLS, in RFC 5424
//! (read back with a real RFC 5424 parser) and CEF (read back with the CEF parser below): a
//! session's start and end, a detected and a prohibited command, a lock and a failed
//! sign-in arrive with every field; a hostile command line arrives whole; no secret arrives;
//! a receiver that goes away costs counted drops and no session, and hears again when back.

use std::collections::BTreeMap;
use std::time::Duration;

use crate::harness::{Gateway, Target, eventually, target_password, text};
use crate::rsyslog::{INPUTS, Rsyslog};

const SD_ID: &str = "vigil@32473";

/// A CEF line's header fields and extension, unescaped.
fn cef(line: &str) -> (Vec<String>, BTreeMap<String, String>) {
    let start = line.find("CEF:0|").expect("a CEF line");
    let mut header = Vec::new();
    let mut field = String::new();
    let mut chars = line[start..].chars();
    while header.len() < 7 {
        match chars.next().expect("seven header fields") {
            '\\' => field.push(chars.next().unwrap()),
            '|' => header.push(std::mem::take(&mut field)),
            c => field.push(c),
        }
    }
    // Extension: key=value pairs; a key starts after a space and runs to an unescaped `=`.
    let rest: String = chars.collect();
    let mut ext = BTreeMap::new();
    let mut tokens: Vec<(String, String)> = Vec::new();
    let mut raw = rest.chars().peekable();
    let mut current = String::new();
    while let Some(c) = raw.next() {
        match c {
            '\\' => match raw.next() {
                Some('n') => current.push('\n'),
                Some('r') => current.push('\r'),
                Some(other) => current.push(other),
                None => {}
            },
            '=' => {
                // The key is the last word of what came before.
                let (before, key) = match current.rfind(' ') {
                    Some(i) => (current[..i].to_owned(), current[i + 1..].to_owned()),
                    None => (String::new(), current.clone()),
                };
                if let Some(last) = tokens.last_mut() {
                    last.1 = before;
                }
                tokens.push((key, String::new()));
                current.clear();
            }
            c => current.push(c),
        }
    }
    if let Some(last) = tokens.last_mut() {
        last.1 = current;
    }
    for (k, v) in tokens {
        ext.insert(k, v);
    }
    (header, ext)
}

/// The RFC 5424 message of `line`, parsed.
fn rfc5424(line: &str) -> syslog_rfc5424::SyslogMessage {
    syslog_rfc5424::parse_message(line).unwrap_or_else(|e| panic!("{e:?}: {line}"))
}

fn sd<'a>(m: &'a syslog_rfc5424::SyslogMessage, name: &str) -> Option<&'a str> {
    m.sd.find_tuple(SD_ID, name).map(String::as_str)
}

/// Waits until `input` has a message with `msgid` and `needle`; returns it.
fn wait_for(r: &Rsyslog, input: &str, msgid: &str, needle: &str) -> String {
    eventually(
        Duration::from_secs(30),
        &format!("{msgid} with {needle:?} at {input}"),
        || {
            r.lines(input)
                .into_iter()
                .find(|l| l.contains(&format!(" {msgid} ")) && l.contains(needle))
        },
    )
}

/// Control characters other than CR and LF as the RFC 5424 formatter writes them.
fn shown_in_sd(s: &str) -> String {
    s.chars()
        .map(|c| {
            if c.is_control() {
                format!("\\x{:02x}", u32::from(c))
            } else {
                c.to_string()
            }
        })
        .collect()
}

#[test]
fn every_transport_and_format_carries_each_event_whole() {
    let target = Target::start();
    let mut gw = Gateway::start();
    gw.provision(&target, "web01", "alice", "alice-pw");
    gw.command_rule("no-touch", "touch", 40, "prohibit");
    gw.ok(&[
        "rule",
        "add",
        "marker",
        "--pattern",
        "vigil-siem-marker",
        "--score",
        "30",
        "--action",
        "alert",
    ]);
    let rsyslog = Rsyslog::start(gw.dir.path());
    std::fs::write(gw.data.join("vigil.toml"), rsyslog.siem_tables("")).unwrap();
    gw.restart();

    let out = gw.cli(&["siem", "test"]);
    let said = text(&out);
    assert!(out.status.success(), "{said}");
    assert_eq!(said.matches("  accepted").count(), 4, "{said}");
    assert_eq!(said.matches("nothing refused it").count(), 2, "{said}");
    for (input, _) in INPUTS {
        wait_for(&rsyslog, input, "SIEM_TEST", "");
    }

    // A failed sign-in.
    let failed = gw
        .ssh("alice:web01", "wrong-pw")
        .arg("true")
        .output()
        .unwrap();
    assert!(!failed.status.success());

    // A detected command with every character a field separator could be made of.
    let hostile = "printf '%s\\n' 'a|b=c\\d]e\"f [x] cs3=forged suser=eve' \"|=\\\\\"\necho vigil-siem-marker";
    let out = gw
        .ssh("alice:web01", "alice-pw")
        .arg(hostile)
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", text(&out));
    let detected = gw.last_closed_session();
    let detected_id = detected["session"]["id"].as_str().unwrap().to_owned();
    let login = detected["session"]["login"].as_str().unwrap().to_owned();

    // A prohibited command.
    let out = gw
        .ssh("alice:web01", "alice-pw")
        .arg("touch /tmp/vigil-siem-no")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(126), "{}", text(&out));
    let blocked_id = gw.last_closed_session()["session"]["id"]
        .as_str()
        .unwrap()
        .to_owned();

    // A lock.
    let (mut child, lock_id) = gw.interactive("alice:web01", "alice-pw", "cat");
    gw.ok(&["session", "lock", &lock_id]);
    gw.ok(&["session", "kill", &lock_id]);
    let _ = child.wait();

    for (input, _) in INPUTS {
        let is_cef = input.ends_with("cef");
        let start = wait_for(&rsyslog, input, "SESSION_START", &detected_id);
        let end = wait_for(&rsyslog, input, "SESSION_END", &detected_id);
        let command = wait_for(&rsyslog, input, "COMMAND_DETECTED", &detected_id);
        let blocked = wait_for(&rsyslog, input, "COMMAND_BLOCKED", &blocked_id);
        let lock = wait_for(&rsyslog, input, "SESSION_LOCK", &lock_id);
        let login_failure = wait_for(&rsyslog, input, "LOGIN_FAILURE", "alice:web01");
        if is_cef {
            let (h, e) = cef(&command);
            assert_eq!(
                &h[1..],
                [
                    "Vigil",
                    "Vigil",
                    env!("CARGO_PKG_VERSION"),
                    "2000",
                    "Command detected",
                    "4"
                ],
                "{input}: {command}"
            );
            let want = [
                ("suser", "alice"),
                ("src", "127.0.0.1"),
                ("duser", login.as_str()),
                ("dhost", "web01"),
                ("dpt", &target.port.to_string()),
                ("app", "ssh"),
                ("act", "alert"),
                ("cs1Label", "SessionId"),
                ("cs1", &detected_id),
                ("cs2", "marker"),
                ("cs3Label", "Command"),
                ("cs3", hostile),
                ("cs4", "exec"),
                ("cn1", "30"),
            ];
            for (k, v) in want {
                assert_eq!(
                    e.get(k).map(String::as_str),
                    Some(v),
                    "{input} {k}: {command}"
                );
            }
            assert!(
                e["rt"].parse::<i64>().unwrap() > 1_700_000_000_000,
                "{command}"
            );
            assert!(!e.contains_key("forged"), "{command}");
            let (h, e) = cef(&blocked);
            assert_eq!((h[4].as_str(), h[6].as_str()), ("2001", "7"), "{blocked}");
            assert_eq!(
                (e["act"].as_str(), e["cs2"].as_str(), e["cs3"].as_str()),
                ("prohibit", "no-touch", "touch /tmp/vigil-siem-no")
            );
            let (h, e) = cef(&start);
            assert_eq!(h[4], "1000");
            assert_eq!(
                (
                    e["suser"].as_str(),
                    e["dhost"].as_str(),
                    e["duser"].as_str(),
                    e["cs1"].as_str()
                ),
                ("alice", "web01", login.as_str(), detected_id.as_str())
            );
            let (h, e) = cef(&end);
            assert_eq!(h[4], "1001");
            assert!(
                e["reason"].len() > 3
                    && e["in"].parse::<i64>().unwrap() >= 0
                    && e["out"].parse::<i64>().unwrap() > 0,
                "{end}"
            );
            assert!(
                e["end"].parse::<i64>().unwrap() >= e["start"].parse::<i64>().unwrap(),
                "{end}"
            );
            assert_eq!(e["cn2"], "30", "the session's final risk: {end}");
            let (h, e) = cef(&lock);
            assert_eq!(h[4], "3002");
            assert!(e["suser"].starts_with("cli:"), "who locked: {lock}");
            assert_eq!(e["cs1"], lock_id);
            let (h, e) = cef(&login_failure);
            assert_eq!(h[4], "1100");
            assert_eq!(
                (e["suser"].as_str(), e["src"].as_str()),
                ("alice:web01", "127.0.0.1"),
                "{login_failure}"
            );
        } else {
            let m = rfc5424(&command);
            assert_eq!(m.msgid.as_deref(), Some("COMMAND_DETECTED"));
            assert_eq!(m.appname.as_deref(), Some("vigil"));
            assert_eq!(m.facility, syslog_rfc5424::SyslogFacility::LOG_AUTHPRIV);
            assert!(m.timestamp.unwrap() > 1_700_000_000, "{command}");
            let want = [
                ("user", "alice"),
                ("login", login.as_str()),
                ("target", "web01"),
                ("port", &target.port.to_string()),
                ("proto", "ssh"),
                ("action", "alert"),
                ("sid", &detected_id),
                ("rule", "marker"),
                ("cmd", &shown_in_sd(hostile)),
                ("source", "exec"),
                ("score", "30"),
            ];
            for (k, v) in want {
                assert_eq!(sd(&m, k), Some(v), "{input} {k}: {command}");
            }
            assert!(
                sd(&m, "src").unwrap().starts_with("127.0.0.1:"),
                "{command}"
            );
            assert!(m.sd.find_tuple("meta", "sequenceId").is_some(), "{command}");
            let m = rfc5424(&blocked);
            assert_eq!(
                (sd(&m, "action"), sd(&m, "rule")),
                (Some("prohibit"), Some("no-touch"))
            );
            assert_eq!(m.severity, syslog_rfc5424::SyslogSeverity::SEV_WARNING);
            let m = rfc5424(&start);
            assert_eq!(
                (sd(&m, "user"), sd(&m, "target"), sd(&m, "sid")),
                (Some("alice"), Some("web01"), Some(detected_id.as_str()))
            );
            let m = rfc5424(&end);
            assert!(
                sd(&m, "reason").is_some()
                    && sd(&m, "bytes_in").is_some()
                    && sd(&m, "duration_ms").is_some(),
                "{end}"
            );
            assert_eq!(sd(&m, "risk"), Some("30"), "{end}");
            let m = rfc5424(&lock);
            assert!(sd(&m, "user").unwrap().starts_with("cli:"), "{lock}");
            let m = rfc5424(&login_failure);
            assert_eq!(sd(&m, "user"), Some("alice:web01"), "{login_failure}");
            assert!(sd(&m, "reason").is_some(), "{login_failure}");
        }
    }

    // No secret ever reaches the SIEM.
    let admin = gw.admin_password.clone();
    for (input, _) in INPUTS {
        let all = rsyslog.lines(input).join("\n");
        for secret in [target_password(), "alice-pw", admin.as_str()] {
            assert!(!all.contains(secret), "{input} holds a secret");
        }
    }
}

#[test]
fn a_receiver_that_goes_away_costs_counted_drops_and_hears_again_when_back() {
    let target = Target::start();
    let mut gw = Gateway::start();
    gw.provision(&target, "web01", "alice", "alice-pw");
    let mut rsyslog = Rsyslog::start(gw.dir.path());
    let port = rsyslog.ports[2]; // tcp-rfc5424
    std::fs::write(
        gw.data.join("vigil.toml"),
        format!("[[siem]]\nurl = \"tcp://127.0.0.1:{port}\"\nqueue_size = 3\n"),
    )
    .unwrap();
    gw.restart();
    let out = gw
        .ssh("alice:web01", "alice-pw")
        .arg("true")
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", text(&out));
    let first = gw.last_closed_session()["session"]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    wait_for(&rsyslog, "tcp-rfc5424", "SESSION_END", &first);

    rsyslog.stop();
    // Sessions go on while the receiver is away.
    for _ in 0..3 {
        let out = gw
            .ssh("alice:web01", "alice-pw")
            .arg("echo still-working")
            .output()
            .unwrap();
        assert!(text(&out).contains("still-working"), "{}", text(&out));
    }
    let status = eventually(
        Duration::from_secs(20),
        "drops counted in vigil status",
        || {
            let s = gw.ok(&["status"]);
            let line = s
                .lines()
                .find(|l| l.contains(&format!("tcp://127.0.0.1:{port}")))?
                .to_owned();
            let dropped: u64 = line.split_whitespace().nth(6)?.parse().ok()?;
            (dropped > 0 && line.contains("down")).then_some(line)
        },
    );
    assert!(
        status.contains("refused") || status.contains("closed"),
        "{status}"
    );
    let api_like = gw.ok(&["status"]);
    assert!(api_like.contains("SIEM destinations:"), "{api_like}");

    rsyslog.spawn();
    let report = wait_for(&rsyslog, "tcp-rfc5424", "SIEM_DROPPED", "");
    let m = rfc5424(&report);
    let count: u64 = sd(&m, "count").unwrap().parse().unwrap();
    assert!(count > 0, "{report}");
    assert_eq!(
        sd(&m, "destination"),
        Some(format!("tcp://127.0.0.1:{port}").as_str())
    );
    // What was still queued arrives, and new events flow.
    let out = gw
        .ssh("alice:web01", "alice-pw")
        .arg("true")
        .output()
        .unwrap();
    assert!(out.status.success());
    let last = gw.last_closed_session()["session"]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    wait_for(&rsyslog, "tcp-rfc5424", "SESSION_END", &last);

    // A node that stops sends the end of the sessions it shut down before it exits.
    let (mut child, open) = gw.interactive("alice:web01", "alice-pw", "cat");
    gw.stop();
    let _ = child.wait();
    let end = wait_for(&rsyslog, "tcp-rfc5424", "SESSION_END", &open);
    assert!(end.contains("node_shutdown"), "{end}");
}

#[test]
fn a_bad_destination_stops_the_start_and_says_what_is_allowed() {
    let mut gw = Gateway::start();
    gw.stop();
    std::fs::write(
        gw.data.join("vigil.toml"),
        "[[siem]]\nurl = \"tcp://127.0.0.1:6514\"\nformat = \"leef\"\n",
    )
    .unwrap();
    let out = gw.cli(&["status"]);
    let said = text(&out);
    assert!(!out.status.success(), "{said}");
    assert!(
        said.contains("format of [[siem]] number 1")
            && said.contains("vigil.toml")
            && said.contains("rfc5424 or cef"),
        "{said}"
    );
}

#[test]
fn mutual_tls_needs_the_client_certificate() {
    let mut gw = Gateway::start();
    let rsyslog = Rsyslog::start(gw.dir.path());
    let d = rsyslog.dir.display();
    let port = rsyslog.mtls_port;
    std::fs::write(
        gw.data.join("vigil.toml"),
        format!(
            "[[siem]]\nurl = \"tls://127.0.0.1:{port}\"\nca_file = \"{d}/ca.pem\"\ncert_file = \"{d}/client.pem\"\nkey_file = \"{d}/client.key\"\n\
             [[siem]]\nurl = \"tls://localhost:{port}\"\nca_file = \"{d}/ca.pem\"\n"
        ),
    )
    .unwrap();
    let out = gw.cli(&["siem", "test"]);
    let said = text(&out);
    assert!(!out.status.success(), "{said}");
    let with = said
        .split(&format!("tls://localhost:{port}"))
        .next()
        .unwrap();
    assert!(with.contains("  accepted"), "{said}");
    assert!(
        said.contains("NOT accepted") && said.contains("1 of 2 destination(s)"),
        "{said}"
    );
    // Refused for the missing certificate, not for being unreachable.
    let without = said
        .split(&format!("tls://localhost:{port}"))
        .nth(1)
        .unwrap();
    assert!(
        !without.contains("cannot resolve or reach")
            && (without.contains("closed the connection") || without.contains("TLS")),
        "{said}"
    );
    gw.restart();
    gw.add_user("mtls-probe", "mtls-probe-pw");
    eventually(Duration::from_secs(20), "the event over mutual TLS", || {
        std::fs::read_to_string(rsyslog.dir.join("mtls.log"))
            .ok()
            .filter(|l| l.contains("USER_ADDED") && l.contains("mtls-probe"))
    });
}
