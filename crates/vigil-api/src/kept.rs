//! Transferred files the session's transfer policy kept (`keep_files_up_to`): each is named
//! by its `file_allowed` event in the session log, and downloaded (audited) by holders of
//! `PAM.SessionManagement.Recording`.

use axum::body::Body;
use axum::extract::{Path, State};
use axum::http::header;
use axum::response::{IntoResponse, Response};
use vigil_core::{Permission, SessionId};

use crate::auth::Caller;
use crate::error::{ApiError, ApiResult};
use crate::sessions::visible;
use crate::state::AppState;

/// The kept file named by the session-log event `event`, as it was transferred.
pub(crate) async fn kept_file(
    State(state): State<AppState>,
    caller: Caller,
    Path((id, event)): Path<(String, i64)>,
) -> ApiResult<Response> {
    let row = visible(&state, &caller, &id, Permission::SessionRecording).await?;
    let kept = state.admin.kept_files(&id).await?;
    let Some((_, file)) = kept.into_iter().find(|(e, _)| *e == event) else {
        return Err(ApiError::NotFound(format!(
            "session {id} has no kept file at event {event}"
        )));
    };
    if row.purged_at.is_some() {
        return Err(ApiError::NotFound(format!(
            "the files kept with session {id} were purged with its recording"
        )));
    }
    let stored = state
        .hub
        .recordings()
        .open(&file.key)
        .await
        .map_err(|e| match e {
            vigil_record::RecordError::NotFound(_) => {
                ApiError::NotFound(format!("the kept file {} is missing", file.path))
            }
            other => ApiError::Internal(other.to_string()),
        })?;
    state
        .admin
        .kept_file_downloaded(&caller.actor(), &SessionId(id.clone()), &file)
        .await?;
    let mut response = Body::from_stream(tokio_util::io::ReaderStream::new(stored)).into_response();
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        header::HeaderValue::from_static("application/octet-stream"),
    );
    // The file's own name, without anything a header could misread.
    let name: String = file
        .path
        .rsplit('/')
        .next()
        .unwrap_or("file")
        .chars()
        .filter(|c| c.is_ascii_graphic() && *c != '"' && *c != '\\')
        .collect();
    let name = if name.is_empty() { "file".into() } else { name };
    if let Ok(v) = header::HeaderValue::from_str(&format!("attachment; filename=\"{name}\"")) {
        headers.insert(header::CONTENT_DISPOSITION, v);
    }
    if let Ok(v) = header::HeaderValue::from_str(&file.sha256) {
        headers.insert("x-vigil-sha256", v);
    }
    Ok(response)
}
