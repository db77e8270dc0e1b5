//! End to end: `sluice run` as the gateway of the lab's topology
//! (`scripts/lab`: namespaces `lan`, `rtr`, `wan`, `wan2` joined by veth
//! pairs, config/examples/lab), with real sockets of the namespaces' own
//! kernels talking through it. Each test builds its own namespaces (unique
//! names, deleted on drop even when the test fails) and stops its daemon.
//!
//! Needs root and network namespaces; otherwise each test prints `SKIP:`
//! and passes, as the kernel-oracle tests do.

mod common;

use std::net::UdpSocket;
use std::process::Command;
use std::sync::mpsc;
use std::time::{Duration, Instant};

use common::*;
use nix::sys::signal::Signal;
use nix::unistd::Pid;

#[test]
fn forwarding_and_the_box_answering_for_itself() {
    if skip() {
        return;
    }
    let lab = Lab::up(1);
    ping(&lab.lan, "10.0.1.1").expect("ping the gateway");
    ping(&lab.lan, "198.51.100.10").expect("ping through NAT");
    let log = lab.log_text();
    assert!(
        log.contains("IPv6: no ip6tables ruleset configured: IPv6 is not forwarded"),
        "{log}"
    );
}

#[test]
fn masquerade_200_concurrent_tcp_connections_every_byte_checked() {
    if skip() {
        return;
    }
    let lab = Lab::up(1);
    tcp_server(&lab.wan, "198.51.100.10:5001", "wan");
    let results = in_ns(&lab.lan, || {
        let (tx, rx) = mpsc::channel();
        for i in 0..200u64 {
            let tx = tx.clone();
            std::thread::spawn(move || {
                let r = tcp_send(None, "198.51.100.10:5001", i, 20_000 + (i as usize) * 97);
                let _ = tx.send((i, r));
            });
        }
        drop(tx);
        rx.iter().collect::<Vec<_>>()
    })
    .join()
    .unwrap();
    assert_eq!(results.len(), 200);
    for (i, r) in results {
        assert_eq!(
            r.unwrap_or_else(|e| panic!("connection {i}: {e}")),
            "wan 10.0.2.1",
            "connection {i} not masqueraded to the uplink address"
        );
    }
}

#[test]
fn udp_icmp_and_icmp_errors_through_nat() {
    if skip() {
        return;
    }
    let lab = Lab::up(1);
    udp_server(&lab.wan, "198.51.100.10:5002", "wan");
    let (answer, from) = in_ns(&lab.lan, || udp_ask(CLIENT, "198.51.100.10:5002", "hello"))
        .join()
        .unwrap()
        .unwrap();
    assert_eq!(answer, "wan 10.0.2.1 hello");
    assert_eq!(from, "198.51.100.10:5002".parse().unwrap());
    ping(&lab.lan, "198.51.100.10").expect("echo through NAT");
    // A closed port behind the NAT: the server's port unreachable comes
    // back de-translated to the client's connected socket.
    let r = in_ns(&lab.lan, || {
        let s = UdpSocket::bind((CLIENT, 0)).unwrap();
        s.connect("198.51.100.10:9").unwrap();
        s.set_read_timeout(Some(Duration::from_secs(2))).unwrap();
        s.send(b"anyone?").unwrap();
        let mut buf = [0u8; 64];
        s.recv(&mut buf).map(|_| ()).map_err(|e| e.kind())
    })
    .join()
    .unwrap();
    assert_eq!(r, Err(std::io::ErrorKind::ConnectionRefused));
}

#[test]
fn port_forward_and_hairpin() {
    if skip() {
        return;
    }
    let lab = Lab::up(1);
    tcp_server(&lab.lan, "0.0.0.0:8080", "lan-server");
    let from_wan = in_ns(&lab.wan, || tcp_send(None, "10.0.2.1:8443", 1, 100_000))
        .join()
        .unwrap()
        .unwrap();
    assert_eq!(from_wan, "lan-server 10.0.2.2");
    let hairpin = in_ns(&lab.lan, || {
        tcp_send(Some(CLIENT), "10.0.2.1:8443", 2, 100_000)
    })
    .join()
    .unwrap()
    .unwrap();
    assert_eq!(hairpin, "lan-server 10.0.1.1");
    // A probe from the uplink into the LAN (no port forward) is dropped.
    assert_eq!(
        in_ns(&lab.wan, || connect_outcome("10.0.1.2:8080"))
            .join()
            .unwrap(),
        "timeout"
    );
}

