#![allow(unreachable_pub, clippy::unwrap_used, clippy::expect_used)]
//! End-to-end tests: real OpenSSH client and server around a real `vigil serve`.
//! Run as root (the test script does): they start sshd and manage a target account.

mod files;
mod harness;

mod admin_cli;
mod cluster;
mod commands;
mod console;
mod control;
mod elevation;
mod endpoint;
mod endpoint_faults;
mod evidence;
mod hostile;
mod inspection;
mod lock;
mod network;
mod outage;
mod privacy;
mod refusals;
mod rsyslog;
mod sessions;
mod shell_lines;
mod siem;
mod sign_in;
mod tracks;
mod transfer_policy;
mod transfers;
mod workstation;
