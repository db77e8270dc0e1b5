//! The command lines of `sluice-bench gen` and `sluice-bench sink`. A
//! usage error is one line on stderr and exit status 2 (the caller's job);
//! runtime errors (interface missing, no root) exit 1.

use std::net::IpAddr;
use std::path::PathBuf;

use ipnet::IpNet;

use super::template::{min_size, Proto};
use super::MAX_DURATION_S;
use crate::frames::{parse_mac, MacAddr};

pub const GEN_USAGE: &str = "\
usage: sluice-bench gen --dev IF [--queues N] (--pps N | --max) --flows N
                        (--size N | --imix) --duration SECS
                        [--src-mac M] [--dst-mac M] [--src CIDR] [--dst IP]
                        [--proto udp|tcp-syn|icmp] [--dst-port N]
                        [--engine xsk|live] [--first-core N] [--json FILE]

Sends stateless traffic on AF_XDP (or with --engine live through the
kernel's XDP live frames), one pinned worker (own UMEM or own XDP program)
per queue 0..N-1 of IF, until --duration (at most 3600 s) or Ctrl-C.

  --dev IF          interface (root, up, no foreign XDP program)
  --queues N        workers / queues, default 1
  --pps N           total frames per second, paced per batch
  --max             as fast as the TX rings take them
  --flows N         flows (1..262144): source address i mod A of --src, source
                    port 1024 + i div A; round robin over the flows
  --size N          frame size with FCS, 64..1796 (and MTU + 18): 64 = 60 bytes
                    sent; the smallest depends on --proto and the family
  --imix            the classic 7:4:1 mix of 64, 570 and 1518-byte frames
  --proto P         udp (default), tcp-syn, icmp (echo request)
  --src CIDR        source addresses, default IF's first address of --dst's family
  --dst IP          destination (IPv4 or IPv6, choosing the family),
                    default 198.19.0.1 (RFC 2544 benchmark range)
  --dst-port N      UDP/TCP destination port, default 9
  --src-mac M       default IF's MAC
  --dst-mac M       default: the neighbour table entry of --dst on IF
                    (resolved by the kernel if missing)
  --engine E        xsk (default): AF_XDP sockets, any rate, any size.
                    live: the kernel's XDP live-frames test run (Linux 5.18+)
                    sends each frame through the driver's XDP transmit, no skb:
                    several times faster where AF_XDP runs in copy mode (veth,
                    virtual NICs). --max and --size only; the driver must
                    support XDP transmit (a veth's peer needs an XDP program or
                    GRO on, which gen checks with a probe); `sent` counts frames
                    handed to XDP_TX, the driver's xdp_xmit counters beside it
  --first-core N    worker w is pinned to allowed core (N + w) mod cores, default 0
  --json FILE       write the summary as JSON

Every frame carries an 18-byte mark after its transport header: magic, flow,
32-bit sequence number and CLOCK_MONOTONIC ns (for `sluice-bench sink` on the
same host). Checksums are complete (updated incrementally per frame).
Prints a progress line each second and a summary at the end.

Stateful mode (real TCP with smoltcp; IPv4; one worker on queue 0):
       sluice-bench gen --dev IF --tcp-conns N --conn-rate R --bytes B
                        --dst IP --duration SECS [--dst-port N] [--src CIDR]
                        [--concurrency N] [--conn-timeout SECS]
                        [--gateway IP] [--src-mac M] [--json FILE]

  --tcp-conns N     connections to open (1..64512), source ports 1024 + i
                    from one address: --src's, default IF's first IPv4
                    address (smoltcp answers ARP for it)
  --conn-rate R     connections opened per second at most
  --bytes B         each connection sends B bytes of a pattern of its own
                    number, reads the echo back and checks every byte, then
                    closes (FIN both ways)
  --concurrency N   connections in flight at most, default 1024
  --conn-timeout S  not complete S seconds after its SYN: failed (timeout),
                    default 10
  --gateway IP      next hop for off-link --dst, default the kernel's
                    default route on IF
  --dst-port N      default 7
Each second: set-ups/s, completed, failed, in flight. The summary counts
completed and failed (timeout, reset, verify mismatch, unfinished) and the
handshake latency percentiles; exit 1 unless every connection completed.
";

pub const SINK_USAGE: &str = "\
usage: sluice-bench sink --dev IF --duration SECS [--queues N]
                         [--flow-table N] [--first-core N] [--json FILE]

Receives on AF_XDP on queues 0..N-1 of IF (one pinned worker each) until
--duration (at most 3600 s) or Ctrl-C; counts frames and bytes, per-flow
loss, duplicates and reordering from gen's sequence numbers, one-way latency
from gen's timestamps (same host: both CLOCK_MONOTONIC) into an hdrhistogram
merged across workers. Frames without gen's mark are counted as foreign.

  --flow-table N    flow indexes tracked, default 262144; frames of higher
                    indexes are counted in over_capacity
  --first-core N    worker w is pinned to allowed core (N + w) mod cores, default 0
  --json FILE       write the summary as JSON

TCP echo server for gen's stateful mode (smoltcp; IPv4; one worker, queue 0):
       sluice-bench sink --dev IF --duration SECS --tcp-listen PORT
                         [--addr CIDR] [--listeners N] [--gateway IP]

  --tcp-listen PORT echo every connection's bytes back, checking them
                    against gen's pattern (its first 8 bytes name the
                    connection); close after the client has
  --addr CIDR       the server's address, default IF's first IPv4 address
                    (smoltcp answers ARP for it)
  --listeners N     listening sockets kept armed (smoltcp takes one per
                    connection being set up), default 1024
  --gateway IP      next hop for off-link clients, default the kernel's
                    default route on IF
