//! Probe frames for the differential tests: builders for Ethernet + IPv4 /
//! IPv6 datagrams carrying TCP (flags, options, payload), UDP or ICMP, with
//! every checksum complete, as frames from a real wire are; and the
//! frame-out side — [`Captured`], a readable one-line [`summarize`] of a
//! frame for assertion messages, and [`diff`] of two capture lists.
//!
//! Owns no state and does no I/O. Headers are written with the dataplane's
//! `wire` views and `Repr`s, so the probes and sluice agree on the layout by
//! construction; the kernel is what checks both.
//!
//! The frame-in / frame-out shape is the same for both halves of a
//! differential test: a list of `(port, frame)` probes goes in, a list of
//! [`Captured`] frames (port, bytes, which probe caused it) comes out.

use std::fmt;
use std::net::IpAddr;

use sluice_dataplane::wire::{
    self, arp, checksum, ethernet, icmpv4, icmpv6, ipv4, ipv6, tcp, udp, EtherType, IpProtocol,
    L4Status,
};

pub use sluice_dataplane::wire::MacAddr;

/// One frame that left the router: on which port, its bytes from the
/// Ethernet header on, and the index (into the probe list) of the probe that
/// was sent last before it was seen.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Captured {
    pub probe: usize,
    pub port: String,
    pub frame: Vec<u8>,
}

impl Captured {
    /// [`summarize`] of the frame.
    pub fn summary(&self) -> String {
        summarize(&self.frame)
    }

    /// The parsed frame; panics with the summary when it does not parse
    /// (for tests).
    pub fn meta(&self) -> wire::PacketMeta {
        wire::parse(&self.frame)
            .unwrap_or_else(|e| panic!("captured frame does not parse ({e}): {self}"))
    }

    /// The Ethernet source address (zero for a runt).
    pub fn src_mac(&self) -> MacAddr {
        mac_at(&self.frame, 6)
    }

    /// The Ethernet destination address (zero for a runt).
    pub fn dst_mac(&self) -> MacAddr {
        mac_at(&self.frame, 0)
    }
}

impl fmt::Display for Captured {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "#{} {}: {}", self.probe, self.port, self.summary())
    }
}

/// Every capture on its own line, for assertion messages; `(nothing)` when
/// empty.
pub fn describe(captured: &[Captured]) -> String {
    if captured.is_empty() {
        return "(nothing)".to_string();
    }
    captured
        .iter()
        .map(|c| format!("  {c}"))
        .collect::<Vec<_>>()
        .join("\n")
}

/// Compares what the oracle emitted with what sluice emitted, byte for byte.
/// Within one probe the order across ports is not significant (the kernel
/// gives no order between two egress queues), so both lists are sorted by
/// (probe, port, bytes) first. `None` when they agree; otherwise both lists
/// summarized, and for frames at the same position the first differing byte.
///
/// Fields the kernel chooses at random (the IPv4 identification of ICMP
/// errors it originates) must be masked by the caller first:
/// [`mask_ipv4_ident`].
pub fn diff(oracle: &[Captured], actual: &[Captured]) -> Option<String> {
    let mut a = oracle.to_vec();
    let mut b = actual.to_vec();
    a.sort();
    b.sort();
    if a == b {
        return None;
    }
    let mut out = format!(
        "oracle emitted {} frame(s):\n{}\nsluice emitted {} frame(s):\n{}",
        a.len(),
        describe(&a),
        b.len(),
        describe(&b)
    );
    for (x, y) in a.iter().zip(&b) {
        if x == y {
            continue;
        }
        if x.probe != y.probe || x.port != y.port {
            out.push_str(&format!(
                "\nfirst difference: #{} {} vs #{} {}",
                x.probe, x.port, y.probe, y.port
            ));
        } else {
            let at = x
                .frame
                .iter()
                .zip(&y.frame)
                .position(|(p, q)| p != q)
                .unwrap_or(x.frame.len().min(y.frame.len()));
            out.push_str(&format!(
                "\nfirst difference: #{} {} at byte {at} (lengths {} and {})",
                x.probe,
                x.port,
                x.frame.len(),
                y.frame.len()
            ));
        }
        break;
    }
    Some(out)
}

