//! `-m set --match-set NAME DIR[,DIR...]`: membership of the packet in an
//! ipset (libxt_set revision 4, kernel xt_set).
//!
//! The kernel refuses a rule naming a set that does not exist. Rules are
//! parsed without knowing the sets, so any name is accepted here and
//! recorded in [`SetRef::name`]; the appliance check cross-checks it against
//! the sets file.

use std::fmt::Write as _;

use super::parse::strtoui;
use super::{Cx, Extension, Opt};
use crate::iptables::model::Rule;

/// Longest set name (`IPSET_MAXNAMELEN - 1`).
pub const MAX_SET_NAME: usize = 31;
/// Most directions one lookup may give (`IPSET_DIM_MAX`).
pub const MAX_DIM: usize = 6;

/// Which address/port of the packet fills one dimension of the lookup.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SetDir {
    /// `src`: the source address (or port, for a port dimension).
    Src,
    /// `dst`: the destination.
    Dst,
}

/// `--match-set NAME DIRS`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SetRef {
    /// The set, looked up by name when the rule is loaded.
    pub name: String,
    /// One direction per dimension of the set's type, in order (1..=6).
    pub dirs: Vec<SetDir>,
    /// `!`: the match is inverted.
    pub invert: bool,
}

/// A comparison of the matched element's packet or byte counter.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CounterCmp {
    /// `--packets-eq N`
    Eq(u64),
    /// `! --packets-eq N`
    Ne(u64),
    /// `--packets-lt N`
    Lt(u64),
    /// `--packets-gt N`
    Gt(u64),
}

impl CounterCmp {
    pub fn matches(self, v: u64) -> bool {
        match self {
            CounterCmp::Eq(n) => v == n,
            CounterCmp::Ne(n) => v != n,
            CounterCmp::Lt(n) => v < n,
            CounterCmp::Gt(n) => v > n,
        }
    }
}

/// The options of `-m set`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Set {
    /// Required; `None` only before parsing is done.
    pub match_set: Option<SetRef>,
    /// `--return-nomatch`: an element stored with `nomatch` makes the
    /// lookup match (instead of not matching).
    pub return_nomatch: bool,
    /// `! --update-counters`: do not update the matched element's counters.
    pub skip_counter_update: bool,
    /// `! --update-subcounters`: do not update counters of the member sets
    /// of a list:set.
    pub skip_subcounter_update: bool,
    /// `--packets-eq/lt/gt`: condition on the element's packet counter.
    pub packets: Option<CounterCmp>,
    /// `--bytes-eq/lt/gt`: condition on the element's byte counter.
    pub bytes: Option<CounterCmp>,
}

/// libxt_set `parse_dirs`: up to six comma-separated words, each starting
/// with `src` or `dst` (only the first three letters are compared).
fn parse_dirs(arg: &str) -> Result<Vec<SetDir>, String> {
    let mut dirs = Vec::new();
    for (i, word) in arg.split(',').enumerate() {
        if i == MAX_DIM {
            return Err(format!("Can't be more src/dst options than {MAX_DIM}."));
        }
        dirs.push(if word.starts_with("src") {
            SetDir::Src
        } else if word.starts_with("dst") {
            SetDir::Dst
        } else {
            return Err("You must spefify (the comma separated list of) 'src' or 'dst'.".into());
        });
    }
    Ok(dirs)
}

fn save_counter(out: &mut String, name: &str, c: &Option<CounterCmp>) {
    let _ = match c {
        Some(CounterCmp::Eq(n)) => write!(out, " --{name}-eq {n}"),
        Some(CounterCmp::Ne(n)) => write!(out, " ! --{name}-eq {n}"),
        Some(CounterCmp::Lt(n)) => write!(out, " --{name}-lt {n}"),
        Some(CounterCmp::Gt(n)) => write!(out, " --{name}-gt {n}"),
        None => Ok(()),
    };
}

