//! The typed model of a sets file: the sets, their options and their
//! elements as the kernel stores them (after expansion, host bits dropped,
//! sizes rounded), in file order.

use std::net::IpAddr;

use ipnet::IpNet;

/// Longest set name (`IPSET_MAXNAMELEN` - 1).
pub const MAX_SETNAME_LEN: usize = 31;
/// Most elements one `add` line may expand to.
pub const MAX_EXPANSION: u64 = 65_536;
/// Largest timeout in seconds (`UINT_MAX / 1000 / 2`, as ipset checks it).
pub const MAX_TIMEOUT: u32 = 2_147_483;
/// Longest element comment (`IPSET_MAX_COMMENT_SIZE`).
pub const MAX_COMMENT_LEN: usize = 255;
/// Default `hashsize`.
pub const DEFAULT_HASHSIZE: u32 = 1024;
/// Default `maxelem`.
pub const DEFAULT_MAXELEM: u32 = 65_536;
/// Default (and largest) `bucketsize`.
pub const DEFAULT_BUCKETSIZE: u8 = 12;

/// A whole sets file.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct SetFile {
    /// In file order.
    pub sets: Vec<IpSet>,
}

impl SetFile {
    /// The set called `name`.
    pub fn set(&self, name: &str) -> Option<&IpSet> {
        self.sets.iter().find(|s| s.name == name)
    }
}

/// The set types sluice reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SetKind {
    HashIp,
    HashNet,
    HashIpPort,
    HashNetPort,
    BitmapPort,
}

impl SetKind {
    /// How many values a lookup needs (`hash:ip,port` is 2).
    pub fn dimensions(self) -> usize {
        match self {
            SetKind::HashIp | SetKind::HashNet | SetKind::BitmapPort => 1,
            SetKind::HashIpPort | SetKind::HashNetPort => 2,
        }
    }

    /// The type name as ipset spells it.
    pub fn name(self) -> &'static str {
        match self {
            SetKind::HashIp => "hash:ip",
            SetKind::HashNet => "hash:net",
            SetKind::HashIpPort => "hash:ip,port",
            SetKind::HashNetPort => "hash:net,port",
            SetKind::BitmapPort => "bitmap:port",
        }
    }

    pub(super) fn from_name(s: &str) -> Option<Self> {
        Some(match s {
            "hash:ip" => SetKind::HashIp,
            "hash:net" => SetKind::HashNet,
            "hash:ip,port" => SetKind::HashIpPort,
            "hash:net,port" => SetKind::HashNetPort,
            "bitmap:port" => SetKind::BitmapPort,
            _ => return None,
        })
    }

    pub(super) fn is_hash(self) -> bool {
        self != SetKind::BitmapPort
    }

    pub(super) fn has_netmask(self) -> bool {
        matches!(self, SetKind::HashIp | SetKind::HashIpPort)
    }

    pub(super) fn has_nomatch(self) -> bool {
        matches!(self, SetKind::HashNet | SetKind::HashNetPort)
    }
}

/// Address family of a hash set.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Family {
    Inet,
    Inet6,
}

impl Family {
    pub fn name(self) -> &'static str {
        match self {
            Family::Inet => "inet",
            Family::Inet6 => "inet6",
        }
    }

    pub(super) fn max_prefix(self) -> u8 {
        match self {
            Family::Inet => 32,
            Family::Inet6 => 128,
        }
    }

    pub(super) fn ip_name(self) -> &'static str {
        match self {
            Family::Inet => "IPv4",
            Family::Inet6 => "IPv6",
        }
    }
}

/// The parameters of a `hash:*` set.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HashOptions {
    /// Initial buckets: a power of two, at least 64.
    pub hashsize: u32,
    pub maxelem: u32,
    /// Elements per bucket: even, 2..=12.
    pub bucketsize: u8,
    /// Hash seed; random when absent.
    pub initval: Option<u32>,
    /// `hash:ip` and `hash:ip,port`: addresses are stored masked to this
    /// prefix length.
    pub netmask: Option<u8>,
    /// When full, a new element replaces a random one instead of failing.
    pub forceadd: bool,
}

