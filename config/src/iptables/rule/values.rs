//! Readers of the core options' values: counters, rule numbers, chain
//! names, protocols, addresses and interfaces, each as iptables 1.8.9
//! reads it.

use super::{err, Res};
use crate::iptables::ext::{parse, unsupported_target_reason, TargetExt};
use crate::iptables::lex::Word;
use crate::iptables::model::{Addr6Match, AddrMatch, Family, IfaceMatch};

/// `sscanf(s, "%llu")`: blanks, an optional sign, then at least one digit;
/// what follows the digits is ignored (a negative number wraps, as in C).
pub(super) fn scan_u64(s: &str) -> Option<u64> {
    let t = s.trim_start();
    let (neg, t) = match t.as_bytes().first() {
        Some(b'-') => (true, &t[1..]),
        Some(b'+') => (false, &t[1..]),
        _ => (false, t),
    };
    let digits = t.bytes().take_while(u8::is_ascii_digit).count();
    if digits == 0 {
        return None;
    }
    let v = t[..digits].parse::<u64>().unwrap_or(u64::MAX);
    Some(if neg { v.wrapping_neg() } else { v })
}

/// `parse_rulenumber`: 1..=INT_MAX.
pub(super) fn rule_number(w: &Word) -> Res<usize> {
    match parse::strtoui(&w.text, 1, i32::MAX as u64) {
        Some(n) => Ok(n as usize),
        None => err(w, format!("Invalid rule number `{}'", w.text)),
    }
}

/// The new name of `-E`: libiptc's checks only (no target-name or `-N`
/// checks): at most 31 bytes, not a built-in verdict.
pub(super) fn check_new_name(w: &Word) -> Res<()> {
    if w.text.len() > 31 {
        return err(
            w,
            format!(
                "chain name `{}' too long (must be under 32 chars for -E)",
                w.text
            ),
        );
    }
    if matches!(w.text.as_str(), "ACCEPT" | "DROP" | "QUEUE" | "RETURN") {
        return err(
            w,
            format!("cannot rename to `{}': it is a built-in target", w.text),
        );
    }
    Ok(())
}

/// Chain names as iptables (or ip6tables, by `family`) allows them for `-N`.
pub(super) fn check_chain_name(w: &Word, family: Family) -> Res<()> {
    let name = &w.text;
    if name.len() > 28 {
        return err(
            w,
            format!("chain name `{name}' too long (must be under 29 chars)"),
        );
    }
    if name.is_empty() {
        return err(w, "empty chain name");
    }
    if name.starts_with('-') || name.starts_with('!') {
        return err(
            w,
            format!("chain name not allowed to start with `{}'", &name[..1]),
        );
    }
    if is_target_name(name, family) {
        return err(
            w,
            format!("chain name may not clash with target name `{name}'"),
        );
    }
    if name.chars().any(|c| c.is_whitespace()) {
        return err(w, format!("Invalid chain name `{name}'"));
    }
    Ok(())
}

/// Whether `-N name` clashes with a target of `family`: iptables looks the
/// name up with `xtables_find_target`, which finds the targets of its own
/// family only (`libipt_TTL` is not there for ip6tables, `libip6t_HL` not
/// for iptables), so each family may name a chain after the other's
/// targets.
fn is_target_name(name: &str, family: Family) -> bool {
    let other_family_only: &[&str] = match family {
        Family::Ipv4 => &["HL", "SNPT", "DNPT"],
        Family::Ipv6 => &["TTL", "ECN", "CLUSTERIP", "ULOG"],
    };
    if other_family_only.contains(&name) {
        return false;
    }
    TargetExt::by_name(name).is_some()
        || unsupported_target_reason(name).is_some()
        || matches!(name, "ACCEPT" | "DROP" | "RETURN" | "QUEUE" | "standard")
}

/// `-p`: iptables lower-cases the word, then reads it as
/// `xtables_parse_protocol` does (a number 0..=255, `all`, or a name from
/// the protocol database).
pub(super) fn parse_protocol(w: &Word) -> Res<u8> {
    parse::parse_protocol(&w.text.to_ascii_lowercase()).or_else(|m| err(w, m))
}

/// The items of a `-s`/`-d` list as libxtables reads them for either
/// family: blanks before an item skipped, the mask after the last `/`
/// (`mask` reads it; none is all ones), the address read by `addr` only
/// when the mask is not zero (`any/0`) and masked. `bits` is the address
/// width. Each item is one rule, duplicates included, as the kernel gets
/// them.
fn parse_list(
    w: &Word,
    bits: u32,
    mask: impl Fn(&str) -> Option<u128>,
    addr: impl Fn(&str) -> Result<u128, String>,
) -> Res<Vec<(u128, u128)>> {
    let all = u128::MAX >> (128 - bits);
    let mut out = Vec::new();
    for item in w.text.split(',') {
        let item = item.trim_start();
        let (a, m) = match item.rsplit_once('/') {
            Some((a, m)) => (a, Some(m)),
            None => (item, None),
        };
        let mask = match m {
            None => all,
            Some(m) => match mask(m) {
                Some(mask) => mask,
                None => return err(w, format!("invalid mask `{m}' specified")),
            },
        };
        let addr = if mask == 0 {
            0
        } else {
            match addr(a) {
                Ok(a) => a,
                Err(hint) => return err(w, format!("host/network `{a}' not found{hint}")),
            }
        };
        out.push((addr & mask, mask));
    }
    Ok(out)
}

