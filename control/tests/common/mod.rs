//! What the namespace end-to-end tests share (`lab.rs`, `faults.rs`): the
//! lab topology with `sluice run` as its gateway ([`Lab`]), the traffic
//! helpers (TCP/UDP servers and clients with every byte checked, a numbered
//! UDP stream), and `sluice` as a client of the daemon's socket.
//!
//! Each test crate uses part of it.
#![allow(dead_code)]

use std::fs::File;
use std::io::{Read, Write};
use std::net::{Ipv4Addr, SocketAddr, TcpListener, TcpStream, UdpSocket};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use nix::sched::CloneFlags;
use nix::sys::signal::Signal;
use nix::unistd::Pid;
use sluice_bench::frames::MacAddr;
use sluice_bench::netns::Netns;

pub const CLIENT: Ipv4Addr = Ipv4Addr::new(10, 0, 1, 2);
pub const MGMT: Ipv4Addr = Ipv4Addr::new(10, 0, 1, 3);
pub const GW_WAN: Ipv4Addr = Ipv4Addr::new(10, 0, 2, 1);
pub const GW_WAN2: Ipv4Addr = Ipv4Addr::new(10, 0, 3, 1);

pub fn skip() -> bool {
    if let Some(why) = sluice_bench::kernel::skip_reason() {
        eprintln!("SKIP: {why}");
        return true;
    }
    false
}

/// The lab: four namespaces and the daemon in `rtr`.
pub struct Lab {
    pub daemon: Option<Child>,
    /// A command (and its arguments) `sluice run` is started through,
    /// e.g. `setpriv --bounding-set ...`; empty: none.
    pub wrap: Vec<String>,
    pub log: PathBuf,
    pub dir: PathBuf,
    // Dropped after the daemon (field order).
    pub lan: Netns,
    pub rtr: Netns,
    pub wan: Netns,
    pub wan2: Netns,
}

/// The lab's links: `rtr`'s interface, its index (MACs `mac(0|1, i)`),
/// the peer's name (in `lan`, `wan`, `wan2`) and the peer side's
/// addresses and routes on it.
pub const LINKS: [(&str, u8, &str, &str); 3] = [
    (
        "r0",
        0,
        "l0",
        "addr add 10.0.1.2/24 dev l0\naddr add 10.0.1.3/24 dev l0\nroute add default via 10.0.1.1\n",
    ),
    (
        "r1",
        1,
        "w0",
        "addr add 10.0.2.2/24 dev w0\nroute add 10.0.1.0/24 via 10.0.2.1\n",
    ),
    ("r2", 2, "v0", "addr add 10.0.3.2/24 dev v0\n"),
];

pub fn mac(a: u8, b: u8) -> MacAddr {
    MacAddr([2, 0x5c, 0, 0, a, b])
}

impl Lab {
    /// The topology with `sluice run` in `rtr`, with `workers` workers.
    pub fn up(workers: u32) -> Lab {
        Lab::up_with(workers, "", &[])
    }

    /// [`Lab::up`] with more `[control]` keys and environment for the
    /// daemon.
    pub fn up_with(workers: u32, control: &str, env: &[(&str, &str)]) -> Lab {
        let mut lab = Lab::topology(workers, control);
        lab.start_env(env);
        lab
    }

    /// The same topology with the kernel as the gateway in `rtr`: the
    /// lab's addresses, routes and policy rule, its sets (`ipset restore`)
    /// and its ruleset (`iptables-legacy-restore`), forwarding on: the
    /// oracle of the differential tests.
    pub fn kernel() -> Lab {
        let lab = Lab::topology(1, "");
        let script = "addr add 10.0.1.1/24 dev r0\n\
             addr add 10.0.2.1/24 dev r1\n\
             addr add 10.0.3.1/24 dev r2\n\
             route add default via 10.0.2.2 dev r1\n\
             route add default via 10.0.3.2 dev r2 table 100\n\
             route add 10.0.1.0/24 dev r0 table 100\n\
             rule add pref 100 fwmark 0x1/0xff table 100\n";
        let out = lab.rtr.batch(&[], script).unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        lab.rtr
            .sysctl(&[
                ("net.ipv4.ip_forward", "1"),
                ("net.ipv4.conf.all.rp_filter", "0"),
                ("net.ipv4.conf.default.rp_filter", "0"),
            ])
            .unwrap();
        let sets = std::fs::read_to_string(lab.dir.join("sets.save")).unwrap();
        lab.rtr
            .run_stdin(&["ipset", "restore"], Some(&sets))
            .unwrap();
        let rules = std::fs::read_to_string(lab.dir.join("rules.v4")).unwrap();
        lab.rtr
            .run_stdin(&["iptables-legacy-restore", "-w", "10"], Some(&rules))
            .unwrap();
        lab
    }