";

/// The largest `--size`: a 2048-byte UMEM chunk less the 256-byte
/// headroom, plus the FCS.
pub const MAX_SIZE: usize = 2048 - 256 + 4;

/// The most flows.
pub const MAX_FLOWS: u32 = 1 << 18;

/// Frame sizes of the IMIX (with FCS), and the 12-slot order of the
/// 7:4:1 mix: indexes into [`IMIX_SIZES`].
pub const IMIX_SIZES: [usize; 3] = [64, 570, 1518];
pub const IMIX_ORDER: [usize; 12] = [0, 1, 0, 0, 1, 0, 2, 0, 1, 0, 0, 1];

/// How `gen` sends (`--engine`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Engine {
    /// AF_XDP sockets.
    Xsk,
    /// `BPF_PROG_RUN` with XDP live frames.
    Live,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Size {
    Fixed(usize),
    Imix,
}

#[derive(Debug, Clone)]
pub struct GenArgs {
    pub dev: String,
    pub queues: u32,
    /// `None`: `--max`.
    pub pps: Option<u64>,
    pub flows: u32,
    pub size: Size,
    pub duration_s: f64,
    pub proto: Proto,
    pub src: Option<IpNet>,
    pub dst: IpAddr,
    pub dst_port: u16,
    pub src_mac: Option<MacAddr>,
    pub dst_mac: Option<MacAddr>,
    pub first_core: usize,
    pub json: Option<PathBuf>,
    pub engine: Engine,
    /// The stateful mode (`--tcp-conns`): the other options above keep
    /// their defaults and are not used.
    pub tcp: Option<TcpGenArgs>,
}

/// `gen --tcp-conns N ...`: real TCP connections with smoltcp.
#[derive(Debug, Clone, PartialEq)]
pub struct TcpGenArgs {
    pub conns: u32,
    /// Connections opened per second at most.
    pub rate: u64,
    /// Bytes each connection sends (and gets back).
    pub bytes: u64,
    pub concurrency: u32,
    /// A connection not completed this long after its SYN fails (timeout).
    pub conn_timeout_s: f64,
    pub gateway: Option<IpAddr>,
}

/// `sink --tcp-listen PORT ...`: the smoltcp echo server.
#[derive(Debug, Clone, PartialEq)]
pub struct TcpSinkArgs {
    pub port: u16,
    pub addr: Option<String>,
    pub listeners: u32,
    pub gateway: Option<IpAddr>,
}