#[test]
fn policy_routing_by_fwmark_to_the_second_uplink() {
    if skip() {
        return;
    }
    let lab = Lab::up(1);
    tcp_server(&lab.wan, "198.51.100.10:873", "wan");
    tcp_server(&lab.wan2, "198.51.100.10:873", "wan2");
    tcp_server(&lab.wan, "198.51.100.10:874", "wan");
    let (marked, unmarked) = in_ns(&lab.lan, || {
        (
            tcp_send(None, "198.51.100.10:873", 3, 50_000),
            tcp_send(None, "198.51.100.10:874", 4, 50_000),
        )
    })
    .join()
    .unwrap();
    assert_eq!(marked.unwrap(), format!("wan2 {GW_WAN2}"));
    assert_eq!(unmarked.unwrap(), format!("wan {GW_WAN}"));
}

#[test]
fn redirect_and_ssh_allowlist_reach_services_on_the_tap() {
    if skip() {
        return;
    }
    let lab = Lab::up(1);
    tcp_server(&lab.rtr, "0.0.0.0:22", "box-ssh");
    udp_server(&lab.rtr, "0.0.0.0:5353", "box-dns");
    // DNS to any address is answered by the box's resolver, and the answer
    // comes from the address asked.
    let (answer, from) = in_ns(&lab.lan, || udp_ask(CLIENT, "198.51.100.10:53", "q"))
        .join()
        .unwrap()
        .unwrap();
    assert_eq!(answer, "box-dns 10.0.1.2 q");
    assert_eq!(from, "198.51.100.10:53".parse().unwrap());
    // SSH from the management host only.
    let ok = in_ns(&lab.lan, || tcp_send(Some(MGMT), "10.0.1.1:22", 5, 10_000))
        .join()
        .unwrap()
        .unwrap();
    assert_eq!(ok, format!("box-ssh {MGMT}"));
    let refused = in_ns(&lab.lan, || connect_outcome("10.0.1.1:22"))
        .join()
        .unwrap();
    assert_eq!(refused, "refused", "SSH from {CLIENT} must get a reset");
}

#[test]
fn two_workers_on_two_queues() {
    if skip() {
        return;
    }
    let lab = Lab::up(2);
    let log = lab.log_text();
    assert!(log.contains("worker 1: queue 1"), "{log}");
    tcp_server(&lab.wan, "198.51.100.10:5001", "wan");
    udp_server(&lab.wan, "198.51.100.10:5002", "wan");
    let results = in_ns(&lab.lan, || {
        let (tx, rx) = mpsc::channel();
        for i in 0..64u64 {
            let tx = tx.clone();
            std::thread::spawn(move || {
                let _ = tx.send(tcp_send(None, "198.51.100.10:5001", i, 30_000));
            });
        }
        drop(tx);
        let tcp: Vec<_> = rx.iter().collect();
        let udp: Vec<_> = (0..32)
            .map(|i| udp_ask(CLIENT, "198.51.100.10:5002", &format!("u{i}")))
            .collect();
        (tcp, udp)
    })
    .join()
    .unwrap();
    for r in results.0 {
        assert_eq!(r.unwrap(), "wan 10.0.2.1");
    }
    for (i, r) in results.1.into_iter().enumerate() {
        assert_eq!(r.unwrap().0, format!("wan 10.0.2.1 u{i}"));
    }
}

