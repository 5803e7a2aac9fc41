//! The two pumps of one channel pair. Each direction runs in its own task so that a full
//! window one way never stalls the other; each forwards messages in arrival order, so data,
//! EOF, exit status and close reach the other side in the order they were sent.

use std::sync::Arc;

use bytes::Bytes;
use russh::{ChannelMsg, ChannelReadHalf, ChannelWriteHalf};
use vigil_core::EventKind;
use vigil_session::{CarryError, ChannelIo, ChannelKind, Closed};

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
    to: Arc<TargetWrite>,
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
    to: Arc<TargetWrite>,
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
            // The passage is held until its actions are carried out, so a lock that comes
            // meanwhile waits for them. No actions: the lock gate dropped the bytes.
            ChannelMsg::Data { data } => {
                let sides = Sides::input(&shared, id, &to, None);
                carried(
                    from_operator(&io, data, &sides).await,
                    &mut recording_failed,
                )
            }
            ChannelMsg::ExtendedData { data, ext } => {
                let sides = Sides::input(&shared, id, &to, Some(ext));
                carried(
                    from_operator(&io, data, &sides).await,
                    &mut recording_failed,
                )
            }
            ChannelMsg::Eof => {
                // What the stages still hold (a last line without its newline) is decided
                // before the target sees the end of the input.
                let sides = Sides::input(&shared, id, &to, None);
                let _ = carried(input_ended(&io, &sides).await, &mut recording_failed);
                to.eof().await
            }
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
        if sent.is_err() || recording_failed {
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
    target: Arc<TargetWrite>,
    _alive: tokio::sync::mpsc::Sender<()>,
) {
    let mut closed_by_target = false;
    let mut eof_held = false;
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
            ChannelMsg::Data { data } => {
                let sides = Sides::output(&shared, operator_id, &to, &target, None);
                match from_target(&io, data, &sides).await {
                    Err(CarryError::Recording(e)) => {
                        tracing::error!(error = %e, "recording failed; the session ends");
                        return;
                    }
                    other => carried(other, &mut false),
                }
            }
            ChannelMsg::ExtendedData { data, ext } => {
                let sides = Sides::output(&shared, operator_id, &to, &target, Some(ext));
                match from_target(&io, data, &sides).await {
                    Err(CarryError::Recording(_)) => return,
                    other => carried(other, &mut false),
                }
            }
            // sshd may send EOF before the exit status (a command that prints nothing). A
            // client whose input has ended closes the channel on EOF, and an exit status
            // that comes after can no longer reach it (ssh exits 255). So the EOF of a
            // session channel waits for the exit status (or the close).
            ChannelMsg::Eof if io.kind() != ChannelKind::Forward => {
                eof_held = true;
                Ok(())
            }
            ChannelMsg::Eof => to.eof().await,
            ChannelMsg::ExitStatus { exit_status } => {
                let sent = to.exit_status(exit_status).await;
                if std::mem::take(&mut eof_held) {
                    let _ = to.eof().await;
                }
                if io.kind() != ChannelKind::Forward {
                    record_exit(&shared, &io, operator_id, exit_status).await;
                }
                sent
            }
            ChannelMsg::ExitSignal {
                signal_name,
                core_dumped,
                error_message,
                lang_tag,
            } => {
                let sent = forward_exit_signal(
                    &shared,
                    operator_id,
                    signal_name,
                    core_dumped,
                    error_message,
                    lang_tag,
                )
                .await;
                if std::mem::take(&mut eof_held) {
                    let _ = to.eof().await;
                }
                sent
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
        shared.target_lost(operator_id).await;
    }
    if eof_held {
        let _ = to.eof().await;
    }
    let _ = to.close().await;
}

/// A session channel's exit status: in its recording track and the session log.
pub(crate) async fn record_exit(
    shared: &Shared,
    io: &ChannelIo,
    operator_id: russh::ChannelId,
    status: u32,
) {
    let _ = io.exit(status).await;
    shared
        .event(
            EventKind::ExitStatus,
            serde_json::json!({ "channel": operator_id.to_string(), "status": status }),
        )
        .await;
}

