//! ICMPv6 (RFC 4443) and the neighbour discovery messages a router answers
//! (RFC 4861 §4.3–4.4: neighbour solicitation and advertisement, with their
//! source/target link-layer address options).
//!
//! [`Packet::new_checked`] requires the 8-byte header every message has, and
//! for NS/NA the 24 bytes up to the end of the target address. The checksum
//! covers an IPv6 pseudo-header and the whole message (the upper-layer
//! payload), so the buffer must end where the IPv6 payload ends. Error
//! messages (type < 128) quote the packet that caused them:
//! [`Packet::embedded_ipv6`].

use std::net::{IpAddr, Ipv6Addr};

use super::ethernet::MacAddr;
use super::{be16, be32, checksum, ipv6, put16, put32, Error, IpProtocol, Result};

mod field {
    use crate::wire::{Field, Rest};

    pub const TYPE: usize = 0;
    pub const CODE: usize = 1;
    pub const CHECKSUM: Field = 2..4;
    pub const ECHO_IDENT: Field = 4..6;
    pub const ECHO_SEQNO: Field = 6..8;
    /// MTU of packet too big; pointer of parameter problem.
    pub const WORD: Field = 4..8;
    pub const NA_FLAGS: usize = 4;
    pub const TARGET: Field = 8..24;
    pub const DATA: Rest = 8..;
    pub const NDISC_OPTIONS: Rest = 24..;
}

/// Length of the header common to every message.
pub const HEADER_LEN: usize = field::DATA.start;
/// Length of an NS or NA up to the end of its target address.
pub const NDISC_LEN: usize = field::NDISC_OPTIONS.start;

/// Message types.
pub mod types {
    pub const DEST_UNREACHABLE: u8 = 1;
    pub const PACKET_TOO_BIG: u8 = 2;
    pub const TIME_EXCEEDED: u8 = 3;
    pub const PARAM_PROBLEM: u8 = 4;
    pub const ECHO_REQUEST: u8 = 128;
    pub const ECHO_REPLY: u8 = 129;
    pub const ROUTER_SOLICIT: u8 = 133;
    pub const ROUTER_ADVERT: u8 = 134;
    pub const NEIGHBOR_SOLICIT: u8 = 135;
    pub const NEIGHBOR_ADVERT: u8 = 136;
    pub const REDIRECT: u8 = 137;
}

/// Neighbour advertisement flags (byte 4).
pub mod na_flags {
    pub const ROUTER: u8 = 0x80;
    pub const SOLICITED: u8 = 0x40;
    pub const OVERRIDE: u8 = 0x20;
}

/// Neighbour discovery option types.
pub mod ndisc_option {
    pub const SOURCE_LL_ADDR: u8 = 1;
    pub const TARGET_LL_ADDR: u8 = 2;
    pub const PREFIX_INFO: u8 = 3;
    pub const REDIRECTED_HEADER: u8 = 4;
    pub const MTU: u8 = 5;
}

/// True for the error messages (RFC 4443 §2.1: the high bit of the type is
/// clear).
pub fn is_error_type(t: u8) -> bool {
    t < 128
}

