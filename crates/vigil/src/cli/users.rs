//! `vigil user ...`: users, roles, passwords, keys, second factors, release.

use std::path::PathBuf;

use anyhow::Context;
use clap::Subcommand;
use russh::keys::HashAlg;
use vigil_core::Role;
use vigil_session::{Actor, Admin};
use vigil_vault::hash_password;

use super::{password_or_generated, read_public_key};

#[derive(Subcommand)]
pub(crate) enum UserCommand {
    /// Add a user; without --password-stdin a random password is generated and shown once.
    Add {
        name: String,
        #[arg(long)]
        password_stdin: bool,
        /// pam-administrator, pam-auditor, system-administrator or operator.
        #[arg(long, default_value = "operator")]
        role: String,
    },
    /// Set a user's password (read from standard input, or generated and shown once); their
    /// console sessions are signed out.
    Passwd {
        name: String,
        #[arg(long)]
        password_stdin: bool,
    },
    /// Change a user's role.
    Role {
        name: String,
        /// pam-administrator, pam-auditor, system-administrator or operator.
        role: String,
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
    /// No sign-in and no new session until enabled; console sessions end.
    Disable {
        name: String,
    },
    Enable {
        name: String,
    },
    /// Let a user whose interaction was locked start sessions again (their locked sessions
    /// are unlocked).
    Release {
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
    /// The user's keys with their ids and fingerprints.
    List { name: String },
    /// Remove a key by its id or fingerprint (as `key list` shows them).
    Remove { name: String, key: String },
}

pub(super) async fn run(admin: &Admin, by: &Actor, command: UserCommand) -> anyhow::Result<()> {
    match command {
        UserCommand::Add {
            name,
            password_stdin,
            role,
        } => {
            let role: Role = role.parse()?;
            let (password, generated) = password_or_generated(password_stdin)?;
            admin
                .add_user(by, &name, role, Some(&hash_password(&password)?))
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
            admin
                .set_password(by, &name, &hash_password(&password)?)
                .await?;
            println!("changed the password of {name}; their console sessions are signed out");
            if generated {
                println!(
                    "new password: {}",
                    password.expose_str().unwrap_or_default()
                );
            }
        }
        UserCommand::Role { name, role } => {
            let role: Role = role.parse()?;
            admin.set_role(by, &name, role).await?;
            println!("{name} is now {role}");
        }
        UserCommand::Key(KeyCommand::Add { name, file }) => {
            let key = read_public_key(&file)?;
            let fingerprint = key.fingerprint(HashAlg::Sha256).to_string();
            let line = key.to_openssh().context("cannot encode the key")?;
            admin.add_key(by, &name, &line, &fingerprint).await?;
            println!("added key {fingerprint} to {name}");
        }
        UserCommand::Key(KeyCommand::List { name }) => {
            let user = admin.store().user_by_name(&name).await?;
            println!("{:<36} FINGERPRINT", "ID");
            for k in admin.store().user_keys(&user).await? {
                println!("{:<36} {}", k.id, k.fingerprint);
            }
        }
        UserCommand::Key(KeyCommand::Remove { name, key }) => {
            admin.remove_key(by, &name, &key).await?;
            println!("removed key {key} from {name}");
        }
        UserCommand::Release { name } => match admin.release(by, &name).await? {
            Some(locker) => println!(
                "released {name} (locked by {locker}): they may start sessions again; their locked sessions are being unlocked"
            ),
            None => println!("{name} was not locked"),
        },
        UserCommand::Totp { name, remove } => {
            if remove {
                admin.set_totp(by, &name, None).await?;
                println!("removed the second factor of {name}");
            } else {
                let secret = vigil_vault::new_totp_secret();
                let (url, base32) = vigil_vault::totp_enrolment(&secret, &name)?;
                admin.set_totp(by, &name, Some(&secret)).await?;
                println!(
                    "enrolled a TOTP second factor for {name}; add it to an authenticator app:"
                );
                println!("  url:    {url}");
                println!("  secret: {base32}");
            }
        }
        UserCommand::Disable { name } => {
            admin.set_disabled(by, &name, true).await?;
            println!("disabled {name}");
        }
        UserCommand::Enable { name } => {
            admin.set_disabled(by, &name, false).await?;
            println!("enabled {name}");
        }
        UserCommand::List => {
            println!(
                "{:<24} {:<22} {:<9} {:<6} LOCKED BY",
                "NAME", "ROLE", "STATE", "TOTP"
            );
            for u in admin.store().list_users().await? {
                println!(
                    "{:<24} {:<22} {:<9} {:<6} {}",
                    u.name,
                    u.role,
                    if u.disabled { "disabled" } else { "enabled" },
                    if u.has_totp { "yes" } else { "no" },
                    u.locked_by.as_deref().unwrap_or("-")
                );
            }
        }
    }
    Ok(())
}
