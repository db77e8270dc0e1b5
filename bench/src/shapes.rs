//! Rulesets of the classifier benchmarks (issue 15's table) and the
//! traffic that hits them, and the whole-pipeline harness that runs a
//! FORWARD chain on them (`benches/filter.rs`, `benches/shapes.rs`).
//!
//! Shapes, each `n` rules in FORWARD (policy DROP), rule `i` written so
//! that [`Shape::flows`]`[i]` matches it:
//!
//! * `kube`: `-d 10.64.y.z/32 -p tcp --dport P` (kube-proxy services);
//! * `mixed`: headed by `--ctstate RELATED,ESTABLISHED`, `-p icmp` and
//!   `-i r2 -j DROP`; then 30 % `-d /32 -p tcp --dport`, 15 % `-s /8..24
//!   -d /16..32 -p tcp --dport`, 10 % each `-m multiport --dports a,b`,
//!   `-d /32 -p udp --dport lo:hi` (unaligned), `-i r0 -o r1 -d /32
//!   --dport`, `--ctstate NEW -d /32 --dport`; 5 % each `! -s 10/8 -d /32
//!   --dport`, `-s /32 -j DROP`, `-d /32 --sport lo:hi`;
//! * `udp-ranges`: every rule `-p udp --dport lo:hi`, unaligned ranges;
//! * `not-src-not-dport`: every rule `-p tcp ! -s 10/8 ! --dport P` (a
//!   packet from outside 10/8 matches the first rule whose port differs;
//!   its flows come from inside 10/8 half of the time: no rule matches);
//! * `multiport`: every rule `-p tcp -m multiport --dports a,b`, distinct
//!   pairs.
//!
//! ClassBench sets (`../shared/classbench/`) are read by [`classbench`].

use std::path::Path;
use std::sync::Arc;
use std::time::Instant;

use sluice_config::ipset::SetFile;
use sluice_dataplane::io::mem::MemPort;
use sluice_dataplane::io::Umem;
use sluice_dataplane::pipeline::{Counter, Pipeline, Snapshot, BATCH};
use sluice_dataplane::route::PortId;
use sluice_dataplane::rules::classify::PacketKey;
use sluice_dataplane::rules::{Program, RulesParams};
use sluice_dataplane::wire::{checksum, MacAddr};
use sluice_dataplane::worker::Worker;

/// r0 (in), r1 (out, default route), r2.
pub const APPLIANCE: &str = r#"
[[interface]]
name = "r0"
address = ["10.0.1.1/24"]

[[interface]]
name = "r1"
address = ["10.0.2.1/24"]

[[interface]]
name = "r2"
address = ["10.0.3.1/24"]

[[route]]
to = "default"
via = "10.0.2.254"
"#;

/// [`APPLIANCE`] with an IPv6 network on each port and an IPv6 default
/// route via r1: the IPv6 runs of [`RulesBench::new6`].
pub const APPLIANCE6: &str = r#"
[[interface]]
name = "r0"
address = ["10.0.1.1/24", "fd00:1::1/64"]

[[interface]]
name = "r1"
address = ["10.0.2.1/24", "fd00:2::1/64"]

[[interface]]
name = "r2"
address = ["10.0.3.1/24", "fd00:3::1/64"]

[[route]]
to = "default"
via = "10.0.2.254"

[[route]]
to = "::/0"
via = "fd00:2::fe"
"#;

/// The IPv6 address standing for IPv4 address `a` in the IPv6 runs:
/// `fd00:ffff::/96` + the 32 bits of `a`.
pub fn v6_of(a: [u8; 4]) -> std::net::Ipv6Addr {
    std::net::Ipv6Addr::from((0xfd00_ffffu128 << 96) | u128::from(u32::from_be_bytes(a)))
}

/// The ip6tables form of shape rules: each `-s`/`-d` IPv4 address or
/// prefix becomes [`v6_of`] with the prefix length + 96, `-p icmp` becomes
/// `-p ipv6-icmp`; the rest is the same (ports, interfaces, states).
pub fn rules_v6(rules: &[String]) -> Vec<String> {
    rules
        .iter()
        .map(|r| {
            let mut out: Vec<String> = Vec::new();
            let mut addr_next = false;
            for w in r.split(' ') {
                let prev = out.last().map(String::as_str);
                let t = if addr_next && w != "!" {
                    addr_next = false;
                    let (a, len) = w.split_once('/').unwrap_or((w, "32"));
                    match (a.parse::<std::net::Ipv4Addr>(), len.parse::<u8>()) {
                        (Ok(a), Ok(l)) if l <= 32 => format!("{}/{}", v6_of(a.octets()), l + 96),
                        _ => w.to_string(),
                    }
                } else if prev == Some("-p") && w == "icmp" {
                    "ipv6-icmp".to_string()
                } else {
                    w.to_string()
                };
                if w == "-s" || w == "-d" {
                    addr_next = true;
                }
                out.push(t);
            }
            out.join(" ")
        })
        .collect()
}

