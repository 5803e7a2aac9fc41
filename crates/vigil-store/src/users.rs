//! Users, their keys and their second factor.

use sqlx::Row;
use sqlx::any::AnyRow;
use vigil_core::{Role, User, UserKey, now_millis};
use vigil_vault::Secret;

use crate::{Store, StoreError, Tx, check_name, conflict, found, new_id};

/// A user's columns, for queries where the users table is `u` (alone or in a join).
pub(crate) const USER_COLUMNS: &str = "u.id, u.name, u.role, u.password_hash IS NOT NULL AS has_password, u.totp_sealed IS NOT NULL AS has_totp, u.disabled, u.created_at, u.locked_by";

pub(crate) fn user_from(row: &AnyRow) -> Result<User, StoreError> {
    let role: String = row.try_get("role")?;
    let role = role.parse::<Role>().map_err(|e| StoreError::Invalid {
        what: "stored role",
        why: e.to_string(),
    })?;
    Ok(User {
        id: row.try_get("id")?,
        name: row.try_get("name")?,
        role,
        has_password: flag(row, "has_password")?,
        has_totp: flag(row, "has_totp")?,
        disabled: flag(row, "disabled")?,
        created_at: row.try_get("created_at")?,
        locked_by: row.try_get("locked_by")?,
    })
}

/// Booleans are stored as 0/1 integers: the one representation both backends decode alike.
pub(crate) fn flag(row: &AnyRow, column: &str) -> Result<bool, StoreError> {
    // PostgreSQL returns `IS NOT NULL` as a boolean, SQLite as an integer.
    match row.try_get::<i64, _>(column) {
        Ok(v) => Ok(v != 0),
        Err(_) => Ok(row.try_get::<bool, _>(column)?),
    }
}

impl Store {
    pub async fn user_by_name(&self, name: &str) -> Result<User, StoreError> {
        self.find_user_by_name(name)
            .await?
            .ok_or_else(|| StoreError::NotFound(format!("user {name}")))
    }

    pub async fn find_user_by_name(&self, name: &str) -> Result<Option<User>, StoreError> {
        find_user(&self.pool, name).await
    }

    pub async fn list_users(&self) -> Result<Vec<User>, StoreError> {
        let rows = sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT {USER_COLUMNS} FROM users u ORDER BY u.name"
        )))
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(user_from).collect()
    }

    pub async fn user_count(&self) -> Result<i64, StoreError> {
        Ok(sqlx::query_scalar("SELECT COUNT(*) FROM users")
            .fetch_one(&self.pool)
            .await?)
    }

    /// The argon2id hash, for verification; `None` when the user has no password.
    pub async fn user_password_hash(&self, name: &str) -> Result<Option<String>, StoreError> {
        Ok(sqlx::query_scalar::<_, Option<String>>(
            "SELECT password_hash FROM users WHERE name = $1",
        )
        .bind(name)
        .fetch_optional(&self.pool)
        .await?
        .flatten())
    }

    pub async fn user_totp(&self, user: &User) -> Result<Option<Secret>, StoreError> {
        let sealed: Option<String> =
            sqlx::query_scalar::<_, Option<String>>("SELECT totp_sealed FROM users WHERE id = $1")
                .bind(&user.id)
                .fetch_optional(&self.pool)
                .await?
                .flatten();
        Ok(sealed
            .map(|s| vigil_vault::open(&self.master, &format!("totp:{}", user.id), &s))
            .transpose()?)
    }

    pub async fn user_keys(&self, user: &User) -> Result<Vec<UserKey>, StoreError> {
        let rows = sqlx::query("SELECT id, user_id, public_key, fingerprint FROM user_keys WHERE user_id = $1 ORDER BY created_at, id")
            .bind(&user.id)
            .fetch_all(&self.pool)
            .await?;
        rows.iter()
            .map(|r| {
                Ok(UserKey {
                    id: r.try_get("id")?,
                    user_id: r.try_get("user_id")?,
                    public_key: r.try_get("public_key")?,
                    fingerprint: r.try_get("fingerprint")?,
                })
            })
            .collect()
    }
}

/// One user by name, on the pool or inside a transaction (which sees its own writes).
async fn find_user<'e>(
    db: impl sqlx::Executor<'e, Database = sqlx::Any>,
    name: &str,
) -> Result<Option<User>, StoreError> {
    let row = sqlx::query(sqlx::AssertSqlSafe(format!(
        "SELECT {USER_COLUMNS} FROM users u WHERE u.name = $1"
    )))
    .bind(name)
    .fetch_optional(db)
    .await?;
    row.as_ref().map(user_from).transpose()
}

impl Tx {
    /// The user as this transaction sees it.
    pub async fn user_by_name(&mut self, name: &str) -> Result<User, StoreError> {
        find_user(&mut *self.conn, name)
            .await?
            .ok_or_else(|| StoreError::NotFound(format!("user {name}")))
    }

