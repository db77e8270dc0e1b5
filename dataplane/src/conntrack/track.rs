//! `nf_conntrack_in` for one packet: its tuple, ICMP errors, the lookup
//! or a new entry, and the protocol's state update.

use super::entry::{status, Entry, ProtoState};
use super::table::EVICTION_RANGE;
use super::tcp::{self, TcpConn, TcpSeg, TcpVerdict};
use super::tuple::{addr, icmp_is_query, Dir, Tuple};
use super::{ctinfo, Shard, NS};
use crate::packet::{Batch, Counter, CtInfo};
use crate::wire::{checksum, IpProtocol, L4Status, PacketMeta};

/// What conntrack decided for a packet.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    Tracked(u32, CtInfo),
    /// No entry: `--ctstate INVALID`.
    Invalid,
    /// The packet's flow was created earlier in this batch: run it again
    /// after the batch.
    Defer,
    /// `nf_ct_set(skb, NULL, IP_CT_UNTRACKED)` (IPv6 ND and MLD).
    Untracked,
    /// The flow may be another worker's: hand the packet to it, with
    /// this hop ([`Shard::owner_on_miss`]).
    Handoff(u32, u8),
    /// Dropped (the table is full).
    Drop(Counter),
}

/// The tuple of the packet described by `meta` in `zone`; `None` when it
/// has none (a non-first fragment, a truncated transport header).
pub fn packet_tuple(meta: &PacketMeta, zone: u16) -> Option<Tuple> {
    let proto = meta.protocol.0;
    let family = meta.ip_version;
    let mut t = Tuple {
        src: addr(meta.src),
        dst: addr(meta.dst),
        sport: 0,
        dport: 0,
        proto,
        family,
        zone,
    };
    match meta.l4 {
        L4Status::Fragment | L4Status::Invalid => return None,
        L4Status::Parsed => {}
        L4Status::Absent | L4Status::Opaque => {
            if super::tuple::has_ports(proto) || super::tuple::is_icmp(family, proto) {
                return None;
            }
            return Some(t);
        }
    }
    if super::tuple::is_icmp(family, proto) {
        t.sport = meta.icmp_id;
        t.dport = (u16::from(meta.icmp_type) << 8) | u16::from(meta.icmp_code);
    } else if super::tuple::has_ports(proto) {
        t.sport = meta.src_port;
        t.dport = meta.dst_port;
    }
    Some(t)
}

/// The datagrams whose first fragment was tracked: (source, destination,
/// IP id, protocol, zone) → its entry, for `FRAG_TIMEOUT`, in a fixed
/// array (a newer datagram takes the place of an older one that hashes
/// alike).
#[derive(Debug, Clone)]
pub struct FragMap {
    slots: Box<[FragSlot]>,
}

#[derive(Debug, Clone, Copy, Default)]
struct FragSlot {
    key: (u32, u32, u32, u8, u16),
    slot: u32,
    dir: u8,
    expires: u64,
    used: bool,
}

/// How long later fragments follow a first one (`ipfrag_time`, 30 s).
const FRAG_TIMEOUT: u64 = 30 * NS;
const FRAG_SLOTS: usize = 1024;

impl FragMap {
    pub fn new() -> FragMap {
        FragMap {
            slots: vec![FragSlot::default(); FRAG_SLOTS].into_boxed_slice(),
        }
    }

    fn key(meta: &PacketMeta, zone: u16) -> Option<(u32, u32, u32, u8, u16)> {
        match (meta.src, meta.dst) {
            (std::net::IpAddr::V4(s), std::net::IpAddr::V4(d)) => Some((
                u32::from(s),
                u32::from(d),
                meta.ident,
                meta.protocol.0,
                zone,
            )),
            _ => None,
        }
    }

    fn index(k: &(u32, u32, u32, u8, u16)) -> usize {
        let x = (u64::from(k.0) << 32 | u64::from(k.1))
            ^ (u64::from(k.2) << 16 | u64::from(k.3) << 8 | u64::from(k.4) << 40);
        ((x.wrapping_mul(0x9e37_79b9_7f4a_7c15)) >> 54) as usize % FRAG_SLOTS
    }

    pub(super) fn remember(&mut self, meta: &PacketMeta, zone: u16, slot: u32, dir: Dir, now: u64) {
        if let Some(k) = FragMap::key(meta, zone) {
            self.slots[FragMap::index(&k)] = FragSlot {
                key: k,
                slot,
                dir: dir as u8,
                expires: now + FRAG_TIMEOUT,
                used: true,
            };
        }
    }

