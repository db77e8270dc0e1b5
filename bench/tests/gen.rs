//! `sluice-bench gen` → `sluice-bench sink` over a veth pair between two
//! namespaces this test creates (one queue each, so the order of one flow
//! is the order on the wire). Needs root; prints `SKIP: reason` and passes
//! without it. No assertion on time or rate: the ledger of frames is what
//! is checked.

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};

use sluice_bench::netns::Netns;

mod gen_common;
use gen_common::{read_json, skip, u, unable};

const BIN: &str = env!("CARGO_BIN_EXE_sluice-bench");
const GEN_MAC: &str = "02:00:00:00:0a:01";
const SINK_MAC: &str = "02:00:00:00:0b:01";

/// Two namespaces joined by a one-queue veth pair: `ga` (gen, 10.77.0.1,
/// fd77::1) and `gb` (sink).
struct Pair {
    a: Netns,
    b: Netns,
}

impl Pair {
    /// Without `ipv6`, IPv6 is off on `ga`: no ND or MLD frames, so the
    /// sink's only foreign frames are the ones the test sends.
    fn new(ipv6: bool, queues: &str) -> Pair {
        let (a, b) = (Netns::new().unwrap(), Netns::new().unwrap());
        a.ip(&[
            "link",
            "add",
            "ga",
            "address",
            GEN_MAC,
            "numtxqueues",
            queues,
            "numrxqueues",
            queues,
            "type",
            "veth",
            "peer",
            "name",
            "gb",
            "address",
            SINK_MAC,
            "numtxqueues",
            queues,
            "numrxqueues",
            queues,
            "netns",
            b.name(),
        ])
        .unwrap();
        a.ip(&["addr", "add", "10.77.0.1/24", "dev", "ga"]).unwrap();
        if ipv6 {
            a.ip(&["-6", "addr", "add", "fd77::1/64", "dev", "ga", "nodad"])
                .unwrap();
        } else {
            a.sysctl(&[("net.ipv6.conf.ga.disable_ipv6", "1")]).unwrap();
        }
        a.ip(&["link", "set", "ga", "up"]).unwrap();
        b.ip(&["link", "set", "gb", "up"]).unwrap();
        Pair { a, b }
    }

    /// Starts the sink and returns once its sockets are bound.
    fn sink(&self, secs: &str, queues: &str, json: &str) -> Child {
        let mut c = Command::new("ip")
            .args(["netns", "exec", self.b.name(), BIN, "sink", "--dev", "gb"])
            .args([
                "--duration",
                secs,
                "--queues",
                queues,
                "--first-core",
                "1",
                "--json",
                json,
            ])
            .stdout(Stdio::piped())
            .spawn()
            .unwrap();
        let out = c.stdout.take().unwrap();
        let mut lines = BufReader::new(out).lines();
        for l in lines.by_ref() {
            let l = l.unwrap();
            println!("{l}");
            if l.starts_with("sink: listening") {
                break;
            }
        }
        // Keep draining the rest so the sink never blocks on a full pipe.
        std::thread::spawn(move || lines.for_each(|l| println!("{}", l.unwrap_or_default())));
        c
    }