/// The target's command died of a signal: the session log says which, and the operator's
/// client is told the same (its exit status then says so, as it would without the gateway).
pub(crate) async fn forward_exit_signal(
    shared: &Shared,
    operator_id: russh::ChannelId,
    signal_name: russh::Sig,
    core_dumped: bool,
    error_message: String,
    lang_tag: String,
) -> Result<(), russh::Error> {
    shared
        .event(
            EventKind::ExitStatus,
            serde_json::json!({
                "channel": operator_id.to_string(),
                "signal": format!("{signal_name:?}"),
                "core_dumped": core_dumped,
            }),
        )
        .await;
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

/// Where one chunk's actions go (see `vigil_session::Outlet`): the target's channel, the
/// operator's (only on the target-to-operator pump), notices, the session's end.
struct Sides<'a> {
    shared: &'a Shared,
    operator: russh::ChannelId,
    to_operator: Option<&'a OperatorWrite>,
    target: &'a TargetWrite,
    /// Extended data (stderr) stays extended data.
    ext: Option<u32>,
}

impl<'a> Sides<'a> {
    /// For operator input: bytes go to the target only.
    fn input(
        shared: &'a Shared,
        operator: russh::ChannelId,
        target: &'a TargetWrite,
        ext: Option<u32>,
    ) -> Self {
        Sides {
            shared,
            operator,
            to_operator: None,
            target,
            ext,
        }
    }

    /// For target output: shown to the operator; injected bytes go back to the target.
    fn output(
        shared: &'a Shared,
        operator: russh::ChannelId,
        to_operator: &'a OperatorWrite,
        target: &'a TargetWrite,
        ext: Option<u32>,
    ) -> Self {
        Sides {
            shared,
            operator,
            to_operator: Some(to_operator),
            target,
            ext,
        }
    }
}

impl vigil_session::Outlet for Sides<'_> {
    async fn to_target(&self, data: Bytes) -> Result<(), Closed> {
        match self.ext {
            Some(ext) => self.target.extended_data_bytes(ext, data).await,
            None => self.target.data_bytes(data).await,
        }
        .map_err(|_| Closed)
    }

    async fn to_operator(&self, data: Bytes) -> Result<(), Closed> {
        let Some(to) = self.to_operator else {
            return Err(Closed);
        };
        let write = async {
            match self.ext {
                Some(ext) => to.extended_data_bytes(ext, data).await,
                None => to.data_bytes(data).await,
            }
        };
        match self.shared.unless_gone(write).await {
            Some(Ok(())) => Ok(()),
            Some(Err(_)) | None => Err(Closed),
        }
    }

    async fn tell(&self, text: String) {
        self.shared.say(self.operator, &text).await;
    }

    fn end(&self, reason: vigil_core::EndReason, notice: String) {
        self.shared.end_with(reason, notice);
    }
}

async fn from_operator(io: &ChannelIo, data: Bytes, sides: &Sides<'_>) -> Result<(), CarryError> {
    let passage = io.from_operator(data).await?;
    io.carry(passage, sides).await
}

async fn input_ended(io: &ChannelIo, sides: &Sides<'_>) -> Result<(), CarryError> {
    match io.input_ended().await? {
        Some(passage) => io.carry(passage, sides).await,
        None => Ok(()),
    }
}

async fn from_target(io: &ChannelIo, data: Bytes, sides: &Sides<'_>) -> Result<(), CarryError> {
    let passage = io.from_target(data).await?;
    io.carry(passage, sides).await
}

/// A failed recording is not a send error: the pump stops forwarding and the session's
/// control path ends it (see `forward_backlog`).
fn carried(
    result: Result<(), CarryError>,
    recording_failed: &mut bool,
) -> Result<(), russh::Error> {
    match result {
        Ok(()) => Ok(()),
        Err(CarryError::Closed) => Err(russh::Error::SendError),
        Err(CarryError::Recording(e)) => {
            tracing::error!(error = %e, "recording failed; the session ends");
            *recording_failed = true;
            Ok(())
        }
    }
}
