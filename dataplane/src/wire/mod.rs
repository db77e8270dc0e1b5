//! Zero-copy views over a frame's bytes, and the parse at the edge.
//!
//! Owns: the byte layout of every header a worker reads or rewrites —
//! [`ethernet`], [`vlan`] (802.1Q / 802.1ad), [`arp`], [`ipv4`], [`ipv6`]
//! (with the extension-header walk), [`tcp`], [`udp`], [`icmpv4`],
//! [`icmpv6`] — and the Internet checksum with its incremental update
//! ([`checksum`]). Touches nothing but the bytes it is given: no allocation,
//! no I/O, no state.
//!
//! Every header is a `Packet<T: AsRef<[u8]>>` view in smoltcp's manner:
//! `new_unchecked` wraps any buffer (accessors may then panic on a short
//! one); `new_checked` validates the lengths once and returns an [`Error`],
//! after which no accessor panics. Setters exist for `T: AsMut<[u8]>`, and
//! the fields a router rewrites (TTL, addresses, ports, MSS, ICMP
//! identifiers) have `rewrite_*` methods that also update the checksum
//! incrementally (RFC 1624). Field offsets live in each module's private
//! `field` module. Setters that change a length field (`set_header_len`,
//! `set_total_len`, ...) can make a checked view's invariants false; re-check
//! after using them.
//!
//! [`parse`] walks Ethernet → up to two VLAN tags → IPv4 / IPv6 / ARP → TCP,
//! UDP, ICMP, ICMPv6 (ports of SCTP, DCCP, UDP-Lite too) once, and fills a
//! [`PacketMeta`] that every later stage reads (STYLE.md habit 1).
//!
//! What `parse` rejects follows what the kernel drops before the PREROUTING
//! hook (`ip_rcv_core`, `ipv6_rcv` with `ipv6_parse_hopopts`, `arp_rcv`): a
//! bad IPv4 header (version, IHL, lengths, checksum), a bad IPv6 fixed header
//! or first hop-by-hop header, a short ARP packet. Problems past that point
//! (a truncated TCP header, an extension header chain that does not add up)
//! leave the packet to the rules, as in the kernel: the metadata says
//! [`L4Status::Invalid`] and carries no ports, as conntrack would say INVALID.

use std::fmt;
use std::net::{IpAddr, Ipv4Addr};

pub mod arp;
pub mod checksum;
pub mod ethernet;
pub mod icmpv4;
pub mod icmpv6;
pub mod ipv4;
pub mod ipv6;
pub mod tcp;
pub mod udp;
pub mod vlan;

#[cfg(test)]
mod tests;

pub use arp::ArpRepr;
pub use ethernet::MacAddr;

/// Why bytes are not the header they should be. Every parser in this module
/// returns one of these instead of panicking.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, thiserror::Error)]
pub enum Error {
    /// The buffer ends before the header does, or before a length field says
    /// the packet does.
    #[error("truncated packet")]
    Truncated,
    /// A field holds a value the protocol forbids.
    #[error("malformed packet: {0}")]
    Malformed(&'static str),
    /// Well-formed, but not something this dataplane handles.
    #[error("unsupported packet: {0}")]
    Unsupported(&'static str),
    /// A checksum that must verify does not (the IPv4 header checksum in
    /// [`parse`]).
    #[error("bad checksum")]
    Checksum,
}

impl Error {
    /// The reason part of a drop counter name (`parse.<reason>`).
    pub fn reason(&self) -> &'static str {
        match self {
            Error::Truncated => "truncated",
            Error::Malformed(_) => "malformed",
            Error::Unsupported(_) => "unsupported",
            Error::Checksum => "checksum",
        }
    }
}

pub type Result<T> = std::result::Result<T, Error>;

/// A field's byte range inside its header.
type Field = std::ops::Range<usize>;
/// From a byte to the end of the buffer.
type Rest = std::ops::RangeFrom<usize>;

#[inline]
fn be16(b: &[u8]) -> u16 {
    u16::from_be_bytes([b[0], b[1]])
}

#[inline]
fn be32(b: &[u8]) -> u32 {
    u32::from_be_bytes([b[0], b[1], b[2], b[3]])
}

#[inline]
fn put16(b: &mut [u8], v: u16) {
    b[..2].copy_from_slice(&v.to_be_bytes());
}

#[inline]
fn put32(b: &mut [u8], v: u32) {
    b[..4].copy_from_slice(&v.to_be_bytes());
}

#[inline]
fn ipv4_at(b: &[u8]) -> Ipv4Addr {
    Ipv4Addr::new(b[0], b[1], b[2], b[3])
}

/// An Ethernet type (or a VLAN TPID in the ethertype position).
#[derive(Clone, Copy, Default, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct EtherType(pub u16);

impl EtherType {
    pub const IPV4: EtherType = EtherType(0x0800);
    pub const ARP: EtherType = EtherType(0x0806);
    /// 802.1Q customer VLAN tag.
    pub const VLAN: EtherType = EtherType(0x8100);
    pub const IPV6: EtherType = EtherType(0x86dd);
    /// 802.1ad service VLAN tag (QinQ outer).
    pub const QINQ: EtherType = EtherType(0x88a8);

