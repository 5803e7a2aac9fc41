//! Sessions: live control (terminate, lock, unlock), prevent-purge, auditors, recordings
//! opened by people, and the retention purge.

use std::sync::Arc;

use vigil_core::{EventKind, Evidence, SessionId, SessionStatus};
use vigil_record::RecordingStore;
use vigil_store::{ControlCommand, SessionFilter, SessionRow, StoreError};

use super::{Actor, Admin, AdminError};
use crate::{Control, PurgeReport};

/// The prefix of the keys a session's kept files are stored under in the recording store.
pub(crate) fn kept_prefix(session: &str) -> String {
    format!("{session}.file-")
}

/// A transferred file kept with its session.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeptFile {
    /// Its key in the recording store.
    pub key: String,
    /// Its path on the target.
    pub path: String,
    pub size: u64,
    pub sha256: String,
}

/// Why a person opened a recording.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Purpose {
    /// The console's player.
    Play,
    /// A download from the console.
    Download,
    /// `vigil recording export`.
    Export,
}

impl Admin {
    /// The session row, refused when it has already ended.
    async fn live_row(&self, id: &SessionId) -> Result<SessionRow, AdminError> {
        let row = self.store.session(&id.0).await?;
        if row.status == SessionStatus::Closed.as_str() {
            return Err(AdminError::Refused(format!(
                "session {id} has already ended"
            )));
        }
        Ok(row)
    }

    fn runs_here(&self, id: &SessionId) -> Option<&Arc<crate::Hub>> {
        self.hub.as_ref().filter(|h| h.is_local(id))
    }

    /// Ends a live session: the operator sees "You have been disconnected", the session log
    /// has `terminate_requested` then `ended` with `terminated_by(actor)`.
    pub async fn terminate(&self, by: &Actor, id: &SessionId) -> Result<SessionRow, AdminError> {
        let row = self.live_row(id).await?;
        let mut tx = self.store.begin().await?;
        tx.record(Evidence::session(
            EventKind::TerminateRequested,
            id,
            Some(&by.name),
            by.detail(serde_json::json!({})),
        ));
        tx.record(
            by.entry(
                EventKind::SessionTerminated,
                &id.0,
                serde_json::json!({ "user": row.user_name, "target": row.target_name }),
            )
            .about(id),
        );
        let here = self.runs_here(id).cloned();
        if here.is_none() {
            tx.enqueue_command(&id.0, ControlCommand::Terminate, &by.name)
                .await?;
        }
        tx.commit().await?;
        if let Some(hub) = here
            && !hub.control(
                id,
                Control::Terminate {
                    by: by.name.clone(),
                },
            )
        {
            // It ended between the check and now: the queue reaches whoever still runs it.
            self.store
                .enqueue_command(&id.0, ControlCommand::Terminate, &by.name)
                .await?;
        }
        Ok(row)
    }

    /// Locks (`true`) or unlocks the operator's input of a live session.
    pub async fn set_lock(
        &self,
        by: &Actor,
        id: &SessionId,
        lock: bool,
    ) -> Result<SessionRow, AdminError> {
        let row = self.live_row(id).await?;
        let (kind, command) = if lock {
            (EventKind::SessionLocked, ControlCommand::Lock)
        } else {
            (EventKind::SessionUnlocked, ControlCommand::Unlock)
        };
        let entry = by
            .entry(kind, &id.0, serde_json::json!({ "user": row.user_name }))
            .about(id);
        match self.runs_here(id) {
            Some(hub) if lock => hub.lock(id, &by.name, vec![entry]).await?,
            Some(hub) => hub.unlock(id, &by.name, vec![entry]).await?,
            None => {
                self.change(entry, async |tx| {
                    tx.enqueue_command(&id.0, command, &by.name).await
                })
                .await?
            }
        }
        Ok(row)
    }

    /// Unlocks every locked session of `user` (after a release).
    pub(super) async fn unlock_sessions_of(
        &self,
        by: &Actor,
        user: &str,
    ) -> Result<(), AdminError> {
        let locked = self
            .store
            .list_sessions(&SessionFilter {
                active: Some(true),
                user: Some(user.to_owned()),
                ..Default::default()
            })
            .await?;
        for s in locked
            .into_iter()
            .filter(|s| s.status == SessionStatus::Locked.as_str())
        {
            let id = SessionId(s.id);
            match self.runs_here(&id) {
                Some(hub) => hub.unlock(&id, &by.name, Vec::new()).await?,
                None => {
                    self.store
                        .enqueue_command(&id.0, ControlCommand::Unlock, &by.name)
                        .await?
                }
            }
        }
        Ok(())
    }

