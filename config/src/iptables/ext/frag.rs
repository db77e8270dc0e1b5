//! `-m frag`: the IPv6 Fragment header (libip6t_frag of ip6tables 1.8.9,
//! kernel ip6t_frag): identification range, header length, reserved
//! fields, first / more / last fragment. Without any option it matches
//! every packet that has a Fragment header.

use std::fmt::Write as _;

use super::parse::{uint_opt, uint_range_opt};
use super::{Cx, Extension, Given, Opt};
use crate::iptables::model::Rule;

/// A `u32` range option (`--fragid`, `--rt-segsleft`: XTTYPE_UINT32RC)
/// with its inversion. The whole range `0:4294967295` is the default: it
/// prints as nothing, even inverted, as ip6tables-save prints it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct U32Range {
    pub lo: u32,
    pub hi: u32,
    pub invert: bool,
}

impl Default for U32Range {
    fn default() -> U32Range {
        U32Range {
            lo: 0,
            hi: u32::MAX,
            invert: false,
        }
    }
}

impl U32Range {
    pub(crate) fn parse(arg: &str, opt: &str, invert: bool) -> Result<U32Range, String> {
        let (lo, hi) = uint_range_opt(arg, opt, u32::MAX.into())?;
        Ok(U32Range {
            lo: lo as u32,
            hi: hi as u32,
            invert,
        })
    }

    /// Whether `v` matches (after `!`).
    pub fn matches(&self, v: u32) -> bool {
        (self.lo <= v && v <= self.hi) != self.invert
    }

    /// ` --OPT [! ]LO[:HI]`, nothing for the whole range.
    pub(crate) fn save(&self, out: &mut String, opt: &str) {
        if self.lo == 0 && self.hi == u32::MAX {
            return;
        }
        let _ = write!(
            out,
            " {}--{opt} {}",
            if self.invert { "! " } else { "" },
            self.lo
        );
        if self.lo != self.hi {
            let _ = write!(out, ":{}", self.hi);
        }
    }
}

/// A `u32` value option with its inversion (`--fraglen`, `--rt-type`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct U32Eq {
    pub value: u32,
    pub invert: bool,
}

impl U32Eq {
    pub(crate) fn parse(arg: &str, opt: &str, invert: bool) -> Result<U32Eq, String> {
        Ok(U32Eq {
            value: uint_opt(arg, opt, 0, u32::MAX.into())? as u32,
            invert,
        })
    }

    pub(crate) fn save(slot: &Option<U32Eq>, out: &mut String, opt: &str) {
        if let Some(v) = slot {
            let _ = write!(
                out,
                " {}--{opt} {}",
                if v.invert { "! " } else { "" },
                v.value
            );
        }
    }
}

/// `--fragmore` / `--fraglast`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FragPosition {
    /// `--fragmore`: the M flag is set.
    More,
    /// `--fraglast`: the M flag is clear.
    Last,
}

/// The options of `-m frag`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Frag {
    /// `--fragid [!] LO[:HI]`: the identification.
    pub id: U32Range,
    /// `--fraglen [!] N`: the header length field.
    pub len: Option<U32Eq>,
    /// `--fragres`: the reserved fields are zero.
    pub reserved: bool,
    /// `--fragfirst`: the fragment offset is zero.
    pub first: bool,
    pub position: Option<FragPosition>,
    given: Given,
}

impl Extension for Frag {
    const OPTIONS: &'static [Opt] = &[
        Opt::new("fragid", 1),
        Opt::new("fraglen", 1),
        Opt::new("fragres", 0),
        Opt::new("fragfirst", 0),
        Opt::new("fragmore", 0),
        Opt::new("fraglast", 0),
    ];

    fn parse(
        &mut self,
        id: &'static str,
        invert: bool,
        args: &[String],
        _: &Cx,
    ) -> Result<(), String> {
        match id {
            "fragid" | "fraglen" => self.given.take_invertible(Self::OPTIONS, id)?,
            _ => self.given.take(Self::OPTIONS, id, invert)?,
        }
        match id {
            "fragid" => self.id = U32Range::parse(&args[0], id, invert)?,
            "fraglen" => self.len = Some(U32Eq::parse(&args[0], id, invert)?),
            "fragres" => self.reserved = true,
            "fragfirst" => self.first = true,
            "fragmore" => self.position = Some(FragPosition::More),
            _ => self.position = Some(FragPosition::Last),
        }
        Ok(())
    }

    fn finish(&mut self, _: &Rule, _: &Cx) -> Result<(), String> {
        self.given.check_excl(
            Self::OPTIONS,
            &[("fragmore", &["fraglast"]), ("fraglast", &["fragmore"])],
        )
    }

    fn save(&self, out: &mut String) {
        self.id.save(out, "fragid");
        U32Eq::save(&self.len, out, "fraglen");
        if self.reserved {
            out.push_str(" --fragres");
        }
        if self.first {
            out.push_str(" --fragfirst");
        }
        match self.position {
            Some(FragPosition::More) => out.push_str(" --fragmore"),
            Some(FragPosition::Last) => out.push_str(" --fraglast"),
            None => {}
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
            "frag",
            &[
                ("", ""),
                ("--fragid 1:2", " --fragid 1:2"),
                ("! --fragid 5", " ! --fragid 5"),
                ("--fragid :5", " --fragid 0:5"),
                ("--fragid 5:", " --fragid 5:4294967295"),
                ("--fragid 5:5", " --fragid 5"),
                ("--fragid 5:3", " --fragid 5:3"),
                ("--fragid 0x10", " --fragid 16"),
                ("--fragid 0:4294967295", ""),
                ("! --fragid 0:4294967295", ""),
                ("--fraglen 8", " --fraglen 8"),
                ("! --fraglen 8", " ! --fraglen 8"),
                (
                    "--fragres --fragfirst --fragmore",
                    " --fragres --fragfirst --fragmore",
                ),
                ("--fraglast --fragfirst", " --fragfirst --fraglast"),
            ],
        );
    }

    #[test]
    fn refusals() {
        assert_refused6(
            "frag",
            &[
                (
                    "--fragmore --fraglast",
                    "option \"--fragmore\" cannot be used together with \"--fraglast\"",
                ),
                ("--fragid 4294967296", "out of range (0-4294967295)"),
                ("--fragid 1-2", "unexpected characters near \"-2\""),
                ("--fragid 1:2:3", "Too many components"),
                (
                    "--fragid 3 --fragid 4",
                    "option \"--fragid\" can only be used once",
                ),
                ("! --fragres", "option \"--fragres\" cannot be inverted"),
                ("--fraglen 4294967296", "out of range (0-4294967295)"),
            ],
        );
        let e = crate::iptables::ext::testing::refused_in("filter", "INPUT", "-m frag");
        assert!(e.contains("IPv6 only"), "{e}");
    }
}
