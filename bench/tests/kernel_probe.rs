//! The kernel side of the differential tests, on its own: Linux configured
//! from an appliance TOML and an iptables ruleset in a router namespace,
//! crafted frames sent through it, and what comes out checked against what
//! netfilter and iproute2 are documented to do. The sluice side plugs into
//! the same frame-in / frame-out shape later.
//!
//! Needs root, network namespaces and iptables-legacy; without them each
//! test prints `SKIP: <reason>` and passes. Every test builds its own
//! namespaces, so they run in parallel (threads or nextest processes).

use std::io::{BufRead as _, BufReader, Write as _};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use sluice_bench::frames::{
    describe, hex, mask_ipv4_ident, tcp_opt, unhex, Captured, IpFrame, Tcp,
};
use sluice_bench::kernel::{self, KernelRouter};
use sluice_bench::netns::{self, Netns, VethEnd};
use sluice_dataplane::wire::tcp;

/// Listening time after each probe. The kernel forwards a frame within the
/// `sendto` that injects it; this is margin for a loaded machine.
const WAIT: Duration = Duration::from_millis(100);

const TWO_PORTS: &str = r#"
[[interface]]
name = "r0"
address = ["10.0.1.1/24"]

[[interface]]
name = "r1"
address = ["10.0.2.1/24"]
"#;

const EMPTY_RULES: &str = "*filter\n:INPUT ACCEPT [0:0]\n:FORWARD ACCEPT [0:0]\n\
                           :OUTPUT ACCEPT [0:0]\nCOMMIT\n";

const H0: Ipv4Addr = Ipv4Addr::new(10, 0, 1, 2);
const H1: Ipv4Addr = Ipv4Addr::new(10, 0, 2, 2);
const H2: Ipv4Addr = Ipv4Addr::new(10, 0, 3, 2);
const PAYLOAD: &[u8] = b"probe";

/// Prints `SKIP: ...` past the harness's capture.
fn skip(test: &str, why: &str) {
    let _ = writeln!(std::io::stderr().lock(), "SKIP: {test}: {why}");
}

/// The router for `toml` and `rules`, with the hosts .2 of every connected
/// network as permanent neighbours; `None` after printing SKIP when the
/// kernel side cannot run here.
fn router(test: &str, toml: &str, rules: &str) -> Option<KernelRouter> {
    if let Some(why) = kernel::skip_reason() {
        skip(test, &why);
        return None;
    }
    let r = KernelRouter::new(toml, rules, None)
        .unwrap_or_else(|e| panic!("{test}: {e}"))
        .with_probe_binary(env!("CARGO_BIN_EXE_sluice-probe"));
    let ports: Vec<String> = r
        .appliance()
        .interfaces
        .iter()
        .map(|i| i.name.clone())
        .collect();
    for (port, host) in ports.iter().zip([H0, H1, H2]) {
        r.add_host(port, IpAddr::V4(host)).unwrap();
    }
    Some(r)
}

/// A UDP probe from the host behind r0 to `dst`, as it arrives at r0.
fn udp_from_h0(r: &KernelRouter, dst: Ipv4Addr, dport: u16) -> Vec<u8> {
    IpFrame::new(r.host_mac("r0"), r.router_mac("r0"), H0, dst).udp(40000, dport, PAYLOAD)
}

fn probe(r: &KernelRouter, frames: &[(&str, Vec<u8>)]) -> Vec<Captured> {
    let t = Instant::now();
    let out = r.probe(frames, WAIT).expect("probe runs");
    eprintln!(
        "probe of {} frame(s) took {:?}:\n{}",
        frames.len(),
        t.elapsed(),
        describe(&out)
    );
    out
}

#[test]
fn empty_ruleset_forwards_with_ttl_decremented() {
    let Some(r) = router("forward", TWO_PORTS, EMPTY_RULES) else {
        return;
    };
    let out = probe(&r, &[("r0", udp_from_h0(&r, H1, 9))]);
    // ip_forward(): TTL - 1 (checksum updated), the router's MAC on r1 as
    // source, the neighbour's as destination; nothing else changes.
    let expected = IpFrame::new(r.router_mac("r1"), r.host_mac("r1"), H0, H1)
        .ttl(63)
        .udp(40000, 9, PAYLOAD);
    assert_eq!(
        out,
        vec![Captured {
            probe: 0,
            port: "r1".into(),
            frame: expected
        }],
        "{}",
        describe(&out)
    );
}

