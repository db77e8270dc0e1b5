//! `-j REJECT`: drop the packet and answer with an ICMP error or a TCP
//! reset (iptables 1.8.9 `libipt_REJECT`, kernel `ipt_REJECT.c`); in an
//! ip6tables ruleset with an ICMPv6 error or a TCP reset ([`RejectWith6`],
//! `libip6t_REJECT`, `ip6t_REJECT.c`), with the same table and hook rules.
//!
//! The kernel allows it in table filter only, from INPUT, FORWARD and
//! OUTPUT (`xt_check_target`), and `tcp-reset` only for rules with
//! `-p tcp` not inverted (`reject_tg_check`).

use super::{check_table_hooks, Cx, Extension, Given, Opt};
use crate::iptables::model::{Family, Hook, HookMask, Rule, TableKind, PROTO_TCP};

/// The answer REJECT sends (`enum ipt_reject_with`; the discriminant is
/// the kernel's value).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[repr(u8)]
pub enum RejectWith {
    IcmpNetUnreachable = 0,
    IcmpHostUnreachable = 1,
    IcmpProtoUnreachable = 2,
    /// The default.
    #[default]
    IcmpPortUnreachable = 3,
    IcmpNetProhibited = 5,
    IcmpHostProhibited = 6,
    /// A TCP RST (only with `-p tcp`).
    TcpReset = 7,
    IcmpAdminProhibited = 8,
}

impl RejectWith {
    /// In libipt_REJECT's table order, which decides what an abbreviation
    /// means: (value, name, alias).
    const TABLE: [(RejectWith, &'static str, &'static str); 8] = [
        (
            RejectWith::IcmpNetUnreachable,
            "icmp-net-unreachable",
            "net-unreach",
        ),
        (
            RejectWith::IcmpHostUnreachable,
            "icmp-host-unreachable",
            "host-unreach",
        ),
        (
            RejectWith::IcmpProtoUnreachable,
            "icmp-proto-unreachable",
            "proto-unreach",
        ),
        (
            RejectWith::IcmpPortUnreachable,
            "icmp-port-unreachable",
            "port-unreach",
        ),
        (
            RejectWith::IcmpNetProhibited,
            "icmp-net-prohibited",
            "net-prohib",
        ),
        (
            RejectWith::IcmpHostProhibited,
            "icmp-host-prohibited",
            "host-prohib",
        ),
        (RejectWith::TcpReset, "tcp-reset", "tcp-rst"),
        (
            RejectWith::IcmpAdminProhibited,
            "icmp-admin-prohibited",
            "admin-prohib",
        ),
    ];

    /// The name `iptables-save` prints.
    pub fn name(self) -> &'static str {
        RejectWith::TABLE
            .iter()
            .find(|(w, _, _)| *w == self)
            .map(|(_, n, _)| *n)
            .unwrap_or("icmp-port-unreachable")
    }

    /// The code of the ICMP destination-unreachable (type 3) message sent
    /// (RFC 792, RFC 1812 for 9, 10, 13); `None` for a TCP reset.
    pub fn icmp_code(self) -> Option<u8> {
        Some(match self {
            RejectWith::IcmpNetUnreachable => 0,
            RejectWith::IcmpHostUnreachable => 1,
            RejectWith::IcmpProtoUnreachable => 2,
            RejectWith::IcmpPortUnreachable => 3,
            RejectWith::IcmpNetProhibited => 9,
            RejectWith::IcmpHostProhibited => 10,
            RejectWith::IcmpAdminProhibited => 13,
            RejectWith::TcpReset => return None,
        })
    }

    /// As libipt_REJECT reads `--reject-with`: the first entry whose name
    /// or alias starts with the text, ignoring ASCII case (so `icmp` and
    /// even the empty text mean `icmp-net-unreachable`).
    pub fn parse(arg: &str) -> Result<RejectWith, String> {
        if let Some(w) = lookup(&RejectWith::TABLE, arg) {
            return Ok(w);
        }
        if prefix_of("echo-reply", arg) || prefix_of("echoreply", arg) {
            return Err(format!(
                "unknown reject type \"{arg}\" (--reject-with echo-reply is no longer supported)"
            ));
        }
        Err(format!("unknown reject type \"{arg}\""))
    }
}

