//! `neigh_output`: the link-layer header and neighbour resolution after
//! POSTROUTING (`ip_finish_output`, `neigh_output`, `dev_queue_xmit`), and
//! the output side's TX staging and neighbour actions.

use super::*;

// ---------------------------------------------------------------------------
// neigh_output: fragmentation, the link-layer header, neighbour resolution.

impl Core {
    pub(super) fn neigh_output(
        &mut self,
        snap: &Snapshot,
        umem: &mut Umem,
        b: &mut BatchBuf,
        now: Instant,
    ) {
        self.out.memo.clear();
        // Every packet leaves the batch here: retired at once (a drop
        // below still finishes it, with its verdict).
        let sel = b.live & (b.forward | b.output);
        b.live &= !sel;
        for i in Bits(sel) {
            let p = &b.pkts[i];
            let (Some(oif), Some(&src_mac)) = (p.oif, p.oif.and_then(|o| self.macs.get(o.index())))
            else {
                b.finish(i, Verdict::Drop(Counter::OutputNoRoute));
                continue;
            };
            let mtu = snap.net.port(oif).map_or(0, |c| c.mtu as usize);
            let v6 = p.meta.ip_version == 6;
            let (ethertype, limit) = if v6 {
                (EtherType::IPV6, mtu.max(1280))
            } else {
                (EtherType::IPV4, mtu)
            };
            let ip_len = p.meta.ip_len as usize;
            if ip_len > limit || umem.is_jumbo(p.desc) {
                self.oversized(snap, umem, b, i, oif, limit, src_mac, now);
                continue;
            }
            let mut d = p.desc;
            let dst = p.meta.dst;
            let broadcast = p.dest == Dest::Broadcast;
            let next_hop = p.next_hop;
            let generated = p.iif.is_none();
            let l3_off = p.meta.l3_off as usize;
            // The link-layer destination known now (a group address, a
            // next hop already in the memo): the whole header is written
            // at once, in l2_resolve's order of cases.
            let known = match group_mac(dst, broadcast) {
                Some(m) => Some(m.0),
                None => self.out.memo.get(oif, next_hop),
            };
            if let Some(mac) = known {
                if !l2_prepare(umem, &mut d, l3_off, ip_len, ethertype, src_mac, mac) {
                    self.out.counters.inc(Counter::OutputTooBig);
                    umem.free(d);
                    continue;
                }
                self.out.tx_push(umem, oif, d);
                continue;
            }
            if !l2_prepare(umem, &mut d, l3_off, ip_len, ethertype, src_mac, [0; 6]) {
                self.out.counters.inc(Counter::OutputTooBig);
                umem.free(d);
                continue;
            }
            self.out.l2_resolve_neigh(
                umem,
                &mut self.st.neigh,
                snap,
                &self.macs,
                oif,
                next_hop,
                NeighFrame { desc: d, generated },
                now,
            );
        }
    }

    /// A packet larger than the egress MTU: IPv4 without DF is fragmented
    /// (`ip_fragment` → `ip_do_fragment`) and each fragment sent; anything
    /// else is dropped (forwarded packets were checked before FORWARD, so
    /// this is a generated packet or one a stage made bigger). A datagram
    /// conntrack reassembled leaves as it came ([`Core::jumbo_output`]).
    #[cold]
    #[inline(never)]
    #[allow(clippy::too_many_arguments)]
    pub(super) fn oversized(
        &mut self,
        snap: &Snapshot,
        umem: &mut Umem,
        b: &mut BatchBuf,
        i: usize,
        oif: PortId,
        limit: usize,
        src_mac: MacAddr,
        now: Instant,
    ) {
        let p = b.pkts[i];
        if umem.is_jumbo(p.desc) {
            return self.jumbo_output(snap, umem, b, i, oif, limit, src_mac, now);
        }
        let generated = p.iif.is_none();
        let v6 = p.meta.ip_version == 6;
        if v6 || p.meta.dont_frag {
            let c = if generated {
                Counter::OutputTooBig
            } else if v6 {
                Counter::ForwardTooBig
            } else {
                Counter::ForwardFragNeeded
            };
            b.finish(i, Verdict::Drop(c));
            return;
        }
        let mut frags = [Desc::default(); MAX_FRAGS];
        let n = match fragment(umem, p.desc, &p.meta, limit, &mut frags) {
            Ok(n) => n,
            Err(c) => {
                b.finish(i, Verdict::Drop(c));
                return;
            }
        };
        self.out.counters.inc(Counter::FragPackets);
        self.out.counters.add(Counter::FragCreated, (n - 1) as u64);
        let first_at = p.meta.l3_off as usize;
        self.send_pieces(snap, umem, &p, oif, src_mac, &mut frags[..n], first_at, now);
    }

