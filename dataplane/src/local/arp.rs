//! ARP (RFC 826) as the kernel's `arp_process` does it with the default
//! sysctls (`arp_ignore` 0, `arp_filter` 0, `arp_accept` 0, no proxy ARP):
//!
//! * a request whose target routes as local (any of the box's addresses,
//!   the weak host model) from a sender that passes the input martian
//!   checks is answered out of the ingress port, and the sender is learnt
//!   (STALE, `neigh_event_ns`);
//! * a duplicate address probe (sender 0.0.0.0) for one of our addresses
//!   is answered, nothing is learnt;
//! * every other request or reply only refreshes a neighbour that already
//!   exists: REACHABLE for a reply unicast to us, STALE otherwise.
//!
//! Requests for multicast or loopback targets are invalid.

use std::net::{IpAddr, Ipv4Addr};

use crate::io::PortId;
use crate::io::{Desc, Umem};
use crate::net::Net;
use crate::route::neigh::ArpInput;
use crate::route::{FlowKey, RouteResult};
use crate::wire::{self, arp, ArpRepr, EtherType, MacAddr, PacketMeta};

/// What to do with an ARP packet.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// Malformed or not for IPv4 over Ethernet.
    Invalid,
    /// Nothing to send; learn from the sender if set.
    Consumed(Option<(Ipv4Addr, MacAddr, ArpInput)>),
    /// The packet was rewritten in place into the reply (at the ARP
    /// header's offset); send it to `dst_mac`, after learning `learn`.
    Reply {
        dst_mac: MacAddr,
        learn: Option<(Ipv4Addr, MacAddr, ArpInput)>,
    },
}

/// Processes the ARP packet in `frame` received on `iif` (MAC `port_mac`);
/// `to_us` says it was link-layer unicast to that MAC.
pub fn process(
    frame: &mut [u8],
    meta: &PacketMeta,
    net: &Net,
    iif: PortId,
    port_mac: MacAddr,
    to_us: bool,
) -> Outcome {
    let l3 = meta.l3_off as usize;
    let Some(body) = frame.get_mut(l3..) else {
        return Outcome::Invalid;
    };
    let Ok(pkt) = arp::Packet::new_checked(&*body) else {
        return Outcome::Invalid;
    };
    let Ok(req) = ArpRepr::parse(&pkt) else {
        return Outcome::Invalid;
    };
    let (sip, tip, sha) = (
        req.sender_protocol_addr,
        req.target_protocol_addr,
        req.sender_hardware_addr,
    );
    let op = req.operation;
    if !matches!(op, arp::Operation::Request | arp::Operation::Reply) {
        return Outcome::Invalid;
    }
    if tip.is_multicast() || tip.is_loopback() {
        return Outcome::Invalid;
    }
    let reply = |body: &mut [u8]| {
        req.reply(port_mac).emit(&mut arp::Packet::new_unchecked(
            &mut body[..arp::PACKET_LEN],
        ));
    };
    if sip.is_unspecified() {
        // Duplicate address detection (RFC 5227): answer, learn nothing.
        if op == arp::Operation::Request && net.is_own_v4(tip) {
            reply(body);
            return Outcome::Reply {
                dst_mac: sha,
                learn: None,
            };
        }
        return Outcome::Consumed(None);
    }
    if op == arp::Operation::Request && for_us(net, sip, tip, iif) {
        reply(body);
        return Outcome::Reply {
            dst_mac: sha,
            learn: Some((sip, sha, ArpInput::RequestToUs)),
        };
    }
    let kind = if op == arp::Operation::Reply && to_us {
        ArpInput::Reply
    } else {
        ArpInput::Other {
            gratuitous: sip == tip,
        }
    };
    Outcome::Consumed(Some((sip, sha, kind)))
}

/// `ip_route_input_noref(skb, tip, sip, 0, dev)` is `RTN_LOCAL`: the
/// martian checks on the sender, the policy lookup, and a sender that is
/// not one of our own addresses.
fn for_us(net: &Net, sip: Ipv4Addr, tip: Ipv4Addr, iif: PortId) -> bool {
    if sip.is_multicast() || sip.is_broadcast() || sip.is_loopback() || sip.octets()[0] == 0 {
        return false;
    }
    if tip.octets()[0] == 0 {
        return false;
    }
    let key = FlowKey::forward(IpAddr::V4(sip), IpAddr::V4(tip), iif);
    net.router.lookup(&key) == RouteResult::Local && !net.is_own_v4(sip)
}

/// Builds an ARP request for `target` out of `port` (MAC `mac`): broadcast,
/// or unicast to `unicast` (a probe of a known neighbour). The sender
/// address is the port's address on the target's network
/// (`inet_select_addr`; the kernel prefers the source of the packet that
/// waits, with `arp_announce` 0, which is usually the same). `None` when no
/// frame is free.
pub fn request(
    umem: &mut Umem,
    net: &Net,
    port: PortId,
    mac: MacAddr,
    target: Ipv4Addr,
    unicast: Option<MacAddr>,
) -> Option<Desc> {
    let spa = net
        .port(port)
        .and_then(|p| p.source_v4(target))
        .unwrap_or(Ipv4Addr::UNSPECIFIED);
    let mut d = umem.alloc()?;
    let len = wire::ethernet::HEADER_LEN + arp::PACKET_LEN;
    if !umem.set_len(&mut d, len) {
        umem.free(d);
        return None;
    }
    let buf = umem.bytes_mut(d);
    wire::ethernet::Repr {
        src_addr: mac,
        dst_addr: unicast.unwrap_or(MacAddr::BROADCAST),
        ethertype: EtherType::ARP,
    }
    .emit(&mut wire::ethernet::Packet::new_unchecked(&mut buf[..]));
    ArpRepr {
        operation: arp::Operation::Request,
        sender_hardware_addr: mac,
        sender_protocol_addr: spa,
        target_hardware_addr: MacAddr::ZERO,
        target_protocol_addr: target,
    }
    .emit(&mut arp::Packet::new_unchecked(
        &mut buf[wire::ethernet::HEADER_LEN..],
    ));
    Some(d)
}
