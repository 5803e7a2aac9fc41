//! Failed sign-ins this node counts (the console's and SSH's together, per user name and per
//! client address): who is blocked and for how long, and clearing one.

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
    caller.require(Permission::ManageUsers)?;
    let limiter = state.hub.sign_ins();
    let (max_failures, window) = limiter.policy();
    Ok(Json(serde_json::json!({
        "node": state.hub.node(),
        "max_failures": max_failures,
        "window_secs": window.as_secs(),
        "limited": limiter.limited(),
    })))
}

pub(crate) async fn clear(
    State(state): State<AppState>,
    caller: Caller,
    Path(key): Path<String>,
) -> ApiResult<Json<serde_json::Value>> {
    caller.require(Permission::ManageUsers)?;
    state
        .admin
        .clear_sign_in_limit(&caller.actor(), &key)
        .await?;
    Ok(Json(serde_json::json!({ "cleared": key })))
}
