//! One routing table's FIB: the routes of both families, and a
//! longest-prefix-match trie per family ([`Lpm`]) from destination to the
//! winning route's next hop.
//!
//! Follows `net/ipv4/fib_trie.c` and `net/ipv6/ip6_fib.c` for what wins:
//! the longest prefix; among routes with the same prefix the lowest metric;
//! among equal metrics the route added first (the kernel appends). The trie
//! stores only winners, so a lookup is one trie walk and one index into the
//! next-hop array.
//!
//! Not modelled: multipath (ECMP) routes, nexthop objects, TOS/DSCP
//! selectors, route scopes other than implied by the type, and lookups
//! restricted to one output device (`flowi4_oif` of a device-bound socket).

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use ahash::AHashMap;
use ipnet::IpNet;

use super::lpm::{Lpm, LpmBuilder};

pub use crate::io::PortId;

/// What a route does with a packet: the route types of `ip route`
/// (`rtm_type`), each with what it needs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum NextHopKind {
    /// `unicast`: forward out of `dev`, to the gateway `via` or, without
    /// one, to the destination itself (a link route, scope link).
    Unicast { via: Option<IpAddr>, dev: PortId },
    /// `local`: one of the router's own addresses; deliver locally.
    Local,
    /// `broadcast` (IPv4): a subnet's broadcast address on `dev`; received,
    /// it is delivered locally (directed broadcasts are not forwarded:
    /// `bc_forwarding` 0); sent, it goes out of `dev` as a link broadcast.
    Broadcast { dev: PortId },
    /// `anycast` (IPv6): the subnet-router anycast address (RFC 4291
    /// §2.6.1) of a prefix on `dev`; delivered locally like `local`.
    Anycast { dev: PortId },
    /// `blackhole`: drop silently (the kernel's `EINVAL`).
    Blackhole,
    /// `unreachable`: drop with ICMP host unreachable / ICMPv6 no route
    /// (`EHOSTUNREACH`).
    Unreachable,
    /// `prohibit`: drop with ICMP administratively prohibited (`EACCES`).
    Prohibit,
    /// `throw`: this table has no answer; the policy lookup goes on with
    /// the next rule (`EAGAIN`).
    Throw,
}

impl NextHopKind {
    /// The `ip route` type name.
    pub fn type_name(&self) -> &'static str {
        match self {
            NextHopKind::Unicast { .. } => "unicast",
            NextHopKind::Local => "local",
            NextHopKind::Broadcast { .. } => "broadcast",
            NextHopKind::Anycast { .. } => "anycast",
            NextHopKind::Blackhole => "blackhole",
            NextHopKind::Unreachable => "unreachable",
            NextHopKind::Prohibit => "prohibit",
            NextHopKind::Throw => "throw",
        }
    }

    /// The device the route names, if any.
    pub fn dev(&self) -> Option<PortId> {
        match *self {
            NextHopKind::Unicast { dev, .. }
            | NextHopKind::Broadcast { dev }
            | NextHopKind::Anycast { dev } => Some(dev),
            _ => None,
        }
    }
}

/// A route's action and its metric (`priority`; lower wins).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct NextHop {
    pub kind: NextHopKind,
    pub metric: u32,
}

/// Index of a next hop in its [`Fib`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct NhId(pub u32);

/// One route of a table, as `ip route show table T` lists it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FibRoute {
    /// Destination prefix, host bits clear.
    pub to: IpNet,
    pub next_hop: NextHop,
}

/// Collects a table's routes; [`FibBuilder::build`] makes the [`Fib`].
/// Adding is a push; building sorts once, so 100k routes build in tens of
/// milliseconds.
#[derive(Debug, Clone, Default)]
pub struct FibBuilder {
    routes: Vec<FibRoute>,
}

impl FibBuilder {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn with_capacity(n: usize) -> Self {
        FibBuilder {
            routes: Vec::with_capacity(n),
        }
    }

    /// Adds a route to `to` (host bits are cleared). Routes with the same
    /// prefix are all kept; the lowest metric wins lookups, the first added
    /// among equal metrics. Refusing duplicates ("File exists") is the
    /// caller's business.
    pub fn add(&mut self, to: IpNet, next_hop: NextHop) -> &mut Self {
        self.routes.push(FibRoute {
            to: to.trunc(),
            next_hop,
        });
        self
    }

    pub fn len(&self) -> usize {
        self.routes.len()
    }

    pub fn is_empty(&self) -> bool {
        self.routes.is_empty()
    }

