//! Every store test runs against SQLite and PostgreSQL through `store_test!`.
//! PostgreSQL comes from `VIGIL_TEST_POSTGRES_URL` (default: the local server at
//! 127.0.0.1:5432); each test gets a database of its own, dropped afterwards.

use std::future::Future;
use std::sync::Arc;

use sqlx::Connection;
use vigil_core::{EndReason, EventKind, Evidence, Role, SecretKind, SessionId};
use vigil_vault::{MasterKey, Secret};

use crate::{ControlCommand, NewSession, SessionFilter, Store, StoreError};

fn admin_url() -> String {
    std::env::var("VIGIL_TEST_POSTGRES_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".into())
}

async fn with_sqlite<F, Fut>(test: F)
where
    F: FnOnce(Store) -> Fut,
    Fut: Future<Output = ()>,
{
    let dir = tempfile::tempdir().unwrap();
    let url = format!(
        "sqlite://{}?mode=rwc",
        dir.path().join("vigil.db").display()
    );
    let store = Store::open(&url, Arc::new(MasterKey::generate()))
        .await
        .unwrap();
    test(store.clone()).await;
    store.close().await;
}

async fn with_postgres<F, Fut>(test: F)
where
    F: FnOnce(Store) -> Fut,
    Fut: Future<Output = ()>,
{
    sqlx::any::install_default_drivers();
    let admin = admin_url();
    let mut conn = sqlx::AnyConnection::connect(&admin)
        .await
        .unwrap_or_else(|e| {
            panic!(
                "PostgreSQL store tests need a server at {admin} (set VIGIL_TEST_POSTGRES_URL): {e}"
            )
        });
    let db = format!("vigil_test_{}", uuid::Uuid::new_v4().simple());
    sqlx::raw_sql(sqlx::AssertSqlSafe(format!("CREATE DATABASE {db}")))
        .execute(&mut conn)
        .await
        .unwrap();
    let base = admin.rsplit_once('/').map(|(b, _)| b).unwrap_or(&admin);
    let store = Store::open(&format!("{base}/{db}"), Arc::new(MasterKey::generate()))
        .await
        .unwrap();
    test(store.clone()).await;
    store.close().await;
    sqlx::raw_sql(sqlx::AssertSqlSafe(format!(
        "DROP DATABASE {db} WITH (FORCE)"
    )))
    .execute(&mut conn)
    .await
    .unwrap();
}

macro_rules! store_test {
    ($name:ident, $body:expr) => {
        mod $name {
            use super::*;
            #[tokio::test]
            async fn sqlite() {
                with_sqlite($body).await
            }
            #[tokio::test]
            async fn postgres() {
                with_postgres($body).await
            }
        }
    };
}

async fn sample_session(store: &Store, node: &str) -> SessionId {
    let id = SessionId::new();
    store
        .create_session(&NewSession {
            id: id.clone(),
            user_name: "alice".into(),
            target_name: Some("web01".into()),
            login: Some("root".into()),
            client_addr: "127.0.0.1:5000".into(),
            node: node.into(),
            protocol: "ssh".into(),
        })
        .await
        .unwrap();
    id
}

store_test!(users_round_trip, |store: Store| async move {
    let hash = vigil_vault::hash_password(&Secret::from("pw".to_string())).unwrap();
    let alice = store
        .create_user("alice", Role::Operator, Some(&hash))
        .await
        .unwrap();
    assert!(alice.has_password && !alice.has_totp && !alice.disabled);
    assert!(matches!(
        store.create_user("alice", Role::Operator, None).await,
        Err(StoreError::Conflict(_))
    ));
    assert!(matches!(
        store.create_user("bad:name", Role::Operator, None).await,
        Err(StoreError::Invalid { .. })
    ));
    store.set_user_disabled("alice", true).await.unwrap();
    assert!(store.user_by_name("alice").await.unwrap().disabled);
    assert!(matches!(
        store.set_user_disabled("nobody", true).await,
        Err(StoreError::NotFound(_))
    ));
    assert_eq!(
        store.user_password_hash("alice").await.unwrap().as_deref(),
        Some(hash.as_str())
    );
    let totp = Secret::from("JBSWY3DPEHPK3PXP".to_string());
    store.set_user_totp("alice", Some(&totp)).await.unwrap();
    let alice = store.user_by_name("alice").await.unwrap();
    assert!(alice.has_totp);
    assert_eq!(store.user_totp(&alice).await.unwrap(), Some(totp));
    store
        .add_user_key("alice", "ssh-ed25519 AAAA x", "SHA256:abc")
        .await
        .unwrap();
    assert!(matches!(
        store
            .add_user_key("alice", "ssh-ed25519 AAAA x", "SHA256:abc")
            .await,
        Err(StoreError::Conflict(_))
    ));
    assert_eq!(store.user_keys(&alice).await.unwrap().len(), 1);
    assert_eq!(store.list_users().await.unwrap().len(), 1);
});