/// A view of an ICMPv6 message.
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
        if len < HEADER_LEN || (self.is_ndisc() && len < NDISC_LEN) {
            return Err(Error::Truncated);
        }
        Ok(())
    }

    pub fn into_inner(self) -> T {
        self.buffer
    }

    pub fn msg_type(&self) -> u8 {
        self.buffer.as_ref()[field::TYPE]
    }

    pub fn msg_code(&self) -> u8 {
        self.buffer.as_ref()[field::CODE]
    }

    pub fn checksum(&self) -> u16 {
        be16(&self.buffer.as_ref()[field::CHECKSUM])
    }

    pub fn is_error(&self) -> bool {
        is_error_type(self.msg_type())
    }

    /// A neighbour solicitation or advertisement.
    pub fn is_ndisc(&self) -> bool {
        matches!(
            self.msg_type(),
            types::NEIGHBOR_SOLICIT | types::NEIGHBOR_ADVERT
        )
    }

    pub fn echo_ident(&self) -> u16 {
        be16(&self.buffer.as_ref()[field::ECHO_IDENT])
    }

    pub fn echo_seq_no(&self) -> u16 {
        be16(&self.buffer.as_ref()[field::ECHO_SEQNO])
    }

    /// MTU of a packet too big message.
    pub fn mtu(&self) -> u32 {
        be32(&self.buffer.as_ref()[field::WORD])
    }

    /// Pointer of a parameter problem message.
    pub fn pointer(&self) -> u32 {
        be32(&self.buffer.as_ref()[field::WORD])
    }

    /// Flags of a neighbour advertisement: bits of [`na_flags`].
    pub fn na_flags(&self) -> u8 {
        self.buffer.as_ref()[field::NA_FLAGS] & 0xe0
    }

    /// Target address of an NS or NA; `None` for other types.
    pub fn target_addr(&self) -> Option<Ipv6Addr> {
        if !self.is_ndisc() {
            return None;
        }
        let mut a = [0u8; 16];
        a.copy_from_slice(&self.buffer.as_ref()[field::TARGET]);
        Some(Ipv6Addr::from(a))
    }

    /// Everything after the 8-byte header.
    pub fn data(&self) -> &[u8] {
        &self.buffer.as_ref()[field::DATA]
    }

    /// The quoted packet of an error message; `None` for other types.
    pub fn original_packet(&self) -> Option<&[u8]> {
        self.is_error().then(|| self.data())
    }

    /// A view of the quoted packet's IPv6 header (the packet itself is
    /// usually cut short): `Unsupported` for a non-error message.
    pub fn embedded_ipv6(&self) -> Result<ipv6::Packet<&[u8]>> {
        let d = self
            .original_packet()
            .ok_or(Error::Unsupported("ICMPv6 message is not an error"))?;
        ipv6::Packet::new_checked_header(d)
    }

    /// The options of an NS or NA (empty for other types).
    pub fn ndisc_options(&self) -> NdiscOptions<'_> {
        let rest = if self.is_ndisc() {
            &self.buffer.as_ref()[field::NDISC_OPTIONS]
        } else {
            &[]
        };
        NdiscOptions { rest }
    }

    /// RFC 4861 §4.6 framing of the options: no option of length 0, none
    /// running past the message.
    pub fn check_ndisc_options(&self) -> Result<()> {
        for o in self.ndisc_options() {
            o?;
        }
        Ok(())
    }

    fn ll_option(&self, kind: u8) -> Option<MacAddr> {
        self.ndisc_options()
            .map_while(|o| o.ok())
            .find(|o| o.kind == kind && o.data.len() == 6)
            .map(|o| MacAddr::from_bytes(o.data))
    }

    /// The source link-layer address option (an Ethernet address).
    pub fn source_ll_addr(&self) -> Option<MacAddr> {
        self.ll_option(ndisc_option::SOURCE_LL_ADDR)
    }

    /// The target link-layer address option (an Ethernet address).
    pub fn target_ll_addr(&self) -> Option<MacAddr> {
        self.ll_option(ndisc_option::TARGET_LL_ADDR)
    }

    /// True when the checksum verifies for a message from `src` to `dst`.
    pub fn verify_checksum(&self, src: &IpAddr, dst: &IpAddr) -> bool {
        checksum::transport(src, dst, IpProtocol::ICMPV6.0, self.buffer.as_ref()) == 0
    }
}

impl<T: AsRef<[u8]> + AsMut<[u8]>> Packet<T> {
    pub fn set_msg_type(&mut self, v: u8) {
        self.buffer.as_mut()[field::TYPE] = v;
    }

    pub fn set_msg_code(&mut self, v: u8) {
        self.buffer.as_mut()[field::CODE] = v;
    }

    pub fn set_checksum(&mut self, v: u16) {
        put16(&mut self.buffer.as_mut()[field::CHECKSUM], v);
    }

    pub fn set_echo_ident(&mut self, v: u16) {
        put16(&mut self.buffer.as_mut()[field::ECHO_IDENT], v);
    }

    pub fn set_echo_seq_no(&mut self, v: u16) {
        put16(&mut self.buffer.as_mut()[field::ECHO_SEQNO], v);
    }

    pub fn set_mtu(&mut self, v: u32) {
        put32(&mut self.buffer.as_mut()[field::WORD], v);
    }

    pub fn set_pointer(&mut self, v: u32) {
        put32(&mut self.buffer.as_mut()[field::WORD], v);
    }

