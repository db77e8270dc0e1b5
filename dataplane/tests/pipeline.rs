//! Pipeline tests: frames in through in-memory ports with a configuration
//! from appliance TOML; exact frames out, exact counter deltas.

mod common;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use common::*;
use sluice_config::iptables::{Hook, TableKind};
use sluice_dataplane::net::{Net, PortConf};
use sluice_dataplane::pipeline::{Batch, Counter, HookCx, HookStage, PipelineParams, Snapshot};
use sluice_dataplane::route::{Port, RouteType, Router, StaticRoute};
use sluice_dataplane::wire::{self, arp, icmpv6, ipv4, EtherType, IpProtocol, MacAddr};

/// The text of [`TWO`], for configurations that extend it.
macro_rules! two_ports {
    () => {
        r#"
[[interface]]
name = "r0"
address = ["10.0.1.1/24", "fd00:1::1/64"]

[[interface]]
name = "r1"
address = ["10.0.2.1/24", "fd00:2::1/64"]
"#
    };
}

/// Two ports.
const TWO: &str = two_ports!();

/// The branch office: a LAN and two uplinks; marked traffic and the upper
/// half of the LAN leave through the second uplink.
const BRANCH: &str = r#"
[[interface]]
name = "lan"
address = ["10.0.1.1/24", "fd00:1::1/64"]

[[interface]]
name = "wan_a"
address = ["10.0.2.1/24", "fd00:2::1/64"]

[[interface]]
name = "wan_b"
address = ["192.168.100.2/30"]

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

[[route]]
to = "10.20.30.0/24"
via = "10.0.1.30"

[[policy]]
priority = 100
fwmark = "0x1/0xff"
table = 100

[[policy]]
priority = 200
from = "10.0.1.128/25"
table = 100
"#;

/// The branch office with its neighbours known.
fn branch() -> Lab {
    Lab::with_neighbours(
        BRANCH,
        &[
            ("lan", "10.0.1.10", hmac(10)),
            ("lan", "10.0.1.200", hmac(200)),
            ("lan", "10.0.1.20", hmac(20)),
            ("lan", "10.0.1.30", hmac(30)),
            ("wan_a", "10.0.2.254", hmac(254)),
            ("wan_a", "10.0.2.5", hmac(5)),
            ("wan_b", "192.168.100.1", hmac(101)),
            ("lan", "fd00:1::10", hmac(10)),
            ("wan_a", "fd00:2::fe", hmac(254)),
        ],
    )
}

// ---------------------------------------------------------------------------
// Forwarding and routing.

#[test]
fn forwards_between_two_ports_with_mac_rewrite_and_ttl() {
    let mut lab = Lab::with_neighbours(TWO, &[("r1", "10.0.2.5", hmac(5))]);
    let p = V4::udp("10.0.1.10", "10.0.2.5", 1234, 80, b"hello").tos(0x28);
    lab.inject("r0", &p.frame(rmac(0), hmac(10)));
    assert_eq!(
        lab.recv("r1"),
        vec![p.clone().ttl(63).frame(hmac(5), rmac(1))]
    );
    assert!(lab.recv("r0").is_empty());
    assert_eq!(
        lab.delta(),
        counts(&[("rx.frames", 1), ("forward.packets", 1), ("tx.frames", 1)])
    );
    // And back.
    lab.neighbour("r0", "10.0.1.10", hmac(10));
    lab.delta();
    let back = V4::udp("10.0.2.5", "10.0.1.10", 80, 1234, b"world");
    lab.inject("r1", &back.frame(rmac(1), hmac(5)));
    assert_eq!(lab.recv("r0"), vec![back.ttl(63).frame(hmac(10), rmac(0))]);
    lab.assert_balanced();
}

