//! An API over a real SQLite store and recording directory, called in-process.
#![allow(dead_code)]

use std::sync::Arc;

use axum::Router;
use axum::body::Body;
use axum::http::{Method, Request, StatusCode, header};
use futures::future::BoxFuture;
use tower::ServiceExt;
use vigil_api::{ApiState, KeyTools};
use vigil_core::{EndReason, Role, SecretKind, SessionId};
use vigil_record::LocalRecordingStore;
use vigil_session::Hub;
use vigil_store::{NewSession, Store};
use vigil_vault::{MasterKey, Secret, token_hash};

/// Key parsing is the SSH side's (tested there); here any `ssh-ed25519 ...` line passes.
pub struct LineKeys;

impl KeyTools for LineKeys {
    fn public_key(&self, text: &str) -> Result<(String, String), String> {
        if text.starts_with("ssh-ed25519 ") {
            Ok((text.trim().to_owned(), "SHA256:test".into()))
        } else {
            Err("not an ssh-ed25519 line".into())
        }
    }
    fn check_private_key(&self, _text: &str) -> Result<(), String> {
        Ok(())
    }
    fn fetch_host_key(
        &self,
        _host: String,
        _port: u16,
    ) -> BoxFuture<'static, Result<String, String>> {
        Box::pin(async { Err("no network in this test".to_owned()) })
    }
}

#[derive(Debug, Clone)]
pub enum Who {
    Nobody,
    User { name: String, role: Role },
}

impl Who {
    pub fn label(&self) -> &str {
        match self {
            Who::Nobody => "nobody",
            Who::User { name, .. } => name,
        }
    }
}

pub struct Fixture {
    pub dir: tempfile::TempDir,
    pub store: Store,
    pub hub: Arc<Hub>,
    pub app: Router,
    pub session_id: String,
}

pub const PASSWORD: &str = "correct horse battery staple";

/// One user per role, and an operator who is assigned to audit the fixture's session.
pub const USERS: [(&str, Role); 5] = [
    ("admin", Role::PamAdministrator),
    ("auditor", Role::PamAuditor),
    ("sysadmin", Role::SystemAdministrator),
    ("operator", Role::Operator),
    ("assigned", Role::Operator),
];

impl Fixture {
    pub async fn new() -> Fixture {
        let dir = tempfile::tempdir().unwrap();
        let url = format!("sqlite://{}?mode=rwc", dir.path().join("db").display());
        let store = Store::open(&url, Arc::new(MasterKey::generate()))
            .await
            .unwrap();
        let recordings: Arc<dyn vigil_record::RecordingStore> =
            Arc::new(LocalRecordingStore::new(dir.path().join("rec")));
        let hub = Hub::new("node-1".into(), store.clone(), Arc::clone(&recordings));
        let hash = vigil_vault::hash_password(&Secret::from(PASSWORD.to_owned())).unwrap();
        for (name, role) in USERS {
            let user = store.create_user(name, role, Some(&hash)).await.unwrap();
            store
                .create_api_token(&user, "fixture", &token_hash(Self::token(name).as_bytes()))
                .await
                .unwrap();
        }
        store
            .create_target("web01", "127.0.0.1", 22, Some("ssh-ed25519 AAAA host"))
            .await
            .unwrap();
        store
            .create_account(
                "web01",
                "root",
                SecretKind::Password,
                &Secret::from("target-pw".to_owned()),
            )
            .await
            .unwrap();
        let state = ApiState::new(Arc::clone(&hub), Arc::new(LineKeys), false);
        let app = vigil_api::router(state);
        let mut f = Fixture {
            dir,
            store,
            hub,
            app,
            session_id: String::new(),
        };
        f.session_id = f.closed_session("operator").await;
        f.store
            .set_session_auditors(&f.session_id, &["assigned".to_owned()], "admin")
            .await
            .unwrap();
        f
    }

    pub fn token(name: &str) -> String {
        format!("vgl_fixture-token-of-{name}")
    }

    pub async fn closed_session(&self, user: &str) -> String {
        let id = SessionId::new();
        self.store
            .create_session(&NewSession {
                id: id.clone(),
                user_name: user.into(),
                target_name: Some("web01".into()),
                login: Some("root".into()),
                client_addr: "127.0.0.1:5000".into(),
                node: "node-1".into(),
                protocol: "ssh".into(),
            })
            .await
            .unwrap();
        self.store
            .close_session(&id, &EndReason::OperatorExit, 1, 2)
            .await
            .unwrap();
        id.0
    }

    /// Calls the API as `who` (with an API token); returns the status and the body as text.
    pub async fn call(
        &self,
        who: &Who,
        method: Method,
        path: &str,
        body: Option<serde_json::Value>,
    ) -> (StatusCode, String) {
        let mut req = Request::builder().method(method).uri(path);
        if let Who::User { name, .. } = who {
            req = req.header(
                header::AUTHORIZATION,
                format!("Bearer {}", Self::token(name)),
            );
        }
        self.send(req, body).await
    }

    pub async fn send(
        &self,
        mut req: axum::http::request::Builder,
        body: Option<serde_json::Value>,
    ) -> (StatusCode, String) {
        let body = match body {
            Some(v) => {
                req = req.header(header::CONTENT_TYPE, "application/json");
                Body::from(v.to_string())
            }
            None => Body::empty(),
        };
        let response = self
            .app
            .clone()
            .oneshot(req.body(body).unwrap())
            .await
            .unwrap();
        let status = response.status();
        let bytes = axum::body::to_bytes(response.into_body(), 64 << 20)
            .await
            .unwrap();
        (status, String::from_utf8_lossy(&bytes).into_owned())
    }
}
