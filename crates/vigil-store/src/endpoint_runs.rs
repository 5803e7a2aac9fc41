//! Runs of programs on workstations (issue 14): each is a closed session of protocol
//! `endpoint` with, when recorded, two uploads (output and input) whose durable length is
//! kept here so an interrupted upload resumes where the server's copy ends.

use sqlx::Row;
use sqlx::any::AnyRow;
use vigil_core::SessionStatus;

use crate::{NewSession, Store, StoreError, Tx};

/// The two recordings of a recorded run.
pub const UPLOAD_OBJECTS: [&str; 2] = ["output", "input"];

/// A run as its agent reports it once the program ended.
#[derive(Debug, Clone)]
pub struct NewRun<'a> {
    /// The UUID the agent made for the run.
    pub id: &'a str,
    pub agent_id: &'a str,
    /// The session to create (protocol `endpoint`, the workstation as its target).
    pub session: &'a NewSession,
    pub started_at: i64,
    pub ended_at: i64,
    pub end_reason: &'a str,
    pub record: bool,
}

/// One object of a recorded run.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct UploadRow {
    pub object: String,
    /// Bytes the server holds durably.
    pub received: i64,
    pub size: Option<i64>,
    pub sha256: Option<String>,
    pub finished_at: Option<i64>,
}

#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct RunRow {
    pub id: String,
    pub agent_id: String,
    pub session_id: String,
    pub record: bool,
    pub created_at: i64,
    /// Every object uploaded and the recording made (or nothing to upload).
    pub completed_at: Option<i64>,
    pub uploads: Vec<UploadRow>,
}

fn upload_from(r: &AnyRow) -> Result<UploadRow, StoreError> {
    Ok(UploadRow {
        object: r.try_get("object")?,
        received: r.try_get("received")?,
        size: r.try_get("size")?,
        sha256: r.try_get("sha256")?,
        finished_at: r.try_get("finished_at")?,
    })
}

async fn find_run(conn: &mut sqlx::AnyConnection, id: &str) -> Result<Option<RunRow>, StoreError> {
    let Some(r) = sqlx::query(
        "SELECT id, agent_id, session_id, record, created_at, completed_at FROM endpoint_runs WHERE id = $1",
    )
    .bind(id)
    .fetch_optional(&mut *conn)
    .await?
    else {
        return Ok(None);
    };
    let uploads = sqlx::query(
        "SELECT object, received, size, sha256, finished_at FROM endpoint_uploads WHERE run_id = $1 ORDER BY object DESC",
    )
    .bind(id)
    .fetch_all(&mut *conn)
    .await?
    .iter()
    .map(upload_from)
    .collect::<Result<_, _>>()?;
    Ok(Some(RunRow {
        id: r.try_get("id")?,
        agent_id: r.try_get("agent_id")?,
        session_id: r.try_get("session_id")?,
        record: r.try_get::<i64, _>("record")? != 0,
        created_at: r.try_get("created_at")?,
        completed_at: r.try_get("completed_at")?,
        uploads,
    }))
}

impl Tx {
    /// Creates the run and its session (closed: the program has ended); a recorded run gets
    /// its two empty uploads.
    pub async fn create_endpoint_run(
        &mut self,
        run: &NewRun<'_>,
        now_ms: i64,
    ) -> Result<RunRow, StoreError> {
        let s = run.session;
        sqlx::query(
            "INSERT INTO sessions (id, user_name, target_name, login, client_addr, node, protocol, status, started_at, ended_at, end_reason) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)",
        )
        .bind(&s.id.0)
        .bind(&s.user_name)
        .bind(&s.target_name)
        .bind(&s.login)
        .bind(&s.client_addr)
        .bind(&s.node)
        .bind(&s.protocol)
        .bind(SessionStatus::Closed.as_str())
        .bind(run.started_at)
        .bind(run.ended_at)
        .bind(run.end_reason)
        .execute(&mut *self.conn)
        .await?;
        sqlx::query(
            "INSERT INTO endpoint_runs (id, agent_id, session_id, record, created_at, completed_at) VALUES ($1, $2, $3, $4, $5, $6)",
        )
        .bind(run.id)
        .bind(run.agent_id)
        .bind(&s.id.0)
        .bind(i64::from(run.record))
        .bind(now_ms)
        .bind((!run.record).then_some(now_ms))
        .execute(&mut *self.conn)
        .await
        .map_err(crate::conflict(format!("run {}", run.id)))?;
        let mut uploads = Vec::new();
        if run.record {
            for object in UPLOAD_OBJECTS {
                sqlx::query(
                    "INSERT INTO endpoint_uploads (run_id, object, received) VALUES ($1, $2, 0)",
                )
                .bind(run.id)
                .bind(object)
                .execute(&mut *self.conn)
                .await?;
                uploads.push(UploadRow {
                    object: object.to_owned(),
                    received: 0,
                    size: None,
                    sha256: None,
                    finished_at: None,
                });
            }
        }
        Ok(RunRow {
            id: run.id.to_owned(),
            agent_id: run.agent_id.to_owned(),
            session_id: s.id.0.clone(),
            record: run.record,
            created_at: now_ms,
            completed_at: (!run.record).then_some(now_ms),
            uploads,
        })
    }

    /// The server now holds `to` bytes of the object durably, if it held `from` until now
    /// (false: another request moved it first, or the object is finished).
    pub async fn set_upload_received(
        &mut self,
        run: &str,
        object: &str,
        from: i64,
        to: i64,
    ) -> Result<bool, StoreError> {
        let done = sqlx::query("UPDATE endpoint_uploads SET received = $1 WHERE run_id = $2 AND object = $3 AND received = $4 AND finished_at IS NULL")
            .bind(to)
            .bind(run)
            .bind(object)
            .bind(from)
            .execute(&mut *self.conn)
            .await?;
        Ok(done.rows_affected() == 1)
    }

    /// The object is whole, checked against the size and SHA-256 its agent gave.
    pub async fn finish_upload(
        &mut self,
        run: &str,
        object: &str,
        size: i64,
        sha256: &str,
        now_ms: i64,
    ) -> Result<(), StoreError> {
        sqlx::query("UPDATE endpoint_uploads SET size = $1, sha256 = $2, finished_at = $3 WHERE run_id = $4 AND object = $5")
            .bind(size)
            .bind(sha256)
            .bind(now_ms)
            .bind(run)
            .bind(object)
            .execute(&mut *self.conn)
            .await?;
        Ok(())
    }

    /// Every object is in and the recording is made.
    pub async fn complete_endpoint_run(
        &mut self,
        run: &str,
        now_ms: i64,
    ) -> Result<(), StoreError> {
        sqlx::query(
            "UPDATE endpoint_runs SET completed_at = $1 WHERE id = $2 AND completed_at IS NULL",
        )
        .bind(now_ms)
        .bind(run)
        .execute(&mut *self.conn)
        .await?;
        Ok(())
    }
}

impl Store {
    /// The run `id`, with its uploads.
    pub async fn endpoint_run(&self, id: &str) -> Result<Option<RunRow>, StoreError> {
        let mut conn = self.pool.acquire().await?;
        find_run(&mut conn, id).await
    }
}
