//! Routing, as the Linux kernel does it: policy rules (`ip rule`), routing
//! tables (`ip route`) with longest-prefix match, and the neighbour table
//! (ARP / NDP).
//!
//! Contract:
//!
//! * The control side builds a [`Router`] from the appliance configuration
//!   ([`Router::from_appliance`]) or from plain specs ([`Router::build`]);
//!   it is immutable and shared read-only by every worker (inside the
//!   snapshot). [`Router::lookup`] takes no lock, allocates nothing and
//!   cannot panic: the policy rules are a short flat list, each table a
//!   compressed multibit trie ([`lpm`]): for IPv4 one root read and at most
//!   3 nodes per table.
//! * The [`neigh`] table is per worker and mutable; it holds frame handles
//!   of the caller's type and returns actions, never touching buffers or
//!   clocks (time is passed in).
//! * This module does not parse packets or text and never reads the clock.
//!
//! The behaviour reference is Linux 6.x (`net/ipv4/fib_*.c`,
//! `net/ipv6/route.c`, `net/core/fib_rules.c`, `net/core/neighbour.c`);
//! `bench/tests/route_diff.rs` compares [`Router::lookup`] with `ip route
//! get` in a network namespace. Known differences, all documented where
//! they live: no multipath, no device-bound lookups (`oif` only selects
//! rules), no multicast routes, no martian / reverse-path checks (those
//! belong to the input stage), a gateway that is one of the router's own
//! addresses is refused.
//!
//! | file        | owns                                                     |
//! |-------------|----------------------------------------------------------|
//! | `lpm.rs`    | the longest-prefix-match trie                            |
//! | `fib.rs`    | one table: routes, next hops, a trie per family          |
//! | `table.rs`  | the set of tables; connected/local routes; gateways      |
//! | `policy.rs` | `ip rule` list, [`FlowKey`] → [`RouteResult`]            |
//! | `neigh.rs`  | ARP/NDP neighbour state machine per worker               |

pub mod fib;
pub mod lpm;
pub mod neigh;
pub mod policy;
pub mod table;

use std::net::IpAddr;

use ipnet::IpNet;
use sluice_config::appliance::Appliance;

pub use fib::{Fib, FibBuilder, FibRoute, NextHop, NextHopKind, NhId, PortId};
pub use policy::{Decision, FlowKey, Iface, Policy, RouteResult, Rule, RuleAction};
pub use table::{Port, RouteType, StaticRoute, TableName, Tables};

/// Why a routing configuration cannot be built. Every variant names the
/// config line of the route or rule at fault.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RouteError {
    /// `ip route`: "Nexthop has invalid gateway".
    #[error("line {line}: route {to} via {via}: Nexthop has invalid gateway: {why}")]
    InvalidGateway {
        line: usize,
        to: IpNet,
        via: IpAddr,
        why: GatewayProblem,
    },
    /// The gateway is one of the router's own addresses.
    #[error(
        "line {line}: route {to} via {via}: Gateway can not be a local address \
         (it is assigned to interface {interface:?})"
    )]
    GatewayIsLocal {
        line: usize,
        to: IpNet,
        via: IpAddr,
        interface: String,
    },
    /// Gateway and destination of different families.
    #[error("line {line}: route {to}: gateway {via} is of the other address family")]
    FamilyMismatch { line: usize, to: IpNet, via: IpAddr },
    /// A unicast route with neither gateway nor device.
    #[error("line {line}: route {to} needs `via` or `dev`")]
    MissingNextHop { line: usize, to: IpNet },
    /// Only unicast routes have gateways.
    #[error("line {line}: route {to}: a {kind:?} route takes no gateway")]
    GatewayOnTypedRoute {
        line: usize,
        to: IpNet,
        kind: RouteType,
    },
    /// "Invalid prefix for given prefix length".
    #[error("line {line}: route {to}: invalid prefix for given prefix length (host bits set)")]
    HostBits { line: usize, to: IpNet },
    /// "File exists": same table, prefix and metric as an earlier route.
    #[error(
        "line {line}: route {to} in table {table} with metric {metric}: File exists ({existing})"
    )]
    Exists {
        line: usize,
        to: IpNet,
        table: TableName,
        metric: u32,
        /// The earlier route.
        existing: String,
    },
    /// A route names a port number that does not exist.
    #[error("line {line}: port {port} does not exist ({count} ports declared)")]
    UnknownPort {
        line: usize,
        port: u16,
        count: usize,
    },
    /// A route or rule names an interface that is not declared.
    #[error("line {line}: {what} {name:?} is not a declared interface")]
    UnknownInterface {
        line: usize,
        what: &'static str,
        name: String,
    },
    /// A rule whose `from` and `to` are of different families.
    #[error("line {line}: policy rule: `from` {from} and `to` {to} are of different families")]
    RuleFamilyMismatch { line: usize, from: IpNet, to: IpNet },
    /// Ports are numbered with 16 bits.
    #[error("{count} interfaces declared; at most 65536 are supported")]
    TooManyPorts { count: usize },
}

