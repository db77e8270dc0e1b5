//! `-m ttl`: compare the IPv4 TTL with a value (libipt_ttl, kernel
//! ipt_ttl); `-m hl` ([`Hl`]): the same for the IPv6 hop limit (libip6t_hl,
//! kernel ip6t_hl), one type with the option names of each family.

use std::fmt::Write as _;
use std::marker::PhantomData;

use super::parse::uint_opt;
use super::{Cx, Extension, Opt};
use crate::iptables::model::Rule;

/// How the TTL is compared (`ipt_ttl_info.mode`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TtlMode {
    /// `--ttl-eq N`: TTL == N.
    Eq,
    /// `! --ttl-eq N`: TTL != N.
    Ne,
    /// `--ttl-lt N`: TTL < N.
    Lt,
    /// `--ttl-gt N`: TTL > N.
    Gt,
}

/// The names one family gives the field and its options.
pub trait HopField: std::fmt::Debug + Clone + Default + PartialEq + Eq {
    /// `--ttl-lt --ttl-gt --ttl-eq` and the hidden `--ttl` (same for hl).
    const OPTIONS: &'static [Opt];
    /// The option prefix: `ttl` or `hl`.
    const NAME: &'static str;
    /// The match's name in its messages: `TTL` or `HL`.
    const TITLE: &'static str;
}

/// IPv4: `-m ttl`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct V4Ttl;

/// IPv6: `-m hl`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct V6HopLimit;

impl HopField for V4Ttl {
    const OPTIONS: &'static [Opt] = &[
        Opt::new("ttl-lt", 1),
        Opt::new("ttl-gt", 1),
        Opt::new("ttl-eq", 1),
        // Hidden old spelling of --ttl-eq (same option to iptables).
        Opt::alias("ttl", 1, "ttl-eq"),
    ];
    const NAME: &'static str = "ttl";
    const TITLE: &'static str = "TTL";
}

impl HopField for V6HopLimit {
    const OPTIONS: &'static [Opt] = &[
        Opt::new("hl-eq", 1),
        Opt::new("hl-lt", 1),
        Opt::new("hl-gt", 1),
        Opt::alias("hl", 1, "hl-eq"),
    ];
    const NAME: &'static str = "hl";
    const TITLE: &'static str = "HL";
}

/// The options of `-m ttl` (or, as [`Hl`], `-m hl`): exactly one
/// comparison.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Ttl<F = V4Ttl> {
    /// The comparison and its operand; `None` only before parsing is done.
    pub cmp: Option<(TtlMode, u8)>,
    field: PhantomData<F>,
}

/// `-m hl`: the IPv6 hop limit compared with a value.
pub type Hl = Ttl<V6HopLimit>;

impl<F> Ttl<F> {
    /// Whether a packet with TTL `ttl` matches.
    pub fn matches(&self, ttl: u8) -> bool {
        match self.cmp {
            Some((TtlMode::Eq, v)) => ttl == v,
            Some((TtlMode::Ne, v)) => ttl != v,
            Some((TtlMode::Lt, v)) => ttl < v,
            Some((TtlMode::Gt, v)) => ttl > v,
            None => true,
        }
    }
}

impl<F: HopField> Extension for Ttl<F> {
    const OPTIONS: &'static [Opt] = F::OPTIONS;

    fn parse(
        &mut self,
        id: &'static str,
        invert: bool,
        args: &[String],
        _: &Cx,
    ) -> Result<(), String> {
        let n = F::NAME;
        if self.cmp.is_some() {
            return Err(format!(
                "option \"--{id}\" can only be used once (and not with another of --{n}-eq, --{n}-lt, --{n}-gt)."
            ));
        }
        let op = id.strip_prefix(n).unwrap_or(id);
        if invert && op != "-eq" {
            return Err(format!("option \"--{id}\" cannot be inverted."));
        }
        let v = uint_opt(&args[0], id, 0, 255)? as u8;
        let mode = match op {
            "-lt" => TtlMode::Lt,
            "-gt" => TtlMode::Gt,
            _ if invert => TtlMode::Ne,
            _ => TtlMode::Eq,
        };
        self.cmp = Some((mode, v));
        Ok(())
    }

    fn finish(&mut self, _: &Rule, _: &Cx) -> Result<(), String> {
        if self.cmp.is_none() {
            let (t, n) = (F::TITLE, F::NAME);
            // (iptables 1.8.9's TTL message lacks the closing quote.)
            let end = if n == "hl" { "'" } else { "" };
            return Err(format!(
                "{t} match: You must specify one of `--{n}-eq', `--{n}-lt', `--{n}-gt{end}"
            ));
        }
        Ok(())
    }