    /// Sets the NA flags and clears the reserved bits after them.
    pub fn set_na_flags(&mut self, flags: u8) {
        put32(
            &mut self.buffer.as_mut()[field::WORD],
            ((flags & 0xe0) as u32) << 24,
        );
    }

    /// Sets the target address of an NS or NA (the message must have the
    /// type already, and the buffer [`NDISC_LEN`] bytes).
    pub fn set_target_addr(&mut self, a: Ipv6Addr) {
        self.buffer.as_mut()[field::TARGET].copy_from_slice(&a.octets());
    }

    /// Computes and writes the checksum for a message from `src` to `dst`.
    pub fn fill_checksum(&mut self, src: &IpAddr, dst: &IpAddr) {
        self.set_checksum(0);
        let c = checksum::transport(src, dst, IpProtocol::ICMPV6.0, self.buffer.as_ref());
        self.set_checksum(c);
    }

    /// Sets the echo identifier and updates the checksum incrementally.
    pub fn rewrite_echo_ident(&mut self, id: u16) {
        let c = checksum::update16(self.checksum(), self.echo_ident(), id);
        self.set_echo_ident(id);
        self.set_checksum(c);
    }

    /// Updates the checksum for a pseudo-header address that changed from
    /// `old` to `new`.
    pub fn adjust_checksum(&mut self, old: &[u8], new: &[u8]) {
        let c = checksum::update_bytes(self.checksum(), false, old, new);
        self.set_checksum(c);
    }

    pub fn data_mut(&mut self) -> &mut [u8] {
        &mut self.buffer.as_mut()[field::DATA]
    }
}

/// One neighbour discovery option: its type and the bytes after its length
/// byte (length × 8 − 2 of them).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NdiscOption<'a> {
    pub kind: u8,
    pub data: &'a [u8],
}

/// Iterator over NDP options. Yields `Err(Malformed)` once (then stops) for
/// an option of length 0 or one that runs past the message; a lone trailing
/// byte is `Truncated`.
#[derive(Debug, Clone)]
pub struct NdiscOptions<'a> {
    rest: &'a [u8],
}

