//! Targets, their logins (credentials are write-only: accepted, vaulted, never returned),
//! access grants, and the audit log of administrator actions.

use axum::Json;
use axum::extract::{Path, Query, State};
use serde::{Deserialize, Serialize};
use vigil_core::{Permission, SecretKind};
use vigil_store::GrantRow;
use vigil_vault::Secret;

use crate::auth::Caller;
use crate::error::{ApiError, ApiResult};
use crate::state::AppState;

#[derive(Serialize)]
pub(crate) struct TargetView {
    name: String,
    host: String,
    port: u16,
    protocol: String,
    disabled: bool,
    host_key: Option<String>,
    logins: Vec<LoginView>,
}

#[derive(Serialize)]
pub(crate) struct LoginView {
    login: String,
    kind: &'static str,
    /// off, start or on-demand (issue 12).
    sudo_inject: &'static str,
    /// A separate sudo password is vaulted (never the value).
    sudo_password: bool,
    /// A root password for su is vaulted (never the value).
    su_password: bool,
    /// The target's sudo credential cache, in minutes (its `timestamp_timeout`).
    sudo_ticket_minutes: u32,
    /// The target rejected the vaulted elevation password twice within 15 minutes: nothing
    /// is answered for this login until its elevation is set again.
    sudo_blocked: bool,
}

async fn target_view(state: &AppState, t: vigil_core::Target) -> ApiResult<TargetView> {
    let logins = state
        .store
        .accounts(&t)
        .await?
        .into_iter()
        .map(|a| LoginView {
            login: a.login,
            kind: a.secret_kind.as_str(),
            sudo_inject: a.sudo_inject.as_str(),
            sudo_password: a.sudo_secret,
            su_password: a.su_secret,
            sudo_ticket_minutes: a.sudo_ticket_minutes,
            sudo_blocked: a.sudo_blocked,
        })
        .collect();
    Ok(TargetView {
        name: t.name,
        host: t.host,
        port: t.port,
        protocol: t.protocol,
        disabled: t.disabled,
        host_key: t.host_key,
        logins,
    })
}

pub(crate) async fn list(
    State(state): State<AppState>,
    caller: Caller,
) -> ApiResult<Json<Vec<TargetView>>> {
    caller.require(Permission::ManageTargets)?;
    let mut out = Vec::new();
    for t in state.store.list_targets().await? {
        out.push(target_view(&state, t).await?);
    }
    Ok(Json(out))
}

async fn one(state: &AppState, name: &str) -> ApiResult<Json<TargetView>> {
    let t = state.store.target_by_name(name).await?;
    Ok(Json(target_view(state, t).await?))
}

#[derive(Deserialize, schemars::JsonSchema)]
pub(crate) struct CreateTarget {
    #[schemars(schema_with = "crate::field_schema::name")]
    name: String,
    host: String,
    #[serde(default = "ssh_port")]
    port: u16,
    /// The target's host key, OpenSSH one-line form (its ssh_host_*_key.pub).
    host_key: Option<String>,
    /// Or: connect now and pin the key the target presents.
    #[serde(default)]
    trust_on_add: bool,
}

fn ssh_port() -> u16 {
    22
}

pub(crate) async fn create(
    State(state): State<AppState>,
    caller: Caller,
    Json(req): Json<CreateTarget>,
) -> ApiResult<Json<TargetView>> {
    caller.require(Permission::ManageTargets)?;
    let (key, fingerprint) = match (
        req.host_key.filter(|k| !k.trim().is_empty()),
        req.trust_on_add,
    ) {
        (Some(k), _) => state.keys.public_key(&k).map_err(|e| {
            ApiError::BadRequest(format!("host_key is not an OpenSSH public key: {e}"))
        })?,
        (None, true) => {
            let k = state
                .keys
                .fetch_host_key(req.host.clone(), req.port)
                .await
                .map_err(|e| {
                    ApiError::BadRequest(format!(
                        "cannot read the host key of {}:{}: {e}",
                        req.host, req.port
                    ))
                })?;
            state.keys.public_key(&k).map_err(ApiError::Internal)?
        }
        (None, false) => {
            return Err(ApiError::BadRequest(
                "pin the target's host key: give host_key (its ssh_host_*_key.pub) or set trust_on_add".into(),
            ));
        }
    };
    state
        .admin
        .add_target(
            &caller.actor(),
            &req.name,
            &req.host,
            req.port,
            &key,
            &fingerprint,
        )
        .await?;
    one(&state, &req.name).await
}

