//! The chain written and walked: sealed, cut short, every kind of tampering, versions.
#![allow(clippy::unwrap_used)]
use super::*;
use crate::LiveCompressor;

/// A test key: "signs" with a keyed digest (the real signer is the node's Ed25519 key).
struct TestKey(u8);

impl LinkSigner for TestKey {
    fn public(&self) -> [u8; 32] {
        [self.0; 32]
    }
    fn sign(&self, message: &[u8]) -> [u8; 64] {
        let d: [u8; 32] = Sha256::digest([&[self.0][..], message].concat()).into();
        let mut s = [0u8; 64];
        s[..32].copy_from_slice(&d);
        s
    }
}

impl LinkKeys for TestKey {
    fn check(&self, signer: &[u8; 32], message: &[u8], signature: &[u8; 64]) -> KeyCheck {
        if *signer != self.public() {
            KeyCheck::Unknown
        } else if self.sign(message) == *signature {
            KeyCheck::Valid
        } else {
            KeyCheck::Invalid
        }
    }
}

/// A recording as the recorder writes it: `seconds` flushes of text, each followed by a
/// link, then (when `seal`) the end and a seal. Returns the bytes and where each link
/// frame starts.
fn recording(key: &str, seconds: u64, seal: bool) -> (Vec<u8>, Vec<usize>) {
    recording_in(Version::CURRENT, key, seconds, seal)
}

/// Where the bytes after link `i` start (`links` as `recording` returns them: where each
/// link starts).
fn after_link(links: &[usize], i: usize) -> usize {
    links[i] + 8 + PAYLOAD
}

fn recording_in(version: Version, key: &str, seconds: u64, seal: bool) -> (Vec<u8>, Vec<usize>) {
    let signer = TestKey(7);
    let mut chain = Chain::of_version(key, version);
    let mut c = LiveCompressor::default();
    let mut file = Vec::new();
    let mut links = Vec::new();
    let write = |bytes: Vec<u8>, chain: &mut Chain, file: &mut Vec<u8>| {
        chain.absorb(&bytes);
        file.extend(bytes);
    };
    write(
        c.push(b"{\"version\":3}\n", 0).unwrap(),
        &mut chain,
        &mut file,
    );
    for s in 0..seconds {
        let text = format!("[1.0, \"o\", \"second {s}\\r\\n\"]\n").repeat(50);
        write(c.push(text.as_bytes(), 0).unwrap(), &mut chain, &mut file);
        write(c.flush().unwrap(), &mut chain, &mut file);
        links.push(file.len());
        file.extend(chain.link(LinkKind::Link, (s + 1) * 1000, &signer));
    }
    if seal {
        write(c.finish().unwrap(), &mut chain, &mut file);
        links.push(file.len());
        file.extend(chain.link(LinkKind::Seal, seconds * 1000 + 10, &signer));
    }
    (file, links)
}

fn walk(file: &[u8], key: &str) -> Walk {
    verify(file, key, &TestKey(7)).unwrap()
}

#[test]
fn a_sealed_recording_verifies_and_still_decodes_as_before() {
    let (file, _) = recording("k1", 5, true);
    let w = walk(&file, "k1");
    assert_eq!(w.problem, None);
    assert!(w.sealed && !w.unchained);
    assert_eq!(w.links, 6);
    assert_eq!(w.verified_ms, 5010);
    assert_eq!(w.unverified_bytes, 0);
    // Links are skippable frames: any zstd reader reads the cast as if they were not there.
    let mut cast = String::new();
    crate::CastReader::new(&file[..])
        .unwrap()
        .read_to_string(&mut cast)
        .unwrap();
    assert!(cast.starts_with("{\"version\":3}") && cast.contains("second 4"));
    assert!(!cast.contains("vigil"));
}

#[test]
fn a_recording_that_starts_with_its_first_link_reads_as_a_cast() {
    // What ChainedStore writes: a link before any byte (the store proved it takes bytes).
    let signer = TestKey(7);
    let mut chain = Chain::new("k0");
    let mut file = chain.link(LinkKind::Link, 0, &signer);
    let mut c = LiveCompressor::default();
    let mut data = c
        .push(b"{\"version\":3}\n[0.5, \"o\", \"first\"]\n", 0)
        .unwrap();
    data.extend(c.finish().unwrap());
    chain.absorb(&data);
    file.extend(data);
    file.extend(chain.link(LinkKind::Seal, 500, &signer));
    let w = walk(&file, "k0");
    assert!(w.sealed && w.problem.is_none() && w.links == 2, "{w:?}");
    let mut cast = String::new();
    crate::CastReader::new(&file[..])
        .unwrap()
        .read_to_string(&mut cast)
        .unwrap();
    assert!(
        cast.starts_with("{\"version\":3}") && cast.contains("first"),
        "{cast}"
    );
}

