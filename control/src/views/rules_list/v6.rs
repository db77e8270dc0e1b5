//! What `ip6tables -L` prints differently (ip6tables 1.8.9, legacy): the
//! address columns (`::/0`, `/N` or the mask in IPv6 form, nothing for
//! /128) and the `print` functions of the IPv6-only extensions
//! (libip6t_icmp6 `ipv6-icmp`, libxt_hl, libip6t_ipv6header, libip6t_frag,
//! libip6t_rt, libip6t_eui64, libxt_HL, libip6t_NPT). The layout of the rows is
//! iptables' (same column widths, `--` in the opt column): compared with
//! `ip6tables-legacy -L` in `control/tests/views_kernel.rs`.

use std::fmt::Write as _;
use std::net::Ipv6Addr;

use sluice_config::iptables::ext::addr6::{mask6_len, ntop6};
use sluice_config::iptables::ext::frag::{FragPosition, U32Range};
use sluice_config::iptables::ext::icmp6::ICMPV6_NAMES;
use sluice_config::iptables::ext::ipv6header::HEADERS;
use sluice_config::iptables::ext::t_npt::Prefix6;
use sluice_config::iptables::ext::ttl::TtlMode;
use sluice_config::iptables::{Addr6Match, Match, TargetExt};

use super::super::names::Names;

fn inv(b: bool) -> &'static str {
    if b {
        "!"
    } else {
        ""
    }
}

/// The text of an address column: `anywhere` (without `-n`) or `::/0`
/// for no address; the address (without `-n` its name in the hosts file,
/// if any), then `/N` for a prefix shorter than 128 or `/MASK` for
/// another mask.
pub(super) fn addr6_text(a: &Option<Addr6Match>, numeric: bool, names: &Names) -> (String, bool) {
    let (addr, mask, invert) = a
        .map_or((Ipv6Addr::UNSPECIFIED, Ipv6Addr::UNSPECIFIED, false), |a| {
            (a.addr, a.mask, a.invert)
        });
    if mask.is_unspecified() && !numeric {
        return ("anywhere".into(), invert);
    }
    let mut s = match names.name6(addr) {
        Some(n) if !numeric => n.to_string(),
        _ => ntop6(addr),
    };
    match mask6_len(mask) {
        Some(128) => {}
        Some(n) => {
            let _ = write!(s, "/{n}");
        }
        None => {
            let _ = write!(s, "/{}", ntop6(mask));
        }
    }
    (s, invert)
}

/// libip6t_frag `print_ids` and libip6t_rt `print_nums`.
fn range(s: &mut String, name: &str, r: &U32Range) {
    if r.lo != 0 || r.hi != u32::MAX || r.invert {
        s.push_str(name);
        if r.lo == r.hi {
            let _ = write!(s, ":{}{}", inv(r.invert), r.lo);
        } else {
            let _ = write!(s, "s:{}{}:{}", inv(r.invert), r.lo, r.hi);
        }
    }
}