#[test]
fn clean_exit_leaves_nothing_and_a_killed_run_is_cleaned_up() {
    if skip() {
        return;
    }
    let mut lab = Lab::up(1);
    assert!(
        !lab.leftovers().is_empty(),
        "a running daemon shows its XDP program and TAPs"
    );
    let (st, took) = lab.stop();
    assert!(st.success(), "exit {st}:\n{}", lab.log_text());
    assert!(took < Duration::from_secs(2), "took {took:?} to stop");
    assert_eq!(lab.leftovers(), "", "left behind after SIGTERM");
    // SIGKILL leaves the XDP program; the next start removes it.
    lab.start();
    let mut c = lab.daemon.take().unwrap();
    c.kill().unwrap();
    c.wait().unwrap();
    assert!(
        lab.leftovers().contains("xdp"),
        "SIGKILL leaves the XDP program: {}",
        lab.leftovers()
    );
    lab.start();
    assert!(
        lab.log_text()
            .contains("removed the XDP program a killed sluice run left"),
        "{}",
        lab.log_text()
    );
    ping(&lab.lan, "10.0.1.1").expect("forwarding after the restart");
    let (st, _) = lab.stop();
    assert!(st.success());
    assert_eq!(lab.leftovers(), "");
}

#[test]
fn start_refused_fast_with_one_line_naming_the_cause() {
    if skip() {
        return;
    }
    let mut lab = Lab::up(1);
    // A second daemon in the same namespace.
    let t = Instant::now();
    let out = lab.run_output(&lab.config());
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(err.contains("another sluice run"), "{err}");
    assert!(t.elapsed() < Duration::from_secs(1), "{:?}", t.elapsed());
    let (st, _) = lab.stop();
    assert!(st.success());

    // A missing interface.
    let bad = lab.dir.join("missing.toml");
    std::fs::write(
        &bad,
        std::fs::read_to_string(lab.config())
            .unwrap()
            .replace("name = \"r2\"", "name = \"r9\"")
            .replace("dev = \"r2\"", "dev = \"r9\""),
    )
    .unwrap();
    let t = Instant::now();
    let out = lab.run_output(&bad);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    let errors: Vec<&str> = err.lines().filter(|l| l.contains("error")).collect();
    assert_eq!(errors.len(), 1, "{err}");
    assert!(errors[0].contains("r9"), "{err}");
    assert!(t.elapsed() < Duration::from_secs(1), "{:?}", t.elapsed());
    assert_eq!(lab.leftovers(), "", "a refused start leaves nothing");

    // An interface already holding someone else's XDP program (built with
    // clang, which the AF_XDP build needs anyway).
    let src = lab.dir.join("pass.c");
    let obj = lab.dir.join("pass.o");
    std::fs::write(
        &src,
        "__attribute__((section(\"xdp\"), used)) int foreign_pass(void *ctx) { return 2; }\n\
         char _license[] __attribute__((section(\"license\"), used)) = \"GPL\";\n",
    )
    .unwrap();
    let built = Command::new("clang")
        .args(["-O2", "-target", "bpf", "-c"])
        .arg(&src)
        .arg("-o")
        .arg(&obj)
        .status()
        .is_ok_and(|s| s.success());
    assert!(
        built,
        "clang cannot build a BPF object (scripts/bootstrap installs clang)"
    );
    lab.rtr
        .ip(&[
            "link",
            "set",
            "dev",
            "r1",
            "xdpgeneric",
            "obj",
            obj.to_str().unwrap(),
            "sec",
            "xdp",
        ])
        .unwrap();
    let t = Instant::now();
    let out = lab.run_output(&lab.config());
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    let errors: Vec<&str> = err.lines().filter(|l| l.contains("error")).collect();
    assert_eq!(errors.len(), 1, "{err}");
    assert!(errors[0].contains("r1"), "{err}");
    assert!(t.elapsed() < Duration::from_secs(1), "{:?}", t.elapsed());
    // Nothing of ours was attached, the foreign program is untouched.
    let links = lab.rtr.ip(&["-d", "link", "show"]).unwrap();
    assert!(!links.contains("sl-r"), "{links}");
    assert!(
        links.contains("foreign_pass") || links.contains("xdpgeneric"),
        "{links}"
    );
    lab.rtr
        .ip(&["link", "set", "dev", "r1", "xdpgeneric", "off"])
        .unwrap();

    // Not root.
    let out = Command::new("ip")
        .args(["netns", "exec", lab.rtr.name()])
        .args([
            "setpriv",
            "--reuid=65534",
            "--regid=65534",
            "--clear-groups",
        ])
        .arg(env!("CARGO_BIN_EXE_sluice"))
        .arg("run")
        .arg("--config")
        .arg(lab.config())
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(err.contains("needs root"), "{err}");
    assert_eq!(lab.leftovers(), "");
}