#[test]
fn a_recording_cut_short_verifies_up_to_its_last_link() {
    let (file, links) = recording("k2", 4, false);
    // A crash: part of the next second's bytes reached the disk, no link after them.
    let mut cut = file.clone();
    let (more, _) = recording("k2", 5, false);
    cut.extend_from_slice(&more[file.len()..file.len() + 20]);
    let w = walk(&cut, "k2");
    assert_eq!(w.problem, None);
    assert!(!w.sealed);
    assert_eq!((w.links, w.verified_ms), (4, 4000));
    assert_eq!(w.unverified_bytes, 20);
    // Cut right after a link: everything verified, not sealed.
    let w = walk(&file[..after_link(&links, 2)], "k2");
    assert_eq!((w.links, w.unverified_bytes, w.sealed), (3, 0, false));
}

#[test]
fn recordings_chained_before_blake3_still_verify_and_versions_cannot_be_swapped() {
    let (old, links) = recording_in(Version::Sha256, "k9", 3, true);
    let w = walk(&old, "k9");
    assert_eq!((w.problem.clone(), w.sealed, w.links), (None, true, 4));
    // Each link's first payload byte is its version: claiming the other digest breaks
    // the link's hash, whichever way round.
    let (new, new_links) = recording("k9", 3, true);
    for (file, at, to) in [(&old, links[0], 2u8), (&new, new_links[0], 1u8)] {
        let mut swapped = file.clone();
        swapped[at + 8] = to;
        let p = walk(&swapped, "k9").problem;
        assert!(matches!(p, Some(Problem::Altered { link: 1, .. })), "{p:?}");
    }
    // A later link in another version than the first is named as such.
    let mut mixed = new.clone();
    mixed[new_links[1] + 8] = 1;
    let p = walk(&mixed, "k9").problem.unwrap();
    assert!(p.to_string().contains("chain version 1"), "{p}");
}

#[test]
fn every_kind_of_tampering_is_named() {
    let (file, links) = recording("k3", 4, true);
    // A flipped byte inside the third second's data.
    let mut flipped = file.clone();
    flipped[after_link(&links, 1) + 10] ^= 0x01;
    let p = walk(&flipped, "k3").problem.unwrap();
    assert!(
        matches!(
            p,
            Problem::Altered {
                link: 3,
                after_ms: 2000
            } | Problem::Damaged { .. }
        ),
        "{p:?}"
    );
    // Two seconds swapped (each with its link).
    let a = &file[after_link(&links, 0)..after_link(&links, 1)];
    let b = &file[after_link(&links, 1)..after_link(&links, 2)];
    let swapped = [
        &file[..after_link(&links, 0)],
        b,
        a,
        &file[after_link(&links, 2)..],
    ]
    .concat();
    // A second removed with its link.
    let removed = [
        &file[..after_link(&links, 0)],
        &file[after_link(&links, 1)..],
    ]
    .concat();
    // Both are named alike: link 3 found where link 2 was expected.
    for (what, changed) in [("swapped", &swapped), ("removed", &removed)] {
        assert_eq!(
            walk(changed, "k3").problem,
            Some(Problem::Reordered {
                link: 3,
                expected: 2
            }),
            "{what}"
        );
    }
    // The recording of another session under this key.
    assert!(matches!(
        walk(&file, "another").problem,
        Some(Problem::Altered { link: 1, .. })
    ));
    // Signed by a key this store does not know.
    assert!(matches!(
        verify(&file[..], "k3", &TestKey(9)).unwrap().problem,
        Some(Problem::UnknownKey { link: 1, .. })
    ));
    // A signature that does not match (the link's time changed).
    let mut resigned = file.clone();
    resigned[links[0] + 8 + 10] ^= 0x01;
    assert_eq!(
        walk(&resigned, "k3").problem,
        Some(Problem::BadSignature { link: 1 })
    );
    // Anything after the seal.
    let mut appended = file.clone();
    appended.extend_from_slice(b"more");
    assert_eq!(
        walk(&appended, "k3").problem,
        Some(Problem::AfterSeal { bytes: 4 })
    );
    // Garbage where a frame should start.
    let mut garbage = file[..after_link(&links, 0)].to_vec();
    garbage.extend_from_slice(b"not a frame at all");
    assert!(matches!(
        walk(&garbage, "k3").problem,
        Some(Problem::Damaged { frame: 2, .. })
    ));
}

#[test]
fn a_frame_header_changed_to_swallow_the_rest_never_leaves_it_sealed() {
    // Found by the recording_chain fuzz target: a flipped byte in a zstd frame's header can
    // make the decoder read every later byte (links, seal) as that frame, to the end of the
    // file. Nothing is named then, but the seal is never reached: verified up to the link
    // before, and a normally closed session is judged altered for its missing seal.
    let (file, links) = recording("k5", 3, true);
    for at in after_link(&links, 0)..after_link(&links, 0) + 12 {
        for bit in 0..8 {
            let mut changed = file.clone();
            changed[at] ^= 1 << bit;
            let w = walk(&changed, "k5");
            assert!(
                w.problem.is_some() || !w.sealed,
                "byte {at} bit {bit}: {w:?}"
            );
            assert!(w.verified_ms <= 1000 || w.problem.is_some(), "{w:?}");
        }
    }
}

#[test]
fn a_recording_without_links_is_unchained() {
    let mut c = LiveCompressor::default();
    let mut file = c.push(b"{\"version\":3}\n", 0).unwrap();
    file.extend(c.finish().unwrap());
    let w = walk(&file, "old");
    assert!(w.unchained && !w.sealed && w.problem.is_none());
}
