//! IEEE 802.1Q VLAN tags, and 802.1ad (QinQ) service tags.
//!
//! On the wire a tag is the TPID (0x8100 for 802.1Q, 0x88a8 for an 802.1ad
//! outer tag) in the place of the ethertype, then the tag control information
//! (PCP 3 bits, DEI 1 bit, VID 12 bits), then the ethertype of what follows.
//! The TPID belongs to the header before (Ethernet, or the outer tag), so this
//! view starts at the TCI: 4 bytes, TCI then inner ethertype.
//!
//! Like the kernel's `__vlan_get_protocol`, either TPID is accepted at either
//! depth; the legacy 0x9100 QinQ TPID is not a tag. VID 0 is a priority tag
//! (802.1p, no VLAN membership); VID 4095 is reserved.

use super::{be16, put16, Error, EtherType, Result};

mod field {
    use crate::wire::{Field, Rest};

    pub const TCI: Field = 0..2;
    pub const ETHERTYPE: Field = 2..4;
    pub const PAYLOAD: Rest = 4..;
}

/// Length of a tag after its TPID.
pub const HEADER_LEN: usize = field::PAYLOAD.start;

/// The largest VLAN ID; 4095 itself is reserved.
pub const VID_MAX: u16 = 0x0fff;

/// A view of one VLAN tag (TCI, inner ethertype) and what follows it.
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

    /// The whole tag control information.
    pub fn tci(&self) -> u16 {
        be16(&self.buffer.as_ref()[field::TCI])
    }

    /// Priority code point (802.1p class), 0..=7.
    pub fn pcp(&self) -> u8 {
        (self.tci() >> 13) as u8
    }

    /// Drop eligible indicator (formerly CFI).
    pub fn dei(&self) -> bool {
        self.tci() & 0x1000 != 0
    }

    /// VLAN identifier, 0..=4095.
    pub fn vid(&self) -> u16 {
        self.tci() & VID_MAX
    }

    /// Ethertype of what follows the tag (another TPID for a QinQ outer tag).
    pub fn ethertype(&self) -> EtherType {
        EtherType(be16(&self.buffer.as_ref()[field::ETHERTYPE]))
    }

    pub fn payload(&self) -> &[u8] {
        &self.buffer.as_ref()[field::PAYLOAD]
    }
}

impl<T: AsRef<[u8]> + AsMut<[u8]>> Packet<T> {
    pub fn set_tci(&mut self, tci: u16) {
        put16(&mut self.buffer.as_mut()[field::TCI], tci);
    }

    /// Sets the priority; only the low three bits of `pcp` are used.
    pub fn set_pcp(&mut self, pcp: u8) {
        let tci = (self.tci() & 0x1fff) | ((pcp as u16 & 0x7) << 13);
        self.set_tci(tci);
    }

    pub fn set_dei(&mut self, dei: bool) {
        let tci = (self.tci() & !0x1000) | if dei { 0x1000 } else { 0 };
        self.set_tci(tci);
    }

    /// Sets the VLAN ID; only the low twelve bits of `vid` are used.
    pub fn set_vid(&mut self, vid: u16) {
        let tci = (self.tci() & !VID_MAX) | (vid & VID_MAX);
        self.set_tci(tci);
    }

    pub fn set_ethertype(&mut self, value: EtherType) {
        put16(&mut self.buffer.as_mut()[field::ETHERTYPE], value.0);
    }

    pub fn payload_mut(&mut self) -> &mut [u8] {
        &mut self.buffer.as_mut()[field::PAYLOAD]
    }
}

/// The owned form of a tag.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Repr {
    pub pcp: u8,
    pub dei: bool,
    pub vid: u16,
    pub ethertype: EtherType,
}

impl Repr {
    pub fn parse<T: AsRef<[u8]>>(packet: &Packet<T>) -> Result<Repr> {
        packet.check_len()?;
        Ok(Repr {
            pcp: packet.pcp(),
            dei: packet.dei(),
            vid: packet.vid(),
            ethertype: packet.ethertype(),
        })
    }

    pub const fn buffer_len(&self) -> usize {
        HEADER_LEN
    }

    pub fn emit<T: AsRef<[u8]> + AsMut<[u8]>>(&self, packet: &mut Packet<T>) {
        packet.set_tci(0);
        packet.set_pcp(self.pcp);
        packet.set_dei(self.dei);
        packet.set_vid(self.vid);
        packet.set_ethertype(self.ethertype);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    // TCI: PCP 5, DEI 1, VID 0x123; inner ethertype IPv4.
    const TAG: [u8; 6] = [0xb1, 0x23, 0x08, 0x00, 0x45, 0x00];

    #[test]
    fn decode() {
        let p = Packet::new_checked(&TAG[..]).unwrap();
        assert_eq!(p.tci(), 0xb123);
        assert_eq!(p.pcp(), 5);
        assert!(p.dei());
        assert_eq!(p.vid(), 0x123);
        assert_eq!(p.ethertype(), EtherType::IPV4);
        assert_eq!(p.payload(), &[0x45, 0x00]);
    }

    #[test]
    fn emit_round_trip_and_setters() {
        let repr = Repr::parse(&Packet::new_checked(&TAG[..]).unwrap()).unwrap();
        let mut buf = [0u8; 6];
        buf[4..].copy_from_slice(&TAG[4..]);
        repr.emit(&mut Packet::new_unchecked(&mut buf[..]));
        assert_eq!(buf, TAG);

        let mut p = Packet::new_unchecked(&mut buf[..]);
        p.set_vid(0xfff7); // only 12 bits land
        p.set_pcp(0);
        p.set_dei(false);
        assert_eq!(p.vid(), 0xff7);
        assert_eq!(p.pcp(), 0);
        assert!(!p.dei());
        p.set_pcp(7);
        assert_eq!(p.tci(), 0xeff7);
    }

    #[test]
    fn truncated() {
        assert_eq!(
            Packet::new_checked(&TAG[..3]).unwrap_err(),
            Error::Truncated
        );
    }
}
