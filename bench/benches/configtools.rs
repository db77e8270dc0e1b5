//! The config tools at scale: wall time of `sluice check` and `sluice
//! rules canon` on generated restore files beside the kernel's
//! `iptables-legacy-restore --test` and a real `iptables-legacy-restore`
//! of the same file, in a network namespace this bench creates (and
//! deletes when it ends).
//!
//! `cargo build --release -p sluice-control && cargo bench -p sluice-bench
//! --bench configtools` (root for the kernel side; without it, or without
//! `iptables-legacy-restore`, the kernel columns are `-`). The sluice
//! binary is `$SLUICE_BIN` or `target/release/sluice`. Each figure is the
//! median wall time of `RUNS` runs of the whole command (process start
//! included; the kernel's also includes `ip netns exec`).
//!
//! Files (written under `/tmp/sluice-configtools-<pid>/`, removed at the
//! end):
//!
//! * `flat-N`: filter INPUT with one conntrack rule and N rules
//!   `-s 172.x.y.z/32 -p tcp -m tcp --dport P -j ACCEPT`;
//! * `kube-N`: nat with the kube-proxy shape: per service a rule in
//!   KUBE-SERVICES, a KUBE-SVC chain (masquerade mark, a `statistic`
//!   split) and two KUBE-SEP chains with a DNAT each; N services give 3N
//!   chains and 6N rules (13 333: 40k chains, 80k rules);
//! * `deep-N`: a chain of jumps INPUT → C0 → C1 → … → C(N-1).
//!
//! The done criterion: `check` of the 40k-chain / 80k-rule
//! kube-proxy shape takes no longer than the kernel's restore of it.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use sluice_bench::netns::Netns;

const RUNS: usize = 3;

fn flat(n: usize) -> String {
    let mut o = String::from(
        "*filter\n:INPUT DROP [0:0]\n:FORWARD DROP [0:0]\n:OUTPUT ACCEPT [0:0]\n\
         -A INPUT -m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT\n",
    );
    for i in 0..n {
        let _ = writeln!(
            o,
            "-A INPUT -s 172.{}.{}.{}/32 -p tcp -m tcp --dport {} -j ACCEPT",
            16 + i / 65536,
            (i / 256) % 256,
            i % 256,
            1000 + i % 5000
        );
    }
    o + "COMMIT\n"
}

fn kube(n: usize) -> String {
    let mut o = String::from(
        "*nat\n:PREROUTING ACCEPT [0:0]\n:INPUT ACCEPT [0:0]\n:OUTPUT ACCEPT [0:0]\n\
         :POSTROUTING ACCEPT [0:0]\n:KUBE-SERVICES - [0:0]\n:KUBE-MARK-MASQ - [0:0]\n\
         :KUBE-POSTROUTING - [0:0]\n",
    );
    for i in 0..n {
        let _ = writeln!(o, ":KUBE-SVC-{i:016X} - [0:0]");
        let _ = writeln!(o, ":KUBE-SEP-{i:016X}A - [0:0]");
        let _ = writeln!(o, ":KUBE-SEP-{i:016X}B - [0:0]");
    }
    o += "-A PREROUTING -m comment --comment \"kubernetes service portals\" -j KUBE-SERVICES\n\
          -A OUTPUT -m comment --comment \"kubernetes service portals\" -j KUBE-SERVICES\n\
          -A POSTROUTING -m comment --comment \"kubernetes postrouting rules\" -j KUBE-POSTROUTING\n\
          -A KUBE-MARK-MASQ -j MARK --set-xmark 0x4000/0x4000\n\
          -A KUBE-POSTROUTING -m mark ! --mark 0x4000/0x4000 -j RETURN\n\
          -A KUBE-POSTROUTING -j MASQUERADE\n";
    for i in 0..n {
        let ip = format!("10.{}.{}.{}", 96 + i / 65536, (i / 256) % 256, i % 256);
        let pod = format!(
            "10.{}.{}.{}",
            128 + i / 32768,
            (i / 128) % 256,
            (i % 128) * 2
        );
        let _ = writeln!(
            o,
            "-A KUBE-SERVICES -d {ip}/32 -p tcp -m comment --comment \"ns/svc{i}:http cluster IP\" -m tcp --dport 80 -j KUBE-SVC-{i:016X}"
        );
        let _ = writeln!(
            o,
            "-A KUBE-SVC-{i:016X} ! -s 10.244.0.0/16 -d {ip}/32 -p tcp -m tcp --dport 80 -j KUBE-MARK-MASQ"
        );
        let _ = writeln!(
            o,
            "-A KUBE-SVC-{i:016X} -m statistic --mode random --probability 0.50000000000 -j KUBE-SEP-{i:016X}A"
        );
        let _ = writeln!(o, "-A KUBE-SVC-{i:016X} -j KUBE-SEP-{i:016X}B");
        let _ = writeln!(
            o,
            "-A KUBE-SEP-{i:016X}A -p tcp -m tcp -j DNAT --to-destination {pod}:8080"
        );
        let _ = writeln!(
            o,
            "-A KUBE-SEP-{i:016X}B -p tcp -m tcp -j DNAT --to-destination 10.200.{}.{}:8080",
            (i / 256) % 256,
            i % 256
        );
    }
    o + "COMMIT\n"
}

