//! The endpoint manager's state (issue 14): enrolment tokens, the workstations whose agent
//! enrolled (pending until approved), and the access policies agents enforce.
//!
//! A token is kept only as its SHA-256 and is used once: enrolment consumes it in the same
//! statement that checks it, so two agents racing with one token cannot both enrol. A host
//! that enrols again (a reinstalled workstation) keeps its id but is pending again under its
//! new key. Every policy change moves one revision counter in its own transaction: an agent
//! that saw revision N fetches again when the server says N+1.

use sqlx::Row;
use sqlx::any::AnyRow;
use vigil_core::AgentPolicy;

use crate::{Store, StoreError, Tx, conflict};

/// Where a workstation's enrolment stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum AgentStatus {
    /// Enrolled, waiting for an administrator: its uploads are refused.
    Pending,
    Approved,
}

impl AgentStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            AgentStatus::Pending => "pending",
            AgentStatus::Approved => "approved",
        }
    }

    fn parse(s: &str) -> Result<AgentStatus, StoreError> {
        match s {
            "pending" => Ok(AgentStatus::Pending),
            "approved" => Ok(AgentStatus::Approved),
            other => Err(StoreError::Invalid {
                what: "stored agent status",
                why: format!("{other:?} is neither pending nor approved"),
            }),
        }
    }
}

/// An enrolled workstation.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct AgentRow {
    pub id: String,
    pub host_name: String,
    pub machine_id: String,
    /// The agent's public key (OpenSSH format); it signs the agent's requests.
    pub public_key: String,
    pub fingerprint: String,
    pub status: AgentStatus,
    pub enrolled_at: i64,
    pub approved_at: Option<i64>,
    pub approved_by: Option<String>,
    pub last_seen_at: Option<i64>,
}

/// A stored access policy.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct AgentPolicyRow {
    pub id: String,
    pub policy: AgentPolicy,
    pub updated_at: i64,
}

/// What enrolment knows of the workstation.
#[derive(Debug, Clone, Copy)]
pub struct Enrolment<'a> {
    pub token_hash: &'a str,
    pub host_name: &'a str,
    pub machine_id: &'a str,
    pub public_key: &'a str,
    pub fingerprint: &'a str,
}

const AGENT_COLUMNS: &str = "id, host_name, machine_id, public_key, fingerprint, status, enrolled_at, approved_at, approved_by, last_seen_at";

fn agent_from(r: &AnyRow) -> Result<AgentRow, StoreError> {
    Ok(AgentRow {
        id: r.try_get("id")?,
        host_name: r.try_get("host_name")?,
        machine_id: r.try_get("machine_id")?,
        public_key: r.try_get("public_key")?,
        fingerprint: r.try_get("fingerprint")?,
        status: AgentStatus::parse(&r.try_get::<String, _>("status")?)?,
        enrolled_at: r.try_get("enrolled_at")?,
        approved_at: r.try_get("approved_at")?,
        approved_by: r.try_get("approved_by")?,
        last_seen_at: r.try_get("last_seen_at")?,
    })
}

fn policy_from(r: &AnyRow) -> Result<AgentPolicyRow, StoreError> {
    let json: String = r.try_get("policy")?;
    let policy = serde_json::from_str(&json).map_err(|e| StoreError::Invalid {
        what: "stored agent policy",
        why: e.to_string(),
    })?;
    Ok(AgentPolicyRow {
        id: r.try_get("id")?,
        policy,
        updated_at: r.try_get("updated_at")?,
    })
}

fn to_json(policy: &AgentPolicy) -> Result<String, StoreError> {
    serde_json::to_string(policy).map_err(|e| StoreError::Invalid {
        what: "agent policy",
        why: e.to_string(),
    })
}

