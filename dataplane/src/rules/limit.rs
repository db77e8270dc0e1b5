//! `-m limit`: the kernel's token bucket (`net/netfilter/xt_limit.c`),
//! bit for bit.
//!
//! Contract:
//!
//! * The control side compiles a [`LimitRule`] from the config's
//!   [`Limit`] once ([`LimitRule::compile`]); it is immutable and lives in
//!   the snapshot. Each worker keeps one [`LimitState`] per rule (made by
//!   [`LimitRule::new_state`] when the snapshot is installed).
//! * [`LimitRule::matches`] is the per-packet call: it takes the state and
//!   the batch time in nanoseconds, reads no clock, allocates nothing,
//!   cannot panic.
//!
//! # The kernel's bucket
//!
//! Time is counted in jiffies (`HZ` ticks per second; the kernel sluice is
//! compared with runs `CONFIG_HZ=250`, read from `/proc/config.gz` on the
//! oracle machine, hence [`DEFAULT_HZ`]; take the target kernel's value when
//! exact agreement matters). Credits are a fixed-point count:
//!
//! * `CREDITS_PER_JIFFY` is the largest power of two not above
//!   `0xFFFFFFFF / (HZ * 86400)` (so that a day of credit fits in 32 bits):
//!   128 for HZ 250 and 300, 32 for HZ 1000, 256 for HZ 100.
//! * `user2credits(x) = x * HZ * CREDITS_PER_JIFFY / XT_LIMIT_SCALE`, or, when
//!   the product would not fit 32 bits, `(x / XT_LIMIT_SCALE) * HZ *
//!   CREDITS_PER_JIFFY` (the "precision saver"; 32-bit arithmetic).
//! * `cost = user2credits(avg)`, `credit_cap = user2credits(avg * burst)`;
//!   the bucket starts full (`credit = credit_cap`) when the rule is loaded.
//! * Per packet: `credit += (jiffies - prev) * CREDITS_PER_JIFFY` (the
//!   increase truncated to 32 bits, the sum wrapping in 32 bits, exactly as
//!   the kernel's `u32` fields do), `prev = jiffies`, `credit =
//!   min(credit, credit_cap)`; the packet matches when `credit >= cost`, and
//!   then pays `cost`.
//!
//! So `--limit 3/min --limit-burst 5` at HZ 250 costs 640 000 credits, refills
//! 32 000 per second and holds 3 200 000: five back-to-back packets match,
//! then one every 20 s.
//!
//! (Linux 6.18: ten back-to-back packets through that rule, five match.)
//!
//! The 32-bit wrap is kept on purpose: after an idle time whose refill is a
//! multiple of 2^32 credits (about 37.3 hours at HZ 250) the kernel's bucket
//! comes back nearly empty instead of full, and so does this one.
//!
//! # Workers
//!
//! The kernel keeps one bucket per rule, shared by every CPU. sluice keeps
//! one per rule *per worker* (no shared cache line on the fast path), so
//! with N workers a rule lets through up to N times the configured rate and
//! burst. [`LimitSharing::Divided`] compiles each worker's bucket for
//! `--limit rate/N --limit-burst ceil(burst/N)` instead, which keeps the
//! aggregate at the configured rate when traffic spreads evenly over the
//! workers (and is stricter than the kernel when it does not).
//!
//! Sub-jiffy phase: the kernel's jiffies tick at boot-relative instants;
//! here `jiffies = floor(now_ns * HZ / 10^9)`. Two packets one tick apart
//! may fall in the same jiffy in one and in consecutive jiffies in the
//! other, which can move a match by one jiffy (4 ms at HZ 250).

use sluice_config::iptables::ext::limit::{Limit, XT_LIMIT_SCALE};

/// The tick rate of the kernel sluice is compared with (`CONFIG_HZ=250`).
pub const DEFAULT_HZ: u32 = 250;

/// Largest HZ for which a day of credits still fits 32 bits with at least one
/// credit per jiffy (`0xFFFFFFFF / (HZ * 86400) >= 1`).
pub const MAX_HZ: u32 = 49_710;

