//! Robustness: thousands of random and mutated frames through the pipeline
//! (with a hook stage doing random things to them) never panic, and every
//! frame is accounted for: forwarded + dropped by reason + punted +
//! consumed + queued == received + generated, with no frame leaked.

mod common;

use std::time::Duration;

use common::*;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use sluice_config::iptables::{Hook, TableKind};
use sluice_dataplane::pipeline::{Batch, Counter, HookCx, HookStage, PipelineParams};
use sluice_dataplane::route::neigh::NeighParams;
use sluice_dataplane::wire::{icmpv6, ipv4, EtherType, MacAddr};

const CONFIG: &str = r#"
[[interface]]
name = "lan"
address = ["10.0.1.1/24", "fd00:1::1/64"]

[[interface]]
name = "wan_a"
address = ["10.0.2.1/24", "fd00:2::1/64"]
mtu = 1280

[[interface]]
name = "wan_b"
address = ["192.168.100.2/30"]
mtu = 576

[[route]]
to = "default"
via = "10.0.2.254"

[[route]]
to = "default"
via = "fd00:2::fe"

[[route]]
to = "default"
via = "192.168.100.1"
table = 100

[[route]]
to = "10.20.0.0/16"
via = "10.0.1.20"

[[policy]]
priority = 100
fwmark = "0x1/0xff"
table = 100
"#;

/// Marks, drops and re-addresses packets at random, at every hook.
struct Chaos {
    rng: StdRng,
}

impl HookStage for Chaos {
    fn points(&self) -> Vec<(Hook, TableKind)> {
        TableKind::ALL
            .iter()
            .flat_map(|&t| t.builtin_hooks().iter().map(move |&h| (h, t)))
            .collect()
    }

    fn run(&mut self, _hook: Hook, table: TableKind, b: &mut Batch<'_>, _cx: &HookCx<'_>) {
        for i in b.indices() {
            match self.rng.gen_range(0..100) {
                0..=2 => b.drop(
                    i,
                    match table {
                        TableKind::Raw => Counter::RawDrop,
                        TableKind::Mangle => Counter::MangleDrop,
                        TableKind::Nat => Counter::NatDrop,
                        TableKind::Filter => Counter::FilterDrop,
                        TableKind::Security => Counter::SecurityDrop,
                    },
                ),
                3..=5 => b.set_mark(i, self.rng.gen_range(0..3)),
                6 => {
                    let dst = if b.meta(i).ip_version == 6 {
                        ip(["fd00:2::9", "fd00:1::1", "2001:db8::1"][self.rng.gen_range(0..3)])
                    } else {
                        ip(["10.0.2.9", "10.0.1.1", "192.168.100.1", "8.8.8.8"]
                            [self.rng.gen_range(0..4)])
                    };
                    b.set_dst(i, dst);
                }
                7 => {
                    // Scribble on the payload (not the headers the metadata
                    // describes).
                    let end = b.frame(i).len();
                    let at = b.meta(i).l4_off as usize;
                    if at < end {
                        let k = self.rng.gen_range(at..end);
                        b.frame_mut(i)[k] ^= 0x5a;
                    }
                }
                _ => {}
            }
        }
    }
}

