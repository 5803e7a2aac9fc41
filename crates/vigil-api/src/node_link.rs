//! The node-to-node link (issue 16): a node asked for the live stream of a session another
//! node runs relays it from that node, so an auditor on any node watches any session. This
//! module is the signature both sides share and the serving side's check of it ([`PeerNode`];
//! the route itself is `live::peer_live`); [`relay`] is the asking side.
//!
//! Both ends prove who they are:
//! - The asking node signs its request with its recording key (Ed25519; its public half is in
//!   the store's node keys, registered at start):
//!   `Authorization: Vigil-Node at=UNIX_MS, sig=BASE64, node=BASE64URL(NAME)`, the signature
//!   over `vigil-node-v1\nFROM\nTO\nMETHOD\nPATH?QUERY\nAT`. The serving node accepts it only
//!   from a node the store lists as up, by a key registered for that node, addressed to
//!   itself, within a minute of its own clock, and once.
//! - The serving node is known by the certificate its console presents, whose SHA-256 it
//!   registered in the store when it joined; the asking node accepts that certificate and no
//!   other (consoles are self-signed by default, so a public CA would prove nothing here).
//!
//! What it is not: a channel for anything but the live stream. Lock, unlock and terminate
//! reach the owning node through the store's command queue (with LISTEN/NOTIFY on PostgreSQL),
//! which is also their durable record. A node whose console is plain HTTP (behind a
//! TLS-terminating proxy) cannot be relayed from: the stream would cross the network in clear.

pub(crate) mod relay;

use axum::extract::FromRequestParts;
use axum::http::header::AUTHORIZATION;
use axum::http::request::Parts;
use base64::Engine;
use vigil_core::now_millis;
use vigil_store::{NodeState, StoreError};
use vigil_vault::Ed25519PublicKey;

use crate::error::ApiError;
use crate::state::{API_PREFIX, AppState};

/// How far apart two nodes' clocks may be.
const SKEW_MS: i64 = 60 * 1000;

/// What a node signs to ask `to` for `path_and_query` (the whole path, with the API prefix).
pub(crate) fn link_message(
    from: &str,
    to: &str,
    method: &str,
    path_and_query: &str,
    at_ms: i64,
) -> Vec<u8> {
    format!("vigil-node-v1\n{from}\n{to}\n{method}\n{path_and_query}\n{at_ms}").into_bytes()
}

/// The `Authorization` value for a request signed by node `from`.
pub(crate) fn authorization(from: &str, at_ms: i64, signature: &[u8; 64]) -> String {
    let sig = base64::engine::general_purpose::STANDARD.encode(signature);
    let node = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(from);
    format!("Vigil-Node at={at_ms}, sig={sig}, node={node}")
}

/// `(node, at, signature)` of an `Authorization: Vigil-Node` value.
fn parse_authorization(value: &str) -> Option<(String, i64, [u8; 64])> {
    let rest = value.strip_prefix("Vigil-Node ")?;
    let (mut at, mut sig, mut node) = (None, None, None);
    for part in rest.split(',') {
        let (k, v) = part.trim().split_once('=')?;
        match k {
            "at" => at = v.parse().ok(),
            "sig" => {
                let bytes = base64::engine::general_purpose::STANDARD.decode(v).ok()?;
                sig = <[u8; 64]>::try_from(bytes.as_slice()).ok();
            }
            "node" => {
                let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
                    .decode(v)
                    .ok()?;
                node = String::from_utf8(bytes).ok();
            }
            _ => return None,
        }
    }
    Some((node?, at?, sig?))
}

fn unauthenticated(why: String) -> ApiError {
    ApiError::NodeUnauthenticated(why)
}

/// A request from a peer node whose signature was checked.
pub(crate) struct PeerNode {
    pub(crate) name: String,
}

impl FromRequestParts<AppState> for PeerNode {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        let header = parts
            .headers
            .get(AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .filter(|v| v.starts_with("Vigil-Node "))
            .ok_or_else(|| {
                unauthenticated(
                    "this route is for the cluster's nodes: send a node's signed Authorization: Vigil-Node header".into(),
                )
            })?;
        let (node, at, sig) = parse_authorization(header).ok_or_else(|| {
            unauthenticated(
                "the Authorization header is not `Vigil-Node at=UNIX_MS, sig=BASE64, node=BASE64URL`"
                    .into(),
            )
        })?;
        let now = now_millis();
        if (now - at).abs() > SKEW_MS {
            return Err(unauthenticated(format!(
                "node {node}'s request time is more than a minute from this node's clock: keep the nodes' clocks in step (NTP)"
            )));
        }
        let peer = match state.store.node(&node).await {
            Ok(peer) => peer,
            Err(StoreError::NotFound(_)) => {
                return Err(unauthenticated(format!(
                    "node {node} is not in the cluster's list (`vigil node list`)"
                )));
            }
            Err(e) => return Err(e.into()),
        };
        if peer.state != NodeState::Up {
            return Err(unauthenticated(format!(
                "node {node} is {} in the cluster's list: only a running node may ask",
                peer.state.as_str()
            )));
        }
        let path = parts.uri.path_and_query().map_or("/", |p| p.as_str());
        let path = if path.starts_with(API_PREFIX) {
            path.to_owned()
        } else {
            format!("{API_PREFIX}{path}")
        };
        let message = link_message(&node, state.hub.node(), parts.method.as_str(), &path, at);
        let keys = state.store.node_keys().await?;
        let signed = keys
            .iter()
            .filter(|k| k.node == node)
            .filter_map(|k| Ed25519PublicKey::parse(&k.public_key).ok())
            .any(|k| k.verify_bytes(&message, &sig).is_ok());
        if !signed {
            return Err(unauthenticated(format!(
                "the signature is not by a recording key node {node} registered, or was not made for this node and request"
            )));
        }
        let sig_text = base64::engine::general_purpose::STANDARD.encode(sig);
        if !state.node_replays.first_use(&sig_text, now) {
            return Err(unauthenticated(
                "this exact request was already received (a replay)".into(),
            ));
        }
        Ok(PeerNode { name: node })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_authorization_reads_back_and_nothing_else_does() {
        let sig = [7u8; 64];
        let value = authorization("node, with=odd chars", 1_700_000_000_000, &sig);
        assert_eq!(
            parse_authorization(&value),
            Some(("node, with=odd chars".into(), 1_700_000_000_000, sig))
        );
        for bad in [
            "",
            "Vigil-Agent id=1, at=2, sig=3",
            "Vigil-Node at=1, sig=AAAA, node=bm9kZQ",
            "Vigil-Node at=x, sig=, node=",
            "Vigil-Node at=1, node=bm9kZQ",
            "Vigil-Node at=1, sig=AAAA, node=bm9kZQ, extra=1",
        ] {
            assert_eq!(parse_authorization(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn the_message_binds_both_nodes_the_request_and_the_time() {
        let base = link_message("a", "b", "GET", "/api/v1/x", 1);
        for other in [
            link_message("c", "b", "GET", "/api/v1/x", 1),
            link_message("a", "c", "GET", "/api/v1/x", 1),
            link_message("a", "b", "PUT", "/api/v1/x", 1),
            link_message("a", "b", "GET", "/api/v1/x?track=1", 1),
            link_message("a", "b", "GET", "/api/v1/x", 2),
        ] {
            assert_ne!(base, other);
        }
    }
}
