//! What ip6tables adds to the rule engine: the IPv6 address test of
//! `ip6_packet_match` (`-s`/`-d` with IPv6 prefixes) and the IPv6-only
//! matches (`icmp6`, `ipv6header`, `frag`, `rt`, `eui64`), each as the
//! kernel's `ip6t_*` module reads the packet, and `addrtype` for IPv6
//! (`addrtype_mt6`: [`addrtype6`]). `hl` is `-m ttl`'s
//! comparison on the hop limit ([`super::compile::CMatch::Ttl`]).
//!
//! The extension headers are walked as `ipv6_find_hdr` walks them (not
//! as the parser does: the kernel's walk for a target header goes past a
//! fragment header of a first fragment and stops at a later fragment's),
//! over the IPv6 packet (the frame from the IPv6 header to the end of the
//! payload length).

use std::net::{IpAddr, Ipv6Addr};

use sluice_config::iptables::ext::addrtype::{AddrTypeMatch, AddrTypes};
use sluice_config::iptables::ext::frag::{Frag, FragPosition};
use sluice_config::iptables::ext::icmp::IcmpType;
use sluice_config::iptables::ext::ipv6header::Ipv6header;
use sluice_config::iptables::ext::rt::Rt;
use sluice_config::iptables::Addr6Match;

use super::matches::{Hotdrop, PktCx};
use crate::net::Net;
use crate::route::{FlowKey, NextHopKind, PortId, RouteResult};
use crate::wire::PacketMeta;

/// An IPv6 match.
#[derive(Debug, Clone)]
pub(crate) enum Match6 {
    /// `-s` / `-d` of an ip6tables rule (`ip6_packet_match`).
    Addrs {
        src: Option<Addr6Match>,
        dst: Option<Addr6Match>,
    },
    /// `-m icmp6 --icmpv6-type` (type 255 is no wildcard here).
    Icmp6(IcmpType),
    Ipv6header(Ipv6header),
    Frag(Frag),
    Rt(Box<Rt>),
    Eui64,
}

const NEXTHDR_HOP: u8 = 0;
const NEXTHDR_ROUTING: u8 = 43;
const NEXTHDR_FRAGMENT: u8 = 44;
const NEXTHDR_ESP: u8 = 50;
const NEXTHDR_AUTH: u8 = 51;
const NEXTHDR_NONE: u8 = 59;
const NEXTHDR_DEST: u8 = 60;

/// `ipv6_ext_hdr`.
fn ext_hdr(n: u8) -> bool {
    matches!(
        n,
        NEXTHDR_HOP
            | NEXTHDR_ROUTING
            | NEXTHDR_FRAGMENT
            | NEXTHDR_AUTH
            | NEXTHDR_NONE
            | NEXTHDR_DEST
    )
}

/// Why `ipv6_find_hdr` found no header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum NotFound {
    /// `-ENOENT`: the packet has none.
    Absent,
    /// `-EBADMSG`: a header is cut short (the matches hotdrop).
    Bad,
}

/// `ipv6_find_hdr(skb, &offset, target, NULL, NULL)`: the offset in `pkt`
/// (the IPv6 packet) of the first extension header of kind `target`.
fn find_hdr(pkt: &[u8], target: u8) -> Result<usize, NotFound> {
    let Some(&first) = pkt.get(6) else {
        return Err(NotFound::Bad);
    };
    let mut next = first;
    let mut start = 40usize;
    loop {
        let found = next == target;
        if !ext_hdr(next) || next == NEXTHDR_NONE {
            return if found {
                Ok(start)
            } else {
                Err(NotFound::Absent)
            };
        }
        let hp = pkt.get(start..start + 2).ok_or(NotFound::Bad)?;
        let len = match next {
            NEXTHDR_FRAGMENT => {
                let fo = pkt.get(start + 2..start + 4).ok_or(NotFound::Bad)?;
                let off = u16::from_be_bytes([fo[0], fo[1]]) & !0x7;
                if off != 0 {
                    return if found {
                        Ok(start)
                    } else {
                        Err(NotFound::Absent)
                    };
                }
                8
            }
            NEXTHDR_AUTH => (usize::from(hp[1]) + 2) << 2,
            _ => (usize::from(hp[1]) + 1) << 3,
        };
        if found {
            return Ok(start);
        }
        next = hp[0];
        start += len;
    }
}

