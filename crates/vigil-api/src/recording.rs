//! A session's recording: the whole file (download, or the player streaming it), the same
//! from a moment on (the player's seek: the screen at that moment from the recording's
//! keyframes, then the events after it), and its markers (commands, notices, locks) for the
//! player's list. Plays and downloads are audited; seeks within one play are one entry.

use std::io::{BufRead, BufReader, Read};
use std::time::Duration;

use axum::Json;
use axum::body::Body;
use axum::extract::{Path, Query, State};
use axum::http::header;
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};
use tokio::sync::mpsc;
use vigil_core::{Permission, SessionId};
use vigil_session::Purpose;

use crate::auth::Caller;
use crate::error::{ApiError, ApiResult};
use crate::sessions::visible;
use crate::state::AppState;

#[derive(Debug, Default, Deserialize)]
pub(crate) struct RecordingQuery {
    /// `play` (the console's player) or `download` (the default): both are audited.
    purpose: Option<String>,
    /// Which recorded channel (see the session's `tracks`); 0, the first, by default.
    track: Option<u32>,
    /// Milliseconds from the start: the screen at that moment, then the events after it
    /// (for `play`).
    from: Option<u64>,
}

/// The stored recording key of a session's track, or why there is none.
pub(crate) async fn track_key(
    state: &AppState,
    caller: &Caller,
    id: &str,
    track: u32,
) -> ApiResult<String> {
    let row = visible(state, caller, id, Permission::SessionRecording).await?;
    let Some(key) = row.recording_key else {
        return Err(ApiError::NotFound(if row.purged_at.is_some() {
            format!("the recording of session {id} was purged by the retention policy")
        } else {
            format!("session {id} has no recording")
        }));
    };
    Ok(match track {
        0 => key,
        n => state.store.recording_track(id, n).await?.recording_key,
    })
}

/// The decoded recording of `key` as a blocking reader, on a blocking thread.
pub(crate) async fn open_decoded(
    state: &AppState,
    id: &str,
    key: &str,
) -> ApiResult<
    impl FnOnce() -> std::io::Result<vigil_record::CastReader<Box<dyn Read + Send>>> + Send + use<>,
> {
    let stored = state
        .hub
        .recordings()
        .open(key)
        .await
        .map_err(|e| match e {
            vigil_record::RecordError::NotFound(_) => {
                ApiError::NotFound(format!("the recording of session {id} is missing"))
            }
            other => ApiError::Internal(other.to_string()),
        })?;
    let runtime = tokio::runtime::Handle::current();
    Ok(move || {
        let bridge: Box<dyn Read + Send> = Box::new(tokio_util::io::SyncIoBridge::new_with_handle(
            stored, runtime,
        ));
        vigil_record::CastReader::new(bridge)
    })
}

type Chunks = mpsc::Sender<Result<bytes::Bytes, std::io::Error>>;

/// Sends `reader` to the response in 64 KiB chunks, until it ends or the client leaves.
fn pump(mut reader: impl Read, tx: &Chunks) {
    loop {
        let mut buf = vec![0u8; 64 * 1024];
        match reader.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => {
                buf.truncate(n);
                if tx.blocking_send(Ok(buf.into())).is_err() {
                    break;
                }
            }
            Err(e) => {
                let _ = tx.blocking_send(Err(e));
                break;
            }
        }
    }
}

