//! `forward`: `ip_forward` / `ip6_forward` up to the FORWARD hook (TTL and
//! hop limit, MTU, the TTL decrement).

use super::*;

// ---------------------------------------------------------------------------
// forward: ip_forward / ip6_forward up to the FORWARD hook.

impl Core {
    pub(super) fn forward(
        &mut self,
        snap: &Snapshot,
        umem: &mut Umem,
        b: &mut BatchBuf,
        now: Instant,
    ) {
        for i in Bits(b.live & b.forward) {
            let Some(oif) = b.pkts[i].oif else {
                b.finish(i, Verdict::Drop(Counter::PipelineNoPort));
                continue;
            };
            let p = &b.pkts[i];
            let mtu = snap.net.port(oif).map_or(0, |c| c.mtu as usize);
            let v6 = p.meta.ip_version == 6;
            let ip_len = p.meta.ip_len as usize;
            let fail = if !(if v6 { snap.forward_v6 } else { snap.forward_v4 }) {
                Some((Counter::ForwardDisabled, None))
            } else if p.l2 != L2Class::Host {
                Some((Counter::ForwardNotHost, None))
            } else if p.meta.ttl <= 1 {
                Some((Counter::ForwardTtlExceeded, Some(ErrorKind::TimeExceeded)))
            } else if v6 {
                // "This check is security critical": never forward from a
                // link-local, loopback or multicast source; sluice also
                // does not forward to a link-local destination.
                let (IpAddr::V6(s), IpAddr::V6(d)) = (p.meta.src, p.meta.dst) else {
                    // The parser never mixes families; a stage that did is
                    // a counted drop, not a panic.
                    b.finish(i, Verdict::Drop(Counter::ParseMalformed));
                    continue;
                };
                let mtu = mtu.max(1280);
                if is_link_local(s) || s.is_loopback() || s.is_multicast() || is_link_local(d) {
                    Some((Counter::ForwardLinkLocal, None))
                } else if ip_len > mtu && !self.defrag_fits(umem, p.desc, mtu) {
                    Some((
                        Counter::ForwardTooBig,
                        Some(ErrorKind::PacketTooBig(mtu as u32)),
                    ))
                } else {
                    None
                }
            } else if ip_len > mtu && p.meta.dont_frag {
                Some((
                    Counter::ForwardFragNeeded,
                    Some(ErrorKind::FragNeeded(mtu as u16)),
                ))
            } else {
                None
            };
            if let Some((reason, error)) = fail {
                if let Some(kind) = error {
                    self.out.icmp_error(umem, snap, &b.pkts[i], kind, now);
                }
                b.finish(i, Verdict::Drop(reason));
                continue;
            }
            // The TTL decrement, after the checks (ip_decrease_ttl).
            let l3 = p.meta.l3_off as usize;
            let frame = umem.bytes_mut(p.desc);
            let ttl = if v6 {
                wire::ipv6::Packet::new_unchecked(&mut frame[l3..]).decrement_hop_limit()
            } else {
                wire::ipv4::Packet::new_unchecked(&mut frame[l3..]).decrement_ttl()
            };
            b.pkts[i].meta.ttl = ttl;
            if self.opt_fill.pending & (1u64 << i) != 0 {
                self.forward_options(snap, umem, &b.pkts[i], i);
            }
            if b.pkts[i].iif == Some(oif) && !v6 {
                self.redirect(snap, umem, &b.pkts[i], now);
            }
        }
    }

    /// `ip_forward` → `ip_rt_send_redirect` for a packet leaving by the
    /// port it came in on (`IPSKB_DOREDIRECT` from `__mkroute_input`):
    /// with `send_redirects` 1 and `shared_media` 1 (the defaults), when
    /// its source is directly connected on that port
    /// (`fib_validate_source` says so); after the TTL decrement, before
    /// FORWARD, so a packet FORWARD drops still gets one. The redirect
    /// names the next hop (`rt_nexthop`): the route's gateway, or the
    /// destination. Limits: [`icmp`].
    #[cold]
    fn redirect(&mut self, snap: &Snapshot, umem: &mut Umem, p: &Pkt, now: Instant) {
        let (IpAddr::V4(gw), Some(iif)) = (p.next_hop, p.iif) else {
            return;
        };
        let back = FlowKey::output(p.meta.src).with_src(p.meta.dst);
        let on_link = matches!(
            snap.net.router.lookup(&back),
            RouteResult::Forward { port, next_hop } if port == iif && next_hop == p.meta.src
        );
        if on_link && self.out.icmp.redirect_allow(p.meta.src, now) {
            self.out
                .icmp_error(umem, snap, p, ErrorKind::Redirect(gw), now);
        }
    }

    /// `ip_forward_options`: the outgoing address into the option slots
    /// `route_input` noted, and the header checksum.
    #[cold]
    fn forward_options(&mut self, snap: &Snapshot, umem: &mut Umem, p: &Pkt, i: usize) {
        let (rr, ts) = self.opt_fill.slots[i];
        // ip_rt_get_source: the address the route out picks.
        let addr = match p.oif.and_then(|o| snap.net.source_for(o, p.next_hop)) {
            Some(IpAddr::V4(a)) => a,
            _ => Ipv4Addr::UNSPECIFIED,
        };
        let (l3, l4) = (p.meta.l3_off as usize, p.meta.l4_off as usize);
        if let Some(hdr) = umem.bytes_mut(p.desc).get_mut(l3..l4) {
            options::fill(hdr, rr, ts, addr);
        }
    }
}

pub(super) fn is_link_local(a: Ipv6Addr) -> bool {
    a.segments()[0] & 0xffc0 == 0xfe80
}
