//! End to end: `sluice run` as the gateway of the lab's topology
//! (`scripts/lab`: namespaces `lan`, `rtr`, `wan`, `wan2` joined by veth
//! pairs, config/examples/lab), with real sockets of the namespaces' own
//! kernels talking through it. Each test builds its own namespaces (unique
//! names, deleted on drop even when the test fails) and stops its daemon.
//!
//! Needs root and network namespaces; otherwise each test prints `SKIP:`
//! and passes, as the kernel-oracle tests do.

use std::fs::File;
use std::io::{Read, Write};
use std::net::{Ipv4Addr, SocketAddr, TcpListener, TcpStream, UdpSocket};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use nix::sched::CloneFlags;
use nix::sys::signal::Signal;
use nix::unistd::Pid;
use sluice_bench::frames::MacAddr;
use sluice_bench::netns::Netns;

const CLIENT: Ipv4Addr = Ipv4Addr::new(10, 0, 1, 2);
const MGMT: Ipv4Addr = Ipv4Addr::new(10, 0, 1, 3);
const GW_WAN: Ipv4Addr = Ipv4Addr::new(10, 0, 2, 1);
const GW_WAN2: Ipv4Addr = Ipv4Addr::new(10, 0, 3, 1);

fn skip() -> bool {
    if let Some(why) = sluice_bench::kernel::skip_reason() {
        eprintln!("SKIP: {why}");
        return true;
    }
    false
}

/// The lab: four namespaces and the daemon in `rtr`.
struct Lab {
    daemon: Option<Child>,
    log: PathBuf,
    dir: PathBuf,
    // Dropped after the daemon (field order).
    lan: Netns,
    rtr: Netns,
    wan: Netns,
    wan2: Netns,
}

fn mac(a: u8, b: u8) -> MacAddr {
    MacAddr([2, 0x5c, 0, 0, a, b])
}

impl Lab {
    /// The topology, with `workers` workers (each veth has 4 queues).
    fn up(workers: u32) -> Lab {
        let ns = || Netns::new().expect("create a namespace");
        let (lan, rtr, wan, wan2) = (ns(), ns(), ns(), ns());
        let dir =
            std::env::temp_dir().join(format!("sluice-lab-{}-{}", std::process::id(), rtr.name()));
        std::fs::create_dir_all(&dir).unwrap();
        let mut lab = Lab {
            daemon: None,
            log: dir.join("sluice.log"),
            dir,
            lan,
            rtr,
            wan,
            wan2,
        };
        let pairs = [
            ("r0", 0, &lab.lan, "l0"),
            ("r1", 1, &lab.wan, "w0"),
            ("r2", 2, &lab.wan2, "v0"),
        ];
        let q = workers.to_string();
        for (r, i, ns, peer) in pairs {
            // As many queues as workers: a frame on a queue no worker
            // serves would never reach sluice.
            lab.rtr
                .ip(&[
                    "link",
                    "add",
                    r,
                    "address",
                    &mac(0, i).to_string(),
                    "numrxqueues",
                    &q,
                    "numtxqueues",
                    &q,
                    "type",
                    "veth",
                    "peer",
                    "name",
                    peer,
                    "address",
                    &mac(1, i).to_string(),
                    "numrxqueues",
                    &q,
                    "numtxqueues",
                    &q,
                    "netns",
                    ns.name(),
                ])
                .unwrap();
            lab.rtr.link_up(r).unwrap();
            ns.tx_offload_off(peer).unwrap();
            ns.link_up(peer).unwrap();
        }
        for (ns, script) in [
            (
                &lab.lan,
                "addr add 10.0.1.2/24 dev l0\naddr add 10.0.1.3/24 dev l0\nroute add default via 10.0.1.1\n",
            ),
            (
                &lab.wan,
                "addr add 10.0.2.2/24 dev w0\naddr add 198.51.100.10/32 dev lo\nroute add 10.0.1.0/24 via 10.0.2.1\n",
            ),
            (
                &lab.wan2,
                "addr add 10.0.3.2/24 dev v0\naddr add 198.51.100.10/32 dev lo\n",
            ),
        ] {
            let out = ns.batch(&[], script).unwrap();
            assert!(
                out.status.success(),
                "{}",
                String::from_utf8_lossy(&out.stderr)
            );
        }
        let example = Path::new(env!("CARGO_MANIFEST_DIR")).join("../config/examples/lab");
        for f in ["rules.v4", "sets.save"] {
            std::fs::copy(example.join(f), lab.dir.join(f)).unwrap();
        }
        let toml = std::fs::read_to_string(example.join("sluice.toml"))
            .unwrap()
            .replace("workers = 1", &format!("workers = {workers}"));
        std::fs::write(lab.dir.join("sluice.toml"), toml).unwrap();
        lab.start();
        lab
    }

