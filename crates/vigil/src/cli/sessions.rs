//! `vigil session ...`, `vigil recording export`, `vigil audit list`, `vigil purge`: sessions
//! and their evidence. Live control goes through the command queue to the node that runs the
//! session; the command waits until that node has acted.

use std::io::Write;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, bail};
use clap::Subcommand;
use vigil_core::{SessionId, SessionStatus};
use vigil_session::{Actor, Admin, Purpose};
use vigil_store::{SessionFilter, SessionRow, Store};

use super::when;
use crate::config::Settings;

#[derive(Subcommand)]
pub(crate) enum SessionCommand {
    /// Sessions, newest first.
    List {
        /// Only sessions that are still running.
        #[arg(long)]
        active: bool,
        #[arg(long)]
        json: bool,
        /// At most this many, newest first (1 to 10000).
        #[arg(long, default_value_t = 1000)]
        limit: i64,
    },
    /// One session and its log.
    Show {
        id: String,
        #[arg(long)]
        json: bool,
    },
    /// End a live session; the operator sees "You have been disconnected".
    Kill { id: String },
    /// Lock the operator's interaction: their input is dropped at the gateway, they are told
    /// who locked it, and they cannot start new sessions until unlocked or released.
    Lock { id: String },
    /// Unlock the operator's interaction (releases the user too).
    Unlock { id: String },
    /// Keep a session from the retention purge; the justification is required.
    PreventPurge {
        id: String,
        #[arg(long)]
        reason: String,
    },
    /// Let the retention purge take the session again.
    AllowPurge { id: String },
    /// Show a session's auditors, or set them (users who may watch, read and play it).
    Auditors {
        id: String,
        /// The new list, comma-separated (an empty string removes them all).
        #[arg(long)]
        set: Option<String>,
    },
}

#[derive(Subcommand)]
pub(crate) enum RecordingCommand {
    /// Write a session's recording as an asciicast v3 file (playable with `asciinema play`).
    Export {
        id: String,
        #[arg(short = 'o', long)]
        output: Option<PathBuf>,
        /// Which recorded channel (`vigil session show` lists the tracks); 0 is the first.
        #[arg(long, default_value_t = 0)]
        track: u32,
    },
}

#[derive(Subcommand)]
pub(crate) enum AuditCommand {
    List {
        #[arg(long, default_value_t = 50)]
        limit: i64,
        #[arg(long)]
        json: bool,
    },
}

pub(super) async fn session(
    admin: &Admin,
    by: &Actor,
    command: SessionCommand,
) -> anyhow::Result<()> {
    let store = admin.store();
    match command {
        SessionCommand::List {
            active,
            json,
            limit,
        } => {
            let filter = SessionFilter {
                active: active.then_some(true),
                limit: Some(limit),
                ..Default::default()
            };
            let rows = store.list_sessions(&filter).await?;
            if json {
                println!("{}", serde_json::to_string_pretty(&rows)?);
                return Ok(());
            }
            print_sessions(rows);
        }
        SessionCommand::Show { id, json } => show(store, &id, json).await?,
        SessionCommand::Kill { id } => {
            let row = admin.terminate(by, &SessionId(id.clone())).await?;
            println!("asked node {} to end session {id}...", row.node);
            match wait_for_status(store, &id, &[SessionStatus::Closed]).await? {
                Some(now) => {
                    println!("session {id} ended: {}", now.end_reason.unwrap_or_default())
                }
                None => bail!(
                    "session {id} is still open after 10 s: is node {} running?",
                    row.node
                ),
            }
        }
        SessionCommand::Lock { id } => set_lock(admin, by, &id, true).await?,
        SessionCommand::Unlock { id } => set_lock(admin, by, &id, false).await?,
        SessionCommand::PreventPurge { id, reason } => {
            admin.prevent_purge(by, &id, &reason).await?;
            println!("session {id} is kept from the retention purge");
        }
        SessionCommand::AllowPurge { id } => {
            admin.allow_purge(by, &id).await?;
            println!("session {id} may be purged again");
        }
        SessionCommand::Auditors { id, set } => {
            if let Some(list) = set {
                let users: Vec<String> = list
                    .split(',')
                    .map(str::trim)
                    .filter(|s| !s.is_empty())
                    .map(str::to_owned)
                    .collect();
                admin.set_auditors(by, &id, &users).await?;
            }
            let auditors = store.session_auditors(&id).await?;
            if auditors.is_empty() {
                println!("session {id} has no auditors of its own");
            } else {
                println!("auditors of session {id}: {}", auditors.join(", "));
            }
        }
    }
    Ok(())
}

