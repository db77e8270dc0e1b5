//! Compiled ipsets and `-m set` (`net/netfilter/ipset/`, `xt_set.c`).
//!
//! Contract:
//!
//! * The control side compiles a whole sets file ([`SetFile`]) into a
//!   [`SetTable`] ([`SetTable::compile`]): every set gets a [`SetId`], looked
//!   up by name with [`SetTable::id`]. The table is immutable (it goes into
//!   the snapshot) and shared by the workers. Rules compile their
//!   `--match-set` into a [`SetMatch`] against it.
//! * The per-packet calls — [`SetKey::from_packet`], [`SetTable::test`],
//!   [`SetMatch::matches`] — allocate nothing and cannot panic. Hash types
//!   cost one hash probe (`hash:ip`, `hash:ip,port`) or one probe per
//!   distinct prefix length in the set (`hash:net`, `hash:net,port`), as in
//!   the kernel; `bitmap:port` is a bit test.
//!
//! # Kernel behaviour reproduced
//!
//! * Family: a set of family `inet` only ever matches IPv4 packets and
//!   `inet6` only IPv6 (`ip_set_test`: `opt->family == set->family`);
//!   `bitmap:port` has no family and matches both.
//! * `hash:ip` (and `hash:ip,port`) with `netmask N`: the packet's address
//!   is masked to N bits before the lookup (the stored elements already
//!   are). In `hash:ip` an address that masks to 0.0.0.0 / `::` never
//!   matches (`-EINVAL` in `hash_ip4_kadt`).
//! * `hash:net` / `hash:net,port`: the prefix lengths present in the set
//!   are probed from the longest to the shortest; the first element found
//!   decides (`mtype_test_cidrs`). A `nomatch` element gives
//!   [`SetResult::NomatchEntry`], which does not match — so a more specific
//!   `nomatch` network carves an exception out of a wider one.
//!   `--return-nomatch` reverses this for the types that know `nomatch`
//!   (`ip_set_test`: the result is negated), so that `nomatch` elements
//!   match and plain elements do *not*.
//! * Ports (`ip_set_get_ip4_port` / `ip_set_get_ip6_port`, `get_port`): TCP,
//!   UDP, UDP-Lite and SCTP give their port (the header must be whole: 20, 8,
//!   8 and 12 bytes); ICMP and ICMPv6 give `type << 8 | code` (8 bytes
//!   needed); every other protocol (DCCP included) gives port 0. IPv4 with
//!   protocol 0 has no port. A non-first IPv4 fragment has no port for TCP,
//!   SCTP, UDP, UDP-Lite and ICMP, and port 0 for the rest; a non-first IPv6
//!   fragment has none at all. No port: the `*,port` and `bitmap:port`
//!   types do not match.
//! * `bitmap:port` matches TCP and UDP ports only (not UDP-Lite or SCTP),
//!   and never a port outside its range.
//! * The lookup needs as many `src`/`dst` flags as the set has dimensions
//!   (fewer: no match); extra flags are ignored.
//!
//! Checked against Linux 6.18 with ipset 7.17 in a network namespace:
//! `nomatch` and `--return-nomatch` on nested `hash:net` elements, a
//! `netmask 8` `hash:ip` and the 0.x.x.x address, `bitmap:port` with TCP,
//! UDP, SCTP and UDP-Lite, a `hash:ip,port` element `dccp:0` matching DCCP
//! traffic, first and non-first TCP fragments.
//!
//! Not kept: element timeouts (elements never expire — the kernel drops an
//! element `timeout` seconds after it was added) and per-element counters
//! (never updated). A rule that *tests* counters (`--packets-gt` ...) of a
//! set created with `counters` is refused by [`SetMatch::compile`], since
//! its answer would differ from the kernel's; on a set without `counters`
//! the kernel ignores such a test, and so does sluice. Comments are
//! irrelevant to matching.

use std::collections::{HashMap, HashSet};
use std::net::IpAddr;

use ahash::RandomState;
use sluice_config::ipset::{Family, IpSet, SetEntries, SetFile, SetKind};
use sluice_config::iptables::ext::set::{Set, SetDir};

use crate::wire::{IpProtocol, L4Status, PacketMeta};

/// A set's index in its [`SetTable`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct SetId(pub u32);

/// What a lookup found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SetResult {
    /// An element (not `nomatch`) holds the key.
    Match,
    /// No element holds the key, or the key cannot be looked up in this set
    /// (wrong family, missing port, port out of a bitmap's range).
    NoMatch,
    /// The most specific element holding the key is a `nomatch` one.
    NomatchEntry,
}

