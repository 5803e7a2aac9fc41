//! Connections that have not signed in yet. Each holds a pass counted against its client
//! address and against the node; a connection beyond either cap is refused before the SSH
//! handshake, and a pass is given back when the connection signs in or ends. With the login
//! grace time (`server.rs`), a flood of connections that never sign in costs the node a
//! bounded number of sockets for a bounded time, and other addresses keep getting in.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::{Arc, Mutex};

#[derive(Default)]
pub(crate) struct PreAuth {
    per_address: Mutex<HashMap<IpAddr, usize>>,
}

/// Why a connection was refused.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Crowded {
    Address(usize),
    Node(usize),
}

impl std::fmt::Display for Crowded {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Crowded::Address(n) => write!(
                f,
                "{n} connections from this address are already signing in; finish or close them, then try again"
            ),
            Crowded::Node(n) => write!(
                f,
                "{n} connections are already signing in to this node; try again in a minute"
            ),
        }
    }
}

/// A connection's place among those signing in; given back when dropped.
pub(crate) struct Pass {
    owner: Arc<PreAuth>,
    ip: IpAddr,
}

impl PreAuth {
    fn counts(&self) -> std::sync::MutexGuard<'_, HashMap<IpAddr, usize>> {
        self.per_address.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// A pass for a new connection from `ip`, unless `ip` holds `per_address` already or
    /// the node holds `total`.
    pub(crate) fn enter(
        self: &Arc<Self>,
        ip: IpAddr,
        per_address: usize,
        total: usize,
    ) -> Result<Pass, Crowded> {
        let mut counts = self.counts();
        let held = counts.get(&ip).copied().unwrap_or(0);
        if held >= per_address {
            return Err(Crowded::Address(held));
        }
        let all: usize = counts.values().sum();
        if all >= total {
            return Err(Crowded::Node(all));
        }
        *counts.entry(ip).or_insert(0) += 1;
        Ok(Pass {
            owner: Arc::clone(self),
            ip,
        })
    }

    #[cfg(test)]
    fn held(&self, ip: IpAddr) -> usize {
        self.counts().get(&ip).copied().unwrap_or(0)
    }
}

impl Drop for Pass {
    fn drop(&mut self) {
        let mut counts = self.owner.counts();
        if let Some(n) = counts.get_mut(&self.ip) {
            *n -= 1;
            if *n == 0 {
                counts.remove(&self.ip);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_address_and_the_node_are_capped_and_passes_come_back() {
        let pre = Arc::new(PreAuth::default());
        let a: IpAddr = "10.0.0.1".parse().unwrap();
        let b: IpAddr = "10.0.0.2".parse().unwrap();
        let c: IpAddr = "::1".parse().unwrap();
        let first = pre.enter(a, 2, 3).unwrap();
        let _second = pre.enter(a, 2, 3).unwrap();
        assert_eq!(pre.enter(a, 2, 3).err(), Some(Crowded::Address(2)));
        let _other = pre.enter(b, 2, 3).unwrap();
        assert_eq!(pre.enter(c, 2, 3).err(), Some(Crowded::Node(3)));
        drop(first);
        assert_eq!(pre.held(a), 1);
        let _again = pre.enter(a, 2, 3).unwrap();
        assert!(
            pre.enter(a, 2, 3)
                .err()
                .unwrap()
                .to_string()
                .contains("already signing in")
        );
    }
}
