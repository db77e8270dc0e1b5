//! Match and target extensions (`-m NAME`, `-j NAME`).
//!
//! Each extension is one file with a public struct holding its typed
//! options, implementing [`Extension`]: the options it owns, how each is
//! parsed (as the iptables userspace extension parses it, with the same
//! refusals), a final check once the whole rule is read (as the extension's
//! `final_check` and the kernel's `checkentry` do), and how it prints in
//! `iptables-save` form. Anything not listed here is refused by name.
//!
//! What the extensions share lives in one place: the C-library and
//! libxtables readers of numbers, addresses, ports, protocols and marks in
//! [`parse`]; below, xtables' option bookkeeping (`Given`, `once`,
//! `required`) and the kernel's table and hook checks (`check_table`,
//! `check_hook_mask`), each with the messages of the C code it follows.

use super::model::{Family, Hook, HookMask, ProtoMatch, Rule, TableKind};

pub mod addr6;
pub mod addrtype;
pub mod comment;
pub mod connmark;
pub mod conntrack;
pub mod dscp;
pub mod eui64;
pub mod frag;
pub mod icmp;
pub mod icmp6;
pub mod iprange;
pub mod ipv6header;
pub mod length;
pub mod limit;
pub mod mac;
pub mod mark;
pub mod multiport;
pub mod parse;
pub mod pkttype;
pub mod recent;
pub mod rt;
pub mod set;
pub mod state;
pub mod statistic;
pub mod tcp;
pub mod tos;
pub mod ttl;
pub mod udp;

pub mod t_connmark;
pub mod t_ct;
pub mod t_dscp;
pub mod t_log;
pub mod t_mark;
pub mod t_nat;
pub mod t_npt;
pub mod t_reject;
pub mod t_tcpmss;
pub mod t_ttl;

/// A long option an extension owns.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Opt {
    /// Name without the leading `--`.
    pub name: &'static str,
    /// How many words follow it (0, 1 or 2; `--tcp-flags MASK COMP` has 2).
    pub args: u8,
    /// Canonical name: aliases (`--sport`/`--source-port`) share it, so an
    /// abbreviation matching both is not ambiguous and "only once" checks
    /// see one option.
    pub id: &'static str,
}

impl Opt {
    pub const fn new(name: &'static str, args: u8) -> Opt {
        Opt {
            name,
            args,
            id: name,
        }
    }
    pub const fn alias(name: &'static str, args: u8, id: &'static str) -> Opt {
        Opt { name, args, id }
    }
}

/// What an extension sees while parsing: the table and chain the rule goes
/// to, and the `-p` given so far (iptables' extensions check the protocol
/// when they read an option, so `-p` after the option is too late for some).
#[derive(Debug, Clone, Copy)]
pub struct Cx<'a> {
    pub family: Family,
    pub table: TableKind,
    pub chain: &'a str,
    pub proto: Option<ProtoMatch>,
}

/// One match or target extension.
pub trait Extension {
    /// The options this extension owns.
    const OPTIONS: &'static [Opt];

    /// Parses one option. `id` is the canonical [`Opt::id`], `invert` whether
    /// `!` preceded it, `args` its words (as many as [`Opt::args`]).
    fn parse(
        &mut self,
        id: &'static str,
        invert: bool,
        args: &[String],
        cx: &Cx,
    ) -> Result<(), String>;

    /// Checks the whole rule once every option is read (required options,
    /// the protocol a match needs, combinations the kernel refuses).
    fn finish(&mut self, rule: &Rule, cx: &Cx) -> Result<(), String>;

    /// Appends the options in `iptables-save` form, each with a leading space.
    fn save(&self, out: &mut String);

    /// For targets: whether it may run in `table` from the given hooks (the
    /// kernel's per-target table and hook restrictions). Matches may also
    /// restrict hooks (e.g. `-m mac` outside OUTPUT/POSTROUTING).
    fn check_hooks(&self, _table: TableKind, _hooks: HookMask) -> Result<(), String> {
        Ok(())
    }
}

