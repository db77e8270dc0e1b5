//! The defrag point and the way out of a reassembled datagram: IPv6
//! fragments reassembled for conntrack as `nf_defrag_ipv6` does
//! (`ipv6_defrag` at PREROUTING and OUTPUT −400 → `nf_ct_frag6_gather`;
//! the reassembler is [`crate::conntrack::defrag6`]), and the datagram
//! sent on in the fragments it came in (`ip6_finish_output` →
//! `ip6_fragment`'s fast path over the skb's `frag_list`).
//!
//! Only when the snapshot tracks IPv6 (an ip6tables rule needs conntrack:
//! the kernel registers the defrag hooks with conntrack); without it
//! fragments go on one by one. At the point, an IPv6 packet with a
//! fragment header is given to the reassembler: a fragment it holds
//! leaves the batch and its frame goes back to the arena at once (its
//! data is copied, `defrag.queued`); a bad one is dropped with the
//! reassembler's reason (an overlap kills the datagram before any rule
//! sees it, as in the kernel); the fragment that completes a datagram
//! turns into a packet of the whole datagram (`defrag.reassembled`):
//!
//! * The datagram lives in a **jumbo frame** of the worker's arena
//!   ([`crate::io::JUMBO_SLOTS`], larger than a chunk): its link-layer
//!   header is the completing fragment's, then the IPv6 packet without
//!   its fragment header, payload length the whole's. Every stage reads
//!   and writes it as any frame — the rules count its whole length,
//!   `-m length` sees it, conntrack checks the checksum over the whole
//!   payload, NAT updates the L4 checksum (in the first bytes)
//!   incrementally, REJECT and ICMPv6 errors quote the reassembled
//!   datagram, as the kernel's (they quote the reassembled skb).
//! * How it came ([`Shape`]: the pieces, `frag_max_size`) is kept per
//!   jumbo slot. `ip6_forward`'s `ip6_pkt_too_big` lets it through when
//!   `frag_max_size` fits the route's MTU, whatever its length
//!   ([`Core::defrag_fits`]). On output ([`Core::jumbo_output`]) it is cut
//!   again into the fragments it came in, the headers as the stages left
//!   them (NAT's addresses, the hop limit), with a new identification
//!   (`ipv6_select_ident`: the kernel's is a keyed hash, random to an
//!   observer; here a per-worker counter), or leaves whole in a chunk
//!   when it fits the MTU and `frag_max_size` (an atomic fragment leaves
//!   without its fragment header). A datagram whose length a stage changed
//!   (TCPMSS adding an option to a SYN) no longer matches its pieces: it
//!   is cut anew in pieces of `frag_max_size` (at least 1 280) as
//!   `ip6_fragment`'s slow path does (`defrag.recut`).
//! * To the box: the whole datagram is punted to the host's TAP (the
//!   kernel delivers it reassembled to INPUT's sockets).
//! * Jumbo slots are a bounded pool: a datagram completed while all are
//!   in use is dropped (`defrag.no_buffer`). A reassembled datagram whose
//!   flow another worker owns is dropped at the handoff
//!   (`handoff.too_big`): fragments of one datagram and the datagram's
//!   flow must reach one worker, which addresses-only RSS gives.
//! * Expiry: [`Pipeline::poll`] gives up datagrams past
//!   `nf_conntrack_frag6_timeout`, at most [`EXPIRE_BUDGET`] given up
//!   per turn (`defrag.timeout`), with the kernel's ICMPv6 time exceeded
//!   (code 1, fragment reassembly) quoting the first fragment when it
//!   had come, from the box's address toward the sender.

use super::*;
use crate::conntrack::defrag6::{
    Datagram, Defrag6, Gather, Shape, BLOCK, DEFAULT_HIGH_THRESH, DEFAULT_TIMEOUT_SECS, FIRST_QUOTE,
};
use crate::io::JUMBO_SLOTS;

