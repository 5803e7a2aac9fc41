//! Operator authentication: password, public key, and TOTP as a second factor through
//! keyboard-interactive. Every failure is written to the audit log with the client address;
//! five failures in five minutes for a user name or from an address block further attempts
//! for the rest of the five minutes (each refused attempt is logged, and no credential is
//! checked meanwhile).

use std::net::SocketAddr;

use russh::keys::PublicKey;
use vigil_core::{EventKind, Evidence, LoginLimiter, LoginSpec, User};
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
    pub(crate) limiter: &'a LoginLimiter,
}

impl Authenticator<'_> {
    /// The limiter's keys for a sign-in as `raw_user` from this peer: the Vigil user named
    /// (whatever target it asks for) and the client's address.
    fn limit_keys(&self, raw_user: &str) -> [String; 2] {
        let user = LoginSpec::parse(raw_user)
            .map(|s| s.user)
            .unwrap_or_else(|_| raw_user.to_owned());
        [
            format!("user:{}", user.to_lowercase()),
            format!("addr:{}", self.peer.ip()),
        ]
    }

    /// `Some(Failed)` when this user or address has failed too often: the credential is not
    /// even checked, so guessing gets nowhere while blocked.
    async fn blocked(&self, raw_user: &str, method: &str) -> Option<Factor> {
        let wait = self.limiter.blocked(&self.limit_keys(raw_user))?;
        tracing::info!(user = raw_user, %self.peer, method, wait, "sign-in blocked by the rate limit");
        let actor = if raw_user.is_empty() {
            "(none)"
        } else {
            raw_user
        };
        let detail = serde_json::json!({ "method": method, "client": self.peer.to_string(), "wait_secs": wait, "via": "ssh" });
        if let Err(e) = self
            .store
            .record(Evidence::admin(
                EventKind::SshLoginBlocked,
                actor,
                "ssh",
                detail,
            ))
            .await
        {
            tracing::error!(error = %e, "cannot write audit log");
        }
        Some(Factor::Failed)
    }

    /// A user through every factor: their failures are forgiven (their address's are not).
    fn done(&self, raw_user: &str, user: User) -> Factor {
        let [user_key, _] = self.limit_keys(raw_user);
        self.limiter.succeeded(&user_key);
        Factor::Done(user)
    }

    async fn fail(&self, raw_user: &str, method: &str, why: &str) -> Factor {
        self.limiter.failed(&self.limit_keys(raw_user));
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

    /// The store did not answer: no credential could be checked, so this is no failed
    /// guess (an outage must not lock everyone out). The operator was told in the banner.
    fn store_away(&self, raw_user: &str, method: &str, e: &vigil_store::StoreError) -> Factor {
        tracing::error!(user = raw_user, %self.peer, method, error = %e, "sign-in refused: the store does not answer");
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
            Err(e) => Err(self.store_away(raw_user, method, &e)),
        }
    }

    fn after_first_factor(&self, raw_user: &str, user: User) -> Factor {
        if user.has_totp {
            Factor::NeedCode(user)
        } else {
            self.done(raw_user, user)
        }
    }

    pub(crate) async fn password(&self, raw_user: &str, password: &[u8]) -> Factor {
        if let Some(blocked) = self.blocked(raw_user, "password").await {
            return blocked;
        }
        let user = match self.user(raw_user, "password").await {
            Ok(u) => u,
            Err(f) => return f,
        };
        // A store that fails is evidence of its own, never a "wrong password".
        let hash = match self.store.user_password_hash(&user.name).await {
            Ok(hash) => hash,
            Err(e) => {
                return self.store_away(raw_user, "password", &e);
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
            self.after_first_factor(raw_user, user)
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
        if let Some(blocked) = self.blocked(raw_user, "publickey").await {
            return blocked;
        }
        let user = match self.user(raw_user, "publickey").await {
            Ok(u) => u,
            Err(f) => return f,
        };
        match key_registered(self.store, &user, key).await {
            Ok(true) => self.after_first_factor(raw_user, user),
            Ok(false) => self.fail(raw_user, "publickey", "key not registered").await,
            Err(e) => self.store_away(raw_user, "publickey", &e),
        }
    }

    pub(crate) async fn totp(&self, raw_user: &str, user: User, code: &[u8]) -> Factor {
        if let Some(blocked) = self.blocked(raw_user, "totp").await {
            return blocked;
        }
        let secret = match self.store.user_totp(&user).await {
            Ok(Some(s)) => s,
            Ok(None) => return self.done(raw_user, user),
            Err(e) => {
                return self
                    .fail(raw_user, "totp", &format!("cannot open TOTP secret: {e}"))
                    .await;
            }
        };
        let code = String::from_utf8_lossy(code).into_owned();
        if verify_totp(&secret, &code) {
            self.done(raw_user, user)
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