fn be16(b: &[u8]) -> u16 {
    u16::from_be_bytes([b[0], b[1]])
}

fn be32(b: &[u8]) -> u32 {
    u32::from_be_bytes([b[0], b[1], b[2], b[3]])
}

fn addr(b: &[u8]) -> Ipv6Addr {
    let mut a = [0u8; 16];
    a.copy_from_slice(&b[..16]);
    Ipv6Addr::from(a)
}

fn addr_ok(m: &Option<Addr6Match>, ip: Ipv6Addr) -> bool {
    match m {
        Some(m) => m.contains(ip) != m.invert,
        None => true,
    }
}

/// Evaluates `m` on the packet of `p`.
pub(crate) fn matches(m: &Match6, p: &PktCx<'_>) -> Result<bool, Hotdrop> {
    let meta = p.meta;
    if meta.ip_version != 6 {
        return Ok(false);
    }
    let pkt = meta.l3(p.frame);
    Ok(match m {
        Match6::Addrs { src, dst } => match (meta.src, meta.dst) {
            (std::net::IpAddr::V6(s), std::net::IpAddr::V6(d)) => {
                addr_ok(src, s) && addr_ok(dst, d)
            }
            _ => false,
        },
        Match6::Icmp6(t) => {
            // icmp6_match: the 8-byte header of a first fragment.
            if meta.frag_offset != 0 {
                return Ok(false);
            }
            let l4 = meta.l4(p.frame);
            if l4.len() < 8 {
                return Err(Hotdrop);
            }
            // icmp6_type_code_match: no wildcard type.
            let hit = l4[0] == t.icmp_type && (t.code_min..=t.code_max).contains(&l4[1]);
            hit != t.invert
        }
        Match6::Ipv6header(h) => ipv6header(h, pkt)?,
        Match6::Frag(f) => frag(f, pkt)?,
        Match6::Rt(r) => rt(r, pkt)?,
        Match6::Eui64 => eui64(p, meta),
    })
}

/// `ipv6header_mt6`.
fn ipv6header(h: &Ipv6header, pkt: &[u8]) -> Result<bool, Hotdrop> {
    const MASK_HOPOPTS: u8 = 128;
    const MASK_DSTOPTS: u8 = 64;
    const MASK_ROUTING: u8 = 32;
    const MASK_FRAGMENT: u8 = 16;
    const MASK_AH: u8 = 8;
    const MASK_ESP: u8 = 4;
    const MASK_NONE: u8 = 2;
    const MASK_PROTO: u8 = 1;
    let Some(&first) = pkt.get(6) else {
        return Ok(false);
    };
    let mut next = first;
    let mut ptr = 40usize;
    let mut len = pkt.len() as isize - 40;
    let mut temp = 0u8;
    while ext_hdr(next) || next == NEXTHDR_ESP {
        if next == NEXTHDR_NONE {
            temp |= MASK_NONE;
            break;
        }
        if len < 2 {
            return Ok(false);
        }
        if next == NEXTHDR_ESP {
            temp |= MASK_ESP;
            break;
        }
        let Some(hp) = pkt.get(ptr..ptr + 2) else {
            return Err(Hotdrop);
        };
        let hdrlen = match next {
            NEXTHDR_FRAGMENT => 8,
            NEXTHDR_AUTH => (usize::from(hp[1]) + 2) << 2,
            _ => (usize::from(hp[1]) + 1) << 3,
        };
        temp |= match next {
            NEXTHDR_HOP => MASK_HOPOPTS,
            NEXTHDR_ROUTING => MASK_ROUTING,
            NEXTHDR_FRAGMENT => MASK_FRAGMENT,
            NEXTHDR_AUTH => MASK_AH,
            NEXTHDR_DEST => MASK_DSTOPTS,
            _ => return Ok(false),
        };
        next = hp[0];
        len -= hdrlen as isize;
        ptr += hdrlen;
        if ptr > pkt.len() {
            break;
        }
    }
    if next != NEXTHDR_NONE && next != NEXTHDR_ESP {
        temp |= MASK_PROTO;
    }
    let inv = if h.invert { 0xff } else { 0 };
    Ok(if h.soft {
        (temp ^ h.mask ^ inv) & h.mask == 0
    } else if h.invert {
        temp != h.mask
    } else {
        temp == h.mask
    })
}