store_test!(targets_accounts_grants, |store: Store| async move {
    let alice = store
        .create_user("alice", Role::Operator, None)
        .await
        .unwrap();
    store
        .create_target("web01", "127.0.0.1", 22, Some("ssh-ed25519 AAAAkey"))
        .await
        .unwrap();
    assert!(matches!(
        store.create_target("web01", "h", 22, None).await,
        Err(StoreError::Conflict(_))
    ));
    assert!(matches!(
        store.create_target("x", "h", 0, None).await,
        Err(StoreError::Invalid { .. })
    ));
    let canary = Secret::from("canary-7f3a".to_string());
    let root = store
        .create_account("web01", "root", SecretKind::Password, &canary)
        .await
        .unwrap();
    store
        .create_account(
            "web01",
            "deploy",
            SecretKind::Password,
            &Secret::from("x".to_string()),
        )
        .await
        .unwrap();
    let t = store.target_by_name("web01").await.unwrap();
    let accounts = store.accounts(&t).await.unwrap();
    assert_eq!(
        accounts
            .iter()
            .map(|a| a.login.as_str())
            .collect::<Vec<_>>(),
        ["root", "deploy"]
    );
    assert_eq!(store.account_secret(&root).await.unwrap(), canary);
    assert!(matches!(
        store
            .create_grant("alice", "web01", Some("nobody"), false)
            .await,
        Err(StoreError::NotFound(_))
    ));
    store
        .create_grant("alice", "web01", Some("deploy"), true)
        .await
        .unwrap();
    let grants = store.grants_for_user(&alice).await.unwrap();
    assert_eq!(grants.len(), 1);
    assert!(grants[0].allow_port_forwarding);
    assert_eq!(store.targets_for_user(&alice).await.unwrap().len(), 1);
    store
        .set_target_host_key("web01", "ssh-ed25519 BBBB")
        .await
        .unwrap();
    assert_eq!(
        store
            .target_by_name("web01")
            .await
            .unwrap()
            .host_key
            .as_deref(),
        Some("ssh-ed25519 BBBB")
    );
});

