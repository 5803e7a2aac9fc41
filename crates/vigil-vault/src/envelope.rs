use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use chacha20poly1305::aead::{Aead, KeyInit, Payload};
use chacha20poly1305::{XChaCha20Poly1305, XNonce};
use rand::RngCore;
use zeroize::Zeroizing;

use crate::{MasterKey, Secret, VaultError};

const PREFIX: &str = "v1:";
const NONCE: usize = 24;
const WRAPPED_KEY: usize = 32 + 16;

fn nonce() -> [u8; NONCE] {
    let mut n = [0u8; NONCE];
    rand::rngs::OsRng.fill_bytes(&mut n);
    n
}

/// Encrypts `secret` for the row named by `context` (e.g. `account:<id>`).
pub fn seal(master: &MasterKey, context: &str, secret: &Secret) -> Result<String, VaultError> {
    let mut data_key = Zeroizing::new([0u8; 32]);
    rand::rngs::OsRng.fill_bytes(data_key.as_mut());
    let wrap = XChaCha20Poly1305::new(master.0.as_ref().into());
    let key_nonce = nonce();
    let wrapped = wrap
        .encrypt(
            XNonce::from_slice(&key_nonce),
            Payload {
                msg: data_key.as_ref(),
                aad: context.as_bytes(),
            },
        )
        .map_err(|_| VaultError::Decrypt)?;
    let cipher = XChaCha20Poly1305::new(data_key.as_ref().into());
    let data_nonce = nonce();
    let body = cipher
        .encrypt(
            XNonce::from_slice(&data_nonce),
            Payload {
                msg: secret.expose(),
                aad: context.as_bytes(),
            },
        )
        .map_err(|_| VaultError::Decrypt)?;
    let mut out = Vec::with_capacity(NONCE * 2 + WRAPPED_KEY + body.len());
    out.extend_from_slice(&key_nonce);
    out.extend_from_slice(&wrapped);
    out.extend_from_slice(&data_nonce);
    out.extend_from_slice(&body);
    Ok(format!("{PREFIX}{}", STANDARD.encode(out)))
}

/// Decrypts what [`seal`] produced for the same `context`.
pub fn open(master: &MasterKey, context: &str, sealed: &str) -> Result<Secret, VaultError> {
    let body = sealed
        .strip_prefix(PREFIX)
        .ok_or(VaultError::Malformed("unknown version"))?;
    let raw = STANDARD
        .decode(body)
        .map_err(|_| VaultError::Malformed("not base64"))?;
    if raw.len() < NONCE * 2 + WRAPPED_KEY + 16 {
        return Err(VaultError::Malformed("too short"));
    }
    let (key_nonce, rest) = raw.split_at(NONCE);
    let (wrapped, rest) = rest.split_at(WRAPPED_KEY);
    let (data_nonce, ciphertext) = rest.split_at(NONCE);
    let unwrap = XChaCha20Poly1305::new(master.0.as_ref().into());
    let data_key = Zeroizing::new(
        unwrap
            .decrypt(
                XNonce::from_slice(key_nonce),
                Payload {
                    msg: wrapped,
                    aad: context.as_bytes(),
                },
            )
            .map_err(|_| VaultError::Decrypt)?,
    );
    let cipher = XChaCha20Poly1305::new_from_slice(&data_key).map_err(|_| VaultError::Decrypt)?;
    let plain = cipher
        .decrypt(
            XNonce::from_slice(data_nonce),
            Payload {
                msg: ciphertext,
                aad: context.as_bytes(),
            },
        )
        .map_err(|_| VaultError::Decrypt)?;
    Ok(Secret::new(plain))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_binding() {
        let key = MasterKey::generate();
        let secret = Secret::from("canary-password".to_string());
        let sealed = seal(&key, "account:1", &secret).unwrap();
        assert!(!sealed.contains("canary"));
        assert_eq!(open(&key, "account:1", &sealed).unwrap(), secret);
        assert!(matches!(
            open(&key, "account:2", &sealed),
            Err(VaultError::Decrypt)
        ));
        assert!(matches!(
            open(&MasterKey::generate(), "account:1", &sealed),
            Err(VaultError::Decrypt)
        ));
        assert!(matches!(
            open(&key, "account:1", "v1:AAAA"),
            Err(VaultError::Malformed(_))
        ));
        assert!(matches!(
            open(&key, "account:1", "plain"),
            Err(VaultError::Malformed(_))
        ));
        // Two seals of one secret differ: fresh data keys and nonces.
        assert_ne!(sealed, seal(&key, "account:1", &secret).unwrap());
    }
}