/// Each port's counters reach the block the worker publishes to.
#[test]
fn port_counters_are_published_per_port() {
    let mut lab = Lab::with_neighbours(TWO, &[("r1", "10.0.2.5", hmac(5))]);
    let p = V4::udp("10.0.1.10", "10.0.2.5", 1234, 80, b"hello");
    for _ in 0..3 {
        lab.inject("r0", &p.frame(rmac(0), hmac(10)));
    }
    assert_eq!(lab.recv("r1").len(), 3);
    lab.w.publish();
    let ports = lab.w.ports_block().read();
    assert_eq!(ports.len(), 2);
    let (r0, r1) = (lab.port("r0").0 as usize, lab.port("r1").0 as usize);
    assert_eq!((ports[r0].rx, ports[r0].tx), (3, 0));
    assert_eq!((ports[r1].rx, ports[r1].tx), (0, 3));
}

#[test]
fn three_ports_connected_static_default_and_longest_prefix() {
    let mut lab = branch();
    let cases = [
        // (destination, egress, next hop MAC)
        ("10.0.2.5", "wan_a", hmac(5)),        // connected
        ("8.8.8.8", "wan_a", hmac(254)),       // default
        ("10.20.1.1", "lan", hmac(20)),        // static /16
        ("10.20.30.1", "lan", hmac(30)),       // the longer /24 wins
        ("192.168.100.1", "wan_b", hmac(101)), // connected on the third port
    ];
    for (dst, port, mac) in cases {
        let p = V4::udp("10.0.1.10", dst, 5000, 53, b"q");
        lab.inject("lan", &p.frame(rmac(0), hmac(10)));
        let egress = lab.port(port).0 as u8;
        let out = lab.recv_all();
        assert_eq!(out.len(), 1, "{dst}: {out:?}");
        let mut frames = out[port].clone();
        if port == "lan" && frames.len() == 2 {
            // Back out of the port it came in on: an ICMP redirect (5/1)
            // to the source names the gateway on its own LAN.
            let r = frames.pop().unwrap();
            assert_eq!((r[34], r[35]), (5, 1), "{dst}");
            assert_eq!((r[38], r[39], r[40]), (10, 0, 1), "{dst}");
            assert_eq!(r[41], mac.0[5], "{dst}");
        }
        assert_eq!(
            frames,
            vec![p.ttl(63).frame(mac, rmac(egress))],
            "{dst} via {port}"
        );
    }
    let delta = lab.delta();
    assert_eq!(delta["forward.packets"], 5);
    // The second redirect to the same host waits 40 ms (the clock stood).
    assert_eq!(delta["icmp.redirect"], 1);
    lab.assert_balanced();
}

#[test]
fn source_routing_sends_the_upper_lan_half_to_the_second_uplink() {
    let mut lab = branch();
    let low = V4::udp("10.0.1.10", "8.8.8.8", 5000, 53, b"q");
    let high = V4::udp("10.0.1.200", "8.8.8.8", 5000, 53, b"q");
    lab.inject("lan", &low.frame(rmac(0), hmac(10)));
    lab.inject("lan", &high.frame(rmac(0), hmac(200)));
    assert_eq!(
        lab.recv("wan_a"),
        vec![low.ttl(63).frame(hmac(254), rmac(1))]
    );
    assert_eq!(
        lab.recv("wan_b"),
        vec![high.ttl(63).frame(hmac(101), rmac(2))]
    );
}

