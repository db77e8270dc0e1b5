//! The conntrack and NAT benchmark's setup, shared by
//! `benches/conntrack.rs` (timed medians) and the `sluice-conntrack-fixed`
//! binary (a fixed packet count, for `valgrind --tool=callgrind`).
//!
//! A branch-office gateway on one worker with two in-memory ports:
//!
//! ```text
//!   clients 10.128.0.0/9 ── 10.0.1.254 ── lan 10.0.1.1/24 ┐
//!                                                          sluice
//!   servers 198.18.0.0/16 ── 203.0.113.254 ── wan 203.0.113.1/24 ┘
//! ```
//!
//! built from appliance TOML and an `iptables-restore` ruleset with
//! [`Snapshot::build`], as the control side builds it, and run through the
//! production path ([`Worker::poll`] → `Pipeline::rx` → `flush_tx`). The
//! rulesets ([`Mode`]):
//!
//! * [`Mode::Ct`]: filter FORWARD policy DROP, `-m conntrack --ctstate
//!   RELATED,ESTABLISHED -j ACCEPT`, then `-i lan -o wan -m conntrack
//!   --ctstate NEW -j ACCEPT`;
//! * [`Mode::CtNat`]: the same plus `-t nat -A POSTROUTING -o wan -j
//!   MASQUERADE`;
//! * [`Mode::Stateless`], the baseline without conntrack: `-i lan -o wan
//!   -j ACCEPT`, `-i wan -o lan -s 198.18.0.0/15 -j ACCEPT`, policy DROP
//!   (no rule needs conntrack, so nothing is tracked, as in the kernel);
//! * [`Mode::NoRules`]: no ruleset at all.
//!
//! Flow `k` (`k` < [`MAX_FLOWS`]) is UDP from client `10.128.0.0 + k`,
//! port [`sport`]`(k)`, to server `198.18.0.0 + (k & 0xffff)` port 443:
//! the original tuples are distinct, and so are the masqueraded ones
//! (`203.0.113.1`, the port, the server), so MASQUERADE keeps every
//! source port. [`CtBench::populate`] sends every flow's first packet
//! from `lan` (a new entry, MASQUERADE's binding, confirm) and then, three
//! seconds later on the bench's clock, its reply from `wan` (ESTABLISHED,
//! and ASSURED as a UDP stream): the entries are made by the pipeline,
//! not put into the table.
//!
//! One turn ([`CtBench::turn`]) is two batches of 64 — what a NIC queue on
//! each side delivers: 64 frames on `lan`, each the original direction of
//! a flow drawn uniformly at random over all live flows, and 64 on `wan`,
//! each a reply of a random flow (to the masqueraded address and port
//! under NAT). Each frame is written into a fresh chunk (what a NIC's DMA
//! does) with correct checksums. With a miss share, each frame is instead,
//! with that probability, a miss: on `wan` an unsolicited datagram from
//! 192.0.2.0/24 to a client (no entry: one is made, then FORWARD drops the
//! packet and the unconfirmed entry goes at the end of the batch), on
//! `lan` a datagram of a live flow with a bad UDP checksum (INVALID,
//! dropped by FORWARD's policy).

use std::hint::black_box;
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use sluice_config::ipset::SetFile;
use sluice_dataplane::conntrack::{status, Shard};
use sluice_dataplane::io::mem::MemPort;
use sluice_dataplane::io::Umem;
use sluice_dataplane::pipeline::{Counter, Pipeline, PipelineParams, Snapshot, BATCH};
use sluice_dataplane::route::PortId;
use sluice_dataplane::rules::RulesParams;
use sluice_dataplane::wire::{checksum, MacAddr};
use sluice_dataplane::worker::Worker;

/// The appliance: `lan` is port 0, `wan` port 1.
pub const APPLIANCE: &str = r#"
[[interface]]
name = "lan"
address = ["10.0.1.1/24"]

[[interface]]
name = "wan"
address = ["203.0.113.1/24"]

[[route]]
to = "default"
via = "203.0.113.254"

[[route]]
to = "10.128.0.0/9"
via = "10.0.1.254"
"#;

