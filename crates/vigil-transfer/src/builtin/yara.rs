//! YARA rules (YARA-X, behind the `yara` cargo feature): a file any rule matches is refused,
//! naming the rules. The rules file is compiled when a transfer channel opens (a file that
//! does not compile refuses the channel, with the compiler's message); files are scanned
//! from the spool (memory-mapped by YARA-X, not read into the gateway's heap) on a blocking
//! thread.
//!
//! What it is not: every YARA module. The build carries elf, hash, math, string and time
//! (pe, dotnet, macho and crx are left out so YARA-X resolves next to russh's pinned crypto
//! crates; DESIGN.md); a rule importing another module does not compile.

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use crate::plugin::{BoxFuture, Plugin, PluginError, Verdict};
use crate::spool::Spooled;

pub struct Yara {
    rules: Arc<yara_x::Rules>,
    timeout: Duration,
}

impl Yara {
    /// Compiles the rules in `file`; the error names the file and what is wrong.
    pub fn from_file(file: &Path, timeout: Duration) -> Result<Yara, String> {
        let source = std::fs::read_to_string(file)
            .map_err(|e| format!("cannot read the YARA rules file {}: {e}", file.display()))?;
        let rules = yara_x::compile(source.as_str())
            .map_err(|e| format!("the YARA rules in {} do not compile: {e}", file.display()))?;
        Ok(Yara {
            rules: Arc::new(rules),
            timeout,
        })
    }
}

impl Plugin for Yara {
    fn name(&self) -> &str {
        "yara"
    }

    fn timeout(&self) -> Duration {
        self.timeout
    }

    fn check<'a>(&'a self, file: &'a Spooled) -> BoxFuture<'a, Result<Verdict, PluginError>> {
        let rules = Arc::clone(&self.rules);
        let path = file.local_path().to_owned();
        let timeout = self.timeout;
        Box::pin(async move {
            let matched = tokio::task::spawn_blocking(move || {
                let mut scanner = yara_x::Scanner::new(&rules);
                scanner.set_timeout(timeout);
                scanner.scan_file(&path).map(|results| {
                    results
                        .matching_rules()
                        .map(|r| r.identifier().to_owned())
                        .collect::<Vec<_>>()
                })
            })
            .await
            .map_err(|e| PluginError::Failed(format!("the YARA scan stopped: {e}")))?
            .map_err(|e| PluginError::Failed(format!("the YARA scan failed: {e}")))?;
            Ok(if matched.is_empty() {
                Verdict::Allow
            } else {
                Verdict::Deny(format!("it matches YARA rule {}", matched.join(", ")))
            })
        })
    }
}

#[cfg(test)]
mod tests {
    use vigil_core::Direction;

    use super::*;
    use crate::spool::Spool;

    #[tokio::test]
    async fn a_matching_file_is_refused_naming_the_rule_and_bad_rules_say_why() {
        let dir = tempfile::tempdir().unwrap();
        let rules = dir.path().join("rules.yar");
        std::fs::write(
            &rules,
            "rule vigil_test_marker { strings: $a = \"VIGIL-YARA-MARKER\" condition: $a }\n\
             rule elf_file { condition: uint32(0) == 0x464c457f }\n",
        )
        .unwrap();
        let yara = Yara::from_file(&rules, Duration::from_secs(10)).unwrap();
        let spool = Spool::new(dir.path().join("spool"));
        for (body, want) in [
            (&b"plain text\n"[..], None),
            (&b"xx VIGIL-YARA-MARKER yy"[..], Some("vigil_test_marker")),
            (&b"\x7fELF\x02\x01\x01\0"[..], Some("elf_file")),
        ] {
            let mut w = spool.writer("/srv/f", Direction::Upload).await.unwrap();
            w.write_at(0, body).await.unwrap();
            let f = w.finish().await.unwrap();
            match (yara.check(&f).await.unwrap(), want) {
                (Verdict::Allow, None) => {}
                (Verdict::Deny(r), Some(rule)) => assert!(r.contains(rule), "{r}"),
                (v, want) => panic!("{body:?}: {v:?}, wanted {want:?}"),
            }
        }
        std::fs::write(&rules, "rule broken { condition: nope }").unwrap();
        let e = Yara::from_file(&rules, Duration::from_secs(1))
            .err()
            .unwrap();
        assert!(e.contains("do not compile"), "{e}");
        let e = Yara::from_file(&dir.path().join("none.yar"), Duration::from_secs(1))
            .err()
            .unwrap();
        assert!(e.contains("cannot read"), "{e}");
    }
}