#[test]
fn forward_drop_emits_nothing_and_counts() {
    let rules = "*filter\n:FORWARD ACCEPT [0:0]\n-A FORWARD -p udp --dport 9 -j DROP\nCOMMIT\n";
    let Some(r) = router("drop", TWO_PORTS, rules) else {
        return;
    };
    let out = probe(
        &r,
        &[
            ("r0", udp_from_h0(&r, H1, 9)),
            ("r0", udp_from_h0(&r, H1, 10)),
        ],
    );
    // Only the second probe (port 10) passes.
    assert_eq!(out.len(), 1, "{}", describe(&out));
    assert_eq!((out[0].probe, out[0].port.as_str()), (1, "r1"));
    assert_eq!(out[0].meta().dst_port, 10);
    // One packet of 33 bytes (20 IP + 8 UDP + 5) hit the rule.
    let counters = r.counters("filter").unwrap();
    assert!(
        counters.contains("[1:33] -A FORWARD -p udp -m udp --dport 9 -j DROP"),
        "{counters}"
    );
    assert!(counters.contains(":FORWARD ACCEPT [1:33]"), "{counters}");
    r.zero_counters().unwrap();
    let counters = r.counters("filter").unwrap();
    assert!(
        counters.contains("[0:0] -A FORWARD -p udp -m udp --dport 9 -j DROP"),
        "{counters}"
    );
}

#[test]
fn forward_reject_returns_port_unreachable_on_r0() {
    let rules = "*filter\n-A FORWARD -p udp --dport 9 -j REJECT\nCOMMIT\n";
    let Some(r) = router("reject", TWO_PORTS, rules) else {
        return;
    };
    let sent = udp_from_h0(&r, H1, 9);
    let mut out = probe(&r, &[("r0", sent.clone())]);
    assert_eq!(out.len(), 1, "{}", describe(&out));
    let m = out[0].meta();
    assert_eq!(out[0].port, "r0");
    assert_eq!(out[0].src_mac(), r.router_mac("r0"));
    assert_eq!(out[0].dst_mac(), r.host_mac("r0"));
    assert_eq!((m.icmp_type, m.icmp_code), (3, 3), "{}", out[0]);
    // From the address of the interface the error leaves by, to the source.
    assert_eq!(m.src, IpAddr::V4(Ipv4Addr::new(10, 0, 1, 1)));
    assert_eq!(m.dst, IpAddr::V4(H0));
    // icmp_send(): TOS precedence "internetwork control" (0xc0), TTL 64, no
    // DF; quotes the whole datagram as the FORWARD hook saw it: TTL already
    // decremented by ip_forward(). The identification is the kernel's
    // choice, so it is masked on both sides.
    let mut quoted = sent[14..].to_vec();
    quoted[8] = 63;
    let mut ip = sluice_dataplane::wire::ipv4::Packet::new_unchecked(&mut quoted[..]);
    ip.fill_checksum();
    let mut expected = IpFrame::new(
        r.router_mac("r0"),
        r.host_mac("r0"),
        Ipv4Addr::new(10, 0, 1, 1),
        H0,
    )
    .tos(0xc0)
    .icmp(3, 3, 0, &quoted);
    mask_ipv4_ident(&mut expected);
    mask_ipv4_ident(&mut out[0].frame);
    assert_eq!(out[0].frame, expected, "{}", describe(&out));
}