/// Sets the IPv4 identification of an IPv4 frame to 0 and fixes the header
/// checksum; other frames are left alone. For frames the router originates
/// (ICMP errors), whose identification the kernel draws from a hashed
/// counter.
pub fn mask_ipv4_ident(frame: &mut [u8]) {
    let Ok(meta) = wire::parse(frame) else {
        return;
    };
    if meta.ip_version != 4 {
        return;
    }
    let mut ip = ipv4::Packet::new_unchecked(&mut frame[meta.l3_off as usize..]);
    ip.set_ident(0);
    ip.fill_checksum();
}

/// Lower-case hex, two digits a byte, no separators.
pub fn hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut s = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        s.push(DIGITS[(b >> 4) as usize] as char);
        s.push(DIGITS[(b & 0xf) as usize] as char);
    }
    s
}

/// The bytes of a hex string (either case; whitespace ignored).
pub fn unhex(text: &str) -> Result<Vec<u8>, String> {
    let digits: Vec<u8> = text.bytes().filter(|b| !b.is_ascii_whitespace()).collect();
    let pairs = digits.chunks_exact(2);
    if !pairs.remainder().is_empty() {
        return Err(format!("odd number of hex digits ({})", digits.len()));
    }
    pairs
        .map(|pair| {
            let hi = (pair[0] as char).to_digit(16);
            let lo = (pair[1] as char).to_digit(16);
            match (hi, lo) {
                (Some(h), Some(l)) => Ok((h * 16 + l) as u8),
                _ => Err(format!(
                    "not a hex byte: {:?}",
                    String::from_utf8_lossy(pair)
                )),
            }
        })
        .collect()
}

/// Parses `aa:bb:cc:dd:ee:ff`.
pub fn parse_mac(text: &str) -> Result<MacAddr, String> {
    let parts: Vec<&str> = text.split(':').collect();
    if parts.len() != 6 {
        return Err(format!("not a MAC address: {text:?}"));
    }
    let mut mac = [0u8; 6];
    for (b, p) in mac.iter_mut().zip(parts) {
        *b = u8::from_str_radix(p, 16)
            .ok()
            .filter(|_| p.len() == 2)
            .ok_or_else(|| format!("not a MAC address: {text:?}"))?;
    }
    Ok(MacAddr(mac))
}

fn mac_at(frame: &[u8], at: usize) -> MacAddr {
    let mut m = [0u8; 6];
    if let Some(b) = frame.get(at..at + 6) {
        m.copy_from_slice(b);
    }
    MacAddr(m)
}

// ---------------------------------------------------------------------------
// Builders.

/// The Ethernet and IP headers of a probe; the `udp`, `tcp`, `icmp*` and
/// `ip` methods add the transport layer and return the whole frame.
///
/// Defaults: TTL 64, TOS 0, identification 1, DF clear, flow label 0. The
/// IP version follows the addresses (both must be of one family).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct IpFrame {
    pub src_mac: MacAddr,
    pub dst_mac: MacAddr,
    pub src: IpAddr,
    pub dst: IpAddr,
    /// TTL / hop limit.
    pub ttl: u8,
    /// TOS / traffic class (DSCP and ECN).
    pub tos: u8,
    /// IPv4 identification; unused for IPv6.
    pub ident: u16,
    /// IPv4 don't-fragment; unused for IPv6.
    pub dont_frag: bool,
}

impl IpFrame {
    /// Panics when `src` and `dst` are of different families.
    pub fn new(
        src_mac: MacAddr,
        dst_mac: MacAddr,
        src: impl Into<IpAddr>,
        dst: impl Into<IpAddr>,
    ) -> IpFrame {
        let (src, dst) = (src.into(), dst.into());
        assert_eq!(
            src.is_ipv4(),
            dst.is_ipv4(),
            "probe addresses {src} and {dst} are of different families"
        );
        IpFrame {
            src_mac,
            dst_mac,
            src,
            dst,
            ttl: 64,
            tos: 0,
            ident: 1,
            dont_frag: false,
        }
    }

    pub fn ttl(mut self, ttl: u8) -> IpFrame {
        self.ttl = ttl;
        self
    }

    pub fn tos(mut self, tos: u8) -> IpFrame {
        self.tos = tos;
        self
    }

    pub fn ident(mut self, ident: u16) -> IpFrame {
        self.ident = ident;
        self
    }

    pub fn dont_frag(mut self, on: bool) -> IpFrame {
        self.dont_frag = on;
        self
    }

