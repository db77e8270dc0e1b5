//! Routing compared with the kernel: the same ports, routes and rules are
//! loaded into a Linux network namespace (veth pairs, `ip addr`, `ip
//! route`, `ip rule`) and into a [`Router`]; every probe is asked of both,
//! `ip route get` being the oracle. Needs root and iproute2; prints `SKIP`
//! and passes otherwise.
//!
//! Only the public API of `sluice_dataplane::route` is used. Each test's
//! namespace is a [`Netns`] of `sluice_bench::netns`, deleted when the test
//! ends, also on failure. Forwarding is on and `rp_filter` off in it, and no
//! interface has a link-local address, as on a sluice port.
//!
//! Not compared, because sluice leaves them to other stages or does not
//! model them: IPv4 martian-source rejection of forwarded packets
//! (`fib_validate_source()`: "Invalid argument" when the source routes back
//! to a non-unicast route; counted and reported, checked against sluice's
//! own reverse lookup), device-bound lookups (`oif`), multicast and
//! link-local destinations.

use std::collections::BTreeSet;
use std::fmt::Write as _;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::path::Path;
use std::process::Command;

use ipnet::IpNet;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use sluice_bench::netns::Netns;
use sluice_dataplane::route::{
    table, FlowKey, Iface, Port, PortId, RouteError, RouteResult, RouteType, Router, Rule,
    RuleAction, Specs, StaticRoute, Tables,
};

/// Why the kernel cannot be asked, if it cannot.
fn skip_reason() -> Option<String> {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    let euid = status
        .lines()
        .find_map(|l| l.strip_prefix("Uid:"))
        .and_then(|l| l.split_whitespace().nth(1))
        .map(str::to_string);
    if euid.as_deref() != Some("0") {
        return Some(format!("not root (euid {euid:?})"));
    }
    match Command::new("ip").arg("-V").output() {
        Ok(o) if o.status.success() => None,
        _ => Some("iproute2 `ip` not found".into()),
    }
}

/// Runs `script` with `ip -n NS [flags] -force -batch`; returns stdout,
/// stderr.
fn batch(ns: &Netns, flags: &[&str], script: &str) -> (String, String) {
    let o = ns.batch(flags, script).unwrap_or_else(|e| panic!("{e}"));
    (
        String::from_utf8_lossy(&o.stdout).into_owned(),
        String::from_utf8_lossy(&o.stderr).into_owned(),
    )
}

/// Runs a setup script; every command must succeed.
fn setup(ns: &Netns, flags: &[&str], script: &str) {
    if script.is_empty() {
        return;
    }
    let (_, err) = batch(ns, flags, script);
    assert!(
        err.trim().is_empty(),
        "setup failed in {}:\n{err}\nscript:\n{script}",
        ns.name()
    );
}

/// Per-line outcome of a batch: `Ok(first output line)` or
/// `Err(error message)`.
fn batch_results(path_lines: usize, stdout: &str, stderr: &str) -> Vec<Result<String, String>> {
    let mut failed: Vec<Option<String>> = vec![None; path_lines + 1];
    let mut last = String::new();
    for l in stderr.lines() {
        if let Some(rest) = l.split("Command failed ").nth(1) {
            let n: usize = rest.rsplit(':').next().unwrap().trim().parse().unwrap();
            failed[n] = Some(std::mem::take(&mut last));
        } else {
            last = l.to_string();
        }
    }
    let mut outputs = stdout
        .lines()
        .filter(|l| !l.starts_with(char::is_whitespace));
    (1..=path_lines)
        .map(|n| match failed[n].take() {
            Some(e) => Err(e),
            None => Ok(outputs.next().unwrap_or_default().to_string()),
        })
        .collect()
}

/// What the config says, for both sides.
#[derive(Debug, Clone, Default)]
struct Scenario {
    ports: Vec<Port>,
    routes: Vec<StaticRoute>,
    rules: Vec<Rule>,
}

fn route_type_word(k: RouteType) -> &'static str {
    match k {
        RouteType::Unicast => "",
        RouteType::Local => "local ",
        RouteType::Blackhole => "blackhole ",
        RouteType::Unreachable => "unreachable ",
        RouteType::Prohibit => "prohibit ",
        RouteType::Throw => "throw ",
    }
}

fn route_cmd(s: &Scenario, r: &StaticRoute) -> String {
    let mut c = format!("route add {}{}", route_type_word(r.kind), r.to);
    if let Some(v) = r.via {
        let _ = write!(c, " via {v}");
    }
    if let Some(d) = r.dev {
        let _ = write!(c, " dev {}", s.ports[d.index()].name);
    }
    let _ = write!(c, " table {}", r.table);
    if r.metric != 0 {
        let _ = write!(c, " metric {}", r.metric);
    }
    c
}

