//! `-m mac --mac-source XX:XX:XX:XX:XX:XX`: the Ethernet source address of
//! a received frame (libxt_mac, kernel xt_mac: only on hooks that see a
//! received frame, PREROUTING, INPUT and FORWARD).

use std::fmt::Write as _;

use super::{check_hook_mask, once, required, Cx, Extension, Opt};
use crate::iptables::model::{Hook, HookMask, Rule, TableKind};

/// `--mac-source`: the address and its inversion.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MacSource {
    pub addr: [u8; 6],
    pub invert: bool,
}

/// The options of `-m mac`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Mac {
    /// Required; `None` only before parsing is done.
    pub source: Option<MacSource>,
}

/// Hooks xt_mac registers for.
pub(crate) const MAC_HOOKS: [Hook; 3] = [Hook::Prerouting, Hook::Input, Hook::Forward];

/// One byte as libxtables reads it with `strtoul(s, &end, 16)` and at most
/// two characters consumed: empty (0), one or two hex digits, or a sign or
/// blank followed by one hex digit (`-1` wraps to 0xff).
fn mac_byte(s: &str) -> Option<u8> {
    let b = s.as_bytes();
    let hex = |c: u8| (c as char).to_digit(16).map(|d| d as u8);
    match b {
        [] => Some(0),
        [a] => hex(*a),
        [a, c] => match (*a, hex(*c)) {
            (b'-', Some(d)) => Some(d.wrapping_neg()),
            (b'+' | b' ' | b'\t' | b'\n' | b'\x0b' | b'\x0c' | b'\r', Some(d)) => Some(d),
            (a, Some(d)) => hex(a).map(|h| h << 4 | d),
            _ => None,
        },
        _ => None,
    }
}

/// libxtables `xtopt_parse_ethermac`: six colon-separated bytes.
pub(crate) fn parse_mac(s: &str) -> Option<[u8; 6]> {
    let parts: Vec<&str> = s.split(':').collect();
    if parts.len() != 6 {
        return None;
    }
    let mut mac = [0u8; 6];
    for (m, p) in mac.iter_mut().zip(parts) {
        *m = mac_byte(p)?;
    }
    Some(mac)
}

impl Extension for Mac {
    const OPTIONS: &'static [Opt] = &[Opt::new("mac-source", 1)];

    fn parse(
        &mut self,
        id: &'static str,
        invert: bool,
        args: &[String],
        _: &Cx,
    ) -> Result<(), String> {
        once(&self.source, id)?;
        let addr = parse_mac(&args[0])
            .ok_or_else(|| format!("Invalid MAC address specified: \"{}\"", args[0]))?;
        self.source = Some(MacSource { addr, invert });
        Ok(())
    }

    fn finish(&mut self, _: &Rule, _: &Cx) -> Result<(), String> {
        required(&self.source, "mac-source")
    }

    fn save(&self, out: &mut String) {
        if let Some(m) = self.source {
            if m.invert {
                out.push_str(" !");
            }
            out.push_str(" --mac-source ");
            for (i, b) in m.addr.iter().enumerate() {
                if i > 0 {
                    out.push(':');
                }
                let _ = write!(out, "{b:02x}");
            }
        }
    }

    fn check_hooks(&self, _: TableKind, hooks: HookMask) -> Result<(), String> {
        check_hook_mask(hooks, &MAC_HOOKS, "valid").map_err(|e| {
            format!("{e} (the frame's source address is only known for received packets)")
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::iptables::ext::testing::first_match;
    use crate::iptables::Match;

    use crate::iptables::parse;
    use std::path::Path;

    fn run(table: &str, chain: &str, rule: &str) -> Result<(Mac, String), String> {
        first_match!(table, chain, rule, Match::Mac)
    }

    #[test]
    fn addresses() {
        for (arg, addr, out) in [
            (
                "42:01:02:03:04:05",
                [0x42, 1, 2, 3, 4, 5],
                "42:01:02:03:04:05",
            ),
            (
                "aa:BB:cc:0d:e:f",
                [0xaa, 0xbb, 0xcc, 0x0d, 0x0e, 0x0f],
                "aa:bb:cc:0d:0e:0f",
            ),
            (":::::", [0; 6], "00:00:00:00:00:00"),
            ("-1:+2:3:4:5:6", [0xff, 2, 3, 4, 5, 6], "ff:02:03:04:05:06"),
        ] {
            let (m, s) = run("filter", "INPUT", &format!("-m mac --mac-source {arg}")).unwrap();
            assert_eq!(
                m.source,
                Some(MacSource {
                    addr,
                    invert: false
                }),
                "{arg}"
            );
            assert_eq!(s, format!("-A INPUT -m mac --mac-source {out}"));
        }
        let (_, s) = run("filter", "FORWARD", "-m mac ! --mac-source 1:2:3:4:5:6").unwrap();
        assert_eq!(s, "-A FORWARD -m mac ! --mac-source 01:02:03:04:05:06");
        assert!(run("nat", "INPUT", "-m mac --mac-source 1:2:3:4:5:6").is_ok());
        assert!(run("nat", "PREROUTING", "-m mac --mac-source 1:2:3:4:5:6").is_ok());
    }

    #[test]
    fn refusals() {
        for (table, chain, rule, msg) in [
            ("filter", "INPUT", "-m mac", "must be specified"),
            (
                "filter",
                "INPUT",
                "-m mac --mac-source 42:01:02:03:04",
                "Invalid MAC",
            ),
            (
                "filter",
                "INPUT",
                "-m mac --mac-source 42:01:02:03:04:05:06",
                "Invalid MAC",
            ),
            (
                "filter",
                "INPUT",
                "-m mac --mac-source 0x1:2:3:4:5:6",
                "Invalid MAC",
            ),
            (
                "filter",
                "INPUT",
                "-m mac --mac-source 001:2:3:4:5:6",
                "Invalid MAC",
            ),
            (
                "filter",
                "INPUT",
                "-m mac --mac-source 1:2:3:4:5:6 --mac-source 1:2:3:4:5:6",
                "once",
            ),
            (
                "filter",
                "OUTPUT",
                "-m mac --mac-source 1:2:3:4:5:6",
                "used from hooks OUTPUT",
            ),
            (
                "nat",
                "POSTROUTING",
                "-m mac --mac-source 1:2:3:4:5:6",
                "POSTROUTING",
            ),
        ] {
            let e = run(table, chain, rule).unwrap_err();
            assert!(e.contains(msg), "{rule}: {e}");
        }
    }

    #[test]
    fn user_chain_reached_from_output_is_refused() {
        let text =
            "*filter\n:X - [0:0]\n-A OUTPUT -j X\n-A X -m mac --mac-source 1:2:3:4:5:6\nCOMMIT\n";
        assert!(parse(text, Path::new("t")).is_err());
        let text = "*filter\n:X - [0:0]\n-A X -m mac --mac-source 1:2:3:4:5:6\nCOMMIT\n";
        assert!(parse(text, Path::new("t")).is_ok());
    }
}
