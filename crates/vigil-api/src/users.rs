//! Users, their roles, keys and second factor; and each user's own API tokens. Passwords are
//! write-only: a generated one is shown once, in the response that created it.

use axum::Json;
use axum::extract::{Path, State};
use serde::{Deserialize, Serialize};
use vigil_core::{Permission, Role};
use vigil_vault::{Secret, hash_password, new_token, random_password, token_hash};

use crate::auth::Caller;
use crate::error::{ApiError, ApiResult};
use crate::state::AppState;

#[derive(Serialize)]
pub(crate) struct UserView {
    name: String,
    role: &'static str,
    disabled: bool,
    has_password: bool,
    has_totp: bool,
    created_at: i64,
    /// Who locked this operator's interaction; they cannot start sessions until released.
    locked_by: Option<String>,
    keys: Vec<KeyView>,
}

#[derive(Serialize)]
pub(crate) struct KeyView {
    id: String,
    fingerprint: String,
    public_key: String,
}

async fn user_view(state: &AppState, user: vigil_core::User) -> ApiResult<UserView> {
    let keys = state
        .store
        .user_keys(&user)
        .await?
        .into_iter()
        .map(|k| KeyView {
            id: k.id,
            fingerprint: k.fingerprint,
            public_key: k.public_key,
        })
        .collect();
    Ok(UserView {
        role: user.role.as_str(),
        name: user.name,
        disabled: user.disabled,
        has_password: user.has_password,
        has_totp: user.has_totp,
        created_at: user.created_at,
        locked_by: user.locked_by,
        keys,
    })
}

fn role(text: &str) -> ApiResult<Role> {
    text.parse::<Role>()
        .map_err(|e| ApiError::BadRequest(e.to_string()))
}

fn hash(password: &Secret) -> ApiResult<String> {
    hash_password(password).map_err(|e| ApiError::Internal(e.to_string()))
}

pub(crate) async fn list(
    State(state): State<AppState>,
    caller: Caller,
) -> ApiResult<Json<Vec<UserView>>> {
    caller.require(Permission::ManageUsers)?;
    let mut out = Vec::new();
    for u in state.store.list_users().await? {
        out.push(user_view(&state, u).await?);
    }
    Ok(Json(out))
}

pub(crate) async fn get(
    State(state): State<AppState>,
    caller: Caller,
    Path(name): Path<String>,
) -> ApiResult<Json<UserView>> {
    caller.require(Permission::ManageUsers)?;
    let user = state.store.user_by_name(&name).await?;
    Ok(Json(user_view(&state, user).await?))
}

#[derive(Deserialize, schemars::JsonSchema)]
pub(crate) struct CreateUser {
    #[schemars(schema_with = "crate::field_schema::name")]
    name: String,
    #[schemars(schema_with = "crate::field_schema::role")]
    role: String,
    /// Omitted: one is generated and returned once.
    password: Option<String>,
}

#[derive(Serialize)]
pub(crate) struct Created {
    user: UserView,
    /// Only when Vigil generated it; shown this once.
    #[serde(skip_serializing_if = "Option::is_none")]
    password: Option<String>,
}

pub(crate) async fn create(
    State(state): State<AppState>,
    caller: Caller,
    Json(req): Json<CreateUser>,
) -> ApiResult<Json<Created>> {
    caller.require(Permission::ManageUsers)?;
    let role = role(&req.role)?;
    let (password, generated) = match req.password.filter(|p| !p.is_empty()) {
        Some(p) => (Secret::from(p), false),
        None => (random_password(), true),
    };
    let user = state
        .admin
        .add_user(&caller.actor(), &req.name, role, Some(&hash(&password)?))
        .await?;
    Ok(Json(Created {
        user: user_view(&state, user).await?,
        password: generated.then(|| password.expose_str().unwrap_or_default().to_owned()),
    }))
}

#[derive(Deserialize, schemars::JsonSchema)]
pub(crate) struct EditUser {
    #[serde(default)]
    #[schemars(schema_with = "crate::field_schema::role")]
    role: Option<String>,
    disabled: Option<bool>,
    password: Option<String>,
}

