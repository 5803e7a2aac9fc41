//! Session evidence the store could not take when it happened (the database stopped or
//! unreachable): kept in memory in order, each with the time it happened, and written by one
//! task as soon as the store answers again, before the session's end is written. Sessions go
//! on meanwhile; what must be written before it happens (a transferred file's decision) does
//! not use this and fails closed instead.
//!
//! What it is not: durable. If the node dies while evidence is held, that evidence is lost
//! with it (the session is then marked interrupted at restart). Past [`MAX_HELD`] pieces, the
//! newest are dropped and counted; the count is written as `evidence_lost` when the store
//! returns, so a loss is always reported.

use std::collections::VecDeque;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

use vigil_core::{EventKind, Evidence, SYSTEM_ACTOR, now_millis};
use vigil_store::Store;

/// Pieces of evidence held at most (a few hundred bytes each).
pub(crate) const MAX_HELD: usize = 100_000;

/// Runs `op` until the store takes it: while the store does not answer
/// ([`vigil_store::StoreError::is_unavailable`]) it waits, 250 ms doubling to 5 s, and tries
/// again; any other outcome is returned. `what` names the work in the log.
pub(crate) async fn until_stored<T, F, Fut>(
    what: &str,
    mut op: F,
) -> Result<T, vigil_store::StoreError>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<T, vigil_store::StoreError>>,
{
    let mut wait = Duration::from_millis(250);
    loop {
        match op().await {
            Err(e) if e.is_unavailable() => {
                tracing::warn!(error = %e, "the store is away: {what} waits for it");
                tokio::time::sleep(wait).await;
                wait = (wait * 2).min(Duration::from_secs(5));
            }
            done => return done,
        }
    }
}

pub(crate) struct Held {
    queue: Mutex<VecDeque<Evidence>>,
    /// Dropped past [`MAX_HELD`], or refused by a store that answers; not yet reported.
    lost: AtomicU64,
    flushing: AtomicBool,
    /// The number held, for those who wait until it is zero.
    count: tokio::sync::watch::Sender<usize>,
}

impl Default for Held {
    fn default() -> Self {
        Held {
            queue: Mutex::new(VecDeque::new()),
            lost: AtomicU64::new(0),
            flushing: AtomicBool::new(false),
            count: tokio::sync::watch::Sender::new(0),
        }
    }
}

impl Held {
    fn queue(&self) -> std::sync::MutexGuard<'_, VecDeque<Evidence>> {
        self.queue.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn is_empty(&self) -> bool {
        self.queue().is_empty()
    }

    /// Writes `evidence` now, or holds it behind what is already held.
    pub(crate) async fn record(self: &std::sync::Arc<Self>, store: &Store, mut evidence: Evidence) {
        evidence.occurred_at.get_or_insert_with(now_millis);
        if self.is_empty() {
            match store.record(evidence.clone()).await {
                Ok(_) => return,
                Err(e) => tracing::warn!(
                    kind = evidence.kind.as_str(),
                    error = %e,
                    "the store did not take session evidence: held until it answers"
                ),
            }
        }
        {
            let mut q = self.queue();
            if q.len() >= MAX_HELD {
                self.lost.fetch_add(1, Ordering::Relaxed);
            } else {
                q.push_back(evidence);
            }
            self.count.send_replace(q.len());
        }
        self.flush_in_background(store);
    }

    fn flush_in_background(self: &std::sync::Arc<Self>, store: &Store) {
        if self.flushing.swap(true, Ordering::AcqRel) {
            return;
        }
        let (held, store) = (std::sync::Arc::clone(self), store.clone());
        tokio::spawn(async move {
            held.flush(&store).await;
            held.flushing.store(false, Ordering::Release);
            // Held while this task was finishing: go again.
            if !held.is_empty() {
                held.flush_in_background(&store);
            }
        });
    }

    async fn flush(&self, store: &Store) {
        loop {
            let Some(next) = self.queue().front().cloned() else {
                break;
            };
            if let Err(e) =
                until_stored("held session evidence", || store.record(next.clone())).await
            {
                // The store answers but refuses this piece: it will never be taken.
                tracing::error!(error = %e, "the store refused held session evidence; it is counted as lost");
                self.lost.fetch_add(1, Ordering::Relaxed);
            }
            let mut q = self.queue();
            q.pop_front();
            self.count.send_replace(q.len());
        }
        let lost = self.lost.swap(0, Ordering::AcqRel);
        if lost > 0 {
            let report = Evidence::admin(
                EventKind::EvidenceLost,
                SYSTEM_ACTOR,
                "session evidence",
                serde_json::json!({ "count": lost, "via": "node" }),
            );
            if let Err(e) = store.record(report).await {
                tracing::error!(lost, error = %e, "session evidence was lost and the loss cannot be written");
                self.lost.fetch_add(lost, Ordering::Relaxed);
            }
        }
    }

    /// Returns when nothing is held (at once, usually).
    pub(crate) async fn drained(&self) {
        let mut count = self.count.subscribe();
        let _ = count.wait_for(|n| *n == 0).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    #[tokio::test]
    async fn held_evidence_is_written_in_order_when_the_store_returns() {
        let dir = tempfile::tempdir().unwrap();
        let url = format!("sqlite://{}?mode=rwc", dir.path().join("db").display());
        let store = Store::open(&url, Arc::new(vigil_vault::MasterKey::generate()))
            .await
            .unwrap();
        let held = Arc::new(Held::default());
        let id = vigil_core::SessionId::new();
        let event = |n: u32| {
            Evidence::session(
                EventKind::Connected,
                &id,
                None,
                serde_json::json!({ "target": format!("t{n}"), "host": "h", "port": 22, "login": "l" }),
            )
        };
        // Something is already held: new evidence goes behind it, in order.
        held.queue().push_back(event(0));
        held.count.send_replace(1);
        for n in 1..4 {
            held.record(&store, event(n)).await;
        }
        tokio::time::timeout(Duration::from_secs(10), held.drained())
            .await
            .unwrap();
        let rows = store.session_events(&id.0).await.unwrap();
        let targets: Vec<String> = rows
            .iter()
            .map(|r| {
                serde_json::from_str::<serde_json::Value>(&r.detail).unwrap()["target"]
                    .as_str()
                    .unwrap()
                    .to_owned()
            })
            .collect();
        assert_eq!(targets, ["t0", "t1", "t2", "t3"]);
    }
}