/// `IP6_DEFRAG_CONNTRACK_IN` and `_OUT` for zone 0 (defrag runs before
/// raw's `CT --zone`, so its queues are zone 0's).
const USER_IN: u32 = 0;
const USER_OUT: u32 = 1;

/// Most datagrams [`Defrag6::expire`] gives up per poll turn.
pub(super) const EXPIRE_BUDGET: usize = 256;

/// One worker's reassembly state: the reassembler, its output buffer and
/// the shape of the datagram in each jumbo slot.
#[derive(Debug)]
pub struct Defrag {
    pub reasm: Defrag6,
    dg: Datagram,
    shapes: Box<[Shape]>,
    ident: u32,
}

impl Defrag {
    /// With the kernel's defaults (`nf_conntrack_frag6_high_thresh`,
    /// `_timeout`); everything is allocated here.
    pub fn new(worker: u32) -> Defrag {
        Defrag {
            reasm: Defrag6::new(DEFAULT_HIGH_THRESH, DEFAULT_TIMEOUT_SECS),
            dg: Datagram::new(),
            shapes: vec![Shape::EMPTY; JUMBO_SLOTS].into_boxed_slice(),
            ident: worker.wrapping_mul(0x9e37_79b9),
        }
    }

    /// The shape of the reassembled datagram in `d` (`None`: not one).
    fn shape(&self, umem: &Umem, d: Desc) -> Option<&Shape> {
        umem.jumbo_slot(d).and_then(|s| self.shapes.get(s))
    }

    /// The completed datagram into a jumbo frame that replaces `p`'s.
    fn load(&mut self, umem: &mut Umem, p: &mut Pkt) -> Result<(), Counter> {
        let l3 = p.meta.l3_off as usize;
        let dg = self.dg.bytes();
        let total = l3 + dg.len();
        if total > usize::from(u16::MAX) {
            return Err(Counter::DefragTooBig);
        }
        let Some(mut j) = umem.alloc_jumbo() else {
            return Err(Counter::DefragNoBuffer);
        };
        let slot = umem.jumbo_slot(j).unwrap_or(JUMBO_SLOTS);
        if !umem.set_len(&mut j, total) {
            umem.free(j);
            return Err(Counter::DefragTooBig);
        }
        umem.copy(p.desc, 0, j, 0, l3);
        umem.bytes_mut(j)[l3..].copy_from_slice(dg);
        let mut meta = PacketMeta::EMPTY;
        if let Err(e) = wire::parse_into(umem.bytes(j), &mut meta) {
            umem.free(j);
            return Err(input::parse_error(e));
        }
        if let Some(sh) = self.shapes.get_mut(slot) {
            *sh = *self.dg.shape();
        }
        umem.free(p.desc);
        p.desc = j;
        p.meta = meta;
        Ok(())
    }

    fn next_ident(&mut self) -> u32 {
        self.ident = self.ident.wrapping_add(1);
        self.ident
    }
}

impl Core {
    /// The defrag point of `hook` (PREROUTING or OUTPUT) over `sel`.
    pub(super) fn defrag(
        &mut self,
        umem: &mut Umem,
        b: &mut BatchBuf,
        hook: Hook,
        sel: u64,
        now: Instant,
    ) {
        let st = &mut self.st;
        let Some(df) = st.defrag.as_deref_mut() else {
            return;
        };
        let user = if hook == Hook::Output {
            USER_OUT
        } else {
            USER_IN
        };
        let clock = st.conntrack.clock(now);
        for i in Bits(sel & b.live) {
            let p = &b.pkts[i];
            if p.meta.ip_version != 6 {
                continue;
            }
            let l3 = p.meta.l3_off as usize;
            let frame = umem.bytes(p.desc);
            // Only an extension header leads to a fragment header
            // (`find_prev_fhdr`): anything else goes on at once.
            if !matches!(frame.get(l3 + 6), Some(&(0 | 43 | 44 | 51 | 60))) {
                continue;
            }
            let iif = p.iif.map_or(0, |x| u32::from(x.0) + 1);
            let Some(pkt) = frame.get(l3..) else {
                continue;
            };
            match df.reasm.gather(pkt, user, iif, clock, &mut df.dg) {
                Gather::Accept => {}
                Gather::AcceptCounted(c) => self.out.counters.inc(c),
                Gather::Stolen => {
                    self.out.counters.inc(Counter::DefragQueued);
                    umem.free(p.desc);
                    b.retire(i);
                }
                Gather::Drop(c) => b.finish(i, Verdict::Drop(c)),
                Gather::Complete => match df.load(umem, &mut b.pkts[i]) {
                    Ok(()) => {
                        self.out.counters.inc(Counter::DefragQueued);
                        self.out.counters.inc(Counter::DefragReassembled);
                    }
                    Err(c) => b.finish(i, Verdict::Drop(c)),
                },
            }
        }
    }

