//! Recorded and audited runs on workstations (issue 14), as their agents report them: a run
//! becomes a closed session of protocol `endpoint` with its `endpoint_run` evidence; a
//! recorded run's two recordings (output, input) are uploaded in parts at offsets into the
//! node's upload directory, each part made durable before the server says it has it, and
//! checked whole (size, SHA-256) before `endpoint_uploaded` is written. When both are in,
//! they are merged into the session's recording (`vigil_record::merge_stored`), so the
//! player, exports and the input permission treat it like a gateway session's.
//!
//! What it is not: a place to stream while the program runs; a run is reported once it
//! ended. Staged parts live on the node that took them: a cluster must send an agent's
//! uploads to one node (issue 16).

use std::io::Write;
use std::path::PathBuf;

use sha2::{Digest, Sha256};
use vigil_core::{EndReason, EventKind, Evidence, SessionId, now_millis};
use vigil_store::{AgentRow, NewRun, NewSession, RunRow, StoreError, UPLOAD_OBJECTS, UploadRow};

use crate::Hub;

pub use vigil_core::RunReport;

/// Why an agent's report or upload was not taken.
#[derive(Debug, thiserror::Error)]
pub enum EndpointError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("{0}")]
    Invalid(String),
    #[error("run {0} is not one of this workstation's")]
    NotYours(String),
    /// The part does not start where the server's copy ends.
    #[error(
        "the server holds {received} bytes of the {object} recording: send from offset {received}"
    )]
    Offset { object: String, received: i64 },
    #[error("the {0} recording is already complete")]
    Finished(String),
    #[error("cannot stage the upload: {0}")]
    Io(#[from] std::io::Error),
    #[error("the recordings could not be merged: {0}")]
    Recording(String),
}

fn check_report(r: &RunReport) -> Result<(), EndpointError> {
    let bad = |what: &str| Err(EndpointError::Invalid(what.to_owned()));
    if uuid::Uuid::parse_str(&r.id).is_err() {
        return bad("id: give the run's UUID");
    }
    if r.user.is_empty()
        || r.user.len() > 256
        || r.user
            .chars()
            .any(|c| c.is_control() || c == ':' || c == '/')
    {
        return bad("user: give the workstation user's name");
    }
    if !r.program.starts_with('/') || r.argv.is_empty() || r.argv.len() > 4096 {
        return bad("program and argv: give the absolute path that ran and its arguments");
    }
    if r.ended_at < r.started_at {
        return bad("ended_at is before started_at");
    }
    Ok(())
}

fn staged(hub: &Hub, run: &str, object: &str) -> PathBuf {
    hub.upload_dir().join(format!("{run}.{object}"))
}

fn check_object(object: &str) -> Result<(), EndpointError> {
    if UPLOAD_OBJECTS.contains(&object) {
        Ok(())
    } else {
        Err(EndpointError::Invalid(format!(
            "{object:?} is not a recording of a run: use output or input"
        )))
    }
}

/// The run `id` if it is `agent`'s.
async fn own_run(hub: &Hub, agent: &AgentRow, id: &str) -> Result<RunRow, EndpointError> {
    match hub.store().endpoint_run(id).await? {
        Some(run) if run.agent_id == agent.id => Ok(run),
        _ => Err(EndpointError::NotYours(id.to_owned())),
    }
}

/// The run `id` if it is `agent`'s, with its upload of `object`.
async fn own_upload(
    hub: &Hub,
    agent: &AgentRow,
    run_id: &str,
    object: &str,
) -> Result<(RunRow, UploadRow), EndpointError> {
    check_object(object)?;
    let run = own_run(hub, agent, run_id).await?;
    let upload = run
        .uploads
        .iter()
        .find(|u| u.object == object)
        .cloned()
        .ok_or_else(|| EndpointError::Invalid(format!("run {run_id} was not recorded")))?;
    Ok((run, upload))
}

