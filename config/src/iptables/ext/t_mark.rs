//! `-j MARK`: sets the packet's mark (libxt_MARK revision 2, kernel
//! xt_mark.c `mark_tg`). Every form is stored as the kernel stores it, an
//! "xmark" pair: `mark = (mark & !mask) ^ value`; iptables-save prints every
//! form back as `--set-xmark 0xVALUE/0xMASK`. Allowed in every table and
//! chain.

use std::fmt::Write as _;

use super::parse::{parse_mark_mask, uint_opt};
use super::{Cx, Extension, Given, Opt};
use crate::iptables::model::Rule;

/// An "xmark" operation on a 32-bit mark: clear the bits of `mask`, then
/// flip the bits of `value` (`mark = (mark & !mask) ^ value`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct XMark {
    pub value: u32,
    pub mask: u32,
}

impl XMark {
    /// The mark after the operation.
    pub fn apply(&self, mark: u32) -> u32 {
        (mark & !self.mask) ^ self.value
    }

    /// `--set-xmark VALUE[/MASK]`: as given (mask defaults to all ones).
    pub fn set_xmark(value: u32, mask: u32) -> XMark {
        XMark { value, mask }
    }

    /// `--set-mark VALUE[/MASK]`: the bits of `mask` become `value`
    /// (stored with mask `value | mask`, as libxt_MARK does).
    pub fn set_mark(value: u32, mask: u32) -> XMark {
        XMark {
            value,
            mask: value | mask,
        }
    }

    /// `--and-mark BITS`: `mark & BITS`.
    pub fn and(bits: u32) -> XMark {
        XMark {
            value: 0,
            mask: !bits,
        }
    }

    /// `--or-mark BITS`: `mark | BITS`.
    pub fn or(bits: u32) -> XMark {
        XMark {
            value: bits,
            mask: bits,
        }
    }

    /// `--xor-mark BITS`: `mark ^ BITS`.
    pub fn xor(bits: u32) -> XMark {
        XMark {
            value: bits,
            mask: 0,
        }
    }

    /// ` --set-xmark 0xVALUE/0xMASK`, as MARK and CONNMARK save it.
    pub(crate) fn save(&self, out: &mut String) {
        let _ = write!(out, " --set-xmark 0x{:x}/0x{:x}", self.value, self.mask);
    }
}

/// `-j MARK`: what it does to the packet mark.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Mark {
    /// The operation; `None` only before an option is read (a rule without
    /// one is refused).
    pub xmark: Option<XMark>,
    given: Given,
}

impl Mark {
    /// The packet mark after the target (unchanged without an operation).
    pub fn apply(&self, mark: u32) -> u32 {
        self.xmark.map_or(mark, |x| x.apply(mark))
    }
}

const OPS: &[&str] = &["set-xmark", "set-mark", "and-mark", "or-mark", "xor-mark"];