    /// Sends the fragments `frags` of packet `p` out of `oif`: each gets
    /// its link-layer header and goes to neighbour resolution. The first
    /// has its IP header at `first_at`, the others at 14.
    #[allow(clippy::too_many_arguments)]
    pub(super) fn send_pieces(
        &mut self,
        snap: &Snapshot,
        umem: &mut Umem,
        p: &Pkt,
        oif: PortId,
        src_mac: MacAddr,
        frags: &mut [Desc],
        first_at: usize,
        now: Instant,
    ) {
        let generated = p.iif.is_none();
        for (k, d) in frags.iter_mut().enumerate() {
            let at = if k == 0 {
                first_at
            } else {
                ethernet::HEADER_LEN
            };
            let (len, ethertype) = ip_len_of(&umem.bytes(*d)[at..]);
            if !l2_prepare(umem, d, at, len, ethertype, src_mac, [0; 6]) {
                self.out.counters.inc(Counter::OutputTooBig);
                umem.free(*d);
                continue;
            }
            self.out.l2_resolve(
                umem,
                &mut self.st.neigh,
                snap,
                &self.macs,
                oif,
                p.meta.dst,
                p.dest == Dest::Broadcast,
                p.next_hop,
                NeighFrame {
                    desc: *d,
                    generated,
                },
                now,
            );
        }
    }
}

/// The length and ethertype of the IP packet `ip` (IPv4 total length,
/// or 40 + the IPv6 payload length); 0 when it is too short.
fn ip_len_of(ip: &[u8]) -> (usize, EtherType) {
    match ip.first().map(|v| v >> 4) {
        Some(6) if ip.len() >= wire::ipv6::HEADER_LEN => (
            wire::ipv6::HEADER_LEN + usize::from(u16::from_be_bytes([ip[4], ip[5]])),
            EtherType::IPV6,
        ),
        _ if ip.len() >= 4 => (
            usize::from(u16::from_be_bytes([ip[2], ip[3]])),
            EtherType::IPV4,
        ),
        _ => (0, EtherType::IPV4),
    }
}

/// Puts a 14-byte Ethernet header (destination `dst`, zero when it is
/// not known yet; source `src`, type `ethertype`) right in front of the
/// `len`-byte L3 packet at offset `l3` of `d`, and trims the frame to
/// header + packet: VLAN priority tags and link-layer padding go.
#[inline(always)]
pub(super) fn l2_prepare(
    umem: &mut Umem,
    d: &mut Desc,
    l3: usize,
    len: usize,
    ethertype: EtherType,
    src: MacAddr,
    dst: [u8; 6],
) -> bool {
    let Some(start) = l3.checked_sub(ethernet::HEADER_LEN) else {
        return false;
    };
    if l3 + len > d.len as usize || !umem.adjust_head(d, start as isize) {
        return false;
    }
    d.len = (ethernet::HEADER_LEN + len) as u32;
    // Source and type as one 8-byte store, the destination as one of 6.
    let mut tail = [0u8; 8];
    tail[..6].copy_from_slice(&src.0);
    tail[6..].copy_from_slice(&ethertype.0.to_be_bytes());
    if let Some(h) = umem
        .bytes_mut(*d)
        .first_chunk_mut::<{ ethernet::HEADER_LEN }>()
    {
        h[6..].copy_from_slice(&tail);
        h[..6].copy_from_slice(&dst);
    }
    true
}

