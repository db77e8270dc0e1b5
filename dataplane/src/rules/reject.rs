//! `-j REJECT`: the frame the kernel sends back (`ipt_REJECT.c`,
//! `nf_reject_ipv4.c`: `nf_send_unreach` → `icmp_send`, `nf_send_reset`).
//!
//! Contract: the rule evaluator calls [`reject`] (or [`icmp_unreachable`] /
//! [`tcp_reset`]) with the rejected frame, its [`PacketMeta`], what the
//! route back says ([`RejectContext`]: MAC addresses, TTL, MTU, source
//! address) and a caller-owned output buffer. It writes the whole answer —
//! Ethernet header included — and returns its length, or says why the
//! kernel would send nothing ([`NoReply`], whose [`NoReply::reason`] names
//! the `reject.<reason>` counter). No allocation, no clock, no I/O; the
//! rejected packet is dropped either way.
//!
//! # ICMP destination unreachable (`icmp-*`)
//!
//! Checked in the kernel's order; any failure sends nothing:
//!
//! 1. not a non-first fragment (`nf_send_unreach`);
//! 2. the transport checksum verifies (`nf_reject_verify_csum` +
//!    `nf_ip_checksum`): TCP, UDP with a non-zero checksum, ICMP and every
//!    protocol not listed next must sum to zero (with the pseudo-header for
//!    TCP and UDP, over the whole IP payload); UDP with checksum 0, GRE, AH,
//!    ESP, SCTP, UDP-Lite and DCCP are not checked;
//! 3. the frame was addressed to us at layer 2 (`pkt_type == PACKET_HOST`:
//!    not a broadcast or multicast MAC);
//! 4. the route is not broadcast or multicast (a multicast or
//!    255.255.255.255 destination, or [`RejectContext::route_broadcast`]);
//! 5. the packet is not an ICMP error, nor an ICMP message of unknown type
//!    (> 18), nor one too short to read its type (`icmp_pointers[].error`:
//!    types 1–7 but echo request 8, 9–12 are errors);
//! 6. `min(mtu, 576) - 28 > 20` (room for at least an IP header).
//!
//! (Linux 6.18 answered ICMP types 0, 8 and 13–18 and none of 1, 2, 6, 7,
//! 9, 10, 19.)
//!
//! The answer (`__icmp_send`): IPv4 with TOS `(tos & 0x1E) | 0xC0` (the
//! original's TOS bits, precedence "internetwork control"), no DF, TTL
//! [`RejectContext::ttl`], identification [`RejectContext::ip_id`] (the
//! kernel's is a hash-based counter), source [`RejectContext::icmp_src`];
//! ICMP type 3 with the code of `--reject-with`, 4 unused zero bytes, then
//! the original IP packet (as it is at the hook) cut to `min(mtu, 576) -
//! 28` bytes, so the whole answer is at most 576 bytes. Checked against
//! Linux 6.18 (a REJECTed 628-byte UDP datagram with TOS 0xFF answered with
//! a 576-byte datagram, TOS 0xDE, TTL 64, flags 0).
//!
//! The source address (`__icmp_send`): for a packet addressed to the router
//! itself (INPUT), the packet's own destination; otherwise the address the
//! route back to the sender would use as source (its preferred source, else
//! the primary address of its interface); 192.0.0.8 (`INADDR_DUMMY`) when
//! there is none. [`icmp_source`] encodes this rule for the caller.
//!
//! # TCP reset (`tcp-reset`)
//!
//! Nothing is sent for a non-first fragment, a non-TCP packet, a TCP
//! header cut short (< 20 bytes), a RST, a bad TCP checksum, or a broadcast
//! / multicast route. The answer (`nf_reject_iphdr_put`,
//! `nf_reject_ip_tcphdr_put`): IPv4 TOS 0, ID 0, DF, TTL
//! [`RejectContext::ttl`], source and destination swapped (the source is the
//! original destination, whatever the route); TCP ports swapped, data
//! offset 5, window 0, no options. If the original had ACK, `seq =` its
//! `ack_seq` and only RST is set; otherwise `seq = 0`, RST|ACK, and
//! `ack_seq = seq + SYN + FIN + payload length` (payload length = IP total
//! length - IP header - TCP header, in 32-bit wrapping arithmetic like the
//! kernel's).
//!
//! Not modelled: the kernel's ICMP rate limits (`icmp_ratelimit`: by
//! default destination-unreachable messages to one peer are limited to one
//! per second after a burst of 6, `icmp_msgs_per_sec` 1000 overall) — the
//! caller has to apply them if it wants the kernel's output under load; the
//! echo of IP options (record route, timestamp, source route) into the ICMP
//! answer (`__ip_options_echo`): the answer carries no options (router
//! alert, the common one, is not echoed by the kernel either); the
//! checksum-offload shortcut (`skb_csum_unnecessary`, and `CHECKSUM_COMPLETE`
//! frames outside PREROUTING / INPUT, which the kernel does not check):
//! sluice always checks, as the kernel does for a frame without offload.
//! IPv6 answers: [`super::reject6`].

use std::net::Ipv4Addr;

use sluice_config::iptables::ext::t_reject::RejectWith;

use crate::wire::{checksum, ethernet, EtherType, IpProtocol, MacAddr, PacketMeta};