    fn find(&self, meta: &PacketMeta, zone: u16, now: u64) -> Option<(u32, Dir)> {
        let k = FragMap::key(meta, zone)?;
        let f = &self.slots[FragMap::index(&k)];
        (f.used && f.key == k && f.expires > now)
            .then_some((f.slot, if f.dir == 0 { Dir::Orig } else { Dir::Reply }))
    }
}

impl Default for FragMap {
    fn default() -> Self {
        FragMap::new()
    }
}

/// A later fragment of a datagram whose first fragment was tracked: its
/// entry's state in the first fragment's direction (`None`: INVALID).
fn later_fragment(sh: &mut Shard, meta: &PacketMeta, zone: u16, now: u64) -> Outcome {
    let Some((slot, dir)) = sh.frags.find(meta, zone, now) else {
        return Outcome::Invalid;
    };
    let Some(e) = sh.table.get(slot) else {
        return Outcome::Invalid;
    };
    if e.tuple[dir.index()].src != addr(meta.src) {
        // The slot was reused by another connection.
        return Outcome::Invalid;
    }
    if e.status & status::CONFIRMED == 0 {
        // The first fragment is in this batch: after it.
        return Outcome::Defer;
    }
    Outcome::Tracked(slot, ctinfo(dir, e.status))
}

/// ICMP error types conntrack relates to a flow (`icmp_is_err`).
fn icmp_is_err(v6: bool, ty: u8) -> bool {
    if v6 {
        ty < 128
    } else {
        matches!(ty, 3 | 4 | 5 | 11 | 12)
    }
}

/// The tuple of the datagram an ICMP error quotes (`nf_ct_get_tuplepr` on
/// the inner header): `None` when it cannot be read or has no tuple.
pub fn quoted_tuple(family: u8, quoted: &[u8], zone: u16) -> Option<(Tuple, usize)> {
    let (mut t, l4) = if family == 4 {
        if quoted.len() < 20 || quoted[0] >> 4 != 4 {
            return None;
        }
        let ihl = usize::from(quoted[0] & 0x0f) * 4;
        if ihl < 20 || quoted.len() < ihl {
            return None;
        }
        // A non-first fragment has no transport header.
        if u16::from_be_bytes([quoted[6], quoted[7]]) & 0x1fff != 0 {
            return None;
        }
        let mut src = [0u8; 16];
        let mut dst = [0u8; 16];
        src[..4].copy_from_slice(&quoted[12..16]);
        dst[..4].copy_from_slice(&quoted[16..20]);
        (
            Tuple {
                src,
                dst,
                sport: 0,
                dport: 0,
                proto: quoted[9],
                family: 4,
                zone,
            },
            ihl,
        )
    } else {
        if quoted.len() < 40 || quoted[0] >> 4 != 6 {
            return None;
        }
        let mut src = [0u8; 16];
        let mut dst = [0u8; 16];
        src.copy_from_slice(&quoted[8..24]);
        dst.copy_from_slice(&quoted[24..40]);
        let (mut nh, mut off) = (quoted[6], 40usize);
        // Extension headers (hop-by-hop, routing, destination options,
        // fragment), as `ipv6_skip_exthdr` walks them.
        for _ in 0..8 {
            match nh {
                0 | 43 | 60 => {
                    let h = quoted.get(off..off + 2)?;
                    nh = h[0];
                    off += (usize::from(h[1]) + 1) * 8;
                }
                44 => {
                    let h = quoted.get(off..off + 8)?;
                    if u16::from_be_bytes([h[2], h[3]]) & 0xfff8 != 0 {
                        return None;
                    }
                    nh = h[0];
                    off += 8;
                }
                _ => break,
            }
        }
        (
            Tuple {
                src,
                dst,
                sport: 0,
                dport: 0,
                proto: nh,
                family: 6,
                zone,
            },
            off,
        )
    };
    if super::tuple::is_icmp(family, t.proto) {
        let h = quoted.get(l4..l4 + 8)?;
        let v6 = family == 6;
        // An error quoting an error is not tracked.
        if icmp_is_err(v6, h[0]) {
            return None;
        }
        t.sport = u16::from_be_bytes([h[4], h[5]]);
        t.dport = (u16::from(h[0]) << 8) | u16::from(h[1]);
    } else if super::tuple::has_ports(t.proto) {
        let h = quoted.get(l4..l4 + 4)?;
        t.sport = u16::from_be_bytes([h[0], h[1]]);
        t.dport = u16::from_be_bytes([h[2], h[3]]);
    }
    Some((t, l4))
}