    /// True for the TPIDs [`parse`] treats as a VLAN tag.
    pub fn is_vlan(self) -> bool {
        self == EtherType::VLAN || self == EtherType::QINQ
    }
}

impl fmt::Debug for EtherType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "EtherType({:#06x})", self.0)
    }
}

impl fmt::Display for EtherType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:#06x}", self.0)
    }
}

/// An IP protocol number (IPv4 protocol, IPv6 next header), as
/// `iptables -p` takes it.
#[derive(Clone, Copy, Default, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct IpProtocol(pub u8);

impl IpProtocol {
    pub const HOPOPTS: IpProtocol = IpProtocol(0);
    pub const ICMP: IpProtocol = IpProtocol(1);
    pub const IGMP: IpProtocol = IpProtocol(2);
    pub const IPIP: IpProtocol = IpProtocol(4);
    pub const TCP: IpProtocol = IpProtocol(6);
    pub const UDP: IpProtocol = IpProtocol(17);
    pub const DCCP: IpProtocol = IpProtocol(33);
    pub const IPV6: IpProtocol = IpProtocol(41);
    pub const IPV6_ROUTE: IpProtocol = IpProtocol(43);
    pub const IPV6_FRAG: IpProtocol = IpProtocol(44);
    pub const GRE: IpProtocol = IpProtocol(47);
    pub const ESP: IpProtocol = IpProtocol(50);
    pub const AH: IpProtocol = IpProtocol(51);
    pub const ICMPV6: IpProtocol = IpProtocol(58);
    pub const IPV6_NONXT: IpProtocol = IpProtocol(59);
    pub const IPV6_OPTS: IpProtocol = IpProtocol(60);
    pub const SCTP: IpProtocol = IpProtocol(132);
    pub const UDPLITE: IpProtocol = IpProtocol(136);
}

impl fmt::Debug for IpProtocol {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "IpProtocol({})", self.0)
    }
}

impl fmt::Display for IpProtocol {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}

/// What [`parse`] found where the transport header should be.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
pub enum L4Status {
    /// No transport layer: ARP, or IPv6 No Next Header.
    #[default]
    Absent,
    /// A whole header was read: the ports (TCP, UDP, UDP-Lite, SCTP, DCCP),
    /// the TCP flags, the ICMP/ICMPv6 type, code and query identifier in
    /// [`PacketMeta`] are valid.
    Parsed,
    /// A protocol whose header `parse` does not read (GRE, ESP, AH-only,
    /// OSPF, ...); [`PacketMeta::l4_off`] says where it starts.
    Opaque,
    /// A non-first fragment: no transport header in this packet.
    Fragment,
    /// The transport header is cut short or malformed (or, for IPv6, the
    /// extension header chain before it is): the kernel's matches on it
    /// hotdrop, conntrack calls it INVALID.
    Invalid,
}

