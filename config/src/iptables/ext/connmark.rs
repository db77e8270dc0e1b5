//! `-m connmark --mark VALUE[/MASK]`: the mark of the packet's connection
//! (libxt_connmark revision 1, kernel xt_connmark.c `connmark_mt`:
//! `(ct->mark & mask) == value`, inverted by `!`; a packet without a
//! conntrack entry never matches, inverted or not). Valid in every table.

use super::conntrack::xt_once;
use super::mark::{parse_mark_value, save_mark, MarkMatch};
use super::{Cx, Extension, Opt};
use crate::iptables::model::Rule;

/// The options of `-m connmark`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Connmark {
    /// `--mark` (mandatory): tested against the connection's mark.
    pub mark: Option<MarkMatch>,
}

impl Extension for Connmark {
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
        let text = format!("*mangle\n-A FORWARD {rule}\nCOMMIT\n");
        let rs = parse(&text, Path::new("t")).map_err(|e| e.to_string())?;
        let chain = rs.tables[0].chain("FORWARD").expect("FORWARD");
        let Some(Match::Connmark(m)) = chain.rules[0].matches.first() else {
            panic!("no connmark")
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
    fn marks_print_in_hex() {
        let (m, s) = one("-m connmark --mark 0xffffffff/0xffffffff").unwrap();
        assert_eq!((m.value, m.mask, m.invert), (u32::MAX, u32::MAX, false));
        assert_eq!(s, "-A FORWARD -m connmark --mark 0xffffffff");
        let (m, s) = one("-m connmark ! --mark 0xffffffff/0x0").unwrap();
        assert_eq!((m.value, m.mask, m.invert), (u32::MAX, 0, true));
        assert_eq!(s, "-A FORWARD -m connmark ! --mark 0xffffffff/0x0");
        let (_, s) = one("-m connmark --mark 0/0xffffffff").unwrap();
        assert_eq!(s, "-A FORWARD -m connmark --mark 0x0");
    }

    #[test]
    fn refusals() {
        assert!(err("-m connmark --mark -1")
            .contains("connmark: bad integer value for option \"--mark\", or out of range."));
        assert!(err("-m connmark --mark 0xfffffffff").contains("out of range"));
        assert!(err("-m connmark --mark 1x").contains("trailing garbage"));
        assert!(err("-m connmark").contains("connmark: option \"--mark\" must be specified"));
        assert!(err("-m connmark --mark 1 --mark 1").contains("can only be used once."));
    }
}
