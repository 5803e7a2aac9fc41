//! What a route is: its method, path, summary, who may call it and its handler. The table of
//! every route is `routes.rs`; the OpenAPI document (`openapi.rs`) is made from any such
//! table, so neither needs the other.

use axum::routing::{MethodFilter, MethodRouter};
use vigil_core::Permission;

use crate::state::AppState;

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
    /// A workstation's enrolled agent, by a request signed with its key (no user may).
    Agent,
    /// Another node of the cluster, by a request signed with its recording key (no user may).
    Node,
}

/// One route: the router, the OpenAPI document and the permission matrix are all made from
/// these, so a route cannot be served without being documented and tested.
#[derive(Debug, Clone, Copy)]
pub struct Route {
    pub method: &'static str,
    pub path: &'static str,
    pub summary: &'static str,
    pub access: Access,
    /// Makes the route's handler for the method it is given (always this route's own).
    pub(crate) handler: fn(MethodFilter) -> MethodRouter<AppState>,
}

pub(crate) const fn r(
    method: &'static str,
    path: &'static str,
    summary: &'static str,
    access: Access,
    handler: fn(MethodFilter) -> MethodRouter<AppState>,
) -> Route {
    Route {
        method,
        path,
        summary,
        access,
        handler,
    }
}
