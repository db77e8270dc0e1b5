//! ARP (RFC 826) for Ethernet and IPv4: the only form a router on Ethernet
//! answers. The view's field offsets assume 6-byte hardware and 4-byte
//! protocol addresses, so [`Packet::new_checked`] refuses any other lengths
//! (the kernel's `arp_rcv` drops them too). [`ArpRepr::parse`] further
//! requires hardware type Ethernet (1) or IEEE 802 (6) and protocol type
//! IPv4, as `arp_process` does for an Ethernet device.

use std::net::Ipv4Addr;

use super::ethernet::MacAddr;
use super::{be16, ipv4_at, put16, Error, EtherType, Result};

/// ARP hardware type Ethernet.
pub const HTYPE_ETHERNET: u16 = 1;
/// ARP hardware type IEEE 802 (accepted on Ethernet devices by Linux).
pub const HTYPE_IEEE802: u16 = 6;

/// An ARP operation code.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Operation {
    Request,
    Reply,
    Other(u16),
}

impl From<u16> for Operation {
    fn from(v: u16) -> Self {
        match v {
            1 => Operation::Request,
            2 => Operation::Reply,
            v => Operation::Other(v),
        }
    }
}

impl From<Operation> for u16 {
    fn from(op: Operation) -> u16 {
        match op {
            Operation::Request => 1,
            Operation::Reply => 2,
            Operation::Other(v) => v,
        }
    }
}

mod field {
    use crate::wire::Field;

    pub const HTYPE: Field = 0..2;
    pub const PTYPE: Field = 2..4;
    pub const HLEN: usize = 4;
    pub const PLEN: usize = 5;
    pub const OPER: Field = 6..8;
    pub const SHA: Field = 8..14;
    pub const SPA: Field = 14..18;
    pub const THA: Field = 18..24;
    pub const TPA: Field = 24..28;
}

/// Length of an Ethernet/IPv4 ARP packet.
pub const PACKET_LEN: usize = field::TPA.end;

/// A view of an Ethernet/IPv4 ARP packet.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Packet<T: AsRef<[u8]>> {
    buffer: T,
}

impl<T: AsRef<[u8]>> Packet<T> {
    pub const fn new_unchecked(buffer: T) -> Packet<T> {
        Packet { buffer }
    }

    /// Wraps a buffer holding a whole Ethernet/IPv4 ARP packet: `Truncated`
    /// when short, `Unsupported` when the address lengths are not 6 and 4.
    pub fn new_checked(buffer: T) -> Result<Packet<T>> {
        let p = Packet::new_unchecked(buffer);
        p.check_len()?;
        Ok(p)
    }

    pub fn check_len(&self) -> Result<()> {
        let b = self.buffer.as_ref();
        if b.len() <= field::PLEN {
            return Err(Error::Truncated);
        }
        if b[field::HLEN] != 6 || b[field::PLEN] != 4 {
            return Err(Error::Unsupported("ARP address lengths other than 6/4"));
        }
        if b.len() < PACKET_LEN {
            return Err(Error::Truncated);
        }
        Ok(())
    }

    pub fn into_inner(self) -> T {
        self.buffer
    }

    pub fn hardware_type(&self) -> u16 {
        be16(&self.buffer.as_ref()[field::HTYPE])
    }

    pub fn protocol_type(&self) -> EtherType {
        EtherType(be16(&self.buffer.as_ref()[field::PTYPE]))
    }

    pub fn hardware_len(&self) -> u8 {
        self.buffer.as_ref()[field::HLEN]
    }

    pub fn protocol_len(&self) -> u8 {
        self.buffer.as_ref()[field::PLEN]
    }

    pub fn operation(&self) -> Operation {
        be16(&self.buffer.as_ref()[field::OPER]).into()
    }

    pub fn sender_hardware_addr(&self) -> MacAddr {
        MacAddr::from_bytes(&self.buffer.as_ref()[field::SHA])
    }

