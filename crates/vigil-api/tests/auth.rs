#![allow(
    unreachable_pub,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic
)]
//! Sign-in: cookie flags, CSRF on state-changing requests, rate limits, TOTP, sign-out.

mod common;

use axum::http::{Method, Request, StatusCode, header};
use common::{Fixture, PASSWORD};

async fn login(
    f: &Fixture,
    user: &str,
    password: &str,
    totp: Option<&str>,
) -> (StatusCode, String, Option<String>) {
    let req = Request::builder()
        .method(Method::POST)
        .uri("/api/v1/auth/login");
    let body = serde_json::json!({ "username": user, "password": password, "totp": totp });
    let response = {
        use tower::ServiceExt;
        let req = req
            .header(header::CONTENT_TYPE, "application/json")
            .body(axum::body::Body::from(body.to_string()))
            .unwrap();
        f.app.clone().oneshot(req).await.unwrap()
    };
    let status = response.status();
    let cookie = response
        .headers()
        .get(header::SET_COOKIE)
        .map(|v| v.to_str().unwrap().to_owned());
    let bytes = axum::body::to_bytes(response.into_body(), 1 << 20)
        .await
        .unwrap();
    (status, String::from_utf8_lossy(&bytes).into_owned(), cookie)
}

fn cookie_pair(set_cookie: &str) -> String {
    set_cookie.split(';').next().unwrap().to_owned()
}

