//! `loop_back`: the copy of each IPv4 broadcast the box sends that the
//! kernel's `ip_mc_output` loops back through POSTROUTING, PREROUTING and
//! INPUT.

use super::*;

impl Core {
    /// `ip_mc_output` for IPv4 broadcasts the box sends (a broadcast
    /// route, subnet or limited): a copy of each goes through POSTROUTING
    /// (before the original, as a packet of its own), then
    /// `dev_loopback_xmit` receives it on the egress port. There it keeps
    /// its output route (`ip_rcv_finish` routes only packets without one:
    /// no martian checks), so it runs PREROUTING and INPUT and is then
    /// delivered to the box, which never answers it: ICMP errors are not
    /// answered, nor broadcasts to closed ports.
    pub(super) fn loop_back(
        &mut self,
        snap: &Snapshot,
        umem: &mut Umem,
        b: &BatchBuf,
        lb: &mut BatchBuf,
        now: Instant,
    ) {
        let sel = Bits(b.live & b.output)
            .filter(|&i| b.pkts[i].dest == Dest::Broadcast && b.pkts[i].meta.ip_version == 4)
            .fold(0u64, |m, i| m | (1u64 << i));
        if sel == 0 {
            return;
        }
        lb.clear();
        for i in Bits(sel) {
            let p = &b.pkts[i];
            let len = p.desc.len as usize;
            let Some(mut d) = umem.alloc() else {
                self.out.counters.inc(Counter::OutputLoopbackNoBuffer);
                continue;
            };
            if !umem.set_len(&mut d, len) {
                umem.free(d);
                self.out.counters.inc(Counter::OutputLoopbackNoBuffer);
                continue;
            }
            umem.copy(p.desc, 0, d, 0, len);
            self.out.counters.inc(Counter::OutputLoopback);
            let k = lb.len;
            lb.pkts[k] = Pkt {
                desc: d,
                verdict: Verdict::Accept,
                ..*p
            };
            lb.len += 1;
            lb.live |= 1u64 << k;
        }
        lb.output = lb.live;
        let all = lb.live;
        self.hook(snap, umem, lb, Hook::Postrouting, all, now);
        // Received on the egress port (PACKET_LOOPBACK: `-m pkttype` sees
        // a broadcast).
        for i in Bits(lb.live) {
            let p = &mut lb.pkts[i];
            p.iif = p.oif;
            p.l2 = L2Class::Broadcast;
        }
        lb.output = 0;
        let all = lb.live;
        self.hook(snap, umem, lb, Hook::Prerouting, all, now);
        for i in Bits(lb.live) {
            let p = &mut lb.pkts[i];
            if p.meta.dst == p.routed_with.0 {
                lb.input |= 1u64 << i;
                continue;
            }
            // DNAT dropped the route: routed as a received packet.
            let Some(iif) = p.iif else {
                lb.finish(i, Verdict::Drop(Counter::PipelineNoPort));
                continue;
            };
            p.oif = None;
            match route_packet(snap, p, iif) {
                Ok(()) if p.dest == Dest::Forward => {
                    lb.finish(i, Verdict::Drop(Counter::ForwardNotHost))
                }
                Ok(()) => lb.input |= 1u64 << i,
                Err(Failure::Drop(c) | Failure::Icmp(c, _)) => lb.finish(i, Verdict::Drop(c)),
            }
        }
        let input = lb.input;
        self.hook(snap, umem, lb, Hook::Input, input, now);
        for i in Bits(lb.live & lb.input) {
            self.out.counters.inc(Counter::InputPackets);
            self.out.counters.inc(Counter::LocalLoopback);
            umem.free(lb.pkts[i].desc);
            lb.retire(i);
        }
        self.settle(umem, lb);
    }
}