/// The values a lookup uses, already chosen by the rule's `src`/`dst`
/// flags: the address (first dimension), and for the port types the
/// protocol and port (second dimension, or the first for `bitmap:port`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct SetKey {
    pub ip: IpAddr,
    pub proto: u8,
    /// `None` when the kernel finds no port in the packet (see the module
    /// docs); the port types then do not match.
    pub port: Option<u16>,
}

/// Why a set or a `-m set` rule cannot be compiled.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SetError {
    /// The rule names a set the sets file does not create.
    #[error("set `{0}' does not exist")]
    NoSuchSet(String),
    /// The config parser never produces this.
    #[error("-m set without --match-set")]
    NoMatchSet,
    /// Counter conditions on a set with counters: sluice keeps no counters.
    #[error("set `{0}' keeps counters and the rule tests them (--packets-*/--bytes-*): sluice does not keep ipset counters")]
    Counters(String),
    /// The set's elements do not fit its declared kind or family (the config
    /// parser never produces this).
    #[error("set `{0}': malformed for its type")]
    Malformed(String),
}

/// `(address, protocol, port)` as stored in the `*,port` types; IPv4
/// addresses in the low 32 bits.
type PortKey = (u128, u8, u16);

#[derive(Debug, Clone)]
enum Body {
    HashIp {
        /// Host bits kept (the netmask; 32 / 128 without one).
        prefix: u8,
        elems: HashSet<u128, RandomState>,
    },
    HashNet {
        /// Longest first; each with its elements: address → nomatch.
        by_prefix: Vec<(u8, HashMap<u128, bool, RandomState>)>,
    },
    HashIpPort {
        prefix: u8,
        elems: HashSet<PortKey, RandomState>,
    },
    HashNetPort {
        by_prefix: Vec<(u8, HashMap<PortKey, bool, RandomState>)>,
    },
    BitmapPort {
        first: u16,
        last: u16,
        bits: Vec<u64>,
    },
}

#[derive(Debug, Clone)]
struct CompiledSet {
    name: String,
    kind: SetKind,
    family: Option<Family>,
    counters: bool,
    body: Body,
}

/// Every set of a sets file, compiled for lookups.
#[derive(Debug, Clone)]
pub struct SetTable {
    sets: Vec<CompiledSet>,
    by_name: HashMap<String, SetId>,
}

/// A compiled `-m set --match-set NAME DIRS [--return-nomatch]`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SetMatch {
    pub set: SetId,
    /// The address direction (first flag).
    pub ip_dir: SetDir,
    /// The port direction (second flag; the first for `bitmap:port`).
    pub port_dir: SetDir,
    /// The rule gives fewer flags than the set has dimensions: never found.
    pub too_few_dims: bool,
    pub return_nomatch: bool,
    pub invert: bool,
}

/// Host bits of an address of `family`, as `u128` (IPv4 in the low 32 bits).
fn addr_bits(ip: IpAddr) -> u128 {
    match ip {
        IpAddr::V4(a) => u128::from(u32::from(a)),
        IpAddr::V6(a) => u128::from(a),
    }
}

/// Keeps the first `prefix` bits of an address of `width` bits (32 or 128).
#[inline]
fn mask(addr: u128, prefix: u8, width: u8) -> u128 {
    if prefix == 0 {
        return 0;
    }
    let keep = u128::MAX << (width - prefix.min(width));
    addr & (keep & (u128::MAX >> (128 - width)))
}

fn width(family: Family) -> u8 {
    match family {
        Family::Inet => 32,
        Family::Inet6 => 128,
    }
}

fn family_of(ip: IpAddr) -> Family {
    match ip {
        IpAddr::V4(_) => Family::Inet,
        IpAddr::V6(_) => Family::Inet6,
    }
}

fn hasher() -> RandomState {
    RandomState::with_seeds(
        0x243f_6a88_85a3_08d3,
        0x1319_8a2e_0370_7344,
        0xa409_3822_299f_31d0,
        0x082e_fa98_ec4e_6c89,
    )
}

