//! The operators' SSH listener: one task per connection; when a connection ends, its relay
//! is drained and its session closed with the reason it ended.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use russh::server;
use tokio::net::TcpListener;
use vigil_session::Hub;

use crate::SshError;
use crate::connection::Connection;
use crate::preauth::PreAuth;
use crate::settings::SshSettings;
use crate::shared::Shared;

pub struct SshGateway {
    hub: Arc<Hub>,
    settings: Arc<SshSettings>,
    pre_auth: Arc<PreAuth>,
}

impl SshGateway {
    pub fn new(hub: Arc<Hub>, settings: SshSettings) -> Self {
        SshGateway {
            hub,
            settings: Arc::new(settings),
            pre_auth: Arc::default(),
        }
    }

    pub async fn bind(addr: &str) -> Result<TcpListener, SshError> {
        TcpListener::bind(addr)
            .await
            .map_err(|source| SshError::Bind {
                addr: addr.to_owned(),
                source,
            })
    }

    /// Accepts operators until the listener fails.
    pub async fn serve(self, listener: TcpListener) -> Result<(), SshError> {
        let this = Arc::new(self);
        loop {
            let (socket, peer) = match listener.accept().await {
                Ok(ok) => ok,
                Err(e) => {
                    // Out of file descriptors and similar: wait instead of spinning.
                    tracing::warn!(error = %e, "accept failed");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    continue;
                }
            };
            let _ = socket.set_nodelay(true);
            let this = Arc::clone(&this);
            tokio::spawn(async move { this.connection(socket, peer).await });
        }
    }

    async fn connection(&self, mut socket: tokio::net::TcpStream, peer: SocketAddr) {
        let pass = match self.pre_auth.enter(
            peer.ip(),
            self.settings.max_unauthenticated_per_address,
            self.settings.max_unauthenticated,
        ) {
            Ok(pass) => pass,
            Err(crowded) => {
                // Before the SSH version line a server may send text lines (RFC 4253 4.2).
                tracing::warn!(%peer, %crowded, "connection refused before sign-in");
                let line = format!("vigil: refused: {crowded}\r\n");
                let _ = tokio::time::timeout(
                    Duration::from_secs(1),
                    tokio::io::AsyncWriteExt::write_all(&mut socket, line.as_bytes()),
                )
                .await;
                return;
            }
        };
        let deadline = tokio::time::Instant::now() + self.settings.login_grace;
        let (alive_tx, mut alive_rx) = tokio::sync::mpsc::channel::<()>(1);
        let shared = Arc::new(Shared::new(
            Arc::clone(&self.hub),
            Arc::clone(&self.settings),
            peer,
            alive_tx.clone(),
        ));
        shared.hold_pre_auth(pass);
        let handler = Connection::new(Arc::clone(&shared));
        drop(alive_tx);
        // A client that never sends its version line would hold the socket for good.
        let started = tokio::time::timeout_at(
            deadline,
            server::run_stream(Arc::clone(&self.settings.server), socket, handler),
        );
        let running = match started.await {
            Ok(Ok(r)) => r,
            Ok(Err(e)) => {
                tracing::debug!(%peer, error = %e, "ssh handshake failed");
                return;
            }
            Err(_) => {
                tracing::info!(%peer, "disconnected: no SSH handshake within the login grace time");
                return;
            }
        };
        shared.set_handle(running.handle());
        let grace = {
            let (shared, handle) = (Arc::clone(&shared), running.handle());
            tokio::spawn(async move {
                tokio::time::sleep_until(deadline).await;
                if shared.user.get().is_none() {
                    tracing::info!(peer = %shared.peer, "disconnected: not signed in within the login grace time");
                    let _ = handle
                        .disconnect(
                            russh::Disconnect::ByApplication,
                            "vigil: not signed in within the login grace time".into(),
                            "en".into(),
                        )
                        .await;
                }
            })
        };
        let ended = running.await;
        shared.connection_gone();
        grace.abort();
        shared.release_pre_auth();
        if let Err(e) = &ended {
            tracing::debug!(%peer, error = %e, "ssh connection ended with an error");
        }
        shared.stop_control();
        // The operator is gone: hang up on the target so the relay drains, then wait for it.
        shared.drop_target().await;
        shared.release_alive();
        let _ = tokio::time::timeout(Duration::from_secs(15), alive_rx.recv()).await;
        if let Some(session) = shared.session.get() {
            session.close(shared.end_reason()).await;
        }
    }
}
