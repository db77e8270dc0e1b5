//! IPv6 reassembly for connection tracking, as the kernel's `nf_defrag_ipv6`
//! does it (`nf_ct_frag6_gather` and `nf_ct_frag6_queue` in
//! net/ipv6/netfilter/nf_conntrack_reasm.c, `inet_frag_queue_insert` in
//! net/ipv4/inet_fragment.c), and the split on output that `ip6_fragment`
//! makes of a reassembled datagram (`IP6CB(skb)->frag_max_size`).
//!
//! Sans-I/O: [`Defrag6::gather`] takes one IPv6 packet's bytes and the
//! worker's clock and says what became of it ([`Gather`]); the fragment's
//! data is copied into a fixed arena allocated once ([`Defrag6::new`]), so
//! the frame can go back to the fill ring at once, and nothing allocates
//! per packet. [`Defrag6::expire`] gives up datagrams past their timeout,
//! a bounded number per call. [`Datagram`] holds a reassembled datagram
//! and the fragments it came in: [`Datagram::split`] and
//! [`Datagram::fragment`] are the output side.
//!
//! **Status: wired** (`crate::pipeline::defrag`): the pipeline's defrag
//! point calls [`Defrag6::gather`] when IPv6 is tracked (user: PREROUTING
//! or OUTPUT, zone 0; `iif`: the port), the fragment's frame goes back to
//! the arena at once, a whole datagram becomes one packet in a jumbo frame
//! of the UMEM arena (larger than a 2 KiB chunk) that every stage reads as
//! any frame, with its [`Shape`] kept beside it; output cuts it again with
//! [`Shape::fragment_head`] and a new identification, or answers packet
//! too big before FORWARD when `frag_max_size` exceeds the route's MTU
//! (`ip6_pkt_too_big`). [`Defrag6::expire`] runs from the worker's poll
//! turn. Fragments of one datagram must reach one worker (addresses-only
//! RSS does it; whether a NIC hashing on ports treats every fragment,
//! the first one with its ports included, as address-only is the NIC's
//! choice, not checked here); a reassembled datagram whose flow another
//! worker owns is too big for the handoff ring and is dropped there,
//! counted (`handoff.too_big`). An expired datagram whose first fragment
//! had come is answered with the kernel's ICMPv6 time exceeded, quoting
//! that fragment as [`Defrag6::expire`] rebuilds it.
//!
//! What the kernel does, and here:
//!
//! | kernel | here |
//! |---|---|
//! | payload length 0 (jumbogram), no fragment header before the upper layer (`find_prev_fhdr`) | [`Gather::Accept`] |
//! | a first fragment that does not hold the whole upper-layer header (`ipv6frag_thdr_truncated`: TCP 20, UDP 8, ICMPv6 8, else 1 byte) | `Accept`: it goes on unreassembled (conntrack then tracks it by what it has) |
//! | fragment header past the packet (`pskb_may_pull`) | dropped, `defrag.truncated` |
//! | memory above `high_thresh` (`inet_frag_find` refuses every fragment, of old datagrams too) | dropped, `defrag.mem_limit` |
//! | `end` > 65 535 | dropped, `defrag.too_big`, the queue kept |
//! | a last fragment ending before data already held, or a second last fragment with another end; data past a last fragment's end | dropped, `defrag.bad_end`, the queue kept |
//! | a non-last fragment whose end is not a multiple of 8 (`-EPROTO`) | the queue killed and the fragment **accepted unreassembled** (`defrag.unaligned`): conntrack sees a fragment |
//! | an empty fragment (`end == offset`) | dropped, `defrag.empty` |
//! | inside one run of data already held (`IPFRAG_DUP`) | freed, the queue kept, `defrag.duplicate` |
//! | any other overlap (`IPFRAG_OVERLAP`, RFC 5722) | the queue killed, dropped, `defrag.overlap` |
//! | queued (`NF_STOLEN`) | [`Gather::Stolen`], `defrag.queued` |
//! | complete: fragment header removed, payload length set, ECN of the fragments combined (`ip_frag_ecn_table`; an invalid mix drops, `defrag.ecn`), `frag_max_size` = 40 + the largest fragment payload | [`Gather::Complete`], `defrag.reassembled` |
//! | reassembled payload > 65 535 | dropped, `defrag.too_big` |
//! | timeout (`nf_conntrack_frag6_timeout`, 60 s from the first fragment) | [`Defrag6::expire`], `defrag.timeout` |
//!
//! The queue key is (source, destination, identification, user, input
//! interface): `user` is the hook (PREROUTING and OUTPUT queue apart,
//! `IP6_DEFRAG_CONNTRACK_IN` / `_OUT`) plus the zone.
//!
//! **What the running kernel does** (Linux 6.18, `ip6tables-legacy` in a
//! namespace that forwards between two others, fragments sent with
//! AF_PACKET; held to the kernel by bench's `kernel_probe` test
//! `ipv6_fragments_reassembled_for_conntrack`, except the time exceeded and
//! the `nstat` counters, seen by hand):
//!
//! * The whole datagram traverses the hooks once: the rules count one
//!   packet of the reassembled length (3 000 bytes of UDP in three
//!   fragments: 1 packet, 3 040 bytes at raw PREROUTING and in FORWARD),
//!   conntrack makes one entry, and **`-m frag` matches nothing** (not even
//!   at raw PREROUTING: defrag runs at −400, before raw, and the datagram
//!   no longer has a fragment header).
//! * It leaves in **the fragments it came in** — same offsets and
//!   lengths, also when they are smaller than the IPv6 minimum MTU (six
//!   512-byte fragments left as six 512-byte fragments) — with the hop
//!   limit decremented and a **new identification**: `ip6_fragment`'s fast
//!   path walks the reassembled skb's `frag_list`; its slow path (cut at
//!   `frag_max_size`, raised to 1 280) only runs when that geometry does
//!   not fit. When the route's MTU is below `frag_max_size` nothing leaves
//!   (packet too big), though the rules at PREROUTING counted it.
//! * Overlapping fragments: nothing leaves and **no rule counts anything**
//!   — the datagram dies at −400, so `--ctstate INVALID` never sees it.
//! * An atomic fragment (offset 0, M clear) is not special in
//!   `nf_ct_frag6_gather` (unlike `ipv6_frag_rcv`): its queue is complete
//!   at once and it **leaves without its fragment header** (116 bytes of
//!   payload in, 108 out); the rules count the 148-byte packet.
//! * An incomplete datagram at `nf_conntrack_frag6_timeout`: the box sends
//!   an ICMPv6 time exceeded, code 1 (fragment reassembly), quoting the
//!   first fragment, from its address on the input port
//!   (`ip6frag_expire_frag_queue`, shared with local reassembly; only when
//!   the first fragment had come: [`Expired::first_in`]; sent here by the
//!   pipeline, `pipeline/defrag.rs`), and counts `Ip6ReasmTimeout` and `Ip6ReasmFails`; a datagram
//!   reassembled by conntrack moves neither `Ip6ReasmReqds` nor
//!   `Ip6ReasmOKs`.
//! * The sysctls of a fresh namespace: `nf_conntrack_frag6_high_thresh`
//!   4 194 304, `_low_thresh` 3 145 728, `_timeout` 60.
//!
//! Deliberate differences: memory is counted in arena blocks of
//! [`BLOCK`] bytes plus [`QUEUE_COST`] per datagram, not in `skb->truesize`;
//! the unfragmentable part of a datagram (IPv6 header and the extension
//! headers before the fragment header) may be at most [`BLOCK`] bytes
//! (`defrag.headers_too_long`), and a datagram may be held in at most
//! [`PIECES`] fragments (`defrag.too_many_fragments`) — the kernel has neither
//! limit (the 65th fragment of a datagram is dropped here; a datagram cut
//! that fine is an attack more than traffic). The kernel's `nf_conntrack_frag6_low_thresh` is not used by it
//! any more (since 4.17) and is not here.

