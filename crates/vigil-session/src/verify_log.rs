//! Is this session's log complete and unaltered? (issue 15) The session's evidence rows are
//! walked in order, each row's chain value recomputed from the one before
//! (`vigil_store::log_chain`), and the newest seal's signature checked against the nodes'
//! keys. Judged like a recording:
//! - every value recomputes and a valid seal covers the head the store has: **intact**
//!   (rows written after the seal, such as a review or a purge's note, are chained but not
//!   signed, which the summary says);
//! - no seal while the session runs, or after a crash: **interrupted** (chained, unsigned);
//! - a value that does not recompute, a row without one after chained rows, a seal whose row
//!   is gone or whose head differs, a bad or unknown signature, or no seal although the
//!   session closed normally on a node that signs: **altered**, naming the first such row;
//! - no chained row at all: **unverifiable** (written before the log was chained).
//!
//! What it is not: proof against someone with a node's key, who can rewrite and re-sign the
//! whole log.

use vigil_core::Utc;
use vigil_record::chain::{KeyCheck, LinkKeys};
use vigil_store::ChainedRow;
use vigil_store::SessionRow;
use vigil_store::log_chain::{GENESIS, LogSeal, from_hex, link};

use crate::signing::check_text;
use crate::verdict::Verdict;

#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct LogVerification {
    pub verdict: Verdict,
    /// In words.
    pub summary: String,
    /// Chained rows found.
    pub events: u64,
    /// Rows the newest valid seal covers.
    pub sealed_events: u64,
}

fn when(ms: i64) -> String {
    let t = Utc::from_millis(ms);
    format!(
        "{:04}-{:02}-{:02} {:02}:{:02}:{:02} UTC",
        t.year, t.month, t.day, t.hour, t.minute, t.second
    )
}

fn verdict(verdict: Verdict, summary: String, events: u64, sealed_events: u64) -> LogVerification {
    LogVerification {
        verdict,
        summary,
        events,
        sealed_events,
    }
}

/// Judges session `session`'s log: its rows in order, its seals, the nodes' keys, and
/// whether the node that recorded it signs (its recording is chained), which makes a missing
/// seal on a normally closed session an alteration rather than an old node's log.
pub fn judge_log(
    session: &SessionRow,
    rows: &[ChainedRow],
    seals: &[LogSeal],
    keys: &dyn LinkKeys,
    node_signs: bool,
) -> LogVerification {
    let legacy = rows.iter().take_while(|r| r.chain.is_none()).count();
    let chained = &rows[legacy..];
    if chained.is_empty() {
        return verdict(
            Verdict::Unverifiable,
            "unverifiable: the session log was written before it was chained".into(),
            0,
            0,
        );
    }
    // Recompute every value; the first that differs is where the log was changed.
    let mut prev = GENESIS;
    for r in chained {
        let stored = r.chain.as_deref().and_then(from_hex);
        let expected = r.row.chain_fields().map(|f| link(&prev, &f));
        if stored.is_none() || stored != expected {
            return verdict(
                Verdict::Altered,
                format!(
                    "altered: the session log's chain breaks at event {} ({}, {}): that event was changed, or one before it was removed, inserted or moved",
                    r.row.seq,
                    r.row.kind,
                    when(r.row.at)
                ),
                chained.len() as u64,
                0,
            );
        }
        prev = expected.unwrap_or(GENESIS);
    }
    let events = chained.len() as u64;
    let before = if legacy > 0 {
        format!(" ({legacy} earlier events predate the chain and are not covered)")
    } else {
        String::new()
    };
    // The newest seal decides; any seal that does not verify is itself an alteration.
    let mut newest: Option<&LogSeal> = None;
    for s in seals {
        let check = check_text(keys, &s.signer, &s.message(), &s.signature);
        match check {
            Some(KeyCheck::Valid) => {
                if newest.is_none_or(|n| n.seq < s.seq) {
                    newest = Some(s);
                }
            }
            Some(KeyCheck::Invalid) | None => {
                return verdict(
                    Verdict::Altered,
                    format!(
                        "altered: the session log's seal up to event {} does not match its signature",
                        s.seq
                    ),
                    events,
                    0,
                );
            }
            Some(KeyCheck::Unknown) => {
                return verdict(
                    Verdict::Altered,
                    format!(
                        "altered: the session log's seal up to event {} is signed by a key no node of this store registered",
                        s.seq
                    ),
                    events,
                    0,
                );
            }
        }
    }
    let Some(seal) = newest else {
        return unsealed(session, events, node_signs, &before);
    };
    let Some(at) = chained.iter().position(|r| r.row.seq == seal.seq) else {
        return verdict(
            Verdict::Altered,
            format!(
                "altered: the session log was cut: its seal covers {} events up to event {}, which is gone",
                seal.events, seal.seq
            ),
            events,
            0,
        );
    };
    if chained[at].chain.as_deref() != Some(seal.chain.as_str()) || seal.events != (at as i64) + 1 {
        return verdict(
            Verdict::Altered,
            format!(
                "altered: the session log up to event {} is not what its seal signed ({} events signed, {} found)",
                seal.seq,
                seal.events,
                at + 1
            ),
            events,
            0,
        );
    }
    let later = chained.len() - at - 1;
    let after = if later > 0 {
        format!("; {later} later events are chained after it, not signed")
    } else {
        String::new()
    };
    verdict(
        Verdict::Intact,
        format!(
            "intact: {} events, sealed {}{after}{before}",
            at + 1,
            when(seal.at)
        ),
        events,
        (at as u64) + 1,
    )
}