macro_rules! registry {
    ($(#[$m:meta])* $enum:ident { $($var:ident($($path:ident)::+) = $name:literal,)* }) => {
        $(#[$m])*
        #[derive(Debug, Clone, PartialEq, Eq)]
        pub enum $enum {
            $($var($($path)::+),)*
        }

        impl $enum {
            /// A fresh extension by the name `-m`/`-j` gives, if sluice has it.
            pub fn by_name(name: &str) -> Option<$enum> {
                match name {
                    $($name => Some($enum::$var(Default::default())),)*
                    _ => None,
                }
            }

            /// The name `iptables-save` prints after `-m`/`-j`.
            pub fn name(&self) -> &'static str {
                match self {
                    $($enum::$var(_) => $name,)*
                }
            }

            pub(crate) fn options(&self) -> &'static [Opt] {
                match self {
                    $($enum::$var(_) => <$($path)::+ as Extension>::OPTIONS,)*
                }
            }

            pub(crate) fn parse(
                &mut self,
                id: &'static str,
                invert: bool,
                args: &[String],
                cx: &Cx,
            ) -> Result<(), String> {
                match self {
                    $($enum::$var(x) => x.parse(id, invert, args, cx),)*
                }
            }

            pub(crate) fn finish(&mut self, rule: &Rule, cx: &Cx) -> Result<(), String> {
                match self {
                    $($enum::$var(x) => x.finish(rule, cx),)*
                }
            }

            pub(crate) fn save(&self, out: &mut String) {
                match self {
                    $($enum::$var(x) => x.save(out),)*
                }
            }

            pub(crate) fn check_hooks(&self, table: TableKind, hooks: HookMask) -> Result<(), String> {
                match self {
                    $($enum::$var(x) => x.check_hooks(table, hooks),)*
                }
            }
        }
    };
}

registry! {
    /// A match extension (`-m NAME ...`).
    Match {
        Addrtype(addrtype::Addrtype) = "addrtype",
        Comment(comment::Comment) = "comment",
        Connmark(connmark::Connmark) = "connmark",
        Conntrack(conntrack::Conntrack) = "conntrack",
        Dscp(dscp::Dscp) = "dscp",
        Eui64(eui64::Eui64) = "eui64",
        Frag(frag::Frag) = "frag",
        Hl(ttl::Hl) = "hl",
        Icmp(icmp::Icmp) = "icmp",
        Icmp6(icmp6::Icmp6) = "icmp6",
        Ipv6header(ipv6header::Ipv6header) = "ipv6header",
        Iprange(iprange::Iprange) = "iprange",
        Length(length::Length) = "length",
        Limit(limit::Limit) = "limit",
        Mac(mac::Mac) = "mac",
        Mark(mark::Mark) = "mark",
        Multiport(multiport::Multiport) = "multiport",
        Pkttype(pkttype::Pkttype) = "pkttype",
        Recent(recent::Recent) = "recent",
        Rt(rt::Rt) = "rt",
        Set(set::Set) = "set",
        State(state::State) = "state",
        Statistic(statistic::Statistic) = "statistic",
        Tcp(tcp::Tcp) = "tcp",
        Tos(tos::Tos) = "tos",
        Ttl(ttl::Ttl) = "ttl",
        Udp(udp::Udp) = "udp",
    }
}

registry! {
    /// A target extension (`-j NAME ...`).
    TargetExt {
        Connmark(t_connmark::Connmark) = "CONNMARK",
        Ct(t_ct::Ct) = "CT",
        Dnat(t_nat::Dnat) = "DNAT",
        Dnpt(t_npt::Dnpt) = "DNPT",
        Dscp(t_dscp::Dscp) = "DSCP",
        Hl(t_ttl::Hl) = "HL",
        Log(t_log::Log) = "LOG",
        Mark(t_mark::Mark) = "MARK",
        Masquerade(t_nat::Masquerade) = "MASQUERADE",
        Notrack(t_ct::Notrack) = "NOTRACK",
        Redirect(t_nat::Redirect) = "REDIRECT",
        Reject(t_reject::Reject) = "REJECT",
        Snat(t_nat::Snat) = "SNAT",
        Snpt(t_npt::Snpt) = "SNPT",
        Tcpmss(t_tcpmss::Tcpmss) = "TCPMSS",
        Ttl(t_ttl::Ttl) = "TTL",
    }
}

