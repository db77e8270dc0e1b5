//! `-m statistic`: a random share of packets, or every n-th packet
//! (`net/netfilter/xt_statistic.c`).
//!
//! Contract: the control side compiles a [`StatisticRule`] from the config's
//! [`Statistic`]; each worker keeps one [`StatisticState`] per rule and one
//! [`Prng`] (seeded by the control side, e.g. from the worker index and a
//! boot-time random value). [`StatisticRule::matches`] is the per-packet
//! call: no allocation, no clock, no syscall.
//!
//! # Kernel behaviour reproduced
//!
//! * `--mode random --probability P`: the config keeps `probability =
//!   lround(P * 2^31)`; a packet matches when `(random_u32 & 0x7FFFFFFF) <
//!   probability` — so P = 1 (2^31) always matches and P = 0 never does.
//! * `--mode nth --every N --packet P`: the kernel stores `every = N - 1`
//!   and starts a counter at `N - 1 - P`; for each packet it computes `next
//!   = (count == every) ? 0 : count + 1`, stores it, and the packet matches
//!   when `next == 0`. Numbering packets from 0, packet `i` matches exactly
//!   when `i % N == P` (`--every 3 --packet 0`: packets 0, 3, 6, ... — the
//!   1st, 4th, 7th).
//! * `!` inverts either mode.
//!
//! Checked against Linux 6.18: `--every 3 --packet 0` matched the 1st, 4th
//! and 7th packets, `--packet 2` the 3rd and 6th.
//!
//! Differences from the kernel: its nth counter is one atomic per rule shared
//! by every CPU; here each worker counts its own packets, so with N workers
//! "every n-th" holds per worker (the aggregate share is still 1/N when
//! traffic spreads evenly, but which packets match depends on the spread).
//! The random source is a per-worker wyrand generator instead of the
//! kernel's `get_random_u32()`: the same distribution, not the same
//! sequence.

use sluice_config::iptables::ext::statistic::{Statistic, StatisticMode};

/// A small, fast, per-worker pseudo-random generator (wyrand). Not for
/// anything secret.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Prng {
    state: u64,
}

impl Prng {
    pub fn new(seed: u64) -> Prng {
        Prng { state: seed }
    }

    #[inline]
    pub fn next_u64(&mut self) -> u64 {
        self.state = self.state.wrapping_add(0xa076_1d64_78bd_642f);
        let t = u128::from(self.state) * u128::from(self.state ^ 0xe703_7ed1_a0b4_28db);
        ((t >> 64) ^ t) as u64
    }

    #[inline]
    pub fn next_u32(&mut self) -> u32 {
        (self.next_u64() >> 32) as u32
    }
}

/// Why a statistic match cannot be compiled.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum StatisticError {
    /// The config parser never produces this.
    #[error("-m statistic without a mode")]
    NoMode,
    /// `--every 0` or `--packet` not below `--every` (the parser refuses it).
    #[error("--every {every} --packet {packet} is not a valid nth setting")]
    BadNth { every: u32, packet: u32 },
}

/// A compiled `-m statistic`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StatisticRule {
    Random {
        /// `lround(P * 2^31)`, 0..=2^31.
        probability: u32,
        invert: bool,
    },
    Nth {
        /// The kernel's `every`: N - 1.
        every: u32,
        /// The counter's start: N - 1 - P.
        start: u32,
        invert: bool,
    },
}

/// One worker's state for one rule: the nth counter (unused in random mode).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct StatisticState {
    pub count: u32,
}

impl StatisticRule {
    pub fn compile(cfg: &Statistic) -> Result<StatisticRule, StatisticError> {
        match cfg.mode.ok_or(StatisticError::NoMode)? {
            StatisticMode::Random { probability } => Ok(StatisticRule::Random {
                probability,
                invert: cfg.invert,
            }),
            StatisticMode::Nth { every, packet } => StatisticRule::nth(every, packet, cfg.invert),
        }
    }

    /// `--mode nth --every n --packet p`.
    pub fn nth(every: u32, packet: u32, invert: bool) -> Result<StatisticRule, StatisticError> {
        if every == 0 || packet >= every {
            return Err(StatisticError::BadNth { every, packet });
        }
        Ok(StatisticRule::Nth {
            every: every - 1,
            start: every - 1 - packet,
            invert,
        })
    }

    /// The state a worker starts with when the rule is installed.
    pub fn new_state(&self) -> StatisticState {
        match *self {
            StatisticRule::Random { .. } => StatisticState::default(),
            StatisticRule::Nth { start, .. } => StatisticState { count: start },
        }
    }

