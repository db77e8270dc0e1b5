//! The Internet checksum: full computation (RFC 1071), pseudo-header sums for
//! TCP, UDP and ICMPv6 over IPv4 (RFC 793, RFC 768) and IPv6 (RFC 8200
//! §8.1), and incremental update after a field change (RFC 1624 eqn. 3,
//! `HC' = ~(~HC + ~m + m')`), which forwarding (TTL) and NAT (addresses,
//! ports) use instead of recomputing over the whole packet — as the kernel's
//! `csum_replace2` / `inet_proto_csum_replace4` do.
//!
//! Vocabulary: a *sum* is the folded 16-bit one's complement sum of some
//! bytes (not complemented); a *checksum* is the complement of the sum of
//! everything it covers, as written into a header. A packet verifies when the
//! sum over everything it covers, its checksum field included, is `0xffff`.
//!
//! The one's complement sum does not depend on byte order except that a run
//! of bytes starting at an odd offset contributes its byte-swapped sum
//! (RFC 1071 §2(B)); [`update_bytes`] takes that parity.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

/// Folds a wide one's complement accumulator to 16 bits (end-around carry).
#[inline]
fn fold(mut acc: u64) -> u16 {
    while acc > 0xffff {
        acc = (acc & 0xffff) + (acc >> 16);
    }
    acc as u16
}

/// [`fold`] for sums below 2^32, branch-free: the first round leaves at
/// most `0x1fffe`, the second at most `0xffff` (when it carries, the low
/// half is at most `0xfffe`), so two rounds give what the loop gives.
#[inline(always)]
fn fold32(acc: u64) -> u16 {
    debug_assert!(acc < 1 << 32);
    let acc = (acc & 0xffff) + (acc >> 16);
    ((acc & 0xffff) + (acc >> 16)) as u16
}

/// One's complement addition of two 16-bit sums.
#[inline]
pub fn add(a: u16, b: u16) -> u16 {
    fold(a as u64 + b as u64)
}

/// The one's complement sum of several partial sums.
#[inline]
pub fn combine(sums: &[u16]) -> u16 {
    fold(sums.iter().map(|&s| s as u64).sum())
}

/// The unfolded sum of `data` read as big-endian 16-bit words, an odd last
/// byte padded with zero. Eight bytes per step: two big-endian 32-bit words
/// added into a 64-bit accumulator (2^32 ≡ 2^16 ≡ 1 mod 0xffff, so summing
/// wider words and folding later gives the same one's complement sum).
#[inline]
fn accumulate(data: &[u8]) -> u64 {
    let mut acc: u64 = 0;
    let mut chunks = data.chunks_exact(8);
    for c in &mut chunks {
        let w = u64::from_be_bytes([c[0], c[1], c[2], c[3], c[4], c[5], c[6], c[7]]);
        acc += (w >> 32) + (w & 0xffff_ffff);
    }
    let rest = chunks.remainder();
    let mut words = rest.chunks_exact(2);
    for w in &mut words {
        acc += u16::from_be_bytes([w[0], w[1]]) as u64;
    }
    if let [last] = words.remainder() {
        acc += (*last as u64) << 8;
    }
    acc
}

/// The folded one's complement sum of `data` (RFC 1071), not complemented.
/// Zero only when every byte is zero.
#[inline]
pub fn sum(data: &[u8]) -> u16 {
    fold(accumulate(data))
}

/// [`sum`] of exactly 20 bytes (an IPv4 header without options): five
/// big-endian 32-bit words, folded (2^16 ≡ 1 mod 0xffff).
#[inline]
pub fn sum20(h: &[u8; 20]) -> u16 {
    let w = |i: usize| u32::from_be_bytes([h[i], h[i + 1], h[i + 2], h[i + 3]]) as u64;
    // Five 32-bit words sum below 2^35: one round brings that below 2^20.
    let acc = w(0) + w(4) + w(8) + w(12) + w(16);
    fold32((acc & 0xffff) + (acc >> 16))
}

