//! The endpoint manager for administrators (issue 14): enrolment tokens, workstations and
//! the access policies their agents enforce.

use std::time::Duration;

use axum::Json;
use axum::extract::{Path, State};
use serde::{Deserialize, Serialize};
use vigil_core::{AgentPolicy, Permission, PolicySubject};
use vigil_session::AGENT_TOKEN_VALIDITY;
use vigil_store::{AgentPolicyRow, AgentRow};

use crate::auth::Caller;
use crate::error::{ApiError, ApiResult};
use crate::state::AppState;

pub(crate) async fn list(
    State(state): State<AppState>,
    caller: Caller,
) -> ApiResult<Json<Vec<AgentRow>>> {
    caller.require(Permission::ManageEndpoints)?;
    Ok(Json(state.store.agents().await?))
}

#[derive(Deserialize, schemars::JsonSchema)]
pub(crate) struct TokenRequest {
    /// Hours the token may be used (default 24).
    valid_hours: Option<u64>,
}

#[derive(Serialize)]
pub(crate) struct NewToken {
    /// Shown once; only its SHA-256 is kept.
    token: String,
    expires_at: i64,
}

pub(crate) async fn token(
    State(state): State<AppState>,
    caller: Caller,
    Json(req): Json<TokenRequest>,
) -> ApiResult<Json<NewToken>> {
    caller.require(Permission::ManageEndpoints)?;
    let valid = match req.valid_hours {
        None => AGENT_TOKEN_VALIDITY,
        Some(0) => return Err(ApiError::BadRequest("valid_hours: give at least 1".into())),
        Some(h) => Duration::from_secs(h.saturating_mul(3600)),
    };
    let (token, expires_at) = state
        .admin
        .create_agent_token(&caller.actor(), valid)
        .await?;
    let token = token
        .expose_str()
        .ok_or_else(|| ApiError::Internal("token is not text".into()))?
        .to_owned();
    Ok(Json(NewToken { token, expires_at }))
}

pub(crate) async fn approve(
    State(state): State<AppState>,
    caller: Caller,
    Path(host): Path<String>,
) -> ApiResult<Json<AgentRow>> {
    caller.require(Permission::ManageEndpoints)?;
    Ok(Json(
        state.admin.approve_agent(&caller.actor(), &host).await?,
    ))
}

pub(crate) async fn remove(
    State(state): State<AppState>,
    caller: Caller,
    Path(host): Path<String>,
) -> ApiResult<Json<serde_json::Value>> {
    caller.require(Permission::ManageEndpoints)?;
    state.admin.remove_agent(&caller.actor(), &host).await?;
    Ok(Json(serde_json::json!({ "removed": host })))
}

pub(crate) async fn policies(
    State(state): State<AppState>,
    caller: Caller,
) -> ApiResult<Json<Vec<AgentPolicyRow>>> {
    caller.require(Permission::ManageEndpoints)?;
    Ok(Json(state.store.agent_policies().await?))
}

fn yes() -> bool {
    true
}

/// What a policy's subject may be: a user, or a group (the user's primary group).
pub(crate) const SUBJECT_KINDS: [&str; 2] = ["user", "group"];

fn subject_kind_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
    crate::field_schema::one_of(SUBJECT_KINDS)
}

/// A new access policy as the console and API clients send it.
#[derive(Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct NewPolicy {
    name: String,
    #[serde(default = "yes")]
    enabled: bool,
    path: String,
    #[serde(default)]
    symlink: bool,
    #[serde(default = "yes")]
    audit: bool,
    #[serde(default)]
    record: bool,
    /// `user` or `group` (the user's primary group).
    #[schemars(schema_with = "subject_kind_schema")]
    subject_kind: String,
    subject_name: String,
    /// One workstation's host name; absent or empty: every workstation.
    #[serde(default)]
    workstation: Option<String>,
}

pub(crate) async fn add_policy(
    State(state): State<AppState>,
    caller: Caller,
    Json(p): Json<NewPolicy>,
) -> ApiResult<Json<AgentPolicyRow>> {
    caller.require(Permission::ManageEndpoints)?;
    let subject = match p.subject_kind.as_str() {
        "user" => PolicySubject::User(p.subject_name),
        "group" => PolicySubject::Group(p.subject_name),
        other => {
            return Err(ApiError::BadRequest(format!(
                "subject_kind {other:?}: use one of {}",
                SUBJECT_KINDS.join(", ")
            )));
        }
    };
    let policy = AgentPolicy {
        name: p.name,
        enabled: p.enabled,
        path: p.path,
        symlink: p.symlink,
        audit: p.audit,
        record: p.record,
        subject,
        workstation: p.workstation.filter(|w| !w.trim().is_empty()),
    };
    Ok(Json(
        state
            .admin
            .add_agent_policy(&caller.actor(), policy)
            .await?,
    ))
}

#[derive(Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct PolicyChange {
    enabled: bool,
}

pub(crate) async fn change_policy(
    State(state): State<AppState>,
    caller: Caller,
    Path(name): Path<String>,
    Json(change): Json<PolicyChange>,
) -> ApiResult<Json<AgentPolicyRow>> {
    caller.require(Permission::ManageEndpoints)?;
    Ok(Json(
        state
            .admin
            .set_agent_policy_enabled(&caller.actor(), &name, change.enabled)
            .await?,
    ))
}

pub(crate) async fn remove_policy(
    State(state): State<AppState>,
    caller: Caller,
    Path(name): Path<String>,
) -> ApiResult<Json<serde_json::Value>> {
    caller.require(Permission::ManageEndpoints)?;
    state
        .admin
        .remove_agent_policy(&caller.actor(), &name)
        .await?;
    Ok(Json(serde_json::json!({ "removed": name })))
}
