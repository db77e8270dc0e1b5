//! End to end in the lab (see lab.rs): `sluice conntrack` listings and
//! deletions agree with `conntrack -L`/`-D` of a kernel gateway for the same
//! traffic.
//!
//! Needs root and network namespaces; otherwise each test prints `SKIP:`
//! and passes.

mod common;

use std::io::Write;
use std::net::{TcpStream, UdpSocket};
use std::process::Command;
use std::time::Duration;

use common::*;

/// What [`ct_traffic`] keeps open until the listing is read: the
/// established connection and the one-way flow's silent receiver; and
/// the hosts' TCP retransmissions and resets meanwhile.
struct HeldFlows {
    _established: TcpStream,
    _sink: UdpSocket,
    hosts: String,
    /// No host retransmitted or reset a TCP segment.
    clean: bool,
}

/// The hosts' TCP segments retransmitted and resets sent
/// (`nstat -az`, since the namespace was made): when either is not zero,
/// the hosts did not send the same packets in both runs.
fn host_tcp_events(lab: &Lab) -> (String, bool) {
    let mut clean = true;
    let text = [("lan", &lab.lan), ("wan", &lab.wan), ("wan2", &lab.wan2)]
        .iter()
        .map(|(name, ns)| {
            let out = ns
                .run(&["nstat", "-az", "--json", "TcpRetransSegs", "TcpOutRsts"])
                .unwrap_or_default();
            let v: serde_json::Value = serde_json::from_str(&out).unwrap_or_default();
            let k = &v["kernel"];
            let (r, t) = (&k["TcpRetransSegs"], &k["TcpOutRsts"]);
            clean &= r.as_u64() == Some(0) && t.as_u64() == Some(0);
            format!("{name}: retrans {r} rst {t}")
        })
        .collect::<Vec<_>>()
        .join(", ");
    (text, clean)
}

/// The differential test's traffic, from lan through the gateway: two TCP
/// transfers that complete (client closes first: TIME_WAIT), one to the
/// rsync port (marked 0x1 by the gateway's mangle rules, out of r2), one
/// connection left ESTABLISHED, a UDP question answered (both
/// directions), a UDP datagram nobody answers (one way), and ICMP echo.
fn ct_traffic(lab: &Lab) -> HeldFlows {
    tcp_server(&lab.wan, "198.51.100.10:5001", "wan");
    tcp_server(&lab.wan2, "198.51.100.10:873", "wan2");
    udp_server(&lab.wan, "198.51.100.10:5300", "wan");
    let sink = in_ns(&lab.wan, || UdpSocket::bind("198.51.100.10:5400"))
        .join()
        .unwrap()
        .expect("bind the one-way sink");
    for (dst, seed) in [
        ("198.51.100.10:5001", 1),
        ("198.51.100.10:5001", 2),
        ("198.51.100.10:873", 3),
    ] {
        in_ns(&lab.lan, move || tcp_send(None, dst, seed, 4096))
            .join()
            .unwrap()
            .unwrap_or_else(|e| panic!("{dst}: {e}"));
    }
    let established = in_ns(&lab.lan, || {
        let mut c = socket2_like_connect(None, "198.51.100.10:5001".parse().unwrap())?;
        c.write_all(b"held open").map_err(|e| e.to_string())?;
        Ok::<_, String>(c)
    })
    .join()
    .unwrap()
    .expect("the held connection");
    in_ns(&lab.lan, || {
        udp_ask(CLIENT, "198.51.100.10:5300", "both ways")
    })
    .join()
    .unwrap()
    .expect("a UDP answer");
    in_ns(&lab.lan, || {
        let s = UdpSocket::bind((CLIENT, 0)).unwrap();
        s.send_to(b"one way", "198.51.100.10:5400").unwrap();
    })
    .join()
    .unwrap();
    ping(&lab.lan, "198.51.100.10").expect("ping through the gateway");
    // The last ACKs of the closes, the held connection's data ACKed.
    std::thread::sleep(Duration::from_millis(300));
    let (hosts, clean) = host_tcp_events(lab);
    HeldFlows {
        _established: established,
        _sink: sink,
        hosts,
        clean,
    }
}

/// A `conntrack -L` line made comparable across runs: (the line with the
/// timeout taken out and each ephemeral port or ICMP id, which the hosts
/// pick, replaced by a label numbered in order of appearance within the
/// line; the timeout).
fn ct_canonical(line: &str) -> (String, u64) {
    let fixed = ["5001", "873", "5300", "5400"];
    let mut f: Vec<String> = line.split_whitespace().map(str::to_string).collect();
    assert!(f.len() > 3, "not a conntrack line: {line:?}");
    let timeout: u64 = f[2]
        .parse()
        .unwrap_or_else(|_| panic!("timeout in {line:?}"));
    f[2] = "T".into();
    let mut seen: Vec<String> = Vec::new();
    for t in &mut f {
        let Some((k, v)) = t.split_once('=') else {
            continue;
        };
        if matches!(k, "sport" | "dport" | "id") && !fixed.contains(&v) {
            let i = seen.iter().position(|s| s == v).unwrap_or_else(|| {
                seen.push(v.to_string());
                seen.len() - 1
            });
            *t = format!("{k}=P{i}");
        }
    }
    (f.join(" "), timeout)
}

/// Sorted canonical lines of a listing.
fn ct_listing(out: &str) -> Vec<(String, u64)> {
    let mut v: Vec<(String, u64)> = out
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(ct_canonical)
        .collect();
    v.sort();
    v
}

