//! `-m ttl`: compare the IPv4 TTL with a value (libipt_ttl, kernel
//! ipt_ttl).

use std::fmt::Write as _;

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

/// The options of `-m ttl`: exactly one comparison.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Ttl {
    /// The comparison and its operand; `None` only before parsing is done.
    pub cmp: Option<(TtlMode, u8)>,
}

impl Ttl {
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

impl Extension for Ttl {
    const OPTIONS: &'static [Opt] = &[
        Opt::new("ttl-lt", 1),
        Opt::new("ttl-gt", 1),
        Opt::new("ttl-eq", 1),
        // Hidden old spelling of --ttl-eq (same option to iptables).
        Opt::alias("ttl", 1, "ttl-eq"),
    ];

    fn parse(
        &mut self,
        id: &'static str,
        invert: bool,
        args: &[String],
        _: &Cx,
    ) -> Result<(), String> {
        if self.cmp.is_some() {
            return Err(format!(
                "option \"--{id}\" can only be used once (and not with another of --ttl-eq, --ttl-lt, --ttl-gt)."
            ));
        }
        if invert && id != "ttl-eq" {
            return Err(format!("option \"--{id}\" cannot be inverted."));
        }
        let v = uint_opt(&args[0], id, 0, 255)? as u8;
        let mode = match id {
            "ttl-lt" => TtlMode::Lt,
            "ttl-gt" => TtlMode::Gt,
            _ if invert => TtlMode::Ne,
            _ => TtlMode::Eq,
        };
        self.cmp = Some((mode, v));
        Ok(())
    }

    fn finish(&mut self, _: &Rule, _: &Cx) -> Result<(), String> {
        if self.cmp.is_none() {
            return Err(
                "TTL match: You must specify one of `--ttl-eq', `--ttl-lt', `--ttl-gt".into(),
            );
        }
        Ok(())
    }

    fn save(&self, out: &mut String) {
        if let Some((mode, v)) = self.cmp {
            out.push_str(match mode {
                TtlMode::Eq => " --ttl-eq",
                TtlMode::Ne => " ! --ttl-eq",
                TtlMode::Lt => " --ttl-lt",
                TtlMode::Gt => " --ttl-gt",
            });
            let _ = write!(out, " {v}");
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