/// What every stage after the parse needs to know about a frame, read once.
/// Offsets are from the start of the frame; addresses are unspecified, ports
/// and ICMP fields zero, where they do not apply.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct PacketMeta {
    /// Offset of the Ethernet header.
    pub l2_off: u16,
    /// Offset of the IPv4 / IPv6 / ARP header.
    pub l3_off: u16,
    /// Offset of the transport header: after the IPv4 options or the IPv6
    /// extension headers (for a non-first fragment, of its data).
    pub l4_off: u16,
    /// Length of the frame as received.
    pub frame_len: u16,
    /// The ethertype after the VLAN tags.
    pub ethertype: EtherType,
    /// How many VLAN tags there were (0–2).
    pub vlan_count: u8,
    /// VLAN IDs, outer first; 0 where there is no tag.
    pub vlan_ids: [u16; 2],
    /// 4 or 6; 0 for ARP.
    pub ip_version: u8,
    /// IPv4 TOS / IPv6 traffic class (DSCP and ECN).
    pub tos: u8,
    /// IPv4 TTL / IPv6 hop limit.
    pub ttl: u8,
    /// IP source; for ARP the sender protocol address.
    pub src: IpAddr,
    /// IP destination; for ARP the target protocol address.
    pub dst: IpAddr,
    /// IPv4 protocol, or the IPv6 upper-layer header found by the walk.
    pub protocol: IpProtocol,
    /// IPv4 total length / 40 + IPv6 payload length; the frame may be
    /// longer (padding).
    pub ip_len: u16,
    /// IPv4 identification, or the IPv6 fragment header's identification.
    pub ident: u32,
    /// Fragment offset in bytes.
    pub frag_offset: u16,
    pub more_frags: bool,
    /// IPv4 DF; false for IPv6.
    pub dont_frag: bool,
    pub l4: L4Status,
    pub src_port: u16,
    pub dst_port: u16,
    /// The TCP flags byte (bits of [`tcp::flags`]).
    pub tcp_flags: u8,
    pub icmp_type: u8,
    pub icmp_code: u8,
    /// Identifier of an ICMP / ICMPv6 query (echo, timestamp, ...); 0 for
    /// other messages.
    pub icmp_id: u16,
}

impl PacketMeta {
    /// Nothing parsed yet.
    pub const EMPTY: PacketMeta = PacketMeta {
        l2_off: 0,
        l3_off: 0,
        l4_off: 0,
        frame_len: 0,
        ethertype: EtherType(0),
        vlan_count: 0,
        vlan_ids: [0; 2],
        ip_version: 0,
        tos: 0,
        ttl: 0,
        src: IpAddr::V4(Ipv4Addr::UNSPECIFIED),
        dst: IpAddr::V4(Ipv4Addr::UNSPECIFIED),
        protocol: IpProtocol(0),
        ip_len: 0,
        ident: 0,
        frag_offset: 0,
        more_frags: false,
        dont_frag: false,
        l4: L4Status::Absent,
        src_port: 0,
        dst_port: 0,
        tcp_flags: 0,
        icmp_type: 0,
        icmp_code: 0,
        icmp_id: 0,
    };

    /// True when the transport header was read whole.
    pub fn has_l4(&self) -> bool {
        self.l4 == L4Status::Parsed
    }

    /// A fragment of a larger IP packet (first or not).
    pub fn is_fragment(&self) -> bool {
        self.more_frags || self.frag_offset != 0
    }

    pub fn is_ip(&self) -> bool {
        self.ip_version != 0
    }

    /// The bytes from the L3 header to the end of the IP packet (padding
    /// excluded), of the frame this metadata was parsed from.
    pub fn l3<'a>(&self, frame: &'a [u8]) -> &'a [u8] {
        let start = (self.l3_off as usize).min(frame.len());
        let end = if self.is_ip() {
            start + self.ip_len as usize
        } else {
            frame.len()
        };
        &frame[start..end.clamp(start, frame.len())]
    }

    /// The bytes from the L4 header to the end of the IP packet.
    pub fn l4<'a>(&self, frame: &'a [u8]) -> &'a [u8] {
        let end = if self.is_ip() {
            self.l3_off as usize + self.ip_len as usize
        } else {
            frame.len()
        };
        let end = end.min(frame.len());
        &frame[(self.l4_off as usize).min(end)..end]
    }
}

