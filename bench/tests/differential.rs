//! Differential tests: one appliance config, one `iptables-restore` ruleset
//! (and sets) loaded into Linux in network namespaces
//! ([`KernelRouter`], the oracle) and into a sluice pipeline with in-memory
//! ports ([`SluiceRouter`]); the same probes sent through both; the frames
//! that come out (port, bytes, which probe caused them) and the per-rule
//! packet and byte counters must be the same.
//!
//! The rulesets live in `tests/data/NAME.rules` (sets in `NAME.ipset`,
//! topologies of their own in `NAME.toml`); one test function per
//! ruleset, so a failure names its case.
//!
//! What is masked: the IPv4 identification and the IPv6 flow label of
//! packets the router originates (ICMP errors, echo replies: the kernel
//! hashes a per-boot secret; sluice counts, and leaves the label 0).
//! Nothing else (but what a [`Diff::round_masked`] round blanks).
//!
//! Conntrack and NAT run in both: the kernel namespace tracks as soon as a
//! rule needs it, exactly as sluice does, so every probe compares, the
//! stateful ones included. [`Diff::conntrack_now`] also compares the
//! conntrack tables (`conntrack -L` against sluice's shard: protocol, TCP
//! state, both tuples, UNREPLIED / ASSURED, mark, timeout class). Where
//! the kernel picks a NAT port or ICMP id at random (a clash without a
//! port range), [`Diff::round_masked`] blanks it on both sides and the
//! test checks what is deterministic about it.
//!
//! One known divergence runs in a round of its own
//! ([`Diff::known_divergent`]) that must still diverge (so it is not
//! forgotten when it goes): sluice does not reassemble IPv4 fragments for
//! conntrack (`nf_defrag_ipv4`), so a lone first fragment is forwarded by
//! sluice where the kernel holds it for the rest.
//!
//! Not compared here: a full conntrack table (`nf_conntrack_max` is
//! read-only in a network namespace; see dataplane/tests/conntrack.rs).
//!
//! Probes to the router's own TCP/UDP ports are used only where a rule
//! drops or rejects them: sluice punts accepted local traffic to the host
//! stack (not part of this comparison), where the kernel answers it.
//!
//! Needs root, network namespaces and iptables-legacy; without them each
//! test prints `SKIP: <reason>` and passes.

use std::io::Write as _;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::time::{Duration, Instant};

use ipnet::IpNet;
use sluice_bench::frames::{self, describe, mask_ipv4_ident, tcp_opt, Captured, IpFrame, Tcp};
use sluice_bench::kernel::{self, host_mac, router_mac, KernelRouter};
use sluice_bench::sluice::{table_section, SluiceRouter};
use sluice_dataplane::wire::{checksum, ipv4, tcp::flags, MacAddr};

/// Listening time after each probe (the kernel forwards a frame within the
/// `sendto` that injects it; this is margin for a loaded machine). Dropped
/// probes cost all of it.
const WAIT: Duration = Duration::from_millis(60);

const PAYLOAD: &[u8] = b"probe";

// ---------------------------------------------------------------------------
// Topologies.

/// The topology of `n` ports r0, r1, ...: port rI has 10.0.(I+1).1/24.
fn ports(n: usize) -> String {
    (0..n)
        .map(|i| {
            format!(
                "[[interface]]\nname = \"r{i}\"\naddress = [\"10.0.{}.1/24\"]\n",
                i + 1
            )
        })
        .collect()
}

// Hosts.
const H0: &str = "10.0.1.2";
const H0B: &str = "10.0.1.3";
const H1: &str = "10.0.2.2";
const H1B: &str = "10.0.2.3";
const H2: &str = "10.0.3.2";
const R0: &str = "10.0.1.1";
const R1: &str = "10.0.2.1";

// ---------------------------------------------------------------------------
// Probes.

/// A probe: the port it is sent into and the frame.
type Probe = (&'static str, Vec<u8>);

/// The index of port `rN`.
fn port_index(port: &str) -> usize {
    port.strip_prefix('r')
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("port names are r0, r1, ...: {port:?}"))
}

fn v4(s: &str) -> Ipv4Addr {
    s.parse()
        .unwrap_or_else(|_| panic!("not an IPv4 address: {s}"))
}

/// Frames from the host behind `port` (its MAC to the router's).
#[derive(Debug, Clone, Copy)]
struct P {
    port: &'static str,
    f: IpFrame,
}

/// Headers of a probe arriving at `port` from `src` to `dst`.
fn p(port: &'static str, src: &str, dst: &str) -> P {
    let i = port_index(port);
    P {
        port,
        f: IpFrame::new(host_mac(i), router_mac(i), v4(src), v4(dst)),
    }
}

impl P {
    fn ttl(mut self, ttl: u8) -> P {
        self.f = self.f.ttl(ttl);
        self
    }

    fn tos(mut self, tos: u8) -> P {
        self.f = self.f.tos(tos);
        self
    }

    fn ident(mut self, id: u16) -> P {
        self.f = self.f.ident(id);
        self
    }

    fn df(mut self) -> P {
        self.f = self.f.dont_frag(true);
        self
    }

    fn src_mac(mut self, mac: MacAddr) -> P {
        self.f.src_mac = mac;
        self
    }

    fn dst_mac(mut self, mac: MacAddr) -> P {
        self.f.dst_mac = mac;
        self
    }

    fn at(&self, frame: Vec<u8>) -> Probe {
        (self.port, frame)
    }

    /// UDP from port 40000 to `dport`, 5 bytes of data.
    fn udp(&self, dport: u16) -> Probe {
        self.at(self.f.udp(40000, dport, PAYLOAD))
    }

    fn udp_ports(&self, sport: u16, dport: u16) -> Probe {
        self.at(self.f.udp(sport, dport, PAYLOAD))
    }

    /// UDP to port 9 with `n` bytes of data.
    fn udp_len(&self, n: usize) -> Probe {
        let data: Vec<u8> = (0..n).map(|i| i as u8).collect();
        self.at(self.f.udp(40000, 9, &data))
    }

    /// A TCP segment from port 40000 with `flags`, no options.
    fn tcp(&self, dport: u16, fl: u8) -> Probe {
        self.seg(Tcp::new(40000, dport, fl))
    }

    /// A SYN from port 40000 with MSS 1460.
    fn syn(&self, dport: u16) -> Probe {
        self.seg(Tcp::new(40000, dport, flags::SYN).option(&tcp_opt::mss(1460)))
    }

    fn seg(&self, seg: Tcp) -> Probe {
        self.at(self.f.tcp(&seg))
    }

    /// A SYN to `dport` whose TCP checksum is wrong.
    fn syn_bad_checksum(&self, dport: u16) -> Probe {
        let (port, mut frame) = self.syn(dport);
        frame[14 + 20 + 17] ^= 0xff;
        (port, frame)
    }

    /// A TCP segment to `dport` with `fl` whose data offset says 16 bytes
    /// (less than a TCP header), checksum recomputed.
    fn tcp_short_doff(&self, dport: u16, fl: u8) -> Probe {
        let (port, mut frame) = self.tcp(dport, fl);
        let l4 = 14 + 20;
        frame[l4 + 12] = 4 << 4;
        frame[l4 + 16..l4 + 18].fill(0);
        let c = checksum::transport(&self.f.src, &self.f.dst, 6, &frame[l4..]);
        frame[l4 + 16..l4 + 18].copy_from_slice(&c.to_be_bytes());
        (port, frame)
    }

    /// An echo request, identifier 7.
    fn ping(&self, seq: u16) -> Probe {
        self.at(self.f.icmp_echo(7, seq, PAYLOAD))
    }

    fn icmp(&self, t: u8, code: u8, data: &[u8]) -> Probe {
        self.at(self.f.icmp(t, code, 0, data))
    }

    /// A fragment: the IP header for `protocol` with `offset` (in 8-byte
    /// units) and MF, carrying `l4` as given (for a first fragment, the
    /// start of the transport header).
    fn frag(&self, protocol: u8, offset: u16, more: bool, l4: &[u8]) -> Probe {
        let mut frame = self.f.ip(protocol, l4);
        let mut ip = ipv4::Packet::new_unchecked(&mut frame[14..]);
        ip.set_frag_offset(offset * 8);
        ip.set_more_frags(more);
        ip.fill_checksum();
        self.at(frame)
    }

    /// The first fragment (MF, offset 0) of a UDP datagram to `dport` whose
    /// whole payload is 40 bytes: the UDP header and 16 bytes of it.
    fn udp_first_frag(&self, dport: u16) -> Probe {
        let whole = self.f.udp(40000, dport, &[0x5a; 40]);
        let l4 = whole[34..34 + 24].to_vec();
        self.frag(17, 0, true, &l4)
    }

    /// The last fragment of that datagram (offset 24 bytes).
    fn udp_last_frag(&self) -> Probe {
        self.frag(17, 3, false, &[0x5a; 24])
    }
}

/// `probe` with `opts` (a multiple of 4 bytes) as IPv4 options after the
/// fixed header: IHL, total length and header checksum follow.
fn with_ip_options((port, frame): Probe, opts: &[u8]) -> Probe {
    assert_eq!(opts.len() % 4, 0, "IPv4 options are padded to 4 bytes");
    let mut f = frame[..34].to_vec();
    f.extend_from_slice(opts);
    f.extend_from_slice(&frame[34..]);
    f[14] = 0x40 | (5 + opts.len() / 4) as u8;
    let mut ip = ipv4::Packet::new_unchecked(&mut f[14..]);
    let total = ip.total_len() + opts.len() as u16;
    ip.set_total_len(total);
    ip.fill_checksum();
    (port, f)
}

/// `probe` with its IPv4 payload cut to `keep` bytes (total length and
/// header checksum follow; the transport checksum is left as it was).
fn truncated((port, mut frame): Probe, keep: usize) -> Probe {
    frame.truncate(34 + keep);
    let mut ip = ipv4::Packet::new_unchecked(&mut frame[14..]);
    ip.set_total_len(20 + keep as u16);
    ip.fill_checksum();
    (port, frame)
}

/// `probe` with `n` bytes of Ethernet padding after the IP datagram.
fn padded((port, mut frame): Probe, n: usize) -> Probe {
    frame.resize(frame.len() + n, 0xee);
    (port, frame)
}

/// `probe` with its transport checksum (at `at` bytes into the transport
/// header) replaced by `value`.
fn with_l4_checksum((port, mut frame): Probe, at: usize, value: u16) -> Probe {
    frame[34 + at..34 + at + 2].copy_from_slice(&value.to_be_bytes());
    (port, frame)
}

// ---------------------------------------------------------------------------
// The harness.

/// Sets the flow label of an IPv6 frame to 0 (other frames are left
/// alone): for packets the router originates, whose label the kernel
/// derives from a per-boot secret (`ip6_make_flowlabel`, auto flow labels)
/// and sluice leaves 0. The ICMPv6 checksum does not cover it.
fn mask_ipv6_flow_label(frame: &mut [u8]) {
    if frame.len() >= 14 + 40 && frame[12..14] == [0x86, 0xdd] {
        frame[15] &= 0xf0;
        frame[16] = 0;
        frame[17] = 0;
    }
}

