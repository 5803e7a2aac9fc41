//! Targets, their logins (vaulted credentials) and access grants.

use vigil_core::{Account, EventKind, Grant, SecretKind, Target};
use vigil_vault::Secret;

use super::{Actor, Admin, AdminError};

impl Admin {
    /// Adds a target with its pinned host key (OpenSSH one-line form, and its fingerprint).
    pub async fn add_target(
        &self,
        by: &Actor,
        name: &str,
        host: &str,
        port: u16,
        host_key: &str,
        fingerprint: &str,
    ) -> Result<Target, AdminError> {
        let entry = by.entry(
            EventKind::TargetAdded,
            name,
            serde_json::json!({ "host": host, "port": port, "host_key": fingerprint }),
        );
        self.change(entry, async |tx| {
            tx.create_target(name, host, port, Some(host_key)).await
        })
        .await
    }

    pub async fn set_target_address(
        &self,
        by: &Actor,
        name: &str,
        host: &str,
        port: u16,
    ) -> Result<(), AdminError> {
        let t = self.store.target_by_name(name).await?;
        let entry = by.entry(
            EventKind::TargetAddressChanged,
            name,
            serde_json::json!({ "from": format!("{}:{}", t.host, t.port), "to": format!("{host}:{port}") }),
        );
        self.change(entry, async |tx| {
            tx.set_target_address(name, host, port).await
        })
        .await
    }

    pub async fn set_target_disabled(
        &self,
        by: &Actor,
        name: &str,
        disabled: bool,
    ) -> Result<(), AdminError> {
        let kind = if disabled {
            EventKind::TargetDisabled
        } else {
            EventKind::TargetEnabled
        };
        let entry = by.entry(kind, name, serde_json::json!({}));
        self.change(entry, async |tx| {
            tx.set_target_disabled(name, disabled).await
        })
        .await
    }

    /// Removes a target with its logins and grants; its sessions keep their records.
    pub async fn remove_target(&self, by: &Actor, name: &str) -> Result<(), AdminError> {
        let t = self.store.target_by_name(name).await?;
        let logins: Vec<String> = self
            .store
            .accounts(&t)
            .await?
            .into_iter()
            .map(|a| a.login)
            .collect();
        let entry = by.entry(
            EventKind::TargetRemoved,
            name,
            serde_json::json!({ "host": t.host, "port": t.port, "logins": logins }),
        );
        self.change(entry, async |tx| tx.delete_target(name).await)
            .await
    }

    /// Adds a login with its credential, sealed in the vault (the evidence never holds it).
    pub async fn add_login(
        &self,
        by: &Actor,
        target: &str,
        login: &str,
        kind: SecretKind,
        secret: &Secret,
    ) -> Result<Account, AdminError> {
        let entry = login_entry(
            by,
            EventKind::AccountAdded,
            target,
            login,
            serde_json::json!({ "kind": kind.as_str() }),
        );
        self.change(entry, async |tx| {
            tx.create_account(target, login, kind, secret).await
        })
        .await
    }

    /// Replaces a login's credential.
    pub async fn rotate_login(
        &self,
        by: &Actor,
        target: &str,
        login: &str,
        kind: SecretKind,
        secret: &Secret,
    ) -> Result<(), AdminError> {
        let entry = login_entry(
            by,
            EventKind::AccountCredentialChanged,
            target,
            login,
            serde_json::json!({ "kind": kind.as_str() }),
        );
        self.change(entry, async |tx| {
            tx.set_account_secret(target, login, kind, secret).await
        })
        .await
    }