    /// A UDP datagram, checksum filled.
    pub fn udp(&self, src_port: u16, dst_port: u16, payload: &[u8]) -> Vec<u8> {
        let mut l4 = vec![0u8; udp::HEADER_LEN + payload.len()];
        l4[udp::HEADER_LEN..].copy_from_slice(payload);
        let repr = udp::Repr { src_port, dst_port };
        repr.emit(
            &mut udp::Packet::new_unchecked(&mut l4[..]),
            &self.src,
            &self.dst,
        );
        self.ip(IpProtocol::UDP.0, &l4)
    }

    /// A TCP segment, options padded to a 4-byte boundary with End of
    /// Option List, checksum filled.
    pub fn tcp(&self, seg: &Tcp) -> Vec<u8> {
        let opt_len = seg.options.len().div_ceil(4) * 4;
        let header_len = tcp::HEADER_LEN + opt_len;
        assert!(header_len <= 60, "TCP options longer than 40 bytes");
        let mut l4 = vec![0u8; header_len + seg.payload.len()];
        l4[tcp::HEADER_LEN..tcp::HEADER_LEN + seg.options.len()].copy_from_slice(&seg.options);
        l4[header_len..].copy_from_slice(&seg.payload);
        let repr = tcp::Repr {
            src_port: seg.src_port,
            dst_port: seg.dst_port,
            seq_number: seg.seq,
            ack_number: seg.ack,
            flags: seg.flags,
            window_len: seg.window,
            urgent_at: seg.urgent,
        };
        let mut packet = tcp::Packet::new_unchecked(&mut l4[..]);
        repr.emit(&mut packet, &self.src, &self.dst);
        packet.set_header_len(header_len);
        packet.fill_checksum(&self.src, &self.dst);
        self.ip(IpProtocol::TCP.0, &l4)
    }

    /// An echo request (ICMP type 8, or ICMPv6 type 128 for IPv6).
    pub fn icmp_echo(&self, ident: u16, seq: u16, payload: &[u8]) -> Vec<u8> {
        let msg_type = if self.src.is_ipv4() {
            icmpv4::types::ECHO_REQUEST
        } else {
            icmpv6::types::ECHO_REQUEST
        };
        let word = (u32::from(ident) << 16) | u32::from(seq);
        self.icmp(msg_type, 0, word, payload)
    }

    /// Any ICMP (IPv4) or ICMPv6 (IPv6) message: type, code, the second
    /// 32-bit word (identifier and sequence, pointer, MTU, ...) and the
    /// data; checksum filled.
    pub fn icmp(&self, msg_type: u8, code: u8, word: u32, data: &[u8]) -> Vec<u8> {
        let mut l4 = vec![0u8; 8 + data.len()];
        l4[0] = msg_type;
        l4[1] = code;
        l4[4..8].copy_from_slice(&word.to_be_bytes());
        l4[8..].copy_from_slice(data);
        if self.src.is_ipv4() {
            icmpv4::Packet::new_unchecked(&mut l4[..]).fill_checksum();
            self.ip(IpProtocol::ICMP.0, &l4)
        } else {
            icmpv6::Packet::new_unchecked(&mut l4[..]).fill_checksum(&self.src, &self.dst);
            self.ip(IpProtocol::ICMPV6.0, &l4)
        }
    }

    /// The IP header (no options, no extension headers) followed by `l4` as
    /// given: nothing in it is checked or filled.
    pub fn ip(&self, protocol: u8, l4: &[u8]) -> Vec<u8> {
        let (ethertype, ip_len) = match self.src {
            IpAddr::V4(_) => (EtherType::IPV4, ipv4::HEADER_LEN),
            IpAddr::V6(_) => (EtherType::IPV6, ipv6::HEADER_LEN),
        };
        let mut frame = vec![0u8; ethernet::HEADER_LEN + ip_len + l4.len()];
        ethernet::Repr {
            src_addr: self.src_mac,
            dst_addr: self.dst_mac,
            ethertype,
        }
        .emit(&mut ethernet::Packet::new_unchecked(&mut frame[..]));
        let l3 = &mut frame[ethernet::HEADER_LEN..];
        match (self.src, self.dst) {
            (IpAddr::V4(src_addr), IpAddr::V4(dst_addr)) => ipv4::Repr {
                src_addr,
                dst_addr,
                protocol: IpProtocol(protocol),
                tos: self.tos,
                ident: self.ident,
                dont_frag: self.dont_frag,
                ttl: self.ttl,
                payload_len: l4.len(),
            }
            .emit(&mut ipv4::Packet::new_unchecked(&mut l3[..])),
            (IpAddr::V6(src_addr), IpAddr::V6(dst_addr)) => ipv6::Repr {
                src_addr,
                dst_addr,
                next_header: IpProtocol(protocol),
                traffic_class: self.tos,
                flow_label: 0,
                hop_limit: self.ttl,
                payload_len: l4.len().min(u16::MAX as usize) as u16,
            }
            .emit(&mut ipv6::Packet::new_unchecked(&mut l3[..])),
            _ => unreachable!("IpFrame::new checks the families"),
        }
        frame[ethernet::HEADER_LEN + ip_len..].copy_from_slice(l4);
        frame
    }
}

