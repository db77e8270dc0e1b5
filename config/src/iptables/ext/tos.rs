//! `-m tos --tos VALUE[/MASK]`: the IPv4 TOS byte under a mask (libxt_tos
//! revision 1 with tos_values.c of iptables 1.8.9, kernel xt_tos:
//! `(tos & mask) == value`, the value not masked).

use std::fmt::Write as _;

use super::parse::{strtoui, xt_strtoui};
use super::{once, required, Cx, Extension, Opt};
use crate::iptables::model::Rule;

/// The symbolic TOS names (tos_values.c); with a name the mask is 0x3f,
/// leaving out the two ECN bits.
pub const TOS_SYMBOLS: [(&str, u8); 5] = [
    ("Minimize-Delay", 0x10),
    ("Maximize-Throughput", 0x08),
    ("Maximize-Reliability", 0x04),
    ("Minimize-Cost", 0x02),
    ("Normal-Service", 0x00),
];

/// `--tos`: value, mask and inversion.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TosMatch {
    pub value: u8,
    pub mask: u8,
    pub invert: bool,
}

impl TosMatch {
    /// Whether a packet with TOS byte `tos` matches.
    pub fn matches(&self, tos: u8) -> bool {
        (tos & self.mask == self.value) != self.invert
    }
}

/// The options of `-m tos`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Tos {
    /// Required; `None` only before parsing is done.
    pub tos: Option<TosMatch>,
}

/// iptables 1.8.9 `tos_parse_symbolic` (tos_values.c): when the word starts
/// with a number 0..=255 (as `xtables_strtoui` reads one) it must be
/// `VALUE[/MASK]`, both 0..=255, the mask 0xff when absent; otherwise a
/// symbolic name (case-insensitive) with mask `sym_mask`.
pub(crate) fn parse_tos_mask(arg: &str, sym_mask: u8) -> Result<(u8, u8), String> {
    if xt_strtoui(arg, 0, 255).is_some() {
        let illegal = || format!("Illegal value: \"{arg}\"");
        let (v, m) = match arg.split_once('/') {
            Some((v, m)) => (v, Some(m)),
            None => (arg, None),
        };
        let value = strtoui(v, 0, 255).ok_or_else(illegal)?;
        let mask = match m {
            None => 255,
            Some(m) => strtoui(m, 0, 255).ok_or_else(illegal)?,
        };
        return Ok((value as u8, mask as u8));
    }
    TOS_SYMBOLS
        .iter()
        .find(|(name, _)| name.eq_ignore_ascii_case(arg))
        .map(|(_, v)| (*v, sym_mask))
        .ok_or_else(|| format!("Symbolic name \"{arg}\" is unknown"))
}

impl Extension for Tos {
    const OPTIONS: &'static [Opt] = &[Opt::new("tos", 1)];

    fn parse(
        &mut self,
        id: &'static str,
        invert: bool,
        args: &[String],
        _: &Cx,
    ) -> Result<(), String> {
        once(&self.tos, id)?;
        let (value, mask) = parse_tos_mask(&args[0], 0x3f)?;
        self.tos = Some(TosMatch {
            value,
            mask,
            invert,
        });
        Ok(())
    }

    fn finish(&mut self, _: &Rule, _: &Cx) -> Result<(), String> {
        required(&self.tos, "tos")
    }

    fn save(&self, out: &mut String) {
        if let Some(t) = self.tos {
            if t.invert {
                out.push_str(" !");
            }
            let _ = write!(out, " --tos 0x{:02x}/0x{:02x}", t.value, t.mask);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::iptables::ext::testing::{first_match, refused_in};
    use crate::iptables::Match;

    fn one(rule: &str) -> Result<(Tos, String), String> {
        first_match!("filter", "INPUT", rule, Match::Tos)
    }

    fn err(rule: &str) -> String {
        refused_in("filter", "INPUT", rule)
    }

    #[test]
    fn values_masks_and_names() {
        for (rule, value, mask, invert, out) in [
            ("--tos Minimize-Delay", 0x10, 0x3f, false, "--tos 0x10/0x3f"),
            (
                "--tos maximize-throughput",
                0x08,
                0x3f,
                false,
                "--tos 0x08/0x3f",
            ),
            ("--tos Normal-Service", 0, 0x3f, false, "--tos 0x00/0x3f"),
            ("--tos 0xff", 0xff, 0xff, false, "--tos 0xff/0xff"),
            ("! --tos 0xff", 0xff, 0xff, true, "! --tos 0xff/0xff"),
            ("--tos 0x0f/0x0f", 0x0f, 0x0f, false, "--tos 0x0f/0x0f"),
            ("--tos 5/0", 5, 0, false, "--tos 0x05/0x00"),
        ] {
            let (t, s) = one(&format!("-m tos {rule}")).unwrap();
            assert_eq!(
                t.tos,
                Some(TosMatch {
                    value,
                    mask,
                    invert
                }),
                "{rule}"
            );
            assert_eq!(s, format!("-A INPUT -m tos {out}"));
        }
        let (t, _) = one("-m tos --tos 0x10/0x3f").unwrap();
        assert!(t.tos.unwrap().matches(0xd0) && !t.tos.unwrap().matches(0x18));
    }

    #[test]
    fn refusals() {
        for (rule, msg) in [
            ("-m tos", "must be specified"),
            ("-m tos --tos wrong", "is unknown"),
            ("-m tos --tos 0x100", "is unknown"),
            ("-m tos --tos 5abc", "Illegal value"),
            ("-m tos --tos 5/x", "Illegal value"),
            ("-m tos --tos 5/", "Illegal value"),
            ("-m tos --tos 08", "Illegal value"),
            ("-m tos --tos 16/0x1ff", "Illegal value"),
            ("-m tos --tos 1 --tos 2", "only be used once"),
        ] {
            let e = err(rule);
            assert!(e.contains(msg), "{rule}: {e}");
        }
    }
}
