//! The options column of `iptables -L`: what each match's and target's
//! `print` function in libxtables shows after the destination column
//! (not the `save` form: `iptables -L` words, e.g. `tcp dpt:22`,
//! `ctstate RELATED,ESTABLISHED`, `MASQUERADE  random`).

use std::fmt::Write as _;
use std::net::Ipv4Addr;

use sluice_config::iptables::ext::addr6::ntop6;
use sluice_config::iptables::ext::addrtype::{AddrTypeMatch, ADDR_TYPE_NAMES};
use sluice_config::iptables::ext::conntrack::{CtAddr, CtPortRange, CtStateMatch, CtStates};
use sluice_config::iptables::ext::icmp::{IcmpType, ICMP_NAMES};
use sluice_config::iptables::ext::limit::save_rate;
use sluice_config::iptables::ext::multiport::MultiportSide;
use sluice_config::iptables::ext::pkttype::PktType;
use sluice_config::iptables::ext::recent::{RecentCommand, RecentSide};
use sluice_config::iptables::ext::set::{CounterCmp, SetDir};
use sluice_config::iptables::ext::statistic::{StatisticMode, PROBABILITY_SCALE};
use sluice_config::iptables::ext::t_connmark::{ConnmarkMode, ShiftDir};
use sluice_config::iptables::ext::t_ct::{CT_EVENTS, EXP_EVENTS};
use sluice_config::iptables::ext::t_nat::NatRange;
use sluice_config::iptables::ext::t_tcpmss::TcpmssAction;
use sluice_config::iptables::ext::t_ttl::TtlOp;
use sluice_config::iptables::ext::tcp::{PortRange, TCP_FLAGS};
use sluice_config::iptables::ext::ttl::TtlMode;
use sluice_config::iptables::netdb;
use sluice_config::iptables::{Match, Rule, Target, TargetExt};

use super::super::names::Names;
use super::mask_suffix;

/// Everything after the destination column: each match's `print`, then
/// the target's, as iptables prints them (each with a leading space,
/// after the column's own).
pub fn rule_options(r: &Rule, numeric: bool) -> String {
    rule_options_named(r, numeric, &Names::none())
}

/// [`rule_options`], addresses named by `names` without `-n`.
pub fn rule_options_named(r: &Rule, numeric: bool, names: &Names) -> String {
    let mut s = String::new();
    for m in &r.matches {
        print_match(&mut s, m, r, numeric, names);
    }
    if let Target::Ext(t) = &r.target {
        print_target(&mut s, t, numeric);
    }
    s
}

fn inv(b: bool) -> &'static str {
    if b {
        "!"
    } else {
        ""
    }
}

/// A port as libxt_tcp's `print_port`: the service name without `-n`.
fn port(s: &mut String, p: u16, proto: &str, numeric: bool) {
    if !numeric {
        if let Some((name, ..)) = netdb::SERVICES
            .iter()
            .find(|(_, sp, pr, _)| *sp == p && *pr == proto)
        {
            s.push_str(name);
            return;
        }
    }
    let _ = write!(s, "{p}");
}

/// libxt_tcp/udp `print_ports`.
fn ports(s: &mut String, name: &str, r: &Option<PortRange>, proto: &str, numeric: bool) {
    let Some(r) = r else { return };
    if r.lo == 0 && r.hi == 0xffff && !r.invert {
        return;
    }
    let _ = write!(s, " {name}");
    if r.lo == r.hi {
        let _ = write!(s, ":{}", inv(r.invert));
        port(s, r.lo, proto, numeric);
    } else {
        let _ = write!(s, "s:{}", inv(r.invert));
        port(s, r.lo, proto, numeric);
        s.push(':');
        port(s, r.hi, proto, numeric);
    }
}

fn tcp_flag_names(s: &mut String, flags: u8) {
    let mut f = flags;
    let mut first = true;
    while f != 0 {
        let Some((name, bit)) = TCP_FLAGS.iter().find(|(_, b)| f & b != 0) else {
            break;
        };
        if !first {
            s.push(',');
        }
        s.push_str(name);
        first = false;
        f &= !bit;
    }
    if first {
        s.push_str("NONE");
    }
}

fn ct_states(s: &mut String, st: CtStates) {
    let names: Vec<&str> = CtStates::NAMES
        .iter()
        .filter(|(_, b)| st.contains(*b))
        .map(|(n, _)| *n)
        .collect();
    s.push_str(&names.join(","));
}

