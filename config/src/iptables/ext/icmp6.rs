//! `-m icmp6 --icmpv6-type TYPE[/CODE]`: the ICMPv6 type and code of the
//! packet (libip6t_icmp6 with the ICMPv6 name table of libxt_icmp.h,
//! ip6tables 1.8.9; kernel `icmp6_match` in ip6_tables.c, which needs
//! `-p ipv6-icmp` not inverted). `-m icmpv6` and `-m ipv6-icmp` load it too
//! ([`super::match_alias`]), and `-p ipv6-icmp --icmpv6-type` implicitly.
//!
//! Kernel semantics (`icmp6_type_code_match`): the type equal and the code
//! within `code_min..=code_max`, then inverted by `!`; unlike IPv4, type
//! 255 is no wildcard. The values are read as for IPv4 ([`super::icmp`]).

use super::icmp::{Icmp, IcmpFamily};
use super::Opt;
use crate::iptables::model::PROTO_ICMPV6;

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

/// IPv6: `-m icmp6`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct V6Icmp;

impl IcmpFamily for V6Icmp {
    const OPTIONS: &'static [Opt] = &[Opt::new("icmpv6-type", 1)];
    const NAME: &'static str = "icmp6";
    const PROTO: (u8, &'static str) = (PROTO_ICMPV6, "ipv6-icmp");
    const NAMES: &'static [(&'static str, u8, u8, u8)] = ICMPV6_NAMES;
    const WORD: &'static str = "ICMPv6";
    const ANY: Option<u8> = None;
}

/// The options of `-m icmp6`: `-m icmp`'s with the ICMPv6 names.
pub type Icmp6 = Icmp<V6Icmp>;

#[cfg(test)]
mod tests {
    use super::Icmp6;
    use crate::iptables::ext::testing::{icmp6_of, saved6 as saved};

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
    fn type_255_is_no_wildcard() {
        let m: Icmp6 = icmp6_of("-p ipv6-icmp --icmpv6-type 255");
        assert!(m.matches(255, 0) && !m.matches(128, 0));
        let m: Icmp6 = icmp6_of("-p ipv6-icmp ! --icmpv6-type port-unreachable");
        assert!(!m.matches(1, 4) && m.matches(1, 3) && m.matches(128, 0));
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
