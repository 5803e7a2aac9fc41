//! File-transfer policies of targets and logins (issue 13).

use axum::Json;
use axum::extract::{Path, Query, State};
use serde::{Deserialize, Serialize};
use vigil_core::{Permission, TransferPolicy};
use vigil_store::PolicyScope;

use crate::auth::Caller;
use crate::error::ApiResult;
use crate::state::AppState;

/// `?login=LOGIN`: one login's policy instead of the target's.
#[derive(Deserialize)]
pub(crate) struct ScopeQuery {
    login: Option<String>,
}

impl ScopeQuery {
    fn of<'a>(&'a self, target: &'a str) -> PolicyScope<'a> {
        PolicyScope {
            target,
            login: self.login.as_deref(),
        }
    }
}

/// A scope's own policy (none when it has none) and the one its sessions run under.
#[derive(Serialize)]
pub(crate) struct PolicyView {
    policy: Option<TransferPolicy>,
    effective: TransferPolicy,
}

async fn view(state: &AppState, scope: &PolicyScope<'_>) -> ApiResult<Json<PolicyView>> {
    let policy = state.store.transfer_policy(scope).await?;
    let effective = match scope.login {
        Some(login) => {
            state
                .store
                .effective_transfer_policy(scope.target, login)
                .await?
        }
        None => policy.clone().unwrap_or_default(),
    };
    Ok(Json(PolicyView { policy, effective }))
}

pub(crate) async fn show(
    State(state): State<AppState>,
    caller: Caller,
    Path(target): Path<String>,
    Query(q): Query<ScopeQuery>,
) -> ApiResult<Json<PolicyView>> {
    caller.require(Permission::ManageTargets)?;
    let scope = q.of(&target);
    view(&state, &scope).await
}

pub(crate) async fn set(
    State(state): State<AppState>,
    caller: Caller,
    Path(target): Path<String>,
    Query(q): Query<ScopeQuery>,
    Json(policy): Json<TransferPolicy>,
) -> ApiResult<Json<PolicyView>> {
    caller.require(Permission::ManageTargets)?;
    let scope = q.of(&target);
    state
        .admin
        .set_transfer_policy(&caller.actor(), &scope, policy)
        .await?;
    view(&state, &scope).await
}

pub(crate) async fn clear(
    State(state): State<AppState>,
    caller: Caller,
    Path(target): Path<String>,
    Query(q): Query<ScopeQuery>,
) -> ApiResult<Json<PolicyView>> {
    caller.require(Permission::ManageTargets)?;
    let scope = q.of(&target);
    state
        .admin
        .clear_transfer_policy(&caller.actor(), &scope)
        .await?;
    view(&state, &scope).await
}
