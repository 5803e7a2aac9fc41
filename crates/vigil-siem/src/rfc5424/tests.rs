use proptest::prelude::*;

use super::*;
use crate::test_event::{command_event, shown};

/// An SD element: its SD-ID and its params, unescaped.
type Element = (String, Vec<(String, String)>);

/// A structured-data reader: the elements of `line`, and the MSG after them.
fn parse(line: &str) -> (Vec<Element>, String) {
    // Skip the header: PRI+VERSION, TIMESTAMP, HOSTNAME, APP-NAME, PROCID, MSGID.
    let mut rest = line;
    for _ in 0..6 {
        let (_, r) = rest.split_once(' ').unwrap();
        rest = r;
    }
    let mut elements = Vec::new();
    let mut chars = rest.chars().peekable();
    while chars.peek() == Some(&'[') {
        chars.next();
        let mut id = String::new();
        while let Some(c) = chars.next_if(|c| *c != ' ' && *c != ']') {
            id.push(c);
        }
        let mut params = Vec::new();
        loop {
            match chars.next() {
                Some(']') => break,
                Some(' ') => {
                    let mut name = String::new();
                    while let Some(c) = chars.next_if(|c| *c != '=') {
                        name.push(c);
                    }
                    chars.next(); // =
                    assert_eq!(chars.next(), Some('"'), "{line}");
                    let mut value = String::new();
                    loop {
                        match chars.next() {
                            Some('\\') => value.push(chars.next().unwrap()),
                            Some('"') => break,
                            Some(c) => value.push(c),
                            None => panic!("unterminated value in {line}"),
                        }
                    }
                    params.push((name, value));
                }
                other => panic!("{other:?} in {line}"),
            }
        }
        elements.push((id, params));
    }
    let msg: String = chars.collect();
    (elements, msg)
}

#[test]
fn a_command_event_as_rfc5424() {
    let line = format(&command_event("rm -rf /"), &Origin::default());
    // authpriv (10) * 8 + warning (4): CEF severity 7.
    assert!(
        line.starts_with("<84>1 2026-12-01T16:00:00.123Z node-1 vigil - COMMAND_BLOCKED [vigil@32473 kind=\"command_detected\" id=\"4711\" user=\"alice\""),
        "{line}"
    );
    let (sd, msg) = parse(&line);
    assert_eq!(sd.len(), 2);
    assert_eq!(
        sd[1],
        ("meta".into(), vec![("sequenceId".into(), "4711".into())])
    );
    let get = |k: &str| sd[0].1.iter().find(|(n, _)| n == k).map(|(_, v)| v.clone());
    assert_eq!(get("cmd").as_deref(), Some("rm -rf /"));
    assert_eq!(get("risk").as_deref(), Some("25"));
    assert_eq!(get("src").as_deref(), Some("192.0.2.7:50222"));
    assert_eq!(msg, " \u{feff}alice's command was refused by rule no-rm");
}

#[test]
fn timestamps_are_utc_with_milliseconds() {
    let table = [
        (0, "1970-01-01T00:00:00.000Z"),
        (951_782_400_000, "2000-02-29T00:00:00.000Z"),
        (1_796_140_800_123, "2026-12-01T16:00:00.123Z"),
        (-1, "1969-12-31T23:59:59.999Z"),
    ];
    for (ms, want) in table {
        assert_eq!(timestamp(ms), want);
    }
}

#[test]
fn a_long_command_is_cut_first_to_fit_a_datagram() {
    let long = "x".repeat(5000);
    let line = crate::line_within(
        &command_event(&long),
        crate::Format::Rfc5424,
        &Origin::default(),
        "0.1.0",
        2048,
    );
    assert!(line.len() <= 2048, "{}", line.len());
    let (sd, msg) = parse(&line);
    let get = |k: &str| sd[0].1.iter().find(|(n, _)| n == k).map(|(_, v)| v.clone());
    assert_eq!(get("truncated").as_deref(), Some("1"));
    assert!(
        get("cmd").unwrap().len() > 1000,
        "as much of the command as fits"
    );
    assert!(msg.ends_with("rule no-rm"), "the message is whole: {msg}");
    let short = format(&command_event("ls"), &Origin::default());
    assert!(!short.contains("truncated"));
}

proptest! {
    /// Any command: one line, two SD elements, and the command as a reader gets it back.
    #[test]
    fn any_command_comes_back_whole(command in "\\PC{0,64}|[a-z\\]\"\\\\ \\n\\r\\[=]{0,40}") {
        let line = format(&command_event(&command), &Origin::default());
        prop_assert!(!line.contains('\n') && !line.contains('\r'));
        let (sd, _) = parse(&line);
        prop_assert_eq!(sd.len(), 2);
        let cmd = sd[0].1.iter().find(|(n, _)| n == "cmd").map(|(_, v)| v.clone());
        prop_assert_eq!(cmd, Some(shown(&command, false)));
    }
}
