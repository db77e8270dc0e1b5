//! IPv4 headers (RFC 791), options included.
//!
//! [`Packet::new_checked`] makes the checks of the kernel's `ip_rcv_core`
//! that concern layout: version 4, IHL ≥ 5, the header within the buffer,
//! header length ≤ total length ≤ buffer length. It does not verify the
//! header checksum ([`Packet::verify_checksum`]; [`crate::wire::parse`] does)
//! nor the options' contents ([`Packet::check_options`]; the kernel checks
//! them after PREROUTING, in `ip_rcv_options`). Bytes past the total length
//! are link-layer padding: [`Packet::payload`] ends at the total length.
//!
//! [`Packet::new_checked_header`] checks only the header, for the truncated
//! copy of a datagram that ICMP errors carry (RFC 792: header + 8 bytes).

use std::net::Ipv4Addr;

use super::{be16, checksum, ipv4_at, put16, Error, IpProtocol, Result};

mod field {
    use crate::wire::Field;

    pub const VER_IHL: usize = 0;
    pub const TOS: usize = 1;
    pub const LENGTH: Field = 2..4;
    pub const IDENT: Field = 4..6;
    pub const FLG_OFF: Field = 6..8;
    pub const TTL: usize = 8;
    pub const PROTOCOL: usize = 9;
    pub const CHECKSUM: Field = 10..12;
    pub const SRC_ADDR: Field = 12..16;
    pub const DST_ADDR: Field = 16..20;
    /// The TTL and protocol bytes form one 16-bit word of the checksum.
    pub const TTL_PROTO: Field = 8..10;
}

/// Length of a header without options.
pub const HEADER_LEN: usize = field::DST_ADDR.end;
/// Length of the longest header (IHL 15).
pub const MAX_HEADER_LEN: usize = 60;

const FLAG_DF: u16 = 0x4000;
const FLAG_MF: u16 = 0x2000;
const OFFSET_MASK: u16 = 0x1fff;

/// DF of the flags-and-offset word (bytes 6–7, host order).
#[inline(always)]
pub(crate) fn dont_frag_of(flags_offset: u16) -> bool {
    flags_offset & FLAG_DF != 0
}

/// MF of the flags-and-offset word.
#[inline(always)]
pub(crate) fn more_frags_of(flags_offset: u16) -> bool {
    flags_offset & FLAG_MF != 0
}

/// The fragment offset in bytes of the flags-and-offset word.
#[inline(always)]
pub(crate) fn frag_offset_of(flags_offset: u16) -> u16 {
    (flags_offset & OFFSET_MASK) << 3
}

/// Option type End of Option List.
pub const OPT_END: u8 = 0;
/// Option type No Operation.
pub const OPT_NOP: u8 = 1;
/// Option type Record Route.
pub const OPT_RR: u8 = 7;
/// Option type Router Alert (RFC 2113).
pub const OPT_ROUTER_ALERT: u8 = 148;

/// A view of an IPv4 datagram.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Packet<T: AsRef<[u8]>> {
    buffer: T,
}

impl<T: AsRef<[u8]>> Packet<T> {
    pub const fn new_unchecked(buffer: T) -> Packet<T> {
        Packet { buffer }
    }

    /// Wraps a buffer holding a whole datagram (see the module docs).
    pub fn new_checked(buffer: T) -> Result<Packet<T>> {
        let p = Packet::new_unchecked(buffer);
        p.check_len()?;
        Ok(p)
    }

    /// Wraps a buffer holding at least a whole header; the datagram may be cut
    /// short (as quoted in an ICMP error). [`Packet::payload`] then returns
    /// what there is.
    pub fn new_checked_header(buffer: T) -> Result<Packet<T>> {
        let p = Packet::new_unchecked(buffer);
        p.check_header_len()?;
        if (p.total_len() as usize) < p.header_len() {
            return Err(Error::Malformed("IPv4 total length shorter than header"));
        }
        Ok(p)
    }

    fn check_header_len(&self) -> Result<()> {
        let b = self.buffer.as_ref();
        if b.is_empty() {
            return Err(Error::Truncated);
        }
        if self.version() != 4 {
            return Err(Error::Malformed("IP version is not 4"));
        }
        if self.header_len() < HEADER_LEN {
            return Err(Error::Malformed("IPv4 header length below 20"));
        }
        if b.len() < self.header_len() {
            return Err(Error::Truncated);
        }
        Ok(())
    }