fn print_sessions(rows: Vec<SessionRow>) {
    println!(
        "{:<36} {:<12} {:<20} {:<8} {:<21} {:<21} {:>10} {:>10} REASON",
        "ID", "USER", "TARGET", "STATUS", "STARTED", "ENDED", "IN", "OUT"
    );
    for s in rows {
        let target = match (&s.login, &s.target_name) {
            (Some(l), Some(t)) => format!("{l}@{t}"),
            (None, Some(t)) => t.clone(),
            _ => "-".into(),
        };
        println!(
            "{:<36} {:<12} {:<20} {:<8} {:<21} {:<21} {:>10} {:>10} {}",
            s.id,
            s.user_name,
            target,
            s.status,
            when(Some(s.started_at)),
            when(s.ended_at),
            s.bytes_in,
            s.bytes_out,
            s.end_reason.unwrap_or_default()
        );
    }
}

async fn show(store: &Store, id: &str, json: bool) -> anyhow::Result<()> {
    let row = store.session(id).await?;
    let events = store.session_events(id).await?;
    let tracks = store.recording_tracks(id).await?;
    if json {
        println!(
            "{}",
            serde_json::to_string_pretty(
                &serde_json::json!({ "session": row, "tracks": tracks, "events": events })
            )?
        );
        return Ok(());
    }
    println!(
        "session {} by {} from {} on node {}",
        row.id, row.user_name, row.client_addr, row.node
    );
    println!(
        "status {} {}",
        row.status,
        row.end_reason.unwrap_or_default()
    );
    for t in &tracks {
        println!(
            "recording track {}: {} channel {} {}",
            t.track,
            t.kind.as_deref().unwrap_or("(no channel)"),
            t.channel.map(|c| c.to_string()).unwrap_or_default(),
            t.command.as_deref().unwrap_or_default()
        );
    }
    // The session's command history first: what ran, and what the rules did.
    let commands: Vec<_> = events
        .iter()
        .filter(|e| e.kind == vigil_core::EventKind::CommandDetected.as_str())
        .filter_map(|e| {
            Some((
                e.at,
                serde_json::from_str::<serde_json::Value>(&e.detail).ok()?,
            ))
        })
        .collect();
    if !commands.is_empty() {
        println!("commands (risk {}):", row.risk);
        for (at, d) in &commands {
            let rule = d["rules"][0]["rule"].as_str().unwrap_or("");
            println!(
                "  {}  {:<10} {:<16} {}",
                when(Some(*at)),
                d["action"].as_str().unwrap_or("none"),
                rule,
                d["command"].as_str().unwrap_or("")
            );
        }
        println!("log:");
    }
    for e in events {
        println!(
            "{}  {:<18} {:<14} {}",
            when(Some(e.at)),
            e.kind,
            e.actor.unwrap_or_default(),
            e.detail
        );
    }
    Ok(())
}

async fn set_lock(admin: &Admin, by: &Actor, id: &str, lock: bool) -> anyhow::Result<()> {
    let row = admin.set_lock(by, &SessionId(id.to_owned()), lock).await?;
    let (want, verb) = if lock {
        (SessionStatus::Locked, "lock")
    } else {
        (SessionStatus::Active, "unlock")
    };
    println!(
        "asked node {} to {verb} session {id} of {}...",
        row.node, row.user_name
    );
    match wait_for_status(admin.store(), id, &[want, SessionStatus::Closed]).await? {
        Some(now) if now.status == want.as_str() => {
            println!("session {id} is {}", want.as_str());
            Ok(())
        }
        Some(_) => bail!("session {id} ended before it could be {verb}ed"),
        None => bail!(
            "session {id} is not {} after 10 s: is node {} running?",
            want.as_str(),
            row.node
        ),
    }
}

/// Polls the session row (the node acts within its command-poll interval) until its status is
/// one of `statuses`; `None` after 10 s.
async fn wait_for_status(
    store: &Store,
    id: &str,
    statuses: &[SessionStatus],
) -> anyhow::Result<Option<SessionRow>> {
    for _ in 0..40 {
        tokio::time::sleep(Duration::from_millis(250)).await;
        let now = store.session(id).await?;
        if statuses.iter().any(|s| s.as_str() == now.status) {
            return Ok(Some(now));
        }
    }
    Ok(None)
}

