//! Packets the box generates: frames hook stages emit (`Batch::emit`,
//! e.g. REJECT's answers) and the ICMP errors the pipeline sends.

use super::*;
use crate::packet::Emit;

impl Out {
    /// Sends an ICMP / ICMPv6 error of `kind` about packet `p` (whose frame
    /// is still intact) to its source, if the rules and the rate limits
    /// allow (see [`icmp`]). The error is routed here, because its source
    /// address is the address of the port it leaves by (`__icmp_send` with
    /// `icmp_errors_use_inbound_ifaddr` 0; `icmp6_send`), then joins the
    /// output pass (OUTPUT, POSTROUTING).
    pub(crate) fn icmp_error(
        &mut self,
        umem: &mut Umem,
        snap: &Snapshot,
        p: &Pkt,
        kind: ErrorKind,
        now: Instant,
    ) {
        let v6 = p.meta.ip_version == 6;
        let l3 = p.meta.l3_off as usize;
        let ip_len = {
            let frame = umem.bytes(p.desc);
            let end = (l3 + p.meta.ip_len as usize).min(frame.len());
            let ip = &frame[l3.min(end)..end];
            let o = Offender {
                ip,
                meta: &p.meta,
                l2: p.l2,
                dest: p.dest,
            };
            if !icmp::eligible(&o, kind) {
                self.counters.inc(Counter::IcmpSuppressed);
                return;
            }
            ip.len()
        };
        // __ip_options_echo: the options of the offender this error
        // carries (see `options`).
        let echo = if !v6 && p.meta.l4_off - p.meta.l3_off > wire::ipv4::HEADER_LEN as u16 {
            match self.echo.get(p.desc.addr) {
                Ok(e) => e,
                Err(()) => {
                    self.counters.inc(Counter::IcmpSuppressed);
                    return;
                }
            }
        } else {
            options::Echo::EMPTY
        };
        let opts_len = echo.len as usize;
        let Some(apply) = self.icmp.global(kind, v6, now) else {
            self.counters.inc(Counter::IcmpRatelimited);
            return;
        };
        let (port, next_hop) = match snap.net.router.lookup(&FlowKey::output(p.meta.src)) {
            RouteResult::Forward { port, next_hop } => (port, next_hop),
            RouteResult::Local | RouteResult::Broadcast { .. } => {
                self.counters.inc(Counter::IcmpSuppressed);
                return;
            }
            _ => {
                self.counters.inc(Counter::IcmpNoRoute);
                return;
            }
        };
        if !self.icmp.peer_allow(apply, p.meta.src, now) {
            self.counters.inc(Counter::IcmpRatelimited);
            return;
        }
        // __icmp_send: about a packet to one of the box's addresses, from
        // that address.
        let src = match p.dest {
            Dest::Local => Some(p.meta.dst),
            _ => snap.net.source_for(port, next_hop),
        };
        let Some(src) = src else {
            self.counters.inc(Counter::IcmpNoRoute);
            return;
        };
        let mtu = snap.net.port(port).map_or(576, |c| c.mtu as usize);
        let (hdr, quote) = if v6 {
            (
                wire::ipv6::HEADER_LEN + wire::icmpv6::HEADER_LEN,
                icmp::quote_len_v6(ip_len),
            )
        } else {
            match icmp::quote_len_v4(ip_len, mtu, opts_len) {
                Some(q) => (
                    wire::ipv4::HEADER_LEN + opts_len + wire::icmpv4::HEADER_LEN,
                    q,
                ),
                None => {
                    self.counters.inc(Counter::IcmpSuppressed);
                    return;
                }
            }
        };
        if self.gen.len() >= self.gen_capacity {
            self.counters.inc(Counter::IcmpNoBuffer);
            return;
        }
        let Some(mut d) = umem.alloc() else {
            self.counters.inc(Counter::IcmpNoBuffer);
            return;
        };
        let at = ethernet::HEADER_LEN + hdr;
        if !umem.set_len(&mut d, at + quote) {
            umem.free(d);
            self.counters.inc(Counter::IcmpNoBuffer);
            return;
        }
        umem.copy(p.desc, l3, d, at, quote);
        let ident = self.next_ident();
        let buf = umem.bytes_mut(d);
        let counter = match (src, p.meta.src) {
            (IpAddr::V4(s), IpAddr::V4(dst)) => {
                let opts = echo.build(s, options::ms_of_day(now));
                icmp::write_v4(buf, kind, (s, dst), p.meta.tos, ident, &opts[..opts_len]);
                match kind {
                    ErrorKind::TimeExceeded | ErrorKind::ReassemblyTimeExceeded => {
                        Counter::IcmpTimeExceeded
                    }
                    ErrorKind::FragNeeded(_) => Counter::IcmpFragNeeded,
                    ErrorKind::ParamProblem(_) => Counter::IcmpParamProblem,
                    ErrorKind::Redirect(_) => Counter::IcmpRedirect,
                    _ => Counter::IcmpDestUnreachable,
                }
            }
            (IpAddr::V6(s), IpAddr::V6(dst)) => {
                icmp::write_v6(buf, kind, s, dst);
                match kind {
                    ErrorKind::TimeExceeded | ErrorKind::ReassemblyTimeExceeded => {
                        Counter::Icmp6TimeExceeded
                    }
                    ErrorKind::PacketTooBig(_) => Counter::Icmp6PacketTooBig,
                    _ => Counter::Icmp6DestUnreachable,
                }
            }
            _ => {
                umem.free(d);
                return;
            }
        };
        let Ok(meta) = wire::parse(umem.bytes(d)) else {
            debug_assert!(false, "an ICMP error the box built does not parse");
            umem.free(d);
            return;
        };
        self.counters.inc(counter);
        let mut g = Pkt::generated(d, meta);
        // `icmp_glue_bits`: the error is attached to the offender's entry.
        g.ct = p.ct.attached();
        g.dest = Dest::Forward;
        g.oif = Some(port);
        g.next_hop = next_hop;
        g.routed_with = (meta.dst, 0);
        self.gen.push_back(g);
    }
}

