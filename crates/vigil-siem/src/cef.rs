//! ArcSight CEF (version 0): `CEF:0|Vigil|Vigil|VERSION|SIG|NAME|SEV|key=value ...`.
//!
//! Escaping as CEF requires: in the header `\` and `|`; in extension values `\` and `=`, and
//! CR/LF as `\r`/`\n`. Other control bytes are written as `\xNN` text (CEF has no escape for
//! them and a SIEM's parser may stop at one). Values are cut to the dictionary's lengths
//! (`cs*` 4000, `msg` 1023, `act` 63) on a character boundary.

use std::fmt::Write;

use crate::event::{Event, Field};

/// The CEF line of `event` (without any syslog header).
pub fn format(event: &Event, version: &str) -> String {
    let mut out = String::with_capacity(256);
    let _ = write!(
        out,
        "CEF:0|Vigil|Vigil|{}|{}|{}|{}|",
        header(version),
        event.signature,
        header(&event.name),
        event.severity.min(10)
    );
    let mut ext: Vec<(&str, String)> = vec![
        ("rt", event.at_ms.to_string()),
        ("externalId", cut(&event.id, 40)),
        ("dvchost", event.node.clone()),
    ];
    for f in &event.fields {
        match f {
            Field::User(v) => ext.push(("suser", cut(v, 1023))),
            Field::Client(v) => {
                let host = v.rsplit_once(':').map_or(v.as_str(), |(h, _)| h);
                let key = if host.parse::<std::net::Ipv4Addr>().is_ok() {
                    "src"
                } else {
                    "shost"
                };
                ext.push((key, host.trim_matches(['[', ']']).to_owned()));
            }
            Field::Login(v) => ext.push(("duser", cut(v, 1023))),
            Field::Target(v) => ext.push(("dhost", cut(v, 1023))),
            Field::Action(v) => ext.push(("act", cut(v, 63))),
            Field::Session(v) => {
                ext.push(("cs1Label", "SessionId".into()));
                ext.push(("cs1", cut(v, 4000)));
            }
            Field::Rule(v) => {
                ext.push(("cs2Label", "Rule".into()));
                ext.push(("cs2", cut(v, 4000)));
            }
            Field::Command(v) => {
                ext.push(("cs3Label", "Command".into()));
                ext.push(("cs3", cut(v, 4000)));
            }
            Field::Truncated => {
                ext.push(("flexString1Label", "Truncated".into()));
                ext.push(("flexString1", "cs3".into()));
            }
            Field::Source(v) => {
                ext.push(("cs4Label", "DetectionSource".into()));
                ext.push(("cs4", cut(v, 4000)));
            }
            Field::Score(n) => {
                ext.push(("cn1Label", "RuleScore".into()));
                ext.push(("cn1", n.to_string()));
            }
            Field::Risk(n) => {
                ext.push(("cn2Label", "SessionRiskScore".into()));
                ext.push(("cn2", n.to_string()));
            }
            Field::Reason(v) => ext.push(("reason", cut(v, 1023))),
            Field::Port(n) => ext.push(("dpt", n.to_string())),
            Field::Protocol(v) => ext.push(("app", cut(v, 31))),
            Field::Bytes {
                from_client,
                to_client,
            } => {
                ext.push(("in", from_client.to_string()));
                ext.push(("out", to_client.to_string()));
            }
            Field::Span { start_ms, end_ms } => {
                ext.push(("start", start_ms.to_string()));
                ext.push(("end", end_ms.to_string()));
            }
            Field::Count(n) => ext.push(("cnt", n.to_string())),
            Field::Destination(v) => {
                ext.push(("cs6Label", "Destination".into()));
                ext.push(("cs6", cut(v, 4000)));
            }
        }
    }
    ext.push(("msg", cut(&event.message, 1023)));
    for (i, (key, value)) in ext.iter().enumerate() {
        if i > 0 {
            out.push(' ');
        }
        out.push_str(key);
        out.push('=');
        out.push_str(&value_escaped(value));
    }
    out
}

/// A header field: `\` and `|` escaped, line breaks and other controls as text.
fn header(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '|' => out.push_str("\\|"),
            c if c.is_control() => {
                let _ = write!(out, "\\\\x{:02x}", u32::from(c));
            }
            c => out.push(c),
        }
    }
    out
}

/// An extension value: `\`, `=`, CR and LF escaped; other controls as `\xNN` text.
fn value_escaped(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '=' => out.push_str("\\="),
            '\r' => out.push_str("\\r"),
            '\n' => out.push_str("\\n"),
            c if c.is_control() => {
                let _ = write!(out, "\\\\x{:02x}", u32::from(c));
            }
            c => out.push(c),
        }
    }
    out
}

/// At most `max` characters.
pub(crate) fn cut(s: &str, max: usize) -> String {
    s.chars().take(max).collect()
}

#[cfg(test)]
mod tests;
