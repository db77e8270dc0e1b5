//! The inline paths of the parser for the common headers against the
//! general ones they shortcut.

use proptest::prelude::*;

use crate::wire::{self, checksum, IpProtocol, PacketMeta};

proptest! {
    #![proptest_config(ProptestConfig::with_cases(4096))]

    /// The common IPv4 header's inline path (`parse_ipv4` before
    /// `parse_ipv4_general`, with `parse_l4_common`) gives the general
    /// path's result and fields: bad checksums and lengths, fragments,
    /// TCP data offsets and UDP lengths in and out of range.
    #[test]
    fn ipv4_fast_path_agrees(
        mut h in any::<[u8; 20]>(),
        proto in prop::sample::select(vec![6u8, 17, 1, 132, 136]),
        flags in prop::sample::select(vec![0u16, 0x2000, 0x4000, 0x8000, 0x0001, 0x2001]),
        total_delta in -24i32..4,
        fix_sum in any::<bool>(),
        mut l4 in proptest::collection::vec(any::<u8>(), 0..48),
        udp_len in 0u16..56,
    ) {
        h[0] = 0x45;
        h[9] = proto;
        h[6..8].copy_from_slice(&flags.to_be_bytes());
        let total = ((20 + l4.len()) as i32 + total_delta).max(0) as u16;
        h[2..4].copy_from_slice(&total.to_be_bytes());
        if fix_sum {
            h[10] = 0;
            h[11] = 0;
            let c = checksum::checksum(&h);
            h[10..12].copy_from_slice(&c.to_be_bytes());
        }
        if proto == 17 && l4.len() >= 6 {
            l4[4..6].copy_from_slice(&udp_len.to_be_bytes());
        }
        let mut b = h.to_vec();
        b.extend_from_slice(&l4);
        let (mut fast, mut general) = (PacketMeta::EMPTY, PacketMeta::EMPTY);
        fast.l3_off = 14;
        general.l3_off = 14;
        let rf = wire::parse_ipv4(&b, &mut fast);
        let rg = wire::parse_ipv4_general(&b, &mut general);
        prop_assert_eq!(rf, rg);
        if rf.is_ok() {
            prop_assert_eq!(fast, general);
        }
    }

    /// `parse_l4_common` fills what `parse_l4` fills, for both families.
    #[test]
    fn l4_fast_path_agrees(
        v6 in any::<bool>(),
        proto in prop::sample::select(vec![6u8, 17, 1, 58, 132]),
        more_frags in any::<bool>(),
        mut l4 in proptest::collection::vec(any::<u8>(), 0..48),
        udp_len in 0u16..56,
    ) {
        if proto == 17 && l4.len() >= 6 {
            l4[4..6].copy_from_slice(&udp_len.to_be_bytes());
        }
        let mut fast = PacketMeta::EMPTY;
        fast.ip_version = if v6 { 6 } else { 4 };
        fast.protocol = IpProtocol(proto);
        fast.more_frags = more_frags;
        let mut general = fast;
        wire::parse_l4_common(&l4, &mut fast);
        wire::parse_l4(&l4, &mut general);
        prop_assert_eq!(fast, general);
    }
}
