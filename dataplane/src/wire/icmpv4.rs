//! ICMP for IPv4 (RFC 792, RFC 1191 for the next-hop MTU).
//!
//! Every message starts with type, code, checksum and four type-specific
//! bytes; [`Packet::new_checked`] requires those 8 bytes. The checksum covers
//! the whole message (the IP payload), without a pseudo-header. Error
//! messages (destination unreachable, source quench, redirect, time exceeded,
//! parameter problem) carry the start of the datagram that caused them —
//! what conntrack reads to find the RELATED connection — through
//! [`Packet::original_datagram`] and [`Packet::embedded_ipv4`].

use std::net::Ipv4Addr;

use super::{be16, checksum, ipv4, ipv4_at, put16, Error, Result};

mod field {
    use crate::wire::{Field, Rest};

    pub const TYPE: usize = 0;
    pub const CODE: usize = 1;
    pub const CHECKSUM: Field = 2..4;
    pub const ECHO_IDENT: Field = 4..6;
    pub const ECHO_SEQNO: Field = 6..8;
    pub const GATEWAY: Field = 4..8;
    pub const POINTER: usize = 4;
    pub const NEXT_HOP_MTU: Field = 6..8;
    pub const DATA: Rest = 8..;
}

/// Length of the header (type, code, checksum, four type-specific bytes).
pub const HEADER_LEN: usize = field::DATA.start;

/// Message types.
pub mod types {
    pub const ECHO_REPLY: u8 = 0;
    pub const DEST_UNREACHABLE: u8 = 3;
    pub const SOURCE_QUENCH: u8 = 4;
    pub const REDIRECT: u8 = 5;
    pub const ECHO_REQUEST: u8 = 8;
    pub const ROUTER_ADVERT: u8 = 9;
    pub const ROUTER_SOLICIT: u8 = 10;
    pub const TIME_EXCEEDED: u8 = 11;
    pub const PARAM_PROBLEM: u8 = 12;
    pub const TIMESTAMP: u8 = 13;
    pub const TIMESTAMP_REPLY: u8 = 14;
    pub const INFO_REQUEST: u8 = 15;
    pub const INFO_REPLY: u8 = 16;
    pub const ADDRESS_MASK: u8 = 17;
    pub const ADDRESS_MASK_REPLY: u8 = 18;
}

/// Destination unreachable codes (the ones `iptables -j REJECT` sends, and
/// fragmentation needed).
pub mod unreachable {
    pub const NET: u8 = 0;
    pub const HOST: u8 = 1;
    pub const PROTOCOL: u8 = 2;
    pub const PORT: u8 = 3;
    pub const FRAG_NEEDED: u8 = 4;
    pub const NET_PROHIBITED: u8 = 9;
    pub const HOST_PROHIBITED: u8 = 10;
    pub const ADMIN_PROHIBITED: u8 = 13;
}

/// True for the error messages that quote the offending datagram.
pub fn is_error_type(t: u8) -> bool {
    matches!(
        t,
        types::DEST_UNREACHABLE
            | types::SOURCE_QUENCH
            | types::REDIRECT
            | types::TIME_EXCEEDED
            | types::PARAM_PROBLEM
    )
}

/// True for the query messages whose bytes 4..6 are an identifier (the ones
/// the kernel's ICMP conntrack tracks as a connection).
pub fn is_query_type(t: u8) -> bool {
    matches!(
        t,
        types::ECHO_REPLY
            | types::ECHO_REQUEST
            | types::TIMESTAMP
            | types::TIMESTAMP_REPLY
            | types::INFO_REQUEST
            | types::INFO_REPLY
            | types::ADDRESS_MASK
            | types::ADDRESS_MASK_REPLY
    )
}

