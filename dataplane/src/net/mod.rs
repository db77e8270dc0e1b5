//! The network as configured: each port's addresses, MTU and multicast
//! groups, and the router (FIB, policy rules) built from them — the part
//! of a [`crate::snapshot::Snapshot`] that routing, local delivery and the
//! rules' address questions read. Immutable once built.
//!
//! Address questions the packet path asks are answered here from sorted
//! arrays built once: "is this one of our addresses" (`inet_lookup_ifaddr`,
//! `ipv6_chk_addr`), "which multicast groups did this port join", and
//! source address selection for packets the router sends itself.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use ipnet::{IpNet, Ipv4Net, Ipv6Net};
use sluice_config::appliance::Appliance;

use crate::io::PortId;
use crate::route::{RouteError, Router};

/// `INADDR_DUMMY` (RFC 7600): the source of an ICMP error when the egress
/// port has no IPv4 address (`__icmp_send`).
pub const INADDR_DUMMY: Ipv4Addr = Ipv4Addr::new(192, 0, 0, 8);

/// One port's configuration.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PortConf {
    pub name: String,
    pub mtu: u16,
    /// IPv4 addresses with their prefix length, in configuration order (the
    /// first is the primary).
    pub v4: Vec<Ipv4Net>,
    pub v6: Vec<Ipv6Net>,
    /// IPv6 multicast groups the port has joined, sorted: all-nodes,
    /// all-routers (a forwarding node joins them, `addrconf`), and the
    /// solicited-node group of every unicast and anycast address.
    pub groups_v6: Vec<Ipv6Addr>,
    /// Subnet-router anycast addresses (RFC 4291 §2.6.1) of the prefixes.
    pub anycast_v6: Vec<Ipv6Addr>,
    /// The IPv4 address comes from DHCP (`address = ["dhcp"]`): the
    /// server's answers (UDP 67 → 68) go to the client
    /// ([`crate::local::dhcp`]); `v4` holds the lease, if any.
    pub dhcp: bool,
}

/// `ff02::1` (all nodes, link-local).
pub const ALL_NODES: Ipv6Addr = Ipv6Addr::new(0xff02, 0, 0, 0, 0, 0, 0, 1);
/// `ff02::2` (all routers, link-local).
pub const ALL_ROUTERS: Ipv6Addr = Ipv6Addr::new(0xff02, 0, 0, 0, 0, 0, 0, 2);
/// `ff05::2` (all routers, site-local).
pub const ALL_ROUTERS_SITE: Ipv6Addr = Ipv6Addr::new(0xff05, 0, 0, 0, 0, 0, 0, 2);
/// `224.0.0.1`, the only IPv4 group a port joins (`ip_mc_up`).
pub const ALL_SYSTEMS: Ipv4Addr = Ipv4Addr::new(224, 0, 0, 1);

/// The solicited-node multicast address of `a` (RFC 4291 §2.7.1).
pub fn solicited_node(a: Ipv6Addr) -> Ipv6Addr {
    let o = a.octets();
    Ipv6Addr::new(
        0xff02,
        0,
        0,
        0,
        0,
        1,
        0xff00 | o[13] as u16,
        u16::from_be_bytes([o[14], o[15]]),
    )
}

impl PortConf {
    pub fn new(name: &str, mtu: u16, addresses: &[IpNet]) -> PortConf {
        let v4: Vec<Ipv4Net> = addresses
            .iter()
            .filter_map(|n| match n {
                IpNet::V4(n) => Some(*n),
                IpNet::V6(_) => None,
            })
            .collect();
        let v6: Vec<Ipv6Net> = addresses
            .iter()
            .filter_map(|n| match n {
                IpNet::V6(n) => Some(*n),
                IpNet::V4(_) => None,
            })
            .collect();
        let anycast_v6: Vec<Ipv6Addr> = v6
            .iter()
            .filter(|n| n.prefix_len() < 127)
            .map(|n| n.network())
            .collect();
        let mut groups_v6 = vec![ALL_NODES, ALL_ROUTERS, ALL_ROUTERS_SITE];
        groups_v6.extend(v6.iter().map(|n| solicited_node(n.addr())));
        groups_v6.extend(anycast_v6.iter().map(|a| solicited_node(*a)));
        groups_v6.sort();
        groups_v6.dedup();
        PortConf {
            name: name.to_string(),
            mtu,
            v4,
            v6,
            groups_v6,
            anycast_v6,
            dhcp: false,
        }
    }