/// The kernel's fallback source (`INADDR_DUMMY`, 192.0.0.8).
pub const INADDR_DUMMY: Ipv4Addr = Ipv4Addr::new(192, 0, 0, 8);
/// Largest ICMP error datagram (RFC 1812 4.3.2.3, `icmp_send`).
pub const ICMP_ERROR_MAX: usize = 576;
/// Ethernet header plus an optional 802.1Q tag.
const MAX_L2: usize = ethernet::HEADER_LEN + 4;
/// Largest frame [`icmp_unreachable`] or an IPv6 answer
/// ([`super::reject6`]: up to the IPv6 minimum MTU) writes.
pub const MAX_REPLY_FRAME: usize = MAX_L2 + 1280;

const IP_OFFSET_MASK: u16 = 0x1fff;
const NR_ICMP_TYPES: u8 = 18;

/// What the route back tells, given by the caller.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RejectContext {
    /// The egress interface's MAC.
    pub src_mac: MacAddr,
    /// The next hop's MAC (normally the rejected frame's source MAC).
    pub dst_mac: MacAddr,
    /// An 802.1Q VLAN ID to tag the answer with.
    pub vlan: Option<u16>,
    /// TTL of the answer: the route's hop limit, else
    /// `net.ipv4.ip_default_ttl` (64).
    pub ttl: u8,
    /// MTU of the route back (only caps the ICMP answer below 576 bytes).
    pub mtu: u32,
    /// Source of an ICMP answer (see [`icmp_source`]).
    pub icmp_src: Ipv4Addr,
    /// Identification of an ICMP answer.
    pub ip_id: u16,
    /// The rejected packet's route is broadcast or multicast (e.g. a
    /// subnet's directed broadcast); multicast and 255.255.255.255
    /// destinations are recognised without it.
    pub route_broadcast: bool,
}

impl Default for RejectContext {
    fn default() -> RejectContext {
        RejectContext {
            src_mac: MacAddr::ZERO,
            dst_mac: MacAddr::ZERO,
            vlan: None,
            ttl: 64,
            mtu: 1500,
            icmp_src: INADDR_DUMMY,
            ip_id: 0,
            route_broadcast: false,
        }
    }
}

/// Why no answer is sent.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, thiserror::Error)]
pub enum NoReply {
    /// The frame is not IPv4.
    #[error("not an IPv4 packet")]
    NotIpv4,
    /// Only the first fragment is answered.
    #[error("non-first fragment")]
    Fragment,
    /// The transport checksum does not verify.
    #[error("bad transport checksum")]
    BadChecksum,
    /// The frame was sent to a broadcast or multicast MAC.
    #[error("not addressed to us at layer 2")]
    NotHost,
    /// The destination (route) is broadcast or multicast.
    #[error("broadcast or multicast destination")]
    Broadcast,
    /// No ICMP error about an ICMP error (or an unknown ICMP type).
    #[error("ICMP error (or unknown ICMP type)")]
    IcmpError,
    /// The route's MTU leaves no room for the quoted header.
    #[error("MTU too small for an ICMP error")]
    TinyMtu,
    /// `tcp-reset` for a packet that is not TCP.
    #[error("not TCP")]
    NotTcp,
    /// The TCP header is cut short.
    #[error("TCP header cut short")]
    Truncated,
    /// No reset for a reset.
    #[error("TCP RST")]
    Rst,
    /// The output buffer cannot hold the answer.
    #[error("output buffer too small")]
    BufferTooSmall,
}

impl NoReply {
    /// The reason part of the `reject.<reason>` counter.
    pub fn reason(self) -> &'static str {
        match self {
            NoReply::NotIpv4 => "not_ipv4",
            NoReply::Fragment => "fragment",
            NoReply::BadChecksum => "bad_checksum",
            NoReply::NotHost => "not_host",
            NoReply::Broadcast => "broadcast",
            NoReply::IcmpError => "icmp_error",
            NoReply::TinyMtu => "tiny_mtu",
            NoReply::NotTcp => "not_tcp",
            NoReply::Truncated => "truncated",
            NoReply::Rst => "rst",
            NoReply::BufferTooSmall => "buffer_too_small",
        }
    }
}

/// The kernel's choice of source address for an ICMP error: the rejected
/// packet's destination when it was addressed to the router (`to_local`),
/// else `route_src` (the preferred source of the route back), else
/// [`INADDR_DUMMY`].
pub fn icmp_source(meta: &PacketMeta, to_local: bool, route_src: Option<Ipv4Addr>) -> Ipv4Addr {
    match meta.dst {
        std::net::IpAddr::V4(d) if to_local => d,
        _ => route_src
            .filter(|a| !a.is_unspecified())
            .unwrap_or(INADDR_DUMMY),
    }
}

/// Answers `frame` as `-j REJECT --reject-with with` does.
pub fn reject(
    with: RejectWith,
    frame: &[u8],
    meta: &PacketMeta,
    ctx: &RejectContext,
    out: &mut [u8],
) -> Result<usize, NoReply> {
    match with.icmp_code() {
        Some(code) => icmp_unreachable(code, frame, meta, ctx, out),
        None => tcp_reset(frame, meta, ctx, out),
    }
}

/// The IPv4 packet of `frame` (header to total length), if it is one.
fn ipv4_packet<'a>(frame: &'a [u8], meta: &PacketMeta) -> Result<&'a [u8], NoReply> {
    if meta.ip_version != 4 || meta.ethertype != EtherType::IPV4 {
        return Err(NoReply::NotIpv4);
    }
    let pkt = meta.l3(frame);
    if pkt.len() < 20 {
        return Err(NoReply::NotIpv4);
    }
    Ok(pkt)
}