#[derive(Deserialize, schemars::JsonSchema)]
pub(crate) struct EditTarget {
    host: Option<String>,
    port: Option<u16>,
    disabled: Option<bool>,
}

pub(crate) async fn edit(
    State(state): State<AppState>,
    caller: Caller,
    Path(name): Path<String>,
    Json(req): Json<EditTarget>,
) -> ApiResult<Json<TargetView>> {
    caller.require(Permission::ManageTargets)?;
    let t = state.store.target_by_name(&name).await?;
    let by = caller.actor();
    if req.host.is_some() || req.port.is_some() {
        let host = req.host.unwrap_or(t.host.clone());
        let port = req.port.unwrap_or(t.port);
        state
            .admin
            .set_target_address(&by, &name, &host, port)
            .await?;
    }
    if let Some(disabled) = req.disabled {
        state
            .admin
            .set_target_disabled(&by, &name, disabled)
            .await?;
    }
    one(&state, &name).await
}

#[derive(Deserialize, schemars::JsonSchema)]
pub(crate) struct Credential {
    password: Option<String>,
    private_key: Option<String>,
}

impl Credential {
    fn take(self, state: &AppState) -> ApiResult<(SecretKind, Secret)> {
        match (self.password, self.private_key) {
            (Some(p), None) if !p.is_empty() => Ok((SecretKind::Password, Secret::from(p))),
            (None, Some(k)) if !k.trim().is_empty() => {
                state.keys.check_private_key(&k).map_err(|e| {
                    ApiError::BadRequest(format!(
                        "private_key is not an unencrypted OpenSSH private key: {e}"
                    ))
                })?;
                Ok((SecretKind::PrivateKey, Secret::from(k)))
            }
            _ => Err(ApiError::BadRequest(
                "give exactly one credential: password or private_key".into(),
            )),
        }
    }
}

#[derive(Deserialize, schemars::JsonSchema)]
pub(crate) struct CreateLogin {
    login: String,
    #[serde(flatten)]
    credential: Credential,
}

pub(crate) async fn create_login(
    State(state): State<AppState>,
    caller: Caller,
    Path(target): Path<String>,
    Json(req): Json<CreateLogin>,
) -> ApiResult<Json<TargetView>> {
    caller.require(Permission::ManageTargets)?;
    let (kind, secret) = req.credential.take(&state)?;
    state
        .admin
        .add_login(&caller.actor(), &target, &req.login, kind, &secret)
        .await?;
    one(&state, &target).await
}

pub(crate) async fn rotate_login(
    State(state): State<AppState>,
    caller: Caller,
    Path((target, login)): Path<(String, String)>,
    Json(credential): Json<Credential>,
) -> ApiResult<Json<TargetView>> {
    caller.require(Permission::ManageTargets)?;
    let (kind, secret) = credential.take(&state)?;
    state
        .admin
        .rotate_login(&caller.actor(), &target, &login, kind, &secret)
        .await?;
    one(&state, &target).await
}

/// A login's elevation settings: a password given is set, `null` removes it, absent keeps it.
#[derive(Deserialize, schemars::JsonSchema)]
pub(crate) struct Elevation {
    #[serde(default)]
    #[schemars(schema_with = "crate::field_schema::sudo_inject")]
    sudo_inject: Option<String>,
    /// Absent: unchanged; null: removed; a string: set.
    #[serde(default, deserialize_with = "present")]
    #[schemars(with = "Option<String>")]
    sudo_password: Option<Option<String>>,
    /// Absent: unchanged; null: removed; a string: set.
    #[serde(default, deserialize_with = "present")]
    #[schemars(with = "Option<String>")]
    su_password: Option<Option<String>>,
    sudo_ticket_minutes: Option<u32>,
}

/// Tells an absent key (`None`) from a `null` one (`Some(None)`).
fn present<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<Option<String>>, D::Error> {
    Ok(Some(Option::deserialize(d)?))
}

