//! Is this recording complete and unaltered? (issue 15) Each of a session's recording tracks
//! is walked with `vigil_record::chain::verify` against every node's registered recording key,
//! and what the walk found is judged with the session's state:
//! - sealed, every link valid: **intact**;
//! - links valid up to a point, no seal, and the session is still running or ended by a
//!   crash or an error (`interrupted`, `node_shutdown`, `error(...)`): **interrupted**,
//!   authentic up to the last link (at most a second before the end);
//! - no seal although the session closed normally: **altered** (truncated: the seal is
//!   written before a session is reported closed);
//! - any broken link, damaged frame, unknown key or bad signature: **altered**, naming it;
//! - no chain at all: **unverifiable** (recorded before tamper evidence, or by a node without
//!   a recording key).
//!
//! What it is not: a check of the session log (its rows are in the store, whose integrity is
//! the database's), nor proof against a stolen node key.

use std::collections::HashMap;
use std::sync::Arc;

use serde::Serialize;
use vigil_record::RecordingStore;
use vigil_record::chain::{KeyCheck, LinkKeys, LinkSigner, Walk};
use vigil_store::{SessionRow, Store, StoreError};
use vigil_vault::{Ed25519Key, Ed25519PublicKey};

/// The node's recording key, signing chains.
pub struct NodeSigner(pub Ed25519Key);

impl LinkSigner for NodeSigner {
    fn public(&self) -> [u8; 32] {
        self.0.public().to_bytes()
    }

    fn sign(&self, message: &[u8]) -> [u8; 64] {
        self.0.sign_bytes(message)
    }
}

/// The keys every node registered.
pub struct StoreKeys(HashMap<[u8; 32], Ed25519PublicKey>);

impl StoreKeys {
    pub async fn load(store: &Store) -> Result<StoreKeys, StoreError> {
        let mut keys = HashMap::new();
        for row in store.node_keys().await? {
            // A row that does not parse verifies nothing: its links show as unknown.
            if let Ok(k) = Ed25519PublicKey::parse(&row.public_key) {
                keys.insert(k.to_bytes(), k);
            }
        }
        Ok(StoreKeys(keys))
    }
}