    /// The checks of [`Packet::new_checked`].
    pub fn check_len(&self) -> Result<()> {
        self.check_header_len()?;
        let total = self.total_len() as usize;
        if total < self.header_len() {
            return Err(Error::Malformed("IPv4 total length shorter than header"));
        }
        if total > self.buffer.as_ref().len() {
            return Err(Error::Truncated);
        }
        Ok(())
    }

    pub fn into_inner(self) -> T {
        self.buffer
    }

    pub fn version(&self) -> u8 {
        self.buffer.as_ref()[field::VER_IHL] >> 4
    }

    /// Header length in bytes (IHL × 4), options included.
    pub fn header_len(&self) -> usize {
        ((self.buffer.as_ref()[field::VER_IHL] & 0x0f) as usize) * 4
    }

    /// The whole type-of-service byte (DSCP and ECN).
    pub fn tos(&self) -> u8 {
        self.buffer.as_ref()[field::TOS]
    }

    pub fn dscp(&self) -> u8 {
        self.tos() >> 2
    }

    pub fn ecn(&self) -> u8 {
        self.tos() & 0x03
    }

    /// Total length of the datagram in bytes, header included.
    pub fn total_len(&self) -> u16 {
        be16(&self.buffer.as_ref()[field::LENGTH])
    }

    pub fn ident(&self) -> u16 {
        be16(&self.buffer.as_ref()[field::IDENT])
    }

    fn flags_offset(&self) -> u16 {
        be16(&self.buffer.as_ref()[field::FLG_OFF])
    }

    /// The reserved ("evil") flag bit.
    pub fn reserved_flag(&self) -> bool {
        self.flags_offset() & 0x8000 != 0
    }

    pub fn dont_frag(&self) -> bool {
        dont_frag_of(self.flags_offset())
    }

    pub fn more_frags(&self) -> bool {
        more_frags_of(self.flags_offset())
    }

    /// Fragment offset in bytes (the field × 8).
    pub fn frag_offset(&self) -> u16 {
        frag_offset_of(self.flags_offset())
    }

    /// A fragment of a larger datagram: MF set or a nonzero offset.
    pub fn is_fragment(&self) -> bool {
        self.flags_offset() & (FLAG_MF | OFFSET_MASK) != 0
    }

    pub fn ttl(&self) -> u8 {
        self.buffer.as_ref()[field::TTL]
    }

    pub fn protocol(&self) -> IpProtocol {
        IpProtocol(self.buffer.as_ref()[field::PROTOCOL])
    }

    pub fn checksum(&self) -> u16 {
        be16(&self.buffer.as_ref()[field::CHECKSUM])
    }

    pub fn src_addr(&self) -> Ipv4Addr {
        ipv4_at(&self.buffer.as_ref()[field::SRC_ADDR])
    }

    pub fn dst_addr(&self) -> Ipv4Addr {
        ipv4_at(&self.buffer.as_ref()[field::DST_ADDR])
    }

    /// The options area (empty for IHL 5).
    pub fn options(&self) -> &[u8] {
        &self.buffer.as_ref()[HEADER_LEN..self.header_len()]
    }

    /// Iterates over the options; see [`Options`].
    pub fn options_iter(&self) -> Options<'_> {
        Options::new(self.options())
    }

    /// TLV framing of the options: every option other than End and No-op has
    /// a length ≥ 2 that fits in the header. The option-specific checks of
    /// `ip_options_compile` (pointers of RR/TS/SRR) are not made here.
    pub fn check_options(&self) -> Result<()> {
        for opt in self.options_iter() {
            opt?;
        }
        Ok(())
    }

    /// True when the header checksum verifies.
    pub fn verify_checksum(&self) -> bool {
        let b = self.buffer.as_ref();
        let hl = self.header_len();
        if let Some(h) = b.first_chunk::<HEADER_LEN>().filter(|_| hl == HEADER_LEN) {
            // The common header without options: five words, no loop.
            return checksum::sum20(h) == 0xffff;
        }
        checksum::checksum(&b[..hl]) == 0
    }

    /// The bytes after the header up to the total length (or to the end of
    /// the buffer, whichever comes first).
    pub fn payload(&self) -> &[u8] {
        let b = self.buffer.as_ref();
        let start = self.header_len().min(b.len());
        let end = (self.total_len() as usize).clamp(start, b.len());
        &b[start..end]
    }
}

