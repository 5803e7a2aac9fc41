//! One task per session writes its recording. The relay hands events to a bounded queue and
//! never touches the disk itself; the queue's bound is the backpressure that keeps a slow disk
//! from growing memory. Events are encoded, compressed (one zstd frame per recording) and
//! written; everything reaches the file in decodable form at least once a second.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use tokio::sync::{broadcast, mpsc, oneshot};
use vigil_record::{CastWriter, Header, LiveBlob, LiveCompressor, RecordingStore, Screen};

use crate::echo::{EchoJudge, Verdict};

/// Events the relay sends; times are taken by the relay when the bytes pass.
#[derive(Debug)]
pub(crate) enum RecEvent {
    Start(Header),
    /// `terminal`: a PTY channel's output; it updates the screen model and is what typed
    /// input's echo is looked for in.
    Output {
        at: Duration,
        channel: u32,
        bytes: Bytes,
        terminal: bool,
    },
    /// `terminal`: typed at a PTY, so judged for echo before it is recorded.
    Input {
        at: Duration,
        channel: u32,
        bytes: Bytes,
        terminal: bool,
    },
    /// A terminal channel ended: its input still waiting for an echo is judged.
    ChannelClosed(u32),
    Resize(Duration, u32, u32),
    Exit(Duration, i64),
    Marker(Duration, String),
    /// A viewer joins: answered with the current screen and the frames that follow it.
    Watch(oneshot::Sender<LiveView>),
}

/// What a live viewer receives after the current screen.
#[derive(Debug, Clone)]
pub enum LiveFrame {
    Output(Bytes),
    Resize(u16, u16),
}

/// A viewer's start: the screen as it is now (escape sequences that draw it on a blank
/// terminal of `cols` x `rows`), then every frame after it. Because the recorder task answers
/// in its own order, the snapshot and the frames neither overlap nor leave a gap.
#[derive(Debug)]
pub struct LiveView {
    pub cols: u16,
    pub rows: u16,
    pub screen: String,
    pub frames: broadcast::Receiver<LiveFrame>,
}

/// Frames a slow viewer may fall behind before it must start again from a fresh screen.
const LIVE_FRAMES: usize = 1024;

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
/// Markers kept for a track whose channel has not opened yet; more take a default header.
const EARLY_MARKERS: usize = 64;

#[derive(Clone)]
pub(crate) struct Recorder {
    tx: mpsc::Sender<RecEvent>,
    started: Instant,
}

pub(crate) struct RecorderTask {
    pub(crate) done: oneshot::Receiver<Result<u64, String>>,
}