const NANOS_PER_SEC: u64 = 1_000_000_000;

/// Why a limit cannot be compiled (control side).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum LimitError {
    /// HZ must be in `1..=MAX_HZ`.
    #[error("HZ {0} is not a usable kernel tick rate (1..={MAX_HZ})")]
    BadHz(u32),
    /// The kernel's `limit_mt_check` refuses it (`-ERANGE`).
    #[error("the kernel refuses rate and burst {avg}/{burst} (\"Overflow, try lower\")")]
    Overflow { avg: u32, burst: u32 },
    /// [`LimitSharing::Divided`] among no workers.
    #[error("a limit cannot be divided among 0 workers")]
    NoWorkers,
}

/// How a rule's bucket is spread over the workers (see the module docs).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum LimitSharing {
    /// Every worker runs the kernel's bucket as configured: the aggregate
    /// may reach N times the rate and burst.
    #[default]
    PerWorker,
    /// Each worker runs `--limit rate/workers --limit-burst
    /// ceil(burst/workers)`.
    Divided { workers: u32 },
}

/// Converts a time in nanoseconds to jiffies at a given HZ.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct JiffyClock {
    hz: u32,
    /// `10^9 / HZ` when it divides exactly (HZ 100, 250, 1000, ...).
    ns_per_jiffy: Option<u64>,
}

impl JiffyClock {
    pub fn new(hz: u32) -> Result<JiffyClock, LimitError> {
        if hz == 0 || hz > MAX_HZ {
            return Err(LimitError::BadHz(hz));
        }
        let hz64 = u64::from(hz);
        let d = NANOS_PER_SEC / hz64;
        Ok(JiffyClock {
            hz,
            ns_per_jiffy: (d * hz64 == NANOS_PER_SEC).then_some(d),
        })
    }

    pub fn hz(&self) -> u32 {
        self.hz
    }

    /// `floor(now_ns * HZ / 10^9)`.
    #[inline]
    pub fn jiffies(&self, now_ns: u64) -> u64 {
        match self.ns_per_jiffy {
            Some(d) => now_ns / d,
            None => (u128::from(now_ns) * u128::from(self.hz) / u128::from(NANOS_PER_SEC)) as u64,
        }
    }
}

impl Default for JiffyClock {
    fn default() -> JiffyClock {
        JiffyClock {
            hz: DEFAULT_HZ,
            ns_per_jiffy: Some(NANOS_PER_SEC / u64::from(DEFAULT_HZ)),
        }
    }
}

/// `CREDITS_PER_JIFFY`: the largest power of two `<= 0xFFFFFFFF / (HZ *
/// 86400)` (`POW2_BELOW32(MAX_CPJ)`). `hz` must be in `1..=MAX_HZ`.
pub fn credits_per_jiffy(hz: u32) -> u32 {
    let max_cpj = u32::MAX / (hz * 60 * 60 * 24);
    1 << (31 - max_cpj.leading_zeros())
}

/// The kernel's `user2credits` at `hz`, in its 32-bit arithmetic.
pub fn user2credits(user: u32, hz: u32) -> u32 {
    let hz_cpj = hz * credits_per_jiffy(hz);
    if user > u32::MAX / hz_cpj {
        (user / XT_LIMIT_SCALE).wrapping_mul(hz_cpj)
    } else {
        user * hz_cpj / XT_LIMIT_SCALE
    }
}

/// A compiled `-m limit`: the constants of the kernel's bucket.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LimitRule {
    clock: JiffyClock,
    credits_per_jiffy: u32,
    credit_cap: u32,
    cost: u32,
}

/// One worker's bucket for one rule.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LimitState {
    /// Credits in the bucket.
    pub credit: u32,
    /// Jiffies at the last refill.
    pub prev: u64,
}

impl LimitRule {
    /// Compiles `-m limit` as the kernel's `limit_mt_check` does, for the
    /// given HZ and spread over workers as `sharing` says.
    pub fn compile(cfg: &Limit, hz: u32, sharing: LimitSharing) -> Result<LimitRule, LimitError> {
        LimitRule::new(cfg.avg, cfg.burst, hz, sharing)
    }

