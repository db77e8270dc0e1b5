//! The shard over test batches: states, confirm, deferral, expiry, early
//! drop, ICMP errors, and the read side.

use std::net::Ipv4Addr;
use std::time::{Duration, Instant};

use super::view::{Channel, Filter, Reply, Request};
use super::*;
use crate::packet::testing::TestBatch;
use crate::packet::{Dest, L2Class};
use crate::wire::checksum;

fn ipv4(src: Ipv4Addr, dst: Ipv4Addr, proto: u8, l4: &[u8]) -> Vec<u8> {
    let mut f = vec![0u8; 14 + 20 + l4.len()];
    f[..6].copy_from_slice(&[2, 0, 0, 0, 0, 1]);
    f[6..12].copy_from_slice(&[2, 0, 0, 0, 0, 2]);
    f[12] = 0x08;
    let ip = &mut f[14..34];
    ip[0] = 0x45;
    ip[2..4].copy_from_slice(&((20 + l4.len()) as u16).to_be_bytes());
    ip[8] = 64;
    ip[9] = proto;
    ip[12..16].copy_from_slice(&src.octets());
    ip[16..20].copy_from_slice(&dst.octets());
    let c = checksum::checksum(&f[14..34]);
    f[24..26].copy_from_slice(&c.to_be_bytes());
    f[34..].copy_from_slice(l4);
    f
}

fn udp(src: &str, dst: &str, sport: u16, dport: u16) -> Vec<u8> {
    let (s, d): (Ipv4Addr, Ipv4Addr) = (src.parse().unwrap(), dst.parse().unwrap());
    let mut u = vec![0u8; 12];
    u[..2].copy_from_slice(&sport.to_be_bytes());
    u[2..4].copy_from_slice(&dport.to_be_bytes());
    u[4..6].copy_from_slice(&12u16.to_be_bytes());
    u[8..].copy_from_slice(b"data");
    let c = checksum::udp_wire(checksum::transport(&s.into(), &d.into(), 17, &u));
    u[6..8].copy_from_slice(&c.to_be_bytes());
    ipv4(s, d, 17, &u)
}

fn icmp(src: &str, dst: &str, ty: u8, code: u8, rest: [u8; 4], data: &[u8]) -> Vec<u8> {
    let mut m = vec![ty, code, 0, 0];
    m.extend_from_slice(&rest);
    m.extend_from_slice(data);
    let c = checksum::checksum(&m);
    m[2..4].copy_from_slice(&c.to_be_bytes());
    ipv4(src.parse().unwrap(), dst.parse().unwrap(), 1, &m)
}

/// Runs conntrack input over `frames` as one batch, then confirms every
/// packet still alive whose index is in `confirm` and ends the batch.
/// Returns each packet's state and the deferred mask.
fn run(sh: &mut Shard, now: Instant, frames: &[Vec<u8>], confirm: u64) -> (Vec<CtState>, u64) {
    let mut tb = TestBatch::new(now);
    for f in frames {
        tb.push(f, None, None, Dest::Forward, L2Class::Host);
    }
    let d = sh.input(&mut tb.batch(), true, Families::V4);
    let states = (0..frames.len()).map(|i| tb.pkt(i).ct).collect();
    tb.buf.live &= confirm & !d;
    sh.confirm(&mut tb.batch());
    sh.end_batch(&|_| false);
    (states, d)
}

fn info(s: CtState) -> Option<CtInfo> {
    match s {
        CtState::Tracked { info, .. } => Some(info),
        _ => None,
    }
}

#[test]
fn udp_new_then_reply_then_established() {
    let mut sh = Shard::new(64, Config::default());
    let t0 = Instant::now();
    let out = udp("10.0.1.2", "10.0.2.2", 4000, 53);
    let back = udp("10.0.2.2", "10.0.1.2", 53, 4000);
    let (s, _) = run(&mut sh, t0, std::slice::from_ref(&out), !0);
    assert_eq!(info(s[0]), Some(CtInfo::New));
    assert_eq!(sh.len(), 1);
    // Same direction again before a reply: still NEW.
    let (s, _) = run(&mut sh, t0, std::slice::from_ref(&out), !0);
    assert_eq!(info(s[0]), Some(CtInfo::New));
    let (s, _) = run(&mut sh, t0, &[back], !0);
    assert_eq!(info(s[0]), Some(CtInfo::EstablishedReply));
    let (s, _) = run(&mut sh, t0, std::slice::from_ref(&out), !0);
    assert_eq!(info(s[0]), Some(CtInfo::Established));
    let (slot, e) = sh.iter().next().unwrap();
    assert!(e.has(status::SEEN_REPLY | status::CONFIRMED));
    // Replied within 2 s: not a stream yet, 30 s and not assured.
    assert!(!e.has(status::ASSURED));
    assert_eq!(sh.remaining(slot, t0), Some(30));
    // After 2 s a packet makes it a stream: ASSURED, 120 s.
    let t1 = t0 + Duration::from_secs(3);
    run(&mut sh, t1, std::slice::from_ref(&out), !0);
    assert!(sh.entry(slot).unwrap().has(status::ASSURED));
    assert_eq!(sh.remaining(slot, t1), Some(120));
    // Expiry: found expired by a lookup, the packet is NEW again.
    let t2 = t1 + Duration::from_secs(121);
    let (s, _) = run(&mut sh, t2, &[out], !0);
    assert_eq!(info(s[0]), Some(CtInfo::New));
    assert_eq!(sh.len(), 1);
}

