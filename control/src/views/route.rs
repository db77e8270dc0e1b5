//! `sluice route show [table N]`, `sluice rule show`, `sluice neigh show`:
//! the snapshot's FIB and policy rules and the workers' neighbour tables
//! in the shapes of iproute2's `ip route show`, `ip rule show` and `ip
//! neigh show` (iproute2 6.1, IPv4).
//!
//! What they read: the [`Router`] of the running snapshot and the ports'
//! addresses ([`Port`], as the router was built from: `Specs::from_appliance`),
//! which tell a connected route (`proto kernel scope link src ADDR`) from
//! a static one; for `neigh show`, each worker's
//! [`NeighTable::entries`](sluice_dataplane::route::neigh::NeighTable::entries).
//!
//! Compared with `ip route show [table T]` and `ip rule show` of a
//! namespace configured the same way in `control/tests/views_route.rs`.
//! Differences: IPv4 only (no `ip -6` shapes yet); the kernel's `lo`
//! routes (127.0.0.0/8 in table local) are not in sluice's FIB; a static
//! `local` route prints without `dev`.

use std::fmt::Write as _;
use std::net::IpAddr;

use ipnet::IpNet;
use serde_json::json;
use sluice_dataplane::route::neigh::{NeighInfo, NeighState};
use sluice_dataplane::route::{
    FibRoute, Iface, NextHopKind, Port, PortId, Router, Rule, RuleAction, TableName,
};

use super::ViewError;

/// The table `route show table T` takes: a number or `main`, `local`,
/// `default`; `all` is every table.
pub fn parse_table(s: &str) -> Result<Option<u32>, ViewError> {
    Ok(Some(match s {
        "main" => 254,
        "local" => 255,
        "default" => 253,
        "all" => return Ok(None),
        n => n
            .parse()
            .map_err(|_| ViewError::RouteTable(s.to_string()))?,
    }))
}

pub(crate) fn port_name(router: &Router, p: PortId) -> String {
    router
        .port_name(p)
        .map(str::to_string)
        .unwrap_or_else(|| format!("port{}", p.index()))
}

/// The port's primary address in the subnet of `a`, if `a` is on it.
fn primary_in(port: &Port, a: IpAddr) -> Option<IpAddr> {
    port.addresses
        .iter()
        .find(|n| n.trunc().contains(&a))
        .map(|n| n.addr())
}

/// Whether `r` is the connected route of an address of `dev`; its
/// preferred source when it is.
fn connected(ports: &[Port], to: IpNet, dev: PortId, metric: u32) -> Option<IpAddr> {
    if metric != 0 {
        return None;
    }
    let port = ports.get(dev.index())?;
    port.addresses
        .iter()
        .find(|n| n.trunc() == to && n.prefix_len() < n.max_prefix_len())
        .map(|n| n.addr())
}

fn dst(to: IpNet) -> String {
    if to.prefix_len() == 0 {
        "default".into()
    } else if to.prefix_len() == to.max_prefix_len() {
        to.addr().to_string()
    } else {
        to.to_string()
    }
}

/// One route as `ip route show` prints it.
fn route_line(
    router: &Router,
    ports: &[Port],
    r: &FibRoute,
    table: u32,
    with_table: Option<u32>,
) -> String {
    let nh = r.next_hop;
    // Connected routes live in main only; the same route in another
    // table is a static one.
    let conn_ports = if table == 254 { ports } else { &[] };
    let mut s = String::new();
    if !matches!(nh.kind, NextHopKind::Unicast { .. }) {
        let _ = write!(s, "{} ", nh.kind.type_name());
    }
    s.push_str(&dst(r.to));
    match nh.kind {
        NextHopKind::Unicast { via, dev } => {
            if let Some(v) = via {
                let _ = write!(s, " via {v}");
            }
            let _ = write!(s, " dev {}", port_name(router, dev));
            if let Some(t) = with_table {
                let _ = write!(s, " table {}", TableName(t));
            }
            match (via, connected(conn_ports, r.to, dev, nh.metric)) {
                (None, Some(src)) => {
                    let _ = write!(s, " proto kernel scope link src {src}");
                }
                (None, None) => s.push_str(" scope link"),
                _ => {}
            }
        }
        NextHopKind::Local => {
            let dev = ports
                .iter()
                .position(|p| p.addresses.iter().any(|a| a.addr() == r.to.addr()));
            if let Some(i) = dev {
                let _ = write!(s, " dev {}", port_name(router, PortId(i as u16)));
            }
            if let Some(t) = with_table {
                let _ = write!(s, " table {}", TableName(t));
            }
            if let Some(i) = dev {
                let src = primary_in(&ports[i], r.to.addr()).unwrap_or(r.to.addr());
                let _ = write!(s, " proto kernel scope host src {src}");
            } else {
                s.push_str(" scope host");
            }
        }
        NextHopKind::Broadcast { dev } | NextHopKind::Anycast { dev } => {
            let _ = write!(s, " dev {}", port_name(router, dev));
            if let Some(t) = with_table {
                let _ = write!(s, " table {}", TableName(t));
            }
            s.push_str(" proto kernel scope link");
            if let Some(src) = ports
                .get(dev.index())
                .and_then(|p| primary_in(p, r.to.addr()))
            {
                let _ = write!(s, " src {src}");
            }
        }
        NextHopKind::Blackhole
        | NextHopKind::Unreachable
        | NextHopKind::Prohibit
        | NextHopKind::Throw => {
            if let Some(t) = with_table {
                let _ = write!(s, " table {}", TableName(t));
            }
        }
    }
    if nh.metric != 0 {
        let _ = write!(s, " metric {}", nh.metric);
    }
    s.push(' ');
    s
}

