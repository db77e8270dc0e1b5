//! ICMP and ICMPv6 errors the router sends: when to (RFC 1812 §4.3.2.7,
//! RFC 4443 §2.4, and the kernel's `__icmp_send` / `icmp6_send` checks),
//! how often (the kernel's rate limits), and the bytes.
//!
//! Never in response to: a packet that was a link-layer broadcast or
//! multicast, an IPv4 broadcast or multicast destination, a non-first IPv4
//! fragment, an ICMP error (or an unknown ICMP type, as the kernel assumes
//! those are errors), an ICMPv6 error; from an unspecified or multicast
//! IPv6 source. IPv6 Packet Too Big is the exception the kernel makes for
//! multicast destinations.
//!
//! Rate limits (`net/ipv4/icmp.c`, `net/ipv6/icmp.c`, `inetpeer.c`), with
//! the default sysctls, time passed in:
//!
//! * the global bucket `icmp_global_allow`: `icmp_msgs_per_sec` 1000,
//!   `icmp_msgs_burst` 50, refilled in steps of at least 20 ms — for the
//!   types in `icmp_ratemask` (0x1818: unreachable, source quench, time
//!   exceeded, parameter problem; never fragmentation needed) and, for
//!   IPv6, every error but Packet Too Big (`icmpv6_ratemask` 0-1,3-127).
//!   The kernel consumes a random 0–2 credits per message; sluice 1.
//! * the per-destination bucket `inet_peer_xrlim_allow`: `icmp_ratelimit`
//!   / `icmpv6/ratelimit` 1000 ms per message, a burst of 6, a new peer
//!   starting full. IPv6 does not scale the interval by the route's prefix
//!   length as `icmpv6_xrlim_allow` does (it uses the /128 value).
//! * `ip_error` (IPv4 routing failures) first takes 1000 ms from the same
//!   peer's bucket, capped at 5000 ms (`ip_rt_error_cost`, `_burst`): a
//!   burst of no-route errors to one source is 2 messages, then one every
//!   2 s, as on Linux.
//!
//! * redirects (`ip_rt_send_redirect`) share the source's peer: after 20
//!   s of silence (`ip_rt_redirect_silence`) its tokens and redirect count
//!   start again from 0; then one redirect, more only after 20 ms << the
//!   count (`ip_rt_redirect_load`), at most 9 (`ip_rt_redirect_number`).
//!   Redirects are outside `icmp_ratemask` (no global or token limit).
//!
//! Peers live in a set-associative table of [`PEER_SLOTS`] entries
//! ([`PEER_WAYS`] a set). A new peer takes a free entry or one idle for
//! more than the redirect silence: such an entry is in every respect a new
//! peer again (its tokens are full, its redirect state starts over), so
//! recycling it changes nothing the kernel would do. Only when all the
//! entries of a set were used in the last 20 s does the least recently
//! used one go (the kernel keeps every peer in a tree until it is garbage
//! collected); that takes more than [`PEER_WAYS`] hosts sharing a set
//! getting errors within 20 s.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::time::{Duration, Instant};

use crate::packet::{Dest, L2Class};
use crate::wire::{self, icmpv4, icmpv6, EtherType, IpProtocol, PacketMeta};

/// Entries of the per-destination rate limit table.
pub const PEER_SLOTS: usize = 2048;
/// Entries of one set of that table.
pub const PEER_WAYS: usize = 8;
/// `ip_rt_redirect_silence` ((HZ / 50) << (9 + 1)): a peer idle longer
/// than this is a new peer for every limit here.
const REDIRECT_SILENCE: Duration = Duration::from_millis(20 << 10);
/// `ip_rt_redirect_load` (HZ / 50).
const REDIRECT_LOAD_MS: u64 = 20;
/// `ip_rt_redirect_number`.
const REDIRECT_NUMBER: u32 = 9;

