//! `-m mark --mark VALUE[/MASK]`: the packet's firewall mark (libxt_mark
//! revision 1, kernel xt_mark.c `mark_mt`: `(skb->mark & mask) == value`,
//! inverted by `!`). Valid in every table and chain.
//!
//! `-m connmark` has the same option, read and printed alike
//! ([`super::connmark`]), so both use [`Mark`].

use super::parse::parse_mark_mask;
use super::{once, required, save_invert, Cx, Extension, Opt};
use crate::iptables::model::Rule;

/// A mark test: `(mark & mask) == value`, inverted by `!`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MarkMatch {
    pub value: u32,
    /// All ones when no `/MASK` was given.
    pub mask: u32,
    pub invert: bool,
}

impl MarkMatch {
    pub fn matches(&self, mark: u32) -> bool {
        (mark & self.mask == self.value) != self.invert
    }
}

/// Prints ` --mark 0xVALUE[/0xMASK]` as libxt_mark does (the mask only when
/// not all ones).
pub fn save_mark(out: &mut String, m: &MarkMatch) {
    save_invert(out, m.invert);
    out.push_str(&format!(" --mark {:#x}", m.value));
    if m.mask != u32::MAX {
        out.push_str(&format!("/{:#x}", m.mask));
    }
}

/// The options of `-m mark` and `-m connmark`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Mark {
    /// `--mark` (mandatory): tested against the packet's mark (`-m mark`)
    /// or its connection's (`-m connmark`).
    pub mark: Option<MarkMatch>,
}

impl Extension for Mark {
    const OPTIONS: &'static [Opt] = &[Opt::new("mark", 1)];

    fn parse(
        &mut self,
        _: &'static str,
        invert: bool,
        args: &[String],
        _: &Cx,
    ) -> Result<(), String> {
        once(&self.mark, "mark")?;
        let (value, mask) = parse_mark_mask(&args[0], "mark")?;
        self.mark = Some(MarkMatch {
            value,
            mask,
            invert,
        });
        Ok(())
    }

    fn finish(&mut self, _: &Rule, _: &Cx) -> Result<(), String> {
        required(&self.mark, "mark")
    }

    fn save(&self, out: &mut String) {
        if let Some(m) = &self.mark {
            save_mark(out, m);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::iptables::ext::testing::{first_match, refused_in};
    use crate::iptables::Match;

    fn one(rule: &str) -> Result<(MarkMatch, String), String> {
        first_match!("mangle", "PREROUTING", rule, Match::Mark)
            .map(|(m, line)| (m.mark.expect("mark"), line))
    }

    fn err(rule: &str) -> String {
        refused_in("mangle", "PREROUTING", rule)
    }

    #[test]
    fn values_and_masks_print_in_hex() {
        let (m, s) = one("-m mark --mark 4294967295").unwrap();
        assert_eq!((m.value, m.mask, m.invert), (u32::MAX, u32::MAX, false));
        assert_eq!(s, "-A PREROUTING -m mark --mark 0xffffffff");
        let (m, s) = one("-m mark ! --mark 010/+0xff0").unwrap();
        assert_eq!((m.value, m.mask, m.invert), (8, 0xff0, true));
        assert!(m.matches(0x1008));
        let (m, _) = one("-m mark --mark 0x10/0xf0").unwrap();
        assert!(m.matches(0x1213) && !m.matches(0x1223));
        assert_eq!(s, "-A PREROUTING -m mark ! --mark 0x8/0xff0");
        let (_, s) = one("-m mark --mark \" 1/ 2\"").unwrap();
        assert_eq!(s, "-A PREROUTING -m mark --mark 0x1/0x2");
        let (_, s) = one("-m mark --mark 0/0").unwrap();
        assert_eq!(s, "-A PREROUTING -m mark --mark 0x0/0x0");
        let (_, s) = one("-m mark --mark 0x1/0xffffffff").unwrap();
        assert_eq!(s, "-A PREROUTING -m mark --mark 0x1");
    }

    #[test]
    fn refusals() {
        let bad = "mark: bad integer value for option \"--mark\", or out of range.";
        let garbage = "mark: trailing garbage after value for option \"--mark\".";
        for r in [
            "4294967296",
            "-1",
            "1/",
            "/1",
            "1/0x100000000",
            "+",
            "1/-1",
            "\"\"",
        ] {
            assert!(err(&format!("-m mark --mark {r}")).contains(bad), "{r}");
        }
        for r in ["1x", "0x", "08", "1/2/3", "1:2"] {
            assert!(err(&format!("-m mark --mark {r}")).contains(garbage), "{r}");
        }
        assert!(err("-m mark --mark 1 --mark 2")
            .contains("mark: option \"--mark\" can only be used once."));
        assert!(err("-m mark").contains("mark: option \"--mark\" must be specified"));
    }
}
