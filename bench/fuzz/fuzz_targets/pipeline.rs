//! The whole pipeline: a sequence of frames through one worker with the
//! lab example's configuration (config/examples/lab: three ports,
//! conntrack, MASQUERADE, DNAT, REDIRECT, CONNMARK, policy routing, a set,
//! LOG, limit, REJECT) over in-memory ports, made dual stack: the ports
//! get IPv6 addresses and an ip6tables ruleset ([`RULES6`]) runs on IPv6
//! frames (extension-header matches, REJECT, NPT, TCPMSS, MASQUERADE,
//! conntrack).
//!
//! An input is records `[ctl, len_lo, len_hi, frame bytes...]`: `ctl & 3`
//! is the port (mod 3); `ctl & 4` fixes up the IPv4 header checksum (so
//! that mutated headers get past the parse); `ctl & 0x80` ends the batch
//! after this frame and moves time on by `2^((ctl >> 3) & 15) - 1`
//! seconds (conntrack timeouts, neighbour and limit timers fire). After
//! every batch the frame ledger balances (every frame in is out, dropped
//! with a reason, punted, consumed or queued) and no frame of the arena
//! leaked; the counters never go down.
#![no_main]

use std::net::IpAddr;
use std::path::Path;
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

use libfuzzer_sys::fuzz_target;
use sluice_dataplane::io::mem::MemPort;
use sluice_dataplane::io::Umem;
use sluice_dataplane::pipeline::{Counters, Pipeline, PipelineParams, Snapshot};
use sluice_dataplane::route::PortId;
use sluice_dataplane::rules::RulesParams;
use sluice_dataplane::wire::{checksum, MacAddr};
use sluice_dataplane::worker::Worker;

const TOML: &str = include_str!("../../../config/examples/lab/sluice.toml");
const RULES: &str = include_str!("../../../config/examples/lab/rules.v4");
const SETS: &str = include_str!("../../../config/examples/lab/sets.save");

/// The IPv6 side: every IPv6 feature of the dataplane somewhere.
const RULES6: &str = "*raw
:PREROUTING ACCEPT [0:0]
:OUTPUT ACCEPT [0:0]
-A PREROUTING -p udp -m udp --dport 53 -j CT --notrack
COMMIT
*mangle
:PREROUTING ACCEPT [0:0]
:INPUT ACCEPT [0:0]
:FORWARD ACCEPT [0:0]
:OUTPUT ACCEPT [0:0]
:POSTROUTING ACCEPT [0:0]
-A PREROUTING -d 2001:db8:9::/64 -i r1 -j DNPT --src-pfx 2001:db8:9::/64 --dst-pfx fd00:1::/64
-A PREROUTING -m hl --hl-lt 3 -j HL --hl-set 2
-A FORWARD -p tcp -m tcp --tcp-flags SYN,RST SYN -j TCPMSS --clamp-mss-to-pmtu
-A FORWARD -p udp -j DSCP --set-dscp 0x0a
-A POSTROUTING -o r2 -j SNPT --src-pfx fd00:1::/64 --dst-pfx 2001:db8:9::/64
COMMIT
*nat
:PREROUTING ACCEPT [0:0]
:INPUT ACCEPT [0:0]
:OUTPUT ACCEPT [0:0]
:POSTROUTING ACCEPT [0:0]
-A PREROUTING -i r0 -p udp -m udp --dport 5353 -j REDIRECT --to-ports 53
-A POSTROUTING -o r1 -j MASQUERADE
COMMIT
*filter
:INPUT DROP [0:0]
:FORWARD DROP [0:0]
:OUTPUT ACCEPT [0:0]
-A INPUT -m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT
-A INPUT -p ipv6-icmp -m icmp6 --icmpv6-type 135 -j ACCEPT
-A INPUT -p ipv6-icmp -m icmp6 --icmpv6-type 136 -j ACCEPT
-A INPUT -m eui64 -j LOG --log-prefix \"eui64 \"
-A INPUT -p tcp -j REJECT --reject-with tcp-reset
-A INPUT -p udp -j REJECT --reject-with icmp6-adm-prohibited
-A FORWARD -m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT
-A FORWARD -m ipv6header --header hop-by-hop --soft -j DROP
-A FORWARD -m frag --fragid 1:100 --fraglast -j DROP
-A FORWARD -m rt --rt-type 0 --rt-segsleft 1:5 -j REJECT
-A FORWARD -m rt --rt-type 0 --rt-0-addrs fd00::1,fd00::2 --rt-0-not-strict
-A FORWARD -s fd00:1::/64 -i r0 -m multiport -p tcp --dports 22,80,443 -j ACCEPT
-A FORWARD -s fd00:1::/64 -i r0 -m limit --limit 5/sec -j ACCEPT
-A FORWARD -p ipv6-icmp -m icmp6 ! --icmpv6-type 128 -j ACCEPT
-A FORWARD -j REJECT --reject-with icmp6-port-unreachable
COMMIT
";

/// The lab's TOML with IPv6 on the ports and an IPv6 default route.
fn dual_stack_toml() -> String {
    TOML.replace(
        "address = [\"10.0.1.1/24\"]",
        "address = [\"10.0.1.1/24\", \"fd00:1::1/64\"]",
    )
    .replace(
        "address = [\"10.0.2.1/24\"]",
        "address = [\"10.0.2.1/24\", \"fd00:2::1/64\"]",
    )
    .replace(
        "address = [\"10.0.3.1/24\"]",
        "address = [\"10.0.3.1/24\", \"fd00:3::1/64\"]",
    ) + "\n[[route]]\nto = \"::/0\"\nvia = \"fd00:2::2\"\ndev = \"r1\"\n"
}

