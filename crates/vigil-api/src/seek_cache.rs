//! What the recording routes keep between requests: the keyframes seeks have found (per
//! recording, and whether its input track is served: offsets are of the stream served), and
//! which plays were audited a moment ago (the seeks of one play are one entry).

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use vigil_record::SeekIndex;

/// The keyframes found so far per recording (and whether its input track is included: the
/// offsets are of the stream served), kept while the node runs.
#[derive(Default)]
pub struct SeekIndexes {
    indexes: Mutex<HashMap<(String, bool), SeekIndex>>,
    /// When each caller last had a play of a track audited.
    plays: Mutex<HashMap<(String, String, u32), Instant>>,
}

/// Recordings whose keyframes are kept at once (beyond it, one goes to make room).
const KEPT_INDEXES: usize = 16;

/// Within this time, another fetch of the same track by the same person for `play` (a seek)
/// is part of the play already audited.
const ONE_PLAY: Duration = Duration::from_secs(600);

impl SeekIndexes {
    /// The keyframes of `key`, taken out while a seek adds to them (a seek of the same
    /// recording meanwhile starts without them; `keep` puts them back).
    pub(crate) fn take(&self, key: &(String, bool)) -> SeekIndex {
        let mut indexes = self.indexes.lock().unwrap_or_else(|p| p.into_inner());
        indexes.remove(key).unwrap_or_default()
    }

    pub(crate) fn keep(&self, key: (String, bool), index: SeekIndex) {
        let mut indexes = self.indexes.lock().unwrap_or_else(|p| p.into_inner());
        // Two seeks of one recording at once: the one that found more keyframes stays.
        if indexes
            .get(&key)
            .is_some_and(|kept| kept.len() >= index.len())
        {
            return;
        }
        if indexes.len() >= KEPT_INDEXES
            && !indexes.contains_key(&key)
            && let Some(old) = indexes.keys().next().cloned()
        {
            indexes.remove(&old);
        }
        indexes.insert(key, index);
    }

    /// Whether this play must be audited (not a seek of a play audited a moment ago).
    pub(crate) fn new_play(&self, who: &str, session: &str, track: u32) -> bool {
        let mut plays = self.plays.lock().unwrap_or_else(|p| p.into_inner());
        let now = Instant::now();
        plays.retain(|_, at| now.duration_since(*at) < ONE_PLAY);
        let key = (who.to_owned(), session.to_owned(), track);
        let fresh = !plays.contains_key(&key);
        plays.insert(key, now);
        fresh
    }
}
