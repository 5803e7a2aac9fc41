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

/// An enrolled, approved workstation `host` with its agent's key and id.
async fn approved(f: &Fixture, host: &str) -> (AgentKey, String) {
    let key = AgentKey::generate();
    let t = token(f).await;
    let (status, body) = f
        .call(
            &Who::Nobody,
            Method::POST,
            "/api/v1/agent/enrol",
            Some(serde_json::json!({
                "token": t, "host_name": host, "machine_id": "0abc", "public_key": key.public().to_text()
            })),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let id = serde_json::from_str::<serde_json::Value>(&body).unwrap()["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let (status, body) = f
        .call(
            &admin(),
            Method::POST,
            &format!("/api/v1/agents/{host}/approve"),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    (key, id)
}

/// Sends `body` signed by the agent; returns the status and the answer as JSON (or text).
async fn agent_call(
    f: &Fixture,
    (key, id): &(AgentKey, String),
    method: &str,
    path: &str,
    body: &[u8],
) -> (StatusCode, serde_json::Value) {
    let req = signed(key, id, method, path, now_millis(), body);
    let response = tower::ServiceExt::oneshot(
        f.app.clone(),
        req.body(axum::body::Body::from(body.to_vec())).unwrap(),
    )
    .await
    .unwrap();
    let status = response.status();
    let bytes = axum::body::to_bytes(response.into_body(), 1 << 20)
        .await
        .unwrap();
    let v = serde_json::from_slice(&bytes)
        .unwrap_or_else(|_| serde_json::Value::String(String::from_utf8_lossy(&bytes).into()));
    (status, v)
}

fn sha256_hex(bytes: &[u8]) -> String {
    use sha2::Digest;
    sha2::Sha256::digest(bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

#[tokio::test]
async fn a_recorded_run_is_uploaded_in_resumable_parts_and_becomes_a_session_with_its_recording() {
    let f = Fixture::new().await;
    f.hub.set_upload_dir(f.dir.path().join("uploads"));
    let agent = approved(&f, "ws01").await;
    let run_id = uuid::Uuid::new_v4().to_string();
    let report = serde_json::json!({
        "id": run_id, "user": "operator", "uid": 1000, "primary_group": "staff",
        "program": "/usr/bin/ping", "real_path": "/usr/lib/vigil/orig/usr/bin/ping",
        "argv": ["ping", "-c", "1", "localhost"], "cwd": "/home/operator", "tty": "/dev/pts/3",
        "started_at": 1_000, "ended_at": 2_000, "exit_status": 0, "record": true, "policies": ["ping"]
    });
    let (status, run) = agent_call(
        &f,
        &agent,
        "POST",
        "/api/v1/agent/runs",
        report.to_string().as_bytes(),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{run}");
    let session = run["session_id"].as_str().unwrap().to_owned();
    // Sent again (the agent did not hear the answer): the same run. A millisecond later at
    // least: the same request signed in the same millisecond is a replay.
    tokio::time::sleep(std::time::Duration::from_millis(2)).await;
    let (status, again) = agent_call(
        &f,
        &agent,
        "POST",
        "/api/v1/agent/runs",
        report.to_string().as_bytes(),
    )
    .await;
    assert_eq!(
        (status, &again["session_id"]),
        (StatusCode::OK, &run["session_id"])
    );

    let output = b"{\"version\":3,\"term\":{\"cols\":80,\"rows\":24}}\n[0.0, \"o\", \"PING localhost\\r\\n\"]\n[0.5, \"o\", \"1 packets transmitted\\r\\n\"]\n[0.0, \"x\", \"0\"]\n".to_vec();
    let input =
        b"{\"version\":3,\"term\":{\"cols\":80,\"rows\":24}}\n[0.2, \"i\", \"q\"]\n".to_vec();
    let output = zstd::encode_all(&output[..], 3).unwrap();
    let base = format!("/api/v1/agent/runs/{run_id}");
    let (first, rest) = output.split_at(output.len() / 2);
    let (status, v) =
        agent_call(&f, &agent, "PUT", &format!("{base}/output?offset=0"), first).await;
    assert_eq!(
        (status, v["received"].as_u64()),
        (StatusCode::OK, Some(first.len() as u64))
    );
    // A part from the wrong place says where to resume; the run says it too.
    let (status, v) = agent_call(&f, &agent, "PUT", &format!("{base}/output?offset=0"), rest).await;
    assert_eq!(status, StatusCode::CONFLICT, "{v}");
    assert!(
        v["error"]
            .as_str()
            .unwrap()
            .contains(&format!("send from offset {}", first.len())),
        "{v}"
    );
    let (_, state) = agent_call(&f, &agent, "GET", &base, b"").await;
    assert_eq!(
        state["uploads"][0]["received"].as_u64(),
        Some(first.len() as u64)
    );
    let at = first.len();
    let (status, _) = agent_call(
        &f,
        &agent,
        "PUT",
        &format!("{base}/output?offset={at}"),
        rest,
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    // A wrong digest drops the copy: everything again from 0.
    let wrong = serde_json::json!({ "size": output.len(), "sha256": "00".repeat(32) });
    let (status, v) = agent_call(
        &f,
        &agent,
        "POST",
        &format!("{base}/output/finish"),
        wrong.to_string().as_bytes(),
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{v}");
    let (status, _) = agent_call(
        &f,
        &agent,
        "PUT",
        &format!("{base}/output?offset=0"),
        &output,
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    let whole =
        |b: &[u8]| serde_json::json!({ "size": b.len(), "sha256": sha256_hex(b) }).to_string();
    let (status, v) = agent_call(
        &f,
        &agent,
        "POST",
        &format!("{base}/output/finish"),
        whole(&output).as_bytes(),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{v}");
    assert!(
        v["completed_at"].is_null(),
        "the input is still missing: {v}"
    );
    // Another workstation cannot touch the run.
    let stranger = approved(&f, "ws02").await;
    let (status, _) = agent_call(
        &f,
        &stranger,
        "PUT",
        &format!("{base}/input?offset=0"),
        &input,
    )
    .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (status, _) =
        agent_call(&f, &agent, "PUT", &format!("{base}/input?offset=0"), &input).await;
    assert_eq!(status, StatusCode::OK);
    // A copy left by an earlier attempt that failed before its commit is replaced.
    let mut stale = f.hub.recordings().create_live(&session).await.unwrap();
    stale
        .append(b"not a recording".to_vec().into())
        .await
        .unwrap();
    stale.finish().await.unwrap();
    let (status, v) = agent_call(
        &f,
        &agent,
        "POST",
        &format!("{base}/input/finish"),
        whole(&input).as_bytes(),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{v}");
    assert!(v["completed_at"].is_i64(), "{v}");
    assert!(
        std::fs::read_dir(f.dir.path().join("uploads"))
            .unwrap()
            .next()
            .is_none(),
        "staged copies removed"
    );

    // The session: endpoint, the workstation as target, its log and its merged recording.
    let (status, body) = f
        .call(
            &admin(),
            Method::GET,
            &format!("/api/v1/sessions/{session}"),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let s: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(
        (s["protocol"].as_str(), s["target_name"].as_str()),
        (Some("endpoint"), Some("ws01")),
        "{s}"
    );
    let (_, events) = f
        .call(
            &admin(),
            Method::GET,
            &format!("/api/v1/sessions/{session}/events"),
            None,
        )
        .await;
    assert!(
        events.contains("endpoint_run") && events.contains("endpoint_uploaded"),
        "{events}"
    );
    assert!(events.contains("known_user\\\":true"), "{events}");
    let (status, cast) = f
        .call(
            &admin(),
            Method::GET,
            &format!("/api/v1/sessions/{session}/recording?purpose=download"),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{cast}");
    let lines: Vec<&str> = cast.lines().collect();
    assert!(
        lines[1].contains("PING localhost")
            && lines[2].contains("\"i\"")
            && lines[3].contains("packets"),
        "{cast}"
    );
}

#[tokio::test]
async fn an_audit_only_run_is_a_session_at_once_and_an_unknown_user_is_kept_flagged() {
    let f = Fixture::new().await;
    let agent = approved(&f, "ws01").await;
    let run_id = uuid::Uuid::new_v4().to_string();
    let report = serde_json::json!({
        "id": run_id, "user": "nobody-here", "uid": 1001, "primary_group": "staff",
        "program": "/usr/bin/id", "argv": ["id"], "cwd": "/", "started_at": 5, "ended_at": 6,
        "exit_status": 1, "record": false, "policies": ["audit-id"]
    });
    let (status, run) = agent_call(
        &f,
        &agent,
        "POST",
        "/api/v1/agent/runs",
        report.to_string().as_bytes(),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{run}");
    assert!(
        run["completed_at"].is_i64() && run["uploads"].as_array().unwrap().is_empty(),
        "{run}"
    );
    let session = run["session_id"].as_str().unwrap();
    let (_, events) = f
        .call(
            &admin(),
            Method::GET,
            &format!("/api/v1/sessions/{session}/events"),
            None,
        )
        .await;
    assert!(events.contains("known_user\\\":false"), "{events}");
    // A report that makes no sense is refused, saying what is wrong.
    let bad = serde_json::json!({
        "id": "not-a-uuid", "user": "x", "uid": 1, "primary_group": "g", "program": "/bin/x",
        "argv": ["x"], "cwd": "/", "started_at": 5, "ended_at": 6, "record": false, "policies": []
    });
    let (status, v) = agent_call(
        &f,
        &agent,
        "POST",
        "/api/v1/agent/runs",
        bad.to_string().as_bytes(),
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{v}");
    assert!(v["error"].as_str().unwrap().contains("UUID"), "{v}");
}
