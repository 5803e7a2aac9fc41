//! What is wrong with a destination's configuration.

/// What is wrong with a `[[siem]]` table: the key and why.
#[derive(Debug, thiserror::Error)]
#[error("{key}: {why}")]
pub struct DestinationError {
    pub key: &'static str,
    pub why: String,
}