pub const SHAPES: &[&str] = &[
    "kube",
    "mixed",
    "udp-ranges",
    "not-src-not-dport",
    "multiport",
];

/// One packet's header fields.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Flow {
    pub src: [u8; 4],
    pub dst: [u8; 4],
    pub proto: u8,
    pub sport: u16,
    pub dport: u16,
}

impl Flow {
    /// The classifier's view of it, arriving on r0 and routed to r1.
    pub fn key(&self) -> PacketKey {
        PacketKey {
            src: u32::from_be_bytes(self.src),
            dst: u32::from_be_bytes(self.dst),
            proto: self.proto,
            sport: self.sport,
            dport: self.dport,
            has_ports: matches!(self.proto, 6 | 17),
            iif: 0,
            oif: 1,
            mark: 0,
        }
    }
}

/// A FORWARD chain and, for rule `i`, a flow meant for it.
pub struct Shape {
    /// `-A FORWARD ...` lines.
    pub rules: Vec<String>,
    /// Flows aimed at rules (not necessarily one per rule).
    pub flows: Vec<Flow>,
}

/// xorshift64.
pub struct Rng(pub u64);

impl Rng {
    pub fn step(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        self.0 = x;
        x
    }
    pub fn below(&mut self, n: u64) -> u64 {
        self.step() % n.max(1)
    }
}

fn dst(i: usize) -> [u8; 4] {
    [10, 64 + (i >> 16) as u8, (i >> 8) as u8, i as u8]
}

fn ip([a, b, c, d]: [u8; 4]) -> String {
    format!("{a}.{b}.{c}.{d}")
}

fn tcp(src: [u8; 4], dst: [u8; 4], sport: u16, dport: u16) -> Flow {
    Flow {
        src,
        dst,
        proto: 6,
        sport,
        dport,
    }
}

const CLIENT: [u8; 4] = [10, 0, 1, 10];
const OUTSIDE: [u8; 4] = [198, 51, 100, 7];

