//! The throughput lab: the lab topology of `scripts/lab` (lan ─ rtr ─ wan)
//! in namespaces of its own, a router under test in rtr (the kernel with
//! iptables-legacy or iptables-nft, or `sluice run`), and the traffic
//! tools the `sluice-lab-bench` binary drives.
//!
//! ```text
//!   lan                      rtr (router under test)              wan
//!   l0 10.0.1.2/24 ──veth── r0 10.0.1.1/24   r1 10.0.2.1/24 ──veth── w0 10.0.2.2/24
//!   default via 10.0.1.1                     default via 10.0.2.2    lo 198.51.100.10/32
//! ```
//!
//! Owns: three [`Netns`] per [`Lab`] (deleted on drop, also while a panic
//! unwinds), the files it writes under its work directory, and the
//! processes it starts in those namespaces (stopped by pid).
//!
//! What is measured and where:
//!
//! * UDP: 60-byte frames (64 on the wire with the FCS) from 10.0.1.2, 1 024
//!   source ports, to 198.51.100.10:9, sent by [`udp_blast`] through an
//!   AF_XDP socket on l0 (copy mode) from prebuilt frames. wan drops them
//!   with one rule in its raw PREROUTING (UDP port 9 only: ARP and TCP
//!   pass); the forwarded count is w0's `rx_packets`, which veth counts as
//!   the frame crosses the pair.
//! * TCP: one or more connections from lan to 198.51.100.10:5001 in wan
//!   ([`tcp_send`], [`tcp_sink`]); the sink counts the bytes it reads in
//!   the measured window.
//!
//! Rulesets ([`Ruleset`]): `plain` (filter table only, policies ACCEPT),
//! `gateway` (`config/examples/lab/rules.v4` and its sets, unchanged: the
//! rules naming r2 never match here), `rules10k` ([`ten_thousand_rules`]).

use std::fmt::Write as _;
use std::io::{BufRead as _, BufReader, Read as _, Write as _};
use std::net::{Ipv4Addr, SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::mpsc::Receiver;
use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant};

use sluice_dataplane::io::xsk::{open_worker, XskConfig};
use sluice_dataplane::io::{Desc, Port as _};
use sluice_dataplane::wire::ethernet::MacAddr;

use crate::frames::IpFrame;
use crate::netns::{veth_pair, Netns, VethEnd};

/// MACs of the four veth ends (fixed, so frames can be prebuilt).
pub const L0_MAC: MacAddr = MacAddr([2, 0, 0, 0, 1, 2]);
pub const R0_MAC: MacAddr = MacAddr([2, 0, 0, 0, 1, 1]);
pub const R1_MAC: MacAddr = MacAddr([2, 0, 0, 0, 2, 1]);
pub const W0_MAC: MacAddr = MacAddr([2, 0, 0, 0, 2, 2]);

/// The sender, the sink and the router's addresses.
pub const LAN_HOST: Ipv4Addr = Ipv4Addr::new(10, 0, 1, 2);
pub const SERVER: Ipv4Addr = Ipv4Addr::new(198, 51, 100, 10);
/// UDP destination port (dropped at w0's ingress).
pub const UDP_PORT: u16 = 9;
/// TCP server port in wan.
pub const TCP_PORT: u16 = 5001;
/// First UDP source port; flows use `UDP_SPORT_BASE..+flows`.
pub const UDP_SPORT_BASE: u16 = 10_000;

/// The ruleset a router runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ruleset {
    Plain,
    Gateway,
    Rules10k,
}

impl Ruleset {
    pub const ALL: [Ruleset; 3] = [Ruleset::Plain, Ruleset::Gateway, Ruleset::Rules10k];

    pub fn name(self) -> &'static str {
        match self {
            Ruleset::Plain => "plain forwarding",
            Ruleset::Gateway => "gateway ruleset",
            Ruleset::Rules10k => "10 000 filter rules",
        }
    }
}

/// The router under test.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Router {
    Legacy,
    Nft,
    /// `sluice run`, one worker; `busy_poll` as in `[dataplane]`.
    Sluice {
        busy_poll: bool,
    },
}

