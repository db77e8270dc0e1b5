//! `route show` and `rule show` against iproute2: the same ports,
//! addresses, routes and rules loaded into a namespace (veth pairs, `ip
//! addr`, `ip route`, `ip rule`, as bench/tests/route_diff.rs does) and
//! into a `Router`; `ip route show [table T]` and `ip rule show` there
//! must print what the views print here. The kernel's own `lo` routes
//! (127.0.0.0/8 in table local) are left out of its output: sluice has
//! no loopback port.
//!
//! Needs root and iproute2; otherwise prints `SKIP:` and passes.

use std::fmt::Write as _;
use std::net::IpAddr;
use std::path::Path;

use ipnet::IpNet;
use sluice_bench::netns::Netns;
use sluice_control::views::route::{route_show, rule_show};
use sluice_dataplane::route::{
    table, Iface, PortId, RouteType, Router, Rule, RuleAction, Specs, StaticRoute,
};

fn skip() -> bool {
    if let Some(why) = sluice_bench::kernel::skip_reason() {
        eprintln!("SKIP: {why}");
        return true;
    }
    false
}

fn net(s: &str) -> IpNet {
    s.parse().unwrap()
}

fn ip(s: &str) -> IpAddr {
    s.parse().unwrap()
}

fn type_word(k: RouteType) -> &'static str {
    match k {
        RouteType::Unicast => "",
        RouteType::Local => "local ",
        RouteType::Blackhole => "blackhole ",
        RouteType::Unreachable => "unreachable ",
        RouteType::Prohibit => "prohibit ",
        RouteType::Throw => "throw ",
    }
}

/// Loads `s` into `ns` with iproute2.
fn load(ns: &Netns, s: &Specs) {
    let mut script = String::new();
    for (i, p) in s.ports.iter().enumerate() {
        let _ = writeln!(script, "link add {} type veth peer name q{i}", p.name);
        for dev in [p.name.clone(), format!("q{i}")] {
            let _ = writeln!(script, "link set {dev} addrgenmode none");
            let _ = writeln!(script, "link set {dev} up");
        }
        for a in p.addresses.iter().filter(|a| a.addr().is_ipv4()) {
            let _ = writeln!(script, "addr add {a} dev {}", p.name);
        }
    }
    for r in s.routes.iter().filter(|r| r.to.addr().is_ipv4()) {
        let _ = write!(script, "route add {}{}", type_word(r.kind), r.to);
        if let Some(v) = r.via {
            let _ = write!(script, " via {v}");
        }
        if let Some(d) = r.dev {
            let _ = write!(script, " dev {}", s.ports[d.index()].name);
        }
        let _ = write!(script, " table {}", r.table);
        if r.metric != 0 {
            let _ = write!(script, " metric {}", r.metric);
        }
        script.push('\n');
    }
    for r in s
        .rules
        .iter()
        .filter(|r| r.from.or(r.to).map(|n| n.addr().is_ipv6()) != Some(true))
    {
        let _ = write!(script, "-4 rule add priority {}", r.priority);
        if r.not {
            script.push_str(" not");
        }
        if let Some(n) = r.from {
            let _ = write!(script, " from {n}");
        }
        if let Some(n) = r.to {
            let _ = write!(script, " to {n}");
        }
        if let Some((v, m)) = r.fwmark {
            let _ = write!(script, " fwmark {v:#x}/{m:#x}");
        }
        let name = |i: Iface| match i {
            Iface::Port(p) => s.ports[p.index()].name.clone(),
            Iface::Lo => "lo".into(),
        };
        if let Some(i) = r.iif {
            let _ = write!(script, " iif {}", name(i));
        }
        if let Some(i) = r.oif {
            let _ = write!(script, " oif {}", name(i));
        }
        match r.action {
            RuleAction::Lookup(t) => {
                let _ = write!(script, " lookup {t}");
            }
            RuleAction::Unreachable => script.push_str(" unreachable"),
            RuleAction::Prohibit => script.push_str(" prohibit"),
            RuleAction::Blackhole => script.push_str(" blackhole"),
        }
        script.push('\n');
    }
    // `-4 rule` is not a batch command; run rules with -4 set globally.
    let (rules, rest): (Vec<&str>, Vec<&str>) =
        script.lines().partition(|l| l.starts_with("-4 rule"));
    let o = ns.batch(&[], &(rest.join("\n") + "\n")).unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let rules: String = rules
        .iter()
        .map(|l| format!("{}\n", l.trim_start_matches("-4 ")))
        .collect();
    let o = ns.batch(&["-4"], &rules).unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
}

