//! The endpoint manager's actions (issue 14): enrolment tokens, enrolling and approving
//! workstations, and the access policies their agents enforce.

use std::time::Duration;

use vigil_core::{AgentPolicy, EventKind, now_millis};
use vigil_store::{AgentPolicyRow, AgentRow, Enrolment};
use vigil_vault::{AgentPublicKey, Secret, new_token, token_hash};

use super::{Actor, Admin, AdminError};

/// The alerts an agent raises: `spool_full` (its recording spool reached its quota; recorded
/// programs are refused on the workstation until uploads empty it).
pub(crate) const AGENT_ALERTS: &[&str] = &["spool_full"];

/// How long an enrolment token is valid unless the administrator says otherwise.
pub const AGENT_TOKEN_VALIDITY: Duration = Duration::from_secs(24 * 3600);

/// What a workstation says of itself when it enrols.
#[derive(Debug, Clone)]
pub struct WorkstationId<'a> {
    pub host_name: &'a str,
    pub machine_id: &'a str,
    /// `ed25519:` + base64 (vigil_vault::AgentPublicKey).
    pub public_key: &'a str,
}

fn check_host(host: &str) -> Result<(), AdminError> {
    if vigil_core::is_host_name(host) {
        Ok(())
    } else {
        Err(AdminError::Invalid(format!(
            "host name {host:?}: use the workstation's host name (letters, digits, '-', '.', '_')"
        )))
    }
}

fn check_machine_id(id: &str) -> Result<(), AdminError> {
    if !id.is_empty() && id.len() <= 128 && id.chars().all(|c| c.is_ascii_hexdigit()) {
        Ok(())
    } else {
        Err(AdminError::Invalid(
            "machine id: give /etc/machine-id's value (hexadecimal)".into(),
        ))
    }
}

impl Admin {
    /// A one-time enrolment token, valid for `valid_for`; the token is shown once and only
    /// its SHA-256 is kept. Returns it with its expiry (Unix milliseconds).
    pub async fn create_agent_token(
        &self,
        by: &Actor,
        valid_for: Duration,
    ) -> Result<(Secret, i64), AdminError> {
        let token = new_token("vigil-enrol-");
        let now = now_millis();
        let expires_at =
            now.saturating_add(i64::try_from(valid_for.as_millis()).unwrap_or(i64::MAX));
        let entry = by.entry(
            EventKind::AgentTokenCreated,
            "agent token",
            serde_json::json!({ "expires_at": expires_at }),
        );
        let hash = token_hash(token.expose());
        self.change(entry, async |tx| {
            tx.create_agent_token(&hash, &by.name, now, expires_at)
                .await
        })
        .await?;
        Ok((token, expires_at))
    }

    /// A workstation's agent enrols with a token: the workstation is pending until approved.
    /// `from` is the agent's address, for the evidence.
    pub async fn enrol_agent(
        &self,
        token: &str,
        ws: &WorkstationId<'_>,
        from: &str,
    ) -> Result<AgentRow, AdminError> {
        check_host(ws.host_name)?;
        check_machine_id(ws.machine_id)?;
        let key = AgentPublicKey::parse(ws.public_key)
            .map_err(|e| AdminError::Invalid(format!("agent key: {e}")))?;
        let (public_key, fingerprint) = (key.to_text(), key.fingerprint());
        let hash = token_hash(token.trim().as_bytes());
        let enrolment = Enrolment {
            token_hash: &hash,
            host_name: ws.host_name,
            machine_id: ws.machine_id,
            public_key: &public_key,
            fingerprint: &fingerprint,
        };
        let actor = Actor::api(format!("agent@{}", ws.host_name), from);
        let entry = actor.entry(
            EventKind::AgentEnrolled,
            ws.host_name,
            serde_json::json!({ "machine_id": ws.machine_id, "fingerprint": fingerprint }),
        );
        self.change(entry, async |tx| {
            tx.enrol_agent(&enrolment, now_millis()).await
        })
        .await
    }

    /// An alert a workstation's agent raised (see [`AGENT_ALERTS`]), in the administration
    /// log and the SIEM.
    pub async fn agent_alert(
        &self,
        agent: &AgentRow,
        from: &str,
        alert: &str,
        message: &str,
    ) -> Result<(), AdminError> {
        if !AGENT_ALERTS.contains(&alert) {
            return Err(AdminError::Invalid(format!(
                "alert {alert:?} is not one an agent raises: use one of {}",
                AGENT_ALERTS.join(", ")
            )));
        }
        if message.is_empty() || message.chars().count() > 1000 || message.contains('\0') {
            return Err(AdminError::Invalid(
                "message: say the alert in at most 1000 characters".into(),
            ));
        }
        let actor = Actor::api(format!("agent@{}", agent.host_name), from);
        let mut tx = self.store.begin().await?;
        tx.record(actor.entry(
            EventKind::AgentAlert,
            &agent.host_name,
            serde_json::json!({ "alert": alert, "message": message }),
        ));
        tx.commit().await?;
        Ok(())
    }

    /// Approves a workstation: its agent's uploads are accepted from now on.
    pub async fn approve_agent(&self, by: &Actor, host: &str) -> Result<AgentRow, AdminError> {
        let mut tx = self.store.begin().await?;
        let agent = tx.approve_agent(host, &by.name, now_millis()).await?;
        tx.record(by.entry(
            EventKind::AgentApproved,
            host,
            serde_json::json!({ "fingerprint": agent.fingerprint }),
        ));
        tx.commit().await?;
        Ok(agent)
    }

    /// Removes a workstation: its agent can no longer sign in; its recordings stay.
    pub async fn remove_agent(&self, by: &Actor, host: &str) -> Result<(), AdminError> {
        let mut tx = self.store.begin().await?;
        let agent = tx.remove_agent(host).await?;
        tx.record(by.entry(
            EventKind::AgentRemoved,
            host,
            serde_json::json!({ "fingerprint": agent.fingerprint }),
        ));
        tx.commit().await?;
        Ok(())
    }

    /// Adds an endpoint access policy; agents install its wrapper when they next fetch.
    pub async fn add_agent_policy(
        &self,
        by: &Actor,
        policy: AgentPolicy,
    ) -> Result<AgentPolicyRow, AdminError> {
        let mut tx = self.store.begin().await?;
        let row = tx.add_agent_policy(policy, now_millis()).await?;
        tx.record(by.entry(
            EventKind::AgentPolicyAdded,
            &row.policy.name,
            serde_json::json!({ "policy": row.policy }),
        ));
        tx.commit().await?;
        Ok(row)
    }

    /// Enables or disables an endpoint access policy.
    pub async fn set_agent_policy_enabled(
        &self,
        by: &Actor,
        name: &str,
        enabled: bool,
    ) -> Result<AgentPolicyRow, AdminError> {
        let kind = if enabled {
            EventKind::AgentPolicyEnabled
        } else {
            EventKind::AgentPolicyDisabled
        };
        let entry = by.entry(kind, name, serde_json::json!({}));
        self.change(entry, async |tx| {
            tx.set_agent_policy_enabled(name, enabled, now_millis())
                .await
        })
        .await
    }

    /// Removes an endpoint access policy; agents remove its wrapper when they next fetch.
    pub async fn remove_agent_policy(&self, by: &Actor, name: &str) -> Result<(), AdminError> {
        let mut tx = self.store.begin().await?;
        let row = tx.remove_agent_policy(name).await?;
        tx.record(by.entry(
            EventKind::AgentPolicyRemoved,
            name,
            serde_json::json!({ "policy": row.policy }),
        ));
        tx.commit().await?;
        Ok(())
    }
}
