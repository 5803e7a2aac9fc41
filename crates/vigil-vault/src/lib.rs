//! Vigil's vault: credentials encrypted at rest, and types that never print a secret.
//!
//! Envelope encryption: each secret gets its own random data key (XChaCha20-Poly1305); the data
//! key is wrapped by the master key. The row a secret belongs to is bound in as associated data,
//! so a ciphertext copied to another row does not decrypt.
//!
//! Architecture invariant: the vault knows nothing of storage. It turns bytes into sealed text
//! and back; where that text lives is `vigil-store`'s business.
#![forbid(unsafe_code)]

pub mod ed25519;
mod envelope;
mod master_key;
mod password;
mod secret;
mod token;
mod totp;

pub use ed25519::{Ed25519Key, Ed25519PublicKey, KeyError, request_message};
/// A workstation agent's key (see [`ed25519`]).
pub type AgentKey = Ed25519Key;
pub type AgentPublicKey = Ed25519PublicKey;
pub type AgentKeyError = KeyError;
pub use envelope::{open, seal};
pub use master_key::MasterKey;
pub use password::{hash_password, random_password, verify_password};
pub use secret::Secret;
pub use token::{new_token, token_hash};
pub use totp::{
    current_totp, new_totp_secret, totp_enrolment, totp_secret_from_base32, verify_totp,
};

#[derive(Debug, thiserror::Error)]
pub enum VaultError {
    #[error("cannot read master key file {path}: {source}")]
    ReadKey {
        path: String,
        source: std::io::Error,
    },
    #[error("cannot write master key file {path}: {source}")]
    WriteKey {
        path: String,
        source: std::io::Error,
    },
    #[error(
        "master key in {origin} is not 32 bytes of base64: restore the original key file; without it the vault cannot be opened"
    )]
    BadKey { origin: String },
    #[error("sealed secret is malformed: {0}")]
    Malformed(&'static str),
    #[error(
        "sealed secret does not open with this master key (wrong key, or the value was moved from another row)"
    )]
    Decrypt,
    #[error("one-time password setup failed: {0}")]
    Totp(String),
    #[error("cannot hash password: {0}")]
    Hash(String),
}
