//! Match and target extensions (`-m NAME`, `-j NAME`).
//!
//! Each extension is one file with a public struct holding its typed
//! options, implementing [`Extension`]: the options it owns, how each is
//! parsed (as the iptables userspace extension parses it, with the same
//! refusals), a final check once the whole rule is read (as the extension's
//! `final_check` and the kernel's `checkentry` do), and how it prints in
//! `iptables-save` form. Anything not listed here is refused by name.

use std::fmt::Write as _;
use std::net::Ipv4Addr;

use super::model::{HookMask, ProtoMatch, Rule, TableKind};
use super::netdb;

pub mod addrtype;
pub mod comment;
pub mod connmark;
pub mod conntrack;
pub mod dscp;
pub mod icmp;
pub mod iprange;
pub mod length;
pub mod limit;
pub mod mac;
pub mod mark;
pub mod multiport;
pub mod pkttype;
pub mod recent;
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
        Icmp(icmp::Icmp) = "icmp",
        Iprange(iprange::Iprange) = "iprange",
        Length(length::Length) = "length",
        Limit(limit::Limit) = "limit",
        Mac(mac::Mac) = "mac",
        Mark(mark::Mark) = "mark",
        Multiport(multiport::Multiport) = "multiport",
        Pkttype(pkttype::Pkttype) = "pkttype",
        Recent(recent::Recent) = "recent",
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
        Dscp(t_dscp::Dscp) = "DSCP",
        Log(t_log::Log) = "LOG",
        Mark(t_mark::Mark) = "MARK",
        Masquerade(t_nat::Masquerade) = "MASQUERADE",
        Notrack(t_ct::Notrack) = "NOTRACK",
        Redirect(t_nat::Redirect) = "REDIRECT",
        Reject(t_reject::Reject) = "REJECT",
        Snat(t_nat::Snat) = "SNAT",
        Tcpmss(t_tcpmss::Tcpmss) = "TCPMSS",
        Ttl(t_ttl::Ttl) = "TTL",
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
        | "cpu" | "devgroup" | "ipvs" | "nfacct" | "osf" | "rateest" | "connlabel" | "hl"
        | "ipcomp" | "mh" | "udplite" => "it is not implemented yet",
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
// Parsing helpers shared by the extensions, each following the libxtables
// function named in its doc.

/// `xtables_strtoul` with base 0: decimal, `0x` hex or leading-`0` octal,
/// the whole string, no sign.
pub fn strtoul(s: &str) -> Option<u64> {
    // strtoumax skips leading white space and takes a `+`; libxtables
    // refuses the `-` itself.
    let s = s.trim_start_matches([' ', '\t', '\n', '\r', '\x0b', '\x0c']);
    let s = s.strip_prefix('+').unwrap_or(s);
    if s.is_empty() || s.starts_with('-') || s.starts_with('+') {
        return None;
    }
    let (digits, radix) = if let Some(h) = s.strip_prefix("0x").or_else(|| s.strip_prefix("0X")) {
        (h, 16)
    } else if s.len() > 1 && s.starts_with('0') {
        (&s[1..], 8)
    } else {
        (s, 10)
    };
    if digits.is_empty() {
        return None;
    }
    u64::from_str_radix(digits, radix).ok()
}

/// `xtables_strtoui(s, NULL, &v, min, max)`: a base-0 number within bounds.
pub fn strtoui(s: &str, min: u64, max: u64) -> Option<u64> {
    strtoul(s).filter(|v| (min..=max).contains(v))
}

/// A u32 in base 0, with a message naming what it is.
pub fn parse_u32(s: &str, what: &str) -> Result<u32, String> {
    strtoui(s, 0, u32::MAX as u64)
        .map(|v| v as u32)
        .ok_or_else(|| format!("bad {what} value \"{s}\""))
}

/// `VALUE[/MASK]` as `xtables_parse_mark_mask`; mask defaults to all ones.
pub fn parse_mark_mask(s: &str) -> Result<(u32, u32), String> {
    let (v, m) = match s.split_once('/') {
        Some((v, m)) => (v, Some(m)),
        None => (s, None),
    };
    let value = strtoui(v, 0, u32::MAX as u64).ok_or_else(|| format!("Bad mark value \"{s}\""))?;
    let mask = match m {
        Some(m) => strtoui(m, 0, u32::MAX as u64).ok_or_else(|| format!("Bad mask \"{m}\""))?,
        None => u32::MAX as u64,
    };
    Ok((value as u32, mask as u32))
}

/// `xtables_parse_port`: a number 0..=65535 or a service name for `proto`.
pub fn parse_port(s: &str, proto: &str) -> Result<u16, String> {
    if let Some(v) = strtoui(s, 0, 65535) {
        return Ok(v as u16);
    }
    netdb::service_port(s, proto).ok_or_else(|| format!("invalid port/service `{s}' specified"))
}

