//! What a workstation's agent calls (issue 14): enrolment with a one-time token, then
//! requests signed with the key it made at enrolment (see `vigil_vault::agent_key`).
//!
//! A signed request carries `Authorization: Vigil-Agent id=ID, at=UNIX_MS, sig=BASE64`; the
//! signature covers the method, the path with its query, `at` and the body's SHA-256. The
//! server refuses a request whose `at` is more than five minutes from its own clock, one
//! whose signature it has already seen (a replay within that window, on this node), one from
//! an agent that is not enrolled, and (except `status`) one from a workstation that waits for
//! approval.

use axum::Json;
use axum::body::Bytes;
use axum::extract::{FromRequest, Request, State};
use axum::http::header::AUTHORIZATION;
use axum::http::request::Parts;
use serde::{Deserialize, Serialize};
use vigil_core::{AgentPolicy, now_millis};
use vigil_session::WorkstationId;
use vigil_store::{AgentRow, AgentStatus};
use vigil_vault::{AgentPublicKey, request_message};

use crate::error::{ApiError, ApiResult};
use crate::state::{API_PREFIX, AppState, client_addr};

/// How far an agent's clock may be from the server's.
const SKEW_MS: i64 = 5 * 60 * 1000;
/// The largest body an agent sends in one request (an upload part).
pub(crate) const MAX_AGENT_BODY: usize = 8 << 20;

fn unauthenticated(why: &str) -> ApiError {
    ApiError::AgentUnauthenticated(why.to_owned())
}

/// `id=..., at=..., sig=...` after the scheme name.
fn parse_authorization(value: &str) -> Option<(&str, i64, &str)> {
    let rest = value.strip_prefix("Vigil-Agent ")?;
    let (mut id, mut at, mut sig) = (None, None, None);
    for part in rest.split(',') {
        let (k, v) = part.trim().split_once('=')?;
        match k {
            "id" => id = Some(v),
            "at" => at = v.parse().ok(),
            "sig" => sig = Some(v),
            _ => return None,
        }
    }
    Some((id?, at?, sig?))
}

/// A request from an enrolled agent whose signature (over its body too) was checked.
pub(crate) struct AgentRequest {
    pub(crate) agent: AgentRow,
    pub(crate) body: Bytes,
    /// The agent's address.
    pub(crate) addr: String,
    /// The query string (read after the signature is checked: nothing of an unsigned
    /// request is interpreted).
    pub(crate) query: Option<String>,
}

impl AgentRequest {
    /// The body as JSON of type `T`.
    pub(crate) fn json<T: serde::de::DeserializeOwned>(&self) -> ApiResult<T> {
        serde_json::from_slice(&self.body)
            .map_err(|e| ApiError::BadRequest(format!("request body: {e}")))
    }
}

impl AgentRequest {
    /// The workstation must be approved for everything but its status.
    pub(crate) fn approved(&self) -> ApiResult<()> {
        match self.agent.status {
            AgentStatus::Approved => Ok(()),
            AgentStatus::Pending => Err(ApiError::AgentPending(self.agent.host_name.clone())),
        }
    }
}

impl FromRequest<AppState> for AgentRequest {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &AppState) -> Result<Self, ApiError> {
        let (parts, body) = req.into_parts();
        let header = parts
            .headers
            .get(AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .ok_or_else(|| {
                unauthenticated("send the agent's signed Authorization: Vigil-Agent header")
            })?;
        let (id, at, sig) = parse_authorization(header).ok_or_else(|| {
            unauthenticated(
                "the Authorization header is not `Vigil-Agent id=ID, at=UNIX_MS, sig=BASE64`",
            )
        })?;
        let now = now_millis();
        if (now - at).abs() > SKEW_MS {
            return Err(unauthenticated(
                "the request's time is more than five minutes from the server's: set the workstation's clock (NTP)",
            ));
        }
        let body = axum::body::to_bytes(body, MAX_AGENT_BODY)
            .await
            .map_err(|_| {
                ApiError::BadRequest(format!(
                    "the request body is over {MAX_AGENT_BODY} bytes or was cut off"
                ))
            })?;
        let agent = state.store.agent(id).await?.ok_or_else(|| {
            unauthenticated(
                "no workstation is enrolled with this agent id (it was removed?): enrol it again",
            )
        })?;
        let key = AgentPublicKey::parse(&agent.public_key)
            .map_err(|e| ApiError::Internal(format!("stored agent key: {e}")))?;
        // The router nested under the API's prefix sees the path without it; the agent signs
        // the whole path.
        let path = parts.uri.path_and_query().map_or("/", |p| p.as_str());
        let path = if path.starts_with(API_PREFIX) {
            path.to_owned()
        } else {
            format!("{API_PREFIX}{path}")
        };
        let message = request_message(parts.method.as_str(), &path, at, &body);
        key.verify(&message, sig).map_err(|_| {
            unauthenticated("the request's signature does not match the workstation's enrolled key")
        })?;
        if !state.agent_replays.first_use(sig, now) {
            return Err(unauthenticated(
                "this exact request was already received (a replay)",
            ));
        }
        state.store.agent_seen(&agent.id, now).await?;
        Ok(AgentRequest {
            agent,
            body,
            addr: client_addr(&parts),
            query: parts.uri.query().map(str::to_owned),
        })
    }
}

