//! The relay of a file-transfer channel whose files the gateway inspects (legacy SCP, SFTP):
//! the operator's bytes and the target's go to a protocol relay from `vigil_transfer`, which
//! holds each file until the session's transfer policy decided it, and writes to either side
//! itself.
//!
//! ```text
//!  operator channel ──► pipeline (lock gate, counts) ──► ┌──────────────┐ ──► target channel
//!  operator channel ◄────────────────────────────────── │ vigil_transfer│ ◄── pipeline ◄── target
//!                                                        └──────────────┘
//! ```
//! Each side is a byte stream (a `tokio::io::duplex` pair) so the protocol relay knows
//! nothing of SSH. The target's stderr goes straight to the operator; its exit status waits
//! until the protocol relay has said everything it had to the operator.

use std::sync::Arc;

use bytes::Bytes;
use russh::{ChannelMsg, ChannelReadHalf, ChannelWriteHalf};
use tokio::io::{AsyncReadExt, AsyncWriteExt, DuplexStream, WriteHalf};
use tokio::sync::Mutex;
use vigil_core::{Direction, EventKind};
use vigil_session::{ChannelIo, Closed, Outlet};
use vigil_transfer::Inspector;
use vigil_transfer::scp_relay::{End, ScpRun};

use crate::shared::{OperatorWrite, Shared};

type TargetWrite = ChannelWriteHalf<russh::client::Msg>;

/// How much of each direction waits between the channel and the protocol relay.
const PIPE: usize = 256 * 1024;

/// The protocol a channel carries.
pub(crate) enum Protocol {
    Scp(ScpRun),
    Sftp(vigil_transfer::sftp::Directions),
}

impl Protocol {
    /// The protocol relay a transfer channel needs (`command`: its exec line), under
    /// `policy`; none for what is not inspected (rsync, everything else).
    pub(crate) fn for_channel(
        kind: Option<vigil_core::TransferKind>,
        command: Option<&str>,
        policy: &vigil_core::TransferPolicy,
    ) -> Option<Protocol> {
        use vigil_core::{TransferKind, TransferTool};
        match kind? {
            TransferKind::Exec(TransferTool::Scp, direction) => Some(Protocol::Scp(ScpRun {
                direction,
                paths: command.map(vigil_core::transfer_paths).unwrap_or_default(),
            })),
            TransferKind::Sftp => {
                Some(Protocol::Sftp(vigil_transfer::sftp::Directions::of(policy)))
            }
            TransferKind::Exec(TransferTool::Rsync, _) => None,
        }
    }

    /// Its name in the evidence.
    pub(crate) fn tool(&self) -> &'static str {
        match self {
            Protocol::Scp(_) => "scp",
            Protocol::Sftp(_) => "sftp",
        }
    }
}

/// The channels of one inspected transfer.
pub(crate) struct Ends {
    pub(crate) operator_rx: ChannelReadHalf,
    pub(crate) operator_tx: OperatorWrite,
    pub(crate) target_rx: ChannelReadHalf,
    pub(crate) target_tx: TargetWrite,
    /// What the target sent while its channel was being opened.
    pub(crate) pending: Vec<ChannelMsg>,
}

