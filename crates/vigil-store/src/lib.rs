//! Vigil's persistent state behind one repository type, on SQLite (embedded default, WAL) or
//! PostgreSQL (clusters). Queries are runtime-checked SQL that both backends accept; each
//! backend has its own migrations folder.
//!
//! Architecture invariant: the store knows nothing of HTTP or SSH. Credentials enter and leave
//! only as `vigil_vault::Secret` and are sealed before they reach SQL: no column holds a
//! secret in clear.
#![forbid(unsafe_code)]

mod agents;
mod alone;
mod chain_reads;
mod command_search;
mod commands;
mod consumer;
mod elevation;
mod endpoint_runs;
mod evidence;
mod leases;
pub mod log_chain;
mod manage;
mod migrate;
mod node_keys;
mod nodes;
mod review;
mod rules;
mod sessions;
mod siem;
mod targets;
mod tracks;
mod transfer_policies;
mod users;
mod vault_check;
mod web;

use std::sync::Arc;
use std::time::Duration;

use sqlx::AnyPool;
use sqlx::any::AnyPoolOptions;
use vigil_vault::MasterKey;

pub use agents::{AgentPolicyRow, AgentRow, AgentStatus, Enrolment};
pub use chain_reads::ChainedRow;
pub use command_search::CommandHit;
pub use commands::{ControlCommand, PendingCommand};
pub use consumer::{EvidenceConsumer, Start};
pub use elevation::{ElevationChange, MAX_TICKET_MINUTES, SecretChange};
pub use endpoint_runs::{NewRun, RunRow, UPLOAD_OBJECTS, UploadRow};
pub use evidence::{AuditEntry, EvidenceRow, Tx};
pub use manage::GrantRow;
pub use node_keys::NodeKeyRow;
pub use nodes::{DownNode, Heartbeat, NodeAddress, NodeRow, NodeState};
pub use review::PreventPurge;
pub use rules::RuleRow;
pub use sessions::{NewSession, SessionEvent, SessionFilter, SessionRow};
pub use siem::SiemStatus;
pub use tracks::{NewTrack, TrackRow, track_key};
pub use transfer_policies::PolicyScope;
pub use web::{ApiToken, WebSession};

/// Which database a URL names.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("database url {0:?} is not supported: use sqlite://PATH or postgres://USER@HOST/DB")]
    UnsupportedUrl(String),
    #[error("cannot open the database: {0}")]
    Connect(#[source] sqlx::Error),
    #[error("database migration {version} failed: {source}")]
    Migrate { version: i64, source: sqlx::Error },
    #[error("database error: {0}")]
    Sql(#[from] sqlx::Error),
    #[error("{0} not found")]
    NotFound(String),
    #[error("{0} already exists")]
    Conflict(String),
    #[error("invalid {what}: {why}")]
    Invalid { what: &'static str, why: String },
    #[error(transparent)]
    Vault(#[from] vigil_vault::VaultError),
    #[error(
        "this node's vault master key cannot open the store's secrets: every node of a cluster needs the same key (copy master.key from a running node, or set VIGIL_MASTER_KEY to it)"
    )]
    WrongMasterKey,
}

impl StoreError {
    /// Whether the database could not be reached or could not take a write just now (stopped,
    /// unreachable, restarting, out of connections, busy, disk full): the same change may
    /// succeed later. Anything else (a constraint, a missing row) will fail again.
    pub fn is_unavailable(&self) -> bool {
        let sql = match self {
            StoreError::Connect(e) | StoreError::Sql(e) => e,
            _ => return false,
        };
        match sql {
            sqlx::Error::Io(_)
            | sqlx::Error::Tls(_)
            | sqlx::Error::PoolTimedOut
            | sqlx::Error::PoolClosed
            | sqlx::Error::WorkerCrashed
            | sqlx::Error::Protocol(_) => true,
            sqlx::Error::Database(db) => {
                let code = db.code().unwrap_or_default();
                // PostgreSQL: connection exceptions (08), shutdown (57P0x), too many
                // connections, disk full; SQLite: busy, locked, full, I/O error.
                code.starts_with("08")
                    || code.starts_with("57P")
                    || matches!(code.as_ref(), "53100" | "53300" | "5" | "6" | "10" | "13")
                    || db.message().contains("database is locked")
            }
            _ => false,
        }
    }
}

/// The repository: every read and write of Vigil's state goes through here.
#[derive(Clone)]
pub struct Store {
    pool: AnyPool,
    backend: Backend,
    master: Arc<MasterKey>,
    /// Who writes this store's evidence: a node's name, or `cli`.
    origin: Arc<str>,
    /// Woken when this process commits evidence, so local consumers need not poll for it.
    written: Arc<tokio::sync::Notify>,
    /// Where it connects (for PostgreSQL's LISTEN, on a connection of its own). Never printed.
    url: Arc<str>,
}

impl std::fmt::Debug for Store {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Store")
            .field("backend", &self.backend)
            .finish_non_exhaustive()
    }
}