    pub fn sender_protocol_addr(&self) -> Ipv4Addr {
        ipv4_at(&self.buffer.as_ref()[field::SPA])
    }

    pub fn target_hardware_addr(&self) -> MacAddr {
        MacAddr::from_bytes(&self.buffer.as_ref()[field::THA])
    }

    pub fn target_protocol_addr(&self) -> Ipv4Addr {
        ipv4_at(&self.buffer.as_ref()[field::TPA])
    }
}

impl<T: AsRef<[u8]> + AsMut<[u8]>> Packet<T> {
    pub fn set_hardware_type(&mut self, v: u16) {
        put16(&mut self.buffer.as_mut()[field::HTYPE], v);
    }

    pub fn set_protocol_type(&mut self, v: EtherType) {
        put16(&mut self.buffer.as_mut()[field::PTYPE], v.0);
    }

    pub fn set_hardware_len(&mut self, v: u8) {
        self.buffer.as_mut()[field::HLEN] = v;
    }

    pub fn set_protocol_len(&mut self, v: u8) {
        self.buffer.as_mut()[field::PLEN] = v;
    }

    pub fn set_operation(&mut self, op: Operation) {
        put16(&mut self.buffer.as_mut()[field::OPER], op.into());
    }

    pub fn set_sender_hardware_addr(&mut self, a: MacAddr) {
        self.buffer.as_mut()[field::SHA].copy_from_slice(&a.0);
    }

    pub fn set_sender_protocol_addr(&mut self, a: Ipv4Addr) {
        self.buffer.as_mut()[field::SPA].copy_from_slice(&a.octets());
    }

    pub fn set_target_hardware_addr(&mut self, a: MacAddr) {
        self.buffer.as_mut()[field::THA].copy_from_slice(&a.0);
    }

    pub fn set_target_protocol_addr(&mut self, a: Ipv4Addr) {
        self.buffer.as_mut()[field::TPA].copy_from_slice(&a.octets());
    }
}

/// The owned form of an Ethernet/IPv4 ARP packet.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ArpRepr {
    pub operation: Operation,
    pub sender_hardware_addr: MacAddr,
    pub sender_protocol_addr: Ipv4Addr,
    pub target_hardware_addr: MacAddr,
    pub target_protocol_addr: Ipv4Addr,
}

impl ArpRepr {
    pub fn parse<T: AsRef<[u8]>>(packet: &Packet<T>) -> Result<ArpRepr> {
        packet.check_len()?;
        let htype = packet.hardware_type();
        if htype != HTYPE_ETHERNET && htype != HTYPE_IEEE802 {
            return Err(Error::Unsupported("ARP hardware type"));
        }
        if packet.protocol_type() != EtherType::IPV4 {
            return Err(Error::Unsupported("ARP protocol type"));
        }
        Ok(ArpRepr {
            operation: packet.operation(),
            sender_hardware_addr: packet.sender_hardware_addr(),
            sender_protocol_addr: packet.sender_protocol_addr(),
            target_hardware_addr: packet.target_hardware_addr(),
            target_protocol_addr: packet.target_protocol_addr(),
        })
    }

    pub const fn buffer_len(&self) -> usize {
        PACKET_LEN
    }

    /// Writes the packet into a buffer of at least [`PACKET_LEN`] bytes.
    pub fn emit<T: AsRef<[u8]> + AsMut<[u8]>>(&self, packet: &mut Packet<T>) {
        packet.set_hardware_type(HTYPE_ETHERNET);
        packet.set_protocol_type(EtherType::IPV4);
        packet.set_hardware_len(6);
        packet.set_protocol_len(4);
        packet.set_operation(self.operation);
        packet.set_sender_hardware_addr(self.sender_hardware_addr);
        packet.set_sender_protocol_addr(self.sender_protocol_addr);
        packet.set_target_hardware_addr(self.target_hardware_addr);
        packet.set_target_protocol_addr(self.target_protocol_addr);
    }