fn rule_cmd(s: &Scenario, r: &Rule) -> String {
    let mut c = format!("rule add priority {}", r.priority);
    if r.not {
        c.push_str(" not");
    }
    if let Some(n) = r.from {
        let _ = write!(c, " from {n}");
    }
    if let Some(n) = r.to {
        let _ = write!(c, " to {n}");
    }
    if let Some((v, m)) = r.fwmark {
        let _ = write!(c, " fwmark {v:#x}/{m:#x}");
    }
    let name = |i: Iface| match i {
        Iface::Port(p) => s.ports[p.index()].name.clone(),
        Iface::Lo => "lo".into(),
    };
    if let Some(i) = r.iif {
        let _ = write!(c, " iif {}", name(i));
    }
    if let Some(i) = r.oif {
        let _ = write!(c, " oif {}", name(i));
    }
    match r.action {
        RuleAction::Lookup(t) => {
            let _ = write!(c, " lookup {t}");
        }
        RuleAction::Unreachable => c.push_str(" unreachable"),
        RuleAction::Prohibit => c.push_str(" prohibit"),
        RuleAction::Blackhole => c.push_str(" blackhole"),
    }
    c
}

/// Creates the ports as veth pairs (peer `q<i>`, up, so the link has
/// carrier) and loads addresses and routes; rules come after all routes,
/// as they would with `ip` run by hand.
fn load(ns: &Netns, s: &Scenario) {
    ns.sysctl(&[
        ("net.ipv4.ip_forward", "1"),
        ("net.ipv4.conf.all.rp_filter", "0"),
        ("net.ipv4.conf.default.rp_filter", "0"),
        ("net.ipv6.conf.all.forwarding", "1"),
        ("net.ipv6.conf.default.forwarding", "1"),
    ])
    .unwrap_or_else(|e| panic!("sysctl: {e}"));
    // `lo` is up already (`Netns::new`).
    let mut links = String::new();
    for (i, p) in s.ports.iter().enumerate() {
        let _ = writeln!(links, "link add {} type veth peer name q{i}", p.name);
        for dev in [p.name.clone(), format!("q{i}")] {
            let _ = writeln!(links, "link set {dev} addrgenmode none");
            let _ = writeln!(links, "link set {dev} up");
        }
        for a in &p.addresses {
            let nodad = if a.addr().is_ipv6() { " nodad" } else { "" };
            let _ = writeln!(links, "addr add {a} dev {}{nodad}", p.name);
        }
    }
    setup(ns, &[], &links);
    let routes: String = s.routes.iter().map(|r| route_cmd(s, r) + "\n").collect();
    setup(ns, &[], &routes);
    for (flag, v6) in [("-4", false), ("-6", true)] {
        let rules: String = s
            .rules
            .iter()
            .filter(|r| r.from.or(r.to).map(|n| n.addr().is_ipv6()) != Some(!v6))
            .map(|r| rule_cmd(s, r) + "\n")
            .collect();
        setup(ns, &[flag], &rules);
    }
}

/// One `ip route get`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
struct Probe {
    dst: IpAddr,
    /// `from`; for output probes only one of the router's own addresses.
    src: Option<IpAddr>,
    iif: Option<u16>,
    mark: u32,
}

impl Probe {
    fn cmd(&self, s: &Scenario) -> String {
        let mut c = format!("route get {}", self.dst);
        if let Some(a) = self.src {
            let _ = write!(c, " from {a}");
        }
        if let Some(p) = self.iif {
            let _ = write!(c, " iif {}", s.ports[usize::from(p)].name);
        }
        if self.mark != 0 {
            let _ = write!(c, " mark {:#x}", self.mark);
        }
        c
    }

    fn key(&self) -> FlowKey {
        let unspecified = match self.dst {
            IpAddr::V4(_) => IpAddr::V4(Ipv4Addr::UNSPECIFIED),
            IpAddr::V6(_) => IpAddr::V6(Ipv6Addr::UNSPECIFIED),
        };
        FlowKey {
            src: self.src.unwrap_or(unspecified),
            dst: self.dst,
            mark: self.mark,
            iif: self.iif.map(PortId),
            oif: None,
        }
    }
}

/// The kernel's answer, in sluice's terms; `lo` broadcasts (input) carry
/// no port.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Kernel {
    Result(RouteResult),
    BroadcastLo,
    Other(String),
}

