//! The two pumps of one channel pair. Each direction runs in its own task so that a full
//! window one way never stalls the other; each forwards messages in arrival order, so data,
//! EOF, exit status and close reach the other side in the order they were sent.

use std::sync::Arc;

use russh::{ChannelMsg, ChannelReadHalf, ChannelWriteHalf};
use vigil_core::EventKind;
use vigil_session::{ChannelIo, ChannelKind};

use crate::shared::Shared;

type OperatorWrite = ChannelWriteHalf<russh::server::Msg>;
type TargetWrite = ChannelWriteHalf<russh::client::Msg>;

/// Operator to target, until the operator closes the channel or the session ends.
///
/// russh's server loop blocks whenever it hands operator data to a channel queue that is full,
/// and while blocked it sends nothing, not even the output the target is waiting to have
/// drained. So this side never lets the queue fill: a reader takes every message at once into
/// an in-order backlog that a writer forwards to the target. The backlog's size is kept small
/// by flow control, not by blocking: above [`InputBudget::HIGH`] the connection grants the
/// operator only a small window (`Connection::adjust_window`), so the operator slows down.
pub(crate) async fn operator_to_target(
    shared: Arc<Shared>,
    io: ChannelIo,
    id: russh::ChannelId,
    mut from: ChannelReadHalf,
    to: TargetWrite,
) {
    let (backlog_tx, backlog_rx) = tokio::sync::mpsc::unbounded_channel::<ChannelMsg>();
    let writer = tokio::spawn(forward_backlog(Arc::clone(&shared), io, id, backlog_rx, to));
    let budget = &shared.input_budget;
    while let Some(msg) = from.wait().await {
        let size = match &msg {
            ChannelMsg::Data { data } | ChannelMsg::ExtendedData { data, .. } => data.len(),
            _ => 0,
        };
        budget.add(size).await;
        let last = matches!(msg, ChannelMsg::Close);
        if backlog_tx.send(msg).is_err() || last {
            break;
        }
    }
    drop(backlog_tx);
    let _ = writer.await;
    shared.forget_channel(id);
}

async fn forward_backlog(
    shared: Arc<Shared>,
    io: ChannelIo,
    id: russh::ChannelId,
    mut backlog: tokio::sync::mpsc::UnboundedReceiver<ChannelMsg>,
    to: TargetWrite,
) {
    // A failed recorder ends the session through its control path (Control::RecordingFailed:
    // the operator is told why, every channel is closed, the reason is recorded). The pumps
    // only stop forwarding: closing a channel here would race that notice and its reason.
    let mut recording_failed = false;
    while let Some(msg) = backlog.recv().await {
        let size = match &msg {
            ChannelMsg::Data { data } | ChannelMsg::ExtendedData { data, .. } => data.len(),
            _ => 0,
        };
        let sent = match msg {
            // The passage is held until the bytes are handed to the target, so a lock that
            // comes meanwhile waits for them. No bytes: the lock gate dropped them.
            ChannelMsg::Data { data } => match io.from_operator(data).await {
                Ok(mut passage) => match passage.forward.take() {
                    Some(data) => to.data_bytes(data).await,
                    None => Ok(()),
                },
                Err(e) => {
                    tracing::error!(error = %e, "recording failed; the session ends");
                    recording_failed = true;
                    break;
                }
            },
            ChannelMsg::ExtendedData { data, ext } => match io.from_operator(data).await {
                Ok(mut passage) => match passage.forward.take() {
                    Some(data) => to.extended_data_bytes(ext, data).await,
                    None => Ok(()),
                },
                Err(_) => {
                    recording_failed = true;
                    break;
                }
            },
            ChannelMsg::Eof => to.eof().await,
            ChannelMsg::Close => {
                let _ = to.close().await;
                break;
            }
            ChannelMsg::WindowChange {
                col_width,
                row_height,
                pix_width,
                pix_height,
            } => {
                let _ = io.resize(col_width, row_height).await;
                to.window_change(col_width, row_height, pix_width, pix_height)
                    .await
            }
            // A signal (Ctrl-C sent as a request) is operator input too: it passes the gate.
            ChannelMsg::Signal { signal } => match io.operator_signal().await {
                Some(_passage) => to.signal(signal).await,
                None => Ok(()),
            },
            ChannelMsg::RequestShell { want_reply: true }
            | ChannelMsg::Exec {
                want_reply: true, ..
            }
            | ChannelMsg::RequestSubsystem {
                want_reply: true, ..
            } => {
                // One program per channel: later requests are refused, never forwarded.
                shared.reply(id, false).await;
                Ok(())
            }
            _ => Ok(()),
        };
        shared.input_budget.release(size);
        if sent.is_err() {
            break;
        }
    }
    // Whatever was not forwarded no longer counts against the connection's budget.
    while let Ok(msg) = backlog.try_recv() {
        if let ChannelMsg::Data { data } | ChannelMsg::ExtendedData { data, .. } = &msg {
            shared.input_budget.release(data.len());
        }
    }
    io.closed().await;
    if !recording_failed {
        let _ = to.close().await;
    }
}

/// Target to operator, until the target closes the channel.
#[allow(clippy::too_many_arguments)]
pub(crate) async fn target_to_operator(
    shared: Arc<Shared>,
    io: ChannelIo,
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
            // A failed recorder: stop forwarding and leave the ending to the session's control
            // path (see forward_backlog); closing here would race its notice and reason.
            ChannelMsg::Data { data } => match io.from_target(data).await {
                Ok(data) => to.data_bytes(data).await,
                Err(e) => {
                    tracing::error!(error = %e, "recording failed; the session ends");
                    return;
                }
            },
            ChannelMsg::ExtendedData { data, ext } => match io.from_target(data).await {
                Ok(data) => to.extended_data_bytes(ext, data).await,
                Err(_) => return,
            },
            ChannelMsg::Eof => to.eof().await,
            ChannelMsg::ExitStatus { exit_status } => {
                if io.kind() != ChannelKind::Forward {
                    let _ = io.exit(exit_status).await;
                    shared.event(EventKind::ExitStatus, serde_json::json!({ "channel": operator_id.to_string(), "status": exit_status })).await;
                }
                to.exit_status(exit_status).await
            }
            ChannelMsg::ExitSignal {
                signal_name,
                core_dumped,
                error_message,
                lang_tag,
            } => {
                shared.event(EventKind::ExitStatus, serde_json::json!({ "channel": operator_id.to_string(), "signal": format!("{signal_name:?}") })).await;
                match shared.handle() {
                    Some(h) => h
                        .exit_signal_request(
                            operator_id,
                            signal_name,
                            core_dumped,
                            error_message,
                            lang_tag,
                        )
                        .await
                        .map_err(|_| russh::Error::SendError),
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