/// The shape `name` at `n` rules; `None` for an unknown name.
pub fn shape(name: &str, n: usize) -> Option<Shape> {
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15 ^ n as u64);
    let mut rules = Vec::with_capacity(n);
    let mut flows = Vec::with_capacity(n);
    let port = |i: usize| 1024 + (i % 60_000) as u16;
    match name {
        "kube" => {
            for i in 0..n {
                rules.push(format!(
                    "-A FORWARD -d {}/32 -p tcp -m tcp --dport {} -j ACCEPT",
                    ip(dst(i)),
                    port(i)
                ));
                flows.push(tcp(CLIENT, dst(i), 40_000, port(i)));
            }
        }
        "mixed" => {
            rules.push("-A FORWARD -m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT".into());
            rules.push("-A FORWARD -p icmp -j ACCEPT".into());
            rules.push("-A FORWARD -i r2 -j DROP".into());
            for i in 3..n.max(4) {
                let (d, p) = (dst(i), port(i));
                let (rule, flow) = match i % 20 {
                    0..=5 => (
                        format!("-d {}/32 -p tcp --dport {p} -j ACCEPT", ip(d)),
                        tcp(CLIENT, d, 40_000, p),
                    ),
                    6..=8 => {
                        let sl = 8 + rng.below(17) as u32;
                        let dl = 16 + rng.below(17) as u32;
                        let s = [172, 16 + (i % 16) as u8, (i >> 4) as u8, 0];
                        let sm = u32::from_be_bytes(s) & (u32::MAX << (32 - sl));
                        let dm = u32::from_be_bytes(d) & (u32::MAX << (32 - dl));
                        (
                            format!(
                                "-s {}/{sl} -d {}/{dl} -p tcp --dport {p} -j ACCEPT",
                                ip(sm.to_be_bytes()),
                                ip(dm.to_be_bytes())
                            ),
                            tcp(s, d, 40_000, p),
                        )
                    }
                    9 | 10 => {
                        let a = 1 + (2 * i % 60_000) as u16;
                        (
                            format!("-p tcp -m multiport --dports {a},{} -j ACCEPT", a + 1),
                            tcp(CLIENT, d, 40_000, a + 1),
                        )
                    }
                    11 | 12 => {
                        let lo = 1 + rng.below(60_000) as u16;
                        let hi = lo + 1 + rng.below(3_000) as u16;
                        (
                            format!("-d {}/32 -p udp --dport {lo}:{hi} -j ACCEPT", ip(d)),
                            Flow {
                                proto: 17,
                                ..tcp(CLIENT, d, 40_000, lo + (hi - lo) / 2)
                            },
                        )
                    }
                    13 | 14 => (
                        format!("-i r0 -o r1 -d {}/32 -p tcp --dport {p} -j ACCEPT", ip(d)),
                        tcp(CLIENT, d, 40_000, p),
                    ),
                    15 | 16 => (
                        format!(
                            "-d {}/32 -p tcp --dport {p} -m conntrack --ctstate NEW -j ACCEPT",
                            ip(d)
                        ),
                        tcp(CLIENT, d, 40_000, p),
                    ),
                    17 => (
                        format!(
                            "! -s 10.0.0.0/8 -d {}/32 -p tcp --dport {p} -j ACCEPT",
                            ip(d)
                        ),
                        tcp(OUTSIDE, d, 40_000, p),
                    ),
                    18 => {
                        let s = [192, 168, (i >> 8) as u8, i as u8];
                        (format!("-s {}/32 -j DROP", ip(s)), tcp(s, d, 40_000, p))
                    }
                    _ => {
                        let lo = 1024 + rng.below(30_000) as u16;
                        let hi = lo + rng.below(20_000) as u16;
                        (
                            format!("-d {}/32 -p tcp --sport {lo}:{hi} -j ACCEPT", ip(d)),
                            tcp(CLIENT, d, hi, p),
                        )
                    }
                };
                rules.push(format!("-A FORWARD {rule}"));
                flows.push(flow);
            }
            rules.truncate(n);
        }
        "udp-ranges" => {
            for i in 0..n {
                let lo = 1 + rng.below(60_000) as u16;
                let hi = lo + 1 + rng.below(4_000) as u16;
                rules.push(format!("-A FORWARD -p udp --dport {lo}:{hi} -j ACCEPT"));
                let f = tcp(CLIENT, dst(i), 40_000, lo + (hi - lo) / 3);
                flows.push(Flow { proto: 17, ..f });
            }
        }
        "not-src-not-dport" => {
            for i in 0..n {
                rules.push(format!(
                    "-A FORWARD -p tcp ! -s 10.0.0.0/8 ! --dport {} -j ACCEPT",
                    port(i)
                ));
                let src = if i % 2 == 0 { CLIENT } else { OUTSIDE };
                flows.push(tcp(src, dst(i), 40_000, port(i)));
            }
        }
        "multiport" => {
            for i in 0..n {
                let a = 1 + (2 * i % 60_000) as u16;
                rules.push(format!(
                    "-A FORWARD -p tcp -m multiport --dports {a},{} -j ACCEPT",
                    a + 1
                ));
                flows.push(tcp(CLIENT, dst(i), 40_000, a + (i % 2) as u16));
            }
        }
        _ => return None,
    }
    Some(Shape { rules, flows })
}

/// The filter table of `rules` (FORWARD policy DROP).
pub fn ruleset(rules: &[String]) -> String {
    let mut s = String::with_capacity(80 * rules.len() + 200);
    s.push_str("*filter\n:INPUT ACCEPT [0:0]\n:FORWARD DROP [0:0]\n:OUTPUT ACCEPT [0:0]\n");
    for r in rules {
        s.push_str(r);
        s.push('\n');
    }
    s.push_str("COMMIT\n");
    s
}

/// `count` flows each aimed at a random one of `flows`; every
/// `miss_every`-th one (0: none) goes to 203.0.113.9 from 203.0.113.10
/// (which only the catch-all rules of a chain match).
pub fn random_flows(flows: &[Flow], count: usize, miss_every: usize, seed: u64) -> Vec<Flow> {
    let mut rng = Rng(seed | 1);
    (0..count)
        .map(|j| {
            let mut f = flows[rng.below(flows.len() as u64) as usize];
            if miss_every != 0 && j % miss_every == miss_every - 1 {
                f.src = [203, 0, 113, 10];
                f.dst = [203, 0, 113, 9];
            }
            f
        })
        .collect()
}

