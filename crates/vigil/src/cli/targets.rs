//! `vigil target ...`, `vigil account ...`, `vigil access ...`: targets with their pinned host
//! keys, their logins (vaulted credentials) and who may reach them.

use std::io::Read;
use std::path::PathBuf;

use anyhow::{Context, bail};
use clap::Subcommand;
use russh::keys::{HashAlg, PublicKey};
use vigil_core::SecretKind;
use vigil_session::{Actor, Admin};
use vigil_vault::Secret;

use super::{read_public_key, read_secret_line};

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
    /// Change a target's host or port (its pinned host key stays).
    Set {
        name: String,
        #[arg(long)]
        host: Option<String>,
        #[arg(long)]
        port: Option<u16>,
    },
    /// No new session reaches a disabled target.
    Disable {
        name: String,
    },
    Enable {
        name: String,
    },
    /// Remove a target with its logins and grants (its sessions keep their records).
    Remove {
        name: String,
    },
    List,
}

#[derive(Subcommand)]
pub(crate) enum AccountCommand {
    /// Add a login on a target with its credential (vaulted; never shown again).
    Add {
        target: String,
        login: String,
        #[command(flatten)]
        credential: CredentialArgs,
    },
    /// Replace a login's credential.
    Rotate {
        target: String,
        login: String,
        #[command(flatten)]
        credential: CredentialArgs,
    },
    /// Set how the gateway answers sudo (and su) for a login, and its elevation passwords.
    Set {
        target: String,
        login: String,
        /// off (the prompt reaches the operator), start (the shell starts elevated) or
        /// on-demand (the gateway answers the prompt of a sudo line the operator submits).
        #[arg(long)]
        sudo_inject: Option<String>,
        /// Read a separate sudo password from standard input (default: the login's own).
        #[arg(long, conflicts_with_all = ["no_sudo_password", "su_password_stdin"])]
        sudo_password_stdin: bool,
        /// Forget the separate sudo password.
        #[arg(long)]
        no_sudo_password: bool,
        /// Read the root password for `su` from standard input.
        #[arg(long, conflicts_with = "no_su_password")]
        su_password_stdin: bool,
        /// Forget the root password for `su`.
        #[arg(long)]
        no_su_password: bool,
        /// How long the target's sudo keeps a credential cached, in minutes (its sudoers
        /// `timestamp_timeout`; default 15, 0 when it asks every time): on-demand answering
        /// waits this long after an earlier sudo on the same terminal.
        #[arg(long, value_name = "MINUTES")]
        sudo_ticket_minutes: Option<u32>,
    },
    /// Remove a login from a target.
    Remove { target: String, login: String },
    /// Logins (never their credentials), of one target or of all.
    List { target: Option<String> },
}

#[derive(clap::Args)]
pub(crate) struct CredentialArgs {
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
    /// Revoke a grant by its id (as `access list` shows it).
    Revoke {
        id: String,
    },
    List,
}

pub(super) async fn target(
    admin: &Admin,
    by: &Actor,
    command: TargetCommand,
) -> anyhow::Result<()> {
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
            admin
                .add_target(by, &name, &host, port, &key, &fingerprint)
                .await?;
            println!("added target {name} ({host}:{port}), host key {fingerprint}");
        }
        TargetCommand::Set { name, host, port } => {
            if host.is_none() && port.is_none() {
                bail!("say what changes: --host HOST and/or --port PORT");
            }
            let t = admin.store().target_by_name(&name).await?;
            let (host, port) = (host.unwrap_or(t.host), port.unwrap_or(t.port));
            admin.set_target_address(by, &name, &host, port).await?;
            println!("{name} is now at {host}:{port}");
        }
        TargetCommand::Disable { name } => {
            admin.set_target_disabled(by, &name, true).await?;
            println!("disabled {name}: no new session reaches it");
        }
        TargetCommand::Enable { name } => {
            admin.set_target_disabled(by, &name, false).await?;
            println!("enabled {name}");
        }
        TargetCommand::Remove { name } => {
            admin.remove_target(by, &name).await?;
            println!("removed target {name} with its logins and grants");
        }
        TargetCommand::List => {
            println!(
                "{:<24} {:<32} {:<6} {:<9} LOGINS",
                "NAME", "HOST", "PORT", "STATE"
            );
            for t in admin.store().list_targets().await? {
                let logins: Vec<String> = admin
                    .store()
                    .accounts(&t)
                    .await?
                    .into_iter()
                    .map(|a| a.login)
                    .collect();
                println!(
                    "{:<24} {:<32} {:<6} {:<9} {}",
                    t.name,
                    t.host,
                    t.port,
                    if t.disabled { "disabled" } else { "enabled" },
                    logins.join(", ")
                );
            }
        }
    }
    Ok(())
}

fn read_credential(args: CredentialArgs) -> anyhow::Result<(SecretKind, Secret)> {
    match (args.password_stdin, args.key_file) {
        (true, _) => Ok((SecretKind::Password, read_secret_line()?)),
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
            Ok((SecretKind::PrivateKey, Secret::from(text)))
        }
        (false, None) => bail!("give the credential: --password-stdin or --key-file FILE"),
    }
}

