//! `vigil events`: the evidence outbox as JSON lines, one row each, in order. With
//! `--consumer NAME` it reads from that consumer's durable cursor and saves it after each row
//! printed, so a feed that is stopped and started again misses nothing and repeats nothing
//! (a row printed just before a crash, before its cursor was saved, is printed again).

use std::io::Write;

use anyhow::Context;
use vigil_store::{EvidenceConsumer, Start, Store};

#[derive(clap::Args)]
pub(crate) struct EventsArgs {
    /// Read from this consumer's saved cursor, and save it as rows are printed.
    #[arg(long)]
    consumer: Option<String>,
    /// A consumer seen for the first time starts at the oldest row (otherwise at the newest).
    #[arg(long)]
    from_start: bool,
    /// Keep waiting for new rows instead of stopping once caught up.
    #[arg(long)]
    follow: bool,
    /// Stop after this many rows.
    #[arg(long)]
    limit: Option<u64>,
}

pub(super) async fn run(store: &Store, args: EventsArgs) -> anyhow::Result<()> {
    let start = if args.from_start {
        Start::Beginning
    } else {
        Start::Now
    };
    let mut consumer = match &args.consumer {
        Some(name) if name == vigil_forward::CONSUMER => anyhow::bail!(
            "--consumer {name} is the SIEM forwarder's own cursor: reading it here would move it and the SIEM would miss those rows; choose another name"
        ),
        Some(name) => EvidenceConsumer::durable(store, name, start).await?,
        None if args.from_start => EvidenceConsumer::everything(store),
        None => EvidenceConsumer::live(store).await?,
    };
    let mut stdout = std::io::stdout().lock();
    let mut printed = 0u64;
    while args.limit.is_none_or(|limit| printed < limit) {
        let row = if args.follow {
            consumer.next().await?
        } else {
            match consumer.try_next().await? {
                Some(row) => row,
                None => break,
            }
        };
        writeln!(stdout, "{}", serde_json::to_string(&row)?)
            .and_then(|()| stdout.flush())
            .context("cannot write to standard output")?;
        // Saved only once the row is out: a crash in between prints it again, never skips it.
        consumer.ack(row.seq).await?;
        printed += 1;
    }
    Ok(())
}