/// Prints `SKIP: ...` past the harness's capture.
fn skip(test: &str, why: &str) {
    let _ = writeln!(std::io::stderr().lock(), "SKIP: {test}: {why}");
}

/// One case: both routers, built from the same files.
struct Diff {
    name: &'static str,
    kernel: KernelRouter,
    sluice: SluiceRouter,
    /// The tables the ruleset names (`*raw`, ...), whose counters are
    /// compared.
    tables: Vec<String>,
    /// The router's own addresses: packets from them are originated by the
    /// router, and their IPv4 identification or IPv6 flow label is masked.
    own: Vec<IpAddr>,
    probes_sent: usize,
    failures: Vec<String>,
    started: Instant,
    /// Set once a known-divergent round ran: counters no longer compare.
    diverged: bool,
}

/// The rules, sets and topology files of a case, from `tests/data`.
macro_rules! data {
    ($file:literal) => {
        include_str!(concat!(env!("CARGO_MANIFEST_DIR"), "/tests/data/", $file))
    };
    ($name:ident, $ext:literal) => {
        include_str!(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/tests/data/",
            stringify!($name),
            ".",
            $ext
        ))
    };
}

impl Diff {
    /// Both routers for a case, with the hosts .2 and .3 of every
    /// connected network as neighbours (at the MAC of the host behind the
    /// port); `None` after printing SKIP when the kernel cannot run here.
    fn new(name: &'static str, toml: &str, rules: &str, sets: Option<&str>) -> Option<Diff> {
        if let Some(why) = kernel::skip_reason() {
            skip(name, &why);
            return None;
        }
        let started = Instant::now();
        let kernel = KernelRouter::new(toml, rules, sets)
            .unwrap_or_else(|e| panic!("{name}: kernel: {e}"))
            .with_probe_binary(env!("CARGO_BIN_EXE_sluice-probe"));
        let sluice =
            SluiceRouter::new(toml, rules, sets).unwrap_or_else(|e| panic!("{name}: sluice: {e}"));
        let tables = rules
            .lines()
            .filter_map(|l| l.trim().strip_prefix('*'))
            .map(|t| t.trim().to_string())
            .collect();
        let own = kernel
            .appliance()
            .interfaces
            .iter()
            .flat_map(|i| i.addresses.iter())
            .map(IpNet::addr)
            .collect();
        let mut d = Diff {
            name,
            kernel,
            sluice,
            tables,
            own,
            probes_sent: 0,
            failures: Vec::new(),
            started,
            diverged: false,
        };
        let ports: Vec<String> = d
            .kernel
            .appliance()
            .interfaces
            .iter()
            .map(|i| i.name.clone())
            .collect();
        for port in &ports {
            let net = 1 + port_index(port);
            for host in [2, 3] {
                d.host(port, &format!("10.0.{net}.{host}"));
            }
        }
        Some(d)
    }

    /// `ip` is a host behind `port` (a permanent neighbour at its host's
    /// MAC), in both routers.
    fn host(&mut self, port: &str, ip: &str) -> &mut Diff {
        let ip = IpAddr::V4(v4(ip));
        self.kernel
            .add_host(port, ip)
            .unwrap_or_else(|e| panic!("{}: {e}", self.name));
        self.sluice.add_host(port, ip);
        self
    }

    /// `ip` (IPv6) is a host behind `port`, in both routers.
    fn host6(&mut self, port: &str, ip: &str) -> &mut Diff {
        let ip = IpAddr::V6(ip.parse().expect("an IPv6 address"));
        self.kernel
            .add_host(port, ip)
            .unwrap_or_else(|e| panic!("{}: {e}", self.name));
        self.sluice.add_host(port, ip);
        self
    }

    /// Sends `probes` through both and returns (kernel, sluice) captures,
    /// masked, with probe indices counted from the start of the case.
    fn run(&mut self, probes: &[Probe]) -> (Vec<Captured>, Vec<Captured>) {
        let mut k = self
            .kernel
            .probe(probes, WAIT)
            .unwrap_or_else(|e| panic!("{}: kernel probe: {e}", self.name));
        let mut s = self
            .sluice
            .probe(probes, WAIT)
            .unwrap_or_else(|e| panic!("{}: sluice probe: {e}", self.name));
        for c in k.iter_mut().chain(s.iter_mut()) {
            c.probe += self.probes_sent;
            if self.originated(&c.frame) {
                mask_ipv4_ident(&mut c.frame);
                mask_ipv6_flow_label(&mut c.frame);
            }
        }
        self.probes_sent += probes.len();
        (k, s)
    }

    fn originated(&self, frame: &[u8]) -> bool {
        match sluice_dataplane::wire::parse(frame) {
            Ok(m) => self.own.contains(&m.src),
            Err(_) => false,
        }
    }

    /// Sends `probes` through both routers; the frames out must agree.
    fn round(&mut self, probes: &[Probe]) -> &mut Diff {
        let first = self.probes_sent;
        let (k, s) = self.run(probes);
        eprintln!(
            "{}: probes {first}..{}: kernel\n{}",
            self.name,
            self.probes_sent,
            describe(&k)
        );
        if let Some(d) = frames::diff(&k, &s) {
            self.failures.push(format!(
                "frames differ for probes {first}..{}:\n{d}\nprobes:\n{}",
                self.probes_sent,
                list_probes(probes, first)
            ));
        }
        self
    }

    /// [`Diff::round`] for probes where the kernel picks something at
    /// random (a NAT port or ICMP id out of a range, `get_random_u16`):
    /// `mask` blanks it in both captures before they are compared. Returns
    /// the captures unmasked (kernel, sluice) for the test's own checks of
    /// what was masked.
    fn round_masked(
        &mut self,
        probes: &[Probe],
        mask: impl Fn(&mut Captured),
    ) -> (Vec<Captured>, Vec<Captured>) {
        let first = self.probes_sent;
        let (k, s) = self.run(probes);
        eprintln!(
            "{}: probes {first}..{} (masked): kernel\n{}",
            self.name,
            self.probes_sent,
            describe(&k)
        );
        let (mut km, mut sm) = (k.clone(), s.clone());
        km.iter_mut().chain(sm.iter_mut()).for_each(&mask);
        if let Some(d) = frames::diff(&km, &sm) {
            self.failures.push(format!(
                "frames differ (masked) for probes {first}..{}:\n{d}\nprobes:\n{}",
                self.probes_sent,
                list_probes(probes, first)
            ));
        }
        (k, s)
    }

    /// Compares the conntrack tables now: the kernel's `conntrack -L` and
    /// sluice's shard, as [`sluice_bench::ctlist`] lines (protocol, TCP
    /// state, both tuples, UNREPLIED / ASSURED, mark, timeout class).
    fn conntrack_now(&mut self) -> &mut Diff {
        let k = self
            .kernel
            .conntrack_entries()
            .unwrap_or_else(|e| panic!("{}: conntrack -L: {e}", self.name));
        let s = self.sluice.conntrack_entries();
        eprintln!("{}: kernel conntrack:\n{}", self.name, k.join("\n"));
        if k != s {
            self.failures.push(format!(
                "conntrack tables differ (- kernel only, + sluice only):\n{}",
                k.iter()
                    .filter(|l| !s.contains(l))
                    .map(|l| format!("  - {l}\n"))
                    .chain(
                        s.iter()
                            .filter(|l| !k.contains(l))
                            .map(|l| format!("  + {l}\n"))
                    )
                    .collect::<String>()
            ));
        }
        self
    }

    /// Moves both routers' clocks on by `d` (the kernel's by sleeping).
    fn sleep(&mut self, d: Duration) -> &mut Diff {
        std::thread::sleep(d);
        self.sluice.advance(d);
        self
    }

    /// Probes whose outcome is known to differ (see the module docs): run through both, printed, and required to still differ in
    /// the frames out or the counters. Counters are not compared after
    /// this.
    fn known_divergent(&mut self, reason: &str, probes: &[Probe]) -> &mut Diff {
        let first = self.probes_sent;
        let (k, s) = self.run(probes);
        let frames = frames::diff(&k, &s);
        let counters = self.counter_diff();
        eprintln!(
            "{}: KNOWN DIVERGENT (probes {first}..{}): {reason}\n{}\n{}",
            self.name,
            self.probes_sent,
            frames.as_deref().unwrap_or("frames agree"),
            counters.as_deref().unwrap_or("counters agree")
        );
        if frames.is_none() && counters.is_none() {
            self.failures.push(format!(
                "the known divergence ({reason}) of probes {first}..{} is gone: \
                 compare them in a normal round and update KNOWN_DIVERGENT",
                self.probes_sent
            ));
        }
        self.diverged = true;
        self
    }

    /// The differences between the kernel's and sluice's counters, table by
    /// table.
    fn counter_diff(&self) -> Option<String> {
        let saved = self.sluice.save_with_counters();
        let mut out = String::new();
        for table in &self.tables {
            let k = self
                .kernel
                .counters(table)
                .unwrap_or_else(|e| panic!("{}: kernel counters: {e}", self.name));
            eprintln!("{}: kernel counters:\n{k}", self.name);
            let s = table_section(&saved, table);
            if k != s {
                out.push_str(&format!(
                    "table {table}: kernel vs sluice\n{}",
                    line_diff(&k, &s)
                ));
            }
        }
        (!out.is_empty()).then_some(out)
    }

    /// Compares the counters now (a mid-test check of the counters so far);
    /// a difference fails the test at [`Diff::check`].
    fn counters_now(&mut self) -> &mut Diff {
        if let Some(d) = self.counter_diff() {
            self.failures.push(format!("counters differ:\n{d}"));
        }
        self
    }

    /// Compares the counters (unless a known divergence ran) and fails the
    /// test with everything that differed.
    fn check(&mut self) {
        if !self.diverged {
            if let Some(d) = self.counter_diff() {
                self.failures.push(format!("counters differ:\n{d}"));
            }
        }
        eprintln!(
            "{}: {} probes in {:?}",
            self.name,
            self.probes_sent,
            self.started.elapsed()
        );
        if !self.failures.is_empty() {
            let punted = self.sluice.take_punted();
            panic!(
                "{}: sluice and the kernel disagree\n{}\n(sluice punted {} frame(s) to the host stack; \
                 pipeline counters: {:?})",
                self.name,
                self.failures.join("\n\n"),
                punted.len(),
                self.sluice
                    .pipeline_counters()
                    .iter()
                    .filter(|(_, v)| *v != 0)
                    .collect::<Vec<_>>()
            );
        }
    }
}

/// The probes, one a line, numbered from `first`.
fn list_probes(probes: &[Probe], first: usize) -> String {
    probes
        .iter()
        .enumerate()
        .map(|(i, (port, f))| format!("  #{} {port}: {}", first + i, frames::summarize(f)))
        .collect::<Vec<_>>()
        .join("\n")
}

/// Lines of `a` and `b` side by side where they differ (`-` kernel, `+`
/// sluice), by position.
fn line_diff(a: &str, b: &str) -> String {
    let (la, lb): (Vec<&str>, Vec<&str>) = (a.lines().collect(), b.lines().collect());
    let mut out = String::new();
    for i in 0..la.len().max(lb.len()) {
        let (x, y) = (la.get(i), lb.get(i));
        if x == y {
            out.push_str(&format!("    {}\n", x.unwrap_or(&"")));
        } else {
            if let Some(x) = x {
                out.push_str(&format!("  - {x}\n"));
            }
            if let Some(y) = y {
                out.push_str(&format!("  + {y}\n"));
            }
        }
    }
    out
}

