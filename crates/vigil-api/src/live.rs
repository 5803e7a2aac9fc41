//! The live stream of a session over a WebSocket: first the current screen (from the server's
//! screen model), then live output as binary frames. The operator is not told; every start and
//! end of a viewing goes into the session log and the audit log with who and when.
//!
//! Frames: text `{"type":"init","cols","rows","screen"}` (also sent again as `"reset"` after
//! a viewer fell too far behind), text `{"type":"resize","cols","rows"}`, binary output bytes,
//! text `{"type":"end"}` when the session ends. What the viewer sends is ignored: watching
//! never reaches the session's input.
//!
//! A session another node runs is relayed from that node over the node link
//! ([`crate::node_link`]): the viewer sees the same frames, and this node writes the viewing's
//! evidence.

use axum::extract::ws::rejection::WebSocketUpgradeRejection;
use axum::extract::ws::{Message, WebSocket, WebSocketUpgrade};
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, header};
use axum::response::Response;
use futures::{SinkExt, StreamExt};
use std::time::Duration;
use tokio::sync::broadcast::error::RecvError;
use vigil_core::{Permission, SessionId};
use vigil_session::{ControlError, LiveFrame, LiveView};

use crate::auth::Caller;
use crate::error::{ApiError, ApiResult};
use crate::node_link::PeerNode;
use crate::node_link::relay::{self, Upstream};
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
    pub(crate) track: Option<u32>,
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
    let local = match state.hub.watch(&SessionId(id.clone()), track).await {
        Ok(view) => Ok(view),
        // Another node runs it: relayed from there, or an answer that says why not.
        Err(ControlError::NotHere(_)) => Err(relay::owner(&state, &id, &row.node).await?),
        Err(other) => return Err(other.into()),
    };
    let ws = ws.map_err(|_| {
        ApiError::BadRequest("open the live stream as a WebSocket (Upgrade: websocket)".into())
    })?;
    let source = match local {
        Ok(view) => Source::Here(view),
        Err(owner) => {
            let upstream = relay::open(&state, &owner, &id, track).await?;
            Source::Relayed(Box::new(upstream), owner.name)
        }
    };
    Ok(ws.on_upgrade(move |socket| watch(state, caller, id, track, source, socket)))
}

/// A session's live stream for a peer node, which relays it to its viewer and writes the
/// viewing's evidence under the viewer's name (this node does not know them).
pub(crate) async fn peer_live(
    State(state): State<AppState>,
    peer: PeerNode,
    Path(id): Path<String>,
    Query(q): Query<LiveQuery>,
    ws: Result<WebSocketUpgrade, WebSocketUpgradeRejection>,
) -> ApiResult<Response> {
    let track = q.track.unwrap_or(0);
    let sid = SessionId(id);
    let view = state.hub.watch(&sid, track).await?;
    let ws = ws.map_err(|_| {
        ApiError::BadRequest("open the live stream as a WebSocket (Upgrade: websocket)".into())
    })?;
    tracing::info!(session = %sid, peer = %peer.name, "relaying a live stream to a peer node");
    Ok(ws.on_upgrade(move |socket| async move { stream(&state, &sid, track, view, socket).await }))
}

/// Where a viewer's frames come from.
enum Source {
    Here(LiveView),
    /// The owning node's stream, and its name.
    Relayed(Box<Upstream>, String),
}

fn init(kind: &str, view: &LiveView) -> Message {
    Message::Text(
        serde_json::json!({ "type": kind, "cols": view.cols, "rows": view.rows, "screen": view.screen })
            .to_string()
            .into(),
    )
}

const END: &str = r#"{"type":"end"}"#;

/// One viewer's watch, with its evidence: its start and end go into the session log and the
/// administration log under the viewer's name, whichever node runs the session.
async fn watch(
    state: AppState,
    caller: Caller,
    id: String,
    track: u32,
    source: Source,
    socket: WebSocket,
) {
    let sid = SessionId(id);
    let by = caller.actor();
    let relayed_from = match &source {
        Source::Here(_) => None,
        Source::Relayed(_, owner) => Some(owner.clone()),
    };
    let log = |started: bool| {
        let (state, sid, by, from) = (state.clone(), sid.clone(), by.clone(), relayed_from.clone());
        async move {
            if let Err(e) = state
                .admin
                .watched(&by, &sid, started, from.as_deref())
                .await
            {
                tracing::error!(session = %sid, error = %e, "cannot log a live viewing");
            }
        }
    };
    log(true).await;
    match source {
        Source::Here(view) => stream(&state, &sid, track, view, socket).await,
        Source::Relayed(upstream, owner) => relayed(&sid, &owner, *upstream, socket).await,
    }
    log(false).await;
}

