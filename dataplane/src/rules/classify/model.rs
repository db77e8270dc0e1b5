//! The classifier's vocabulary: what a rule asks of a packet
//! ([`ClassKey`] and its parts), the packet as the classifier sees it
//! ([`PacketKey`]), interface ids ([`InterfaceTable`]), and the plain
//! reference evaluator the property tests hold the classifier to.

use std::fmt;
use std::hash::Hash;
use std::ops::{BitAnd, Not};

use crate::route::lpm::LpmKey;

/// Interface ids of at most this many interfaces (a wildcard or inverted
/// interface match) are indexed one entry per id; larger sets are checked
/// on the entry.
pub const REPLICATE_IFACES: usize = 8;

/// `IFNAMSIZ`: interface names have at most 15 bytes and a NUL.
pub const IFNAMSIZ: usize = 16;

/// The interface id of "no interface": the input interface of a locally
/// generated packet, the output interface of one not routed yet. Its name is
/// the empty string, as the kernel's `nulldevname`.
pub const IF_NONE: u16 = u16::MAX;

/// An address family's address as an unsigned integer, most significant
/// bit first: `u32` for IPv4, `u128` for IPv6.
pub trait Addr:
    Copy
    + Eq
    + Hash
    + Default
    + fmt::Debug
    + BitAnd<Output = Self>
    + Not<Output = Self>
    + LpmKey
    + Send
    + Sync
    + 'static
{
    /// Width in bits.
    const BITS: u32;
    /// The mask of a prefix of `len` bits (`len` above [`Addr::BITS`]
    /// counts as all bits).
    fn prefix_mask(len: u32) -> Self;
    /// The all-zero address.
    fn zero() -> Self {
        Self::default()
    }
    /// The length of `self` as a prefix mask; `None` for another mask.
    fn prefix_len(self) -> Option<u32>;
}

impl Addr for u32 {
    const BITS: u32 = 32;
    fn prefix_mask(len: u32) -> u32 {
        match len {
            0 => 0,
            l => u32::MAX << (32 - l.min(32)),
        }
    }
    fn prefix_len(self) -> Option<u32> {
        let l = self.leading_ones();
        (Self::prefix_mask(l) == self).then_some(l)
    }
}

impl Addr for u128 {
    const BITS: u32 = 128;
    fn prefix_mask(len: u32) -> u128 {
        match len {
            0 => 0,
            l => u128::MAX << (128 - l.min(128)),
        }
    }
    fn prefix_len(self) -> Option<u32> {
        let l = self.leading_ones();
        (Self::prefix_mask(l) == self).then_some(l)
    }
}

/// An interface name: at most 15 bytes, no NUL, stored NUL-padded as the
/// kernel compares it.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct IfName([u8; IFNAMSIZ]);

impl IfName {
    /// The empty name: what a packet without that interface carries.
    pub const EMPTY: IfName = IfName([0; IFNAMSIZ]);

    /// `None` when `name` is longer than 15 bytes or contains a NUL.
    pub fn new(name: &str) -> Option<IfName> {
        let b = name.as_bytes();
        if b.len() >= IFNAMSIZ || b.contains(&0) {
            return None;
        }
        let mut bytes = [0; IFNAMSIZ];
        bytes[..b.len()].copy_from_slice(b);
        Some(IfName(bytes))
    }

    pub fn len(&self) -> usize {
        self.0.iter().position(|&b| b == 0).unwrap_or(IFNAMSIZ)
    }

    pub fn is_empty(&self) -> bool {
        self.0[0] == 0
    }

    pub fn as_bytes(&self) -> &[u8] {
        &self.0[..self.len()]
    }
}

impl fmt::Debug for IfName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:?}", String::from_utf8_lossy(self.as_bytes()))
    }
}

/// `-s` / `-d`: `(addr & mask) == addr_value`, xor `invert`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Default)]
pub struct AddrMatch<A: Addr = u32> {
    pub addr: A,
    pub mask: A,
    pub invert: bool,
}