    /// From the kernel's `xt_rateinfo` fields: `avg` in 1/10000 s between
    /// matches, `burst` matches.
    pub fn new(
        avg: u32,
        burst: u32,
        hz: u32,
        sharing: LimitSharing,
    ) -> Result<LimitRule, LimitError> {
        let clock = JiffyClock::new(hz)?;
        let (avg, burst) = match sharing {
            LimitSharing::PerWorker => (avg, burst),
            LimitSharing::Divided { workers: 0 } => return Err(LimitError::NoWorkers),
            LimitSharing::Divided { workers } => (
                avg.checked_mul(workers)
                    .ok_or(LimitError::Overflow { avg, burst })?,
                burst.div_ceil(workers),
            ),
        };
        // limit_mt_check: a zero burst, or a bucket whose size overflows
        // (the product wraps in 32 bits), is refused.
        if burst == 0 || user2credits(avg.wrapping_mul(burst), hz) < user2credits(avg, hz) {
            return Err(LimitError::Overflow { avg, burst });
        }
        Ok(LimitRule {
            clock,
            credits_per_jiffy: credits_per_jiffy(hz),
            credit_cap: user2credits(avg.wrapping_mul(burst), hz),
            cost: user2credits(avg, hz),
        })
    }

    /// A full bucket, as the kernel makes it when the rule is loaded at
    /// `now_ns`.
    pub fn new_state(&self, now_ns: u64) -> LimitState {
        LimitState {
            credit: self.credit_cap,
            prev: self.clock.jiffies(now_ns),
        }
    }

    /// Credits one match costs.
    pub fn cost(&self) -> u32 {
        self.cost
    }

    /// Credits the bucket holds at most.
    pub fn credit_cap(&self) -> u32 {
        self.credit_cap
    }

    pub fn credits_per_jiffy(&self) -> u32 {
        self.credits_per_jiffy
    }

    pub fn clock(&self) -> JiffyClock {
        self.clock
    }

    /// `limit_mt`: refills the bucket up to `now_ns` and takes one match's
    /// cost if it holds that much. A clock that goes backwards adds no
    /// credit (the kernel's jiffies never do).
    #[inline]
    pub fn matches(&self, state: &mut LimitState, now_ns: u64) -> bool {
        let now = self.clock.jiffies(now_ns);
        // The kernel's fast path: nothing to refill and not enough credit.
        if state.credit < self.cost && state.prev == now {
            return false;
        }
        let elapsed = now.saturating_sub(state.prev);
        state.prev = state.prev.max(now);
        let increase = elapsed.wrapping_mul(u64::from(self.credits_per_jiffy)) as u32;
        let credit = state.credit.wrapping_add(increase).min(self.credit_cap);
        if credit >= self.cost {
            state.credit = credit - self.cost;
            true
        } else {
            state.credit = credit;
            false
        }
    }
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use sluice_config::iptables::{parse, Match, TableKind};

    use super::*;

    const SEC: u64 = 1_000_000_000;
    const MS: u64 = 1_000_000;
    /// A start time well away from zero, as a monotonic clock would be.
    const T0: u64 = 1_000 * SEC;

    fn limit_of(rule: &str) -> Limit {
        let rs = parse(
            &format!("*filter\n-A INPUT {rule}\nCOMMIT\n"),
            Path::new("t"),
        )
        .expect("parses");
        let r = &rs
            .table(TableKind::Filter)
            .unwrap()
            .chain("INPUT")
            .unwrap()
            .rules[0];
        match &r.matches[0] {
            Match::Limit(l) => l.clone(),
            other => panic!("not limit: {other:?}"),
        }
    }

    /// Times (ns) at which packets arrive → which ones match.
    fn run(rule: &LimitRule, start: u64, times: &[u64]) -> Vec<bool> {
        let mut st = rule.new_state(start);
        times.iter().map(|&t| rule.matches(&mut st, t)).collect()
    }