#[tokio::test]
async fn browser_sessions_need_the_csrf_token_to_change_anything() {
    let f = Fixture::new().await;
    let (status, body, cookie) = login(&f, "admin", PASSWORD, None).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let set_cookie = cookie.unwrap();
    for flag in ["HttpOnly", "SameSite=Strict", "Path=/"] {
        assert!(set_cookie.contains(flag), "{set_cookie}");
    }
    let me: serde_json::Value = serde_json::from_str(&body).unwrap();
    let csrf = me["csrf_token"].as_str().unwrap().to_owned();
    assert!(
        me["permissions"]
            .as_array()
            .unwrap()
            .iter()
            .any(|p| p == "PAM.SessionManagement.Livestream")
    );
    let pair = cookie_pair(&set_cookie);
    let req = |m: Method, path: &str| {
        Request::builder()
            .method(m)
            .uri(path)
            .header(header::COOKIE, pair.clone())
    };
    let (s, _) = f.send(req(Method::GET, "/api/v1/auth/me"), None).await;
    assert_eq!(s, StatusCode::OK, "reading needs no token");
    let reason = serde_json::json!({ "reason": "legal hold" });
    let path = format!("/api/v1/sessions/{}/prevent-purge", f.session_id);
    let (s, body) = f.send(req(Method::PUT, &path), Some(reason.clone())).await;
    assert_eq!(s, StatusCode::FORBIDDEN, "{body}");
    assert!(body.contains("X-CSRF-Token"));
    let (s, _) = f
        .send(
            req(Method::PUT, &path).header("x-csrf-token", "forged"),
            Some(reason.clone()),
        )
        .await;
    assert_eq!(s, StatusCode::FORBIDDEN);
    let (s, body) = f
        .send(
            req(Method::PUT, &path).header("x-csrf-token", &csrf),
            Some(reason),
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{body}");
    // Sign-out ends the cookie.
    let (s, _) = f
        .send(
            req(Method::POST, "/api/v1/auth/logout").header("x-csrf-token", &csrf),
            None,
        )
        .await;
    assert_eq!(s, StatusCode::OK);
    let (s, _) = f.send(req(Method::GET, "/api/v1/auth/me"), None).await;
    assert_eq!(s, StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn failed_sign_ins_are_limited_and_audited() {
    let f = Fixture::new().await;
    for _ in 0..5 {
        let (s, body, _) = login(&f, "auditor", "wrong", None).await;
        assert_eq!(s, StatusCode::UNAUTHORIZED);
        assert!(body.contains("wrong user name or password"));
    }
    let (s, body, _) = login(&f, "auditor", PASSWORD, None).await;
    assert_eq!(
        s,
        StatusCode::TOO_MANY_REQUESTS,
        "even the right password waits: {body}"
    );
    // The address is limited too (every request here comes from the same one).
    let (s, _, _) = login(&f, "admin", PASSWORD, None).await;
    assert_eq!(s, StatusCode::TOO_MANY_REQUESTS);
    let failed = f.store.audit_entries(100).await.unwrap();
    assert_eq!(
        failed
            .iter()
            .filter(|e| e.action == "console_login_failed")
            .count(),
        5
    );
    assert!(failed.iter().any(|e| e.action == "console_login_blocked"));
    let (s, body, _) = login(&f, "nobody-at-all", "x", None).await;
    assert!(
        s == StatusCode::TOO_MANY_REQUESTS || body.contains("wrong user name or password"),
        "unknown users look like wrong passwords"
    );
}

#[tokio::test]
async fn ssh_and_console_failures_count_together_and_an_administrator_clears_them() {
    use common::Who;
    let f = Fixture::new().await;
    let admin = Who::User {
        name: "admin".into(),
        role: vigil_core::Role::PamAdministrator,
    };
    // Three failures over SSH (the gateway counts them in the hub's limiter), two here.
    let ssh_keys = ["user:auditor".to_string(), "addr:10.9.8.7".to_string()];
    for _ in 0..3 {
        f.hub.sign_ins().failed(&ssh_keys);
    }
    for _ in 0..2 {
        assert_eq!(
            login(&f, "auditor", "wrong", None).await.0,
            StatusCode::UNAUTHORIZED
        );
    }
    assert_eq!(
        login(&f, "auditor", PASSWORD, None).await.0,
        StatusCode::TOO_MANY_REQUESTS,
        "five failures across SSH and the console block the console"
    );
    assert!(
        f.hub.sign_ins().blocked(&ssh_keys[..1]).is_some(),
        "and SSH, which asks the same limiter"
    );
    let (s, body) = f
        .call(&admin, Method::GET, "/api/v1/sign-in-limits", None)
        .await;
    assert_eq!(s, StatusCode::OK, "{body}");
    let v: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(v["max_failures"], 5);
    let listed = v["limited"].as_array().unwrap();
    assert_eq!(listed[0]["key"], "user:auditor", "blocked first: {v}");
    assert_eq!(listed[0]["failures"], 5);
    assert!(
        listed
            .iter()
            .any(|l| l["key"] == "addr:10.9.8.7" && l["failures"] == 3)
    );
    // Cleared: the right password works at once; the clearing is audited.
    let (s, body) = f
        .call(
            &admin,
            Method::DELETE,
            "/api/v1/sign-in-limits/user:auditor",
            None,
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{body}");
    // The in-process client has no address ("unknown"): its two console failures are
    // listed, under the limit, and may be cleared too.
    let (s, _) = f
        .call(
            &admin,
            Method::DELETE,
            "/api/v1/sign-in-limits/addr%3Aunknown",
            None,
        )
        .await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(login(&f, "auditor", PASSWORD, None).await.0, StatusCode::OK);
    let entries = f.store.audit_entries(100).await.unwrap();
    let cleared = entries
        .iter()
        .find(|e| e.action == "sign_in_limit_cleared" && e.subject == "user:auditor")
        .unwrap();
    assert_eq!(
        (cleared.actor.as_str(), cleared.subject.as_str()),
        ("admin", "user:auditor")
    );
    assert!(
        cleared.detail.contains("\"failures\":5"),
        "{}",
        cleared.detail
    );
    // Nothing to clear, or not a limit's key: said so.
    let (s, _) = f
        .call(
            &admin,
            Method::DELETE,
            "/api/v1/sign-in-limits/user:auditor",
            None,
        )
        .await;
    assert_eq!(s, StatusCode::NOT_FOUND);
    let (s, body) = f
        .call(
            &admin,
            Method::DELETE,
            "/api/v1/sign-in-limits/auditor",
            None,
        )
        .await;
    assert_eq!(s, StatusCode::BAD_REQUEST, "{body}");
    assert!(body.contains("user:NAME or addr:IP"), "{body}");
}

#[tokio::test]
async fn totp_is_asked_for_when_enrolled() {
    let f = Fixture::new().await;
    let secret = vigil_vault::new_totp_secret();
    f.store
        .set_user_totp("operator", Some(&secret))
        .await
        .unwrap();
    let (s, body, cookie) = login(&f, "operator", PASSWORD, None).await;
    assert_eq!(s, StatusCode::UNAUTHORIZED);
    assert!(
        body.contains("\"totp_required\":true") && cookie.is_none(),
        "{body}"
    );
    let (s, _, _) = login(&f, "operator", PASSWORD, Some("000000")).await;
    assert_eq!(s, StatusCode::UNAUTHORIZED);
    let code = vigil_vault::current_totp(&secret).unwrap();
    let (s, body, cookie) = login(&f, "operator", PASSWORD, Some(&code)).await;
    assert_eq!(s, StatusCode::OK, "{body}");
    assert!(cookie.is_some());
}

#[tokio::test]
async fn disabled_users_lose_their_sessions_and_tokens() {
    let f = Fixture::new().await;
    let (_, _, cookie) = login(&f, "auditor", PASSWORD, None).await;
    let pair = cookie_pair(&cookie.unwrap());
    f.store.set_user_disabled("auditor", true).await.unwrap();
    let req = Request::builder()
        .uri("/api/v1/auth/me")
        .header(header::COOKIE, pair);
    let (s, _) = f.send(req, None).await;
    assert_eq!(s, StatusCode::UNAUTHORIZED);
    let who = common::Who::User {
        name: "auditor".into(),
        role: vigil_core::Role::PamAuditor,
    };
    let (s, _) = f.call(&who, Method::GET, "/api/v1/sessions", None).await;
    assert_eq!(s, StatusCode::UNAUTHORIZED);
    let (s, _, _) = login(&f, "auditor", PASSWORD, None).await;
    assert_eq!(s, StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn credentials_are_write_only_and_the_openapi_lists_every_route() {
    let f = Fixture::new().await;
    let admin = common::Who::User {
        name: "admin".into(),
        role: vigil_core::Role::PamAdministrator,
    };
    let (s, body) = f
        .call(
            &admin,
            Method::POST,
            "/api/v1/targets/web01/logins",
            Some(serde_json::json!({ "login": "deploy", "password": "canary-7f3a9" })),
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{body}");
    let (_, list) = f.call(&admin, Method::GET, "/api/v1/targets", None).await;
    assert!(
        list.contains("deploy") && !list.contains("canary-7f3a9") && !list.contains("target-pw"),
        "{list}"
    );
    // Elevation passwords are write-only too; a null removes one, a bad mode is refused.
    let (s, body) = f
        .call(
            &admin,
            Method::PUT,
            "/api/v1/targets/web01/logins/deploy/elevation",
            Some(serde_json::json!({ "sudo_inject": "on-demand", "su_password": "su-canary-51" })),
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{body}");
    let v: serde_json::Value = serde_json::from_str(&body).unwrap();
    let deploy = v["logins"]
        .as_array()
        .unwrap()
        .iter()
        .find(|l| l["login"] == "deploy")
        .unwrap()
        .clone();
    assert_eq!(deploy["sudo_inject"], "on-demand");
    assert_eq!(
        (
            deploy["sudo_password"].as_bool(),
            deploy["su_password"].as_bool()
        ),
        (Some(false), Some(true))
    );
    assert!(!body.contains("su-canary-51"), "{body}");
    let (s, body) = f
        .call(
            &admin,
            Method::PUT,
            "/api/v1/targets/web01/logins/deploy/elevation",
            Some(serde_json::json!({ "su_password": null })),
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{body}");
    assert!(
        body.contains("\"su_password\":false") && body.contains("on-demand"),
        "{body}"
    );
    let (s, body) = f
        .call(
            &admin,
            Method::PUT,
            "/api/v1/targets/web01/logins/deploy/elevation",
            Some(serde_json::json!({ "sudo_inject": "always" })),
        )
        .await;
    assert_eq!(s, StatusCode::BAD_REQUEST, "{body}");
    assert!(body.contains("off, start or on-demand"), "{body}");
    let (s, doc) = f
        .call(
            &common::Who::Nobody,
            Method::GET,
            "/api/v1/openapi.json",
            None,
        )
        .await;
    assert_eq!(s, StatusCode::OK);
    let doc: serde_json::Value = serde_json::from_str(&doc).unwrap();
    for route in vigil_api::ROUTES {
        assert!(
            doc["paths"][route.path][route.method.to_lowercase()].is_object(),
            "{} {}",
            route.method,
            route.path
        );
    }
}

#[tokio::test]
async fn transfer_policies_are_set_shown_and_cleared_per_target_and_login() {
    let f = Fixture::new().await;
    let admin = common::Who::User {
        name: "admin".into(),
        role: vigil_core::Role::PamAdministrator,
    };
    let path = "/api/v1/targets/web01/transfer-policy";
    let (s, body) = f.call(&admin, Method::GET, path, None).await;
    assert_eq!(s, StatusCode::OK, "{body}");
    let v: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert!(
        v["policy"].is_null() && v["effective"]["upload"] == "allow",
        "{body}"
    );
    let (s, body) = f
        .call(
            &admin,
            Method::PUT,
            path,
            Some(serde_json::json!({ "download": "deny", "deny_extensions": [".EXE"], "max_size": 1048576 })),
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{body}");
    let v: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(v["policy"]["download"], "deny");
    assert_eq!(v["effective"]["deny_extensions"][0], "exe");
    // A value that cannot be used, or a key nobody knows, is refused and named.
    for (bad, says) in [
        (serde_json::json!({ "deny_sha256": ["abc"] }), "deny_sha256"),
        (serde_json::json!({ "uplod": "deny" }), "uplod"),
        (serde_json::json!({ "upload": "maybe" }), "maybe"),
    ] {
        let (s, body) = f.call(&admin, Method::PUT, path, Some(bad)).await;
        assert!(
            s == StatusCode::BAD_REQUEST || s == StatusCode::UNPROCESSABLE_ENTITY,
            "{s} {body}"
        );
        assert!(body.contains(says), "{body}");
    }
    // A login's view shows the target's policy as what its sessions run under.
    let (s, body) = f
        .call(&admin, Method::GET, &format!("{path}?login=root"), None)
        .await;
    assert_eq!(s, StatusCode::OK, "{body}");
    let v: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert!(v["policy"].is_null(), "{body}");
    assert_eq!(v["effective"]["download"], "deny");
    let (s, body) = f.call(&admin, Method::DELETE, path, None).await;
    assert_eq!(s, StatusCode::OK, "{body}");
    let (s, _) = f.call(&admin, Method::DELETE, path, None).await;
    assert_eq!(s, StatusCode::NOT_FOUND);
    let (_, audit) = f.call(&admin, Method::GET, "/api/v1/audit", None).await;
    assert!(
        audit.contains("transfer_policy_set") && audit.contains("transfer_policy_cleared"),
        "{audit}"
    );
}