fn parse_kernel(s: &Scenario, dst: IpAddr, r: &Result<String, String>) -> Kernel {
    let line = match r {
        Err(e) => {
            return match e.trim_start_matches("RTNETLINK answers: ") {
                "Network is unreachable" => Kernel::Result(RouteResult::NoRoute),
                "No route to host" => Kernel::Result(RouteResult::Unreachable),
                "Permission denied" => Kernel::Result(RouteResult::Prohibit),
                "Invalid argument" => Kernel::Result(RouteResult::Blackhole),
                other => Kernel::Other(other.to_string()),
            }
        }
        Ok(l) => l,
    };
    let t: Vec<&str> = line.split_whitespace().collect();
    let after = |w: &str| {
        t.iter()
            .position(|x| *x == w)
            .and_then(|i| t.get(i + 1))
            .copied()
    };
    let port = |name: Option<&str>| {
        name.and_then(|n| s.ports.iter().position(|p| p.name == n))
            .map(|i| PortId(i as u16))
    };
    match t.first().copied() {
        Some("local") | Some("anycast") => Kernel::Result(RouteResult::Local),
        Some("broadcast") => match port(after("dev")) {
            Some(p) => Kernel::Result(RouteResult::Broadcast { port: p }),
            None => Kernel::BroadcastLo,
        },
        Some(w) if w.parse::<IpAddr>().is_ok() => {
            let next_hop = after("via").and_then(|v| v.parse().ok()).unwrap_or(dst);
            match port(after("dev")) {
                Some(p) => Kernel::Result(RouteResult::Forward { port: p, next_hop }),
                None => Kernel::Other(line.clone()),
            }
        }
        _ => Kernel::Other(line.clone()),
    }
}

/// Runs `probes` against both sides; panics listing every difference.
fn compare(ns: &Netns, s: &Scenario, router: &Router, probes: &[Probe]) -> Stats {
    let script: String = probes.iter().map(|p| p.cmd(s) + "\n").collect();
    let (out, err) = batch(ns, &[], &script);
    let results = batch_results(probes.len(), &out, &err);
    let mut stats = Stats::default();
    let mut diffs = Vec::new();
    for (p, r) in probes.iter().zip(&results) {
        let kernel = parse_kernel(s, p.dst, r);
        let ours = router.lookup(&p.key());
        let same = match &kernel {
            Kernel::Result(k) => *k == ours,
            Kernel::BroadcastLo => matches!(ours, RouteResult::Broadcast { .. }),
            Kernel::Other(_) => false,
        };
        if same {
            stats.agreed += 1;
            *stats.kinds.entry(kind_name(ours)).or_default() += 1;
            continue;
        }
        // fib_validate_source(): a forwarded IPv4 packet whose source routes
        // back to anything but unicast is a martian. Not sluice's job here.
        if kernel == Kernel::Result(RouteResult::Blackhole) && p.iif.is_some() && p.dst.is_ipv4() {
            let back = FlowKey {
                src: p.dst,
                dst: p.key().src,
                mark: 0,
                iif: None,
                oif: None,
            };
            if !matches!(router.lookup(&back), RouteResult::Forward { .. }) {
                stats.martian += 1;
                if std::env::var_os("RT_DEBUG").is_some() {
                    println!(
                        "martian: {} sluice back {:?} fwd {:?}",
                        p.cmd(s),
                        router.decide(&back),
                        router.decide(&p.key())
                    );
                }
                continue;
            }
        }
        diffs.push(format!(
            "{}\n    kernel: {:?} ({r:?})\n    sluice: {:?}",
            p.cmd(s),
            kernel,
            router.decide(&p.key())
        ));
    }
    if !diffs.is_empty() {
        let mut dump = String::new();
        for r in &s.routes {
            let _ = writeln!(dump, "  {}", route_cmd(s, r));
        }
        for r in &s.rules {
            let _ = writeln!(dump, "  {}", rule_cmd(s, r));
        }
        panic!(
            "{} of {} probes differ from the kernel:\n{}\nconfig:\n{dump}",
            diffs.len(),
            probes.len(),
            diffs
                .iter()
                .take(40)
                .cloned()
                .collect::<Vec<_>>()
                .join("\n")
        );
    }
    stats
}

#[derive(Debug, Default)]
struct Stats {
    agreed: usize,
    martian: usize,
    kinds: std::collections::BTreeMap<&'static str, usize>,
}