/// The link-layer destination of a group address: IPv4 broadcast, IPv4
/// multicast (RFC 1112 §6.4), IPv6 multicast (RFC 2464 §7).
#[inline]
pub(super) fn group_mac(dst: IpAddr, broadcast: bool) -> Option<MacAddr> {
    match dst {
        _ if broadcast => Some(MacAddr::BROADCAST),
        IpAddr::V4(a) if a.is_multicast() => {
            let o = a.octets();
            Some(MacAddr([0x01, 0x00, 0x5e, o[1] & 0x7f, o[2], o[3]]))
        }
        IpAddr::V4(a) if a.is_broadcast() => Some(MacAddr::BROADCAST),
        IpAddr::V6(a) if a.is_multicast() => {
            let o = a.octets();
            Some(MacAddr([0x33, 0x33, o[12], o[13], o[14], o[15]]))
        }
        _ => None,
    }
}

// ---------------------------------------------------------------------------
// The output side: TX staging, neighbour actions, generated packets, ICMP.

impl Out {
    #[inline]
    pub(super) fn tx_push(&mut self, umem: &mut Umem, port: PortId, d: Desc) {
        match self.tx.get_mut(port.index()) {
            Some(q) if q.len() < self.tx_capacity => q.push(d),
            _ => {
                self.counters.inc(Counter::TxQueueFull);
                umem.free(d);
            }
        }
    }

    pub(super) fn next_ident(&mut self) -> u16 {
        self.ident = self.ident.wrapping_add(1);
        self.ident
    }

    /// Queues a generated packet for the output pass.
    pub(super) fn push_generated(&mut self, umem: &mut Umem, p: Pkt) {
        if self.gen.len() < self.gen_capacity {
            self.gen.push_back(p);
        } else {
            self.counters.inc(Counter::OutputQueueFull);
            umem.free(p.desc);
        }
    }

    /// Sends the prepared frame `f` out of `oif`: to a group address at
    /// once, to a unicast next hop through the neighbour table. Within one
    /// output pass, a next hop the table answered at once is remembered
    /// (the memo): later frames to it get the same address without asking
    /// again, which changes nothing but the table's lookup count — the
    /// same `now` would give the same answer.
    #[allow(clippy::too_many_arguments)]
    #[inline(always)]
    pub(super) fn l2_resolve(
        &mut self,
        umem: &mut Umem,
        neigh: &mut NeighTable<NeighFrame>,
        snap: &Snapshot,
        macs: &[MacAddr],
        oif: PortId,
        dst: IpAddr,
        broadcast: bool,
        next_hop: IpAddr,
        f: NeighFrame,
        now: Instant,
    ) {
        // The common cases inline (a group address, a next hop already in
        // the memo); asking the neighbour table out of line.
        if let Some(mac) = group_mac(dst, broadcast) {
            umem.bytes_mut(f.desc)[..6].copy_from_slice(&mac.0);
            self.tx_push(umem, oif, f.desc);
            return;
        }
        if let Some(mac) = self.memo.get(oif, next_hop) {
            umem.bytes_mut(f.desc)[..6].copy_from_slice(&mac);
            self.tx_push(umem, oif, f.desc);
            return;
        }
        self.l2_resolve_neigh(umem, neigh, snap, macs, oif, next_hop, f, now);
    }

    /// [`Out::l2_resolve`] for a unicast next hop not in the memo.
    #[allow(clippy::too_many_arguments)]
    #[inline(never)]
    pub(super) fn l2_resolve_neigh(
        &mut self,
        umem: &mut Umem,
        neigh: &mut NeighTable<NeighFrame>,
        snap: &Snapshot,
        macs: &[MacAddr],
        oif: PortId,
        next_hop: IpAddr,
        f: NeighFrame,
        now: Instant,
    ) {
        // A multicast next hop under a unicast destination (a stage changed
        // the destination after routing): the kernel's neighbour for a
        // multicast key is NOARP with the mapped group address
        // (`ndisc_mc_map`, `arp_mc_map`), never a solicitation.
        if let Some(mac) = group_mac(next_hop, false) {
            umem.bytes_mut(f.desc)[..6].copy_from_slice(&mac.0);
            self.tx_push(umem, oif, f.desc);
            return;
        }
        let mut sent_to = None;
        neigh.resolve(oif, next_hop, f, now, &mut |a| {
            if let NeighAction::Transmit { mac, frame, .. } = &a {
                if frame.desc == f.desc {
                    sent_to = Some(*mac);
                }
            }
            self.on_neigh(umem, snap, macs, a, now)
        });
        if let Some(mac) = sent_to {
            self.memo.insert(oif, next_hop, mac);
        }
    }

