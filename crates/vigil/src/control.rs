//! `vigil session lock|unlock` and `vigil user release`: live control from the command line,
//! through the command queue to the node that runs the session.

use std::time::Duration;

use anyhow::bail;
use vigil_store::{ControlCommand, Store};

use crate::config::Settings;

pub(crate) async fn set_lock(
    store: &Store,
    id: &str,
    lock: bool,
    actor: &str,
) -> anyhow::Result<()> {
    let row = store.session(id).await?;
    if row.status == "closed" {
        bail!("session {id} has already ended");
    }
    let (command, want, verb) = if lock {
        (ControlCommand::Lock, "locked", "lock")
    } else {
        (ControlCommand::Unlock, "active", "unlock")
    };
    store.enqueue_command(id, command, actor).await?;
    store
        .audit(
            actor,
            if lock {
                "session_locked"
            } else {
                "session_unlocked"
            },
            id,
            &serde_json::json!({ "user": row.user_name, "via": "cli" }),
        )
        .await?;
    println!(
        "asked node {} to {verb} session {id} of {}...",
        row.node, row.user_name
    );
    match wait_for_status(store, id, &[want, "closed"]).await? {
        Some(now) if now.status == want => {
            println!("session {id} is {want}");
            Ok(())
        }
        Some(_) => bail!("session {id} ended before it could be {verb}ed"),
        None => bail!(
            "session {id} is not {want} after 10 s: is node {} running?",
            row.node
        ),
    }
}

/// Polls the session row (the node acts within its command-poll interval) until its status is
/// one of `statuses`; `None` after 10 s.
pub(crate) async fn wait_for_status(
    store: &Store,
    id: &str,
    statuses: &[&str],
) -> anyhow::Result<Option<vigil_store::SessionRow>> {
    for _ in 0..40 {
        tokio::time::sleep(Duration::from_millis(250)).await;
        let now = store.session(id).await?;
        if statuses.contains(&now.status.as_str()) {
            return Ok(Some(now));
        }
    }
    Ok(None)
}

pub(crate) async fn release(
    settings: &Settings,
    store: &Store,
    name: &str,
    actor: &str,
) -> anyhow::Result<()> {
    // A hub of this process runs no session: every locked session of the user is unlocked
    // through the queue by the node that runs it.
    let hub = vigil_session::Hub::new(
        format!("cli-{}", std::process::id()),
        store.clone(),
        crate::init::recording_store(settings),
    );
    let was = hub.release_user(name, actor).await?;
    store
        .audit(
            actor,
            "user_released",
            name,
            &serde_json::json!({ "locked_by": was, "via": "cli" }),
        )
        .await?;
    match was {
        Some(by) => println!("released {name} (locked by {by}): they may start sessions again"),
        None => println!("{name} was not locked"),
    }
    Ok(())
}