/// Whether the transport checksum of the packet verifies
/// (`nf_ip_checksum` / `nf_ip6_checksum`; a UDP/IPv4 checksum of 0 means
/// none).
fn checksum_ok(frame: &[u8], meta: &PacketMeta) -> bool {
    let l3 = meta.l3_off as usize;
    let l4 = meta.l4_off as usize;
    let end = l3 + meta.ip_len as usize;
    let Some(seg) = frame.get(l4..end.min(frame.len())) else {
        return false;
    };
    let proto = meta.protocol.0;
    if meta.ip_version == 4 && proto == 17 && seg.len() >= 8 && seg[6] == 0 && seg[7] == 0 {
        return true;
    }
    if meta.ip_version == 4 && proto == 1 {
        return checksum::checksum(seg) == 0;
    }
    checksum::transport(&meta.src, &meta.dst, proto, seg) == 0
}

/// The TCP segment of the packet for the tracker.
fn tcp_seg(frame: &[u8], meta: &PacketMeta) -> Option<TcpSeg> {
    let l3 = meta.l3_off as usize;
    let l4 = meta.l4_off as usize;
    let end = l3 + meta.ip_len as usize;
    let seg = frame.get(l4..end.min(frame.len()))?;
    if seg.len() < 20 {
        return None;
    }
    let hlen = usize::from(seg[12] >> 4) * 4;
    if hlen < 20 || hlen > seg.len() {
        return None;
    }
    TcpSeg::from_header(&seg[..hlen], (seg.len() - hlen) as u32)
}

/// One packet: see [`Shard::input`].
pub(super) fn packet(
    sh: &mut Shard,
    batch: &mut Batch<'_>,
    i: usize,
    zone: u16,
    now: u64,
    pre: bool,
) -> Outcome {
    let meta = *batch.meta(i);
    if meta.ip_version != 4 && meta.ip_version != 6 {
        return Outcome::Invalid;
    }
    let v6 = meta.ip_version == 6;
    let proto = meta.protocol;
    if meta.l4 == L4Status::Fragment {
        return later_fragment(sh, &meta, zone, now);
    }
    let tuple = match sh.prehashed {
        Some((t, _)) => t,
        None => match packet_tuple(&meta, zone) {
            Some(t) => t,
            None => return Outcome::Invalid,
        },
    };
    // A first fragment's checksum covers the whole datagram, which is not
    // here to verify.
    if pre && sh.cfg.checksum && meta.l4 == L4Status::Parsed && !meta.more_frags {
        let check = matches!(proto, IpProtocol::TCP | IpProtocol::UDP)
            || super::tuple::is_icmp(meta.ip_version, proto.0);
        if check && !checksum_ok(batch.frame(i), &meta) {
            return Outcome::Invalid;
        }
    }
    if super::tuple::is_icmp(meta.ip_version, proto.0) {
        let ty = meta.icmp_type;
        if !v6 && ty > 18 {
            return Outcome::Invalid;
        }
        if icmp_is_err(v6, ty) {
            return icmp_error(sh, batch, i, &meta, zone);
        }
        if v6 && matches!(ty, 130..=136 | 143) {
            // MLD and ND (`icmpv6_error`'s `noct_valid_new`): untracked.
            return Outcome::Untracked;
        }
    }
    if proto == IpProtocol::TCP {
        let Some(seg) = tcp_seg(batch.frame(i), &meta) else {
            return Outcome::Invalid;
        };
        if !tcp::valid_flags(seg.flags) {
            return Outcome::Invalid;
        }
        return track_tcp(sh, batch, i, tuple, &seg, now, 0);
    }
    let (slot, dir) = match lookup(sh, batch, &tuple, now) {
        Lookup::Found(slot, dir) => (slot, dir),
        Lookup::Defer => return Outcome::Defer,
        Lookup::Missing => {
            if let Some((w, hop)) = sh.owner_on_miss(&tuple, batch.hop(i)) {
                return Outcome::Handoff(w, hop);
            }
            // `init_conntrack`: ICMP only with a query (`icmp_new`).
            if super::tuple::is_icmp(meta.ip_version, proto.0) && !icmp_is_query(v6, meta.icmp_type)
            {
                return Outcome::Invalid;
            }
            let Some(reply) = tuple.invert() else {
                return Outcome::Invalid;
            };
            let mut e = Entry::new(tuple, reply, super::ms(now));
            if matches!(proto, IpProtocol::UDP | IpProtocol(136)) {
                e.proto = ProtoState::Udp {
                    stream_ts: now + 2 * NS,
                };
            }
            match create(sh, batch, e) {
                Ok(slot) => (slot, Dir::Orig),
                Err(o) => return o,
            }
        }
    };
    let Some(e) = sh.table.get_mut(slot) else {
        return Outcome::Invalid;
    };
    if dir == Dir::Reply {
        e.status |= status::SEEN_REPLY;
    }
    let info = ctinfo(dir, e.status);
    let timeout = match e.proto {
        ProtoState::Udp { stream_ts } => {
            // `nf_conntrack_udp_packet`.
            if e.status & status::SEEN_REPLY != 0 {
                if now > stream_ts {
                    e.status |= status::ASSURED;
                    sh.cfg.udp_timeout_stream
                } else {
                    sh.cfg.udp_timeout
                }
            } else {
                sh.cfg.udp_timeout
            }
        }
        _ if super::tuple::is_icmp(meta.ip_version, proto.0) => {
            if v6 {
                sh.cfg.icmpv6_timeout
            } else {
                sh.cfg.icmp_timeout
            }
        }
        _ => sh.cfg.generic_timeout,
    };
    refresh(e, now, timeout);
    Outcome::Tracked(slot, info)
}

