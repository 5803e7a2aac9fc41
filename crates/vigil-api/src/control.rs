//! Live control (seeds 000 and 001): terminate a session, lock and unlock the operator's
//! interaction, release a locked user. The node that runs the session acts at once; a session
//! on another node is reached through the command queue. Every action is in the session log
//! (with its actor) and the administration log.

use axum::Json;
use axum::extract::{Path, State};
use vigil_core::{EventKind, Permission, SessionId};
use vigil_session::Control;
use vigil_store::ControlCommand;

use crate::auth::Caller;
use crate::error::{ApiError, ApiResult};
use crate::state::AppState;

async fn live_row(state: &AppState, id: &str) -> ApiResult<vigil_store::SessionRow> {
    let row = state.store.session(id).await?;
    if row.status == "closed" {
        return Err(ApiError::Conflict(format!(
            "session {id} has already ended"
        )));
    }
    Ok(row)
}

pub(crate) async fn terminate(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> ApiResult<Json<serde_json::Value>> {
    caller.require(Permission::SessionTerminate)?;
    let row = live_row(&state, &id).await?;
    let sid = SessionId(id.clone());
    let by = caller.name().to_owned();
    state
        .hub
        .session_event(
            &sid,
            EventKind::TerminateRequested,
            Some(&by),
            serde_json::json!({ "addr": caller.addr }),
        )
        .await;
    // The owning node ends it at once; another node's session is reached through the queue.
    if !state
        .hub
        .control(&sid, Control::Terminate { by: by.clone() })
    {
        state
            .store
            .enqueue_command(&id, ControlCommand::Terminate, &by)
            .await?;
    }
    state
        .store
        .audit(&by, "session_terminated", &id, &serde_json::json!({ "addr": caller.addr, "user": row.user_name, "target": row.target_name }))
        .await?;
    Ok(Json(
        serde_json::json!({ "terminated": true, "session": id }),
    ))
}

/// Locks or unlocks, here or through the owning node.
async fn set_lock(
    state: &AppState,
    caller: &Caller,
    id: &str,
    lock: bool,
) -> ApiResult<Json<serde_json::Value>> {
    caller.require(Permission::SessionLock)?;
    let row = live_row(state, id).await?;
    let sid = SessionId(id.to_owned());
    let by = caller.name();
    if state.hub.is_local(&sid) {
        let done = if lock {
            state.hub.lock(&sid, by).await
        } else {
            state.hub.unlock(&sid, by).await
        };
        done?;
    } else {
        let command = if lock {
            ControlCommand::Lock
        } else {
            ControlCommand::Unlock
        };
        state.store.enqueue_command(id, command, by).await?;
    }
    state
        .store
        .audit(
            by,
            if lock {
                "session_locked"
            } else {
                "session_unlocked"
            },
            id,
            &serde_json::json!({ "addr": caller.addr, "user": row.user_name }),
        )
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
    let was = state.hub.release_user(&name, caller.name()).await?;
    state
        .store
        .audit(
            caller.name(),
            "user_released",
            &name,
            &serde_json::json!({ "addr": caller.addr, "locked_by": was }),
        )
        .await?;
    Ok(Json(
        serde_json::json!({ "user": name, "released": true, "was_locked_by": was }),
    ))
}