pub(super) async fn recording(
    settings: &Settings,
    admin: &Admin,
    by: &Actor,
    command: RecordingCommand,
) -> anyhow::Result<()> {
    let RecordingCommand::Export { id, output, track } = command;
    let row = admin.store().session(&id).await?;
    if row.recording_key.is_none() {
        anyhow::bail!("session {id} has no recording (it never reached a target, or was purged)");
    }
    let key = admin
        .store()
        .recording_track(&id, track)
        .await?
        .recording_key;
    let stored = crate::init::recording_store(settings)?.open(&key).await?;
    // The export is evidence before the first byte leaves.
    admin
        .recording_opened(by, &SessionId(id.clone()), Purpose::Export, track)
        .await?;
    // Decoding is blocking work: a blocking task, reading the store's stream through a bridge.
    let runtime = tokio::runtime::Handle::current();
    let target = output.clone();
    let written = tokio::task::spawn_blocking(move || -> anyhow::Result<u64> {
        let bridge = tokio_util::io::SyncIoBridge::new_with_handle(stored, runtime);
        let mut reader =
            vigil_record::CastReader::new(bridge).context("cannot read the recording")?;
        match &target {
            Some(path) => {
                let mut file = std::fs::File::create(path)
                    .with_context(|| format!("cannot create {}", path.display()))?;
                let n = std::io::copy(&mut reader, &mut file)
                    .with_context(|| format!("cannot write {}", path.display()))?;
                file.flush()?;
                Ok(n)
            }
            None => std::io::copy(&mut reader, &mut std::io::stdout().lock())
                .context("cannot write the recording"),
        }
    })
    .await??;
    if let Some(path) = output {
        let (proof, summary) = write_proof(settings, admin, &id, track, &key, &path).await?;
        eprintln!(
            "wrote {} ({written} bytes); play it with `asciinema play {}`",
            path.display(),
            path.display()
        );
        eprintln!(
            "wrote {} (the stored recording: {summary}); `vigil verify {}` checks the export",
            proof.display(),
            path.display()
        );
    }
    Ok(())
}

/// `PATH.vigil-proof`: the stored track's verification and the export's SHA-256, signed
/// with this node's recording key.
async fn write_proof(
    settings: &Settings,
    admin: &Admin,
    id: &str,
    track: u32,
    key: &str,
    path: &std::path::Path,
) -> anyhow::Result<(std::path::PathBuf, String)> {
    use vigil_session::verify::{ExportProof, NodeSigner, verify_session};
    let recordings = crate::init::recording_store(settings)?;
    let v = verify_session(admin.store(), recordings, id).await?;
    let (sha256, size) = file_sha256(path)?;
    let proof = ExportProof::of_export(&v, track, key.to_owned(), sha256, size)
        .sign(&NodeSigner(crate::init::recording_key(settings)?));
    let proof_path = proof_path(path);
    std::fs::write(&proof_path, serde_json::to_vec_pretty(&proof)?)
        .with_context(|| format!("cannot write {}", proof_path.display()))?;
    Ok((proof_path, proof.summary))
}

/// Where an export's proof goes: beside it, `.vigil-proof` appended.
pub(super) fn proof_path(export: &std::path::Path) -> std::path::PathBuf {
    let mut name = export.as_os_str().to_owned();
    name.push(".vigil-proof");
    std::path::PathBuf::from(name)
}

/// A file's SHA-256 (hex) and size, read in blocks.
pub(super) fn file_sha256(path: &std::path::Path) -> anyhow::Result<(String, u64)> {
    let file =
        std::fs::File::open(path).with_context(|| format!("cannot read {}", path.display()))?;
    vigil_session::verify::sha256_of(file)
        .with_context(|| format!("cannot read {}", path.display()))
}

pub(super) async fn audit(store: &Store, command: AuditCommand) -> anyhow::Result<()> {
    let AuditCommand::List { limit, json } = command;
    let entries = store.audit_entries(limit).await?;
    if json {
        println!("{}", serde_json::to_string_pretty(&entries)?);
        return Ok(());
    }
    for e in entries {
        println!(
            "{}  {:<20} {:<22} {:<20} {}",
            when(Some(e.at)),
            e.actor,
            e.action,
            e.subject,
            e.detail
        );
    }
    Ok(())
}

/// `vigil purge`: the retention purge, run now by the person at the terminal (the evidence
/// names them, not `system`).
pub(super) async fn purge(
    settings: &Settings,
    admin: &Admin,
    by: &Actor,
    days: Option<u32>,
) -> anyhow::Result<()> {
    let days = match (days, settings.retention_days) {
        (Some(d), _) => d,
        (None, 0) => {
            println!(
                "retention_days is 0 (keep everything): nothing to purge; pass --days N to purge anyway"
            );
            return Ok(());
        }
        (None, d) => d,
    };
    println!("purging sessions that ended more than {days} day(s) ago...");
    let recordings = crate::init::recording_store(settings)?;
    // Each purged session leaves a tombstone signed with this node's recording key.
    let signer = vigil_session::verify::NodeSigner(crate::init::recording_key(settings)?);
    let admin = vigil_session::Admin::new(admin.store().clone()).signing_with(Arc::new(signer));
    let report = admin.purge(by, &recordings, days).await?;
    for id in &report.purged {
        println!("purged {id}");
    }
    for (id, why) in &report.failed {
        println!("kept {id}: its recording cannot be deleted: {why}");
    }
    println!(
        "{} session(s) purged, {} could not be; sessions kept by prevent-purge were left alone",
        report.purged.len(),
        report.failed.len()
    );
    if report.failed.is_empty() {
        Ok(())
    } else {
        bail!("some recordings could not be deleted: see above")
    }
}
