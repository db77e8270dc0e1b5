//! `-m multiport --sports|--dports|--ports LIST`: up to 15 ports or port
//! ranges (libxt_multiport revision 1, kernel xt_multiport.c
//! `multiport_mt` / `ports_match_v1`). Needs `-p` tcp, udp, udplite, sctp
//! or dccp, not inverted; the kernel refuses anything else
//! (`multiport_mt_check`).
//!
//! Kernel semantics: the list is tried in order; the first item containing
//! the port (source, destination, or either for `--ports`) makes the match
//! true, and `!` inverts the result. Fragments after the first never match.
//!
//! The protocol is checked, and service names in the list looked up for
//! it, when the option is read (libxt_multiport's `check_proto`), against
//! the `-p` given before the option: `-m multiport --dports 80 -p tcp` is
//! refused, as by iptables.

use std::fmt::Write as _;

use super::parse::{parse_port, save_range};
use super::{save_invert, Cx, Extension, Opt};
use crate::iptables::model::{ProtoMatch, Rule};

/// At most this many port slots (a range takes two), `XT_MULTI_PORTS`.
pub const MULTI_PORTS: usize = 15;

/// Which port of the packet the list is tested against.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MultiportSide {
    /// `--sports` / `--source-ports`.
    Source,
    /// `--dports` / `--destination-ports`.
    Destination,
    /// `--ports`: source or destination.
    Either,
}

impl MultiportSide {
    fn option(self) -> &'static str {
        match self {
            MultiportSide::Source => "sports",
            MultiportSide::Destination => "dports",
            MultiportSide::Either => "ports",
        }
    }
    /// The name iptables' messages give the option (its first table entry).
    fn long_name(self) -> &'static str {
        match self {
            MultiportSide::Source => "source-ports",
            MultiportSide::Destination => "destination-ports",
            MultiportSide::Either => "ports",
        }
    }
}

/// One item of the list: a single port (`lo == hi`) or a range `lo < hi`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PortItem {
    pub lo: u16,
    pub hi: u16,
}

impl PortItem {
    pub fn contains(&self, port: u16) -> bool {
        self.lo <= port && port <= self.hi
    }
}

/// The options of `-m multiport`: exactly one of the three lists.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Multiport {
    /// Which port is tested (`None` only before parsing).
    pub side: Option<MultiportSide>,
    /// The items, at most [`MULTI_PORTS`] slots with a range counting two.
    pub ports: Vec<PortItem>,
    /// `!` before the option.
    pub invert: bool,
}

impl Multiport {
    /// Whether a packet with these ports matches (after `!`).
    pub fn matches(&self, sport: u16, dport: u16) -> bool {
        let hit = self.ports.iter().any(|p| match self.side {
            Some(MultiportSide::Source) => p.contains(sport),
            Some(MultiportSide::Destination) => p.contains(dport),
            Some(MultiportSide::Either) => p.contains(sport) || p.contains(dport),
            None => false,
        });
        hit != self.invert
    }
}

/// libxt_multiport `check_proto`: the name of the rule's protocol (for
/// service names), which must be given, not inverted, and have ports.
fn check_proto(proto: Option<ProtoMatch>) -> Result<&'static str, String> {
    let only = || "multiport only works with TCP, UDP, UDPLITE, SCTP and DCCP".to_string();
    let Some(p) = proto else {
        return Err(
            "multiport needs `-p tcp', `-p udp', `-p udplite', `-p sctp' or `-p dccp'".into(),
        );
    };
    if p.invert {
        return Err(only());
    }
    match p.proto {
        6 => Ok("tcp"),
        17 => Ok("udp"),
        136 => Ok("udplite"),
        132 => Ok("sctp"),
        33 => Ok("dccp"),
        _ => Err(only()),
    }
}

/// `parse_multi_ports_v1`: comma items, each `PORT` or `PORT:PORT` (first
/// colon splits; the low end strictly below the high end).
fn parse_list(s: &str, proto: &str) -> Result<Vec<PortItem>, String> {
    let mut out = Vec::new();
    let mut slots = 0;
    let mut items = s.split(',');
    for item in items.by_ref() {
        let (a, b) = match item.split_once(':') {
            Some((a, b)) => {
                if slots == MULTI_PORTS - 1 {
                    return Err("too many ports specified".into());
                }
                (a, Some(b))
            }
            None => (item, None),
        };
        let lo = parse_port(a, proto)?;
        let hi = match b {
            Some(b) => {
                let hi = parse_port(b, proto)?;
                if lo >= hi {
                    return Err("invalid portrange specified".into());
                }
                slots += 2;
                hi
            }
            None => {
                slots += 1;
                lo
            }
        };
        out.push(PortItem { lo, hi });
        if slots >= MULTI_PORTS {
            break;
        }
    }
    if items.next().is_some() {
        return Err("too many ports specified".into());
    }
    Ok(out)
}