impl Recorder {
    /// Creates the live recording (the fail-closed check) and starts the writer task.
    pub(crate) async fn start(
        store: Arc<dyn RecordingStore>,
        key: &str,
        failed: mpsc::UnboundedSender<RecordingFailed>,
    ) -> Result<(Recorder, RecorderTask), RecorderError> {
        let blob = store.create_live(key).await?;
        let (tx, rx) = mpsc::channel(QUEUE);
        let (done_tx, done) = oneshot::channel();
        let started = Instant::now();
        tokio::spawn(async move {
            let result = write_loop(blob, rx, started).await;
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

    /// An 80x24 header stamped with the recorder's start (the moment times count from).
    pub(crate) fn default_header(&self) -> Header {
        default_header(self.started)
    }

    /// Joins the live stream: the current screen, then the frames after it.
    pub(crate) async fn watch(&self) -> Result<LiveView, RecorderError> {
        let (tx, rx) = oneshot::channel();
        self.send(RecEvent::Watch(tx)).await?;
        rx.await
            .map_err(|_| RecorderError::Stopped("the recording writer has ended".into()))
    }

    /// Sends the event `make` builds for the current moment of the session.
    pub(crate) async fn send_now(
        &self,
        make: impl FnOnce(Duration) -> RecEvent,
    ) -> Result<(), RecorderError> {
        self.send(make(self.elapsed())).await
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
    mut blob: Box<dyn LiveBlob>,
    mut rx: mpsc::Receiver<RecEvent>,
    started: Instant,
) -> Result<u64, String> {
    let mut writer: Option<CastWriter<Vec<u8>>> = None;
    let mut live = Live::default();
    let mut judges: HashMap<u32, EchoJudge> = HashMap::new();
    let mut early_markers: Vec<(Duration, String)> = Vec::new();
    let io = |e: std::io::Error| e.to_string();
    let mut compressor = LiveCompressor::default();
    let mut written: u64 = 0;
    let mut tick = tokio::time::interval(FLUSH_EVERY);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            event = rx.recv() => {
                let Some(event) = event else { break };
                let w = match (&mut writer, event) {
                    (None, RecEvent::Start(header)) => {
                        live.size = (header.cols, header.rows);
                        let w = writer.insert(CastWriter::new(Vec::with_capacity(FLUSH_BYTES), &header).map_err(io)?);
                        for (at, label) in early_markers.drain(..) {
                            w.marker(at, &label).map_err(io)?;
                        }
                        continue;
                    }
                    // A marker before the track has its channel (a lock, a refused command)
                    // waits for the channel's header rather than taking a default one.
                    (None, RecEvent::Marker(at, label)) if early_markers.len() < EARLY_MARKERS => {
                        early_markers.push((at, label));
                        continue;
                    }
                    (Some(_), RecEvent::Start(_)) => continue,
                    (_, RecEvent::Watch(reply)) => {
                        let _ = reply.send(live.watch());
                        continue;
                    }
                    (slot, event) => {
                        let w = match slot {
                            Some(w) => w,
                            None => {
                                let w = slot.insert(CastWriter::new(Vec::with_capacity(FLUSH_BYTES), &default_header(started)).map_err(io)?);
                                for (at, label) in early_markers.drain(..) {
                                    w.marker(at, &label).map_err(io)?;
                                }
                                w
                            }
                        };
                        match event {
                            RecEvent::Output { at, channel, bytes, terminal } => {
                                live.output(&bytes, terminal);
                                // Input this output shows (or does not) goes first: it was
                                // typed before.
                                if let Some(judge) = judges.get_mut(&channel) {
                                    write_verdicts(w, judge.output(&bytes)).map_err(io)?;
                                }
                                w.output(at, &bytes)
                            }
                            RecEvent::Input { at, channel, bytes, terminal: true } => {
                                let verdicts = judges.entry(channel).or_default().input(at, bytes);
                                write_verdicts(w, verdicts)
                            }
                            RecEvent::Input { at, bytes, terminal: false, .. } => w.input(at, &bytes),
                            RecEvent::ChannelClosed(channel) => match judges.remove(&channel) {
                                Some(mut judge) => write_verdicts(w, judge.finish()),
                                None => Ok(()),
                            },
                            RecEvent::Resize(at, c, r) => {
                                live.resize(c, r);
                                w.resize(at, c, r)
                            }
                            RecEvent::Exit(at, s) => w.exit(at, s),
                            RecEvent::Marker(at, m) => w.marker(at, &m),
                            RecEvent::Start(_) | RecEvent::Watch(_) => Ok(()),
                        }
                        .map_err(io)?;
                        w
                    }
                };
                if w.get_mut().len() >= FLUSH_BYTES {
                    let compressed = take_compressed(&mut compressor, w).map_err(io)?;
                    written += write(blob.as_mut(), compressed, false).await.map_err(|e| e.to_string())?;
                }
            }
            _ = tick.tick() => {
                if let Some(w) = &mut writer {
                    let now = started.elapsed();
                    for judge in judges.values_mut() {
                        write_verdicts(w, judge.tick(now)).map_err(io)?;
                    }
                    w.flush_pending().map_err(io)?;
                    if !w.get_mut().is_empty() {
                        let mut compressed = take_compressed(&mut compressor, w).map_err(io)?;
                        compressed.extend(compressor.flush().map_err(io)?);
                        written += write(blob.as_mut(), compressed, true).await.map_err(|e| e.to_string())?;
                    }
                }
            }
        }
    }
    let w = match &mut writer {
        Some(w) => w,
        None => writer.insert(CastWriter::new(Vec::new(), &default_header(started)).map_err(io)?),
    };
    for (at, label) in early_markers.drain(..) {
        w.marker(at, &label).map_err(io)?;
    }
    for judge in judges.values_mut() {
        write_verdicts(w, judge.finish()).map_err(io)?;
    }
    w.finish(started.elapsed()).map_err(io)?;
    let mut compressed = take_compressed(&mut compressor, w).map_err(io)?;
    compressed.extend(compressor.finish().map_err(io)?);
    written += write(blob.as_mut(), compressed, false)
        .await
        .map_err(|e| e.to_string())?;
    // Durable and at rest before the session is reported closed.
    blob.finish().await.map_err(|e| e.to_string())?;
    Ok(written)
}

/// Writes the echo judge's verdicts: typed bytes as input events, input typed without echo as
/// one marker per run with its byte count (never the bytes).
fn write_verdicts(w: &mut CastWriter<Vec<u8>>, verdicts: Vec<Verdict>) -> std::io::Result<()> {
    let mut redacted: Option<(Duration, usize)> = None;
    for v in verdicts {
        match v {
            Verdict::Redacted(at, n) => {
                let run = redacted.get_or_insert((at, 0));
                run.1 += n;
            }
            Verdict::Typed(at, bytes) => {
                if let Some((first, n)) = redacted.take() {
                    w.marker(first, &redaction_label(n))?;
                }
                w.input(at, &bytes)?;
            }
        }
    }
    if let Some((first, n)) = redacted {
        w.marker(first, &redaction_label(n))?;
    }
    Ok(())
}

/// The marker left where input typed without echo was.
pub(crate) fn redaction_label(bytes: usize) -> String {
    format!("input redacted: {bytes} bytes typed without echo")
}

/// Compresses what the writer has buffered and empties the buffer.
fn take_compressed(
    compressor: &mut LiveCompressor,
    writer: &mut CastWriter<Vec<u8>>,
) -> std::io::Result<Vec<u8>> {
    let base64 = writer.take_base64_written();
    let buf = writer.get_mut();
    let compressed = compressor.push(buf, base64)?;
    buf.clear();
    Ok(compressed)
}

/// What live viewers need: the screen model and the fan-out, both made when first needed (an
/// avt screen of 80x24 holds two cell buffers, about 60 KiB, and the fan-out's ring of
/// LIVE_FRAMES slots is allocated up front; most sessions are never watched, and a session
/// that never drew anything needs no screen).
struct Live {
    size: (u16, u16),
    screen: Option<Screen>,
    fanout: Option<broadcast::Sender<LiveFrame>>,
}

impl Default for Live {
    fn default() -> Self {
        Live {
            size: (80, 24),
            screen: None,
            fanout: None,
        }
    }
}

impl Live {
    fn screen(&mut self) -> &mut Screen {
        let (cols, rows) = self.size;
        self.screen.get_or_insert_with(|| Screen::new(cols, rows))
    }

    /// Only terminal (PTY) output feeds the screen; every output goes to viewers.
    fn output(&mut self, bytes: &Bytes, is_screen: bool) {
        if is_screen {
            self.screen().feed(bytes);
        }
        if let Some(fanout) = self.fanout.as_ref().filter(|f| f.receiver_count() > 0) {
            let _ = fanout.send(LiveFrame::Output(bytes.clone()));
        }
    }

    fn resize(&mut self, cols: u32, rows: u32) {
        let size = (
            u16::try_from(cols).unwrap_or(u16::MAX),
            u16::try_from(rows).unwrap_or(u16::MAX),
        );
        self.size = size;
        if let Some(screen) = &mut self.screen {
            screen.resize(size.0, size.1);
        }
        if let Some(fanout) = &self.fanout {
            let _ = fanout.send(LiveFrame::Resize(size.0, size.1));
        }
    }

    /// A new viewer: the screen as it is now, and the frames from here on.
    fn watch(&mut self) -> LiveView {
        let frames = self
            .fanout
            .get_or_insert_with(|| broadcast::channel(LIVE_FRAMES).0)
            .subscribe();
        let screen = self.screen();
        let (cols, rows) = screen.size();
        LiveView {
            cols,
            rows,
            screen: screen.dump(),
            frames,
        }
    }
}

/// Writes compressed bytes; `flush` waits until the store has them (the once-a-second promise).
async fn write(
    blob: &mut dyn LiveBlob,
    bytes: Vec<u8>,
    flush: bool,
) -> Result<u64, vigil_record::RecordError> {
    let len = bytes.len() as u64;
    blob.append(bytes.into()).await?;
    if flush {
        blob.flush().await?;
    }
    Ok(len)
}
