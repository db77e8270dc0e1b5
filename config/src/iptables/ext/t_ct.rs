//! `-j CT` and `-j NOTRACK`: how connection tracking treats the packet
//! (libxt_CT revision 2, kernel xt_CT.c). Both only in table raw (the
//! kernel's `.table = "raw"`; raw has only PREROUTING and OUTPUT, the hooks
//! CT is allowed in).
//!
//! sluice supports `--notrack`, the conntrack zone options and the event
//! masks. It refuses `--helper` (sluice has no connection tracking helpers)
//! and `--timeout` (it has no timeout policy objects). `-j NOTRACK` is
//! libxt_CT's alias for `-j CT --notrack`; iptables-save prints it back as
//! `-j NOTRACK`.

use std::fmt::Write as _;

use super::parse::strtoui;
use super::{check_table, Cx, Extension, Given, Opt};
use crate::iptables::model::{HookMask, Rule, TableKind};

/// Conntrack events by name, in the order iptables prints them, with their
/// kernel bit numbers (`enum ip_conntrack_events`).
pub const CT_EVENTS: [(&str, u32); 10] = [
    ("new", 0),
    ("related", 1),
    ("destroy", 2),
    ("reply", 3),
    ("assured", 4),
    ("protoinfo", 5),
    ("helper", 6),
    ("mark", 7),
    ("natseqinfo", 8),
    ("secmark", 9),
];

/// Expectation events by name (`enum ip_conntrack_expect_events`).
pub const EXP_EVENTS: [(&str, u32); 1] = [("new", 0)];

/// The conntrack zone a connection is tracked in (`--zone`, `--zone-orig`,
/// `--zone-reply`): connections in different zones never match each other,
/// even with equal tuples.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct CtZone {
    /// The zone number (unused when `from_mark`).
    pub id: u16,
    /// `mark`: the zone is the packet's mark (its low 16 bits).
    pub from_mark: bool,
    /// `--zone-orig`: the zone applies to the original direction.
    pub orig: bool,
    /// `--zone-reply`: the zone applies to the reply direction. Neither or
    /// both of `orig`/`reply`: both directions.
    pub reply: bool,
}

impl CtZone {
    /// The zone of a packet with mark `mark`.
    pub fn zone_for(&self, mark: u32) -> u16 {
        if self.from_mark {
            mark as u16
        } else {
            self.id
        }
    }

    /// Whether the zone applies to the (original, reply) directions.
    pub fn directions(&self) -> (bool, bool) {
        if self.orig == self.reply {
            (true, true)
        } else {
            (self.orig, self.reply)
        }
    }

    fn is_default(&self) -> bool {
        !self.from_mark && self.id == 0
    }
}

/// `-j CT`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Ct {
    /// `--notrack`: the packet is not tracked at all (it overrides the
    /// other options).
    pub notrack: bool,
    pub zone: CtZone,
    /// `--ctevents`: bit `1 << n` for each event number of [`CT_EVENTS`]
    /// to report for the connection (0: all). sluice reports no conntrack
    /// events, so this only round-trips.
    pub ct_events: u32,
    /// `--expevents`: as `ct_events`, for [`EXP_EVENTS`].
    pub exp_events: u32,
    given: Given,
}

fn parse_events(table: &[(&str, u32)], s: &str) -> Result<u32, String> {
    let mut mask = 0u32;
    for name in s.split(',') {
        let bit = table
            .iter()
            .find(|(n, _)| *n == name)
            .map(|(_, b)| *b)
            .ok_or_else(|| format!("Unknown event type \"{name}\""))?;
        mask |= 1 << bit;
    }
    Ok(mask)
}

fn save_events(out: &mut String, opt: &str, table: &[(&str, u32)], mask: u32) {
    let _ = write!(out, " --{opt} ");
    let mut sep = "";
    for (name, bit) in table {
        if mask & (1 << bit) != 0 {
            let _ = write!(out, "{sep}{name}");
            sep = ",";
        }
    }
}

