//! The NAT targets `-j DNAT`, `-j SNAT`, `-j MASQUERADE` and `-j REDIRECT`
//! (iptables 1.8.9 `libxt_NAT.so`, one parser for all four; kernel
//! `xt_nat.c`, `xt_MASQUERADE.c`, `xt_REDIRECT.c`, `nf_nat_core.c`).
//!
//! Each holds what the kernel gets as an `nf_nat_range`: optionally an
//! address range (`NF_NAT_RANGE_MAP_IPS`), optionally a port range
//! (`NF_NAT_RANGE_PROTO_SPECIFIED`, shifted with `NF_NAT_RANGE_PROTO_OFFSET`)
//! and the `--random` / `--random-fully` / `--persistent` flags.
//!
//! Where they may run, as the kernel registers them (checked at table load
//! against every hook the rule's chain is reachable from):
//!
//! | target     | table | hooks                |
//! |------------|-------|----------------------|
//! | DNAT       | nat   | PREROUTING, OUTPUT   |
//! | SNAT       | nat   | POSTROUTING, INPUT   |
//! | MASQUERADE | nat   | POSTROUTING          |
//! | REDIRECT   | nat   | PREROUTING, OUTPUT   |
//!
//! The addresses are of the ruleset's family. ip6tables loads SNAT as
//! revision 1 (`nf_nat_range`: a shift base is lost as for IPv4's
//! revision 0) and DNAT as revision 2, and prints an IPv6 range in
//! brackets when ports follow: `--to-destination [fd00::2-fd00::3]:80`.
//!
//! Ports need a protocol that has them, checked as libxt_NAT checks it:
//! when the port option is read, against the `-p` given before it (so
//! `-j DNAT --to-destination 1.1.1.1:80 -p tcp` is refused).

use std::fmt::Write as _;
use std::net::{IpAddr, Ipv4Addr};

use super::addr6::{inet_pton6, ntop6};
use super::parse::xt_strtoui;
use super::{check_table_hooks, Cx, Extension, Given, Opt};
use crate::iptables::model::{Family, Hook, HookMask, ProtoMatch, Rule, TableKind};
use crate::iptables::netdb;

// ---------------------------------------------------------------------------
// The NAT range.

/// An inclusive address range, both ends of the ruleset's family. The
/// kernel does not require `min <= max` (iptables accepts
/// `1.1.1.10-1.1.1.1`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AddrRange {
    pub min: IpAddr,
    pub max: IpAddr,
}

impl AddrRange {
    pub fn single(ip: IpAddr) -> AddrRange {
        AddrRange { min: ip, max: ip }
    }
}

impl std::fmt::Display for AddrRange {
    /// `MIN[-MAX]` as libxt_NAT's `sprint_range` prints it (IPv6 by glibc
    /// `inet_ntop`), without brackets.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let ntop = |a: IpAddr| match a {
            IpAddr::V4(a) => a.to_string(),
            IpAddr::V6(a) => ntop6(a),
        };
        f.write_str(&ntop(self.min))?;
        if self.max != self.min {
            write!(f, "-{}", ntop(self.max))?;
        }
        Ok(())
    }
}

/// An inclusive port range (`min <= max`: iptables refuses the reverse).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PortRange {
    pub min: u16,
    pub max: u16,
    /// `/BASE` (`NF_NAT_RANGE_PROTO_OFFSET`): instead of searching the
    /// range for a free port, the kernel starts at
    /// `min + (port - base) mod (max - min + 1)`, keeping the port's
    /// offset. SNAT and MASQUERADE (revision 0, which has no room for the
    /// base) pass the flag with base 0.
    pub base: Option<u16>,
}

/// Where a DNAT/SNAT rule maps the connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct NatRange {
    /// New address, chosen in this range (`NF_NAT_RANGE_MAP_IPS`);
    /// `None` keeps the address.
    pub addrs: Option<AddrRange>,
    /// New port, chosen in this range (`NF_NAT_RANGE_PROTO_SPECIFIED`);
    /// `None` keeps the port unless it clashes with another connection.
    pub ports: Option<PortRange>,
}

