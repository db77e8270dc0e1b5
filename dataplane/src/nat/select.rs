//! NAT tuple selection: which tuple a connection gets when a SNAT, DNAT,
//! MASQUERADE or REDIRECT binding (or the null binding every connection
//! gets) is set up. A port of `get_unique_tuple` and its helpers in
//! `net/netfilter/nf_nat_core.c` as of Linux 6.18.
//!
//! Contract:
//!
//! * [`unique_tuple`] (and [`select`], the same with the connection table
//!   as a [`Conns`]) takes the connection's tuple as it is now, a
//!   [`Range`] already derived by the target (MASQUERADE's address,
//!   REDIRECT's, `--to-ports` are the caller's) and returns the new
//!   original-direction tuple, or `None` when the kernel would find none
//!   and drop the packet. It reads the table only through the callbacks,
//!   allocates nothing, keeps no state and draws randomness only from the
//!   `rand` it is given.
//! * It does not insert anything: the caller alters the reply tuple to
//!   `invert(new)` (`nf_conntrack_alter_reply`), sets the NAT status bits
//!   and later confirms, where a tuple that is still taken is a clash
//!   (`__nf_conntrack_confirm`). `Some(t)` with `t` taken is possible
//!   exactly where the kernel returns such a tuple: a destination manip
//!   that may not change the port, a one-port range, a protocol without
//!   ports.
//!
//! # What the kernel does, step by step
//!
//! | step | kernel | here |
//! |------|--------|------|
//! | 1 | source manip, no `--random`/`--random-fully`: keep the tuple if it is in the range and unused (`nf_nat_used_tuple_new`); else reuse the mapping of another connection from the same source (`find_appropriate_src`) if in range and unused | [`Conns::taken`] with [`Check::Unchanged`]; [`Conns::same_src`] |
//! | 2 | the address: the range's only one, or `find_best_ips_proto`: `reciprocal_scale(jhash2(src, seed), n)` word by word, seed `dst[last word] ^ zone` or 0 with `--persistent` | `find_best_ips_proto` below, with [`super::jhash`] |
//! | 3 | no random: keep the port if it is in the range and unused (one-port range: even if used; no range: unused; `PROTO_OFFSET`: never) | [`Check::Used`] |
//! | 4 | `nf_nat_l4proto_unique_tuple`: ICMP id in the range or all of `0..=65535`; TCP/UDP/UDPLITE/SCTP/DCCP port in the range or, for a source manip, `1..=511`, `600..=1023` or `1024..=65535` after the original port (a destination manip without range keeps its port); others: nothing. Offset `port - base` (`PROTO_OFFSET`), else random for a random range or a source manip, else 0; up to 128 probes from the offset (the whole range if smaller), then, unless that covered the range, rounds of half as many from a new random offset until a round of fewer than 16 (128, 64, 32, 16, 8) | [`Check::Search`] |
//!
//! The address words are read as the kernel reads them, `(u32 *)` over
//! network-order bytes on a little-endian CPU (x86-64, arm64, where sluice
//! runs); a range whose words do not increase together (an IPv6 range
//! across a word boundary) can yield addresses outside it, as in the
//! kernel. The picks of the tests were checked against a running 6.18.
//!
//! # Deviation: one worker's port slice
//!
//! Each worker owns a [`PortSlice`]: the ports equal to its index modulo
//! the number of workers (`nat/mod.rs`), so a reply names its worker by
//! its destination port, and two workers never choose the same reply
//! tuple without looking at each other's tables. So, for a **source**
//! manip:
//!
//! * a port (or ICMP id) this function chooses is one of the worker's
//!   ports of the range it chooses from (none: `None`);
//! * a port kept from the connection (steps 1 and 3) is kept only if the
//!   worker owns it. Another worker remaps it.
//!
//! With one worker this is the kernel exactly. With more, a connection
//! whose source port another worker owns gets a new one where the kernel
//! would have kept it, and an offset range (`PROTO_OFFSET`) maps onto the
//! worker's part. The caller must run the source null binding for every
//! connection, as the kernel does (`nf_nat_alloc_null_binding`): that is
//! what gives a DNAT-only flow a source port its worker owns.
//! A **destination** manip is not sliced: its port is the server's, which
//! names no worker, and its source side is settled by that null binding.
//!
//! # Left to the caller's [`Conns`]
//!
//! * `nf_nat_used_tuple`: whether the inverse of a tuple is a reply tuple
//!   in the table, other than the connection's own.
//! * `nf_nat_used_tuple_new` ([`Check::Unchanged`]): a protocol that
//!   allows clashes (UDP, ...) may treat a clash with the exact reverse of
//!   its own not-NATed connection as free.
//! * `nf_nat_used_tuple_harder` ([`Check::Search`]): in the last
//!   [`HARDER_THRESH`] probes of a round a TCP connection in SYN_SENT may
//!   evict a colliding source-NATed entry in TIME_WAIT or later whose
//!   sequence numbers it has passed, and then use its tuple.
//! * The `nf_nat_bysource` walk of `find_appropriate_src`: see
//!   [`Conns::same_src`]. [`unique_tuple`] has no such table.
//!
//! GRE is a protocol without ports here (no PPTP helper: the kernel
//! changes GRE keys only for a PPTP expectation's child).

use super::jhash::{jhash2, reciprocal_scale};
use super::PortSlice;
use crate::conntrack::tuple::{has_ports, is_icmp, Addr, Tuple};

/// Which side of the tuple a binding changes (`enum nf_nat_manip_type`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Manip {
    /// `NF_NAT_MANIP_SRC`: SNAT, MASQUERADE, the POSTROUTING / INPUT null
    /// binding.
    Src,
    /// `NF_NAT_MANIP_DST`: DNAT, REDIRECT, the PREROUTING / OUTPUT null
    /// binding.
    Dst,
}

