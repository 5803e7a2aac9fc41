//! One event as the bytes of one syslog message, in a destination's format, within a size.
//!
//! Both formats travel as RFC 5424 syslog messages: `rfc5424` carries the event in structured
//! data with a sentence as MSG; `cef` has no structured data and the CEF line as MSG (what
//! ArcSight, QRadar and Sentinel's CEF connectors read after a syslog header). A message
//! larger than the limit (2,048 bytes over UDP, RFC 5426) has its command cut first, marked as
//! cut; only if it is still too large is the message itself cut.

use crate::event::Event;
use crate::rfc5424::{self, Origin};

/// How a destination wants its events written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Rfc5424,
    Cef,
}

impl Format {
    pub fn parse(s: &str) -> Option<Format> {
        match s {
            "rfc5424" => Some(Format::Rfc5424),
            "cef" => Some(Format::Cef),
            _ => None,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Format::Rfc5424 => "rfc5424",
            Format::Cef => "cef",
        }
    }
}

/// The message of `event`; `version` is Vigil's (the CEF header names it).
pub fn line(event: &Event, format: Format, origin: &Origin, version: &str) -> String {
    match format {
        Format::Rfc5424 => rfc5424::format(event, origin),
        Format::Cef => {
            let mut out = rfc5424::header(event, origin);
            out.push_str(" - ");
            out.push_str(&crate::cef::format(event, version));
            out
        }
    }
}

/// The message of `event` in at most `max` bytes.
pub fn line_within(
    event: &Event,
    format: Format,
    origin: &Origin,
    version: &str,
    max: usize,
) -> String {
    let mut out = line(event, format, origin, version);
    let mut keep = event.command_chars();
    while out.len() > max && keep > 0 {
        keep = keep.saturating_sub((out.len() - max).max(1));
        out = line(&event.with_command_cut(keep), format, origin, version);
    }
    if out.len() > max {
        let mut end = max;
        while !out.is_char_boundary(end) {
            end -= 1;
        }
        out.truncate(end);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_event::command_event;

    #[test]
    fn a_long_command_is_cut_first_and_marked_in_both_formats() {
        let long = "x".repeat(10_000);
        for format in [Format::Rfc5424, Format::Cef] {
            let event = command_event(&long);
            let out = line_within(&event, format, &Origin::default(), "0.1.0", 2048);
            assert!(out.len() <= 2048, "{format:?}: {}", out.len());
            assert!(out.len() > 1900, "{format:?}: cut too much: {}", out.len());
            match format {
                Format::Rfc5424 => assert!(out.contains("truncated=\"1\""), "{out}"),
                Format::Cef => assert!(out.contains("flexString1=cs3"), "{out}"),
            }
            // Everything after the command is still there.
            assert!(out.contains("no-rm"), "{out}");
            let short = line_within(
                &command_event("ls"),
                format,
                &Origin::default(),
                "0.1.0",
                2048,
            );
            assert_eq!(
                short,
                line(&command_event("ls"), format, &Origin::default(), "0.1.0")
            );
        }
    }

    #[test]
    fn cef_travels_after_a_syslog_header() {
        let out = line(
            &command_event("ls"),
            Format::Cef,
            &Origin::default(),
            "0.1.0",
        );
        assert!(
            out.starts_with("<84>1 2026-12-01T16:00:00.123Z node-1 vigil - COMMAND_BLOCKED - CEF:0|Vigil|Vigil|0.1.0|2001|"),
            "{out}"
        );
        assert_eq!(Format::parse("cef"), Some(Format::Cef));
        assert_eq!(Format::parse("CEF"), None);
    }
}
