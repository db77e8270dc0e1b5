//! IPv6 headers (RFC 8200) and the walk over extension headers to the
//! upper-layer header.
//!
//! [`Packet::new_checked`] makes the layout checks of the kernel's
//! `ipv6_rcv`: version 6, a whole fixed header, 40 + payload length ≤ buffer
//! length (bytes past it are link-layer padding). A zero payload length with
//! a hop-by-hop header announces a jumbogram (RFC 2675), which cannot occur
//! in a frame this size: `Unsupported`.
//!
//! [`Packet::walk`] follows the extension headers the kernel's
//! `ipv6_skip_exthdr` follows — hop-by-hop, routing, fragment, destination
//! options, AH — within the payload length. Each step moves forward by at
//! least 8 bytes, so a chain cannot loop; it is cut off after
//! [`MAX_EXT_HEADERS`] headers (`Malformed`; a chain in RFC 8200 §4.1's
//! recommended order has at most six before ESP), and a header that runs
//! past the payload is `Truncated`. The walk stops at the first non-extension header, at ESP and
//! No Next Header (nothing readable follows), and after the fragment header
//! of a non-first fragment (what follows is the middle of the upper layer).
//! Header order and repetition are not enforced, as the forwarding path of
//! the kernel does not enforce them.

use std::net::Ipv6Addr;

use super::{be16, be32, put16, put32, Error, IpProtocol, Result};

mod field {
    use crate::wire::Field;

    pub const VER_TC_FLOW: Field = 0..4;
    pub const LENGTH: Field = 4..6;
    pub const NXT_HDR: usize = 6;
    pub const HOP_LIMIT: usize = 7;
    pub const SRC_ADDR: Field = 8..24;
    pub const DST_ADDR: Field = 24..40;
}

/// Length of the fixed header.
pub const HEADER_LEN: usize = field::DST_ADDR.end;

/// The longest extension header chain [`Packet::walk`] follows.
pub const MAX_EXT_HEADERS: usize = 8;

/// Length of a fragment header.
pub const FRAGMENT_HEADER_LEN: usize = 8;

/// A view of an IPv6 packet.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Packet<T: AsRef<[u8]>> {
    buffer: T,
}

/// Where a packet's fragment header put it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FragmentInfo {
    /// Offset of the fragment header from the start of the IPv6 header.
    pub header_offset: usize,
    /// Fragment offset in bytes.
    pub offset: u16,
    /// The M flag.
    pub more: bool,
    pub ident: u32,
}

impl FragmentInfo {
    /// A fragment that does not start the original packet: no upper-layer
    /// header in it.
    pub fn is_non_first(&self) -> bool {
        self.offset != 0
    }

    /// An atomic fragment (offset 0, M clear, RFC 6946): the whole packet.
    pub fn is_atomic(&self) -> bool {
        self.offset == 0 && !self.more
    }
}

/// Bits of [`UpperLayer::seen`], one per extension header kind, as
/// ip6tables' `-m ipv6header` names them.
pub mod seen {
    pub const HOP_BY_HOP: u8 = 1 << 0;
    pub const ROUTING: u8 = 1 << 1;
    pub const FRAGMENT: u8 = 1 << 2;
    pub const AUTH: u8 = 1 << 3;
    pub const DEST_OPTS: u8 = 1 << 4;
    pub const ESP: u8 = 1 << 5;
    pub const NO_NEXT: u8 = 1 << 6;
}

/// The result of [`Packet::walk`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct UpperLayer {
    /// The upper-layer protocol: the first header that is not an extension
    /// header (ESP and No Next Header included); for a non-first fragment,
    /// the next header named by its fragment header.
    pub protocol: IpProtocol,
    /// Offset of that header (for a non-first fragment, of the fragment
    /// data) from the start of the IPv6 header.
    pub offset: usize,
    /// Present when a fragment header was walked.
    pub fragment: Option<FragmentInfo>,
    /// How many extension headers were walked.
    pub ext_count: u8,
    /// Which extension headers were walked: bits of [`seen`].
    pub seen: u8,
}

