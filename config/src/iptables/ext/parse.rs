//! The C-library and libxtables readers the extensions share: numbers,
//! number ranges, marks, IPv4 addresses, ports and protocols, each as the C
//! function named in its doc reads it, edge cases included (white space,
//! signs, `0x`/`0` prefixes, overflow, what follows the digits). An
//! extension calls the reader its iptables 1.8.9 counterpart calls; none
//! keeps a private copy, so a fix to a reader reaches every option that
//! uses it.
//!
//! Every number goes through [`crate::num::strtoumax`], the crate's one
//! reader of C numbers.
//!
//! The messages are libxtables' own (without the `EXT: ` prefix, which the
//! rule parser adds).

use std::fmt::{Display, Write as _};
use std::net::Ipv4Addr;

use crate::iptables::netdb;
use crate::num::{strtoumax, CNum};

// ---------------------------------------------------------------------------
// Numbers.

/// `xtables_strtoul(s, &end, ..)`: a base-0 number and what follows it;
/// `None` without a digit, with a `-` (libxtables refuses it before
/// calling strtoumax) or on overflow. Leading white space and `+` are
/// taken, as strtoumax takes them.
pub(crate) fn xt_strtoul(s: &str) -> Option<(u64, &str)> {
    match strtoumax(s, 0)? {
        CNum {
            value: Some(v),
            negative: false,
            rest,
        } => Some((v, rest)),
        _ => None,
    }
}

/// `xtables_strtoui(s, &end, .., min, max)`: [`xt_strtoul`] within
/// `min..=max`.
pub(crate) fn xt_strtoui(s: &str, min: u64, max: u64) -> Option<(u64, &str)> {
    xt_strtoul(s).filter(|(v, _)| (min..=max).contains(v))
}

/// `xtables_strtoui(s, NULL, .., min, max)`: the whole string one base-0
/// number within `min..=max`.
pub fn strtoui(s: &str, min: u64, max: u64) -> Option<u64> {
    match xt_strtoui(s, min, max)? {
        (v, "") => Some(v),
        _ => None,
    }
}

/// `xtables_strtoul(s, NULL, ..)` without bounds: the whole string one
/// base-0 number.
pub fn strtoul(s: &str) -> Option<u64> {
    strtoui(s, 0, u64::MAX)
}

/// glibc `atoi`: leading blanks, an optional sign, decimal digits up to the
/// first other character; `strtol` saturates at the `long` bounds and the
/// result is truncated to `int`.
pub(crate) fn atoi(s: &str) -> i32 {
    let Some(CNum {
        value: v,
        negative: neg,
        ..
    }) = strtoumax(s, 10)
    else {
        return 0;
    };
    let long = match (v, neg) {
        (Some(v), false) => i64::try_from(v).unwrap_or(i64::MAX),
        (Some(v), true) => 0i64.checked_sub_unsigned(v).unwrap_or(i64::MIN),
        (None, false) => i64::MAX,
        (None, true) => i64::MIN,
    };
    long as i32
}

/// An integer option (`xtopt_parse_int`, XTTYPE_UINT8..UINT64): the whole
/// argument one base-0 number within `min..=max`.
pub(crate) fn uint_opt(arg: &str, opt: &str, min: u64, max: u64) -> Result<u64, String> {
    strtoui(arg, min, max)
        .ok_or_else(|| format!("bad value for option \"--{opt}\", or out of range ({min}-{max})."))
}

/// An integer range option (`xtopt_parse_mint`, XTTYPE_UINT16RC /
/// UINT32RC): `[MIN][:[MAX]]`, each a base-0 number up to `lmax`; an empty
/// low end is 0, an empty high end `lmax`, one number is `N:N`. The order
/// is not checked (`4:3` is kept).
pub(crate) fn uint_range_opt(arg: &str, opt: &str, lmax: u64) -> Result<(u64, u64), String> {
    let mut vals = [0u64; 2];
    let mut n = 0;
    let mut rest = arg;
    loop {
        if n == 2 {
            return Err(format!(
                "Too many components for option \"--{opt}\" (max: 2)"
            ));
        }
        let (value, end) = if rest.is_empty() || rest.starts_with(':') {
            (if n == 1 { lmax } else { 0 }, rest)
        } else {
            let (v, end) = xt_strtoui(rest, 0, lmax).ok_or_else(|| {
                format!(
                    "bad value for option \"--{opt}\" near \"{rest}\", or out of range (0-{lmax})."
                )
            })?;
            if !end.is_empty() && !end.starts_with(':') {
                return Err(format!(
                    "Argument to \"--{opt}\" has unexpected characters near \"{end}\"."
                ));
            }
            (v, end)
        };
        vals[n] = value;
        n += 1;
        match end.strip_prefix(':') {
            Some(r) => rest = r,
            None => break,
        }
    }
    let max = if n == 2 { vals[1] } else { vals[0] };
    Ok((vals[0], max))
}

