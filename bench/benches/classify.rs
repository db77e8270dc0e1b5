//! Rule classifier ([`Classifier::first_from`]) against the plain ordered
//! evaluation of the same rules ([`reference_first_from`]), in the same run.
//!
//! `cargo bench -p sluice-bench --bench classify` (release profile). Every
//! figure is the median of several samples of many lookups each; a sample
//! lasts at least `SAMPLE` (about 10 ms).
//!
//! Rulesets, for 1, 100, 1 000, 10 000 and 50 000 rules:
//!
//! * `kube`: kube-proxy `KUBE-SERVICES`, `-d 10.x.y.z/32 -p tcp --dport P`,
//!   a distinct address per rule.
//! * `mixed`: the same with other shapes mixed in (a `! -s` masquerade
//!   rule, a UDP port range with a source prefix, `-i eth+ ! --dport 22`,
//!   a mark with a mask, a /24 with a source-port range) and a few
//!   unanchored rules (`! -p tcp`, `-p icmp`, `! -i eth+`, `-o lo`) that the
//!   classifier can only check in order.
//! * `blocklist`: `-s prefix/len` with prefix lengths 17 to 32 (16 tuples).
//!
//! Columns: `last` is the packet matching the last rule of the chain (the
//! ordered evaluation's worst case); `random` is packets matching rules
//! picked at random (4096 different packets, cache-unfriendly). Both
//! measure `Classifier::first_from`, a fresh `Cursor` search: the lookup
//! the pipeline's rule evaluation runs (the production path).
//!
//! Then the FORWARD chains of issue 15's shapes (`sluice_bench::shapes`)
//! at 100, 1 000 and 10 000 rules and the ClassBench sets, compiled by the
//! rule compiler, classified alone on random packets (see
//! `forward_chains`). `-- --forward-only` runs only those, `-- --only
//! NAME` one shape or set, `-- --full` the shapes at 50 000 rules too.
//! The `probes` column is the tuples looked up per packet (mean).

use std::hint::black_box;
use std::path::Path;
use std::time::{Duration, Instant};

use sluice_bench::shapes::{classbench, random_flows, ruleset, shape, APPLIANCE, SHAPES};
use sluice_config::ipset::SetFile;
use sluice_config::iptables::TableKind;
use sluice_dataplane::rules::Program;

use sluice_dataplane::rules::classify::{
    reference_first_from, AddrMatch, ClassKey, Classifier, IfName, IfaceMatch, InterfaceTable,
    MarkMatch, PacketKey, PortMatch, ProtoMatch, IF_NONE,
};

const SIZES: &[usize] = &[1, 100, 1_000, 10_000, 50_000];
const SAMPLE: Duration = Duration::from_millis(10);
const SAMPLES: usize = 11;
const RANDOM_PACKETS: usize = 4096;

const TCP: u8 = 6;
const UDP: u8 = 17;
const ICMP: u8 = 1;

/// Median ns per call of `f` (which returns something to keep it alive).
fn ns_per_call(samples: usize, f: impl FnMut() -> usize) -> f64 {
    ns_per_call_cpu(samples, f).0
}

/// This thread's CPU time.
fn cpu_now() -> Duration {
    nix::time::clock_gettime(nix::time::ClockId::CLOCK_THREAD_CPUTIME_ID)
        .map(Duration::from)
        .unwrap_or_default()
}

/// Median ns per call of `f` in wall-clock time and in this thread's CPU
/// time (the same samples; on a shared machine the CPU time leaves out
/// the time the thread waited for a core, not the cache other jobs
/// evicted).
fn ns_per_call_cpu(samples: usize, mut f: impl FnMut() -> usize) -> (f64, f64) {
    let start = Instant::now();
    let mut iters = 0u64;
    while start.elapsed() < SAMPLE {
        black_box(f());
        iters += 1;
    }
    let (mut wall, mut cpu): (Vec<f64>, Vec<f64>) = (0..samples)
        .map(|_| {
            let (t, c) = (Instant::now(), cpu_now());
            for _ in 0..iters {
                black_box(f());
            }
            let n = iters as f64;
            (
                t.elapsed().as_nanos() as f64 / n,
                (cpu_now() - c).as_nanos() as f64 / n,
            )
        })
        .unzip();
    wall.sort_by(f64::total_cmp);
    cpu.sort_by(f64::total_cmp);
    (wall[wall.len() / 2], cpu[cpu.len() / 2])
}

