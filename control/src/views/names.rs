//! Address names for the views printed without `-n`, as iptables finds
//! them (`xtables_ipaddr_to_anyname`: `gethostbyaddr`, then
//! `getnetbyaddr`, then the number), from the local files only:
//! `/etc/hosts` and `/etc/networks`. No DNS: a listing never waits on a
//! resolver (iptables asks DNS too when `/etc/nsswitch.conf` says so, so
//! an address named only in DNS prints as a number here). IPv6 addresses
//! (`ip6tables -L`, `xtables_ip6addr_to_anyname`: `getnameinfo`) are named
//! from the hosts file only, as there is no IPv6 networks table.

use std::net::{Ipv4Addr, Ipv6Addr};

/// The hosts and networks tables, first name per address as the C
/// library returns it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Names {
    hosts: Vec<(Ipv4Addr, String)>,
    networks: Vec<(Ipv4Addr, String)>,
    hosts6: Vec<(Ipv6Addr, String)>,
}

impl Names {
    /// No names: every address prints as a number.
    pub fn none() -> Names {
        Names::default()
    }

    /// The machine's `/etc/hosts` and `/etc/networks` (a missing file
    /// names nothing).
    pub fn from_etc() -> Names {
        let read = |p: &str| std::fs::read_to_string(p).unwrap_or_default();
        Names::from_text(&read("/etc/hosts"), &read("/etc/networks"))
    }

    /// From the text of a hosts file (`ADDR NAME...`) and a networks file
    /// (`NAME NUMBER...`, the number with 1 to 4 parts as `inet_network`
    /// reads it).
    pub fn from_text(hosts: &str, networks: &str) -> Names {
        let lines = |t: &str| -> Vec<Vec<String>> {
            t.lines()
                .map(|l| l.split('#').next().unwrap_or(""))
                .map(|l| l.split_whitespace().map(String::from).collect::<Vec<_>>())
                .filter(|w| w.len() >= 2)
                .collect()
        };
        let hosts_lines = lines(hosts);
        let hosts = hosts_lines
            .iter()
            .filter_map(|w| Some((w[0].parse().ok()?, w[1].clone())))
            .collect();
        let hosts6 = hosts_lines
            .iter()
            .filter_map(|w| Some((w[0].parse().ok()?, w[1].clone())))
            .collect();
        let networks = lines(networks)
            .into_iter()
            .filter_map(|w| Some((inet_network(&w[1])?, w[0].clone())))
            .collect();
        Names {
            hosts,
            networks,
            hosts6,
        }
    }

    /// The host name of an IPv6 address, if the hosts file has one.
    pub fn name6(&self, a: Ipv6Addr) -> Option<&str> {
        self.hosts6
            .iter()
            .find(|(x, _)| *x == a)
            .map(|(_, n)| n.as_str())
    }

    /// `xtables_ipaddr_to_anyname`: the host name, else the network name,
    /// else the dotted number.
    pub fn any_name(&self, a: Ipv4Addr) -> String {
        self.hosts
            .iter()
            .chain(&self.networks)
            .find(|(x, _)| *x == a)
            .map(|(_, n)| n.clone())
            .unwrap_or_else(|| a.to_string())
    }
}

/// `inet_network(3)` for what `/etc/networks` holds: `127`, `169.254`,
/// `10.1.2`, `0.0.0.0`, left-aligned as `getnetbyaddr` compares them
/// (`127` is 127.0.0.0).
fn inet_network(s: &str) -> Option<Ipv4Addr> {
    let parts: Vec<u8> = s
        .split('.')
        .map(|p| p.parse().ok())
        .collect::<Option<_>>()?;
    if parts.is_empty() || parts.len() > 4 {
        return None;
    }
    let mut o = [0u8; 4];
    o[..parts.len()].copy_from_slice(&parts);
    Some(Ipv4Addr::from(o))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hosts_first_then_networks() {
        let n = Names::from_text(
            "127.0.0.1 localhost\n127.0.0.1 other\n# 10.0.0.1 no\n::1 localhost ip6-localhost\n",
            "default\t\t0.0.0.0\nloopback\t127.0.0.0\nlink-local\t169.254.0.0\nshort 10\n",
        );
        assert_eq!(n.any_name(Ipv4Addr::new(127, 0, 0, 1)), "localhost");
        assert_eq!(n.any_name(Ipv4Addr::new(127, 0, 0, 0)), "loopback");
        assert_eq!(n.any_name(Ipv4Addr::UNSPECIFIED), "default");
        assert_eq!(n.any_name(Ipv4Addr::new(10, 0, 0, 0)), "short");
        assert_eq!(n.any_name(Ipv4Addr::new(10, 0, 0, 1)), "10.0.0.1");
        assert_eq!(Names::none().any_name(Ipv4Addr::LOCALHOST), "127.0.0.1");
        assert_eq!(n.name6(Ipv6Addr::LOCALHOST), Some("localhost"));
        assert_eq!(n.name6("::2".parse().unwrap()), None);
    }
}