#[derive(Debug, Clone)]
pub struct SinkArgs {
    pub dev: String,
    pub queues: u32,
    pub duration_s: f64,
    pub flow_table: usize,
    pub first_core: usize,
    pub json: Option<PathBuf>,
    pub tcp: Option<TcpSinkArgs>,
}

/// `--name value` / `--name=value` pairs and bare flags, in order.
struct Opts {
    items: Vec<(String, Option<String>)>,
}

impl Opts {
    fn parse(args: &[String], flags: &[&str], valued: &[&str]) -> Result<Opts, String> {
        let mut items = Vec::new();
        let mut it = args.iter();
        while let Some(a) = it.next() {
            let (name, inline) = match a.split_once('=') {
                Some((n, v)) if n.starts_with("--") => (n, Some(v.to_string())),
                _ => (a.as_str(), None),
            };
            if flags.contains(&name) {
                if inline.is_some() {
                    return Err(format!("{name} takes no value"));
                }
                items.push((name.to_string(), None));
            } else if valued.contains(&name) {
                let v = match inline {
                    Some(v) => v,
                    None => it.next().cloned().ok_or(format!("{name} needs a value"))?,
                };
                items.push((name.to_string(), Some(v)));
            } else if name.starts_with('-') {
                return Err(format!("unknown option {name}"));
            } else {
                return Err(format!("unexpected argument {name:?}"));
            }
        }
        let mut seen: Vec<&str> = Vec::new();
        for (n, _) in &items {
            if seen.contains(&n.as_str()) {
                return Err(format!("{n} given twice"));
            }
            seen.push(n);
        }
        Ok(Opts { items })
    }

    fn has(&self, name: &str) -> bool {
        self.items.iter().any(|(n, _)| n == name)
    }

    fn get(&self, name: &str) -> Option<&str> {
        self.items
            .iter()
            .find(|(n, _)| n == name)
            .and_then(|(_, v)| v.as_deref())
    }

    fn num<T: std::str::FromStr>(&self, name: &str) -> Result<Option<T>, String> {
        self.get(name)
            .map(|v| v.parse().map_err(|_| format!("{name} {v:?}: not a number")))
            .transpose()
    }

    fn need(&self, name: &str) -> Result<&str, String> {
        self.get(name).ok_or(format!("{name} is required"))
    }
}

fn duration(o: &Opts) -> Result<f64, String> {
    let d: f64 = o.num("--duration")?.ok_or("--duration SECS is required")?;
    if !(d > 0.0 && d <= MAX_DURATION_S) {
        return Err(format!(
            "--duration {d}: must be in (0, {MAX_DURATION_S}] seconds"
        ));
    }
    Ok(d)
}

fn queues(o: &Opts) -> Result<u32, String> {
    let q = o.num("--queues")?.unwrap_or(1u32);
    if !(1..=64).contains(&q) {
        return Err(format!("--queues {q}: must be 1..64"));
    }
    Ok(q)
}

fn mac(o: &Opts, name: &str) -> Result<Option<MacAddr>, String> {
    o.get(name)
        .map(|m| parse_mac(m).map_err(|e| format!("{name} {m}: {e}")))
        .transpose()
}

