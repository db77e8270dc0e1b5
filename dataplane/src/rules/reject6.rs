//! `-j REJECT` in an ip6tables ruleset: the frame the kernel sends back
//! (`ip6t_REJECT.c`, `nf_reject_ipv6.c`: `nf_send_unreach6` →
//! `icmpv6_send`, `nf_send_reset6`). The contract is [`super::reject`]'s:
//! the whole answer written into a caller-owned buffer, or why none.
//!
//! # ICMPv6 destination unreachable (`icmp6-*`)
//!
//! Nothing is sent (checked in the kernel's order) for: a non-first
//! fragment, an extension header chain cut short, or a transport checksum
//! that does not verify (`reject6_csum_ok`: the protocols of
//! `nf_reject_verify_csum`, with the pseudo-header, over the rest of the
//! packet; UDP with checksum 0 is not checked); a multicast destination or
//! a frame not addressed to us at layer 2; an unspecified or multicast
//! source; an ICMPv6 error or an ICMPv6 message cut short before its type
//! (`is_ineligible`). The answer (`icmp6_send`): traffic class 0, flow
//! label 0, hop limit [`RejectContext::ttl`], the given source; type 1
//! with the code of `--reject-with` (`icmp6-no-route` 0,
//! `adm-prohibited` 1, `addr-unreachable` 3, `port-unreachable` 4,
//! `policy-fail` 5, `reject-route` 6), 4 unused zero bytes, then the
//! packet cut so that the answer fits the IPv6 minimum MTU (1280 bytes).
//!
//! # TCP reset (`tcp-reset`)
//!
//! Nothing is sent when either address is not unicast, the packet is not
//! TCP (after the extension headers) or a non-first fragment, its TCP
//! header is cut short, it is a RST, or its checksum does not verify. The
//! answer (`nf_reject_ip6hdr_put`, `nf_reject_ip6_tcphdr_put`): traffic
//! class and flow label 0, hop limit [`RejectContext::ttl`], the addresses
//! swapped, TCP as for IPv4 (`seq` = the ACK's `ack_seq`, or RST|ACK with
//! `ack_seq` = seq + SYN + FIN + payload).

use std::net::{IpAddr, Ipv6Addr};

use sluice_config::iptables::ext::t_reject::RejectWith6;

use super::reject::{checksum_checked, put_l2_type, put_reset, NoReply, RejectContext};
use crate::wire::{checksum, ethernet, ipv6, EtherType, IpProtocol, PacketMeta};

/// Answers `frame` as `-j REJECT --reject-with with` does in ip6tables;
/// `src` is the ICMPv6 answer's source (unused for a reset).
pub fn reject6(
    with: RejectWith6,
    frame: &[u8],
    meta: &PacketMeta,
    ctx: &RejectContext,
    src: Ipv6Addr,
    out: &mut [u8],
) -> Result<usize, NoReply> {
    match with.icmp6_code() {
        Some(code) => icmp6_unreachable(code, frame, meta, ctx, src, out),
        None => tcp_reset6(frame, meta, ctx, out),
    }
}

/// The IPv6 packet of `frame`, its addresses, and where its upper layer
/// starts with its protocol (`ipv6_skip_exthdr`); `Fragment` for a
/// non-first fragment, `Truncated` for a chain cut short.
fn packet<'a>(
    frame: &'a [u8],
    meta: &PacketMeta,
) -> Result<(&'a [u8], Ipv6Addr, Ipv6Addr, usize, u8), NoReply> {
    let (IpAddr::V6(s), IpAddr::V6(d)) = (meta.src, meta.dst) else {
        return Err(NoReply::NotIpv4);
    };
    let pkt = meta.l3(frame);
    if pkt.len() < ipv6::HEADER_LEN {
        return Err(NoReply::Truncated);
    }
    let up = ipv6::walk_ext_headers(pkt, ipv6::HEADER_LEN, IpProtocol(pkt[6]))
        .map_err(|_| NoReply::Truncated)?;
    if up.fragment.is_some_and(|f| f.is_non_first()) {
        return Err(NoReply::Fragment);
    }
    if up.offset > pkt.len() {
        return Err(NoReply::Truncated);
    }
    Ok((pkt, s, d, up.offset, up.protocol.0))
}

/// `nf_ip6_checksum`: the transport checksum over the rest of the packet
/// with the pseudo-header.
fn checksum_ok(pkt: &[u8], s: Ipv6Addr, d: Ipv6Addr, thoff: usize, proto: u8) -> bool {
    checksum::transport(&IpAddr::V6(s), &IpAddr::V6(d), proto, &pkt[thoff..]) == 0
}

fn unicast(a: Ipv6Addr) -> bool {
    !a.is_unspecified() && !a.is_multicast()
}

fn l2_len(ctx: &RejectContext) -> usize {
    ethernet::HEADER_LEN + if ctx.vlan.is_some() { 4 } else { 0 }
}

