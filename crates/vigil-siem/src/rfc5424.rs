//! RFC 5424 syslog: `<PRI>1 TIMESTAMP HOST vigil - MSGID [vigil@PEN ...][meta sequenceId="N"] MSG`.
//!
//! The severity follows the event's (CEF 0-3 info, 4-6 notice, 7-8 warning, 9-10 critical);
//! the facility is configurable (authpriv, 10, by default). Structured-data values escape `"`,
//! `\` and `]` as the RFC requires; other control characters are written as `\xNN` text, so a
//! receiver that frames by line cannot be made to split a message. The MSG is UTF-8 with its
//! BOM. `line::line_within` keeps a message to a size (2,048 bytes for UDP) by cutting the
//! command first and marking it `truncated="1"`.

use std::fmt::Write;

use crate::event::{Event, Field};

/// The facility of security messages: authpriv.
pub const AUTHPRIV: u8 = 10;

/// Where the messages say they come from.
#[derive(Debug, Clone)]
pub struct Origin {
    /// The IANA private enterprise number of the SD-ID (`vigil@PEN`); 32473 is the example
    /// number of RFC 5612.
    pub enterprise: u32,
    pub facility: u8,
}

impl Default for Origin {
    fn default() -> Self {
        Origin {
            enterprise: 32473,
            facility: AUTHPRIV,
        }
    }
}

/// The syslog severity of a CEF severity.
pub fn severity(cef: u8) -> u8 {
    match cef {
        0..=3 => 6,
        4..=6 => 5,
        7..=8 => 4,
        _ => 2,
    }
}

/// The message of `event`.
pub fn format(event: &Event, origin: &Origin) -> String {
    let mut out = header(event, origin);
    let _ = write!(out, " [vigil@{}", origin.enterprise);
    param(&mut out, "kind", &event.kind);
    param(&mut out, "id", &event.id);
    for f in &event.fields {
        match f {
            Field::User(v) => param(&mut out, "user", v),
            Field::Client(v) => param(&mut out, "src", v),
            Field::Login(v) => param(&mut out, "login", v),
            Field::Target(v) => param(&mut out, "target", v),
            Field::Action(v) => param(&mut out, "action", v),
            Field::Session(v) => param(&mut out, "sid", v),
            Field::Rule(v) => param(&mut out, "rule", v),
            Field::Command(v) => param(&mut out, "cmd", v),
            Field::Truncated => param(&mut out, "truncated", "1"),
            Field::Source(v) => param(&mut out, "source", v),
            Field::Risk(n) => param(&mut out, "risk", &n.to_string()),
            Field::Score(n) => param(&mut out, "score", &n.to_string()),
            Field::Reason(v) => param(&mut out, "reason", v),
            Field::Port(n) => param(&mut out, "port", &n.to_string()),
            Field::Protocol(v) => param(&mut out, "proto", v),
            Field::Bytes {
                from_client,
                to_client,
            } => {
                param(&mut out, "bytes_in", &from_client.to_string());
                param(&mut out, "bytes_out", &to_client.to_string());
            }
            Field::Span { start_ms, end_ms } => {
                param(&mut out, "start", &timestamp(*start_ms));
                param(
                    &mut out,
                    "duration_ms",
                    &(end_ms - start_ms).max(0).to_string(),
                );
            }
            Field::Count(n) => param(&mut out, "count", &n.to_string()),
            Field::Destination(v) => param(&mut out, "destination", v),
        }
    }
    out.push(']');
    let _ = write!(out, "[meta sequenceId=\"{}\"]", sd_value(&event.id));
    out.push_str(" \u{feff}");
    for c in event.message.chars() {
        out.push(if c.is_control() { ' ' } else { c });
    }
    out
}

/// `<PRI>1 TIMESTAMP HOST vigil - MSGID`: the header both formats are sent with.
pub fn header(event: &Event, origin: &Origin) -> String {
    let pri = u16::from(origin.facility.min(23)) * 8 + u16::from(severity(event.severity));
    let mut out = String::with_capacity(256);
    let _ = write!(
        out,
        "<{pri}>1 {} {} vigil - {}",
        timestamp(event.at_ms),
        token(&event.node, 255),
        token(&event.msgid, 32),
    );
    out
}

fn param(out: &mut String, name: &str, value: &str) {
    let _ = write!(out, " {name}=\"{}\"", sd_value(value));
}

/// A structured-data value: `"`, `\` and `]` escaped; other controls as `\xNN` text.
fn sd_value(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '"' | '\\' | ']' => {
                out.push('\\');
                out.push(c);
            }
            c if c.is_control() => {
                let _ = write!(out, "\\\\x{:02x}", u32::from(c));
            }
            c => out.push(c),
        }
    }
    out
}

/// A header token: printable ASCII without spaces, at most `max` characters; `-` when none.
fn token(s: &str, max: usize) -> String {
    let t: String = s
        .chars()
        .filter(|c| c.is_ascii_graphic())
        .take(max)
        .collect();
    if t.is_empty() { "-".into() } else { t }
}

/// RFC 3339 UTC with milliseconds, from Unix milliseconds.
pub fn timestamp(ms: i64) -> String {
    let t = vigil_core::Utc::from_millis(ms);
    format!(
        "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}.{:03}Z",
        t.year, t.month, t.day, t.hour, t.minute, t.second, t.millis
    )
}

#[cfg(test)]
mod tests;
