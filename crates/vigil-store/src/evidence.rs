//! The one evidence path: every session-log event and administration-log entry is a row of
//! the `evidence` outbox, written by [`Tx::commit`] in the same transaction as the change it
//! records. The session log and the administration log are views of it; consumers (the live
//! event bus, the SIEM forwarder, cluster peers) read it in order after their own durable
//! cursor ([`Store::evidence_after`], [`Store::consumer_cursor`]).
//!
//! Order: a consumer that read up to `seq` must never later find a committed row below it.
//! SQLite has one writer at a time, so sequence order is commit order. PostgreSQL hands out
//! sequence values before commit; every transaction that writes evidence therefore takes one
//! advisory lock (held to its commit) just before its evidence rows, so evidence commits in
//! the order of its sequence numbers.

use std::collections::HashMap;
use std::sync::Arc;

use sqlx::Row;
use sqlx::any::AnyRow;
use vigil_core::{EventKind, Evidence, Log, now_millis};

use crate::log_chain::{self, ChainFields, LogSigner};
use crate::{Backend, SessionEvent, Store, StoreError};

/// The advisory lock that orders evidence commits on PostgreSQL ("vigil-ev" in ASCII).
const EVIDENCE_LOCK: i64 = 0x7669_6769_6c2d_6576;

/// A row of the outbox as consumers read it.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct EvidenceRow {
    pub seq: i64,
    pub at: i64,
    /// Who wrote it: a node's name, or `cli` for a CLI process.
    pub origin: String,
    pub kind: String,
    /// `session`, `admin` or `both`: which log shows it.
    pub log: String,
    pub session_id: Option<String>,
    pub actor: Option<String>,
    pub subject: String,
    /// JSON object with the event's details.
    pub detail: String,
}

impl EvidenceRow {
    pub fn kind(&self) -> Option<EventKind> {
        EventKind::parse(&self.kind)
    }
}

/// An entry of the administration log.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct AuditEntry {
    pub id: i64,
    pub at: i64,
    pub actor: String,
    pub action: String,
    pub subject: String,
    pub detail: String,
}

/// A transaction: changes made through it and the evidence recorded with it are committed
/// together or not at all. Dropped without [`Tx::commit`], it rolls back.
pub struct Tx {
    pub(crate) conn: sqlx::Transaction<'static, sqlx::Any>,
    pub(crate) store: Store,
    pending: Vec<Evidence>,
    seals: Vec<(String, Arc<dyn LogSigner>)>,
}

impl Tx {
    /// Adds evidence of this transaction's change; it is written at commit.
    pub fn record(&mut self, evidence: Evidence) {
        debug_assert!(
            evidence.missing().is_empty(),
            "{} lacks {:?}: see docs/EVENTS.md",
            evidence.kind.as_str(),
            evidence.missing()
        );
        self.pending.push(evidence);
    }

    /// Seals session `id`'s log at commit, after this transaction's evidence: `signer` signs
    /// its head (see [`crate::log_chain`]).
    pub fn seal_session_log(&mut self, id: &str, signer: Arc<dyn LogSigner>) {
        self.seals.push((id.to_owned(), signer));
    }