impl Extension for Ct {
    const OPTIONS: &'static [Opt] = &[
        Opt::new("notrack", 0),
        Opt::new("helper", 1),
        Opt::new("timeout", 1),
        Opt::new("ctevents", 1),
        Opt::new("expevents", 1),
        Opt::new("zone-orig", 1),
        Opt::new("zone-reply", 1),
        Opt::new("zone", 1),
    ];

    fn parse(
        &mut self,
        id: &'static str,
        invert: bool,
        args: &[String],
        _: &Cx,
    ) -> Result<(), String> {
        self.given.take(Self::OPTIONS, id, invert)?;
        match id {
            "notrack" => self.notrack = true,
            "helper" => {
                return Err(format!(
                    "--helper {} is not supported by sluice: it has no connection tracking helpers",
                    args[0]
                ))
            }
            "timeout" => {
                return Err(format!(
                    "--timeout {} is not supported by sluice: it has no conntrack timeout policies",
                    args[0]
                ))
            }
            "ctevents" => self.ct_events = parse_events(&CT_EVENTS, &args[0])?,
            "expevents" => self.exp_events = parse_events(&EXP_EVENTS, &args[0])?,
            _ => {
                // Flags accumulate; the number is replaced (libxt_CT
                // `ct_parse_zone_id`).
                match id {
                    "zone-orig" => self.zone.orig = true,
                    "zone-reply" => self.zone.reply = true,
                    _ => {}
                }
                let arg = &args[0];
                self.zone.id = 0;
                if arg.eq_ignore_ascii_case("mark") {
                    self.zone.from_mark = true;
                } else {
                    self.zone.id = strtoui(arg, 0, u16::MAX as u64)
                        .ok_or_else(|| format!("Cannot parse {arg} as a zone ID"))?
                        as u16;
                }
            }
        }
        Ok(())
    }

    fn finish(&mut self, _: &Rule, _: &Cx) -> Result<(), String> {
        Ok(())
    }

    fn save(&self, out: &mut String) {
        if self.notrack {
            out.push_str(" --notrack");
        }
        if self.ct_events != 0 {
            save_events(out, "ctevents", &CT_EVENTS, self.ct_events);
        }
        if self.exp_events != 0 {
            save_events(out, "expevents", &EXP_EVENTS, self.exp_events);
        }
        let z = &self.zone;
        if !z.is_default() {
            out.push_str(" --zone");
            match (z.orig, z.reply) {
                (true, false) => out.push_str("-orig"),
                (false, true) => out.push_str("-reply"),
                _ => {}
            }
            if z.from_mark {
                out.push_str(" mark");
            } else {
                let _ = write!(out, " {}", z.id);
            }
        }
    }

    fn check_hooks(&self, table: TableKind, _: HookMask) -> Result<(), String> {
        check_table(table, TableKind::Raw)
    }
}

/// `-j NOTRACK`: the packet is not tracked (same as `-j CT --notrack`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Notrack;

impl Extension for Notrack {
    const OPTIONS: &'static [Opt] = &[];

    fn parse(&mut self, id: &'static str, _: bool, _: &[String], _: &Cx) -> Result<(), String> {
        Err(format!("unknown option \"--{id}\""))
    }

    fn finish(&mut self, _: &Rule, _: &Cx) -> Result<(), String> {
        Ok(())
    }

    fn save(&self, _: &mut String) {}