use std::collections::HashMap;

use crate::packet::Counter;
use crate::wire::ipv6::{walk_ext_headers, FRAGMENT_HEADER_LEN, HEADER_LEN};
use crate::wire::IpProtocol;

/// Arena block size.
pub const BLOCK: usize = 1024;
/// Memory a datagram's queue counts for beyond its data blocks.
pub const QUEUE_COST: usize = 256;
/// Most fragments one datagram is held in.
pub const PIECES: usize = 64;
/// Most separate runs of data one datagram holds (each run holds at least
/// one fragment, so this is no further limit).
pub const RUNS: usize = PIECES;
/// The largest IPv6 payload (`IPV6_MAXPLEN`).
pub const MAX_PLEN: usize = 65_535;
/// Blocks one datagram's data may span.
const DATA_BLOCKS: usize = MAX_PLEN.div_ceil(BLOCK);
const NO_BLOCK: u16 = u16::MAX;
const NS: u64 = 1_000_000_000;

/// `nf_conntrack_frag6_high_thresh`: 4 MiB (`IPV6_FRAG_HIGH_THRESH`).
pub const DEFAULT_HIGH_THRESH: usize = 4 * 1024 * 1024;
/// `nf_conntrack_frag6_timeout`: 60 s (`IPV6_FRAG_TIMEOUT`).
pub const DEFAULT_TIMEOUT_SECS: u32 = 60;