/// The ClassBench set `name`: its ruleset text and the packets of its
/// trace `kind` (`trace` or `fwd.trace`), read from `dir`.
pub fn classbench(dir: &Path, name: &str, kind: &str) -> Result<(String, Vec<Flow>), String> {
    let read = |f: String| std::fs::read_to_string(dir.join(&f)).map_err(|e| format!("{f}: {e}"));
    let rules = read(format!("{name}.v4"))?;
    let trace = read(format!("{name}.{kind}"))?;
    let mut flows = Vec::new();
    for (n, line) in trace.lines().enumerate() {
        let f: Vec<&str> = line.split('\t').collect();
        let bad = || format!("{name}.{kind} line {}: {line:?}", n + 1);
        let addr = |s: &str| s.parse::<std::net::Ipv4Addr>().map(|a| a.octets());
        let num = |s: &str| s.parse::<u32>();
        let (Some(src), Some(dst), Some(proto), Some(sport), Some(dport)) = (
            f.first().and_then(|s| addr(s).ok()),
            f.get(1).and_then(|s| addr(s).ok()),
            f.get(2).and_then(|s| num(s).ok()),
            f.get(3).and_then(|s| num(s).ok()),
            f.get(4).and_then(|s| num(s).ok()),
        ) else {
            return Err(bad());
        };
        flows.push(Flow {
            src,
            dst,
            proto: proto as u8,
            sport: sport as u16,
            dport: dport as u16,
        });
    }
    Ok((rules, flows))
}

fn port_mac(i: u8) -> MacAddr {
    MacAddr([0x02, 0, 0, 0, 1, i])
}

/// The Ethernet frame of `f` into r0: TCP SYN, UDP with 8 bytes, ICMP
/// echo request, or 8 zero bytes of another protocol.
pub fn frame(f: &Flow) -> Vec<u8> {
    let mut l4 = match f.proto {
        6 => {
            let mut t = vec![0u8; 20];
            t[4..8].copy_from_slice(&1u32.to_be_bytes());
            t[12] = 0x50;
            t[13] = 0x02;
            t[14..16].copy_from_slice(&64240u16.to_be_bytes());
            t
        }
        17 => {
            let mut u = vec![0u8; 16];
            u[4..6].copy_from_slice(&16u16.to_be_bytes());
            u
        }
        1 => {
            let mut c = vec![8u8, 0, 0, 0, 0, 1, 0, 1];
            let s = checksum::checksum(&c);
            c[2..4].copy_from_slice(&s.to_be_bytes());
            c
        }
        _ => vec![0u8; 8],
    };
    if matches!(f.proto, 6 | 17) {
        l4[0..2].copy_from_slice(&f.sport.to_be_bytes());
        l4[2..4].copy_from_slice(&f.dport.to_be_bytes());
        let c = checksum::transport(&f.src.into(), &f.dst.into(), f.proto, &l4);
        let at = if f.proto == 6 { 16 } else { 6 };
        l4[at..at + 2].copy_from_slice(&c.to_be_bytes());
    }
    let total = (20 + l4.len()) as u16;
    let mut ip = vec![0x45, 0, 0, 0, 0, 1, 0x40, 0, 64, f.proto, 0, 0];
    ip[2..4].copy_from_slice(&total.to_be_bytes());
    ip.extend_from_slice(&f.src);
    ip.extend_from_slice(&f.dst);
    let c = checksum::checksum(&ip);
    ip[10..12].copy_from_slice(&c.to_be_bytes());
    let mut fr = Vec::with_capacity(14 + ip.len() + l4.len());
    fr.extend_from_slice(&port_mac(0).0);
    fr.extend_from_slice(&[0x52, 0x54, 0, 0, 0, 0x10]);
    fr.extend_from_slice(&[0x08, 0x00]);
    fr.extend_from_slice(&ip);
    fr.extend_from_slice(&l4);
    fr
}

