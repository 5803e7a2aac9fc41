//! A session's transferred files as evidence: each decision written to the session log (and
//! so to the event bus and the SIEM) before the file is delivered, and each allowed file the
//! far side did not take.

use std::sync::Arc;

use vigil_core::EventKind;
use vigil_transfer::{
    BoxFuture, Checked, FileInfo, Inspector, Keeper, Spool, Spooled, TransferLog, Verdict,
};

use crate::hub::LiveSession;

/// How long the policy's external command may take per file.
const COMMAND_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(60);

/// Writes one channel's transfer evidence to its session's log.
struct SessionTransfers {
    session: Arc<LiveSession>,
    channel: u32,
}

impl TransferLog for SessionTransfers {
    fn decided<'a>(&'a self, c: Checked<'a>) -> BoxFuture<'a, Result<(), String>> {
        Box::pin(async move {
            let took_ms = u64::try_from(c.took.as_millis()).unwrap_or(u64::MAX);
            let check_ms = u64::try_from(c.decision.took.as_millis()).unwrap_or(u64::MAX);
            let mut detail = serde_json::json!({
                "tool": c.tool, "direction": c.info.direction.as_str(),
                "path": c.info.path, "also": c.info.aliases, "size": c.info.size,
                "sha256": c.info.sha256, "took_ms": took_ms, "check_ms": check_ms,
                "channel": self.channel,
            });
            let kind = match &c.decision.verdict {
                Verdict::Allow => {
                    detail["kept"] = serde_json::json!(c.kept);
                    EventKind::FileAllowed
                }
                Verdict::Deny(reason) => {
                    detail["plugin"] = serde_json::json!(c.decision.plugin);
                    detail["reason"] = serde_json::json!(reason);
                    EventKind::FileRefused
                }
            };
            self.session
                .record(kind, detail)
                .await
                .map_err(|e| e.to_string())
        })
    }

    fn undelivered<'a>(
        &'a self,
        tool: &'a str,
        info: &'a FileInfo,
        why: &'a str,
    ) -> BoxFuture<'a, ()> {
        Box::pin(async move {
            self.session
                .event(
                    EventKind::FileUndelivered,
                    None,
                    serde_json::json!({
                        "tool": tool, "direction": info.direction.as_str(), "path": info.path,
                        "size": info.size, "sha256": info.sha256, "reason": why,
                        "channel": self.channel,
                    }),
                )
                .await;
        })
    }

    fn operation<'a>(
        &'a self,
        tool: &'a str,
        op: &'a str,
        path: &'a str,
        to: Option<&'a str>,
        error: Option<&'a str>,
    ) -> BoxFuture<'a, ()> {
        Box::pin(async move {
            self.session
                .event(
                    EventKind::SftpOperation,
                    None,
                    serde_json::json!({
                        "tool": tool, "op": op, "path": path, "to": to,
                        "error": error, "channel": self.channel,
                    }),
                )
                .await;
        })
    }
}

/// Keeps allowed files with the session, as blobs of the recording store
/// (`SESSION.file-ID`), named in their `file_allowed` event; the purge deletes them with the
/// recording.
struct SessionKeeper {
    session: Arc<LiveSession>,
}

impl Keeper for SessionKeeper {
    fn keep<'a>(&'a self, file: &'a Spooled) -> BoxFuture<'a, Result<String, String>> {
        Box::pin(async move {
            let key = format!(
                "{}{}",
                crate::admin::kept_prefix(&self.session.id().0),
                uuid::Uuid::new_v4().simple()
            );
            let store = self.session.hub().recordings();
            let mut blob = store.create_live(&key).await.map_err(|e| e.to_string())?;
            let mut blocks = file.blocks();
            while let Some(block) = blocks.next().await.map_err(|e| e.to_string())? {
                blob.append(block.into()).await.map_err(|e| e.to_string())?;
            }
            blob.finish().await.map_err(|e| e.to_string())?;
            Ok(key)
        })
    }
}

impl LiveSession {
    /// The inspector of a transfer channel (`tool`: scp or sftp): the session's transfer
    /// policy, the node's spool, this session's log. An error says why the policy's checks
    /// cannot run (the channel is refused: fail closed).
    pub fn inspector(
        self: &Arc<Self>,
        policy: &vigil_core::TransferPolicy,
        tool: &'static str,
        channel: u32,
    ) -> Result<Inspector, String> {
        let plugins = vigil_transfer::builtin::chain_for(policy, COMMAND_TIMEOUT)?;
        let log = Arc::new(SessionTransfers {
            session: Arc::clone(self),
            channel,
        });
        let inspector = Inspector::new(Spool::new(self.hub().spool_dir()), plugins, log, tool);
        Ok(match policy.keep_files_up_to {
            Some(up_to) => inspector.keeping(
                up_to,
                Arc::new(SessionKeeper {
                    session: Arc::clone(self),
                }),
            ),
            None => inspector,
        })
    }
}