/// A TCP segment for [`IpFrame::tcp`]. `options` are raw option bytes
/// ([`tcp_opt`] builds the common ones).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Tcp {
    pub src_port: u16,
    pub dst_port: u16,
    pub seq: u32,
    pub ack: u32,
    /// Bits of [`tcp::flags`].
    pub flags: u8,
    pub window: u16,
    pub urgent: u16,
    pub options: Vec<u8>,
    pub payload: Vec<u8>,
}

impl Tcp {
    /// Sequence number 1000, acknowledgment 0, window 64240, no options, no
    /// data.
    pub fn new(src_port: u16, dst_port: u16, flags: u8) -> Tcp {
        Tcp {
            src_port,
            dst_port,
            seq: 1000,
            ack: 0,
            flags,
            window: 64240,
            urgent: 0,
            options: Vec::new(),
            payload: Vec::new(),
        }
    }

    pub fn seq(mut self, seq: u32) -> Tcp {
        self.seq = seq;
        self
    }

    pub fn ack(mut self, ack: u32) -> Tcp {
        self.ack = ack;
        self
    }

    pub fn window(mut self, window: u16) -> Tcp {
        self.window = window;
        self
    }

    /// Appends raw option bytes.
    pub fn option(mut self, bytes: &[u8]) -> Tcp {
        self.options.extend_from_slice(bytes);
        self
    }

    pub fn payload(mut self, data: &[u8]) -> Tcp {
        self.payload = data.to_vec();
        self
    }
}

/// Encoded TCP options (RFC 9293 §3.2, RFC 7323, RFC 2018).
pub mod tcp_opt {
    use sluice_dataplane::wire::tcp::kind;

    pub fn mss(mss: u16) -> [u8; 4] {
        let [hi, lo] = mss.to_be_bytes();
        [kind::MSS, 4, hi, lo]
    }

    pub fn window_scale(shift: u8) -> [u8; 3] {
        [kind::WINDOW_SCALE, 3, shift]
    }

    pub fn sack_permitted() -> [u8; 2] {
        [kind::SACK_PERMITTED, 2]
    }

    pub fn timestamps(value: u32, echo: u32) -> [u8; 10] {
        let mut o = [0u8; 10];
        o[0] = kind::TIMESTAMPS;
        o[1] = 10;
        o[2..6].copy_from_slice(&value.to_be_bytes());
        o[6..].copy_from_slice(&echo.to_be_bytes());
        o
    }

    pub fn nop() -> [u8; 1] {
        [kind::NOP]
    }
}

// ---------------------------------------------------------------------------
// Summaries.