    /// The namespaces, veths, hosts and the config files; `rtr` has its
    /// links up and nothing else. `workers`: queues per veth.
    pub fn topology(workers: u32, control: &str) -> Lab {
        let ns = || Netns::new().expect("create a namespace");
        let (lan, rtr, wan, wan2) = (ns(), ns(), ns(), ns());
        let dir =
            std::env::temp_dir().join(format!("sluice-lab-{}-{}", std::process::id(), rtr.name()));
        std::fs::create_dir_all(&dir).unwrap();
        let lab = Lab {
            daemon: None,
            wrap: Vec::new(),
            log: dir.join("sluice.log"),
            dir,
            lan,
            rtr,
            wan,
            wan2,
        };
        for (r, ..) in LINKS {
            lab.add_link(r, workers);
        }
        for ns in [&lab.wan, &lab.wan2] {
            ns.ip(&["addr", "add", "198.51.100.10/32", "dev", "lo"])
                .unwrap();
        }
        let example = Path::new(env!("CARGO_MANIFEST_DIR")).join("../config/examples/lab");
        for f in ["rules.v4", "sets.save"] {
            std::fs::copy(example.join(f), lab.dir.join(f)).unwrap();
        }
        let toml = std::fs::read_to_string(example.join("sluice.toml"))
            .unwrap()
            .replace("workers = 1", &format!("workers = {workers}"))
            // Each lab's own API socket (relative: in the lab's folder).
            + "\n[control]\nsocket = \"sluice.sock\"\n"
            + control;
        std::fs::write(lab.dir.join("sluice.toml"), toml).unwrap();
        lab
    }

    /// The veth pair `r` of [`LINKS`] (in `rtr`, MAC `mac(0, i)`) and its
    /// peer (MAC `mac(1, i)`) with `queues` queues each (as many as
    /// workers: a frame on a queue no worker serves would never reach
    /// sluice), both up, the peer's TX offloads off and its addresses and
    /// routes set: what [`Lab::topology`] builds for each link, and what a
    /// test re-creates after deleting one.
    pub fn add_link(&self, r: &str, queues: u32) {
        let &(_, i, peer, script) = LINKS
            .iter()
            .find(|l| l.0 == r)
            .unwrap_or_else(|| panic!("no link {r} in the lab"));
        let ns = match i {
            0 => &self.lan,
            1 => &self.wan,
            _ => &self.wan2,
        };
        let q = queues.to_string();
        self.rtr
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
        self.rtr.link_up(r).unwrap();
        ns.tx_offload_off(peer).unwrap();
        ns.link_up(peer).unwrap();
        let out = ns.batch(&[], script).unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }

    pub fn config(&self) -> PathBuf {
        self.dir.join("sluice.toml")
    }

    /// `sluice run` in `rtr`, waiting for its "running:" line.
    pub fn start(&mut self) {
        self.start_env(&[]);
    }

