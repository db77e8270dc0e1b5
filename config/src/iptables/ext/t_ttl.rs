//! `-j TTL`: sets, decrements or increments the IPv4 TTL (libipt_TTL,
//! kernel xt_HL.c `ttl_tg`); `-j HL` ([`Hl`]): the same for the IPv6 hop
//! limit (libip6t_HL, `hl_tg6`). Table mangle only (the kernel's
//! `.table = "mangle"`), any chain of it.

use std::fmt::Write as _;
use std::marker::PhantomData;

use super::parse::uint_opt;
use super::{check_table, Cx, Extension, Given, Opt};
use crate::iptables::model::{HookMask, Rule, TableKind};

/// What TTL does to the packet's TTL.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TtlOp {
    /// `--ttl-set N`: the TTL becomes N.
    Set(u8),
    /// `--ttl-dec N` (1..=255): the TTL is lowered by N, stopping at 0.
    Dec(u8),
    /// `--ttl-inc N` (1..=255): the TTL is raised by N, stopping at 255.
    Inc(u8),
}

impl TtlOp {
    /// The TTL after the target, as the kernel computes it.
    pub fn apply(self, ttl: u8) -> u8 {
        match self {
            TtlOp::Set(n) => n,
            TtlOp::Dec(n) => ttl.saturating_sub(n),
            TtlOp::Inc(n) => ttl.saturating_add(n),
        }
    }
}

/// The option names one family gives the target.
pub trait HopTarget: std::fmt::Debug + Clone + Default + PartialEq + Eq {
    /// `--ttl-set --ttl-dec --ttl-inc` (or the `hl` ones).
    const OPTIONS: &'static [Opt];
    /// The option prefix: `ttl` or `hl`.
    const NAME: &'static str;
}

/// IPv4: `-j TTL`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct V4Ttl;

/// IPv6: `-j HL`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct V6HopLimit;

impl HopTarget for V4Ttl {
    const OPTIONS: &'static [Opt] = &[
        Opt::new("ttl-set", 1),
        Opt::new("ttl-dec", 1),
        Opt::new("ttl-inc", 1),
    ];
    const NAME: &'static str = "ttl";
}

impl HopTarget for V6HopLimit {
    const OPTIONS: &'static [Opt] = &[
        Opt::new("hl-set", 1),
        Opt::new("hl-dec", 1),
        Opt::new("hl-inc", 1),
    ];
    const NAME: &'static str = "hl";
}

/// `-j TTL` (or, as [`Hl`], `-j HL`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Ttl<F = V4Ttl> {
    /// The operation; `None` only before an option is read (a rule without
    /// one is refused).
    pub op: Option<TtlOp>,
    given: Given,
    field: PhantomData<F>,
}

/// `-j HL`: the IPv6 hop limit set, lowered or raised.
pub type Hl = Ttl<V6HopLimit>;

impl<F: HopTarget> Extension for Ttl<F> {
    const OPTIONS: &'static [Opt] = F::OPTIONS;

    fn parse(
        &mut self,
        id: &'static str,
        invert: bool,
        args: &[String],
        _: &Cx,
    ) -> Result<(), String> {
        self.given.take(Self::OPTIONS, id, invert)?;
        let op = id.strip_prefix(F::NAME).unwrap_or(id);
        let min = if op == "-set" { 0 } else { 1 };
        let n = uint_opt(&args[0], id, min, 255)? as u8;
        self.op = Some(match op {
            "-set" => TtlOp::Set(n),
            "-dec" => TtlOp::Dec(n),
            _ => TtlOp::Inc(n),
        });
        Ok(())
    }

    fn finish(&mut self, _: &Rule, _: &Cx) -> Result<(), String> {
        let ops: Vec<&str> = F::OPTIONS.iter().map(|o| o.id).collect();
        let excl: Vec<(&str, &[&str])> = ops.iter().map(|o| (*o, &ops[..])).collect();
        self.given.check_excl(Self::OPTIONS, &excl)?;
        if self.op.is_none() {
            return Err("You must specify an action".into());
        }
        Ok(())
    }

    fn save(&self, out: &mut String) {
        let (opt, n) = match self.op {
            Some(TtlOp::Set(n)) => ("set", n),
            Some(TtlOp::Dec(n)) => ("dec", n),
            Some(TtlOp::Inc(n)) => ("inc", n),
            None => return,
        };
        let _ = write!(out, " --{}-{opt} {n}", F::NAME);
    }

