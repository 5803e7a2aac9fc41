//! Failed sign-ins are limited per user name and per client address, so neither guessing one
//! user's password from many places nor many users' from one place gets far. In memory, per
//! node: each node of a cluster enforces its own limit. The console and the SSH gateway each
//! have one.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

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

    /// Seconds to wait when `keys` (e.g. `user:alice`, `addr:10.0.0.1`) are blocked.
    pub fn blocked(&self, keys: &[String]) -> Option<u64> {
        let now = Instant::now();
        let map = self.map();
        keys.iter()
            .filter_map(|k| map.get(k))
            .filter(|(n, since)| {
                *n >= self.max_failures && now.duration_since(*since) < self.window
            })
            .map(|(_, since)| (self.window - now.duration_since(*since)).as_secs().max(1))
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
}
