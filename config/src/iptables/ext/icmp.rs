//! `-m icmp --icmp-type TYPE[/CODE]`: the ICMP type and code of the packet
//! (libipt_icmp with the shared ICMP name table of libxt_icmp.h, iptables
//! 1.8.9; kernel `icmp_match` in ip_tables.c, which needs `-p icmp`).
//!
//! `-p icmp --icmp-type ...` loads the match implicitly (the core does it).
//! Kernel semantics (`icmp_type_code_match`): type 255 matches every ICMP
//! packet whatever the codes; any other type matches when the packet's type
//! is equal and its code is within `code_min..=code_max`; the result is then
//! inverted by `!`. Fragments after the first never match (the kernel drops
//! the match for them, `par->fragoff != 0`).

use std::marker::PhantomData;

use super::parse::xt_strtoui;
use super::{once, required, save_invert, Cx, Extension, Opt};
use crate::iptables::model::{Rule, PROTO_ICMP};

/// The ICMP type number meaning "any type" (`--icmp-type any`).
pub const ICMP_TYPE_ANY: u8 = 0xff;

/// Names `--icmp-type` takes, as libxt_icmp.h lists them (order matters for
/// the "ambiguous" message): name, type, lowest and highest code.
pub const ICMP_NAMES: &[(&str, u8, u8, u8)] = &[
    ("any", 0xff, 0, 0xff),
    ("echo-reply", 0, 0, 0xff),
    ("pong", 0, 0, 0xff),
    ("destination-unreachable", 3, 0, 0xff),
    ("network-unreachable", 3, 0, 0),
    ("host-unreachable", 3, 1, 1),
    ("protocol-unreachable", 3, 2, 2),
    ("port-unreachable", 3, 3, 3),
    ("fragmentation-needed", 3, 4, 4),
    ("source-route-failed", 3, 5, 5),
    ("network-unknown", 3, 6, 6),
    ("host-unknown", 3, 7, 7),
    ("network-prohibited", 3, 9, 9),
    ("host-prohibited", 3, 10, 10),
    ("TOS-network-unreachable", 3, 11, 11),
    ("TOS-host-unreachable", 3, 12, 12),
    ("communication-prohibited", 3, 13, 13),
    ("host-precedence-violation", 3, 14, 14),
    ("precedence-cutoff", 3, 15, 15),
    ("source-quench", 4, 0, 0xff),
    ("redirect", 5, 0, 0xff),
    ("network-redirect", 5, 0, 0),
    ("host-redirect", 5, 1, 1),
    ("TOS-network-redirect", 5, 2, 2),
    ("TOS-host-redirect", 5, 3, 3),
    ("echo-request", 8, 0, 0xff),
    ("ping", 8, 0, 0xff),
    ("router-advertisement", 9, 0, 0xff),
    ("router-solicitation", 10, 0, 0xff),
    ("time-exceeded", 11, 0, 0xff),
    ("ttl-exceeded", 11, 0, 0xff),
    ("ttl-zero-during-transit", 11, 0, 0),
    ("ttl-zero-during-reassembly", 11, 1, 1),
    ("parameter-problem", 12, 0, 0xff),
    ("ip-header-bad", 12, 0, 0),
    ("required-option-missing", 12, 1, 1),
    ("timestamp-request", 13, 0, 0xff),
    ("timestamp-reply", 14, 0, 0xff),
    ("address-mask-request", 17, 0, 0xff),
    ("address-mask-reply", 18, 0, 0xff),
];

/// `--icmp-type`: what the packet's ICMP header must carry.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct IcmpType {
    /// ICMP type; [`ICMP_TYPE_ANY`] (255) matches every type and code.
    pub icmp_type: u8,
    /// Lowest code matched (inclusive).
    pub code_min: u8,
    /// Highest code matched (inclusive); below `code_min` nothing matches.
    pub code_max: u8,
    /// `! --icmp-type`: the result is inverted.
    pub invert: bool,
}

impl IcmpType {
    /// Whether an ICMP packet of this type and code matches (after `!`).
    pub fn matches(&self, icmp_type: u8, code: u8) -> bool {
        let hit = self.icmp_type == ICMP_TYPE_ANY
            || (icmp_type == self.icmp_type && (self.code_min..=self.code_max).contains(&code));
        hit != self.invert
    }
}

/// What differs between `-m icmp` and `-m icmp6` ([`super::icmp6`]).
pub trait IcmpFamily: std::fmt::Debug + Clone + Default + PartialEq + Eq {
    /// `[--icmp-type]` or `[--icmpv6-type]`.
    const OPTIONS: &'static [Opt];
    /// The match's name.
    const NAME: &'static str;
    /// The protocol `-p` must name, not inverted, and its name.
    const PROTO: (u8, &'static str);
    /// The name table and the family's word in messages.
    const NAMES: &'static [(&'static str, u8, u8, u8)];
    const WORD: &'static str;
    /// The type number that matches every packet (IPv4's 255), if any.
    const ANY: Option<u8>;
}