    pub fn build(mut self) -> Fib {
        // By prefix, then metric; stable, so equal metrics keep their order.
        self.routes.sort_by_key(|r| (r.to, r.next_hop.metric));
        let mut nexthops: Vec<NextHop> = Vec::new();
        let mut ids: AHashMap<NextHop, u32> = AHashMap::new();
        let mut v4 = LpmBuilder::<u32>::new();
        let mut v6 = LpmBuilder::<u128>::new();
        let mut prev: Option<IpNet> = None;
        for r in &self.routes {
            if prev == Some(r.to) {
                continue; // a loser: same prefix, higher metric or later
            }
            prev = Some(r.to);
            let id = *ids.entry(r.next_hop).or_insert_with(|| {
                nexthops.push(r.next_hop);
                (nexthops.len() - 1) as u32
            });
            match r.to {
                IpNet::V4(n) => v4.insert(u32::from(n.network()), n.prefix_len(), id),
                IpNet::V6(n) => v6.insert(u128::from(n.network()), n.prefix_len(), id),
            }
        }
        Fib {
            routes: self.routes.into_boxed_slice(),
            nexthops: nexthops.into_boxed_slice(),
            v4: v4.build(),
            v6: v6.build(),
        }
    }
}

/// An immutable routing table: routes of both families with an LPM trie
/// each. Built on the control side, shared read-only by workers.
#[derive(Debug, Clone, Default)]
pub struct Fib {
    /// All routes, losers included, by prefix then metric.
    routes: Box<[FibRoute]>,
    /// Distinct next hops of the winning routes.
    nexthops: Box<[NextHop]>,
    v4: Lpm<u32>,
    v6: Lpm<u128>,
}

impl Fib {
    /// The winning route's next hop for `dst`.
    #[inline]
    pub fn lookup(&self, dst: IpAddr) -> Option<&NextHop> {
        let id = match dst {
            IpAddr::V4(a) => self.v4.lookup(u32::from(a)),
            IpAddr::V6(a) => self.v6.lookup(u128::from(a)),
        }?;
        self.nexthops.get(id as usize)
    }

    /// The winning route's next-hop index for an IPv4 destination.
    #[inline]
    pub fn lookup_v4(&self, dst: Ipv4Addr) -> Option<NhId> {
        self.v4.lookup(u32::from(dst)).map(NhId)
    }

    /// The winning route's next-hop index for an IPv6 destination.
    #[inline]
    pub fn lookup_v6(&self, dst: Ipv6Addr) -> Option<NhId> {
        self.v6.lookup(u128::from(dst)).map(NhId)
    }

    /// The next hop `id` of this table.
    #[inline]
    pub fn next_hop(&self, id: NhId) -> Option<&NextHop> {
        self.nexthops.get(id.0 as usize)
    }

    /// Every route, by prefix then metric (IPv4 first).
    pub fn routes(&self) -> &[FibRoute] {
        &self.routes
    }

    /// Number of routes, losers included.
    pub fn len(&self) -> usize {
        self.routes.len()
    }

    pub fn is_empty(&self) -> bool {
        self.routes.is_empty()
    }

    /// Bytes held by the two tries.
    pub fn memory_bytes(&self) -> usize {
        self.v4.memory_bytes() + self.v6.memory_bytes()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn net(s: &str) -> IpNet {
        s.parse().unwrap()
    }
    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }
    fn uni(via: Option<&str>, dev: u16, metric: u32) -> NextHop {
        NextHop {
            kind: NextHopKind::Unicast {
                via: via.map(ip),
                dev: PortId(dev),
            },
            metric,
        }
    }

    #[test]
    fn longest_prefix_wins() {
        let mut b = FibBuilder::new();
        b.add(net("0.0.0.0/0"), uni(Some("10.0.2.254"), 1, 0))
            .add(net("10.0.1.0/24"), uni(None, 0, 0))
            .add(net("10.0.0.0/8"), uni(Some("10.0.1.9"), 0, 0))
            .add(net("::/0"), uni(Some("fd00:2::fe"), 1, 1024))
            .add(net("fd00:1::/64"), uni(None, 0, 256));
        let f = b.build();
        assert_eq!(f.lookup(ip("10.0.1.7")), Some(&uni(None, 0, 0)));
        assert_eq!(f.lookup(ip("10.9.1.7")), Some(&uni(Some("10.0.1.9"), 0, 0)));
        assert_eq!(
            f.lookup(ip("192.0.2.1")),
            Some(&uni(Some("10.0.2.254"), 1, 0))
        );
        assert_eq!(f.lookup(ip("fd00:1::9")), Some(&uni(None, 0, 256)));
        assert_eq!(
            f.lookup(ip("2001:db8::1")),
            Some(&uni(Some("fd00:2::fe"), 1, 1024))
        );
        assert_eq!(f.len(), 5);
    }

