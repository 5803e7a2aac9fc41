//! The asking side of the node link: this node opens the owning node's peer stream for a
//! viewer of its own, over TLS pinned to the certificate the owner registered, with a request
//! signed by this node's recording key. Every failure says which node, where, and why.

use std::sync::Arc;
use std::time::Duration;

use axum::http::{StatusCode, Uri, header::AUTHORIZATION};
use sha2::{Digest, Sha256};
use tokio::net::TcpStream;
use tokio_rustls::TlsConnector;
use tokio_rustls::client::TlsStream;
use tokio_rustls::rustls::{self, pki_types};
use tokio_tungstenite::WebSocketStream;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use vigil_core::now_millis;
use vigil_store::{NodeRow, NodeState, StoreError};

use super::{authorization, link_message};
use crate::error::{ApiError, ApiResult};
use crate::state::{API_PREFIX, AppState};

/// How long connecting, the TLS handshake and the upgrade each may take.
const STEP_TIMEOUT: Duration = Duration::from_secs(5);

/// The owning node's stream of one session, opened for a viewer here.
pub(crate) type Upstream = WebSocketStream<TlsStream<TcpStream>>;

/// Where peers ask for a session's live stream.
pub(crate) fn peer_path(id: &str, track: u32) -> String {
    format!("{API_PREFIX}/cluster/sessions/{id}/live?track={track}")
}

/// The node that runs session `id`, when it is up; otherwise an answer that says what
/// became of it.
pub(crate) async fn owner(state: &AppState, id: &str, owner: &str) -> ApiResult<NodeRow> {
    let node = match state.store.node(owner).await {
        Ok(node) => node,
        Err(StoreError::NotFound(_)) => {
            return Err(ApiError::Conflict(format!(
                "session {id} runs on node {owner}, which is not in the cluster's list (`vigil node list`)"
            )));
        }
        Err(e) => return Err(e.into()),
    };
    match node.state {
        NodeState::Up => Ok(node),
        NodeState::Down => Err(ApiError::Conflict(format!(
            "session {id} runs on node {owner}, which is down: it cannot be watched; its session is closed as interrupted"
        ))),
        NodeState::Left => Err(ApiError::Conflict(format!(
            "session {id} runs on node {owner}, which is no longer running (it left the cluster): it cannot be watched"
        ))),
    }
}

/// Opens the live stream of session `id` (track `track`) from `node`, which runs it.
pub(crate) async fn open(
    state: &AppState,
    node: &NodeRow,
    id: &str,
    track: u32,
) -> ApiResult<Upstream> {
    let Some(signer) = state.hub.recording_signer() else {
        return Err(ApiError::PeerUnreachable(
            "this node has no recording key to sign its request to a peer with".into(),
        ));
    };
    let path = peer_path(id, track);
    let at = now_millis();
    let signature = signer.sign(&link_message(
        state.hub.node(),
        &node.name,
        "GET",
        &path,
        at,
    ));
    let auth = authorization(state.hub.node(), at, &signature);
    connect(node, &path, &auth).await.map_err(|e| match e {
        // The owner's own answer (the session ended meanwhile, no such channel) stands.
        LinkError::Answered(StatusCode::NOT_FOUND, why) => ApiError::NotFound(why),
        LinkError::Answered(StatusCode::CONFLICT, why) => ApiError::Conflict(why),
        other => ApiError::PeerUnreachable(format!(
            "session {id} runs on node {} ({}), and this node cannot relay its live stream: {other}",
            node.name, node.url
        )),
    })
}

#[derive(Debug, thiserror::Error)]
enum LinkError {
    #[error("{0}")]
    Unusable(String),
    #[error("cannot connect: {0}")]
    Connect(String),
    #[error("it answered {0}: {1}")]
    Answered(StatusCode, String),
}

