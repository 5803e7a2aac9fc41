#![allow(
    unreachable_pub,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic
)]
//! The endpoint manager over the API (issue 14): a token enrols a workstation once; its agent
//! proves itself by signing each request; a pending workstation learns its status and
//! nothing else; a replayed, altered, stale or unsigned request is refused.

mod common;

use axum::http::{Method, Request, StatusCode, header};
use common::{Fixture, Who};
use vigil_core::{Role, now_millis};
use vigil_vault::{AgentKey, request_message};

fn admin() -> Who {
    Who::User {
        name: "admin".into(),
        role: Role::PamAdministrator,
    }
}

/// A request signed by `key` as agent `id` at `at`.
fn signed(
    key: &AgentKey,
    id: &str,
    method: &str,
    path: &str,
    at: i64,
    body: &[u8],
) -> axum::http::request::Builder {
    let sig = key.sign(&request_message(method, path, at, body));
    Request::builder().method(method).uri(path).header(
        header::AUTHORIZATION,
        format!("Vigil-Agent id={id}, at={at}, sig={sig}"),
    )
}

async fn token(f: &Fixture) -> String {
    let (status, body) = f
        .call(
            &admin(),
            Method::POST,
            "/api/v1/agents/tokens",
            Some(serde_json::json!({ "valid_hours": 1 })),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let v: serde_json::Value = serde_json::from_str(&body).unwrap();
    v["token"].as_str().unwrap().to_owned()
}

#[tokio::test]
async fn a_workstation_enrols_once_and_its_agent_signs_every_request() {
    let f = Fixture::new().await;
    let key = AgentKey::generate();
    let enrol = |token: String, host: &str, public_key: String| {
        serde_json::json!({
            "token": token, "host_name": host, "machine_id": "0123abcd", "public_key": public_key
        })
    };
    let t = token(&f).await;
    let (status, body) = f
        .call(
            &Who::Nobody,
            Method::POST,
            "/api/v1/agent/enrol",
            Some(enrol(t.clone(), "ws01", key.public().to_text())),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let enrolled: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(enrolled["status"], "pending");
    assert_eq!(enrolled["fingerprint"], key.public().fingerprint());
    let id = enrolled["id"].as_str().unwrap().to_owned();
    // The token is spent.
    let other = AgentKey::generate();
    let (status, body) = f
        .call(
            &Who::Nobody,
            Method::POST,
            "/api/v1/agent/enrol",
            Some(enrol(t, "ws02", other.public().to_text())),
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    assert!(body.contains("unknown, used or expired"), "{body}");

    // Pending: the status answers, the policies do not.
    let now = now_millis();
    let (status, body) = f
        .send(
            signed(&key, &id, "GET", "/api/v1/agent/status", now, b""),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert!(body.contains("\"pending\""), "{body}");
    let (status, body) = f
        .send(
            signed(&key, &id, "GET", "/api/v1/agent/policies", now, b""),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{body}");
    assert!(body.contains("vigil agent approve ws01"), "{body}");

    // Approved, with one policy for it and one for another workstation.
    let (status, body) = f
        .call(&admin(), Method::POST, "/api/v1/agents/ws01/approve", None)
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    for (name, ws) in [("ping", "ws01"), ("elsewhere", "ws09")] {
        let (status, body) = f
            .call(
                &admin(),
                Method::POST,
                "/api/v1/agent-policies",
                Some(serde_json::json!({
                    "name": name, "path": "/usr/bin/ping", "record": true,
                    "subject_kind": "group", "subject_name": "staff", "workstation": ws
                })),
            )
            .await;
        assert_eq!(status, StatusCode::OK, "{body}");
    }
    let at = now_millis();
    let req = || signed(&key, &id, "GET", "/api/v1/agent/policies", at, b"");
    let (status, body) = f.send(req(), None).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let v: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(v["revision"], 2);
    let names: Vec<&str> = v["policies"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["ping"]);

    // The same request again is a replay.
    let (status, body) = f.send(req(), None).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "{body}");
    assert!(body.contains("replay"), "{body}");
    // Signed by another key, for another path, too old, or not signed at all.
    let cases = [
        (
            signed(
                &other,
                &id,
                "GET",
                "/api/v1/agent/policies",
                now_millis(),
                b"",
            ),
            "does not match",
        ),
        (
            signed(&key, &id, "GET", "/api/v1/agent/status", now_millis(), b"")
                .uri("/api/v1/agent/policies"),
            "does not match",
        ),
        (
            signed(
                &key,
                &id,
                "GET",
                "/api/v1/agent/policies",
                now_millis() - 10 * 60 * 1000,
                b"",
            ),
            "clock",
        ),
        (
            signed(
                &key,
                "no-such-agent",
                "GET",
                "/api/v1/agent/policies",
                now_millis(),
                b"",
            ),
            "enrol it again",
        ),
        (
            Request::builder()
                .method("GET")
                .uri("/api/v1/agent/policies"),
            "Vigil-Agent",
        ),
    ];
    for (req, says) in cases {
        let (status, body) = f.send(req, None).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED, "{body}");
        assert!(body.contains(says), "{says}: {body}");
    }

    // Evidence: the administration log has the whole story.
    let actions: Vec<String> = f
        .store
        .audit_entries(50)
        .await
        .unwrap()
        .into_iter()
        .map(|e| e.action)
        .collect();
    for kind in [
        "agent_token_created",
        "agent_enrolled",
        "agent_approved",
        "agent_policy_added",
    ] {
        assert!(actions.iter().any(|a| a == kind), "{kind} in {actions:?}");
    }
}
