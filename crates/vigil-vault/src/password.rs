use argon2::Argon2;
use argon2::password_hash::rand_core::OsRng;
use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use rand::Rng;

use crate::{Secret, VaultError};

/// argon2id with the crate's default (OWASP-recommended) parameters.
pub fn hash_password(password: &Secret) -> Result<String, VaultError> {
    let salt = SaltString::generate(&mut OsRng);
    Argon2::default()
        .hash_password(password.expose(), &salt)
        .map(|h| h.to_string())
        .map_err(|e| VaultError::Hash(e.to_string()))
}

/// True when `password` matches the stored hash; a malformed hash never matches.
pub fn verify_password(password: &[u8], hash: &str) -> bool {
    PasswordHash::new(hash)
        .map(|parsed| Argon2::default().verify_password(password, &parsed).is_ok())
        .unwrap_or(false)
}

/// A random password for first-start administrators: 20 characters without look-alikes.
pub fn random_password() -> Secret {
    const ALPHABET: &[u8] = b"abcdefghijkmnopqrstuvwxyzABCDEFGHJKLMNPQRSTUVWXYZ23456789";
    let mut rng = rand::rngs::OsRng;
    let bytes = (0..20)
        .map(|_| ALPHABET[rng.gen_range(0..ALPHABET.len())])
        .collect();
    Secret::new(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hash_verifies_only_the_password() {
        let pw = random_password();
        let hash = hash_password(&pw).unwrap();
        assert!(hash.starts_with("$argon2id$"));
        assert!(verify_password(pw.expose(), &hash));
        assert!(!verify_password(b"wrong", &hash));
        assert!(!verify_password(pw.expose(), "not-a-hash"));
    }
}
