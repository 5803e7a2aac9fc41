//! This node's membership of the cluster (issue 16): it heartbeats in the store and watches
//! its peers'. A peer silent for the timeout is marked down by the first node to see it, which
//! closes the peer's open sessions as interrupted and seals their logs (`vigil_store` makes
//! that happen once). A node that finds itself marked down (it was cut off from the store
//! longer than the timeout) ends the sessions it still runs, which the cluster already
//! counts as interrupted, and joins again.
//!
//! What it is not: a consensus protocol. Membership is what the shared store says; a node
//! cut off from the store cannot be told apart from a dead one, and is treated as one.

use std::sync::Arc;
use std::time::Duration;

use vigil_core::EndReason;
use vigil_store::Heartbeat;

use crate::{Control, Hub};

/// How this node takes part.
#[derive(Debug, Clone)]
pub struct Membership {
    /// Where peers reach this node.
    pub url: String,
    /// The SHA-256 (hex) of the certificate its console presents at `url`, which peers pin
    /// (empty for plain HTTP).
    pub cert_sha256: String,
    pub version: String,
    /// Silence after which a node is marked down; heartbeats come six times as often.
    pub timeout: Duration,
}

impl Membership {
    pub fn heartbeat_every(&self) -> Duration {
        self.timeout / 6
    }
}

/// Joins the cluster (registers this node as up). Called once at start, before sessions.
pub async fn join(hub: &Hub, m: &Membership) -> Result<(), vigil_store::StoreError> {
    hub.store()
        .join_cluster(
            hub.node(),
            vigil_store::NodeAddress {
                url: &m.url,
                cert_sha256: &m.cert_sha256,
                version: &m.version,
            },
        )
        .await
}

/// Heartbeats and watches the peers until the node leaves (a clean shutdown) or stops.
pub async fn run(hub: Arc<Hub>, m: Membership) {
    let mut tick = tokio::time::interval(m.heartbeat_every());
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let timeout_ms = i64::try_from(m.timeout.as_millis()).unwrap_or(i64::MAX);
    loop {
        tick.tick().await;
        match hub.store().heartbeat(hub.node()).await {
            Ok(Heartbeat::Alive) => {}
            Ok(Heartbeat::MarkedDown) => rejoin(&hub, &m).await,
            Ok(Heartbeat::Left) => {
                tracing::debug!("this node has left the cluster: heartbeats stop");
                return;
            }
            Err(e) => tracing::warn!(error = %e, "cannot heartbeat in the store"),
        }
        match hub
            .store()
            .mark_down_silent_nodes(hub.node(), timeout_ms, hub.log_signer())
            .await
        {
            Ok(down) => {
                for d in down {
                    tracing::warn!(
                        node = %d.name,
                        interrupted = d.interrupted.len(),
                        "node stopped heartbeating: marked down, its open sessions closed as interrupted"
                    );
                }
            }
            Err(e) => tracing::warn!(error = %e, "cannot look for silent nodes"),
        }
    }
}

/// The cluster marked this node down: its sessions were closed as interrupted in the store,
/// so they end here too; then the node is a member again.
async fn rejoin(hub: &Hub, m: &Membership) {
    let live = hub.live_sessions();
    tracing::error!(
        sessions = live.len(),
        "this node was marked down by the cluster (no heartbeat reached the store in time): ending its sessions and joining again"
    );
    for id in live {
        hub.control(
            &id,
            Control::End {
                reason: EndReason::Interrupted,
                notice: "vigil: this gateway lost touch with its cluster; the session was ended"
                    .into(),
            },
        );
    }
    if let Err(e) = join(hub, m).await {
        tracing::warn!(error = %e, "cannot join the cluster again yet");
    }
}

/// Leaves the cluster on a clean shutdown (after the sessions have ended).
pub async fn leave(hub: &Hub) {
    if let Err(e) = hub.store().leave_cluster(hub.node()).await {
        tracing::warn!(error = %e, "cannot record that this node left the cluster");
    }
}
