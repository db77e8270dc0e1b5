//! Printing a ruleset exactly as `iptables-save` (v1.8, legacy backend)
//! prints it, without the `#` header/footer lines and with zero counters;
//! [`save_nft`] prints it as `iptables-nft-save` (the nf_tables backend,
//! Debian 12's default `iptables-save`) does.

use std::fmt::Write as _;
use std::net::Ipv4Addr;

use super::ext::addr6::save_addr6_mask;
use super::ext::Match;
use super::model::{Addr6Match, AddrMatch, IfaceMatch, Rule, Ruleset, Table, TableKind, Target};
use super::netdb;

/// The whole ruleset, tables in the order the file first named them.
pub fn save(rs: &Ruleset) -> String {
    let mut out = String::new();
    for t in &rs.tables {
        out.push_str(&save_table(t));
    }
    out
}

/// The order `iptables-nft-save` (1.8.9) prints tables in, whatever order
/// they were restored in (its own table list: mangle, security, raw,
/// filter, nat).
pub const NFT_TABLE_ORDER: [TableKind; 5] = [
    TableKind::Mangle,
    TableKind::Security,
    TableKind::Raw,
    TableKind::Filter,
    TableKind::Nat,
];

/// The whole ruleset as `iptables-nft-save` prints it after
/// `iptables-nft-restore` of the same file: the tables in
/// [`NFT_TABLE_ORDER`], each table's text as the legacy backend prints it
/// but for repeated `-m tcp`/`-m udp` matches, which iptables-nft merges
/// (see the README for the differences not modelled).
pub fn save_nft(rs: &Ruleset) -> String {
    let mut out = String::new();
    for kind in NFT_TABLE_ORDER {
        if rs.nft_absent.contains(&kind) {
            continue;
        }
        if let Some(t) = rs.tables.iter().find(|t| t.kind == kind) {
            let mut t = t.clone();
            for c in &mut t.chains {
                for r in &mut c.rules {
                    merge_nft_ports(r);
                }
            }
            out.push_str(&save_table(&t));
        }
    }
    out
}

/// iptables-nft turns a `-m tcp` with ports or flags (and no
/// `--tcp-option`) and a `-m udp` with ports into nf_tables payload
/// expressions, and reads them back as one match per protocol, where the
/// first such match was, each field the last value given. (`-m tcp
/// --dport 22 -m tcp --sport 1024` saves as `-m tcp --sport 1024 --dport
/// 22`.) Matches it keeps as xtables matches (with `--tcp-option`, or
/// with no option at all) are left alone.
fn merge_nft_ports(r: &mut Rule) {
    let mut first_tcp: Option<usize> = None;
    let mut first_udp: Option<usize> = None;
    let mut keep = Vec::with_capacity(r.matches.len());
    for m in std::mem::take(&mut r.matches) {
        match m {
            Match::Tcp(t)
                if t.option.is_none()
                    && (t.sport.is_some() || t.dport.is_some() || t.flags.is_some()) =>
            {
                if let Some(i) = first_tcp {
                    let Match::Tcp(into) = &mut keep[i] else {
                        unreachable!("first_tcp indexes a tcp match")
                    };
                    into.sport = t.sport.or(into.sport);
                    into.dport = t.dport.or(into.dport);
                    into.flags = t.flags.or(into.flags);
                } else {
                    first_tcp = Some(keep.len());
                    keep.push(Match::Tcp(t));
                }
            }
            Match::Udp(u) if u.sport.is_some() || u.dport.is_some() => {
                if let Some(i) = first_udp {
                    let Match::Udp(into) = &mut keep[i] else {
                        unreachable!("first_udp indexes a udp match")
                    };
                    into.sport = u.sport.or(into.sport);
                    into.dport = u.dport.or(into.dport);
                } else {
                    first_udp = Some(keep.len());
                    keep.push(Match::Udp(u));
                }
            }
            m => keep.push(m),
        }
    }
    r.matches = keep;
}

