//! One operator session channel: collect the requests that precede the program (PTY, env),
//! refuse what policy forbids (agent, X11), pick the target (from the user name or the menu),
//! connect it, replay the requests there, then hand over to the two relay pumps.

use std::sync::Arc;

use russh::{Channel, ChannelId, ChannelMsg, ChannelReadHalf, ChannelWriteHalf};
use vigil_core::{EventKind, Evidence};
use vigil_session::ChannelKind;

use crate::pty::PtyRequest;
use crate::reach::ensure_target;
use crate::shared::{OperatorWrite, Shared};
use crate::target::TargetLink;

#[derive(Clone)]
enum Start {
    Shell,
    Exec(Vec<u8>),
    Subsystem(String),
}

impl Start {
    fn kind(&self) -> &'static str {
        match self {
            Start::Shell => "shell",
            Start::Exec(_) => "exec",
            Start::Subsystem(_) => "subsystem",
        }
    }
}

pub(crate) async fn run(
    shared: Arc<Shared>,
    channel: Channel<russh::server::Msg>,
    alive: tokio::sync::mpsc::Sender<()>,
) {
    let id = channel.id();
    let (mut rx, tx) = channel.split();
    let mut pty: Option<PtyRequest> = None;
    let mut env: Vec<(String, String)> = Vec::new();
    let (start, want_reply) = loop {
        let Some(msg) = rx.wait().await else {
            shared.forget_channel(id);
            return;
        };
        match msg {
            // PTY, env, X11 and agent requests are answered by the handler (connection.rs).
            ChannelMsg::RequestPty {
                term,
                col_width,
                row_height,
                pix_width,
                pix_height,
                terminal_modes,
                ..
            } => {
                pty = Some(PtyRequest {
                    term,
                    cols: col_width,
                    rows: row_height,
                    pix_width,
                    pix_height,
                    modes: terminal_modes,
                });
                shared.track_channel(id, true);
            }
            ChannelMsg::SetEnv {
                variable_name,
                variable_value,
                ..
            } => {
                env.push((variable_name, variable_value));
            }
            ChannelMsg::WindowChange {
                col_width,
                row_height,
                ..
            } => {
                if let Some(p) = &mut pty {
                    p.cols = col_width;
                    p.rows = row_height;
                }
            }
            ChannelMsg::RequestX11 { .. } => {
                refuse(
                    &shared,
                    id,
                    "x11",
                    "X11 forwarding is not allowed through the gateway",
                )
                .await;
            }
            ChannelMsg::AgentForward { .. } => {
                refuse(
                    &shared,
                    id,
                    "agent",
                    "agent forwarding is not allowed through the gateway",
                )
                .await;
            }
            ChannelMsg::RequestShell { want_reply } => break (Start::Shell, want_reply),
            ChannelMsg::Exec {
                want_reply,
                command,
            } => break (Start::Exec(command), want_reply),
            ChannelMsg::RequestSubsystem { want_reply, name } => {
                break (Start::Subsystem(name), want_reply);
            }
            ChannelMsg::Close => {
                shared.forget_channel(id);
                let _ = tx.close().await;
                return;
            }
            _ => {}
        }
    };

    let Some(spec) = shared.spec.get().cloned() else {
        return;
    };
    let mut replied = false;
    let (target_name, login) = match (spec.target, &start, &pty) {
        (Some(t), _, _) => (t, spec.login),
        (None, Start::Shell, Some(_)) => {
            if want_reply {
                shared.reply(id, true).await;
            }
            replied = true;
            match crate::menu::choose(&shared, &mut rx, &tx, &mut pty).await {
                Some(choice) => choice,
                None => {
                    finish(&shared, id, &tx).await;
                    return;
                }
            }
        }
        (None, _, _) => {
            let text = "vigil: no target chosen: connect as USER:TARGET@gateway (or USER:LOGIN@TARGET), or open a terminal without a command for the menu";
            fail(&shared, id, &tx, want_reply && !replied, text).await;
            return;
        }
    };

    let (link, io) = match ensure_target(&shared, &target_name, login.as_deref()).await {
        Ok(ok) => ok,
        Err(text) => {
            fail(&shared, id, &tx, want_reply && !replied, &text).await;
            return;
        }
    };
    let command = match &start {
        Start::Exec(c) => Some(String::from_utf8_lossy(c).into_owned()),
        Start::Subsystem(s) => Some(s.clone()),
        Start::Shell => None,
    };
    // What the channel carries decides its stages: file transfers stay out of the terminal
    // recording (their content is not a terminal, and may be a private key).
    let transfer = match &start {
        Start::Exec(c) => std::str::from_utf8(c)
            .ok()
            .and_then(vigil_core::classify_exec),
        _ => None,
    };
    let kind = match (&start, &pty, transfer) {
        (Start::Subsystem(_), _, _) => ChannelKind::Subsystem,
        (_, _, Some(t)) => ChannelKind::Transfer(t.tool),
        (_, Some(_), None) => ChannelKind::Terminal,
        (_, None, None) => ChannelKind::Exec,
    };
    // The session's transfer policy, before the target sees the request.
    let transfer_kind = match (&start, transfer) {
        (_, Some(t)) => Some(vigil_core::TransferKind::Exec(t.tool, t.direction)),
        (Start::Subsystem(name), _) if name == "sftp" => Some(vigil_core::TransferKind::Sftp),
        _ => None,
    };
    if let Some(k) = transfer_kind
        && let Err(why) = io.policy().transfers.allows(k)
    {
        let refused = Refused {
            kind: start.kind(),
            command: command.as_deref(),
            reason: &why,
        };
        refused
            .tell(
                &shared,
                id,
                &tx,
                want_reply && !replied,
                &format!("vigil: {why}"),
            )
            .await;
        return;
    }
    // A transfer program the gateway cannot see as one (a glob, a shell around it) would
    // carry files past a policy that restricts them.
    if transfer.is_none()
        && io.policy().transfers.restricts()
        && let Start::Exec(_) = &start
        && let Some(line) = &command
        && vigil_core::mentions_transfer_tool(line)
    {
        let why = "this command runs a file-transfer program in a form the gateway cannot inspect, and this login's transfer policy restricts transfers";
        let refused = Refused {
            kind: start.kind(),
            command: command.as_deref(),
            reason: why,
        };
        let text = format!("vigil: {why}");
        refused
            .tell(&shared, id, &tx, want_reply && !replied, &text)
            .await;
        return;
    }
    // Legacy SCP and SFTP are relayed file by file: each file is held until the policy
    // decided it.
    let protocol = crate::inspected::Protocol::for_channel(
        transfer_kind,
        command.as_deref(),
        &io.policy().transfers,
    );
    let inspector = match (&protocol, shared.session.get()) {
        (Some(p), Some(session)) => {
            match session.inspector(&io.policy().transfers, p.tool(), u32::from(id)) {
                Ok(i) => Some(i),
                Err(why) => {
                    let why = format!("the transfer policy's checks cannot run: {why}");
                    let refused = Refused {
                        kind: start.kind(),
                        command: command.as_deref(),
                        reason: &why,
                    };
                    let text = format!("vigil: {why}");
                    refused
                        .tell(&shared, id, &tx, want_reply && !replied, &text)
                        .await;
                    return;
                }
            }
        }
        _ => None,
    };
    // An exec request's command is known exactly: decided before the target sees it.
    if let Start::Exec(_) = &start
        && let Some(line) = &command
        && !command_allowed(&shared, &io, id, &tx, want_reply && !replied, line).await
    {
        return;
    }

    // A shell of a login set to start elevated runs sudo in its place; the stage answers
    // its prompt (see vigil_session::Elevation).
    let elevated = kind == ChannelKind::Terminal
        && matches!(start, Start::Shell)
        && io.policy().elevated_start() == Ok(true);
    let sent = if elevated {
        Start::Exec(vigil_session::START_COMMAND.as_bytes().to_vec())
    } else {
        start.clone()
    };
    let opened = open_on_target(&link, &pty, &env, &sent).await;
    let (target_rx, target_tx, pending) = match opened {
        Ok(t) => t,
        Err(why) => {
            let refused = Refused {
                kind: start.kind(),
                command: command.as_deref(),
                reason: &why,
            };
            let text = format!("vigil: the target refused the {}: {why}", start.kind());
            refused
                .tell(&shared, id, &tx, want_reply && !replied, &text)
                .await;
            return;
        }
    };
    let Some(session) = shared.session.get() else {
        return;
    };
    let sftp = transfer_kind == Some(vigil_core::TransferKind::Sftp);
    let track_start = vigil_session::TrackStart {
        pty: pty.as_ref().map(|p| (p.cols, p.rows, p.term.clone())),
        command: command.clone(),
        elevated,
    };
    // The opening, the transfer it carries and the channel's recording track: one change.
    let opened = |track: Option<u32>| {
        let mut evidence = vec![Evidence::session(
            EventKind::ChannelOpened,
            session.id(),
            None,
            serde_json::json!({ "kind": start.kind(), "command": command, "pty": pty.is_some(), "term": pty.as_ref().map(|p| p.term.clone()), "channel": id.to_string(), "track": track, "elevated": elevated }),
        )];
        if transfer.is_some() || sftp {
            let (tool, direction) = match transfer {
                Some(t) => (t.tool.as_str(), t.direction.as_str()),
                None => ("sftp", "both"),
            };
            evidence.push(Evidence::session(
                EventKind::TransferOpened,
                session.id(),
                None,
                serde_json::json!({ "tool": tool, "direction": direction, "command": command, "channel": id.to_string() }),
            ));
        }
        evidence
    };
    let io = match io.channel(u32::from(id), kind, &track_start, opened).await {
        Ok(io) => io,
        Err(e) => {
            // A channel that cannot be recorded (or logged) is not relayed: fail closed.
            tracing::error!(session = %session.id(), error = %e, "cannot record a channel; refused");
            let _ = target_tx.close().await;
            let text = format!("vigil: channel refused: {e}; tell an administrator");
            fail(&shared, id, &tx, want_reply && !replied, &text).await;
            return;
        }
    };
    if want_reply && !replied {
        shared.reply(id, true).await;
    }

    if let (Some(protocol), Some(inspector)) = (protocol, inspector) {
        let ends = crate::inspected::Ends {
            operator_rx: rx,
            operator_tx: tx,
            target_rx,
            target_tx,
            pending,
        };
        crate::inspected::relay(shared, io, id, ends, protocol, inspector, alive).await;
        return;
    }
    let target_tx = Arc::new(target_tx);
    let back = tokio::spawn(crate::relay::target_to_operator(
        Arc::clone(&shared),
        io.clone(),
        id,
        pending,
        target_rx,
        tx,
        Arc::clone(&target_tx),
        alive.clone(),
    ));
    crate::relay::operator_to_target(Arc::clone(&shared), io, id, rx, target_tx).await;
    let _ = back.await;
    drop(alive);
}

