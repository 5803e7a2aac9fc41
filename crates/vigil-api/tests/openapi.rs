//! The OpenAPI document says what each route reads: every POST, PUT and PATCH route has a
//! request body schema generated from its handler's type, or is listed here as reading none.

use vigil_api::{ROUTES, openapi};

/// Routes that change something without reading a body (the path says everything).
const NO_BODY: &[(&str, &str)] = &[
    ("POST", "/api/v1/auth/logout"),
    ("POST", "/api/v1/sessions/{id}/terminate"),
    ("POST", "/api/v1/sessions/{id}/lock"),
    ("POST", "/api/v1/sessions/{id}/unlock"),
    ("POST", "/api/v1/users/{name}/release"),
    ("POST", "/api/v1/users/{name}/totp"),
    ("POST", "/api/v1/agents/{host}/approve"),
];

#[test]
fn every_route_that_changes_something_says_what_it_reads() {
    let doc = openapi();
    for route in ROUTES {
        if !["POST", "PUT", "PATCH"].contains(&route.method) {
            continue;
        }
        let op = &doc["paths"][route.path][route.method.to_lowercase()];
        let listed = NO_BODY.contains(&(route.method, route.path));
        assert_eq!(
            op["requestBody"].is_object(),
            !listed,
            "{} {}: a body schema in request_body, or listed in NO_BODY",
            route.method,
            route.path
        );
    }
    for (method, path) in NO_BODY {
        assert!(
            ROUTES
                .iter()
                .any(|r| r.method == *method && r.path == *path),
            "{method} {path} in NO_BODY is not a route"
        );
    }
}

#[test]
fn body_schemas_follow_the_handlers_types() {
    let doc = openapi();
    let body = |method: &str, path: &str| {
        doc["paths"][path][method]["requestBody"]["content"]["application/json"]["schema"].clone()
    };
    let login = body("post", "/api/v1/auth/login");
    assert_eq!(login["type"], "object", "{login:#}");
    assert_eq!(
        login["required"],
        serde_json::json!(["username", "password"])
    );
    let policy = body("put", "/api/v1/targets/{name}/transfer-policy");
    assert_eq!(
        policy["additionalProperties"], false,
        "deny_unknown_fields: {policy:#}"
    );
    assert_eq!(
        policy["properties"]["upload"]["enum"],
        serde_json::json!(["allow", "deny"]),
        "{policy:#}"
    );
    // Strings that take one of a few names say which, and stay optional where they were.
    let names = |method: &str, path: &str, field: &str| {
        let schema = body(method, path);
        (
            schema["properties"][field]["enum"].clone(),
            schema["required"]
                .as_array()
                .is_some_and(|r| r.iter().any(|f| f == field)),
        )
    };
    let roles = serde_json::json!([
        "pam-administrator",
        "pam-auditor",
        "system-administrator",
        "operator"
    ]);
    assert_eq!(
        names("post", "/api/v1/users", "role"),
        (roles.clone(), true)
    );
    assert_eq!(
        names("patch", "/api/v1/users/{name}", "role"),
        (roles, false)
    );
    assert_eq!(
        names("post", "/api/v1/rules", "kind"),
        (serde_json::json!(["regex", "command", "class"]), false)
    );
    assert_eq!(
        names("patch", "/api/v1/rules/{name}", "action"),
        (
            serde_json::json!(["alert", "prohibit", "interrupt", "deactivate"]),
            false
        )
    );
    assert_eq!(
        names(
            "put",
            "/api/v1/targets/{name}/logins/{login}/elevation",
            "sudo_inject"
        ),
        (serde_json::json!(["off", "start", "on-demand"]), false)
    );
    assert_eq!(
        names("post", "/api/v1/agent-policies", "subject_kind"),
        (serde_json::json!(["user", "group"]), true)
    );
    // Nothing refers outside the schema: OpenAPI would resolve it from the document root.
    assert!(!doc.to_string().contains("$ref"), "a $ref in the document");
}

#[test]
fn names_are_described_by_the_rule_the_store_applies() {
    let doc = openapi();
    for (method, path) in [
        ("post", "/api/v1/users"),
        ("post", "/api/v1/targets"),
        ("post", "/api/v1/rules"),
        ("post", "/api/v1/tokens"),
    ] {
        let name = &doc["paths"][path][method]["requestBody"]["content"]["application/json"]["schema"]
            ["properties"]["name"];
        assert_eq!(
            name["pattern"],
            vigil_store::NAME_PATTERN,
            "{method} {path}"
        );
    }
    let pattern = regex::Regex::new(vigil_store::NAME_PATTERN).unwrap();
    let long = "a".repeat(64);
    let too_long = "a".repeat(65);
    for name in [
        "alice",
        "web-01",
        "db_2.prod",
        "A",
        &long,
        &too_long,
        "",
        "a b",
        "a:b",
        "a@b",
        "é",
        "a/b",
        "a\n",
        "-",
        "..",
    ] {
        assert_eq!(
            pattern.is_match(name),
            vigil_store::valid_name(name),
            "{name:?}"
        );
    }
}
