//! `-m statistic`: match a random share of packets, or every n-th packet
//! (libxt_statistic, kernel xt_statistic).

use std::fmt::Write as _;

use super::parse::uint_opt;
use super::{Cx, Extension, Opt};
use crate::iptables::model::Rule;

/// The kernel's probability scale: a probability p is stored as
/// `lround(p * 2^31)` and a packet matches when
/// `(get_random_u32() & 0x7fffffff) < probability`.
pub const PROBABILITY_SCALE: f64 = 2147483648.0;

/// What the match counts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StatisticMode {
    /// `--mode random --probability P`: `probability` is `lround(P * 2^31)`
    /// (0..=2^31), compared with 31 random bits.
    Random { probability: u32 },
    /// `--mode nth --every N [--packet P]`: one packet in N. The kernel
    /// keeps `every = N - 1` and a shared counter starting at
    /// `N - 1 - P`; each packet advances it (wrapping from `N - 1` to 0)
    /// and the packet that brings it to 0 matches.
    Nth { every: u32, packet: u32 },
}

/// The options of `-m statistic`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Statistic {
    /// `None` only before parsing is done.
    pub mode: Option<StatisticMode>,
    /// `!` before `--probability` or `--every` inverts the whole match.
    pub invert: bool,
    /// Parse bookkeeping: `--mode` as given and which options were seen.
    given: Given,
}

#[derive(Debug, Clone, Default)]
struct Given {
    mode: Option<bool>, // Some(true) random, Some(false) nth
    probability: Option<u32>,
    every: Option<u32>,
    packet: Option<u32>,
}

impl PartialEq for Given {
    /// Bookkeeping does not take part in comparing rules.
    fn eq(&self, _: &Given) -> bool {
        true
    }
}
impl Eq for Given {}

/// C `strtod` on the whole word (as libxtables `xtopt_parse_float` uses
/// it): decimal or `0x` hexadecimal floating point, `inf`, `nan`, with an
/// optional sign.
fn strtod(s: &str) -> Option<f64> {
    let t = s.trim_start_matches([' ', '\t', '\n', '\x0b', '\x0c', '\r']);
    let (neg, body) = match t.as_bytes().first() {
        Some(b'-') => (true, &t[1..]),
        Some(b'+') => (false, &t[1..]),
        _ => (false, t),
    };
    let v = if let Some(hex) = body.strip_prefix("0x").or_else(|| body.strip_prefix("0X")) {
        parse_hex_float(hex)?
    } else {
        // Rust's parser takes what strtod takes for decimals, inf and nan,
        // but no sign here (handled above) and no `nan(...)` payload.
        if body.starts_with(['+', '-']) {
            return None;
        }
        body.parse::<f64>().ok()?
    };
    Some(if neg { -v } else { v })
}

/// `H[.H][p[+-]D]` after `0x`, at least one hex digit.
fn parse_hex_float(s: &str) -> Option<f64> {
    let (mant, exp) = match s.find(['p', 'P']) {
        Some(i) => (&s[..i], Some(&s[i + 1..])),
        None => (s, None),
    };
    let (int, frac) = mant.split_once('.').unwrap_or((mant, ""));
    if int.is_empty() && frac.is_empty() {
        return None;
    }
    let mut v = 0f64;
    for c in int.chars() {
        v = v * 16.0 + f64::from(c.to_digit(16)?);
    }
    let mut scale = 1.0 / 16.0;
    for c in frac.chars() {
        v += f64::from(c.to_digit(16)?) * scale;
        scale /= 16.0;
    }
    if let Some(e) = exp {
        let digits = e.strip_prefix(['+', '-']).unwrap_or(e);
        if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        let e: i32 = e.parse().unwrap_or(if e.starts_with('-') {
            i32::MIN
        } else {
            i32::MAX
        });
        v *= 2f64.powi(e);
    }
    Some(v)
}

