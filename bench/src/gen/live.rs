//! `gen --engine live`: frames sent by the kernel's XDP live-frames test
//! run (`BPF_PROG_RUN` with `BPF_F_TEST_XDP_LIVE_FRAMES`, Linux 5.18+),
//! the way `xdp-trafficgen` sends.
//!
//! Why: in AF_XDP copy mode (every veth, most virtual NICs) the kernel
//! allocates an skb and copies each TX frame into it
//! (`xsk_generic_xmit`) — the same work trafgen's `tpacket_snd` does, so
//! the AF_XDP engine gains little over trafgen there. A live-frames run
//! instead takes frames from a page pool, runs an XDP program on each and
//! acts on its verdict: `XDP_TX` becomes a redirect back out of the
//! `ingress_ifindex` through the driver's `ndo_xdp_xmit`, with no skb.
//!
//! The program ([`program`]) makes each frame what [`Templates::write`]
//! makes it: it counts frames in a one-entry array map, takes flow
//! `n mod F` and sequence number `n div F`, copies that flow's head
//! (headers + mark, from a second array map) over the frame, writes the
//! sequence number and `bpf_ktime_get_ns()` (CLOCK_MONOTONIC, the sink's
//! clock) into the mark and the transport checksum updated from the
//! head's (RFC 1624; the one's complement sum is byte-order independent,
//! so the words are summed as loaded). The unit test compares its output
//! with [`Templates::write`] byte for byte.
//!
//! Limits, all refused on the command line: flat out only (`--max`: each
//! test run sets up and tears down a page pool, ~25 ms here, so pacing in
//! small runs does not work), one `--size` (the frame length is fixed per
//! run), no stateful mode. A veth's peer must run NAPI (an XDP program
//! attached, or GRO on): otherwise `veth_xdp_xmit` refuses every frame,
//! which a probe run before the workers start detects from the driver's
//! `xdp_xmit` counters and reports.
//!
//! `sent` counts the frames the program returned `XDP_TX` for; where the
//! driver has `*_xdp_xmit` / `*_xdp_xmit_errors` counters (`ethtool -S`;
//! veth has) their change over the run is reported beside it.

use std::io::ErrorKind;
use std::sync::atomic::{AtomicBool, Ordering::Relaxed};
use std::time::{Duration, Instant};

use nix::sys::pthread::{pthread_kill, pthread_self};
use nix::sys::signal::Signal;

use super::bpf::{self, *};
use super::cli::GenArgs;
use super::gen_run::{setup, summary, worker_flows, GenSummary, GenWorker};
use super::template::Templates;
use super::{run_workers, stop_on_signals, Live};

/// What the program needs to know of the frames.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Layout {
    pub head_len: usize,
    pub seq_at: usize,
    pub csum_at: usize,
    pub udp: bool,
    /// Flows of this worker.
    pub flows: u32,
}

impl Layout {
    pub fn of(t: &Templates) -> Layout {
        Layout {
            head_len: t.head_len(),
            seq_at: t.seq_at(),
            csum_at: t.csum_at(),
            udp: t.udp(),
            flows: t.flows() as u32,
        }
    }

    /// Bytes of a heads-map value: the head rounded up to 8.
    pub fn value_size(&self) -> usize {
        self.head_len.div_ceil(8) * 8
    }
}

