//! The `--pps` pacer: how many frames a worker may send now, from the time
//! since it started (passed in) and what it sent. No sleep, no clock read
//! here; the worker reads the time once per batch.

use std::time::Duration;

/// Token-bucket pacing at a fixed rate, at most one batch of catch-up: a
/// worker that stalled does not burst to make up the lost time.
#[derive(Debug, Clone)]
pub struct Pacer {
    /// Frames per second; `None`: flat out (`--max`).
    rate: Option<u64>,
    /// Frames accounted (sent, or skipped as lost catch-up).
    done: u64,
    burst: u64,
}

impl Pacer {
    pub fn new(rate: Option<u64>, burst: usize) -> Pacer {
        Pacer {
            rate,
            done: 0,
            burst: burst as u64,
        }
    }

    /// Frames due at `t` since the start, at most `burst`.
    pub fn budget(&mut self, t: Duration) -> usize {
        let Some(rate) = self.rate else {
            return self.burst as usize;
        };
        let due = (t.as_nanos() * u128::from(rate) / 1_000_000_000) as u64;
        // Behind by more than two batches or 10 ms of frames: forget the
        // backlog.
        let slack = (2 * self.burst).max(rate / 100);
        if due > self.done + slack {
            self.done = due - self.burst;
        }
        due.saturating_sub(self.done).min(self.burst) as usize
    }

    /// `n` frames went out.
    pub fn sent(&mut self, n: usize) {
        self.done += n as u64;
    }

    /// How long until the next frame is due at `t` (zero when one is).
    pub fn until_next(&self, t: Duration) -> Duration {
        self.until(t, 1)
    }

    /// How long until `n` more frames are due at `t`.
    pub fn until(&self, t: Duration, n: usize) -> Duration {
        match self.rate {
            None => Duration::ZERO,
            Some(rate) => {
                let next_ns = (u128::from(self.done + n as u64) * 1_000_000_000)
                    .div_ceil(u128::from(rate.max(1)));
                Duration::from_nanos(next_ns.saturating_sub(t.as_nanos()) as u64)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ms(n: u64) -> Duration {
        Duration::from_millis(n)
    }

    #[test]
    fn sends_the_rate_over_a_second() {
        let mut p = Pacer::new(Some(20_000), 64);
        let mut total = 0;
        for step in 0..=1000 {
            let n = p.budget(ms(step));
            p.sent(n);
            total += n;
        }
        assert_eq!(total, 20_000);
    }

    #[test]
    fn a_stall_does_not_burst() {
        let mut p = Pacer::new(Some(1000), 64);
        assert_eq!(p.budget(ms(100)), 64);
        let n = p.budget(ms(10_000));
        assert_eq!(n, 64);
        p.sent(n);
        assert_eq!(p.budget(ms(10_000)), 0);
        assert_eq!(p.budget(ms(10_001)), 1);
    }

    #[test]
    fn max_is_always_a_batch_and_never_waits() {
        let mut p = Pacer::new(None, 64);
        assert_eq!(p.budget(ms(0)), 64);
        assert_eq!(p.until_next(ms(0)), Duration::ZERO);
    }

    #[test]
    fn until_next_counts_down() {
        let mut p = Pacer::new(Some(100), 64);
        let n = p.budget(ms(0));
        assert_eq!(n, 0);
        assert_eq!(p.until_next(ms(0)), ms(10));
        assert_eq!(p.until_next(ms(4)), ms(6));
    }
}
