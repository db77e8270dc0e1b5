//! `sluice stats`: per worker and summed, frames in and out, drops by
//! reason (`stage.reason` counters), handoffs between workers, conntrack
//! occupancy against the maximum, and the batch-time histogram's p50 /
//! p99 / p99.9.
//!
//! What it reads, per worker: `CounterBlock::read()` (the worker's
//! [`Counters`]), `LatencyBlock::read()` ([`BatchTimes`]) and the
//! conntrack shard's [`Counts`] (`Request::Count` on its channel); and
//! the configured `conntrack_max`; and each port's [`PortCounters`]
//! (`PortsBlock::read()`: frames in and out, what the rings and the
//! kernel dropped), summed over the workers (each serves one queue of
//! every port).

use std::fmt::Write as _;

use serde_json::json;
use sluice_dataplane::conntrack::view::Counts;
use sluice_dataplane::io::PortCounters;
use sluice_dataplane::packet::{BatchTimes, Counter, Counters, Kind};

/// One worker's numbers.
#[derive(Debug, Clone, Default)]
pub struct WorkerStats {
    pub counters: Counters,
    pub batch_times: BatchTimes,
    /// Whole poll turns, sleeps excluded (a stall shows here).
    pub turn_times: BatchTimes,
    /// `None` when the worker did not answer in time.
    pub conntrack: Option<Counts>,
    /// Each port's counters (the worker's queue of it), in port order.
    pub ports: Vec<PortCounters>,
}

/// `port NAME: rx N tx N ...` lines.
fn port_lines(out: &mut String, ports: &[PortCounters], names: &[String]) {
    for (i, p) in ports.iter().enumerate() {
        let name = names.get(i).map_or_else(|| i.to_string(), String::clone);
        let _ = write!(out, "  port {name}:");
        for (n, v) in PortCounters::NAMES.iter().zip(p.values()) {
            let _ = write!(out, " {n} {v}");
        }
        out.push('\n');
    }
}

fn ports_json(ports: &[PortCounters], names: &[String]) -> serde_json::Value {
    let m: serde_json::Map<String, serde_json::Value> = ports
        .iter()
        .enumerate()
        .map(|(i, p)| {
            let c: serde_json::Map<String, serde_json::Value> = PortCounters::NAMES
                .iter()
                .zip(p.values())
                .map(|(n, v)| (n.to_string(), json!(v)))
                .collect();
            (
                names.get(i).map_or_else(|| i.to_string(), String::clone),
                serde_json::Value::Object(c),
            )
        })
        .collect();
    serde_json::Value::Object(m)
}

fn ns(v: Option<u64>) -> String {
    match v {
        None => "-".into(),
        Some(n) if n < 1_000 => format!("{n}ns"),
        Some(n) if n < 10_000_000 => format!("{:.1}us", n as f64 / 1e3),
        Some(n) => format!("{:.1}ms", n as f64 / 1e6),
    }
}

fn get(c: &Counters, name: &str) -> u64 {
    c.by_name(name).unwrap_or(0)
}

fn block(
    out: &mut String,
    label: &str,
    c: &Counters,
    (t, turns): (&BatchTimes, &BatchTimes),
    ct: Option<&Counts>,
    max: usize,
) {
    let l = c.ledger();
    let _ = writeln!(
        out,
        "{label}: rx {} tx {} dropped {} to host {} queued {}",
        get(c, "rx.frames"),
        get(c, "tx.frames"),
        l.dropped,
        l.punted,
        l.queued
    );
    let _ = writeln!(
        out,
        "  handoffs: sent {} received {} ring full {}",
        get(c, "handoff.sent"),
        get(c, "handoff.received"),
        get(c, "handoff.ring_full")
    );
    if get(c, "defrag.queued") != 0 {
        let _ = writeln!(
            out,
            "  ipv6 reassembly: fragments held {} datagrams {} sent as they came {} timed out {}",
            get(c, "defrag.queued"),
            get(c, "defrag.reassembled"),
            get(c, "defrag.refragmented"),
            get(c, "defrag.timeout")
        );
    }
    if let Some(ct) = ct {
        let pct = if max == 0 {
            0.0
        } else {
            ct.total as f64 * 100.0 / max as f64
        };
        let _ = writeln!(out, "  conntrack: {} / {max} entries ({pct:.1}%)", ct.total);
    } else {
        let _ = writeln!(out, "  conntrack: no answer");
    }
    let u = c.umem();
    let _ = writeln!(
        out,
        "  umem: {} frames, {} free, {} on rings and queues, {} lost",
        u.frames,
        u.free,
        u.held,
        u.lost()
    );
    for (what, t, unit) in [("batch", t, "batches"), ("turn", turns, "turns")] {
        let _ = writeln!(
            out,
            "  {what} time: p50 {} p99 {} p99.9 {} max {} ({} {unit})",
            ns(t.quantile(0.5)),
            ns(t.quantile(0.99)),
            ns(t.quantile(0.999)),
            ns(t.max()),
            t.count()
        );
    }
    let drops: Vec<(&str, u64)> = Counter::ALL
        .iter()
        .filter(|k| k.kind() == Kind::Drop)
        .map(|&k| (k.name(), c.get(k)))
        .filter(|(_, v)| *v != 0)
        .collect();
    if !drops.is_empty() {
        out.push_str("  drops:\n");
        for (name, v) in drops {
            let _ = writeln!(out, "    {name:<32} {v:>12}");
        }
    }
}

