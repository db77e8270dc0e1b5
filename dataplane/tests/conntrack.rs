//! Conntrack and NAT under pressure, through the whole pipeline: more
//! flows than `conntrack_max`, with assured flows that must keep working.

mod common;

use std::sync::Arc;
use std::time::Duration;

use common::*;
use sluice_dataplane::packet::Counter;
use sluice_dataplane::pipeline::PipelineParams;
use sluice_dataplane::wire;

const MAX: usize = 1000;

fn lab() -> Lab {
    lab_of(MAX)
}

fn lab_of(conntrack_max: usize) -> Lab {
    let snap = Arc::new(snapshot(GATEWAY_TOML, GATEWAY_RULES, 1));
    let params = PipelineParams {
        conntrack_max,
        ..PipelineParams::default()
    };
    let mut lab = Lab::worker(snap, params, 0);
    for k in 2..=250 {
        lab.neighbour("lan", &format!("10.0.1.{k}"), hmac(k));
    }
    lab.neighbour("wan", "192.0.2.254", hmac(1));
    lab.delta();
    lab
}

fn out(host: u8, sport: u16) -> Vec<u8> {
    V4::udp(&format!("10.0.1.{host}"), "198.51.100.7", sport, 53, b"q").frame(rmac(0), hmac(host))
}

fn reply(port: u16) -> Vec<u8> {
    V4::udp("198.51.100.7", "192.0.2.1", 53, port, b"a").frame(rmac(1), hmac(1))
}

#[test]
fn more_flows_than_the_table_holds() {
    let mut lab = lab();
    // 100 flows made ASSURED: out, reply, and out again after 3 s.
    let mut assured = Vec::new();
    for k in 0..100u16 {
        lab.inject("lan", &out(2 + (k % 10) as u8, 20000 + k));
        let f = lab.recv("wan");
        assert_eq!(f.len(), 1);
        let port = wire::parse(&f[0]).unwrap().src_port;
        lab.inject("wan", &reply(port));
        assert_eq!(lab.recv("lan").len(), 1, "reply of flow {k}");
        assured.push((2 + (k % 10) as u8, 20000 + k, port));
    }
    lab.advance(Duration::from_secs(3));
    for &(h, s, _) in &assured {
        lab.inject("lan", &out(h, s));
    }
    assert_eq!(lab.recv("wan").len(), 100);
    lab.delta();
    // 5 000 unreplied flows, in batches, through a table of 1 000.
    let (mut sent, mut forwarded) = (0, 0);
    for round in 0..50u16 {
        for k in 0..100u16 {
            lab.send("lan", &out(20 + (k % 200) as u8, 40000 + round * 100 + k));
            sent += 1;
        }
        lab.run();
        forwarded += lab.recv("wan").len();
    }
    let d = lab.delta();
    let get = |c: &str| d.get(c).copied().unwrap_or(0);
    assert!(get("conntrack.early_drop") > 0, "{d:?}");
    assert_eq!(
        forwarded as u64 + get("conntrack.table_full"),
        sent as u64,
        "{d:?}"
    );
    assert!(lab.w.pipeline.state().conntrack.len() <= MAX);
    // Every assured flow survived: its replies are still de-translated.
    for &(h, s, port) in &assured {
        lab.inject("wan", &reply(port));
        let back = lab.recv("lan");
        assert_eq!(back.len(), 1, "assured flow {h}:{s} lost");
        let m = wire::parse(&back[0]).unwrap();
        assert_eq!((m.dst.to_string(), m.dst_port), (format!("10.0.1.{h}"), s));
    }
    lab.assert_balanced();
    let c = lab.counters();
    assert!(c.get(Counter::CtNew) >= 1000);
}

/// A table full of ASSURED entries has nothing to evict (the kernel's
/// `early_drop` passes them over): a new flow is dropped, the assured ones
/// keep working. (The kernel side of the differential suite cannot have a
/// small table: `nf_conntrack_max` is read-only in a network namespace.)
#[test]
fn a_table_of_assured_flows_drops_new_ones() {
    let mut lab = lab_of(2);
    let mut ports = Vec::new();
    for s in [1001, 1002] {
        lab.inject("lan", &out(2, s));
        let f = lab.recv("wan");
        let port = wire::parse(&f[0]).unwrap().src_port;
        lab.inject("wan", &reply(port));
        assert_eq!(lab.recv("lan").len(), 1);
        ports.push((s, port));
    }
    lab.advance(Duration::from_secs(3));
    for &(s, _) in &ports {
        lab.inject("lan", &out(2, s));
        assert_eq!(lab.recv("wan").len(), 1);
    }
    assert!(lab
        .w
        .pipeline
        .state()
        .conntrack
        .iter()
        .all(|(_, e)| e.status & sluice_dataplane::conntrack::status::ASSURED != 0));
    lab.delta();
    lab.inject("lan", &out(3, 3000));
    assert!(lab.recv("wan").is_empty());
    assert_eq!(
        lab.delta(),
        counts(&[("rx.frames", 1), ("conntrack.table_full", 1)])
    );
    for &(s, port) in &ports {
        lab.inject("wan", &reply(port));
        let back = lab.recv("lan");
        assert_eq!(back.len(), 1, "assured flow {s} lost");
        assert_eq!(wire::parse(&back[0]).unwrap().dst_port, s);
    }
    lab.assert_balanced();
}