impl<T: AsRef<[u8]> + AsMut<[u8]>> Packet<T> {
    pub fn set_version(&mut self, v: u8) {
        let b = &mut self.buffer.as_mut()[field::VER_IHL];
        *b = (*b & 0x0f) | (v << 4);
    }

    /// Sets the header length in bytes (rounded down to a multiple of 4).
    pub fn set_header_len(&mut self, len: usize) {
        let b = &mut self.buffer.as_mut()[field::VER_IHL];
        *b = (*b & 0xf0) | ((len / 4) as u8 & 0x0f);
    }

    pub fn set_tos(&mut self, v: u8) {
        self.buffer.as_mut()[field::TOS] = v;
    }

    pub fn set_dscp(&mut self, v: u8) {
        let tos = (self.tos() & 0x03) | (v << 2);
        self.set_tos(tos);
    }

    pub fn set_ecn(&mut self, v: u8) {
        let tos = (self.tos() & 0xfc) | (v & 0x03);
        self.set_tos(tos);
    }

    pub fn set_total_len(&mut self, v: u16) {
        put16(&mut self.buffer.as_mut()[field::LENGTH], v);
    }

    pub fn set_ident(&mut self, v: u16) {
        put16(&mut self.buffer.as_mut()[field::IDENT], v);
    }

    fn set_flags_offset(&mut self, v: u16) {
        put16(&mut self.buffer.as_mut()[field::FLG_OFF], v);
    }

    pub fn set_dont_frag(&mut self, on: bool) {
        let v = self.flags_offset();
        self.set_flags_offset(if on { v | FLAG_DF } else { v & !FLAG_DF });
    }

    pub fn set_more_frags(&mut self, on: bool) {
        let v = self.flags_offset();
        self.set_flags_offset(if on { v | FLAG_MF } else { v & !FLAG_MF });
    }

    /// Sets the fragment offset, in bytes (a multiple of 8).
    pub fn set_frag_offset(&mut self, bytes: u16) {
        let v = (self.flags_offset() & !OFFSET_MASK) | ((bytes >> 3) & OFFSET_MASK);
        self.set_flags_offset(v);
    }

    pub fn set_ttl(&mut self, v: u8) {
        self.buffer.as_mut()[field::TTL] = v;
    }

    pub fn set_protocol(&mut self, v: IpProtocol) {
        self.buffer.as_mut()[field::PROTOCOL] = v.0;
    }

    pub fn set_checksum(&mut self, v: u16) {
        put16(&mut self.buffer.as_mut()[field::CHECKSUM], v);
    }

    pub fn set_src_addr(&mut self, a: Ipv4Addr) {
        self.buffer.as_mut()[field::SRC_ADDR].copy_from_slice(&a.octets());
    }

    pub fn set_dst_addr(&mut self, a: Ipv4Addr) {
        self.buffer.as_mut()[field::DST_ADDR].copy_from_slice(&a.octets());
    }

    /// Computes and writes the header checksum.
    pub fn fill_checksum(&mut self) {
        self.set_checksum(0);
        let c = checksum::checksum(&self.buffer.as_ref()[..self.header_len()]);
        self.set_checksum(c);
    }

    /// Sets the TTL and updates the header checksum incrementally.
    pub fn rewrite_ttl(&mut self, ttl: u8) {
        let old = be16(&self.buffer.as_ref()[field::TTL_PROTO]);
        self.set_ttl(ttl);
        let new = be16(&self.buffer.as_ref()[field::TTL_PROTO]);
        let c = checksum::update16(self.checksum(), old, new);
        self.set_checksum(c);
    }

    /// The forwarding step (RFC 1812 §5.3.1): TTL minus one, checksum updated
    /// incrementally. Returns the new TTL; a TTL already 0 stays 0 (the
    /// caller drops a packet whose TTL is ≤ 1 before forwarding it).
    pub fn decrement_ttl(&mut self) -> u8 {
        if let Some(h) = self.buffer.as_mut().first_chunk_mut::<12>() {
            // The same as below with one bounds check: TTL is the high
            // byte of the word at 8, the checksum the word at 10. The word
            // goes down by 0x100 (nothing when the TTL is 0 already).
            if h[8] == 0 {
                return 0;
            }
            h[8] -= 1;
            let c = checksum::ttl_decremented_ne(u16::from_ne_bytes([h[10], h[11]]));
            h[10..12].copy_from_slice(&c.to_ne_bytes());
            return h[8];
        }
        let ttl = self.ttl().saturating_sub(1);
        self.rewrite_ttl(ttl);
        ttl
    }