    fn config(&self) -> PathBuf {
        self.dir.join("sluice.toml")
    }

    /// `sluice run` in `rtr`, waiting for its "running:" line.
    fn start(&mut self) {
        let child = self.spawn_sluice(&self.config());
        self.daemon = Some(child);
        let t = Instant::now();
        loop {
            let log = self.log_text();
            if log.contains("running:") {
                return;
            }
            if let Some(st) = self.daemon.as_mut().unwrap().try_wait().unwrap() {
                self.daemon = None;
                panic!("sluice run exited ({st}) before running:\n{log}");
            }
            assert!(
                t.elapsed() < Duration::from_secs(20),
                "sluice run not running after 20 s:\n{log}"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    fn spawn_sluice(&self, config: &Path) -> Child {
        Command::new("ip")
            .args([
                "netns",
                "exec",
                self.rtr.name(),
                env!("CARGO_BIN_EXE_sluice"),
            ])
            .arg("run")
            .arg("--config")
            .arg(config)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(File::create(&self.log).unwrap())
            .spawn()
            .expect("start sluice run")
    }

    fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// SIGTERM; the exit status and how long the daemon took.
    fn stop(&mut self) -> (std::process::ExitStatus, Duration) {
        let mut child = self.daemon.take().expect("a running daemon");
        let t = Instant::now();
        nix::sys::signal::kill(Pid::from_raw(child.id() as i32), Signal::SIGTERM).unwrap();
        loop {
            if let Some(st) = child.try_wait().unwrap() {
                return (st, t.elapsed());
            }
            if t.elapsed() > Duration::from_secs(10) {
                let _ = child.kill();
                panic!("sluice run still running 10 s after SIGTERM");
            }
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    /// What a stopped daemon must not leave in `rtr`: an XDP program or a
    /// TAP. An empty string when clean.
    fn leftovers(&self) -> String {
        let links = self.rtr.ip(&["-d", "link", "show"]).unwrap();
        links
            .lines()
            .filter(|l| l.contains("xdp") || l.contains("sl-r") || l.contains("tun"))
            .collect::<Vec<_>>()
            .join("\n")
    }
}

impl Drop for Lab {
    fn drop(&mut self) {
        if let Some(mut c) = self.daemon.take() {
            let _ = nix::sys::signal::kill(Pid::from_raw(c.id() as i32), Signal::SIGTERM);
            let t = Instant::now();
            while c.try_wait().ok().flatten().is_none() && t.elapsed() < Duration::from_secs(3) {
                std::thread::sleep(Duration::from_millis(20));
            }
            let _ = c.kill();
            let _ = c.wait();
        }
        if std::thread::panicking() {
            eprintln!("--- sluice run log ---\n{}", self.log_text());
        }
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// Runs `f` on a thread inside `ns` (threads it spawns stay there).
fn in_ns<T: Send + 'static>(ns: &Netns, f: impl FnOnce() -> T + Send + 'static) -> JoinHandle<T> {
    let path = ns.path();
    std::thread::spawn(move || {
        let fd = File::open(&path).expect("open the namespace");
        nix::sched::setns(&fd, CloneFlags::CLONE_NEWNET).expect("setns");
        f()
    })
}

/// FNV-1a over the bytes: what the TCP server answers and the client checks.
fn fnv(h: u64, bytes: &[u8]) -> u64 {
    bytes
        .iter()
        .fold(h, |h, &b| (h ^ u64::from(b)).wrapping_mul(0x100_0000_01b3))
}
const FNV0: u64 = 0xcbf2_9ce4_8422_2325;

/// The bytes client `seed` sends.
fn payload(seed: u64, n: usize) -> Vec<u8> {
    let mut x = seed.wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1;
    (0..n)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x as u8
        })
        .collect()
}

/// A TCP server in `ns` on `addr`: for each connection, reads to EOF and
/// answers `NAME PEER BYTES HASH`. Runs until the process ends.
fn tcp_server(ns: &Netns, addr: &str, name: &'static str) {
    let addr: SocketAddr = addr.parse().unwrap();
    let l = in_ns(ns, move || TcpListener::bind(addr))
        .join()
        .unwrap()
        .unwrap_or_else(|e| panic!("bind {addr}: {e}"));
    std::thread::spawn(move || {
        for c in l.incoming() {
            let Ok(mut c) = c else { continue };
            std::thread::spawn(move || {
                let peer = c
                    .peer_addr()
                    .map(|a| a.ip().to_string())
                    .unwrap_or_default();
                let _ = c.set_read_timeout(Some(Duration::from_secs(30)));
                let (mut n, mut h, mut buf) = (0usize, FNV0, vec![0u8; 65536]);
                loop {
                    match c.read(&mut buf) {
                        Ok(0) => break,
                        Ok(k) => {
                            n += k;
                            h = fnv(h, &buf[..k]);
                        }
                        Err(_) => return,
                    }
                }
                let _ = writeln!(c, "{name} {peer} {n} {h:x}");
            });
        }
    });
}

/// A UDP server in `ns` on `addr`: answers each datagram `NAME PEER TEXT`.
fn udp_server(ns: &Netns, addr: &str, name: &'static str) {
    let addr: SocketAddr = addr.parse().unwrap();
    let s = in_ns(ns, move || UdpSocket::bind(addr))
        .join()
        .unwrap()
        .unwrap_or_else(|e| panic!("bind {addr}: {e}"));
    std::thread::spawn(move || {
        let mut buf = [0u8; 2048];
        while let Ok((k, peer)) = s.recv_from(&mut buf) {
            let text = String::from_utf8_lossy(&buf[..k]).into_owned();
            let _ = s.send_to(format!("{name} {} {text}", peer.ip()).as_bytes(), peer);
        }
    });
}

/// Sends `n` bytes over TCP from `src` (any when `None`) to `dst` and
/// returns the server's answer after checking its count and hash.
fn tcp_send(src: Option<Ipv4Addr>, dst: &str, seed: u64, n: usize) -> Result<String, String> {
    let dst: SocketAddr = dst.parse().unwrap();
    let sock = socket2_like_connect(src, dst)?;
    let mut c = sock;
    c.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
    c.set_write_timeout(Some(Duration::from_secs(20))).unwrap();
    let data = payload(seed, n);
    c.write_all(&data)
        .map_err(|e| format!("write to {dst}: {e}"))?;
    c.shutdown(std::net::Shutdown::Write).unwrap();
    let mut answer = String::new();
    c.read_to_string(&mut answer)
        .map_err(|e| format!("read from {dst}: {e}"))?;
    let f: Vec<&str> = answer.split_whitespace().collect();
    let want = (n.to_string(), format!("{:x}", fnv(FNV0, &data)));
    if f.len() != 4 || (f[2].to_string(), f[3].to_string()) != want {
        return Err(format!(
            "{dst}: answer {answer:?}, want {} bytes hash {}",
            want.0, want.1
        ));
    }
    Ok(format!("{} {}", f[0], f[1]))
}

/// A TCP connection from `src` (bound first, when given) to `dst`, 3 s
/// timeout.
fn socket2_like_connect(src: Option<Ipv4Addr>, dst: SocketAddr) -> Result<TcpStream, String> {
    match src {
        None => TcpStream::connect_timeout(&dst, Duration::from_secs(3))
            .map_err(|e| format!("connect {dst}: {e}")),
        Some(src) => {
            // std has no bind-then-connect: use the `ip`-free way, a
            // source address the kernel picks by route... except when the
            // test needs a specific one: bind through nix.
            use nix::sys::socket::{
                bind, connect, socket, AddressFamily, SockFlag, SockType, SockaddrIn,
            };
            let fd = socket(
                AddressFamily::Inet,
                SockType::Stream,
                SockFlag::SOCK_CLOEXEC,
                None,
            )
            .map_err(|e| e.to_string())?;
            let fd_raw = std::os::fd::AsRawFd::as_raw_fd(&fd);
            bind(
                fd_raw,
                &SockaddrIn::from(std::net::SocketAddrV4::new(src, 0)),
            )
            .map_err(|e| format!("bind {src}: {e}"))?;
            let SocketAddr::V4(d) = dst else {
                return Err("IPv4 only".into());
            };
            // A blocking connect: an unanswered SYN gives up after the
            // kernel's retries (about 2 minutes), so callers expecting a
            // drop use `connect_outcome` instead.
            connect(fd_raw, &SockaddrIn::from(d)).map_err(|e| format!("connect {dst}: {e}"))?;
            Ok(TcpStream::from(fd))
        }
    }
}

/// How a TCP connection attempt from the default source to `dst` ends
/// within 2 s: "open", "refused" or "timeout".
fn connect_outcome(dst: &str) -> &'static str {
    let dst: SocketAddr = dst.parse().unwrap();
    match TcpStream::connect_timeout(&dst, Duration::from_secs(2)) {
        Ok(_) => "open",
        Err(e) if e.kind() == std::io::ErrorKind::ConnectionRefused => "refused",
        Err(_) => "timeout",
    }
}

/// Sends `text` over UDP from `src` to `dst`; the answer and who sent it.
fn udp_ask(src: Ipv4Addr, dst: &str, text: &str) -> Result<(String, SocketAddr), String> {
    let s = UdpSocket::bind((src, 0)).map_err(|e| e.to_string())?;
    s.set_read_timeout(Some(Duration::from_secs(2))).unwrap();
    s.send_to(text.as_bytes(), dst).map_err(|e| e.to_string())?;
    let mut buf = [0u8; 2048];
    let (k, from) = s.recv_from(&mut buf).map_err(|e| format!("{dst}: {e}"))?;
    Ok((String::from_utf8_lossy(&buf[..k]).into_owned(), from))
}

fn ping(ns: &Netns, dst: &str) -> Result<String, String> {
    ns.run(&["ping", "-c", "2", "-i", "0.2", "-W", "2", "-q", dst])
}

// ---------------------------------------------------------------------------

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
    let out = Command::new("ip")
        .args([
            "netns",
            "exec",
            lab.rtr.name(),
            env!("CARGO_BIN_EXE_sluice"),
        ])
        .arg("run")
        .arg("--config")
        .arg(lab.config())
        .output()
        .unwrap();
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
    let out = Command::new("ip")
        .args([
            "netns",
            "exec",
            lab.rtr.name(),
            env!("CARGO_BIN_EXE_sluice"),
        ])
        .arg("run")
        .arg("--config")
        .arg(&bad)
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    let errors: Vec<&str> = err.lines().filter(|l| l.contains("error")).collect();
    assert_eq!(errors.len(), 1, "{err}");
    assert!(errors[0].contains("r9"), "{err}");
    assert!(t.elapsed() < Duration::from_secs(1), "{:?}", t.elapsed());
    assert_eq!(lab.leftovers(), "", "a refused start leaves nothing");

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
