//! `-m addrtype`: the routing type of the source and/or destination address
//! (libxt_addrtype revision 1, kernel xt_addrtype: `inet_addr_type` of the
//! address, optionally only in the routing domain of the input or output
//! interface).

use super::{once, Cx, Extension, Given, Opt};
use crate::iptables::model::{Family, Hook, HookMask, Rule, TableKind};

/// Route types (`RTN_*`), in kernel order: bit `1 << n` of an
/// [`AddrTypes`] mask is type number `n`.
pub const ADDR_TYPE_NAMES: [&str; 12] = [
    "UNSPEC",
    "UNICAST",
    "LOCAL",
    "BROADCAST",
    "ANYCAST",
    "MULTICAST",
    "BLACKHOLE",
    "UNREACHABLE",
    "PROHIBIT",
    "THROW",
    "NAT",
    "XRESOLVE",
];

/// A set of route types: bit `1 << RTN_x` (`XT_ADDRTYPE_*` of
/// xt_addrtype.h), e.g. `LOCAL` is `1 << 2`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct AddrTypes(pub u16);

impl AddrTypes {
    pub const UNSPEC: AddrTypes = AddrTypes(1 << 0);
    pub const UNICAST: AddrTypes = AddrTypes(1 << 1);
    pub const LOCAL: AddrTypes = AddrTypes(1 << 2);
    pub const BROADCAST: AddrTypes = AddrTypes(1 << 3);
    pub const ANYCAST: AddrTypes = AddrTypes(1 << 4);
    pub const MULTICAST: AddrTypes = AddrTypes(1 << 5);
    pub const BLACKHOLE: AddrTypes = AddrTypes(1 << 6);
    pub const UNREACHABLE: AddrTypes = AddrTypes(1 << 7);
    pub const PROHIBIT: AddrTypes = AddrTypes(1 << 8);
    pub const THROW: AddrTypes = AddrTypes(1 << 9);
    pub const NAT: AddrTypes = AddrTypes(1 << 10);
    pub const XRESOLVE: AddrTypes = AddrTypes(1 << 11);

    /// Whether route type number `rtn` (`RTN_*`) is in the set.
    pub fn contains_rtn(self, rtn: u8) -> bool {
        rtn < 16 && self.0 & (1 << rtn) != 0
    }
}

/// `--src-type` / `--dst-type`: the types and the inversion.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AddrTypeMatch {
    pub types: AddrTypes,
    pub invert: bool,
}

impl AddrTypeMatch {
    /// Whether an address of route type `rtn` matches (inversion applied).
    pub fn matches(&self, rtn: u8) -> bool {
        self.types.contains_rtn(rtn) != self.invert
    }
}

/// Which interface restricts the route lookup.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LimitIface {
    /// `--limit-iface-in`: look the address up as seen from the input
    /// interface (not in POSTROUTING/OUTPUT).
    In,
    /// `--limit-iface-out`: from the output interface (not in
    /// PREROUTING/INPUT).
    Out,
}

/// The options of `-m addrtype`; `--src-type` or `--dst-type` is required.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Addrtype {
    pub src: Option<AddrTypeMatch>,
    pub dst: Option<AddrTypeMatch>,
    pub limit_iface: Option<LimitIface>,
    given: Given,
}

/// libxt_addrtype `parse_type`: a case-insensitive prefix of a type name,
/// the first in kernel order winning (`U` is `UNSPEC`).
fn parse_type(name: &str) -> Option<u16> {
    if name.is_empty() {
        return None;
    }
    ADDR_TYPE_NAMES
        .iter()
        .position(|t| {
            t.len() >= name.len()
                && t.as_bytes()[..name.len()].eq_ignore_ascii_case(name.as_bytes())
        })
        .map(|i| 1 << i)
}

/// libxt_addrtype `parse_types`: a comma-separated list of types.
fn parse_types(arg: &str) -> Result<u16, String> {
    let mut mask = 0;
    for name in arg.split(',') {
        mask |= parse_type(name).ok_or_else(|| format!("bad type \"{name}\""))?;
    }
    Ok(mask)
}

fn save_types(out: &mut String, opt: &str, m: &Option<AddrTypeMatch>) {
    let Some(m) = m else { return };
    if m.types.0 == 0 {
        return;
    }
    if m.invert {
        out.push_str(" !");
    }
    out.push_str(" --");
    out.push_str(opt);
    out.push(' ');
    let mut first = true;
    for (i, name) in ADDR_TYPE_NAMES.iter().enumerate() {
        if m.types.0 & (1 << i) != 0 {
            if !first {
                out.push(',');
            }
            out.push_str(name);
            first = false;
        }
    }
}

