//! Any bytes through the output-only filter: no panic, and on a recording the writer made,
//! the output is exact and no input is left.
#![no_main]

use std::io::Read;
use std::time::Duration;

use libfuzzer_sys::fuzz_target;
use vigil_record::{CastWriter, Header, OutputOnly, read_cast};

fuzz_target!(|data: &[u8]| {
    // Arbitrary text: the filter never panics and never invents bytes.
    let mut filtered = Vec::new();
    let _ = OutputOnly::new(data).read_to_end(&mut filtered);
    // A real recording made from the same bytes.
    let header = Header {
        cols: 80,
        rows: 24,
        term_type: None,
        timestamp: 0,
        title: None,
        command: None,
    };
    let Ok(mut w) = CastWriter::new(Vec::new(), &header) else {
        return;
    };
    let mut out = Vec::new();
    for (i, chunk) in data.chunks(37).enumerate() {
        let at = Duration::from_millis(i as u64 * 3);
        if chunk.first().is_some_and(|b| b & 1 == 0) {
            out.extend_from_slice(chunk);
            w.output(at, chunk).unwrap();
        } else {
            w.input(at, chunk).unwrap();
        }
    }
    w.finish(Duration::from_secs(1)).unwrap();
    let cast = w.into_inner();
    let mut only = Vec::new();
    OutputOnly::new(&cast[..]).read_to_end(&mut only).unwrap();
    let back = read_cast(&only[..]).unwrap();
    assert_eq!(back.output_bytes(), out);
    assert!(back.input_bytes().is_empty());
});
