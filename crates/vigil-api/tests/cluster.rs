#![allow(
    unreachable_pub,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic
)]
//! A session another node of the cluster runs (issue 16): its live stream is asked of this
//! node, which relays it from the node that runs it or says which node that is and why it
//! cannot; and the route peers relay from admits a node by its own fresh signature only.

mod common;

use axum::http::{Method, StatusCode};
use common::{Fixture, Who};
use vigil_core::{Role, SessionId};
use vigil_store::NewSession;
use vigil_vault::Ed25519Key;

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
        .join_cluster(
            "node-far",
            vigil_store::NodeAddress {
                // Nothing listens on port 1 of loopback: the relay cannot reach it.
                url: "https://127.0.0.1:1",
                cert_sha256: &"ab".repeat(32),
                version: "0.1.0",
            },
        )
        .await
        .unwrap();
    f.hub
        .set_recording_signer(std::sync::Arc::new(vigil_session::verify::NodeSigner(
            Ed25519Key::generate(),
        )));
    let (status, body) = over_websocket(&f, &path).await;
    assert_eq!(status, StatusCode::BAD_GATEWAY, "{body}");
    assert!(
        body.contains("runs on node node-far (https://127.0.0.1:1), and this node cannot relay its live stream: cannot connect"),
        "{body}"
    );
    f.store.leave_cluster("node-far").await.unwrap();
    let (_, body) = f.call(&admin, Method::GET, &path, None).await;
    assert!(body.contains("which is no longer running"), "{body}");
}

/// Asks for `path` as the administrator with a real WebSocket upgrade, through the fixture's
/// API served on loopback; the status and body of a refusal (101 and nothing on success).
async fn over_websocket(f: &Fixture, path: &str) -> (StatusCode, String) {
    use tokio_tungstenite::tungstenite::{Error, client::IntoClientRequest};
    let server = vigil_api::HttpServer::bind("127.0.0.1:0", None)
        .await
        .unwrap();
    let addr = server.local_addr().unwrap();
    let serving = tokio::spawn(server.serve(f.app.clone()));
    let mut request = format!("ws://{addr}{path}").into_client_request().unwrap();
    request.headers_mut().insert(
        "authorization",
        format!("Bearer {}", Fixture::token("admin"))
            .parse()
            .unwrap(),
    );
    let answer = match tokio_tungstenite::connect_async(request).await {
        Ok((_, response)) => (response.status(), String::new()),
        Err(Error::Http(response)) => (
            response.status(),
            String::from_utf8_lossy(response.body().as_deref().unwrap_or_default()).into_owned(),
        ),
        Err(e) => panic!("{e}"),
    };
    serving.abort();
    answer
}

/// What a node signs to ask node `to` for `path` at `at` (the documented wire format).
fn peer_authorization(key: &Ed25519Key, from: &str, to: &str, path: &str, at: i64) -> String {
    use base64::Engine;
    let message = format!("vigil-node-v1\n{from}\n{to}\nGET\n{path}\n{at}");
    let sig = key.sign(message.as_bytes());
    let node = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(from);
    format!("Vigil-Node at={at}, sig={sig}, node={node}")
}

#[tokio::test]
async fn a_peer_node_is_admitted_by_its_own_fresh_signature_only() {
    let f = Fixture::new().await;
    let near = Ed25519Key::generate();
    let now = vigil_core::now_millis();
    f.store
        .join_cluster(
            "node-near",
            vigil_store::NodeAddress {
                url: "https://127.0.0.1:1",
                cert_sha256: "",
                version: "0.1.0",
            },
        )
        .await
        .unwrap();
    let public = near.public();
    f.store
        .register_node_key("node-near", &public.to_text(), &public.fingerprint(), now)
        .await
        .unwrap();
    let path = format!("/api/v1/cluster/sessions/{}/live?track=0", f.session_id);
    let ask = |authorization: String| {
        let request = axum::http::Request::builder()
            .method(Method::GET)
            .uri(path.as_str())
            .header("authorization", authorization);
        f.send(request, None)
    };
    // Admitted: the session is not live here, which is what this node answers a peer.
    let good = peer_authorization(&near, "node-near", "node-1", &path, now);
    let (status, body) = ask(good.clone()).await;
    assert_eq!(status, StatusCode::CONFLICT, "{body}");
    let refusals = [
        (good, "already received (a replay)"),
        (
            peer_authorization(&Ed25519Key::generate(), "node-near", "node-1", &path, now),
            "not by a recording key node node-near registered",
        ),
        (
            peer_authorization(&near, "node-near", "node-2", &path, now + 1),
            "not by a recording key node node-near registered",
        ),
        (
            peer_authorization(&near, "node-near", "node-1", "/api/v1/other", now + 2),
            "not by a recording key node node-near registered",
        ),
        (
            peer_authorization(&near, "node-near", "node-1", &path, now - 120_000),
            "more than a minute from this node's clock",
        ),
        (
            peer_authorization(&near, "node-stranger", "node-1", &path, now + 3),
            "node node-stranger is not in the cluster's list",
        ),
        (
            format!("Bearer {}", Fixture::token("admin")),
            "this route is for the cluster's nodes",
        ),
        ("Vigil-Node at=1".into(), "is not `Vigil-Node at=UNIX_MS"),
    ];
    for (authorization, why) in refusals {
        let (status, body) = ask(authorization).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED, "{body}");
        assert!(body.contains(why), "{why:?} in {body}");
    }
    f.store.leave_cluster("node-near").await.unwrap();
    let (status, body) = ask(peer_authorization(
        &near,
        "node-near",
        "node-1",
        &path,
        now + 4,
    ))
    .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "{body}");
    assert!(body.contains("node node-near is left"), "{body}");
}
