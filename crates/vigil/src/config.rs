//! `vigil.toml` in the data directory, overridden by `VIGIL_*` variables and flags. An unknown
//! key or a bad value stops Vigil with a message naming the key, the file and what is allowed.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use anyhow::{Context, bail};
use serde::Deserialize;

pub(crate) const CONFIG_FILE: &str = "vigil.toml";

/// The file's shape. Every key is optional; defaults live in [`Settings::resolve`].
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct FileConfig {
    /// This node's name in session rows (default: the host name).
    pub(crate) node_name: Option<String>,
    /// Where operators connect (default 127.0.0.1:2222).
    pub(crate) ssh_listen: Option<String>,
    /// Where the web console and API listen (default 127.0.0.1:8443).
    pub(crate) http_listen: Option<String>,
    /// `sqlite://PATH` or `postgres://...` (default: vigil.db in the data directory).
    pub(crate) database_url: Option<String>,
    /// Where recordings are kept (default: recordings/ in the data directory).
    pub(crate) recordings_dir: Option<PathBuf>,
    /// `s3://BUCKET/PREFIX`: recordings in an S3-compatible bucket shared by the cluster's
    /// nodes (credentials from AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY); default: the
    /// recordings directory.
    pub(crate) recording_store: Option<String>,
    /// The S3 endpoint, for a store that is not AWS (`http://127.0.0.1:9000`).
    pub(crate) s3_endpoint: Option<String>,
    /// The bucket's region (default us-east-1).
    pub(crate) s3_region: Option<String>,
    /// Seconds between uploads of a live recording's new bytes (default 2): what a node lost
    /// with its disk may lose.
    pub(crate) s3_upload_interval_secs: Option<u64>,
    /// The vault master key file (default: master.key in the data directory).
    pub(crate) master_key_file: Option<PathBuf>,
    /// Ciphers offered to targets, most preferred first (default: AES-GCM first with AES in
    /// hardware, else chacha20-poly1305 first; see `vigil_ssh::SshSettings`).
    pub(crate) target_ciphers: Option<Vec<String>>,
    /// Serve the console over HTTPS (default true); false only behind a TLS proxy.
    pub(crate) http_tls: Option<bool>,
    /// PEM certificate chain and key for the console (default: self-signed, made at init).
    pub(crate) tls_cert: Option<PathBuf>,
    pub(crate) tls_key: Option<PathBuf>,
    /// Days recordings and session logs are kept after a session ends (default 365; 0 keeps
    /// everything).
    pub(crate) retention_days: Option<u32>,
    /// Seconds between retention purges (default 3600).
    pub(crate) purge_interval_secs: Option<u64>,
    /// What happens to an interactive line no exact source could read while a rule could
    /// stop it: `refuse` (default: it does not run) or `allow` (it runs, logged as inexact).
    pub(crate) unreadable_lines: Option<String>,
    /// Seconds between signs of life asked of each target; three unanswered end its
    /// sessions (default 30).
    pub(crate) target_keepalive_secs: Option<u64>,
    /// Seconds an SSH client has to sign in before it is disconnected (default 60).
    pub(crate) login_grace_secs: Option<u64>,
    /// SSH connections not yet signed in allowed at once from one client address (default
    /// 64: an automation host opens tens at once); more are refused at once.
    pub(crate) max_unauthenticated_per_address: Option<usize>,
    /// Where the other nodes of a cluster reach this node's console and link, as
    /// `https://HOST:PORT` (default: from http_listen; set it when that is 0.0.0.0 or behind
    /// an address translation).
    pub(crate) node_url: Option<String>,
    /// Seconds without a heartbeat after which a node is marked down and its sessions closed
    /// as interrupted (default 30).
    pub(crate) node_timeout_secs: Option<u64>,
    /// SIEM destinations: `[[siem]]` tables.
    pub(crate) siem: Option<Vec<SiemTable>>,
}

