//! Session rows and session logs.

use std::sync::Arc;

use sqlx::Row;
use sqlx::any::AnyRow;
use vigil_core::{EndReason, EventKind, Evidence, SessionId, SessionStatus, now_millis};

use crate::{Store, StoreError, Tx};

/// What is known when a session starts.
#[derive(Debug, Clone)]
pub struct NewSession {
    pub id: SessionId,
    pub user_name: String,
    pub target_name: Option<String>,
    pub login: Option<String>,
    pub client_addr: String,
    pub node: String,
    pub protocol: String,
}

#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct SessionRow {
    pub id: String,
    pub user_name: String,
    pub target_name: Option<String>,
    pub login: Option<String>,
    pub client_addr: String,
    pub node: String,
    pub protocol: String,
    pub status: String,
    pub started_at: i64,
    pub ended_at: Option<i64>,
    pub end_reason: Option<String>,
    pub bytes_in: i64,
    pub bytes_out: i64,
    pub recording_key: Option<String>,
    pub risk: i64,
    /// Set when the session is kept past the retention period (with who and why: see
    /// `Store::prevent_purge`).
    pub prevent_purge_at: Option<i64>,
    /// Set once the retention purge removed the recording and the log.
    pub purged_at: Option<i64>,
    /// A workstation run (protocol `endpoint`) whose user has no Vigil user of the same
    /// name: kept, and flagged in Remote Sessions until such a user exists.
    pub unknown_user: bool,
}

#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct SessionEvent {
    pub id: i64,
    pub session_id: String,
    pub at: i64,
    pub kind: String,
    pub actor: Option<String>,
    /// JSON object with the event's details.
    pub detail: String,
}

/// Which sessions to list; empty means all, newest first.
#[derive(Debug, Clone, Default)]
pub struct SessionFilter {
    /// Only sessions that have not ended.
    pub active: Option<bool>,
    pub user: Option<String>,
    pub target: Option<String>,
    pub login: Option<String>,
    pub node: Option<String>,
    pub protocol: Option<String>,
    pub min_risk: Option<i64>,
    /// Free text: part of the id, user, target, login or client address.
    pub q: Option<String>,
    /// Only sessions this user is assigned to audit.
    pub auditor: Option<String>,
    pub from: Option<i64>,
    pub to: Option<i64>,
    pub limit: Option<i64>,
    pub offset: Option<i64>,
}

pub(crate) const COLUMNS: &str = "id, user_name, target_name, login, client_addr, node, protocol, status, started_at, ended_at, end_reason, bytes_in, bytes_out, recording_key, risk, prevent_purge_at, purged_at, \
    CAST(CASE WHEN protocol = 'endpoint' AND NOT EXISTS (SELECT 1 FROM users WHERE users.name = sessions.user_name) THEN 1 ELSE 0 END AS BIGINT) AS unknown_user";

pub(crate) fn row_from(r: &AnyRow) -> Result<SessionRow, StoreError> {
    Ok(SessionRow {
        id: r.try_get("id")?,
        user_name: r.try_get("user_name")?,
        target_name: r.try_get("target_name")?,
        login: r.try_get("login")?,
        client_addr: r.try_get("client_addr")?,
        node: r.try_get("node")?,
        protocol: r.try_get("protocol")?,
        status: r.try_get("status")?,
        started_at: r.try_get("started_at")?,
        ended_at: r.try_get("ended_at")?,
        end_reason: r.try_get("end_reason")?,
        bytes_in: r.try_get("bytes_in")?,
        bytes_out: r.try_get("bytes_out")?,
        recording_key: r.try_get("recording_key")?,
        risk: r.try_get("risk")?,
        prevent_purge_at: r.try_get("prevent_purge_at")?,
        purged_at: r.try_get("purged_at")?,
        unknown_user: r.try_get::<i64, _>("unknown_user")? != 0,
    })
}

enum Bind {
    Text(String),
    Int(i64),
}

impl Store {
    pub async fn session(&self, id: &str) -> Result<SessionRow, StoreError> {
        find_session(&self.pool, id).await
    }

    pub async fn list_sessions(&self, f: &SessionFilter) -> Result<Vec<SessionRow>, StoreError> {
        list_sessions_on(&self.pool, f).await
    }
}