pub const LAN: usize = 0;
pub const WAN: usize = 1;
const LAN_GW: [u8; 4] = [10, 0, 1, 254];
const WAN_GW: [u8; 4] = [203, 0, 113, 254];
/// The masqueraded source.
pub const WAN_ADDR: [u8; 4] = [203, 0, 113, 1];
const CLIENTS: u32 = 0x0a80_0000; // 10.128.0.0
const SERVERS: u32 = 0xc612_0000; // 198.18.0.0
const SCANNERS: u32 = 0xc000_0200; // 192.0.2.0
const SERVER_PORT: u16 = 443;

/// Flows [`sport`] keeps distinct.
pub const MAX_FLOWS: usize = 31 << 16;

/// The frame: Ethernet, IPv4 (20), UDP (8), 18 bytes of payload.
pub const FRAME_LEN: usize = 60;
const IP: usize = 14;
const UDP: usize = IP + 20;
const PAYLOAD: usize = 18;

/// The rulesets. See the module docs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    NoRules,
    Stateless,
    Ct,
    CtNat,
}

impl Mode {
    pub fn tracks(self) -> bool {
        matches!(self, Mode::Ct | Mode::CtNat)
    }

    /// The `iptables-restore` file (`None` for [`Mode::NoRules`]).
    pub fn ruleset(self) -> Option<String> {
        let filter_ct = "*filter\n:INPUT ACCEPT [0:0]\n:FORWARD DROP [0:0]\n:OUTPUT ACCEPT [0:0]\n\
             -A FORWARD -m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT\n\
             -A FORWARD -i lan -o wan -m conntrack --ctstate NEW -j ACCEPT\n\
             COMMIT\n";
        match self {
            Mode::NoRules => None,
            Mode::Stateless => Some(
                "*filter\n:INPUT ACCEPT [0:0]\n:FORWARD DROP [0:0]\n:OUTPUT ACCEPT [0:0]\n\
                 -A FORWARD -i lan -o wan -j ACCEPT\n\
                 -A FORWARD -i wan -o lan -s 198.18.0.0/15 -j ACCEPT\n\
                 COMMIT\n"
                    .into(),
            ),
            Mode::Ct => Some(filter_ct.into()),
            Mode::CtNat => Some(format!(
                "*nat\n:PREROUTING ACCEPT [0:0]\n:INPUT ACCEPT [0:0]\n:OUTPUT ACCEPT [0:0]\n\
                 :POSTROUTING ACCEPT [0:0]\n-A POSTROUTING -o wan -j MASQUERADE\nCOMMIT\n{filter_ct}"
            )),
        }
    }
}

/// Flow `k`'s client address.
#[inline]
pub fn client(k: u32) -> u32 {
    CLIENTS + k
}

/// Flow `k`'s server address.
#[inline]
pub fn server(k: u32) -> u32 {
    SERVERS + (k & 0xffff)
}

/// Flow `k`'s client port: with the server (`k`'s low 16 bits) it names
/// `k`, so masqueraded tuples never clash.
#[inline]
pub fn sport(k: u32) -> u16 {
    (1024 + (k >> 16) * 2048 + (k & 0x7ff)) as u16
}

fn port_mac(i: usize) -> MacAddr {
    MacAddr([0x02, 0, 0, 0, 1, i as u8])
}

fn gw_mac(i: usize) -> MacAddr {
    MacAddr([0x52, 0x54, 0, 0, 1, i as u8])
}

#[inline]
fn fold(mut s: u32) -> u16 {
    s = (s & 0xffff) + (s >> 16);
    s = (s & 0xffff) + (s >> 16);
    s as u16
}

#[inline]
fn words(a: u32) -> u32 {
    (a >> 16) + (a & 0xffff)
}

/// The frames' constant parts and their checksum partial sums.
#[derive(Clone)]
struct Templates {
    /// Per ingress port: the whole frame with addresses, ports and
    /// checksums zero.
    frame: [[u8; FRAME_LEN]; 2],
    /// Sum of the IPv4 header without addresses and checksum.
    ip_base: u32,
    /// Sum of the pseudo-header's protocol and length, the UDP header's
    /// length and the payload.
    udp_base: u32,
}

