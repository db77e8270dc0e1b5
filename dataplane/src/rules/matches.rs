//! Every match, evaluated on one packet with the kernel's semantics
//! (`ip_packet_match` in `net/ipv4/netfilter/ip_tables.c` and the `xt_*`
//! match functions).
//!
//! Matches read the packet's bytes as the kernel's `skb_header_pointer`
//! does — the transport header from [`PacketMeta::l4_off`] to the end of
//! the IP packet — not the parse's summary, so a header cut short behaves
//! as in the kernel: `-m tcp`, `-m udp`, `-m icmp` and `-m multiport`
//! never match a non-first fragment, and *hotdrop* (the table drops the
//! packet at once) when the header they need is not all there (20, 8, 8
//! and 4 bytes), or, for `-m tcp`, on a fragment at offset 8 bytes
//! ("evil TCP offset=1 frag") and on options cut short with
//! `--tcp-option`. Matches are evaluated in rule order and the first that
//! fails ends the rule: a hotdrop or a side effect (`limit`, `recent`,
//! `statistic`) happens only when the matches before it held.
//!
//! Without connection tracking (a later issue) every packet is untracked
//! ([`CtState::Untracked`]): `--ctstate UNTRACKED` / `--state UNTRACKED`
//! match, every other state does not; `-m conntrack` without `--ctstate`
//! never matches (the kernel's `conntrack_mt` for a packet without an
//! entry); `-m connmark` never matches.
//!
//! `-m addrtype` asks the routing tables what the kernel's
//! `inet_dev_addr_type` asks them: 0.0.0.0/8 and 255.255.255.255 are
//! broadcast, 224.0.0.0/4 multicast, then the *local* table decides
//! (the box's addresses are local, its subnets' broadcast addresses
//! broadcast, 127.0.0.0/8 local and 127.255.255.255 broadcast on `lo`),
//! anything else is unicast; with `--limit-iface-in/out` a local or
//! broadcast answer counts only when the route's device is that
//! interface, else the address is unicast.

use std::net::{IpAddr, Ipv4Addr};

use sluice_config::iptables::ext::addrtype::{AddrTypeMatch, LimitIface};
use sluice_config::iptables::ext::conntrack::CtStates;
use sluice_config::iptables::ext::pkttype::PktType;
use sluice_config::iptables::ext::tcp::{PortRange, TcpFlags};
use sluice_config::iptables::ext::ttl::TtlMode;

use super::classify::PacketKey;
use super::compile::{CMatch, CRule, Program, LOOPBACK_BROADCAST};
use super::limit::LimitState;
use super::recent::{RecentPacket, RecentState};
use super::statistic::{Prng, StatisticState};
use crate::net::Net;
use crate::packet::{CtState, L2Class};
use crate::route::{NextHopKind, PortId};
use crate::wire::PacketMeta;

/// A match could not read what it examines: the table drops the packet
/// (`par->hotdrop`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Hotdrop;

/// What a match sees of the packet at this point of the traversal.
#[derive(Clone, Copy)]
pub(crate) struct PktCx<'a> {
    pub frame: &'a [u8],
    pub meta: &'a PacketMeta,
    /// The classifier's view, with the current mark.
    pub key: &'a PacketKey,
    pub iif: Option<PortId>,
    pub oif: Option<PortId>,
    pub l2: L2Class,
    pub ct: CtState,
    /// The packet's conntrack entry (`nf_ct_get`), if tracked.
    pub entry: Option<&'a crate::conntrack::Entry>,
    /// The conntrack shard's clock (`--ctexpire`).
    pub ct_now: u64,
    pub net: &'a Net,
    pub now_ns: u64,
}

/// The worker's state the stateful matches change.
pub(crate) struct MatchState<'a> {
    pub limits: &'a mut [LimitState],
    pub stats: &'a mut [StatisticState],
    pub recent: &'a mut RecentState,
    pub prng: &'a mut Prng,
}

