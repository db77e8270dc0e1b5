//! The stateful mode of `sluice-bench gen` (`--tcp-conns`): real TCP
//! connections with smoltcp over AF_XDP, each sending a pattern and
//! verifying the echo, against (1) `sluice-bench sink --tcp-listen` on a
//! veth pair, (2) the kernel's own TCP stack (a std::net echo server in
//! the namespace), (3) through `sluice run` with MASQUERADE in the lab.
//! Needs root; prints
//! `SKIP: reason` and passes without it. No assertion on time or rate.

use std::io::{BufRead, BufReader, Read, Write as _};
use std::net::{TcpListener, TcpStream};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use serde_json::Value;
use sluice_bench::netns::Netns;

mod gen_common;
use gen_common::{read_json, skip, u, unable};

const BIN: &str = env!("CARGO_BIN_EXE_sluice-bench");

/// Two namespaces joined by a veth pair: `ta` 10.79.0.1/24 (gen), `tb`
/// 10.79.0.2/24 (sink or the kernel).
fn pair() -> (Netns, Netns) {
    let (a, b) = (Netns::new().unwrap(), Netns::new().unwrap());
    a.ip(&[
        "link",
        "add",
        "ta",
        "numtxqueues",
        "1",
        "numrxqueues",
        "1",
        "type",
        "veth",
        "peer",
        "name",
        "tb",
        "numtxqueues",
        "1",
        "numrxqueues",
        "1",
        "netns",
        b.name(),
    ])
    .unwrap();
    a.ip(&["addr", "add", "10.79.0.1/24", "dev", "ta"]).unwrap();
    b.ip(&["addr", "add", "10.79.0.2/24", "dev", "tb"]).unwrap();
    for (ns, dev) in [(&a, "ta"), (&b, "tb")] {
        ns.sysctl(&[(&format!("net.ipv6.conf.{dev}.disable_ipv6") as &str, "1")])
            .unwrap();
        ns.link_up(dev).unwrap();
    }
    (a, b)
}

/// Starts `sink --tcp-listen` in `ns` on `dev`; returns once it listens.
fn sink(ns: &Netns, dev: &str, secs: &str, json: &str) -> Child {
    let mut c = Command::new("ip")
        .args(["netns", "exec", ns.name(), BIN, "sink", "--dev", dev])
        .args(["--duration", secs, "--tcp-listen", "7", "--json", json])
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(c.stdout.take().unwrap()).lines();
    for l in lines.by_ref() {
        let l = l.unwrap();
        println!("{l}");
        if l.starts_with("sink: TCP echo") {
            break;
        }
    }
    std::thread::spawn(move || lines.for_each(|l| println!("{}", l.unwrap_or_default())));
    c
}