/// The header of kind `target` for a match: `Ok(None)` when the packet
/// has none, a hotdrop when a header is cut short.
fn header(pkt: &[u8], target: u8) -> Result<Option<usize>, Hotdrop> {
    match find_hdr(pkt, target) {
        Ok(at) => Ok(Some(at)),
        Err(NotFound::Absent) => Ok(None),
        Err(NotFound::Bad) => Err(Hotdrop),
    }
}

/// `frag_mt6` (the kernel does not test `--fraglen`).
fn frag(f: &Frag, pkt: &[u8]) -> Result<bool, Hotdrop> {
    let Some(at) = header(pkt, NEXTHDR_FRAGMENT)? else {
        return Ok(false);
    };
    let Some(fh) = pkt.get(at..at + 8) else {
        return Err(Hotdrop);
    };
    let frag_off = be16(&fh[2..4]);
    let reserved = fh[1];
    Ok(f.id.matches(be32(&fh[4..8]))
        && !(f.reserved && (reserved != 0 || frag_off & 0x6 != 0))
        && !(f.first && frag_off & !0x7 != 0)
        && !(f.position == Some(FragPosition::More) && frag_off & 1 == 0)
        && !(f.position == Some(FragPosition::Last) && frag_off & 1 != 0))
}

/// `rt_mt6`.
fn rt(r: &Rt, pkt: &[u8]) -> Result<bool, Hotdrop> {
    let Some(at) = header(pkt, NEXTHDR_ROUTING)? else {
        return Ok(false);
    };
    let Some(rh) = pkt.get(at..at + 4) else {
        return Err(Hotdrop);
    };
    let hdrlen = (usize::from(rh[1]) + 1) << 3;
    if pkt.len() - at < hdrlen {
        return Ok(false);
    }
    let mut ret = r.segsleft.matches(u32::from(rh[3]))
        && r.len.is_none_or(|l| (l.value == hdrlen as u32) != l.invert)
        && r.rt_type
            .is_none_or(|t| (t.value == u32::from(rh[2])) != t.invert);
    if ret && r.reserved {
        ret = pkt.get(at + 4..at + 8).is_some_and(|b| be32(b) == 0);
    }
    if r.addrs.is_empty() {
        return Ok(ret);
    }
    if !ret {
        return Ok(false);
    }
    // The type 0 address list after the 8-byte `rt0_hdr`.
    let n = (hdrlen - 8) / 16;
    let at_addr = |k: usize| pkt.get(at + 8 + k * 16..at + 8 + (k + 1) * 16).map(addr);
    if r.not_strict {
        let mut i = 0;
        for k in 0..n {
            let Some(a) = at_addr(k) else {
                return Err(Hotdrop);
            };
            if a == r.addrs[i] {
                i += 1;
            }
            if i == r.addrs.len() {
                break;
            }
        }
        Ok(i == r.addrs.len())
    } else {
        if r.addrs.len() > n {
            return Ok(false);
        }
        for (k, want) in r.addrs.iter().enumerate() {
            let Some(a) = at_addr(k) else {
                return Err(Hotdrop);
            };
            if a != *want {
                return Ok(false);
            }
        }
        Ok(r.addrs.len() == n)
    }
}

/// `eui64_mt6`: the source address's interface identifier is the modified
/// EUI-64 of the frame's Ethernet source.
fn eui64(p: &PktCx<'_>, meta: &PacketMeta) -> bool {
    if p.iif.is_none() {
        // A packet the box sends has no Ethernet header yet.
        return false;
    }
    let l2 = usize::from(meta.l2_off);
    let Some(eth) = p.frame.get(l2..l2 + 14) else {
        return false;
    };
    if be16(&eth[12..14]) != 0x86dd {
        return false;
    }
    let std::net::IpAddr::V6(src) = meta.src else {
        return false;
    };
    let s = &eth[6..12];
    let eui = [s[0] ^ 0x02, s[1], s[2], 0xff, 0xfe, s[3], s[4], s[5]];
    src.octets()[8..] == eui
}

