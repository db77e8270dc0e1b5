//! `sluice-bench gen --max` against trafgen (netsniff-ng) on one veth pair
//! (two namespaces this module creates, one RX and one TX queue each):
//! 64-byte UDP, 1 and 1 024 flows, one sending core each (gen: one
//! worker on core 0; trafgen: `--cpus 1`). gen runs twice: with its
//! default AF_XDP engine (copy mode on veth) and with `--engine live`
//! (XDP live frames, [`crate::gen::live`]). The rate is the receiving
//! end's `rx_packets` over the same window for all, not a tool's own
//! claim; the repetitions alternate the tools and the medians are kept.
//!
//! The receiving end `tb` has GRO on for every tool: the live engine
//! transmits through veth's `ndo_xdp_xmit`, which needs the peer's NAPI
//! (with GRO off and no XDP program there it refuses every frame). The
//! skb senders then go through the same NAPI ring instead of the backlog.
//!
//! Two receiving ends, because on a veth pair the receiver's work runs on
//! the sender's core (`veth_xmit` → `netif_rx` → the backlog is processed
//! when the sending syscall re-enables bottom halves), so what the
//! receiver does to each frame is billed to both tools alike:
//!
//! * [`Receiver::L2Drop`]: frames addressed to a MAC the receiving end
//!   does not own: `veth` counts each frame, `ip_rcv` drops it at once
//!   (`PACKET_OTHERHOST`). What is measured is the generators.
//! * [`Receiver::Routes`]: frames addressed to the receiving end, which
//!   has no address: each one is routed (`ip_route_input_slow`), fails and
//!   gets a `dst` allocated and freed by RCU (`ip_error`); about half the
//!   core goes to that, for both tools.

use std::fmt::Write as _;
use std::os::unix::process::CommandExt as _;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread;
use std::time::{Duration, Instant};

use serde::Serialize;

use crate::frames::MacAddr;
use crate::lab::{spawn_in_group, wait_output, Lab};
use crate::netns::{veth_pair, Netns, VethEnd};

const TA_MAC: MacAddr = MacAddr([2, 0, 0, 0, 0x0c, 1]);
const TB_MAC: MacAddr = MacAddr([2, 0, 0, 0, 0x0c, 2]);
/// Nobody's MAC on the pair: tb counts the frame and drops it.
const OTHER_MAC: MacAddr = MacAddr([2, 0, 0, 0, 0x0c, 0x99]);

/// What the receiving end does with each frame.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum Receiver {
    /// Counts and drops it at layer 2 (not addressed to it).
    L2Drop,
    /// Routes it and fails (no address): a `dst` per frame.
    Routes,
}

impl Receiver {
    fn dst_mac(self) -> MacAddr {
        match self {
            Receiver::L2Drop => OTHER_MAC,
            Receiver::Routes => TB_MAC,
        }
    }

    fn describe(self) -> &'static str {
        match self {
            Receiver::L2Drop => "drops at layer 2",
            Receiver::Routes => "routes each frame",
        }
    }
}

/// One (receiver, flow count)'s figures: medians over the repetitions.
#[derive(Debug, Clone, Copy, Serialize)]
pub struct TrafgenFigure {
    pub receiver: Receiver,
    pub flows: u32,
    pub reps: usize,
    /// `gen --engine live`.
    pub live_mpps: f64,
    /// `gen` with its default engine (AF_XDP).
    pub gen_mpps: f64,
    pub trafgen_mpps: f64,
}

impl TrafgenFigure {
    /// gen (AF_XDP) / trafgen.
    pub fn ratio(&self) -> f64 {
        self.gen_mpps / self.trafgen_mpps
    }

    /// gen --engine live / trafgen.
    pub fn live_ratio(&self) -> f64 {
        self.live_mpps / self.trafgen_mpps
    }
}

/// trafgen's packet: 60 bytes (64 with the FCS) to `dst_mac`, UDP from
/// 10.78.0.1 to 10.78.0.2:9, source port counting over `flows` ports from
/// 1024.
pub fn trafgen_conf(flows: u32, dst_mac: MacAddr) -> String {
    let sp = if flows <= 1 {
        "1024".to_string()
    } else {
        format!("dinc(1024, {})", 1024 + flows - 1)
    };
    format!(
        "{{\n  eth(da={dst_mac}, sa={TA_MAC}),\n  ipv4(saddr=10.78.0.1, daddr=10.78.0.2, ttl=64),\n  \
         udp(sp={sp}, dp=9),\n  fill(0x00, 18)\n}}\n"
    )
}