/// What became of a packet given to [`Defrag6::gather`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Gather {
    /// Not for reassembly: the packet goes on as it is.
    Accept,
    /// The packet goes on as it is, after a queue was killed
    /// (`defrag.unaligned`, an informational counter).
    AcceptCounted(Counter),
    /// Queued: its data is held, the frame is free (`defrag.queued`).
    Stolen,
    /// The datagram is whole, written to the [`Datagram`] given.
    Complete,
    /// Dropped with this reason.
    Drop(Counter),
}

/// A datagram given up by [`Defrag6::expire`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Expired {
    /// Its first fragment had come (the kernel answers with an ICMPv6
    /// time exceeded then).
    pub first_in: bool,
    /// The input interface it was queued under.
    pub iif: u32,
}

/// Most bytes of an expired datagram's first fragment [`Defrag6::expire`]
/// rebuilds: what an ICMPv6 error quotes (1 280 − 48).
pub const FIRST_QUOTE: usize = 1232;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
struct Key {
    src: [u8; 16],
    dst: [u8; 16],
    id: u32,
    user: u32,
    iif: u32,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Run {
    start: u32,
    end: u32,
}

#[derive(Debug, Clone)]
struct Queue {
    key: Key,
    expires: u64,
    /// Data blocks by offset / BLOCK.
    blocks: [u16; DATA_BLOCKS],
    /// The first fragment's unfragmentable part (its own block).
    head_block: u16,
    head_len: u16,
    /// Offset of the next-header byte that named the fragment header.
    nhoff: u16,
    /// The next header the first fragment's fragment header named.
    nexthdr: u8,
    first_in: bool,
    last_in: bool,
    /// Bytes of data held, and the datagram's data length so far (`q.len`).
    meat: u32,
    len: u32,
    max_size: u16,
    ecn: u8,
    runs: [Run; RUNS],
    nruns: u8,
    /// Every fragment held, as (offset, end), in arrival order.
    pieces: [Run; PIECES],
    npieces: u8,
    /// Index into `runs` of the run that ends highest (the tail).
    tail: u8,
    used: bool,
    /// Neighbours in the expiry list (creation order; [`NIL`]: none).
    prev: u32,
    next: u32,
}

/// No queue (the expiry list's ends).
const NIL: u32 = u32::MAX;

impl Queue {
    fn empty() -> Queue {
        Queue {
            key: Key {
                src: [0; 16],
                dst: [0; 16],
                id: 0,
                user: 0,
                iif: 0,
            },
            expires: 0,
            blocks: [NO_BLOCK; DATA_BLOCKS],
            head_block: NO_BLOCK,
            head_len: 0,
            nhoff: 0,
            nexthdr: 0,
            first_in: false,
            last_in: false,
            meat: 0,
            len: 0,
            max_size: 0,
            ecn: 0,
            runs: [Run { start: 0, end: 0 }; RUNS],
            nruns: 0,
            pieces: [Run { start: 0, end: 0 }; PIECES],
            npieces: 0,
            tail: 0,
            used: false,
            prev: NIL,
            next: NIL,
        }
    }
}

/// Where a fragment goes among the runs already held
/// (`inet_frag_queue_insert`).
enum Insert {
    /// Appended to the tail run.
    Append,
    /// A new run.
    New,
    Dup,
    Overlap,
}

/// One worker's reassembly state: queues, the arena, the index.
#[derive(Debug)]
pub struct Defrag6 {
    arena: Box<[u8]>,
    free: Vec<u16>,
    queues: Box<[Queue]>,
    free_queues: Vec<u32>,
    index: HashMap<Key, u32, ahash::RandomState>,
    high_thresh: usize,
    mem: usize,
    timeout: u64,
    /// The expiry list: live queues oldest first. Every datagram gets the
    /// same timeout from its first fragment, so creation order is expiry
    /// order (the kernel arms a timer per queue).
    head: u32,
    tail: u32,
}

impl Defrag6 {
    /// A reassembler holding at most `high_thresh` bytes, giving a datagram
    /// `timeout_secs` from its first fragment. Everything is allocated here.
    pub fn new(high_thresh: usize, timeout_secs: u32) -> Defrag6 {
        // The check against the threshold comes before a fragment is
        // stored (as `inet_frag_find`), so one fragment's worth of blocks
        // (and a head block) may go past it.
        let nblocks = (high_thresh / BLOCK + DATA_BLOCKS + 2).min(NO_BLOCK as usize);
        let nqueues = high_thresh / (QUEUE_COST + BLOCK) + 1;
        Defrag6 {
            arena: vec![0; nblocks * BLOCK].into_boxed_slice(),
            free: (0..nblocks as u16).rev().collect(),
            queues: vec![Queue::empty(); nqueues].into_boxed_slice(),
            free_queues: (0..nqueues as u32).rev().collect(),
            // Twice the queues: never more than half full, so the removals'
            // tombstones are cleared by rehashing in place, never by growing.
            index: HashMap::with_capacity_and_hasher(2 * nqueues, ahash::RandomState::new()),
            high_thresh,
            mem: 0,
            timeout: u64::from(timeout_secs) * NS,
            head: NIL,
            tail: NIL,
        }
    }

