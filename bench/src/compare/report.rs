//! The figures of `sluice-bench compare`: samples per (scenario, router),
//! medians over repetitions, sluice / best kernel, the table as markdown,
//! `bench/RESULTS.md`, and the Mpps / rule-count plot.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::Path;

use serde::Serialize;

use super::scenario::Scenario;
use super::tcp::TcpSample;
use super::trafgen::TrafgenFigure;
use super::ROUTERS;
use crate::lab::Router;
use crate::timing::cpu_model;

/// One case's figures (NaN: not measured).
#[derive(Debug, Clone, Copy, Serialize)]
pub struct Sample {
    /// Frames gen's TX rings took, per second of gen's run.
    pub sent_mpps: f64,
    /// Gen's frames the sink received, per second of gen's run.
    pub fwd_mpps: f64,
    pub loss_pct: f64,
    pub p50_us: f64,
    pub p99_us: f64,
    pub p999_us: f64,
    /// sluice: its process's CPU seconds; kernel: softirq of all CPUs.
    pub router_cpu_s: f64,
    /// Softirq seconds of all CPUs over the window.
    pub softirq_s: f64,
    pub window_s: f64,
}

impl Sample {
    /// The progress line's figures.
    pub fn line(&self) -> String {
        format!(
            "{:.3} Mpps fwd (sent {:.3}), loss {:.1} %, p50/p99/p99.9 {:.0}/{:.0}/{:.0} µs, cpu {:.2} s",
            self.fwd_mpps,
            self.sent_mpps,
            self.loss_pct,
            self.p50_us,
            self.p99_us,
            self.p999_us,
            self.router_cpu_s
        )
    }
}

/// `legacy`, `nft`, `sluice`: file names and JSON keys.
pub fn router_key(r: Router) -> &'static str {
    match r {
        Router::Legacy => "legacy",
        Router::Nft => "nft",
        Router::Sluice { .. } => "sluice",
    }
}

/// The median of the values that are not NaN; `None` without any.
pub fn median(v: impl IntoIterator<Item = f64>) -> Option<f64> {
    let mut v: Vec<f64> = v.into_iter().filter(|x| !x.is_nan()).collect();
    if v.is_empty() {
        return None;
    }
    v.sort_by(f64::total_cmp);
    let n = v.len();
    Some(if n % 2 == 1 {
        v[n / 2]
    } else {
        (v[n / 2 - 1] + v[n / 2]) / 2.0
    })
}

/// sluice / the better kernel router (`None` if either is missing or the
/// kernel's figure is 0).
pub fn ratio(sluice: Option<f64>, legacy: Option<f64>, nft: Option<f64>) -> Option<f64> {
    let best = match (legacy, nft) {
        (Some(a), Some(b)) => a.max(b),
        (a, b) => a.or(b)?,
    };
    (best > 0.0).then(|| sluice.map(|s| s / best)).flatten()
}

/// Everything one run measured.
#[derive(Debug, Default)]
pub struct Table {
    pub samples: BTreeMap<(Scenario, &'static str), Vec<Sample>>,
    /// The `tcp` scenario's samples by router key.
    pub tcp: BTreeMap<&'static str, Vec<TcpSample>>,
    pub notes: Vec<String>,
    pub trafgen: Vec<TrafgenFigure>,
    pub duration_s: f64,
    pub reps: usize,
    pub load_before: String,
    pub load_after: String,
    pub elapsed_s: f64,
}

pub fn cell(v: Option<f64>, digits: usize) -> String {
    v.map_or_else(|| "—".into(), |v| format!("{v:.digits$}"))
}

impl Table {
    pub fn new(duration_s: f64, reps: usize) -> Table {
        Table {
            duration_s,
            reps,
            ..Table::default()
        }
    }

    pub fn push(&mut self, sc: Scenario, r: Router, s: Sample) {
        self.samples.entry((sc, router_key(r))).or_default().push(s);
    }

    pub fn push_tcp(&mut self, r: Router, s: TcpSample) {
        self.tcp.entry(router_key(r)).or_default().push(s);
    }

