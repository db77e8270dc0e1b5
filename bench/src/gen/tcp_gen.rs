//! `sluice-bench gen --tcp-conns N`: the stateful mode. One smoltcp
//! interface (one address: `--src`'s, else the interface's own) on one
//! AF_XDP port (queue 0, one worker) opens N TCP connections to
//! `--dst:--dst-port`, source ports 1024 + connection number, at most
//! `--conn-rate` per second (the [`Pacer`]) and `--concurrency` at a time.
//! Connection `i` sends `--bytes` bytes of [`pattern_byte`]`(i, ..)`, checks
//! that the echo it reads back is exactly that, then closes; it completes
//! when both FINs are through (TIME-WAIT). Each connection allocates its
//! two socket buffers (per connection, never per packet).

use std::sync::atomic::Ordering::Relaxed;
use std::time::{Duration, Instant};

use hdrhistogram::Histogram;
use serde::Serialize;
use smoltcp::iface::{SocketHandle, SocketSet};
use smoltcp::socket::tcp::{Socket, SocketBuffer, State};
use smoltcp::wire::{IpAddress, IpEndpoint, IpListenEndpoint};

use super::cli::{GenArgs, TcpGenArgs};
use super::pace::Pacer;
use super::sink_run::Latency;
use super::tcp_dev::{self, fill, v4, Verifier, XdpDevice};
use super::{mono_ns, stop_on_signals, write_json};

/// Socket send and receive buffer, bytes each.
pub const SOCK_BUF: usize = 8192;

/// How long a completed connection's socket stays in TIME-WAIT (smoltcp
/// would keep it 10 s; that many sockets would slow every poll).
pub const LINGER_NS: u64 = 50_000_000;

/// Failed connections by reason.
#[derive(Debug, Clone, Copy, Default, Serialize, PartialEq, Eq)]
pub struct Failed {
    /// Not complete `--conn-timeout` after the SYN (then aborted: RST).
    pub timeout: u64,
    /// Closed by the peer's RST (or refused) before completing.
    pub reset: u64,
    /// The echo differed from what was sent.
    pub verify_mismatch: u64,
    /// Still open when `--duration` ran out.
    pub unfinished: u64,
}

