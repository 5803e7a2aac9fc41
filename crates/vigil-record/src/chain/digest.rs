//! The digest of a segment (the stored bytes between two links), by chain version.
//!
//! Version 1 chains digested segments with SHA-256; version 2, what the writer makes now, with
//! BLAKE3. Segments are every stored byte of the recording, so this digest is the one hash in
//! the chain that costs per byte: on incompressible output (about 1.33 stored bytes per output
//! byte) SHA-256 took about 0.8 CPU-s per GiB of output on the benchmark machine even with the
//! CPU's SHA extensions, BLAKE3 (SIMD across its 1 KiB chunks) a fraction of that (issue 17).
//! The rest of the chain (link hashes, signatures) stays SHA-256 and Ed25519 over a few bytes.

use sha2::{Digest, Sha256};

/// A chain's format version, the first byte of every link.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Version {
    /// Segments digested with SHA-256 (recordings written before issue 17).
    Sha256 = 1,
    /// Segments digested with BLAKE3.
    Blake3 = 2,
}

impl Version {
    /// What the writer makes.
    pub const CURRENT: Version = Version::Blake3;

    pub fn from_byte(b: u8) -> Option<Version> {
        match b {
            1 => Some(Version::Sha256),
            2 => Some(Version::Blake3),
            _ => None,
        }
    }
}

/// The writer's digest of the current segment, in one version.
pub(super) enum Segment {
    Sha256(Sha256),
    Blake3(Box<blake3::Hasher>),
}

impl Segment {
    pub(super) fn new(version: Version) -> Segment {
        match version {
            Version::Sha256 => Segment::Sha256(Sha256::new()),
            Version::Blake3 => Segment::Blake3(Box::new(blake3::Hasher::new())),
        }
    }

    pub(super) fn update(&mut self, bytes: &[u8]) {
        match self {
            Segment::Sha256(h) => h.update(bytes),
            Segment::Blake3(h) => {
                h.update(bytes);
            }
        }
    }

    /// The digest so far; the segment starts again, empty.
    pub(super) fn take(&mut self) -> [u8; 32] {
        match self {
            Segment::Sha256(h) => std::mem::take(h).finalize().into(),
            Segment::Blake3(h) => {
                let d = *h.finalize().as_bytes();
                h.reset();
                d
            }
        }
    }
}

/// The verifier's digest: the version is known only from the first link, so the first segment
/// is digested both ways; from then on only in the version the links say.
pub(super) struct Reading {
    sha256: Option<Segment>,
    blake3: Option<Segment>,
}

impl Default for Reading {
    fn default() -> Reading {
        Reading {
            sha256: Some(Segment::new(Version::Sha256)),
            blake3: Some(Segment::new(Version::Blake3)),
        }
    }
}

impl Reading {
    pub(super) fn update(&mut self, bytes: &[u8]) {
        for s in [&mut self.sha256, &mut self.blake3].into_iter().flatten() {
            s.update(bytes);
        }
    }

    /// The segment's digest in `version`, which every later segment is then read in; `None`
    /// when an earlier link said another version (links of one recording never change it).
    pub(super) fn take(&mut self, version: Version) -> Option<[u8; 32]> {
        let (mine, other) = match version {
            Version::Sha256 => (&mut self.sha256, &mut self.blake3),
            Version::Blake3 => (&mut self.blake3, &mut self.sha256),
        };
        *other = None;
        mine.as_mut().map(Segment::take)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_version_digests_with_its_own_hash_and_starts_each_segment_afresh() {
        let want_sha: [u8; 32] = Sha256::digest(b"abc").into();
        let want_b3 = *blake3::hash(b"abc").as_bytes();
        for (version, want) in [(Version::Sha256, want_sha), (Version::Blake3, want_b3)] {
            let mut s = Segment::new(version);
            s.update(b"a");
            s.update(b"bc");
            assert_eq!(s.take(), want);
            s.update(b"abc");
            assert_eq!(s.take(), want, "the second segment starts empty");
        }
    }

    #[test]
    fn the_reader_follows_the_first_links_version_and_refuses_a_change() {
        let mut r = Reading::default();
        r.update(b"abc");
        assert_eq!(
            r.take(Version::Blake3),
            Some(*blake3::hash(b"abc").as_bytes())
        );
        r.update(b"x");
        assert_eq!(r.take(Version::Sha256), None);
        let mut r = Reading::default();
        r.update(b"abc");
        assert_eq!(r.take(Version::Sha256), Some(Sha256::digest(b"abc").into()));
        assert_eq!(r.take(Version::Sha256), Some(Sha256::digest(b"").into()));
    }

    #[test]
    fn versions_are_the_link_bytes() {
        assert_eq!(Version::from_byte(1), Some(Version::Sha256));
        assert_eq!(Version::from_byte(2), Some(Version::Blake3));
        assert_eq!(Version::from_byte(0), None);
        assert_eq!(Version::from_byte(3), None);
        assert_eq!(Version::CURRENT as u8, 2);
    }
}
