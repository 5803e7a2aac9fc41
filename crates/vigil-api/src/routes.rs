//! Every route, once: the router is built from handlers, and this table describes the same
//! routes for the OpenAPI document and for the permission-matrix test (which checks that each
//! route answers every role as the table says).

use axum::Router;
use axum::routing::{MethodFilter, on};
use vigil_core::Permission;

use crate::error::ApiError;
use crate::route::r;
pub use crate::route::{Access, Route};
use crate::state::AppState;
use crate::{
    agent_api, agent_runs, agents, auth, commands, control, kept, live, nodes, proof, recording,
    rules, sessions, sign_in_limits, targets, transfers, users,
};

/// Where [`ROUTES`] is served: every path starts with this.
pub(crate) const PREFIX: &str = crate::state::API_PREFIX;

/// The API's router, made from [`ROUTES`] alone.
pub(crate) fn api_router() -> Router<AppState> {
    ROUTES
        .iter()
        .fold(Router::new(), |router, route| {
            let path = route.path.strip_prefix(PREFIX).unwrap_or(route.path);
            router.route(path, (route.handler)(method_filter(route.method)))
        })
        .fallback(|| async {
            ApiError::NotFound("no such API route: see /api/v1/openapi.json".into())
        })
}

/// The methods the table uses. An unknown one would be a typo in the table, which the tests
/// below catch; it falls back to GET rather than panic in a server.
fn method_filter(method: &str) -> MethodFilter {
    match method {
        "POST" => MethodFilter::POST,
        "PUT" => MethodFilter::PUT,
        "PATCH" => MethodFilter::PATCH,
        "DELETE" => MethodFilter::DELETE,
        _ => MethodFilter::GET,
    }
}

async fn serve_openapi() -> axum::Json<serde_json::Value> {
    // Made once: the schemas are generated from the handlers' types, the same every time.
    static DOCUMENT: std::sync::LazyLock<serde_json::Value> = std::sync::LazyLock::new(openapi);
    axum::Json(DOCUMENT.clone())
}

use Access::*;
use Permission as P;

