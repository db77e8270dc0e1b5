//! Two workers with deliberately crossed queues: every original packet of
//! a flow arrives at worker 0 and every reply at worker 1 (an RSS that is
//! not symmetric, and replies to NAT bindings). Flows are still tracked
//! and translated by the worker that owns them, through the handoff
//! rings, and both workers' ledgers balance.

mod common;

use std::collections::BTreeSet;
use std::sync::Arc;

use common::*;
use sluice_dataplane::pipeline::PipelineParams;
use sluice_dataplane::wire;
use sluice_dataplane::worker::handoff_mesh;

fn labs() -> [Lab; 2] {
    let snap = Arc::new(snapshot(GATEWAY_TOML, GATEWAY_RULES, 1));
    let params = PipelineParams {
        workers: 2,
        ..PipelineParams::default()
    };
    let mut labs = [
        Lab::worker(Arc::clone(&snap), params.clone(), 0),
        Lab::worker(snap, params, 1),
    ];
    for (lab, links) in labs.iter_mut().zip(handoff_mesh(2, 256)) {
        lab.w.set_handoff(links);
        for k in 2..=60 {
            lab.neighbour("lan", &format!("10.0.1.{k}"), hmac(k));
        }
        lab.neighbour("wan", "192.0.2.254", hmac(200));
        lab.delta();
    }
    labs
}

/// Polls both workers until neither has anything left to do.
fn settle(labs: &mut [Lab; 2]) {
    for _ in 0..20 {
        for l in labs.iter_mut() {
            l.run();
        }
    }
}

fn udp_of(frame: &[u8]) -> (String, String, u16, u16) {
    let m = wire::parse(frame).unwrap();
    (m.src.to_string(), m.dst.to_string(), m.src_port, m.dst_port)
}

#[test]
fn crossed_queues_keep_every_flow_on_its_owner() {
    let mut labs = labs();
    // 100 UDP flows out, all into worker 0.
    let mut flows = Vec::new();
    for k in 0..100u16 {
        let host = format!("10.0.1.{}", 2 + k % 50);
        let sport = 30000 + k * 7;
        let f = V4::udp(&host, "198.51.100.7", sport, 53, b"q")
            .frame(rmac(0), hmac(2 + (k % 50) as u8));
        labs[0].send("lan", &f);
        flows.push((host, sport));
    }
    settle(&mut labs);
    // They leave by the wan port of whichever worker owns them,
    // masqueraded, each on a distinct port.
    let mut out: Vec<Vec<u8>> = labs[0].recv("wan");
    out.extend(labs[1].recv("wan"));
    assert_eq!(out.len(), 100, "every flow left");
    let mut ports = BTreeSet::new();
    for f in &out {
        let (src, dst, sport, dport) = udp_of(f);
        assert_eq!(
            (src.as_str(), dst.as_str(), dport),
            ("192.0.2.1", "198.51.100.7", 53)
        );
        assert!(ports.insert(sport), "translated port {sport} used twice");
    }
    let handed: u64 = labs
        .iter()
        .map(|l| {
            l.counters()
                .get(sluice_dataplane::packet::Counter::HandoffSent)
        })
        .sum();
    assert!(handed > 0, "worker 0 handed flows to worker 1");
    // Every reply comes in at worker 1.
    for f in &out {
        let (_, _, sport, _) = udp_of(f);
        let r = V4::udp("198.51.100.7", "192.0.2.1", 53, sport, b"a").frame(rmac(1), hmac(200));
        labs[1].send("wan", &r);
    }
    settle(&mut labs);
    let mut back: Vec<Vec<u8>> = labs[0].recv("lan");
    back.extend(labs[1].recv("lan"));
    assert_eq!(
        back.len(),
        100,
        "every reply was de-translated and forwarded"
    );
    let got: BTreeSet<(String, u16)> = back
        .iter()
        .map(|f| {
            let (src, dst, sport, dport) = udp_of(f);
            assert_eq!((src.as_str(), sport), ("198.51.100.7", 53));
            (dst, dport)
        })
        .collect();
    let want: BTreeSet<(String, u16)> = flows.iter().cloned().collect();
    assert_eq!(got, want, "each reply reached its own client and port");
    // A second packet of every flow, again at worker 0: ESTABLISHED on the
    // owner (the FORWARD rule would accept NEW too; check the entries).
    let entries: usize = labs
        .iter()
        .map(|l| l.w.pipeline.state().conntrack.len())
        .sum();
    assert_eq!(entries, 100, "one entry per flow, on one worker");
    for l in labs.iter_mut() {
        l.assert_balanced();
    }
}

#[test]
fn an_arp_reply_on_another_workers_queue_resolves_the_waiting_frames() {
    let mut labs = labs();
    // A LAN host sends to a WAN neighbour nobody has resolved: whichever
    // worker owns the flow queues the frame and sends an ARP request.
    let p = V4::udp("10.0.1.2", "192.0.2.50", 4000, 5000, b"x");
    labs[0].send("lan", &p.frame(rmac(0), hmac(2)));
    settle(&mut labs);
    let asked: Vec<usize> = (0..2)
        .filter(|&w| !labs[w].recv("wan").is_empty())
        .collect();
    assert_eq!(asked.len(), 1, "one worker sent the ARP request");
    let (asker, other) = (asked[0], 1 - asked[0]);
    assert_eq!(labs[asker].w.pipeline.counters().neigh_queued(), 1);
    for l in &mut labs {
        l.delta();
    }
    // The reply lands on the other worker's queue.
    labs[other].send(
        "wan",
        &arp_reply(hmac(50), "192.0.2.50", rmac(1), "192.0.2.1"),
    );
    settle(&mut labs);
    assert_eq!(labs[other].delta().get("handoff.arp_copy"), Some(&1));
    // The asker learnt it from the copy: the waiting frame left,
    // masqueraded, to the resolved MAC; both ledgers balance.
    let out = labs[asker].recv("wan");
    assert_eq!(out.len(), 1, "the waiting frame left");
    assert_eq!(&out[0][..6], &hmac(50).0);
    assert_eq!(labs[asker].w.pipeline.counters().neigh_queued(), 0);
    for l in &mut labs {
        l.assert_balanced();
    }
}
