//! `sluice-bench sink --tcp-listen PORT`: the server side of the stateful
//! mode. One smoltcp interface (`--addr`, else the interface's own address;
//! smoltcp answers ARP for it) on one AF_XDP port (queue 0, one worker).
//! smoltcp binds one listening socket per connection, so a pool of
//! `--listeners` sockets listens on PORT and is topped up each turn as
//! listeners turn into connections. Every connection's bytes are echoed
//! back and checked against the pattern (the first 8 bytes name the
//! connection); the server closes when the client has.

use std::sync::atomic::Ordering::Relaxed;
use std::time::{Duration, Instant};

use serde::Serialize;
use smoltcp::iface::{SocketHandle, SocketSet};
use smoltcp::socket::tcp::{Socket, SocketBuffer, State};

use super::cli::{SinkArgs, TcpSinkArgs};
use super::tcp_dev::{self, v4, Verifier, XdpDevice};
use super::tcp_gen::SOCK_BUF;
use super::{stop_on_signals, write_json};

#[derive(Debug, Clone, Serialize)]
pub struct TcpSinkSummary {
    pub tool: &'static str,
    pub dev: String,
    pub native_xdp: bool,
    pub zerocopy: bool,
    pub addr: String,
    pub port: u16,
    pub duration_s: f64,
    /// Connections that reached ESTABLISHED.
    pub accepted: u64,
    /// Closed both ways with every byte matching the pattern.
    pub completed: u64,
    /// Bytes received and echoed over completed connections.
    pub bytes_verified: u64,
    pub verify_mismatch: u64,
    /// Closed by a RST before completing.
    pub reset: u64,
    /// Still open at the end.
    pub open_at_end: u64,
    pub tx_dropped: u64,
}

struct Conn {
    h: SocketHandle,
    accepted: bool,
    check: Verifier,
    closing: bool,
}

fn listener(port: u16) -> Result<Socket<'static>, String> {
    let mut s = Socket::new(
        SocketBuffer::new(vec![0; SOCK_BUF]),
        SocketBuffer::new(vec![0; SOCK_BUF]),
    );
    s.set_nagle_enabled(false);
    s.set_ack_delay(None);
    s.listen(port)
        .map_err(|e| format!("listen on {port}: {e}"))?;
    Ok(s)
}

/// Echoes what can be echoed; closes once the client has and all is sent.
fn echo(c: &mut Conn, s: &mut Socket) {
    let mut buf = [0u8; 2048];
    loop {
        let room = s.send_capacity() - s.send_queue();
        if room == 0 || !s.can_recv() {
            break;
        }
        let want = room.min(buf.len());
        match s.recv_slice(&mut buf[..want]) {
            Ok(0) | Err(_) => break,
            Ok(n) => {
                c.check.feed(&buf[..n]);
                let _ = s.send_slice(&buf[..n]);
            }
        }
    }
    if !c.closing && c.accepted && !s.may_recv() && !s.can_recv() {
        s.close();
        c.closing = true;
    }
}