/// A view of an ICMPv4 message.
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
        if self.buffer.as_ref().len() < HEADER_LEN {
            Err(Error::Truncated)
        } else {
            Ok(())
        }
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

    /// Identifier of an echo (or other query) message.
    pub fn echo_ident(&self) -> u16 {
        be16(&self.buffer.as_ref()[field::ECHO_IDENT])
    }

    /// Sequence number of an echo (or other query) message.
    pub fn echo_seq_no(&self) -> u16 {
        be16(&self.buffer.as_ref()[field::ECHO_SEQNO])
    }

    /// Next-hop MTU of a "fragmentation needed" unreachable (RFC 1191).
    pub fn next_hop_mtu(&self) -> u16 {
        be16(&self.buffer.as_ref()[field::NEXT_HOP_MTU])
    }

    /// Gateway address of a redirect.
    pub fn gateway(&self) -> Ipv4Addr {
        ipv4_at(&self.buffer.as_ref()[field::GATEWAY])
    }

    /// Pointer of a parameter problem.
    pub fn pointer(&self) -> u8 {
        self.buffer.as_ref()[field::POINTER]
    }

    /// Everything after the 8-byte header: echo data, or the quoted datagram
    /// of an error.
    pub fn data(&self) -> &[u8] {
        &self.buffer.as_ref()[field::DATA]
    }

    /// The quoted datagram of an error message; `None` for other types.
    pub fn original_datagram(&self) -> Option<&[u8]> {
        self.is_error().then(|| self.data())
    }

    /// A view of the quoted datagram's IPv4 header (the datagram itself is
    /// usually cut short): `Unsupported` for a non-error message.
    pub fn embedded_ipv4(&self) -> Result<ipv4::Packet<&[u8]>> {
        let d = self
            .original_datagram()
            .ok_or(Error::Unsupported("ICMP message is not an error"))?;
        ipv4::Packet::new_checked_header(d)
    }

    /// True when the checksum over the whole message verifies.
    pub fn verify_checksum(&self) -> bool {
        checksum::checksum(self.buffer.as_ref()) == 0
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

    pub fn set_next_hop_mtu(&mut self, v: u16) {
        put16(&mut self.buffer.as_mut()[field::NEXT_HOP_MTU], v);
    }

    pub fn set_gateway(&mut self, a: Ipv4Addr) {
        self.buffer.as_mut()[field::GATEWAY].copy_from_slice(&a.octets());
    }

    pub fn set_pointer(&mut self, v: u8) {
        self.buffer.as_mut()[field::POINTER] = v;
    }

    /// Computes and writes the checksum over the whole message.
    pub fn fill_checksum(&mut self) {
        self.set_checksum(0);
        let c = checksum::checksum(self.buffer.as_ref());
        self.set_checksum(c);
    }

    /// Sets the query identifier and updates the checksum incrementally (NAT
    /// of echo flows maps the identifier like a port).
    pub fn rewrite_echo_ident(&mut self, id: u16) {
        let c = checksum::update16(self.checksum(), self.echo_ident(), id);
        self.set_echo_ident(id);
        self.set_checksum(c);
    }

    /// Overwrites the bytes at `offset` (from the start of the message) with
    /// `new` — at most 16 bytes, an address or less; the rest is ignored —
    /// and updates the checksum incrementally: NAT of an error rewrites the
    /// quoted addresses and ports. Nothing happens when the range is outside
    /// the message.
    pub fn rewrite_bytes(&mut self, offset: usize, new: &[u8]) {
        let b = self.buffer.as_mut();
        let Some(slot) = b.get_mut(offset..offset.saturating_add(new.len())) else {
            return;
        };
        let mut old = [0u8; 16];
        let n = new.len().min(16);
        old[..n].copy_from_slice(&slot[..n]);
        slot[..n].copy_from_slice(&new[..n]);
        let c = checksum::update_bytes(self.checksum(), offset % 2 == 1, &old[..n], &new[..n]);
        self.set_checksum(c);
    }

    pub fn data_mut(&mut self) -> &mut [u8] {
        &mut self.buffer.as_mut()[field::DATA]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `ping` from Linux: echo request id 0x1f2e seq 1, 8 bytes of data.
    fn echo() -> [u8; 16] {
        let mut m = [
            0x08, 0x00, 0x00, 0x00, 0x1f, 0x2e, 0x00, 0x01, 0x61, 0x62, 0x63, 0x64, 0x65, 0x66,
            0x67, 0x68,
        ];
        Packet::new_unchecked(&mut m[..]).fill_checksum();
        m
    }

    #[test]
    fn decode_echo() {
        let m = echo();
        let p = Packet::new_checked(&m[..]).unwrap();
        assert_eq!(p.msg_type(), types::ECHO_REQUEST);
        assert_eq!(p.msg_code(), 0);
        assert_eq!(p.echo_ident(), 0x1f2e);
        assert_eq!(p.echo_seq_no(), 1);
        assert!(p.verify_checksum());
        assert_eq!(
            p.checksum(),
            checksum::checksum(&{
                let mut z = m;
                z[2] = 0;
                z[3] = 0;
                z
            })
        );
        assert!(!p.is_error() && is_query_type(p.msg_type()));
        assert_eq!(p.data(), b"abcdefgh");
        assert_eq!(p.original_datagram(), None);
        assert!(p.embedded_ipv4().is_err());
    }

    #[test]
    fn echo_reply_by_setters() {
        let mut m = echo();
        let mut p = Packet::new_checked(&mut m[..]).unwrap();
        p.set_msg_type(types::ECHO_REPLY);
        p.fill_checksum();
        p.rewrite_echo_ident(0x4000);
        assert!(p.verify_checksum());
        assert_eq!(p.echo_ident(), 0x4000);
        p.set_echo_seq_no(2);
        p.fill_checksum();
        assert_eq!(&m[..8], &{
            let mut w = [0x00, 0x00, 0, 0, 0x40, 0x00, 0x00, 0x02];
            let c = !checksum::combine(&[checksum::sum(&w), checksum::sum(b"abcdefgh")]);
            w[2..4].copy_from_slice(&c.to_be_bytes());
            w
        });
    }

    /// A port unreachable for a UDP datagram 10.0.0.2:40000 -> 10.0.0.1:9.
    fn port_unreachable() -> Vec<u8> {
        let mut m = vec![0x03, 0x03, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00];
        let mut ip = [
            0x45, 0x00, 0x00, 0x20, 0x00, 0x01, 0x00, 0x00, 0x40, 0x11, 0x00, 0x00, 10, 0, 0, 2,
            10, 0, 0, 1,
        ];
        crate::wire::ipv4::Packet::new_unchecked(&mut ip[..]).fill_checksum();
        m.extend_from_slice(&ip);
        m.extend_from_slice(&[0x9c, 0x40, 0x00, 0x09, 0x00, 0x0c, 0x00, 0x00]);
        Packet::new_unchecked(&mut m[..]).fill_checksum();
        m
    }

    #[test]
    fn decode_error_and_embedded() {
        let m = port_unreachable();
        let p = Packet::new_checked(&m[..]).unwrap();
        assert!(p.is_error());
        assert_eq!((p.msg_type(), p.msg_code()), (3, unreachable::PORT));
        assert!(p.verify_checksum());
        let ip = p.embedded_ipv4().unwrap();
        assert_eq!(ip.src_addr(), Ipv4Addr::new(10, 0, 0, 2));
        assert_eq!(ip.dst_addr(), Ipv4Addr::new(10, 0, 0, 1));
        assert_eq!(ip.protocol(), crate::wire::IpProtocol::UDP);
        assert_eq!(ip.total_len(), 32); // quoted datagram is longer than its quote
        assert_eq!(
            ip.payload(),
            &[0x9c, 0x40, 0x00, 0x09, 0x00, 0x0c, 0x00, 0x00]
        );
        assert_eq!(p.original_datagram().unwrap().len(), 28);
    }

    #[test]
    fn rewrite_quoted_bytes() {
        let mut m = port_unreachable();
        let mut p = Packet::new_checked(&mut m[..]).unwrap();
        p.rewrite_bytes(8 + 12, &[192, 168, 7, 7]); // quoted source address
        p.rewrite_bytes(28 + 1, &[0x55]); // an odd byte
        assert!(p.verify_checksum());
        p.rewrite_bytes(1000, &[1]); // outside: nothing
        assert!(p.verify_checksum());
        assert_eq!(
            p.embedded_ipv4().unwrap().src_addr(),
            Ipv4Addr::new(192, 168, 7, 7)
        );
    }

    #[test]
    fn other_fields() {
        let mut m = [0u8; 8];
        let mut p = Packet::new_checked(&mut m[..]).unwrap();
        p.set_msg_type(types::DEST_UNREACHABLE);
        p.set_msg_code(unreachable::FRAG_NEEDED);
        p.set_next_hop_mtu(1400);
        assert_eq!(p.next_hop_mtu(), 1400);
        p.set_gateway(Ipv4Addr::new(1, 2, 3, 4));
        assert_eq!(p.gateway(), Ipv4Addr::new(1, 2, 3, 4));
        p.set_pointer(9);
        assert_eq!(p.pointer(), 9);
        assert_eq!(Packet::new_checked(&m[..7]).unwrap_err(), Error::Truncated);
    }
}