impl Templates {
    fn new() -> Templates {
        let mut frame = [[0u8; FRAME_LEN]; 2];
        for (p, f) in frame.iter_mut().enumerate() {
            f[0..6].copy_from_slice(&port_mac(p).0);
            f[6..12].copy_from_slice(&gw_mac(p).0);
            f[12..14].copy_from_slice(&[0x08, 0x00]);
            let ip = &mut f[IP..UDP];
            ip[0] = 0x45;
            ip[2..4].copy_from_slice(&((20 + 8 + PAYLOAD) as u16).to_be_bytes());
            ip[6] = 0x40; // DF
            ip[8] = 64;
            ip[9] = 17;
            f[UDP + 4..UDP + 6].copy_from_slice(&((8 + PAYLOAD) as u16).to_be_bytes());
            f[UDP + 8..].fill(0xab);
        }
        let ip_base = u32::from(checksum::sum(&frame[0][IP..UDP]));
        let udp_base = u32::from(checksum::sum(&frame[0][UDP..])) + 17 + (8 + PAYLOAD) as u32;
        Templates {
            frame,
            ip_base,
            udp_base,
        }
    }

    /// Writes a frame into `buf` as received on `port`.
    #[inline]
    fn write(
        &self,
        buf: &mut [u8],
        port: usize,
        (src, dst): (u32, u32),
        (sp, dp): (u16, u16),
        bad: bool,
    ) {
        let f = &mut buf[..FRAME_LEN];
        f.copy_from_slice(&self.frame[port]);
        let ipc = !fold(self.ip_base + words(src) + words(dst));
        f[IP + 10..IP + 12].copy_from_slice(&ipc.to_be_bytes());
        f[IP + 12..IP + 16].copy_from_slice(&src.to_be_bytes());
        f[IP + 16..IP + 20].copy_from_slice(&dst.to_be_bytes());
        f[UDP..UDP + 2].copy_from_slice(&sp.to_be_bytes());
        f[UDP + 2..UDP + 4].copy_from_slice(&dp.to_be_bytes());
        let mut uc = checksum::udp_wire(!fold(
            self.udp_base + words(src) + words(dst) + u32::from(sp) + u32::from(dp),
        ));
        if bad {
            // Wrong, and not 0 (no checksum).
            uc = if uc == 0x1234 { 0x4321 } else { 0x1234 };
        }
        f[UDP + 6..UDP + 8].copy_from_slice(&uc.to_be_bytes());
    }
}

/// What one frame of a turn is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// Flow `k`'s original direction, on `lan`.
    Orig(u32),
    /// Flow `k`'s reply, on `wan`.
    Reply(u32),
    /// A datagram of flow `k` with a bad UDP checksum, on `lan`.
    Invalid(u32),
    /// An unsolicited datagram on `wan`: scanner, its port, client `k`.
    Unsolicited(u32, u16, u32),
}

/// Writes `kind`'s frame into `buf` for `mode`; returns its ingress port.
#[inline]
fn write_kind(t: &Templates, mode: Mode, buf: &mut [u8], kind: Kind) -> usize {
    match kind {
        Kind::Orig(k) | Kind::Invalid(k) => {
            let bad_checksum = matches!(kind, Kind::Invalid(_));
            t.write(
                buf,
                LAN,
                (client(k), server(k)),
                (sport(k), SERVER_PORT),
                bad_checksum,
            );
            LAN
        }
        Kind::Reply(k) => {
            let dst = if mode == Mode::CtNat {
                u32::from_be_bytes(WAN_ADDR)
            } else {
                client(k)
            };
            t.write(buf, WAN, (server(k), dst), (SERVER_PORT, sport(k)), false);
            WAN
        }
        Kind::Unsolicited(src, port, k) => {
            t.write(buf, WAN, (src, client(k)), (port, 53), false);
            WAN
        }
    }
}

/// What [`CtBench::populate`] measured.
#[derive(Debug, Clone, Copy)]
pub struct Populate {
    /// ns per flow of the first packets (new entry through confirm),
    /// writing the frames left out.
    pub first_ns: f64,
    /// ns per flow of the replies.
    pub reply_ns: f64,
}

/// The bench's worker and its traffic. See the module docs.
pub struct CtBench {
    pub worker: Worker<MemPort>,
    mode: Mode,
    flows: u32,
    /// Misses per 2^16 frames.
    miss: u32,
    tmpl: Templates,
    rng: u64,
    /// The bench's clock is the real one moved on by this much.
    offset: Duration,
    /// Frames sent by turns, and how many of them should be forwarded.
    pub sent: u64,
    pub hits: u64,
}

