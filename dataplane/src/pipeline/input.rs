//! `load`: the link layer, parsing, ARP, and the checks the kernel makes
//! before PREROUTING (`eth_type_trans`, `ip_rcv_core`, `ipv6_rcv`, `arp_rcv`).

use super::*;

// ---------------------------------------------------------------------------
// load: link layer, parse, ARP, pre-PREROUTING address checks.

impl Core {
    pub(super) fn load(
        &mut self,
        snap: &Snapshot,
        umem: &mut Umem,
        b: &mut BatchBuf,
        iif: PortId,
        frames: &[Desc],
        now: Instant,
    ) {
        self.out
            .counters
            .add(Counter::RxFrames, frames.len() as u64);
        let Some(&port_mac) = self.macs.get(iif.index()) else {
            for &d in frames {
                self.out.counters.inc(Counter::L2OtherHost);
                umem.free(d);
            }
            return;
        };
        b.clear();
        for &d in frames {
            // Parse straight into the next slot; a frame that does not
            // stay leaves the slot to the next one.
            let i = b.len;
            let slot = &mut b.pkts[i];
            match self.classify(snap, umem, d, iif, port_mac, &mut slot.meta, now) {
                Ok(Some(l2)) => {
                    slot.desc = d;
                    slot.mark = 0;
                    slot.ct = CtState::None;
                    slot.verdict = Verdict::Accept;
                    slot.iif = Some(iif);
                    slot.oif = None;
                    slot.dest = Dest::None;
                    slot.l2 = l2;
                    slot.fixed_oif = false;
                    slot.hop = 0;
                    b.len += 1;
                    b.live |= 1u64 << i;
                }
                Ok(None) => {}
                Err(reason) => {
                    self.out.counters.inc(reason);
                    umem.free(d);
                }
            }
        }
    }

    /// Parses one frame into `meta` and makes the checks the kernel makes
    /// before PREROUTING. ARP is handled here entirely (`Ok(None)`).
    #[inline]
    #[allow(clippy::too_many_arguments)] // one frame's context, per packet, inlined
    pub(super) fn classify(
        &mut self,
        snap: &Snapshot,
        umem: &mut Umem,
        d: Desc,
        iif: PortId,
        port_mac: MacAddr,
        meta: &mut PacketMeta,
        now: Instant,
    ) -> Result<Option<L2Class>, Counter> {
        let frame = umem.bytes(d);
        wire::parse_into(frame, meta).map_err(parse_error)?;
        let dst_mac = MacAddr::from_bytes(frame);
        let l2 = if dst_mac == port_mac {
            L2Class::Host
        } else if dst_mac.is_broadcast() {
            L2Class::Broadcast
        } else if dst_mac.is_multicast() {
            L2Class::Multicast
        } else {
            return Err(Counter::L2OtherHost);
        };
        // No VLAN sub-interfaces: a tagged frame is for a VLAN device that
        // does not exist (vlan_do_receive marks it PACKET_OTHERHOST); a
        // priority tag (VID 0) is no VLAN and is handled as untagged.
        if meta.vlan_count != 0
            && meta.vlan_ids[..meta.vlan_count as usize]
                .iter()
                .any(|&v| v != 0)
        {
            return Err(Counter::L2Vlan);
        }
        match meta.ip_version {
            0 => {
                self.arp_input(snap, umem, d, meta, iif, l2, now);
                Ok(None)
            }
            6 => {
                check_ipv6_addresses(meta)?;
                Ok(Some(l2))
            }
            _ if meta.dst_port == local::dhcp::CLIENT_PORT => {
                self.dhcp_input(snap, umem, d, iif, meta, l2)
            }
            _ => Ok(Some(l2)),
        }
    }

