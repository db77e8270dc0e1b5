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
/// header, right after a 20-byte IPv4 or 40-byte IPv6 header) replaced by
/// `value`.
fn with_l4_checksum((port, mut frame): Probe, at: usize, value: u16) -> Probe {
    let l4 = if frame[12..14] == [0x86, 0xdd] {
        54
    } else {
        34
    };
    frame[l4 + at..l4 + at + 2].copy_from_slice(&value.to_be_bytes());
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
    /// The same for the ip6tables ruleset.
    tables6: Vec<String>,
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
        Diff::new_dual(name, toml, rules, None, sets)
    }

    /// [`Diff::new`] with an ip6tables ruleset too; the hosts `::2` and
    /// `::3` of every connected IPv6 network are neighbours as well.
    fn new_dual(
        name: &'static str,
        toml: &str,
        rules: &str,
        rules6: Option<&str>,
        sets: Option<&str>,
    ) -> Option<Diff> {
        if let Some(why) = kernel::skip_reason() {
            skip(name, &why);
            return None;
        }
        let started = Instant::now();
        let kernel = KernelRouter::new_dual(toml, rules, rules6, sets)
            .unwrap_or_else(|e| panic!("{name}: kernel: {e}"))
            .with_probe_binary(env!("CARGO_BIN_EXE_sluice-probe"));
        let sluice = SluiceRouter::new_dual(toml, rules, rules6, sets)
            .unwrap_or_else(|e| panic!("{name}: sluice: {e}"));
        let tables_of = |rules: &str| {
            rules
                .lines()
                .filter_map(|l| l.trim().strip_prefix('*'))
                .map(|t| t.trim().to_string())
                .collect::<Vec<_>>()
        };
        let tables = tables_of(rules);
        let tables6 = rules6.map(tables_of).unwrap_or_default();
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
            tables6,
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
        let v6nets: Vec<(String, IpNet)> = d
            .kernel
            .appliance()
            .interfaces
            .iter()
            .flat_map(|i| {
                i.addresses
                    .iter()
                    .filter(|a| matches!(a, IpNet::V6(_)))
                    .map(|a| (i.name.clone(), *a))
            })
            .collect();
        for port in &ports {
            let net = 1 + port_index(port);
            for host in [2, 3] {
                d.host(port, &format!("10.0.{net}.{host}"));
            }
        }
        if rules6.is_some() {
            for (port, net) in &v6nets {
                if let IpAddr::V6(a) = net.network() {
                    for host in [2u128, 3] {
                        let h = Ipv6Addr::from(u128::from(a) | host);
                        d.host6(port, &h.to_string());
                    }
                }
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
        for table in &self.tables6 {
            let k = self
                .kernel
                .counters6(table)
                .unwrap_or_else(|e| panic!("{}: kernel counters: {e}", self.name));
            eprintln!("{}: kernel ip6tables counters:\n{k}", self.name);
            let s = self.sluice.counters6(table);
            if k != s {
                out.push_str(&format!(
                    "ip6tables table {table}: kernel vs sluice\n{}",
                    line_diff(&k, &s)
                ));
            }
        }
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
    ($name:ident, $toml:expr, rules6, |$d:ident| $body:block) => {
        diff_test!(@dual $name, $toml, None, |$d| $body);
    };
    ($name:ident, $toml:expr, rules6, ipset, |$d:ident| $body:block) => {
        diff_test!(@dual $name, $toml, Some(data!($name, "ipset")), |$d| $body);
    };
    (@dual $name:ident, $toml:expr, $sets:expr, |$d:ident| $body:block) => {
        #[test]
        fn $name() {
            let Some(mut $d) = Diff::new_dual(
                stringify!($name),
                $toml,
                data!($name, "rules"),
                Some(data!($name, "rules6")),
                $sets,
            ) else {
                return;
            };
            $body
        }
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

// TCP conversations, for the cases of every file.

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

#[path = "differential/filter.rs"]
mod filter;
#[path = "differential/ipv6.rs"]
mod ipv6;
#[path = "differential/matches.rs"]
mod matches;
#[path = "differential/nat.rs"]
mod nat;

// The IPv4 forward path's kernel details: options, redirects, rate limits.
#[path = "differential/forward.rs"]
mod forward;