fn kind_name(r: RouteResult) -> &'static str {
    match r {
        RouteResult::Local => "local",
        RouteResult::Broadcast { .. } => "broadcast",
        RouteResult::Forward { .. } => "forward",
        RouteResult::Unreachable => "unreachable",
        RouteResult::Prohibit => "prohibit",
        RouteResult::Blackhole => "blackhole",
        RouteResult::NoRoute => "no_route",
    }
}

fn is_probe_target(a: IpAddr) -> bool {
    match a {
        IpAddr::V4(a) => {
            let o = a.octets();
            !(o[0] == 0 || o[0] == 127 || o[0] >= 224)
        }
        IpAddr::V6(a) => {
            let s = a.segments();
            !(a.is_unspecified()
                || a.is_loopback()
                || s[0] & 0xff00 == 0xff00
                || s[0] & 0xffc0 == 0xfe80
                || a.to_ipv4_mapped().is_some())
        }
    }
}

fn net(s: &str) -> IpNet {
    s.parse().unwrap()
}

fn ip(s: &str) -> IpAddr {
    s.parse().unwrap()
}

/// First, last and one random address of `n`.
fn addresses_in(n: IpNet, rng: &mut StdRng) -> [IpAddr; 3] {
    match n {
        IpNet::V4(n) => {
            let lo = u32::from(n.network());
            let hi = u32::from(n.broadcast());
            [
                IpAddr::V4(lo.into()),
                IpAddr::V4(hi.into()),
                IpAddr::V4(rng.gen_range(lo..=hi).into()),
            ]
        }
        IpNet::V6(n) => {
            let lo = u128::from(n.network());
            let hi = u128::from(n.broadcast());
            [
                IpAddr::V6(lo.into()),
                IpAddr::V6(hi.into()),
                IpAddr::V6(rng.gen_range(lo..=hi).into()),
            ]
        }
    }
}

/// Probes: for every route and rule prefix, its edges, a random inside
/// and the address after it; the router's own and broadcast addresses; a
/// few far away. Each destination is asked as locally generated (plain,
/// with each rule mark, from an own address) and as forwarded from each
/// port (source on that port's network), marks drawn from the rules.
fn probes(s: &Scenario, seed: u64, per_dst: usize) -> Vec<Probe> {
    let mut rng = StdRng::seed_from_u64(seed);
    let mut dsts: BTreeSet<IpAddr> = BTreeSet::new();
    let mut prefixes: Vec<IpNet> = s.routes.iter().map(|r| r.to).collect();
    prefixes.extend(s.rules.iter().flat_map(|r| [r.from, r.to]).flatten());
    for p in &s.ports {
        prefixes.extend(p.addresses.iter().map(|a| a.trunc()));
        dsts.extend(p.addresses.iter().map(|a| a.addr()));
    }
    for n in prefixes {
        let [a, b, c] = addresses_in(n, &mut rng);
        dsts.extend([a, b, c]);
        match b {
            IpAddr::V4(b) => {
                dsts.insert(IpAddr::V4(u32::from(b).wrapping_add(1).into()));
            }
            IpAddr::V6(b) => {
                dsts.insert(IpAddr::V6(u128::from(b).wrapping_add(1).into()));
            }
        }
    }
    dsts.extend(["8.8.8.8", "198.51.100.1", "2001:db8::1", "2a00::1"].map(ip));
    dsts.retain(|a| is_probe_target(*a));

    let mut marks: Vec<u32> = vec![0];
    marks.extend(s.rules.iter().filter_map(|r| r.fwmark.map(|(v, _)| v)));
    marks.sort_unstable();
    marks.dedup();
    let own: Vec<IpAddr> = s
        .ports
        .iter()
        .flat_map(|p| p.addresses.iter().map(|a| a.addr()))
        .collect();

    let mut out = Vec::new();
    for dst in dsts {
        let v6 = dst.is_ipv6();
        let own_same: Vec<IpAddr> = own.iter().copied().filter(|a| a.is_ipv6() == v6).collect();
        // Always: plain output.
        out.push(Probe {
            dst,
            src: None,
            iif: None,
            mark: 0,
        });
        for _ in 0..per_dst {
            let mark = marks[rng.gen_range(0..marks.len())];
            let probe = match rng.gen_range(0..3) {
                0 => Probe {
                    dst,
                    src: None,
                    iif: None,
                    mark,
                },
                1 if !own_same.is_empty() => Probe {
                    dst,
                    src: Some(own_same[rng.gen_range(0..own_same.len())]),
                    iif: None,
                    mark,
                },
                _ => {
                    let p = rng.gen_range(0..s.ports.len());
                    let nets: Vec<IpNet> = s.ports[p]
                        .addresses
                        .iter()
                        .filter(|a| {
                            a.addr().is_ipv6() == v6 && a.prefix_len() < a.max_prefix_len() - 1
                        })
                        .map(|a| a.trunc())
                        .collect();
                    let src = match nets.first() {
                        // A host on the port's network: not ours, not the
                        // network or broadcast address (martians).
                        Some(n) => {
                            let [first, last, a] = addresses_in(*n, &mut rng);
                            if a == first || a == last || own.contains(&a) {
                                continue;
                            }
                            a
                        }
                        None if v6 => ip("2001:db8:ffff::7"),
                        None => ip("198.18.0.7"),
                    };
                    if own.contains(&src) || !is_probe_target(src) {
                        continue;
                    }
                    Probe {
                        dst,
                        src: Some(src),
                        iif: Some(p as u16),
                        mark,
                    }
                }
            };
            out.push(probe);
        }
    }
    out.sort();
    out.dedup();
    out
}

