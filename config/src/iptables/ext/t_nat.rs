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
//! Ports need a protocol that has them, checked as libxt_NAT checks it:
//! when the port option is read, against the `-p` given before it (so
//! `-j DNAT --to-destination 1.1.1.1:80 -p tcp` is refused).

use std::fmt::Write as _;
use std::net::Ipv4Addr;

use super::parse::xt_strtoui;
use super::{check_table_hooks, Cx, Extension, Given, Opt};
use crate::iptables::model::{Hook, HookMask, ProtoMatch, Rule, TableKind};
use crate::iptables::netdb;

// ---------------------------------------------------------------------------
// The NAT range.

/// An inclusive IPv4 address range. The kernel does not require
/// `min <= max` (iptables accepts `1.1.1.10-1.1.1.1`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AddrRange {
    pub min: Ipv4Addr,
    pub max: Ipv4Addr,
}

impl AddrRange {
    pub fn single(ip: Ipv4Addr) -> AddrRange {
        AddrRange { min: ip, max: ip }
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

/// `--to-destination` / `--to-source` as libxt_NAT's `parse_to` reads it:
/// `[ADDR[-ADDR]][:PORTS]`. A second colon makes the whole text an
/// (IPv6) address, which then fails; `[` is refused for IPv4. Ports need
/// `proto` to have them ([`check_port_proto`]).
fn parse_to(arg: &str, proto: Option<ProtoMatch>) -> Result<NatRange, String> {
    if arg.contains('[') {
        return Err("Invalid address format".into());
    }
    let mut range = NatRange::default();
    let colon = arg.find(':').filter(|&c| !arg[c + 1..].contains(':'));
    let ips = match colon {
        Some(c) => {
            range.ports = Some(parse_ports_for(&arg[c + 1..], proto)?);
            // iptables takes a colon at offset 0 or 2 as "ports only" (the
            // latter meant for IPv6's `[]:PORT`), so `12:80` is `:80`.
            if c == 0 || c == 2 {
                return Ok(range);
            }
            &arg[..c]
        }
        None => arg,
    };
    let (lo, hi) = match ips.split_once('-') {
        Some((lo, hi)) => (lo, Some(hi)),
        None => (ips, None),
    };
    let min = inet_pton4(lo).ok_or_else(|| format!("Bad IP address \"{lo}\""))?;
    let max = match hi {
        Some(hi) => inet_pton4(hi).ok_or_else(|| format!("Bad IP address \"{hi}\""))?,
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
    if let Some(a) = r.addrs {
        let _ = write!(out, "{}", a.min);
        if a.max != a.min {
            let _ = write!(out, "-{}", a.max);
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
            "to-destination" => self.to = parse_to(&args[0], cx.proto)?,
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
                self.to = parse_to(&args[0], cx.proto)?;
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
mod tests {
    use std::path::Path;

    use super::*;
    use crate::iptables::ext::testing::{load, saved_rules as saved};
    use crate::iptables::{parse, Ruleset, Target, TargetExt};

    fn nat(rules: &str) -> Result<Ruleset, String> {
        load(&format!("*nat\n{rules}\nCOMMIT\n"))
    }

    fn target(rs: &Ruleset, chain: &str) -> TargetExt {
        let t = rs
            .table(TableKind::Nat)
            .and_then(|t| t.chain(chain))
            .expect("chain");
        match &t.rules[0].target {
            Target::Ext(x) => x.clone(),
            other => panic!("not an extension target: {other:?}"),
        }
    }

    fn refused(rules: &str, msg: &str) {
        match nat(rules) {
            Ok(_) => panic!("accepted: {rules}"),
            Err(e) => assert!(e.contains(msg), "{rules}: `{e}' lacks `{msg}'"),
        }
    }

    fn ip(s: &str) -> Ipv4Addr {
        s.parse().expect("ip")
    }

    #[test]
    fn dnat_address_port_and_shift() {
        let rs = nat("-A PREROUTING -p tcp -j DNAT --to-destination 1.1.1.1-1.1.1.10:1000-2000/ftp --persistent --random")
            .expect("parses");
        let TargetExt::Dnat(d) = target(&rs, "PREROUTING") else {
            panic!("not DNAT")
        };
        assert_eq!(
            d.to.addrs,
            Some(AddrRange {
                min: ip("1.1.1.1"),
                max: ip("1.1.1.10")
            })
        );
        assert_eq!(
            d.to.ports,
            Some(PortRange {
                min: 1000,
                max: 2000,
                base: Some(21)
            })
        );
        assert!(d.random && d.persistent);
        assert_eq!(
            saved(&rs),
            ["-A PREROUTING -p tcp -j DNAT --to-destination 1.1.1.1-1.1.1.10:1000-2000/21 --random --persistent"]
        );
    }

    #[test]
    fn dnat_canonical_forms() {
        for (input, out) in [
            (
                "-p tcp -j DNAT --to-destination 1.1.1.1:ssh",
                "-p tcp -j DNAT --to-destination 1.1.1.1:22",
            ),
            (
                "-p udp -j DNAT --to-destination 1.1.1.1:ssh",
                "-p udp -j DNAT --to-destination 1.1.1.1:22",
            ),
            (
                "-p tcp -j DNAT --to-destination 1.1.1.1:0x50-0x60",
                "-p tcp -j DNAT --to-destination 1.1.1.1:80-96",
            ),
            (
                "-p tcp -j DNAT --to-destination 1.1.1.1:80-80/100x",
                "-p tcp -j DNAT --to-destination 1.1.1.1:80/100",
            ),
            (
                "-p tcp -j DNAT --to-destination 1.1.1.1:0-0",
                "-p tcp -j DNAT --to-destination 1.1.1.1:0",
            ),
            (
                "-p tcp -j DNAT --to-destination :80",
                "-p tcp -j DNAT --to-destination :80",
            ),
            (
                "-p tcp -j DNAT --to-destination 12:80",
                "-p tcp -j DNAT --to-destination :80",
            ),
            (
                "-p icmp -j DNAT --to-destination 1.1.1.1:5",
                "-p icmp -j DNAT --to-destination 1.1.1.1:5",
            ),
            (
                "! -p tcp -j DNAT --to-destination 1.1.1.1:5",
                "! -p tcp -j DNAT --to-destination 1.1.1.1:5",
            ),
            (
                "-j DNAT --to-destination 1.1.1.1-1.1.1.1",
                "-j DNAT --to-destination 1.1.1.1",
            ),
            (
                "-j DNAT --to-destination 1.1.1.9-1.1.1.1",
                "-j DNAT --to-destination 1.1.1.9-1.1.1.1",
            ),
            (
                "-j DNAT --to-dest 1.1.1.1 --pers --rand",
                "-j DNAT --to-destination 1.1.1.1 --random --persistent",
            ),
        ] {
            let rs =
                nat(&format!("-A PREROUTING {input}")).unwrap_or_else(|e| panic!("{input}: {e}"));
            assert_eq!(saved(&rs), [format!("-A PREROUTING {out}")], "{input}");
        }
    }

    #[test]
    fn dnat_refusals() {
        for (rule, msg) in [
            ("-j DNAT", "option \"--to-destination\" must be specified"),
            (
                "-j DNAT --to-destination 1.1.1.1 --to-destination 2.2.2.2",
                "can only be used once",
            ),
            (
                "-j DNAT --to-destination 1.1.1.1 --random --random",
                "option \"--random\" can only be used once",
            ),
            ("-j DNAT ! --to-destination 1.1.1.1", "cannot be inverted"),
            (
                "-j DNAT --to-destination 1.1.1.1 --random-fully",
                "unknown option",
            ),
            (
                "-j DNAT --to-destination 1.1.1.1:80",
                "Need TCP, UDP, SCTP or DCCP",
            ),
            (
                "-p udplite -j DNAT --to-destination 1.1.1.1:80",
                "Need TCP, UDP, SCTP or DCCP",
            ),
            ("-j DNAT --to-destination 1.1.1", "Bad IP address \"1.1.1\""),
            ("-j DNAT --to-destination 1.1.1.01", "Bad IP address"),
            ("-j DNAT --to-destination 1.1.1.1-", "Bad IP address \"\""),
            (
                "-j DNAT --to-destination 1.1.1.1-2.2.2.2-3.3.3.3",
                "Bad IP address \"2.2.2.2-3.3.3.3\"",
            ),
            (
                "-p tcp -j DNAT --to-destination 1.1.1.1:80:90",
                "Bad IP address \"1.1.1.1:80:90\"",
            ),
            (
                "-p tcp -j DNAT --to-destination [1.1.1.1]:80",
                "Invalid address format",
            ),
            (
                "-p tcp -j DNAT --to-destination 1.1.1.1:",
                "Port `' not valid",
            ),
            (
                "-p tcp -j DNAT --to-destination 1.1.1.1:90-80",
                "Port range `80' funky",
            ),
            (
                "-p tcp -j DNAT --to-destination 1.1.1.1:080",
                "Garbage after port value: `80'",
            ),
            (
                "-p tcp -j DNAT --to-destination 1.1.1.1:80-90x",
                "Garbage after port range: `x'",
            ),
            (
                "-p tcp -j DNAT --to-destination 1.1.1.1:ssh-100",
                "Port `ssh-100' not valid",
            ),
            (
                "-p tcp -j DNAT --to-destination 1.1.1.1:5-ftp",
                "Port `ftp' not valid",
            ),
            (
                "-p tcp -j DNAT --to-destination 1.1.1.1:1-2/0",
                "Port `0' not valid",
            ),
            (
                "-p tcp -j DNAT --to-destination 1.1.1.1:1-2/65536",
                "Port `65536' not valid",
            ),
            (
                "-p tcp -j DNAT --to-destination 1.1.1.1:1025-65536",
                "Port `65536' not valid",
            ),
            (
                "-p tcp -j DNAT --to-destination 1.1.1.1:-5",
                "Port `-5' not valid",
            ),
        ] {
            refused(&format!("-A PREROUTING {rule}"), msg);
        }
    }

    #[test]
    fn snat_flags_and_lost_shift_base() {
        let rs = nat("-A POSTROUTING -p tcp -j SNAT --to-source 1.1.1.1:1000-2000/500 --persistent --random-fully --random")
            .expect("parses");
        let TargetExt::Snat(s) = target(&rs, "POSTROUTING") else {
            panic!("not SNAT")
        };
        assert_eq!(s.to.addrs, Some(AddrRange::single(ip("1.1.1.1"))));
        assert_eq!(
            s.to.ports,
            Some(PortRange {
                min: 1000,
                max: 2000,
                base: Some(0)
            })
        );
        assert!(s.random && s.random_fully && s.persistent);
        assert_eq!(
            saved(&rs),
            ["-A POSTROUTING -p tcp -j SNAT --to-source 1.1.1.1:1000-2000/0 --random --random-fully --persistent"]
        );
        refused(
            "-A POSTROUTING -j SNAT --random",
            "option \"--to-source\" must be specified",
        );
        refused(
            "-A POSTROUTING -j SNAT --to-source 1.1.1.1:1025-65535",
            "Need TCP",
        );
        refused(
            "-A POSTROUTING -j SNAT --to-source 1.1.1.1 --to-source 1.1.1.1",
            "can only be used once",
        );
        refused(
            "-A POSTROUTING -j SNAT --to-source 1.1.1.1 ! --random-fully",
            "cannot be inverted",
        );
    }

    #[test]
    fn masquerade_and_redirect() {
        let rs = nat(
            "-A POSTROUTING -p udp -j MASQUERADE --random-fully --to-ports 1024-65535 --random",
        )
        .expect("parses");
        let TargetExt::Masquerade(m) = target(&rs, "POSTROUTING") else {
            panic!("not MASQUERADE")
        };
        assert_eq!(
            m.ports,
            Some(PortRange {
                min: 1024,
                max: 65535,
                base: None
            })
        );
        assert!(m.random && m.random_fully);
        assert_eq!(
            saved(&rs),
            ["-A POSTROUTING -p udp -j MASQUERADE --to-ports 1024-65535 --random --random-fully"]
        );

        let rs = nat("-A POSTROUTING -p tcp -j MASQUERADE --to-ports 1-2/9").expect("parses");
        assert_eq!(
            saved(&rs),
            ["-A POSTROUTING -p tcp -j MASQUERADE --to-ports 1-2/0"]
        );

        let rs = nat("-A PREROUTING -j REDIRECT").expect("parses");
        assert_eq!(
            target(&rs, "PREROUTING"),
            TargetExt::Redirect(Redirect::default())
        );
        assert_eq!(saved(&rs), ["-A PREROUTING -j REDIRECT"]);

        let rs = nat("-A OUTPUT -p tcp -j REDIRECT --random --to-ports ssh").expect("parses");
        let TargetExt::Redirect(r) = target(&rs, "OUTPUT") else {
            panic!("not REDIRECT")
        };
        assert_eq!(
            r.ports,
            Some(PortRange {
                min: 22,
                max: 22,
                base: None
            })
        );
        assert_eq!(
            saved(&rs),
            ["-A OUTPUT -p tcp -j REDIRECT --to-ports 22 --random"]
        );

        for (rule, msg) in [
            ("-A POSTROUTING -j MASQUERADE --to-ports 5", "Need TCP"),
            (
                "-A POSTROUTING -p tcp -j MASQUERADE --to-ports 80:90",
                "Invalid port:port syntax - use dash",
            ),
            (
                "-A POSTROUTING -p tcp -j MASQUERADE --to-ports :80",
                "Port `:80' not valid",
            ),
            (
                "-A POSTROUTING -p tcp -j MASQUERADE --to-ports 80 --persistent",
                "unknown option",
            ),
            (
                "-A PREROUTING -p tcp -j REDIRECT --to-ports 42-1234/567",
                "Shifted portmap ranges not supported",
            ),
            (
                "-A PREROUTING -p tcp -j REDIRECT --to-ports 10-ssh",
                "Port `ssh' not valid",
            ),
            (
                "-A PREROUTING -p tcp -j REDIRECT --random-fully",
                "unknown option",
            ),
            ("-A PREROUTING -j REDIRECT --to-ports 42", "Need TCP"),
        ] {
            refused(rule, msg);
        }
    }

    #[test]
    fn ports_need_the_protocol_given_before() {
        for (rule, target) in [
            (
                "-A PREROUTING -j DNAT --to-destination 1.1.1.1:80 -p tcp",
                "DNAT",
            ),
            (
                "-A PREROUTING -j DNAT --to-destination 1.1.1.1:80 ! -p tcp",
                "DNAT",
            ),
            (
                "-A PREROUTING -j DNAT --to-destination 1.1.1.1:x -p tcp",
                "DNAT",
            ),
            (
                "-A POSTROUTING -j SNAT --to-source 1.1.1.1:80 -p udp",
                "SNAT",
            ),
            (
                "-A POSTROUTING -j MASQUERADE --to-ports 80 -p tcp",
                "MASQUERADE",
            ),
            ("-A PREROUTING -j REDIRECT --to-ports 80 -p tcp", "REDIRECT"),
            ("-A PREROUTING -p all -j REDIRECT --to-ports 80", "REDIRECT"),
        ] {
            refused(
                rule,
                &format!("{target}: Need TCP, UDP, SCTP or DCCP with port specification"),
            );
        }
        // Without ports the protocol does not matter, wherever it is.
        nat("-A PREROUTING -j DNAT --to-destination 1.1.1.1 -p tcp").expect("no port");
        nat("-A PREROUTING -j REDIRECT -p tcp").expect("no port");
    }

    #[test]
    fn tables_and_hooks() {
        nat("-A OUTPUT -j DNAT --to-destination 1.1.1.1").expect("DNAT in OUTPUT");
        nat("-A INPUT -j SNAT --to-source 1.1.1.1").expect("SNAT in INPUT");
        nat("-A OUTPUT -j REDIRECT").expect("REDIRECT in OUTPUT");
        refused(
            "-A INPUT -j DNAT --to-destination 1.1.1.1",
            "used from hooks INPUT, but only usable from PREROUTING/OUTPUT",
        );
        refused(
            "-A OUTPUT -j SNAT --to-source 1.1.1.1",
            "only usable from INPUT/POSTROUTING",
        );
        refused(
            "-A PREROUTING -j MASQUERADE",
            "used from hooks PREROUTING, but only usable from POSTROUTING",
        );
        refused(
            "-A POSTROUTING -j REDIRECT",
            "only usable from PREROUTING/OUTPUT",
        );
        // Through a user chain: every hook that reaches it counts.
        refused(
            ":X - [0:0]\n-A OUTPUT -j X\n-A POSTROUTING -j X\n-A X -j DNAT --to-destination 1.1.1.1",
            "used from hooks OUTPUT/POSTROUTING",
        );
        nat(":X - [0:0]\n-A INPUT -j X\n-A X -j SNAT --to-source 1.1.1.1").expect("SNAT via INPUT");
        // Unreachable chain: only the table counts.
        nat(":X - [0:0]\n-A X -j MASQUERADE").expect("unreachable chain");
        let err = parse(
            "*filter\n:X - [0:0]\n-A X -j DNAT --to-destination 1.1.1.1\nCOMMIT\n",
            Path::new("t"),
        )
        .expect_err("DNAT in filter");
        assert!(
            err.to_string()
                .contains("only valid in nat table, not filter"),
            "{err}"
        );
    }

    #[test]
    fn same_meaning_compares_equal() {
        let a = nat("-A OUTPUT -j DNAT --random --to-destination 1.1.1.1").expect("a");
        let b = nat("-A OUTPUT -j DNAT --to-destination 1.1.1.1-1.1.1.1 --random").expect("b");
        assert_eq!(target(&a, "OUTPUT"), target(&b, "OUTPUT"));
    }
}