pub const ROUTES: &[Route] = &[
    r(
        "POST",
        "/api/v1/auth/login",
        "Sign in with user name, password and (when enrolled) a TOTP code; sets the session cookie and returns the CSRF token",
        Public,
        |m| on(m, auth::login),
    ),
    r("POST", "/api/v1/auth/logout", "Sign out", SignedIn, |m| {
        on(m, auth::logout)
    }),
    r(
        "GET",
        "/api/v1/auth/me",
        "Who is signed in, their role and permissions",
        SignedIn,
        |m| on(m, auth::me),
    ),
    r(
        "GET",
        "/api/v1/sessions",
        "Sessions, newest first; filters: status (active|finished), user, target, login, from, to (Unix ms), protocol, min_risk, node, q; page, per_page. Without PAM.SessionManagement.Logs only the sessions assigned to the caller",
        SignedIn,
        |m| on(m, sessions::list),
    ),
    r(
        "GET",
        "/api/v1/sessions/{id}",
        "One session with its prevent-purge mark and auditors",
        SessionOrAuditor(P::SessionLogs),
        |m| on(m, sessions::get),
    ),
    r(
        "GET",
        "/api/v1/sessions/{id}/recording/proof",
        "The proof to keep beside a downloaded recording (save it as FILE.vigil-proof; `vigil verify FILE` checks it): the SHA-256 and size of what this caller downloads, the stored track's verification, signed with the node's recording key; track=N",
        SessionOrAuditor(P::SessionRecording),
        |m| on(m, proof::proof),
    ),
    r(
        "GET",
        "/api/v1/sessions/{id}/verification",
        "Whether the session's recordings are complete and unaltered: {session, verdict (intact | interrupted | unverifiable | altered), summary, tracks: [{track, recording_key, verdict, summary, links, sealed, verified_ms, unverified_bytes}]}",
        SessionOrAuditor(P::SessionLogs),
        |m| on(m, sessions::verification),
    ),
    r(
        "GET",
        "/api/v1/sessions/{id}/events",
        "The session log",
        SessionOrAuditor(P::SessionLogs),
        |m| on(m, sessions::events),
    ),
    r(
        "GET",
        "/api/v1/sessions/{id}/recording",
        "The recording (asciicast v3), streamed; purpose=play|download, both audited (the seeks of one play are one entry); track=N; from=MS (play): the screen at that moment, then the events after it (the header gains vigil_from_ms). The operator-input track (i events) only for holders of PAM.SessionManagement.RecordingInput; others get output only",
        SessionOrAuditor(P::SessionRecording),
        |m| on(m, recording::recording),
    ),
    r(
        "GET",
        "/api/v1/sessions/{id}/recording/markers",
        "The recording's markers (commands, gateway notices, locks): [{at_ms, label}]; track=N",
        SessionOrAuditor(P::SessionRecording),
        |m| on(m, recording::markers),
    ),
    r(
        "GET",
        "/api/v1/sessions/{id}/files/{event}",
        "A transferred file the session's transfer policy kept (keep_files_up_to), named by the id of its file_allowed event in the session log; downloads are audited (kept_file_downloaded) and carry the file's SHA-256 in X-Vigil-SHA256",
        SessionOrAuditor(P::SessionRecording),
        |m| on(m, kept::kept_file),
    ),
    r(
        "GET",
        "/api/v1/sessions/{id}/live",
        "WebSocket: the current screen, then live output (relayed from the node that runs the session when that is another node)",
        SessionOrAuditor(P::SessionLivestream),
        |m| on(m, live::live),
    ),
    r(
        "GET",
        "/api/v1/cluster/sessions/{id}/live",
        "WebSocket for a peer node relaying a session this node runs to a viewer of its own (same frames as /sessions/{id}/live; the peer writes the viewing's evidence)",
        Node,
        |m| on(m, live::peer_live),
    ),
    r(
        "POST",
        "/api/v1/sessions/{id}/terminate",
        "End a live session; the operator sees \"You have been disconnected\"",
        Permission(P::SessionTerminate),
        |m| on(m, control::terminate),
    ),
    r(
        "POST",
        "/api/v1/sessions/{id}/lock",
        "Lock the operator's input: dropped at the gateway (never delivered later) until unlocked; the user cannot start sessions until released",
        Permission(P::SessionLock),
        |m| on(m, control::lock),
    ),
    r(
        "POST",
        "/api/v1/sessions/{id}/unlock",
        "Let the operator's input through again and release the user",
        Permission(P::SessionLock),
        |m| on(m, control::unlock),
    ),
    r(
        "PUT",
        "/api/v1/sessions/{id}/prevent-purge",
        "Keep the session from the retention purge: {reason}",
        Permission(P::SessionPreventPurge),
        |m| on(m, sessions::prevent_purge),
    ),
    r(
        "DELETE",
        "/api/v1/sessions/{id}/prevent-purge",
        "Let the retention purge take the session again",
        Permission(P::SessionPreventPurge),
        |m| on(m, sessions::allow_purge),
    ),
    r(
        "GET",
        "/api/v1/sessions/{id}/auditors",
        "The session's auditors and the users who can be added",
        Permission(P::SessionConfigureAuditors),
        |m| on(m, sessions::auditors),
    ),
    r(
        "PUT",
        "/api/v1/sessions/{id}/auditors",
        "Set the session's auditors: {users: [...]}",
        Permission(P::SessionConfigureAuditors),
        |m| on(m, sessions::set_auditors),
    ),
    r(
        "GET",
        "/api/v1/users",
        "Users with their roles and keys",
        Permission(P::ManageUsers),
        |m| on(m, users::list),
    ),
    r(
        "POST",
        "/api/v1/users",
        "Add a user: {name, role, password?} (a generated password is returned once)",
        Permission(P::ManageUsers),
        |m| on(m, users::create),
    ),
    r(
        "GET",
        "/api/v1/users/{name}",
        "One user",
        Permission(P::ManageUsers),
        |m| on(m, users::get),
    ),
    r(
        "PATCH",
        "/api/v1/users/{name}",
        "Change role, disable or enable, set a password",
        Permission(P::ManageUsers),
        |m| on(m, users::edit),
    ),
    r(
        "POST",
        "/api/v1/users/{name}/keys",
        "Add an SSH public key: {public_key}",
        Permission(P::ManageUsers),
        |m| on(m, users::add_key),
    ),
    r(
        "DELETE",
        "/api/v1/users/{name}/keys/{key}",
        "Remove an SSH public key",
        Permission(P::ManageUsers),
        |m| on(m, users::delete_key),
    ),
    r(
        "GET",
        "/api/v1/sign-in-limits",
        "User names and client addresses with failed sign-ins on this node (console and SSH together), blocked ones first",
        Permission(P::ManageUsers),
        |m| on(m, sign_in_limits::list),
    ),
    r(
        "DELETE",
        "/api/v1/sign-in-limits/{key}",
        "Forget the failed sign-ins of user:NAME or addr:IP on this node, unblocking it",
        Permission(P::ManageUsers),
        |m| on(m, sign_in_limits::clear),
    ),
    r(
        "POST",
        "/api/v1/users/{name}/release",
        "Let a user locked by a session lock start sessions again, unlocking their locked sessions",
        Permission(P::SessionLock),
        |m| on(m, control::release),
    ),
    r(
        "POST",
        "/api/v1/users/{name}/totp",
        "Enrol a TOTP second factor (returns the otpauth URL once)",
        PermissionOrSelf(P::ManageUsers),
        |m| on(m, users::enrol_totp),
    ),
    r(
        "DELETE",
        "/api/v1/users/{name}/totp",
        "Remove the TOTP second factor",
        PermissionOrSelf(P::ManageUsers),
        |m| on(m, users::remove_totp),
    ),
    r(
        "GET",
        "/api/v1/tokens",
        "The caller's API tokens",
        SignedIn,
        |m| on(m, users::tokens),
    ),
    r(
        "POST",
        "/api/v1/tokens",
        "Create an API token with the caller's permissions: {name} (returned once)",
        SignedIn,
        |m| on(m, users::create_token),
    ),
    r(
        "DELETE",
        "/api/v1/tokens/{id}",
        "Revoke one of the caller's API tokens",
        SignedIn,
        |m| on(m, users::delete_token),
    ),
    r(
        "GET",
        "/api/v1/commands",
        "Commands operators ran, across sessions, newest first: q (part of the command, case-insensitive), limit (1-1000, default 50)",
        Permission(P::SessionLogs),
        |m| on(m, commands::search),
    ),
    r(
        "GET",
        "/api/v1/rules",
        "Audited-command rules",
        Permission(P::ManageRules),
        |m| on(m, rules::list),
    ),
    r(
        "POST",
        "/api/v1/rules",
        "Add a rule: {name, kind: regex|command|class, pattern, score, action: alert|prohibit|interrupt|deactivate, enabled, targets, logins, users}; it applies to sessions that start from now on",
        Permission(P::ManageRules),
        |m| on(m, rules::create),
    ),
    r(
        "PATCH",
        "/api/v1/rules/{name}",
        "Change a rule (any field of the add body but its name; enabled: false disables it); running sessions keep the rules they started with",
        Permission(P::ManageRules),
        |m| on(m, rules::edit),
    ),
    r(
        "DELETE",
        "/api/v1/rules/{name}",
        "Remove a rule",
        Permission(P::ManageRules),
        |m| on(m, rules::remove),
    ),
    r(
        "GET",
        "/api/v1/targets",
        "Targets with their logins (never their credentials)",
        Permission(P::ManageTargets),
        |m| on(m, targets::list),
    ),
    r(
        "POST",
        "/api/v1/targets",
        "Add a target: {name, host, port, host_key | trust_on_add}",
        Permission(P::ManageTargets),
        |m| on(m, targets::create),
    ),
    r(
        "PATCH",
        "/api/v1/targets/{name}",
        "Change host or port, disable or enable",
        Permission(P::ManageTargets),
        |m| on(m, targets::edit),
    ),
    r(
        "POST",
        "/api/v1/targets/{name}/logins",
        "Add a login with its credential: {login, password | private_key} (write-only)",
        Permission(P::ManageTargets),
        |m| on(m, targets::create_login),
    ),
    r(
        "PUT",
        "/api/v1/targets/{name}/logins/{login}",
        "Replace a login's credential: {password | private_key}",
        Permission(P::ManageTargets),
        |m| on(m, targets::rotate_login),
    ),
    r(
        "PUT",
        "/api/v1/targets/{name}/logins/{login}/elevation",
        "Set how the gateway answers sudo for a login: {sudo_inject: off|start|on-demand, sudo_password, su_password, sudo_ticket_minutes} (passwords write-only; null removes one; setting it also lifts a block after rejected passwords)",
        Permission(P::ManageTargets),
        |m| on(m, targets::set_elevation),
    ),
    r(
        "DELETE",
        "/api/v1/targets/{name}/logins/{login}",
        "Remove a login",
        Permission(P::ManageTargets),
        |m| on(m, targets::delete_login),
    ),
    r(
        "GET",
        "/api/v1/targets/{name}/transfer-policy",
        "The file-transfer policy of a target (?login=LOGIN: of one login) and the one its sessions run under: {policy, effective}",
        Permission(P::ManageTargets),
        |m| on(m, transfers::show),
    ),
    r(
        "PUT",
        "/api/v1/targets/{name}/transfer-policy",
        "Set (replace) the file-transfer policy of a target (?login=LOGIN: of one login): {upload, download, rsync: allow|deny, max_size, deny_content_types, deny_extensions, deny_sha256, command, yara, icap, keep_files_up_to}",
        Permission(P::ManageTargets),
        |m| on(m, transfers::set),
    ),
    r(
        "DELETE",
        "/api/v1/targets/{name}/transfer-policy",
        "Remove the file-transfer policy of a target (?login=LOGIN: of one login)",
        Permission(P::ManageTargets),
        |m| on(m, transfers::clear),
    ),
    r(
        "GET",
        "/api/v1/grants",
        "Access grants",
        Permission(P::ManageTargets),
        |m| on(m, targets::grants),
    ),
    r(
        "POST",
        "/api/v1/grants",
        "Grant access: {user, target, login?, allow_port_forwarding?}",
        Permission(P::ManageTargets),
        |m| on(m, targets::create_grant),
    ),
    r(
        "DELETE",
        "/api/v1/grants/{id}",
        "Revoke a grant",
        Permission(P::ManageTargets),
        |m| on(m, targets::delete_grant),
    ),
    r(
        "GET",
        "/api/v1/audit",
        "The log of administrator actions: sign-ins, viewings, downloads, terminations, purges, changes",
        Permission(P::ViewAuditLog),
        |m| on(m, targets::audit),
    ),
    r(
        "GET",
        "/api/v1/siem",
        "Every node's SIEM destinations: state, events queued, sent and dropped, the last error",
        Permission(P::ViewAuditLog),
        |m| on(m, targets::siem_status),
    ),
    r(
        "GET",
        "/api/v1/nodes",
        "The cluster's nodes: {this_node, nodes: [{name, url, version, started_at, heartbeat_at, state (up|down|left), live_sessions, cert_sha256 (of its console's certificate, which peers pin)}]}",
        Permission(P::ViewAuditLog),
        |m| on(m, nodes::list),
    ),
    r(
        "DELETE",
        "/api/v1/nodes/{name}",
        "Forget a node that is down or has left (400 while it is up)",
        Permission(P::ManageTargets),
        |m| on(m, nodes::remove),
    ),
    r(
        "GET",
        "/api/v1/openapi.json",
        "This document",
        Public,
        |m| on(m, serve_openapi),
    ),
    r(
        "GET",
        "/api/v1/agents",
        "Enrolled workstations (endpoint manager): host_name, machine_id, fingerprint, status (pending|approved), enrolled_at, approved_at, approved_by, last_seen_at",
        Permission(P::ManageEndpoints),
        |m| on(m, agents::list),
    ),
    r(
        "POST",
        "/api/v1/agents/tokens",
        "Make a one-time enrolment token for vigil-agent enrol: {valid_hours?} (default 24) -> {token, expires_at}; the token is shown once",
        Permission(P::ManageEndpoints),
        |m| on(m, agents::token),
    ),
    r(
        "POST",
        "/api/v1/agents/{host}/approve",
        "Approve a workstation: its agent's recordings are accepted from now on",
        Permission(P::ManageEndpoints),
        |m| on(m, agents::approve),
    ),
    r(
        "DELETE",
        "/api/v1/agents/{host}",
        "Remove a workstation: its agent can no longer sign in (its recordings stay)",
        Permission(P::ManageEndpoints),
        |m| on(m, agents::remove),
    ),
    r(
        "GET",
        "/api/v1/agent-policies",
        "Endpoint access policies (binary run): what the agents audit and record, for whom",
        Permission(P::ManageEndpoints),
        |m| on(m, agents::policies),
    ),
    r(
        "POST",
        "/api/v1/agent-policies",
        "Add an endpoint access policy: {name, path, symlink?, audit? (default true), record? (default false), subject_kind: user|group (the user's primary group), subject_name, workstation?, enabled? (default true)}",
        Permission(P::ManageEndpoints),
        |m| on(m, agents::add_policy),
    ),
    r(
        "PATCH",
        "/api/v1/agent-policies/{name}",
        "Enable or disable an endpoint access policy: {enabled}",
        Permission(P::ManageEndpoints),
        |m| on(m, agents::change_policy),
    ),
    r(
        "DELETE",
        "/api/v1/agent-policies/{name}",
        "Remove an endpoint access policy",
        Permission(P::ManageEndpoints),
        |m| on(m, agents::remove_policy),
    ),
    r(
        "POST",
        "/api/v1/agent/enrol",
        "A workstation's agent enrols with a one-time token: {token, host_name, machine_id, public_key: ed25519:BASE64} -> {id, host_name, status, fingerprint}; the workstation is pending until approved",
        Public,
        |m| on(m, agent_api::enrol),
    ),
    r(
        "GET",
        "/api/v1/agent/status",
        "The calling agent's workstation: {id, host_name, status, fingerprint} (signed request)",
        Agent,
        |m| on(m, agent_api::status),
    ),
    r(
        "GET",
        "/api/v1/agent/policies",
        "The access policies that apply to the calling workstation, with their revision: {revision, policies} (signed request; approved workstations only)",
        Agent,
        |m| on(m, agent_api::policies),
    ),
    r(
        "POST",
        "/api/v1/agent/alerts",
        "Raise an alert from the calling workstation: {alert: spool_full, message}; written to the administration log and sent to the SIEM (signed request)",
        Agent,
        |m| on(m, agent_api::alert),
    ),
    r(
        "POST",
        "/api/v1/agent/runs",
        "Report a run an access policy audited or recorded, once its program ended: {id (UUID), user, uid, primary_group, program, real_path?, argv, cwd, tty?, started_at, ended_at, exit_status?, signal?, record, policies}; sent again, returns the run as it stands (signed request)",
        Agent,
        |m| on(m, agent_runs::report),
    ),
    r(
        "GET",
        "/api/v1/agent/runs/{run}",
        "A run of the calling workstation with its uploads (received bytes, finished): where an upload resumes (signed request)",
        Agent,
        |m| on(m, agent_runs::get),
    ),
    r(
        "PUT",
        "/api/v1/agent/runs/{run}/{object}",
        "Upload part of a recorded run's output or input recording (asciicast v3, zstd or plain) at ?offset=N, which must be what the server holds; returns {received} once durable; 409 says where to resume (signed request)",
        Agent,
        |m| on(m, agent_runs::part),
    ),
    r(
        "POST",
        "/api/v1/agent/runs/{run}/{object}/finish",
        "The recording is whole: {size, sha256}, checked against what the server holds; when both are in, the session's recording is made (signed request)",
        Agent,
        |m| on(m, agent_runs::finish),
    ),
];

/// The OpenAPI 3.1 document of [`ROUTES`].
pub fn openapi() -> serde_json::Value {
    crate::openapi::document(ROUTES)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_table_is_well_formed() {
        let mut seen = std::collections::HashSet::new();
        for route in ROUTES {
            assert!(route.path.starts_with(PREFIX), "{}", route.path);
            assert!(
                ["GET", "POST", "PUT", "PATCH", "DELETE"].contains(&route.method),
                "{} {}",
                route.method,
                route.path
            );
            assert!(
                seen.insert((route.method, route.path)),
                "{} {} twice",
                route.method,
                route.path
            );
        }
        let doc = openapi();
        for route in ROUTES {
            assert!(
                doc["paths"][route.path][route.method.to_lowercase()].is_object(),
                "{} {} missing from the OpenAPI document",
                route.method,
                route.path
            );
        }
    }

    #[test]
    fn the_router_is_built_without_conflicts() {
        // axum panics on a path/method served twice; building proves the table is servable.
        let _ = api_router();
    }
}