/// One `[[siem]]` table.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct SiemTable {
    /// `udp://HOST:PORT`, `tcp://HOST:PORT` or `tls://HOST:PORT`.
    pub(crate) url: String,
    /// `rfc5424` (default) or `cef`.
    pub(crate) format: Option<String>,
    /// 0-10, or low (0), medium (4), high (7), very-high (9).
    pub(crate) min_severity: Option<Severity>,
    /// Evidence kinds to send (default: all).
    pub(crate) kinds: Option<Vec<String>>,
    pub(crate) ca_file: Option<PathBuf>,
    pub(crate) cert_file: Option<PathBuf>,
    pub(crate) key_file: Option<PathBuf>,
    pub(crate) server_name: Option<String>,
    pub(crate) queue_size: Option<usize>,
    pub(crate) max_message_bytes: Option<usize>,
    pub(crate) facility: Option<String>,
    pub(crate) enterprise_number: Option<u32>,
}

const SIEM_KEYS: &str = "url, format, min_severity, kinds, ca_file, cert_file, key_file, server_name, queue_size, max_message_bytes, facility, enterprise_number";

/// A severity as a CEF number or the name of a CEF band.
#[derive(Debug, Deserialize)]
#[serde(untagged)]
pub(crate) enum Severity {
    Number(i64),
    Name(String),
}

impl Severity {
    fn value(&self) -> Option<u8> {
        match self {
            Severity::Number(n) => u8::try_from(*n).ok().filter(|n| *n <= 10),
            Severity::Name(name) => match name.as_str() {
                "low" => Some(0),
                "medium" => Some(4),
                "high" => Some(7),
                "very-high" => Some(9),
                _ => None,
            },
        }
    }
}

/// Recordings in an S3-compatible bucket.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Bucket {
    pub(crate) name: String,
    pub(crate) prefix: String,
    pub(crate) endpoint: Option<String>,
    pub(crate) region: String,
    pub(crate) upload_every: std::time::Duration,
}

/// `s3://BUCKET[/PREFIX]`, with the other s3_ keys.
fn bucket(file: &FileConfig, origin: &str) -> anyhow::Result<Option<Bucket>> {
    let Some(spec) = &file.recording_store else {
        if file.s3_endpoint.is_some()
            || file.s3_region.is_some()
            || file.s3_upload_interval_secs.is_some()
        {
            bail!(
                "s3_endpoint, s3_region and s3_upload_interval_secs in {origin} need recording_store = \"s3://BUCKET/PREFIX\""
            );
        }
        return Ok(None);
    };
    let rest = spec.strip_prefix("s3://").ok_or_else(|| {
        anyhow::anyhow!(
            "recording_store in {origin}: {spec:?} is not s3://BUCKET/PREFIX (leave it out to keep recordings in recordings_dir)"
        )
    })?;
    let (name, prefix) = rest.split_once('/').unwrap_or((rest, ""));
    let valid_name = (3..=63).contains(&name.len())
        && name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' || c == '.');
    if !valid_name {
        bail!(
            "recording_store in {origin}: {name:?} is not a bucket name (3 to 63 lower-case letters, digits, dots and hyphens)"
        );
    }
    if let Some(endpoint) = &file.s3_endpoint
        && !(endpoint.starts_with("http://") || endpoint.starts_with("https://"))
    {
        bail!("s3_endpoint in {origin}: {endpoint:?} is not an http:// or https:// URL");
    }
    let every = seconds(
        "s3_upload_interval_secs",
        file.s3_upload_interval_secs,
        vigil_record::s3::DEFAULT_UPLOAD_EVERY.as_secs(),
        (1, DAY),
        "",
        origin,
    )?;
    Ok(Some(Bucket {
        name: name.to_owned(),
        prefix: prefix.trim_matches('/').to_owned(),
        endpoint: file.s3_endpoint.clone(),
        region: file.s3_region.clone().unwrap_or_else(|| "us-east-1".into()),
        upload_every: every,
    }))
}