/// Sessions matching `f`, on the pool or inside a transaction.
async fn list_sessions_on<'e>(
    db: impl sqlx::Executor<'e, Database = sqlx::Any>,
    f: &SessionFilter,
) -> Result<Vec<SessionRow>, StoreError> {
    let mut conds: Vec<String> = Vec::new();
    let mut binds: Vec<Bind> = Vec::new();
    let mut push = |cond: &str, value: Bind| {
        binds.push(value);
        conds.push(cond.replace('?', &format!("${}", binds.len())));
    };
    if let Some(v) = &f.user {
        push("user_name = ?", Bind::Text(v.clone()));
    }
    if let Some(v) = &f.target {
        push("target_name = ?", Bind::Text(v.clone()));
    }
    if let Some(v) = &f.login {
        push("login = ?", Bind::Text(v.clone()));
    }
    if let Some(v) = &f.node {
        push("node = ?", Bind::Text(v.clone()));
    }
    if let Some(v) = &f.protocol {
        push("protocol = ?", Bind::Text(v.clone()));
    }
    if let Some(v) = f.min_risk {
        push("risk >= ?", Bind::Int(v));
    }
    if let Some(v) = &f.auditor {
        push(
            "id IN (SELECT session_id FROM session_auditors WHERE user_name = ?)",
            Bind::Text(v.clone()),
        );
    }
    if let Some(v) = f.q.as_deref().map(str::trim).filter(|v| !v.is_empty()) {
        // LIKE wildcards typed by the user are matched literally; case is ignored on both
        // backends. Every `?` becomes the same numbered placeholder.
        let escaped = v
            .to_lowercase()
            .replace('\\', "\\\\")
            .replace('%', "\\%")
            .replace('_', "\\_");
        let like = |col: &str| format!("LOWER({col}) LIKE ? ESCAPE '\\'");
        let any = ["id", "user_name", "target_name", "login", "client_addr"]
            .map(like)
            .join(" OR ");
        push(&format!("({any})"), Bind::Text(format!("%{escaped}%")));
    }
    if let Some(v) = f.from {
        push("started_at >= ?", Bind::Int(v));
    }
    if let Some(v) = f.to {
        push("started_at <= ?", Bind::Int(v));
    }
    match f.active {
        Some(true) => conds.push("status <> 'closed'".into()),
        Some(false) => conds.push("status = 'closed'".into()),
        None => {}
    }
    let mut sql = format!("SELECT {COLUMNS} FROM sessions");
    if !conds.is_empty() {
        sql.push_str(" WHERE ");
        sql.push_str(&conds.join(" AND "));
    }
    sql.push_str(&format!(
        " ORDER BY started_at DESC, id DESC LIMIT {} OFFSET {}",
        f.limit.unwrap_or(1000).clamp(1, 10_000),
        f.offset.unwrap_or(0).max(0)
    ));
    // Safe: only constant fragments and numbered placeholders are formatted into `sql`.
    let mut q = sqlx::query(sqlx::AssertSqlSafe(sql));
    for b in binds {
        q = match b {
            Bind::Text(s) => q.bind(s),
            Bind::Int(i) => q.bind(i),
        };
    }
    let rows = q.fetch_all(db).await?;
    rows.iter().map(row_from).collect()
}

/// One session by id, on the pool or inside a transaction.
async fn find_session<'e>(
    db: impl sqlx::Executor<'e, Database = sqlx::Any>,
    id: &str,
) -> Result<SessionRow, StoreError> {
    let row = sqlx::query(sqlx::AssertSqlSafe(format!(
        "SELECT {COLUMNS} FROM sessions WHERE id = $1"
    )))
    .bind(id)
    .fetch_optional(db)
    .await?
    .ok_or_else(|| StoreError::NotFound(format!("session {id}")))?;
    row_from(&row)
}

impl Tx {
    /// The session as this transaction sees it (reads inside a transaction never wait for a
    /// second pooled connection: with every connection in a transaction, that would stall).
    pub async fn session(&mut self, id: &str) -> Result<SessionRow, StoreError> {
        find_session(&mut *self.conn, id).await
    }