/// The name libxtables loads for `-m NAME`: `icmpv6` and `ipv6-icmp` are
/// `icmp6` (`xtables_find_match`), whatever the family.
pub fn match_alias(name: &str) -> &str {
    match name {
        "icmpv6" | "ipv6-icmp" => "icmp6",
        n => n,
    }
}

/// Why `-m NAME` is refused in a ruleset of `family` although sluice has
/// the match: it exists for the other family only (or sluice has it for
/// the other family only).
pub fn family_match_reason(name: &str, family: Family) -> Option<&'static str> {
    Some(match (family, name) {
        (Family::Ipv6, "icmp") => {
            "it is IPv4 only: ip6tables has no such match (use -p ipv6-icmp --icmpv6-type)"
        }
        (Family::Ipv6, "ttl") => "it is IPv4 only: ip6tables has no such match (use -m hl)",
        (Family::Ipv6, "iprange") => "sluice has it for IPv4 only (not implemented for IPv6 yet)",
        (Family::Ipv4, "icmp6") => {
            "it is IPv6 only: iptables has no such match (use -p icmp --icmp-type)"
        }
        (Family::Ipv4, "hl") => "it is IPv6 only: iptables has no such match (use -m ttl)",
        (Family::Ipv4, "ipv6header" | "frag" | "rt" | "eui64") => {
            "it is IPv6 only: iptables has no such match"
        }
        _ => return None,
    })
}

/// Why `-j NAME` is refused in a ruleset of `family` although sluice has
/// the target (see [`family_match_reason`]).
pub fn family_target_reason(name: &str, family: Family) -> Option<&'static str> {
    Some(match (family, name) {
        (Family::Ipv6, "TTL") => "it is IPv4 only: ip6tables has no such target (use -j HL)",
        (Family::Ipv4, "HL") => "it is IPv6 only: iptables has no such target (use -j TTL)",
        (Family::Ipv4, "SNPT" | "DNPT") => {
            "it is IPv6 only: iptables has no such target (NPTv6 is IPv6 prefix translation)"
        }
        _ => return None,
    })
}

impl Match {
    /// [`Match::by_name`] in a ruleset of `family` (after [`match_alias`]).
    pub fn by_name_in(name: &str, family: Family) -> Option<Match> {
        let name = match_alias(name);
        match family_match_reason(name, family) {
            Some(_) => None,
            None => Match::by_name(name),
        }
    }
}

impl TargetExt {
    /// [`TargetExt::by_name`] in a ruleset of `family`.
    pub fn by_name_in(name: &str, family: Family) -> Option<TargetExt> {
        match family_target_reason(name, family) {
            Some(_) => None,
            None => TargetExt::by_name(name),
        }
    }
}

/// Names of matches iptables has that sluice refuses, with the reason, so the
/// error says more than "unknown".
pub fn unsupported_match_reason(name: &str) -> Option<&'static str> {
    Some(match name {
        "owner" | "socket" | "cgroup" => {
            "it needs the local socket of the packet, which a userspace router does not have"
        }
        "physdev" => "sluice has no bridge ports",
        "string" | "u32" | "bpf" => "payload inspection is not supported",
        "hashlimit" | "connlimit" | "connbytes" | "quota" | "time" | "helper" | "policy"
        | "esp" | "ah" | "sctp" | "dccp" | "ecn" | "tcpmss" | "realm" | "rpfilter" | "cluster"
        | "cpu" | "devgroup" | "ipvs" | "nfacct" | "osf" | "rateest" | "connlabel" | "hbh"
        | "dst" | "ipcomp" | "mh" | "udplite" => "it is not implemented yet",
        _ => return None,
    })
}

/// Names of targets iptables has that sluice refuses, with the reason.
pub fn unsupported_target_reason(name: &str) -> Option<&'static str> {
    Some(match name {
        "QUEUE" | "NFQUEUE" | "NFLOG" | "ULOG" => "sluice has no userspace queue or netlink log",
        "TPROXY" => "transparent proxying needs local sockets",
        "TEE" | "CLASSIFY" | "CHECKSUM" | "ECN" | "TOS" | "NETMAP" | "SECMARK" | "CONNSECMARK"
        | "AUDIT" | "IDLETIMER" | "LED" | "HMARK" | "RATEEST" | "SYNPROXY" | "TCPOPTSTRIP"
        | "TRACE" | "CLUSTERIP" | "SET" => "it is not implemented yet",
        _ => return None,
    })
}