/// One `#[test]` per case, named `$name`, from `tests/data/$name.rules`
/// (and `$name.ipset` with `ipset`; the topology `$name.toml` with
/// `own_toml`): `$body` runs with the case as `$d`, or the test prints SKIP
/// and passes.
macro_rules! diff_test {
    ($name:ident, own_toml, |$d:ident| $body:block) => {
        diff_test!(@case $name, data!($name, "toml"), None, |$d| $body);
    };
    ($name:ident, $toml:expr, ipset, |$d:ident| $body:block) => {
        diff_test!(@case $name, $toml, Some(data!($name, "ipset")), |$d| $body);
    };
    ($name:ident, $toml:expr, |$d:ident| $body:block) => {
        diff_test!(@case $name, $toml, None, |$d| $body);
    };
    (@case $name:ident, $toml:expr, $sets:expr, |$d:ident| $body:block) => {
        #[test]
        fn $name() {
            let Some(mut $d) = Diff::new(stringify!($name), $toml, data!($name, "rules"), $sets)
            else {
                return;
            };
            $body
        }
    };
}

// ---------------------------------------------------------------------------
// The cases.

diff_test!(empty_ruleset, &ports(2), |d| {
    d.round(&[
        p("r0", H0, H1).udp(9),
        p("r1", H1, H0).udp(53),
        p("r0", H0, H1).syn(80),
        p("r0", H0, H1).ping(1),
        p("r0", H0, R0).ping(2),
        p("r1", H1, R0).ping(3),
        p("r0", H0, H1).ttl(1).udp(9),
        p("r0", H0, H1).ttl(2).udp(9),
        p("r0", H0, "10.0.9.9").udp(9),
    ])
    .check();
});

diff_test!(policy_accept_drop_rules, &ports(2), |d| {
    d.round(&[
        p("r0", H0, H1).syn(23),
        p("r0", H0, H1).syn(22),
        p("r1", H1B, H0).udp(53),
        p("r1", H1, H0).udp(53),
        p("r0", H0, H1B).ping(1),
        p("r0", H0, H1).ping(2),
        p("r0", H0, H1).syn(137),
        p("r0", H0, H1).syn(140),
        p("r1", H1B, R1).ping(3),
        p("r1", H1, R1).ping(4),
    ])
    .check();
});

diff_test!(bastion_ssh_allowlist, &ports(2), |d| {
    d.host("r1", "10.0.2.10").host("r0", "10.0.1.10");
    let bastion = "10.0.2.10";
    d.round(&[
        p("r0", "10.0.1.10", bastion).syn(22),
        p("r0", "10.0.1.11", bastion).syn(22),
        p("r0", "10.0.1.70", bastion).syn(22),
        p("r0", "10.0.1.12", bastion).syn(22),
        p("r0", "10.0.1.128", bastion).syn(22),
        p("r0", "10.0.1.10", bastion).syn(2222),
        p("r0", "10.0.1.10", H1).syn(22),
        p("r0", "10.0.1.12", bastion).ping(1),
        p("r1", bastion, "10.0.1.10").seg(
            Tcp::new(22, 40000, flags::SYN | flags::ACK)
                .ack(1001)
                .option(&tcp_opt::mss(1460)),
        ),
        p("r1", bastion, "10.0.1.10").udp_ports(22, 40000),
        p("r0", H0, R0).ping(2),
        p("r0", H0, R0).syn(22),
    ])
    .check();
});

diff_test!(database_isolation, &ports(2), |d| {
    let db = "10.0.2.20";
    d.host("r1", db)
        .host("r0", "10.0.1.17")
        .host("r0", "10.0.1.32");
    d.round(&[
        p("r0", "10.0.1.17", db).syn(5432),
        p("r0", "10.0.1.31", db).syn(5432),
        p("r0", "10.0.1.32", db).syn(5432),
        p("r0", "10.0.1.17", db).syn(22),
        p("r0", H0, db).udp(5432),
        p("r0", H0, db).ping(1),
        p("r1", db, "10.0.1.17").seg(Tcp::new(5432, 40000, flags::SYN | flags::ACK).ack(1001)),
        p("r1", db, H0).seg(Tcp::new(5432, 40000, flags::SYN | flags::ACK).ack(1001)),
        p("r1", db, "10.0.1.17").udp_ports(5432, 40000),
        p("r0", H0, H1).syn(5432),
    ])
    .check();
});

diff_test!(log_and_drop_chain, &ports(2), |d| {
    d.round(&[
        p("r0", H0, H1).syn(23),
        p("r0", H0, R0).syn(23),
        p("r1", H1, R0).syn(23),
        p("r1", H1, H0).udp(161),
        p("r0", H0, H1).udp(161),
        p("r0", H0, H1).syn(22),
        p("r1", H1, H0).ping(1),
    ])
    .check();
    // The LOG records are not compared with the kernel's log (in a
    // namespace the kernel logs nothing, nf_log_all_netns being 0), but
    // there is one per packet the chain dropped: telnet forwarded, telnet
    // to the box from either side, SNMP from the WAN.
    let log = d.sluice.take_log();
    assert_eq!(
        log.iter()
            .filter(|r| r.prefix.as_str() == "FW DROP: ")
            .count(),
        4,
        "{}",
        log.iter().map(|r| r.line()).collect::<Vec<_>>().join("\n")
    );
});

diff_test!(default_drop_input_established, &ports(2), |d| {
    // First packets: NEW in the kernel, UNTRACKED in sluice; no state rule
    // matches either.
    d.round(&[
        p("r0", H0, R0).ping(1),
        p("r0", H0, R1).ping(1),
        p("r0", H0B, R0).ping(1),
        p("r1", H1, R0).ping(1),
        p("r1", H1, R1).syn(22),
        p("r1", H1, R0).udp(53),
        p("r0", H0, H1).udp(9),
    ]);
    d.counters_now();
    d.round(&[p("r0", H0, R0).ping(1), p("r1", H1, R1).icmp(0, 0, PAYLOAD)])
        .check();
});

diff_test!(stateful_forward, &ports(2), |d| {
    d.round(&[
        p("r0", H0, H1).syn(80),
        p("r0", H0, H1).udp(9),
        p("r0", H0, H1).ping(1),
        p("r1", H1, H0).syn(22),
        p("r1", H1, H0).udp_ports(41000, 53),
        p("r1", H1B, H0).ping(1),
    ]);
    d.counters_now();
    d.round(&[
        p("r1", H1, H0).seg(Tcp::new(80, 40000, flags::SYN | flags::ACK).ack(1001)),
        p("r1", H1, H0).udp_ports(9, 40000),
        p("r1", H1, H0).at(p("r1", H1, H0).f.icmp(0, 0, 7 << 16 | 1, PAYLOAD)),
        p("r1", H1, H0).tcp(5555, flags::RST),
    ])
    .check();
});

diff_test!(raw_notrack_untracked, &ports(2), |d| {
    d.round(&[
        p("r0", H0, H1).udp(5000),
        p("r1", H1, H0).udp_ports(5000, 40000),
        p("r0", H0, H1).syn(80),
        p("r1", H1, H0).udp(5000),
    ]);
    d.counters_now();
    d.round(&[p("r0", H0, H1).syn(443), p("r0", H0, H1).udp(5001)])
        .check();
});

diff_test!(nth_round_robin, own_toml, |d| {
    let far = "10.99.0.10";
    let mut probes: Vec<Probe> = (0..7).map(|i| p("r0", H0, far).udp(100 + i)).collect();
    probes.insert(3, p("r0", H0, H1).udp(9));
    probes.push(p("r1", H1, far).udp(9));
    d.round(&probes).check();
});

diff_test!(anti_spoofing, &ports(2), |d| {
    d.round(&[
        p("r1", "10.0.1.5", H0).udp(9),
        p("r1", "127.0.0.1", H0).udp(9),
        p("r1", "224.0.0.5", H0).udp(9),
        p("r1", "0.0.0.1", H0).udp(9),
        p("r1", R1, H0).udp(9),
        p("r1", H1, H0).udp(9),
        p("r1", "172.16.5.5", H0).udp(9),
        p("r0", H0, H1).udp(9),
        p("r0", "10.0.3.9", H1).udp(9),
        p("r0", "192.168.1.1", H1).udp(9),
        p("r0", H0, R0).ping(1),
    ])
    .check();
});

diff_test!(ipset_hash_ip, &ports(2), ipset, |d| {
    d.host("r1", "10.0.2.9");
    d.round(&[
        p("r1", "10.0.2.7", H0).udp(9),
        p("r1", "10.0.2.9", H0).udp(9),
        p("r1", "172.16.0.1", H0).udp(9),
        p("r1", "172.16.0.2", H0).udp(9),
        p("r0", H0, "10.0.2.8").udp(9),
        p("r0", H0, "10.0.2.9").udp(9),
        p("r1", "10.0.2.7", R1).ping(1),
        p("r1", H1, R1).ping(2),
    ])
    .check();
});

diff_test!(ipset_hash_net_nomatch, &ports(3), ipset, |d| {
    d.host("r1", "10.0.2.5").host("r1", "10.0.2.200");
    d.round(&[
        p("r1", "10.0.2.5", H0).udp(9),
        p("r1", "10.0.2.200", H0).udp(9),
        p("r1", "172.16.1.1", H0).udp(9),
        p("r1", "172.16.5.9", H0).udp(9),
        p("r1", "172.32.0.1", H0).udp(9),
        p("r0", H0, "10.0.2.5").udp(9),
        p("r0", H0, "10.0.2.200").udp(9),
        p("r0", H0, H2).udp(9),
        p("r2", H2, H0).udp(9),
        p("r2", "172.16.9.9", H0).udp(9),
        p("r2", "172.16.5.1", H0).udp(9),
    ])
    .check();
});

diff_test!(ipset_hash_ip_port, &ports(2), ipset, |d| {
    d.round(&[
        p("r0", H0, H1).syn(80),
        p("r0", H0, H1).udp(80),
        p("r0", H0, H1).udp(53),
        p("r0", H0, H1B).syn(22),
        p("r0", H0, H1B).syn(80),
        p("r0", H0, H1).ping(1),
        p("r0", H0, H1B).ping(1),
        p("r1", H1, H0).seg(Tcp::new(80, 40000, flags::SYN | flags::ACK).ack(1001)),
        p("r1", H1, H0).seg(Tcp::new(81, 40000, flags::SYN | flags::ACK).ack(1001)),
        p("r1", H1, H0).udp_ports(53, 40000),
    ])
    .check();
});

diff_test!(mark_policy_route, own_toml, |d| {
    d.round(&[
        p("r0", H0B, H1).udp(9),
        p("r0", H0, H1).udp(9),
        p("r0", H0, H1).syn(443),
        p("r0", H0, H1).udp(53),
        p("r0", H0B, H1).syn(443),
        p("r0", H0B, R0).ping(1),
        p("r0", H0B, H2).udp(9),
        p("r0", H0, H1).udp(54),
        p("r0", H0, H1).udp(55),
    ])
    .check();
});

