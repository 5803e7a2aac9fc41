//! The console's store: auditors, prevent-purge, purge, filters, browser sessions, API tokens.

use super::*;

store_test!(
    auditors_are_a_set_of_existing_users,
    |store: Store| async move {
        store
            .create_user("carol", Role::PamAuditor, None)
            .await
            .unwrap();
        store
            .create_user("dave", Role::Operator, None)
            .await
            .unwrap();
        let id = sample_session(&store, "n1").await;
        let names = vec!["dave".to_string(), "carol".to_string(), "dave".to_string()];
        store
            .set_session_auditors(&id.0, &names, "admin")
            .await
            .unwrap();
        assert_eq!(
            store.session_auditors(&id.0).await.unwrap(),
            vec!["carol", "dave"]
        );
        assert!(store.is_session_auditor(&id.0, "dave").await.unwrap());
        assert!(matches!(
            store
                .set_session_auditors(&id.0, &["nobody".to_string()], "admin")
                .await,
            Err(StoreError::NotFound(_))
        ));
        assert_eq!(
            store.session_auditors(&id.0).await.unwrap().len(),
            2,
            "a failed change keeps the old set"
        );
        let only_dave = store
            .list_sessions(&SessionFilter {
                auditor: Some("dave".into()),
                ..Default::default()
            })
            .await
            .unwrap();
        assert_eq!(only_dave.len(), 1);
        store
            .set_session_auditors(&id.0, &[], "admin")
            .await
            .unwrap();
        assert!(!store.is_session_auditor(&id.0, "dave").await.unwrap());
    }
);

store_test!(
    purge_skips_kept_and_recent_sessions,
    |store: Store| async move {
        let kept = sample_session(&store, "n1").await;
        let expired = sample_session(&store, "n1").await;
        let open = sample_session(&store, "n1").await;
        for id in [&kept, &expired] {
            store
                .close_session(id, &EndReason::OperatorExit, 1, 2)
                .await
                .unwrap();
            store
                .record(Evidence::session(
                    EventKind::Ended,
                    id,
                    None,
                    serde_json::json!({"reason": "operator_exit"}),
                ))
                .await
                .unwrap();
        }
        assert!(matches!(
            store.set_prevent_purge(&kept.0, "  ", "carol").await,
            Err(StoreError::Invalid { .. })
        ));
        store
            .set_prevent_purge(&kept.0, "incident 42", "carol")
            .await
            .unwrap();
        let mark = store.prevent_purge(&kept.0).await.unwrap().unwrap();
        assert_eq!(
            (mark.reason.as_str(), mark.by.as_str()),
            ("incident 42", "carol")
        );
        // Everything that ended before "now + 1 s" is expired.
        let cutoff = vigil_core::now_millis() + 1000;
        let candidates = store.purge_candidates(cutoff, 100).await.unwrap();
        assert_eq!(
            candidates.iter().map(|s| s.id.clone()).collect::<Vec<_>>(),
            vec![expired.0.clone()]
        );
        assert!(
            store
                .purge_candidates(vigil_core::now_millis() - 60_000, 100)
                .await
                .unwrap()
                .is_empty()
        );
        store.mark_purged(&expired.0).await.unwrap();
        assert!(store.session_events(&expired.0).await.unwrap().is_empty());
        let row = store.session(&expired.0).await.unwrap();
        assert!(row.purged_at.is_some() && row.recording_key.is_none());
        assert!(
            store.mark_purged(&kept.0).await.is_err(),
            "prevent-purge holds"
        );
        assert!(
            store
                .purge_candidates(cutoff, 100)
                .await
                .unwrap()
                .is_empty()
        );
        store.clear_prevent_purge(&kept.0).await.unwrap();
        assert_eq!(store.purge_candidates(cutoff, 100).await.unwrap().len(), 1);
        let _ = open;
    }
);

store_test!(session_filters, |store: Store| async move {
    let a = sample_session(&store, "n1").await;
    let b = sample_session(&store, "n2").await;
    let list = |f: SessionFilter| {
        let store = store.clone();
        async move {
            store
                .list_sessions(&f)
                .await
                .unwrap()
                .into_iter()
                .map(|s| s.id)
                .collect::<Vec<_>>()
        }
    };
    assert_eq!(
        list(SessionFilter {
            node: Some("n2".into()),
            ..Default::default()
        })
        .await,
        vec![b.0.clone()]
    );
    assert_eq!(
        list(SessionFilter {
            q: Some("WEB0".into()),
            ..Default::default()
        })
        .await
        .len(),
        2,
        "free text ignores case"
    );
    assert_eq!(
        list(SessionFilter {
            q: Some(a.0.to_uppercase()),
            ..Default::default()
        })
        .await,
        vec![a.0.clone()],
        "an id, whatever its case"
    );
    assert!(
        list(SessionFilter {
            q: Some("%".into()),
            ..Default::default()
        })
        .await
        .is_empty(),
        "wildcards are literal"
    );
    assert_eq!(
        list(SessionFilter {
            protocol: Some("ssh".into()),
            min_risk: Some(0),
            ..Default::default()
        })
        .await
        .len(),
        2
    );
    assert!(
        list(SessionFilter {
            min_risk: Some(1),
            ..Default::default()
        })
        .await
        .is_empty()
    );
});

