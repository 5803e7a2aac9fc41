//! Agent request signatures seen lately, so a captured request cannot be sent again within
//! the time an agent's clock may be off (`agent_api`).

use std::collections::HashMap;
use std::sync::Mutex;

/// How long a signature is remembered: twice the allowed clock skew (a request older than
/// the skew is refused for its time anyway).
const REMEMBER_MS: i64 = 10 * 60 * 1000;

/// Signatures seen within the allowed skew, so a captured request cannot be sent again.
#[derive(Default)]
pub struct Replays(Mutex<HashMap<String, i64>>);

impl Replays {
    /// True the first time `sig` is seen; forgets what is older than the skew allows.
    pub(crate) fn first_use(&self, sig: &str, now: i64) -> bool {
        let Ok(mut seen) = self.0.lock() else {
            return false;
        };
        if seen.len() > 10_000 {
            seen.retain(|_, at| now - *at <= REMEMBER_MS);
        }
        seen.insert(sig.to_owned(), now).is_none()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_signature_is_accepted_once() {
        let r = Replays::default();
        assert!(r.first_use("s1", 0));
        assert!(!r.first_use("s1", 1));
        assert!(r.first_use("s2", 1));
    }
}
