//! `-m dscp`: the DSCP field, the upper six bits of the IPv4 TOS byte
//! (libxt_dscp, kernel xt_dscp).

use std::fmt::Write as _;

use super::parse::uint_opt;
use super::{Cx, Extension, Opt};
use crate::iptables::model::Rule;

/// Largest DSCP value (`XT_DSCP_MAX`, six bits).
pub const DSCP_MAX: u8 = 0x3f;

/// DiffServ class names `--dscp-class` and `-j DSCP --set-dscp-class` take
/// (dscp_helper.c), in lookup order. The lookup compares only the length
/// of the class name, so `AF111` is `AF11`.
pub const DSCP_CLASSES: [(&str, u8); 22] = [
    ("CS0", 0x00),
    ("CS1", 0x08),
    ("CS2", 0x10),
    ("CS3", 0x18),
    ("CS4", 0x20),
    ("CS5", 0x28),
    ("CS6", 0x30),
    ("CS7", 0x38),
    ("BE", 0x00),
    ("AF11", 0x0a),
    ("AF12", 0x0c),
    ("AF13", 0x0e),
    ("AF21", 0x12),
    ("AF22", 0x14),
    ("AF23", 0x16),
    ("AF31", 0x1a),
    ("AF32", 0x1c),
    ("AF33", 0x1e),
    ("AF41", 0x22),
    ("AF42", 0x24),
    ("AF43", 0x26),
    ("EF", 0x2e),
];

/// dscp_helper `class_to_dscp`: a class name, case-insensitive, matched on
/// the name's length (`strncasecmp(arg, name, strlen(name))`).
pub(crate) fn class_to_dscp(arg: &str) -> Result<u8, String> {
    DSCP_CLASSES
        .iter()
        .find(|(name, _)| {
            arg.len() >= name.len()
                && arg.as_bytes()[..name.len()].eq_ignore_ascii_case(name.as_bytes())
        })
        .map(|(_, v)| *v)
        .ok_or_else(|| format!("Invalid DSCP value `{arg}'"))
}

/// The options of `-m dscp`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Dscp {
    /// The DSCP value (0..=63) and whether the match is inverted; `None`
    /// only before parsing is done. `--dscp-class` stores its value here.
    pub dscp: Option<(u8, bool)>,
}

impl Dscp {
    /// Whether a packet with TOS byte `tos` matches.
    pub fn matches(&self, tos: u8) -> bool {
        match self.dscp {
            Some((v, invert)) => (tos >> 2 == v) != invert,
            None => true,
        }
    }
}

impl Extension for Dscp {
    const OPTIONS: &'static [Opt] = &[Opt::new("dscp", 1), Opt::new("dscp-class", 1)];

    fn parse(
        &mut self,
        id: &'static str,
        invert: bool,
        args: &[String],
        _: &Cx,
    ) -> Result<(), String> {
        if self.dscp.is_some() {
            return Err(format!(
                "option \"--{id}\" can only be used once (and not together with the other of --dscp, --dscp-class)."
            ));
        }
        let v = if id == "dscp" {
            uint_opt(&args[0], id, 0, u64::from(DSCP_MAX))? as u8
        } else {
            class_to_dscp(&args[0])?
        };
        self.dscp = Some((v, invert));
        Ok(())
    }

    fn finish(&mut self, _: &Rule, _: &Cx) -> Result<(), String> {
        if self.dscp.is_none() {
            return Err("DSCP match: Parameter --dscp is required".into());
        }
        Ok(())
    }

    fn save(&self, out: &mut String) {
        if let Some((v, invert)) = self.dscp {
            if invert {
                out.push_str(" !");
            }
            let _ = write!(out, " --dscp 0x{v:02x}");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::iptables::ext::testing::{first_match, refused_in};
    use crate::iptables::Match;

    fn one(rule: &str) -> Result<(Dscp, String), String> {
        first_match!("filter", "INPUT", rule, Match::Dscp)
    }

    fn err(rule: &str) -> String {
        refused_in("filter", "INPUT", rule)
    }

    #[test]
    fn values_and_classes() {
        for (rule, v, inv, out) in [
            ("--dscp 0x00", 0, false, "--dscp 0x00"),
            ("--dscp 0x3f", 63, false, "--dscp 0x3f"),
            ("--dscp 10", 10, false, "--dscp 0x0a"),
            ("! --dscp 010", 8, true, "! --dscp 0x08"),
            ("--dscp-class CS0", 0, false, "--dscp 0x00"),
            ("--dscp-class be", 0, false, "--dscp 0x00"),
            ("--dscp-class EF", 0x2e, false, "--dscp 0x2e"),
            ("--dscp-class af111", 0x0a, false, "--dscp 0x0a"),
            ("! --dscp-class CS7", 0x38, true, "! --dscp 0x38"),
        ] {
            let (d, s) = one(&format!("-m dscp {rule}")).unwrap();
            assert_eq!(d.dscp, Some((v, inv)), "{rule}");
            assert_eq!(s, format!("-A INPUT -m dscp {out}"));
        }
        let (d, _) = one("-m dscp --dscp-class EF").unwrap();
        assert!(d.matches(0xb8) && !d.matches(0));
    }

    #[test]
    fn refusals() {
        for (rule, msg) in [
            ("-m dscp", "is required"),
            ("-m dscp --dscp -1", "out of range"),
            ("-m dscp --dscp 0x40", "out of range"),
            ("-m dscp --dscp 0x3f --dscp-class CS0", "only be used once"),
            ("-m dscp --dscp-class CS", "Invalid DSCP value"),
            ("-m dscp --dscp-class AF14", "Invalid DSCP value"),
        ] {
            let e = err(rule);
            assert!(e.contains(msg), "{rule}: {e}");
        }
    }
}