/// Relays the channel until both sides are done.
pub(crate) async fn relay(
    shared: Arc<Shared>,
    io: ChannelIo,
    id: russh::ChannelId,
    ends: Ends,
    protocol: Protocol,
    inspector: Inspector,
    alive: tokio::sync::mpsc::Sender<()>,
) {
    let (operator_side, operator_outer) = tokio::io::duplex(PIPE);
    let (target_side, target_outer) = tokio::io::duplex(PIPE);
    let (from_operator_r, to_operator_w) = tokio::io::split(operator_outer);
    let (from_target_r, to_target_w) = tokio::io::split(target_outer);
    let operator_tx = Arc::new(ends.operator_tx);
    let target_tx = Arc::new(ends.target_tx);

    let engine_shared = Arc::clone(&shared);
    let engine = tokio::spawn(async move {
        let result = match protocol {
            Protocol::Scp(run) => {
                let (or, ow) = tokio::io::split(operator_side);
                let (tr, tw) = tokio::io::split(target_side);
                let operator = End {
                    read: or,
                    write: ow,
                };
                let target = End {
                    read: tr,
                    write: tw,
                };
                let relayed = match run.direction {
                    Direction::Upload => {
                        vigil_transfer::scp_relay::relay(&run, &inspector, operator, target).await
                    }
                    Direction::Download => {
                        vigil_transfer::scp_relay::relay(&run, &inspector, target, operator).await
                    }
                };
                relayed.map_err(|e| e.to_string())
            }
            Protocol::Sftp(directions) => {
                let (notices, mut told) = tokio::sync::mpsc::unbounded_channel::<String>();
                let teller = Arc::clone(&engine_shared);
                let telling = tokio::spawn(async move {
                    while let Some(text) = told.recv().await {
                        teller.say(id, &text).await;
                    }
                });
                let relayed = vigil_transfer::sftp::relay(
                    operator_side,
                    target_side,
                    Arc::new(inspector),
                    directions,
                    notices,
                )
                .await;
                let _ = telling.await;
                relayed.map_err(|e| e.to_string())
            }
        };
        if let Err(e) = result {
            tracing::warn!(error = %e, "file transfer stopped");
            engine_shared
                .event(
                    EventKind::ChannelRefused,
                    serde_json::json!({ "kind": "transfer", "channel": id.to_string(), "reason": e }),
                )
                .await;
            engine_shared.say(id, &format!("vigil: {e}")).await;
        }
    });
    // What the protocol relay writes goes out on the channels.
    let to_operator = tokio::spawn(drain_to_operator(from_operator_r, Arc::clone(&operator_tx)));
    let to_target = tokio::spawn(drain_to_target(from_target_r, Arc::clone(&target_tx)));
    let done = Done {
        engine,
        to_operator,
    };
    let back = tokio::spawn(target_side_in(
        Arc::clone(&shared),
        io.clone(),
        id,
        ends.pending,
        ends.target_rx,
        to_target_w,
        Arc::clone(&operator_tx),
        done,
        alive,
    ));
    operator_side_in(
        Arc::clone(&shared),
        io.clone(),
        id,
        ends.operator_rx,
        to_operator_w,
    )
    .await;
    let _ = to_target.await;
    let _ = target_tx.close().await;
    let _ = back.await;
    io.closed().await;
    shared.forget_channel(id);
}

/// What the exit status waits for: the protocol relay, and its last words to the operator.
struct Done {
    engine: tokio::task::JoinHandle<()>,
    to_operator: tokio::task::JoinHandle<()>,
}

impl Done {
    async fn wait(self) {
        let _ = self.engine.await;
        let _ = self.to_operator.await;
    }
}

/// Bytes into the protocol relay, through the channel's pipeline.
struct IntoRelay<'a> {
    shared: &'a Shared,
    id: russh::ChannelId,
    pipe: &'a Mutex<WriteHalf<DuplexStream>>,
}

impl IntoRelay<'_> {
    async fn write(&self, data: Bytes) -> Result<(), Closed> {
        self.pipe
            .lock()
            .await
            .write_all(&data)
            .await
            .map_err(|_| Closed)
    }
}

impl Outlet for IntoRelay<'_> {
    async fn to_target(&self, data: Bytes) -> Result<(), Closed> {
        self.write(data).await
    }
    async fn to_operator(&self, data: Bytes) -> Result<(), Closed> {
        self.write(data).await
    }
    async fn tell(&self, text: String) {
        self.shared.say(self.id, &text).await;
    }
    fn end(&self, reason: vigil_core::EndReason, notice: String) {
        self.shared.end_with(reason, notice);
    }
}

/// The operator's channel into the protocol relay. As in `relay::operator_to_target`, the
/// channel is read at once into a backlog paced by the connection's input budget, so russh's
/// session loop never blocks on it.
async fn operator_side_in(
    shared: Arc<Shared>,
    io: ChannelIo,
    id: russh::ChannelId,
    mut from: ChannelReadHalf,
    pipe: WriteHalf<DuplexStream>,
) {
    let (backlog_tx, mut backlog) = tokio::sync::mpsc::unbounded_channel::<ChannelMsg>();
    let writer_shared = Arc::clone(&shared);
    let writer = tokio::spawn(async move {
        let pipe = Mutex::new(pipe);
        let into = IntoRelay {
            shared: &writer_shared,
            id,
            pipe: &pipe,
        };
        while let Some(msg) = backlog.recv().await {
            let size = data_len(&msg);
            let stop = match msg {
                ChannelMsg::Data { data } => match io.from_operator(data).await {
                    Ok(passage) => io.carry(passage, &into).await.is_err(),
                    Err(_) => true,
                },
                ChannelMsg::Eof | ChannelMsg::Close => true,
                ChannelMsg::RequestShell { want_reply: true }
                | ChannelMsg::Exec {
                    want_reply: true, ..
                }
                | ChannelMsg::RequestSubsystem {
                    want_reply: true, ..
                } => {
                    writer_shared.reply(id, false).await;
                    false
                }
                _ => false,
            };
            writer_shared.input_budget.release(size);
            if stop {
                break;
            }
        }
        // The protocol relay sees the end of the operator's input.
        let _ = pipe.lock().await.shutdown().await;
        while let Ok(msg) = backlog.try_recv() {
            writer_shared.input_budget.release(data_len(&msg));
        }
    });
    while let Some(msg) = from.wait().await {
        let size = data_len(&msg);
        shared.input_budget.add(size).await;
        let last = matches!(msg, ChannelMsg::Close);
        if backlog_tx.send(msg).is_err() || last {
            break;
        }
    }
    drop(backlog_tx);
    let _ = writer.await;
}