fn unsealed(session: &SessionRow, events: u64, node_signs: bool, before: &str) -> LogVerification {
    let reason = session.end_reason.as_deref().unwrap_or("");
    if session.ended_at.is_none() {
        return verdict(
            Verdict::Interrupted,
            format!(
                "intact so far: {events} events chained; the log is sealed when the session ends{before}"
            ),
            events,
            0,
        );
    }
    if reason == "interrupted" || reason == "node_shutdown" || reason.starts_with("error(") {
        return verdict(
            Verdict::Interrupted,
            format!("intact up to its interruption: {events} events chained, not sealed{before}"),
            events,
            0,
        );
    }
    if node_signs {
        return verdict(
            Verdict::Altered,
            "altered: the session closed normally on a node that seals its logs, and the seal is missing".into(),
            events,
            0,
        );
    }
    verdict(
        Verdict::Unverifiable,
        format!(
            "unverifiable: {events} events chained, but never sealed (the node had no recording key){before}"
        ),
        events,
        0,
    )
}

#[cfg(test)]
mod tests {
    use base64::Engine;
    use vigil_store::EvidenceRow;
    use vigil_store::log_chain::to_hex;
    use vigil_vault::Ed25519Key;

    use super::*;

    /// Exactly these keys, as the store's would be.
    struct Keys(Vec<vigil_vault::Ed25519PublicKey>);

    impl LinkKeys for Keys {
        fn check(&self, signer: &[u8; 32], message: &[u8], signature: &[u8; 64]) -> KeyCheck {
            match self.0.iter().find(|k| k.to_bytes() == *signer) {
                None => KeyCheck::Unknown,
                Some(k) if k.verify_bytes(message, signature).is_ok() => KeyCheck::Valid,
                Some(_) => KeyCheck::Invalid,
            }
        }
    }

    fn session(ended: Option<&str>) -> SessionRow {
        SessionRow {
            id: "s1".into(),
            user_name: "alice".into(),
            target_name: Some("web01".into()),
            login: Some("root".into()),
            client_addr: "127.0.0.1:5000".into(),
            node: "n1".into(),
            protocol: "ssh".into(),
            status: if ended.is_some() { "closed" } else { "active" }.into(),
            started_at: 1_000,
            ended_at: ended.map(|_| 9_000),
            end_reason: ended.map(str::to_owned),
            bytes_in: 0,
            bytes_out: 0,
            recording_key: None,
            risk: 0,
            prevent_purge_at: None,
            purged_at: None,
            unknown_user: false,
        }
    }

    fn row(seq: i64, kind: &str, detail: &str) -> EvidenceRow {
        EvidenceRow {
            seq,
            at: 1_000 + seq,
            origin: "n1".into(),
            kind: kind.into(),
            log: "session".into(),
            session_id: Some("s1".into()),
            actor: None,
            subject: "s1".into(),
            detail: detail.into(),
        }
    }