/// Parses the arguments after `gen`; `Ok(None)` for `--help`.
pub fn parse_gen(args: &[String]) -> Result<Option<GenArgs>, String> {
    if args.iter().any(|a| a == "--help" || a == "-h") {
        return Ok(None);
    }
    let o = Opts::parse(
        args,
        &["--max", "--imix"],
        &[
            "--dev",
            "--queues",
            "--pps",
            "--flows",
            "--size",
            "--duration",
            "--src-mac",
            "--dst-mac",
            "--src",
            "--dst",
            "--proto",
            "--dst-port",
            "--first-core",
            "--json",
            "--tcp-conns",
            "--conn-rate",
            "--bytes",
            "--concurrency",
            "--conn-timeout",
            "--gateway",
            "--engine",
        ],
    )?;
    let dev = o.need("--dev")?.to_string();
    if o.has("--tcp-conns") {
        return tcp_gen(&o, dev).map(Some);
    }
    for n in [
        "--conn-rate",
        "--bytes",
        "--concurrency",
        "--conn-timeout",
        "--gateway",
    ] {
        if o.has(n) {
            return Err(format!(
                "{n} belongs to the stateful mode: give --tcp-conns N"
            ));
        }
    }
    let pps = match (o.num::<u64>("--pps")?, o.has("--max")) {
        (Some(_), true) => return Err("--pps and --max exclude each other".into()),
        (None, false) => return Err("one of --pps N or --max is required".into()),
        (Some(0), _) => return Err("--pps 0: must be at least 1".into()),
        (p, _) => p,
    };
    let flows: u32 = o.num("--flows")?.ok_or("--flows N is required")?;
    if !(1..=MAX_FLOWS).contains(&flows) {
        return Err(format!("--flows {flows}: must be 1..{MAX_FLOWS}"));
    }
    let proto = match o.get("--proto") {
        None => Proto::Udp,
        Some(p) => Proto::parse(p).ok_or(format!("--proto {p}: one of udp, tcp-syn, icmp"))?,
    };
    let dst: IpAddr = match o.get("--dst") {
        None => "198.19.0.1"
            .parse()
            .map_err(|_| "unreachable".to_string())?,
        Some(d) => d
            .parse()
            .map_err(|_| format!("--dst {d}: not an IP address"))?,
    };
    let src: Option<IpNet> = o
        .get("--src")
        .map(|s| {
            s.parse::<IpNet>()
                .or_else(|_| s.parse::<IpAddr>().map(IpNet::from))
                .map_err(|_| format!("--src {s}: not a CIDR prefix"))
        })
        .transpose()?;
    if let Some(s) = src {
        if s.addr().is_ipv6() != dst.is_ipv6() {
            return Err(format!(
                "--src {s} and --dst {dst} are of different families"
            ));
        }
    }
    let min = min_size(proto, dst.is_ipv6());
    let size = match (o.num::<usize>("--size")?, o.has("--imix")) {
        (Some(_), true) => return Err("--size and --imix exclude each other".into()),
        (None, false) => return Err("one of --size N or --imix is required".into()),
        (Some(n), _) if n < min => {
            return Err(format!(
                "--size {n}: at least {min} for {} over IPv{} (headers + 18-byte mark + FCS)",
                proto.name(),
                if dst.is_ipv6() { 6 } else { 4 }
            ))
        }
        (Some(n), _) if n > MAX_SIZE => {
            return Err(format!(
                "--size {n}: at most {MAX_SIZE} (a 2048-byte UMEM chunk less headroom; \
                 jumbo frames need AF_XDP multi-buffer, not supported yet)"
            ))
        }
        (Some(n), _) => Size::Fixed(n),
        (None, true) if min > IMIX_SIZES[0] => {
            return Err(format!(
                "--imix: its 64-byte frames cannot carry {} over IPv6 (min {min})",
                proto.name()
            ))
        }
        (None, true) => Size::Imix,
    };
    let engine = match o.get("--engine") {
        None | Some("xsk") => Engine::Xsk,
        Some("live") => Engine::Live,
        Some(e) => return Err(format!("--engine {e}: one of xsk, live")),
    };
    if engine == Engine::Live {
        if pps.is_some() {
            return Err("--engine live sends flat out only: give --max, not --pps".into());
        }
        if size == Size::Imix {
            return Err("--engine live sends one frame size: give --size, not --imix".into());
        }
    }
    Ok(Some(GenArgs {
        dev,
        queues: queues(&o)?,
        pps,
        flows,
        size,
        duration_s: duration(&o)?,
        proto,
        src,
        dst,
        dst_port: o.num("--dst-port")?.unwrap_or(9),
        src_mac: mac(&o, "--src-mac")?,
        dst_mac: mac(&o, "--dst-mac")?,
        first_core: o.num("--first-core")?.unwrap_or(0),
        json: o.get("--json").map(PathBuf::from),
        engine,
        tcp: None,
    }))
}

