//! The pipeline test harness: a worker with in-memory ports built from
//! appliance TOML, frame builders written with the `wire` module's views
//! and reprs, and helpers to read what came out and which counters moved.
#![allow(dead_code)]

use std::collections::BTreeMap;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use sluice_dataplane::io::mem::MemPort;
use sluice_dataplane::io::{Port, Umem};
use sluice_dataplane::pipeline::{Counters, HookStage, Pipeline, PipelineParams, Snapshot};
use sluice_dataplane::route::PortId;
use sluice_dataplane::rules::{RulesParams, RulesReader};
use sluice_dataplane::wire::{
    self, arp, checksum, ethernet, icmpv4, icmpv6, ipv4, ipv6, EtherType, IpProtocol, MacAddr,
};
use sluice_dataplane::worker::Worker;

/// A two-port gateway: `lan` 10.0.1.1/24, `wan` 192.0.2.1/24 with the
/// default route via 192.0.2.254.
pub const GATEWAY_TOML: &str = r#"
[[interface]]
name = "lan"
address = ["10.0.1.1/24"]

[[interface]]
name = "wan"
address = ["192.0.2.1/24"]

[[route]]
to = "default"
via = "192.0.2.254"
"#;

/// The gateway's ruleset: MASQUERADE out of `wan`, FORWARD policy DROP
/// with ESTABLISHED/RELATED back and `lan` → `wan` out.
pub const GATEWAY_RULES: &str = "*nat
:PREROUTING ACCEPT [0:0]
:INPUT ACCEPT [0:0]
:OUTPUT ACCEPT [0:0]
:POSTROUTING ACCEPT [0:0]
-A POSTROUTING -o wan -j MASQUERADE
COMMIT
*filter
:INPUT ACCEPT [0:0]
:FORWARD DROP [0:0]
:OUTPUT ACCEPT [0:0]
-A FORWARD -m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT
-A FORWARD -i lan -o wan -j ACCEPT
COMMIT
";

/// The snapshot of `toml` with `rules` compiled (generation `generation`).
pub fn snapshot(toml: &str, rules: &str, generation: u64) -> Snapshot {
    let a = sluice_config::appliance::parse(toml, Path::new("t.toml")).unwrap();
    let rs = sluice_config::iptables::parse(rules, Path::new("t.rules")).unwrap();
    Snapshot::build(
        &a,
        &rs,
        &Default::default(),
        RulesParams::default(),
        generation,
    )
    .unwrap()
}

/// The router's MAC on port `i`.
pub fn rmac(i: u8) -> MacAddr {
    MacAddr([0x02, 0x00, 0x00, 0x00, 0x01, i])
}

/// A host's MAC.
pub fn hmac(n: u8) -> MacAddr {
    MacAddr([0x52, 0x54, 0x00, 0x00, 0x00, n])
}

pub fn v4(s: &str) -> Ipv4Addr {
    s.parse().unwrap()
}

pub fn v6(s: &str) -> Ipv6Addr {
    s.parse().unwrap()
}

pub fn ip(s: &str) -> IpAddr {
    s.parse().unwrap()
}

/// Frames in the arena of every lab.
pub const FRAMES: u32 = 4096;

/// A worker with one in-memory port per configured interface.
pub struct Lab {
    pub w: Worker<MemPort>,
    pub names: Vec<String>,
    pub t0: Instant,
    pub now: Instant,
    last: Counters,
}

impl Lab {
    pub fn new(toml: &str) -> Lab {
        Lab::with_params(toml, PipelineParams::default())
    }

    /// A lab with permanent neighbours `(port, address, MAC)` and the
    /// counters that set-up moved taken (see [`Lab::delta`]).
    pub fn with_neighbours(toml: &str, neighbours: &[(&str, &str, MacAddr)]) -> Lab {
        let mut lab = Lab::new(toml);
        for &(port, addr, mac) in neighbours {
            lab.neighbour(port, addr, mac);
        }
        lab.delta();
        lab
    }

    pub fn with_params(toml: &str, params: PipelineParams) -> Lab {
        let a = sluice_config::appliance::parse(toml, Path::new("test.toml")).unwrap();
        let snap = Snapshot::from_appliance(&a, 1).unwrap();
        Lab::from_snapshot(snap, params)
    }

