//! End to end: the uplink by DHCP (`address = ["dhcp"]`, issue 13 part 4).
//! The lab's namespaces (see lab.rs); `wan` runs dnsmasq as the ISP's DHCP
//! server on w0 (10.0.2.2, the router option too) with T1 8 s and T2 14 s
//! (options 58/59), so a renewal comes soon. `sluice run` in `rtr` gets
//! the lease, masquerades the LAN through it (bytes checked), renews,
//! rebinds at T2 when the server was away at T1, then loses it when the
//! server's range moves (a NAK at the next renewal):
//! the flow masqueraded through the old address is dropped from
//! conntrack, and the same client socket's next datagram leaves through
//! the new address, as the kernel's `masq_inet_event` has it.
//!
//! Needs root, namespaces and dnsmasq; otherwise it prints `SKIP:` and
//! passes. Every wait is bounded; dnsmasq is killed when the test ends.

mod common;

use std::net::{SocketAddr, UdpSocket};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use common::*;

const TOML: &str = r#"
[[interface]]
name = "r0"
address = ["10.0.1.1/24"]

[[interface]]
name = "r1"
address = ["dhcp"]

[[interface]]
name = "r2"
address = ["10.0.3.1/24"]

[firewall]
rules = "rules.v4"

[control]
socket = "sluice.sock"
metrics = "127.0.0.1:9464"
"#;

/// The safe default's shape: MASQUERADE out of the uplink, LAN to WAN
/// forwarded, nothing in to the box (DHCP needs no rule).
const RULES: &str = "*nat
:PREROUTING ACCEPT [0:0]
:INPUT ACCEPT [0:0]
:OUTPUT ACCEPT [0:0]
:POSTROUTING ACCEPT [0:0]
-A POSTROUTING -o r1 -j MASQUERADE
COMMIT
*filter
:INPUT DROP [0:0]
:FORWARD DROP [0:0]
:OUTPUT ACCEPT [0:0]
-A FORWARD -m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT
-A FORWARD -i r0 -o r1 -j ACCEPT
COMMIT
";

/// dnsmasq in `ns`, killed on drop.
struct Dnsmasq(Child);

impl Dnsmasq {
    /// Serving `range`, logging to `dnsmasq-TAG.log`, its leases in
    /// `leases-LEASES`.
    fn start(lab: &Lab, range: &str, tag: &str, leases: &str) -> Dnsmasq {
        let leases = lab.dir.join(format!("leases-{leases}"));
        let log = std::fs::File::create(lab.dir.join(format!("dnsmasq-{tag}.log"))).unwrap();
        let child = Command::new("ip")
            .args(["netns", "exec", lab.wan.name(), "dnsmasq"])
            .args([
                "--no-daemon",
                "--conf-file=/dev/null",
                "--port=0",
                "--user=root",
                "--pid-file",
                "--interface=w0",
                "--bind-interfaces",
                "--dhcp-authoritative",
                "--log-dhcp",
                "--log-facility=-",
                &format!("--dhcp-range={range},255.255.255.0,2m"),
                "--dhcp-option=option:router,10.0.2.2",
                "--dhcp-option=option:T1,8",
                "--dhcp-option=option:T2,14",
                &format!("--dhcp-leasefile={}", leases.display()),
            ])
            .stdin(Stdio::null())
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .spawn()
            .expect("start dnsmasq");
        Dnsmasq(child)
    }
}