/// Valid frames of every kind the pipeline handles.
fn seeds() -> Vec<(&'static str, Vec<u8>)> {
    let lan = |f: Vec<u8>| ("lan", f);
    let wan = |f: Vec<u8>| ("wan_a", f);
    vec![
        lan(V4::udp("10.0.1.10", "10.0.2.5", 1, 2, b"forward").frame(rmac(0), hmac(10))),
        lan(V4::udp("10.0.1.10", "8.8.8.8", 1, 2, b"default").frame(rmac(0), hmac(10))),
        lan(V4::udp("10.0.1.10", "10.20.1.1", 1, 2, b"static").frame(rmac(0), hmac(10))),
        lan(V4::udp("10.0.1.10", "192.168.100.1", 1, 2, b"wan_b").frame(rmac(0), hmac(10))),
        lan(V4::udp("10.0.1.10", "10.0.2.5", 1, 2, b"ttl")
            .ttl(1)
            .frame(rmac(0), hmac(10))),
        lan(V4::udp_len("10.0.1.10", "10.0.2.5", 1400).frame(rmac(0), hmac(10))),
        lan(V4::udp_len("10.0.1.10", "192.168.100.1", 1400)
            .df(false)
            .frame(rmac(0), hmac(10))),
        lan(V4::udp_len("10.0.1.10", "10.0.2.5", 1400)
            .df(false)
            .frame(rmac(0), hmac(10))),
        lan(V4::tcp_syn("10.0.1.10", "10.0.1.1", 40000, 22).frame(rmac(0), hmac(10))),
        lan(V4::tcp_syn("10.0.1.10", "10.0.2.77", 40000, 443).frame(rmac(0), hmac(10))),
        lan(V4::echo("10.0.1.10", "10.0.1.1", 1, 1, b"ping").frame(rmac(0), hmac(10))),
        lan(V4::echo("10.0.1.11", "10.0.2.1", 1, 1, b"ping").frame(rmac(0), hmac(11))),
        lan(V4::echo("10.0.1.10", "10.0.1.255", 1, 1, b"").frame(MacAddr::BROADCAST, hmac(10))),
        lan(V4::udp("0.0.0.0", "255.255.255.255", 68, 67, b"dhcp")
            .frame(MacAddr::BROADCAST, hmac(10))),
        lan(V4::udp("10.0.1.10", "224.0.0.1", 1, 2, b"mc")
            .frame(MacAddr([1, 0, 0x5e, 0, 0, 1]), hmac(10))),
        lan(arp_request(hmac(10), "10.0.1.10", "10.0.1.1")),
        lan(arp_request(hmac(12), "10.0.1.12", "10.0.1.99")),
        lan(arp_request(hmac(13), "0.0.0.0", "10.0.1.1")),
        wan(arp_reply(hmac(5), "10.0.2.5", rmac(1), "10.0.2.1")),
        wan(arp_reply(hmac(9), "10.0.2.9", rmac(1), "10.0.2.1")),
        wan(arp_reply(hmac(254), "10.0.2.254", rmac(1), "10.0.2.1")),
        wan(V4::udp("10.0.2.5", "10.0.1.10", 1, 2, b"back").frame(rmac(1), hmac(5))),
        lan(eth_vlan(
            rmac(0),
            hmac(10),
            7,
            EtherType::IPV4,
            &V4::udp("10.0.1.10", "10.0.2.5", 1, 2, b"v").ip(),
        )),
        lan(eth_vlan(
            rmac(0),
            hmac(10),
            0,
            EtherType::IPV4,
            &V4::udp("10.0.1.10", "10.0.2.5", 1, 2, b"p").ip(),
        )),
        lan(V6::udp("fd00:1::10", "fd00:2::5", 1, 2, b"six").frame(rmac(0), hmac(10))),
        lan(V6::udp("fd00:1::10", "2001:db8::1", 1, 2, b"default6").frame(rmac(0), hmac(10))),
        lan(V6::udp_len("fd00:1::10", "fd00:2::5", 1300).frame(rmac(0), hmac(10))),
        lan(V6::udp("fd00:1::10", "fd00:2::5", 1, 2, b"h")
            .hop_limit(1)
            .frame(rmac(0), hmac(10))),
        lan(V6::echo("fd00:1::10", "fd00:1::1", 1, 1, b"ping6").frame(rmac(0), hmac(10))),
        lan(V6::echo("fd00:1::10", "ff02::1", 1, 1, b"all")
            .frame(MacAddr([0x33, 0x33, 0, 0, 0, 1]), hmac(10))),
        lan(
            V6::ns("fd00:1::10", "ff02::1:ff00:1", "fd00:1::1", Some(hmac(10)))
                .frame(MacAddr([0x33, 0x33, 0xff, 0, 0, 1]), hmac(10)),
        ),
        lan(V6::ns("::", "ff02::1:ff00:1", "fd00:1::1", None)
            .frame(MacAddr([0x33, 0x33, 0xff, 0, 0, 1]), hmac(10))),
        wan(V6::na(
            "fd00:2::5",
            "fd00:2::1",
            "fd00:2::5",
            icmpv6::na_flags::SOLICITED | icmpv6::na_flags::OVERRIDE,
            Some(hmac(5)),
        )
        .frame(rmac(1), hmac(5))),
        wan(V6::na(
            "fd00:2::fe",
            "ff02::1",
            "fd00:2::fe",
            icmpv6::na_flags::OVERRIDE,
            Some(hmac(254)),
        )
        .frame(MacAddr([0x33, 0x33, 0, 0, 0, 1]), hmac(254))),
        lan(V6::udp("fd00:1::10", "fd00:1::1", 1, 53, b"dns").frame(rmac(0), hmac(10))),
    ]
}

