//! The retention job: recordings and session logs older than the retention period are purged
//! (`Admin::purge`, as `system`), except sessions kept by prevent-purge.

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

/// Runs the purge every `every` until the process ends; `retention_days` of 0 keeps
/// everything. Expired browser sessions are cleared on the same beat.
pub async fn run_retention(
    store: Store,
    recordings: Arc<dyn RecordingStore>,
    retention_days: u32,
    every: Duration,
    signer: Option<Arc<dyn vigil_record::chain::LinkSigner>>,
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
        // One node of a cluster purges per interval: the lease outlives the interval a
        // little, so the holder renews it and a dead holder's expires.
        let lease_ms = i64::try_from(every.as_millis().saturating_mul(3) / 2).unwrap_or(i64::MAX);
        match store
            .take_job_lease("retention", store.origin(), lease_ms)
            .await
        {
            Ok(true) => {}
            Ok(false) => continue,
            Err(e) => {
                tracing::warn!(error = %e, "cannot take the retention lease; retrying later");
                continue;
            }
        }
        let mut admin = crate::Admin::new(store.clone());
        if let Some(s) = &signer {
            admin = admin.signing_with(Arc::clone(s));
        }
        match admin
            .purge(&crate::Actor::system(), &recordings, retention_days)
            .await
        {
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