    /// `a` is one of this port's own unicast addresses.
    pub fn has_addr(&self, a: IpAddr) -> bool {
        match a {
            IpAddr::V4(a) => self.v4.iter().any(|n| n.addr() == a),
            IpAddr::V6(a) => self.v6.iter().any(|n| n.addr() == a),
        }
    }

    /// The port joined the IPv6 group `g`.
    pub fn joined_v6(&self, g: Ipv6Addr) -> bool {
        self.groups_v6.binary_search(&g).is_ok()
    }

    /// `inet_select_addr(dev, toward, RT_SCOPE_LINK)`: the first address
    /// whose network holds `toward`, else the first (primary) address.
    pub fn source_v4(&self, toward: Ipv4Addr) -> Option<Ipv4Addr> {
        self.v4
            .iter()
            .find(|n| n.contains(&toward))
            .or(self.v4.first())
            .map(|n| n.addr())
    }

    /// Source address selection (RFC 6724) reduced to its rule 8, the
    /// longest matching prefix, among this port's addresses (rule 5:
    /// prefer the outgoing interface).
    pub fn source_v6(&self, toward: Ipv6Addr) -> Option<Ipv6Addr> {
        let t = u128::from(toward);
        let mut best: Option<(u32, Ipv6Addr)> = None;
        for n in &self.v6 {
            let common = (u128::from(n.addr()) ^ t).leading_zeros();
            if !matches!(best, Some((b, _)) if b >= common) {
                best = Some((common, n.addr()));
            }
        }
        best.map(|(_, a)| a)
    }
}

/// The bit of an IPv4 address in [`Net`]'s own-address filter: the top 6
/// bits of a multiplicative hash.
#[inline(always)]
fn v4_filter_bit(a: u32) -> u32 {
    a.wrapping_mul(0x9e37_79b1) >> 26
}

/// See the module docs.
#[derive(Debug, Clone)]
pub struct Net {
    pub router: Router,
    /// Port `i` is `PortId(i)`.
    pub ports: Vec<PortConf>,
    /// Every own IPv4 address, sorted.
    own_v4: Box<[u32]>,
    /// Bit [`v4_filter_bit`] of every own IPv4 address: most addresses
    /// that are not ours are told apart by one test (a one-hash Bloom
    /// filter), without scanning `own_v4`.
    own_v4_filter: u64,
    /// Every own IPv6 address, sorted.
    own_v6: Box<[u128]>,
}

impl Net {
    /// Builds from parts; `ports[i]` describes `PortId(i)` of `router`.
    pub fn new(router: Router, ports: Vec<PortConf>) -> Net {
        let mut own_v4: Vec<u32> = ports
            .iter()
            .flat_map(|p| p.v4.iter().map(|n| u32::from(n.addr())))
            .collect();
        own_v4.sort_unstable();
        own_v4.dedup();
        let mut own_v6: Vec<u128> = ports
            .iter()
            .flat_map(|p| p.v6.iter().map(|n| u128::from(n.addr())))
            .collect();
        own_v6.sort_unstable();
        own_v6.dedup();
        let own_v4_filter = own_v4.iter().fold(0, |f, &a| f | 1 << v4_filter_bit(a));
        Net {
            router,
            ports,
            own_v4_filter,
            own_v4: own_v4.into_boxed_slice(),
            own_v6: own_v6.into_boxed_slice(),
        }
    }

    /// Builds the router and the port table of an appliance configuration.
    pub fn from_appliance(a: &Appliance) -> Result<Net, RouteError> {
        let router = Router::from_appliance(a)?;
        let ports = a
            .interfaces
            .iter()
            .map(|i| PortConf {
                dhcp: i.dhcp,
                ..PortConf::new(&i.name, i.mtu, &i.addresses)
            })
            .collect();
        Ok(Net::new(router, ports))
    }

    #[inline]
    pub fn port(&self, p: PortId) -> Option<&PortConf> {
        self.ports.get(p.index())
    }

    /// `a` is one of the box's own addresses, on any port.
    #[inline]
    pub fn is_own(&self, a: IpAddr) -> bool {
        match a {
            IpAddr::V4(a) => self.is_own_v4(a),
            IpAddr::V6(a) => self.own_v6.binary_search(&u128::from(a)).is_ok(),
        }
    }

    #[inline]
    pub fn is_own_v4(&self, a: Ipv4Addr) -> bool {
        let a = u32::from(a);
        if self.own_v4_filter >> v4_filter_bit(a) & 1 == 0 {
            return false;
        }
        // A handful of addresses: a linear scan beats a binary search.
        if self.own_v4.len() <= 8 {
            self.own_v4.contains(&a)
        } else {
            self.own_v4.binary_search(&a).is_ok()
        }
    }

