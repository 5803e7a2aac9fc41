//! The Vigil agent for Linux workstations (issue 14, seed 003): records the programs an
//! access policy names, on the workstation itself, into the same archive as gateway sessions.
//!
//! Two binaries: `vigil-agent` (the root service: enrolment, the policy cache, wrappers
//! installed and removed, the spool, uploads) and `vigil-rec` (the wrapper at each policy
//! path). The agent speaks only Vigil's public agent API (`/api/v1/agent/...`, requests
//! signed with the workstation's Ed25519 key).
//!
//! Module map: `wire` (wrapper ↔ agent frames), `trailer` (a wrapper's configuration, carried
//! in its own executable), `state` (the state directory), `client` (the API), `install`
//! (wrappers in and out), `spool` (runs on disk until the server has them), `upload`
//! (resumable upload with backoff), `service` (`vigil-agent run`), `status`
//! (`vigil-agent status`), `wrapper` (`vigil-rec`).
#![deny(unsafe_code)]

pub mod client;
pub mod install;
pub mod service;
pub mod spool;
pub mod state;
pub mod status;
pub mod trailer;
pub mod upload;
pub mod wire;
pub mod wrapper;