impl Tx {
    /// Keeps a new enrolment token (its SHA-256), usable once until `expires_at`.
    pub async fn create_agent_token(
        &mut self,
        token_hash: &str,
        created_by: &str,
        now_ms: i64,
        expires_at: i64,
    ) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO agent_tokens (token_hash, created_by, created_at, expires_at) VALUES ($1, $2, $3, $4)",
        )
        .bind(token_hash)
        .bind(created_by)
        .bind(now_ms)
        .bind(expires_at)
        .execute(&mut *self.conn)
        .await
        .map_err(conflict("an enrolment token with this value".into()))?;
        Ok(())
    }

    /// Consumes the token and enrols the workstation, pending approval.
    pub async fn enrol_agent(
        &mut self,
        e: &Enrolment<'_>,
        now_ms: i64,
    ) -> Result<AgentRow, StoreError> {
        let used = sqlx::query(
            "UPDATE agent_tokens SET used_at = $1, used_by = $2 WHERE token_hash = $3 AND used_at IS NULL AND expires_at > $1",
        )
        .bind(now_ms)
        .bind(e.host_name)
        .bind(e.token_hash)
        .execute(&mut *self.conn)
        .await?;
        if used.rows_affected() != 1 {
            return Err(StoreError::Invalid {
                what: "enrolment token",
                why: "it is unknown, used or expired: ask an administrator for a new one (`vigil agent token`)".into(),
            });
        }
        sqlx::query(
            "INSERT INTO agents (id, host_name, machine_id, public_key, fingerprint, status, enrolled_at) \
             VALUES ($1, $2, $3, $4, $5, 'pending', $6) \
             ON CONFLICT (host_name) DO UPDATE SET machine_id = excluded.machine_id, \
             public_key = excluded.public_key, fingerprint = excluded.fingerprint, status = 'pending', \
             enrolled_at = excluded.enrolled_at, approved_at = NULL, approved_by = NULL",
        )
        .bind(uuid::Uuid::now_v7().to_string())
        .bind(e.host_name)
        .bind(e.machine_id)
        .bind(e.public_key)
        .bind(e.fingerprint)
        .bind(now_ms)
        .execute(&mut *self.conn)
        .await?;
        self.agent_by_host(e.host_name).await
    }

    async fn agent_by_host(&mut self, host: &str) -> Result<AgentRow, StoreError> {
        let row = sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT {AGENT_COLUMNS} FROM agents WHERE host_name = $1"
        )))
        .bind(host)
        .fetch_optional(&mut *self.conn)
        .await?
        .ok_or_else(|| StoreError::NotFound(format!("workstation {host}")))?;
        agent_from(&row)
    }

    /// Approves a workstation: its agent's uploads are accepted from now on.
    pub async fn approve_agent(
        &mut self,
        host: &str,
        by: &str,
        now_ms: i64,
    ) -> Result<AgentRow, StoreError> {
        let mut agent = self.agent_by_host(host).await?;
        if agent.status == AgentStatus::Approved {
            return Ok(agent);
        }
        sqlx::query(
            "UPDATE agents SET status = 'approved', approved_at = $1, approved_by = $2 WHERE id = $3",
        )
        .bind(now_ms)
        .bind(by)
        .bind(&agent.id)
        .execute(&mut *self.conn)
        .await?;
        agent.status = AgentStatus::Approved;
        agent.approved_at = Some(now_ms);
        agent.approved_by = Some(by.to_owned());
        Ok(agent)
    }

    /// Forgets a workstation: its agent can no longer sign in (its recordings stay).
    pub async fn remove_agent(&mut self, host: &str) -> Result<AgentRow, StoreError> {
        let agent = self.agent_by_host(host).await?;
        sqlx::query("DELETE FROM agents WHERE id = $1")
            .bind(&agent.id)
            .execute(&mut *self.conn)
            .await?;
        Ok(agent)
    }

    async fn next_policy_revision(&mut self) -> Result<(), StoreError> {
        sqlx::query("UPDATE agent_policy_revision SET revision = revision + 1 WHERE id = 1")
            .execute(&mut *self.conn)
            .await?;
        Ok(())
    }

    /// Adds an access policy (checked first); its name is unique.
    pub async fn add_agent_policy(
        &mut self,
        policy: AgentPolicy,
        now_ms: i64,
    ) -> Result<AgentPolicyRow, StoreError> {
        let policy = policy.checked().map_err(|e| StoreError::Invalid {
            what: e.what,
            why: e.why,
        })?;
        let id = uuid::Uuid::now_v7().to_string();
        sqlx::query(
            "INSERT INTO agent_policies (id, name, policy, updated_at) VALUES ($1, $2, $3, $4)",
        )
        .bind(&id)
        .bind(&policy.name)
        .bind(to_json(&policy)?)
        .bind(now_ms)
        .execute(&mut *self.conn)
        .await
        .map_err(conflict(format!("agent policy {}", policy.name)))?;
        self.next_policy_revision().await?;
        Ok(AgentPolicyRow {
            id,
            policy,
            updated_at: now_ms,
        })
    }

    async fn agent_policy(&mut self, name: &str) -> Result<AgentPolicyRow, StoreError> {
        let row = sqlx::query("SELECT id, policy, updated_at FROM agent_policies WHERE name = $1")
            .bind(name)
            .fetch_optional(&mut *self.conn)
            .await?
            .ok_or_else(|| StoreError::NotFound(format!("agent policy {name}")))?;
        policy_from(&row)
    }

    /// Enables or disables a policy (a disabled one is kept but applies nowhere).
    pub async fn set_agent_policy_enabled(
        &mut self,
        name: &str,
        enabled: bool,
        now_ms: i64,
    ) -> Result<AgentPolicyRow, StoreError> {
        let mut row = self.agent_policy(name).await?;
        row.policy.enabled = enabled;
        row.updated_at = now_ms;
        sqlx::query("UPDATE agent_policies SET policy = $1, updated_at = $2 WHERE id = $3")
            .bind(to_json(&row.policy)?)
            .bind(now_ms)
            .bind(&row.id)
            .execute(&mut *self.conn)
            .await?;
        self.next_policy_revision().await?;
        Ok(row)
    }

    /// Removes a policy; agents remove its wrapper when they next fetch.
    pub async fn remove_agent_policy(&mut self, name: &str) -> Result<AgentPolicyRow, StoreError> {
        let row = self.agent_policy(name).await?;
        sqlx::query("DELETE FROM agent_policies WHERE id = $1")
            .bind(&row.id)
            .execute(&mut *self.conn)
            .await?;
        self.next_policy_revision().await?;
        Ok(row)
    }
}

