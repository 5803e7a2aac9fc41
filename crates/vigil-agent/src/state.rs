//! The agent's state directory (`--state-dir`, default `/var/lib/vigil-agent`): what enrolment
//! left, the key, the cached policies, the installed wrappers, the socket and the spool.
//!
//! Modes: the directory is root's and the agent group's (0750), so only root and the
//! set-group-id wrappers reach the policies and the socket; the key (0600) and the spool
//! (0700) are root's alone. A workstation user cannot read another's recordings, forge a run
//! or edit what is waiting to be uploaded.

use std::io::Write;
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use vigil_core::AgentPolicy;

/// The default `--state-dir`.
pub const DEFAULT_STATE_DIR: &str = "/var/lib/vigil-agent";
/// The group the wrappers run with (set-group-id) to reach the socket, the policies and the
/// diverted originals; made by `vigil-agent run` when it does not exist.
pub const AGENT_GROUP: &str = "vigil-agent";

#[derive(Debug, thiserror::Error)]
pub enum StateError {
    #[error("{path}: {source}")]
    Io {
        path: String,
        source: std::io::Error,
    },
    #[error("{path} is not what the agent wrote ({why}); enrol again or remove the file")]
    Corrupt { path: String, why: String },
    #[error(
        "this workstation is not enrolled ({path} is missing): run `vigil-agent enrol --server URL --token TOKEN` first"
    )]
    NotEnrolled { path: String },
}

pub(crate) fn io_err(path: &Path) -> impl FnOnce(std::io::Error) -> StateError + '_ {
    move |source| StateError::Io {
        path: path.display().to_string(),
        source,
    }
}

/// What enrolment learned; the agent's identity from then on.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Enrolment {
    /// The server's base URL, `https://HOST:PORT`.
    pub server: String,
    /// A PEM file of the certificates that sign the server's (its own self-signed one).
    pub ca_file: Option<PathBuf>,
    /// The agent's id on the server.
    pub id: String,
    pub host_name: String,
    pub fingerprint: String,
}

/// The policies that apply to this workstation, as last fetched.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct PolicyCache {
    pub revision: i64,
    /// The workstation's host name, as enrolled (rules naming a workstation match it).
    pub host_name: String,
    pub policies: Vec<AgentPolicy>,
}

#[derive(Debug, Clone)]
pub struct StateDir {
    root: PathBuf,
}

impl StateDir {
    pub fn new(root: impl Into<PathBuf>) -> StateDir {
        StateDir { root: root.into() }
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    pub fn key_file(&self) -> PathBuf {
        self.root.join("agent.key")
    }

    pub fn enrolment_file(&self) -> PathBuf {
        self.root.join("enrolment.json")
    }

    pub fn policies_file(&self) -> PathBuf {
        self.root.join("policies.json")
    }

    pub fn wrappers_file(&self) -> PathBuf {
        self.root.join("wrappers.json")
    }

    pub fn socket(&self) -> PathBuf {
        self.root.join("agent.sock")
    }

    pub fn spool(&self) -> PathBuf {
        self.root.join("spool")
    }

    /// Makes the directory and the spool with their modes.
    pub fn create(&self) -> Result<(), StateError> {
        for (dir, mode) in [(&self.root, 0o750), (&self.spool(), 0o700)] {
            std::fs::create_dir_all(dir).map_err(io_err(dir))?;
            std::fs::set_permissions(dir, std::fs::Permissions::from_mode(mode))
                .map_err(io_err(dir))?;
        }
        Ok(())
    }

    pub fn enrolment(&self) -> Result<Enrolment, StateError> {
        let path = self.enrolment_file();
        match std::fs::read(&path) {
            Ok(bytes) => parse(&path, &bytes),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Err(StateError::NotEnrolled {
                path: path.display().to_string(),
            }),
            Err(e) => Err(io_err(&path)(e)),
        }
    }

    /// The cached policies; none when nothing was fetched yet.
    pub fn policies(&self) -> Result<PolicyCache, StateError> {
        read_json_or_default(&self.policies_file())
    }
}

pub(crate) fn parse<T: serde::de::DeserializeOwned>(
    path: &Path,
    bytes: &[u8],
) -> Result<T, StateError> {
    serde_json::from_slice(bytes).map_err(|e| StateError::Corrupt {
        path: path.display().to_string(),
        why: e.to_string(),
    })
}

pub(crate) fn read_json_or_default<T: serde::de::DeserializeOwned + Default>(
    path: &Path,
) -> Result<T, StateError> {
    match std::fs::read(path) {
        Ok(bytes) => parse(path, &bytes),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(T::default()),
        Err(e) => Err(io_err(path)(e)),
    }
}

/// Writes `bytes` to `path` whole or not at all (a temporary file, fsync, rename), with `mode`.
pub fn write_atomic(path: &Path, bytes: &[u8], mode: u32) -> Result<(), StateError> {
    let tmp = path.with_extension("tmp");
    let _ = std::fs::remove_file(&tmp);
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(mode)
        .open(&tmp)
        .map_err(io_err(&tmp))?;
    f.write_all(bytes).map_err(io_err(&tmp))?;
    f.sync_all().map_err(io_err(&tmp))?;
    std::fs::rename(&tmp, path).map_err(io_err(path))?;
    Ok(())
}

pub fn write_json<T: Serialize>(path: &Path, value: &T, mode: u32) -> Result<(), StateError> {
    let bytes = serde_json::to_vec_pretty(value).map_err(|e| StateError::Corrupt {
        path: path.display().to_string(),
        why: e.to_string(),
    })?;
    write_atomic(path, &bytes, mode)
}