const DAY: u64 = 86_400;

/// A number of seconds from the file (`default` when absent), within `min..=max`. The upper
/// bounds keep every deadline the node computes from a setting inside what a clock can hold
/// (`Instant + Duration` panics past it); `why_min` says what a smaller value would break.
fn seconds(
    key: &str,
    value: Option<u64>,
    default: u64,
    (min, max): (u64, u64),
    why_min: &str,
    origin: &str,
) -> anyhow::Result<std::time::Duration> {
    let v = value.unwrap_or(default);
    if v < min {
        bail!("{key} in {origin}: must be at least {min}{why_min}");
    }
    if v > max {
        bail!(
            "{key} in {origin}: {v} is more than {max} ({} days)",
            max / DAY
        );
    }
    Ok(std::time::Duration::from_secs(v))
}

/// Values given on the command line or in the environment; they win over the file.
#[derive(Debug, Default, Clone)]
pub(crate) struct Overrides {
    pub(crate) ssh_listen: Option<String>,
    pub(crate) http_listen: Option<String>,
    pub(crate) database_url: Option<String>,
}

/// Everything Vigil needs to know about where things are.
#[derive(Debug, Clone)]
pub(crate) struct Settings {
    pub(crate) data_dir: PathBuf,
    pub(crate) node_name: String,
    pub(crate) ssh_listen: SocketAddr,
    pub(crate) http_listen: SocketAddr,
    pub(crate) database_url: String,
    pub(crate) recordings_dir: PathBuf,
    /// A bucket instead of the recordings directory.
    pub(crate) bucket: Option<Bucket>,
    pub(crate) master_key_file: PathBuf,
    pub(crate) target_ciphers: Vec<String>,
    pub(crate) http_tls: bool,
    /// `None`: the self-signed pair under `DATA/tls/`.
    pub(crate) tls_files: Option<vigil_api::TlsFiles>,
    pub(crate) retention_days: u32,
    pub(crate) purge_interval: std::time::Duration,
    pub(crate) unreadable_lines: vigil_session::Unreadable,
    pub(crate) login_grace: std::time::Duration,
    pub(crate) target_keepalive: std::time::Duration,
    pub(crate) max_unauthenticated_per_address: usize,
    /// Where peers reach this node (None: from the console's own address).
    pub(crate) node_url: Option<String>,
    pub(crate) node_timeout: std::time::Duration,
    pub(crate) siem: Vec<vigil_forward::Destination>,
}

pub(crate) fn read_file_config(data_dir: &Path) -> anyhow::Result<FileConfig> {
    let path = data_dir.join(CONFIG_FILE);
    match std::fs::read_to_string(&path) {
        Ok(text) => parse(&text, &path),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(FileConfig::default()),
        Err(e) => Err(e).with_context(|| format!("cannot read {}", path.display())),
    }
}

pub(crate) fn parse(text: &str, path: &Path) -> anyhow::Result<FileConfig> {
    toml::from_str(text).map_err(|e| {
        anyhow::anyhow!(
            "{}: {}\nallowed keys: node_name, ssh_listen, http_listen, database_url, recordings_dir, recording_store, s3_endpoint, s3_region, s3_upload_interval_secs, master_key_file, target_ciphers, http_tls, tls_cert, tls_key, retention_days, purge_interval_secs, unreadable_lines, login_grace_secs, max_unauthenticated_per_address, target_keepalive_secs, node_url, node_timeout_secs, [[siem]]",
            path.display(),
            e.to_string().trim_end()
        )
    })
}

fn listen_addr(key: &str, value: &str, origin: &str) -> anyhow::Result<SocketAddr> {
    value.parse().map_err(|_| anyhow::anyhow!("{key} in {origin}: {value:?} is not ADDRESS:PORT (for example 127.0.0.1:2222 or [::1]:2222)"))
}

