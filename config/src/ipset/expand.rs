//! Element values to the elements they stand for, as the kernel's `uadt`
//! functions expand them (ranges, networks, port ranges), and the number,
//! address, port and protocol readers they share with `create` options.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use ipnet::{IpNet, Ipv4Net, Ipv6Net};

use super::error::SetsError;
use super::lex::Word;
use super::model::{
    icmp_by_name, Family, ProtoPort, SetKind, ICMPV6_NAMES, ICMP_NAMES, PROTO_ICMP, PROTO_ICMPV6,
    PROTO_SCTP, PROTO_TCP, PROTO_UDP, PROTO_UDPLITE,
};
use super::parse::Fail;
use crate::iptables::netdb;
use crate::num::{self, NumError};

/// `strtoull(s, .., 0)` over the whole word, within `0..=max`, with ipset's
/// messages.
pub(super) fn number(w: &Word, max: u64) -> Result<u64, Fail> {
    parse_c_number(&w.text, max).map_err(|m| (w.column, m))
}

pub(super) fn parse_c_number(s: &str, max: u64) -> Result<u64, SetsError> {
    c_number(s, max).map_err(|e| match e {
        NumError::Invalid => SetsError::Number {
            text: s.to_string(),
        },
        NumError::Overflow => SetsError::NumberRange {
            text: s.to_string(),
            max,
        },
    })
}

/// [`num::plain`] within `0..=max`: ipset says "out of range" for a value
/// above `max` as for one past 64 bits, so both are `Overflow` here.
fn c_number(s: &str, max: u64) -> Result<u64, NumError> {
    match num::plain(s)? {
        n if n <= max => Ok(n),
        _ => Err(NumError::Overflow),
    }
}

/// ipset's separator rule: `sep` splits only where it is neither the first
/// nor the last character.
fn split_at_sep(s: &str, sep: char) -> Option<(&str, &str)> {
    if s.starts_with(sep) || s.ends_with(sep) {
        return None;
    }
    s.split_once(sep)
}

pub(super) fn split_range(s: &str) -> Option<(&str, &str)> {
    split_at_sep(s, '-')
}

/// `A,B` of a two-dimension element.
pub(super) fn split_pair(col: usize, s: &str, kind: SetKind) -> Result<(&str, &str), Fail> {
    match split_at_sep(s, ',') {
        Some((a, b)) if !b.contains(',') => Ok((a, b)),
        Some(_) => Err((
            col,
            SetsError::TwoCommas {
                text: s.to_string(),
                kind,
            },
        )),
        None => Err((
            col,
            SetsError::NotAPair {
                text: s.to_string(),
                kind,
            },
        )),
    }
}

fn parse_ip(col: usize, s: &str, family: Family) -> Result<IpAddr, Fail> {
    let ip = match family {
        Family::Inet => s.parse::<Ipv4Addr>().map(IpAddr::V4).ok(),
        Family::Inet6 => s.parse::<Ipv6Addr>().map(IpAddr::V6).ok(),
    };
    ip.ok_or_else(|| (col, address_error(s, family)))
}

fn address_error(s: &str, family: Family) -> SetsError {
    SetsError::Address {
        text: s.to_string(),
        family,
    }
}

/// A CIDR length, 1..=max (the kernel refuses /0 in every type here).
fn parse_cidr(col: usize, s: &str, family: Family) -> Result<u8, Fail> {
    let max = family.max_prefix();
    let n = parse_c_number(s, u64::from(max)).map_err(|m| (col, m))? as u8;
    if n == 0 {
        return Err((
            col,
            SetsError::CidrZero {
                text: s.to_string(),
            },
        ));
    }
    Ok(n)
}

