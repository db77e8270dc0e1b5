//! DHCPv4 on the uplink (`address = ["dhcp"]`): the client and what a
//! lease does to the configuration.
//!
//! - [`client`]: the RFC 2131 state machine, sans I/O, on the caller's clock.
//! - [`frame`]: its frames (Ethernet, IPv4, UDP around
//!   [`smoltcp::wire::DhcpRepr`]).
//! - [`inject`]: a lease as configuration: the address (with its connected
//!   and local routes, which the router derives from it) on the interface,
//!   the default route via the router option in the main table. The
//!   daemon compiles the result into a snapshot and publishes it as
//!   `sluice apply` does (`run::api::Control::set_lease`), so conntrack is
//!   kept, the TAP gets the address, and a lost address takes its
//!   MASQUERADE entries with it (`WorkerState::follow`, the kernel's
//!   `masq_inet_event`).
//!
//! Why not smoltcp's `dhcpv4::Socket`: it needs a smoltcp `Interface` with
//! its own IPv4 stack, ARP cache and clock; its unicast renewals go through
//! that interface's ARP, which the dataplane answers and consumes itself,
//! and its timers cannot be driven by a test's fake clock without driving
//! the whole interface. The wire codec is what we take from it.

pub mod client;
pub mod frame;

use std::net::{IpAddr, Ipv4Addr};

use ipnet::{IpNet, Ipv4Net};
use sluice_config::appliance::{Appliance, Route, TABLE_MAIN};

/// What a lease puts into the configuration of one interface.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Binding {
    pub addr: Ipv4Net,
    pub router: Option<Ipv4Addr>,
}

impl Binding {
    pub fn of(l: &client::Lease) -> Binding {
        Binding {
            // The prefix comes from a mask: at most 32.
            addr: Ipv4Net::new(l.addr, l.prefix.min(32)).unwrap_or_else(|_| Ipv4Net::from(l.addr)),
            router: l.router,
        }
    }
}

/// Whether `a` already has a default IPv4 route of metric 0 in the main
/// table (then a lease's router adds none: `ip route add` would say "File
/// exists").
fn has_default(a: &Appliance) -> bool {
    a.routes
        .iter()
        .any(|r| r.table == TABLE_MAIN && r.metric == 0 && r.to == IpNet::V4(Ipv4Net::default()))
}

/// `a` with the binding of each DHCP interface named in `leases`
/// (interfaces that are not DHCP interfaces in `a` are left alone): the
/// address first among the interface's IPv4 addresses, the default route
/// via the router (and a host route to the router when it is outside the
/// leased network, as `dhclient-script` adds). Returns whether anything
/// was added.
pub fn inject<'a>(a: &mut Appliance, leases: impl IntoIterator<Item = (&'a str, Binding)>) -> bool {
    let mut changed = false;
    for (name, b) in leases {
        let Some(i) = a.interfaces.iter().position(|i| i.name == name && i.dhcp) else {
            continue;
        };
        let line = a.interfaces[i].line;
        a.interfaces[i].addresses.insert(0, IpNet::V4(b.addr));
        changed = true;
        let Some(gw) = b.router else { continue };
        if has_default(a) || gw == b.addr.addr() {
            continue;
        }
        let route = |to: Ipv4Net, via: Option<Ipv4Addr>| Route {
            to: IpNet::V4(to),
            via: via.map(IpAddr::V4),
            dev: Some(name.to_string()),
            table: TABLE_MAIN,
            metric: 0,
            line,
        };
        if !b.addr.contains(&gw) {
            a.routes.push(route(Ipv4Net::from(gw), None));
        }
        a.routes.push(route(Ipv4Net::default(), Some(gw)));
    }
    changed
}

/// What one interface's client says, for `sluice stats` and the metrics.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Status {
    pub interface: String,
    pub state: client::State,
    pub lease: Option<client::Lease>,
    /// Seconds from the status's time to T1, T2 and expiry (`None`: an
    /// infinite lease, or none).
    pub t1_in: Option<u64>,
    pub t2_in: Option<u64>,
    pub expires_in: Option<u64>,
    pub counts: client::Counts,
}

impl Status {
    pub fn of(interface: &str, c: &client::Client, now: std::time::Instant) -> Status {
        let lease = c.lease().copied();
        let left =
            |t: Option<std::time::Instant>| t.map(|t| t.saturating_duration_since(now).as_secs());
        Status {
            interface: interface.to_string(),
            state: c.state(),
            t1_in: left(lease.and_then(|l| l.t1())),
            t2_in: left(lease.and_then(|l| l.t2())),
            expires_in: left(lease.and_then(|l| l.expiry())),
            lease,
            counts: c.counts,
        }
    }