pub fn run(a: &SinkArgs, t: &TcpSinkArgs) -> Result<TcpSinkSummary, String> {
    let stop = stop_on_signals()?;
    let (addr, prefix) = match &t.addr {
        Some(s) => tcp_dev::parse_cidr(s).ok_or(format!("--addr {s}: not an IPv4 CIDR"))?,
        None => tcp_dev::dev_cidr(&a.dev)?,
    };
    let gw = match t.gateway {
        Some(g) => Some(v4(g, "--gateway")?),
        None => tcp_dev::default_gateway(&a.dev)?,
    };
    let (mut dev, mac) = XdpDevice::open(&a.dev)?;
    let mut iface = tcp_dev::interface(&mut dev, mac, addr, prefix, gw)?;
    let pool = t.listeners as usize;
    let mut sockets = SocketSet::new(Vec::with_capacity(2 * pool));
    let mut conns: Vec<Conn> = Vec::with_capacity(2 * pool);
    let mut sum = TcpSinkSummary {
        tool: "sink-tcp",
        dev: a.dev.clone(),
        native_xdp: dev.native,
        zerocopy: dev.zerocopy,
        addr: format!("{addr}/{prefix}"),
        port: t.port,
        duration_s: 0.0,
        accepted: 0,
        completed: 0,
        bytes_verified: 0,
        verify_mismatch: 0,
        reset: 0,
        open_at_end: 0,
        tx_dropped: 0,
    };
    let mut listening = 0usize;
    println!(
        "sink: TCP echo on {addr}:{} on {} queue 0 ({} XDP, {}), {pool} listeners, for {} s",
        t.port,
        a.dev,
        if dev.native { "native" } else { "generic" },
        if dev.zerocopy { "zero-copy" } else { "copy" },
        a.duration_s
    );
    let _ = std::io::Write::flush(&mut std::io::stdout());
    let start = Instant::now();
    let end = start + Duration::from_secs_f64(a.duration_s);
    let mut next_line = start + Duration::from_secs(1);
    let mut last_acc = 0u64;
    while Instant::now() < end && !stop.load(Relaxed) {
        while listening < pool {
            conns.push(Conn {
                h: sockets.add(listener(t.port)?),
                accepted: false,
                check: Verifier::learn(),
                closing: false,
            });
            listening += 1;
        }
        iface.poll(tcp_dev::now(), &mut dev, &mut sockets);
        dev.flush();
        let mut i = 0;
        while i < conns.len() {
            let c = &mut conns[i];
            let s = sockets.get_mut::<Socket>(c.h);
            let st = s.state();
            if !c.accepted && !matches!(st, State::Listen | State::SynReceived) {
                c.accepted = true;
                listening -= 1;
                sum.accepted += 1;
            }
            if c.accepted {
                echo(c, s);
            }
            let done = match st {
                _ if !c.check.ok => {
                    s.abort();
                    sum.verify_mismatch += 1;
                    true
                }
                State::Closed | State::TimeWait if c.accepted && c.closing => {
                    sum.completed += 1;
                    sum.bytes_verified += c.check.pos;
                    true
                }
                State::Closed if c.accepted => {
                    sum.reset += 1;
                    true
                }
                _ => false,
            };
            if done {
                sockets.remove(c.h);
                conns.swap_remove(i);
            } else {
                i += 1;
            }
        }
        iface.poll(tcp_dev::now(), &mut dev, &mut sockets);
        dev.flush();
        let now = Instant::now();
        if now >= next_line {
            next_line += Duration::from_secs(1);
            println!(
                "sink-tcp {:6.1}s  accepted {:>7}/s  completed {}  mismatch {}  reset {}  open {}",
                (now - start).as_secs_f64(),
                sum.accepted - last_acc,
                sum.completed,
                sum.verify_mismatch,
                sum.reset,
                conns.len() - listening
            );
            last_acc = sum.accepted;
        }
        let wait = iface
            .poll_delay(tcp_dev::now(), &sockets)
            .map(|d| d.total_millis() as i32)
            .unwrap_or(10)
            .min(10);
        tcp_dev::idle(&dev, wait);
    }
    sum.open_at_end = (conns.len() - listening) as u64;
    sum.duration_s = start.elapsed().as_secs_f64();
    sum.tx_dropped = dev.tx_dropped;
    Ok(sum)
}

pub fn print(s: &TcpSinkSummary) {
    println!(
        "sink-tcp: {} accepted, {} completed ({} B verified and echoed), {} verify mismatch, \
         {} reset, {} open at the end, in {:.2} s",
        s.accepted,
        s.completed,
        s.bytes_verified,
        s.verify_mismatch,
        s.reset,
        s.open_at_end,
        s.duration_s
    );
}

pub fn main(a: &SinkArgs, t: &TcpSinkArgs) -> Result<(), String> {
    let s = run(a, t)?;
    print(&s);
    if let Some(p) = &a.json {
        write_json(p, &s)?;
    }
    Ok(())
}