impl Default for HashOptions {
    fn default() -> Self {
        HashOptions {
            hashsize: DEFAULT_HASHSIZE,
            maxelem: DEFAULT_MAXELEM,
            bucketsize: DEFAULT_BUCKETSIZE,
            initval: None,
            netmask: None,
            forceadd: false,
        }
    }
}

/// One `create` line and the elements its `add` lines put in.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IpSet {
    pub name: String,
    pub kind: SetKind,
    /// The family of a hash set; `None` for `bitmap:port`, which matches
    /// ports of either family.
    pub family: Option<Family>,
    /// `Some` exactly for hash types.
    pub hash: Option<HashOptions>,
    /// `bitmap:port`: the inclusive port range the set covers.
    pub range: Option<(u16, u16)>,
    /// Default element timeout in seconds (0: permanent); `Some` enables
    /// per-element timeouts.
    pub timeout: Option<u32>,
    /// Per-element packet and byte counters.
    pub counters: bool,
    /// Per-element comments.
    pub comment: bool,
    pub entries: SetEntries,
    /// Line of the `create`.
    pub line: usize,
}

/// The elements of a set, typed by its kind, in the order they were added.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SetEntries {
    HashIp(Vec<Entry<IpAddr>>),
    HashNet(Vec<Entry<NetElem>>),
    HashIpPort(Vec<Entry<IpPortElem>>),
    HashNetPort(Vec<Entry<NetPortElem>>),
    BitmapPort(Vec<Entry<u16>>),
}

impl SetEntries {
    pub(super) fn new(kind: SetKind) -> Self {
        match kind {
            SetKind::HashIp => SetEntries::HashIp(Vec::new()),
            SetKind::HashNet => SetEntries::HashNet(Vec::new()),
            SetKind::HashIpPort => SetEntries::HashIpPort(Vec::new()),
            SetKind::HashNetPort => SetEntries::HashNetPort(Vec::new()),
            SetKind::BitmapPort => SetEntries::BitmapPort(Vec::new()),
        }
    }

    pub fn len(&self) -> usize {
        match self {
            SetEntries::HashIp(v) => v.len(),
            SetEntries::HashNet(v) => v.len(),
            SetEntries::HashIpPort(v) => v.len(),
            SetEntries::HashNetPort(v) => v.len(),
            SetEntries::BitmapPort(v) => v.len(),
        }
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// One element with its per-element extensions.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry<T> {
    pub elem: T,
    /// Seconds; 0 is permanent. Absent: the set's default.
    pub timeout: Option<u32>,
    pub packets: Option<u64>,
    pub bytes: Option<u64>,
    pub comment: Option<String>,
    /// Line of the `add` that put it in.
    pub line: usize,
}

/// A `hash:net` element.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct NetElem {
    /// No host bits set.
    pub net: IpNet,
    /// An exception: a packet matching it does not match the set.
    pub nomatch: bool,
}

/// A `hash:ip,port` element.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct IpPortElem {
    pub ip: IpAddr,
    pub port: ProtoPort,
}

/// A `hash:net,port` element.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct NetPortElem {
    pub net: IpNet,
    pub port: ProtoPort,
    pub nomatch: bool,
}

/// The protocol-and-port half of a `*,port` element.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ProtoPort {
    Tcp(u16),
    Udp(u16),
    Sctp(u16),
    UdpLite(u16),
    /// ICMP type and code (IPv4 sets only).
    Icmp {
        ty: u8,
        code: u8,
    },
    /// ICMPv6 type and code (IPv6 sets only).
    Icmpv6 {
        ty: u8,
        code: u8,
    },
    /// Any other protocol, with the pseudo port 0.
    Other(u8),
}

impl ProtoPort {
    /// The IP protocol number.
    pub fn proto(self) -> u8 {
        match self {
            ProtoPort::Tcp(_) => PROTO_TCP,
            ProtoPort::Udp(_) => PROTO_UDP,
            ProtoPort::Sctp(_) => PROTO_SCTP,
            ProtoPort::UdpLite(_) => PROTO_UDPLITE,
            ProtoPort::Icmp { .. } => PROTO_ICMP,
            ProtoPort::Icmpv6 { .. } => PROTO_ICMPV6,
            ProtoPort::Other(p) => p,
        }
    }