/// Recomputes the IPv4 header checksum when the frame has a plausible
/// IPv4 header (so mutations reach past the parse more often).
fn fix_ipv4_checksum(f: &mut [u8]) {
    let mut at = 14;
    while f.len() >= at + 4 && matches!(u16::from_be_bytes([f[at - 2], f[at - 1]]), 0x8100 | 0x88a8)
    {
        at += 4;
    }
    if f.len() < at || u16::from_be_bytes([f[at - 2], f[at - 1]]) != 0x0800 {
        return;
    }
    let ip = &mut f[at..];
    if ip.len() < 20 {
        return;
    }
    let hl = ((ip[0] & 0x0f) as usize) * 4;
    if hl < 20 || hl > ip.len() {
        return;
    }
    ipv4::Packet::new_unchecked(&mut ip[..]).fill_checksum();
}

fn mutate(rng: &mut StdRng, mut f: Vec<u8>) -> Vec<u8> {
    match rng.gen_range(0..10) {
        0 => {
            let n = rng.gen_range(0..=f.len());
            f.truncate(n);
        }
        1 => {
            for _ in 0..rng.gen_range(1..16) {
                f.push(rng.gen());
            }
        }
        2..=4 => {
            for _ in 0..rng.gen_range(1..5) {
                if f.is_empty() {
                    break;
                }
                let i = rng.gen_range(0..f.len());
                f[i] ^= 1 << rng.gen_range(0..8);
            }
            if rng.gen_bool(0.7) {
                fix_ipv4_checksum(&mut f);
            }
        }
        5..=7 => {
            // A header byte at random: Ethernet type, IP version/IHL,
            // lengths, flags and offset, TTL, protocol, next header,
            // extension header lengths, transport ports and ICMP types.
            let fields = [
                12, 13, 14, 15, 16, 17, 18, 19, 20, 21, 22, 23, 34, 35, 36, 37, 54, 55, 56, 57,
            ];
            for _ in 0..rng.gen_range(1..3) {
                let i = fields[rng.gen_range(0..fields.len())];
                if i < f.len() {
                    f[i] = rng.gen();
                }
            }
            fix_ipv4_checksum(&mut f);
        }
        _ => {
            let n = rng.gen_range(0..200);
            let mut r: Vec<u8> = (0..n).map(|_| rng.gen()).collect();
            if r.len() >= 14 {
                r[..6].copy_from_slice(&[rmac(0).0, MacAddr::BROADCAST.0][rng.gen_range(0..2)]);
                let et: [u16; 5] = [0x0800, 0x86dd, 0x0806, 0x8100, 0x88a8];
                r[12..14].copy_from_slice(&et[rng.gen_range(0..5)].to_be_bytes());
                if r.len() > 14 && rng.gen_bool(0.5) {
                    r[14] = if r[13] == 0xdd { 0x60 } else { 0x45 };
                }
                fix_ipv4_checksum(&mut r);
            }
            return r;
        }
    }
    f
}