    #[test]
    fn lowest_metric_wins_then_first_added() {
        let mut b = FibBuilder::new();
        b.add(net("10.9.0.0/16"), uni(Some("10.0.1.9"), 0, 20))
            .add(net("10.9.0.0/16"), uni(Some("10.0.2.9"), 1, 10))
            .add(net("10.9.0.0/16"), uni(Some("10.0.3.9"), 2, 30))
            .add(net("10.8.0.0/16"), uni(None, 1, 5))
            .add(net("10.8.0.0/16"), uni(None, 2, 5));
        let f = b.build();
        assert_eq!(
            f.lookup(ip("10.9.3.3")),
            Some(&uni(Some("10.0.2.9"), 1, 10))
        );
        assert_eq!(f.lookup(ip("10.8.3.3")), Some(&uni(None, 1, 5)));
        // `routes()` lists all of them, by prefix then metric.
        let metrics: Vec<u32> = f.routes().iter().map(|r| r.next_hop.metric).collect();
        assert_eq!(metrics, vec![5, 5, 10, 20, 30]);
    }

    #[test]
    fn typed_routes_and_shared_next_hops() {
        let bh = NextHop {
            kind: NextHopKind::Blackhole,
            metric: 0,
        };
        let mut b = FibBuilder::new();
        b.add(net("10.1.0.0/16"), bh)
            .add(net("10.2.0.0/16"), bh)
            .add(
                net("10.1.2.0/24"),
                NextHop {
                    kind: NextHopKind::Throw,
                    metric: 0,
                },
            );
        let f = b.build();
        let a = f.lookup_v4("10.1.0.1".parse().unwrap()).unwrap();
        let c = f.lookup_v4("10.2.0.1".parse().unwrap()).unwrap();
        assert_eq!(a, c, "identical next hops share one index");
        assert_eq!(f.next_hop(a), Some(&bh));
        assert_eq!(
            f.lookup(ip("10.1.2.3")).map(|n| n.kind),
            Some(NextHopKind::Throw)
        );
        assert_eq!(f.lookup(ip("10.3.0.1")), None);
        assert_eq!(f.lookup(ip("::1")), None);
    }

    /// The reference: longest prefix, then lowest metric, then first added.
    fn oracle(routes: &[FibRoute], dst: IpAddr) -> Option<NextHop> {
        let mut best: Option<&FibRoute> = None;
        for r in routes {
            if !r.to.contains(&dst) {
                continue;
            }
            let better = match best {
                None => true,
                Some(b) => {
                    r.to.prefix_len() > b.to.prefix_len()
                        || (r.to.prefix_len() == b.to.prefix_len()
                            && r.next_hop.metric < b.next_hop.metric)
                }
            };
            if better {
                best = Some(r);
            }
        }
        best.map(|r| r.next_hop)
    }

    fn route() -> impl Strategy<Value = FibRoute> {
        let v4 = (any::<u32>(), 0u8..=32).prop_map(|(a, l)| {
            // Few distinct prefixes, so equal prefixes with other metrics occur.
            IpNet::new(IpAddr::V4((a & 0xff0f_0f0f).into()), l)
                .unwrap()
                .trunc()
        });
        let v6 = (any::<u16>(), 0u8..=128).prop_map(|(a, l)| {
            let a = (0xfd00u128 << 112) | (u128::from(a) << 64) | u128::from(a);
            IpNet::new(IpAddr::V6(a.into()), l).unwrap().trunc()
        });
        (prop_oneof![v4, v6], 0u32..4, 0u16..4).prop_map(|(to, metric, dev)| FibRoute {
            to,
            next_hop: uni(None, dev, metric),
        })
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(300))]

        #[test]
        fn matches_linear_scan(
            routes in prop::collection::vec(route(), 0..120),
            random in prop::collection::vec(any::<u32>(), 0..20),
        ) {
            let mut b = FibBuilder::new();
            for r in &routes {
                b.add(r.to, r.next_hop);
            }
            let fib = b.build();
            let mut probes: Vec<IpAddr> =
                random.iter().map(|&a| IpAddr::V4((a & 0xff0f_0f0f).into())).collect();
            for r in &routes {
                probes.push(r.to.network());
                probes.push(r.to.broadcast());
            }
            for dst in probes {
                prop_assert_eq!(fib.lookup(dst).copied(), oracle(&routes, dst), "dst {}", dst);
            }
        }
    }

    #[test]
    fn host_bits_are_cleared() {
        let mut b = FibBuilder::new();
        b.add(net("10.0.1.77/24"), uni(None, 0, 0));
        let f = b.build();
        assert_eq!(f.routes()[0].to, net("10.0.1.0/24"));
        assert!(f.lookup(ip("10.0.1.1")).is_some());
    }
}
