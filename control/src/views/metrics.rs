//! `GET /metrics`: the daemon's numbers in the Prometheus text exposition
//! format 0.0.4 (<https://prometheus.io/docs/instrumenting/exposition_formats/>),
//! as a pure function of what [`super::stats`] gathers plus the rule
//! counters and the LOG sink's counts.
//!
//! Families (every one with `# HELP` and `# TYPE`; the TYPE line names
//! the samples' full name, `_total` included, as 0.0.4 has it):
//!
//! | family | type | labels | from |
//! |---|---|---|---|
//! | `sluice_worker_rx_frames_total`, `_tx_frames_total`, `_to_host_frames_total` | counter | worker | `rx.frames`, `tx.frames`, the ledger's punted |
//! | `sluice_worker_batches_total`, `_empty_polls_total`, `_sleeps_total` | counter | worker | `worker.*` |
//! | `sluice_handoffs_sent_total`, `_received_total` | counter | worker | `handoff.*` |
//! | `sluice_drops_total` | counter | worker, reason | every drop reason (`stage.reason`), zeros too |
//! | `sluice_conntrack_entries` | gauge | worker | the shard's entries (absent when it did not answer) |
//! | `sluice_conntrack_max` | gauge | | `[dataplane] conntrack_max` (all shards) |
//! | `sluice_umem_frames` | gauge | worker, state | the arena's frames: `free`, `held` (rings and queues), `lost` (neither) |
//! | `sluice_batch_seconds` | histogram | worker, le | the batch-time histogram |
//! | `sluice_turn_seconds` | histogram | worker, le | the turn-time histogram (whole poll turns, sleeps excluded) |
//! | `sluice_rule_packets_total`, `_bytes_total` | counter | table, chain, rule | rule number from 1, as `--line-numbers` |
//! | `sluice_chain_policy_packets_total`, `_bytes_total` | counter | table, chain | built-in chains' policies |
//! | `sluice_log_records_total` | counter | | LOG records written by the sink |
//! | `sluice_log_dropped_total` | counter | reason | `ring_full` (a worker's ring, `log.ring_full`), `sink` (the sink failed or was full) |
//!
//! The batch histogram's buckets come from the worker's log-bucket
//! histogram (each bucket within 12.5 % of its value): a batch counts in
//! the first `le` that its bucket lies wholly under, so a bucket that
//! straddles a bound counts in the next one (never early); `_sum` adds
//! each bucket's midpoint, so it is within 12.5 % too.
//!
//! Rule counters are the raw, summed ones: `sluice rules zero` does not
//! reset them (a Prometheus counter never goes back), an apply resets the
//! counters of the rules it changes, as it does for `rules list`.

use std::fmt::{Display, Write as _};

use sluice_dataplane::io::PortCounters;
use sluice_dataplane::packet::{BatchTimes, Counter, Kind};
use sluice_dataplane::rules::RuleCounters;

use super::stats::WorkerStats;

/// What the LOG sink counted.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct LogCounts {
    /// Records written.
    pub records: u64,
    /// Records the sink dropped (failing or full).
    pub sink_dropped: u64,
}

/// Everything one scrape shows.
#[derive(Debug, Clone, Default)]
pub struct MetricsInput<'a> {
    pub workers: &'a [WorkerStats],
    pub conntrack_max: usize,
    /// The running ruleset's counters summed over the workers (`None`: no
    /// `[firewall]`).
    pub rules: Option<&'a RuleCounters>,
    pub log: LogCounts,
    /// The ports' interface names, in port order.
    pub port_names: &'a [String],
    /// The DHCP clients (`address = ["dhcp"]`).
    pub dhcp: &'a [crate::dhcp::Status],
}

/// Upper bounds of the batch histogram, in seconds.
pub const BATCH_BOUNDS: [f64; 14] = [
    1e-6, 2.5e-6, 5e-6, 1e-5, 2.5e-5, 5e-5, 1e-4, 2.5e-4, 5e-4, 1e-3, 2.5e-3, 5e-3, 1e-2, 1e-1,
];