    /// `ip6_pkt_too_big`'s exception: a reassembled datagram `d` whose
    /// `frag_max_size` fits `mtu` is no packet too big, whatever its
    /// length (`ignore_df`).
    #[cold]
    pub(super) fn defrag_fits(&self, umem: &Umem, d: Desc, mtu: usize) -> bool {
        self.st
            .defrag
            .as_deref()
            .and_then(|df| df.shape(umem, d))
            .is_some_and(|s| usize::from(s.frag_max_size()) <= mtu)
    }

    /// A reassembled datagram out of `oif` (MTU `limit`): `ip6_fragment`
    /// sends it in the fragments it came in, or whole when it fits both
    /// the MTU and its `frag_max_size`; a geometry that does not fit the
    /// MTU is dropped (forwarded ones were answered before FORWARD).
    #[cold]
    #[inline(never)]
    #[allow(clippy::too_many_arguments)]
    pub(super) fn jumbo_output(
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
        let too_big = if p.iif.is_none() {
            Counter::OutputTooBig
        } else {
            Counter::ForwardTooBig
        };
        let Some(df) = self.st.defrag.as_deref_mut() else {
            b.finish(i, Verdict::Drop(too_big));
            return;
        };
        let Some(&shape) = df.shape(umem, p.desc) else {
            b.finish(i, Verdict::Drop(too_big));
            return;
        };
        let l3 = p.meta.l3_off as usize;
        let len = p.meta.ip_len as usize;
        let mut frags = [Desc::default(); MAX_FRAGS];
        let (n, first_at) = match shape.split(len, limit) {
            Err(_) => {
                b.finish(i, Verdict::Drop(too_big));
                return;
            }
            Ok(false) => {
                let Some(mut f) = umem.alloc() else {
                    b.finish(i, Verdict::Drop(Counter::FragNoBuffer));
                    return;
                };
                if !umem.set_len(&mut f, l3 + len) {
                    umem.free(f);
                    b.finish(i, Verdict::Drop(too_big));
                    return;
                }
                umem.copy(p.desc, 0, f, 0, l3 + len);
                frags[0] = f;
                (1, l3)
            }
            Ok(true) => {
                // A stage changed its length: the slow path.
                let shape = if shape.len() == len {
                    shape
                } else {
                    let Some(s) = shape.recut(len, limit) else {
                        b.finish(i, Verdict::Drop(too_big));
                        return;
                    };
                    self.out.counters.inc(Counter::DefragRecut);
                    s
                };
                let hl = shape.head_len();
                let mut head = [0u8; BLOCK];
                let Some(h) = umem.bytes(p.desc).get(l3..l3 + hl) else {
                    b.finish(i, Verdict::Drop(too_big));
                    return;
                };
                head[..hl].copy_from_slice(h);
                let id = df.next_ident();
                let n = shape.pieces().min(MAX_FRAGS);
                let at = ethernet::HEADER_LEN;
                for k in 0..n {
                    let made = piece(umem, &shape, &head[..hl], k, id, p.desc, l3);
                    let Some(f) = made else {
                        for g in &frags[..k] {
                            umem.free(*g);
                        }
                        b.finish(i, Verdict::Drop(Counter::FragNoBuffer));
                        return;
                    };
                    frags[k] = f;
                }
                self.out.counters.inc(Counter::DefragRefragmented);
                self.out.counters.add(Counter::FragCreated, (n - 1) as u64);
                (n, at)
            }
        };
        // The fragments (or the copy) stand for the datagram's frame.
        umem.free(p.desc);
        self.send_pieces(snap, umem, &p, oif, src_mac, &mut frags[..n], first_at, now);
    }