impl Drop for Dnsmasq {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn dnsmasq_missing() -> bool {
    if Command::new("dnsmasq").arg("--version").output().is_err() {
        eprintln!("SKIP: dnsmasq is not installed (scripts/bootstrap installs dnsmasq-base)");
        return true;
    }
    false
}

/// Waits (`secs` at most) until the daemon's log has `needle` after byte
/// `from`; the log's length then.
fn wait_log(lab: &Lab, needle: &str, from: usize, secs: u64) -> usize {
    let t = Instant::now();
    loop {
        let log = lab.log_text();
        if log.get(from..).is_some_and(|l| l.contains(needle)) {
            return log.len();
        }
        assert!(
            t.elapsed() < Duration::from_secs(secs),
            "no {needle:?} in the log after {secs} s:\n{log}\n--- dnsmasq ---\n{}",
            dnsmasq_logs(lab)
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn dnsmasq_logs(lab: &Lab) -> String {
    ["a", "a2", "b"]
        .iter()
        .map(|t| {
            std::fs::read_to_string(lab.dir.join(format!("dnsmasq-{t}.log"))).unwrap_or_default()
        })
        .collect::<Vec<_>>()
        .join("\n---\n")
}

/// The address of the last "acquired" line after byte `from`.
fn acquired(lab: &Lab, from: usize) -> String {
    let log = lab.log_text();
    let line = log[from..]
        .lines()
        .rfind(|l| l.contains("dhcp: r1: acquired "))
        .expect("an acquired line")
        .to_string();
    let rest = line.split("acquired ").nth(1).unwrap();
    rest.split('/').next().unwrap().to_string()
}

/// One datagram from the LAN client's socket and the server's answer.
fn ask(s: &UdpSocket, text: &str) -> Result<String, String> {
    s.send(text.as_bytes()).map_err(|e| e.to_string())?;
    let mut buf = [0u8; 512];
    let n = s.recv(&mut buf).map_err(|e| e.to_string())?;
    Ok(String::from_utf8_lossy(&buf[..n]).into_owned())
}

/// The lab with the DHCP uplink config for `workers` workers (checked with
/// `sluice check`) and the WAN's TCP and UDP servers; the API socket.
fn dhcp_lab(workers: u32) -> (Lab, String) {
    let lab = Lab::topology(workers, "");
    let toml = format!("{TOML}\n[dataplane]\nworkers = {workers}\n");
    std::fs::write(lab.config(), toml).unwrap();
    std::fs::write(lab.dir.join("rules.v4"), RULES).unwrap();
    let sock = lab.dir.join("sluice.sock");
    let sock = sock.to_str().unwrap().to_string();
    let (check, out, err) = ctl(&["check", "--config", lab.config().to_str().unwrap()]);
    assert_eq!(check, Some(0), "{out}{err}");
    assert!(
        out.contains("\nr1: IPv4 by DHCP: no IPv4 address until a lease comes"),
        "{out}"
    );
    tcp_server(&lab.wan, "198.51.100.10:5001", "wan");
    udp_server(&lab.wan, "198.51.100.10:5002", "wan");
    (lab, sock)
}

/// Two workers: the server's answers may come in on either queue, the
/// client's frames leave from either worker; 40 connections spread over
/// both are masqueraded to the leased address.
#[test]
fn uplink_by_dhcp_with_two_workers() {
    if skip() || dnsmasq_missing() {
        return;
    }
    let (mut lab, sock) = dhcp_lab(2);
    let _a = Dnsmasq::start(&lab, "10.0.2.50,10.0.2.59", "a", "a");
    lab.start();
    wait_log(&lab, "dhcp: r1: acquired ", 0, 30);
    let addr = acquired(&lab, 0);
    assert!(lab.log_text().contains("running on 2 worker(s)"));
    let results = in_ns(&lab.lan, || {
        let (tx, rx) = std::sync::mpsc::channel();
        for i in 0..40u64 {
            let tx = tx.clone();
            std::thread::spawn(move || {
                let _ = tx.send(tcp_send(
                    Some(CLIENT),
                    "198.51.100.10:5001",
                    i,
                    10_000 + i as usize * 101,
                ));
            });
        }
        drop(tx);
        rx.iter().collect::<Vec<_>>()
    })
    .join()
    .unwrap();
    assert_eq!(results.len(), 40);
    for r in results {
        assert_eq!(r.unwrap(), format!("wan {addr}"));
    }
    let (_, stats, _) = ctl(&["stats", "--socket", &sock]);
    assert!(
        stats.contains(&format!("dhcp r1: bound {addr}/24")),
        "{stats}"
    );

    let (_, json, _) = ctl(&["stats", "--json", "--socket", &sock]);
    let j: serde_json::Value = serde_json::from_str(&json).unwrap();
    let d = &j["dhcp"][0];
    assert_eq!(d["interface"], "r1");
    assert_eq!(d["state"], "bound");
    assert_eq!(d["address"], format!("{addr}/24"));
    assert_eq!(d["router"], "10.0.2.2");
    assert_eq!(d["lease_seconds"], 120);
    assert_eq!(d["acquired"], 1);

    // An apply and a rollback keep the lease: each configuration the
    // daemon runs gets the leases of the moment.
    let through = || {
        in_ns(&lab.lan, || {
            tcp_send(Some(CLIENT), "198.51.100.10:5001", 99, 50_000)
        })
        .join()
        .unwrap()
    };
    let has_default = || {
        let (_, routes, err) = ctl(&["route", "show", "--socket", &sock]);
        assert!(
            routes.contains("default via 10.0.2.2 dev r1"),
            "{routes}{err}"
        );
    };
    has_default();
    std::fs::write(
        lab.dir.join("rules2.v4"),
        RULES.replace(
            "COMMIT\n*filter",
            "COMMIT\n*filter\n-A INPUT -p icmp -j ACCEPT",
        ),
    )
    .unwrap();
    let cfg2 = lab.dir.join("sluice2.toml");
    std::fs::write(
        &cfg2,
        std::fs::read_to_string(lab.config())
            .unwrap()
            .replace("rules.v4", "rules2.v4"),
    )
    .unwrap();
    let (code, out, err) = ctl(&["apply", "--config", cfg2.to_str().unwrap()]);
    assert_eq!(code, Some(0), "{out}{err}");
    has_default();
    assert_eq!(through().unwrap(), format!("wan {addr}"));
    let (code, out, err) = ctl(&["rollback", "--socket", &sock]);
    assert_eq!(code, Some(0), "{out}{err}");
    has_default();
    assert_eq!(through().unwrap(), format!("wan {addr}"));
    let (st, _) = lab.stop();
    assert!(st.success());
}

#[test]
fn uplink_by_dhcp_masquerades_renews_and_follows_a_lost_address() {
    if skip() || dnsmasq_missing() {
        return;
    }
    let (mut lab, sock) = dhcp_lab(1);
    let udp = in_ns(&lab.lan, || {
        let s = UdpSocket::bind((CLIENT, 40_000)).unwrap();
        s.connect("198.51.100.10:5002".parse::<SocketAddr>().unwrap())
            .unwrap();
        s.set_read_timeout(Some(Duration::from_secs(2))).unwrap();
        s
    })
    .join()
    .unwrap();
    lab.start();

    // No server yet: no address, no default route, nothing leaves.
    wait_for("the client selecting", || {
        ctl(&["stats", "--socket", &sock])
            .1
            .contains("dhcp r1: selecting no lease")
    });
    assert!(
        ask(&udp, "zero").is_err(),
        "nothing goes out without a lease"
    );
    let (_, _, metrics) = http(&lab, "127.0.0.1:9464", "GET", "/metrics");
    assert!(
        metrics.contains("sluice_dhcp_bound{interface=\"r1\"} 0"),
        "{metrics}"
    );
    // The ISP's server comes up; a retransmitted DISCOVER finds it.
    let a = Dnsmasq::start(&lab, "10.0.2.50,10.0.2.59", "a", "a");

    // The lease: address, connected network, default route via option 3.
    let mut at = wait_log(&lab, "dhcp: r1: acquired ", 0, 30);
    let first = acquired(&lab, 0);
    assert!(first.starts_with("10.0.2.5"), "{first}");
    let log = lab.log_text();
    assert!(
        log.contains(&format!(
            "acquired {first}/24 router 10.0.2.2 from server 10.0.2.2, lease 120s (T1 8s, T2 14s)"
        )),
        "{log}"
    );
    assert!(
        log.contains("(T1 8s, T2 14s): generation 2 running on 1 worker(s)"),
        "{log}"
    );

    // LAN → WAN through MASQUERADE on the leased address, bytes checked.
    let r = in_ns(&lab.lan, || {
        tcp_send(Some(CLIENT), "198.51.100.10:5001", 7, 300_000)
    })
    .join()
    .unwrap();
    assert_eq!(r.unwrap(), format!("wan {first}"));
    assert_eq!(ask(&udp, "one").unwrap(), format!("wan {first} one"));
    let (_, ct, _) = ctl(&["conntrack", "list", "-p", "udp", "--socket", &sock]);
    assert!(
        ct.contains(&format!("dst={first} sport=5002 dport=40000")),
        "{ct}"
    );

    // Seen in `sluice stats` and the metrics.
    let (code, stats, err) = ctl(&["stats", "--socket", &sock]);
    assert_eq!(code, Some(0), "{err}");
    assert!(
        stats.contains(&format!(
            "dhcp r1: bound {first}/24 router 10.0.2.2 server 10.0.2.2 lease 120s"
        )),
        "{stats}"
    );
    let (_, _, metrics) = http(&lab, "127.0.0.1:9464", "GET", "/metrics");
    assert!(
        metrics.contains("sluice_dhcp_bound{interface=\"r1\"} 1"),
        "{metrics}"
    );
    // Read with the Prometheus client's own parser.
    let samples = prometheus_parse(&metrics);
    let value = |name: &str, label: (&str, &str)| {
        samples
            .iter()
            .find(|s| s.2 == name && s.3[label.0] == label.1)
            .map(|s| s.4)
    };
    let info = samples
        .iter()
        .find(|s| s.2 == "sluice_dhcp_lease_info")
        .expect("sluice_dhcp_lease_info");
    assert_eq!(info.3["address"], format!("{first}/24"));
    assert_eq!(info.3["router"], "10.0.2.2");
    assert_eq!(info.3["server"], "10.0.2.2");
    assert_eq!(info.3["state"], "bound");
    assert_eq!(
        value("sluice_dhcp_lease_seconds", ("interface", "r1")),
        Some(120.0)
    );
    let t1 = value("sluice_dhcp_t1_remaining_seconds", ("interface", "r1")).unwrap();
    assert!(t1 <= 8.0, "{t1}");
    assert_eq!(
        value("sluice_dhcp_events_total", ("event", "acquired")),
        Some(1.0)
    );
    assert_eq!(
        samples
            .iter()
            .find(|s| s.2 == "sluice_dhcp_messages_total" && s.3["type"] == "offer")
            .map(|s| s.4),
        Some(1.0)
    );

    // A renewal at T1 (8 s), unicast to the server, same address.
    at = wait_log(&lab, &format!("dhcp: r1: renewed {first}/24"), at, 20);
    assert_eq!(
        ask(&udp, "two").unwrap(),
        format!("wan {first} two"),
        "the flow goes on"
    );

    // The server goes away: the unicast renewal at T1 gets no answer;
    // back before T2, it ACKs the broadcast REQUEST of REBINDING.
    drop(a);
    wait_for("RENEWING without an answer", || {
        ctl(&["stats", "--socket", &sock])
            .1
            .contains(&format!("dhcp r1: renewing {first}/24"))
    });
    let a2 = Dnsmasq::start(&lab, "10.0.2.50,10.0.2.59", "a2", "a");
    at = wait_log(&lab, &format!("dhcp: r1: renewed {first}/24"), at, 20);
    let (_, stats, _) = ctl(&["stats", "--socket", &sock]);
    assert!(
        stats.contains(&format!("dhcp r1: bound {first}/24"))
            && stats.contains("acquired 1 renewed 2 lost 0 rebinds 1"),
        "{stats}"
    );

    // The ISP's range moves: the next renewal is NAKed, the address is
    // lost, a new lease comes.
    drop(a2);
    let _b = Dnsmasq::start(&lab, "10.0.2.100,10.0.2.109", "b", "b");
    at = wait_log(
        &lab,
        &format!("dhcp: r1: lost {first}/24 (NAK from the server)"),
        at,
        30,
    );
    wait_log(&lab, "dhcp: r1: acquired ", at, 30);
    let second = acquired(&lab, at);
    assert!(second.starts_with("10.0.2.10"), "{second}");
    wait_for("the new lease in the stats", || {
        ctl(&["stats", "--socket", &sock])
            .1
            .contains(&format!("dhcp r1: bound {second}/24"))
    });

    // The flow masqueraded through the lost address is gone from
    // conntrack; the same socket's next datagram is a new flow through the
    // new address.
    let (_, ct, _) = ctl(&["conntrack", "list", "--socket", &sock]);
    assert!(!ct.contains(&first), "an entry still uses {first}:\n{ct}");
    assert_eq!(ask(&udp, "three").unwrap(), format!("wan {second} three"));
    let r = in_ns(&lab.lan, || {
        tcp_send(Some(CLIENT), "198.51.100.10:5001", 8, 100_000)
    })
    .join()
    .unwrap();
    assert_eq!(r.unwrap(), format!("wan {second}"));
    let (_, stats, _) = ctl(&["stats", "--socket", &sock]);
    assert!(
        stats.contains("acquired 2 renewed 2 lost 1 rebinds 1"),
        "{stats}"
    );
    let log = lab.log_text();
    assert!(!log.contains("error"), "{log}");
    assert_eq!(
        log.matches("dhcp: r1: acquired ").count(),
        2,
        "one line per event: {log}"
    );
    assert_eq!(log.matches("dhcp: r1: renewed ").count(), 2, "{log}");
    assert_eq!(log.matches("dhcp: r1: lost ").count(), 1, "{log}");
    let (st, _) = lab.stop();
    assert!(st.success());
    assert!(Path::new(&lab.dir).exists());
}