impl Extension for Mark {
    const OPTIONS: &'static [Opt] = &[
        Opt::new("set-xmark", 1),
        Opt::new("set-mark", 1),
        Opt::new("and-mark", 1),
        Opt::new("or-mark", 1),
        Opt::new("xor-mark", 1),
    ];

    fn parse(
        &mut self,
        id: &'static str,
        invert: bool,
        args: &[String],
        _: &Cx,
    ) -> Result<(), String> {
        self.given.take(Self::OPTIONS, id, invert)?;
        let arg = &args[0];
        let x = match id {
            "set-xmark" => {
                let (v, m) = parse_mark_mask(arg, id)?;
                XMark::set_xmark(v, m)
            }
            "set-mark" => {
                let (v, m) = parse_mark_mask(arg, id)?;
                XMark::set_mark(v, m)
            }
            _ => {
                let bits = uint_opt(arg, id, 0, u32::MAX as u64)? as u32;
                match id {
                    "and-mark" => XMark::and(bits),
                    "or-mark" => XMark::or(bits),
                    _ => XMark::xor(bits),
                }
            }
        };
        self.xmark = Some(x);
        Ok(())
    }

    fn finish(&mut self, _: &Rule, _: &Cx) -> Result<(), String> {
        let excl: Vec<(&str, &[&str])> = OPS.iter().map(|o| (*o, OPS)).collect();
        self.given.check_excl(Self::OPTIONS, &excl)?;
        if self.xmark.is_none() {
            return Err(
                "One of the --set-xmark, --{and,or,xor,set}-mark options is required".into(),
            );
        }
        Ok(())
    }

    fn save(&self, out: &mut String) {
        if let Some(x) = &self.xmark {
            x.save(out);
        }
    }
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use super::*;
    use crate::iptables::ext::testing::{refused_in, target_ext};
    use crate::iptables::{parse, TargetExt};

    fn canon(rule: &str) -> Result<(Mark, String), String> {
        target_ext!("mangle", "PREROUTING", rule, TargetExt::Mark)
    }

    fn refused(rule: &str) -> String {
        refused_in("mangle", "PREROUTING", rule)
    }

    #[test]
    fn every_form_saves_as_xmark() {
        for (rule, value, mask) in [
            ("--set-xmark 0xfeedcafe/0xfeedcafe", 0xfeedcafe, 0xfeedcafe),
            ("--set-xmark 0x0", 0, 0xffffffff),
            ("--set-xmark 4294967295", 0xffffffff, 0xffffffff),
            ("--set-xmark 5/3", 5, 3),
            ("--set-mark 5", 5, 0xffffffff),
            ("--set-mark 5/0xf0", 5, 0xf5),
            ("--set-mark 010", 8, 0xffffffff),
            ("--and-mark 0xff", 0, 0xffffff00),
            ("--or-mark 3", 3, 3),
            ("--xor-mark 7", 7, 0),
            ("--and 3", 0, 0xfffffffc),
        ] {
            let (m, line) = canon(&format!("-j MARK {rule}")).unwrap();
            assert_eq!(m.xmark, Some(XMark { value, mask }), "{rule}");
            assert_eq!(
                line,
                format!("-A PREROUTING -j MARK --set-xmark 0x{value:x}/0x{mask:x}")
            );
        }
    }

    #[test]
    fn xmark_semantics() {
        assert_eq!(XMark::set_mark(5, 0xf0).apply(0xabcd), 0xab0d);
        assert_eq!(XMark::and(0xff).apply(0x1234), 0x34);
        assert_eq!(XMark::or(0x3).apply(0x10), 0x13);
        assert_eq!(XMark::xor(0x3).apply(0x11), 0x12);
        assert_eq!(XMark::set_xmark(5, 0xffffffff).apply(0x1234), 5);
    }

    #[test]
    fn any_table() {
        for t in ["raw", "filter", "nat", "security"] {
            let text = format!("*{t}\n-A OUTPUT -j MARK --set-mark 1\nCOMMIT\n");
            assert!(parse(&text, Path::new("t")).is_ok(), "{t}");
        }
    }

    #[test]
    fn refusals() {
        for (rule, msg) in [
            ("-j MARK", "is required"),
            (
                "-j MARK --set-xmark 4294967296",
                "bad integer value for option \"--set-xmark\"",
            ),
            ("-j MARK --set-xmark -1", "bad integer value"),
            ("-j MARK --set-mark 1/", "bad integer value"),
            ("-j MARK --set-mark /1", "bad integer value"),
            (
                "-j MARK --and-mark 1/2",
                "bad value for option \"--and-mark\", or out of range (0-4294967295)",
            ),
            (
                "-j MARK --set-mark 1 --set-mark 2",
                "option \"--set-mark\" can only be used once",
            ),
            (
                "-j MARK --set-mark 1 --or-mark 2",
                "option \"--set-mark\" cannot be used together with \"--or-mark\"",
            ),
            (
                "-j MARK --or-mark 2 --set-xmark 1",
                "option \"--set-xmark\" cannot be used together with \"--or-mark\"",
            ),
            (
                "-j MARK ! --set-mark 1",
                "option \"--set-mark\" cannot be inverted",
            ),
            ("-j MARK --set 1", "ambiguous"),
        ] {
            let e = refused(rule);
            assert!(e.contains(msg), "{rule}: {e}");
        }
    }

    #[test]
    fn spellings_compare_equal() {
        let (a, _) = canon("-j MARK --set-mark 1").unwrap();
        let (b, _) = canon("-j MARK --set-xmark 0x1/0xffffffff").unwrap();
        assert_eq!(a, b);
    }
}
