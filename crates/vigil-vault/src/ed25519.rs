//! Ed25519 keys, for two jobs:
//! - a workstation's agent proves itself with one (issue 14), made on the workstation at
//!   enrolment; the server keeps only the public half. Every request the agent makes after
//!   enrolment is signed over its method, path, time and body digest ([`request_message`]),
//!   so a captured request cannot be altered, and the server refuses one whose time is far
//!   from its own (and, within that window, one it has seen);
//! - a node signs its recordings' chain links and seals with one (issue 15), made at `init`;
//!   the store keeps the public half so every node can verify any recording.
//!
//! Text forms: the public key is `ed25519:` and 32 bytes of base64; a signature is 64 bytes
//! of base64; the fingerprint is `SHA256:` and the unpadded base64 of the public key's
//! digest (the form `ssh-keygen -l` uses).

use base64::Engine;
use base64::engine::general_purpose::{STANDARD, STANDARD_NO_PAD};
use ed25519_dalek::{Signature, Signer, SigningKey, VerifyingKey};
use rand::RngCore;
use sha2::{Digest, Sha256};
use zeroize::Zeroizing;

/// Why a key or signature was not accepted.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum KeyError {
    #[error("the public key is not `ed25519:` followed by 32 bytes of base64")]
    BadPublicKey,
    #[error("the key file is not 32 bytes of base64")]
    BadPrivateKey,
    #[error("the signature is not 64 bytes of base64")]
    BadSignature,
    #[error("the signature does not match the key")]
    Mismatch,
}

/// A private key. It never prints.
pub struct Ed25519Key(SigningKey);

impl std::fmt::Debug for Ed25519Key {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Ed25519Key({})", self.public().fingerprint())
    }
}

impl Ed25519Key {
    /// A new random key.
    pub fn generate() -> Ed25519Key {
        let mut seed = Zeroizing::new([0u8; 32]);
        rand::rngs::OsRng.fill_bytes(seed.as_mut());
        Ed25519Key(SigningKey::from_bytes(&seed))
    }

    /// The key as stored in a file (base64 of its seed); keep the file readable by its
    /// owner only.
    pub fn to_text(&self) -> Zeroizing<String> {
        Zeroizing::new(STANDARD.encode(self.0.to_bytes()))
    }

    pub fn from_text(text: &str) -> Result<Ed25519Key, KeyError> {
        let bytes = Zeroizing::new(
            STANDARD
                .decode(text.trim())
                .map_err(|_| KeyError::BadPrivateKey)?,
        );
        let seed: &[u8; 32] = bytes
            .as_slice()
            .try_into()
            .map_err(|_| KeyError::BadPrivateKey)?;
        Ok(Ed25519Key(SigningKey::from_bytes(seed)))
    }

    pub fn public(&self) -> Ed25519PublicKey {
        Ed25519PublicKey(self.0.verifying_key())
    }

    /// The signature of `message`, as text.
    pub fn sign(&self, message: &[u8]) -> String {
        STANDARD.encode(self.sign_bytes(message))
    }

    /// The signature of `message`, as bytes.
    pub fn sign_bytes(&self, message: &[u8]) -> [u8; 64] {
        self.0.sign(message).to_bytes()
    }
}

/// A public key, as the store keeps it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Ed25519PublicKey(VerifyingKey);

impl Ed25519PublicKey {
    pub fn parse(text: &str) -> Result<Ed25519PublicKey, KeyError> {
        let b64 = text
            .trim()
            .strip_prefix("ed25519:")
            .ok_or(KeyError::BadPublicKey)?;
        let bytes = STANDARD.decode(b64).map_err(|_| KeyError::BadPublicKey)?;
        let bytes: &[u8; 32] = bytes
            .as_slice()
            .try_into()
            .map_err(|_| KeyError::BadPublicKey)?;
        VerifyingKey::from_bytes(bytes)
            .map(Ed25519PublicKey)
            .map_err(|_| KeyError::BadPublicKey)
    }

    pub fn to_text(&self) -> String {
        format!("ed25519:{}", STANDARD.encode(self.0.to_bytes()))
    }

