//! `-m pkttype --pkt-type TYPE`: the link-layer class of the packet's
//! destination address (libxt_pkttype, kernel xt_pkttype: `skb->pkt_type`;
//! a looped-back packet counts as multicast when its IPv4 destination is
//! multicast, else as broadcast).

use super::{once, required, Cx, Extension, Opt};
use crate::iptables::model::Rule;

/// The link-layer packet class (`PACKET_*` of linux/if_packet.h).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PktType {
    /// `unicast` (alias `host`): PACKET_HOST, addressed to this host.
    Unicast,
    /// `broadcast` (alias `bcast`): PACKET_BROADCAST.
    Broadcast,
    /// `multicast` (alias `mcast`): PACKET_MULTICAST.
    Multicast,
    /// `otherhost`: PACKET_OTHERHOST, a frame addressed to another host's
    /// link-layer address (seen in promiscuous mode).
    OtherHost,
}

impl PktType {
    /// The kernel's `PACKET_*` number.
    pub fn kernel_value(self) -> u8 {
        match self {
            PktType::Unicast => 0,
            PktType::Broadcast => 1,
            PktType::Multicast => 2,
            PktType::OtherHost => 3,
        }
    }

    fn name(self) -> &'static str {
        match self {
            PktType::Unicast => "unicast",
            PktType::Broadcast => "broadcast",
            PktType::Multicast => "multicast",
            PktType::OtherHost => "otherhost",
        }
    }
}

/// The options of `-m pkttype`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Pkttype {
    /// The class and whether the match is inverted; `None` only before
    /// parsing is done.
    pub pkt_type: Option<(PktType, bool)>,
}

impl Extension for Pkttype {
    const OPTIONS: &'static [Opt] = &[Opt::new("pkt-type", 1)];

    fn parse(
        &mut self,
        id: &'static str,
        invert: bool,
        args: &[String],
        _: &Cx,
    ) -> Result<(), String> {
        once(&self.pkt_type, id)?;
        let t = match args[0].to_ascii_lowercase().as_str() {
            "unicast" | "host" => PktType::Unicast,
            "broadcast" | "bcast" => PktType::Broadcast,
            "multicast" | "mcast" => PktType::Multicast,
            "otherhost" => PktType::OtherHost,
            _ => return Err(format!("Bad packet type '{}'", args[0])),
        };
        self.pkt_type = Some((t, invert));
        Ok(())
    }

    fn finish(&mut self, _: &Rule, _: &Cx) -> Result<(), String> {
        required(&self.pkt_type, "pkt-type")
    }

    fn save(&self, out: &mut String) {
        if let Some((t, invert)) = self.pkt_type {
            if invert {
                out.push_str(" !");
            }
            out.push_str(" --pkt-type ");
            out.push_str(t.name());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::iptables::ext::testing::{first_match, refused_in};
    use crate::iptables::Match;

    fn one(rule: &str) -> Result<(Pkttype, String), String> {
        first_match!("filter", "INPUT", rule, Match::Pkttype)
    }

    fn err(rule: &str) -> String {
        refused_in("filter", "INPUT", rule)
    }

    #[test]
    fn types_and_aliases() {
        for (arg, t, out) in [
            ("unicast", PktType::Unicast, "unicast"),
            ("host", PktType::Unicast, "unicast"),
            ("BCAST", PktType::Broadcast, "broadcast"),
            ("broadcast", PktType::Broadcast, "broadcast"),
            ("Multicast", PktType::Multicast, "multicast"),
            ("mcast", PktType::Multicast, "multicast"),
            ("OTHERHOST", PktType::OtherHost, "otherhost"),
        ] {
            let (p, s) = one(&format!("-m pkttype --pkt-type {arg}")).unwrap();
            assert_eq!(p.pkt_type, Some((t, false)));
            assert_eq!(s, format!("-A INPUT -m pkttype --pkt-type {out}"));
        }
        let (p, s) = one("-m pkttype ! --pkt-type multicast").unwrap();
        assert_eq!(p.pkt_type, Some((PktType::Multicast, true)));
        assert_eq!(s, "-A INPUT -m pkttype ! --pkt-type multicast");
    }

    #[test]
    fn refusals() {
        for (rule, msg) in [
            ("-m pkttype", "must be specified"),
            ("-m pkttype --pkt-type wrong", "Bad packet type"),
            ("-m pkttype --pkt-type outgoing", "Bad packet type"),
            (
                "-m pkttype --pkt-type host --pkt-type host",
                "only be used once",
            ),
        ] {
            let e = err(rule);
            assert!(e.contains(msg), "{rule}: {e}");
        }
    }
}