/// One line saying what a frame is, in tcpdump's manner, for assertion
/// messages: MACs, addresses, TTL, IPv4 identification, protocol, ports,
/// TCP flags/seq/ack/MSS, ICMP type/code with the quoted datagram, ARP
/// operation; a transport checksum that does not verify is flagged
/// `BAD-CSUM` (a partial, offloaded checksum shows up so).
pub fn summarize(frame: &[u8]) -> String {
    let eth = match ethernet::Packet::new_checked(frame) {
        Ok(eth) => eth,
        Err(e) => return format!("runt frame ({e}): {}", hex(frame)),
    };
    let head = format!("{} > {}", eth.src_addr(), eth.dst_addr());
    let meta = match wire::parse(frame) {
        Ok(meta) => meta,
        Err(e) => {
            return format!(
                "{head} ethertype {} unparsed ({e}), {} bytes",
                eth.ethertype(),
                frame.len()
            )
        }
    };
    let mut s = head;
    for vid in &meta.vlan_ids[..meta.vlan_count as usize] {
        s.push_str(&format!(" vlan {vid}"));
    }
    let l3 = meta.l3(frame);
    if meta.ethertype == EtherType::ARP {
        let a = arp::Packet::new_unchecked(l3);
        let op = match a.operation() {
            arp::Operation::Request => format!(
                "request who-has {} tell {}",
                a.target_protocol_addr(),
                a.sender_protocol_addr()
            ),
            arp::Operation::Reply => format!(
                "reply {} is-at {}",
                a.sender_protocol_addr(),
                a.sender_hardware_addr()
            ),
            arp::Operation::Other(v) => format!("operation {v}"),
        };
        return format!("{s}, ARP {op}");
    }
    let family = if meta.ip_version == 4 { "IPv4" } else { "IPv6" };
    s.push_str(&format!(
        ", {family} {} > {} ttl {}",
        meta.src, meta.dst, meta.ttl
    ));
    if meta.ip_version == 4 {
        s.push_str(&format!(" id {}", meta.ident));
        if meta.dont_frag {
            s.push_str(" DF");
        }
    }
    if meta.tos != 0 {
        s.push_str(&format!(" tos {:#04x}", meta.tos));
    }
    if meta.is_fragment() {
        s.push_str(&format!(
            " frag off {}{}",
            meta.frag_offset,
            if meta.more_frags { " MF" } else { "" }
        ));
    }
    s.push_str(&format!(" len {}", meta.ip_len));
    let l4 = meta.l4(frame);
    let csum_ok = match meta.protocol {
        IpProtocol::TCP | IpProtocol::UDP if meta.l4 == L4Status::Parsed => {
            let zero_udp = meta.protocol == IpProtocol::UDP && l4[6..8] == [0, 0];
            zero_udp || checksum::transport(&meta.src, &meta.dst, meta.protocol.0, l4) == 0
        }
        IpProtocol::ICMP if meta.l4 == L4Status::Parsed => checksum::checksum(l4) == 0,
        IpProtocol::ICMPV6 if meta.l4 == L4Status::Parsed => {
            checksum::transport(&meta.src, &meta.dst, meta.protocol.0, l4) == 0
        }
        _ => true,
    };
    s.push_str(", ");
    s.push_str(&transport(&meta, l4));
    if !csum_ok {
        s.push_str(" BAD-CSUM");
    }
    s
}

/// The transport part of a summary.
fn transport(meta: &wire::PacketMeta, l4: &[u8]) -> String {
    match meta.l4 {
        L4Status::Parsed => {}
        L4Status::Fragment => return format!("protocol {} (fragment)", meta.protocol),
        L4Status::Invalid => return format!("protocol {} (invalid header)", meta.protocol),
        L4Status::Absent | L4Status::Opaque => {
            return format!("protocol {}, {} bytes", meta.protocol, l4.len())
        }
    }
    match meta.protocol {
        IpProtocol::TCP => {
            let t = tcp::Packet::new_unchecked(l4);
            let mut s = format!(
                "TCP {} > {} [{}] seq {} ack {} win {}",
                t.src_port(),
                t.dst_port(),
                tcp_flags(t.flags()),
                t.seq_number(),
                t.ack_number(),
                t.window_len()
            );
            if let Some(mss) = t.mss() {
                s.push_str(&format!(" mss {mss}"));
            }
            if !t.payload().is_empty() {
                s.push_str(&format!(" data {}", t.payload().len()));
            }
            s
        }
        IpProtocol::UDP => {
            let u = udp::Packet::new_unchecked(l4);
            format!(
                "UDP {} > {} data {}",
                u.src_port(),
                u.dst_port(),
                u.payload().len()
            )
        }
        IpProtocol::ICMP => {
            let i = icmpv4::Packet::new_unchecked(l4);
            let mut s = format!(
                "ICMP {}/{} {}",
                i.msg_type(),
                i.msg_code(),
                icmp_name(i.msg_type(), i.msg_code())
            );
            if icmpv4::is_query_type(i.msg_type()) {
                s.push_str(&format!(" id {} seq {}", i.echo_ident(), i.echo_seq_no()));
            }
            if let Some(quoted) = i.original_datagram() {
                s.push_str(&format!(" [quoting {}]", quoted_v4(quoted)));
            }
            s
        }
        IpProtocol::ICMPV6 => {
            let i = icmpv6::Packet::new_unchecked(l4);
            let mut s = format!("ICMPv6 {}/{}", i.msg_type(), i.msg_code());
            if matches!(
                i.msg_type(),
                icmpv6::types::ECHO_REQUEST | icmpv6::types::ECHO_REPLY
            ) {
                s.push_str(&format!(" id {} seq {}", i.echo_ident(), i.echo_seq_no()));
            }
            if let Some(target) = i.target_addr() {
                s.push_str(&format!(" target {target}"));
            }
            s
        }
        p => format!("protocol {p} ports {} > {}", meta.src_port, meta.dst_port),
    }
}

