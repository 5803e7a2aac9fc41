//! Time-based one-time passwords (RFC 6238: SHA-1, 6 digits, 30 s), the second factor.

use totp_rs::{Algorithm, TOTP};

use crate::{Secret, VaultError};

fn totp(secret: &Secret, account: &str) -> Result<TOTP, VaultError> {
    TOTP::new(
        Algorithm::SHA1,
        6,
        1,
        30,
        secret.expose().to_vec(),
        Some("Vigil".into()),
        account.to_owned(),
    )
    .map_err(|e| VaultError::Totp(e.to_string()))
}

/// A fresh 160-bit TOTP secret.
pub fn new_totp_secret() -> Secret {
    Secret::new(
        totp_rs::Secret::generate_secret()
            .to_bytes()
            .unwrap_or_default(),
    )
}

/// The `otpauth://` URL an authenticator app enrols from, and the base32 secret for typing.
pub fn totp_enrolment(secret: &Secret, account: &str) -> Result<(String, String), VaultError> {
    let t = totp(secret, account)?;
    Ok((t.get_url(), t.get_secret_base32()))
}

/// True when `code` is valid now (one step of clock skew either way).
pub fn verify_totp(secret: &Secret, code: &str) -> bool {
    totp(secret, "user")
        .and_then(|t| {
            t.check_current(code.trim())
                .map_err(|e| VaultError::Totp(e.to_string()))
        })
        .unwrap_or(false)
}

/// The current code, for tests and tools that act as an authenticator.
pub fn current_totp(secret: &Secret) -> Result<String, VaultError> {
    totp(secret, "user")?
        .generate_current()
        .map_err(|e| VaultError::Totp(e.to_string()))
}

/// Decodes a base32 secret as shown at enrolment.
pub fn totp_secret_from_base32(text: &str) -> Result<Secret, VaultError> {
    totp_rs::Secret::Encoded(text.trim().to_owned())
        .to_bytes()
        .map(Secret::new)
        .map_err(|e| VaultError::Totp(format!("{e:?}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn enrol_and_verify() {
        let secret = new_totp_secret();
        assert_eq!(secret.len(), 20);
        let (url, b32) = totp_enrolment(&secret, "alice").unwrap();
        assert!(url.starts_with("otpauth://totp/Vigil:alice?"), "{url}");
        assert_eq!(totp_secret_from_base32(&b32).unwrap(), secret);
        let code = current_totp(&secret).unwrap();
        assert!(verify_totp(&secret, &code));
        assert!(!verify_totp(&secret, "000000") || code == "000000");
        assert!(!verify_totp(&secret, "not a code"));
    }
}
