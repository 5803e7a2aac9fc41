#![allow(
    unreachable_pub,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic
)]
//! Every API route against every role, an assigned auditor and no sign-in: each answer must be
//! what `ROUTES` says (allowed, 403, or 401), and every route in the table must exist.

mod common;

use axum::http::{Method, StatusCode};
use common::{Fixture, Who};
use vigil_api::{Access, ROUTES};
use vigil_core::Role;

/// A body of the right shape for each route that takes one: the permission check runs after
/// the body is read, so a malformed body would hide a 403 behind a 422.
fn body_for(method: &str, path: &str, who: &str) -> Option<serde_json::Value> {
    use serde_json::json;
    Some(match (method, path) {
        ("POST", "/api/v1/auth/login") => json!({ "username": "nobody", "password": "x" }),
        ("POST", "/api/v1/users") => json!({ "name": format!("new-{who}"), "role": "operator" }),
        ("PATCH", "/api/v1/users/{name}") => json!({}),
        ("POST", "/api/v1/users/{name}/keys") => json!({ "public_key": "not a key" }),
        ("POST", "/api/v1/tokens") => json!({ "name": format!("matrix-{who}") }),
        ("POST", "/api/v1/targets") => {
            json!({ "name": format!("t-{who}"), "host": "127.0.0.1", "port": 22 })
        }
        ("PATCH", "/api/v1/targets/{name}") => json!({}),
        ("POST", "/api/v1/rules") => {
            json!({ "name": format!("r-{who}"), "kind": "command", "pattern": "shutdown" })
        }
        ("PATCH", "/api/v1/rules/{name}") => json!({}),
        ("POST", "/api/v1/targets/{name}/logins") => {
            json!({ "login": format!("l-{who}"), "password": "pw" })
        }
        ("PUT", "/api/v1/targets/{name}/logins/{login}") => json!({ "password": "rotated" }),
        ("PUT", "/api/v1/targets/{name}/logins/{login}/elevation") => json!({}),
        ("PUT", "/api/v1/targets/{name}/transfer-policy") => json!({}),
        ("POST", "/api/v1/grants") => json!({ "user": "nobody", "target": "web01" }),
        ("PUT", "/api/v1/sessions/{id}/prevent-purge") => json!({ "reason": "matrix" }),
        ("PUT", "/api/v1/sessions/{id}/auditors") => json!({ "users": ["assigned"] }),
        ("POST", "/api/v1/agents/tokens") => json!({}),
        ("POST", "/api/v1/agent-policies") => json!({
            "name": format!("p-{who}"), "path": "/usr/bin/ping", "subject_kind": "user", "subject_name": "alice"
        }),
        ("PATCH", "/api/v1/agent-policies/{name}") => json!({ "enabled": false }),
        ("POST", "/api/v1/agent/enrol") => json!({
            "token": "no-such-token", "host_name": "ws01", "machine_id": "00", "public_key": "ed25519:x"
        }),
        _ => return None,
    })
}

fn allowed(access: Access, who: &Who, path_user: &str) -> bool {
    match (access, who) {
        (Access::Public, _) => true,
        // Only an agent's signed request passes; no user is one.
        (Access::Agent, _) => false,
        // Only a peer node's signed request passes; no user is one.
        (Access::Node, _) => false,
        (_, Who::Nobody) => false,
        (Access::SignedIn, _) => true,
        (Access::Permission(p), Who::User { role, .. }) => role.allows(p),
        (Access::SessionOrAuditor(p), Who::User { role, name }) => {
            role.allows(p) || name == "assigned"
        }
        (Access::PermissionOrSelf(p), Who::User { role, name }) => {
            role.allows(p) || name == path_user
        }
    }
}

