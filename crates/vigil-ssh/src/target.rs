//! The client side: logging in to a target with the vaulted credential, after checking that
//! the target presents the host key pinned when it was added.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use russh::client;
use russh::keys::{Algorithm, HashAlg, PrivateKeyWithHashAlg, PublicKey, PublicKeyOrCertificate};
use vigil_core::{Account, SecretKind, Target};
use vigil_vault::Secret;

/// An authenticated connection to a target, shared by the operator's channels.
pub(crate) struct TargetLink {
    pub(crate) handle: client::Handle<TargetClient>,
    pub(crate) target: Target,
}

pub(crate) struct TargetClient {
    pinned: Option<PublicKey>,
    presented: Arc<Mutex<Option<PublicKey>>>,
}

impl client::Handler for TargetClient {
    type Error = russh::Error;

    async fn check_server_key(
        &mut self,
        key: &PublicKeyOrCertificate,
    ) -> Result<bool, Self::Error> {
        let PublicKeyOrCertificate::PublicKey { key, .. } = key else {
            return Ok(false);
        };
        if let Ok(mut slot) = self.presented.lock() {
            *slot = Some(key.clone());
        }
        Ok(self
            .pinned
            .as_ref()
            .is_some_and(|p| p.key_data() == key.key_data()))
    }
}

#[derive(Debug, thiserror::Error)]
pub(crate) enum ConnectError {
    #[error("target {name} ({addr}) is unreachable: {why}")]
    Unreachable {
        name: String,
        addr: String,
        why: String,
    },
    #[error(
        "target {name} presented host key {presented}, which does not match the key pinned when it was added; the session is refused (tell an administrator: the target may have been replaced or intercepted)"
    )]
    HostKeyMismatch { name: String, presented: String },
    #[error(
        "target {name} has no pinned host key: an administrator must pin it (vigil target add --host-key-file or --trust-on-add)"
    )]
    NoPinnedKey { name: String },
    #[error("the target rejected the vaulted credential for {login}@{name}: tell an administrator")]
    CredentialRejected { name: String, login: String },
    #[error("the vaulted credential for {login}@{name} cannot be used: {why}")]
    BadCredential {
        name: String,
        login: String,
        why: String,
    },
    #[error("ssh to target {name} failed: {why}")]
    Protocol { name: String, why: String },
}

fn fingerprint(key: &PublicKey) -> String {
    key.fingerprint(HashAlg::Sha256).to_string()
}

/// Host key algorithms to ask for: only the pinned key's, so a target with several host keys
/// shows the one we can check.
fn host_key_algorithms(pinned: &PublicKey) -> Vec<Algorithm> {
    match pinned.algorithm() {
        Algorithm::Rsa { .. } => vec![
            Algorithm::Rsa {
                hash: Some(HashAlg::Sha512),
            },
            Algorithm::Rsa {
                hash: Some(HashAlg::Sha256),
            },
        ],
        other => vec![other],
    }
}

pub(crate) fn client_config(
    base: &client::Config,
    pinned: Option<&PublicKey>,
) -> Arc<client::Config> {
    let mut config = client::Config {
        inactivity_timeout: None,
        keepalive_interval: base.keepalive_interval,
        keepalive_max: base.keepalive_max,
        window_size: base.window_size,
        maximum_packet_size: base.maximum_packet_size,
        channel_buffer_size: base.channel_buffer_size,
        nodelay: true,
        preferred: base.preferred.clone(),
        ..Default::default()
    };
    if let Some(pinned) = pinned {
        config.preferred.key = host_key_algorithms(pinned).into();
    }
    Arc::new(config)
}

