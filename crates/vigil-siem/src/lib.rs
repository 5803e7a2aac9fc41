//! SIEM messages (issue 11): what Vigil tells a security team's SIEM, as lines in RFC 5424
//! syslog (with structured data) and ArcSight CEF.
//!
//! This first part is the I/O-free formatter: an [`Event`] (what happened, who, from where, to
//! what, when it happened) becomes one line in either format, every value escaped so that a
//! command line with any bytes in it cannot forge a field or a message. Transports (UDP, TCP
//! with octet counting, TLS), queues and the evidence consumer that feeds them come next.
//!
//! Architecture invariant: no I/O and no dependency on the store, the session or a protocol.
#![forbid(unsafe_code)]

pub mod cef;
mod class;
mod event;
mod evidence;
pub mod rfc5424;
#[cfg(test)]
mod test_event;

pub use class::{Class, class_of, classes_markdown};
pub use event::{Event, Field};
pub use evidence::{Evidence, SessionFacts, event_of};