/// The conntrack state bits of a packet (`XT_CONNTRACK_STATE_*`, as
/// `conntrack_mt` computes them): INVALID without an entry, UNTRACKED, or
/// the `ctinfo` bit, plus SNAT / DNAT when the entry is NAT'd.
pub(crate) fn ct_states(ct: CtState, entry: Option<&crate::conntrack::Entry>) -> CtStates {
    use crate::conntrack::status;
    use crate::packet::CtInfo;
    match ct {
        CtState::None => CtStates::INVALID,
        CtState::Untracked => CtStates::UNTRACKED,
        CtState::Template { .. } => CtStates::NEW,
        CtState::Tracked { info, .. } => {
            let mut s = match info {
                CtInfo::New => CtStates::NEW,
                CtInfo::Established | CtInfo::EstablishedReply => CtStates::ESTABLISHED,
                CtInfo::Related | CtInfo::RelatedReply => CtStates::RELATED,
            };
            if let Some(e) = entry {
                if e.status & status::SRC_NAT != 0 {
                    s = CtStates(s.0 | CtStates::SNAT.0);
                }
                if e.status & status::DST_NAT != 0 {
                    s = CtStates(s.0 | CtStates::DNAT.0);
                }
            }
            s
        }
    }
}

/// `-f` / `! -f` (`IPT_F_FRAG`): a non-first fragment.
#[inline]
fn frag_ok(frag: Option<bool>, meta: &PacketMeta) -> bool {
    match frag {
        None => true,
        Some(invert) => (meta.frag_offset != 0) != invert,
    }
}

/// The plain evaluation of rule `r`: `ip_packet_match`, then every match
/// in order.
#[inline(always)]
pub(crate) fn rule_matches(
    prog: &Program,
    r: &CRule,
    p: &PktCx<'_>,
    st: &mut MatchState<'_>,
) -> Result<bool, Hotdrop> {
    if r.core.proto.is_some() && no_upper_layer6(p.meta) {
        return proto_hotdrop6(prog, r, p, st);
    }
    if !r.core.matches(&prog.ifaces, p.key) || !frag_ok(r.frag, p.meta) {
        return Ok(false);
    }
    matches_in_order(prog, &r.matches, true, p, st)
}

/// An IPv6 packet in which `ipv6_find_hdr` finds no upper layer: a
/// non-first fragment whose next header is another extension header
/// (hop-by-hop, routing, fragment, AH, destination options). The kernel
/// returns `-ENOENT` with the fragment offset it reports left at 0.
#[inline]
pub(crate) fn no_upper_layer6(meta: &PacketMeta) -> bool {
    meta.ip_version == 6
        && meta.frag_offset != 0
        && matches!(meta.protocol.0, 0 | 43 | 44 | 51 | 60)
}

/// `ip6_packet_match` for a rule with `-p` on such a packet: the
/// addresses and interfaces are tested first; when they hold, the
/// protocol test finds no header at fragment offset 0 and hotdrops.
#[cold]
fn proto_hotdrop6(
    prog: &Program,
    r: &CRule,
    p: &PktCx<'_>,
    st: &mut MatchState<'_>,
) -> Result<bool, Hotdrop> {
    let core = crate::rules::classify::CoreKey {
        proto: None,
        ..r.core
    };
    if !core.matches(&prog.ifaces, p.key) {
        return Ok(false);
    }
    if let Some(m @ CMatch::V6(super::v6::Match6::Addrs { .. })) = r.matches.first() {
        if !one(prog, m, true, p, st)? {
            return Ok(false);
        }
    }
    Err(Hotdrop)
}

/// What the classifier did not check of rule `r`, which it proposed.
#[inline]
pub(crate) fn residual_matches(
    prog: &Program,
    r: &CRule,
    p: &PktCx<'_>,
    st: &mut MatchState<'_>,
) -> Result<bool, Hotdrop> {
    if !frag_ok(r.frag, p.meta) {
        return Ok(false);
    }
    matches_in_order(prog, &r.matches, false, p, st)
}

/// Evaluates `ms` in order; `full`: lifted matches too (else the
/// classifier checked them).
fn matches_in_order(
    prog: &Program,
    ms: &[CMatch],
    full: bool,
    p: &PktCx<'_>,
    st: &mut MatchState<'_>,
) -> Result<bool, Hotdrop> {
    for m in ms {
        if !one(prog, m, full, p, st)? {
            return Ok(false);
        }
    }
    Ok(true)
}

#[inline]
fn be16(b: &[u8]) -> u16 {
    u16::from_be_bytes([b[0], b[1]])
}

/// `None` (no such condition) holds.
#[inline]
fn holds<T>(o: &Option<T>, test: impl FnOnce(&T) -> bool) -> bool {
    match o {
        Some(x) => test(x),
        None => true,
    }
}