/// What went wrong, family-independent.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ErrorKind {
    /// TTL / hop limit exceeded in transit.
    TimeExceeded,
    /// Fragment reassembly time exceeded (code 1): a datagram conntrack's
    /// reassembly gave up (`ip6frag_expire_frag_queue`).
    ReassemblyTimeExceeded,
    /// IPv4 net unreachable (no route); IPv6 no route to destination.
    NetUnreachable,
    /// IPv4 host unreachable (an `unreachable` route, neighbour resolution
    /// failed); IPv6 address unreachable (neighbour resolution failed).
    HostUnreachable,
    /// IPv4 communication administratively prohibited (13); IPv6
    /// administratively prohibited (1). A `prohibit` route.
    Prohibited,
    /// IPv4 fragmentation needed and DF set, with the next-hop MTU.
    FragNeeded(u16),
    /// IPv6 packet too big, with the MTU.
    PacketTooBig(u32),
    /// IPv4 redirect for the host (5/1) to this gateway.
    Redirect(Ipv4Addr),
    /// Parameter problem (IPv4 12/0, IPv6 4/0) with the pointer to the
    /// bad byte: IPv4 options that do not compile.
    ParamProblem(u8),
}

impl ErrorKind {
    /// (type, code, the 32-bit field after the checksum).
    fn v4(self) -> (u8, u8, u32) {
        use icmpv4::{types, unreachable};
        match self {
            ErrorKind::TimeExceeded => (types::TIME_EXCEEDED, 0, 0),
            ErrorKind::ReassemblyTimeExceeded => (types::TIME_EXCEEDED, 1, 0),
            ErrorKind::NetUnreachable => (types::DEST_UNREACHABLE, unreachable::NET, 0),
            ErrorKind::HostUnreachable => (types::DEST_UNREACHABLE, unreachable::HOST, 0),
            ErrorKind::Prohibited => (types::DEST_UNREACHABLE, unreachable::ADMIN_PROHIBITED, 0),
            ErrorKind::FragNeeded(mtu) => (
                types::DEST_UNREACHABLE,
                unreachable::FRAG_NEEDED,
                mtu as u32,
            ),
            ErrorKind::PacketTooBig(_) => (types::DEST_UNREACHABLE, unreachable::FRAG_NEEDED, 0),
            ErrorKind::ParamProblem(ptr) => (types::PARAM_PROBLEM, 0, u32::from(ptr) << 24),
            ErrorKind::Redirect(gw) => (types::REDIRECT, 1, u32::from(gw)),
        }
    }

    fn v6(self) -> (u8, u8, u32) {
        use icmpv6::types;
        match self {
            ErrorKind::TimeExceeded => (types::TIME_EXCEEDED, 0, 0),
            ErrorKind::ReassemblyTimeExceeded => (types::TIME_EXCEEDED, 1, 0),
            ErrorKind::NetUnreachable => (types::DEST_UNREACHABLE, 0, 0),
            ErrorKind::HostUnreachable => (types::DEST_UNREACHABLE, 3, 0),
            ErrorKind::Prohibited => (types::DEST_UNREACHABLE, 1, 0),
            ErrorKind::PacketTooBig(mtu) => (types::PACKET_TOO_BIG, 0, mtu),
            ErrorKind::FragNeeded(mtu) => (types::PACKET_TOO_BIG, 0, mtu as u32),
            ErrorKind::ParamProblem(ptr) => (types::PARAM_PROBLEM, 0, u32::from(ptr)),
            // IPv6 redirects are not sent (no ndisc_send_redirect).
            ErrorKind::Redirect(_) => (types::DEST_UNREACHABLE, 0, 0),
        }
    }

    /// Subject to the global and per-destination limits.
    fn limited(self, v6: bool) -> bool {
        if v6 {
            !matches!(self, ErrorKind::PacketTooBig(_) | ErrorKind::FragNeeded(_))
        } else {
            // icmp_ratemask 0x1818 covers every error sluice sends but
            // fragmentation needed and redirects (icmpv4_mask_allow).
            !matches!(self, ErrorKind::FragNeeded(_) | ErrorKind::Redirect(_))
        }
    }
}

/// `NR_ICMP_TYPES`: types above it are treated as errors.
const NR_ICMP_TYPES: u8 = 18;

/// What the sender of an error knows about the offending packet.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Offender<'a> {
    /// The IP packet (from its header to its end).
    pub ip: &'a [u8],
    pub meta: &'a PacketMeta,
    pub l2: L2Class,
    pub dest: Dest,
}

