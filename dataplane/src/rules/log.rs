//! `-j LOG`: what the kernel would print about a packet (`xt_LOG.c`,
//! `nf_log_syslog.c`: `nf_log_ip_packet`, `dump_ipv4_packet`,
//! `nf_log_dump_tcp_header`, `nf_log_dump_udp_header`), captured on the
//! fast path as a fixed-size [`LogRecord`] in a per-worker [`LogRing`], and
//! printed on the control side in the kernel's exact line format.
//!
//! Contract:
//!
//! * The control side compiles each `-j LOG` into a [`LogSpec`] (prefix,
//!   level, flags) and gives every worker a [`LogRing`] of fixed capacity.
//! * The worker calls [`LogRing::log`] for a packet that hits a LOG rule:
//!   it decodes the packet (as the kernel's dump reads it — tolerant of
//!   short and odd headers) into the next free slot. No allocation, no
//!   lock, no syscall, no formatting. When the ring is full the record is
//!   dropped and the `log.ring_full` counter ([`LogRing::ring_full`]) goes
//!   up; the worker never waits.
//! * The control side takes records out ([`LogRing::pop`] / [`LogRing::drain`],
//!   after the worker hands its ring over at a batch boundary) and prints
//!   them with [`LogRecord::line`] (the text after the syslog level, which
//!   is [`LogRecord::level`]).
//!
//! # The line (checked against Linux 6.18 with `dmesg`)
//!
//! ```text
//! <prefix>IN=<in> OUT=<out> MAC=<dst:src:type> SRC=<a> DST=<a> LEN=<n> TOS=0x<TOS> PREC=0x<PREC>
//!   TTL=<n> ID=<n> [CE ][DF ][MF ][FRAG:<off> ][OPT (<hex>) ]PROTO=...
//!   [UID=<u> GID=<g> ][MARK=0x<mark> ]
//! ```
//!
//! (one line; every field ends with a space, so the line does too).
//!
//! * `MAC=` only when there is an input interface; 14 bytes, lowercase,
//!   colon-separated: destination, source, ethertype (the one after any
//!   VLAN tags, as the kernel sees it once the tag is taken off). With
//!   `--log-macdecode`: `MACSRC=<src> MACDST=<dst> MACPROTO=<type, 4 hex> `
//!   (the kernel's `VPROTO=`/`VID=` for a tag still on the packet are not
//!   printed: a tagged frame reaches IPv4 only through its VLAN device,
//!   which removes the tag).
//! * `TOS=` is `tos & 0x1E`, `PREC=` `tos & 0xE0`, both `%02X`; `FRAG:` is
//!   the offset field in 8-byte units; `OPT (...)` (uppercase hex) only with
//!   `--log-ip-options` and a header longer than 20 bytes.
//! * TCP: `PROTO=TCP SPT= DPT= [SEQ= ACK= ]WINDOW= RES=0x%02x <flags> URGP= [OPT (...) ]`,
//!   flags in the order `CWR ECE URG ACK PSH RST SYN FIN`, `RES` the four
//!   reserved bits shifted as the kernel shifts them (`(byte12 & 0x0F) << 2`).
//!   UDP / UDP-Lite: `PROTO=UDP SPT= DPT= LEN= ` (the UDP length field).
//!   ICMP: `PROTO=ICMP TYPE= CODE= ` then `ID= SEQ= ` (echo, echo reply),
//!   `PARAMETER= ` (parameter problem), `GATEWAY= ` (redirect), and for
//!   destination unreachable, source quench, time exceeded and redirect the
//!   quoted packet dumped in `[...] ` (once: an error quoted in an error is
//!   not opened), then `MTU= ` for "fragmentation needed". AH / ESP: `SPI=0x%x `.
//!   Anything else: `PROTO=<number> `.
//! * A non-first fragment prints the protocol name only (nothing at all for
//!   AH). A header too short to read prints `INCOMPLETE [<n> bytes] ` with
//!   `n` the bytes after the IP header (computed in 32-bit unsigned
//!   arithmetic, so a quoted header whose IHL points past the end prints a
//!   huge number, as the kernel does); for TCP and UDP that ends the line
//!   (no `UID=`/`MARK=`). ICMP messages shorter than their type needs (28
//!   bytes for errors, 20 for timestamps, 12 for address masks) print
//!   `TYPE= CODE= INCOMPLETE [...]`. A quoted IP header cut short prints
//!   `TRUNCATED`.
//! * `UID=`/`GID=` only with `--log-uid` and a local socket (the caller
//!   passes its owner, [`LogContext::uid_gid`]; forwarded packets have
//!   none); `MARK=0x%x` only when the mark is not 0.
//!
//! IPv4 only (the config model is `iptables`): other frames are not logged.
//! Bridge fields (`PHYSIN=`, `PHYSOUT=`) never apply to a router.

use std::collections::VecDeque;
use std::fmt::{self, Write as _};
use std::net::Ipv4Addr;

use sluice_config::iptables::ext::t_log::{Log, LogLevel};

use crate::wire::{EtherType, MacAddr, PacketMeta};

/// `XT_LOG_*` flags.
pub mod flags {
    /// `--log-tcp-sequence`.
    pub const TCPSEQ: u8 = 0x01;
    /// `--log-tcp-options`.
    pub const TCPOPT: u8 = 0x02;
    /// `--log-ip-options`.
    pub const IPOPT: u8 = 0x04;
    /// `--log-uid`.
    pub const UID: u8 = 0x08;
    /// `--log-macdecode`.
    pub const MACDECODE: u8 = 0x20;
}

/// Longest prefix the kernel keeps.
pub const PREFIX_MAX: usize = 29;
/// Longest interface name (`IFNAMSIZ - 1`).
pub const IFNAME_MAX: usize = 15;
/// Name of the counter of records dropped because the ring was full.
pub const RING_FULL: &str = "log.ring_full";

/// A short byte string stored inline (prefix, interface name).
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct InlineStr<const N: usize> {
    bytes: [u8; N],
    len: u8,
}

impl<const N: usize> InlineStr<N> {
    pub const EMPTY: InlineStr<N> = InlineStr {
        bytes: [0; N],
        len: 0,
    };

    /// The first `N` bytes of `s`, cut back to a character boundary.
    pub fn new(s: &str) -> InlineStr<N> {
        let mut end = s.len().min(N);
        while !s.is_char_boundary(end) {
            end -= 1;
        }
        let mut bytes = [0; N];
        bytes[..end].copy_from_slice(&s.as_bytes()[..end]);
        InlineStr {
            bytes,
            len: end as u8,
        }
    }

    pub fn as_str(&self) -> &str {
        std::str::from_utf8(&self.bytes[..self.len as usize]).unwrap_or("")
    }
}

impl<const N: usize> fmt::Debug for InlineStr<N> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(self.as_str(), f)
    }
}

/// Up to 40 option bytes (IP or TCP).
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct Options {
    bytes: [u8; 40],
    len: u8,
}

impl Options {
    fn new(b: &[u8]) -> Options {
        let n = b.len().min(40);
        let mut bytes = [0; 40];
        bytes[..n].copy_from_slice(&b[..n]);
        Options {
            bytes,
            len: n as u8,
        }
    }

    pub fn as_bytes(&self) -> &[u8] {
        &self.bytes[..self.len as usize]
    }
}

impl fmt::Debug for Options {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for b in self.as_bytes() {
            write!(f, "{b:02X}")?;
        }
        Ok(())
    }
}

