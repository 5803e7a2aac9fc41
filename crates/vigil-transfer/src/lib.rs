//! File-transfer inspection (issue 13): a transferred file is spooled at the gateway, then
//! every plugin of the session's policy looks at the whole file before any of it is
//! delivered; the first refusal wins, and a plugin that fails or takes too long refuses
//! (fail closed).
//!
//! This crate holds the spool and the plugins; the protocols that feed them (SFTP, SCP)
//! plug into the session pipeline.
//!
//! Architecture invariant: knows nothing of SSH, HTTP or the store. A plugin sees a spooled
//! file and says allow or deny with a reason; what the verdict does is the caller's.
#![forbid(unsafe_code)]

pub mod builtin;
mod chain;
mod plugin;
pub mod scp;
mod spool;

pub use chain::{Decision, decide};
pub use plugin::{BoxFuture, Plugin, PluginError, Verdict};
pub use spool::{FileInfo, Spool, SpoolError, SpoolWriter, Spooled};