store_test!(sessions_and_events, |store: Store| async move {
    let a = sample_session(&store, "node-a").await;
    let b = sample_session(&store, "node-b").await;
    store
        .set_session_status(&a, vigil_core::SessionStatus::Active)
        .await
        .unwrap();
    store
        .record(Evidence::session(
            EventKind::Connected,
            &a,
            None,
            serde_json::json!({"target": "web01", "host": "10.0.0.5", "port": 22, "login": "root"}),
        ))
        .await
        .unwrap();
    store
        .record(Evidence::session(
            EventKind::Ended,
            &a,
            Some("admin"),
            serde_json::json!({"reason": "terminated_by(admin)"}),
        ))
        .await
        .unwrap();
    let events = store.session_events(&a.0).await.unwrap();
    assert_eq!(
        events.iter().map(|e| e.kind.as_str()).collect::<Vec<_>>(),
        ["connected", "ended"]
    );
    assert_eq!(events[1].actor.as_deref(), Some("admin"));
    store
        .close_session(&a, &EndReason::TerminatedBy("admin".into()), 10, 20)
        .await
        .unwrap();
    store
        .close_session(&a, &EndReason::OperatorExit, 0, 0)
        .await
        .unwrap();
    let row = store.session(&a.0).await.unwrap();
    assert_eq!(
        (
            row.status.as_str(),
            row.end_reason.as_deref(),
            row.bytes_in,
            row.bytes_out
        ),
        ("closed", Some("terminated_by(admin)"), 10, 20)
    );
    let active = store
        .list_sessions(&SessionFilter {
            active: Some(true),
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(
        active.iter().map(|s| s.id.as_str()).collect::<Vec<_>>(),
        [b.0.as_str()]
    );
    let all = store
        .list_sessions(&SessionFilter::default())
        .await
        .unwrap();
    assert_eq!(all[0].id, b.0, "newest first");
    let by_node = store
        .list_sessions(&SessionFilter {
            node: Some("node-a".into()),
            user: Some("alice".into()),
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(by_node.len(), 1);
    let interrupted = store.interrupt_open_sessions("node-b", None).await.unwrap();
    assert_eq!(interrupted.len(), 1);
    assert_eq!(
        store.session(&b.0).await.unwrap().end_reason.as_deref(),
        Some("interrupted")
    );
    let ended = store.session_events(&b.0).await.unwrap();
    assert_eq!(
        ended.iter().map(|e| e.kind.as_str()).collect::<Vec<_>>(),
        ["ended"],
        "an interrupted session's log says so, with the change"
    );
});

store_test!(commands_are_claimed_once, |store: Store| async move {
    let a = sample_session(&store, "node-a").await;
    store
        .enqueue_command(&a.0, ControlCommand::Terminate, "admin")
        .await
        .unwrap();
    assert!(store.take_commands("node-b").await.unwrap().is_empty());
    let got = store.take_commands("node-a").await.unwrap();
    assert_eq!(got.len(), 1);
    assert_eq!(
        (got[0].command, got[0].actor.as_str()),
        (ControlCommand::Terminate, "admin")
    );
    assert!(store.take_commands("node-a").await.unwrap().is_empty());
    store
        .close_session(&a, &EndReason::OperatorExit, 0, 0)
        .await
        .unwrap();
    assert!(matches!(
        store
            .enqueue_command(&a.0, ControlCommand::Terminate, "admin")
            .await,
        Err(StoreError::Invalid { .. })
    ));
    assert!(matches!(
        store
            .enqueue_command("missing", ControlCommand::Terminate, "admin")
            .await,
        Err(StoreError::NotFound(_))
    ));
});

store_test!(audit_log, |store: Store| async move {
    store
        .record(Evidence::admin(
            EventKind::AuthFailed,
            "alice",
            "ssh",
            serde_json::json!({"method": "password", "reason": "wrong password", "via": "ssh"}),
        ))
        .await
        .unwrap();
    store
        .record(Evidence::admin(
            EventKind::TargetAdded,
            "admin",
            "web01",
            serde_json::json!({"host": "10.0.0.5", "port": 22, "host_key": "SHA256:x", "via": "cli"}),
        ))
        .await
        .unwrap();
    let entries = store.audit_entries(10).await.unwrap();
    assert_eq!(entries.len(), 2);
    assert_eq!(entries[0].action, "target_added");
});

#[tokio::test]
async fn unsupported_url_says_what_works() {
    let err = Store::open("mysql://x", Arc::new(MasterKey::generate()))
        .await
        .unwrap_err();
    assert!(err.to_string().contains("sqlite://"), "{err}");
}

mod agents;
mod console;
mod evidence;
mod log_chain;
mod nodes;

store_test!(
    elevation_settings_and_their_sealed_passwords,
    |store: Store| async move {
        use crate::SecretChange::{Keep, Remove, Set};
        use vigil_core::SudoInject;
        store.create_target("web01", "h", 22, None).await.unwrap();
        let login_pw = Secret::from("login-canary-1".to_string());
        store
            .create_account("web01", "ops", SecretKind::Password, &login_pw)
            .await
            .unwrap();
        store
            .create_account(
                "web01",
                "deploy",
                SecretKind::PrivateKey,
                &Secret::from("KEY".to_string()),
            )
            .await
            .unwrap();
        let t = store.target_by_name("web01").await.unwrap();
        let ops = store.accounts(&t).await.unwrap().remove(0);
        assert_eq!(
            (ops.sudo_inject, ops.sudo_secret, ops.su_secret),
            (SudoInject::Off, false, false)
        );
        // No separate sudo password: the login's own answers.
        assert_eq!(
            store.account_sudo_secret(&ops).await.unwrap().expose(),
            b"login-canary-1"
        );
        assert!(matches!(
            store.account_su_secret(&ops).await,
            Err(StoreError::NotFound(_))
        ));
        let ops = store
            .set_account_elevation(
                "web01",
                "ops",
                &elevation(
                    Some(SudoInject::OnDemand),
                    Set(Secret::from("sudo-canary-2".to_string())),
                    Set(Secret::from("root-canary-3".to_string())),
                ),
            )
            .await
            .unwrap();
        assert_eq!(
            (ops.sudo_inject, ops.sudo_secret, ops.su_secret),
            (SudoInject::OnDemand, true, true)
        );
        assert_eq!(
            store.account_sudo_secret(&ops).await.unwrap().expose(),
            b"sudo-canary-2"
        );
        assert_eq!(
            store.account_su_secret(&ops).await.unwrap().expose(),
            b"root-canary-3"
        );
        let ops = store
            .set_account_elevation(
                "web01",
                "ops",
                &elevation(Some(SudoInject::Start), Remove, Keep),
            )
            .await
            .unwrap();
        assert_eq!(
            (ops.sudo_inject, ops.sudo_secret, ops.su_secret),
            (SudoInject::Start, false, true)
        );
        assert_eq!(
            store.account_sudo_secret(&ops).await.unwrap().expose(),
            b"login-canary-1"
        );
        // A key login has no password to answer sudo with unless one is given.
        assert!(matches!(
            store
                .set_account_elevation(
                    "web01",
                    "deploy",
                    &elevation(Some(SudoInject::OnDemand), Keep, Keep)
                )
                .await,
            Err(StoreError::Invalid {
                what: "sudo_inject",
                ..
            })
        ));
        let deploy = store
            .set_account_elevation(
                "web01",
                "deploy",
                &elevation(
                    Some(SudoInject::OnDemand),
                    Set(Secret::from("deploy-sudo".to_string())),
                    Keep,
                ),
            )
            .await
            .unwrap();
        assert_eq!(
            store.account_sudo_secret(&deploy).await.unwrap().expose(),
            b"deploy-sudo"
        );
        assert!(matches!(
            store
                .set_account_elevation(
                    "web01",
                    "nobody",
                    &elevation(Some(SudoInject::Off), Keep, Keep)
                )
                .await,
            Err(StoreError::NotFound(_))
        ));
        // No column holds any of them in clear.
        let dump: Vec<String> = sqlx::query_scalar(
        "SELECT COALESCE(sudo_secret_sealed, '') || COALESCE(su_secret_sealed, '') FROM accounts",
    )
    .fetch_all(&store.pool)
    .await
    .unwrap();
        assert!(
            dump.iter()
                .all(|d| !d.contains("canary") && !d.contains("deploy-sudo"))
        );
        // The circuit breaker: one rejection flags, a second within 15 minutes blocks, and
        // an administrator setting the elevation again closes it.
        let min = 60_000;
        assert!(!store.elevation_rejected("web01", "ops", 0).await.unwrap());
        assert!(
            !store
                .elevation_rejected("web01", "ops", 16 * min)
                .await
                .unwrap()
        );
        let t = store.target_by_name("web01").await.unwrap();
        assert!(!store.accounts(&t).await.unwrap()[0].sudo_blocked);
        assert!(
            store
                .elevation_rejected("web01", "ops", 30 * min)
                .await
                .unwrap()
        );
        assert!(store.accounts(&t).await.unwrap()[0].sudo_blocked);
        assert!(
            store
                .elevation_rejected("web01", "ops", 90 * min)
                .await
                .unwrap()
        );
        let mut change = elevation(None, Keep, Keep);
        change.ticket_minutes = Some(0);
        let ops = store
            .set_account_elevation("web01", "ops", &change)
            .await
            .unwrap();
        assert!(!ops.sudo_blocked);
        assert_eq!(
            (ops.sudo_ticket_minutes, ops.sudo_inject),
            (0, SudoInject::Start)
        );
        assert!(
            !store
                .elevation_rejected("web01", "ops", 91 * min)
                .await
                .unwrap()
        );
        change.ticket_minutes = Some(crate::MAX_TICKET_MINUTES + 1);
        assert!(matches!(
            store.set_account_elevation("web01", "ops", &change).await,
            Err(StoreError::Invalid {
                what: "sudo_ticket_minutes",
                ..
            })
        ));
    }
);

fn elevation(
    inject: Option<vigil_core::SudoInject>,
    sudo: crate::SecretChange,
    su: crate::SecretChange,
) -> crate::ElevationChange {
    crate::ElevationChange {
        inject,
        sudo,
        su,
        ticket_minutes: None,
    }
}

store_test!(
    transfer_policies_per_target_and_login,
    |store: Store| async move {
        use crate::PolicyScope;
        use vigil_core::{Permit, TransferPolicy};
        store.create_target("web01", "h", 22, None).await.unwrap();
        for login in ["ops", "deploy"] {
            store
                .create_account(
                    "web01",
                    login,
                    SecretKind::Password,
                    &Secret::from("x".to_string()),
                )
                .await
                .unwrap();
        }
        let target = PolicyScope {
            target: "web01",
            login: None,
        };
        let ops = PolicyScope {
            target: "web01",
            login: Some("ops"),
        };
        // Nothing set: everything allowed.
        assert_eq!(
            store
                .effective_transfer_policy("web01", "ops")
                .await
                .unwrap(),
            TransferPolicy::default()
        );
        let set = |scope: PolicyScope<'static>, p: TransferPolicy| {
            let store = store.clone();
            async move {
                let mut tx = store.begin().await?;
                let p = tx.set_transfer_policy(&scope, p, 1).await?;
                tx.commit().await?;
                Ok::<_, StoreError>(p)
            }
        };
        let whole = set(
            target.clone(),
            TransferPolicy {
                download: Permit::Deny,
                deny_extensions: vec![".EXE".into()],
                ..TransferPolicy::default()
            },
        )
        .await
        .unwrap();
        assert_eq!(whole.deny_extensions, ["exe"], "stored normalised");
        let own = set(
            ops.clone(),
            TransferPolicy {
                max_size: Some(1024),
                ..TransferPolicy::default()
            },
        )
        .await
        .unwrap();
        assert_eq!(
            store
                .effective_transfer_policy("web01", "ops")
                .await
                .unwrap(),
            own
        );
        assert_eq!(
            store
                .effective_transfer_policy("web01", "deploy")
                .await
                .unwrap(),
            whole
        );
        // A later set replaces.
        let replaced = set(target.clone(), TransferPolicy::default())
            .await
            .unwrap();
        assert_eq!(
            store.transfer_policy(&target).await.unwrap(),
            Some(replaced)
        );
        // Bad values and unknown logins are refused, naming what.
        let bad = set(
            target.clone(),
            TransferPolicy {
                deny_sha256: vec!["xyz".into()],
                ..TransferPolicy::default()
            },
        )
        .await;
        assert!(
            matches!(
                bad,
                Err(StoreError::Invalid {
                    what: "deny_sha256",
                    ..
                })
            ),
            "{bad:?}"
        );
        let nobody = PolicyScope {
            target: "web01",
            login: Some("nobody"),
        };
        assert!(matches!(
            set(nobody, TransferPolicy::default()).await,
            Err(StoreError::NotFound(_))
        ));
        // Clearing the login's falls back to the target's; clearing twice says none was set.
        store.clear_transfer_policy(&ops).await.unwrap();
        assert_eq!(
            store
                .effective_transfer_policy("web01", "ops")
                .await
                .unwrap(),
            TransferPolicy::default()
        );
        assert!(matches!(
            store.clear_transfer_policy(&ops).await,
            Err(StoreError::NotFound(_))
        ));
        // A removed login or target takes its policies with it.
        set(ops.clone(), TransferPolicy::default()).await.unwrap();
        store.delete_account("web01", "ops").await.unwrap();
        assert_eq!(store.transfer_policy(&ops).await.unwrap(), None);
        store.delete_target("web01").await.unwrap();
        let rows: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM transfer_policies")
            .fetch_one(&store.pool)
            .await
            .unwrap();
        assert_eq!(rows, 0);
    }
);
