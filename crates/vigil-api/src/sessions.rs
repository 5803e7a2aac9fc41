//! The Remote Sessions screen's routes (seed 000): list with filters, one session, its log,
//! its recording, terminate, prevent purge, configure auditors. A user assigned as auditor of
//! a session may view that session's log, recording and live stream; every other action needs
//! its own permission.

use axum::Json;
use axum::extract::{Path, Query, State};
use serde::{Deserialize, Serialize};
use vigil_core::{Permission, SessionId};
use vigil_store::{PreventPurge, SessionEvent, SessionFilter, SessionRow, TrackRow};

use crate::auth::Caller;
use crate::error::{ApiError, ApiResult};
use crate::state::AppState;

#[derive(Debug, Default, Deserialize)]
pub(crate) struct ListQuery {
    /// `active` or `finished`.
    status: Option<String>,
    user: Option<String>,
    target: Option<String>,
    login: Option<String>,
    protocol: Option<String>,
    node: Option<String>,
    min_risk: Option<i64>,
    /// Started at or after, Unix milliseconds.
    from: Option<i64>,
    /// Started at or before, Unix milliseconds.
    to: Option<i64>,
    q: Option<String>,
    page: Option<i64>,
    per_page: Option<i64>,
}

#[derive(Serialize)]
pub(crate) struct SessionView {
    #[serde(flatten)]
    row: SessionRow,
    /// Milliseconds from start to end (or to now while active).
    duration_ms: i64,
    active: bool,
}

fn view(row: SessionRow) -> SessionView {
    let end = row.ended_at.unwrap_or_else(vigil_core::now_millis);
    SessionView {
        duration_ms: (end - row.started_at).max(0),
        active: row.status != "closed",
        row,
    }
}

#[derive(Serialize)]
pub(crate) struct SessionPage {
    sessions: Vec<SessionView>,
    page: i64,
    per_page: i64,
    has_more: bool,
}

pub(crate) async fn list(
    State(state): State<AppState>,
    caller: Caller,
    Query(q): Query<ListQuery>,
) -> ApiResult<Json<SessionPage>> {
    let per_page = q.per_page.unwrap_or(50).clamp(1, 500);
    let page = q.page.unwrap_or(1).max(1);
    let active = match q.status.as_deref() {
        None | Some("") | Some("all") => None,
        Some("active") => Some(true),
        Some("finished") => Some(false),
        Some(other) => {
            return Err(ApiError::BadRequest(format!(
                "status {other:?}: use active, finished or all"
            )));
        }
    };
    let filter = SessionFilter {
        active,
        user: q.user.filter(|v| !v.is_empty()),
        target: q.target.filter(|v| !v.is_empty()),
        login: q.login.filter(|v| !v.is_empty()),
        protocol: q.protocol.filter(|v| !v.is_empty()),
        node: q.node.filter(|v| !v.is_empty()),
        min_risk: q.min_risk,
        q: q.q,
        // Without the logs permission a user sees only the sessions assigned to them.
        auditor: (!caller.may(Permission::SessionLogs)).then(|| caller.name().to_owned()),
        from: q.from,
        to: q.to,
        // One more than asked tells whether another page exists.
        limit: Some(per_page + 1),
        offset: Some((page - 1) * per_page),
    };
    let mut rows = state.store.list_sessions(&filter).await?;
    let has_more = rows.len() as i64 > per_page;
    rows.truncate(usize::try_from(per_page).unwrap_or(50));
    Ok(Json(SessionPage {
        sessions: rows.into_iter().map(view).collect(),
        page,
        per_page,
        has_more,
    }))
}

/// The session, if `caller` holds `permission` or is assigned to audit it.
pub(crate) async fn visible(
    state: &AppState,
    caller: &Caller,
    id: &str,
    permission: Permission,
) -> ApiResult<SessionRow> {
    let row = state.store.session(id).await?;
    if caller.may(permission) || state.store.is_session_auditor(id, caller.name()).await? {
        Ok(row)
    } else {
        Err(ApiError::Forbidden(permission))
    }
}