/// A compiled `-j LOG`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LogSpec {
    pub prefix: InlineStr<PREFIX_MAX>,
    pub level: LogLevel,
    /// [`flags`] bits.
    pub flags: u8,
}

impl LogSpec {
    pub fn compile(cfg: &Log) -> LogSpec {
        let mut f = 0;
        for (on, bit) in [
            (cfg.tcp_sequence, flags::TCPSEQ),
            (cfg.tcp_options, flags::TCPOPT),
            (cfg.ip_options, flags::IPOPT),
            (cfg.uid, flags::UID),
            (cfg.macdecode, flags::MACDECODE),
        ] {
            if on {
                f |= bit;
            }
        }
        LogSpec {
            prefix: InlineStr::new(cfg.prefix.as_deref().unwrap_or("")),
            level: cfg.level,
            flags: f,
        }
    }
}

/// Where the packet is, as the hook sees it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct LogContext<'a> {
    /// The input interface (`None` in OUTPUT).
    pub in_iface: Option<&'a str>,
    /// The output interface (`None` before routing).
    pub out_iface: Option<&'a str>,
    /// The packet mark.
    pub mark: u32,
    /// Owner (uid, gid) of the local socket that sent the packet, if any.
    pub uid_gid: Option<(u32, u32)>,
}

/// The Ethernet header as `MAC=` prints it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MacHeader {
    pub dst: MacAddr,
    pub src: MacAddr,
    pub ethertype: u16,
}

/// What a TCP header dump printed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TcpLog {
    pub sport: u16,
    pub dport: u16,
    /// `Some` with `--log-tcp-sequence`: (seq, ack_seq).
    pub seq_ack: Option<(u32, u32)>,
    pub window: u16,
    /// `RES=` value.
    pub res: u8,
    /// The flags byte (CWR .. FIN).
    pub flags: u8,
    pub urgp: u16,
    pub options: TcpOptionsLog,
}

/// The TCP options part.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TcpOptionsLog {
    /// Not asked for, or none.
    None,
    /// `OPT (<hex>) `.
    Logged(Options),
    /// `OPT (TRUNCATED)` — and the dump stops there.
    Truncated,
}

/// What follows `TYPE= CODE= ` in an ICMP dump.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IcmpBody {
    /// Nothing more.
    Plain,
    /// Shorter than the type needs: `INCOMPLETE [n bytes] `.
    Incomplete(u32),
    /// Echo / echo reply: `ID= SEQ= `.
    Echo { id: u16, seq: u16 },
    /// Parameter problem: `PARAMETER= `.
    Parameter(u8),
    /// Destination unreachable, source quench, time exceeded, redirect:
    /// `GATEWAY= ` (redirect), the quoted packet (outer dump only, in
    /// [`LogRecord::inner`]), `MTU= ` (fragmentation needed).
    Error {
        gateway: Option<Ipv4Addr>,
        mtu: Option<u16>,
    },
}

/// What the transport part of a dump printed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum L4Log {
    Tcp(TcpLog),
    /// `PROTO=TCP ` (non-first fragment).
    TcpFragment,
    /// `PROTO=TCP INCOMPLETE [n bytes] ` — the dump stops.
    TcpIncomplete(u32),
    Udp {
        lite: bool,
        sport: u16,
        dport: u16,
        len: u16,
    },
    UdpFragment {
        lite: bool,
    },
    /// `PROTO=UDP INCOMPLETE [n bytes] ` — the dump stops.
    UdpIncomplete {
        lite: bool,
        avail: u32,
    },
    /// `PROTO=ICMP ` (non-first fragment).
    IcmpFragment,
    /// `PROTO=ICMP INCOMPLETE [n bytes] ` (no room for the 8-byte header).
    IcmpIncomplete(u32),
    Icmp {
        ty: u8,
        code: u8,
        body: IcmpBody,
    },
    /// Nothing (an AH non-first fragment).
    AhFragment,
    AhIncomplete(u32),
    Ah {
        spi: u32,
    },
    EspFragment,
    EspIncomplete(u32),
    Esp {
        spi: u32,
    },
    /// `PROTO=<n> `.
    Other(u8),
}

/// The IP options part.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IpOptionsLog {
    None,
    /// `OPT (<hex>) `.
    Logged(Options),
    /// `TRUNCATED` — the dump stops (quoted headers only).
    Truncated,
}

/// One IPv4 header dump and what follows it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Ipv4Log {
    pub src: Ipv4Addr,
    pub dst: Ipv4Addr,
    pub len: u16,
    pub tos: u8,
    pub ttl: u8,
    pub id: u16,
    /// The raw flags + fragment offset field.
    pub frag_off: u16,
    pub protocol: u8,
    pub options: IpOptionsLog,
    pub l4: L4Log,
}

/// The packet quoted in an ICMP error.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum InnerLog {
    /// Fewer than 20 bytes quoted: `TRUNCATED`.
    Truncated,
    Ip(Ipv4Log),
}

/// Everything one LOG line says, captured on the fast path.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LogRecord {
    /// The batch time the packet was logged at (ns).
    pub time_ns: u64,
    /// The syslog priority of the line.
    pub level: LogLevel,
    /// [`flags`] of the rule.
    pub flags: u8,
    pub prefix: InlineStr<PREFIX_MAX>,
    /// Empty when there is none.
    pub in_iface: InlineStr<IFNAME_MAX>,
    pub out_iface: InlineStr<IFNAME_MAX>,
    /// Present when there is an input interface.
    pub mac: Option<MacHeader>,
    pub ip: Ipv4Log,
    /// The quoted packet of an ICMP error (outer dump only).
    pub inner: Option<InnerLog>,
    pub mark: u32,
    /// Printed with `--log-uid`.
    pub uid_gid: Option<(u32, u32)>,
}

const IP_CE: u16 = 0x8000;
const IP_DF: u16 = 0x4000;
const IP_MF: u16 = 0x2000;
const IP_OFFSET: u16 = 0x1fff;
const NR_ICMP_TYPES: u8 = 18;

/// `skb_header_pointer` over the IP packet.
fn hp(pkt: &[u8], off: usize, len: usize) -> Option<&[u8]> {
    pkt.get(off..off.checked_add(len)?)
}

fn be16(b: &[u8]) -> u16 {
    u16::from_be_bytes([b[0], b[1]])
}

fn be32(b: &[u8]) -> u32 {
    u32::from_be_bytes([b[0], b[1], b[2], b[3]])
}

/// `skb->len - off`, in the kernel's unsigned 32-bit arithmetic.
fn avail(pkt: &[u8], off: usize) -> u32 {
    (pkt.len() as u32).wrapping_sub(off as u32)
}

/// ICMP bytes each type needs to be dumped (`required_len` of
/// `dump_ipv4_packet`); 0: no requirement.
fn icmp_required_len(ty: u8) -> u32 {
    match ty {
        0 | 8 => 4,
        3 | 4 | 5 | 11 | 12 => 8 + 20,
        13 | 14 => 20,
        17 | 18 => 12,
        _ => 0,
    }
}

