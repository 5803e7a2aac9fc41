//! One task per session writes its recording. The relay hands events to a bounded queue and
//! never touches the disk itself; the queue's bound is the backpressure that keeps a slow disk
//! from growing memory. Events are encoded, compressed (one zstd frame per recording) and
//! written; everything reaches the file in decodable form at least once a second.

use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use tokio::io::AsyncWriteExt;
use tokio::sync::{mpsc, oneshot};
use vigil_record::{CastWriter, Header, LiveCompressor, RecordingStore};

/// Events the relay sends; times are taken by the relay when the bytes pass.
#[derive(Debug)]
pub(crate) enum RecEvent {
    Start(Header),
    Output(Duration, Bytes),
    Input(Duration, Bytes),
    Resize(Duration, u32, u32),
    Exit(Duration, i64),
    Marker(Duration, String),
}

#[derive(Debug, thiserror::Error)]
pub enum RecorderError {
    #[error("recording cannot be written: {0}")]
    Create(#[from] vigil_record::RecordError),
    #[error("recording stopped: {0}")]
    Stopped(String),
}

/// Sent once when writing fails mid-session, so the session can end (fail closed).
#[derive(Debug, Clone)]
pub struct RecordingFailed(pub String);

/// Events of up to 32 KiB each: 16 keep a bulk transfer's recording under 0.5 MiB in flight
/// while still letting the writer batch.
const QUEUE: usize = 16;
const FLUSH_BYTES: usize = 256 * 1024;
const FLUSH_EVERY: Duration = Duration::from_secs(1);

#[derive(Clone)]
pub(crate) struct Recorder {
    tx: mpsc::Sender<RecEvent>,
    started: Instant,
}

pub(crate) struct RecorderTask {
    pub(crate) done: oneshot::Receiver<Result<u64, String>>,
}

impl Recorder {
    /// Creates the live file (the fail-closed check) and starts the writer task.
    pub(crate) fn start(
        store: Arc<dyn RecordingStore>,
        key: &str,
        failed: mpsc::UnboundedSender<RecordingFailed>,
    ) -> Result<(Recorder, RecorderTask), RecorderError> {
        let file = store.create_live(key)?;
        let (tx, rx) = mpsc::channel(QUEUE);
        let (done_tx, done) = oneshot::channel();
        let started = Instant::now();
        tokio::spawn(async move {
            let result = write_loop(tokio::fs::File::from_std(file), rx, started).await;
            if let Err(e) = &result {
                let _ = failed.send(RecordingFailed(e.clone()));
            }
            let _ = done_tx.send(result);
        });
        Ok((Recorder { tx, started }, RecorderTask { done }))
    }

    pub(crate) fn elapsed(&self) -> Duration {
        self.started.elapsed()
    }

    pub(crate) async fn send(&self, event: RecEvent) -> Result<(), RecorderError> {
        self.tx
            .send(event)
            .await
            .map_err(|_| RecorderError::Stopped("the recording writer has ended".into()))
    }
}

fn default_header(started: Instant) -> Header {
    let unix = std::time::SystemTime::now()
        .checked_sub(started.elapsed())
        .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
        .map(|d| d.as_secs())
        .unwrap_or(0);
    Header {
        cols: 80,
        rows: 24,
        term_type: None,
        timestamp: unix,
        title: None,
        command: None,
    }
}

async fn write_loop(
    mut file: tokio::fs::File,
    mut rx: mpsc::Receiver<RecEvent>,
    started: Instant,
) -> Result<u64, String> {
    let mut writer: Option<CastWriter<Vec<u8>>> = None;
    let io = |e: std::io::Error| e.to_string();
    let mut compressor = LiveCompressor::new().map_err(io)?;
    let mut written: u64 = 0;
    let mut tick = tokio::time::interval(FLUSH_EVERY);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            event = rx.recv() => {
                let Some(event) = event else { break };
                let w = match (&mut writer, event) {
                    (None, RecEvent::Start(header)) => {
                        writer = Some(CastWriter::new(Vec::with_capacity(FLUSH_BYTES), &header).map_err(io)?);
                        continue;
                    }
                    (Some(_), RecEvent::Start(_)) => continue,
                    (slot, event) => {
                        let w = match slot {
                            Some(w) => w,
                            None => slot.insert(CastWriter::new(Vec::with_capacity(FLUSH_BYTES), &default_header(started)).map_err(io)?),
                        };
                        match event {
                            RecEvent::Output(at, b) => w.output(at, &b),
                            RecEvent::Input(at, b) => w.input(at, &b),
                            RecEvent::Resize(at, c, r) => w.resize(at, c, r),
                            RecEvent::Exit(at, s) => w.exit(at, s),
                            RecEvent::Marker(at, m) => w.marker(at, &m),
                            RecEvent::Start(_) => Ok(()),
                        }
                        .map_err(io)?;
                        w
                    }
                };
                if w.get_mut().len() >= FLUSH_BYTES {
                    let compressed = compressor.push(w.get_mut()).map_err(io)?;
                    w.get_mut().clear();
                    written += write(&mut file, &compressed, false).await.map_err(io)?;
                }
            }
            _ = tick.tick() => {
                if let Some(w) = &mut writer {
                    w.flush_pending().map_err(io)?;
                    if !w.get_mut().is_empty() {
                        let mut compressed = compressor.push(w.get_mut()).map_err(io)?;
                        w.get_mut().clear();
                        compressed.extend(compressor.flush().map_err(io)?);
                        written += write(&mut file, &compressed, true).await.map_err(io)?;
                    }
                }
            }
        }
    }
    let w = match &mut writer {
        Some(w) => w,
        None => writer.insert(CastWriter::new(Vec::new(), &default_header(started)).map_err(io)?),
    };
    w.finish(started.elapsed()).map_err(io)?;
    let mut compressed = compressor.push(w.get_mut()).map_err(io)?;
    compressed.extend(compressor.finish().map_err(io)?);
    written += write(&mut file, &compressed, true).await.map_err(io)?;
    file.sync_all().await.map_err(io)?;
    Ok(written)
}

/// Writes compressed bytes; `flush` waits until the file has them (the once-a-second promise).
async fn write(file: &mut tokio::fs::File, bytes: &[u8], flush: bool) -> std::io::Result<u64> {
    file.write_all(bytes).await?;
    if flush {
        file.flush().await?;
    }
    Ok(bytes.len() as u64)
}