/// A port spec as libxt_NAT's `parse_ports` reads it: `PORT` (number or
/// service name), `MIN-MAX` (numbers only), `MIN-MAX/BASE` (base a number
/// 1..=65535 or a service name; text after a numeric base is ignored).
fn parse_ports(arg: &str) -> Result<PortRange, String> {
    let (min, rest) = match xt_strtoui(arg, 0, 65535) {
        Some((v, rest)) => (v as u16, rest),
        None => (
            netdb::service_port_any(arg).ok_or_else(|| format!("Port `{arg}' not valid"))?,
            "",
        ),
    };
    let hi = match rest.as_bytes().first() {
        None => {
            return Ok(PortRange {
                min,
                max: min,
                base: None,
            })
        }
        Some(b'-') => &rest[1..],
        Some(b':') => return Err("Invalid port:port syntax - use dash".into()),
        Some(_) => return Err(format!("Garbage after port value: `{rest}'")),
    };
    let (max, rest) = xt_strtoui(hi, 0, 65535).ok_or_else(|| format!("Port `{hi}' not valid"))?;
    let max = max as u16;
    if max < min {
        return Err(format!("Port range `{hi}' funky"));
    }
    let base = match rest.as_bytes().first() {
        None => {
            return Ok(PortRange {
                min,
                max,
                base: None,
            })
        }
        Some(b'/') => &rest[1..],
        Some(_) => return Err(format!("Garbage after port range: `{rest}'")),
    };
    let base = match xt_strtoui(base, 1, 65535) {
        Some((v, _)) => v as u16,
        None => netdb::service_port_any(base).ok_or_else(|| format!("Port `{base}' not valid"))?,
    };
    Ok(PortRange {
        min,
        max,
        base: Some(base),
    })
}

/// `inet_pton(AF_INET, ..)`: exactly four decimal parts 0..=255 without
/// leading zeros.
fn inet_pton4(s: &str) -> Option<Ipv4Addr> {
    let mut b = [0u8; 4];
    let mut parts = s.split('.');
    for slot in b.iter_mut() {
        let p = parts.next()?;
        if p.is_empty() || p.len() > 3 || !p.bytes().all(|c| c.is_ascii_digit()) {
            return None;
        }
        if p.len() > 1 && p.starts_with('0') {
            return None;
        }
        *slot = p.parse().ok()?;
    }
    parts.next().is_none().then(|| Ipv4Addr::from(b))
}

/// `--to-destination` / `--to-source` as libxt_NAT's `parse_to` reads it
/// for `family`: `[ADDR[-ADDR]][:PORTS]`, an IPv6 address in brackets
/// when ports follow (`[ADDR[-ADDR]]:PORTS`). Without a `[`, a second
/// colon makes the whole text the address (so an IPv6 address alone needs
/// no brackets). With one, the address is what lies between the first `[`
/// and the first `]`, the ports follow the first colon after the `]`, and
/// whatever else is there is ignored, as by ip6tables (`[a]-[b]:80` is
/// `[a]:80`); `[` is refused for IPv4. A colon at offset 0 or 2 means
/// ports only (`:80`, `[]:80`, and also `12:80`). Ports need `proto` to
/// have them ([`check_port_proto`]).
fn parse_to(arg: &str, proto: Option<ProtoMatch>, family: Family) -> Result<NatRange, String> {
    let mut range = NatRange::default();
    // The address text and the offset of the colon before the ports.
    let (addr, colon) = match arg.find('[') {
        None => {
            let colon = arg.find(':').filter(|&c| !arg[c + 1..].contains(':'));
            (&arg[..colon.unwrap_or(arg.len())], colon)
        }
        Some(_) if family == Family::Ipv4 => return Err("Invalid address format".into()),
        Some(b) => {
            let start = b + 1;
            let end = arg[start..]
                .find(']')
                .map(|e| start + e)
                .ok_or("Invalid address format")?;
            let colon = arg[end + 1..].find(':').map(|c| end + 1 + c);
            (&arg[start..end], colon)
        }
    };
    if let Some(c) = colon {
        range.ports = Some(parse_ports_for(&arg[c + 1..], proto)?);
        if c == 0 || c == 2 {
            return Ok(range);
        }
    }
    let (lo, hi) = match addr.split_once('-') {
        Some((lo, hi)) => (lo, Some(hi)),
        None => (addr, None),
    };
    let pton = |s: &str| -> Result<IpAddr, String> {
        let a = match family {
            Family::Ipv4 => inet_pton4(s).map(IpAddr::V4),
            Family::Ipv6 => inet_pton6(s).map(IpAddr::V6),
        };
        a.ok_or_else(|| format!("Bad IP address \"{s}\""))
    };
    let min = pton(lo)?;
    let max = match hi {
        Some(hi) => pton(hi)?,
        None => min,
    };
    range.addrs = Some(AddrRange { min, max });
    Ok(range)
}

/// Ports need a protocol that has them (libxt_NAT's `portok`), checked
/// against the `-p` given before the option: iptables looks at the
/// protocol number only, so `! -p tcp` passes.
fn check_port_proto(proto: Option<ProtoMatch>) -> Result<(), String> {
    let proto = proto.map(|p| p.proto).unwrap_or(0);
    // TCP, UDP, SCTP, DCCP, and ICMP (its query id is NAT's "port").
    if matches!(proto, 6 | 17 | 132 | 33 | 1) {
        Ok(())
    } else {
        Err("Need TCP, UDP, SCTP or DCCP with port specification".into())
    }
}