#[derive(Serialize)]
pub(crate) struct SessionDetail {
    #[serde(flatten)]
    session: SessionView,
    prevent_purge: Option<PreventPurge>,
    auditors: Vec<String>,
    /// Whether this node runs the session (the live stream is served by that node only).
    live_here: bool,
    /// One recording track per recorded channel (`?track=N` on the recording and the live
    /// stream); empty once purged.
    tracks: Vec<TrackRow>,
}

pub(crate) async fn get(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> ApiResult<Json<SessionDetail>> {
    let row = visible(&state, &caller, &id, Permission::SessionLogs).await?;
    Ok(Json(SessionDetail {
        prevent_purge: state.store.prevent_purge(&id).await?,
        auditors: state.store.session_auditors(&id).await?,
        live_here: state.hub.is_local(&SessionId(id.clone())),
        tracks: state.store.recording_tracks(&id).await?,
        session: view(row),
    }))
}

pub(crate) async fn events(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> ApiResult<Json<Vec<SessionEvent>>> {
    visible(&state, &caller, &id, Permission::SessionLogs).await?;
    Ok(Json(state.store.session_events(&id).await?))
}

pub(crate) async fn verification(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> ApiResult<Json<vigil_session::verify::Verification>> {
    visible(&state, &caller, &id, Permission::SessionLogs).await?;
    vigil_session::verify::verify_session(
        &state.store,
        std::sync::Arc::clone(state.hub.recordings()),
        &id,
    )
    .await
    .map(Json)
    .map_err(|e| match e {
        vigil_session::verify::VerifyError::Store(e) => e.into(),
        e @ vigil_session::verify::VerifyError::Read { .. } => ApiError::Internal(e.to_string()),
    })
}

#[derive(Deserialize, schemars::JsonSchema)]
pub(crate) struct PreventPurgeRequest {
    reason: String,
}

pub(crate) async fn prevent_purge(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    Json(req): Json<PreventPurgeRequest>,
) -> ApiResult<Json<Option<PreventPurge>>> {
    caller.require(Permission::SessionPreventPurge)?;
    state
        .admin
        .prevent_purge(&caller.actor(), &id, &req.reason)
        .await?;
    Ok(Json(state.store.prevent_purge(&id).await?))
}

pub(crate) async fn allow_purge(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> ApiResult<Json<serde_json::Value>> {
    caller.require(Permission::SessionPreventPurge)?;
    state.admin.allow_purge(&caller.actor(), &id).await?;
    Ok(Json(serde_json::json!({ "prevent_purge": null })))
}

#[derive(Serialize)]
pub(crate) struct Auditors {
    auditors: Vec<String>,
    /// Users who can be added (enabled users), for the console's dropdown.
    candidates: Vec<String>,
}

pub(crate) async fn auditors(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> ApiResult<Json<Auditors>> {
    caller.require(Permission::SessionConfigureAuditors)?;
    state.store.session(&id).await?;
    Ok(Json(Auditors {
        auditors: state.store.session_auditors(&id).await?,
        candidates: state
            .store
            .list_users()
            .await?
            .into_iter()
            .filter(|u| !u.disabled)
            .map(|u| u.name)
            .collect(),
    }))
}

#[derive(Deserialize, schemars::JsonSchema)]
pub(crate) struct AuditorsRequest {
    users: Vec<String>,
}

pub(crate) async fn set_auditors(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    Json(req): Json<AuditorsRequest>,
) -> ApiResult<Json<Auditors>> {
    caller.require(Permission::SessionConfigureAuditors)?;
    state
        .admin
        .set_auditors(&caller.actor(), &id, &req.users)
        .await?;
    auditors(State(state), caller, Path(id)).await
}
