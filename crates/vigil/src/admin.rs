//! The administration commands. Each works while `serve` runs: they share the store, and
//! `session kill` reaches the node that owns the session through the store's command queue.

use std::io::{BufRead, Read, Write};
use std::path::{Path, PathBuf};

use anyhow::{Context, bail};
use clap::Subcommand;
use russh::keys::{HashAlg, PublicKey};
use vigil_core::{Role, SecretKind};
use vigil_store::{ControlCommand, SessionFilter, Store};
use vigil_vault::{Secret, hash_password, random_password};

use crate::Command;
use crate::config::Settings;

#[derive(Subcommand)]
pub(crate) enum UserCommand {
    /// Let a user whose interaction was locked start sessions again (their locked sessions
    /// are unlocked).
    Release {
        name: String,
    },
    /// Add a user; without --password-stdin a random password is generated and shown once.
    Add {
        name: String,
        #[arg(long)]
        password_stdin: bool,
        /// pam-administrator, pam-auditor, system-administrator or operator.
        #[arg(long, default_value = "operator")]
        role: String,
    },
    /// Set a user's password (read from standard input, or generated and shown once).
    Passwd {
        name: String,
        #[arg(long)]
        password_stdin: bool,
    },
    /// Public keys a user may log in with.
    #[command(subcommand)]
    Key(KeyCommand),
    /// Enrol a TOTP second factor and print the enrolment URL and secret.
    Totp {
        name: String,
        /// Remove the second factor instead.
        #[arg(long)]
        remove: bool,
    },
    Disable {
        name: String,
    },
    Enable {
        name: String,
    },
    List,
}

#[derive(Subcommand)]
pub(crate) enum KeyCommand {
    /// Register an OpenSSH public key (a .pub file).
    Add {
        name: String,
        #[arg(long)]
        file: PathBuf,
    },
}

#[derive(Subcommand)]
pub(crate) enum TargetCommand {
    /// Add a target and pin its SSH host key.
    Add {
        name: String,
        #[arg(long)]
        host: String,
        #[arg(long, default_value_t = 22)]
        port: u16,
        /// The target's public host key (ssh_host_*_key.pub or a known_hosts line).
        #[arg(long, conflicts_with = "trust_on_add")]
        host_key_file: Option<PathBuf>,
        /// Connect now and pin whatever host key the target presents.
        #[arg(long)]
        trust_on_add: bool,
    },
    List,
}

#[derive(Subcommand)]
pub(crate) enum AccountCommand {
    /// Add a login on a target with its credential (vaulted; never shown again).
    Add {
        target: String,
        login: String,
        /// Read the password from standard input.
        #[arg(
            long,
            conflicts_with = "key_file",
            required_unless_present = "key_file"
        )]
        password_stdin: bool,
        /// An OpenSSH private key file (unencrypted).
        #[arg(long)]
        key_file: Option<PathBuf>,
    },
}

#[derive(Subcommand)]
pub(crate) enum AccessCommand {
    /// Let USER reach TARGET (every login) or TARGET:LOGIN (that login only).
    Grant {
        user: String,
        target: String,
        /// Also allow `ssh -L` port forwarding through this target.
        #[arg(long)]
        allow_port_forwarding: bool,
    },
}

#[derive(Subcommand)]
pub(crate) enum SessionCommand {
    /// Sessions, newest first.
    List {
        /// Only sessions that are still running.
        #[arg(long)]
        active: bool,
        #[arg(long)]
        json: bool,
        /// At most this many, newest first (1 to 10000).
        #[arg(long, default_value_t = 1000)]
        limit: i64,
    },
    /// One session and its log.
    Show {
        id: String,
        #[arg(long)]
        json: bool,
    },
    /// End a live session; the operator sees "You have been disconnected".
    Kill { id: String },
    /// Lock the operator's interaction: their input is dropped at the gateway, they are told
    /// who locked it, and they cannot start new sessions until unlocked or released.
    Lock { id: String },
    /// Unlock the operator's interaction (releases the user too).
    Unlock { id: String },
}

#[derive(Subcommand)]
pub(crate) enum RecordingCommand {
    /// Write a session's recording as an asciicast v3 file (playable with `asciinema play`).
    Export {
        id: String,
        #[arg(short = 'o', long)]
        output: Option<PathBuf>,
    },
}

#[derive(Subcommand)]
pub(crate) enum AuditCommand {
    List {
        #[arg(long, default_value_t = 50)]
        limit: i64,
        #[arg(long)]
        json: bool,
    },
}