impl<A: Addr> AddrMatch<A> {
    /// `addr/len`, the address masked as iptables does.
    pub fn prefix(addr: A, len: u32) -> Self {
        let mask = A::prefix_mask(len);
        AddrMatch {
            addr: addr & mask,
            mask,
            invert: false,
        }
    }

    pub fn inverted(mut self) -> Self {
        self.invert = !self.invert;
        self
    }

    /// The kernel's test (`ip_packet_match()`).
    pub fn test(&self, a: A) -> bool {
        ((a & self.mask) == self.addr) != self.invert
    }
}

/// `-p`: protocol number; 0 (`all`) matches every packet, inverted or not.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Default)]
pub struct ProtoMatch {
    pub proto: u8,
    pub invert: bool,
}

impl ProtoMatch {
    pub fn test(&self, proto: u8) -> bool {
        self.proto == 0 || ((proto == self.proto) != self.invert)
    }
}

/// `--sport` / `--dport`: `lo <= port <= hi`, xor `invert`; never holds
/// for a packet without ports.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct PortMatch {
    pub lo: u16,
    pub hi: u16,
    pub invert: bool,
}

impl PortMatch {
    pub fn single(port: u16) -> Self {
        PortMatch {
            lo: port,
            hi: port,
            invert: false,
        }
    }

    pub fn range(lo: u16, hi: u16) -> Self {
        PortMatch {
            lo,
            hi,
            invert: false,
        }
    }

    pub fn inverted(mut self) -> Self {
        self.invert = !self.invert;
        self
    }

    /// `port_match()` of `xt_tcpudp.c` (the packet has ports).
    pub fn test(&self, port: u16) -> bool {
        (self.lo <= port && port <= self.hi) != self.invert
    }
}

/// `-i` / `-o` by name, with iptables' `+` prefix wildcard.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct IfaceMatch {
    /// The name, or the prefix when `wildcard` (without the `+`).
    pub name: IfName,
    pub wildcard: bool,
    pub invert: bool,
}

impl IfaceMatch {
    /// iptables syntax: `eth0` the interface `eth0`, `eth+` every name
    /// starting with `eth`, `+` any interface. `None` for a name too long.
    pub fn parse(spec: &str, invert: bool) -> Option<Self> {
        let (name, wildcard) = match spec.strip_suffix('+') {
            Some(prefix) => (prefix, true),
            None => (spec, false),
        };
        Some(IfaceMatch {
            name: IfName::new(name)?,
            wildcard,
            invert,
        })
    }

    /// Whether a packet on the interface named `dev` (empty: none)
    /// matches: the kernel's `ifname_compare_aligned()` with the mask that
    /// iptables' `xtables_parse_interface()` builds, then the inversion.
    pub fn test(&self, dev: &IfName) -> bool {
        let len = self.name.len();
        let covered = match (len, self.wildcard) {
            (0, _) => 0,
            (l, true) => l,
            (l, false) => (l + 1).min(IFNAMSIZ),
        };
        (dev.0[..covered] == self.name.0[..covered]) != self.invert
    }
}

/// `-m mark --mark value/mask`: `(mark & mask) == value`, xor `invert`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct MarkMatch {
    pub value: u32,
    pub mask: u32,
    pub invert: bool,
}

impl MarkMatch {
    pub fn test(&self, mark: u32) -> bool {
        ((mark & self.mask) == self.value) != self.invert
    }
}

/// Which port of the packet a [`PortList`] is tested against.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum PortSide {
    Src,
    Dst,
    /// Source or destination (`--ports`).
    Either,
}

/// The most items a [`PortList`] holds (`XT_MULTI_PORTS`).
pub const PORT_LIST_MAX: usize = 15;

/// `-m multiport --sports|--dports|--ports LIST` (`xt_multiport.c`
/// `ports_match_v1`): the packet's port on `side` is in one of the items
/// `lo..=hi`, xor `invert`; never holds for a packet without ports.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct PortList {
    pub side: PortSide,
    items: [(u16, u16); PORT_LIST_MAX],
    len: u8,
    pub invert: bool,
}

