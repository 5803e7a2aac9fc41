//! `vigil verify SESSION_ID|FILE`: is the session's recording (or an export of it, with its
//! `.vigil-proof` beside it) complete and unaltered?

use anyhow::bail;
use vigil_session::verify::{Verdict, verify_session};
use vigil_store::Store;

use crate::config::Settings;

pub(crate) async fn run(
    settings: &Settings,
    store: &Store,
    session: &str,
    json: bool,
) -> anyhow::Result<()> {
    let path = std::path::Path::new(session);
    if path.is_file() {
        return verify_export(store, path, json).await;
    }
    let recordings = crate::init::recording_store(settings)?;
    let v = verify_session(store, recordings, session).await?;
    if json {
        println!("{}", serde_json::to_string_pretty(&v)?);
    } else {
        println!("session {}: {}", v.session, v.summary);
        if v.tracks.len() > 1 {
            for t in &v.tracks {
                println!("  track {}: {}", t.track, t.summary);
            }
        }
    }
    match v.verdict {
        Verdict::Intact | Verdict::Interrupted | Verdict::Purged => Ok(()),
        Verdict::Altered => bail!("session {session}'s recording is not authentic"),
        Verdict::Unverifiable => bail!("session {session}'s recording cannot be verified"),
    }
}

/// An exported file, checked against the proof beside it.
async fn verify_export(store: &Store, path: &std::path::Path, json: bool) -> anyhow::Result<()> {
    use anyhow::Context;
    use vigil_session::verify::{ExportProof, StoreKeys};
    let proof_path = super::sessions::proof_path(path);
    let text = match std::fs::read(&proof_path) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => bail!(
            "{}: unverifiable: no proof beside it ({} is missing; `vigil recording export ID -o FILE` writes one)",
            path.display(),
            proof_path.display()
        ),
        Err(e) => return Err(e).with_context(|| format!("cannot read {}", proof_path.display())),
    };
    let proof: ExportProof = serde_json::from_slice(&text)
        .with_context(|| format!("{} is not a Vigil export proof", proof_path.display()))?;
    let (sha256, size) = super::sessions::file_sha256(path)?;
    let keys = StoreKeys::load(store).await?;
    let (verdict, summary) = proof.check(&sha256, size, &keys);
    if json {
        println!(
            "{}",
            serde_json::to_string_pretty(&serde_json::json!({
                "file": path.display().to_string(),
                "verdict": verdict,
                "summary": summary,
                "proof": proof,
            }))?
        );
    } else {
        println!("{}: {summary}", path.display());
    }
    if verdict.authentic() {
        Ok(())
    } else {
        bail!("{} is not authentic", path.display())
    }
}