    /// Writes the recorded evidence and commits; returns the evidence's sequence numbers.
    pub async fn commit(mut self) -> Result<Vec<i64>, StoreError> {
        let mut seqs = Vec::with_capacity(self.pending.len());
        if !self.pending.is_empty() && self.store.backend == Backend::Postgres {
            sqlx::query("SELECT pg_advisory_xact_lock($1)")
                .bind(EVIDENCE_LOCK)
                .execute(&mut *self.conn)
                .await?;
        }
        let at = now_millis();
        // Each session's chain head, as this commit moves it.
        let mut heads: HashMap<String, [u8; 32]> = HashMap::new();
        for ev in std::mem::take(&mut self.pending) {
            let detail = ev.detail.to_string();
            let row_at = ev.occurred_at.unwrap_or(at);
            let chain = self.chain_value(&mut heads, &ev, row_at, &detail).await?;
            let seq: i64 = sqlx::query_scalar(
                "INSERT INTO evidence (at, origin, kind, log, session_id, actor, subject, detail, chain) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) RETURNING seq",
            )
            .bind(row_at)
            .bind(self.store.origin.as_ref())
            .bind(ev.kind.as_str())
            .bind(ev.kind.log().as_str())
            .bind(ev.session.as_ref().map(|s| s.0.as_str()))
            .bind(ev.actor.as_deref())
            .bind(&ev.subject)
            .bind(&detail)
            .bind(chain)
            .fetch_one(&mut *self.conn)
            .await?;
            seqs.push(seq);
        }
        for (session, signer) in std::mem::take(&mut self.seals) {
            log_chain::seal(&mut self.conn, &session, &signer, at).await?;
        }
        self.conn.commit().await?;
        if !seqs.is_empty() {
            self.store.written.notify_waiters();
        }
        Ok(seqs)
    }

    /// The chain value of `ev`, written at `at` with `detail`, after its session's head (in
    /// `heads` when this commit moved it); `None` for evidence about no session.
    async fn chain_value(
        &mut self,
        heads: &mut HashMap<String, [u8; 32]>,
        ev: &Evidence,
        at: i64,
        detail: &str,
    ) -> Result<Option<String>, StoreError> {
        let Some(session) = ev.session.as_ref() else {
            return Ok(None);
        };
        let prev = match heads.get(&session.0) {
            Some(h) => *h,
            // The first row, or the first after rows written before chaining, starts from
            // zeros. So does a row after a damaged chain value: the evidence is still
            // written, and verification names the damage.
            None => log_chain::head(&mut self.conn, &session.0)
                .await?
                .and_then(|(_, chain)| log_chain::from_hex(chain.as_deref()?))
                .unwrap_or(log_chain::GENESIS),
        };
        let next = log_chain::link(
            &prev,
            &ChainFields {
                at,
                origin: &self.store.origin,
                kind: ev.kind.as_str(),
                log: ev.kind.log().as_str(),
                session_id: &session.0,
                actor: ev.actor.as_deref(),
                subject: &ev.subject,
                detail,
            },
        );
        heads.insert(session.0.clone(), next);
        Ok(Some(log_chain::to_hex(&next)))
    }

    /// The store this transaction belongs to, for reads outside it.
    pub fn store(&self) -> &Store {
        &self.store
    }
}

pub(crate) const COLUMNS: &str = "seq, at, origin, kind, log, session_id, actor, subject, detail";

pub(crate) fn evidence_from(r: &AnyRow) -> Result<EvidenceRow, StoreError> {
    Ok(EvidenceRow {
        seq: r.try_get("seq")?,
        at: r.try_get("at")?,
        origin: r.try_get("origin")?,
        kind: r.try_get("kind")?,
        log: r.try_get("log")?,
        session_id: r.try_get("session_id")?,
        actor: r.try_get("actor")?,
        subject: r.try_get("subject")?,
        detail: r.try_get("detail")?,
    })
}

impl Store {
    /// Names who writes this store's evidence (a node's name; `cli` by default).
    pub fn with_origin(mut self, origin: &str) -> Store {
        self.origin = Arc::from(origin);
        self
    }

    /// The node this store writes evidence for.
    pub fn origin(&self) -> &str {
        &self.origin
    }

    /// Starts a transaction. SQLite's takes the write lock at once (`BEGIN IMMEDIATE`), so a
    /// change that reads before it writes cannot fail half-way on a concurrent writer.
    pub async fn begin(&self) -> Result<Tx, StoreError> {
        let conn = match self.backend {
            Backend::Sqlite => self.pool.begin_with("BEGIN IMMEDIATE").await?,
            Backend::Postgres => self.pool.begin().await?,
        };
        Ok(Tx {
            conn,
            store: self.clone(),
            pending: Vec::new(),
            seals: Vec::new(),
        })
    }

