//! Vigil's HTTP side: the REST API under `/api/v1` (OpenAPI at `/api/v1/openapi.json`), the
//! WebSocket live stream, and the web console embedded in the binary, served over TLS.
//!
//! Architecture invariant: this crate knows nothing of SSH. Sessions come from the hub, state
//! from the store, recordings from the recording store; the few SSH-side helpers it needs
//! (parsing keys, reading a target's host key) come in through [`KeyTools`].
//!
//! Architecture invariant: every route checks its caller (deny by default), and [`ROUTES`]
//! lists each route with who may call it; the permission-matrix test holds the two together.
#![forbid(unsafe_code)]

mod auth;
mod console;
mod control;
mod error;
mod limiter;
mod live;
mod routes;
mod server;
mod sessions;
mod state;
mod targets;
mod users;

use axum::Router;
use axum::routing::{get, post, put};

pub use error::ApiError;
pub use routes::{Access, ROUTES, Route, openapi};
pub use server::{HttpServer, TlsFiles, ensure_self_signed};
pub use state::{ApiState, AppState, ClientAddr, KeyTools};

/// The whole HTTP surface: API, live stream, console.
pub fn router(state: AppState) -> Router {
    let api = Router::new()
        .route("/auth/login", post(auth::login))
        .route("/auth/logout", post(auth::logout))
        .route("/auth/me", get(auth::me))
        .route("/sessions", get(sessions::list))
        .route("/sessions/{id}", get(sessions::get))
        .route("/sessions/{id}/events", get(sessions::events))
        .route("/sessions/{id}/recording", get(sessions::recording))
        .route("/sessions/{id}/live", get(live::live))
        .route("/sessions/{id}/terminate", post(control::terminate))
        .route("/sessions/{id}/lock", post(control::lock))
        .route("/sessions/{id}/unlock", post(control::unlock))
        .route(
            "/sessions/{id}/prevent-purge",
            put(sessions::prevent_purge).delete(sessions::allow_purge),
        )
        .route(
            "/sessions/{id}/auditors",
            get(sessions::auditors).put(sessions::set_auditors),
        )
        .route("/users", get(users::list).post(users::create))
        .route("/users/{name}", get(users::get).patch(users::edit))
        .route("/users/{name}/keys", post(users::add_key))
        .route("/users/{name}/release", post(control::release))
        .route(
            "/users/{name}/keys/{key}",
            axum::routing::delete(users::delete_key),
        )
        .route(
            "/users/{name}/totp",
            post(users::enrol_totp).delete(users::remove_totp),
        )
        .route("/tokens", get(users::tokens).post(users::create_token))
        .route("/tokens/{id}", axum::routing::delete(users::delete_token))
        .route("/targets", get(targets::list).post(targets::create))
        .route("/targets/{name}", axum::routing::patch(targets::edit))
        .route("/targets/{name}/logins", post(targets::create_login))
        .route(
            "/targets/{name}/logins/{login}",
            put(targets::rotate_login).delete(targets::delete_login),
        )
        .route("/grants", get(targets::grants).post(targets::create_grant))
        .route("/grants/{id}", axum::routing::delete(targets::delete_grant))
        .route("/audit", get(targets::audit))
        .route("/openapi.json", get(|| async { axum::Json(openapi()) }))
        .fallback(|| async {
            ApiError::NotFound("no such API route: see /api/v1/openapi.json".into())
        });
    Router::new()
        .nest("/api/v1", api)
        .fallback(console::asset)
        .layer(axum::middleware::map_response(console::security_headers))
        .with_state(state)
}
