//! The live stream of a session over a WebSocket: first the current screen (from the server's
//! screen model), then live output as binary frames. The operator is not told; every start and
//! end of a viewing goes into the session log and the audit log with who and when.
//!
//! Frames: text `{"type":"init","cols","rows","screen"}` (also sent again as `"reset"` after
//! a viewer fell too far behind), text `{"type":"resize","cols","rows"}`, binary output bytes,
//! text `{"type":"end"}` when the session ends. What the viewer sends is ignored: watching
//! never reaches the session's input.

use axum::extract::ws::rejection::WebSocketUpgradeRejection;
use axum::extract::ws::{Message, WebSocket, WebSocketUpgrade};
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, header};
use axum::response::Response;
use futures::{SinkExt, StreamExt};
use tokio::sync::broadcast::error::RecvError;
use vigil_core::{Permission, SessionId};
use vigil_session::{ControlError, LiveFrame, LiveView};

use crate::auth::Caller;
use crate::error::{ApiError, ApiResult};
use crate::sessions::visible;
use crate::state::AppState;

/// A browser on another site cannot open the stream with our cookie: SameSite=Strict keeps
/// the cookie off cross-site requests, and the Origin, when sent, must be this host.
fn same_origin(headers: &HeaderMap) -> bool {
    let Some(origin) = headers.get(header::ORIGIN).and_then(|v| v.to_str().ok()) else {
        return true;
    };
    let host = headers
        .get(header::HOST)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    origin
        .split_once("://")
        .is_some_and(|(_, rest)| rest.trim_end_matches('/') == host)
}

#[derive(Debug, Default, serde::Deserialize)]
pub(crate) struct LiveQuery {
    /// Which recorded channel to watch (see the session's `tracks`); 0 by default.
    track: Option<u32>,
}

pub(crate) async fn live(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    Query(q): Query<LiveQuery>,
    headers: HeaderMap,
    ws: Result<WebSocketUpgrade, WebSocketUpgradeRejection>,
) -> ApiResult<Response> {
    let row = visible(&state, &caller, &id, Permission::SessionLivestream).await?;
    let track = q.track.unwrap_or(0);
    if !same_origin(&headers) {
        return Err(ApiError::Csrf);
    }
    if row.status == "closed" {
        return Err(ApiError::Conflict(format!(
            "session {id} has ended: open its video instead"
        )));
    }
    let view = match state.hub.watch(&SessionId(id.clone()), track).await {
        Ok(view) => view,
        // Only the owning node has the stream: say which one, and whether it is up.
        Err(ControlError::NotHere(_)) => {
            return Err(ApiError::Conflict(elsewhere(&state, &id, &row.node).await));
        }
        Err(other) => return Err(other.into()),
    };
    let ws = ws.map_err(|_| {
        ApiError::BadRequest("open the live stream as a WebSocket (Upgrade: websocket)".into())
    })?;
    Ok(ws.on_upgrade(move |socket| watch(state, caller, id, track, view, socket)))
}

/// Why the stream of a session on node `node` is not served here, and where it is.
async fn elsewhere(state: &AppState, id: &str, node: &str) -> String {
    use vigil_store::NodeState;
    match state.store.node(node).await {
        Ok(n) if n.state == NodeState::Up => {
            let silent = (vigil_core::now_millis() - n.heartbeat_at) / 1000;
            let heard = if silent > 5 {
                format!(", last heard from {silent} s ago")
            } else {
                String::new()
            };
            format!(
                "session {id} runs on node {node} ({}{heard}): its live stream is served by that node's console",
                n.url
            )
        }
        Ok(n) => format!(
            "session {id} runs on node {node}, which is {}: it cannot be watched; its session is closed as interrupted",
            if n.state == NodeState::Down {
                "down"
            } else {
                "no longer running (it left the cluster)"
            }
        ),
        Err(_) => format!(
            "session {id} runs on node {node}, which is not in the cluster's list (`vigil node list`)"
        ),
    }
}

fn init(kind: &str, view: &LiveView) -> Message {
    Message::Text(
        serde_json::json!({ "type": kind, "cols": view.cols, "rows": view.rows, "screen": view.screen })
            .to_string()
            .into(),
    )
}

async fn watch(
    state: AppState,
    caller: Caller,
    id: String,
    track: u32,
    mut view: LiveView,
    socket: WebSocket,
) {
    let sid = SessionId(id.clone());
    let by = caller.actor();
    let log = |started: bool| {
        let (state, sid, by) = (state.clone(), sid.clone(), by.clone());
        async move {
            if let Err(e) = state.admin.watched(&by, &sid, started).await {
                tracing::error!(session = %sid, error = %e, "cannot log a live viewing");
            }
        }
    };
    log(true).await;
    let (mut sink, mut source) = socket.split();
    let mut open = sink.send(init("init", &view)).await.is_ok();
    while open {
        tokio::select! {
            frame = view.frames.recv() => {
                let sent = match frame {
                    Ok(LiveFrame::Output(bytes)) => sink.send(Message::Binary(bytes)).await,
                    Ok(LiveFrame::Resize(cols, rows)) => {
                        sink.send(Message::Text(serde_json::json!({ "type": "resize", "cols": cols, "rows": rows }).to_string().into())).await
                    }
                    Err(RecvError::Lagged(_)) => match state.hub.watch(&sid, track).await {
                        Ok(fresh) => {
                            view = fresh;
                            sink.send(init("reset", &view)).await
                        }
                        Err(_) => {
                            let _ = sink.send(Message::Text(r#"{"type":"end"}"#.into())).await;
                            break;
                        }
                    },
                    Err(RecvError::Closed) => {
                        let _ = sink.send(Message::Text(r#"{"type":"end"}"#.into())).await;
                        break;
                    }
                };
                open = sent.is_ok();
            }
            msg = source.next() => {
                if !matches!(msg, Some(Ok(Message::Text(_) | Message::Binary(_) | Message::Ping(_) | Message::Pong(_)))) {
                    break;
                }
            }
        }
    }
    let _ = sink.close().await;
    log(false).await;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn origin_must_be_this_host() {
        let mut h = HeaderMap::new();
        assert!(same_origin(&h), "non-browser clients send no Origin");
        h.insert(
            header::HOST,
            "127.0.0.1:8443".parse().unwrap_or_else(|_| unreachable!()),
        );
        h.insert(
            header::ORIGIN,
            "https://127.0.0.1:8443"
                .parse()
                .unwrap_or_else(|_| unreachable!()),
        );
        assert!(same_origin(&h));
        h.insert(
            header::ORIGIN,
            "https://evil.example"
                .parse()
                .unwrap_or_else(|_| unreachable!()),
        );
        assert!(!same_origin(&h));
    }
}