    /// Gives up datagrams past their timeout (once per poll turn); about
    /// one whose first fragment had come, an ICMPv6 time exceeded (code
    /// 1, fragment reassembly) quoting that fragment, as
    /// `ip6frag_expire_frag_queue` sends.
    pub(super) fn defrag_expire(&mut self, snap: &Snapshot, umem: &mut Umem, now: Instant) {
        let Some(df) = self.st.defrag.as_deref_mut() else {
            return;
        };
        let clock = self.st.conntrack.clock(now);
        let mut first = [0u8; FIRST_QUOTE];
        for _ in 0..EXPIRE_BUDGET {
            let mut gone = None;
            df.reasm.expire(clock, 1, |e, f| {
                first[..f.len()].copy_from_slice(f);
                gone = Some((e, f.len()));
            });
            let Some((e, n)) = gone else {
                break;
            };
            self.out.counters.inc(Counter::DefragTimeout);
            if n != 0 {
                self.out.expired_error(snap, umem, e.iif, &first[..n], now);
            }
        }
    }
}

impl Out {
    /// The time exceeded about an expired datagram's first fragment
    /// `first` (an IPv6 packet) that came in on port `iif - 1`.
    #[cold]
    fn expired_error(
        &mut self,
        snap: &Snapshot,
        umem: &mut Umem,
        iif: u32,
        first: &[u8],
        now: Instant,
    ) {
        let Some(iif) = iif.checked_sub(1).and_then(|i| u16::try_from(i).ok()) else {
            return;
        };
        let Some(mut d) = umem.alloc() else {
            self.counters.inc(Counter::IcmpNoBuffer);
            return;
        };
        let at = ethernet::HEADER_LEN;
        if !umem.set_len(&mut d, at + first.len()) {
            umem.free(d);
            self.counters.inc(Counter::IcmpNoBuffer);
            return;
        }
        let buf = umem.bytes_mut(d);
        buf[..at].fill(0);
        buf[12..at].copy_from_slice(&EtherType::IPV6.0.to_be_bytes());
        buf[at..].copy_from_slice(first);
        let mut meta = PacketMeta::EMPTY;
        if wire::parse_into(umem.bytes(d), &mut meta).is_ok() {
            let mut p = Pkt::generated(d, meta);
            p.iif = Some(PortId(iif));
            if snap.net.is_own(meta.dst) {
                p.dest = Dest::Local;
            }
            self.icmp_error(umem, snap, &p, ErrorKind::ReassemblyTimeExceeded, now);
        }
        umem.free(d);
    }
}

/// Fragment `k` of the datagram in `src` (IPv6 header at `l3`, its first
/// bytes in `head`) in a new frame, its IPv6 header at 14.
fn piece(
    umem: &mut Umem,
    shape: &Shape,
    head: &[u8],
    k: usize,
    id: u32,
    src: Desc,
    l3: usize,
) -> Option<Desc> {
    let at = ethernet::HEADER_LEN;
    let mut f = umem.alloc()?;
    let ok = umem.set_len(&mut f, at + head.len() + wire::ipv6::FRAGMENT_HEADER_LEN)
        && match shape.fragment_head(head, k, id, &mut umem.bytes_mut(f)[at..]) {
            Some((h, s, e)) if umem.set_len(&mut f, at + h + e - s) => {
                umem.copy(src, l3 + s, f, at + h, e - s);
                true
            }
            _ => false,
        };
    if ok {
        Some(f)
    } else {
        umem.free(f);
        None
    }
}
