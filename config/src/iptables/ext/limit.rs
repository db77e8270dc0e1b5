//! `-m limit`: a token bucket over matching packets (libxt_limit, kernel
//! xt_limit).
//!
//! The rate is kept as the kernel keeps it: `avg` is the mean interval
//! between matches in units of 1/[`XT_LIMIT_SCALE`] second, so the dataplane
//! can run the kernel's bucket (`credit_cap = user2credits(avg * burst)`,
//! `cost = user2credits(avg)`, refilled by `CREDITS_PER_JIFFY` per jiffy).
//! `iptables-save` prints `avg` back through its own conversion
//! ([`Limit::save`]), so `--limit 7/hour` may print differently than written
//! when the division is not exact; this follows libxt_limit's `print_rate`.

use std::fmt::Write as _;

use super::parse::{atoi, uint_opt};
use super::{Cx, Extension, Given, Opt};
use crate::iptables::model::Rule;

/// Fixed-point scale of `avg` (`XT_LIMIT_SCALE` in xt_limit.h).
pub const XT_LIMIT_SCALE: u32 = 10000;
/// `--limit` when not given: 3/hour.
pub const DEFAULT_AVG: u32 = XT_LIMIT_SCALE * 60 * 60 / 3;
/// `--limit-burst` when not given.
pub const DEFAULT_BURST: u32 = 5;
/// `--limit-burst` upper bound of libxt_limit.
pub const MAX_BURST: u32 = 10000;

/// `HZ * CREDITS_PER_JIFFY` of xt_limit. It is 32000 for HZ 250 and 1000
/// (the common kernel configurations; the oracle kernel runs HZ 250) and
/// only decides whether a huge `avg * burst` is refused as an overflow.
const HZ_CREDITS: u32 = 32000;

/// The options of `-m limit`. Rules compare by what the kernel stores, as
/// `iptables -D` does.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Limit {
    /// Mean interval between matches, in 1/10000 s (`xt_rateinfo.avg`):
    /// `--limit N/unit` gives `10000 * seconds(unit) / N`.
    pub avg: u32,
    /// Matches allowed in a burst (`xt_rateinfo.burst`), 1..=10000.
    pub burst: u32,
    given: Given,
}

impl Default for Limit {
    fn default() -> Limit {
        Limit {
            avg: DEFAULT_AVG,
            burst: DEFAULT_BURST,
            given: Given::default(),
        }
    }
}

/// libxt_limit `parse_rate`: `N[/second|/minute|/hour|/day]`, the unit
/// abbreviated to any prefix, case-insensitive; a bare number is per second.
pub fn parse_rate(rate: &str) -> Result<u32, String> {
    let bad = || format!("bad rate \"{rate}\"'");
    let mult: u32 = match rate.split_once('/') {
        None => 1,
        Some((_, unit)) => {
            if unit.is_empty() {
                return Err(bad());
            }
            let unit = unit.to_ascii_lowercase();
            [
                ("second", 1),
                ("minute", 60),
                ("hour", 60 * 60),
                ("day", 24 * 60 * 60),
            ]
            .iter()
            .find(|(name, _)| name.starts_with(unit.as_str()))
            .map(|(_, m)| *m)
            .ok_or_else(bad)?
        }
    };
    let r = atoi(rate) as u32;
    if r == 0 {
        return Err(bad());
    }
    let avg = XT_LIMIT_SCALE * mult / r;
    if avg == 0 {
        return Err(format!("Rate too fast \"{rate}\""));
    }
    Ok(avg)
}

/// xt_limit `user2credits`, in the kernel's u32 arithmetic (the "divide
/// first" branch itself wraps for huge values, which the overflow check
/// relies on).
fn user2credits(user: u32) -> u32 {
    if user > u32::MAX / HZ_CREDITS {
        (user / XT_LIMIT_SCALE).wrapping_mul(HZ_CREDITS)
    } else {
        user * HZ_CREDITS / XT_LIMIT_SCALE
    }
}

/// libxt_limit `print_rate`: the largest unit (day, hour, min, sec) whose
/// count is not dominated by the division's remainder.
pub fn save_rate(out: &mut String, avg: u32) {
    const RATES: [(&str, u32); 4] = [
        ("day", XT_LIMIT_SCALE * 24 * 60 * 60),
        ("hour", XT_LIMIT_SCALE * 60 * 60),
        ("min", XT_LIMIT_SCALE * 60),
        ("sec", XT_LIMIT_SCALE),
    ];
    if avg == 0 {
        out.push_str(" inf");
        return;
    }
    let mut i = 1;
    while i < RATES.len() {
        let m = RATES[i].1;
        if avg > m || m / avg < m % avg {
            break;
        }
        i += 1;
    }
    let (name, m) = RATES[i - 1];
    let _ = write!(out, " {}/{name}", m / avg);
}