/// Frames in the arena; a batch is at most `RING` frames.
const FRAMES: u32 = 256;
const RING: usize = 64;

fn snapshot() -> Arc<Snapshot> {
    static SNAP: OnceLock<Arc<Snapshot>> = OnceLock::new();
    SNAP.get_or_init(|| {
        let a = sluice_config::appliance::parse(&dual_stack_toml(), Path::new("sluice.toml"))
            .unwrap();
        let rs = sluice_config::iptables::parse(RULES, Path::new("rules.v4")).unwrap();
        let rs6 = sluice_config::iptables::parse6(RULES6, Path::new("rules.v6")).unwrap();
        let sets = sluice_config::ipset::parse(SETS, Path::new("sets.save")).unwrap();
        let snap = Snapshot::build_dual(&a, &rs, Some(&rs6), &sets, RulesParams::default(), 1)
            .unwrap();
        Arc::new(snap)
    })
    .clone()
}

fn mac(i: u8) -> MacAddr {
    MacAddr([0x02, 0, 0, 0, 0x01, i])
}

struct Box3 {
    w: Worker<MemPort>,
    now: Instant,
    last: Counters,
}

impl Box3 {
    fn new() -> Box3 {
        let snap = snapshot();
        let n = snap.net.ports.len();
        let now = Instant::now();
        let macs = (0..n).map(|i| mac(i as u8)).collect();
        // Small tables: a fresh worker per input stays cheap, and a full
        // conntrack table is in reach of a few frames.
        let params = PipelineParams {
            punt_capacity: 256,
            tx_capacity: 256,
            conntrack_max: 64,
            ..PipelineParams::default()
        };
        let pipeline = Pipeline::for_worker(snap, macs, params, 0, now);
        let ports = (0..n).map(|_| MemPort::new(RING)).collect();
        let mut w = Worker::new(Umem::new(FRAMES, 2048), ports, pipeline);
        // The LAN server, the uplinks' gateways: known, so frames leave.
        for (port, addr, host) in [
            (0, "10.0.1.3", 3),
            (1, "10.0.2.2", 4),
            (2, "10.0.3.2", 5),
            (0, "fd00:1::3", 3),
            (1, "fd00:2::2", 4),
            (2, "fd00:3::2", 5),
        ] {
            let addr: IpAddr = addr.parse().unwrap();
            let m = MacAddr([0x52, 0x54, 0, 0, 0, host]);
            w.pipeline
                .add_permanent_neighbour(&mut w.umem, PortId(port), addr, m, now);
        }
        let last = w.pipeline.counters();
        Box3 { w, now, last }
    }

    /// Polls until every RX queue is empty, then checks the invariants
    /// and takes what came out.
    fn run(&mut self) {
        loop {
            self.w.poll(self.now);
            if self.w.ports.iter().all(|p| p.rx_pending() == 0) {
                break;
            }
        }
        if let Err(e) = self.w.check_ledger() {
            panic!("{e}");
        }
        let c = self.w.pipeline.counters();
        for ((name, now), (_, before)) in c.iter().zip(self.last.iter()) {
            assert!(now >= before, "counter {name} went down: {before} -> {now}");
        }
        self.last = c;
        for p in &mut self.w.ports {
            p.drain(&mut self.w.umem);
        }
        self.w.pipeline.punt().take_all(&mut self.w.umem);
    }
}

/// Recomputes the IPv4 header checksum of an untagged IPv4 frame.
fn fix_ipv4(frame: &mut [u8]) {
    if frame.len() < 34 || frame[12..14] != [0x08, 0x00] {
        return;
    }
    let ihl = usize::from(frame[14] & 0x0f) * 4;
    if ihl < 20 || frame.len() < 14 + ihl {
        return;
    }
    frame[24..26].copy_from_slice(&[0, 0]);
    let c = checksum::checksum(&frame[14..14 + ihl]);
    frame[24..26].copy_from_slice(&c.to_be_bytes());
}

fuzz_target!(|data: &[u8]| {
    let mut b = Box3::new();
    let ports = b.w.ports.len();
    let mut pending = 0;
    let mut rest = data;
    let mut frame = [0u8; 2048];
    while rest.len() >= 3 {
        let ctl = rest[0];
        let len = usize::from(u16::from_le_bytes([rest[1], rest[2]])) % 1515;
        rest = &rest[3..];
        let len = len.min(rest.len());
        let f = &mut frame[..len];
        f.copy_from_slice(&rest[..len]);
        rest = &rest[len..];
        if ctl & 4 != 0 {
            fix_ipv4(f);
        }
        let port = usize::from(ctl & 3) % ports;
        if pending == RING || !b.w.ports[port].inject(&mut b.w.umem, f) {
            b.run();
            pending = 0;
            if !b.w.ports[port].inject(&mut b.w.umem, f) {
                continue;
            }
        }
        pending += 1;
        if ctl & 0x80 != 0 {
            b.run();
            pending = 0;
            b.now += Duration::from_secs((1u64 << ((ctl >> 3) & 15)) - 1);
            b.run();
        }
    }
    b.run();
});