/// The XDP program (see the module text), with the counter and heads
/// maps' descriptors.
pub fn program(l: &Layout, counter_fd: i32, heads_fd: i32) -> Vec<Insn> {
    let off = |o: usize| o as i16;
    let mut p = Vec::with_capacity(80);
    let mut to_drop = Vec::new();
    let mut jump_to_drop = |p: &mut Vec<Insn>, i: Insn| {
        to_drop.push(p.len());
        p.push(i);
    };
    p.push(alu_x(Alu::Mov, R6, R1));
    // n = counter[0]++
    p.push(st(Size::W, R10, -4, 0));
    p.extend(ld_map_fd(R1, counter_fd));
    p.push(alu_x(Alu::Mov, R2, R10));
    p.push(alu_k(Alu::Add, R2, -4));
    p.push(call(FN_MAP_LOOKUP_ELEM));
    jump_to_drop(&mut p, jmp_k(Jmp::Eq, R0, 0, 0));
    p.push(ldx(Size::DW, R7, R0, 0));
    p.push(alu_x(Alu::Mov, R1, R7));
    p.push(alu_k(Alu::Add, R1, 1));
    p.push(stx(Size::DW, R0, 0, R1));
    // flow = n mod F (r8), seq = n div F (r7)
    let flows = l.flows.clamp(1, i32::MAX as u32) as i32;
    p.push(alu_x(Alu::Mov, R8, R7));
    p.push(alu_k(Alu::Mod, R8, flows));
    p.push(alu_k(Alu::Div, R7, flows));
    // r8 = heads[flow]
    p.push(stx(Size::W, R10, -8, R8));
    p.extend(ld_map_fd(R1, heads_fd));
    p.push(alu_x(Alu::Mov, R2, R10));
    p.push(alu_k(Alu::Add, R2, -8));
    p.push(call(FN_MAP_LOOKUP_ELEM));
    jump_to_drop(&mut p, jmp_k(Jmp::Eq, R0, 0, 0));
    p.push(alu_x(Alu::Mov, R8, R0));
    // r9 = now
    p.push(call(FN_KTIME_GET_NS));
    p.push(alu_x(Alu::Mov, R9, R0));
    // r2 = data, with head_len bytes
    p.push(ldx(Size::W, R2, R6, 0));
    p.push(ldx(Size::W, R3, R6, 4));
    p.push(alu_x(Alu::Mov, R1, R2));
    p.push(alu_k(Alu::Add, R1, l.head_len as i32));
    jump_to_drop(&mut p, jmp_x(Jmp::Gt, R1, R3, 0));
    // the head over the frame
    let mut at = 0;
    for size in [Size::DW, Size::W, Size::H, Size::B] {
        while at + size.bytes() <= l.head_len {
            p.push(ldx(size, R1, R8, off(at)));
            p.push(stx(size, R2, off(at), R1));
            at += size.bytes();
        }
    }
    // seq (32 bits) and the low 48 bits of the time, big-endian
    p.push(alu_x(Alu::Mov, R1, R7));
    p.push(to_be(R1, 32));
    p.push(stx(Size::W, R2, off(l.seq_at), R1));
    p.push(alu_x(Alu::Mov, R1, R9));
    p.push(alu_k(Alu::Rsh, R1, 32));
    p.push(to_be(R1, 16));
    p.push(stx(Size::H, R2, off(l.seq_at + 4), R1));
    p.push(alu_x(Alu::Mov, R1, R9));
    p.push(to_be(R1, 32));
    p.push(stx(Size::W, R2, off(l.seq_at + 6), R1));
    // checksum: ~(~c + the five words), folded
    p.push(ldx(Size::H, R4, R2, off(l.csum_at)));
    p.push(alu_k(Alu::Xor, R4, 0xffff));
    for w in 0..5 {
        p.push(ldx(Size::H, R1, R2, off(l.seq_at + 2 * w)));
        p.push(alu_x(Alu::Add, R4, R1));
    }
    for _ in 0..2 {
        p.push(alu_x(Alu::Mov, R1, R4));
        p.push(alu_k(Alu::Rsh, R1, 16));
        p.push(alu_k(Alu::And, R4, 0xffff));
        p.push(alu_x(Alu::Add, R4, R1));
    }
    p.push(alu_k(Alu::Xor, R4, 0xffff));
    p.push(alu_k(Alu::And, R4, 0xffff));
    if l.udp {
        p.push(jmp_k(Jmp::Ne, R4, 0, 1));
        p.push(alu_k(Alu::Mov, R4, 0xffff));
    }
    p.push(stx(Size::H, R2, off(l.csum_at), R4));
    p.push(alu_k(Alu::Mov, R0, bpf::XDP_TX));
    p.push(exit());
    let drop_at = p.len();
    p.push(alu_k(Alu::Mov, R0, bpf::XDP_DROP));
    p.push(exit());
    for i in to_drop {
        p[i].off = (drop_at - i - 1) as i16;
    }
    p
}

/// One worker's program, maps and template frame.
pub struct LiveWorker {
    prog: Prog,
    counter: ArrayMap,
    _heads: ArrayMap,
    frame: Vec<u8>,
    ctx: XdpMd,
    flows: usize,
}