    /// Sets the source address and updates the header checksum incrementally
    /// (the transport checksum is the caller's: see `adjust_checksum` on the
    /// TCP/UDP views).
    pub fn rewrite_src_addr(&mut self, a: Ipv4Addr) {
        let old = u32::from(self.src_addr());
        self.set_src_addr(a);
        let c = checksum::update32(self.checksum(), old, u32::from(a));
        self.set_checksum(c);
    }

    /// Sets the destination address and updates the header checksum
    /// incrementally.
    pub fn rewrite_dst_addr(&mut self, a: Ipv4Addr) {
        let old = u32::from(self.dst_addr());
        self.set_dst_addr(a);
        let c = checksum::update32(self.checksum(), old, u32::from(a));
        self.set_checksum(c);
    }

    /// The options area, writable.
    pub fn options_mut(&mut self) -> &mut [u8] {
        let hl = self.header_len();
        &mut self.buffer.as_mut()[HEADER_LEN..hl]
    }

    /// The payload (as [`Packet::payload`]), writable.
    pub fn payload_mut(&mut self) -> &mut [u8] {
        let (hl, total) = (self.header_len(), self.total_len() as usize);
        let b = self.buffer.as_mut();
        let start = hl.min(b.len());
        let end = total.clamp(start, b.len());
        &mut b[start..end]
    }
}

/// One IPv4 option.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ipv4Option<'a> {
    /// End of Option List; iteration stops after it.
    End,
    Nop,
    /// Any other option: its type byte and the bytes after its length byte.
    Other {
        kind: u8,
        data: &'a [u8],
    },
}

/// Iterator over an IPv4 options area. Yields `Err(Malformed)` once (then
/// stops) when an option's length is below 2 or runs past the area.
#[derive(Debug, Clone)]
pub struct Options<'a> {
    rest: &'a [u8],
}

impl<'a> Options<'a> {
    pub fn new(area: &'a [u8]) -> Options<'a> {
        Options { rest: area }
    }
}

impl<'a> Iterator for Options<'a> {
    type Item = Result<Ipv4Option<'a>>;

    fn next(&mut self) -> Option<Self::Item> {
        let (&kind, after) = self.rest.split_first()?;
        match kind {
            OPT_END => {
                self.rest = &[];
                Some(Ok(Ipv4Option::End))
            }
            OPT_NOP => {
                self.rest = after;
                Some(Ok(Ipv4Option::Nop))
            }
            _ => {
                let len = after.first().map(|&l| l as usize);
                match len {
                    Some(len) if len >= 2 && len <= self.rest.len() => {
                        let data = &self.rest[2..len];
                        self.rest = &self.rest[len..];
                        Some(Ok(Ipv4Option::Other { kind, data }))
                    }
                    _ => {
                        self.rest = &[];
                        Some(Err(Error::Malformed("IPv4 option length")))
                    }
                }
            }
        }
    }
}

/// The owned form of an IPv4 header without options.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Repr {
    pub src_addr: Ipv4Addr,
    pub dst_addr: Ipv4Addr,
    pub protocol: IpProtocol,
    pub tos: u8,
    pub ident: u16,
    pub dont_frag: bool,
    pub ttl: u8,
    /// Length of what follows the header.
    pub payload_len: usize,
}

impl Repr {
    /// Reads a whole, unfragmented datagram; the header checksum must verify.
    pub fn parse<T: AsRef<[u8]>>(packet: &Packet<T>) -> Result<Repr> {
        packet.check_len()?;
        if !packet.verify_checksum() {
            return Err(Error::Checksum);
        }
        if packet.is_fragment() {
            return Err(Error::Unsupported("IPv4 fragment"));
        }
        Ok(Repr {
            src_addr: packet.src_addr(),
            dst_addr: packet.dst_addr(),
            protocol: packet.protocol(),
            tos: packet.tos(),
            ident: packet.ident(),
            dont_frag: packet.dont_frag(),
            ttl: packet.ttl(),
            payload_len: packet.payload().len(),
        })
    }

