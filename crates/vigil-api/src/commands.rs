//! Commands across sessions: "who ran X where" (`GET /api/v1/commands?q=TEXT`).

use axum::Json;
use axum::extract::{Query, State};
use serde::Deserialize;
use vigil_core::Permission;
use vigil_store::CommandHit;

use crate::auth::Caller;
use crate::error::{ApiError, ApiResult};
use crate::state::AppState;

#[derive(Deserialize)]
pub(crate) struct CommandQuery {
    q: Option<String>,
    limit: Option<i64>,
}

pub(crate) async fn search(
    State(state): State<AppState>,
    caller: Caller,
    Query(query): Query<CommandQuery>,
) -> ApiResult<Json<Vec<CommandHit>>> {
    caller.require(Permission::SessionLogs)?;
    let text = query.q.unwrap_or_default();
    if text.trim().is_empty() {
        return Err(ApiError::BadRequest(
            "q is missing: give part of a command to search for".into(),
        ));
    }
    let limit = query.limit.unwrap_or(50).clamp(1, 1000);
    Ok(Json(state.store.search_commands(&text, limit).await?))
}