    fn gen(&self, args: &[&str]) -> std::process::Output {
        let out = Command::new("ip")
            .args(["netns", "exec", self.a.name(), BIN, "gen", "--dev", "ga"])
            .args(args)
            .output()
            .unwrap();
        println!("{}", String::from_utf8_lossy(&out.stdout));
        assert!(
            out.status.success(),
            "gen: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        out
    }
}

/// Every frame gen sent is accounted for at the sink (received, or dropped
/// by the kernel in front of the sink's socket); no duplicates, no
/// reordering on one queue; every flow seen; latency percentiles ordered;
/// a ping from the kernel counted foreign. `quiet`: IPv6 off on gen's
/// side, so its kernel sends no ND or MLD frame — needed where the sink
/// drops frames, since a dropped foreign frame cannot be told from gen's
/// in the kernel's drop counters.
fn ledger(
    test: &str,
    queues: &str,
    gen_args: &[&str],
    flows: u64,
    ping: Option<&str>,
    quiet: bool,
) {
    if let Some(why) = unable() {
        return skip(test, &why);
    }
    let pair = Pair::new(!quiet, queues);
    let dir = std::env::temp_dir();
    let (gj, sj) = (
        dir.join(format!("gen-{test}-{}.json", std::process::id())),
        dir.join(format!("sink-{test}-{}.json", std::process::id())),
    );
    let (gj, sj) = (gj.to_str().unwrap(), sj.to_str().unwrap());
    // 10.77.0.2 is in the neighbour table (the sink's kernel never
    // answers ARP: XDP takes every frame): a gen line without --dst-mac
    // finds the MAC there.
    pair.a
        .ip(&[
            "neigh",
            "replace",
            "10.77.0.2",
            "lladdr",
            SINK_MAC,
            "dev",
            "ga",
        ])
        .unwrap();
    let mut sink = pair.sink("5", queues, sj);
    let mut args = gen_args.to_vec();
    args.extend(["--queues", queues]);
    args.extend(["--json", gj]);
    pair.gen(&args);
    if let Some(dst) = ping {
        let _ = pair
            .a
            .exec(&["ping", "-c", "2", "-i", "0.2", "-W", "1", dst]);
    }
    assert!(sink.wait().unwrap().success());
    let (g, s) = (read_json(gj), read_json(sj));
    let _ = std::fs::remove_file(gj);
    let _ = std::fs::remove_file(sj);
    let sent = u(&g, &["sent"]);
    assert!(sent > 0, "{g}");
    assert_eq!(u(&g, &["tx_unconfirmed"]), 0, "{g}");
    // The live engine: frames veth refused to transmit (its peer's ring
    // full) are counted by veth, not by the sink.
    let refused = g["xdp_xmit_errors"].as_u64().unwrap_or(0);
    if g["engine"] == "live" {
        assert_eq!(u(&g, &["xdp_xmit"]) + refused, sent, "{g}");
    }
    let received = u(&s, &["gen", "received"]);
    let dropped = u(&s, &["kernel_rx_dropped"]) + u(&s, &["kernel_rx_ring_full"]) + refused;
    assert_eq!(received + dropped, sent, "ledger: sink {s}\ngen {g}");
    // Frames lost after a flow's last received one are invisible to the
    // sink's sequence numbers: with drops (flat out) lost is at most what
    // was dropped.
    let lost = u(&s, &["gen", "lost"]);
    if dropped == 0 {
        assert_eq!(lost + received, sent, "{s}");
    } else {
        assert!(lost <= dropped, "{s}\n{g}");
    }
    assert_eq!(u(&s, &["gen", "duplicates"]), 0, "{s}");
    assert_eq!(u(&s, &["gen", "reordered"]), 0, "{s}");
    assert_eq!(u(&s, &["gen", "over_capacity"]), 0, "{s}");
    assert_eq!(u(&s, &["gen", "flows"]), flows, "{s}");
    let lat = ["p50", "p99", "p999", "max"].map(|p| u(&s, &["latency_ns", p]));
    assert!(lat[0] > 0 && lat.windows(2).all(|w| w[0] <= w[1]), "{s}");
    assert_eq!(u(&s, &["latency_ns", "count"]), received);
    if ping.is_some() {
        // IPv6 is off on `ga` and its neighbour entry static: the two
        // echo requests are the only frames its kernel sends.
        assert_eq!(u(&s, &["foreign"]), 2, "the ping, counted foreign: {s}");
    } else if quiet {
        assert_eq!(u(&s, &["foreign"]), 0, "gen's side sent nothing else: {s}");
    }
}

#[test]
fn udp_ipv4_every_frame_accounted_and_ping_is_foreign() {
    let args = "--pps 5000 --flows 16 --size 64 --duration 2 --src 10.77.1.0/28 --dst 10.77.0.2";
    ledger(
        "udp_ipv4",
        "1",
        &with_mac(args),
        16,
        Some("10.77.0.2"),
        true,
    );
}

#[test]
fn tcp_syn_ipv6_and_icmp_imix() {
    let args = "--pps 2000 --flows 100 --size 128 --duration 1 --proto tcp-syn --dst fd77::2";
    ledger("tcp_syn_ipv6", "1", &with_mac(args), 100, None, false);
    let args = "--pps 2000 --flows 7 --imix --duration 1 --proto icmp --dst 10.77.0.2";
    ledger("icmp_imix", "1", &with_mac(args), 7, None, false);
}

/// Two gen workers (queues 0 and 1) to two sink workers: their flow
/// tables and histograms merged, each flow kept on one queue. No
/// --dst-mac: gen reads it from the neighbour table.
#[test]
fn two_queues_merge_across_workers() {
    let args = "--pps 4000 --flows 10 --size 100 --duration 1 --src 10.77.2.0/24 --dst 10.77.0.2";
    ledger(
        "two_queues",
        "2",
        &args.split(' ').collect::<Vec<_>>(),
        10,
        None,
        false,
    );
}

/// `--engine live` flat out (XDP live frames through veth's XDP transmit
/// into the sink's XDP program): the same ledger, with the frames veth
/// refused counted by its `xdp_xmit_errors`; gen's side quiet (the sink
/// drops frames).
#[test]
fn live_engine_flat_out_every_frame_accounted() {
    let args =
        "--engine live --max --flows 16 --size 64 --duration 1 --src 10.77.1.0/28 --dst 10.77.0.2";
    ledger("live_ipv4", "1", &with_mac(args), 16, None, true);
    let args = "--engine live --max --flows 40 --size 200 --duration 1 --proto tcp-syn \
                --src fd77::1/128 --dst fd77::2";
    ledger("live_ipv6", "1", &with_mac(args), 40, None, true);
}

/// `args` split at spaces, with `--dst-mac` of the sink's end.
fn with_mac(args: &str) -> Vec<&str> {
    let mut v = vec!["--dst-mac", SINK_MAC];
    v.extend(args.split(' '));
    v
}

/// No --dst-mac and no neighbour that answers: a one-line error naming
/// the interface, exit 1.
#[test]
fn unresolved_neighbour_names_the_interface() {
    if let Some(why) = unable() {
        return skip("unresolved_neighbour", &why);
    }
    let pair = Pair::new(false, "1");
    let o = Command::new("ip")
        .args([
            "netns",
            "exec",
            pair.a.name(),
            BIN,
            "gen",
            "--dev",
            "ga",
            "--pps",
            "10",
        ])
        .args([
            "--flows",
            "1",
            "--size",
            "64",
            "--duration",
            "1",
            "--dst",
            "10.77.0.99",
        ])
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(1), "{err}");
    assert_eq!(err.trim_end().lines().count(), 1, "{err}");
    assert!(
        err.contains("interface ga") && err.contains("10.77.0.99") && err.contains("--dst-mac"),
        "{err}"
    );
}

