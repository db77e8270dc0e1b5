//! `-m icmp6 --icmpv6-type TYPE[/CODE]`: the ICMPv6 type and code of the
//! packet (libip6t_icmp6 with the ICMPv6 name table of libxt_icmp.h,
//! ip6tables 1.8.9; kernel `icmp6_match` in ip6_tables.c, which needs
//! `-p ipv6-icmp` not inverted). `-m icmpv6` and `-m ipv6-icmp` load it too
//! ([`super::match_alias`]), and `-p ipv6-icmp --icmpv6-type` implicitly.
//!
//! Kernel semantics (`icmp6_type_code_match`): the type equal and the code
//! within `code_min..=code_max`, then inverted by `!`; unlike IPv4, type
//! 255 is no wildcard. The values are read as for IPv4 ([`super::icmp`]).

use super::icmp::{parse_icmp_names, IcmpType};
use super::{once, required, save_invert, Cx, Extension, Opt};
use crate::iptables::model::{Rule, PROTO_ICMPV6};

/// Names `--icmpv6-type` takes, as libxt_icmp.h lists them (order matters
/// for the "ambiguous" message): name, type, lowest and highest code.
pub const ICMPV6_NAMES: &[(&str, u8, u8, u8)] = &[
    ("destination-unreachable", 1, 0, 0xff),
    ("no-route", 1, 0, 0),
    ("communication-prohibited", 1, 1, 1),
    ("beyond-scope", 1, 2, 2),
    ("address-unreachable", 1, 3, 3),
    ("port-unreachable", 1, 4, 4),
    ("failed-policy", 1, 5, 5),
    ("reject-route", 1, 6, 6),
    ("packet-too-big", 2, 0, 0xff),
    ("time-exceeded", 3, 0, 0xff),
    ("ttl-exceeded", 3, 0, 0xff),
    ("ttl-zero-during-transit", 3, 0, 0),
    ("ttl-zero-during-reassembly", 3, 1, 1),
    ("parameter-problem", 4, 0, 0xff),
    ("bad-header", 4, 0, 0),
    ("unknown-header-type", 4, 1, 1),
    ("unknown-option", 4, 2, 2),
    ("echo-request", 128, 0, 0xff),
    ("ping", 128, 0, 0xff),
    ("echo-reply", 129, 0, 0xff),
    ("pong", 129, 0, 0xff),
    ("mld-listener-query", 130, 0, 0xff),
    ("mld-listener-report", 131, 0, 0xff),
    ("mld-listener-done", 132, 0, 0xff),
    ("mld-listener-reduction", 132, 0, 0xff),
    ("router-solicitation", 133, 0, 0xff),
    ("router-advertisement", 134, 0, 0xff),
    ("neighbour-solicitation", 135, 0, 0xff),
    ("neighbor-solicitation", 135, 0, 0xff),
    ("neighbour-advertisement", 136, 0, 0xff),
    ("neighbor-advertisement", 136, 0, 0xff),
    ("redirect", 137, 0, 0xff),
];

/// The options of `-m icmp6`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Icmp6 {
    /// `--icmpv6-type` (mandatory once the rule is complete).
    pub icmp_type: Option<IcmpType>,
}

impl Icmp6 {
    /// Whether an ICMPv6 packet of this type and code matches (after `!`).
    pub fn matches(&self, icmp_type: u8, code: u8) -> bool {
        self.icmp_type.is_none_or(|t| {
            (icmp_type == t.icmp_type && (t.code_min..=t.code_max).contains(&code)) != t.invert
        })
    }
}

impl Extension for Icmp6 {
    const OPTIONS: &'static [Opt] = &[Opt::new("icmpv6-type", 1)];

    fn parse(
        &mut self,
        _: &'static str,
        invert: bool,
        args: &[String],
        _: &Cx,
    ) -> Result<(), String> {
        once(&self.icmp_type, "icmpv6-type")?;
        let (icmp_type, code_min, code_max) = parse_icmp_names(&args[0], ICMPV6_NAMES, "ICMPv6")?;
        self.icmp_type = Some(IcmpType {
            icmp_type,
            code_min,
            code_max,
            invert,
        });
        Ok(())
    }

