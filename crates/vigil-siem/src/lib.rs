//! SIEM messages (issue 11): what Vigil tells a security team's SIEM, as lines in RFC 5424
//! syslog (with structured data) and ArcSight CEF.
//!
//! The I/O-free half of the forwarder: a row of evidence becomes an [`Event`] (what happened,
//! who, from where, to what, when it happened), and an event becomes one message in either
//! format, every value escaped so that a command line with any bytes in it cannot forge a
//! field or a message. Transports, queues and the consumer that feeds them are in
//! `vigil-forward`.
//!
//! Architecture invariant: no I/O and no dependency on the store, the session or a protocol.
#![forbid(unsafe_code)]

pub mod cef;
mod class;
mod event;
mod evidence;
mod line;
mod own;
pub mod rfc5424;
#[cfg(test)]
mod test_event;

pub use class::{Class, class_of, classes_markdown};
pub use event::{Event, Field};
pub use evidence::{Evidence, SessionFacts, event_of};
pub use line::{Format, line, line_within};
pub use own::{dropped_event, test_event};
