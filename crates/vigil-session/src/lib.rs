//! The live-session hub: every session a node runs is registered here with its recorder, its
//! control inbox and its byte counters. Protocol adapters (SSH today) translate their protocol
//! into calls on [`LiveSession`] and obey the [`Control`] messages it delivers.
//!
//! Architecture invariant: this crate knows nothing of SSH wire details or HTTP. What a session
//! *means* (recording, control, event log) lives here, so a second protocol reuses it.
#![forbid(unsafe_code)]

mod hub;
mod io;
mod recorder;
mod retention;

pub use hub::{Control, ControlError, ControlInbox, Hub, HubError, HubEvent, LiveSession};
pub use io::{ChannelTag, SessionIo};
pub use recorder::{LiveFrame, LiveView, RecorderError, RecordingFailed};
pub use retention::{PurgeReport, purge_expired, run_retention};