    fn check_hooks(&self, table: TableKind, _: HookMask) -> Result<(), String> {
        check_table(table, TableKind::Mangle)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::iptables::ext::testing::{assert_table_only, target_ext};
    use crate::iptables::TargetExt;

    fn canon_in(table: &str, chain: &str, rule: &str) -> Result<(Ttl, String), String> {
        target_ext!(table, chain, &format!("-j TTL {rule}"), TargetExt::Ttl)
    }

    #[test]
    fn saves_as_iptables() {
        for (rule, op, want) in [
            ("--ttl-set 42", TtlOp::Set(42), " --ttl-set 42"),
            ("--ttl-set 0", TtlOp::Set(0), " --ttl-set 0"),
            ("--ttl-set 0x10", TtlOp::Set(16), " --ttl-set 16"),
            ("--ttl-inc 1", TtlOp::Inc(1), " --ttl-inc 1"),
            ("--ttl-inc 255", TtlOp::Inc(255), " --ttl-inc 255"),
            ("--ttl-dec 1", TtlOp::Dec(1), " --ttl-dec 1"),
            ("--ttl-s 3", TtlOp::Set(3), " --ttl-set 3"),
        ] {
            let (t, line) =
                canon_in("mangle", "PREROUTING", rule).unwrap_or_else(|e| panic!("{rule}: {e}"));
            assert_eq!(t.op, Some(op), "{rule}");
            assert_eq!(line, format!("-A PREROUTING -j TTL{want}"));
        }
    }

    #[test]
    fn semantics() {
        assert_eq!(TtlOp::Dec(5).apply(3), 0);
        assert_eq!(TtlOp::Inc(5).apply(253), 255);
        assert_eq!(TtlOp::Inc(5).apply(10), 15);
        assert_eq!(TtlOp::Set(7).apply(64), 7);
    }

    #[test]
    fn mangle_only() {
        assert_table_only("mangle", "-j TTL --ttl-set 1");
    }

    #[test]
    fn hop_limit_target_is_ttl_with_the_ipv6_names() {
        use crate::iptables::ext::testing::rule6_in;
        // As ip6tables-legacy-save 1.8.9 printed each (Debian 12).
        for (rule, want) in [
            ("--hl-dec 2", "--hl-dec 2"),
            ("--hl-set 0", "--hl-set 0"),
            ("--hl-inc 0x10", "--hl-inc 16"),
        ] {
            let (_, line) = rule6_in("mangle", "FORWARD", &format!("-j HL {rule}"))
                .unwrap_or_else(|e| panic!("{rule}: {e}"));
            assert_eq!(line, format!("-A FORWARD -j HL {want}"));
        }
        for (rule, msg) in [
            ("", "You must specify an action"),
            (
                "--hl-dec 0",
                "bad value for option \"--hl-dec\", or out of range (1-255)",
            ),
            ("--hl-set 256", "out of range (0-255)"),
            (
                "--hl-set 1 --hl-dec 1",
                "option \"--hl-set\" cannot be used together with \"--hl-dec\"",
            ),
            ("! --hl-set 1", "cannot be inverted"),
        ] {
            let e = rule6_in("mangle", "FORWARD", &format!("-j HL {rule}")).unwrap_err();
            assert!(e.contains(msg), "{rule}: {e}");
        }
        let e = rule6_in("filter", "FORWARD", "-j HL --hl-set 1").unwrap_err();
        assert!(e.contains("only valid in mangle table"), "{e}");
        let e = rule6_in("mangle", "FORWARD", "-j TTL --ttl-set 1").unwrap_err();
        assert!(e.contains("IPv4 only"), "{e}");
    }

    #[test]
    fn refusals() {
        for (rule, msg) in [
            ("", "You must specify an action"),
            (
                "--ttl-set 256",
                "bad value for option \"--ttl-set\", or out of range (0-255)",
            ),
            (
                "--ttl-inc 0",
                "bad value for option \"--ttl-inc\", or out of range (1-255)",
            ),
            ("--ttl-dec 0", "out of range (1-255)"),
            (
                "--ttl-dec 1 --ttl-inc 1",
                "option \"--ttl-dec\" cannot be used together with \"--ttl-inc\"",
            ),
            (
                "--ttl-set 1 --ttl-dec 2",
                "option \"--ttl-set\" cannot be used together with \"--ttl-dec\"",
            ),
            (
                "--ttl-set 1 --ttl-set 2",
                "option \"--ttl-set\" can only be used once",
            ),
            (
                "--ttl-set --ttl-inc 1",
                "bad value for option \"--ttl-set\"",
            ),
            ("! --ttl-set 1", "cannot be inverted"),
            ("--ttl 3", "ambiguous"),
        ] {
            match canon_in("mangle", "PREROUTING", rule) {
                Ok(x) => panic!("accepted: {rule}: {x:?}"),
                Err(e) => assert!(e.contains(msg), "{rule}: {e}"),
            }
        }
    }
}
