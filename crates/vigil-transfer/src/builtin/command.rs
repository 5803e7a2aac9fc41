//! A company's own check: a program the policy names, given the spooled file.
//!
//! The program gets the spooled file's path as its one argument and the file's metadata as
//! JSON on its standard input (`path` on the target, `direction`, `size`, `sha256`). Exit
//! status 0 allows; any other refuses, with the first line of its standard output as the
//! reason. It is killed when the policy's timeout passes (the file is then refused).

use std::path::PathBuf;
use std::process::Stdio;
use std::time::Duration;

use tokio::io::AsyncWriteExt;

use crate::plugin::{BoxFuture, Plugin, PluginError, Verdict};
use crate::spool::Spooled;

/// The longest reason taken from the program.
const MAX_REASON: usize = 200;

pub struct Command {
    program: PathBuf,
    timeout: Duration,
}

impl Command {
    pub fn new(program: impl Into<PathBuf>, timeout: Duration) -> Self {
        Command {
            program: program.into(),
            timeout,
        }
    }
}

impl Plugin for Command {
    fn name(&self) -> &str {
        "command"
    }

    fn timeout(&self) -> Duration {
        self.timeout
    }

    fn check<'a>(&'a self, file: &'a Spooled) -> BoxFuture<'a, Result<Verdict, PluginError>> {
        Box::pin(async move {
            let mut child = tokio::process::Command::new(&self.program)
                .arg(file.local_path())
                .stdin(Stdio::piped())
                .stdout(Stdio::piped())
                .stderr(Stdio::null())
                .kill_on_drop(true)
                .spawn()
                .map_err(|e| {
                    PluginError::Failed(format!("cannot run {}: {e}", self.program.display()))
                })?;
            let meta = serde_json::json!({
                "path": file.info.path,
                "direction": file.info.direction.as_str(),
                "size": file.info.size,
                "sha256": file.info.sha256,
            });
            if let Some(mut stdin) = child.stdin.take() {
                // A program that does not read its input is not an error.
                let _ = stdin.write_all(format!("{meta}\n").as_bytes()).await;
            }
            let out = child.wait_with_output().await?;
            if out.status.success() {
                return Ok(Verdict::Allow);
            }
            let said = String::from_utf8_lossy(&out.stdout);
            let reason: String = said
                .lines()
                .map(str::trim)
                .find(|l| !l.is_empty())
                .unwrap_or("")
                .chars()
                .filter(|c| !c.is_control())
                .take(MAX_REASON)
                .collect();
            Ok(Verdict::Deny(if reason.is_empty() {
                match out.status.code() {
                    Some(code) => {
                        format!("{} refused it (exit status {code})", self.program.display())
                    }
                    None => format!("{} refused it (killed by a signal)", self.program.display()),
                }
            } else {
                reason
            }))
        })
    }
}