impl Router {
    pub fn name(self) -> &'static str {
        match self {
            Router::Legacy => "kernel iptables-legacy",
            Router::Nft => "kernel iptables-nft",
            Router::Sluice { busy_poll: false } => "sluice (idle back-off)",
            Router::Sluice { busy_poll: true } => "sluice (busy-poll)",
        }
    }

    pub fn is_kernel(self) -> bool {
        matches!(self, Router::Legacy | Router::Nft)
    }
}

/// The plain ruleset: a filter table with every policy ACCEPT (sluice
/// forwards a family only when it has a ruleset).
pub const PLAIN_RULES: &str = "*filter\n:INPUT ACCEPT [0:0]\n:FORWARD ACCEPT [0:0]\n\
:OUTPUT ACCEPT [0:0]\nCOMMIT\n";

/// `n` FORWARD rules that the test traffic (10.0.1.2 → 198.51.100.10, UDP
/// port 9 and TCP port 5001, and the replies) never matches, followed by
/// the accepts for r0 → r1 and r1 → r0, under a DROP policy; INPUT and
/// OUTPUT ACCEPT. No conntrack match and no NAT: every packet, in the
/// kernel, is compared with all `n` rules before it is accepted.
///
/// Shapes, drawn from a fixed-seed generator (the same file every run):
/// 3 in 4 are `-s A/32 -p tcp --dport P -j DROP` (A a random address
/// outside 10/8 and 198.51.100/24, P in 1..=65535 but never 5001), 1 in 4
/// are `-d B/24 -p udp -j DROP` (B outside those prefixes).
pub fn ten_thousand_rules(n: usize) -> String {
    let mut out = String::with_capacity(n * 56 + 256);
    out.push_str("# sluice-lab-bench: FORWARD rules that never match the test traffic\n");
    out.push_str("*filter\n:INPUT ACCEPT [0:0]\n:FORWARD DROP [0:0]\n:OUTPUT ACCEPT [0:0]\n");
    let mut x: u64 = 0x5eed_1ab5_0000_2710;
    let mut next = || {
        // xorshift64*
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        x.wrapping_mul(0x2545_f491_4f6c_dd1d)
    };
    let addr = |next: &mut dyn FnMut() -> u64| loop {
        let a = Ipv4Addr::from((next() >> 32) as u32);
        let o = a.octets();
        let reserved = o[0] == 10
            || o[0] == 0
            || o[0] == 127
            || o[0] >= 224
            || (o[0], o[1], o[2]) == (198, 51, 100);
        if !reserved {
            return a;
        }
    };
    for i in 0..n {
        if i % 4 == 3 {
            let o = addr(&mut next).octets();
            let _ = writeln!(
                out,
                "-A FORWARD -d {}.{}.{}.0/24 -p udp -j DROP",
                o[0], o[1], o[2]
            );
        } else {
            let a = addr(&mut next);
            let mut port = (next() >> 48) as u16;
            if port == 0 || port == TCP_PORT {
                port = 1;
            }
            let _ = writeln!(
                out,
                "-A FORWARD -s {a}/32 -p tcp -m tcp --dport {port} -j DROP"
            );
        }
    }
    out.push_str("-A FORWARD -i r0 -o r1 -j ACCEPT\n-A FORWARD -i r1 -o r0 -j ACCEPT\nCOMMIT\n");
    out
}

/// The files a router of `ruleset` loads: (rules, sets), written under
/// `dir`; the gateway uses the lab example's own files.
pub fn ruleset_files(
    ruleset: Ruleset,
    dir: &Path,
    repo: &Path,
) -> Result<(PathBuf, Option<PathBuf>), String> {
    let write = |name: &str, text: &str| -> Result<PathBuf, String> {
        let p = dir.join(name);
        std::fs::write(&p, text).map_err(|e| format!("cannot write {}: {e}", p.display()))?;
        Ok(p)
    };
    match ruleset {
        Ruleset::Plain => Ok((write("plain.v4", PLAIN_RULES)?, None)),
        Ruleset::Rules10k => Ok((write("rules10k.v4", &ten_thousand_rules(10_000))?, None)),
        Ruleset::Gateway => {
            let lab = repo.join("config/examples/lab");
            Ok((lab.join("rules.v4"), Some(lab.join("sets.save"))))
        }
    }
}