    /// Bytes counted against the threshold.
    pub fn mem(&self) -> usize {
        self.mem
    }

    /// Datagrams being reassembled.
    pub fn queued(&self) -> usize {
        self.index.len()
    }

    /// `nf_ct_frag6_gather` for the IPv6 packet `pkt` (from its fixed
    /// header; bytes past the payload length are ignored), queued under
    /// `user` and `iif`. A whole datagram is written to `out`.
    pub fn gather(
        &mut self,
        pkt: &[u8],
        user: u32,
        iif: u32,
        now: u64,
        out: &mut Datagram,
    ) -> Gather {
        if pkt.len() < HEADER_LEN {
            return Gather::Accept;
        }
        let plen = usize::from(u16::from_be_bytes([pkt[4], pkt[5]]));
        if plen == 0 {
            return Gather::Accept;
        }
        let pkt = &pkt[..(HEADER_LEN + plen).min(pkt.len())];
        let Some((nhoff, fhoff)) = find_prev_fhdr(pkt) else {
            return Gather::Accept;
        };
        if thdr_truncated(pkt, fhoff) {
            return Gather::Accept;
        }
        let Some(fh) = pkt.get(fhoff..fhoff + FRAGMENT_HEADER_LEN) else {
            return Gather::Drop(Counter::DefragTruncated);
        };
        let nexthdr = fh[0];
        let off_m = u16::from_be_bytes([fh[2], fh[3]]);
        let id = u32::from_be_bytes([fh[4], fh[5], fh[6], fh[7]]);
        let more = off_m & 1 != 0;
        let offset = usize::from(off_m & 0xfff8);
        let data = &pkt[fhoff + FRAGMENT_HEADER_LEN..];
        let end = offset + data.len();
        let tclass = ((u32::from_be_bytes([pkt[0], pkt[1], pkt[2], pkt[3]]) >> 20) & 0xff) as u8;
        let ecn = 1u8 << (tclass & 3);

        if self.mem > self.high_thresh {
            return Gather::Drop(Counter::DefragMemLimit);
        }
        let mut key = Key {
            src: [0; 16],
            dst: [0; 16],
            id,
            user,
            iif,
        };
        key.src.copy_from_slice(&pkt[8..24]);
        key.dst.copy_from_slice(&pkt[24..40]);
        let qi = match self.index.get(&key) {
            Some(&qi) if self.queues[qi as usize].expires > now => qi as usize,
            found => {
                if let Some(&qi) = found {
                    // Timed out but not yet collected.
                    self.kill(qi as usize);
                }
                let Some(qi) = self.free_queues.pop() else {
                    return Gather::Drop(Counter::DefragMemLimit);
                };
                let q = &mut self.queues[qi as usize];
                *q = Queue::empty();
                q.key = key;
                q.expires = now + self.timeout;
                q.used = true;
                q.prev = self.tail;
                match self.tail {
                    NIL => self.head = qi,
                    t => self.queues[t as usize].next = qi,
                }
                self.tail = qi;
                self.index.insert(key, qi);
                self.mem += QUEUE_COST;
                qi as usize
            }
        };

        if end > MAX_PLEN {
            return Gather::Drop(Counter::DefragTooBig);
        }
        let q = &mut self.queues[qi];
        let end32 = end as u32;
        if !more {
            if end32 < q.len || (q.last_in && end32 != q.len) {
                return Gather::Drop(Counter::DefragBadEnd);
            }
            q.last_in = true;
            q.len = end32;
        } else {
            if end & 7 != 0 {
                self.kill(qi);
                return Gather::AcceptCounted(Counter::DefragUnaligned);
            }
            if end32 > q.len {
                if q.last_in {
                    return Gather::Drop(Counter::DefragBadEnd);
                }
                q.len = end32;
            }
        }
        if end == offset {
            return Gather::Drop(Counter::DefragEmpty);
        }
        if offset == 0 && fhoff > BLOCK {
            return Gather::Drop(Counter::DefragHeadersTooLong);
        }
        let at = match insert_point(q, offset as u32, end32) {
            Insert::Dup => return Gather::Drop(Counter::DefragDuplicate),
            Insert::Overlap => {
                self.kill(qi);
                return Gather::Drop(Counter::DefragOverlap);
            }
            Insert::New if usize::from(q.nruns) == RUNS => {
                return Gather::Drop(Counter::DefragTooManyFragments)
            }
            _ if usize::from(q.npieces) == PIECES => {
                return Gather::Drop(Counter::DefragTooManyFragments)
            }
            at => at,
        };
        // Store: the blocks the data touches, and the head.
        let (first_b, last_b) = (offset / BLOCK, (end - 1) / BLOCK);
        let need = (first_b..=last_b)
            .filter(|&b| self.queues[qi].blocks[b] == NO_BLOCK)
            .count()
            + usize::from(offset == 0);
        if need > self.free.len() {
            return Gather::Drop(Counter::DefragMemLimit);
        }
        for b in first_b..=last_b {
            if self.queues[qi].blocks[b] == NO_BLOCK {
                let Some(blk) = self.free.pop() else {
                    return Gather::Drop(Counter::DefragMemLimit);
                };
                self.queues[qi].blocks[b] = blk;
                self.mem += BLOCK;
            }
        }
        let mut pos = offset;
        while pos < end {
            let b = pos / BLOCK;
            let in_b = pos % BLOCK;
            let n = (BLOCK - in_b).min(end - pos);
            let base = usize::from(self.queues[qi].blocks[b]) * BLOCK + in_b;
            self.arena[base..base + n].copy_from_slice(&data[pos - offset..pos - offset + n]);
            pos += n;
        }
        if offset == 0 {
            let Some(blk) = self.free.pop() else {
                return Gather::Drop(Counter::DefragMemLimit);
            };
            self.mem += BLOCK;
            let base = usize::from(blk) * BLOCK;
            self.arena[base..base + fhoff].copy_from_slice(&pkt[..fhoff]);
            let q = &mut self.queues[qi];
            q.head_block = blk;
            q.head_len = fhoff as u16;
            q.nhoff = nhoff as u16;
            q.nexthdr = nexthdr;
            q.first_in = true;
        }
        let q = &mut self.queues[qi];
        match at {
            Insert::Append => q.runs[usize::from(q.tail)].end = end32,
            _ => {
                q.runs[usize::from(q.nruns)] = Run {
                    start: offset as u32,
                    end: end32,
                };
                if q.nruns == 0 || end32 > q.runs[usize::from(q.tail)].end {
                    q.tail = q.nruns;
                }
                q.nruns += 1;
            }
        }
        q.pieces[usize::from(q.npieces)] = Run {
            start: offset as u32,
            end: end32,
        };
        q.npieces += 1;
        q.meat += end32 - offset as u32;
        q.ecn |= ecn;
        q.max_size = q.max_size.max(plen as u16);
        if !(q.first_in && q.last_in && q.meat == q.len) {
            return Gather::Stolen;
        }
        let r = self.reassemble(qi, out);
        self.kill(qi);
        r
    }