/// A peer's way in: `http(s)://HOST:PORT` without a path.
fn node_url(url: &str, origin: &str) -> anyhow::Result<String> {
    let rest = url
        .strip_prefix("https://")
        .or_else(|| url.strip_prefix("http://"));
    let ok = rest.is_some_and(|r| {
        let r = r.strip_suffix('/').unwrap_or(r);
        !r.is_empty() && !r.contains('/') && !r.contains(char::is_whitespace)
    });
    if !ok {
        bail!(
            "node_url in {origin}: {url:?} is not https://HOST:PORT (where the other nodes reach this node's console)"
        );
    }
    Ok(url.trim_end_matches('/').to_owned())
}

fn host_name() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .ok()
        .map(|h| h.trim().to_owned())
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| "vigil".into())
}

impl Settings {
    pub(crate) fn resolve(
        data_dir: &Path,
        file: FileConfig,
        over: &Overrides,
    ) -> anyhow::Result<Settings> {
        let file_origin = data_dir.join(CONFIG_FILE).display().to_string();
        let pick = |flag: &Option<String>,
                    from_file: &Option<String>,
                    default: &str|
         -> (String, String) {
            match (flag, from_file) {
                (Some(v), _) => (v.clone(), "the command line or environment".to_owned()),
                (None, Some(v)) => (v.clone(), file_origin.clone()),
                (None, None) => (default.to_owned(), "the defaults".to_owned()),
            }
        };
        let (ssh, ssh_origin) = pick(&over.ssh_listen, &file.ssh_listen, "127.0.0.1:2222");
        let (http, http_origin) = pick(&over.http_listen, &file.http_listen, "127.0.0.1:8443");
        let default_db = format!("sqlite://{}?mode=rwc", data_dir.join("vigil.db").display());
        let (database_url, db_origin) = pick(&over.database_url, &file.database_url, &default_db);
        if !(database_url.starts_with("sqlite:")
            || database_url.starts_with("postgres://")
            || database_url.starts_with("postgresql://"))
        {
            bail!(
                "database_url in {db_origin}: only sqlite://PATH and postgres://USER@HOST/DB are supported"
            );
        }
        let bucket = bucket(&file, &file_origin)?;
        let node_name = file.node_name.unwrap_or_else(host_name);
        if node_name.is_empty()
            || node_name.len() > 64
            || node_name.chars().any(char::is_whitespace)
        {
            bail!(
                "node_name in {file_origin}: {node_name:?} must be 1 to 64 characters without spaces"
            );
        }
        let within = |p: Option<PathBuf>, default: &str| {
            in_data_dir(data_dir, &p.unwrap_or_else(|| PathBuf::from(default)))
        };
        let tls_files = match (file.tls_cert, file.tls_key) {
            (Some(c), Some(k)) => Some(vigil_api::TlsFiles {
                cert: in_data_dir(data_dir, &c),
                key: in_data_dir(data_dir, &k),
            }),
            (None, None) => None,
            _ => bail!(
                "tls_cert and tls_key in {file_origin}: give both, or neither for a self-signed certificate"
            ),
        };
        let purge_interval = seconds(
            "purge_interval_secs",
            file.purge_interval_secs,
            3600,
            (1, 366 * DAY),
            "",
            &file_origin,
        )?;
        let unreadable_lines = match file.unreadable_lines.as_deref() {
            None => vigil_session::Unreadable::default(),
            Some(v) => vigil_session::Unreadable::parse(v).ok_or_else(|| {
                anyhow::anyhow!(
                    "unreadable_lines in {file_origin}: {v:?} is not refuse or allow (refuse: a line the gateway cannot read exactly does not run while a rule could stop it)"
                )
            })?,
        };
        let login_grace = seconds(
            "login_grace_secs",
            file.login_grace_secs,
            60,
            (1, DAY),
            " (an SSH client needs time to sign in)",
            &file_origin,
        )?;
        let target_keepalive = seconds(
            "target_keepalive_secs",
            file.target_keepalive_secs,
            30,
            (1, DAY),
            "",
            &file_origin,
        )?;
        let max_unauthenticated_per_address = file.max_unauthenticated_per_address.unwrap_or(64);
        if max_unauthenticated_per_address == 0 {
            bail!(
                "max_unauthenticated_per_address in {file_origin}: must be at least 1 (0 would refuse every SSH client)"
            );
        }
        let node_timeout = seconds(
            "node_timeout_secs",
            file.node_timeout_secs,
            30,
            (3, DAY),
            " (a node heartbeats every sixth of it)",
            &file_origin,
        )?;
        let node_url = match file.node_url {
            None => None,
            Some(url) => Some(node_url(&url, &file_origin)?),
        };
        let mut siem = Vec::new();
        for (i, table) in file.siem.iter().flatten().enumerate() {
            siem.push(siem_destination(i, table, data_dir, &file_origin)?);
        }
        Ok(Settings {
            siem,
            unreadable_lines,
            login_grace,
            target_keepalive,
            max_unauthenticated_per_address,
            node_url,
            node_timeout,
            bucket,
            http_tls: file.http_tls.unwrap_or(true),
            tls_files,
            retention_days: file.retention_days.unwrap_or(365),
            purge_interval,
            data_dir: data_dir.to_owned(),
            node_name,
            ssh_listen: listen_addr("ssh_listen", &ssh, &ssh_origin)?,
            http_listen: listen_addr("http_listen", &http, &http_origin)?,
            database_url,
            recordings_dir: within(file.recordings_dir, "recordings"),
            master_key_file: within(file.master_key_file, "master.key"),
            target_ciphers: file.target_ciphers.unwrap_or_default(),
        })
    }
}