/// A ping this often keeps the stream's silence meaningful: a relaying node that hears
/// nothing for [`SILENCE`] knows the owner is gone.
const PING_EVERY: Duration = Duration::from_secs(10);
const SILENCE: Duration = Duration::from_secs(35);

/// Sends a session's live view down `socket` until the session ends or the viewer leaves.
/// What the viewer sends is read only to notice that it left.
pub(crate) async fn stream(
    state: &AppState,
    sid: &SessionId,
    track: u32,
    mut view: LiveView,
    socket: WebSocket,
) {
    let (mut sink, mut source) = socket.split();
    let mut ping = tokio::time::interval_at(tokio::time::Instant::now() + PING_EVERY, PING_EVERY);
    let mut open = sink.send(init("init", &view)).await.is_ok();
    while open {
        tokio::select! {
            frame = view.frames.recv() => {
                let sent = match frame {
                    Ok(LiveFrame::Output(bytes)) => sink.send(Message::Binary(bytes)).await,
                    Ok(LiveFrame::Resize(cols, rows)) => {
                        sink.send(Message::Text(serde_json::json!({ "type": "resize", "cols": cols, "rows": rows }).to_string().into())).await
                    }
                    Err(RecvError::Lagged(_)) => match state.hub.watch(sid, track).await {
                        Ok(fresh) => {
                            view = fresh;
                            sink.send(init("reset", &view)).await
                        }
                        Err(_) => {
                            let _ = sink.send(Message::Text(END.into())).await;
                            break;
                        }
                    },
                    Err(RecvError::Closed) => {
                        let _ = sink.send(Message::Text(END.into())).await;
                        break;
                    }
                };
                open = sent.is_ok();
            }
            _ = ping.tick() => open = sink.send(Message::Ping(Default::default())).await.is_ok(),
            msg = source.next() => {
                if !matches!(msg, Some(Ok(Message::Text(_) | Message::Binary(_) | Message::Ping(_) | Message::Pong(_)))) {
                    break;
                }
            }
        }
    }
    let _ = sink.close().await;
}

/// Passes the owning node's frames to the viewer as they come; the viewer is told the
/// stream ended when the owner ends it, closes it, or falls silent.
async fn relayed(sid: &SessionId, owner: &str, mut upstream: Upstream, socket: WebSocket) {
    use tokio_tungstenite::tungstenite::Message as Peer;
    let (mut sink, mut source) = socket.split();
    let mut ended = false;
    loop {
        tokio::select! {
            frame = tokio::time::timeout(SILENCE, upstream.next()) => {
                let sent = match frame {
                    Ok(Some(Ok(Peer::Text(text)))) => {
                        ended = text.as_str() == END;
                        sink.send(Message::Text(text.as_str().into())).await
                    }
                    Ok(Some(Ok(Peer::Binary(bytes)))) => sink.send(Message::Binary(bytes)).await,
                    Ok(Some(Ok(Peer::Ping(_) | Peer::Pong(_) | Peer::Frame(_)))) => Ok(()),
                    Ok(Some(Ok(Peer::Close(_))) | None) => break,
                    Ok(Some(Err(e))) => {
                        tracing::warn!(session = %sid, node = owner, error = %e, "the relayed live stream broke");
                        break;
                    }
                    Err(_) => {
                        tracing::warn!(session = %sid, node = owner, "the relayed live stream fell silent");
                        break;
                    }
                };
                if sent.is_err() {
                    ended = true;
                    break;
                }
            }
            msg = source.next() => {
                if !matches!(msg, Some(Ok(Message::Text(_) | Message::Binary(_) | Message::Ping(_) | Message::Pong(_)))) {
                    ended = true;
                    break;
                }
            }
        }
    }
    if !ended {
        let _ = sink.send(Message::Text(END.into())).await;
    }
    let _ = sink.close().await;
    let _ = upstream.close(None).await;
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