    #[test]
    fn credits_per_jiffy_for_common_hz() {
        assert_eq!(credits_per_jiffy(100), 256);
        assert_eq!(credits_per_jiffy(250), 128);
        assert_eq!(credits_per_jiffy(300), 128);
        assert_eq!(credits_per_jiffy(1000), 32);
        assert_eq!(credits_per_jiffy(MAX_HZ), 1);
        assert_eq!(JiffyClock::new(0), Err(LimitError::BadHz(0)));
        assert_eq!(
            JiffyClock::new(MAX_HZ + 1),
            Err(LimitError::BadHz(MAX_HZ + 1))
        );
    }

    #[test]
    fn user2credits_both_branches() {
        // 3/min: avg 200000 > 0xFFFFFFFF / 32000 = 134217: divide first.
        assert_eq!(user2credits(200_000, 250), 640_000);
        assert_eq!(user2credits(1_000_000, 250), 3_200_000);
        // 1/sec: multiply first, exact.
        assert_eq!(user2credits(10_000, 250), 32_000);
        // 7/hour: divide first truncates (5142857 / 10000 = 514).
        assert_eq!(user2credits(5_142_857, 250), 514 * 32_000);
        // 3/sec at HZ 1000: 3333 * 32000 / 10000 = 10665 (truncated).
        assert_eq!(user2credits(3333, 1000), 10_665);
    }

    #[test]
    fn three_per_minute_burst_five() {
        let l = limit_of("-m limit --limit 3/min --limit-burst 5");
        let rule = LimitRule::compile(&l, 250, LimitSharing::PerWorker).unwrap();
        assert_eq!((rule.cost(), rule.credit_cap()), (640_000, 3_200_000));
        // Ten packets back to back: the burst of five, then nothing.
        let times: Vec<u64> = (0..10).map(|i| T0 + i * MS).collect();
        assert_eq!(
            run(&rule, T0, &times),
            [true, true, true, true, true, false, false, false, false, false]
        );
        // Then one packet per second: every 20 s exactly one matches.
        let mut st = rule.new_state(T0);
        for i in 0..5 {
            assert!(rule.matches(&mut st, T0 + i));
        }
        let mut matched = Vec::new();
        for s in 1..=60 {
            if rule.matches(&mut st, T0 + s * SEC) {
                matched.push(s);
            }
        }
        assert_eq!(matched, [20, 40, 60]);
    }

    #[test]
    fn refill_is_per_jiffy_and_capped() {
        // 1/sec burst 1 at HZ 250: cost 32000 = 250 jiffies of 128 credits.
        let rule = LimitRule::new(10_000, 1, 250, LimitSharing::PerWorker).unwrap();
        let mut st = rule.new_state(T0);
        assert!(rule.matches(&mut st, T0));
        assert!(!rule.matches(&mut st, T0 + 996 * MS)); // 249 jiffies
        assert!(rule.matches(&mut st, T0 + 1000 * MS)); // 250 jiffies
                                                        // A long pause refills only up to the cap (one packet's worth).
        assert!(rule.matches(&mut st, T0 + 100 * SEC));
        assert!(!rule.matches(&mut st, T0 + 100 * SEC + MS));
        // The kernel's fast path keeps `prev` when nothing can match.
        let before = st;
        assert!(!rule.matches(&mut st, T0 + 100 * SEC + 2 * MS));
        assert_eq!(st, before);
    }

    #[test]
    fn default_limit_is_three_per_hour_burst_five() {
        let l = limit_of("-m limit");
        let rule = LimitRule::compile(&l, 250, LimitSharing::PerWorker).unwrap();
        let mut st = rule.new_state(T0);
        let hits: Vec<bool> = (0..7)
            .map(|i| rule.matches(&mut st, T0 + i * SEC))
            .collect();
        assert_eq!(hits, [true, true, true, true, true, false, false]);
        // 20 minutes after the burst started, one more.
        assert!(!rule.matches(&mut st, T0 + 1199 * SEC));
        assert!(rule.matches(&mut st, T0 + 1200 * SEC));
    }

