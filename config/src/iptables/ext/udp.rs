//! `-m udp`: UDP ports (libxt_udp with the guided option parser of
//! iptables 1.8.9, kernel xt_tcpudp): `--sport`/`--dport` are XTTYPE_PORTRC
//! ranges, read as the conntrack tuple ports are (decimal numbers or
//! service names, no order check: `4:3` loads and never matches).

use super::parse::port_range_opt;
use super::tcp::{save_ports, PortRange};
use super::{once, Cx, Extension, Opt};
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
        // iptables names them by their first table entry.
        let (slot, name) = if id == "sport" {
            (&mut self.sport, "source-port")
        } else {
            (&mut self.dport, "destination-port")
        };
        once(slot, name)?;
        let (lo, hi) = port_range_opt(&args[0], name)?;
        *slot = Some(PortRange { lo, hi, invert });
        Ok(())
    }

    fn finish(&mut self, rule: &Rule, _: &Cx) -> Result<(), String> {
        if !rule.proto_is(PROTO_UDP) {
            return Err("match \"udp\" is only valid with \"-p udp\" (not inverted)".into());
        }
        Ok(())
    }

    fn save(&self, out: &mut String) {
        save_ports(out, "sport", &self.sport);
        save_ports(out, "dport", &self.dport);
    }
}