/// Runs gen's stateful mode in `ns` on `dev`; its JSON summary.
fn gen(ns: &Netns, dev: &str, args: &[&str], json: &str) -> Value {
    let out = Command::new("ip")
        .args(["netns", "exec", ns.name(), BIN, "gen", "--dev", dev])
        .args(args)
        .args(["--json", json])
        .output()
        .unwrap();
    println!("{}", String::from_utf8_lossy(&out.stdout));
    assert!(
        out.status.success(),
        "gen: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    read_json(json)
}

/// Every one of `n` connections completed with `bytes` verified.
fn all_complete(g: &Value, n: u64, bytes: u64) {
    assert_eq!(u(g, &["completed"]), n, "{g}");
    assert_eq!(u(g, &["failed_total"]), 0, "{g}");
    assert_eq!(u(g, &["bytes_verified"]), n * bytes, "{g}");
    assert_eq!(u(g, &["handshake_ns", "count"]), n, "{g}");
}

fn tmp(name: &str) -> String {
    format!("/tmp/sluice-gen-tcp-{}-{name}.json", std::process::id())
}

/// (1) gen → sink, both smoltcp over AF_XDP: 2 000 connections, every
/// one completes, both ends verified every byte.
#[test]
fn tcp_conns_to_the_smoltcp_sink_all_complete() {
    if let Some(why) = unable() {
        return skip("tcp_conns_to_the_smoltcp_sink_all_complete", &why);
    }
    let (a, b) = pair();
    let (gj, sj) = (tmp("g1"), tmp("s1"));
    let mut s = sink(&b, "tb", "40", &sj);
    let g = gen(
        &a,
        "ta",
        &[
            "--tcp-conns",
            "2000",
            "--conn-rate",
            "2000",
            "--bytes",
            "3000",
            "--dst",
            "10.79.0.2",
            "--dst-port",
            "7",
            "--duration",
            "60",
            "--concurrency",
            "256",
        ],
        &gj,
    );
    all_complete(&g, 2000, 3000);
    // The sink's last connections close when gen's last ACKs arrive.
    std::thread::sleep(Duration::from_secs(1));
    let _ = Command::new("kill")
        .args(["-INT", &s.id().to_string()])
        .status();
    s.wait().unwrap();
    let sv = read_json(&sj);
    assert_eq!(u(&sv, &["completed"]), 2000, "{sv}");
    assert_eq!(u(&sv, &["verify_mismatch"]), 0, "{sv}");
    assert_eq!(u(&sv, &["bytes_verified"]), 2000 * 3000, "{sv}");
    let _ = std::fs::remove_file(gj);
    let _ = std::fs::remove_file(sj);
}

/// An echo server on the kernel's TCP stack in `ns` (a thread that
/// entered the namespace), port 7, one thread per connection.
fn kernel_echo(ns: &Netns) {
    let path = ns.path();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let f = std::fs::File::open(&path).unwrap();
        nix::sched::setns(
            std::os::fd::AsFd::as_fd(&f),
            nix::sched::CloneFlags::CLONE_NEWNET,
        )
        .unwrap();
        let l = TcpListener::bind("0.0.0.0:7").unwrap();
        tx.send(()).unwrap();
        for c in l.incoming() {
            let Ok(mut c) = c else { return };
            std::thread::spawn(move || {
                let mut w = c.try_clone().unwrap();
                let _ = c.set_read_timeout(Some(Duration::from_secs(30)));
                let mut buf = [0u8; 4096];
                while let Ok(n) = c.read(&mut buf) {
                    if n == 0 || w.write_all(&buf[..n]).is_err() {
                        break;
                    }
                }
                let _ = w.shutdown(std::net::Shutdown::Write);
                drop::<TcpStream>(c);
            });
        }
    });
    rx.recv_timeout(Duration::from_secs(5)).unwrap();
}

/// (2) gen → the kernel's TCP stack: the TCP gen speaks is real TCP; a
/// closed port counts `reset`, a silent address `timeout`.
#[test]
fn tcp_conns_to_the_kernel_stack_all_complete() {
    if let Some(why) = unable() {
        return skip("tcp_conns_to_the_kernel_stack_all_complete", &why);
    }
    let (a, b) = pair();
    // The kernel's frames reach gen with complete checksums.
    b.tx_offload_off("tb").unwrap();
    kernel_echo(&b);
    let gj = tmp("g2");
    let g = gen(
        &a,
        "ta",
        &[
            "--tcp-conns",
            "500",
            "--conn-rate",
            "1000",
            "--bytes",
            "5000",
            "--dst",
            "10.79.0.2",
            "--dst-port",
            "7",
            "--duration",
            "30",
        ],
        &gj,
    );
    all_complete(&g, 500, 5000);
    // A closed port: the kernel refuses every SYN with a RST; gen counts
    // them as `reset` and exits 1.
    let (err, g) = gen_fails(
        &a,
        &["--tcp-conns", "20", "--dst", "10.79.0.2", "--dst-port", "9"],
        &gj,
    );
    assert!(
        err.contains("20 of 20 connections did not complete"),
        "{err}"
    );
    assert_eq!(u(&g, &["failed", "reset"]), 20, "{g}");
    assert_eq!(u(&g, &["completed"]) + u(&g, &["established"]), 0, "{g}");
    // Nobody answers ARP for 10.79.0.99: every connection times out.
    let (_, g) = gen_fails(
        &a,
        &[
            "--tcp-conns",
            "5",
            "--dst",
            "10.79.0.99",
            "--conn-timeout",
            "0.5",
        ],
        &gj,
    );
    assert_eq!(u(&g, &["failed", "timeout"]), 5, "{g}");
    let _ = std::fs::remove_file(gj);
}

/// Runs gen on `ta` in `ns` with `args` (100 bytes, 1 000/s), expecting
/// exit 1; its stderr and JSON summary.
fn gen_fails(ns: &Netns, args: &[&str], json: &str) -> (String, Value) {
    let out = Command::new("ip")
        .args(["netns", "exec", ns.name(), BIN, "gen", "--dev", "ta"])
        .args(args)
        .args([
            "--conn-rate",
            "1000",
            "--bytes",
            "100",
            "--duration",
            "30",
            "--json",
            json,
        ])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1), "{out:?}");
    (
        String::from_utf8_lossy(&out.stderr).into_owned(),
        read_json(json),
    )
}

