//! `-j TCPMSS`: rewrites the MSS option of TCP SYN packets (libxt_TCPMSS,
//! kernel xt_TCPMSS.c). Any table; the kernel requires `-p tcp` and a
//! `-m tcp` whose `--tcp-flags` comparison has SYN set (not inverted), and
//! allows `--clamp-mss-to-pmtu` only from FORWARD, OUTPUT and POSTROUTING.

use std::fmt::Write as _;

use super::parse::uint_opt;
use super::{Cx, Extension, Given, Match, Opt};
use crate::iptables::model::{Hook, HookMask, Rule, TableKind, PROTO_TCP};

/// Largest `--set-mss` iptables takes for IPv4 (65535 - 20).
pub const MAX_MSS: u16 = 65515;

/// What TCPMSS writes into the MSS option.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TcpmssAction {
    /// `--set-mss N`: the MSS becomes N (only ever lowered, as the kernel
    /// does).
    Set(u16),
    /// `--clamp-mss-to-pmtu`: the MSS becomes the route's path MTU minus
    /// the IP and TCP headers (40), if lower.
    ClampToPmtu,
}

/// `-j TCPMSS`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Tcpmss {
    /// The action; `None` only before an option is read (a rule without one
    /// is refused). When both options are given the last one wins, as in
    /// iptables.
    pub action: Option<TcpmssAction>,
    given: Given,
}

/// Whether `m` is a `-m tcp` that only matches SYN packets (the kernel's
/// `find_syn_match`: SYN in the comparison flags, not inverted).
fn is_syn_match(m: &Match) -> bool {
    matches!(m, Match::Tcp(t) if t.flags.is_some_and(|f| f.comp & 0x02 != 0 && !f.invert))
}

impl Extension for Tcpmss {
    const OPTIONS: &'static [Opt] = &[Opt::new("set-mss", 1), Opt::new("clamp-mss-to-pmtu", 0)];

    fn parse(
        &mut self,
        id: &'static str,
        invert: bool,
        args: &[String],
        _: &Cx,
    ) -> Result<(), String> {
        self.given.take(Self::OPTIONS, id, invert)?;
        self.action = Some(if id == "set-mss" {
            TcpmssAction::Set(uint_opt(&args[0], id, 0, MAX_MSS as u64)? as u16)
        } else {
            TcpmssAction::ClampToPmtu
        });
        Ok(())
    }

    fn finish(&mut self, rule: &Rule, _: &Cx) -> Result<(), String> {
        if self.action.is_none() {
            return Err("At least one parameter is required".into());
        }
        if !rule.proto_is(PROTO_TCP) {
            return Err("only valid for protocol tcp (-p tcp, not inverted)".into());
        }
        if !rule.matches.iter().any(is_syn_match) {
            return Err(
                "only works on TCP SYN packets: the kernel needs a -m tcp match with SYN set in \
                 --tcp-flags (e.g. --syn or --tcp-flags SYN,RST SYN)"
                    .into(),
            );
        }
        Ok(())
    }

    fn save(&self, out: &mut String) {
        match self.action {
            Some(TcpmssAction::Set(n)) => {
                let _ = write!(out, " --set-mss {n}");
            }
            Some(TcpmssAction::ClampToPmtu) => out.push_str(" --clamp-mss-to-pmtu"),
            None => {}
        }
    }

