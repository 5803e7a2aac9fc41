//! Vigil's domain: who may reach what, what a session is, what happened in it.
//!
//! Architecture invariant: this crate does no I/O. It knows nothing of SQL, HTTP or SSH; every
//! decision here is a pure function of its arguments so it can be tested exhaustively.
#![forbid(unsafe_code)]

mod access;
mod elevation;
mod endpoint;
mod evidence;
mod limiter;
mod login_spec;
mod model;
mod role;
mod session;
mod transfer;
mod transfer_policy;
mod utc;

pub use access::{AccessDecision, decide_access};
pub use elevation::SudoInject;
pub use endpoint::{
    AgentPolicy, PolicySubject, RunDecision, RunReport, Runner, decide_run, is_host_name,
};
pub use evidence::{EventKind, Evidence, Log, SYSTEM_ACTOR, spec_markdown};
pub use limiter::LoginLimiter;
pub use login_spec::{LoginSpec, LoginSpecError};
pub use model::{Account, Grant, SecretKind, Target, User, UserKey};
pub use role::{Permission, Role, UnknownRole};
pub use session::{EndReason, SessionId, SessionStatus, now_millis};
pub use transfer::{
    Direction, Transfer, TransferTool, classify_exec, mentions_transfer_tool, transfer_paths,
};
pub use transfer_policy::{Permit, PolicyError, TransferKind, TransferPolicy};
pub use utc::Utc;