fn compile_set(set: &IpSet) -> Result<CompiledSet, SetError> {
    let bad = || SetError::Malformed(set.name.clone());
    let w = set.family.map(width).unwrap_or(32);
    let netmask = set
        .hash
        .as_ref()
        .and_then(|h| h.netmask)
        .unwrap_or(w)
        .min(w);
    let body = match &set.entries {
        SetEntries::HashIp(v) => {
            let mut elems = HashSet::with_capacity_and_hasher(v.len(), hasher());
            for e in v {
                elems.insert(mask(addr_bits(e.elem), netmask, w));
            }
            Body::HashIp {
                prefix: netmask,
                elems,
            }
        }
        SetEntries::HashNet(v) => {
            let mut by: HashMap<u8, HashMap<u128, bool, RandomState>> = HashMap::new();
            for e in v {
                let p = e.elem.net.prefix_len();
                by.entry(p)
                    .or_insert_with(|| HashMap::with_hasher(hasher()))
                    .insert(mask(addr_bits(e.elem.net.addr()), p, w), e.elem.nomatch);
            }
            let mut by_prefix: Vec<_> = by.into_iter().collect();
            by_prefix.sort_by_key(|e| std::cmp::Reverse(e.0));
            Body::HashNet { by_prefix }
        }
        SetEntries::HashIpPort(v) => {
            let mut elems = HashSet::with_capacity_and_hasher(v.len(), hasher());
            for e in v {
                elems.insert((
                    mask(addr_bits(e.elem.ip), netmask, w),
                    e.elem.port.proto(),
                    e.elem.port.port(),
                ));
            }
            Body::HashIpPort {
                prefix: netmask,
                elems,
            }
        }
        SetEntries::HashNetPort(v) => {
            let mut by: HashMap<u8, HashMap<PortKey, bool, RandomState>> = HashMap::new();
            for e in v {
                let p = e.elem.net.prefix_len();
                by.entry(p)
                    .or_insert_with(|| HashMap::with_hasher(hasher()))
                    .insert(
                        (
                            mask(addr_bits(e.elem.net.addr()), p, w),
                            e.elem.port.proto(),
                            e.elem.port.port(),
                        ),
                        e.elem.nomatch,
                    );
            }
            let mut by_prefix: Vec<_> = by.into_iter().collect();
            by_prefix.sort_by_key(|e| std::cmp::Reverse(e.0));
            Body::HashNetPort { by_prefix }
        }
        SetEntries::BitmapPort(v) => {
            let (first, last) = set.range.ok_or_else(bad)?;
            let span = usize::from(last.checked_sub(first).ok_or_else(bad)?) + 1;
            let mut bits = vec![0u64; span.div_ceil(64)];
            for e in v {
                let i = usize::from(e.elem.checked_sub(first).ok_or_else(bad)?);
                *bits.get_mut(i / 64).ok_or_else(bad)? |= 1 << (i % 64);
            }
            Body::BitmapPort { first, last, bits }
        }
    };
    Ok(CompiledSet {
        name: set.name.clone(),
        kind: set.kind,
        family: set.family,
        counters: set.counters,
        body,
    })
}

impl SetTable {
    /// Compiles every set of the file.
    pub fn compile(file: &SetFile) -> Result<SetTable, SetError> {
        let mut sets = Vec::with_capacity(file.sets.len());
        let mut by_name = HashMap::with_capacity(file.sets.len());
        for s in &file.sets {
            by_name.insert(s.name.clone(), SetId(sets.len() as u32));
            sets.push(compile_set(s)?);
        }
        Ok(SetTable { sets, by_name })
    }

    /// The set called `name`.
    pub fn id(&self, name: &str) -> Option<SetId> {
        self.by_name.get(name).copied()
    }

    pub fn name(&self, set: SetId) -> Option<&str> {
        self.sets.get(set.0 as usize).map(|s| s.name.as_str())
    }

    pub fn kind(&self, set: SetId) -> Option<SetKind> {
        self.sets.get(set.0 as usize).map(|s| s.kind)
    }

    pub fn len(&self) -> usize {
        self.sets.len()
    }

    pub fn is_empty(&self) -> bool {
        self.sets.is_empty()
    }