impl Default for PacketMeta {
    fn default() -> Self {
        PacketMeta::EMPTY
    }
}

/// Parses a frame from its Ethernet header down to the transport header
/// (see the module docs for what is an error and what is
/// [`L4Status::Invalid`]). Frames other than IPv4, IPv6 and ARP, and frames
/// with more than two VLAN tags, are `Unsupported`.
pub fn parse(frame: &[u8]) -> Result<PacketMeta> {
    let mut meta = PacketMeta::EMPTY;
    parse_into(frame, &mut meta)?;
    Ok(meta)
}

/// [`parse`] into a caller's metadata slot (a batch's, so the metadata is
/// written once, in place). On error the slot holds a partial parse.
/// Always inlined: the receive loop's parse must not become a call when
/// the loop grows (it did, +17 instructions per packet).
#[inline(always)]
pub fn parse_into(frame: &[u8], meta: &mut PacketMeta) -> Result<()> {
    *meta = PacketMeta::EMPTY;
    if frame.len() > u16::MAX as usize {
        return Err(Error::Unsupported("frame longer than 65535 bytes"));
    }
    let eth = ethernet::Packet::new_checked(frame)?;
    meta.frame_len = frame.len() as u16;
    let mut ethertype = eth.ethertype();
    let mut off = ethernet::HEADER_LEN;
    while ethertype.is_vlan() {
        if meta.vlan_count == 2 {
            return Err(Error::Unsupported("more than two VLAN tags"));
        }
        let tag = vlan::Packet::new_checked(&frame[off..])?;
        meta.vlan_ids[meta.vlan_count as usize] = tag.vid();
        meta.vlan_count += 1;
        ethertype = tag.ethertype();
        off += vlan::HEADER_LEN;
    }
    meta.ethertype = ethertype;
    meta.l3_off = off as u16;
    let l3 = &frame[off..];
    match ethertype {
        EtherType::IPV4 => parse_ipv4(l3, meta),
        EtherType::IPV6 => parse_ipv6(l3, meta),
        EtherType::ARP => parse_arp(l3, meta),
        t if t.0 < 0x0600 => Err(Error::Unsupported("802.3 length, not an ethertype")),
        _ => Err(Error::Unsupported("ethertype")),
    }
}

fn parse_arp(l3: &[u8], meta: &mut PacketMeta) -> Result<()> {
    let arp = arp::Packet::new_checked(l3)?;
    meta.src = IpAddr::V4(arp.sender_protocol_addr());
    meta.dst = IpAddr::V4(arp.target_protocol_addr());
    meta.l4_off = meta.l3_off + arp::PACKET_LEN as u16;
    Ok(())
}

#[inline(always)]
fn parse_ipv4(l3: &[u8], meta: &mut PacketMeta) -> Result<()> {
    // The common header (version 4, IHL 5, a total length that fits,
    // checksum good) read from one fixed-size array: no bounds check per
    // field. Anything else takes the general path below, which gives the
    // same fields or the exact error.
    if let Some(h) = l3.first_chunk::<{ ipv4::HEADER_LEN }>() {
        let total = u16::from_be_bytes([h[2], h[3]]);
        let t = total as usize;
        if h[0] == 0x45 && (ipv4::HEADER_LEN..=l3.len()).contains(&t) && checksum::verifies20(h) {
            let flags = u16::from_be_bytes([h[6], h[7]]);
            meta.ip_version = 4;
            meta.tos = h[1];
            meta.ttl = h[8];
            meta.src = IpAddr::V4(Ipv4Addr::new(h[12], h[13], h[14], h[15]));
            meta.dst = IpAddr::V4(Ipv4Addr::new(h[16], h[17], h[18], h[19]));
            meta.protocol = IpProtocol(h[9]);
            meta.ip_len = total;
            meta.ident = u32::from(u16::from_be_bytes([h[4], h[5]]));
            meta.frag_offset = ipv4::frag_offset_of(flags);
            meta.more_frags = ipv4::more_frags_of(flags);
            meta.dont_frag = ipv4::dont_frag_of(flags);
            meta.l4_off = meta.l3_off + ipv4::HEADER_LEN as u16;
            if meta.frag_offset != 0 {
                meta.l4 = L4Status::Fragment;
                return Ok(());
            }
            parse_l4_common(&l3[ipv4::HEADER_LEN..t], meta);
            return Ok(());
        }
    }
    parse_ipv4_general(l3, meta)
}