#[tokio::test]
async fn every_route_answers_every_caller_as_the_table_says() {
    let f = Fixture::new().await;
    let mut callers = vec![Who::Nobody];
    for (name, role) in common::USERS {
        callers.push(Who::User {
            name: name.into(),
            role,
        });
    }
    let path_user = "operator";
    let mut failures = Vec::new();
    for route in ROUTES {
        if route.path == "/api/v1/auth/login" {
            continue; // Public, and answers 401 to a wrong password: tested in auth.rs.
        }
        for who in &callers {
            let path = route
                .path
                .replace("{id}", &f.session_id)
                .replace(
                    "{name}",
                    if route.path.starts_with("/api/v1/targets") {
                        "web01"
                    } else {
                        path_user
                    },
                )
                .replace("{login}", "root")
                .replace("{host}", "ws01")
                .replace("{run}", "no-such-run")
                .replace("{object}", "output")
                .replace("{key}", "no-such-key")
                .replace("{event}", "1");
            let method = Method::from_bytes(route.method.as_bytes()).unwrap();
            let (status, body) = f
                .call(
                    who,
                    method,
                    &path,
                    body_for(route.method, route.path, who.label()),
                )
                .await;
            let want = allowed(route.access, who, path_user);
            let ok = match (want, who) {
                (_, Who::Nobody) if route.access != Access::Public => {
                    status == StatusCode::UNAUTHORIZED
                }
                (_, _) if matches!(route.access, Access::Agent | Access::Node) => {
                    status == StatusCode::UNAUTHORIZED
                }
                (true, _) => status != StatusCode::UNAUTHORIZED && status != StatusCode::FORBIDDEN,
                (false, _) => status == StatusCode::FORBIDDEN,
            };
            let missing =
                status == StatusCode::METHOD_NOT_ALLOWED || body.contains("no such API route");
            if !ok || missing {
                failures.push(format!(
                    "{} {} as {}: {status} {body}",
                    route.method,
                    path,
                    who.label()
                ));
            }
        }
    }
    assert!(
        failures.is_empty(),
        "{} answers differ from the table:\n{}",
        failures.len(),
        failures.join("\n")
    );
}

#[tokio::test]
async fn without_the_logs_permission_only_assigned_sessions_are_listed() {
    let f = Fixture::new().await;
    let other = f.closed_session("bob").await;
    let list = |who: Who| {
        let f = &f;
        async move {
            let (status, body) = f.call(&who, Method::GET, "/api/v1/sessions", None).await;
            assert_eq!(status, StatusCode::OK, "{body}");
            let v: serde_json::Value = serde_json::from_str(&body).unwrap();
            v["sessions"]
                .as_array()
                .unwrap()
                .iter()
                .map(|s| s["id"].as_str().unwrap().to_owned())
                .collect::<Vec<_>>()
        }
    };
    let assigned = list(Who::User {
        name: "assigned".into(),
        role: Role::Operator,
    })
    .await;
    assert_eq!(assigned, vec![f.session_id.clone()]);
    assert!(
        list(Who::User {
            name: "operator".into(),
            role: Role::Operator
        })
        .await
        .is_empty()
    );
    let auditor = list(Who::User {
        name: "auditor".into(),
        role: Role::PamAuditor,
    })
    .await;
    assert!(auditor.contains(&other) && auditor.contains(&f.session_id));
    // The assigned auditor may open that session and nothing else.
    let who = Who::User {
        name: "assigned".into(),
        role: Role::Operator,
    };
    let (s, _) = f
        .call(
            &who,
            Method::GET,
            &format!("/api/v1/sessions/{}/events", f.session_id),
            None,
        )
        .await;
    assert_eq!(s, StatusCode::OK);
    let (s, _) = f
        .call(
            &who,
            Method::GET,
            &format!("/api/v1/sessions/{other}/events"),
            None,
        )
        .await;
    assert_eq!(s, StatusCode::FORBIDDEN);
}

/// Regression (issue 9): lock, unlock and release were served by the router but missing from
/// the route table, so from the OpenAPI document and this matrix. The router is now built
/// from the table, so they cannot be served without being in both.
#[test]
fn lock_unlock_and_release_are_in_the_table_and_the_openapi_document() {
    let doc = vigil_api::openapi();
    for (method, path) in [
        ("POST", "/api/v1/sessions/{id}/lock"),
        ("POST", "/api/v1/sessions/{id}/unlock"),
        ("POST", "/api/v1/users/{name}/release"),
    ] {
        assert!(
            ROUTES.iter().any(|r| r.method == method && r.path == path),
            "{method} {path} is not in ROUTES"
        );
        assert!(
            doc["paths"][path][method.to_lowercase()].is_object(),
            "{method} {path} is not in the OpenAPI document"
        );
    }
}