/// Who did it, for the audit log: the local account that ran the command.
pub(crate) fn actor() -> String {
    format!(
        "cli:{}",
        std::env::var("USER")
            .or_else(|_| std::env::var("LOGNAME"))
            .unwrap_or_else(|_| "unknown".into())
    )
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

fn when(ms: Option<i64>) -> String {
    let Some(ms) = ms else { return "-".into() };
    let secs = ms / 1000;
    let (days, rem) = (secs.div_euclid(86_400), secs.rem_euclid(86_400));
    // Civil date from days since 1970-01-01 (Howard Hinnant's algorithm).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!(
        "{y:04}-{m:02}-{d:02} {:02}:{:02}:{:02}Z",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    )
}

pub(crate) async fn run(
    settings: &Settings,
    store: &Store,
    command: Command,
) -> anyhow::Result<()> {
    match command {
        Command::User(c) => user(settings, store, c).await,
        Command::Target(c) => target(store, c).await,
        Command::Account(c) => account(store, c).await,
        Command::Access(c) => access(store, c).await,
        Command::Session(c) => session(store, c).await,
        Command::Recording(c) => recording(settings, store, c).await,
        Command::Audit(c) => audit(store, c).await,
        Command::Purge { days } => crate::purge::run(settings, store, days).await,
        Command::Init | Command::Serve { .. } => Ok(()),
    }
}

async fn user(settings: &Settings, store: &Store, command: UserCommand) -> anyhow::Result<()> {
    match command {
        UserCommand::Add {
            name,
            password_stdin,
            role,
        } => {
            let role: Role = role.parse()?;
            let (password, generated) = password_or_generated(password_stdin)?;
            let hash = hash_password(&password)?;
            store.create_user(&name, role, Some(&hash)).await?;
            store
                .audit(
                    &actor(),
                    "user_added",
                    &name,
                    &serde_json::json!({ "role": role.as_str() }),
                )
                .await?;
            println!("added user {name} ({role})");
            if generated {
                println!(
                    "one-time password: {}",
                    password.expose_str().unwrap_or_default()
                );
            }
        }
        UserCommand::Passwd {
            name,
            password_stdin,
        } => {
            let (password, generated) = password_or_generated(password_stdin)?;
            store
                .set_user_password(&name, &hash_password(&password)?)
                .await?;
            store
                .audit(&actor(), "password_changed", &name, &serde_json::json!({}))
                .await?;
            println!("changed the password of {name}");
            if generated {
                println!(
                    "new password: {}",
                    password.expose_str().unwrap_or_default()
                );
            }
        }
        UserCommand::Key(KeyCommand::Add { name, file }) => {
            let key = read_public_key(&file)?;
            let fingerprint = key.fingerprint(HashAlg::Sha256).to_string();
            let line = key.to_openssh().context("cannot encode the key")?;
            store.add_user_key(&name, &line, &fingerprint).await?;
            store
                .audit(
                    &actor(),
                    "user_key_added",
                    &name,
                    &serde_json::json!({ "fingerprint": fingerprint }),
                )
                .await?;
            println!("added key {fingerprint} to {name}");
        }
        UserCommand::Release { name } => {
            crate::control::release(settings, store, &name, &actor()).await?
        }
        UserCommand::Totp { name, remove } => {
            if remove {
                store.set_user_totp(&name, None).await?;
                store
                    .audit(&actor(), "totp_removed", &name, &serde_json::json!({}))
                    .await?;
                println!("removed the second factor of {name}");
            } else {
                let secret = vigil_vault::new_totp_secret();
                let (url, base32) = vigil_vault::totp_enrolment(&secret, &name)?;
                store.set_user_totp(&name, Some(&secret)).await?;
                store
                    .audit(&actor(), "totp_enrolled", &name, &serde_json::json!({}))
                    .await?;
                println!(
                    "enrolled a TOTP second factor for {name}; add it to an authenticator app:"
                );
                println!("  url:    {url}");
                println!("  secret: {base32}");
            }
        }
        UserCommand::Disable { name } => {
            store.set_user_disabled(&name, true).await?;
            store
                .audit(&actor(), "user_disabled", &name, &serde_json::json!({}))
                .await?;
            println!("disabled {name}");
        }
        UserCommand::Enable { name } => {
            store.set_user_disabled(&name, false).await?;
            store
                .audit(&actor(), "user_enabled", &name, &serde_json::json!({}))
                .await?;
            println!("enabled {name}");
        }
        UserCommand::List => {
            println!("{:<24} {:<22} {:<9} {:<6}", "NAME", "ROLE", "STATE", "TOTP");
            for u in store.list_users().await? {
                println!(
                    "{:<24} {:<22} {:<9} {:<6}",
                    u.name,
                    u.role,
                    if u.disabled { "disabled" } else { "enabled" },
                    if u.has_totp { "yes" } else { "no" }
                );
            }
        }
    }
    Ok(())
}

