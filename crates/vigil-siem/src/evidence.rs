//! From a row of evidence (the outbox every consumer reads) to a SIEM [`Event`].
//!
//! Session events name their session but not always who ran it: the forwarder passes what it
//! knows of the session ([`SessionFacts`], read from the store once per session) and each
//! event carries who, from where and to what.

use serde_json::Value;
use vigil_core::EventKind;

use crate::class::class_of;
use crate::event::{Event, Field};

/// One row of evidence, as the outbox has it.
#[derive(Debug, Clone, Copy)]
pub struct Evidence<'a> {
    pub seq: i64,
    /// Unix milliseconds when it was written.
    pub at: i64,
    /// The node (or `cli`) that wrote it.
    pub origin: &'a str,
    pub kind: &'a str,
    pub session_id: Option<&'a str>,
    pub actor: Option<&'a str>,
    pub subject: &'a str,
    /// The detail, a JSON object.
    pub detail: &'a str,
}

/// Who ran a session, from where, to what.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SessionFacts {
    pub user: String,
    pub client: String,
    pub target: Option<String>,
    pub login: Option<String>,
    /// The target's port, when the session reached one.
    pub port: Option<u16>,
    /// ssh, sftp, scp...
    pub protocol: String,
    /// Unix ms.
    pub started_at: i64,
    /// The session's risk score when the facts were read.
    pub risk: i64,
}

