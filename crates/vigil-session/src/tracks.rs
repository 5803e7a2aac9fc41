//! A session's recording tracks: one per recorded channel, each with its own recorder task
//! (screen model, echo judge, live viewers, file). Track 0 is made when the session reaches
//! its target, before any channel, so a recording that cannot be written refuses the session
//! (fail closed); the first recorded channel takes it, and every later one (a second PTY over
//! a multiplexed connection, a command beside a shell) opens the next track. A channel that
//! cannot have its track is refused.

use std::sync::Arc;

use tokio::sync::{Mutex, mpsc};
use vigil_core::{Evidence, SessionId};
use vigil_record::{Header, RecordingStore};
use vigil_store::{NewTrack, Store, track_key};

use crate::error::HubError;
use crate::recorder::{RecEvent, Recorder, RecorderError, RecorderTask, RecordingFailed};

/// How a recorded channel's track starts: the terminal it draws on and what it runs.
#[derive(Debug, Clone, Default)]
pub struct TrackStart {
    /// Columns, rows and `TERM` of the channel's PTY; none for a command without one.
    pub pty: Option<(u32, u32, String)>,
    /// The command the channel runs; none for a shell.
    pub command: Option<String>,
    /// A shell the gateway starts elevated (through [`crate::START_COMMAND`]), whose sudo
    /// prompt it answers before any operator input.
    pub elevated: bool,
}

pub(crate) struct Tracks {
    session: SessionId,
    key: String,
    store: Store,
    recordings: Arc<dyn RecordingStore>,
    failed: mpsc::UnboundedSender<RecordingFailed>,
    state: Mutex<State>,
}

struct State {
    list: Vec<Track>,
    /// Track 0 has been taken by a channel.
    first_taken: bool,
    /// The session is closing: no track opens any more.
    closed: bool,
}

struct Track {
    recorder: Recorder,
    task: RecorderTask,
}

impl Tracks {
    /// Track 0, created now: its failure refuses the session.
    pub(crate) async fn start(
        session: SessionId,
        key: String,
        store: Store,
        recordings: Arc<dyn RecordingStore>,
        failed: mpsc::UnboundedSender<RecordingFailed>,
    ) -> Result<Tracks, RecorderError> {
        let (recorder, task) =
            Recorder::start(Arc::clone(&recordings), &key, failed.clone()).await?;
        Ok(Tracks {
            session,
            key,
            store,
            recordings,
            failed,
            state: Mutex::new(State {
                list: vec![Track { recorder, task }],
                first_taken: false,
                closed: false,
            }),
        })
    }

    /// Gives a recorded channel its track: track 0 if no channel has it yet, else a new one.
    /// The track's row and the evidence `opened` builds for it (the channel's opening, naming
    /// its track) are one transaction.
    pub(crate) async fn open(
        &self,
        channel: u32,
        kind: &str,
        start: &TrackStart,
        opened: impl FnOnce(Option<u32>) -> Vec<Evidence>,
    ) -> Result<(u32, Recorder), HubError> {
        let mut state = self.state.lock().await;
        if state.closed {
            return Err(RecorderError::Stopped("the session is ending".into()).into());
        }
        let (track, recorder) = if state.first_taken {
            let track = u32::try_from(state.list.len()).unwrap_or(u32::MAX);
            let key = track_key(&self.key, track);
            let (recorder, task) =
                Recorder::start(Arc::clone(&self.recordings), &key, self.failed.clone()).await?;
            state.list.push(Track {
                recorder: recorder.clone(),
                task,
            });
            (track, recorder)
        } else {
            state.first_taken = true;
            (0, state.list[0].recorder.clone())
        };
        recorder
            .send(RecEvent::Start(recorder.header(start)))
            .await?;
        let key = track_key(&self.key, track);
        let mut tx = self.store.begin().await?;
        tx.record_track(
            &self.session,
            &NewTrack {
                track,
                recording_key: &key,
                channel: Some(channel),
                kind: Some(kind),
                command: start.command.as_deref(),
            },
        )
        .await?;
        opened(Some(track)).into_iter().for_each(|e| tx.record(e));
        tx.commit().await?;
        Ok((track, recorder))
    }

    /// Writes evidence of the session in one transaction (nothing when there is none).
    pub(crate) async fn record(&self, evidence: Vec<Evidence>) -> Result<(), HubError> {
        if evidence.is_empty() {
            return Ok(());
        }
        let mut tx = self.store.begin().await?;
        evidence.into_iter().for_each(|e| tx.record(e));
        tx.commit().await?;
        Ok(())
    }

    pub(crate) fn store(&self) -> &Store {
        &self.store
    }

    pub(crate) fn session(&self) -> &SessionId {
        &self.session
    }

    /// Every track's recorder (a marker goes into all of them).
    pub(crate) async fn recorders(&self) -> Vec<Recorder> {
        let state = self.state.lock().await;
        state.list.iter().map(|t| t.recorder.clone()).collect()
    }

    pub(crate) async fn recorder(&self, track: u32) -> Option<Recorder> {
        let state = self.state.lock().await;
        let index = usize::try_from(track).ok()?;
        state.list.get(index).map(|t| t.recorder.clone())
    }

    /// Closes every track: no new one opens, and the writers finish once the channels'
    /// recorders are gone too. Returns the writers to wait for, in track order.
    pub(crate) async fn close(&self) -> Vec<RecorderTask> {
        let mut state = self.state.lock().await;
        state.closed = true;
        std::mem::take(&mut state.list)
            .into_iter()
            .map(|t| t.task)
            .collect()
    }
}

impl Recorder {
    /// The header of a track that starts now on the terminal `start` describes. Times in the
    /// recording count from the recorder's start, so the header's timestamp is that moment.
    pub(crate) fn header(&self, start: &TrackStart) -> Header {
        let mut header = self.default_header();
        if let Some((cols, rows, term)) = &start.pty
            && *cols > 0
            && *rows > 0
        {
            // A client without a terminal size reports 0x0; players need a real size.
            header.cols = u16::try_from(*cols).unwrap_or(u16::MAX);
            header.rows = u16::try_from(*rows).unwrap_or(u16::MAX);
            header.term_type = Some(term.clone());
        } else if let Some((_, _, term)) = &start.pty {
            header.term_type = Some(term.clone());
        }
        header.command = start.command.clone();
        header
    }
}
