//! `sluice trace`'s engine on the example configs: the path of described
//! packets (deciding rule, NAT, routing, egress), and the property that
//! what the trace says happens is what a worker's pipeline does with the
//! same frame (differential, random packets over the lab's ruleset).

mod common;

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
    Probe::new(PortId(iif), 6, v4(src), sport, v4(dst), dport)
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

/// What a worker's pipeline did with `probe`'s frame, received on its
/// port, in a fresh lab with every neighbour known: the frames sent per
/// port, the frames punted to the host, the counters that moved.
type Seen = (
    std::collections::BTreeMap<String, Vec<Vec<u8>>>,
    Vec<Vec<u8>>,
    std::collections::BTreeMap<&'static str, u64>,
);

fn pipeline(snap: &Snapshot, probe: &Probe) -> Seen {
    let mut lab = common::Lab::from_snapshot(snap.clone(), Default::default());
    for (port, addr) in [
        ("r0", "10.0.1.2"),
        ("r0", "10.0.1.3"),
        ("r1", "10.0.2.2"),
        ("r2", "10.0.3.2"),
    ] {
        lab.neighbour(port, addr, common::hmac(9));
    }
    lab.delta();
    let mut f = probe.frame();
    f[0..6].copy_from_slice(&common::rmac(probe.iif.0 as u8).0);
    let port = lab.names[probe.iif.0 as usize].clone();
    lab.inject(&port, &f);
    let sent = lab.recv_all();
    let punted = lab.punted().into_iter().map(|(_, f)| f).collect();
    (sent, punted, lab.delta())
}

/// (source, destination) with ports (0 without) of an IPv4 frame.
fn addrs(frame: &[u8]) -> ((IpAddr, u16), (IpAddr, u16)) {
    let m = sluice_dataplane::wire::parse(frame).unwrap();
    let ports = matches!(m.protocol.0, 6 | 17);
    let p = |x: u16| if ports { x } else { 0 };
    ((m.src, p(m.src_port)), (m.dst, p(m.dst_port)))
}

/// Checks `t` against what the pipeline did; `Err` says how they differ.
fn agrees(t: &Trace, snap: &Snapshot, (sent, punted, delta): &Seen) -> Result<(), String> {
    let name = |p: PortId| snap.net.ports[p.0 as usize].name.clone();
    let is_ours = |f: &Vec<u8>| addrs(f) == (t.src, t.dst);
    match t.end {
        TraceEnd::Forwarded { oif, .. } => {
            let out = sent
                .get(&name(oif))
                .map_or(0, |v| v.iter().filter(|f| is_ours(f)).count());
            if out != 1 {
                return Err(format!(
                    "trace: out {} as {:?} -> {:?}",
                    name(oif),
                    t.src,
                    t.dst
                ));
            }
        }
        TraceEnd::Local { .. } => {
            let answered = delta.keys().any(|k| k.starts_with("local.echo"));
            if !answered && !punted.iter().any(is_ours) {
                return Err("trace: delivered locally".into());
            }
        }
        TraceEnd::Dropped(c) => {
            if !delta.contains_key(c.name()) {
                return Err(format!("trace: dropped ({})", c.name()));
            }
            if sent.values().flatten().any(is_ours) || punted.iter().any(is_ours) {
                return Err(format!("trace: dropped ({}), but it went on", c.name()));
            }
        }
    }
    Ok(())
}

mod differential {
    use super::*;
    use proptest::prelude::*;

