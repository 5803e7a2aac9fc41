//! Reaching the target, once per connection: the access decision, the recording (fail
//! closed), the vaulted credential and the pinned host key.

use std::sync::Arc;

use vigil_core::{AccessDecision, EndReason, EventKind, decide_access};
use vigil_session::SessionIo;

use crate::shared::Shared;
use crate::target::{ConnectError, TargetLink};

/// Connects this operator connection to its target once: access check, recording (fail
/// closed), credential from the vault, pinned host key. Errors are the operator's message.
pub(crate) async fn ensure_target(
    shared: &Shared,
    name: &str,
    login: Option<&str>,
) -> Result<(Arc<TargetLink>, SessionIo), String> {
    let mut slot = shared.target.lock().await;
    let session = shared
        .session
        .get()
        .ok_or("vigil: the session is not ready")?;
    if let Some(link) = slot.as_ref() {
        if link.target.name != name {
            return Err(format!(
                "vigil: this connection already reaches {}: open a new connection for {name}",
                link.target.name
            ));
        }
        let io = session
            .io()
            .await
            .ok_or("vigil: the session's recording has ended")?;
        return Ok((Arc::clone(link), io));
    }
    let store = shared.hub.store();
    let user = shared.user.get().ok_or("vigil: not authenticated")?;
    let deny = |why: String| async move {
        session
            .event(
                EventKind::ConnectFailed,
                None,
                serde_json::json!({ "target": name, "reason": why }),
            )
            .await;
        shared.set_end(EndReason::Error(why.clone()));
        Err(format!("vigil: {why}"))
    };
    // An unknown target and a target without a grant read the same, so names do not leak.
    let Ok(target) = store.target_by_name(name).await else {
        return deny(format!(
            "user {} has no access to target {name}: ask an administrator for a grant",
            user.name
        ))
        .await;
    };
    let (accounts, grants) = match (
        store.accounts(&target).await,
        store.grants_for_user(user).await,
    ) {
        (Ok(a), Ok(g)) => (a, g),
        (Err(e), _) | (_, Err(e)) => return deny(format!("cannot read access rules: {e}")).await,
    };
    let (account, allow_port_forwarding) =
        match decide_access(user, &target, login, &accounts, &grants) {
            AccessDecision::Allow {
                account,
                allow_port_forwarding,
            } => (account, allow_port_forwarding),
            AccessDecision::Deny(why) => return deny(why).await,
        };
    session.set_target(&target.name, &account.login).await;
    // The rules are fixed now, for the whole session.
    let at = vigil_audit::rules::Where {
        target: target.name.clone(),
        login: account.login.clone(),
        user: user.name.clone(),
    };
    let mut policy = match shared.hub.policy(allow_port_forwarding, at).await {
        Ok(p) => p,
        Err(e) => return deny(e.to_string()).await,
    };
    // What the login may transfer: read now, fixed for the session; unreadable refuses it.
    match store
        .effective_transfer_policy(&target.name, &account.login)
        .await
    {
        Ok(transfers) => policy = policy.with_transfers(transfers),
        Err(e) => return deny(format!("cannot read the transfer policy: {e}")).await,
    }
    if account.sudo_inject != vigil_core::SudoInject::Off {
        policy = policy.with_elevation(elevation(store, &target.name, &account).await);
    }
    let io = match session.start_recording(policy).await {
        Ok(io) => io,
        Err(e) => {
            session
                .event(
                    EventKind::RecordingFailed,
                    None,
                    serde_json::json!({ "error": e.to_string() }),
                )
                .await;
            shared.set_end(EndReason::Error(format!(
                "recording cannot be written: {e}"
            )));
            return Err(format!(
                "vigil: session refused: {e}; tell an administrator"
            ));
        }
    };
    let secret = match store.account_secret(&account).await {
        Ok(s) => s,
        Err(e) => {
            return deny(format!(
                "cannot open the vaulted credential for {}@{}: {e}",
                account.login, target.name
            ))
            .await;
        }
    };
    match crate::target::connect(&shared.settings.client, &target, &account, secret).await {
        Ok(handle) => {
            session
                .event(EventKind::Connected, None, serde_json::json!({ "target": target.name, "host": target.host, "port": target.port, "login": account.login }))
                .await;
            session.set_status(vigil_core::SessionStatus::Active).await;
            let link = Arc::new(TargetLink { handle, target });
            *slot = Some(Arc::clone(&link));
            Ok((link, io))
        }
        Err(e) => {
            let reason = e.to_string();
            match &e {
                // In the session log and the administration log: one entry, for both.
                ConnectError::HostKeyMismatch { presented, .. } => {
                    let mut entry = vigil_core::Evidence::session(
                        EventKind::HostKeyMismatch,
                        session.id(),
                        Some(&user.name),
                        serde_json::json!({ "target": target.name, "reason": reason, "presented": presented, "pinned": target.host_key, "client": shared.peer.to_string() }),
                    );
                    // The administration log names the target whose key changed.
                    entry.subject = target.name.clone();
                    session.evidence(entry).await
                }
                _ => {
                    session
                        .event(
                            EventKind::ConnectFailed,
                            None,
                            serde_json::json!({ "target": target.name, "reason": reason }),
                        )
                        .await
                }
            }
            shared.set_end(EndReason::Error(e.to_string()));
            Err(format!("vigil: {e}"))
        }
    }
}

/// The login's elevation for this session: its passwords opened from the vault now, so a
/// prompt is answered without a store round trip. A password that cannot be opened is not
/// answered with (the session says why when a prompt comes); the session still runs.
async fn elevation(
    store: &vigil_store::Store,
    target: &str,
    account: &vigil_core::Account,
) -> vigil_session::Elevation {
    let open = |what: &'static str, r: Result<vigil_vault::Secret, vigil_store::StoreError>| match r
    {
        Ok(s) => Some(s),
        Err(vigil_store::StoreError::NotFound(_)) => None,
        Err(e) => {
            tracing::error!(login = %account.login, target, error = %e, "cannot open the vaulted {what} password; it is not answered with");
            None
        }
    };
    let sudo = open("sudo", store.account_sudo_secret(account).await);
    let su = open("su", store.account_su_secret(account).await);
    vigil_session::Elevation::new(account, target, sudo, su)
}