/// RFC 1812 / RFC 4443 and the kernel: may an error of `kind` be sent
/// about this packet at all?
pub(crate) fn eligible(o: &Offender<'_>, kind: ErrorKind) -> bool {
    let m = o.meta;
    match (m.src, m.dst) {
        (IpAddr::V4(_), IpAddr::V4(d)) => {
            if o.l2 != L2Class::Host
                || matches!(o.dest, Dest::Broadcast | Dest::Multicast)
                || d.is_broadcast()
                || d.is_multicast()
                || m.frag_offset != 0
            {
                return false;
            }
            if m.protocol == IpProtocol::ICMP {
                let at = (m.l4_off - m.l3_off) as usize;
                match o.ip.get(at) {
                    None => return false,
                    Some(&t) if t > NR_ICMP_TYPES || icmpv4::is_error_type(t) => return false,
                    Some(_) => {}
                }
            }
            true
        }
        (IpAddr::V6(s), IpAddr::V6(d)) => {
            let too_big = matches!(kind, ErrorKind::PacketTooBig(_));
            if (d.is_multicast() || o.l2 != L2Class::Host) && !too_big {
                return false;
            }
            if s.is_unspecified() || s.is_multicast() {
                return false;
            }
            // is_ineligible(): never about an ICMPv6 error.
            let ip = wire::ipv6::Packet::new_unchecked(o.ip);
            if o.ip.len() >= wire::ipv6::HEADER_LEN {
                if let Ok(up) = ip.walk() {
                    if up.protocol == IpProtocol::ICMPV6 {
                        match o.ip.get(up.offset) {
                            None => return false,
                            Some(&t) if icmpv6::is_error_type(t) => return false,
                            Some(_) => {}
                        }
                    }
                }
            }
            true
        }
        _ => false,
    }
}

#[derive(Debug, Clone, Copy)]
struct Peer {
    addr: Option<IpAddr>,
    /// Accumulated allowance in milliseconds (`rate_tokens`).
    tokens: u64,
    /// `rate_last`; `None`: a new peer (the kernel's "60 s ago").
    last: Option<Instant>,
    /// `n_redirects`.
    redirects: u32,
}

impl Peer {
    const NEW: Peer = Peer {
        addr: None,
        tokens: 0,
        last: None,
        redirects: 0,
    };

    /// Idle for longer than the redirect silence (or new): the same as a
    /// new peer for every limit.
    fn as_new(&self, now: Instant) -> bool {
        self.last
            .is_none_or(|l| now.saturating_duration_since(l) > REDIRECT_SILENCE)
    }

    /// Milliseconds since `rate_last` (60 s for a new peer).
    fn elapsed_ms(&self, now: Instant) -> u64 {
        self.last.map_or(60_000, |l| {
            now.saturating_duration_since(l).as_millis() as u64
        })
    }
}

/// The rate limits of the module docs.
#[derive(Debug)]
pub(crate) struct IcmpLimiter {
    credit: i64,
    stamp: Option<Instant>,
    msgs_per_sec: u64,
    burst: i64,
    /// `icmp_ratelimit` in ms.
    interval_ms: u64,
    peers: Box<[Peer]>,
}

const XRLIM_BURST_FACTOR: u64 = 6;
const IP_RT_ERROR_COST_MS: u64 = 1000;
const IP_RT_ERROR_BURST_MS: u64 = 5000;

impl IcmpLimiter {
    pub fn new(_now: Instant) -> IcmpLimiter {
        IcmpLimiter {
            credit: 50,
            stamp: None,
            msgs_per_sec: 1000,
            burst: 50,
            interval_ms: 1000,
            peers: vec![Peer::NEW; PEER_SLOTS].into_boxed_slice(),
        }
    }

    /// `icmp_global_allow`.
    fn global_allow(&mut self, now: Instant) -> bool {
        if self.credit > 0 {
            return true;
        }
        let delta = match self.stamp {
            None => Duration::from_secs(1),
            Some(s) => now.saturating_duration_since(s).min(Duration::from_secs(1)),
        };
        if delta < Duration::from_millis(20) {
            return false;
        }
        let incr = (self.msgs_per_sec as u128 * delta.as_millis() / 1000) as i64;
        if incr == 0 {
            return false;
        }
        self.stamp = Some(now);
        self.credit = (self.credit + incr).min(self.burst);
        true
    }

