//! `vigil siem test` (one test event to every destination in vigil.toml, and which took it)
//! and `vigil status` (open sessions per node and what each node's SIEM destinations are
//! doing, from the reports the nodes write to the store).

use anyhow::bail;
use vigil_store::{SessionFilter, Store};

use crate::config::Settings;

#[derive(clap::Subcommand)]
pub(crate) enum SiemCommand {
    /// Send one test event to every [[siem]] destination of vigil.toml and say which
    /// accepted it.
    Test,
}

pub(super) async fn run(settings: &Settings, c: SiemCommand) -> anyhow::Result<()> {
    match c {
        SiemCommand::Test => test(settings).await,
    }
}

async fn test(settings: &Settings) -> anyhow::Result<()> {
    if settings.siem.is_empty() {
        bail!(
            "no SIEM destination in {}: add one, for example\n[[siem]]\nurl = \"tcp://siem.example:514\"\nformat = \"rfc5424\"",
            settings.data_dir.join(crate::config::CONFIG_FILE).display()
        );
    }
    let mut failed = 0;
    for dest in &settings.siem {
        println!(
            "sending a test event to {} ({})...",
            dest.url,
            dest.format.as_str()
        );
        match vigil_forward::send_test(dest, &settings.node_name).await {
            Ok(vigil_forward::Accepted::Stream) => println!("  accepted"),
            Ok(vigil_forward::Accepted::Datagram) => println!(
                "  sent, and nothing refused it (UDP acknowledges nothing: look for SIEM_TEST at the receiver)"
            ),
            Err(e) => {
                failed += 1;
                println!("  NOT accepted: {e}");
            }
        }
    }
    if failed > 0 {
        bail!(
            "{failed} of {} destination(s) did not accept the test event",
            settings.siem.len()
        );
    }
    Ok(())
}

pub(super) async fn status(store: &Store) -> anyhow::Result<()> {
    let open = store
        .list_sessions(&SessionFilter {
            active: Some(true),
            ..Default::default()
        })
        .await?;
    let mut per_node = std::collections::BTreeMap::<&str, usize>::new();
    for s in &open {
        *per_node.entry(s.node.as_str()).or_default() += 1;
    }
    println!("open sessions: {}", open.len());
    for (node, n) in per_node {
        println!("  {node}: {n}");
    }
    let reports = store.siem_status().await?;
    if reports.is_empty() {
        println!("SIEM destinations: none (add [[siem]] tables to vigil.toml)");
        return Ok(());
    }
    println!("SIEM destinations:");
    println!(
        "  {:<12} {:<32} {:<8} {:<11} {:>7} {:>9} {:>8}  last error",
        "node", "destination", "format", "state", "queued", "sent", "dropped"
    );
    let now = vigil_core::now_millis();
    for r in reports {
        let age = (now - r.updated_at) / 1000;
        let state = if age > 60 {
            format!("{} ({age} s ago; is the node running?)", r.state)
        } else {
            r.state
        };
        println!(
            "  {:<12} {:<32} {:<8} {:<11} {:>7} {:>9} {:>8}  {}",
            r.node,
            r.destination,
            r.format,
            state,
            r.queued,
            r.sent,
            r.dropped,
            r.last_error.as_deref().unwrap_or("-")
        );
    }
    Ok(())
}