    /// Does what the neighbour table asks. (Frames waiting in the table
    /// are counted by the table itself: `Pipeline::counters`.)
    pub(super) fn on_neigh(
        &mut self,
        umem: &mut Umem,
        snap: &Snapshot,
        macs: &[MacAddr],
        a: NeighAction<NeighFrame>,
        now: Instant,
    ) {
        match a {
            NeighAction::Transmit { port, mac, frame } => {
                umem.bytes_mut(frame.desc)[..6].copy_from_slice(&mac);
                self.tx_push(umem, port, frame.desc);
            }
            NeighAction::Drop { frame, reason, .. } => {
                self.counters.inc(match reason {
                    NeighDrop::QueueFull => Counter::NeighUnresDiscard,
                    NeighDrop::Failed => Counter::NeighResFailed,
                    NeighDrop::TableFull => Counter::NeighTableFull,
                });
                if reason == NeighDrop::Failed && !frame.generated {
                    // arp_error_report / ndisc_error_report: host
                    // (address) unreachable to the source.
                    if let Ok(meta) = wire::parse(umem.bytes(frame.desc)) {
                        let p = Pkt {
                            desc: frame.desc,
                            meta,
                            dest: Dest::Forward,
                            ..Pkt::EMPTY
                        };
                        self.icmp_error(umem, snap, &p, ErrorKind::HostUnreachable, now);
                    }
                }
                umem.free(frame.desc);
            }
            NeighAction::Solicit {
                port,
                target,
                unicast,
            } => {
                let Some(&mac) = macs.get(port.index()) else {
                    return;
                };
                match target {
                    IpAddr::V4(t) => {
                        let Some(d) = local::arp::request(
                            umem,
                            &snap.net,
                            port,
                            mac,
                            t,
                            unicast.map(MacAddr),
                        ) else {
                            self.counters.inc(Counter::NeighNoBuffer);
                            return;
                        };
                        self.counters.inc(Counter::NeighArpRequest);
                        self.tx_push(umem, port, d);
                    }
                    IpAddr::V6(t) => {
                        if self.gen.len() >= self.gen_capacity {
                            self.counters.inc(Counter::NeighNoBuffer);
                            return;
                        }
                        let Some((d, meta)) =
                            local::nd::solicit(umem, &snap.net, port, mac, t, unicast.is_some())
                        else {
                            self.counters.inc(Counter::NeighNoBuffer);
                            return;
                        };
                        self.counters.inc(Counter::NeighNs);
                        let mut g = Pkt::generated(d, meta);
                        g.fixed_oif = true;
                        g.dest = Dest::Forward;
                        g.oif = Some(port);
                        g.next_hop = meta.dst;
                        self.gen.push_back(g);
                    }
                }
            }
        }
    }
}

/// Next hops resolved at once in one output pass, as compact keys.
/// IPv4: one `u64` (`1 << 63 | port << 32 | address`, never 0, so a
/// zeroed slot is empty), slot by a multiplicative hash, one comparison.
/// IPv6: the address as a `u128` and `port << 1 | 1`, so a probe compares
/// integers instead of two `IpAddr` enums. Direct-mapped: a key has one
/// slot, so a probe is one comparison however many next hops the pass
/// has; a key that collides replaces the older one, which then asks the
/// neighbour table again (only the table's lookup count differs).
#[derive(Debug, Clone, Copy)]
pub(super) struct NeighMemo {
    v4: [u64; MEMO_SLOTS],
    v4_mac: [[u8; 6]; MEMO_SLOTS],
    ip: [u128; MEMO_SLOTS],
    tag: [u32; MEMO_SLOTS],
    mac: [[u8; 6]; MEMO_SLOTS],
    /// Bit `s`: IPv6 slot `s` holds an entry of this pass.
    valid: u8,
}

const MEMO_SLOTS: usize = 8;