fn ct_addr(s: &mut String, name: &str, a: &Option<CtAddr>, numeric: bool, names: &Names) {
    let Some(a) = a else { return };
    if a.invert {
        s.push_str(" !");
    }
    let _ = write!(s, " ct{name}");
    if !numeric && a.addr == Ipv4Addr::UNSPECIFIED {
        s.push_str(" anywhere");
    } else if numeric {
        let _ = write!(s, " {}{}", a.addr, mask_suffix(a.mask));
    } else {
        let _ = write!(s, " {}{}", names.any_name(a.addr), mask_suffix(a.mask));
    }
}

fn ct_port(s: &mut String, name: &str, p: &Option<CtPortRange>) {
    let Some(p) = p else { return };
    if p.invert {
        s.push_str(" !");
    }
    let _ = write!(s, " ct{name} {}", p.lo);
    if p.hi != p.lo {
        let _ = write!(s, ":{}", p.hi);
    }
}

fn state_match(s: &mut String, word: &str, st: &Option<CtStateMatch>) {
    if let Some(st) = st {
        let _ = write!(s, " {}{word} ", if st.invert { "! " } else { "" });
        ct_states(s, st.states);
    }
}

fn addr_types(s: &mut String, side: &str, m: &Option<AddrTypeMatch>) {
    let Some(m) = m else { return };
    let _ = write!(s, " {side}-type {}", inv(m.invert));
    let names: Vec<&str> = ADDR_TYPE_NAMES
        .iter()
        .enumerate()
        .filter(|(i, _)| m.types.0 & (1 << i) != 0)
        .map(|(_, n)| *n)
        .collect();
    s.push_str(&names.join(","));
}

fn counter_cmp(s: &mut String, what: &str, c: &Option<CounterCmp>) {
    match c {
        Some(CounterCmp::Eq(n)) => {
            let _ = write!(s, " {what}-eq {n}");
        }
        Some(CounterCmp::Ne(n)) => {
            let _ = write!(s, " ! {what}-eq {n}");
        }
        Some(CounterCmp::Lt(n)) => {
            let _ = write!(s, " {what}-lt {n}");
        }
        Some(CounterCmp::Gt(n)) => {
            let _ = write!(s, " {what}-gt {n}");
        }
        None => {}
    }
}

/// libipt_TTL's and libip6t_HL's print: `TTL set to 64`, `HL decrement
/// by 1`.
pub(super) fn ttl_op(s: &mut String, word: &str, op: Option<TtlOp>) {
    match op {
        Some(TtlOp::Set(v)) => {
            let _ = write!(s, " {word} set to {v}");
        }
        Some(TtlOp::Dec(v)) => {
            let _ = write!(s, " {word} decrement by {v}");
        }
        Some(TtlOp::Inc(v)) => {
            let _ = write!(s, " {word} increment by {v}");
        }
        None => {}
    }
}

/// libxt_icmp's type print (icmp and icmp6): `name` without `-n` when the
/// table has one, else `type T [code C|codes L-H]`.
pub(super) fn icmp_type(s: &mut String, t: &IcmpType, name: Option<&str>) {
    if let Some(name) = name {
        let _ = write!(s, " {}{name}", inv(t.invert));
        return;
    }
    if t.invert {
        s.push_str(" !");
    }
    let _ = write!(s, "type {}", t.icmp_type);
    if t.code_min == t.code_max {
        let _ = write!(s, " code {}", t.code_min);
    } else if t.code_min != 0 || t.code_max != 0xff {
        let _ = write!(s, " codes {}-{}", t.code_min, t.code_max);
    }
}