// ---------------------------------------------------------------------------
// Marks.

/// `xtables_parse_mark_mask` (XTTYPE_MARKMASK32): `VALUE[/MASK]`, each a
/// base-0 number up to 2^32-1 (leading white space and `+` allowed, as
/// strtoul allows them), nothing after them; the mask is all ones when
/// absent.
pub fn parse_mark_mask(s: &str, opt: &str) -> Result<(u32, u32), String> {
    let number = |t| {
        xt_strtoui(t, 0, u64::from(u32::MAX))
            .map(|(v, rest)| (v as u32, rest))
            .ok_or_else(|| format!("bad integer value for option \"--{opt}\", or out of range."))
    };
    let garbage = || format!("trailing garbage after value for option \"--{opt}\".");
    let (value, rest) = number(s)?;
    if rest.is_empty() {
        return Ok((value, u32::MAX));
    }
    let Some(m) = rest.strip_prefix('/') else {
        return Err(garbage());
    };
    match number(m)? {
        (mask, "") => Ok((value, mask)),
        _ => Err(garbage()),
    }
}

pub use super::addr6::inet_pton6;

// ---------------------------------------------------------------------------
// IPv4 addresses.

/// `xtables_numeric_to_ipaddr`: a dotted address, where fewer than four
/// parts are completed with zeros (`10` is `10.0.0.0`) and each part is a
/// base-0 number up to 255. libxtables copies the word into a 20-byte
/// buffer first, so only its first 19 bytes count.
pub fn parse_ipv4(s: &str) -> Option<Ipv4Addr> {
    let s = s.get(..19).unwrap_or(s);
    let parts: Vec<&str> = s.split('.').collect();
    if parts.len() > 4 {
        return None;
    }
    let mut b = [0u8; 4];
    for (i, p) in parts.iter().enumerate() {
        b[i] = strtoui(p, 0, 255)? as u8;
    }
    Some(Ipv4Addr::from(b))
}

/// `xtables_numeric_to_ipmask`: [`parse_ipv4`] with all four parts
/// required.
pub fn parse_ipv4_mask(s: &str) -> Option<Ipv4Addr> {
    if s.get(..19).unwrap_or(s).split('.').count() != 4 {
        return None;
    }
    parse_ipv4(s)
}

/// glibc `inet_aton` as `getaddrinfo(AF_INET)` applies it to numeric hosts:
/// one to four dot-separated parts, each starting with a digit and read in
/// base 0; the last part fills the remaining bytes (`10` is `0.0.0.10`,
/// `10.1` is `10.0.0.1`, `255.255.0` is `255.255.0.0`).
pub(crate) fn inet_aton(s: &str) -> Option<Ipv4Addr> {
    let parts: Vec<&str> = s.split('.').collect();
    if parts.len() > 4 {
        return None;
    }
    let mut val: u32 = 0;
    for (i, p) in parts.iter().enumerate() {
        if !p.starts_with(|c: char| c.is_ascii_digit()) {
            return None;
        }
        let CNum {
            value: Some(v),
            negative: false,
            rest: "",
        } = strtoumax(p, 0)?
        else {
            return None;
        };
        if i + 1 == parts.len() {
            let bits = 8 * (4 - i as u32);
            if (bits < 32 && v >> bits != 0) || v > u64::from(u32::MAX) {
                return None;
            }
            val |= v as u32;
        } else {
            if v > 255 {
                return None;
            }
            val |= (v as u32) << (24 - 8 * i as u32);
        }
    }
    Some(Ipv4Addr::from(val))
}