/// The IPv4 routes of table `t`, in the kernel's dump order (the trie's:
/// by address, a longer prefix first, then by metric).
fn sorted_v4(router: &Router, t: u32) -> Vec<FibRoute> {
    let mut v: Vec<FibRoute> = router
        .tables()
        .get(t)
        .map(|f| {
            f.routes()
                .iter()
                .filter(|r| r.to.addr().is_ipv4())
                .copied()
                .collect()
        })
        .unwrap_or_default();
    v.sort_by_key(|r| {
        let a = match r.to.addr() {
            IpAddr::V4(a) => u32::from(a),
            IpAddr::V6(_) => 0,
        };
        (a, std::cmp::Reverse(r.to.prefix_len()), r.next_hop.metric)
    });
    v
}

/// `ip route show [table T]` (IPv4): `table` `Some(id)` (default main), or
/// `None` for `table all` (every table, each line naming its table unless
/// it is main, as iproute2 does).
///
/// A table other than main and local exists in the kernel only while it
/// holds a route; showing one that does not is iproute2's error.
pub fn route_show(
    router: &Router,
    ports: &[Port],
    table: Option<u32>,
) -> Result<String, ViewError> {
    let mut out = String::new();
    match table {
        Some(t) => {
            if t != 254 && t != 255 && sorted_v4(router, t).is_empty() {
                return Err(ViewError::NoFibTable);
            }
            for r in sorted_v4(router, t) {
                out.push_str(&route_line(router, ports, &r, t, None));
                out.push('\n');
            }
        }
        None => {
            // iproute2 dumps tables in the kernel's order: by id, main's
            // routes unlabelled.
            let mut ids: Vec<u32> = router.tables().iter().map(|(id, _)| id).collect();
            ids.sort_unstable();
            for id in ids {
                for r in sorted_v4(router, id) {
                    let label = (id != 254).then_some(id);
                    out.push_str(&route_line(router, ports, &r, id, label));
                    out.push('\n');
                }
            }
        }
    }
    Ok(out)
}

/// `route show --json`: each route's fields.
pub fn route_show_json(router: &Router, ports: &[Port], table: Option<u32>) -> serde_json::Value {
    let ids: Vec<u32> = match table {
        Some(t) => vec![t],
        None => router.tables().iter().map(|(id, _)| id).collect(),
    };
    let mut v = Vec::new();
    for id in ids {
        for r in sorted_v4(router, id) {
            let nh = r.next_hop;
            let (via, dev) = match nh.kind {
                NextHopKind::Unicast { via, dev } => (via, Some(dev)),
                k => (None, k.dev()),
            };
            v.push(json!({
                "table": TableName(id).to_string(),
                "type": nh.kind.type_name(),
                "dst": dst(r.to),
                "gateway": via.map(|a| a.to_string()),
                "dev": dev.map(|d| port_name(router, d)),
                "metric": nh.metric,
                "connected": id == 254 && matches!(nh.kind, NextHopKind::Unicast { via: None, dev }
                    if connected(ports, r.to, dev, nh.metric).is_some()),
            }));
        }
    }
    serde_json::Value::Array(v)
}

fn iface(router: &Router, i: Iface) -> String {
    match i {
        Iface::Port(p) => port_name(router, p),
        Iface::Lo => "lo".into(),
    }
}