/// The `print` function of each match extension.
fn print_match(s: &mut String, m: &Match, r: &Rule, numeric: bool, names: &Names) {
    match m {
        // ip6tables matches (`rules list -6`).
        Match::Icmp6(_)
        | Match::Hl(_)
        | Match::Ipv6header(_)
        | Match::Frag(_)
        | Match::Rt(_)
        | Match::Eui64(_) => {
            super::v6::print_match6(s, m, numeric);
        }
        Match::Tcp(t) => {
            s.push_str(" tcp");
            ports(s, "spt", &t.sport, "tcp", numeric);
            ports(s, "dpt", &t.dport, "tcp", numeric);
            if let Some(fl) = &t.flags {
                if fl.mask != 0 || fl.invert {
                    let _ = write!(s, " flags:{}", inv(fl.invert));
                    if numeric {
                        let _ = write!(s, "0x{:02X}/0x{:02X}", fl.mask, fl.comp);
                    } else {
                        tcp_flag_names(s, fl.mask);
                        s.push('/');
                        tcp_flag_names(s, fl.comp);
                    }
                }
            }
            if let Some((o, i)) = t.option {
                if o != 0 || i {
                    let _ = write!(s, " option={}{o}", inv(i));
                }
            }
        }
        Match::Udp(u) => {
            s.push_str(" udp");
            ports(s, "spt", &u.sport, "udp", numeric);
            ports(s, "dpt", &u.dport, "udp", numeric);
        }
        Match::Icmp(i) => {
            s.push_str(" icmp");
            if let Some(t) = &i.icmp_type {
                let named = (!numeric)
                    .then(|| {
                        ICMP_NAMES.iter().find(|(_, ty, lo, hi)| {
                            *ty == t.icmp_type && *lo == t.code_min && *hi == t.code_max
                        })
                    })
                    .flatten();
                icmp_type(s, t, named.map(|n| n.0));
            }
        }
        Match::Conntrack(c) => {
            state_match(s, "ctstate", &c.state);
            if let Some(p) = &c.proto {
                if p.invert {
                    s.push_str(" !");
                }
                let _ = write!(s, " ctproto {}", p.proto);
            }
            ct_addr(s, "origsrc", &c.orig_src, numeric, names);
            ct_addr(s, "origdst", &c.orig_dst, numeric, names);
            ct_addr(s, "replsrc", &c.repl_src, numeric, names);
            ct_addr(s, "repldst", &c.repl_dst, numeric, names);
            ct_port(s, "origsrcport", &c.orig_src_port);
            ct_port(s, "origdstport", &c.orig_dst_port);
            ct_port(s, "replsrcport", &c.repl_src_port);
            ct_port(s, "repldstport", &c.repl_dst_port);
            if let Some(st) = &c.status {
                if st.invert {
                    s.push_str(" !");
                }
                s.push_str(" ctstatus ");
                let names: Vec<&str> = sluice_config::iptables::ext::conntrack::CtStatus::NAMES
                    .iter()
                    .filter(|(_, b)| st.status.0 & b.0 != 0)
                    .map(|(n, _)| *n)
                    .collect();
                if names.is_empty() {
                    s.push_str("NONE");
                } else {
                    s.push_str(&names.join(","));
                }
            }
            if let Some(e) = &c.expire {
                if e.invert {
                    s.push_str(" !");
                }
                let _ = write!(s, " ctexpire {}", e.min);
                if e.max != e.min {
                    let _ = write!(s, ":{}", e.max);
                }
            }
            if let Some(d) = &c.direction {
                let _ = write!(
                    s,
                    " ctdir {}",
                    match d {
                        sluice_config::iptables::ext::conntrack::CtDir::Original => "ORIGINAL",
                        sluice_config::iptables::ext::conntrack::CtDir::Reply => "REPLY",
                    }
                );
            }
        }
        Match::State(st) => state_match(s, "state", &st.state),
        Match::Multiport(mp) => {
            s.push_str(" multiport ");
            s.push_str(match mp.side {
                Some(MultiportSide::Source) => "sports ",
                Some(MultiportSide::Destination) => "dports ",
                Some(MultiportSide::Either) => "ports ",
                None => "ERROR ",
            });
            if mp.invert {
                s.push_str(" !");
            }
            let proto = match r.proto {
                Some(p) if p.proto == 17 => "udp",
                _ => "tcp",
            };
            for (i, p) in mp.ports.iter().enumerate() {
                if i > 0 {
                    s.push(',');
                }
                port(s, p.lo, proto, numeric);
                if p.hi != p.lo {
                    s.push(':');
                    port(s, p.hi, proto, numeric);
                }
            }
        }
        Match::Limit(l) => {
            s.push_str(" limit: avg");
            save_rate(s, l.avg);
            let _ = write!(s, " burst {}", l.burst);
        }
        Match::Mark(m) => mark_match(s, m, false),
        Match::Connmark(m) => mark_match(s, m, true),
        Match::Set(set) => {
            if let Some(ms) = &set.match_set {
                let _ = write!(
                    s,
                    " {}match-set {}",
                    if ms.invert { "! " } else { "" },
                    ms.name
                );
                for (i, d) in ms.dirs.iter().enumerate() {
                    s.push(if i == 0 { ' ' } else { ',' });
                    s.push_str(match d {
                        SetDir::Src => "src",
                        SetDir::Dst => "dst",
                    });
                }
            }
            if set.return_nomatch {
                s.push_str(" return-nomatch");
            }
            if set.skip_counter_update {
                s.push_str(" ! update-counters");
            }
            if set.skip_subcounter_update {
                s.push_str(" ! update-subcounters");
            }
            counter_cmp(s, "packets", &set.packets);
            counter_cmp(s, "bytes", &set.bytes);
        }
        Match::Addrtype(a) => {
            s.push_str(" ADDRTYPE match");
            addr_types(s, "src", &a.src);
            addr_types(s, "dst", &a.dst);
            match a.limit_iface {
                Some(sluice_config::iptables::ext::addrtype::LimitIface::In) => {
                    s.push_str(" limit-in")
                }
                Some(sluice_config::iptables::ext::addrtype::LimitIface::Out) => {
                    s.push_str(" limit-out")
                }
                None => {}
            }
        }
        Match::Comment(c) => {
            let _ = write!(s, " /* {} */", c.text.as_deref().unwrap_or(""));
        }
        Match::Iprange(ir) => {
            for (word, r) in [("source", &ir.src), ("destination", &ir.dst)] {
                if let Some(r) = r {
                    let _ = write!(s, " {word} IP range");
                    if r.invert {
                        s.push_str(" !");
                    }
                    let _ = write!(s, " {}-{}", r.lo, r.hi);
                }
            }
        }
        Match::Length(l) => {
            if let Some(l) = &l.length {
                let _ = write!(s, " length {}", inv(l.invert));
                if l.min == l.max {
                    let _ = write!(s, "{}", l.min);
                } else {
                    let _ = write!(s, "{}:{}", l.min, l.max);
                }
            }
        }
        Match::Mac(m) => {
            if let Some(m) = &m.source {
                s.push_str(" MAC");
                if m.invert {
                    s.push_str(" !");
                }
                let a = m.addr;
                let _ = write!(
                    s,
                    " {:02x}:{:02x}:{:02x}:{:02x}:{:02x}:{:02x}",
                    a[0], a[1], a[2], a[3], a[4], a[5]
                );
            }
        }
        Match::Pkttype(p) => {
            if let Some((t, i)) = &p.pkt_type {
                let _ = write!(
                    s,
                    " PKTTYPE {}= {}",
                    inv(*i),
                    match t {
                        PktType::Unicast => "unicast",
                        PktType::Broadcast => "broadcast",
                        PktType::Multicast => "multicast",
                        PktType::OtherHost => "otherhost",
                    }
                );
            }
        }
        Match::Recent(rc) => {
            if rc.invert {
                s.push_str(" !");
            }
            s.push_str(" recent:");
            s.push_str(match rc.command {
                Some(RecentCommand::Set) => " SET",
                Some(RecentCommand::Check) => " CHECK",
                Some(RecentCommand::Update) => " UPDATE",
                Some(RecentCommand::Remove) => " REMOVE",
                None => "",
            });
            if rc.seconds != 0 {
                let _ = write!(s, " seconds: {}", rc.seconds);
            }
            if rc.reap {
                s.push_str(" reap");
            }
            if rc.hit_count != 0 {
                let _ = write!(s, " hit_count: {}", rc.hit_count);
            }
            if rc.rttl {
                s.push_str(" TTL-Match");
            }
            let _ = write!(s, " name: {}", rc.name);
            s.push_str(match rc.side {
                RecentSide::Source => " side: source",
                RecentSide::Dest => " side: dest",
            });
            match rc.mask6 {
                Some(m) => {
                    let _ = write!(s, " mask: {}", ntop6(m));
                }
                None => {
                    let _ = write!(s, " mask: {}", rc.mask);
                }
            }
        }
        Match::Statistic(st) => {
            s.push_str(" statistic");
            let i = if st.invert { " !" } else { "" };
            match st.mode {
                Some(StatisticMode::Random { probability }) => {
                    let _ = write!(
                        s,
                        " mode random{i} probability {:.11}",
                        f64::from(probability) / PROBABILITY_SCALE
                    );
                }
                Some(StatisticMode::Nth { every, packet }) => {
                    let _ = write!(s, " mode nth{i} every {every}");
                    if packet != 0 {
                        let _ = write!(s, " packet {packet}");
                    }
                }
                None => {}
            }
        }
        Match::Dscp(d) => {
            if let Some((v, i)) = d.dscp {
                let _ = write!(s, " DSCP match {}0x{v:02x}", inv(i));
            }
        }
        Match::Tos(t) => {
            if let Some(t) = &t.tos {
                let _ = write!(
                    s,
                    " tos match{}0x{:02x}/0x{:02x}",
                    inv(t.invert),
                    t.value,
                    t.mask
                );
            }
        }
        Match::Ttl(t) => {
            if let Some((mode, v)) = t.cmp {
                let op = match mode {
                    TtlMode::Eq => "==",
                    TtlMode::Ne => "!=",
                    TtlMode::Lt => "<",
                    TtlMode::Gt => ">",
                };
                let _ = write!(s, " TTL match TTL {op} {v}");
            }
        }
    }
}

