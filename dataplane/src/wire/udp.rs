//! UDP headers (RFC 768).
//!
//! [`Packet::new_checked`] requires the 8-byte header and 8 ≤ length field ≤
//! buffer length — the checks of conntrack's `udp_error`; the buffer may run
//! past the length field (it ends where the IP payload ends).
//!
//! Checksum rules: over IPv4 a zero checksum field means the sender computed
//! none; a computed zero is sent as `0xffff`. Over IPv6 a zero checksum is
//! invalid (RFC 8200 §8.1). Incremental rewrites keep a zero field zero.

use std::net::IpAddr;

use super::{be16, checksum, put16, Error, IpProtocol, Result};

mod field {
    use crate::wire::{Field, Rest};

    pub const SRC_PORT: Field = 0..2;
    pub const DST_PORT: Field = 2..4;
    pub const LENGTH: Field = 4..6;
    pub const CHECKSUM: Field = 6..8;
    pub const PAYLOAD: Rest = 8..;
}

/// Length of the header.
pub const HEADER_LEN: usize = field::PAYLOAD.start;

/// A view of a UDP datagram.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Packet<T: AsRef<[u8]>> {
    buffer: T,
}

impl<T: AsRef<[u8]>> Packet<T> {
    pub const fn new_unchecked(buffer: T) -> Packet<T> {
        Packet { buffer }
    }

    pub fn new_checked(buffer: T) -> Result<Packet<T>> {
        let p = Packet::new_unchecked(buffer);
        p.check_len()?;
        Ok(p)
    }

    pub fn check_len(&self) -> Result<()> {
        let len = self.buffer.as_ref().len();
        if len < HEADER_LEN {
            return Err(Error::Truncated);
        }
        let l = self.len() as usize;
        if l < HEADER_LEN {
            return Err(Error::Malformed("UDP length below 8"));
        }
        if l > len {
            return Err(Error::Truncated);
        }
        Ok(())
    }

    pub fn into_inner(self) -> T {
        self.buffer
    }

    pub fn src_port(&self) -> u16 {
        be16(&self.buffer.as_ref()[field::SRC_PORT])
    }

    pub fn dst_port(&self) -> u16 {
        be16(&self.buffer.as_ref()[field::DST_PORT])
    }

    /// The length field: header and data.
    #[allow(clippy::len_without_is_empty)]
    pub fn len(&self) -> u16 {
        be16(&self.buffer.as_ref()[field::LENGTH])
    }

    pub fn checksum(&self) -> u16 {
        be16(&self.buffer.as_ref()[field::CHECKSUM])
    }

    /// The datagram as the length field bounds it (clamped to the buffer).
    fn datagram(&self) -> &[u8] {
        let b = self.buffer.as_ref();
        &b[..(self.len() as usize).clamp(HEADER_LEN.min(b.len()), b.len())]
    }

    /// The data, up to the length field.
    pub fn payload(&self) -> &[u8] {
        let d = self.datagram();
        &d[HEADER_LEN.min(d.len())..]
    }

    /// True when the checksum verifies, or is absent (zero) over IPv4.
    pub fn verify_checksum(&self, src: &IpAddr, dst: &IpAddr) -> bool {
        if self.checksum() == 0 {
            return src.is_ipv4();
        }
        checksum::transport(src, dst, IpProtocol::UDP.0, self.datagram()) == 0
    }
}

impl<T: AsRef<[u8]> + AsMut<[u8]>> Packet<T> {
    pub fn set_src_port(&mut self, v: u16) {
        put16(&mut self.buffer.as_mut()[field::SRC_PORT], v);
    }

    pub fn set_dst_port(&mut self, v: u16) {
        put16(&mut self.buffer.as_mut()[field::DST_PORT], v);
    }

    pub fn set_len(&mut self, v: u16) {
        put16(&mut self.buffer.as_mut()[field::LENGTH], v);
    }

    pub fn set_checksum(&mut self, v: u16) {
        put16(&mut self.buffer.as_mut()[field::CHECKSUM], v);
    }

    /// Computes and writes the checksum (a computed zero is written as
    /// `0xffff`).
    pub fn fill_checksum(&mut self, src: &IpAddr, dst: &IpAddr) {
        self.set_checksum(0);
        let c = checksum::transport(src, dst, IpProtocol::UDP.0, self.datagram());
        self.set_checksum(checksum::udp_wire(c));
    }

    fn update(&mut self, odd: bool, old: &[u8], new: &[u8]) {
        let c = checksum::udp_update_bytes(self.checksum(), odd, old, new);
        self.set_checksum(c);
    }

    /// Sets the source port and updates the checksum incrementally.
    pub fn rewrite_src_port(&mut self, port: u16) {
        let old = self.src_port();
        self.set_src_port(port);
        self.update(false, &old.to_be_bytes(), &port.to_be_bytes());
    }

    /// Sets the destination port and updates the checksum incrementally.
    pub fn rewrite_dst_port(&mut self, port: u16) {
        let old = self.dst_port();
        self.set_dst_port(port);
        self.update(false, &old.to_be_bytes(), &port.to_be_bytes());
    }

    /// Updates the checksum for a pseudo-header address that changed from
    /// `old` to `new` (4 or 16 bytes each).
    pub fn adjust_checksum(&mut self, old: &[u8], new: &[u8]) {
        self.update(false, old, new);
    }

    pub fn payload_mut(&mut self) -> &mut [u8] {
        let l = self.len() as usize;
        let b = self.buffer.as_mut();
        let start = HEADER_LEN.min(b.len());
        let end = l.clamp(start, b.len());
        &mut b[start..end]
    }
}

