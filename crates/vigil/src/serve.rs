//! `vigil serve`: the node.

use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use vigil_session::{Control, Hub};
use vigil_ssh::{SshGateway, SshSettings};

use crate::config::Settings;
use crate::init;

pub(crate) async fn serve(settings: Settings) -> anyhow::Result<()> {
    let store = init::initialise(&settings)
        .await?
        .with_origin(&settings.node_name);
    let recording_key = init::recording_key(&settings)?;
    init::register_recording_key(&store, &settings, &recording_key).await?;
    let signer: Arc<dyn vigil_record::chain::LinkSigner> =
        Arc::new(vigil_session::verify::NodeSigner(recording_key));
    // Each session's end, its `ended` event and its log's seal, in one transaction.
    let interrupted = store
        .interrupt_open_sessions(
            &settings.node_name,
            Some(Arc::new(vigil_session::verify::LogSignerOf(Arc::clone(
                &signer,
            )))),
        )
        .await?;
    if !interrupted.is_empty() {
        println!(
            "marked {} session(s) left open by a previous run of node {} as interrupted",
            interrupted.len(),
            settings.node_name
        );
    }
    let host_key = init::load_host_key(&settings)?;
    let recordings = init::serving_recording_store(&settings, &store).await?;
    let hub = Hub::new(
        settings.node_name.clone(),
        store.clone(),
        Arc::clone(&recordings),
    );
    hub.set_unreadable_lines(settings.unreadable_lines);
    hub.set_recording_signer(signer);
    // Files a previous run held for inspection were never delivered: they go.
    let spool = settings.data_dir.join("spool");
    if let Ok(entries) = std::fs::read_dir(&spool) {
        for e in entries.flatten() {
            let _ = std::fs::remove_file(e.path());
        }
    }
    hub.set_spool_dir(spool);
    // Workstation recordings part-uploaded stay: their agents resume them.
    hub.set_upload_dir(settings.data_dir.join("uploads"));
    let siem =
        vigil_forward::Forwarder::start(store.clone(), &settings.node_name, settings.siem.clone())
            .await
            .context("cannot start the SIEM forwarder")?;
    // Listened for before anything answers: the SSH port is how a supervisor (or a test) sees
    // the node up, and a SIGTERM that came before the first poll of a lazily registered
    // handler took the default action, killing the node without leaving the cluster.
    let shutdown = shutdown_signals()?;
    let listener = SshGateway::bind(&settings.ssh_listen.to_string()).await?;
    let ssh_settings = SshSettings::new(vec![host_key])
        .with_target_keepalive(settings.target_keepalive)
        .with_pre_auth_limits(
            settings.login_grace,
            settings.max_unauthenticated_per_address,
        )
        .with_target_ciphers(&settings.target_ciphers)
        .with_context(|| {
            format!(
                "in {}",
                settings.data_dir.join(crate::config::CONFIG_FILE).display()
            )
        })?;
    let gateway = SshGateway::new(Arc::clone(&hub), ssh_settings);
    // Commands queued for this node's sessions elsewhere (another node, the CLI) arrive at
    // once on PostgreSQL; the poll is the safety net, and SQLite's only way.
    tokio::spawn({
        let (store, node, wake) = (
            store.clone(),
            settings.node_name.clone(),
            hub.commands_queued(),
        );
        async move { store.announce_commands_to(&node, wake).await }
    });
    tokio::spawn(Arc::clone(&hub).run_command_poller(Duration::from_millis(250)));
    tokio::spawn(crate::memory::trim_after_sessions_end(
        Arc::clone(&hub),
        Duration::from_secs(2),
    ));
    tokio::spawn(vigil_session::run_retention(
        store.clone(),
        Arc::clone(&recordings),
        settings.retention_days,
        settings.purge_interval,
        hub.recording_signer(),
    ));
    let (http, cert_sha256) = start_console(&settings, &hub).await?;
    let membership = vigil_session::cluster::Membership {
        url: settings
            .node_url
            .clone()
            .unwrap_or_else(|| http.trim_end_matches('/').to_owned()),
        cert_sha256,
        version: env!("CARGO_PKG_VERSION").to_owned(),
        timeout: settings.node_timeout,
    };
    vigil_session::cluster::join(&hub, &membership)
        .await
        .context("cannot register this node in the store")?;
    tokio::spawn(vigil_session::cluster::run(Arc::clone(&hub), membership));
    let addr = settings.ssh_listen;
    println!("Vigil node {} is ready", settings.node_name);
    println!("  web console:           {http}");
    println!(
        "  operators connect with: ssh -p {} USER:TARGET@{}   (or USER@{} for a menu)",
        addr.port(),
        addr.ip(),
        addr.ip()
    );
    println!(
        "  add a target:          vigil --data-dir {} target add NAME --host HOST --port 22 --trust-on-add",
        settings.data_dir.display()
    );
    println!("  data directory:        {}", settings.data_dir.display());
    for report in siem.reports() {
        println!(
            "  SIEM destination:      {} ({}; `vigil status` shows how it is doing)",
            report.destination, report.format
        );
    }
    tokio::select! {
        result = gateway.serve(listener) => result.context("the SSH listener failed")?,
        _ = shutdown => {
            println!("shutting down: ending {} live session(s)", hub.live_sessions().len());
            for id in hub.live_sessions() {
                hub.control(&id, Control::Shutdown);
            }
            // Until every session has finished its recording and written its end: the store
            // closes after this.
            for _ in 0..100 {
                if hub.is_idle() {
                    break;
                }
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
            vigil_session::cluster::leave(&hub).await;
            siem.drain(Duration::from_secs(3)).await;
        }
    }
    store.close().await;
    Ok(())
}

/// Starts the web console and API; returns where to open it and the SHA-256 of the
/// certificate it presents (empty for plain HTTP).
async fn start_console(settings: &Settings, hub: &Arc<Hub>) -> anyhow::Result<(String, String)> {
    let tls = match (&settings.tls_files, settings.http_tls) {
        (_, false) => None,
        (Some(files), true) => Some(files.clone()),
        (None, true) => Some(vigil_api::ensure_self_signed(&settings.data_dir, &[])?.0),
    };
    let server =
        vigil_api::HttpServer::bind(&settings.http_listen.to_string(), tls.as_ref()).await?;
    let state = vigil_api::ApiState::new(
        Arc::clone(hub),
        Arc::new(crate::keys::SshKeyTools),
        server.is_tls(),
    );
    let local = server.local_addr()?;
    let scheme = if server.is_tls() { "https" } else { "http" };
    let cert_sha256 = server.cert_sha256().to_owned();
    tokio::spawn(server.serve(vigil_api::router(state)));
    Ok((format!("{scheme}://{local}/"), cert_sha256))
}

/// Registers for SIGTERM and SIGINT now (so from here on neither kills the process) and
/// returns the future that resolves when either arrives.
#[cfg(unix)]
fn shutdown_signals() -> anyhow::Result<impl std::future::Future<Output = ()>> {
    use tokio::signal::unix::{SignalKind, signal};
    let mut term = signal(SignalKind::terminate()).context("cannot listen for SIGTERM")?;
    let mut int = signal(SignalKind::interrupt()).context("cannot listen for SIGINT")?;
    Ok(async move {
        tokio::select! {
            _ = term.recv() => {}
            _ = int.recv() => {}
        }
    })
}

#[cfg(not(unix))]
fn shutdown_signals() -> anyhow::Result<impl std::future::Future<Output = ()>> {
    Ok(async {
        let _ = tokio::signal::ctrl_c().await;
    })
}