/// `dump_ipv4_packet` at `iphoff` of the IP packet `pkt` (the whole outer
/// packet: its length is the kernel's `skb->len`). `None`: `TRUNCATED`.
/// For the outer dump, also returns where an ICMP error's quoted packet
/// starts.
fn dump_ipv4(pkt: &[u8], iphoff: usize, lflags: u8) -> Option<(Ipv4Log, Option<usize>)> {
    let h = hp(pkt, iphoff, 20)?;
    let ihl = usize::from(h[0] & 0x0f) * 4;
    let frag_off = be16(&h[6..8]);
    let fragment = frag_off & IP_OFFSET != 0;
    let protocol = h[9];
    let mut log = Ipv4Log {
        src: Ipv4Addr::new(h[12], h[13], h[14], h[15]),
        dst: Ipv4Addr::new(h[16], h[17], h[18], h[19]),
        len: be16(&h[2..4]),
        tos: h[1],
        ttl: h[8],
        id: be16(&h[4..6]),
        frag_off,
        protocol,
        options: IpOptionsLog::None,
        l4: L4Log::Other(protocol),
    };
    if lflags & flags::IPOPT != 0 && ihl > 20 {
        match hp(pkt, iphoff + 20, ihl - 20) {
            Some(o) => log.options = IpOptionsLog::Logged(Options::new(o)),
            None => {
                log.options = IpOptionsLog::Truncated;
                return Some((log, None));
            }
        }
    }
    let off = iphoff + ihl;
    let mut inner = None;
    log.l4 = match protocol {
        6 => dump_tcp(pkt, off, fragment, lflags),
        17 | 136 => {
            let lite = protocol == 136;
            if fragment {
                L4Log::UdpFragment { lite }
            } else {
                match hp(pkt, off, 8) {
                    Some(u) => L4Log::Udp {
                        lite,
                        sport: be16(&u[0..2]),
                        dport: be16(&u[2..4]),
                        len: be16(&u[4..6]),
                    },
                    None => L4Log::UdpIncomplete {
                        lite,
                        avail: avail(pkt, off),
                    },
                }
            }
        }
        1 => {
            if fragment {
                L4Log::IcmpFragment
            } else {
                match hp(pkt, off, 8) {
                    None => L4Log::IcmpIncomplete(avail(pkt, off)),
                    Some(ic) => {
                        let (ty, code) = (ic[0], ic[1]);
                        let need = if ty <= NR_ICMP_TYPES {
                            icmp_required_len(ty)
                        } else {
                            0
                        };
                        let body = if need != 0 && avail(pkt, off) < need {
                            IcmpBody::Incomplete(avail(pkt, off))
                        } else {
                            match ty {
                                0 | 8 => IcmpBody::Echo {
                                    id: be16(&ic[4..6]),
                                    seq: be16(&ic[6..8]),
                                },
                                12 => IcmpBody::Parameter(ic[4]),
                                3 | 4 | 5 | 11 => {
                                    if iphoff == 0 {
                                        inner = Some(off + 8);
                                    }
                                    IcmpBody::Error {
                                        gateway: (ty == 5)
                                            .then(|| Ipv4Addr::new(ic[4], ic[5], ic[6], ic[7])),
                                        mtu: (ty == 3 && code == 4).then(|| be16(&ic[6..8])),
                                    }
                                }
                                _ => IcmpBody::Plain,
                            }
                        };
                        L4Log::Icmp { ty, code, body }
                    }
                }
            }
        }
        51 => {
            if fragment {
                L4Log::AhFragment
            } else {
                match hp(pkt, off, 12) {
                    Some(a) => L4Log::Ah {
                        spi: be32(&a[4..8]),
                    },
                    None => L4Log::AhIncomplete(avail(pkt, off)),
                }
            }
        }
        50 => {
            if fragment {
                L4Log::EspFragment
            } else {
                match hp(pkt, off, 8) {
                    Some(e) => L4Log::Esp {
                        spi: be32(&e[0..4]),
                    },
                    None => L4Log::EspIncomplete(avail(pkt, off)),
                }
            }
        }
        p => L4Log::Other(p),
    };
    Some((log, inner))
}

/// `nf_log_dump_tcp_header`.
fn dump_tcp(pkt: &[u8], off: usize, fragment: bool, lflags: u8) -> L4Log {
    if fragment {
        return L4Log::TcpFragment;
    }
    let Some(th) = hp(pkt, off, 20) else {
        return L4Log::TcpIncomplete(avail(pkt, off));
    };
    let doff = usize::from(th[12] >> 4) * 4;
    let options = if lflags & flags::TCPOPT != 0 && doff > 20 {
        match hp(pkt, off + 20, doff - 20) {
            Some(o) => TcpOptionsLog::Logged(Options::new(o)),
            None => TcpOptionsLog::Truncated,
        }
    } else {
        TcpOptionsLog::None
    };
    L4Log::Tcp(TcpLog {
        sport: be16(&th[0..2]),
        dport: be16(&th[2..4]),
        seq_ack: (lflags & flags::TCPSEQ != 0).then(|| (be32(&th[4..8]), be32(&th[8..12]))),
        window: be16(&th[14..16]),
        res: (th[12] & 0x0f) << 2,
        flags: th[13],
        urgp: be16(&th[18..20]),
        options,
    })
}

impl LogRecord {
    /// Captures what the kernel would log about `frame` for the rule
    /// `spec`. `None` for a frame that is not IPv4.
    pub fn capture(
        spec: &LogSpec,
        frame: &[u8],
        meta: &PacketMeta,
        ctx: &LogContext<'_>,
        now_ns: u64,
    ) -> Option<LogRecord> {
        if meta.ip_version != 4 || meta.ethertype != EtherType::IPV4 {
            return None;
        }
        let pkt = meta.l3(frame);
        let (ip, inner_at) = dump_ipv4(pkt, 0, spec.flags)?;
        let inner = inner_at.map(|at| match dump_ipv4(pkt, at, spec.flags) {
            Some((l, _)) => InnerLog::Ip(l),
            None => InnerLog::Truncated,
        });
        let l2 = usize::from(meta.l2_off);
        let mac = match (ctx.in_iface, frame.get(l2..l2 + 12)) {
            (Some(_), Some(h)) => Some(MacHeader {
                dst: MacAddr([h[0], h[1], h[2], h[3], h[4], h[5]]),
                src: MacAddr([h[6], h[7], h[8], h[9], h[10], h[11]]),
                ethertype: meta.ethertype.0,
            }),
            _ => None,
        };
        Some(LogRecord {
            time_ns: now_ns,
            level: spec.level,
            flags: spec.flags,
            prefix: spec.prefix,
            in_iface: InlineStr::new(ctx.in_iface.unwrap_or("")),
            out_iface: InlineStr::new(ctx.out_iface.unwrap_or("")),
            mac,
            ip,
            inner,
            mark: ctx.mark,
            uid_gid: ctx.uid_gid,
        })
    }

    /// The kernel's line (without the syslog level), trailing space
    /// included. Control side: allocates.
    pub fn line(&self) -> String {
        self.to_string()
    }
}