/// The prefix length of a contiguous mask.
pub(crate) fn mask_len(mask: u32) -> Option<u32> {
    let ones = mask.leading_ones();
    (mask.checked_shl(ones).unwrap_or(0) == 0).then_some(ones)
}

/// Prints ` ADDR[/MASK]` as `xtables_ipaddr_to_numeric` +
/// `xtables_ipmask_to_numeric`: no suffix for /32, `/N` for a contiguous
/// mask, the dotted mask otherwise.
pub(crate) fn save_addr_mask(out: &mut String, addr: Ipv4Addr, mask: Ipv4Addr) {
    let _ = write!(out, " {addr}");
    match mask_len(u32::from(mask)) {
        Some(32) => {}
        Some(n) => {
            let _ = write!(out, "/{n}");
        }
        None => {
            let _ = write!(out, "/{mask}");
        }
    }
}

// ---------------------------------------------------------------------------
// Ports and protocols.

/// `xtables_parse_port`: a base-0 number 0..=65535 or a service name for
/// `proto` (as `-m tcp` and `-m multiport` read their ports).
pub fn parse_port(s: &str, proto: &str) -> Result<u16, String> {
    if let Some(v) = strtoui(s, 0, 65535) {
        return Ok(v as u16);
    }
    netdb::service_port(s, proto).ok_or_else(|| format!("invalid port/service `{s}' specified"))
}

/// A port range `A[:B]` as libxt_tcp's `parse_tcp_ports` reads it, each end
/// by [`parse_port`]: `:B` is `0:B`, `A:` is `A:65535`, `:` is everything;
/// `A > B` is refused.
pub fn parse_port_range(s: &str, proto: &str) -> Result<(u16, u16), String> {
    let Some((a, b)) = s.split_once(':') else {
        let p = parse_port(s, proto)?;
        return Ok((p, p));
    };
    let lo = if a.is_empty() {
        0
    } else {
        parse_port(a, proto)?
    };
    let hi = if b.is_empty() {
        65535
    } else {
        parse_port(b, proto)?
    };
    if lo > hi {
        return Err(format!("invalid portrange ({lo}:{hi}) specified"));
    }
    Ok((lo, hi))
}

/// `xtables_getportbyname` as libxtables 1.8.9 resolves a port through
/// `getaddrinfo(NULL, name, NULL)`: a decimal number (glibc keeps its low 16
/// bits, and refuses it when the low 32 bits are negative as an `int`), else
/// a service name looked up for tcp, udp, dccp, udplite then sctp.
pub(crate) fn port_by_name(s: &str) -> Option<u16> {
    if let Some(CNum {
        value: v,
        negative: neg,
        rest: "",
    }) = strtoumax(s, 10)
    {
        let v = v.unwrap_or(u64::MAX);
        let v = if neg { v.wrapping_neg() } else { v };
        let num = v as u32 as i32;
        return (num >= 0).then_some(num as u16);
    }
    ["tcp", "udp", "dccp", "udplite", "sctp"]
        .iter()
        .find_map(|p| netdb::service_port(s, p))
}

/// A port range option (`xtopt_parse_mport`, XTTYPE_PORTRC, as `-m udp`
/// and the conntrack tuple ports read it): `[PORT][:[PORT]]`, each by
/// [`port_by_name`]; an empty low end is 0, an empty high end 65535, one
/// port is `P:P`. The order is not checked (`4:3` is kept).
pub(crate) fn port_range_opt(arg: &str, opt: &str) -> Result<(u16, u16), String> {
    let mut range = [0u16, u16::MAX];
    let mut n = 0;
    for part in arg.split(':') {
        if n == 2 {
            return Err(format!(
                "Too many components for option \"--{opt}\" (max: 2)"
            ));
        }
        if !part.is_empty() {
            range[n] = port_by_name(part)
                .ok_or_else(|| format!("Port \"{part}\" does not resolve to anything."))?;
        }
        n += 1;
    }
    if n == 1 {
        range[1] = range[0];
    }
    Ok((range[0], range[1]))
}

/// Prints a range as libxtables prints ports and lengths: `A` when the ends
/// are equal, else `A:B`.
pub fn save_range<T: Display + PartialEq>(out: &mut String, lo: T, hi: T) {
    if lo == hi {
        let _ = write!(out, "{lo}");
    } else {
        let _ = write!(out, "{lo}:{hi}");
    }
}

