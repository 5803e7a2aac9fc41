//! The endpoint manager's store: tokens used once, enrolment pending until approval, a host
//! enrolling again, policies and their revision.

use vigil_core::{AgentPolicy, PolicySubject};

use super::*;
use crate::{AgentStatus, Enrolment};

fn enrolment<'a>(token_hash: &'a str, host: &'a str, key: &'a str) -> Enrolment<'a> {
    Enrolment {
        token_hash,
        host_name: host,
        machine_id: "0123456789abcdef",
        public_key: key,
        fingerprint: "SHA256:fp",
    }
}

async fn enrol(store: &Store, e: &Enrolment<'_>, now: i64) -> Result<crate::AgentRow, StoreError> {
    let mut tx = store.begin().await?;
    let agent = tx.enrol_agent(e, now).await?;
    tx.commit().await?;
    Ok(agent)
}

store_test!(
    a_token_enrols_one_workstation_once_and_before_it_expires,
    |store: Store| async move {
        let mut tx = store.begin().await.unwrap();
        tx.create_agent_token("h1", "admin", 1_000, 2_000)
            .await
            .unwrap();
        tx.create_agent_token("h2", "admin", 1_000, 2_000)
            .await
            .unwrap();
        tx.commit().await.unwrap();
        let ws = enrol(&store, &enrolment("h1", "ws01", "ssh-ed25519 AAAA1"), 1_500)
            .await
            .unwrap();
        assert_eq!(ws.status, AgentStatus::Pending);
        assert_eq!(
            (ws.host_name.as_str(), ws.public_key.as_str()),
            ("ws01", "ssh-ed25519 AAAA1")
        );
        // Used: refused, and nothing changes.
        let again = enrol(&store, &enrolment("h1", "ws02", "ssh-ed25519 AAAA2"), 1_600).await;
        assert!(
            matches!(
                again,
                Err(StoreError::Invalid {
                    what: "enrolment token",
                    ..
                })
            ),
            "{again:?}"
        );
        // Expired, or never made.
        let late = enrol(&store, &enrolment("h2", "ws02", "k"), 2_000).await;
        assert!(matches!(late, Err(StoreError::Invalid { .. })));
        let unknown = enrol(&store, &enrolment("nope", "ws02", "k"), 1_500).await;
        assert!(matches!(unknown, Err(StoreError::Invalid { .. })));
        let all = store.agents().await.unwrap();
        assert_eq!(all.len(), 1);
        assert_eq!(store.agent(&ws.id).await.unwrap().unwrap(), ws);
    }
);

store_test!(
    an_approved_workstation_that_enrols_again_is_pending_under_its_new_key,
    |store: Store| async move {
        let mut tx = store.begin().await.unwrap();
        tx.create_agent_token("t1", "admin", 0, i64::MAX)
            .await
            .unwrap();
        tx.create_agent_token("t2", "admin", 0, i64::MAX)
            .await
            .unwrap();
        tx.commit().await.unwrap();
        let first = enrol(&store, &enrolment("t1", "ws01", "key-1"), 10)
            .await
            .unwrap();
        let mut tx = store.begin().await.unwrap();
        let approved = tx.approve_agent("ws01", "admin", 20).await.unwrap();
        assert!(matches!(
            tx.approve_agent("ws09", "admin", 20).await,
            Err(StoreError::NotFound(_))
        ));
        tx.commit().await.unwrap();
        assert_eq!(approved.status, AgentStatus::Approved);
        assert_eq!(
            (approved.approved_at, approved.approved_by.as_deref()),
            (Some(20), Some("admin"))
        );
        store.agent_seen(&first.id, 30).await.unwrap();
        let second = enrol(&store, &enrolment("t2", "ws01", "key-2"), 40)
            .await
            .unwrap();
        assert_eq!(second.id, first.id, "the same workstation");
        assert_eq!(second.status, AgentStatus::Pending);
        assert_eq!(second.public_key, "key-2");
        assert_eq!((second.approved_at, second.last_seen_at), (None, Some(30)));
        let mut tx = store.begin().await.unwrap();
        tx.remove_agent("ws01").await.unwrap();
        tx.commit().await.unwrap();
        assert!(store.agent(&first.id).await.unwrap().is_none());
    }
);

