//! The SIEM forwarder (issue 11): every piece of evidence, as it is committed, to each
//! configured syslog receiver (RFC 5424 or CEF, over UDP, TCP with octet counting, or TLS).
//!
//! Architecture invariant: sending never makes a session, the recorder or the relay wait.
//! The forwarder reads the evidence outbox on its own task (it is not on any session's path)
//! and each destination has a bounded queue that drops its oldest event when full, counts
//! it, and reports the count to the receiver when it takes messages again.
#![forbid(unsafe_code)]

mod connection;
mod destination;
mod error;
mod forwarder;
mod outlet;
mod probe;
mod queue;
mod tls;

pub use connection::SendError;
pub use destination::{Destination, DestinationSpec, Transport};
pub use error::DestinationError;
pub use forwarder::{CONSUMER, Forwarder};
pub use probe::{Accepted, send_test};
pub use vigil_siem::rfc5424::Origin;
#[cfg(test)]
mod tests;