/// Writes one IP dump; returns false when the kernel's dump stops early
/// (so `UID=`/`MARK=` are not printed).
fn write_ipv4(
    f: &mut fmt::Formatter<'_>,
    ip: &Ipv4Log,
    inner: Option<&InnerLog>,
) -> Result<bool, fmt::Error> {
    write!(
        f,
        "SRC={} DST={} LEN={} TOS=0x{:02X} PREC=0x{:02X} TTL={} ID={} ",
        ip.src,
        ip.dst,
        ip.len,
        ip.tos & 0x1e,
        ip.tos & 0xe0,
        ip.ttl,
        ip.id
    )?;
    if ip.frag_off & IP_CE != 0 {
        f.write_str("CE ")?;
    }
    if ip.frag_off & IP_DF != 0 {
        f.write_str("DF ")?;
    }
    if ip.frag_off & IP_MF != 0 {
        f.write_str("MF ")?;
    }
    if ip.frag_off & IP_OFFSET != 0 {
        write!(f, "FRAG:{} ", ip.frag_off & IP_OFFSET)?;
    }
    match &ip.options {
        IpOptionsLog::None => {}
        IpOptionsLog::Logged(o) => write!(f, "OPT ({o:?}) ")?,
        IpOptionsLog::Truncated => {
            f.write_str("TRUNCATED")?;
            return Ok(false);
        }
    }
    let udp = |lite: bool| if lite { "PROTO=UDPLITE " } else { "PROTO=UDP " };
    match &ip.l4 {
        L4Log::Tcp(t) => {
            write!(f, "PROTO=TCP SPT={} DPT={} ", t.sport, t.dport)?;
            if let Some((seq, ack)) = t.seq_ack {
                write!(f, "SEQ={seq} ACK={ack} ")?;
            }
            write!(f, "WINDOW={} RES=0x{:02x} ", t.window, t.res)?;
            for (bit, name) in [
                (0x80, "CWR "),
                (0x40, "ECE "),
                (0x20, "URG "),
                (0x10, "ACK "),
                (0x08, "PSH "),
                (0x04, "RST "),
                (0x02, "SYN "),
                (0x01, "FIN "),
            ] {
                if t.flags & bit != 0 {
                    f.write_str(name)?;
                }
            }
            write!(f, "URGP={} ", t.urgp)?;
            match &t.options {
                TcpOptionsLog::None => {}
                TcpOptionsLog::Logged(o) => write!(f, "OPT ({o:?}) ")?,
                TcpOptionsLog::Truncated => {
                    f.write_str("OPT (TRUNCATED)")?;
                    return Ok(false);
                }
            }
        }
        L4Log::TcpFragment => f.write_str("PROTO=TCP ")?,
        L4Log::TcpIncomplete(n) => {
            write!(f, "PROTO=TCP INCOMPLETE [{n} bytes] ")?;
            return Ok(false);
        }
        L4Log::Udp {
            lite,
            sport,
            dport,
            len,
        } => write!(f, "{}SPT={sport} DPT={dport} LEN={len} ", udp(*lite))?,
        L4Log::UdpFragment { lite } => f.write_str(udp(*lite))?,
        L4Log::UdpIncomplete { lite, avail } => {
            write!(f, "{}INCOMPLETE [{avail} bytes] ", udp(*lite))?;
            return Ok(false);
        }
        L4Log::IcmpFragment => f.write_str("PROTO=ICMP ")?,
        L4Log::IcmpIncomplete(n) => write!(f, "PROTO=ICMP INCOMPLETE [{n} bytes] ")?,
        L4Log::Icmp { ty, code, body } => {
            write!(f, "PROTO=ICMP TYPE={ty} CODE={code} ")?;
            match body {
                IcmpBody::Plain => {}
                IcmpBody::Incomplete(n) => write!(f, "INCOMPLETE [{n} bytes] ")?,
                IcmpBody::Echo { id, seq } => write!(f, "ID={id} SEQ={seq} ")?,
                IcmpBody::Parameter(p) => write!(f, "PARAMETER={p} ")?,
                IcmpBody::Error { gateway, mtu } => {
                    if let Some(g) = gateway {
                        write!(f, "GATEWAY={g} ")?;
                    }
                    if let Some(inner) = inner {
                        f.write_str("[")?;
                        match inner {
                            InnerLog::Truncated => f.write_str("TRUNCATED")?,
                            InnerLog::Ip(i) => {
                                write_ipv4(f, i, None)?;
                            }
                        }
                        f.write_str("] ")?;
                    }
                    if let Some(m) = mtu {
                        write!(f, "MTU={m} ")?;
                    }
                }
            }
        }
        L4Log::AhFragment => {}
        L4Log::AhIncomplete(n) => write!(f, "PROTO=AH INCOMPLETE [{n} bytes] ")?,
        L4Log::Ah { spi } => write!(f, "PROTO=AH SPI=0x{spi:x} ")?,
        L4Log::EspFragment => f.write_str("PROTO=ESP ")?,
        L4Log::EspIncomplete(n) => write!(f, "PROTO=ESP INCOMPLETE [{n} bytes] ")?,
        L4Log::Esp { spi } => write!(f, "PROTO=ESP SPI=0x{spi:x} ")?,
        L4Log::Other(p) => write!(f, "PROTO={p} ")?,
    }
    Ok(true)
}

impl fmt::Display for LogRecord {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}IN={} OUT={} ",
            self.prefix.as_str(),
            self.in_iface.as_str(),
            self.out_iface.as_str()
        )?;
        if let Some(m) = &self.mac {
            if self.flags & flags::MACDECODE != 0 {
                write!(
                    f,
                    "MACSRC={} MACDST={} MACPROTO={:04x} ",
                    m.src, m.dst, m.ethertype
                )?;
            } else {
                f.write_str("MAC=")?;
                let mut first = true;
                let et = m.ethertype.to_be_bytes();
                for b in m.dst.0.iter().chain(m.src.0.iter()).chain(et.iter()) {
                    if !first {
                        f.write_char(':')?;
                    }
                    first = false;
                    write!(f, "{b:02x}")?;
                }
                f.write_char(' ')?;
            }
        }
        if !write_ipv4(f, &self.ip, self.inner.as_ref())? {
            return Ok(());
        }
        if self.flags & flags::UID != 0 {
            if let Some((uid, gid)) = self.uid_gid {
                write!(f, "UID={uid} GID={gid} ")?;
            }
        }
        if self.mark != 0 {
            write!(f, "MARK=0x{:x} ", self.mark)?;
        }
        Ok(())
    }
}

/// A worker's bounded queue of log records, preallocated.
#[derive(Debug, Clone)]
pub struct LogRing {
    records: VecDeque<LogRecord>,
    capacity: usize,
    ring_full: u64,
}

impl LogRing {
    /// A ring holding up to `capacity` records (at least 1), allocated now.
    pub fn new(capacity: usize) -> LogRing {
        let capacity = capacity.max(1);
        LogRing {
            records: VecDeque::with_capacity(capacity),
            capacity,
            ring_full: 0,
        }
    }

    /// Captures a record for `frame` (see [`LogRecord::capture`]). Returns
    /// false, counting `log.ring_full`, when the ring is full; returns false
    /// without counting for a frame that is not IPv4.
    pub fn log(
        &mut self,
        spec: &LogSpec,
        frame: &[u8],
        meta: &PacketMeta,
        ctx: &LogContext<'_>,
        now_ns: u64,
    ) -> bool {
        if self.records.len() >= self.capacity {
            self.ring_full += 1;
            return false;
        }
        match LogRecord::capture(spec, frame, meta, ctx, now_ns) {
            Some(r) => {
                // Within capacity: no reallocation.
                self.records.push_back(r);
                true
            }
            None => false,
        }
    }

    /// The oldest record.
    pub fn pop(&mut self) -> Option<LogRecord> {
        self.records.pop_front()
    }

