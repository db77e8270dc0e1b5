//! The routing decisions: `route_input` after PREROUTING
//! (`ip_route_input_slow`, `ip6_route_input`) and `route_output` for the
//! packets the box generates (`ip_route_output_key`).

use super::*;

// ---------------------------------------------------------------------------
// route_input: the routing decision after PREROUTING.

impl Core {
    pub(super) fn route_input(
        &mut self,
        snap: &Snapshot,
        umem: &mut Umem,
        b: &mut BatchBuf,
        now: Instant,
    ) {
        self.opt_fill.pending = 0;
        for i in Bits(b.live) {
            let Some(iif) = b.pkts[i].iif else {
                b.finish(i, Verdict::Drop(Counter::PipelineNoPort));
                continue;
            };
            let p = &mut b.pkts[i];
            let r = match (p.meta.src, p.meta.dst) {
                (IpAddr::V4(s), IpAddr::V4(d)) => {
                    let routed = route_v4(snap, p, s, d, iif);
                    if p.meta.l4_off - p.meta.l3_off > wire::ipv4::HEADER_LEN as u16 {
                        self.ipv4_options(snap, umem, p, i, routed, now)
                    } else if routed.is_ok() && p.dest == Dest::Forward {
                        // The common packet straight to its path.
                        b.forward |= 1u64 << i;
                        continue;
                    } else {
                        routed
                    }
                }
                (IpAddr::V6(s), IpAddr::V6(d)) => route_v6(snap, p, s, d, iif),
                _ => Err(Failure::Drop(Counter::ParseMalformed)),
            };
            match r {
                Ok(()) => match p.dest {
                    Dest::Forward => b.forward |= 1u64 << i,
                    _ => b.input |= 1u64 << i,
                },
                Err(Failure::Drop(c)) => b.finish(i, Verdict::Drop(c)),
                Err(Failure::Icmp(c, kind)) => {
                    let p = b.pkts[i];
                    if p.meta.ip_version == 4 && !matches!(kind, ErrorKind::ParamProblem(_)) {
                        // ip_error's own limit, per source.
                        if self.out.icmp.ip_error_allow(p.meta.src, now) {
                            self.out.icmp_error(umem, snap, &p, kind, now);
                        } else {
                            self.out.counters.inc(Counter::IcmpRatelimited);
                        }
                    } else {
                        self.out.icmp_error(umem, snap, &p, kind, now);
                    }
                    b.finish(i, Verdict::Drop(c));
                }
            }
        }
    }
}

impl Core {
    /// `ip_rcv_options` after routing (`ip_rcv_finish_core`), with the
    /// default sysctls: see [`options`]. Martians were dropped by routing
    /// before the options are looked at; routing failures (`ip_error`)
    /// come after them. A forwarded packet's slots for the outgoing
    /// address are noted for [`Core::forward`] under its batch index `i`.
    #[cold]
    fn ipv4_options(
        &mut self,
        snap: &Snapshot,
        umem: &mut Umem,
        p: &mut Pkt,
        i: usize,
        routed: Result<(), Failure>,
        now: Instant,
    ) -> Result<(), Failure> {
        use Counter::*;
        if let Err(Failure::Drop(
            InputMartianSource | InputMartianDest | InputMcastNotJoined | ParseMalformed,
        )) = routed
        {
            return routed;
        }
        let forward = routed.is_ok() && p.dest == Dest::Forward;
        let (IpAddr::V4(dst), l3, l4) =
            (p.meta.dst, p.meta.l3_off as usize, p.meta.l4_off as usize)
        else {
            return Err(Failure::Drop(ParseMalformed));
        };
        // A packet for the box goes to the host stack as it came (the
        // host compiles its options): a copy is compiled, for what an
        // error about it would echo; its spec_dst is its destination.
        // Any other is changed in place as the kernel changes it, with
        // the box's address toward its source.
        let deliver = routed.is_ok() && !forward;
        let stamp = options::Stamp {
            addr: if deliver {
                dst
            } else {
                spec_dst(snap, p.meta.src)
            },
            time: options::ms_of_day(now),
        };
        let Some(hdr) = umem.bytes_mut(p.desc).get_mut(l3..l4) else {
            return Err(Failure::Drop(ParseMalformed));
        };
        let is_local =
            |a: Ipv4Addr| snap.net.is_own_v4(a) || a.is_broadcast() || a.is_unspecified();
        let mut c = options::Compiled::default();
        let mut copy = [0u8; 60];
        let n = hdr.len().min(copy.len());
        let compiled = if deliver {
            copy[..n].copy_from_slice(&hdr[..n]);
            &mut copy[..n]
        } else {
            hdr
        };
        let r = options::compile_into(compiled, Some(stamp), is_local, &mut c);
        self.out
            .echo
            .put(p.desc.addr, options::echo(compiled, &c, is_local));
        if deliver && r.is_err() {
            // Dropped with a parameter problem: its quote shows the
            // changes, as the kernel's does.
            if let Some(hdr) = umem.bytes_mut(p.desc).get_mut(l3..l4) {
                hdr[..n].copy_from_slice(&copy[..n]);
            }
        }
        match r {
            Err(ptr) => Err(Failure::Icmp(InputBadOptions, ErrorKind::ParamProblem(ptr))),
            Ok(()) if c.srr => Err(Failure::Drop(InputSourceRoute)),
            Ok(()) => {
                if forward && c.changed {
                    self.opt_fill.pending |= 1u64 << i;
                    // The timestamp keeps the receive side's address (as
                    // Linux 6.18 does, measured by the differential test).
                    self.opt_fill.slots[i] = (c.rr_addr as u8, 0);
                }
                routed
            }
        }
    }
}

