//! Commands operators ran, across sessions: "who ran X where". Read from the session logs'
//! `command_detected` events (the evidence outbox), so a purged session's commands are gone
//! with its log.

use sqlx::Row;

use crate::{Store, StoreError};

/// One command an operator ran (or tried to).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct CommandHit {
    pub session_id: String,
    pub at: i64,
    pub user: String,
    pub target: Option<String>,
    pub login: Option<String>,
    pub command: String,
    /// none, alert, prohibit, interrupt or deactivate.
    pub action: String,
    /// The rules it matched, as the event has them.
    pub rules: serde_json::Value,
    pub source: String,
}

impl Store {
    /// The newest `limit` commands whose text holds `text` (case-insensitive), newest first.
    pub async fn search_commands(
        &self,
        text: &str,
        limit: i64,
    ) -> Result<Vec<CommandHit>, StoreError> {
        // The detail column is JSON: look for the text as JSON writes it, then check the
        // command itself (the text may also be found in another field).
        let json = serde_json::to_string(&text.to_lowercase()).unwrap_or_default();
        let needle = json.trim_matches('"').to_owned();
        let pattern = format!(
            "%{}%",
            needle
                .replace('!', "!!")
                .replace('%', "!%")
                .replace('_', "!_")
        );
        let rows = sqlx::query(
            "SELECT e.session_id, e.at, e.detail, s.user_name, s.target_name, s.login FROM evidence e JOIN sessions s ON s.id = e.session_id \
             WHERE e.kind = 'command_detected' AND lower(e.detail) LIKE $1 ESCAPE '!' ORDER BY e.seq DESC LIMIT $2",
        )
        .bind(pattern)
        .bind(limit.saturating_mul(4).max(limit))
        .fetch_all(&self.pool)
        .await?;
        let wanted = text.to_lowercase();
        let mut out = Vec::new();
        for r in rows {
            let detail: String = r.try_get("detail")?;
            let d: serde_json::Value =
                serde_json::from_str(&detail).map_err(|e| StoreError::Invalid {
                    what: "command event",
                    why: e.to_string(),
                })?;
            let command = d["command"].as_str().unwrap_or_default().to_owned();
            if !command.to_lowercase().contains(&wanted) {
                continue;
            }
            out.push(CommandHit {
                session_id: r.try_get("session_id")?,
                at: r.try_get("at")?,
                user: r.try_get("user_name")?,
                target: r.try_get("target_name")?,
                login: r.try_get("login")?,
                command,
                action: d["action"].as_str().unwrap_or("none").to_owned(),
                rules: d["rules"].clone(),
                source: d["source"].as_str().unwrap_or_default().to_owned(),
            });
            if out.len() as i64 >= limit {
                break;
            }
        }
        Ok(out)
    }
}