/// `struct nf_nat_range2` in our terms: what a target asks for.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub struct Range {
    /// `NF_NAT_RANGE_MAP_IPS`: the lowest and highest address (tuple
    /// addresses: IPv4 in the first four bytes).
    pub addrs: Option<([u8; 16], [u8; 16])>,
    /// `NF_NAT_RANGE_PROTO_SPECIFIED`: the lowest and highest port (or
    /// ICMP id).
    pub ports: Option<(u16, u16)>,
    /// `NF_NAT_RANGE_PROTO_OFFSET`: the base of a shifted port range
    /// (`--to-destination a:6000-6099/5000` maps 5007 to 6007).
    pub base: Option<u16>,
    /// `NF_NAT_RANGE_PROTO_RANDOM` (`--random`).
    pub random: bool,
    /// `NF_NAT_RANGE_PROTO_RANDOM_FULLY` (`--random-fully`).
    pub random_fully: bool,
    /// `NF_NAT_RANGE_PERSISTENT` (`--persistent`).
    pub persistent: bool,
}

impl Range {
    /// `NF_NAT_RANGE_PROTO_RANDOM_ALL`: the two are the same since the
    /// kernel dropped its keyed port hash (both draw a random offset).
    pub fn random_all(&self) -> bool {
        self.random || self.random_fully
    }
}

/// Which of the kernel's "is this tuple taken" checks a probe stands for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Check {
    /// `nf_nat_used_tuple_new`: the connection's tuple as it is (step 1).
    Unchanged,
    /// `nf_nat_used_tuple`: a reused mapping, or the tuple with its new
    /// address and its own port (step 3).
    Used,
    /// `nf_nat_used_tuple_harder`: a probe of the port search, with the
    /// number of probes left in its round, this one included.
    Search { attempts_left: u32 },
}

/// `NF_NAT_MAX_ATTEMPTS`: probes of the first round of the port search.
pub const MAX_ATTEMPTS: u32 = 128;
/// `NF_NAT_HARDER_THRESH`: in the last this many probes of a round the
/// kernel may evict a TCP connection in TIME_WAIT ([`Check::Search`]).
pub const HARDER_THRESH: u32 = MAX_ATTEMPTS / 4;

/// What selection asks of the worker's connection table.
pub trait Conns {
    /// Whether `t` (original-direction form) is used by another
    /// connection: `t.invert()` is the reply tuple of an entry other
    /// than the one being set up. See the module docs for what `check`
    /// allows beyond that.
    fn taken(&mut self, t: &Tuple, check: Check) -> bool;

    /// `find_appropriate_src`'s walk of `nf_nat_bysource`: call `visit`
    /// with the reply tuple of each connection whose original tuple has
    /// `orig`'s protocol, source address, source port (ICMP: id) and
    /// zone and whose source manip is done (null bindings included),
    /// newest first as the kernel's list; stop when `visit` returns true.
    /// None by default.
    fn same_src(&mut self, orig: &Tuple, visit: &mut dyn FnMut(&Tuple) -> bool) {
        let _ = (orig, visit);
    }
}

/// `get_unique_tuple` with `taken` as the whole table (every [`Check`]
/// answered alike, no `find_appropriate_src`). See [`select`].
pub fn unique_tuple(
    orig: &Tuple,
    range: &Range,
    manip: Manip,
    slice: PortSlice,
    rand: &mut dyn FnMut() -> u32,
    taken: &mut dyn FnMut(&Tuple) -> bool,
) -> Option<Tuple> {
    struct Plain<'a>(&'a mut dyn FnMut(&Tuple) -> bool);
    impl Conns for Plain<'_> {
        fn taken(&mut self, t: &Tuple, _: Check) -> bool {
            (self.0)(t)
        }
    }
    select(orig, range, manip, slice, rand, &mut Plain(taken))
}

/// `get_unique_tuple`: the tuple `orig` (the connection's original tuple
/// as it is now: the kernel's `orig_tuple`, the inverse of the current
/// reply tuple) becomes when its `manip` side is mapped into `range`, in
/// original-direction form; `None` when the search found nothing free
/// (the kernel drops the packet then). `slice` is this worker's part of
/// the port space and `rand` stands for `get_random_u16` (its low 16
/// bits are used). See the module docs.
pub fn select(
    orig: &Tuple,
    range: &Range,
    manip: Manip,
    slice: PortSlice,
    rand: &mut dyn FnMut() -> u32,
    conns: &mut dyn Conns,
) -> Option<Tuple> {
    let random = range.random_all();

    // 1. A source manip keeps what it can: the tuple itself, or the
    //    mapping this source already has.
    if manip == Manip::Src && !random {
        if in_range(orig, range) {
            if keeps(slice, orig, range, manip) && !conns.taken(orig, Check::Unchanged) {
                return Some(*orig);
            }
        } else if let Some(t) = find_appropriate_src(orig, range, conns) {
            if keeps(slice, &t, range, manip) && !conns.taken(&t, Check::Used) {
                return Some(t);
            }
        }
    }

    // 2. The address.
    let mut t = *orig;
    find_best_ips_proto(&mut t, range, manip);

    // 3. Only bother mapping the port if it is not already in range and
    //    unique.
    if !random {
        match range.ports {
            Some((lo, hi)) => {
                if range.base.is_none()
                    && l4proto_in_range(&t, manip, lo, hi)
                    && keeps(slice, &t, range, manip)
                    && (lo == hi || !conns.taken(&t, Check::Used))
                {
                    return Some(t);
                }
            }
            None => {
                if keeps(slice, &t, range, manip) && !conns.taken(&t, Check::Used) {
                    return Some(t);
                }
            }
        }
    }

    // 4. Last chance: search the port space.
    l4proto_unique_tuple(t, range, manip, slice, rand, conns)
}

/// The range the kernel remaps a source `port` into when the binding
/// gives none (`nf_nat_l4proto_unique_tuple`): ports below 512 stay
/// below 512 (1..=511), below 1024 in 600..=1023, the rest in
/// 1024..=65535.
pub fn default_port_range(port: u16) -> (u16, u16) {
    match port {
        0..=511 => (1, 511),
        512..=1023 => (600, 1023),
        _ => (1024, 65535),
    }
}

