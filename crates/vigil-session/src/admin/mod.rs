//! One place for administrative actions. Each action is one operation that takes the acting
//! user, checks the rules that do not depend on the caller's permissions (a user cannot
//! disable themselves, a session that ended cannot be locked), and writes the change and its
//! evidence in one transaction. The CLI and the REST API only parse, check permissions, call
//! and print, so an action behaves the same from a terminal and from the console.
//!
//! Live control reaches a session on this node through the hub at once, and a session on
//! another node (or any session, from a CLI process, which has no hub) through the command
//! queue; the queued command and its evidence are one transaction.

mod agents;
mod nodes;
mod rules;
mod sessions;
mod targets;
mod users;

use std::sync::Arc;

use vigil_core::{EventKind, Evidence, SYSTEM_ACTOR};
use vigil_store::{Store, StoreError};

use crate::{ControlError, Hub};

pub use agents::{AGENT_TOKEN_VALIDITY, WorkstationId};
pub use rules::{MAX_SCORE, rule_of};
pub(crate) use sessions::kept_prefix;
pub use sessions::{KeptFile, Purpose};

/// How a request reached Vigil; the evidence says it (`via`, and the client's address).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Via {
    /// The `vigil` command on the server.
    Cli,
    /// The REST API or the console, from `addr`.
    Api { addr: String },
    /// A node acting by itself (the retention job).
    Node,
}

/// Who acts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Actor {
    pub name: String,
    pub via: Via,
}

impl Actor {
    pub fn cli(name: impl Into<String>) -> Actor {
        Actor {
            name: name.into(),
            via: Via::Cli,
        }
    }

    pub fn api(name: impl Into<String>, addr: impl Into<String>) -> Actor {
        Actor {
            name: name.into(),
            via: Via::Api { addr: addr.into() },
        }
    }

    /// The node itself.
    pub fn system() -> Actor {
        Actor {
            name: SYSTEM_ACTOR.to_owned(),
            via: Via::Node,
        }
    }

    /// `detail` with `via` (and the API client's `addr`) added.
    pub fn detail(&self, mut detail: serde_json::Value) -> serde_json::Value {
        if !detail.is_object() {
            detail = serde_json::json!({});
        }
        let (via, addr) = match &self.via {
            Via::Cli => ("cli", None),
            Via::Api { addr } => ("api", Some(addr.clone())),
            Via::Node => ("node", None),
        };
        detail["via"] = via.into();
        if let Some(addr) = addr {
            detail["addr"] = addr.into();
        }
        detail
    }

    /// An administration entry: this actor did `kind` to `subject`.
    pub fn entry(&self, kind: EventKind, subject: &str, detail: serde_json::Value) -> Evidence {
        Evidence::admin(kind, &self.name, subject, self.detail(detail))
    }
}

#[derive(Debug, thiserror::Error)]
pub enum AdminError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Control(#[from] ControlError),
    /// A rule of the action said no; the message says which and what to do.
    #[error("{0}")]
    Refused(String),
    /// What was asked for cannot be used as it is (a pattern that does not compile); the
    /// message says where and why.
    #[error("{0}")]
    Invalid(String),
}

/// The administrative actions, over the store and (in `serve`) this node's hub.
#[derive(Clone)]
pub struct Admin {
    store: Store,
    hub: Option<Arc<Hub>>,
    /// The node's recording key: signs the tombstone a purge leaves (issue 15).
    signer: Option<Arc<dyn vigil_record::chain::LinkSigner>>,
}

impl Admin {
    /// For a process that runs no session (the CLI): live control goes through the queue.
    pub fn new(store: Store) -> Admin {
        Admin {
            store,
            hub: None,
            signer: None,
        }
    }

    /// Signs what needs the node's recording key (a purge's tombstones) with `signer`.
    pub fn signing_with(mut self, signer: Arc<dyn vigil_record::chain::LinkSigner>) -> Admin {
        self.signer = Some(signer);
        self
    }

    /// For a node: its own sessions are controlled at once.
    pub fn with_hub(hub: Arc<Hub>) -> Admin {
        Admin {
            store: hub.store().clone(),
            signer: hub.recording_signer(),
            hub: Some(hub),
        }
    }

    pub fn store(&self) -> &Store {
        &self.store
    }

    /// Runs `change` and records `evidence` with it, in one transaction.
    async fn change<T>(
        &self,
        evidence: Evidence,
        change: impl AsyncFnOnce(&mut vigil_store::Tx) -> Result<T, StoreError>,
    ) -> Result<T, AdminError> {
        let mut tx = self.store.begin().await?;
        let out = change(&mut tx).await?;
        tx.record(evidence);
        tx.commit().await?;
        Ok(out)
    }
}