/// Whether an IPv4 header without options verifies (`sum20(h) == 0xffff`),
/// summed in native byte order: the one's complement sum of byte-swapped
/// words is the byte-swapped sum (RFC 1071 §2(B)) and `0xffff` is its own
/// swap, so the five loads need no byte swaps.
#[inline(always)]
pub fn verifies20(h: &[u8; 20]) -> bool {
    let w = |i: usize| u32::from_ne_bytes([h[i], h[i + 1], h[i + 2], h[i + 3]]) as u64;
    let acc = w(0) + w(4) + w(8) + w(12) + w(16);
    fold32((acc & 0xffff) + (acc >> 16)) == 0xffff
}

/// The checksum of `data` alone: `!sum(data)`. Fill a header's checksum field
/// with this after zeroing it; a received header verifies when
/// `checksum(header) == 0`.
#[inline]
pub fn checksum(data: &[u8]) -> u16 {
    !sum(data)
}

/// Sum of the IPv4 pseudo-header: source, destination, zero, protocol and
/// the upper-layer length (RFC 793 §3.1, RFC 768).
#[inline]
pub fn pseudo_header_v4(src: Ipv4Addr, dst: Ipv4Addr, protocol: u8, length: u32) -> u16 {
    let s = u32::from(src);
    let d = u32::from(dst);
    fold(
        (s >> 16) as u64
            + (s & 0xffff) as u64
            + (d >> 16) as u64
            + (d & 0xffff) as u64
            + protocol as u64
            + length as u64,
    )
}

/// Sum of the IPv6 pseudo-header: source, destination, 32-bit upper-layer
/// length, three zero bytes and the next header (RFC 8200 §8.1).
#[inline]
pub fn pseudo_header_v6(src: &Ipv6Addr, dst: &Ipv6Addr, next_header: u8, length: u32) -> u16 {
    fold(
        accumulate(&src.octets())
            + accumulate(&dst.octets())
            + (length >> 16) as u64
            + (length & 0xffff) as u64
            + next_header as u64,
    )
}

/// Pseudo-header sum for either family. Mixed families (a caller bug) sum
/// both addresses in their IPv4-mapped IPv6 form rather than panic.
#[inline]
pub fn pseudo_header(src: &IpAddr, dst: &IpAddr, protocol: u8, length: u32) -> u16 {
    match (src, dst) {
        (IpAddr::V4(s), IpAddr::V4(d)) => pseudo_header_v4(*s, *d, protocol, length),
        (IpAddr::V6(s), IpAddr::V6(d)) => pseudo_header_v6(s, d, protocol, length),
        _ => pseudo_header_v6(&to_v6(src), &to_v6(dst), protocol, length),
    }
}

fn to_v6(a: &IpAddr) -> Ipv6Addr {
    match a {
        IpAddr::V4(a) => a.to_ipv6_mapped(),
        IpAddr::V6(a) => *a,
    }
}

/// The checksum of an upper-layer message (TCP segment, UDP datagram,
/// ICMPv6 message) behind its pseudo-header: fill the message's checksum
/// field with this after zeroing it; a received message verifies when this
/// is 0 over the message as received.
#[inline]
pub fn transport(src: &IpAddr, dst: &IpAddr, protocol: u8, message: &[u8]) -> u16 {
    let len = message.len() as u32;
    !fold(pseudo_header(src, dst, protocol, len) as u64 + accumulate(message))
}

/// RFC 1624 eqn. 3 for one 16-bit word: the checksum `hc` after the word
/// `old` it covers became `new`.
#[inline]
pub fn update16(hc: u16, old: u16, new: u16) -> u16 {
    !fold32((!hc) as u64 + (!old) as u64 + new as u64)
}

/// [`update16`] for a TTL decrement (the TTL/protocol word down by
/// 0x100, TTL ≥ 1 before): ~m + m' is then 0xfeff whatever the word was,
/// so eqn. 3 needs neither the old nor the new word.
#[inline]
pub fn ttl_decremented(hc: u16) -> u16 {
    let acc = (!hc) as u32 + 0xfeff;
    !((acc & 0xffff) + (acc >> 16)) as u16
}

/// [`ttl_decremented`] on the checksum field as read in native byte order
/// (`u16::from_ne_bytes`), the result to be written back the same way:
/// the one's complement sum of byte-swapped words is the swapped sum
/// (RFC 1071 §2(B)), so only the constant is swapped; no byte swaps.
#[inline]
pub fn ttl_decremented_ne(hc: u16) -> u16 {
    const STEP: u32 = u16::from_ne_bytes(0xfeffu16.to_be_bytes()) as u32;
    let acc = (!hc) as u32 + STEP;
    !((acc & 0xffff) + (acc >> 16)) as u16
}