/// `ip rule show` (IPv4): priority, selectors, action, in evaluation
/// order, the kernel's default rules included.
pub fn rule_show(router: &Router) -> String {
    let mut out = String::new();
    for r in router.policy().rules(false) {
        let _ = writeln!(out, "{}:\t{}", r.priority, rule_text(router, r));
    }
    out
}

/// One policy rule as `ip rule show` prints it after `PRIORITY:\t`.
pub fn rule_text(router: &Router, r: &Rule) -> String {
    let mut out = String::new();
    if r.not {
        out.push_str("not ");
    }
    match r.from {
        Some(n) if n.prefix_len() != 0 => {
            let _ = write!(out, "from {}", dst(n.trunc()));
        }
        _ => out.push_str("from all"),
    }
    if let Some(n) = r.to.filter(|n| n.prefix_len() != 0) {
        let _ = write!(out, " to {}", dst(n.trunc()));
    }
    if let Some((v, m)) = r.fwmark {
        let _ = write!(out, " fwmark {v:#x}");
        if m != u32::MAX {
            let _ = write!(out, "/{m:#x}");
        }
    }
    if let Some(i) = r.iif {
        let _ = write!(out, " iif {}", iface(router, i));
    }
    if let Some(i) = r.oif {
        let _ = write!(out, " oif {}", iface(router, i));
    }
    match r.action {
        RuleAction::Lookup(t) => {
            let _ = write!(out, " lookup {}", TableName(t));
        }
        RuleAction::Unreachable => out.push_str(" unreachable"),
        RuleAction::Prohibit => out.push_str(" prohibit"),
        RuleAction::Blackhole => out.push_str(" blackhole"),
    }
    out
}

/// `rule show --json`.
pub fn rule_show_json(router: &Router) -> serde_json::Value {
    serde_json::Value::Array(
        router
            .policy()
            .rules(false)
            .iter()
            .map(|r| {
                json!({
                    "priority": r.priority,
                    "not": r.not,
                    "from": r.from.map(|n| n.to_string()),
                    "to": r.to.map(|n| n.to_string()),
                    "fwmark": r.fwmark.map(|(v, m)| format!("{v:#x}/{m:#x}")),
                    "iif": r.iif.map(|i| iface(router, i)),
                    "oif": r.oif.map(|i| iface(router, i)),
                    "action": match r.action {
                        RuleAction::Lookup(t) => format!("lookup {}", TableName(t)),
                        RuleAction::Unreachable => "unreachable".into(),
                        RuleAction::Prohibit => "prohibit".into(),
                        RuleAction::Blackhole => "blackhole".into(),
                    },
                })
            })
            .collect(),
    )
}

fn nud(s: NeighState) -> &'static str {
    match s {
        NeighState::None => "NONE",
        NeighState::Incomplete => "INCOMPLETE",
        NeighState::Reachable => "REACHABLE",
        NeighState::Stale => "STALE",
        NeighState::Delay => "DELAY",
        NeighState::Probe => "PROBE",
        NeighState::Failed => "FAILED",
        NeighState::Permanent => "PERMANENT",
    }
}

fn mac(m: [u8; 6]) -> String {
    format!(
        "{:02x}:{:02x}:{:02x}:{:02x}:{:02x}:{:02x}",
        m[0], m[1], m[2], m[3], m[4], m[5]
    )
}

/// A neighbour of one worker: `(worker, port, address, info)`.
pub type NeighEntry = (usize, PortId, IpAddr, NeighInfo);

/// `neigh show [dev IF]`'s selector: the interface, if one is named.
pub fn parse_neigh_selector(router: &Router, sel: &[String]) -> Result<Option<PortId>, ViewError> {
    match sel {
        [] => Ok(None),
        [d, name] if d == "dev" => router
            .port_id(name)
            .map(Some)
            .ok_or_else(|| ViewError::NoDevice(name.clone())),
        [d] if d == "dev" => Err(ViewError::NeighSelector("dev".into())),
        [other, ..] => Err(ViewError::NeighSelector(other.clone())),
    }
}

/// `ip neigh show [dev IF]`: `ADDR dev DEV lladdr MAC STATE` (no
/// `lladdr` while unresolved; no `dev DEV` when one device is asked for,
/// as iproute2 prints it), IPv4 then IPv6, by address. Each worker keeps
/// its own table (ARP replies are copied to all); an address several
/// workers know is printed once, with the freshest state: the worker that
/// changed or confirmed it last ([`NeighInfo::fresh`]) wins.
pub fn neigh_show(router: &Router, entries: &[NeighEntry], dev: Option<PortId>) -> String {
    let mut out = String::new();
    for (_, port, ip, info) in merged(entries, dev) {
        let _ = write!(out, "{ip}");
        if dev.is_none() {
            let _ = write!(out, " dev {}", port_name(router, port));
        }
        if let Some(m) = info.mac {
            let _ = write!(out, " lladdr {}", mac(m));
        }
        // iproute2 ends the line with a space.
        let _ = writeln!(out, " {} ", nud(info.state));
    }
    out
}