/// `addrtype_mt6` (xt_addrtype.c): `--src-type` / `--dst-type` of an
/// IPv6 packet, each with its inversion; `dev` the interface of
/// `--limit-iface-in/out`.
pub(crate) fn addrtype6(
    net: &Net,
    src: &Option<AddrTypeMatch>,
    dst: &Option<AddrTypeMatch>,
    meta: &PacketMeta,
    dev: Option<PortId>,
) -> bool {
    let (IpAddr::V6(s), IpAddr::V6(d)) = (meta.src, meta.dst) else {
        return false;
    };
    let ok = |m: &Option<AddrTypeMatch>, a: Ipv6Addr| match m {
        Some(m) => match_type6(net, dev, a, m.types.0) != m.invert,
        None => true,
    };
    ok(src, s) && ok(dst, d)
}

/// `match_type6`: the unicast / multicast / unspecified tests of
/// `ipv6_addr_type` (all of those asked for must hold), then, when
/// LOCAL, ANYCAST or UNREACHABLE is asked for, one of them from the
/// route lookup.
fn match_type6(net: &Net, dev: Option<PortId>, addr: Ipv6Addr, mask: u16) -> bool {
    let o = addr.octets();
    let multicast = o[0] == 0xff;
    let any = addr.is_unspecified();
    // `__ipv6_addr_type`: neither `::` nor an IPv4-mapped address nor
    // multicast is unicast.
    let mapped = o[..10].iter().all(|&b| b == 0) && o[10] == 0xff && o[11] == 0xff;
    let unicast = !multicast && !any && !mapped;
    if (mask & AddrTypes::MULTICAST.0 != 0 && !multicast)
        || (mask & AddrTypes::UNICAST.0 != 0 && !unicast)
        || (mask & AddrTypes::UNSPEC.0 != 0 && !any)
    {
        return false;
    }
    let routed = AddrTypes::LOCAL.0 | AddrTypes::ANYCAST.0 | AddrTypes::UNREACHABLE.0;
    if mask & routed == 0 {
        return true;
    }
    mask & lookup_rt6(net, dev, addr, mask, multicast) != 0
}