fn ifaces() -> InterfaceTable {
    InterfaceTable::new(["eth0", "eth1", "eth2", "eth3", "lo"].map(|n| IfName::new(n).unwrap()))
        .unwrap()
}

fn anchor(base: u8, i: usize) -> u32 {
    u32::from_be_bytes([base, (i >> 16) as u8, (i >> 8) as u8, i as u8])
}

fn tcp(proto: u8) -> Option<ProtoMatch> {
    Some(ProtoMatch {
        proto,
        invert: false,
    })
}

fn kube_rule(i: usize) -> ClassKey {
    ClassKey {
        dst: Some(AddrMatch::prefix(anchor(10, i), 32)),
        proto: tcp(TCP),
        dport: Some(PortMatch::single(1024 + (i % 30_000) as u16)),
        ..ClassKey::default()
    }
}

/// A packet that matches `kube_rule(i)`.
fn kube_packet(i: usize) -> PacketKey {
    PacketKey {
        src: u32::from_be_bytes([192, 0, 2, 7]),
        dst: anchor(10, i),
        proto: TCP,
        sport: 40_000,
        dport: 1024 + (i % 30_000) as u16,
        has_ports: true,
        iif: 0,
        oif: 1,
        mark: 0,
    }
}

fn kube(n: usize) -> (Vec<ClassKey>, Vec<PacketKey>) {
    (
        (0..n).map(kube_rule).collect(),
        (0..n).map(kube_packet).collect(),
    )
}

/// Rule `i` of the mixed chain and a packet matching it (and no anchored
/// rule before it; the unanchored ones do not match it either).
fn mixed_rule(i: usize) -> (ClassKey, PacketKey) {
    let mut k = kube_rule(i);
    let mut p = kube_packet(i);
    match i % 10 {
        0..=4 => {}
        5 => {
            k.src = Some(AddrMatch::prefix(u32::from_be_bytes([10, 244, 0, 0]), 16).inverted());
        }
        6 => {
            k.src = Some(AddrMatch::prefix(u32::from_be_bytes([172, 16, 0, 0]), 12));
            k.proto = tcp(UDP);
            k.dport = Some(PortMatch::range(10_000, 10_999));
            p.src = u32::from_be_bytes([172, 20, 1, 1]);
            p.proto = UDP;
            p.dport = 10_500;
        }
        7 => {
            k.iif = IfaceMatch::parse("eth+", false);
            k.dport = Some(PortMatch::single(22).inverted());
            p.iif = 2;
            p.dport = 443;
        }
        8 => {
            k.proto = None;
            k.dport = None;
            k.mark = Some(MarkMatch {
                value: 0x10,
                mask: 0xf0,
                invert: false,
            });
            p.mark = 0x1234_0017;
        }
        _ => {
            k.dst = Some(AddrMatch::prefix(anchor(11, i << 8), 24));
            k.dport = None;
            k.sport = Some(PortMatch::range(1024, 65_535));
            p.dst = anchor(11, i << 8) | 0x42;
            p.sport = 50_000;
        }
    }
    (k, p)
}