/// The recording as plain asciicast v3, streamed (a recording can be larger than memory).
/// With `from`, it starts with the header (plus `vigil_from_ms`, the moment reached), a
/// resize and an output event that draw the screen of that moment, then the events after.
pub(crate) async fn recording(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    Query(q): Query<RecordingQuery>,
) -> ApiResult<Response> {
    let track = q.track.unwrap_or(0);
    let key = track_key(&state, &caller, &id, track).await?;
    let purpose = match q.purpose.as_deref() {
        Some("play") => Purpose::Play,
        _ => Purpose::Download,
    };
    let open = open_decoded(&state, &id, &key).await?;
    // The input track has its own permission: without it the recording carries output only.
    let with_input = caller.may(Permission::SessionRecordingInput);
    let actor = caller.actor();
    if purpose == Purpose::Download || state.seeks.new_play(&actor.name, &id, track) {
        state
            .admin
            .recording_opened(&actor, &SessionId(id.clone()), purpose, track)
            .await?;
    }
    let from = q.from.filter(|_| purpose == Purpose::Play);
    // Decoding is CPU work on a stream of any size: a blocking task, reading the store's
    // async stream through a bridge, sending 64 KiB chunks to the response.
    let (tx, rx) = mpsc::channel::<Result<bytes::Bytes, std::io::Error>>(4);
    let seeks = state.clone();
    tokio::task::spawn_blocking(move || {
        let cast = match open() {
            Ok(cast) => cast,
            Err(e) => {
                let _ = tx.blocking_send(Err(e));
                return;
            }
        };
        let mut reader: Box<dyn BufRead> = if with_input {
            Box::new(BufReader::new(cast))
        } else {
            Box::new(BufReader::new(vigil_record::OutputOnly::new(
                BufReader::new(cast),
            )))
        };
        if let Some(ms) = from {
            let index_key = (key, with_input);
            let mut index = seeks.seeks.take(&index_key);
            let seeked = vigil_record::seek(&mut reader, &mut index, Duration::from_millis(ms));
            seeks.seeks.keep(index_key, index);
            match seeked {
                Ok(s) => {
                    if tx.blocking_send(Ok(seek_head(&s).into())).is_err() {
                        return;
                    }
                }
                Err(e) => {
                    let _ = tx.blocking_send(Err(e));
                    return;
                }
            }
        }
        pump(reader, &tx);
    });
    let stream =
        futures::stream::unfold(rx, |mut rx| async move { rx.recv().await.map(|c| (c, rx)) });
    let mut response = Body::from_stream(stream).into_response();
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        header::HeaderValue::from_static("application/x-asciicast"),
    );
    if purpose == Purpose::Download
        && let Ok(v) = header::HeaderValue::from_str(&format!("attachment; filename=\"{id}.cast\""))
    {
        headers.insert(header::CONTENT_DISPOSITION, v);
    }
    Ok(response)
}

/// The start of a stream from a moment: the header with `vigil_from_ms`, the screen then,
/// and the first event after it.
fn seek_head(s: &vigil_record::Seeked) -> Vec<u8> {
    let mut header: serde_json::Value =
        serde_json::from_str(&s.header).unwrap_or_else(|_| serde_json::json!({"version": 3}));
    if let Some(h) = header.as_object_mut() {
        h.insert(
            "vigil_from_ms".into(),
            serde_json::json!(u64::try_from(s.at.as_millis()).unwrap_or(u64::MAX)),
        );
    }
    let mut out = header.to_string().into_bytes();
    out.push(b'\n');
    let lines = [
        serde_json::json!([0.0, "r", format!("{}x{}", s.cols, s.rows)]),
        serde_json::json!([0.0, "o", s.screen]),
    ];
    for l in lines {
        out.extend_from_slice(l.to_string().as_bytes());
        out.push(b'\n');
    }
    if let Some(next) = &s.next {
        out.extend_from_slice(next);
    }
    out
}

#[derive(Debug, Deserialize)]
pub(crate) struct MarkersQuery {
    track: Option<u32>,
}

#[derive(Debug, Serialize)]
pub(crate) struct Marker {
    /// Milliseconds from the start of the recording.
    at_ms: u64,
    label: String,
}

/// The markers of a recording (commands, gateway notices, locks), for the player's list.
pub(crate) async fn markers(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    Query(q): Query<MarkersQuery>,
) -> ApiResult<Json<Vec<Marker>>> {
    let track = q.track.unwrap_or(0);
    let key = track_key(&state, &caller, &id, track).await?;
    let open = open_decoded(&state, &id, &key).await?;
    let found = tokio::task::spawn_blocking(move || -> std::io::Result<Vec<Marker>> {
        let found = vigil_record::markers(BufReader::new(open()?))?;
        Ok(found
            .into_iter()
            .map(|(at, label)| Marker {
                at_ms: u64::try_from(at.as_millis()).unwrap_or(u64::MAX),
                label,
            })
            .collect())
    })
    .await
    .map_err(|e| ApiError::Internal(e.to_string()))?
    .map_err(|e| ApiError::Internal(format!("cannot read the recording: {e}")))?;
    Ok(Json(found))
}
