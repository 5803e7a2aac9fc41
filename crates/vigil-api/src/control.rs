//! Live control (seeds 000 and 001): terminate a session, lock and unlock the operator's
//! interaction, release a locked user. Each is one `Admin` operation: the node that runs the
//! session acts at once, another node's session is reached through the command queue, and
//! the session log and the administration log get their entries with the change.

use axum::Json;
use axum::extract::{Path, State};
use vigil_core::{Permission, SessionId};

use crate::auth::Caller;
use crate::error::ApiResult;
use crate::state::AppState;

pub(crate) async fn terminate(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> ApiResult<Json<serde_json::Value>> {
    caller.require(Permission::SessionTerminate)?;
    state
        .admin
        .terminate(&caller.actor(), &SessionId(id.clone()))
        .await?;
    Ok(Json(
        serde_json::json!({ "terminated": true, "session": id }),
    ))
}

async fn set_lock(
    state: &AppState,
    caller: &Caller,
    id: &str,
    lock: bool,
) -> ApiResult<Json<serde_json::Value>> {
    caller.require(Permission::SessionLock)?;
    let row = state
        .admin
        .set_lock(&caller.actor(), &SessionId(id.to_owned()), lock)
        .await?;
    Ok(Json(
        serde_json::json!({ "session": id, "locked": lock, "user": row.user_name }),
    ))
}

pub(crate) async fn lock(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> ApiResult<Json<serde_json::Value>> {
    set_lock(&state, &caller, &id, true).await
}

pub(crate) async fn unlock(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> ApiResult<Json<serde_json::Value>> {
    set_lock(&state, &caller, &id, false).await
}

/// Lets a user whose interaction was locked start sessions again; their locked sessions are
/// unlocked too.
pub(crate) async fn release(
    State(state): State<AppState>,
    caller: Caller,
    Path(name): Path<String>,
) -> ApiResult<Json<serde_json::Value>> {
    caller.require(Permission::SessionLock)?;
    let was = state.admin.release(&caller.actor(), &name).await?;
    Ok(Json(
        serde_json::json!({ "user": name, "released": true, "was_locked_by": was }),
    ))
}