/// `fib_compute_spec_dst` for a forwarded packet: the address the box
/// would answer its source from.
fn spec_dst(snap: &Snapshot, src: IpAddr) -> Ipv4Addr {
    let back = match snap.net.router.lookup(&FlowKey::output(src)) {
        RouteResult::Forward { port, next_hop } => snap.net.source_for(port, next_hop),
        _ => None,
    };
    match back {
        Some(IpAddr::V4(a)) => a,
        _ => Ipv4Addr::UNSPECIFIED,
    }
}

/// [`route_v4`] / [`route_v6`] by family.
pub(crate) fn route_packet(snap: &Snapshot, p: &mut Pkt, iif: PortId) -> Result<(), Failure> {
    match (p.meta.src, p.meta.dst) {
        (IpAddr::V4(s), IpAddr::V4(d)) => route_v4(snap, p, s, d, iif),
        (IpAddr::V6(s), IpAddr::V6(d)) => route_v6(snap, p, s, d, iif),
        _ => Err(Failure::Drop(Counter::ParseMalformed)),
    }
}

/// Why routing refused a packet.
pub(crate) enum Failure {
    Drop(Counter),
    /// Dropped, and an ICMP error of this kind is due.
    Icmp(Counter, ErrorKind),
}

/// `ip_route_input_slow` for IPv4: the martian checks, the policy lookup,
/// and what each route type does to a received packet.
#[inline]
pub(super) fn route_v4(
    snap: &Snapshot,
    p: &mut Pkt,
    s: Ipv4Addr,
    d: Ipv4Addr,
    iif: PortId,
) -> Result<(), Failure> {
    use Counter::*;
    // Both first octets in 1..=223 and not 127: none of the martian,
    // multicast or broadcast cases can apply (one test for the common
    // packet; the others take the kernel's checks in its order).
    let plain = |a: Ipv4Addr| {
        let o = a.octets()[0];
        o.wrapping_sub(1) < 223 && o != 127
    };
    if !(plain(s) && plain(d)) && route_v4_special(p, s, d)? {
        return Ok(());
    }
    let martian_src = Err(Failure::Drop(InputMartianSource));
    let r = snap.net.router.lookup_v4_input(s, d, iif, p.mark);
    // fib_validate_source with rp_filter off: a source that is one of our
    // own addresses is a martian.
    if matches!(
        r,
        RouteResult::Local | RouteResult::Broadcast { .. } | RouteResult::Forward { .. }
    ) && snap.net.is_own_v4(s)
    {
        return martian_src;
    }
    p.routed_with = (IpAddr::V4(d), p.mark);
    match r {
        RouteResult::Local => p.dest = Dest::Local,
        RouteResult::Broadcast { .. } => p.dest = Dest::Broadcast,
        // Rebuilt from its four bytes: copying the whole `IpAddr` just
        // written by the lookup stalls on store forwarding.
        RouteResult::Forward {
            port,
            next_hop: IpAddr::V4(nh),
        } => {
            p.dest = Dest::Forward;
            p.oif = Some(port);
            p.next_hop = IpAddr::V4(nh);
        }
        RouteResult::Forward { .. } => return Err(Failure::Drop(RouteNoRoute)),
        // ip_error: ENETUNREACH, EHOSTUNREACH, EACCES, EINVAL.
        RouteResult::NoRoute => return Err(Failure::Icmp(RouteNoRoute, ErrorKind::NetUnreachable)),
        RouteResult::Unreachable => {
            return Err(Failure::Icmp(RouteUnreachable, ErrorKind::HostUnreachable))
        }
        RouteResult::Prohibit => return Err(Failure::Icmp(RouteProhibit, ErrorKind::Prohibited)),
        RouteResult::Blackhole => return Err(Failure::Drop(RouteBlackhole)),
    }
    Ok(())
}