    /// Every record, oldest first.
    pub fn drain(&mut self) -> impl Iterator<Item = LogRecord> + '_ {
        self.records.drain(..)
    }

    pub fn len(&self) -> usize {
        self.records.len()
    }

    pub fn is_empty(&self) -> bool {
        self.records.is_empty()
    }

    pub fn capacity(&self) -> usize {
        self.capacity
    }

    /// Records dropped because the ring was full (the `log.ring_full`
    /// counter, [`RING_FULL`]).
    pub fn ring_full(&self) -> u64 {
        self.ring_full
    }
}

#[cfg(test)]
pub(super) mod tests {
    //! The raw IPv4 and TCP builders here serve the REJECT tests too.

    use std::path::Path;

    use sluice_config::iptables::{parse, TableKind, Target, TargetExt};

    use super::*;
    use crate::wire::{self, checksum};

    const R0_MAC: [u8; 6] = [0x72, 0xce, 0xd7, 0x66, 0xb9, 0x1a];
    const A0_MAC: [u8; 6] = [0x5a, 0xb7, 0x09, 0x3f, 0x8e, 0x6b];
    /// The sender and the router of the test packets.
    pub(in crate::rules) const A: [u8; 4] = [10, 99, 0, 1];
    pub(in crate::rules) const R: [u8; 4] = [10, 99, 0, 2];

    fn spec(opts: &str) -> LogSpec {
        let rs = parse(
            &format!("*filter\n-A INPUT -j LOG {opts}\nCOMMIT\n"),
            Path::new("t"),
        )
        .expect("parses");
        match &rs
            .table(TableKind::Filter)
            .unwrap()
            .chain("INPUT")
            .unwrap()
            .rules[0]
            .target
        {
            Target::Ext(TargetExt::Log(l)) => LogSpec::compile(l),
            other => panic!("not LOG: {other:?}"),
        }
    }

    /// An IPv4 packet from [`A`] to [`R`], header checksum filled.
    pub(in crate::rules) fn ip4(
        proto: u8,
        tos: u8,
        ttl: u8,
        id: u16,
        frag: u16,
        opts: &[u8],
        payload: &[u8],
    ) -> Vec<u8> {
        ip4_between(A, R, proto, tos, ttl, id, frag, opts, payload)
    }

    #[allow(clippy::too_many_arguments)]
    fn ip4_between(
        src: [u8; 4],
        dst: [u8; 4],
        proto: u8,
        tos: u8,
        ttl: u8,
        id: u16,
        frag: u16,
        opts: &[u8],
        payload: &[u8],
    ) -> Vec<u8> {
        let ihl = 5 + opts.len() / 4;
        let total = (ihl * 4 + payload.len()) as u16;
        let mut h = vec![(4 << 4) | ihl as u8, tos];
        h.extend_from_slice(&total.to_be_bytes());
        h.extend_from_slice(&id.to_be_bytes());
        h.extend_from_slice(&frag.to_be_bytes());
        h.extend_from_slice(&[ttl, proto, 0, 0]);
        h.extend_from_slice(&src);
        h.extend_from_slice(&dst);
        h.extend_from_slice(opts);
        let c = checksum::checksum(&h);
        h[10..12].copy_from_slice(&c.to_be_bytes());
        h.extend_from_slice(payload);
        h
    }

    /// A packet from [`R`] back to [`A`], TOS 0, TTL 60: what the ICMP
    /// errors below quote.
    fn inner_ip4(proto: u8, id: u16, frag: u16, opts: &[u8], payload: &[u8]) -> Vec<u8> {
        ip4_between(R, A, proto, 0, 60, id, frag, opts, payload)
    }

    fn eth(ip: &[u8]) -> Vec<u8> {
        let mut f = Vec::new();
        f.extend_from_slice(&R0_MAC);
        f.extend_from_slice(&A0_MAC);
        f.extend_from_slice(&[0x08, 0x00]);
        f.extend_from_slice(ip);
        f
    }

    /// A TCP segment, checksum left 0.
    #[allow(clippy::too_many_arguments)]
    pub(in crate::rules) fn tcp(
        sport: u16,
        dport: u16,
        seq: u32,
        ack: u32,
        flags: u8,
        win: u16,
        opts: &[u8],
        data: &[u8],
    ) -> Vec<u8> {
        let doff = 5 + opts.len() / 4;
        let mut t = Vec::new();
        t.extend_from_slice(&sport.to_be_bytes());
        t.extend_from_slice(&dport.to_be_bytes());
        t.extend_from_slice(&seq.to_be_bytes());
        t.extend_from_slice(&ack.to_be_bytes());
        t.extend_from_slice(&[(doff as u8) << 4, flags]);
        t.extend_from_slice(&win.to_be_bytes());
        t.extend_from_slice(&[0, 0, 0, 0]);
        t.extend_from_slice(opts);
        t.extend_from_slice(data);
        t
    }

    fn udp(sport: u16, dport: u16, data: &[u8]) -> Vec<u8> {
        let mut u = Vec::new();
        u.extend_from_slice(&sport.to_be_bytes());
        u.extend_from_slice(&dport.to_be_bytes());
        u.extend_from_slice(&(8 + data.len() as u16).to_be_bytes());
        u.extend_from_slice(&[0, 1]);
        u.extend_from_slice(data);
        u
    }

    fn icmp(ty: u8, code: u8, rest: [u8; 4], data: &[u8]) -> Vec<u8> {
        let mut m = vec![ty, code, 0, 0];
        m.extend_from_slice(&rest);
        m.extend_from_slice(data);
        m
    }

    /// An ICMP message from [`A`] to [`R`]: TTL 64, ID 0x1234, no flags.
    fn icmp_ip4(ty: u8, code: u8, rest: [u8; 4], data: &[u8]) -> Vec<u8> {
        ip4(1, 0, 64, 0x1234, 0, &[], &icmp(ty, code, rest, data))
    }

