//! The session log's hash chain (issue 15). Every evidence row about a session carries a chain
//! value: the SHA-256 of the value before it (of the same session; zeros for the first) and
//! of the row's own fields, written by [`crate::Tx::commit`] with the row. When a session ends
//! (closed, or marked interrupted after its node died) its node signs the head: the last row's
//! sequence number and chain value, and how many chained rows lead to it (a
//! `session_log_seals` row, written in the same transaction as the `ended` event).
//!
//! So removing, altering, inserting or reordering any row of a sealed log breaks the chain or
//! the seal, and rewriting the whole chain needs a node's key. What it is not: proof against
//! someone holding a node's key, nor a chain of the administration log (its rows about a
//! session are chained with the session's; the rest are not).

use std::sync::Arc;

use base64::Engine;
use sha2::{Digest, Sha256};
use sqlx::Row;

use crate::StoreError;

/// The chain value before a session's first row.
pub const GENESIS: [u8; 32] = [0; 32];

/// Signs a session log's head with a node's key.
pub trait LogSigner: Send + Sync {
    /// The signer's public key, as `node_keys` lists it (`ed25519:` and base64).
    fn public_text(&self) -> String;
    fn sign(&self, message: &[u8]) -> [u8; 64];
}

/// The fields of a row that its chain value covers (everything but its sequence number,
/// which the database assigns: order is covered by the chain itself).
pub struct ChainFields<'a> {
    pub at: i64,
    pub origin: &'a str,
    pub kind: &'a str,
    pub log: &'a str,
    pub session_id: &'a str,
    pub actor: Option<&'a str>,
    pub subject: &'a str,
    pub detail: &'a str,
}

/// The chain value of a row after `prev`. Each field is length-prefixed, so no two rows
/// encode alike.
pub fn link(prev: &[u8; 32], f: &ChainFields<'_>) -> [u8; 32] {
    let mut h = Sha256::new();
    h.update(b"vigil-log-v1\0");
    h.update(prev);
    h.update(f.at.to_be_bytes());
    for field in [
        Some(f.origin),
        Some(f.kind),
        Some(f.log),
        Some(f.session_id),
        f.actor,
        Some(f.subject),
        Some(f.detail),
    ] {
        match field {
            Some(s) => {
                h.update((s.len() as u64).to_be_bytes());
                h.update(s.as_bytes());
            }
            None => h.update(u64::MAX.to_be_bytes()),
        }
    }
    h.finalize().into()
}

pub fn to_hex(v: &[u8; 32]) -> String {
    v.iter().map(|b| format!("{b:02x}")).collect()
}

pub fn from_hex(s: &str) -> Option<[u8; 32]> {
    if s.len() != 64 || !s.is_ascii() {
        return None;
    }
    let mut out = [0u8; 32];
    for (i, o) in out.iter_mut().enumerate() {
        *o = u8::from_str_radix(&s[2 * i..2 * i + 2], 16).ok()?;
    }
    Some(out)
}

/// A node's signature over a session log's head.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct LogSeal {
    pub session_id: String,
    /// The last row it covers.
    pub seq: i64,
    /// How many chained rows lead to it, that one included.
    pub events: i64,
    /// That row's chain value (hex).
    pub chain: String,
    pub at: i64,
    /// `ed25519:` and base64.
    pub signer: String,
    /// base64.
    pub signature: String,
}

impl LogSeal {
    /// What the signature covers.
    pub fn message(&self) -> Vec<u8> {
        seal_message(
            &self.session_id,
            self.seq,
            self.events,
            &self.chain,
            self.at,
        )
    }
}

fn seal_message(session: &str, seq: i64, events: i64, chain: &str, at: i64) -> Vec<u8> {
    format!("vigil-log-seal-v1\n{session}\n{seq}\n{events}\n{chain}\n{at}\n").into_bytes()
}

/// A session's log head as the store has it: the newest row's sequence number and chain
/// value (`None` for a session with no chained row).
pub(crate) async fn head(
    conn: &mut sqlx::AnyConnection,
    session: &str,
) -> Result<Option<(i64, Option<String>)>, StoreError> {
    let row = sqlx::query(
        "SELECT seq, chain FROM evidence WHERE session_id = $1 ORDER BY seq DESC LIMIT 1",
    )
    .bind(session)
    .fetch_optional(&mut *conn)
    .await?;
    Ok(match row {
        Some(r) => Some((r.try_get("seq")?, r.try_get("chain")?)),
        None => None,
    })
}

/// Signs `session`'s head inside the transaction on `conn` (after its evidence rows).
pub(crate) async fn seal(
    conn: &mut sqlx::AnyConnection,
    session: &str,
    signer: &Arc<dyn LogSigner>,
    at: i64,
) -> Result<(), StoreError> {
    let Some((seq, Some(chain))) = head(conn, session).await? else {
        return Ok(());
    };
    let events: i64 = sqlx::query_scalar(
        "SELECT COUNT(*) FROM evidence WHERE session_id = $1 AND chain IS NOT NULL AND seq <= $2",
    )
    .bind(session)
    .bind(seq)
    .fetch_one(&mut *conn)
    .await?;
    let signature = signer.sign(&seal_message(session, seq, events, &chain, at));
    sqlx::query(
        "INSERT INTO session_log_seals (session_id, seq, events, chain, at, signer, signature) \
         VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT (session_id, seq) DO NOTHING",
    )
    .bind(session)
    .bind(seq)
    .bind(events)
    .bind(&chain)
    .bind(at)
    .bind(signer.public_text())
    .bind(base64::engine::general_purpose::STANDARD.encode(signature))
    .execute(&mut *conn)
    .await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fields<'a>(detail: &'a str, actor: Option<&'a str>) -> ChainFields<'a> {
        ChainFields {
            at: 1,
            origin: "n1",
            kind: "command",
            log: "session",
            session_id: "s1",
            actor,
            subject: "s1",
            detail,
        }
    }

    #[test]
    fn every_field_and_the_previous_value_change_the_link() {
        let base = link(&GENESIS, &fields("{}", None));
        assert_ne!(base, link(&[1; 32], &fields("{}", None)));
        assert_ne!(base, link(&GENESIS, &fields("{ }", None)));
        // An absent actor and an empty one differ.
        assert_ne!(base, link(&GENESIS, &fields("{}", Some(""))));
        let mut f = fields("{}", None);
        f.at = 2;
        assert_ne!(base, link(&GENESIS, &f));
        // Moving bytes between fields changes the value (length prefixes).
        let a = ChainFields {
            origin: "ab",
            kind: "c",
            ..fields("{}", None)
        };
        let b = ChainFields {
            origin: "a",
            kind: "bc",
            ..fields("{}", None)
        };
        assert_ne!(link(&GENESIS, &a), link(&GENESIS, &b));
    }

    #[test]
    fn hex_round_trips_and_refuses_garbage() {
        let v = link(&GENESIS, &fields("{}", None));
        assert_eq!(from_hex(&to_hex(&v)), Some(v));
        assert_eq!(from_hex("zz"), None);
        assert_eq!(from_hex(&"é".repeat(32)), None);
        assert_eq!(from_hex(&"g".repeat(64)), None);
    }
}
