//! File-transfer policies (issue 13): one per target (every login) and one per login, stored
//! as `vigil_core::TransferPolicy` JSON. The policy a session runs under is its login's own,
//! else its target's, else the default (everything allowed, nothing inspected).

use vigil_core::TransferPolicy;

use crate::{Store, StoreError, Tx};

/// Which policy a row is: a target's, or one login's on it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PolicyScope<'a> {
    pub target: &'a str,
    pub login: Option<&'a str>,
}

impl std::fmt::Display for PolicyScope<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.login {
            Some(login) => write!(f, "login {login} on target {}", self.target),
            None => write!(f, "target {}", self.target),
        }
    }
}

fn parse(json: &str) -> Result<TransferPolicy, StoreError> {
    serde_json::from_str(json).map_err(|e| StoreError::Invalid {
        what: "stored transfer policy",
        why: e.to_string(),
    })
}

impl Tx {
    /// Sets (replaces) the policy of `scope`; checked and normalised first. A login's
    /// policy needs the login to exist.
    pub async fn set_transfer_policy(
        &mut self,
        scope: &PolicyScope<'_>,
        policy: TransferPolicy,
        now_ms: i64,
    ) -> Result<TransferPolicy, StoreError> {
        let policy = policy.normalised().map_err(|e| StoreError::Invalid {
            what: e.what,
            why: e.why,
        })?;
        let target = self.target_by_name(scope.target).await?;
        if let Some(login) = scope.login {
            self.account(scope.target, login).await?;
        }
        let json = serde_json::to_string(&policy).map_err(|e| StoreError::Invalid {
            what: "transfer policy",
            why: e.to_string(),
        })?;
        sqlx::query(
            "INSERT INTO transfer_policies (target_id, login, policy, updated_at) VALUES ($1, $2, $3, $4) \
             ON CONFLICT (target_id, login) DO UPDATE SET policy = excluded.policy, updated_at = excluded.updated_at",
        )
        .bind(&target.id)
        .bind(scope.login.unwrap_or(""))
        .bind(json)
        .bind(now_ms)
        .execute(&mut *self.conn)
        .await?;
        Ok(policy)
    }

    /// Removes the policy of `scope`: its sessions fall back to the target's, or the default.
    pub async fn clear_transfer_policy(
        &mut self,
        scope: &PolicyScope<'_>,
    ) -> Result<(), StoreError> {
        let target = self.target_by_name(scope.target).await?;
        let done = sqlx::query("DELETE FROM transfer_policies WHERE target_id = $1 AND login = $2")
            .bind(&target.id)
            .bind(scope.login.unwrap_or(""))
            .execute(&mut *self.conn)
            .await?;
        if done.rows_affected() == 0 {
            return Err(StoreError::NotFound(format!(
                "a transfer policy for {scope}"
            )));
        }
        Ok(())
    }
}

impl Store {
    /// The policy set for exactly `scope`, if any.
    pub async fn transfer_policy(
        &self,
        scope: &PolicyScope<'_>,
    ) -> Result<Option<TransferPolicy>, StoreError> {
        let target = self.target_by_name(scope.target).await?;
        let json: Option<String> = sqlx::query_scalar(
            "SELECT policy FROM transfer_policies WHERE target_id = $1 AND login = $2",
        )
        .bind(&target.id)
        .bind(scope.login.unwrap_or(""))
        .fetch_optional(&self.pool)
        .await?;
        json.as_deref().map(parse).transpose()
    }

    /// The policy a session as `login` on `target` runs under: the login's own, else the
    /// target's, else the default (one query).
    pub async fn effective_transfer_policy(
        &self,
        target: &str,
        login: &str,
    ) -> Result<TransferPolicy, StoreError> {
        let target = self.target_by_name(target).await?;
        // The login's row sorts before the target's ('').
        let json: Option<String> = sqlx::query_scalar(
            "SELECT policy FROM transfer_policies WHERE target_id = $1 AND login IN ($2, '') ORDER BY login DESC LIMIT 1",
        )
        .bind(&target.id)
        .bind(login)
        .fetch_optional(&self.pool)
        .await?;
        Ok(json.as_deref().map(parse).transpose()?.unwrap_or_default())
    }
}
