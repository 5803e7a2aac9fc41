//! `vigil command search TEXT`: who ran what, where, across sessions.

use clap::Subcommand;
use vigil_store::Store;

use super::when;

#[derive(Subcommand)]
pub(crate) enum CommandCommand {
    /// Commands whose text holds TEXT (case-insensitive), newest first.
    Search {
        text: String,
        #[arg(long, default_value_t = 50)]
        limit: i64,
        #[arg(long)]
        json: bool,
    },
}

pub(super) async fn run(store: &Store, command: CommandCommand) -> anyhow::Result<()> {
    let CommandCommand::Search { text, limit, json } = command;
    let hits = store.search_commands(&text, limit).await?;
    if json {
        println!("{}", serde_json::to_string_pretty(&hits)?);
        return Ok(());
    }
    if hits.is_empty() {
        println!("no command holds {text:?}");
    }
    for h in hits {
        let rule = h.rules[0]["rule"].as_str().unwrap_or("");
        println!(
            "{}  {:<12} {:<24} {}  {:<10} {:<16} {}",
            when(Some(h.at)),
            h.user,
            format!(
                "{}@{}",
                h.login.as_deref().unwrap_or("?"),
                h.target.as_deref().unwrap_or("?")
            ),
            h.session_id,
            h.action,
            rule,
            h.command
        );
    }
    Ok(())
}