#[test]
fn a_second_packet_of_a_new_flow_in_the_batch_is_deferred() {
    let mut sh = Shard::new(64, Config::default());
    let t0 = Instant::now();
    let a = udp("10.0.1.2", "10.0.2.2", 4000, 53);
    let other = udp("10.0.1.3", "10.0.2.2", 4000, 53);
    let (s, d) = run(&mut sh, t0, &[a.clone(), other, a.clone()], !0);
    assert_eq!(d, 0b100);
    assert_eq!(info(s[0]), Some(CtInfo::New));
    assert_eq!(info(s[1]), Some(CtInfo::New));
    assert_eq!(s[2], CtState::None);
    // Run again after the batch: the entry is confirmed, one entry only.
    let (s, d) = run(&mut sh, t0, std::slice::from_ref(&a), !0);
    assert_eq!((d, info(s[0])), (0, Some(CtInfo::New)));
    assert_eq!(sh.len(), 2);
}

#[test]
fn an_entry_whose_packet_was_dropped_before_confirm_goes() {
    let mut sh = Shard::new(64, Config::default());
    let t0 = Instant::now();
    let a = udp("10.0.1.2", "10.0.2.2", 4000, 53);
    run(&mut sh, t0, std::slice::from_ref(&a), 0);
    assert_eq!(sh.len(), 0);
    // A reply to a flow that was never confirmed is NEW in its own right.
    let (s, _) = run(&mut sh, t0, &[udp("10.0.2.2", "10.0.1.2", 53, 4000)], !0);
    assert_eq!(info(s[0]), Some(CtInfo::New));
}

#[test]
fn full_table_evicts_a_non_assured_neighbour_or_drops() {
    let mut sh = Shard::new(4, Config::default());
    let t0 = Instant::now();
    // Four flows, all assured (reply seen, then a packet after 2 s).
    let flows: Vec<_> = (0..4)
        .map(|k| {
            (
                udp("10.0.1.2", "10.0.2.2", 5000 + k, 53),
                udp("10.0.2.2", "10.0.1.2", 53, 5000 + k),
            )
        })
        .collect();
    for (o, r) in &flows {
        run(&mut sh, t0, std::slice::from_ref(o), !0);
        run(&mut sh, t0, std::slice::from_ref(r), !0);
    }
    let t1 = t0 + Duration::from_secs(3);
    for (o, _) in &flows {
        run(&mut sh, t1, std::slice::from_ref(o), !0);
    }
    assert!(sh.iter().all(|(_, e)| e.has(status::ASSURED)));
    // No victim: the new flow is dropped and counted.
    let mut tb = TestBatch::new(t1);
    tb.push(
        &udp("10.0.1.9", "10.0.2.2", 1, 53),
        None,
        None,
        Dest::Forward,
        L2Class::Host,
    );
    sh.input(&mut tb.batch(), true, Families::V4);
    assert!(!tb.alive(0));
    assert_eq!(
        tb.pkt(0).verdict,
        crate::packet::Verdict::Drop(Counter::CtTableFull)
    );
    // Make one flow non-assured: a new table with 3 assured + 1 not.
    let mut sh = Shard::new(2, Config::default());
    let (o, r) = &flows[0];
    run(&mut sh, t0, std::slice::from_ref(o), !0);
    run(&mut sh, t0, std::slice::from_ref(r), !0);
    run(&mut sh, t1, std::slice::from_ref(o), !0);
    run(&mut sh, t1, std::slice::from_ref(&flows[1].0), !0);
    assert_eq!(sh.len(), 2);
    // With two entries the neighbourhood of any new tuple holds both.
    let (s, _) = run(&mut sh, t1, &[udp("10.0.1.9", "10.0.2.2", 1, 53)], !0);
    assert_eq!(info(s[0]), Some(CtInfo::New));
    assert_eq!(sh.len(), 2);
    // The assured flow survived, the unassured one was evicted.
    let (s, _) = run(&mut sh, t1, std::slice::from_ref(o), !0);
    assert_eq!(info(s[0]), Some(CtInfo::Established));
    // Another new flow evicts the (unassured) newcomer, never the assured.
    let (s, _) = run(&mut sh, t1, &[flows[1].0.clone()], !0);
    assert_eq!(info(s[0]), Some(CtInfo::New));
    let (s, _) = run(&mut sh, t1, std::slice::from_ref(o), !0);
    assert_eq!(info(s[0]), Some(CtInfo::Established));
}

