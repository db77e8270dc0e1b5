//! Faults (issue 16, part 3), end to end in the lab (`common::Lab`): what
//! the daemon does when the world around it fails.
//!
//! Needs root and network namespaces; otherwise each test prints `SKIP:`
//! and passes.

mod common;

use std::net::UdpSocket;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::*;
use sluice_bench::netns::Netns;

/// `sluice run`'s counters now (SIGUSR1), as the log shows them.
fn usr1_counters(lab: &Lab) -> String {
    let before = lab.log_text().len();
    let pid = nix::unistd::Pid::from_raw(lab.daemon.as_ref().unwrap().id() as i32);
    nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGUSR1).unwrap();
    let mut out = String::new();
    wait_for("counters after SIGUSR1", || {
        out = lab.log_text()[before..].to_string();
        out.contains("sluice: counters")
    });
    out
}

/// The `sluice: link NAME: down N up N ...` counters of `name`.
fn link_counts(counters: &str, name: &str) -> Vec<(String, u64)> {
    let prefix = format!("sluice: link {name}:");
    let line = counters
        .lines()
        .find(|l| l.starts_with(&prefix))
        .unwrap_or_else(|| panic!("no {prefix} line in {counters}"));
    let f: Vec<&str> = line[prefix.len()..].split_whitespace().collect();
    f.chunks(2)
        .map(|kv| (kv[0].to_string(), kv[1].parse().unwrap()))
        .collect()
}

/// Whether `sluice run`'s worker slept lately (it does not spin on a dead
/// socket): the `worker.sleeps` counter grows between two looks.
fn sleeps(lab: &Lab) -> u64 {
    let c = usr1_counters(lab);
    c.lines()
        .rev()
        .find_map(|l| l.strip_prefix("sluice: worker 0: "))
        .and_then(|l| {
            let f: Vec<&str> = l.split_whitespace().collect();
            f.iter()
                .position(|&w| w == "sleeps")
                .and_then(|i| f.get(i + 1))
                .and_then(|v| v.parse().ok())
        })
        .unwrap_or(0)
}

/// Waits (10 s at most) for the idle worker to sleep in `poll(2)` again:
/// its sleep counter grows. A worker kept awake (a port that always has
/// frames to send, a descriptor that always polls readable) never does;
/// a busy machine only delays it (256 empty turns come first).
fn wait_sleeping(lab: &Lab, what: &str) {
    let s0 = sleeps(lab);
    let t = Instant::now();
    while t.elapsed() < Duration::from_secs(10) {
        std::thread::sleep(Duration::from_millis(250));
        if sleeps(lab) > s0 {
            return;
        }
    }
    panic!("the idle worker did not sleep in 10 s {what}");
}

/// Whether a TCP exchange through the policy route (rsync, port 873,
/// marked and sent by the second uplink `r2`) works now.
fn via_r2(lab: &Lab, seed: u64) -> Result<String, String> {
    in_ns(&lab.lan, move || {
        tcp_send(None, "198.51.100.10:873", seed, 10_000)
    })
    .join()
    .unwrap()
}