/// A frame for a run: one of `seeds`, mutated with probability
/// `mutate_p`, on its own port, or with probability `1 - own_port_p` on any
/// port (`None`: always its own).
fn draw(
    rng: &mut StdRng,
    seeds: &[(&'static str, Vec<u8>)],
    mutate_p: f64,
    own_port_p: Option<f64>,
) -> (&'static str, Vec<u8>) {
    const NAMES: [&str; 3] = ["lan", "wan_a", "wan_b"];
    let (port, frame) = &seeds[rng.gen_range(0..seeds.len())];
    let frame = if rng.gen_bool(mutate_p) {
        mutate(rng, frame.clone())
    } else {
        frame.clone()
    };
    let port = match own_port_p {
        Some(p) if !rng.gen_bool(p) => NAMES[rng.gen_range(0..3)],
        _ => *port,
    };
    (port, frame)
}

/// Lets every pending resolution fail and collects what comes out.
fn drain(lab: &mut Lab) {
    for _ in 0..5 {
        lab.advance(Duration::from_secs(5));
        lab.recv_all();
        lab.punted();
    }
}

#[test]
fn random_and_mutated_frames_are_all_accounted_for() {
    let mut rng = StdRng::seed_from_u64(0x5eed_5100);
    let params = PipelineParams {
        neigh: NeighParams {
            max_entries: 64,
            ..NeighParams::default()
        },
        punt_capacity: 64,
        output_capacity: 128,
        ..PipelineParams::default()
    };
    let mut lab = Lab::with_params(CONFIG, params);
    lab.register(Box::new(Chaos {
        rng: StdRng::seed_from_u64(7),
    }));
    lab.neighbour("lan", "10.0.1.10", hmac(10));
    lab.neighbour("wan_b", "192.168.100.1", hmac(101));
    let seeds = seeds();
    let mut sent = 0u64;
    while sent < 8000 {
        let batch = rng.gen_range(1..=64);
        for _ in 0..batch {
            let (port, frame) = draw(&mut rng, &seeds, 0.8, Some(0.9));
            let p = lab.port(port).0 as usize;
            if lab.w.ports[p].inject(&mut lab.w.umem, &frame) {
                sent += 1;
            }
        }
        lab.run();
        if rng.gen_bool(0.3) {
            lab.advance(Duration::from_millis(rng.gen_range(0..1500)));
        }
        // Collect what came out; every frame must parse or be ARP.
        for f in lab.recv_all().values().flatten() {
            assert!(f.len() >= 14);
        }
        lab.punted();
        lab.assert_balanced();
    }
    // Let every pending resolution fail, then everything is back.
    drain(&mut lab);
    let c = lab.counters().clone();
    assert_eq!(c.neigh_queued(), 0);
    lab.assert_balanced();
    let l = c.ledger();
    assert_eq!(l.rx, sent);
    // The run exercised every path.
    for name in [
        "parse.truncated",
        "parse.malformed",
        "parse.checksum",
        "forward.packets",
        "forward.ttl_exceeded",
        "frag.created",
        "local.punted",
        "local.echo_reply",
        "arp.reply_sent",
        "nd.na_sent",
        "neigh.arp_request",
        "neigh.ns",
        "filter.drop",
        "icmp.time_exceeded",
        "tx.frames",
    ] {
        assert!(c.by_name(name).unwrap() > 0, "{name} never counted: {c:?}");
    }
}

/// A stateful gateway: conntrack, MASQUERADE, a port forward, REJECT,
/// CONNMARK, NOTRACK.
const GATEWAY: &str = "*raw
:PREROUTING ACCEPT [0:0]
:OUTPUT ACCEPT [0:0]
-A PREROUTING -p udp --dport 5060 -j CT --notrack
COMMIT
*mangle
:PREROUTING ACCEPT [0:0]
:INPUT ACCEPT [0:0]
:FORWARD ACCEPT [0:0]
:OUTPUT ACCEPT [0:0]
:POSTROUTING ACCEPT [0:0]
-A PREROUTING -j CONNMARK --restore-mark
-A PREROUTING -i wan_b -j MARK --set-mark 0x1
-A PREROUTING -j CONNMARK --save-mark
COMMIT
*nat
:PREROUTING ACCEPT [0:0]
:INPUT ACCEPT [0:0]
:OUTPUT ACCEPT [0:0]
:POSTROUTING ACCEPT [0:0]
-A PREROUTING -i wan_a -p tcp --dport 8080 -j DNAT --to-destination 10.0.1.10:80
-A PREROUTING -i wan_a -p udp --dport 53 -j REDIRECT --to-ports 5353
-A POSTROUTING -o wan_a -j MASQUERADE
-A POSTROUTING -o wan_b -p udp -j SNAT --to-source 192.168.100.2:1024-1100
-A POSTROUTING -o wan_b -j SNAT --to-source 192.168.100.2
COMMIT
*filter
:INPUT DROP [0:0]
:FORWARD DROP [0:0]
:OUTPUT ACCEPT [0:0]
-A INPUT -m conntrack --ctstate INVALID -j DROP
-A INPUT -m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT
-A INPUT -p icmp -j ACCEPT
-A INPUT -p tcp --dport 22 -j REJECT --reject-with tcp-reset
-A INPUT -j REJECT
-A FORWARD -m conntrack --ctstate RELATED,ESTABLISHED,UNTRACKED -j ACCEPT
-A FORWARD -m conntrack --ctstate DNAT -j ACCEPT
-A FORWARD -i lan -j ACCEPT
-A FORWARD -p tcp -j REJECT --reject-with tcp-reset
COMMIT
";

#[test]
fn random_frames_through_a_stateful_gateway_are_all_accounted_for() {
    let mut rng = StdRng::seed_from_u64(0xc0_4417);
    let mut lab = Lab::with_rules(CONFIG, GATEWAY, Default::default());
    lab.register(Box::new(Chaos {
        rng: StdRng::seed_from_u64(11),
    }));
    lab.neighbour("lan", "10.0.1.10", hmac(10));
    lab.neighbour("wan_a", "10.0.2.254", hmac(20));
    lab.neighbour("wan_b", "192.168.100.1", hmac(101));
    let seeds = seeds();
    let mut sent = 0u64;
    while sent < 8000 {
        for _ in 0..rng.gen_range(1..=64) {
            let (port, frame) = draw(&mut rng, &seeds, 0.7, Some(0.7));
            let p = lab.port(port).0 as usize;
            if lab.w.ports[p].inject(&mut lab.w.umem, &frame) {
                sent += 1;
            }
        }
        lab.run();
        if rng.gen_bool(0.3) {
            lab.advance(Duration::from_millis(rng.gen_range(0..40_000)));
        }
        lab.recv_all();
        lab.punted();
        lab.assert_balanced();
    }
    drain(&mut lab);
    lab.assert_balanced();
    let c = lab.counters();
    assert_eq!(c.ledger().rx, sent);
    for name in [
        "conntrack.new",
        "conntrack.invalid",
        "nat.binding",
        "filter.drop",
    ] {
        assert!(c.by_name(name).unwrap() > 0, "{name} never counted: {c:?}");
    }
}

/// Random and mutated frames written by "the host" into the ports' TAPs
/// ([`Pipeline::rx_host`]: the OUTPUT path), mixed with frames from the
/// wire, through the stateful gateway: nothing panics, every frame is
/// accounted for.
#[test]
fn random_host_frames_through_the_output_path_are_all_accounted_for() {
    const NAMES: [&str; 3] = ["lan", "wan_a", "wan_b"];
    let mut rng = StdRng::seed_from_u64(0x7a9_4057);
    let mut lab = Lab::with_rules(CONFIG, GATEWAY, Default::default());
    lab.register(Box::new(Chaos {
        rng: StdRng::seed_from_u64(13),
    }));
    lab.neighbour("lan", "10.0.1.10", hmac(10));
    lab.neighbour("wan_a", "10.0.2.254", hmac(20));
    let seeds = seeds();
    let mut sent = 0u64;
    let mut descs = Vec::with_capacity(64);
    while sent < 6000 {
        for _ in 0..rng.gen_range(1..=64) {
            let (port, frame) = draw(&mut rng, &seeds, 0.6, Some(0.5));
            let p = lab.port(port).0 as usize;
            if lab.w.ports[p].inject(&mut lab.w.umem, &frame) {
                sent += 1;
            }
        }
        lab.run();
        let tap = lab.port(NAMES[rng.gen_range(0..3)]);
        descs.clear();
        for _ in 0..rng.gen_range(1..=80) {
            let (_, frame) = draw(&mut rng, &seeds, 0.6, None);
            let Some(mut d) = lab.w.umem.alloc() else {
                break;
            };
            if !lab.w.umem.set_len(&mut d, frame.len()) {
                lab.w.umem.free(d);
                continue;
            }
            lab.w.umem.bytes_mut(d).copy_from_slice(&frame);
            descs.push(d);
            sent += 1;
        }
        let now = lab.now;
        lab.w.pipeline.rx_host(&mut lab.w.umem, tap, &descs, now);
        lab.w.pipeline.flush_tx(&mut lab.w.umem, &mut lab.w.ports);
        if rng.gen_bool(0.3) {
            lab.advance(Duration::from_millis(rng.gen_range(0..40_000)));
        }
        lab.recv_all();
        lab.punted();
        lab.assert_balanced();
    }
    drain(&mut lab);
    lab.assert_balanced();
    let c = lab.counters();
    assert_eq!(c.ledger().rx, sent);
    for name in [
        "local.host_rx",
        "local.host_l2",
        "output.packets",
        "output.local",
        "tx.frames",
    ] {
        assert!(c.by_name(name).unwrap() > 0, "{name} never counted: {c:?}");
    }
}

#[test]
fn two_workers_with_random_frames_hand_off_and_account_for_everything() {
    use sluice_dataplane::worker::handoff_mesh;
    use std::sync::Arc;
    let mut rng = StdRng::seed_from_u64(0x2_4017);
    let snap = Arc::new(snapshot(CONFIG, GATEWAY, 1));
    let params = PipelineParams {
        workers: 2,
        conntrack_max: 512,
        ..PipelineParams::default()
    };
    let mut labs = [
        Lab::worker(Arc::clone(&snap), params.clone(), 0),
        Lab::worker(snap, params, 1),
    ];
    for (lab, links) in labs.iter_mut().zip(handoff_mesh(2, 64)) {
        lab.w.set_handoff(links);
        lab.neighbour("lan", "10.0.1.10", hmac(10));
        lab.neighbour("wan_a", "10.0.2.254", hmac(20));
        lab.neighbour("wan_b", "192.168.100.1", hmac(101));
    }
    let seeds = seeds();
    let mut sent = [0u64; 2];
    while sent[0] + sent[1] < 8000 {
        for _ in 0..rng.gen_range(1..=64) {
            let (port, frame) = draw(&mut rng, &seeds, 0.5, None);
            let w = rng.gen_range(0..2);
            let p = labs[w].port(port).0 as usize;
            let lab = &mut labs[w];
            if lab.w.ports[p].inject(&mut lab.w.umem, &frame) {
                sent[w] += 1;
            }
        }
        for _ in 0..3 {
            for lab in labs.iter_mut() {
                lab.run();
            }
        }
        if rng.gen_bool(0.2) {
            let d = Duration::from_millis(rng.gen_range(0..40_000));
            for lab in labs.iter_mut() {
                lab.advance(d);
            }
        }
        for lab in labs.iter_mut() {
            lab.recv_all();
            lab.punted();
        }
    }
    // Together, turn by turn: frames may still be in the rings.
    for _ in 0..5 {
        for lab in labs.iter_mut() {
            lab.advance(Duration::from_secs(5));
            lab.recv_all();
            lab.punted();
        }
    }
    let mut handed = 0;
    for (w, lab) in labs.iter_mut().enumerate() {
        lab.assert_balanced();
        let c = lab.counters();
        // Plus the copies of ARP replies the other worker received.
        assert_eq!(
            c.by_name("rx.frames"),
            Some(sent[w] + c.by_name("handoff.arp_copy_received").unwrap())
        );
        handed += c.by_name("handoff.sent").unwrap();
    }
    assert!(handed > 0, "no flow was handed over");
    let received: u64 = labs
        .iter()
        .map(|l| l.counters().by_name("handoff.received").unwrap())
        .sum();
    let full: u64 = labs
        .iter()
        .map(|l| l.counters().by_name("handoff.ring_full").unwrap())
        .sum();
    assert_eq!(
        handed, received,
        "every frame sent through a ring arrived ({full} dropped full)"
    );
}

#[test]
fn fully_random_bytes_never_panic() {
    let mut rng = StdRng::seed_from_u64(42);
    let mut lab = Lab::new(CONFIG);
    let mut sent = 0u64;
    for _ in 0..100 {
        for _ in 0..rng.gen_range(1..64) {
            let n = rng.gen_range(0..400);
            let f: Vec<u8> = (0..n).map(|_| rng.gen()).collect();
            if lab.w.ports[0].inject(&mut lab.w.umem, &f) {
                sent += 1;
            }
        }
        lab.run();
        lab.recv_all();
        lab.punted();
    }
    lab.advance(Duration::from_secs(10));
    lab.recv_all();
    assert_eq!(lab.counters().ledger().rx, sent);
    lab.assert_balanced();
}
