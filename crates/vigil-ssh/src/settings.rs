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

/// The longest sign-in grace or target keepalive taken (the configuration refuses longer).
const LONGEST_INTERVAL: Duration = Duration::from_secs(86_400);

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
        let mut client = client::Config {
            inactivity_timeout: None,
            // A target that stops answering (its network cut) is given up after about two
            // minutes of silence; see `with_target_keepalive`.
            keepalive_interval: Some(Duration::from_secs(30)),
            keepalive_max: 4,
            nodelay: true,
            channel_buffer_size: CHANNEL_QUEUE,
            ..Default::default()
        };
        client.preferred.cipher = default_target_ciphers(aes_in_hardware()).into();
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
        self.client.keepalive_interval = Some(interval.min(LONGEST_INTERVAL));
        self.client.keepalive_max = 3;
        self
    }

    /// How long a client has to sign in, and how many connections not yet signed in one
    /// client address may hold at once.
    /// (Both intervals are capped at a day: deadlines are computed as `now + interval`,
    /// which panics past what a clock holds.)
    pub fn with_pre_auth_limits(mut self, login_grace: Duration, per_address: usize) -> Self {
        self.login_grace = login_grace.min(LONGEST_INTERVAL);
        self.max_unauthenticated_per_address = per_address.max(1);
        self
    }

    /// Restricts the ciphers offered to targets, most preferred first (empty: the default
    /// order, see [`default_target_ciphers`]). Only AEAD and CTR modes are accepted.
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

/// The ciphers offered to a target when none are configured: russh's default set and order,
/// with AES-256-GCM moved first where the CPU does AES and carry-less multiplication in
/// hardware (elsewhere russh's order, chacha20-poly1305 first). The gateway decrypts and
/// re-encrypts every relayed byte, and on the target hop it chooses (the operator's client
/// chooses its own hop): with ring, AES-256-GCM on AES-NI and CLMUL costs about a fifth of
/// chacha20-poly1305, whose Poly1305 is ring's scalar C on x86-64 (docs/BENCHMARKS.md,
/// "Ciphers"). Without those instructions AES is slow and chacha20-poly1305 is the better
/// choice, as OpenSSH's own order assumes.
fn default_target_ciphers(aes_in_hardware: bool) -> Vec<russh::cipher::Name> {
    let mut order = russh::Preferred::DEFAULT.cipher.to_vec();
    if aes_in_hardware {
        // A stable move to the front: the rest keeps russh's order.
        order.sort_by_key(|c| *c != russh::cipher::AES_256_GCM);
    }
    order
}

/// Whether this CPU has the instructions that make AES-GCM fast (and constant-time).
fn aes_in_hardware() -> bool {
    #[cfg(target_arch = "x86_64")]
    {
        std::arch::is_x86_feature_detected!("aes")
            && std::arch::is_x86_feature_detected!("pclmulqdq")
    }
    #[cfg(target_arch = "aarch64")]
    {
        std::arch::is_aarch64_feature_detected!("aes")
            && std::arch::is_aarch64_feature_detected!("pmull")
    }
    #[cfg(not(any(target_arch = "x86_64", target_arch = "aarch64")))]
    {
        false
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

    fn words(order: &[russh::cipher::Name]) -> Vec<String> {
        order.iter().map(|n| n.as_ref().to_owned()).collect()
    }

    #[test]
    fn intervals_past_a_day_are_capped_so_deadlines_never_overflow() {
        let s = SshSettings::new(Vec::new())
            .with_pre_auth_limits(Duration::MAX, 0)
            .with_target_keepalive(Duration::MAX);
        assert_eq!(s.login_grace, LONGEST_INTERVAL);
        assert_eq!(s.client.keepalive_interval, Some(LONGEST_INTERVAL));
        assert_eq!(s.max_unauthenticated_per_address, 1);
        // What the server does with it at every connection.
        let _ = tokio::time::Instant::now() + s.login_grace;
    }

    #[test]
    fn the_default_target_order_puts_aes_gcm_first_only_with_aes_in_hardware() {
        let names = |hw| words(&default_target_ciphers(hw));
        let with = names(true);
        let without = names(false);
        assert_eq!(with[0], "aes256-gcm@openssh.com");
        assert_eq!(without[0], "chacha20-poly1305@openssh.com");
        // The same set either way, every one of them allowed for pinning too.
        let (mut a, mut b) = (with.clone(), without.clone());
        a.sort();
        b.sort();
        assert_eq!(a, b);
        assert!(with.iter().all(|n| TARGET_CIPHERS.contains(&n.as_str())));
        // What a node uses is the order for its own CPU.
        let used = words(&SshSettings::new(Vec::new()).client.preferred.cipher);
        assert_eq!(used, names(aes_in_hardware()));
    }

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