    /// The 16-bit value the kernel keys on: the port, `type << 8 | code`
    /// for ICMP, 0 for other protocols.
    pub fn port(self) -> u16 {
        match self {
            ProtoPort::Tcp(p) | ProtoPort::Udp(p) | ProtoPort::Sctp(p) | ProtoPort::UdpLite(p) => p,
            ProtoPort::Icmp { ty, code } | ProtoPort::Icmpv6 { ty, code } => {
                u16::from(ty) << 8 | u16::from(code)
            }
            ProtoPort::Other(_) => 0,
        }
    }
}

pub(super) const PROTO_ICMP: u8 = 1;
pub(super) const PROTO_TCP: u8 = 6;
pub(super) const PROTO_UDP: u8 = 17;
pub(super) const PROTO_ICMPV6: u8 = 58;
pub(super) const PROTO_SCTP: u8 = 132;
pub(super) const PROTO_UDPLITE: u8 = 136;

/// ICMP type/code names in ipset's order (lib/icmp.c); the first match of a
/// pair is the name it prints.
pub(super) const ICMP_NAMES: &[(&str, u8, u8)] = &[
    ("echo-reply", 0, 0),
    ("pong", 0, 0),
    ("network-unreachable", 3, 0),
    ("host-unreachable", 3, 1),
    ("protocol-unreachable", 3, 2),
    ("port-unreachable", 3, 3),
    ("fragmentation-needed", 3, 4),
    ("source-route-failed", 3, 5),
    ("network-unknown", 3, 6),
    ("host-unknown", 3, 7),
    ("network-prohibited", 3, 9),
    ("host-prohibited", 3, 10),
    ("TOS-network-unreachable", 3, 11),
    ("TOS-host-unreachable", 3, 12),
    ("communication-prohibited", 3, 13),
    ("host-precedence-violation", 3, 14),
    ("precedence-cutoff", 3, 15),
    ("source-quench", 4, 0),
    ("network-redirect", 5, 0),
    ("host-redirect", 5, 1),
    ("TOS-network-redirect", 5, 2),
    ("TOS-host-redirect", 5, 3),
    ("echo-request", 8, 0),
    ("ping", 8, 0),
    ("router-advertisement", 9, 0),
    ("router-solicitation", 10, 0),
    ("ttl-zero-during-transit", 11, 0),
    ("ttl-zero-during-reassembly", 11, 1),
    ("ip-header-bad", 12, 0),
    ("required-option-missing", 12, 1),
    ("timestamp-request", 13, 0),
    ("timestamp-reply", 14, 0),
    ("address-mask-request", 17, 0),
    ("address-mask-reply", 18, 0),
];

/// ICMPv6 type/code names in ipset's order (lib/icmpv6.c).
pub(super) const ICMPV6_NAMES: &[(&str, u8, u8)] = &[
    ("no-route", 1, 0),
    ("communication-prohibited", 1, 1),
    ("address-unreachable", 1, 3),
    ("port-unreachable", 1, 4),
    ("packet-too-big", 2, 0),
    ("ttl-zero-during-transit", 3, 0),
    ("ttl-zero-during-reassembly", 3, 1),
    ("bad-header", 4, 0),
    ("unknown-header-type", 4, 1),
    ("unknown-option", 4, 2),
    ("echo-request", 128, 0),
    ("ping", 128, 0),
    ("echo-reply", 129, 0),
    ("pong", 129, 0),
    ("router-solicitation", 133, 0),
    ("router-advertisement", 134, 0),
    ("neighbour-solicitation", 135, 0),
    ("neigbour-solicitation", 135, 0),
    ("neighbour-advertisement", 136, 0),
    ("neigbour-advertisement", 136, 0),
    ("redirect", 137, 0),
];

pub(super) fn icmp_name(
    table: &[(&'static str, u8, u8)],
    ty: u8,
    code: u8,
) -> Option<&'static str> {
    table
        .iter()
        .find(|(_, t, c)| *t == ty && *c == code)
        .map(|(n, _, _)| *n)
}

/// ipset's `name_to_icmp`: the first name that starts with `s`.
pub(super) fn icmp_by_name(table: &[(&'static str, u8, u8)], s: &str) -> Option<(u8, u8)> {
    if s.is_empty() {
        return None;
    }
    table
        .iter()
        .find(|(n, _, _)| n.starts_with(s))
        .map(|(_, t, c)| (*t, *c))
}
