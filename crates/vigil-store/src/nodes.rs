//! The cluster's members (issue 16): each node registers itself, heartbeats, and leaves when
//! it shuts down cleanly; a node that stops heartbeating is marked down by the first survivor
//! to see it, which closes the dead node's open sessions as interrupted in the same
//! transaction. The conditional update makes that happen once, whichever nodes race for it.

use std::sync::Arc;

use sqlx::Row;
use vigil_core::{EventKind, Evidence, SYSTEM_ACTOR, now_millis};

use crate::log_chain::LogSigner;
use crate::{SessionRow, Store, StoreError, Tx};

/// A node's state in the cluster.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum NodeState {
    Up,
    /// Stopped heartbeating; its sessions were closed as interrupted.
    Down,
    /// Shut down cleanly.
    Left,
}

impl NodeState {
    pub fn as_str(self) -> &'static str {
        match self {
            NodeState::Up => "up",
            NodeState::Down => "down",
            NodeState::Left => "left",
        }
    }

    fn parse(s: &str) -> Result<NodeState, StoreError> {
        match s {
            "up" => Ok(NodeState::Up),
            "down" => Ok(NodeState::Down),
            "left" => Ok(NodeState::Left),
            other => Err(StoreError::Invalid {
                what: "node state",
                why: format!("{other:?} is not up, down or left"),
            }),
        }
    }
}

/// A member of the cluster, as every node sees it.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct NodeRow {
    pub name: String,
    /// Where peers reach the node's link.
    pub url: String,
    pub version: String,
    pub started_at: i64,
    pub heartbeat_at: i64,
    pub state: NodeState,
    /// Sessions open on it.
    pub live_sessions: i64,
    /// The SHA-256 (hex) of the certificate its console presents; empty for plain HTTP.
    pub cert_sha256: String,
}

/// How a node says where peers reach it, as it joins.
#[derive(Debug, Clone, Copy)]
pub struct NodeAddress<'a> {
    pub url: &'a str,
    /// The SHA-256 (hex) of the certificate served at `url` (empty for plain HTTP).
    pub cert_sha256: &'a str,
    pub version: &'a str,
}

/// What a heartbeat found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Heartbeat {
    Alive,
    /// The cluster marked this node down meanwhile (or an administrator removed it after
    /// that): its sessions were closed as interrupted, and it must not go on as if nothing
    /// happened.
    MarkedDown,
    /// This node has left (it is shutting down): a beat that lands after the leave must not
    /// join it again, or the cluster would later mark a stopped node down.
    Left,
}

/// A node the sweep marked down, and the sessions it closed for it.
#[derive(Debug, Clone)]
pub struct DownNode {
    pub name: String,
    pub last_heartbeat: i64,
    pub interrupted: Vec<SessionRow>,
}

/// A node's columns, with its live sessions counted.
const NODE_COLUMNS: &str = "n.name, n.url, n.version, n.started_at, n.heartbeat_at, n.state, n.cert_sha256, \
     (SELECT COUNT(*) FROM sessions s WHERE s.node = n.name AND s.status <> 'closed') AS live";

fn node_from(r: &sqlx::any::AnyRow) -> Result<NodeRow, StoreError> {
    Ok(NodeRow {
        name: r.try_get("name")?,
        url: r.try_get("url")?,
        version: r.try_get("version")?,
        started_at: r.try_get("started_at")?,
        heartbeat_at: r.try_get("heartbeat_at")?,
        state: NodeState::parse(&r.try_get::<String, _>("state")?)?,
        live_sessions: r.try_get("live")?,
        cert_sha256: r.try_get("cert_sha256")?,
    })
}

impl Store {
    /// Registers this node as up (again, after a restart), with its evidence.
    pub async fn join_cluster(&self, name: &str, at: NodeAddress<'_>) -> Result<(), StoreError> {
        let NodeAddress {
            url,
            cert_sha256,
            version,
        } = at;
        let now = now_millis();
        let mut tx = self.begin().await?;
        sqlx::query(
            "INSERT INTO nodes (name, url, version, started_at, heartbeat_at, state, cert_sha256) VALUES ($1, $2, $3, $4, $4, 'up', $5) \
             ON CONFLICT (name) DO UPDATE SET url = $2, version = $3, started_at = $4, heartbeat_at = $4, state = 'up', cert_sha256 = $5",
        )
        .bind(name)
        .bind(url)
        .bind(version)
        .bind(now)
        .bind(cert_sha256)
        .execute(&mut *tx.conn)
        .await?;
        tx.record(Evidence::admin(
            EventKind::NodeJoined,
            SYSTEM_ACTOR,
            name,
            serde_json::json!({ "url": url, "version": version, "via": "node" }),
        ));
        tx.commit().await?;
        Ok(())
    }

