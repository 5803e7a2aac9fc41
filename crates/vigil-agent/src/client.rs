//! Vigil's public agent API, as the agent calls it: HTTPS (rustls, the server's certificate
//! checked against `--ca-file` or the system's roots), every request after enrolment signed
//! with the workstation's key (`vigil_vault::request_message`).

use std::sync::Arc;
use std::time::Duration;

use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use vigil_core::AgentPolicy;
use vigil_vault::{AgentKey, request_message};

/// How long one request may take, connection included.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(15);

#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    /// The server could not be reached or the connection broke: try again later.
    #[error("the server does not answer ({0})")]
    Unreachable(String),
    /// The server answered with an error status and its message.
    #[error("the server refused: {message} (HTTP {status})")]
    Refused { status: u16, message: String },
    #[error("the server's answer is not what the agent expects: {0}")]
    Invalid(String),
    #[error("cannot read the CA file {path}: {why}")]
    CaFile { path: String, why: String },
}

impl ClientError {
    pub fn status(&self) -> Option<u16> {
        match self {
            ClientError::Refused { status, .. } => Some(*status),
            _ => None,
        }
    }
}

/// What the server says of this workstation.
#[derive(Debug, Clone, Deserialize, Serialize)]
pub struct Workstation {
    pub id: String,
    pub host_name: String,
    /// `pending` or `approved`.
    pub status: String,
    pub fingerprint: String,
}

#[derive(Debug, Clone, Deserialize)]
pub struct Policies {
    pub revision: i64,
    pub policies: Vec<AgentPolicy>,
}

/// The server's record of a run and its uploads.
#[derive(Debug, Clone, Deserialize)]
pub struct RunState {
    pub id: String,
    pub session_id: String,
    pub record: bool,
    pub completed_at: Option<i64>,
    pub uploads: Vec<UploadState>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct UploadState {
    pub object: String,
    pub received: i64,
    pub finished_at: Option<i64>,
}

impl RunState {
    pub fn upload(&self, object: &str) -> Option<&UploadState> {
        self.uploads.iter().find(|u| u.object == object)
    }
}

#[derive(Deserialize)]
struct Received {
    received: i64,
}

pub struct Client {
    base: String,
    http: ureq::Agent,
    identity: Option<(String, Arc<AgentKey>)>,
    /// The time of the last signed request: each one is signed at a later millisecond, so
    /// two identical requests never carry the same signature (the server refuses a
    /// signature it has seen as a replay).
    last_at: std::sync::Mutex<i64>,
}

impl Client {
    /// A client of the server at `base` (`https://HOST:PORT`), trusting `ca_pem` when given.
    pub fn new(base: &str, ca_pem: Option<&[u8]>) -> Result<Client, ClientError> {
        let mut tls = ureq::tls::TlsConfig::builder();
        if let Some(pem) = ca_pem {
            let certs: Vec<ureq::tls::Certificate<'static>> = ureq::tls::parse_pem(pem)
                .filter_map(|item| match item {
                    Ok(ureq::tls::PemItem::Certificate(c)) => Some(c),
                    _ => None,
                })
                .collect();
            if certs.is_empty() {
                return Err(ClientError::CaFile {
                    path: "the CA file".into(),
                    why: "it holds no PEM certificate".into(),
                });
            }
            tls = tls.root_certs(ureq::tls::RootCerts::Specific(Arc::new(certs)));
        }
        let config = ureq::Agent::config_builder()
            .tls_config(tls.build())
            .timeout_global(Some(REQUEST_TIMEOUT))
            .http_status_as_error(false)
            .build();
        Ok(Client {
            base: base.trim_end_matches('/').to_owned(),
            http: config.into(),
            identity: None,
            last_at: std::sync::Mutex::new(0),
        })
    }

    /// Reads the CA file, with an error that names it.
    pub fn with_ca_file(
        base: &str,
        ca_file: Option<&std::path::Path>,
    ) -> Result<Client, ClientError> {
        let pem = match ca_file {
            Some(path) => Some(std::fs::read(path).map_err(|e| ClientError::CaFile {
                path: path.display().to_string(),
                why: e.to_string(),
            })?),
            None => None,
        };
        Client::new(base, pem.as_deref()).map_err(|e| match (e, ca_file) {
            (ClientError::CaFile { why, .. }, Some(path)) => ClientError::CaFile {
                path: path.display().to_string(),
                why,
            },
            (e, _) => e,
        })
    }

    /// Signs every request from now on as agent `id`.
    pub fn signed_as(mut self, id: &str, key: AgentKey) -> Client {
        self.identity = Some((id.to_owned(), Arc::new(key)));
        self
    }