/// The IPv4 packet of `frame`, its header length and its (source,
/// destination) addresses; [`NoReply::Fragment`] when its fragment offset
/// is not 0.
fn ipv4_at_offset_zero<'a>(
    frame: &'a [u8],
    meta: &PacketMeta,
) -> Result<(&'a [u8], usize, Ipv4Addr, Ipv4Addr), NoReply> {
    let pkt = ipv4_packet(frame, meta)?;
    let ihl = usize::from(pkt[0] & 0x0f) * 4;
    let (src, dst) = addrs(pkt);
    if be16(&pkt[6..8]) & IP_OFFSET_MASK != 0 {
        return Err(NoReply::Fragment);
    }
    Ok((pkt, ihl, src, dst))
}

fn be16(b: &[u8]) -> u16 {
    u16::from_be_bytes([b[0], b[1]])
}

fn be32(b: &[u8]) -> u32 {
    u32::from_be_bytes([b[0], b[1], b[2], b[3]])
}

fn addrs(pkt: &[u8]) -> (Ipv4Addr, Ipv4Addr) {
    (
        Ipv4Addr::new(pkt[12], pkt[13], pkt[14], pkt[15]),
        Ipv4Addr::new(pkt[16], pkt[17], pkt[18], pkt[19]),
    )
}

/// `nf_ip_checksum` over the IP payload (pseudo-header for TCP and UDP).
fn payload_checksum_ok(pkt: &[u8], ihl: usize, proto: u8) -> bool {
    let payload = &pkt[ihl.min(pkt.len())..];
    if proto == IpProtocol::TCP.0 || proto == IpProtocol::UDP.0 {
        let (s, d) = addrs(pkt);
        checksum::transport(&s.into(), &d.into(), proto, payload) == 0
    } else {
        checksum::checksum(payload) == 0
    }
}

/// `nf_reject_verify_csum`: whether the kernel checks this protocol's
/// checksum before answering.
pub(super) fn checksum_checked(pkt: &[u8], ihl: usize, proto: u8) -> bool {
    match IpProtocol(proto) {
        // UDP: only with a checksum (or a header too short to tell).
        IpProtocol::UDP => pkt.get(ihl + 6..ihl + 8) != Some(&[0, 0][..]),
        IpProtocol::GRE
        | IpProtocol::AH
        | IpProtocol::ESP
        | IpProtocol::SCTP
        | IpProtocol::UDPLITE
        | IpProtocol::DCCP => false,
        _ => true,
    }
}

/// `icmp_pointers[type].error` for a received type (unknown types count
/// as errors).
fn is_icmp_error_type(t: u8) -> bool {
    t > NR_ICMP_TYPES || matches!(t, 1..=7 | 9..=12)
}

/// Writes the Ethernet header (and VLAN tag) for IPv4; returns its length.
fn put_l2(out: &mut [u8], ctx: &RejectContext) -> usize {
    put_l2_type(out, ctx, EtherType::IPV4)
}

/// [`put_l2`] for `ethertype`.
pub(super) fn put_l2_type(out: &mut [u8], ctx: &RejectContext, ethertype: EtherType) -> usize {
    out[0..6].copy_from_slice(ctx.dst_mac.as_bytes());
    out[6..12].copy_from_slice(ctx.src_mac.as_bytes());
    let mut off = 12;
    if let Some(vid) = ctx.vlan {
        out[off..off + 2].copy_from_slice(&EtherType::VLAN.0.to_be_bytes());
        out[off + 2..off + 4].copy_from_slice(&(vid & 0x0fff).to_be_bytes());
        off += 4;
    }
    out[off..off + 2].copy_from_slice(&ethertype.0.to_be_bytes());
    off + 2
}

/// Writes a 20-byte IPv4 header with its checksum.
#[allow(clippy::too_many_arguments)]
fn put_ipv4(
    out: &mut [u8],
    tos: u8,
    total: u16,
    id: u16,
    frag: u16,
    ttl: u8,
    proto: u8,
    src: Ipv4Addr,
    dst: Ipv4Addr,
) {
    out[0] = 0x45;
    out[1] = tos;
    out[2..4].copy_from_slice(&total.to_be_bytes());
    out[4..6].copy_from_slice(&id.to_be_bytes());
    out[6..8].copy_from_slice(&frag.to_be_bytes());
    out[8] = ttl;
    out[9] = proto;
    out[10..12].copy_from_slice(&[0, 0]);
    out[12..16].copy_from_slice(&src.octets());
    out[16..20].copy_from_slice(&dst.octets());
    let c = checksum::checksum(&out[..20]);
    out[10..12].copy_from_slice(&c.to_be_bytes());
}

/// The destination is one the kernel's route marks broadcast or multicast.
fn broadcast_route(dst: Ipv4Addr, ctx: &RejectContext) -> bool {
    ctx.route_broadcast || dst.is_multicast() || dst.is_broadcast()
}