/// IPv4: `-m icmp`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct V4Icmp;

impl IcmpFamily for V4Icmp {
    const OPTIONS: &'static [Opt] = &[Opt::new("icmp-type", 1)];
    const NAME: &'static str = "icmp";
    const PROTO: (u8, &'static str) = (PROTO_ICMP, "icmp");
    const NAMES: &'static [(&'static str, u8, u8, u8)] = ICMP_NAMES;
    const WORD: &'static str = "ICMP";
    const ANY: Option<u8> = Some(ICMP_TYPE_ANY);
}

/// The options of `-m icmp` (or, as [`super::icmp6::Icmp6`], `-m icmp6`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Icmp<F = V4Icmp> {
    /// `--icmp-type` (mandatory once the rule is complete).
    pub icmp_type: Option<IcmpType>,
    family: PhantomData<F>,
}

impl<F: IcmpFamily> Icmp<F> {
    /// Whether a packet of this type and code matches (after `!`): the type
    /// equal and the code in range, or (IPv4) the type is 255.
    pub fn matches(&self, icmp_type: u8, code: u8) -> bool {
        self.icmp_type.is_none_or(|t| {
            let hit = Some(t.icmp_type) == F::ANY
                || (icmp_type == t.icmp_type && (t.code_min..=t.code_max).contains(&code));
            hit != t.invert
        })
    }
}

/// `A[:B]` of numbers 0..=255 as libxt_icmp.h's `parse_range` reads them:
/// the values and what follows them.
fn parse_range(s: &str) -> Option<((u8, u8), &str)> {
    let (lo, rest) = xt_strtoui(s, 0, 255)?;
    match rest.strip_prefix(':') {
        Some(r) => {
            let (hi, rest) = xt_strtoui(r, 0, 255)?;
            Some(((lo as u8, hi as u8), rest))
        }
        None => Some(((lo as u8, lo as u8), rest)),
    }
}

/// A name (any unambiguous case-insensitive prefix of one) or
/// `TYPE[/CODE[:CODE]]`, to (type, code_min, code_max).
pub fn parse_icmp_type(s: &str) -> Result<(u8, u8, u8), String> {
    parse_icmp_names(s, ICMP_NAMES, "ICMP")
}

/// libxt_icmp.h's `__ipt_parse_icmp`, shared by ICMP and ICMPv6: `names`
/// the family's table, `word` its name in messages (`ICMP`, `ICMPv6`).
pub(crate) fn parse_icmp_names(
    s: &str,
    names: &[(&str, u8, u8, u8)],
    word: &str,
) -> Result<(u8, u8, u8), String> {
    let mut found: Option<&(&str, u8, u8, u8)> = None;
    for e in names {
        let prefix =
            e.0.as_bytes()
                .get(..s.len())
                .is_some_and(|p| p.eq_ignore_ascii_case(s.as_bytes()));
        if !prefix {
            continue;
        }
        if let Some(first) = found {
            return Err(format!(
                "Ambiguous {word} type `{s}': `{}' or `{}'?",
                first.0, e.0
            ));
        }
        found = Some(e);
    }
    if let Some(&(_, t, lo, hi)) = found {
        return Ok((t, lo, hi));
    }
    let Some(((t0, t1), rest)) = parse_range(s) else {
        return Err(format!("Unknown {word} type `{s}'"));
    };
    let (code_min, code_max) = match rest.chars().next() {
        None => (0, 0xff),
        Some('/') => {
            let Some((codes, rest)) = parse_range(&rest[1..]) else {
                return Err(format!("Unknown {word} code `{s}'"));
            };
            if let Some(c) = rest.chars().next() {
                return Err(format!("unknown character {c}"));
            }
            codes
        }
        Some(c) => return Err(format!("unknown character {c}")),
    };
    if t0 != t1 {
        return Err(format!("{word} type range not supported"));
    }
    Ok((t0, code_min, code_max))
}

impl<F: IcmpFamily> Extension for Icmp<F> {
    const OPTIONS: &'static [Opt] = F::OPTIONS;

    fn parse(
        &mut self,
        id: &'static str,
        invert: bool,
        args: &[String],
        _: &Cx,
    ) -> Result<(), String> {
        once(&self.icmp_type, id)?;
        let (icmp_type, code_min, code_max) = parse_icmp_names(&args[0], F::NAMES, F::WORD)?;
        self.icmp_type = Some(IcmpType {
            icmp_type,
            code_min,
            code_max,
            invert,
        });
        Ok(())
    }

    fn finish(&mut self, rule: &Rule, _: &Cx) -> Result<(), String> {
        required(&self.icmp_type, F::OPTIONS[0].name)?;
        let (proto, pname) = F::PROTO;
        if !rule.proto_is(proto) {
            return Err(format!(
                "match \"{}\" is only valid with \"-p {pname}\" (not inverted)",
                F::NAME
            ));
        }
        Ok(())
    }

