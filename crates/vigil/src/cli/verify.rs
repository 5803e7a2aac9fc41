//! `vigil verify SESSION_ID`: is the session's recording complete and unaltered?

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
    let recordings = crate::init::recording_store(settings);
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
