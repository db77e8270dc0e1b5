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
            .replace("workers = 1", &format!("workers = {workers}"))
            // Each lab's own API socket (relative: in the lab's folder).
            + "\n[control]\nsocket = \"sluice.sock\"\n";
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
        self.spawn_sluice_env(config, &[])
    }

    fn spawn_sluice_env(&self, config: &Path, env: &[(&str, &str)]) -> Child {
        Command::new("ip")
            .envs(env.iter().copied())
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
    let t = Instant::now();
    let st = loop {
        if let Some(st) = child.try_wait().unwrap() {
            break st;
        }
        assert!(t.elapsed() < Duration::from_secs(10), "still running");
        std::thread::sleep(Duration::from_millis(20));
    };
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

/// `sluice ARGS...` from the root namespace (the API socket is a file in
/// the lab's folder); (exit code, stdout, stderr).
fn ctl(args: &[&str]) -> (Option<i32>, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_sluice"))
        .args(args)
        .output()
        .unwrap();
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// Live apply (issue 11): a transfer held open across the apply completes
/// with every byte intact while the new ruleset (REJECT tcp/5001) holds
/// for new connections; rollback; `--confirm 3` rolls back by itself;
/// bad input to each command is one line, exit 1, and changes nothing.
#[test]
fn apply_live_rollback_confirm_and_bad_input() {
    if skip() {
        return;
    }
    let lab = Lab::up(1);
    tcp_server(&lab.wan, "198.51.100.10:5001", "wan");
    let rules = std::fs::read_to_string(lab.dir.join("rules.v4")).unwrap();
    let at = rules
        .find("-A FORWARD -i r0 -o r1 -j ACCEPT")
        .expect("the lab's LAN->uplink rule");
    let mut new_rules = rules.clone();
    new_rules.insert_str(
        at,
        "-A FORWARD -p tcp -m tcp --dport 5001 -j REJECT --reject-with tcp-reset\n",
    );
    std::fs::write(lab.dir.join("rules-new.v4"), new_rules).unwrap();
    let toml = std::fs::read_to_string(lab.config()).unwrap();
    let new = lab.dir.join("new.toml");
    std::fs::write(&new, toml.replace("\"rules.v4\"", "\"rules-new.v4\"")).unwrap();
    let mut bad_rules = rules.clone();
    bad_rules.insert_str(at, "-A FORWARD -p tcp -j NOPE\n");
    let bad_line = rules[..at].lines().count() + 1;
    std::fs::write(lab.dir.join("rules-bad.v4"), bad_rules).unwrap();
    let bad = lab.dir.join("bad.toml");
    std::fs::write(&bad, toml.replace("\"rules.v4\"", "\"rules-bad.v4\"")).unwrap();
    let cfg = lab.config().to_str().unwrap().to_string();
    let new = new.to_str().unwrap().to_string();
    let bad = bad.to_str().unwrap().to_string();
    let outcome = |lab: &Lab| {
        in_ns(&lab.lan, || connect_outcome("198.51.100.10:5001"))
            .join()
            .unwrap()
    };
    assert_eq!(outcome(&lab), "open");

    // A transfer held open across the apply: 8 MB in 64 kB writes, paced.
    let (tx, rx) = mpsc::channel();
    let transfer = in_ns(&lab.lan, move || {
        let dst: SocketAddr = "198.51.100.10:5001".parse().unwrap();
        let mut c = TcpStream::connect_timeout(&dst, Duration::from_secs(3))?;
        c.set_read_timeout(Some(Duration::from_secs(20)))?;
        let data = payload(7, 8 << 20);
        for (i, chunk) in data.chunks(64 << 10).enumerate() {
            c.write_all(chunk)?;
            if i == 8 {
                tx.send(()).unwrap();
            }
            std::thread::sleep(Duration::from_millis(15));
        }
        c.shutdown(std::net::Shutdown::Write)?;
        let mut answer = String::new();
        c.read_to_string(&mut answer)?;
        Ok::<_, std::io::Error>((answer, format!("{:x}", fnv(FNV0, &data))))
    });
    rx.recv_timeout(Duration::from_secs(5)).unwrap();
    let (code, out, err) = ctl(&["apply", "--config", &new]);
    assert_eq!(code, Some(0), "{err}");
    assert_eq!(out, "applied generation 2 (32 rules)\n");
    assert_eq!(outcome(&lab), "refused", "new flows meet the new rule");
    let (answer, hash) = transfer.join().unwrap().expect("the held transfer");
    let f: Vec<&str> = answer.split_whitespace().collect();
    assert_eq!(
        f.get(2..4),
        Some(&[&*(8usize << 20).to_string(), &*hash][..]),
        "{answer}"
    );

    // Rollback on demand.
    let (code, out, err) = ctl(&["rollback", "--config", &cfg]);
    assert_eq!(code, Some(0), "{err}");
    assert_eq!(out, "rolled back generation 2; generation 1 runs\n");
    assert_eq!(outcome(&lab), "open");

    // --confirm 3 without a confirm: back by itself, traffic flowing.
    let (code, out, err) = ctl(&["apply", "--config", &new, "--confirm", "3"]);
    assert_eq!(code, Some(0), "{err}");
    assert!(out.contains("rolls back in 3s"), "{out}");
    assert_eq!(outcome(&lab), "refused");
    std::thread::sleep(Duration::from_millis(3500));
    assert_eq!(outcome(&lab), "open", "the old ruleset is back by itself");
    in_ns(&lab.lan, || {
        tcp_send(None, "198.51.100.10:5001", 9, 1 << 20)
    })
    .join()
    .unwrap()
    .expect("traffic flows after the rollback");
    let (code, hist, err) = ctl(&["history", "--config", &cfg]);
    assert_eq!(code, Some(0), "{err}");
    let states: Vec<(&str, &str)> = hist
        .lines()
        .skip(1)
        .map(|l| {
            let f: Vec<&str> = l.trim_start_matches('*').split_whitespace().collect();
            (f[0], f[4])
        })
        .collect();
    assert_eq!(
        states,
        [("1", "started"), ("2", "rolled-back"), ("3", "rolled-back")],
        "{hist}"
    );
    assert!(hist.lines().nth(1).unwrap().starts_with('*'), "{hist}");

    // Bad input: one line, exit 1, nothing changed.
    let one_line = |code: Option<i32>, out: &str, err: &str, want: &str| {
        assert_eq!(code, Some(1), "{err}");
        assert_eq!(out, "");
        assert_eq!(err.lines().count(), 1, "{err}");
        assert!(
            err.starts_with("sluice: error: ") && err.contains(want),
            "{err}"
        );
    };
    let (c, o, e) = ctl(&["apply", "--config", &bad]);
    one_line(c, &o, &e, &format!("rules-bad.v4:{bad_line}:"));
    let (c, o, e) = ctl(&["diff", "--config", &bad]);
    one_line(c, &o, &e, &format!("rules-bad.v4:{bad_line}:"));
    let (c, o, e) = ctl(&["confirm", "--config", &cfg]);
    one_line(c, &o, &e, "nothing to confirm");
    let nope = lab.dir.join("nope.sock");
    let (c, o, e) = ctl(&["history", "--socket", nope.to_str().unwrap()]);
    one_line(c, &o, &e, "socket missing / daemon not running");
    let out = Command::new("setpriv")
        .args(["--reuid=65534", "--regid=65534", "--clear-groups"])
        .arg(env!("CARGO_BIN_EXE_sluice"))
        .args(["apply", "--config", &new, "--socket"])
        .arg(lab.dir.join("sluice.sock"))
        .output()
        .unwrap();
    let e = String::from_utf8_lossy(&out.stderr);
    // The lab's folder may be closed to others: then the config itself
    // cannot be read, also one line.
    one_line(out.status.code(), "", &e, "");
    assert!(
        e.contains("permission denied") || e.contains("Permission denied"),
        "{e}"
    );
    // A restart-only change is refused, naming the key.
    let workers = lab.dir.join("workers.toml");
    std::fs::write(&workers, toml.replace("workers = 1", "workers = 2")).unwrap();
    let (c, o, e) = ctl(&["apply", "--config", workers.to_str().unwrap()]);
    one_line(c, &o, &e, "restart needed: [dataplane] workers changed");
    let (_, after, _) = ctl(&["history", "--config", &cfg]);
    assert_eq!(after, hist, "no bad input changed anything");
    assert_eq!(outcome(&lab), "open");
}

/// The operator views through the API socket after real traffic: rule
/// counters summed over the workers land on the rules that matched,
/// `rules zero` zeroes them, conntrack shows, counts and flushes the
/// flow, and route/rule/sets/stats answer, each also as JSON.
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
    let (stats, _) = ok(&["stats"]);
    assert!(stats.contains("batch time: p50"), "{stats}");
    let (json, _) = ok(&["stats", "--json"]);
    serde_json::from_str::<serde_json::Value>(&json).expect("stats --json");

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
