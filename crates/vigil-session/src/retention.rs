//! The retention policy: recordings and session logs older than the retention period are
//! purged, except sessions kept by prevent-purge. Every purge goes into the audit log.

use std::sync::Arc;
use std::time::Duration;

use vigil_record::RecordingStore;
use vigil_store::Store;

/// What one purge run did.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct PurgeReport {
    pub purged: Vec<String>,
    pub failed: Vec<(String, String)>,
}

/// Purges every closed session that ended more than `retention_days` ago and is not kept.
/// A session whose recording cannot be deleted is left as it is (and reported), so a purge
/// never leaves a recording without its session row.
pub async fn purge_expired(
    store: &Store,
    recordings: &Arc<dyn RecordingStore>,
    retention_days: u32,
) -> Result<PurgeReport, vigil_store::StoreError> {
    // Sessions that ended longer ago than the retention period.
    let cutoff = vigil_core::now_millis() - i64::from(retention_days) * 86_400_000;
    let mut report = PurgeReport::default();
    loop {
        let batch = store.purge_candidates(cutoff, 100).await?;
        let done = batch.len() < 100;
        let mut progressed = false;
        for session in batch {
            if let Some(key) = session.recording_key.clone() {
                let recordings = Arc::clone(recordings);
                let deleted = tokio::task::spawn_blocking(move || recordings.delete(&key)).await;
                let why = match deleted {
                    Ok(Ok(())) => None,
                    Ok(Err(e)) => Some(e.to_string()),
                    Err(e) => Some(e.to_string()),
                };
                if let Some(why) = why {
                    tracing::error!(session = %session.id, error = %why, "cannot delete an expired recording; the session is kept");
                    report.failed.push((session.id.clone(), why));
                    continue;
                }
            }
            match store.mark_purged(&session.id).await {
                Ok(()) => {}
                // Every node runs the purge: another one got there first.
                Err(vigil_store::StoreError::NotFound(_)) => continue,
                Err(e) => return Err(e),
            }
            store
                .audit(
                    "system",
                    "session_purged",
                    &session.id,
                    &serde_json::json!({
                        "retention_days": retention_days,
                        "user": session.user_name,
                        "target": session.target_name,
                        "ended_at": session.ended_at,
                    }),
                )
                .await?;
            report.purged.push(session.id);
            progressed = true;
        }
        if done || !progressed {
            break;
        }
    }
    Ok(report)
}

/// Runs the purge every `every` until the process ends; `retention_days` of 0 keeps
/// everything. Expired browser sessions are cleared on the same beat.
pub async fn run_retention(
    store: Store,
    recordings: Arc<dyn RecordingStore>,
    retention_days: u32,
    every: Duration,
) {
    let mut tick = tokio::time::interval(every);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        if let Err(e) = store.delete_expired_web_sessions().await {
            tracing::warn!(error = %e, "cannot clear expired console sessions");
        }
        if retention_days == 0 {
            continue;
        }
        match purge_expired(&store, &recordings, retention_days).await {
            Ok(r) if !r.purged.is_empty() || !r.failed.is_empty() => {
                tracing::info!(
                    purged = r.purged.len(),
                    failed = r.failed.len(),
                    "retention purge"
                );
            }
            Ok(_) => {}
            Err(e) => tracing::warn!(error = %e, "retention purge failed; retrying later"),
        }
    }
}
