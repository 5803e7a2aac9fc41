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
//! The session's log is judged beside its tracks (`verify_log`), and the session's verdict is
//! the worst of them. What it is not: proof against a stolen node key.

use std::collections::HashMap;
use std::sync::Arc;

use serde::Serialize;
use vigil_record::RecordingStore;
use vigil_record::chain::{KeyCheck, LinkKeys, LinkSigner, Walk};

use crate::signing::{check_text, signature_text, signer_text};
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

/// A recording signer signing session logs too (the same node key).
pub struct LogSignerOf(pub Arc<dyn LinkSigner>);

impl vigil_store::log_chain::LogSigner for LogSignerOf {
    fn public_text(&self) -> String {
        signer_text(self.0.as_ref())
    }

    fn sign(&self, message: &[u8]) -> [u8; 64] {
        self.0.sign(message)
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

pub use crate::verdict::Verdict;

/// What a purge's tombstone says of one track as it was when it went.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, serde::Deserialize)]
pub struct TombstoneTrack {
    pub key: String,
    pub verdict: Verdict,
    pub links: u64,
    pub sealed: bool,
}

/// What a tombstone's signature covers: the session, when it was purged, and each track's
/// state then.
pub fn tombstone_message(session: &str, at: i64, tracks: &[TombstoneTrack]) -> Vec<u8> {
    let mut m = format!("vigil-tombstone-v1\n{session}\n{at}\n");
    for t in tracks {
        m.push_str(&format!(
            "{}\t{}\t{}\t{}\n",
            t.key,
            t.verdict.word(),
            t.links,
            t.sealed
        ));
    }
    m.into_bytes()
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
    /// The session has not ended: its recording is still being written (or closed and
    /// sealed just now), so the verdict can change; a viewer asks again.
    pub running: bool,
    /// The worst of the tracks' and the log's.
    pub verdict: Verdict,
    pub summary: String,
    /// The recording's alone (the worst of its tracks').
    pub recording: PartVerification,
    pub tracks: Vec<TrackVerification>,
    /// The session log's (absent once purged: the tombstone speaks for the session).
    pub log: Option<crate::verify_log::LogVerification>,
}

#[derive(Debug, Clone, Serialize)]
pub struct PartVerification {
    pub verdict: Verdict,
    pub summary: String,
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
    if session.purged_at.is_some() {
        return Ok(purged(store, id, &keys).await?);
    }
    let mut tracks = Vec::new();
    for t in store.recording_tracks(id).await? {
        let key = t.recording_key.clone();
        let read_err = |why: String| VerifyError::Read {
            key: key.clone(),
            why,
        };
        let stored = match recordings.open(&t.recording_key).await {
            Ok(s) => s,
            Err(vigil_record::RecordError::NotFound(_)) => {
                tracks.push(TrackVerification {
                    track: t.track,
                    recording_key: t.recording_key,
                    verdict: Verdict::Altered,
                    summary: "altered: the recording is missing, and no purge removed it".into(),
                    links: 0,
                    sealed: false,
                    verified_ms: 0,
                    unverified_bytes: 0,
                });
                continue;
            }
            Err(e) => return Err(read_err(e.to_string())),
        };
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
    let recorded = tracks
        .iter()
        .map(|t| t.verdict)
        .max()
        .unwrap_or(Verdict::Unverifiable);
    let node_signs = tracks.iter().any(|t| t.links > 0);
    let log = crate::verify_log::judge_log(
        &session,
        &store.session_chain(id).await?,
        &store.session_log_seals(id).await?,
        keys.as_ref(),
        node_signs,
    );
    let verdict = recorded.max(log.verdict);
    let summary = match (tracks.len(), tracks.first()) {
        (0, _) => "unverifiable: the session has no recording".to_owned(),
        (1, Some(t)) => t.summary.clone(),
        _ => {
            let worst = tracks.iter().find(|t| t.verdict == verdict);
            format!(
                "{} of {} recording tracks {}; track {}: {}",
                tracks.iter().filter(|t| t.verdict == verdict).count(),
                tracks.len(),
                verdict.word(),
                worst.map_or(0, |t| t.track),
                worst.map_or("", |t| t.summary.as_str())
            )
        }
    };
    let recording = PartVerification {
        verdict: recorded,
        summary,
    };
    let summary = format!(
        "recording {}; session log {}",
        recording.summary, log.summary
    );
    Ok(Verification {
        session: id.to_owned(),
        running: session.ended_at.is_none(),
        verdict,
        summary,
        recording,
        tracks,
        log: Some(log),
    })
}

/// A purged session: its tombstone (in the `session_purged` entry) checked against the nodes'
/// keys.
async fn purged(store: &Store, id: &str, keys: &StoreKeys) -> Result<Verification, StoreError> {
    let entry = store
        .latest_evidence_about(id, vigil_core::EventKind::SessionPurged.as_str())
        .await?;
    let detail: serde_json::Value = entry
        .as_ref()
        .and_then(|e| serde_json::from_str(&e.detail).ok())
        .unwrap_or_default();
    let stone = &detail["tombstone"];
    let tracks: Vec<TombstoneTrack> =
        serde_json::from_value(stone["tracks"].clone()).unwrap_or_default();
    let at = stone["at"].as_i64().unwrap_or(0);
    let signed = match (stone["signer"].as_str(), stone["signature"].as_str()) {
        (Some(signer), Some(signature)) => {
            check_text(keys, signer, &tombstone_message(id, at, &tracks), signature)
        }
        _ => None,
    };
    let when = vigil_core::Utc::from_millis(at);
    let (verdict, summary) = match signed {
        Some(KeyCheck::Valid) => {
            let was = tracks.iter().map(|t| t.verdict).max();
            (
                Verdict::Purged,
                format!(
                    "purged under retention on {:04}-{:02}-{:02}; its tombstone is signed by a node of this store and says the recording was {} when it went",
                    when.year,
                    when.month,
                    when.day,
                    was.map_or("absent", Verdict::word)
                ),
            )
        }
        Some(KeyCheck::Invalid) => (
            Verdict::Altered,
            "altered: the purge's tombstone does not match its signature".into(),
        ),
        _ => (
            Verdict::Unverifiable,
            "purged; no tombstone signed by a known node says what the recording was".into(),
        ),
    };
    Ok(Verification {
        session: id.to_owned(),
        running: false,
        verdict,
        summary: summary.clone(),
        recording: PartVerification { verdict, summary },
        tracks: Vec::new(),
        log: None,
    })
}

/// The SHA-256 (hex) and length of everything `reader` yields, read in blocks: what an
/// export proof signs of a file or of a download.
pub fn sha256_of(mut reader: impl std::io::Read) -> std::io::Result<(String, u64)> {
    use sha2::Digest;
    let mut hasher = sha2::Sha256::new();
    let size = std::io::copy(&mut reader, &mut hasher)?;
    let hex = hasher
        .finalize()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    Ok((hex, size))
}

/// The proof written beside an exported recording (`FILE.vigil-proof`): what the stored
/// recording was when it was exported, and the SHA-256 of the exported file, signed with the
/// exporting node's recording key. `vigil verify FILE` checks both.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ExportProof {
    pub version: u8,
    pub session: String,
    pub track: i64,
    pub recording_key: String,
    /// Of the exported (plain asciicast) file.
    pub sha256: String,
    pub size: u64,
    /// The stored recording's verification at export time.
    pub verdict: Verdict,
    pub summary: String,
    pub exported_at: i64,
    /// `ed25519:` and the exporting node's recording key.
    pub signer: String,
    pub signature: String,
}

impl ExportProof {
    /// The proof of an export of track `track` of the session `v` verified: the exported
    /// bytes' SHA-256 and size, and what the stored track was found to be. Unsigned.
    pub fn of_export(
        v: &Verification,
        track: u32,
        key: String,
        sha256: String,
        size: u64,
    ) -> ExportProof {
        let t = v.tracks.iter().find(|t| t.track == i64::from(track));
        ExportProof {
            version: 1,
            session: v.session.clone(),
            track: i64::from(track),
            recording_key: key,
            sha256,
            size,
            verdict: t.map_or(Verdict::Unverifiable, |t| t.verdict),
            summary: t.map_or_else(|| v.summary.clone(), |t| t.summary.clone()),
            exported_at: vigil_core::now_millis(),
            signer: String::new(),
            signature: String::new(),
        }
    }

    /// What the signature covers: every field but the signature.
    pub fn message(&self) -> Vec<u8> {
        format!(
            "vigil-export-v1\n{}\n{}\n{}\n{}\n{}\n{}\n{}\n{}\n{}",
            self.session,
            self.track,
            self.recording_key,
            self.sha256,
            self.size,
            self.verdict.word(),
            self.summary,
            self.exported_at,
            self.signer
        )
        .into_bytes()
    }

    /// Signs the proof with `signer` (sets `signer` and `signature`).
    pub fn sign(mut self, signer: &dyn LinkSigner) -> ExportProof {
        self.signer = signer_text(signer);
        self.signature = signature_text(&signer.sign(&self.message()));
        self
    }

    /// Judges an exported file of `size` bytes and SHA-256 `sha256` against this proof.
    pub fn check(&self, sha256: &str, size: u64, keys: &StoreKeys) -> (Verdict, String) {
        let check = check_text(keys, &self.signer, &self.message(), &self.signature);
        match check.unwrap_or(KeyCheck::Invalid) {
            KeyCheck::Unknown => {
                return (
                    Verdict::Unverifiable,
                    "unverifiable: the proof is signed by a key no node of this store has".into(),
                );
            }
            KeyCheck::Invalid => {
                return (
                    Verdict::Altered,
                    "altered: the proof does not match its signature".into(),
                );
            }
            KeyCheck::Valid => {}
        }
        if sha256 != self.sha256 || size != self.size {
            return (
                Verdict::Altered,
                format!(
                    "altered: the file is not the one exported ({size} bytes, SHA-256 {sha256}; the proof signs {} bytes, SHA-256 {})",
                    self.size, self.sha256
                ),
            );
        }
        (
            self.verdict,
            format!(
                "the export of session {} track {} as it was exported; the stored recording was then {}",
                self.session, self.track, self.summary
            ),
        )
    }
}
