//! The kernel's Jenkins hash over 32-bit words (`jhash2` of
//! `include/linux/jhash.h`, Bob Jenkins' lookup3 as Jozsef Kadlecsik
//! adapted it) and `reciprocal_scale` (`include/linux/math.h`).
//!
//! NAT needs them bit for bit: `find_best_ips_proto` picks the address of
//! a `--to-source` / `--to-destination` range with
//! `reciprocal_scale(jhash2(..), n)`, so the same client lands on the same
//! backend here as on a Linux box. Both are pure functions on `u32`s; how
//! the words are read from addresses (host order) is the caller's business
//! ([`super::select`]).

/// `JHASH_INITVAL`.
const INITVAL: u32 = 0xdead_beef;

/// `__jhash_mix`: mix three words reversibly.
#[inline]
fn mix(a: &mut u32, b: &mut u32, c: &mut u32) {
    *a = a.wrapping_sub(*c);
    *a ^= c.rotate_left(4);
    *c = c.wrapping_add(*b);
    *b = b.wrapping_sub(*a);
    *b ^= a.rotate_left(6);
    *a = a.wrapping_add(*c);
    *c = c.wrapping_sub(*b);
    *c ^= b.rotate_left(8);
    *b = b.wrapping_add(*a);
    *a = a.wrapping_sub(*c);
    *a ^= c.rotate_left(16);
    *c = c.wrapping_add(*b);
    *b = b.wrapping_sub(*a);
    *b ^= a.rotate_left(19);
    *a = a.wrapping_add(*c);
    *c = c.wrapping_sub(*b);
    *c ^= b.rotate_left(4);
    *b = b.wrapping_add(*a);
}

/// `__jhash_final`: fold `a`, `b` into `c`.
#[inline]
fn finish(mut a: u32, mut b: u32, mut c: u32) -> u32 {
    c ^= b;
    c = c.wrapping_sub(b.rotate_left(14));
    a ^= c;
    a = a.wrapping_sub(c.rotate_left(11));
    b ^= a;
    b = b.wrapping_sub(a.rotate_left(25));
    c ^= b;
    c = c.wrapping_sub(b.rotate_left(16));
    a ^= c;
    a = a.wrapping_sub(c.rotate_left(4));
    b ^= a;
    b = b.wrapping_sub(a.rotate_left(14));
    c ^= b;
    c = c.wrapping_sub(b.rotate_left(24));
    c
}

/// `jhash2(k, length, initval)`: the hash of `words`. An empty key hashes
/// to the initial state (`0xdeadbeef + initval`), as in the kernel, which
/// skips the final mix then.
pub fn jhash2(words: &[u32], initval: u32) -> u32 {
    // The kernel's length is a u32 count of words, shifted to bytes.
    let len = words.len() as u32;
    let start = INITVAL.wrapping_add(len << 2).wrapping_add(initval);
    let (mut a, mut b, mut c) = (start, start, start);
    let mut k = words;
    while k.len() > 3 {
        a = a.wrapping_add(k[0]);
        b = b.wrapping_add(k[1]);
        c = c.wrapping_add(k[2]);
        mix(&mut a, &mut b, &mut c);
        k = &k[3..];
    }
    // The last one to three words; none left: no final mix.
    match *k {
        [] => c,
        [x] => finish(a.wrapping_add(x), b, c),
        [x, y] => finish(a.wrapping_add(x), b.wrapping_add(y), c),
        [x, y, z] => finish(a.wrapping_add(x), b.wrapping_add(y), c.wrapping_add(z)),
        _ => unreachable!("the loop leaves at most three words"),
    }
}

/// `reciprocal_scale(val, ep_ro)`: `val` scaled from `[0, 2^32)` to
/// `[0, ep_ro)` by a multiply and a shift (0 when `ep_ro` is 0).
#[inline]
pub fn reciprocal_scale(val: u32, ep_ro: u32) -> u32 {
    ((u64::from(val) * u64::from(ep_ro)) >> 32) as u32
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Vectors from a C transcription of `jhash2` in `include/linux/jhash.h`
    /// (the kernel's macros with `rol32`, compiled with `cc` outside the
    /// repository). The last one is also what the running 6.18 kernel
    /// used: see `select.rs`, `dnat_range_picks_the_kernels_backend`.
    #[test]
    fn jhash2_matches_the_kernel() {
        let k = [1u32, 2, 3, 4, 5, 6, 7, 8];
        assert_eq!(jhash2(&k[..0], 0), 0xdead_beef);
        assert_eq!(jhash2(&k[..1], 0), 0x72a8_2a9b);
        assert_eq!(jhash2(&k[..2], 7), 0x79f0_851f);
        assert_eq!(jhash2(&k[..3], 0), 0xa461_58f5);
        assert_eq!(jhash2(&k[..4], 0x1234_5678), 0x2d00_1f70);
        assert_eq!(jhash2(&k[..7], 0xffff_ffff), 0x5011_157b);
        // 198.51.100.1 as the four host-order (little-endian) words of a
        // tuple address, seeded with 203.0.113.5 read the same way.
        let src = [u32::from_le_bytes([198, 51, 100, 1]), 0, 0, 0];
        let seed = u32::from_le_bytes([203, 0, 113, 5]);
        assert_eq!(jhash2(&src, seed), 0x0a73_4930);
    }

    #[test]
    fn reciprocal_scale_maps_onto_the_range() {
        assert_eq!(reciprocal_scale(0, 10), 0);
        assert_eq!(reciprocal_scale(u32::MAX, 10), 9);
        assert_eq!(reciprocal_scale(0x8000_0000, 2), 1);
        assert_eq!(reciprocal_scale(0x7fff_ffff, 2), 0);
        assert_eq!(reciprocal_scale(0x1234_5678, 0), 0);
        // ~0 as the range (find_best_ips_proto's "full range" word).
        assert_eq!(reciprocal_scale(u32::MAX, u32::MAX), u32::MAX - 1);
    }
}