impl Extension for Addrtype {
    const OPTIONS: &'static [Opt] = &[
        Opt::new("src-type", 1),
        Opt::new("dst-type", 1),
        Opt::new("limit-iface-in", 0),
        Opt::new("limit-iface-out", 0),
    ];

    fn parse(
        &mut self,
        id: &'static str,
        invert: bool,
        args: &[String],
        _: &Cx,
    ) -> Result<(), String> {
        match id {
            "src-type" | "dst-type" => {
                let slot = if id == "src-type" {
                    &mut self.src
                } else {
                    &mut self.dst
                };
                once(slot, id)?;
                *slot = Some(AddrTypeMatch {
                    types: AddrTypes(parse_types(&args[0])?),
                    invert,
                });
            }
            _ => {
                self.given.take(Self::OPTIONS, id, invert)?;
                self.limit_iface = Some(if id == "limit-iface-in" {
                    LimitIface::In
                } else {
                    LimitIface::Out
                });
            }
        }
        Ok(())
    }

    fn finish(&mut self, _: &Rule, cx: &Cx) -> Result<(), String> {
        if self.src.is_none() && self.dst.is_none() {
            return Err("you must specify --src-type or --dst-type".into());
        }
        // After the check above, as iptables does.
        self.given.check_excl(
            Self::OPTIONS,
            &[
                ("limit-iface-in", &["limit-iface-out"]),
                ("limit-iface-out", &["limit-iface-in"]),
            ],
        )?;
        if cx.family == Family::Ipv6 {
            // The kernel's addrtype_mt_checkentry_v1 for IPv6, inverted or not.
            let types = [self.src, self.dst]
                .iter()
                .flatten()
                .fold(0, |m, t| m | t.types.0);
            for (bit, why) in [
                (
                    AddrTypes::BLACKHOLE,
                    "ipv6 BLACKHOLE matching not supported",
                ),
                (
                    AddrTypes::PROHIBIT,
                    "ipv6 PROHIBIT (THROW, NAT ..) matching not supported",
                ),
                (
                    AddrTypes::THROW,
                    "ipv6 PROHIBIT (THROW, NAT ..) matching not supported",
                ),
                (
                    AddrTypes::NAT,
                    "ipv6 PROHIBIT (THROW, NAT ..) matching not supported",
                ),
                (
                    AddrTypes::XRESOLVE,
                    "ipv6 PROHIBIT (THROW, NAT ..) matching not supported",
                ),
                (
                    AddrTypes::BROADCAST,
                    "ipv6 does not support BROADCAST matching",
                ),
            ] {
                if types & bit.0 != 0 {
                    return Err(format!("the kernel refuses it: {why}"));
                }
            }
        }
        Ok(())
    }

    fn save(&self, out: &mut String) {
        save_types(out, "src-type", &self.src);
        save_types(out, "dst-type", &self.dst);
        match self.limit_iface {
            Some(LimitIface::In) => out.push_str(" --limit-iface-in"),
            Some(LimitIface::Out) => out.push_str(" --limit-iface-out"),
            None => {}
        }
    }

    fn check_hooks(&self, _: TableKind, hooks: HookMask) -> Result<(), String> {
        match self.limit_iface {
            Some(LimitIface::Out)
                if hooks.contains(Hook::Prerouting) || hooks.contains(Hook::Input) =>
            {
                Err("output interface limitation not valid in PREROUTING and INPUT".into())
            }
            Some(LimitIface::In)
                if hooks.contains(Hook::Postrouting) || hooks.contains(Hook::Output) =>
            {
                Err("input interface limitation not valid in POSTROUTING and OUTPUT".into())
            }
            _ => Ok(()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::iptables::ext::testing::first_match;
    use crate::iptables::Match;

    fn run(chain: &str, rule: &str) -> Result<(Addrtype, String), String> {
        first_match!("filter", chain, rule, Match::Addrtype)
    }

    #[test]
    fn types() {
        let (a, s) = run("INPUT", "-m addrtype --src-type UNSPEC").unwrap();
        assert_eq!(
            a.src,
            Some(AddrTypeMatch {
                types: AddrTypes::UNSPEC,
                invert: false
            })
        );
        assert_eq!(s, "-A INPUT -m addrtype --src-type UNSPEC");
        let (a, s) = run(
            "INPUT",
            "-m addrtype ! --dst-type local,Multi,b,u --src-type LOCAL --limit-iface-in",
        )
        .unwrap();
        let d = a.dst.unwrap();
        assert_eq!(
            d.types.0,
            AddrTypes::LOCAL.0
                | AddrTypes::MULTICAST.0
                | AddrTypes::BROADCAST.0
                | AddrTypes::UNSPEC.0
        );
        assert!(d.invert && !d.matches(2) && d.matches(1));
        assert_eq!(a.limit_iface, Some(LimitIface::In));
        assert_eq!(
            s,
            "-A INPUT -m addrtype --src-type LOCAL ! --dst-type UNSPEC,LOCAL,BROADCAST,MULTICAST --limit-iface-in"
        );
        let (_, s) = run("OUTPUT", "-m addrtype --dst-type LOCAL --limit-iface-out").unwrap();
        assert_eq!(
            s,
            "-A OUTPUT -m addrtype --dst-type LOCAL --limit-iface-out"
        );
    }

    #[test]
    fn refusals() {
        for (chain, rule, msg) in [
            ("INPUT", "-m addrtype", "you must specify"),
            ("INPUT", "-m addrtype --src-type wrong", "bad type"),
            ("INPUT", "-m addrtype --src-type LOCAL,", "bad type"),
            ("INPUT", "-m addrtype --src-type LOCALX", "bad type"),
            ("INPUT", "-m addrtype --limit-iface-in", "you must specify"),
            (
                "INPUT",
                "-m addrtype --src-type LOCAL --limit-iface-in --limit-iface-out",
                "together",
            ),
            (
                "INPUT",
                "-m addrtype --src-type LOCAL --limit-iface-out",
                "not valid in PREROUTING and INPUT",
            ),
            (
                "OUTPUT",
                "-m addrtype --src-type LOCAL --limit-iface-in",
                "not valid in POSTROUTING and OUTPUT",
            ),
            (
                "INPUT",
                "-m addrtype --src-type LOCAL --src-type LOCAL",
                "only be used once",
            ),
            (
                "INPUT",
                "-m addrtype --src-type LOCAL ! --limit-iface-in",
                "cannot be inverted",
            ),
        ] {
            let e = run(chain, rule).unwrap_err();
            assert!(e.contains(msg), "{rule}: {e}");
        }
    }
}