/// `nf_send_unreach` + `icmp_send(ICMP_DEST_UNREACH, code)`.
pub fn icmp_unreachable(
    code: u8,
    frame: &[u8],
    meta: &PacketMeta,
    ctx: &RejectContext,
    out: &mut [u8],
) -> Result<usize, NoReply> {
    let (pkt, ihl, src, dst) = ipv4_at_offset_zero(frame, meta)?;
    let proto = pkt[9];
    if checksum_checked(pkt, ihl, proto) && !payload_checksum_ok(pkt, ihl, proto) {
        return Err(NoReply::BadChecksum);
    }
    let l2_dst = frame
        .get(usize::from(meta.l2_off)..usize::from(meta.l2_off) + 6)
        .ok_or(NoReply::NotIpv4)?;
    if l2_dst[0] & 1 != 0 {
        return Err(NoReply::NotHost);
    }
    if broadcast_route(dst, ctx) {
        return Err(NoReply::Broadcast);
    }
    if proto == IpProtocol::ICMP.0 {
        match pkt.get(ihl) {
            Some(&t) if !is_icmp_error_type(t) => {}
            _ => return Err(NoReply::IcmpError),
        }
    }
    let room = (ctx.mtu.min(ICMP_ERROR_MAX as u32) as i64) - 20 - 8;
    if room <= 20 {
        return Err(NoReply::TinyMtu);
    }
    let quote = pkt.len().min(room as usize);
    let l2_len = if ctx.vlan.is_some() {
        MAX_L2
    } else {
        ethernet::HEADER_LEN
    };
    let total = l2_len + 20 + 8 + quote;
    if out.len() < total {
        return Err(NoReply::BufferTooSmall);
    }
    let off = put_l2(out, ctx);
    let tos = (pkt[1] & 0x1e) | 0xc0;
    put_ipv4(
        &mut out[off..],
        tos,
        (20 + 8 + quote) as u16,
        ctx.ip_id,
        0,
        ctx.ttl,
        IpProtocol::ICMP.0,
        ctx.icmp_src,
        src,
    );
    let icmp = &mut out[off + 20..total];
    icmp[..8].copy_from_slice(&[3, code, 0, 0, 0, 0, 0, 0]);
    icmp[8..].copy_from_slice(&pkt[..quote]);
    let c = checksum::checksum(icmp);
    icmp[2..4].copy_from_slice(&c.to_be_bytes());
    Ok(total)
}

/// `nf_send_reset`.
pub fn tcp_reset(
    frame: &[u8],
    meta: &PacketMeta,
    ctx: &RejectContext,
    out: &mut [u8],
) -> Result<usize, NoReply> {
    let (pkt, ihl, src, dst) = ipv4_at_offset_zero(frame, meta)?;
    if pkt[9] != IpProtocol::TCP.0 {
        return Err(NoReply::NotTcp);
    }
    let th = pkt.get(ihl..ihl + 20).ok_or(NoReply::Truncated)?;
    let flags = th[13];
    if flags & 0x04 != 0 {
        return Err(NoReply::Rst);
    }
    if !payload_checksum_ok(pkt, ihl, IpProtocol::TCP.0) {
        return Err(NoReply::BadChecksum);
    }
    if broadcast_route(dst, ctx) {
        return Err(NoReply::Broadcast);
    }
    let l2_len = if ctx.vlan.is_some() {
        MAX_L2
    } else {
        ethernet::HEADER_LEN
    };
    let total = l2_len + 40;
    if out.len() < total {
        return Err(NoReply::BufferTooSmall);
    }
    let off = put_l2(out, ctx);
    put_ipv4(
        &mut out[off..],
        0,
        40,
        0,
        0x4000,
        ctx.ttl,
        IpProtocol::TCP.0,
        dst,
        src,
    );
    let seg_len = (pkt.len() as u32).wrapping_sub(ihl as u32);
    put_reset(
        &mut out[off + 20..total],
        th,
        seg_len,
        dst.into(),
        src.into(),
    );
    Ok(total)
}

/// `nf_reject_ip_tcphdr_put` / `nf_reject_ip6_tcphdr_put`: the 20-byte
/// reset answering the TCP header `th` of a segment `seg_len` bytes long
/// (header and data), from `src` to `dst`, into `tcp`.
pub(super) fn put_reset(
    tcp: &mut [u8],
    th: &[u8],
    seg_len: u32,
    src: std::net::IpAddr,
    dst: std::net::IpAddr,
) {
    let flags = th[13];
    let (seq, ack, rflags) = if flags & 0x10 != 0 {
        (be32(&th[8..12]), 0, 0x04)
    } else {
        let doff = u32::from(th[12] >> 4) * 4;
        let ack = be32(&th[4..8])
            .wrapping_add(u32::from(flags & 0x02 != 0))
            .wrapping_add(u32::from(flags & 0x01 != 0))
            .wrapping_add(seg_len.wrapping_sub(doff));
        (0, ack, 0x14)
    };
    tcp[0..2].copy_from_slice(&th[2..4]);
    tcp[2..4].copy_from_slice(&th[0..2]);
    tcp[4..8].copy_from_slice(&seq.to_be_bytes());
    tcp[8..12].copy_from_slice(&ack.to_be_bytes());
    tcp[12] = 0x50;
    tcp[13] = rflags;
    tcp[14..20].copy_from_slice(&[0; 6]);
    let c = checksum::transport(&src, &dst, IpProtocol::TCP.0, tcp);
    tcp[16..18].copy_from_slice(&c.to_be_bytes());
}

#[cfg(test)]
mod tests {
    use std::net::IpAddr;

    use super::*;
    use crate::rules::log::tests::{ip4, tcp as tcp_header, A, R};
    use crate::wire::{self, icmpv4, ipv4, tcp, L4Status};

    const ROUTER_MAC: MacAddr = MacAddr([0x02, 0, 0, 0, 0, 0xaa]);
    const HOST_MAC: MacAddr = MacAddr([0x02, 0, 0, 0, 0, 0xbb]);

