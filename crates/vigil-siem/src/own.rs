//! Events the forwarder writes about itself: events it had to drop, and the test event of
//! `vigil siem test`. They have no row of evidence; their ids say so (`dropped-…`, `test-…`).

use crate::event::{Event, Field};

/// `count` events meant for `destination` were dropped while it was slow or down.
pub fn dropped_event(count: u64, destination: &str, node: &str, at_ms: i64) -> Event {
    Event {
        kind: "siem_dropped".into(),
        signature: 9000,
        msgid: "SIEM_DROPPED".into(),
        name: "SIEM events dropped".into(),
        severity: 6,
        at_ms,
        id: format!("dropped-{at_ms}"),
        node: node.to_owned(),
        fields: vec![
            Field::Count(count),
            Field::Destination(destination.to_owned()),
        ],
        message: format!(
            "{count} event(s) for {destination} were dropped while it was slow or unreachable"
        ),
    }
}

/// The event `vigil siem test` sends.
pub fn test_event(destination: &str, node: &str, at_ms: i64) -> Event {
    Event {
        kind: "siem_test".into(),
        signature: 9001,
        msgid: "SIEM_TEST".into(),
        name: "SIEM test".into(),
        severity: 1,
        at_ms,
        id: format!("test-{at_ms}"),
        node: node.to_owned(),
        fields: vec![Field::Destination(destination.to_owned())],
        message: format!("test event from Vigil node {node} to {destination}"),
    }
}
