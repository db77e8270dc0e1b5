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
//! IPv6 (`nf_log_ip6_packet`, `dump_ipv6_packet`): the same prefix, `IN=`,
//! `OUT=` and `MAC=` (or `MACSRC= MACDST= MACPROTO=`), then
//!
//! ```text
//! SRC=<a> DST=<a> LEN=<payload + 40> TC=<n> HOPLIMIT=<n> FLOWLBL=<n> <ext>PROTO=...
//! ```
//!
//! * addresses as `%pI6`: eight groups of four hex digits, nothing
//!   compressed; `TC=` and `FLOWLBL=` decimal.
//! * `<ext>`: for each extension header walked (hop-by-hop, routing,
//!   fragment, AH, ESP, destination options), with `--log-ip-options`
//!   `OPT ( ... ) `; a fragment header always prints `FRAG:<offset in
//!   bytes> [INCOMPLETE ]ID:<%08x> ` (`INCOMPLETE` for M set), AH (with
//!   the flag) `AH SPI=0x<spi> `; ESP ends the dump (`ESP SPI=0x<spi> )`).
//!   Options headers after a non-first fragment end it too. sluice keeps
//!   the first [`EXT6_MAX`] extension headers of a record.
//! * TCP and UDP as for IPv4; ICMPv6: `PROTO=ICMPv6 TYPE= CODE= `, then
//!   `ID= SEQ= ` (echo), `POINTER=%08x ` (parameter problem), the quoted
//!   packet in `[...] ` (errors: types 1-4, once), `MTU= ` (too big).
//!   A non-first fragment prints `PROTO=ICMPv6 ` only; fewer than 8 bytes
//!   `INCOMPLETE [n bytes] ` and the dump stops. Anything else `PROTO=<n> `.
//!
//! Bridge fields (`PHYSIN=`, `PHYSOUT=`) never apply to a router.

use std::fmt;
use std::net::{Ipv4Addr, Ipv6Addr};

use sluice_config::iptables::ext::t_log::{Log, LogLevel};

use crate::wire::MacAddr;

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

/// Longest prefix the kernel keeps, in bytes.
pub const PREFIX_MAX: usize = 29;
/// Room for a prefix as the config holds it: a byte that is not UTF-8 is a
/// 4-byte private-use character there (`sluice_config::iptables::bytes`),
/// turned back into the byte where the line is written out.
pub const PREFIX_CAP: usize = PREFIX_MAX * 4;
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
    pub prefix: InlineStr<PREFIX_CAP>,
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
    /// `PROTO=ICMPv6 ` (non-first fragment).
    Icmp6Fragment,
    /// `PROTO=ICMPv6 INCOMPLETE [n bytes] ` — the dump stops.
    Icmp6Incomplete(u32),
    /// `PROTO=ICMPv6 TYPE= CODE= ` and the type's part.
    Icmp6 {
        ty: u8,
        code: u8,
        body: Icmp6Body,
    },
}

/// What follows `TYPE= CODE= ` in an ICMPv6 dump.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Icmp6Body {
    Plain,
    /// Echo request / reply: `ID= SEQ= `.
    Echo {
        id: u16,
        seq: u16,
    },
    /// Destination unreachable, packet too big, time exceeded, parameter
    /// problem: `POINTER=%08x ` (parameter problem), the quoted packet
    /// (outer dump only, in [`LogRecord::inner`]), `MTU= ` (too big).
    Error {
        pointer: Option<u32>,
        mtu: Option<u32>,
    },
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

/// Extension headers an IPv6 record keeps (the kernel walks them all; a
/// packet with more has the rest left out of its line).
pub const EXT6_MAX: usize = 8;

/// One extension header of an IPv6 dump, walked as `dump_ipv6_packet`
/// walks them. With `--log-ip-options` each is printed as `OPT ( ... ) `.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ext6Log {
    /// Hop-by-hop, routing or destination options: nothing but the
    /// `OPT ( ) ` frame.
    Opts,
    /// `FRAG:<offset> [INCOMPLETE ]ID:<id, %08x> ` (printed always).
    Frag { offset: u16, more: bool, id: u32 },
    /// `AH SPI=0x<spi> ` (with `--log-ip-options` only).
    Ah { spi: u32 },
}

/// How the walk over the extension headers ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ext6End {
    /// At the upper layer: [`Ipv6Log::l4`] follows.
    Upper,
    /// An extension header cut short: `TRUNCATED`, the dump stops.
    Truncated,
    /// A fragment header cut short: `FRAG:TRUNCATED `, the dump stops.
    FragTruncated,
    /// Options or routing after a non-first fragment: `)` (with
    /// `--log-ip-options`), the dump stops.
    OptsAfterFragment,
    /// AH after a non-first fragment: `AH )`, the dump stops.
    AhAfterFragment,
    /// `AH INCOMPLETE [n bytes] )`, the dump stops.
    AhIncomplete(u32),
    /// ESP ends the dump: `ESP SPI=0x<spi> )` with `--log-ip-options`
    /// (`None`: after a non-first fragment, `ESP )`), nothing without.
    Esp(Option<u32>),
    /// `ESP INCOMPLETE [n bytes] )`, the dump stops.
    EspIncomplete(u32),
}

/// One IPv6 header dump and what follows it (`dump_ipv6_packet`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Ipv6Log {
    pub src: Ipv6Addr,
    pub dst: Ipv6Addr,
    /// The payload length field plus 40.
    pub len: u32,
    pub tc: u8,
    pub hop_limit: u8,
    pub flow_label: u32,
    /// The extension headers walked (the first [`EXT6_MAX`]).
    pub ext: [Ext6Log; EXT6_MAX],
    pub ext_len: u8,
    pub end: Ext6End,
    pub l4: L4Log,
}

/// An IP header dump of either family.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IpLog {
    V4(Ipv4Log),
    V6(Ipv6Log),
}

/// The packet quoted in an ICMP error.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum InnerLog {
    /// Fewer than 20 (IPv6: 40) bytes quoted: `TRUNCATED`.
    Truncated,
    Ip(Ipv4Log),
    Ip6(Ipv6Log),
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
    pub prefix: InlineStr<PREFIX_CAP>,
    /// Empty when there is none.
    pub in_iface: InlineStr<IFNAME_MAX>,
    pub out_iface: InlineStr<IFNAME_MAX>,
    /// Present when there is an input interface.
    pub mac: Option<MacHeader>,
    pub ip: IpLog,
    /// The quoted packet of an ICMP error (outer dump only).
    pub inner: Option<InnerLog>,
    pub mark: u32,
    /// Printed with `--log-uid`.
    pub uid_gid: Option<(u32, u32)>,
}

mod capture;
mod format;
mod ring;
#[cfg(test)]
pub(super) mod tests;
mod v6;

pub use ring::{LogReader, LogRing};