diff_test!(reject_icmp_codes, &ports(2), |d| {
    // At most four ICMP errors per source: the kernel's per-peer limit
    // allows a burst of six.
    let quote = p("r0", H0, H1).udp(9).1[14..14 + 28].to_vec();
    d.round(&[
        p("r0", H0, H1).udp(1),
        p("r0", H0, H1).udp(2),
        p("r0", H0, H1).udp(3),
        p("r0", H0, H1).udp(4),
        p("r0", H0B, H1).udp(5),
        p("r0", H0B, H1).udp(6),
        p("r0", H0B, H1).udp(7),
        p("r0", H0B, H1).syn(1),
        p("r1", H1, H0).ping(1),
        p("r1", H1B, H0).icmp(3, 3, &quote),
        p("r1", H1B, H0).udp_last_frag(),
        p("r1", H1B, H0).udp(9),
    ])
    .check();
});

diff_test!(reject_tcp_reset, &ports(2), |d| {
    d.round(&[
        p("r0", H0, H1).syn(80),
        p("r0", H0, H1).seg(
            Tcp::new(40000, 80, flags::ACK | flags::PSH)
                .seq(5000)
                .ack(7000)
                .payload(b"GET / HTTP/1.0\r\n"),
        ),
        p("r0", H0, H1).seg(Tcp::new(40000, 80, flags::FIN | flags::ACK).seq(9).ack(77)),
        p("r0", H0, H1).tcp(80, flags::RST),
        p("r0", H0, H1).syn_bad_checksum(80),
        p("r1", H1, H0).syn(80),
        p("r0", H0B, H1).syn(81),
        p("r0", H0B, H1).syn(82),
        p("r0", H0B, R0).syn(23),
        p("r1", H1B, R0).seg(Tcp::new(40000, 23, flags::ACK).seq(1).ack(2)),
        p("r0", H0, H1).syn(83),
    ])
    .check();
});

diff_test!(reject_input, &ports(2), |d| {
    d.round(&[
        p("r0", H0, R0).udp(53),
        p("r0", H0B, R1).udp(53),
        p("r0", H0, R0).syn(22),
        p("r0", H0B, R1).syn(22),
        p("r1", H1, R1).icmp(13, 0, &[0; 12]),
        p("r0", H0, "10.0.1.255")
            .dst_mac(MacAddr::BROADCAST)
            .udp(53),
        p("r1", H1, R1).ping(1),
    ])
    .check();
});

diff_test!(ttl_target, &ports(2), |d| {
    d.round(&[
        p("r0", H0, H1).udp(1),
        p("r0", H0, H1).ttl(1).udp(1),
        p("r0", H0, H1).udp(2),
        p("r0", H0, H1).ttl(5).udp(2),
        p("r0", H0, H1).ttl(200).udp(3),
        p("r0", H0, H1).udp(4),
        p("r0", H0, H1).udp(5),
        p("r0", H0, H1).ttl(255).udp(5),
        p("r0", H0, H1).ttl(1).udp(9),
    ])
    .check();
});

diff_test!(dscp_target, &ports(2), |d| {
    d.round(&[
        p("r0", H0, H1).udp(1),
        p("r0", H0, H1).tos(0x03).udp(1),
        p("r0", H0, H1).tos(0x01).udp(2),
        p("r0", H0, H1).tos(0xfe).udp(3),
        p("r0", H0, H1).tos(0x01).syn(80),
        p("r0", H0, H1).tos(0x10).udp(9),
        p("r0", H0, R0).tos(0xb8).ping(1),
    ])
    .check();
});

diff_test!(tcpmss_set_mss, &ports(2), |d| {
    d.round(&[
        p("r0", H0, H1).syn(80),
        p("r0", H0, H1).seg(Tcp::new(40000, 80, flags::SYN).option(&tcp_opt::mss(1000))),
        p("r0", H0, H1).tcp(80, flags::SYN),
        p("r0", H0, H1).seg(
            Tcp::new(40000, 80, flags::SYN)
                .option(&tcp_opt::mss(1460))
                .option(&tcp_opt::sack_permitted())
                .option(&tcp_opt::timestamps(1, 0))
                .option(&tcp_opt::nop())
                .option(&tcp_opt::window_scale(7)),
        ),
        p("r1", H1, H0).seg(
            Tcp::new(80, 40000, flags::SYN | flags::ACK)
                .ack(1001)
                .option(&tcp_opt::mss(1460)),
        ),
        p("r0", H0, H1).seg(Tcp::new(40000, 80, flags::ACK).option(&tcp_opt::mss(1460))),
        p("r0", H0, H1).seg(Tcp::new(40000, 80, flags::SYN).payload(b"fast open")),
        p("r0", H0, H1)
            .seg(Tcp::new(40000, 80, flags::SYN | flags::RST).option(&tcp_opt::mss(1460))),
        // A 60-byte header without MSS: no room to add one.
        p("r0", H0, H1).seg(Tcp::new(40000, 80, flags::SYN).option(&[1; 40])),
        // MSS after other options, not 4-aligned.
        p("r0", H0, H1).seg(
            Tcp::new(40000, 80, flags::SYN)
                .option(&tcp_opt::nop())
                .option(&tcp_opt::window_scale(7))
                .option(&tcp_opt::mss(1460)),
        ),
        // A data offset below 5: TCPMSS drops the packet.
        p("r0", H0, H1).tcp_short_doff(80, flags::SYN),
        // IPv4 options in front of the SYN.
        with_ip_options(p("r0", H0, H1).syn(80), &[1, 1, 1, 0]),
    ])
    .check();
});

diff_test!(tcpmss_clamp_pmtu, own_toml, |d| {
    d.round(&[
        p("r0", H0, H1).syn(80),
        p("r0", H0, H1).seg(Tcp::new(40000, 80, flags::SYN).option(&tcp_opt::mss(1300))),
        p("r1", H1, H0).seg(
            Tcp::new(80, 40000, flags::SYN | flags::ACK)
                .ack(1001)
                .option(&tcp_opt::mss(1460)),
        ),
        p("r1", H1, H0).seg(Tcp::new(40001, 22, flags::SYN).option(&tcp_opt::mss(1500))),
        p("r0", H0, H1).df().udp_len(1400),
        p("r0", H0, H1).udp_len(1400),
    ])
    .check();
});

diff_test!(multiport, &ports(2), |d| {
    d.round(&[
        p("r0", H0, H1).syn(22),
        p("r0", H0, H1).syn(8080),
        p("r0", H0, H1).syn(8081),
        p("r0", H0, H1).syn(7999),
        p("r0", H0, H1).syn(443),
        p("r1", H1, H0).udp_ports(53, 999),
        p("r1", H1, H0).udp_ports(54, 999),
        p("r0", H0, H1).udp(2000),
        p("r0", H0, H1).seg(Tcp::new(587, 3000, flags::SYN)),
        p("r0", H0, H1).seg(Tcp::new(3000, 25, flags::SYN)),
        p("r0", H0, H1).ping(1),
    ])
    .check();
});

diff_test!(iprange, &ports(2), |d| {
    d.host("r1", "10.0.2.99").host("r1", "10.0.2.201");
    d.round(&[
        p("r0", "10.0.1.9", H1).udp(9),
        p("r0", "10.0.1.10", H1).udp(9),
        p("r0", "10.0.1.20", H1).udp(9),
        p("r0", "10.0.1.21", H1).udp(9),
        p("r0", H0, "10.0.2.99").udp(9),
        p("r0", H0, "10.0.2.100").udp(9),
        p("r0", H0, "10.0.2.200").udp(9),
        p("r0", H0, "10.0.2.201").udp(9),
        p("r0", H0, "10.0.2.100").ping(1),
        p("r1", "10.0.2.127", H0).udp(9),
        p("r1", "10.0.2.128", H0).udp(9),
    ])
    .check();
});

diff_test!(length_match, &ports(2), |d| {
    let ping = |n: usize| {
        let data: Vec<u8> = (0..n).map(|i| i as u8).collect();
        let h = p("r0", H0, H1);
        h.at(h.f.icmp_echo(7, 1, &data))
    };
    d.round(&[
        p("r0", H0, H1).udp_len(12),
        p("r0", H0, H1).udp_len(13),
        p("r0", H0, H1).udp_len(971),
        p("r0", H0, H1).udp_len(972),
        p("r0", H0, H1).udp_len(1072),
        p("r0", H0, H1).udp_len(1073),
        ping(56),
        ping(5),
        p("r0", H0, H1).syn(80),
    ])
    .check();
});

diff_test!(ttl_match, &ports(2), |d| {
    d.round(&[
        p("r0", H0, H1).udp(1),
        p("r0", H0, H1).ttl(63).udp(1),
        p("r0", H0, H1).ttl(4).udp(9),
        p("r0", H0, H1).ttl(5).udp(9),
        p("r0", H0, H1).ttl(255).udp(9),
        p("r0", H0, H1).ttl(201).udp(9),
        p("r0", H0, H1).ttl(10).udp(2),
        p("r0", H0, H1).ttl(9).udp(2),
        p("r0", H0, R0).ttl(4).ping(1),
        p("r0", H0, R0).ttl(5).ping(2),
        p("r0", H0, H1).ttl(1).udp(9),
    ])
    .check();
});

diff_test!(tos_dscp_match, &ports(2), |d| {
    d.round(&[
        p("r0", H0, H1).tos(0x10).udp(1),
        p("r0", H0, H1).tos(0x12).udp(1),
        p("r0", H0, H1).tos(0x50).udp(1),
        p("r0", H0, H1).tos(0x08).udp(2),
        p("r0", H0, H1).tos(0x09).udp(2),
        p("r0", H0, H1).tos(0xb8).udp(9),
        p("r0", H0, H1).tos(0xb9).ping(1),
        p("r0", H0, H1).tos(0x28).udp(9),
        p("r0", H0, H1).tos(0x28).syn(80),
        p("r0", H0, H1).tos(0x02).syn(80),
        p("r0", H0, H1).syn(81),
    ])
    .check();
});

diff_test!(pkttype_match, &ports(2), |d| {
    let mcast = MacAddr([0x01, 0x00, 0x5e, 0x00, 0x00, 0x01]);
    let mcast9 = MacAddr([0x01, 0x00, 0x5e, 0x00, 0x00, 0x09]);
    d.round(&[
        p("r0", H0, "10.0.1.255").dst_mac(MacAddr::BROADCAST).udp(9),
        p("r0", H0, "255.255.255.255")
            .dst_mac(MacAddr::BROADCAST)
            .udp(9),
        p("r0", H0, "224.0.0.1").dst_mac(mcast).udp(9),
        p("r0", H0, "224.0.0.9").dst_mac(mcast9).udp(520),
        p("r0", H0, R0).dst_mac(mcast).udp(9),
        p("r0", H0, R0).ping(1),
        p("r0", H0, "10.0.1.255")
            .dst_mac(MacAddr::BROADCAST)
            .ping(2),
        p("r0", H0, H1).dst_mac(MacAddr::BROADCAST).udp(9),
        p("r0", H0, H1).udp(7),
        p("r0", H0, H1).udp(9),
    ])
    .check();
});