/// The IPv6 frame of `f` into r0, addresses mapped by [`v6_of`]: TCP
/// SYN, UDP with 8 bytes, or 8 zero bytes of another next header (ICMP
/// becomes an ICMPv6 echo request).
pub fn frame6(f: &Flow) -> Vec<u8> {
    let v4 = frame(f);
    let (src, dst) = (v6_of(f.src), v6_of(f.dst));
    let mut l4 = v4[14 + 20..].to_vec();
    let nh = if f.proto == 1 { 58 } else { f.proto };
    match nh {
        6 | 17 | 58 => {
            let at = match nh {
                6 => 16,
                17 => 6,
                _ => {
                    l4[0] = 128;
                    2
                }
            };
            l4[at..at + 2].copy_from_slice(&[0, 0]);
            let c = checksum::transport(&src.into(), &dst.into(), nh, &l4);
            l4[at..at + 2].copy_from_slice(&c.to_be_bytes());
        }
        _ => {}
    }
    let mut fr = Vec::with_capacity(14 + 40 + l4.len());
    fr.extend_from_slice(&v4[..12]);
    fr.extend_from_slice(&[0x86, 0xdd, 0x60, 0, 0, 0]);
    fr.extend_from_slice(&(l4.len() as u16).to_be_bytes());
    fr.extend_from_slice(&[nh, 64]);
    fr.extend_from_slice(&src.octets());
    fr.extend_from_slice(&dst.octets());
    fr.extend_from_slice(&l4);
    fr
}

/// A worker whose pipeline runs a ruleset on frames injected into r0
/// (forwarded to a permanent neighbour behind r1), cycling through
/// `templates` 64 at a time.
pub struct RulesBench {
    pub worker: Worker<MemPort>,
    templates: Vec<Vec<u8>>,
    next: usize,
    /// The FORWARD classifier's tuples, memory, build: for the tables.
    pub info: String,
}

impl RulesBench {
    /// `rules`: the ruleset text; `classifier`: `None` for no rules stage
    /// at all, else the engine's classifier on or off (plain ordered
    /// evaluation).
    pub fn new(rules: &str, classifier: Option<bool>, templates: Vec<Vec<u8>>) -> RulesBench {
        Self::build(APPLIANCE, rules, None, classifier, templates)
    }

    /// The IPv6 twin of [`RulesBench::new`]: `rules6` (an ip6tables
    /// ruleset, e.g. of [`rules_v6`]) in the ip6tables tables, the
    /// iptables ones empty, on [`APPLIANCE6`]; `templates` of [`frame6`].
    pub fn new6(rules6: &str, classifier: bool, templates: Vec<Vec<u8>>) -> RulesBench {
        let empty = ruleset(&[]);
        Self::build(
            APPLIANCE6,
            &empty,
            Some(rules6),
            Some(classifier),
            templates,
        )
    }

    fn build(
        appliance: &str,
        rules: &str,
        rules6: Option<&str>,
        classifier: Option<bool>,
        templates: Vec<Vec<u8>>,
    ) -> RulesBench {
        let app = sluice_config::appliance::parse(appliance, Path::new("bench.toml"))
            .expect("bench appliance");
        let mut snap = Snapshot::from_appliance(&app, 1).expect("bench routes");
        let now = Instant::now();
        let mut info = String::new();
        if let Some(classifier) = classifier {
            let rs = sluice_config::iptables::parse(rules, Path::new("bench.rules"))
                .expect("bench rules");
            let rs6 = rules6.map(|r| {
                sluice_config::iptables::parse6(r, Path::new("bench.rules6")).expect("bench rules6")
            });
            let params = RulesParams {
                classifier,
                ..RulesParams::default()
            };
            let t = Instant::now();
            let prog = Program::compile_dual(&app, &rs, rs6.as_ref(), &SetFile::default(), params)
                .expect("bench compile");
            let compile_ms = t.elapsed().as_secs_f64() * 1e3;
            let stats = if rules6.is_some() {
                prog.classifier_stats6()
            } else {
                prog.classifier_stats()
            };
            if let Some((_, _, s)) = stats.into_iter().find(|(_, c, _)| c == "FORWARD") {
                info = format!(
                    "{} tuples{}, {} KiB, compile {compile_ms:.0} ms",
                    s.tuples,
                    if s.ordered { " (ordered)" } else { "" },
                    s.heap_bytes / 1024
                );
            }
            snap = snap.with_rules(Some(Arc::new(prog)), 2);
        }
        let pipeline = Pipeline::new(
            Arc::new(snap),
            vec![port_mac(0), port_mac(1), port_mac(2)],
            now,
        );
        let mut ports = vec![
            MemPort::new(4 * BATCH),
            MemPort::new(4 * BATCH),
            MemPort::new(4 * BATCH),
        ];
        for p in &mut ports {
            p.set_recycle(true);
        }
        let mut worker = Worker::new(Umem::new(1024, 2048), ports, pipeline);
        worker.pipeline.add_permanent_neighbour(
            &mut worker.umem,
            PortId(1),
            "10.0.2.254".parse().expect("gateway"),
            MacAddr([0x52, 0x54, 0, 0, 1, 1]),
            now,
        );
        if rules6.is_some() {
            worker.pipeline.add_permanent_neighbour(
                &mut worker.umem,
                PortId(1),
                "fd00:2::fe".parse().expect("gateway"),
                MacAddr([0x52, 0x54, 0, 0, 1, 1]),
                now,
            );
        }
        RulesBench {
            worker,
            templates,
            next: 0,
            info,
        }
    }