/// The most `--tcp-conns`: one source address, ports 1024..65535, each
/// used once (a reused port could meet a NAT entry still in TIME_WAIT).
pub const MAX_TCP_CONNS: u32 = 65535 - 1024 + 1;

fn gateway(o: &Opts) -> Result<Option<IpAddr>, String> {
    o.get("--gateway")
        .map(|g| {
            g.parse::<std::net::Ipv4Addr>()
                .map(IpAddr::V4)
                .map_err(|_| format!("--gateway {g}: not an IPv4 address"))
        })
        .transpose()
}

fn tcp_gen(o: &Opts, dev: String) -> Result<GenArgs, String> {
    for n in [
        "--pps", "--max", "--flows", "--size", "--imix", "--proto", "--queues", "--engine",
    ] {
        if o.has(n) {
            return Err(format!(
                "{n} is for the stateless mode, not with --tcp-conns"
            ));
        }
    }
    let conns: u32 = o.num("--tcp-conns")?.unwrap_or(0);
    if !(1..=MAX_TCP_CONNS).contains(&conns) {
        return Err(format!("--tcp-conns {conns}: must be 1..{MAX_TCP_CONNS}"));
    }
    let rate: u64 = o
        .num("--conn-rate")?
        .ok_or("--conn-rate R is required with --tcp-conns")?;
    if rate == 0 {
        return Err("--conn-rate 0: must be at least 1".into());
    }
    let bytes: u64 = o
        .num("--bytes")?
        .ok_or("--bytes B is required with --tcp-conns")?;
    if bytes > 1 << 30 {
        return Err(format!("--bytes {bytes}: at most 1073741824"));
    }
    let concurrency: u32 = o.num("--concurrency")?.unwrap_or(1024);
    if !(1..=65536).contains(&concurrency) {
        return Err(format!("--concurrency {concurrency}: must be 1..65536"));
    }
    let conn_timeout_s: f64 = o.num("--conn-timeout")?.unwrap_or(10.0);
    if !(conn_timeout_s > 0.0 && conn_timeout_s <= MAX_DURATION_S) {
        return Err(format!(
            "--conn-timeout {conn_timeout_s}: must be in (0, 3600] s"
        ));
    }
    let dst: IpAddr = match o.get("--dst") {
        None => return Err("--dst IP is required with --tcp-conns".into()),
        Some(d) => d
            .parse::<std::net::Ipv4Addr>()
            .map(IpAddr::V4)
            .map_err(|_| format!("--dst {d}: not an IPv4 address (the TCP mode is IPv4 only)"))?,
    };
    let src: Option<IpNet> = o
        .get("--src")
        .map(|s| {
            s.parse::<ipnet::Ipv4Net>()
                .or_else(|_| s.parse::<std::net::Ipv4Addr>().map(ipnet::Ipv4Net::from))
                .map(IpNet::V4)
                .map_err(|_| format!("--src {s}: not an IPv4 CIDR prefix"))
        })
        .transpose()?;
    Ok(GenArgs {
        dev,
        queues: 1,
        pps: None,
        flows: 1,
        size: Size::Fixed(64),
        duration_s: duration(o)?,
        proto: Proto::Udp,
        src,
        dst,
        dst_port: o.num("--dst-port")?.unwrap_or(7),
        src_mac: mac(o, "--src-mac")?,
        dst_mac: mac(o, "--dst-mac")?,
        first_core: o.num("--first-core")?.unwrap_or(0),
        json: o.get("--json").map(PathBuf::from),
        engine: Engine::Xsk,
        tcp: Some(TcpGenArgs {
            conns,
            rate,
            bytes,
            concurrency,
            conn_timeout_s,
            gateway: gateway(o)?,
        }),
    })
}

