//! `-m mark --mark VALUE[/MASK]`: the packet's firewall mark (libxt_mark
//! revision 1, kernel xt_mark.c `mark_mt`: `(skb->mark & mask) == value`,
//! inverted by `!`). Valid in every table and chain.

use super::conntrack::{c_strtoul, xt_once};
use super::{save_invert, Cx, Extension, Opt};
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

/// `xtables_parse_mark_mask` as iptables 1.8.9 reads `VALUE[/MASK]`: each
/// a base-0 number up to 2^32-1 (leading white space and `+` allowed, as
/// strtoul allows them), nothing after them.
pub fn parse_mark_value(s: &str, opt: &str) -> Result<(u32, u32), String> {
    let bad = || format!("bad integer value for option \"--{opt}\", or out of range.");
    let garbage = || format!("trailing garbage after value for option \"--{opt}\".");
    let number = |t: &str| -> Result<(u32, usize), String> {
        match c_strtoul(t, 0) {
            Some((Some(v), false, rest)) if v <= u32::MAX as u64 => {
                Ok((v as u32, t.len() - rest.len()))
            }
            _ => Err(bad()),
        }
    };
    let (value, used) = number(s)?;
    let rest = &s[used..];
    if rest.is_empty() {
        return Ok((value, u32::MAX));
    }
    let Some(m) = rest.strip_prefix('/') else {
        return Err(garbage());
    };
    let (mask, used) = number(m)?;
    if used != m.len() {
        return Err(garbage());
    }
    Ok((value, mask))
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

/// The options of `-m mark`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Mark {
    /// `--mark` (mandatory).
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
        xt_once(&self.mark, "mark")?;
        let (value, mask) = parse_mark_value(&args[0], "mark")?;
        self.mark = Some(MarkMatch {
            value,
            mask,
            invert,
        });
        Ok(())
    }

    fn finish(&mut self, _: &Rule, _: &Cx) -> Result<(), String> {
        if self.mark.is_none() {
            return Err("option \"--mark\" must be specified".into());
        }
        Ok(())
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
    use crate::iptables::{parse, save::save, Match};
    use std::path::Path;

    fn one(rule: &str) -> Result<(MarkMatch, String), String> {
        let text = format!("*mangle\n-A PREROUTING {rule}\nCOMMIT\n");
        let rs = parse(&text, Path::new("t")).map_err(|e| e.to_string())?;
        let r = &rs.tables[0].chains[0].rules[0];
        let Some(Match::Mark(m)) = r.matches.first() else {
            panic!("no mark match")
        };
        let line = save(&rs)
            .lines()
            .find(|l| l.starts_with("-A"))
            .unwrap_or("")
            .to_string();
        Ok((m.mark.expect("mark"), line))
    }

    fn err(rule: &str) -> String {
        match one(rule) {
            Ok(x) => panic!("{rule} accepted: {x:?}"),
            Err(e) => e,
        }
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