pub(crate) async fn connect(
    base: &client::Config,
    target: &Target,
    account: &Account,
    secret: Secret,
) -> Result<client::Handle<TargetClient>, ConnectError> {
    let name = target.name.clone();
    let addr = format!("{}:{}", target.host, target.port);
    let pinned = target
        .host_key
        .as_deref()
        .and_then(|k| PublicKey::from_openssh(k).ok())
        .ok_or_else(|| ConnectError::NoPinnedKey { name: name.clone() })?;
    let presented = Arc::new(Mutex::new(None));
    let handler = TargetClient {
        pinned: Some(pinned.clone()),
        presented: Arc::clone(&presented),
    };
    let config = client_config(base, Some(&pinned));
    let unreachable = |why: String| ConnectError::Unreachable {
        name: name.clone(),
        addr: addr.clone(),
        why,
    };
    let stream = tokio::time::timeout(
        Duration::from_secs(10),
        tokio::net::TcpStream::connect((target.host.as_str(), target.port)),
    )
    .await
    .map_err(|_| unreachable("no answer within 10 s".into()))?
    .map_err(|e| unreachable(e.to_string()))?;
    let _ = stream.set_nodelay(true);
    let connected = tokio::time::timeout(
        Duration::from_secs(20),
        client::connect_stream(config, stream, handler),
    )
    .await;
    let mut handle = match connected {
        Err(_) => {
            return Err(unreachable(
                "the SSH handshake did not finish within 20 s".into(),
            ));
        }
        Ok(Ok(h)) => h,
        Ok(Err(e)) => {
            let shown = presented.lock().ok().and_then(|p| p.clone());
            return Err(match shown {
                Some(key) if key.key_data() != pinned.key_data() => ConnectError::HostKeyMismatch {
                    name,
                    presented: fingerprint(&key),
                },
                _ => ConnectError::Protocol {
                    name,
                    why: e.to_string(),
                },
            });
        }
    };
    let login = account.login.clone();
    let rejected = || ConnectError::CredentialRejected {
        name: name.clone(),
        login: login.clone(),
    };
    let protocol = |e: russh::Error| ConnectError::Protocol {
        name: name.clone(),
        why: e.to_string(),
    };
    let result = match account.secret_kind {
        SecretKind::Password => {
            let password = secret
                .expose_str()
                .ok_or_else(|| ConnectError::BadCredential {
                    name: name.clone(),
                    login: login.clone(),
                    why: "the stored password is not UTF-8".into(),
                })?;
            handle
                .authenticate_password(login.clone(), password)
                .await
                .map_err(protocol)?
        }
        SecretKind::PrivateKey => {
            let text = secret.expose_str().unwrap_or_default();
            let key = russh::keys::decode_secret_key(text, None).map_err(|e| {
                ConnectError::BadCredential {
                    name: name.clone(),
                    login: login.clone(),
                    why: e.to_string(),
                }
            })?;
            let hash = handle
                .best_supported_rsa_hash()
                .await
                .map_err(protocol)?
                .flatten();
            handle
                .authenticate_publickey(
                    login.clone(),
                    PrivateKeyWithHashAlg::new(Arc::new(key), hash),
                )
                .await
                .map_err(protocol)?
        }
    };
    if result.success() {
        Ok(handle)
    } else {
        Err(rejected())
    }
}

struct KeyCollector(Arc<Mutex<Option<PublicKey>>>);

impl client::Handler for KeyCollector {
    type Error = russh::Error;

    async fn check_server_key(
        &mut self,
        key: &PublicKeyOrCertificate,
    ) -> Result<bool, Self::Error> {
        if let (PublicKeyOrCertificate::PublicKey { key, .. }, Ok(mut slot)) = (key, self.0.lock())
        {
            *slot = Some(key.clone());
        }
        // Refuse: we only wanted to see the key.
        Ok(false)
    }
}

/// Connects once to read the host key a target presents, for `target add --trust-on-add`.
/// Returns it in OpenSSH one-line form.
pub async fn fetch_host_key(host: &str, port: u16) -> Result<String, String> {
    let slot = Arc::new(Mutex::new(None));
    let config = client_config(&client::Config::default(), None);
    let connect = client::connect(config, (host, port), KeyCollector(Arc::clone(&slot)));
    let _ = tokio::time::timeout(Duration::from_secs(15), connect)
        .await
        .map_err(|_| format!("{host}:{port} did not answer within 15 s"))?;
    let key =
        slot.lock().ok().and_then(|k| k.clone()).ok_or_else(|| {
            format!("{host}:{port} presented no SSH host key (is it an SSH server?)")
        })?;
    key.to_openssh().map_err(|e| e.to_string())
}
