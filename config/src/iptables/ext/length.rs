//! `-m length --length A[:B]`: the IP packet's total length (the IPv4
//! `tot_len` field) within `A..=B` (libxt_length, kernel xt_length).

use super::parse::{save_range, uint_range_opt};
use super::{once, required, Cx, Extension, Opt};
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

impl Extension for Length {
    const OPTIONS: &'static [Opt] = &[Opt::new("length", 1)];

    fn parse(
        &mut self,
        id: &'static str,
        invert: bool,
        args: &[String],
        _: &Cx,
    ) -> Result<(), String> {
        once(&self.length, id)?;
        let (min, max) = uint_range_opt(&args[0], id, u16::MAX.into())?;
        self.length = Some(LengthRange {
            min: min as u16,
            max: max as u16,
            invert,
        });
        Ok(())
    }

    fn finish(&mut self, _: &Rule, _: &Cx) -> Result<(), String> {
        required(&self.length, "length")
    }

    fn save(&self, out: &mut String) {
        if let Some(l) = self.length {
            if l.invert {
                out.push_str(" !");
            }
            out.push_str(" --length ");
            save_range(out, l.min, l.max);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::iptables::ext::testing::{first_match, refused_in};
    use crate::iptables::Match;

    fn one(rule: &str) -> Result<(Length, String), String> {
        first_match!("filter", "INPUT", rule, Match::Length)
    }

    fn err(rule: &str) -> String {
        refused_in("filter", "INPUT", rule)
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
            let e = err(rule);
            assert!(e.contains(msg), "{rule}: {e}");
        }
    }
}
