//! A SIEM destination as configured: where (`udp://`, `tcp://` or `tls://` HOST:PORT), in which
//! format, and which events. Checked whole when Vigil starts (TLS files read, the client
//! configuration built), so a bad line stops the start instead of failing at the first event.

use std::collections::BTreeSet;
use std::path::PathBuf;
use std::sync::Arc;

use tokio_rustls::rustls;
use vigil_siem::rfc5424::Origin;
use vigil_siem::{Event, Format};

use crate::error::DestinationError;
use crate::tls;

/// How messages travel.
#[derive(Clone)]
pub enum Transport {
    /// One datagram per message (RFC 5426).
    Udp,
    /// Octet-counted messages on a TCP stream (RFC 6587).
    Tcp,
    /// Octet-counted messages in TLS (RFC 5425).
    Tls {
        config: Arc<rustls::ClientConfig>,
        server_name: rustls::pki_types::ServerName<'static>,
    },
}

impl std::fmt::Debug for Transport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Transport::Udp => f.write_str("Udp"),
            Transport::Tcp => f.write_str("Tcp"),
            Transport::Tls { server_name, .. } => write!(f, "Tls({server_name:?})"),
        }
    }
}

/// What a `[[siem]]` table says, before it is checked.
#[derive(Debug, Clone, Default)]
pub struct DestinationSpec {
    pub url: String,
    /// `rfc5424` (default) or `cef`.
    pub format: Option<String>,
    /// Events below this CEF severity (0-10) are not sent.
    pub min_severity: Option<u8>,
    /// Only these kinds of evidence are sent (default: every kind).
    pub kinds: Option<Vec<String>>,
    pub ca_file: Option<PathBuf>,
    pub cert_file: Option<PathBuf>,
    pub key_file: Option<PathBuf>,
    pub server_name: Option<String>,
    /// Events kept while the destination is slow or down (default 10,000).
    pub queue_size: Option<usize>,
    /// The largest message (default 2,048 bytes over UDP, 8,192 over TCP and TLS: rsyslog's
    /// default limit).
    pub max_message_bytes: Option<usize>,
    /// The syslog facility, a name (`authpriv`, default) or 0-23.
    pub facility: Option<String>,
    /// The IANA private enterprise number of the structured-data id (`vigil@PEN`).
    pub enterprise_number: Option<u32>,
}

/// Syslog facility names (RFC 5424 table 1) and their numbers.
const FACILITIES: &[(&str, u8)] = &[
    ("kern", 0),
    ("user", 1),
    ("mail", 2),
    ("daemon", 3),
    ("auth", 4),
    ("syslog", 5),
    ("lpr", 6),
    ("news", 7),
    ("uucp", 8),
    ("cron", 9),
    ("authpriv", 10),
    ("ftp", 11),
    ("local0", 16),
    ("local1", 17),
    ("local2", 18),
    ("local3", 19),
    ("local4", 20),
    ("local5", 21),
    ("local6", 22),
    ("local7", 23),
];

fn facility(name: &str) -> Option<u8> {
    FACILITIES
        .iter()
        .find(|(n, _)| *n == name)
        .map(|(_, f)| *f)
        .or_else(|| name.parse().ok().filter(|f| *f <= 23))
}

/// A checked destination.
#[derive(Debug, Clone)]
pub struct Destination {
    /// The URL as configured: the destination's name in reports.
    pub url: String,
    pub host: String,
    pub port: u16,
    pub transport: Transport,
    pub format: Format,
    pub min_severity: u8,
    pub kinds: Option<BTreeSet<String>>,
    pub queue_size: usize,
    pub max_message_bytes: usize,
    /// The facility and enterprise number messages carry.
    pub origin: Origin,
}

fn bad(key: &'static str, why: impl Into<String>) -> DestinationError {
    DestinationError {
        key,
        why: why.into(),
    }
}