diff_test!(mac_source, &ports(2), |d| {
    let other = MacAddr([0x52, 0x54, 0x00, 0xaa, 0xbb, 0xcc]);
    let banned = MacAddr([0x52, 0x54, 0x00, 0x12, 0x34, 0x56]);
    d.round(&[
        p("r0", H0, H1).udp(9),
        p("r0", H0, H1).src_mac(other).udp(9),
        p("r1", H1, H0).udp(9),
        p("r1", H1, H0).src_mac(banned).udp(9),
        p("r1", H1, H0).src_mac(other).udp(9),
        p("r0", H0, R0).src_mac(banned).ping(1),
        p("r0", H0, R0).src_mac(other).ping(2),
    ])
    .check();
});

diff_test!(addrtype_match, &ports(2), |d| {
    let mcast = MacAddr([0x01, 0x00, 0x5e, 0x00, 0x00, 0x01]);
    d.round(&[
        p("r0", H0, R0).ping(1),
        p("r0", H0, R1).ping(2),
        p("r0", H0, R1).udp(53),
        p("r0", H0, R0).udp(53),
        p("r0", H0, "10.0.1.255").dst_mac(MacAddr::BROADCAST).udp(9),
        p("r0", H0, "255.255.255.255")
            .dst_mac(MacAddr::BROADCAST)
            .udp(9),
        p("r0", H0, "224.0.0.1").dst_mac(mcast).udp(9),
        p("r0", H0, H1).udp(7),
        p("r0", H0, H1).udp(9),
        p("r1", "10.0.2.255", H0).udp(9),
        p("r1", R1, H0).udp(9),
        p("r1", "10.0.1.255", H0).udp(9),
    ])
    .check();
});

diff_test!(limit_burst, &ports(2), |d| {
    let mut probes: Vec<Probe> = (0..5).map(|i| p("r0", H0, H1).ping(i)).collect();
    probes.extend((0..4).map(|i| p("r0", H0, R0).ping(10 + i)));
    d.round(&probes).check();
});

diff_test!(recent_hitcount, &ports(2), |d| {
    d.round(&[
        p("r0", H0, H1).syn(22),
        p("r0", H0, H1).syn(22),
        p("r0", H0, H1).syn(22),
        p("r0", H0, H1).syn(22),
        p("r0", H0B, H1).syn(22),
        p("r0", H0, H1).udp(2),
        p("r0", H0, H1).udp(1),
        p("r0", H0, H1).udp(2),
        p("r0", H0B, H1).udp(2),
    ])
    .check();
});

diff_test!(recent_seconds_expiry, &ports(2), |d| {
    d.round(&[
        p("r0", H0, H1).udp(9),
        p("r0", H0, H1).udp(1),
        p("r0", H0, H1).udp(9),
        p("r0", H0B, H1).udp(9),
    ]);
    d.sleep(Duration::from_millis(1300));
    d.round(&[p("r0", H0, H1).udp(9), p("r0", H0, H1).udp(9)])
        .check();
});

diff_test!(fragments_f_match, &ports(2), |d| {
    d.round(&[
        p("r0", H0, H1).udp_first_frag(7),
        p("r0", H0, H1).udp_first_frag(9),
        p("r0", H0, H1).udp_last_frag(),
        p("r0", H0, H1).udp(7),
        p("r0", H0, H1).udp(8),
        p("r0", H0, H1).udp_first_frag(8),
    ])
    .check();
});

diff_test!(fragment_port_match, &ports(2), |d| {
    let h = p("r0", H0, H1);
    let echo = h.f.icmp_echo(7, 1, &[0x33; 40]);
    d.round(&[
        h.udp_first_frag(9),
        h.udp_first_frag(10),
        h.udp_last_frag(),
        h.frag(1, 3, false, &[0x33; 24]),
        h.frag(1, 0, true, &echo[34..34 + 24]),
        h.frag(6, 3, false, &[0x44; 24]),
        h.frag(6, 1, true, &[0x44; 16]),
        h.frag(17, 0, true, &h.f.udp(40000, 10, &[0; 40])[34..38]),
        h.syn(80),
        h.tcp(80, flags::ACK),
    ])
    .check();
});

diff_test!(goto_vs_jump, &ports(2), |d| {
    let h = p("r0", H0, H1);
    d.round(&[
        h.udp(15),
        h.udp(25),
        h.udp_ports(1000, 25),
        h.udp_ports(1000, 15),
        h.udp(35),
        h.udp(36),
        h.udp(37),
        h.udp(9),
    ])
    .check();
});

diff_test!(return_nested_chains, &ports(2), |d| {
    let h = p("r0", H0, H1);
    let mut probes: Vec<Probe> = (1..=7).map(|port| h.udp(port)).collect();
    probes.extend([h.udp(10), h.syn(80), h.syn(81)]);
    d.round(&probes).check();
});

diff_test!(icmp_type_match, &ports(2), |d| {
    let quote = p("r0", H0, H1).udp(9).1[14..14 + 28].to_vec();
    let h = p("r1", H1, H0);
    d.round(&[
        h.ping(1),
        h.at(h.f.icmp(0, 0, 7 << 16 | 1, PAYLOAD)),
        h.icmp(3, 3, &quote),
        h.icmp(3, 1, &quote),
        h.at(h.f.icmp(3, 4, 1400, &quote)),
        h.icmp(11, 0, &quote),
        h.icmp(11, 1, &quote),
        h.icmp(13, 0, &[0; 12]),
        h.at(h.f.icmp(5, 1, u32::from(v4(H1B)), &quote)),
        h.icmp(9, 0, &[]),
    ])
    .check();
});

diff_test!(input_ping_rules, &ports(2), |d| {
    let big: Vec<u8> = (0..1000).map(|i| i as u8).collect();
    let h = p("r0", H0, R0);
    d.round(&[
        h.ping(1),
        p("r0", H0B, R0).ping(2),
        p("r1", H1, R0).ping(3),
        p("r1", H1, R1).ping(4),
        p("r0", H0, R1).ping(5),
        h.ttl(1).ping(6),
        h.df().at(h.df().f.icmp_echo(7, 7, &big)),
        p("r1", H1, R0).udp(53),
        p("r1", H1, R0).syn(22),
    ])
    .check();
});

diff_test!(output_chain, &ports(2), |d| {
    d.round(&[
        p("r0", H0, R0).ping(1),
        p("r0", H0B, R0).ping(2),
        p("r0", H0, H1).ttl(1).udp(9),
        p("r0", H0, "10.0.9.9").udp(9),
        p("r1", H1, R0).ping(3),
        p("r0", H0, H1).ping(4),
        p("r0", H0, R0).tos(0x03).ping(5),
    ])
    .check();
});

diff_test!(mark_match_xmark, &ports(2), |d| {
    let h = p("r0", H0, H1);
    d.round(&[
        h.udp(1),
        h.udp(2),
        h.udp(3),
        h.udp(4),
        h.udp(9),
        h.syn(80),
        h.ping(1),
    ])
    .check();
});

diff_test!(tcp_flags, &ports(2), |d| {
    let h = p("r0", H0, H1);
    d.round(&[
        h.tcp(80, 0),
        h.tcp(80, flags::FIN | flags::PSH | flags::URG),
        h.tcp(80, flags::SYN | flags::FIN),
        h.tcp(80, flags::SYN | flags::RST),
        h.syn(25),
        h.tcp(25, flags::SYN | flags::ACK),
        h.syn(26),
        h.tcp(26, flags::ACK),
        h.seg(Tcp::new(40000, 27, flags::SYN).option(&tcp_opt::timestamps(5, 0))),
        h.syn(27),
        h.seg(Tcp::new(40000, 80, flags::ACK | flags::PSH).payload(b"data")),
        h.tcp(80, flags::SYN | flags::ECE | flags::CWR),
        h.tcp_short_doff(80, flags::ACK),
        // The kernel's option walk (`tcp_find_option`) does not stop at
        // End of Option List, and steps over a zero length byte by one.
        h.seg(
            Tcp::new(40000, 27, flags::SYN)
                .option(&[0, 0, 0, 0])
                .option(&tcp_opt::timestamps(5, 0)),
        ),
        h.seg(
            Tcp::new(40000, 27, flags::SYN)
                .option(&[0x22, 0])
                .option(&tcp_opt::timestamps(5, 0)),
        ),
    ])
    .check();
});

diff_test!(port_ranges, &ports(2), |d| {
    let h = p("r0", H0, H1);
    d.round(&[
        h.udp(1024),
        h.udp(1023),
        h.udp(53),
        h.udp_ports(53, 53),
        h.udp_ports(500, 500),
        h.udp_ports(1024, 500),
        h.seg(Tcp::new(0, 85, flags::SYN)),
        h.syn(85),
        h.syn(91),
        h.syn(79),
    ])
    .check();
});

diff_test!(interface_match, &ports(3), |d| {
    d.round(&[
        p("r0", H0, H1).udp(9),
        p("r0", H0, H2).udp(9),
        p("r0", H0, H2).syn(80),
        p("r1", H1, H2).syn(80),
        p("r1", H1, H0).udp(9),
        p("r1", H1, H0).ping(1),
        p("r2", H2, H0).ping(2),
        p("r2", H2, H1).udp(9),
        p("r2", H2, H1).syn(80),
    ])
    .check();
});

diff_test!(ttl_edges, &ports(2), |d| {
    let h = p("r0", H0, H1);
    d.round(&[
        h.ttl(0).udp(9),
        h.ttl(0).udp(7),
        h.ttl(1).udp(7),
        h.ttl(2).udp(7),
        h.ttl(2).udp(9),
        h.ttl(255).udp(9),
        p("r0", H0, R0).ttl(1).ping(1),
        p("r0", H0, R0).ttl(0).ping(2),
        p("r1", H1, R0).ttl(1).ping(3),
        p("r1", H1, H0).ttl(1).ping(4),
    ])
    .check();
});

diff_test!(connmark_restore_policy_route, own_toml, |d| {
    d.round(&[p("r1", H1B, H0).udp(9), p("r1", H1, H0).udp(9)]);
    d.counters_now();
    d.round(&[p("r0", H0, H1B).udp_ports(9, 40000)]);
    // A port forward reached over either uplink: the server's answers
    // leave by the uplink the connection came in on (the mark restored
    // from the connection picks table 100), translated back.
    let client = "198.51.100.9";
    d.round(&[
        p("r2", client, "10.0.3.1").syn(8080),
        p("r0", H0, client).tcp_seg(80, 40000, SYN_ACK, 5000, 1001, &[]),
        p("r1", client, R1).seg(Tcp::new(40001, 8080, flags::SYN)),
        p("r0", H0, client).tcp_seg(80, 40001, SYN_ACK, 6000, 1001, &[]),
        p("r2", client, "10.0.3.1").tcp_seg(40000, 8080, ACK, 1001, 5001, &[]),
    ]);
    d.conntrack_now().check();
});