#[test]
fn masquerade_rewrites_the_source_to_r1() {
    let rules = "*nat\n-A POSTROUTING -o r1 -j MASQUERADE\nCOMMIT\n";
    let Some(r) = router("masquerade", TWO_PORTS, rules) else {
        return;
    };
    let out = probe(&r, &[("r0", udp_from_h0(&r, H1, 9))]);
    // The source becomes r1's address; the port is kept because it is free
    // (nf_nat_used_tuple); both checksums follow.
    let expected = IpFrame::new(
        r.router_mac("r1"),
        r.host_mac("r1"),
        Ipv4Addr::new(10, 0, 2, 1),
        H1,
    )
    .ttl(63)
    .udp(40000, 9, PAYLOAD);
    assert_eq!(out.len(), 1, "{}", describe(&out));
    assert_eq!(
        (out[0].port.as_str(), &out[0].frame),
        ("r1", &expected),
        "{}",
        out[0]
    );
    if let Ok(ct) = r.conntrack() {
        assert!(
            ct.contains("src=10.0.1.2 dst=10.0.2.2 sport=40000 dport=9")
                && ct.contains("src=10.0.2.2 dst=10.0.2.1 sport=9 dport=40000"),
            "{ct}"
        );
        r.flush_conntrack().unwrap();
        assert!(!r.conntrack().unwrap().contains("dport=9"));
    }
}

#[test]
fn fwmark_policy_routes_out_of_r2() {
    let toml = format!(
        "{TWO_PORTS}\n\
         [[interface]]\nname = \"r2\"\naddress = [\"10.0.3.1/24\"]\n\n\
         [[route]]\nto = \"10.0.2.0/24\"\nvia = \"10.0.3.2\"\ntable = 100\n\n\
         [[policy]]\npriority = 100\nfwmark = \"0x1\"\ntable = 100\n"
    );
    let rules = "*mangle\n-A PREROUTING -p udp --dport 9 -j MARK --set-mark 1\nCOMMIT\n";
    let Some(r) = router("policy", &toml, rules) else {
        return;
    };
    let out = probe(
        &r,
        &[
            ("r0", udp_from_h0(&r, H1, 9)),
            ("r0", udp_from_h0(&r, H1, 10)),
        ],
    );
    // The marked probe takes table 100 (via 10.0.3.2, the host behind r2);
    // the unmarked one the connected route out of r1.
    let expected = |port: &str, dport| Captured {
        probe: usize::from(dport == 10),
        port: port.into(),
        frame: IpFrame::new(r.router_mac(port), r.host_mac(port), H0, H1)
            .ttl(63)
            .udp(40000, dport, PAYLOAD),
    };
    assert_eq!(
        out,
        vec![expected("r2", 9), expected("r1", 10)],
        "{}",
        describe(&out)
    );
}

#[test]
fn namespaces_are_deleted_on_drop_and_on_panic() {
    if let Some(why) = kernel::skip_reason() {
        skip("cleanup", &why);
        return;
    }
    let names = |r: &KernelRouter| {
        let mut n = vec![r.router_ns().name().to_string()];
        for p in ["r0", "r1"] {
            n.push(r.host_ns(p).name().to_string());
        }
        n
    };
    let r = KernelRouter::new(TWO_PORTS, EMPTY_RULES, None).unwrap();
    let made = names(&r);
    assert!(made.iter().all(|n| listed(n)));
    drop(r);
    assert!(made.iter().all(|n| !listed(n)), "{made:?}");

    let made = std::sync::Mutex::new(Vec::new());
    let result = std::panic::catch_unwind(|| {
        let r = KernelRouter::new(TWO_PORTS, EMPTY_RULES, None).unwrap();
        *made.lock().unwrap() = names(&r);
        panic!("a failing test");
    });
    assert!(result.is_err());
    let made = made.into_inner().unwrap();
    assert_eq!(made.len(), 3);
    assert!(made.iter().all(|n| !listed(n)), "{made:?}");

    // A bad ruleset is an error, and leaves nothing behind either.
    let e = KernelRouter::new(
        TWO_PORTS,
        "*filter\n-A FORWARD -j NOSUCHTARGET\nCOMMIT\n",
        None,
    )
    .unwrap_err();
    assert!(e.contains("loading the ruleset"), "{e}");
}