    /// Sets whether the gateway answers sudo for a login (issue 12), and its separate sudo and
    /// su passwords. The evidence says what changed, never a password.
    pub async fn set_login_elevation(
        &self,
        by: &Actor,
        target: &str,
        login: &str,
        change: &vigil_store::ElevationChange,
    ) -> Result<Account, AdminError> {
        // The entry names the mode the login has after the change, so it is written after.
        let mut tx = self.store.begin().await?;
        let account = tx.set_account_elevation(target, login, change).await?;
        let (sudo, su) = (&change.sudo, &change.su);
        tx.record(login_entry(
            by,
            EventKind::AccountElevationChanged,
            target,
            login,
            serde_json::json!({ "sudo_inject": account.sudo_inject.as_str(), "sudo_secret": sudo.as_str(), "su_secret": su.as_str(), "sudo_ticket_minutes": account.sudo_ticket_minutes }),
        ));
        tx.commit().await?;
        Ok(account)
    }

    /// Sets (replaces) the file-transfer policy of a target, or of one login on it. The
    /// entry carries the whole policy as stored (normalised).
    pub async fn set_transfer_policy(
        &self,
        by: &Actor,
        scope: &vigil_store::PolicyScope<'_>,
        policy: vigil_core::TransferPolicy,
    ) -> Result<vigil_core::TransferPolicy, AdminError> {
        let mut tx = self.store.begin().await?;
        let policy = tx
            .set_transfer_policy(scope, policy, vigil_core::now_millis())
            .await?;
        tx.record(by.entry(
            EventKind::TransferPolicySet,
            &policy_subject(scope),
            serde_json::json!({ "policy": policy }),
        ));
        tx.commit().await?;
        Ok(policy)
    }

    /// Removes the file-transfer policy of a target, or of one login on it.
    pub async fn clear_transfer_policy(
        &self,
        by: &Actor,
        scope: &vigil_store::PolicyScope<'_>,
    ) -> Result<(), AdminError> {
        let entry = by.entry(
            EventKind::TransferPolicyCleared,
            &policy_subject(scope),
            serde_json::json!({}),
        );
        self.change(entry, async |tx| tx.clear_transfer_policy(scope).await)
            .await
    }

    pub async fn remove_login(
        &self,
        by: &Actor,
        target: &str,
        login: &str,
    ) -> Result<(), AdminError> {
        let entry = login_entry(
            by,
            EventKind::AccountRemoved,
            target,
            login,
            serde_json::json!({}),
        );
        self.change(entry, async |tx| tx.delete_account(target, login).await)
            .await
    }

    /// Grants `user` access to `target` (every login, or only `login`).
    pub async fn grant(
        &self,
        by: &Actor,
        user: &str,
        target: &str,
        login: Option<&str>,
        allow_port_forwarding: bool,
    ) -> Result<Grant, AdminError> {
        let mut tx = self.store.begin().await?;
        let grant = tx
            .create_grant(user, target, login, allow_port_forwarding)
            .await?;
        tx.record(by.entry(
            EventKind::AccessGranted,
            user,
            serde_json::json!({ "grant": grant.id, "target": target, "login": login, "allow_port_forwarding": allow_port_forwarding }),
        ));
        tx.commit().await?;
        Ok(grant)
    }

    /// Revokes a grant by its id.
    pub async fn revoke(&self, by: &Actor, grant: &str) -> Result<(), AdminError> {
        let row = self
            .store
            .list_grants()
            .await?
            .into_iter()
            .find(|g| g.id == grant)
            .ok_or_else(|| vigil_store::StoreError::NotFound(format!("grant {grant}")))?;
        let entry = by.entry(
            EventKind::AccessRevoked,
            grant,
            serde_json::json!({ "user": row.user_name, "target": row.target_name, "login": row.login }),
        );
        self.change(entry, async |tx| tx.delete_grant(grant).await)
            .await
    }
}

/// An administration entry about one login, named `login@target`.
/// What a policy's administration entry is about: the target, or `login@target`.
fn policy_subject(scope: &vigil_store::PolicyScope<'_>) -> String {
    match scope.login {
        Some(login) => format!("{login}@{}", scope.target),
        None => scope.target.to_owned(),
    }
}

fn login_entry(
    by: &Actor,
    kind: EventKind,
    target: &str,
    login: &str,
    detail: serde_json::Value,
) -> vigil_core::Evidence {
    by.entry(kind, &format!("{login}@{target}"), detail)
}