    pub async fn create_user(
        &mut self,
        name: &str,
        role: Role,
        password_hash: Option<&str>,
    ) -> Result<User, StoreError> {
        check_name("user name", name)?;
        let id = new_id();
        sqlx::query("INSERT INTO users (id, name, role, password_hash, disabled, created_at) VALUES ($1, $2, $3, $4, 0, $5)")
            .bind(&id)
            .bind(name)
            .bind(role.as_str())
            .bind(password_hash)
            .bind(now_millis())
            .execute(&mut *self.conn)
            .await
            .map_err(conflict(format!("user {name}")))?;
        self.user_by_name(name).await
    }

    pub async fn set_user_disabled(
        &mut self,
        name: &str,
        disabled: bool,
    ) -> Result<(), StoreError> {
        let done = sqlx::query("UPDATE users SET disabled = $1 WHERE name = $2")
            .bind(i64::from(disabled))
            .bind(name)
            .execute(&mut *self.conn)
            .await?;
        found(done, || format!("user {name}"))
    }

    /// Locks the user out of new sessions: `by` locked their interaction in `session_id`.
    pub async fn lock_user(
        &mut self,
        name: &str,
        by: &str,
        session_id: &str,
    ) -> Result<(), StoreError> {
        let done = sqlx::query(
            "UPDATE users SET locked_by = $1, locked_at = $2, locked_session = $3 WHERE name = $4",
        )
        .bind(by)
        .bind(now_millis())
        .bind(session_id)
        .bind(name)
        .execute(&mut *self.conn)
        .await?;
        found(done, || format!("user {name}"))
    }

    /// Lets the user start sessions again; returns who had locked them, if anyone.
    pub async fn release_user(&mut self, name: &str) -> Result<Option<String>, StoreError> {
        let user = self.user_by_name(name).await?;
        sqlx::query("UPDATE users SET locked_by = NULL, locked_at = NULL, locked_session = NULL WHERE id = $1")
            .bind(&user.id)
            .execute(&mut *self.conn)
            .await?;
        Ok(user.locked_by)
    }

    pub async fn set_user_role(&mut self, name: &str, role: Role) -> Result<(), StoreError> {
        let done = sqlx::query("UPDATE users SET role = $1 WHERE name = $2")
            .bind(role.as_str())
            .bind(name)
            .execute(&mut *self.conn)
            .await?;
        found(done, || format!("user {name}"))
    }

    pub async fn delete_user_key(&mut self, name: &str, key_id: &str) -> Result<(), StoreError> {
        let user = self.user_by_name(name).await?;
        let done = sqlx::query("DELETE FROM user_keys WHERE user_id = $1 AND id = $2")
            .bind(&user.id)
            .bind(key_id)
            .execute(&mut *self.conn)
            .await?;
        found(done, || format!("key {key_id} of user {name}"))
    }

    pub async fn set_user_password(
        &mut self,
        name: &str,
        password_hash: &str,
    ) -> Result<(), StoreError> {
        let done = sqlx::query("UPDATE users SET password_hash = $1 WHERE name = $2")
            .bind(password_hash)
            .bind(name)
            .execute(&mut *self.conn)
            .await?;
        found(done, || format!("user {name}"))
    }

    /// Enrols (or with `None` removes) the user's TOTP secret, sealed in the vault.
    pub async fn set_user_totp(
        &mut self,
        name: &str,
        secret: Option<&Secret>,
    ) -> Result<(), StoreError> {
        let user = self.user_by_name(name).await?;
        let sealed = secret
            .map(|s| vigil_vault::seal(&self.store.master, &format!("totp:{}", user.id), s))
            .transpose()?;
        sqlx::query("UPDATE users SET totp_sealed = $1 WHERE id = $2")
            .bind(sealed)
            .bind(&user.id)
            .execute(&mut *self.conn)
            .await?;
        Ok(())
    }

    /// Adds a public key (`public_key` in OpenSSH one-line form, already parsed by the caller).
    pub async fn add_user_key(
        &mut self,
        name: &str,
        public_key: &str,
        fingerprint: &str,
    ) -> Result<UserKey, StoreError> {
        let user = self.user_by_name(name).await?;
        let id = new_id();
        sqlx::query("INSERT INTO user_keys (id, user_id, public_key, fingerprint, created_at) VALUES ($1, $2, $3, $4, $5)")
            .bind(&id)
            .bind(&user.id)
            .bind(public_key)
            .bind(fingerprint)
            .bind(now_millis())
            .execute(&mut *self.conn)
            .await
            .map_err(conflict(format!("key {fingerprint} of user {name}")))?;
        Ok(UserKey {
            id,
            user_id: user.id,
            public_key: public_key.to_owned(),
            fingerprint: fingerprint.to_owned(),
        })
    }
}
