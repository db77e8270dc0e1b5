//! NAT (`nf_nat`): SNAT / DNAT / MASQUERADE / REDIRECT bindings on the
//! conntrack entries of a worker's shard, and the packet rewriting that
//! follows them.
//!
//! A binding is the entry's reply tuple: [`setup`] (`nf_nat_setup_info`)
//! picks a unique tuple in the target's range ([`select`]), makes its
//! inverse the entry's reply tuple and sets `SRC_NAT`/`DST_NAT` and the
//! `*_NAT_DONE` bit; a connection's first packet that no rule binds gets a
//! null binding at each NAT hook ([`null_binding`]), which only changes
//! the tuple when it would clash. Every tracked packet is then rewritten
//! to the tuple of the other direction ([`manip`], `nf_nat_packet`), and
//! an ICMP error about a NAT'd flow has its quoted packet and outer
//! address de-translated ([`icmp_reply_translation`]).
//!
//! The translated port space is shared among workers (DESIGN.md,
//! "Conntrack sharding and NAT"): each worker owns a disjoint slice
//! ([`PortSlice`]), so a reply names the worker that owns its flow by its
//! destination port, and a frame that arrives at the wrong worker can be
//! handed to the owner.

pub mod jhash;
pub mod select;

use crate::conntrack::entry::status;
use crate::conntrack::tuple::{Dir, Tuple};
use crate::conntrack::Shard;
use crate::packet::{Batch, Counter, CtInfo};
use crate::wire::{checksum, L4Status, PacketMeta};
pub use select::{Manip, Range};

/// A worker's NAT state: its port slice and the random source of
/// `--random` and the kernel's random port offsets.
#[derive(Debug, Clone)]
pub struct Nat {
    pub slice: PortSlice,
    rng: u64,
}

impl Nat {
    pub fn new(worker: u32, workers: u32) -> Nat {
        Nat {
            slice: PortSlice::new(worker, workers),
            rng: 0x9e37_79b9_7f4a_7c15 ^ u64::from(worker).wrapping_mul(0xa24b_aed4_963e_e407),
        }
    }

    fn next(&mut self) -> u32 {
        // xorshift64*
        let mut x = self.rng;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.rng = x;
        (x.wrapping_mul(0x2545_f491_4f6c_dd1d) >> 32) as u32
    }
}

/// The manip type of a NAT hook (`HOOK2MANIP`): destination at
/// PREROUTING and OUTPUT, source at POSTROUTING and INPUT.
pub fn hook_manip(hook: sluice_config::iptables::Hook) -> Manip {
    use sluice_config::iptables::Hook;
    match hook {
        Hook::Prerouting | Hook::Output => Manip::Dst,
        _ => Manip::Src,
    }
}

fn done_bit(m: Manip) -> u32 {
    match m {
        Manip::Src => status::SRC_NAT_DONE,
        Manip::Dst => status::DST_NAT_DONE,
    }
}

/// `nf_nat_initialized`.
pub fn initialized(shard: &Shard, slot: u32, m: Manip) -> bool {
    shard
        .entry(slot)
        .is_some_and(|e| e.status & done_bit(m) != 0)
}

/// `nf_nat_setup_info`: binds the unconfirmed entry in `slot` to a tuple in
/// `range` for `m`. `Err` when no unique tuple is left in the range (the
/// packet is dropped, `nat.exhausted`).
pub fn setup(
    shard: &mut Shard,
    nat: &mut Nat,
    slot: u32,
    range: &Range,
    m: Manip,
) -> Result<bool, Counter> {
    let Some(e) = shard.entry(slot) else {
        return Ok(false);
    };
    if e.status & status::CONFIRMED != 0 || e.status & done_bit(m) != 0 {
        return Ok(false);
    }
    let Some(curr) = e.tuple[1].invert() else {
        return Ok(false);
    };
    let slice = nat.slice;
    let mut rand = || nat.next();
    let mut conns = ShardConns {
        table: &shard.table,
        slot,
    };
    let new = select::select(&curr, range, m, slice, &mut rand, &mut conns)
        .ok_or(Counter::NatExhausted)?;
    let mut changed = false;
    if new != curr {
        let reply = new.invert().ok_or(Counter::NatExhausted)?;
        shard.table_mut().set_reply(slot, reply);
        changed = true;
    }
    let Some(e) = shard.entry_mut(slot) else {
        return Ok(changed);
    };
    if changed {
        e.status |= match m {
            Manip::Src => status::SRC_NAT,
            Manip::Dst => status::DST_NAT,
        };
    }
    e.status |= done_bit(m);
    if m == Manip::Src {
        shard.table_mut().bysource_insert(slot);
    }
    Ok(changed)
}