async fn refuse(shared: &Shared, id: ChannelId, kind: &str, why: &str) {
    shared
        .event(
            EventKind::ChannelRefused,
            serde_json::json!({ "kind": kind, "reason": why }),
        )
        .await;
    shared.say(id, &format!("vigil: {why}")).await;
}

/// A channel request refused after it was classified: logged with its command, then ended.
struct Refused<'a> {
    kind: &'a str,
    command: Option<&'a str>,
    reason: &'a str,
}

impl Refused<'_> {
    /// Logs `channel_refused` and ends the channel telling the operator `text`.
    async fn tell(
        &self,
        shared: &Shared,
        id: ChannelId,
        tx: &OperatorWrite,
        reply_pending: bool,
        text: &str,
    ) {
        shared
            .event(
                EventKind::ChannelRefused,
                serde_json::json!({ "kind": self.kind, "command": self.command, "reason": self.reason }),
            )
            .await;
        fail(shared, id, tx, reply_pending, text).await;
    }
}

/// Tells the operator why, then ends the channel without an exit status (ssh exits with 255).
async fn fail(shared: &Shared, id: ChannelId, tx: &OperatorWrite, reply_pending: bool, text: &str) {
    if reply_pending {
        // Accept the request so the client shows our message instead of a generic failure.
        shared.reply(id, true).await;
    }
    shared.say(id, text).await;
    finish(shared, id, tx).await;
}