    /// Looks `key` up in `set` (an unknown id finds nothing).
    pub fn test(&self, set: SetId, key: &SetKey) -> SetResult {
        let Some(s) = self.sets.get(set.0 as usize) else {
            return SetResult::NoMatch;
        };
        if let Some(f) = s.family {
            if family_of(key.ip) != f {
                return SetResult::NoMatch;
            }
        }
        let w = s.family.map(width).unwrap_or(32);
        let addr = addr_bits(key.ip);
        let found = |hit: bool| {
            if hit {
                SetResult::Match
            } else {
                SetResult::NoMatch
            }
        };
        let decided = |nomatch: bool| {
            if nomatch {
                SetResult::NomatchEntry
            } else {
                SetResult::Match
            }
        };
        match &s.body {
            Body::HashIp { prefix, elems } => {
                let a = mask(addr, *prefix, w);
                found(a != 0 && elems.contains(&a))
            }
            Body::HashIpPort { prefix, elems } => match key.port {
                Some(port) => found(elems.contains(&(mask(addr, *prefix, w), key.proto, port))),
                None => SetResult::NoMatch,
            },
            Body::HashNet { by_prefix } => {
                for (p, elems) in by_prefix {
                    if let Some(&nomatch) = elems.get(&mask(addr, *p, w)) {
                        return decided(nomatch);
                    }
                }
                SetResult::NoMatch
            }
            Body::HashNetPort { by_prefix } => {
                let Some(port) = key.port else {
                    return SetResult::NoMatch;
                };
                for (p, elems) in by_prefix {
                    if let Some(&nomatch) = elems.get(&(mask(addr, *p, w), key.proto, port)) {
                        return decided(nomatch);
                    }
                }
                SetResult::NoMatch
            }
            Body::BitmapPort { first, last, bits } => match key.port {
                Some(port)
                    if (key.proto == IpProtocol::TCP.0 || key.proto == IpProtocol::UDP.0)
                        && (*first..=*last).contains(&port) =>
                {
                    let i = usize::from(port - first);
                    found(bits.get(i / 64).is_some_and(|b| b & (1 << (i % 64)) != 0))
                }
                _ => SetResult::NoMatch,
            },
        }
    }
}

/// True for the set types that know `nomatch` elements
/// (`IPSET_TYPE_NOMATCH`).
pub fn has_nomatch(kind: SetKind) -> bool {
    matches!(kind, SetKind::HashNet | SetKind::HashNetPort)
}

impl SetResult {
    /// The result of `ip_set_test` for a rule: `--return-nomatch` (on a type
    /// with `nomatch`) swaps which of `Match` / `NomatchEntry` matches.
    pub fn hit(self, return_nomatch: bool, kind: SetKind) -> bool {
        let swap = return_nomatch && has_nomatch(kind);
        match self {
            SetResult::Match => !swap,
            SetResult::NomatchEntry => swap,
            SetResult::NoMatch => false,
        }
    }
}

impl SetKey {
    /// The key the kernel builds for a packet: the address from `ip_dir`,
    /// the port from `port_dir`, with the kernel's rules for which packets
    /// have a port (module docs). `frame` is the frame `meta` was parsed
    /// from.
    pub fn from_packet(
        frame: &[u8],
        meta: &PacketMeta,
        ip_dir: SetDir,
        port_dir: SetDir,
    ) -> SetKey {
        let ip = match ip_dir {
            SetDir::Src => meta.src,
            SetDir::Dst => meta.dst,
        };
        let (proto, port) = packet_port(frame, meta, port_dir == SetDir::Src);
        SetKey { ip, proto, port }
    }
}

/// `ip_set_get_ip{4,6}_port` + `get_port`: the protocol and, when the kernel
/// finds one, the port.
fn packet_port(frame: &[u8], meta: &PacketMeta, src: bool) -> (u8, Option<u16>) {
    let proto = meta.protocol.0;
    let ports = |min: usize| -> Option<u16> {
        let l4 = meta.l4(frame);
        if l4.len() < min {
            return None;
        }
        let at = if src { 0 } else { 2 };
        Some(u16::from_be_bytes([l4[at], l4[at + 1]]))
    };
    let icmp = || -> Option<u16> {
        let l4 = meta.l4(frame);
        (l4.len() >= 8).then(|| u16::from_be_bytes([l4[0], l4[1]]))
    };
    match meta.ip_version {
        4 => {
            if proto == 0 {
                return (proto, None);
            }
            let transport = matches!(
                meta.protocol,
                IpProtocol::TCP
                    | IpProtocol::SCTP
                    | IpProtocol::UDP
                    | IpProtocol::UDPLITE
                    | IpProtocol::ICMP
            );
            if meta.frag_offset != 0 {
                return (proto, if transport { None } else { Some(0) });
            }
        }
        6 => {
            if matches!(meta.l4, L4Status::Fragment | L4Status::Invalid) {
                return (proto, None);
            }
        }
        _ => return (proto, None),
    }
    let port = match meta.protocol {
        IpProtocol::TCP => ports(20),
        IpProtocol::SCTP => ports(12),
        IpProtocol::UDP | IpProtocol::UDPLITE => ports(8),
        IpProtocol::ICMP | IpProtocol::ICMPV6 => icmp(),
        _ => Some(0),
    };
    (proto, port)
}