    /// The median of `f` over the samples of (sc, router).
    pub fn med(&self, sc: Scenario, router: &str, f: fn(&Sample) -> f64) -> Option<f64> {
        median(self.samples.get(&(sc, router))?.iter().map(f))
    }

    fn scenarios(&self) -> Vec<Scenario> {
        let mut v: Vec<Scenario> = self.samples.keys().map(|k| k.0).collect();
        v.dedup();
        v
    }

    /// The tables (markdown): UDP forwarding, a row per scenario and
    /// router; the TCP connection setup, a row per router; gen / trafgen.
    pub fn markdown(&self) -> String {
        self.render(true)
    }

    fn render(&self, with_tcp: bool) -> String {
        let mut md = String::new();
        if !self.samples.is_empty() {
            md.push_str(&self.udp_markdown());
        }
        if with_tcp && !self.tcp.is_empty() {
            if !md.is_empty() {
                md.push('\n');
            }
            md.push_str(&super::tcp::markdown(&self.tcp));
        }
        if !self.trafgen.is_empty() {
            md.push('\n');
            md.push_str(&super::trafgen::markdown(&self.trafgen));
        }
        if !self.notes.is_empty() {
            md.push_str("\nNotes from the run:\n\n");
            for n in &self.notes {
                let _ = writeln!(md, "- {n}");
            }
        }
        md
    }

    /// The UDP forwarding table: a row per scenario and router.
    fn udp_markdown(&self) -> String {
        let mut md = String::new();
        md.push_str(
            "| scenario | router | Mpps forwarded | loss % | p50 µs | p99 µs | p99.9 µs | router CPU s | softirq s | sluice / best kernel (Mpps) |\n\
             |---|---|---:|---:|---:|---:|---:|---:|---:|---:|\n",
        );
        for sc in self.scenarios() {
            let mpps = |r: &str| self.med(sc, r, |s| s.fwd_mpps);
            let ratio = ratio(mpps("sluice"), mpps("legacy"), mpps("nft"));
            for r in ROUTERS {
                let k = router_key(r);
                if !self.samples.contains_key(&(sc, k)) {
                    continue;
                }
                let _ = writeln!(
                    md,
                    "| {} | {} | {} | {} | {} | {} | {} | {} | {} | {} |",
                    sc.title(),
                    r.name(),
                    cell(mpps(k), 3),
                    cell(self.med(sc, k, |s| s.loss_pct), 1),
                    cell(self.med(sc, k, |s| s.p50_us), 0),
                    cell(self.med(sc, k, |s| s.p99_us), 0),
                    cell(self.med(sc, k, |s| s.p999_us), 0),
                    cell(self.med(sc, k, |s| s.router_cpu_s), 2),
                    cell(self.med(sc, k, |s| s.softirq_s), 2),
                    if k == "sluice" {
                        ratio.map_or("—".into(), |x| format!("{x:.2}×"))
                    } else {
                        String::new()
                    }
                );
            }
        }
        md
    }

    /// Every sample, for `--json`.
    pub fn samples_json(&self) -> serde_json::Value {
        let rows: Vec<serde_json::Value> = self
            .samples
            .iter()
            .map(|((sc, r), v)| serde_json::json!({"scenario": sc.name(), "router": r, "samples": v}))
            .collect();
        serde_json::json!({"cases": rows, "tcp": self.tcp, "trafgen": self.trafgen})
    }