    /// One line of `sluice stats`.
    pub fn line(&self) -> String {
        let secs = |s: Option<u64>| s.map_or("never".to_string(), |s| format!("in {s}s"));
        let lease = match &self.lease {
            None => "no lease".to_string(),
            Some(l) => format!(
                "{}/{} router {} server {} lease {}, T1 {}, T2 {}, expires {}",
                l.addr,
                l.prefix,
                l.router_text(),
                l.server,
                l.time_text(),
                secs(self.t1_in),
                secs(self.t2_in),
                secs(self.expires_in),
            ),
        };
        let c = &self.counts;
        format!(
            "dhcp {}: {} {lease}; acquired {} renewed {} lost {} rebinds {}; sent discover {} request {}; received offer {} ack {} nak {} ignored {}",
            self.interface,
            self.state.name(),
            c.acquired,
            c.renewed,
            c.lost,
            c.rebinds,
            c.discovers,
            c.requests,
            c.offers,
            c.acks,
            c.naks,
            c.ignored
        )
    }

    /// `sluice stats --json`'s entry.
    pub fn json(&self) -> serde_json::Value {
        let c = &self.counts;
        serde_json::json!({
            "interface": self.interface,
            "state": self.state.name(),
            "address": self.lease.map(|l| format!("{}/{}", l.addr, l.prefix)),
            "router": self.lease.and_then(|l| l.router).map(|r| r.to_string()),
            "server": self.lease.map(|l| l.server.to_string()),
            "lease_seconds": self.lease.map(|l| l.lease_secs),
            "t1_in": self.t1_in,
            "t2_in": self.t2_in,
            "expires_in": self.expires_in,
            "acquired": c.acquired,
            "renewed": c.renewed,
            "lost": c.lost,
            "rebinds": c.rebinds,
            "sent": {"discover": c.discovers, "request": c.requests},
            "received": {"offer": c.offers, "ack": c.acks, "nak": c.naks, "ignored": c.ignored},
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn appliance() -> Appliance {
        let text = "[[interface]]\nname = \"lan\"\naddress = [\"10.0.0.1/24\"]\n\n[[interface]]\nname = \"wan\"\naddress = [\"dhcp\", \"fd00::1/64\"]\n";
        sluice_config::appliance::parse(text, std::path::Path::new("/etc/sluice/sluice.toml"))
            .unwrap()
    }

    #[test]
    fn a_lease_is_an_address_and_a_default_route() {
        let mut a = appliance();
        let b = Binding {
            addr: "203.0.113.50/24".parse().unwrap(),
            router: Some("203.0.113.1".parse().unwrap()),
        };
        assert!(inject(&mut a, [("wan", b), ("lan", b)]));
        assert_eq!(
            a.interfaces[1].addresses,
            vec![
                "203.0.113.50/24".parse::<IpNet>().unwrap(),
                "fd00::1/64".parse().unwrap()
            ]
        );
        assert_eq!(
            a.interfaces[0].addresses.len(),
            1,
            "lan is no DHCP interface"
        );
        assert_eq!(a.routes.len(), 1);
        assert_eq!(a.routes[0].to, "0.0.0.0/0".parse::<IpNet>().unwrap());
        assert_eq!(a.routes[0].via, Some("203.0.113.1".parse().unwrap()));
        assert_eq!(a.routes[0].dev.as_deref(), Some("wan"));
        sluice_dataplane::net::Net::from_appliance(&a).unwrap();

        // A router outside the leased network gets a host route first.
        let mut a = appliance();
        let b = Binding {
            addr: "198.51.100.7/32".parse().unwrap(),
            router: Some("198.51.100.1".parse().unwrap()),
        };
        inject(&mut a, [("wan", b)]);
        assert_eq!(a.routes.len(), 2);
        assert_eq!(a.routes[0].to, "198.51.100.1/32".parse::<IpNet>().unwrap());
        sluice_dataplane::net::Net::from_appliance(&a).unwrap();

        // A configured default route wins.
        let mut a = appliance();
        a.routes.push(Route {
            to: "0.0.0.0/0".parse().unwrap(),
            via: Some("10.0.0.254".parse().unwrap()),
            dev: None,
            table: TABLE_MAIN,
            metric: 0,
            line: 9,
        });
        inject(
            &mut a,
            [(
                "wan",
                Binding {
                    addr: "203.0.113.50/24".parse().unwrap(),
                    router: Some("203.0.113.1".parse().unwrap()),
                },
            )],
        );
        assert_eq!(a.routes.len(), 1);
    }
}