    /// The reply to this request from the owner of its target address.
    pub fn reply(&self, our_mac: MacAddr) -> ArpRepr {
        ArpRepr {
            operation: Operation::Reply,
            sender_hardware_addr: our_mac,
            sender_protocol_addr: self.target_protocol_addr,
            target_hardware_addr: self.sender_hardware_addr,
            target_protocol_addr: self.sender_protocol_addr,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    // "Who has 192.168.1.1? Tell 192.168.1.20" after its Ethernet header.
    pub(crate) const REQUEST: [u8; 28] = [
        0x00, 0x01, 0x08, 0x00, 0x06, 0x04, 0x00, 0x01, // htype, ptype, hlen, plen, op
        0x52, 0x54, 0x00, 0x12, 0x34, 0x56, // sha
        0xc0, 0xa8, 0x01, 0x14, // spa
        0x00, 0x00, 0x00, 0x00, 0x00, 0x00, // tha
        0xc0, 0xa8, 0x01, 0x01, // tpa
    ];

    #[test]
    fn decode_request() {
        let p = Packet::new_checked(&REQUEST[..]).unwrap();
        assert_eq!(p.hardware_type(), HTYPE_ETHERNET);
        assert_eq!(p.protocol_type(), EtherType::IPV4);
        assert_eq!(p.hardware_len(), 6);
        assert_eq!(p.protocol_len(), 4);
        assert_eq!(p.operation(), Operation::Request);
        assert_eq!(
            p.sender_hardware_addr(),
            MacAddr([0x52, 0x54, 0x00, 0x12, 0x34, 0x56])
        );
        assert_eq!(p.sender_protocol_addr(), Ipv4Addr::new(192, 168, 1, 20));
        assert_eq!(p.target_hardware_addr(), MacAddr::ZERO);
        assert_eq!(p.target_protocol_addr(), Ipv4Addr::new(192, 168, 1, 1));
    }

    #[test]
    fn repr_round_trip_and_reply() {
        let repr = ArpRepr::parse(&Packet::new_checked(&REQUEST[..]).unwrap()).unwrap();
        let mut buf = [0u8; PACKET_LEN];
        repr.emit(&mut Packet::new_unchecked(&mut buf[..]));
        assert_eq!(buf, REQUEST);

        let ours = MacAddr([0x02, 0, 0, 0, 0, 1]);
        let reply = repr.reply(ours);
        reply.emit(&mut Packet::new_unchecked(&mut buf[..]));
        let p = Packet::new_checked(&buf[..]).unwrap();
        assert_eq!(p.operation(), Operation::Reply);
        assert_eq!(p.sender_hardware_addr(), ours);
        assert_eq!(p.sender_protocol_addr(), Ipv4Addr::new(192, 168, 1, 1));
        assert_eq!(p.target_protocol_addr(), Ipv4Addr::new(192, 168, 1, 20));
        assert_eq!(u16::from(Operation::Other(9)), 9);
    }

    #[test]
    fn rejects() {
        assert_eq!(
            Packet::new_checked(&REQUEST[..27]).unwrap_err(),
            Error::Truncated
        );
        let mut b = REQUEST;
        b[4] = 8;
        assert!(matches!(
            Packet::new_checked(&b[..]),
            Err(Error::Unsupported(_))
        ));
        let mut b = REQUEST;
        b[1] = 6; // IEEE 802 is fine
        assert!(ArpRepr::parse(&Packet::new_checked(&b[..]).unwrap()).is_ok());
        b[1] = 7;
        assert!(ArpRepr::parse(&Packet::new_checked(&b[..]).unwrap()).is_err());
        let mut b = REQUEST;
        b[2] = 0x86;
        assert!(ArpRepr::parse(&Packet::new_checked(&b[..]).unwrap()).is_err());
    }
}