store_test!(web_sessions_and_tokens, |store: Store| async move {
    let alice = store
        .create_user("alice", Role::PamAuditor, None)
        .await
        .unwrap();
    let later = vigil_core::now_millis() + 60_000;
    store
        .create_web_session(&alice, "hash-1", "csrf-1", "127.0.0.1", later)
        .await
        .unwrap();
    store
        .create_web_session(&alice, "hash-old", "csrf-2", "127.0.0.1", 1)
        .await
        .unwrap();
    let s = store.web_session("hash-1").await.unwrap().unwrap();
    assert_eq!(
        (s.user.name.as_str(), s.csrf_token.as_str()),
        ("alice", "csrf-1")
    );
    assert!(
        store.web_session("hash-old").await.unwrap().is_none(),
        "expired"
    );
    assert_eq!(store.delete_expired_web_sessions().await.unwrap(), 1);
    store.set_user_disabled("alice", true).await.unwrap();
    assert!(
        store
            .web_session("hash-1")
            .await
            .unwrap()
            .unwrap()
            .user
            .disabled,
        "the user as it is now"
    );
    store.delete_web_sessions_of(&alice).await.unwrap();
    assert!(store.web_session("hash-1").await.unwrap().is_none());

    let t = store.create_api_token(&alice, "ci", "thash").await.unwrap();
    assert!(matches!(
        store.create_api_token(&alice, "ci", "other").await,
        Err(StoreError::Conflict(_))
    ));
    assert_eq!(
        store
            .user_by_api_token("thash")
            .await
            .unwrap()
            .unwrap()
            .name,
        "alice"
    );
    assert!(
        store.api_tokens(&alice).await.unwrap()[0]
            .last_used_at
            .is_some()
    );
    store.delete_api_token(&alice, &t.id).await.unwrap();
    assert!(store.user_by_api_token("thash").await.unwrap().is_none());
});

store_test!(targets_logins_grants_edits, |store: Store| async move {
    store
        .create_user("alice", Role::Operator, None)
        .await
        .unwrap();
    store
        .create_target("web01", "10.0.0.5", 22, None)
        .await
        .unwrap();
    store
        .create_account(
            "web01",
            "root",
            SecretKind::Password,
            &Secret::from("one".to_string()),
        )
        .await
        .unwrap();
    store
        .set_target_address("web01", "web01.internal", 2222)
        .await
        .unwrap();
    store.set_target_disabled("web01", true).await.unwrap();
    let t = store.target_by_name("web01").await.unwrap();
    assert_eq!(
        (t.host.as_str(), t.port, t.disabled),
        ("web01.internal", 2222, true)
    );
    assert!(store.set_target_address("web01", "", 22).await.is_err());
    store
        .set_account_secret(
            "web01",
            "root",
            SecretKind::Password,
            &Secret::from("two".to_string()),
        )
        .await
        .unwrap();
    let account = store.accounts(&t).await.unwrap().remove(0);
    assert_eq!(
        store.account_secret(&account).await.unwrap(),
        Secret::from("two".to_string())
    );
    let g = store
        .create_grant("alice", "web01", Some("root"), false)
        .await
        .unwrap();
    let rows = store.list_grants().await.unwrap();
    assert_eq!(
        (rows[0].user_name.as_str(), rows[0].target_name.as_str()),
        ("alice", "web01")
    );
    store.delete_grant(&g.id).await.unwrap();
    assert!(store.list_grants().await.unwrap().is_empty());
    store.delete_account("web01", "root").await.unwrap();
    assert!(store.accounts(&t).await.unwrap().is_empty());
});

store_test!(locked_users_until_released, |store: Store| async move {
    store
        .create_user("alice", Role::Operator, None)
        .await
        .unwrap();
    let id = sample_session(&store, "n1").await;
    store.lock_user("alice", "carol", &id.0).await.unwrap();
    assert_eq!(
        store
            .user_by_name("alice")
            .await
            .unwrap()
            .locked_by
            .as_deref(),
        Some("carol")
    );
    assert_eq!(
        store.release_user("alice").await.unwrap().as_deref(),
        Some("carol")
    );
    assert_eq!(store.user_by_name("alice").await.unwrap().locked_by, None);
    assert_eq!(
        store.release_user("alice").await.unwrap(),
        None,
        "releasing twice is harmless"
    );
    assert!(matches!(
        store.lock_user("nobody", "carol", &id.0).await,
        Err(StoreError::NotFound(_))
    ));
    store
        .enqueue_command(&id.0, ControlCommand::Lock, "carol")
        .await
        .unwrap();
    store
        .enqueue_command(&id.0, ControlCommand::Unlock, "carol")
        .await
        .unwrap();
    let taken = store.take_commands("n1").await.unwrap();
    assert_eq!(
        taken.iter().map(|c| c.command).collect::<Vec<_>>(),
        vec![ControlCommand::Lock, ControlCommand::Unlock]
    );
});