/// The shard's table as selection sees it.
struct ShardConns<'a> {
    table: &'a crate::conntrack::Table,
    /// The entry being set up.
    slot: u32,
}

impl select::Conns for ShardConns<'_> {
    fn taken(&mut self, t: &Tuple, _check: select::Check) -> bool {
        t.invert()
            .and_then(|r| self.table.find(&r))
            .is_some_and(|(s, _)| s != self.slot)
    }

    fn same_src(&mut self, orig: &Tuple, visit: &mut dyn FnMut(&Tuple) -> bool) {
        let mut found = [0u32; 16];
        let n = self.table.same_source(orig, &mut found);
        // Newest first, as the kernel's list.
        for &s in found[..n].iter().rev() {
            if s == self.slot {
                continue;
            }
            if let Some(e) = self.table.get(s) {
                if e.status & status::SRC_NAT_DONE != 0 && visit(&e.tuple[1]) {
                    return;
                }
            }
        }
    }
}

/// `nf_nat_alloc_null_binding`: the address stays, the port changes only
/// if the tuple would clash.
pub fn null_binding(
    shard: &mut Shard,
    nat: &mut Nat,
    slot: u32,
    m: Manip,
) -> Result<bool, Counter> {
    let Some(e) = shard.entry(slot) else {
        return Ok(false);
    };
    let ip = match m {
        Manip::Src => e.tuple[1].dst,
        Manip::Dst => e.tuple[1].src,
    };
    let range = Range {
        addrs: Some((ip, ip)),
        ..Range::default()
    };
    setup(shard, nat, slot, &range, m)
}

/// Whether a packet of direction `dir` on an entry with `status` is
/// rewritten by manip `m` (`nf_nat_packet`'s status bit: the manip's own
/// bit in the original direction, the other one in the reply).
#[inline]
fn manips(status: u32, dir: Dir, m: Manip) -> bool {
    let mut bit = match m {
        Manip::Src => status::SRC_NAT,
        Manip::Dst => status::DST_NAT,
    };
    if dir == Dir::Reply {
        bit ^= status::NAT_MASK;
    }
    status & bit != 0
}

/// `nf_nat_packet`: rewrites packet `i` (of direction `dir` on the entry
/// in `slot`) for manip `m` when the entry's bindings say so.
/// `false`: the packet cannot be rewritten and is dropped (the kernel's
/// `l4proto_manip_pkt` failing: a GRE header shorter than 8 bytes).
pub fn packet(
    shard: &Shard,
    batch: &mut Batch<'_>,
    i: usize,
    slot: u32,
    dir: Dir,
    m: Manip,
) -> bool {
    let Some(e) = shard.entry(slot) else {
        return true;
    };
    if !manips(e.status, dir, m) {
        return true;
    }
    // The target: the other direction's tuple, inverted.
    let Some(target) = e.tuple[dir.other().index()].invert() else {
        return true;
    };
    let (frame, meta) = batch.frame_meta_mut(i);
    // `gre_manip_pkt` wants the 8 bytes of a GRE header with a key.
    if meta.protocol.0 == 47
        && meta.frag_offset == 0
        && (meta.l3_off as usize + meta.ip_len as usize) < meta.l4_off as usize + 8
    {
        return false;
    }
    if !manip_v4_fast(frame, meta, &target, m) {
        let l3 = meta.l3_off as usize;
        manip_ip(frame, l3, meta, &target, m);
    }
    true
}