/// The SIEM event of a row; `None` for kinds that are not sent (see `class_of`) and for a
/// kind this version does not know.
pub fn event_of(row: &Evidence<'_>, session: Option<&SessionFacts>) -> Option<Event> {
    let kind = EventKind::parse(row.kind)?;
    let detail: Value = serde_json::from_str(row.detail).unwrap_or(Value::Null);
    let text = |k: &str| detail.get(k).and_then(Value::as_str).map(str::to_owned);
    let number = |k: &str| detail.get(k).and_then(Value::as_i64);
    let action = text("action").unwrap_or_default();
    let score = number("score").unwrap_or(0);
    let class = class_of(kind, &action, score)?;
    let mut fields = Vec::new();
    match (row.actor, session) {
        (Some(actor), _) => fields.push(Field::User(actor.to_owned())),
        (None, Some(s)) => fields.push(Field::User(s.user.clone())),
        (None, None) => {}
    }
    if let Some(client) = text("client")
        .or_else(|| text("addr"))
        .or_else(|| session.map(|s| s.client.clone()))
    {
        fields.push(Field::Client(client));
    }
    if let Some(login) = text("login").or_else(|| session.and_then(|s| s.login.clone())) {
        fields.push(Field::Login(login));
    }
    if let Some(target) = text("target").or_else(|| session.and_then(|s| s.target.clone())) {
        fields.push(Field::Target(target));
    }
    if let Some(port) = detail
        .get("port")
        .and_then(Value::as_u64)
        .and_then(|p| u16::try_from(p).ok())
        .or_else(|| session.and_then(|s| s.port))
    {
        fields.push(Field::Port(port));
    }
    if let Some(s) = session.filter(|s| !s.protocol.is_empty()) {
        fields.push(Field::Protocol(s.protocol.clone()));
    }
    if !action.is_empty() {
        fields.push(Field::Action(action.clone()));
    }
    if let Some(sid) = row.session_id {
        fields.push(Field::Session(sid.to_owned()));
    }
    if let Some(rule) = detail
        .get("rules")
        .and_then(Value::as_array)
        .and_then(|r| r.first())
        .and_then(|r| r.get("rule"))
        .and_then(Value::as_str)
    {
        fields.push(Field::Rule(rule.to_owned()));
    }
    if let Some(command) = text("command") {
        fields.push(Field::Command(command));
    }
    if let Some(source) = text("source") {
        fields.push(Field::Source(source));
    }
    if kind == EventKind::CommandDetected {
        fields.push(Field::Score(score));
    }
    if kind == EventKind::Ended {
        if let (Some(from_client), Some(to_client)) = (number("bytes_in"), number("bytes_out")) {
            fields.push(Field::Bytes {
                from_client,
                to_client,
            });
        }
        if let Some(s) = session {
            fields.push(Field::Span {
                start_ms: s.started_at,
                end_ms: row.at,
            });
        }
    }
    let risk = number("risk").or_else(|| {
        // The session's risk at its end is its final one.
        session.filter(|_| kind == EventKind::Ended).map(|s| s.risk)
    });
    if let Some(risk) = risk {
        fields.push(Field::Risk(risk));
    }
    if let Some(reason) = text("reason") {
        fields.push(Field::Reason(reason));
    }
    let who = row
        .actor
        .map(str::to_owned)
        .or_else(|| session.map(|s| s.user.clone()))
        .unwrap_or_else(|| "someone".into());
    let message = match text("command") {
        Some(command) => format!("{}: {who} ran {command}", class.name),
        None => format!("{}: {} ({who})", class.name, row.subject),
    };
    Some(Event {
        kind: row.kind.to_owned(),
        signature: class.signature,
        msgid: class.msgid.to_owned(),
        name: class.name.to_owned(),
        severity: class.severity,
        at_ms: row.at,
        id: row.seq.to_string(),
        node: row.origin.to_owned(),
        fields,
        message,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row<'a>(kind: &'a str, actor: Option<&'a str>, detail: &'a str) -> Evidence<'a> {
        Evidence {
            seq: 42,
            at: 1_796_140_800_123,
            origin: "node-1",
            kind,
            session_id: Some("s-1"),
            actor,
            subject: "s-1",
            detail,
        }
    }

    fn facts() -> SessionFacts {
        SessionFacts {
            user: "alice".into(),
            client: "192.0.2.7:50222".into(),
            target: Some("web01".into()),
            login: Some("root".into()),
            port: Some(22),
            protocol: "ssh".into(),
            started_at: 1_796_140_000_000,
            risk: 25,
        }
    }

    #[test]
    fn a_refused_command_carries_who_where_what_and_why() {
        let detail = r#"{"command":"rm -rf /","source":"shell-query","rules":[{"command":"rm -rf /","rule":"no-rm","score":10,"action":"prohibit"}],"score":10,"risk":25,"action":"prohibit"}"#;
        let e = event_of(&row("command_detected", None, detail), Some(&facts())).unwrap();
        assert_eq!(
            (e.signature, e.msgid.as_str(), e.severity),
            (2001, "COMMAND_BLOCKED", 7)
        );
        assert_eq!(
            (e.at_ms, e.id.as_str(), e.node.as_str()),
            (1_796_140_800_123, "42", "node-1")
        );
        assert_eq!(
            e.fields,
            vec![
                Field::User("alice".into()),
                Field::Client("192.0.2.7:50222".into()),
                Field::Login("root".into()),
                Field::Target("web01".into()),
                Field::Port(22),
                Field::Protocol("ssh".into()),
                Field::Action("prohibit".into()),
                Field::Session("s-1".into()),
                Field::Rule("no-rm".into()),
                Field::Command("rm -rf /".into()),
                Field::Source("shell-query".into()),
                Field::Score(10),
                Field::Risk(25),
            ]
        );
        assert_eq!(e.message, "Command blocked: alice ran rm -rf /");
    }

    #[test]
    fn an_administrator_action_names_its_actor_and_copies_are_not_sent() {
        let e = event_of(
            &row(
                "session_locked",
                Some("carol"),
                r#"{"user":"alice","via":"api","addr":"10.0.0.9"}"#,
            ),
            None,
        )
        .unwrap();
        assert_eq!(e.msgid, "SESSION_LOCK");
        assert_eq!(e.fields[0], Field::User("carol".into()));
        assert_eq!(e.fields[1], Field::Client("10.0.0.9".into()));
        assert!(event_of(&row("locked", None, "{}"), Some(&facts())).is_none());
        assert!(event_of(&row("no_such_kind", None, "{}"), None).is_none());
        let ended = event_of(
            &row(
                "ended",
                None,
                r#"{"reason":"closed by client","bytes_in":10,"bytes_out":2000}"#,
            ),
            Some(&facts()),
        )
        .unwrap();
        for want in [
            Field::Bytes {
                from_client: 10,
                to_client: 2000,
            },
            Field::Span {
                start_ms: 1_796_140_000_000,
                end_ms: 1_796_140_800_123,
            },
            Field::Risk(25),
            Field::Reason("closed by client".into()),
        ] {
            assert!(
                ended.fields.contains(&want),
                "{want:?} in {:?}",
                ended.fields
            );
        }
        // A detail that is not JSON still gives the event, without its keys.
        assert!(event_of(&row("ended", None, "not json"), Some(&facts())).is_some());
    }
}
