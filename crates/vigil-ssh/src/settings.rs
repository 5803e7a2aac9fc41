//! How the gateway speaks SSH on both sides: host keys, authentication methods, flow-control
//! sizes, and the ciphers offered to targets.

use std::sync::Arc;
use std::time::Duration;

use russh::keys::PrivateKey;
use russh::{MethodKind, MethodSet, client, server};

use crate::SshError;

/// Messages queued per channel between a russh session loop and our relay. Each holds up to
/// a 32 KiB packet, per hop and direction: 16 keep a bulk transfer's buffers near +8 MiB
/// (32 gave +8..+10 MiB) at the same throughput (docs/BENCHMARKS.md).
const CHANNEL_QUEUE: usize = 16;

/// The window granted to operators when the relay keeps up (OpenSSH's own default).
pub(crate) const WINDOW: u32 = 2 * 1024 * 1024;

/// How the gateway speaks SSH on both sides.
pub struct SshSettings {
    pub(crate) server: Arc<server::Config>,
    pub(crate) client: client::Config,
    /// How long a client has to sign in, from its connection.
    pub(crate) login_grace: Duration,
    /// Connections not yet signed in allowed at once per client address, and in all.
    pub(crate) max_unauthenticated_per_address: usize,
    pub(crate) max_unauthenticated: usize,
}

impl SshSettings {
    /// Settings for the given host keys, with flow-control sizes tuned for bulk transfers.
    pub fn new(host_keys: Vec<PrivateKey>) -> Self {
        let mut methods = MethodSet::empty();
        for m in [
            MethodKind::PublicKey,
            MethodKind::KeyboardInteractive,
            MethodKind::Password,
        ] {
            methods.push(m);
        }
        let server = server::Config {
            keys: host_keys,
            methods,
            auth_rejection_time: Duration::from_millis(500),
            auth_rejection_time_initial: Some(Duration::ZERO),
            inactivity_timeout: None,
            keepalive_interval: Some(Duration::from_secs(30)),
            keepalive_max: 4,
            max_auth_attempts: 6,
            nodelay: true,
            // The queue from channel writers to the session loop must hold a full client
            // window of packets (OpenSSH: 2 MiB in 32 KiB packets). russh's session loop
            // blocks while it hands incoming data to a busy channel; if writers could then block
            // too, a bidirectional transfer (`ssh gw cat < big`) deadlocks. Writers reserve
            // window before queueing, so this bound is still the window, not unbounded memory.
            event_buffer_size: 256,
            window_size: WINDOW,
            channel_buffer_size: CHANNEL_QUEUE,
            ..Default::default()
        };
        let client = client::Config {
            inactivity_timeout: None,
            // A target that stops answering (its network cut) is given up after about two
            // minutes of silence; see `with_target_keepalive`.
            keepalive_interval: Some(Duration::from_secs(30)),
            keepalive_max: 4,
            nodelay: true,
            channel_buffer_size: CHANNEL_QUEUE,
            ..Default::default()
        };
        SshSettings {
            server: Arc::new(server),
            client,
            login_grace: Duration::from_secs(60),
            max_unauthenticated_per_address: 64,
            max_unauthenticated: 1000,
        }
    }

    /// Asks each target for a sign of life every `interval`; three unanswered in a row end
    /// its sessions (the operator is told the connection was lost).
    pub fn with_target_keepalive(mut self, interval: Duration) -> Self {
        self.client.keepalive_interval = Some(interval);
        self.client.keepalive_max = 3;
        self
    }

    /// How long a client has to sign in, and how many connections not yet signed in one
    /// client address may hold at once.
    pub fn with_pre_auth_limits(mut self, login_grace: Duration, per_address: usize) -> Self {
        self.login_grace = login_grace;
        self.max_unauthenticated_per_address = per_address.max(1);
        self
    }

    /// Restricts the ciphers offered to targets, most preferred first (empty: russh's default
    /// order, chacha20-poly1305 first). Only AEAD and CTR modes are accepted.
    pub fn with_target_ciphers(mut self, names: &[String]) -> Result<Self, SshError> {
        if names.is_empty() {
            return Ok(self);
        }
        let mut ciphers = Vec::with_capacity(names.len());
        for name in names {
            let known = TARGET_CIPHERS.contains(&name.as_str());
            match russh::cipher::Name::try_from(name.as_str()) {
                Ok(cipher) if known => ciphers.push(cipher),
                _ => {
                    return Err(SshError::Cipher {
                        name: name.clone(),
                        allowed: TARGET_CIPHERS.join(", "),
                    });
                }
            }
        }
        self.client.preferred.cipher = ciphers.into();
        Ok(self)
    }
}

/// Ciphers a target connection may be pinned to.
const TARGET_CIPHERS: [&str; 6] = [
    "chacha20-poly1305@openssh.com",
    "aes256-gcm@openssh.com",
    "aes128-gcm@openssh.com",
    "aes256-ctr",
    "aes192-ctr",
    "aes128-ctr",
];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn target_ciphers_are_checked() {
        let pinned = SshSettings::new(Vec::new())
            .with_target_ciphers(&["aes256-gcm@openssh.com".into()])
            .unwrap();
        assert_eq!(pinned.client.preferred.cipher.len(), 1);
        assert_eq!(
            pinned.client.preferred.cipher[0].as_ref(),
            "aes256-gcm@openssh.com"
        );
        let err = SshSettings::new(Vec::new())
            .with_target_ciphers(&["aes128-cbc".into()])
            .err()
            .unwrap()
            .to_string();
        assert!(
            err.contains("aes128-cbc") && err.contains("chacha20-poly1305@openssh.com"),
            "{err}"
        );
    }
}
