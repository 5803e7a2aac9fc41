//! Bearer tokens (browser sessions, API tokens): random, handed out once, stored only as their
//! SHA-256 hash.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use rand::RngCore;
use sha2::{Digest, Sha256};

use crate::Secret;

/// 32 random bytes in URL-safe base64 after `prefix` (which says what the token is for when
/// one turns up in a log or a paste).
pub fn new_token(prefix: &str) -> Secret {
    let mut bytes = [0u8; 32];
    rand::rngs::OsRng.fill_bytes(&mut bytes);
    Secret::from(format!("{prefix}{}", URL_SAFE_NO_PAD.encode(bytes)))
}

/// The form a token is stored and looked up in.
pub fn token_hash(token: &[u8]) -> String {
    Sha256::digest(token)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_are_unique_and_hash_stably() {
        let a = new_token("vgl_");
        let b = new_token("vgl_");
        assert_ne!(a, b);
        assert!(
            a.expose_str()
                .is_some_and(|t| t.starts_with("vgl_") && t.len() == 4 + 43)
        );
        assert_eq!(
            token_hash(b"abc"),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
    }
}