impl NeighMemo {
    pub(super) const fn new() -> Self {
        NeighMemo {
            v4: [0; MEMO_SLOTS],
            v4_mac: [[0; 6]; MEMO_SLOTS],
            ip: [0; MEMO_SLOTS],
            tag: [0; MEMO_SLOTS],
            mac: [[0; 6]; MEMO_SLOTS],
            valid: 0,
        }
    }

    /// Forgets every entry (the start of an output pass).
    #[inline(always)]
    pub(super) fn clear(&mut self) {
        self.v4 = [0; MEMO_SLOTS];
        self.valid = 0;
    }

    /// An IPv4 key and its slot (the top 3 bits of a Fibonacci hash).
    #[inline(always)]
    fn key4(port: PortId, a: std::net::Ipv4Addr) -> (u64, usize) {
        let k = 1 << 63 | u64::from(port.0) << 32 | u64::from(u32::from(a));
        (k, (k.wrapping_mul(0x9e37_79b9_7f4a_7c15) >> 61) as usize)
    }

    /// An IPv6 key and its slot.
    #[inline(always)]
    fn key6(port: PortId, a: std::net::Ipv6Addr) -> (u128, u32, usize) {
        let (ip, tag) = (u128::from(a), u32::from(port.0) << 1 | 1);
        let x = (ip as u64 ^ (ip >> 64) as u64) as u32;
        let h = x ^ (x >> 8) ^ (x >> 16) ^ tag;
        (ip, tag, h as usize % MEMO_SLOTS)
    }

    #[inline(always)]
    pub(super) fn get(&self, port: PortId, ip: IpAddr) -> Option<[u8; 6]> {
        match ip {
            IpAddr::V4(a) => {
                let (k, s) = Self::key4(port, a);
                (self.v4[s] == k).then(|| self.v4_mac[s])
            }
            IpAddr::V6(a) => {
                let (ip, tag, s) = Self::key6(port, a);
                (self.valid >> s & 1 != 0 && self.ip[s] == ip && self.tag[s] == tag)
                    .then(|| self.mac[s])
            }
        }
    }

    #[inline]
    pub(super) fn insert(&mut self, port: PortId, ip: IpAddr, mac: [u8; 6]) {
        match ip {
            IpAddr::V4(a) => {
                let (k, s) = Self::key4(port, a);
                self.v4[s] = k;
                self.v4_mac[s] = mac;
            }
            IpAddr::V6(a) => {
                let (ip, tag, s) = Self::key6(port, a);
                self.ip[s] = ip;
                self.tag[s] = tag;
                self.mac[s] = mac;
                self.valid |= 1 << s;
            }
        }
    }
}

#[cfg(test)]
mod memo_tests {
    use super::*;

    #[test]
    fn memo_keeps_family_port_and_collisions_apart() {
        let mut m = NeighMemo::new();
        let v4: IpAddr = "10.0.2.254".parse().unwrap();
        // ::a00:2fe has the same low 32 bits as 10.0.2.254.
        let v6: IpAddr = "::a00:2fe".parse().unwrap();
        m.insert(PortId(1), v4, [1; 6]);
        assert_eq!(m.get(PortId(1), v4), Some([1; 6]));
        assert_eq!(m.get(PortId(2), v4), None);
        assert_eq!(m.get(PortId(1), v6), None);
        m.insert(PortId(1), v6, [2; 6]);
        assert_eq!(m.get(PortId(1), v6), Some([2; 6]));
        // Many next hops: the latest one is always there, and whatever
        // the memo answers is what was inserted for that very key.
        for i in 0..64u32 {
            let a = IpAddr::V4(std::net::Ipv4Addr::from(0x0a00_0200 + i));
            m.insert(PortId(1), a, [i as u8; 6]);
            assert_eq!(m.get(PortId(1), a), Some([i as u8; 6]));
        }
        for i in 0..64u32 {
            let a = IpAddr::V4(std::net::Ipv4Addr::from(0x0a00_0200 + i));
            let got = m.get(PortId(1), a);
            assert!(got.is_none() || got == Some([i as u8; 6]), "{a}: {got:?}");
        }
        m.clear();
        assert_eq!(m.get(PortId(1), v4), None);
    }
}
