//! The set of routing tables, built from the router's ports (interfaces with
//! their addresses) and the static routes, the way the kernel fills them:
//!
//! * `net/ipv4/fib_frontend.c` `fib_add_ifaddr()`: for each IPv4 address
//!   `A/L` on a port, `local A` in table local; unless the address is
//!   secondary (another address of the same port already has that network),
//!   lies in 0.0.0.0/8, or is a /32: the connected route `NET/L dev PORT`
//!   (scope link, metric 0) in main and, for L < 31, `broadcast BCAST` in
//!   local. (Kernels since 5.x no longer add a broadcast route for the
//!   network address; checked against 6.18.)
//! * `net/ipv6/addrconf.c`: for each IPv6 address, `local A` (metric 0) in
//!   local, the prefix route `NET/L dev PORT metric 256` in main (also for a
//!   /128), and for L < 127 the subnet-router anycast `anycast NET` in local
//!   (joined when forwarding is on, as on a router). No link-local addresses
//!   are invented: a port has exactly the addresses the config gives it.
//! * Static routes: IPv6 metric 0 means 1024 (`IP6_RT_PRIO_USER`, as
//!   `ip -6 route add` without `metric`). A route with the same table,
//!   prefix and metric as an earlier one, connected routes included, is
//!   refused ("File exists", `NLM_F_EXCL`).
//! * Gateways (`fib_check_nh_v4_gw()`, `ip6_route_check_nh()`): `via G`
//!   must be reached by a route of scope link or host — a connected or a
//!   `dev`-only route, not another gateway route — looked up in the route's
//!   own table first, then in local, main, default (the default rules; IPv6
//!   has no default-table rule), with `dev` restricting the candidates to
//!   that port. The port of that route becomes the route's port. A gateway
//!   that is a broadcast address or nothing reaches is "Nexthop has invalid
//!   gateway"; one of the router's own addresses is refused (IPv4 Linux
//!   accepts it, sluice refuses, as the config does); an IPv6 link-local
//!   gateway needs `dev`. Unlike `ip route add` run line by line, all
//!   `dev`-only routes are in place before any gateway is resolved, so the
//!   order of routes in the file does not matter.
//!
//! Multicast routes (`ff00::/8` in local, 224/4) are not created: sluice
//! does not route multicast.

use std::collections::BTreeMap;
use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use ahash::AHashMap;
use ipnet::{IpNet, Ipv4Net, Ipv6Net};

use super::fib::{Fib, FibBuilder, NextHop, NextHopKind, PortId};
use super::{GatewayProblem, RouteError};

pub use sluice_config::appliance::{TABLE_DEFAULT, TABLE_LOCAL, TABLE_MAIN};

/// Metric of a static IPv6 route written without one (`IP6_RT_PRIO_USER`).
pub const IPV6_USER_METRIC: u32 = 1024;
/// Metric of an IPv6 address's prefix route (`IP6_RT_PRIO_ADDRCONF`).
pub const IPV6_CONNECTED_METRIC: u32 = 256;

/// A table id as `ip route` prints it: `main`, `local`, `default` or the
/// number.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TableName(pub u32);

impl fmt::Display for TableName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.0 {
            TABLE_MAIN => f.write_str("main"),
            TABLE_LOCAL => f.write_str("local"),
            TABLE_DEFAULT => f.write_str("default"),
            n => write!(f, "{n}"),
        }
    }
}

/// A port as the routing tables see it: its name and its own addresses.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Port {
    pub name: String,
    /// Addresses with their prefix length, host bits kept (`10.0.1.1/24`).
    pub addresses: Vec<IpNet>,
    /// Config line that declares the port (for errors).
    pub line: usize,
}

/// The route types an operator can write (`ip route add TYPE ...`);
/// `broadcast` and `anycast` routes only come from addresses.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum RouteType {
    Unicast,
    Local,
    Blackhole,
    Unreachable,
    Prohibit,
    Throw,
}