impl UpperLayer {
    /// A non-first fragment: [`UpperLayer::offset`] does not start a header.
    pub fn is_non_first_fragment(&self) -> bool {
        self.fragment.is_some_and(|f| f.is_non_first())
    }

    /// A fragment (first or not) of a larger packet; atomic fragments are not.
    pub fn is_fragment(&self) -> bool {
        self.fragment.is_some_and(|f| !f.is_atomic())
    }
}

impl<T: AsRef<[u8]>> Packet<T> {
    pub const fn new_unchecked(buffer: T) -> Packet<T> {
        Packet { buffer }
    }

    /// Wraps a buffer holding a whole packet (see the module docs).
    pub fn new_checked(buffer: T) -> Result<Packet<T>> {
        let p = Packet::new_unchecked(buffer);
        p.check_len()?;
        Ok(p)
    }

    /// Wraps a buffer holding at least the fixed header; the packet may be
    /// cut short (as quoted in an ICMPv6 error). [`Packet::payload`] and
    /// [`Packet::walk`] then see what there is.
    pub fn new_checked_header(buffer: T) -> Result<Packet<T>> {
        let p = Packet::new_unchecked(buffer);
        p.check_header()?;
        Ok(p)
    }

    fn check_header(&self) -> Result<()> {
        let b = self.buffer.as_ref();
        if b.is_empty() {
            return Err(Error::Truncated);
        }
        if self.version() != 6 {
            return Err(Error::Malformed("IP version is not 6"));
        }
        if b.len() < HEADER_LEN {
            return Err(Error::Truncated);
        }
        Ok(())
    }

    /// The checks of [`Packet::new_checked`].
    pub fn check_len(&self) -> Result<()> {
        self.check_header()?;
        if self.payload_len() == 0 && self.next_header() == IpProtocol::HOPOPTS {
            return Err(Error::Unsupported("IPv6 jumbogram"));
        }
        if HEADER_LEN + self.payload_len() as usize > self.buffer.as_ref().len() {
            return Err(Error::Truncated);
        }
        Ok(())
    }

    pub fn into_inner(self) -> T {
        self.buffer
    }

    fn ver_tc_flow(&self) -> u32 {
        be32(&self.buffer.as_ref()[field::VER_TC_FLOW])
    }

    pub fn version(&self) -> u8 {
        self.buffer.as_ref()[0] >> 4
    }

    /// Traffic class (DSCP and ECN).
    pub fn traffic_class(&self) -> u8 {
        (self.ver_tc_flow() >> 20) as u8
    }

    pub fn flow_label(&self) -> u32 {
        self.ver_tc_flow() & 0x000f_ffff
    }

    /// Length of what follows the fixed header, extension headers included.
    pub fn payload_len(&self) -> u16 {
        be16(&self.buffer.as_ref()[field::LENGTH])
    }

    /// 40 + payload length.
    pub fn total_len(&self) -> usize {
        HEADER_LEN + self.payload_len() as usize
    }

    pub fn next_header(&self) -> IpProtocol {
        IpProtocol(self.buffer.as_ref()[field::NXT_HDR])
    }

    pub fn hop_limit(&self) -> u8 {
        self.buffer.as_ref()[field::HOP_LIMIT]
    }

    pub fn src_addr(&self) -> Ipv6Addr {
        addr_at(&self.buffer.as_ref()[field::SRC_ADDR])
    }

    pub fn dst_addr(&self) -> Ipv6Addr {
        addr_at(&self.buffer.as_ref()[field::DST_ADDR])
    }

    /// The bytes after the fixed header up to the payload length (or the end
    /// of the buffer, whichever comes first).
    pub fn payload(&self) -> &[u8] {
        let b = self.buffer.as_ref();
        let start = HEADER_LEN.min(b.len());
        let end = self.total_len().clamp(start, b.len());
        &b[start..end]
    }