    /// A lab whose snapshot has `rules` (an iptables-restore file)
    /// compiled with `params`.
    pub fn with_rules(toml: &str, rules: &str, params: RulesParams) -> Lab {
        let a = sluice_config::appliance::parse(toml, Path::new("test.toml")).unwrap();
        let rs = sluice_config::iptables::parse(rules, Path::new("test.rules"))
            .unwrap_or_else(|e| panic!("{e}"));
        let snap = Snapshot::build(&a, &rs, &Default::default(), params, 1).unwrap();
        Lab::from_snapshot(snap, PipelineParams::default())
    }

    /// A reader of the rules' counters and LOG records (the lab must have
    /// rules).
    pub fn rules(&self) -> RulesReader {
        self.w.pipeline.rules_reader().expect("the lab has rules")
    }

    pub fn from_snapshot(snap: Snapshot, params: PipelineParams) -> Lab {
        Lab::worker(Arc::new(snap), params, 0)
    }

    /// Worker `worker` (of `params.workers`) of a multi-worker box.
    pub fn worker(snap: Arc<Snapshot>, params: PipelineParams, worker: u32) -> Lab {
        let t0 = Instant::now();
        let names: Vec<String> = snap.net.ports.iter().map(|p| p.name.clone()).collect();
        let macs = (0..names.len()).map(|i| rmac(i as u8)).collect();
        let pipeline = Pipeline::for_worker(snap, macs, params, worker, t0);
        let ports = names.iter().map(|_| MemPort::new(1024)).collect();
        Lab {
            w: Worker::new(Umem::new(FRAMES, 2048), ports, pipeline),
            names,
            t0,
            now: t0,
            last: Counters::default(),
        }
    }

    pub fn port(&self, name: &str) -> PortId {
        PortId(self.names.iter().position(|n| n == name).unwrap() as u16)
    }

    pub fn register(&mut self, stage: Box<dyn HookStage>) {
        self.w.pipeline.register(stage);
    }

    /// Queues `frame` for RX on `port` (it is processed by [`Lab::run`]).
    pub fn send(&mut self, port: &str, frame: &[u8]) {
        let p = self.port(port).0 as usize;
        assert!(
            self.w.ports[p].inject(&mut self.w.umem, frame),
            "RX ring full"
        );
    }

    /// Polls until every RX queue is empty.
    pub fn run(&mut self) {
        loop {
            self.w.poll(self.now);
            if self.w.ports.iter().all(|p| p.rx_pending() == 0) {
                break;
            }
        }
    }

    /// Sends and runs.
    pub fn inject(&mut self, port: &str, frame: &[u8]) {
        self.send(port, frame);
        self.run();
    }

    /// Moves time on and polls (timers fire).
    pub fn advance(&mut self, d: Duration) {
        self.now += d;
        self.run();
    }

    /// Frames transmitted on `port` since the last call.
    pub fn recv(&mut self, port: &str) -> Vec<Vec<u8>> {
        let p = self.port(port).0 as usize;
        self.w.ports[p].take_sent(&mut self.w.umem)
    }

    /// Frames transmitted on every port, by port name.
    pub fn recv_all(&mut self) -> BTreeMap<String, Vec<Vec<u8>>> {
        let names = self.names.clone();
        names
            .iter()
            .map(|n| (n.clone(), self.recv(n)))
            .filter(|(_, f)| !f.is_empty())
            .collect()
    }

    /// Frames punted to the host stack since the last call.
    pub fn punted(&mut self) -> Vec<(PortId, Vec<u8>)> {
        self.w.pipeline.punt().take_all(&mut self.w.umem)
    }

    /// The counters that moved since the last call, with their increase;
    /// the poll loop's own (`worker.*`: turns, batches) are left out.
    pub fn delta(&mut self) -> BTreeMap<&'static str, u64> {
        let now = self.w.pipeline.counters().clone();
        let d = now
            .delta(&self.last)
            .into_iter()
            .filter(|(name, _)| !name.starts_with("worker."))
            .collect();
        self.last = now;
        d
    }

    /// `ip neigh replace IP lladdr MAC dev PORT nud permanent`.
    pub fn neighbour(&mut self, port: &str, addr: &str, mac: MacAddr) {
        let p = self.port(port);
        let now = self.now;
        self.w
            .pipeline
            .add_permanent_neighbour(&mut self.w.umem, p, ip(addr), mac, now);
    }

    pub fn counters(&self) -> Counters {
        self.w.pipeline.counters()
    }

    /// Every frame that came in or was made is accounted for, and every
    /// frame not queued for resolution is back in the arena once the
    /// outputs are collected.
    pub fn assert_balanced(&mut self) {
        assert_eq!(self.w.umem.frames(), FRAMES as usize);
        if let Err(e) = self.w.check_ledger() {
            panic!("{e}");
        }
    }
}

