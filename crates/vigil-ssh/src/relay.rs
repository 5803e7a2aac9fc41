//! The two pumps of one channel pair. Each direction runs in its own task so that a full
//! window one way never stalls the other; each forwards messages in arrival order, so data,
//! EOF, exit status and close reach the other side in the order they were sent.

use std::sync::Arc;

use russh::{ChannelMsg, ChannelReadHalf, ChannelWriteHalf};
use vigil_core::EventKind;
use vigil_session::{ChannelTag, SessionIo};

use crate::connection::Shared;

type OperatorWrite = ChannelWriteHalf<russh::server::Msg>;
type TargetWrite = ChannelWriteHalf<russh::client::Msg>;

/// Operator to target, until the operator closes the channel or the session ends.
pub(crate) async fn operator_to_target(shared: Arc<Shared>, io: SessionIo, tag: ChannelTag, id: russh::ChannelId, mut from: ChannelReadHalf, to: TargetWrite) {
    while let Some(msg) = from.wait().await {
        let sent = match msg {
            ChannelMsg::Data { data } => match io.from_operator(tag, data).await {
                Ok(data) => to.data_bytes(data).await,
                Err(e) => {
                    tracing::error!(error = %e, "recording failed; ending the channel");
                    break;
                }
            },
            ChannelMsg::ExtendedData { data, ext } => match io.from_operator(tag, data).await {
                Ok(data) => to.extended_data_bytes(ext, data).await,
                Err(_) => break,
            },
            ChannelMsg::Eof => to.eof().await,
            ChannelMsg::Close => {
                let _ = to.close().await;
                break;
            }
            ChannelMsg::WindowChange { col_width, row_height, pix_width, pix_height } => {
                let _ = io.resize(col_width, row_height).await;
                to.window_change(col_width, row_height, pix_width, pix_height).await
            }
            ChannelMsg::Signal { signal } => to.signal(signal).await,
            ChannelMsg::RequestShell { want_reply: true } | ChannelMsg::Exec { want_reply: true, .. } | ChannelMsg::RequestSubsystem { want_reply: true, .. } => {
                // One program per channel: later requests are refused, never forwarded.
                shared.reply(id, false).await;
                Ok(())
            }
            _ => Ok(()),
        };
        if sent.is_err() {
            break;
        }
    }
    let _ = to.close().await;
    shared.forget_channel(id);
}

/// Target to operator, until the target closes the channel.
#[allow(clippy::too_many_arguments)]
pub(crate) async fn target_to_operator(
    shared: Arc<Shared>,
    io: SessionIo,
    tag: ChannelTag,
    operator_id: russh::ChannelId,
    pending: Vec<ChannelMsg>,
    mut from: ChannelReadHalf,
    to: OperatorWrite,
    _alive: tokio::sync::mpsc::Sender<()>,
) {
    let mut closed_by_target = false;
    let mut pending = pending.into_iter();
    loop {
        let msg = match pending.next() {
            Some(m) => m,
            None => match from.wait().await {
                Some(m) => m,
                None => break,
            },
        };
        let sent = match msg {
            ChannelMsg::Data { data } => match io.from_target(tag, data).await {
                Ok(data) => to.data_bytes(data).await,
                Err(e) => {
                    tracing::error!(error = %e, "recording failed; ending the channel");
                    break;
                }
            },
            ChannelMsg::ExtendedData { data, ext } => match io.from_target(tag, data).await {
                Ok(data) => to.extended_data_bytes(ext, data).await,
                Err(_) => break,
            },
            ChannelMsg::Eof => to.eof().await,
            ChannelMsg::ExitStatus { exit_status } => {
                if tag != ChannelTag::Forward {
                    let _ = io.exit(exit_status).await;
                    shared.event(EventKind::ExitStatus, serde_json::json!({ "channel": operator_id.to_string(), "status": exit_status })).await;
                }
                to.exit_status(exit_status).await
            }
            ChannelMsg::ExitSignal { signal_name, core_dumped, error_message, lang_tag } => {
                shared.event(EventKind::ExitStatus, serde_json::json!({ "channel": operator_id.to_string(), "signal": format!("{signal_name:?}") })).await;
                match shared.handle() {
                    Some(h) => h.exit_signal_request(operator_id, signal_name, core_dumped, error_message, lang_tag).await.map_err(|_| russh::Error::SendError),
                    None => Ok(()),
                }
            }
            ChannelMsg::Close => {
                closed_by_target = true;
                break;
            }
            _ => Ok(()),
        };
        if sent.is_err() {
            break;
        }
    }
    if !closed_by_target {
        shared.target_lost();
    }
    let _ = to.close().await;
}
