//! `local_deliver`: after INPUT (`ip_local_deliver_finish`): echo, NDP,
//! else the punt queue to the host.

use super::*;

// ---------------------------------------------------------------------------
// local_deliver: after INPUT.

impl Core {
    pub(super) fn local_deliver(
        &mut self,
        snap: &Snapshot,
        umem: &mut Umem,
        b: &mut BatchBuf,
        now: Instant,
    ) {
        for i in Bits(b.live & b.input) {
            self.out.counters.inc(Counter::InputPackets);
            let p = b.pkts[i];
            let Some(iif) = p.iif else {
                b.finish(i, Verdict::Drop(Counter::PipelineNoPort));
                continue;
            };
            if umem.is_jumbo(p.desc) {
                // A reassembled datagram: the host stack gets it whole.
                if self.punt.push(p.desc, iif) {
                    self.out.counters.inc(Counter::LocalPunted);
                    b.retire(i);
                } else {
                    b.finish(i, Verdict::Drop(Counter::LocalPuntFull));
                }
                continue;
            }
            let mac = self.macs[iif.index()];
            let to_group = matches!(p.dest, Dest::Broadcast | Dest::Multicast);
            let ident = self.out.next_ident();
            // icmp_reply: the request's options, echoed (`options`).
            let echo = match p.meta.dst {
                IpAddr::V4(dst)
                    if p.meta.l4_off - p.meta.l3_off > wire::ipv4::HEADER_LEN as u16 =>
                {
                    let e = self
                        .out
                        .echo
                        .get(p.desc.addr)
                        .unwrap_or(options::Echo::EMPTY);
                    (e.build(dst, options::ms_of_day(now)), e.len as usize)
                }
                _ => ([0; 40], 0),
            };
            let reply = local::ReplyV4 {
                ident,
                options: &echo.0[..echo.1],
            };
            match local::deliver(umem, p.desc, &p.meta, &snap.net, iif, mac, to_group, reply) {
                local::Delivery::Punt => {
                    if self.punt.push(p.desc, iif) {
                        self.out.counters.inc(Counter::LocalPunted);
                        b.retire(i);
                    } else {
                        b.finish(i, Verdict::Drop(Counter::LocalPuntFull));
                    }
                }
                local::Delivery::Drop(c) => b.finish(i, Verdict::Drop(c)),
                local::Delivery::Reply { desc, info, fixed } => {
                    self.out.counters.inc(info);
                    b.retire(i);
                    let Ok(meta) = wire::parse(umem.bytes(desc)) else {
                        debug_assert!(false, "a reply the box built does not parse");
                        self.out.counters.inc(Counter::OutputQueueFull);
                        umem.free(desc);
                        continue;
                    };
                    let mut g = Pkt::generated(desc, meta);
                    if fixed {
                        g.fixed_oif = true;
                        g.dest = Dest::Forward;
                        g.oif = Some(iif);
                        g.next_hop = meta.dst;
                    }
                    self.out.push_generated(umem, g);
                }
                local::Delivery::Solicited {
                    desc,
                    learn,
                    needs_entry,
                } => {
                    // ndisc_recv_ns: learn the sender first, then answer;
                    // a multicast NS without a link-layer address from an
                    // unknown sender gets no answer.
                    let src = p.meta.src;
                    if let Some((ip, mac)) = learn {
                        let (out, macs) = (&mut self.out, &self.macs);
                        self.st.neigh.ndisc_input(
                            iif,
                            IpAddr::V6(ip),
                            mac.0,
                            crate::route::neigh::NdInput::Solicitation,
                            now,
                            &mut |a| out.on_neigh(umem, snap, macs, a, now),
                        );
                    } else if needs_entry && self.st.neigh.get(iif, src).is_none() {
                        b.finish(i, Verdict::Drop(Counter::NdInvalid));
                        continue;
                    }
                    self.out.counters.inc(Counter::NdNaSent);
                    b.retire(i);
                    let Ok(meta) = wire::parse(umem.bytes(desc)) else {
                        debug_assert!(false, "an advertisement the box built does not parse");
                        self.out.counters.inc(Counter::OutputQueueFull);
                        umem.free(desc);
                        continue;
                    };
                    let mut g = Pkt::generated(desc, meta);
                    g.fixed_oif = true;
                    g.dest = Dest::Forward;
                    g.oif = Some(iif);
                    g.next_hop = meta.dst;
                    self.out.push_generated(umem, g);
                }
                local::Delivery::Advert {
                    target,
                    mac,
                    solicited,
                    override_flag,
                } => {
                    // ndisc_recv_na: only known, not failed, neighbours.
                    let ip = IpAddr::V6(target);
                    let known = self
                        .st
                        .neigh
                        .get(iif, ip)
                        .filter(|n| n.state != crate::route::neigh::NeighState::Failed);
                    let mac = known.and_then(|n| mac.map(|m| m.0).or(n.mac));
                    match (known, mac) {
                        (Some(_), Some(mac)) => {
                            let (out, macs) = (&mut self.out, &self.macs);
                            self.st.neigh.ndisc_input(
                                iif,
                                ip,
                                mac,
                                crate::route::neigh::NdInput::Advertisement {
                                    solicited,
                                    override_flag,
                                },
                                now,
                                &mut |a| out.on_neigh(umem, snap, macs, a, now),
                            );
                            self.out.counters.inc(Counter::NdNaProcessed);
                            umem.free(p.desc);
                            b.retire(i);
                        }
                        _ => b.finish(i, Verdict::Drop(Counter::NdNaIgnored)),
                    }
                }
            }
        }
    }
}