    fn save(&self, out: &mut String) {
        let Some(t) = self.icmp_type else { return };
        save_invert(out, t.invert);
        let opt = F::OPTIONS[0].name;
        // iptables 1.8.9 prints "any" for type 255 whatever the codes (the
        // IPv4 wildcard; ip6tables prints 255), and only the lowest code of
        // a range.
        if Some(t.icmp_type) == F::ANY {
            out.push_str(&format!(" --{opt} any"));
        } else {
            out.push_str(&format!(" --{opt} {}", t.icmp_type));
            if t.code_min != 0 || t.code_max != 0xff {
                out.push_str(&format!("/{}", t.code_min));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::iptables::ext::testing::{first_match, refused_in};
    use crate::iptables::Match;

    fn one(rule: &str) -> Result<(IcmpType, String), String> {
        first_match!("filter", "INPUT", rule, Match::Icmp)
            .map(|(m, line)| (m.icmp_type.expect("type"), line))
    }

    fn err(rule: &str) -> String {
        refused_in("filter", "INPUT", rule)
    }

    #[test]
    fn names_and_numbers() {
        let (t, s) = one("-p icmp -m icmp --icmp-type echo-request").unwrap();
        assert_eq!(
            (t.icmp_type, t.code_min, t.code_max, t.invert),
            (8, 0, 255, false)
        );
        assert_eq!(s, "-A INPUT -p icmp -m icmp --icmp-type 8");
        let (t, s) = one("-p icmp --icmp-type port-unreachable").unwrap();
        assert_eq!((t.icmp_type, t.code_min, t.code_max), (3, 3, 3));
        assert_eq!(s, "-A INPUT -p icmp -m icmp --icmp-type 3/3");
        // Prefixes, case-insensitive.
        let (t, _) = one("-p icmp --icmp-type tos-host-r").unwrap();
        assert_eq!((t.icmp_type, t.code_min), (5, 3));
        let (t, s) = one("-p icmp ! --icmp-type 0x8/0").unwrap();
        assert_eq!(
            (t.icmp_type, t.code_min, t.code_max, t.invert),
            (8, 0, 0, true)
        );
        assert_eq!(s, "-A INPUT -p icmp -m icmp ! --icmp-type 8/0");
        let (_, s) = one("-p 1 --icmp-type +3").unwrap();
        assert_eq!(s, "-A INPUT -p icmp -m icmp --icmp-type 3");
    }

    #[test]
    fn any_and_code_ranges() {
        let (t, s) = one("-p icmp -m icmp --icmp-type any").unwrap();
        assert_eq!(t.icmp_type, ICMP_TYPE_ANY);
        assert!(t.matches(42, 7));
        assert_eq!(s, "-A INPUT -p icmp -m icmp --icmp-type any");
        let (t, s) = one("-p icmp --icmp-type 255/3:4").unwrap();
        assert_eq!((t.code_min, t.code_max), (3, 4));
        assert_eq!(s, "-A INPUT -p icmp -m icmp --icmp-type any");
        let (t, s) = one("-p icmp --icmp-type 3/2:5").unwrap();
        assert_eq!((t.icmp_type, t.code_min, t.code_max), (3, 2, 5));
        assert!(t.matches(3, 4) && !t.matches(3, 6) && !t.matches(4, 4));
        assert_eq!(s, "-A INPUT -p icmp -m icmp --icmp-type 3/2");
        let (_, s) = one("-p icmp --icmp-type 3:3/0:255").unwrap();
        assert_eq!(s, "-A INPUT -p icmp -m icmp --icmp-type 3");
    }

    #[test]
    fn refusals() {
        assert!(err("-p icmp --icmp-type echo")
            .contains("Ambiguous ICMP type `echo': `echo-reply' or `echo-request'?"));
        assert!(err("-p icmp --icmp-type 256").contains("Unknown ICMP type `256'"));
        assert!(err("-p icmp --icmp-type 3/").contains("Unknown ICMP code `3/'"));
        assert!(err("-p icmp --icmp-type 3/4/5").contains("unknown character /"));
        assert!(err("-p icmp --icmp-type 3x").contains("unknown character x"));
        assert!(err("-p icmp --icmp-type 3:5").contains("ICMP type range not supported"));
        assert!(err("-p icmp --icmp-type 3 --icmp-type 4")
            .contains("icmp: option \"--icmp-type\" can only be used once."));
        assert!(err("-p icmp -m icmp").contains("icmp: option \"--icmp-type\" must be specified"));
        assert!(err("-m icmp --icmp-type 3").contains("only valid with \"-p icmp\""));
        assert!(err("! -p icmp -m icmp --icmp-type 3").contains("only valid with \"-p icmp\""));
    }
}
