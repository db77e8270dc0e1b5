//! `-m rt`: the IPv6 Routing header (libip6t_rt of ip6tables 1.8.9, kernel
//! ip6t_rt): routing type, segments left, header length, and for type 0
//! the reserved field and the address list. Without any option it matches
//! every packet that has a Routing header.

use std::fmt::Write as _;
use std::net::Ipv6Addr;

use super::addr6::{inet_pton6, ntop6};
use super::frag::{U32Eq, U32Range};
use super::{Cx, Extension, Given, Opt};
use crate::iptables::model::Rule;

/// The most addresses `--rt-0-addrs` takes (`IP6T_RT_HOPS`).
pub const RT_HOPS: usize = 16;

/// The options of `-m rt`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Rt {
    /// `--rt-type [!] N`.
    pub rt_type: Option<U32Eq>,
    /// `--rt-segsleft [!] LO[:HI]`.
    pub segsleft: U32Range,
    /// `--rt-len [!] N`.
    pub len: Option<U32Eq>,
    /// `--rt-0-res`: the type 0 reserved field is zero.
    pub reserved: bool,
    /// `--rt-0-addrs A,B,...`: the type 0 address list.
    pub addrs: Vec<Ipv6Addr>,
    /// `--rt-0-not-strict`: the list need not be the whole header's.
    pub not_strict: bool,
    given: Given,
}

impl Rt {
    fn type0_given(&self) -> bool {
        self.rt_type
            == Some(U32Eq {
                value: 0,
                invert: false,
            })
    }
}

impl Extension for Rt {
    const OPTIONS: &'static [Opt] = &[
        Opt::new("rt-type", 1),
        Opt::new("rt-segsleft", 1),
        Opt::new("rt-len", 1),
        Opt::new("rt-0-res", 0),
        Opt::new("rt-0-addrs", 1),
        Opt::new("rt-0-not-strict", 0),
    ];

    fn parse(
        &mut self,
        id: &'static str,
        invert: bool,
        args: &[String],
        _: &Cx,
    ) -> Result<(), String> {
        match id {
            "rt-type" | "rt-segsleft" | "rt-len" => {
                self.given.take_invertible(Self::OPTIONS, id)?
            }
            _ => self.given.take(Self::OPTIONS, id, invert)?,
        }
        match id {
            "rt-type" => self.rt_type = Some(U32Eq::parse(&args[0], id, invert)?),
            "rt-segsleft" => self.segsleft = U32Range::parse(&args[0], id, invert)?,
            "rt-len" => self.len = Some(U32Eq::parse(&args[0], id, invert)?),
            "rt-0-res" | "rt-0-addrs" if !self.type0_given() => {
                return Err(format!("`--rt-type 0' required before `--{id}'"));
            }
            "rt-0-res" => self.reserved = true,
            "rt-0-addrs" => {
                let mut addrs = Vec::new();
                for a in args[0].split(',') {
                    if addrs.len() == RT_HOPS {
                        return Err("too many addresses specified".into());
                    }
                    addrs.push(inet_pton6(a).ok_or_else(|| format!("bad address: {a}"))?);
                }
                self.addrs = addrs;
            }
            _ => {
                if !self.given.has(Self::OPTIONS, "rt-0-addrs") {
                    return Err("`--rt-0-addr ...' required before `--rt-0-not-strict'".into());
                }
                self.not_strict = true;
            }
        }
        Ok(())
    }

    fn finish(&mut self, _: &Rule, _: &Cx) -> Result<(), String> {
        Ok(())
    }

    fn save(&self, out: &mut String) {
        U32Eq::save(&self.rt_type, out, "rt-type");
        self.segsleft.save(out, "rt-segsleft");
        U32Eq::save(&self.len, out, "rt-len");
        if self.reserved {
            out.push_str(" --rt-0-res");
        }
        if self.given.has(Self::OPTIONS, "rt-0-addrs") {
            out.push_str(" --rt-0-addrs ");
            let list: Vec<String> = self.addrs.iter().map(|a| ntop6(*a)).collect();
            let _ = write!(out, "{}", list.join(","));
        }
        if self.not_strict {
            out.push_str(" --rt-0-not-strict");
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
            "rt",
            &[
                ("", ""),
                (
                    "--rt-type 0 --rt-segsleft 1:23 --rt-len 8 --rt-0-res",
                    " --rt-type 0 --rt-segsleft 1:23 --rt-len 8 --rt-0-res",
                ),
                (
                    "! --rt-type 1 ! --rt-segsleft 5 ! --rt-len 2",
                    " ! --rt-type 1 ! --rt-segsleft 5 ! --rt-len 2",
                ),
                (
                    "--rt-type 0 --rt-0-addrs ::1,2001:db8::1 --rt-0-not-strict",
                    " --rt-type 0 --rt-0-addrs ::1,2001:db8::1 --rt-0-not-strict",
                ),
                (
                    "--rt-type 0 --rt-0-addrs ::102:304",
                    " --rt-type 0 --rt-0-addrs ::1.2.3.4",
                ),
                ("--rt-segsleft :4", " --rt-segsleft 0:4"),
                ("--rt-segsleft 5:5", " --rt-segsleft 5"),
                ("--rt-type 4294967295", " --rt-type 4294967295"),
            ],
        );
    }

    #[test]
    fn refusals() {
        let many: Vec<String> = (1..=17).map(|i| format!("::{i}")).collect();
        let many = format!("--rt-type 0 --rt-0-addrs {}", many.join(","));
        assert_refused6(
            "rt",
            &[
                ("--rt-0-res", "`--rt-type 0' required before `--rt-0-res'"),
                (
                    "! --rt-type 0 --rt-0-res",
                    "`--rt-type 0' required before `--rt-0-res'",
                ),
                (
                    "--rt-type 1 --rt-0-addrs ::1",
                    "`--rt-type 0' required before `--rt-0-addrs'",
                ),
                (
                    "--rt-type 0 --rt-0-not-strict",
                    "`--rt-0-addr ...' required before `--rt-0-not-strict'",
                ),
                ("--rt-type 4294967296", "out of range (0-4294967295)"),
                ("--rt-type 0 --rt-0-addrs 1.2.3.4", "bad address: 1.2.3.4"),
                (many.as_str(), "too many addresses specified"),
                (
                    "--rt-type 0 ! --rt-0-addrs ::1",
                    "option \"--rt-0-addrs\" cannot be inverted",
                ),
                (
                    "--rt-type 0 --rt-0-res --rt-0-res",
                    "option \"--rt-0-res\" can only be used once",
                ),
            ],
        );
    }
}
