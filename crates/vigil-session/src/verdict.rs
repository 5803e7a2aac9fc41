//! The verdicts on a piece of evidence (a recording track, a session log, an export), from
//! best to worst: a session's verdict is the worst of its parts'.

use serde::Serialize;

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Verdict {
    Intact,
    Interrupted,
    /// Deleted by the retention purge, which left a tombstone signed by a known node.
    Purged,
    Unverifiable,
    Altered,
}

impl Verdict {
    /// Authentic: complete, cut short by a crash (which the summary says), or purged under
    /// retention with a signed tombstone.
    pub fn authentic(self) -> bool {
        matches!(
            self,
            Verdict::Intact | Verdict::Interrupted | Verdict::Purged
        )
    }

    pub(crate) fn word(self) -> &'static str {
        match self {
            Verdict::Intact => "intact",
            Verdict::Interrupted => "interrupted",
            Verdict::Purged => "purged",
            Verdict::Unverifiable => "unverifiable",
            Verdict::Altered => "altered",
        }
    }
}