    /// Records evidence that goes with no change of state (a viewing, a failed sign-in).
    pub async fn record(&self, evidence: Evidence) -> Result<i64, StoreError> {
        let mut tx = self.begin().await?;
        tx.record(evidence);
        let seqs = tx.commit().await?;
        seqs.first()
            .copied()
            .ok_or_else(|| StoreError::NotFound("the evidence just written".into()))
    }

    /// Up to `limit` rows of the outbox after `after`, in order.
    pub async fn evidence_after(
        &self,
        after: i64,
        limit: i64,
    ) -> Result<Vec<EvidenceRow>, StoreError> {
        let rows = sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT {COLUMNS} FROM evidence WHERE seq > $1 ORDER BY seq LIMIT $2"
        )))
        .bind(after)
        .bind(limit.clamp(1, 10_000))
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(evidence_from).collect()
    }

    /// The newest row's sequence number (0 when there is none).
    pub async fn last_evidence_seq(&self) -> Result<i64, StoreError> {
        Ok(
            sqlx::query_scalar::<_, Option<i64>>("SELECT MAX(seq) FROM evidence")
                .fetch_one(&self.pool)
                .await?
                .unwrap_or(0),
        )
    }

    /// Where a named consumer stopped; `None` for a consumer that never saved a cursor.
    pub async fn consumer_cursor(&self, consumer: &str) -> Result<Option<i64>, StoreError> {
        Ok(
            sqlx::query_scalar("SELECT seq FROM evidence_cursors WHERE consumer = $1")
                .bind(consumer)
                .fetch_optional(&self.pool)
                .await?,
        )
    }

    /// Saves a consumer's cursor: it has handled every row up to `seq`.
    pub async fn save_consumer_cursor(&self, consumer: &str, seq: i64) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO evidence_cursors (consumer, seq, updated_at) VALUES ($1, $2, $3) \
             ON CONFLICT (consumer) DO UPDATE SET seq = excluded.seq, updated_at = excluded.updated_at",
        )
        .bind(consumer)
        .bind(seq)
        .bind(now_millis())
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// The newest piece of evidence of `kind` about session `id`, whichever log it is in.
    pub async fn latest_evidence_about(
        &self,
        id: &str,
        kind: &str,
    ) -> Result<Option<EvidenceRow>, StoreError> {
        let row = sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT {COLUMNS} FROM evidence WHERE session_id = $1 AND kind = $2 ORDER BY seq DESC LIMIT 1"
        )))
        .bind(id)
        .bind(kind)
        .fetch_optional(&self.pool)
        .await?;
        row.as_ref().map(evidence_from).transpose()
    }

    /// The session log, oldest first.
    pub async fn session_events(&self, id: &str) -> Result<Vec<SessionEvent>, StoreError> {
        let rows = sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT {COLUMNS} FROM evidence WHERE session_id = $1 AND log IN ($2, $3) ORDER BY seq"
        )))
        .bind(id)
        .bind(Log::Session.as_str())
        .bind(Log::Both.as_str())
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|r| {
                let e = evidence_from(r)?;
                Ok(SessionEvent {
                    id: e.seq,
                    session_id: e.session_id.unwrap_or_default(),
                    at: e.at,
                    kind: e.kind,
                    actor: e.actor,
                    detail: e.detail,
                })
            })
            .collect()
    }

    /// The administration log, newest first.
    pub async fn audit_entries(&self, limit: i64) -> Result<Vec<AuditEntry>, StoreError> {
        let rows = sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT {COLUMNS} FROM evidence WHERE log IN ($1, $2) ORDER BY seq DESC LIMIT $3"
        )))
        .bind(Log::Admin.as_str())
        .bind(Log::Both.as_str())
        .bind(limit)
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|r| {
                let e = evidence_from(r)?;
                Ok(AuditEntry {
                    id: e.seq,
                    at: e.at,
                    actor: e.actor.unwrap_or_default(),
                    action: e.kind,
                    subject: e.subject,
                    detail: e.detail,
                })
            })
            .collect()
    }
}
