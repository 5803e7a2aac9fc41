#![allow(unreachable_pub, clippy::unwrap_used, clippy::expect_used)]
//! Administrative actions through `Admin`, against a real SQLite store: the regressions of
//! issue 9, each named after the defect it pins, and the evidence path end to end.

use std::sync::Arc;
use std::time::Duration;

use vigil_core::{Role, SessionId};
use vigil_record::LocalRecordingStore;
use vigil_session::{Actor, Admin, Control, Hub};
use vigil_store::{ControlCommand, EvidenceRow, NewSession, Store};
use vigil_vault::MasterKey;

struct Node {
    hub: Arc<Hub>,
    /// The database URL, for a second process's store (the CLI's).
    url: String,
    master: Arc<MasterKey>,
    _dir: tempfile::TempDir,
}

async fn node() -> Node {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}?mode=rwc", dir.path().join("db").display());
    let master = Arc::new(MasterKey::generate());
    let store = Store::open(&url, Arc::clone(&master))
        .await
        .unwrap()
        .with_origin("node-1");
    store
        .create_user("alice", Role::Operator, None)
        .await
        .unwrap();
    let hub = Hub::new(
        "node-1".into(),
        store,
        Arc::new(LocalRecordingStore::new(dir.path().join("rec"))),
    );
    Node {
        hub,
        url,
        master,
        _dir: dir,
    }
}

impl Node {
    /// What a `vigil` CLI process has: its own store on the same database, and no hub.
    async fn cli(&self) -> Admin {
        Admin::new(
            Store::open(&self.url, Arc::clone(&self.master))
                .await
                .unwrap(),
        )
    }

    async fn open_session(&self) -> (Arc<vigil_session::LiveSession>, vigil_session::ControlInbox) {
        self.hub
            .open(NewSession {
                id: SessionId::new(),
                user_name: "alice".into(),
                target_name: Some("web01".into()),
                login: Some("root".into()),
                client_addr: "127.0.0.1:1".into(),
                node: "node-1".into(),
                protocol: "ssh".into(),
            })
            .await
            .unwrap()
    }
}

fn kinds(rows: &[vigil_store::SessionEvent]) -> Vec<&str> {
    rows.iter().map(|e| e.kind.as_str()).collect()
}

#[tokio::test]
async fn session_kill_from_the_cli_writes_terminate_requested_and_an_admin_entry() {
    let node = node().await;
    let (live, mut inbox) = node.open_session().await;
    let id = live.id().clone();
    let cli = node.cli().await;
    let root = Actor::cli("cli:root");
    cli.terminate(&root, &id).await.unwrap();
    // The node claims the queued command and ends the session.
    let commands = node.hub.store().take_commands("node-1").await.unwrap();
    assert_eq!(commands.len(), 1);
    assert_eq!(
        (commands[0].command, commands[0].actor.as_str()),
        (ControlCommand::Terminate, "cli:root")
    );
    assert!(node.hub.control(
        &id,
        Control::Terminate {
            by: "cli:root".into()
        }
    ));
    assert_eq!(
        inbox.next().await,
        Control::Terminate {
            by: "cli:root".into()
        }
    );
    live.close(vigil_core::EndReason::TerminatedBy("cli:root".into()))
        .await;
    let log = node.hub.store().session_events(&id.0).await.unwrap();
    assert_eq!(kinds(&log), ["terminate_requested", "ended"]);
    assert_eq!(log[0].actor.as_deref(), Some("cli:root"));
    assert!(
        log[0].detail.contains("\"via\":\"cli\""),
        "{}",
        log[0].detail
    );
    assert_eq!(log[1].actor.as_deref(), Some("cli:root"));
    let admin_log = node.hub.store().audit_entries(10).await.unwrap();
    let killed = admin_log
        .iter()
        .find(|e| e.action == "session_terminated")
        .expect("the administration log has the kill");
    assert_eq!(
        (killed.actor.as_str(), killed.subject.as_str()),
        ("cli:root", id.0.as_str())
    );
}

#[tokio::test]
async fn cli_user_passwd_signs_the_user_out_of_the_console() {
    let node = node().await;
    let store = node.hub.store();
    let alice = store.user_by_name("alice").await.unwrap();
    store
        .create_web_session(
            &alice,
            "token-hash",
            "csrf",
            "::1",
            vigil_core::now_millis() + 60_000,
        )
        .await
        .unwrap();
    assert!(store.web_session("token-hash").await.unwrap().is_some());
    node.cli()
        .await
        .set_password(&Actor::cli("cli:root"), "alice", "$argon2id$new")
        .await
        .unwrap();
    assert!(
        store.web_session("token-hash").await.unwrap().is_none(),
        "a new password ends every console session of the user"
    );
    let entry = &store.audit_entries(1).await.unwrap()[0];
    assert_eq!(
        (entry.action.as_str(), entry.actor.as_str()),
        ("password_changed", "cli:root")
    );
}

#[tokio::test]
async fn a_purge_run_by_a_person_names_that_person() {
    let node = node().await;
    let (live, _inbox) = node.open_session().await;
    let id = live.id().clone();
    live.close(vigil_core::EndReason::OperatorExit).await;
    let recordings = Arc::clone(node.hub.recordings());
    // With 0 retention days, every session that has ended is expired.
    tokio::time::sleep(Duration::from_millis(5)).await;
    let report = node
        .cli()
        .await
        .purge(&Actor::cli("cli:root"), &recordings, 0)
        .await
        .unwrap();
    assert_eq!(report.purged, vec![id.0.clone()]);
    let entry = node
        .hub
        .store()
        .audit_entries(5)
        .await
        .unwrap()
        .into_iter()
        .find(|e| e.action == "session_purged")
        .unwrap();
    assert_eq!(entry.actor, "cli:root", "not `system`");
    assert!(entry.detail.contains("\"via\":\"cli\""));
}