/// A label value with `\`, `"` and newline escaped.
fn escape_label(v: &str) -> String {
    let mut s = String::with_capacity(v.len());
    for c in v.chars() {
        match c {
            '\\' => s.push_str("\\\\"),
            '"' => s.push_str("\\\""),
            '\n' => s.push_str("\\n"),
            c => s.push(c),
        }
    }
    s
}

struct Out(String);

impl Out {
    fn family(&mut self, name: &str, kind: &str, help: &str) {
        let _ = writeln!(self.0, "# HELP {name} {help}");
        let _ = writeln!(self.0, "# TYPE {name} {kind}");
    }

    fn sample(&mut self, name: &str, labels: &[(&str, &str)], value: impl Display) {
        self.0.push_str(name);
        if !labels.is_empty() {
            self.0.push('{');
            for (i, (k, v)) in labels.iter().enumerate() {
                if i > 0 {
                    self.0.push(',');
                }
                let _ = write!(self.0, "{k}=\"{}\"", escape_label(v));
            }
            self.0.push('}');
        }
        let _ = writeln!(self.0, " {value}");
    }

    /// A per-worker family: one sample a worker.
    /// A histogram family from each worker's log-bucket histogram: a
    /// bucket counts in the first `le` it lies wholly under (never early);
    /// `_sum` adds each bucket's midpoint.
    fn histogram(
        &mut self,
        name: &str,
        help: &str,
        workers: &[WorkerStats],
        times: impl Fn(&WorkerStats) -> &BatchTimes,
    ) {
        self.family(name, "histogram", help);
        let (bucket, sum, count) = (
            format!("{name}_bucket"),
            format!("{name}_sum"),
            format!("{name}_count"),
        );
        for (i, s) in workers.iter().enumerate() {
            let worker = i.to_string();
            let t = times(s);
            let buckets: Vec<(u64, u64, u64)> = t.buckets().collect();
            let mut sum_ns = 0.0;
            for &(lo, hi, c) in &buckets {
                sum_ns += (lo + (hi - 1 - lo) / 2) as f64 * c as f64;
            }
            for b in BATCH_BOUNDS {
                let le_ns = b * 1e9;
                let n: u64 = buckets
                    .iter()
                    .filter(|&&(_, hi, _)| (hi - 1) as f64 <= le_ns)
                    .map(|x| x.2)
                    .sum();
                self.sample(&bucket, &[("worker", &worker), ("le", &b.to_string())], n);
            }
            let n = t.count();
            self.sample(&bucket, &[("worker", &worker), ("le", "+Inf")], n);
            self.sample(&sum, &[("worker", &worker)], sum_ns / 1e9);
            self.sample(&count, &[("worker", &worker)], n);
        }
    }

    fn per_worker(
        &mut self,
        name: &str,
        kind: &str,
        help: &str,
        workers: &[WorkerStats],
        value: impl Fn(&WorkerStats) -> Option<u64>,
    ) {
        self.family(name, kind, help);
        for (i, w) in workers.iter().enumerate() {
            if let Some(v) = value(w) {
                self.sample(name, &[("worker", &i.to_string())], v);
            }
        }
    }
}

