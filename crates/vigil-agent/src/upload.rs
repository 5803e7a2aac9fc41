//! Sending a spooled run to the server: the report, then each recording in parts from the
//! offset the server holds (its commit point: parts it confirmed are on its disk), then a
//! finish with the size and SHA-256 the server checks. The spool lets go of the run only
//! once the server confirmed all of it. A failed attempt is retried later with exponential
//! backoff and jitter; the spool survives restarts, so retries do too.

use std::collections::HashMap;
use std::fs::File;
use std::io::{Read, Seek, SeekFrom};
use std::time::{Duration, Instant};

use rand::Rng;

use crate::client::{Client, ClientError};
use crate::spool::{OBJECTS, SpooledRun};
use crate::state::StateError;

/// Parts are at most this large (the server takes up to 8 MiB a request).
const PART: usize = 1 << 20;

#[derive(Debug, thiserror::Error)]
pub enum UploadError {
    #[error(transparent)]
    Server(#[from] ClientError),
    #[error(transparent)]
    Spool(#[from] StateError),
    #[error(
        "the server holds more of the {object} recording ({held} bytes) than there is ({size})"
    )]
    Ahead {
        object: String,
        held: u64,
        size: u64,
    },
}

/// How an object's upload went, for whoever waits on it.
pub type Notify<'a> = &'a mut dyn FnMut(&str, Result<(), String>);

/// An optional limit on the upload rate, in bytes per second.
#[derive(Debug, Clone, Copy, Default)]
pub struct RateLimit(pub Option<u64>);

impl RateLimit {
    /// Sleeps so that `sent` bytes since `since` stay within the limit.
    fn pace(&self, sent: u64, since: Instant) {
        if let Some(rate) = self.0.filter(|r| *r > 0) {
            let due = Duration::from_secs_f64(sent as f64 / rate as f64);
            if let Some(wait) = due.checked_sub(since.elapsed()) {
                std::thread::sleep(wait);
            }
        }
    }

    fn part(&self) -> usize {
        match self.0 {
            // Small parts under a low limit, so that progress is committed often.
            Some(rate) if rate > 0 => usize::try_from(rate / 4).unwrap_or(PART).clamp(4096, PART),
            _ => PART,
        }
    }
}

/// Uploads `run` whole; calls `notify` once per recording as it is confirmed (or with why
/// not), then removes the run from the spool.
pub fn upload_run(
    client: &Client,
    run: &SpooledRun,
    rate: RateLimit,
    notify: Notify<'_>,
) -> Result<(), UploadError> {
    let report = run.report()?;
    let mut state = client.report_run(&report)?;
    if report.record {
        for object in OBJECTS {
            let done = state
                .upload(object)
                .is_some_and(|u| u.finished_at.is_some());
            if !done {
                match upload_object(client, run, object, rate) {
                    Ok(s) => state = s,
                    Err(e) => {
                        notify(object, Err(e.to_string()));
                        return Err(e);
                    }
                }
            }
            notify(object, Ok(()));
        }
    }
    run.remove()?;
    Ok(())
}

fn upload_object(
    client: &Client,
    run: &SpooledRun,
    object: &str,
    rate: RateLimit,
) -> Result<crate::client::RunState, UploadError> {
    let sum = run.sum(object)?;
    let path = run.object(object);
    let mut file = File::open(&path).map_err(crate::state::io_err(&path))?;
    let held = client
        .run(&run.id)?
        .upload(object)
        .map_or(0, |u| u64::try_from(u.received).unwrap_or(0));
    let mut offset = held;
    if offset > sum.size {
        return Err(UploadError::Ahead {
            object: object.into(),
            held: offset,
            size: sum.size,
        });
    }
    let mut buf = vec![0u8; rate.part()];
    let since = Instant::now();
    let mut sent = 0u64;
    let mut restarted = false;
    loop {
        while offset < sum.size {
            file.seek(SeekFrom::Start(offset))
                .map_err(crate::state::io_err(&path))?;
            let want = usize::try_from(sum.size - offset)
                .unwrap_or(buf.len())
                .min(buf.len());
            file.read_exact(&mut buf[..want])
                .map_err(crate::state::io_err(&path))?;
            offset = match client.put_part(&run.id, object, offset, &buf[..want]) {
                Ok(n) => n,
                // The server holds another offset (a part it took whose answer was lost):
                // go on from where it is.
                Err(ClientError::Refused { status: 409, .. }) => client
                    .run(&run.id)?
                    .upload(object)
                    .map_or(0, |u| u64::try_from(u.received).unwrap_or(0)),
                Err(e) => return Err(e.into()),
            };
            sent += want as u64;
            rate.pace(sent, since);
        }
        match client.finish(&run.id, object, sum.size, &sum.sha256) {
            Ok(state) => return Ok(state),
            // The server's copy did not match and was dropped: once more from the start.
            Err(ClientError::Refused { status: 400, .. }) if !restarted => {
                restarted = true;
                offset = 0;
            }
            Err(e) => return Err(e.into()),
        }
    }
}

/// When each run may be tried again.
#[derive(Debug, Default)]
pub struct Backoff {
    runs: HashMap<String, (u32, Instant)>,
}

impl Backoff {
    const MAX: Duration = Duration::from_secs(300);

    pub fn due(&self, run: &str) -> bool {
        self.runs
            .get(run)
            .is_none_or(|(_, at)| Instant::now() >= *at)
    }

    /// Another failure: the wait doubles (1 s, 2 s, 4 s ... at most five minutes), with up to
    /// half of it again at random so many workstations do not return all at once.
    pub fn failed(&mut self, run: &str) -> Duration {
        let entry = self
            .runs
            .entry(run.to_owned())
            .or_insert((0, Instant::now()));
        entry.0 = entry.0.saturating_add(1);
        let base = Duration::from_secs(1u64 << entry.0.min(9).saturating_sub(1)).min(Self::MAX);
        let jitter = base.mul_f64(rand::thread_rng().gen_range(0.0..0.5));
        let wait = base + jitter;
        entry.1 = Instant::now() + wait;
        wait
    }

    pub fn succeeded(&mut self, run: &str) {
        self.runs.remove(run);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_up_to_five_minutes() {
        let mut b = Backoff::default();
        assert!(b.due("r"));
        let waits: Vec<Duration> = (0..12).map(|_| b.failed("r")).collect();
        assert!(!b.due("r"));
        for (i, w) in waits.iter().enumerate() {
            let base = Duration::from_secs(1 << i.min(8)).min(Backoff::MAX);
            assert!(*w >= base && *w <= base.mul_f64(1.5), "{i}: {w:?}");
        }
        b.succeeded("r");
        assert!(b.due("r"));
    }
}
