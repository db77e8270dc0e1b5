//! TCP headers (RFC 9293): ports, sequence numbers, flags, window,
//! checksum, urgent pointer and options, with the MSS option readable and
//! rewritable for TCPMSS clamping.
//!
//! The view covers one segment: the buffer must end where the IP payload
//! ends, because the checksum covers the whole segment and its length is in
//! the pseudo-header. [`Packet::new_checked`] requires a data offset ≥ 5 and
//! the whole header (options included) in the buffer.

use std::net::IpAddr;

use super::{be16, be32, checksum, put16, put32, Error, IpProtocol, Result};

mod field {
    use crate::wire::Field;

    pub const SRC_PORT: Field = 0..2;
    pub const DST_PORT: Field = 2..4;
    pub const SEQ_NUM: Field = 4..8;
    pub const ACK_NUM: Field = 8..12;
    pub const DATA_OFF: usize = 12;
    pub const FLAGS: usize = 13;
    pub const WIN_SIZE: Field = 14..16;
    pub const CHECKSUM: Field = 16..18;
    pub const URGENT: Field = 18..20;
}

/// Length of a header without options.
pub const HEADER_LEN: usize = field::URGENT.end;

/// The flag bits of the flags byte (what `iptables --tcp-flags` matches).
pub mod flags {
    pub const FIN: u8 = 0x01;
    pub const SYN: u8 = 0x02;
    pub const RST: u8 = 0x04;
    pub const PSH: u8 = 0x08;
    pub const ACK: u8 = 0x10;
    pub const URG: u8 = 0x20;
    pub const ECE: u8 = 0x40;
    pub const CWR: u8 = 0x80;
}

/// Option kinds.
pub mod kind {
    pub const END: u8 = 0;
    pub const NOP: u8 = 1;
    pub const MSS: u8 = 2;
    pub const WINDOW_SCALE: u8 = 3;
    pub const SACK_PERMITTED: u8 = 4;
    pub const SACK: u8 = 5;
    pub const TIMESTAMPS: u8 = 8;
}

/// A view of a TCP segment.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Packet<T: AsRef<[u8]>> {
    buffer: T,
}

impl<T: AsRef<[u8]>> Packet<T> {
    pub const fn new_unchecked(buffer: T) -> Packet<T> {
        Packet { buffer }
    }

    /// Wraps a buffer holding a whole header (see the module docs).
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
        let hl = self.header_len();
        if hl < HEADER_LEN {
            return Err(Error::Malformed("TCP data offset below 5"));
        }
        if hl > len {
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

    pub fn seq_number(&self) -> u32 {
        be32(&self.buffer.as_ref()[field::SEQ_NUM])
    }

    pub fn ack_number(&self) -> u32 {
        be32(&self.buffer.as_ref()[field::ACK_NUM])
    }

    /// Header length in bytes (data offset × 4), options included.
    pub fn header_len(&self) -> usize {
        ((self.buffer.as_ref()[field::DATA_OFF] >> 4) as usize) * 4
    }

    /// The flags byte: bits of [`flags`].
    pub fn flags(&self) -> u8 {
        self.buffer.as_ref()[field::FLAGS]
    }

    /// The experimental ECN-nonce bit (RFC 3540, historic).
    pub fn ns(&self) -> bool {
        self.buffer.as_ref()[field::DATA_OFF] & 0x01 != 0
    }

    pub fn fin(&self) -> bool {
        self.flags() & flags::FIN != 0
    }

    pub fn syn(&self) -> bool {
        self.flags() & flags::SYN != 0
    }

    pub fn rst(&self) -> bool {
        self.flags() & flags::RST != 0
    }

    pub fn psh(&self) -> bool {
        self.flags() & flags::PSH != 0
    }

    pub fn ack(&self) -> bool {
        self.flags() & flags::ACK != 0
    }

    pub fn urg(&self) -> bool {
        self.flags() & flags::URG != 0
    }

    pub fn ece(&self) -> bool {
        self.flags() & flags::ECE != 0
    }

    pub fn cwr(&self) -> bool {
        self.flags() & flags::CWR != 0
    }

    pub fn window_len(&self) -> u16 {
        be16(&self.buffer.as_ref()[field::WIN_SIZE])
    }

    pub fn checksum(&self) -> u16 {
        be16(&self.buffer.as_ref()[field::CHECKSUM])
    }

    pub fn urgent_at(&self) -> u16 {
        be16(&self.buffer.as_ref()[field::URGENT])
    }

    /// The options area (empty for data offset 5).
    pub fn options(&self) -> &[u8] {
        &self.buffer.as_ref()[HEADER_LEN..self.header_len()]
    }

    pub fn options_iter(&self) -> Options<'_> {
        Options::new(self.options())
    }

