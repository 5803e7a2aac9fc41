//! The OpenAPI 3.1 document of a route table (`routes::ROUTES`): paths, who may call each, and the JSON body each
//! route reads, its schema generated from the type the handler deserializes (so the document
//! cannot say one thing while the handler takes another, and schemathesis, `scripts/api-fuzz`,
//! gets past input validation into the handlers).
//!
//! What it is not: a description of answers (every route says 200, 401, 403), nor of query
//! strings (they are in each route's summary).

use schemars::JsonSchema;
use schemars::generate::SchemaSettings;

use crate::route::{Access::*, Route};
use crate::{agent_api, agent_runs, agents, auth, rules, sessions, targets, users};

/// The schema of `T` as read from a request: every nested type inlined (OpenAPI resolves
/// `$ref` from the document's root, not the schema's), no meta-schema line.
fn schema<T: JsonSchema>() -> serde_json::Value {
    let mut settings = SchemaSettings::draft2020_12();
    settings.inline_subschemas = true;
    settings.meta_schema = None;
    settings
        .into_generator()
        .into_root_schema_for::<T>()
        .to_value()
}

fn json<T: JsonSchema>() -> serde_json::Value {
    serde_json::json!({
        "required": true,
        "content": { "application/json": { "schema": schema::<T>() } },
    })
}

/// The body `method path` reads, when it reads one.
fn request_body(method: &str, path: &str) -> Option<serde_json::Value> {
    Some(match (method, path) {
        ("POST", "/api/v1/auth/login") => json::<auth::LoginRequest>(),
        ("PUT", "/api/v1/sessions/{id}/prevent-purge") => json::<sessions::PreventPurgeRequest>(),
        ("PUT", "/api/v1/sessions/{id}/auditors") => json::<sessions::AuditorsRequest>(),
        ("POST", "/api/v1/users") => json::<users::CreateUser>(),
        ("PATCH", "/api/v1/users/{name}") => json::<users::EditUser>(),
        ("POST", "/api/v1/users/{name}/keys") => json::<users::AddKey>(),
        ("POST", "/api/v1/tokens") => json::<users::CreateToken>(),
        ("POST", "/api/v1/rules") | ("PATCH", "/api/v1/rules/{name}") => json::<rules::RuleBody>(),
        ("POST", "/api/v1/targets") => json::<targets::CreateTarget>(),
        ("PATCH", "/api/v1/targets/{name}") => json::<targets::EditTarget>(),
        ("POST", "/api/v1/targets/{name}/logins") => json::<targets::CreateLogin>(),
        ("PUT", "/api/v1/targets/{name}/logins/{login}") => json::<targets::Credential>(),
        ("PUT", "/api/v1/targets/{name}/logins/{login}/elevation") => json::<targets::Elevation>(),
        ("PUT", "/api/v1/targets/{name}/transfer-policy") => json::<vigil_core::TransferPolicy>(),
        ("POST", "/api/v1/grants") => json::<targets::CreateGrant>(),
        ("POST", "/api/v1/agents/tokens") => json::<agents::TokenRequest>(),
        ("POST", "/api/v1/agent-policies") => json::<agents::NewPolicy>(),
        ("PATCH", "/api/v1/agent-policies/{name}") => json::<agents::PolicyChange>(),
        ("POST", "/api/v1/agent/enrol") => json::<agent_api::EnrolRequest>(),
        ("POST", "/api/v1/agent/alerts") => json::<agent_api::AlertRequest>(),
        ("POST", "/api/v1/agent/runs") => json::<vigil_core::RunReport>(),
        ("POST", "/api/v1/agent/runs/{run}/{object}/finish") => json::<agent_runs::Whole>(),
        ("PUT", "/api/v1/agent/runs/{run}/{object}") => serde_json::json!({
            "required": true,
            "content": { "application/octet-stream": {
                "schema": { "type": "string", "format": "binary" } } },
        }),
        _ => return None,
    })
}

/// The OpenAPI 3.1 document of `routes`.
pub(crate) fn document(routes: &[Route]) -> serde_json::Value {
    let mut paths = serde_json::Map::new();
    for route in routes {
        let params: Vec<serde_json::Value> = route
            .path
            .split('/')
            .filter_map(|seg| seg.strip_prefix('{').and_then(|s| s.strip_suffix('}')))
            .map(|name| serde_json::json!({ "name": name, "in": "path", "required": true, "schema": { "type": "string" } }))
            .collect();
        let access = match route.access {
            Public => "public".to_owned(),
            SignedIn => "any signed-in user".to_owned(),
            Permission(p) => p.name().to_owned(),
            SessionOrAuditor(p) => format!("{} or assigned auditor of the session", p.name()),
            PermissionOrSelf(p) => format!("{} or the user themselves", p.name()),
            Node => "another node of the cluster: Authorization: Vigil-Node at=UNIX_MS, sig=BASE64, node=BASE64URL(NAME) (Ed25519 by the node's registered recording key over \"vigil-node-v1\\nFROM\\nTO\\nMETHOD\\nPATH?QUERY\\nAT\"), over TLS pinned to the certificate the serving node registered".to_owned(),
            Agent => "a workstation's enrolled agent: Authorization: Vigil-Agent id=ID, at=UNIX_MS, sig=BASE64 (Ed25519 over \"vigil-agent-v1\\nMETHOD\\nPATH?QUERY\\nAT\\nSHA256(BODY) hex\")".to_owned(),
        };
        let mut op = serde_json::json!({
            "summary": route.summary,
            "description": format!("Access: {access}."),
            "parameters": params,
            "security": match route.access {
                Public => serde_json::json!([]),
                Agent => serde_json::json!([{ "agent": [] }]),
                Node => serde_json::json!([{ "node": [] }]),
                _ => serde_json::json!([{ "cookie": [] }, { "bearer": [] }]),
            },
            "responses": {
                "200": { "description": "OK" },
                "401": { "description": "not signed in" },
                "403": { "description": "missing permission, or missing X-CSRF-Token on a browser request" },
            },
        });
        if let Some(body) = request_body(route.method, route.path) {
            op["requestBody"] = body;
        }
        let entry = paths
            .entry(route.path.to_owned())
            .or_insert_with(|| serde_json::json!({}));
        entry[route.method.to_lowercase()] = op;
    }
    serde_json::json!({
        "openapi": "3.1.0",
        "info": { "title": "Vigil API", "version": env!("CARGO_PKG_VERSION") },
        "components": { "securitySchemes": {
            "cookie": { "type": "apiKey", "in": "cookie", "name": crate::auth::COOKIE },
            "bearer": { "type": "http", "scheme": "bearer" },
            "agent": { "type": "http", "scheme": "Vigil-Agent" },
            "node": { "type": "http", "scheme": "Vigil-Node" },
        }},
        "paths": paths,
    })
}