/// The `sluice_dhcp_*` families (none without a DHCP interface).
fn dhcp(o: &mut Out, clients: &[crate::dhcp::Status]) {
    if clients.is_empty() {
        return;
    }
    let name = "sluice_dhcp_bound";
    o.family(
        name,
        "gauge",
        "1 when the interface holds a DHCP lease (bound, renewing or rebinding).",
    );
    for c in clients {
        o.sample(
            name,
            &[("interface", &c.interface)],
            u8::from(c.lease.is_some()),
        );
    }
    let name = "sluice_dhcp_lease_info";
    o.family(
        name,
        "gauge",
        "The current lease: address, router, server and client state (always 1).",
    );
    for c in clients {
        let (addr, router, server) = c.lease.map_or_else(Default::default, |l| {
            (
                format!("{}/{}", l.addr, l.prefix),
                l.router.map(|r| r.to_string()).unwrap_or_default(),
                l.server.to_string(),
            )
        });
        o.sample(
            name,
            &[
                ("interface", &c.interface),
                ("state", c.state.name()),
                ("address", &addr),
                ("router", &router),
                ("server", &server),
            ],
            1,
        );
    }
    for (name, help, v) in [
        (
            "sluice_dhcp_lease_seconds",
            "The lease time the server granted.",
            (|c: &crate::dhcp::Status| c.lease.map(|l| u64::from(l.lease_secs)))
                as fn(&crate::dhcp::Status) -> Option<u64>,
        ),
        (
            "sluice_dhcp_t1_remaining_seconds",
            "Seconds until RENEWING (T1).",
            |c| c.t1_in,
        ),
        (
            "sluice_dhcp_expiry_remaining_seconds",
            "Seconds until the lease expires.",
            |c| c.expires_in,
        ),
    ] {
        o.family(name, "gauge", help);
        for c in clients {
            if let Some(v) = v(c) {
                o.sample(name, &[("interface", &c.interface)], v);
            }
        }
    }
    let name = "sluice_dhcp_events_total";
    o.family(
        name,
        "counter",
        "Lease events: acquired, renewed, lost, rebinding (T2 reached without an answer to the renewals).",
    );
    for c in clients {
        let n = &c.counts;
        for (ev, v) in [
            ("acquired", n.acquired),
            ("renewed", n.renewed),
            ("lost", n.lost),
            ("rebinding", n.rebinds),
        ] {
            o.sample(name, &[("interface", &c.interface), ("event", ev)], v);
        }
    }
    let name = "sluice_dhcp_messages_total";
    o.family(name, "counter", "DHCP messages sent and received, by type.");
    for c in clients {
        let n = &c.counts;
        for (dir, ty, v) in [
            ("sent", "discover", n.discovers),
            ("sent", "request", n.requests),
            ("received", "offer", n.offers),
            ("received", "ack", n.acks),
            ("received", "nak", n.naks),
            ("received", "ignored", n.ignored),
        ] {
            o.sample(
                name,
                &[
                    ("interface", &c.interface),
                    ("direction", dir),
                    ("type", ty),
                ],
                v,
            );
        }
    }
}