/// A static route, as `ip route add [TYPE] TO [via VIA] [dev DEV]
/// [table T] [metric M]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StaticRoute {
    /// Destination prefix; host bits must be clear.
    pub to: IpNet,
    pub kind: RouteType,
    /// Gateway (unicast only), same family as `to`.
    pub via: Option<IpAddr>,
    /// Egress port (unicast only): required without `via`, resolved from
    /// the gateway when absent.
    pub dev: Option<PortId>,
    pub table: u32,
    /// As written; for IPv6, 0 means [`IPV6_USER_METRIC`].
    pub metric: u32,
    /// Config line (for errors).
    pub line: usize,
}

impl StaticRoute {
    /// A unicast route in main with metric 0.
    pub fn unicast(to: IpNet, via: Option<IpAddr>, dev: Option<PortId>, line: usize) -> Self {
        StaticRoute {
            to,
            kind: RouteType::Unicast,
            via,
            dev,
            table: TABLE_MAIN,
            metric: 0,
            line,
        }
    }

    /// A route of `kind` without next hop in main with metric 0.
    pub fn typed(to: IpNet, kind: RouteType, line: usize) -> Self {
        StaticRoute {
            to,
            kind,
            via: None,
            dev: None,
            table: TABLE_MAIN,
            metric: 0,
            line,
        }
    }

    pub fn in_table(mut self, table: u32) -> Self {
        self.table = table;
        self
    }

    pub fn with_metric(mut self, metric: u32) -> Self {
        self.metric = metric;
        self
    }

    /// The metric the kernel stores.
    pub fn effective_metric(&self) -> u32 {
        if self.to.addr().is_ipv6() && self.metric == 0 {
            IPV6_USER_METRIC
        } else {
            self.metric
        }
    }
}

/// All routing tables, immutable. Tables local, main and default always
/// exist; others exist when a route names them.
#[derive(Debug, Clone)]
pub struct Tables {
    /// Table ids, ascending.
    ids: Box<[u32]>,
    /// The FIB of `ids[i]`.
    fibs: Box<[Fib]>,
}

impl Default for Tables {
    fn default() -> Self {
        let ids = vec![TABLE_DEFAULT, TABLE_MAIN, TABLE_LOCAL];
        Tables {
            fibs: ids.iter().map(|_| Fib::default()).collect(),
            ids: ids.into_boxed_slice(),
        }
    }
}

impl Tables {
    /// Builds the tables: connected, local, broadcast and anycast routes of
    /// `ports` (port `i` is `PortId(i)`), then `routes`.
    pub fn build(ports: &[Port], routes: &[StaticRoute]) -> Result<Tables, RouteError> {
        if ports.len() > usize::from(u16::MAX) + 1 {
            return Err(RouteError::TooManyPorts { count: ports.len() });
        }
        let mut t = TablesBuilder::default();
        for table in [TABLE_LOCAL, TABLE_MAIN, TABLE_DEFAULT] {
            t.builders.entry(table).or_default();
        }
        for (i, port) in ports.iter().enumerate() {
            t.add_port(PortId(i as u16), port);
        }

        // Checks in file order, so "File exists" names the earlier line.
        for r in routes {
            t.check(r, ports)?;
        }
        // Routes without a gateway first: they are what gateways resolve
        // through.
        for r in routes.iter().filter(|r| r.via.is_none()) {
            let kind = match r.kind {
                RouteType::Unicast => NextHopKind::Unicast {
                    via: None,
                    dev: r.dev.ok_or(RouteError::MissingNextHop {
                        line: r.line,
                        to: r.to,
                    })?,
                },
                RouteType::Local => NextHopKind::Local,
                RouteType::Blackhole => NextHopKind::Blackhole,
                RouteType::Unreachable => NextHopKind::Unreachable,
                RouteType::Prohibit => NextHopKind::Prohibit,
                RouteType::Throw => NextHopKind::Throw,
            };
            t.add(r.table, r.to, kind, r.effective_metric());
        }
        let index = GatewayIndex::new(&t.added);
        for r in routes.iter().filter(|r| r.via.is_some()) {
            let dev = resolve_gateway(r, ports, &index, &t.own)?;
            t.add(
                r.table,
                r.to,
                NextHopKind::Unicast { via: r.via, dev },
                r.effective_metric(),
            );
        }

        let (ids, fibs): (Vec<u32>, Vec<Fib>) = t
            .builders
            .into_iter()
            .map(|(id, b)| (id, b.build()))
            .unzip();
        Ok(Tables {
            ids: ids.into_boxed_slice(),
            fibs: fibs.into_boxed_slice(),
        })
    }