    /// `nf_ct_frag6_reasm`: the whole datagram into `out`.
    fn reassemble(&self, qi: usize, dg: &mut Datagram) -> Gather {
        let q = &self.queues[qi];
        let ecn = match ECN_TABLE[usize::from(q.ecn & 0x0f)] {
            0xff => return Gather::Drop(Counter::DefragEcn),
            e => e,
        };
        let hlen = usize::from(q.head_len);
        let dlen = q.len as usize;
        let payload = hlen - HEADER_LEN + dlen;
        if payload > MAX_PLEN {
            return Gather::Drop(Counter::DefragTooBig);
        }
        let total = HEADER_LEN + payload;
        let Some(out) = dg.buf.get_mut(..total) else {
            return Gather::Drop(Counter::DefragTooBig);
        };
        let hb = usize::from(q.head_block) * BLOCK;
        out[..hlen].copy_from_slice(&self.arena[hb..hb + hlen]);
        out[usize::from(q.nhoff)] = q.nexthdr;
        out[4..6].copy_from_slice(&(payload as u16).to_be_bytes());
        // ipv6_change_dsfield(hdr, 0xff, ecn): the class byte | ecn.
        out[1] |= ecn << 4;
        let mut pos = 0;
        while pos < dlen {
            let b = pos / BLOCK;
            let n = BLOCK.min(dlen - pos);
            let base = usize::from(q.blocks[b]) * BLOCK;
            out[hlen + pos..hlen + pos + n].copy_from_slice(&self.arena[base..base + n]);
            pos += n;
        }
        dg.len = total;
        let sh = &mut dg.shape;
        sh.frag_max_size = (HEADER_LEN + usize::from(q.max_size)).min(usize::from(u16::MAX)) as u16;
        sh.hlen = hlen;
        sh.nhoff = usize::from(q.nhoff);
        // Offset order (they cover the datagram without overlap).
        let n = usize::from(q.npieces);
        sh.pieces[..n].copy_from_slice(&q.pieces[..n]);
        sh.pieces[..n].sort_unstable_by_key(|r| r.start);
        sh.npieces = n;
        Gather::Complete
    }

