//! What a target (or one of its logins) allows of file transfers (issue 13): each direction,
//! rsync (whose protocol is not inspected), and the ordered checks every file must pass
//! before it is delivered. Fixed at session start like every rule.

use serde::{Deserialize, Serialize};

use crate::{Direction, TransferTool};

/// Allowed or not.
#[derive(
    Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema,
)]
#[serde(rename_all = "lowercase")]
pub enum Permit {
    #[default]
    Allow,
    Deny,
}

impl Permit {
    pub fn parse(s: &str) -> Option<Permit> {
        match s {
            "allow" => Some(Permit::Allow),
            "deny" => Some(Permit::Deny),
            _ => None,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Permit::Allow => "allow",
            Permit::Deny => "deny",
        }
    }
}

/// A transfer policy. The checks run in this order: size, extension, content type, SHA-256,
/// the external command, YARA rules, ICAP; the first refusal decides.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(default, deny_unknown_fields)]
pub struct TransferPolicy {
    /// Operator to target.
    pub upload: Permit,
    /// Target to operator.
    pub download: Permit,
    /// rsync runs: allowed and logged with their command line, or refused (not inspected).
    pub rsync: Permit,
    /// Files over this many bytes are refused.
    pub max_size: Option<u64>,
    /// MIME types (as the `infer` crate names them) refused whatever a file's name.
    pub deny_content_types: Vec<String>,
    /// Name endings refused (without the dot; `tar.gz` works).
    pub deny_extensions: Vec<String>,
    /// SHA-256 digests refused (lowercase hex).
    pub deny_sha256: Vec<String>,
    /// A program given each file (see `vigil_transfer::builtin::Command`).
    pub command: Option<String>,
    /// A YARA rules file: a file matching any rule is refused.
    pub yara: Option<String>,
    /// An ICAP service (`icap://host:port/service`), asked about each file.
    pub icap: Option<String>,
    /// Files up to this many bytes are kept with the session for auditors.
    pub keep_files_up_to: Option<u64>,
}

/// A policy that cannot be used, and why.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{what}: {why}")]
pub struct PolicyError {
    pub what: &'static str,
    pub why: String,
}

/// A transfer channel as the policy sees it when it opens.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TransferKind {
    /// `scp -O` or rsync, one direction.
    Exec(TransferTool, Direction),
    /// The SFTP subsystem (what OpenSSH's `scp` uses by default): either direction.
    Sftp,
}

impl TransferPolicy {
    /// Whether the policy names checks that files must pass (size, lists, a program,
    /// YARA, ICAP).
    pub fn inspects(&self) -> bool {
        self.max_size.is_some()
            || !self.deny_content_types.is_empty()
            || !self.deny_extensions.is_empty()
            || !self.deny_sha256.is_empty()
            || self.command.is_some()
            || self.yara.is_some()
            || self.icap.is_some()
    }

    fn direction(&self, d: Direction) -> Result<(), String> {
        match (d, self.upload, self.download) {
            (Direction::Upload, Permit::Deny, _) => {
                Err("uploads are refused by this login's transfer policy".into())
            }
            (Direction::Download, _, Permit::Deny) => {
                Err("downloads are refused by this login's transfer policy".into())
            }
            _ => Ok(()),
        }
    }

    /// Whether the policy restricts transfers at all (a direction or rsync refused, or file
    /// checks): then a command that runs a transfer program in a form the gateway cannot
    /// inspect is refused (see `vigil_core::mentions_transfer_tool`).
    pub fn restricts(&self) -> bool {
        self.inspects()
            || self.upload == Permit::Deny
            || self.download == Permit::Deny
            || self.rsync == Permit::Deny
    }

    /// Whether a transfer channel may open, and why not. rsync is not inspected: it needs
    /// `rsync` and its direction allowed. Legacy SCP needs its direction; SFTP carries both
    /// and is inspected file by file, so it always opens.
    pub fn allows(&self, kind: TransferKind) -> Result<(), String> {
        match kind {
            TransferKind::Exec(TransferTool::Rsync, d) => {
                if self.rsync == Permit::Deny {
                    return Err("rsync is refused by this login's transfer policy".into());
                }
                self.direction(d)
            }
            TransferKind::Exec(TransferTool::Scp, d) => {
                // Inspected file by file by the gateway (vigil_transfer::scp_relay).
                self.direction(d)
            }
            // Inspected file by file: a refused direction or check refuses the file at its
            // OPEN or CLOSE (vigil_transfer::sftp), and listings keep working.
            TransferKind::Sftp => Ok(()),
        }
    }

