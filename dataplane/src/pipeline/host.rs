//! `host_output`: frames the host kernel wrote into the TAP of a port
//! ([`crate::io::tap`]) join the output pass of the packets the box
//! generates: they are the host's locally generated packets, and the
//! kernel would run them through `ip_route_output_key` (the host already
//! chose the source), OUTPUT, POSTROUTING and `neigh_output` — which is
//! exactly the second pass ([`Core::drain_output`]), so there is one piece
//! of code for both.
//!
//! What the host may write on a NOARP TAP, and what happens to it:
//!
//! | frame | here |
//! |---|---|
//! | IPv4 / IPv6, any destination MAC (the host uses the TAP's own) | parsed; the output pass: routed by sluice's tables and policy rules with the packet's source, destination and mark 0; TTL / hop limit untouched |
//! | to 255.255.255.255 or a multicast group | out of the TAP's port (the host picked it, as `SO_BINDTODEVICE` / `IP_PKTINFO` would): a DHCP server's broadcast reply |
//! | to one of the box's own addresses | dropped (`output.local`): the host owns those addresses and never sends them into the TAP |
//! | ARP, neighbour / router discovery, redirects, MLD, other ethertypes | dropped (`local.host_l2`): the dataplane is the box's link layer |
//! | a bad IP header, truncated | dropped (`parse.*`) |
//!
//! Several workers: each has its own queue of each TAP, and the host's
//! frames are tracked by the worker that read them, never handed off. A
//! flow that starts outside (the host answers) stays with its owner, as
//! the tun driver sends the answer to the queue that wrote the request.
//! A flow the host starts lands on a queue by the tun driver's hash, not
//! sluice's owner: without NAT its replies from the wire may reach a
//! worker that does not know it (with MASQUERADE/SNAT the translated
//! port names the right worker). Not covered yet.

use super::*;
use crate::wire::{icmpv6, IpProtocol};

/// A handoff hop count past the owner search ([`crate::conntrack`]): the
/// packet is tracked where it is.
const NO_HANDOFF: u8 = 2;

/// ICMPv6 types that are link-layer business (RFC 4861 router and
/// neighbour discovery and redirect, RFC 2710 / RFC 3810 MLD).
fn link_layer_icmpv6(t: u8) -> bool {
    matches!(t, 130..=137 | 143)
        || t == icmpv6::types::NEIGHBOR_SOLICIT
        || t == icmpv6::types::NEIGHBOR_ADVERT
}

impl Core {
    /// Takes one frame the host wrote into the TAP of `tap_port` into the
    /// output queue (the caller drains it); counts `local.host_rx`.
    pub(super) fn host_frame(&mut self, umem: &mut Umem, tap_port: PortId, d: Desc) {
        self.out.counters.inc(Counter::LocalHostRx);
        if tap_port.index() >= self.macs.len() {
            self.out.counters.inc(Counter::PipelineNoPort);
            umem.free(d);
            return;
        }
        let meta = match wire::parse(umem.bytes(d)) {
            Ok(m) => m,
            Err(e) => {
                self.out.counters.inc(match e {
                    wire::Error::Unsupported(_) => Counter::LocalHostL2,
                    wire::Error::Truncated => Counter::ParseTruncated,
                    wire::Error::Malformed(_) => Counter::ParseMalformed,
                    wire::Error::Checksum => Counter::ParseChecksum,
                });
                umem.free(d);
                return;
            }
        };
        let l2_only = !meta.is_ip()
            || (meta.ip_version == 6
                && meta.protocol == IpProtocol::ICMPV6
                && link_layer_icmpv6(meta.icmp_type));
        if l2_only {
            self.out.counters.inc(Counter::LocalHostL2);
            umem.free(d);
            return;
        }
        let mut g = Pkt::generated(d, meta);
        // No cross-worker handoff at the OUTPUT conntrack point: the
        // handoff path runs packets from PREROUTING, as received ones.
        // The flow is tracked by the worker whose TAP queue the host
        // chose (the tun driver steers a reply to the queue that wrote
        // its request, so a flow from outside stays with its owner; see
        // the module docs for what several workers do not cover yet).
        g.hop = NO_HANDOFF;
        let group = match meta.dst {
            IpAddr::V4(a) if a.is_broadcast() => Some(Dest::Broadcast),
            IpAddr::V4(a) if a.is_multicast() => Some(Dest::Forward),
            IpAddr::V6(a) if a.is_multicast() => Some(Dest::Forward),
            _ => None,
        };
        if let Some(dest) = group {
            g.fixed_oif = true;
            g.dest = dest;
            g.oif = Some(tap_port);
            g.next_hop = meta.dst;
        }
        self.out.push_generated(umem, g);
    }
}
