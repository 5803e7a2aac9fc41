//! Any chunks of output and input, written and read back: the recording is lossless. An op
//! with bit 1 set makes its chunk large, the size the writer judges by its two ends (4 KiB and
//! more): the piece's first half 64 times, its second half 16 times, the first half 64 times
//! again (binary ends with text between, text ends with binary between, or all one kind).
#![no_main]

use std::time::Duration;

use libfuzzer_sys::fuzz_target;
use vigil_record::{CastWriter, Header, read_cast};

fuzz_target!(|data: &[u8]| {
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
    let (mut out, mut inp) = (Vec::new(), Vec::new());
    let mut rest = data;
    let mut at = Duration::ZERO;
    while let [op, len, tail @ ..] = rest {
        let n = usize::from(*len).min(tail.len());
        let (piece, next) = tail.split_at(n);
        rest = next;
        let chunk = if op & 2 == 0 {
            piece.to_vec()
        } else {
            let (ends, middle) = piece.split_at(piece.len() / 2);
            [ends.repeat(64), middle.repeat(16), ends.repeat(64)].concat()
        };
        let chunk = &chunk[..];
        at += Duration::from_millis(u64::from(*op >> 2));
        if op & 1 == 0 {
            out.extend_from_slice(chunk);
            w.output(at, chunk).unwrap();
        } else {
            inp.extend_from_slice(chunk);
            w.input(at, chunk).unwrap();
        }
    }
    w.finish(at).unwrap();
    let cast = read_cast(&w.into_inner()[..]).unwrap();
    assert_eq!(cast.output_bytes(), out);
    assert_eq!(cast.input_bytes(), inp);
});
