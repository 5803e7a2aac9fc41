//! The key a workstation's agent proves itself with (issue 14): Ed25519, made on the
//! workstation at enrolment; the server keeps only the public half. Every request the agent
//! makes after enrolment is signed over its method, path, time and body digest
//! ([`request_message`]), so a captured request cannot be altered, and the server refuses
//! one whose time is far from its own (and, within that window, one it has seen).
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
pub enum AgentKeyError {
    #[error("the public key is not `ed25519:` followed by 32 bytes of base64")]
    BadPublicKey,
    #[error("the agent's key file is not 32 bytes of base64: enrol the workstation again")]
    BadPrivateKey,
    #[error("the signature is not 64 bytes of base64")]
    BadSignature,
    #[error("the signature does not match the agent's key")]
    Mismatch,
}

/// An agent's private key. It never prints.
pub struct AgentKey(SigningKey);

impl std::fmt::Debug for AgentKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "AgentKey({})", self.public().fingerprint())
    }
}

impl AgentKey {
    /// A new random key.
    pub fn generate() -> AgentKey {
        let mut seed = Zeroizing::new([0u8; 32]);
        rand::rngs::OsRng.fill_bytes(seed.as_mut());
        AgentKey(SigningKey::from_bytes(&seed))
    }

    /// The key as stored in the agent's state directory (base64 of its seed); keep the
    /// file readable by root only.
    pub fn to_text(&self) -> Zeroizing<String> {
        Zeroizing::new(STANDARD.encode(self.0.to_bytes()))
    }

    pub fn from_text(text: &str) -> Result<AgentKey, AgentKeyError> {
        let bytes = Zeroizing::new(
            STANDARD
                .decode(text.trim())
                .map_err(|_| AgentKeyError::BadPrivateKey)?,
        );
        let seed: &[u8; 32] = bytes
            .as_slice()
            .try_into()
            .map_err(|_| AgentKeyError::BadPrivateKey)?;
        Ok(AgentKey(SigningKey::from_bytes(seed)))
    }

    pub fn public(&self) -> AgentPublicKey {
        AgentPublicKey(self.0.verifying_key())
    }

    /// The signature of `message`, as text.
    pub fn sign(&self, message: &[u8]) -> String {
        STANDARD.encode(self.0.sign(message).to_bytes())
    }
}

/// An agent's public key, as the server keeps it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AgentPublicKey(VerifyingKey);

impl AgentPublicKey {
    pub fn parse(text: &str) -> Result<AgentPublicKey, AgentKeyError> {
        let b64 = text
            .trim()
            .strip_prefix("ed25519:")
            .ok_or(AgentKeyError::BadPublicKey)?;
        let bytes = STANDARD
            .decode(b64)
            .map_err(|_| AgentKeyError::BadPublicKey)?;
        let bytes: &[u8; 32] = bytes
            .as_slice()
            .try_into()
            .map_err(|_| AgentKeyError::BadPublicKey)?;
        VerifyingKey::from_bytes(bytes)
            .map(AgentPublicKey)
            .map_err(|_| AgentKeyError::BadPublicKey)
    }

    pub fn to_text(&self) -> String {
        format!("ed25519:{}", STANDARD.encode(self.0.to_bytes()))
    }

    pub fn fingerprint(&self) -> String {
        format!(
            "SHA256:{}",
            STANDARD_NO_PAD.encode(Sha256::digest(self.0.to_bytes()))
        )
    }

    /// Checks `signature` (text) over `message` (strict: no malleable signatures).
    pub fn verify(&self, message: &[u8], signature: &str) -> Result<(), AgentKeyError> {
        let bytes = STANDARD
            .decode(signature.trim())
            .map_err(|_| AgentKeyError::BadSignature)?;
        let bytes: &[u8; 64] = bytes
            .as_slice()
            .try_into()
            .map_err(|_| AgentKeyError::BadSignature)?;
        self.0
            .verify_strict(message, &Signature::from_bytes(bytes))
            .map_err(|_| AgentKeyError::Mismatch)
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
        let key = AgentKey::generate();
        let public = AgentPublicKey::parse(&key.public().to_text()).unwrap();
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
            assert_eq!(public.verify(&other, &sig), Err(AgentKeyError::Mismatch));
        }
        let stranger = AgentKey::generate();
        assert_eq!(
            stranger.public().verify(&msg, &sig),
            Err(AgentKeyError::Mismatch)
        );
        assert_eq!(
            public.verify(&msg, "not base64!"),
            Err(AgentKeyError::BadSignature)
        );
    }

    #[test]
    fn keys_round_trip_as_text_and_bad_text_is_refused() {
        let key = AgentKey::generate();
        let again = AgentKey::from_text(&key.to_text()).unwrap();
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
                AgentPublicKey::parse(bad),
                Err(AgentKeyError::BadPublicKey),
                "{bad}"
            );
        }
        assert_eq!(
            AgentKey::from_text("short").unwrap_err(),
            AgentKeyError::BadPrivateKey
        );
    }
}