    /// The table `id`.
    pub fn get(&self, id: u32) -> Option<&Fib> {
        self.index_of(id).and_then(|i| self.fibs.get(i))
    }

    /// Position of table `id`, for [`Tables::at`].
    pub fn index_of(&self, id: u32) -> Option<usize> {
        self.ids.binary_search(&id).ok()
    }

    /// The table at position `index` (from [`Tables::index_of`]).
    #[inline]
    pub fn at(&self, index: usize) -> Option<&Fib> {
        self.fibs.get(index)
    }

    /// `(id, table)`, ascending by id.
    pub fn iter(&self) -> impl Iterator<Item = (u32, &Fib)> {
        self.ids.iter().copied().zip(self.fibs.iter())
    }

    /// Number of tables.
    pub fn len(&self) -> usize {
        self.ids.len()
    }

    pub fn is_empty(&self) -> bool {
        self.ids.is_empty()
    }
}

/// Where a route came from, for "File exists".
#[derive(Debug, Clone, Copy)]
enum Origin {
    /// Derived from an address of port `.0`.
    Address(usize),
    /// A static route at this config line.
    Static(usize),
}

#[derive(Default)]
struct TablesBuilder {
    builders: BTreeMap<u32, FibBuilder>,
    /// `(table, prefix, metric)` -> first route with that key.
    keys: AHashMap<(u32, IpNet, u32), (Origin, NextHopKind)>,
    /// Every route added so far, in order (for gateway resolution).
    added: Vec<(u32, IpNet, NextHop)>,
    /// The router's own addresses -> port index.
    own: AHashMap<IpAddr, usize>,
}

impl TablesBuilder {
    fn add(&mut self, table: u32, to: IpNet, kind: NextHopKind, metric: u32) {
        let nh = NextHop { kind, metric };
        self.builders.entry(table).or_default().add(to, nh);
        self.added.push((table, to.trunc(), nh));
    }

    /// A route derived from an address of port `port`; the kernel adds
    /// those with `NLM_F_APPEND`, so an identical one is skipped and one
    /// with another next hop is kept after the first.
    fn add_derived(&mut self, port: usize, table: u32, to: IpNet, kind: NextHopKind, metric: u32) {
        let key = (table, to.trunc(), metric);
        if let Some((_, existing)) = self.keys.get(&key) {
            if *existing == kind {
                return;
            }
        } else {
            self.keys.insert(key, (Origin::Address(port), kind));
        }
        self.add(table, to, kind, metric);
    }

    fn add_port(&mut self, dev: PortId, port: &Port) {
        let p = dev.index();
        for (i, a) in port.addresses.iter().enumerate() {
            self.own.entry(a.addr()).or_insert(p);
            match *a {
                IpNet::V4(n) => {
                    self.add_derived(p, TABLE_LOCAL, host(a.addr()), NextHopKind::Local, 0);
                    let secondary = port.addresses[..i].iter().any(|b| {
                        matches!(b, IpNet::V4(m) if m.prefix_len() == n.prefix_len()
                            && m.network() == n.network())
                    });
                    let zeronet = n.network().octets()[0] == 0;
                    if secondary || zeronet || n.prefix_len() == 32 {
                        continue;
                    }
                    let link = NextHopKind::Unicast { via: None, dev };
                    self.add_derived(p, TABLE_MAIN, a.trunc(), link, 0);
                    if n.prefix_len() < 31 {
                        let bcast = host(IpAddr::V4(n.broadcast()));
                        self.add_derived(p, TABLE_LOCAL, bcast, NextHopKind::Broadcast { dev }, 0);
                    }
                }
                IpNet::V6(n) => {
                    self.add_derived(p, TABLE_LOCAL, host(a.addr()), NextHopKind::Local, 0);
                    let link = NextHopKind::Unicast { via: None, dev };
                    self.add_derived(p, TABLE_MAIN, a.trunc(), link, IPV6_CONNECTED_METRIC);
                    if n.prefix_len() < 127 && !n.network().is_unspecified() {
                        let anycast = host(IpAddr::V6(n.network()));
                        self.add_derived(p, TABLE_LOCAL, anycast, NextHopKind::Anycast { dev }, 0);
                    }
                }
            }
        }
    }

