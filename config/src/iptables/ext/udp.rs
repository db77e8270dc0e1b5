//! `-m udp`: UDP ports (libxt_udp, kernel xt_tcpudp).

use super::tcp::{parse_range, save_range, PortRange};
use super::{no_invert, Cx, Extension, Opt};
use crate::iptables::model::{Rule, PROTO_UDP};

/// The options of `-m udp`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Udp {
    pub sport: Option<PortRange>,
    pub dport: Option<PortRange>,
}

impl Extension for Udp {
    const OPTIONS: &'static [Opt] = &[
        Opt::new("sport", 1),
        Opt::alias("source-port", 1, "sport"),
        Opt::new("dport", 1),
        Opt::alias("destination-port", 1, "dport"),
    ];

    fn parse(
        &mut self,
        id: &'static str,
        invert: bool,
        args: &[String],
        _: &Cx,
    ) -> Result<(), String> {
        match id {
            "sport" => parse_range(&mut self.sport, "source-port", invert, &args[0], "udp"),
            "dport" => parse_range(&mut self.dport, "destination-port", invert, &args[0], "udp"),
            _ => no_invert(id, invert),
        }
    }

    fn finish(&mut self, rule: &Rule, _: &Cx) -> Result<(), String> {
        if !rule.proto_is(PROTO_UDP) {
            return Err("match \"udp\" is only valid with \"-p udp\" (not inverted)".into());
        }
        Ok(())
    }

    fn save(&self, out: &mut String) {
        save_range(out, "sport", &self.sport);
        save_range(out, "dport", &self.dport);
    }
}