    const SRC: &[&str] = &[
        "10.0.1.2",
        "10.0.1.3",
        "198.51.100.10",
        "10.0.2.2",
        "10.0.3.2",
        "9.9.9.9",
        "10.0.1.1",
    ];
    const DST: &[&str] = &[
        "10.0.2.1",
        "10.0.1.1",
        "10.0.1.3",
        "198.51.100.10",
        "9.9.9.9",
        "10.0.3.1",
        "10.0.1.2",
    ];
    const PORTS: &[u16] = &[22, 53, 443, 873, 5353, 8080, 8443];

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(256))]

        /// Random NEW packets through the lab example: the trace's end
        /// (forwarded out a port with these addresses after NAT, delivered
        /// locally, or dropped for this reason) is the pipeline's.
        #[test]
        fn trace_agrees_with_the_pipeline_on_the_lab_example(
            iif in 0u16..3,
            proto in prop::sample::select(vec![6u8, 17, 1, 47]),
            src in prop::sample::select(SRC.to_vec()),
            dst in prop::sample::select(DST.to_vec()),
            sport in 1024u16..65535,
            dport in prop::sample::select(PORTS.to_vec()),
            icmp in prop::sample::select(vec![(8u8, 0u8), (0, 0), (3, 3)]),
        ) {
            // A received frame carries no mark: `--mark` is the trace's
            // alone, not compared here (Probe::new's mark is 0).
            let snap = lab_snapshot();
            let ports = matches!(proto, 6 | 17);
            let mut probe = Probe::new(
                PortId(iif),
                proto,
                v4(src),
                if ports { sport } else { 0 },
                v4(dst),
                if ports { dport } else { 0 },
            );
            probe.icmp = icmp;
            let t = trace(&snap, &probe);
            let seen = pipeline(&snap, &probe);
            if let Err(e) = agrees(&t, &snap, &seen) {
                prop_assert!(false, "{e}\nprobe {probe:?}\npipeline {:?} punted {} delta {:?}\n{t:#?}",
                    seen.0.iter().map(|(p, f)| (p, f.iter().map(|f| addrs(f)).collect::<Vec<_>>())).collect::<Vec<_>>(),
                    seen.1.len(), seen.2);
            }
        }
    }

    fn lab_snapshot() -> Snapshot {
        thread_local! {
            static SNAP: Snapshot = example("lab");
        }
        SNAP.with(|s| s.clone())
    }
}

/// Hand-picked packets of every path, compared with the pipeline as the
/// property compares random ones: a port forward, MASQUERADE, REDIRECT
/// to the box, ICMP echo to the box, GRE out of a MASQUERADE uplink, a
/// probe dropped in a user chain, a martian source.
#[test]
fn chosen_packets_agree_with_the_pipeline() {
    let s = example("lab");
    let mut probes = vec![
        tcp(1, "198.51.100.10", 40000, "10.0.2.1", 8443),
        tcp(0, "10.0.1.2", 40001, "198.51.100.10", 443),
        tcp(0, "10.0.1.2", 40002, "9.9.9.9", 53),
        tcp(1, "198.51.100.10", 40003, "10.0.1.3", 22),
        tcp(1, "10.0.1.1", 40004, "10.0.2.1", 22),
    ];
    let mut udp = tcp(0, "10.0.1.2", 40005, "9.9.9.9", 53);
    udp.proto = 17;
    let mut ping = tcp(0, "10.0.1.2", 0, "10.0.1.1", 0);
    ping.proto = 1;
    let mut gre = tcp(0, "10.0.1.2", 0, "198.51.100.10", 0);
    gre.proto = 47;
    probes.extend([udp, ping, gre]);
    for p in probes {
        let t = trace(&s, &p);
        let seen = pipeline(&s, &p);
        if let Err(e) = agrees(&t, &s, &seen) {
            panic!("{e}\nprobe {p:?}\ndelta {:?}\n{t:#?}", seen.2);
        }
    }
}

/// `--state` is given to the rules only where conntrack made an entry:
/// an ICMP error about no known connection is INVALID whatever is asked,
/// and the trace says so; a NOTRACK in raw wins over any state.
#[test]
fn a_state_conntrack_cannot_give_is_reported_as_invalid() {
    let s = example("branch-office");
    let mut p = tcp(1, "8.8.8.8", 0, "203.0.113.2", 0);
    p.proto = 1;
    p.icmp = (3, 3);
    p.state = CtWant::Related;
    let t = trace(&s, &p);
    let ct = t
        .steps
        .iter()
        .find_map(|s| match s {
            TraceStep::Conntrack { state, note, .. } => Some((*state, note.clone())),
            _ => None,
        })
        .unwrap();
    assert_eq!(ct.0, "INVALID", "{}", ct.1);
    assert!(ct.1.contains("cannot be given state RELATED"), "{}", ct.1);
    assert_eq!(t.end, TraceEnd::Dropped(Counter::FilterDrop));
    // NTP from the fibre provider is NOTRACK'd in raw, even when asked
    // for ESTABLISHED.
    let mut ntp = tcp(1, "203.0.113.1", 123, "203.0.113.2", 123);
    ntp.proto = 17;
    ntp.state = CtWant::Established;
    let t = trace(&s, &ntp);
    assert!(t.steps.iter().any(|s| matches!(
        s,
        TraceStep::Conntrack {
            state: "UNTRACKED",
            ..
        }
    )));
}