#[test]
fn stale_namespaces_of_dead_processes_are_swept() {
    if let Some(why) = kernel::skip_reason() {
        skip("sweep", &why);
        return;
    }
    // Above the largest pid_max (2^22): no process has this pid. Our own
    // pid as the counter keeps the name apart from parallel test processes,
    // whose sweeps may delete it too.
    let stale = format!("{}4194305-{}", netns::PREFIX, std::process::id());
    let ok = Command::new("ip")
        .args(["netns", "add", &stale])
        .status()
        .unwrap();
    assert!(ok.success());
    // A live namespace of this process survives the sweep.
    let live = Netns::new().unwrap();
    netns::sweep_stale();
    assert!(!listed(&stale));
    assert!(listed(live.name()));
}

/// Whether `ip netns list` shows `name` (lines are `NAME` or `NAME (id: N)`).
fn listed(name: &str) -> bool {
    let out = Command::new("ip").args(["netns", "list"]).output().unwrap();
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .any(|l| l.split_whitespace().next() == Some(name))
}

#[test]
fn tcp_reset_from_the_router_has_a_complete_checksum() {
    let rules = "*filter\n-A FORWARD -p tcp --dport 80 -j REJECT --reject-with tcp-reset\nCOMMIT\n";
    let Some(r) = router("tcp-reset", TWO_PORTS, rules) else {
        return;
    };
    let syn = Tcp::new(40000, 80, tcp::flags::SYN)
        .seq(1000)
        .option(&tcp_opt::mss(1460));
    let frame = IpFrame::new(r.host_mac("r0"), r.router_mac("r0"), H0, H1).tcp(&syn);
    let out = probe(&r, &[("r0", frame)]);
    assert_eq!(out.len(), 1, "{}", describe(&out));
    // nf_send_reset(): from the probe's destination, RST+ACK acknowledging
    // the SYN, DF, TTL 64 (the route's hop limit), id 0. The kernel leaves
    // the TCP checksum to the device (CHECKSUM_PARTIAL); with transmit
    // offload off on the router's veths it is computed in software, as a
    // NIC would.
    let rst = Tcp::new(80, 40000, tcp::flags::RST | tcp::flags::ACK)
        .seq(0)
        .ack(1001)
        .window(0);
    let expected = IpFrame::new(r.router_mac("r0"), r.host_mac("r0"), H1, H0)
        .ident(0)
        .dont_frag(true)
        .tcp(&rst);
    assert_eq!(out[0].port, "r0");
    assert!(!out[0].summary().contains("BAD-CSUM"), "{}", out[0]);
    assert_eq!(out[0].frame, expected, "{}", out[0]);
}

#[test]
fn ipv6_forwards_with_hop_limit_decremented() {
    let toml = "[[interface]]\nname = \"r0\"\naddress = [\"10.0.1.1/24\", \"fd00:1::1/64\"]\n\
                [[interface]]\nname = \"r1\"\naddress = [\"10.0.2.1/24\", \"fd00:2::1/64\"]\n";
    let Some(r) = router("ipv6", toml, EMPTY_RULES) else {
        return;
    };
    let (src, dst): (Ipv6Addr, Ipv6Addr) =
        ("fd00:1::2".parse().unwrap(), "fd00:2::2".parse().unwrap());
    r.add_host("r1", IpAddr::V6(dst)).unwrap();
    let out = probe(
        &r,
        &[(
            "r0",
            IpFrame::new(r.host_mac("r0"), r.router_mac("r0"), src, dst).icmp_echo(7, 1, PAYLOAD),
        )],
    );
    // The MLD reports the router sends for its groups are not captures.
    let expected = IpFrame::new(r.router_mac("r1"), r.host_mac("r1"), src, dst)
        .ttl(63)
        .icmp_echo(7, 1, PAYLOAD);
    assert_eq!(out.len(), 1, "{}", describe(&out));
    assert_eq!(
        (out[0].port.as_str(), &out[0].frame),
        ("r1", &expected),
        "{}",
        out[0]
    );
}