    /// Chains `rows` from zeros, as the store writes them.
    fn chain(rows: Vec<EvidenceRow>) -> Vec<ChainedRow> {
        let mut prev = GENESIS;
        rows.into_iter()
            .map(|row| {
                prev = link(&prev, &row.chain_fields().unwrap());
                ChainedRow {
                    row,
                    chain: Some(to_hex(&prev)),
                }
            })
            .collect()
    }

    fn seal(key: &Ed25519Key, rows: &[ChainedRow]) -> LogSeal {
        let last = rows.last().unwrap();
        let mut s = LogSeal {
            session_id: "s1".into(),
            seq: last.row.seq,
            events: rows.len() as i64,
            chain: last.chain.clone().unwrap(),
            at: 9_000,
            signer: key.public().to_text(),
            signature: String::new(),
        };
        s.signature =
            base64::engine::general_purpose::STANDARD.encode(key.sign_bytes(&s.message()));
        s
    }

    struct Case {
        rows: Vec<ChainedRow>,
        seals: Vec<LogSeal>,
        session: SessionRow,
        node_signs: bool,
    }

    fn good(key: &Ed25519Key) -> Case {
        let rows = chain(vec![
            row(1, "started", r#"{"client":"127.0.0.1"}"#),
            row(2, "command_detected", r#"{"command":"id"}"#),
            row(5, "command_detected", r#"{"command":"rm -rf /tmp/x"}"#),
            row(9, "ended", r#"{"reason":"operator_exit"}"#),
        ]);
        let seals = vec![seal(key, &rows)];
        Case {
            rows,
            seals,
            session: session(Some("operator_exit")),
            node_signs: true,
        }
    }

    #[test]
    fn each_alteration_is_named_and_each_honest_state_is_not() {
        let key = Ed25519Key::generate();
        let stranger = Ed25519Key::generate();
        let keys = Keys(vec![key.public()]);
        type Change = fn(&mut Case, &Ed25519Key, &Ed25519Key);
        let table: &[(&str, Change, Verdict, &str)] = &[
            (
                "untouched",
                |_, _, _| {},
                Verdict::Intact,
                "intact: 4 events",
            ),
            (
                "a detail changed",
                |c, _, _| c.rows[1].row.detail = r#"{"command":"ls"}"#.into(),
                Verdict::Altered,
                "breaks at event 2",
            ),
            (
                "an actor added",
                |c, _, _| c.rows[2].row.actor = Some("bob".into()),
                Verdict::Altered,
                "breaks at event 5",
            ),
            (
                "a time moved",
                |c, _, _| c.rows[0].row.at += 1,
                Verdict::Altered,
                "breaks at event 1",
            ),
            (
                "a middle event removed",
                |c, _, _| {
                    c.rows.remove(1);
                },
                Verdict::Altered,
                "breaks at event 5",
            ),
            (
                "two events swapped",
                |c, _, _| {
                    let (a, b) = (c.rows[1].row.clone(), c.rows[2].row.clone());
                    c.rows[1].row = b;
                    c.rows[2].row = a;
                },
                Verdict::Altered,
                "breaks at event",
            ),
            (
                "the last event removed",
                |c, _, _| {
                    c.rows.pop();
                },
                Verdict::Altered,
                "was cut",
            ),
            (
                "an event's chain value removed",
                |c, _, _| c.rows[2].chain = None,
                Verdict::Altered,
                "breaks at event 5",
            ),
            (
                "the chain rewritten after an edit, the old seal kept",
                |c, _, _| {
                    let mut rows: Vec<EvidenceRow> = c.rows.iter().map(|r| r.row.clone()).collect();
                    rows[1].detail = r#"{"command":"true"}"#.into();
                    c.rows = chain(rows);
                },
                Verdict::Altered,
                "not what its seal signed",
            ),
            (
                "the chain rewritten and sealed by a key no node has",
                |c, _, stranger| {
                    let mut rows: Vec<EvidenceRow> = c.rows.iter().map(|r| r.row.clone()).collect();
                    rows[1].detail = r#"{"command":"true"}"#.into();
                    c.rows = chain(rows);
                    c.seals = vec![seal(stranger, &c.rows)];
                },
                Verdict::Altered,
                "no node of this store registered",
            ),
            (
                "the seal's count changed",
                |c, _, _| c.seals[0].events = 3,
                Verdict::Altered,
                "does not match its signature",
            ),
            (
                "the seal's signature garbled",
                |c, _, _| c.seals[0].signature = "bm9wZQ==".into(),
                Verdict::Altered,
                "does not match its signature",
            ),
            (
                "the seal removed from a normally closed session",
                |c, _, _| c.seals.clear(),
                Verdict::Altered,
                "the seal is missing",
            ),
            (
                "no seal, the node had no key",
                |c, _, _| {
                    c.seals.clear();
                    c.node_signs = false;
                },
                Verdict::Unverifiable,
                "never sealed",
            ),
            (
                "no seal yet: the session runs",
                |c, _, _| {
                    c.seals.clear();
                    c.session = session(None);
                },
                Verdict::Interrupted,
                "intact so far: 4 events",
            ),
            (
                "no seal: the node died",
                |c, _, _| {
                    c.seals.clear();
                    c.session = session(Some("interrupted"));
                },
                Verdict::Interrupted,
                "intact up to its interruption",
            ),
            (
                "an event chained after the seal (a purge note)",
                |c, _, _| {
                    let mut rows: Vec<EvidenceRow> = c.rows.iter().map(|r| r.row.clone()).collect();
                    rows.push(row(12, "prevent_purge_set", "{}"));
                    c.rows = chain(rows);
                },
                Verdict::Intact,
                "1 later events are chained after it",
            ),
            (
                "an event after the seal that does not follow",
                |c, _, _| {
                    let mut extra = chain(vec![row(12, "command_detected", "{}")]);
                    c.rows.append(&mut extra);
                },
                Verdict::Altered,
                "breaks at event 12",
            ),
            (
                "events from before the chain existed",
                |c, key, _| {
                    let mut old: Vec<ChainedRow> = (1..=2)
                        .map(|n| ChainedRow {
                            row: row(-n, "started", "{}"),
                            chain: None,
                        })
                        .collect();
                    old.append(&mut c.rows);
                    c.rows = old;
                    let chained: Vec<ChainedRow> = c.rows[2..].to_vec();
                    c.seals = vec![seal(key, &chained)];
                },
                Verdict::Intact,
                "2 earlier events predate the chain",
            ),
            (
                "nothing chained",
                |c, _, _| {
                    for r in &mut c.rows {
                        r.chain = None;
                    }
                    c.seals.clear();
                },
                Verdict::Unverifiable,
                "before it was chained",
            ),
        ];
        for (name, change, verdict, words) in table {
            let mut case = good(&key);
            change(&mut case, &key, &stranger);
            let got = judge_log(
                &case.session,
                &case.rows,
                &case.seals,
                &keys,
                case.node_signs,
            );
            assert_eq!(got.verdict, *verdict, "{name}: {}", got.summary);
            assert!(got.summary.contains(words), "{name}: {}", got.summary);
        }
    }

    proptest::proptest! {
        /// Any change of any byte of any field of a sealed log is found.
        #[test]
        fn any_changed_byte_is_found(which in 0usize..4, field in 0usize..5, at in 0usize..64, bit in 0u8..8) {
            let key = Ed25519Key::generate();
            let keys = Keys(vec![key.public()]);
            let mut case = good(&key);
            let r = &mut case.rows[which].row;
            let text = match field {
                0 => &mut r.origin,
                1 => &mut r.kind,
                2 => &mut r.log,
                3 => &mut r.subject,
                _ => &mut r.detail,
            };
            let mut bytes = std::mem::take(text).into_bytes();
            let i = at % bytes.len();
            bytes[i] ^= 1 << (bit % 7);
            *text = String::from_utf8_lossy(&bytes).into_owned();
            let got = judge_log(&case.session, &case.rows, &case.seals, &keys, true);
            proptest::prop_assert_eq!(got.verdict, Verdict::Altered, "{}", got.summary);
        }
    }
}