async fn finish(shared: &Shared, id: ChannelId, tx: &OperatorWrite) {
    let _ = tx.eof().await;
    let _ = tx.close().await;
    shared.forget_channel(id);
}

type TargetChannel = (
    ChannelReadHalf,
    ChannelWriteHalf<russh::client::Msg>,
    Vec<ChannelMsg>,
);

/// Opens the target's channel and replays the operator's requests; returns messages that
/// arrived while waiting for replies, to forward first.
async fn open_on_target(
    link: &TargetLink,
    pty: &Option<PtyRequest>,
    env: &[(String, String)],
    start: &Start,
) -> Result<TargetChannel, String> {
    let channel = link
        .handle
        .channel_open_session()
        .await
        .map_err(|e| format!("cannot open a channel: {e}"))?;
    let (mut rx, tx) = channel.split();
    let mut pending = Vec::new();
    if let Some(p) = pty {
        tx.request_pty(
            true,
            &p.term,
            p.cols,
            p.rows,
            p.pix_width,
            p.pix_height,
            &p.modes,
        )
        .await
        .map_err(|e| e.to_string())?;
        if !wait_reply(&mut rx, &mut pending).await {
            return Err("no PTY could be allocated".into());
        }
    }
    for (name, value) in env {
        let _ = tx.set_env(false, name.clone(), value.clone()).await;
    }
    let sent = match start {
        Start::Shell => tx.request_shell(true).await,
        Start::Exec(command) => tx.exec(true, command.clone()).await,
        Start::Subsystem(name) => tx.request_subsystem(true, name.clone()).await,
    };
    sent.map_err(|e| e.to_string())?;
    if wait_reply(&mut rx, &mut pending).await {
        Ok((rx, tx, pending))
    } else {
        Err("request failed".into())
    }
}