/// A usage error is one line and exit 2; an unknown interface exit 1,
/// naming it.
#[test]
fn bad_command_lines() {
    let run = |args: &[&str]| {
        let o = Command::new(BIN).args(args).output().unwrap();
        let err = String::from_utf8_lossy(&o.stderr).into_owned();
        (o.status.code(), err)
    };
    let base = ["--flows", "1", "--duration", "1"];
    for (extra, want) in [
        (&["gen", "--pps", "1", "--size", "64"][..], "--dev"),
        (
            &["gen", "--dev", "x", "--pps", "1", "--max", "--size", "64"][..],
            "exclude",
        ),
        (
            &["gen", "--dev", "x", "--pps", "1", "--size", "10"][..],
            "--size 10",
        ),
        (&["sink", "--dev", "x"][..], "--duration"),
    ] {
        let mut args = extra.to_vec();
        if extra[0] == "gen" {
            args.extend(base);
        }
        let (code, err) = run(&args);
        assert_eq!(code, Some(2), "{args:?}: {err}");
        assert_eq!(err.trim_end().lines().count(), 1, "{args:?}: {err}");
        assert!(err.contains(want), "{args:?}: {err}");
    }
    let (code, err) = run(&[
        "gen",
        "--dev",
        "nosuch-if0",
        "--pps",
        "1",
        "--size",
        "64",
        "--flows",
        "1",
        "--duration",
        "1",
    ]);
    assert_eq!(code, Some(1), "{err}");
    assert_eq!(err.trim_end().lines().count(), 1, "{err}");
    if nix::unistd::geteuid().is_root() {
        assert!(err.contains("nosuch-if0"), "{err}");
    }
}
