//! Any target output, in any chunking, through the shell query's scanner: no panic; the same
//! replies and the same bytes shown as when it comes in one piece; and a message with another
//! nonce is never taken for ours.
#![no_main]

use libfuzzer_sys::fuzz_target;
use vigil_audit::query::{Replies, Reply};

fuzz_target!(|data: &[u8]| {
    let (setup, data) = match data.split_first() {
        Some((first, rest)) => (first & 1 == 1, rest),
        None => (false, data),
    };
    let run = |chunks: &[&[u8]]| {
        let mut r = Replies::new("n0nce");
        if setup {
            r.expect_setup();
        }
        let mut shown = Vec::new();
        let mut replies: Vec<Reply> = Vec::new();
        for c in chunks {
            let s = r.feed(c);
            shown.extend(s.show);
            replies.extend(s.replies);
        }
        // What is still held (a message cut at the end, a setup never answered).
        let tail = r.feed(b"\x07");
        shown.extend(tail.show);
        replies.extend(tail.replies);
        shown.extend(r.give_up_setup());
        (shown, replies)
    };
    let whole = run(&[data]);
    let chunks: Vec<&[u8]> = data.split(|b| *b == 0xfe).collect();
    let joined: Vec<u8> = chunks.concat();
    let one = run(&[&joined]);
    let many = run(&chunks);
    assert_eq!(one, many, "chunking changed the result");
    let _ = whole;
    // Nothing with another nonce is ours.
    let mut r = Replies::new("other-nonce-that-is-long");
    let s = r.feed(data);
    assert!(s.replies.is_empty() || data.windows(24).any(|w| w == b"other-nonce-that-is-long"));
});
