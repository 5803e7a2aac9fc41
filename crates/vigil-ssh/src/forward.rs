//! Local port forwards (`ssh -L`): opened from the target, only where the grant allows, and
//! logged either way. Remote forwards, X11 and agent forwarding are refused elsewhere.

use std::sync::Arc;

use russh::server::{ChannelOpenHandle, Msg};
use russh::{Channel, ChannelOpenFailure};
use vigil_core::EventKind;
use vigil_session::ChannelKind;

use crate::reach::ensure_target;
use crate::shared::Shared;

pub(crate) struct Request {
    pub(crate) host: String,
    pub(crate) port: u32,
    pub(crate) origin: String,
}

pub(crate) async fn run(
    shared: Arc<Shared>,
    channel: Channel<Msg>,
    reply: ChannelOpenHandle,
    req: Request,
    alive: tokio::sync::mpsc::Sender<()>,
) {
    let to = format!("{}:{}", req.host, req.port);
    let refuse = |why: String| {
        let shared = Arc::clone(&shared);
        let to = to.clone();
        async move {
            shared
                .event(
                    EventKind::ChannelRefused,
                    serde_json::json!({ "kind": "direct-tcpip", "to": to, "reason": why }),
                )
                .await;
        }
    };
    let target_name = match shared.spec.get().and_then(|s| s.target.clone()) {
        Some(t) => t,
        None => match shared.target.lock().await.as_ref() {
            Some(link) => link.target.name.clone(),
            None => {
                refuse("no target chosen".into()).await;
                reply
                    .reject(ChannelOpenFailure::AdministrativelyProhibited)
                    .await;
                return;
            }
        },
    };
    let login = shared.spec.get().and_then(|s| s.login.clone());
    let (link, io) = match ensure_target(&shared, &target_name, login.as_deref()).await {
        Ok(ok) => ok,
        Err(why) => {
            refuse(why).await;
            reply
                .reject(ChannelOpenFailure::AdministrativelyProhibited)
                .await;
            return;
        }
    };
    if !io.policy().allow_port_forwarding {
        refuse(format!(
            "the grant for {} does not allow port forwarding",
            link.target.name
        ))
        .await;
        reply
            .reject(ChannelOpenFailure::AdministrativelyProhibited)
            .await;
        return;
    }
    let (origin_host, origin_port) = req
        .origin
        .rsplit_once(':')
        .map(|(h, p)| (h.to_owned(), p.parse().unwrap_or(0)))
        .unwrap_or((req.origin.clone(), 0));
    let opened = link
        .handle
        .channel_open_direct_tcpip(req.host.clone(), req.port, origin_host, origin_port)
        .await;
    let target_channel = match opened {
        Ok(c) => c,
        Err(e) => {
            refuse(format!("the target could not open {to}: {e}")).await;
            reply.reject(ChannelOpenFailure::ConnectFailed).await;
            return;
        }
    };
    reply.accept().await;
    shared
        .event(
            EventKind::ForwardOpened,
            serde_json::json!({ "to": to, "from": req.origin }),
        )
        .await;
    let id = channel.id();
    let io = match io
        .channel(
            u32::from(id),
            ChannelKind::Forward,
            &Default::default(),
            |_| Vec::new(),
        )
        .await
    {
        Ok(io) => io,
        Err(e) => {
            refuse(format!("cannot relay {to}: {e}")).await;
            return;
        }
    };
    let (rx, tx) = channel.split();
    let (target_rx, target_tx) = target_channel.split();
    let target_tx = Arc::new(target_tx);
    let back = tokio::spawn(crate::relay::target_to_operator(
        Arc::clone(&shared),
        io.clone(),
        id,
        Vec::new(),
        target_rx,
        tx,
        Arc::clone(&target_tx),
        alive.clone(),
    ));
    crate::relay::operator_to_target(Arc::clone(&shared), io, id, rx, target_tx).await;
    let _ = back.await;
}