    /// `bench/RESULTS.md`.
    pub fn results_md(&self, commit: &str, cost: Option<&str>, plot_note: Option<&str>) -> String {
        let mut md = String::new();
        let date = utc_now();
        let kernel = std::fs::read_to_string("/proc/sys/kernel/osrelease")
            .unwrap_or_default()
            .trim()
            .to_string();
        let _ = writeln!(
            md,
            "# sluice against the kernel: `sluice-bench compare`\n\n\
             Written by `sluice-bench compare --write` (do not edit by hand; run it again).\n\n\
             - machine: {} ({} CPUs), Linux {kernel}\n\
             - date: {date}, commit {commit}\n\
             - run: {} repetition(s), {:.0} s measured per case after {:.0} s warm-up, whole run {:.0} s; \
             load average (1/5/15 min) {} before, {} after (a shared machine)\n",
            cpu_model(),
            std::thread::available_parallelism().map_or(0, |n| n.get()),
            self.reps,
            self.duration_s,
            super::case::WARM_S,
            self.elapsed_s,
            self.load_before,
            self.load_after,
        );
        md.push_str(CONDITIONS);
        md.push_str("\n## Forwarding, one case after another in one run\n\n");
        md.push_str(&self.render(false));
        if !self.tcp.is_empty() {
            md.push('\n');
            md.push_str(&self.tcp_section(commit, &date));
        }
        md.push_str("\n## Mpps against rule count\n\n");
        match plot_note {
            None => md.push_str("![Mpps against FORWARD rule count](results/compare.png)\n"),
            Some(n) => {
                let _ = writeln!(md, "({n})");
            }
        }
        md.push_str("\n## Instructions per packet (`sluice-bench cost`)\n\n");
        match cost {
            Some(c) => md.push_str(c),
            None => md.push_str(
                "Not in this run: run `sluice-bench cost` (writes bench/results/cost.json) before \
                 `compare --write`.\n",
            ),
        }
        md
    }
}

/// The heading of RESULTS.md's TCP section (`--scenario tcp --write`
/// replaces that section alone, see [`merge_tcp`]).
pub const TCP_HEADING: &str = "## Stateful TCP connection setup through NAT";

impl Table {
    /// RESULTS.md's TCP section: heading, the run's line, the table.
    pub fn tcp_section(&self, commit: &str, date: &str) -> String {
        format!(
            "{TCP_HEADING}\n\nRun: {date}, commit {commit}, {} repetition(s), medians; load average \
             {} before, {} after.\n\n{}",
            self.reps,
            self.load_before,
            self.load_after,
            super::tcp::markdown(&self.tcp)
        )
    }
}

/// `existing` RESULTS.md with its TCP section replaced by `section`
/// (inserted before `## Mpps against rule count` when it has none, else
/// appended), and an old run's "not built yet" note on the tcp scenario
/// dropped: `compare --scenario tcp --write` keeps the other figures.
pub fn merge_tcp(existing: &str, section: &str) -> String {
    let title = Scenario::Tcp.title();
    let mut kept: String = existing
        .lines()
        .filter(|l| !(l.starts_with(&format!("- {title}:")) && l.contains("not built yet")))
        .map(|l| format!("{l}\n"))
        .collect();
    kept = kept.replace("\nNotes from the run:\n\n\n", "\n");
    let section = format!("{}\n", section.trim_end());
    if let Some(i) = kept.find(&format!("{TCP_HEADING}\n")) {
        let end = kept[i + TCP_HEADING.len()..]
            .find("\n## ")
            .map_or(kept.len(), |j| i + TCP_HEADING.len() + j + 1);
        kept.replace_range(i..end, &section);
        return kept;
    }
    match kept.find("## Mpps against rule count") {
        Some(i) => kept.insert_str(i, &format!("{section}\n")),
        None => {
            kept.push('\n');
            kept.push_str(&section);
        }
    }
    kept
}

const CONDITIONS: &str = "\
## Conditions

- Topology: the lab (`sluice_bench::lab`): lan ─ rtr ─ wan namespaces joined by veth pairs
  (one RX and one TX queue each), built afresh for every case. Sender, router and sink
  share the machine's CPUs.
- Load: `sluice-bench gen --max` on l0 (AF_XDP, copy mode on veth, one worker pinned to
  CPU 0): 64-byte UDP frames (60 sent + FCS) from 10.0.1.64/26 to 198.51.100.10:9, over
  the scenario's flows (source address and port). Received by `sluice-bench sink` on w0
  (AF_XDP, one worker pinned to CPU 1): Mpps forwarded = gen's frames the sink counted /
  gen's run time; loss % = 1 − received / sent; latency = one-way, gen's timestamp to the
  sink's clock (same host, CLOCK_MONOTONIC), so at saturation it is mostly queueing.
  With sluice the sender overdrives the router (saturation loss). With the kernel router
  the forwarding runs inside the sender's own transmit (veth hands the frame to the
  backlog softirq of the sending CPU), which slows gen down instead: loss stays near 0 and
  the figure is what sender and router manage together on that CPU.