    fn ctx() -> RejectContext {
        RejectContext {
            src_mac: ROUTER_MAC,
            dst_mac: HOST_MAC,
            icmp_src: Ipv4Addr::from(R),
            ip_id: 0xbeef,
            ..RejectContext::default()
        }
    }

    fn a() -> IpAddr {
        IpAddr::V4(Ipv4Addr::from(A))
    }

    fn r() -> IpAddr {
        IpAddr::V4(Ipv4Addr::from(R))
    }

    fn udp(sport: u16, dport: u16, data: &[u8]) -> Vec<u8> {
        let mut u = Vec::new();
        u.extend_from_slice(&sport.to_be_bytes());
        u.extend_from_slice(&dport.to_be_bytes());
        u.extend_from_slice(&(8 + data.len() as u16).to_be_bytes());
        u.extend_from_slice(&[0, 0]);
        u.extend_from_slice(data);
        let c = checksum::udp_wire(checksum::transport(&a(), &r(), 17, &u));
        u[6..8].copy_from_slice(&c.to_be_bytes());
        u
    }

    #[allow(clippy::too_many_arguments)]
    fn tcp_seg(
        sport: u16,
        dport: u16,
        seq: u32,
        ack: u32,
        flags: u8,
        opts: &[u8],
        data: &[u8],
    ) -> Vec<u8> {
        let mut t = tcp_header(sport, dport, seq, ack, flags, 64240, opts, data);
        let c = checksum::transport(&a(), &r(), 6, &t);
        t[16..18].copy_from_slice(&c.to_be_bytes());
        t
    }

    fn icmp_msg(ty: u8, code: u8, rest: [u8; 4], data: &[u8]) -> Vec<u8> {
        let mut m = vec![ty, code, 0, 0];
        m.extend_from_slice(&rest);
        m.extend_from_slice(data);
        let c = checksum::checksum(&m);
        m[2..4].copy_from_slice(&c.to_be_bytes());
        m
    }

    fn eth(ip: &[u8]) -> Vec<u8> {
        eth_to(ROUTER_MAC, ip)
    }

    fn eth_to(dst: MacAddr, ip: &[u8]) -> Vec<u8> {
        let mut f = Vec::new();
        f.extend_from_slice(dst.as_bytes());
        f.extend_from_slice(HOST_MAC.as_bytes());
        f.extend_from_slice(&[0x08, 0x00]);
        f.extend_from_slice(ip);
        f
    }

    fn answer(with: RejectWith, frame: &[u8]) -> Result<Vec<u8>, NoReply> {
        answer_ctx(with, frame, &ctx())
    }

    fn answer_ctx(with: RejectWith, frame: &[u8], c: &RejectContext) -> Result<Vec<u8>, NoReply> {
        let meta = wire::parse(frame).expect("test frame parses");
        let mut out = [0u8; MAX_REPLY_FRAME];
        let n = reject(with, frame, &meta, c, &mut out)?;
        Ok(out[..n].to_vec())
    }

