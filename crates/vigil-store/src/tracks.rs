//! Recording tracks: one per recorded channel of a session. Track 0 is the session's
//! `recording_key` (made when the session reaches its target, before any channel, so a
//! recording that cannot be written refuses the session); every later recorded channel gets
//! the next number and a key of its own ([`track_key`]).

use sqlx::Row;
use vigil_core::{SessionId, now_millis};

use crate::{Store, StoreError, Tx};

/// A recorded channel's track, as the store keeps it.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct TrackRow {
    pub track: i64,
    pub recording_key: String,
    /// The operator's channel number; none until a channel is recorded in track 0.
    pub channel: Option<i64>,
    /// `terminal` or `exec`.
    pub kind: Option<String>,
    /// The command the channel runs (none for a shell).
    pub command: Option<String>,
    pub opened_at: i64,
}

/// What a channel writes when it is bound to a track.
#[derive(Debug, Clone)]
pub struct NewTrack<'a> {
    pub track: u32,
    pub recording_key: &'a str,
    pub channel: Option<u32>,
    pub kind: Option<&'a str>,
    pub command: Option<&'a str>,
}

/// The recording key of track `track` of the recording `key` (track 0 is `key` itself).
pub fn track_key(key: &str, track: u32) -> String {
    if track == 0 {
        key.to_owned()
    } else {
        format!("{key}.{track}")
    }
}

impl Store {
    /// Whether a recording track with this key is kept (not purged, not unknown).
    pub async fn recording_key_kept(&self, key: &str) -> Result<bool, StoreError> {
        let found: Option<i64> = sqlx::query_scalar(
            "SELECT track FROM recording_tracks WHERE recording_key = $1 LIMIT 1",
        )
        .bind(key)
        .fetch_optional(&self.pool)
        .await?;
        Ok(found.is_some())
    }

    /// A session's tracks in number order; none once its recording was purged.
    pub async fn recording_tracks(&self, session: &str) -> Result<Vec<TrackRow>, StoreError> {
        let rows = sqlx::query(
            "SELECT track, recording_key, channel, kind, command, opened_at FROM recording_tracks WHERE session_id = $1 ORDER BY track",
        )
        .bind(session)
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|r| {
                Ok(TrackRow {
                    track: r.try_get("track")?,
                    recording_key: r.try_get("recording_key")?,
                    channel: r.try_get("channel")?,
                    kind: r.try_get("kind")?,
                    command: r.try_get("command")?,
                    opened_at: r.try_get("opened_at")?,
                })
            })
            .collect()
    }
}

impl Store {
    /// One track of a session's recording.
    pub async fn recording_track(&self, session: &str, track: u32) -> Result<TrackRow, StoreError> {
        self.recording_tracks(session)
            .await?
            .into_iter()
            .find(|t| t.track == i64::from(track))
            .ok_or_else(|| {
                StoreError::NotFound(format!(
                    "recording track {track} of session {session} (its tracks are listed with the session)"
                ))
            })
    }
}

impl Tx {
    /// Writes a track, or binds track 0 (written with the session's recording) to the
    /// channel recorded in it.
    pub async fn record_track(
        &mut self,
        session: &SessionId,
        track: &NewTrack<'_>,
    ) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO recording_tracks (session_id, track, recording_key, channel, kind, command, opened_at) VALUES ($1, $2, $3, $4, $5, $6, $7) \
             ON CONFLICT (session_id, track) DO UPDATE SET channel = excluded.channel, kind = excluded.kind, command = excluded.command",
        )
        .bind(&session.0)
        .bind(i64::from(track.track))
        .bind(track.recording_key)
        .bind(track.channel.map(i64::from))
        .bind(track.kind)
        .bind(track.command)
        .bind(now_millis())
        .execute(&mut *self.conn)
        .await?;
        Ok(())
    }
}