/// The `print` of an ip6tables-only match; false for any other match.
pub(super) fn print_match6(s: &mut String, m: &Match, numeric: bool) -> bool {
    match m {
        Match::Icmp6(i) => {
            s.push_str(" ipv6-icmp");
            if let Some(t) = &i.icmp_type {
                // ip6tables 1.8.9's table has no MLD names (types 130 to
                // 132 print as numbers).
                let named = (!numeric)
                    .then(|| {
                        ICMPV6_NAMES.iter().find(|(_, ty, lo, hi)| {
                            *ty == t.icmp_type
                                && *lo == t.code_min
                                && *hi == t.code_max
                                && !(130..=132).contains(ty)
                        })
                    })
                    .flatten();
                super::options::icmp_type(s, t, named.map(|n| n.0));
            }
        }
        Match::Hl(h) => {
            if let Some((mode, v)) = h.cmp {
                let op = match mode {
                    TtlMode::Eq => "==",
                    TtlMode::Ne => "!=",
                    TtlMode::Lt => "<",
                    TtlMode::Gt => ">",
                };
                let _ = write!(s, " HL match HL {op} {v}");
            }
        }
        Match::Ipv6header(h) => {
            let _ = write!(s, " ipv6header flags:{}", inv(h.invert));
            if numeric {
                let _ = write!(s, "0x{:02X}", h.mask);
            } else {
                let names: Vec<&str> = HEADERS
                    .iter()
                    .enumerate()
                    .filter(|(i, _)| h.mask & (0x80 >> i) != 0)
                    .map(|(_, (_, n))| *n)
                    .collect();
                s.push_str(&names.join(","));
            }
            if h.soft {
                s.push_str(" soft");
            }
        }
        Match::Frag(f) => {
            s.push_str(" frag ");
            range(s, "id", &f.id);
            if let Some(l) = f.len {
                let _ = write!(s, " length:{}{}", inv(l.invert), l.value);
            }
            if f.reserved {
                s.push_str(" reserved");
            }
            if f.first {
                s.push_str(" first");
            }
            match f.position {
                Some(FragPosition::More) => s.push_str(" more"),
                Some(FragPosition::Last) => s.push_str(" last"),
                None => {}
            }
        }
        Match::Rt(r) => {
            s.push_str(" rt");
            if let Some(t) = r.rt_type {
                let _ = write!(s, " type:{}{}", inv(t.invert), t.value);
            }
            if r.segsleft.lo != 0 || r.segsleft.hi != u32::MAX || r.segsleft.invert {
                s.push(' ');
                range(s, "segsleft", &r.segsleft);
            }
            if let Some(l) = r.len {
                let _ = write!(s, " length:{}{}", inv(l.invert), l.value);
            }
            if r.reserved {
                s.push_str(" reserved");
            }
            if !r.addrs.is_empty() {
                s.push_str(" 0-addrs ");
                let a: Vec<String> = r.addrs.iter().map(|a| ntop6(*a)).collect();
                s.push_str(&a.join(","));
            }
            if r.not_strict {
                s.push_str(" 0-not-strict");
            }
        }
        // libip6t_eui64 prints no leading space.
        Match::Eui64(_) => s.push_str("eui64 "),
        _ => return false,
    }
    true
}

fn npt(s: &mut String, word: &str, src: &Prefix6, dst: &Prefix6) {
    let _ = write!(
        s,
        " {word} src-pfx {}/{} dst-pfx {}/{}",
        ntop6(src.addr),
        src.len,
        ntop6(dst.addr),
        dst.len
    );
}

/// The `print` of an ip6tables-only target; false for any other.
pub(super) fn print_target6(s: &mut String, t: &TargetExt) -> bool {
    match t {
        TargetExt::Hl(h) => super::options::ttl_op(s, "HL", h.op),
        // libip6t_NPT: `SNPT src-pfx P/N dst-pfx P/N`.
        TargetExt::Snpt(n) => npt(s, "SNPT", &n.src, &n.dst),
        TargetExt::Dnpt(n) => npt(s, "DNPT", &n.src, &n.dst),
        _ => return false,
    }
    true
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use sluice_config::iptables::{parse6, TableKind};
    use sluice_dataplane::rules::RuleCounters;

    use super::super::{rules_list, ListOptions};
    use super::*;

    /// Without `-n`, names from the hosts file: what `ip6tables-legacy -L
    /// INPUT` (1.8.9) printed in a namespace whose `/etc/hosts` was
    /// `HOSTS` (`ip netns exec` with `/etc/netns/NAME/hosts`). A masked
    /// address is looked up as stored (`fd00::`, no name).
    #[test]
    fn ipv6_addresses_are_named_from_the_hosts_file() {
        const HOSTS: &str = "127.0.0.1 localhost\n::1 localhost ip6-localhost ip6-loopback\n\
                             fd00::5 myhost\nff02::1 ip6-allnodes\n";
        let rules = parse6(
            "*filter\n-A INPUT -s ::1 -j ACCEPT\n-A INPUT -d fd00::5 -j ACCEPT\n\
             -A INPUT ! -d ff02::1 -j ACCEPT\n-A INPUT -s fd00::5/64 -j ACCEPT\n\
             -A INPUT -s fd00::6 -j ACCEPT\nCOMMIT\n",
            Path::new("t"),
        )
        .unwrap();
        let opts = ListOptions {
            table: TableKind::Filter,
            chain: Some("INPUT".into()),
            names: Names::from_text(HOSTS, ""),
            ipv6: true,
            ..ListOptions::default()
        };
        let got = rules_list(&rules, &RuleCounters::default(), &opts).unwrap();
        assert_eq!(
            got,
            "Chain INPUT (policy ACCEPT)\n\
             target     prot opt source               destination         \n\
             ACCEPT     all  --  localhost            anywhere            \n\
             ACCEPT     all  --  anywhere             myhost              \n\
             ACCEPT     all  --  anywhere            !ip6-allnodes        \n\
             ACCEPT     all  --  fd00::/64            anywhere            \n\
             ACCEPT     all  --  fd00::6              anywhere            \n"
        );
    }
}
