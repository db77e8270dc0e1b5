//! `-m state --state LIST`: the packet's conntrack state. iptables 1.8.9
//! loads it as an alias of `conntrack` revision 3 (libxt_conntrack's
//! `state` entries with XT_CONNTRACK_STATE_ALIAS) and prints it back as
//! `-m state --state ...`; the kernel evaluates it as `conntrack --ctstate`:
//! true when the packet's state bit is in the set (`!` inverts), and for
//! packets without a conntrack entry only that test counts.

use super::conntrack::{parse_states, save_states, CtStateMatch};
use super::{once, required, save_invert, Cx, Extension, Opt};
use crate::iptables::model::Rule;

/// The options of `-m state`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct State {
    /// `--state` (mandatory): INVALID, NEW, RELATED, ESTABLISHED, UNTRACKED
    /// bits; SNAT/DNAT are refused here (they need `-m conntrack`).
    pub state: Option<CtStateMatch>,
}

impl Extension for State {
    const OPTIONS: &'static [Opt] = &[Opt::new("state", 1)];

    fn parse(
        &mut self,
        _: &'static str,
        invert: bool,
        args: &[String],
        _: &Cx,
    ) -> Result<(), String> {
        once(&self.state, "state")?;
        let states = parse_states(&args[0])?;
        self.state = Some(CtStateMatch { states, invert });
        Ok(())
    }

    fn finish(&mut self, _: &Rule, _: &Cx) -> Result<(), String> {
        required(&self.state, "state")
    }

    fn save(&self, out: &mut String) {
        if let Some(s) = self.state {
            save_invert(out, s.invert);
            out.push_str(" --state");
            save_states(out, s.states);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::conntrack::CtStates;
    use super::*;
    use crate::iptables::ext::testing::{first_match, refused_in};
    use crate::iptables::Match;

    fn one(rule: &str) -> Result<(State, String), String> {
        first_match!("filter", "INPUT", rule, Match::State)
    }

    fn err(rule: &str) -> String {
        refused_in("filter", "INPUT", rule)
    }

    #[test]
    fn states_print_in_kernel_order() {
        let (m, s) = one("-m state --state UNTRACKED,invalid,R").unwrap();
        let st = m.state.unwrap();
        assert_eq!(
            st.states,
            CtStates(CtStates::UNTRACKED.0 | CtStates::INVALID.0 | CtStates::RELATED.0)
        );
        assert!(!st.invert && st.matches(CtStates::RELATED) && !st.matches(CtStates::NEW));
        assert_eq!(s, "-A INPUT -m state --state INVALID,RELATED,UNTRACKED");
        let (m, s) = one("-m state ! --state EST,NEW").unwrap();
        assert!(m.state.unwrap().invert);
        assert_eq!(s, "-A INPUT -m state ! --state NEW,ESTABLISHED");
    }

    #[test]
    fn refusals() {
        assert!(err("-m state --state SNAT").contains("state: Bad state \"SNAT\""));
        assert!(err("-m state --state ,NEW").contains("Bad state \",NEW\""));
        assert!(err("-m state --state NEW,").contains(
            "\"--state\" requires a list of states with no spaces, e.g. ESTABLISHED,RELATED"
        ));
        assert!(err("-m state --state NEW --state NEW")
            .contains("state: option \"--state\" can only be used once."));
        assert!(err("-m state").contains("state: option \"--state\" must be specified"));
        assert!(err("-m state wrong").contains("wrong"));
    }
}
