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
        let app = sluice_config::appliance::parse(APPLIANCE, Path::new("bench.toml"))
            .expect("bench appliance");
        let mut snap = Snapshot::from_appliance(&app, 1).expect("bench routes");
        let now = Instant::now();
        let mut info = String::new();
        if let Some(classifier) = classifier {
            let rs = sluice_config::iptables::parse(rules, Path::new("bench.rules"))
                .expect("bench rules");
            let params = RulesParams {
                classifier,
                ..RulesParams::default()
            };
            let t = Instant::now();
            let prog =
                Program::compile(&app, &rs, &SetFile::default(), params).expect("bench compile");
            let compile_ms = t.elapsed().as_secs_f64() * 1e3;
            if let Some((_, _, s)) = prog
                .classifier_stats()
                .into_iter()
                .find(|(_, c, _)| c == "FORWARD")
            {
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
