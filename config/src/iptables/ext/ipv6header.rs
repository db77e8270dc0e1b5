//! `-m ipv6header --header [!] LIST [--soft]`: which IPv6 extension headers
//! the packet has (libip6t_ipv6header of ip6tables 1.8.9, kernel
//! ip6t_ipv6header): exactly those (or, with `--soft`, at least those).

use super::{Cx, Extension, Given, Opt};
use crate::iptables::model::Rule;
use crate::iptables::netdb;

/// The headers in the order of the kernel's mask bits, high to low
/// (`MASK_HOPOPTS` 0x80 .. `MASK_PROTO` 0x01): protocol number and the
/// name ip6tables-save prints (the protocol database's name, but for 0
/// and 255, which it does not look up or does not have).
pub const HEADERS: [(u8, &str); 8] = [
    (0, "hop-by-hop"),
    (60, "ipv6-opts"),
    (43, "ipv6-route"),
    (44, "ipv6-frag"),
    (51, "ah"),
    (50, "esp"),
    (59, "ipv6-nonxt"),
    (255, "protocol"),
];

/// The names libip6t_ipv6header knows besides the protocol database's.
const OWN_NAMES: [(&str, u8); 18] = [
    ("hop-by-hop", 0),
    ("protocol", 255),
    ("hop", 0),
    ("dst", 60),
    ("route", 43),
    ("frag", 44),
    ("auth", 51),
    ("esp", 50),
    ("none", 59),
    ("prot", 255),
    ("0", 0),
    ("60", 60),
    ("43", 43),
    ("44", 44),
    ("51", 51),
    ("50", 50),
    ("59", 59),
    ("255", 255),
];

/// The options of `-m ipv6header`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Ipv6header {
    /// The headers named, one bit each (`MASK_*` of the kernel).
    pub mask: u8,
    /// `! --header`: the kernel's comparison (exact or `--soft`) is
    /// inverted.
    pub invert: bool,
    /// `--soft`: the packet has at least these headers.
    pub soft: bool,
    given: Given,
}

/// One name of `--header` to its mask bit.
fn header_bit(name: &str) -> Result<u8, String> {
    let proto = match netdb::proto_by_name(name) {
        Some(p) => p,
        None => OWN_NAMES
            .iter()
            .find(|(n, _)| *n == name)
            .map(|(_, p)| *p)
            .ok_or_else(|| format!("unknown header `{name}' specified"))?,
    };
    HEADERS
        .iter()
        .position(|(p, _)| *p == proto)
        .map(|i| 0x80 >> i)
        .ok_or_else(|| format!("unknown header `{proto}' specified"))
}

impl Extension for Ipv6header {
    const OPTIONS: &'static [Opt] = &[Opt::new("header", 1), Opt::new("soft", 0)];

    fn parse(
        &mut self,
        id: &'static str,
        invert: bool,
        args: &[String],
        _: &Cx,
    ) -> Result<(), String> {
        if id == "soft" {
            self.given.take(Self::OPTIONS, id, invert)?;
            self.soft = true;
            return Ok(());
        }
        self.given.take_invertible(Self::OPTIONS, id)?;
        let mut mask = 0;
        for name in args[0].split(',').filter(|n| !n.is_empty()) {
            mask |= header_bit(name)?;
        }
        if mask == 0 {
            return Err("ip6t_ipv6header: cannot parse header names".into());
        }
        self.mask = mask;
        self.invert = invert;
        Ok(())
    }

    fn finish(&mut self, _: &Rule, _: &Cx) -> Result<(), String> {
        self.given.must_have(Self::OPTIONS, "header")
    }

    fn save(&self, out: &mut String) {
        if self.invert {
            out.push_str(" !");
        }
        let names: Vec<&str> = HEADERS
            .iter()
            .enumerate()
            .filter(|(i, _)| self.mask & (0x80 >> i) != 0)
            .map(|(_, (_, n))| *n)
            .collect();
        out.push_str(" --header ");
        out.push_str(&names.join(","));
        if self.soft {
            out.push_str(" --soft");
        }
    }
}

#[cfg(test)]
mod tests {
    use crate::iptables::ext::testing::{assert_refused6, assert_saved6};

    #[test]
    fn saves_as_ip6tables() {
        // Each as ip6tables-legacy-save 1.8.9 printed it (Debian 12).
        assert_saved6(
            "ipv6header",
            &[
            ("--header frag", " --header ipv6-frag"),
            (
                "! --header frag,hop --soft",
                " ! --header hop-by-hop,ipv6-frag --soft",
            ),
            (
                "--header hop-by-hop,dst,route,auth,esp,none,prot",
                " --header hop-by-hop,ipv6-opts,ipv6-route,ah,esp,ipv6-nonxt,protocol",
            ),
            (
                "--header 0,60,43,44,51,50,59,255",
                " --header hop-by-hop,ipv6-opts,ipv6-route,ipv6-frag,ah,esp,ipv6-nonxt,protocol",
            ),
            (
                "--header ipv6-opts,ipv6-route,ah,ipv6-nonxt,protocol",
                " --header ipv6-opts,ipv6-route,ah,ipv6-nonxt,protocol",
            ),
            ],
        );
    }

    #[test]
    fn refusals() {
        assert_refused6(
            "ipv6header",
            &[
                ("", "option \"--header\" must be specified"),
                ("--soft", "option \"--header\" must be specified"),
                ("--header tcp", "unknown header `6' specified"),
                ("--header HOP", "unknown header `HOP' specified"),
                (
                    "--header frag --header hop",
                    "option \"--header\" can only be used once",
                ),
            ],
        );
    }
}