    pub const fn buffer_len(&self) -> usize {
        HEADER_LEN
    }

    /// Writes a 20-byte header, checksum filled, into a buffer of at least
    /// [`HEADER_LEN`] bytes. A payload length over 65515 is a caller bug; the
    /// total length saturates.
    pub fn emit<T: AsRef<[u8]> + AsMut<[u8]>>(&self, packet: &mut Packet<T>) {
        packet.set_version(4);
        packet.set_header_len(HEADER_LEN);
        packet.set_tos(self.tos);
        let total = (HEADER_LEN + self.payload_len).min(u16::MAX as usize);
        packet.set_total_len(total as u16);
        packet.set_ident(self.ident);
        packet.set_flags_offset(if self.dont_frag { FLAG_DF } else { 0 });
        packet.set_ttl(self.ttl);
        packet.set_protocol(self.protocol);
        packet.set_src_addr(self.src_addr);
        packet.set_dst_addr(self.dst_addr);
        packet.fill_checksum();
    }

    /// [`Repr::emit`] with `opts` (a multiple of 4 bytes, at most 40) as
    /// the header's options: the header length, total length and checksum
    /// follow; `payload_len` counts what comes after the options.
    pub fn emit_with_options<T: AsRef<[u8]> + AsMut<[u8]>>(
        &self,
        packet: &mut Packet<T>,
        opts: &[u8],
    ) {
        self.emit(packet);
        if opts.is_empty() {
            return;
        }
        let hlen = HEADER_LEN + opts.len();
        packet.set_header_len(hlen);
        packet.set_total_len((hlen + self.payload_len).min(u16::MAX as usize) as u16);
        packet.options_mut().copy_from_slice(opts);
        packet.fill_checksum();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    // An ICMP echo request 10.0.0.1 -> 10.0.0.2 with a Router Alert option
    // (IHL 6), 4 payload bytes, then 2 bytes of link padding.
    const DATAGRAM: [u8; 30] = [
        0x46, 0xb8, 0x00, 0x1c, // v4 ihl 6, dscp 46 (EF), total 28
        0x12, 0x34, 0x40, 0x00, // ident, DF
        0x40, 0x01, 0x00, 0x00, // ttl 64, ICMP, checksum (filled below)
        0x0a, 0x00, 0x00, 0x01, 0x0a, 0x00, 0x00, 0x02, // src, dst
        0x94, 0x04, 0x00, 0x00, // router alert
        0xde, 0xad, 0xbe, 0xef, // payload
        0x00, 0x00, // padding
    ];

    fn datagram() -> [u8; 30] {
        let mut d = DATAGRAM;
        let c = checksum::checksum(&d[..24]);
        d[10..12].copy_from_slice(&c.to_be_bytes());
        d
    }

    #[test]
    fn decode_every_field() {
        let d = datagram();
        let p = Packet::new_checked(&d[..]).unwrap();
        assert_eq!(p.version(), 4);
        assert_eq!(p.header_len(), 24);
        assert_eq!(p.dscp(), 46);
        assert_eq!(p.ecn(), 0);
        assert_eq!(p.total_len(), 28);
        assert_eq!(p.ident(), 0x1234);
        assert!(p.dont_frag() && !p.more_frags() && !p.reserved_flag());
        assert_eq!(p.frag_offset(), 0);
        assert!(!p.is_fragment());
        assert_eq!(p.ttl(), 64);
        assert_eq!(p.protocol(), IpProtocol::ICMP);
        assert!(p.verify_checksum());
        assert_eq!(p.src_addr(), Ipv4Addr::new(10, 0, 0, 1));
        assert_eq!(p.dst_addr(), Ipv4Addr::new(10, 0, 0, 2));
        let opts: Vec<_> = p.options_iter().collect();
        assert_eq!(
            opts,
            vec![Ok(Ipv4Option::Other {
                kind: OPT_ROUTER_ALERT,
                data: &[0, 0]
            })]
        );
        assert!(p.check_options().is_ok());
        assert_eq!(p.payload(), &[0xde, 0xad, 0xbe, 0xef]);
    }

    #[test]
    fn fragment_fields() {
        let mut d = datagram();
        let mut p = Packet::new_unchecked(&mut d[..]);
        p.set_dont_frag(false);
        p.set_more_frags(true);
        p.set_frag_offset(1480);
        assert_eq!(&d[6..8], &[0x20, 0xb9]);
        let p = Packet::new_unchecked(&d[..]);
        assert!(p.more_frags() && !p.dont_frag() && p.is_fragment());
        assert_eq!(p.frag_offset(), 1480);
    }

    #[test]
    fn repr_round_trip() {
        let bytes: [u8; 24] = [
            0x45, 0x00, 0x00, 0x18, 0xab, 0xcd, 0x40, 0x00, 0x3f, 0x11, 0x00, 0x00, 0xc0, 0x00,
            0x02, 0x01, 0xc6, 0x33, 0x64, 0x02, 1, 2, 3, 4,
        ];
        let mut want = bytes;
        let c = checksum::checksum(&want[..20]);
        want[10..12].copy_from_slice(&c.to_be_bytes());
        let repr = Repr::parse(&Packet::new_checked(&want[..]).unwrap()).unwrap();
        assert_eq!(repr.payload_len, 4);
        assert_eq!(repr.ttl, 63);
        let mut out = [0u8; 24];
        out[20..].copy_from_slice(&[1, 2, 3, 4]);
        repr.emit(&mut Packet::new_unchecked(&mut out[..]));
        assert_eq!(out, want);
    }

    #[test]
    fn incremental_rewrites_keep_checksum_valid() {
        let mut d = datagram();
        let mut p = Packet::new_checked(&mut d[..]).unwrap();
        assert_eq!(p.decrement_ttl(), 63);
        assert!(p.verify_checksum());
        p.rewrite_src_addr(Ipv4Addr::new(203, 0, 113, 7));
        p.rewrite_dst_addr(Ipv4Addr::new(198, 51, 100, 200));
        assert!(p.verify_checksum());
        let inc = p.checksum();
        p.fill_checksum();
        assert_eq!(p.checksum(), inc);
        p.set_ttl(0);
        p.fill_checksum();
        assert_eq!(p.decrement_ttl(), 0);
        assert!(p.verify_checksum());
    }

    #[test]
    fn setters() {
        let mut d = [0u8; 20];
        let mut p = Packet::new_unchecked(&mut d[..]);
        p.set_version(4);
        p.set_header_len(20);
        p.set_dscp(10);
        p.set_ecn(3);
        assert_eq!(p.tos(), 0x2b);
        p.set_total_len(20);
        p.set_protocol(IpProtocol::UDP);
        assert_eq!(p.into_inner()[..4], [0x45, 0x2b, 0x00, 0x14]);
    }

    #[test]
    fn length_checks() {
        let d = datagram();
        assert_eq!(Packet::new_checked(&d[..0]).unwrap_err(), Error::Truncated);
        assert_eq!(Packet::new_checked(&d[..23]).unwrap_err(), Error::Truncated);
        assert_eq!(Packet::new_checked(&d[..27]).unwrap_err(), Error::Truncated);
        assert!(Packet::new_checked_header(&d[..25]).is_ok());
        assert_eq!(
            Packet::new_checked_header(&d[..25]).unwrap().payload(),
            &[0xde]
        );
        let mut bad = d;
        bad[0] = 0x44;
        assert!(matches!(
            Packet::new_checked(&bad[..]),
            Err(Error::Malformed(_))
        ));
        bad[0] = 0x66;
        assert!(matches!(
            Packet::new_checked(&bad[..]),
            Err(Error::Malformed(_))
        ));
        let mut bad = d;
        bad[3] = 20; // total shorter than the 24-byte header
        assert!(matches!(
            Packet::new_checked(&bad[..]),
            Err(Error::Malformed(_))
        ));
        let mut bad = d;
        bad[21] = 9; // option length past the header
        let p = Packet::new_checked(&bad[..]).unwrap();
        assert!(p.check_options().is_err());
        bad[21] = 1;
        assert!(Packet::new_checked(&bad[..])
            .unwrap()
            .check_options()
            .is_err());
        bad[20] = OPT_NOP;
        bad[21] = OPT_END;
        let p = Packet::new_checked(&bad[..]).unwrap();
        let opts: Vec<_> = p.options_iter().collect();
        assert_eq!(opts, vec![Ok(Ipv4Option::Nop), Ok(Ipv4Option::End)]);
    }
}
