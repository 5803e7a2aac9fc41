//! Any bytes as a stored recording (decoded asciicast, as anyone with the disk may have left
//! it), read every way the node reads one: the whole parse (`read_cast`: export, the CLI),
//! the merge of two tracks, the markers list and a seek (the console's player), cold and then
//! with the keyframes the first seek left. No panic; an error is an answer. A seek with the
//! index warm lands at the same moment, size and next event as a cold one.
#![no_main]

use std::time::Duration;

use libfuzzer_sys::fuzz_target;
use vigil_record::{SeekIndex, markers, merge_casts, read_cast, seek};

fuzz_target!(|data: &[u8]| {
    let Some((&knob, cast)) = data.split_first() else {
        return;
    };
    if let Ok(parsed) = read_cast(cast) {
        let _ = parsed.output_bytes();
        let _ = parsed.input_bytes();
    }
    let _ = markers(cast);
    let mut merged = Vec::new();
    let half = cast.len() / 2;
    let _ = merge_casts(&cast[..half], &cast[half..], &mut merged);
    let at = Duration::from_millis(u64::from(knob) * 40);
    let mut index = SeekIndex::with_spacing(u64::from(knob >> 4) * 16);
    let cold = seek(&mut &cast[..], &mut index, at);
    let warm = seek(&mut &cast[..], &mut index, at);
    if let (Ok(cold), Ok(warm)) = (cold, warm) {
        assert_eq!(
            (cold.at, cold.cols, cold.rows, &cold.next),
            (warm.at, warm.cols, warm.rows, &warm.next)
        );
    }
});