/// `match_lookup_rt6`: LOCAL for an address of `dev` (with a `dev`),
/// UNREACHABLE when `ip6_route_output` fails (no route, or a blackhole,
/// unreachable or prohibit one: the LOCAL found before is lost), LOCAL
/// for a local route (without a `dev`), ANYCAST for an anycast route
/// (the subnet-router anycast address of a prefix on a port).
fn lookup_rt6(net: &Net, dev: Option<PortId>, addr: Ipv6Addr, mask: u16, multicast: bool) -> u16 {
    let ip = IpAddr::V6(addr);
    let mut ret = 0;
    if let Some(d) = dev {
        if mask & AddrTypes::LOCAL.0 != 0 && net.port(d).is_some_and(|p| p.has_addr(ip)) {
            ret = AddrTypes::LOCAL.0;
        }
    }
    if multicast {
        // The ff00::/8 route every IPv6 port has: no flag of interest.
        return ret;
    }
    let local = net
        .router
        .tables()
        .get(crate::route::table::TABLE_LOCAL)
        .and_then(|t| t.lookup(ip));
    match local.map(|nh| nh.kind) {
        Some(NextHopKind::Local) => {
            if dev.is_none() {
                ret |= AddrTypes::LOCAL.0;
            }
            ret
        }
        Some(NextHopKind::Anycast { .. }) => ret | AddrTypes::ANYCAST.0,
        _ => match net.router.lookup(&FlowKey::output(ip)) {
            RouteResult::Forward { .. } | RouteResult::Local | RouteResult::Broadcast { .. } => ret,
            _ => AddrTypes::UNREACHABLE.0,
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// An IPv6 packet with the extension headers `ext` (kind, bytes) and
    /// `upper` as the upper-layer protocol.
    fn pkt(ext: &[(u8, Vec<u8>)], upper: u8) -> Vec<u8> {
        let mut p = vec![0u8; 40];
        p[0] = 0x60;
        p[6] = ext.first().map_or(upper, |e| e.0);
        for (k, (_, body)) in ext.iter().enumerate() {
            let mut b = body.clone();
            b[0] = ext.get(k + 1).map_or(upper, |e| e.0);
            p.extend_from_slice(&b);
        }
        p.extend_from_slice(&[0; 8]);
        let pl = (p.len() - 40) as u16;
        p[4..6].copy_from_slice(&pl.to_be_bytes());
        p
    }

    fn frag_hdr(off: u16, more: bool, id: u32) -> Vec<u8> {
        let mut h = vec![0u8; 8];
        h[2..4].copy_from_slice(&(off | u16::from(more)).to_be_bytes());
        h[4..8].copy_from_slice(&id.to_be_bytes());
        h
    }

    #[test]
    fn find_hdr_walks_as_the_kernel() {
        let dst = vec![0u8; 8];
        let p = pkt(&[(60, dst.clone()), (44, frag_hdr(0, true, 7))], 17);
        assert_eq!(find_hdr(&p, 44), Ok(48));
        assert_eq!(find_hdr(&p, 43), Err(NotFound::Absent));
        // A later fragment: the walk stops at its fragment header.
        let p = pkt(&[(44, frag_hdr(8, false, 7)), (43, vec![0; 8])], 17);
        assert_eq!(find_hdr(&p, 43), Err(NotFound::Absent));
        assert_eq!(find_hdr(&p, 44), Ok(40));
        // Cut short: a header claims more than there is.
        let mut p = pkt(&[(0, vec![0u8; 8])], 6);
        p.truncate(41);
        assert_eq!(find_hdr(&p, 44), Err(NotFound::Bad));
    }

    #[test]
    fn ipv6header_exact_soft_and_inverted() {
        let p = pkt(&[(0, vec![0u8; 8]), (44, frag_hdr(0, true, 1))], 6);
        let h = |mask, soft, invert| {
            let mut h = Ipv6header::default();
            h.mask = mask;
            h.soft = soft;
            h.invert = invert;
            h
        };
        // hop-by-hop, fragment and a protocol.
        assert_eq!(
            ipv6header(&h(0x80 | 0x10 | 0x01, false, false), &p),
            Ok(true)
        );
        assert_eq!(ipv6header(&h(0x80 | 0x10, false, false), &p), Ok(false));
        assert_eq!(ipv6header(&h(0x80, true, false), &p), Ok(true));
        assert_eq!(ipv6header(&h(0x80, true, true), &p), Ok(false));
        assert_eq!(ipv6header(&h(0x20, true, true), &p), Ok(true));
        assert_eq!(ipv6header(&h(0x80, false, true), &p), Ok(true));
        let none = pkt(&[], 59);
        assert_eq!(ipv6header(&h(0x02, false, false), &none), Ok(true));
    }

    #[test]
    fn frag_fields() {
        let p = pkt(&[(44, frag_hdr(0, true, 0x1234))], 17);
        let mut f = Frag::default();
        f.id.lo = 0;
        f.id.hi = u32::MAX;
        assert_eq!(frag(&f, &p), Ok(true));
        f.first = true;
        f.position = Some(FragPosition::More);
        assert_eq!(frag(&f, &p), Ok(true));
        f.position = Some(FragPosition::Last);
        assert_eq!(frag(&f, &p), Ok(false));
        let later = pkt(&[(44, frag_hdr(16, false, 0x1234))], 17);
        f.position = None;
        assert_eq!(frag(&f, &later), Ok(false));
        f.first = false;
        f.id.lo = 0x1235;
        assert_eq!(frag(&f, &later), Ok(false));
        assert_eq!(frag(&f, &pkt(&[], 17)), Ok(false));
    }
}
