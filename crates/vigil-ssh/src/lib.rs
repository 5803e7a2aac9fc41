//! The SSH adapter: a russh server for operators and a russh client for targets, with the
//! channel relay between them.
//!
//! Each operator connection is one [`connection::Connection`] (russh's handler: authentication
//! and channel opens); each session channel gets its own task ([`channel`]) that waits for the
//! operator's request, connects the target, and then relays in two pump tasks ([`relay`]),
//! one per direction, so a full window one way can never stall the other. A file-transfer
//! channel whose files are inspected (legacy SCP) is relayed by [`inspected`] instead, through
//! a protocol relay of `vigil-transfer` that holds each file until it is decided.
//!
//! Modules depend one way (an architecture test checks there is no cycle): `server` accepts
//! connections; `connection` (russh's handler) is the one owner of a connection's tasks
//! (`control`, `channel`, `forward`); those use `reach` (the target, once), `relay` (the
//! pumps), `inspected` (transfers), `menu` and `pty`; everything shares `shared` (per-connection state) and
//! `settings`.
//!
//! Architecture invariant: this crate knows nothing of SQL or HTTP. Recording, control and the
//! session log are reached through `vigil-session`; state through `vigil-store`'s repository.
#![forbid(unsafe_code)]

mod auth;
mod channel;
mod connection;
mod control;
mod forward;
mod inspected;
mod menu;
mod preauth;
mod pty;
mod reach;
mod relay;
mod server;
mod settings;
mod shared;
mod target;

pub use server::SshGateway;
pub use settings::SshSettings;
pub use target::fetch_host_key;

/// The message the operator sees when an administrator ends the session (the seeds' words).
pub const DISCONNECTED_MESSAGE: &str = "You have been disconnected";

#[derive(Debug, thiserror::Error)]
pub enum SshError {
    #[error(transparent)]
    Russh(#[from] russh::Error),
    #[error(transparent)]
    Store(#[from] vigil_store::StoreError),
    #[error("cannot bind the SSH listener on {addr}: {source}")]
    Bind {
        addr: String,
        source: std::io::Error,
    },
    #[error("target_ciphers: {name:?} is not allowed; use one or more of {allowed}")]
    Cipher { name: String, allowed: String },
    #[error("invalid SSH host key {path}: {why}")]
    HostKey { path: String, why: String },
}