async fn wait_reply(rx: &mut ChannelReadHalf, pending: &mut Vec<ChannelMsg>) -> bool {
    while let Some(msg) = rx.wait().await {
        match msg {
            ChannelMsg::Success => return true,
            ChannelMsg::Failure => return false,
            ChannelMsg::WindowAdjusted { .. } => {}
            other => pending.push(other),
        }
    }
    false
}

/// Decides an exec request's command with the session's rules. A command that may not run
/// never reaches the target: the client gets the notice on stderr and exit status 126, and
/// an interrupting rule ends the session.
async fn command_allowed(
    shared: &Shared,
    io: &vigil_session::SessionIo,
    id: ChannelId,
    tx: &OperatorWrite,
    reply_pending: bool,
    line: &str,
) -> bool {
    let verdict = match io.audit_command(line, vigil_session::Source::Exec).await {
        Ok(v) => v,
        Err(e) => {
            let text = format!("vigil: the command cannot be recorded, so it does not run: {e}");
            refuse_command(shared, id, tx, reply_pending, &text).await;
            return false;
        }
    };
    if verdict.run {
        return true;
    }
    let notice = verdict
        .notice
        .unwrap_or_else(|| "vigil: command refused".into());
    refuse_command(shared, id, tx, reply_pending, &notice).await;
    if let Some(reason) = verdict.end {
        shared.end_with(reason, notice.clone());
    }
    false
}

async fn refuse_command(
    shared: &Shared,
    id: ChannelId,
    tx: &OperatorWrite,
    reply_pending: bool,
    text: &str,
) {
    if reply_pending {
        shared.reply(id, true).await;
    }
    let _ = tx
        .extended_data_bytes(1, bytes::Bytes::from(format!("{text}\n")))
        .await;
    let _ = tx.exit_status(126).await;
    finish(shared, id, tx).await;
}