#[test]
fn a_dying_worker_stops_the_daemon_cleanly_with_an_error() {
    if skip() {
        return;
    }
    let mut lab = Lab::up(1);
    // SIGHUP re-applies the config and keeps it running.
    let pid = Pid::from_raw(lab.daemon.as_ref().unwrap().id() as i32);
    nix::sys::signal::kill(pid, Signal::SIGHUP).unwrap();
    std::thread::sleep(Duration::from_millis(300));
    assert!(lab.daemon.as_mut().unwrap().try_wait().unwrap().is_none());
    assert!(lab.log_text().contains("SIGHUP"), "{}", lab.log_text());
    let (st, _) = lab.stop();
    assert!(st.success());

    let mut child = lab.spawn_sluice_env(&lab.config(), &[("SLUICE_FAULT", "worker-panic")]);
    let st = wait_exit(&mut child);
    let log = lab.log_text();
    assert_eq!(st.code(), Some(1), "{log}");
    assert!(log.contains("worker 0 stopped unexpectedly"), "{log}");
    assert!(log.contains("worker 0 panicked"), "{log}");
    assert_eq!(
        lab.leftovers(),
        "",
        "a dead worker's sockets and TAPs are gone"
    );
}

/// The operator views through the API socket after real traffic: rule
/// counters summed over the workers land on the rules that matched,
/// `rules zero` zeroes them, conntrack shows, counts and flushes the
/// flow, the neighbour tables show the hosts the traffic went between,
/// and route/rule/sets/stats answer, each also as JSON.
#[test]
fn views_through_the_socket_after_traffic() {
    if skip() {
        return;
    }
    let lab = Lab::up(2);
    tcp_server(&lab.wan, "198.51.100.10:5001", "wan");
    in_ns(&lab.lan, || {
        tcp_send(None, "198.51.100.10:5001", 3, 1 << 20)
    })
    .join()
    .unwrap()
    .expect("a transfer through the box");
    let cfg = lab.config().to_str().unwrap().to_string();
    let ok = |args: &[&str]| {
        let mut a: Vec<&str> = args.to_vec();
        a.extend(["--config", &cfg]);
        let (code, out, err) = ctl(&a);
        assert_eq!(code, Some(0), "{args:?}: {err}");
        (out, err)
    };
    // `iptables -L FORWARD -v -n -x`: pkts, bytes, target, prot, opt, in, out.
    let forward = |out: &str| -> Vec<(u64, String, String, String)> {
        out.lines()
            .skip(2)
            .filter(|l| !l.is_empty())
            .map(|l| {
                let f: Vec<&str> = l.split_whitespace().collect();
                (
                    f[0].parse().unwrap(),
                    f[2].to_string(),
                    f[5].to_string(),
                    f[6].to_string(),
                )
            })
            .collect()
    };
    let (out, _) = ok(&["rules", "list", "FORWARD", "-v", "-n", "-x"]);
    assert!(out.starts_with("Chain FORWARD (policy DROP "), "{out}");
    let rows = forward(&out);
    // ESTABLISHED carries the transfer; r0 -> r1 ACCEPT saw its SYN.
    assert!(rows[0].0 > 100, "{out}");
    let syn = rows
        .iter()
        .find(|r| r.1 == "ACCEPT" && r.2 == "r0" && r.3 == "r1")
        .expect("the r0 -> r1 rule");
    assert_eq!(syn.0, 1, "{out}");
    let (nat, _) = ok(&[
        "rules",
        "list",
        "-t",
        "nat",
        "POSTROUTING",
        "-v",
        "-n",
        "-x",
    ]);
    let masq = nat.lines().nth(2).unwrap();
    assert!(
        masq.contains("MASQUERADE") && masq.split_whitespace().next() == Some("1"),
        "{nat}"
    );
    let (json, _) = ok(&["rules", "list", "--json"]);
    serde_json::from_str::<serde_json::Value>(&json).expect("rules list --json");
    let (save, _) = ok(&["rules", "save", "-c", "-t", "filter"]);
    assert!(save.contains("-A FORWARD -i r0 -o r1 -j ACCEPT"), "{save}");
    ok(&["rules", "zero", "FORWARD"]);
    let (out, _) = ok(&["rules", "list", "FORWARD", "-v", "-n", "-x"]);
    assert!(forward(&out).iter().all(|r| r.0 == 0), "zeroed: {out}");

    let (list, note) = ok(&["conntrack", "list", "-p", "tcp", "--dport", "5001"]);
    assert!(
        list.contains("dst=198.51.100.10") && list.contains("dport=5001"),
        "{list}"
    );
    assert!(note.contains("flow entries have been shown"), "{note}");
    let (count, _) = ok(&["conntrack", "count"]);
    assert!(count.trim().parse::<u64>().unwrap() >= 1, "{count}");
    ok(&["conntrack", "flush"]);
    let (count, _) = ok(&["conntrack", "count"]);
    assert_eq!(count, "0\n");

    let (route, _) = ok(&["route", "show"]);
    assert!(route.contains("default via 10.0.2.2 dev r1"), "{route}");
    let (route, _) = ok(&["route", "show", "table", "100"]);
    assert!(route.contains("default via 10.0.3.2 dev r2"), "{route}");
    let (rule, _) = ok(&["rule", "show"]);
    assert!(rule.contains("fwmark 0x1/0xff lookup 100"), "{rule}");
    let (sets, _) = ok(&["sets", "list"]);
    assert!(sets.contains("Name: blocklist"), "{sets}");
    // The hosts the transfer went between, learnt by ARP, valid (the
    // transfer ended moments ago: REACHABLE, or STALE/DELAY on a slow run).
    let (neigh, _) = ok(&["neigh", "show"]);
    eprintln!("$ sluice neigh show\n{neigh}");
    let valid = |l: &str| {
        ["REACHABLE ", "STALE ", "DELAY "]
            .iter()
            .any(|s| l.ends_with(s))
    };
    let line = |out: &str, start: &str| {
        out.lines()
            .find(|l| l.starts_with(start))
            .unwrap_or_else(|| panic!("no {start:?} in:\n{out}"))
            .to_string()
    };
    let client = line(&neigh, "10.0.1.2 dev r0 lladdr 02:5c:00:00:01:00 ");
    let uplink = line(&neigh, "10.0.2.2 dev r1 lladdr 02:5c:00:00:01:01 ");
    assert!(valid(&client) && valid(&uplink), "{neigh}");
    assert_eq!(
        neigh.lines().filter(|l| l.starts_with("10.0.1.2 ")).count(),
        1,
        "one line over 2 workers: {neigh}"
    );
    let (dev, _) = ok(&["neigh", "show", "dev", "r1"]);
    assert!(dev.lines().all(|l| !l.contains(" dev ")), "{dev}");
    line(&dev, "10.0.2.2 lladdr 02:5c:00:00:01:01 ");
    assert!(!dev.contains("10.0.1.2"), "{dev}");
    let (json, _) = ok(&["neigh", "show", "--json"]);
    let j: serde_json::Value = serde_json::from_str(&json).expect("neigh show --json");
    let c = j
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["dst"] == "10.0.1.2")
        .expect("the client in --json");
    assert_eq!(
        (c["dev"].as_str(), c["lladdr"].as_str()),
        (Some("r0"), Some("02:5c:00:00:01:00")),
        "{json}"
    );
    let (code, out, err) = ctl(&["neigh", "show", "dev", "eth9", "--config", &cfg]);
    assert_eq!((code, out.as_str()), (Some(1), ""));
    assert!(
        err.contains("Cannot find device \"eth9\"") && err.lines().count() == 1,
        "{err}"
    );
    let (stats, _) = ok(&["stats"]);
    eprint!("$ sluice stats\n{stats}");
    assert!(stats.contains("batch time: p50"), "{stats}");
    let (json, _) = ok(&["stats", "--json"]);
    let j = serde_json::from_str::<serde_json::Value>(&json).expect("stats --json");
    // Per port: the frames each port received, summed over the workers,
    // add up to the workers' own count (the two blocks are published one
    // after the other, so a reader may see one a batch ahead: 5 %).
    let total = &j["total"];
    let port_rx: u64 = ["r0", "r1", "r2"]
        .iter()
        .map(|p| total["ports"][p]["rx"].as_u64().expect("a port counter"))
        .sum();
    let rx = total["counters"]["rx.frames"].as_u64().unwrap();
    assert!(port_rx > 100, "{json}");
    assert!(
        port_rx.abs_diff(rx) * 20 <= rx,
        "ports {port_rx} vs worker {rx}: {json}"
    );
    assert!(total["ports"]["r0"]["rx"].as_u64() > Some(100), "{json}");
    assert!(stats.contains("  port r0: rx "), "{stats}");

    // Wrong input: the imitated tool's one line, exit 1.
    let (code, out, err) = ctl(&["rules", "list", "-t", "bogus", "--config", &cfg]);
    assert_eq!((code, out.as_str()), (Some(1), ""));
    assert!(
        err.contains("can't initialize iptables table `bogus'") && err.lines().count() == 1,
        "{err}"
    );
    let (code, _, err) = ctl(&["rules", "list", "NOPE", "--config", &cfg]);
    assert_eq!(code, Some(1));
    assert!(err.contains("No chain/target/match by that name"), "{err}");
}