/// tcpdump's flag letters: S F R P U E W, `.` for ACK.
fn tcp_flags(f: u8) -> String {
    use tcp::flags::*;
    let mut s = String::new();
    for (bit, c) in [
        (SYN, 'S'),
        (FIN, 'F'),
        (RST, 'R'),
        (PSH, 'P'),
        (URG, 'U'),
        (ECE, 'E'),
        (CWR, 'W'),
        (ACK, '.'),
    ] {
        if f & bit != 0 {
            s.push(c);
        }
    }
    if s.is_empty() {
        s.push_str("none");
    }
    s
}

fn icmp_name(t: u8, code: u8) -> &'static str {
    use icmpv4::types::*;
    match (t, code) {
        (ECHO_REPLY, _) => "echo-reply",
        (ECHO_REQUEST, _) => "echo-request",
        (DEST_UNREACHABLE, 0) => "net-unreachable",
        (DEST_UNREACHABLE, 1) => "host-unreachable",
        (DEST_UNREACHABLE, 2) => "protocol-unreachable",
        (DEST_UNREACHABLE, 3) => "port-unreachable",
        (DEST_UNREACHABLE, 4) => "frag-needed",
        (DEST_UNREACHABLE, 9) => "net-prohibited",
        (DEST_UNREACHABLE, 10) => "host-prohibited",
        (DEST_UNREACHABLE, 13) => "admin-prohibited",
        (DEST_UNREACHABLE, _) => "unreachable",
        (REDIRECT, _) => "redirect",
        (TIME_EXCEEDED, _) => "time-exceeded",
        (PARAM_PROBLEM, _) => "parameter-problem",
        _ => "",
    }
}