impl SetMatch {
    /// Compiles `-m set` against the sets of the snapshot.
    pub fn compile(cfg: &Set, table: &SetTable) -> Result<SetMatch, SetError> {
        let m = cfg.match_set.as_ref().ok_or(SetError::NoMatchSet)?;
        let id = table
            .id(&m.name)
            .ok_or_else(|| SetError::NoSuchSet(m.name.clone()))?;
        let set = &table.sets[id.0 as usize];
        if set.counters && (cfg.packets.is_some() || cfg.bytes.is_some()) {
            return Err(SetError::Counters(m.name.clone()));
        }
        let first = m.dirs.first().copied().unwrap_or(SetDir::Src);
        let port_dir = if set.kind == SetKind::BitmapPort {
            first
        } else {
            m.dirs.get(1).copied().unwrap_or(SetDir::Src)
        };
        Ok(SetMatch {
            set: id,
            ip_dir: first,
            port_dir,
            too_few_dims: m.dirs.len() < set.kind.dimensions(),
            return_nomatch: cfg.return_nomatch,
            invert: m.invert,
        })
    }

    /// `set_match_v4` for one packet.
    pub fn matches(&self, table: &SetTable, frame: &[u8], meta: &PacketMeta) -> bool {
        if self.too_few_dims {
            return self.invert;
        }
        let Some(kind) = table.kind(self.set) else {
            return self.invert;
        };
        let key = SetKey::from_packet(frame, meta, self.ip_dir, self.port_dir);
        table.test(self.set, &key).hit(self.return_nomatch, kind) != self.invert
    }
}

#[cfg(test)]
mod tests {
    use std::net::{Ipv4Addr, Ipv6Addr};
    use std::path::Path;

    use sluice_config::ipset;
    use sluice_config::iptables::{parse, Match, TableKind};

    use super::*;
    use crate::wire;

    fn sets(text: &str) -> SetTable {
        SetTable::compile(&ipset::parse(text, Path::new("sets")).expect("sets parse")).unwrap()
    }

    fn v4(s: &str) -> IpAddr {
        IpAddr::V4(s.parse::<Ipv4Addr>().unwrap())
    }

    fn v6(s: &str) -> IpAddr {
        IpAddr::V6(s.parse::<Ipv6Addr>().unwrap())
    }

    fn key(ip: IpAddr) -> SetKey {
        SetKey {
            ip,
            proto: 6,
            port: Some(0),
        }
    }

    fn pkey(ip: IpAddr, proto: u8, port: u16) -> SetKey {
        SetKey {
            ip,
            proto,
            port: Some(port),
        }
    }

    fn set_rule(rule: &str) -> Set {
        let rs = parse(
            &format!("*filter\n-A INPUT {rule}\nCOMMIT\n"),
            Path::new("t"),
        )
        .expect("parses");
        let r = &rs
            .table(TableKind::Filter)
            .unwrap()
            .chain("INPUT")
            .unwrap()
            .rules[0];
        r.matches
            .iter()
            .find_map(|m| match m {
                Match::Set(s) => Some(s.clone()),
                _ => None,
            })
            .expect("a set match")
    }

    use SetResult::{Match as M, NoMatch as N, NomatchEntry as X};

    #[test]
    fn hash_ip_v4_v6_and_netmask() {
        let t = sets(
            "create a hash:ip family inet\n\
             add a 10.0.0.1\n\
             add a 192.168.1.0/30\n\
             create m hash:ip family inet netmask 24\n\
             add m 10.9.8.7\n\
             create six hash:ip family inet6\n\
             add six 2001:db8::1\n",
        );
        let a = t.id("a").unwrap();
        assert_eq!(t.test(a, &key(v4("10.0.0.1"))), M);
        assert_eq!(t.test(a, &key(v4("10.0.0.2"))), N);
        for h in 0..4 {
            assert_eq!(t.test(a, &key(v4(&format!("192.168.1.{h}")))), M);
        }
        assert_eq!(t.test(a, &key(v4("192.168.1.4"))), N);
        // An IPv6 packet never matches an inet set, and vice versa.
        assert_eq!(t.test(a, &key(v6("::ffff:10.0.0.1"))), N);
        let six = t.id("six").unwrap();
        assert_eq!(t.test(six, &key(v6("2001:db8::1"))), M);
        assert_eq!(t.test(six, &key(v4("10.0.0.1"))), N);
        // netmask 24: any address of 10.9.8.0/24 matches.
        let m = t.id("m").unwrap();
        assert_eq!(t.test(m, &key(v4("10.9.8.200"))), M);
        assert_eq!(t.test(m, &key(v4("10.9.9.1"))), N);
        assert_eq!(t.id("nope"), None);
        assert_eq!(t.name(m), Some("m"));
    }