    /// The source of a packet the box sends out of `port` toward
    /// `toward` (a next hop or destination), as routing would pick it:
    /// an address of that port, else of any port. IPv4 falls back to
    /// [`INADDR_DUMMY`]; IPv6 has no fallback.
    pub fn source_for(&self, port: PortId, toward: IpAddr) -> Option<IpAddr> {
        let on_port = self.port(port);
        match toward {
            IpAddr::V4(t) => Some(IpAddr::V4(
                on_port
                    .and_then(|p| p.source_v4(t))
                    .or_else(|| self.ports.iter().find_map(|p| p.source_v4(t)))
                    .unwrap_or(INADDR_DUMMY),
            )),
            IpAddr::V6(t) => on_port
                .and_then(|p| p.source_v6(t))
                .or_else(|| self.ports.iter().find_map(|p| p.source_v6(t)))
                .map(IpAddr::V6),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn net(s: &str) -> IpNet {
        s.parse().unwrap()
    }

    /// The own-address filter only ever says "not ours" for addresses
    /// that are not: `is_own_v4` agrees with a scan of the ports, for the
    /// own addresses and for addresses around and far from them.
    #[test]
    fn own_v4_filter_agrees_with_the_addresses() {
        let ports: Vec<PortConf> = (0..12)
            .map(|i| {
                PortConf::new(
                    &format!("p{i}"),
                    1500,
                    &[
                        net(&format!("10.{i}.0.1/24")),
                        net(&format!("172.16.{i}.9/24")),
                    ],
                )
            })
            .collect();
        let router = crate::route::Router::build(&[], &[], &[]).unwrap();
        let n = Net::new(router, ports.clone());
        let scan = |a: Ipv4Addr| ports.iter().any(|p| p.v4.iter().any(|x| x.addr() == a));
        let mut x = 0x1234_5678u32;
        let mut said_no = 0;
        for i in 0..12u8 {
            for last in 0..=255u8 {
                for a in [
                    Ipv4Addr::new(10, i, 0, last),
                    Ipv4Addr::new(172, 16, i, last),
                ] {
                    assert_eq!(n.is_own_v4(a), scan(a), "{a}");
                }
            }
        }
        for _ in 0..10_000 {
            x ^= x << 13;
            x ^= x >> 17;
            x ^= x << 5;
            let a = Ipv4Addr::from(x);
            assert_eq!(n.is_own_v4(a), scan(a), "{a}");
            said_no += usize::from(n.own_v4_filter >> v4_filter_bit(x) & 1 == 0);
        }
        // 24 addresses set at most 24 of the 64 bits.
        assert!(said_no > 3_000, "the filter rejected only {said_no}");
    }

    #[test]
    fn port_addresses_groups_and_sources() {
        let p = PortConf::new(
            "r0",
            1500,
            &[
                net("10.0.1.1/24"),
                net("192.168.7.1/24"),
                net("fd00:1::1/64"),
                net("2001:db8:1::1/64"),
            ],
        );
        assert!(p.has_addr("10.0.1.1".parse().unwrap()));
        assert!(!p.has_addr("10.0.1.2".parse().unwrap()));
        assert!(p.joined_v6("ff02::1:ff00:1".parse().unwrap()));
        assert!(p.joined_v6("ff02::1:ff00:0".parse().unwrap()), "anycast");
        assert!(p.joined_v6(ALL_ROUTERS));
        assert!(!p.joined_v6("ff02::1:ff00:2".parse().unwrap()));
        assert_eq!(
            p.anycast_v6,
            vec![
                "fd00:1::".parse::<Ipv6Addr>().unwrap(),
                "2001:db8:1::".parse().unwrap()
            ]
        );
        assert_eq!(
            p.source_v4("192.168.7.9".parse().unwrap()),
            Some("192.168.7.1".parse().unwrap())
        );
        assert_eq!(
            p.source_v4("8.8.8.8".parse().unwrap()),
            Some("10.0.1.1".parse().unwrap())
        );
        assert_eq!(
            p.source_v6("2001:db8:1::77".parse().unwrap()),
            Some("2001:db8:1::1".parse().unwrap())
        );
        assert_eq!(
            p.source_v6("fd00:9::1".parse().unwrap()),
            Some("fd00:1::1".parse().unwrap())
        );
        assert_eq!(
            solicited_node("2001:db8::12:3456".parse().unwrap()),
            "ff02::1:ff12:3456".parse::<Ipv6Addr>().unwrap()
        );
    }
}
