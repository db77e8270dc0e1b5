//! Delivery to the box itself: what the kernel's `ip_local_deliver_finish`
//! / `ip6_input_finish` would hand to its protocols, and ARP.
//!
//! Owns: ICMP and ICMPv6 echo (RFC 792, RFC 4443 §4: answered from the
//! address that was pinged), ARP (RFC 826, `arp_process`: requests for our
//! addresses answered, senders learnt), neighbour discovery (RFC 4861,
//! `ndisc_recv_ns` / `ndisc_recv_na`: solicitations for our addresses on
//! the port answered, advertisements learnt), the solicitations and ARP
//! requests the neighbour table asks for, and the bounded [`PuntQueue`] of
//! everything else addressed to the box, which the worker drains into the
//! port's TAP device ([`crate::io::tap`]) so the host stack (SSH, DHCP,
//! routing daemons) sees it; what the host answers comes back through the
//! OUTPUT path (`Pipeline::rx_host`).
//!
//! Replies are written into the request's own frame (no copy of the
//! payload); the pipeline then sends them through OUTPUT and POSTROUTING
//! (ARP excepted: the kernel's ARP never meets an IP hook). This module
//! decides and writes bytes; learning into the neighbour table and queueing
//! are the pipeline's.
//!
//! Differences from the kernel: echo replies carry the IP options the
//! pipeline echoes for them (record route, timestamp, CIPSO; not a
//! reversed source route); fragmented
//! packets to the box are punted whole to the host stack, which reassembles
//! them, rather than reassembled here; the box has no link-local IPv6
//! addresses (the configuration gives none), so neighbour solicitations
//! come from a global address of the port.

pub mod arp;
pub mod dhcp;
pub mod nd;
pub mod punt;

use std::net::IpAddr;

pub use punt::{PuntQueue, Punted};

use crate::io::PortId;
use crate::io::{Desc, Umem};
use crate::net::Net;
use crate::packet::Counter;
use crate::wire::{self, icmpv4, icmpv6, EtherType, IpProtocol, L4Status, MacAddr, PacketMeta};

/// What local delivery did with a packet.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Delivery {
    /// For the host stack.
    Punt,
    /// Dropped for this reason.
    Drop(Counter),
    /// The frame now holds a reply (Ethernet header space, then IP) to send
    /// through the output path; `info` counts it.
    Reply {
        desc: Desc,
        info: Counter,
        fixed: bool,
    },
    /// A neighbour solicitation, answered in place by an advertisement to
    /// send out of the ingress port. Learn `learn` first; with
    /// `needs_entry`, answer only if the sender is already a neighbour.
    Solicited {
        desc: Desc,
        learn: Option<(std::net::Ipv6Addr, MacAddr)>,
        needs_entry: bool,
    },
    /// A neighbour advertisement to learn from; the frame is done with.
    Advert {
        target: std::net::Ipv6Addr,
        mac: Option<MacAddr>,
        solicited: bool,
        override_flag: bool,
    },
}

/// How an IPv4 reply is made: the identification it takes and the IP
/// options it carries (a multiple of 4 bytes, at most the request's:
/// `ip_options_echo` of the request's, which the pipeline computes).
#[derive(Debug, Clone, Copy)]
pub struct ReplyV4<'a> {
    pub ident: u16,
    pub options: &'a [u8],
}

/// Delivers a packet that passed INPUT, received on `iif` (whose MAC is
/// `mac`); `to_group` says it was sent to a broadcast or multicast address.
/// `reply` says how an IPv4 reply is made.
#[allow(clippy::too_many_arguments)]
pub fn deliver(
    umem: &mut Umem,
    d: Desc,
    meta: &PacketMeta,
    net: &Net,
    iif: PortId,
    mac: MacAddr,
    to_group: bool,
    reply: ReplyV4<'_>,
) -> Delivery {
    if meta.is_fragment() || meta.l4 != L4Status::Parsed {
        return Delivery::Punt;
    }
    match (meta.ip_version, meta.protocol) {
        (4, IpProtocol::ICMP) if meta.icmp_type == icmpv4::types::ECHO_REQUEST => {
            echo_v4(umem, d, meta, to_group, reply)
        }
        (6, IpProtocol::ICMPV6) => match meta.icmp_type {
            icmpv6::types::ECHO_REQUEST => echo_v6(umem, d, meta, net, iif),
            icmpv6::types::NEIGHBOR_SOLICIT | icmpv6::types::NEIGHBOR_ADVERT => {
                nd::input(umem, d, meta, net, iif, mac)
            }
            _ => Delivery::Punt,
        },
        _ => Delivery::Punt,
    }
}

/// The IP packet's end in the frame.
fn ip_end(meta: &PacketMeta, frame_len: usize) -> usize {
    (meta.l3_off as usize + meta.ip_len as usize).min(frame_len)
}