/// An interface taken down and up, then another taken down, deleted and
/// re-created (with the same name, up) while the daemon runs: each change is one log
/// line and a counter; forwarding through the other interfaces goes on,
/// the worker does not spin on the dead socket (it still sleeps when
/// idle), and the re-created interface's port is reopened so traffic
/// through it flows again; the daemon stops cleanly afterwards.
#[test]
fn links_down_up_deleted_and_back() {
    if skip() {
        return;
    }
    let mut lab = Lab::up(1);
    tcp_server(&lab.wan2, "198.51.100.10:873", "wan2");
    assert_eq!(via_r2(&lab, 1).unwrap(), "wan2 10.0.3.1");

    // A stream through r1 when it goes down: frames are on its TX ring
    // before the daemon notices, and the kernel keeps them there.
    let stop = Arc::new(AtomicBool::new(false));
    let stream = udp_seq_stream(
        &lab.lan,
        "198.51.100.10:5009",
        2000,
        Arc::clone(&stop),
        Arc::new(AtomicU64::new(0)),
    );
    std::thread::sleep(Duration::from_millis(200));
    lab.rtr.ip(&["link", "set", "r1", "down"]).unwrap();
    wait_for("r1: link down", || lab.log_text().contains("r1: link down"));
    std::thread::sleep(Duration::from_millis(200));
    stop.store(true, Ordering::Relaxed);
    stream.join().unwrap();
    assert!(
        lab.lan
            .run(&["ping", "-c", "1", "-W", "1", "198.51.100.10"])
            .is_err(),
        "the uplink is down"
    );
    // Frames routed to the down link do not keep the worker awake.
    wait_sleeping(&lab, "while r1 is down");
    lab.rtr.ip(&["link", "set", "r1", "up"]).unwrap();
    wait_for("r1: link up", || lab.log_text().contains("r1: link up"));
    wait_for("forwarding through r1 again", || {
        ping(&lab.lan, "198.51.100.10").is_ok()
    });

    // r2 goes down first: the re-created r2 (up) must not inherit that.
    lab.rtr.ip(&["link", "set", "r2", "down"]).unwrap();
    wait_for("r2: link down", || lab.log_text().contains("r2: link down"));
    lab.rtr.ip(&["link", "del", "r2"]).unwrap();
    wait_for("r2 gone", || {
        lab.log_text().contains("r2: the interface is gone")
    });
    wait_sleeping(&lab, "while r2 is gone (no spinning on its dead socket)");
    ping(&lab.lan, "198.51.100.10").expect("forwarding through r1 while r2 is gone");
    ping(&lab.lan, "10.0.1.1").expect("the box answers while r2 is gone");

    lab.add_link("r2", 1);
    wait_for("r2's port reopened", || {
        lab.log_text().contains("r2: port reopened")
    });
    if let Some(l) = lab
        .log_text()
        .lines()
        .find(|l| l.contains("r2: port reopened"))
    {
        eprintln!("{l}");
    }
    let t = Instant::now();
    let mut last = via_r2(&lab, 2);
    while last.is_err() && t.elapsed() < Duration::from_secs(10) {
        std::thread::sleep(Duration::from_millis(200));
        last = via_r2(&lab, 3);
    }
    assert_eq!(last.unwrap(), "wan2 10.0.3.1", "through the re-created r2");

    let c = usr1_counters(&lab);
    let r1 = link_counts(&c, "r1");
    let r2 = link_counts(&c, "r2");
    let get = |v: &[(String, u64)], k: &str| v.iter().find(|(n, _)| n == k).map(|(_, v)| *v);
    assert_eq!(
        (get(&r1, "down"), get(&r1, "up")),
        (Some(1), Some(1)),
        "{c}"
    );
    // (r2 may also count an `up`: the watcher can see the new r2 before
    // `ip link set up`.)
    assert_eq!(
        (get(&r1, "gone"), get(&r2, "down")),
        (Some(0), Some(1)),
        "{c}"
    );
    assert_eq!(
        (
            get(&r2, "gone"),
            get(&r2, "back"),
            get(&r2, "reopen_failed")
        ),
        (Some(1), Some(1), Some(0)),
        "{c}"
    );
    eprintln!(
        "link counters after the test:\n{}",
        c.lines()
            .filter(|l| l.contains("link"))
            .collect::<Vec<_>>()
            .join("\n")
    );
    let (st, _) = lab.stop();
    assert!(st.success(), "{}", lab.log_text());
    assert_eq!(lab.leftovers(), "");
}

/// A UDP receiver in `ns` on `addr` recording when each numbered datagram
/// ([`udp_seq_stream`]) arrived, until `stop`.
fn udp_arrivals(
    ns: &Netns,
    addr: &'static str,
    stop: Arc<AtomicBool>,
) -> Arc<Mutex<Vec<(u64, Instant)>>> {
    let s = in_ns(ns, move || UdpSocket::bind(addr))
        .join()
        .unwrap()
        .unwrap_or_else(|e| panic!("bind {addr}: {e}"));
    s.set_read_timeout(Some(Duration::from_millis(100)))
        .unwrap();
    let got = Arc::new(Mutex::new(Vec::new()));
    let g = Arc::clone(&got);
    std::thread::spawn(move || {
        let mut buf = [0u8; 2048];
        while !stop.load(Ordering::Relaxed) {
            if let Ok(k) = s.recv(&mut buf) {
                if k >= 8 {
                    let n = u64::from_be_bytes(buf[..8].try_into().unwrap());
                    g.lock().unwrap().push((n, Instant::now()));
                }
            }
        }
    });
    got
}

