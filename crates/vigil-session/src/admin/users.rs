//! Users: accounts, roles, passwords, SSH keys, second factors, API tokens, release.

use vigil_core::{EventKind, Role, User, UserKey};
use vigil_store::{ApiToken, StoreError};
use vigil_vault::Secret;

use super::{Actor, Admin, AdminError};

impl Admin {
    pub async fn add_user(
        &self,
        by: &Actor,
        name: &str,
        role: Role,
        password_hash: Option<&str>,
    ) -> Result<User, AdminError> {
        let entry = by.entry(
            EventKind::UserAdded,
            name,
            serde_json::json!({ "role": role.as_str() }),
        );
        self.change(entry, async |tx| {
            tx.create_user(name, role, password_hash).await
        })
        .await
    }

    /// Changes a user's role; nobody changes their own (another administrator must).
    pub async fn set_role(&self, by: &Actor, name: &str, role: Role) -> Result<(), AdminError> {
        let user = self.store.user_by_name(name).await?;
        if user.role == role {
            return Ok(());
        }
        if user.name == by.name {
            return Err(AdminError::Refused(
                "you cannot change your own role: ask another administrator".into(),
            ));
        }
        let entry = by.entry(
            EventKind::UserRoleChanged,
            name,
            serde_json::json!({ "from": user.role.as_str(), "to": role.as_str() }),
        );
        self.change(entry, async |tx| tx.set_user_role(name, role).await)
            .await
    }

    /// Disables (no sign-in, no new session; console sessions end) or enables a user.
    pub async fn set_disabled(
        &self,
        by: &Actor,
        name: &str,
        disabled: bool,
    ) -> Result<(), AdminError> {
        let user = self.store.user_by_name(name).await?;
        if disabled && user.name == by.name {
            return Err(AdminError::Refused("you cannot disable yourself".into()));
        }
        let kind = if disabled {
            EventKind::UserDisabled
        } else {
            EventKind::UserEnabled
        };
        let entry = by.entry(kind, name, serde_json::json!({}));
        self.change(entry, async |tx| {
            tx.set_user_disabled(name, disabled).await?;
            if disabled {
                tx.delete_web_sessions_of(&user).await?;
            }
            Ok(())
        })
        .await
    }

    /// Sets a user's password (already hashed) and signs them out of the console everywhere.
    pub async fn set_password(
        &self,
        by: &Actor,
        name: &str,
        password_hash: &str,
    ) -> Result<(), AdminError> {
        let user = self.store.user_by_name(name).await?;
        let entry = by.entry(EventKind::PasswordChanged, name, serde_json::json!({}));
        self.change(entry, async |tx| {
            tx.set_user_password(name, password_hash).await?;
            tx.delete_web_sessions_of(&user).await
        })
        .await
    }

    /// Adds a public key, given in OpenSSH one-line form with its fingerprint.
    pub async fn add_key(
        &self,
        by: &Actor,
        name: &str,
        public_key: &str,
        fingerprint: &str,
    ) -> Result<UserKey, AdminError> {
        let entry = by.entry(
            EventKind::UserKeyAdded,
            name,
            serde_json::json!({ "fingerprint": fingerprint }),
        );
        self.change(entry, async |tx| {
            tx.add_user_key(name, public_key, fingerprint).await
        })
        .await
    }

    /// Removes a key by its id or its fingerprint.
    pub async fn remove_key(&self, by: &Actor, name: &str, key: &str) -> Result<(), AdminError> {
        let user = self.store.user_by_name(name).await?;
        let keys = self.store.user_keys(&user).await?;
        let Some(found) = keys.iter().find(|k| k.id == key || k.fingerprint == key) else {
            return Err(
                vigil_store::StoreError::NotFound(format!("key {key} of user {name}")).into(),
            );
        };
        let entry = by.entry(
            EventKind::UserKeyRemoved,
            name,
            serde_json::json!({ "key": found.id, "fingerprint": found.fingerprint }),
        );
        self.change(entry, async |tx| tx.delete_user_key(name, &found.id).await)
            .await
    }

    /// Enrols (`Some`) or removes (`None`) the user's TOTP second factor.
    pub async fn set_totp(
        &self,
        by: &Actor,
        name: &str,
        secret: Option<&Secret>,
    ) -> Result<(), AdminError> {
        self.store.user_by_name(name).await?;
        let kind = if secret.is_some() {
            EventKind::TotpEnrolled
        } else {
            EventKind::TotpRemoved
        };
        let entry = by.entry(kind, name, serde_json::json!({}));
        self.change(entry, async |tx| tx.set_user_totp(name, secret).await)
            .await
    }

    /// Creates an API token for `by` (a token acts with its owner's permissions).
    pub async fn create_token(
        &self,
        by: &Actor,
        owner: &User,
        name: &str,
        token_hash: &str,
    ) -> Result<ApiToken, AdminError> {
        let mut tx = self.store.begin().await?;
        let token = tx.create_api_token(owner, name, token_hash).await?;
        tx.record(by.entry(
            EventKind::ApiTokenCreated,
            name,
            serde_json::json!({ "id": token.id }),
        ));
        tx.commit().await?;
        Ok(token)
    }

    pub async fn revoke_token(&self, by: &Actor, owner: &User, id: &str) -> Result<(), AdminError> {
        let entry = by.entry(EventKind::ApiTokenRevoked, id, serde_json::json!({}));
        self.change(entry, async |tx| tx.delete_api_token(owner, id).await)
            .await
    }

    /// Forgets the failed sign-ins of `key` (`user:NAME` or `addr:IP`) on this node, so that
    /// it may sign in again at once. The limits are each node's, in memory: a process with no
    /// hub (the CLI) has none to clear.
    pub async fn clear_sign_in_limit(&self, by: &Actor, key: &str) -> Result<(), AdminError> {
        let Some(hub) = &self.hub else {
            return Err(AdminError::Refused(
                "sign-in limits are kept in each node's memory: clear them through that node's console or API".into(),
            ));
        };
        if !(key.starts_with("user:") || key.starts_with("addr:")) {
            return Err(AdminError::Invalid(format!(
                "{key:?} is not a limit: use user:NAME or addr:IP as listed"
            )));
        }
        let Some(failures) = hub.sign_ins().failures(key) else {
            return Err(
                StoreError::NotFound(format!("failed sign-ins of {key} on this node")).into(),
            );
        };
        self.store
            .record(by.entry(
                EventKind::SignInLimitCleared,
                key,
                serde_json::json!({ "failures": failures, "node": hub.node() }),
            ))
            .await?;
        hub.sign_ins().clear(key);
        Ok(())
    }

    /// Lets a user locked by a session lock start sessions again and unlocks their locked
    /// sessions (here at once, on other nodes through the queue). Returns who had locked them.
    pub async fn release(&self, by: &Actor, name: &str) -> Result<Option<String>, AdminError> {
        let user = self.store.user_by_name(name).await?;
        let entry = by.entry(
            EventKind::UserReleased,
            name,
            serde_json::json!({ "locked_by": user.locked_by }),
        );
        let was = self
            .change(entry, async |tx| tx.release_user(name).await)
            .await?;
        self.unlock_sessions_of(by, name).await?;
        Ok(was)
    }
}
