//! The proof that travels beside a downloaded recording (issue 15): the SHA-256 and size of
//! exactly what this caller downloads (output only without the input permission), the stored
//! track's verification, signed with this node's recording key; `vigil verify FILE` checks a
//! download saved as FILE with the proof saved as `FILE.vigil-proof`.

use std::io::{BufReader, Read};
use std::sync::Arc;

use axum::Json;
use axum::extract::{Path, Query, State};
use serde::Deserialize;
use vigil_core::Permission;
use vigil_session::verify::{ExportProof, sha256_of, verify_session};

use crate::auth::Caller;
use crate::error::{ApiError, ApiResult};
use crate::recording::{open_decoded, track_key};
use crate::state::AppState;

#[derive(Debug, Default, Deserialize)]
pub(crate) struct ProofQuery {
    track: Option<u32>,
}

pub(crate) async fn proof(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    Query(q): Query<ProofQuery>,
) -> ApiResult<Json<ExportProof>> {
    let track = q.track.unwrap_or(0);
    let key = track_key(&state, &caller, &id, track).await?;
    let Some(signer) = state.hub.recording_signer() else {
        return Err(ApiError::Conflict(
            "this node has no recording key, so it cannot sign a proof".into(),
        ));
    };
    let open = open_decoded(&state, &id, &key).await?;
    let with_input = caller.may(Permission::SessionRecordingInput);
    // The same bytes the download serves this caller, hashed as they are decoded.
    let (sha256, size) = tokio::task::spawn_blocking(move || -> std::io::Result<(String, u64)> {
        let cast = open()?;
        let reader: Box<dyn Read> = if with_input {
            Box::new(cast)
        } else {
            Box::new(vigil_record::OutputOnly::new(BufReader::new(cast)))
        };
        sha256_of(reader)
    })
    .await
    .map_err(|e| ApiError::Internal(e.to_string()))?
    .map_err(|e| ApiError::Internal(e.to_string()))?;
    let v = verify_session(&state.store, Arc::clone(state.hub.recordings()), &id)
        .await
        .map_err(|e| ApiError::Internal(e.to_string()))?;
    Ok(Json(
        ExportProof::of_export(&v, track, key, sha256, size).sign(signer.as_ref()),
    ))
}