async fn connect(node: &NodeRow, path: &str, auth: &str) -> Result<Upstream, LinkError> {
    let uri: Uri = node
        .url
        .parse()
        .map_err(|_| LinkError::Unusable(format!("its address {:?} is not a URL", node.url)))?;
    if uri.scheme_str() != Some("https") {
        return Err(LinkError::Unusable(
            "its console is plain HTTP, and the live stream does not cross the network in clear: serve its console over TLS (http_tls) and set its node_url to that address".into(),
        ));
    }
    let pin = pin_of(&node.cert_sha256).ok_or_else(|| {
        LinkError::Unusable(
            "it registered no console certificate to check it by: restart it with this version"
                .into(),
        )
    })?;
    let authority = uri
        .authority()
        .ok_or_else(|| LinkError::Unusable(format!("its address {:?} names no host", node.url)))?
        .clone();
    let host = authority
        .host()
        .trim_start_matches('[')
        .trim_end_matches(']');
    let port = authority.port_u16().unwrap_or(443);
    let tcp = step(TcpStream::connect((host, port)))
        .await?
        .map_err(|e| LinkError::Connect(e.to_string()))?;
    let _ = tcp.set_nodelay(true);
    let name = pki_types::ServerName::try_from(host.to_owned())
        .map_err(|_| LinkError::Unusable(format!("{host:?} is not a host name")))?;
    let tls = step(TlsConnector::from(pinned_config(pin)?).connect(name, tcp))
        .await?
        .map_err(|e| LinkError::Connect(format!("TLS: {e}")))?;
    let mut request = format!("wss://{authority}{path}")
        .into_client_request()
        .map_err(|e| LinkError::Unusable(e.to_string()))?;
    let value = auth
        .parse()
        .map_err(|_| LinkError::Unusable("this node's name cannot be sent".into()))?;
    request.headers_mut().insert(AUTHORIZATION, value);
    match step(tokio_tungstenite::client_async(request, tls)).await? {
        Ok((ws, _)) => Ok(ws),
        Err(tokio_tungstenite::tungstenite::Error::Http(answer)) => {
            let body = answer.body().as_deref().unwrap_or_default();
            let why = serde_json::from_slice::<serde_json::Value>(body)
                .ok()
                .and_then(|v| v["error"].as_str().map(str::to_owned))
                .unwrap_or_else(|| String::from_utf8_lossy(body).into_owned());
            Err(LinkError::Answered(answer.status(), why))
        }
        Err(e) => Err(LinkError::Connect(e.to_string())),
    }
}

async fn step<T>(work: impl Future<Output = T>) -> Result<T, LinkError> {
    tokio::time::timeout(STEP_TIMEOUT, work)
        .await
        .map_err(|_| LinkError::Connect(format!("no answer within {} s", STEP_TIMEOUT.as_secs())))
}

/// The certificate digest a node registered (64 hex digits).
fn pin_of(hex: &str) -> Option<[u8; 32]> {
    if hex.len() != 64 {
        return None;
    }
    let mut pin = [0u8; 32];
    for (i, byte) in pin.iter_mut().enumerate() {
        *byte = u8::from_str_radix(hex.get(2 * i..2 * i + 2)?, 16).ok()?;
    }
    Some(pin)
}

/// The SHA-256 of a DER certificate as nodes register it (lowercase hex).
pub(crate) fn cert_digest(der: &[u8]) -> String {
    Sha256::digest(der)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

fn pinned_config(pin: [u8; 32]) -> Result<Arc<rustls::ClientConfig>, LinkError> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ClientConfig::builder_with_provider(Arc::clone(&provider))
        .with_safe_default_protocol_versions()
        .map_err(|e| LinkError::Unusable(e.to_string()))?
        .dangerous()
        .with_custom_certificate_verifier(Arc::new(Pinned { pin, provider }))
        .with_no_client_auth();
    Ok(Arc::new(config))
}

/// Accepts exactly the certificate whose SHA-256 the peer registered; the handshake's
/// signatures are still checked against it, so only the holder of its key gets through.
#[derive(Debug)]
struct Pinned {
    pin: [u8; 32],
    provider: Arc<rustls::crypto::CryptoProvider>,
}