- Routers: the kernel (ip_forward, rp_filter off, the ruleset through
  iptables-legacy-restore or iptables-nft-restore, ipset for the gateway's set, the next
  hop a permanent neighbour); `sluice run` with the same ruleset file, one worker, idle
  back-off (`busy_poll = false`), AF_XDP copy mode on r0 and r1.
- CPU: sluice = its process's utime + stime over the measured window (`/proc/PID/stat`);
  kernel = softirq time of all CPUs (`/proc/stat`), where veth's receive path forwards.
  No per-namespace accounting exists; the softirq column (all routers) also holds the
  sink's XDP receive and, for sluice, its sockets' copy-mode transmit.
- Scenarios: plain (filter policies ACCEPT); gateway (`config/examples/lab`, conntrack +
  MASQUERADE + filter); kube 1k / 10k (kube-proxy-shaped `-d IP/32 -p tcp --dport P -j
  ACCEPT` rules the UDP traffic misses, then accept r0→r1); stateful filter with 1 000 and
  100 000 flows (ctstate ESTABLISHED / NEW accepts, no NAT: with one destination,
  MASQUERADE has at most ~64 000 source ports for 100 000 flows); tcp (the gateway's
  ruleset: `gen --tcp-conns N` on l0 against `sink --tcp-listen 7` on w0, both smoltcp
  over AF_XDP with one worker, 256 connections in flight, 1 000 bytes echoed and
  verified per connection; setups/s = handshakes completed / gen's run; one gen worker
  may be what bounds it for every router).
";

/// The cost table `sluice-bench cost` left in `path` (markdown), if any.
pub fn read_cost(path: &Path) -> Option<String> {
    let text = std::fs::read_to_string(path).ok()?;
    let v: serde_json::Value = serde_json::from_str(&text).ok()?;
    Some(crate::cost::markdown_from_json(&v))
}

/// Now as `YYYY-MM-DD HH:MM UTC` (`date -u`; empty without it).
pub fn utc_now() -> String {
    std::process::Command::new("date")
        .args(["-u", "+%Y-%m-%d %H:%M UTC"])
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
        .unwrap_or_default()
}

/// `/proc/loadavg`'s three averages.
pub fn loadavg() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .map(|s| s.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
        .unwrap_or_default()
}

/// The font the plot's text uses (Debian: fonts-dejavu-core).
pub const FONT: &str = "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf";