impl WorkerStats {
    /// A worker's numbers with `conntrack` entries in its shard (tests).
    #[cfg(test)]
    pub(crate) fn of(
        counters: Counters,
        batch_times: BatchTimes,
        conntrack: Option<usize>,
    ) -> Self {
        WorkerStats {
            counters,
            batch_times,
            turn_times: BatchTimes::default(),
            conntrack: conntrack.map(|total| Counts {
                total,
                ..Counts::default()
            }),
            ports: Vec::new(),
        }
    }
}

/// The sum of the workers' numbers.
pub fn total(workers: &[WorkerStats]) -> WorkerStats {
    let mut t = WorkerStats {
        conntrack: Some(Counts::default()),
        ..WorkerStats::default()
    };
    for w in workers {
        t.counters.merge(&w.counters);
        t.batch_times.merge(&w.batch_times);
        t.turn_times.merge(&w.turn_times);
        if t.ports.len() < w.ports.len() {
            t.ports.resize(w.ports.len(), PortCounters::default());
        }
        for (a, b) in t.ports.iter_mut().zip(&w.ports) {
            a.merge(b);
        }
        if let (Some(a), Some(b)) = (&mut t.conntrack, &w.conntrack) {
            *a = super::conntrack::conntrack_count(&[a.clone(), b.clone()]);
        }
    }
    t
}

/// `sluice stats`: the total, then each worker; each with its port lines
/// (`names`: the ports' interface names, in port order).
pub fn stats(workers: &[WorkerStats], conntrack_max: usize, names: &[String]) -> String {
    let mut out = String::new();
    let t = total(workers);
    let all_answered = workers.iter().all(|w| w.conntrack.is_some());
    block(
        &mut out,
        &format!("total ({} workers)", workers.len()),
        &t.counters,
        (&t.batch_times, &t.turn_times),
        t.conntrack.as_ref().filter(|_| all_answered),
        conntrack_max,
    );
    port_lines(&mut out, &t.ports, names);
    // Each shard gets an equal share of the table.
    let share = conntrack_max / workers.len().max(1);
    for (i, w) in workers.iter().enumerate() {
        block(
            &mut out,
            &format!("worker {i}"),
            &w.counters,
            (&w.batch_times, &w.turn_times),
            w.conntrack.as_ref(),
            share,
        );
        port_lines(&mut out, &w.ports, names);
    }
    out
}

fn json_of(w: &WorkerStats, names: &[String]) -> serde_json::Value {
    let (c, t, ct) = (&w.counters, &w.batch_times, w.conntrack.as_ref());
    let counters: serde_json::Map<String, serde_json::Value> =
        c.iter().map(|(n, v)| (n.to_string(), json!(v))).collect();
    let l = c.ledger();
    json!({
        "counters": counters,
        // The frame ledger: rx + generated = tx + dropped + punted +
        // consumed + stolen + queued when every frame is accounted for.
        "ledger": {
            "rx": l.rx,
            "generated": l.generated,
            "tx": l.tx,
            "dropped": l.dropped,
            "punted": l.punted,
            "consumed": l.consumed,
            "stolen": l.stolen,
            "queued": l.queued,
            "balanced": l.balanced(),
        },
        // Where the arena's frames were at the worker's last publication:
        // lost = frames - free - held is 0 when none leaked.
        "umem": {
            "frames": c.umem().frames,
            "free": c.umem().free,
            "held": c.umem().held,
            "lost": c.umem().lost(),
        },
        "conntrack": ct.map(|c| c.total),
        "ports": ports_json(&w.ports, names),
        "batch_ns": times_json(t),
        "turn_ns": times_json(&w.turn_times),
    })
}

fn times_json(t: &BatchTimes) -> serde_json::Value {
    json!({
        "count": t.count(),
        "p50": t.quantile(0.5),
        "p99": t.quantile(0.99),
        "p999": t.quantile(0.999),
        "max": t.max(),
    })
}

