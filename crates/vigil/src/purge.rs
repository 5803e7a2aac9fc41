//! `vigil purge`: the retention purge, run now instead of waiting for the node's next run.

use vigil_store::Store;

use crate::config::Settings;

pub(crate) async fn run(
    settings: &Settings,
    store: &Store,
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
    let recordings = crate::init::recording_store(settings);
    let report = vigil_session::purge_expired(store, &recordings, days).await?;
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
        anyhow::bail!("some recordings could not be deleted: see above")
    }
}