/// A port range `A[:B]` as the tcp/udp matches take it: `:B` is `0:B`,
/// `A:` is `A:65535`, `:` is everything; `A > B` is refused.
pub fn parse_port_range(s: &str, proto: &str) -> Result<(u16, u16), String> {
    match s.split_once(':') {
        None => {
            let p = parse_port(s, proto)?;
            Ok((p, p))
        }
        Some((a, b)) => {
            let lo = if a.is_empty() {
                0
            } else {
                parse_port(a, proto)?
            };
            let hi = if b.is_empty() {
                65535
            } else {
                parse_port(b, proto)?
            };
            if lo > hi {
                return Err(format!("invalid portrange ({lo}:{hi}) specified"));
            }
            Ok((lo, hi))
        }
    }
}

/// Prints a port range as the tcp/udp matches save it: one number when the
/// ends are equal, else `A:B`.
pub fn save_port_range(out: &mut String, (lo, hi): (u16, u16)) {
    if lo == hi {
        let _ = write!(out, "{lo}");
    } else {
        let _ = write!(out, "{lo}:{hi}");
    }
}

/// `xtables_save_string`: a word as is when it is only `[A-Za-z0-9_-]`,
/// otherwise double-quoted with `"`, `\` and `'` escaped by a backslash.
pub fn save_string(out: &mut String, s: &str) {
    out.push(' ');
    let plain = !s.is_empty()
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-');
    if plain {
        out.push_str(s);
        return;
    }
    out.push('"');
    for ch in s.chars() {
        if matches!(ch, '"' | '\\' | '\'') {
            out.push('\\');
        }
        out.push(ch);
    }
    out.push('"');
}

/// `xtables_numeric_to_ipaddr`: a dotted address, where fewer than four
/// parts are completed with zeros (`10` is `10.0.0.0`) and each part is a
/// base-0 number up to 255.
pub fn parse_ipv4(s: &str) -> Option<Ipv4Addr> {
    let parts: Vec<&str> = s.split('.').collect();
    if parts.is_empty() || parts.len() > 4 {
        return None;
    }
    let mut b = [0u8; 4];
    for (i, p) in parts.iter().enumerate() {
        b[i] = strtoui(p, 0, 255)? as u8;
    }
    Some(Ipv4Addr::from(b))
}

/// A dotted mask: all four parts required.
pub fn parse_ipv4_mask(s: &str) -> Option<Ipv4Addr> {
    if s.split('.').count() != 4 {
        return None;
    }
    parse_ipv4(s)
}

/// Refuses `!` before an option that cannot be inverted, with iptables' text.
pub fn no_invert(opt: &str, invert: bool) -> Result<(), String> {
    if invert {
        Err(format!("unexpected `!' before --{opt}"))
    } else {
        Ok(())
    }
}

/// Refuses an option given twice, with iptables' text.
pub fn once<T>(slot: &Option<T>, opt: &str) -> Result<(), String> {
    if slot.is_some() {
        Err(format!("multiple --{opt} options not allowed"))
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_parse_in_base_zero() {
        assert_eq!(strtoul("10"), Some(10));
        assert_eq!(strtoul("0x10"), Some(16));
        assert_eq!(strtoul("010"), Some(8));
        assert_eq!(strtoul("0"), Some(0));
        assert_eq!(strtoul("-1"), None);
        assert_eq!(strtoul(" +22"), Some(22));
        assert_eq!(strtoul("1a"), None);
        assert_eq!(strtoul(""), None);
    }

    #[test]
    fn ports_and_ranges() {
        assert_eq!(parse_port("ssh", "tcp"), Ok(22));
        assert_eq!(parse_port_range("1024:", "tcp"), Ok((1024, 65535)));
        assert_eq!(parse_port_range(":4", "tcp"), Ok((0, 4)));
        assert!(parse_port_range("4:3", "tcp").is_err());
        assert!(parse_port("65536", "tcp").is_err());
    }

    #[test]
    fn save_string_quotes_like_xtables() {
        let mut s = String::new();
        save_string(&mut s, "foo");
        save_string(&mut s, "a b");
        save_string(&mut s, "a'b\"c");
        assert_eq!(s, r#" foo "a b" "a\'b\"c""#);
    }

    #[test]
    fn short_addresses_complete_with_zeros() {
        assert_eq!(parse_ipv4("10.1"), Some(Ipv4Addr::new(10, 1, 0, 0)));
        assert_eq!(parse_ipv4("256.1.1.1"), None);
        assert_eq!(parse_ipv4_mask("255.0"), None);
    }
}