impl Extension for Set {
    const OPTIONS: &'static [Opt] = &[
        Opt::new("match-set", 2),
        // Deprecated spelling of --match-set (iptables warns and goes on).
        Opt::new("set", 2),
        Opt::new("return-nomatch", 0),
        Opt::new("update-counters", 0),
        Opt::new("update-subcounters", 0),
        Opt::new("packets-eq", 1),
        Opt::new("packets-lt", 1),
        Opt::new("packets-gt", 1),
        Opt::new("bytes-eq", 1),
        Opt::new("bytes-lt", 1),
        Opt::new("bytes-gt", 1),
    ];

    fn parse(
        &mut self,
        id: &'static str,
        invert: bool,
        args: &[String],
        _: &Cx,
    ) -> Result<(), String> {
        match id {
            "match-set" | "set" => {
                if self.match_set.is_some() {
                    return Err("--match-set can be specified only once".into());
                }
                let (name, dirs) = (&args[0], &args[1]);
                if dirs.starts_with(['-', '!']) {
                    return Err("--match-set requires two args.".into());
                }
                if name.len() > MAX_SET_NAME {
                    return Err(format!(
                        "setname `{name}' too long, max {MAX_SET_NAME} characters."
                    ));
                }
                let dirs = parse_dirs(dirs)?;
                self.match_set = Some(SetRef {
                    name: name.clone(),
                    dirs,
                    invert,
                });
            }
            "return-nomatch" => {
                if invert {
                    return Err("--return-nomatch flag cannot be inverted".into());
                }
                self.return_nomatch = true;
            }
            "update-counters" => self.skip_counter_update |= invert,
            "update-subcounters" => self.skip_subcounter_update |= invert,
            _ => {
                let (what, op) = id.split_once('-').unwrap_or((id, ""));
                let slot = if what == "packets" {
                    &mut self.packets
                } else {
                    &mut self.bytes
                };
                if slot.is_some() {
                    return Err(format!("only one of the --{what}-[eq|lt|gt] is allowed"));
                }
                if invert && op != "eq" {
                    return Err(format!("--{id} option cannot be inverted"));
                }
                let n = strtoui(&args[0], 0, u64::MAX)
                    .ok_or_else(|| format!("Cannot parse {} as a counter value", args[0]))?;
                *slot = Some(match (op, invert) {
                    ("eq", false) => CounterCmp::Eq(n),
                    ("eq", true) => CounterCmp::Ne(n),
                    ("lt", _) => CounterCmp::Lt(n),
                    _ => CounterCmp::Gt(n),
                });
            }
        }
        Ok(())
    }

    fn finish(&mut self, _: &Rule, _: &Cx) -> Result<(), String> {
        if self.match_set.is_none() {
            return Err("You must specify `--match-set' with proper arguments".into());
        }
        Ok(())
    }

    fn save(&self, out: &mut String) {
        if let Some(m) = &self.match_set {
            if m.invert {
                out.push_str(" !");
            }
            out.push_str(" --match-set ");
            out.push_str(&m.name);
            for (i, d) in m.dirs.iter().enumerate() {
                out.push(if i == 0 { ' ' } else { ',' });
                out.push_str(match d {
                    SetDir::Src => "src",
                    SetDir::Dst => "dst",
                });
            }
        }
        if self.return_nomatch {
            out.push_str(" --return-nomatch");
        }
        if self.skip_counter_update {
            out.push_str(" ! --update-counters");
        }
        if self.skip_subcounter_update {
            out.push_str(" ! --update-subcounters");
        }
        save_counter(out, "packets", &self.packets);
        save_counter(out, "bytes", &self.bytes);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::iptables::ext::testing::{first_match, refused_in};
    use crate::iptables::Match;

    fn one(rule: &str) -> Result<(Set, String), String> {
        first_match!("filter", "INPUT", rule, Match::Set)
    }

    fn err(rule: &str) -> String {
        refused_in("filter", "INPUT", rule)
    }

    #[test]
    fn match_set() {
        let (s, line) = one("-m set ! --match-set foo src,dstx,src").unwrap();
        let m = s.match_set.unwrap();
        assert_eq!(m.name, "foo");
        assert_eq!(m.dirs, vec![SetDir::Src, SetDir::Dst, SetDir::Src]);
        assert!(m.invert);
        assert_eq!(line, "-A INPUT -m set ! --match-set foo src,dst,src");
        let (_, line) = one("-m set --set bar dst").unwrap();
        assert_eq!(line, "-A INPUT -m set --match-set bar dst");
    }

    #[test]
    fn flags_and_counters() {
        let (s, line) = one(
            "-m set --bytes-gt 0x10 ! --packets-eq 5 ! --update-subcounters --update-counters ! --update-counters --return-nomatch --match-set foo src",
        )
        .unwrap();
        assert!(s.return_nomatch && s.skip_counter_update && s.skip_subcounter_update);
        assert_eq!(s.packets, Some(CounterCmp::Ne(5)));
        assert_eq!(s.bytes, Some(CounterCmp::Gt(16)));
        assert_eq!(
            line,
            "-A INPUT -m set --match-set foo src --return-nomatch ! --update-counters ! --update-subcounters ! --packets-eq 5 --bytes-gt 16"
        );
        let (s, line) =
            one("-m set --match-set foo src --update-counters --packets-lt 18446744073709551615")
                .unwrap();
        assert!(!s.skip_counter_update);
        assert_eq!(
            line,
            "-A INPUT -m set --match-set foo src --packets-lt 18446744073709551615"
        );
    }

    #[test]
    fn refusals() {
        for (rule, msg) in [
            ("-m set", "You must specify `--match-set'"),
            ("-m set --return-nomatch", "You must specify `--match-set'"),
            ("-m set --match-set foo", "requires an argument"),
            (
                "-m set --match-set foo --return-nomatch",
                "requires two args",
            ),
            (
                "-m set --match-set foo src --match-set bar dst",
                "only once",
            ),
            ("-m set --match-set foo sr", "'src' or 'dst'"),
            (
                "-m set --match-set foo src,src,src,src,src,src,src",
                "more src/dst options than 6",
            ),
            (
                "-m set --match-set 0123456789abcdef0123456789abcdef src",
                "too long",
            ),
            (
                "-m set --match-set foo src ! --return-nomatch",
                "cannot be inverted",
            ),
            (
                "-m set --match-set foo src ! --packets-gt 1",
                "cannot be inverted",
            ),
            (
                "-m set --match-set foo src ! --bytes-lt 1",
                "cannot be inverted",
            ),
            (
                "-m set --match-set foo src --bytes-lt 1 --bytes-eq 2",
                "only one of the --bytes",
            ),
            ("-m set --match-set foo src --packets-eq x", "counter value"),
        ] {
            let e = err(rule);
            assert!(e.contains(msg), "{rule}: {e}");
        }
    }
}
