//! The recording verifier reads stored files that anyone with the disk may have changed:
//! walking arbitrary bytes never panics; a recording built from the input as the node writes
//! it (a first link, then its chunks flushed and linked, then sealed) verifies sealed; and
//! with any one of its bytes flipped it never does: either a problem is named, or the seal is
//! not reached (a flip in a frame's header can make the decoder swallow what follows, links
//! and seal included: the recording then verifies only up to the link before, and a session
//! that closed normally is judged altered for its missing seal).
#![no_main]

use libfuzzer_sys::fuzz_target;
use vigil_record::LiveCompressor;
use vigil_record::chain::{Chain, KeyCheck, LinkKeys, LinkKind, LinkSigner, verify};

/// A stand-in key: "signs" with a keyed checksum (the real one is the node's Ed25519 key).
struct Key;

fn tag(message: &[u8]) -> [u8; 64] {
    let mut s = [0u8; 64];
    for (i, b) in message.iter().enumerate() {
        s[i % 64] = s[i % 64].wrapping_mul(31).wrapping_add(*b);
    }
    s
}

impl LinkSigner for Key {
    fn public(&self) -> [u8; 32] {
        [7; 32]
    }
    fn sign(&self, message: &[u8]) -> [u8; 64] {
        tag(message)
    }
}

impl LinkKeys for Key {
    fn check(&self, signer: &[u8; 32], message: &[u8], signature: &[u8; 64]) -> KeyCheck {
        match (*signer == [7; 32], tag(message) == *signature) {
            (false, _) => KeyCheck::Unknown,
            (true, true) => KeyCheck::Valid,
            (true, false) => KeyCheck::Invalid,
        }
    }
}

fuzz_target!(|data: &[u8]| {
    let _ = verify(data, "fuzz", &Key);
    let Some((&flip, text)) = data.split_first() else {
        return;
    };
    let mut chain = Chain::new("fuzz");
    let mut c = LiveCompressor::default();
    let mut file = chain.link(LinkKind::Link, 0, &Key);
    // At most about eight flushes per input: each starts a zstd context (over a megabyte,
    // costly under the address sanitizer), and eight links cover what a walk can meet between
    // links as well as forty.
    for chunk in text.chunks(97.max(text.len().div_ceil(8))) {
        let mut bytes = c.push(chunk, 0).unwrap_or_default();
        bytes.extend(c.flush().unwrap_or_default());
        chain.absorb(&bytes);
        file.extend(bytes);
        file.extend(chain.link(LinkKind::Link, file.len() as u64, &Key));
    }
    let end = c.finish().unwrap_or_default();
    chain.absorb(&end);
    file.extend(end);
    file.extend(chain.link(LinkKind::Seal, 0, &Key));
    let walk = verify(&file[..], "fuzz", &Key).expect("in memory");
    assert!(walk.sealed && walk.problem.is_none(), "{walk:?}");
    let at = usize::from(flip) * file.len() / 256;
    let mut changed = file.clone();
    changed[at] ^= 0x01 | flip;
    let walk = verify(&changed[..], "fuzz", &Key).expect("in memory");
    assert!(
        walk.problem.is_some() || !walk.sealed,
        "byte {at} of {} changed unnoticed: {walk:?}",
        file.len()
    );
});