    fn hex(s: &str) -> Vec<u8> {
        (0..s.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
            .collect()
    }

    /// Parses an answer with the wire module and checks every checksum.
    fn check_icmp(frame: &[u8]) -> (PacketMeta, Vec<u8>) {
        let meta = wire::parse(frame).expect("answer parses");
        assert_eq!(meta.l4, L4Status::Parsed);
        let ip = ipv4::Packet::new_checked(meta.l3(frame)).unwrap();
        assert!(ip.verify_checksum());
        let icmp = icmpv4::Packet::new_checked(ip.payload()).unwrap();
        assert!(icmp.verify_checksum());
        (meta, icmp.data().to_vec())
    }

    #[test]
    fn udp_port_unreachable_matches_the_kernel_byte_for_byte() {
        // The probe of the kernel check (Linux 6.18): a 628-byte UDP
        // datagram, TOS 0xFF, TTL 63, ID 0x1234, DF, to port 9.
        let mut data: Vec<u8> = (0..=255u8).chain(0..=255u8).collect();
        data.extend_from_slice(&[0; 88]);
        let orig = ip4(17, 0xff, 63, 0x1234, 0x4000, &[], &udp(40000, 9, &data));
        let f = eth(&orig);
        let out = answer(RejectWith::IcmpPortUnreachable, &f).unwrap();
        // The kernel's answer, from the kernel check (its IP ID 0xca33 and
        // hence the IP checksum differ: ours is the context's 0xbeef).
        let kernel = hex(concat!(
            "45de0240ca330000400198e30a6300020a630001",
            "0303143700000000",
        ));
        assert_eq!(out.len(), 14 + 576);
        assert_eq!(&out[0..6], HOST_MAC.as_bytes());
        assert_eq!(&out[6..12], ROUTER_MAC.as_bytes());
        assert_eq!(&out[12..14], &[0x08, 0x00]);
        // IP header: same bytes but the ID and header checksum.
        assert_eq!(&out[14..18], &kernel[0..4]);
        assert_eq!(&out[20..24], &kernel[6..10]);
        assert_eq!(&out[26..34], &kernel[12..20]);
        // ICMP: type 3 code 3, the checksum the kernel computed, and the
        // first 548 bytes of the original.
        assert_eq!(&out[34..42], &kernel[20..28]);
        assert_eq!(&out[42..], &orig[..548]);
        let (meta, quoted) = check_icmp(&out);
        assert_eq!((meta.icmp_type, meta.icmp_code), (3, 3));
        assert_eq!(meta.tos, 0xde);
        assert_eq!(meta.ttl, 64);
        assert!(!meta.dont_frag);
        assert_eq!(meta.ident, 0xbeef);
        assert_eq!(meta.src, r());
        assert_eq!(meta.dst, a());
        assert_eq!(quoted, orig[..548]);
    }

    #[test]
    fn every_icmp_code_and_short_quotes() {
        let orig = ip4(17, 0, 64, 0x9999, 0x4000, &[], &udp(40005, 9, b"hi"));
        let f = eth(&orig);
        for (with, code) in [
            (RejectWith::IcmpNetUnreachable, 0),
            (RejectWith::IcmpHostUnreachable, 1),
            (RejectWith::IcmpProtoUnreachable, 2),
            (RejectWith::IcmpPortUnreachable, 3),
            (RejectWith::IcmpNetProhibited, 9),
            (RejectWith::IcmpHostProhibited, 10),
            (RejectWith::IcmpAdminProhibited, 13),
        ] {
            let out = answer(with, &f).unwrap();
            let (meta, quoted) = check_icmp(&out);
            assert_eq!((meta.icmp_type, meta.icmp_code), (3, code));
            // The whole 30-byte datagram is quoted.
            assert_eq!(quoted, orig);
            assert_eq!(meta.ip_len, 20 + 8 + 30);
            assert_eq!(meta.tos, 0xc0);
        }
        // The kernel's answer to this probe, but for the ID and IP checksum.
        let kernel = hex(concat!(
            "45c0003ad1680000400193d20a6300020a630001",
            "030311e1000000004500001e9999400040118c6d0a6300010a6300029c450009000ae6596869",
        ));
        let out = answer(RejectWith::IcmpPortUnreachable, &f).unwrap();
        assert_eq!(out[14..14 + 4], kernel[..4]);
        assert_eq!(out[14 + 20..], kernel[20..]);
    }

    #[test]
    fn icmp_query_is_answered_icmp_error_is_not() {
        let ping = ip4(
            1,
            0,
            64,
            0x1234,
            0,
            &[],
            &icmp_msg(8, 0, [0x42, 0x42, 0, 7], b"hello"),
        );
        let out = answer(RejectWith::IcmpAdminProhibited, &eth(&ping)).unwrap();
        let (meta, quoted) = check_icmp(&out);
        assert_eq!((meta.icmp_type, meta.icmp_code), (3, 13));
        assert_eq!(quoted, ping);
        // Kernel bytes for the same probe (ICMP part).
        let kernel = hex(
            "030dfcf2000000004500002112340000400153e00a6300010a630002080071e44242000768656c6c6f",
        );
        assert_eq!(out[34..], kernel[..]);
        for ty in [0u8, 13, 14, 15, 16, 17, 18] {
            let m = ip4(1, 0, 64, 1, 0, &[], &icmp_msg(ty, 0, [0; 4], &[0; 12]));
            assert!(
                answer(RejectWith::IcmpPortUnreachable, &eth(&m)).is_ok(),
                "type {ty}"
            );
        }
        for ty in [1u8, 2, 3, 4, 5, 6, 7, 9, 10, 11, 12, 19, 40, 255] {
            let m = ip4(1, 0, 64, 1, 0, &[], &icmp_msg(ty, 0, [0; 4], &[0; 28]));
            assert_eq!(
                answer(RejectWith::IcmpPortUnreachable, &eth(&m)),
                Err(NoReply::IcmpError),
                "type {ty}"
            );
        }
    }

    #[test]
    fn checksums_are_checked_as_the_kernel_does() {
        // A bad UDP checksum: no answer; a zero (absent) one: answered.
        let mut u = udp(1, 9, b"abcd");
        u[6] ^= 0xff;
        let f = eth(&ip4(17, 0, 64, 1, 0, &[], &u));
        assert_eq!(
            answer(RejectWith::IcmpPortUnreachable, &f),
            Err(NoReply::BadChecksum)
        );
        u[6..8].copy_from_slice(&[0, 0]);
        let f = eth(&ip4(17, 0, 64, 1, 0, &[], &u));
        assert!(answer(RejectWith::IcmpPortUnreachable, &f).is_ok());
        // A UDP datagram whose header is cut short fails the check.
        let f = eth(&ip4(17, 0, 64, 1, 0, &[], &[0x9c, 0x4a, 0]));
        assert_eq!(
            answer(RejectWith::IcmpPortUnreachable, &f),
            Err(NoReply::BadChecksum)
        );
        // ICMP with a bad checksum.
        let mut m = icmp_msg(8, 0, [0; 4], b"x");
        m[2] ^= 1;
        let f = eth(&ip4(1, 0, 64, 1, 0, &[], &m));
        assert_eq!(
            answer(RejectWith::IcmpPortUnreachable, &f),
            Err(NoReply::BadChecksum)
        );
        // Unknown protocol 99: the payload must sum to zero...
        let f = eth(&ip4(99, 0, 64, 1, 0, &[], b"abcd"));
        assert_eq!(
            answer(RejectWith::IcmpProtoUnreachable, &f),
            Err(NoReply::BadChecksum)
        );
        let f = eth(&ip4(99, 0, 64, 1, 0, &[], &[0xff, 0xff]));
        assert!(answer(RejectWith::IcmpProtoUnreachable, &f).is_ok());
        // ... but GRE, ESP, AH, SCTP, UDP-Lite and DCCP are not checked.
        for p in [47u8, 50, 51, 132, 136, 33] {
            let f = eth(&ip4(p, 0, 64, 1, 0, &[], b"abcdefghijkl"));
            assert!(
                answer(RejectWith::IcmpProtoUnreachable, &f).is_ok(),
                "proto {p}"
            );
        }
    }

    #[test]
    fn no_answer_to_fragments_broadcasts_or_tiny_mtu() {
        // A non-first fragment: none; a first fragment (MF) is answered.
        let f = eth(&ip4(99, 0, 64, 1, 0x2001, &[], &[0xff, 0xff]));
        assert_eq!(
            answer(RejectWith::IcmpPortUnreachable, &f),
            Err(NoReply::Fragment)
        );
        let f = eth(&ip4(99, 0, 64, 1, 0x2000, &[], &[0xff, 0xff]));
        assert!(answer(RejectWith::IcmpPortUnreachable, &f).is_ok());
        // Layer-2 broadcast.
        let ip = ip4(99, 0, 64, 1, 0, &[], &[0xff, 0xff]);
        let f = eth_to(MacAddr::BROADCAST, &ip);
        assert_eq!(
            answer(RejectWith::IcmpPortUnreachable, &f),
            Err(NoReply::NotHost)
        );
        // A directed broadcast the route knows about.
        let c = RejectContext {
            route_broadcast: true,
            ..ctx()
        };
        assert_eq!(
            answer_ctx(RejectWith::IcmpPortUnreachable, &eth(&ip), &c),
            Err(NoReply::Broadcast)
        );
        // MTU 48 leaves 20 bytes: refused; 49 leaves 21: answered with 21.
        let big = ip4(17, 0, 64, 1, 0, &[], &udp(1, 9, &[7; 100]));
        let c = RejectContext { mtu: 48, ..ctx() };
        assert_eq!(
            answer_ctx(RejectWith::IcmpPortUnreachable, &eth(&big), &c),
            Err(NoReply::TinyMtu)
        );
        let c = RejectContext { mtu: 49, ..ctx() };
        let out = answer_ctx(RejectWith::IcmpPortUnreachable, &eth(&big), &c).unwrap();
        assert_eq!(out.len(), 14 + 49);
        // Buffer too small.
        let meta = wire::parse(&eth(&big)).unwrap();
        let mut small = [0u8; 60];
        assert_eq!(
            icmp_unreachable(3, &eth(&big), &meta, &ctx(), &mut small),
            Err(NoReply::BufferTooSmall)
        );
        assert_eq!(NoReply::BufferTooSmall.reason(), "buffer_too_small");
    }

    #[test]
    fn ip_options_are_quoted_not_echoed() {
        // Router alert: the kernel's answer quotes it and carries none.
        let orig = ip4(
            17,
            0,
            64,
            0x1234,
            0x4000,
            &[148, 4, 0, 0],
            &udp(40006, 9, b"o"),
        );
        let out = answer(RejectWith::IcmpPortUnreachable, &eth(&orig)).unwrap();
        let (meta, quoted) = check_icmp(&out);
        assert_eq!(meta.l4_off - meta.l3_off, 20);
        assert_eq!(quoted, orig);
    }

    #[test]
    fn vlan_tagged_answer() {
        let orig = ip4(17, 0, 64, 1, 0, &[], &udp(1, 9, b"v"));
        let c = RejectContext {
            vlan: Some(100),
            ..ctx()
        };
        let out = answer_ctx(RejectWith::IcmpPortUnreachable, &eth(&orig), &c).unwrap();
        let meta = wire::parse(&out).unwrap();
        assert_eq!(meta.vlan_count, 1);
        assert_eq!(meta.vlan_ids[0], 100);
        assert_eq!((meta.icmp_type, meta.icmp_code), (3, 3));
    }

    fn rst_of(seg: &[u8]) -> Result<Vec<u8>, NoReply> {
        answer(
            RejectWith::TcpReset,
            &eth(&ip4(6, 0x10, 64, 0x1234, 0x4000, &[], seg)),
        )
    }

    /// Parses a RST and checks the IP and TCP checksums; (seq, ack, flags).
    fn check_rst(out: &[u8]) -> (u32, u32, u8) {
        let meta = wire::parse(out).unwrap();
        let ip = ipv4::Packet::new_checked(meta.l3(out)).unwrap();
        assert!(ip.verify_checksum());
        assert_eq!(ip.tos(), 0);
        assert_eq!(ip.ident(), 0);
        assert!(ip.dont_frag());
        assert_eq!(ip.ttl(), 64);
        assert_eq!((meta.src, meta.dst), (r(), a()));
        let t = tcp::Packet::new_checked(ip.payload()).unwrap();
        assert!(t.verify_checksum(&meta.src, &meta.dst));
        assert_eq!(t.window_len(), 0);
        assert_eq!(t.header_len(), 20);
        (t.seq_number(), t.ack_number(), t.flags())
    }

    #[test]
    fn tcp_reset_for_a_syn_with_data_matches_the_kernel() {
        let seg = tcp_seg(
            40001,
            9,
            1000,
            0,
            0x02,
            &[2, 4, 5, 0xb4, 1, 1, 4, 2],
            b"0123456789",
        );
        let out = rst_of(&seg).unwrap();
        // The kernel's RST for this probe, byte for byte.
        let kernel = hex(concat!(
            "4500002800004000400626080a6300020a630001",
            "00099c4100000000000003f350140000faca0000",
        ));
        assert_eq!(out[14..], kernel[..]);
        assert_eq!(&out[..6], HOST_MAC.as_bytes());
        assert_eq!(check_rst(&out), (0, 1011, 0x14));
    }

    #[test]
    fn tcp_reset_seq_ack_cases() {
        // With ACK: seq = its ack, RST only (kernel bytes for this probe).
        let out = rst_of(&tcp_seg(40002, 9, 2000, 5555, 0x18, &[], b"abc")).unwrap();
        let kernel =
            hex("4500002800004000400626080a6300020a63000100099c42000015b30000000050040000e9190000");
        assert_eq!(out[14..], kernel[..]);
        assert_eq!(check_rst(&out), (5555, 0, 0x04));
        // FIN|ACK: seq = ack.
        let out = rst_of(&tcp_seg(40003, 9, 3000, 7777, 0x11, &[], b"")).unwrap();
        assert_eq!(check_rst(&out), (7777, 0, 0x04));
        // FIN without ACK: ack = seq + 1 + payload.
        let out = rst_of(&tcp_seg(40004, 9, 4000, 0, 0x01, &[], b"xy")).unwrap();
        let kernel =
            hex("4500002800004000400626080a6300020a63000100099c440000000000000fa350140000ef170000");
        assert_eq!(out[14..], kernel[..]);
        assert_eq!(check_rst(&out), (0, 4003, 0x14));
        // SYN|FIN wrapping the sequence space.
        let out = rst_of(&tcp_seg(1, 9, u32::MAX, 0, 0x03, &[], b"")).unwrap();
        assert_eq!(check_rst(&out), (0, 1, 0x14));
        // A bare segment without flags: ack = seq + payload.
        let out = rst_of(&tcp_seg(1, 9, 77, 0, 0x00, &[], b"12345")).unwrap();
        assert_eq!(check_rst(&out), (0, 82, 0x14));
    }

    #[test]
    fn no_reset_for_resets_fragments_bad_checksums_or_short_headers() {
        assert_eq!(
            rst_of(&tcp_seg(1, 9, 1, 2, 0x04, &[], b"")),
            Err(NoReply::Rst)
        );
        assert_eq!(
            rst_of(&tcp_seg(1, 9, 1, 2, 0x14, &[], b"")),
            Err(NoReply::Rst)
        );
        let mut bad = tcp_seg(1, 9, 1, 0, 0x02, &[], b"");
        bad[16] ^= 0x55;
        assert_eq!(rst_of(&bad), Err(NoReply::BadChecksum));
        assert_eq!(rst_of(&[0x9c, 0x4a, 0, 9, 0, 0]), Err(NoReply::Truncated));
        let frag = eth(&ip4(
            6,
            0,
            64,
            1,
            0x0001,
            &[],
            &tcp_seg(1, 9, 1, 0, 2, &[], b""),
        ));
        assert_eq!(answer(RejectWith::TcpReset, &frag), Err(NoReply::Fragment));
        let u = eth(&ip4(17, 0, 64, 1, 0, &[], &udp(1, 9, b"")));
        assert_eq!(answer(RejectWith::TcpReset, &u), Err(NoReply::NotTcp));
        // A multicast destination: no reset (layer 2 is not checked for RST).
        let mut ip = ip4(6, 0, 64, 1, 0, &[], &[]);
        ip[16..20].copy_from_slice(&[224, 0, 0, 1]);
        let mut t = tcp_seg(1, 9, 1, 0, 2, &[], b"");
        let dst = IpAddr::V4(Ipv4Addr::new(224, 0, 0, 1));
        t[16..18].copy_from_slice(&[0, 0]);
        let c = checksum::transport(&a(), &dst, 6, &t);
        t[16..18].copy_from_slice(&c.to_be_bytes());
        let total = (20 + t.len()) as u16;
        ip[2..4].copy_from_slice(&total.to_be_bytes());
        ip[10..12].copy_from_slice(&[0, 0]);
        let c = checksum::checksum(&ip[..20]);
        ip[10..12].copy_from_slice(&c.to_be_bytes());
        ip.extend_from_slice(&t);
        assert_eq!(
            answer(RejectWith::TcpReset, &eth(&ip)),
            Err(NoReply::Broadcast)
        );
    }

    #[test]
    fn icmp_source_rule() {
        let f = eth(&ip4(17, 0, 64, 1, 0, &[], &udp(1, 9, b"")));
        let meta = wire::parse(&f).unwrap();
        assert_eq!(icmp_source(&meta, true, None), Ipv4Addr::from(R));
        let via = Ipv4Addr::new(192, 0, 2, 1);
        assert_eq!(icmp_source(&meta, false, Some(via)), via);
        assert_eq!(icmp_source(&meta, false, None), INADDR_DUMMY);
        assert_eq!(
            icmp_source(&meta, false, Some(Ipv4Addr::UNSPECIFIED)),
            INADDR_DUMMY
        );
    }

    #[test]
    fn not_ipv4_is_refused() {
        let mut arp = vec![0xff; 6];
        arp.extend_from_slice(HOST_MAC.as_bytes());
        arp.extend_from_slice(&[0x08, 0x06, 0, 1, 8, 0, 6, 4, 0, 1]);
        arp.extend_from_slice(HOST_MAC.as_bytes());
        arp.extend_from_slice(&A);
        arp.extend_from_slice(&[0; 6]);
        arp.extend_from_slice(&R);
        let meta = wire::parse(&arp).unwrap();
        let mut out = [0u8; 128];
        for with in [RejectWith::TcpReset, RejectWith::IcmpPortUnreachable] {
            assert_eq!(
                reject(with, &arp, &meta, &ctx(), &mut out),
                Err(NoReply::NotIpv4)
            );
        }
    }
}