    fn ctx_in() -> LogContext<'static> {
        LogContext {
            in_iface: Some("r0"),
            ..LogContext::default()
        }
    }

    fn line_with(spec: &LogSpec, ip: &[u8], ctx: &LogContext<'_>) -> String {
        let f = eth(ip);
        let meta = wire::parse(&f).expect("frame parses");
        LogRecord::capture(spec, &f, &meta, ctx, 0)
            .expect("IPv4")
            .line()
    }

    const MAC: &str = "MAC=72:ce:d7:66:b9:1a:5a:b7:09:3f:8e:6b:08:00 ";

    // Every expected line below is the kernel's (Linux 6.18, `dmesg`) for
    // the same packet and rule.

    #[test]
    fn tcp_lines() {
        let syn = ip4(
            6,
            0x10,
            64,
            0x1234,
            0x4000,
            &[],
            &tcp(
                40001,
                9,
                1000,
                0,
                0x02,
                64240,
                &[2, 4, 5, 0xb4, 1, 1, 4, 2],
                b"0123456789",
            ),
        );
        assert_eq!(
            line_with(&spec("--log-prefix \"LT: \""), &syn, &ctx_in()),
            format!("LT: IN=r0 OUT= {MAC}SRC=10.99.0.1 DST=10.99.0.2 LEN=58 TOS=0x10 PREC=0x00 TTL=64 ID=4660 DF PROTO=TCP SPT=40001 DPT=9 WINDOW=64240 RES=0x00 SYN URGP=0 ")
        );
        assert_eq!(
            line_with(
                &spec("--log-prefix \"LTT: \" --log-tcp-sequence --log-tcp-options --log-macdecode"),
                &syn,
                &ctx_in()
            ),
            "LTT: IN=r0 OUT= MACSRC=5a:b7:09:3f:8e:6b MACDST=72:ce:d7:66:b9:1a MACPROTO=0800 SRC=10.99.0.1 DST=10.99.0.2 LEN=58 TOS=0x10 PREC=0x00 TTL=64 ID=4660 DF PROTO=TCP SPT=40001 DPT=9 SEQ=1000 ACK=0 WINDOW=64240 RES=0x00 SYN URGP=0 OPT (020405B401010402) "
        );
        let ack = ip4(
            6,
            0,
            64,
            0x1234,
            0x4000,
            &[],
            &tcp(40002, 9, 2000, 5555, 0x18, 64240, &[], b"abc"),
        );
        assert_eq!(
            line_with(&spec("--log-prefix \"LT: \""), &ack, &ctx_in()),
            format!("LT: IN=r0 OUT= {MAC}SRC=10.99.0.1 DST=10.99.0.2 LEN=43 TOS=0x00 PREC=0x00 TTL=64 ID=4660 DF PROTO=TCP SPT=40002 DPT=9 WINDOW=64240 RES=0x00 ACK PSH URGP=0 ")
        );
        let all = ip4(
            6,
            0x03,
            64,
            0x1234,
            0x4000,
            &[],
            &tcp(40010, 9, 1, 2, 0xff, 1, &[], b""),
        );
        assert_eq!(
            line_with(&spec("--log-prefix \"LT: \""), &all, &ctx_in()),
            format!("LT: IN=r0 OUT= {MAC}SRC=10.99.0.1 DST=10.99.0.2 LEN=40 TOS=0x02 PREC=0x00 TTL=64 ID=4660 DF PROTO=TCP SPT=40010 DPT=9 WINDOW=1 RES=0x00 CWR ECE URG ACK PSH RST SYN FIN URGP=0 ")
        );
        let short = ip4(6, 0, 64, 0x1234, 0x4000, &[], &[0x9c, 0x4a, 0, 9, 0, 0]);
        assert_eq!(
            line_with(&spec("--log-prefix \"LT: \""), &short, &ctx_in()),
            format!("LT: IN=r0 OUT= {MAC}SRC=10.99.0.1 DST=10.99.0.2 LEN=26 TOS=0x00 PREC=0x00 TTL=64 ID=4660 DF PROTO=TCP INCOMPLETE [6 bytes] ")
        );
    }

    #[test]
    fn tcp_reserved_bits_fragment_and_truncated_options() {
        let mut seg = tcp(1, 2, 0, 0, 0x10, 0, &[], b"");
        seg[12] |= 0x0f;
        let s = line_with(
            &spec(""),
            &ip4(6, 0, 64, 1, 0, &[], &seg),
            &LogContext::default(),
        );
        assert!(s.contains(" RES=0x3c ACK URGP=0 "), "{s}");
        // No input interface: no MAC.
        assert!(s.starts_with("IN= OUT= SRC="), "{s}");
        let s = line_with(
            &spec(""),
            &ip4(6, 0, 64, 1, 0x2003, &[], &[0; 8]),
            &LogContext::default(),
        );
        assert!(s.ends_with("ID=1 MF FRAG:3 PROTO=TCP "), "{s}");
        // Options claimed past the end: "OPT (TRUNCATED)" and nothing after.
        let mut seg = tcp(1, 2, 0, 0, 0x02, 0, &[], b"");
        seg[12] = 0xf0;
        let c = LogContext {
            mark: 7,
            ..LogContext::default()
        };
        let s = line_with(
            &spec("--log-tcp-options"),
            &ip4(6, 0, 64, 1, 0, &[], &seg),
            &c,
        );
        assert!(s.ends_with("SYN URGP=0 OPT (TRUNCATED)"), "{s}");
    }

    #[test]
    fn udp_lines() {
        let mut data: Vec<u8> = (0..=255u8).chain(0..=255u8).collect();
        data.extend_from_slice(&[0; 88]);
        let big = ip4(17, 0xff, 63, 0x1234, 0x4000, &[], &udp(40000, 9, &data));
        assert_eq!(
            line_with(&spec("--log-prefix \"LTU: \" --log-ip-options"), &big, &ctx_in()),
            format!("LTU: IN=r0 OUT= {MAC}SRC=10.99.0.1 DST=10.99.0.2 LEN=628 TOS=0x1E PREC=0xE0 TTL=63 ID=4660 DF PROTO=UDP SPT=40000 DPT=9 LEN=608 ")
        );
        let opts = ip4(
            17,
            0,
            64,
            0x1234,
            0x4000,
            &[148, 4, 0, 0],
            &udp(40006, 9, b"o"),
        );
        assert_eq!(
            line_with(&spec("--log-prefix \"LTU: \" --log-ip-options"), &opts, &ctx_in()),
            format!("LTU: IN=r0 OUT= {MAC}SRC=10.99.0.1 DST=10.99.0.2 LEN=33 TOS=0x00 PREC=0x00 TTL=64 ID=4660 DF OPT (94040000) PROTO=UDP SPT=40006 DPT=9 LEN=9 ")
        );
        assert_eq!(
            line_with(&spec("--log-prefix \"LT: \""), &opts, &ctx_in()),
            format!("LT: IN=r0 OUT= {MAC}SRC=10.99.0.1 DST=10.99.0.2 LEN=33 TOS=0x00 PREC=0x00 TTL=64 ID=4660 DF PROTO=UDP SPT=40006 DPT=9 LEN=9 ")
        );
        let short = ip4(17, 0, 64, 0x1234, 0x4000, &[], &[0x9c, 0x4a, 0]);
        let c = LogContext {
            in_iface: Some("r0"),
            mark: 0x2a,
            ..LogContext::default()
        };
        // INCOMPLETE ends the UDP line: no MARK.
        assert_eq!(
            line_with(&spec("--log-prefix \"LT: \""), &short, &c),
            format!("LT: IN=r0 OUT= {MAC}SRC=10.99.0.1 DST=10.99.0.2 LEN=23 TOS=0x00 PREC=0x00 TTL=64 ID=4660 DF PROTO=UDP INCOMPLETE [3 bytes] ")
        );
        // UDP length field as sent, not as received.
        let mut u = udp(40011, 9, &[0; 16]);
        u.truncate(16);
        let cut = ip4(17, 0, 64, 0x1234, 0, &[], &u);
        assert_eq!(
            line_with(&spec("--log-prefix \"LT: \""), &cut, &ctx_in()),
            format!("LT: IN=r0 OUT= {MAC}SRC=10.99.0.1 DST=10.99.0.2 LEN=36 TOS=0x00 PREC=0x00 TTL=64 ID=4660 PROTO=UDP SPT=40011 DPT=9 LEN=24 ")
        );
        let lite = ip4(136, 0, 64, 1, 0, &[], &udp(1, 2, b""));
        assert!(
            line_with(&spec(""), &lite, &ctx_in()).ends_with("PROTO=UDPLITE SPT=1 DPT=2 LEN=8 ")
        );
    }

    #[test]
    fn icmp_lines() {
        let lt = spec("--log-prefix \"LT: \"");
        let ping = icmp_ip4(8, 0, [0x42, 0x42, 0, 7], b"hello");
        assert_eq!(
            line_with(&lt, &ping, &ctx_in()),
            format!("LT: IN=r0 OUT= {MAC}SRC=10.99.0.1 DST=10.99.0.2 LEN=33 TOS=0x00 PREC=0x00 TTL=64 ID=4660 PROTO=ICMP TYPE=8 CODE=0 ID=16962 SEQ=7 ")
        );
        let inner = inner_ip4(17, 0x4444, 0x4000, &[], &udp(53, 40000, b"zzzzzzzz"));
        let unreach = icmp_ip4(3, 3, [0; 4], &inner[..28]);
        assert_eq!(
            line_with(&lt, &unreach, &ctx_in()),
            format!("LT: IN=r0 OUT= {MAC}SRC=10.99.0.1 DST=10.99.0.2 LEN=56 TOS=0x00 PREC=0x00 TTL=64 ID=4660 PROTO=ICMP TYPE=3 CODE=3 [SRC=10.99.0.2 DST=10.99.0.1 LEN=36 TOS=0x00 PREC=0x00 TTL=60 ID=17476 DF PROTO=UDP SPT=53 DPT=40000 LEN=16 ] ")
        );
        let fragneed = icmp_ip4(3, 4, [0, 0, 0x05, 0x78], &inner);
        assert_eq!(
            line_with(&lt, &fragneed, &ctx_in()),
            format!("LT: IN=r0 OUT= {MAC}SRC=10.99.0.1 DST=10.99.0.2 LEN=64 TOS=0x00 PREC=0x00 TTL=64 ID=4660 PROTO=ICMP TYPE=3 CODE=4 [SRC=10.99.0.2 DST=10.99.0.1 LEN=36 TOS=0x00 PREC=0x00 TTL=60 ID=17476 DF PROTO=UDP SPT=53 DPT=40000 LEN=16 ] MTU=1400 ")
        );
        let innert = inner_ip4(
            6,
            0x4445,
            0x4000,
            &[],
            &tcp(22, 40000, 1, 2, 0x12, 64240, &[], b""),
        );
        let ttlex = icmp_ip4(11, 0, [0; 4], &innert[..28]);
        assert_eq!(
            line_with(&lt, &ttlex, &ctx_in()),
            format!("LT: IN=r0 OUT= {MAC}SRC=10.99.0.1 DST=10.99.0.2 LEN=56 TOS=0x00 PREC=0x00 TTL=64 ID=4660 PROTO=ICMP TYPE=11 CODE=0 [SRC=10.99.0.2 DST=10.99.0.1 LEN=40 TOS=0x00 PREC=0x00 TTL=60 ID=17477 DF PROTO=TCP INCOMPLETE [8 bytes] ] ")
        );
        let redirect = icmp_ip4(5, 1, [10, 99, 0, 9], &inner);
        assert_eq!(
            line_with(&lt, &redirect, &ctx_in()),
            format!("LT: IN=r0 OUT= {MAC}SRC=10.99.0.1 DST=10.99.0.2 LEN=64 TOS=0x00 PREC=0x00 TTL=64 ID=4660 PROTO=ICMP TYPE=5 CODE=1 GATEWAY=10.99.0.9 [SRC=10.99.0.2 DST=10.99.0.1 LEN=36 TOS=0x00 PREC=0x00 TTL=60 ID=17476 DF PROTO=UDP SPT=53 DPT=40000 LEN=16 ] ")
        );
        let param = icmp_ip4(12, 0, [20, 0, 0, 0], &inner);
        assert_eq!(
            line_with(&lt, &param, &ctx_in()),
            format!("LT: IN=r0 OUT= {MAC}SRC=10.99.0.1 DST=10.99.0.2 LEN=64 TOS=0x00 PREC=0x00 TTL=64 ID=4660 PROTO=ICMP TYPE=12 CODE=0 PARAMETER=20 ")
        );
        let ts = icmp_ip4(13, 0, [0, 5, 0, 6], &[0; 8]);
        assert_eq!(
            line_with(&lt, &ts, &ctx_in()),
            format!("LT: IN=r0 OUT= {MAC}SRC=10.99.0.1 DST=10.99.0.2 LEN=36 TOS=0x00 PREC=0x00 TTL=64 ID=4660 PROTO=ICMP TYPE=13 CODE=0 INCOMPLETE [16 bytes] ")
        );
        let ts = icmp_ip4(13, 0, [0, 5, 0, 6], &[0; 4]);
        assert!(line_with(&lt, &ts, &ctx_in()).ends_with("TYPE=13 CODE=0 INCOMPLETE [12 bytes] "));
    }

    #[test]
    fn icmp_edge_cases() {
        let none = spec("");
        // An error quoting fewer than 20 bytes: the kernel asks for 28 bytes
        // first, so this is INCOMPLETE, not TRUNCATED.
        let short = ip4(1, 0, 64, 1, 0, &[], &icmp(3, 1, [0; 4], &[0x45; 12]));
        assert!(
            line_with(&none, &short, &ctx_in()).ends_with("TYPE=3 CODE=1 INCOMPLETE [20 bytes] ")
        );
        // Less than an ICMP header.
        let tiny = ip4(1, 0, 64, 1, 0, &[], &[8, 0, 0]);
        let c = LogContext {
            mark: 1,
            ..LogContext::default()
        };
        // ICMP INCOMPLETE does not stop the line: MARK follows.
        assert!(line_with(&none, &tiny, &c).ends_with("PROTO=ICMP INCOMPLETE [3 bytes] MARK=0x1 "));
        // A fragment prints the protocol only.
        let frag = ip4(1, 0, 64, 1, 0x0010, &[], &[0; 8]);
        assert!(line_with(&none, &frag, &c).ends_with("FRAG:16 PROTO=ICMP MARK=0x1 "));
        // An error in an error is not opened; inner IP options with
        // --log-ip-options; an inner header whose IHL points past the end.
        let inner_err = inner_ip4(1, 7, 0, &[], &icmp(3, 4, [0, 0, 0x05, 0xdc], &[0; 20]));
        let outer = ip4(1, 0, 64, 1, 0, &[], &icmp(11, 0, [0; 4], &inner_err));
        assert!(line_with(&none, &outer, &ctx_in())
            .ends_with("[SRC=10.99.0.2 DST=10.99.0.1 LEN=48 TOS=0x00 PREC=0x00 TTL=60 ID=7 PROTO=ICMP TYPE=3 CODE=4 MTU=1500 ] "));
        let with_opts = inner_ip4(17, 7, 0, &[1, 1, 1, 0], &udp(1, 2, b""));
        let outer = ip4(1, 0, 64, 1, 0, &[], &icmp(3, 3, [0; 4], &with_opts[..24]));
        assert!(line_with(&spec("--log-ip-options"), &outer, &ctx_in())
            .ends_with("[SRC=10.99.0.2 DST=10.99.0.1 LEN=32 TOS=0x00 PREC=0x00 TTL=60 ID=7 OPT (01010100) PROTO=UDP INCOMPLETE [0 bytes] ] "));
        let mut far = with_opts.clone();
        far[0] = 0x4f; // IHL 60 bytes, 32 quoted
        let outer = ip4(1, 0, 64, 1, 0, &[], &icmp(3, 3, [0; 4], &far));
        let s = line_with(&spec("--log-ip-options"), &outer, &ctx_in());
        assert!(s.ends_with("TTL=60 ID=7 TRUNCATED] "), "{s}");
        let s = line_with(&none, &outer, &ctx_in());
        assert!(
            s.ends_with("ID=7 PROTO=UDP INCOMPLETE [4294967268 bytes] ] "),
            "{s}"
        );
    }

    #[test]
    fn other_protocols_mark_and_uid() {
        let lt = spec("--log-prefix \"LT: \"");
        let c = LogContext {
            in_iface: Some("r0"),
            mark: 0x2a,
            ..LogContext::default()
        };
        assert_eq!(
            line_with(&lt, &ip4(99, 0, 64, 0x1234, 0x4000, &[], b"abcd"), &c),
            format!("LT: IN=r0 OUT= {MAC}SRC=10.99.0.1 DST=10.99.0.2 LEN=24 TOS=0x00 PREC=0x00 TTL=64 ID=4660 DF PROTO=99 MARK=0x2a ")
        );
        let esp = ip4(
            50,
            0,
            64,
            0x1234,
            0x4000,
            &[],
            &[0x12, 0x34, 0xab, 0xcd, 0, 0, 0, 1],
        );
        assert_eq!(
            line_with(&lt, &esp, &ctx_in()),
            format!("LT: IN=r0 OUT= {MAC}SRC=10.99.0.1 DST=10.99.0.2 LEN=28 TOS=0x00 PREC=0x00 TTL=64 ID=4660 DF PROTO=ESP SPI=0x1234abcd ")
        );
        let mut ah = vec![6, 4, 0, 0, 0xde, 0xad, 0xbe, 0xef, 0, 0, 0, 1];
        ah.extend_from_slice(&[0; 12]);
        assert_eq!(
            line_with(&lt, &ip4(51, 0, 64, 0x1234, 0x4000, &[], &ah), &ctx_in()),
            format!("LT: IN=r0 OUT= {MAC}SRC=10.99.0.1 DST=10.99.0.2 LEN=44 TOS=0x00 PREC=0x00 TTL=64 ID=4660 DF PROTO=AH SPI=0xdeadbeef ")
        );
        // AH fragments print nothing at all; ESP ones their name.
        assert!(line_with(&lt, &ip4(51, 0, 64, 1, 1, &[], &ah), &ctx_in()).ends_with("FRAG:1 "));
        assert!(line_with(&lt, &ip4(50, 0, 64, 1, 1, &[], &ah), &ctx_in())
            .ends_with("FRAG:1 PROTO=ESP "));
        assert!(
            line_with(&lt, &ip4(50, 0, 64, 1, 0, &[], &[1, 2]), &ctx_in())
                .ends_with("PROTO=ESP INCOMPLETE [2 bytes] ")
        );
        // The CE ("evil") bit.
        assert!(
            line_with(&lt, &ip4(99, 0, 64, 1, 0x8000, &[], b""), &ctx_in())
                .contains(" ID=1 CE PROTO=99 ")
        );
        // --log-uid with a local socket; an OUTPUT packet has no MAC.
        let out = LogContext {
            out_iface: Some("eth1"),
            uid_gid: Some((1000, 100)),
            mark: 0xffff_ffff,
            ..LogContext::default()
        };
        let udp4 = ip4(17, 0, 64, 1, 0, &[], &udp(5, 6, b""));
        assert_eq!(
            line_with(&spec("--log-uid"), &udp4, &out),
            "IN= OUT=eth1 SRC=10.99.0.1 DST=10.99.0.2 LEN=28 TOS=0x00 PREC=0x00 TTL=64 ID=1 PROTO=UDP SPT=5 DPT=6 LEN=8 UID=1000 GID=100 MARK=0xffffffff "
        );
        assert!(!line_with(&spec(""), &udp4, &out).contains("UID="));
    }

    #[test]
    fn record_fields_are_structured() {
        let s = spec("--log-prefix p: --log-level info --log-tcp-sequence");
        assert_eq!(s.level, LogLevel::Info);
        assert_eq!(s.prefix.as_str(), "p:");
        let f = eth(&ip4(
            6,
            0,
            64,
            9,
            0x4000,
            &[],
            &tcp(1, 2, 3, 4, 0x12, 5, &[], b""),
        ));
        let meta = wire::parse(&f).unwrap();
        let c = LogContext {
            in_iface: Some("a-very-long-interface-name"),
            out_iface: Some("wan"),
            ..LogContext::default()
        };
        let r = LogRecord::capture(&s, &f, &meta, &c, 77).unwrap();
        assert_eq!(r.time_ns, 77);
        assert_eq!(r.in_iface.as_str(), "a-very-long-int");
        assert_eq!(r.out_iface.as_str(), "wan");
        assert_eq!(r.mac.unwrap().src, MacAddr(A0_MAC));
        assert_eq!(r.ip.id, 9);
        match r.ip.l4 {
            L4Log::Tcp(t) => {
                assert_eq!(
                    (t.sport, t.dport, t.seq_ack, t.window, t.flags),
                    (1, 2, Some((3, 4)), 5, 0x12)
                );
            }
            other => panic!("{other:?}"),
        }
        assert!(r.inner.is_none());
        // IPv6 is not logged by an IPv4 LOG rule.
        let mut v6 = vec![0; 14];
        v6[12..14].copy_from_slice(&[0x86, 0xdd]);
        v6.extend_from_slice(&[0x60, 0, 0, 0, 0, 0, 59, 64]);
        v6.extend_from_slice(&[0; 32]);
        let meta = wire::parse(&v6).unwrap();
        assert!(LogRecord::capture(&s, &v6, &meta, &c, 0).is_none());
    }

    #[test]
    fn ring_overflow_counts_and_never_blocks() {
        let s = spec("--log-prefix x");
        let f = eth(&ip4(17, 0, 64, 1, 0, &[], &udp(1, 2, b"")));
        let meta = wire::parse(&f).unwrap();
        let mut ring = LogRing::new(3);
        let results: Vec<bool> = (0..5u64)
            .map(|t| ring.log(&s, &f, &meta, &ctx_in(), t))
            .collect();
        assert_eq!(results, [true, true, true, false, false]);
        assert_eq!(ring.ring_full(), 2);
        assert_eq!(ring.len(), 3);
        assert_eq!(ring.pop().unwrap().time_ns, 0);
        assert!(ring.log(&s, &f, &meta, &ctx_in(), 9));
        let times: Vec<u64> = ring.drain().map(|r| r.time_ns).collect();
        assert_eq!(times, [1, 2, 9]);
        assert!(ring.is_empty());
        assert_eq!(ring.capacity(), 3);
        assert_eq!(ring.ring_full(), 2);
        assert_eq!(RING_FULL, "log.ring_full");
    }

    #[test]
    fn any_bytes_never_panic() {
        use rand::{Rng, SeedableRng};
        let mut rng = rand::rngs::StdRng::seed_from_u64(3);
        let s = spec("--log-ip-options --log-tcp-options --log-tcp-sequence");
        for _ in 0..20_000 {
            let proto = [1u8, 6, 17, 50, 51, 136, 99][rng.gen_range(0..7)];
            let n = rng.gen_range(0..80);
            let payload: Vec<u8> = (0..n).map(|_| rng.gen()).collect();
            let frag = if rng.gen_bool(0.1) { 1 } else { 0 };
            let f = eth(&ip4(proto, rng.gen(), 64, 1, frag, &[], &payload));
            let meta = wire::parse(&f).unwrap();
            if let Some(r) = LogRecord::capture(&s, &f, &meta, &ctx_in(), 0) {
                let _ = r.line();
            }
        }
    }
}