fn secret_change(v: Option<Option<String>>, key: &str) -> ApiResult<vigil_store::SecretChange> {
    use vigil_store::SecretChange;
    match v {
        None => Ok(SecretChange::Keep),
        Some(None) => Ok(SecretChange::Remove),
        Some(Some(p)) if p.is_empty() => Err(ApiError::BadRequest(format!(
            "{key} is empty: give a password, or null to remove it"
        ))),
        Some(Some(p)) => Ok(SecretChange::Set(Secret::from(p))),
    }
}

pub(crate) async fn set_elevation(
    State(state): State<AppState>,
    caller: Caller,
    Path((target, login)): Path<(String, String)>,
    Json(e): Json<Elevation>,
) -> ApiResult<Json<TargetView>> {
    caller.require(Permission::ManageTargets)?;
    let inject = match e.sudo_inject.as_deref() {
        None => None,
        Some(m) => Some(vigil_core::SudoInject::parse(m).ok_or_else(|| {
            ApiError::BadRequest(format!(
                "sudo_inject {m:?}: use {}",
                vigil_core::SudoInject::ALLOWED
            ))
        })?),
    };
    let change = vigil_store::ElevationChange {
        inject,
        sudo: secret_change(e.sudo_password, "sudo_password")?,
        su: secret_change(e.su_password, "su_password")?,
        ticket_minutes: e.sudo_ticket_minutes,
    };
    state
        .admin
        .set_login_elevation(&caller.actor(), &target, &login, &change)
        .await?;
    one(&state, &target).await
}

pub(crate) async fn delete_login(
    State(state): State<AppState>,
    caller: Caller,
    Path((target, login)): Path<(String, String)>,
) -> ApiResult<Json<TargetView>> {
    caller.require(Permission::ManageTargets)?;
    state
        .admin
        .remove_login(&caller.actor(), &target, &login)
        .await?;
    one(&state, &target).await
}

pub(crate) async fn grants(
    State(state): State<AppState>,
    caller: Caller,
) -> ApiResult<Json<Vec<GrantRow>>> {
    caller.require(Permission::ManageTargets)?;
    Ok(Json(state.store.list_grants().await?))
}

#[derive(Deserialize, schemars::JsonSchema)]
pub(crate) struct CreateGrant {
    user: String,
    target: String,
    login: Option<String>,
    #[serde(default)]
    allow_port_forwarding: bool,
}

pub(crate) async fn create_grant(
    State(state): State<AppState>,
    caller: Caller,
    Json(req): Json<CreateGrant>,
) -> ApiResult<Json<Vec<GrantRow>>> {
    caller.require(Permission::ManageTargets)?;
    let login = req.login.filter(|l| !l.is_empty());
    state
        .admin
        .grant(
            &caller.actor(),
            &req.user,
            &req.target,
            login.as_deref(),
            req.allow_port_forwarding,
        )
        .await?;
    grants(State(state), caller).await
}

pub(crate) async fn delete_grant(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> ApiResult<Json<Vec<GrantRow>>> {
    caller.require(Permission::ManageTargets)?;
    state.admin.revoke(&caller.actor(), &id).await?;
    grants(State(state), caller).await
}

#[derive(Deserialize)]
pub(crate) struct AuditQuery {
    limit: Option<i64>,
}

pub(crate) async fn audit(
    State(state): State<AppState>,
    caller: Caller,
    Query(q): Query<AuditQuery>,
) -> ApiResult<Json<Vec<vigil_store::AuditEntry>>> {
    caller.require(Permission::ViewAuditLog)?;
    Ok(Json(
        state
            .store
            .audit_entries(q.limit.unwrap_or(200).clamp(1, 5000))
            .await?,
    ))
}

/// What every node's SIEM destinations are doing (state, queued, sent, dropped, last error).
pub(crate) async fn siem_status(
    State(state): State<AppState>,
    caller: Caller,
) -> ApiResult<Json<Vec<vigil_store::SiemStatus>>> {
    caller.require(Permission::ViewAuditLog)?;
    Ok(Json(state.store.siem_status().await?))
}
