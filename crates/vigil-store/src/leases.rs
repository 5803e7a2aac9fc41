//! Work one node of a cluster does for all (the retention purge, SIEM forwarding): the node
//! holding an unexpired lease does it; a dead holder's lease lapses and another node takes it.

use vigil_core::now_millis;

use crate::{Store, StoreError};

impl Store {
    /// Takes (or renews) the lease on the cluster-wide job `job` for `for_ms`: true when this
    /// node holds it now, false while another node's lease runs.
    pub async fn take_job_lease(
        &self,
        job: &str,
        holder: &str,
        for_ms: i64,
    ) -> Result<bool, StoreError> {
        let now = now_millis();
        let done = sqlx::query(
            "INSERT INTO cluster_jobs (name, holder, until_at) VALUES ($1, $2, $3) \
             ON CONFLICT (name) DO UPDATE SET holder = $2, until_at = $3 \
             WHERE cluster_jobs.until_at < $4 OR cluster_jobs.holder = $2",
        )
        .bind(job)
        .bind(holder)
        .bind(now.saturating_add(for_ms))
        .bind(now)
        .execute(&self.pool)
        .await?;
        Ok(done.rows_affected() == 1)
    }
}