fn compare(label: &str, s: &Specs) -> usize {
    let router = Router::build(&s.ports, &s.routes, &s.rules).unwrap();
    let ns = Netns::new().unwrap();
    load(&ns, s);
    let mut tables: Vec<u32> = router.tables().iter().map(|(id, _)| id).collect();
    tables.sort_unstable();
    let mut lines = 0;
    for t in tables {
        let got = route_show(&router, &s.ports, Some(t));
        let want = match ns.ip(&["route", "show", "table", &t.to_string()]) {
            Ok(out) => out
                .lines()
                .filter(|l| !l.contains(" dev lo "))
                .map(|l| format!("{l}\n"))
                .collect::<String>(),
            Err(e) => {
                assert!(e.contains("FIB table does not exist"), "{e}");
                let msg = got.expect_err("no such table").to_string();
                assert!(e.contains(&msg), "{label}: table {t}: {e} / {msg}");
                continue;
            }
        };
        assert_eq!(got.unwrap(), want, "{label}: ip route show table {t}");
        lines += want.lines().count();
    }
    let want: String = ns
        .ip(&["-4", "route", "show", "table", "all"])
        .unwrap()
        .lines()
        .filter(|l| !l.contains(" dev lo "))
        .map(|l| format!("{l}\n"))
        .collect();
    assert_eq!(
        route_show(&router, &s.ports, None).unwrap(),
        want,
        "{label}: ip route show table all"
    );
    let want = ns.ip(&["rule", "show"]).unwrap();
    assert_eq!(rule_show(&router), want, "{label}: ip rule show");
    lines + want.lines().count()
}

#[test]
fn route_and_rule_show_equal_iproute2() {
    if skip() {
        return;
    }
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let mut n = 0;
    for ex in ["branch-office", "lab"] {
        let a =
            sluice_config::appliance::load(&root.join(format!("config/examples/{ex}/sluice.toml")))
                .unwrap();
        let s = Specs::from_appliance(&a).unwrap();
        n += compare(ex, &s);
    }
    // The branch office with every route type, metrics, dev routes, the
    // default table and rules with each selector.
    let a = sluice_config::appliance::load(&root.join("config/examples/branch-office/sluice.toml"))
        .unwrap();
    let mut s = Specs::from_appliance(&a).unwrap();
    let port = |name: &str| PortId(s.ports.iter().position(|p| p.name == name).unwrap() as u16);
    let (lan0, wan1) = (port("lan0"), port("wan1"));
    s.ports[lan0.index()]
        .addresses
        .push(net("192.168.10.77/24"));
    s.ports[lan0.index()].addresses.push(net("10.7.7.1/32"));
    s.ports[wan1.index()].addresses.push(net("10.5.5.0/31"));
    let via = |to: &str, gw: &str| StaticRoute::unicast(net(to), Some(ip(gw)), None, 0);
    s.routes.extend([
        via("10.20.0.0/16", "192.168.10.20"),
        via("10.20.30.0/24", "192.168.10.30"),
        via("10.20.30.0/24", "192.168.10.31").with_metric(7),
        via("192.0.2.0/24", "203.0.113.1").with_metric(10),
        via("192.0.2.0/24", "198.51.100.5").with_metric(5),
        via("10.9.9.9/32", "192.168.10.9"),
        StaticRoute::unicast(net("10.30.0.0/16"), None, Some(lan0), 0)
            .in_table(table::TABLE_DEFAULT),
        StaticRoute::unicast(net("10.31.0.0/16"), None, Some(lan0), 0).with_metric(3),
        StaticRoute::typed(net("10.40.0.0/16"), RouteType::Blackhole, 0),
        StaticRoute::typed(net("10.41.0.0/16"), RouteType::Unreachable, 0).in_table(100),
        StaticRoute::typed(net("10.42.0.0/16"), RouteType::Prohibit, 0).with_metric(2),
        StaticRoute::typed(net("10.43.0.0/16"), RouteType::Throw, 0).in_table(100),
    ]);
    s.rules.extend([
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
        Rule {
            from: Some(net("10.1.2.3/32")),
            oif: Some(Iface::Port(lan0)),
            fwmark: Some((0x7, u32::MAX)),
            ..Rule::lookup(500, table::TABLE_MAIN)
        },
        Rule {
            iif: Some(Iface::Lo),
            action: RuleAction::Blackhole,
            ..Rule::lookup(600, 0)
        },
        Rule {
            to: Some(net("10.66.0.0/16")),
            action: RuleAction::Unreachable,
            ..Rule::lookup(601, 0)
        },
        Rule {
            to: Some(net("10.67.0.0/16")),
            action: RuleAction::Prohibit,
            ..Rule::lookup(602, 0)
        },
        Rule {
            from: Some(net("10.68.0.0/16")),
            ..Rule::lookup(603, table::TABLE_DEFAULT)
        },
    ]);
    n += compare("branch-office, every type", &s);
    eprintln!("{n} lines equal to iproute2's");
}