/// `kill -9` of the daemon while a UDP stream (2 000 datagrams/s) crosses
/// it: the XDP programs stay behind (the TAPs go with the process); a new
/// `sluice run` removes them and forwards the stream again. The time from
/// the new `sluice run` to the stream's first datagram through it is
/// printed (the README's figure); the bound asserted is a generous 10 s
/// so a loaded machine does not make the test flaky.
#[test]
fn kill_9_under_traffic_then_run_again_forwards() {
    if skip() {
        return;
    }
    let mut lab = Lab::up(1);
    let stop = Arc::new(AtomicBool::new(false));
    let got = udp_arrivals(&lab.wan, "198.51.100.10:5003", Arc::clone(&stop));
    let sent = Arc::new(AtomicU64::new(0));
    let stream = udp_seq_stream(
        &lab.lan,
        "198.51.100.10:5003",
        2000,
        Arc::clone(&stop),
        Arc::clone(&sent),
    );
    wait_for("the stream through the daemon", || {
        got.lock().unwrap().len() > 500
    });
    let mut c = lab.daemon.take().unwrap();
    c.kill().unwrap();
    c.wait().unwrap();
    let killed_at = Instant::now();
    let left = lab.leftovers();
    assert!(
        left.contains("xdp"),
        "SIGKILL leaves the XDP programs: {left}"
    );
    assert!(
        !left.contains("sl-r"),
        "the TAPs go with the process: {left}"
    );
    std::thread::sleep(Duration::from_millis(300));
    let before = got.lock().unwrap().len();
    assert!(
        got.lock()
            .unwrap()
            .iter()
            .all(|&(_, t)| t < killed_at + Duration::from_millis(100)),
        "nothing crosses while no daemon runs"
    );

    let restart = Instant::now();
    lab.start();
    let running = restart.elapsed();
    let mut first = None;
    let t = Instant::now();
    while first.is_none() && t.elapsed() < Duration::from_secs(10) {
        first = got.lock().unwrap().get(before).map(|&(_, at)| at);
        std::thread::sleep(Duration::from_millis(5));
    }
    let first = first.expect("the stream crosses the restarted daemon within 10 s");
    let took = first.duration_since(restart);
    eprintln!(
        "kill -9 then sluice run: 'running:' after {} ms, first datagram of the stream through it after {} ms",
        running.as_millis(),
        took.as_millis()
    );
    assert!(
        lab.log_text()
            .contains("removed the XDP program a killed sluice run left"),
        "{}",
        lab.log_text()
    );
    std::thread::sleep(Duration::from_millis(300));
    stop.store(true, Ordering::Relaxed);
    let n = stream.join().unwrap();
    let arrived = got.lock().unwrap().len();
    assert!(
        arrived > before + 200,
        "{arrived} of {n} datagrams arrived, {before} before the restart"
    );
    let (st, _) = lab.stop();
    assert!(st.success(), "{}", lab.log_text());
    assert_eq!(lab.leftovers(), "");
}