/// The number after `name ` in sluice's SIGUSR1 counters.
fn counter(text: &str, name: &str) -> u64 {
    text.lines()
        .find_map(|l| l.trim().strip_prefix(name)?.trim().parse().ok())
        .unwrap_or(0)
}

const MASQ_RULES: &str = "\
*nat
:PREROUTING ACCEPT [0:0]
:INPUT ACCEPT [0:0]
:OUTPUT ACCEPT [0:0]
:POSTROUTING ACCEPT [0:0]
-A POSTROUTING -o r1 -j MASQUERADE
COMMIT
*filter
:INPUT ACCEPT [0:0]
:FORWARD DROP [0:0]
:OUTPUT ACCEPT [0:0]
-A FORWARD -m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT
-A FORWARD -i r0 -o r1 -j ACCEPT
COMMIT
";

/// (3) Through `sluice run` as the lab's router with MASQUERADE on r1:
/// gen on l0 (10.0.1.2, lan) → sink on w0 (10.0.2.2, wan), 10 000
/// connections, every one completes with its bytes verified at both ends,
/// and sluice's conntrack and NAT counters saw them. Needs `sluice` built
/// next to `sluice-bench` (`scripts/test` builds the workspace; alone:
/// `cargo build -p sluice-control` first, else SKIP). About 20 s in a
/// debug build on a loaded 2-core machine. `GEN_TCP_LAB_CONNS=N` and
/// `GEN_TCP_LAB_RATE=R` change the count and `--conn-rate` for a run by hand.
#[test]
fn ten_thousand_tcp_conns_through_sluice_masquerade() {
    let test = "ten_thousand_tcp_conns_through_sluice_masquerade";
    if let Some(why) = unable() {
        return skip(test, &why);
    }
    let sluice = std::path::Path::new(BIN).with_file_name("sluice");
    if !sluice.exists() {
        return skip(test, &format!("{} not built", sluice.display()));
    }
    if Command::new("ethtool").arg("--version").output().is_err() {
        return skip(test, "no ethtool (the lab sets one queue per veth)");
    }
    let conns: u64 = std::env::var("GEN_TCP_LAB_CONNS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(10_000);
    let rate = std::env::var("GEN_TCP_LAB_RATE").unwrap_or_else(|_| "2000".into());
    let lab = sluice_bench::lab::Lab::new().unwrap();
    let dir = std::env::temp_dir().join(format!("sluice-gen-tcp-lab-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let rules = dir.join("masq.v4");
    std::fs::write(&rules, MASQ_RULES).unwrap();
    let config = dir.join("sluice.toml");
    // `sluice_toml` gives it a control socket of its own in `dir`.
    std::fs::write(&config, sluice_bench::lab::sluice_toml(&rules, None, false)).unwrap();
    let daemon = lab
        .start_sluice(&sluice, &config, &dir.join("sluice.log"))
        .unwrap();
    let (gj, sj) = (tmp("g3"), tmp("s3"));
    let mut s = sink(&lab.wan, "w0", "600", &sj);
    let n = conns.to_string();
    let g = gen(
        &lab.lan,
        "l0",
        &[
            "--tcp-conns",
            &n,
            "--conn-rate",
            &rate,
            "--bytes",
            "1000",
            "--dst",
            "10.0.2.2",
            "--dst-port",
            "7",
            "--duration",
            "500",
            "--concurrency",
            "256",
        ],
        &gj,
    );
    all_complete(&g, conns, 1000);
    std::thread::sleep(Duration::from_secs(1));
    let _ = Command::new("kill")
        .args(["-INT", &s.id().to_string()])
        .status();
    s.wait().unwrap();
    let sv = read_json(&sj);
    assert_eq!(u(&sv, &["completed"]), conns, "{sv}");
    assert_eq!(u(&sv, &["verify_mismatch"]), 0, "{sv}");
    let c = daemon.counters();
    println!("{c}");
    assert!(counter(&c, "conntrack.new") >= conns, "{c}");
    assert!(counter(&c, "nat.binding") >= conns, "{c}");
    let masq = c
        .lines()
        .find(|l| l.ends_with("-A POSTROUTING -o r1 -j MASQUERADE"))
        .unwrap_or_else(|| panic!("no MASQUERADE rule counter in {c}"));
    let pk: u64 = masq
        .trim_start_matches('[')
        .split(':')
        .next()
        .and_then(|p| p.parse().ok())
        .unwrap_or(0);
    assert!(pk >= conns, "{masq}");
    drop(daemon);
    let _ = std::fs::remove_dir_all(&dir);
    let _ = std::fs::remove_file(gj);
    let _ = std::fs::remove_file(sj);
}