#[derive(Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct EnrolRequest {
    token: String,
    host_name: String,
    machine_id: String,
    /// `ed25519:` + base64 of the public key the agent made.
    public_key: String,
}

/// What an agent learns of its workstation.
#[derive(Serialize)]
pub(crate) struct Enrolled {
    id: String,
    host_name: String,
    status: AgentStatus,
    fingerprint: String,
}

impl From<AgentRow> for Enrolled {
    fn from(a: AgentRow) -> Enrolled {
        Enrolled {
            id: a.id,
            host_name: a.host_name,
            status: a.status,
            fingerprint: a.fingerprint,
        }
    }
}

pub(crate) async fn enrol(
    State(state): State<AppState>,
    parts: Parts,
    Json(e): Json<EnrolRequest>,
) -> ApiResult<Json<Enrolled>> {
    let from = client_addr(&parts);
    let ws = WorkstationId {
        host_name: &e.host_name,
        machine_id: &e.machine_id,
        public_key: &e.public_key,
    };
    let agent = state.admin.enrol_agent(&e.token, &ws, &from).await?;
    Ok(Json(agent.into()))
}

pub(crate) async fn status(req: AgentRequest) -> ApiResult<Json<Enrolled>> {
    Ok(Json(req.agent.into()))
}

#[derive(Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct AlertRequest {
    alert: String,
    message: String,
}

pub(crate) async fn alert(
    State(state): State<AppState>,
    req: AgentRequest,
) -> ApiResult<Json<serde_json::Value>> {
    req.approved()?;
    let a: AlertRequest = req.json()?;
    state
        .admin
        .agent_alert(&req.agent, &req.addr, &a.alert, &a.message)
        .await?;
    Ok(Json(serde_json::json!({ "alert": a.alert })))
}

/// The policies that apply to the calling workstation, with the revision they are at.
#[derive(Serialize)]
pub(crate) struct Policies {
    revision: i64,
    policies: Vec<AgentPolicy>,
}

pub(crate) async fn policies(
    State(state): State<AppState>,
    req: AgentRequest,
) -> ApiResult<Json<Policies>> {
    req.approved()?;
    // The revision first: a change between the two reads is fetched again next time.
    let revision = state.store.agent_policy_revision().await?;
    let host = &req.agent.host_name;
    let policies = state
        .store
        .agent_policies()
        .await?
        .into_iter()
        .map(|row| row.policy)
        .filter(|p| {
            p.workstation
                .as_deref()
                .is_none_or(|w| w.eq_ignore_ascii_case(host))
        })
        .collect();
    Ok(Json(Policies { revision, policies }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_authorization_header_is_read_strictly() {
        assert_eq!(
            parse_authorization("Vigil-Agent id=a1, at=123, sig=c2ln"),
            Some(("a1", 123, "c2ln"))
        );
        for bad in [
            "Bearer x",
            "Vigil-Agent id=a1, at=x, sig=s",
            "Vigil-Agent id=a1, sig=s",
            "Vigil-Agent id=a1, at=1, sig=s, extra=1",
            "Vigil-Agent",
        ] {
            assert_eq!(parse_authorization(bad), None, "{bad}");
        }
    }
}