/// The control socket's peer dying mid-request: half a request then
/// gone, a whole request then gone before the answer, and a peer that
/// hangs on half a request while another client waits and then dies.
/// The daemon answers the next request at once each time (a dead peer
/// is an end of file, not a timeout), keeps forwarding and is still
/// running.
#[test]
fn control_socket_peer_dying_mid_request() {
    use sluice_control::api::proto::{encode_request, Request};
    use std::io::Write;
    use std::os::unix::net::UnixStream;
    if skip() {
        return;
    }
    let mut lab = Lab::up(1);
    let sock = lab.dir.join("sluice.sock");
    let sock_s = sock.to_str().unwrap().to_string();
    let history = || {
        let (code, out, err) = ctl(&["history", "--socket", &sock_s]);
        assert_eq!(code, Some(0), "{out}{err}");
        assert!(out.contains("started"), "{out}");
    };
    let whole = encode_request(&Request::History);
    let half = &whole.as_bytes()[..whole.len() / 2];
    {
        let mut s = UnixStream::connect(&sock).unwrap();
        s.write_all(half).unwrap();
    }
    history();
    {
        let mut s = UnixStream::connect(&sock).unwrap();
        s.write_all(whole.as_bytes()).unwrap();
    }
    history();
    // Hangs on half a request, then dies after 500 ms while a client
    // waits behind it: that client is served right after the death.
    let hung = {
        let mut s = UnixStream::connect(&sock).unwrap();
        s.write_all(half).unwrap();
        s
    };
    std::thread::sleep(Duration::from_millis(100));
    let waiting = std::thread::spawn({
        let sock_s = sock_s.clone();
        move || {
            let t = Instant::now();
            let r = ctl(&["history", "--socket", &sock_s]);
            (r, t.elapsed())
        }
    });
    std::thread::sleep(Duration::from_millis(500));
    drop(hung);
    let ((code, out, err), took) = waiting.join().unwrap();
    assert_eq!(code, Some(0), "{out}{err}");
    assert!(
        took < Duration::from_secs(3),
        "the waiting client took {took:?}: the dead peer was not noticed at once"
    );
    assert!(lab.daemon.as_mut().unwrap().try_wait().unwrap().is_none());
    ping(&lab.lan, "198.51.100.10").expect("forwarding goes on");
    let (st, _) = lab.stop();
    assert!(st.success(), "{}", lab.log_text());
}

/// A tmpfs of `size` mounted on `dir` for the test, unmounted on drop.
struct Tmpfs(std::path::PathBuf);

impl Tmpfs {
    fn mount(dir: std::path::PathBuf, size: &str) -> Tmpfs {
        std::fs::create_dir_all(&dir).unwrap();
        let st = std::process::Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={size}"), "sluice-test"])
            .arg(&dir)
            .status()
            .unwrap();
        assert!(st.success(), "mount a tmpfs on {}", dir.display());
        Tmpfs(dir)
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let _ = std::process::Command::new("umount")
            .arg("-l")
            .arg(&self.0)
            .status();
    }
}

/// The value of `sluice_log_dropped_total{reason="sink"}` in a scrape.
fn sink_dropped(lab: &Lab) -> u64 {
    let (_, _, body) = http(lab, "127.0.0.1:9479", "GET", "/metrics");
    body.lines()
        .find_map(|l| l.strip_prefix("sluice_log_dropped_total{reason=\"sink\"} "))
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or_else(|| panic!("no sink drop counter in\n{body}"))
}

