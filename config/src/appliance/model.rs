//! The plain appliance model: what the TOML says once validated, each item
//! with the line it was declared on.

use std::net::IpAddr;
use std::path::PathBuf;

use ipnet::IpNet;

/// The `main` routing table (`ip route` without `table`).
pub const TABLE_MAIN: u32 = 254;
/// The `local` routing table: the router's own and broadcast addresses.
pub const TABLE_LOCAL: u32 = 255;
/// The `default` routing table, consulted last by the default rules.
pub const TABLE_DEFAULT: u32 = 253;

/// Default interface MTU.
pub const DEFAULT_MTU: u16 = 1500;
/// Smallest MTU Linux accepts on an IPv4 interface (RFC 791: 68 octets).
pub const MIN_MTU: u16 = 68;
/// Smallest MTU for IPv6 (RFC 8200 §5); Linux drops IPv6 below it.
pub const MIN_MTU_IPV6: u16 = 1280;
/// Default number of dataplane worker cores.
pub const DEFAULT_WORKERS: u32 = 1;
/// Default size of the conntrack table (entries, summed over workers).
pub const DEFAULT_CONNTRACK_MAX: u32 = 262_144;
/// Longest Linux interface name (`IFNAMSIZ` - 1).
pub const MAX_IFNAME_LEN: usize = 15;

/// A whole appliance configuration.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Appliance {
    /// In file order; never empty.
    pub interfaces: Vec<Interface>,
    /// In file order.
    pub routes: Vec<Route>,
    /// In file order (the dataplane orders them by priority, stable).
    pub policies: Vec<PolicyRule>,
    pub firewall: Option<Firewall>,
    pub dataplane: Dataplane,
}

impl Appliance {
    /// The interface called `name`.
    pub fn interface(&self, name: &str) -> Option<&Interface> {
        self.interfaces.iter().find(|i| i.name == name)
    }
}

/// One `[[interface]]`: a kernel netdev sluice attaches to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Interface {
    pub name: String,
    /// The router's own addresses with their prefix length
    /// (`10.0.1.1/24`: address 10.0.1.1 on the connected network 10.0.1.0/24).
    pub addresses: Vec<IpNet>,
    pub mtu: u16,
    /// Line of the `[[interface]]` header.
    pub line: usize,
}

/// One `[[route]]`, as `ip route add TO [via VIA] [dev DEV] [table T] [metric M]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Route {
    /// The destination prefix; no host bits set.
    pub to: IpNet,
    /// The gateway, same family as `to`.
    pub via: Option<IpAddr>,
    /// The egress interface as written (a declared interface). When absent,
    /// the interface whose connected network holds `via`.
    pub dev: Option<String>,
    pub table: u32,
    pub metric: u32,
    /// Line of the `[[route]]` header.
    pub line: usize,
}

/// One `[[policy]]`, as `ip rule add [not] priority P [fwmark V/M] [from P]
/// [to P] [iif I] [oif O] lookup T`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PolicyRule {
    pub priority: u32,
    /// `(value, mask)`: matches when `(mark ^ value) & mask == 0`.
    pub fwmark: Option<(u32, u32)>,
    /// Source prefix, truncated to its network.
    pub from: Option<IpNet>,
    /// Destination prefix, truncated to its network.
    pub to: Option<IpNet>,
    pub iif: Option<String>,
    pub oif: Option<String>,
    /// Inverts the whole selector.
    pub not: bool,
    pub table: u32,
    /// Line of the `[[policy]]` header.
    pub line: usize,
}

/// The `[firewall]` section: the files that hold the ruleset.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Firewall {
    /// The `iptables-restore` file, resolved against the TOML file's folder.
    pub rules: PathBuf,
    /// The `ipset save` file, resolved the same way.
    pub sets: Option<PathBuf>,
    /// Line of the `[firewall]` header.
    pub line: usize,
}

/// The `[dataplane]` section.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Dataplane {
    /// Worker cores, at least 1.
    pub workers: u32,
    /// Conntrack table size, at least 1.
    pub conntrack_max: u32,
}

impl Default for Dataplane {
    fn default() -> Self {
        Dataplane {
            workers: DEFAULT_WORKERS,
            conntrack_max: DEFAULT_CONNTRACK_MAX,
        }
    }
}