    pub async fn create_session(&mut self, s: &NewSession) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO sessions (id, user_name, target_name, login, client_addr, node, protocol, status, started_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
        )
        .bind(&s.id.0)
        .bind(&s.user_name)
        .bind(&s.target_name)
        .bind(&s.login)
        .bind(&s.client_addr)
        .bind(&s.node)
        .bind(&s.protocol)
        .bind(SessionStatus::Connecting.as_str())
        .bind(now_millis())
        .execute(&mut *self.conn)
        .await?;
        Ok(())
    }

    /// Records what the session turned out to reach (the menu picks the target late).
    pub async fn set_session_target(
        &mut self,
        id: &SessionId,
        target: &str,
        login: &str,
    ) -> Result<(), StoreError> {
        sqlx::query("UPDATE sessions SET target_name = $1, login = $2 WHERE id = $3")
            .bind(target)
            .bind(login)
            .bind(&id.0)
            .execute(&mut *self.conn)
            .await?;
        Ok(())
    }

    pub async fn set_session_recording(
        &mut self,
        id: &SessionId,
        key: &str,
    ) -> Result<(), StoreError> {
        sqlx::query("UPDATE sessions SET recording_key = $1 WHERE id = $2")
            .bind(key)
            .bind(&id.0)
            .execute(&mut *self.conn)
            .await?;
        let first = crate::NewTrack {
            track: 0,
            recording_key: key,
            channel: None,
            kind: None,
            command: None,
        };
        self.record_track(id, &first).await
    }

    /// Adds to the session's risk score (the sum of the scores of the audited commands it
    /// ran); returns the new score.
    pub async fn add_session_risk(
        &mut self,
        id: &SessionId,
        score: i64,
    ) -> Result<i64, StoreError> {
        sqlx::query("UPDATE sessions SET risk = risk + $1 WHERE id = $2")
            .bind(score)
            .bind(&id.0)
            .execute(&mut *self.conn)
            .await?;
        let row = sqlx::query("SELECT risk FROM sessions WHERE id = $1")
            .bind(&id.0)
            .fetch_one(&mut *self.conn)
            .await?;
        Ok(row.try_get("risk")?)
    }

    pub async fn set_session_status(
        &mut self,
        id: &SessionId,
        status: SessionStatus,
    ) -> Result<(), StoreError> {
        sqlx::query("UPDATE sessions SET status = $1 WHERE id = $2 AND status <> 'closed'")
            .bind(status.as_str())
            .bind(&id.0)
            .execute(&mut *self.conn)
            .await?;
        Ok(())
    }

    /// Closes the session once; a second close keeps the first reason.
    pub async fn close_session(
        &mut self,
        id: &SessionId,
        reason: &EndReason,
        bytes_in: u64,
        bytes_out: u64,
    ) -> Result<(), StoreError> {
        sqlx::query("UPDATE sessions SET status = 'closed', ended_at = $1, end_reason = $2, bytes_in = $3, bytes_out = $4 WHERE id = $5 AND status <> 'closed'")
            .bind(now_millis())
            .bind(reason.to_string())
            .bind(i64::try_from(bytes_in).unwrap_or(i64::MAX))
            .bind(i64::try_from(bytes_out).unwrap_or(i64::MAX))
            .bind(&id.0)
            .execute(&mut *self.conn)
            .await?;
        Ok(())
    }

    /// Sessions `node` left open when it died: each is closed `interrupted`, with its `ended`
    /// event, in this transaction. Returns them.
    pub async fn interrupt_open_sessions(
        &mut self,
        node: &str,
        sealer: Option<Arc<dyn crate::log_chain::LogSigner>>,
    ) -> Result<Vec<SessionRow>, StoreError> {
        let open = list_sessions_on(
            &mut *self.conn,
            &SessionFilter {
                active: Some(true),
                node: Some(node.to_owned()),
                ..Default::default()
            },
        )
        .await?;
        for s in &open {
            let id = SessionId(s.id.clone());
            self.close_session(
                &id,
                &EndReason::Interrupted,
                u64::try_from(s.bytes_in).unwrap_or(0),
                u64::try_from(s.bytes_out).unwrap_or(0),
            )
            .await?;
            self.record(Evidence::session(
                EventKind::Ended,
                &id,
                None,
                serde_json::json!({ "reason": EndReason::Interrupted.to_string(), "bytes_in": s.bytes_in, "bytes_out": s.bytes_out }),
            ));
            // The node that marks the session signs its log as it stands.
            if let Some(sealer) = &sealer {
                self.seal_session_log(&s.id, Arc::clone(sealer));
            }
        }
        Ok(open)
    }
}