/// The LOG sink full: `[control] log` on a 16 KiB tmpfs and a stream of
/// datagrams the ruleset logs (FORWARD's LOG_AND_DROP, from the uplink
/// to the LAN, its rate limit taken out). The file fills, later records are dropped and counted
/// (`sluice_log_dropped_total{reason="sink"}`), the daemon says so in one
/// line (not a line per record) and forwarding is unaffected — a 1 MB TCP
/// transfer through NAT with every byte checked and echo replies — while
/// the sink is full; when room is made the sink writes again and says so.
#[test]
fn log_sink_full_drops_are_counted_and_forwarding_goes_on() {
    if skip() {
        return;
    }
    let mut lab = Lab::topology(
        1,
        "log = \"full/sluice.log\"\nmetrics = \"127.0.0.1:9479\"\n",
    );
    let _fs = Tmpfs::mount(lab.dir.join("full"), "16k");
    // Every dropped datagram logged (the example limits LOG to 5/min).
    let rules = lab.dir.join("rules.v4");
    let text = std::fs::read_to_string(&rules).unwrap();
    std::fs::write(
        &rules,
        text.replace("-m limit --limit 5/min -j LOG", "-j LOG"),
    )
    .unwrap();
    lab.start();
    tcp_server(&lab.wan, "198.51.100.10:5001", "wan");
    let burst = |lab: &Lab, n: u32| {
        in_ns(&lab.wan, move || {
            let s = UdpSocket::bind(("10.0.2.2", 0)).unwrap();
            for _ in 0..n {
                s.send_to(b"probe", "10.0.1.2:9999").unwrap();
                std::thread::sleep(Duration::from_micros(500));
            }
        })
        .join()
        .unwrap();
    };
    burst(&lab, 400);
    wait_for("records dropped by the full sink", || {
        sink_dropped(&lab) > 0
    });
    let file = lab.dir.join("full/sluice.log");
    let size = std::fs::metadata(&file).unwrap().len();
    assert!(size <= 16 * 1024, "{size}");
    let r = in_ns(&lab.lan, || {
        tcp_send(None, "198.51.100.10:5001", 7, 1_000_000)
    })
    .join()
    .unwrap();
    assert_eq!(r.unwrap(), "wan 10.0.2.1", "forwarding with the sink full");
    ping(&lab.lan, "198.51.100.10").expect("echo with the sink full");
    burst(&lab, 100);
    let dropped = sink_dropped(&lab);
    let log = lab.log_text();
    let complaints = log
        .lines()
        .filter(|l| l.contains("LOG sink") && l.contains("dropping LOG records"))
        .count();
    assert_eq!(
        complaints, 1,
        "one line for the streak, not one a record:\n{log}"
    );
    eprintln!("sink full: {dropped} record(s) dropped and counted, the file at {size} bytes");
    // Room again: the sink writes and says how many it dropped.
    std::fs::write(&file, "").unwrap();
    burst(&lab, 5);
    wait_for("the sink writing again", || {
        lab.log_text().contains("writing again")
    });
    let (st, _) = lab.stop();
    assert!(st.success(), "{}", lab.log_text());
}

/// The rules file rewritten in place (truncated, then written a table at
/// a time with pauses, as a slow editor or script would) over and over
/// while `sluice apply` reads it: every apply either takes the old or the
/// new file whole (its rule count is one of the two), or refuses with one
/// line naming the file — never a half-file applied. The two versions
/// differ in every table, so a file cut after any table's COMMIT has a
/// count of its own.
#[test]
fn rules_file_rewritten_while_apply_reads_it() {
    use std::io::Write;
    if skip() {
        return;
    }
    let mut lab = Lab::up(1);
    let rules = lab.dir.join("rules.v4");
    let base = std::fs::read_to_string(&rules).unwrap();
    // Version B: one more rule in each table that has a chain to take it.
    let b: String = base
        .split_inclusive("COMMIT\n")
        .map(|t| {
            let chain = if t.contains("*nat") {
                "POSTROUTING"
            } else {
                "FORWARD"
            };
            t.replace(
                "\nCOMMIT\n",
                &format!("\n-A {chain} -p udp -m udp --dport 7 -j ACCEPT\nCOMMIT\n"),
            )
        })
        .collect();
    let count = |t: &str| t.lines().filter(|l| l.starts_with("-A ")).count();
    let (na, nb) = (count(&base), count(&b));
    assert_ne!(na, nb);
    let chunks =
        |t: &str| -> Vec<String> { t.split_inclusive("COMMIT\n").map(str::to_string).collect() };
    let (ca, cb) = (chunks(&base), chunks(&b));
    assert!(ca.len() >= 3, "the lab's ruleset has several tables");
    let stop = Arc::new(AtomicBool::new(false));
    let writer = {
        let (stop, rules) = (Arc::clone(&stop), rules.clone());
        std::thread::spawn(move || {
            let mut n = 0u32;
            while !stop.load(Ordering::Relaxed) {
                let parts = if n.is_multiple_of(2) { &cb } else { &ca };
                let Ok(mut f) = std::fs::File::create(&rules) else {
                    return;
                };
                for p in parts {
                    let _ = f.write_all(p.as_bytes());
                    std::thread::sleep(Duration::from_millis(15));
                }
                drop(f);
                n += 1;
                std::thread::sleep(Duration::from_millis(60 + u64::from(n % 5) * 20));
            }
        })
    };
    let cfg = lab.config().to_str().unwrap().to_string();
    let (mut took, mut refused) = (0, 0);
    for _ in 0..12 {
        let (code, out, err) = ctl(&["apply", "--config", &cfg]);
        let text = format!("{out}{err}");
        if code == Some(0) {
            let (_, rs, _) = ctl(&[
                "rules",
                "save",
                "--socket",
                lab.dir.join("sluice.sock").to_str().unwrap(),
            ]);
            let n = count(&rs);
            assert!(
                n == na || n == nb,
                "a half file applied: {n} rules, the versions have {na} and {nb}\n{text}\n{rs}"
            );
            took += 1;
        } else {
            assert_eq!(code, Some(1), "{text}");
            assert!(
                text.contains("rules.v4"),
                "the refusal names the file: {text}"
            );
            refused += 1;
        }
    }
    stop.store(true, Ordering::Relaxed);
    writer.join().unwrap();
    eprintln!("applies while the rules file was rewritten: {took} took a whole version, {refused} refused");
    assert!(took > 0, "some apply found the file still");
    assert!(lab.daemon.as_mut().unwrap().try_wait().unwrap().is_none());
}