/// RFC 1624 eqn. 3 for an aligned 32-bit field (an IPv4 address, or two
/// adjacent ports): both 16-bit halves at once.
#[inline]
pub fn update32(hc: u16, old: u32, new: u32) -> u16 {
    let old_neg = (!(old >> 16) & 0xffff) as u64 + (!old & 0xffff) as u64;
    !fold32((!hc) as u64 + old_neg + (new >> 16) as u64 + (new & 0xffff) as u64)
}

/// RFC 1624 eqn. 3 for a run of bytes (an IPv6 address, a MAC, an option
/// value) that changed from `old` to `new`. `odd` says the run starts at an
/// odd offset from the start of what the checksum covers, so its bytes fall
/// in the other half of each 16-bit word. `old` and `new` are the same
/// length; extra bytes of the longer one are ignored.
#[inline]
pub fn update_bytes(hc: u16, odd: bool, old: &[u8], new: &[u8]) -> u16 {
    let n = old.len().min(new.len());
    let (o, w) = (sum(&old[..n]), sum(&new[..n]));
    let (o, w) = if odd {
        (o.swap_bytes(), w.swap_bytes())
    } else {
        (o, w)
    };
    !fold((!hc) as u64 + (!o) as u64 + w as u64)
}

/// The UDP rule for a checksum about to be written (RFC 768): a computed
/// checksum of zero is sent as `0xffff`, since zero in the field means "no
/// checksum" over IPv4.
#[inline]
pub fn udp_wire(computed: u16) -> u16 {
    if computed == 0 {
        0xffff
    } else {
        computed
    }
}

