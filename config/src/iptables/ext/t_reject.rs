//! `-j REJECT`: drop the packet and answer with an ICMP error or a TCP
//! reset (iptables 1.8.9 `libipt_REJECT`, kernel `ipt_REJECT.c`).
//!
//! The kernel allows it in table filter only, from INPUT, FORWARD and
//! OUTPUT (`xt_check_target`), and `tcp-reset` only for rules with
//! `-p tcp` not inverted (`reject_tg_check`).

use super::{check_table_hooks, Cx, Extension, Given, Opt};
use crate::iptables::model::{Hook, HookMask, Rule, TableKind, PROTO_TCP};

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
        let prefix_of = |full: &str| {
            full.len() >= arg.len()
                && full.as_bytes()[..arg.len()].eq_ignore_ascii_case(arg.as_bytes())
        };
        if let Some((w, _, _)) = RejectWith::TABLE
            .iter()
            .find(|(_, n, a)| prefix_of(n) || prefix_of(a))
        {
            return Ok(*w);
        }
        if prefix_of("echo-reply") || prefix_of("echoreply") {
            return Err(format!(
                "unknown reject type \"{arg}\" (--reject-with echo-reply is no longer supported)"
            ));
        }
        Err(format!("unknown reject type \"{arg}\""))
    }
}

/// The options of `-j REJECT`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Reject {
    /// `--reject-with` (default `icmp-port-unreachable`).
    pub with: RejectWith,
    given: Given,
}

impl Extension for Reject {
    const OPTIONS: &'static [Opt] = &[Opt::new("reject-with", 1)];

    fn parse(
        &mut self,
        id: &'static str,
        invert: bool,
        args: &[String],
        _: &Cx,
    ) -> Result<(), String> {
        self.given.take(Self::OPTIONS, id, invert)?;
        self.with = RejectWith::parse(&args[0])?;
        Ok(())
    }

    fn finish(&mut self, rule: &Rule, _: &Cx) -> Result<(), String> {
        if self.with == RejectWith::TcpReset && !rule.proto_is(PROTO_TCP) {
            return Err(
                "TCP_RESET invalid for non-tcp (tcp-reset needs -p tcp, not inverted)".into(),
            );
        }
        Ok(())
    }

    fn save(&self, out: &mut String) {
        out.push_str(" --reject-with ");
        out.push_str(self.with.name());
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