/// `xtables_parse_protocol`: a number 0..=255, `all` (0), a name or alias
/// from the protocol database (case as written), or iptables' own names.
/// (`-p` lower-cases its word before, `--ctproto` does not.)
pub fn parse_protocol(s: &str) -> Result<u8, String> {
    if let Some(v) = strtoui(s, 0, 255) {
        return Ok(v as u8);
    }
    if s == "all" {
        return Ok(0);
    }
    if let Some(p) = netdb::proto_by_name(s) {
        return Ok(p);
    }
    const OWN: [(&str, u8); 10] = [
        ("tcp", 6),
        ("sctp", 132),
        ("udp", 17),
        ("udplite", 136),
        ("icmp", 1),
        ("icmpv6", 58),
        ("esp", 50),
        ("ah", 51),
        ("ipv6-mh", 135),
        ("mh", 135),
    ];
    OWN.iter()
        .find(|(n, _)| *n == s)
        .map(|(_, p)| *p)
        .ok_or_else(|| format!("unknown protocol \"{s}\" specified"))
}

// ---------------------------------------------------------------------------
// Strings.

/// `xtables_save_string`: a word as is when it is only `[A-Za-z0-9_-]`,
/// otherwise double-quoted with `"`, `\` and `'` escaped by a backslash.
pub fn save_string(out: &mut String, s: &str) {
    out.push(' ');
    let plain = !s.is_empty()
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-');
    if plain {
        out.push_str(s);
        return;
    }
    out.push('"');
    for ch in s.chars() {
        if matches!(ch, '"' | '\\' | '\'') {
            out.push('\\');
        }
        out.push(ch);
    }
    out.push('"');
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn xtables_numbers() {
        assert_eq!(xt_strtoui("80x", 0, 65535), Some((80, "x")));
        assert_eq!(xt_strtoui(" +0x50", 0, 65535), Some((80, "")));
        assert_eq!(xt_strtoui("080", 0, 65535), Some((0, "80")));
        assert_eq!(xt_strtoui("0x", 0, 65535), Some((0, "x")));
        assert_eq!(xt_strtoui("-0", 0, 65535), None);
        assert_eq!(xt_strtoui("x", 0, 65535), None);
        assert_eq!(xt_strtoui("65536", 0, 65535), None);
        assert_eq!(xt_strtoui("99999999999999999999999", 0, 65535), None);
        assert_eq!(strtoui("7", 0, 7), Some(7));
        assert_eq!(strtoui("7 ", 0, 7), None);
        assert_eq!(strtoul("10"), Some(10));
        assert_eq!(strtoul("0x10"), Some(16));
        assert_eq!(strtoul("010"), Some(8));
        assert_eq!(strtoul("0"), Some(0));
        assert_eq!(strtoul("-1"), None);
        assert_eq!(strtoul(" +22"), Some(22));
        assert_eq!(strtoul("1a"), None);
        assert_eq!(strtoul(""), None);
        // strtoumax stops at a sign after the prefix.
        assert_eq!(strtoul("0x+7"), None);
        assert_eq!(strtoul("0+7"), None);
    }

    #[test]
    fn atoi_like_glibc() {
        assert_eq!(atoi(" 12x"), 12);
        assert_eq!(atoi("-3"), -3);
        assert_eq!(atoi("4294967297"), 1);
        assert_eq!(atoi("99999999999999999999999"), -1);
        assert_eq!(atoi("-99999999999999999999999"), 0);
        assert_eq!(atoi("/sec"), 0);
    }

    #[test]
    fn ranges_like_xtopt_parse_mint() {
        assert_eq!(uint_range_opt("5", "x", 65535), Ok((5, 5)));
        assert_eq!(uint_range_opt(":", "x", 65535), Ok((0, 65535)));
        assert_eq!(uint_range_opt("4:3", "x", 65535), Ok((4, 3)));
        assert_eq!(uint_range_opt("", "x", 65535), Ok((0, 0)));
        assert!(uint_range_opt("1:2:3", "x", 9)
            .is_err_and(|e| e.contains("Too many components for option \"--x\" (max: 2)")));
        assert!(uint_range_opt("5x", "x", 9)
            .is_err_and(|e| e.contains("unexpected characters near \"x\".")));
        assert!(uint_range_opt("5:10", "x", 9)
            .is_err_and(|e| e.contains("near \"10\", or out of range (0-9).")));
    }

    #[test]
    fn addresses() {
        assert_eq!(parse_ipv4("10.1"), Some(Ipv4Addr::new(10, 1, 0, 0)));
        assert_eq!(parse_ipv4("256.1.1.1"), None);
        assert_eq!(parse_ipv4_mask("255.0"), None);
        // Only the first 19 bytes count.
        assert_eq!(
            parse_ipv4("00000000000000001.2.3.4"),
            Some(Ipv4Addr::new(1, 2, 0, 0))
        );
        assert_eq!(inet_aton("10"), Some(Ipv4Addr::new(0, 0, 0, 10)));
        assert_eq!(inet_aton("10.1"), Some(Ipv4Addr::new(10, 0, 0, 1)));
        assert_eq!(inet_aton("1.2.3"), Some(Ipv4Addr::new(1, 2, 0, 3)));
        assert_eq!(inet_aton("0x7f.1"), Some(Ipv4Addr::new(127, 0, 0, 1)));
        assert_eq!(inet_aton("4294967295"), Some(Ipv4Addr::BROADCAST));
        assert_eq!(inet_aton("4294967296"), None);
        assert_eq!(inet_aton("1.256"), Some(Ipv4Addr::new(1, 0, 1, 0)));
        assert_eq!(inet_aton("1.2.3.256"), None);
        assert_eq!(inet_aton("1..2"), None);
        assert_eq!(inet_aton("1.2.3.4.5"), None);
        assert_eq!(inet_aton("+1.300"), None);
        assert_eq!(inet_aton(""), None);
        let aton = |s| inet_aton(s).map(u32::from);
        assert_eq!(aton("0x0a000001"), Some(0x0a00_0001));
        assert_eq!(aton("167772161"), Some(0x0a00_0001));
        assert_eq!(aton("10.65535"), Some(0x0a00_ffff));
        assert_eq!(aton("10.1.258"), Some(0x0a01_0102));
    }

    #[test]
    fn ports_and_ranges() {
        assert_eq!(parse_port("ssh", "tcp"), Ok(22));
        assert_eq!(parse_port_range("1024:", "tcp"), Ok((1024, 65535)));
        assert_eq!(parse_port_range(":4", "tcp"), Ok((0, 4)));
        assert!(parse_port_range("4:3", "tcp").is_err());
        assert!(parse_port("65536", "tcp").is_err());
        assert_eq!(port_by_name("65537"), Some(1));
        assert_eq!(port_by_name("2147483648"), None);
        assert_eq!(port_by_name("4294967301"), Some(5));
        assert_eq!(port_by_name("0x10"), None);
        assert_eq!(port_by_name("ssh"), Some(22));
        assert_eq!(port_range_opt("4:3", "p"), Ok((4, 3)));
        assert_eq!(port_range_opt("", "p"), Ok((0, 0)));
        assert_eq!(port_range_opt(":", "p"), Ok((0, 65535)));
    }

    #[test]
    fn marks() {
        assert_eq!(parse_mark_mask(" 1/ 2", "m"), Ok((1, 2)));
        assert_eq!(parse_mark_mask("010", "m"), Ok((8, u32::MAX)));
        for bad in ["4294967296", "-1", "1/", "/1", "+", ""] {
            assert!(
                parse_mark_mask(bad, "m").is_err_and(|e| e.contains("bad integer value")),
                "{bad}"
            );
        }
        for garbage in ["1x", "0x", "08", "1/2/3", "1:2"] {
            assert!(
                parse_mark_mask(garbage, "m").is_err_and(|e| e.contains("trailing garbage")),
                "{garbage}"
            );
        }
    }

    #[test]
    fn save_string_quotes_like_xtables() {
        let mut s = String::new();
        save_string(&mut s, "foo");
        save_string(&mut s, "a b");
        save_string(&mut s, "a'b\"c");
        assert_eq!(s, r#" foo "a b" "a\'b\"c""#);
    }
}