impl PortList {
    /// `None` with more than [`PORT_LIST_MAX`] items.
    pub fn new(side: PortSide, items: &[(u16, u16)], invert: bool) -> Option<Self> {
        if items.len() > PORT_LIST_MAX {
            return None;
        }
        let mut a = [(0, 0); PORT_LIST_MAX];
        a[..items.len()].copy_from_slice(items);
        Some(PortList {
            side,
            items: a,
            len: items.len() as u8,
            invert,
        })
    }

    /// The items, `(lo, hi)` inclusive.
    pub fn items(&self) -> &[(u16, u16)] {
        &self.items[..(self.len as usize).min(PORT_LIST_MAX)]
    }

    fn has(&self, port: u16) -> bool {
        self.items()
            .iter()
            .any(|&(lo, hi)| lo <= port && port <= hi)
    }

    /// The kernel's test (the packet has ports).
    pub fn test(&self, sport: u16, dport: u16) -> bool {
        let hit = match self.side {
            PortSide::Src => self.has(sport),
            PortSide::Dst => self.has(dport),
            PortSide::Either => self.has(sport) || self.has(dport),
        };
        hit != self.invert
    }
}

/// `None` holds; `Some(m)` when `test(m)`.
#[inline(always)]
fn holds<T>(m: &Option<T>, test: impl FnOnce(&T) -> bool) -> bool {
    match m {
        None => true,
        Some(m) => test(m),
    }
}

/// The common matches of one rule; `None` is "any".
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub struct ClassKey<A: Addr = u32> {
    pub src: Option<AddrMatch<A>>,
    pub dst: Option<AddrMatch<A>>,
    pub proto: Option<ProtoMatch>,
    pub sport: Option<PortMatch>,
    pub dport: Option<PortMatch>,
    pub iif: Option<IfaceMatch>,
    pub oif: Option<IfaceMatch>,
    pub mark: Option<MarkMatch>,
    /// A multiport list (lifted from the rule's matches).
    pub ports: Option<PortList>,
    /// The rule has other matches (conntrack state, sets, limits, ...) that
    /// the evaluator checks after the classifier names the rule. The
    /// classifier itself ignores this flag.
    pub residual: bool,
}

impl<A: Addr> ClassKey<A> {
    /// Whether the packet satisfies every common match: the kernel's
    /// semantics written out plainly (see the module docs).
    pub fn matches(&self, ifaces: &InterfaceTable, pkt: &PacketKey<A>) -> bool {
        let ports = self.sport.is_some() || self.dport.is_some() || self.ports.is_some();
        holds(&self.src, |m| m.test(pkt.src))
            && holds(&self.dst, |m| m.test(pkt.dst))
            && holds(&self.proto, |m| m.test(pkt.proto))
            && (!ports || pkt.has_ports)
            && holds(&self.sport, |m| m.test(pkt.sport))
            && holds(&self.dport, |m| m.test(pkt.dport))
            && holds(&self.ports, |m| m.test(pkt.sport, pkt.dport))
            && holds(&self.iif, |m| m.test(ifaces.name(pkt.iif)))
            && holds(&self.oif, |m| m.test(ifaces.name(pkt.oif)))
            && holds(&self.mark, |m| m.test(pkt.mark))
    }
}

/// The matches of the kernel's `ip_packet_match()` alone (`-s -d -p -i
/// -o`): what the plain ordered evaluation tests before a rule's match
/// list (a [`ClassKey`] without ports, mark and multiport, smaller to
/// scan).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub struct CoreKey<A: Addr = u32> {
    pub src: Option<AddrMatch<A>>,
    pub dst: Option<AddrMatch<A>>,
    pub proto: Option<ProtoMatch>,
    pub iif: Option<IfaceMatch>,
    pub oif: Option<IfaceMatch>,
}

