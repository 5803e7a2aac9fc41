//! The recording verifier reads stored files that anyone with the disk may have changed:
//! walking arbitrary bytes never panics; a recording built from the input (its chunks
//! flushed and linked, then sealed) verifies intact; and flipping any one of its bytes is
//! always found (every byte is in a hashed segment, a signed link field or a frame's framing).
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
    let mut file = Vec::new();
    for chunk in text.chunks(97) {
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
        walk.problem.is_some(),
        "byte {at} of {} changed unnoticed: {walk:?}",
        file.len()
    );
});