/// One entry per (address, port), the freshest; `dev` keeps one port's.
fn merged(entries: &[NeighEntry], dev: Option<PortId>) -> Vec<NeighEntry> {
    let mut v: Vec<NeighEntry> = entries
        .iter()
        .filter(|e| dev.is_none_or(|d| d == e.1))
        .copied()
        .collect();
    v.sort_by_key(|(w, port, ip, info)| {
        (
            ip.is_ipv6(),
            *ip,
            port.index(),
            std::cmp::Reverse(info.fresh),
            *w,
        )
    });
    v.dedup_by_key(|(_, port, ip, _)| (*ip, port.index()));
    v
}

/// `neigh show --json`; `workers` lists which workers know the address
/// (the shown state is the freshest of theirs).
pub fn neigh_show_json(
    router: &Router,
    entries: &[NeighEntry],
    dev: Option<PortId>,
) -> serde_json::Value {
    serde_json::Value::Array(
        merged(entries, dev)
            .into_iter()
            .map(|(_, port, ip, info)| {
                let workers: Vec<usize> = entries
                    .iter()
                    .filter(|(_, p, i, _)| *p == port && *i == ip)
                    .map(|(w, ..)| *w)
                    .collect();
                json!({
                    "dst": ip.to_string(),
                    "dev": port_name(router, port),
                    "lladdr": info.mac.map(mac),
                    "state": nud(info.state),
                    "queued": info.queued,
                    "workers": workers,
                })
            })
            .collect(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use sluice_dataplane::route::neigh::{NeighParams, NeighTable};
    use std::time::Instant;

    fn router() -> (Router, Vec<Port>) {
        named_router("r0", "r1")
    }

    /// Ports `a` (10.0.1.1/24) and `b` (10.0.2.1/24).
    fn named_router(a: &str, b: &str) -> (Router, Vec<Port>) {
        let port = |name: &str, addr: &str| Port {
            name: name.into(),
            addresses: vec![addr.parse().unwrap()],
            line: 0,
        };
        let ports = vec![port(a, "10.0.1.1/24"), port(b, "10.0.2.1/24")];
        let r = Router::build(&ports, &[], &[]).unwrap();
        (r, ports)
    }

    fn info(state: NeighState, mac: Option<[u8; 6]>, fresh: Instant) -> NeighInfo {
        NeighInfo {
            state,
            mac,
            queued: 0,
            fresh,
        }
    }

    #[test]
    fn neigh_show_merges_workers_freshest_wins() {
        let (r, _) = router();
        let now = Instant::now();
        let later = now + std::time::Duration::from_secs(1);
        let mut t: NeighTable<u32> = NeighTable::new(NeighParams::default());
        let gw: IpAddr = "10.0.2.254".parse().unwrap();
        t.add_permanent(PortId(1), gw, [2, 0, 0, 0, 0, 1], now, &mut |_| {});
        let mut entries: Vec<NeighEntry> = t.entries().map(|(p, ip, i)| (1, p, ip, i)).collect();
        let h: IpAddr = "10.0.1.2".parse().unwrap();
        let m = Some([2, 0, 0, 0, 1, 2]);
        // Worker 0 confirmed 10.0.1.2 after worker 1 saw it go stale.
        entries.push((0, PortId(0), h, info(NeighState::Reachable, m, later)));
        entries.push((1, PortId(0), h, info(NeighState::Stale, m, now)));
        // Worker 2 is resolving the gateway afresh.
        entries.push((2, PortId(1), gw, info(NeighState::Incomplete, None, later)));
        assert_eq!(
            neigh_show(&r, &entries, None),
            "10.0.1.2 dev r0 lladdr 02:00:00:00:01:02 REACHABLE \n10.0.2.254 dev r1 INCOMPLETE \n"
        );
        assert_eq!(
            neigh_show(&r, &entries, Some(PortId(0))),
            "10.0.1.2 lladdr 02:00:00:00:01:02 REACHABLE \n"
        );
        let j = neigh_show_json(&r, &entries, None);
        assert_eq!(j[0]["workers"], serde_json::json!([0, 1]));
        assert_eq!(j[1]["workers"], serde_json::json!([1, 2]));
        assert_eq!(j[1]["state"], "INCOMPLETE");
        assert_eq!(
            parse_neigh_selector(&r, &["dev".into(), "r1".into()]).unwrap(),
            Some(PortId(1))
        );
        assert_eq!(
            parse_neigh_selector(&r, &["dev".into(), "eth9".into()])
                .unwrap_err()
                .to_string(),
            "Cannot find device \"eth9\""
        );
        assert!(parse_neigh_selector(&r, &["to".into()]).is_err());
    }

    /// Captured from iproute2 6.1 in a namespace (veth `lan` 10.0.1.1/24,
    /// `wan` 10.0.2.1/24; `ip neigh add ... nud STATE` for each entry;
    /// DELAY is not in it: the kernel's timer turned it into PROBE at
    /// once). The kernel lists in hash order, sluice by address: the lines
    /// are compared as sets.
    const IP_NEIGH_SHOW: &str = "\
10.0.1.2 dev lan lladdr 02:00:00:00:01:02 REACHABLE 
10.0.1.7 dev lan FAILED 
10.0.1.3 dev lan lladdr 02:00:00:00:01:03 STALE 
10.0.1.4 dev lan INCOMPLETE 
10.0.1.5 dev lan lladdr 02:00:00:00:01:05 PROBE 
10.0.1.6 dev lan lladdr 02:00:00:00:01:06 PROBE 
10.0.2.254 dev wan lladdr 02:00:00:00:02:fe PERMANENT 
";
    const IP_NEIGH_SHOW_DEV_LAN: &str = "\
10.0.1.2 lladdr 02:00:00:00:01:02 REACHABLE 
10.0.1.7 FAILED 
10.0.1.3 lladdr 02:00:00:00:01:03 STALE 
10.0.1.4 INCOMPLETE 
10.0.1.5 lladdr 02:00:00:00:01:05 PROBE 
10.0.1.6 lladdr 02:00:00:00:01:06 PROBE 
";

    #[test]
    fn neigh_show_as_iproute2_prints_it() {
        let (r, _) = named_router("lan", "wan");
        let now = Instant::now();
        let e = |port: u16, ip: &str, state, last: u8| {
            let valid = NeighState::is_valid(state);
            (
                0,
                PortId(port),
                ip.parse().unwrap(),
                info(
                    state,
                    valid.then_some([2, 0, 0, 0, port as u8 + 1, last]),
                    now,
                ),
            )
        };
        let entries: Vec<NeighEntry> = vec![
            e(0, "10.0.1.2", NeighState::Reachable, 2),
            e(0, "10.0.1.7", NeighState::Failed, 7),
            e(0, "10.0.1.3", NeighState::Stale, 3),
            e(0, "10.0.1.4", NeighState::Incomplete, 4),
            e(0, "10.0.1.5", NeighState::Probe, 5),
            e(0, "10.0.1.6", NeighState::Probe, 6),
            e(1, "10.0.2.254", NeighState::Permanent, 0xfe),
        ];
        let sorted = |s: &str| {
            let mut v: Vec<String> = s.lines().map(str::to_string).collect();
            v.sort();
            v
        };
        assert_eq!(
            sorted(&neigh_show(&r, &entries, None)),
            sorted(IP_NEIGH_SHOW)
        );
        let lan = parse_neigh_selector(&r, &["dev".into(), "lan".into()]).unwrap();
        assert_eq!(
            sorted(&neigh_show(&r, &entries, lan)),
            sorted(IP_NEIGH_SHOW_DEV_LAN)
        );
    }

    #[test]
    fn route_show_json_and_missing_table() {
        let (r, ports) = router();
        assert_eq!(
            route_show(&r, &ports, Some(254)).unwrap(),
            "10.0.1.0/24 dev r0 proto kernel scope link src 10.0.1.1 \n10.0.2.0/24 dev r1 proto kernel scope link src 10.0.2.1 \n"
        );
        assert!(route_show(&r, &ports, Some(100)).is_err());
        let j = route_show_json(&r, &ports, Some(254));
        assert_eq!(j[0]["connected"], true);
        assert!(route_show(&r, &ports, None)
            .unwrap()
            .contains("local 10.0.1.1 dev r0 table local"));
        assert_eq!(rule_show(&r), "0:\tfrom all lookup local\n32766:\tfrom all lookup main\n32767:\tfrom all lookup default\n");
    }
}