/// The scrape's body.
pub fn render(m: &MetricsInput<'_>) -> String {
    let mut o = Out(String::new());
    let w = m.workers;
    let get =
        |name: &'static str| move |s: &WorkerStats| Some(s.counters.by_name(name).unwrap_or(0));
    for (name, help, counter) in [
        (
            "sluice_worker_rx_frames_total",
            "Frames received by the worker.",
            "rx.frames",
        ),
        (
            "sluice_worker_tx_frames_total",
            "Frames transmitted by the worker.",
            "tx.frames",
        ),
        (
            "sluice_worker_batches_total",
            "Batches the worker ran.",
            "worker.batches",
        ),
        (
            "sluice_worker_empty_polls_total",
            "Poll turns that found no frame.",
            "worker.empty_polls",
        ),
        (
            "sluice_worker_sleeps_total",
            "Times the idle worker slept in poll(2).",
            "worker.sleeps",
        ),
        (
            "sluice_handoffs_sent_total",
            "Frames handed to the worker owning their flow.",
            "handoff.sent",
        ),
        (
            "sluice_handoffs_received_total",
            "Frames received from another worker.",
            "handoff.received",
        ),
    ] {
        o.per_worker(name, "counter", help, w, get(counter));
    }
    o.per_worker(
        "sluice_worker_to_host_frames_total",
        "counter",
        "Frames delivered to the host kernel (TAP).",
        w,
        |s| Some(s.counters.ledger().punted),
    );
    // Per port (each worker serves one queue of every port).
    let port_name = |p: usize| {
        m.port_names
            .get(p)
            .map_or_else(|| p.to_string(), String::clone)
    };
    for (name, help, value) in [
        (
            "sluice_port_rx_frames_total",
            "Frames received on the port (the worker's queue of it).",
            (|c: &PortCounters| c.rx) as fn(&PortCounters) -> u64,
        ),
        (
            "sluice_port_tx_frames_total",
            "Frames transmitted on the port (the worker's queue of it).",
            |c: &PortCounters| c.tx,
        ),
    ] {
        o.family(name, "counter", help);
        for (i, s) in w.iter().enumerate() {
            for (p, c) in s.ports.iter().enumerate() {
                let labels = [("port", port_name(p)), ("worker", i.to_string())];
                let labels: Vec<(&str, &str)> =
                    labels.iter().map(|(k, v)| (*k, v.as_str())).collect();
                o.sample(name, &labels, value(c));
            }
        }
    }
    let name = "sluice_port_drops_total";
    o.family(
        name,
        "counter",
        "Frames the port's rings or the kernel dropped, by reason (XDP_STATISTICS; TX ring full).",
    );
    for (i, s) in w.iter().enumerate() {
        let worker = i.to_string();
        for (p, c) in s.ports.iter().enumerate() {
            let port = port_name(p);
            for (reason, v) in PortCounters::NAMES.iter().zip(c.values()).skip(2) {
                o.sample(
                    name,
                    &[("port", &port), ("worker", &worker), ("reason", reason)],
                    v,
                );
            }
        }
    }
    let name = "sluice_drops_total";
    o.family(
        name,
        "counter",
        "Frames dropped, by worker and reason (stage.reason).",
    );
    for (i, s) in w.iter().enumerate() {
        let worker = i.to_string();
        for &k in Counter::ALL.iter().filter(|k| k.kind() == Kind::Drop) {
            o.sample(
                name,
                &[("worker", &worker), ("reason", k.name())],
                s.counters.get(k),
            );
        }
    }
    o.per_worker(
        "sluice_conntrack_entries",
        "gauge",
        "Conntrack entries in the worker's shard.",
        w,
        |s| s.conntrack.as_ref().map(|c| c.total as u64),
    );
    o.family(
        "sluice_conntrack_max",
        "gauge",
        "The conntrack table's maximum (all shards).",
    );
    o.sample("sluice_conntrack_max", &[], m.conntrack_max);
    let name = "sluice_umem_frames";
    o.family(
        name,
        "gauge",
        "The worker's arena frames at its last publication: free, held (fill and TX rings, punt and neighbour queues), lost (neither: 0 unless one leaked).",
    );
    for (i, s) in w.iter().enumerate() {
        let worker = i.to_string();
        let u = s.counters.umem();
        for (state, v) in [
            ("free", u.free as i64),
            ("held", u.held as i64),
            ("lost", u.lost()),
        ] {
            o.sample(name, &[("worker", &worker), ("state", state)], v);
        }
    }

    dhcp(&mut o, m.dhcp);

    o.histogram(
        "sluice_batch_seconds",
        "Time a worker took for a batch.",
        w,
        |s| &s.batch_times,
    );
    o.histogram(
        "sluice_turn_seconds",
        "Time a worker took for a poll turn, sleeps excluded (a stall shows here).",
        w,
        |s| &s.turn_times,
    );

    if let Some(rc) = m.rules {
        let rule = [
            (
                "sluice_rule_packets_total",
                "Packets that matched the rule (table, chain, rule number from 1).",
            ),
            (
                "sluice_rule_bytes_total",
                "Bytes of the packets that matched the rule.",
            ),
        ];
        let policy = [
            (
                "sluice_chain_policy_packets_total",
                "Packets that took the built-in chain's policy.",
            ),
            (
                "sluice_chain_policy_bytes_total",
                "Bytes of the packets that took the chain's policy.",
            ),
        ];
        for (bytes, (name, help)) in rule.iter().enumerate() {
            o.family(name, "counter", help);
            for t in &rc.tables {
                for c in &t.chains {
                    for (n, r) in c.rules.iter().enumerate() {
                        let v = if bytes == 1 { r.bytes } else { r.packets };
                        o.sample(
                            name,
                            &[
                                ("table", t.table.name()),
                                ("chain", &c.name),
                                ("rule", &(n + 1).to_string()),
                            ],
                            v,
                        );
                    }
                }
            }
        }
        for (bytes, (name, help)) in policy.iter().enumerate() {
            o.family(name, "counter", help);
            for t in &rc.tables {
                for c in &t.chains {
                    if let Some(p) = &c.policy {
                        let v = if bytes == 1 { p.bytes } else { p.packets };
                        o.sample(name, &[("table", t.table.name()), ("chain", &c.name)], v);
                    }
                }
            }
        }
    }

    o.family(
        "sluice_log_records_total",
        "counter",
        "LOG records written to the log sink.",
    );
    o.sample("sluice_log_records_total", &[], m.log.records);
    let name = "sluice_log_dropped_total";
    o.family(name, "counter", "LOG records lost: a worker's ring was full (ring_full) or the sink failed or was full (sink).");
    let ring: u64 = w.iter().map(|s| s.counters.get(Counter::LogRingFull)).sum();
    o.sample(name, &[("reason", "ring_full")], ring);
    o.sample(name, &[("reason", "sink")], m.log.sink_dropped);
    o.0
}