fn run(name: &str, s: &Scenario, seed: u64, per_dst: usize) {
    if let Some(why) = skip_reason() {
        println!("SKIP {name}: {why}");
        return;
    }
    let ns = match Netns::new() {
        Ok(ns) => ns,
        Err(why) => {
            println!("SKIP {name}: {why}");
            return;
        }
    };
    load(&ns, s);
    let router = Router::build(&s.ports, &s.routes, &s.rules).expect("sluice accepts the config");
    let probes = probes(s, seed, per_dst);
    let stats = compare(&ns, s, &router, &probes);
    println!(
        "{name}: {} probes agree with the kernel ({:?}); {} martian sources not compared",
        stats.agreed, stats.kinds, stats.martian
    );
    assert!(stats.agreed > probes.len() / 2);
}

fn port(name: &str, addrs: &[&str]) -> Port {
    Port {
        name: name.into(),
        addresses: addrs.iter().map(|a| net(a)).collect(),
        line: 0,
    }
}

fn base_ports() -> Vec<Port> {
    vec![
        port("r0", &["10.0.1.1/24", "10.0.1.77/24", "fd00:1::1/64"]),
        port(
            "r1",
            &[
                "10.0.2.1/24",
                "fd00:2::1/64",
                "10.0.5.1/31",
                "fd00:6::1/127",
            ],
        ),
        port(
            "r2",
            &[
                "192.168.100.2/30",
                "10.0.7.1/32",
                "fd00:7::1/128",
                "fd00:3::1/64",
            ],
        ),
    ]
}

/// The branch office of `config/examples/branch-office/sluice.toml` (LAN
/// lan0, fibre wan0 as the default route, LTE wan1 in table 100 for traffic
/// marked 0x1, management mgmt0), with more added in code so that more of
/// routing is compared: IPv6 on both uplinks with a default route each
/// (main and table 100), nested routes to routers on the LAN, one prefix
/// out of both uplinks at different metrics, a route in the `default`
/// table, and rules sending the upper half of the LAN to table 100, a
/// destination to a table without routes, and traffic not both from wan1
/// and marked 0x4 to table 100.
#[test]
fn kernel_agrees_branch_office() {
    let path =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../config/examples/branch-office/sluice.toml");
    let a = sluice_config::appliance::load(&path).unwrap_or_else(|e| panic!("{e}"));
    let Specs {
        mut ports,
        mut routes,
        mut rules,
    } = Specs::from_appliance(&a).unwrap();
    let port = |name: &str| match ports.iter().position(|p| p.name == name) {
        Some(i) => PortId(i as u16),
        None => panic!("{}: no interface {name}", path.display()),
    };
    let (lan0, wan0, wan1) = (port("lan0"), port("wan0"), port("wan1"));
    ports[wan0.index()].addresses.push(net("fd00:2::2/64"));
    ports[wan1.index()].addresses.push(net("fd00:3::2/64"));
    let via = |to: &str, gw: &str| StaticRoute::unicast(net(to), Some(ip(gw)), None, 0);
    routes.extend([
        via("::/0", "fd00:2::1"),
        via("::/0", "fd00:3::1").in_table(100),
        via("10.20.0.0/16", "192.168.10.20"),
        via("10.20.30.0/24", "192.168.10.30"),
        via("192.0.2.0/24", "203.0.113.1").with_metric(10),
        via("192.0.2.0/24", "198.51.100.5").with_metric(5),
        StaticRoute::unicast(net("10.30.0.0/16"), None, Some(lan0), 0)
            .in_table(table::TABLE_DEFAULT),
    ]);
    rules.extend([
        Rule {
            from: Some(net("192.168.10.128/25")),
            ..Rule::lookup(200, 100)
        },
        Rule {
            to: Some(net("100.64.0.0/10")),
            ..Rule::lookup(300, 300)
        },
        Rule {
            not: true,
            iif: Some(Iface::Port(wan1)),
            fwmark: Some((0x4, 0x4)),
            ..Rule::lookup(400, 100)
        },
    ]);
    let s = Scenario {
        ports,
        routes,
        rules,
    };
    run("branch office", &s, 1, 8);
}

