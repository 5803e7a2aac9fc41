//! The live-session hub: every session a node runs is registered here with its recorder, its
//! control inbox and its byte counters. Protocol adapters (SSH today) translate their protocol
//! into calls on [`LiveSession`] and obey the [`Control`] messages it delivers.
//!
//! Architecture invariant: this crate knows nothing of SSH wire details or HTTP. What a session
//! *means* (recording, control, event log) lives here, so a second protocol reuses it.
//!
//! Architecture invariant: every administrative action is one [`Admin`] operation that writes
//! its change and its evidence in one transaction; the CLI and the API only parse, check
//! permissions, call it and print.
#![forbid(unsafe_code)]

mod admin;
mod audit;
mod carry;
pub mod cluster;
mod echo;
mod elevate;
mod elevation;
pub mod endpoint;
mod error;
mod held;
mod hub;
mod io;
mod recent;
mod recorder;
mod retention;
mod shell;
mod signing;
mod stage;
mod stdin;
mod tracks;
mod transfer;
mod verdict;
pub mod verify;
pub mod verify_log;

pub use admin::{
    AGENT_TOKEN_VALIDITY, Actor, Admin, AdminError, KeptFile, MAX_SCORE, Purpose, Via,
    WorkstationId, rule_of,
};
pub use audit::{CommandRules, CommandVerdict, Source, Unreadable};
pub use carry::{CarryError, Closed, Outlet};
pub use echo::{ECHO_WAIT, EchoJudge, Verdict};
pub use elevation::{Elevation, START_COMMAND};
pub use error::HubError;
pub use hub::{Control, ControlError, ControlInbox, Hub, LiveSession, PolicyError};
pub use io::{ChannelIo, Passage, SessionIo};
pub use recorder::{LiveFrame, LiveView, RecorderError, RecordingFailed};
pub use retention::{PurgeReport, run_retention};
pub use stage::{Action, ChannelKind, Decider, Hold, Policy, Stage, StageFactory};
pub use tracks::TrackStart;
