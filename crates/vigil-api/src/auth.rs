//! Who is calling: a browser session (HttpOnly, SameSite=Strict cookie, plus a CSRF token on
//! every state-changing request) or an API token (`Authorization: Bearer`). Sign-in with
//! password and, when enrolled, TOTP; failures are rate limited per user and per address and
//! go to the audit log.

use axum::Json;
use axum::extract::{FromRequestParts, State};
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderValue, header};
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};
use vigil_core::{EventKind, Evidence, Permission, User, now_millis};
use vigil_vault::{Secret, new_token, token_hash, verify_password, verify_totp};

use crate::error::{ApiError, ApiResult};
use crate::state::{AppState, client_addr};

pub(crate) const COOKIE: &str = "vigil_session";
pub(crate) const CSRF_HEADER: &str = "x-csrf-token";

/// The authenticated caller of a request.
#[derive(Debug, Clone)]
pub(crate) struct Caller {
    pub(crate) user: User,
    /// Where the request came from (for the audit log).
    pub(crate) addr: String,
}

impl Caller {
    pub(crate) fn name(&self) -> &str {
        &self.user.name
    }

    /// The caller as the acting user of an administrative action.
    pub(crate) fn actor(&self) -> vigil_session::Actor {
        vigil_session::Actor::api(&self.user.name, &self.addr)
    }

    pub(crate) fn may(&self, p: Permission) -> bool {
        self.user.role.allows(p)
    }

    pub(crate) fn require(&self, p: Permission) -> ApiResult<()> {
        if self.may(p) {
            Ok(())
        } else {
            Err(ApiError::Forbidden(p))
        }
    }
}

fn cookie<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v)
}

