//! The 18-byte mark gen puts right after the transport header, and how the
//! sink finds it in a received frame.
//!
//! | bytes | field |
//! |---|---|
//! | 0..4 | [`MAGIC`] (big-endian) |
//! | 4..8 | flow index (big-endian) |
//! | 8..12 | sequence number of the frame in its flow (big-endian, wraps) |
//! | 12..18 | CLOCK_MONOTONIC ns at send, low 48 bits (big-endian; wraps after 78 h) |
//!
//! Every field starts at an even offset, so the per-packet checksum update
//! adds whole 16-bit words (RFC 1624) — see [`crate::gen::template`].

/// Marks a frame as gen's.
pub const MAGIC: u32 = 0x5b1c_e6e0;

/// Bytes of the mark.
pub const LEN: usize = 18;

/// Offset of the sequence number inside the mark.
pub const SEQ_AT: usize = 8;

/// Mask of the 48-bit timestamp.
pub const TS_MASK: u64 = (1 << 48) - 1;

/// What a mark says.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Mark {
    pub flow: u32,
    pub seq: u32,
    /// Low 48 bits of CLOCK_MONOTONIC ns.
    pub ts: u64,
}

/// Writes magic and flow (the constant part, into a template).
pub fn write_head(m: &mut [u8; LEN], flow: u32) {
    m[0..4].copy_from_slice(&MAGIC.to_be_bytes());
    m[4..8].copy_from_slice(&flow.to_be_bytes());
}

/// Writes sequence number and timestamp (the per-packet part) into the 10
/// bytes at `m`.
#[inline]
pub fn write_seq_ts(m: &mut [u8], seq: u32, ts: u64) {
    if let Some(m) = m.get_mut(..10) {
        m[0..4].copy_from_slice(&seq.to_be_bytes());
        m[4..10].copy_from_slice(&(ts & TS_MASK).to_be_bytes()[2..8]);
    }
}

/// The 16-bit words [`write_seq_ts`] writes, summed (one's complement,
/// unfolded): what the checksum update adds.
#[inline]
pub fn seq_ts_words(seq: u32, ts: u64) -> u64 {
    let ts = ts & TS_MASK;
    (seq >> 16) as u64 + (seq & 0xffff) as u64 + (ts >> 32) + ((ts >> 16) & 0xffff) + (ts & 0xffff)
}

/// Reads a mark from the start of `payload`; `None` without the magic.
#[inline]
pub fn read(payload: &[u8]) -> Option<Mark> {
    let m = payload.get(..LEN)?;
    let be32 = |i: usize| u32::from_be_bytes([m[i], m[i + 1], m[i + 2], m[i + 3]]);
    if be32(0) != MAGIC {
        return None;
    }
    let mut ts = [0u8; 8];
    ts[2..8].copy_from_slice(&m[12..18]);
    Some(Mark {
        flow: be32(4),
        seq: be32(8),
        ts: u64::from_be_bytes(ts),
    })
}

/// Where the payload of an Ethernet frame starts: after Ethernet, IPv4
/// (with options) or IPv6 (no extension headers), and a UDP, TCP (data
/// offset) or ICMP/ICMPv6 header. `None` for anything else or a frame too
/// short for what its headers claim.
#[inline]
pub fn payload_offset(f: &[u8]) -> Option<usize> {
    let ethertype = u16::from_be_bytes([*f.get(12)?, *f.get(13)?]);
    let (proto, l4) = match ethertype {
        0x0800 => {
            let ihl = (*f.get(14)? & 0x0f) as usize * 4;
            (*f.get(14 + 9)?, 14 + ihl)
        }
        0x86dd => (*f.get(14 + 6)?, 14 + 40),
        _ => return None,
    };
    let off = match proto {
        17 | 1 | 58 => l4 + 8,
        6 => l4 + ((*f.get(l4 + 12)? >> 4) as usize) * 4,
        _ => return None,
    };
    (off <= f.len()).then_some(off)
}

/// The mark of a frame, if it is gen's.
#[inline]
pub fn find(frame: &[u8]) -> Option<Mark> {
    read(frame.get(payload_offset(frame)?..)?)
}

/// `now - sent` on the 48-bit clock (both CLOCK_MONOTONIC ns); a sent
/// time ahead of `now` (not expected on one host) gives 0.
#[inline]
pub fn elapsed(now: u64, sent: u64) -> u64 {
    let d = (now.wrapping_sub(sent)) & TS_MASK;
    if d > TS_MASK / 2 {
        0
    } else {
        d
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip() {
        let mut m = [0u8; LEN];
        write_head(&mut m, 77);
        write_seq_ts(&mut m[SEQ_AT..], 0xdead_beef, 0x1234_5678_9abc_def0);
        let r = read(&m).unwrap();
        assert_eq!(r.flow, 77);
        assert_eq!(r.seq, 0xdead_beef);
        assert_eq!(r.ts, 0x5678_9abc_def0);
        m[0] ^= 1;
        assert_eq!(read(&m), None);
    }

    #[test]
    fn words_are_what_is_written() {
        let (seq, ts) = (0x8001_fffe, 0xffff_0102_0304_0506);
        let mut b = [0u8; 10];
        write_seq_ts(&mut b, seq, ts);
        let sum: u64 = b
            .chunks(2)
            .map(|w| u16::from_be_bytes([w[0], w[1]]) as u64)
            .sum();
        assert_eq!(sum, seq_ts_words(seq, ts));
    }

    #[test]
    fn elapsed_wraps_and_clamps() {
        assert_eq!(elapsed(1000, 400), 600);
        assert_eq!(elapsed(5, TS_MASK - 4), 10);
        assert_eq!(elapsed(400, 1000), 0);
    }
}