impl LinkKeys for StoreKeys {
    fn check(&self, signer: &[u8; 32], message: &[u8], signature: &[u8; 64]) -> KeyCheck {
        match self.0.get(signer) {
            None => KeyCheck::Unknown,
            Some(k) if k.verify_bytes(message, signature).is_ok() => KeyCheck::Valid,
            Some(_) => KeyCheck::Invalid,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Verdict {
    Intact,
    Interrupted,
    Unverifiable,
    Altered,
}

impl Verdict {
    /// Authentic: complete, or cut short by a crash (which the summary says).
    pub fn authentic(self) -> bool {
        matches!(self, Verdict::Intact | Verdict::Interrupted)
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct TrackVerification {
    pub track: i64,
    pub recording_key: String,
    pub verdict: Verdict,
    /// In words.
    pub summary: String,
    pub links: u64,
    pub sealed: bool,
    /// Milliseconds of the recording the last valid link vouches for.
    pub verified_ms: u64,
    /// Stored bytes after the last valid link (a crash's last second).
    pub unverified_bytes: u64,
}

#[derive(Debug, Clone, Serialize)]
pub struct Verification {
    pub session: String,
    /// The worst of the tracks'.
    pub verdict: Verdict,
    pub summary: String,
    pub tracks: Vec<TrackVerification>,
}

#[derive(Debug, thiserror::Error)]
pub enum VerifyError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("cannot read recording {key}: {why}")]
    Read { key: String, why: String },
}

/// Whether the session may end without its recordings sealed (a crash, an error).
fn may_be_cut(session: &SessionRow) -> bool {
    let reason = session.end_reason.as_deref().unwrap_or("");
    session.ended_at.is_none()
        || reason == "interrupted"
        || reason == "node_shutdown"
        || reason.starts_with("error(")
}

fn secs(ms: u64) -> String {
    format!("{:.1} s", ms as f64 / 1000.0)
}

/// Judges one track's walk against its session.
pub fn judge(session: &SessionRow, walk: &Walk) -> (Verdict, String) {
    if let Some(p) = &walk.problem {
        return (Verdict::Altered, format!("altered: {p}"));
    }
    if walk.unchained {
        return (
            Verdict::Unverifiable,
            "unverifiable: the recording has no chain (recorded before tamper evidence, or by a node without a recording key)".into(),
        );
    }
    if walk.sealed {
        return (
            Verdict::Intact,
            format!(
                "intact: {} links, sealed at {}",
                walk.links,
                secs(walk.verified_ms)
            ),
        );
    }
    if may_be_cut(session) {
        let running = session.ended_at.is_none();
        return (
            Verdict::Interrupted,
            format!(
                "{} up to {} ({} links){}",
                if running {
                    "intact so far (still recording)"
                } else {
                    "intact up to its interruption:"
                },
                secs(walk.verified_ms),
                walk.links,
                if walk.unverified_bytes > 0 {
                    format!(
                        "; the last {} stored bytes were written after the last link and are unverified",
                        walk.unverified_bytes
                    )
                } else {
                    String::new()
                }
            ),
        );
    }
    (
        Verdict::Altered,
        format!(
            "altered: truncated after {}: the session closed normally, so its recording was sealed, and the seal is missing",
            secs(walk.verified_ms)
        ),
    )
}

/// Verifies every recording track of session `id`.
pub async fn verify_session(
    store: &Store,
    recordings: Arc<dyn RecordingStore>,
    id: &str,
) -> Result<Verification, VerifyError> {
    let session = store.session(id).await?;
    let keys = Arc::new(StoreKeys::load(store).await?);
    let mut tracks = Vec::new();
    for t in store.recording_tracks(id).await? {
        let key = t.recording_key.clone();
        let read_err = |why: String| VerifyError::Read {
            key: key.clone(),
            why,
        };
        let stored = recordings
            .open(&t.recording_key)
            .await
            .map_err(|e| read_err(e.to_string()))?;
        let runtime = tokio::runtime::Handle::current();
        let (k, keys) = (t.recording_key.clone(), Arc::clone(&keys));
        let walk = tokio::task::spawn_blocking(move || {
            let bridge = tokio_util::io::SyncIoBridge::new_with_handle(stored, runtime);
            vigil_record::chain::verify(bridge, &k, keys.as_ref())
        })
        .await
        .map_err(|e| read_err(e.to_string()))?
        .map_err(|e| read_err(e.to_string()))?;
        let (verdict, summary) = judge(&session, &walk);
        tracks.push(TrackVerification {
            track: t.track,
            recording_key: t.recording_key,
            verdict,
            summary,
            links: walk.links,
            sealed: walk.sealed,
            verified_ms: walk.verified_ms,
            unverified_bytes: walk.unverified_bytes,
        });
    }
    let verdict = tracks
        .iter()
        .map(|t| t.verdict)
        .max()
        .unwrap_or(Verdict::Unverifiable);
    let summary = match (tracks.len(), tracks.first()) {
        (0, _) => "unverifiable: the session has no recording".to_owned(),
        (1, Some(t)) => t.summary.clone(),
        _ => {
            let worst = tracks.iter().find(|t| t.verdict == verdict);
            format!(
                "{} of {} recording tracks {}; track {}: {}",
                tracks.iter().filter(|t| t.verdict == verdict).count(),
                tracks.len(),
                match verdict {
                    Verdict::Intact => "intact",
                    Verdict::Interrupted => "interrupted",
                    Verdict::Unverifiable => "unverifiable",
                    Verdict::Altered => "altered",
                },
                worst.map_or(0, |t| t.track),
                worst.map_or("", |t| t.summary.as_str())
            )
        }
    };
    Ok(Verification {
        session: id.to_owned(),
        verdict,
        summary,
        tracks,
    })
}