    pub fn start_env(&mut self, env: &[(&str, &str)]) {
        let child = self.spawn_sluice_env(&self.config(), env);
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

    /// `sluice run --config CONFIG` in `rtr`.
    pub fn sluice_run(&self, config: &Path) -> Command {
        let mut c = Command::new("ip");
        c.args(["netns", "exec", self.rtr.name()])
            .args(&self.wrap)
            .arg(env!("CARGO_BIN_EXE_sluice"))
            .arg("run")
            .arg("--config")
            .arg(config);
        c
    }

    /// [`Lab::sluice_run`] to its end (a start that is refused); its output.
    pub fn run_output(&self, config: &Path) -> std::process::Output {
        self.sluice_run(config).output().unwrap()
    }

    pub fn spawn_sluice_env(&self, config: &Path, env: &[(&str, &str)]) -> Child {
        self.sluice_run(config)
            .envs(env.iter().copied())
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(File::create(&self.log).unwrap())
            .spawn()
            .expect("start sluice run")
    }

    pub fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// SIGTERM; the exit status and how long the daemon took.
    pub fn stop(&mut self) -> (std::process::ExitStatus, Duration) {
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
    pub fn leftovers(&self) -> String {
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
pub fn in_ns<T: Send + 'static>(
    ns: &Netns,
    f: impl FnOnce() -> T + Send + 'static,
) -> JoinHandle<T> {
    let path = ns.path();
    std::thread::spawn(move || {
        let fd = File::open(&path).expect("open the namespace");
        nix::sched::setns(&fd, CloneFlags::CLONE_NEWNET).expect("setns");
        f()
    })
}

/// FNV-1a over the bytes: what the TCP server answers and the client checks.
pub fn fnv(h: u64, bytes: &[u8]) -> u64 {
    bytes
        .iter()
        .fold(h, |h, &b| (h ^ u64::from(b)).wrapping_mul(0x100_0000_01b3))
}
pub const FNV0: u64 = 0xcbf2_9ce4_8422_2325;

/// The bytes client `seed` sends.
pub fn payload(seed: u64, n: usize) -> Vec<u8> {
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
pub fn tcp_server(ns: &Netns, addr: &str, name: &'static str) {
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
pub fn udp_server(ns: &Netns, addr: &str, name: &'static str) {
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
pub fn tcp_send(src: Option<Ipv4Addr>, dst: &str, seed: u64, n: usize) -> Result<String, String> {
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
pub fn socket2_like_connect(src: Option<Ipv4Addr>, dst: SocketAddr) -> Result<TcpStream, String> {
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
pub fn connect_outcome(dst: &str) -> &'static str {
    let dst: SocketAddr = dst.parse().unwrap();
    match TcpStream::connect_timeout(&dst, Duration::from_secs(2)) {
        Ok(_) => "open",
        Err(e) if e.kind() == std::io::ErrorKind::ConnectionRefused => "refused",
        Err(_) => "timeout",
    }
}

/// Sends `text` over UDP from `src` to `dst`; the answer and who sent it.
pub fn udp_ask(src: Ipv4Addr, dst: &str, text: &str) -> Result<(String, SocketAddr), String> {
    let s = UdpSocket::bind((src, 0)).map_err(|e| e.to_string())?;
    s.set_read_timeout(Some(Duration::from_secs(2))).unwrap();
    s.send_to(text.as_bytes(), dst).map_err(|e| e.to_string())?;
    let mut buf = [0u8; 2048];
    let (k, from) = s.recv_from(&mut buf).map_err(|e| format!("{dst}: {e}"))?;
    Ok((String::from_utf8_lossy(&buf[..k]).into_owned(), from))
}

pub fn ping(ns: &Netns, dst: &str) -> Result<String, String> {
    ns.run(&["ping", "-c", "2", "-i", "0.2", "-W", "2", "-q", dst])
}

/// `sluice ARGS...` from the root namespace (the API socket is a file in
/// the lab's folder); (exit code, stdout, stderr).
pub fn ctl(args: &[&str]) -> (Option<i32>, String, String) {
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

/// Waits (10 s at most) for `child` to exit by itself; its status.
pub fn wait_exit(child: &mut Child) -> std::process::ExitStatus {
    let t = Instant::now();
    loop {
        if let Some(st) = child.try_wait().unwrap() {
            return st;
        }
        assert!(t.elapsed() < Duration::from_secs(10), "still running");
        std::thread::sleep(Duration::from_millis(20));
    }
}

pub fn wait_for(what: &str, mut f: impl FnMut() -> bool) {
    let t = Instant::now();
    while !f() {
        assert!(
            t.elapsed() < Duration::from_secs(10),
            "no {what} after 10 s"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// A paced UDP stream's receiver in `ns` on `addr`: each datagram starts
/// with its sequence number (u64, big-endian). Runs until `stop` is set
/// and 300 ms pass without a datagram; returns which numbers arrived.
pub fn udp_seq_sink(ns: &Netns, addr: &'static str, stop: Arc<AtomicBool>) -> JoinHandle<Vec<u64>> {
    let s = in_ns(ns, move || UdpSocket::bind(addr))
        .join()
        .unwrap()
        .unwrap_or_else(|e| panic!("bind {addr}: {e}"));
    s.set_read_timeout(Some(Duration::from_millis(300)))
        .unwrap();
    std::thread::spawn(move || {
        let mut got = Vec::new();
        let mut buf = [0u8; 2048];
        loop {
            match s.recv(&mut buf) {
                Ok(k) if k >= 8 => got.push(u64::from_be_bytes(buf[..8].try_into().unwrap())),
                Ok(_) => {}
                Err(_) if stop.load(Ordering::Relaxed) => return got,
                Err(_) => {}
            }
        }
    })
}

/// Sends datagrams numbered 0, 1, ... from `CLIENT` to `dst` at `pps`
/// (paced against the clock, 96 bytes each) until `stop`, counting them
/// in `sent` as it goes; returns how many it sent.
pub fn udp_seq_stream(
    ns: &Netns,
    dst: &'static str,
    pps: u32,
    stop: Arc<AtomicBool>,
    sent: Arc<AtomicU64>,
) -> JoinHandle<u64> {
    in_ns(ns, move || {
        let s = UdpSocket::bind((CLIENT, 0)).unwrap();
        let t0 = Instant::now();
        let gap = Duration::from_secs(1) / pps;
        let mut buf = [0u8; 96];
        let mut n = 0u64;
        while !stop.load(Ordering::Relaxed) {
            let due = t0 + gap * (n as u32);
            if let Some(d) = due.checked_duration_since(Instant::now()) {
                std::thread::sleep(d);
            }
            buf[..8].copy_from_slice(&n.to_be_bytes());
            s.send_to(&buf, dst).expect("send the stream");
            n += 1;
            sent.store(n, Ordering::Relaxed);
        }
        n
    })
}

/// `METHOD PATH` to the daemon's metrics endpoint at `addr`, from `rtr`
/// (the host side of the box); the status line, the headers and the body.
pub fn http(lab: &Lab, addr: &'static str, method: &str, path: &str) -> (String, String, String) {
    let req = format!("{method} {path} HTTP/1.1\r\nHost: sluice\r\n\r\n");
    let raw = in_ns(&lab.rtr, move || {
        let mut c = TcpStream::connect(addr).expect("connect to the metrics endpoint");
        c.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
        c.write_all(req.as_bytes()).unwrap();
        let mut out = String::new();
        c.read_to_string(&mut out).unwrap();
        out
    })
    .join()
    .unwrap();
    let (head, body) = raw.split_once("\r\n\r\n").expect("an HTTP answer");
    let (status, headers) = head.split_once("\r\n").unwrap_or((head, ""));
    (status.to_string(), headers.to_string(), body.to_string())
}

/// Parses a scrape with the Prometheus client library's own parser
/// (Debian's python3-prometheus-client, scripts/bootstrap): every sample
/// as (family, type, sample name, labels, value).
pub fn prometheus_parse(text: &str) -> Vec<(String, String, String, serde_json::Value, f64)> {
    let script = r#"
import sys, json
from prometheus_client.parser import text_string_to_metric_families
out = []
for f in text_string_to_metric_families(sys.stdin.read()):
    for s in f.samples:
        out.append([f.name, f.type, s.name, s.labels, s.value])
print(json.dumps(out))
"#;
    let mut child = Command::new("/usr/bin/python3")
        .args(["-c", script])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("/usr/bin/python3 (scripts/bootstrap installs it)");
    child
        .stdin
        .take()
        .unwrap()
        .write_all(text.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "the Prometheus parser refused the scrape: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: Vec<(String, String, String, serde_json::Value, f64)> =
        serde_json::from_slice(&out.stdout).unwrap();
    v
}