/// A test-only hook stage: records every call and acts on packets.
type Action = Box<dyn FnMut(Hook, TableKind, &mut Batch<'_>, usize) + Send>;

struct TestStage {
    points: Vec<(Hook, TableKind)>,
    log: Arc<Mutex<Vec<String>>>,
    action: Action,
}

impl TestStage {
    /// A stage at one point, whose log is not read.
    fn at(hook: Hook, table: TableKind, action: Action) -> Box<TestStage> {
        TestStage::new(
            vec![(hook, table)],
            Arc::new(Mutex::new(Vec::new())),
            action,
        )
    }

    fn new(
        points: Vec<(Hook, TableKind)>,
        log: Arc<Mutex<Vec<String>>>,
        action: Action,
    ) -> Box<TestStage> {
        Box::new(TestStage {
            points,
            log,
            action,
        })
    }
}

impl HookStage for TestStage {
    fn points(&self) -> Vec<(Hook, TableKind)> {
        self.points.clone()
    }

    fn run(&mut self, hook: Hook, table: TableKind, batch: &mut Batch<'_>, _cx: &HookCx<'_>) {
        let idx: Vec<String> = batch
            .indices()
            .map(|i| match batch.oif(i) {
                Some(o) => format!("{i}>{}", o.0),
                None => i.to_string(),
            })
            .collect();
        self.log.lock().unwrap().push(format!(
            "{} {} [{}]",
            hook.chain_name(),
            table.name(),
            idx.join(",")
        ));
        for i in batch.indices() {
            (self.action)(hook, table, batch, i);
        }
    }
}

/// Every built-in (hook, table) point.
fn all_points() -> Vec<(Hook, TableKind)> {
    TableKind::ALL
        .iter()
        .flat_map(|&t| t.builtin_hooks().iter().map(move |&h| (h, t)))
        .collect()
}

#[test]
fn hooks_run_in_kernel_order_with_the_right_batches() {
    let mut lab = branch();
    let log = Arc::new(Mutex::new(Vec::new()));
    lab.register(TestStage::new(
        all_points(),
        log.clone(),
        Box::new(|_, _, _, _| {}),
    ));
    // One batch: a forwarded datagram, a datagram for the box (punted),
    // an echo request for the box (answered: OUTPUT, POSTROUTING).
    let fwd = V4::udp("10.0.1.10", "10.0.2.5", 5000, 53, b"q");
    let local = V4::udp("10.0.1.10", "10.0.1.1", 5000, 53, b"q");
    let ping = V4::echo("10.0.1.10", "10.0.1.1", 7, 1, b"abc");
    lab.send("lan", &fwd.frame(rmac(0), hmac(10)));
    lab.send("lan", &local.frame(rmac(0), hmac(10)));
    lab.send("lan", &ping.frame(rmac(0), hmac(10)));
    lab.run();
    let got = log.lock().unwrap().clone();
    assert_eq!(
        got,
        vec![
            "PREROUTING raw [0,1,2]",
            "PREROUTING mangle [0,1,2]",
            "PREROUTING nat [0,1,2]",
            "FORWARD mangle [0>1]",
            "FORWARD filter [0>1]",
            "FORWARD security [0>1]",
            "INPUT mangle [1,2]",
            "INPUT filter [1,2]",
            "INPUT security [1,2]",
            "INPUT nat [1,2]",
            "POSTROUTING mangle [0>1]",
            "POSTROUTING nat [0>1]",
            // The echo reply, generated: routed before OUTPUT.
            "OUTPUT raw [0>0]",
            "OUTPUT mangle [0>0]",
            "OUTPUT nat [0>0]",
            "OUTPUT filter [0>0]",
            "OUTPUT security [0>0]",
            "POSTROUTING mangle [0>0]",
            "POSTROUTING nat [0>0]",
        ]
    );
    assert_eq!(lab.recv("wan_a").len(), 1);
    assert_eq!(lab.recv("lan").len(), 1);
    assert_eq!(lab.punted().len(), 1);
    lab.assert_balanced();
}

#[test]
fn empty_tables_accept_everything() {
    // No stage registered: the same as registering stages that do nothing.
    let mut a = branch();
    let mut b = branch();
    let log = Arc::new(Mutex::new(Vec::new()));
    b.register(TestStage::new(all_points(), log, Box::new(|_, _, _, _| {})));
    for lab in [&mut a, &mut b] {
        lab.inject(
            "lan",
            &V4::udp("10.0.1.10", "8.8.8.8", 1, 2, b"x").frame(rmac(0), hmac(10)),
        );
        lab.inject(
            "lan",
            &V4::echo("10.0.1.10", "10.0.1.1", 1, 1, b"x").frame(rmac(0), hmac(10)),
        );
    }
    assert_eq!(a.recv_all(), b.recv_all());
    assert_eq!(a.delta(), b.delta());
}

#[test]
fn mark_set_in_mangle_prerouting_selects_the_second_uplink() {
    let mut lab = branch();
    // As `-t mangle -A PREROUTING -p udp --dport 443 -j MARK --set-mark 1`.
    lab.register(TestStage::at(
        Hook::Prerouting,
        TableKind::Mangle,
        Box::new(|_, _, b, i| {
            if b.meta(i).protocol == IpProtocol::UDP && b.meta(i).dst_port == 443 {
                b.set_mark(i, 0x1);
            }
        }),
    ));
    let web = V4::udp("10.0.1.10", "8.8.8.8", 5000, 80, b"q");
    let quic = V4::udp("10.0.1.10", "8.8.8.8", 5000, 443, b"q");
    lab.send("lan", &web.frame(rmac(0), hmac(10)));
    lab.send("lan", &quic.frame(rmac(0), hmac(10)));
    lab.run();
    assert_eq!(
        lab.recv("wan_a"),
        vec![web.ttl(63).frame(hmac(254), rmac(1))]
    );
    assert_eq!(
        lab.recv("wan_b"),
        vec![quic.ttl(63).frame(hmac(101), rmac(2))]
    );
}

#[test]
fn dnat_in_nat_prerouting_reroutes() {
    let mut lab = branch();
    // As `-t nat -A PREROUTING -d 10.0.2.1 -p udp --dport 8080 -j DNAT --to 192.168.100.1`:
    // routed to the box before, to the third port after.
    lab.register(TestStage::at(
        Hook::Prerouting,
        TableKind::Nat,
        Box::new(|_, _, b, i| {
            if b.meta(i).dst == ip("10.0.2.1") && b.meta(i).dst_port == 8080 {
                assert!(b.set_dst(i, ip("192.168.100.1")));
            }
        }),
    ));
    let p = V4::udp("10.0.2.5", "10.0.2.1", 5000, 8080, b"data");
    lab.inject("wan_a", &p.frame(rmac(1), hmac(5)));
    let mut want = V4::udp("10.0.2.5", "192.168.100.1", 5000, 8080, b"data");
    want.ttl = 63;
    let out = lab.recv("wan_b");
    assert_eq!(out, vec![want.frame(hmac(101), rmac(2))]);
    assert_v4_checksums(&out[0]);
    assert!(lab.punted().is_empty());
    assert_eq!(lab.delta()["forward.packets"], 1);
}

#[test]
fn dnat_of_ipv6_keeps_the_udp_checksum() {
    let mut lab = branch();
    lab.neighbour("wan_a", "fd00:2::7", hmac(7));
    lab.register(TestStage::at(
        Hook::Prerouting,
        TableKind::Nat,
        Box::new(|_, _, b, i| {
            if b.meta(i).dst == ip("fd00:2::6") {
                assert!(b.set_dst(i, ip("fd00:2::7")));
            }
        }),
    ));
    let p = V6::udp("fd00:1::10", "fd00:2::6", 1, 2, b"xyz");
    lab.inject("lan", &p.frame(rmac(0), hmac(10)));
    let want = V6::udp("fd00:1::10", "fd00:2::7", 1, 2, b"xyz").hop_limit(63);
    assert_eq!(lab.recv("wan_a"), vec![want.frame(hmac(7), rmac(1))]);
}

#[test]
fn mark_set_in_mangle_output_reroutes_a_generated_packet() {
    let mut lab = branch();
    let log = Arc::new(Mutex::new(Vec::new()));
    lab.register(TestStage::new(
        vec![(Hook::Output, TableKind::Mangle)],
        log.clone(),
        Box::new(|_, _, b, i| b.set_mark(i, 0x1)),
    ));
    lab.register(TestStage::new(
        vec![
            (Hook::Output, TableKind::Filter),
            (Hook::Postrouting, TableKind::Mangle),
        ],
        log.clone(),
        Box::new(|_, _, _, _| {}),
    ));
    let ping = V4::echo("10.0.1.10", "10.0.1.1", 7, 1, b"abc");
    lab.inject("lan", &ping.frame(rmac(0), hmac(10)));
    // The reply's mark selects table 100: out of wan_b to its gateway.
    let out = lab.recv("wan_b");
    assert_eq!(out.len(), 1);
    assert_eq!(macs_of(&out[0]).0, hmac(101));
    assert!(lab.recv("lan").is_empty());
    assert_eq!(
        log.lock().unwrap().clone(),
        // The tables after mangle at the same hook still see the output
        // port the hook began with (the kernel's `nf_hook_state.out`);
        // POSTROUTING sees the new one.
        vec![
            "OUTPUT mangle [0>0]",
            "OUTPUT filter [0>0]",
            "POSTROUTING mangle [0>2]"
        ]
    );
}

#[test]
fn drop_in_filter_forward_is_counted_and_local_traffic_is_untouched() {
    let mut lab = branch();
    lab.register(TestStage::at(
        Hook::Forward,
        TableKind::Filter,
        Box::new(|_, _, b, i| b.drop(i, Counter::FilterDrop)),
    ));
    lab.send(
        "lan",
        &V4::udp("10.0.1.10", "8.8.8.8", 1, 2, b"x").frame(rmac(0), hmac(10)),
    );
    lab.send(
        "lan",
        &V4::echo("10.0.1.10", "10.0.1.1", 1, 1, b"x").frame(rmac(0), hmac(10)),
    );
    lab.run();
    assert!(lab.recv("wan_a").is_empty());
    assert_eq!(lab.recv("lan").len(), 1, "the echo reply");
    assert_eq!(
        lab.delta(),
        counts(&[
            ("rx.frames", 2),
            ("filter.drop", 1),
            ("input.packets", 1),
            ("local.echo_reply", 1),
            ("output.packets", 1),
            ("tx.frames", 1),
        ])
    );
    lab.assert_balanced();
}

#[test]
fn a_stolen_frame_belongs_to_the_stage() {
    let mut lab = branch();
    let taken = Arc::new(Mutex::new(Vec::new()));
    let t = taken.clone();
    lab.register(TestStage::at(
        Hook::Prerouting,
        TableKind::Raw,
        Box::new(move |_, _, b, i| t.lock().unwrap().push(b.steal(i))),
    ));
    lab.inject(
        "lan",
        &V4::udp("10.0.1.10", "8.8.8.8", 1, 2, b"x").frame(rmac(0), hmac(10)),
    );
    assert!(lab.recv_all().is_empty());
    assert_eq!(lab.delta(), counts(&[("rx.frames", 1), ("hook.stolen", 1)]));
    for d in taken.lock().unwrap().drain(..) {
        lab.w.umem.free(d);
    }
    lab.assert_balanced();
}

// ---------------------------------------------------------------------------
// ICMP errors.

/// The IPv4 ICMP error the router should send from 10.0.1.1 on port 0 to
/// the host 10.0.1.10 (MAC 10), with the identification it picked for
/// `sent`.
fn icmp4_error(sent: &[u8], t: u8, code: u8, word: u32, quote: &[u8], orig_tos: u8) -> Vec<u8> {
    let mut m = vec![t, code, 0, 0];
    m.extend_from_slice(&word.to_be_bytes());
    m.extend_from_slice(quote);
    wire::icmpv4::Packet::new_unchecked(&mut m[..]).fill_checksum();
    let p = V4 {
        src: v4("10.0.1.1"),
        dst: v4("10.0.1.10"),
        ttl: 64,
        tos: (orig_tos & 0x1e) | 0xc0,
        ident: ident_of(sent),
        df: false,
        protocol: IpProtocol::ICMP,
        l4: m,
    };
    p.frame(hmac(10), rmac(0))
}

#[test]
fn ttl_expiry_sends_time_exceeded_quoting_the_packet() {
    let mut lab = branch();
    let p = V4::udp("10.0.1.10", "8.8.8.8", 5000, 53, b"query")
        .ttl(1)
        .tos(0x10);
    lab.inject("lan", &p.frame(rmac(0), hmac(10)));
    assert!(lab.recv("wan_a").is_empty());
    let out = lab.recv("lan");
    assert_eq!(out.len(), 1);
    let want = icmp4_error(&out[0], 11, 0, 0, &p.ip(), 0x10);
    assert_eq!(out[0], want);
    assert_v4_checksums(&out[0]);
    assert_eq!(
        lab.delta(),
        counts(&[
            ("rx.frames", 1),
            ("forward.ttl_exceeded", 1),
            ("icmp.time_exceeded", 1),
            ("output.packets", 1),
            ("tx.frames", 1),
        ])
    );
    // TTL 0 too; and a TTL of 2 goes through with 1.
    lab.inject("lan", &p.clone().ttl(0).frame(rmac(0), hmac(10)));
    assert_eq!(lab.recv("lan").len(), 1);
    lab.inject("lan", &p.clone().ttl(2).frame(rmac(0), hmac(10)));
    assert_eq!(lab.recv("wan_a"), vec![p.ttl(1).frame(hmac(254), rmac(1))]);
    lab.assert_balanced();
}

#[test]
fn icmp_error_quotes_at_most_548_bytes_and_never_answers_errors() {
    let mut lab = branch();
    let big = V4::udp_len("10.0.1.10", "8.8.8.8", 1000).ttl(1);
    lab.inject("lan", &big.frame(rmac(0), hmac(10)));
    let out = lab.recv("lan");
    assert_eq!(out.len(), 1);
    assert_eq!(out[0].len(), 14 + 20 + 8 + 548);
    assert_eq!(&out[0][42..], &big.ip()[..548]);
    // An ICMP error that expires gets no error back; nor does a non-first
    // fragment, nor a link-layer broadcast.
    let err = V4 {
        protocol: IpProtocol::ICMP,
        l4: icmp4(3, 1, 0, 0, &[0u8; 28]),
        ..V4::udp("10.0.1.10", "8.8.8.8", 1, 2, b"")
    }
    .ttl(1);
    lab.inject("lan", &err.frame(rmac(0), hmac(10)));
    let mut frag = V4::udp("10.0.1.10", "8.8.8.8", 1, 2, b"12345678")
        .ttl(1)
        .df(false)
        .ip();
    frag[6..8].copy_from_slice(&0x0003u16.to_be_bytes()); // offset 24
    ipv4::Packet::new_unchecked(&mut frag[..]).fill_checksum();
    lab.inject("lan", &eth(rmac(0), hmac(10), EtherType::IPV4, &frag));
    // An echo request that expires does get one.
    let ping = V4::echo("10.0.1.10", "8.8.8.8", 1, 1, b"").ttl(1);
    lab.inject("lan", &ping.frame(rmac(0), hmac(10)));
    assert_eq!(lab.recv("lan").len(), 1);
    let d = lab.delta();
    assert_eq!(d["forward.ttl_exceeded"], 4);
    assert_eq!(d["icmp.suppressed"], 2);
    assert_eq!(d["icmp.time_exceeded"], 2);
}

#[test]
fn no_route_sends_net_unreachable_rate_limited_like_ip_error() {
    let mut lab = Lab::with_neighbours(TWO, &[("r0", "10.0.1.10", hmac(10))]);
    let p = V4::udp("10.0.1.10", "192.0.2.1", 5000, 53, b"q");
    for _ in 0..3 {
        lab.inject("r0", &p.frame(rmac(0), hmac(10)));
    }
    let out = lab.recv("r0");
    // ip_error takes 1 s of the source's 5 s bucket, icmp_send 1 s of 6:
    // two errors, then the third is limited.
    assert_eq!(out.len(), 2);
    assert_eq!(out[0], icmp4_error(&out[0], 3, 0, 0, &p.ip(), 0));
    assert_eq!(
        lab.delta(),
        counts(&[
            ("rx.frames", 3),
            ("route.no_route", 3),
            ("icmp.dest_unreachable", 2),
            ("icmp.ratelimited", 1),
            ("output.packets", 2),
            ("tx.frames", 2),
        ])
    );
    // Two seconds later: one more.
    lab.advance(Duration::from_secs(2));
    lab.inject("r0", &p.frame(rmac(0), hmac(10)));
    assert_eq!(lab.recv("r0").len(), 1);
    // IPv6 no route: destination unreachable, code 0 (no route).
    lab.neighbour("r0", "fd00:1::10", hmac(10));
    lab.delta();
    let p6 = V6::udp("fd00:1::10", "2001:db8::1", 1, 2, b"q");
    lab.inject("r0", &p6.frame(rmac(0), hmac(10)));
    let out = lab.recv("r0");
    assert_eq!(out.len(), 1);
    let mut unreach = vec![1, 0, 0, 0, 0, 0, 0, 0];
    unreach.extend_from_slice(&p6.ip());
    assert_eq!(
        out[0],
        V6::icmp("fd00:1::1", "fd00:1::10", &unreach).frame(hmac(10), rmac(0))
    );
    assert_icmpv6_checksum(&out[0]);
}

#[test]
fn unreachable_prohibit_and_blackhole_routes() {
    let ports = vec![
        Port {
            name: "r0".into(),
            addresses: vec!["10.0.1.1/24".parse().unwrap()],
            line: 1,
        },
        Port {
            name: "r1".into(),
            addresses: vec!["10.0.2.1/24".parse().unwrap()],
            line: 2,
        },
    ];
    let routes = vec![
        StaticRoute::typed("10.50.0.0/16".parse().unwrap(), RouteType::Unreachable, 3),
        StaticRoute::typed("10.51.0.0/16".parse().unwrap(), RouteType::Prohibit, 4),
        StaticRoute::typed("10.52.0.0/16".parse().unwrap(), RouteType::Blackhole, 5),
    ];
    let router = Router::build(&ports, &routes, &[]).unwrap();
    let confs = ports
        .iter()
        .map(|p| PortConf::new(&p.name, 1500, &p.addresses))
        .collect();
    let mut lab = Lab::from_snapshot(
        Snapshot::new(1, Net::new(router, confs), None),
        PipelineParams::default(),
    );
    for (n, host) in ["10.0.1.10", "10.0.1.11", "10.0.1.12"].iter().enumerate() {
        lab.neighbour("r0", host, hmac(10 + n as u8));
    }
    lab.delta();
    let to = |src: &str, dst: &str| V4::udp(src, dst, 1, 2, b"x");
    lab.send("r0", &to("10.0.1.10", "10.50.0.1").frame(rmac(0), hmac(10)));
    lab.send("r0", &to("10.0.1.11", "10.51.0.1").frame(rmac(0), hmac(11)));
    lab.send("r0", &to("10.0.1.12", "10.52.0.1").frame(rmac(0), hmac(12)));
    lab.run();
    let out = lab.recv("r0");
    let codes: Vec<(u8, u8, MacAddr)> = out.iter().map(|f| (f[34], f[35], macs_of(f).0)).collect();
    assert_eq!(codes, vec![(3, 1, hmac(10)), (3, 13, hmac(11))]);
    assert_eq!(
        lab.delta(),
        counts(&[
            ("rx.frames", 3),
            ("route.unreachable", 1),
            ("route.prohibit", 1),
            ("route.blackhole", 1),
            ("icmp.dest_unreachable", 2),
            ("output.packets", 2),
            ("tx.frames", 2),
        ])
    );
}

/// [`TWO`] with an MTU of 1400 on r1 (the last interface).
const SMALL_MTU: &str = concat!(two_ports!(), "mtu = 1400\n");

fn small_mtu() -> Lab {
    Lab::with_neighbours(
        SMALL_MTU,
        &[
            ("r0", "10.0.1.10", hmac(10)),
            ("r1", "10.0.2.5", hmac(5)),
            ("r0", "fd00:1::10", hmac(10)),
            ("r1", "fd00:2::5", hmac(5)),
        ],
    )
}

#[test]
fn df_over_mtu_sends_frag_needed_with_the_next_hop_mtu() {
    let mut lab = small_mtu();
    let p = V4::udp_len("10.0.1.10", "10.0.2.5", 1472); // 1500 bytes
    lab.inject("r0", &p.frame(rmac(0), hmac(10)));
    assert!(lab.recv("r1").is_empty());
    let out = lab.recv("r0");
    assert_eq!(out.len(), 1);
    let want = icmp4_error(&out[0], 3, 4, 1400, &p.ip()[..548], 0);
    assert_eq!(out[0], want);
    assert_eq!(
        lab.delta(),
        counts(&[
            ("rx.frames", 1),
            ("forward.frag_needed", 1),
            ("icmp.frag_needed", 1),
            ("output.packets", 1),
            ("tx.frames", 1),
        ])
    );
    // Exactly the MTU passes.
    let fits = V4::udp_len("10.0.1.10", "10.0.2.5", 1372);
    lab.inject("r0", &fits.frame(rmac(0), hmac(10)));
    assert_eq!(lab.recv("r1").len(), 1);
    // Fragmentation needed is not rate limited.
    for _ in 0..10 {
        lab.inject("r0", &p.frame(rmac(0), hmac(10)));
    }
    assert_eq!(lab.recv("r0").len(), 10);
}

#[test]
fn without_df_the_packet_is_fragmented_as_the_kernel_does() {
    let mut lab = small_mtu();
    // 1700 bytes: 1680 of data, 1376 (1400 - 20, rounded down to 8) + 304.
    let p = V4::udp_len("10.0.1.10", "10.0.2.5", 1672)
        .df(false)
        .ident(0xbeef);
    let orig = p.ip();
    lab.inject("r0", &p.frame(rmac(0), hmac(10)));
    let out = lab.recv("r1");
    assert_eq!(out.len(), 2);
    // 1400 - 20 = 1380, rounded down to 1376 per fragment.
    let mut data = Vec::new();
    for (k, f) in out.iter().enumerate() {
        assert_eq!(macs_of(f), (hmac(5), rmac(1), EtherType::IPV4));
        assert_v4_checksums(f);
        let ip4 = ipv4::Packet::new_checked(&f[14..]).unwrap();
        assert_eq!(ip4.ident(), 0xbeef);
        assert_eq!(ip4.ttl(), 63);
        assert!(!ip4.dont_frag());
        assert_eq!(ip4.more_frags(), k == 0);
        assert_eq!(ip4.frag_offset() as usize, k * 1376);
        assert_eq!(f.len(), 14 + ip4.total_len() as usize);
        assert!(ip4.total_len() <= 1400);
        data.extend_from_slice(ip4.payload());
    }
    assert_eq!(
        ipv4::Packet::new_checked(&out[0][14..])
            .unwrap()
            .total_len(),
        1396
    );
    assert_eq!(data, orig[20..]);
    assert_eq!(
        lab.delta(),
        counts(&[
            ("rx.frames", 1),
            ("forward.packets", 1),
            ("frag.packets", 1),
            ("frag.created", 1),
            ("tx.frames", 2),
        ])
    );
    lab.assert_balanced();
}

#[test]
fn fragmenting_a_fragment_keeps_its_offset_and_more_flag() {
    let mut lab = small_mtu();
    let p = V4::udp_len("10.0.1.10", "10.0.2.5", 1600).df(false);
    let mut ip4 = p.ip();
    // Mark it as a middle fragment at offset 800 (its bytes are then data).
    {
        let mut h = ipv4::Packet::new_unchecked(&mut ip4[..]);
        h.set_frag_offset(800);
        h.set_more_frags(true);
        h.fill_checksum();
    }
    lab.inject("r0", &eth(rmac(0), hmac(10), EtherType::IPV4, &ip4));
    let out = lab.recv("r1");
    assert_eq!(out.len(), 2);
    let f: Vec<(u16, bool)> = out
        .iter()
        .map(|f| {
            let h = ipv4::Packet::new_checked(&f[14..]).unwrap();
            (h.frag_offset(), h.more_frags())
        })
        .collect();
    assert_eq!(f, vec![(800, true), (800 + 1376, true)]);
}

#[path = "pipeline/l2_local.rs"]
mod l2_local;

#[path = "pipeline/defrag6.rs"]
mod defrag6;