/// The port (or ICMP id) `manip` changes; `None` for a protocol without.
fn key(t: &Tuple, manip: Manip) -> Option<u16> {
    if is_icmp(t.family, t.proto) {
        // The id is the same in both directions: always the source side.
        Some(t.sport)
    } else if has_ports(t.proto) {
        Some(match manip {
            Manip::Src => t.sport,
            Manip::Dst => t.dport,
        })
    } else {
        None
    }
}

fn set_key(t: &mut Tuple, manip: Manip, port: u16) {
    if is_icmp(t.family, t.proto) || manip == Manip::Src {
        t.sport = port;
    } else {
        t.dport = port;
    }
}

/// `l4proto_in_range`: the manipulated port (ICMP: the id) in `lo..=hi`;
/// always for a protocol without ports.
fn l4proto_in_range(t: &Tuple, manip: Manip, lo: u16, hi: u16) -> bool {
    match key(t, manip) {
        Some(p) => lo <= p && p <= hi,
        None => true,
    }
}

/// `in_range` with `nf_nat_inet_in_range`: the source address in the
/// address range and the source port in the port range, where given.
fn in_range(t: &Tuple, range: &Range) -> bool {
    if let Some((lo, hi)) = range.addrs {
        // Network-order bytes compare as the kernel's ntohl / memcmp.
        if t.src < lo || t.src > hi {
            return false;
        }
    }
    match range.ports {
        Some((lo, hi)) => l4proto_in_range(t, Manip::Src, lo, hi),
        None => true,
    }
}

/// Whether this worker may keep the port `t` has (see the module docs);
/// always for a destination manip and a protocol without ports.
fn keeps(slice: PortSlice, t: &Tuple, range: &Range, manip: Manip) -> bool {
    if manip == Manip::Dst {
        return true;
    }
    let Some(port) = key(t, manip) else {
        return true;
    };
    let (lo, hi) = match range.ports {
        Some((lo, hi)) => (lo.min(hi), lo.max(hi)),
        None if is_icmp(t.family, t.proto) => (0, u16::MAX),
        None => default_port_range(port),
    };
    let _ = (lo, hi);
    slice.owns(port)
}

/// `find_appropriate_src`: the first mapping of the same source (the
/// inverse of its reply tuple, with `orig`'s destination) that lies in
/// the range.
fn find_appropriate_src(orig: &Tuple, range: &Range, conns: &mut dyn Conns) -> Option<Tuple> {
    let mut found = None;
    conns.same_src(orig, &mut |reply| {
        let Some(mut t) = reply.invert() else {
            return false;
        };
        t.dst = orig.dst;
        t.dport = orig.dport;
        t.proto = orig.proto;
        t.family = orig.family;
        t.zone = orig.zone;
        if in_range(&t, range) {
            found = Some(t);
            true
        } else {
            false
        }
    });
    found
}

/// Word `i` of an address as the kernel's `u32 all[4]` holds it on a
/// little-endian CPU.
fn host_word(a: &Addr, i: usize) -> u32 {
    u32::from_le_bytes([a[4 * i], a[4 * i + 1], a[4 * i + 2], a[4 * i + 3]])
}

/// Word `i` of an address in host order (`ntohl(all[i])`).
fn be_word(a: &Addr, i: usize) -> u32 {
    u32::from_be_bytes([a[4 * i], a[4 * i + 1], a[4 * i + 2], a[4 * i + 3]])
}

/// `find_best_ips_proto`: set the `manip` address from the range: its
/// only address, or one chosen by hashing the source address with the
/// destination (or with nothing, `--persistent`), one 32-bit word at a
/// time from the most significant; once a word falls below the range's
/// highest, the following words range over all values but `u32::MAX`.
fn find_best_ips_proto(t: &mut Tuple, range: &Range, manip: Manip) {
    let Some((min, max)) = range.addrs else {
        return;
    };
    if min == max {
        *manip_addr(t, manip) = min;
        return;
    }
    let last = if t.family == 4 { 0 } else { 3 };
    // The key is always the four words of the source address (IPv4: one
    // word and three zero words); the seed the last word of the family's
    // destination address.
    let src = [0, 1, 2, 3].map(|i| host_word(&t.src, i));
    let mut j = jhash2(
        &src,
        if range.persistent {
            0
        } else {
            host_word(&t.dst, last) ^ u32::from(t.zone)
        },
    );
    let mut full = false;
    for i in 0..=last {
        let (lo, dist) = if full {
            (0, u32::MAX)
        } else {
            let lo = be_word(&min, i);
            (lo, be_word(&max, i).wrapping_sub(lo).wrapping_add(1))
        };
        let word = lo.wrapping_add(reciprocal_scale(j, dist));
        manip_addr(t, manip)[4 * i..4 * i + 4].copy_from_slice(&word.to_be_bytes());
        if word != be_word(&max, i) {
            full = true;
        }
        if !range.persistent {
            // For a destination manip this reads the word just written,
            // as the kernel's loop does.
            j ^= host_word(&t.dst, i);
        }
    }
}

fn manip_addr(t: &mut Tuple, manip: Manip) -> &mut Addr {
    match manip {
        Manip::Src => &mut t.src,
        Manip::Dst => &mut t.dst,
    }
}

