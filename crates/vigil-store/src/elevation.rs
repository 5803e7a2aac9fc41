//! A login's elevation settings (issue 12): whether the gateway answers `sudo` for it, and
//! the separate vaulted passwords for sudo and for `su` (root). The passwords are sealed with
//! contexts of their own (`account:ID:sudo`, `account:ID:su`), so one ciphertext cannot be
//! swapped for another.

use sqlx::Row;
use vigil_core::{Account, SecretKind, SudoInject};
use vigil_vault::Secret;

use crate::{Store, StoreError, Tx};

/// What to do with one of a login's elevation passwords.
pub enum SecretChange {
    Keep,
    Set(Secret),
    Remove,
}

impl SecretChange {
    /// `set`, `kept` or `removed`: what the evidence says (never the value).
    pub fn as_str(&self) -> &'static str {
        match self {
            SecretChange::Keep => "kept",
            SecretChange::Set(_) => "set",
            SecretChange::Remove => "removed",
        }
    }
}

fn context(account_id: &str, which: &str) -> String {
    format!("account:{account_id}:{which}")
}

/// The longest `sudo_ticket_minutes` accepted (a day).
pub const MAX_TICKET_MINUTES: u32 = 1440;

/// A second rejection within this many milliseconds of the first trips the circuit breaker.
const REJECTIONS_WINDOW_MS: i64 = 15 * 60 * 1000;

/// What changes in a login's elevation settings; `None` and `Keep` leave a setting as it is.
pub struct ElevationChange {
    pub inject: Option<SudoInject>,
    pub sudo: SecretChange,
    pub su: SecretChange,
    pub ticket_minutes: Option<u32>,
}

impl Tx {
    /// Sets a login's elevation; an administrator acting also closes the circuit breaker.
    /// Returns the login as it is now.
    pub async fn set_account_elevation(
        &mut self,
        target: &str,
        login: &str,
        change: &ElevationChange,
    ) -> Result<Account, StoreError> {
        let (sudo, su) = (&change.sudo, &change.su);
        let account = self.account(target, login).await?;
        let inject = change.inject.unwrap_or(account.sudo_inject);
        let ticket = change.ticket_minutes.unwrap_or(account.sudo_ticket_minutes);
        if ticket > MAX_TICKET_MINUTES {
            return Err(StoreError::Invalid {
                what: "sudo_ticket_minutes",
                why: format!(
                    "{ticket} is more than {MAX_TICKET_MINUTES}: give the target's sudoers timestamp_timeout in minutes (0 when it asks every time)"
                ),
            });
        }
        let will_have_sudo = match sudo {
            SecretChange::Keep => account.sudo_secret,
            SecretChange::Set(_) => true,
            SecretChange::Remove => false,
        };
        if inject != SudoInject::Off
            && !will_have_sudo
            && account.secret_kind != SecretKind::Password
        {
            return Err(StoreError::Invalid {
                what: "sudo_inject",
                why: format!(
                    "login {login} on {target} signs in with a key, so there is no password to answer sudo with: give one (--sudo-password-stdin)"
                ),
            });
        }
        for (column, which, change) in [
            ("sudo_secret_sealed", "sudo", sudo),
            ("su_secret_sealed", "su", su),
        ] {
            let sealed = match change {
                SecretChange::Keep => continue,
                SecretChange::Remove => None,
                SecretChange::Set(secret) if secret.is_empty() => {
                    return Err(StoreError::Invalid {
                        what: "elevation password",
                        why: "it is empty".into(),
                    });
                }
                SecretChange::Set(secret) => Some(vigil_vault::seal(
                    &self.store.master,
                    &context(&account.id, which),
                    secret,
                )?),
            };
            sqlx::query(sqlx::AssertSqlSafe(format!(
                "UPDATE accounts SET {column} = $1 WHERE id = $2"
            )))
            .bind(sealed)
            .bind(&account.id)
            .execute(&mut *self.conn)
            .await?;
        }
        sqlx::query("UPDATE accounts SET sudo_inject = $1, sudo_ticket_minutes = $2, sudo_blocked_at = NULL, sudo_rejected_at = NULL WHERE id = $3")
            .bind(inject.as_str())
            .bind(i64::from(ticket))
            .bind(&account.id)
            .execute(&mut *self.conn)
            .await?;
        self.account(target, login).await
    }

    /// The target rejected `login`'s vaulted elevation password at `now_ms`: flags it, and a
    /// second rejection within 15 minutes blocks answering for the login until an
    /// administrator sets its elevation again (against `pam_faillock` lockouts). Returns
    /// whether answering is blocked now.
    pub async fn elevation_rejected(
        &mut self,
        target: &str,
        login: &str,
        now_ms: i64,
    ) -> Result<bool, StoreError> {
        let account = self.account(target, login).await?;
        let last: Option<i64> =
            sqlx::query_scalar("SELECT sudo_rejected_at FROM accounts WHERE id = $1")
                .bind(&account.id)
                .fetch_one(&mut *self.conn)
                .await?;
        let blocked =
            account.sudo_blocked || last.is_some_and(|t| now_ms - t < REJECTIONS_WINDOW_MS);
        let sql = if blocked {
            "UPDATE accounts SET sudo_rejected_at = $1, sudo_blocked_at = COALESCE(sudo_blocked_at, $1) WHERE id = $2"
        } else {
            "UPDATE accounts SET sudo_rejected_at = $1 WHERE id = $2"
        };
        sqlx::query(sql)
            .bind(now_ms)
            .bind(&account.id)
            .execute(&mut *self.conn)
            .await?;
        Ok(blocked)
    }
}

impl Store {
    /// The password that answers sudo for `account`: its own sudo password, else the login's
    /// password. Call only to answer a prompt.
    pub async fn account_sudo_secret(&self, account: &Account) -> Result<Secret, StoreError> {
        match self.sealed(account, "sudo_secret_sealed").await? {
            Some(sealed) => Ok(vigil_vault::open(
                &self.master,
                &context(&account.id, "sudo"),
                &sealed,
            )?),
            None if account.secret_kind == SecretKind::Password => {
                self.account_secret(account).await
            }
            None => Err(StoreError::NotFound(format!(
                "a sudo password for login {}",
                account.login
            ))),
        }
    }

    /// The root password that answers `su` for `account`. Call only to answer a prompt.
    pub async fn account_su_secret(&self, account: &Account) -> Result<Secret, StoreError> {
        let sealed = self
            .sealed(account, "su_secret_sealed")
            .await?
            .ok_or_else(|| {
                StoreError::NotFound(format!("an su password for login {}", account.login))
            })?;
        Ok(vigil_vault::open(
            &self.master,
            &context(&account.id, "su"),
            &sealed,
        )?)
    }

    async fn sealed(&self, account: &Account, column: &str) -> Result<Option<String>, StoreError> {
        let row = sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT {column} AS sealed FROM accounts WHERE id = $1"
        )))
        .bind(&account.id)
        .fetch_optional(&self.pool)
        .await?
        .ok_or_else(|| StoreError::NotFound(format!("login {}", account.login)))?;
        Ok(row.try_get("sealed")?)
    }
}
