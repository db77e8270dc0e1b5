//! `-j DSCP`: rewrites the DSCP bits (the upper six bits of the IPv4 TOS
//! byte), keeping the two ECN bits (libxt_DSCP, kernel xt_DSCP.c). Table
//! mangle only (the kernel's `.table = "mangle"`), any chain of it.

use std::fmt::Write as _;

use super::dscp::{class_to_dscp, DSCP_MAX};
use super::parse::uint_opt;
use super::{check_table, Cx, Extension, Given, Opt};
use crate::iptables::model::{HookMask, Rule, TableKind};

/// `-j DSCP`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Dscp {
    /// The DSCP value written (0..=63); `None` only before an option is
    /// read (a rule without one is refused).
    pub dscp: Option<u8>,
    given: Given,
}

impl Dscp {
    /// The TOS byte after the target: DSCP replaced, ECN bits kept.
    pub fn apply(&self, tos: u8) -> u8 {
        match self.dscp {
            Some(d) => (tos & 0x03) | (d << 2),
            None => tos,
        }
    }
}

impl Extension for Dscp {
    const OPTIONS: &'static [Opt] = &[Opt::new("set-dscp", 1), Opt::new("set-dscp-class", 1)];

    fn parse(
        &mut self,
        id: &'static str,
        invert: bool,
        args: &[String],
        _: &Cx,
    ) -> Result<(), String> {
        self.given.take(Self::OPTIONS, id, invert)?;
        let arg = &args[0];
        self.dscp = Some(if id == "set-dscp" {
            uint_opt(arg, id, 0, DSCP_MAX as u64)? as u8
        } else {
            class_to_dscp(arg)?
        });
        Ok(())
    }

    fn finish(&mut self, _: &Rule, _: &Cx) -> Result<(), String> {
        self.given.check_excl(
            Self::OPTIONS,
            &[
                ("set-dscp", &["set-dscp-class"]),
                ("set-dscp-class", &["set-dscp"]),
            ],
        )?;
        if self.dscp.is_none() {
            return Err("Parameter --set-dscp is required".into());
        }
        Ok(())
    }

    fn save(&self, out: &mut String) {
        if let Some(d) = self.dscp {
            let _ = write!(out, " --set-dscp 0x{d:02x}");
        }
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

    fn canon_in(table: &str, chain: &str, rule: &str) -> Result<(Dscp, String), String> {
        target_ext!(table, chain, &format!("-j DSCP {rule}"), TargetExt::Dscp)
    }

    #[test]
    fn saves_as_iptables() {
        for (rule, v) in [
            ("--set-dscp 0x00", 0),
            ("--set-dscp 0x3f", 0x3f),
            ("--set-dscp 010", 8),
            ("--set-dscp-class CS0", 0),
            ("--set-dscp-class BE", 0),
            ("--set-dscp-class EF", 0x2e),
            ("--set-dscp-class cs1", 0x08),
            ("--set-dscp-class af111", 0x0a),
            ("--set-dscp-class AF43", 0x26),
            ("--set-dscp-class efx", 0x2e),
            ("--set-dscp-c CS7", 0x38),
        ] {
            let (d, line) =
                canon_in("mangle", "PREROUTING", rule).unwrap_or_else(|e| panic!("{rule}: {e}"));
            assert_eq!(d.dscp, Some(v), "{rule}");
            assert_eq!(line, format!("-A PREROUTING -j DSCP --set-dscp 0x{v:02x}"));
        }
    }

    #[test]
    fn keeps_ecn() {
        let d = Dscp {
            dscp: Some(0x2e),
            ..Dscp::default()
        };
        assert_eq!(d.apply(0x03), 0xbb);
        assert_eq!(d.apply(0xfc), 0xb8);
    }

    #[test]
    fn mangle_only() {
        assert_table_only("mangle", "-j DSCP --set-dscp 1");
    }

    #[test]
    fn refusals() {
        for (rule, msg) in [
            ("", "Parameter --set-dscp is required"),
            (
                "--set-dscp -1",
                "bad value for option \"--set-dscp\", or out of range (0-63)",
            ),
            ("--set-dscp 0x40", "out of range (0-63)"),
            (
                "--set-dscp 0x3f --set-dscp-class CS0",
                "option \"--set-dscp\" cannot be used together with \"--set-dscp-class\"",
            ),
            (
                "--set-dscp-class CS0 --set-dscp 3",
                "option \"--set-dscp\" cannot be used together with \"--set-dscp-class\"",
            ),
            (
                "--set-dscp 1 --set-dscp 2",
                "option \"--set-dscp\" can only be used once",
            ),
            ("--set-dscp-class AF1", "Invalid DSCP value `AF1'"),
            ("--set-dscp-class CS8", "Invalid DSCP value `CS8'"),
            ("--set-dscp-class 5", "Invalid DSCP value `5'"),
            ("! --set-dscp 1", "cannot be inverted"),
            ("--set EF", "ambiguous"),
        ] {
            match canon_in("mangle", "PREROUTING", rule) {
                Ok(x) => panic!("accepted: {rule}: {x:?}"),
                Err(e) => assert!(e.contains(msg), "{rule}: {e}"),
            }
        }
    }
}
