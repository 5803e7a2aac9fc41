//! The cluster's members, as an administrator changes them.

use vigil_core::EventKind;
use vigil_store::NodeState;

use super::{Actor, Admin, AdminError};

impl Admin {
    /// Removes a node that is down or has left from the list (it may join again by starting).
    pub async fn remove_node(&self, by: &Actor, name: &str) -> Result<NodeState, AdminError> {
        let mut tx = self.store.begin().await?;
        let state = tx.remove_node(name).await?;
        tx.record(by.entry(
            EventKind::NodeRemoved,
            name,
            serde_json::json!({ "state": state.as_str() }),
        ));
        tx.commit().await?;
        Ok(state)
    }
}
