//! Every route, once: the router is built from handlers, and this table describes the same
//! routes for the OpenAPI document and for the permission-matrix test (which checks that each
//! route answers every role as the table says).

use vigil_core::Permission;

/// Who may call a route.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access {
    /// Anyone (sign-in, the OpenAPI document).
    Public,
    /// Any signed-in user (their own profile, tokens, second factor).
    SignedIn,
    /// Holders of the permission.
    Permission(Permission),
    /// Holders of the permission, and the users assigned to audit that session.
    SessionOrAuditor(Permission),
    /// Holders of the permission; a user may also act on themselves.
    PermissionOrSelf(Permission),
}

#[derive(Debug, Clone, Copy)]
pub struct Route {
    pub method: &'static str,
    pub path: &'static str,
    pub summary: &'static str,
    pub access: Access,
}

const fn r(
    method: &'static str,
    path: &'static str,
    summary: &'static str,
    access: Access,
) -> Route {
    Route {
        method,
        path,
        summary,
        access,
    }
}

use Access::*;
use Permission as P;

pub const ROUTES: &[Route] = &[
    r(
        "POST",
        "/api/v1/auth/login",
        "Sign in with user name, password and (when enrolled) a TOTP code; sets the session cookie and returns the CSRF token",
        Public,
    ),
    r("POST", "/api/v1/auth/logout", "Sign out", SignedIn),
    r(
        "GET",
        "/api/v1/auth/me",
        "Who is signed in, their role and permissions",
        SignedIn,
    ),
    r(
        "GET",
        "/api/v1/sessions",
        "Sessions, newest first; filters: status (active|finished), user, target, login, from, to (Unix ms), protocol, min_risk, node, q; page, per_page. Without PAM.SessionManagement.Logs only the sessions assigned to the caller",
        SignedIn,
    ),
    r(
        "GET",
        "/api/v1/sessions/{id}",
        "One session with its prevent-purge mark and auditors",
        SessionOrAuditor(P::SessionLogs),
    ),
    r(
        "GET",
        "/api/v1/sessions/{id}/events",
        "The session log",
        SessionOrAuditor(P::SessionLogs),
    ),
    r(
        "GET",
        "/api/v1/sessions/{id}/recording",
        "The recording (asciicast v3); purpose=play|download, both audited",
        SessionOrAuditor(P::SessionRecording),
    ),
    r(
        "GET",
        "/api/v1/sessions/{id}/live",
        "WebSocket: the current screen, then live output",
        SessionOrAuditor(P::SessionLivestream),
    ),
    r(
        "POST",
        "/api/v1/sessions/{id}/terminate",
        "End a live session; the operator sees \"You have been disconnected\"",
        Permission(P::SessionTerminate),
    ),
    r(
        "PUT",
        "/api/v1/sessions/{id}/prevent-purge",
        "Keep the session from the retention purge: {reason}",
        Permission(P::SessionPreventPurge),
    ),
    r(
        "DELETE",
        "/api/v1/sessions/{id}/prevent-purge",
        "Let the retention purge take the session again",
        Permission(P::SessionPreventPurge),
    ),
    r(
        "GET",
        "/api/v1/sessions/{id}/auditors",
        "The session's auditors and the users who can be added",
        Permission(P::SessionConfigureAuditors),
    ),
    r(
        "PUT",
        "/api/v1/sessions/{id}/auditors",
        "Set the session's auditors: {users: [...]}",
        Permission(P::SessionConfigureAuditors),
    ),
    r(
        "GET",
        "/api/v1/users",
        "Users with their roles and keys",
        Permission(P::ManageUsers),
    ),
    r(
        "POST",
        "/api/v1/users",
        "Add a user: {name, role, password?} (a generated password is returned once)",
        Permission(P::ManageUsers),
    ),
    r(
        "GET",
        "/api/v1/users/{name}",
        "One user",
        Permission(P::ManageUsers),
    ),
    r(
        "PATCH",
        "/api/v1/users/{name}",
        "Change role, disable or enable, set a password",
        Permission(P::ManageUsers),
    ),
    r(
        "POST",
        "/api/v1/users/{name}/keys",
        "Add an SSH public key: {public_key}",
        Permission(P::ManageUsers),
    ),
    r(
        "DELETE",
        "/api/v1/users/{name}/keys/{key}",
        "Remove an SSH public key",
        Permission(P::ManageUsers),
    ),
    r(
        "POST",
        "/api/v1/users/{name}/totp",
        "Enrol a TOTP second factor (returns the otpauth URL once)",
        PermissionOrSelf(P::ManageUsers),
    ),
    r(
        "DELETE",
        "/api/v1/users/{name}/totp",
        "Remove the TOTP second factor",
        PermissionOrSelf(P::ManageUsers),
    ),
    r("GET", "/api/v1/tokens", "The caller's API tokens", SignedIn),
    r(
        "POST",
        "/api/v1/tokens",
        "Create an API token with the caller's permissions: {name} (returned once)",
        SignedIn,
    ),
    r(
        "DELETE",
        "/api/v1/tokens/{id}",
        "Revoke one of the caller's API tokens",
        SignedIn,
    ),
    r(
        "GET",
        "/api/v1/targets",
        "Targets with their logins (never their credentials)",
        Permission(P::ManageTargets),
    ),
    r(
        "POST",
        "/api/v1/targets",
        "Add a target: {name, host, port, host_key | trust_on_add}",
        Permission(P::ManageTargets),
    ),
    r(
        "PATCH",
        "/api/v1/targets/{name}",
        "Change host or port, disable or enable",
        Permission(P::ManageTargets),
    ),
    r(
        "POST",
        "/api/v1/targets/{name}/logins",
        "Add a login with its credential: {login, password | private_key} (write-only)",
        Permission(P::ManageTargets),
    ),
    r(
        "PUT",
        "/api/v1/targets/{name}/logins/{login}",
        "Replace a login's credential: {password | private_key}",
        Permission(P::ManageTargets),
    ),
    r(
        "DELETE",
        "/api/v1/targets/{name}/logins/{login}",
        "Remove a login",
        Permission(P::ManageTargets),
    ),
    r(
        "GET",
        "/api/v1/grants",
        "Access grants",
        Permission(P::ManageTargets),
    ),
    r(
        "POST",
        "/api/v1/grants",
        "Grant access: {user, target, login?, allow_port_forwarding?}",
        Permission(P::ManageTargets),
    ),
    r(
        "DELETE",
        "/api/v1/grants/{id}",
        "Revoke a grant",
        Permission(P::ManageTargets),
    ),
    r(
        "GET",
        "/api/v1/audit",
        "The log of administrator actions: sign-ins, viewings, downloads, terminations, purges, changes",
        Permission(P::ViewAuditLog),
    ),
    r("GET", "/api/v1/openapi.json", "This document", Public),
];

/// The OpenAPI 3.1 document of [`ROUTES`].
pub fn openapi() -> serde_json::Value {
    let mut paths = serde_json::Map::new();
    for route in ROUTES {
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
        };
        let op = serde_json::json!({
            "summary": route.summary,
            "description": format!("Access: {access}."),
            "parameters": params,
            "security": if route.access == Public { serde_json::json!([]) } else { serde_json::json!([{ "cookie": [] }, { "bearer": [] }]) },
            "responses": {
                "200": { "description": "OK" },
                "401": { "description": "not signed in" },
                "403": { "description": "missing permission, or missing X-CSRF-Token on a browser request" },
            },
        });
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
        }},
        "paths": paths,
    })
}
