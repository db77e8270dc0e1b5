//! `sluice-bench gen --max` against trafgen (netsniff-ng) on one veth pair
//! (two namespaces this module creates, one RX and one TX queue each):
//! 64-byte UDP, 1 and 1 024 flows, one sending core each (gen: one
//! worker; trafgen: `--cpus 1`). The count is the receiving end's
//! `rx_packets` over the same window for both (no IP address there: the
//! kernel counts the frame, then drops it), not either tool's own claim.

use std::fmt::Write as _;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread;
use std::time::{Duration, Instant};

use serde::Serialize;

use crate::frames::MacAddr;
use crate::lab::{spawn_in, wait_output, Lab};
use crate::netns::{veth_pair, Netns, VethEnd};

const TA_MAC: MacAddr = MacAddr([2, 0, 0, 0, 0x0c, 1]);
const TB_MAC: MacAddr = MacAddr([2, 0, 0, 0, 0x0c, 2]);

/// One flow count's figures.
#[derive(Debug, Clone, Copy, Serialize)]
pub struct TrafgenFigure {
    pub flows: u32,
    pub gen_mpps: f64,
    pub trafgen_mpps: f64,
}

impl TrafgenFigure {
    pub fn ratio(&self) -> f64 {
        self.gen_mpps / self.trafgen_mpps
    }
}

/// trafgen's packet: 60 bytes (64 with the FCS), UDP from 10.78.0.1 to
/// 10.78.0.2:9, source port counting over `flows` ports from 1024.
pub fn trafgen_conf(flows: u32) -> String {
    let sp = if flows <= 1 {
        "1024".to_string()
    } else {
        format!("dinc(1024, {})", 1024 + flows - 1)
    };
    format!(
        "{{\n  eth(da={TB_MAC}, sa={TA_MAC}),\n  ipv4(saddr=10.78.0.1, daddr=10.78.0.2, ttl=64),\n  \
         udp(sp={sp}, dp=9),\n  fill(0x00, 18)\n}}\n"
    )
}

/// The figure table (markdown).
pub fn markdown(figs: &[TrafgenFigure]) -> String {
    let mut md = String::from(
        "`gen --max` against trafgen (netsniff-ng, `--cpus 1`) on one veth pair, 64-byte UDP, \
         frames counted at the receiving end:\n\n\
         | flows | gen Mpps | trafgen Mpps | gen / trafgen |\n|---:|---:|---:|---:|\n",
    );
    for f in figs {
        let _ = writeln!(
            md,
            "| {} | {:.3} | {:.3} | {:.2}× |",
            f.flows,
            f.gen_mpps,
            f.trafgen_mpps,
            f.ratio()
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
    p.a.tx_offload_off("ta")?;
    Ok(p)
}

/// Frames counted at tb over `secs` seconds, starting 0.5 s after
/// `child` started; then `child` is stopped (SIGINT) and waited for.
fn window(p: &Pair, child: Child, secs: f64) -> Result<f64, String> {
    thread::sleep(Duration::from_millis(500));
    let read = || Lab::rx_packets(&p.b, "tb").map(|n| (n, Instant::now()));
    let a = read();
    thread::sleep(Duration::from_secs_f64(secs));
    let b = read();
    let _ = Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status();
    // Its exit status after SIGINT says nothing: the count is tb's.
    let _ = wait_output(child, Duration::from_secs(10));
    let ((n0, t0), (n1, t1)) = (a?, b?);
    Ok((n1 - n0) as f64 / (t1 - t0).as_secs_f64() / 1e6)
}

/// Both tools at 1 and 1 024 flows, `secs` seconds each.
pub fn run(work: &Path, secs: f64, stop: &AtomicBool) -> Result<Vec<TrafgenFigure>, String> {
    let p = pair()?;
    let mut out = Vec::new();
    for flows in [1u32, 1024] {
        if stop.load(Ordering::Relaxed) {
            return Err("interrupted".into());
        }
        let gen = spawn_in(
            &p.a,
            &[
                "gen",
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
                &TB_MAC.to_string(),
                "--first-core",
                "0",
            ]
            .map(String::from),
        )?;
        let gen_mpps = window(&p, gen, secs)?;
        let conf = work.join(format!("trafgen-{flows}.cfg"));
        std::fs::write(&conf, trafgen_conf(flows))
            .map_err(|e| format!("{}: {e}", conf.display()))?;
        let tg = Command::new("ip")
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
            .map_err(|e| format!("cannot start trafgen: {e}"))?;
        let trafgen_mpps = window(&p, tg, secs)?;
        let f = TrafgenFigure {
            flows,
            gen_mpps,
            trafgen_mpps,
        };
        eprintln!(
            "  {flows:>4} flow(s): gen {gen_mpps:.3} Mpps, trafgen {trafgen_mpps:.3} Mpps ({:.2}×)",
            f.ratio()
        );
        out.push(f);
    }
    drop(p);
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn conf_and_table() {
        let c = trafgen_conf(1024);
        assert!(c.contains("sp=dinc(1024, 2047)"), "{c}");
        assert!(c.contains("da=02:00:00:00:0c:02"), "{c}");
        assert!(trafgen_conf(1).contains("sp=1024,"));
        let md = markdown(&[TrafgenFigure {
            flows: 1024,
            gen_mpps: 3.0,
            trafgen_mpps: 1.5,
        }]);
        assert!(md.contains("| 1024 | 3.000 | 1.500 | 2.00× |"), "{md}");
    }
}