/// SIGHUP re-reads the file the daemon started with and applies it as
/// `sluice apply` does; the API socket is root's only (mode 0600).
#[test]
fn sighup_reapplies_the_config_file_and_the_socket_is_0600() {
    use std::os::unix::fs::PermissionsExt;
    if skip() {
        return;
    }
    let lab = Lab::up(1);
    let mode = std::fs::metadata(lab.dir.join("sluice.sock"))
        .unwrap()
        .permissions()
        .mode();
    assert_eq!(mode & 0o777, 0o600);
    tcp_server(&lab.wan, "198.51.100.10:5001", "wan");
    let outcome = |lab: &Lab| {
        in_ns(&lab.lan, || connect_outcome("198.51.100.10:5001"))
            .join()
            .unwrap()
    };
    assert_eq!(outcome(&lab), "open");
    let rules = std::fs::read_to_string(lab.dir.join("rules.v4")).unwrap();
    let at = rules.find("-A FORWARD -i r0 -o r1 -j ACCEPT").unwrap();
    let mut new_rules = rules.clone();
    new_rules.insert_str(
        at,
        "-A FORWARD -p tcp -m tcp --dport 5001 -j REJECT --reject-with tcp-reset\n",
    );
    std::fs::write(lab.dir.join("rules.v4"), new_rules).unwrap();
    let pid = Pid::from_raw(lab.daemon.as_ref().unwrap().id() as i32);
    nix::sys::signal::kill(pid, Signal::SIGHUP).unwrap();
    let t = Instant::now();
    while !lab.log_text().contains("SIGHUP: generation 2") {
        assert!(t.elapsed() < Duration::from_secs(10), "{}", lab.log_text());
        std::thread::sleep(Duration::from_millis(50));
    }
    assert_eq!(outcome(&lab), "refused", "{}", lab.log_text());
    let cfg = lab.config().to_str().unwrap().to_string();
    let (code, hist, err) = ctl(&["history", "--config", &cfg]);
    assert_eq!(code, Some(0), "{err}");
    let last = hist.lines().last().unwrap();
    assert!(last.starts_with('*') && last.contains("SIGHUP"), "{hist}");
}