impl CtBench {
    /// The worker for `mode` with a conntrack shard of `conntrack_max`
    /// entries; traffic over `flows` flows (not made yet: see
    /// [`CtBench::populate`]) with a share `miss` (0..=0.5) of misses.
    pub fn new(mode: Mode, conntrack_max: usize, flows: usize, miss: f64) -> CtBench {
        assert!((1..=MAX_FLOWS).contains(&flows), "1..={MAX_FLOWS} flows");
        let app = sluice_config::appliance::parse(APPLIANCE, Path::new("bench.toml"))
            .expect("bench appliance");
        let snap = match mode.ruleset() {
            None => Snapshot::from_appliance(&app, 1).expect("bench routes"),
            Some(rules) => {
                let rs = sluice_config::iptables::parse(&rules, Path::new("bench.rules"))
                    .expect("bench rules");
                Snapshot::build(&app, &rs, &SetFile::default(), RulesParams::default(), 1)
                    .expect("bench snapshot")
            }
        };
        assert_eq!(snap.tracks(), mode.tracks());
        let params = PipelineParams {
            conntrack_max,
            ..PipelineParams::default()
        };
        let now = Instant::now();
        let pipeline =
            Pipeline::with_params(Arc::new(snap), vec![port_mac(0), port_mac(1)], params, now);
        let mut ports = vec![MemPort::new(4 * BATCH), MemPort::new(4 * BATCH)];
        for p in &mut ports {
            p.set_recycle(true);
        }
        let mut worker = Worker::new(Umem::new(1024, 2048), ports, pipeline);
        for (port, gw) in [(LAN, LAN_GW), (WAN, WAN_GW)] {
            worker.pipeline.add_permanent_neighbour(
                &mut worker.umem,
                PortId(port as u16),
                std::net::Ipv4Addr::from(gw).into(),
                gw_mac(port),
                now,
            );
        }
        CtBench {
            worker,
            mode,
            flows: flows as u32,
            miss: (miss.clamp(0.0, 0.5) * 65536.0).round() as u32,
            tmpl: Templates::new(),
            rng: 0x2545_f491_4f6c_dd1d,
            offset: Duration::ZERO,
            sent: 0,
            hits: 0,
        }
    }

    pub fn mode(&self) -> Mode {
        self.mode
    }

    /// The bench's clock now.
    #[inline]
    pub fn now(&self) -> Instant {
        Instant::now() + self.offset
    }

    /// Moves the bench's clock on by `d`.
    pub fn advance(&mut self, d: Duration) {
        self.offset += d;
    }

    /// The worker's conntrack shard.
    pub fn shard(&self) -> &Shard {
        &self.worker.pipeline.state().conntrack
    }