store_test!(
    policies_are_checked_named_once_and_move_the_revision,
    |store: Store| async move {
        let policy = AgentPolicy {
            name: "ping".into(),
            enabled: true,
            path: "/usr/bin/ping".into(),
            symlink: false,
            audit: true,
            record: true,
            subject: PolicySubject::Group("staff".into()),
            workstation: None,
        };
        assert_eq!(store.agent_policy_revision().await.unwrap(), 0);
        let mut tx = store.begin().await.unwrap();
        let row = tx.add_agent_policy(policy.clone(), 5).await.unwrap();
        tx.commit().await.unwrap();
        assert_eq!(row.policy, policy);
        assert_eq!(store.agent_policy_revision().await.unwrap(), 1);
        let mut tx = store.begin().await.unwrap();
        assert!(matches!(
            tx.add_agent_policy(policy.clone(), 6).await,
            Err(StoreError::Conflict(_))
        ));
        drop(tx);
        let mut tx = store.begin().await.unwrap();
        let bad = AgentPolicy {
            path: "ping".into(),
            ..policy.clone()
        };
        assert!(matches!(
            tx.add_agent_policy(bad, 6).await,
            Err(StoreError::Invalid {
                what: "application path",
                ..
            })
        ));
        let off = tx.set_agent_policy_enabled("ping", false, 7).await.unwrap();
        assert!(!off.policy.enabled);
        tx.commit().await.unwrap();
        assert_eq!(store.agent_policy_revision().await.unwrap(), 2);
        let all = store.agent_policies().await.unwrap();
        assert_eq!(all.len(), 1);
        assert!(!all[0].policy.enabled);
        assert_eq!(all[0].updated_at, 7);
        let mut tx = store.begin().await.unwrap();
        tx.remove_agent_policy("ping").await.unwrap();
        assert!(matches!(
            tx.remove_agent_policy("ping").await,
            Err(StoreError::NotFound(_))
        ));
        drop(tx);
        // The failed second removal rolled the whole transaction back.
        assert_eq!(store.agent_policies().await.unwrap().len(), 1);
        let mut tx = store.begin().await.unwrap();
        tx.remove_agent_policy("ping").await.unwrap();
        tx.commit().await.unwrap();
        assert!(store.agent_policies().await.unwrap().is_empty());
        assert_eq!(store.agent_policy_revision().await.unwrap(), 3);
    }
);

store_test!(
    a_recorded_run_is_a_closed_session_whose_uploads_resume_and_complete,
    |store: Store| async move {
        let session = NewSession {
            id: SessionId::new(),
            user_name: "alice".into(),
            target_name: Some("ws01".into()),
            login: Some("alice".into()),
            client_addr: "127.0.0.1".into(),
            node: "n1".into(),
            protocol: "endpoint".into(),
        };
        let run = crate::NewRun {
            id: "0190-run",
            agent_id: "agent-1",
            session: &session,
            started_at: 1_000,
            ended_at: 2_000,
            end_reason: "operator_exit",
            record: true,
        };
        let mut tx = store.begin().await.unwrap();
        let row = tx.create_endpoint_run(&run, 3_000).await.unwrap();
        tx.commit().await.unwrap();
        assert_eq!(row.completed_at, None);
        let objects: Vec<_> = row
            .uploads
            .iter()
            .map(|u| (u.object.as_str(), u.received))
            .collect();
        assert_eq!(objects, [("output", 0), ("input", 0)]);
        let s = store.session(&session.id.0).await.unwrap();
        assert_eq!(
            (s.status.as_str(), s.started_at, s.ended_at),
            ("closed", 1_000, Some(2_000))
        );
        assert_eq!(s.protocol, "endpoint");
        // The same run again is refused (its agent asks for it instead).
        let mut tx = store.begin().await.unwrap();
        let again = NewSession {
            id: SessionId::new(),
            ..session.clone()
        };
        let twice = crate::NewRun {
            session: &again,
            ..run.clone()
        };
        assert!(matches!(
            tx.create_endpoint_run(&twice, 3_000).await,
            Err(StoreError::Conflict(_))
        ));
        drop(tx);
        let mut tx = store.begin().await.unwrap();
        assert!(
            !tx.set_upload_received("0190-run", "output", 7, 100)
                .await
                .unwrap(),
            "moved only from where it is"
        );
        tx.set_upload_received("0190-run", "output", 0, 100)
            .await
            .unwrap();
        tx.finish_upload("0190-run", "output", 100, "ab", 4_000)
            .await
            .unwrap();
        // A finished object no longer moves.
        tx.set_upload_received("0190-run", "output", 100, 5)
            .await
            .unwrap();
        tx.complete_endpoint_run("0190-run", 5_000).await.unwrap();
        tx.commit().await.unwrap();
        let row = store.endpoint_run("0190-run").await.unwrap().unwrap();
        assert_eq!(row.uploads[0].received, 100);
        assert_eq!(row.uploads[0].sha256.as_deref(), Some("ab"));
        assert_eq!(row.completed_at, Some(5_000));
        assert!(store.endpoint_run("nope").await.unwrap().is_none());
        // An audit-only run has nothing to upload: complete at once.
        let other = NewSession {
            id: SessionId::new(),
            ..session.clone()
        };
        let audit = crate::NewRun {
            id: "0190-audit",
            session: &other,
            record: false,
            ..run.clone()
        };
        let mut tx = store.begin().await.unwrap();
        let row = tx.create_endpoint_run(&audit, 6_000).await.unwrap();
        tx.commit().await.unwrap();
        assert!(row.uploads.is_empty());
        assert_eq!(row.completed_at, Some(6_000));
    }
);

store_test!(
    node_keys_are_registered_once_and_listed_for_every_node,
    |store: Store| async move {
        assert!(store.node_keys().await.unwrap().is_empty());
        store
            .register_node_key("a", "ed25519:AAA", "SHA256:a", 10)
            .await
            .unwrap();
        store
            .register_node_key("a", "ed25519:AAA", "SHA256:a", 20)
            .await
            .unwrap();
        store
            .register_node_key("b", "ed25519:BBB", "SHA256:b", 30)
            .await
            .unwrap();
        let keys = store.node_keys().await.unwrap();
        let listed: Vec<(&str, &str, i64)> = keys
            .iter()
            .map(|k| (k.node.as_str(), k.public_key.as_str(), k.created_at))
            .collect();
        assert_eq!(listed, [("a", "ed25519:AAA", 10), ("b", "ed25519:BBB", 30)]);
    }
);