fn data_len(msg: &ChannelMsg) -> usize {
    match msg {
        ChannelMsg::Data { data } | ChannelMsg::ExtendedData { data, .. } => data.len(),
        _ => 0,
    }
}

/// The target's channel: its output into the protocol relay, its stderr to the operator, its
/// exit status or signal to the operator once the protocol relay is done.
#[allow(clippy::too_many_arguments)]
async fn target_side_in(
    shared: Arc<Shared>,
    io: ChannelIo,
    id: russh::ChannelId,
    pending: Vec<ChannelMsg>,
    mut from: ChannelReadHalf,
    pipe: WriteHalf<DuplexStream>,
    operator: Arc<OperatorWrite>,
    done: Done,
    _alive: tokio::sync::mpsc::Sender<()>,
) {
    let pipe = Mutex::new(pipe);
    let into = IntoRelay {
        shared: &shared,
        id,
        pipe: &pipe,
    };
    let mut done = Some(done);
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
        match msg {
            ChannelMsg::Data { data } => {
                let carried = match io.from_target(data).await {
                    Ok(passage) => io.carry(passage, &into).await.is_ok(),
                    Err(_) => false,
                };
                if !carried {
                    break;
                }
            }
            ChannelMsg::ExtendedData { data, ext } => {
                let _ = operator.extended_data_bytes(ext, data).await;
            }
            ChannelMsg::Eof => {
                let _ = pipe.lock().await.shutdown().await;
            }
            ChannelMsg::ExitStatus { exit_status } => {
                relay_done(&pipe, &mut done).await;
                let _ = operator.exit_status(exit_status).await;
                crate::relay::record_exit(&shared, &io, id, exit_status).await;
            }
            ChannelMsg::ExitSignal {
                signal_name,
                core_dumped,
                error_message,
                lang_tag,
            } => {
                relay_done(&pipe, &mut done).await;
                let _ = crate::relay::forward_exit_signal(
                    &shared,
                    id,
                    signal_name,
                    core_dumped,
                    error_message,
                    lang_tag,
                )
                .await;
            }
            ChannelMsg::Close => {
                closed_by_target = true;
                break;
            }
            _ => {}
        }
    }
    relay_done(&pipe, &mut done).await;
    if !closed_by_target {
        shared.target_lost(id).await;
    }
    let _ = operator.eof().await;
    let _ = operator.close().await;
}

/// The target's output has ended: the protocol relay reads the end of it, and is waited for
/// (once) before the exit status or signal goes to the operator.
async fn relay_done(pipe: &Mutex<WriteHalf<DuplexStream>>, done: &mut Option<Done>) {
    let _ = pipe.lock().await.shutdown().await;
    if let Some(d) = done.take() {
        d.wait().await;
    }
}

/// What the protocol relay says to the operator.
async fn drain_to_operator(from: tokio::io::ReadHalf<DuplexStream>, to: Arc<OperatorWrite>) {
    drain(from, |data| to.data_bytes(data)).await;
}

/// What the protocol relay says to the target; its end is the target's EOF.
async fn drain_to_target(from: tokio::io::ReadHalf<DuplexStream>, to: Arc<TargetWrite>) {
    drain(from, |data| to.data_bytes(data)).await;
    let _ = to.eof().await;
}

/// Sends what comes out of `from` with `send`, until either side is done.
async fn drain<F, E>(mut from: tokio::io::ReadHalf<DuplexStream>, send: impl Fn(Bytes) -> F)
where
    F: std::future::Future<Output = Result<(), E>>,
{
    let mut buf = vec![0u8; 32 * 1024];
    while let Ok(n) = from.read(&mut buf).await {
        if n == 0 || send(Bytes::copy_from_slice(&buf[..n])).await.is_err() {
            break;
        }
    }
}
