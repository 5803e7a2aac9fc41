//! Targets, their accounts (logins with vaulted credentials) and access grants.

use sqlx::Row;
use sqlx::any::AnyRow;
use vigil_core::{Account, Grant, SecretKind, Target, now_millis};
use vigil_vault::Secret;

use crate::users::flag;
use crate::{Store, StoreError, Tx, check_name, conflict, found, new_id};

fn target_from(row: &AnyRow) -> Result<Target, StoreError> {
    let port: i64 = row.try_get("port")?;
    Ok(Target {
        id: row.try_get("id")?,
        name: row.try_get("name")?,
        host: row.try_get("host")?,
        port: u16::try_from(port).map_err(|_| StoreError::Invalid {
            what: "stored port",
            why: port.to_string(),
        })?,
        host_key: row.try_get("host_key")?,
        protocol: row.try_get("protocol")?,
        disabled: flag(row, "disabled")?,
    })
}

/// The columns `account_from` reads.
pub(crate) const ACCOUNT_COLUMNS: &str = "id, target_id, login, secret_kind, sudo_inject, sudo_secret_sealed IS NOT NULL AS has_sudo_secret, su_secret_sealed IS NOT NULL AS has_su_secret, sudo_blocked_at IS NOT NULL AS sudo_blocked, sudo_ticket_minutes";

fn account_from(row: &AnyRow) -> Result<Account, StoreError> {
    let kind: String = row.try_get("secret_kind")?;
    let inject: String = row.try_get("sudo_inject")?;
    Ok(Account {
        sudo_inject: vigil_core::SudoInject::parse(&inject).ok_or(StoreError::Invalid {
            what: "stored sudo_inject",
            why: inject,
        })?,
        sudo_secret: flag(row, "has_sudo_secret")?,
        su_secret: flag(row, "has_su_secret")?,
        sudo_blocked: flag(row, "sudo_blocked")?,
        sudo_ticket_minutes: u32::try_from(row.try_get::<i64, _>("sudo_ticket_minutes")?)
            .unwrap_or(u32::MAX),
        id: row.try_get("id")?,
        target_id: row.try_get("target_id")?,
        login: row.try_get("login")?,
        secret_kind: SecretKind::parse(&kind).ok_or(StoreError::Invalid {
            what: "stored secret kind",
            why: kind,
        })?,
    })
}

/// A host name or address and a port a target can be reached at.
pub(crate) fn check_address(host: &str, port: u16) -> Result<(), StoreError> {
    if host.is_empty() || host.chars().any(char::is_whitespace) {
        return Err(StoreError::Invalid {
            what: "host",
            why: format!("{host:?} is not a host name or address"),
        });
    }
    if port == 0 {
        return Err(StoreError::Invalid {
            what: "port",
            why: "0 is not a port: use 1 to 65535".into(),
        });
    }
    Ok(())
}

pub(crate) fn secret_context(account_id: &str) -> String {
    format!("account:{account_id}")
}

impl Store {
    pub async fn target_by_name(&self, name: &str) -> Result<Target, StoreError> {
        find_target(&self.pool, name).await
    }

    pub async fn list_targets(&self) -> Result<Vec<Target>, StoreError> {
        let rows = sqlx::query(
            "SELECT id, name, host, port, host_key, protocol, disabled FROM targets ORDER BY name",
        )
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(target_from).collect()
    }

    /// The target's accounts in creation order (the first is the default login).
    pub async fn accounts(&self, target: &Target) -> Result<Vec<Account>, StoreError> {
        accounts_on(&self.pool, target).await
    }

    /// Opens the account's credential. Call only to log in to the target.
    pub async fn account_secret(&self, account: &Account) -> Result<Secret, StoreError> {
        let sealed: String = sqlx::query_scalar("SELECT secret_sealed FROM accounts WHERE id = $1")
            .bind(&account.id)
            .fetch_optional(&self.pool)
            .await?
            .ok_or_else(|| StoreError::NotFound(format!("login {}", account.login)))?;
        Ok(vigil_vault::open(
            &self.master,
            &secret_context(&account.id),
            &sealed,
        )?)
    }

    pub async fn grants_for_user(&self, user: &vigil_core::User) -> Result<Vec<Grant>, StoreError> {
        let rows = sqlx::query("SELECT id, user_id, target_id, login, allow_port_forwarding FROM grants WHERE user_id = $1 ORDER BY created_at, id")
            .bind(&user.id)
            .fetch_all(&self.pool)
            .await?;
        rows.iter()
            .map(|r| {
                Ok(Grant {
                    id: r.try_get("id")?,
                    user_id: r.try_get("user_id")?,
                    target_id: r.try_get("target_id")?,
                    login: r.try_get("login")?,
                    allow_port_forwarding: flag(r, "allow_port_forwarding")?,
                })
            })
            .collect()
    }

    /// Targets the user holds at least one grant for, by name.
    pub async fn targets_for_user(
        &self,
        user: &vigil_core::User,
    ) -> Result<Vec<Target>, StoreError> {
        let rows = sqlx::query(
            "SELECT DISTINCT t.id, t.name, t.host, t.port, t.host_key, t.protocol, t.disabled FROM targets t JOIN grants g ON g.target_id = t.id WHERE g.user_id = $1 ORDER BY t.name",
        )
        .bind(&user.id)
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(target_from).collect()
    }
}