impl Extension for Multiport {
    const OPTIONS: &'static [Opt] = &[
        Opt::new("source-ports", 1),
        Opt::alias("sports", 1, "source-ports"),
        Opt::new("destination-ports", 1),
        Opt::alias("dports", 1, "destination-ports"),
        Opt::new("ports", 1),
    ];

    fn parse(
        &mut self,
        id: &'static str,
        invert: bool,
        args: &[String],
        cx: &Cx,
    ) -> Result<(), String> {
        let side = match id {
            "source-ports" => MultiportSide::Source,
            "destination-ports" => MultiportSide::Destination,
            _ => MultiportSide::Either,
        };
        if let Some(prev) = self.side {
            if prev == side {
                return Err(format!(
                    "option \"--{}\" can only be used once.",
                    side.long_name()
                ));
            }
            // xtables_options_fcheck names the option of lower id first.
            let (a, b) = if (prev as u8) < (side as u8) {
                (prev, side)
            } else {
                (side, prev)
            };
            return Err(format!(
                "option \"--{}\" cannot be used together with \"--{}\".",
                a.long_name(),
                b.long_name()
            ));
        }
        self.ports = parse_list(&args[0], check_proto(cx.proto)?)?;
        self.side = Some(side);
        self.invert = invert;
        Ok(())
    }

    fn finish(&mut self, _: &Rule, _: &Cx) -> Result<(), String> {
        if self.side.is_none() {
            return Err("multiport expection an option".into());
        }
        Ok(())
    }

    fn save(&self, out: &mut String) {
        let Some(side) = self.side else { return };
        save_invert(out, self.invert);
        let _ = write!(out, " --{} ", side.option());
        for (i, p) in self.ports.iter().enumerate() {
            if i > 0 {
                out.push(',');
            }
            save_range(out, p.lo, p.hi);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::iptables::ext::testing::{first_match, refused_in};
    use crate::iptables::Match;

    fn one(rule: &str) -> Result<(Multiport, String), String> {
        first_match!("filter", "INPUT", rule, Match::Multiport)
    }

    fn err(rule: &str) -> String {
        refused_in("filter", "INPUT", rule)
    }

    #[test]
    fn lists_and_ranges() {
        let (m, s) = one("-p tcp -m multiport --dports ssh,1024:65535").unwrap();
        assert_eq!(m.side, Some(MultiportSide::Destination));
        assert_eq!(
            m.ports,
            vec![
                PortItem { lo: 22, hi: 22 },
                PortItem {
                    lo: 1024,
                    hi: 65535
                }
            ]
        );
        assert!(m.matches(1, 22) && m.matches(1, 2000) && !m.matches(22, 80));
        assert_eq!(s, "-A INPUT -p tcp -m multiport --dports 22,1024:65535");
        let (m, s) = one("-p udp -m multiport ! --source-ports 0x35").unwrap();
        assert!(m.invert && !m.matches(53, 1) && m.matches(54, 53));
        assert_eq!(s, "-A INPUT -p udp -m multiport ! --sports 53");
        let (m, s) = one("-p sctp -m multiport --ports amqp").unwrap();
        assert!(m.matches(1, 5672) && m.matches(5672, 1));
        assert_eq!(s, "-A INPUT -p sctp -m multiport --ports 5672");
        let (_, s) = one("-p 6 -m multiport --destination-ports +80").unwrap();
        assert_eq!(s, "-A INPUT -p tcp -m multiport --dports 80");
    }

    #[test]
    fn fifteen_slots() {
        let (m, _) =
            one("-p tcp -m multiport --ports 1,2,3,4,5,6,7,8,9,10,11,12,13,14,15").unwrap();
        assert_eq!(m.ports.len(), 15);
        let (m, _) =
            one("-p tcp -m multiport --ports 1,2,3,4,5,6,7,8,9,10,11,12,13,14:15").unwrap();
        assert_eq!(m.ports.len(), 14);
        let many = "too many ports specified";
        assert!(
            err("-p tcp -m multiport --ports 1,2,3,4,5,6,7,8,9,10,11,12,13,14,15,16")
                .contains(many)
        );
        assert!(
            err("-p tcp -m multiport --ports 1,2,3,4,5,6,7,8,9,10,11,12,13,14,15:16")
                .contains(many)
        );
        assert!(
            err("-p tcp -m multiport --ports 1:2,3,4,5,6,7,8,9,10,11,12,13,14,15,16")
                .contains(many)
        );
        let (m, _) =
            one("-p tcp -m multiport --ports 1:2,3,4,5,6,7,8,9,10,11,12,13,14,15").unwrap();
        assert_eq!(m.ports.len(), 14);
    }

    #[test]
    fn refusals() {
        assert!(err("-p tcp -m multiport --sports 1024:65536")
            .contains("invalid port/service `65536' specified"));
        assert!(err("-p tcp -m multiport --dports 80:80").contains("invalid portrange specified"));
        assert!(
            err("-p tcp -m multiport --dports 80,").contains("invalid port/service `' specified")
        );
        assert!(err("-p tcp -m multiport --dports 1:2:3")
            .contains("invalid port/service `2:3' specified"));
        assert!(err("-p udp -m multiport --dports ssh")
            .contains("invalid port/service `ssh' specified"));
        assert!(err("-p tcp -m multiport --sports 1 --dports 2").contains(
            "multiport: option \"--source-ports\" cannot be used together with \"--destination-ports\"."
        ));
        assert!(err("-p tcp -m multiport --ports 1 --sports 2")
            .contains("option \"--source-ports\" cannot be used together with \"--ports\"."));
        assert!(err("-p tcp -m multiport --dports 1 --dports 2")
            .contains("option \"--destination-ports\" can only be used once."));
        assert!(err("-m multiport --dports 80").contains("multiport needs `-p tcp'"));
        // The protocol counts when the option is read, as in iptables.
        assert!(err("-m multiport --dports 80 -p tcp").contains("multiport needs `-p tcp'"));
        assert!(err("-m multiport ! --dports 80 ! -p tcp").contains("multiport needs"));
        assert!(err("-p icmp -m multiport --dports 80 -p tcp").contains("only works with TCP"));
        assert!(err("-p icmp -m multiport --dports 80")
            .contains("multiport only works with TCP, UDP, UDPLITE, SCTP and DCCP"));
        assert!(err("! -p tcp -m multiport --dports 80").contains("only works with TCP"));
        assert!(err("-p tcp -m multiport").contains("multiport expection an option"));
    }
}