    /// The first entry of `addr`'s set.
    fn set(&self, addr: IpAddr) -> usize {
        let h = match addr {
            IpAddr::V4(a) => u32::from(a).wrapping_mul(0x9e37_79b1),
            IpAddr::V6(a) => {
                let x = u128::from(a);
                ((x as u64 ^ (x >> 64) as u64).wrapping_mul(0x9e37_79b9_7f4a_7c15) >> 32) as u32
            }
        };
        let sets = (PEER_SLOTS / PEER_WAYS) as u32;
        ((h >> 16) % sets) as usize * PEER_WAYS
    }

    /// `inet_getpeer`: `addr`'s entry, made if need be (see the module
    /// docs for which entry it replaces).
    fn peer(&mut self, addr: IpAddr, now: Instant) -> &mut Peer {
        let at = self.set(addr);
        let set = &mut self.peers[at..at + PEER_WAYS];
        let i = match set.iter().position(|p| p.addr == Some(addr)) {
            Some(i) => i,
            None => {
                let i = set
                    .iter()
                    .position(|p| p.addr.is_none() || p.as_new(now))
                    .unwrap_or_else(|| (0..PEER_WAYS).min_by_key(|&i| set[i].last).unwrap_or(0));
                set[i] = Peer {
                    addr: Some(addr),
                    ..Peer::NEW
                };
                i
            }
        };
        &mut set[i]
    }

    /// `inet_peer_xrlim_allow(peer, timeout)` and, for `ip_error`, the
    /// same bucket with its own cost and cap.
    fn take(p: &mut Peer, now: Instant, cost: u64, cap: u64) -> bool {
        let elapsed = p.elapsed_ms(now);
        p.last = Some(now);
        let t = (p.tokens + elapsed).min(cap);
        if t >= cost {
            p.tokens = t - cost;
            true
        } else {
            p.tokens = t;
            false
        }
    }

    /// `ip_error`'s limit for IPv4 routing failures, per source.
    pub fn ip_error_allow(&mut self, src: IpAddr, now: Instant) -> bool {
        let p = self.peer(src, now);
        Self::take(p, now, IP_RT_ERROR_COST_MS, IP_RT_ERROR_BURST_MS)
    }

    /// `ip_rt_send_redirect`'s limit, per source: whether to send a
    /// redirect now (the peer's state moves on either way).
    pub fn redirect_allow(&mut self, src: IpAddr, now: Instant) -> bool {
        let p = self.peer(src, now);
        if p.as_new(now) {
            p.tokens = 0;
            p.redirects = 0;
        }
        if p.redirects >= REDIRECT_NUMBER {
            p.last = Some(now);
            return false;
        }
        let due = p.redirects == 0 || p.elapsed_ms(now) > REDIRECT_LOAD_MS << p.redirects;
        if due {
            p.last = Some(now);
            p.redirects += 1;
        }
        due
    }

    /// The global check before routing the error: `Some(apply)` to go on,
    /// `apply` saying the per-destination limit applies too.
    pub fn global(&mut self, kind: ErrorKind, v6: bool, now: Instant) -> Option<bool> {
        if !kind.limited(v6) {
            return Some(false);
        }
        self.global_allow(now).then_some(true)
    }

    /// The per-destination check after routing; consumes global credit on
    /// success.
    pub fn peer_allow(&mut self, apply: bool, dst: IpAddr, now: Instant) -> bool {
        if !apply {
            return true;
        }
        let interval = self.interval_ms;
        let p = self.peer(dst, now);
        let ok = Self::take(p, now, interval, interval * XRLIM_BURST_FACTOR);
        if ok {
            self.credit -= 1;
        }
        ok
    }
}

/// Bytes of the offending packet an IPv4 error quotes: as much as fits in
/// 576 bytes (RFC 1812 §4.3.2.3, `__icmp_send`), less on a smaller MTU and
/// after `opts` bytes of echoed options.
pub(crate) fn quote_len_v4(ip_len: usize, mtu: usize, opts: usize) -> Option<usize> {
    let room = mtu
        .min(576)
        .checked_sub(wire::ipv4::HEADER_LEN + opts + icmpv4::HEADER_LEN)?;
    if room <= wire::ipv4::HEADER_LEN {
        return None;
    }
    Some(ip_len.min(room))
}

/// Bytes an ICMPv6 error quotes: up to the IPv6 minimum MTU (RFC 4443
/// §2.4 (c), `icmp6_send`).
pub(crate) fn quote_len_v6(ip_len: usize) -> usize {
    ip_len.min(1280 - wire::ipv6::HEADER_LEN - icmpv6::HEADER_LEN)
}