/// The martian, multicast and broadcast checks of [`route_v4`] before
/// the lookup, in the kernel's order: `Ok(true)` when they decided
/// (`p.dest` set), `Ok(false)` when the lookup decides.
#[cold]
fn route_v4_special(p: &mut Pkt, s: Ipv4Addr, d: Ipv4Addr) -> Result<bool, Failure> {
    use Counter::*;
    let martian_src = Err(Failure::Drop(InputMartianSource));
    if d.is_multicast() {
        // ip_route_input_mc: only the groups the port joined.
        if s.is_multicast() || s.is_broadcast() || s.is_loopback() {
            return martian_src;
        }
        if d != crate::net::ALL_SYSTEMS {
            return Err(Failure::Drop(InputMcastNotJoined));
        }
        p.dest = Dest::Multicast;
        return Ok(true);
    }
    if s.is_multicast() || s.is_broadcast() {
        return martian_src;
    }
    if d.is_broadcast() || (s.is_unspecified() && d.is_unspecified()) {
        p.dest = Dest::Broadcast;
        return Ok(true);
    }
    if s.octets()[0] == 0 {
        return martian_src;
    }
    if d.octets()[0] == 0 || d.is_loopback() {
        return Err(Failure::Drop(InputMartianDest));
    }
    if s.is_loopback() {
        return martian_src;
    }
    Ok(false)
}

/// `ip6_route_input` and the route types' input functions
/// (`ip6_pkt_discard`: no route, `ip6_pkt_prohibit`, blackhole).
#[inline]
pub(super) fn route_v6(
    snap: &Snapshot,
    p: &mut Pkt,
    s: Ipv6Addr,
    d: Ipv6Addr,
    iif: PortId,
) -> Result<(), Failure> {
    use Counter::*;
    if d.is_multicast() {
        let joined = snap.net.port(iif).is_some_and(|c| c.joined_v6(d));
        if !joined {
            return Err(Failure::Drop(InputMcastNotJoined));
        }
        p.dest = Dest::Multicast;
        return Ok(());
    }
    p.routed_with = (p.meta.dst, p.mark);
    match snap.net.router.lookup_v6_input(s, d, iif, p.mark) {
        RouteResult::Local | RouteResult::Broadcast { .. } => p.dest = Dest::Local,
        RouteResult::Forward { port, next_hop } => {
            p.dest = Dest::Forward;
            p.oif = Some(port);
            p.next_hop = next_hop;
        }
        RouteResult::NoRoute => return Err(Failure::Icmp(RouteNoRoute, ErrorKind::NetUnreachable)),
        RouteResult::Unreachable => {
            return Err(Failure::Icmp(RouteUnreachable, ErrorKind::NetUnreachable))
        }
        RouteResult::Prohibit => return Err(Failure::Icmp(RouteProhibit, ErrorKind::Prohibited)),
        RouteResult::Blackhole => return Err(Failure::Drop(RouteBlackhole)),
    }
    Ok(())
}

// ---------------------------------------------------------------------------
// route_output: the routing decision for generated packets.

impl Core {
    pub(super) fn route_output(&mut self, snap: &Snapshot, b: &mut BatchBuf, sel: u64) {
        for i in Bits(sel & b.live) {
            let p = &mut b.pkts[i];
            if p.fixed_oif {
                continue;
            }
            if p.dest == Dest::Forward && p.routed_with == (p.meta.dst, p.mark) {
                // Routed when it was made (ICMP errors pick their source
                // from the route).
                continue;
            }
            let key = FlowKey::output(p.meta.dst)
                .with_src(p.meta.src)
                .with_mark(p.mark);
            p.routed_with = (p.meta.dst, p.mark);
            match snap.net.router.lookup(&key) {
                RouteResult::Forward { port, next_hop } => {
                    p.dest = Dest::Forward;
                    p.oif = Some(port);
                    p.next_hop = next_hop;
                }
                RouteResult::Broadcast { port } => {
                    p.dest = Dest::Broadcast;
                    p.oif = Some(port);
                    p.next_hop = p.meta.dst;
                }
                RouteResult::Local => b.finish(i, Verdict::Drop(Counter::OutputLocal)),
                _ => b.finish(i, Verdict::Drop(Counter::OutputNoRoute)),
            }
        }
    }
}