/// Writes the IPv6 header of an answer at `out[off..]`.
fn put_ipv6(out: &mut [u8], payload: usize, hop: u8, next: u8, src: Ipv6Addr, dst: Ipv6Addr) {
    let repr = ipv6::Repr {
        src_addr: src,
        dst_addr: dst,
        next_header: IpProtocol(next),
        traffic_class: 0,
        flow_label: 0,
        hop_limit: hop,
        payload_len: payload as u16,
    };
    repr.emit(&mut ipv6::Packet::new_unchecked(out));
}

/// `nf_send_unreach6` + `icmpv6_send(ICMPV6_DEST_UNREACH, code)`.
pub fn icmp6_unreachable(
    code: u8,
    frame: &[u8],
    meta: &PacketMeta,
    ctx: &RejectContext,
    src: Ipv6Addr,
    out: &mut [u8],
) -> Result<usize, NoReply> {
    icmp6_error((1, code, 0), true, frame, meta, ctx, src, out)
}

/// `icmpv6_send(type, code, info)` (after `reject6_csum_ok` when
/// `check_csum`): the checks and the answer of the module docs.
pub(crate) fn icmp6_error(
    (ty, code, info): (u8, u8, u32),
    check_csum: bool,
    frame: &[u8],
    meta: &PacketMeta,
    ctx: &RejectContext,
    src: Ipv6Addr,
    out: &mut [u8],
) -> Result<usize, NoReply> {
    let (pkt, s, d, thoff, proto) = packet(frame, meta)?;
    if check_csum && checksum_checked(pkt, thoff, proto) && !checksum_ok(pkt, s, d, thoff, proto) {
        return Err(NoReply::BadChecksum);
    }
    let l2_dst = frame
        .get(usize::from(meta.l2_off)..usize::from(meta.l2_off) + 6)
        .ok_or(NoReply::Truncated)?;
    if d.is_multicast() {
        return Err(NoReply::Broadcast);
    }
    if l2_dst[0] & 1 != 0 {
        return Err(NoReply::NotHost);
    }
    if !unicast(s) {
        return Err(NoReply::Broadcast);
    }
    if proto == IpProtocol::ICMPV6.0 {
        // is_ineligible: an error, or no type to read (a fragment
        // without the ICMPv6 header is eligible).
        match pkt.get(thoff) {
            Some(&t) if t & 0x80 != 0 => {}
            None if meta.is_fragment() => {}
            _ => return Err(NoReply::IcmpError),
        }
    }
    let quote = pkt.len().min(1280 - ipv6::HEADER_LEN - 8);
    let off = l2_len(ctx);
    let total = off + ipv6::HEADER_LEN + 8 + quote;
    if out.len() < total {
        return Err(NoReply::BufferTooSmall);
    }
    put_l2_type(out, ctx, EtherType::IPV6);
    put_ipv6(
        &mut out[off..],
        8 + quote,
        ctx.ttl,
        IpProtocol::ICMPV6.0,
        src,
        s,
    );
    let icmp = &mut out[off + ipv6::HEADER_LEN..total];
    icmp[..4].copy_from_slice(&[ty, code, 0, 0]);
    icmp[4..8].copy_from_slice(&info.to_be_bytes());
    icmp[8..].copy_from_slice(&pkt[..quote]);
    let c = checksum::transport(&IpAddr::V6(src), &IpAddr::V6(s), IpProtocol::ICMPV6.0, icmp);
    icmp[2..4].copy_from_slice(&c.to_be_bytes());
    Ok(total)
}

/// `nf_send_reset6`.
pub fn tcp_reset6(
    frame: &[u8],
    meta: &PacketMeta,
    ctx: &RejectContext,
    out: &mut [u8],
) -> Result<usize, NoReply> {
    let (IpAddr::V6(s), IpAddr::V6(d)) = (meta.src, meta.dst) else {
        return Err(NoReply::NotIpv4);
    };
    if !unicast(s) || !unicast(d) {
        return Err(NoReply::Broadcast);
    }
    let (pkt, s, d, thoff, proto) = packet(frame, meta)?;
    if proto != IpProtocol::TCP.0 {
        return Err(NoReply::NotTcp);
    }
    let th = pkt.get(thoff..thoff + 20).ok_or(NoReply::Truncated)?;
    let flags = th[13];
    if flags & 0x04 != 0 {
        return Err(NoReply::Rst);
    }
    if !checksum_ok(pkt, s, d, thoff, proto) {
        return Err(NoReply::BadChecksum);
    }
    let off = l2_len(ctx);
    let total = off + ipv6::HEADER_LEN + 20;
    if out.len() < total {
        return Err(NoReply::BufferTooSmall);
    }
    put_l2_type(out, ctx, EtherType::IPV6);
    put_ipv6(&mut out[off..], 20, ctx.ttl, IpProtocol::TCP.0, d, s);
    let seg_len = (pkt.len() - thoff) as u32;
    put_reset(
        &mut out[off + ipv6::HEADER_LEN..total],
        th,
        seg_len,
        IpAddr::V6(d),
        IpAddr::V6(s),
    );
    Ok(total)
}