/// One table from `*name` to `COMMIT`.
pub fn save_table(t: &Table) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "*{}", t.kind.name());
    for c in &t.chains {
        let policy = c.policy.map(|p| p.name()).unwrap_or("-");
        let _ = writeln!(out, ":{} {} [0:0]", c.name, policy);
    }
    for c in &t.chains {
        for r in &c.rules {
            out.push_str(&save_rule(&c.name, r));
            out.push('\n');
        }
    }
    out.push_str("COMMIT\n");
    out
}

fn save_addr(out: &mut String, flag: &str, a: &Option<AddrMatch>) {
    let Some(a) = a else { return };
    if a.addr == Ipv4Addr::UNSPECIFIED && a.mask == Ipv4Addr::UNSPECIFIED && !a.invert {
        return;
    }
    if a.invert {
        out.push_str(" !");
    }
    let _ = write!(out, " {flag} {}", a.addr);
    match a.prefix_len() {
        Some(n) => {
            let _ = write!(out, "/{n}");
        }
        None => {
            let _ = write!(out, "/{}", a.mask);
        }
    }
}

/// `-s`/`-d` of an ip6tables rule, as `ip6tables-save` prints them.
fn save_addr6(out: &mut String, flag: &str, a: &Option<Addr6Match>) {
    let Some(a) = a.filter(|a| !a.is_any()) else {
        return;
    };
    if a.invert {
        out.push_str(" !");
    }
    out.push(' ');
    out.push_str(flag);
    save_addr6_mask(out, a.addr, a.mask);
}

fn save_iface(out: &mut String, flag: &str, i: &Option<IfaceMatch>) {
    let Some(i) = i else { return };
    // iptables-save prints nothing for an empty name: `! -i +` (which
    // never matches) prints as no -i at all (iptables 1.8.9).
    if i.name.is_empty() {
        return;
    }
    if i.invert {
        out.push_str(" !");
    }
    let _ = write!(out, " {flag} {}", i.name);
    if i.wildcard {
        out.push('+');
    }
}

/// The name `iptables-save` prints for a protocol number: the protocol
/// database's canonical name, then iptables' own table, else the number.
pub fn proto_name(p: u8) -> String {
    if let Some(n) = netdb::proto_by_number(p) {
        return n.to_string();
    }
    match p {
        6 => "tcp".into(),
        132 => "sctp".into(),
        17 => "udp".into(),
        136 => "udplite".into(),
        1 => "icmp".into(),
        58 => "icmpv6".into(),
        50 => "esp".into(),
        51 => "ah".into(),
        135 => "ipv6-mh".into(),
        _ => p.to_string(),
    }
}

/// One rule as `-A CHAIN ...` (no newline).
pub fn save_rule(chain: &str, r: &Rule) -> String {
    let mut out = format!("-A {chain}");
    save_addr(&mut out, "-s", &r.src);
    save_addr(&mut out, "-d", &r.dst);
    save_addr6(&mut out, "-s", &r.src6);
    save_addr6(&mut out, "-d", &r.dst6);
    save_iface(&mut out, "-i", &r.in_iface);
    save_iface(&mut out, "-o", &r.out_iface);
    if let Some(p) = r.proto {
        if p.invert {
            out.push_str(" !");
        }
        let _ = write!(out, " -p {}", proto_name(p.proto));
    }
    if let Some(inv) = r.fragment {
        out.push_str(if inv { " ! -f" } else { " -f" });
    }
    for m in &r.matches {
        let _ = write!(out, " -m {}", m.name());
        m.save(&mut out);
    }
    match &r.target {
        Target::None => {}
        Target::Accept => out.push_str(" -j ACCEPT"),
        Target::Drop => out.push_str(" -j DROP"),
        Target::Return => out.push_str(" -j RETURN"),
        Target::Chain { name, goto } => {
            let _ = write!(out, " {} {name}", if *goto { "-g" } else { "-j" });
        }
        Target::Ext(t) => {
            let _ = write!(out, " -j {}", t.name());
            t.save(&mut out);
        }
    }
    out
}