    /// Offset from the start of the header of the value of the first
    /// well-formed MSS option (kind 2, length 4), as the kernel's TCPMSS
    /// target looks for it.
    pub fn mss_offset(&self) -> Option<usize> {
        let opts = self.options();
        let mut i = 0;
        while i < opts.len() {
            match opts[i] {
                kind::END => return None,
                kind::NOP => i += 1,
                k => {
                    let len = *opts.get(i + 1)? as usize;
                    if len < 2 || i + len > opts.len() {
                        return None;
                    }
                    if k == kind::MSS && len == 4 {
                        return Some(HEADER_LEN + i + 2);
                    }
                    i += len;
                }
            }
        }
        None
    }

    /// The value of the MSS option, if there is one.
    pub fn mss(&self) -> Option<u16> {
        let at = self.mss_offset()?;
        Some(be16(&self.buffer.as_ref()[at..at + 2]))
    }

    /// The segment's data.
    pub fn payload(&self) -> &[u8] {
        &self.buffer.as_ref()[self.header_len()..]
    }

    /// True when the checksum verifies for a segment between `src` and `dst`.
    pub fn verify_checksum(&self, src: &IpAddr, dst: &IpAddr) -> bool {
        checksum::transport(src, dst, IpProtocol::TCP.0, self.buffer.as_ref()) == 0
    }
}

impl<T: AsRef<[u8]> + AsMut<[u8]>> Packet<T> {
    pub fn set_src_port(&mut self, v: u16) {
        put16(&mut self.buffer.as_mut()[field::SRC_PORT], v);
    }

    pub fn set_dst_port(&mut self, v: u16) {
        put16(&mut self.buffer.as_mut()[field::DST_PORT], v);
    }

    pub fn set_seq_number(&mut self, v: u32) {
        put32(&mut self.buffer.as_mut()[field::SEQ_NUM], v);
    }

    pub fn set_ack_number(&mut self, v: u32) {
        put32(&mut self.buffer.as_mut()[field::ACK_NUM], v);
    }

    /// Sets the header length in bytes (rounded down to a multiple of 4).
    pub fn set_header_len(&mut self, len: usize) {
        let b = &mut self.buffer.as_mut()[field::DATA_OFF];
        *b = (*b & 0x0f) | (((len / 4) as u8) << 4);
    }

    pub fn set_flags(&mut self, f: u8) {
        self.buffer.as_mut()[field::FLAGS] = f;
    }

    pub fn set_window_len(&mut self, v: u16) {
        put16(&mut self.buffer.as_mut()[field::WIN_SIZE], v);
    }

    pub fn set_checksum(&mut self, v: u16) {
        put16(&mut self.buffer.as_mut()[field::CHECKSUM], v);
    }

    pub fn set_urgent_at(&mut self, v: u16) {
        put16(&mut self.buffer.as_mut()[field::URGENT], v);
    }

    /// Computes and writes the checksum for a segment from `src` to `dst`.
    pub fn fill_checksum(&mut self, src: &IpAddr, dst: &IpAddr) {
        self.set_checksum(0);
        let c = checksum::transport(src, dst, IpProtocol::TCP.0, self.buffer.as_ref());
        self.set_checksum(c);
    }

    /// Sets the source port and updates the checksum incrementally.
    pub fn rewrite_src_port(&mut self, port: u16) {
        let c = checksum::update16(self.checksum(), self.src_port(), port);
        self.set_src_port(port);
        self.set_checksum(c);
    }