/// `nf_nat_l4proto_unique_tuple`, on this worker's part of the range for
/// a source manip.
fn l4proto_unique_tuple(
    mut t: Tuple,
    range: &Range,
    manip: Manip,
    slice: PortSlice,
    rand: &mut dyn FnMut() -> u32,
    conns: &mut dyn Conns,
) -> Option<Tuple> {
    let Some(port) = key(&t, manip) else {
        // Nothing but the address can change.
        return Some(t);
    };
    let (lo, hi) = match range.ports {
        // The kernel swaps a reversed port range (not an ICMP one, whose
        // size then wraps: left out here).
        Some((a, b)) => (a.min(b), a.max(b)),
        None if is_icmp(t.family, t.proto) => (0, u16::MAX),
        // A destination manip without a range may not change the port.
        None if manip == Manip::Dst => return Some(t),
        None => default_port_range(port),
    };
    // This worker's ports of the range: every `step`-th from `min`.
    let (min, size, step) = match manip {
        Manip::Src => {
            let (first, n) = slice.part(lo, hi)?;
            (u32::from(first), n, slice.workers())
        }
        Manip::Dst => (u32::from(lo), u32::from(hi) - u32::from(lo) + 1, 1),
    };

    let mut off: u16 = match range.base {
        Some(base) => port.wrapping_sub(base),
        None if range.random_all() || manip == Manip::Src => rand() as u16,
        None => 0,
    };
    let mut attempts = size.min(MAX_ATTEMPTS);
    loop {
        for i in 0..attempts {
            set_key(&mut t, manip, (min + (u32::from(off) % size) * step) as u16);
            let check = Check::Search {
                attempts_left: attempts - i,
            };
            if !conns.taken(&t, check) {
                return Some(t);
            }
            off = off.wrapping_add(1);
        }
        // The whole range was probed, or the rounds got too small.
        if attempts >= size || attempts < 16 {
            return None;
        }
        attempts /= 2;
        off = rand() as u16;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::conntrack::tuple::addr;
    use std::collections::HashSet;

    fn a(s: &str) -> Addr {
        addr(s.parse().unwrap())
    }

    fn udp(src: &str, sport: u16, dst: &str, dport: u16) -> Tuple {
        let v6 = src.contains(':');
        Tuple {
            src: a(src),
            dst: a(dst),
            sport,
            dport,
            proto: 17,
            family: if v6 { 6 } else { 4 },
            zone: 0,
        }
    }

    fn to(lo: &str, hi: &str) -> Range {
        Range {
            addrs: Some((a(lo), a(hi))),
            ..Range::default()
        }
    }

    fn one() -> PortSlice {
        PortSlice::new(0, 1)
    }

    /// A table of tuples in use (original-direction form) that records
    /// every probe and can hold bysource mappings (reply tuples).
    #[derive(Default)]
    struct Table {
        used: HashSet<Tuple>,
        bysource: Vec<Tuple>,
        probes: Vec<(Tuple, Check)>,
    }

    impl Table {
        fn with(used: &[Tuple]) -> Table {
            Table {
                used: used.iter().copied().collect(),
                ..Table::default()
            }
        }

        /// A connection confirmed with `new`: its tuple is used.
        fn commit(&mut self, new: Tuple) {
            self.used.insert(new);
        }
    }

    impl Conns for Table {
        fn taken(&mut self, t: &Tuple, check: Check) -> bool {
            self.probes.push((*t, check));
            self.used.contains(t)
        }
        fn same_src(&mut self, _: &Tuple, visit: &mut dyn FnMut(&Tuple) -> bool) {
            for r in self.bysource.iter().rev() {
                if visit(r) {
                    return;
                }
            }
        }
    }

    /// A counter as randomness: each draw the next value.
    fn counter(start: u32) -> impl FnMut() -> u32 {
        let mut n = start;
        move || {
            n = n.wrapping_add(1);
            n - 1
        }
    }

    fn no_rand() -> u32 {
        panic!("no randomness expected")
    }

    fn pick(orig: &Tuple, range: &Range, manip: Manip, table: &mut Table) -> Option<Tuple> {
        select(orig, range, manip, one(), &mut no_rand, table)
    }

    #[test]
    fn a_free_tuple_in_range_is_kept_unchanged() {
        // The null binding: the range is the source address itself.
        let t = udp("198.51.100.1", 4000, "203.0.113.5", 53);
        let mut tab = Table::default();
        let range = to("198.51.100.1", "198.51.100.1");
        assert_eq!(pick(&t, &range, Manip::Src, &mut tab), Some(t));
        assert_eq!(tab.probes, vec![(t, Check::Unchanged)]);
        // SNAT to another address keeps the port when it is free.
        let range = to("192.0.2.200", "192.0.2.200");
        let got = pick(&t, &range, Manip::Src, &mut tab).unwrap();
        assert_eq!(
            got,
            Tuple {
                src: a("192.0.2.200"),
                ..t
            }
        );
    }

    /// The kernel (6.18, SNAT `--to-source 192.0.2.200`, three clients
    /// with the same source port to the same server) kept the port for
    /// the first and remapped the others into the port's default range:
    /// 0 -> 169, 164; 100 -> 306, 346; 550 -> 920, 943; 700 -> 911, 624;
    /// 4000 -> 59293, 55660. Ours, with a given offset, lands in the
    /// same range at `min + offset % size`.
    #[test]
    fn a_clash_remaps_into_the_ports_default_range() {
        let range = to("192.0.2.200", "192.0.2.200");
        for (port, lo, hi) in [
            (0u16, 1u16, 511u16),
            (100, 1, 511),
            (550, 600, 1023),
            (700, 600, 1023),
            (4000, 1024, 65535),
        ] {
            let first = udp("198.51.100.1", port, "203.0.113.5", 53);
            let mut tab = Table::default();
            let kept = pick(&first, &range, Manip::Src, &mut tab).unwrap();
            assert_eq!(kept.sport, port, "the first keeps {port}");
            tab.commit(kept);
            let second = udp("198.51.100.2", port, "203.0.113.5", 53);
            let got = select(&second, &range, Manip::Src, one(), &mut || 1000, &mut tab).unwrap();
            let size = u32::from(hi - lo) + 1;
            assert_eq!(u32::from(got.sport), u32::from(lo) + 1000 % size, "{port}");
            assert_eq!(got.src, a("192.0.2.200"));
        }
    }

    /// `--to-source 192.0.2.200:5000-5001`: two clients get the two
    /// ports, a third finds none (the kernel left no entry for it).
    #[test]
    fn an_exhausted_port_range_gives_none() {
        let range = Range {
            ports: Some((5000, 5001)),
            ..to("192.0.2.200", "192.0.2.200")
        };
        let mut tab = Table::default();
        let mut rand = counter(0);
        let mut got = Vec::new();
        for c in 1..=3 {
            let t = udp(&format!("198.51.100.{c}"), 4000, "203.0.113.5", 53);
            let new = select(&t, &range, Manip::Src, one(), &mut rand, &mut tab);
            if let Some(new) = new {
                tab.commit(new);
            }
            got.push(new.map(|n| n.sport));
        }
        assert_eq!(got, vec![Some(5000), Some(5001), None]);
    }

    /// 128 probes from the offset, then rounds of 64, 32, 16 and 8 from
    /// fresh offsets; the attempts left count down in each round.
    #[test]
    fn the_search_shrinks_its_rounds_then_gives_up() {
        let range = Range {
            ports: Some((10000, 10999)),
            ..to("192.0.2.200", "192.0.2.200")
        };
        struct Full(Vec<Check>);
        impl Conns for Full {
            fn taken(&mut self, _: &Tuple, check: Check) -> bool {
                self.0.push(check);
                true
            }
        }
        let mut full = Full(Vec::new());
        let mut draws = 0;
        // In the range: step 3 probes it once.
        let t = udp("198.51.100.1", 10500, "203.0.113.5", 53);
        let got = select(
            &t,
            &range,
            Manip::Src,
            one(),
            &mut || {
                draws += 1;
                0
            },
            &mut full,
        );
        assert_eq!(got, None);
        assert_eq!(full.0[0], Check::Used);
        let search: Vec<u32> = full.0[1..]
            .iter()
            .map(|c| match c {
                Check::Search { attempts_left } => *attempts_left,
                other => panic!("{other:?}"),
            })
            .collect();
        let mut want = Vec::new();
        for round in [128u32, 64, 32, 16, 8] {
            want.extend((1..=round).rev());
        }
        assert_eq!(search, want);
        assert_eq!(draws, 5, "one offset per round");
        // A range the first round covers whole is probed once (and
        // 10500 is not in it: no step 3).
        let small = Range {
            ports: Some((10000, 10099)),
            ..range
        };
        let mut full = Full(Vec::new());
        assert_eq!(
            select(&t, &small, Manip::Src, one(), &mut || 0, &mut full),
            None
        );
        assert_eq!(full.0.len(), 100);
    }

    /// Probes walk the range from the offset and wrap at its end; the u16
    /// offset wraps at 65536 (not at the range's size).
    #[test]
    fn probes_walk_from_the_offset_and_wrap() {
        let range = Range {
            ports: Some((5000, 5009)),
            ..to("192.0.2.200", "192.0.2.200")
        };
        let t = udp("198.51.100.1", 4000, "203.0.113.5", 53);
        let mut tab = Table::with(&[5008, 5009, 5000].map(|p| Tuple {
            src: a("192.0.2.200"),
            sport: p,
            ..t
        }));
        let got = select(&t, &range, Manip::Src, one(), &mut || 8, &mut tab).unwrap();
        assert_eq!(got.sport, 5001);
        // 65535 % 10 = 5, then 0 % 10 = 0 (not 6).
        let mut tab = Table::with(&[Tuple {
            src: a("192.0.2.200"),
            sport: 5005,
            ..t
        }]);
        let got = select(&t, &range, Manip::Src, one(), &mut || 0xffff, &mut tab).unwrap();
        assert_eq!(got.sport, 5000);
    }

    /// The kernel's picks for `-j DNAT --to-destination 10.0.1.2-10.0.1.3`
    /// and `10.0.1.2-10.0.1.9` (with `--persistent`, and in zone 7 by
    /// `-j CT --zone 7`), UDP from 198.51.100.N:4000, read back with
    /// `conntrack -L` in a network namespace of a 6.18 kernel: the last
    /// octet of the backend for N = 1, 2, ...
    #[test]
    fn dnat_range_picks_the_kernels_backend() {
        // server, highest backend, zone, persistent or not: the picks.
        let cases = [
            "203.0.113.5 10.0.1.3 0 -: 2 2 3 2 3 2 2 3 2 2 3 2 2 2 2 2 2 3 2 3",
            "203.0.113.5 10.0.1.9 0 -: 2 3 7 4 8 4 5 7 5 4 8 4 2 3 3 3",
            "203.0.113.77 10.0.1.9 0 -: 3 4 2 8 6 6 2 6 4 5 9 7 4 8 7 3",
            "8.8.8.8 10.0.1.9 0 -: 9 9 3 5 2 5 4 7 8 7 7 7 5 4 9 4",
            "203.0.113.5 10.0.1.9 0 persistent: 8 8 3 6 4 4 4 4 7 9 9 6 3 3 3 5",
            "8.8.8.8 10.0.1.9 0 persistent: 8 8 3 6 4 4 4 4 7 9 9 6 3 3 3 5",
            "203.0.113.5 10.0.1.9 7 -: 6 3 9 3 7 7 2 5 5 3 4 8 7 7 6 6",
            "203.0.113.77 10.0.1.9 7 -: 4 9 5 2 7 4 3 9 8 8 7 4 9 6 9 9",
            "8.8.8.8 10.0.1.9 7 -: 5 3 3 7 3 3 8 3 2 3 3 5 4 2 4 7",
        ];
        for case in cases {
            let (head, want) = case.split_once(": ").unwrap();
            let [dst, hi, zone, flag] = [0, 1, 2, 3].map(|i| head.split(' ').nth(i).unwrap());
            let range = Range {
                persistent: flag == "persistent",
                ..to("10.0.1.2", hi)
            };
            let got: Vec<String> = (1..=want.split(' ').count())
                .map(|n| {
                    let t = Tuple {
                        zone: zone.parse().unwrap(),
                        ..udp(&format!("198.51.100.{n}"), 4000, dst, 53)
                    };
                    let new = pick(&t, &range, Manip::Dst, &mut Table::default()).unwrap();
                    assert_eq!((new.src, new.sport, new.dport), (t.src, 4000, 53));
                    new.dst[3].to_string()
                })
                .collect();
            assert_eq!(got.join(" "), want, "{head}");
        }
    }

    #[test]
    fn dnat_range_spreads_clients_over_the_backends() {
        let range = to("10.0.1.2", "10.0.1.9");
        let mut per = [0u32; 8];
        for n in 0..4000u32 {
            let [_, _, x, y] = n.to_be_bytes();
            let t = udp(&format!("172.16.{x}.{y}"), 4000, "203.0.113.5", 80);
            let new = pick(&t, &range, Manip::Dst, &mut Table::default()).unwrap();
            per[usize::from(new.dst[3] - 2)] += 1;
        }
        for (i, n) in per.iter().enumerate() {
            assert!((400..600).contains(n), "backend {i}: {n} of 4000");
        }
    }

    /// `--persistent` hashes the source alone: the same client gets the
    /// same backend whatever the destination; without it, it varies.
    #[test]
    fn persistent_hashes_the_source_alone() {
        let plain = to("10.0.1.2", "10.0.1.9");
        let persistent = Range {
            persistent: true,
            ..plain
        };
        let backend = |range: &Range, dst: &str| {
            let t = udp("198.51.100.1", 4000, dst, 53);
            pick(&t, range, Manip::Dst, &mut Table::default())
                .unwrap()
                .dst
        };
        let dsts = ["203.0.113.5", "203.0.113.77", "8.8.8.8", "192.0.2.9"];
        let p: HashSet<Addr> = dsts.iter().map(|d| backend(&persistent, d)).collect();
        let n: HashSet<Addr> = dsts.iter().map(|d| backend(&plain, d)).collect();
        assert_eq!(p.len(), 1);
        assert!(n.len() > 1);
    }

    /// IPv6 picks of a 6.18 kernel: a range in the last word, and one
    /// across a word boundary (2001:db8:9::1:fffe-2001:db8:9::2:0:1),
    /// where the kernel's word-by-word pick leaves the range, and where a
    /// destination manip folds the words it has just written into the
    /// hash. SNAT over the same kind of range folds the (unchanged)
    /// destination in instead.
    #[test]
    fn ipv6_picks_match_the_kernel() {
        // Each line: client, server, the backend the kernel chose.
        let word = [
            "2001:db8:1::1 2001:db8:2::5 2001:db8:9::1d",
            "2001:db8:1:2::42 2001:db8:2::77:1234 2001:db8:9::11",
            "2001:db8:1::3 2001:db8:2:abcd::9 2001:db8:9::1b",
        ];
        let across = [
            "2001:db8:1:1::42 2001:db8:2::5 2001:db8:9::ef3:b283",
            "2001:db8:1::1 2001:db8:2::77:1234 2001:db8:9::48b1:e935",
            "2001:db8:1::2 2001:db8:2:abcd::9 2001:db8:9::1436:b2b3",
            "2001:db8:1::3 2001:db8:2::5 2001:db8:9::1:7352:e7ac",
        ];
        let across_persistent = [
            "2001:db8:1::1 2001:db8:2::5 2001:db8:9::1:9d30:b91d",
            "2001:db8:1::2 2001:db8:2:abcd::9 2001:db8:9::2:f1b6:e482",
        ];
        let in_word = ("2001:db8:9::10", "2001:db8:9::1f");
        let over_words = ("2001:db8:9::1:fffe", "2001:db8:9::2:0:1");
        let ranges = [
            (in_word, false, &word[..]),
            (over_words, false, &across[..]),
            (over_words, true, &across_persistent[..]),
        ];
        for ((lo, hi), persistent, cases) in ranges {
            let range = Range {
                persistent,
                ..to(lo, hi)
            };
            for case in cases {
                let [src, dst, want] = [0, 1, 2].map(|i| case.split(' ').nth(i).unwrap());
                let t = udp(src, 4000, dst, 53);
                let new = pick(&t, &range, Manip::Dst, &mut Table::default()).unwrap();
                assert_eq!(new.dst, a(want), "{src} -> {dst} in {lo}-{hi}");
            }
        }
        let snat = to("2001:db8:ff::1:fffe", "2001:db8:ff::2:0:1");
        for (src, want) in [
            ("2001:db8:1:1::42", "2001:db8:ff::ef3:b983"),
            ("2001:db8:1::1", "2001:db8:ff::2:d8d2:e08f"),
            ("2001:db8:1::2", "2001:db8:ff::1:9e7f:5de"),
        ] {
            let t = udp(src, 4000, "2001:db8:2::5", 53);
            let new = pick(&t, &snat, Manip::Src, &mut Table::default()).unwrap();
            assert_eq!((new.src, new.sport), (a(want), 4000), "{src}");
        }
    }

    /// `find_appropriate_src`: the kernel (SNAT to 192.0.2.210-213) gave
    /// 198.51.100.1:4000 the address 192.0.2.212 for 8.8.8.1 and kept it
    /// for 8.8.8.2..12, where the hash alone picks .210, .211 or .213
    /// for some. A mapping out of the range is not reused (IPv6: the
    /// kernel's first pick 2001:db8:ff::2:d8d2:e08f lies outside its
    /// range, so the next flow is hashed anew).
    #[test]
    fn a_sources_mapping_is_reused_while_in_range() {
        let range = to("192.0.2.210", "192.0.2.213");
        let mut tab = Table::default();
        let first = udp("198.51.100.1", 4000, "8.8.8.1", 53);
        let new = pick(&first, &range, Manip::Src, &mut tab).unwrap();
        assert_eq!(new.src, a("192.0.2.212"));
        tab.commit(new);
        tab.bysource.push(new.invert().unwrap());
        let other = udp("198.51.100.1", 4000, "8.8.8.3", 53);
        let hashed = pick(&other, &range, Manip::Src, &mut Table::default()).unwrap();
        assert_eq!(hashed.src, a("192.0.2.210"));
        let got = pick(&other, &range, Manip::Src, &mut tab).unwrap();
        assert_eq!(
            (got.src, got.sport, got.dst),
            (a("192.0.2.212"), 4000, a("8.8.8.3"))
        );

        let v6 = to("2001:db8:ff::1:fffe", "2001:db8:ff::2:0:1");
        let mut tab = Table::default();
        let first = udp("2001:db8:1::1", 4000, "2001:db8:2::5", 53);
        let new = pick(&first, &v6, Manip::Src, &mut tab).unwrap();
        tab.commit(new);
        tab.bysource.push(new.invert().unwrap());
        let next = udp("2001:db8:1::1", 4000, "2001:db8:2::77:1234", 53);
        let got = pick(&next, &v6, Manip::Src, &mut tab).unwrap();
        assert_eq!(got.src, a("2001:db8:ff::48b1:e235"));
    }

    /// DNAT keeps an in-range destination port; on a clash it searches
    /// from offset 0, not at random (6.18: 10.0.1.2:1000-1009 gave
    /// 1005, then 1000, then 1001 for three flows to port 1005).
    #[test]
    fn dnat_port_range_searches_from_its_start() {
        let range = Range {
            ports: Some((1000, 1009)),
            ..to("10.0.1.2", "10.0.1.2")
        };
        let mut tab = Table::default();
        let mut got = Vec::new();
        for vip in ["203.0.113.5", "203.0.113.6", "203.0.113.7"] {
            let t = udp("198.51.100.1", 4000, vip, 1005);
            let new = pick(&t, &range, Manip::Dst, &mut tab).unwrap();
            assert_eq!((new.dst, new.sport), (a("10.0.1.2"), 4000));
            tab.commit(new);
            got.push(new.dport);
        }
        assert_eq!(got, vec![1005, 1000, 1001]);
        // A port outside the range goes to the range's first free port.
        let t = udp("198.51.100.9", 4000, "203.0.113.5", 53);
        assert_eq!(pick(&t, &range, Manip::Dst, &mut tab).unwrap().dport, 1000);
        // --random draws the offset.
        let random = Range {
            random: true,
            ..range
        };
        let got = select(&t, &random, Manip::Dst, one(), &mut || 4, &mut tab).unwrap();
        assert_eq!(got.dport, 1004);
    }

    /// A destination manip without a port range never changes the port,
    /// even when the tuple is taken (the confirm step sees the clash).
    #[test]
    fn dnat_without_ports_keeps_the_port_even_if_taken() {
        let range = to("10.0.1.2", "10.0.1.2");
        let t = udp("198.51.100.1", 4000, "203.0.113.5", 80);
        let new = Tuple {
            dst: a("10.0.1.2"),
            ..t
        };
        let mut tab = Table::with(&[new]);
        assert_eq!(pick(&t, &range, Manip::Dst, &mut tab), Some(new));
    }

    /// `--to-destination 10.0.1.2:6000-6099/5000`: 5007 -> 6007 (6.18),
    /// even though 5007 is free; taken, the next one.
    #[test]
    fn an_offset_range_shifts_the_port() {
        let range = Range {
            ports: Some((6000, 6099)),
            base: Some(5000),
            ..to("10.0.1.2", "10.0.1.2")
        };
        let t = udp("198.51.100.1", 5007, "203.0.113.5", 5007);
        let got = pick(&t, &range, Manip::Dst, &mut Table::default()).unwrap();
        assert_eq!((got.dst, got.dport), (a("10.0.1.2"), 6007));
        let mut tab = Table::with(&[got]);
        assert_eq!(pick(&t, &range, Manip::Dst, &mut tab).unwrap().dport, 6008);
    }

    /// `--random` remaps a free port too (6.18 gave three flows random
    /// ports, the first included).
    #[test]
    fn random_skips_keeping_the_port() {
        let range = Range {
            random_fully: true,
            ..to("192.0.2.200", "192.0.2.200")
        };
        let t = udp("198.51.100.1", 4000, "203.0.113.5", 53);
        let mut tab = Table::default();
        let got = select(&t, &range, Manip::Src, one(), &mut || 7, &mut tab).unwrap();
        assert_eq!(got.sport, 1024 + 7);
        assert_eq!(tab.probes.len(), 1);
        assert!(matches!(tab.probes[0].1, Check::Search { .. }));
    }

    /// ICMP: the echo id is remapped on a clash, over all ids (6.18 gave
    /// 20835 and 5548 to the second and third client's id 777), or in a
    /// given range.
    #[test]
    fn icmp_ids_are_remapped_on_a_clash() {
        let echo = |c: u8| Tuple {
            proto: 1,
            sport: 777,
            dport: 8 << 8,
            ..udp(&format!("198.51.100.{c}"), 0, "203.0.113.5", 0)
        };
        let range = to("192.0.2.200", "192.0.2.200");
        let mut tab = Table::default();
        let first = pick(&echo(1), &range, Manip::Src, &mut tab).unwrap();
        assert_eq!(
            (first.src, first.sport, first.dport),
            (a("192.0.2.200"), 777, 8 << 8)
        );
        tab.commit(first);
        let second = select(&echo(2), &range, Manip::Src, one(), &mut || 20835, &mut tab).unwrap();
        assert_eq!((second.sport, second.dport), (20835, 8 << 8));
        let ids = Range {
            ports: Some((100, 199)),
            ..range
        };
        let third = select(&echo(3), &ids, Manip::Src, one(), &mut || 5, &mut tab).unwrap();
        assert_eq!(third.sport, 105);
    }

    /// DNAT of ICMP changes the id too, from 0 up (6.18: echo id 777
    /// from one client to three addresses DNATed to 10.0.1.2 got the
    /// ids 777, 0 and 1).
    #[test]
    fn dnat_of_icmp_searches_ids_from_zero() {
        let range = to("10.0.1.2", "10.0.1.2");
        let mut tab = Table::default();
        let mut got = Vec::new();
        for vip in ["203.0.113.5", "203.0.113.6", "203.0.113.7"] {
            let echo = Tuple {
                proto: 1,
                sport: 777,
                dport: 8 << 8,
                ..udp("198.51.100.1", 0, vip, 0)
            };
            let new = pick(&echo, &range, Manip::Dst, &mut tab).unwrap();
            assert_eq!((new.dst, new.dport), (a("10.0.1.2"), 8 << 8));
            tab.commit(new);
            got.push(new.sport);
        }
        assert_eq!(got, vec![777, 0, 1]);
    }

    /// A protocol without ports (GRE here): only the address changes,
    /// and a taken tuple is returned as is.
    #[test]
    fn a_protocol_without_ports_changes_only_the_address() {
        let t = Tuple {
            proto: 47,
            ..udp("198.51.100.1", 0, "203.0.113.5", 0)
        };
        let range = to("192.0.2.200", "192.0.2.200");
        let want = Tuple {
            src: a("192.0.2.200"),
            ..t
        };
        let mut tab = Table::with(&[want]);
        assert_eq!(
            select(&t, &range, Manip::Src, one(), &mut || 3, &mut tab),
            Some(want)
        );
    }

    #[test]
    fn ipv6_snat_keeps_a_free_port_and_remaps_a_taken_one() {
        let range = to("2001:db8:ff::10", "2001:db8:ff::10");
        let t = udp("2001:db8:1::1", 4000, "2001:db8:2::5", 53);
        let mut tab = Table::default();
        let new = pick(&t, &range, Manip::Src, &mut tab).unwrap();
        assert_eq!(
            (new.src, new.sport, new.family),
            (a("2001:db8:ff::10"), 4000, 6)
        );
        tab.commit(new);
        let t2 = udp("2001:db8:1::2", 4000, "2001:db8:2::5", 53);
        let got = select(&t2, &range, Manip::Src, one(), &mut || 9, &mut tab).unwrap();
        assert_eq!((got.src, got.sport), (a("2001:db8:ff::10"), 1024 + 9));
    }

    /// Two workers NATing clients that all use the same source port to
    /// the same server: each keeps only ports it owns, chooses only from
    /// its own part, and no port is chosen twice.
    #[test]
    fn two_workers_never_share_a_port() {
        let range = to("192.0.2.200", "192.0.2.200");
        // Each worker sees only its own shard.
        let mut tabs = [Table::default(), Table::default()];
        let mut mine: [Vec<u16>; 2] = [Vec::new(), Vec::new()];
        let mut rand = counter(12345);
        for c in 0..400u32 {
            let w = c % 2;
            let slice = PortSlice::new(w, 2);
            let [_, _, x, y] = c.to_be_bytes();
            let t = udp(&format!("10.{x}.{y}.1"), 40000, "203.0.113.5", 53);
            let tab = &mut tabs[w as usize];
            let new = select(&t, &range, Manip::Src, slice, &mut rand, tab).unwrap();
            tab.commit(new);
            mine[w as usize].push(new.sport);
        }
        assert!(mine[0].iter().all(|&p| PortSlice::new(0, 2).owns(p)));
        assert!(mine[1].iter().all(|&p| PortSlice::new(1, 2).owns(p)));
        // 40000 is worker 0's: only worker 0 kept it (once).
        assert!(PortSlice::new(0, 2).owns(40000));
        assert_eq!(mine[0].iter().filter(|&&p| p == 40000).count(), 1);
        let all: HashSet<u16> = mine.iter().flatten().copied().collect();
        assert_eq!(all.len(), 400);
        // 550 (no default range holds it) is worker 0's by its parity.
        let t = udp("10.0.0.1", 550, "203.0.113.5", 53);
        let w0 = select(
            &t,
            &range,
            Manip::Src,
            PortSlice::new(0, 2),
            &mut rand,
            &mut Table::default(),
        );
        assert_eq!(w0.unwrap().sport, 550);
        let w1 = select(
            &t,
            &range,
            Manip::Src,
            PortSlice::new(1, 2),
            &mut rand,
            &mut Table::default(),
        );
        let p = w1.unwrap().sport;
        assert!(
            PortSlice::new(1, 2).owns(p) && (600..=1023).contains(&p),
            "{p}"
        );
    }

    /// A one-port range has a part for one worker only: the others find
    /// nothing.
    #[test]
    fn a_worker_without_a_part_of_the_range_finds_nothing() {
        let range = Range {
            ports: Some((5000, 5000)),
            ..to("192.0.2.200", "192.0.2.200")
        };
        let t = udp("198.51.100.1", 4000, "203.0.113.5", 53);
        let w0 = select(
            &t,
            &range,
            Manip::Src,
            PortSlice::new(0, 2),
            &mut || 0,
            &mut Table::default(),
        );
        assert_eq!(w0.unwrap().sport, 5000);
        let w1 = select(
            &t,
            &range,
            Manip::Src,
            PortSlice::new(1, 2),
            &mut || 0,
            &mut Table::default(),
        );
        assert_eq!(w1, None);
    }

    #[test]
    fn unique_tuple_answers_every_check_with_taken() {
        let range = to("192.0.2.200", "192.0.2.200");
        let t = udp("198.51.100.1", 4000, "203.0.113.5", 53);
        let kept = Tuple {
            src: a("192.0.2.200"),
            ..t
        };
        let mut seen = 0;
        let got = unique_tuple(&t, &range, Manip::Src, one(), &mut || 5, &mut |x| {
            seen += 1;
            *x == kept
        });
        assert_eq!(got.unwrap().sport, 1024 + 5);
        assert_eq!(seen, 2);
    }
}
