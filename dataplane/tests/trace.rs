//! `sluice trace`'s engine on the example configs: the path of described
//! packets (deciding rule, NAT, routing, egress), and the property that
//! the traced verdict is the packet path's.

use std::net::{IpAddr, Ipv4Addr};
use std::path::Path;

use sluice_dataplane::packet::Counter;
use sluice_dataplane::route::PortId;
use sluice_dataplane::rules::RulesParams;
use sluice_dataplane::snapshot::Snapshot;
use sluice_dataplane::trace::{trace, CtWant, Probe, Trace, TraceEnd, TraceStep};

fn example(name: &str) -> Snapshot {
    let p = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../config/examples")
        .join(name)
        .join("sluice.toml");
    let b = sluice_config::bundle::load(&p).unwrap();
    Snapshot::build(&b.appliance, &b.rules, &b.sets, RulesParams::default(), 1).unwrap()
}

fn v4(s: &str) -> Ipv4Addr {
    s.parse().unwrap()
}

fn tcp(iif: u16, src: &str, sport: u16, dst: &str, dport: u16) -> Probe {
    Probe {
        iif: PortId(iif),
        proto: 6,
        src: v4(src),
        dst: v4(dst),
        sport,
        dport,
        tcp_flags: None,
        icmp: (8, 0),
        mark: 0,
        state: CtWant::New,
    }
}

/// The line of the rule that decided `hook`'s `table`: the last matched.
fn decided(t: &Trace, hook: &str, table: &str) -> String {
    for s in &t.steps {
        if let TraceStep::Table {
            hook: h,
            table: tb,
            lines,
            ..
        } = s
        {
            if format!("{h:?}").eq_ignore_ascii_case(hook) && tb.name() == table {
                return lines
                    .iter()
                    .rev()
                    .find(|l| l.matched)
                    .map(|l| format!("{} {}", l.text, l.then))
                    .unwrap_or_default();
            }
        }
    }
    panic!("no {hook} {table} in {t:#?}")
}

#[test]
fn lab_dnat_port_forward_is_forwarded_to_the_lan_server() {
    let s = example("lab");
    // From the uplink (r1) to the port forward 10.0.2.1:8443.
    let t = trace(&s, &tcp(1, "198.51.100.10", 40000, "10.0.2.1", 8443));
    println!("{t:#?}");
    assert!(decided(&t, "prerouting", "nat").contains("-j DNAT --to-destination 10.0.1.3:8080"));
    assert_eq!(
        t.end,
        TraceEnd::Forwarded {
            oif: PortId(0),
            next_hop: IpAddr::V4(v4("10.0.1.3"))
        }
    );
    assert_eq!(t.dst, (IpAddr::V4(v4("10.0.1.3")), 8080));
    assert!(decided(&t, "forward", "filter").contains("--ctstate DNAT -j ACCEPT ACCEPT"));
}

#[test]
fn lab_lan_to_internet_is_masqueraded_out_of_r1() {
    let s = example("lab");
    let t = trace(&s, &tcp(0, "10.0.1.2", 40000, "198.51.100.10", 443));
    assert!(decided(&t, "forward", "filter").contains("-A FORWARD -i r0 -o r1 -j ACCEPT"));
    assert!(decided(&t, "postrouting", "nat").contains("-o r1 -j MASQUERADE"));
    assert_eq!(t.src, (IpAddr::V4(v4("10.0.2.1")), 40000));
    assert!(t.port_kept);
    assert!(matches!(t.end, TraceEnd::Forwarded { oif: PortId(1), .. }));
}

#[test]
fn lab_probe_from_the_uplink_is_logged_and_dropped_in_a_user_chain() {
    let s = example("lab");
    let t = trace(&s, &tcp(1, "198.51.100.10", 40000, "10.0.1.3", 22));
    assert_eq!(t.end, TraceEnd::Dropped(Counter::FilterDrop));
    let d = decided(&t, "forward", "filter");
    assert!(d.starts_with("-A LOG_AND_DROP -j DROP"), "{d}");
}

#[test]
fn lab_rsync_is_marked_and_policy_routed_out_of_r2() {
    let s = example("lab");
    let t = trace(&s, &tcp(0, "10.0.1.2", 40000, "198.51.100.10", 873));
    assert_eq!(t.mark & 0xff, 1);
    let route = t
        .steps
        .iter()
        .find_map(|s| match s {
            TraceStep::Route { decision, .. } => Some(*decision),
            _ => None,
        })
        .unwrap();
    assert_eq!(route.priority, Some(100));
    assert_eq!(route.table, Some(100));
    assert!(matches!(t.end, TraceEnd::Forwarded { oif: PortId(2), .. }));
    assert_eq!(t.src.0, IpAddr::V4(v4("10.0.3.1")));
}

#[test]
fn lab_ssh_to_the_box_is_local_and_established_skips_nat() {
    let s = example("lab");
    let t = trace(&s, &tcp(0, "10.0.1.3", 40000, "10.0.1.1", 22));
    assert!(matches!(t.end, TraceEnd::Local { .. }));
    assert!(
        decided(&t, "input", "filter").contains("--dport 22 -m conntrack --ctstate NEW -j ACCEPT")
    );
    let mut p = tcp(1, "198.51.100.10", 443, "10.0.2.1", 40000);
    p.state = CtWant::Established;
    let t = trace(&s, &p);
    assert!(decided(&t, "input", "filter").contains("RELATED,ESTABLISHED -j ACCEPT"));
    let nat_ran = t
        .steps
        .iter()
        .any(|s| matches!(s, TraceStep::Table { table, ran: true, .. } if table.name() == "nat"));
    assert!(!nat_ran);
}