    /// Walks the extension headers to the upper layer (see the module docs).
    pub fn walk(&self) -> Result<UpperLayer> {
        let b = self.buffer.as_ref();
        if b.len() < HEADER_LEN {
            return Err(Error::Truncated);
        }
        let next = self.next_header();
        if matches!(next, IpProtocol::TCP | IpProtocol::UDP | IpProtocol::ICMPV6) {
            // No extension header (the common case): what the walk gives
            // at once, without the call.
            return Ok(UpperLayer {
                protocol: next,
                offset: HEADER_LEN,
                fragment: None,
                ext_count: 0,
                seen: 0,
            });
        }
        walk_ext_headers(
            &b[..self.total_len().min(b.len())],
            HEADER_LEN,
            self.next_header(),
        )
    }
}

/// Walks extension headers in `packet` (which ends where the IPv6 payload
/// ends) from `offset`, where a header of kind `next` starts.
pub fn walk_ext_headers(
    packet: &[u8],
    mut offset: usize,
    mut next: IpProtocol,
) -> Result<UpperLayer> {
    let mut out = UpperLayer {
        protocol: next,
        offset,
        fragment: None,
        ext_count: 0,
        seen: 0,
    };
    loop {
        let bit = match next {
            IpProtocol::HOPOPTS => seen::HOP_BY_HOP,
            IpProtocol::IPV6_ROUTE => seen::ROUTING,
            IpProtocol::IPV6_FRAG => seen::FRAGMENT,
            IpProtocol::AH => seen::AUTH,
            IpProtocol::IPV6_OPTS => seen::DEST_OPTS,
            IpProtocol::ESP => {
                out.seen |= seen::ESP;
                0
            }
            IpProtocol::IPV6_NONXT => {
                out.seen |= seen::NO_NEXT;
                0
            }
            _ => 0,
        };
        out.protocol = next;
        out.offset = offset;
        if bit == 0 {
            return Ok(out);
        }
        if out.ext_count as usize == MAX_EXT_HEADERS {
            return Err(Error::Malformed("IPv6 extension header chain too long"));
        }
        let hdr = packet.get(offset..offset + 2).ok_or(Error::Truncated)?;
        let len = match next {
            IpProtocol::IPV6_FRAG => FRAGMENT_HEADER_LEN,
            IpProtocol::AH => (hdr[1] as usize + 2) * 4,
            _ => (hdr[1] as usize + 1) * 8,
        };
        if offset + len > packet.len() {
            return Err(Error::Truncated);
        }
        out.seen |= bit;
        out.ext_count += 1;
        next = IpProtocol(hdr[0]);
        if bit == seen::FRAGMENT {
            let f = &packet[offset..offset + FRAGMENT_HEADER_LEN];
            let off_m = be16(&f[2..4]);
            let info = FragmentInfo {
                header_offset: offset,
                offset: off_m & 0xfff8,
                more: off_m & 1 != 0,
                ident: be32(&f[4..8]),
            };
            out.fragment = Some(info);
            if info.is_non_first() {
                out.protocol = next;
                out.offset = offset + len;
                return Ok(out);
            }
        }
        offset += len;
    }
}

/// Checks the hop-by-hop header that follows the fixed header of `packet`
/// (which ends where the IPv6 payload ends): it fits (`Truncated`), and its
/// options are well framed TLVs (`Malformed`) — Pad1 is one byte, every other
/// option's length fits in the header. The option-specific checks and the
/// unknown-option actions of the kernel's `ip6_parse_tlv` are not made here.
pub fn check_hop_by_hop(packet: &[u8]) -> Result<()> {
    let hdr = packet
        .get(HEADER_LEN..HEADER_LEN + 2)
        .ok_or(Error::Truncated)?;
    let len = (hdr[1] as usize + 1) * 8;
    let area = packet
        .get(HEADER_LEN + 2..HEADER_LEN + len)
        .ok_or(Error::Truncated)?;
    check_tlv_options(area)
}

/// TLV framing of an options area of a hop-by-hop or destination options
/// header (RFC 8200 §4.2).
pub fn check_tlv_options(mut area: &[u8]) -> Result<()> {
    while let Some((&kind, rest)) = area.split_first() {
        if kind == 0 {
            area = rest; // Pad1
            continue;
        }
        let len = *rest
            .first()
            .ok_or(Error::Malformed("IPv6 option without a length"))? as usize;
        area = rest
            .get(1 + len..)
            .ok_or(Error::Malformed("IPv6 option length"))?;
    }
    Ok(())
}