fn port_ok(r: &Option<PortRange>, port: u16) -> bool {
    holds(r, |r| r.contains(port))
}

fn one(
    prog: &Program,
    m: &CMatch,
    full: bool,
    p: &PktCx<'_>,
    st: &mut MatchState<'_>,
) -> Result<bool, Hotdrop> {
    let meta = p.meta;
    Ok(match m {
        CMatch::Tcp {
            sport,
            dport,
            flags,
            option,
            lifted,
        } => {
            if *lifted && !full {
                // The classifier saw a whole header of a first fragment
                // and the ports.
                tcp_mt(p, &None, &None, flags, option)?
            } else {
                tcp_mt(p, sport, dport, flags, option)?
            }
        }
        CMatch::Udp {
            sport,
            dport,
            lifted,
        } => {
            if *lifted && !full {
                true
            } else {
                // udp_mt
                if meta.frag_offset != 0 {
                    return Ok(false);
                }
                let l4 = meta.l4(p.frame);
                if l4.len() < 8 {
                    return Err(Hotdrop);
                }
                port_ok(sport, be16(&l4[0..2])) && port_ok(dport, be16(&l4[2..4]))
            }
        }
        CMatch::Icmp(t) => {
            // icmp_match: an 8-byte header of a first fragment.
            if meta.frag_offset != 0 {
                return Ok(false);
            }
            let l4 = meta.l4(p.frame);
            if l4.len() < 8 {
                return Err(Hotdrop);
            }
            t.matches(l4[0], l4[1])
        }
        CMatch::Multiport { m: mp, lifted } => {
            if *lifted && !full {
                return Ok(true);
            }
            // multiport_mt: the two ports of a first fragment.
            if meta.frag_offset != 0 {
                return Ok(false);
            }
            let l4 = meta.l4(p.frame);
            if l4.len() < 4 {
                return Err(Hotdrop);
            }
            mp.matches(be16(&l4[0..2]), be16(&l4[2..4]))
        }
        CMatch::Mark { m, lifted } => (*lifted && !full) || m.matches(p.key.mark),
        CMatch::Iprange(r) => {
            let (s, d) = v4_addrs(meta);
            holds(&r.src, |x| x.matches(s)) && holds(&r.dst, |x| x.matches(d))
        }
        CMatch::Length(l) => l.matches(meta.ip_len),
        CMatch::Ttl(mode, v) => match mode {
            TtlMode::Eq => meta.ttl == *v,
            TtlMode::Ne => meta.ttl != *v,
            TtlMode::Lt => meta.ttl < *v,
            TtlMode::Gt => meta.ttl > *v,
        },
        CMatch::Tos(t) => t.matches(meta.tos),
        CMatch::Dscp(v, invert) => (meta.tos >> 2 == *v) != *invert,
        CMatch::Pkttype(t, invert) => {
            // skb->pkt_type; a frame for another host never gets here
            // (dropped before PREROUTING, as ip_rcv_core drops it).
            let class = match p.l2 {
                L2Class::Host => PktType::Unicast,
                L2Class::Broadcast => PktType::Broadcast,
                L2Class::Multicast => PktType::Multicast,
            };
            (class == *t) != *invert
        }
        CMatch::Mac(s) => {
            // mac_mt: the Ethernet source of a received frame.
            let at = meta.l2_off as usize + 6;
            match (p.iif, p.frame.get(at..at + 6)) {
                (Some(_), Some(src)) => (src == s.addr) != s.invert,
                _ => false,
            }
        }
        CMatch::Addrtype { src, dst, limit } => {
            let dev = match limit {
                Some(LimitIface::In) => p.iif,
                Some(LimitIface::Out) => p.oif,
                None => None,
            };
            if meta.ip_version == 6 {
                return Ok(super::v6::addrtype6(p.net, src, dst, meta, dev));
            }
            let (s, d) = v4_addrs(meta);
            addrtype_ok(p.net, src, s, dev) && addrtype_ok(p.net, dst, d, dev)
        }
        CMatch::Limit(id) => {
            let i = *id as usize;
            prog.limits[i].matches(&mut st.limits[i], p.now_ns)
        }
        CMatch::Recent(r) => {
            let pkt = RecentPacket {
                src: meta.src,
                dst: meta.dst,
                ttl: meta.ttl,
                // An output device and no local socket: a forwarded packet.
                before_forward: p.oif.is_some() && p.iif.is_some(),
            };
            r.matches(st.recent, &pkt, p.now_ns)
        }
        CMatch::Statistic(id) => {
            let i = *id as usize;
            prog.stats[i].matches(&mut st.stats[i], st.prng)
        }
        CMatch::Set(s) => s.matches(&prog.sets, p.frame, meta),
        CMatch::Conntrack(c) => conntrack_mt(c, p),
        CMatch::State(s) => s.matches(ct_states(p.ct, p.entry)),
        // connmark_mt: no conntrack entry, no match (inverted or not).
        CMatch::Connmark(m) => match (p.entry, m) {
            (Some(e), Some(m)) => m.matches(e.mark),
            _ => false,
        },
        CMatch::V6(m) => super::v6::matches(m, p)?,
    })
}