/// Route types, throw, the default table, rule actions, `not`, `iif lo`,
/// addresses of every prefix length class, gateways behind `dev` routes.
#[test]
fn kernel_agrees_typed_routes_and_rules() {
    let r = |to: &str, via: Option<&str>, dev: Option<u16>| {
        StaticRoute::unicast(net(to), via.map(ip), dev.map(PortId), 0)
    };
    let t = |to: &str, kind| StaticRoute::typed(net(to), kind, 0);
    let routes = vec![
        r("10.200.0.0/16", None, Some(2)),
        r("10.200.0.0/16", None, Some(1)).with_metric(5),
        r("fd00:200::/32", None, Some(2)),
        r("0.0.0.0/0", Some("10.0.2.254"), None),
        r("::/0", Some("fd00:2::fe"), None),
        r("10.201.0.0/16", Some("10.200.0.1"), None).in_table(100),
        r("fd00:201::/32", Some("fd00:200::1"), None).in_table(100),
        r("0.0.0.0/0", Some("192.168.100.1"), None).in_table(100),
        r("10.60.0.0/16", Some("10.0.5.0"), None),
        r("fd00:60::/32", Some("fd00:6::"), None),
        r("fd00:61::/32", Some("fd00:1::"), None),
        t("10.50.0.0/16", RouteType::Unreachable),
        t("10.51.0.0/16", RouteType::Prohibit),
        t("10.52.0.0/16", RouteType::Blackhole),
        t("10.53.0.0/16", RouteType::Throw),
        t("10.53.7.0/24", RouteType::Unreachable).in_table(100),
        t("fd00:50::/32", RouteType::Unreachable),
        t("fd00:51::/32", RouteType::Prohibit),
        t("fd00:52::/32", RouteType::Blackhole),
        t("fd00:53::/32", RouteType::Throw),
        t("10.54.0.0/16", RouteType::Unreachable).with_metric(10),
        r("10.54.0.0/16", Some("10.0.1.254"), None).with_metric(5),
        r("10.53.0.0/16", Some("10.0.1.254"), None).in_table(253),
        r("10.55.0.0/16", Some("10.0.2.254"), Some(1)).in_table(253),
        t("10.56.0.0/16", RouteType::Throw).in_table(100),
    ];
    let rule = |priority| Rule {
        line: 0,
        ..Rule::lookup(priority, 100)
    };
    let rules = vec![
        Rule {
            fwmark: Some((0x10, 0xf0)),
            ..rule(10)
        },
        Rule {
            not: true,
            iif: Some(Iface::Lo),
            fwmark: Some((0x2, 0x2)),
            ..rule(20)
        },
        Rule {
            to: Some(net("10.57.0.0/16")),
            action: RuleAction::Prohibit,
            ..rule(30)
        },
        Rule {
            to: Some(net("10.58.0.0/16")),
            action: RuleAction::Unreachable,
            ..rule(30)
        },
        Rule {
            to: Some(net("fd00:58::/32")),
            action: RuleAction::Blackhole,
            ..rule(31)
        },
        Rule {
            from: Some(net("10.0.2.0/25")),
            iif: Some(Iface::Port(PortId(1))),
            ..rule(40)
        },
        Rule {
            from: Some(net("fd00:1::/65")),
            ..rule(50)
        },
        Rule {
            fwmark: Some((0x3, 0xffff_ffff)),
            action: RuleAction::Lookup(4242),
            ..rule(60)
        },
    ];
    let mut s = Scenario {
        ports: base_ports(),
        routes,
        rules,
    };
    // Probes also in the rule-only prefixes.
    s.routes.sort_by_key(|r| r.via.is_some());
    run("typed routes and rules", &s, 2, 10);
}

/// Random routes over four tables and random rules, three seeds.
#[test]
fn kernel_agrees_random_configs() {
    for seed in [11, 12, 13] {
        let s = random_scenario(seed);
        run(&format!("random seed {seed}"), &s, seed, 5);
    }
}