/// `sluice trace` asked of the running daemon through its socket prints
/// exactly what `sluice trace --config` prints for the same file, text and
/// JSON, for packets that take every kind of path (DNAT port forward,
/// MASQUERADE, fwmark policy routing, a drop in a user chain, local
/// delivery, REDIRECT, an ESTABLISHED reply); and a trace sends nothing:
/// the rules it matched still count zero packets.
#[test]
fn trace_through_the_socket_agrees_with_the_config_file() {
    if skip() {
        return;
    }
    let lab = Lab::up(1);
    let cfg = lab.config().to_str().unwrap().to_string();
    let sock = sluice_config::appliance::load(&lab.config())
        .unwrap()
        .control
        .socket;
    let sock = sock.to_str().unwrap().to_string();
    let packets: [&[&str]; 8] = [
        &[
            "-i",
            "r1",
            "-p",
            "tcp",
            "-s",
            "198.51.100.10",
            "-d",
            "10.0.2.1",
            "--dport",
            "8443",
        ],
        &[
            "-i",
            "r0",
            "-p",
            "tcp",
            "-s",
            "10.0.1.2",
            "--sport",
            "40000",
            "-d",
            "198.51.100.10",
            "--dport",
            "443",
        ],
        &[
            "-p",
            "tcp",
            "-s",
            "10.0.1.2",
            "-d",
            "198.51.100.10",
            "--dport",
            "873",
        ],
        &[
            "-p",
            "tcp",
            "-s",
            "198.51.100.10",
            "-d",
            "10.0.1.3",
            "--dport",
            "22",
        ],
        &[
            "-p", "tcp", "-s", "10.0.1.3", "-d", "10.0.1.1", "--dport", "22",
        ],
        &[
            "-p", "udp", "-s", "10.0.1.2", "-d", "9.9.9.9", "--dport", "53",
        ],
        &[
            "-p",
            "icmp",
            "-s",
            "10.0.1.2",
            "-d",
            "198.51.100.10",
            "--icmp-type",
            "echo-request",
        ],
        &[
            "-p",
            "tcp",
            "-s",
            "198.51.100.10",
            "--sport",
            "443",
            "-d",
            "10.0.2.1",
            "--dport",
            "40000",
            "--state",
            "ESTABLISHED",
        ],
    ];
    for p in packets {
        for json in [false, true] {
            let mut live: Vec<&str> = vec!["trace"];
            live.extend_from_slice(p);
            if json {
                live.push("--json");
            }
            let mut offline = live.clone();
            live.extend(["--socket", &sock]);
            offline.extend(["--config", &cfg]);
            let (c1, out1, err1) = ctl(&live);
            let (c2, out2, err2) = ctl(&offline);
            assert_eq!(c1, Some(0), "{live:?}: {err1}");
            assert_eq!(c2, Some(0), "{offline:?}: {err2}");
            assert!(out1.contains("verdict"), "{out1}");
            assert_eq!(out1, out2, "{p:?}");
        }
    }
    let mut port_forward = vec!["trace"];
    port_forward.extend_from_slice(packets[0]);
    port_forward.extend(["--socket", &sock]);
    let (_, out, _) = ctl(&port_forward);
    assert!(
        out.ends_with("verdict: forwarded out r0 to 10.0.1.3:8080 from 198.51.100.10:40000\n"),
        "{out}"
    );
    // Nothing was sent: the rules those traces matched counted nothing.
    let (code, save, err) = ctl(&["rules", "save", "-c", "--socket", &sock]);
    assert_eq!(code, Some(0), "{err}");
    for rule in [
        "-A PREROUTING -d 10.0.2.1/32 -p tcp -m tcp --dport 8443 -j DNAT --to-destination 10.0.1.3:8080",
        "-A FORWARD -i r0 -o r1 -j ACCEPT",
        "-A FORWARD -i r0 -o r2 -j ACCEPT",
        "-A POSTROUTING -o r1 -j MASQUERADE",
    ] {
        let line = save
            .lines()
            .find(|l| l.ends_with(rule))
            .unwrap_or_else(|| panic!("no `{rule}` in\n{save}"));
        assert!(line.starts_with("[0:0] "), "{line}");
    }
    // The daemon's errors come back as one line, exit 1.
    let (code, _, err) = ctl(&[
        "trace", "-i", "eth9", "-p", "tcp", "-s", "10.0.1.2", "-d", "8.8.8.8", "--socket", &sock,
    ]);
    assert_eq!(code, Some(1), "{err}");
    assert_eq!(
        err,
        "sluice: error: -i `eth9`: no such interface (the config has r0, r1, r2)\n"
    );
}