    /// Keeps a session from the retention purge; the justification is required.
    pub async fn prevent_purge(
        &self,
        by: &Actor,
        id: &str,
        reason: &str,
    ) -> Result<(), AdminError> {
        let entry = by.entry(
            EventKind::SessionPreventPurge,
            id,
            serde_json::json!({ "reason": reason.trim() }),
        );
        self.change(entry, async |tx| {
            tx.set_prevent_purge(id, reason, &by.name).await
        })
        .await
    }

    /// Lets the retention purge take the session again.
    pub async fn allow_purge(&self, by: &Actor, id: &str) -> Result<(), AdminError> {
        let before = self.store.prevent_purge(id).await?;
        let entry = by.entry(
            EventKind::SessionPreventPurgeLifted,
            id,
            serde_json::json!({ "was": before }),
        );
        self.change(entry, async |tx| tx.clear_prevent_purge(id).await)
            .await
    }

    /// Sets the users who may watch, read and play this one session.
    pub async fn set_auditors(
        &self,
        by: &Actor,
        id: &str,
        users: &[String],
    ) -> Result<(), AdminError> {
        let before = self.store.session_auditors(id).await?;
        let entry = by.entry(
            EventKind::SessionAuditorsSet,
            id,
            serde_json::json!({ "before": before, "after": users }),
        );
        self.change(entry, async |tx| {
            tx.set_session_auditors(id, users, &by.name).await
        })
        .await
    }

    /// Records that `by` started (`true`) or stopped watching a session live: one entry,
    /// shown in the session log and the administration log.
    pub async fn watched(
        &self,
        by: &Actor,
        id: &SessionId,
        started: bool,
        relayed_from: Option<&str>,
    ) -> Result<(), AdminError> {
        let kind = if started {
            EventKind::LiveViewStarted
        } else {
            EventKind::LiveViewEnded
        };
        let addr = match &by.via {
            super::Via::Api { addr } => addr.clone(),
            _ => String::new(),
        };
        // Which node the viewer used, and which node the stream came from when that was
        // another: an investigator sees the whole path.
        let mut detail = serde_json::json!({ "addr": addr });
        if let Some(hub) = &self.hub {
            detail["node"] = hub.node().into();
        }
        if let Some(owner) = relayed_from {
            detail["relayed_from"] = owner.into();
        }
        let entry = Evidence::session(kind, id, Some(&by.name), by.detail(detail));
        self.store.record(entry).await?;
        Ok(())
    }

    /// Records that `by` opened a session's recording (the caller has already checked that
    /// they may, and streams it after this returns).
    pub async fn recording_opened(
        &self,
        by: &Actor,
        id: &SessionId,
        purpose: Purpose,
        track: u32,
    ) -> Result<(), AdminError> {
        let kind = match purpose {
            Purpose::Play => EventKind::RecordingPlayed,
            Purpose::Download => EventKind::RecordingDownloaded,
            Purpose::Export => EventKind::RecordingExported,
        };
        self.store
            .record(
                by.entry(kind, &id.0, serde_json::json!({ "track": track }))
                    .about(id),
            )
            .await?;
        Ok(())
    }

    /// Purges every closed session that ended more than `retention_days` ago and is not
    /// kept. A session whose recording cannot be deleted is left as it is (and reported), so
    /// a purge never leaves a recording without its session row. Each purge is one
    /// transaction with its evidence, naming who ran it.
    pub async fn purge(
        &self,
        by: &Actor,
        recordings: &Arc<dyn RecordingStore>,
        retention_days: u32,
    ) -> Result<PurgeReport, AdminError> {
        let cutoff = vigil_core::now_millis() - i64::from(retention_days) * 86_400_000;
        let mut report = PurgeReport::default();
        loop {
            let batch = self.store.purge_candidates(cutoff, 100).await?;
            let done = batch.len() < 100;
            let mut progressed = false;
            for session in batch {
                // What the recording was when it went, signed: a purged recording is then
                // told apart from one that went missing.
                let tombstone = self.tombstone(&session, recordings).await;
                if let Err(why) = self.delete_recording(&session, recordings).await {
                    tracing::error!(session = %session.id, error = %why, "cannot delete an expired recording; the session is kept");
                    report.failed.push((session.id.clone(), why));
                    continue;
                }
                let id = SessionId(session.id.clone());
                let entry = by
                    .entry(
                        EventKind::SessionPurged,
                        &session.id,
                        serde_json::json!({
                            "retention_days": retention_days,
                            "user": session.user_name,
                            "target": session.target_name,
                            "ended_at": session.ended_at,
                            "tombstone": tombstone,
                        }),
                    )
                    .about(&id);
                match self
                    .change(entry, async |tx| tx.mark_purged(&session.id).await)
                    .await
                {
                    Ok(()) => {}
                    // Every node runs the purge: another one got there first.
                    Err(AdminError::Store(StoreError::NotFound(_))) => continue,
                    Err(e) => return Err(e),
                }
                report.purged.push(session.id);
                progressed = true;
            }
            if done || !progressed {
                break;
            }
        }
        Ok(report)
    }