    /// `inet_frag_kill`: the queue and its blocks freed.
    fn kill(&mut self, qi: usize) {
        let q = &mut self.queues[qi];
        if !q.used {
            return;
        }
        for b in q.blocks.iter_mut().filter(|b| **b != NO_BLOCK) {
            self.free.push(*b);
            *b = NO_BLOCK;
            self.mem -= BLOCK;
        }
        if q.head_block != NO_BLOCK {
            self.free.push(q.head_block);
            q.head_block = NO_BLOCK;
            self.mem -= BLOCK;
        }
        q.used = false;
        let (prev, next) = (q.prev, q.next);
        (q.prev, q.next) = (NIL, NIL);
        match prev {
            NIL => self.head = next,
            p => self.queues[p as usize].next = next,
        }
        match next {
            NIL => self.tail = prev,
            n => self.queues[n as usize].prev = prev,
        }
        let q = &self.queues[qi];
        self.mem -= QUEUE_COST;
        self.index.remove(&q.key);
        self.free_queues.push(qi as u32);
    }

    /// Gives up datagrams whose timeout passed, oldest first, at most
    /// `budget` of them; calls `f` for each one given up, with its first
    /// fragment as it came (at most [`FIRST_QUOTE`] bytes of it: what
    /// `ip6frag_expire_frag_queue` answers about) when it had come, else
    /// an empty slice.
    pub fn expire(&mut self, now: u64, budget: usize, mut f: impl FnMut(Expired, &[u8])) {
        let mut first = [0u8; FIRST_QUOTE];
        for _ in 0..budget {
            let qi = self.head;
            let Some(q) = self.queues.get(qi as usize) else {
                return;
            };
            if q.expires > now {
                return;
            }
            let e = Expired {
                first_in: q.first_in,
                iif: q.key.iif,
            };
            let n = if q.first_in {
                self.first_fragment(qi as usize, &mut first)
            } else {
                0
            };
            self.kill(qi as usize);
            f(e, &first[..n]);
        }
    }