// ---------------------------------------------------------------------------
// Option bookkeeping shared by the extensions, with libxtables' messages
// (`xtables_option_parse`, `xtables_options_fcheck`).

/// Which options of an extension were given, as xtables' `xflags` (one bit
/// per entry of the extension's `OPTIONS`, by position). Only used for
/// iptables' "only once", "cannot be inverted", "cannot be used together"
/// and "must be specified" errors; it is not part of what a rule means, so
/// any two compare equal (rules are compared by meaning, e.g. for `-D`).
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct Given(u32);

impl PartialEq for Given {
    fn eq(&self, _: &Given) -> bool {
        true
    }
}

impl Eq for Given {}

impl Given {
    fn bit(opts: &[Opt], id: &str) -> u32 {
        opts.iter()
            .position(|o| o.id == id)
            .map(|i| 1u32 << (i % 32))
            .unwrap_or(0)
    }

    /// Whether option `id` was given.
    pub(crate) fn has(&self, opts: &[Opt], id: &str) -> bool {
        self.0 & Given::bit(opts, id) != 0
    }

    /// Records option `id`, refusing it when given before.
    pub(crate) fn take_invertible(&mut self, opts: &[Opt], id: &str) -> Result<(), String> {
        if self.has(opts, id) {
            return Err(format!("option \"--{id}\" can only be used once."));
        }
        self.0 |= Given::bit(opts, id);
        Ok(())
    }

    /// Records option `id` (`invert`: whether `!` preceded it), refusing
    /// it when given before or inverted: an option without `XTOPT_INVERT`.
    pub(crate) fn take(&mut self, opts: &[Opt], id: &str, invert: bool) -> Result<(), String> {
        self.take_invertible(opts, id)?;
        no_invert_xt(id, invert)
    }

    /// xtables' exclusion check after parsing: `excl` lists, per option,
    /// the options it cannot go with. Reports the first conflict in `opts`
    /// order.
    pub(crate) fn check_excl(&self, opts: &[Opt], excl: &[(&str, &[&str])]) -> Result<(), String> {
        for o in opts.iter().filter(|o| o.id == o.name) {
            if !self.has(opts, o.id) {
                continue;
            }
            let Some((_, others)) = excl.iter().find(|(n, _)| *n == o.id) else {
                continue;
            };
            for other in opts.iter().filter(|x| x.id == x.name && x.id != o.id) {
                if others.contains(&other.id) && self.has(opts, other.id) {
                    return Err(format!(
                        "option \"--{}\" cannot be used together with \"--{}\".",
                        o.id, other.id
                    ));
                }
            }
        }
        Ok(())
    }

    /// A mandatory option (`XTOPT_MAND`).
    pub(crate) fn must_have(&self, opts: &[Opt], id: &str) -> Result<(), String> {
        required(&self.has(opts, id).then_some(()), id)
    }
}

/// xtables' "must be specified" for a mandatory option (`XTOPT_MAND`) kept
/// in `slot`.
pub(crate) fn required<T>(slot: &Option<T>, opt: &str) -> Result<(), String> {
    match slot {
        Some(_) => Ok(()),
        None => Err(format!("option \"--{opt}\" must be specified")),
    }
}

/// xtables' "only once" for an option kept in `slot`.
pub(crate) fn once<T>(slot: &Option<T>, opt: &str) -> Result<(), String> {
    match slot {
        Some(_) => Err(format!("option \"--{opt}\" can only be used once.")),
        None => Ok(()),
    }
}

/// xtables' refusal of `!` before an option that cannot be inverted.
pub(crate) fn no_invert_xt(opt: &str, invert: bool) -> Result<(), String> {
    if invert {
        Err(format!("option \"--{opt}\" cannot be inverted."))
    } else {
        Ok(())
    }
}

