//! An ICAP client (RFC 3507): each file is sent to the antivirus or DLP service a company
//! already runs, wrapped as an HTTP message: an upload as the body of a `PUT` (`REQMOD`), a
//! download as the body of a `200` response (`RESPMOD`).
//!
//! The service's answer decides: `204 No Content` allows; a `200` that names a threat
//! (`X-Infection-Found`, `X-Virus-ID`, `X-Violations-Found`, `X-Blocked`) or whose wrapped
//! HTTP status is not the one sent refuses, naming the threat; anything else (an ICAP error,
//! a closed connection, a timeout) refuses the file because it could not be checked (fail
//! closed).
//!
//! What it is not: a preview or `OPTIONS` client. The whole file is sent at once in chunked
//! encoding and `Allow: 204` is asked for, which every scanning service supports; a service
//! that answers `200` with the unchanged message is read as allowing it.

use std::time::Duration;

use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpStream;
use vigil_core::Direction;

use crate::plugin::{BoxFuture, Plugin, PluginError, Verdict};
use crate::spool::Spooled;

/// Headers an answer may have, at most (a hostile service cannot make the gateway read
/// forever).
const MAX_HEAD: usize = 64 * 1024;

/// An ICAP service, `icap://host[:port]/service`.
#[derive(Debug, Clone)]
pub struct Icap {
    host: String,
    port: u16,
    url: String,
    timeout: Duration,
}

impl Icap {
    /// Checks the URL's form; the error says what a good one looks like.
    pub fn new(url: &str, timeout: Duration) -> Result<Icap, String> {
        let bad = || format!("{url:?} is not an ICAP URL: give icap://HOST[:PORT]/SERVICE");
        let rest = url.strip_prefix("icap://").ok_or_else(bad)?;
        let (authority, service) = rest.split_once('/').ok_or_else(bad)?;
        if service.is_empty() || authority.is_empty() || url.contains(char::is_whitespace) {
            return Err(bad());
        }
        let (host, port) = match authority.rsplit_once(':') {
            Some((h, p)) if !h.ends_with(']') || h.starts_with('[') => {
                (h, p.parse::<u16>().map_err(|_| bad())?)
            }
            _ => (authority, 1344),
        };
        let host = host.trim_start_matches('[').trim_end_matches(']');
        Ok(Icap {
            host: host.to_owned(),
            port,
            url: url.to_owned(),
            timeout,
        })
    }

    /// The request line and ICAP headers, and the wrapped HTTP head.
    fn request(&self, file: &Spooled) -> (String, String) {
        let name = file
            .info
            .path
            .replace(|c: char| c.is_control() || c == ' ', "_");
        let (method, http, area) = match file.info.direction {
            Direction::Upload => (
                "REQMOD",
                format!(
                    "PUT {name} HTTP/1.1\r\nHost: vigil-gateway\r\nContent-Type: application/octet-stream\r\nContent-Length: {}\r\n\r\n",
                    file.info.size
                ),
                "req",
            ),
            Direction::Download => (
                "RESPMOD",
                format!(
                    "HTTP/1.1 200 OK\r\nContent-Type: application/octet-stream\r\nContent-Length: {}\r\n\r\n",
                    file.info.size
                ),
                "res",
            ),
        };
        // RESPMOD carries the request it answers, for the service's logs.
        let (encapsulated, head) = match file.info.direction {
            Direction::Upload => (format!("req-hdr=0, req-body={}", http.len()), http),
            Direction::Download => {
                let req = format!("GET {name} HTTP/1.1\r\nHost: vigil-gateway\r\n\r\n");
                (
                    format!(
                        "req-hdr=0, res-hdr={}, {area}-body={}",
                        req.len(),
                        req.len() + http.len()
                    ),
                    format!("{req}{http}"),
                )
            }
        };
        let icap = format!(
            "{method} {} ICAP/1.0\r\nHost: {}\r\nAllow: 204\r\nUser-Agent: vigil\r\nEncapsulated: {encapsulated}\r\n\r\n",
            self.url, self.host
        );
        (icap, head)
    }