    fn check_hooks(&self, _: TableKind, hooks: HookMask) -> Result<(), String> {
        if self.action == Some(TcpmssAction::ClampToPmtu) {
            let allowed = HookMask::of(&[Hook::Forward, Hook::Output, Hook::Postrouting]);
            if let Some(h) = hooks.hooks().find(|h| !allowed.contains(*h)) {
                return Err(format!(
                    "path-MTU clamping only supported in FORWARD, OUTPUT and POSTROUTING hooks \
                     (this rule is reached from {})",
                    h.chain_name()
                ));
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::iptables::ext::testing::target_ext;
    use crate::iptables::TargetExt;

    fn canon_in(table: &str, chain: &str, rule: &str) -> Result<(Tcpmss, String), String> {
        target_ext!(table, chain, rule, TargetExt::Tcpmss)
    }

    fn canon(rule: &str) -> Result<(Tcpmss, String), String> {
        canon_in("mangle", "FORWARD", rule)
    }

    #[test]
    fn saves_as_iptables() {
        for (rule, action, want) in [
            (
                "-p tcp --syn -j TCPMSS --set-mss 42",
                TcpmssAction::Set(42),
                "-A FORWARD -p tcp -m tcp --tcp-flags FIN,SYN,RST,ACK SYN -j TCPMSS --set-mss 42",
            ),
            (
                "-p tcp -m tcp --tcp-flags FIN,SYN,RST,ACK SYN -j TCPMSS --clamp-mss-to-pmtu",
                TcpmssAction::ClampToPmtu,
                "-A FORWARD -p tcp -m tcp --tcp-flags FIN,SYN,RST,ACK SYN -j TCPMSS --clamp-mss-to-pmtu",
            ),
            (
                "-p tcp --tcp-flags SYN,RST SYN -j TCPMSS --set-mss 0x10",
                TcpmssAction::Set(16),
                "-A FORWARD -p tcp -m tcp --tcp-flags SYN,RST SYN -j TCPMSS --set-mss 16",
            ),
            (
                "-p tcp --tcp-flags NONE SYN -j TCPMSS --set-mss 65515",
                TcpmssAction::Set(65515),
                "-A FORWARD -p tcp -m tcp -j TCPMSS --set-mss 65515",
            ),
            (
                "-p 6 -m tcp --dport 3 --syn -j TCPMSS --clamp-mss-to-pmtu --set-mss 3",
                TcpmssAction::Set(3),
                "-A FORWARD -p tcp -m tcp --dport 3 --tcp-flags FIN,SYN,RST,ACK SYN -j TCPMSS --set-mss 3",
            ),
            (
                "-p tcp --syn -j TCPMSS --set-mss 3 --clamp",
                TcpmssAction::ClampToPmtu,
                "-A FORWARD -p tcp -m tcp --tcp-flags FIN,SYN,RST,ACK SYN -j TCPMSS --clamp-mss-to-pmtu",
            ),
        ] {
            let (t, line) = canon(rule).unwrap_or_else(|e| panic!("{rule}: {e}"));
            assert_eq!(t.action, Some(action), "{rule}");
            assert_eq!(line, want, "{rule}");
        }
    }

    #[test]
    fn clamp_hooks() {
        let clamp = "-p tcp --syn -j TCPMSS --clamp-mss-to-pmtu";
        let set = "-p tcp --syn -j TCPMSS --set-mss 1000";
        for (table, chain) in [
            ("mangle", "FORWARD"),
            ("filter", "OUTPUT"),
            ("nat", "POSTROUTING"),
            ("mangle", "FOO"),
        ] {
            assert!(canon_in(table, chain, clamp).is_ok(), "{table} {chain}");
        }
        for (table, chain) in [
            ("mangle", "PREROUTING"),
            ("mangle", "INPUT"),
            ("raw", "PREROUTING"),
        ] {
            let e = canon_in(table, chain, clamp).unwrap_err();
            assert!(e.contains("path-MTU clamping only supported"), "{e}");
            assert!(canon_in(table, chain, set).is_ok(), "{table} {chain}");
        }
    }

    #[test]
    fn refusals() {
        for (rule, msg) in [
            ("-j TCPMSS --set-mss 42", "only valid for protocol tcp"),
            (
                "-p udp -j TCPMSS --set-mss 42",
                "only valid for protocol tcp",
            ),
            (
                "-p tcp -j TCPMSS --set-mss 42",
                "only works on TCP SYN packets",
            ),
            (
                "-p tcp ! --syn -j TCPMSS --set-mss 42",
                "only works on TCP SYN packets",
            ),
            (
                "-p tcp --tcp-flags SYN NONE -j TCPMSS --set-mss 42",
                "only works on TCP SYN packets",
            ),
            (
                "-p tcp --syn -j TCPMSS",
                "At least one parameter is required",
            ),
            (
                "-p tcp --syn -j TCPMSS --set-mss 65516",
                "out of range (0-65515)",
            ),
            (
                "-p tcp --syn -j TCPMSS --set-mss 3 --set-mss 4",
                "can only be used once",
            ),
            ("-p tcp --syn -j TCPMSS ! --clamp", "cannot be inverted"),
        ] {
            match canon(rule) {
                Ok(x) => panic!("accepted: {rule}: {x:?}"),
                Err(e) => assert!(e.contains(msg), "{rule}: {e}"),
            }
        }
    }
}