fn mixed(n: usize) -> (Vec<ClassKey>, Vec<PacketKey>) {
    let unanchored = [
        ClassKey {
            proto: Some(ProtoMatch {
                proto: TCP,
                invert: true,
            }),
            ..ClassKey::default()
        },
        ClassKey {
            proto: tcp(ICMP),
            ..ClassKey::default()
        },
        ClassKey {
            iif: IfaceMatch::parse("eth+", true),
            ..ClassKey::default()
        },
        ClassKey {
            oif: IfaceMatch::parse("lo", false),
            ..ClassKey::default()
        },
    ];
    let mut keys = Vec::with_capacity(n);
    let mut pkts = Vec::with_capacity(n);
    for i in 0..n {
        // Two unanchored rules per thousand, none last.
        if i % 500 == 250 && i + 1 < n {
            keys.push(unanchored[(i / 500) % unanchored.len()]);
        } else {
            let (k, p) = mixed_rule(i);
            keys.push(k);
            pkts.push(p);
        }
    }
    (keys, pkts)
}

fn blocklist(n: usize) -> (Vec<ClassKey>, Vec<PacketKey>) {
    let keys = (0..n)
        .map(|i| ClassKey {
            src: Some(AddrMatch::prefix((i as u32) << 15, 17 + (i % 16) as u32)),
            ..ClassKey::default()
        })
        .collect();
    let pkts = (0..n)
        .map(|i| PacketKey {
            src: (i as u32) << 15,
            ..kube_packet(0)
        })
        .collect();
    (keys, pkts)
}

/// Median ms of `runs` builds of the classifier of `keys`.
fn median_build_ms(keys: &[ClassKey], t: &InterfaceTable, runs: usize) -> f64 {
    let mut v: Vec<f64> = (0..runs)
        .map(|_| {
            let s = Instant::now();
            black_box(Classifier::build(keys, t));
            s.elapsed().as_secs_f64() * 1e3
        })
        .collect();
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

/// Resident set size in bytes.
fn rss() -> usize {
    std::fs::read_to_string("/proc/self/statm")
        .ok()
        .and_then(|s| s.split_whitespace().nth(1)?.parse::<usize>().ok())
        .unwrap_or(0)
        * 4096
}

struct Row {
    rules: usize,
    tuples: usize,
    build_ms: f64,
    classifier: f64,
    linear: f64,
    random: f64,
}

fn run(name: &str, make: fn(usize) -> (Vec<ClassKey>, Vec<PacketKey>)) -> Vec<Row> {
    let t = ifaces();
    let mut rows = Vec::new();
    for &n in SIZES {
        let (keys, hits) = make(n);
        let build_ms = median_build_ms(&keys, &t, 5);
        let c = Classifier::build(&keys, &t);

        // The packet matching the last rule.
        let last = *hits.last().expect("at least one anchored rule");
        let want = Some(n - 1);
        assert_eq!(c.first_from(&last, 0), want, "{name} {n}");
        assert_eq!(
            reference_first_from(&keys, &t, &last, 0),
            want,
            "{name} {n}"
        );
        let classifier = ns_per_call(SAMPLES, || c.first_from(black_box(&last), 0).unwrap_or(0));
        let linear = ns_per_call(SAMPLES.min(7), || {
            reference_first_from(black_box(keys.as_slice()), &t, black_box(&last), 0).unwrap_or(0)
        });

        // Packets matching random rules (xorshift), every 8th one a miss.
        let mut x = 0x9e37_79b9_7f4a_7c15u64;
        let random: Vec<PacketKey> = (0..RANDOM_PACKETS)
            .map(|j| {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                let mut p = hits[x as usize % hits.len()];
                if j % 8 == 7 {
                    p.dst = u32::from_be_bytes([203, 0, 113, 9]);
                    p.src = u32::from_be_bytes([203, 0, 113, 10]);
                    p.oif = IF_NONE;
                }
                p
            })
            .collect();
        for p in random.iter().take(256) {
            assert_eq!(c.first_from(p, 0), reference_first_from(&keys, &t, p, 0));
        }
        let mut j = 0;
        let rand_ns = ns_per_call(SAMPLES, || {
            j = (j + 1) % RANDOM_PACKETS;
            c.first_from(black_box(&random[j]), 0).unwrap_or(0)
        });

        rows.push(Row {
            rules: n,
            tuples: c.stats().tuples,
            build_ms,
            classifier,
            linear,
            random: rand_ns,
        });
    }
    println!("\n{name}: ns per lookup (median of {SAMPLES} samples)");
    println!(
        "{:>7} {:>6} {:>9} {:>11} {:>12} {:>9} {:>10}",
        "rules", "tuples", "build ms", "classifier", "linear", "ratio", "random"
    );
    for r in &rows {
        println!(
            "{:>7} {:>6} {:>9.2} {:>11.1} {:>12.1} {:>8.0}x {:>10.1}",
            r.rules,
            r.tuples,
            r.build_ms,
            r.classifier,
            r.linear,
            r.linear / r.classifier,
            r.random
        );
    }
    let at = |n| rows.iter().find(|r| r.rules == n);
    if let (Some(a), Some(b)) = (at(100), at(10_000)) {
        println!(
            "cost at 10 000 / cost at 100 rules: last {:.2}, random {:.2} (issue 4 asks < 2)",
            b.classifier / a.classifier,
            b.random / a.random
        );
    }
    rows
}

fn main() {
    // Filters passed by `cargo bench` (`--bench`) are ignored.
    let cpu = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("model name"))
                .map(|l| l.split(':').nth(1).unwrap_or("").trim().to_string())
        })
        .unwrap_or_else(|| "unknown".into());
    let cores = std::thread::available_parallelism().map_or(0, |n| n.get());
    println!(
        "classify bench: CPU {cpu}, {cores} cpus, {} build",
        if cfg!(debug_assertions) {
            "debug"
        } else {
            "release"
        }
    );

    // Memory of a 50 000-rule chain, measured first while the heap is fresh.
    let t = ifaces();
    for (name, make) in [("kube", kube as fn(usize) -> _), ("mixed", mixed)] {
        let (keys, _) = make(50_000);
        let before = rss();
        let c = Classifier::build(&keys, &t);
        let after = rss();
        let s = c.stats();
        println!(
            "{name} 50 000 rules: {} tuples, {} entries ({} checked), largest bucket {}, \
             heap ~{:.1} MiB (estimate), RSS +{:.1} MiB",
            s.tuples,
            s.entries,
            s.verified,
            s.largest_bucket,
            s.heap_bytes as f64 / (1 << 20) as f64,
            after.saturating_sub(before) as f64 / (1 << 20) as f64
        );
        drop(c);
    }

    let args: Vec<String> = std::env::args().collect();
    if !args.iter().any(|a| a == "--forward-only") {
        run("kube", kube);
        run("mixed", mixed);
        run("blocklist", blocklist);
    }
    let only = args
        .iter()
        .position(|a| a == "--only")
        .and_then(|i| args.get(i + 1))
        .cloned();
    let full = args.iter().any(|a| a == "--full");
    forward_chains(only.as_deref(), full);
}

