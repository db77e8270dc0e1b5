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
mod tests;