/// Whether `arg` starts `full`, ignoring ASCII case (the empty text
/// starts every name).
fn prefix_of(full: &str, arg: &str) -> bool {
    full.len() >= arg.len() && full.as_bytes()[..arg.len()].eq_ignore_ascii_case(arg.as_bytes())
}

/// The first entry of a REJECT name table (value, name, alias) whose name
/// or alias starts with `arg`, as both libipt_REJECT and libip6t_REJECT
/// read `--reject-with`.
fn lookup<T: Copy>(table: &[(T, &str, &str)], arg: &str) -> Option<T> {
    table
        .iter()
        .find(|(_, n, a)| prefix_of(n, arg) || prefix_of(a, arg))
        .map(|(w, _, _)| *w)
}

/// The answer REJECT sends in an ip6tables ruleset (`enum
/// ip6t_reject_with`; the discriminant is the kernel's value).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[repr(u8)]
pub enum RejectWith6 {
    /// ICMPv6 destination unreachable, code 0.
    NoRoute = 0,
    /// Code 1: communication administratively prohibited.
    AdmProhibited = 1,
    /// Code 3.
    AddrUnreachable = 3,
    /// Code 4; the default.
    #[default]
    PortUnreachable = 4,
    /// A TCP RST (only with `-p tcp`).
    TcpReset = 6,
    /// Code 5: source address failed ingress/egress policy.
    PolicyFail = 7,
    /// Code 6: reject route to destination.
    RejectRoute = 8,
}

impl RejectWith6 {
    /// In libip6t_REJECT's table order: (value, name, alias).
    const TABLE: [(RejectWith6, &'static str, &'static str); 7] = [
        (RejectWith6::NoRoute, "icmp6-no-route", "no-route"),
        (
            RejectWith6::AdmProhibited,
            "icmp6-adm-prohibited",
            "adm-prohibited",
        ),
        (
            RejectWith6::AddrUnreachable,
            "icmp6-addr-unreachable",
            "addr-unreach",
        ),
        (
            RejectWith6::PortUnreachable,
            "icmp6-port-unreachable",
            "port-unreach",
        ),
        (RejectWith6::TcpReset, "tcp-reset", "tcp-reset"),
        (RejectWith6::PolicyFail, "icmp6-policy-fail", "policy-fail"),
        (
            RejectWith6::RejectRoute,
            "icmp6-reject-route",
            "reject-route",
        ),
    ];

    /// The name `ip6tables-save` prints.
    pub fn name(self) -> &'static str {
        RejectWith6::TABLE
            .iter()
            .find(|(w, _, _)| *w == self)
            .map(|(_, n, _)| *n)
            .unwrap_or("icmp6-port-unreachable")
    }

    /// The code of the ICMPv6 destination-unreachable (type 1) message
    /// sent (RFC 4443); `None` for a TCP reset.
    pub fn icmp6_code(self) -> Option<u8> {
        Some(match self {
            RejectWith6::NoRoute => 0,
            RejectWith6::AdmProhibited => 1,
            RejectWith6::AddrUnreachable => 3,
            RejectWith6::PortUnreachable => 4,
            RejectWith6::PolicyFail => 5,
            RejectWith6::RejectRoute => 6,
            RejectWith6::TcpReset => return None,
        })
    }

    /// As libip6t_REJECT reads `--reject-with` (see [`lookup`]).
    pub fn parse(arg: &str) -> Result<RejectWith6, String> {
        lookup(&RejectWith6::TABLE, arg).ok_or_else(|| format!("unknown reject type \"{arg}\""))
    }
}

/// The options of `-j REJECT`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Reject {
    /// `--reject-with` (default `icmp-port-unreachable`) of an iptables
    /// rule.
    pub with: RejectWith,
    /// `--reject-with` of an ip6tables rule (`Some` once the rule is read;
    /// `with` is then unused).
    pub with6: Option<RejectWith6>,
    given: Given,
}

impl Extension for Reject {
    const OPTIONS: &'static [Opt] = &[Opt::new("reject-with", 1)];

    fn parse(
        &mut self,
        id: &'static str,
        invert: bool,
        args: &[String],
        cx: &Cx,
    ) -> Result<(), String> {
        self.given.take(Self::OPTIONS, id, invert)?;
        match cx.family {
            Family::Ipv4 => self.with = RejectWith::parse(&args[0])?,
            Family::Ipv6 => self.with6 = Some(RejectWith6::parse(&args[0])?),
        }
        Ok(())
    }