/// libxt_mark's and libxt_connmark's `print`: `mark match ! 0x1/0xff`,
/// `connmark match ! 0x1/0xff` (connmark puts its space before the `!`,
/// so without one it prints two).
fn mark_match(s: &mut String, m: &sluice_config::iptables::ext::mark::Mark, connmark: bool) {
    let Some(mm) = &m.mark else { return };
    if connmark {
        s.push_str(" connmark match ");
        s.push_str(inv(mm.invert));
    } else {
        s.push_str(" mark match");
        if mm.invert {
            s.push_str(" !");
        }
    }
    let _ = write!(s, " 0x{:x}", mm.value);
    if mm.mask != u32::MAX {
        let _ = write!(s, "/0x{:x}", mm.mask);
    }
}

fn nat_range(s: &mut String, r: &NatRange) {
    sluice_config::iptables::ext::t_nat::write_nat_range(s, r);
}

fn mark_op(s: &mut String, word: &str, value: u32, mask: u32) {
    if value == 0 {
        let _ = write!(s, " {word} and 0x{:x}", !mask);
    } else if value == mask {
        let _ = write!(s, " {word} or 0x{value:x}");
    } else if mask == 0 {
        let _ = write!(s, " {word} xor 0x{value:x}");
    } else if mask == u32::MAX {
        let _ = write!(s, " {word} set 0x{value:x}");
    } else {
        let _ = write!(s, " {word} xset 0x{value:x}/0x{mask:x}");
    }
}

