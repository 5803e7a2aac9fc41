//! What every handler shares, and the SSH-side helpers the API needs without knowing SSH.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use futures::future::BoxFuture;
use vigil_session::{Admin, Hub};
use vigil_store::Store;

/// Key handling that belongs to the SSH side; the binary supplies it (vigil-api knows no SSH).
pub trait KeyTools: Send + Sync + 'static {
    /// Parses an OpenSSH public key line: `(normalised line, SHA256 fingerprint)`.
    fn public_key(&self, text: &str) -> Result<(String, String), String>;
    /// Checks that `text` is an unencrypted OpenSSH private key.
    fn check_private_key(&self, text: &str) -> Result<(), String>;
    /// Connects to a target and returns the host key it presents, to pin it.
    fn fetch_host_key(&self, host: String, port: u16)
    -> BoxFuture<'static, Result<String, String>>;
}

pub struct ApiState {
    pub hub: Arc<Hub>,
    pub store: Store,
    /// Every administrative action goes through here (with its evidence).
    pub admin: Admin,
    pub keys: Arc<dyn KeyTools>,
    /// Cookies carry `Secure` when the console is served over TLS.
    pub secure_cookies: bool,
    pub session_ttl: Duration,
    /// Recording keyframes found by seeks, and the plays already audited.
    pub seeks: crate::seek_cache::SeekIndexes,
    /// Agent request signatures seen lately (a replay is refused).
    pub agent_replays: crate::replays::Replays,
    /// Peer node request signatures seen lately (the node link).
    pub node_replays: crate::replays::Replays,
}

impl ApiState {
    pub fn new(hub: Arc<Hub>, keys: Arc<dyn KeyTools>, secure_cookies: bool) -> Arc<Self> {
        Arc::new(ApiState {
            store: hub.store().clone(),
            admin: Admin::with_hub(Arc::clone(&hub)),
            hub,
            keys,
            secure_cookies,
            session_ttl: Duration::from_secs(8 * 3600),
            seeks: Default::default(),
            agent_replays: Default::default(),
            node_replays: Default::default(),
        })
    }
}

pub type AppState = Arc<ApiState>;

/// Where the API's routes are served: every path starts with this.
pub(crate) const API_PREFIX: &str = "/api/v1";

/// The client's address, put on each request by the server loop.
#[derive(Debug, Clone, Copy)]
pub struct ClientAddr(pub SocketAddr);

pub(crate) fn client_addr(parts: &axum::http::request::Parts) -> String {
    parts
        .extensions
        .get::<ClientAddr>()
        .map(|a| a.0.ip().to_string())
        .unwrap_or_else(|| "unknown".into())
}