impl<'a> Iterator for NdiscOptions<'a> {
    type Item = Result<NdiscOption<'a>>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.rest.is_empty() {
            return None;
        }
        let item = match self.rest {
            [_] => Err(Error::Truncated),
            [kind, len, ..] => {
                let n = *len as usize * 8;
                if n == 0 || n > self.rest.len() {
                    Err(Error::Malformed("NDP option length"))
                } else {
                    let o = NdiscOption {
                        kind: *kind,
                        data: &self.rest[2..n],
                    };
                    self.rest = &self.rest[n..];
                    return Some(Ok(o));
                }
            }
            [] => return None,
        };
        self.rest = &[];
        Some(item)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn addrs() -> (IpAddr, IpAddr) {
        (
            IpAddr::V6("fe80::5054:ff:fe12:3456".parse().unwrap()),
            IpAddr::V6("ff02::1:ff00:1".parse().unwrap()),
        )
    }

    /// NS for 2001:db8::1 from fe80::5054:ff:fe12:3456, with its source
    /// link-layer address 52:54:00:12:34:56.
    fn solicitation() -> [u8; 32] {
        let mut m = [
            0x87, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, // type, code, cksum, reserved
            0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, // target
            0x01, 0x01, 0x52, 0x54, 0x00, 0x12, 0x34, 0x56, // SLLA
        ];
        let (s, d) = addrs();
        Packet::new_unchecked(&mut m[..]).fill_checksum(&s, &d);
        m
    }

    #[test]
    fn decode_solicitation() {
        let m = solicitation();
        let (s, d) = addrs();
        let p = Packet::new_checked(&m[..]).unwrap();
        assert_eq!(p.msg_type(), types::NEIGHBOR_SOLICIT);
        assert_eq!(p.msg_code(), 0);
        assert!(p.verify_checksum(&s, &d));
        assert!(p.is_ndisc() && !p.is_error());
        assert_eq!(p.target_addr(), Some("2001:db8::1".parse().unwrap()));
        assert_eq!(
            p.source_ll_addr(),
            Some(MacAddr([0x52, 0x54, 0x00, 0x12, 0x34, 0x56]))
        );
        assert_eq!(p.target_ll_addr(), None);
        assert!(p.check_ndisc_options().is_ok());
        let opts: Vec<_> = p.ndisc_options().collect();
        assert_eq!(opts.len(), 1);
    }

    #[test]
    fn advertisement_by_setters() {
        let (s, d) = addrs();
        let mut m = [0u8; 32];
        let mut p = Packet::new_unchecked(&mut m[..]);
        p.set_msg_type(types::NEIGHBOR_ADVERT);
        p.set_na_flags(na_flags::ROUTER | na_flags::SOLICITED | na_flags::OVERRIDE | 0x1f);
        p.set_target_addr("2001:db8::1".parse().unwrap());
        p.data_mut()[16..].copy_from_slice(&[0x02, 0x01, 0x02, 0, 0, 0, 0, 1]);
        p.fill_checksum(&d, &s);
        let p = Packet::new_checked(&m[..]).unwrap();
        assert_eq!(p.na_flags(), 0xe0);
        assert_eq!(m[4..8], [0xe0, 0, 0, 0]);
        assert_eq!(p.target_ll_addr(), Some(MacAddr([2, 0, 0, 0, 0, 1])));
        assert!(p.verify_checksum(&d, &s));
        assert!(!p.verify_checksum(&d, &d));
    }

    #[test]
    fn echo_and_packet_too_big() {
        let (s, d) = addrs();
        let mut m = [0x80, 0, 0, 0, 0x12, 0x34, 0x00, 0x07, 0xaa, 0xbb];
        let mut p = Packet::new_checked(&mut m[..]).unwrap();
        p.fill_checksum(&s, &d);
        assert_eq!((p.echo_ident(), p.echo_seq_no()), (0x1234, 7));
        p.rewrite_echo_ident(0x9999);
        assert!(p.verify_checksum(&s, &d));
        let new_s: Ipv6Addr = "2001:db8::99".parse().unwrap();
        let old_s = match s {
            IpAddr::V6(a) => a,
            IpAddr::V4(_) => unreachable!(),
        };
        p.adjust_checksum(&old_s.octets(), &new_s.octets());
        assert!(p.verify_checksum(&IpAddr::V6(new_s), &d));
        p.set_echo_seq_no(8);
        assert_eq!(p.echo_seq_no(), 8);
        assert_eq!(p.target_addr(), None);
        assert_eq!(p.ndisc_options().count(), 0);
        assert!(p.embedded_ipv6().is_err());

        // Packet too big, MTU 1280, quoting a TCP packet's fixed header.
        let mut m = vec![0x02, 0x00, 0x00, 0x00, 0x00, 0x00, 0x05, 0x00];
        let mut q = vec![0x60, 0, 0, 0, 0x05, 0xb4, 6, 64];
        q.extend_from_slice(&new_s.octets());
        q.extend_from_slice(&old_s.octets());
        m.extend_from_slice(&q);
        let p = Packet::new_checked(&m[..]).unwrap();
        assert!(p.is_error());
        assert_eq!(p.mtu(), 1280);
        assert_eq!(p.pointer(), 1280);
        let ip = p.embedded_ipv6().unwrap();
        assert_eq!(ip.next_header(), IpProtocol::TCP);
        assert_eq!(ip.src_addr(), new_s);
        assert_eq!(ip.payload_len(), 1460);
        let mut m2 = m.clone();
        let mut p = Packet::new_checked(&mut m2[..]).unwrap();
        p.set_mtu(1400);
        p.set_pointer(40);
        assert_eq!(p.mtu(), 40);
    }

    #[test]
    fn malformed() {
        let m = solicitation();
        assert_eq!(Packet::new_checked(&m[..23]).unwrap_err(), Error::Truncated);
        assert_eq!(Packet::new_checked(&m[..7]).unwrap_err(), Error::Truncated);
        assert!(Packet::new_checked(&m[..24])
            .unwrap()
            .source_ll_addr()
            .is_none());
        let p = Packet::new_checked(&m[..25]).unwrap();
        assert_eq!(p.check_ndisc_options(), Err(Error::Truncated));
        let mut bad = m;
        bad[25] = 0;
        let p = Packet::new_checked(&bad[..]).unwrap();
        assert!(matches!(p.check_ndisc_options(), Err(Error::Malformed(_))));
        assert_eq!(p.source_ll_addr(), None);
        bad[25] = 2;
        let p = Packet::new_checked(&bad[..]).unwrap();
        assert!(p.check_ndisc_options().is_err());
    }
}