async fn target(store: &Store, command: TargetCommand) -> anyhow::Result<()> {
    match command {
        TargetCommand::Add {
            name,
            host,
            port,
            host_key_file,
            trust_on_add,
        } => {
            let key = match (host_key_file, trust_on_add) {
                (Some(file), _) => read_public_key(&file)?
                    .to_openssh()
                    .context("cannot encode the key")?,
                (None, true) => {
                    println!("connecting to {host}:{port} to read its host key...");
                    vigil_ssh::fetch_host_key(&host, port)
                        .await
                        .map_err(|e| anyhow::anyhow!("cannot read the host key: {e}"))?
                }
                (None, false) => bail!(
                    "pin the target's host key: pass --host-key-file FILE (its ssh_host_*_key.pub) or --trust-on-add"
                ),
            };
            let fingerprint = PublicKey::from_openssh(&key)
                .map(|k| k.fingerprint(HashAlg::Sha256).to_string())
                .unwrap_or_default();
            store.create_target(&name, &host, port, Some(&key)).await?;
            store
                .audit(
                    &actor(),
                    "target_added",
                    &name,
                    &serde_json::json!({ "host": host, "port": port, "host_key": fingerprint }),
                )
                .await?;
            println!("added target {name} ({host}:{port}), host key {fingerprint}");
        }
        TargetCommand::List => {
            println!("{:<24} {:<32} {:<6} LOGINS", "NAME", "HOST", "PORT");
            for t in store.list_targets().await? {
                let logins: Vec<String> = store
                    .accounts(&t)
                    .await?
                    .into_iter()
                    .map(|a| a.login)
                    .collect();
                println!(
                    "{:<24} {:<32} {:<6} {}",
                    t.name,
                    t.host,
                    t.port,
                    logins.join(", ")
                );
            }
        }
    }
    Ok(())
}

async fn account(store: &Store, command: AccountCommand) -> anyhow::Result<()> {
    let AccountCommand::Add {
        target,
        login,
        password_stdin,
        key_file,
    } = command;
    let (kind, secret) = match (password_stdin, key_file) {
        (true, _) => (SecretKind::Password, read_secret_line()?),
        (false, Some(path)) => {
            let mut text = String::new();
            std::fs::File::open(&path)
                .and_then(|mut f| f.read_to_string(&mut text))
                .with_context(|| format!("cannot read {}", path.display()))?;
            russh::keys::decode_secret_key(&text, None).map_err(|e| {
                anyhow::anyhow!(
                    "{} is not an unencrypted OpenSSH private key: {e}",
                    path.display()
                )
            })?;
            (SecretKind::PrivateKey, Secret::from(text))
        }
        (false, None) => bail!("give the credential: --password-stdin or --key-file FILE"),
    };
    store.create_account(&target, &login, kind, &secret).await?;
    store
        .audit(
            &actor(),
            "account_added",
            &format!("{login}@{target}"),
            &serde_json::json!({ "kind": kind.as_str() }),
        )
        .await?;
    println!(
        "added login {login} on {target} ({}, vaulted)",
        kind.as_str()
    );
    Ok(())
}

async fn access(store: &Store, command: AccessCommand) -> anyhow::Result<()> {
    let AccessCommand::Grant {
        user,
        target,
        allow_port_forwarding,
    } = command;
    let (target, login) = match target.split_once(':') {
        Some((t, l)) => (t.to_owned(), Some(l.to_owned())),
        None => (target, None),
    };
    store
        .create_grant(&user, &target, login.as_deref(), allow_port_forwarding)
        .await?;
    store.audit(&actor(), "access_granted", &user, &serde_json::json!({ "target": target, "login": login, "port_forwarding": allow_port_forwarding })).await?;
    println!(
        "granted {user} access to {}{}",
        target,
        login.map(|l| format!(" as {l}")).unwrap_or_default()
    );
    Ok(())
}

