//! Any bytes as an SCP source's stream, in any chunking: no panic, the same events (file
//! bodies joined) and the same refusal as when the stream comes in one piece, and a body is
//! never longer than its file's size.
#![no_main]

use libfuzzer_sys::fuzz_target;
use vigil_transfer::scp::{ScpEvent, ScpSource};

fn run(chunks: &[&[u8]]) -> (Vec<ScpEvent>, bool) {
    let mut p = ScpSource::new();
    let mut events = Vec::new();
    let mut failed = false;
    for c in chunks {
        if p.feed(c, &mut events).is_err() {
            failed = true;
            break;
        }
    }
    let mut out: Vec<ScpEvent> = Vec::new();
    for e in events {
        match (out.last_mut(), e) {
            (Some(ScpEvent::Data(a)), ScpEvent::Data(b)) => a.extend(b),
            (_, e) => out.push(e),
        }
    }
    (out, failed)
}

fuzz_target!(|data: &[u8]| {
    let chunks: Vec<&[u8]> = data.split(|b| *b == 0xfe).collect();
    let joined = chunks.concat();
    let one = run(&[&joined]);
    let many = run(&chunks);
    assert_eq!(one, many, "chunking changed the result");
    let mut size = None;
    for e in &one.0 {
        match e {
            ScpEvent::File { size: s, .. } => size = Some(*s),
            ScpEvent::Data(d) => assert!(Some(d.len() as u64) <= size, "a body longer than its file"),
            _ => {}
        }
    }
});