impl rustls::client::danger::ServerCertVerifier for Pinned {
    fn verify_server_cert(
        &self,
        end_entity: &pki_types::CertificateDer<'_>,
        _intermediates: &[pki_types::CertificateDer<'_>],
        _server_name: &pki_types::ServerName<'_>,
        _ocsp_response: &[u8],
        _now: pki_types::UnixTime,
    ) -> Result<rustls::client::danger::ServerCertVerified, rustls::Error> {
        if Sha256::digest(end_entity.as_ref()).as_slice() == self.pin {
            Ok(rustls::client::danger::ServerCertVerified::assertion())
        } else {
            Err(rustls::Error::InvalidCertificate(
                rustls::CertificateError::ApplicationVerificationFailure,
            ))
        }
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &pki_types::CertificateDer<'_>,
        dss: &rustls::DigitallySignedStruct,
    ) -> Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(
            message,
            cert,
            dss,
            &self.provider.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &pki_types::CertificateDer<'_>,
        dss: &rustls::DigitallySignedStruct,
    ) -> Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(
            message,
            cert,
            dss,
            &self.provider.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<rustls::SignatureScheme> {
        self.provider
            .signature_verification_algorithms
            .supported_schemes()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::extract::ws::WebSocketUpgrade;

    fn node_at(url: String, cert_sha256: String) -> NodeRow {
        NodeRow {
            name: "node-a".into(),
            url,
            version: "0".into(),
            started_at: 0,
            heartbeat_at: 0,
            state: NodeState::Up,
            live_sessions: 0,
            cert_sha256,
        }
    }

    /// A console on loopback with a self-signed certificate whose one route upgrades.
    async fn console() -> (String, String, tempfile::TempDir) {
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        let (files, _) =
            crate::ensure_self_signed(dir.path(), &[]).unwrap_or_else(|e| panic!("{e}"));
        let server = crate::HttpServer::bind("127.0.0.1:0", Some(&files))
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        let addr = server.local_addr().unwrap_or_else(|e| panic!("{e}"));
        let digest = server.cert_sha256().to_owned();
        let app = axum::Router::new().route(
            "/api/v1/cluster/sessions/s/live",
            axum::routing::get(
                |ws: WebSocketUpgrade| async move { ws.on_upgrade(|_socket| async {}) },
            ),
        );
        tokio::spawn(server.serve(app));
        (format!("https://{addr}"), digest, dir)
    }

    #[tokio::test]
    async fn the_link_accepts_the_registered_certificate_and_no_other() {
        let (url, digest, _dir) = console().await;
        let path = peer_path("s", 0);
        assert!(
            connect(&node_at(url.clone(), digest.clone()), &path, "Vigil-Node x")
                .await
                .is_ok()
        );
        let mut other = digest.into_bytes();
        other[0] = if other[0] == b'0' { b'1' } else { b'0' };
        let other = String::from_utf8(other).unwrap_or_default();
        let refused = connect(&node_at(url.clone(), other), &path, "Vigil-Node x").await;
        assert!(
            matches!(&refused, Err(LinkError::Connect(why)) if why.contains("TLS")),
            "{refused:?}"
        );
        let plain = connect(
            &node_at(url.replace("https", "http"), "00".repeat(32)),
            &path,
            "x",
        )
        .await;
        assert!(matches!(plain, Err(LinkError::Unusable(_))), "{plain:?}");
        let unpinned = connect(&node_at(url, String::new()), &path, "x").await;
        assert!(
            matches!(unpinned, Err(LinkError::Unusable(_))),
            "{unpinned:?}"
        );
        let closed = connect(
            &node_at("https://127.0.0.1:1".into(), "00".repeat(32)),
            &path,
            "x",
        )
        .await;
        assert!(matches!(closed, Err(LinkError::Connect(_))), "{closed:?}");
    }

    #[test]
    fn a_pin_is_64_hex_digits() {
        let digest = cert_digest(b"certificate");
        assert_eq!(digest.len(), 64);
        assert_eq!(
            pin_of(&digest).map(|p| p.to_vec()),
            Some(Sha256::digest(b"certificate").to_vec())
        );
        for bad in ["", "00", &"g".repeat(64), &"0".repeat(63), &"é".repeat(32)] {
            assert_eq!(pin_of(bad), None, "{bad:?}");
        }
    }
}