/// One target by name, on the pool or inside a transaction (which sees its own writes).
async fn find_target<'e>(
    db: impl sqlx::Executor<'e, Database = sqlx::Any>,
    name: &str,
) -> Result<Target, StoreError> {
    let row = sqlx::query(
        "SELECT id, name, host, port, host_key, protocol, disabled FROM targets WHERE name = $1",
    )
    .bind(name)
    .fetch_optional(db)
    .await?
    .ok_or_else(|| StoreError::NotFound(format!("target {name}")))?;
    target_from(&row)
}

/// A target's logins, on the pool or inside a transaction.
async fn accounts_on<'e>(
    db: impl sqlx::Executor<'e, Database = sqlx::Any>,
    target: &Target,
) -> Result<Vec<Account>, StoreError> {
    let rows = sqlx::query(sqlx::AssertSqlSafe(format!(
        "SELECT {ACCOUNT_COLUMNS} FROM accounts WHERE target_id = $1 ORDER BY created_at, id"
    )))
    .bind(&target.id)
    .fetch_all(db)
    .await?;
    rows.iter().map(account_from).collect()
}

impl Tx {
    /// One login of a target, as this transaction sees it.
    pub async fn account(&mut self, target: &str, login: &str) -> Result<Account, StoreError> {
        let t = self.target_by_name(target).await?;
        self.accounts(&t)
            .await?
            .into_iter()
            .find(|a| a.login == login)
            .ok_or_else(|| StoreError::NotFound(format!("login {login} on target {target}")))
    }

    /// The target's logins as this transaction sees them.
    pub async fn accounts(&mut self, target: &Target) -> Result<Vec<Account>, StoreError> {
        accounts_on(&mut *self.conn, target).await
    }

    /// The target as this transaction sees it.
    pub async fn target_by_name(&mut self, name: &str) -> Result<Target, StoreError> {
        find_target(&mut *self.conn, name).await
    }

    pub async fn create_target(
        &mut self,
        name: &str,
        host: &str,
        port: u16,
        host_key: Option<&str>,
    ) -> Result<Target, StoreError> {
        check_name("target name", name)?;
        check_address(host, port)?;
        sqlx::query("INSERT INTO targets (id, name, host, port, host_key, protocol, created_at) VALUES ($1, $2, $3, $4, $5, 'ssh', $6)")
            .bind(new_id())
            .bind(name)
            .bind(host)
            .bind(i64::from(port))
            .bind(host_key)
            .bind(now_millis())
            .execute(&mut *self.conn)
            .await
            .map_err(conflict(format!("target {name}")))?;
        self.target_by_name(name).await
    }

    pub async fn set_target_host_key(
        &mut self,
        name: &str,
        host_key: &str,
    ) -> Result<(), StoreError> {
        let done = sqlx::query("UPDATE targets SET host_key = $1 WHERE name = $2")
            .bind(host_key)
            .bind(name)
            .execute(&mut *self.conn)
            .await?;
        found(done, || format!("target {name}"))
    }

    /// Adds a login with its credential, sealed in the vault and bound to the new row.
    pub async fn create_account(
        &mut self,
        target: &str,
        login: &str,
        kind: SecretKind,
        secret: &Secret,
    ) -> Result<Account, StoreError> {
        if login.is_empty() || login.contains(['@', ':']) || login.chars().any(char::is_whitespace)
        {
            return Err(StoreError::Invalid {
                what: "login",
                why: format!("{login:?}: no spaces, '@' or ':'"),
            });
        }
        if secret.is_empty() {
            return Err(StoreError::Invalid {
                what: "credential",
                why: "it is empty".into(),
            });
        }
        let target = self.target_by_name(target).await?;
        let id = new_id();
        let sealed = vigil_vault::seal(&self.store.master, &secret_context(&id), secret)?;
        sqlx::query("INSERT INTO accounts (id, target_id, login, secret_kind, secret_sealed, created_at) VALUES ($1, $2, $3, $4, $5, $6)")
            .bind(&id)
            .bind(&target.id)
            .bind(login)
            .bind(kind.as_str())
            .bind(sealed)
            .bind(now_millis())
            .execute(&mut *self.conn)
            .await
            .map_err(conflict(format!("login {login} on target {}", target.name)))?;
        Ok(Account {
            id,
            target_id: target.id,
            login: login.to_owned(),
            secret_kind: kind,
            sudo_inject: vigil_core::SudoInject::Off,
            sudo_secret: false,
            su_secret: false,
            sudo_blocked: false,
            sudo_ticket_minutes: 15,
        })
    }

    /// Grants `user` access to `target` (every login, or only `login`).
    pub async fn create_grant(
        &mut self,
        user: &str,
        target: &str,
        login: Option<&str>,
        allow_port_forwarding: bool,
    ) -> Result<Grant, StoreError> {
        let u = self.user_by_name(user).await?;
        let t = self.target_by_name(target).await?;
        if let Some(login) = login
            && !self.accounts(&t).await?.iter().any(|a| a.login == login)
        {
            return Err(StoreError::NotFound(format!(
                "login {login} on target {target}"
            )));
        }
        let id = new_id();
        sqlx::query("INSERT INTO grants (id, user_id, target_id, login, allow_port_forwarding, created_at) VALUES ($1, $2, $3, $4, $5, $6)")
            .bind(&id)
            .bind(&u.id)
            .bind(&t.id)
            .bind(login)
            .bind(i64::from(allow_port_forwarding))
            .bind(now_millis())
            .execute(&mut *self.conn)
            .await?;
        Ok(Grant {
            id,
            user_id: u.id,
            target_id: t.id,
            login: login.map(str::to_owned),
            allow_port_forwarding,
        })
    }
}