/// [`manip_ip`] for the common case, an IPv4 packet with a whole TCP or
/// UDP header or an ICMP query, with 32-bit checksum updates; `false`
/// (nothing done) for anything else.
#[inline]
fn manip_v4_fast(frame: &mut [u8], meta: &mut PacketMeta, target: &Tuple, m: Manip) -> bool {
    if meta.ip_version != 4 || meta.l4 != L4Status::Parsed {
        return false;
    }
    let l3 = meta.l3_off as usize;
    let l4 = meta.l4_off as usize;
    let end = l3 + meta.ip_len as usize;
    let proto = meta.protocol.0;
    let need = match proto {
        6 => 20,
        17 => 8,
        1 => 8,
        _ => return false,
    };
    if end > frame.len() || l4 + need > end {
        return false;
    }
    let (aoff, new_addr, new_port) = match m {
        Manip::Src => (l3 + 12, &target.src, target.sport),
        Manip::Dst => (l3 + 16, &target.dst, target.dport),
    };
    let rd32 = |f: &[u8], o: usize| u32::from_be_bytes([f[o], f[o + 1], f[o + 2], f[o + 3]]);
    let rd16 = |f: &[u8], o: usize| u16::from_be_bytes([f[o], f[o + 1]]);
    let old_a = rd32(frame, aoff);
    let new_a = u32::from_be_bytes([new_addr[0], new_addr[1], new_addr[2], new_addr[3]]);
    match proto {
        1 => {
            if crate::conntrack::tuple::icmp_invert(false, frame[l4]).is_none() {
                return false;
            }
            // A query: its id is the tuple's source "port".
            let old_id = rd16(frame, l4 + 4);
            let new_id = target.sport;
            if old_id != new_id {
                let c = checksum::update16(rd16(frame, l4 + 2), old_id, new_id);
                frame[l4 + 2..l4 + 4].copy_from_slice(&c.to_be_bytes());
                frame[l4 + 4..l4 + 6].copy_from_slice(&new_id.to_be_bytes());
                meta.icmp_id = new_id;
            }
        }
        _ => {
            let poff = l4 + if m == Manip::Src { 0 } else { 2 };
            let coff = l4 + if proto == 6 { 16 } else { 6 };
            let old_port = rd16(frame, poff);
            frame[poff..poff + 2].copy_from_slice(&new_port.to_be_bytes());
            let hc = rd16(frame, coff);
            if !(proto == 17 && hc == 0) {
                let mut x = checksum::update32(hc, old_a, new_a);
                x = checksum::update16(x, old_port, new_port);
                if proto == 17 {
                    x = checksum::udp_wire(x);
                }
                frame[coff..coff + 2].copy_from_slice(&x.to_be_bytes());
            }
            match m {
                Manip::Src => meta.src_port = new_port,
                Manip::Dst => meta.dst_port = new_port,
            }
        }
    }
    frame[aoff..aoff + 4].copy_from_slice(&new_a.to_be_bytes());
    let hc = checksum::update32(rd16(frame, l3 + 10), old_a, new_a);
    frame[l3 + 10..l3 + 12].copy_from_slice(&hc.to_be_bytes());
    let ip = std::net::IpAddr::V4(new_a.into());
    match m {
        Manip::Src => meta.src = ip,
        Manip::Dst => meta.dst = ip,
    }
    true
}