/// Waits for `n` rows on the bus.
async fn take(
    bus: &mut tokio::sync::broadcast::Receiver<EvidenceRow>,
    n: usize,
) -> Vec<EvidenceRow> {
    let mut out = Vec::new();
    while out.len() < n {
        out.push(
            tokio::time::timeout(Duration::from_secs(5), bus.recv())
                .await
                .expect("the bus delivers")
                .unwrap(),
        );
    }
    out
}

#[tokio::test]
async fn events_from_a_cli_process_and_from_the_node_reach_a_subscriber_in_order() {
    let node = node().await;
    let mut bus = node.hub.subscribe().await.unwrap();
    let cli = node.cli().await;
    let api = Admin::with_hub(Arc::clone(&node.hub));
    let (carol, root) = (Actor::api("carol", "::1"), Actor::cli("cli:root"));
    api.add_user(&carol, "bob", Role::Operator, None)
        .await
        .unwrap();
    cli.set_disabled(&root, "bob", true).await.unwrap();
    api.set_disabled(&carol, "bob", false).await.unwrap();
    cli.set_role(&root, "bob", Role::PamAuditor).await.unwrap();
    let rows = take(&mut bus, 4).await;
    let got: Vec<(&str, &str, &str)> = rows
        .iter()
        .map(|r| {
            (
                r.kind.as_str(),
                r.actor.as_deref().unwrap_or(""),
                r.origin.as_str(),
            )
        })
        .collect();
    assert_eq!(
        got,
        [
            ("user_added", "carol", "node-1"),
            ("user_disabled", "cli:root", "cli"),
            ("user_enabled", "carol", "node-1"),
            ("user_role_changed", "cli:root", "cli"),
        ]
    );
    assert!(rows.windows(2).all(|p| p[0].seq < p[1].seq));
}

#[tokio::test]
async fn a_refused_action_changes_nothing_and_records_nothing() {
    let node = node().await;
    let api = Admin::with_hub(Arc::clone(&node.hub));
    let alice = Actor::api("alice", "::1");
    let before = node.hub.store().last_evidence_seq().await.unwrap();
    assert!(matches!(
        api.set_disabled(&alice, "alice", true).await,
        Err(vigil_session::AdminError::Refused(_))
    ));
    assert!(matches!(
        api.set_role(&alice, "alice", Role::PamAdministrator).await,
        Err(vigil_session::AdminError::Refused(_))
    ));
    assert!(
        api.grant(&alice, "alice", "no-such-target", None, false)
            .await
            .is_err()
    );
    assert_eq!(node.hub.store().last_evidence_seq().await.unwrap(), before);
    assert!(
        !node
            .hub
            .store()
            .user_by_name("alice")
            .await
            .unwrap()
            .disabled
    );
}

/// Rules (issue 10): a broken pattern is refused with where and why and changes nothing;
/// every change is in the administration log with the rule before and after.
#[tokio::test]
async fn rules_are_checked_and_every_change_is_evidence() {
    use vigil_audit::rules::{Action, Pattern, Rule, Scope};
    let n = node().await;
    let admin = Admin::new(n.hub.store().clone());
    let by = Actor::cli("cli:carol");
    let mut rule = Rule {
        name: "no-rm-root".into(),
        pattern: Pattern::Regex("rm (-rf".into()),
        score: 50,
        action: Action::Prohibit,
        enabled: true,
        scope: Scope::default(),
    };
    let refused = admin.add_rule(&by, &rule).await.unwrap_err().to_string();
    assert!(
        refused.contains("unclosed group") && refused.contains('^'),
        "{refused}"
    );
    assert!(n.hub.store().audit_rules().await.unwrap().is_empty());
    rule.pattern = Pattern::Regex(r"^rm\s+-rf\s+/$".into());
    admin.add_rule(&by, &rule).await.unwrap();
    let row = admin
        .edit_rule(&by, "no-rm-root", |r| {
            r.score = 70;
            r.scope.targets = vec!["web01".into()];
        })
        .await
        .unwrap();
    assert_eq!(
        (row.score, row.targets.as_slice()),
        (70, &["web01".to_owned()][..])
    );
    let bad_edit = admin
        .edit_rule(&by, "no-rm-root", |r| {
            r.pattern = Pattern::Regex("(".into())
        })
        .await;
    assert!(bad_edit.is_err());
    assert_eq!(
        n.hub
            .store()
            .audit_rule("no-rm-root")
            .await
            .unwrap()
            .pattern,
        r"^rm\s+-rf\s+/$"
    );
    admin
        .edit_rule(&by, "no-rm-root", |r| r.enabled = false)
        .await
        .unwrap();
    admin.remove_rule(&by, "no-rm-root").await.unwrap();
    let log = n.hub.store().audit_entries(50).await.unwrap();
    let kinds: Vec<&str> = log.iter().map(|e| e.action.as_str()).collect();
    assert_eq!(
        kinds
            .iter()
            .filter(|k| k.starts_with("rule_"))
            .copied()
            .collect::<Vec<_>>(),
        ["rule_removed", "rule_changed", "rule_changed", "rule_added"]
    );
    let changed = log.iter().find(|e| e.action == "rule_changed").unwrap();
    let detail: serde_json::Value = serde_json::from_str(&changed.detail).unwrap();
    assert_eq!(
        (
            detail["before"]["enabled"].as_bool(),
            detail["after"]["enabled"].as_bool()
        ),
        (Some(true), Some(false))
    );
    assert!(
        log.iter()
            .all(|e| !e.action.starts_with("rule_") || e.actor == "cli:carol")
    );
}
