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
        Ok(())
    }
}