/// A path from vigil.toml: absolute as given, relative to the data directory otherwise.
fn in_data_dir(data_dir: &Path, p: &Path) -> PathBuf {
    if p.is_absolute() {
        p.to_owned()
    } else {
        data_dir.join(p)
    }
}

/// The `i`th `[[siem]]` table, checked.
fn siem_destination(
    i: usize,
    table: &SiemTable,
    data_dir: &Path,
    origin: &str,
) -> anyhow::Result<vigil_forward::Destination> {
    let at = format!(
        "[[siem]] number {} (url {:?}) in {origin}",
        i + 1,
        table.url
    );
    let min_severity = match &table.min_severity {
        None => None,
        Some(s) => Some(s.value().ok_or_else(|| {
            anyhow::anyhow!(
                "min_severity of {at}: {s:?} is not 0 to 10 or low, medium, high, very-high"
            )
        })?),
    };
    let file = |p: &Option<PathBuf>| p.as_deref().map(|p| in_data_dir(data_dir, p));
    let spec = vigil_forward::DestinationSpec {
        url: table.url.clone(),
        format: table.format.clone(),
        min_severity,
        kinds: table.kinds.clone(),
        ca_file: file(&table.ca_file),
        cert_file: file(&table.cert_file),
        key_file: file(&table.key_file),
        server_name: table.server_name.clone(),
        queue_size: table.queue_size,
        max_message_bytes: table.max_message_bytes,
        facility: table.facility.clone(),
        enterprise_number: table.enterprise_number,
    };
    vigil_forward::Destination::from_spec(&spec, |k| vigil_core::EventKind::parse(k).is_some())
        .map_err(|e| {
            anyhow::anyhow!(
                "{} of {at}: {}\nkeys of a [[siem]] table: {SIEM_KEYS}",
                e.key,
                e.why
            )
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    const KEYS: &[&str] = &[
        "node_name",
        "ssh_listen",
        "http_listen",
        "database_url",
        "recordings_dir",
        "recording_store",
        "s3_endpoint",
        "s3_region",
        "s3_upload_interval_secs",
        "master_key_file",
        "target_ciphers",
        "http_tls",
        "tls_cert",
        "tls_key",
        "retention_days",
        "purge_interval_secs",
        "unreadable_lines",
        "login_grace_secs",
        "max_unauthenticated_per_address",
        "target_keepalive_secs",
        "node_url",
        "node_timeout_secs",
        "nonsense_key",
    ];

    /// `text` as /data/vigil.toml, read and resolved.
    fn resolve(text: &str) -> anyhow::Result<Settings> {
        let file = parse(text, Path::new("/data/vigil.toml"))?;
        Settings::resolve(Path::new("/data"), file, &Overrides::default())
    }

    fn value() -> impl proptest::strategy::Strategy<Value = String> {
        use proptest::prelude::*;
        prop_oneof![
            any::<i64>().prop_map(|n| n.to_string()),
            Just("0".to_owned()),
            any::<bool>().prop_map(|b| b.to_string()),
            "\\PC{0,24}".prop_map(|s| format!("{s:?}")),
            "[a-z0-9.:/\\[\\]-]{0,24}".prop_map(|s| format!("\"{s}\"")),
            proptest::collection::vec("[a-z0-9@.-]{0,12}", 0..3).prop_map(|v| format!("{v:?}")),
            "\\PC{0,16}",
        ]
    }

    proptest::proptest! {
        /// Any vigil.toml, made of known keys with any values or of anything at all: reading
        /// and resolving it never panics, and a refusal names the file.
        #[test]
        fn any_config_file_is_read_or_refused_with_its_name(
            lines in proptest::collection::vec((0..KEYS.len(), value()), 0..6),
            noise in "\\PC{0,40}",
            use_noise in proptest::bool::ANY,
        ) {
            let text = if use_noise {
                noise
            } else {
                lines
                    .iter()
                    .map(|(k, v)| format!("{} = {v}\n", KEYS[*k]))
                    .collect::<String>()
            };
            let path = Path::new("/data/vigil.toml");
            match parse(&text, path) {
                Err(e) => proptest::prop_assert!(e.to_string().contains("/data/vigil.toml"), "{e}"),
                Ok(file) => {
                    if let Err(e) = Settings::resolve(Path::new("/data"), file, &Overrides::default()) {
                        proptest::prop_assert!(e.to_string().contains("vigil.toml"), "{text:?}: {e}");
                    }
                }
            }
        }
    }

    #[test]
    fn unknown_keys_and_bad_values_name_the_problem() {
        let path = Path::new("/data/vigil.toml");
        let err = parse("ssh_lisen = \"x\"\n", path).unwrap_err().to_string();
        assert!(
            err.contains("/data/vigil.toml")
                && err.contains("ssh_lisen")
                && err.contains("allowed keys"),
            "{err}"
        );
        let err = parse("ssh_listen = 22\n", path).unwrap_err().to_string();
        assert!(err.contains("ssh_listen"), "{err}");

        let file = parse("ssh_listen = \"nonsense\"\n", path).unwrap();
        let err = Settings::resolve(Path::new("/data"), file, &Overrides::default())
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("ssh_listen in /data/vigil.toml") && err.contains("ADDRESS:PORT"),
            "{err}"
        );

        let file = parse("unreadable_lines = \"maybe\"\n", path).unwrap();
        let err = Settings::resolve(Path::new("/data"), file, &Overrides::default())
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("unreadable_lines in /data/vigil.toml") && err.contains("refuse or allow"),
            "{err}"
        );
        let file = parse("unreadable_lines = \"allow\"\n", path).unwrap();
        let s = Settings::resolve(Path::new("/data"), file, &Overrides::default()).unwrap();
        assert_eq!(s.unreadable_lines, vigil_session::Unreadable::Allow);
    }

    #[test]
    fn siem_tables_are_checked_whole() {
        let s = resolve(
            "[[siem]]\nurl = \"udp://127.0.0.1:514\"\n[[siem]]\nurl = \"tcp://[::1]:6514\"\nformat = \"cef\"\nmin_severity = \"high\"\nkinds = [\"command_detected\"]\n",
        )
        .unwrap();
        assert_eq!(s.siem.len(), 2);
        assert_eq!(
            (s.siem[1].min_severity, s.siem[1].format),
            (7, vigil_siem::Format::Cef)
        );
        let table: &[(&str, &[&str])] = &[
            (
                "[[siem]]\nurl = \"udp://h:1\"\nfromat = \"cef\"\n",
                &["fromat", "/data/vigil.toml"],
            ),
            ("[[siem]]\nformat = \"cef\"\n", &["url"]),
            (
                "[[siem]]\nurl = \"udp://h:1\"\n[[siem]]\nurl = \"syslog://h:1\"\n",
                &[
                    "url of [[siem]] number 2",
                    "/data/vigil.toml",
                    "udp://, tcp:// or tls://",
                    "keys of a [[siem]] table",
                ],
            ),
            (
                "[[siem]]\nurl = \"udp://h:1\"\nmin_severity = \"loud\"\n",
                &["min_severity of [[siem]] number 1", "very-high"],
            ),
            (
                "[[siem]]\nurl = \"udp://h:1\"\nmin_severity = 12\n",
                &["min_severity", "0 to 10"],
            ),
            (
                "[[siem]]\nurl = \"tls://h:1\"\nca_file = \"ca.pem\"\n",
                &["ca_file of [[siem]] number 1", "/data/ca.pem"],
            ),
        ];
        for (text, wanted) in table {
            let err = format!("{:#}", resolve(text).unwrap_err());
            for w in *wanted {
                assert!(err.contains(w), "{text:?}: {err:?} lacks {w:?}");
            }
        }
    }

    /// Every interval setting is bounded on both sides with a message that names the key:
    /// `login_grace_secs = 9223372036854775807` was taken, and every SSH connection then
    /// panicked computing its sign-in deadline.
    #[test]
    fn intervals_are_bounded_with_a_message_naming_the_key() {
        let s3 = "recording_store = \"s3://vigil-recordings/p\"\n";
        let table: &[(&str, &str, &str)] = &[
            ("login_grace_secs", "", "(an SSH client needs time"),
            ("target_keepalive_secs", "", "at least 1"),
            ("node_timeout_secs", "", "heartbeats every sixth"),
            ("purge_interval_secs", "", "at least 1"),
            ("s3_upload_interval_secs", s3, "at least 1"),
        ];
        for (key, prefix, too_small) in table {
            for (value, wanted) in [
                ("0", *too_small),
                ("9223372036854775807", "is more than"),
                ("999999999", "days)"),
            ] {
                let text = format!("{prefix}{key} = {value}\n");
                let err = format!("{:#}", resolve(&text).unwrap_err());
                assert!(
                    err.contains(key) && err.contains(wanted) && err.contains("vigil.toml"),
                    "{text:?}: {err}"
                );
            }
            let text = format!("{prefix}{key} = 86400\n");
            assert!(resolve(&text).is_ok(), "{text:?}");
        }
    }

    #[test]
    fn flags_win_over_the_file() {
        let file = parse(
            "ssh_listen = \"127.0.0.1:1\"\nnode_name = \"n1\"\n",
            Path::new("f"),
        )
        .unwrap();
        let over = Overrides {
            ssh_listen: Some("127.0.0.1:2".into()),
            ..Default::default()
        };
        let s = Settings::resolve(Path::new("/d"), file, &over).unwrap();
        assert_eq!(s.ssh_listen.port(), 2);
        assert_eq!(s.node_name, "n1");
        assert_eq!(s.recordings_dir, Path::new("/d/recordings"));
        assert!(s.database_url.starts_with("sqlite:///d/vigil.db"));
    }
}
