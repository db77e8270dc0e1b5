//! `sluice-probe`: sends crafted Ethernet frames into interfaces and
//! captures what comes back, over AF_PACKET. The injection/capture tool of
//! the kernel differential tests (`sluice_bench::kernel`), usable by hand.
//!
//! ```text
//! sluice-probe send IFACE HEXFILE     send each line of HEXFILE ('-': stdin) as a frame
//! sluice-probe capture IFACE MILLIS   print every frame arriving on IFACE as a hex line
//!                                     for MILLIS ms ("ready" on stderr once listening)
//! sluice-probe run                    a probe script on stdin (below)
//! ```
//!
//! `send` and `capture` work in the namespace they are started in (`ip
//! netns exec NS sluice-probe ...`). `run` opens a socket on every port of a
//! topology first — entering each port's namespace with setns(2), so one
//! process listens on all of them — and then sends the probes one at a
//! time, listening on every port for `settle` ms after each:
//!
//! ```text
//! port NAME NETNS_PATH IFACE    a port: the interface IFACE in /run/netns/...
//! settle MILLIS                 listening time after each frame (default 100)
//! frame NAME HEX                a probe, sent on port NAME's interface
//! ```
//!
//! and prints `frame INDEX NAME HEX` for every frame that arrived on port
//! NAME while probe INDEX (0-based, in script order) was the last one sent,
//! then `done`. Frames the interfaces transmit (the probes themselves,
//! anything the namespaces' own stacks send) are not reported. Errors go to
//! stderr with exit status 1.

use std::io::{BufRead, Read as _, Write as _};
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::{Duration, Instant};

use sluice_bench::afpacket::{enter_netns, wait_readable, PacketSocket};
use sluice_bench::frames::{hex, unhex};

const USAGE: &str = "usage: sluice-probe send IFACE HEXFILE | capture IFACE MILLIS | run < SCRIPT";

/// The longest listening time `run` accepts after one frame.
const MAX_SETTLE_MS: u64 = 10_000;

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let argv: Vec<&str> = args.iter().map(String::as_str).collect();
    let result = match argv.as_slice() {
        ["send", iface, file] => cmd_send(iface, file),
        ["capture", iface, ms] => cmd_capture(iface, ms),
        ["run"] => cmd_run(),
        _ => Err(USAGE.to_string()),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("sluice-probe: {e}");
            ExitCode::FAILURE
        }
    }
}

fn cmd_send(iface: &str, file: &str) -> Result<(), String> {
    let text = if file == "-" {
        let mut s = String::new();
        std::io::stdin()
            .read_to_string(&mut s)
            .map_err(|e| format!("stdin: {e}"))?;
        s
    } else {
        std::fs::read_to_string(file).map_err(|e| format!("{file}: {e}"))?
    };
    let sock = PacketSocket::open(iface)?;
    for (n, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let frame = unhex(line).map_err(|e| format!("{file}:{}: {e}", n + 1))?;
        sock.send(&frame)?;
    }
    Ok(())
}

fn cmd_capture(iface: &str, ms: &str) -> Result<(), String> {
    let ms: u64 = ms
        .parse()
        .map_err(|_| format!("not a number of milliseconds: {ms:?}"))?;
    let sock = [PacketSocket::open(iface)?];
    eprintln!("ready");
    let deadline = Instant::now() + Duration::from_millis(ms);
    let mut buf = vec![0u8; 65536];
    let stdout = std::io::stdout();
    let mut out = stdout.lock();
    loop {
        while let Some(n) = sock[0].try_recv(&mut buf)? {
            writeln!(out, "{}", hex(&buf[..n])).map_err(|e| format!("stdout: {e}"))?;
            out.flush().map_err(|e| format!("stdout: {e}"))?;
        }
        let now = Instant::now();
        if now >= deadline {
            return Ok(());
        }
        wait_readable(&sock, deadline - now)?;
    }
}

/// A parsed `run` script.
struct Script {
    /// (name, namespace path, interface).
    ports: Vec<(String, PathBuf, String)>,
    settle: Duration,
    /// (port index, frame).
    frames: Vec<(usize, Vec<u8>)>,
}

fn parse_script(text: &str) -> Result<Script, String> {
    let mut script = Script {
        ports: Vec::new(),
        settle: Duration::from_millis(100),
        frames: Vec::new(),
    };
    for (n, line) in text.lines().enumerate() {
        let at = |e: String| format!("script line {}: {e}", n + 1);
        let words: Vec<&str> = line.split_whitespace().collect();
        match words.as_slice() {
            [] => {}
            [w, ..] if w.starts_with('#') => {}
            ["port", name, ns, iface] => {
                if script.ports.iter().any(|p| p.0 == *name) {
                    return Err(at(format!("port {name} given twice")));
                }
                script
                    .ports
                    .push((name.to_string(), PathBuf::from(ns), iface.to_string()));
            }
            ["settle", ms] => {
                let ms: u64 = ms
                    .parse()
                    .ok()
                    .filter(|&ms| ms <= MAX_SETTLE_MS)
                    .ok_or_else(|| at(format!("settle must be 0..={MAX_SETTLE_MS} ms")))?;
                script.settle = Duration::from_millis(ms);
            }
            ["frame", port, hexbytes] => {
                let index = script
                    .ports
                    .iter()
                    .position(|p| p.0 == *port)
                    .ok_or_else(|| at(format!("frame on undeclared port {port}")))?;
                script.frames.push((index, unhex(hexbytes).map_err(at)?));
            }
            _ => return Err(at(format!("cannot read {line:?}"))),
        }
    }
    Ok(script)
}

fn cmd_run() -> Result<(), String> {
    let mut text = String::new();
    for line in std::io::stdin().lock().lines() {
        text.push_str(&line.map_err(|e| format!("stdin: {e}"))?);
        text.push('\n');
    }
    let script = parse_script(&text)?;
    // One socket per port, each opened inside its port's namespace; the
    // sockets keep their namespaces when this thread moves on.
    let mut sockets = Vec::with_capacity(script.ports.len());
    for (name, ns, iface) in &script.ports {
        enter_netns(ns).map_err(|e| format!("port {name}: {e}"))?;
        sockets.push(PacketSocket::open(iface).map_err(|e| format!("port {name}: {e}"))?);
    }
    let mut buf = vec![0u8; 65536];
    let mut captured: Vec<(usize, usize, Vec<u8>)> = Vec::new();
    for (probe, (port, frame)) in script.frames.iter().enumerate() {
        sockets[*port].send(frame)?;
        let deadline = Instant::now() + script.settle;
        loop {
            for (p, sock) in sockets.iter().enumerate() {
                while let Some(n) = sock.try_recv(&mut buf)? {
                    captured.push((probe, p, buf[..n].to_vec()));
                }
            }
            let now = Instant::now();
            if now >= deadline {
                break;
            }
            wait_readable(&sockets, deadline - now)?;
        }
    }
    let stdout = std::io::stdout();
    let mut out = stdout.lock();
    for (probe, port, frame) in &captured {
        writeln!(
            out,
            "frame {probe} {} {}",
            script.ports[*port].0,
            hex(frame)
        )
        .map_err(|e| format!("stdout: {e}"))?;
    }
    writeln!(out, "done").map_err(|e| format!("stdout: {e}"))?;
    out.flush().map_err(|e| format!("stdout: {e}"))
}
