//! Signatures as evidence carries them: a node's public key as the store lists it
//! (`ed25519:` and base64) and a signature in base64, made and checked the same way for
//! recording proofs, purge tombstones and session-log seals.

use vigil_record::chain::{KeyCheck, LinkKeys, LinkSigner};
use vigil_vault::Ed25519PublicKey;

/// `signer`'s public key as the store lists it (`ed25519:` and base64).
pub(crate) fn signer_text(signer: &dyn LinkSigner) -> String {
    Ed25519PublicKey::from_bytes(&signer.public())
        .map(|k| k.to_text())
        .unwrap_or_default()
}

/// A signature as evidence carries it (base64).
pub(crate) fn signature_text(signature: &[u8; 64]) -> String {
    use base64::Engine;
    base64::engine::general_purpose::STANDARD.encode(signature)
}

/// Checks `signature` (base64) by `signer` (as the store lists keys) over `message` against
/// the nodes' keys; `None` when either does not decode.
pub(crate) fn check_text(
    keys: &dyn LinkKeys,
    signer: &str,
    message: &[u8],
    signature: &str,
) -> Option<KeyCheck> {
    use base64::Engine;
    let signer = Ed25519PublicKey::parse(signer).ok()?;
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(signature)
        .ok()?;
    let signature: [u8; 64] = bytes.as_slice().try_into().ok()?;
    Some(keys.check(&signer.to_bytes(), message, &signature))
}