/// The conntrack commands the differential test runs on both gateways,
/// in order: `conntrack ARGS` there, `sluice conntrack OP ARGS` here.
const CT_COMMANDS: &[(&str, &[&str])] = &[
    ("list", &[]),
    ("list", &["-p", "tcp", "--state", "TIME_WAIT"]),
    ("list", &["-p", "tcp", "--state", "ESTABLISHED"]),
    ("list", &["-p", "udp", "--dport", "5300"]),
    ("list", &["-p", "tcp", "--sport", "5001"]),
    ("list", &["--mark", "1"]),
    ("list", &["-s", "10.0.1.2", "-p", "icmp"]),
    (
        "list",
        &["-d", "198.51.100.10", "-p", "tcp", "--dport", "873"],
    ),
    ("delete", &["-p", "udp", "--dport", "5400"]),
    (
        "delete",
        &["-p", "tcp", "--state", "TIME_WAIT", "--mark", "1"],
    ),
    ("list", &[]),
];

/// Runs [`CT_COMMANDS`] on the kernel gateway (`conntrack -L|-D -f ipv4
/// ARGS` in rtr): (stdout, stderr) of each.
fn ct_kernel(lab: &Lab) -> Vec<(String, String)> {
    CT_COMMANDS
        .iter()
        .map(|(op, args)| {
            let mut argv = vec![
                "conntrack",
                if *op == "list" { "-L" } else { "-D" },
                "-f",
                "ipv4",
            ];
            argv.extend_from_slice(args);
            let out = lab
                .rtr
                .exec(&argv)
                .expect("conntrack in the kernel gateway");
            (
                String::from_utf8_lossy(&out.stdout).into_owned(),
                String::from_utf8_lossy(&out.stderr).into_owned(),
            )
        })
        .collect()
}

/// Runs [`CT_COMMANDS`] through `sluice conntrack OP -f ipv4 ARGS`.
fn ct_sluice(lab: &Lab) -> Vec<(String, String)> {
    let cfg = lab.config().to_str().unwrap().to_string();
    CT_COMMANDS
        .iter()
        .map(|(op, args)| {
            let mut argv = vec!["conntrack", op, "-f", "ipv4"];
            argv.extend_from_slice(args);
            argv.extend(["--config", &cfg]);
            let (code, out, err) = ctl(&argv);
            assert_eq!(code, Some(0), "{argv:?}: {err}");
            (out, err)
        })
        .collect()
}

/// `sluice conntrack list|delete` against `conntrack -L|-D` (issue 11):
/// the same traffic through the kernel as the gateway (the lab's ruleset
/// loaded by iptables-legacy) and through `sluice run`, then the same
/// commands with conntrack's filters on both: the same flows, line for
/// line (protocol, state, both tuples, [UNREPLIED]/[ASSURED], mark, use;
/// timeouts within 5 s, the two runs being seconds apart), the same
/// stderr line.
#[test]
fn conntrack_list_is_conntrack_l_for_the_same_traffic() {
    if skip() {
        return;
    }
    if Command::new("conntrack").arg("--version").output().is_err()
        || Command::new("ipset").arg("--version").output().is_err()
    {
        eprintln!("SKIP: conntrack or ipset is not installed");
        return;
    }
    // Both runs must carry the same packets: when a host retransmitted
    // or reset a TCP segment in either (a userspace gateway on a busy
    // machine can hold a segment past the 200 ms RTO; the kernel's
    // forwarding cannot be starved so), the final TCP states legitimately
    // differ (a duplicate FIN reaching a closed socket is answered with
    // RST: CLOSE instead of TIME_WAIT), so both are run again.
    let mut attempt = 0;
    let (kernel, sluice) = loop {
        attempt += 1;
        let (kernel, kclean) = {
            let lab = Lab::kernel();
            let held = ct_traffic(&lab);
            eprintln!("kernel run {attempt}: {}", held.hosts);
            (ct_kernel(&lab), held.clean)
        };
        let lab = Lab::up(1);
        let held = ct_traffic(&lab);
        eprintln!("sluice run {attempt}: {}", held.hosts);
        let sluice = ct_sluice(&lab);
        if (kclean && held.clean) || attempt == 3 {
            break (kernel, sluice);
        }
    };
    for (cmd, (out, err)) in [
        ("conntrack -L -f ipv4   (kernel gateway)", &kernel[0]),
        ("sluice conntrack list -f ipv4", &sluice[0]),
        (
            "conntrack -D -f ipv4 -p udp --dport 5400   (kernel gateway)",
            &kernel[8],
        ),
        (
            "sluice conntrack delete -f ipv4 -p udp --dport 5400",
            &sluice[8],
        ),
    ] {
        eprintln!("$ {cmd}\n{out}{err}");
    }
    for (((op, args), (ko, ke)), (so, se)) in CT_COMMANDS.iter().zip(&kernel).zip(&sluice) {
        let (k, s) = (ct_listing(ko), ct_listing(so));
        let lines = |v: &[(String, u64)]| v.iter().map(|(l, _)| l.clone()).collect::<Vec<_>>();
        assert_eq!(
            lines(&s),
            lines(&k),
            "{op} {args:?}: sluice (left) and the kernel (right), canonical"
        );
        for ((line, ts), (_, tk)) in s.iter().zip(&k) {
            assert!(
                ts.abs_diff(*tk) <= 5,
                "{op} {args:?}: timeout {ts} (sluice) vs {tk} (kernel): {line}"
            );
        }
        assert_eq!(se.trim_end(), ke.trim_end(), "{op} {args:?}: stderr");
    }
    let all = ct_listing(&kernel[0].0);
    assert_eq!(
        all.len(),
        7,
        "every flow of the traffic is listed:\n{}",
        kernel[0].0
    );
    assert_eq!(
        ct_listing(&kernel[CT_COMMANDS.len() - 1].0).len(),
        5,
        "two deleted"
    );
}