impl Emit for Out {
    fn counters(&mut self) -> &mut Counters {
        &mut self.counters
    }

    /// [`Batch::emit`]: queues a frame a hook stage built for the output
    /// pass, after the ICMP rate limits for an ICMP error.
    fn emit(
        &mut self,
        umem: &mut Umem,
        frame: &[u8],
        kind: EmitKind,
        counter: Counter,
        ct: CtState,
        now: Instant,
    ) -> bool {
        let Ok(meta) = wire::parse(frame) else {
            debug_assert!(false, "a frame a stage built does not parse");
            return false;
        };
        if !meta.is_ip() {
            return false;
        }
        if kind == EmitKind::IcmpError {
            // icmp_send: the global bucket, then (after routing) the
            // destination's; destination unreachable is in icmp_ratemask.
            let v6 = meta.ip_version == 6;
            let allowed = self
                .icmp
                .global(ErrorKind::HostUnreachable, v6, now)
                .is_some_and(|apply| self.icmp.peer_allow(apply, meta.dst, now));
            if !allowed {
                self.counters.inc(Counter::IcmpRatelimited);
                return false;
            }
        }
        if self.gen.len() >= self.gen_capacity {
            self.counters.inc(Counter::HookEmitNoBuffer);
            return false;
        }
        let Some(mut d) = umem.alloc() else {
            self.counters.inc(Counter::HookEmitNoBuffer);
            return false;
        };
        if !umem.set_len(&mut d, frame.len()) {
            umem.free(d);
            self.counters.inc(Counter::HookEmitNoBuffer);
            return false;
        }
        umem.bytes_mut(d).copy_from_slice(frame);
        let mut meta = meta;
        if kind == EmitKind::IcmpError && meta.ip_version == 4 {
            let ident = self.next_ident();
            let l3 = meta.l3_off as usize;
            let mut ip = wire::ipv4::Packet::new_unchecked(&mut umem.bytes_mut(d)[l3..]);
            ip.set_ident(ident);
            ip.fill_checksum();
            meta.ident = u32::from(ident);
        }
        self.counters.inc(counter);
        let mut g = Pkt::generated(d, meta);
        g.ct = ct;
        self.gen.push_back(g);
        true
    }
}
