//! What each node's SIEM destinations are doing. A node writes its rows every few seconds and
//! when a destination's state changes; `vigil status` and the API read them from anywhere.
//! A row is a report, not evidence: it is overwritten, and a node's rows for destinations it
//! no longer has are removed when it starts.

use sqlx::Row;
use sqlx::any::AnyRow;

use crate::{Store, StoreError};

/// One destination of one node.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct SiemStatus {
    pub node: String,
    /// The destination's URL (`tcp://host:port`), which names it.
    pub destination: String,
    /// `rfc5424` or `cef`.
    pub format: String,
    /// `connected`, `connecting`, `down` (waiting to retry) or `sending` (UDP).
    pub state: String,
    /// Events waiting in the queue.
    pub queued: i64,
    /// Events sent since the node started.
    pub sent: i64,
    /// Events dropped since the node started (queue full while the destination was slow or
    /// down).
    pub dropped: i64,
    pub last_error: Option<String>,
    /// Unix ms of the report.
    pub updated_at: i64,
}

const COLUMNS: &str =
    "node, destination, format, state, queued, sent, dropped, last_error, updated_at";

fn row_from(r: &AnyRow) -> Result<SiemStatus, StoreError> {
    Ok(SiemStatus {
        node: r.try_get("node")?,
        destination: r.try_get("destination")?,
        format: r.try_get("format")?,
        state: r.try_get("state")?,
        queued: r.try_get("queued")?,
        sent: r.try_get("sent")?,
        dropped: r.try_get("dropped")?,
        last_error: r.try_get("last_error")?,
        updated_at: r.try_get("updated_at")?,
    })
}

impl Store {
    /// Writes a node's reports, replacing each destination's previous one.
    pub async fn save_siem_status(&self, rows: &[SiemStatus]) -> Result<(), StoreError> {
        let mut tx = self.pool.begin().await?;
        for s in rows {
            sqlx::query(sqlx::AssertSqlSafe(format!(
                "INSERT INTO siem_status ({COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) \
                 ON CONFLICT (node, destination) DO UPDATE SET format = excluded.format, \
                 state = excluded.state, queued = excluded.queued, sent = excluded.sent, \
                 dropped = excluded.dropped, last_error = excluded.last_error, \
                 updated_at = excluded.updated_at"
            )))
            .bind(&s.node)
            .bind(&s.destination)
            .bind(&s.format)
            .bind(&s.state)
            .bind(s.queued)
            .bind(s.sent)
            .bind(s.dropped)
            .bind(&s.last_error)
            .bind(s.updated_at)
            .execute(&mut *tx)
            .await?;
        }
        tx.commit().await?;
        Ok(())
    }

    /// Removes a node's reports (when it starts, before it writes its current destinations).
    pub async fn clear_siem_status(&self, node: &str) -> Result<(), StoreError> {
        sqlx::query("DELETE FROM siem_status WHERE node = $1")
            .bind(node)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    /// Every node's reports, by node and destination.
    pub async fn siem_status(&self) -> Result<Vec<SiemStatus>, StoreError> {
        let rows = sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT {COLUMNS} FROM siem_status ORDER BY node, destination"
        )))
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(row_from).collect()
    }
}