impl Store {
    /// Connects and brings the schema up to date.
    pub async fn open(url: &str, master: Arc<MasterKey>) -> Result<Self, StoreError> {
        sqlx::any::install_default_drivers();
        let backend = if url.starts_with("sqlite:") {
            Backend::Sqlite
        } else if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            Backend::Postgres
        } else {
            return Err(StoreError::UnsupportedUrl(url.to_owned()));
        };
        let max = match backend {
            Backend::Sqlite => 4,
            Backend::Postgres => 16,
        };
        let pool = AnyPoolOptions::new()
            .max_connections(max)
            .acquire_timeout(Duration::from_secs(10))
            .after_connect(move |conn, _| {
                Box::pin(async move {
                    if backend == Backend::Sqlite {
                        // WAL lets the CLI read and write while `serve` runs.
                        sqlx::raw_sql("PRAGMA journal_mode=WAL; PRAGMA busy_timeout=10000; PRAGMA foreign_keys=ON; PRAGMA synchronous=NORMAL")
                            .execute(conn)
                            .await?;
                    }
                    Ok(())
                })
            })
            .connect(url)
            .await
            .map_err(StoreError::Connect)?;
        let store = Store {
            pool,
            backend,
            master,
            origin: Arc::from("cli"),
            written: Arc::new(tokio::sync::Notify::new()),
            url: Arc::from(url),
        };
        migrate::run(&store).await?;
        Ok(store)
    }

    pub fn backend(&self) -> Backend {
        self.backend
    }

    /// Whether the database answers a trivial query now.
    pub async fn ping(&self) -> Result<(), StoreError> {
        sqlx::query("SELECT 1").execute(&self.pool).await?;
        Ok(())
    }

    /// Closes the pool's connections; gives up after a few seconds (every change is
    /// committed by then: a close is tidiness, not durability). sqlx 0.9's pool close was
    /// seen to hang for good in a CLI process, its maintenance task spinning.
    pub async fn close(&self) {
        if tokio::time::timeout(Duration::from_secs(5), self.pool.close())
            .await
            .is_err()
        {
            tracing::warn!("the database pool did not close within 5 s; leaving it");
        }
    }
}

pub(crate) fn new_id() -> String {
    uuid::Uuid::now_v7().to_string()
}

/// Whether `name` can name a user, target, rule or API token. Names of users and targets
/// appear in SSH user names (`user:login@target`), so they may not hold the separators.
pub fn valid_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 64
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
}

/// [`valid_name`] as a regular expression, for the API's document (its test checks the two
/// agree).
pub const NAME_PATTERN: &str = "^[A-Za-z0-9._-]{1,64}$";

pub(crate) fn check_name(what: &'static str, name: &str) -> Result<(), StoreError> {
    if valid_name(name) {
        Ok(())
    } else {
        Err(StoreError::Invalid {
            what,
            why: format!("{name:?}: use 1 to 64 letters, digits, '-', '_' or '.'"),
        })
    }
}

/// `NotFound(what)` when an update by name touched no row.
pub(crate) fn found(
    done: sqlx::any::AnyQueryResult,
    what: impl FnOnce() -> String,
) -> Result<(), StoreError> {
    if done.rows_affected() == 0 {
        Err(StoreError::NotFound(what()))
    } else {
        Ok(())
    }
}

/// Maps a unique-constraint violation to a `Conflict` naming the thing.
pub(crate) fn conflict(what: String) -> impl FnOnce(sqlx::Error) -> StoreError {
    move |e| match &e {
        sqlx::Error::Database(db) if db.is_unique_violation() => StoreError::Conflict(what),
        _ => StoreError::Sql(e),
    }
}

#[cfg(test)]
mod tests;