/// The appliance TOML `sluice run` gets: r0 and r1 with the lab's
/// addresses, the default route via wan, the ruleset, one worker, and
/// its control socket `ctl.sock` beside the TOML.
pub fn sluice_toml(rules: &Path, sets: Option<&Path>, busy_poll: bool) -> String {
    sluice_toml_ct(rules, sets, busy_poll, 65_536)
}

/// [`sluice_toml`] with `conntrack_max` set (`sluice-bench compare`'s
/// 100 000-flow case needs more than 65 536 entries).
pub fn sluice_toml_ct(rules: &Path, sets: Option<&Path>, busy_poll: bool, ct_max: usize) -> String {
    let mut t = String::from(
        "# written by sluice-lab-bench\n\
         [[interface]]\nname = \"r0\"\naddress = [\"10.0.1.1/24\"]\n\n\
         [[interface]]\nname = \"r1\"\naddress = [\"10.0.2.1/24\"]\n\n\
         [[route]]\nto = \"0.0.0.0/0\"\nvia = \"10.0.2.2\"\ndev = \"r1\"\n\n\
         [firewall]\n",
    );
    let _ = writeln!(t, "rules = {:?}", rules.display().to_string());
    if let Some(s) = sets {
        let _ = writeln!(t, "sets = {:?}", s.display().to_string());
    }
    let _ = write!(
        t,
        "\n[dataplane]\nworkers = 1\nconntrack_max = {ct_max}\nbusy_poll = {busy_poll}\n"
    );
    // A control socket beside the TOML (a relative path is against its
    // folder): another `sluice run` on the machine may hold the default.
    t.push_str("\n[control]\nsocket = \"ctl.sock\"\n");
    t
}

/// The lab's three namespaces with their veths, addresses and routes, and
/// the sink's drop filter; rtr has its links up and nothing else.
#[derive(Debug)]
pub struct Lab {
    pub lan: Netns,
    pub rtr: Netns,
    pub wan: Netns,
}

impl Lab {
    pub fn new() -> Result<Lab, String> {
        let lab = Lab {
            lan: Netns::new()?,
            rtr: Netns::new()?,
            wan: Netns::new()?,
        };
        let end = |ns, name, mac| VethEnd {
            ns,
            name,
            mac,
            mtu: 1500,
        };
        veth_pair(&end(&lab.rtr, "r0", R0_MAC), &end(&lab.lan, "l0", L0_MAC))?;
        veth_pair(&end(&lab.rtr, "r1", R1_MAC), &end(&lab.wan, "w0", W0_MAC))?;
        let (lan, rtr, wan) = (&lab.lan, &lab.rtr, &lab.wan);
        // One queue each way on every end: sluice runs one worker, which
        // serves queue 0; with four, veth hands a frame to the RX queue of
        // the sender's TX queue (XPS, socket hash), and TCP from a stack
        // lands on queues 1..3 that no AF_XDP socket serves (observed: the
        // SYN-ACK never reached sluice). The kernel router is unaffected
        // (veth without XDP or GRO takes the backlog path, not its queues).
        for (ns, dev) in [(lan, "l0"), (wan, "w0"), (rtr, "r0"), (rtr, "r1")] {
            ns.run(&["ethtool", "-L", dev, "rx", "1", "tx", "1"])?;
        }
        lan.ip(&["addr", "add", "10.0.1.2/24", "dev", "l0"])?;
        wan.ip(&["addr", "add", "10.0.2.2/24", "dev", "w0"])?;
        wan.ip(&["addr", "add", "198.51.100.10/32", "dev", "lo"])?;
        for (ns, dev) in [(lan, "l0"), (wan, "w0"), (rtr, "r0"), (rtr, "r1")] {
            // No IPv6 chatter (router solicitations, MLD) in the counters.
            ns.sysctl(&[(&format!("net.ipv6.conf.{dev}.disable_ipv6") as &str, "1")])?;
            ns.link_up(dev)?;
        }
        lan.tx_offload_off("l0")?;
        wan.tx_offload_off("w0")?;
        lan.ip(&["route", "add", "default", "via", "10.0.1.1"])?;
        // The route back for the runs without NAT.
        wan.ip(&["route", "add", "10.0.1.0/24", "via", "10.0.2.1"])?;
        // The UDP sink: dropped in wan's raw PREROUTING (one rule, no
        // conntrack), after veth counted it at w0. (This kernel has no tc
        // actions to drop at ingress.)
        wan.run(&[
            "iptables-legacy",
            "-t",
            "raw",
            "-A",
            "PREROUTING",
            "-i",
            "w0",
            "-p",
            "udp",
            "--dport",
            "9",
            "-j",
            "DROP",
        ])?;
        Ok(lab)
    }