fn random_scenario(seed: u64) -> Scenario {
    let mut rng = StdRng::seed_from_u64(seed);
    let ports = base_ports();
    let gw4 = ["10.0.1.254", "10.0.2.254", "192.168.100.1", "10.0.5.0"].map(ip);
    let gw6 = ["fd00:1::fe", "fd00:2::fe", "fd00:3::fe", "fd00:6::"].map(ip);
    let tables = [TABLE_MAIN_ID, 100, 200, 253];
    let mut routes = vec![
        StaticRoute::unicast(net("0.0.0.0/0"), Some(gw4[1]), None, 0),
        StaticRoute::unicast(net("::/0"), Some(gw6[1]), None, 0),
        StaticRoute::unicast(net("0.0.0.0/0"), Some(gw4[2]), None, 0).in_table(100),
        StaticRoute::unicast(net("::/0"), Some(gw6[2]), None, 0).in_table(200),
    ];
    let mut keys: BTreeSet<(u32, IpNet, u32)> = routes
        .iter()
        .map(|r| (r.table, r.to, r.effective_metric()))
        .collect();
    while routes.len() < 70 {
        let v6 = rng.gen_bool(0.3);
        let to = if v6 {
            let len = rng.gen_range(16..=128u8);
            let a = (0xfd10u128 << 112) | (rng.gen::<u128>() >> 16);
            IpNet::new(IpAddr::V6(a.into()), len).unwrap().trunc()
        } else {
            let (base, bits) = if rng.gen_bool(0.5) {
                (0x0a80_0000u32, 9)
            } else {
                (0xac10_0000u32, 12)
            };
            let len = rng.gen_range(bits..=32u8);
            let a = base | (rng.gen::<u32>() >> bits);
            IpNet::new(IpAddr::V4(a.into()), len).unwrap().trunc()
        };
        let table = tables[rng.gen_range(0..tables.len())];
        let metric = [0, 0, 10, 20][rng.gen_range(0..4)];
        let gws = if v6 { &gw6 } else { &gw4 };
        let r = match rng.gen_range(0..10) {
            0..=4 => StaticRoute::unicast(to, Some(gws[rng.gen_range(0..4)]), None, 0),
            5 | 6 => StaticRoute::unicast(to, None, Some(PortId(rng.gen_range(0..3))), 0),
            7 => StaticRoute::typed(to, RouteType::Blackhole, 0),
            8 => StaticRoute::typed(
                to,
                [RouteType::Unreachable, RouteType::Prohibit][rng.gen_range(0..2)],
                0,
            ),
            _ => StaticRoute::typed(to, RouteType::Throw, 0),
        }
        .in_table(table)
        .with_metric(metric);
        if keys.insert((r.table, r.to, r.effective_metric())) {
            routes.push(r);
        }
    }
    // `dev` routes before gateway routes, as `ip route add` needs them.
    routes.sort_by_key(|r| r.via.is_some());

    let mut rules = Vec::new();
    for _ in 0..8 {
        let v6 = rng.gen_bool(0.3);
        let region = |rng: &mut StdRng| -> IpNet {
            if v6 {
                let len = rng.gen_range(16..=64u8);
                let a = (0xfd10u128 << 112) | (rng.gen::<u128>() >> 16);
                IpNet::new(IpAddr::V6(a.into()), len).unwrap().trunc()
            } else {
                let len = rng.gen_range(9..=24u8);
                let a = 0x0a80_0000u32 | (rng.gen::<u32>() >> 9);
                IpNet::new(IpAddr::V4(a.into()), len).unwrap().trunc()
            }
        };
        let lan = if v6 {
            net("fd00:1::/64")
        } else {
            net("10.0.1.0/24")
        };
        let mut r = Rule::lookup(
            rng.gen_range(1..40_000),
            [100, 200, 253, 254, 300][rng.gen_range(0..5)],
        );
        if rng.gen_bool(0.4) {
            r.fwmark = Some((
                rng.gen_range(1..4),
                [0xff, 0x3, 0xffff_ffff][rng.gen_range(0..3)],
            ));
        }
        if rng.gen_bool(0.3) {
            // Part of the LAN.
            let len = lan.prefix_len() + 1;
            let [_, _, a] = addresses_in(lan, &mut rng);
            r.from = Some(IpNet::new(a, len).unwrap().trunc());
        }
        if rng.gen_bool(0.4) {
            r.to = Some(region(&mut rng));
        }
        if rng.gen_bool(0.3) {
            r.iif = Some(match rng.gen_range(0..4) {
                3 => Iface::Lo,
                p => Iface::Port(PortId(p)),
            });
        }
        if r.to.is_some() && rng.gen_bool(0.2) {
            r.action = [
                RuleAction::Prohibit,
                RuleAction::Blackhole,
                RuleAction::Unreachable,
            ][rng.gen_range(0..3)];
        } else if rng.gen_bool(0.15) {
            r.not = true;
        }
        rules.push(r);
    }
    Scenario {
        ports,
        routes,
        rules,
    }
}

