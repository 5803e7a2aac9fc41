#![allow(
    unreachable_pub,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic
)]
//! A session another node of the cluster runs (issue 16): its live stream is asked of this
//! node; the answer says which node runs it, where that node is, and whether it is up.

mod common;

use axum::http::{Method, StatusCode};
use common::{Fixture, Who};
use vigil_core::{Role, SessionId};
use vigil_store::NewSession;

#[tokio::test]
async fn the_live_stream_of_another_nodes_session_names_that_node_and_its_state() {
    let f = Fixture::new().await;
    let id = SessionId::new();
    f.store
        .create_session(&NewSession {
            id: id.clone(),
            user_name: "operator".into(),
            target_name: Some("web01".into()),
            login: Some("root".into()),
            client_addr: "127.0.0.1:5000".into(),
            node: "node-far".into(),
            protocol: "ssh".into(),
        })
        .await
        .unwrap();
    let admin = Who::User {
        name: "admin".into(),
        role: Role::PamAdministrator,
    };
    let path = format!("/api/v1/sessions/{}/live", id.0);
    let (status, body) = f.call(&admin, Method::GET, &path, None).await;
    assert_eq!(status, StatusCode::CONFLICT, "{body}");
    assert!(
        body.contains("runs on node node-far, which is not in the cluster's list"),
        "{body}"
    );
    f.store
        .join_cluster("node-far", "https://10.0.0.12:8443", "0.1.0")
        .await
        .unwrap();
    let (status, body) = f.call(&admin, Method::GET, &path, None).await;
    assert_eq!(status, StatusCode::CONFLICT, "{body}");
    assert!(
        body.contains("runs on node node-far (https://10.0.0.12:8443)"),
        "{body}"
    );
    f.store.leave_cluster("node-far").await.unwrap();
    let (_, body) = f.call(&admin, Method::GET, &path, None).await;
    assert!(body.contains("which is no longer running"), "{body}");
}