/// `nf_ct_refresh`: a fixed-timeout entry keeps its expiry.
#[inline]
fn refresh(e: &mut Entry, now: u64, timeout: u32) {
    if e.status & status::FIXED_TIMEOUT == 0 {
        e.expires = super::ms(now).wrapping_add(timeout.saturating_mul(1000).min(i32::MAX as u32));
    }
}

enum Lookup {
    Found(u32, Dir),
    Missing,
    Defer,
}

/// Finds the entry of `t`, removing it if it expired; an unconfirmed one
/// (created earlier in this batch) defers the packet.
fn lookup(sh: &mut Shard, batch: &mut Batch<'_>, t: &Tuple, now: u64) -> Lookup {
    // The warm-up pass hashed the packet's own tuple already.
    let h = match sh.prehashed {
        Some((ref pt, h)) if std::ptr::eq(pt, t) || pt == t => h,
        _ => sh.table.hash(t),
    };
    let Some((slot, dir)) = sh.table.find_hashed(t, h) else {
        return Lookup::Missing;
    };
    let Some(e) = sh.table.get(slot) else {
        return Lookup::Missing;
    };
    if e.status & status::CONFIRMED == 0 {
        return Lookup::Defer;
    }
    if e.expired(super::ms(now)) {
        sh.kill(slot);
        batch.count(Counter::CtExpired);
        return Lookup::Missing;
    }
    Lookup::Found(slot, dir)
}

/// Enters a new, unconfirmed entry; a full table first evicts a
/// non-assured (or expired) entry of the new tuple's neighbourhood
/// (`early_drop`).
fn create(sh: &mut Shard, batch: &mut Batch<'_>, e: Entry) -> Result<u32, Outcome> {
    if sh.table.len() >= sh.table.max() && !early_drop(sh, batch, &e.tuple[0]) {
        return Err(Outcome::Drop(Counter::CtTableFull));
    }
    let slot = sh
        .table
        .insert(e)
        .ok_or(Outcome::Drop(Counter::CtTableFull))?;
    sh.pending.push(slot);
    Ok(slot)
}

fn early_drop(sh: &mut Shard, batch: &mut Batch<'_>, t: &Tuple) -> bool {
    let mut near = [0u32; EVICTION_RANGE];
    let n = sh.table.neighbourhood(t, &mut near);
    let now = sh.clock(batch.now());
    for &slot in &near[..n] {
        let Some(e) = sh.table.get(slot) else {
            continue;
        };
        if e.status & status::CONFIRMED == 0 {
            continue;
        }
        if e.expired(super::ms(now)) {
            sh.kill(slot);
            batch.count(Counter::CtExpired);
            return true;
        }
        if e.status & status::ASSURED == 0 {
            sh.kill(slot);
            batch.count(Counter::CtEarlyDrop);
            return true;
        }
    }
    false
}