const TABLE_MAIN_ID: u32 = table::TABLE_MAIN;

/// `ip route add` and [`Tables::build`] accept and refuse the same routes.
#[test]
fn kernel_agrees_on_which_routes_are_valid() {
    if let Some(why) = skip_reason() {
        println!("SKIP route validity: {why}");
        return;
    }
    let ns = match Netns::new() {
        Ok(ns) => ns,
        Err(why) => {
            println!("SKIP route validity: {why}");
            return;
        }
    };
    let base = Scenario {
        ports: base_ports(),
        routes: vec![StaticRoute::unicast(
            net("10.200.0.0/16"),
            None,
            Some(PortId(2)),
            1,
        )],
        rules: vec![],
    };
    load(&ns, &base);
    let r = |to: &str, via: Option<&str>, dev: Option<u16>| {
        StaticRoute::unicast(net(to), via.map(ip), dev.map(PortId), 2)
    };
    let cases = vec![
        r("10.9.0.0/16", Some("10.0.1.9"), None),
        r("10.9.0.0/16", Some("10.0.9.9"), None),
        r("10.9.0.0/16", Some("10.0.2.9"), Some(0)),
        r("10.9.0.0/16", Some("10.0.2.9"), Some(1)),
        r("10.9.0.0/16", Some("10.0.1.255"), None),
        r("10.9.0.0/16", Some("10.0.1.0"), None),
        r("10.9.0.0/16", Some("10.200.3.4"), None),
        r("10.9.0.0/16", Some("10.200.3.4"), Some(1)),
        r("10.9.0.0/16", Some("10.0.5.0"), None),
        r("10.9.0.0/16", Some("192.168.100.3"), None),
        r("10.9.0.0/16", Some("192.168.100.1"), None).in_table(100),
        r("10.9.0.0/16", Some("10.1.1.1"), None).in_table(100),
        r("10.0.1.0/24", Some("10.0.2.9"), None),
        r("10.0.1.0/24", Some("10.0.2.9"), None).with_metric(1),
        r("10.0.1.0/24", Some("10.0.2.9"), None).in_table(100),
        r("10.200.0.0/16", None, Some(1)),
        r("fd00:9::/32", Some("fd00:1::9"), None),
        r("fd00:9::/32", Some("fd00:9::9"), None),
        r("fd00:9::/32", Some("fd00:1::"), None),
        r("fd00:9::/32", Some("fd00:2::9"), Some(0)),
        r("fd00:9::/32", Some("fe80::1"), Some(0)),
        r("fd00:1::/64", Some("fd00:2::9"), None),
        r("fd00:1::/64", Some("fd00:2::9"), None).with_metric(256),
        r("fd00:7::1/128", Some("fd00:2::9"), None),
    ];
    let mut report = String::new();
    for case in &cases {
        let mut routes = base.routes.clone();
        routes.push(case.clone());
        let ours = Tables::build(&base.ports, &routes);
        let cmd = route_cmd(&base, case);
        let (_, err) = batch(&ns, &[], &format!("{cmd}\n"));
        let kernel_ok = err.trim().is_empty();
        if kernel_ok {
            let del = cmd.replacen("route add", "route del", 1);
            setup(&ns, &[], &format!("{del}\n"));
        }
        let _ = writeln!(
            report,
            "{cmd}: kernel {} / sluice {}",
            if kernel_ok {
                "ok"
            } else {
                err.lines().next().unwrap_or("")
            },
            match &ours {
                Ok(_) => "ok".to_string(),
                Err(e) => e.to_string(),
            }
        );
        assert_eq!(
            ours.is_ok(),
            kernel_ok,
            "{cmd}: kernel says {err:?}, sluice says {ours:?}"
        );
    }
    // The documented difference: Linux accepts one of our own IPv4
    // addresses as a gateway, sluice refuses it.
    let own = r("10.9.0.0/16", Some("10.0.1.1"), None);
    let (_, err) = batch(&ns, &[], &format!("{}\n", route_cmd(&base, &own)));
    assert!(err.trim().is_empty(), "{err}");
    let mut routes = base.routes.clone();
    routes.push(own);
    assert!(matches!(
        Tables::build(&base.ports, &routes),
        Err(RouteError::GatewayIsLocal { .. })
    ));
    println!("{report}");
}