    /// The kernel as the router: addresses, default route, forwarding,
    /// the sets and the ruleset through `restore` (`iptables-legacy-restore`
    /// or `iptables-nft-restore`).
    pub fn kernel_router(
        &self,
        restore: &str,
        rules: &Path,
        sets: Option<&Path>,
    ) -> Result<(), String> {
        let rtr = &self.rtr;
        rtr.ip(&["addr", "add", "10.0.1.1/24", "dev", "r0"])?;
        rtr.ip(&["addr", "add", "10.0.2.1/24", "dev", "r1"])?;
        rtr.ip(&["route", "add", "default", "via", "10.0.2.2"])?;
        rtr.sysctl(&[
            ("net.ipv4.ip_forward", "1"),
            ("net.ipv4.conf.all.rp_filter", "0"),
            ("net.ipv4.conf.default.rp_filter", "0"),
        ])?;
        if let Some(s) = sets {
            let text = std::fs::read_to_string(s)
                .map_err(|e| format!("cannot read {}: {e}", s.display()))?;
            rtr.run_stdin(&["ipset", "restore"], Some(&text))?;
        }
        let text = std::fs::read_to_string(rules)
            .map_err(|e| format!("cannot read {}: {e}", rules.display()))?;
        rtr.run_stdin(&[restore], Some(&text))?;
        Ok(())
    }

    /// Starts `sluice run --config CONFIG` in rtr (bpffs mounted there
    /// first), stderr to `log`; returns once it logged `running:`, or an
    /// error with the log after 20 s or when it exits.
    pub fn start_sluice(&self, sluice: &Path, config: &Path, log: &Path) -> Result<Daemon, String> {
        let err = std::fs::File::create(log)
            .map_err(|e| format!("cannot create {}: {e}", log.display()))?;
        let child = Command::new("ip")
            .args(["netns", "exec", self.rtr.name(), "sh", "-c"])
            .arg(
                "mountpoint -q /sys/fs/bpf || mount -t bpf bpf /sys/fs/bpf 2>/dev/null; \
                 exec \"$0\" run --config \"$1\"",
            )
            .arg(sluice)
            .arg(config)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(err)
            .spawn()
            .map_err(|e| format!("cannot start {}: {e}", sluice.display()))?;
        let mut d = Daemon {
            child,
            log: log.to_path_buf(),
        };
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            let text = std::fs::read_to_string(log).unwrap_or_default();
            if text.contains("running:") {
                return Ok(d);
            }
            if let Ok(Some(st)) = d.child.try_wait() {
                return Err(format!("sluice exited ({st}) before running:\n{text}"));
            }
            if Instant::now() > deadline {
                return Err(format!("sluice not running after 20 s:\n{text}"));
            }
            thread::sleep(Duration::from_millis(50));
        }
    }

    /// `rx_packets` of `dev` in `ns` (`ip -s -j link`).
    pub fn rx_packets(ns: &Netns, dev: &str) -> Result<u64, String> {
        let out = ns.ip(&["-s", "-j", "link", "show", "dev", dev])?;
        json_u64_after(&out, "\"rx\":{", "\"packets\":")
            .ok_or_else(|| format!("no rx packets for {dev} in: {out}"))
    }
}

/// The number after `key` in the first occurrence after `anchor`.
fn json_u64_after(text: &str, anchor: &str, key: &str) -> Option<u64> {
    let rest = &text[text.find(anchor)? + anchor.len()..];
    let rest = &rest[rest.find(key)? + key.len()..];
    let digits: String = rest.chars().take_while(char::is_ascii_digit).collect();
    digits.parse().ok()
}