/// Takes a run's report: its session and `endpoint_run` evidence, in one transaction. A
/// report sent again returns the run as it stands (the agent resumes from there).
pub async fn report_run(
    hub: &Hub,
    agent: &AgentRow,
    from: &str,
    r: &RunReport,
) -> Result<RunRow, EndpointError> {
    check_report(r)?;
    if let Some(run) = hub.store().endpoint_run(&r.id).await? {
        return if run.agent_id == agent.id {
            Ok(run)
        } else {
            Err(EndpointError::NotYours(r.id.clone()))
        };
    }
    let known_user = hub.store().find_user_by_name(&r.user).await?.is_some();
    let session = NewSession {
        id: SessionId::new(),
        user_name: r.user.clone(),
        target_name: Some(agent.host_name.clone()),
        login: Some(r.user.clone()),
        client_addr: from.to_owned(),
        node: hub.node().to_owned(),
        protocol: "endpoint".into(),
    };
    let run = NewRun {
        id: &r.id,
        agent_id: &agent.id,
        session: &session,
        started_at: r.started_at,
        ended_at: r.ended_at,
        end_reason: &EndReason::OperatorExit.to_string(),
        record: r.record,
    };
    let detail = serde_json::json!({
        "program": r.program,
        "real_path": r.real_path,
        "argv": r.argv,
        "cwd": r.cwd,
        "tty": r.tty,
        "exit": r.exit_status,
        "signal": r.signal,
        "record": r.record,
        "policies": r.policies,
        "uid": r.uid,
        "primary_group": r.primary_group,
        "known_user": known_user,
        "workstation": agent.host_name,
    });
    let mut tx = hub.store().begin().await?;
    let row = tx.create_endpoint_run(&run, now_millis()).await?;
    tx.record(Evidence::session(
        EventKind::EndpointRun,
        &session.id,
        None,
        detail,
    ));
    // A run that is not recorded is whole once reported: its log is sealed now.
    if !r.record
        && let Some(signer) = hub.log_signer()
    {
        tx.seal_session_log(&session.id.0, signer);
    }
    tx.commit().await?;
    Ok(row)
}

/// Adds `bytes` at `offset` to one recording of a run; returns how much the server now holds
/// durably. A part that does not start where the server's copy ends is refused with the
/// offset to send from.
pub async fn upload_part(
    hub: &Hub,
    agent: &AgentRow,
    run_id: &str,
    object: &str,
    offset: i64,
    bytes: bytes::Bytes,
) -> Result<i64, EndpointError> {
    let (_, upload) = own_upload(hub, agent, run_id, object).await?;
    if upload.finished_at.is_some() {
        return Err(EndpointError::Finished(object.to_owned()));
    }
    if offset != upload.received {
        return Err(EndpointError::Offset {
            object: object.to_owned(),
            received: upload.received,
        });
    }
    let path = staged(hub, run_id, object);
    let received = upload.received;
    let now = received + i64::try_from(bytes.len()).unwrap_or(i64::MAX);
    blocking(move || {
        use std::os::unix::fs::FileExt;
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir)?;
        }
        let file = std::fs::OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&path)?;
        // Bytes past the durable length are a part the server never confirmed: dropped.
        file.set_len(u64::try_from(received).unwrap_or(0))?;
        file.write_all_at(&bytes, u64::try_from(received).unwrap_or(0))?;
        Ok(file.sync_data()?)
    })
    .await?;
    let mut tx = hub.store().begin().await?;
    let moved = tx
        .set_upload_received(run_id, object, received, now)
        .await?;
    tx.commit().await?;
    if !moved {
        // Another part for the same place won; whatever it left in the staged copy, the
        // whole-recording SHA-256 check decides.
        let (_, held) = own_upload(hub, agent, run_id, object).await?;
        return Err(EndpointError::Offset {
            object: object.to_owned(),
            received: held.received,
        });
    }
    Ok(now)
}