/// Writes an IPv4 ICMP error into `buf` (Ethernet header space, then IP
/// with the options `opts` (a multiple of 4 bytes), ICMP, the quote, which
/// `buf` must already hold at its place: offset 14 + 20 + `opts` + 8).
/// `buf` is exactly that long.
pub(crate) fn write_v4(
    buf: &mut [u8],
    kind: ErrorKind,
    (src, dst): (Ipv4Addr, Ipv4Addr),
    orig_tos: u8,
    ident: u16,
    opts: &[u8],
) {
    let (t, c, info) = kind.v4();
    let l3 = wire::ethernet::HEADER_LEN;
    write_eth_placeholder(buf, EtherType::IPV4);
    let hlen = wire::ipv4::HEADER_LEN + opts.len();
    let icmp_len = buf.len() - l3 - hlen;
    let repr = wire::ipv4::Repr {
        src_addr: src,
        dst_addr: dst,
        protocol: IpProtocol::ICMP,
        // RT_TOS(tos) | IPTOS_PREC_INTERNETCONTROL
        tos: (orig_tos & 0x1e) | 0xc0,
        ident,
        dont_frag: false,
        ttl: 64,
        payload_len: icmp_len,
    };
    repr.emit_with_options(&mut wire::ipv4::Packet::new_unchecked(&mut buf[l3..]), opts);
    let mut m = icmpv4::Packet::new_unchecked(&mut buf[l3 + hlen..]);
    m.set_msg_type(t);
    m.set_msg_code(c);
    m.set_gateway(Ipv4Addr::from(info));
    m.fill_checksum();
}

/// Writes an ICMPv6 error like [`write_v4`] (quote at 14 + 40 + 8).
pub(crate) fn write_v6(buf: &mut [u8], kind: ErrorKind, src: Ipv6Addr, dst: Ipv6Addr) {
    let (t, c, info) = kind.v6();
    let l3 = wire::ethernet::HEADER_LEN;
    write_eth_placeholder(buf, EtherType::IPV6);
    let icmp_len = buf.len() - l3 - wire::ipv6::HEADER_LEN;
    let repr = wire::ipv6::Repr {
        src_addr: src,
        dst_addr: dst,
        next_header: IpProtocol::ICMPV6,
        traffic_class: 0,
        flow_label: 0,
        hop_limit: 64,
        payload_len: icmp_len as u16,
    };
    repr.emit(&mut wire::ipv6::Packet::new_unchecked(&mut buf[l3..]));
    let mut m = icmpv6::Packet::new_unchecked(&mut buf[l3 + wire::ipv6::HEADER_LEN..]);
    m.set_msg_type(t);
    m.set_msg_code(c);
    m.set_mtu(info);
    m.fill_checksum(&IpAddr::V6(src), &IpAddr::V6(dst));
}