/// `nf_nat_ipv4_manip_pkt` / `nf_nat_ipv6_manip_pkt` on the packet whose
/// IP header is at `l3`: the address of side `m` and the transport's
/// port (or ICMP query id), with every checksum updated. `meta` describes
/// it and is kept current. A TCP checksum is updated only when the whole
/// header is there (a datagram an ICMP error quotes may carry 8 bytes).
fn manip_ip(frame: &mut [u8], l3: usize, meta: &mut PacketMeta, target: &Tuple, m: Manip) {
    let v4 = meta.ip_version == 4;
    let alen = if v4 { 4 } else { 16 };
    let (aoff, new_addr) = match (m, v4) {
        (Manip::Src, true) => (l3 + 12, &target.src[..4]),
        (Manip::Dst, true) => (l3 + 16, &target.dst[..4]),
        (Manip::Src, false) => (l3 + 8, &target.src[..]),
        (Manip::Dst, false) => (l3 + 24, &target.dst[..]),
    };
    let end = (l3 + meta.ip_len as usize).min(frame.len());
    if aoff + alen > frame.len() {
        return;
    }
    let mut old_addr = [0u8; 16];
    old_addr[..alen].copy_from_slice(&frame[aoff..aoff + alen]);
    let l4 = meta.l4_off as usize;
    let proto = meta.protocol.0;
    let icmp = crate::conntrack::tuple::is_icmp(meta.ip_version, proto);
    if meta.l4 == L4Status::Parsed && l4 <= end {
        let seg_len = end - l4;
        let new_port = match m {
            Manip::Src => target.sport,
            Manip::Dst => target.dport,
        };
        match proto {
            6 | 17 | 33 | 132 | 136 if seg_len >= 4 => {
                let poff = l4 + if m == Manip::Src { 0 } else { 2 };
                let old_port = u16::from_be_bytes([frame[poff], frame[poff + 1]]);
                frame[poff..poff + 2].copy_from_slice(&new_port.to_be_bytes());
                let coff = match proto {
                    6 if seg_len >= 20 => Some(l4 + 16),
                    17 | 136 if seg_len >= 8 => Some(l4 + 6),
                    _ => None,
                };
                if let Some(c) = coff {
                    let hc = u16::from_be_bytes([frame[c], frame[c + 1]]);
                    let udp4 = proto == 17 && v4;
                    if !(udp4 && hc == 0) {
                        let mut x = checksum::update_bytes(hc, false, &old_addr[..alen], new_addr);
                        x = checksum::update16(x, old_port, new_port);
                        if udp4 {
                            x = checksum::udp_wire(x);
                        }
                        frame[c..c + 2].copy_from_slice(&x.to_be_bytes());
                    }
                }
                match m {
                    Manip::Src => meta.src_port = new_port,
                    Manip::Dst => meta.dst_port = new_port,
                }
            }
            _ if icmp
                && seg_len >= 8
                && crate::conntrack::tuple::icmp_invert(!v4, frame[l4]).is_some() =>
            {
                // A query: its id is the tuple's source "port".
                let old_id = u16::from_be_bytes([frame[l4 + 4], frame[l4 + 5]]);
                let new_id = target.sport;
                frame[l4 + 4..l4 + 6].copy_from_slice(&new_id.to_be_bytes());
                let hc = u16::from_be_bytes([frame[l4 + 2], frame[l4 + 3]]);
                let mut x = checksum::update16(hc, old_id, new_id);
                if !v4 {
                    x = checksum::update_bytes(x, false, &old_addr[..alen], new_addr);
                }
                frame[l4 + 2..l4 + 4].copy_from_slice(&x.to_be_bytes());
                meta.icmp_id = new_id;
            }
            _ if icmp && !v4 && seg_len >= 4 => {
                // An ICMPv6 error: its checksum covers the pseudo-header.
                let hc = u16::from_be_bytes([frame[l4 + 2], frame[l4 + 3]]);
                let x = checksum::update_bytes(hc, false, &old_addr[..alen], new_addr);
                frame[l4 + 2..l4 + 4].copy_from_slice(&x.to_be_bytes());
            }
            _ => {}
        }
    }
    frame[aoff..aoff + alen].copy_from_slice(new_addr);
    if v4 {
        let hc = u16::from_be_bytes([frame[l3 + 10], frame[l3 + 11]]);
        let x = checksum::update_bytes(hc, false, &old_addr[..4], new_addr);
        frame[l3 + 10..l3 + 12].copy_from_slice(&x.to_be_bytes());
    }
    let ip = crate::conntrack::tuple::ip(meta.ip_version, &{
        let mut a = [0u8; 16];
        a[..alen].copy_from_slice(new_addr);
        a
    });
    match m {
        Manip::Src => meta.src = ip,
        Manip::Dst => meta.dst = ip,
    }
}

/// `nf_nat_icmp_reply_translation` (and its IPv6 twin): an ICMP error
/// RELATED to the entry in `slot` gets the datagram it quotes rewritten
/// back as the other side sent it, its checksum recomputed, and its outer
/// address rewritten like a reply. `false`: drop it.
pub fn icmp_reply_translation(
    shard: &Shard,
    batch: &mut Batch<'_>,
    i: usize,
    slot: u32,
    info: CtInfo,
    m: Manip,
) -> bool {
    let Some(e) = shard.entry(slot) else {
        return true;
    };
    let dir = if info.is_reply() {
        Dir::Reply
    } else {
        Dir::Orig
    };
    let meta = *batch.meta(i);
    let v4 = meta.ip_version == 4;
    let l4 = meta.l4_off as usize;
    let end = meta.l3_off as usize + meta.ip_len as usize;
    {
        let frame = batch.frame(i);
        if frame.len() < end || end < l4 + 8 {
            return false;
        }
        // A redirect about a NAT'd flow is dropped (the kernel's check).
        if v4 && frame[l4] == 5 {
            if e.status & (status::SRC_NAT_DONE | status::DST_NAT_DONE)
                != (status::SRC_NAT_DONE | status::DST_NAT_DONE)
            {
                return false;
            }
            if e.status & status::NAT_MASK != 0 {
                return false;
            }
        }
    }
    if !manips(e.status, dir, m) {
        return true;
    }
    let other = e.tuple[dir.other().index()];
    let inner_m = match m {
        Manip::Src => Manip::Dst,
        Manip::Dst => Manip::Src,
    };
    let Some(mut target) = other.invert() else {
        return false;
    };
    target.proto = meta.protocol.0;
    // The quoted datagram as a packet of its own.
    let inner_l3 = l4 + 8;
    let (frame, meta) = batch.frame_meta_mut(i);
    let Some(mut inner) = quoted_meta(&frame[..end], inner_l3, meta.ip_version) else {
        return false;
    };
    manip_ip(&mut frame[..end], inner_l3, &mut inner, &other, inner_m);
    // The outer header: like a reply to what the other side sent; only
    // the address changes (an error's ICMP header has no id).
    let l4_status = meta.l4;
    meta.l4 = L4Status::Opaque;
    manip_ip(frame, meta.l3_off as usize, meta, &target, m);
    meta.l4 = l4_status;
    // The ICMP checksum over the whole message, recomputed (ICMPv6's
    // covers the pseudo-header with the new address).
    frame[l4 + 2] = 0;
    frame[l4 + 3] = 0;
    let c = if v4 {
        checksum::checksum(&frame[l4..end])
    } else {
        checksum::transport(&meta.src, &meta.dst, 58, &frame[l4..end])
    };
    frame[l4 + 2..l4 + 4].copy_from_slice(&c.to_be_bytes());
    true
}