diff_test!(hook_traversal_counts, &ports(2), |d| {
    let mcast9 = MacAddr([0x01, 0x00, 0x5e, 0x00, 0x00, 0x09]);
    let mut bad_csum = p("r0", H0, H1).udp(9);
    bad_csum.1[14 + 10] ^= 0xff;
    d.round(&[
        p("r0", H0, H1).udp(9),
        p("r0", H0, H1).syn(80),
        p("r0", H0, H1).ping(1),
        p("r0", H0, R0).ping(2),
        p("r0", H0, H1).ttl(1).udp(9),
        p("r0", H0, "10.0.9.9").udp(9),
        p("r0", "127.0.0.1", H1).udp(9),
        bad_csum,
        p("r0", H0, H1)
            .dst_mac(MacAddr([2, 0, 0, 0, 0, 0x99]))
            .udp(9),
        p("r0", H0, "10.0.1.255").dst_mac(MacAddr::BROADCAST).udp(9),
        p("r0", H0, "224.0.0.9").dst_mac(mcast9).udp(520),
    ])
    .check();
});

diff_test!(truncated_transport, &ports(2), |d| {
    let (a, b) = (p("r0", H0, H1), p("r1", H1, H0));
    // A datagram whose IP total length claims more than the frame holds.
    let (port, mut long) = a.udp(10);
    long[14 + 3] += 20;
    let mut ip = ipv4::Packet::new_unchecked(&mut long[14..]);
    ip.fill_checksum();
    d.round(&[
        truncated(a.udp(10), 4),
        truncated(a.ping(1), 2),
        truncated(a.ping(1), 6),
        truncated(a.syn(81), 12),
        a.tcp_short_doff(81, flags::ACK),
        truncated(a.udp(10), 8),
        truncated(b.udp(10), 4),
        truncated(b.ping(1), 2),
        truncated(b.syn(81), 12),
        truncated(b.udp(10), 0),
        (port, long),
        padded(b.udp(10), 13),
        a.udp(10),
    ])
    .check();
});

diff_test!(ip_options_matches, &ports(2), |d| {
    let nops = [1, 1, 1, 0];
    let h = p("r0", H0, H1);
    d.round(&[
        with_ip_options(h.udp(7), &nops),
        with_ip_options(h.udp(9), &nops),
        with_ip_options(h.udp(9), &[1, 1, 1, 1, 1, 1, 1, 0]),
        with_ip_options(h.udp(8), &nops),
        with_ip_options(h.syn(80), &nops),
        with_ip_options(p("r0", H0, R0).ping(1), &nops),
        with_ip_options(h.ttl(1).udp(9), &nops),
    ])
    .check();
});

diff_test!(reject_edge_cases, &ports(2), |d| {
    d.host("r0", "10.0.1.4").host("r0", "10.0.1.5");
    let (a, b, c) = (p("r0", H0, H1), p("r0", H0B, H1), p("r0", "10.0.1.4", H1));
    let whole = p("r1", H1, H0)
        .f
        .tcp(&Tcp::new(40000, 80, flags::SYN).payload(&[7; 40]));
    d.round(&[
        a.udp_len(1000),
        with_l4_checksum(a.udp(9), 6, 0x1234),
        with_l4_checksum(a.udp(9), 6, 0),
        with_l4_checksum(b.ping(1), 2, 0x1234),
        b.ping(2),
        b.seg(Tcp::new(40000, 80, flags::SYN).seq(100).payload(&[1; 10])),
        c.seg(
            Tcp::new(40000, 80, flags::FIN | flags::ACK | flags::PSH)
                .seq(100)
                .ack(200)
                .payload(&[1; 10]),
        ),
        c.seg(Tcp::new(40000, 80, flags::SYN | flags::FIN).seq(100)),
        c.tcp(80, flags::URG | flags::ACK),
        p("r0", "10.0.1.5", H1).df().udp_len(1400),
        p("r0", "10.0.1.5", H1).icmp(42, 0, &[0; 8]),
        p("r0", "10.0.1.5", H1).icmp(13, 0, &[0; 12]),
        p("r1", H1, H0).udp_last_frag(),
        p("r1", H1, H0).udp_first_frag(9),
        p("r1", H1B, H0).frag(6, 0, true, &whole[34..34 + 32]),
        p("r1", H1B, H0).frag(6, 4, false, &whole[34 + 32..]),
    ])
    .check();
});

diff_test!(reject_ratelimit, &ports(2), |d| {
    let mut probes: Vec<Probe> = (0..8).map(|i| p("r0", H0, H1).udp(100 + i)).collect();
    probes.extend((0..2).map(|i| p("r0", H0B, H1).udp(200 + i)));
    d.round(&probes).check();
});

diff_test!(net_unreachable_ratelimit, &ports(2), |d| {
    let mut probes: Vec<Probe> = (0..7)
        .map(|i| p("r0", H0, "10.0.9.9").udp(100 + i))
        .collect();
    probes.extend((0..2).map(|i| p("r0", H0B, "10.0.9.9").udp(200 + i)));
    probes.push(p("r0", H0, H1).ttl(1).udp(9));
    d.round(&probes).check();
});

diff_test!(output_mark_reroute, own_toml, |d| {
    d.round(&[
        p("r0", H0, R0).ping(1),
        p("r0", H0B, R0).ping(2),
        p("r0", H0B, "10.0.3.1").ping(3),
        p("r0", H0, H1).ttl(1).udp(9),
        p("r1", H1, H0).ttl(1).udp(9),
        p("r0", H0B, H1).udp(9),
    ])
    .check();
});

diff_test!(statistic_random_extremes, &ports(2), |d| {
    let h = p("r0", H0, H1);
    d.round(&[h.udp(9), h.udp(7), h.udp(9), h.udp(7), h.udp(7), h.ping(1)])
        .check();
});

diff_test!(recent_variants, &ports(2), |d| {
    let (a, b) = (p("r0", H0, H1), p("r0", H0, H1B));
    d.round(&[
        a.udp(2),
        a.udp(1),
        a.udp(2),
        b.udp(2),
        a.udp(3),
        a.udp(2),
        a.udp(4),
        a.udp(5),
        a.ttl(30).udp(5),
        a.udp(6),
        a.udp(6),
        a.udp(6),
        a.udp(6),
        a.udp(7),
        p("r0", "10.0.1.77", H1).udp(8),
        p("r1", H1, H0).udp(8),
    ])
    .check();
});

diff_test!(sets_bitmap_port_hash_net_port, &ports(2), ipset, |d| {
    d.host("r1", "10.0.2.200");
    let h = p("r0", H0, H1);
    d.round(&[
        h.syn(22),
        h.syn(80),
        h.syn(443),
        h.syn(23),
        h.syn(2000),
        h.udp(22),
        h.syn(8080),
        p("r0", H0, "10.0.2.200").syn(8080),
        h.udp(53),
        p("r0", H0, H1B).udp(53),
        p("r0", H0, H1B).syn(53),
    ])
    .check();
});

diff_test!(local_addresses, &ports(2), |d| {
    let bcast = MacAddr::BROADCAST;
    d.round(&[
        p("r0", H0, "10.0.2.0").ping(1),
        p("r0", H0, "10.0.2.255").udp(9),
        p("r0", H0, "10.0.2.0").udp(9),
        p("r0", "0.0.0.0", "255.255.255.255").dst_mac(bcast).udp(67),
        p("r0", H0, "127.0.0.1").ping(2),
        p("r0", H0, "0.0.0.0").udp(9),
        padded(p("r0", H0, R0).ping(3), 13),
        padded(p("r0", H0, H1).udp(9), 13),
        p("r0", H0, "10.0.1.255").ping(4),
    ])
    .check();
});

diff_test!(limit_refill, &ports(2), |d| {
    let h = p("r0", H0, H1);
    d.round(&[h.ping(1), h.ping(2)]);
    d.sleep(Duration::from_millis(1300));
    d.round(&[h.ping(3), h.ping(4)]).check();
});

diff_test!(
    output_oif_after_reroute,
    data!("output_mark_reroute.toml"),
    |d| {
        d.round(&[
            p("r0", H0, R0).ping(1),
            p("r0", H0B, R0).ping(2),
            p("r0", H0B, "10.0.3.1").ping(3),
        ])
        .check();
    }
);

diff_test!(reject_broadcast_source, &ports(2), |d| {
    d.round(&[p("r0", "10.0.1.255", H1).udp(9), p("r0", H0, H1).udp(9)])
        .check();
});

diff_test!(core_matches, &ports(3), |d| {
    let (a, b) = (p("r0", H0, H1), p("r0", H0B, H1));
    // SCTP common header (12 bytes) and a GRE header (4 bytes).
    let sctp = [0x9c, 0x40, 0x00, 0x07, 0, 0, 0, 1, 0, 0, 0, 0];
    let gre = [0, 0, 0x08, 0x00];
    d.round(&[
        a.at(a.f.ip(47, &gre)),
        a.at(a.f.ip(50, &[0; 16])),
        a.at(a.f.ip(132, &sctp)),
        p("r0", H0, H1B).at(p("r0", H0, H1B).f.ip(132, &sctp)),
        b.udp(9),
        b.syn(80),
        b.at(b.f.ip(47, &gre)),
        p("r0", "10.0.1.200", H1).syn(80),
        a.syn(80),
        p("r0", H0, H1B).udp(9),
        a.udp(7),
        p("r2", H2, H1).udp(7),
        p("r2", H2, H0).udp(7),
        p("r1", H1B, H0).ping(1),
        p("r1", H1B, H0).at(p("r1", H1B, H0).f.ip(255, &[1, 2, 3])),
        p("r1", H1, H0).at(p("r1", H1, H0).f.ip(0, &[1, 2, 3, 4])),
    ])
    .check();
});

diff_test!(
    raw_mark_policy_route,
    data!("mark_policy_route.toml"),
    |d| {
        d.round(&[
            p("r0", H0, H1).udp(5353),
            p("r0", H0, H1).udp(53),
            p("r1", H1, H0).udp(5353),
        ])
        .check();
    }
);

diff_test!(match_order_side_effects, &ports(2), |d| {
    let h = p("r0", H0, H1);
    d.round(&[
        // limit before the port: two packets to port 10 use the burst up.
        h.udp(10),
        h.udp(10),
        h.udp(9),
        // nth before the port: the counter moves for port 10 too.
        h.udp(10),
        h.udp(11),
        h.udp(11),
        // recent --set before the port: every UDP source is recorded.
        p("r0", H0B, H1).udp(14),
        p("r0", H0B, H1).udp(13),
        // limit before the mark.
        h.udp(25),
        h.udp(26),
    ])
    .check();
});

diff_test!(shared_state_chain, &ports(2), |d| {
    d.round(&[
        p("r0", H0, R0).ping(1),
        p("r0", H0, H1).ping(2),
        p("r0", H0, R0).ping(3),
        p("r0", H0, H1).ping(4),
        p("r0", H0, R0).ping(5),
        p("r0", H0, H1).ping(6),
        p("r0", H0, H1).udp(2),
        p("r0", H0, H1).udp(1),
        p("r0", H0, H1).udp(2),
    ])
    .check();
});

