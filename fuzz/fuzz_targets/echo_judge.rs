//! Any interleaving of typed input, output and clock ticks: every typed chunk comes out once,
//! in order, as typed bytes or a redaction of the same length; nothing panics.
#![no_main]

use std::time::Duration;

use bytes::Bytes;
use libfuzzer_sys::fuzz_target;
use vigil_session::{EchoJudge, Verdict};

fuzz_target!(|data: &[u8]| {
    let mut judge = EchoJudge::default();
    let mut typed = Vec::new();
    let mut verdicts = Vec::new();
    let mut now = Duration::ZERO;
    // Each step: an opcode byte, a length byte, then that many bytes.
    let mut rest = data;
    while let [op, len, tail @ ..] = rest {
        let n = usize::from(*len).min(tail.len());
        let (chunk, next) = tail.split_at(n);
        rest = next;
        now += Duration::from_millis(u64::from(*op >> 2));
        match op & 3 {
            0 => {
                typed.push((now, chunk.to_vec()));
                verdicts.extend(judge.input(now, Bytes::copy_from_slice(chunk)));
            }
            1 | 2 => verdicts.extend(judge.output(chunk)),
            _ => verdicts.extend(judge.tick(now)),
        }
    }
    verdicts.extend(judge.finish());
    assert_eq!(verdicts.len(), typed.len());
    for (v, (at, bytes)) in verdicts.iter().zip(&typed) {
        match v {
            Verdict::Typed(t, b) => assert!(t == at && b[..] == bytes[..]),
            Verdict::Redacted(t, n) => assert!(t == at && *n == bytes.len()),
        }
    }
});
