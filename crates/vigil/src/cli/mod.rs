//! The administration commands: each parses its arguments, calls one `Admin` operation (which
//! writes the change and its evidence together) and prints what happened. They work while
//! `serve` runs: they share the store, and live control reaches the node that runs a session
//! through the store's command queue.

mod agents;
mod commands;
mod events;
mod nodes;
mod rules;
mod sessions;
mod siem;
mod targets;
mod transfers;
mod users;
mod verify;

use std::io::BufRead;
use std::path::Path;

use anyhow::{Context, bail};
use russh::keys::PublicKey;
use vigil_session::{Actor, Admin};
use vigil_store::Store;
use vigil_vault::{Secret, random_password};

use crate::Command;
use crate::config::Settings;

pub(crate) use agents::{AgentCommand, AgentPolicyCommand};
pub(crate) use commands::CommandCommand;
pub(crate) use events::EventsArgs;
pub(crate) use nodes::NodeCommand;
pub(crate) use rules::RuleCommand;
pub(crate) use sessions::{AuditCommand, RecordingCommand, SessionCommand};
pub(crate) use siem::SiemCommand;
pub(crate) use targets::{AccessCommand, AccountCommand, TargetCommand};
pub(crate) use transfers::TransferPolicyCommand;
pub(crate) use users::UserCommand;

pub(crate) async fn run(
    settings: &Settings,
    store: &Store,
    command: Command,
) -> anyhow::Result<()> {
    let admin = Admin::new(store.clone());
    let by = actor();
    match command {
        Command::User(c) => users::run(&admin, &by, c).await,
        Command::Target(c) => targets::target(&admin, &by, c).await,
        Command::Account(c) => targets::account(&admin, &by, c).await,
        Command::Access(c) => targets::access(&admin, &by, c).await,
        Command::TransferPolicy(c) => transfers::run(&admin, &by, c).await,
        Command::Agent(c) => agents::agent(&admin, &by, c).await,
        Command::AgentPolicy(c) => agents::policy(&admin, &by, c).await,
        Command::Rule(c) => rules::run(&admin, &by, c).await,
        Command::Commands(c) => commands::run(store, c).await,
        Command::Session(c) => sessions::session(&admin, &by, c).await,
        Command::Recording(c) => sessions::recording(settings, &admin, &by, c).await,
        Command::Audit(c) => sessions::audit(store, c).await,
        Command::Events(args) => events::run(store, args).await,
        Command::Siem(c) => siem::run(settings, c).await,
        Command::Status => siem::status(store).await,
        Command::Node(c) => nodes::run(&admin, &by, c).await,
        Command::Purge { days } => sessions::purge(settings, &admin, &by, days).await,
        Command::Verify { session, json } => verify::run(settings, store, &session, json).await,
        Command::Init | Command::Serve { .. } => Ok(()),
    }
}

/// Who acts from the command line: the local account that ran the command.
fn actor() -> Actor {
    Actor::cli(format!(
        "cli:{}",
        std::env::var("USER")
            .or_else(|_| std::env::var("LOGNAME"))
            .unwrap_or_else(|_| "unknown".into())
    ))
}

fn read_secret_line() -> anyhow::Result<Secret> {
    let mut line = String::new();
    std::io::stdin()
        .lock()
        .read_line(&mut line)
        .context("cannot read standard input")?;
    let trimmed = line.trim_end_matches(['\r', '\n']).to_owned();
    if trimmed.is_empty() {
        bail!(
            "standard input was empty: pipe the password in, for example `printf '%s' \"$PW\" | vigil ... --password-stdin`"
        );
    }
    Ok(Secret::from(trimmed))
}

fn password_or_generated(from_stdin: bool) -> anyhow::Result<(Secret, bool)> {
    if from_stdin {
        Ok((read_secret_line()?, false))
    } else {
        Ok((random_password(), true))
    }
}

/// Parses the first key line of a `.pub` file or a known_hosts line.
fn read_public_key(path: &Path) -> anyhow::Result<PublicKey> {
    let text =
        std::fs::read_to_string(path).with_context(|| format!("cannot read {}", path.display()))?;
    for line in text
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
    {
        if let Ok(key) = PublicKey::from_openssh(line) {
            return Ok(key);
        }
        // known_hosts: "host[,host] algorithm base64 [comment]"
        if let Some((_, rest)) = line.split_once(char::is_whitespace)
            && let Ok(key) = PublicKey::from_openssh(rest.trim())
        {
            return Ok(key);
        }
    }
    bail!(
        "{} holds no OpenSSH public key (expected a line like `ssh-ed25519 AAAA... comment`)",
        path.display()
    )
}

/// A time in Unix milliseconds as a UTC date and time; `-` for none.
fn when(ms: Option<i64>) -> String {
    let Some(ms) = ms else { return "-".into() };
    let t = vigil_core::Utc::from_millis(ms);
    format!(
        "{:04}-{:02}-{:02} {:02}:{:02}:{:02}Z",
        t.year, t.month, t.day, t.hour, t.minute, t.second
    )
}

#[cfg(test)]
mod tests {
    #[test]
    fn dates_are_utc_civil() {
        assert_eq!(super::when(Some(0)), "1970-01-01 00:00:00Z");
        assert_eq!(super::when(Some(1_795_000_000_000)), "2026-11-18 11:06:40Z");
        assert_eq!(super::when(None), "-");
    }
}
