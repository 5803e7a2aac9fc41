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

mod agent_api;
mod agent_runs;
mod agents;
mod auth;
mod commands;
mod console;
mod control;
mod error;
mod field_schema;
mod kept;
mod live;
mod node_link;
mod nodes;
mod openapi;
mod proof;
mod recording;
mod replays;
mod route;
mod routes;
mod rules;
mod seek_cache;
mod server;
mod sessions;
mod sign_in_limits;
mod state;
mod targets;
mod transfers;
mod users;

use axum::Router;

pub use error::ApiError;
pub use routes::{Access, ROUTES, Route, openapi};
pub use server::{HttpServer, TlsFiles, ensure_self_signed};
pub use state::{ApiState, AppState, ClientAddr, KeyTools};

/// The whole HTTP surface: API (built from [`ROUTES`]), live stream, console.
pub fn router(state: AppState) -> Router {
    Router::new()
        .nest(routes::PREFIX, routes::api_router())
        .fallback(console::asset)
        .layer(axum::middleware::map_response(console::security_headers))
        .with_state(state)
}