fn deep(n: usize) -> String {
    let mut o =
        String::from("*filter\n:INPUT ACCEPT [0:0]\n:FORWARD ACCEPT [0:0]\n:OUTPUT ACCEPT [0:0]\n");
    for i in 0..n {
        let _ = writeln!(o, ":C{i} - [0:0]");
    }
    o += "-A INPUT -j C0\n";
    for i in 0..n.saturating_sub(1) {
        let _ = writeln!(o, "-A C{i} -j C{}", i + 1);
    }
    o + "COMMIT\n"
}

/// Median wall time of `RUNS` runs of `cmd`, or why it failed.
fn time(mut cmd: impl FnMut() -> Command) -> Result<Duration, String> {
    let mut t = Vec::new();
    for _ in 0..RUNS {
        let mut c = cmd();
        c.stdout(Stdio::null()).stderr(Stdio::piped());
        let start = Instant::now();
        let out = c.output().map_err(|e| format!("{c:?}: {e}"))?;
        t.push(start.elapsed());
        if !out.status.success() {
            let err = String::from_utf8_lossy(&out.stderr);
            return Err(format!("{c:?}: {}", err.lines().next().unwrap_or("")));
        }
    }
    t.sort();
    Ok(t[RUNS / 2])
}

fn secs(r: &Result<Duration, String>) -> String {
    match r {
        Ok(d) => format!("{:.3}", d.as_secs_f64()),
        Err(_) => "-".into(),
    }
}

fn main() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let bin = std::env::var_os("SLUICE_BIN")
        .map(PathBuf::from)
        .unwrap_or_else(|| root.join("target/release/sluice"));
    if !bin.exists() {
        eprintln!(
            "{} not found: build it with `cargo build --release -p sluice-control` (or set SLUICE_BIN)",
            bin.display()
        );
        std::process::exit(1);
    }
    let dir = std::env::temp_dir().join(format!("sluice-configtools-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let kernel = Command::new("iptables-legacy-restore")
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success());
    let ns = if kernel {
        Netns::new()
            .map_err(|e| eprintln!("no namespace, no kernel side: {e}"))
            .ok()
    } else {
        eprintln!("no iptables-legacy-restore: no kernel side");
        None
    };
    let cases: Vec<(String, String, &str)> = vec![
        ("flat-10000".into(), flat(10_000), "10k rules, 1 chain"),
        ("kube-13333".into(), kube(13_333), "40k chains, 80k rules"),
        ("flat-50000".into(), flat(50_000), "50k rules, 1 chain"),
        ("flat-200000".into(), flat(200_000), "200k rules, 1 chain"),
        ("kube-33333".into(), kube(33_333), "100k chains, 200k rules"),
        ("deep-25000".into(), deep(25_000), "jumps 25 000 deep"),
    ];
    println!(
        "{:<12} {:<24} {:>9} {:>9} {:>12} {:>15}",
        "file", "shape", "check s", "canon s", "kernel -t s", "kernel load s"
    );
    let mut criterion = None;
    for (name, text, shape) in &cases {
        let rules = dir.join(format!("{name}.v4"));
        let toml = dir.join(format!("{name}.toml"));
        std::fs::write(&rules, text).expect("write rules");
        std::fs::write(
            &toml,
            format!(
                "[[interface]]\nname = \"eth0\"\naddress = [\"192.0.2.1/24\"]\n\n[firewall]\nrules = \"{name}.v4\"\n"
            ),
        )
        .expect("write toml");
        let check = time(|| {
            let mut c = Command::new(&bin);
            c.arg("check").arg("--config").arg(&toml);
            c
        });
        let canon = time(|| {
            let mut c = Command::new(&bin);
            c.args(["rules", "canon"]).arg(&rules);
            c
        });
        let on_kernel = |test: bool| {
            let Some(ns) = &ns else {
                return Err("no kernel side".to_string());
            };
            time(|| {
                let mut c = Command::new("ip");
                c.args(["netns", "exec", ns.name(), "iptables-legacy-restore"]);
                if test {
                    c.arg("--test");
                }
                c.arg(&rules);
                c
            })
        };
        let ktest = on_kernel(true);
        let kload = on_kernel(false);
        println!(
            "{name:<12} {shape:<24} {:>9} {:>9} {:>12} {:>15}",
            secs(&check),
            secs(&canon),
            secs(&ktest),
            secs(&kload)
        );
        for r in [&check, &canon, &ktest, &kload] {
            if let Err(e) = r {
                if ns.is_some() || !e.contains("no kernel side") {
                    eprintln!("  {e}");
                }
            }
        }
        if name == "kube-13333" {
            if let (Ok(c), Ok(k)) = (&check, &kload) {
                criterion = Some((*c, *k));
            }
        }
    }
    drop(ns);
    let _ = std::fs::remove_dir_all(&dir);
    if let Some((c, k)) = criterion {
        println!(
            "criterion: check of the 40k-chain / 80k-rule kube shape {:.3} s vs kernel restore {:.3} s: {}",
            c.as_secs_f64(),
            k.as_secs_f64(),
            if c <= k { "met" } else { "NOT met" }
        );
    }
}