    async fn ask(&self, file: &Spooled) -> Result<Verdict, PluginError> {
        let failed = |what: &str, e: std::io::Error| {
            PluginError::Failed(format!("ICAP service {}: {what}: {e}", self.url))
        };
        let stream = TcpStream::connect((self.host.as_str(), self.port))
            .await
            .map_err(|e| failed("cannot connect", e))?;
        let (read, mut write) = stream.into_split();
        let (icap, head) = self.request(file);
        let mut out = Vec::with_capacity(icap.len() + head.len());
        out.extend_from_slice(icap.as_bytes());
        out.extend_from_slice(head.as_bytes());
        write
            .write_all(&out)
            .await
            .map_err(|e| failed("cannot send", e))?;
        let mut blocks = file.blocks();
        while let Some(block) = blocks.next().await? {
            let n = block.len();
            write
                .write_all(format!("{n:x}\r\n").as_bytes())
                .await
                .map_err(|e| failed("cannot send", e))?;
            write
                .write_all(&block)
                .await
                .map_err(|e| failed("cannot send", e))?;
            write
                .write_all(b"\r\n")
                .await
                .map_err(|e| failed("cannot send", e))?;
        }
        write
            .write_all(b"0\r\n\r\n")
            .await
            .map_err(|e| failed("cannot send", e))?;
        write.flush().await.map_err(|e| failed("cannot send", e))?;
        let answer = read_head(BufReader::new(read))
            .await
            .map_err(|e| failed("no answer", e))?;
        judge(&answer, file.info.direction)
            .map_err(|why| PluginError::Failed(format!("ICAP service {}: {why}", self.url)))
    }
}

/// The ICAP status line and headers, and the wrapped HTTP status line if it follows.
async fn read_head<R: tokio::io::AsyncRead + Unpin>(
    mut read: BufReader<R>,
) -> std::io::Result<String> {
    let mut head = String::new();
    // The ICAP head, then (for a 200) the wrapped HTTP status line.
    let mut blank_lines = 0;
    while head.len() < MAX_HEAD {
        let mut line = String::new();
        if read.read_line(&mut line).await? == 0 {
            break;
        }
        let blank = line.trim_end().is_empty();
        head.push_str(&line);
        if blank {
            blank_lines += 1;
            // Only a 200 that wraps a message head has a start line to read after this.
            let wraps = head.lines().any(|l| {
                let l = l.to_ascii_lowercase();
                l.starts_with("encapsulated:") && l.contains("hdr=")
            });
            if blank_lines == 1 && !(head.starts_with("ICAP/1.0 200") && wraps) {
                break;
            }
        } else if blank_lines == 1 {
            // The first line after the ICAP head: the wrapped HTTP message's start line.
            break;
        }
    }
    if head.is_empty() {
        return Err(std::io::ErrorKind::UnexpectedEof.into());
    }
    Ok(head)
}

/// The verdict an answer gives.
fn judge(answer: &str, direction: Direction) -> Result<Verdict, String> {
    let mut lines = answer.lines();
    let status = lines.next().unwrap_or("");
    let code = status
        .strip_prefix("ICAP/1.0 ")
        .and_then(|s| s.get(..3))
        .ok_or_else(|| format!("not an ICAP answer: {:?}", trim(status)))?;
    match code {
        "204" => return Ok(Verdict::Allow),
        "200" => {}
        _ => return Err(format!("answered {:?}", trim(status))),
    }
    let mut threat = None;
    let mut wrapped = None;
    let mut in_head = true;
    for line in lines {
        if line.trim().is_empty() {
            in_head = false;
            continue;
        }
        if !in_head {
            wrapped = Some(line.trim().to_owned());
            break;
        }
        if let Some((name, value)) = line.split_once(':') {
            let name = name.trim().to_ascii_lowercase();
            if matches!(
                name.as_str(),
                "x-infection-found" | "x-virus-id" | "x-violations-found" | "x-blocked"
            ) {
                threat.get_or_insert_with(|| describe_threat(value.trim()));
            }
        }
    }
    if let Some(t) = threat {
        return Ok(Verdict::Deny(format!("the ICAP service found {t}")));
    }
    // Unchanged: the same message came back (a service that does not answer 204).
    let unchanged = match (direction, wrapped.as_deref()) {
        (Direction::Upload, Some(line)) => line.starts_with("PUT "),
        (Direction::Download, Some(line)) => line.starts_with("HTTP/1.1 200"),
        (_, None) => false,
    };
    if unchanged {
        Ok(Verdict::Allow)
    } else {
        Ok(Verdict::Deny(format!(
            "the ICAP service blocked it ({})",
            wrapped.as_deref().map_or("no reason given".into(), trim)
        )))
    }
}