/// `conntrack_mt` (revision 3): the state test first; a packet without a
/// conntrack entry then matches exactly when there was a state test (the
/// other options are not looked at); with one, every option given must
/// hold. `--ctdir` is tested as the kernel tests it: `ORIGINAL` holds for
/// packets of the reply direction and `REPLY` for the original one (the
/// kernel's expression, `(dir == ORIGINAL) ^ invert` → no match).
fn conntrack_mt(c: &sluice_config::iptables::ext::conntrack::Conntrack, p: &PktCx<'_>) -> bool {
    use sluice_config::iptables::ext::conntrack::CtDir;
    if let Some(s) = c.state {
        if !s.matches(ct_states(p.ct, p.entry)) {
            return false;
        }
    }
    let (Some(e), crate::packet::CtState::Tracked { info, .. }) = (p.entry, p.ct) else {
        return c.state.is_some();
    };
    if let Some(d) = c.direction {
        let orig = !info.is_reply();
        if orig ^ (d == CtDir::Reply) {
            return false;
        }
    }
    let v4 = |a: &crate::conntrack::tuple::Addr| Ipv4Addr::new(a[0], a[1], a[2], a[3]);
    let [o, r] = &e.tuple;
    for (m, a) in [
        (c.orig_src, &o.src),
        (c.orig_dst, &o.dst),
        (c.repl_src, &r.src),
        (c.repl_dst, &r.dst),
    ] {
        if m.is_some_and(|m| !m.matches(v4(a))) {
            return false;
        }
    }
    let v6 = |a: &crate::conntrack::tuple::Addr| std::net::Ipv6Addr::from(*a);
    for (m, a) in c.addrs6.iter().zip([&o.src, &o.dst, &r.src, &r.dst]) {
        if m.is_some_and(|m| !m.matches(v6(a))) {
            return false;
        }
    }
    if c.proto.is_some_and(|x| (o.proto == x.proto) == x.invert) {
        return false;
    }
    for (m, port) in [
        (c.orig_src_port, o.sport),
        (c.orig_dst_port, o.dport),
        (c.repl_src_port, r.sport),
        (c.repl_dst_port, r.dport),
    ] {
        if m.is_some_and(|m| !m.matches(port)) {
            return false;
        }
    }
    if c.status
        .is_some_and(|x| (x.status.0 & e.status != 0) == x.invert)
    {
        return false;
    }
    if let Some(x) = c.expire {
        let secs = e.left_ms(crate::conntrack::ms(p.ct_now)) / 1000;
        if !x.matches(secs) {
            return false;
        }
    }
    true
}

fn v4_addrs(meta: &PacketMeta) -> (Ipv4Addr, Ipv4Addr) {
    match (meta.src, meta.dst) {
        (IpAddr::V4(s), IpAddr::V4(d)) => (s, d),
        _ => (Ipv4Addr::UNSPECIFIED, Ipv4Addr::UNSPECIFIED),
    }
}

/// `tcp_mt` (xt_tcpudp.c) with the ports to check (`None`: any).
fn tcp_mt(
    p: &PktCx<'_>,
    sport: &Option<PortRange>,
    dport: &Option<PortRange>,
    flags: &Option<TcpFlags>,
    option: &Option<(u8, bool)>,
) -> Result<bool, Hotdrop> {
    let meta = p.meta;
    if meta.frag_offset != 0 {
        // "Dropping evil TCP offset=1 frag": the offset field is 1 (8 bytes).
        return if meta.frag_offset == 8 {
            Err(Hotdrop)
        } else {
            Ok(false)
        };
    }
    let th = meta.l4(p.frame);
    if th.len() < 20 {
        return Err(Hotdrop);
    }
    if !port_ok(sport, be16(&th[0..2])) || !port_ok(dport, be16(&th[2..4])) {
        return Ok(false);
    }
    if let Some(f) = flags {
        if !f.matches(th[13]) {
            return Ok(false);
        }
    }
    if let Some((kind, invert)) = *option {
        let doff = usize::from(th[12] >> 4) * 4;
        if doff < 20 || th.len() < doff {
            return Err(Hotdrop);
        }
        return Ok(tcp_find_option(&th[20..doff], kind) != invert);
    }
    Ok(true)
}

