//! `vigil siem test`: one test event to one destination, and what became of it.

use std::time::Duration;

use crate::connection::{Connection, SendError};
use crate::destination::{Destination, Transport};

/// What the destination did with the test event.
#[derive(Debug)]
pub enum Accepted {
    /// A TCP or TLS receiver took the message and the connection closed cleanly.
    Stream,
    /// The datagram left and nothing refused it within a moment (UDP acknowledges nothing).
    Datagram,
}

/// Sends the test event to `dest`.
pub async fn send_test(dest: &Destination, node: &str) -> Result<Accepted, SendError> {
    let event = vigil_siem::test_event(&dest.url, node, vigil_core::now_millis());
    let message = dest.message(&event);
    let mut conn = Connection::open(dest).await?;
    conn.send(&message).await?;
    match (&dest.transport, conn) {
        (Transport::Udp, Connection::Udp(socket)) => {
            // A closed port answers with ICMP, which the next receive reports as refused.
            let mut buf = [0u8; 1];
            match tokio::time::timeout(Duration::from_millis(500), socket.recv(&mut buf)).await {
                Ok(Err(e)) => Err(SendError::Io(e)),
                _ => Ok(Accepted::Datagram),
            }
        }
        (_, mut conn) => {
            // The receiver closing at once (a TLS policy refusing the client) shows here.
            tokio::time::sleep(Duration::from_millis(200)).await;
            if conn.closed_by_peer() {
                return Err(SendError::Closed);
            }
            conn.close().await;
            Ok(Accepted::Stream)
        }
    }
}
