//! `-m length --length A[:B]`: the IP packet's total length (the IPv4
//! `tot_len` field) within `A..=B` (libxt_length, kernel xt_length).

use std::fmt::Write as _;

use super::{strtoui, Cx, Extension, Opt};
use crate::iptables::model::Rule;

/// `--length`: the range and its inversion. iptables 1.8.9 and the kernel
/// accept `min > max` (a range that never matches unless inverted).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LengthRange {
    pub min: u16,
    pub max: u16,
    pub invert: bool,
}

impl LengthRange {
    /// Whether a packet of IP total length `len` matches.
    pub fn matches(&self, len: u16) -> bool {
        (self.min <= len && len <= self.max) != self.invert
    }
}

/// The options of `-m length`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Length {
    /// Required; `None` only before parsing is done.
    pub length: Option<LengthRange>,
}

/// libxtables `xtopt_parse_mint` for a u16 range: `A`, `A:B`, `:B` (0:B),
/// `A:` (A:65535), `:` (0:65535); at most two parts.
pub(crate) fn parse_u16_range(arg: &str, opt: &str) -> Result<(u16, u16), String> {
    let parts: Vec<&str> = arg.split(':').collect();
    if parts.len() > 2 {
        return Err(format!(
            "Too many components for option \"--{opt}\" (max: 2)"
        ));
    }
    let mut vals = [0u16; 2];
    for (i, p) in parts.iter().enumerate() {
        vals[i] = if p.is_empty() {
            if i == 1 {
                u16::MAX
            } else {
                0
            }
        } else {
            strtoui(p, 0, u64::from(u16::MAX)).ok_or_else(|| {
                format!("bad value for option \"--{opt}\" near \"{p}\", or out of range (0-65535).")
            })? as u16
        };
    }
    let max = if parts.len() == 2 { vals[1] } else { vals[0] };
    Ok((vals[0], max))
}

impl Extension for Length {
    const OPTIONS: &'static [Opt] = &[Opt::new("length", 1)];

    fn parse(
        &mut self,
        id: &'static str,
        invert: bool,
        args: &[String],
        _: &Cx,
    ) -> Result<(), String> {
        if self.length.is_some() {
            return Err(format!("option \"--{id}\" can only be used once."));
        }
        let (min, max) = parse_u16_range(&args[0], id)?;
        self.length = Some(LengthRange { min, max, invert });
        Ok(())
    }

    fn finish(&mut self, _: &Rule, _: &Cx) -> Result<(), String> {
        if self.length.is_none() {
            return Err("option \"--length\" must be specified".into());
        }
        Ok(())
    }

    fn save(&self, out: &mut String) {
        if let Some(l) = self.length {
            if l.invert {
                out.push_str(" !");
            }
            if l.min == l.max {
                let _ = write!(out, " --length {}", l.min);
            } else {
                let _ = write!(out, " --length {}:{}", l.min, l.max);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::iptables::{parse, save::save, Match};
    use std::path::Path;

    fn one(rule: &str) -> Result<(Length, String), String> {
        let text = format!("*filter\n-A INPUT {rule}\nCOMMIT\n");
        let rs = parse(&text, Path::new("t")).map_err(|e| e.to_string())?;
        let saved = save(&rs);
        let line = saved
            .lines()
            .find(|l| l.starts_with("-A "))
            .unwrap_or("")
            .to_string();
        match &rs.tables[0].chains[0].rules[0].matches[0] {
            Match::Length(l) => Ok((l.clone(), line)),
            m => Err(format!("unexpected match {m:?}")),
        }
    }

    #[test]
    fn ranges() {
        for (arg, min, max, out) in [
            ("1", 1, 1, "1"),
            (":2", 0, 2, "0:2"),
            ("4:", 4, 65535, "4:65535"),
            (":", 0, 65535, "0:65535"),
            ("4:4", 4, 4, "4"),
            ("0x10:020", 16, 16, "16"),
            ("4:3", 4, 3, "4:3"),
        ] {
            let (l, s) = one(&format!("-m length --length {arg}")).unwrap();
            let r = l.length.unwrap();
            assert_eq!((r.min, r.max, r.invert), (min, max, false), "{arg}");
            assert_eq!(s, format!("-A INPUT -m length --length {out}"));
        }
        let (l, s) = one("-m length ! --length 0:65535").unwrap();
        assert!(l.length.unwrap().invert);
        assert!(!l.length.unwrap().matches(100));
        assert_eq!(s, "-A INPUT -m length ! --length 0:65535");
    }

    #[test]
    fn refusals() {
        for (rule, msg) in [
            ("-m length", "must be specified"),
            ("-m length --length 0:65536", "out of range"),
            ("-m length --length -1:65535", "out of range"),
            ("-m length --length 1:2:3", "Too many components"),
            ("-m length --length 5:a", "near \"a\""),
            ("-m length --length 5 --length 6", "only be used once"),
        ] {
            let e = one(rule).unwrap_err();
            assert!(e.contains(msg), "{rule}: {e}");
        }
    }
}