/// The quoted datagram of an ICMP error: addresses, protocol, ports, TTL.
fn quoted_v4(quoted: &[u8]) -> String {
    let Ok(ip) = ipv4::Packet::new_checked_header(quoted) else {
        return format!("{} bytes", quoted.len());
    };
    let rest = &quoted[ip.header_len()..];
    let ports = match ip.protocol() {
        IpProtocol::TCP | IpProtocol::UDP if rest.len() >= 4 => format!(
            ":{} > {}:{}",
            u16::from_be_bytes([rest[0], rest[1]]),
            ip.dst_addr(),
            u16::from_be_bytes([rest[2], rest[3]])
        ),
        _ => format!(" > {}", ip.dst_addr()),
    };
    let proto = match ip.protocol() {
        IpProtocol::TCP => "TCP".to_string(),
        IpProtocol::UDP => "UDP".to_string(),
        IpProtocol::ICMP => "ICMP".to_string(),
        p => format!("protocol {p}"),
    };
    format!("{proto} {}{ports} ttl {}", ip.src_addr(), ip.ttl())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::{Ipv4Addr, Ipv6Addr};

    const A: MacAddr = MacAddr([2, 0, 0, 0, 1, 1]);
    const B: MacAddr = MacAddr([2, 0, 0, 0, 0, 1]);

    fn v4() -> IpFrame {
        IpFrame::new(A, B, Ipv4Addr::new(10, 0, 1, 2), Ipv4Addr::new(10, 0, 2, 2))
    }

    #[test]
    fn udp_frame_parses_with_valid_checksums() {
        let f = v4().ttl(9).ident(77).udp(40000, 9, b"ping");
        assert_eq!(f.len(), 14 + 20 + 8 + 4);
        let m = wire::parse(&f).unwrap();
        assert_eq!(m.ttl, 9);
        assert_eq!(m.ident, 77);
        assert_eq!((m.src_port, m.dst_port), (40000, 9));
        assert!(udp::Packet::new_checked(m.l4(&f))
            .unwrap()
            .verify_checksum(&m.src, &m.dst));
        assert_eq!(
            summarize(&f),
            "02:00:00:00:01:01 > 02:00:00:00:00:01, IPv4 10.0.1.2 > 10.0.2.2 ttl 9 id 77 \
             len 32, UDP 40000 > 9 data 4"
        );
    }

    #[test]
    fn tcp_frame_with_options() {
        let seg = Tcp::new(40000, 80, tcp::flags::SYN)
            .option(&tcp_opt::mss(1460))
            .option(&tcp_opt::sack_permitted())
            .option(&tcp_opt::window_scale(7));
        let f = v4().dont_frag(true).tcp(&seg);
        // 4 + 2 + 3 option bytes, padded to 12.
        assert_eq!(f.len(), 14 + 20 + 20 + 12);
        let m = wire::parse(&f).unwrap();
        assert_eq!(m.tcp_flags, tcp::flags::SYN);
        let t = tcp::Packet::new_checked(m.l4(&f)).unwrap();
        assert_eq!(t.header_len(), 32);
        assert_eq!(t.mss(), Some(1460));
        assert!(t.verify_checksum(&m.src, &m.dst));
        assert!(summarize(&f)
            .ends_with("DF len 52, TCP 40000 > 80 [S] seq 1000 ack 0 win 64240 mss 1460"));
    }

    #[test]
    fn icmp_echo_v4_and_v6() {
        let f = v4().icmp_echo(7, 3, b"abcd");
        let m = wire::parse(&f).unwrap();
        assert_eq!((m.icmp_type, m.icmp_id), (8, 7));
        assert!(summarize(&f).ends_with("ICMP 8/0 echo-request id 7 seq 3"));
        let f6 = IpFrame::new(
            A,
            B,
            "fd00:1::2".parse::<Ipv6Addr>().unwrap(),
            "fd00:2::2".parse::<Ipv6Addr>().unwrap(),
        )
        .icmp_echo(7, 3, b"abcd");
        let m6 = wire::parse(&f6).unwrap();
        assert_eq!((m6.ip_version, m6.icmp_type, m6.icmp_id), (6, 128, 7));
        assert!(icmpv6::Packet::new_checked(m6.l4(&f6))
            .unwrap()
            .verify_checksum(&m6.src, &m6.dst));
        assert!(!summarize(&f6).contains("BAD-CSUM"));
    }

    #[test]
    fn icmp_error_summary_quotes_the_datagram() {
        let probe = v4().udp(40000, 9, b"x");
        let quoted = &probe[14..14 + 28];
        let err = IpFrame::new(B, A, Ipv4Addr::new(10, 0, 1, 1), Ipv4Addr::new(10, 0, 1, 2))
            .icmp(3, 3, 0, quoted);
        assert!(summarize(&err).ends_with(
            "ICMP 3/3 port-unreachable [quoting UDP 10.0.1.2:40000 > 10.0.2.2:9 ttl 64]"
        ));
    }

    #[test]
    fn bad_checksum_is_flagged() {
        let mut f = v4().udp(1, 2, b"");
        let n = f.len();
        f[n - 1] ^= 0xff;
        assert!(summarize(&f).ends_with("BAD-CSUM"));
    }

    #[test]
    fn mask_ident_keeps_the_header_valid() {
        let mut f = v4().ident(0x1234).udp(1, 2, b"");
        mask_ipv4_ident(&mut f);
        let m = wire::parse(&f).unwrap();
        assert_eq!(m.ident, 0);
    }

    #[test]
    fn hex_round_trip_and_mac() {
        let b = [0u8, 1, 0xab, 0xff];
        assert_eq!(hex(&b), "0001abff");
        assert_eq!(unhex("00 01AB ff").unwrap(), b);
        assert!(unhex("abc").is_err());
        assert!(unhex("zz").is_err());
        assert_eq!(
            parse_mac("02:00:00:00:00:0a").unwrap(),
            MacAddr([2, 0, 0, 0, 0, 10])
        );
        assert!(parse_mac("02:00:00:00:00").is_err());
    }

    #[test]
    fn diff_ignores_order_within_a_probe() {
        let c = |probe, port: &str, b: u8| Captured {
            probe,
            port: port.into(),
            frame: vec![b; 20],
        };
        assert_eq!(
            diff(
                &[c(0, "r1", 1), c(0, "r2", 2)],
                &[c(0, "r2", 2), c(0, "r1", 1)]
            ),
            None
        );
        let d = diff(&[c(0, "r1", 1)], &[c(0, "r1", 2)]).unwrap();
        assert!(d.contains("first difference: #0 r1 at byte 0"), "{d}");
    }
}
