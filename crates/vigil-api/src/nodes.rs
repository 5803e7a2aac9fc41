//! The cluster's nodes: who is up, where, and how many sessions each runs.

use axum::Json;
use axum::extract::{Path, State};
use vigil_core::Permission;

use crate::auth::Caller;
use crate::error::ApiResult;
use crate::state::AppState;

pub(crate) async fn list(
    State(state): State<AppState>,
    caller: Caller,
) -> ApiResult<Json<serde_json::Value>> {
    caller.require(Permission::ViewAuditLog)?;
    let nodes = state.store.nodes().await?;
    Ok(Json(serde_json::json!({
        "this_node": state.hub.node(),
        "nodes": nodes,
    })))
}

pub(crate) async fn remove(
    State(state): State<AppState>,
    caller: Caller,
    Path(name): Path<String>,
) -> ApiResult<Json<serde_json::Value>> {
    caller.require(Permission::ManageTargets)?;
    let was = state.admin.remove_node(&caller.actor(), &name).await?;
    Ok(Json(serde_json::json!({ "removed": name, "was": was })))
}