/// `tcp_find_option`: walks the options as the kernel does (kinds 0 and 1
/// are one byte; a zero length counts as one).
fn tcp_find_option(op: &[u8], kind: u8) -> bool {
    let mut i = 0;
    while i < op.len() {
        if op[i] == kind {
            return true;
        }
        if op[i] < 2 {
            i += 1;
        } else {
            // Past the end the kernel reads a payload byte; any length
            // ends the walk there.
            let len = op.get(i + 1).copied().unwrap_or(1);
            i += if len == 0 { 1 } else { usize::from(len) };
        }
    }
    false
}

/// `RTN_*` route types `-m addrtype` distinguishes.
const RTN_UNICAST: u8 = 1;
const RTN_LOCAL: u8 = 2;
const RTN_BROADCAST: u8 = 3;
const RTN_ANYCAST: u8 = 4;
const RTN_MULTICAST: u8 = 5;

fn addrtype_ok(net: &Net, m: &Option<AddrTypeMatch>, addr: Ipv4Addr, dev: Option<PortId>) -> bool {
    match m {
        None => true,
        Some(m) => m.matches(addr_type(net, addr, dev)),
    }
}

/// `inet_dev_addr_type(net, dev, addr)` (see the module docs). `dev`
/// `None`: no interface restriction.
pub(crate) fn addr_type(net: &Net, addr: Ipv4Addr, dev: Option<PortId>) -> u8 {
    let o = addr.octets();
    if o[0] == 0 || addr.is_broadcast() {
        return RTN_BROADCAST;
    }
    if addr.is_multicast() {
        return RTN_MULTICAST;
    }
    let local = net
        .router
        .tables()
        .get(crate::route::table::TABLE_LOCAL)
        .and_then(|t| t.lookup(IpAddr::V4(addr)));
    // (type, the route's device; `None` for `lo`)
    let (rtn, on) = match local.map(|nh| nh.kind) {
        Some(NextHopKind::Local) => {
            let owner = net
                .ports
                .iter()
                .position(|p| p.has_addr(IpAddr::V4(addr)))
                .map(|i| PortId(i as u16));
            (RTN_LOCAL, owner)
        }
        Some(NextHopKind::Broadcast { dev }) => (RTN_BROADCAST, Some(dev)),
        Some(NextHopKind::Anycast { dev }) => (RTN_ANYCAST, Some(dev)),
        Some(NextHopKind::Unicast { dev, .. }) => (RTN_UNICAST, Some(dev)),
        // Types whose lookup is an error (blackhole, unreachable,
        // prohibit, throw) leave the answer unicast.
        Some(_) => return RTN_UNICAST,
        None if o[0] == 127 && addr == LOOPBACK_BROADCAST => (RTN_BROADCAST, None),
        None if o[0] == 127 => (RTN_LOCAL, None),
        None => return RTN_UNICAST,
    };
    match dev {
        Some(d) if on != Some(d) => RTN_UNICAST,
        _ => rtn,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tcp_option_walk_is_the_kernels() {
        // NOP, NOP, timestamp (10 bytes), MSS.
        let opts = [1, 1, 8, 10, 0, 0, 0, 1, 0, 0, 0, 2, 2, 4, 5, 0xb4];
        assert!(tcp_find_option(&opts, 2));
        assert!(tcp_find_option(&opts, 8));
        assert!(tcp_find_option(&opts, 1));
        assert!(!tcp_find_option(&opts, 3));
        // A zero length advances by one (and finds what follows).
        assert!(tcp_find_option(&[5, 0, 3, 3, 7], 3));
        // A length running past the end stops the walk.
        assert!(!tcp_find_option(&[5, 40, 3, 3], 3));
        // Kind 0 (end of list) does not stop the kernel's walk.
        assert!(tcp_find_option(&[0, 0, 4, 2], 4));
    }
}