impl LiveWorker {
    /// For `t`'s flows (one size class), sending out of `ifindex` as if
    /// received on `queue` (`ifindex` 0: no device, for a plain test run).
    pub fn new(t: &Templates, ifindex: u32, queue: u32) -> Result<LiveWorker, String> {
        let l = Layout::of(t);
        let counter = ArrayMap::new(8, 1)?;
        let heads = ArrayMap::new(l.value_size(), l.flows.max(1))?;
        let mut v = vec![0u8; l.value_size()];
        for f in 0..t.flows() {
            let h = t.head(f, 0).ok_or("a flow without a template head")?;
            v[..h.len()].copy_from_slice(h);
            heads.set(f as u32, &v)?;
        }
        let prog = Prog::load_xdp("sluice_gen", &program(&l, counter.fd(), heads.fd()))?;
        let mut frame = vec![0u8; t.len(0)];
        t.write(&mut frame, 0, 0, 0, 0);
        let ctx = XdpMd {
            data_end: frame.len() as u32,
            ingress_ifindex: ifindex,
            rx_queue_index: queue,
            ..XdpMd::default()
        };
        Ok(LiveWorker {
            prog,
            counter,
            _heads: heads,
            frame,
            ctx,
            flows: t.flows(),
        })
    }

    /// Frames the program has made (the counter).
    pub fn made(&self) -> Result<u64, String> {
        self.counter.get_u64(0)
    }

    /// Sends `repeat` live frames; a signal ends the run early (not an
    /// error: [`LiveWorker::made`] says how many went).
    pub fn send(&self, repeat: u32) -> Result<(), String> {
        match self.prog.test_run(
            &self.frame,
            &self.ctx,
            None,
            repeat,
            F_TEST_XDP_LIVE_FRAMES,
            64,
        ) {
            Ok(_) => Ok(()),
            Err(e) if e.kind() == ErrorKind::Interrupted => Ok(()),
            Err(e) => Err(format!("BPF_PROG_RUN with live frames: {e}")),
        }
    }

    /// One plain test run with the counter set to `n`: the verdict and
    /// the frame the program made of the template frame.
    pub fn rewrite(&self, n: u64) -> Result<(u32, Vec<u8>), String> {
        self.counter.set(0, &n.to_ne_bytes())?;
        let mut out = vec![0u8; self.frame.len() + 256];
        let r = self
            .prog
            .test_run(&self.frame, &self.ctx, Some(&mut out), 1, 0, 0)
            .map_err(|e| format!("BPF_PROG_TEST_RUN: {e}"))?;
        out.truncate(r.data_size_out as usize);
        Ok((r.retval, out))
    }
}

/// The driver's `(xdp_xmit, xdp_xmit_errors)` summed over its queues
/// (`ethtool -S`), where it has them.
pub fn xmit_counters(dev: &str) -> Option<(u64, u64)> {
    let out = std::process::Command::new("ethtool")
        .args(["-S", dev])
        .output()
        .ok()?;
    parse_xmit_counters(&String::from_utf8_lossy(&out.stdout))
}

fn parse_xmit_counters(text: &str) -> Option<(u64, u64)> {
    let (mut sent, mut errors, mut seen) = (0u64, 0u64, false);
    for line in text.lines() {
        let Some((name, value)) = line.trim().split_once(':') else {
            continue;
        };
        let Ok(v) = value.trim().parse::<u64>() else {
            continue;
        };
        if name.ends_with("_xdp_xmit") {
            sent += v;
            seen = true;
        } else if name.ends_with("_xdp_xmit_errors") {
            errors += v;
        }
    }
    seen.then_some((sent, errors))
}

/// How long one test run aims to last: long enough that the page pool
/// set-up is a few per cent of it.
const RUN_TARGET: Duration = Duration::from_millis(1000);