/// `Type=0; Resolution=2; Threat=Eicar-Test-Signature;` → `Eicar-Test-Signature`.
fn describe_threat(value: &str) -> String {
    value
        .split(';')
        .find_map(|part| part.trim().strip_prefix("Threat="))
        .map_or_else(|| trim(value), trim)
}

fn trim(s: &str) -> String {
    s.chars().filter(|c| !c.is_control()).take(120).collect()
}

impl Plugin for Icap {
    fn name(&self) -> &str {
        "icap"
    }

    fn timeout(&self) -> Duration {
        self.timeout
    }

    fn check<'a>(&'a self, file: &'a Spooled) -> BoxFuture<'a, Result<Verdict, PluginError>> {
        Box::pin(self.ask(file))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_are_checked() {
        let i = Icap::new("icap://127.0.0.1:11344/avscan", Duration::from_secs(1)).unwrap();
        assert_eq!((i.host.as_str(), i.port), ("127.0.0.1", 11344));
        let i = Icap::new("icap://scanner.example/srv", Duration::from_secs(1)).unwrap();
        assert_eq!((i.host.as_str(), i.port), ("scanner.example", 1344));
        let i = Icap::new("icap://[::1]:1345/x", Duration::from_secs(1)).unwrap();
        assert_eq!((i.host.as_str(), i.port), ("::1", 1345));
        for bad in [
            "http://x/y",
            "icap://x",
            "icap:///y",
            "icap://x:99999/y",
            "icap://x/ y",
        ] {
            assert!(Icap::new(bad, Duration::from_secs(1)).is_err(), "{bad}");
        }
    }

    /// An answer, the direction it was for, and the verdict: allowed (`None`), refused with
    /// a reason holding the text, or an error.
    type Case<'a> = (&'a str, Direction, Result<Option<&'a str>, ()>);

    #[test]
    fn answers_are_judged() {
        use Direction::{Download, Upload};
        let table: &[Case] = &[
            ("ICAP/1.0 204 No Content\r\n\r\n", Upload, Ok(None)),
            (
                "ICAP/1.0 200 OK\r\nX-Infection-Found: Type=0; Resolution=2; Threat=Vigil.Test.Body.UNOFFICIAL;\r\nEncapsulated: res-hdr=0, res-body=100\r\n\r\nHTTP/1.1 403 Forbidden\r\n",
                Download,
                Ok(Some("Vigil.Test.Body.UNOFFICIAL")),
            ),
            (
                "ICAP/1.0 200 OK\r\nX-Violations-Found: 1\r\n\r\nHTTP/1.1 403 Forbidden\r\n",
                Upload,
                Ok(Some("1")),
            ),
            (
                "ICAP/1.0 200 OK\r\nEncapsulated: res-hdr=0\r\n\r\nHTTP/1.1 403 Forbidden\r\n",
                Download,
                Ok(Some("blocked it (HTTP/1.1 403 Forbidden)")),
            ),
            (
                "ICAP/1.0 200 OK\r\nEncapsulated: res-hdr=0\r\n\r\nHTTP/1.1 200 OK\r\n",
                Download,
                Ok(None),
            ),
            (
                "ICAP/1.0 200 OK\r\nEncapsulated: req-hdr=0\r\n\r\nPUT /x HTTP/1.1\r\n",
                Upload,
                Ok(None),
            ),
            ("ICAP/1.0 500 Server Error\r\n\r\n", Upload, Err(())),
            ("HTTP/1.1 200 OK\r\n\r\n", Upload, Err(())),
            ("", Upload, Err(())),
        ];
        for (answer, direction, want) in table {
            let got = judge(answer, *direction);
            match (want, got) {
                (Ok(None), Ok(Verdict::Allow)) | (Err(()), Err(_)) => {}
                (Ok(Some(needle)), Ok(Verdict::Deny(r))) if r.contains(needle) => {}
                (want, got) => panic!("{answer:?}: want {want:?}, got {got:?}"),
            }
        }
    }
}