/// `sluice stats --json`.
pub fn stats_json(
    workers: &[WorkerStats],
    conntrack_max: usize,
    names: &[String],
) -> serde_json::Value {
    let t = total(workers);
    json!({
        "conntrack_max": conntrack_max,
        "total": json_of(&t, names),
        "workers": workers
            .iter()
            .map(|w| json_of(w, names))
            .collect::<Vec<_>>(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use sluice_dataplane::packet::UmemLedger;

    #[test]
    fn sums_and_drops_by_reason() {
        let mut a = Counters::default();
        a.add(Counter::RxFrames, 100);
        a.add(Counter::TxFrames, 90);
        a.add(Counter::FilterDrop, 10);
        let mut ta = BatchTimes::default();
        ta.record(2_000);
        a.set_umem(UmemLedger {
            frames: 4096,
            free: 4000,
            held: 96,
        });
        let mut b = Counters::default();
        b.add(Counter::RxFrames, 5);
        b.add(Counter::TxFrames, 4);
        b.add(Counter::ParseMalformed, 1);
        let mut d = Counters::default();
        d.add(Counter::DefragQueued, 3);
        d.add(Counter::DefragReassembled, 1);
        d.add(Counter::DefragRefragmented, 1);
        d.add(Counter::DefragOverlap, 2);
        let ds = stats(
            &[WorkerStats::of(d, BatchTimes::default(), Some(0))],
            10,
            &[],
        );
        assert!(
            ds.contains("\n  ipv6 reassembly: fragments held 3 datagrams 1 sent as they came 1 timed out 0\n"),
            "{ds}"
        );
        assert!(ds.contains("    defrag.overlap "), "{ds}");
        let mut w = vec![
            WorkerStats::of(a, ta, Some(7)),
            WorkerStats::of(b, BatchTimes::default(), Some(3)),
        ];
        let port = |rx, tx, full| PortCounters {
            rx,
            tx,
            rx_ring_full: full,
            ..PortCounters::default()
        };
        w[0].ports = vec![port(60, 30, 2), port(40, 60, 0)];
        w[1].ports = vec![port(5, 0, 0), port(0, 4, 1)];
        let names = ["lan".to_string(), "wan".to_string()];
        let s = stats(&w, 1000, &names);
        assert!(
            s.contains("\n  port lan: rx 65 tx 30 rx_dropped 0 rx_ring_full 2 fill_ring_empty 0 tx_ring_full 0 invalid_descs 0\n  port wan: rx 40 tx 64 rx_dropped 0 rx_ring_full 1 "),
            "{s}"
        );
        assert!(s.contains("\n  port wan: rx 0 tx 4 "), "{s}");
        let first = s.lines().next().unwrap();
        assert_eq!(
            first,
            "total (2 workers): rx 105 tx 94 dropped 11 to host 0 queued 0"
        );
        assert!(s.contains("  conntrack: 10 / 1000 entries (1.0%)\n"), "{s}");
        assert!(!s.contains("ipv6 reassembly"), "{s}");
        assert!(s.contains("    filter.drop"), "{s}");
        assert!(s.contains("    parse.malformed"), "{s}");
        assert!(s.contains("worker 1: rx 5 tx 4 dropped 1"), "{s}");
        assert!(s.contains("  conntrack: 3 / 500 entries (0.6%)\n"), "{s}");
        assert!(s.contains("batch time: p50 2.0us"), "{s}");
        let j = stats_json(&w, 1000, &names);
        assert_eq!(j["total"]["counters"]["rx.frames"], 105);
        assert_eq!(j["total"]["ports"]["wan"]["tx"], 64);
        assert_eq!(j["workers"][1]["ports"]["lan"]["rx"], 5);
        assert_eq!(j["workers"][0]["batch_ns"]["count"], 1);
        assert_eq!(j["workers"][0]["turn_ns"]["count"], 0);
        assert!(
            s.contains("  turn time: p50 - p99 - p99.9 - max - (0 turns)\n"),
            "{s}"
        );
        // 100 in = 90 out + 10 dropped; 5 in = 4 out + 1 dropped.
        assert_eq!(j["workers"][0]["ledger"]["balanced"], true);
        assert_eq!(j["total"]["ledger"]["dropped"], 11);
        assert_eq!(j["total"]["ledger"]["balanced"], true);
        assert_eq!(j["workers"][0]["umem"]["lost"], 0);
        assert_eq!(j["total"]["umem"]["frames"], 4096);
        assert!(
            s.contains("  umem: 4096 frames, 4000 free, 96 on rings and queues, 0 lost\n"),
            "{s}"
        );
    }
}
