//! What a workstation's agent reports of the runs an access policy audited or recorded, and
//! the resumable upload of a recorded run's two recordings (issue 14; the work is
//! `vigil_session::endpoint`'s).

use axum::Json;
use axum::extract::{Path, State};
use serde::Deserialize;
use vigil_session::endpoint::{self, EndpointError, RunReport};
use vigil_store::RunRow;

use crate::agent_api::AgentRequest;
use crate::error::{ApiError, ApiResult};
use crate::state::AppState;

impl From<EndpointError> for ApiError {
    fn from(e: EndpointError) -> Self {
        match e {
            EndpointError::Store(e) => e.into(),
            e @ (EndpointError::Invalid(_) | EndpointError::Recording(_)) => {
                ApiError::BadRequest(e.to_string())
            }
            e @ EndpointError::NotYours(_) => ApiError::NotFound(e.to_string()),
            e @ (EndpointError::Offset { .. } | EndpointError::Finished(_)) => {
                ApiError::Conflict(e.to_string())
            }
            e @ EndpointError::Io(_) => ApiError::Internal(e.to_string()),
        }
    }
}

pub(crate) async fn report(
    State(state): State<AppState>,
    req: AgentRequest,
) -> ApiResult<Json<RunRow>> {
    req.approved()?;
    let report: RunReport = req.json()?;
    Ok(Json(
        endpoint::report_run(&state.hub, &req.agent, &req.addr, &report).await?,
    ))
}

pub(crate) async fn get(
    State(state): State<AppState>,
    Path(run): Path<String>,
    req: AgentRequest,
) -> ApiResult<Json<RunRow>> {
    req.approved()?;
    match state.store.endpoint_run(&run).await? {
        Some(r) if r.agent_id == req.agent.id => Ok(Json(r)),
        _ => Err(EndpointError::NotYours(run).into()),
    }
}

#[derive(serde::Serialize)]
pub(crate) struct Received {
    received: i64,
}

pub(crate) async fn part(
    State(state): State<AppState>,
    Path((run, object)): Path<(String, String)>,
    req: AgentRequest,
) -> ApiResult<Json<Received>> {
    req.approved()?;
    let offset = req
        .query
        .as_deref()
        .unwrap_or("")
        .split('&')
        .find_map(|kv| kv.strip_prefix("offset="))
        .and_then(|v| v.parse::<i64>().ok())
        .ok_or_else(|| ApiError::BadRequest("give ?offset=N: where this part starts".into()))?;
    let received = endpoint::upload_part(
        &state.hub,
        &req.agent,
        &run,
        &object,
        offset,
        req.body.clone(),
    )
    .await?;
    Ok(Json(Received { received }))
}

#[derive(Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct Whole {
    size: i64,
    sha256: String,
}

pub(crate) async fn finish(
    State(state): State<AppState>,
    Path((run, object)): Path<(String, String)>,
    req: AgentRequest,
) -> ApiResult<Json<RunRow>> {
    req.approved()?;
    let whole: Whole = req.json()?;
    Ok(Json(
        endpoint::finish_upload(
            &state.hub,
            &req.agent,
            &run,
            &object,
            whole.size,
            &whole.sha256,
        )
        .await?,
    ))
}
