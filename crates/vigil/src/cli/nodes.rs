//! `vigil node`: the members of the cluster (docs/CLUSTER.md).

use clap::Subcommand;
use vigil_session::{Actor, Admin};
use vigil_store::NodeState;

use super::when;

#[derive(Subcommand)]
pub(crate) enum NodeCommand {
    /// Every node that has joined: its state (up, down, left), where peers reach it, its
    /// version, when it started, its last heartbeat and its live sessions.
    List {
        #[arg(long)]
        json: bool,
    },
    /// Forget a node that is down or has left (it joins again if it starts).
    Remove { name: String },
}

pub(crate) async fn run(admin: &Admin, by: &Actor, c: NodeCommand) -> anyhow::Result<()> {
    match c {
        NodeCommand::List { json } => {
            let nodes = admin.store().nodes().await?;
            if json {
                println!("{}", serde_json::to_string(&nodes)?);
                return Ok(());
            }
            if nodes.is_empty() {
                println!("no node has joined yet (`vigil serve` registers the node it starts)");
                return Ok(());
            }
            println!(
                "{:<20} {:<5} {:<32} {:<9} {:<21} {:<21} SESSIONS",
                "NODE", "STATE", "URL", "VERSION", "STARTED", "LAST HEARTBEAT"
            );
            for n in nodes {
                println!(
                    "{:<20} {:<5} {:<32} {:<9} {:<21} {:<21} {}",
                    n.name,
                    n.state.as_str(),
                    n.url,
                    n.version,
                    when(Some(n.started_at)),
                    when(Some(n.heartbeat_at)),
                    n.live_sessions
                );
            }
        }
        NodeCommand::Remove { name } => {
            let was = admin.remove_node(by, &name).await?;
            let how = match was {
                NodeState::Down => "was down",
                NodeState::Left => "had left",
                NodeState::Up => "was up",
            };
            println!("node {name} removed from the cluster's list (it {how})");
        }
    }
    Ok(())
}