    /// Sets the destination port and updates the checksum incrementally.
    pub fn rewrite_dst_port(&mut self, port: u16) {
        let c = checksum::update16(self.checksum(), self.dst_port(), port);
        self.set_dst_port(port);
        self.set_checksum(c);
    }

    /// Updates the checksum for a pseudo-header address that changed from
    /// `old` to `new` (4 or 16 bytes each), after NAT rewrote the IP header.
    pub fn adjust_checksum(&mut self, old: &[u8], new: &[u8]) {
        let c = checksum::update_bytes(self.checksum(), false, old, new);
        self.set_checksum(c);
    }

    /// Sets the MSS option's value and updates the checksum incrementally;
    /// false (and nothing written) when the segment carries no MSS option.
    /// The value may sit at an odd offset; the update accounts for it.
    pub fn rewrite_mss(&mut self, mss: u16) -> bool {
        let Some(at) = self.mss_offset() else {
            return false;
        };
        let b = self.buffer.as_mut();
        let old = [b[at], b[at + 1]];
        let new = mss.to_be_bytes();
        b[at..at + 2].copy_from_slice(&new);
        let c = checksum::update_bytes(self.checksum(), at % 2 == 1, &old, &new);
        self.set_checksum(c);
        true
    }

    pub fn options_mut(&mut self) -> &mut [u8] {
        let hl = self.header_len();
        &mut self.buffer.as_mut()[HEADER_LEN..hl]
    }

    pub fn payload_mut(&mut self) -> &mut [u8] {
        let hl = self.header_len();
        &mut self.buffer.as_mut()[hl..]
    }
}

/// One TCP option. A known kind with the wrong length is `Unknown`, as the
/// kernel's `tcp_parse_options` ignores it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TcpOption<'a> {
    /// End of option list; iteration stops after it.
    End,
    Nop,
    Mss(u16),
    WindowScale(u8),
    SackPermitted,
    /// SACK blocks, raw (pairs of 32-bit left/right edges).
    Sack(&'a [u8]),
    Timestamps {
        tsval: u32,
        tsecr: u32,
    },
    Unknown {
        kind: u8,
        data: &'a [u8],
    },
}

/// Iterator over a TCP options area. Yields `Err(Malformed)` once (then
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
    type Item = Result<TcpOption<'a>>;

    fn next(&mut self) -> Option<Self::Item> {
        let (&k, after) = self.rest.split_first()?;
        match k {
            kind::END => {
                self.rest = &[];
                return Some(Ok(TcpOption::End));
            }
            kind::NOP => {
                self.rest = after;
                return Some(Ok(TcpOption::Nop));
            }
            _ => {}
        }
        let len = match after.first() {
            Some(&l) if l >= 2 && (l as usize) <= self.rest.len() => l as usize,
            _ => {
                self.rest = &[];
                return Some(Err(Error::Malformed("TCP option length")));
            }
        };
        let data = &self.rest[2..len];
        self.rest = &self.rest[len..];
        Some(Ok(match (k, data.len()) {
            (kind::MSS, 2) => TcpOption::Mss(be16(data)),
            (kind::WINDOW_SCALE, 1) => TcpOption::WindowScale(data[0]),
            (kind::SACK_PERMITTED, 0) => TcpOption::SackPermitted,
            (kind::SACK, n) if n % 8 == 0 && n > 0 => TcpOption::Sack(data),
            (kind::TIMESTAMPS, 8) => TcpOption::Timestamps {
                tsval: be32(&data[..4]),
                tsecr: be32(&data[4..]),
            },
            _ => TcpOption::Unknown { kind: k, data },
        }))
    }
}

/// The owned form of a TCP header without options (what a reset or a
/// bare ACK needs).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Repr {
    pub src_port: u16,
    pub dst_port: u16,
    pub seq_number: u32,
    pub ack_number: u32,
    pub flags: u8,
    pub window_len: u16,
    pub urgent_at: u16,
}

