//! `-j SNPT` / `-j DNPT`: IPv6-to-IPv6 network prefix translation (RFC
//! 6296) as the kernel's `ip6t_NPT` does it, stateless and
//! checksum-neutral: the prefix is replaced and one 16-bit word of the
//! interface identifier (the fourth word for prefixes up to /48, else the
//! first of words 4..7 that is not 0xffff) absorbs the checksum
//! difference, so no transport checksum changes.
//!
//! SNPT rewrites the source (and, in an ICMPv6 error, the destination of
//! the quoted packet when it is inside `--src-pfx`), DNPT the destination
//! (and the quoted source) — `ip6t_snpt_tg`, `ip6t_dnpt_tg`. As in the
//! kernel, the address itself is mapped whether or not it is inside
//! `--src-pfx` (one outside it comes out with a wrong transport
//! checksum); one whose identifier has no word to adjust is left
//! half-mapped and the packet dropped with an ICMPv6 parameter problem
//! (code 0, pointing at the address) about the half-mapped packet.

use sluice_config::iptables::ext::t_npt::Prefix6;

use crate::wire::checksum::{add, sum};

/// A compiled SNPT or DNPT rule.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Npt {
    /// SNPT (the source) or DNPT (the destination).
    pub snpt: bool,
    src: [u8; 16],
    src_len: u8,
    dst: [u8; 16],
    dst_len: u8,
    /// `ip6t_npt_checkentry`'s adjustment: the one's-complement
    /// difference of the prefixes' sums.
    adjustment: u16,
}

/// Whether the first `len` bits of `a` and `p` agree.
fn prefix_equal(a: &[u8; 16], p: &[u8; 16], len: u8) -> bool {
    let full = usize::from(len / 8);
    let rest = len % 8;
    if a[..full] != p[..full] {
        return false;
    }
    rest == 0 || {
        let m = 0xffu8 << (8 - rest);
        a[full] & m == p[full] & m
    }
}

impl Npt {
    pub fn new(snpt: bool, src: Prefix6, dst: Prefix6) -> Npt {
        let (s, d) = (src.addr.octets(), dst.addr.octets());
        // ~csum_fold(csum_sub(src_sum, dst_sum)).
        let adjustment = add(sum(&s), !sum(&d));
        Npt {
            snpt,
            src: s,
            src_len: src.len,
            dst: d,
            dst_len: dst.len,
            adjustment,
        }
    }

    /// Whether `a` is inside `--src-pfx`.
    pub fn matches(&self, a: &[u8; 16]) -> bool {
        prefix_equal(a, &self.src, self.src_len)
    }

    /// `ip6t_npt_map_pfx`: `a` with the prefix replaced; `false` when no
    /// identifier word can take the adjustment (`a` is left half-mapped,
    /// as the kernel leaves it: the packet is dropped).
    pub fn map(&self, a: &mut [u8; 16]) -> bool {
        let pfx_len = u32::from(self.src_len.max(self.dst_len));
        let mut i = 0;
        while i < pfx_len {
            let mask: u32 = if pfx_len - i >= 32 {
                0
            } else {
                (1u32 << (i + 32 - pfx_len)) - 1
            };
            let idx = (i / 32) as usize * 4;
            let w = u32::from_be_bytes([a[idx], a[idx + 1], a[idx + 2], a[idx + 3]]);
            let p = u32::from_be_bytes([
                self.dst[idx],
                self.dst[idx + 1],
                self.dst[idx + 2],
                self.dst[idx + 3],
            ]);
            let n = (w & mask) | (!mask & p);
            a[idx..idx + 4].copy_from_slice(&n.to_be_bytes());
            i += 32;
        }
        let word = |a: &[u8; 16], k: usize| u16::from_be_bytes([a[2 * k], a[2 * k + 1]]);
        let idx = if pfx_len <= 48 {
            3
        } else {
            match (4..8).find(|&k| word(a, k) != 0xffff) {
                Some(k) => k,
                None => return false,
            }
        };
        let mut w = add(word(a, idx), self.adjustment);
        if w == 0xffff {
            w = 0;
        }
        a[2 * idx..2 * idx + 2].copy_from_slice(&w.to_be_bytes());
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::Ipv6Addr;

    fn pfx(s: &str, len: u8) -> Prefix6 {
        Prefix6 {
            addr: s.parse().unwrap(),
            len,
        }
    }

    fn addr(s: &str) -> [u8; 16] {
        s.parse::<Ipv6Addr>().unwrap().octets()
    }

    #[test]
    fn rfc6296_example_is_checksum_neutral() {
        // RFC 6296 section 3.4: FD01:0203:0405:/48 to 2001:0DB8:0001:/48,
        // FD01:203:405:1::1234 becomes 2001:DB8:1:D550::1234.
        let n = Npt::new(true, pfx("fd01:203:405::", 48), pfx("2001:db8:1::", 48));
        let mut a = addr("fd01:203:405:1::1234");
        let before = sum(&a);
        assert!(n.matches(&a));
        assert!(n.map(&mut a));
        assert_eq!(
            Ipv6Addr::from(a),
            "2001:db8:1:d550::1234".parse::<Ipv6Addr>().unwrap()
        );
        assert_eq!(sum(&a), before);
        assert!(!n.matches(&addr("fd01:203:406::1")));
    }

    #[test]
    fn long_prefixes_adjust_the_first_word_that_is_not_all_ones() {
        let n = Npt::new(true, pfx("fd00:1:2:3::", 64), pfx("2001:db8:9:8::", 64));
        let mut a = addr("fd00:1:2:3:ffff:ffff:0:1");
        let before = sum(&a);
        assert!(n.map(&mut a));
        assert_eq!(&a[..8], &addr("2001:db8:9:8::")[..8]);
        assert_eq!(&a[8..12], &[0xff; 4]);
        assert_eq!(sum(&a), before);
        let mut all = addr("fd00:1:2:3:ffff:ffff:ffff:ffff");
        assert!(!n.map(&mut all));
    }
}
