//! End to end in the lab (see lab.rs): the Prometheus metrics endpoint and
//! the log sinks after real traffic.
//!
//! Needs root and network namespaces; otherwise each test prints `SKIP:`
//! and passes.

mod common;

use std::net::{Ipv4Addr, TcpListener, UdpSocket};
use std::time::Duration;

use common::*;

/// A datagram from the uplink to a LAN host: FORWARD sends it to
/// LOG_AND_DROP (`--log-prefix "sluice drop: " --log-level 6`); the
/// source port it was sent from.
fn probe_from_wan(lab: &Lab) -> u16 {
    in_ns(&lab.wan, || {
        let s = UdpSocket::bind((Ipv4Addr::new(10, 0, 2, 2), 0)).unwrap();
        s.send_to(b"probe", "10.0.1.2:9999").unwrap();
        s.local_addr().unwrap().port()
    })
    .join()
    .unwrap()
}

const LOOPBACK: &str = "127.0.0.1:9469";
const BOX: &str = "10.0.1.1:9469";

/// Metrics and logs (issue 11, items 5 and 6): after real traffic, a
/// scrape of `[control] metrics` parses with Prometheus' own parser and
/// its FORWARD rule counters are what `sluice rules list -v -x` shows;
/// a LOG rule's record lands in the `[control] log` file in the kernel's
/// format; then, restarted with `log = "syslog"` and `log_format =
/// "json"`, the record reaches a test-bound syslog socket as an RFC 3164
/// datagram holding a JSON object; the endpoint on the box's LAN
/// address is warned about and the ruleset's INPUT chain keeps the LAN
/// out; a port in use refuses the start in one line.
#[test]
fn metrics_scrape_and_log_sinks_after_traffic() {
    use std::os::unix::fs::PermissionsExt;
    if skip() {
        return;
    }
    let mut lab = Lab::up_with(2, "metrics = \"127.0.0.1:9469\"\nlog = \"./fw.log\"\n", &[]);
    let daemon_log = lab.log_text();
    assert!(
        daemon_log.contains("metrics on http://127.0.0.1:9469/metrics")
            && daemon_log.contains("LOG records to ")
            && !daemon_log.contains("not a loopback address"),
        "{daemon_log}"
    );
    tcp_server(&lab.wan, "198.51.100.10:5001", "wan");
    in_ns(&lab.lan, || {
        tcp_send(None, "198.51.100.10:5001", 5, 200_000)
    })
    .join()
    .unwrap()
    .expect("a transfer through the box");
    let sport = probe_from_wan(&lab);
    let file = lab.dir.join("fw.log");
    wait_for("LOG line in fw.log", || {
        std::fs::read_to_string(&file).is_ok_and(|t| t.contains("DPT=9999"))
    });

    // The kernel's fields, in its order.
    let text = std::fs::read_to_string(&file).unwrap();
    let line = text.lines().find(|l| l.contains("DPT=9999")).unwrap();
    let (ts, rest) = line.split_once(' ').unwrap();
    assert!(ts.ends_with('Z') && ts.contains('T'), "{line}");
    let kernel = rest.strip_prefix("sluice: sluice drop: ").expect(line);
    let want = [
        "IN=r1".to_string(),
        "OUT=r0".into(),
        "MAC=02:5c:00:00:00:01:02:5c:00:00:01:01:08:00".into(),
        "SRC=10.0.2.2".into(),
        "DST=10.0.1.2".into(),
        "LEN=33".into(),
        "PROTO=UDP".into(),
        format!("SPT={sport}"),
        "DPT=9999".into(),
    ];
    let fields: Vec<&str> = kernel.split(' ').collect();
    let at: Vec<usize> = want
        .iter()
        .map(|w| {
            fields
                .iter()
                .position(|f| f == w)
                .unwrap_or_else(|| panic!("no {w} in {kernel}"))
        })
        .collect();
    assert!(at.windows(2).all(|p| p[0] < p[1]), "kernel order: {kernel}");
    let mode = std::fs::metadata(&file).unwrap().permissions().mode();
    assert_eq!(mode & 0o777, 0o640);

    // The scrape.
    let (status, headers, body) = http(&lab, LOOPBACK, "GET", "/metrics");
    assert_eq!(status, "HTTP/1.1 200 OK");
    assert!(
        headers.contains("Content-Type: text/plain; version=0.0.4"),
        "{headers}"
    );
    let samples = prometheus_parse(&body);
    let get = |name: &str, labels: &[(&str, &str)]| -> Option<f64> {
        samples
            .iter()
            .find(|s| {
                s.2 == name
                    && labels
                        .iter()
                        .all(|(k, v)| s.3.get(*k).and_then(|x| x.as_str()) == Some(*v))
            })
            .map(|s| s.4)
    };
    // Every family is typed (a TYPE line that names no sample would
    // leave it "unknown").
    assert!(samples.iter().all(|s| s.1 != "unknown"), "{body}");
    let kind = |family: &str| samples.iter().find(|s| s.0 == family).map(|s| s.1.clone());
    assert_eq!(kind("sluice_batch_seconds").as_deref(), Some("histogram"));
    assert_eq!(kind("sluice_conntrack_entries").as_deref(), Some("gauge"));
    assert_eq!(kind("sluice_rule_packets").as_deref(), Some("counter"));
    let rx: f64 = (0..2)
        .map(|w| {
            get(
                "sluice_worker_rx_frames_total",
                &[("worker", &w.to_string())],
            )
            .unwrap()
        })
        .sum();
    assert!(rx > 100.0, "{body}");
    assert_eq!(get("sluice_conntrack_max", &[]), Some(65536.0));
    assert!(get("sluice_batch_seconds_count", &[("worker", "0")]).unwrap() > 0.0);
    assert!(get(
        "sluice_drops_total",
        &[("worker", "0"), ("reason", "filter.drop")]
    )
    .is_some());
    assert!(
        get("sluice_log_records_total", &[]).unwrap() >= 1.0,
        "{body}"
    );
    assert_eq!(
        get("sluice_log_dropped_total", &[("reason", "sink")]),
        Some(0.0)
    );

    // Each FORWARD rule's packets as `rules list -v -x` shows them.
    let cfg = lab.config().to_str().unwrap().to_string();
    let (code, list, err) = ctl(&[
        "rules", "list", "FORWARD", "-v", "-n", "-x", "--config", &cfg,
    ]);
    assert_eq!(code, Some(0), "{err}");
    let policy: f64 = list
        .lines()
        .next()
        .and_then(|l| l.split("policy DROP ").nth(1))
        .and_then(|r| r.split_whitespace().next())
        .unwrap()
        .parse()
        .unwrap();
    assert_eq!(
        get(
            "sluice_chain_policy_packets_total",
            &[("table", "filter"), ("chain", "FORWARD")]
        ),
        Some(policy)
    );
    let rows: Vec<f64> = list
        .lines()
        .skip(2)
        .filter(|l| !l.is_empty())
        .map(|l| l.split_whitespace().next().unwrap().parse().unwrap())
        .collect();
    assert!(
        rows[0] > 10.0,
        "the ESTABLISHED rule carried the transfer: {list}"
    );
    for (i, want) in rows.iter().enumerate() {
        let n = (i + 1).to_string();
        assert_eq!(
            get(
                "sluice_rule_packets_total",
                &[("table", "filter"), ("chain", "FORWARD"), ("rule", &n)]
            ),
            Some(*want),
            "FORWARD rule {n}:\n{list}"
        );
    }
    let (status, _, _) = http(&lab, LOOPBACK, "GET", "/");
    assert_eq!(status, "HTTP/1.1 404 Not Found");
    let (status, _, _) = http(&lab, LOOPBACK, "POST", "/metrics");
    assert_eq!(status, "HTTP/1.1 404 Not Found");

    // The port taken: the start is refused in one line naming it.
    lab.stop();
    let taken = in_ns(&lab.rtr, || TcpListener::bind(LOOPBACK).unwrap())
        .join()
        .unwrap();
    let out = lab.run_output(&lab.config());
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    let last = err.lines().last().unwrap();
    assert!(
        last.starts_with("sluice: error: [control] metrics: cannot listen on 127.0.0.1:9469: ")
            && last.contains("in use"),
        "{err}"
    );
    assert_eq!(err.matches("error:").count(), 1, "{err}");
    drop(taken);
    assert_eq!(lab.leftovers(), "", "nothing left after the refused start");

    // syslog + JSON, to a socket standing in for /dev/log; the endpoint on
    // the box's LAN address.
    let sock = lab.dir.join("devlog.sock");
    let reader = std::os::unix::net::UnixDatagram::bind(&sock).unwrap();
    reader
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    let toml = std::fs::read_to_string(lab.config())
        .unwrap()
        .replace(
            "log = \"./fw.log\"",
            "log = \"syslog\"\nlog_format = \"json\"",
        )
        .replace(LOOPBACK, BOX);
    std::fs::write(lab.config(), toml).unwrap();
    lab.start_env(&[("SLUICE_SYSLOG_SOCKET", sock.to_str().unwrap())]);
    let daemon_log = lab.log_text();
    assert!(
        daemon_log.contains(
            "warning: [control] metrics on 10.0.1.1:9469 is not a loopback address: the endpoint has no authentication"
        ) && daemon_log.contains("LOG records to syslog ("),
        "{daemon_log}"
    );
    // From the LAN the scrape crosses the dataplane, whose INPUT chain
    // answers TCP to the box with a reset.
    let from_lan = in_ns(&lab.lan, || connect_outcome(BOX)).join().unwrap();
    assert_eq!(from_lan, "refused");
    let sport = probe_from_wan(&lab);
    let mut buf = [0u8; 4096];
    let msg = loop {
        let n = reader.recv(&mut buf).expect("a syslog datagram");
        let m = String::from_utf8_lossy(&buf[..n]).into_owned();
        if m.contains("DPT=9999") {
            break m;
        }
    };
    // <PRI> = daemon (3) * 8 + --log-level 6.
    let (head, json) = msg.split_once(" sluice: ").expect(&msg);
    assert!(
        head.starts_with("<30>") && head.len() == "<30>Dec  5 05:07:09".len(),
        "{msg}"
    );
    let j: serde_json::Value = serde_json::from_str(json).expect(&msg);
    assert_eq!(j["prefix"], "sluice drop: ");
    assert_eq!(
        (&j["in"], &j["out"]),
        (&serde_json::json!("r1"), &serde_json::json!("r0"))
    );
    assert_eq!(
        (&j["src"], &j["dst"]),
        (
            &serde_json::json!("10.0.2.2"),
            &serde_json::json!("10.0.1.2")
        )
    );
    assert_eq!(
        (&j["proto"], &j["spt"], &j["dpt"]),
        (
            &serde_json::json!("UDP"),
            &serde_json::json!(sport),
            &serde_json::json!(9999)
        )
    );
    assert_eq!(j["len"], 33);
    let line = j["line"].as_str().unwrap();
    assert!(
        line.starts_with("sluice drop: IN=r1 OUT=r0 MAC=")
            && line.contains(&format!("SPT={sport} DPT=9999 ")),
        "{line}"
    );
    let (status, _, body) = http(&lab, BOX, "GET", "/metrics");
    assert_eq!(status, "HTTP/1.1 200 OK");
    let samples = prometheus_parse(&body);
    assert!(
        samples
            .iter()
            .any(|s| s.2 == "sluice_log_records_total" && s.4 >= 1.0),
        "{body}"
    );
}
