//! The evidence outbox: one ordered path, read from cursors, written with its change.

use super::*;
use crate::{EvidenceConsumer, Start};

fn entry(n: usize) -> Evidence {
    Evidence::admin(
        EventKind::UserEnabled,
        "admin",
        &format!("user-{n}"),
        serde_json::json!({ "via": "cli", "n": n }),
    )
}

store_test!(
    concurrent_writers_reach_a_reader_in_order_with_no_gap,
    |store: Store| async move {
        let mut reader = EvidenceConsumer::live(&store).await.unwrap();
        let writers: Vec<_> = (0..8)
            .map(|w| {
                let store = store.clone();
                tokio::spawn(async move {
                    for i in 0..25 {
                        store.record(entry(w * 100 + i)).await.unwrap();
                    }
                })
            })
            .collect();
        // Read while they write: a reader that ever saw a later row before an earlier one
        // committed would skip the earlier one for good.
        let mut seen = Vec::new();
        while seen.len() < 200 {
            let row = tokio::time::timeout(std::time::Duration::from_secs(20), reader.next())
                .await
                .expect("the reader is starved")
                .unwrap();
            seen.push(row.seq);
        }
        for w in writers {
            w.await.unwrap();
        }
        assert!(seen.windows(2).all(|p| p[0] < p[1]), "in order");
        let all: Vec<i64> = store
            .evidence_after(0, 10_000)
            .await
            .unwrap()
            .into_iter()
            .map(|r| r.seq)
            .collect();
        assert_eq!(seen, all, "every committed row, none skipped");
    }
);

store_test!(
    a_durable_consumer_resumes_after_its_last_ack,
    |store: Store| async move {
        for n in 0..3 {
            store.record(entry(n)).await.unwrap();
        }
        let mut siem = EvidenceConsumer::durable(&store, "siem", Start::Beginning)
            .await
            .unwrap();
        let first = siem.next().await.unwrap();
        siem.ack(first.seq).await.unwrap();
        let second = siem.next().await.unwrap();
        // Killed before it acknowledged the second row: a new instance reads it again.
        drop(siem);
        store.record(entry(3)).await.unwrap();
        let mut siem = EvidenceConsumer::durable(&store, "siem", Start::Beginning)
            .await
            .unwrap();
        let mut got = Vec::new();
        for _ in 0..3 {
            let row = siem.next().await.unwrap();
            siem.ack(row.seq).await.unwrap();
            got.push(row.subject);
        }
        assert_eq!(got, ["user-1", "user-2", "user-3"]);
        assert_eq!(second.subject, "user-1");
        // A consumer that starts now sees only what comes after.
        let mut late = EvidenceConsumer::durable(&store, "late", Start::Now)
            .await
            .unwrap();
        store.record(entry(4)).await.unwrap();
        assert_eq!(late.next().await.unwrap().subject, "user-4");
    }
);

store_test!(
    a_change_and_its_evidence_commit_together_or_not_at_all,
    |store: Store| async move {
        let before = store.last_evidence_seq().await.unwrap();
        {
            let mut tx = store.begin().await.unwrap();
            tx.create_user("bob", Role::Operator, None).await.unwrap();
            tx.record(entry(1));
            // Dropped without commit: neither the user nor the entry exists.
        }
        assert!(store.find_user_by_name("bob").await.unwrap().is_none());
        assert_eq!(store.last_evidence_seq().await.unwrap(), before);
        let mut tx = store.begin().await.unwrap();
        tx.create_user("bob", Role::Operator, None).await.unwrap();
        tx.record(entry(2));
        let seqs = tx.commit().await.unwrap();
        assert_eq!(seqs.len(), 1);
        assert!(store.find_user_by_name("bob").await.unwrap().is_some());
        // A failing change takes its evidence down with it.
        let mut tx = store.begin().await.unwrap();
        tx.record(entry(3));
        assert!(tx.create_user("bob", Role::Operator, None).await.is_err());
        drop(tx);
        assert_eq!(store.last_evidence_seq().await.unwrap(), seqs[0]);
    }
);

store_test!(
    session_and_administration_logs_are_views_of_the_outbox,
    |store: Store| async move {
        let id = sample_session(&store, "n1").await;
        let viewing = Evidence::session(
            EventKind::LiveViewStarted,
            &id,
            Some("carol"),
            serde_json::json!({ "addr": "::1" }),
        );
        store.record(viewing).await.unwrap();
        store.record(entry(1)).await.unwrap();
        let log = store.session_events(&id.0).await.unwrap();
        assert_eq!(log.len(), 1, "the session log has the viewing only");
        let admin: Vec<String> = store
            .audit_entries(10)
            .await
            .unwrap()
            .into_iter()
            .map(|e| e.action)
            .collect();
        assert_eq!(admin, ["user_enabled", "live_view_started"]);
        let rows = store.evidence_after(0, 10).await.unwrap();
        assert_eq!(
            rows.len(),
            2,
            "one row each, whatever the logs that show it"
        );
        assert_eq!(rows[0].origin, "cli");
    }
);

store_test!(
    transactions_never_wait_for_a_second_pooled_connection,
    |store: Store| async move {
        // More concurrent changes than SQLite's pool has connections, each reading inside its
        // transaction: a read through the pool would wait for a connection every other
        // transaction holds, until the acquire timeout.
        let id = sample_session(&store, "n1").await;
        let tasks: Vec<_> = (0..12)
            .map(|n| {
                let (store, id) = (store.clone(), id.clone());
                tokio::spawn(async move {
                    let mut tx = store.begin().await?;
                    tx.enqueue_command(&id.0, ControlCommand::Lock, "admin")
                        .await?;
                    tx.record(entry(n));
                    tx.commit().await
                })
            })
            .collect();
        let all = tokio::time::timeout(std::time::Duration::from_secs(8), async {
            let mut results = Vec::new();
            for t in tasks {
                results.push(t.await.unwrap());
            }
            results
        })
        .await
        .expect("transactions stalled waiting for pooled connections");
        assert!(all.iter().all(Result::is_ok), "{all:?}");
        assert_eq!(store.take_commands("n1").await.unwrap().len(), 12);
    }
);

store_test!(
    siem_reports_are_replaced_and_cleared_per_node,
    |store: Store| async move {
        let report = |node: &str, dest: &str, sent: i64| crate::SiemStatus {
            node: node.into(),
            destination: dest.into(),
            format: "cef".into(),
            state: "connected".into(),
            queued: 0,
            sent,
            dropped: 0,
            last_error: None,
            updated_at: 1,
        };
        store
            .save_siem_status(&[report("a", "tcp://x:1", 1), report("b", "udp://y:2", 5)])
            .await
            .unwrap();
        let mut later = report("a", "tcp://x:1", 7);
        later.state = "down".into();
        later.last_error = Some("connection refused".into());
        store.save_siem_status(&[later.clone()]).await.unwrap();
        let rows = store.siem_status().await.unwrap();
        assert_eq!(rows, vec![later, report("b", "udp://y:2", 5)]);
        store.clear_siem_status("a").await.unwrap();
        let rows = store.siem_status().await.unwrap();
        assert_eq!(rows.len(), 1);
        assert_eq!(rows[0].node, "b");
    }
);