impl Store {
    /// Every enrolled workstation, by host name.
    pub async fn agents(&self) -> Result<Vec<AgentRow>, StoreError> {
        sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT {AGENT_COLUMNS} FROM agents ORDER BY host_name"
        )))
        .fetch_all(&self.pool)
        .await?
        .iter()
        .map(agent_from)
        .collect()
    }

    /// The workstation whose agent has `id`, if enrolled.
    pub async fn agent(&self, id: &str) -> Result<Option<AgentRow>, StoreError> {
        sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT {AGENT_COLUMNS} FROM agents WHERE id = $1"
        )))
        .bind(id)
        .fetch_optional(&self.pool)
        .await?
        .as_ref()
        .map(agent_from)
        .transpose()
    }

    /// Notes that the agent `id` was heard from (not evidence: a heartbeat).
    pub async fn agent_seen(&self, id: &str, now_ms: i64) -> Result<(), StoreError> {
        sqlx::query("UPDATE agents SET last_seen_at = $1 WHERE id = $2")
            .bind(now_ms)
            .bind(id)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    /// Every access policy, by name.
    pub async fn agent_policies(&self) -> Result<Vec<AgentPolicyRow>, StoreError> {
        sqlx::query("SELECT id, policy, updated_at FROM agent_policies ORDER BY name")
            .fetch_all(&self.pool)
            .await?
            .iter()
            .map(policy_from)
            .collect()
    }

    /// The policies' revision: it moves with every change.
    pub async fn agent_policy_revision(&self) -> Result<i64, StoreError> {
        Ok(
            sqlx::query_scalar("SELECT revision FROM agent_policy_revision WHERE id = 1")
                .fetch_one(&self.pool)
                .await?,
        )
    }
}
