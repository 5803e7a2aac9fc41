//! An event for the formatters' tests.

use crate::{Event, Field};

pub(crate) fn command_event(command: &str) -> Event {
    Event {
        kind: "command_detected".into(),
        signature: 2001,
        msgid: "COMMAND_BLOCKED".into(),
        name: "Command blocked".into(),
        severity: 7,
        at_ms: 1_796_140_800_123,
        id: "4711".into(),
        node: "node-1".into(),
        fields: vec![
            Field::User("alice".into()),
            Field::Client("192.0.2.7:50222".into()),
            Field::Login("root".into()),
            Field::Target("web01".into()),
            Field::Action("prohibit".into()),
            Field::Session("01a2-session".into()),
            Field::Rule("no-rm".into()),
            Field::Command(command.into()),
            Field::Source("shell-query".into()),
            Field::Score(10),
            Field::Risk(25),
        ],
        message: "alice's command was refused by rule no-rm".into(),
    }
}

/// What a value becomes once unescaped by a reader: control characters other than CR and LF
/// (which CEF escapes) as `\xNN` text.
pub(crate) fn shown(s: &str, keep_crlf: bool) -> String {
    s.chars()
        .map(|c| match c {
            '\r' | '\n' if keep_crlf => c.to_string(),
            c if c.is_control() => format!("\\x{:02x}", u32::from(c)),
            c => c.to_string(),
        })
        .collect()
}
