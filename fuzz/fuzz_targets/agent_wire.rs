//! What a wrapper (or anything that reaches the agent's socket) sends: decoding never
//! panics, however the bytes are cut; every frame decoded encodes to the bytes it came from
//! (nothing is read into a frame that was not on the wire).
#![no_main]

use libfuzzer_sys::fuzz_target;
use vigil_agent::wire::{Decoder, Frame};

fuzz_target!(|data: &[u8]| {
    let Some((&cut, stream)) = data.split_first() else {
        return;
    };
    let cut = usize::from(cut).max(1);
    let mut whole = Decoder::default();
    whole.push(stream);
    let mut frames: Vec<Frame> = Vec::new();
    while let Ok(Some(f)) = whole.next_frame() {
        frames.push(f);
    }
    // The same bytes in pieces give the same frames.
    let mut pieces = Decoder::default();
    let mut again = Vec::new();
    for chunk in stream.chunks(cut) {
        pieces.push(chunk);
        while let Ok(Some(f)) = pieces.next_frame() {
            again.push(f);
        }
    }
    assert_eq!(frames, again);
    // Binary frames re-encode exactly (JSON ones may differ in spacing).
    let mut at = 0;
    for f in &frames {
        let bytes = f.encode();
        let binary = matches!(
            f,
            Frame::Output { .. } | Frame::Input { .. } | Frame::Resize { .. } | Frame::Redacted { .. }
        );
        if binary {
            assert_eq!(&stream[at..at + bytes.len()], &bytes[..]);
            at += bytes.len();
        } else {
            break;
        }
    }
});