/// The FORWARD chains of issue 15's shapes and of ClassBench, compiled by
/// the rule compiler (`Program::chain_keys`), classified alone: ns per
/// [`Classifier::first_from`] (a fresh cursor: the production lookup) on
/// random packets — 4 096 flows at random rules, 1 in 8 a miss, for the
/// shapes; the 10 000 packets of ClassBench's own `.trace` (corners of
/// random rules) for its sets — against the ordered scan of the same keys
/// ([`reference_first_from`]), with the build time and memory; `--full`
/// adds the shapes at 50 000 rules.
fn forward_chains(only: Option<&str>, full: bool) {
    let app = sluice_config::appliance::parse(APPLIANCE, Path::new("bench.toml")).expect("app");
    println!(
        "\nFORWARD chains, classifier alone: ns per lookup, random packets (median of {SAMPLES}; \
         `cpu`: the thread's CPU time)"
    );
    println!(
        "{:<18} {:>6} {:>7} {:>6} {:>8} {:>9} {:>9} {:>10} {:>7} {:>10} {:>8}",
        "chain",
        "rules",
        "tuples",
        "probes",
        "entries",
        "KiB",
        "build ms",
        "classifier",
        "cpu",
        "ordered",
        "ratio"
    );
    let one = |name: &str, text: &str, pkts: &[PacketKey]| {
        let rs = sluice_config::iptables::parse(text, Path::new("bench.rules")).expect("rules");
        let keys =
            Program::chain_keys(&app, &rs, &SetFile::default(), TableKind::Filter, "FORWARD")
                .expect("compile")
                .expect("FORWARD");
        let t = InterfaceTable::new(["r0", "r1", "r2"].map(|n| IfName::new(n).unwrap())).unwrap();
        let build_ms = median_build_ms(&keys, &t, 3);
        let c = Classifier::build(&keys, &t);
        for p in pkts.iter().step_by(97) {
            assert_eq!(
                c.first_from(p, 0),
                reference_first_from(&keys, &t, p, 0),
                "{name}"
            );
        }
        // A rule with residual matches (`--ctstate`) counts as failing
        // them: the search resumes after it, as for a NEW packet.
        let mut probes = 0u64;
        for p in pkts {
            let mut cur = c.cursor(p);
            let mut from = 0;
            while let Some(k) = cur.first_from(from) {
                if !c.has_residual(k) {
                    break;
                }
                from = k + 1;
            }
            probes += u64::from(cur.probes());
        }
        let probes = probes as f64 / pkts.len() as f64;
        let mut j = 0;
        let (cls, cpu) = ns_per_call_cpu(SAMPLES, || {
            j = (j + 1) % pkts.len();
            let mut cur = c.cursor(black_box(&pkts[j]));
            let mut from = 0;
            while let Some(k) = cur.first_from(from) {
                if !c.has_residual(k) {
                    return k;
                }
                from = k + 1;
            }
            0
        });
        let ordered = ns_per_call(SAMPLES.min(5), || {
            j = (j + 1) % pkts.len();
            let mut from = 0;
            while let Some(k) = reference_first_from(black_box(&keys), &t, &pkts[j], from) {
                if !keys[k].residual {
                    return k;
                }
                from = k + 1;
            }
            0
        });
        let s = c.stats();
        println!(
            "{name:<18} {:>6} {:>7} {probes:>6.1} {:>8} {:>9} {:>9.2} {cls:>10.1} {cpu:>7.1} \
             {ordered:>10.1} \
             {:>7.1}x",
            keys.len(),
            if s.ordered {
                "ord".to_string()
            } else if s.pruned {
                format!("{}p", s.tuples)
            } else {
                s.tuples.to_string()
            },
            s.entries,
            s.heap_bytes / 1024,
            build_ms,
            ordered / cls
        );
        cls
    };
    for name in SHAPES {
        if only.is_some_and(|o| o != *name) {
            continue;
        }
        let mut at = Vec::new();
        let sizes: &[usize] = if full {
            &[100, 1_000, 10_000, 50_000]
        } else {
            &[100, 1_000, 10_000]
        };
        for &n in sizes {
            let sh = shape(name, n).expect("shape");
            let pkts: Vec<PacketKey> =
                random_flows(&sh.flows, RANDOM_PACKETS, 8, 0x5eed ^ n as u64)
                    .iter()
                    .map(|f| f.key())
                    .collect();
            at.push(one(&format!("{name} {n}"), &ruleset(&sh.rules), &pkts));
        }
        println!("{name}: 10 000 rules / 100 rules: {:.2}x", at[2] / at[0]);
    }
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../shared/classbench");
    for name in [
        "acl1-1k", "fw1-1k", "ipc1-1k", "acl1-10k", "fw1-10k", "ipc1-10k",
    ] {
        if only.is_some_and(|o| o != name) {
            continue;
        }
        match classbench(&dir, name, "trace") {
            Ok((text, flows)) => {
                let pkts: Vec<PacketKey> = flows.iter().map(|f| f.key()).collect();
                one(name, &text, &pkts);
            }
            Err(e) => println!("{name}: skipped ({e})"),
        }
    }
}
