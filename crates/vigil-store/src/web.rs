//! Browser sessions of the web console and API tokens for automation. Only SHA-256 hashes of
//! the tokens are stored: a copy of the database opens no session.

use sqlx::Row;
use vigil_core::{User, now_millis};

use crate::users::{USER_COLUMNS, user_from};
use crate::{Store, StoreError, Tx, conflict, found, new_id};

/// A signed-in browser: who, and the CSRF token its state-changing requests must carry.
#[derive(Debug, Clone)]
pub struct WebSession {
    pub user: User,
    pub csrf_token: String,
    pub expires_at: i64,
}

#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct ApiToken {
    pub id: String,
    pub user_name: String,
    pub name: String,
    pub created_at: i64,
    pub last_used_at: Option<i64>,
}

impl Store {
    /// The unexpired session with this token hash, with its user as it is now.
    pub async fn web_session(&self, token_hash: &str) -> Result<Option<WebSession>, StoreError> {
        let row = sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT {USER_COLUMNS}, w.csrf_token, w.expires_at FROM web_sessions w JOIN users u ON u.id = w.user_id WHERE w.token_hash = $1 AND w.expires_at > $2"
        )))
        .bind(token_hash)
        .bind(now_millis())
        .fetch_optional(&self.pool)
        .await?;
        row.map(|r| {
            Ok(WebSession {
                user: user_from(&r)?,
                csrf_token: r.try_get("csrf_token")?,
                expires_at: r.try_get("expires_at")?,
            })
        })
        .transpose()
    }

    pub async fn delete_expired_web_sessions(&self) -> Result<u64, StoreError> {
        let done = sqlx::query("DELETE FROM web_sessions WHERE expires_at <= $1")
            .bind(now_millis())
            .execute(&self.pool)
            .await?;
        Ok(done.rows_affected())
    }

    pub async fn api_tokens(&self, user: &User) -> Result<Vec<ApiToken>, StoreError> {
        let rows = sqlx::query("SELECT id, name, created_at, last_used_at FROM api_tokens WHERE user_id = $1 ORDER BY created_at, id")
            .bind(&user.id)
            .fetch_all(&self.pool)
            .await?;
        rows.iter()
            .map(|r| {
                Ok(ApiToken {
                    id: r.try_get("id")?,
                    user_name: user.name.clone(),
                    name: r.try_get("name")?,
                    created_at: r.try_get("created_at")?,
                    last_used_at: r.try_get("last_used_at")?,
                })
            })
            .collect()
    }

    /// The user a token belongs to; notes when it was last used.
    pub async fn user_by_api_token(&self, token_hash: &str) -> Result<Option<User>, StoreError> {
        let row = sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT {USER_COLUMNS} FROM api_tokens t JOIN users u ON u.id = t.user_id WHERE t.token_hash = $1"
        )))
        .bind(token_hash)
        .fetch_optional(&self.pool)
        .await?;
        let Some(row) = row else { return Ok(None) };
        sqlx::query("UPDATE api_tokens SET last_used_at = $1 WHERE token_hash = $2")
            .bind(now_millis())
            .bind(token_hash)
            .execute(&self.pool)
            .await?;
        Ok(Some(user_from(&row)?))
    }
}

impl Tx {
    pub async fn create_web_session(
        &mut self,
        user: &User,
        token_hash: &str,
        csrf_token: &str,
        client_addr: &str,
        expires_at: i64,
    ) -> Result<(), StoreError> {
        sqlx::query("INSERT INTO web_sessions (token_hash, user_id, csrf_token, client_addr, created_at, expires_at) VALUES ($1, $2, $3, $4, $5, $6)")
            .bind(token_hash)
            .bind(&user.id)
            .bind(csrf_token)
            .bind(client_addr)
            .bind(now_millis())
            .bind(expires_at)
            .execute(&mut *self.conn)
            .await?;
        Ok(())
    }

    pub async fn delete_web_session(&mut self, token_hash: &str) -> Result<(), StoreError> {
        sqlx::query("DELETE FROM web_sessions WHERE token_hash = $1")
            .bind(token_hash)
            .execute(&mut *self.conn)
            .await?;
        Ok(())
    }

    /// Signs a user out everywhere (disabled, password changed).
    pub async fn delete_web_sessions_of(&mut self, user: &User) -> Result<(), StoreError> {
        sqlx::query("DELETE FROM web_sessions WHERE user_id = $1")
            .bind(&user.id)
            .execute(&mut *self.conn)
            .await?;
        Ok(())
    }

    pub async fn create_api_token(
        &mut self,
        user: &User,
        name: &str,
        token_hash: &str,
    ) -> Result<ApiToken, StoreError> {
        crate::check_name("token name", name)?;
        let id = new_id();
        let now = now_millis();
        sqlx::query("INSERT INTO api_tokens (id, user_id, name, token_hash, created_at) VALUES ($1, $2, $3, $4, $5)")
            .bind(&id)
            .bind(&user.id)
            .bind(name)
            .bind(token_hash)
            .bind(now)
            .execute(&mut *self.conn)
            .await
            .map_err(conflict(format!("token {name} of user {}", user.name)))?;
        Ok(ApiToken {
            id,
            user_name: user.name.clone(),
            name: name.to_owned(),
            created_at: now,
            last_used_at: None,
        })
    }

    pub async fn delete_api_token(&mut self, user: &User, id: &str) -> Result<(), StoreError> {
        let done = sqlx::query("DELETE FROM api_tokens WHERE user_id = $1 AND id = $2")
            .bind(&user.id)
            .bind(id)
            .execute(&mut *self.conn)
            .await?;
        found(done, || format!("token {id} of user {}", user.name))
    }
}