/// Compares without stopping at the first difference.
fn same(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

impl FromRequestParts<AppState> for Caller {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> ApiResult<Self> {
        let addr = client_addr(parts);
        if let Some(value) = parts.headers.get(header::AUTHORIZATION) {
            let token = value
                .to_str()
                .ok()
                .and_then(|v| v.strip_prefix("Bearer "))
                .ok_or(ApiError::Unauthenticated)?;
            let user = state
                .store
                .user_by_api_token(&token_hash(token.trim().as_bytes()))
                .await?
                .filter(|u| !u.disabled)
                .ok_or(ApiError::Unauthenticated)?;
            return Ok(Caller { user, addr });
        }
        let token = cookie(&parts.headers, COOKIE).ok_or(ApiError::Unauthenticated)?;
        let session = state
            .store
            .web_session(&token_hash(token.as_bytes()))
            .await?
            .filter(|s| !s.user.disabled)
            .ok_or(ApiError::Unauthenticated)?;
        if !parts.method.is_safe() {
            let sent = parts
                .headers
                .get(CSRF_HEADER)
                .map(HeaderValue::as_bytes)
                .unwrap_or_default();
            if !same(sent, session.csrf_token.as_bytes()) {
                return Err(ApiError::Csrf);
            }
        }
        Ok(Caller {
            user: session.user,
            addr,
        })
    }
}

#[derive(Deserialize, schemars::JsonSchema)]
pub(crate) struct LoginRequest {
    username: String,
    password: String,
    totp: Option<String>,
}

/// Who is signed in and what they may do; the console shows only what `permissions` allow.
#[derive(Serialize)]
pub(crate) struct Me {
    user: String,
    role: &'static str,
    permissions: Vec<&'static str>,
    csrf_token: Option<String>,
}

fn me_of(user: &User, csrf_token: Option<String>) -> Me {
    Me {
        user: user.name.clone(),
        role: user.role.as_str(),
        permissions: Permission::ALL
            .into_iter()
            .filter(|p| user.role.allows(*p))
            .map(Permission::name)
            .collect(),
        csrf_token,
    }
}

pub(crate) async fn login(
    State(state): State<AppState>,
    parts: Parts,
    Json(req): Json<LoginRequest>,
) -> ApiResult<Response> {
    let addr = client_addr(&parts);
    let user_key = format!("user:{}", req.username.to_lowercase());
    let keys = [user_key.clone(), format!("addr:{addr}")];
    if let Some(wait) = state.hub.sign_ins().blocked(&keys) {
        state
            .store
            .record(console_entry(
                EventKind::ConsoleLoginBlocked,
                &req.username,
                serde_json::json!({ "addr": addr }),
            ))
            .await?;
        return Err(ApiError::RateLimited(wait));
    }
    let Some(user) = state.store.find_user_by_name(&req.username).await? else {
        return Err(login_failed(
            &state,
            &keys,
            &req.username,
            &addr,
            "unknown user",
            WRONG_PASSWORD,
        )
        .await?);
    };
    if user.disabled {
        return Err(login_failed(
            &state,
            &keys,
            &req.username,
            &addr,
            "user disabled",
            WRONG_PASSWORD,
        )
        .await?);
    }
    let hash = state.store.user_password_hash(&user.name).await?;
    let password = Secret::from(req.password);
    let good = match hash {
        // A failed check task is an error of ours, not a wrong password.
        Some(hash) => {
            tokio::task::spawn_blocking(move || verify_password(password.expose(), &hash))
                .await
                .map_err(|e| ApiError::Internal(format!("password check failed: {e}")))?
        }
        None => false,
    };
    if !good {
        return Err(login_failed(
            &state,
            &keys,
            &req.username,
            &addr,
            "wrong password",
            WRONG_PASSWORD,
        )
        .await?);
    }
    if user.has_totp {
        let Some(code) = req.totp.filter(|c| !c.trim().is_empty()) else {
            return Err(ApiError::TotpRequired);
        };
        let secret = state.store.user_totp(&user).await?;
        if !secret.is_some_and(|s| verify_totp(&s, code.trim())) {
            let why = "wrong verification code";
            return Err(login_failed(&state, &keys, &user.name, &addr, why, why).await?);
        }
    }
    state.hub.sign_ins().succeeded(&user_key);
    let token = new_token("vgs_");
    let csrf = new_token("");
    let csrf = csrf.expose_str().unwrap_or_default().to_owned();
    let ttl = i64::try_from(state.session_ttl.as_millis()).unwrap_or(i64::MAX);
    let mut tx = state.store.begin().await?;
    tx.create_web_session(
        &user,
        &token_hash(token.expose()),
        &csrf,
        &addr,
        now_millis().saturating_add(ttl),
    )
    .await?;
    tx.record(console_entry(
        EventKind::ConsoleLogin,
        &user.name,
        serde_json::json!({ "addr": addr }),
    ));
    tx.commit().await?;
    let response = Json(me_of(&user, Some(csrf))).into_response();
    Ok(with_cookie(
        response,
        token.expose_str().unwrap_or_default(),
        state.session_ttl.as_secs(),
        state.secure_cookies,
    ))
}

/// Sets (or with an empty value and `max_age` 0, clears) the session cookie: HttpOnly,
/// SameSite=Strict, and Secure when the console is served over TLS.
fn with_cookie(mut response: Response, value: &str, max_age: u64, secure: bool) -> Response {
    let cookie = format!(
        "{COOKIE}={value}; Path=/; HttpOnly; SameSite=Strict; Max-Age={max_age}{}",
        if secure { "; Secure" } else { "" }
    );
    if let Ok(v) = HeaderValue::from_str(&cookie) {
        response.headers_mut().insert(header::SET_COOKIE, v);
    }
    response
}

const WRONG_PASSWORD: &str = "wrong user name or password";

/// A console sign-in entry: the user (as typed, for failures) acted on themselves.
fn console_entry(kind: EventKind, name: &str, mut detail: serde_json::Value) -> Evidence {
    detail["via"] = "console".into();
    // A name typed at the sign-in form may be empty: the entry still needs an actor.
    let actor = if name.is_empty() { "(none)" } else { name };
    Evidence::admin(kind, actor, name, detail)
}

/// Counts a failed sign-in against the user and the address, audits it with the real reason,
/// and returns the error the client sees (which never says whether the user exists).
async fn login_failed(
    state: &AppState,
    keys: &[String],
    name: &str,
    addr: &str,
    why: &'static str,
    shown: &'static str,
) -> ApiResult<ApiError> {
    state.hub.sign_ins().failed(keys);
    state
        .store
        .record(console_entry(
            EventKind::ConsoleLoginFailed,
            name,
            serde_json::json!({ "addr": addr, "reason": why }),
        ))
        .await?;
    Ok(ApiError::LoginFailed(shown))
}

pub(crate) async fn logout(
    State(state): State<AppState>,
    caller: Caller,
    headers: HeaderMap,
) -> ApiResult<Response> {
    let mut tx = state.store.begin().await?;
    if let Some(token) = cookie(&headers, COOKIE) {
        tx.delete_web_session(&token_hash(token.as_bytes())).await?;
    }
    tx.record(console_entry(
        EventKind::ConsoleLogout,
        caller.name(),
        serde_json::json!({ "addr": caller.addr }),
    ));
    tx.commit().await?;
    let response = Json(serde_json::json!({ "signed_out": true })).into_response();
    Ok(with_cookie(response, "", 0, state.secure_cookies))
}

pub(crate) async fn me(
    State(state): State<AppState>,
    caller: Caller,
    headers: HeaderMap,
) -> ApiResult<Json<Me>> {
    let csrf = match cookie(&headers, COOKIE) {
        Some(token) => state
            .store
            .web_session(&token_hash(token.as_bytes()))
            .await?
            .map(|s| s.csrf_token),
        None => None,
    };
    Ok(Json(me_of(&caller.user, csrf)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cookies_are_found_among_others() {
        let mut h = HeaderMap::new();
        h.insert(
            header::COOKIE,
            HeaderValue::from_static("a=1; vigil_session=tok; b=2"),
        );
        assert_eq!(cookie(&h, COOKIE), Some("tok"));
        assert!(same(b"abc", b"abc") && !same(b"abc", b"abd") && !same(b"ab", b"abc"));
    }
}