    /// The key's 32 bytes.
    pub fn to_bytes(&self) -> [u8; 32] {
        self.0.to_bytes()
    }

    pub fn from_bytes(bytes: &[u8; 32]) -> Result<Ed25519PublicKey, KeyError> {
        VerifyingKey::from_bytes(bytes)
            .map(Ed25519PublicKey)
            .map_err(|_| KeyError::BadPublicKey)
    }

    pub fn fingerprint(&self) -> String {
        format!(
            "SHA256:{}",
            STANDARD_NO_PAD.encode(Sha256::digest(self.0.to_bytes()))
        )
    }

    /// Checks `signature` (text) over `message` (strict: no malleable signatures).
    pub fn verify(&self, message: &[u8], signature: &str) -> Result<(), KeyError> {
        let bytes = STANDARD
            .decode(signature.trim())
            .map_err(|_| KeyError::BadSignature)?;
        let bytes: &[u8; 64] = bytes
            .as_slice()
            .try_into()
            .map_err(|_| KeyError::BadSignature)?;
        self.verify_bytes(message, bytes)
    }

    /// Checks a signature given as bytes.
    pub fn verify_bytes(&self, message: &[u8], signature: &[u8; 64]) -> Result<(), KeyError> {
        self.0
            .verify_strict(message, &Signature::from_bytes(signature))
            .map_err(|_| KeyError::Mismatch)
    }
}

/// What an agent signs for one request: the method, the path with its query, the time it
/// claims (Unix milliseconds) and the SHA-256 of the body, one per line after a version tag.
pub fn request_message(method: &str, path_and_query: &str, at_ms: i64, body: &[u8]) -> Vec<u8> {
    let digest: String = Sha256::digest(body)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    format!("vigil-agent-v1\n{method}\n{path_and_query}\n{at_ms}\n{digest}").into_bytes()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_request_signed_by_the_key_verifies_and_nothing_else_does() {
        let key = Ed25519Key::generate();
        let public = Ed25519PublicKey::parse(&key.public().to_text()).unwrap();
        assert_eq!(public, key.public());
        let msg = request_message(
            "PUT",
            "/api/agent/v1/runs/r1/output?offset=0",
            1_000,
            b"data",
        );
        let sig = key.sign(&msg);
        assert_eq!(public.verify(&msg, &sig), Ok(()));
        // Any other method, path, time or body does not.
        for other in [
            request_message(
                "POST",
                "/api/agent/v1/runs/r1/output?offset=0",
                1_000,
                b"data",
            ),
            request_message(
                "PUT",
                "/api/agent/v1/runs/r1/output?offset=4",
                1_000,
                b"data",
            ),
            request_message(
                "PUT",
                "/api/agent/v1/runs/r1/output?offset=0",
                1_001,
                b"data",
            ),
            request_message(
                "PUT",
                "/api/agent/v1/runs/r1/output?offset=0",
                1_000,
                b"datA",
            ),
        ] {
            assert_eq!(public.verify(&other, &sig), Err(KeyError::Mismatch));
        }
        let stranger = Ed25519Key::generate();
        assert_eq!(
            stranger.public().verify(&msg, &sig),
            Err(KeyError::Mismatch)
        );
        assert_eq!(
            public.verify(&msg, "not base64!"),
            Err(KeyError::BadSignature)
        );
    }

    #[test]
    fn keys_round_trip_as_text_and_bad_text_is_refused() {
        let key = Ed25519Key::generate();
        let again = Ed25519Key::from_text(&key.to_text()).unwrap();
        assert_eq!(again.public(), key.public());
        assert!(!format!("{key:?}").contains(key.to_text().as_str()));
        assert!(key.public().fingerprint().starts_with("SHA256:"));
        for bad in [
            "",
            "ed25519:",
            "ssh-ed25519 AAAA",
            "ed25519:AAAA",
            "ed25519:!!",
        ] {
            assert_eq!(
                Ed25519PublicKey::parse(bad),
                Err(KeyError::BadPublicKey),
                "{bad}"
            );
        }
        assert_eq!(
            Ed25519Key::from_text("short").unwrap_err(),
            KeyError::BadPrivateKey
        );
    }
}