    /// The tombstone of a session about to be purged: each track's verification, signed with
    /// the node's recording key (see `verify::tombstone_message`).
    async fn tombstone(
        &self,
        session: &vigil_store::SessionRow,
        recordings: &Arc<dyn RecordingStore>,
    ) -> serde_json::Value {
        let at = vigil_core::now_millis();
        let tracks = match crate::verify::verify_session(
            &self.store,
            Arc::clone(recordings),
            &session.id,
        )
        .await
        {
            Ok(v) => v
                .tracks
                .iter()
                .map(|t| crate::verify::TombstoneTrack {
                    key: t.recording_key.clone(),
                    verdict: t.verdict,
                    links: t.links,
                    sealed: t.sealed,
                })
                .collect(),
            Err(e) => {
                tracing::warn!(session = %session.id, error = %e, "cannot verify a recording before its purge");
                Vec::new()
            }
        };
        let message = crate::verify::tombstone_message(&session.id, at, &tracks);
        let (signer, signature) = match &self.signer {
            Some(s) => (
                Some(crate::signing::signer_text(s.as_ref())),
                Some(crate::signing::signature_text(&s.sign(&message))),
            ),
            None => (None, None),
        };
        serde_json::json!({
            "at": at,
            "tracks": tracks,
            "signer": signer,
            "signature": signature,
        })
    }

    /// Deletes every track of a session's recording.
    async fn delete_recording(
        &self,
        session: &vigil_store::SessionRow,
        recordings: &Arc<dyn RecordingStore>,
    ) -> Result<(), String> {
        let tracks = self
            .store
            .recording_tracks(&session.id)
            .await
            .map_err(|e| e.to_string())?;
        let keys = tracks
            .into_iter()
            .map(|t| t.recording_key)
            .chain(session.recording_key.clone());
        for key in keys {
            recordings.delete(&key).await.map_err(|e| e.to_string())?;
        }
        // The files the transfer policy kept with the session go with its recording.
        for (_, kept) in self
            .kept_files(&session.id)
            .await
            .map_err(|e| e.to_string())?
        {
            recordings
                .delete(&kept.key)
                .await
                .map_err(|e| e.to_string())?;
        }
        Ok(())
    }

    /// The files kept with a session (by its transfer policy's `keep_files_up_to`), each
    /// with the id of the `file_allowed` event that names it.
    pub async fn kept_files(&self, session: &str) -> Result<Vec<(i64, KeptFile)>, AdminError> {
        let events = self.store.session_events(session).await?;
        Ok(events
            .into_iter()
            .filter(|e| e.kind == EventKind::FileAllowed.as_str())
            .filter_map(|e| {
                let d: serde_json::Value = serde_json::from_str(&e.detail).ok()?;
                let key = d["kept"].as_str()?;
                // Only keys of this session's own kept files (see transfer.rs).
                if !key.starts_with(&kept_prefix(session)) {
                    return None;
                }
                Some((
                    e.id,
                    KeptFile {
                        key: key.to_owned(),
                        path: d["path"].as_str().unwrap_or("").to_owned(),
                        size: d["size"].as_u64().unwrap_or(0),
                        sha256: d["sha256"].as_str().unwrap_or("").to_owned(),
                    },
                ))
            })
            .collect())
    }

    /// Records that `by` downloaded a kept file of session `id`.
    pub async fn kept_file_downloaded(
        &self,
        by: &Actor,
        id: &SessionId,
        file: &KeptFile,
    ) -> Result<(), AdminError> {
        self.store
            .record(
                by.entry(
                    EventKind::KeptFileDownloaded,
                    &id.0,
                    serde_json::json!({ "path": file.path, "sha256": file.sha256, "size": file.size }),
                )
                .about(id),
            )
            .await?;
        Ok(())
    }
}
