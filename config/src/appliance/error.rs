//! Why an appliance TOML that parses as TOML is refused: one variant per
//! check of [`super::validate`], the `#[error]` text its message. The
//! location (file, line, column of the value at fault) is the caller's
//! [`crate::Location`].

use std::net::IpAddr;

use ipnet::IpNet;

use super::model::{MAX_CONNTRACK_TIMEOUT, MAX_IFNAME_LEN, MIN_MTU, MIN_MTU_IPV6};
use super::values::{conntrack_keys, family_name, table_name};

/// A value of the appliance config that is out of range or inconsistent.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ApplianceError {
    /// The file declares no interface.
    #[error("no [[interface]] defined: sluice needs at least one interface to attach to")]
    NoInterface,
    /// A name the kernel refuses for a netdev.
    #[error("invalid interface name {name:?}: {why}")]
    InterfaceName { name: String, why: IfnameProblem },
    /// Two `[[interface]]` with one name.
    #[error("interface {name:?} is already defined at line {first}")]
    DuplicateInterface { name: String, first: usize },
    /// An `address` that is not `ADDRESS/PREFIXLEN` nor a plain address.
    #[error(
        "invalid address {text:?}: expected ADDRESS/PREFIXLEN, \
         e.g. \"10.0.1.1/24\" or \"fd00:1::1/64\", or \"dhcp\""
    )]
    Address { text: String },
    /// `"dhcp"` twice in one `address` list.
    #[error("\"dhcp\" is already in the address list of interface {interface:?}: one DHCPv4 client per interface")]
    DhcpTwice { interface: String },
    /// `"dhcp"` beside a static IPv4 address.
    #[error(
        "interface {interface:?} takes its IPv4 address by DHCP and has the static IPv4 address {addr}: \
         use one or the other (static IPv6 addresses beside \"dhcp\" are fine)"
    )]
    DhcpWithIpv4 { interface: String, addr: IpNet },
    /// One address on two interfaces (or twice on one).
    #[error("address {addr} is already assigned to interface {interface:?} at line {line}")]
    DuplicateAddress {
        addr: IpAddr,
        interface: String,
        line: usize,
    },
    /// An `mtu` outside what Linux takes.
    #[error("mtu {mtu} is out of range {MIN_MTU}..=65535")]
    Mtu { mtu: i64 },
    /// An `mtu` below the IPv6 minimum on an interface with IPv6.
    #[error(
        "mtu {mtu} is below {MIN_MTU_IPV6}, the IPv6 minimum (RFC 8200), \
         and interface {interface:?} has an IPv6 address"
    )]
    MtuBelowIpv6 { mtu: u16, interface: String },
    /// A `via` that is not an address.
    #[error("invalid gateway {text:?}: expected an IPv4 or IPv6 address")]
    Gateway { text: String },
    /// `to = "default"` without a `via` to give its family.
    #[error(
        "\"default\" takes its family from `via`; without a gateway \
         write \"0.0.0.0/0\" or \"::/0\""
    )]
    DefaultWithoutGateway,
    /// A route `to` that is not a prefix.
    #[error(
        "invalid route destination {text:?}: expected PREFIX/LEN, \
         e.g. \"10.0.0.0/8\", \"::/0\" or \"default\""
    )]
    RouteDestination { text: String },
    /// `ip route`: "Invalid prefix for given prefix length".
    #[error(
        "invalid prefix for given prefix length: {net} has host bits set \
         (the network is {})",
        net.trunc()
    )]
    HostBits { net: IpNet },
    /// A route `dev` that is no declared interface.
    #[error("dev {name:?} is not a declared [[interface]]")]
    UnknownDev { name: String },
    /// A gateway of the other family than the destination.
    #[error(
        "gateway {via} is {} but destination {to} is {}",
        family_name(*via),
        family_name(to.addr())
    )]
    GatewayFamily { via: IpAddr, to: IpNet },
    /// `ip route`: "Nexthop has invalid gateway" (it is a local address).
    #[error("invalid gateway {via}: it is the router's own address on interface {interface:?}")]
    GatewayIsLocal { via: IpAddr, interface: String },
    /// A link-local gateway names no link.
    #[error("link-local gateway {via} needs `dev` to say which link")]
    LinkLocalWithoutDev { via: IpAddr },
    /// `ip route`: "Nexthop has invalid gateway" (not on `dev`'s networks).
    #[error("invalid gateway {via}: not on a connected network of interface {dev:?}")]
    GatewayNotOnDev { via: IpAddr, dev: String },
    /// `ip route`: "Nexthop has invalid gateway" (on no connected network).
    #[error("invalid gateway {via}: not on a connected network of any interface")]
    GatewayNotConnected { via: IpAddr },
    /// A route with neither `via` nor `dev`.
    #[error("route {to} needs `via` or `dev`")]
    NoNextHop { to: IpNet },
    /// `ip route`: "File exists".
    #[error(
        "route {to} in table {} with metric {metric} is already defined at line {first}",
        table_name(*table)
    )]
    DuplicateRoute {
        to: IpNet,
        table: u32,
        metric: u32,
        first: usize,
    },
    /// A `metric` outside `u32`.
    #[error("metric {metric} is out of range 0..=4294967295")]
    Metric { metric: i64 },
    /// A numeric `table` outside 1..=`u32::MAX`.
    #[error("table {table} is out of range 1..=4294967295")]
    TableNumber { table: i64 },
    /// A `table` name other than main, local and default.
    #[error(
        "unknown table {name:?}: expected \"main\", \"local\", \"default\" \
         or a number 1..=4294967295"
    )]
    TableName { name: String },
    /// A policy `priority` outside `u32`.
    #[error("priority {priority} is out of range 0..=4294967295")]
    Priority { priority: i64 },
    /// A numeric `fwmark` outside `u32`.
    #[error("fwmark {mark} is out of range 0..=0xffffffff")]
    FwmarkNumber { mark: i64 },
    /// A `fwmark` string that is not `VALUE[/MASK]` of `u32`s.
    #[error(
        "invalid fwmark {text:?}: expected VALUE[/MASK], numbers in decimal or 0x hex, \
         e.g. \"0x1/0xff\""
    )]
    Fwmark { text: String },
    /// A policy `from`/`to` that is neither a prefix nor "all".
    #[error("invalid `{key}` prefix {text:?}: expected PREFIX/LEN or \"all\"")]
    Selector { key: &'static str, text: String },
    /// Policy `from` and `to` of different families.
    #[error(
        "`to` {to} is {} but `from` {from} is {}",
        family_name(to.addr()),
        family_name(from.addr())
    )]
    SelectorFamily { from: IpNet, to: IpNet },
    /// A policy `iif`/`oif` that is no declared interface nor `lo`.
    #[error("{key} {name:?} is not a declared [[interface]] (nor \"lo\")")]
    UnknownPolicyDevice { key: &'static str, name: String },
    /// A `[firewall]` or `[control]` path that is empty.
    #[error("`{key}` is an empty path")]
    EmptyPath { key: &'static str },
    /// A `[control] metrics` that is no socket address.
    #[error(
        "invalid metrics address {text:?}: expected ADDRESS:PORT, \
         e.g. \"127.0.0.1:9469\" or \"[::1]:9469\""
    )]
    MetricsAddress { text: String },
    /// A `[control] log` that is neither stderr, syslog nor a path.
    #[error(
        "invalid log target {text:?}: expected \"stderr\", \"syslog\" or a file path \
         containing a `/` (e.g. \"/var/log/sluice.log\" or \"./sluice.log\")"
    )]
    LogTarget { text: String },
    /// A `[control] log_format` other than kernel and json.
    #[error("invalid log_format {text:?}: expected \"kernel\" or \"json\"")]
    LogFormat { text: String },
    /// A `[dataplane]` count outside 1..=`u32::MAX`.
    #[error("{key} = {value} is out of range 1..=4294967295")]
    DataplaneCount { key: &'static str, value: i64 },
    /// `[dataplane] cores` with a number of entries other than `workers`.
    #[error("cores lists {given} core(s) but workers = {workers}: give one core per worker")]
    CoresCount { given: usize, workers: u32 },
    /// A `[dataplane] cores` entry that is no CPU number, or repeated.
    #[error("cores: {value} {why}")]
    Core { value: i64, why: &'static str },
    /// A `[conntrack]` key that is no sysctl sluice follows.
    #[error("unknown field `{key}`, expected one of {}", conntrack_keys())]
    ConntrackKey { key: String },
    /// `max` or `buckets` (with or without the `nf_conntrack_` prefix) in
    /// `[conntrack]`.
    #[error(
        "`{key}` is not a [conntrack] setting: the conntrack table is sized \
         by `conntrack_max` in [dataplane]"
    )]
    ConntrackSize { key: String },
    /// A `[conntrack]` key written with the sysctl's `nf_conntrack_` prefix.
    #[error(
        "unknown field `{key}`: [conntrack] keys are the sysctl names without \
         the `nf_conntrack_` prefix, write `{bare}`"
    )]
    ConntrackPrefix { key: String, bare: &'static str },
    /// A conntrack timeout of 0, which the kernel takes and with which
    /// every such connection ends as soon as it is made.
    #[error(
        "{key} = 0 would end every such connection as soon as it is made: \
         a timeout is 1..={MAX_CONNTRACK_TIMEOUT} seconds"
    )]
    ConntrackTimeoutZero { key: String },
    /// A conntrack timeout below 0 (as 0 in the kernel) or above
    /// [`MAX_CONNTRACK_TIMEOUT`].
    #[error("{key} = {value} is out of range 1..={MAX_CONNTRACK_TIMEOUT} (seconds)")]
    ConntrackTimeout { key: String, value: i64 },
    /// A 0/1 conntrack sysctl with another number.
    #[error("{key} = {value} is out of range: expected 0, 1, false or true")]
    ConntrackSwitch { key: String, value: i64 },
    /// `tcp_max_retrans` outside a `u8`.
    #[error("{key} = {value} is out of range 0..=255")]
    ConntrackCount { key: String, value: i64 },
    /// `true`/`false` for a conntrack timeout or count.
    #[error("{key} = {value}: expected an integer")]
    ConntrackBool { key: String, value: bool },
}

/// Why `dev_valid_name()` (net/core/dev.c) refuses an interface name.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum IfnameProblem {
    #[error("empty")]
    Empty,
    #[error("longer than {MAX_IFNAME_LEN} bytes")]
    TooLong,
    /// `.` and `..`.
    #[error("reserved")]
    Reserved,
    /// `/`, `:` or white space.
    #[error("contains {0:?}")]
    BadChar(char),
}
