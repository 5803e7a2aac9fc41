//! File-transfer inspection (issue 13): a transferred file is spooled at the gateway, then
//! every plugin of the session's policy looks at the whole file before any of it is
//! delivered; the first refusal wins, and a plugin that fails or takes too long refuses
//! (fail closed).
//!
//! This crate holds the spool, the plugins, and the protocols that feed them: legacy SCP
//! ([`scp`], relayed by [`scp_relay`]) and SFTP, each relayed between two byte streams (the
//! operator's channel and the target's), so it runs the same over SSH channels and in tests.
//!
//! Architecture invariant: knows nothing of SSH, HTTP or the store. A plugin sees a spooled
//! file and says allow or deny with a reason; what the verdict does is the caller's.
#![forbid(unsafe_code)]

pub mod builtin;
mod chain;
mod inspect;
mod plugin;
pub mod scp;
pub mod scp_relay;
pub mod sftp;
mod spool;
#[cfg(test)]
mod test_log;

pub use chain::{Decision, decide};
pub use inspect::{Checked, Incoming, Inspector, Keeper, Outcome, TransferLog};
pub use plugin::{BoxFuture, Plugin, PluginError, Verdict};
pub use spool::{FileInfo, Spool, SpoolError, SpoolWriter, Spooled};