impl<A: Addr> CoreKey<A> {
    /// Whether the packet satisfies every match.
    #[inline]
    pub fn matches(&self, ifaces: &InterfaceTable, pkt: &PacketKey<A>) -> bool {
        holds(&self.src, |m| m.test(pkt.src))
            && holds(&self.dst, |m| m.test(pkt.dst))
            && holds(&self.proto, |m| m.test(pkt.proto))
            && holds(&self.iif, |m| m.test(ifaces.name(pkt.iif)))
            && holds(&self.oif, |m| m.test(ifaces.name(pkt.oif)))
    }

    /// The classifier key of these matches alone.
    #[inline]
    pub fn key(&self) -> ClassKey<A> {
        ClassKey {
            src: self.src,
            dst: self.dst,
            proto: self.proto,
            iif: self.iif,
            oif: self.oif,
            ..ClassKey::default()
        }
    }
}

/// What the classifier reads of a packet (parsed once at the edge).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub struct PacketKey<A: Addr = u32> {
    pub src: A,
    pub dst: A,
    pub proto: u8,
    pub sport: u16,
    pub dport: u16,
    /// A TCP or UDP header is there and this is not a non-first fragment.
    /// When false the ports are ignored and no rule with a port match
    /// matches.
    pub has_ports: bool,
    /// Input interface id in the [`InterfaceTable`], or [`IF_NONE`].
    pub iif: u16,
    /// Output interface id, or [`IF_NONE`].
    pub oif: u16,
    pub mark: u32,
}

/// Why an interface table cannot be built.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum IfTableError {
    /// More interfaces than ids below [`IF_NONE`].
    #[error("{0} interfaces: at most 65535 can be classified")]
    TooMany(usize),
    /// The same name twice.
    #[error("interface {0:?} listed twice")]
    Duplicate(IfName),
    /// The empty name is reserved for "no interface".
    #[error("empty interface name")]
    Empty,
}

/// The interfaces of the appliance: id `i` is the `i`-th name. Ids of a
/// [`PacketKey`] index it; an id not in the table counts as [`IF_NONE`]
/// (a name that only `+` matches).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct InterfaceTable {
    pub(super) names: Vec<IfName>,
}

impl InterfaceTable {
    pub fn new(names: impl IntoIterator<Item = IfName>) -> Result<Self, IfTableError> {
        let names: Vec<IfName> = names.into_iter().collect();
        if names.len() >= IF_NONE as usize {
            return Err(IfTableError::TooMany(names.len()));
        }
        let mut seen = std::collections::HashSet::new();
        for n in &names {
            if n.is_empty() {
                return Err(IfTableError::Empty);
            }
            if !seen.insert(*n) {
                return Err(IfTableError::Duplicate(*n));
            }
        }
        Ok(InterfaceTable { names })
    }

    pub fn len(&self) -> usize {
        self.names.len()
    }

    pub fn is_empty(&self) -> bool {
        self.names.is_empty()
    }

    /// The id of `name`, if known.
    pub fn id(&self, name: &str) -> Option<u16> {
        let name = IfName::new(name)?;
        self.names.iter().position(|n| *n == name).map(|i| i as u16)
    }

    /// The name of `id`; the empty name for [`IF_NONE`] and unknown ids.
    pub fn name(&self, id: u16) -> &IfName {
        self.names.get(id as usize).unwrap_or(&IfName::EMPTY)
    }

    /// Slot of `id` in an interface set: its index, `len()` for none.
    pub(super) fn slot(&self, id: u16) -> usize {
        (id as usize).min(self.names.len())
    }
}

/// The plain ordered evaluation: the first rule `i >= from` whose key
/// matches, by a linear scan. The oracle of the tests and the baseline of
/// the benchmarks.
pub fn reference_first_from<A: Addr>(
    keys: &[ClassKey<A>],
    ifaces: &InterfaceTable,
    pkt: &PacketKey<A>,
    from: usize,
) -> Option<usize> {
    keys.get(from..)?
        .iter()
        .position(|k| k.matches(ifaces, pkt))
        .map(|i| i + from)
}
