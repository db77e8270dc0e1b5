//! `-m connmark --mark VALUE[/MASK]`: the mark of the packet's connection
//! (libxt_connmark revision 1, kernel xt_connmark.c `connmark_mt`:
//! `(ct->mark & mask) == value`, inverted by `!`; a packet without a
//! conntrack entry never matches, inverted or not). Valid in every table.

/// The options of `-m connmark`: `--mark` (mandatory), read and printed
/// as `-m mark` reads and prints it, tested against the connection's mark.
pub type Connmark = super::mark::Mark;

#[cfg(test)]
mod tests {
    use super::super::mark::MarkMatch;
    use crate::iptables::ext::testing::{first_match, refused_in};
    use crate::iptables::Match;

    fn one(rule: &str) -> Result<(MarkMatch, String), String> {
        first_match!("mangle", "FORWARD", rule, Match::Connmark)
            .map(|(m, line)| (m.mark.expect("mark"), line))
    }

    fn err(rule: &str) -> String {
        refused_in("mangle", "FORWARD", rule)
    }

    #[test]
    fn marks_print_in_hex() {
        let (m, s) = one("-m connmark --mark 0xffffffff/0xffffffff").unwrap();
        assert_eq!((m.value, m.mask, m.invert), (u32::MAX, u32::MAX, false));
        assert_eq!(s, "-A FORWARD -m connmark --mark 0xffffffff");
        let (m, s) = one("-m connmark ! --mark 0xffffffff/0x0").unwrap();
        assert_eq!((m.value, m.mask, m.invert), (u32::MAX, 0, true));
        assert_eq!(s, "-A FORWARD -m connmark ! --mark 0xffffffff/0x0");
        let (_, s) = one("-m connmark --mark 0/0xffffffff").unwrap();
        assert_eq!(s, "-A FORWARD -m connmark --mark 0x0");
    }

    #[test]
    fn refusals() {
        assert!(err("-m connmark --mark -1")
            .contains("connmark: bad integer value for option \"--mark\", or out of range."));
        assert!(err("-m connmark --mark 0xfffffffff").contains("out of range"));
        assert!(err("-m connmark --mark 1x").contains("trailing garbage"));
        assert!(err("-m connmark").contains("connmark: option \"--mark\" must be specified"));
        assert!(err("-m connmark --mark 1 --mark 1").contains("can only be used once."));
    }
}
