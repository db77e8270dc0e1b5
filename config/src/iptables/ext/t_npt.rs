//! `-j SNPT` / `-j DNPT --src-pfx P/L --dst-pfx P/L`: IPv6-to-IPv6 network
//! prefix translation (RFC 6296; libip6t_NPT of ip6tables 1.8.9, kernel
//! ip6t_NPT). Table mangle; SNPT from INPUT and POSTROUTING, DNPT from
//! PREROUTING and OUTPUT. The kernel refuses a prefix longer than 64 or
//! with bits set after its length (`ip6t_npt_checkentry`).
//!
//! Parsed and printed as ip6tables does; the dataplane runs it as
//! `sluice_dataplane::rules::npt` (see the README).

use std::fmt::Write as _;
use std::marker::PhantomData;
use std::net::Ipv6Addr;

use super::addr6::{ntop6, parse_hostmask6};
use super::{check_table_hooks, Cx, Extension, Given, Opt};
use crate::iptables::model::{Hook, HookMask, Rule, TableKind};

/// Which side a translation rewrites.
pub trait NptSide: std::fmt::Debug + Clone + Default + PartialEq + Eq {
    /// The target's name in messages.
    const NAME: &'static str;
    /// The hooks the kernel registers it for.
    const HOOKS: [Hook; 2];
}

/// SNPT: the source prefix, on the way out.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Source;

/// DNPT: the destination prefix, on the way in.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Destination;

impl NptSide for Source {
    const NAME: &'static str = "SNPT";
    const HOOKS: [Hook; 2] = [Hook::Input, Hook::Postrouting];
}

impl NptSide for Destination {
    const NAME: &'static str = "DNPT";
    const HOOKS: [Hook; 2] = [Hook::Prerouting, Hook::Output];
}

/// A prefix as `--src-pfx`/`--dst-pfx` give it: the address as written
/// and the length.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Prefix6 {
    pub addr: Ipv6Addr,
    pub len: u8,
}

impl Default for Prefix6 {
    fn default() -> Prefix6 {
        Prefix6 {
            addr: Ipv6Addr::UNSPECIFIED,
            len: 0,
        }
    }
}

impl Prefix6 {
    /// `ADDR[/LEN|/MASK]` ([`parse_hostmask6`]).
    fn parse(arg: &str, opt: &str) -> Result<Prefix6, String> {
        let (addr, len) = parse_hostmask6(arg, opt)?;
        Ok(Prefix6 { addr, len })
    }

    /// The kernel's check: at most /64, no bit set after the length.
    fn check(&self, opt: &str) -> Result<(), String> {
        if self.len > 64 {
            return Err(format!(
                "--{opt} {}/{}: the kernel takes prefixes of at most 64 bits",
                ntop6(self.addr),
                self.len
            ));
        }
        let host = u128::MAX.checked_shr(self.len.into()).unwrap_or(0);
        if u128::from(self.addr) & host != 0 {
            return Err(format!(
                "--{opt} {}/{}: the address has bits set after the prefix length (the kernel refuses it)",
                ntop6(self.addr),
                self.len
            ));
        }
        Ok(())
    }
}

/// `-j SNPT` / `-j DNPT` (the `side` type parameter says which).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Npt<S = Source> {
    /// `--src-pfx` (mandatory).
    pub src: Prefix6,
    /// `--dst-pfx` (mandatory).
    pub dst: Prefix6,
    given: Given,
    side: PhantomData<S>,
}

/// `-j SNPT`.
pub type Snpt = Npt<Source>;
/// `-j DNPT`.
pub type Dnpt = Npt<Destination>;

impl<S: NptSide> Extension for Npt<S> {
    const OPTIONS: &'static [Opt] = &[Opt::new("src-pfx", 1), Opt::new("dst-pfx", 1)];

    fn parse(
        &mut self,
        id: &'static str,
        invert: bool,
        args: &[String],
        _: &Cx,
    ) -> Result<(), String> {
        self.given.take(Self::OPTIONS, id, invert)?;
        let p = Prefix6::parse(&args[0], id)?;
        if id == "src-pfx" {
            self.src = p;
        } else {
            self.dst = p;
        }
        Ok(())
    }

    fn finish(&mut self, _: &Rule, _: &Cx) -> Result<(), String> {
        self.given.must_have(Self::OPTIONS, "src-pfx")?;
        self.given.must_have(Self::OPTIONS, "dst-pfx")?;
        self.src.check("src-pfx")?;
        self.dst.check("dst-pfx")
    }