/// The addresses of a `hash:ip` (or the IP of `hash:ip,port`) element:
/// `ADDR`, `ADDR/CIDR` or `FROM-TO` (IPv4), masked by `netmask`.
pub(super) fn ip_elems(
    col: usize,
    s: &str,
    family: Family,
    netmask: Option<u8>,
    cap: u64,
) -> Result<Vec<IpAddr>, Fail> {
    match family {
        Family::Inet6 => {
            let (addr, cidr) = match split_at_sep(s, '/') {
                Some((a, c)) => (a, Some(c)),
                None => (s, None),
            };
            if split_range(s).is_some() || cidr.is_some_and(|c| parse_c_number(c, 128) != Ok(128)) {
                return Err((
                    col,
                    SetsError::Ipv6NotPlain {
                        text: s.to_string(),
                    },
                ));
            }
            let ip = parse_ip(col, addr, family)?;
            Ok(vec![match (ip, netmask) {
                (IpAddr::V6(v6), Some(m)) => {
                    IpAddr::V6(Ipv6Net::new(v6, m).map(|n| n.network()).unwrap_or(v6))
                }
                (ip, _) => ip,
            }])
        }
        Family::Inet => {
            let (from, to) = v4_span(col, s)?;
            let m = netmask.unwrap_or(32);
            let mask = if m == 0 {
                0
            } else {
                u32::MAX << (32 - u32::from(m))
            };
            let (start, end) = (from & mask, to | !mask);
            let shift = 32 - u32::from(m);
            let count = (u64::from(end - start) >> shift) + 1;
            if count > cap {
                return Err((
                    col,
                    SetsError::Expansion {
                        text: s.to_string(),
                        count,
                        cap,
                    },
                ));
            }
            Ok((0..count)
                .map(|i| IpAddr::V4(Ipv4Addr::from(start + ((i as u32) << shift))))
                .collect())
        }
    }
}

/// An IPv4 `ADDR`, `ADDR/CIDR` or `FROM-TO` as an inclusive `u32` span.
fn v4_span(col: usize, s: &str) -> Result<(u32, u32), Fail> {
    if let Some((a, c)) = split_at_sep(s, '/') {
        let ip = u32::from(parse_v4(col, a)?);
        let cidr = parse_cidr(col, c, Family::Inet)?;
        let mask = u32::MAX << (32 - u32::from(cidr));
        Ok((ip & mask, ip | !mask))
    } else if let Some((a, b)) = split_range(s) {
        let a = u32::from(parse_v4(col, a)?);
        let b = u32::from(parse_v4(col, b)?);
        Ok((a.min(b), a.max(b)))
    } else {
        let ip = u32::from(parse_v4(col, s)?);
        Ok((ip, ip))
    }
}

fn parse_v4(col: usize, s: &str) -> Result<Ipv4Addr, Fail> {
    s.parse().map_err(|_| (col, address_error(s, Family::Inet)))
}

/// The networks of a `hash:net` (or `hash:net,port`) element: `ADDR`,
/// `ADDR/CIDR` (host bits dropped) or an IPv4 `FROM-TO`, as CIDR blocks.
pub(super) fn net_elems(col: usize, s: &str, family: Family) -> Result<Vec<IpNet>, Fail> {
    if let Some((a, c)) = split_at_sep(s, '/') {
        let ip = parse_ip(col, a, family)?;
        let cidr = parse_cidr(col, c, family)?;
        let net = IpNet::new(ip, cidr).map_err(|_| {
            (
                col,
                SetsError::Cidr {
                    text: c.to_string(),
                },
            )
        })?;
        return Ok(vec![net.trunc()]);
    }
    if let Some((a, b)) = split_range(s) {
        if family == Family::Inet6 {
            return Err((
                col,
                SetsError::Ipv6Range {
                    text: s.to_string(),
                },
            ));
        }
        let a = u32::from(parse_v4(col, a)?);
        let b = u32::from(parse_v4(col, b)?);
        return Ok(range_to_cidrs(a.min(b), a.max(b)));
    }
    let ip = parse_ip(col, s, family)?;
    Ok(vec![IpNet::from(ip)])
}

/// The fewest CIDR blocks (/1 or longer) covering `from..=to`, as
/// `ip_set_range_to_cidr()` walks a range.
pub(super) fn range_to_cidrs(from: u32, to: u32) -> Vec<IpNet> {
    let mut out = Vec::new();
    let mut start = u64::from(from);
    let end = u64::from(to);
    while start <= end {
        // Largest block aligned at `start` that stays within `end`; like
        // the kernel, never wider than /1.
        let mut size = 1u64 << start.trailing_zeros().min(31);
        while start + size - 1 > end {
            size >>= 1;
        }
        let prefix = 32 - size.trailing_zeros() as u8;
        if let Ok(net) = Ipv4Net::new(Ipv4Addr::from(start as u32), prefix) {
            out.push(IpNet::V4(net));
        }
        start += size;
    }
    out
}