#[cfg(test)]
mod tests {
    use super::*;
    use sluice_config::iptables::TableKind;
    use sluice_dataplane::packet::{BatchTimes, Counters};
    use sluice_dataplane::rules::{ChainCounters, TableCounters};

    fn lines(s: &str) -> Vec<&str> {
        s.lines().collect()
    }

    fn input_workers() -> Vec<WorkerStats> {
        let mut a = Counters::default();
        a.add(Counter::RxFrames, 100);
        a.add(Counter::TxFrames, 90);
        a.add(Counter::FilterDrop, 10);
        a.add(Counter::LogRingFull, 2);
        let mut t = BatchTimes::default();
        // 3 batches of 1.5 us and one of 3 ms.
        for _ in 0..3 {
            t.record(1_500);
        }
        t.record(3_000_000);
        let mut b = Counters::default();
        b.add(Counter::RxFrames, 5);
        b.add(Counter::LogRingFull, 1);
        vec![
            WorkerStats::of(a, t, Some(7)),
            WorkerStats::of(b, BatchTimes::default(), None),
        ]
    }

    #[test]
    fn families_samples_and_labels() {
        let w = input_workers();
        let c = |packets, bytes| sluice_config::iptables::Counters { packets, bytes };
        let rc = RuleCounters {
            tables: vec![TableCounters {
                table: TableKind::Filter,
                chains: vec![
                    ChainCounters {
                        name: "FORWARD".into(),
                        policy: Some(c(4, 400)),
                        rules: vec![c(1, 60), c(2, 120)],
                    },
                    ChainCounters {
                        name: "we\"ird\\".into(),
                        policy: None,
                        rules: vec![c(3, 180)],
                    },
                ],
            }],
        };
        let mut w = w;
        w[0].ports = vec![
            PortCounters {
                rx: 7,
                tx: 3,
                rx_ring_full: 2,
                ..PortCounters::default()
            },
            PortCounters::default(),
        ];
        let names = ["lan".to_string(), "w\"an".to_string()];
        let s = render(&MetricsInput {
            workers: &w,
            conntrack_max: 1000,
            rules: Some(&rc),
            port_names: &names,
            dhcp: &[],
            log: LogCounts {
                records: 12,
                sink_dropped: 4,
            },
        });
        let l = lines(&s);
        for want in [
            "sluice_port_rx_frames_total{port=\"lan\",worker=\"0\"} 7",
            "sluice_port_tx_frames_total{port=\"lan\",worker=\"0\"} 3",
            "sluice_port_drops_total{port=\"lan\",worker=\"0\",reason=\"rx_ring_full\"} 2",
            "sluice_port_drops_total{port=\"w\\\"an\",worker=\"0\",reason=\"tx_ring_full\"} 0",
        ] {
            assert!(s.lines().any(|x| x == want), "{want}\n{s}");
        }
        for want in [
            "# HELP sluice_worker_rx_frames_total Frames received by the worker.",
            "# TYPE sluice_worker_rx_frames_total counter",
            "sluice_worker_rx_frames_total{worker=\"0\"} 100",
            "sluice_worker_rx_frames_total{worker=\"1\"} 5",
            "sluice_worker_tx_frames_total{worker=\"0\"} 90",
            "sluice_drops_total{worker=\"0\",reason=\"filter.drop\"} 10",
            "sluice_drops_total{worker=\"1\",reason=\"filter.drop\"} 0",
            "# TYPE sluice_conntrack_entries gauge",
            "sluice_conntrack_entries{worker=\"0\"} 7",
            "sluice_conntrack_max 1000",
            "# HELP sluice_umem_frames The worker's arena frames at its last publication: free, held (fill and TX rings, punt and neighbour queues), lost (neither: 0 unless one leaked).",
            "# TYPE sluice_umem_frames gauge",
            "sluice_umem_frames{worker=\"0\",state=\"free\"} 0",
            "# TYPE sluice_batch_seconds histogram",
            "sluice_batch_seconds_bucket{worker=\"0\",le=\"0.000001\"} 0",
            "sluice_batch_seconds_bucket{worker=\"0\",le=\"0.0000025\"} 3",
            "sluice_batch_seconds_bucket{worker=\"0\",le=\"0.0025\"} 3",
            "sluice_batch_seconds_bucket{worker=\"0\",le=\"0.005\"} 4",
            "sluice_batch_seconds_bucket{worker=\"0\",le=\"+Inf\"} 4",
            "sluice_batch_seconds_count{worker=\"0\"} 4",
            "sluice_batch_seconds_bucket{worker=\"1\",le=\"+Inf\"} 0",
            "sluice_batch_seconds_sum{worker=\"1\"} 0",
            "sluice_rule_packets_total{table=\"filter\",chain=\"FORWARD\",rule=\"1\"} 1",
            "sluice_rule_packets_total{table=\"filter\",chain=\"FORWARD\",rule=\"2\"} 2",
            "sluice_rule_bytes_total{table=\"filter\",chain=\"FORWARD\",rule=\"2\"} 120",
            "sluice_rule_packets_total{table=\"filter\",chain=\"we\\\"ird\\\\\",rule=\"1\"} 3",
            "sluice_chain_policy_packets_total{table=\"filter\",chain=\"FORWARD\"} 4",
            "sluice_chain_policy_bytes_total{table=\"filter\",chain=\"FORWARD\"} 400",
            "sluice_log_records_total 12",
            "sluice_log_dropped_total{reason=\"ring_full\"} 3",
            "sluice_log_dropped_total{reason=\"sink\"} 4",
        ] {
            assert!(l.contains(&want), "missing {want:?} in\n{s}");
        }
        // A worker whose shard did not answer has no entries sample.
        assert!(!s.contains("sluice_conntrack_entries{worker=\"1\"}"), "{s}");
        // No policy sample for a user chain.
        assert!(!s.contains("sluice_chain_policy_packets_total{table=\"filter\",chain=\"we"));
        // The sum is within an eighth of 3 * 1.5 us + 3 ms.
        let sum: f64 = l
            .iter()
            .find_map(|x| x.strip_prefix("sluice_batch_seconds_sum{worker=\"0\"} "))
            .unwrap()
            .parse()
            .unwrap();
        let want = 3.0 * 1.5e-6 + 3e-3;
        assert!((sum - want).abs() <= want / 8.0, "{sum}");
        // Every family is declared once, before its samples; each sample
        // line is `name{labels} value`.
        let mut declared = Vec::new();
        for x in &l {
            if let Some(r) = x.strip_prefix("# TYPE ") {
                let name = r.split(' ').next().unwrap();
                assert!(!declared.contains(&name), "{name} declared twice");
                declared.push(name);
            } else if !x.starts_with("# HELP ") {
                let name = x.split(['{', ' ']).next().unwrap();
                let family = declared.last().unwrap();
                assert!(name.starts_with(family), "{x} outside its family {family}");
                assert!(x.rsplit(' ').next().unwrap().parse::<f64>().is_ok(), "{x}");
            }
        }
    }

    #[test]
    fn bucket_counts_are_cumulative_and_no_ruleset_no_rule_families() {
        let w = input_workers();
        let s = render(&MetricsInput {
            workers: &w,
            conntrack_max: 10,
            rules: None,
            port_names: &[],
            dhcp: &[],
            log: LogCounts::default(),
        });
        assert!(!s.contains("sluice_rule_"), "{s}");
        let counts: Vec<u64> = s
            .lines()
            .filter(|x| x.starts_with("sluice_batch_seconds_bucket{worker=\"0\""))
            .map(|x| x.rsplit(' ').next().unwrap().parse().unwrap())
            .collect();
        assert_eq!(counts.len(), BATCH_BOUNDS.len() + 1);
        assert!(counts.windows(2).all(|p| p[0] <= p[1]), "{counts:?}");
        assert_eq!(escape_label("a\nb\"c\\"), "a\\nb\\\"c\\\\");
    }
}