    /// The first fragment of queue `qi` as it came, cut to `out`'s length:
    /// its unfragmentable headers, a fragment header (offset 0, M set,
    /// the identification) and its data. Returns the bytes written.
    fn first_fragment(&self, qi: usize, out: &mut [u8]) -> usize {
        let q = &self.queues[qi];
        let hlen = usize::from(q.head_len);
        let Some(piece) = q.pieces[..usize::from(q.npieces)]
            .iter()
            .find(|r| r.start == 0)
        else {
            return 0;
        };
        let total = (hlen + FRAGMENT_HEADER_LEN + piece.end as usize).min(out.len());
        if q.head_block == NO_BLOCK || total < hlen + FRAGMENT_HEADER_LEN {
            return 0;
        }
        let hb = usize::from(q.head_block) * BLOCK;
        out[..hlen].copy_from_slice(&self.arena[hb..hb + hlen]);
        let f = &mut out[hlen..hlen + FRAGMENT_HEADER_LEN];
        f[0] = q.nexthdr;
        f[1] = 0;
        f[2..4].copy_from_slice(&1u16.to_be_bytes());
        f[4..8].copy_from_slice(&q.key.id.to_be_bytes());
        let mut pos = hlen + FRAGMENT_HEADER_LEN;
        let mut off = 0;
        while pos < total {
            let blk = q.blocks[off / BLOCK];
            if blk == NO_BLOCK {
                return pos;
            }
            let n = (BLOCK - off % BLOCK).min(total - pos);
            let base = usize::from(blk) * BLOCK + off % BLOCK;
            out[pos..pos + n].copy_from_slice(&self.arena[base..base + n]);
            pos += n;
            off += n;
        }
        total
    }
}

/// `ip_frag_ecn_table`: the ECN codepoint of a reassembled datagram from
/// the set of codepoints its fragments had (bit `1 << ecn`), 0xff: drop.
const ECN_TABLE: [u8; 16] = {
    const NOT_ECT: usize = 1;
    const ECT_1: usize = 2;
    const ECT_0: usize = 4;
    const CE: usize = 8;
    let mut t = [0u8; 16];
    t[CE | ECT_0] = 3;
    t[CE | ECT_1] = 3;
    t[CE | ECT_0 | ECT_1] = 3;
    let mut i = 0;
    while i < 16 {
        if i & NOT_ECT != 0 && i != NOT_ECT {
            t[i] = 0xff;
        }
        i += 1;
    }
    t
};

/// `inet_frag_queue_insert`'s placement: after the tail when it starts at
/// or past the tail's end (an overlap when it starts before), else against
/// every run: inside one is a duplicate, touching one otherwise an overlap.
fn insert_point(q: &Queue, offset: u32, end: u32) -> Insert {
    if q.nruns == 0 {
        return Insert::New;
    }
    let tail = q.runs[usize::from(q.tail)];
    if tail.end < end {
        if offset < tail.end {
            return Insert::Overlap;
        }
        return if offset == tail.end {
            Insert::Append
        } else {
            Insert::New
        };
    }
    for r in &q.runs[..usize::from(q.nruns)] {
        if end <= r.start || offset >= r.end {
            continue;
        }
        return if offset >= r.start && end <= r.end {
            Insert::Dup
        } else {
            Insert::Overlap
        };
    }
    Insert::New
}

/// `find_prev_fhdr`: the offsets of the next-header byte that names the
/// fragment header and of the fragment header, walking the extension
/// headers `ipv6_ext_hdr` knows; `None` when no fragment header comes
/// before the upper layer.
fn find_prev_fhdr(pkt: &[u8]) -> Option<(usize, usize)> {
    let mut next = pkt[6];
    let mut prev_nhoff = 6;
    let mut start = HEADER_LEN;
    while next != IpProtocol::IPV6_FRAG.0 {
        let ext = matches!(
            IpProtocol(next),
            IpProtocol::HOPOPTS | IpProtocol::IPV6_ROUTE | IpProtocol::AH | IpProtocol::IPV6_OPTS
        );
        if !ext {
            return None;
        }
        let h = pkt.get(start..start + 2)?;
        let len = if next == IpProtocol::AH.0 {
            (usize::from(h[1]) + 2) << 2
        } else {
            (usize::from(h[1]) + 1) << 3
        };
        prev_nhoff = start;
        next = h[0];
        start += len;
    }
    (start <= pkt.len()).then_some((prev_nhoff, start))
}

/// `ipv6frag_thdr_truncated`: a first fragment too short to hold its
/// upper-layer header (TCP 20 bytes, UDP and ICMPv6 8, anything else 1).
fn thdr_truncated(pkt: &[u8], fhoff: usize) -> bool {
    let Ok(up) = walk_ext_headers(pkt, fhoff, IpProtocol::IPV6_FRAG) else {
        return false;
    };
    if up.is_non_first_fragment() || up.protocol == IpProtocol::IPV6_NONXT {
        return false;
    }
    let need = match up.protocol {
        IpProtocol::TCP => 20,
        IpProtocol::UDP | IpProtocol::ICMPV6 => 8,
        _ => 1,
    };
    up.offset + need > pkt.len()
}

/// A reassembled datagram and how it came: written by
/// [`Defrag6::gather`], split again on output by
/// [`Datagram::split`] / [`Datagram::fragment`]. Allocated once.
#[derive(Debug, Clone)]
pub struct Datagram {
    buf: Box<[u8]>,
    len: usize,
    shape: Shape,
}

/// How a reassembled datagram came (`frag_max_size` and the skb's
/// `frag_list` geometry): what output needs to send it as it came, apart
/// from its bytes (the pipeline keeps the bytes in a jumbo frame, where
/// the stages may rewrite them).
#[derive(Debug, Clone, Copy)]
pub struct Shape {
    frag_max_size: u16,
    /// The unfragmentable part's length (IPv6 header and the extension
    /// headers before the fragment header).
    hlen: usize,
    /// Offset of the next-header byte that named the fragment header.
    nhoff: usize,
    /// The fragments it came in, (offset, end) in offset order.
    pieces: [Run; PIECES],
    npieces: usize,
}

impl Shape {
    /// No datagram.
    pub const EMPTY: Shape = Shape {
        frag_max_size: 0,
        hlen: 0,
        nhoff: 0,
        pieces: [Run { start: 0, end: 0 }; PIECES],
        npieces: 0,
    };

    /// `IP6CB(skb)->frag_max_size`: 40 + the largest fragment payload.
    pub fn frag_max_size(&self) -> u16 {
        self.frag_max_size
    }

    /// How many fragments it came in.
    pub fn pieces(&self) -> usize {
        self.npieces
    }

    /// `ip6_finish_output` and `ip6_fragment` for a datagram of `len`
    /// bytes and a route of MTU `mtu`: `Ok(false)` when it leaves whole
    /// (no longer than the route's MTU nor than `frag_max_size`: an
    /// atomic fragment leaves without its fragment header), `Ok(true)`
    /// when it leaves in the fragments it came in
    /// ([`Shape::fragment`]), `Err(mtu)` when they do not fit the route
    /// (a packet too big with that MTU).
    pub fn split(&self, len: usize, mtu: usize) -> Result<bool, usize> {
        let fms = usize::from(self.frag_max_size);
        if len <= mtu && len <= fms {
            return Ok(false);
        }
        if fms > mtu {
            return Err(mtu);
        }
        Ok(true)
    }

    /// Fragment `k` of the datagram `dg` (from its IPv6 header, as it is
    /// now: the stages may have rewritten it) into `out` with
    /// identification `id` — the fast path of `ip6_fragment` over the
    /// reassembled skb's `frag_list`: the fragments as they came (offsets
    /// and lengths), each behind the unfragmentable headers and a new
    /// fragment header. Returns its length; 0 past the last, when `out`
    /// is too small or `dg` too short.
    pub fn fragment(&self, dg: &[u8], k: usize, id: u32, out: &mut [u8]) -> usize {
        let Some((h, start, end)) = self.fragment_head(dg, k, id, out) else {
            return 0;
        };
        let len = h + end - start;
        match (out.get_mut(h..len), dg.get(start..end)) {
            (Some(o), Some(d)) => {
                o.copy_from_slice(d);
                len
            }
            _ => 0,
        }
    }