/// [`parse_ipv4`] for any header (the reference the common header's path
/// must agree with: `tests::ipv4_fast_path_agrees`).
#[inline]
fn parse_ipv4_general(l3: &[u8], meta: &mut PacketMeta) -> Result<()> {
    let ip = ipv4::Packet::new_checked(l3)?;
    if !ip.verify_checksum() {
        return Err(Error::Checksum);
    }
    meta.ip_version = 4;
    meta.tos = ip.tos();
    meta.ttl = ip.ttl();
    meta.src = IpAddr::V4(ip.src_addr());
    meta.dst = IpAddr::V4(ip.dst_addr());
    meta.protocol = ip.protocol();
    meta.ip_len = ip.total_len();
    meta.ident = ip.ident() as u32;
    meta.frag_offset = ip.frag_offset();
    meta.more_frags = ip.more_frags();
    meta.dont_frag = ip.dont_frag();
    meta.l4_off = meta.l3_off + ip.header_len() as u16;
    if meta.frag_offset != 0 {
        meta.l4 = L4Status::Fragment;
        return Ok(());
    }
    parse_l4(ip.payload(), meta);
    Ok(())
}

fn parse_ipv6(l3: &[u8], meta: &mut PacketMeta) -> Result<()> {
    let ip = ipv6::Packet::new_checked(l3)?;
    meta.ip_version = 6;
    meta.tos = ip.traffic_class();
    meta.ttl = ip.hop_limit();
    meta.src = IpAddr::V6(ip.src_addr());
    meta.dst = IpAddr::V6(ip.dst_addr());
    meta.protocol = ip.next_header();
    meta.ip_len = ip.total_len() as u16;
    meta.l4_off = meta.l3_off + ipv6::HEADER_LEN as u16;
    let packet = &l3[..ip.total_len()];
    if ip.next_header() == IpProtocol::HOPOPTS {
        // ipv6_rcv drops a bad hop-by-hop header before PREROUTING.
        ipv6::check_hop_by_hop(packet)?;
    }
    let up = match ip.walk() {
        Ok(up) => up,
        Err(_) => {
            meta.l4 = L4Status::Invalid;
            return Ok(());
        }
    };
    meta.protocol = up.protocol;
    meta.l4_off = meta.l3_off + up.offset as u16;
    if let Some(f) = up.fragment {
        meta.ident = f.ident;
        meta.frag_offset = f.offset;
        meta.more_frags = f.more;
    }
    if up.is_non_first_fragment() {
        meta.l4 = L4Status::Fragment;
        return Ok(());
    }
    if up.protocol == IpProtocol::IPV6_NONXT {
        meta.l4 = L4Status::Absent;
        return Ok(());
    }
    parse_l4_common(&packet[up.offset..], meta);
    Ok(())
}