async fn session(store: &Store, command: SessionCommand) -> anyhow::Result<()> {
    match command {
        SessionCommand::List {
            active,
            json,
            limit,
        } => {
            let filter = SessionFilter {
                active: active.then_some(true),
                limit: Some(limit),
                ..Default::default()
            };
            let rows = store.list_sessions(&filter).await?;
            if json {
                println!("{}", serde_json::to_string_pretty(&rows)?);
                return Ok(());
            }
            println!(
                "{:<36} {:<12} {:<20} {:<8} {:<21} {:<21} {:>10} {:>10} REASON",
                "ID", "USER", "TARGET", "STATUS", "STARTED", "ENDED", "IN", "OUT"
            );
            for s in rows {
                let target = match (&s.login, &s.target_name) {
                    (Some(l), Some(t)) => format!("{l}@{t}"),
                    (None, Some(t)) => t.clone(),
                    _ => "-".into(),
                };
                println!(
                    "{:<36} {:<12} {:<20} {:<8} {:<21} {:<21} {:>10} {:>10} {}",
                    s.id,
                    s.user_name,
                    target,
                    s.status,
                    when(Some(s.started_at)),
                    when(s.ended_at),
                    s.bytes_in,
                    s.bytes_out,
                    s.end_reason.unwrap_or_default()
                );
            }
        }
        SessionCommand::Show { id, json } => {
            let row = store.session(&id).await?;
            let events = store.session_events(&id).await?;
            if json {
                println!(
                    "{}",
                    serde_json::to_string_pretty(
                        &serde_json::json!({ "session": row, "events": events })
                    )?
                );
                return Ok(());
            }
            println!(
                "session {} by {} from {} on node {}",
                row.id, row.user_name, row.client_addr, row.node
            );
            println!(
                "status {} {}",
                row.status,
                row.end_reason.unwrap_or_default()
            );
            for e in events {
                println!(
                    "{}  {:<18} {:<14} {}",
                    when(Some(e.at)),
                    e.kind,
                    e.actor.unwrap_or_default(),
                    e.detail
                );
            }
        }
        SessionCommand::Lock { id } => crate::control::set_lock(store, &id, true, &actor()).await?,
        SessionCommand::Unlock { id } => {
            crate::control::set_lock(store, &id, false, &actor()).await?
        }
        SessionCommand::Kill { id } => {
            let row = store.session(&id).await?;
            store
                .enqueue_command(&id, ControlCommand::Terminate, &actor())
                .await?;
            println!("asked node {} to end session {id}...", row.node);
            match crate::control::wait_for_status(store, &id, &["closed"]).await? {
                Some(now) => {
                    println!("session {id} ended: {}", now.end_reason.unwrap_or_default());
                    return Ok(());
                }
                None => bail!(
                    "session {id} is still open after 10 s: is node {} running?",
                    row.node
                ),
            }
        }
    }
    Ok(())
}

async fn recording(
    settings: &Settings,
    store: &Store,
    command: RecordingCommand,
) -> anyhow::Result<()> {
    let RecordingCommand::Export { id, output } = command;
    let row = store.session(&id).await?;
    let key = row.recording_key.ok_or_else(|| {
        anyhow::anyhow!("session {id} has no recording (it never reached a target)")
    })?;
    let mut reader = crate::init::recording_store(settings).open(&key)?;
    let written = match &output {
        Some(path) => {
            let mut file = std::fs::File::create(path)
                .with_context(|| format!("cannot create {}", path.display()))?;
            let n = std::io::copy(&mut reader, &mut file)
                .with_context(|| format!("cannot write {}", path.display()))?;
            file.flush()?;
            n
        }
        None => std::io::copy(&mut reader, &mut std::io::stdout().lock())
            .context("cannot write the recording")?,
    };
    store
        .audit(
            &actor(),
            "recording_exported",
            &id,
            &serde_json::json!({ "bytes": written }),
        )
        .await?;
    if let Some(path) = output {
        eprintln!(
            "wrote {} ({written} bytes); play it with `asciinema play {}`",
            path.display(),
            path.display()
        );
    }
    Ok(())
}

async fn audit(store: &Store, command: AuditCommand) -> anyhow::Result<()> {
    let AuditCommand::List { limit, json } = command;
    let entries = store.audit_entries(limit).await?;
    if json {
        println!("{}", serde_json::to_string_pretty(&entries)?);
        return Ok(());
    }
    for e in entries {
        println!(
            "{}  {:<20} {:<22} {:<20} {}",
            when(Some(e.at)),
            e.actor,
            e.action,
            e.subject,
            e.detail
        );
    }
    Ok(())
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