    /// Everything about `r` that does not need other routes.
    fn check(&mut self, r: &StaticRoute, ports: &[Port]) -> Result<(), RouteError> {
        if r.to.trunc() != r.to {
            return Err(RouteError::HostBits {
                line: r.line,
                to: r.to,
            });
        }
        if let Some(via) = r.via {
            if via.is_ipv4() != r.to.addr().is_ipv4() {
                return Err(RouteError::FamilyMismatch {
                    line: r.line,
                    to: r.to,
                    via,
                });
            }
        }
        if r.kind == RouteType::Unicast && r.via.is_none() && r.dev.is_none() {
            return Err(RouteError::MissingNextHop {
                line: r.line,
                to: r.to,
            });
        }
        if let Some(dev) = r.dev {
            if dev.index() >= ports.len() {
                return Err(RouteError::UnknownPort {
                    line: r.line,
                    port: dev.0,
                    count: ports.len(),
                });
            }
        }
        let metric = r.effective_metric();
        let key = (r.table, r.to, metric);
        if let Some((origin, _)) = self.keys.get(&key) {
            let existing = match *origin {
                Origin::Static(line) => format!("the route at line {line}"),
                Origin::Address(p) => format!(
                    "a route of an address of interface {:?} (line {})",
                    ports[p].name, ports[p].line
                ),
            };
            return Err(RouteError::Exists {
                line: r.line,
                to: r.to,
                table: TableName(r.table),
                metric,
                existing,
            });
        }
        // The kind stored here is only compared for derived routes.
        self.keys
            .insert(key, (Origin::Static(r.line), NextHopKind::Throw));
        Ok(())
    }
}

/// `ADDR/32` or `ADDR/128`.
fn host(a: IpAddr) -> IpNet {
    match a {
        IpAddr::V4(a) => IpNet::V4(Ipv4Net::from(a)),
        IpAddr::V6(a) => IpNet::V6(Ipv6Net::from(a)),
    }
}

/// The routes a gateway may be reached through (scope link or host:
/// routes without a gateway that deliver to a link or to the box),
/// indexed by `(table, prefix)`, so that resolving one gateway probes at
/// most one hash entry per prefix length in use.
struct GatewayIndex {
    by_prefix: AHashMap<(u32, IpNet), Vec<NextHop>>,
    /// Prefix lengths present, longest first.
    lens_v4: Vec<u8>,
    lens_v6: Vec<u8>,
}

impl GatewayIndex {
    fn new(routes: &[(u32, IpNet, NextHop)]) -> Self {
        let mut by_prefix: AHashMap<(u32, IpNet), Vec<NextHop>> = AHashMap::new();
        let (mut lens_v4, mut lens_v6) = (Vec::new(), Vec::new());
        for &(table, to, nh) in routes {
            let candidate = matches!(
                nh.kind,
                NextHopKind::Unicast { via: None, .. }
                    | NextHopKind::Local
                    | NextHopKind::Broadcast { .. }
                    | NextHopKind::Anycast { .. }
            );
            if !candidate {
                continue;
            }
            by_prefix.entry((table, to)).or_default().push(nh);
            match to {
                IpNet::V4(_) => lens_v4.push(to.prefix_len()),
                IpNet::V6(_) => lens_v6.push(to.prefix_len()),
            }
        }
        for v in by_prefix.values_mut() {
            v.sort_by_key(|nh| nh.metric); // stable: first added among equals
        }
        for lens in [&mut lens_v4, &mut lens_v6] {
            lens.sort_unstable_by(|a, b| b.cmp(a));
            lens.dedup();
        }
        GatewayIndex {
            by_prefix,
            lens_v4,
            lens_v6,
        }
    }

