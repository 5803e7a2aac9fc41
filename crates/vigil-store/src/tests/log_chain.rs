//! The session log's chain: written with each row, consistent under concurrent writers, and
//! sealed in the transaction that ends the session.

use super::*;
use crate::log_chain::{GENESIS, LogSigner, from_hex, link};
use vigil_vault::Ed25519Key;

struct TestSigner(Ed25519Key);

impl LogSigner for TestSigner {
    fn public_text(&self) -> String {
        self.0.public().to_text()
    }
    fn sign(&self, message: &[u8]) -> [u8; 64] {
        self.0.sign_bytes(message)
    }
}

fn signature_of(seal: &crate::log_chain::LogSeal) -> [u8; 64] {
    use base64::Engine;
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(&seal.signature)
        .unwrap();
    bytes.as_slice().try_into().unwrap()
}

fn command(id: &SessionId, n: usize) -> Evidence {
    Evidence::session(
        EventKind::CommandDetected,
        id,
        Some("alice"),
        serde_json::json!({ "command": format!("echo {n}"), "source": "exec", "rules": [], "score": 0, "action": "none" }),
    )
}

/// Recomputes the chain of `id`'s rows; returns how many rows it covered.
async fn recompute(store: &Store, id: &SessionId) -> usize {
    let rows = store.session_chain(&id.0).await.unwrap();
    let mut prev = GENESIS;
    for r in &rows {
        let next = link(&prev, &r.row.chain_fields().unwrap());
        assert_eq!(
            r.chain.as_deref().and_then(from_hex),
            Some(next),
            "row {} does not follow the one before it",
            r.row.seq
        );
        prev = next;
    }
    rows.len()
}

store_test!(
    concurrent_writers_to_one_session_keep_one_unbroken_chain,
    |store: Store| async move {
        let id = sample_session(&store, "node-a").await;
        let other = sample_session(&store, "node-a").await;
        let writers: Vec<_> = (0..6)
            .map(|w| {
                let (store, id, other) = (store.clone(), id.clone(), other.clone());
                tokio::spawn(async move {
                    for i in 0..15 {
                        // Two rows of one session and one of another in one transaction.
                        let mut tx = store.begin().await.unwrap();
                        tx.record(command(&id, w * 100 + i));
                        tx.record(command(&other, w * 100 + i));
                        tx.record(command(&id, w * 100 + i + 50));
                        tx.commit().await.unwrap();
                    }
                })
            })
            .collect();
        for w in writers {
            w.await.unwrap();
        }
        assert_eq!(recompute(&store, &id).await, 180);
        assert_eq!(recompute(&store, &other).await, 90);
        // Rows about no session carry no chain value.
        store
            .record(Evidence::admin(
                EventKind::UserEnabled,
                "admin",
                "bob",
                serde_json::json!({ "via": "cli" }),
            ))
            .await
            .unwrap();
        assert_eq!(recompute(&store, &id).await, 180);
    }
);

store_test!(
    the_seal_signs_the_head_in_the_closing_transaction,
    |store: Store| async move {
        let key = Ed25519Key::generate();
        let public = key.public();
        let signer: Arc<dyn LogSigner> = Arc::new(TestSigner(key));
        let id = sample_session(&store, "node-a").await;
        for n in 0..3 {
            store.record(command(&id, n)).await.unwrap();
        }
        let mut tx = store.begin().await.unwrap();
        tx.close_session(&id, &EndReason::OperatorExit, 1, 2)
            .await
            .unwrap();
        tx.record(Evidence::session(
            EventKind::Ended,
            &id,
            None,
            serde_json::json!({ "reason": "operator_exit", "bytes_in": 1, "bytes_out": 2 }),
        ));
        tx.seal_session_log(&id.0, Arc::clone(&signer));
        let seqs = tx.commit().await.unwrap();
        let seals = store.session_log_seals(&id.0).await.unwrap();
        assert_eq!(seals.len(), 1);
        let seal = &seals[0];
        assert_eq!(seal.seq, seqs[0], "the seal covers the ended event");
        assert_eq!(seal.events, 4);
        let rows = store.session_chain(&id.0).await.unwrap();
        assert_eq!(
            rows.last().unwrap().chain.as_deref(),
            Some(seal.chain.as_str())
        );
        assert_eq!(seal.signer, public.to_text());
        public
            .verify_bytes(&seal.message(), &signature_of(seal))
            .expect("the seal's signature verifies");

        // A node marking another's sessions interrupted seals each of them.
        let open = sample_session(&store, "node-b").await;
        store.record(command(&open, 1)).await.unwrap();
        let marked = store
            .interrupt_open_sessions("node-b", Some(signer))
            .await
            .unwrap();
        assert_eq!(marked.len(), 1);
        let seals = store.session_log_seals(&open.0).await.unwrap();
        assert_eq!(seals.len(), 1);
        assert_eq!(seals[0].events, 2, "the command and the ended event");
        assert_eq!(recompute(&store, &open).await, 2);
    }
);