    fn finish(&mut self, rule: &Rule, _: &Cx) -> Result<(), String> {
        required(&self.icmp_type, "icmpv6-type")?;
        if !rule.proto_is(PROTO_ICMPV6) {
            return Err(
                "match \"icmp6\" is only valid with \"-p ipv6-icmp\" (not inverted)".into(),
            );
        }
        Ok(())
    }

    fn save(&self, out: &mut String) {
        let Some(t) = self.icmp_type else { return };
        save_invert(out, t.invert);
        // ip6tables 1.8.9 prints the number, and only the lowest code of a
        // range.
        out.push_str(&format!(" --icmpv6-type {}", t.icmp_type));
        if t.code_min != 0 || t.code_max != 0xff {
            out.push_str(&format!("/{}", t.code_min));
        }
    }
}

#[cfg(test)]
mod tests {
    use crate::iptables::ext::testing::rule6_in;

    fn saved(rule: &str) -> Result<String, String> {
        rule6_in("filter", "INPUT", rule).map(|(_, l)| l)
    }

    #[test]
    fn saves_as_ip6tables() {
        // Each as ip6tables-legacy-save 1.8.9 printed it (Debian 12).
        for (rule, want) in [
            (
                "-p ipv6-icmp --icmpv6-type 1",
                "-p ipv6-icmp -m icmp6 --icmpv6-type 1",
            ),
            (
                "-p icmpv6 -m icmpv6 --icmpv6-type echo-request",
                "-p ipv6-icmp -m icmp6 --icmpv6-type 128",
            ),
            (
                "-p ipv6-icmp --icmpv6-type 1/2",
                "-p ipv6-icmp -m icmp6 --icmpv6-type 1/2",
            ),
            (
                "-p ipv6-icmp ! --icmpv6-type neighbour-solicitation",
                "-p ipv6-icmp -m icmp6 ! --icmpv6-type 135",
            ),
            (
                "-p ipv6-icmp --icmpv6-type 255",
                "-p ipv6-icmp -m icmp6 --icmpv6-type 255",
            ),
            (
                "-p ipv6-icmp --icmpv6-type 1/255",
                "-p ipv6-icmp -m icmp6 --icmpv6-type 1/255",
            ),
            (
                "-p ipv6-icmp --icmpv6-type 1/2:3",
                "-p ipv6-icmp -m icmp6 --icmpv6-type 1/2",
            ),
            (
                "-p ipv6-icmp --icmpv6-type 0x10",
                "-p ipv6-icmp -m icmp6 --icmpv6-type 16",
            ),
            (
                "-p ipv6-icmp --icmpv6-type no-route",
                "-p ipv6-icmp -m icmp6 --icmpv6-type 1/0",
            ),
            (
                "-p 58 --icmpv6-type 3",
                "-p ipv6-icmp -m icmp6 --icmpv6-type 3",
            ),
            (
                "-p ipv6-icmp -m ipv6-icmp --icmpv6-type 3",
                "-p ipv6-icmp -m icmp6 --icmpv6-type 3",
            ),
        ] {
            assert_eq!(
                saved(rule).unwrap_or_else(|e| panic!("{rule}: {e}")),
                format!("-A INPUT {want}")
            );
        }
    }

    #[test]
    fn refusals() {
        for (rule, msg) in [
            (
                "-p ipv6-icmp -m icmp6",
                "icmp6: option \"--icmpv6-type\" must be specified",
            ),
            (
                "-p ipv6-icmp --icmpv6-type e",
                "Ambiguous ICMPv6 type `e': `echo-request' or `echo-reply'?",
            ),
            ("-p ipv6-icmp --icmpv6-type x", "Unknown ICMPv6 type `x'"),
            (
                "-m icmp6 --icmpv6-type 3",
                "only valid with \"-p ipv6-icmp\"",
            ),
            (
                "! -p ipv6-icmp --icmpv6-type 3",
                "only valid with \"-p ipv6-icmp\"",
            ),
            ("-p icmp --icmp-type 3", "unknown option \"--icmp-type\""),
            ("-p icmp6 --icmpv6-type 3", "unknown protocol"),
        ] {
            let e = saved(rule).unwrap_err();
            assert!(e.contains(msg), "{rule}: {e}");
        }
    }
}