/// Refuses `!` before an option that cannot be inverted, as the extensions
/// with their own option parser (tcp, comment) word it.
pub fn no_invert(opt: &str, invert: bool) -> Result<(), String> {
    if invert {
        Err(format!("unexpected `!' before --{opt}"))
    } else {
        Ok(())
    }
}

/// Prints ` !` when inverted.
pub fn save_invert(out: &mut String, invert: bool) {
    if invert {
        out.push_str(" !");
    }
}

// ---------------------------------------------------------------------------
// The kernel's table and hook restrictions (`xt_check_match`,
// `xt_check_target` in net/netfilter/x_tables.c), with its messages.

/// The table an extension is registered for (`.table`).
pub(crate) fn check_table(table: TableKind, want: TableKind) -> Result<(), String> {
    if table != want {
        return Err(format!("only valid in {want} table, not {table}"));
    }
    Ok(())
}

/// The hooks an extension is registered for (`.hooks`): every hook the
/// rule is reachable from must be one of `allowed` (a rule in a chain no
/// hook reaches passes). `usable` is the kernel's word for targets,
/// `valid` the one for matches.
pub(crate) fn check_hook_mask(hooks: HookMask, allowed: &[Hook], word: &str) -> Result<(), String> {
    let ok = HookMask::of(allowed);
    if hooks.0 & !ok.0 == 0 {
        return Ok(());
    }
    let names = |m: HookMask| {
        m.hooks()
            .map(Hook::chain_name)
            .collect::<Vec<_>>()
            .join("/")
    };
    Err(format!(
        "used from hooks {}, but only {word} from {}",
        names(hooks),
        names(ok)
    ))
}

/// A target's table and hook restriction: the table must be `want`, and
/// every hook the rule is reachable from in `allowed`.
pub(crate) fn check_table_hooks(
    table: TableKind,
    hooks: HookMask,
    want: TableKind,
    allowed: &[Hook],
) -> Result<(), String> {
    check_table(table, want)?;
    check_hook_mask(hooks, allowed, "usable")
}

/// What the unit tests of the extensions share.
#[cfg(test)]
pub(crate) mod testing {
    use std::path::Path;

    use crate::iptables::model::{Hook, Rule, Ruleset};
    use crate::iptables::{parse, save::save};

    /// Parses a whole restore file, the error as text.
    pub(crate) fn load(text: &str) -> Result<Ruleset, String> {
        parse(text, Path::new("t")).map_err(|e| e.to_string())
    }

    /// The saved rule lines (`-A ...`) of a ruleset.
    pub(crate) fn saved_rules(rs: &Ruleset) -> Vec<String> {
        save(rs)
            .lines()
            .filter(|l| l.starts_with("-A"))
            .map(String::from)
            .collect()
    }

    /// Parses `-A CHAIN RULE` alone in `table` (declaring `chain` when it
    /// is not a built-in one): the rule and its saved line, or the error.
    pub(crate) fn rule_in(table: &str, chain: &str, rule: &str) -> Result<(Rule, String), String> {
        let decl = if Hook::from_chain_name(chain).is_some() {
            String::new()
        } else {
            format!(":{chain} - [0:0]\n")
        };
        let rs = load(&format!("*{table}\n{decl}-A {chain} {rule}\nCOMMIT\n"))?;
        let r = rs.tables[0]
            .chain(chain)
            .and_then(|c| c.rules.first())
            .cloned()
            .ok_or("no rule")?;
        let line = saved_rules(&rs).into_iter().next().unwrap_or_default();
        Ok((r, line))
    }

    /// [`rule_in`] for an ip6tables ruleset.
    pub(crate) fn rule6_in(table: &str, chain: &str, rule: &str) -> Result<(Rule, String), String> {
        let decl = if Hook::from_chain_name(chain).is_some() {
            String::new()
        } else {
            format!(":{chain} - [0:0]\n")
        };
        let text = format!("*{table}\n{decl}-A {chain} {rule}\nCOMMIT\n");
        let rs = crate::iptables::parse6(&text, Path::new("t")).map_err(|e| e.to_string())?;
        let r = rs.tables[0]
            .chain(chain)
            .and_then(|c| c.rules.first())
            .cloned()
            .ok_or("no rule")?;
        let line = saved_rules(&rs).into_iter().next().unwrap_or_default();
        Ok((r, line))
    }

