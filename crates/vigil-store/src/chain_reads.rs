//! Reading sessions' chained evidence and their seals (see [`crate::log_chain`]).

use sqlx::Row;

use crate::evidence::COLUMNS;
use crate::log_chain::{ChainFields, LogSeal};
use crate::{EvidenceRow, Store, StoreError};

impl EvidenceRow {
    /// The fields its chain value covers; `None` for a row about no session.
    pub fn chain_fields(&self) -> Option<ChainFields<'_>> {
        Some(ChainFields {
            at: self.at,
            origin: &self.origin,
            kind: &self.kind,
            log: &self.log,
            session_id: self.session_id.as_deref()?,
            actor: self.actor.as_deref(),
            subject: &self.subject,
            detail: &self.detail,
        })
    }
}

/// A row of a session's evidence with its stored chain value.
#[derive(Debug, Clone)]
pub struct ChainedRow {
    pub row: EvidenceRow,
    /// Hex; `None` for a row written before the log was chained.
    pub chain: Option<String>,
}

impl Store {
    /// Every evidence row about session `id` (both logs), in order, with chain values.
    pub async fn session_chain(&self, id: &str) -> Result<Vec<ChainedRow>, StoreError> {
        let rows = sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT {COLUMNS}, chain FROM evidence WHERE session_id = $1 ORDER BY seq"
        )))
        .bind(id)
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|r| {
                Ok(ChainedRow {
                    row: crate::evidence::evidence_from(r)?,
                    chain: r.try_get("chain")?,
                })
            })
            .collect()
    }

    /// The seals of session `id`'s log, oldest first.
    pub async fn session_log_seals(&self, id: &str) -> Result<Vec<LogSeal>, StoreError> {
        let rows = sqlx::query(
            "SELECT session_id, seq, events, chain, at, signer, signature FROM session_log_seals \
             WHERE session_id = $1 ORDER BY seq",
        )
        .bind(id)
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|r| {
                Ok(LogSeal {
                    session_id: r.try_get("session_id")?,
                    seq: r.try_get("seq")?,
                    events: r.try_get("events")?,
                    chain: r.try_get("chain")?,
                    at: r.try_get("at")?,
                    signer: r.try_get("signer")?,
                    signature: r.try_get("signature")?,
                })
            })
            .collect()
    }
}