/// The first interface deleted and re-created, with two workers: each
/// worker's socket on it is the one its UMEM is registered with, which
/// cannot be reopened, so when the interface is back the daemon stops
/// cleanly (exit 1, one line saying why, nothing left behind) for its
/// supervisor to start it again — and started again it forwards the LAN
/// behind it.
#[test]
fn the_first_interface_back_stops_the_daemon_for_a_restart() {
    if skip() {
        return;
    }
    let mut lab = Lab::up(2);
    ping(&lab.lan, "198.51.100.10").expect("forwarding before");
    lab.rtr.ip(&["link", "del", "r0"]).unwrap();
    wait_for("r0 gone", || {
        lab.log_text().contains("r0: the interface is gone")
    });
    lab.add_link("r0", 2);
    let mut child = lab.daemon.take().unwrap();
    let st = wait_exit(&mut child);
    let log = lab.log_text();
    assert_eq!(st.code(), Some(1), "{log}");
    assert!(
        log.contains("r0: its port cannot be reopened") && log.contains("Restart=on-failure"),
        "{log}"
    );
    assert_eq!(lab.leftovers(), "", "stopped cleanly");
    lab.start();
    wait_for("forwarding from the LAN after the restart", || {
        ping(&lab.lan, "198.51.100.10").is_ok()
    });
    let (st, _) = lab.stop();
    assert!(st.success(), "{}", lab.log_text());
    assert_eq!(lab.leftovers(), "");
}

/// Each reopen writes off the chunks the dead socket's rings held (2 048
/// here, the fill ring); once reopens have written off half of a
/// worker's UMEM (12 288 chunks with three interfaces: the third reopen)
/// the daemon stops cleanly with exit 1, saying why, for its supervisor
/// to start it again with all of them — rather than forward on until the
/// worker runs dry.
#[test]
fn reopens_that_write_off_half_the_umem_stop_for_a_restart() {
    if skip() {
        return;
    }
    let mut lab = Lab::up(1);
    for n in 1..=3 {
        lab.rtr.ip(&["link", "del", "r2"]).unwrap();
        wait_for("r2 gone", || {
            lab.log_text().matches("r2: the interface is gone").count() == n
        });
        lab.add_link("r2", 1);
        wait_for("r2's port reopened", || {
            lab.log_text().matches("r2: port reopened").count() == n
        });
    }
    let mut child = lab.daemon.take().unwrap();
    let st = wait_exit(&mut child);
    let log = lab.log_text();
    assert_eq!(st.code(), Some(1), "{log}");
    assert!(
        log.contains("written off 6144 of a worker's 12288 UMEM chunks"),
        "{log}"
    );
    assert_eq!(lab.leftovers(), "", "stopped cleanly");
}