impl Destination {
    /// Checks a table; `known_kind` says whether an evidence kind exists.
    pub fn from_spec(
        spec: &DestinationSpec,
        known_kind: impl Fn(&str) -> bool,
    ) -> Result<Destination, DestinationError> {
        let (scheme, rest) = spec.url.split_once("://").ok_or_else(|| {
            bad(
                "url",
                format!(
                    "{:?} is not udp://HOST:PORT, tcp://HOST:PORT or tls://HOST:PORT",
                    spec.url
                ),
            )
        })?;
        let (host, port) = split_host_port(rest).ok_or_else(|| {
            bad(
                "url",
                format!(
                    "{:?} needs HOST:PORT after {scheme}:// (an IPv6 address in brackets: [::1]:6514)",
                    spec.url
                ),
            )
        })?;
        let tls_keys = spec.ca_file.is_some()
            || spec.cert_file.is_some()
            || spec.key_file.is_some()
            || spec.server_name.is_some();
        let transport = match scheme {
            "udp" | "tcp" if tls_keys => {
                return Err(bad(
                    "ca_file",
                    format!(
                        "ca_file, cert_file, key_file and server_name are for tls:// destinations, not {scheme}://"
                    ),
                ));
            }
            "udp" => Transport::Udp,
            "tcp" => Transport::Tcp,
            "tls" => {
                let name = spec.server_name.clone().unwrap_or_else(|| host.clone());
                let server_name =
                    rustls::pki_types::ServerName::try_from(name.clone()).map_err(|_| {
                        bad(
                            "server_name",
                            format!("{name:?} is not a host name or an IP address"),
                        )
                    })?;
                let config = tls::client_config(
                    spec.ca_file.as_deref(),
                    spec.cert_file.as_deref(),
                    spec.key_file.as_deref(),
                )?;
                Transport::Tls {
                    config,
                    server_name,
                }
            }
            other => {
                return Err(bad(
                    "url",
                    format!("{other}:// is not a SIEM transport: use udp://, tcp:// or tls://"),
                ));
            }
        };
        let format = match spec.format.as_deref() {
            None => Format::Rfc5424,
            Some(f) => Format::parse(f)
                .ok_or_else(|| bad("format", format!("{f:?} is not rfc5424 or cef")))?,
        };
        let min_severity = spec.min_severity.unwrap_or(0);
        if min_severity > 10 {
            return Err(bad(
                "min_severity",
                format!("{min_severity} is not a CEF severity from 0 to 10"),
            ));
        }
        let kinds = match &spec.kinds {
            None => None,
            Some(list) => {
                if let Some(unknown) = list.iter().find(|k| !known_kind(k)) {
                    return Err(bad(
                        "kinds",
                        format!("{unknown:?} is not a kind of event (docs/SIEM.md lists them)"),
                    ));
                }
                Some(list.iter().cloned().collect())
            }
        };
        let queue_size = spec.queue_size.unwrap_or(10_000);
        if !(1..=1_000_000).contains(&queue_size) {
            return Err(bad("queue_size", "must be from 1 to 1000000"));
        }
        let default_max = if matches!(transport, Transport::Udp) {
            2048
        } else {
            8192
        };
        let max_message_bytes = spec.max_message_bytes.unwrap_or(default_max);
        if !(480..=1_048_576).contains(&max_message_bytes) {
            return Err(bad(
                "max_message_bytes",
                "must be from 480 (the least RFC 5424 receivers accept) to 1048576",
            ));
        }
        let mut origin = Origin::default();
        if let Some(name) = &spec.facility {
            origin.facility = facility(name).ok_or_else(|| {
                bad(
                    "facility",
                    format!("{name:?} is not a syslog facility (authpriv, auth, local0 to local7, ... or 0 to 23)"),
                )
            })?;
        }
        if let Some(pen) = spec.enterprise_number {
            if pen == 0 {
                return Err(bad(
                    "enterprise_number",
                    "must be an IANA private enterprise number (1 or more)",
                ));
            }
            origin.enterprise = pen;
        }
        Ok(Destination {
            origin,
            url: spec.url.clone(),
            host,
            port,
            transport,
            format,
            min_severity,
            kinds,
            queue_size,
            max_message_bytes,
        })
    }

    /// Whether this destination wants `event`.
    pub fn wants(&self, event: &Event) -> bool {
        event.severity >= self.min_severity
            && self.kinds.as_ref().is_none_or(|k| k.contains(&event.kind))
    }

    /// The bytes of one message of `event` for this destination: its format, facility and
    /// size limit.
    pub(crate) fn message(&self, event: &Event) -> Vec<u8> {
        vigil_siem::line_within(
            event,
            self.format,
            &self.origin,
            env!("CARGO_PKG_VERSION"),
            self.max_message_bytes,
        )
        .into_bytes()
    }

    /// `host:port` as a socket address string.
    pub fn authority(&self) -> String {
        if self.host.contains(':') {
            format!("[{}]:{}", self.host, self.port)
        } else {
            format!("{}:{}", self.host, self.port)
        }
    }
}

/// `host:port` or `[v6]:port`.
fn split_host_port(s: &str) -> Option<(String, u16)> {
    let (host, port) = if let Some(rest) = s.strip_prefix('[') {
        let (host, after) = rest.split_once(']')?;
        (host, after.strip_prefix(':')?)
    } else {
        let (host, port) = s.rsplit_once(':')?;
        if host.contains(':') {
            return None;
        }
        (host, port)
    };
    let port: u16 = port.parse().ok().filter(|p| *p > 0)?;
    if host.is_empty() || host.contains(['/', ' ', '@']) {
        return None;
    }
    Some((host.to_owned(), port))
}

#[cfg(test)]
mod tests;
