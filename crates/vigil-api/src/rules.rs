//! Audited-command rules: list, add, change (enable, disable), remove. A pattern that does
//! not compile is refused with where and why; a change applies to sessions that start after.

use axum::Json;
use axum::extract::{Path, State};
use serde::Deserialize;
use vigil_audit::rules::{Action, Pattern, Rule, Scope};
use vigil_core::Permission;
use vigil_store::RuleRow;

use crate::auth::Caller;
use crate::error::{ApiError, ApiResult};
use crate::state::AppState;

pub(crate) async fn list(
    State(state): State<AppState>,
    caller: Caller,
) -> ApiResult<Json<Vec<RuleRow>>> {
    caller.require(Permission::ManageRules)?;
    Ok(Json(state.store.audit_rules().await?))
}

/// A rule as the console sends it; on a change, what is absent stays as it was.
#[derive(Deserialize, Default, schemars::JsonSchema)]
pub(crate) struct RuleBody {
    #[serde(default)]
    #[schemars(schema_with = "crate::field_schema::name")]
    name: Option<String>,
    /// `regex`, `command` or `class`.
    #[serde(default)]
    #[schemars(schema_with = "crate::field_schema::rule_kind")]
    kind: Option<String>,
    pattern: Option<String>,
    score: Option<u32>,
    #[serde(default)]
    #[schemars(schema_with = "crate::field_schema::rule_action")]
    action: Option<String>,
    enabled: Option<bool>,
    targets: Option<Vec<String>>,
    logins: Option<Vec<String>>,
    users: Option<Vec<String>>,
}

impl RuleBody {
    fn pattern(&self) -> ApiResult<Option<Pattern>> {
        match (&self.kind, &self.pattern) {
            (None, None) => Ok(None),
            (kind, Some(value)) => Pattern::from_parts(kind.as_deref().unwrap_or("regex"), value)
                .map(Some)
                .map_err(|e| ApiError::BadRequest(e.reason)),
            (Some(_), None) => Err(ApiError::BadRequest(
                "pattern is missing: give the regex, command or class with its kind".into(),
            )),
        }
    }

    fn action(&self) -> ApiResult<Option<Action>> {
        self.action
            .as_deref()
            .map(|a| {
                Action::parse(a).ok_or_else(|| {
                    ApiError::BadRequest(format!(
                        "unknown action {a:?}: use one of {}",
                        Action::ALL.map(Action::as_str).join(", ")
                    ))
                })
            })
            .transpose()
    }
}

pub(crate) async fn create(
    State(state): State<AppState>,
    caller: Caller,
    Json(body): Json<RuleBody>,
) -> ApiResult<Json<RuleRow>> {
    caller.require(Permission::ManageRules)?;
    let Some(name) = body.name.clone() else {
        return Err(ApiError::BadRequest("name is missing".into()));
    };
    let Some(pattern) = body.pattern()? else {
        return Err(ApiError::BadRequest(
            "pattern is missing: {kind: regex|command|class, pattern}".into(),
        ));
    };
    let rule = Rule {
        name,
        pattern,
        score: body.score.unwrap_or(10),
        action: body.action()?.unwrap_or(Action::Alert),
        enabled: body.enabled.unwrap_or(true),
        scope: Scope {
            targets: body.targets.unwrap_or_default(),
            logins: body.logins.unwrap_or_default(),
            users: body.users.unwrap_or_default(),
        },
    };
    Ok(Json(state.admin.add_rule(&caller.actor(), &rule).await?))
}

pub(crate) async fn edit(
    State(state): State<AppState>,
    caller: Caller,
    Path(name): Path<String>,
    Json(body): Json<RuleBody>,
) -> ApiResult<Json<RuleRow>> {
    caller.require(Permission::ManageRules)?;
    let pattern = body.pattern()?;
    let action = body.action()?;
    let row = state
        .admin
        .edit_rule(&caller.actor(), &name, |r| {
            if let Some(p) = pattern {
                r.pattern = p;
            }
            if let Some(s) = body.score {
                r.score = s;
            }
            if let Some(a) = action {
                r.action = a;
            }
            if let Some(e) = body.enabled {
                r.enabled = e;
            }
            if let Some(t) = body.targets {
                r.scope.targets = t;
            }
            if let Some(l) = body.logins {
                r.scope.logins = l;
            }
            if let Some(u) = body.users {
                r.scope.users = u;
            }
        })
        .await?;
    Ok(Json(row))
}

pub(crate) async fn remove(
    State(state): State<AppState>,
    caller: Caller,
    Path(name): Path<String>,
) -> ApiResult<Json<serde_json::Value>> {
    caller.require(Permission::ManageRules)?;
    state.admin.remove_rule(&caller.actor(), &name).await?;
    Ok(Json(serde_json::json!({ "removed": name })))
}
