//! Errors as the API answers them: a status and `{"error": "..."}` that says what is wrong and
//! what to do. Store errors map to 404/409/400; anything else is a 500 whose detail stays in
//! the log, never in the response.

use axum::Json;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use vigil_core::Permission;
use vigil_store::StoreError;

#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    #[error(
        "sign in first (POST /api/v1/auth/login), or send an API token as Authorization: Bearer"
    )]
    Unauthenticated,
    #[error("{0}")]
    LoginFailed(&'static str),
    #[error("enter the code from your authenticator app")]
    TotpRequired,
    #[error("too many failed sign-ins; try again in {0} seconds")]
    RateLimited(u64),
    #[error("you need the permission {} for this", .0.name())]
    Forbidden(Permission),
    #[error("this request must carry the X-CSRF-Token header returned at sign-in")]
    Csrf,
    #[error("{0}")]
    BadRequest(String),
    #[error("{0}")]
    NotFound(String),
    #[error("{0}")]
    Conflict(String),
    /// A workstation's agent that did not prove itself; the message says why.
    #[error("{0}")]
    AgentUnauthenticated(String),
    /// A peer node that did not prove itself on the node link; the message says why.
    #[error("{0}")]
    NodeUnauthenticated(String),
    /// The node that runs a session could not be asked for it; the message says which and why.
    #[error("{0}")]
    PeerUnreachable(String),
    #[error(
        "workstation {0} is enrolled but waits for an administrator's approval (`vigil agent approve {0}` or the console's Endpoint Manager)"
    )]
    AgentPending(String),
    /// The store does not answer (the database stopped or unreachable): nothing was
    /// changed, and the same request may succeed later.
    #[error(
        "the gateway cannot reach its database just now: nothing was changed; try again in a minute, and tell the Vigil administrators if it lasts"
    )]
    StoreUnavailable(String),
    #[error("internal error: see the server log")]
    Internal(String),
}

impl From<StoreError> for ApiError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::NotFound(what) => ApiError::NotFound(format!("{what} not found")),
            StoreError::Conflict(what) => ApiError::Conflict(format!("{what} already exists")),
            e @ StoreError::Invalid { .. } => ApiError::BadRequest(e.to_string()),
            other if other.is_unavailable() => ApiError::StoreUnavailable(other.to_string()),
            other => ApiError::Internal(other.to_string()),
        }
    }
}

impl From<vigil_session::ControlError> for ApiError {
    fn from(e: vigil_session::ControlError) -> Self {
        use vigil_session::ControlError as C;
        match e {
            C::Store(e) => e.into(),
            e @ (C::NotHere(_) | C::NotStarted(_) | C::Ended(_)) => {
                ApiError::Conflict(e.to_string())
            }
            e @ C::NoTrack(..) => ApiError::NotFound(e.to_string()),
        }
    }
}

impl From<vigil_session::AdminError> for ApiError {
    fn from(e: vigil_session::AdminError) -> Self {
        use vigil_session::AdminError as A;
        match e {
            A::Store(e) => e.into(),
            A::Control(e) => e.into(),
            A::Refused(why) => ApiError::Conflict(why),
            A::Invalid(why) => ApiError::BadRequest(why),
        }
    }
}

impl ApiError {
    pub fn status(&self) -> StatusCode {
        match self {
            ApiError::Unauthenticated
            | ApiError::LoginFailed(_)
            | ApiError::TotpRequired
            | ApiError::AgentUnauthenticated(_)
            | ApiError::NodeUnauthenticated(_) => StatusCode::UNAUTHORIZED,
            ApiError::PeerUnreachable(_) => StatusCode::BAD_GATEWAY,
            ApiError::AgentPending(_) => StatusCode::FORBIDDEN,
            ApiError::RateLimited(_) => StatusCode::TOO_MANY_REQUESTS,
            ApiError::Forbidden(_) | ApiError::Csrf => StatusCode::FORBIDDEN,
            ApiError::BadRequest(_) => StatusCode::BAD_REQUEST,
            ApiError::NotFound(_) => StatusCode::NOT_FOUND,
            ApiError::Conflict(_) => StatusCode::CONFLICT,
            ApiError::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
            ApiError::StoreUnavailable(_) => StatusCode::SERVICE_UNAVAILABLE,
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        if let ApiError::Internal(detail) | ApiError::StoreUnavailable(detail) = &self {
            tracing::error!(error = %detail, "api request failed");
        }
        let mut body = serde_json::json!({ "error": self.to_string() });
        if matches!(self, ApiError::TotpRequired) {
            body["totp_required"] = true.into();
        }
        let mut response = (self.status(), Json(body)).into_response();
        if let ApiError::RateLimited(secs) = self
            && let Ok(v) = secs.to_string().parse()
        {
            response.headers_mut().insert("retry-after", v);
        }
        response
    }
}

pub(crate) type ApiResult<T> = Result<T, ApiError>;