    /// Normalises the lists (extensions without dots, lowercase types and digests, no
    /// duplicates) and checks every value; the error names the setting and what is allowed.
    pub fn normalised(mut self) -> Result<TransferPolicy, PolicyError> {
        let err = |what, why: String| Err(PolicyError { what, why });
        let tidy = |v: &mut Vec<String>, f: fn(&str) -> String| {
            let mut out: Vec<String> = v.iter().map(|s| f(s.trim())).collect();
            out.sort();
            out.dedup();
            *v = out;
        };
        tidy(&mut self.deny_extensions, |s| {
            s.trim_start_matches('.').to_lowercase()
        });
        tidy(&mut self.deny_content_types, str::to_lowercase);
        tidy(&mut self.deny_sha256, str::to_lowercase);
        for e in &self.deny_extensions {
            if e.is_empty() || e.contains(['/', ' ']) {
                return err(
                    "deny_extensions",
                    format!("{e:?} is not a file name ending: give one like exe or tar.gz"),
                );
            }
        }
        for t in &self.deny_content_types {
            let ok = t.split_once('/').is_some_and(|(a, b)| {
                !a.is_empty() && !b.is_empty() && !t.contains(char::is_whitespace)
            });
            if !ok {
                return err(
                    "deny_content_types",
                    format!("{t:?} is not a MIME type: give one like application/x-executable"),
                );
            }
        }
        for h in &self.deny_sha256 {
            if h.len() != 64 || !h.chars().all(|c| c.is_ascii_hexdigit()) {
                return err(
                    "deny_sha256",
                    format!("{h:?} is not a SHA-256 digest: give 64 hex digits"),
                );
            }
        }
        for (what, path) in [("command", &self.command), ("yara", &self.yara)] {
            if let Some(p) = path
                && !p.starts_with('/')
            {
                return err(
                    what,
                    format!("{p:?} is not an absolute path: the node runs it from anywhere"),
                );
            }
        }
        if let Some(url) = &self.icap
            && !url.starts_with("icap://")
        {
            return err(
                "icap",
                format!("{url:?} is not an ICAP URL: give icap://HOST:PORT/SERVICE"),
            );
        }
        if self.max_size == Some(0) {
            return err(
                "max_size",
                "0 refuses every file: give a size in bytes, or deny the direction".into(),
            );
        }
        Ok(self)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lists_are_tidied_and_bad_values_named() {
        let p = TransferPolicy {
            deny_extensions: vec![".EXE".into(), "exe".into(), " tar.gz".into()],
            deny_content_types: vec!["Application/X-Executable".into()],
            deny_sha256: vec!["AB".repeat(32)],
            ..TransferPolicy::default()
        }
        .normalised()
        .unwrap();
        assert_eq!(p.deny_extensions, ["exe", "tar.gz"]);
        assert_eq!(p.deny_content_types, ["application/x-executable"]);
        assert_eq!(p.deny_sha256, ["ab".repeat(32)]);
        let bad = |p: TransferPolicy| p.normalised().unwrap_err().what;
        let d = TransferPolicy::default;
        assert_eq!(
            bad(TransferPolicy {
                deny_extensions: vec![".".into()],
                ..d()
            }),
            "deny_extensions"
        );
        assert_eq!(
            bad(TransferPolicy {
                deny_content_types: vec!["exe".into()],
                ..d()
            }),
            "deny_content_types"
        );
        assert_eq!(
            bad(TransferPolicy {
                deny_sha256: vec!["abc".into()],
                ..d()
            }),
            "deny_sha256"
        );
        assert_eq!(
            bad(TransferPolicy {
                command: Some("check.sh".into()),
                ..d()
            }),
            "command"
        );
        assert_eq!(
            bad(TransferPolicy {
                icap: Some("http://x".into()),
                ..d()
            }),
            "icap"
        );
        assert_eq!(
            bad(TransferPolicy {
                max_size: Some(0),
                ..d()
            }),
            "max_size"
        );
        // Stored as JSON; an unknown key is an error, not ignored.
        let json = serde_json::to_string(&p).unwrap();
        assert_eq!(serde_json::from_str::<TransferPolicy>(&json).unwrap(), p);
        assert!(serde_json::from_str::<TransferPolicy>(r#"{"uplod":"deny"}"#).is_err());
        assert_eq!(Permit::parse("deny"), Some(Permit::Deny));
        assert_eq!(Permit::parse("no"), None);
    }

    #[test]
    fn channels_open_as_the_policy_says() {
        use Direction::{Download, Upload};
        use TransferKind::{Exec, Sftp};
        use TransferTool::{Rsync, Scp};
        let open = TransferPolicy::default();
        for k in [
            Exec(Scp, Upload),
            Exec(Scp, Download),
            Exec(Rsync, Upload),
            Sftp,
        ] {
            assert_eq!(open.allows(k), Ok(()), "{k:?}");
        }
        let no_download = TransferPolicy {
            download: Permit::Deny,
            ..TransferPolicy::default()
        };
        assert_eq!(no_download.allows(Exec(Scp, Upload)), Ok(()));
        assert!(
            no_download
                .allows(Exec(Scp, Download))
                .unwrap_err()
                .contains("downloads")
        );
        assert!(no_download.allows(Exec(Rsync, Download)).is_err());
        // SFTP carries both directions: its files are refused one by one.
        assert_eq!(no_download.allows(Sftp), Ok(()));
        let no_rsync = TransferPolicy {
            rsync: Permit::Deny,
            ..TransferPolicy::default()
        };
        assert!(
            no_rsync
                .allows(Exec(Rsync, Upload))
                .unwrap_err()
                .contains("rsync")
        );
        assert_eq!(no_rsync.allows(Exec(Scp, Upload)), Ok(()));
        // SCP and SFTP are inspected file by file; rsync is not inspected by design.
        let checks = TransferPolicy {
            max_size: Some(10),
            ..TransferPolicy::default()
        };
        assert_eq!(checks.allows(Exec(Scp, Upload)), Ok(()));
        assert_eq!(checks.allows(Sftp), Ok(()));
        assert!(checks.restricts() && no_rsync.restricts() && !open.restricts());
        assert_eq!(checks.allows(Exec(Rsync, Upload)), Ok(()));
    }
}