/// The figure table (markdown).
pub fn markdown(figs: &[TrafgenFigure]) -> String {
    let reps = figs.first().map_or(0, |f| f.reps);
    let mut md = format!(
        "`gen --max` against trafgen (netsniff-ng, `--cpus 1`) on one veth pair, 64-byte UDP, one \
         sending core each, frames counted at the receiving end; medians of {reps} alternating \
         runs. gen with `--engine live` (XDP live frames: the kernel's `BPF_PROG_RUN` transmits \
         each frame through veth's `ndo_xdp_xmit`, no skb) and with its default AF_XDP engine \
         (copy mode on veth: an skb per frame, as trafgen's `PACKET_TX_RING`). The receiving \
         end has GRO on for all three (the live engine needs the peer's NAPI). On veth the \
         receiver's work runs on the sender's core: with a receiving end that drops each frame \
         at layer 2 the generators are measured; with one that routes each frame (and fails: \
         no address) that work, the same for all, is a large part of the core.\n\n\
         | receiving end | flows | gen live Mpps | gen AF_XDP Mpps | trafgen Mpps | \
         gen live / trafgen | gen AF_XDP / trafgen |\n\
         |---|---:|---:|---:|---:|---:|---:|\n",
    );
    for f in figs {
        let _ = writeln!(
            md,
            "| {} | {} | {:.3} | {:.3} | {:.3} | {:.2}× | {:.2}× |",
            f.receiver.describe(),
            f.flows,
            f.live_mpps,
            f.gen_mpps,
            f.trafgen_mpps,
            f.live_ratio(),
            f.ratio(),
        );
    }
    md
}

struct Pair {
    a: Netns,
    b: Netns,
}

fn pair() -> Result<Pair, String> {
    let p = Pair {
        a: Netns::new()?,
        b: Netns::new()?,
    };
    let end = |ns, name, mac| VethEnd {
        ns,
        name,
        mac,
        mtu: 1500,
    };
    veth_pair(&end(&p.a, "ta", TA_MAC), &end(&p.b, "tb", TB_MAC))?;
    for (ns, dev) in [(&p.a, "ta"), (&p.b, "tb")] {
        ns.run(&["ethtool", "-L", dev, "rx", "1", "tx", "1"])?;
        ns.sysctl(&[(&format!("net.ipv6.conf.{dev}.disable_ipv6") as &str, "1")])?;
        ns.link_up(dev)?;
    }
    p.a.ip(&["addr", "add", "10.78.0.1/24", "dev", "ta"])?;
    // NAPI at the receiving end, which the live engine's XDP transmit needs.
    p.b.run(&["ethtool", "-K", "tb", "gro", "on"])?;
    p.a.tx_offload_off("ta")?;
    Ok(p)
}

/// One run of a tool: Mpps counted at tb over `secs` seconds starting
/// 0.5 s after the start. `child` (which leads its own process group)
/// is then stopped with SIGINT to the whole group — trafgen's sending
/// process is a child of the one started, and a signal to the parent
/// alone leaves it sending — and waited for; then the group is killed
/// and tb must have gone quiet, or the run is an error (a sender that
/// outlived its run would count in the next tool's figure).
fn measure(
    p: &Pair,
    start: impl FnOnce() -> Result<Child, String>,
    secs: f64,
) -> Result<f64, String> {
    use nix::sys::signal::{killpg, Signal};
    use nix::unistd::Pid;
    let child = start()?;
    let group = Pid::from_raw(child.id() as i32);
    thread::sleep(Duration::from_millis(500));
    let read = || Lab::rx_packets(&p.b, "tb").map(|n| (n, Instant::now()));
    let a = read();
    thread::sleep(Duration::from_secs_f64(secs));
    let b = read();
    let _ = killpg(group, Signal::SIGINT);
    // Its exit status after SIGINT says nothing: the count is tb's.
    let _ = wait_output(child, Duration::from_secs(10));
    let _ = killpg(group, Signal::SIGKILL);
    let ((n0, t0), (n1, t1)) = (a?, b?);
    if n1 <= n0 {
        return Err("the receiving end counted no frame".into());
    }
    thread::sleep(Duration::from_millis(50));
    let q0 = Lab::rx_packets(&p.b, "tb")?;
    thread::sleep(Duration::from_millis(100));
    let q1 = Lab::rx_packets(&p.b, "tb")?;
    if q1 > q0 + 10 {
        return Err(format!(
            "frames kept arriving after the sender was stopped ({} in 100 ms)",
            q1 - q0
        ));
    }
    Ok((n1 - n0) as f64 / (t1 - t0).as_secs_f64() / 1e6)
}