    fn call(
        &self,
        method: &str,
        path_and_query: &str,
        body: &[u8],
        content_type: &str,
    ) -> Result<Vec<u8>, ClientError> {
        let url = format!("{}{path_and_query}", self.base);
        let mut req = ureq::http::Request::builder()
            .method(method)
            .uri(&url)
            .header("Content-Type", content_type);
        if let Some((id, key)) = &self.identity {
            let at = {
                let mut last = self
                    .last_at
                    .lock()
                    .unwrap_or_else(std::sync::PoisonError::into_inner);
                *last = now_ms().max(*last + 1);
                *last
            };
            let sig = key.sign(&request_message(method, path_and_query, at, body));
            req = req.header(
                "Authorization",
                format!("Vigil-Agent id={id}, at={at}, sig={sig}"),
            );
        }
        let req = req
            .body(body.to_vec())
            .map_err(|e| ClientError::Invalid(e.to_string()))?;
        let mut resp = self.http.run(req).map_err(|e| match e {
            ureq::Error::StatusCode(status) => ClientError::Refused {
                status,
                message: String::new(),
            },
            other => ClientError::Unreachable(other.to_string()),
        })?;
        let status = resp.status().as_u16();
        let bytes = resp
            .body_mut()
            .with_config()
            .limit(16 << 20)
            .read_to_vec()
            .map_err(|e| ClientError::Unreachable(e.to_string()))?;
        if (200..300).contains(&status) {
            return Ok(bytes);
        }
        let message = serde_json::from_slice::<serde_json::Value>(&bytes)
            .ok()
            .and_then(|v| v.get("error").and_then(|e| e.as_str()).map(str::to_owned))
            .unwrap_or_else(|| String::from_utf8_lossy(&bytes).chars().take(300).collect());
        Err(ClientError::Refused { status, message })
    }

    fn json<T: DeserializeOwned>(
        &self,
        method: &str,
        path: &str,
        body: Option<&impl Serialize>,
    ) -> Result<T, ClientError> {
        let body = match body {
            Some(b) => serde_json::to_vec(b).map_err(|e| ClientError::Invalid(e.to_string()))?,
            None => Vec::new(),
        };
        let bytes = self.call(method, path, &body, "application/json")?;
        serde_json::from_slice(&bytes).map_err(|e| ClientError::Invalid(e.to_string()))
    }

    pub fn enrol(
        &self,
        token: &str,
        host_name: &str,
        machine_id: &str,
        public_key: &str,
    ) -> Result<Workstation, ClientError> {
        self.json(
            "POST",
            "/api/v1/agent/enrol",
            Some(&serde_json::json!({
                "token": token,
                "host_name": host_name,
                "machine_id": machine_id,
                "public_key": public_key,
            })),
        )
    }

    pub fn status(&self) -> Result<Workstation, ClientError> {
        self.json("GET", "/api/v1/agent/status", None::<&()>)
    }

    pub fn policies(&self) -> Result<Policies, ClientError> {
        self.json("GET", "/api/v1/agent/policies", None::<&()>)
    }

    /// Raises an alert in the server's administration log and SIEM (`spool_full`).
    pub fn alert(&self, alert: &str, message: &str) -> Result<(), ClientError> {
        let _: serde_json::Value = self.json(
            "POST",
            "/api/v1/agent/alerts",
            Some(&serde_json::json!({ "alert": alert, "message": message })),
        )?;
        Ok(())
    }

    pub fn report_run(&self, report: &impl Serialize) -> Result<RunState, ClientError> {
        self.json("POST", "/api/v1/agent/runs", Some(report))
    }

    pub fn run(&self, id: &str) -> Result<RunState, ClientError> {
        self.json("GET", &format!("/api/v1/agent/runs/{id}"), None::<&()>)
    }

    /// Sends a part at `offset`; returns how many bytes the server holds now.
    pub fn put_part(
        &self,
        run: &str,
        object: &str,
        offset: u64,
        bytes: &[u8],
    ) -> Result<u64, ClientError> {
        let path = format!("/api/v1/agent/runs/{run}/{object}?offset={offset}");
        let answer = self.call("PUT", &path, bytes, "application/octet-stream")?;
        let r: Received =
            serde_json::from_slice(&answer).map_err(|e| ClientError::Invalid(e.to_string()))?;
        u64::try_from(r.received).map_err(|e| ClientError::Invalid(e.to_string()))
    }

    pub fn finish(
        &self,
        run: &str,
        object: &str,
        size: u64,
        sha256: &str,
    ) -> Result<RunState, ClientError> {
        self.json(
            "POST",
            &format!("/api/v1/agent/runs/{run}/{object}/finish"),
            Some(&serde_json::json!({ "size": size, "sha256": sha256 })),
        )
    }
}

pub(crate) fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
        .unwrap_or(0)
}