fn addr_at(b: &[u8]) -> Ipv6Addr {
    let mut a = [0u8; 16];
    a.copy_from_slice(&b[..16]);
    Ipv6Addr::from(a)
}

impl<T: AsRef<[u8]> + AsMut<[u8]>> Packet<T> {
    fn set_ver_tc_flow(&mut self, v: u32) {
        put32(&mut self.buffer.as_mut()[field::VER_TC_FLOW], v);
    }

    pub fn set_version(&mut self, v: u8) {
        let w = (self.ver_tc_flow() & 0x0fff_ffff) | ((v as u32 & 0xf) << 28);
        self.set_ver_tc_flow(w);
    }

    pub fn set_traffic_class(&mut self, tc: u8) {
        let w = (self.ver_tc_flow() & 0xf00f_ffff) | ((tc as u32) << 20);
        self.set_ver_tc_flow(w);
    }

    /// Sets the flow label; only the low 20 bits are used.
    pub fn set_flow_label(&mut self, label: u32) {
        let w = (self.ver_tc_flow() & 0xfff0_0000) | (label & 0x000f_ffff);
        self.set_ver_tc_flow(w);
    }

    pub fn set_payload_len(&mut self, v: u16) {
        put16(&mut self.buffer.as_mut()[field::LENGTH], v);
    }

    pub fn set_next_header(&mut self, v: IpProtocol) {
        self.buffer.as_mut()[field::NXT_HDR] = v.0;
    }

    pub fn set_hop_limit(&mut self, v: u8) {
        self.buffer.as_mut()[field::HOP_LIMIT] = v;
    }

    /// The forwarding step (RFC 8200 §3): hop limit minus one, saturating at
    /// 0. IPv6 has no header checksum.
    pub fn decrement_hop_limit(&mut self) -> u8 {
        let h = self.hop_limit().saturating_sub(1);
        self.set_hop_limit(h);
        h
    }

    /// Sets the source address. Transport checksums cover it: see
    /// `adjust_checksum` on the TCP/UDP/ICMPv6 views.
    pub fn set_src_addr(&mut self, a: Ipv6Addr) {
        self.buffer.as_mut()[field::SRC_ADDR].copy_from_slice(&a.octets());
    }

    pub fn set_dst_addr(&mut self, a: Ipv6Addr) {
        self.buffer.as_mut()[field::DST_ADDR].copy_from_slice(&a.octets());
    }

    pub fn payload_mut(&mut self) -> &mut [u8] {
        let total = self.total_len();
        let b = self.buffer.as_mut();
        let start = HEADER_LEN.min(b.len());
        let end = total.clamp(start, b.len());
        &mut b[start..end]
    }
}

/// The owned form of a fixed IPv6 header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Repr {
    pub src_addr: Ipv6Addr,
    pub dst_addr: Ipv6Addr,
    pub next_header: IpProtocol,
    pub traffic_class: u8,
    pub flow_label: u32,
    pub hop_limit: u8,
    pub payload_len: u16,
}

impl Repr {
    pub fn parse<T: AsRef<[u8]>>(packet: &Packet<T>) -> Result<Repr> {
        packet.check_len()?;
        Ok(Repr {
            src_addr: packet.src_addr(),
            dst_addr: packet.dst_addr(),
            next_header: packet.next_header(),
            traffic_class: packet.traffic_class(),
            flow_label: packet.flow_label(),
            hop_limit: packet.hop_limit(),
            payload_len: packet.payload_len(),
        })
    }

    pub const fn buffer_len(&self) -> usize {
        HEADER_LEN
    }

