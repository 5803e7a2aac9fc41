//! Audited commands: what an operator's command line runs, and what the rules say of it.
//!
//! Architecture invariant: no I/O. Lines come in as text, decisions go out as values; the
//! session pipeline (vigil-session) feeds it and carries out what it decides.
#![forbid(unsafe_code)]

pub mod command;
pub mod elevation;
pub mod lex;
pub mod line;
pub mod query;
pub mod rules;