/// What is wrong with a gateway.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum GatewayProblem {
    /// No connected (or `dev`-only) route holds it.
    #[error("no connected route{} reaches it", match dev {
        Some(d) => format!(" of interface {d:?}"),
        None => String::new(),
    })]
    NotOnLink { dev: Option<String> },
    /// A broadcast, multicast or unspecified address.
    #[error("it is not a unicast address")]
    NotUnicast,
    /// `fe80::/10` without `dev`.
    #[error("a link-local gateway needs `dev` to say which link")]
    LinkLocalNeedsDev,
}

/// Everything routing needs, immutable: port names, tables and rules.
#[derive(Debug, Clone)]
pub struct Router {
    ports: Box<[String]>,
    tables: Tables,
    policy: Policy,
}

impl Router {
    /// Builds the tables from `ports` and `routes`, then the rules.
    pub fn build(
        ports: &[Port],
        routes: &[StaticRoute],
        rules: &[Rule],
    ) -> Result<Router, RouteError> {
        let tables = Tables::build(ports, routes)?;
        let policy = Policy::build(rules, &tables)?;
        Ok(Router {
            ports: ports.iter().map(|p| p.name.clone()).collect(),
            tables,
            policy,
        })
    }

    /// Builds from the appliance configuration: interface `i` is
    /// `PortId(i)`; every route is `unicast`.
    pub fn from_appliance(a: &Appliance) -> Result<Router, RouteError> {
        let s = Specs::from_appliance(a)?;
        Router::build(&s.ports, &s.routes, &s.rules)
    }

    /// Routes a packet: policy rules, then the chosen table's LPM.
    #[inline]
    pub fn lookup(&self, key: &FlowKey) -> RouteResult {
        self.policy.lookup(&self.tables, key)
    }

    /// [`Router::lookup`] of a received IPv4 packet (`FlowKey::forward(s,
    /// d, iif).with_mark(mark)`), without building the key.
    #[inline]
    pub fn lookup_v4_input(
        &self,
        s: std::net::Ipv4Addr,
        d: std::net::Ipv4Addr,
        iif: PortId,
        mark: u32,
    ) -> RouteResult {
        self.policy
            .lookup_v4_parts(&self.tables, u32::from(s), d, Some(iif), None, mark)
    }

    /// [`Router::lookup`] of a received IPv6 packet (`FlowKey::forward(s,
    /// d, iif).with_mark(mark)`), the key built only when the rules are
    /// walked.
    #[inline]
    pub fn lookup_v6_input(
        &self,
        s: std::net::Ipv6Addr,
        d: std::net::Ipv6Addr,
        iif: PortId,
        mark: u32,
    ) -> RouteResult {
        self.policy.lookup_v6_input(&self.tables, s, d, iif, mark)
    }