    /// `statistic_mt` for one packet.
    #[inline]
    pub fn matches(&self, state: &mut StatisticState, rng: &mut Prng) -> bool {
        match *self {
            StatisticRule::Random {
                probability,
                invert,
            } => ((rng.next_u32() & 0x7fff_ffff) < probability) != invert,
            StatisticRule::Nth { every, invert, .. } => {
                let next = if state.count == every {
                    0
                } else {
                    state.count + 1
                };
                state.count = next;
                (next == 0) != invert
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use sluice_config::iptables::{parse, Match, TableKind};

    use super::*;

    fn statistic_of(rule: &str) -> Statistic {
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
            Match::Statistic(s) => s.clone(),
            other => panic!("not statistic: {other:?}"),
        }
    }

    /// Indices (from 0) of the first `n` packets that match.
    fn matching(rule: &StatisticRule, n: usize) -> Vec<usize> {
        let mut st = rule.new_state();
        let mut rng = Prng::new(1);
        (0..n).filter(|_| rule.matches(&mut st, &mut rng)).collect()
    }

    #[test]
    fn nth_follows_the_kernel_counter() {
        let r = StatisticRule::compile(&statistic_of(
            "-m statistic --mode nth --every 3 --packet 0",
        ))
        .unwrap();
        assert_eq!(
            r,
            StatisticRule::Nth {
                every: 2,
                start: 2,
                invert: false
            }
        );
        // Packets 0, 3, 6, 9: the 1st, 4th, 7th, 10th.
        assert_eq!(matching(&r, 12), [0, 3, 6, 9]);
        let r = StatisticRule::compile(&statistic_of(
            "-m statistic --mode nth --every 3 --packet 2",
        ))
        .unwrap();
        assert_eq!(matching(&r, 12), [2, 5, 8, 11]);
        // Every packet_p of every_n, exhaustively for small n.
        for n in 1..8u32 {
            for p in 0..n {
                let r = StatisticRule::nth(n, p, false).unwrap();
                let want: Vec<usize> = (0..40).filter(|i| *i as u32 % n == p).collect();
                assert_eq!(matching(&r, 40), want, "every {n} packet {p}");
            }
        }
        // --every 1: every packet.
        assert_eq!(
            matching(&StatisticRule::nth(1, 0, false).unwrap(), 3),
            [0, 1, 2]
        );
    }

    #[test]
    fn nth_inverted_and_bad_settings() {
        let s = statistic_of("-m statistic --mode nth ! --every 4 --packet 1");
        let r = StatisticRule::compile(&s).unwrap();
        assert_eq!(matching(&r, 8), [0, 2, 3, 4, 6, 7]);
        assert_eq!(
            StatisticRule::nth(0, 0, false),
            Err(StatisticError::BadNth {
                every: 0,
                packet: 0
            })
        );
        assert!(StatisticRule::nth(3, 3, false).is_err());
    }

    #[test]
    fn random_extremes_and_share() {
        let one =
            StatisticRule::compile(&statistic_of("-m statistic --mode random --probability 1"))
                .unwrap();
        assert_eq!(matching(&one, 1000).len(), 1000);
        let zero =
            StatisticRule::compile(&statistic_of("-m statistic --mode random --probability 0"))
                .unwrap();
        assert!(matching(&zero, 1000).is_empty());
        let not_zero = StatisticRule::compile(&statistic_of(
            "-m statistic --mode random ! --probability 0",
        ))
        .unwrap();
        assert_eq!(matching(&not_zero, 1000).len(), 1000);
        let quarter = StatisticRule::compile(&statistic_of(
            "-m statistic --mode random --probability 0.25",
        ))
        .unwrap();
        let n = matching(&quarter, 100_000).len();
        assert!((24_000..26_000).contains(&n), "{n}");
    }

    #[test]
    fn random_compares_31_bits() {
        // A generator whose next value is 0x8000_0000 | x: the top bit is
        // masked off, so it compares as x.
        let r = StatisticRule::Random {
            probability: 5,
            invert: false,
        };
        let mut st = r.new_state();
        let mut hits = 0;
        let mut rng = Prng::new(99);
        for _ in 0..10_000 {
            let mut probe = rng.clone();
            let v = probe.next_u32() & 0x7fff_ffff;
            let m = r.matches(&mut st, &mut rng);
            assert_eq!(m, v < 5);
            hits += m as u32;
        }
        assert!(hits < 3);
    }

    #[test]
    fn prng_is_deterministic_per_seed_and_spreads() {
        let mut a = Prng::new(42);
        let mut b = Prng::new(42);
        let mut c = Prng::new(43);
        let xs: Vec<u64> = (0..4).map(|_| a.next_u64()).collect();
        let ys: Vec<u64> = (0..4).map(|_| b.next_u64()).collect();
        let zs: Vec<u64> = (0..4).map(|_| c.next_u64()).collect();
        assert_eq!(xs, ys);
        assert_ne!(xs, zs);
        let mut ones = 0u32;
        let mut r = Prng::new(0);
        for _ in 0..1000 {
            ones += r.next_u32().count_ones();
        }
        assert!((15_000..17_000).contains(&ones), "{ones}");
    }
}