/// [`parse_l4`] with the two common cases inline: a UDP datagram whose
/// length fits (not a first fragment) and a TCP segment whose header fits,
/// each read from a fixed-size array. Anything else, and anything these
/// checks refuse, takes `parse_l4`, which gives the same fields.
#[inline(always)]
fn parse_l4_common(l4: &[u8], meta: &mut PacketMeta) {
    match meta.protocol {
        IpProtocol::UDP if !meta.more_frags => {
            if let Some(u) = l4.first_chunk::<{ udp::HEADER_LEN }>() {
                let l = usize::from(u16::from_be_bytes([u[4], u[5]]));
                if (udp::HEADER_LEN..=l4.len()).contains(&l) {
                    meta.src_port = u16::from_be_bytes([u[0], u[1]]);
                    meta.dst_port = u16::from_be_bytes([u[2], u[3]]);
                    meta.l4 = L4Status::Parsed;
                    return;
                }
            }
        }
        IpProtocol::TCP => {
            if let Some(t) = l4.first_chunk::<{ tcp::HEADER_LEN }>() {
                let hl = usize::from(t[12] >> 4) * 4;
                if (tcp::HEADER_LEN..=l4.len()).contains(&hl) {
                    meta.src_port = u16::from_be_bytes([t[0], t[1]]);
                    meta.dst_port = u16::from_be_bytes([t[2], t[3]]);
                    meta.tcp_flags = t[13];
                    meta.l4 = L4Status::Parsed;
                    return;
                }
            }
        }
        _ => {}
    }
    parse_l4(l4, meta);
}

/// Fills the transport fields of `meta` from `l4` (which ends where the IP
/// packet ends).
fn parse_l4(l4: &[u8], meta: &mut PacketMeta) {
    meta.l4 = match meta.protocol {
        IpProtocol::TCP => match tcp::Packet::new_checked(l4) {
            Ok(t) => {
                meta.src_port = t.src_port();
                meta.dst_port = t.dst_port();
                meta.tcp_flags = t.flags();
                L4Status::Parsed
            }
            Err(_) => L4Status::Invalid,
        },
        // A first fragment's UDP length is the whole datagram's: only the
        // header must be here (what `udp_mt` reads).
        IpProtocol::UDP if meta.more_frags && l4.len() >= udp::HEADER_LEN => {
            let u = udp::Packet::new_unchecked(l4);
            meta.src_port = u.src_port();
            meta.dst_port = u.dst_port();
            L4Status::Parsed
        }
        IpProtocol::UDP => match udp::Packet::new_checked(l4) {
            Ok(u) => {
                meta.src_port = u.src_port();
                meta.dst_port = u.dst_port();
                L4Status::Parsed
            }
            Err(_) => L4Status::Invalid,
        },
        // Ports first in every one of these; the length is the fixed header
        // the kernel's conntrack reads (UDP-Lite 8, SCTP common header 12,
        // DCCP generic header 12).
        p @ (IpProtocol::UDPLITE | IpProtocol::SCTP | IpProtocol::DCCP) => {
            let min = if p == IpProtocol::UDPLITE { 8 } else { 12 };
            if l4.len() >= min {
                meta.src_port = be16(&l4[0..2]);
                meta.dst_port = be16(&l4[2..4]);
                L4Status::Parsed
            } else {
                L4Status::Invalid
            }
        }
        IpProtocol::ICMP if meta.ip_version == 4 => match icmpv4::Packet::new_checked(l4) {
            Ok(m) => {
                meta.icmp_type = m.msg_type();
                meta.icmp_code = m.msg_code();
                if icmpv4::is_query_type(m.msg_type()) {
                    meta.icmp_id = m.echo_ident();
                }
                L4Status::Parsed
            }
            Err(_) => L4Status::Invalid,
        },
        IpProtocol::ICMPV6 if meta.ip_version == 6 => match icmpv6::Packet::new_checked(l4) {
            Ok(m) => {
                meta.icmp_type = m.msg_type();
                meta.icmp_code = m.msg_code();
                if matches!(
                    m.msg_type(),
                    icmpv6::types::ECHO_REQUEST | icmpv6::types::ECHO_REPLY
                ) {
                    meta.icmp_id = m.echo_ident();
                }
                L4Status::Parsed
            }
            Err(_) => L4Status::Invalid,
        },
        _ => L4Status::Opaque,
    };
}