/// `[PROTO:]PORT[-PORT]`, `icmp:TYPE/CODE|NAME`, `PROTO:0` → every
/// (protocol, port) it names. The protocol defaults to tcp.
pub(super) fn port_elems(col: usize, s: &str, family: Family) -> Result<Vec<ProtoPort>, Fail> {
    let (proto_text, port_text) = match split_at_sep(s, ':') {
        Some((p, rest)) => (Some(p), rest),
        None => (None, s),
    };
    let proto = match proto_text {
        None => PROTO_TCP,
        Some(p) => parse_proto(col, p)?,
    };
    match proto {
        PROTO_TCP | PROTO_UDP | PROTO_SCTP | PROTO_UDPLITE => {
            let (a, b) = port_span(col, port_text)?;
            Ok((a..=b)
                .map(|p| match proto {
                    PROTO_UDP => ProtoPort::Udp(p),
                    PROTO_SCTP => ProtoPort::Sctp(p),
                    PROTO_UDPLITE => ProtoPort::UdpLite(p),
                    _ => ProtoPort::Tcp(p),
                })
                .collect())
        }
        PROTO_ICMP | PROTO_ICMPV6 => {
            let (want, table, label) = if proto == PROTO_ICMP {
                (Family::Inet, ICMP_NAMES, "ICMP")
            } else {
                (Family::Inet6, ICMPV6_NAMES, "ICMPv6")
            };
            if family != want {
                return Err((
                    col,
                    SetsError::IcmpFamily {
                        label,
                        family: want,
                    },
                ));
            }
            let (ty, code) = match port_text.split_once('/') {
                Some((t, c)) => {
                    let t = parse_c_number(t, 255).map_err(|m| (col, m))? as u8;
                    let c = parse_c_number(c, 255).map_err(|m| (col, m))? as u8;
                    (t, c)
                }
                None => icmp_by_name(table, port_text).ok_or_else(|| {
                    (
                        col,
                        SetsError::IcmpType {
                            text: port_text.to_string(),
                            label,
                        },
                    )
                })?,
            };
            Ok(vec![if proto == PROTO_ICMP {
                ProtoPort::Icmp { ty, code }
            } else {
                ProtoPort::Icmpv6 { ty, code }
            }])
        }
        other => {
            if parse_c_number(port_text, 0).is_err() {
                return Err((col, SetsError::PseudoPort { proto: other }));
            }
            Ok(vec![ProtoPort::Other(other)])
        }
    }
}

/// A protocol name (as `/etc/protocols` has it; also `icmpv6`) or number.
fn parse_proto(col: usize, s: &str) -> Result<u8, Fail> {
    let proto = if s == "icmpv6" {
        Some(PROTO_ICMPV6)
    } else if s.starts_with(|c: char| c.is_ascii_digit()) {
        parse_c_number(s, 255).ok().map(|n| n as u8)
    } else {
        netdb::proto_by_name(s)
    };
    match proto {
        None => Err((
            col,
            SetsError::Protocol {
                text: s.to_string(),
            },
        )),
        Some(0) => Err((
            col,
            SetsError::ProtocolZero {
                text: s.to_string(),
            },
        )),
        Some(p) => Ok(p),
    }
}

/// `PORT` or `FROM-TO` (swapped when reversed); a port is a number or a
/// TCP service name.
fn port_span(col: usize, s: &str) -> Result<(u16, u16), Fail> {
    match split_range(s) {
        Some((a, b)) => {
            let a = port_number(col, a)?;
            let b = port_number(col, b)?;
            Ok((a.min(b), a.max(b)))
        }
        None => {
            let p = port_number(col, s)?;
            Ok((p, p))
        }
    }
}

pub(super) fn port_number(col: usize, s: &str) -> Result<u16, Fail> {
    match c_number(s, u64::from(u16::MAX)) {
        Ok(n) => Ok(n as u16),
        Err(NumError::Overflow) => Err((
            col,
            SetsError::NumberRange {
                text: s.to_string(),
                max: u64::from(u16::MAX),
            },
        )),
        Err(NumError::Invalid) => netdb::service_port(s, "tcp").ok_or_else(|| {
            (
                col,
                SetsError::Port {
                    text: s.to_string(),
                },
            )
        }),
    }
}

/// `[tcp:|udp:]PORT[-PORT]` of a `bitmap:port`, inside its range.
pub(super) fn bitmap_port_elems(col: usize, s: &str, range: (u16, u16)) -> Result<Vec<u16>, Fail> {
    let ports = match split_at_sep(s, ':') {
        Some((p, rest)) => {
            let proto = parse_proto(col, p)?;
            if proto != PROTO_TCP && proto != PROTO_UDP {
                return Err((col, SetsError::BitmapProtocol));
            }
            rest
        }
        None => s,
    };
    let (a, b) = port_span(col, ports)?;
    if a < range.0 || b > range.1 {
        return Err((
            col,
            SetsError::OutOfSetRange {
                text: s.to_string(),
                range,
            },
        ));
    }
    Ok((a..=b).collect())
}