/// Draws Mpps forwarded against FORWARD rule count (0, 1 000, 10 000:
/// the plain and kube scenarios) for each router into `png`.
pub fn plot(t: &Table, png: &Path) -> Result<(), String> {
    use plotters::prelude::*;
    let series: Vec<(&str, Vec<(f64, f64)>)> = ["legacy", "nft", "sluice"]
        .iter()
        .map(|&k| {
            let pts = [Scenario::Plain, Scenario::Kube1k, Scenario::Kube10k]
                .iter()
                .filter_map(|&sc| Some((sc.rule_count()? as f64, t.med(sc, k, |s| s.fwd_mpps)?)))
                .collect();
            (k, pts)
        })
        .collect();
    if series
        .iter()
        .all(|(_, p): &(&str, Vec<(f64, f64)>)| p.len() < 2)
    {
        return Err("fewer than two rule counts measured (run plain, kube1k, kube10k)".into());
    }
    let font =
        std::fs::read(FONT).map_err(|e| format!("{FONT}: {e} (install fonts-dejavu-core)"))?;
    let font: &'static [u8] = Box::leak(font.into_boxed_slice());
    plotters::style::register_font("sans-serif", FontStyle::Normal, font)
        .map_err(|_| format!("{FONT}: not a usable font"))?;
    if let Some(d) = png.parent() {
        std::fs::create_dir_all(d).map_err(|e| format!("{}: {e}", d.display()))?;
    }
    let ymax = series
        .iter()
        .flat_map(|(_, p)| p.iter().map(|x| x.1))
        .fold(0.1, f64::max)
        * 1.2;
    let e = |e: &dyn std::fmt::Display| format!("plot: {e}");
    let root = BitMapBackend::new(png, (800, 500)).into_drawing_area();
    root.fill(&WHITE).map_err(|x| e(&x))?;
    let mut chart = ChartBuilder::on(&root)
        .caption("64-byte UDP forwarded vs FORWARD rules", ("sans-serif", 22))
        .margin(15)
        .x_label_area_size(45)
        .y_label_area_size(60)
        .build_cartesian_2d(0f64..10_500f64, 0f64..ymax)
        .map_err(|x| e(&x))?;
    chart
        .configure_mesh()
        .x_desc("kube-proxy-shaped FORWARD rules")
        .x_label_formatter(&|x| format!("{x:.0}"))
        .y_desc("Mpps forwarded")
        .draw()
        .map_err(|x| e(&x))?;
    let colors = [
        RGBColor(200, 60, 40),
        RGBColor(40, 110, 200),
        RGBColor(30, 150, 60),
    ];
    for ((k, pts), c) in series.iter().zip(colors) {
        let name = match *k {
            "legacy" => "kernel iptables-legacy",
            "nft" => "kernel iptables-nft",
            _ => "sluice",
        };
        chart
            .draw_series(LineSeries::new(pts.iter().copied(), c.stroke_width(2)))
            .map_err(|x| e(&x))?
            .label(name)
            .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], c.stroke_width(2)));
        chart
            .draw_series(pts.iter().map(|&p| Circle::new(p, 4, c.filled())))
            .map_err(|x| e(&x))?;
    }
    chart
        .configure_series_labels()
        .background_style(WHITE.mix(0.8))
        .border_style(BLACK)
        .draw()
        .map_err(|x| e(&x))?;
    root.present().map_err(|x| e(&x))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(mpps: f64) -> Sample {
        Sample {
            sent_mpps: 2.0,
            fwd_mpps: mpps,
            loss_pct: 10.0,
            p50_us: 20.0,
            p99_us: 80.0,
            p999_us: f64::NAN,
            router_cpu_s: 1.5,
            softirq_s: 2.0,
            window_s: 3.0,
        }
    }

    #[test]
    fn median_and_ratio() {
        assert_eq!(median([3.0, 1.0, 2.0]), Some(2.0));
        assert_eq!(median([4.0, 1.0, 2.0, 3.0]), Some(2.5));
        assert_eq!(median([f64::NAN, 5.0]), Some(5.0));
        assert_eq!(median([f64::NAN]), None);
        assert_eq!(ratio(Some(2.0), Some(0.5), Some(1.0)), Some(2.0));
        assert_eq!(ratio(Some(2.0), None, Some(4.0)), Some(0.5));
        assert_eq!(ratio(Some(2.0), None, None), None);
        assert_eq!(ratio(Some(2.0), Some(0.0), None), None);
        assert_eq!(ratio(None, Some(1.0), None), None);
    }

    #[test]
    fn table_rows_medians_and_ratio() {
        let mut t = Table::new(3.0, 3);
        for v in [0.5, 0.7, 0.6] {
            t.push(Scenario::Plain, Router::Legacy, s(v));
        }
        t.push(Scenario::Plain, Router::Nft, s(0.4));
        for v in [1.2, 1.0, 1.4] {
            t.push(Scenario::Plain, Router::Sluice { busy_poll: false }, s(v));
        }
        t.notes.push("kube1k: failed: x".into());
        let md = t.markdown();
        let rows: Vec<&str> = md.lines().filter(|l| l.starts_with("| plain")).collect();
        assert_eq!(rows.len(), 3, "{md}");
        assert!(rows[0]
            .contains("| kernel iptables-legacy | 0.600 | 10.0 | 20 | 80 | — | 1.50 | 2.00 |"));
        assert!(rows[2].ends_with("| 2.00× |"), "{}", rows[2]);
        assert!(md.contains("- kube1k: failed: x"));
        assert!(!md.contains("setups/s"), "no TCP table without TCP samples");
        let r = t.results_md("abc123", None, Some("plot not drawn: x"));
        assert!(r.contains("commit abc123") && r.contains("(plot not drawn: x)"));
        assert!(r.contains("Not in this run"));
    }

    fn tcp(rate: f64, p99: f64) -> TcpSample {
        TcpSample {
            conns: 2000,
            setup_per_s: rate,
            completed: 1999.0,
            failed: 1.0,
            hs_p50_us: 5100.4,
            hs_p99_us: p99,
            router_cpu_s: 0.456,
            secs: 0.8,
        }
    }

    #[test]
    fn tcp_rows_medians_and_ratio() {
        let mut t = Table::new(3.0, 2);
        for v in [10_000.0, 12_000.0] {
            t.push_tcp(Router::Legacy, tcp(v, 9000.0));
        }
        t.push_tcp(Router::Nft, tcp(8_000.0, 9000.0));
        t.push_tcp(Router::Sluice { busy_poll: false }, tcp(5_500.0, f64::NAN));
        let md = t.markdown();
        // Only the TCP table: no UDP header without UDP samples.
        assert!(!md.contains("Mpps forwarded"), "{md}");
        assert!(md.contains("| router | connections | setups/s |"), "{md}");
        let rows: Vec<&str> = md
            .lines()
            .filter(|l| l.starts_with("| kernel") || l.starts_with("| sluice"))
            .collect();
        assert_eq!(rows.len(), 3, "{md}");
        assert_eq!(
            rows[0],
            "| kernel iptables-legacy | 2000 | 11000 | 1999 | 1 | 5100 | 9000 | 0.46 |  |"
        );
        assert_eq!(
            rows[2],
            "| sluice (idle back-off) | 2000 | 5500 | 1999 | 1 | 5100 | — | 0.46 | 0.50× |"
        );
        // With UDP samples too: both tables, the UDP one first.
        t.push(Scenario::Plain, Router::Legacy, s(1.0));
        let md = t.markdown();
        let (udp, tcp) = (md.find("Mpps forwarded"), md.find("setups/s"));
        assert!(udp.is_some() && tcp.is_some() && udp < tcp, "{md}");
        let sec = t.tcp_section("abc", "today");
        assert!(
            sec.starts_with(TCP_HEADING) && sec.contains("commit abc"),
            "{sec}"
        );
        let r = t.results_md("abc", None, None);
        let table = super::super::tcp::markdown(&t.tcp);
        assert!(r.contains(TCP_HEADING) && r.contains(&table), "{r}");
        assert_eq!(r.matches("setups/s |").count(), 1, "{r}");
        let j = t.samples_json();
        assert_eq!(j["tcp"]["legacy"].as_array().map(Vec::len), Some(2), "{j}");
    }

    #[test]
    fn merge_tcp_keeps_the_rest() {
        let old = "# R\n\n## Forwarding\n\n| a |\n\nNotes from the run:\n\n\
                   - stateful TCP connection setup through NAT: not built yet (x)\n\n\
                   ## Mpps against rule count\n\nplot\n";
        let sec = format!("{TCP_HEADING}\n\nfirst\n");
        let m = merge_tcp(old, &sec);
        assert_eq!(
            m,
            format!("# R\n\n## Forwarding\n\n| a |\n\n{sec}\n## Mpps against rule count\n\nplot\n")
        );
        // Again: the section is replaced, not added.
        let sec2 = format!("{TCP_HEADING}\n\nsecond\n");
        let m2 = merge_tcp(&m, &sec2);
        assert!(m2.contains("second") && !m2.contains("first"), "{m2}");
        assert_eq!(m2.matches(TCP_HEADING).count(), 1);
        assert!(m2.ends_with("## Mpps against rule count\n\nplot\n"), "{m2}");
        // No plot heading: appended.
        assert!(merge_tcp("# R\n", &sec).ends_with(&sec));
    }
}