pub(crate) async fn edit(
    State(state): State<AppState>,
    caller: Caller,
    Path(name): Path<String>,
    Json(req): Json<EditUser>,
) -> ApiResult<Json<UserView>> {
    caller.require(Permission::ManageUsers)?;
    let by = caller.actor();
    state.store.user_by_name(&name).await?;
    if let Some(r) = &req.role {
        state.admin.set_role(&by, &name, role(r)?).await?;
    }
    if let Some(disabled) = req.disabled {
        state.admin.set_disabled(&by, &name, disabled).await?;
    }
    if let Some(password) = req.password.filter(|p| !p.is_empty()) {
        let hash = hash(&Secret::from(password))?;
        state.admin.set_password(&by, &name, &hash).await?;
    }
    let user = state.store.user_by_name(&name).await?;
    Ok(Json(user_view(&state, user).await?))
}

#[derive(Deserialize, schemars::JsonSchema)]
pub(crate) struct AddKey {
    public_key: String,
}

pub(crate) async fn add_key(
    State(state): State<AppState>,
    caller: Caller,
    Path(name): Path<String>,
    Json(req): Json<AddKey>,
) -> ApiResult<Json<UserView>> {
    caller.require(Permission::ManageUsers)?;
    let (line, fingerprint) = state
        .keys
        .public_key(&req.public_key)
        .map_err(|e| ApiError::BadRequest(format!("not an OpenSSH public key: {e}")))?;
    state
        .admin
        .add_key(&caller.actor(), &name, &line, &fingerprint)
        .await?;
    get(State(state), caller, Path(name)).await
}

pub(crate) async fn delete_key(
    State(state): State<AppState>,
    caller: Caller,
    Path((name, id)): Path<(String, String)>,
) -> ApiResult<Json<UserView>> {
    caller.require(Permission::ManageUsers)?;
    state.admin.remove_key(&caller.actor(), &name, &id).await?;
    get(State(state), caller, Path(name)).await
}

/// Administrators enrol anyone; every user may enrol their own second factor.
fn may_manage_totp(caller: &Caller, name: &str) -> ApiResult<()> {
    if caller.name() == name {
        Ok(())
    } else {
        caller.require(Permission::ManageUsers)
    }
}

pub(crate) async fn enrol_totp(
    State(state): State<AppState>,
    caller: Caller,
    Path(name): Path<String>,
) -> ApiResult<Json<serde_json::Value>> {
    may_manage_totp(&caller, &name)?;
    state.store.user_by_name(&name).await?;
    let secret = vigil_vault::new_totp_secret();
    let (url, base32) = vigil_vault::totp_enrolment(&secret, &name)
        .map_err(|e| ApiError::Internal(e.to_string()))?;
    state
        .admin
        .set_totp(&caller.actor(), &name, Some(&secret))
        .await?;
    Ok(Json(
        serde_json::json!({ "otpauth_url": url, "secret": base32 }),
    ))
}

pub(crate) async fn remove_totp(
    State(state): State<AppState>,
    caller: Caller,
    Path(name): Path<String>,
) -> ApiResult<Json<serde_json::Value>> {
    may_manage_totp(&caller, &name)?;
    state.admin.set_totp(&caller.actor(), &name, None).await?;
    Ok(Json(serde_json::json!({ "totp": false })))
}

pub(crate) async fn tokens(
    State(state): State<AppState>,
    caller: Caller,
) -> ApiResult<Json<Vec<vigil_store::ApiToken>>> {
    Ok(Json(state.store.api_tokens(&caller.user).await?))
}

#[derive(Deserialize, schemars::JsonSchema)]
pub(crate) struct CreateToken {
    #[schemars(schema_with = "crate::field_schema::name")]
    name: String,
}

/// A token acts with its owner's permissions; it is shown once.
pub(crate) async fn create_token(
    State(state): State<AppState>,
    caller: Caller,
    Json(req): Json<CreateToken>,
) -> ApiResult<Json<serde_json::Value>> {
    let token = new_token("vgl_");
    let row = state
        .admin
        .create_token(
            &caller.actor(),
            &caller.user,
            &req.name,
            &token_hash(token.expose()),
        )
        .await?;
    Ok(Json(
        serde_json::json!({ "token": token.expose_str().unwrap_or_default(), "id": row.id, "name": row.name }),
    ))
}

pub(crate) async fn delete_token(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> ApiResult<Json<serde_json::Value>> {
    state
        .admin
        .revoke_token(&caller.actor(), &caller.user, &id)
        .await?;
    Ok(Json(serde_json::json!({ "revoked": id })))
}