/// The agent says a recording is whole (`size`, `sha256`): checked against the staged bytes,
/// then `endpoint_uploaded`; once both are in, the session's recording is made. A mismatch
/// drops the staged copy (the agent sends it again from 0).
pub async fn finish_upload(
    hub: &Hub,
    agent: &AgentRow,
    run_id: &str,
    object: &str,
    size: i64,
    sha256: &str,
) -> Result<RunRow, EndpointError> {
    let (run, upload) = own_upload(hub, agent, run_id, object).await?;
    if upload.finished_at.is_none() {
        if upload.received != size {
            return Err(EndpointError::Offset {
                object: object.to_owned(),
                received: upload.received,
            });
        }
        let path = staged(hub, run_id, object);
        let digest = blocking(move || {
            let mut hash = Sha256::new();
            std::io::copy(&mut std::fs::File::open(path)?, &mut hash)?;
            Ok(hash
                .finalize()
                .iter()
                .map(|b| format!("{b:02x}"))
                .collect::<String>())
        })
        .await?;
        if !digest.eq_ignore_ascii_case(sha256) {
            let mut tx = hub.store().begin().await?;
            tx.set_upload_received(run_id, object, upload.received, 0)
                .await?;
            tx.commit().await?;
            return Err(EndpointError::Invalid(format!(
                "the {object} recording's SHA-256 is {digest}, not {sha256}: send it again from offset 0"
            )));
        }
        let mut tx = hub.store().begin().await?;
        tx.finish_upload(run_id, object, size, &digest, now_millis())
            .await?;
        tx.record(Evidence::session(
            EventKind::EndpointUploaded,
            &SessionId(run.session_id.clone()),
            None,
            serde_json::json!({ "object": object, "size": size, "sha256": digest }),
        ));
        tx.commit().await?;
    }
    let run = own_run(hub, agent, run_id).await?;
    if run.completed_at.is_some() || run.uploads.iter().any(|u| u.finished_at.is_none()) {
        return Ok(run);
    }
    make_recording(hub, &run).await?;
    own_run(hub, agent, run_id).await
}

/// Runs `work` on the blocking pool; its panic as an I/O error.
async fn blocking<T: Send + 'static>(
    work: impl FnOnce() -> Result<T, EndpointError> + Send + 'static,
) -> Result<T, EndpointError> {
    tokio::task::spawn_blocking(work)
        .await
        .map_err(|e| std::io::Error::other(e.to_string()))?
}

/// Merges the run's two recordings into its session's recording and marks it complete.
async fn make_recording(hub: &Hub, run: &RunRow) -> Result<(), EndpointError> {
    let (output, input) = (
        staged(hub, &run.id, "output"),
        staged(hub, &run.id, "input"),
    );
    let merged_path = hub.upload_dir().join(format!("{}.cast.zst", run.id));
    let into = merged_path.clone();
    // Scratch: the recording store makes the result durable.
    blocking(move || {
        let mut out = std::io::BufWriter::new(std::fs::File::create(&into)?);
        vigil_record::merge_stored(
            std::fs::File::open(&output)?,
            std::fs::File::open(&input)?,
            &mut out,
        )
        .map_err(|e| EndpointError::Recording(e.to_string()))?;
        Ok(out.flush()?)
    })
    .await?;
    let key = run.session_id.clone();
    // A copy left by an attempt that failed before its commit is this run's own (no other
    // writer uses an endpoint session's key): made again whole.
    match hub.recordings().delete(&key).await {
        Ok(()) | Err(vigil_record::RecordError::NotFound(_)) => {}
        Err(e) => return Err(EndpointError::Recording(e.to_string())),
    }
    let mut blob = hub
        .recording_writer()
        .create_live(&key)
        .await
        .map_err(|e| EndpointError::Recording(e.to_string()))?;
    let mut merged = tokio::fs::File::open(&merged_path).await?;
    let mut buf = vec![0u8; 1 << 20];
    loop {
        let n = tokio::io::AsyncReadExt::read(&mut merged, &mut buf).await?;
        if n == 0 {
            break;
        }
        blob.append(bytes::Bytes::copy_from_slice(&buf[..n]))
            .await
            .map_err(|e| EndpointError::Recording(e.to_string()))?;
    }
    blob.finish()
        .await
        .map_err(|e| EndpointError::Recording(e.to_string()))?;
    let mut tx = hub.store().begin().await?;
    tx.set_session_recording(&SessionId(run.session_id.clone()), &key)
        .await?;
    tx.complete_endpoint_run(&run.id, now_millis()).await?;
    // The run is whole: its log (report and uploads) is sealed with its recording.
    if let Some(signer) = hub.log_signer() {
        tx.seal_session_log(&run.session_id, signer);
    }
    tx.commit().await?;
    for object in UPLOAD_OBJECTS {
        let _ = tokio::fs::remove_file(staged(hub, &run.id, object)).await;
    }
    let _ = tokio::fs::remove_file(&merged_path).await;
    Ok(())
}
