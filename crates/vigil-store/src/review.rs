//! What auditors and the retention policy need of a session: its assigned auditors, the
//! prevent-purge mark with its justification, and the purge itself.

use sqlx::Row;
use vigil_core::now_millis;

use crate::sessions::{COLUMNS, row_from};
use crate::{SessionRow, Store, StoreError, Tx, found};

/// Why a session is kept past the retention period, and who said so.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct PreventPurge {
    pub reason: String,
    pub by: String,
    pub at: i64,
}

impl Store {
    pub async fn session_auditors(&self, session_id: &str) -> Result<Vec<String>, StoreError> {
        Ok(sqlx::query_scalar(
            "SELECT user_name FROM session_auditors WHERE session_id = $1 ORDER BY user_name",
        )
        .bind(session_id)
        .fetch_all(&self.pool)
        .await?)
    }

    pub async fn is_session_auditor(
        &self,
        session_id: &str,
        user: &str,
    ) -> Result<bool, StoreError> {
        let n: i64 = sqlx::query_scalar(
            "SELECT COUNT(*) FROM session_auditors WHERE session_id = $1 AND user_name = $2",
        )
        .bind(session_id)
        .bind(user)
        .fetch_one(&self.pool)
        .await?;
        Ok(n > 0)
    }

    pub async fn prevent_purge(
        &self,
        session_id: &str,
    ) -> Result<Option<PreventPurge>, StoreError> {
        let row = sqlx::query("SELECT prevent_purge_reason, prevent_purge_by, prevent_purge_at FROM sessions WHERE id = $1")
            .bind(session_id)
            .fetch_optional(&self.pool)
            .await?
            .ok_or_else(|| StoreError::NotFound(format!("session {session_id}")))?;
        let reason: Option<String> = row.try_get("prevent_purge_reason")?;
        Ok(match reason {
            Some(reason) => Some(PreventPurge {
                reason,
                by: row
                    .try_get::<Option<String>, _>("prevent_purge_by")?
                    .unwrap_or_default(),
                at: row
                    .try_get::<Option<i64>, _>("prevent_purge_at")?
                    .unwrap_or(0),
            }),
            None => None,
        })
    }

    /// Closed sessions that ended before `cutoff` (ms), not kept by prevent-purge and not yet
    /// purged, oldest first.
    pub async fn purge_candidates(
        &self,
        cutoff: i64,
        limit: i64,
    ) -> Result<Vec<SessionRow>, StoreError> {
        let rows = sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT {COLUMNS} FROM sessions WHERE status = 'closed' AND ended_at < $1 AND prevent_purge_at IS NULL AND purged_at IS NULL ORDER BY ended_at LIMIT $2"
        )))
        .bind(cutoff)
        .bind(limit)
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(row_from).collect()
    }
}

impl Tx {
    /// Replaces the session's auditors with `users` (names that must exist).
    pub async fn set_session_auditors(
        &mut self,
        session_id: &str,
        users: &[String],
        by: &str,
    ) -> Result<(), StoreError> {
        self.session(session_id).await?;
        for name in users {
            self.user_by_name(name).await?;
        }
        sqlx::query("DELETE FROM session_auditors WHERE session_id = $1")
            .bind(session_id)
            .execute(&mut *self.conn)
            .await?;
        let mut seen = std::collections::BTreeSet::new();
        for name in users.iter().filter(|n| seen.insert(n.as_str())) {
            sqlx::query("INSERT INTO session_auditors (session_id, user_name, added_by, added_at) VALUES ($1, $2, $3, $4)")
                .bind(session_id)
                .bind(name)
                .bind(by)
                .bind(now_millis())
                .execute(&mut *self.conn)
                .await?;
        }
        Ok(())
    }

    pub async fn set_prevent_purge(
        &mut self,
        session_id: &str,
        reason: &str,
        by: &str,
    ) -> Result<(), StoreError> {
        if reason.trim().is_empty() {
            return Err(StoreError::Invalid {
                what: "justification",
                why: "say why this session must be kept".into(),
            });
        }
        let done = sqlx::query("UPDATE sessions SET prevent_purge_reason = $1, prevent_purge_by = $2, prevent_purge_at = $3 WHERE id = $4 AND purged_at IS NULL")
            .bind(reason.trim())
            .bind(by)
            .bind(now_millis())
            .bind(session_id)
            .execute(&mut *self.conn)
            .await?;
        found(done, || format!("unpurged session {session_id}"))
    }

    pub async fn clear_prevent_purge(&mut self, session_id: &str) -> Result<(), StoreError> {
        let done = sqlx::query("UPDATE sessions SET prevent_purge_reason = NULL, prevent_purge_by = NULL, prevent_purge_at = NULL WHERE id = $1")
            .bind(session_id)
            .execute(&mut *self.conn)
            .await?;
        found(done, || format!("session {session_id}"))
    }

    /// Removes the session's log and marks it purged; the row stays as the record that it
    /// existed and when it was purged. Refuses a session kept by prevent-purge.
    pub async fn mark_purged(&mut self, session_id: &str) -> Result<(), StoreError> {
        let done = sqlx::query("UPDATE sessions SET purged_at = $1, recording_key = NULL WHERE id = $2 AND prevent_purge_at IS NULL AND purged_at IS NULL")
            .bind(now_millis())
            .bind(session_id)
            .execute(&mut *self.conn)
            .await?;
        found(done, || format!("purgeable session {session_id}"))?;
        sqlx::query("DELETE FROM recording_tracks WHERE session_id = $1")
            .bind(session_id)
            .execute(&mut *self.conn)
            .await?;
        // The session's own log goes; what people did about it stays in the administration log.
        sqlx::query("DELETE FROM evidence WHERE session_id = $1 AND log = $2")
            .bind(session_id)
            .bind(vigil_core::Log::Session.as_str())
            .execute(&mut *self.conn)
            .await?;
        Ok(())
    }
}