/// A port spec after [`check_port_proto`].
fn parse_ports_for(arg: &str, proto: Option<ProtoMatch>) -> Result<PortRange, String> {
    check_port_proto(proto)?;
    parse_ports(arg)
}

fn save_ports(out: &mut String, p: &PortRange) {
    let _ = write!(out, "{}", p.min);
    if p.max != p.min {
        let _ = write!(out, "-{}", p.max);
    }
    if let Some(b) = p.base {
        let _ = write!(out, "/{b}");
    }
}

fn save_nat_range(out: &mut String, opt: &str, r: &NatRange) {
    if r.addrs.is_none() && r.ports.is_none() {
        return;
    }
    let _ = write!(out, " --{opt} ");
    write_nat_range(out, r);
}

/// A NAT range as libxt_NAT's `sprint_range` prints it: `ADDRS[:PORTS]`,
/// the addresses of an IPv6 range in brackets when ports follow.
pub fn write_nat_range(out: &mut String, r: &NatRange) {
    if let Some(a) = r.addrs {
        if a.min.is_ipv6() && r.ports.is_some() {
            let _ = write!(out, "[{a}]");
        } else {
            let _ = write!(out, "{a}");
        }
    }
    if let Some(p) = &r.ports {
        out.push(':');
        save_ports(out, p);
    }
}

fn save_flag(out: &mut String, on: bool, name: &str) {
    if on {
        out.push_str(" --");
        out.push_str(name);
    }
}

// ---------------------------------------------------------------------------
// DNAT

/// `-j DNAT`: rewrite the destination of a new connection (and every
/// later packet of it, both ways) to an address and/or port of `to`.
/// Kernel revision 2 (`nf_nat_range2`, which keeps the port shift base).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Dnat {
    /// `--to-destination` (required; after parsing, at least one of its
    /// parts is set).
    pub to: NatRange,
    /// `--random` (`NF_NAT_RANGE_PROTO_RANDOM`): pick the port at random
    /// in the range instead of trying the original first.
    pub random: bool,
    /// `--persistent` (`NF_NAT_RANGE_PERSISTENT`): a client gets the same
    /// address from the range on every connection.
    pub persistent: bool,
    given: Given,
}

impl Extension for Dnat {
    const OPTIONS: &'static [Opt] = &[
        Opt::new("to-destination", 1),
        Opt::new("random", 0),
        Opt::new("persistent", 0),
    ];

    fn parse(
        &mut self,
        id: &'static str,
        invert: bool,
        args: &[String],
        cx: &Cx,
    ) -> Result<(), String> {
        self.given.take(Self::OPTIONS, id, invert)?;
        match id {
            "to-destination" => self.to = parse_to(&args[0], cx.proto, cx.family)?,
            "random" => self.random = true,
            _ => self.persistent = true,
        }
        Ok(())
    }

    fn finish(&mut self, _: &Rule, _: &Cx) -> Result<(), String> {
        self.given.must_have(Self::OPTIONS, "to-destination")
    }

    fn save(&self, out: &mut String) {
        save_nat_range(out, "to-destination", &self.to);
        save_flag(out, self.random, "random");
        save_flag(out, self.persistent, "persistent");
    }

    fn check_hooks(&self, table: TableKind, hooks: HookMask) -> Result<(), String> {
        check_table_hooks(
            table,
            hooks,
            TableKind::Nat,
            &[Hook::Prerouting, Hook::Output],
        )
    }
}

// ---------------------------------------------------------------------------
// SNAT

/// SNAT and MASQUERADE are kernel revision 0: the shift base does not fit,
/// the kernel gets the shift flag with base 0.
fn lose_base(ports: &mut Option<PortRange>) {
    if let Some(p) = ports {
        if p.base.is_some() {
            p.base = Some(0);
        }
    }
}

/// `-j SNAT`: rewrite the source of a new connection to an address and/or
/// port of `to`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Snat {
    /// `--to-source` (required; after parsing, at least one part is set).
    pub to: NatRange,
    /// `--random` (`NF_NAT_RANGE_PROTO_RANDOM`): the port search starts at
    /// a hash-randomised offset.
    pub random: bool,
    /// `--random-fully` (`NF_NAT_RANGE_PROTO_RANDOM_FULLY`): the port search
    /// starts at a fully random offset.
    pub random_fully: bool,
    /// `--persistent` (`NF_NAT_RANGE_PERSISTENT`): a client gets the same
    /// address from the range on every connection.
    pub persistent: bool,
    given: Given,
}