store_test!(
    recording_tracks_are_numbered_bound_and_purged,
    |store: Store| async move {
        let id = sample_session(&store, "n1").await;
        store.set_session_recording(&id, &id.0).await.unwrap();
        // Track 0 exists with the recording, before any channel takes it.
        let first = store.recording_track(&id.0, 0).await.unwrap();
        assert_eq!(
            (first.recording_key.as_str(), first.channel),
            (id.0.as_str(), None)
        );
        let key1 = crate::track_key(&id.0, 1);
        let mut tx = store.begin().await.unwrap();
        for (track, key, channel, kind, command) in [
            (0, id.0.as_str(), 2, "terminal", None),
            (1, key1.as_str(), 4, "exec", Some("uptime")),
        ] {
            let new = crate::NewTrack {
                track,
                recording_key: key,
                channel: Some(channel),
                kind: Some(kind),
                command,
            };
            tx.record_track(&id, &new).await.unwrap();
        }
        tx.commit().await.unwrap();
        let tracks = store.recording_tracks(&id.0).await.unwrap();
        let seen: Vec<_> = tracks
            .iter()
            .map(|t| (t.track, t.recording_key.clone(), t.channel, t.kind.clone()))
            .collect();
        assert_eq!(
            seen,
            [
                (0, id.0.clone(), Some(2), Some("terminal".into())),
                (1, format!("{}.1", id.0), Some(4), Some("exec".into()))
            ]
        );
        assert!(matches!(
            store.recording_track(&id.0, 2).await,
            Err(StoreError::NotFound(_))
        ));
        store
            .close_session(&id, &EndReason::OperatorExit, 0, 0)
            .await
            .unwrap();
        store.mark_purged(&id.0).await.unwrap();
        assert!(store.recording_tracks(&id.0).await.unwrap().is_empty());
    }
);

store_test!(audit_rules_round_trip, |store: Store| async move {
    let rule = crate::RuleRow {
        name: "no-shutdown".into(),
        pattern_kind: "command".into(),
        pattern: "shutdown".into(),
        score: 30,
        action: "interrupt".into(),
        enabled: true,
        targets: vec!["web01".into(), "db01".into()],
        logins: vec![],
        users: vec!["alice".into()],
        created_at: 0,
        updated_at: 0,
    };
    let mut tx = store.begin().await.unwrap();
    let created = tx.create_audit_rule(&rule).await.unwrap();
    tx.commit().await.unwrap();
    assert_eq!(
        (created.targets.clone(), created.users.clone()),
        (rule.targets.clone(), rule.users.clone())
    );
    assert!(created.created_at > 0);
    let mut tx = store.begin().await.unwrap();
    assert!(matches!(
        tx.create_audit_rule(&rule).await,
        Err(StoreError::Conflict(_))
    ));
    drop(tx);
    let mut changed = created.clone();
    changed.enabled = false;
    changed.score = 5;
    let mut tx = store.begin().await.unwrap();
    tx.update_audit_rule(&changed).await.unwrap();
    tx.commit().await.unwrap();
    let listed = store.audit_rules().await.unwrap();
    assert_eq!(listed.len(), 1);
    assert_eq!((listed[0].enabled, listed[0].score), (false, 5));
    let mut tx = store.begin().await.unwrap();
    tx.delete_audit_rule("no-shutdown").await.unwrap();
    assert!(matches!(
        tx.delete_audit_rule("no-shutdown").await,
        Err(StoreError::NotFound(_))
    ));
    tx.commit().await.unwrap();
    assert!(store.audit_rules().await.unwrap().is_empty());
});

store_test!(
    commands_are_found_across_sessions,
    |store: Store| async move {
        let a = sample_session(&store, "n1").await;
        let b = sample_session(&store, "n1").await;
        for (id, command, action) in [
            (&a, "ls -la", "none"),
            (&a, "rm -rf /tmp/100%_\"x\"", "prohibit"),
            (&b, "sudo RM -rf /srv", "alert"),
        ] {
            store
            .record(Evidence::session(
                EventKind::CommandDetected,
                id,
                None,
                serde_json::json!({ "command": command, "source": "exec", "rules": [], "score": 0, "action": action }),
            ))
            .await
            .unwrap();
        }
        let hits = store.search_commands("rm -rf", 10).await.unwrap();
        let found: Vec<(&str, &str)> = hits
            .iter()
            .map(|h| (h.command.as_str(), h.action.as_str()))
            .collect();
        assert_eq!(
            found,
            [
                ("sudo RM -rf /srv", "alert"),
                ("rm -rf /tmp/100%_\"x\"", "prohibit")
            ]
        );
        // LIKE's wildcards and JSON's escapes are text here.
        assert_eq!(
            store.search_commands("100%_\"x", 10).await.unwrap().len(),
            1
        );
        assert_eq!(
            store.search_commands("exec", 10).await.unwrap().len(),
            0,
            "only the command is searched"
        );
        assert_eq!(store.search_commands("rm", 1).await.unwrap().len(), 1);
    }
);