    #[test]
    fn hash_ip_zero_address_never_matches() {
        let t = sets("create z hash:ip family inet netmask 8\nadd z 1.2.3.4\n");
        let z = t.id("z").unwrap();
        assert_eq!(t.test(z, &key(v4("1.9.9.9"))), M);
        assert_eq!(t.test(z, &key(v4("0.1.2.3"))), N);
    }

    #[test]
    fn hash_net_longest_prefix_and_nomatch() {
        let t = sets(
            "create n hash:net family inet\n\
             add n 10.0.0.0/8\n\
             add n 10.1.0.0/16 nomatch\n\
             add n 10.1.2.0/24\n\
             add n 10.1.2.3 nomatch\n\
             create n6 hash:net family inet6\n\
             add n6 2001:db8::/32\n\
             add n6 2001:db8:1::/48 nomatch\n",
        );
        let n = t.id("n").unwrap();
        assert_eq!(t.test(n, &key(v4("10.200.0.1"))), M);
        assert_eq!(t.test(n, &key(v4("10.1.99.1"))), X);
        assert_eq!(t.test(n, &key(v4("10.1.2.4"))), M);
        assert_eq!(t.test(n, &key(v4("10.1.2.3"))), X);
        assert_eq!(t.test(n, &key(v4("11.0.0.1"))), N);
        let n6 = t.id("n6").unwrap();
        assert_eq!(t.test(n6, &key(v6("2001:db8:2::1"))), M);
        assert_eq!(t.test(n6, &key(v6("2001:db8:1::1"))), X);
        assert_eq!(t.test(n6, &key(v6("2001:db9::1"))), N);
        assert_eq!(t.test(n6, &key(v4("10.0.0.1"))), N);
        // What a rule makes of it, with and without --return-nomatch.
        assert!(M.hit(false, SetKind::HashNet));
        assert!(!X.hit(false, SetKind::HashNet));
        assert!(!M.hit(true, SetKind::HashNet));
        assert!(X.hit(true, SetKind::HashNet));
        assert!(!N.hit(true, SetKind::HashNet));
        // Types without nomatch ignore --return-nomatch.
        assert!(M.hit(true, SetKind::HashIp));
    }

    #[test]
    fn hash_ip_port_and_net_port() {
        let t = sets(
            "create w hash:ip,port family inet\n\
             add w 10.0.0.1,tcp:443\n\
             add w 10.0.0.1,udp:53\n\
             add w 10.0.0.2,icmp:echo-request\n\
             add w 10.0.0.3,gre:0\n\
             create np hash:net,port family inet\n\
             add np 10.0.0.0/8,tcp:22\n\
             add np 10.5.0.0/16,tcp:22 nomatch\n\
             add np 10.5.0.0/16,tcp:80\n",
        );
        let w = t.id("w").unwrap();
        assert_eq!(t.test(w, &pkey(v4("10.0.0.1"), 6, 443)), M);
        assert_eq!(t.test(w, &pkey(v4("10.0.0.1"), 17, 443)), N);
        assert_eq!(t.test(w, &pkey(v4("10.0.0.1"), 17, 53)), M);
        assert_eq!(t.test(w, &pkey(v4("10.0.0.2"), 1, 0x0800)), M);
        assert_eq!(t.test(w, &pkey(v4("10.0.0.3"), 47, 0)), M);
        assert_eq!(
            t.test(
                w,
                &SetKey {
                    ip: v4("10.0.0.1"),
                    proto: 6,
                    port: None
                }
            ),
            N
        );
        let np = t.id("np").unwrap();
        assert_eq!(t.test(np, &pkey(v4("10.9.9.9"), 6, 22)), M);
        assert_eq!(t.test(np, &pkey(v4("10.5.9.9"), 6, 22)), X);
        assert_eq!(t.test(np, &pkey(v4("10.5.9.9"), 6, 80)), M);
        assert_eq!(t.test(np, &pkey(v4("10.9.9.9"), 6, 80)), N);
    }