impl Failed {
    pub fn total(&self) -> u64 {
        self.timeout + self.reset + self.verify_mismatch + self.unfinished
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct TcpGenSummary {
    pub tool: &'static str,
    pub dev: String,
    pub native_xdp: bool,
    pub zerocopy: bool,
    pub src: String,
    pub dst: String,
    pub requested: u32,
    pub opened: u64,
    pub established: u64,
    pub completed: u64,
    pub failed: Failed,
    pub failed_total: u64,
    /// Bytes sent and read back verified, over completed connections.
    pub bytes_verified: u64,
    pub duration_s: f64,
    /// Handshakes completed per second over the run.
    pub setup_rate: f64,
    pub completed_per_s: f64,
    /// SYN sent to ESTABLISHED seen, ns (at loop granularity).
    pub handshake_ns: Latency,
    pub tx_dropped: u64,
}

struct Conn {
    h: SocketHandle,
    id: u64,
    t0: u64,
    established: bool,
    sent: u64,
    check: Verifier,
    closing: bool,
    /// Completed (TIME-WAIT) at this CLOCK_MONOTONIC ns (0: not yet); the
    /// socket stays [`LINGER_NS`] more, to send the ACK of the server's FIN
    /// (and again should the FIN come again), then goes.
    done: u64,
}

enum Outcome {
    Open,
    Done,
    Fail(fn(&mut Failed)),
}

/// Serves one connection's socket; what became of it.
fn serve(c: &mut Conn, s: &mut Socket, bytes: u64, now: u64, hist: &mut Histogram<u64>) -> Outcome {
    let st = s.state();
    if !c.established && !matches!(st, State::SynSent | State::Closed) {
        c.established = true;
        let _ = hist.record(now.saturating_sub(c.t0).max(1));
    }
    let mut buf = [0u8; 2048];
    while c.sent < bytes && s.can_send() {
        let n = ((bytes - c.sent) as usize)
            .min(buf.len())
            .min(s.send_capacity() - s.send_queue());
        fill(c.id, c.sent, &mut buf[..n]);
        match s.send_slice(&buf[..n]) {
            Ok(0) | Err(_) => break,
            Ok(k) => c.sent += k as u64,
        }
    }
    while s.can_recv() {
        match s.recv_slice(&mut buf) {
            Ok(0) | Err(_) => break,
            Ok(n) => c.check.feed(&buf[..n]),
        }
    }
    if !c.check.ok || c.check.pos > bytes {
        s.abort();
        return Outcome::Fail(|f| f.verify_mismatch += 1);
    }
    if c.established && c.check.pos == bytes && !c.closing {
        s.close();
        c.closing = true;
    }
    match st {
        State::TimeWait if c.closing => Outcome::Done,
        // `connect` left it in SYN-SENT: CLOSED now means a RST came.
        State::Closed => Outcome::Fail(|f| f.reset += 1),
        _ => Outcome::Open,
    }
}

pub fn run(a: &GenArgs, t: &TcpGenArgs) -> Result<TcpGenSummary, String> {
    let stop = stop_on_signals()?;
    let dst = v4(a.dst, "--dst")?;
    let (src, prefix) = match a.src {
        Some(ipnet::IpNet::V4(n)) => (n.addr(), n.prefix_len()),
        Some(n) => return Err(format!("--src {n}: IPv4 only")),
        None => tcp_dev::dev_cidr(&a.dev)?,
    };
    let gw = match t.gateway {
        Some(g) => Some(v4(g, "--gateway")?),
        None => tcp_dev::default_gateway(&a.dev)?,
    };
    let (mut dev, ifmac) = XdpDevice::open(&a.dev)?;
    let mac = a.src_mac.map(|m| m.0).unwrap_or(ifmac);
    let mut iface = tcp_dev::interface(&mut dev, mac, src, prefix, gw)?;
    let mut sockets = SocketSet::new(Vec::with_capacity(t.concurrency as usize));
    let mut conns: Vec<Conn> = Vec::with_capacity(t.concurrency as usize);
    let mut hist = Histogram::<u64>::new_with_bounds(1, 100_000_000_000, 3)
        .map_err(|e| format!("histogram: {e}"))?;
    let mut pacer = Pacer::new(Some(t.rate), 64);
    let mut failed = Failed::default();
    let (mut opened, mut established, mut completed) = (0u64, 0u64, 0u64);
    // Connections not yet completed or failed (lingering ones are not).
    let mut in_flight = 0usize;
    let timeout_ns = (t.conn_timeout_s * 1e9) as u64;
    println!(
        "gen: {} TCP connections {src} -> {dst}:{} on {} queue 0 ({} XDP, {}), {} B each, \
         at most {}/s, {} in flight, for at most {} s",
        t.conns,
        a.dst_port,
        a.dev,
        if dev.native { "native" } else { "generic" },
        if dev.zerocopy { "zero-copy" } else { "copy" },
        t.bytes,
        t.rate,
        t.concurrency,
        a.duration_s
    );
    let start = Instant::now();
    let end = start + Duration::from_secs_f64(a.duration_s);
    let (mut next_line, mut last_est) = (start + Duration::from_secs(1), 0u64);
    loop {
        let now_i = Instant::now();
        if now_i >= end || stop.load(Relaxed) {
            break;
        }
        if opened == u64::from(t.conns) && in_flight == 0 {
            break;
        }
        // Open what the pacer and the concurrency bound allow.
        let room = (t.concurrency as usize)
            .saturating_sub(in_flight)
            .min((u64::from(t.conns) - opened) as usize);
        let due = pacer.budget(now_i - start).min(room);
        let now = mono_ns();
        for _ in 0..due {
            let id = opened;
            let mut s = Socket::new(
                SocketBuffer::new(vec![0; SOCK_BUF]),
                SocketBuffer::new(vec![0; SOCK_BUF]),
            );
            s.set_nagle_enabled(false);
            s.set_ack_delay(None);
            let remote = IpEndpoint::new(IpAddress::Ipv4(dst), a.dst_port);
            let local = IpListenEndpoint {
                addr: Some(IpAddress::Ipv4(src)),
                port: (1024 + id) as u16,
            };
            s.connect(iface.context(), remote, local)
                .map_err(|e| format!("connect #{id}: {e}"))?;
            in_flight += 1;
            conns.push(Conn {
                h: sockets.add(s),
                id,
                t0: now,
                established: false,
                sent: 0,
                check: Verifier::known(id),
                closing: false,
                done: 0,
            });
            opened += 1;
        }
        pacer.sent(due);
        iface.poll(tcp_dev::now(), &mut dev, &mut sockets);
        dev.flush();
        let now = mono_ns();
        let mut i = 0;
        while i < conns.len() {
            let c = &mut conns[i];
            if c.done != 0 {
                if now > c.done + LINGER_NS {
                    sockets.remove(c.h);
                    conns.swap_remove(i);
                } else {
                    i += 1;
                }
                continue;
            }
            let s = sockets.get_mut::<Socket>(c.h);
            let was = c.established;
            let mut out = serve(c, s, t.bytes, now, &mut hist);
            if !was && c.established {
                established += 1;
            }
            if matches!(out, Outcome::Open) && now > c.t0 + timeout_ns {
                s.abort();
                out = Outcome::Fail(|f| f.timeout += 1);
            }
            match out {
                Outcome::Open => i += 1,
                Outcome::Done => {
                    completed += 1;
                    in_flight -= 1;
                    c.done = now;
                    i += 1;
                }
                Outcome::Fail(count) => {
                    count(&mut failed);
                    in_flight -= 1;
                    sockets.remove(c.h);
                    conns.swap_remove(i);
                }
            }
        }
        iface.poll(tcp_dev::now(), &mut dev, &mut sockets);
        dev.flush();
        if now_i >= next_line {
            next_line += Duration::from_secs(1);
            println!(
                "gen-tcp {:6.1}s  setup {:>7}/s  completed {completed}  failed {}  in flight {}",
                (now_i - start).as_secs_f64(),
                established - last_est,
                failed.total(),
                in_flight
            );
            last_est = established;
        }
        let wait = iface
            .poll_delay(tcp_dev::now(), &sockets)
            .map(|d| d.total_millis() as i32)
            .unwrap_or(1)
            .min(1);
        let wait = if opened < u64::from(t.conns) && in_flight < t.concurrency as usize {
            wait.min(pacer.until_next(Instant::now() - start).as_millis() as i32)
        } else {
            wait
        };
        tcp_dev::idle(&dev, wait);
    }
    // The last ACKs out (and again for a FIN that comes again).
    let linger_end = Instant::now() + Duration::from_nanos(LINGER_NS);
    while Instant::now() < linger_end && !stop.load(Relaxed) {
        iface.poll(tcp_dev::now(), &mut dev, &mut sockets);
        dev.flush();
        tcp_dev::idle(&dev, 1);
    }
    failed.unfinished = conns.iter().filter(|c| c.done == 0).count() as u64;
    let elapsed = start.elapsed().as_secs_f64().max(1e-9);
    Ok(TcpGenSummary {
        tool: "gen-tcp",
        dev: a.dev.clone(),
        native_xdp: dev.native,
        zerocopy: dev.zerocopy,
        src: format!("{src}/{prefix}"),
        dst: format!("{dst}:{}", a.dst_port),
        requested: t.conns,
        opened,
        established,
        completed,
        failed,
        failed_total: failed.total(),
        bytes_verified: completed * t.bytes,
        duration_s: elapsed,
        setup_rate: established as f64 / elapsed,
        completed_per_s: completed as f64 / elapsed,
        handshake_ns: Latency::of(&hist),
        tx_dropped: dev.tx_dropped,
    })
}

pub fn print(s: &TcpGenSummary) {
    println!(
        "gen-tcp: {} opened, {} established, {} completed ({} B verified), failed {} \
         (timeout {}, reset {}, verify mismatch {}, unfinished {}) in {:.2} s: \
         {:.0} setups/s; handshake p50 {} us p99 {} us",
        s.opened,
        s.established,
        s.completed,
        s.bytes_verified,
        s.failed_total,
        s.failed.timeout,
        s.failed.reset,
        s.failed.verify_mismatch,
        s.failed.unfinished,
        s.duration_s,
        s.setup_rate,
        s.handshake_ns.p50.unwrap_or(0) / 1000,
        s.handshake_ns.p99.unwrap_or(0) / 1000,
    );
}

pub fn main(a: &GenArgs, t: &TcpGenArgs) -> Result<(), String> {
    let s = run(a, t)?;
    print(&s);
    if let Some(p) = &a.json {
        write_json(p, &s)?;
    }
    if s.completed < u64::from(t.conns) {
        return Err(format!(
            "{} of {} connections did not complete",
            u64::from(t.conns) - s.completed,
            t.conns
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The connection pacer as `run` uses it: never more than `R * t`
    /// opened by time `t` (plus one batch), and a stall does not burst.
    #[test]
    fn conn_rate_paces_openings() {
        let mut p = Pacer::new(Some(500), 64);
        let mut opened = 0u64;
        for ms in (0..=2000u64).step_by(3) {
            let n = p.budget(Duration::from_millis(ms));
            p.sent(n);
            opened += n as u64;
            assert!(opened <= 500 * ms / 1000 + 1, "{opened} by {ms} ms");
        }
        assert!(opened >= 990, "{opened} in 2 s at 500/s");
        // Ten seconds of nothing, then one turn: at most one batch.
        assert!(p.budget(Duration::from_secs(12)) <= 64);
    }

    #[test]
    fn failed_counts_every_reason() {
        let f = Failed {
            timeout: 1,
            reset: 2,
            verify_mismatch: 3,
            unfinished: 4,
        };
        assert_eq!(f.total(), 10);
    }
}