impl Repr {
    /// Reads the fixed fields; options are ignored.
    pub fn parse<T: AsRef<[u8]>>(packet: &Packet<T>) -> Result<Repr> {
        packet.check_len()?;
        Ok(Repr {
            src_port: packet.src_port(),
            dst_port: packet.dst_port(),
            seq_number: packet.seq_number(),
            ack_number: packet.ack_number(),
            flags: packet.flags(),
            window_len: packet.window_len(),
            urgent_at: packet.urgent_at(),
        })
    }

    pub const fn buffer_len(&self) -> usize {
        HEADER_LEN
    }

    /// Writes a 20-byte header and fills the checksum over the whole buffer
    /// (header and whatever payload the caller already placed after it).
    pub fn emit<T: AsRef<[u8]> + AsMut<[u8]>>(
        &self,
        packet: &mut Packet<T>,
        src: &IpAddr,
        dst: &IpAddr,
    ) {
        packet.set_src_port(self.src_port);
        packet.set_dst_port(self.dst_port);
        packet.set_seq_number(self.seq_number);
        packet.set_ack_number(self.ack_number);
        packet.buffer.as_mut()[field::DATA_OFF] = 0;
        packet.set_header_len(HEADER_LEN);
        packet.set_flags(self.flags);
        packet.set_window_len(self.window_len);
        packet.set_urgent_at(self.urgent_at);
        packet.fill_checksum(src, dst);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::Ipv4Addr;

    fn addrs() -> (IpAddr, IpAddr) {
        (
            IpAddr::V4(Ipv4Addr::new(192, 168, 1, 20)),
            IpAddr::V4(Ipv4Addr::new(93, 184, 216, 34)),
        )
    }

    /// A Linux SYN: MSS 1460, SACK permitted, timestamps, NOP, window scale 7.
    pub(crate) const SYN: [u8; 40] = [
        0xd4, 0x31, 0x01, 0xbb, // 54321 -> 443
        0x6b, 0x8b, 0x45, 0x67, // seq
        0x00, 0x00, 0x00, 0x00, // ack
        0xa0, 0x02, 0xfa, 0xf0, // doff 10, SYN, window 64240
        0x00, 0x00, 0x00, 0x00, // checksum (filled by the tests), urgent
        0x02, 0x04, 0x05, 0xb4, // MSS 1460
        0x04, 0x02, // SACK permitted
        0x08, 0x0a, 0x00, 0x01, 0xe2, 0x40, 0x00, 0x00, 0x00, 0x00, // TS
        0x01, // NOP
        0x03, 0x03, 0x07, // WS 7
    ];

    fn syn() -> [u8; 40] {
        let mut s = SYN;
        let (a, b) = addrs();
        Packet::new_unchecked(&mut s[..]).fill_checksum(&a, &b);
        s
    }

    #[test]
    fn decode_syn() {
        let s = syn();
        let (a, b) = addrs();
        let p = Packet::new_checked(&s[..]).unwrap();
        assert_eq!(p.src_port(), 54321);
        assert_eq!(p.dst_port(), 443);
        assert_eq!(p.seq_number(), 0x6b8b4567);
        assert_eq!(p.ack_number(), 0);
        assert_eq!(p.header_len(), 40);
        assert_eq!(p.flags(), flags::SYN);
        assert!(p.syn() && !p.ack() && !p.fin() && !p.rst() && !p.psh());
        assert!(!p.urg() && !p.ece() && !p.cwr() && !p.ns());
        assert_eq!(p.window_len(), 64240);
        assert_eq!(p.urgent_at(), 0);
        assert!(p.verify_checksum(&a, &b));
        assert!(!p.verify_checksum(&a, &IpAddr::V4(Ipv4Addr::new(93, 184, 216, 35))));
        assert!(p.payload().is_empty());
        let opts: Vec<_> = p.options_iter().map(Result::unwrap).collect();
        assert_eq!(
            opts,
            vec![
                TcpOption::Mss(1460),
                TcpOption::SackPermitted,
                TcpOption::Timestamps {
                    tsval: 0x0001e240,
                    tsecr: 0
                },
                TcpOption::Nop,
                TcpOption::WindowScale(7),
            ]
        );
        assert_eq!(p.mss(), Some(1460));
        assert_eq!(p.mss_offset(), Some(22));
    }

    #[test]
    fn mss_rewrite_even_and_odd_offsets() {
        let (a, b) = addrs();
        let mut s = syn();
        let mut p = Packet::new_checked(&mut s[..]).unwrap();
        assert!(p.rewrite_mss(1400));
        assert_eq!(p.mss(), Some(1400));
        assert!(p.verify_checksum(&a, &b));

        // NOP first puts the MSS value at an odd offset.
        let mut s = [0u8; 28];
        s[..20].copy_from_slice(&SYN[..20]);
        s[12] = 0x70;
        s[20..28].copy_from_slice(&[0x01, 0x02, 0x04, 0x05, 0xb4, 0x01, 0x01, 0x00]);
        let mut p = Packet::new_checked(&mut s[..]).unwrap();
        p.fill_checksum(&a, &b);
        assert_eq!(p.mss_offset(), Some(23));
        assert!(p.rewrite_mss(1200));
        assert_eq!(p.mss(), Some(1200));
        assert!(p.verify_checksum(&a, &b));

        // No MSS option: nothing happens.
        let mut s = [0u8; 20];
        s.copy_from_slice(&SYN[..20]);
        s[12] = 0x50;
        let mut p = Packet::new_checked(&mut s[..]).unwrap();
        assert_eq!(p.mss(), None);
        assert!(!p.rewrite_mss(1200));
    }

    #[test]
    fn port_and_address_rewrites() {
        let (a, b) = addrs();
        let mut s = syn();
        let mut p = Packet::new_checked(&mut s[..]).unwrap();
        p.rewrite_src_port(40000);
        p.rewrite_dst_port(8443);
        let new_src = IpAddr::V4(Ipv4Addr::new(203, 0, 113, 1));
        p.adjust_checksum(&[192, 168, 1, 20], &[203, 0, 113, 1]);
        assert_eq!((p.src_port(), p.dst_port()), (40000, 8443));
        assert!(p.verify_checksum(&new_src, &b));
        assert!(!p.verify_checksum(&a, &b));
    }

    #[test]
    fn repr_round_trip() {
        let (a, b) = addrs();
        let mut rst = [0u8; 20];
        let repr = Repr {
            src_port: 443,
            dst_port: 54321,
            seq_number: 0,
            ack_number: 0x6b8b4568,
            flags: flags::RST | flags::ACK,
            window_len: 0,
            urgent_at: 0,
        };
        repr.emit(&mut Packet::new_unchecked(&mut rst[..]), &b, &a);
        let p = Packet::new_checked(&rst[..]).unwrap();
        assert!(p.verify_checksum(&b, &a));
        assert_eq!(Repr::parse(&p).unwrap(), repr);
        assert_eq!(rst[12], 0x50);
    }

    #[test]
    fn malformed() {
        let s = syn();
        assert_eq!(Packet::new_checked(&s[..19]).unwrap_err(), Error::Truncated);
        assert_eq!(Packet::new_checked(&s[..39]).unwrap_err(), Error::Truncated);
        let mut bad = s;
        bad[12] = 0x40;
        assert!(matches!(
            Packet::new_checked(&bad[..]),
            Err(Error::Malformed(_))
        ));
        // An option whose length runs past the area.
        let mut bad = s;
        bad[38] = 9;
        let p = Packet::new_checked(&bad[..]).unwrap();
        let last = p.options_iter().last().unwrap();
        assert!(last.is_err());
        // Zero length.
        bad[21] = 0;
        let p = Packet::new_checked(&bad[..]).unwrap();
        assert_eq!(p.options_iter().count(), 1);
        assert_eq!(p.mss(), None);
        // MSS with a wrong length is not an MSS.
        let mut odd = s;
        odd[21] = 6;
        let p = Packet::new_checked(&odd[..]).unwrap();
        assert_eq!(p.mss(), None);
        assert!(matches!(
            p.options_iter().next(),
            Some(Ok(TcpOption::Unknown { kind: 2, .. }))
        ));
    }
}