impl Extension for Snat {
    const OPTIONS: &'static [Opt] = &[
        Opt::new("to-source", 1),
        Opt::new("random", 0),
        Opt::new("random-fully", 0),
        Opt::new("persistent", 0),
    ];

    fn parse(
        &mut self,
        id: &'static str,
        invert: bool,
        args: &[String],
        cx: &Cx,
    ) -> Result<(), String> {
        self.given.take(Self::OPTIONS, id, invert)?;
        match id {
            "to-source" => {
                self.to = parse_to(&args[0], cx.proto, cx.family)?;
                lose_base(&mut self.to.ports);
            }
            "random" => self.random = true,
            "random-fully" => self.random_fully = true,
            _ => self.persistent = true,
        }
        Ok(())
    }

    fn finish(&mut self, _: &Rule, _: &Cx) -> Result<(), String> {
        self.given.must_have(Self::OPTIONS, "to-source")
    }

    fn save(&self, out: &mut String) {
        save_nat_range(out, "to-source", &self.to);
        save_flag(out, self.random, "random");
        save_flag(out, self.random_fully, "random-fully");
        save_flag(out, self.persistent, "persistent");
    }

    fn check_hooks(&self, table: TableKind, hooks: HookMask) -> Result<(), String> {
        check_table_hooks(
            table,
            hooks,
            TableKind::Nat,
            &[Hook::Input, Hook::Postrouting],
        )
    }
}

// ---------------------------------------------------------------------------
// MASQUERADE

/// `-j MASQUERADE`: SNAT to the primary address of the outgoing interface
/// (chosen per connection; connections are forgotten when the interface
/// goes down).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Masquerade {
    /// `--to-ports`: new source port chosen in this range.
    pub ports: Option<PortRange>,
    /// `--random` (`NF_NAT_RANGE_PROTO_RANDOM`).
    pub random: bool,
    /// `--random-fully` (`NF_NAT_RANGE_PROTO_RANDOM_FULLY`).
    pub random_fully: bool,
    given: Given,
}

impl Extension for Masquerade {
    const OPTIONS: &'static [Opt] = &[
        Opt::new("to-ports", 1),
        Opt::new("random", 0),
        Opt::new("random-fully", 0),
    ];

    fn parse(
        &mut self,
        id: &'static str,
        invert: bool,
        args: &[String],
        cx: &Cx,
    ) -> Result<(), String> {
        self.given.take(Self::OPTIONS, id, invert)?;
        match id {
            "to-ports" => {
                self.ports = Some(parse_ports_for(&args[0], cx.proto)?);
                lose_base(&mut self.ports);
            }
            "random" => self.random = true,
            _ => self.random_fully = true,
        }
        Ok(())
    }

    fn finish(&mut self, _: &Rule, _: &Cx) -> Result<(), String> {
        Ok(())
    }

    fn save(&self, out: &mut String) {
        if let Some(p) = &self.ports {
            out.push_str(" --to-ports ");
            save_ports(out, p);
        }
        save_flag(out, self.random, "random");
        save_flag(out, self.random_fully, "random-fully");
    }

    fn check_hooks(&self, table: TableKind, hooks: HookMask) -> Result<(), String> {
        check_table_hooks(table, hooks, TableKind::Nat, &[Hook::Postrouting])
    }
}

// ---------------------------------------------------------------------------
// REDIRECT

/// `-j REDIRECT`: DNAT to the local machine: the primary address of the
/// incoming interface (PREROUTING) or 127.0.0.1 (OUTPUT).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Redirect {
    /// `--to-ports`: new destination port chosen in this range; `None`
    /// keeps the port.
    pub ports: Option<PortRange>,
    /// `--random` (`NF_NAT_RANGE_PROTO_RANDOM`).
    pub random: bool,
    given: Given,
}

impl Extension for Redirect {
    const OPTIONS: &'static [Opt] = &[Opt::new("to-ports", 1), Opt::new("random", 0)];

    fn parse(
        &mut self,
        id: &'static str,
        invert: bool,
        args: &[String],
        cx: &Cx,
    ) -> Result<(), String> {
        self.given.take(Self::OPTIONS, id, invert)?;
        match id {
            "to-ports" => self.ports = Some(parse_ports_for(&args[0], cx.proto)?),
            _ => self.random = true,
        }
        Ok(())
    }

    fn finish(&mut self, _: &Rule, _: &Cx) -> Result<(), String> {
        if self.ports.is_some_and(|p| p.base.is_some()) {
            return Err("Shifted portmap ranges not supported with this kernel".into());
        }
        Ok(())
    }

    fn save(&self, out: &mut String) {
        if let Some(p) = &self.ports {
            out.push_str(" --to-ports ");
            save_ports(out, p);
        }
        save_flag(out, self.random, "random");
    }

    fn check_hooks(&self, table: TableKind, hooks: HookMask) -> Result<(), String> {
        check_table_hooks(
            table,
            hooks,
            TableKind::Nat,
            &[Hook::Prerouting, Hook::Output],
        )
    }
}

#[cfg(test)]
mod tests;
