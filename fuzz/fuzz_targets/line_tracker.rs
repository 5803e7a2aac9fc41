//! Any keys and any output, in any chunking: no panic, and a line submitted after a Ctrl-C
//! is exactly what was typed after it (nothing typed before a Ctrl-C leaks into a line).
#![no_main]

use libfuzzer_sys::fuzz_target;
use vigil_audit::line::{LineTracker, Submitted};

fuzz_target!(|data: &[u8]| {
    let mut t = LineTracker::new();
    // Alternate input and output chunks, split at 0xff bytes.
    for (i, chunk) in data.split(|b| *b == 0xff).enumerate() {
        if i % 2 == 0 {
            let _ = t.input(chunk);
        } else {
            t.output(chunk);
        }
    }
    // Leave any escape sequence or paste, abandon the line, then type a plain one.
    t.output(b"\x1b[?1049l");
    let _ = t.input(b"\x1b[201~x\x03");
    let got = t.input(b"echo fresh\r");
    match got.last().map(|s| &s.what) {
        Some(Submitted::Line { text, .. }) => assert_eq!(text, "echo fresh"),
        other => panic!("{other:?}"),
    }
});