diff_test!(classifier_order, &ports(2), |d| {
    let from = |src: &str| p("r0", src, H1);
    d.round(&[
        from("10.0.1.9").udp(100),
        from("10.0.1.10").udp(100),
        from("10.0.1.10").udp(150),
        from("10.0.1.20").udp(150),
        p("r0", H0, "10.0.2.200").udp(9),
        from("10.0.1.5").syn(22),
        from("10.0.1.20").syn(22),
        from("10.0.1.100").syn(80),
        from(H0).syn(80),
        from(H0).seg(Tcp::new(1000, 80, flags::SYN)),
        p("r0", H0, H1B).syn(80),
        p("r1", H1, H0).seg(Tcp::new(80, 40000, flags::SYN | flags::ACK).ack(1001)),
        p("r1", H1, H0).seg(Tcp::new(81, 40000, flags::SYN | flags::ACK).ack(1001)),
        from("10.0.1.5").udp(53),
        from("10.0.1.9").udp(53),
        from("10.0.1.20").udp(53),
        from(H0).udp(61000),
        p("r0", H0, H1B).udp(9),
        p("r1", H1, H0).ping(1),
        from("10.0.1.5").udp(2000),
        from("10.0.1.5").udp(2001),
        p("r1", "10.0.2.20", H0).udp(2001),
        from("10.0.1.40").udp(2002),
        from("10.0.1.40").udp(2010),
        from("10.0.1.50").udp(2018),
    ])
    .check();
});

diff_test!(ipv6_untouched, own_toml, |d| {
    d.host6("r1", "fd00:2::2").host6("r0", "fd00:1::2");
    let v6 = |port: &'static str, src: &str, dst: &str| {
        let i = port_index(port);
        let (src, dst): (Ipv6Addr, Ipv6Addr) = (src.parse().unwrap(), dst.parse().unwrap());
        IpFrame::new(host_mac(i), router_mac(i), src, dst)
    };
    let a = v6("r0", "fd00:1::2", "fd00:2::2");
    let b = v6("r1", "fd00:2::2", "fd00:1::2");
    d.round(&[
        p("r0", H0, H1).udp(9),
        p("r0", H0, R0).ping(1),
        ("r0", a.udp(40000, 9, PAYLOAD)),
        ("r0", a.tcp(&Tcp::new(40000, 22, flags::SYN))),
        ("r1", b.udp(40000, 9, PAYLOAD)),
        ("r0", a.icmp_echo(7, 1, PAYLOAD)),
        ("r0", a.ttl(1).udp(40000, 9, PAYLOAD)),
    ])
    .check();
});

diff_test!(output_matches, &ports(2), |d| {
    d.round(&[
        p("r0", H0, R0).ping(1),
        p("r0", H0, R1).ping(2),
        p("r1", H1, R0).ping(3),
        p("r0", H0, H1).ttl(1).udp(9),
        p("r0", H0, H1).udp(8),
        p("r0", H0, H1).syn(8),
        p("r1", H1, H0).syn(8),
        p("r0", H0B, "10.0.9.9").udp(9),
        p("r0", H0, H1).udp(9),
    ])
    .check();
});

diff_test!(reject_after_mangle, &ports(2), |d| {
    let h = p("r0", H0, H1);
    d.round(&[
        h.udp(1),
        h.tos(0x01).udp(6),
        h.udp(9),
        h.ttl(1).udp(7),
        h.tos(0x02).udp(10),
    ])
    .check();
});

diff_test!(security_table, &ports(2), |d| {
    d.round(&[
        p("r0", H0, H1).udp(9),
        p("r0", H0B, H1).udp(9),
        p("r0", H0B, H1).udp(10),
        p("r0", H0B, H1).udp(11),
        p("r0", H0B, R0).ping(1),
        p("r0", H0, R0).ping(2),
        p("r1", H1, R1).ping(3),
    ])
    .check();
});

diff_test!(nat_table_first_packets, &ports(2), |d| {
    // First packets of forwarded connections: the nat chains see each in
    // both.
    d.round(&[
        p("r0", H0, H1).udp(9),
        p("r0", H0, H1).syn(80),
        p("r1", H1, H0).udp(53),
        p("r0", H0, H1).ping(1),
    ]);
    d.counters_now();
    d.round(&[p("r0", H0, H1).udp(9), p("r0", H0, R0).ping(2)])
        .check();
});

diff_test!(nat_table_without_conntrack, &ports(2), |d| {
    d.round(&[p("r0", H0, H1).udp(7), p("r0", H0, H1).udp(9)])
        .check();
});

diff_test!(fragments_with_conntrack, &ports(2), |d| {
    d.round(&[p("r0", H0, H1).udp(9), p("r0", H0, H1).syn(80)]);
    d.counters_now();
    d.known_divergent(
        "no IPv4 reassembly for conntrack: the kernel holds the lone first \
         fragment for the rest and forwards nothing; sluice tracks it by its \
         own header and forwards it",
        &[
            p("r0", H0, H1).ident(7).udp_first_frag(9),
            p("r0", H0B, H1).ident(8).udp_last_frag(),
        ],
    )
    .check();
});

// ---------------------------------------------------------------------------
// NAT and conntrack: flows through the translation and back.

/// A TCP segment with `fl`, sequence `seq`, acknowledgment `ack` and
/// `data`.
fn seg(sport: u16, dport: u16, fl: u8, seq: u32, ack: u32, data: &[u8]) -> Tcp {
    Tcp::new(sport, dport, fl).seq(seq).ack(ack).payload(data)
}

const ACK: u8 = flags::ACK;
const PSH_ACK: u8 = flags::PSH | flags::ACK;
const FIN_ACK: u8 = flags::FIN | flags::ACK;
const SYN_ACK: u8 = flags::SYN | flags::ACK;

impl P {
    /// An echo reply, identifier 7.
    fn pong(&self, seq: u16) -> Probe {
        self.at(self.f.icmp(0, 0, (7 << 16) | u32::from(seq), PAYLOAD))
    }

    /// A whole TCP conversation's segment from port `sport` to `dport`.
    fn tcp_seg(&self, sport: u16, dport: u16, fl: u8, seq: u32, ack: u32, data: &[u8]) -> Probe {
        self.seg(seg(sport, dport, fl, seq, ack, data))
    }
}

/// The IP datagram of `frame` (without its Ethernet header), cut to `n`
/// bytes: what an ICMP error quotes.
fn quote(frame: &[u8], n: usize) -> Vec<u8> {
    let ip = &frame[14..];
    ip[..n.min(ip.len())].to_vec()
}

diff_test!(nat_masquerade_lan, &ports(2), |d| {
    let (lan, wan) = (p("r0", H0, H1), p("r1", H1, R1));
    d.round(&[
        // TCP: handshake, data both ways, FIN both ways.
        lan.syn(80),
        wan.tcp_seg(80, 40000, SYN_ACK, 5000, 1001, &[]),
        lan.tcp_seg(40000, 80, ACK, 1001, 5001, &[]),
        lan.tcp_seg(40000, 80, PSH_ACK, 1001, 5001, b"hello"),
        wan.tcp_seg(80, 40000, PSH_ACK, 5001, 1006, b"world"),
        lan.tcp_seg(40000, 80, FIN_ACK, 1006, 5006, &[]),
        wan.tcp_seg(80, 40000, FIN_ACK, 5006, 1007, &[]),
        lan.tcp_seg(40000, 80, ACK, 1007, 5007, &[]),
        // UDP out and the reply.
        lan.udp(53),
        wan.udp_ports(53, 40000),
        // ICMP echo and the reply.
        lan.ping(1),
        wan.pong(1),
        // Not replies: to the masquerading address's other ports, and
        // straight to the LAN.
        wan.udp_ports(53, 40001),
        p("r1", H1, H0).syn(22),
    ]);
    d.conntrack_now().check();
});

diff_test!(nat_port_forward, &ports(2), |d| {
    let (wan, web) = (p("r1", H1, R1), p("r0", H0, H1));
    d.round(&[
        wan.syn(8080),
        web.tcp_seg(80, 40000, SYN_ACK, 5000, 1001, &[]),
        wan.tcp_seg(40000, 8080, ACK, 1001, 5001, &[]),
        wan.tcp_seg(40000, 8080, PSH_ACK, 1001, 5001, b"GET /"),
        web.tcp_seg(80, 40000, PSH_ACK, 5001, 1006, b"200OK"),
        // Not forwarded: straight to the server (no DNAT state), another
        // port of the box, the forward's port from the LAN side.
        p("r1", H1, H0).syn(80),
        p("r1", H1B, R1).syn(8081),
        p("r0", H0B, R1).syn(8080),
        // UDP to the other server, and its answer.
        p("r1", H1B, R1).udp(5353),
        p("r0", H0B, H1B).udp_ports(53, 40000),
        // The server says port unreachable about it: RELATED, and the
        // quoted datagram and the error's source translated back.
        p("r0", H0B, H1B).icmp(3, 3, &quote(&p("r0", H1B, H0B).ttl(63).udp(53).1, 64)),
        // A second client of the TCP forward.
        p("r1", H1B, R1).syn(8080),
        p("r0", H0, H1B).tcp_seg(80, 40000, SYN_ACK, 7000, 1001, &[]),
        // Answers the box makes to translated packets go back translated
        // (the kernel attaches the packet's conntrack entry to them,
        // `nf_ct_attach`): FORWARD's rejects, and a TTL exceeded quoting
        // a forwarded SYN.
        p("r1", H1, R1).seg(Tcp::new(41000, 8443, flags::SYN)),
        p("r1", H1, R1).udp(5354),
        p("r1", H1B, R1)
            .ttl(1)
            .seg(Tcp::new(41001, 8080, flags::SYN)),
    ]);
    d.conntrack_now().check();
});

diff_test!(nat_dnat_balance, &ports(2), |d| {
    let clients: Vec<&'static str> = (2..=13)
        .map(|i| &*Box::leak(format!("10.0.2.{i}").into_boxed_str()))
        .collect();
    for c in &clients {
        d.host("r1", c);
    }
    // Each group of connections from ports of its own, so no two reply
    // tuples clash (a clash would have the kernel pick a random port).
    let syn = |c: &'static str, dst: &str, sport: u16, dport: u16| {
        p("r1", c, dst).seg(Tcp::new(sport, dport, flags::SYN))
    };
    let mut probes: Vec<Probe> = Vec::new();
    // The hash: every client once, one of them again from another port
    // (the backend depends on the addresses only).
    for c in &clients {
        probes.push(syn(c, R1, 40000, 80));
    }
    probes.push(syn(clients[0], R1, 40001, 80));
    // The same clients to another public address of the forward: the
    // hash's seed is the destination.
    for c in &clients[..6] {
        probes.push(syn(c, "10.0.2.100", 40100, 80));
    }
    // --persistent: the hash without the destination.
    for c in &clients[..6] {
        probes.push(syn(c, R1, 40200, 82));
    }
    // Round robin: by connection (the nat table sees first packets only).
    for sport in 41000..41005 {
        probes.push(syn(clients[1], R1, sport, 81));
    }
    // The backends answer: the replies leave from the public address.
    probes.push(p("r0", H0, H1B).tcp_seg(8080, 41000, SYN_ACK, 9000, 1001, &[]));
    probes.push(p("r0", H0B, H1B).tcp_seg(8080, 41001, SYN_ACK, 9000, 1001, &[]));
    d.round(&probes);
    d.conntrack_now().check();
});