    fn save(&self, out: &mut String) {
        for (opt, p) in [("src-pfx", self.src), ("dst-pfx", self.dst)] {
            if !p.addr.is_unspecified() || p.len != 0 {
                let _ = write!(out, " --{opt} {}/{}", ntop6(p.addr), p.len);
            }
        }
    }

    fn check_hooks(&self, table: TableKind, hooks: HookMask) -> Result<(), String> {
        check_table_hooks(table, hooks, TableKind::Mangle, &S::HOOKS)
    }
}

#[cfg(test)]
mod tests {
    use crate::iptables::ext::testing::rule6_in;

    #[test]
    fn saves_as_ip6tables() {
        // Each as ip6tables-legacy-save 1.8.9 printed it (Debian 12).
        for (rule, want) in [
            (
                "-j SNPT --src-pfx 2001:db8::/64 --dst-pfx 2001:db9::/64",
                "-j SNPT --src-pfx 2001:db8::/64 --dst-pfx 2001:db9::/64",
            ),
            (
                "-j DNPT --src-pfx 2001:db8:1::/48 --dst-pfx 2001:db9::/48",
                "-j DNPT --src-pfx 2001:db8:1::/48 --dst-pfx 2001:db9::/48",
            ),
            (
                "-j SNPT --src-pfx 2001:db8::/64 --dst-pfx 2001:db9::/48",
                "-j SNPT --src-pfx 2001:db8::/64 --dst-pfx 2001:db9::/48",
            ),
            ("-j SNPT --src-pfx ::/0 --dst-pfx ::/0", "-j SNPT"),
        ] {
            let (_, line) =
                rule6_in("mangle", "FOO", rule).unwrap_or_else(|e| panic!("{rule}: {e}"));
            assert_eq!(line, format!("-A FOO {want}"));
        }
    }

    #[test]
    fn kernel_checks() {
        let ok = "--src-pfx 2001:db8::/64 --dst-pfx 2001:db9::/64";
        // The hooks each is registered for (ip6tables-legacy-restore took
        // exactly these).
        for (t, chain, accepted) in [
            ("SNPT", "INPUT", true),
            ("SNPT", "POSTROUTING", true),
            ("SNPT", "OUTPUT", false),
            ("SNPT", "PREROUTING", false),
            ("SNPT", "FORWARD", false),
            ("DNPT", "PREROUTING", true),
            ("DNPT", "OUTPUT", true),
            ("DNPT", "INPUT", false),
            ("DNPT", "POSTROUTING", false),
            ("DNPT", "FORWARD", false),
        ] {
            let r = rule6_in("mangle", chain, &format!("-j {t} {ok}"));
            assert_eq!(r.is_ok(), accepted, "{t} {chain}: {r:?}");
        }
        for (rule, msg) in [
            ("-j SNPT", "option \"--src-pfx\" must be specified"),
            (
                "-j SNPT --src-pfx 2001:db8::/64",
                "option \"--dst-pfx\" must be specified",
            ),
            (
                "-j SNPT --src-pfx 2001:db8::1/64 --dst-pfx 2001:db9::/64",
                "bits set after",
            ),
            (
                "-j SNPT --src-pfx 2001:db8:: --dst-pfx 2001:db9::",
                "at most 64 bits",
            ),
            (
                "-j SNPT --src-pfx 2001:db8::/65 --dst-pfx 2001:db9::/65",
                "at most 64 bits",
            ),
            (
                "-j SNPT --src-pfx 2001:db8::/0 --dst-pfx ::/0",
                "bits set after",
            ),
            (
                "-j SNPT --src-pfx 2001:db8::/129 --dst-pfx 2001:db9::/64",
                "neither a valid network mask",
            ),
            (
                "-j SNPT --src-pfx 2001:db8::/64 --dst-pfx 2001:db9::/64 --src-pfx 2001:db8::/64",
                "option \"--src-pfx\" can only be used once",
            ),
        ] {
            let e = rule6_in("mangle", "FOO", rule).unwrap_err();
            assert!(e.contains(msg), "{rule}: {e}");
        }
        let e = rule6_in("filter", "FOO", &format!("-j SNPT {ok}")).unwrap_err();
        assert!(e.contains("only valid in mangle table"), "{e}");
    }
}
