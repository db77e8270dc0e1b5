//! `-m tcp`: ports, flags and options of TCP (libxt_tcp, kernel xt_tcpudp).

use super::parse::{parse_port_range, save_range, strtoui};
use super::{no_invert, save_invert, Cx, Extension, Opt};
use crate::iptables::model::{Rule, PROTO_TCP};

/// A port range with its inversion (`-m tcp` and `-m udp`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PortRange {
    pub lo: u16,
    pub hi: u16,
    pub invert: bool,
}

impl PortRange {
    pub fn contains(&self, port: u16) -> bool {
        (self.lo <= port && port <= self.hi) != self.invert
    }
    /// The whole range, inverted or not: iptables 1.8.9 saves nothing for
    /// it (so `! --sport :`, which never matches, prints as no option).
    fn is_full(&self) -> bool {
        self.lo == 0 && self.hi == 65535
    }
}

/// Prints `--sport`/`--dport` as libxt_tcp and libxt_udp save them.
pub(crate) fn save_ports(out: &mut String, opt: &str, r: &Option<PortRange>) {
    if let Some(r) = r {
        if !r.is_full() {
            save_invert(out, r.invert);
            out.push_str(" --");
            out.push_str(opt);
            out.push(' ');
            save_range(out, r.lo, r.hi);
        }
    }
}

/// `--sport`/`--dport` as libxt_tcp reads them (`parse_tcp_ports`).
fn parse_ports(
    slot: &mut Option<PortRange>,
    opt: &str,
    invert: bool,
    arg: &str,
) -> Result<(), String> {
    if slot.is_some() {
        return Err(format!("Only one `--{opt}' allowed"));
    }
    let (lo, hi) = parse_port_range(arg, "tcp")?;
    *slot = Some(PortRange { lo, hi, invert });
    Ok(())
}

/// TCP flag bits and their names in the order iptables prints them.
pub const TCP_FLAGS: [(&str, u8); 6] = [
    ("FIN", 0x01),
    ("SYN", 0x02),
    ("RST", 0x04),
    ("PSH", 0x08),
    ("ACK", 0x10),
    ("URG", 0x20),
];

/// `--tcp-flags MASK COMP`: the flags in `mask` must equal `comp`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TcpFlags {
    pub mask: u8,
    pub comp: u8,
    pub invert: bool,
}

impl TcpFlags {
    pub fn matches(&self, flags: u8) -> bool {
        (flags & self.mask == self.comp) != self.invert
    }
}

pub fn parse_flags(s: &str) -> Result<u8, String> {
    let mut v = 0u8;
    for name in s.split(',') {
        v |= match name.to_ascii_uppercase().as_str() {
            "ALL" => 0x3f,
            "NONE" => 0,
            up => TCP_FLAGS
                .iter()
                .find(|(n, _)| *n == up)
                .map(|(_, b)| *b)
                .ok_or_else(|| format!("Unknown TCP flag `{name}'"))?,
        };
    }
    Ok(v)
}

fn save_flags(out: &mut String, flags: u8) {
    if flags == 0 {
        out.push_str("NONE");
        return;
    }
    let mut first = true;
    for (name, bit) in TCP_FLAGS {
        if flags & bit != 0 {
            if !first {
                out.push(',');
            }
            out.push_str(name);
            first = false;
        }
    }
}

/// The options of `-m tcp`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Tcp {
    pub sport: Option<PortRange>,
    pub dport: Option<PortRange>,
    pub flags: Option<TcpFlags>,
    /// `--tcp-option N`: the packet carries TCP option kind N.
    pub option: Option<(u8, bool)>,
}

impl Extension for Tcp {
    const OPTIONS: &'static [Opt] = &[
        Opt::new("sport", 1),
        Opt::alias("source-port", 1, "sport"),
        Opt::new("dport", 1),
        Opt::alias("destination-port", 1, "dport"),
        Opt::new("syn", 0),
        Opt::new("tcp-flags", 2),
        Opt::new("tcp-option", 1),
    ];

    fn parse(
        &mut self,
        id: &'static str,
        invert: bool,
        args: &[String],
        _: &Cx,
    ) -> Result<(), String> {
        match id {
            "sport" => parse_ports(&mut self.sport, "source-port", invert, &args[0]),
            "dport" => parse_ports(&mut self.dport, "destination-port", invert, &args[0]),
            "syn" | "tcp-flags" => {
                if self.flags.is_some() {
                    return Err("Only one of `--syn' or `--tcp-flags'  allowed".into());
                }
                let (mask, comp) = if id == "syn" {
                    (0x17, 0x02)
                } else {
                    (parse_flags(&args[0])?, parse_flags(&args[1])?)
                };
                self.flags = Some(TcpFlags { mask, comp, invert });
                Ok(())
            }
            "tcp-option" => {
                if self.option.is_some() {
                    return Err("Only one `--tcp-option' allowed".into());
                }
                let v = strtoui(&args[0], 1, 255)
                    .ok_or_else(|| format!("Bad TCP option value \"{}\"", args[0]))?;
                self.option = Some((v as u8, invert));
                Ok(())
            }
            _ => no_invert(id, invert),
        }
    }

    fn finish(&mut self, rule: &Rule, _: &Cx) -> Result<(), String> {
        if !rule.proto_is(PROTO_TCP) {
            return Err("match \"tcp\" is only valid with \"-p tcp\" (not inverted)".into());
        }
        Ok(())
    }

    fn save(&self, out: &mut String) {
        save_ports(out, "sport", &self.sport);
        save_ports(out, "dport", &self.dport);
        if let Some((opt, invert)) = self.option {
            save_invert(out, invert);
            out.push_str(" --tcp-option ");
            out.push_str(&opt.to_string());
        }
        if let Some(f) = self.flags {
            if f.mask != 0 || f.invert {
                save_invert(out, f.invert);
                out.push_str(" --tcp-flags ");
                save_flags(out, f.mask);
                out.push(' ');
                save_flags(out, f.comp);
            }
        }
    }
}