    /// The first match of `-A INPUT RULE` in an ip6tables filter table,
    /// which must be an `Icmp6` (panics otherwise).
    pub(crate) fn icmp6_of(rule: &str) -> crate::iptables::ext::icmp6::Icmp6 {
        match rule6_in("filter", "INPUT", rule) {
            Ok((r, _)) => match r.matches.into_iter().next() {
                Some(crate::iptables::Match::Icmp6(m)) => m,
                other => panic!("not icmp6: {other:?}"),
            },
            Err(e) => panic!("{rule}: {e}"),
        }
    }

    /// For each (options, saved options) of match `m`: `-A INPUT -m M
    /// OPTIONS` in an ip6tables filter table saves as `-A INPUT -m
    /// MSAVED`; each saved text is empty or starts with a blank.
    pub(crate) fn assert_saved6(m: &str, cases: &[(&str, &str)]) {
        for (rule, want) in cases {
            let got = saved6(&format!("-m {m} {rule}")).unwrap_or_else(|e| panic!("{rule}: {e}"));
            assert_eq!(got, format!("-A INPUT -m {m}{want}"), "{rule}");
        }
    }

    /// For each (options, message part) of match `m`: the rule is refused
    /// in an ip6tables filter table with a message holding that part.
    pub(crate) fn assert_refused6(m: &str, cases: &[(&str, &str)]) {
        for (rule, msg) in cases {
            let e = saved6(&format!("-m {m} {rule}")).unwrap_err();
            assert!(e.contains(msg), "{rule}: {e}");
        }
    }

    /// The saved line of `-A INPUT RULE` in an ip6tables filter table, or
    /// the error.
    pub(crate) fn saved6(rule: &str) -> Result<String, String> {
        rule6_in("filter", "INPUT", rule).map(|(_, line)| line)
    }

    /// The rule's error message, panicking when it is accepted.
    pub(crate) fn refused_in(table: &str, chain: &str, rule: &str) -> String {
        match rule_in(table, chain, rule) {
            Ok((_, line)) => panic!("accepted: {rule}\nsaved as: {line}"),
            Err(e) => e,
        }
    }

    /// Asserts that `rule` (in a user chain) loads in table `want` only,
    /// and that every other table refuses it with the kernel's message.
    pub(crate) fn assert_table_only(want: &str, rule: &str) {
        for t in ["raw", "mangle", "nat", "filter", "security"] {
            match rule_in(t, "FOO", rule) {
                Ok(_) if t == want => {}
                Err(e) if t == want => panic!("{t}: {rule}: {e}"),
                Ok((_, line)) => panic!("{t}: accepted: {line}"),
                Err(e) => assert!(
                    e.contains(&format!("only valid in {want} table, not {t}")),
                    "{t}: {rule}: {e}"
                ),
            }
        }
    }

    /// `first_match!(TABLE, CHAIN, RULE, Match::Variant)`: [`rule_in`],
    /// with the rule's first match, which must be of that variant.
    macro_rules! first_match {
        ($table:expr, $chain:expr, $rule:expr, $variant:path) => {
            $crate::iptables::ext::testing::rule_in($table, $chain, $rule).map(|(r, line)| match r
                .matches
                .into_iter()
                .next()
            {
                Some($variant(m)) => (m, line),
                other => panic!("not the match expected: {other:?}"),
            })
        };
    }

    /// `target_ext!(TABLE, CHAIN, RULE, TargetExt::Variant)`: [`rule_in`],
    /// with the rule's target extension, which must be of that variant.
    macro_rules! target_ext {
        ($table:expr, $chain:expr, $rule:expr, $variant:path) => {
            $crate::iptables::ext::testing::rule_in($table, $chain, $rule).map(|(r, line)| match r
                .target
            {
                $crate::iptables::model::Target::Ext($variant(t)) => (t, line),
                other => panic!("not the target expected: {other:?}"),
            })
        };
    }

    pub(crate) use {first_match, target_ext};
}
