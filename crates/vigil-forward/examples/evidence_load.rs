//! Bench helper: writes `RATE` rows of evidence per second for `SECONDS` into the store at
//! `URL` (another process's forwarder sends them on), and prints how many it wrote as JSON.
//!
//! `evidence_load sqlite:///path/vigil.db?mode=rwc 1000 20`
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::Arc;
use std::time::{Duration, Instant};

use vigil_core::{EventKind, Evidence};

#[tokio::main(flavor = "current_thread")]
async fn main() {
    let args: Vec<String> = std::env::args().collect();
    let url = args.get(1).expect("URL RATE SECONDS");
    let rate: u64 = args.get(2).and_then(|a| a.parse().ok()).unwrap_or(1000);
    let seconds: u64 = args.get(3).and_then(|a| a.parse().ok()).unwrap_or(10);
    let store = vigil_store::Store::open(url, Arc::new(vigil_vault::MasterKey::generate()))
        .await
        .expect("open the store")
        .with_origin("bench");
    let start = Instant::now();
    let total = rate * seconds;
    // In batches of a tenth of a second's events, one transaction each (as a busy node's
    // sessions would write them, close together).
    let batch = (rate / 10).max(1);
    let mut written = 0u64;
    while written < total {
        let mut tx = store.begin().await.expect("begin");
        for _ in 0..batch {
            tx.record(Evidence::admin(
                EventKind::AuthFailed,
                "bench-user",
                "ssh",
                serde_json::json!({ "reason": "bench load", "client": "192.0.2.1:1", "via": "ssh" }),
            ));
        }
        tx.commit().await.expect("commit");
        written += batch;
        let due = Duration::from_secs_f64(written as f64 / rate as f64);
        if let Some(wait) = due.checked_sub(start.elapsed()) {
            tokio::time::sleep(wait).await;
        }
    }
    println!(
        "{{\"written\": {written}, \"seconds\": {:.2}}}",
        start.elapsed().as_secs_f64()
    );
}
