//! One file's way through inspection, whatever protocol carried it: spooled, decided by the
//! policy's plugins, and logged before anything of it is delivered.
//!
//! Architecture invariant: a file is delivered only after its decision is written to the
//! evidence ([`TransferLog::decided`]); a decision that cannot be written refuses the file.

use std::sync::Arc;
use std::time::{Duration, Instant};

use vigil_core::Direction;

use crate::chain::{Decision, decide};
use crate::plugin::{BoxFuture, Plugin, Verdict};
use crate::spool::{FileInfo, Spool, SpoolError, SpoolWriter, Spooled};

/// One file's decision, as the evidence records it.
#[derive(Debug)]
pub struct Checked<'a> {
    /// `scp` or `sftp`.
    pub tool: &'a str,
    pub info: &'a FileInfo,
    pub decision: &'a Decision,
    /// From the file's first byte to its decision.
    pub took: Duration,
    /// Where the policy kept a copy of the allowed file with the session (see [`Keeper`]).
    pub kept: Option<&'a str>,
}

/// Keeps a copy of an allowed file with its session, for auditors (the policy's
/// `keep_files_up_to`).
pub trait Keeper: Send + Sync {
    /// Stores the file; returns the key it is kept under.
    fn keep<'a>(&'a self, file: &'a Spooled) -> BoxFuture<'a, Result<String, String>>;
}

/// Where transfer evidence goes (the session log and event bus, in the gateway).
pub trait TransferLog: Send + Sync {
    /// Records a decision before the file is delivered (or refused). An error refuses it.
    fn decided<'a>(&'a self, checked: Checked<'a>) -> BoxFuture<'a, Result<(), String>>;

    /// Records that an allowed file did not reach the far side, and why (the target refused
    /// to write it, the operator's client failed, the channel closed).
    fn undelivered<'a>(
        &'a self,
        tool: &'a str,
        info: &'a FileInfo,
        why: &'a str,
    ) -> BoxFuture<'a, ()>;

    /// Records a change made on the target that is not a file's content (SFTP: a listing,
    /// mkdir, remove, rename, symlink, setstat), with the target's refusal if it failed.
    fn operation<'a>(
        &'a self,
        tool: &'a str,
        op: &'a str,
        path: &'a str,
        to: Option<&'a str>,
        error: Option<&'a str>,
    ) -> BoxFuture<'a, ()>;
}

/// What happens to a complete file.
#[derive(Debug)]
pub enum Outcome {
    /// Every plugin allowed it and the decision is on record: deliver these bytes.
    Deliver(Spooled),
    /// Refused; `message` is what the operator is told (it names the plugin and the reason).
    Refused { message: String },
}

/// Inspects the files of one channel under its session's policy.
pub struct Inspector {
    spool: Spool,
    plugins: Vec<Box<dyn Plugin>>,
    log: Arc<dyn TransferLog>,
    tool: &'static str,
    /// Allowed files up to this many bytes are kept by the keeper.
    keep: Option<(u64, Arc<dyn Keeper>)>,
    /// The smallest size a check refuses every file over, and that check's name.
    limit: Option<(u64, String)>,
}

/// A file on its way into the spool: its writer, or why it is refused already (its bytes
/// are then read and dropped, and the refusal is logged and told at its end).
pub struct Incoming {
    writer: Result<SpoolWriter, Unspooled>,
    started: Instant,
    /// The size past which a check refuses the file, and that check's name.
    limit: Option<(u64, String)>,
}

/// A file refused before it was whole: the check (`spool` when the gateway could not hold
/// it) and the reason.
struct Unspooled {
    info: FileInfo,
    plugin: String,
    reason: String,
}

impl Incoming {
    /// Adds `data` at `offset`. A spool that fails (a full disk) refuses this file only; so
    /// does a file growing past the policy's size limit (nothing more of it is kept).
    pub async fn write_at(&mut self, offset: u64, data: impl Into<Vec<u8>>) {
        let data = data.into();
        let end = offset.saturating_add(data.len() as u64);
        self.stop_past_limit(end);
        if let Ok(w) = &mut self.writer
            && let Err(e) = w.write_at(offset, data).await
        {
            let info = unspooled(w.path(), w.direction(), w.size().max(end));
            self.writer = Err(Unspooled::spool(info, &e));
        }
    }

    /// Cuts the file at `size`.
    pub async fn truncate(&mut self, size: u64) {
        self.stop_past_limit(size);
        if let Ok(w) = &mut self.writer
            && let Err(e) = w.truncate(size).await
        {
            let info = unspooled(w.path(), w.direction(), size);
            self.writer = Err(Unspooled::spool(info, &e));
        }
    }

    /// The file would be `size` bytes: past the limit, it is refused now and its spooled
    /// bytes dropped.
    fn stop_past_limit(&mut self, size: u64) {
        if let (Ok(w), Some((limit, plugin))) = (&self.writer, &self.limit)
            && size > *limit
        {
            self.writer = Err(Unspooled {
                info: unspooled(w.path(), w.direction(), size),
                plugin: plugin.clone(),
                reason: format!("the file grew past the limit of {limit} bytes"),
            });
        }
    }

    /// The file may also land as `path` (see [`FileInfo::aliases`]).
    pub fn also_named(&mut self, path: String) {
        if let Ok(w) = &mut self.writer {
            w.also_named(path);
        }
    }

    pub fn size(&self) -> u64 {
        match &self.writer {
            Ok(w) => w.size(),
            Err(u) => u.info.size,
        }
    }
}

impl Unspooled {
    fn spool(info: FileInfo, e: &SpoolError) -> Unspooled {
        Unspooled {
            info,
            plugin: "spool".into(),
            reason: e.to_string(),
        }
    }
}