    /// Like [`Router::lookup`], also naming the deciding rule and table
    /// (for `sluice route get` and tests).
    pub fn decide(&self, key: &FlowKey) -> Decision {
        self.policy.decide(&self.tables, key)
    }

    pub fn tables(&self) -> &Tables {
        &self.tables
    }

    pub fn policy(&self) -> &Policy {
        &self.policy
    }

    /// Name of port `p`.
    pub fn port_name(&self, p: PortId) -> Option<&str> {
        self.ports.get(p.index()).map(String::as_str)
    }

    /// The port called `name`.
    pub fn port_id(&self, name: &str) -> Option<PortId> {
        self.ports
            .iter()
            .position(|n| n == name)
            .map(|i| PortId(i as u16))
    }
}

/// What routing is built from: ports, static routes and policy rules.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Specs {
    pub ports: Vec<Port>,
    pub routes: Vec<StaticRoute>,
    pub rules: Vec<Rule>,
}

impl Specs {
    /// The ports, routes and rules of an appliance configuration, with
    /// interface names turned into [`PortId`]s by their order (`lo` in rules is
    /// [`Iface::Lo`]).
    pub fn from_appliance(a: &Appliance) -> Result<Specs, RouteError> {
        if a.interfaces.len() > usize::from(u16::MAX) + 1 {
            return Err(RouteError::TooManyPorts {
                count: a.interfaces.len(),
            });
        }
        let ports: Vec<Port> = a
            .interfaces
            .iter()
            .map(|i| Port {
                name: i.name.clone(),
                addresses: i.addresses.clone(),
                line: i.line,
            })
            .collect();
        let port_of = |name: &str, line: usize, what: &'static str| -> Result<PortId, RouteError> {
            ports
                .iter()
                .position(|p| p.name == name)
                .map(|i| PortId(i as u16))
                .ok_or_else(|| RouteError::UnknownInterface {
                    line,
                    what,
                    name: name.to_string(),
                })
        };
        let iface = |name: &Option<String>, line: usize, what: &'static str| match name.as_deref() {
            None => Ok(None),
            Some("lo") => Ok(Some(Iface::Lo)),
            Some(n) => port_of(n, line, what).map(|p| Some(Iface::Port(p))),
        };
        let routes = a
            .routes
            .iter()
            .map(|r| {
                Ok(StaticRoute {
                    to: r.to,
                    kind: RouteType::Unicast,
                    via: r.via,
                    dev: r
                        .dev
                        .as_deref()
                        .map(|d| port_of(d, r.line, "dev"))
                        .transpose()?,
                    table: r.table,
                    metric: r.metric,
                    line: r.line,
                })
            })
            .collect::<Result<Vec<_>, RouteError>>()?;
        let rules = a
            .policies
            .iter()
            .map(|p| {
                Ok(Rule {
                    priority: p.priority,
                    not: p.not,
                    from: p.from,
                    to: p.to,
                    fwmark: p.fwmark,
                    iif: iface(&p.iif, p.line, "iif")?,
                    oif: iface(&p.oif, p.line, "oif")?,
                    action: RuleAction::Lookup(p.table),
                    line: p.line,
                })
            })
            .collect::<Result<Vec<_>, RouteError>>()?;
        Ok(Specs {
            ports,
            routes,
            rules,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::Path;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    fn router(toml: &str) -> Router {
        let a = sluice_config::appliance::parse(toml, Path::new("test.toml")).unwrap();
        Router::from_appliance(&a).unwrap()
    }

    const BRANCH: &str = r#"
[[interface]]
name = "lan"
address = ["10.0.1.1/24", "fd00:1::1/64"]

[[interface]]
name = "wan_a"
address = ["10.0.2.1/24", "fd00:2::1/64"]

[[interface]]
name = "wan_b"
address = ["192.168.100.2/30"]

[[route]]
to = "default"
via = "10.0.2.254"

[[route]]
to = "default"
via = "fd00:2::fe"

[[route]]
to = "default"
via = "192.168.100.1"
table = 100

[[route]]
to = "10.20.0.0/16"
via = "10.0.1.20"

[[route]]
to = "10.20.30.0/24"
via = "10.0.1.30"

[[route]]
to = "198.51.100.0/24"
via = "10.0.2.254"
metric = 10

[[route]]
to = "198.51.100.0/24"
via = "192.168.100.1"
metric = 5

[[policy]]
priority = 100
fwmark = "0x1/0xff"
table = 100

[[policy]]
priority = 200
from = "10.0.1.128/25"
table = 100

[[policy]]
priority = 300
to = "203.0.113.0/24"
table = 300
"#;

    fn fwd(port: u16, next_hop: &str) -> RouteResult {
        RouteResult::Forward {
            port: PortId(port),
            next_hop: ip(next_hop),
        }
    }

    #[test]
    fn connected_static_default() {
        let r = router(BRANCH);
        let out = |d: &str| r.lookup(&FlowKey::forward(ip("10.0.1.5"), ip(d), PortId(0)));
        // Connected: the next hop is the destination.
        assert_eq!(out("10.0.2.77"), fwd(1, "10.0.2.77"));
        assert_eq!(out("192.168.100.1"), fwd(2, "192.168.100.1"));
        // Default route.
        assert_eq!(out("8.8.8.8"), fwd(1, "10.0.2.254"));
        // Longest prefix wins.
        assert_eq!(out("10.20.1.1"), fwd(0, "10.0.1.20"));
        assert_eq!(out("10.20.30.1"), fwd(0, "10.0.1.30"));
        // Metric tie-break: 5 beats 10.
        assert_eq!(out("198.51.100.9"), fwd(2, "192.168.100.1"));
        // Local and broadcast.
        assert_eq!(out("10.0.2.1"), RouteResult::Local);
        assert_eq!(
            out("10.0.1.255"),
            RouteResult::Broadcast { port: PortId(0) }
        );
        // IPv6.
        let out6 = |d: &str| r.lookup(&FlowKey::forward(ip("fd00:1::5"), ip(d), PortId(0)));
        assert_eq!(out6("2001:db8::1"), fwd(1, "fd00:2::fe"));
        assert_eq!(out6("fd00:2::9"), fwd(1, "fd00:2::9"));
        assert_eq!(out6("fd00:1::1"), RouteResult::Local);
        assert_eq!(
            out6("fd00:1::"),
            RouteResult::Local,
            "subnet-router anycast"
        );
        assert_eq!(r.port_name(PortId(2)), Some("wan_b"));
        assert_eq!(r.port_id("wan_a"), Some(PortId(1)));
    }

    #[test]
    fn fwmark_selects_uplink_table() {
        let r = router(BRANCH);
        let key = FlowKey::forward(ip("10.0.1.5"), ip("8.8.8.8"), PortId(0));
        assert_eq!(r.lookup(&key), fwd(1, "10.0.2.254"));
        assert_eq!(r.lookup(&key.with_mark(0x1)), fwd(2, "192.168.100.1"));
        // Only the masked bits count.
        assert_eq!(r.lookup(&key.with_mark(0x301)), fwd(2, "192.168.100.1"));
        assert_eq!(r.lookup(&key.with_mark(0x2)), fwd(1, "10.0.2.254"));
        let d = r.decide(&key.with_mark(0x1));
        assert_eq!(
            (d.priority, d.table, d.line),
            (Some(100), Some(100), Some(45))
        );
        // Table 100 has no route for local addresses, but the local rule
        // (priority 0) comes first.
        assert_eq!(
            r.lookup(&FlowKey::forward(ip("10.0.1.5"), ip("10.0.2.1"), PortId(0)).with_mark(1)),
            RouteResult::Local
        );
        // Table 100 has only IPv4 routes: IPv6 falls through to main.
        let key6 = FlowKey::forward(ip("fd00:1::5"), ip("2001:db8::1"), PortId(0)).with_mark(1);
        assert_eq!(r.lookup(&key6), fwd(1, "fd00:2::fe"));
        assert_eq!(r.decide(&key6).table, Some(TABLE_MAIN_ID));
    }

    const TABLE_MAIN_ID: u32 = table::TABLE_MAIN;

    #[test]
    fn source_routing() {
        let r = router(BRANCH);
        let from = |s: &str| r.lookup(&FlowKey::forward(ip(s), ip("8.8.8.8"), PortId(0)));
        assert_eq!(from("10.0.1.200"), fwd(2, "192.168.100.1"));
        assert_eq!(from("10.0.1.100"), fwd(1, "10.0.2.254"));
        // A locally generated packet without source does not match `from`.
        assert_eq!(
            r.lookup(&FlowKey::output(ip("8.8.8.8"))),
            fwd(1, "10.0.2.254")
        );
    }

    #[test]
    fn missing_table_falls_through() {
        let r = router(BRANCH);
        let key = FlowKey::forward(ip("10.0.1.5"), ip("203.0.113.9"), PortId(0));
        assert_eq!(r.lookup(&key), fwd(1, "10.0.2.254"));
        assert_eq!(r.decide(&key).priority, Some(32766));
    }

    fn ports() -> Vec<Port> {
        vec![
            Port {
                name: "r0".into(),
                addresses: vec![
                    "10.0.1.1/24".parse().unwrap(),
                    "fd00:1::1/64".parse().unwrap(),
                ],
                line: 1,
            },
            Port {
                name: "r1".into(),
                addresses: vec![
                    "10.0.2.1/24".parse().unwrap(),
                    "fd00:2::1/64".parse().unwrap(),
                ],
                line: 4,
            },
        ]
    }

    fn net(s: &str) -> IpNet {
        s.parse().unwrap()
    }

    #[test]
    fn typed_routes_end_or_continue_the_lookup() {
        let routes = vec![
            StaticRoute::unicast(net("0.0.0.0/0"), Some(ip("10.0.2.254")), None, 1)
                .in_table(table::TABLE_DEFAULT),
            StaticRoute::typed(net("10.50.0.0/16"), RouteType::Unreachable, 2),
            StaticRoute::typed(net("10.51.0.0/16"), RouteType::Prohibit, 3),
            StaticRoute::typed(net("10.52.0.0/16"), RouteType::Blackhole, 4),
            StaticRoute::typed(net("10.53.0.0/16"), RouteType::Throw, 5),
            StaticRoute::typed(net("fd00:53::/32"), RouteType::Throw, 6),
            StaticRoute::unicast(net("::/0"), Some(ip("fd00:2::fe")), None, 7)
                .in_table(table::TABLE_DEFAULT),
        ];
        let r = Router::build(&ports(), &routes, &[]).unwrap();
        let out = |d: &str| r.lookup(&FlowKey::output(ip(d)));
        assert_eq!(out("10.50.0.1"), RouteResult::Unreachable);
        assert_eq!(out("10.51.0.1"), RouteResult::Prohibit);
        assert_eq!(out("10.52.0.1"), RouteResult::Blackhole);
        // Throw: on to rule 32767, table default.
        assert_eq!(out("10.53.0.1"), fwd(1, "10.0.2.254"));
        assert_eq!(r.decide(&FlowKey::output(ip("10.53.0.1"))).table, Some(253));
        // No route in main either: also table default.
        assert_eq!(out("10.99.0.1"), fwd(1, "10.0.2.254"));
        // IPv6 has no rule for table default: throw and no route end in NoRoute.
        assert_eq!(out("fd00:53::1"), RouteResult::NoRoute);
        assert_eq!(out("fd00:99::1"), RouteResult::NoRoute);
        assert_eq!(RouteResult::NoRoute.drop_counter(), Some("route.no_route"));
    }

    fn rule(priority: u32, table: u32) -> Rule {
        Rule {
            line: 100 + priority as usize,
            ..Rule::lookup(priority, table)
        }
    }

    #[test]
    fn not_iif_oif_and_rule_actions() {
        let routes = vec![
            StaticRoute::unicast(net("0.0.0.0/0"), Some(ip("10.0.2.254")), None, 1),
            StaticRoute::unicast(net("0.0.0.0/0"), Some(ip("10.0.1.254")), None, 2).in_table(10),
            StaticRoute::unicast(net("0.0.0.0/0"), Some(ip("10.0.1.253")), None, 3).in_table(20),
        ];
        let rules = vec![
            // Everything not marked 0x10 (under mask 0xf0) coming in on r1 uses table 10.
            Rule {
                not: true,
                fwmark: Some((0x10, 0xf0)),
                ..rule(10, 10)
            },
            Rule {
                iif: Some(Iface::Port(PortId(0))),
                ..rule(20, 20)
            },
            Rule {
                iif: Some(Iface::Lo),
                to: Some(net("192.0.2.0/24")),
                action: RuleAction::Prohibit,
                ..rule(30, 0)
            },
            Rule {
                oif: Some(Iface::Port(PortId(1))),
                action: RuleAction::Blackhole,
                ..rule(40, 0)
            },
            Rule {
                to: Some(net("198.51.100.0/24")),
                action: RuleAction::Unreachable,
                ..rule(50, 0)
            },
        ];
        let r = Router::build(&ports(), &routes, &rules).unwrap();
        let key = FlowKey::forward(ip("10.0.2.5"), ip("8.8.8.8"), PortId(1));
        // `not fwmark 0x10/0xf0`: mark 0 is "not 0x10" -> table 10.
        assert_eq!(r.lookup(&key), fwd(0, "10.0.1.254"));
        assert_eq!(r.lookup(&key.with_mark(0x13)), fwd(1, "10.0.2.254"));
        // iif r0 -> table 20 (when the mark lets rule 10 pass).
        let key0 = FlowKey::forward(ip("10.0.1.5"), ip("8.8.8.8"), PortId(0)).with_mark(0x10);
        assert_eq!(r.lookup(&key0), fwd(0, "10.0.1.253"));
        // iif lo: only locally generated packets.
        let out = FlowKey::output(ip("192.0.2.1")).with_mark(0x10);
        assert_eq!(r.lookup(&out), RouteResult::Prohibit);
        assert_eq!(
            r.lookup(&FlowKey::forward(ip("10.0.2.5"), ip("192.0.2.1"), PortId(1)).with_mark(0x10)),
            fwd(1, "10.0.2.254")
        );
        // oif r1: only flows bound to r1.
        let bound = FlowKey {
            oif: Some(PortId(1)),
            ..FlowKey::output(ip("8.8.4.4")).with_mark(0x10)
        };
        assert_eq!(r.lookup(&bound), RouteResult::Blackhole);
        // The `unreachable` action is "Network is unreachable".
        assert_eq!(
            r.lookup(&FlowKey::output(ip("198.51.100.1")).with_mark(0x10)),
            RouteResult::NoRoute
        );
        let d = r.decide(&FlowKey::output(ip("198.51.100.1")).with_mark(0x10));
        assert_eq!((d.priority, d.table, d.line), (Some(50), None, Some(150)));
    }

    #[test]
    fn rule_order_and_defaults() {
        let rules = vec![rule(32766, 7), rule(0, 8), rule(5, 9), rule(5, 10)];
        let r = Router::build(&ports(), &[], &rules).unwrap();
        let order: Vec<String> = r
            .policy()
            .rules(false)
            .iter()
            .map(|r| r.to_string())
            .collect();
        assert_eq!(
            order,
            vec![
                "0:\tfrom all lookup local",
                "0:\tfrom all lookup 8",
                "5:\tfrom all lookup 9",
                "5:\tfrom all lookup 10",
                "32766:\tfrom all lookup main",
                "32766:\tfrom all lookup 7",
                "32767:\tfrom all lookup default",
            ]
        );
        assert_eq!(r.policy().rules(true).len(), 6);
        // Family-specific rules go to one list only.
        let rules = vec![Rule {
            from: Some(net("fd00::/8")),
            ..rule(5, 9)
        }];
        let r = Router::build(&ports(), &[], &rules).unwrap();
        assert_eq!(r.policy().rules(false).len(), 3);
        assert_eq!(r.policy().rules(true).len(), 3);
        let bad = vec![Rule {
            from: Some(net("fd00::/8")),
            to: Some(net("10.0.0.0/8")),
            ..rule(5, 9)
        }];
        assert!(matches!(
            Router::build(&ports(), &[], &bad),
            Err(RouteError::RuleFamilyMismatch { line: 105, .. })
        ));
    }

    #[test]
    fn ipv6_from_needs_a_source_on_output() {
        let routes =
            vec![StaticRoute::unicast(net("::/0"), Some(ip("fd00:1::fe")), None, 1).in_table(100)];
        let rules = vec![Rule {
            from: Some(net("::/1")),
            ..rule(10, 100)
        }];
        let r = Router::build(&ports(), &routes, &rules).unwrap();
        // fd00:... is not in ::/1, 2001:... neither; ::1:2 is.
        assert_eq!(
            r.lookup(&FlowKey::output(ip("2001:db8::1"))),
            RouteResult::NoRoute
        );
        let input = FlowKey::forward(ip("::1:2"), ip("2001:db8::1"), PortId(1));
        assert_eq!(r.lookup(&input), fwd(0, "fd00:1::fe"));
        // IPv4 compares the unspecified source: 0.0.0.0 is in 0.0.0.0/1.
        let routes = vec![
            StaticRoute::unicast(net("0.0.0.0/0"), Some(ip("10.0.1.254")), None, 1).in_table(100),
        ];
        let rules = vec![Rule {
            from: Some(net("0.0.0.0/1")),
            ..rule(10, 100)
        }];
        let r = Router::build(&ports(), &routes, &rules).unwrap();
        assert_eq!(
            r.lookup(&FlowKey::output(ip("192.0.2.1"))),
            fwd(0, "10.0.1.254")
        );
    }

    #[test]
    fn appliance_errors_name_the_line() {
        let toml = "[[interface]]\nname = \"r0\"\naddress = [\"10.0.1.1/24\"]\n\n\
                    [[route]]\nto = \"10.0.1.0/24\"\nvia = \"10.0.1.9\"\n";
        let a = sluice_config::appliance::parse(toml, Path::new("t.toml")).unwrap();
        let e = Router::from_appliance(&a).unwrap_err();
        assert_eq!(
            e.to_string(),
            "line 5: route 10.0.1.0/24 in table main with metric 0: File exists \
             (a route of an address of interface \"r0\" (line 1))"
        );
    }

    /// The packet path's IPv4 lookup (32-bit, no rule index) and the full
    /// walk behind `decide` agree.
    #[test]
    fn fast_ipv4_lookup_matches_decide() {
        // With custom rules between `local` and `main`; without any (the
        // fast lookup merges the two tables); with a rule after `main`;
        // with a route in `main` for one of the box's addresses (no merge).
        let no_rules = BRANCH.split("[[policy]]").next().unwrap_or(BRANCH);
        let late_rule =
            format!("{no_rules}[[policy]]\npriority = 32767\nfwmark = \"0x1\"\ntable = 100\n");
        let shadow = format!("{no_rules}[[route]]\nto = \"10.0.1.1/32\"\nvia = \"10.0.2.254\"\n");
        for conf in [BRANCH, no_rules, &late_rule, &shadow] {
            fast_lookup_matches_decide(&router(conf));
        }
        assert!(router(no_rules).policy.merged_v4_for_tests());
        assert!(router(&late_rule).policy.merged_v4_for_tests());
        assert!(!router(BRANCH).policy.merged_v4_for_tests());
        assert!(!router(&shadow).policy.merged_v4_for_tests());
    }

    /// The same for IPv6: the packet path's lookup (the `local` and
    /// `main` tables merged when no rule sits between them) and the walk.
    #[test]
    fn fast_ipv6_lookup_matches_decide() {
        let no_rules = BRANCH.split("[[policy]]").next().unwrap_or(BRANCH);
        let v6_rule = format!(
            "{no_rules}[[route]]\nto = \"::/0\"\nvia = \"fd00:1::fe\"\ntable = 100\n\n\
             [[policy]]\npriority = 50\nfrom = \"fd00:1::80/121\"\ntable = 100\n"
        );
        let late_rule = format!(
            "{no_rules}[[route]]\nto = \"::/0\"\nvia = \"fd00:1::fe\"\ntable = 100\n\n\
             [[policy]]\npriority = 32767\nfwmark = \"0x1\"\ntable = 100\n"
        );
        let shadow = format!("{no_rules}[[route]]\nto = \"fd00:1::1/128\"\nvia = \"fd00:2::fe\"\n");
        for conf in [BRANCH, no_rules, &v6_rule, &late_rule, &shadow] {
            let r = router(conf);
            let mut x: u64 = 0x1234_5678_9abc;
            let mut next = || {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                x
            };
            let dsts = [
                "fd00:1::1",
                "fd00:2::1",
                "fd00:1::7",
                "fd00:2::fe",
                "fd00:9::1",
                "2001:db8::1",
            ];
            for n in 0..3000 {
                let dst = if n % 2 == 0 {
                    ip(dsts[n % dsts.len()])
                } else {
                    IpAddr::V6(std::net::Ipv6Addr::from(
                        (0xfd00u128 << 112) | (u128::from(next() % 16) << 96) | u128::from(next()),
                    ))
                };
                let src = IpAddr::V6(std::net::Ipv6Addr::from(
                    (0xfd00_0001u128 << 96) | u128::from(next() & 0xff),
                ));
                let mut key = FlowKey::forward(src, dst, PortId((next() % 3) as u16))
                    .with_mark((next() % 4) as u32);
                if n % 5 == 0 {
                    key = FlowKey::output(dst).with_mark((next() % 4) as u32);
                }
                assert_eq!(r.lookup(&key), r.decide(&key).result, "{conf}\n{key:?}");
            }
        }
        assert!(router(no_rules).policy.merged_v6_for_tests());
        assert!(router(&late_rule).policy.merged_v6_for_tests());
        // BRANCH's fwmark rule (no address) is in both families' lists.
        assert!(!router(BRANCH).policy.merged_v6_for_tests());
        assert!(!router(&v6_rule).policy.merged_v6_for_tests());
        assert!(!router(&shadow).policy.merged_v6_for_tests());
    }

    fn fast_lookup_matches_decide(r: &Router) {
        let mut x: u32 = 0x1234_5678;
        let mut next = || {
            x ^= x << 13;
            x ^= x >> 17;
            x ^= x << 5;
            x
        };
        let dsts = [
            "10.0.1.1",
            "10.0.1.255",
            "10.0.2.7",
            "10.20.30.4",
            "10.20.1.1",
            "192.168.100.1",
        ];
        for n in 0..5000 {
            let dst = if n % 3 == 0 {
                ip(dsts[n % dsts.len()])
            } else {
                IpAddr::V4(std::net::Ipv4Addr::from(next()))
            };
            let src = IpAddr::V4(std::net::Ipv4Addr::from(0x0a00_0100 | (next() & 0xff)));
            let mut key =
                FlowKey::forward(src, dst, PortId((next() % 3) as u16)).with_mark(next() % 4);
            if n % 5 == 0 {
                key = FlowKey::output(dst).with_mark(next() % 4);
            }
            assert_eq!(r.lookup(&key), r.decide(&key).result, "{key:?}");
        }
    }

    #[test]
    fn router_is_shareable() {
        fn assert_send_sync<T: Send + Sync>() {}
        assert_send_sync::<Router>();
    }
}
