//! Spreading `--flows N` over the source addresses of `--src` and source
//! ports: flow `i` takes address `i mod A` and port `FIRST_PORT + i div A`
//! (A addresses in the prefix), so the flows are distinct (address, port)
//! pairs and as many addresses as possible are used.

use std::net::IpAddr;

use ipnet::IpNet;

/// The first source port.
pub const FIRST_PORT: u16 = 1024;

/// Flow `i` → (source address, source port).
#[derive(Debug, Clone)]
pub struct Flows {
    net: IpNet,
    addrs: u128,
    first: u128,
}

impl Flows {
    /// Every address of `net` (network and broadcast addresses of an IPv4
    /// prefix shorter than /31 excluded); an error when `flows` do not fit.
    pub fn new(net: IpNet, flows: u32) -> Result<Flows, String> {
        let host_bits = u32::from(net.max_prefix_len() - net.prefix_len());
        let size: u128 = if host_bits >= 64 {
            1 << 64
        } else {
            1u128 << host_bits
        };
        let (first, addrs) = match net {
            IpNet::V4(_) if host_bits >= 2 => (1, size - 2),
            _ => (0, size),
        };
        let ports = u128::from(u16::MAX - FIRST_PORT) + 1;
        if u128::from(flows) > addrs.saturating_mul(ports) {
            return Err(format!(
                "--flows {flows} do not fit {net}: {addrs} address(es) × {ports} source ports"
            ));
        }
        Ok(Flows {
            net: net.trunc(),
            addrs: addrs.min(u128::from(flows.max(1))),
            first,
        })
    }

    /// Addresses actually used.
    pub fn addresses(&self) -> u128 {
        self.addrs
    }

    pub fn flow(&self, i: u32) -> (IpAddr, u16) {
        let i = u128::from(i);
        let host = self.first + i % self.addrs;
        let port = FIRST_PORT as u128 + i / self.addrs;
        let addr = match self.net {
            IpNet::V4(n) => IpAddr::V4((u32::from(n.network()).wrapping_add(host as u32)).into()),
            IpNet::V6(n) => IpAddr::V6((u128::from(n.network()) + host).into()),
        };
        (addr, port as u16)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashSet;

    #[test]
    fn flows_are_distinct_and_inside_the_prefix() {
        for (net, n) in [
            ("10.0.0.0/24", 1000u32),
            ("10.0.0.7/32", 500),
            ("fd00::/120", 3000),
        ] {
            let net: IpNet = net.parse().unwrap();
            let f = Flows::new(net, n).unwrap();
            let all: HashSet<_> = (0..n).map(|i| f.flow(i)).collect();
            assert_eq!(all.len(), n as usize, "{net}");
            assert!(all.iter().all(|(a, p)| net.contains(a) && *p >= FIRST_PORT));
        }
    }

    #[test]
    fn ipv4_skips_network_and_broadcast() {
        let f = Flows::new("10.0.0.0/30".parse().unwrap(), 4).unwrap();
        let addrs: Vec<_> = (0..4).map(|i| f.flow(i).0.to_string()).collect();
        assert_eq!(addrs, ["10.0.0.1", "10.0.0.2", "10.0.0.1", "10.0.0.2"]);
        assert_eq!(f.flow(2).1, FIRST_PORT + 1);
    }

    #[test]
    fn too_many_flows_is_an_error() {
        let e = Flows::new("10.0.0.1/32".parse().unwrap(), 70_000).unwrap_err();
        assert!(e.contains("10.0.0.1/32"), "{e}");
    }
}