    /// The next 64 templates into r0.
    pub fn refill(&mut self) {
        self.fill(true);
    }

    /// What [`RulesBench::refill`] costs, without injecting.
    pub fn refill_only(&mut self) {
        self.fill(false);
    }

    /// Copies the next 64 templates into frames, injected into r0 or
    /// (`inject` false) freed at once.
    fn fill(&mut self, inject: bool) {
        let w = &mut self.worker;
        for _ in 0..BATCH {
            let t = &self.templates[self.next];
            self.next = (self.next + 1) % self.templates.len();
            let Some(mut d) = w.umem.alloc() else {
                break;
            };
            w.umem.set_len(&mut d, t.len());
            w.umem.bytes_mut(d).copy_from_slice(t);
            std::hint::black_box(&d);
            if !inject || !w.ports[0].inject_desc(d) {
                w.umem.free(d);
            }
        }
    }

    /// One batch: refill and poll.
    pub fn batch(&mut self) {
        self.refill();
        self.poll();
    }

    /// One poll of the worker.
    pub fn poll(&mut self) {
        std::hint::black_box(self.worker.poll(Instant::now()));
    }

    pub fn forwarded(&self) -> u64 {
        self.worker.pipeline.counters().get(Counter::TxFrames)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use sluice_dataplane::wire::checksum::transport;

    #[test]
    fn rules_in_ip6tables_form() {
        let r = rules_v6(&[
            "-A FORWARD -d 10.64.1.2/32 -p tcp -m tcp --dport 80 -j ACCEPT".into(),
            "-A FORWARD ! -s 10.0.0.0/8 -p icmp -j DROP".into(),
            "-A FORWARD -s ! 10.0.0.1 -i r0 -j ACCEPT".into(),
        ]);
        assert_eq!(
            r[0],
            "-A FORWARD -d fd00:ffff::a40:102/128 -p tcp -m tcp --dport 80 -j ACCEPT"
        );
        assert_eq!(
            r[1],
            "-A FORWARD ! -s fd00:ffff::a00:0/104 -p ipv6-icmp -j DROP"
        );
        assert_eq!(r[2], "-A FORWARD -s ! fd00:ffff::a00:1/128 -i r0 -j ACCEPT");
        let text = ruleset(&r[..2]);
        sluice_config::iptables::parse6(&text, Path::new("t.rules6")).expect("ip6tables form");
    }

    /// The IPv6 frames carry valid transport checksums and the mapped
    /// addresses, and the kube rules forward them as they do the IPv4
    /// ones (the misses dropped by the policy).
    #[test]
    fn ipv6_twin_forwards_the_same() {
        let s = shape("kube", 100).expect("kube");
        let flows = random_flows(&s.flows, 256, 16, 3);
        for f in &flows {
            let fr = frame6(f);
            assert_eq!(&fr[12..14], &[0x86, 0xdd]);
            assert_eq!(fr[14 + 24..14 + 40], v6_of(f.dst).octets());
            let l4 = &fr[14 + 40..];
            let sum = transport(&v6_of(f.src).into(), &v6_of(f.dst).into(), fr[14 + 6], l4);
            assert_eq!(sum, 0, "{f:?}");
        }
        let mut b4 = RulesBench::new(
            &ruleset(&s.rules),
            Some(true),
            flows.iter().map(frame).collect(),
        );
        let mut b6 = RulesBench::new6(
            &ruleset(&rules_v6(&s.rules)),
            true,
            flows.iter().map(frame6).collect(),
        );
        for _ in 0..4 {
            b4.batch();
            b6.batch();
        }
        assert_eq!(b4.forwarded(), 240);
        assert_eq!(b6.forwarded(), 240);
    }
}
