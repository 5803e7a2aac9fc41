use proptest::prelude::*;

use super::*;
use crate::test_event::{command_event, shown};

/// A CEF reader: the seven header fields after `CEF:0`, then the extension's keys and values
/// (a key is a word followed by an unescaped `=` after a space).
fn parse(line: &str) -> (Vec<String>, Vec<(String, String)>) {
    let mut header = Vec::new();
    let mut field = String::new();
    let mut chars = line.chars();
    while header.len() < 7 {
        match chars.next() {
            Some('\\') => {
                if let Some(n) = chars.next() {
                    field.push(n)
                }
            }
            Some('|') => header.push(std::mem::take(&mut field)),
            Some(c) => field.push(c),
            None => break,
        }
    }
    let rest: String = chars.collect();
    // Split on ` key=` where `=` is not escaped.
    let mut ext = Vec::new();
    let bytes: Vec<char> = rest.chars().collect();
    let mut i = 0;
    let mut pending: Option<String> = None;
    let mut value = String::new();
    while i < bytes.len() {
        let c = bytes[i];
        if c == '\\' && i + 1 < bytes.len() {
            value.push(match bytes[i + 1] {
                'n' => '\n',
                'r' => '\r',
                other => other,
            });
            i += 2;
            continue;
        }
        if c == '=' {
            // The key is the last word of what came before.
            let word_start = value.rfind(' ').map_or(0, |p| p + 1);
            let key: String = value[word_start..].to_owned();
            if let Some(k) = pending.take() {
                let v = value[..word_start.saturating_sub(1)].to_owned();
                ext.push((k, v));
            }
            pending = Some(key);
            value.clear();
            i += 1;
            continue;
        }
        value.push(c);
        i += 1;
    }
    if let Some(k) = pending {
        ext.push((k, value));
    }
    (header, ext)
}

fn get<'a>(ext: &'a [(String, String)], key: &str) -> Option<&'a str> {
    ext.iter().find(|(k, _)| k == key).map(|(_, v)| v.as_str())
}

#[test]
fn a_command_event_has_every_field() {
    let line = format(&command_event("rm -rf /"), "0.1.0");
    assert!(
        line.starts_with("CEF:0|Vigil|Vigil|0.1.0|2001|Command blocked|7|rt=1796140800123 "),
        "{line}"
    );
    let (header, ext) = parse(&line);
    assert_eq!(header[5], "Command blocked");
    let want = [
        ("rt", "1796140800123"),
        ("externalId", "4711"),
        ("dvchost", "node-1"),
        ("suser", "alice"),
        ("src", "192.0.2.7"),
        ("duser", "root"),
        ("dhost", "web01"),
        ("act", "prohibit"),
        ("cs1Label", "SessionId"),
        ("cs1", "01a2-session"),
        ("cs2", "no-rm"),
        ("cs3Label", "Command"),
        ("cs3", "rm -rf /"),
        ("cs4", "shell-query"),
        ("cn1", "10"),
        ("cn2Label", "SessionRiskScore"),
        ("cn2", "25"),
        ("msg", "alice's command was refused by rule no-rm"),
    ];
    for (k, v) in want {
        assert_eq!(get(&ext, k), Some(v), "{k} in {line}");
    }
}

#[test]
fn hostile_text_cannot_forge_a_field() {
    let table = [
        "rm x | cat=1 \\ cs2=evil",
        "a\nCEF:0|Evil|Evil|1|1|x|10|act=allow",
        "x\\",
        "trailing=",
        "esc \u{1b}[31m red",
    ];
    for command in table {
        let line = format(&command_event(command), "0.1.0");
        assert!(!line.contains('\n') && !line.contains('\r'), "{line:?}");
        let (header, ext) = parse(&line);
        assert_eq!(header.len(), 7, "{line}");
        assert_eq!(
            get(&ext, "cs3"),
            Some(shown(command, true).as_str()),
            "{line}"
        );
        assert_eq!(get(&ext, "cs2"), Some("no-rm"), "{line}");
        assert_eq!(get(&ext, "act"), Some("prohibit"), "{line}");
    }
}

#[test]
fn header_fields_escape_pipes_and_an_ipv6_client_is_a_host() {
    let mut e = command_event("ls");
    e.name = "a|b\\c".into();
    e.fields = vec![Field::Client("[2001:db8::1]:22".into())];
    let line = format(&e, "1|2");
    assert!(
        line.starts_with("CEF:0|Vigil|Vigil|1\\|2|2001|a\\|b\\\\c|7|"),
        "{line}"
    );
    let (_, ext) = parse(&line);
    assert_eq!(get(&ext, "shost"), Some("2001:db8::1"));
}

proptest! {
    /// Any command: one line, the same keys, and the command as a reader gets it back.
    #[test]
    fn any_command_comes_back_whole(command in "\\PC{0,64}|[a-z|=\\\\ \\n\\r\\]\"]{0,40}") {
        let line = format(&command_event(&command), "0.1.0");
        prop_assert!(!line.contains('\n') && !line.contains('\r'));
        let (header, ext) = parse(&line);
        prop_assert_eq!(header.len(), 7);
        let keys: Vec<&str> = ext.iter().map(|(k, _)| k.as_str()).collect();
        let want_keys = ["rt", "externalId", "dvchost", "suser", "src", "duser", "dhost", "act", "cs1Label", "cs1", "cs2Label", "cs2", "cs3Label", "cs3", "cs4Label", "cs4", "cn1Label", "cn1", "cn2Label", "cn2", "msg"];
        prop_assert_eq!(keys, want_keys.to_vec());
        let shown_command = shown(&command, true);
        prop_assert_eq!(get(&ext, "cs3"), Some(shown_command.as_str()));
    }
}