/// The owned form of a UDP header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Repr {
    pub src_port: u16,
    pub dst_port: u16,
}

impl Repr {
    pub fn parse<T: AsRef<[u8]>>(packet: &Packet<T>) -> Result<Repr> {
        packet.check_len()?;
        Ok(Repr {
            src_port: packet.src_port(),
            dst_port: packet.dst_port(),
        })
    }

    pub const fn buffer_len(&self) -> usize {
        HEADER_LEN
    }

    /// Writes the header for a datagram that fills the whole buffer (whose
    /// payload the caller placed after the header; at most 65535 bytes) and
    /// fills the checksum.
    pub fn emit<T: AsRef<[u8]> + AsMut<[u8]>>(
        &self,
        packet: &mut Packet<T>,
        src: &IpAddr,
        dst: &IpAddr,
    ) {
        let len = packet.buffer.as_ref().len().min(u16::MAX as usize) as u16;
        packet.set_src_port(self.src_port);
        packet.set_dst_port(self.dst_port);
        packet.set_len(len);
        packet.fill_checksum(src, dst);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::{Ipv4Addr, Ipv6Addr};

    fn v4() -> (IpAddr, IpAddr) {
        (
            IpAddr::V4(Ipv4Addr::new(10, 1, 1, 1)),
            IpAddr::V4(Ipv4Addr::new(10, 1, 1, 53)),
        )
    }

    // A DNS-ish query 5353 -> 53 with 4 bytes of data and a real checksum.
    fn datagram() -> [u8; 12] {
        let mut d = [
            0x14, 0xe9, 0x00, 0x35, 0x00, 0x0c, 0x00, 0x00, 0xca, 0xfe, 0xba, 0xbe,
        ];
        let (a, b) = v4();
        Packet::new_unchecked(&mut d[..]).fill_checksum(&a, &b);
        d
    }

    #[test]
    fn decode_every_field() {
        let d = datagram();
        let (a, b) = v4();
        let p = Packet::new_checked(&d[..]).unwrap();
        assert_eq!(p.src_port(), 5353);
        assert_eq!(p.dst_port(), 53);
        assert_eq!(p.len(), 12);
        assert_eq!(p.payload(), &[0xca, 0xfe, 0xba, 0xbe]);
        assert!(p.verify_checksum(&a, &b));
        let want = checksum::udp_wire(checksum::transport(&a, &b, 17, &{
            let mut z = d;
            z[6] = 0;
            z[7] = 0;
            z
        }));
        assert_eq!(p.checksum(), want);
    }

    #[test]
    fn zero_checksum_rules() {
        let (a, b) = v4();
        let mut d = datagram();
        d[6] = 0;
        d[7] = 0;
        let mut p = Packet::new_checked(&mut d[..]).unwrap();
        assert!(p.verify_checksum(&a, &b));
        let (x, y) = (
            IpAddr::V6(Ipv6Addr::LOCALHOST),
            IpAddr::V6(Ipv6Addr::UNSPECIFIED),
        );
        assert!(!p.verify_checksum(&x, &y));
        p.rewrite_src_port(1);
        assert_eq!(p.checksum(), 0);

        // Find a payload whose checksum computes to zero: it goes out 0xffff.
        let mut d = [0u8; 10];
        d[..8].copy_from_slice(&[0x00, 0x01, 0x00, 0x02, 0x00, 0x0a, 0x00, 0x00]);
        let base = !checksum::transport(&a, &b, 17, &d);
        let fix = base; // payload word that makes the sum 0xffff
        d[8..].copy_from_slice(&(!fix).to_be_bytes());
        let mut p = Packet::new_checked(&mut d[..]).unwrap();
        p.fill_checksum(&a, &b);
        assert_eq!(p.checksum(), 0xffff);
        assert!(p.verify_checksum(&a, &b));
    }

    #[test]
    fn rewrites_and_repr() {
        let (a, b) = v4();
        let mut d = datagram();
        let mut p = Packet::new_checked(&mut d[..]).unwrap();
        p.rewrite_src_port(61000);
        p.rewrite_dst_port(5300);
        p.adjust_checksum(&[10, 1, 1, 53], &[10, 9, 9, 9]);
        let nb = IpAddr::V4(Ipv4Addr::new(10, 9, 9, 9));
        assert!(p.verify_checksum(&a, &nb));
        let repr = Repr::parse(&p).unwrap();
        assert_eq!((repr.src_port, repr.dst_port), (61000, 5300));

        let mut out = datagram();
        out[..8].fill(0);
        Repr {
            src_port: 5353,
            dst_port: 53,
        }
        .emit(&mut Packet::new_unchecked(&mut out[..]), &a, &b);
        assert_eq!(out, datagram());
    }

    #[test]
    fn length_checks() {
        let d = datagram();
        assert_eq!(Packet::new_checked(&d[..7]).unwrap_err(), Error::Truncated);
        assert_eq!(Packet::new_checked(&d[..11]).unwrap_err(), Error::Truncated);
        let mut bad = d;
        bad[5] = 7;
        assert!(matches!(
            Packet::new_checked(&bad[..]),
            Err(Error::Malformed(_))
        ));
        let mut short = d;
        short[5] = 10; // length shorter than the buffer: payload stops at it
        assert_eq!(
            Packet::new_checked(&short[..]).unwrap().payload(),
            &[0xca, 0xfe]
        );
    }
}