/// An incremental update of a UDP checksum over IPv4: a zero field means the
/// sender computed none, and it stays zero (the kernel's
/// `udp_manip_pkt` does the same); otherwise [`update_bytes`] then
/// [`udp_wire`].
#[inline]
pub fn udp_update_bytes(hc: u16, odd: bool, old: &[u8], new: &[u8]) -> u16 {
    if hc == 0 {
        0
    } else {
        udp_wire(update_bytes(hc, odd, old, new))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// The textbook RFC 1071 loop, one 16-bit word at a time.
    fn reference_sum(data: &[u8]) -> u16 {
        let mut acc: u32 = 0;
        for w in data.chunks(2) {
            let word = if w.len() == 2 {
                u16::from_be_bytes([w[0], w[1]])
            } else {
                (w[0] as u16) << 8
            };
            acc += word as u32;
            acc = (acc & 0xffff) + (acc >> 16);
        }
        acc as u16
    }

    #[test]
    fn rfc1071_example() {
        // RFC 1071 §3: 00 01 f2 03 f4 f5 f6 f7 sums to ddf2.
        let data = [0x00, 0x01, 0xf2, 0x03, 0xf4, 0xf5, 0xf6, 0xf7];
        assert_eq!(sum(&data), 0xddf2);
        assert_eq!(checksum(&data), !0xddf2);
        assert_eq!(sum(&[]), 0);
        assert_eq!(sum(&[0xab]), 0xab00);
    }

    #[test]
    fn ipv4_header_checksum() {
        // A real IPv4 header (Wikipedia's example): checksum b861.
        let mut h = [
            0x45, 0x00, 0x00, 0x73, 0x00, 0x00, 0x40, 0x00, 0x40, 0x11, 0x00, 0x00, 0xc0, 0xa8,
            0x00, 0x01, 0xc0, 0xa8, 0x00, 0xc7,
        ];
        assert_eq!(checksum(&h), 0xb861);
        h[10] = 0xb8;
        h[11] = 0x61;
        assert_eq!(checksum(&h), 0);
    }

    #[test]
    fn rfc1624_example() {
        // RFC 1624 §4: HC = dd2f, m = 5555 -> m' = 3285 gives HC' = 0000.
        assert_eq!(update16(0xdd2f, 0x5555, 0x3285), 0x0000);
    }

    #[test]
    fn udp_zero_rules() {
        assert_eq!(udp_wire(0), 0xffff);
        assert_eq!(udp_wire(0x1234), 0x1234);
        assert_eq!(udp_update_bytes(0, false, &[1, 2], &[3, 4]), 0);
    }

    #[test]
    fn mixed_family_pseudo_header_does_not_panic() {
        let a = IpAddr::V4(Ipv4Addr::new(10, 0, 0, 1));
        let b = IpAddr::V6(Ipv6Addr::LOCALHOST);
        let _ = pseudo_header(&a, &b, 6, 20);
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(256))]

        #[test]
        fn fast_sum_matches_reference(data in proptest::collection::vec(any::<u8>(), 0..300)) {
            prop_assert_eq!(sum(&data), reference_sum(&data));
        }

        #[test]
        fn sum20_matches_sum(h in any::<[u8; 20]>()) {
            prop_assert_eq!(sum20(&h), sum(&h));
        }

        /// The native-order check agrees with the big-endian sum, also
        /// for headers made to verify (the interesting half).
        #[test]
        fn verifies20_matches_sum20(mut h in any::<[u8; 20]>(), fix in any::<bool>()) {
            if fix {
                h[10] = 0;
                h[11] = 0;
                let c = checksum(&h);
                h[10..12].copy_from_slice(&c.to_be_bytes());
            }
            prop_assert_eq!(verifies20(&h), sum20(&h) == 0xffff);
        }

        /// Changing any aligned word and updating incrementally gives the
        /// checksum a full recompute gives (the data always holds a nonzero
        /// byte outside the field, as every real header does).
        #[test]
        fn update16_matches_recompute(
            mut data in proptest::collection::vec(any::<u8>(), 4..200),
            at in any::<usize>(),
            new in any::<u16>(),
        ) {
            data[0] |= 1;
            let words = data.len() / 2;
            let at = 2 + (at % (words - 1)) * 2;
            let hc = checksum(&data);
            let old = u16::from_be_bytes([data[at], data[at + 1]]);
            data[at..at + 2].copy_from_slice(&new.to_be_bytes());
            prop_assert_eq!(update16(hc, old, new), checksum(&data));
        }

        /// The TTL shortcut is update16 with the word down by 0x100, for
        /// every checksum and every TTL ≥ 1.
        #[test]
        fn ttl_decremented_is_update16(hc in any::<u16>(), ttl in 1u8.., proto in any::<u8>()) {
            let old = u16::from_be_bytes([ttl, proto]);
            prop_assert_eq!(ttl_decremented(hc), update16(hc, old, old - 0x100));
        }

        /// The native-order shortcut is the big-endian one, byte for byte.
        #[test]
        fn ttl_decremented_ne_is_ttl_decremented(hc in any::<u16>()) {
            let ne = u16::from_ne_bytes(hc.to_be_bytes());
            prop_assert_eq!(ttl_decremented_ne(ne).to_ne_bytes(), ttl_decremented(hc).to_be_bytes());
        }

        #[test]
        fn update32_matches_recompute(
            mut data in proptest::collection::vec(any::<u8>(), 8..200),
            at in any::<usize>(),
            new in any::<u32>(),
        ) {
            data[0] |= 1;
            let at = 2 + (at % ((data.len() - 6) / 2)) * 2;
            let hc = checksum(&data);
            let old = u32::from_be_bytes([data[at], data[at + 1], data[at + 2], data[at + 3]]);
            data[at..at + 4].copy_from_slice(&new.to_be_bytes());
            prop_assert_eq!(update32(hc, old, new), checksum(&data));
        }

        /// Runs of any length at any offset, odd ones included.
        #[test]
        fn update_bytes_matches_recompute(
            mut data in proptest::collection::vec(any::<u8>(), 24..200),
            at in any::<usize>(),
            new in proptest::collection::vec(any::<u8>(), 1..17),
        ) {
            data[0] |= 1;
            let at = 1 + at % (data.len() - new.len() - 1);
            let hc = checksum(&data);
            let old = data[at..at + new.len()].to_vec();
            data[at..at + new.len()].copy_from_slice(&new);
            prop_assert_eq!(update_bytes(hc, at % 2 == 1, &old, &new), checksum(&data));
        }
    }
}
