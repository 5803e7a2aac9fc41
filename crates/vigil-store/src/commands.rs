//! Control requests for live sessions, queued in the database so that any process (the CLI,
//! another node) can reach the node that owns a session.

use sqlx::Row;
use vigil_core::now_millis;

use crate::{Store, StoreError, Tx};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ControlCommand {
    Terminate,
    Lock,
    Unlock,
}

impl ControlCommand {
    pub fn as_str(self) -> &'static str {
        match self {
            ControlCommand::Terminate => "terminate",
            ControlCommand::Lock => "lock",
            ControlCommand::Unlock => "unlock",
        }
    }
    fn parse(s: &str) -> Option<Self> {
        match s {
            "terminate" => Some(ControlCommand::Terminate),
            "lock" => Some(ControlCommand::Lock),
            "unlock" => Some(ControlCommand::Unlock),
            _ => None,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PendingCommand {
    pub id: i64,
    pub session_id: String,
    pub command: ControlCommand,
    pub actor: String,
}

impl Store {
    /// Claims every pending command for `node`: each is returned once.
    pub async fn take_commands(&self, node: &str) -> Result<Vec<PendingCommand>, StoreError> {
        let mut tx = self.begin().await?;
        let rows = sqlx::query("SELECT id, session_id, command, actor FROM session_commands WHERE node = $1 AND done_at IS NULL ORDER BY id")
            .bind(node)
            .fetch_all(&mut *tx.conn)
            .await?;
        let mut out = Vec::with_capacity(rows.len());
        for r in rows {
            let id: i64 = r.try_get("id")?;
            // Only the claimer whose update lands gets the command, even with several pollers.
            let claimed = sqlx::query(
                "UPDATE session_commands SET done_at = $1 WHERE id = $2 AND done_at IS NULL",
            )
            .bind(now_millis())
            .bind(id)
            .execute(&mut *tx.conn)
            .await?;
            let command: String = r.try_get("command")?;
            if let (1, Some(command)) = (claimed.rows_affected(), ControlCommand::parse(&command)) {
                out.push(PendingCommand {
                    id,
                    session_id: r.try_get("session_id")?,
                    command,
                    actor: r.try_get("actor")?,
                });
            }
        }
        tx.commit().await?;
        Ok(out)
    }
}

impl Tx {
    /// Queues `command` for the node that owns the live session.
    pub async fn enqueue_command(
        &mut self,
        session_id: &str,
        command: ControlCommand,
        actor: &str,
    ) -> Result<(), StoreError> {
        let session = self.session(session_id).await?;
        if session.status == "closed" {
            return Err(StoreError::Invalid {
                what: "session",
                why: format!("{session_id} has already ended"),
            });
        }
        sqlx::query("INSERT INTO session_commands (session_id, node, command, actor, created_at) VALUES ($1, $2, $3, $4, $5)")
            .bind(session_id)
            .bind(&session.node)
            .bind(command.as_str())
            .bind(actor)
            .bind(now_millis())
            .execute(&mut *self.conn)
            .await?;
        if self.store.backend == crate::Backend::Postgres {
            // Delivered at commit: the owning node takes the command at once.
            sqlx::query("SELECT pg_notify($1, $2)")
                .bind(COMMANDS_CHANNEL)
                .bind(&session.node)
                .execute(&mut *self.conn)
                .await?;
        }
        Ok(())
    }
}

/// The PostgreSQL channel a queued control command is announced on; the payload names the
/// node that runs the session.
const COMMANDS_CHANNEL: &str = "vigil_commands";

impl Store {
    /// Wakes `wake` whenever any process queues a control command for `node` (PostgreSQL
    /// LISTEN/NOTIFY, on a connection of its own), and once after each (re)connection, for
    /// what was queued meanwhile. Returns at once on SQLite, whose queue is only polled.
    /// Runs until the process ends; a lost connection is made again after a second.
    pub async fn announce_commands_to(
        &self,
        node: &str,
        wake: std::sync::Arc<tokio::sync::Notify>,
    ) {
        if self.backend != crate::Backend::Postgres {
            return;
        }
        loop {
            if let Err(e) = self.listen_for_commands(node, &wake).await {
                tracing::warn!(error = %e, "the control command listener stopped; listening again in a second");
            }
            tokio::time::sleep(std::time::Duration::from_secs(1)).await;
        }
    }

    /// One connection's worth of [`Store::announce_commands_to`]: returns when it fails.
    async fn listen_for_commands(
        &self,
        node: &str,
        wake: &tokio::sync::Notify,
    ) -> Result<(), sqlx::Error> {
        let mut listener = sqlx::postgres::PgListener::connect(&self.url).await?;
        listener.listen(COMMANDS_CHANNEL).await?;
        wake.notify_one();
        loop {
            match listener.try_recv().await? {
                Some(n) if n.payload() != node => {}
                // Ours, or the connection was lost and made again: commands queued meanwhile
                // are looked for.
                _ => wake.notify_one(),
            }
        }
    }
}