    fn check_hooks(&self, table: TableKind, _: HookMask) -> Result<(), String> {
        check_table(table, TableKind::Raw)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::iptables::ext::testing::{assert_table_only, rule_in};
    use crate::iptables::model::Target;
    use crate::iptables::TargetExt;

    fn canon_in(table: &str, chain: &str, rule: &str) -> Result<(Target, String), String> {
        rule_in(table, chain, rule).map(|(r, line)| (r.target, line))
    }

    fn ct(rule: &str) -> Result<(Ct, String), String> {
        let (t, line) = canon_in("raw", "PREROUTING", &format!("-j CT {rule}"))?;
        let Target::Ext(TargetExt::Ct(c)) = t else {
            panic!("not CT: {t:?}")
        };
        Ok((
            c,
            line.trim_start_matches("-A PREROUTING -j CT").to_string(),
        ))
    }

    #[test]
    fn saves_as_iptables() {
        for (rule, want) in [
            ("", ""),
            ("--notrack", " --notrack"),
            ("--notr", " --notrack"),
            ("--zone 0", ""),
            ("--zone 5", " --zone 5"),
            ("--zone 65535", " --zone 65535"),
            ("--zone 0x10", " --zone 16"),
            ("--zone-orig 5", " --zone-orig 5"),
            ("--zone-reply 5", " --zone-reply 5"),
            ("--zone-orig 5 --zone-reply 6", " --zone 6"),
            ("--zone-orig 5 --zone 6", " --zone-orig 6"),
            ("--zone-orig 0 --zone-reply 0", ""),
            ("--zone MARK", " --zone mark"),
            ("--zone-orig mark", " --zone-orig mark"),
            ("--zone-orig mark --zone-reply 5", " --zone mark"),
            ("--notrack --zone 3", " --notrack --zone 3"),
            (
                "--ctevents new,related,destroy,reply,assured,protoinfo,helper,mark",
                " --ctevents new,related,destroy,reply,assured,protoinfo,helper,mark",
            ),
            ("--ctevents secmark,new,new", " --ctevents new,secmark"),
            ("--expevents new", " --expevents new"),
            (
                "--zone 2 --expevents new --ctevents mark --notrack",
                " --notrack --ctevents mark --expevents new --zone 2",
            ),
        ] {
            let (_, line) = ct(rule).unwrap_or_else(|e| panic!("{rule}: {e}"));
            assert_eq!(line, want, "{rule}");
        }
    }

    #[test]
    fn typed_fields() {
        let (c, _) = ct("--notrack --zone-reply mark --ctevents new,mark").unwrap();
        assert!(c.notrack);
        assert_eq!(
            c.zone,
            CtZone {
                id: 0,
                from_mark: true,
                orig: false,
                reply: true
            }
        );
        assert_eq!(c.zone.zone_for(0x1_0007), 7);
        assert_eq!(c.zone.directions(), (false, true));
        assert_eq!(c.ct_events, 1 | 1 << 7);
        let (c, _) = ct("--zone 9").unwrap();
        assert_eq!((c.zone.zone_for(3), c.zone.directions()), (9, (true, true)));
    }

    #[test]
    fn notrack_alias() {
        let (t, line) = canon_in("raw", "OUTPUT", "-j NOTRACK").unwrap();
        assert_eq!(t, Target::Ext(TargetExt::Notrack(Notrack)));
        assert_eq!(line, "-A OUTPUT -j NOTRACK");
        assert!(canon_in("raw", "FOO", "-j NOTRACK").is_ok());
        let e = canon_in("raw", "OUTPUT", "-j NOTRACK --notrack").unwrap_err();
        assert!(e.contains("unknown option \"--notrack\""), "{e}");
    }

    #[test]
    fn raw_table_only() {
        assert_table_only("raw", "-j CT --notrack");
        assert_table_only("raw", "-j NOTRACK");
    }

    #[test]
    fn refusals() {
        for (rule, msg) in [
            ("--zone 65536", "Cannot parse 65536 as a zone ID"),
            ("--zone -1", "Cannot parse -1 as a zone ID"),
            ("--zone mar", "Cannot parse mar as a zone ID"),
            (
                "--zone 1 --zone 2",
                "option \"--zone\" can only be used once",
            ),
            (
                "--notrack --notrack",
                "option \"--notrack\" can only be used once",
            ),
            ("! --notrack", "option \"--notrack\" cannot be inverted"),
            ("--ctevents foo", "Unknown event type \"foo\""),
            ("--ctevents NEW", "Unknown event type \"NEW\""),
            ("--ctevents new,", "Unknown event type \"\""),
            ("--expevents destroy", "Unknown event type \"destroy\""),
            ("--ctevents new --ctevents mark", "can only be used once"),
            ("--helper ftp", "no connection tracking helpers"),
            ("--timeout x", "no conntrack timeout policies"),
            ("--zo 3", "ambiguous"),
        ] {
            match ct(rule) {
                Ok(x) => panic!("accepted: {rule}: {x:?}"),
                Err(e) => assert!(e.contains(msg), "{rule}: {e}"),
            }
        }
    }
}