    #[test]
    fn hz_changes_rounding_not_rate() {
        // 3/sec: avg 3333 → at HZ 1000 cost 10665, refill 32/jiffy → a match
        // every 333.28 jiffies, i.e. the 4th packet of a 1 ms train after
        // the burst drains comes at 334 ms.
        let rule = LimitRule::new(3333, 1, 1000, LimitSharing::PerWorker).unwrap();
        let mut st = rule.new_state(T0);
        assert!(rule.matches(&mut st, T0));
        let next = (1..1000u64)
            .find(|ms| rule.matches(&mut st, T0 + ms * MS))
            .unwrap();
        assert_eq!(next, 334);
        // At HZ 300 (ns per jiffy not an integer) the clock still converts.
        let c = JiffyClock::new(300).unwrap();
        assert_eq!(c.jiffies(SEC), 300);
        assert_eq!(c.jiffies(SEC - 1), 299);
    }

    #[test]
    fn credit_wraps_in_32_bits_like_the_kernel() {
        // 1/day burst 1 at HZ 250: cost 86400 * 32000 = 2 764 800 000.
        let rule = LimitRule::new(10_000 * 86_400, 1, 250, LimitSharing::PerWorker).unwrap();
        assert_eq!(rule.cost(), 2_764_800_000);
        let mut st = rule.new_state(T0);
        assert!(rule.matches(&mut st, T0));
        assert_eq!(st.credit, 0);
        // 2^32 / 128 jiffies later the refill is exactly 2^32: it wraps to 0.
        let wrap = (1u64 << 32) / 128;
        assert!(!rule.matches(&mut st, T0 + wrap * 4 * MS));
        assert_eq!(st.credit, 0);
        // A day later (no wrap) it matches again.
        assert!(rule.matches(&mut st, T0 + wrap * 4 * MS + 86_400 * SEC));
    }

    #[test]
    fn overflow_refusals_match_the_kernel() {
        assert_eq!(
            LimitRule::new(10_000, 0, 250, LimitSharing::PerWorker),
            Err(LimitError::Overflow {
                avg: 10_000,
                burst: 0
            })
        );
        // 1/day burst 10000: avg * burst wraps.
        assert!(matches!(
            LimitRule::new(864_000_000, 10_000, 250, LimitSharing::PerWorker),
            Err(LimitError::Overflow { .. })
        ));
        assert_eq!(
            LimitRule::new(10_000, 5, 250, LimitSharing::Divided { workers: 0 }),
            Err(LimitError::NoWorkers)
        );
    }

    #[test]
    fn divided_among_workers_keeps_the_aggregate() {
        // 10/sec burst 5 over 4 workers: each worker 2.5/sec burst 2.
        let whole = LimitRule::new(1_000, 5, 250, LimitSharing::PerWorker).unwrap();
        let part = LimitRule::new(1_000, 5, 250, LimitSharing::Divided { workers: 4 }).unwrap();
        assert_eq!(part.cost(), whole.cost() * 4);
        assert_eq!(part.credit_cap(), part.cost() * 2);
        // Over 10 s of a 1 ms packet train on each of 4 workers, the sum of
        // matches is the configured rate (plus the bursts).
        let mut states: Vec<LimitState> = (0..4).map(|_| part.new_state(T0)).collect();
        let mut total = 0;
        for ms in 0..10_000u64 {
            for st in &mut states {
                total += part.matches(st, T0 + ms * MS) as u32;
            }
        }
        // 4 workers * burst 2 + 10 s * 10/s (minus the last partial period).
        assert!((104..=108).contains(&total), "{total}");
        let mut st = whole.new_state(T0);
        let single: u32 = (0..10_000u64)
            .map(|ms| whole.matches(&mut st, T0 + ms * MS) as u32)
            .sum();
        assert!((104..=105).contains(&single), "{single}");
    }

    #[test]
    fn clock_going_backwards_adds_nothing() {
        let rule = LimitRule::new(10_000, 1, 250, LimitSharing::PerWorker).unwrap();
        let mut st = rule.new_state(T0);
        assert!(rule.matches(&mut st, T0));
        assert!(!rule.matches(&mut st, T0 - 10 * SEC));
        assert!(!rule.matches(&mut st, T0 + 500 * MS));
        assert!(rule.matches(&mut st, T0 + SEC));
    }
}