/// A [`PacketMeta`] for the datagram quoted at `l3` of `frame` (as much of
/// it as the error carries).
fn quoted_meta(frame: &[u8], l3: usize, version: u8) -> Option<PacketMeta> {
    let q = frame.get(l3..)?;
    let (t, l4_rel) = crate::conntrack::track::quoted_tuple(version, q, 0)?;
    let mut m = PacketMeta::EMPTY;
    m.ip_version = version;
    m.l3_off = l3 as u16;
    m.l4_off = (l3 + l4_rel) as u16;
    m.ip_len = q.len() as u16;
    m.protocol = crate::wire::IpProtocol(t.proto);
    m.l4 = if q.len() > l4_rel {
        L4Status::Parsed
    } else {
        L4Status::Absent
    };
    Some(m)
}

/// The ports (or ICMP ids) one worker allocates: those equal to its index
/// modulo the number of workers, in every range. Interleaved rather than
/// cut into blocks, so that a port names its worker whatever range it
/// was chosen from ([`PortSlice::owner`]): a reply to a translated flow
/// finds the worker that owns the binding by its destination port alone.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PortSlice {
    worker: u32,
    workers: u32,
}

impl PortSlice {
    /// Worker `worker` of `workers` (at least 1).
    pub fn new(worker: u32, workers: u32) -> PortSlice {
        let workers = workers.max(1);
        PortSlice {
            worker: worker % workers,
            workers,
        }
    }

    /// Whether `port` is this worker's.
    #[inline]
    pub fn owns(&self, port: u16) -> bool {
        u32::from(port) % self.workers == self.worker
    }

    /// This worker's part of `lo..=hi`: its first port and how many it
    /// has (every `workers`-th port from there); `None` when it has none.
    pub fn part(&self, lo: u16, hi: u16) -> Option<(u16, u32)> {
        let (lo, hi) = (u32::from(lo.min(hi)), u32::from(hi.max(lo)));
        let first = lo + (self.worker + self.workers - lo % self.workers) % self.workers;
        if first > hi {
            return None;
        }
        Some((first as u16, (hi - first) / self.workers + 1))
    }

    /// The `k`-th port of the part that starts at `first`.
    #[inline]
    pub fn nth(&self, first: u16, k: u32) -> u16 {
        (u32::from(first) + k * self.workers) as u16
    }

    /// The worker that owns `port` among `workers`.
    #[inline]
    pub fn owner(port: u16, workers: u32) -> u32 {
        u32::from(port) % workers.max(1)
    }

    pub fn worker(&self) -> u32 {
        self.worker
    }

    pub fn workers(&self) -> u32 {
        self.workers
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slices_are_disjoint_and_cover_every_range() {
        for workers in 1..=7u32 {
            for (lo, hi) in [(1024u16, 65535u16), (0, 0), (10, 12), (500, 1000)] {
                let mut covered = Vec::new();
                for w in 0..workers {
                    let s = PortSlice::new(w, workers);
                    if let Some((first, n)) = s.part(lo, hi) {
                        for k in 0..n {
                            let p = s.nth(first, k);
                            assert!(s.owns(p) && (lo..=hi).contains(&p));
                            assert_eq!(PortSlice::owner(p, workers), w);
                            covered.push(p);
                        }
                    }
                }
                covered.sort_unstable();
                let want: Vec<u16> = (lo..=hi).collect();
                assert_eq!(covered, want, "{workers} workers, {lo}..={hi}");
            }
        }
        assert_eq!(PortSlice::new(1, 2).part(4, 4), None);
    }
}