#[test]
fn masqueraded_flows_die_with_their_address() {
    let mut lab = lab();
    lab.inject("lan", &out(2, 5555));
    let f = lab.recv("wan");
    assert_eq!(wire::parse(&f[0]).unwrap().src.to_string(), "192.0.2.1");
    assert_eq!(lab.w.pipeline.state().conntrack.len(), 1);
    // The same box with another address on wan (an apply): the binding
    // through 192.0.2.1 is gone, as the kernel's masquerade notifier
    // removes it; a new packet of the flow is masqueraded afresh.
    let moved = GATEWAY_TOML.replace("192.0.2.1/24", "192.0.2.9/24");
    lab.w
        .pipeline
        .set_snapshot(Arc::new(snapshot(&moved, GATEWAY_RULES, 2)));
    assert_eq!(lab.w.pipeline.state().conntrack.len(), 0);
    lab.inject("lan", &out(2, 5555));
    let f = lab.recv("wan");
    assert_eq!(f.len(), 1);
    assert_eq!(wire::parse(&f[0]).unwrap().src.to_string(), "192.0.2.9");
    lab.assert_balanced();
}

#[test]
fn entries_expire_without_traffic() {
    let mut lab = lab();
    lab.inject("lan", &out(2, 5555));
    lab.recv("wan");
    assert_eq!(lab.w.pipeline.state().conntrack.len(), 1);
    // An unreplied UDP flow lives 30 s: still there at 29 s, gone after
    // 31 s with nothing but poll turns.
    lab.advance(Duration::from_secs(29));
    assert_eq!(lab.w.pipeline.state().conntrack.len(), 1);
    lab.advance(Duration::from_secs(2));
    assert_eq!(lab.w.pipeline.state().conntrack.len(), 0);
    assert_eq!(lab.delta().get("conntrack.expired"), Some(&1));
}

/// `datagram` (an IPv4 packet without options) cut in two at `at` bytes
/// of its payload (a multiple of 8), as Ethernet frames.
fn fragments(datagram: &[u8], at: usize) -> [Vec<u8>; 2] {
    let payload = &datagram[20..];
    let piece = |off: usize, data: &[u8], more: bool| {
        let mut ip = datagram[..20].to_vec();
        ip.extend_from_slice(data);
        let len = ip.len() as u16;
        ip[2..4].copy_from_slice(&len.to_be_bytes());
        let fo = ((off / 8) as u16) | if more { 0x2000 } else { 0 };
        ip[6..8].copy_from_slice(&fo.to_be_bytes());
        ip[10] = 0;
        ip[11] = 0;
        let c = sluice_dataplane::wire::checksum::checksum(&ip[..20]);
        ip[10..12].copy_from_slice(&c.to_be_bytes());
        eth(
            rmac(1),
            hmac(1),
            sluice_dataplane::wire::EtherType::IPV4,
            &ip,
        )
    };
    [
        piece(0, &payload[..at], true),
        piece(at, &payload[at..], false),
    ]
}

#[test]
fn later_fragments_follow_the_first_ones_entry() {
    let mut lab = lab();
    lab.inject("lan", &out(2, 5555));
    let f = lab.recv("wan");
    let port = wire::parse(&f[0]).unwrap().src_port;
    // A 1 200-byte answer in two fragments: the reply is ESTABLISHED,
    // both pieces are forwarded with the address translated back.
    let big = V4::udp("198.51.100.7", "192.0.2.1", 53, port, &[7u8; 1200])
        .df(false)
        .ip();
    let [a, b] = fragments(&big, 1000);
    lab.send("wan", &a);
    lab.send("wan", &b);
    lab.run();
    let back = lab.recv("lan");
    assert_eq!(back.len(), 2, "{:?}", lab.delta());
    for (k, fr) in back.iter().enumerate() {
        let m = wire::parse(fr).unwrap();
        assert_eq!(m.dst.to_string(), "10.0.1.2", "fragment {k}");
        // The IPv4 header checksum still verifies.
        assert_eq!(sluice_dataplane::wire::checksum::checksum(&fr[14..34]), 0);
    }
    assert_eq!(wire::parse(&back[0]).unwrap().dst_port, 5555);
    // A later fragment of a datagram whose first one never came: INVALID,
    // dropped by the policy.
    let other = V4::udp("198.51.100.7", "192.0.2.1", 53, port, &[7u8; 1200])
        .df(false)
        .ident(0x4444)
        .ip();
    let [_, lone] = fragments(&other, 1000);
    lab.inject("wan", &lone);
    assert!(lab.recv("lan").is_empty());
    lab.assert_balanced();
}
