//! `-m iprange --src-range A-B / --dst-range A-B`: source or destination
//! address within an inclusive range (libxt_iprange, kernel xt_iprange
//! revision 1: compared as host-order numbers).

use std::net::Ipv4Addr;

use super::parse::parse_ipv4;
use super::{once, Cx, Extension, Opt};
use crate::iptables::model::Rule;

/// An inclusive address range with its inversion. A reversed range
/// (`lo > hi`) is accepted, as by iptables (with a warning) and the
/// kernel: it never matches unless inverted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AddrRange {
    pub lo: Ipv4Addr,
    pub hi: Ipv4Addr,
    pub invert: bool,
}

impl AddrRange {
    /// Whether `ip` matches (inversion applied).
    pub fn matches(&self, ip: Ipv4Addr) -> bool {
        (self.lo <= ip && ip <= self.hi) != self.invert
    }
}

/// The options of `-m iprange`; at least one is required.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Iprange {
    pub src: Option<AddrRange>,
    pub dst: Option<AddrRange>,
}

/// libxt_iprange `iprange_parse_range`: `A-B`, or one address `A` for
/// `A-A`, split at the first `-`.
fn parse_range(arg: &str, opt: &str, invert: bool) -> Result<AddrRange, String> {
    let (a, b) = arg.split_once('-').unwrap_or((arg, arg));
    let addr = |s: &str| {
        parse_ipv4(s).ok_or_else(|| {
            format!("Bad value for option \"--{opt}\": \"{s}\" is not a numeric IPv4 address")
        })
    };
    Ok(AddrRange {
        lo: addr(a)?,
        hi: addr(b)?,
        invert,
    })
}

fn save_range(out: &mut String, opt: &str, r: &Option<AddrRange>) {
    if let Some(r) = r {
        if r.invert {
            out.push_str(" !");
        }
        out.push_str(&format!(" --{opt} {}-{}", r.lo, r.hi));
    }
}

impl Extension for Iprange {
    const OPTIONS: &'static [Opt] = &[Opt::new("src-range", 1), Opt::new("dst-range", 1)];

    fn parse(
        &mut self,
        id: &'static str,
        invert: bool,
        args: &[String],
        _: &Cx,
    ) -> Result<(), String> {
        let slot = if id == "src-range" {
            &mut self.src
        } else {
            &mut self.dst
        };
        once(slot, id)?;
        *slot = Some(parse_range(&args[0], id, invert)?);
        Ok(())
    }

    fn finish(&mut self, _: &Rule, _: &Cx) -> Result<(), String> {
        if self.src.is_none() && self.dst.is_none() {
            return Err("iprange match: You must specify `--src-range' or `--dst-range'".into());
        }
        Ok(())
    }

    fn save(&self, out: &mut String) {
        save_range(out, "src-range", &self.src);
        save_range(out, "dst-range", &self.dst);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::iptables::ext::testing::{first_match, refused_in};
    use crate::iptables::Match;

    fn one(rule: &str) -> Result<(Iprange, String), String> {
        first_match!("filter", "INPUT", rule, Match::Iprange)
    }

    fn err(rule: &str) -> String {
        refused_in("filter", "INPUT", rule)
    }

    #[test]
    fn ranges() {
        let (i, s) = one("-m iprange ! --src-range 1.1.1.1-1.1.1.10").unwrap();
        let r = i.src.unwrap();
        assert_eq!(
            (r.lo, r.hi, r.invert),
            (Ipv4Addr::new(1, 1, 1, 1), Ipv4Addr::new(1, 1, 1, 10), true)
        );
        assert!(!r.matches(Ipv4Addr::new(1, 1, 1, 5)) && r.matches(Ipv4Addr::new(1, 1, 1, 11)));
        assert_eq!(s, "-A INPUT -m iprange ! --src-range 1.1.1.1-1.1.1.10");
        let (_, s) = one("-m iprange --dst-range 10.1-10.2 --src-range 1.2.3.4").unwrap();
        assert_eq!(
            s,
            "-A INPUT -m iprange --src-range 1.2.3.4-1.2.3.4 --dst-range 10.1.0.0-10.2.0.0"
        );
        let (i, _) = one("-m iprange --dst-range 9.0.0.0-8.0.0.0").unwrap();
        assert!(!i.dst.unwrap().matches(Ipv4Addr::new(8, 5, 0, 0)));
        let (i, _) = one("-m iprange --src-range 1.1.1.00000000000001").unwrap();
        assert_eq!(i.src.unwrap().lo, Ipv4Addr::new(1, 1, 1, 0));
    }

    #[test]
    fn refusals() {
        for (rule, msg) in [
            ("-m iprange", "You must specify"),
            ("-m iprange --src-range 1.1.1.1-", "Bad value"),
            ("-m iprange --src-range 1.1.1.256", "Bad value"),
            ("-m iprange --src-range host.example", "Bad value"),
            ("-m iprange --src-range 1.1.1.1 --src-range 1.1.1.2", "once"),
        ] {
            let e = err(rule);
            assert!(e.contains(msg), "{rule}: {e}");
        }
    }
}