#[test]
fn sluice_probe_send_and_capture_modes() {
    if let Some(why) = kernel::skip_reason() {
        skip("modes", &why);
        return;
    }
    // Two namespaces joined by one veth pair, as `ip netns exec` users see
    // them.
    let (a, b) = (Netns::new().unwrap(), Netns::new().unwrap());
    let (mac_a, mac_b) = (kernel::host_mac(0), kernel::host_mac(1));
    for ns in [&a, &b] {
        ns.sysctl(&[("net.ipv6.conf.default.disable_ipv6", "1")])
            .unwrap();
    }
    netns::veth_pair(
        &VethEnd {
            ns: &a,
            name: "eth0",
            mac: mac_a,
            mtu: 1500,
        },
        &VethEnd {
            ns: &b,
            name: "eth0",
            mac: mac_b,
            mtu: 1500,
        },
    )
    .unwrap();
    a.link_up("eth0").unwrap();
    b.link_up("eth0").unwrap();
    let bin = env!("CARGO_BIN_EXE_sluice-probe");
    let mut capture = Command::new("ip")
        .args(["netns", "exec", b.name(), bin, "capture", "eth0", "1000"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // Wait for "ready" before sending.
    let mut ready = String::new();
    BufReader::new(capture.stderr.take().unwrap())
        .read_line(&mut ready)
        .unwrap();
    assert_eq!(ready.trim(), "ready");
    let frames = [
        IpFrame::new(mac_a, mac_b, H0, H1).udp(1, 2, b"one"),
        IpFrame::new(mac_a, mac_b, H0, H1).udp(1, 2, b"two"),
    ];
    let input: String = frames.iter().map(|f| hex(f) + "\n").collect();
    a.run_stdin(&[bin, "send", "eth0", "-"], Some(&input))
        .unwrap();
    let out = capture.wait_with_output().unwrap();
    assert!(out.status.success());
    let got: Vec<Vec<u8>> = String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .map(|l| unhex(l).unwrap())
        .collect();
    assert_eq!(got, frames);
}

/// `frame` (Ethernet, a fixed IPv6 header, then the upper layer) cut into
/// fragments of identification `id` at `cuts`: (offset, end) of the upper
/// layer, each fragment "more" unless it ends the upper layer.
fn fragments6(frame: &[u8], id: u32, cuts: &[(usize, usize)]) -> Vec<Vec<u8>> {
    let (l2, upper) = (&frame[..54], &frame[54..]);
    cuts.iter()
        .map(|&(off, end)| {
            let mut f = l2.to_vec();
            f[14 + 6] = 44;
            f[14 + 4..14 + 6].copy_from_slice(&((8 + end - off) as u16).to_be_bytes());
            f.extend_from_slice(&[frame[14 + 6], 0]);
            let more = u16::from(end < upper.len());
            f.extend_from_slice(&((off as u16) | more).to_be_bytes());
            f.extend_from_slice(&id.to_be_bytes());
            f.extend_from_slice(&upper[off..end]);
            f
        })
        .collect()
}

/// What `conntrack/defrag6.rs` documents of `nf_defrag_ipv6`, held to the
/// running kernel: the rules see the reassembled datagram once (`-m frag`
/// never matches), it leaves in the fragments it came in with a new
/// identification, overlapping fragments die before any rule, an atomic
/// fragment leaves without its fragment header.
#[test]
fn ipv6_fragments_reassembled_for_conntrack() {
    let toml = "[[interface]]\nname = \"r0\"\naddress = [\"10.0.1.1/24\", \"fd00:1::1/64\"]\n\
                [[interface]]\nname = \"r1\"\naddress = [\"10.0.2.1/24\", \"fd00:2::1/64\"]\n";
    let rules6 = "*raw\n:PREROUTING ACCEPT [0:0]\n:OUTPUT ACCEPT [0:0]\n\
                  -A PREROUTING -p udp\n-A PREROUTING -m frag\nCOMMIT\n\
                  *filter\n:INPUT ACCEPT [0:0]\n:FORWARD ACCEPT [0:0]\n:OUTPUT ACCEPT [0:0]\n\
                  -A FORWARD -p udp -m conntrack --ctstate NEW\n\
                  -A FORWARD -m conntrack --ctstate INVALID\n-A FORWARD -m frag\nCOMMIT\n";
    if let Some(why) = kernel::skip_reason() {
        skip("defrag6", &why);
        return;
    }
    let r = KernelRouter::new_dual(toml, EMPTY_RULES, Some(rules6), None)
        .unwrap_or_else(|e| panic!("defrag6: {e}"))
        .with_probe_binary(env!("CARGO_BIN_EXE_sluice-probe"));
    let (src, dst): (Ipv6Addr, Ipv6Addr) =
        ("fd00:1::2".parse().unwrap(), "fd00:2::2".parse().unwrap());
    r.add_host("r0", IpAddr::V6(src)).unwrap();
    r.add_host("r1", IpAddr::V6(dst)).unwrap();
    let payload: Vec<u8> = (0..2992).map(|i| (i * 7 % 251) as u8).collect();
    let inbound = IpFrame::new(r.host_mac("r0"), r.router_mac("r0"), src, dst);
    let outbound = IpFrame::new(r.router_mac("r1"), r.host_mac("r1"), src, dst).ttl(63);
    let whole_in = inbound.udp(4000, 5000, &payload);
    let whole_out = outbound.udp(4000, 5000, &payload);
    // Fragments of 512 bytes, below the IPv6 minimum MTU, last first.
    let cuts: Vec<(usize, usize)> = (0..6)
        .map(|k| (k * 512, (k * 512 + 512).min(3000)))
        .collect();
    let mut frames: Vec<(&str, Vec<u8>)> = fragments6(&whole_in, 0x1234, &cuts)
        .into_iter()
        .rev()
        .map(|f| ("r0", f))
        .collect();
    let out = probe(&r, &frames);
    assert_eq!(out.len(), 6, "{}", describe(&out));
    // The identification is new (one for all six); the rest as they came,
    // in offset order.
    let id = u32::from_be_bytes(out[0].frame[58..62].try_into().unwrap());
    assert_ne!(id, 0x1234);
    for (got, want) in out.iter().zip(fragments6(&whole_out, id, &cuts)) {
        assert_eq!((got.port.as_str(), &got.frame), ("r1", &want), "{got}");
    }
    // Overlapping fragments: nothing leaves.
    frames = fragments6(&whole_in, 0x1235, &[(0, 1232), (1224, 2456), (2456, 3000)])
        .into_iter()
        .map(|f| ("r0", f))
        .collect();
    let out = probe(&r, &frames);
    assert!(out.is_empty(), "{}", describe(&out));
    // An atomic fragment leaves without its fragment header.
    let small_in = inbound.udp(4001, 5000, &payload[..100]);
    let small_out = outbound.udp(4001, 5000, &payload[..100]);
    let atomic = fragments6(&small_in, 0x1236, &[(0, 108)]);
    let out = probe(&r, &[("r0", atomic[0].clone())]);
    assert_eq!(out.len(), 1, "{}", describe(&out));
    assert_eq!(out[0].frame, small_out, "{}", out[0]);
    // The rules saw two datagrams whole (3 040 and 148 bytes), never a
    // fragment; the overlapping ones not at all.
    let raw = r.counters6("raw").unwrap();
    assert!(raw.contains("[2:3188] -A PREROUTING -p udp\n"), "{raw}");
    assert!(raw.contains("[0:0] -A PREROUTING -m frag\n"), "{raw}");
    let filter = r.counters6("filter").unwrap();
    assert!(
        filter.contains("[2:3188] -A FORWARD -p udp -m conntrack --ctstate NEW\n"),
        "{filter}"
    );
    assert!(
        filter.contains("[0:0] -A FORWARD -m conntrack --ctstate INVALID\n"),
        "{filter}"
    );
    assert!(filter.contains("[0:0] -A FORWARD -m frag\n"), "{filter}");
    let ct = r.conntrack().unwrap();
    assert_eq!(
        ct.lines().filter(|l| l.contains("dport=5000")).count(),
        2,
        "{ct}"
    );
}
