//! Failed sign-ins are limited per user name and per client address, so neither guessing one
//! user's password from many places nor many users' from one place gets far. One limiter per
//! node counts the console's and the SSH gateway's failures together (the hub owns it), so
//! switching from one to the other gains nothing. In memory, per node: each node of a cluster
//! enforces its own limit. Administrators see what is limited ([`LoginLimiter::limited`]) and
//! may clear it ([`LoginLimiter::clear`]).

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// A user name or address that failed to sign in lately.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Limited {
    /// `user:NAME` or `addr:IP`.
    pub key: String,
    pub failures: u32,
    /// Seconds until sign-ins are allowed again; `None` while under the limit.
    pub blocked_secs: Option<u64>,
    /// Seconds until the count is forgotten.
    pub forgotten_in_secs: u64,
}

pub struct LoginLimiter {
    max_failures: u32,
    window: Duration,
    failures: Mutex<HashMap<String, (u32, Instant)>>,
}

impl LoginLimiter {
    pub fn new(max_failures: u32, window: Duration) -> Self {
        LoginLimiter {
            max_failures,
            window,
            failures: Mutex::new(HashMap::new()),
        }
    }

    fn map(&self) -> std::sync::MutexGuard<'_, HashMap<String, (u32, Instant)>> {
        self.failures.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Whole seconds (at least 1) until a count started at `since` is forgotten; `None` once
    /// it is.
    fn left(&self, since: Instant, now: Instant) -> Option<u64> {
        let age = now.duration_since(since);
        (age < self.window).then(|| (self.window - age).as_secs().max(1))
    }

    /// Seconds to wait when `keys` (e.g. `user:alice`, `addr:10.0.0.1`) are blocked.
    pub fn blocked(&self, keys: &[String]) -> Option<u64> {
        let now = Instant::now();
        let map = self.map();
        keys.iter()
            .filter_map(|k| map.get(k))
            .filter(|(n, _)| *n >= self.max_failures)
            .filter_map(|(_, since)| self.left(*since, now))
            .max()
    }

    pub fn failed(&self, keys: &[String]) {
        let now = Instant::now();
        let mut map = self.map();
        if map.len() > 100_000 {
            map.retain(|_, (_, since)| now.duration_since(*since) < self.window);
        }
        for k in keys {
            let entry = map.entry(k.clone()).or_insert((0, now));
            if now.duration_since(entry.1) >= self.window {
                *entry = (0, now);
            }
            entry.0 += 1;
        }
    }

    /// A successful sign-in clears the user's count (not the address's: one right password
    /// from an address does not excuse its other guesses).
    pub fn succeeded(&self, user_key: &str) {
        self.map().remove(user_key);
    }

    /// How many failures it takes to be blocked, and for how long counts are kept.
    pub fn policy(&self) -> (u32, Duration) {
        (self.max_failures, self.window)
    }

    /// Every user name and address with failures inside the window, blocked ones first.
    pub fn limited(&self) -> Vec<Limited> {
        let now = Instant::now();
        let mut out: Vec<Limited> = self
            .map()
            .iter()
            .filter_map(|(key, (n, since))| {
                let left = self.left(*since, now)?;
                Some(Limited {
                    key: key.clone(),
                    failures: *n,
                    blocked_secs: (*n >= self.max_failures).then_some(left),
                    forgotten_in_secs: left,
                })
            })
            .collect();
        out.sort_by(|a, b| {
            b.blocked_secs
                .is_some()
                .cmp(&a.blocked_secs.is_some())
                .then_with(|| a.key.cmp(&b.key))
        });
        out
    }

    /// `key`'s failures inside the window; `None` when it has none.
    pub fn failures(&self, key: &str) -> Option<u32> {
        let now = Instant::now();
        let map = self.map();
        let (n, since) = map.get(key)?;
        self.left(*since, now).map(|_| *n)
    }

    /// Forgets `key`'s failures; whether it had any.
    pub fn clear(&self, key: &str) -> bool {
        self.map().remove(key).is_some()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn blocks_after_the_limit_and_forgets_after_the_window() {
        let l = LoginLimiter::new(3, Duration::from_millis(200));
        let keys = ["user:alice".to_string(), "addr:1.2.3.4".to_string()];
        for _ in 0..3 {
            assert_eq!(l.blocked(&keys), None);
            l.failed(&keys);
        }
        assert!(l.blocked(&keys).is_some());
        assert!(
            l.blocked(&["addr:1.2.3.4".to_string()]).is_some(),
            "per address too"
        );
        l.succeeded("user:alice");
        assert!(l.blocked(&["user:alice".to_string()]).is_none());
        std::thread::sleep(Duration::from_millis(250));
        assert!(l.blocked(&keys).is_none());
    }

    #[test]
    fn what_is_limited_is_listed_and_an_administrator_clears_it() {
        let l = LoginLimiter::new(2, Duration::from_secs(60));
        let keys = ["user:bob".to_string(), "addr:10.0.0.9".to_string()];
        l.failed(&keys);
        l.failed(&keys);
        l.failed(&["user:carol".to_string()]);
        let listed = l.limited();
        assert_eq!(
            listed.iter().map(|x| x.key.as_str()).collect::<Vec<_>>(),
            ["addr:10.0.0.9", "user:bob", "user:carol"],
            "blocked first"
        );
        assert!(listed[0].blocked_secs.is_some() && listed[2].blocked_secs.is_none());
        assert_eq!(listed[2].failures, 1);
        assert!(l.clear("addr:10.0.0.9"));
        assert!(!l.clear("addr:10.0.0.9"), "cleared once");
        assert!(l.blocked(&["addr:10.0.0.9".to_string()]).is_none());
        assert!(l.blocked(&keys).is_some(), "the user is still blocked");
    }
}