impl Extension for Limit {
    const OPTIONS: &'static [Opt] = &[Opt::new("limit", 1), Opt::new("limit-burst", 1)];

    fn parse(
        &mut self,
        id: &'static str,
        invert: bool,
        args: &[String],
        _: &Cx,
    ) -> Result<(), String> {
        self.given.take(Self::OPTIONS, id, invert)?;
        match id {
            "limit" => self.avg = parse_rate(&args[0])?,
            _ => self.burst = uint_opt(&args[0], id, 0, u64::from(MAX_BURST))? as u32,
        }
        Ok(())
    }

    fn finish(&mut self, _: &Rule, _: &Cx) -> Result<(), String> {
        // xt_limit checkentry: the bucket size avg * burst (u32) must not
        // overflow, and a burst of 0 never matches.
        if self.burst == 0
            || user2credits(self.avg.wrapping_mul(self.burst)) < user2credits(self.avg)
        {
            return Err(format!(
                "the kernel refuses rate and burst {}/{} (ERANGE: \"Overflow, try lower\"{})",
                self.avg,
                self.burst,
                if self.burst == 0 { ", burst 0" } else { "" }
            ));
        }
        Ok(())
    }

    fn save(&self, out: &mut String) {
        out.push_str(" --limit");
        save_rate(out, self.avg);
        if self.burst != DEFAULT_BURST {
            let _ = write!(out, " --limit-burst {}", self.burst);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::iptables::ext::testing::{first_match, refused_in};
    use crate::iptables::Match;

    fn one(rule: &str) -> Result<(Limit, String), String> {
        first_match!("filter", "INPUT", rule, Match::Limit)
    }

    fn err(rule: &str) -> String {
        refused_in("filter", "INPUT", rule)
    }

    #[test]
    fn defaults_print_the_rate_only() {
        let (l, s) = one("-m limit").unwrap();
        assert_eq!((l.avg, l.burst), (12_000_000, 5));
        assert_eq!(s, "-A INPUT -m limit --limit 3/hour");
    }

    #[test]
    fn units_and_abbreviations() {
        for (arg, avg, out) in [
            ("1/sec", 10000, "1/sec"),
            ("1/min", 600_000, "1/min"),
            ("1000/hour", 36000, "1000/hour"),
            ("1000/day", 864_000, "1000/day"),
            ("5", 2000, "5/sec"),
            ("5/S", 2000, "5/sec"),
            ("5abc/MIN", 120_000, "5/min"),
            ("7/hour", 5_142_857, "7/hour"),
            ("4294967297/sec", 10000, "1/sec"),
            ("10000/sec", 1, "10000/sec"),
        ] {
            let (l, s) = one(&format!("-m limit --limit {arg}")).unwrap();
            assert_eq!(l.avg, avg, "{arg}");
            assert_eq!(s, format!("-A INPUT -m limit --limit {out}"), "{arg}");
        }
    }

    #[test]
    fn burst_prints_when_not_default() {
        let (l, s) = one("-m limit --limit 1/sec --limit-burst 1").unwrap();
        assert_eq!(l.burst, 1);
        assert_eq!(s, "-A INPUT -m limit --limit 1/sec --limit-burst 1");
        let (_, s) = one("-m limit --limit-burst 0x10").unwrap();
        assert_eq!(s, "-A INPUT -m limit --limit 3/hour --limit-burst 16");
    }

    #[test]
    fn refusals() {
        for (rule, msg) in [
            ("-m limit --limit 5/", "bad rate"),
            ("-m limit --limit 5/secondx", "bad rate"),
            ("-m limit --limit 4294967296/sec", "bad rate"),
            ("-m limit --limit 0/sec", "bad rate"),
            ("-m limit --limit -5/sec", "Rate too fast"),
            ("-m limit --limit 20000/sec", "Rate too fast"),
            ("-m limit --limit 1 --limit 2", "can only be used once"),
            ("-m limit ! --limit 1", "cannot be inverted"),
            ("-m limit --limit-burst 10001", "out of range"),
            ("-m limit --limit-burst 0", "Overflow"),
            ("-m limit --limit 1/day --limit-burst 10000", "Overflow"),
        ] {
            let e = err(rule);
            assert!(e.contains(msg), "{rule}: {e}");
        }
    }
}