/// Blanks the source port (TCP, UDP) or the query id (ICMP echo) of an
/// IPv4 frame, and the transport checksum that covers it.
fn blank_src_port(frame: &mut [u8]) {
    let Ok(m) = sluice_dataplane::wire::parse(frame) else {
        return;
    };
    let l4 = m.l4_off as usize;
    match m.protocol.0 {
        6 => {
            frame[l4..l4 + 2].fill(0);
            frame[l4 + 16..l4 + 18].fill(0);
        }
        17 => {
            frame[l4..l4 + 2].fill(0);
            frame[l4 + 6..l4 + 8].fill(0);
        }
        1 => {
            frame[l4 + 2..l4 + 6].fill(0);
        }
        _ => {}
    }
}

/// The source port (TCP, UDP) or query id (ICMP) of the frame out for
/// probe `probe`.
fn src_port_of(caps: &[Captured], probe: usize) -> Option<u16> {
    let c = caps.iter().find(|c| c.probe == probe)?;
    let m = c.meta();
    Some(if m.protocol.0 == 1 {
        m.icmp_id
    } else {
        m.src_port
    })
}

diff_test!(nat_snat_ports, &ports(2), |d| {
    let far = "10.0.2.4";
    d.host("r1", far);
    // UDP into 1000-1001: every choice is forced, so it compares.
    d.round(&[
        // Kept: in range and unique.
        p("r0", H0, H1).udp_ports(1000, 53),
        // Clashes with the first: the other port.
        p("r0", H0B, H1).udp_ports(1000, 53),
        // The same source again: its mapping (1000) is reused.
        p("r0", H0, H1B).udp_ports(1000, 53),
        // Out of range: 1000 is taken towards this destination, so 1001.
        p("r0", H0, H1B).udp_ports(40000, 53),
        // Both taken towards it: dropped (the kernel at confirm).
        p("r0", H0B, H1B).udp_ports(40000, 53),
        // Replies, each to its own flow.
        p("r1", H1, R1).udp_ports(53, 1001),
        p("r1", H1B, R1).udp_ports(53, 1001),
        p("r1", H1, R1).udp_ports(53, 1000),
    ]);
    d.conntrack_now();
    // TCP and ICMP to a fixed address: a clash takes a random port (id)
    // in the kernel (`get_random_u16` offset into 1024-65535, 0-65535 for
    // ids); masked, and checked apart: not the clashing one.
    let first = d.probes_sent;
    let random = [first + 1, first + 4];
    let (k, s) = d.round_masked(
        &[
            p("r0", H0, H1).syn(80),
            p("r0", H0B, H1).syn(80),
            p("r1", H1, "10.0.2.100").tcp_seg(80, 40000, SYN_ACK, 5000, 1001, &[]),
            p("r0", H0, H1).ping(1),
            p("r0", H0B, H1).ping(1),
            p("r1", H1, "10.0.2.100").pong(1),
        ],
        |c| {
            if random.contains(&c.probe) {
                blank_src_port(&mut c.frame);
            }
        },
    );
    for (side, caps) in [("kernel", &k), ("sluice", &s)] {
        match (src_port_of(caps, random[0]), src_port_of(caps, random[1])) {
            (Some(tcp), Some(icmp)) if tcp >= 1024 && tcp != 40000 && icmp != 7 => {}
            ports => d.failures.push(format!(
                "{side}: the clashing TCP flow and echo went out from {ports:?} \
                 (the port must be >= 1024 and not 40000, the id not 7)"
            )),
        }
    }
    // GRE has no ports: one LAN host's tunnel and its answer.
    // The kernel's GRE manip needs 8 bytes after the header's start, so
    // the packets carry a payload (an IPv4 header's worth), as real ones
    // do.
    let mut gre = vec![0, 0, 0x08, 0x00];
    gre.extend_from_slice(&[0x45; 20]);
    let gre_from = |port: &'static str, src: &str, dst: &str, l4: &[u8]| {
        let h = p(port, src, dst);
        h.at(h.f.ip(47, l4))
    };
    d.round(&[gre_from("r0", H0, H1, &gre), gre_from("r1", H1, R1, &gre)]);
    // The kernel reuses a source's mapping for its next connection: UDP
    // from H0B:1000 (mapped to 1001) to a third peer gets 1001 although
    // 1000 is free towards it; TCP from H0B:40000 (mapped to the random
    // port above) gets that port again.
    let (tcp_k, tcp_s) = (src_port_of(&k, random[0]), src_port_of(&s, random[0]));
    d.round(&[
        p("r0", H0B, far).udp_ports(1000, 53),
        p("r1", far, R1).udp_ports(53, 1001),
    ]);
    // The random port itself differs between the two; each must reuse its
    // own.
    let (k2, s2) = d.run(&[p("r0", H0B, H1B).syn(80)]);
    let (again_k, again_s) = (
        k2.first().map(|c| c.meta().src_port),
        s2.first().map(|c| c.meta().src_port),
    );
    if again_k != tcp_k || again_s != tcp_s {
        d.failures.push(format!(
            "the same source's next TCP flow: kernel {again_k:?} (first {tcp_k:?}), \
             sluice {again_s:?} (first {tcp_s:?}): each must reuse its mapping"
        ));
    }
    // A second LAN host's tunnel to the same peer clashes: the kernel
    // drops it at confirm (insert_failed).
    d.round(&[gre_from("r0", H0B, H1, &gre)]);
    // A bare 4-byte GRE header to a new peer: the kernel's manip cannot
    // write its 8 bytes (`gre_manip_pkt`) and drops it.
    d.round(&[gre_from("r0", H0B, H1B, &gre[..4])]).check();
});

diff_test!(nat_hairpin, &ports(2), |d| {
    let (client, server) = (p("r0", H0, R1), p("r0", H0B, R0));
    d.round(&[
        // A LAN client through the public address: out to the server from
        // the LAN port's address, the answer back from the public one.
        client.syn(8080),
        server.tcp_seg(80, 40000, SYN_ACK, 5000, 1001, &[]),
        client.tcp_seg(40000, 8080, ACK, 1001, 5001, &[]),
        client.tcp_seg(40000, 8080, PSH_ACK, 1001, 5001, b"GET /"),
        server.tcp_seg(80, 40000, PSH_ACK, 5001, 1006, b"200OK"),
        // A WAN client: not masqueraded on the way in.
        p("r1", H1, R1).syn(8080),
        p("r0", H0B, H1).tcp_seg(80, 40000, SYN_ACK, 7000, 1001, &[]),
        // The server's own public port from the server itself.
        p("r0", H0B, R1).seg(Tcp::new(41000, 8080, flags::SYN)),
        // The LAN out to the WAN.
        p("r0", H0, H1).udp(53),
        p("r1", H1, R1).udp_ports(53, 40000),
    ]);
    d.conntrack_now().check();
});

diff_test!(nat_redirect_local, &ports(2), |d| {
    d.round(&[
        // To the WAN address: redirected to 10.0.2.1:2222, reset from
        // there, and the reset's source translated back (the kernel runs
        // the reset through the nat POSTROUTING chain too: the SYN never
        // got there, so the entry has no source binding yet).
        p("r1", H1, R1).syn(8080),
        // To the box's LAN address through the WAN port: REDIRECT takes
        // the first address of the port it came in on (10.0.2.1).
        p("r1", H1B, R0).syn(8080),
        // UDP: the port unreachable quotes the datagram as it was sent
        // (and comes from the address it was sent to).
        p("r1", H1, R1).udp(5353),
        p("r1", H1B, R0).udp(5353),
        // From the LAN: not redirected.
        p("r0", H0, R0).syn(8080),
        p("r0", H0, R1).udp(5353),
        // The redirect's own target port, straight.
        p("r1", H1, R1).seg(Tcp::new(41000, 2222, flags::SYN)),
    ]);
    d.conntrack_now().check();
});

diff_test!(nat_established_related, own_toml, |d| {
    let (lan, wan) = (p("r0", H0, H1), p("r1", H1, R1));
    d.round(&[
        lan.syn(80),
        wan.tcp_seg(80, 40000, SYN_ACK, 5000, 1001, &[]),
        lan.tcp_seg(40000, 80, ACK, 1001, 5001, &[]),
        // Out of the window: INVALID.
        wan.tcp_seg(80, 40000, PSH_ACK, 5001 + 1_000_000, 1001, b"late!"),
        // Acknowledges data never sent: INVALID.
        wan.tcp_seg(80, 40000, ACK, 5001, 1001 + 1_000_000, &[]),
        // In the window: ESTABLISHED.
        wan.tcp_seg(80, 40000, PSH_ACK, 5001, 1001, b"hello"),
        // A stray ACK from the LAN: with tcp_loose (the default) the
        // kernel picks the connection up mid-stream, as NEW.
        p("r0", H0B, H1).tcp_seg(41000, 80, ACK, 7000, 8000, &[]),
        wan.tcp_seg(80, 41000, ACK, 8000, 7000, &[]),
        // Stray from the WAN: an ACK is NEW (dropped by policy), a SYN-ACK
        // INVALID.
        p("r1", H1, H0).tcp_seg(80, 41002, ACK, 8000, 7000, &[]),
        p("r1", H1, H0).tcp_seg(80, 41003, SYN_ACK, 8000, 7000, &[]),
    ]);
    d.conntrack_now();
    // ICMP errors about masqueraded flows: RELATED, and translated back
    // (outer destination and the quoted datagram).
    let out_udp = p("r1", R1, H1).ttl(63).f.udp(40000, 53, PAYLOAD);
    let out_far = p("r1", R1, "198.51.100.7")
        .ttl(1)
        .f
        .udp(40001, 33434, PAYLOAD);
    let out_tcp = p("r1", R1, H1).ttl(63).syn(80).1;
    let stray = p("r1", R1, H1).ttl(63).f.udp(40999, 53, PAYLOAD);
    let hop = p("r1", "203.0.113.1", R1);
    d.round(&[
        lan.udp(53),
        wan.icmp(3, 3, &quote(&out_udp, 64)),
        // Past the gateway: a hop further on says time exceeded.
        p("r0", H0, "198.51.100.7").ttl(2).udp_ports(40001, 33434),
        hop.icmp(11, 0, &quote(&out_far, 28)),
        // Fragmentation needed about the TCP flow, quoting 8 bytes of TCP
        // (the quoted checksum cannot be updated).
        wan.at(wan.f.icmp(3, 4, 1400, &quote(&out_tcp, 28))),
        // About a flow that does not exist: INVALID.
        wan.icmp(3, 3, &quote(&stray, 28)),
        lan.ping(1),
        wan.pong(1),
    ]);
    d.conntrack_now().check();
});

diff_test!(nat_notrack_bypass, &ports(2), |d| {
    d.round(&[
        // Untracked: leaves with the LAN address, and its answer (to the
        // LAN address) is let in untracked.
        p("r0", H0, H1).udp(5000),
        p("r1", H1, H0).udp_ports(5000, 40000),
        // Tracked: masqueraded, the answer to the LAN address is not let
        // in, the one to the WAN address is.
        p("r0", H0, H1).udp(5001),
        p("r1", H1, H0).udp_ports(5001, 40000),
        p("r1", H1, R1).udp_ports(5001, 40000),
        // An untracked packet to the masquerading address is not
        // translated: it stays the box's (INPUT drops it).
        p("r1", H1, R1).udp_ports(5000, 40000),
    ]);
    d.conntrack_now().check();
});

// The IPv4 forward path's kernel details: options, redirects, rate limits.
#[path = "differential/forward.rs"]
mod forward;