    /// Writes the fixed header into a buffer of at least [`HEADER_LEN`] bytes.
    pub fn emit<T: AsRef<[u8]> + AsMut<[u8]>>(&self, packet: &mut Packet<T>) {
        packet.set_ver_tc_flow(0);
        packet.set_version(6);
        packet.set_traffic_class(self.traffic_class);
        packet.set_flow_label(self.flow_label);
        packet.set_payload_len(self.payload_len);
        packet.set_next_header(self.next_header);
        packet.set_hop_limit(self.hop_limit);
        packet.set_src_addr(self.src_addr);
        packet.set_dst_addr(self.dst_addr);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SRC: [u8; 16] = [0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1];
    const DST: [u8; 16] = [0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 2];

    /// A fixed header (tc 0xb8, flow 0x12345, hop limit 64) then `ext`.
    fn packet(next: u8, ext: &[u8]) -> Vec<u8> {
        let mut p = vec![0x6b, 0x81, 0x23, 0x45];
        p.extend_from_slice(&(ext.len() as u16).to_be_bytes());
        p.extend_from_slice(&[next, 64]);
        p.extend_from_slice(&SRC);
        p.extend_from_slice(&DST);
        p.extend_from_slice(ext);
        p
    }

    #[test]
    fn decode_every_field() {
        let udp = [0x12, 0x34, 0x00, 0x35, 0x00, 0x08, 0x00, 0x00];
        let mut b = packet(17, &udp);
        b.extend_from_slice(&[0, 0]); // padding
        let p = Packet::new_checked(&b[..]).unwrap();
        assert_eq!(p.version(), 6);
        assert_eq!(p.traffic_class(), 0xb8);
        assert_eq!(p.flow_label(), 0x12345);
        assert_eq!(p.payload_len(), 8);
        assert_eq!(p.total_len(), 48);
        assert_eq!(p.next_header(), IpProtocol::UDP);
        assert_eq!(p.hop_limit(), 64);
        assert_eq!(p.src_addr(), "2001:db8::1".parse::<Ipv6Addr>().unwrap());
        assert_eq!(p.dst_addr(), "2001:db8:0:1::2".parse::<Ipv6Addr>().unwrap());
        assert_eq!(p.payload(), &udp);
        let up = p.walk().unwrap();
        assert_eq!(up.protocol, IpProtocol::UDP);
        assert_eq!(up.offset, 40);
        assert_eq!((up.ext_count, up.seen, up.fragment), (0, 0, None));
    }

    #[test]
    fn repr_round_trip_and_setters() {
        let b = packet(6, &[]);
        let repr = Repr::parse(&Packet::new_checked(&b[..]).unwrap()).unwrap();
        let mut out = vec![0u8; 40];
        repr.emit(&mut Packet::new_unchecked(&mut out[..]));
        assert_eq!(out, b);
        let mut p = Packet::new_unchecked(&mut out[..]);
        p.set_flow_label(0xfff_ffff);
        p.set_traffic_class(0);
        assert_eq!(p.decrement_hop_limit(), 63);
        assert_eq!(
            (p.version(), p.traffic_class(), p.flow_label()),
            (6, 0, 0xfffff)
        );
        p.set_src_addr(Ipv6Addr::LOCALHOST);
        p.set_dst_addr(Ipv6Addr::UNSPECIFIED);
        assert_eq!(p.src_addr(), Ipv6Addr::LOCALHOST);
        assert_eq!(p.dst_addr(), Ipv6Addr::UNSPECIFIED);
    }

    #[test]
    fn walk_chain() {
        // HBH (8) -> DST (16) -> AH (12 + 4 pad = 16: len 2 => (2+2)*4) -> FRAG(first) -> TCP
        let mut ext = vec![60, 0, 5, 2, 0, 0, 1, 0]; // HBH: router alert
        ext.extend_from_slice(&[51, 1, 1, 4, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0]); // DST, 16 bytes
        ext.extend_from_slice(&[44, 2, 0, 0, 0, 0, 1, 0, 0, 0, 0, 1, 0, 0, 0, 0]); // AH, 16 bytes
        ext.extend_from_slice(&[6, 0, 0x00, 0x01, 0xde, 0xad, 0xbe, 0xef]); // FRAG off 0, M
        ext.extend_from_slice(&[0; 20]);
        let b = packet(0, &ext);
        let up = Packet::new_checked(&b[..]).unwrap().walk().unwrap();
        assert_eq!(up.protocol, IpProtocol::TCP);
        assert_eq!(up.offset, 40 + 48);
        assert_eq!(up.ext_count, 4);
        assert_eq!(
            up.seen,
            seen::HOP_BY_HOP | seen::DEST_OPTS | seen::AUTH | seen::FRAGMENT
        );
        let f = up.fragment.unwrap();
        assert_eq!(
            (f.header_offset, f.offset, f.more, f.ident),
            (80, 0, true, 0xdeadbeef)
        );
        assert!(!up.is_non_first_fragment() && up.is_fragment());
    }

    #[test]
    fn walk_non_first_fragment_and_terminators() {
        let ext = [17, 0, 0x05, 0xa8, 0, 0, 0, 7, 1, 2, 3, 4];
        let b = packet(44, &ext);
        let up = Packet::new_checked(&b[..]).unwrap().walk().unwrap();
        assert!(up.is_non_first_fragment());
        assert_eq!(up.protocol, IpProtocol::UDP);
        assert_eq!(up.offset, 48);
        assert_eq!(up.fragment.unwrap().offset, 1448);

        // Atomic fragment: walked through.
        let ext = [58, 0, 0, 0, 0, 0, 0, 7, 128, 0, 0, 0, 0, 0, 0, 0];
        let up = Packet::new_checked(&packet(44, &ext)[..])
            .unwrap()
            .walk()
            .unwrap();
        assert_eq!((up.protocol, up.offset), (IpProtocol::ICMPV6, 48));
        assert!(!up.is_fragment());

        for (nh, bit) in [(50u8, seen::ESP), (59, seen::NO_NEXT)] {
            let up = Packet::new_checked(&packet(nh, &[0; 8])[..])
                .unwrap()
                .walk()
                .unwrap();
            assert_eq!((up.protocol.0, up.offset, up.seen), (nh, 40, bit));
        }
    }

    #[test]
    fn walk_errors() {
        // A destination options header that claims 16 bytes in an 8-byte payload.
        let b = packet(60, &[6, 1, 0, 0, 0, 0, 0, 0]);
        assert_eq!(
            Packet::new_checked(&b[..]).unwrap().walk(),
            Err(Error::Truncated)
        );
        // One byte of extension header.
        let b = packet(0, &[6]);
        assert_eq!(
            Packet::new_checked(&b[..]).unwrap().walk(),
            Err(Error::Truncated)
        );
        // A long chain of destination options.
        let mut ext = Vec::new();
        for _ in 0..MAX_EXT_HEADERS + 1 {
            ext.extend_from_slice(&[60, 0, 1, 4, 0, 0, 0, 0]);
        }
        let b = packet(60, &ext);
        assert!(matches!(
            Packet::new_checked(&b[..]).unwrap().walk(),
            Err(Error::Malformed(_))
        ));
        // Exactly the maximum, ending in No Next Header, is fine.
        let mut ext = Vec::new();
        for i in 0..MAX_EXT_HEADERS {
            let nh = if i + 1 == MAX_EXT_HEADERS { 59 } else { 60 };
            ext.extend_from_slice(&[nh, 0, 1, 4, 0, 0, 0, 0]);
        }
        let b = packet(60, &ext);
        let up = Packet::new_checked(&b[..]).unwrap().walk().unwrap();
        assert_eq!(up.ext_count as usize, MAX_EXT_HEADERS);
    }

    #[test]
    fn length_checks() {
        let b = packet(17, &[0; 8]);
        assert_eq!(Packet::new_checked(&b[..47]).unwrap_err(), Error::Truncated);
        assert_eq!(Packet::new_checked(&b[..39]).unwrap_err(), Error::Truncated);
        assert_eq!(Packet::new_checked(&b[..0]).unwrap_err(), Error::Truncated);
        assert!(Packet::new_checked_header(&b[..44]).is_ok());
        assert_eq!(
            Packet::new_checked_header(&b[..44])
                .unwrap()
                .payload()
                .len(),
            4
        );
        let mut bad = b.clone();
        bad[0] = 0x45;
        assert!(matches!(
            Packet::new_checked(&bad[..]),
            Err(Error::Malformed(_))
        ));
        let jumbo = packet(0, &[]);
        assert!(matches!(
            Packet::new_checked(&jumbo[..]),
            Err(Error::Unsupported(_))
        ));
    }
}
