//! Edits that the console and API make to targets, logins and grants after they exist.

use sqlx::Row;
use vigil_core::SecretKind;
use vigil_vault::Secret;

use crate::users::flag;
use crate::{Store, StoreError, Tx, found};

/// A grant with the names the console shows.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct GrantRow {
    pub id: String,
    pub user_name: String,
    pub target_name: String,
    /// `None`: every login of the target.
    pub login: Option<String>,
    pub allow_port_forwarding: bool,
    pub created_at: i64,
}

impl Store {
    pub async fn list_grants(&self) -> Result<Vec<GrantRow>, StoreError> {
        let rows = sqlx::query("SELECT g.id, u.name AS user_name, t.name AS target_name, g.login, g.allow_port_forwarding, g.created_at FROM grants g JOIN users u ON u.id = g.user_id JOIN targets t ON t.id = g.target_id ORDER BY g.created_at, g.id")
            .fetch_all(&self.pool)
            .await?;
        rows.iter()
            .map(|r| {
                Ok(GrantRow {
                    id: r.try_get("id")?,
                    user_name: r.try_get("user_name")?,
                    target_name: r.try_get("target_name")?,
                    login: r.try_get("login")?,
                    allow_port_forwarding: flag(r, "allow_port_forwarding")?,
                    created_at: r.try_get("created_at")?,
                })
            })
            .collect()
    }
}

impl Tx {
    pub async fn set_target_address(
        &mut self,
        name: &str,
        host: &str,
        port: u16,
    ) -> Result<(), StoreError> {
        crate::targets::check_address(host, port)?;
        let done = sqlx::query("UPDATE targets SET host = $1, port = $2 WHERE name = $3")
            .bind(host)
            .bind(i64::from(port))
            .bind(name)
            .execute(&mut *self.conn)
            .await?;
        found(done, || format!("target {name}"))
    }

    pub async fn set_target_disabled(
        &mut self,
        name: &str,
        disabled: bool,
    ) -> Result<(), StoreError> {
        let done = sqlx::query("UPDATE targets SET disabled = $1 WHERE name = $2")
            .bind(i64::from(disabled))
            .bind(name)
            .execute(&mut *self.conn)
            .await?;
        found(done, || format!("target {name}"))
    }

    /// Replaces a login's credential (rotation); the old ciphertext is overwritten.
    pub async fn set_account_secret(
        &mut self,
        target: &str,
        login: &str,
        kind: SecretKind,
        secret: &Secret,
    ) -> Result<(), StoreError> {
        if secret.is_empty() {
            return Err(StoreError::Invalid {
                what: "credential",
                why: "it is empty".into(),
            });
        }
        let account = self.account(target, login).await?;
        let sealed = vigil_vault::seal(
            &self.store.master,
            &crate::targets::secret_context(&account.id),
            secret,
        )?;
        sqlx::query("UPDATE accounts SET secret_kind = $1, secret_sealed = $2 WHERE id = $3")
            .bind(kind.as_str())
            .bind(sealed)
            .bind(&account.id)
            .execute(&mut *self.conn)
            .await?;
        Ok(())
    }

    pub async fn delete_account(&mut self, target: &str, login: &str) -> Result<(), StoreError> {
        let t = self.target_by_name(target).await?;
        sqlx::query("DELETE FROM transfer_policies WHERE target_id = $1 AND login = $2")
            .bind(&t.id)
            .bind(login)
            .execute(&mut *self.conn)
            .await?;
        let done = sqlx::query("DELETE FROM accounts WHERE target_id = $1 AND login = $2")
            .bind(&t.id)
            .bind(login)
            .execute(&mut *self.conn)
            .await?;
        found(done, || format!("login {login} on target {target}"))
    }

    pub async fn delete_grant(&mut self, id: &str) -> Result<(), StoreError> {
        let done = sqlx::query("DELETE FROM grants WHERE id = $1")
            .bind(id)
            .execute(&mut *self.conn)
            .await?;
        found(done, || format!("grant {id}"))
    }

    /// Removes a target with its logins (their sealed credentials) and its grants. Sessions
    /// keep the target's name as the record of what they reached.
    pub async fn delete_target(&mut self, name: &str) -> Result<(), StoreError> {
        let target = self.target_by_name(name).await?;
        // Explicit, not left to ON DELETE CASCADE (SQLite applies it only with foreign keys on).
        for sql in [
            "DELETE FROM grants WHERE target_id = $1",
            "DELETE FROM transfer_policies WHERE target_id = $1",
            "DELETE FROM accounts WHERE target_id = $1",
            "DELETE FROM targets WHERE id = $1",
        ] {
            sqlx::query(sql)
                .bind(&target.id)
                .execute(&mut *self.conn)
                .await?;
        }
        Ok(())
    }
}