pub(crate) use crate::wire::ethernet::write_placeholder as write_eth_placeholder;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn per_peer_burst_then_one_per_second() {
        let t0 = Instant::now();
        let mut l = IcmpLimiter::new(t0);
        let dst: IpAddr = "10.0.1.5".parse().unwrap();
        let sent = (0..10)
            .filter(|_| {
                l.global(ErrorKind::TimeExceeded, false, t0) == Some(true)
                    && l.peer_allow(true, dst, t0)
            })
            .count();
        assert_eq!(sent, 6);
        let t1 = t0 + Duration::from_millis(999);
        assert!(!l.peer_allow(true, dst, t1));
        let t2 = t0 + Duration::from_millis(1001);
        assert!(l.peer_allow(true, dst, t2));
        // Fragmentation needed is never limited.
        assert_eq!(
            l.global(ErrorKind::FragNeeded(1400), false, t2),
            Some(false)
        );
        assert!(l.peer_allow(false, dst, t2));
    }

    #[test]
    fn ip_error_shares_the_bucket() {
        let t0 = Instant::now();
        let mut l = IcmpLimiter::new(t0);
        let src: IpAddr = "10.0.1.5".parse().unwrap();
        let mut sent = 0;
        for _ in 0..10 {
            if l.ip_error_allow(src, t0)
                && l.global(ErrorKind::NetUnreachable, false, t0).is_some()
                && l.peer_allow(true, src, t0)
            {
                sent += 1;
            }
        }
        assert_eq!(sent, 2);
    }

    #[test]
    fn global_bucket() {
        let t0 = Instant::now();
        let mut l = IcmpLimiter::new(t0);
        let mut sent = 0;
        for i in 0..200u32 {
            let dst = IpAddr::V4(Ipv4Addr::from(0x0a00_0000 + i * 7919));
            if let Some(apply) = l.global(ErrorKind::TimeExceeded, false, t0) {
                if l.peer_allow(apply, dst, t0) {
                    sent += 1;
                }
            }
        }
        // 50 credits, then a refill of up to 50 more (1 s since "never").
        assert!((50..=101).contains(&sent), "{sent}");
        assert_eq!(l.global(ErrorKind::TimeExceeded, false, t0), None);
        assert!(l
            .global(
                ErrorKind::TimeExceeded,
                false,
                t0 + Duration::from_millis(20)
            )
            .is_some());
    }

    #[test]
    fn peers_sharing_a_set_keep_their_buckets() {
        let t0 = Instant::now();
        let mut l = IcmpLimiter::new(t0);
        // More hosts than a set has ways, all in one set.
        let base = Ipv4Addr::new(10, 0, 1, 2);
        let set = l.set(IpAddr::V4(base));
        let same: Vec<IpAddr> = (0..u32::MAX)
            .map(|i| IpAddr::V4(Ipv4Addr::from(u32::from(base) + i)))
            .filter(|a| l.set(*a) == set)
            .take(PEER_WAYS)
            .collect();
        let sent = |l: &mut IcmpLimiter, a: IpAddr, n: usize, t: Instant| {
            (0..n).filter(|_| l.peer_allow(true, a, t)).count()
        };
        for &a in &same {
            assert_eq!(sent(&mut l, a, 8, t0), 6);
        }
        // None of them refilled another's bucket.
        for &a in &same {
            assert_eq!(sent(&mut l, a, 1, t0), 0);
        }
        // One more host in the set takes the least recently used entry.
        let extra = (0..u32::MAX)
            .map(|i| IpAddr::V4(Ipv4Addr::from(u32::from(base) + 70_000 + i)))
            .find(|a| l.set(*a) == set)
            .unwrap();
        assert_eq!(sent(&mut l, extra, 8, t0), 6);
        // After the silence every entry is as new, and is recycled so.
        let t1 = t0 + REDIRECT_SILENCE + Duration::from_millis(1);
        assert_eq!(sent(&mut l, same[0], 8, t1), 6);
    }

    #[test]
    fn redirect_back_off() {
        let t0 = Instant::now();
        let mut l = IcmpLimiter::new(t0);
        let src: IpAddr = "10.0.1.2".parse().unwrap();
        let ms = |n| t0 + Duration::from_millis(n);
        assert!(l.redirect_allow(src, t0));
        assert!(!l.redirect_allow(src, ms(40)));
        assert!(l.redirect_allow(src, ms(41)));
        assert!(!l.redirect_allow(src, ms(41 + 80)));
        assert!(l.redirect_allow(src, ms(41 + 81)));
        // The first redirect emptied the token bucket: no error at once.
        assert!(!l.peer_allow(true, src, ms(41 + 81)));
        let mut t = 41 + 81;
        for n in 3..REDIRECT_NUMBER {
            t += (REDIRECT_LOAD_MS << n) + 1;
            assert!(l.redirect_allow(src, ms(t)), "redirect {n}");
        }
        // Nine sent: no more until 20 s of silence (a packet that wanted
        // one restarts the silence).
        t += 20_000;
        assert!(!l.redirect_allow(src, ms(t)));
        t += 20_000;
        assert!(!l.redirect_allow(src, ms(t)));
        t += (20 << 10) + 1;
        assert!(l.redirect_allow(src, ms(t)));
    }

    #[test]
    fn quote_lengths() {
        assert_eq!(quote_len_v4(1500, 1500, 0), Some(548));
        assert_eq!(quote_len_v4(1500, 1500, 12), Some(536));
        assert_eq!(quote_len_v4(100, 1500, 0), Some(100));
        assert_eq!(quote_len_v4(1500, 68, 0), Some(40));
        assert_eq!(quote_len_v4(1500, 48, 0), None);
        assert_eq!(quote_len_v4(1500, 300, 0), Some(272));
        assert_eq!(quote_len_v6(2000), 1232);
    }
}