    #[test]
    fn bitmap_port_any_family_tcp_udp_only() {
        let t = sets("create p bitmap:port range 1000-2000\nadd p 1022-1024\nadd p 2000\n");
        let p = t.id("p").unwrap();
        for port in [1022, 1023, 1024, 2000] {
            assert_eq!(t.test(p, &pkey(v4("1.1.1.1"), 6, port)), M, "{port}");
            assert_eq!(t.test(p, &pkey(v6("::1"), 17, port)), M, "{port}");
        }
        assert_eq!(t.test(p, &pkey(v4("1.1.1.1"), 6, 1021)), N);
        assert_eq!(t.test(p, &pkey(v4("1.1.1.1"), 6, 999)), N);
        assert_eq!(t.test(p, &pkey(v4("1.1.1.1"), 6, 2001)), N);
        // SCTP and UDP-Lite ports do not count for bitmap:port.
        assert_eq!(t.test(p, &pkey(v4("1.1.1.1"), 132, 1022)), N);
        assert_eq!(t.test(p, &pkey(v4("1.1.1.1"), 136, 1022)), N);
    }

    /// A frame: Ethernet + IPv4 header (+ `l4` bytes).
    fn ipv4_frame(proto: u8, src: [u8; 4], dst: [u8; 4], frag: u16, l4: &[u8]) -> Vec<u8> {
        let mut f = vec![0x02, 0, 0, 0, 0, 1, 0x02, 0, 0, 0, 0, 2, 0x08, 0x00];
        let total = 20 + l4.len() as u16;
        let mut ip = vec![0x45, 0];
        ip.extend_from_slice(&total.to_be_bytes());
        ip.extend_from_slice(&[0, 1]);
        ip.extend_from_slice(&frag.to_be_bytes());
        ip.extend_from_slice(&[64, proto, 0, 0]);
        ip.extend_from_slice(&src);
        ip.extend_from_slice(&dst);
        let c = wire::checksum::checksum(&ip);
        ip[10..12].copy_from_slice(&c.to_be_bytes());
        f.extend_from_slice(&ip);
        f.extend_from_slice(l4);
        f
    }

    fn key_of(frame: &[u8], ip_dir: SetDir, port_dir: SetDir) -> SetKey {
        let meta = wire::parse(frame).expect("parses");
        SetKey::from_packet(frame, &meta, ip_dir, port_dir)
    }

    #[test]
    fn ports_as_the_kernel_extracts_them() {
        let mut tcp = vec![0u8; 20];
        tcp[..4].copy_from_slice(&[0x9c, 0x40, 0x00, 0x16]);
        tcp[12] = 0x50;
        let f = ipv4_frame(6, [10, 0, 0, 1], [10, 0, 0, 2], 0, &tcp);
        let k = key_of(&f, SetDir::Src, SetDir::Dst);
        assert_eq!(k, pkey(v4("10.0.0.1"), 6, 22));
        let k = key_of(&f, SetDir::Dst, SetDir::Src);
        assert_eq!(k, pkey(v4("10.0.0.2"), 6, 40000));
        // TCP with a bad data offset still has its ports (20 bytes are there).
        let mut odd = tcp.clone();
        odd[12] = 0x20;
        let f = ipv4_frame(6, [10, 0, 0, 1], [10, 0, 0, 2], 0, &odd);
        assert_eq!(key_of(&f, SetDir::Src, SetDir::Dst).port, Some(22));
        // A TCP header cut short: no port.
        let f = ipv4_frame(6, [10, 0, 0, 1], [10, 0, 0, 2], 0, &tcp[..10]);
        assert_eq!(key_of(&f, SetDir::Src, SetDir::Dst).port, None);
        // ICMP echo request: type << 8 | code.
        let f = ipv4_frame(
            1,
            [10, 0, 0, 1],
            [10, 0, 0, 2],
            0,
            &[8, 0, 0, 0, 0, 1, 0, 1],
        );
        assert_eq!(
            key_of(&f, SetDir::Src, SetDir::Dst),
            pkey(v4("10.0.0.1"), 1, 0x0800)
        );
        // DCCP has no port for ipset (port 0), GRE neither.
        let f = ipv4_frame(
            33,
            [10, 0, 0, 1],
            [10, 0, 0, 2],
            0,
            &[0x9c, 0x40, 0, 22, 0, 0, 0, 0, 0, 0, 0, 0],
        );
        assert_eq!(key_of(&f, SetDir::Src, SetDir::Dst).port, Some(0));
        let f = ipv4_frame(47, [10, 0, 0, 1], [10, 0, 0, 2], 0, &[0; 4]);
        assert_eq!(
            key_of(&f, SetDir::Src, SetDir::Dst),
            pkey(v4("10.0.0.1"), 47, 0)
        );
        // Non-first fragments: none for TCP, port 0 for GRE.
        let f = ipv4_frame(6, [10, 0, 0, 1], [10, 0, 0, 2], 0x0003, &tcp);
        assert_eq!(key_of(&f, SetDir::Src, SetDir::Dst).port, None);
        let f = ipv4_frame(47, [10, 0, 0, 1], [10, 0, 0, 2], 0x0003, &[0; 8]);
        assert_eq!(key_of(&f, SetDir::Src, SetDir::Dst).port, Some(0));
        // A first fragment (MF, offset 0) has its ports.
        let f = ipv4_frame(6, [10, 0, 0, 1], [10, 0, 0, 2], 0x2000, &tcp);
        assert_eq!(key_of(&f, SetDir::Src, SetDir::Dst).port, Some(22));
        // Protocol 0 has no port at all.
        let f = ipv4_frame(0, [10, 0, 0, 1], [10, 0, 0, 2], 0, &[0; 8]);
        assert_eq!(key_of(&f, SetDir::Src, SetDir::Dst).port, None);
    }