    /// Says this node is alive, and what the cluster thinks of it when the beat is refused.
    pub async fn heartbeat(&self, name: &str) -> Result<Heartbeat, StoreError> {
        let done =
            sqlx::query("UPDATE nodes SET heartbeat_at = $1 WHERE name = $2 AND state = 'up'")
                .bind(now_millis())
                .bind(name)
                .execute(&self.pool)
                .await?;
        if done.rows_affected() == 1 {
            return Ok(Heartbeat::Alive);
        }
        let state: Option<String> = sqlx::query_scalar("SELECT state FROM nodes WHERE name = $1")
            .bind(name)
            .fetch_optional(&self.pool)
            .await?;
        Ok(match state.as_deref() {
            Some("left") => Heartbeat::Left,
            _ => Heartbeat::MarkedDown,
        })
    }

    /// This node shuts down cleanly (its sessions are already closed).
    pub async fn leave_cluster(&self, name: &str) -> Result<(), StoreError> {
        let mut tx = self.begin().await?;
        let done = sqlx::query("UPDATE nodes SET state = 'left' WHERE name = $1 AND state = 'up'")
            .bind(name)
            .execute(&mut *tx.conn)
            .await?;
        if done.rows_affected() == 1 {
            tx.record(Evidence::admin(
                EventKind::NodeLeft,
                SYSTEM_ACTOR,
                name,
                serde_json::json!({ "via": "node" }),
            ));
        }
        tx.commit().await?;
        Ok(())
    }

    /// Every node, by name, with its live session count.
    pub async fn nodes(&self) -> Result<Vec<NodeRow>, StoreError> {
        let rows = sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT {NODE_COLUMNS} FROM nodes n ORDER BY n.name"
        )))
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(node_from).collect()
    }

    /// One node.
    pub async fn node(&self, name: &str) -> Result<NodeRow, StoreError> {
        let row = sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT {NODE_COLUMNS} FROM nodes n WHERE n.name = $1"
        )))
        .bind(name)
        .fetch_optional(&self.pool)
        .await?
        .ok_or_else(|| StoreError::NotFound(format!("node {name}")))?;
        node_from(&row)
    }

    /// Marks down every node that is up and has not heartbeaten for `timeout_ms`, closing its
    /// open sessions as interrupted (their logs sealed by `sealer`, the observer's key), one
    /// transaction per node. `observer` is the node that saw it (never marked by itself).
    pub async fn mark_down_silent_nodes(
        &self,
        observer: &str,
        timeout_ms: i64,
        sealer: Option<Arc<dyn LogSigner>>,
    ) -> Result<Vec<DownNode>, StoreError> {
        let cutoff = now_millis() - timeout_ms;
        let silent: Vec<(String, i64)> = sqlx::query(
            "SELECT name, heartbeat_at FROM nodes WHERE state = 'up' AND heartbeat_at < $1 AND name <> $2 ORDER BY name",
        )
        .bind(cutoff)
        .bind(observer)
        .fetch_all(&self.pool)
        .await?
        .iter()
        .map(|r| Ok((r.try_get("name")?, r.try_get("heartbeat_at")?)))
        .collect::<Result<_, StoreError>>()?;
        let mut down = Vec::new();
        for (name, last_heartbeat) in silent {
            let mut tx = self.begin().await?;
            // Only one observer wins: the row must still be up and silent.
            let done = sqlx::query(
                "UPDATE nodes SET state = 'down' WHERE name = $1 AND state = 'up' AND heartbeat_at < $2",
            )
            .bind(&name)
            .bind(cutoff)
            .execute(&mut *tx.conn)
            .await?;
            if done.rows_affected() != 1 {
                continue;
            }
            let interrupted = tx.interrupt_open_sessions(&name, sealer.clone()).await?;
            tx.record(Evidence::admin(
                EventKind::NodeDown,
                SYSTEM_ACTOR,
                &name,
                serde_json::json!({
                    "last_heartbeat": last_heartbeat,
                    "interrupted": interrupted.iter().map(|s| s.id.clone()).collect::<Vec<_>>(),
                    "node": observer,
                    "via": "node",
                }),
            ));
            tx.commit().await?;
            down.push(DownNode {
                name,
                last_heartbeat,
                interrupted,
            });
        }
        Ok(down)
    }
}

impl Tx {
    /// Removes a node that is not up from the list; returns the state it was in. (The
    /// administrator's evidence goes with it: see `vigil_session::Admin::remove_node`.)
    pub async fn remove_node(&mut self, name: &str) -> Result<NodeState, StoreError> {
        let state: Option<String> = sqlx::query_scalar("SELECT state FROM nodes WHERE name = $1")
            .bind(name)
            .fetch_optional(&mut *self.conn)
            .await?;
        let state =
            NodeState::parse(&state.ok_or_else(|| StoreError::NotFound(format!("node {name}")))?)?;
        if state == NodeState::Up {
            return Err(StoreError::Invalid {
                what: "node",
                why: format!(
                    "{name} is up: stop it first (a node is removed once it is down or has left)"
                ),
            });
        }
        sqlx::query("DELETE FROM nodes WHERE name = $1")
            .bind(name)
            .execute(&mut *self.conn)
            .await?;
        Ok(state)
    }
}