    /// A DHCP server's answer on a DHCP port goes to the client
    /// ([`local::dhcp`]) before any hook; anything else to port 68 goes on.
    #[inline]
    fn dhcp_input(
        &mut self,
        snap: &Snapshot,
        umem: &mut Umem,
        d: Desc,
        iif: PortId,
        meta: &PacketMeta,
        l2: L2Class,
    ) -> Result<Option<L2Class>, Counter> {
        let Some(link) = &self.dhcp else {
            return Ok(Some(l2));
        };
        if meta.protocol != wire::IpProtocol::UDP
            || meta.l4 != wire::L4Status::Parsed
            || meta.src_port != local::dhcp::SERVER_PORT
            || meta.frag_offset != 0
            || meta.more_frags
            || !snap.net.port(iif).is_some_and(|p| p.dhcp)
        {
            return Ok(Some(l2));
        }
        if link.received(iif, umem.bytes(d)) {
            self.out.counters.inc(Counter::LocalDhcpRx);
            umem.free(d);
            Ok(None)
        } else {
            Err(Counter::LocalDhcpFull)
        }
    }

    #[allow(clippy::too_many_arguments)] // one frame's context
    pub(super) fn arp_input(
        &mut self,
        snap: &Snapshot,
        umem: &mut Umem,
        mut d: Desc,
        meta: &PacketMeta,
        iif: PortId,
        l2: L2Class,
        now: Instant,
    ) {
        let port_mac = self.macs[iif.index()];
        let outcome = local::arp::process(
            umem.bytes_mut(d),
            meta,
            &snap.net,
            iif,
            port_mac,
            l2 == L2Class::Host,
        );
        let (out, macs) = (&mut self.out, &self.macs);
        let mut learn = |n: &mut NeighTable<NeighFrame>, ip, mac: MacAddr, kind| {
            n.arp_input(iif, IpAddr::V4(ip), mac.0, kind, now, &mut |a| {
                out.on_neigh(umem, snap, macs, a, now)
            });
        };
        match outcome {
            local::arp::Outcome::Invalid => {
                self.out.counters.inc(Counter::ArpInvalid);
                umem.free(d);
            }
            local::arp::Outcome::Consumed(l) => {
                if let Some((ip, mac, kind)) = l {
                    learn(&mut self.st.neigh, ip, mac, kind);
                }
                self.out.counters.inc(Counter::ArpConsumed);
                umem.free(d);
            }
            local::arp::Outcome::Reply { dst_mac, learn: l } => {
                if let Some((ip, mac, kind)) = l {
                    learn(&mut self.st.neigh, ip, mac, kind);
                }
                // The reply was written at the ARP header's place; put an
                // Ethernet header in front and send it back.
                let l3 = meta.l3_off as usize;
                if l2_prepare(
                    umem,
                    &mut d,
                    l3,
                    wire::arp::PACKET_LEN,
                    EtherType::ARP,
                    port_mac,
                    dst_mac.0,
                ) {
                    self.out.counters.inc(Counter::ArpReplySent);
                    self.out.tx_push(umem, iif, d);
                } else {
                    self.out.counters.inc(Counter::ArpInvalid);
                    umem.free(d);
                }
            }
        }
    }
}

/// `ip6_rcv_core`'s address checks (RFC 4291 §2.5.3, §2.7): no loopback
/// source or destination from a wire, no interface-local or
/// reserved-scope multicast destination, no multicast source.
pub(super) fn check_ipv6_addresses(meta: &PacketMeta) -> Result<(), Counter> {
    let (IpAddr::V6(s), IpAddr::V6(d)) = (meta.src, meta.dst) else {
        return Ok(());
    };
    if s.is_loopback() || s.is_multicast() {
        return Err(Counter::InputMartianSource);
    }
    if d.is_loopback() {
        return Err(Counter::InputMartianDest);
    }
    if d.is_multicast() && matches!(d.segments()[0] & 0x000f, 0 | 1) {
        return Err(Counter::InputMartianDest);
    }
    Ok(())
}

/// The drop reason of a parse error.
pub(super) fn parse_error(e: wire::Error) -> Counter {
    match e {
        wire::Error::Truncated => Counter::ParseTruncated,
        wire::Error::Malformed(_) => Counter::ParseMalformed,
        wire::Error::Unsupported(_) => Counter::ParseUnsupported,
        wire::Error::Checksum => Counter::ParseChecksum,
    }
}