/// What the operator is told of a refused file.
fn refusal(path: &str, plugin: &str, reason: &str) -> String {
    format!("vigil: {path} refused by {plugin}: {reason}")
}

fn unspooled(path: &str, direction: Direction, size: u64) -> FileInfo {
    FileInfo {
        path: path.to_owned(),
        direction,
        size,
        sha256: String::new(),
        aliases: Vec::new(),
    }
}

impl Inspector {
    /// `tool` names the protocol in the evidence (`scp`, `sftp`).
    pub fn new(
        spool: Spool,
        plugins: Vec<Box<dyn Plugin>>,
        log: Arc<dyn TransferLog>,
        tool: &'static str,
    ) -> Inspector {
        let limit = plugins
            .iter()
            .filter_map(|p| Some((p.size_limit()?, p.name().to_owned())))
            .min_by_key(|(bytes, _)| *bytes);
        Inspector {
            spool,
            plugins,
            log,
            tool,
            keep: None,
            limit,
        }
    }

    /// Allowed files of at most `up_to` bytes are kept by `keeper` before they are
    /// delivered; a file that should be kept and cannot be is refused (its evidence would be
    /// missing).
    pub fn keeping(mut self, up_to: u64, keeper: Arc<dyn Keeper>) -> Inspector {
        self.keep = Some((up_to, keeper));
        self
    }

    /// Starts spooling a file for `path` on the target.
    pub async fn incoming(&self, path: &str, direction: Direction) -> Incoming {
        let writer = match self.spool.writer(path, direction).await {
            Ok(w) => Ok(w),
            Err(e) => Err(Unspooled::spool(unspooled(path, direction, 0), &e)),
        };
        Incoming {
            writer,
            started: Instant::now(),
            limit: self.limit.clone(),
        }
    }

    /// The file is complete: the plugins decide, the decision is written, then the caller
    /// delivers or refuses as the outcome says.
    pub async fn decide(&self, incoming: Incoming) -> Outcome {
        let spooled = match incoming.writer {
            Ok(w) => {
                let info = unspooled(w.path(), w.direction(), w.size());
                w.finish().await.map_err(|e| Unspooled::spool(info, &e))
            }
            Err(refused) => Err(refused),
        };
        let spooled = match spooled {
            Ok(s) => s,
            Err(u) => {
                let message = self
                    .refuse(&u.info, &u.plugin, &u.reason, incoming.started)
                    .await;
                return Outcome::Refused { message };
            }
        };
        let mut decision = decide(&self.plugins, &spooled).await;
        let mut kept = None;
        if let (Verdict::Allow, Some((up_to, keeper))) = (&decision.verdict, &self.keep)
            && spooled.info.size <= *up_to
        {
            match keeper.keep(&spooled).await {
                Ok(key) => kept = Some(key),
                Err(e) => {
                    decision.verdict = Verdict::Deny(format!(
                        "the policy keeps files like this one with the session, and it could not be kept ({e}); tell an administrator"
                    ));
                    decision.plugin = Some("keep".into());
                }
            }
        }
        let checked = Checked {
            tool: self.tool,
            info: &spooled.info,
            decision: &decision,
            took: incoming.started.elapsed(),
            kept: kept.as_deref(),
        };
        let logged = self.log.decided(checked).await;
        let path = &spooled.info.path;
        match (&decision.verdict, logged) {
            (Verdict::Allow, Ok(())) => Outcome::Deliver(spooled),
            (Verdict::Deny(reason), _) => Outcome::Refused {
                message: refusal(path, decision.plugin.as_deref().unwrap_or("policy"), reason),
            },
            (Verdict::Allow, Err(e)) => Outcome::Refused {
                message: format!(
                    "vigil: {path} refused: its transfer cannot be recorded ({e}); tell an administrator"
                ),
            },
        }
    }

    /// Refuses a file for `reason` before (or instead of) the checks: logged (a refusal
    /// stands whether or not its log could be written); returns what the operator is told.
    async fn refuse(
        &self,
        info: &FileInfo,
        plugin: &str,
        reason: &str,
        started: Instant,
    ) -> String {
        let decision = Decision {
            verdict: Verdict::Deny(reason.to_owned()),
            plugin: Some(plugin.to_owned()),
            took: Duration::ZERO,
        };
        let checked = Checked {
            tool: self.tool,
            info,
            decision: &decision,
            took: started.elapsed(),
            kept: None,
        };
        let _ = self.log.decided(checked).await;
        refusal(&info.path, plugin, reason)
    }

    /// Refuses a file before any of it is read (a direction the policy refuses): the
    /// refusal is logged; returns what the operator is told.
    pub async fn refuse_now(
        &self,
        path: &str,
        direction: Direction,
        plugin: &str,
        reason: &str,
    ) -> String {
        let info = unspooled(path, direction, 0);
        self.refuse(&info, plugin, reason, Instant::now()).await
    }

    /// Whether a name alone is refused by the checks that look at names (a rename or a
    /// symlink to a refused extension); the refusal is logged.
    pub async fn refuses_name(&self, path: &str, direction: Direction) -> Option<String> {
        for plugin in &self.plugins {
            if let Some(Verdict::Deny(reason)) = plugin.check_name(path) {
                return Some(
                    self.refuse_now(path, direction, plugin.name(), &reason)
                        .await,
                );
            }
        }
        None
    }

    /// Records a change on the target that is not a file's content.
    pub async fn operation(&self, op: &str, path: &str, to: Option<&str>, error: Option<&str>) {
        self.log.operation(self.tool, op, path, to, error).await;
    }

    /// Records that an allowed file did not reach the far side.
    pub async fn undelivered(&self, info: &FileInfo, why: &str) {
        self.log.undelivered(self.tool, info, why).await;
    }
}
