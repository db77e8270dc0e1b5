//! `-m eui64`: the packet's IPv6 source address has the interface
//! identifier EUI-64 derives from the frame's source MAC address
//! (libip6t_eui64, kernel ip6t_eui64). No options. Like `-m mac` it needs
//! a received frame: the kernel allows it from PREROUTING, INPUT and
//! FORWARD only.

use super::mac::MAC_HOOKS;
use super::{check_hook_mask, Cx, Extension, Opt};
use crate::iptables::model::{HookMask, Rule, TableKind};

/// `-m eui64`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Eui64;

impl Extension for Eui64 {
    const OPTIONS: &'static [Opt] = &[];

    fn parse(&mut self, id: &'static str, _: bool, _: &[String], _: &Cx) -> Result<(), String> {
        Err(format!("unknown option \"--{id}\""))
    }

    fn finish(&mut self, _: &Rule, _: &Cx) -> Result<(), String> {
        Ok(())
    }

    fn save(&self, _: &mut String) {}

    fn check_hooks(&self, _: TableKind, hooks: HookMask) -> Result<(), String> {
        check_hook_mask(hooks, &MAC_HOOKS, "valid").map_err(|e| {
            format!("{e} (the frame's source address is only known for received packets)")
        })
    }
}

#[cfg(test)]
mod tests {
    use crate::iptables::ext::testing::rule6_in;

    #[test]
    fn received_frames_only() {
        // As ip6tables-legacy-restore 1.8.9 took or refused each (Debian 12).
        for chain in ["INPUT", "FORWARD"] {
            let (_, line) = rule6_in("filter", chain, "-i eth0 -m eui64").unwrap();
            assert_eq!(line, format!("-A {chain} -i eth0 -m eui64"));
        }
        let e = rule6_in("filter", "OUTPUT", "-m eui64").unwrap_err();
        assert!(e.contains("only valid from"), "{e}");
        let e = rule6_in("filter", "INPUT", "-m eui64 --foo").unwrap_err();
        assert!(e.contains("unknown option \"--foo\""), "{e}");
    }
}
