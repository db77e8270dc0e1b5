//! IPv6 addresses as ip6tables reads and prints them: glibc `inet_pton`
//! (numeric only; sluice resolves no host names) and `inet_ntop`, whose
//! text for an address with 96 leading zero bits differs from Rust's
//! (`::1.2.3.4`).

use std::fmt::Write as _;
use std::net::Ipv6Addr;

/// `inet_pton(AF_INET6)`: eight groups of one to four hex digits, one `::`
/// for a run of zero groups, the last 32 bits optionally as a dotted quad.
pub fn inet_pton6(s: &str) -> Option<Ipv6Addr> {
    s.parse().ok()
}

/// glibc `inet_ntop(AF_INET6)`: the first longest run of two or more zero
/// groups as `::`, lower-case hex, and the last 32 bits as a dotted quad
/// when the first 96 bits are zero (but for `::` and `::x` with one group)
/// or the address is IPv4-mapped (`::ffff:a.b.c.d`).
pub fn ntop6(a: Ipv6Addr) -> String {
    let w = a.segments();
    let (mut best, mut cur): ((usize, usize), Option<(usize, usize)>) = ((0, 0), None);
    for (i, &x) in w.iter().enumerate() {
        if x == 0 {
            let c = cur.get_or_insert((i, 0));
            c.1 += 1;
            if c.1 > best.1 {
                best = *c;
            }
        } else {
            cur = None;
        }
    }
    let run = (best.1 >= 2).then_some(best);
    let mut out = String::new();
    let mut i = 0;
    while i < 8 {
        if let Some((base, len)) = run {
            if i >= base && i < base + len {
                if i == base {
                    out.push(':');
                }
                i += 1;
                continue;
            }
        }
        if i != 0 {
            out.push(':');
        }
        let v4 = run.is_some_and(|(b, l)| b == 0 && (l == 6 || (l == 5 && w[5] == 0xffff)));
        if i == 6 && v4 {
            let o = a.octets();
            let _ = write!(out, "{}.{}.{}.{}", o[12], o[13], o[14], o[15]);
            break;
        }
        let _ = write!(out, "{:x}", w[i]);
        i += 1;
    }
    if run.is_some_and(|(b, l)| b + l == 8) {
        out.push(':');
    }
    out
}

/// The prefix length of a contiguous IPv6 mask.
pub fn mask6_len(mask: Ipv6Addr) -> Option<u32> {
    let m = u128::from(mask);
    let ones = m.leading_ones();
    (m.checked_shl(ones).unwrap_or(0) == 0).then_some(ones)
}

/// XTTYPE_HOSTMASK of ip6tables: `HOST[/LEN|/MASK]` to the address (as
/// written, not masked) and a prefix length; no suffix is /128, and so is
/// a non-contiguous mask (libxtables 1.8.9). Host names are refused.
pub fn parse_hostmask6(arg: &str, opt: &str) -> Result<(Ipv6Addr, u8), String> {
    let (host, mask) = match arg.split_once('/') {
        Some((h, m)) => (h, Some(m)),
        None => (arg, None),
    };
    let addr = inet_pton6(host).ok_or_else(|| {
        format!(
            "host `{host}' not found: sluice takes numeric IPv6 addresses only \
             (getaddrinfo: Name or service not known)"
        )
    })?;
    let len = match mask {
        None => 128,
        Some(m) if m.contains(':') => inet_pton6(m)
            .map(|m| mask6_len(m).unwrap_or(128))
            .ok_or_else(|| bad_hostmask(opt))?,
        Some(m) => {
            crate::iptables::ext::parse::strtoui(m, 0, 128).ok_or_else(|| bad_hostmask(opt))? as u32
        }
    };
    Ok((addr, len as u8))
}

fn bad_hostmask(opt: &str) -> String {
    format!(
        "bad value for option \"--{opt}\", neither a valid network mask nor valid CIDR (0-128)."
    )
}

/// Prints ` ADDR/MASK` as ip6tables-save does for `-s`/`-d`
/// (`xtables_ip6addr_to_numeric` and `xtables_ip6mask_to_numeric`): `/N`
/// for a contiguous mask (`/128` included), the mask as an address
/// otherwise.
pub fn save_addr6_mask(out: &mut String, addr: Ipv6Addr, mask: Ipv6Addr) {
    let _ = write!(out, " {}", ntop6(addr));
    match mask6_len(mask) {
        Some(n) => {
            let _ = write!(out, "/{n}");
        }
        None => {
            let _ = write!(out, "/{}", ntop6(mask));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(s: &str) -> String {
        ntop6(s.parse().unwrap())
    }

    #[test]
    fn prints_as_glibc_inet_ntop() {
        // Each as ip6tables-legacy-save 1.8.9 printed it (Debian 12).
        assert_eq!(t("::102:304"), "::1.2.3.4");
        assert_eq!(t("::1:102:304"), "::1:102:304");
        assert_eq!(t("::ffff:1.2.3.4"), "::ffff:1.2.3.4");
        assert_eq!(t("1:0:0:1:0:0:0:1"), "1:0:0:1::1");
        assert_eq!(t("1:0:1:0:1:0:1:0"), "1:0:1:0:1:0:1:0");
        assert_eq!(t("2001:db8::"), "2001:db8::");
        assert_eq!(t("::"), "::");
        assert_eq!(t("::1"), "::1");
        assert_eq!(t("::2"), "::2");
        assert_eq!(t("fe80::1"), "fe80::1");
        assert_eq!(t("ffff:0:ffff::"), "ffff:0:ffff::");
        assert_eq!(t("1:0:0:2:0:0:3:4"), "1::2:0:0:3:4");
    }

    #[test]
    fn masks_print_as_lengths_when_contiguous() {
        let mut s = String::new();
        save_addr6_mask(
            &mut s,
            "2001::".parse().unwrap(),
            "ffff:0:ffff::".parse().unwrap(),
        );
        save_addr6_mask(
            &mut s,
            "fe80::".parse().unwrap(),
            "ffff:ffff:ffff:ffff::".parse().unwrap(),
        );
        save_addr6_mask(&mut s, "::1".parse().unwrap(), Ipv6Addr::from(u128::MAX));
        assert_eq!(s, " 2001::/ffff:0:ffff:: fe80::/64 ::1/128");
    }
}