pub(super) async fn account(
    admin: &Admin,
    by: &Actor,
    command: AccountCommand,
) -> anyhow::Result<()> {
    match command {
        AccountCommand::Add {
            target,
            login,
            credential,
        } => {
            let (kind, secret) = read_credential(credential)?;
            admin.add_login(by, &target, &login, kind, &secret).await?;
            println!(
                "added login {login} on {target} ({}, vaulted)",
                kind.as_str()
            );
        }
        AccountCommand::Rotate {
            target,
            login,
            credential,
        } => {
            let (kind, secret) = read_credential(credential)?;
            admin
                .rotate_login(by, &target, &login, kind, &secret)
                .await?;
            println!(
                "replaced the credential of {login} on {target} ({}, vaulted)",
                kind.as_str()
            );
        }
        AccountCommand::Set {
            target,
            login,
            sudo_inject,
            sudo_password_stdin,
            no_sudo_password,
            su_password_stdin,
            no_su_password,
            sudo_ticket_minutes,
        } => {
            use vigil_store::SecretChange;
            let inject = match sudo_inject.as_deref() {
                None => None,
                Some(m) => Some(vigil_core::SudoInject::parse(m).ok_or_else(|| {
                    anyhow::anyhow!(
                        "--sudo-inject {m:?}: use {}",
                        vigil_core::SudoInject::ALLOWED
                    )
                })?),
            };
            let change = |read: bool, forget: bool| -> anyhow::Result<SecretChange> {
                Ok(match (read, forget) {
                    (true, _) => SecretChange::Set(read_secret_line()?),
                    (false, true) => SecretChange::Remove,
                    (false, false) => SecretChange::Keep,
                })
            };
            let change = vigil_store::ElevationChange {
                inject,
                sudo: change(sudo_password_stdin, no_sudo_password)?,
                su: change(su_password_stdin, no_su_password)?,
                ticket_minutes: sudo_ticket_minutes,
            };
            let a = admin
                .set_login_elevation(by, &target, &login, &change)
                .await?;
            println!(
                "{login} on {target}: sudo_inject {}, sudo password {}, su password {}, sudo ticket {} min",
                a.sudo_inject.as_str(),
                elevation_password(a.sudo_secret, "the login's own"),
                elevation_password(a.su_secret, "none"),
                a.sudo_ticket_minutes,
            );
        }
        AccountCommand::Remove { target, login } => {
            admin.remove_login(by, &target, &login).await?;
            println!("removed login {login} from {target}");
        }
        AccountCommand::List { target } => {
            let targets = match target {
                Some(name) => vec![admin.store().target_by_name(&name).await?],
                None => admin.store().list_targets().await?,
            };
            println!(
                "{:<24} {:<24} {:<12} {:<10} ELEVATION PASSWORDS",
                "TARGET", "LOGIN", "CREDENTIAL", "SUDO"
            );
            for t in targets {
                for a in admin.store().accounts(&t).await? {
                    let mut extra = Vec::new();
                    if a.sudo_secret {
                        extra.push("sudo");
                    }
                    if a.su_secret {
                        extra.push("su");
                    }
                    if a.sudo_blocked {
                        // The circuit breaker: the target rejected the password twice.
                        extra.push("BLOCKED");
                    }
                    println!(
                        "{:<24} {:<24} {:<12} {:<10} {}",
                        t.name,
                        a.login,
                        a.secret_kind.as_str(),
                        a.sudo_inject.as_str(),
                        if extra.is_empty() {
                            "-".to_owned()
                        } else {
                            extra.join(", ")
                        }
                    );
                }
            }
        }
    }
    Ok(())
}

pub(super) async fn access(
    admin: &Admin,
    by: &Actor,
    command: AccessCommand,
) -> anyhow::Result<()> {
    match command {
        AccessCommand::Grant {
            user,
            target,
            allow_port_forwarding,
        } => {
            let (target, login) = match target.split_once(':') {
                Some((t, l)) => (t.to_owned(), Some(l.to_owned())),
                None => (target, None),
            };
            let grant = admin
                .grant(by, &user, &target, login.as_deref(), allow_port_forwarding)
                .await?;
            println!(
                "granted {user} access to {}{} (grant {})",
                target,
                login.map(|l| format!(" as {l}")).unwrap_or_default(),
                grant.id
            );
        }
        AccessCommand::Revoke { id } => {
            admin.revoke(by, &id).await?;
            println!("revoked grant {id}");
        }
        AccessCommand::List => {
            println!(
                "{:<36} {:<20} {:<20} {:<16} FORWARDING",
                "ID", "USER", "TARGET", "LOGIN"
            );
            for g in admin.store().list_grants().await? {
                println!(
                    "{:<36} {:<20} {:<20} {:<16} {}",
                    g.id,
                    g.user_name,
                    g.target_name,
                    g.login.as_deref().unwrap_or("(every login)"),
                    if g.allow_port_forwarding { "yes" } else { "no" }
                );
            }
        }
    }
    Ok(())
}

/// How `account set` describes an elevation password: vaulted, or what stands in for it.
fn elevation_password(vaulted: bool, otherwise: &str) -> String {
    if vaulted {
        "vaulted".into()
    } else {
        otherwise.into()
    }
}