impl Extension for Statistic {
    const OPTIONS: &'static [Opt] = &[
        Opt::new("mode", 1),
        Opt::new("probability", 1),
        Opt::new("every", 1),
        Opt::new("packet", 1),
    ];

    fn parse(
        &mut self,
        id: &'static str,
        invert: bool,
        args: &[String],
        _: &Cx,
    ) -> Result<(), String> {
        let g = &mut self.given;
        let seen = match id {
            "mode" => g.mode.is_some(),
            "probability" => g.probability.is_some(),
            "every" => g.every.is_some(),
            _ => g.packet.is_some(),
        };
        if seen {
            return Err(format!("option \"--{id}\" can only be used once."));
        }
        if invert && matches!(id, "mode" | "packet") {
            return Err(format!("option \"--{id}\" cannot be inverted."));
        }
        let arg = &args[0];
        match id {
            "mode" => {
                g.mode = Some(match arg.as_str() {
                    "random" => true,
                    "nth" => false,
                    _ => return Err(format!("Bad mode \"{arg}\"")),
                });
            }
            "probability" => {
                let p = strtod(arg)
                    .filter(|p| !(*p < 0.0 || *p > 1.0))
                    .ok_or_else(|| {
                        "bad value for option \"--probability\", or out of range (0-1).".to_string()
                    })?;
                // lround of a NaN is LONG_MIN on x86-64, whose low 32 bits are 0.
                let scaled = (p * PROBABILITY_SCALE).round();
                g.probability = Some(if scaled.is_nan() { 0 } else { scaled as u32 });
            }
            _ => {
                let min = if id == "every" { 1 } else { 0 };
                let v = uint_opt(arg, id, min, u64::from(u32::MAX))? as u32;
                if id == "every" {
                    g.every = Some(v);
                } else {
                    g.packet = Some(v);
                }
            }
        }
        if invert {
            self.invert = true;
        }
        Ok(())
    }

    fn finish(&mut self, _: &Rule, _: &Cx) -> Result<(), String> {
        let g = &self.given;
        // statistic_check (where a missing --mode reads as random, mode 0),
        // then the option table's checks, in that order.
        if g.mode != Some(false) && g.probability.is_none() {
            return Err("--probability must be specified when using random mode".into());
        }
        if g.mode == Some(false) && g.every.is_none() && g.packet.is_none() {
            return Err("--every and --packet must be specified when using nth mode".into());
        }
        if let Some(p) = g.packet {
            // The kernel's `every` is N - 1 (0 when --every is missing).
            if p > g.every.unwrap_or(1) - 1 {
                return Err("the --packet p must be 0 <= p <= n-1".into());
            }
        }
        let Some(random) = g.mode else {
            return Err("option \"--mode\" must be specified".into());
        };
        match (
            g.probability.is_some(),
            g.every.is_some(),
            g.packet.is_some(),
        ) {
            (true, true, _) => {
                return Err(
                    "option \"--probability\" cannot be used together with \"--every\".".into(),
                )
            }
            (true, _, true) => {
                return Err(
                    "option \"--probability\" cannot be used together with \"--packet\".".into(),
                )
            }
            (_, true, false) => return Err("option \"--every\" also requires \"--packet\".".into()),
            (_, false, true) => return Err("option \"--packet\" also requires \"--every\".".into()),
            _ => {}
        }
        self.mode = Some(match (random, g.probability, g.every, g.packet) {
            (true, Some(probability), _, _) => StatisticMode::Random { probability },
            (false, _, Some(every), Some(packet)) => StatisticMode::Nth { every, packet },
            _ => return Err("--every and --packet must be specified when using nth mode".into()),
        });
        Ok(())
    }

    fn save(&self, out: &mut String) {
        let inv = if self.invert { " !" } else { "" };
        match self.mode {
            Some(StatisticMode::Random { probability }) => {
                let _ = write!(
                    out,
                    " --mode random{inv} --probability {:.11}",
                    f64::from(probability) / PROBABILITY_SCALE
                );
            }
            Some(StatisticMode::Nth { every, packet }) => {
                let _ = write!(out, " --mode nth{inv} --every {every} --packet {packet}");
            }
            None => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::iptables::ext::testing::{first_match, refused_in};
    use crate::iptables::Match;

    fn one(rule: &str) -> Result<(Statistic, String), String> {
        first_match!("filter", "INPUT", rule, Match::Statistic)
    }

    fn err(rule: &str) -> String {
        refused_in("filter", "INPUT", rule)
    }

    #[test]
    fn random() {
        for (arg, prob, out) in [
            ("0.5", 0x4000_0000, "0.50000000000"),
            ("1", 0x8000_0000, "1.00000000000"),
            ("0", 0, "0.00000000000"),
            ("0.1", 214_748_365, "0.10000000009"),
            ("0x1p-12", 1 << 19, "0.00024414062"),
            ("1e-3", 2_147_484, "0.00100000016"),
        ] {
            let (s, line) =
                one(&format!("-m statistic --mode random --probability {arg}")).unwrap();
            assert_eq!(
                s.mode,
                Some(StatisticMode::Random { probability: prob }),
                "{arg}"
            );
            assert!(!s.invert);
            assert_eq!(
                line,
                format!("-A INPUT -m statistic --mode random --probability {out}")
            );
        }
        let (s, line) = one("-m statistic --mode random ! --probability 0.50000000000").unwrap();
        assert!(s.invert);
        assert_eq!(
            line,
            "-A INPUT -m statistic --mode random ! --probability 0.50000000000"
        );
    }

    #[test]
    fn nth() {
        let (s, line) = one("-m statistic --mode nth ! --every 5 --packet 2").unwrap();
        assert_eq!(
            s.mode,
            Some(StatisticMode::Nth {
                every: 5,
                packet: 2
            })
        );
        assert!(s.invert);
        assert_eq!(
            line,
            "-A INPUT -m statistic --mode nth ! --every 5 --packet 2"
        );
        let (_, line) = one("-m statistic --packet 0 --every 0x10 --mode nth").unwrap();
        assert_eq!(
            line,
            "-A INPUT -m statistic --mode nth --every 16 --packet 0"
        );
    }

    #[test]
    fn refusals() {
        for (rule, msg) in [
            ("-m statistic", "--probability must be specified"),
            (
                "-m statistic --mode random ! --probability 1.1",
                "out of range",
            ),
            (
                "-m statistic --mode random --probability -0.1",
                "out of range",
            ),
            (
                "-m statistic --mode random --probability 0.5x",
                "out of range",
            ),
            (
                "-m statistic --probability 1",
                "\"--mode\" must be specified",
            ),
            (
                "-m statistic --mode nth ! --every 5",
                "also requires \"--packet\"",
            ),
            (
                "-m statistic --mode nth ! --every 5 --packet 5",
                "0 <= p <= n-1",
            ),
            (
                "-m statistic --mode nth --packet 0",
                "also requires \"--every\"",
            ),
            (
                "-m statistic --mode nth --every 0 --packet 0",
                "out of range",
            ),
            (
                "-m statistic --mode nth",
                "must be specified when using nth",
            ),
            (
                "-m statistic --mode random",
                "must be specified when using random",
            ),
            ("-m statistic --mode Random --probability 1", "Bad mode"),
            (
                "-m statistic --mode random --probability 0.5 --every 2 --packet 1",
                "together",
            ),
            (
                "-m statistic --mode nth --probability 0.5 --every 2 --packet 1",
                "together",
            ),
            (
                "-m statistic ! --mode random --probability 0.5",
                "cannot be inverted",
            ),
            (
                "-m statistic --mode nth --every 2 ! --packet 1",
                "cannot be inverted",
            ),
            (
                "-m statistic --mode nth --mode nth --every 2 --packet 1",
                "only be used once",
            ),
        ] {
            let e = err(rule);
            assert!(e.contains(msg), "{rule}: {e}");
        }
    }
}
