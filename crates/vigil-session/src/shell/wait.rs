//! How long an Enter waits for the shell's answer: learnt from the round trips this channel
//! has seen (the setup's answer and every query's, late ones included), the way TCP learns
//! its retransmission timeout (RFC 6298: smoothed round trip plus four times its variation),
//! never below [`FLOOR`] nor above [`CEILING`]; a line its keys cannot read waits the ceiling.
//!
//! The round trip is the gateway's to the target's shell and back through SSH, not a
//! round trip inside the target host: a distant target or a loaded node (a busy gateway, a
//! busy target) stretches it. A fixed wait shorter than that would let the typed keys decide
//! lines bash could have read exactly, and refuse lines edited after a cancel that bash would
//! have answered. What waiting costs is bounded: bash at its own prompt answers; a channel
//! that misses a few queries in a row stops asking (`ask.rs`).
//!
//! What it is not: a clock. It is given the durations; it does not measure them.

use std::time::Duration;

/// The least an Enter waits for an answer: a loaded node on a near target answers well
/// inside it.
pub(super) const FLOOR: Duration = Duration::from_secs(1);

/// The most an Enter waits: beyond it the operator waits for nothing a person would accept.
pub(super) const CEILING: Duration = Duration::from_secs(5);

/// The round trips seen so far on one channel.
#[derive(Debug, Clone, Copy, Default)]
pub(super) struct AnswerWait {
    /// Smoothed round trip and its mean deviation; none until the first sample.
    smoothed: Option<(Duration, Duration)>,
}

impl AnswerWait {
    /// Takes one round trip into account.
    pub(super) fn sample(&mut self, rtt: Duration) {
        self.smoothed = Some(match self.smoothed {
            None => (rtt, rtt / 2),
            Some((srtt, var)) => {
                let deviation = srtt.abs_diff(rtt);
                // The weights RFC 6298 gives: 1/4 for the variation, 1/8 for the mean.
                (srtt * 7 / 8 + rtt / 8, var * 3 / 4 + deviation / 4)
            }
        });
    }

    /// How long the answer for a line is waited for. A line its keys cannot read (`exact`
    /// false) is refused, or let run unread, when bash does not answer: it waits the
    /// ceiling, since waiting costs only time where the learnt wait would let a slow
    /// completion or a loaded target decide it unread.
    pub(super) fn wait_for(&self, exact: bool) -> Duration {
        if exact { self.wait() } else { CEILING }
    }

    /// How long the next answer is waited for.
    pub(super) fn wait(&self) -> Duration {
        let learnt = match self.smoothed {
            None => FLOOR,
            Some((srtt, var)) => srtt.saturating_add(var.saturating_mul(4)),
        };
        learnt.clamp(FLOOR, CEILING)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ms(n: u64) -> Duration {
        Duration::from_millis(n)
    }

    #[test]
    fn waits_follow_the_round_trips_within_bounds() {
        // (round trips seen, expected wait)
        let cases: &[(&[u64], u64)] = &[
            (&[], 1000),
            // A near target: the floor.
            (&[1, 1, 2, 1], 1000),
            // A first slow answer: three times it (the variation starts at half).
            (&[400], 1200),
            // A distant target, steady: its round trip plus little.
            (&[700; 40], 1000),
            (&[900; 40], 1000),
            // Steady but farther than the floor.
            (&[1500; 40], 1500),
            // Very slow: the ceiling.
            (&[4000], 5000),
        ];
        for (samples, want) in cases {
            let mut w = AnswerWait::default();
            for s in *samples {
                w.sample(ms(*s));
            }
            let got = w.wait().as_millis() as u64;
            // Steady samples converge; allow the last millisecond of integer rounding.
            assert!(
                got.abs_diff(*want) <= 2,
                "{samples:?}: {got} ms, want {want}"
            );
        }
    }

    #[test]
    fn a_spike_widens_the_wait_and_it_narrows_again() {
        let mut w = AnswerWait::default();
        for _ in 0..20 {
            w.sample(ms(200));
        }
        assert_eq!(w.wait(), FLOOR);
        w.sample(ms(1800));
        let widened = w.wait();
        assert!(widened > FLOOR, "{widened:?}");
        for _ in 0..40 {
            w.sample(ms(200));
        }
        assert_eq!(w.wait(), FLOOR);
    }

    proptest::proptest! {
        #[test]
        fn the_wait_is_always_within_bounds(samples in proptest::collection::vec(0u64..120_000, 0..50)) {
            let mut w = AnswerWait::default();
            for s in samples {
                w.sample(ms(s));
                proptest::prop_assert!(w.wait() >= FLOOR && w.wait() <= CEILING);
            }
        }
    }
}
