//! Operator authentication: password, public key, and TOTP as a second factor through
//! keyboard-interactive. Every failure is written to the audit log with the client address.

use std::net::SocketAddr;

use russh::keys::PublicKey;
use vigil_core::{EventKind, Evidence, LoginSpec, User};
use vigil_store::Store;
use vigil_vault::{Secret, verify_password, verify_totp};

/// The outcome of checking one factor.
pub(crate) enum Factor {
    /// Fully authenticated.
    Done(User),
    /// First factor good; the user has TOTP enrolled and must give a code.
    NeedCode(User),
    Failed,
}

pub(crate) struct Authenticator<'a> {
    pub(crate) store: &'a Store,
    pub(crate) peer: SocketAddr,
}

impl Authenticator<'_> {
    async fn fail(&self, raw_user: &str, method: &str, why: &str) -> Factor {
        tracing::info!(user = raw_user, %self.peer, method, why, "authentication failed");
        let detail = serde_json::json!({ "method": method, "client": self.peer.to_string(), "reason": why, "via": "ssh" });
        // The name as typed is the actor: it may name nobody, and may be empty.
        let actor = if raw_user.is_empty() {
            "(none)"
        } else {
            raw_user
        };
        if let Err(e) = self
            .store
            .record(Evidence::admin(EventKind::AuthFailed, actor, "ssh", detail))
            .await
        {
            tracing::error!(error = %e, "cannot write audit log");
        }
        Factor::Failed
    }

    /// Looks up an enabled user from the SSH user name.
    async fn user(&self, raw_user: &str, method: &str) -> Result<User, Factor> {
        let spec = match LoginSpec::parse(raw_user) {
            Ok(s) => s,
            Err(e) => return Err(self.fail(raw_user, method, &e.to_string()).await),
        };
        match self.store.find_user_by_name(&spec.user).await {
            Ok(Some(u)) if !u.disabled => Ok(u),
            Ok(Some(_)) => Err(self.fail(raw_user, method, "user is disabled").await),
            Ok(None) => Err(self.fail(raw_user, method, "unknown user").await),
            Err(e) => Err(self
                .fail(raw_user, method, &format!("store error: {e}"))
                .await),
        }
    }

    fn after_first_factor(user: User) -> Factor {
        if user.has_totp {
            Factor::NeedCode(user)
        } else {
            Factor::Done(user)
        }
    }

    pub(crate) async fn password(&self, raw_user: &str, password: &[u8]) -> Factor {
        let user = match self.user(raw_user, "password").await {
            Ok(u) => u,
            Err(f) => return f,
        };
        // A store that fails is evidence of its own, never a "wrong password".
        let hash = match self.store.user_password_hash(&user.name).await {
            Ok(hash) => hash,
            Err(e) => {
                return self
                    .fail(raw_user, "password", &format!("store error: {e}"))
                    .await;
            }
        };
        let password = Secret::new(password.to_vec());
        // argon2 is deliberately slow: keep it off the async workers.
        let ok = match hash {
            Some(hash) => {
                match tokio::task::spawn_blocking(move || verify_password(password.expose(), &hash))
                    .await
                {
                    Ok(ok) => ok,
                    Err(e) => {
                        return self
                            .fail(raw_user, "password", &format!("password check failed: {e}"))
                            .await;
                    }
                }
            }
            None => false,
        };
        if ok {
            Self::after_first_factor(user)
        } else {
            self.fail(raw_user, "password", "wrong password").await
        }
    }

    /// True when `key` is one of the user's registered keys (no signature checked yet).
    pub(crate) async fn knows_key(&self, raw_user: &str, key: &PublicKey) -> bool {
        let Ok(spec) = LoginSpec::parse(raw_user) else {
            return false;
        };
        let Ok(Some(user)) = self.store.find_user_by_name(&spec.user).await else {
            return false;
        };
        // Only a probe: the signed attempt that follows is judged (and logged) by `public_key`.
        key_registered(self.store, &user, key)
            .await
            .unwrap_or(false)
    }

    pub(crate) async fn public_key(&self, raw_user: &str, key: &PublicKey) -> Factor {
        let user = match self.user(raw_user, "publickey").await {
            Ok(u) => u,
            Err(f) => return f,
        };
        match key_registered(self.store, &user, key).await {
            Ok(true) => Self::after_first_factor(user),
            Ok(false) => self.fail(raw_user, "publickey", "key not registered").await,
            Err(e) => {
                self.fail(raw_user, "publickey", &format!("store error: {e}"))
                    .await
            }
        }
    }

    pub(crate) async fn totp(&self, raw_user: &str, user: User, code: &[u8]) -> Factor {
        let secret = match self.store.user_totp(&user).await {
            Ok(Some(s)) => s,
            Ok(None) => return Factor::Done(user),
            Err(e) => {
                return self
                    .fail(raw_user, "totp", &format!("cannot open TOTP secret: {e}"))
                    .await;
            }
        };
        let code = String::from_utf8_lossy(code).into_owned();
        if verify_totp(&secret, &code) {
            Factor::Done(user)
        } else {
            self.fail(raw_user, "totp", "wrong verification code").await
        }
    }
}

async fn key_registered(
    store: &Store,
    user: &User,
    key: &PublicKey,
) -> Result<bool, vigil_store::StoreError> {
    Ok(store.user_keys(user).await?.iter().any(|k| {
        PublicKey::from_openssh(&k.public_key)
            .is_ok_and(|stored| stored.key_data() == key.key_data())
    }))
}