/// TCP: lookup or `tcp_new`, then `nf_conntrack_tcp_packet`.
fn track_tcp(
    sh: &mut Shard,
    batch: &mut Batch<'_>,
    i: usize,
    tuple: Tuple,
    seg: &TcpSeg,
    now: u64,
    depth: u8,
) -> Outcome {
    let (slot, dir, created) = match lookup(sh, batch, &tuple, now) {
        Lookup::Found(s, d) => (s, d, false),
        Lookup::Defer => return Outcome::Defer,
        Lookup::Missing => {
            if depth == 0 {
                if let Some((w, hop)) = sh.owner_on_miss(&tuple, batch.hop(i)) {
                    return Outcome::Handoff(w, hop);
                }
            }
            let Some(conn) = TcpConn::new(seg, &sh.cfg.tcp) else {
                return Outcome::Invalid;
            };
            let Some(reply) = tuple.invert() else {
                return Outcome::Invalid;
            };
            let mut e = Entry::new(tuple, reply, super::ms(now));
            e.proto = ProtoState::Tcp(conn);
            match create(sh, batch, e) {
                Ok(s) => (s, Dir::Orig, true),
                Err(o) => return o,
            }
        }
    };
    let cfg = &sh.cfg.tcp;
    let Some(e) = sh.table.get_mut(slot) else {
        return Outcome::Invalid;
    };
    let ProtoState::Tcp(conn) = &mut e.proto else {
        return Outcome::Invalid;
    };
    let seen_reply = e.status & status::SEEN_REPLY != 0;
    let assured = e.status & status::ASSURED != 0;
    let verdict = conn.packet(dir, seg, seen_reply, assured, cfg);
    // `nf_conntrack_in`: SEEN_REPLY once a reply is accepted (ignored
    // ones included).
    let accepted = |e: &mut Entry| {
        if dir == Dir::Reply {
            e.status |= status::SEEN_REPLY;
        }
        ctinfo(dir, e.status)
    };
    match verdict {
        TcpVerdict::Accept {
            timeout,
            assured: set,
            ..
        } => {
            if set {
                e.status |= status::ASSURED;
            }
            let info = accepted(e);
            refresh(e, now, timeout);
            Outcome::Tracked(slot, info)
        }
        TcpVerdict::SynNoRefresh { .. } | TcpVerdict::Ignore(_) => {
            let info = accepted(e);
            Outcome::Tracked(slot, info)
        }
        TcpVerdict::Kill => {
            // The packet keeps its entry; the entry is gone for the next
            // one (`nf_ct_kill_acct`): it expires now.
            let info = accepted(e);
            e.expires = super::ms(now);
            e.status |= status::DYING;
            Outcome::Tracked(slot, info)
        }
        TcpVerdict::Invalid(_) => {
            if created {
                sh.kill(slot);
            }
            Outcome::Invalid
        }
        TcpVerdict::InvalidShorten { timeout, .. } => {
            let left = e.left_ms(super::ms(now)) / 1000;
            if let Some(t) = TcpVerdict::shortened(left, timeout) {
                refresh(e, now, t);
            }
            Outcome::Invalid
        }
        TcpVerdict::Reopen => {
            // `nf_ct_kill` + `-NF_REPEAT`: the SYN is looked up again and
            // opens a new connection.
            sh.kill(slot);
            batch.count(Counter::CtReopen);
            if depth > 0 {
                return Outcome::Invalid;
            }
            track_tcp(sh, batch, i, tuple, seg, now, depth + 1)
        }
    }
}

/// `icmp_error` / `icmpv6_error` + `nf_conntrack_inet_error`: an ICMP
/// error is RELATED to the flow it quotes, when the outer destination is
/// where that flow's packets go in the found direction.
fn icmp_error(
    sh: &mut Shard,
    batch: &mut Batch<'_>,
    i: usize,
    meta: &PacketMeta,
    zone: u16,
) -> Outcome {
    let family = meta.ip_version;
    let frame = batch.frame(i);
    let start = meta.l4_off as usize + 8;
    let Some(quoted) = frame.get(start..) else {
        return Outcome::Invalid;
    };
    let Some((orig, _)) = quoted_tuple(family, quoted, zone) else {
        return Outcome::Invalid;
    };
    let Some(inner) = orig.invert() else {
        return Outcome::Invalid;
    };
    let now = sh.clock(batch.now());
    let (slot, dir) = match lookup(sh, batch, &inner, now) {
        Lookup::Found(s, d) => (s, d),
        Lookup::Defer => return Outcome::Defer,
        Lookup::Missing => {
            return match sh.owner_on_miss(&inner, batch.hop(i)) {
                Some((w, hop)) => Outcome::Handoff(w, hop),
                None => Outcome::Invalid,
            }
        }
    };
    let Some(e) = sh.table.get(slot) else {
        return Outcome::Invalid;
    };
    if e.tuple[dir.index()].dst != addr(meta.dst) {
        return Outcome::Invalid;
    }
    let info = if dir == Dir::Reply {
        CtInfo::RelatedReply
    } else {
        CtInfo::Related
    };
    Outcome::Tracked(slot, info)
}