fn median(v: &mut [f64]) -> f64 {
    v.sort_by(f64::total_cmp);
    v.get(v.len() / 2).copied().unwrap_or(0.0)
}

/// Both tools, both receiving ends, 1 and 1 024 flows, `secs` seconds a
/// run, `reps` alternating runs each.
pub fn run(
    work: &Path,
    secs: f64,
    reps: usize,
    stop: &AtomicBool,
) -> Result<Vec<TrafgenFigure>, String> {
    let p = pair()?;
    let mut out = Vec::new();
    for receiver in [Receiver::L2Drop, Receiver::Routes] {
        for flows in [1u32, 1024] {
            let conf = work.join(format!("trafgen-{flows}-{receiver:?}.cfg"));
            std::fs::write(&conf, trafgen_conf(flows, receiver.dst_mac()))
                .map_err(|e| format!("{}: {e}", conf.display()))?;
            let mut g: [Vec<f64>; 3] = Default::default();
            for _ in 0..reps.max(1) {
                if stop.load(Ordering::Relaxed) {
                    return Err("interrupted".into());
                }
                let gen = |engine: &str| {
                    spawn_in_group(
                        &p.a,
                        &[
                            "gen",
                            "--engine",
                            engine,
                            "--dev",
                            "ta",
                            "--max",
                            "--flows",
                            &flows.to_string(),
                            "--size",
                            "64",
                            "--duration",
                            &format!("{}", secs + 1.5),
                            "--src",
                            "10.78.0.1/32",
                            "--dst",
                            "10.78.0.2",
                            "--dst-mac",
                            &receiver.dst_mac().to_string(),
                            "--first-core",
                            "0",
                        ]
                        .map(String::from),
                    )
                };
                g[0].push(measure(&p, || gen("xsk"), secs)?);
                g[2].push(measure(&p, || gen("live"), secs)?);
                let tg = || {
                    Command::new("ip")
                        .process_group(0)
                        .args([
                            "netns",
                            "exec",
                            p.a.name(),
                            "trafgen",
                            "--dev",
                            "ta",
                            "--conf",
                        ])
                        .arg(&conf)
                        .args(["--cpus", "1"])
                        .stdin(Stdio::null())
                        .stdout(Stdio::null())
                        .stderr(Stdio::null())
                        .spawn()
                        .map_err(|e| format!("cannot start trafgen: {e}"))
                };
                g[1].push(measure(&p, tg, secs)?);
            }
            let [gm, tm, lm] = &mut g;
            let f = TrafgenFigure {
                receiver,
                flows,
                reps: reps.max(1),
                live_mpps: median(lm),
                gen_mpps: median(gm),
                trafgen_mpps: median(tm),
            };
            eprintln!(
                "  receiving end {}, {flows:>4} flow(s): gen live {:.3} Mpps, gen AF_XDP {:.3} \
                 Mpps, trafgen {:.3} Mpps: {:.2}× and {:.2}×",
                receiver.describe(),
                f.live_mpps,
                f.gen_mpps,
                f.trafgen_mpps,
                f.live_ratio(),
                f.ratio()
            );
            out.push(f);
        }
    }
    drop(p);
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn conf_and_table() {
        let c = trafgen_conf(1024, TB_MAC);
        assert!(c.contains("sp=dinc(1024, 2047)"), "{c}");
        assert!(c.contains("da=02:00:00:00:0c:02"), "{c}");
        assert!(trafgen_conf(1, OTHER_MAC).contains("sp=1024,"));
        assert!(trafgen_conf(1, OTHER_MAC).contains("da=02:00:00:00:0c:99"));
        let md = markdown(&[TrafgenFigure {
            receiver: Receiver::L2Drop,
            flows: 1024,
            reps: 3,
            live_mpps: 4.5,
            gen_mpps: 3.0,
            trafgen_mpps: 1.5,
        }]);
        assert!(
            md.contains("| drops at layer 2 | 1024 | 4.500 | 3.000 | 1.500 | 3.00× | 2.00× |"),
            "{md}"
        );
        assert!(md.contains("medians of 3"), "{md}");
    }

    #[test]
    fn median_of_odd_and_even() {
        assert_eq!(median(&mut [3.0, 1.0, 2.0]), 2.0);
        assert_eq!(median(&mut [4.0, 1.0]), 4.0);
        assert_eq!(median(&mut []), 0.0);
    }
}