    fn finish(&mut self, rule: &Rule, cx: &Cx) -> Result<(), String> {
        if cx.family == Family::Ipv6 {
            let with = *self.with6.get_or_insert_default();
            if with == RejectWith6::TcpReset && !rule.proto_is(PROTO_TCP) {
                return Err(
                    "TCP_RESET illegal for non-tcp (tcp-reset needs -p tcp, not inverted)".into(),
                );
            }
            return Ok(());
        }
        if self.with == RejectWith::TcpReset && !rule.proto_is(PROTO_TCP) {
            return Err(
                "TCP_RESET invalid for non-tcp (tcp-reset needs -p tcp, not inverted)".into(),
            );
        }
        Ok(())
    }

    fn save(&self, out: &mut String) {
        out.push_str(" --reject-with ");
        out.push_str(match self.with6 {
            Some(w) => w.name(),
            None => self.with.name(),
        });
    }

    fn check_hooks(&self, table: TableKind, hooks: HookMask) -> Result<(), String> {
        check_table_hooks(
            table,
            hooks,
            TableKind::Filter,
            &[Hook::Input, Hook::Forward, Hook::Output],
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::iptables::ext::testing::{load, saved_rules as saved};
    use crate::iptables::{Ruleset, Target, TargetExt};

    fn filter(rule: &str) -> Result<Ruleset, String> {
        load(&format!("*filter\n-A INPUT {rule}\nCOMMIT\n"))
    }

    fn with_of(rs: &Ruleset) -> RejectWith {
        let c = rs
            .table(TableKind::Filter)
            .and_then(|t| t.chain("INPUT"))
            .expect("INPUT");
        match &c.rules[0].target {
            Target::Ext(TargetExt::Reject(r)) => r.with,
            other => panic!("not REJECT: {other:?}"),
        }
    }

    #[test]
    fn ipv6_names_as_ip6tables() {
        use crate::iptables::ext::testing::rule6_in;
        // Each as ip6tables-legacy-save 1.8.9 printed it (Debian 12).
        for (rule, want) in [
            ("", "icmp6-port-unreachable"),
            ("--reject-with icmp6-adm-prohibited", "icmp6-adm-prohibited"),
            ("--reject-with adm-prohibited", "icmp6-adm-prohibited"),
            ("--reject-with no-route", "icmp6-no-route"),
            ("--reject-with addr-unreach", "icmp6-addr-unreachable"),
            ("--reject-with port-unreach", "icmp6-port-unreachable"),
            ("--reject-with icmp6-policy-fail", "icmp6-policy-fail"),
            ("--reject-with icmp6-reject-route", "icmp6-reject-route"),
            ("--reject-with icmp6", "icmp6-no-route"),
            ("--reject-with p", "icmp6-port-unreachable"),
        ] {
            let (_, line) = rule6_in("filter", "INPUT", &format!("-j REJECT {rule}"))
                .unwrap_or_else(|e| panic!("{rule}: {e}"));
            assert_eq!(line, format!("-A INPUT -j REJECT --reject-with {want}"));
        }
        let (_, line) = rule6_in(
            "filter",
            "INPUT",
            "-p tcp -j REJECT --reject-with tcp-reset",
        )
        .unwrap();
        assert_eq!(line, "-A INPUT -p tcp -j REJECT --reject-with tcp-reset");
        for (rule, msg) in [
            (
                "-j REJECT --reject-with icmp-port-unreachable",
                "unknown reject type \"icmp-port-unreachable\"",
            ),
            (
                "-j REJECT --reject-with not-neighbour",
                "unknown reject type",
            ),
            ("-j REJECT --reject-with echo-reply", "unknown reject type"),
            (
                "-j REJECT --reject-with tcp-reset",
                "TCP_RESET illegal for non-tcp",
            ),
            (
                "! -p tcp -j REJECT --reject-with tcp-reset",
                "TCP_RESET illegal for non-tcp",
            ),
        ] {
            let e = rule6_in("filter", "INPUT", rule).unwrap_err();
            assert!(e.contains(msg), "{rule}: {e}");
        }
        assert_eq!(RejectWith6::AdmProhibited.icmp6_code(), Some(1));
        assert_eq!(RejectWith6::TcpReset.icmp6_code(), None);
    }

    #[test]
    fn default_is_port_unreachable_and_always_printed() {
        let rs = filter("-j REJECT").expect("parses");
        assert_eq!(with_of(&rs), RejectWith::IcmpPortUnreachable);
        assert_eq!(
            saved(&rs),
            ["-A INPUT -j REJECT --reject-with icmp-port-unreachable"]
        );
        let same = filter("-j REJECT --reject-with icmp-port-unreachable").expect("parses");
        assert_eq!(rs, same);
    }

    #[test]
    fn names_aliases_and_abbreviations() {
        for (arg, want) in [
            ("icmp-net-unreachable", RejectWith::IcmpNetUnreachable),
            ("net-unreach", RejectWith::IcmpNetUnreachable),
            ("icmp", RejectWith::IcmpNetUnreachable),
            ("\"\"", RejectWith::IcmpNetUnreachable),
            ("h", RejectWith::IcmpHostUnreachable),
            ("p", RejectWith::IcmpProtoUnreachable),
            ("port-unreach", RejectWith::IcmpPortUnreachable),
            ("ICMP-HOST-PROHIBITED", RejectWith::IcmpHostProhibited),
            ("net-prohib", RejectWith::IcmpNetProhibited),
            ("icmp-admin", RejectWith::IcmpAdminProhibited),
            ("a", RejectWith::IcmpAdminProhibited),
        ] {
            let rs = filter(&format!("-j REJECT --reject-with {arg}"))
                .unwrap_or_else(|e| panic!("{arg}: {e}"));
            assert_eq!(with_of(&rs), want, "{arg}");
            assert_eq!(
                saved(&rs),
                [format!("-A INPUT -j REJECT --reject-with {}", want.name())]
            );
        }
        let rs = filter("-p tcp -j REJECT --reject-with tcp-rst").expect("parses");
        assert_eq!(with_of(&rs), RejectWith::TcpReset);
        assert_eq!(RejectWith::TcpReset.icmp_code(), None);
        assert_eq!(RejectWith::IcmpAdminProhibited.icmp_code(), Some(13));
        assert_eq!(
            saved(&rs),
            ["-A INPUT -p tcp -j REJECT --reject-with tcp-reset"]
        );
    }

    #[test]
    fn refusals() {
        for (rule, msg) in [
            ("-j REJECT --reject-with foo", "unknown reject type \"foo\""),
            (
                "-j REJECT --reject-with net-unreachable",
                "unknown reject type",
            ),
            ("-j REJECT --reject-with echo-reply", "no longer supported"),
            (
                "-j REJECT --reject-with icmp-port-unreachablex",
                "unknown reject type",
            ),
            (
                "-j REJECT --reject-with tcp-reset",
                "TCP_RESET invalid for non-tcp",
            ),
            (
                "! -p tcp -j REJECT --reject-with tcp-reset",
                "TCP_RESET invalid for non-tcp",
            ),
            (
                "-j REJECT --reject-with h --reject-with h",
                "option \"--reject-with\" can only be used once",
            ),
            (
                "-j REJECT ! --reject-with h",
                "option \"--reject-with\" cannot be inverted",
            ),
        ] {
            match filter(rule) {
                Ok(_) => panic!("accepted: {rule}"),
                Err(e) => assert!(e.contains(msg), "{rule}: `{e}' lacks `{msg}'"),
            }
        }
    }

    #[test]
    fn filter_table_input_forward_output_only() {
        load("*filter\n-A FORWARD -j REJECT\n-A OUTPUT -j REJECT\nCOMMIT\n").expect("filter");
        for (text, msg) in [
            (
                "*mangle\n-A INPUT -j REJECT\nCOMMIT\n",
                "only valid in filter table, not mangle",
            ),
            (
                "*raw\n-A OUTPUT -j REJECT\nCOMMIT\n",
                "only valid in filter table, not raw",
            ),
            (
                "*security\n-A INPUT -j REJECT\nCOMMIT\n",
                "only valid in filter table, not security",
            ),
            (
                "*nat\n-A INPUT -j REJECT\nCOMMIT\n",
                "only valid in filter table, not nat",
            ),
        ] {
            let e = load(text).expect_err(text);
            assert!(e.contains(msg), "{e}");
        }
        // A user chain is checked against the hooks that reach it.
        load("*filter\n:X - [0:0]\n-A X -j REJECT\nCOMMIT\n").expect("unreachable chain");
        load("*filter\n:X - [0:0]\n-A INPUT -j X\n-A X -j REJECT\nCOMMIT\n").expect("via INPUT");
    }
}