/// Runs `gen --engine live`.
pub fn run(a: &GenArgs) -> Result<GenSummary, String> {
    let stop = stop_on_signals()?;
    // SIGUSR1 ends a worker's test run at the deadline (see `worker`).
    signal_hook::flag::register(
        signal_hook::consts::SIGUSR1,
        std::sync::Arc::new(AtomicBool::new(false)),
    )
    .map_err(|e| format!("cannot install the SIGUSR1 handler: {e}"))?;
    let s = setup(a)?;
    let mut workers = Vec::new();
    for q in 0..a.queues {
        let t = Templates::build(
            &s.spec,
            &worker_flows(&s.flows, q, a.queues, a.flows),
            &s.lens,
        );
        workers.push((q, LiveWorker::new(&t, s.info.ifindex, q)?, t.len(0) as u64));
    }
    let before = xmit_counters(&a.dev);
    // The probe: one batch, to see that the driver transmits (its frames
    // count as sent; the run's time starts after it).
    workers[0].1.send(64)?;
    if let (Some(b), Some(p)) = (before, xmit_counters(&a.dev)) {
        if p.0 == b.0 {
            return Err(format!(
                "interface {}: the driver transmitted none of 64 probe frames \
                 (xdp_xmit unchanged, xdp_xmit_errors +{}); a veth's peer must run NAPI: \
                 an XDP program attached to it, or `ethtool -K PEER gro on`",
                a.dev,
                p.1.saturating_sub(b.1)
            ));
        }
    }
    let start = Instant::now();
    let end = start + Duration::from_secs_f64(a.duration_s);
    let totals = run_workers(
        "gen",
        workers,
        a.first_core,
        move |_, (q, w, len): (u32, LiveWorker, u64), live| worker(q, &w, len, end, &stop, live),
        |secs, pps, mbps, [sent, ..]| {
            format!(
                "gen {secs:6.1}s  {pps:>10.0} pps  {mbps:>9.1} Mbps  sent {sent}  (live frames)"
            )
        },
    )?;
    let elapsed = start.elapsed().as_secs_f64();
    let totals = totals.into_iter().collect::<Result<Vec<_>, String>>()?;
    let mut sum = summary(a, "live", false, false, elapsed, totals);
    if let (Some(b), Some(e)) = (before, xmit_counters(&a.dev)) {
        sum.xdp_xmit = Some(e.0.saturating_sub(b.0));
        sum.xdp_xmit_errors = Some(e.1.saturating_sub(b.1));
    }
    Ok(sum)
}

fn worker(
    queue: u32,
    w: &LiveWorker,
    frame_len: u64,
    end: Instant,
    stop: &AtomicBool,
    live: &Live,
) -> Result<GenWorker, String> {
    let done = AtomicBool::new(false);
    let me = pthread_self();
    let result = std::thread::scope(|sc| {
        // While the worker sits in the syscall: progress from the counter
        // map every 100 ms, and at the deadline (or on a stop) SIGUSR1 to
        // the worker, which ends its test run (EINTR) — again every
        // 100 ms in case it was between runs.
        let publisher = sc.spawn(|| {
            while !done.load(Relaxed) {
                if let Ok(n) = w.made() {
                    live.publish([n, n * frame_len, 0, 0]);
                }
                let now = Instant::now();
                if now >= end || stop.load(Relaxed) {
                    let _ = pthread_kill(me, Signal::SIGUSR1);
                }
                let tick = end.saturating_duration_since(now);
                let tick = if tick.is_zero() { TICK } else { tick.min(TICK) };
                std::thread::park_timeout(tick);
            }
        });
        let r = send_until(w, end, stop);
        done.store(true, Relaxed);
        publisher.thread().unpark();
        r
    });
    result?;
    let sent = w.made()?;
    live.publish([sent, sent * frame_len, 0, 0]);
    Ok(GenWorker {
        queue,
        flows: w.flows,
        sent,
        bytes: sent * frame_len,
        ..GenWorker::default()
    })
}

const TICK: Duration = Duration::from_millis(100);