/// A `sluice run` started by [`Lab::start_sluice`]; SIGTERM and a wait on
/// drop (SIGKILL after 5 s).
#[derive(Debug)]
pub struct Daemon {
    child: Child,
    log: PathBuf,
}

impl Daemon {
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Whether it is still running.
    pub fn alive(&mut self) -> bool {
        matches!(self.child.try_wait(), Ok(None))
    }

    /// Sends `sig` (`USR1`, `TERM`) by pid.
    pub fn signal(&self, sig: &str) {
        let _ = Command::new("kill")
            .args([&format!("-{sig}"), &self.pid().to_string()])
            .status();
    }

    /// The counters it prints on SIGUSR1 (the log from the last
    /// `counters` header on), waiting up to 2 s for them.
    pub fn counters(&self) -> String {
        let before = std::fs::read_to_string(&self.log).unwrap_or_default().len();
        self.signal("USR1");
        let deadline = Instant::now() + Duration::from_secs(2);
        let mut last = 0;
        while Instant::now() < deadline {
            thread::sleep(Duration::from_millis(200));
            let text = std::fs::read_to_string(&self.log).unwrap_or_default();
            if text.len() > before && text.len() == last {
                return text[before.min(text.len())..].to_string();
            }
            last = text.len();
        }
        let text = std::fs::read_to_string(&self.log).unwrap_or_default();
        text[before.min(text.len())..].to_string()
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        self.signal("TERM");
        let deadline = Instant::now() + Duration::from_secs(5);
        while Instant::now() < deadline {
            if !matches!(self.child.try_wait(), Ok(None)) {
                return;
            }
            thread::sleep(Duration::from_millis(50));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The `flows` UDP frames of the blast: 60 bytes each (64 on the wire),
/// from `LAN_HOST`, source ports `UDP_SPORT_BASE..`, to `SERVER:UDP_PORT`,
/// Ethernet from l0 to r0, checksums complete.
pub fn udp_frames(flows: usize) -> Vec<Vec<u8>> {
    let ip = IpFrame::new(L0_MAC, R0_MAC, LAN_HOST, SERVER);
    (0..flows)
        .map(|i| {
            let f = ip.udp(UDP_SPORT_BASE + i as u16, UDP_PORT, &[0u8; 18]);
            debug_assert_eq!(f.len(), 60);
            f
        })
        .collect()
}

/// What the blast did.
#[derive(Debug, Clone, Copy, Default)]
pub struct BlastReport {
    /// Frames the TX ring accepted and the kernel completed.
    pub sent: u64,
    pub secs: f64,
    /// `tx` calls that found the TX ring full (back-pressure).
    pub ring_full: u64,
}

/// Sends the [`udp_frames`] round-robin through an AF_XDP socket on
/// `iface` queue 0 of the calling process's namespace for `secs` seconds,
/// as fast as the TX ring takes them, 64 frames a batch. Frames arriving
/// on the socket (none are expected) are freed.
pub fn udp_blast(iface: &str, flows: usize, secs: f64) -> Result<BlastReport, String> {
    let frames = udp_frames(flows);
    let cfg = XskConfig {
        frames: 4096,
        ring_size: 2048,
        ..XskConfig::default()
    };
    let (mut umem, mut ports) = open_worker(&[iface], 0, &cfg).map_err(|e| e.to_string())?;
    let port = &mut ports[0];
    let mut batch = [Desc::default(); 64];
    let mut rx = [Desc::default(); 64];
    let mut next = 0usize;
    let mut ring_full = 0u64;
    let start = Instant::now();
    let end = start + Duration::from_secs_f64(secs);
    let mut turns = 0u32;
    loop {
        turns = turns.wrapping_add(1);
        if turns.is_multiple_of(64) && Instant::now() >= end {
            break;
        }
        let mut n = 0;
        while n < batch.len() {
            let Some(mut d) = umem.alloc() else { break };
            let f = &frames[next];
            next = (next + 1) % frames.len();
            umem.set_len(&mut d, f.len());
            umem.bytes_mut(d).copy_from_slice(f);
            batch[n] = d;
            n += 1;
        }
        let took = port.tx(&mut umem, &batch[..n]);
        if took < n {
            ring_full += 1;
            for d in &batch[took..n] {
                umem.free(*d);
            }
            // Frames not taken go back; the flow order skips them, which
            // changes nothing for 1 024 flows.
        }
        port.poll(&mut umem);
        let got = port.rx(&mut umem, &mut rx);
        for d in &rx[..got] {
            umem.free(*d);
        }
    }
    // Let the ring drain so `sent` counts completed frames.
    let drain = Instant::now() + Duration::from_millis(500);
    while port.tx_outstanding() > 0 && Instant::now() < drain {
        port.poll(&mut umem);
    }
    let secs = start.elapsed().as_secs_f64();
    let s = port.stats();
    Ok(BlastReport {
        sent: s.tx - port.tx_outstanding() as u64,
        secs,
        ring_full,
    })
}

/// The TCP sink: listens on `port`, reads every connection; from the first
/// accept, waits `warm` seconds, then counts the bytes read in the next
/// `secs` seconds. Prints `listening` once bound (the caller waits for the
/// line), then `bytes N secs T` and returns.
pub fn tcp_sink(port: u16, warm: f64, secs: f64) -> Result<(u64, f64), String> {
    let l = TcpListener::bind(("0.0.0.0", port)).map_err(|e| format!("bind :{port}: {e}"))?;
    println!("listening");
    let _ = std::io::stdout().flush();
    let total = Arc::new(AtomicU64::new(0));
    let stop = Arc::new(AtomicBool::new(false));
    let (first_tx, first_rx) = std::sync::mpsc::channel::<()>();
    {
        let (total, stop) = (total.clone(), stop.clone());
        thread::spawn(move || {
            for c in l.incoming() {
                let Ok(mut c) = c else { continue };
                let _ = first_tx.send(());
                let (total, stop) = (total.clone(), stop.clone());
                thread::spawn(move || {
                    let mut buf = vec![0u8; 256 * 1024];
                    let _ = c.set_read_timeout(Some(Duration::from_secs(1)));
                    while !stop.load(Ordering::Relaxed) {
                        match c.read(&mut buf) {
                            Ok(0) => break,
                            Ok(n) => {
                                total.fetch_add(n as u64, Ordering::Relaxed);
                            }
                            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {}
                            Err(e) if e.kind() == std::io::ErrorKind::TimedOut => {}
                            Err(_) => break,
                        }
                    }
                });
            }
        });
    }
    first_rx
        .recv_timeout(Duration::from_secs(10))
        .map_err(|_| "no TCP connection within 10 s".to_string())?;
    thread::sleep(Duration::from_secs_f64(warm));
    let (b0, t0) = (total.load(Ordering::Relaxed), Instant::now());
    thread::sleep(Duration::from_secs_f64(secs));
    let (b1, dt) = (total.load(Ordering::Relaxed), t0.elapsed().as_secs_f64());
    stop.store(true, Ordering::Relaxed);
    Ok((b1 - b0, dt))
}

/// The TCP sender: `streams` connections to `host:port`, each writing
/// 128 KiB buffers for `secs` seconds or until the sink closes (a reset
/// after the first write ends a stream). Returns the bytes written.
pub fn tcp_send(host: Ipv4Addr, port: u16, streams: usize, secs: f64) -> Result<u64, String> {
    let addr = SocketAddr::from((host, port));
    let end = Instant::now() + Duration::from_secs_f64(secs);
    let handles: Vec<_> = (0..streams)
        .map(|_| {
            thread::spawn(move || -> Result<u64, String> {
                let mut c = TcpStream::connect_timeout(&addr, Duration::from_secs(5))
                    .map_err(|e| format!("connect {addr}: {e}"))?;
                let _ = c.set_write_timeout(Some(Duration::from_secs(2)));
                let buf = vec![0x5au8; 128 * 1024];
                let mut sent = 0u64;
                while Instant::now() < end {
                    match c.write(&buf) {
                        Ok(n) => sent += n as u64,
                        Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {}
                        Err(e) if e.kind() == std::io::ErrorKind::TimedOut => {}
                        // The sink closes when its window is over.
                        Err(_) if sent > 0 => break,
                        Err(e) => return Err(format!("write {addr}: {e}")),
                    }
                }
                Ok(sent)
            })
        })
        .collect();
    let mut total = 0;
    for h in handles {
        total += h
            .join()
            .map_err(|_| "sender thread panicked".to_string())??;
    }
    Ok(total)
}

/// Runs this executable with `args` in `ns` (`ip netns exec`), stdout
/// piped.
pub fn spawn_in(ns: &Netns, args: &[String]) -> Result<Child, String> {
    spawn_this(ns, args, false)
}

/// [`spawn_in`], the child leading a process group of its own (its pid
/// is the group's id: `killpg` reaches it and whatever it forks).
pub fn spawn_in_group(ns: &Netns, args: &[String]) -> Result<Child, String> {
    spawn_this(ns, args, true)
}

fn spawn_this(ns: &Netns, args: &[String], group: bool) -> Result<Child, String> {
    use std::os::unix::process::CommandExt as _;
    let exe = std::env::current_exe().map_err(|e| format!("current_exe: {e}"))?;
    let mut cmd = Command::new("ip");
    if group {
        cmd.process_group(0);
    }
    cmd.args(["netns", "exec", ns.name()])
        .arg(exe)
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| format!("cannot spawn in {}: {e}", ns.name()))
}

/// Waits for `child` up to `timeout` (then kills it); its stdout, or an
/// error with its stderr when it failed.
pub fn wait_output(mut child: Child, timeout: Duration) -> Result<String, String> {
    let deadline = Instant::now() + timeout;
    loop {
        match child.try_wait() {
            Ok(Some(_)) => break,
            Ok(None) if Instant::now() < deadline => thread::sleep(Duration::from_millis(20)),
            _ => {
                let _ = child.kill();
                let _ = child.wait();
                return Err(format!("helper did not finish within {timeout:?}"));
            }
        }
    }
    let out = child.wait_with_output().map_err(|e| e.to_string())?;
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    if out.status.success() {
        Ok(stdout)
    } else {
        Err(format!(
            "helper failed ({}): {}{}",
            out.status,
            stdout,
            String::from_utf8_lossy(&out.stderr)
        ))
    }
}

/// Reads the first line of `child`'s stdout (the sink's `listening`),
/// waiting up to 5 s; the rest of its stdout arrives on the returned
/// channel when it exits.
pub fn wait_line(child: &mut Child) -> Result<(String, Receiver<String>), String> {
    let out = child.stdout.take().ok_or("no stdout")?;
    let (tx, rx) = std::sync::mpsc::channel();
    thread::spawn(move || {
        let mut r = BufReader::new(out);
        let mut line = String::new();
        let _ = r.read_line(&mut line);
        let _ = tx.send(line);
        let mut rest = String::new();
        let _ = r.read_to_string(&mut rest);
        let _ = tx.send(rest);
    });
    let line = rx
        .recv_timeout(Duration::from_secs(5))
        .map_err(|_| "helper printed nothing within 5 s".to_string())?;
    Ok((line, rx))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frames_are_60_bytes_and_distinct() {
        let f = udp_frames(1024);
        assert_eq!(f.len(), 1024);
        assert!(f.iter().all(|x| x.len() == 60));
        let set: std::collections::HashSet<_> = f.iter().collect();
        assert_eq!(set.len(), 1024);
    }

    #[test]
    fn ten_thousand_rules_shape() {
        let t = ten_thousand_rules(10_000);
        assert_eq!(
            t.lines().filter(|l| l.starts_with("-A FORWARD")).count(),
            10_002
        );
        assert_eq!(t, ten_thousand_rules(10_000), "deterministic");
        assert!(!t.contains(" -s 10."));
        assert!(!t.contains("--dport 5001 "));
        // The parser that `sluice run` uses accepts it.
        sluice_config::iptables::parse(&t, Path::new("rules10k.v4")).expect("parses");
    }

    #[test]
    fn json_rx() {
        let s = r#"[{"stats64":{"rx":{"bytes":10,"packets":7},"tx":{"bytes":1,"packets":2}}}]"#;
        assert_eq!(json_u64_after(s, "\"rx\":{", "\"packets\":"), Some(7));
    }
}