    /// The head of fragment `k` (see [`Shape::fragment`]): the
    /// unfragmentable headers of `head` (the datagram's first bytes, at
    /// least [`Shape::head_len`] of them) and a new fragment header,
    /// written to `out`, with the piece's payload length set. Returns the
    /// head's length and the piece's data as a range of the datagram
    /// (`None` past the last piece or when a buffer is too short): the
    /// caller copies the data after the head.
    pub fn fragment_head(
        &self,
        head: &[u8],
        k: usize,
        id: u32,
        out: &mut [u8],
    ) -> Option<(usize, usize, usize)> {
        if k >= self.npieces {
            return None;
        }
        let Run { start, end } = self.pieces[k];
        let (start, end) = (start as usize, end as usize);
        let hlen = self.hlen;
        let h = hlen + FRAGMENT_HEADER_LEN;
        let head = head.get(..hlen)?;
        let out = out.get_mut(..h)?;
        out[..hlen].copy_from_slice(head);
        out[self.nhoff] = IpProtocol::IPV6_FRAG.0;
        out[4..6].copy_from_slice(&((h + end - start - HEADER_LEN) as u16).to_be_bytes());
        let f = &mut out[hlen..h];
        f[0] = head[self.nhoff];
        f[1] = 0;
        let more = k + 1 < self.npieces;
        f[2..4].copy_from_slice(&((start as u16) | u16::from(more)).to_be_bytes());
        f[4..8].copy_from_slice(&id.to_be_bytes());
        Some((h, hlen + start, hlen + end))
    }

    /// The unfragmentable part's length (at most [`BLOCK`]).
    pub fn head_len(&self) -> usize {
        self.hlen
    }

    /// The length of the datagram it describes (IPv6 header included).
    pub fn len(&self) -> usize {
        let end = match self.npieces {
            0 => 0,
            n => self.pieces[n - 1].end as usize,
        };
        self.hlen + end
    }

    /// Describes no datagram.
    pub fn is_empty(&self) -> bool {
        self.npieces == 0
    }

    /// `ip6_fragment`'s slow path for the datagram when its length is
    /// `len` (the same unfragmentable headers) and its pieces no longer
    /// cover it (a stage changed it): pieces of at most `frag_max_size`
    /// (at least 1 280) and the route's `mtu`, all but the last a
    /// multiple of 8. `None` when that takes more than [`PIECES`].
    pub fn recut(&self, len: usize, mtu: usize) -> Option<Shape> {
        let m = mtu.min(usize::from(self.frag_max_size)).max(1280);
        let data = len.checked_sub(self.hlen)?;
        let step = m.checked_sub(self.hlen + FRAGMENT_HEADER_LEN)? & !7;
        if step == 0 || data == 0 || data.div_ceil(step) > PIECES {
            return None;
        }
        let mut s = *self;
        s.npieces = data.div_ceil(step);
        for (k, r) in s.pieces[..s.npieces].iter_mut().enumerate() {
            *r = Run {
                start: (k * step) as u32,
                end: ((k + 1) * step).min(data) as u32,
            };
        }
        Some(s)
    }
}

impl Default for Datagram {
    fn default() -> Self {
        Datagram::new()
    }
}

impl Datagram {
    pub fn new() -> Datagram {
        Datagram {
            buf: vec![0; HEADER_LEN + MAX_PLEN].into_boxed_slice(),
            len: 0,
            shape: Shape::EMPTY,
        }
    }

    /// The IPv6 packet, without the fragment header.
    pub fn bytes(&self) -> &[u8] {
        &self.buf[..self.len]
    }

    /// How it came.
    pub fn shape(&self) -> &Shape {
        &self.shape
    }

    /// `IP6CB(skb)->frag_max_size`: 40 + the largest fragment payload.
    pub fn frag_max_size(&self) -> u16 {
        self.shape.frag_max_size
    }

    /// How many fragments it came in.
    pub fn pieces(&self) -> usize {
        self.shape.npieces
    }

    /// [`Shape::split`] of this datagram.
    pub fn split(&self, mtu: usize) -> Result<bool, usize> {
        self.shape.split(self.len, mtu)
    }

    /// [`Shape::fragment`] of this datagram.
    pub fn fragment(&self, k: usize, id: u32, out: &mut [u8]) -> usize {
        self.shape.fragment(self.bytes(), k, id, out)
    }
}

#[cfg(test)]
mod tests;