/// Test runs until `end` or `stop`, each sized from the rate so far to
/// last about [`RUN_TARGET`]; the deadline's signal cuts the last one.
fn send_until(w: &LiveWorker, end: Instant, stop: &AtomicBool) -> Result<(), String> {
    let mut repeat: u64 = 1 << 16;
    loop {
        let now = Instant::now();
        if stop.load(Relaxed) || now >= end {
            return Ok(());
        }
        let n0 = w.made()?;
        w.send(repeat.clamp(64, u64::from(u32::MAX)) as u32)?;
        let took = now.elapsed().as_secs_f64().max(1e-6);
        let rate = (w.made()? - n0) as f64 / took;
        repeat = (rate * RUN_TARGET.as_secs_f64()) as u64;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::frames::MacAddr;
    use crate::gen::mark;
    use crate::gen::template::{min_size, Proto, Spec};
    use std::net::IpAddr;

    #[test]
    fn xmit_counters_of_veth() {
        let text = "NIC statistics:\n     peer_ifindex: 7\n     rx_queue_0_xdp_packets: 0\n     \
                    tx_queue_0_xdp_xmit: 120\n     tx_queue_0_xdp_xmit_errors: 3\n     \
                    tx_queue_1_xdp_xmit: 5\n     tx_queue_1_xdp_xmit_errors: 0\n";
        assert_eq!(parse_xmit_counters(text), Some((125, 3)));
        assert_eq!(
            parse_xmit_counters("NIC statistics:\n rx_packets: 4\n"),
            None
        );
    }

    /// Every branch to the drop exit lands on it, and the program ends in
    /// an exit.
    #[test]
    fn jumps_land_on_the_drop_exit() {
        let l = Layout {
            head_len: 60,
            seq_at: 50,
            csum_at: 40,
            udp: true,
            flows: 3,
        };
        let p = program(&l, 5, 6);
        let drop_at = p.len() - 2;
        assert_eq!(p[drop_at].imm, bpf::XDP_DROP);
        assert_eq!(p[p.len() - 1], exit());
        let to_drop = p
            .iter()
            .enumerate()
            .filter(|(_, i)| {
                i.code & 0x07 == 0x05 && i.code & 0xf0 != 0x80 && i.code & 0xf0 != 0x90
            })
            .filter(|(_, i)| i.off > 1)
            .map(|(at, i)| at as i64 + 1 + i64::from(i.off))
            .collect::<Vec<_>>();
        assert_eq!(to_drop, vec![drop_at as i64; 3]);
    }

    fn root() -> bool {
        nix::unistd::geteuid().is_root()
    }

    /// The program's frame for counter value n == `Templates::write` of
    /// flow n mod F, seq n div F and the timestamp the program wrote,
    /// byte for byte, for every protocol and family; the counter moves on.
    #[test]
    fn program_writes_what_the_templates_write() {
        if !root() {
            eprintln!("SKIP program_writes_what_the_templates_write: needs root (BPF)");
            return;
        }
        let cases = [
            (Proto::Udp, "10.9.0.1", "10.0.0.0/30", 1u32),
            (Proto::Udp, "10.9.0.1", "10.0.0.0/30", 7),
            (Proto::TcpSyn, "10.9.0.1", "10.0.0.0/24", 300),
            (Proto::Icmp, "10.9.0.1", "10.0.0.1/32", 5),
            (Proto::Udp, "fd00::9", "fd00::/120", 1000),
            (Proto::TcpSyn, "fd00::9", "fd00::/126", 9),
            (Proto::Icmp, "fd00::9", "fd00::/64", 2),
        ];
        for (proto, dst, src, nflows) in cases {
            let spec = Spec {
                proto,
                src_mac: MacAddr([2, 0, 0, 0, 0, 1]),
                dst_mac: MacAddr([2, 0, 0, 0, 0, 2]),
                dst: dst.parse().unwrap(),
                dst_port: 9,
            };
            let ipv6 = spec.dst.is_ipv6();
            let flows = crate::gen::flows::Flows::new(src.parse().unwrap(), nflows).unwrap();
            let mine: Vec<(u32, IpAddr, u16)> = (0..nflows)
                .map(|i| {
                    let (ip, port) = flows.flow(i);
                    (i, ip, port)
                })
                .collect();
            let len = min_size(proto, ipv6) - 4 + 20;
            let t = Templates::build(&spec, &mine, &[len]);
            let w = LiveWorker::new(&t, 0, 0).unwrap();
            let n_flows = u64::from(nflows);
            for n in [
                0u64,
                1,
                n_flows - 1,
                n_flows,
                12_345,
                n_flows * 0xffff_ffff + 3,
                n_flows << 32,
            ] {
                let t0 = crate::gen::mono_ns() & mark::TS_MASK;
                let (verdict, got) = w.rewrite(n).unwrap();
                let t1 = crate::gen::mono_ns() & mark::TS_MASK;
                assert_eq!(verdict, bpf::XDP_TX as u32, "{proto:?} {dst}");
                let m = mark::find(&got).unwrap();
                assert!(
                    t0 <= m.ts && m.ts <= t1,
                    "timestamp {} not in {t0}..{t1}",
                    m.ts
                );
                let mut want = vec![0u8; len];
                t.write(
                    &mut want,
                    (n % n_flows) as usize,
                    0,
                    (n / n_flows) as u32,
                    m.ts,
                );
                assert_eq!(got, want, "{proto:?} {dst} {nflows} flows, n {n}");
                assert_eq!(w.made().unwrap(), n + 1);
            }
        }
    }
}