/// A length `0..=bits` as a mask of that many leading ones.
fn len_mask(m: &str, bits: u32) -> Option<u128> {
    let n = parse::strtoui(m, 0, bits.into())? as u32;
    let all = u128::MAX >> (128 - bits);
    Some(all & !u128::MAX.checked_shr(128 - bits + n).unwrap_or(0))
}

/// `-s`/`-d`: comma-separated `ADDR[/MASK]` as `xtables_ipparse_multiple`
/// reads them ([`parse_list`]): the mask a dotted mask of four parts or a
/// length 0..=32; the address xtables' own dotted form, then
/// getaddrinfo's numeric one.
pub(super) fn parse_addresses(w: &Word, invert: bool) -> Res<Vec<AddrMatch>> {
    let mask = |m: &str| match parse::parse_ipv4_mask(m) {
        Some(mask) => Some(u32::from(mask).into()),
        None => len_mask(m, 32),
    };
    let addr = |a: &str| {
        parse::parse_ipv4(a)
            .or_else(|| parse::inet_aton(a))
            .map(|a| u32::from(a).into())
            .ok_or_else(|| {
                if a.starts_with('-') {
                    " (iptables 1.8.9 takes an address written against its option, \
                     like `-s1.2.3.4`, as part of the option word: put a blank after the option)"
                } else if !a.is_empty() && a.bytes().all(|b| b.is_ascii_digit() || b == b'.') {
                    " (not a valid IPv4 address: four numbers 0-255)"
                } else {
                    " (sluice takes numeric IPv4 addresses only: it does not resolve host names)"
                }
                .to_string()
            })
    };
    Ok(parse_list(w, 32, mask, addr)?
        .into_iter()
        .map(|(a, m)| AddrMatch {
            addr: (a as u32).into(),
            mask: (m as u32).into(),
            invert,
        })
        .collect())
}

/// `-s`/`-d` of ip6tables: comma-separated `ADDR[/MASK]` as
/// `xtables_ip6parse_multiple` reads them ([`parse_list`]): the mask an
/// IPv6 address when it holds a `:`, else a length 0..=128; the address
/// read by `inet_pton` (host names are not resolved).
pub(super) fn parse_addresses6(w: &Word, invert: bool) -> Res<Vec<Addr6Match>> {
    let mask = |m: &str| match m.contains(':') {
        true => parse::inet_pton6(m).map(u128::from),
        false => len_mask(m, 128),
    };
    let addr = |a: &str| {
        parse::inet_pton6(a).map(u128::from).ok_or_else(|| {
            if a.starts_with('-') {
                " (ip6tables 1.8.9 takes an address written against its option, \
                 like `-s::1`, as part of the option word: put a blank after the option)"
            } else if parse::inet_aton(a).is_some() {
                " (an IPv4 address: an ip6tables ruleset takes IPv6 addresses)"
            } else {
                " (sluice takes numeric IPv6 addresses only: it does not resolve host names)"
            }
            .to_string()
        })
    };
    Ok(parse_list(w, 128, mask, addr)?
        .into_iter()
        .map(|(a, m)| Addr6Match {
            addr: a.into(),
            mask: m.into(),
            invert,
        })
        .collect())
}

/// `-i`/`-o`: an interface name (at most 15 bytes), `+` suffix a wildcard.
/// Like iptables, a name with `/` or a blank is taken (iptables only warns:
/// Linux never names an interface so, and the rule never matches).
pub(super) fn parse_iface(w: &Word, invert: bool) -> Res<Option<IfaceMatch>> {
    let s = &w.text;
    if s.len() > 15 {
        return err(
            w,
            format!("interface name `{s}' must be shorter than IFNAMSIZ (15)"),
        );
    }
    if s.is_empty() {
        return err(w, "Empty interface is likely to be undesired");
    }
    let (name, wildcard) = match s.strip_suffix('+') {
        Some(n) => (n, true),
        None => (s.as_str(), false),
    };
    if name.is_empty() && !invert {
        // `-i +` matches every interface: iptables stores nothing.
        return Ok(None);
    }
    // `! -i +` is kept: it matches no interface (iptables-save 1.8.9 prints
    // nothing for it, see save.rs, but the kernel rule never matches).
    Ok(Some(IfaceMatch {
        name: name.to_string(),
        wildcard,
        invert,
    }))
}
