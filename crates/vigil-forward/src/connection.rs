//! One open way to a destination: a connected UDP socket, or a TCP or TLS stream carrying
//! octet-counted messages (`LEN SP MSG`, RFC 6587 section 3.4.1, the framing RFC 5425
//! requires for TLS). A stream is closed politely: TLS sends its close_notify first.
//!
//! Syslog over TCP has no acknowledgement: a message written just before the receiver dies
//! is in the kernel's buffer and lost with it. Before each write the stream is checked for
//! the receiver having closed it (a syslog receiver never sends anything else), which turns
//! most of those losses into a reconnect and a retry.

use std::io;
use std::time::Duration;

use futures::FutureExt;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpStream, UdpSocket};
use tokio_rustls::TlsConnector;
use tokio_rustls::client::TlsStream;

use crate::destination::{Destination, Transport};

pub(crate) enum Connection {
    Udp(UdpSocket),
    Tcp(TcpStream),
    Tls(Box<TlsStream<TcpStream>>),
}

/// Why a destination cannot be reached or written to, said for people.
#[derive(Debug, thiserror::Error)]
pub enum SendError {
    #[error("cannot resolve or reach {0}: {1}")]
    Connect(String, #[source] io::Error),
    #[error("TLS with {0} failed: {1}")]
    Tls(String, #[source] io::Error),
    #[error("the receiver closed the connection")]
    Closed,
    #[error("sending failed: {0}")]
    Io(#[from] io::Error),
}

const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
/// A write that takes longer than this means the receiver stopped reading.
pub(crate) const WRITE_TIMEOUT: Duration = Duration::from_secs(10);

impl Connection {
    pub(crate) async fn open(dest: &Destination) -> Result<Connection, SendError> {
        let authority = dest.authority();
        match &dest.transport {
            Transport::Udp => {
                let addr = tokio::net::lookup_host(&authority)
                    .await
                    .map_err(|e| SendError::Connect(authority.clone(), e))?
                    .next()
                    .ok_or_else(|| {
                        SendError::Connect(
                            authority.clone(),
                            io::Error::new(io::ErrorKind::NotFound, "no address"),
                        )
                    })?;
                let local = if addr.is_ipv4() {
                    "0.0.0.0:0"
                } else {
                    "[::]:0"
                };
                let socket = UdpSocket::bind(local)
                    .await
                    .map_err(|e| SendError::Connect(authority.clone(), e))?;
                socket
                    .connect(addr)
                    .await
                    .map_err(|e| SendError::Connect(authority.clone(), e))?;
                Ok(Connection::Udp(socket))
            }
            Transport::Tcp => {
                let stream = within(TcpStream::connect(authority.clone()))
                    .await
                    .map_err(|e| SendError::Connect(authority.clone(), e))?;
                stream.set_nodelay(true).ok();
                Ok(Connection::Tcp(stream))
            }
            Transport::Tls {
                config,
                server_name,
            } => {
                let stream = within(TcpStream::connect(authority.clone()))
                    .await
                    .map_err(|e| SendError::Connect(authority.clone(), e))?;
                stream.set_nodelay(true).ok();
                let connector = TlsConnector::from(config.clone());
                let tls = within(connector.connect(server_name.clone(), stream))
                    .await
                    .map_err(|e| SendError::Tls(authority.clone(), e))?;
                Ok(Connection::Tls(Box::new(tls)))
            }
        }
    }

    /// Sends one message.
    pub(crate) async fn send(&mut self, message: &[u8]) -> Result<(), SendError> {
        match self {
            Connection::Udp(socket) => {
                socket.send(message).await?;
                Ok(())
            }
            Connection::Tcp(stream) => {
                if closed_by_peer(stream) {
                    return Err(SendError::Closed);
                }
                write_framed(stream, message).await
            }
            Connection::Tls(stream) => {
                if closed_by_peer(stream.as_mut()) {
                    return Err(SendError::Closed);
                }
                write_framed(stream.as_mut(), message).await
            }
        }
    }

    /// Whether the receiver closed the stream (never for UDP).
    pub(crate) fn closed_by_peer(&mut self) -> bool {
        match self {
            Connection::Udp(_) => false,
            Connection::Tcp(stream) => closed_by_peer(stream),
            Connection::Tls(stream) => closed_by_peer(stream.as_mut()),
        }
    }

    /// Closes the connection (TLS: with close_notify).
    pub(crate) async fn close(self) {
        let done = async {
            match self {
                Connection::Udp(_) => {}
                Connection::Tcp(mut s) => {
                    let _ = s.shutdown().await;
                }
                Connection::Tls(mut s) => {
                    let _ = s.shutdown().await;
                }
            }
        };
        let _ = tokio::time::timeout(Duration::from_secs(2), done).await;
    }
}

async fn within<T>(what: impl Future<Output = io::Result<T>>) -> io::Result<T> {
    match tokio::time::timeout(CONNECT_TIMEOUT, what).await {
        Ok(r) => r,
        Err(_) => Err(io::Error::new(io::ErrorKind::TimedOut, "timed out")),
    }
}

async fn write_framed<W>(stream: &mut W, message: &[u8]) -> Result<(), SendError>
where
    W: tokio::io::AsyncWrite + Unpin,
{
    let mut framed = Vec::with_capacity(message.len() + 8);
    framed.extend_from_slice(message.len().to_string().as_bytes());
    framed.push(b' ');
    framed.extend_from_slice(message);
    let write = async {
        stream.write_all(&framed).await?;
        stream.flush().await
    };
    match tokio::time::timeout(WRITE_TIMEOUT, write).await {
        Ok(r) => Ok(r?),
        Err(_) => Err(SendError::Io(io::Error::new(
            io::ErrorKind::TimedOut,
            "the receiver stopped reading",
        ))),
    }
}

/// Whether the receiver has closed its side: a read that completes at once with end of
/// stream or an error. (TLS records the receiver sends, such as session tickets, are
/// consumed by the read and leave no application data.)
fn closed_by_peer<R: AsyncRead + Unpin>(stream: &mut R) -> bool {
    let mut buf = [0u8; 512];
    matches!(stream.read(&mut buf).now_or_never(), Some(Ok(0) | Err(_)))
}
