//! Conntrack in the pipeline, sluice alone: what the differential suite
//! (bench/tests/differential.rs) cannot compare with the kernel.
//!
//! A full table: `nf_conntrack_max` is read-only in a network namespace
//! (it is init_net's, global), so the kernel side of the suite cannot be
//! given a small table without changing the host's. The kernel's rule
//! (`__nf_conntrack_alloc` → `early_drop`): a new entry over the limit
//! first evicts a confirmed entry that is not ASSURED from near the new
//! tuple's hash bucket, else the packet is dropped; ASSURED entries are
//! never evicted to make room.

mod common;

use std::path::Path;
use std::time::Duration;

use common::*;
use sluice_dataplane::conntrack::status;
use sluice_dataplane::pipeline::{PipelineParams, Snapshot};
use sluice_dataplane::rules::RulesParams;

const TOML: &str = r#"
[[interface]]
name = "lan"
address = ["10.0.1.1/24"]

[[interface]]
name = "wan"
address = ["10.0.2.1/24"]
"#;

/// The LAN masqueraded, only replies back.
const RULES: &str = "*nat\n:PREROUTING ACCEPT [0:0]\n:INPUT ACCEPT [0:0]\n\
    :OUTPUT ACCEPT [0:0]\n:POSTROUTING ACCEPT [0:0]\n\
    -A POSTROUTING -o wan -j MASQUERADE\nCOMMIT\n\
    *filter\n:INPUT DROP [0:0]\n:FORWARD DROP [0:0]\n:OUTPUT ACCEPT [0:0]\n\
    -A FORWARD -m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT\n\
    -A FORWARD -i lan -o wan -j ACCEPT\nCOMMIT\n";

const HOST: &str = "10.0.1.10";
const PEER: &str = "10.0.2.5";

fn lab(conntrack_max: usize) -> Lab {
    let a = sluice_config::appliance::parse(TOML, Path::new("test.toml")).unwrap();
    let rs = sluice_config::iptables::parse(RULES, Path::new("test.rules")).unwrap();
    let snap = Snapshot::build(&a, &rs, &Default::default(), RulesParams::default(), 1).unwrap();
    let params = PipelineParams {
        conntrack_max,
        ..PipelineParams::default()
    };
    let mut lab = Lab::from_snapshot(snap, params);
    lab.neighbour("lan", HOST, hmac(10));
    lab.neighbour("wan", PEER, hmac(5));
    lab.delta();
    lab
}

/// A datagram of the flow from `HOST:sport` out; the frames that left.
fn out(lab: &mut Lab, sport: u16) -> Vec<Vec<u8>> {
    let f = V4::udp(HOST, PEER, sport, 53, b"q").frame(rmac(0), hmac(10));
    lab.inject("lan", &f);
    lab.recv("wan")
}

/// The peer's answer to the masqueraded flow from `sport`; the frames that
/// left.
fn back(lab: &mut Lab, sport: u16) -> Vec<Vec<u8>> {
    let f = V4::udp(PEER, "10.0.2.1", 53, sport, b"a").frame(rmac(1), hmac(5));
    lab.inject("wan", &f);
    lab.recv("lan")
}

/// A UDP flow that is ASSURED: answered, and still going more than two
/// seconds after its first packet (`nf_conntrack_udp_packet`).
fn assured_flow(lab: &mut Lab, sport: u16) {
    assert_eq!(out(lab, sport).len(), 1);
    assert_eq!(back(lab, sport).len(), 1);
    lab.advance(Duration::from_secs(3));
    assert_eq!(out(lab, sport).len(), 1);
}

/// The source ports (LAN side) of the entries, with whether each is
/// ASSURED.
fn entries(lab: &Lab) -> Vec<(u16, bool)> {
    let mut v: Vec<(u16, bool)> = lab
        .w
        .pipeline
        .state()
        .conntrack
        .iter()
        .map(|(_, e)| (e.tuple[0].sport, e.status & status::ASSURED != 0))
        .collect();
    v.sort();
    v
}

#[test]
fn full_table_evicts_unassured_entries_and_keeps_assured_flows() {
    let mut lab = lab(4);
    assured_flow(&mut lab, 1001);
    assured_flow(&mut lab, 1002);
    assert_eq!(out(&mut lab, 2001).len(), 1);
    assert_eq!(out(&mut lab, 2002).len(), 1);
    assert_eq!(
        entries(&lab),
        vec![(1001, true), (1002, true), (2001, false), (2002, false)]
    );
    lab.delta();
    // New flows into the full table: each evicts an unassured entry
    // (counted `conntrack.early_drop`) and goes out, or finds none near
    // its hash and is dropped (`conntrack.table_full`). Never an assured
    // one.
    let (mut evicted, mut dropped) = (0, 0);
    for sport in 3000..3040 {
        let sent = out(&mut lab, sport);
        let d = lab.delta();
        match (
            d.get("conntrack.early_drop").copied(),
            d.get("conntrack.table_full").copied(),
        ) {
            (Some(1), None) => {
                assert_eq!(sent.len(), 1, "flow {sport} admitted but not sent");
                evicted += 1;
            }
            (None, Some(1)) => {
                assert!(sent.is_empty(), "flow {sport} dropped but sent");
                dropped += 1;
            }
            other => panic!("flow {sport}: {other:?} ({d:?})"),
        }
        let e = entries(&lab);
        assert!(e.len() <= 4, "{e:?}");
        assert!(
            e.contains(&(1001, true)) && e.contains(&(1002, true)),
            "an assured entry was evicted for flow {sport}: {e:?}"
        );
    }
    assert!(evicted > 0, "no eviction at all ({dropped} dropped)");
    // The assured flows still work both ways, translated.
    for sport in [1001, 1002] {
        let f = back(&mut lab, sport);
        assert_eq!(f.len(), 1, "reply to {sport}");
        let m = sluice_dataplane::wire::parse(&f[0]).unwrap();
        assert_eq!((m.dst, m.dst_port), (ip(HOST), sport));
        assert_eq!(out(&mut lab, sport).len(), 1);
    }
    lab.assert_balanced();
}

#[test]
fn full_table_of_assured_entries_drops_new_flows() {
    let mut lab = lab(2);
    assured_flow(&mut lab, 1001);
    assured_flow(&mut lab, 1002);
    lab.delta();
    assert!(out(&mut lab, 3000).is_empty());
    assert_eq!(
        lab.delta(),
        counts(&[
            ("rx.frames", 1),
            ("conntrack.table_full", 1),
            ("conntrack.unconfirmed_dropped", 0),
        ])
        .into_iter()
        .filter(|(_, v)| *v != 0)
        .collect()
    );
    assert_eq!(entries(&lab), vec![(1001, true), (1002, true)]);
    assert_eq!(back(&mut lab, 1001).len(), 1);
    assert_eq!(back(&mut lab, 1002).len(), 1);
    lab.assert_balanced();
}