/// `icmp_echo` → `icmp_reply`: the reply goes from the address pinged to
/// the sender, with the request's TOS, TTL 64, no DF, the request's code,
/// identifier, sequence and data, and `reply`'s options.
fn echo_v4(
    umem: &mut Umem,
    mut d: Desc,
    meta: &PacketMeta,
    to_group: bool,
    reply: ReplyV4<'_>,
) -> Delivery {
    if to_group {
        // icmp_echo_ignore_broadcasts = 1.
        return Delivery::Drop(Counter::LocalEchoBroadcast);
    }
    let (IpAddr::V4(src), IpAddr::V4(dst)) = (meta.src, meta.dst) else {
        return Delivery::Punt;
    };
    let l4 = meta.l4_off as usize;
    let end = ip_end(meta, d.len as usize);
    let frame = umem.bytes_mut(d);
    let mut m = icmpv4::Packet::new_unchecked(&mut frame[l4..end]);
    if !m.verify_checksum() {
        return Delivery::Drop(Counter::LocalIcmpChecksum);
    }
    m.set_msg_type(icmpv4::types::ECHO_REPLY);
    m.fill_checksum();
    let icmp_len = end - l4;
    // The header right before the message, with the echoed options
    // (never longer than the request's).
    let opts = reply.options;
    let hlen = wire::ipv4::HEADER_LEN + opts.len();
    if l4 < meta.l3_off as usize + hlen || !opts.len().is_multiple_of(4) {
        return Delivery::Drop(Counter::ParseMalformed);
    }
    let l3 = l4 - hlen;
    let repr = wire::ipv4::Repr {
        src_addr: dst,
        dst_addr: src,
        protocol: IpProtocol::ICMP,
        tos: meta.tos,
        ident: reply.ident,
        dont_frag: false,
        ttl: 64,
        payload_len: icmp_len,
    };
    repr.emit_with_options(
        &mut wire::ipv4::Packet::new_unchecked(&mut frame[l3..end]),
        opts,
    );
    finish_reply(
        umem,
        &mut d,
        l3,
        end,
        EtherType::IPV4,
        Counter::LocalEchoReply,
    )
}

/// `icmpv6_echo_reply`: from the address pinged (a source chosen for the
/// sender when that was a multicast or anycast address), hop limit 64,
/// the request's traffic class, flow label 0.
fn echo_v6(umem: &mut Umem, mut d: Desc, meta: &PacketMeta, net: &Net, iif: PortId) -> Delivery {
    let (IpAddr::V6(src), IpAddr::V6(dst)) = (meta.src, meta.dst) else {
        return Delivery::Punt;
    };
    let l4 = meta.l4_off as usize;
    let end = ip_end(meta, d.len as usize);
    {
        let m = icmpv6::Packet::new_unchecked(&umem.bytes(d)[l4..end]);
        if !m.verify_checksum(&meta.src, &meta.dst) {
            return Delivery::Drop(Counter::LocalIcmpChecksum);
        }
    }
    let from = if net.is_own(meta.dst) {
        dst
    } else {
        match net.source_for(iif, IpAddr::V6(src)) {
            Some(IpAddr::V6(a)) => a,
            _ => return Delivery::Drop(Counter::OutputNoRoute),
        }
    };
    let frame = umem.bytes_mut(d);
    let l3 = l4 - wire::ipv6::HEADER_LEN;
    let icmp_len = end - l4;
    let mut m = icmpv6::Packet::new_unchecked(&mut frame[l4..end]);
    m.set_msg_type(icmpv6::types::ECHO_REPLY);
    m.fill_checksum(&IpAddr::V6(from), &IpAddr::V6(src));
    let repr = wire::ipv6::Repr {
        src_addr: from,
        dst_addr: src,
        next_header: IpProtocol::ICMPV6,
        traffic_class: meta.tos,
        flow_label: 0,
        hop_limit: 64,
        payload_len: icmp_len as u16,
    };
    repr.emit(&mut wire::ipv6::Packet::new_unchecked(&mut frame[l3..end]));
    finish_reply(
        umem,
        &mut d,
        l3,
        end,
        EtherType::IPV6,
        Counter::LocalEchoReply,
    )
}

/// Makes `d` the frame of a reply whose IP header starts at `l3` and ends
/// at `end`: Ethernet header space in front (addresses zero, filled on
/// output), everything else cut.
fn finish_reply(
    umem: &mut Umem,
    d: &mut Desc,
    l3: usize,
    end: usize,
    ethertype: EtherType,
    info: Counter,
) -> Delivery {
    let start = l3 - wire::ethernet::HEADER_LEN;
    let frame = umem.bytes_mut(*d);
    crate::wire::ethernet::write_placeholder(&mut frame[start..], ethertype);
    if !umem.adjust_head(d, start as isize) {
        return Delivery::Drop(Counter::OutputTooBig);
    }
    d.len = (end - start) as u32;
    Delivery::Reply {
        desc: *d,
        info,
        fixed: false,
    }
}