    #[inline]
    fn next(&mut self) -> u64 {
        // splitmix64
        self.rng = self.rng.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.rng;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// The next frame on `port`: see the module docs.
    #[inline]
    fn draw(&mut self, port: usize) -> Kind {
        let r = self.next();
        let k = (((r >> 32) * u64::from(self.flows)) >> 32) as u32;
        let miss = (((r >> 16) & 0xffff) as u32) < self.miss;
        match (port, miss) {
            (LAN, false) => Kind::Orig(k),
            (LAN, true) => Kind::Invalid(k),
            (_, false) => Kind::Reply(k),
            (_, true) => Kind::Unsolicited(SCANNERS + (r & 0xff) as u32, 1024 + (r as u16 >> 4), k),
        }
    }

    /// Puts `kind`'s frame in a fresh chunk on its port's RX queue.
    #[inline]
    fn inject(&mut self, kind: Kind) {
        let w = &mut self.worker;
        let Some(mut d) = w.umem.alloc() else {
            panic!("no free chunk");
        };
        w.umem.set_len(&mut d, FRAME_LEN);
        let port = write_kind(&self.tmpl, self.mode, w.umem.bytes_mut(d), kind);
        if !w.ports[port].inject_desc(d) {
            panic!("RX ring full");
        }
    }

    /// Fills both ports' RX queues with one batch each (the "NIC" side).
    #[inline(never)]
    pub fn refill(&mut self) {
        for port in [LAN, WAN] {
            for _ in 0..BATCH {
                let kind = self.draw(port);
                if matches!(kind, Kind::Orig(_) | Kind::Reply(_)) {
                    self.hits += 1;
                }
                self.inject(kind);
            }
        }
        self.sent += 2 * BATCH as u64;
    }

    /// [`CtBench::refill`]'s work with the chunks freed again: what it
    /// costs, to subtract.
    #[inline(never)]
    pub fn refill_only(&mut self) {
        for port in [LAN, WAN] {
            for _ in 0..BATCH {
                let kind = self.draw(port);
                let w = &mut self.worker;
                let mut d = w.umem.alloc().expect("free chunk");
                w.umem.set_len(&mut d, FRAME_LEN);
                write_kind(&self.tmpl, self.mode, w.umem.bytes_mut(d), kind);
                black_box(&d);
                w.umem.free(d);
            }
        }
    }

    /// Frames per turn.
    pub const TURN: usize = 2 * BATCH;

    /// One turn: refill, then one poll of the worker (both ports' RX
    /// batches through the pipeline, TX, recycling), the time read once.
    #[inline(never)]
    pub fn turn(&mut self) {
        self.refill();
        let now = self.now();
        black_box(self.worker.poll(now));
    }

    /// `turns` turns; returns frames forwarded.
    #[inline(never)]
    pub fn run_batches(&mut self, turns: usize) -> u64 {
        let before = self.forwarded();
        for _ in 0..turns {
            self.turn();
        }
        self.forwarded() - before
    }

    /// Sends the frames of `kinds` in batches of 64 (each batch on one
    /// port), one poll per batch; returns the ns it took without writing
    /// the frames.
    pub fn send(&mut self, kinds: impl Iterator<Item = Kind> + Clone) -> f64 {
        let mut batch = Vec::with_capacity(BATCH);
        // Writing the frames alone, to subtract.
        let t = Instant::now();
        for kind in kinds.clone() {
            let w = &mut self.worker;
            let mut d = w.umem.alloc().expect("free chunk");
            w.umem.set_len(&mut d, FRAME_LEN);
            write_kind(&self.tmpl, self.mode, w.umem.bytes_mut(d), kind);
            black_box(&d);
            w.umem.free(d);
        }
        let gen = t.elapsed();
        let t = Instant::now();
        let mut kinds = kinds.peekable();
        while kinds.peek().is_some() {
            batch.clear();
            batch.extend(kinds.by_ref().take(BATCH));
            for &k in &batch {
                self.inject(k);
            }
            let now = self.now();
            self.worker.poll(now);
        }
        (t.elapsed().saturating_sub(gen)).as_nanos() as f64
    }

    /// Makes every flow live through the pipeline: each flow's first
    /// packet from `lan`, then, 3 s later on the bench's clock, its reply
    /// from `wan` (ESTABLISHED; ASSURED as a UDP stream, so early drop
    /// leaves them alone) unless `reply` is false. Checks that all went
    /// through and the shard holds them.
    pub fn populate(&mut self, reply: bool) -> Populate {
        let n = self.flows;
        let tx = self.forwarded();
        let len = self.shard().len();
        let first = self.send((0..n).map(Kind::Orig));
        let mut out = Populate {
            first_ns: first / f64::from(n),
            reply_ns: 0.0,
        };
        if reply {
            self.advance(Duration::from_secs(3));
            let r = self.send((0..n).map(Kind::Reply));
            out.reply_ns = r / f64::from(n);
        }
        let want = u64::from(n) * if reply { 2 } else { 1 };
        assert_eq!(
            self.forwarded() - tx,
            want,
            "every populating packet is forwarded; counters: {:?}",
            self.counters()
        );
        if self.mode.tracks() {
            assert_eq!(self.shard().len() - len, n as usize, "one entry per flow");
        }
        out
    }

    /// Live entries with `bits` in their status.
    pub fn entries_with(&self, bits: u32) -> usize {
        self.shard()
            .iter()
            .filter(|(_, e)| e.status & bits == bits)
            .count()
    }

    /// Whether every flow's entry is ESTABLISHED and ASSURED (and
    /// masqueraded under NAT).
    pub fn all_established(&self) -> bool {
        let mut bits = status::CONFIRMED | status::SEEN_REPLY | status::ASSURED;
        if self.mode == Mode::CtNat {
            bits |= status::SRC_NAT;
        }
        self.entries_with(bits) == self.flows as usize
    }

    /// Frames transmitted so far.
    pub fn forwarded(&self) -> u64 {
        self.worker.pipeline.counters().get(Counter::TxFrames)
    }

    pub fn counter(&self, c: Counter) -> u64 {
        self.worker.pipeline.counters().get(c)
    }

    /// Every counter that is not zero.
    pub fn counters(&self) -> Vec<(&'static str, u64)> {
        self.worker
            .pipeline
            .counters()
            .iter()
            .filter(|(_, v)| *v != 0)
            .collect()
    }

    /// Chunks free in the arena.
    pub fn free_frames(&self) -> usize {
        self.worker.umem.free_count()
    }

    /// One frame of `kind` as the bench writes it.
    pub fn frame(&self, kind: Kind) -> Vec<u8> {
        let mut f = vec![0u8; FRAME_LEN];
        write_kind(&self.tmpl, self.mode, &mut f, kind);
        f
    }

    /// Sends one frame of `kind` and returns what left (for checks).
    pub fn probe(&mut self, kind: Kind) -> Vec<(usize, Vec<u8>)> {
        for p in &mut self.worker.ports {
            p.set_recycle(false);
        }
        self.inject(kind);
        let now = self.now();
        self.worker.poll(now);
        let mut out = Vec::new();
        let w = &mut self.worker;
        for (i, p) in w.ports.iter_mut().enumerate() {
            for f in p.take_sent(&mut w.umem) {
                out.push((i, f));
            }
            p.set_recycle(true);
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use sluice_dataplane::wire;

    fn udp_ok(f: &[u8]) -> bool {
        let m = wire::parse(f).expect("parses");
        let l4 = m.l4_off as usize;
        checksum::checksum(&f[IP..UDP]) == 0
            && checksum::transport(&m.src, &m.dst, 17, &f[l4..]) == 0
    }

    #[test]
    fn frames_have_valid_checksums_and_flows_are_distinct() {
        let b = CtBench::new(Mode::NoRules, 16, 1, 0.0);
        for k in [0, 1, 0xffff, 0x10000, 999_999, MAX_FLOWS as u32 - 1] {
            assert!(udp_ok(&b.frame(Kind::Orig(k))), "{k}");
            assert!(udp_ok(&b.frame(Kind::Reply(k))), "{k}");
            assert!(!udp_ok(&b.frame(Kind::Invalid(k))), "{k}");
            assert!(udp_ok(&b.frame(Kind::Unsolicited(SCANNERS + 7, 4000, k))));
        }
        let mut seen = std::collections::HashSet::new();
        for k in 0..MAX_FLOWS as u32 {
            assert!(seen.insert((sport(k), server(k))), "{k}");
        }
    }

    #[test]
    fn nat_rewrites_both_ways_and_misses_are_dropped() {
        let mut b = CtBench::new(Mode::CtNat, 1024, 100, 0.0);
        b.populate(true);
        assert!(b.all_established());
        let out = b.probe(Kind::Orig(42));
        assert_eq!(out.len(), 1);
        let (port, f) = &out[0];
        assert_eq!(*port, WAN);
        assert_eq!(f[IP + 12..IP + 16], WAN_ADDR);
        assert_eq!(u16::from_be_bytes([f[UDP], f[UDP + 1]]), sport(42));
        assert!(udp_ok(f));
        let out = b.probe(Kind::Reply(42));
        let (port, f) = &out[0];
        assert_eq!(*port, LAN);
        assert_eq!(
            u32::from_be_bytes(f[IP + 16..IP + 20].try_into().unwrap()),
            client(42)
        );
        assert!(udp_ok(f));
        for k in [Kind::Invalid(3), Kind::Unsolicited(SCANNERS + 1, 5555, 3)] {
            assert!(b.probe(k).is_empty(), "{k:?}");
        }
        assert_eq!(b.shard().len(), 100);
    }

    #[test]
    fn turns_forward_every_hit() {
        for mode in [Mode::NoRules, Mode::Stateless, Mode::Ct, Mode::CtNat] {
            let mut b = CtBench::new(mode, 4096, 1000, 0.0);
            if mode.tracks() {
                b.populate(true);
            }
            let free = b.free_frames();
            let fwd = b.run_batches(20);
            assert_eq!(fwd, b.hits, "{mode:?}");
            assert_eq!(b.free_frames(), free);
        }
        let mut b = CtBench::new(Mode::CtNat, 4096, 1000, 0.2);
        b.populate(true);
        let fwd = b.run_batches(50);
        assert_eq!(fwd, b.hits);
        assert!(b.hits < b.sent);
        assert_eq!(b.shard().len(), 1000, "misses leave no entries");
        assert!(b.counter(Counter::CtInvalid) > 0);
    }
}