    #[test]
    fn set_match_rules_end_to_end() {
        let t = sets(
            "create web hash:ip,port family inet\n\
             add web 10.0.0.2,tcp:22\n\
             create nets hash:net family inet\n\
             add nets 10.0.0.0/8\n\
             add nets 10.0.0.1 nomatch\n\
             create ports bitmap:port range 0-1023\n\
             add ports 22\n\
             create cnt hash:ip family inet counters\n\
             add cnt 10.0.0.1\n",
        );
        let mut tcp = vec![0u8; 20];
        tcp[..4].copy_from_slice(&[0x9c, 0x40, 0x00, 0x16]);
        tcp[12] = 0x50;
        let f = ipv4_frame(6, [10, 0, 0, 1], [10, 0, 0, 2], 0, &tcp);
        let meta = wire::parse(&f).unwrap();
        let check = |rule: &str| {
            let m = SetMatch::compile(&set_rule(rule), &t).unwrap();
            m.matches(&t, &f, &meta)
        };
        assert!(check("-m set --match-set web dst,dst"));
        assert!(!check("-m set --match-set web src,dst"));
        assert!(check("-m set ! --match-set web src,dst"));
        // Too few dimensions: never found.
        assert!(!check("-m set --match-set web dst"));
        assert!(check("-m set ! --match-set web dst"));
        // Extra flags are ignored.
        assert!(check("-m set --match-set web dst,dst,src"));
        assert!(check("-m set --match-set nets dst"));
        assert!(!check("-m set --match-set nets src"));
        assert!(check("-m set --match-set nets src --return-nomatch"));
        assert!(!check("-m set --match-set nets dst --return-nomatch"));
        assert!(check("-m set --match-set ports dst"));
        assert!(!check("-m set --match-set ports src"));
        assert!(check("-m set --match-set cnt src"));
        assert_eq!(
            SetMatch::compile(&set_rule("-m set --match-set cnt src --packets-gt 1"), &t),
            Err(SetError::Counters("cnt".into()))
        );
        // Counter tests on a set without counters are ignored (as the kernel).
        assert!(check("-m set --match-set nets dst --packets-gt 1"));
        assert_eq!(
            SetMatch::compile(&set_rule("-m set --match-set missing src"), &t),
            Err(SetError::NoSuchSet("missing".into()))
        );
    }

    #[test]
    fn mask_helper() {
        assert_eq!(mask(0xffff_ffff, 24, 32), 0xffff_ff00);
        assert_eq!(mask(0xffff_ffff, 32, 32), 0xffff_ffff);
        assert_eq!(mask(0xffff_ffff, 1, 32), 0x8000_0000);
        assert_eq!(mask(u128::MAX, 64, 128), u128::MAX << 64);
        assert_eq!(mask(u128::MAX, 128, 128), u128::MAX);
        assert_eq!(mask(u128::MAX, 0, 128), 0);
    }
}
