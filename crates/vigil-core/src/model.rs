//! Rows of the domain as the rest of Vigil sees them. Secrets are not here: credentials live
//! in the vault and reach the SSH client only as `vigil_vault::Secret`.

use crate::Role;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct User {
    pub id: String,
    pub name: String,
    pub role: Role,
    pub disabled: bool,
    pub has_password: bool,
    pub has_totp: bool,
    pub created_at: i64,
    /// Set while an auditor has locked this operator's interaction (seed 001): who did it.
    /// A locked user cannot start new sessions until released.
    pub locked_by: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UserKey {
    pub id: String,
    pub user_id: String,
    /// OpenSSH one-line form, `ssh-ed25519 AAAA... comment`.
    pub public_key: String,
    pub fingerprint: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target {
    pub id: String,
    pub name: String,
    pub host: String,
    pub port: u16,
    /// The pinned host key in OpenSSH one-line form.
    pub host_key: Option<String>,
    pub protocol: String,
    /// A disabled target refuses new sessions and stays in the records.
    pub disabled: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SecretKind {
    Password,
    PrivateKey,
}

impl SecretKind {
    pub fn as_str(self) -> &'static str {
        match self {
            SecretKind::Password => "password",
            SecretKind::PrivateKey => "private-key",
        }
    }
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "password" => Some(SecretKind::Password),
            "private-key" => Some(SecretKind::PrivateKey),
            _ => None,
        }
    }
}

/// A login on a target. The credential itself is never part of this value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Account {
    pub id: String,
    pub target_id: String,
    pub login: String,
    pub secret_kind: SecretKind,
    /// Whether the gateway answers `sudo` for this login (issue 12).
    pub sudo_inject: crate::SudoInject,
    /// A vaulted password for sudo other than the login's own.
    pub sudo_secret: bool,
    /// A vaulted root password for `su`.
    pub su_secret: bool,
    /// The target rejected the vaulted elevation password twice within 15 minutes: the
    /// gateway does not answer for this login until an administrator sets its elevation.
    pub sudo_blocked: bool,
    /// How long the target's sudo keeps a credential cached (its `timestamp_timeout`), in
    /// minutes: on-demand answering waits this long after an earlier sudo.
    pub sudo_ticket_minutes: u32,
}

/// Permission for a user to reach a target, optionally only as one login.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Grant {
    pub id: String,
    pub user_id: String,
    pub target_id: String,
    /// `None`: every login of the target.
    pub login: Option<String>,
    pub allow_port_forwarding: bool,
}