/// `[(name, n), ...]` as a map, for comparing with [`Lab::delta`].
pub fn counts(pairs: &[(&'static str, u64)]) -> BTreeMap<&'static str, u64> {
    pairs.iter().copied().collect()
}

/// An Ethernet frame.
pub fn eth(dst: MacAddr, src: MacAddr, ethertype: EtherType, payload: &[u8]) -> Vec<u8> {
    let mut f = vec![0u8; ethernet::HEADER_LEN + payload.len()];
    ethernet::Repr {
        src_addr: src,
        dst_addr: dst,
        ethertype,
    }
    .emit(&mut ethernet::Packet::new_unchecked(&mut f[..]));
    f[ethernet::HEADER_LEN..].copy_from_slice(payload);
    f
}

/// An Ethernet frame with one 802.1Q tag.
pub fn eth_vlan(
    dst: MacAddr,
    src: MacAddr,
    vid: u16,
    ethertype: EtherType,
    payload: &[u8],
) -> Vec<u8> {
    let mut f = eth(dst, src, EtherType::VLAN, &[]);
    f.extend_from_slice(&vid.to_be_bytes());
    f.extend_from_slice(&ethertype.0.to_be_bytes());
    f.extend_from_slice(payload);
    f
}

/// An IPv4 datagram under construction.
#[derive(Debug, Clone)]
pub struct V4 {
    pub src: Ipv4Addr,
    pub dst: Ipv4Addr,
    pub ttl: u8,
    pub tos: u8,
    pub ident: u16,
    pub df: bool,
    pub protocol: IpProtocol,
    pub l4: Vec<u8>,
}

impl V4 {
    fn new(src: &str, dst: &str, protocol: IpProtocol, l4: Vec<u8>) -> V4 {
        V4 {
            src: v4(src),
            dst: v4(dst),
            ttl: 64,
            tos: 0,
            ident: 0x1234,
            df: true,
            protocol,
            l4,
        }
    }

    /// UDP with a complete checksum.
    pub fn udp(src: &str, dst: &str, sport: u16, dport: u16, payload: &[u8]) -> V4 {
        let l4 = udp_segment(ip(src), ip(dst), sport, dport, payload);
        V4::new(src, dst, IpProtocol::UDP, l4)
    }

    /// UDP with `n` payload bytes (a counting pattern).
    pub fn udp_len(src: &str, dst: &str, n: usize) -> V4 {
        let payload: Vec<u8> = (0..n).map(|i| i as u8).collect();
        V4::udp(src, dst, 40000, 9, &payload)
    }

    /// A TCP SYN with a complete checksum.
    pub fn tcp_syn(src: &str, dst: &str, sport: u16, dport: u16) -> V4 {
        let mut t = vec![0u8; 20];
        t[0..2].copy_from_slice(&sport.to_be_bytes());
        t[2..4].copy_from_slice(&dport.to_be_bytes());
        t[4..8].copy_from_slice(&1000u32.to_be_bytes());
        t[12] = 5 << 4;
        t[13] = wire::tcp::flags::SYN;
        t[14..16].copy_from_slice(&64240u16.to_be_bytes());
        let c = checksum::transport(&ip(src), &ip(dst), 6, &t);
        t[16..18].copy_from_slice(&c.to_be_bytes());
        V4::new(src, dst, IpProtocol::TCP, t)
    }

    /// An ICMP echo request.
    pub fn echo(src: &str, dst: &str, id: u16, seq: u16, data: &[u8]) -> V4 {
        V4::new(src, dst, IpProtocol::ICMP, icmp4(8, 0, id, seq, data))
    }

    pub fn ttl(mut self, ttl: u8) -> V4 {
        self.ttl = ttl;
        self
    }

    pub fn tos(mut self, tos: u8) -> V4 {
        self.tos = tos;
        self
    }

    pub fn df(mut self, df: bool) -> V4 {
        self.df = df;
        self
    }

    pub fn ident(mut self, ident: u16) -> V4 {
        self.ident = ident;
        self
    }

    /// The IP datagram's bytes.
    pub fn ip(&self) -> Vec<u8> {
        let mut b = vec![0u8; ipv4::HEADER_LEN + self.l4.len()];
        ipv4::Repr {
            src_addr: self.src,
            dst_addr: self.dst,
            protocol: self.protocol,
            tos: self.tos,
            ident: self.ident,
            dont_frag: self.df,
            ttl: self.ttl,
            payload_len: self.l4.len(),
        }
        .emit(&mut ipv4::Packet::new_unchecked(&mut b[..]));
        b[ipv4::HEADER_LEN..].copy_from_slice(&self.l4);
        b
    }

    pub fn frame(&self, dst: MacAddr, src: MacAddr) -> Vec<u8> {
        eth(dst, src, EtherType::IPV4, &self.ip())
    }
}

/// An ICMP query message (echo) with a complete checksum.
pub fn icmp4(t: u8, code: u8, id: u16, seq: u16, data: &[u8]) -> Vec<u8> {
    let mut m = vec![0u8; 8 + data.len()];
    m[0] = t;
    m[1] = code;
    m[4..6].copy_from_slice(&id.to_be_bytes());
    m[6..8].copy_from_slice(&seq.to_be_bytes());
    m[8..].copy_from_slice(data);
    icmpv4::Packet::new_unchecked(&mut m[..]).fill_checksum();
    m
}

/// A UDP datagram with a complete checksum.
pub fn udp_segment(src: IpAddr, dst: IpAddr, sport: u16, dport: u16, payload: &[u8]) -> Vec<u8> {
    let mut u = vec![0u8; 8 + payload.len()];
    u[0..2].copy_from_slice(&sport.to_be_bytes());
    u[2..4].copy_from_slice(&dport.to_be_bytes());
    let len = u.len() as u16;
    u[4..6].copy_from_slice(&len.to_be_bytes());
    u[8..].copy_from_slice(payload);
    let c = checksum::udp_wire(checksum::transport(&src, &dst, 17, &u));
    u[6..8].copy_from_slice(&c.to_be_bytes());
    u
}

/// An IPv6 packet under construction.
#[derive(Debug, Clone)]
pub struct V6 {
    pub src: Ipv6Addr,
    pub dst: Ipv6Addr,
    pub hop_limit: u8,
    pub traffic_class: u8,
    pub next_header: IpProtocol,
    pub payload: Vec<u8>,
}

impl V6 {
    fn new(src: &str, dst: &str, next_header: IpProtocol, payload: Vec<u8>) -> V6 {
        V6 {
            src: v6(src),
            dst: v6(dst),
            hop_limit: 64,
            traffic_class: 0,
            next_header,
            payload,
        }
    }

    pub fn udp(src: &str, dst: &str, sport: u16, dport: u16, payload: &[u8]) -> V6 {
        let l4 = udp_segment(ip(src), ip(dst), sport, dport, payload);
        V6::new(src, dst, IpProtocol::UDP, l4)
    }

    pub fn udp_len(src: &str, dst: &str, n: usize) -> V6 {
        let payload: Vec<u8> = (0..n).map(|i| i as u8).collect();
        V6::udp(src, dst, 40000, 9, &payload)
    }

    /// An ICMPv6 message with a complete checksum.
    pub fn icmp(src: &str, dst: &str, body: &[u8]) -> V6 {
        let mut m = body.to_vec();
        icmpv6::Packet::new_unchecked(&mut m[..]).fill_checksum(&ip(src), &ip(dst));
        V6::new(src, dst, IpProtocol::ICMPV6, m)
    }

    pub fn echo(src: &str, dst: &str, id: u16, seq: u16, data: &[u8]) -> V6 {
        let mut m = vec![128, 0, 0, 0];
        m.extend_from_slice(&id.to_be_bytes());
        m.extend_from_slice(&seq.to_be_bytes());
        m.extend_from_slice(data);
        V6::icmp(src, dst, &m)
    }

    /// A neighbour solicitation, hop limit 255.
    pub fn ns(src: &str, dst: &str, target: &str, slla: Option<MacAddr>) -> V6 {
        let mut m = vec![135, 0, 0, 0, 0, 0, 0, 0];
        m.extend_from_slice(&v6(target).octets());
        if let Some(mac) = slla {
            m.extend_from_slice(&[1, 1]);
            m.extend_from_slice(&mac.0);
        }
        V6::icmp(src, dst, &m).hop_limit(255)
    }

    /// A neighbour advertisement, hop limit 255.
    pub fn na(src: &str, dst: &str, target: &str, flags: u8, tlla: Option<MacAddr>) -> V6 {
        let mut m = vec![136, 0, 0, 0, flags, 0, 0, 0];
        m.extend_from_slice(&v6(target).octets());
        if let Some(mac) = tlla {
            m.extend_from_slice(&[2, 1]);
            m.extend_from_slice(&mac.0);
        }
        V6::icmp(src, dst, &m).hop_limit(255)
    }

    pub fn hop_limit(mut self, h: u8) -> V6 {
        self.hop_limit = h;
        self
    }

    pub fn ip(&self) -> Vec<u8> {
        let mut b = vec![0u8; ipv6::HEADER_LEN + self.payload.len()];
        ipv6::Repr {
            src_addr: self.src,
            dst_addr: self.dst,
            next_header: self.next_header,
            traffic_class: self.traffic_class,
            flow_label: 0,
            hop_limit: self.hop_limit,
            payload_len: self.payload.len() as u16,
        }
        .emit(&mut ipv6::Packet::new_unchecked(&mut b[..]));
        b[ipv6::HEADER_LEN..].copy_from_slice(&self.payload);
        b
    }

    pub fn frame(&self, dst: MacAddr, src: MacAddr) -> Vec<u8> {
        eth(dst, src, EtherType::IPV6, &self.ip())
    }
}

/// An ARP frame (42 bytes): Ethernet to `eth_dst`, from `sha`.
pub fn arp_frame(
    op: arp::Operation,
    eth_dst: MacAddr,
    sha: MacAddr,
    spa: &str,
    tha: MacAddr,
    tpa: &str,
) -> Vec<u8> {
    let mut a = vec![0u8; arp::PACKET_LEN];
    wire::ArpRepr {
        operation: op,
        sender_hardware_addr: sha,
        sender_protocol_addr: v4(spa),
        target_hardware_addr: tha,
        target_protocol_addr: v4(tpa),
    }
    .emit(&mut arp::Packet::new_unchecked(&mut a[..]));
    eth(eth_dst, sha, EtherType::ARP, &a)
}

/// `who-has tpa tell spa` from `sha`, broadcast.
pub fn arp_request(sha: MacAddr, spa: &str, tpa: &str) -> Vec<u8> {
    arp_frame(
        arp::Operation::Request,
        MacAddr::BROADCAST,
        sha,
        spa,
        MacAddr::ZERO,
        tpa,
    )
}

/// `spa is-at sha`, unicast to `tha`.
pub fn arp_reply(sha: MacAddr, spa: &str, tha: MacAddr, tpa: &str) -> Vec<u8> {
    arp_frame(arp::Operation::Reply, tha, sha, spa, tha, tpa)
}

/// The Ethernet header fields of a frame.
pub fn macs_of(frame: &[u8]) -> (MacAddr, MacAddr, EtherType) {
    let e = ethernet::Packet::new_checked(frame).unwrap();
    (e.dst_addr(), e.src_addr(), e.ethertype())
}

/// The IPv4 header checksum and (for ICMP) the message checksum verify.
pub fn assert_v4_checksums(frame: &[u8]) {
    let ip4 = ipv4::Packet::new_checked(&frame[14..]).unwrap();
    assert!(ip4.verify_checksum(), "IPv4 header checksum");
    if ip4.protocol() == IpProtocol::ICMP {
        assert!(
            icmpv4::Packet::new_checked(ip4.payload())
                .unwrap()
                .verify_checksum(),
            "ICMP checksum"
        );
    }
    if ip4.protocol() == IpProtocol::UDP && !ip4.is_fragment() {
        let c = checksum::transport(
            &IpAddr::V4(ip4.src_addr()),
            &IpAddr::V4(ip4.dst_addr()),
            17,
            ip4.payload(),
        );
        assert_eq!(c, 0, "UDP checksum");
    }
}

/// The ICMPv6 checksum of an IPv6 frame verifies.
pub fn assert_icmpv6_checksum(frame: &[u8]) {
    let ip6 = ipv6::Packet::new_checked(&frame[14..]).unwrap();
    let m = icmpv6::Packet::new_checked(ip6.payload()).unwrap();
    assert!(m.verify_checksum(&IpAddr::V6(ip6.src_addr()), &IpAddr::V6(ip6.dst_addr())));
}

/// The IPv4 identification of a frame (the router picks it for what it
/// generates).
pub fn ident_of(frame: &[u8]) -> u16 {
    ipv4::Packet::new_checked(&frame[14..]).unwrap().ident()
}

/// Drives the ports directly, for tests that need to see TX staging.
pub fn poll_once(lab: &mut Lab) {
    let now = lab.now;
    lab.w.poll(now);
    for p in &mut lab.w.ports {
        p.poll(&mut lab.w.umem);
    }
}