fn events(s: &mut String, word: &str, table: &[(&str, u32)], mask: u32) {
    let _ = write!(s, " {word} ");
    let names: Vec<&str> = table
        .iter()
        .filter(|(_, bit)| mask & (1 << bit) != 0)
        .map(|(n, _)| *n)
        .collect();
    s.push_str(&names.join(","));
}

const LOG_LEVELS: [&str; 8] = [
    "emerg", "alert", "crit", "err", "warn", "notice", "info", "debug",
];

/// The `print` function of each target extension.
fn print_target(s: &mut String, t: &TargetExt, numeric: bool) {
    match t {
        TargetExt::Reject(r) => {
            let name = r.with6.map_or(r.with.name(), |w| w.name());
            let _ = write!(s, " reject-with {name}");
        }
        TargetExt::Hl(_) | TargetExt::Snpt(_) | TargetExt::Dnpt(_) => {
            super::v6::print_target6(s, t);
        }
        TargetExt::Log(l) => {
            s.push_str(" LOG");
            let flags = u32::from(l.tcp_sequence)
                | u32::from(l.tcp_options) << 1
                | u32::from(l.ip_options) << 2
                | u32::from(l.uid) << 3
                | u32::from(l.macdecode) << 5;
            let level = l.level as usize;
            if numeric {
                let _ = write!(s, " flags {flags} level {level}");
            } else {
                let _ = write!(s, " level {}", LOG_LEVELS[level & 7]);
                for (on, word) in [
                    (l.tcp_sequence, " tcp-sequence"),
                    (l.tcp_options, " tcp-options"),
                    (l.ip_options, " ip-options"),
                    (l.uid, " uid"),
                    (l.macdecode, " macdecode"),
                ] {
                    if on {
                        s.push_str(word);
                    }
                }
            }
            if let Some(p) = l.prefix.as_deref().filter(|p| !p.is_empty()) {
                let _ = write!(s, " prefix \"{p}\"");
            }
        }
        TargetExt::Dnat(d) => {
            s.push_str(" to:");
            nat_range(s, &d.to);
            if d.random {
                s.push_str(" random");
            }
            if d.persistent {
                s.push_str(" persistent");
            }
        }
        TargetExt::Snat(d) => {
            s.push_str(" to:");
            nat_range(s, &d.to);
            if d.random {
                s.push_str(" random");
            }
            if d.random_fully {
                s.push_str(" random-fully");
            }
            if d.persistent {
                s.push_str(" persistent");
            }
        }
        TargetExt::Masquerade(m) => {
            if let Some(p) = &m.ports {
                let _ = write!(s, " masq ports: {}", p.min);
                if p.max != p.min {
                    let _ = write!(s, "-{}", p.max);
                }
            }
            if m.random {
                s.push_str(" random");
            }
            if m.random_fully {
                s.push_str(" random-fully");
            }
        }
        TargetExt::Redirect(m) => {
            if let Some(p) = &m.ports {
                let _ = write!(s, " redir ports {}", p.min);
                if p.max != p.min {
                    let _ = write!(s, "-{}", p.max);
                }
            }
            if m.random {
                s.push_str(" random");
            }
        }
        TargetExt::Mark(m) => {
            if let Some(x) = &m.xmark {
                mark_op(s, "MARK", x.value, x.mask);
            }
        }
        TargetExt::Connmark(c) => {
            match c.mode {
                Some(ConnmarkMode::Set) => mark_op(s, "CONNMARK", c.ctmark, c.ctmask),
                Some(ConnmarkMode::Save) => {
                    if c.nfmask == u32::MAX && c.ctmask == u32::MAX {
                        s.push_str(" CONNMARK save");
                    } else if c.nfmask == c.ctmask {
                        let _ = write!(s, " CONNMARK save mask 0x{:x}", c.nfmask);
                    } else {
                        let _ = write!(
                            s,
                            " CONNMARK save nfmask 0x{:x} ctmask ~0x{:x}",
                            c.nfmask, c.ctmask
                        );
                    }
                }
                Some(ConnmarkMode::Restore) => {
                    if c.nfmask == u32::MAX && c.ctmask == u32::MAX {
                        s.push_str(" CONNMARK restore");
                    } else if c.nfmask == c.ctmask {
                        let _ = write!(s, " CONNMARK restore mask 0x{:x}", c.ctmask);
                    } else {
                        let _ = write!(
                            s,
                            " CONNMARK restore ctmask 0x{:x} nfmask ~0x{:x}",
                            c.ctmask, c.nfmask
                        );
                    }
                }
                None => s.push_str(" ERROR: UNKNOWN CONNMARK MODE"),
            }
            if c.mode.is_some() && c.shift_bits != 0 {
                let dir = match c.shift_dir {
                    ShiftDir::Left => "left-shift-mark",
                    ShiftDir::Right => "right-shift-mark",
                };
                let _ = write!(s, " {dir} {}", c.shift_bits);
            }
        }
        TargetExt::Ct(c) => {
            s.push_str(" CT");
            if c.notrack {
                s.push_str(" notrack");
            }
            if c.ct_events != 0 {
                events(s, "ctevents", &CT_EVENTS, c.ct_events);
            }
            if c.exp_events != 0 {
                events(s, "expevents", &EXP_EVENTS, c.exp_events);
            }
            let z = &c.zone;
            if z.from_mark || z.id != 0 {
                s.push_str(" zone");
                match (z.orig, z.reply) {
                    (true, false) => s.push_str("-orig"),
                    (false, true) => s.push_str("-reply"),
                    _ => {}
                }
                if z.from_mark {
                    s.push_str(" mark");
                } else {
                    let _ = write!(s, " {}", z.id);
                }
            }
        }
        TargetExt::Notrack(_) => s.push_str(" NOTRACK"),
        TargetExt::Dscp(d) => {
            if let Some(v) = d.dscp {
                let _ = write!(s, " DSCP set 0x{v:02x}");
            }
        }
        TargetExt::Tcpmss(t) => match t.action {
            Some(TcpmssAction::ClampToPmtu) => s.push_str(" TCPMSS clamp to PMTU"),
            Some(TcpmssAction::Set(v)) => {
                let _ = write!(s, " TCPMSS set {v}");
            }
            None => {}
        },
        TargetExt::Ttl(t) => ttl_op(s, "TTL", t.op),
    }
}