#[test]
fn icmp_errors_are_related_to_the_flow_they_quote() {
    let mut sh = Shard::new(64, Config::default());
    let t0 = Instant::now();
    let out = udp("10.0.1.2", "10.0.2.2", 4000, 53);
    run(&mut sh, t0, std::slice::from_ref(&out), !0);
    // Port unreachable from the server, quoting the datagram.
    let err = icmp("10.0.2.2", "10.0.1.2", 3, 3, [0; 4], &out[14..42]);
    let (s, _) = run(&mut sh, t0, std::slice::from_ref(&err), !0);
    assert_eq!(info(s[0]), Some(CtInfo::RelatedReply));
    // Sent to another address than the flow's: INVALID.
    let bogus = icmp("10.0.2.2", "10.0.1.99", 3, 3, [0; 4], &out[14..42]);
    let (s, _) = run(&mut sh, t0, &[bogus], !0);
    assert_eq!(s[0], CtState::None);
    // Quoting no known flow: INVALID; an echo reply alone: INVALID.
    let other = udp("10.0.1.2", "10.0.2.2", 4001, 53);
    let (s, _) = run(
        &mut sh,
        t0,
        &[
            icmp("10.0.2.2", "10.0.1.2", 3, 3, [0; 4], &other[14..42]),
            icmp("10.0.2.2", "10.0.1.2", 0, 0, [0, 7, 0, 1], b"x"),
        ],
        !0,
    );
    assert_eq!(s, vec![CtState::None, CtState::None]);
    // Echo and its reply.
    let (s, _) = run(
        &mut sh,
        t0,
        &[icmp("10.0.1.2", "10.0.2.2", 8, 0, [0, 7, 0, 1], b"x")],
        !0,
    );
    assert_eq!(info(s[0]), Some(CtInfo::New));
    let (s, _) = run(
        &mut sh,
        t0,
        &[icmp("10.0.2.2", "10.0.1.2", 0, 0, [0, 7, 0, 1], b"x")],
        !0,
    );
    assert_eq!(info(s[0]), Some(CtInfo::EstablishedReply));
}

#[test]
fn a_bad_checksum_is_invalid_at_prerouting() {
    let mut sh = Shard::new(64, Config::default());
    let mut f = udp("10.0.1.2", "10.0.2.2", 4000, 53);
    f[40] ^= 0xff;
    let (s, _) = run(&mut sh, Instant::now(), &[f], !0);
    assert_eq!(s[0], CtState::None);
    assert_eq!(sh.len(), 0);
}

#[test]
fn the_read_side_lists_counts_deletes_and_flushes() {
    let mut sh = Shard::new(64, Config::default());
    let t0 = Instant::now();
    for k in 0..5u16 {
        run(
            &mut sh,
            t0,
            &[udp("10.0.1.2", "10.0.2.2", 4000 + k, 53)],
            !0,
        );
    }
    run(&mut sh, t0, &[udp("10.0.2.2", "10.0.1.2", 53, 4000)], !0);
    let chan = Channel::default();
    let mut svc = chan.service();
    let mut ask = |sh: &mut Shard, r: Request| {
        chan.ask(r).unwrap();
        // A budget of 2 slots per call: the answer takes several calls.
        for _ in 0..100 {
            svc.serve(sh, t0, 2);
            if let Some(a) = chan.answer() {
                return a;
            }
        }
        panic!("no answer");
    };
    let Reply::Entries(all) = ask(&mut sh, Request::List(Filter::default())) else {
        panic!()
    };
    assert_eq!(all.len(), 5);
    let line = all
        .iter()
        .find(|v| v.orig.sport == 4000)
        .unwrap()
        .to_string();
    assert_eq!(
        line,
        "udp      17 30 src=10.0.1.2 dst=10.0.2.2 sport=4000 dport=53 \
         src=10.0.2.2 dst=10.0.1.2 sport=53 dport=4000 mark=0 use=1"
    );
    let line = all
        .iter()
        .find(|v| v.orig.sport == 4001)
        .unwrap()
        .to_string();
    assert!(line.contains("[UNREPLIED]"), "{line}");
    let Reply::Counts(c) = ask(&mut sh, Request::Count) else {
        panic!()
    };
    assert_eq!((c.total, c.udp, c.unreplied), (5, 5, 4));
    let f = Filter {
        status: Some(status::SEEN_REPLY),
        ..Filter::default()
    };
    let Reply::Entries(gone) = ask(&mut sh, Request::Delete(f)) else {
        panic!("a delete answers the entries it removed")
    };
    assert_eq!(gone.len(), 1);
    assert!(gone[0].status & status::SEEN_REPLY != 0);
    assert_eq!(sh.len(), 4);
    assert_eq!(ask(&mut sh, Request::Flush), Reply::Deleted(4));
    assert!(sh.is_empty());
}

#[test]
fn a_tracked_flow_costs_at_most_192_bytes() {
    // The slab entry, its slot state and free-list word, and its share of
    // both indexes, at a size where rounding does not help.
    assert!(std::mem::size_of::<Entry>() <= 152);
    for max in [1000, 1 << 20, 1_000_000] {
        let t = Table::new(max);
        let per_flow = t.footprint() as f64 / max as f64;
        assert!(per_flow <= 192.0, "{max}: {per_flow} bytes per flow");
    }
}