/// Parses the arguments after `sink`; `Ok(None)` for `--help`.
pub fn parse_sink(args: &[String]) -> Result<Option<SinkArgs>, String> {
    if args.iter().any(|a| a == "--help" || a == "-h") {
        return Ok(None);
    }
    let o = Opts::parse(
        args,
        &[],
        &[
            "--dev",
            "--queues",
            "--duration",
            "--flow-table",
            "--first-core",
            "--json",
            "--tcp-listen",
            "--addr",
            "--listeners",
            "--gateway",
        ],
    )?;
    let tcp = match o.num::<u16>("--tcp-listen")? {
        None => {
            for n in ["--addr", "--listeners", "--gateway"] {
                if o.has(n) {
                    return Err(format!(
                        "{n} belongs to the TCP server: give --tcp-listen PORT"
                    ));
                }
            }
            None
        }
        Some(0) => return Err("--tcp-listen 0: give a port 1..65535".into()),
        Some(port) => {
            if o.has("--queues") {
                return Err("--queues: the TCP server runs one worker on queue 0".into());
            }
            let listeners: u32 = o.num("--listeners")?.unwrap_or(1024);
            if !(1..=65536).contains(&listeners) {
                return Err(format!("--listeners {listeners}: must be 1..65536"));
            }
            Some(TcpSinkArgs {
                port,
                addr: o.get("--addr").map(String::from),
                listeners,
                gateway: gateway(&o)?,
            })
        }
    };
    let flow_table = o.num("--flow-table")?.unwrap_or(MAX_FLOWS as usize);
    if !(1..=1 << 24).contains(&flow_table) {
        return Err(format!("--flow-table {flow_table}: must be 1..16777216"));
    }
    Ok(Some(SinkArgs {
        dev: o.need("--dev")?.to_string(),
        queues: queues(&o)?,
        duration_s: duration(&o)?,
        flow_table,
        first_core: o.num("--first-core")?.unwrap_or(0),
        json: o.get("--json").map(PathBuf::from),
        tcp,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn gen(s: &str) -> Result<Option<GenArgs>, String> {
        parse_gen(&s.split_whitespace().map(String::from).collect::<Vec<_>>())
    }

    #[test]
    fn the_contract_line_parses() {
        let a = gen(
            "--dev v0 --queues 2 --pps 20000 --flows 16 --size 64 --duration 2 \
                     --src-mac 02:00:00:00:00:01 --dst-mac 02:00:00:00:00:02 \
                     --src 10.0.0.0/24 --dst 10.1.0.1 --json /tmp/x.json",
        )
        .unwrap()
        .unwrap();
        assert_eq!(
            (a.queues, a.pps, a.flows, a.size.clone()),
            (2, Some(20000), 16, Size::Fixed(64))
        );
        assert_eq!(a.duration_s, 2.0);
        let a = gen("--dev=v0 --max --flows 1 --imix --duration 1 --proto icmp")
            .unwrap()
            .unwrap();
        assert_eq!((a.pps, a.size, a.proto), (None, Size::Imix, Proto::Icmp));
        assert_eq!(a.engine, Engine::Xsk);
        let a = gen("--dev v0 --max --flows 8 --size 64 --duration 1 --engine live")
            .unwrap()
            .unwrap();
        assert_eq!((a.engine, a.pps), (Engine::Live, None));
    }

    #[test]
    fn bad_lines_are_one_line_errors() {
        for (line, want) in [
            ("--pps 1 --flows 1 --size 64 --duration 1", "--dev"),
            (
                "--dev v0 --pps 1 --max --flows 1 --size 64 --duration 1",
                "exclude",
            ),
            (
                "--dev v0 --pps 1 --flows 1 --size 10 --duration 1",
                "--size 10",
            ),
            (
                "--dev v0 --pps 1 --flows 1 --size 64 --duration 4000",
                "--duration",
            ),
            ("--dev v0 --pps 1 --flows 1 --size 64", "--duration"),
            (
                "--dev v0 --pps 1 --flows 1 --size 9000 --duration 1",
                "multi-buffer",
            ),
            (
                "--dev v0 --pps 1 --flows 1 --size 64 --duration 1 --dst fd00::1",
                "IPv6",
            ),
            (
                "--dev v0 --pps 1 --flows 1 --size 64 --duration 1 --bogus",
                "unknown option",
            ),
            (
                "--dev v0 --pps 1 --flows 1 --size 64 --duration 1 --src fd00::/64",
                "families",
            ),
            (
                "--dev v0 --pps 5 --flows 1 --size 64 --duration 1 --engine live",
                "--engine live sends flat out only",
            ),
            (
                "--dev v0 --max --flows 1 --imix --duration 1 --engine live",
                "one frame size",
            ),
            (
                "--dev v0 --max --flows 1 --size 64 --duration 1 --engine dpdk",
                "--engine dpdk: one of xsk, live",
            ),
            (
                "--dev v0 --tcp-conns 5 --conn-rate 5 --bytes 5 --dst 10.0.0.1 --duration 1 \
                 --engine live",
                "--engine is for the stateless mode",
            ),
        ] {
            let e = gen(line).unwrap_err();
            assert!(e.contains(want) && !e.contains('\n'), "{line}: {e}");
        }
    }

    #[test]
    fn sink_line_parses() {
        let a =
            parse_sink(&["--dev", "v1", "--duration", "3", "--json", "s.json"].map(String::from))
                .unwrap()
                .unwrap();
        assert_eq!(
            (a.dev.as_str(), a.queues, a.flow_table),
            ("v1", 1, MAX_FLOWS as usize)
        );
        assert!(parse_sink(&["--dev".to_string(), "v1".to_string()]).is_err());
    }

    #[test]
    fn the_stateful_lines_parse_and_stay_apart() {
        let a = gen(
            "--dev v0 --tcp-conns 10000 --conn-rate 500 --bytes 1000 --dst 10.0.2.2 \
                     --duration 60 --concurrency 256",
        )
        .unwrap()
        .unwrap();
        let t = a.tcp.unwrap();
        assert_eq!(
            (t.conns, t.rate, t.bytes, t.concurrency),
            (10000, 500, 1000, 256)
        );
        assert_eq!((a.dst_port, t.conn_timeout_s, t.gateway), (7, 10.0, None));
        for (line, want) in [
            ("--dev v0 --tcp-conns 10 --conn-rate 5 --bytes 1 --duration 1", "--dst"),
            ("--dev v0 --tcp-conns 10 --bytes 1 --dst 10.0.0.1 --duration 1", "--conn-rate"),
            ("--dev v0 --tcp-conns 70000 --conn-rate 5 --bytes 1 --dst 10.0.0.1 --duration 1", "64512"),
            ("--dev v0 --tcp-conns 10 --conn-rate 5 --bytes 1 --dst fd00::1 --duration 1", "IPv4"),
            ("--dev v0 --tcp-conns 10 --conn-rate 5 --bytes 1 --dst 10.0.0.1 --duration 1 --pps 5", "stateless"),
            ("--dev v0 --pps 1 --flows 1 --size 64 --duration 1 --conn-rate 5", "--tcp-conns"),
        ] {
            let e = gen(line).unwrap_err();
            assert!(e.contains(want) && !e.contains('\n'), "{line}: {e}");
        }
        let s = |l: &str| parse_sink(&l.split_whitespace().map(String::from).collect::<Vec<_>>());
        let t = s("--dev v1 --duration 3 --tcp-listen 7 --addr 10.0.2.2/24")
            .unwrap()
            .unwrap();
        assert_eq!(t.tcp.unwrap().listeners, 1024);
        assert!(s("--dev v1 --duration 3 --listeners 5")
            .unwrap_err()
            .contains("--tcp-listen"));
        assert!(s("--dev v1 --duration 3 --tcp-listen 0").is_err());
    }

    #[test]
    fn imix_is_seven_four_one() {
        let count = |k| IMIX_ORDER.iter().filter(|&&c| c == k).count();
        assert_eq!((count(0), count(1), count(2)), (7, 4, 1));
    }
}
