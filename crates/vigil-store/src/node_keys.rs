//! The public halves of the nodes' recording keys (issue 15). A node registers its key at
//! start; verification trusts exactly the keys listed here.

use sqlx::Row;

use crate::{Store, StoreError};

/// A node's recording key, as every node sees it.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct NodeKeyRow {
    /// `ed25519:` and the base64 of the key.
    pub public_key: String,
    pub fingerprint: String,
    /// The node that registered it.
    pub node: String,
    pub created_at: i64,
}

impl Store {
    /// Registers a node's recording key (again: nothing changes).
    pub async fn register_node_key(
        &self,
        node: &str,
        public_key: &str,
        fingerprint: &str,
        at: i64,
    ) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO node_keys (public_key, fingerprint, node, created_at) VALUES ($1, $2, $3, $4) \
             ON CONFLICT (public_key) DO NOTHING",
        )
        .bind(public_key)
        .bind(fingerprint)
        .bind(node)
        .bind(at)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// Every node's recording key, oldest first.
    pub async fn node_keys(&self) -> Result<Vec<NodeKeyRow>, StoreError> {
        let rows = sqlx::query(
            "SELECT public_key, fingerprint, node, created_at FROM node_keys ORDER BY created_at, public_key",
        )
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|r| {
                Ok(NodeKeyRow {
                    public_key: r.try_get("public_key")?,
                    fingerprint: r.try_get("fingerprint")?,
                    node: r.try_get("node")?,
                    created_at: r.try_get("created_at")?,
                })
            })
            .collect()
    }
}
