//! The HTTPS listener: rustls (ring, like the SSH side), HTTP/1.1 with WebSocket upgrades, the
//! client address put on every request. A slow or broken TLS handshake costs only its own task.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use hyper_util::rt::{TokioExecutor, TokioIo};
use tokio::net::TcpListener;
use tokio_rustls::TlsAcceptor;
use tokio_rustls::rustls;
use tokio_rustls::rustls::pki_types::pem::PemObject;
use tokio_rustls::rustls::pki_types::{CertificateDer, PrivateKeyDer};
use tower::ServiceExt;

use crate::state::ClientAddr;

/// A certificate chain and its private key, both PEM.
#[derive(Debug, Clone)]
pub struct TlsFiles {
    pub cert: PathBuf,
    pub key: PathBuf,
}

#[derive(Debug, thiserror::Error)]
pub enum ServerError {
    #[error(
        "cannot listen on {addr} for the web console (is another Vigil running? set http_listen or --http-listen)"
    )]
    Bind {
        addr: String,
        source: std::io::Error,
    },
    #[error("cannot read the TLS {what} {path}: {why}")]
    Tls {
        what: &'static str,
        path: String,
        why: String,
    },
    #[error("cannot create a self-signed certificate in {dir}: {why}")]
    SelfSigned { dir: String, why: String },
}

/// `tls/cert.pem` and `tls/key.pem` under `dir`, created self-signed for localhost and
/// 127.0.0.1 (plus `extra_names`) when they do not exist yet; `true` when it created them.
pub fn ensure_self_signed(
    dir: &Path,
    extra_names: &[String],
) -> Result<(TlsFiles, bool), ServerError> {
    let files = TlsFiles {
        cert: dir.join("tls").join("cert.pem"),
        key: dir.join("tls").join("key.pem"),
    };
    if files.cert.exists() && files.key.exists() {
        return Ok((files, false));
    }
    let fail = |why: String| ServerError::SelfSigned {
        dir: dir.display().to_string(),
        why,
    };
    let mut names = vec![
        "localhost".to_owned(),
        "127.0.0.1".to_owned(),
        "::1".to_owned(),
    ];
    names.extend(extra_names.iter().cloned());
    let generated = rcgen::generate_simple_self_signed(names).map_err(|e| fail(e.to_string()))?;
    std::fs::create_dir_all(dir.join("tls")).map_err(|e| fail(e.to_string()))?;
    write_private(&files.key, generated.signing_key.serialize_pem().as_bytes())
        .map_err(|e| fail(e.to_string()))?;
    std::fs::write(&files.cert, generated.cert.pem()).map_err(|e| fail(e.to_string()))?;
    Ok((files, true))
}

fn write_private(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    use std::io::Write;
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    options.open(path)?.write_all(bytes)
}

/// The acceptor, and the SHA-256 of the certificate it presents (which peers pin).
fn acceptor(files: &TlsFiles) -> Result<(TlsAcceptor, String), ServerError> {
    let tls_err = |what, path: &Path, why: String| ServerError::Tls {
        what,
        path: path.display().to_string(),
        why,
    };
    let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(&files.cert)
        .and_then(|it| it.collect())
        .map_err(|e| tls_err("certificate", &files.cert, e.to_string()))?;
    if certs.is_empty() {
        return Err(tls_err(
            "certificate",
            &files.cert,
            "no certificate in the file".into(),
        ));
    }
    let digest = crate::node_link::relay::cert_digest(certs[0].as_ref());
    let key = PrivateKeyDer::from_pem_file(&files.key)
        .map_err(|e| tls_err("key", &files.key, e.to_string()))?;
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| tls_err("certificate", &files.cert, e.to_string()))?
        .with_no_client_auth()
        .with_single_cert(certs, key)
        .map_err(|e| tls_err("key", &files.key, e.to_string()))?;
    Ok((TlsAcceptor::from(Arc::new(config)), digest))
}

pub struct HttpServer {
    listener: TcpListener,
    tls: Option<TlsAcceptor>,
    cert_sha256: String,
}

impl HttpServer {
    /// Binds `addr`; with `tls` the console is served over HTTPS (the default), without it
    /// over plain HTTP (behind a TLS-terminating proxy only).
    pub async fn bind(addr: &str, tls: Option<&TlsFiles>) -> Result<Self, ServerError> {
        let (tls, cert_sha256) = match tls.map(acceptor).transpose()? {
            Some((tls, digest)) => (Some(tls), digest),
            None => (None, String::new()),
        };
        let listener = TcpListener::bind(addr)
            .await
            .map_err(|source| ServerError::Bind {
                addr: addr.to_owned(),
                source,
            })?;
        Ok(HttpServer {
            listener,
            tls,
            cert_sha256,
        })
    }

    pub fn local_addr(&self) -> std::io::Result<SocketAddr> {
        self.listener.local_addr()
    }

    pub fn is_tls(&self) -> bool {
        self.tls.is_some()
    }

    /// The SHA-256 (hex) of the certificate the console presents, which peer nodes pin;
    /// empty for plain HTTP.
    pub fn cert_sha256(&self) -> &str {
        &self.cert_sha256
    }

    /// Serves until the process ends; accept errors (out of descriptors) are logged and
    /// retried after a pause rather than ending the console.
    pub async fn serve(self, app: Router) {
        loop {
            let (tcp, addr) = match self.listener.accept().await {
                Ok(c) => c,
                Err(e) => {
                    tracing::warn!(error = %e, "web console accept failed");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    continue;
                }
            };
            let _ = tcp.set_nodelay(true);
            let app = app.clone();
            let tls = self.tls.clone();
            tokio::spawn(async move {
                let service = hyper::service::service_fn(
                    move |mut req: hyper::Request<hyper::body::Incoming>| {
                        req.extensions_mut().insert(ClientAddr(addr));
                        app.clone().oneshot(req)
                    },
                );
                let builder = hyper_util::server::conn::auto::Builder::new(TokioExecutor::new());
                let result = match tls {
                    Some(tls) => {
                        match tokio::time::timeout(Duration::from_secs(10), tls.accept(tcp)).await {
                            Ok(Ok(stream)) => {
                                builder
                                    .serve_connection_with_upgrades(TokioIo::new(stream), service)
                                    .await
                            }
                            Ok(Err(e)) => {
                                tracing::debug!(client = %addr, error = %e, "TLS handshake failed");
                                return;
                            }
                            Err(_) => return,
                        }
                    }
                    None => {
                        builder
                            .serve_connection_with_upgrades(TokioIo::new(tcp), service)
                            .await
                    }
                };
                if let Err(e) = result {
                    tracing::debug!(client = %addr, error = %e, "web console connection ended with an error");
                }
            });
        }
    }
}