    /// Longest-prefix match for `gw` in `table` among candidates on `dev`
    /// (any port when `None`).
    fn lookup(&self, table: u32, gw: IpAddr, dev: Option<PortId>) -> Option<NextHopKind> {
        let lens = if gw.is_ipv4() {
            &self.lens_v4
        } else {
            &self.lens_v6
        };
        for &len in lens {
            let Ok(net) = IpNet::new(gw, len) else {
                continue;
            };
            let Some(nhs) = self.by_prefix.get(&(table, net.trunc())) else {
                continue;
            };
            // `fib_table_lookup()` with `flowi4_oif`: next hops on other
            // devices are skipped, shorter prefixes tried next.
            let hit = nhs
                .iter()
                .find(|nh| dev.is_none() || nh.kind.dev() == dev || nh.kind == NextHopKind::Local);
            if let Some(nh) = hit {
                return Some(nh.kind);
            }
        }
        None
    }
}

fn is_link_local_v6(a: Ipv6Addr) -> bool {
    a.segments()[0] & 0xffc0 == 0xfe80
}

/// The port of gateway route `r`.
fn resolve_gateway(
    r: &StaticRoute,
    ports: &[Port],
    index: &GatewayIndex,
    own: &AHashMap<IpAddr, usize>,
) -> Result<PortId, RouteError> {
    let Some(via) = r.via else {
        return r.dev.ok_or(RouteError::MissingNextHop {
            line: r.line,
            to: r.to,
        });
    };
    let invalid = |why| RouteError::InvalidGateway {
        line: r.line,
        to: r.to,
        via,
        why,
    };
    if r.kind != RouteType::Unicast {
        return Err(RouteError::GatewayOnTypedRoute {
            line: r.line,
            to: r.to,
            kind: r.kind,
        });
    }
    if let Some(&p) = own.get(&via) {
        return Err(RouteError::GatewayIsLocal {
            line: r.line,
            to: r.to,
            via,
            interface: ports[p].name.clone(),
        });
    }
    match via {
        IpAddr::V6(a) if is_link_local_v6(a) => {
            return r.dev.ok_or(invalid(GatewayProblem::LinkLocalNeedsDev));
        }
        IpAddr::V4(a) if a == Ipv4Addr::UNSPECIFIED || a.is_broadcast() || a.is_multicast() => {
            return Err(invalid(GatewayProblem::NotUnicast));
        }
        IpAddr::V6(a) if a.is_unspecified() || a.is_multicast() => {
            return Err(invalid(GatewayProblem::NotUnicast));
        }
        _ => {}
    }
    let mut order: Vec<u32> = Vec::with_capacity(4);
    if r.table != TABLE_MAIN {
        order.push(r.table);
    }
    order.extend([TABLE_LOCAL, TABLE_MAIN]);
    if via.is_ipv4() {
        order.push(TABLE_DEFAULT);
    }
    let found = order.iter().find_map(|&t| index.lookup(t, via, r.dev));
    match found {
        Some(NextHopKind::Unicast { dev, .. }) | Some(NextHopKind::Anycast { dev }) => Ok(dev),
        Some(NextHopKind::Broadcast { .. }) => Err(invalid(GatewayProblem::NotUnicast)),
        Some(NextHopKind::Local) => Err(RouteError::GatewayIsLocal {
            line: r.line,
            to: r.to,
            via,
            interface: "lo".into(),
        }),
        _ => Err(invalid(GatewayProblem::NotOnLink {
            dev: r.dev.map(|d| ports[d.index()].name.clone()),
        })),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn net(s: &str) -> IpNet {
        s.parse().unwrap()
    }
    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }
    fn port(name: &str, addrs: &[&str], line: usize) -> Port {
        Port {
            name: name.into(),
            addresses: addrs.iter().map(|a| net(a)).collect(),
            line,
        }
    }
    fn ports() -> Vec<Port> {
        vec![
            port("r0", &["10.0.1.1/24", "10.0.1.7/24", "fd00:1::1/64"], 1),
            port(
                "r1",
                &[
                    "10.0.2.1/24",
                    "fd00:2::1/64",
                    "10.0.3.1/32",
                    "10.0.4.1/31",
                    "fd00:5::1/128",
                    "fd00:6::1/127",
                ],
                5,
            ),
        ]
    }
    fn show(t: &Tables, id: u32) -> Vec<String> {
        t.get(id)
            .unwrap()
            .routes()
            .iter()
            .map(|r| {
                let nh = r.next_hop;
                let dev = nh
                    .kind
                    .dev()
                    .map(|d| format!(" dev {}", d.0))
                    .unwrap_or_default();
                let via = match nh.kind {
                    NextHopKind::Unicast { via: Some(v), .. } => format!(" via {v}"),
                    _ => String::new(),
                };
                format!(
                    "{} {}{via}{dev} metric {}",
                    nh.kind.type_name(),
                    r.to,
                    nh.metric
                )
            })
            .collect()
    }

    /// The same tables as `ip route show table local|main` on Linux 6.18
    /// after the same `ip addr add`s (minus lo's own routes).
    #[test]
    fn connected_local_broadcast_anycast() {
        let t = Tables::build(&ports(), &[]).unwrap();
        assert_eq!(
            show(&t, TABLE_MAIN),
            vec![
                "unicast 10.0.1.0/24 dev 0 metric 0",
                "unicast 10.0.2.0/24 dev 1 metric 0",
                "unicast 10.0.4.0/31 dev 1 metric 0",
                "unicast fd00:1::/64 dev 0 metric 256",
                "unicast fd00:2::/64 dev 1 metric 256",
                "unicast fd00:5::1/128 dev 1 metric 256",
                "unicast fd00:6::/127 dev 1 metric 256",
            ]
        );
        assert_eq!(
            show(&t, TABLE_LOCAL),
            vec![
                "local 10.0.1.1/32 metric 0",
                "local 10.0.1.7/32 metric 0",
                "broadcast 10.0.1.255/32 dev 0 metric 0",
                "local 10.0.2.1/32 metric 0",
                "broadcast 10.0.2.255/32 dev 1 metric 0",
                "local 10.0.3.1/32 metric 0",
                "local 10.0.4.1/32 metric 0",
                "anycast fd00:1::/128 dev 0 metric 0",
                "local fd00:1::1/128 metric 0",
                "anycast fd00:2::/128 dev 1 metric 0",
                "local fd00:2::1/128 metric 0",
                "local fd00:5::1/128 metric 0",
                "local fd00:6::1/128 metric 0",
            ]
        );
        assert!(t.get(TABLE_DEFAULT).unwrap().is_empty());
        assert_eq!(t.len(), 3);
        assert!(t.get(100).is_none());
    }

    #[test]
    fn same_network_on_two_ports_keeps_both_first_wins() {
        let ps = vec![
            port("r0", &["10.0.1.1/24"], 1),
            port("r1", &["10.0.1.2/24"], 4),
        ];
        let t = Tables::build(&ps, &[]).unwrap();
        assert_eq!(
            show(&t, TABLE_MAIN),
            vec![
                "unicast 10.0.1.0/24 dev 0 metric 0",
                "unicast 10.0.1.0/24 dev 1 metric 0"
            ]
        );
        let nh = t.get(TABLE_MAIN).unwrap().lookup(ip("10.0.1.9")).unwrap();
        assert_eq!(nh.kind.dev(), Some(PortId(0)));
    }

    #[test]
    fn static_routes_and_gateway_resolution() {
        let routes = vec![
            StaticRoute::unicast(net("0.0.0.0/0"), Some(ip("10.0.2.254")), None, 10),
            StaticRoute::unicast(net("10.62.0.0/16"), None, Some(PortId(1)), 14),
            StaticRoute::unicast(net("10.63.0.0/16"), Some(ip("10.62.3.4")), None, 18),
            StaticRoute::unicast(net("10.0.9.0/24"), Some(ip("10.0.4.0")), None, 22),
            StaticRoute::unicast(net("::/0"), Some(ip("fd00:2::fe")), None, 26),
            StaticRoute::unicast(net("fd00:9::/32"), Some(ip("fe80::1")), Some(PortId(0)), 30),
            StaticRoute::unicast(net("fd00:8::/32"), Some(ip("fd00:1::")), None, 34),
            StaticRoute::unicast(net("0.0.0.0/0"), Some(ip("10.0.1.254")), None, 38).in_table(100),
        ];
        let t = Tables::build(&ports(), &routes).unwrap();
        let main = t.get(TABLE_MAIN).unwrap();
        let kind = |f: &Fib, a: &str| f.lookup(ip(a)).unwrap().kind;
        assert_eq!(
            kind(main, "192.0.2.1"),
            NextHopKind::Unicast {
                via: Some(ip("10.0.2.254")),
                dev: PortId(1)
            }
        );
        assert_eq!(
            kind(main, "10.63.1.1"),
            NextHopKind::Unicast {
                via: Some(ip("10.62.3.4")),
                dev: PortId(1)
            }
        );
        assert_eq!(kind(main, "10.0.9.9").dev(), Some(PortId(1)));
        assert_eq!(kind(main, "2001:db8::1").dev(), Some(PortId(1)));
        assert_eq!(kind(main, "fd00:9::1").dev(), Some(PortId(0)));
        assert_eq!(
            kind(main, "fd00:8::1").dev(),
            Some(PortId(0)),
            "anycast gateway"
        );
        let t100 = t.get(100).unwrap();
        assert_eq!(kind(t100, "8.8.8.8").dev(), Some(PortId(0)));
        assert_eq!(t100.lookup(ip("::1")), None);
        // IPv6 metric 0 is stored as 1024.
        assert_eq!(main.lookup(ip("2001:db8::1")).unwrap().metric, 1024);
    }

    #[test]
    fn gateway_errors() {
        let build = |r: StaticRoute| Tables::build(&ports(), &[r]).unwrap_err();
        let e = build(StaticRoute::unicast(
            net("10.9.0.0/16"),
            Some(ip("10.0.9.9")),
            None,
            7,
        ));
        assert_eq!(
            e.to_string(),
            "line 7: route 10.9.0.0/16 via 10.0.9.9: Nexthop has invalid gateway: \
             no connected route reaches it"
        );
        let e = build(StaticRoute::unicast(
            net("10.9.0.0/16"),
            Some(ip("10.0.2.9")),
            Some(PortId(0)),
            7,
        ));
        assert_eq!(
            e.to_string(),
            "line 7: route 10.9.0.0/16 via 10.0.2.9: Nexthop has invalid gateway: \
             no connected route of interface \"r0\" reaches it"
        );
        let e = build(StaticRoute::unicast(
            net("10.9.0.0/16"),
            Some(ip("10.0.1.255")),
            None,
            7,
        ));
        assert!(matches!(
            e,
            RouteError::InvalidGateway {
                why: GatewayProblem::NotUnicast,
                ..
            }
        ));
        let e = build(StaticRoute::unicast(
            net("10.9.0.0/16"),
            Some(ip("10.0.1.7")),
            None,
            7,
        ));
        assert_eq!(
            e.to_string(),
            "line 7: route 10.9.0.0/16 via 10.0.1.7: Gateway can not be a local address \
             (it is assigned to interface \"r0\")"
        );
        let e = build(StaticRoute::unicast(
            net("::/0"),
            Some(ip("fe80::1")),
            None,
            7,
        ));
        assert!(matches!(
            e,
            RouteError::InvalidGateway {
                why: GatewayProblem::LinkLocalNeedsDev,
                ..
            }
        ));
        let e = build(StaticRoute::unicast(
            net("::/0"),
            Some(ip("10.0.1.9")),
            None,
            7,
        ));
        assert!(matches!(e, RouteError::FamilyMismatch { .. }));
        let e = build(StaticRoute::unicast(net("10.9.0.0/16"), None, None, 7));
        assert_eq!(
            e.to_string(),
            "line 7: route 10.9.0.0/16 needs `via` or `dev`"
        );
        let e = build(StaticRoute::unicast(
            net("10.9.0.1/16"),
            None,
            Some(PortId(0)),
            7,
        ));
        assert!(matches!(e, RouteError::HostBits { .. }));
        let e = build(StaticRoute::unicast(
            net("10.9.0.0/16"),
            None,
            Some(PortId(9)),
            7,
        ));
        assert!(matches!(e, RouteError::UnknownPort { port: 9, .. }));
        // Not through a gateway route (scope universe), nor through a throw.
        let e = Tables::build(
            &ports(),
            &[
                StaticRoute::unicast(net("10.50.0.0/16"), Some(ip("10.0.2.9")), None, 3),
                StaticRoute::unicast(net("10.9.0.0/16"), Some(ip("10.50.0.9")), None, 7),
            ],
        )
        .unwrap_err();
        assert!(matches!(e, RouteError::InvalidGateway { line: 7, .. }));
    }

    #[test]
    fn gateway_resolves_in_own_table_first() {
        let routes = vec![
            StaticRoute::unicast(net("10.70.0.0/16"), None, Some(PortId(0)), 3).in_table(100),
            StaticRoute::unicast(net("10.70.0.0/16"), None, Some(PortId(1)), 5),
            StaticRoute::unicast(net("0.0.0.0/0"), Some(ip("10.70.0.1")), None, 7).in_table(100),
            StaticRoute::unicast(net("0.0.0.0/0"), Some(ip("10.70.0.1")), None, 9),
        ];
        let t = Tables::build(&ports(), &routes).unwrap();
        let dev = |id| t.get(id).unwrap().lookup(ip("8.8.8.8")).unwrap().kind.dev();
        assert_eq!(dev(100), Some(PortId(0)));
        assert_eq!(dev(TABLE_MAIN), Some(PortId(1)));
    }

    #[test]
    fn file_exists() {
        let e = Tables::build(
            &ports(),
            &[StaticRoute::unicast(
                net("10.0.1.0/24"),
                Some(ip("10.0.2.9")),
                None,
                12,
            )],
        )
        .unwrap_err();
        assert_eq!(
            e.to_string(),
            "line 12: route 10.0.1.0/24 in table main with metric 0: File exists \
             (a route of an address of interface \"r0\" (line 1))"
        );
        // Another metric is another route; for IPv6 the connected metric is 256.
        Tables::build(
            &ports(),
            &[
                StaticRoute::unicast(net("10.0.1.0/24"), Some(ip("10.0.2.9")), None, 12)
                    .with_metric(5),
                StaticRoute::unicast(net("fd00:1::/64"), Some(ip("fd00:2::9")), None, 13),
            ],
        )
        .unwrap();
        let e = Tables::build(
            &ports(),
            &[
                StaticRoute::unicast(net("fd00:1::/64"), Some(ip("fd00:2::9")), None, 13)
                    .with_metric(256),
            ],
        )
        .unwrap_err();
        assert!(matches!(
            e,
            RouteError::Exists {
                line: 13,
                metric: 256,
                ..
            }
        ));
        let e = Tables::build(
            &ports(),
            &[
                StaticRoute::typed(net("10.50.0.0/16"), RouteType::Blackhole, 3),
                StaticRoute::typed(net("10.50.0.0/16"), RouteType::Unreachable, 4),
            ],
        )
        .unwrap_err();
        assert_eq!(
            e.to_string(),
            "line 4: route 10.50.0.0/16 in table main with metric 0: File exists (the route at line 3)"
        );
    }
}