    fn save(&self, out: &mut String) {
        if let Some((mode, v)) = self.cmp {
            let op = match mode {
                TtlMode::Eq => "eq",
                TtlMode::Ne => {
                    out.push_str(" !");
                    "eq"
                }
                TtlMode::Lt => "lt",
                TtlMode::Gt => "gt",
            };
            let _ = write!(out, " --{}-{op} {v}", F::NAME);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::iptables::ext::testing::{first_match, refused_in};
    use crate::iptables::Match;

    fn one(rule: &str) -> Result<(Ttl, String), String> {
        first_match!("filter", "INPUT", rule, Match::Ttl)
    }

    fn err(rule: &str) -> String {
        refused_in("filter", "INPUT", rule)
    }

    #[test]
    fn modes() {
        for (rule, cmp, out) in [
            ("--ttl-eq 0", (TtlMode::Eq, 0), "--ttl-eq 0"),
            ("! --ttl-eq 255", (TtlMode::Ne, 255), "! --ttl-eq 255"),
            ("--ttl-gt 0", (TtlMode::Gt, 0), "--ttl-gt 0"),
            ("--ttl-lt 0x10", (TtlMode::Lt, 16), "--ttl-lt 16"),
            ("--ttl 7", (TtlMode::Eq, 7), "--ttl-eq 7"),
            ("! --ttl 7", (TtlMode::Ne, 7), "! --ttl-eq 7"),
            ("--ttl-e 7", (TtlMode::Eq, 7), "--ttl-eq 7"),
        ] {
            let (t, s) = one(&format!("-m ttl {rule}")).unwrap();
            assert_eq!(t.cmp, Some(cmp), "{rule}");
            assert_eq!(s, format!("-A INPUT -m ttl {out}"));
        }
        let (t, _) = one("-m ttl ! --ttl-eq 5").unwrap();
        assert!(t.matches(4) && !t.matches(5));
    }

    #[test]
    fn hop_limit_is_ttl_with_the_ipv6_names() {
        // As ip6tables-legacy-save 1.8.9 printed each (Debian 12).
        for (rule, out) in [
            ("--hl 3", "--hl-eq 3"),
            ("--hl-e 0x10", "--hl-eq 16"),
            ("! --hl-eq 4", "! --hl-eq 4"),
            ("--hl-lt 4", "--hl-lt 4"),
            ("--hl-gt 4", "--hl-gt 4"),
        ] {
            let line = crate::iptables::ext::testing::rule6_in(
                "filter",
                "INPUT",
                &format!("-m hl {rule}"),
            )
            .unwrap_or_else(|e| panic!("{rule}: {e}"))
            .1;
            assert_eq!(line, format!("-A INPUT -m hl {out}"));
        }
        for (rule, msg) in [
            (
                "",
                "HL match: You must specify one of `--hl-eq', `--hl-lt', `--hl-gt'",
            ),
            ("! --hl-lt 3", "option \"--hl-lt\" cannot be inverted."),
            ("--hl-eq 256", "out of range (0-255)"),
            ("--hl-eq 3 --hl-lt 4", "can only be used once"),
        ] {
            let e = crate::iptables::ext::testing::rule6_in(
                "filter",
                "INPUT",
                &format!("-m hl {rule}"),
            )
            .unwrap_err();
            assert!(e.contains(msg), "{rule}: {e}");
        }
        // Each family has its own.
        assert!(err("-m hl --hl-eq 3").contains("IPv6 only"));
        let e = crate::iptables::ext::testing::rule6_in("filter", "INPUT", "-m ttl --ttl-eq 3")
            .unwrap_err();
        assert!(e.contains("IPv4 only"), "{e}");
    }

    #[test]
    fn refusals() {
        for (rule, msg) in [
            ("-m ttl", "You must specify"),
            ("-m ttl --ttl-eq 256", "out of range"),
            ("-m ttl --ttl-eq -1", "out of range"),
            ("-m ttl ! --ttl-lt 5", "cannot be inverted"),
            ("-m ttl --ttl-lt 5 --ttl-gt 1", "only be used once"),
            ("-m ttl --ttl 5", ""),
        ] {
            if msg.is_empty() {
                assert!(one(rule).is_ok());
                continue;
            }
            let e = err(rule);
            assert!(e.contains(msg), "{rule}: {e}");
        }
    }
}
