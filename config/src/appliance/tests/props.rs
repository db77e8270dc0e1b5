//! Property tests of the appliance parser.

use super::*;
use proptest::prelude::*;

const LINES: &[&str] = &[
    "[[interface]]",
    "name = \"r0\"",
    "name = \"r1\"",
    "name = \"\"",
    "address = [\"10.0.1.1/24\", \"fd00:1::1/64\"]",
    "address = [\"10.0.2.1/24\"]",
    "address = [\"x\"]",
    "mtu = 1280",
    "mtu = 0",
    "mtu = 99999999999",
    "[[route]]",
    "to = \"0.0.0.0/0\"",
    "to = \"default\"",
    "to = \"10.0.0.1/8\"",
    "to = \"::/0\"",
    "via = \"10.0.1.2\"",
    "via = \"fe80::1\"",
    "via = \"nope\"",
    "dev = \"r0\"",
    "dev = \"r9\"",
    "table = 100",
    "table = \"main\"",
    "table = -1",
    "table = \"x\"",
    "metric = 5",
    "metric = -5",
    "[[policy]]",
    "priority = 10",
    "priority = 99999999999",
    "fwmark = \"0x1/0xff\"",
    "fwmark = \"/\"",
    "fwmark = 7",
    "from = \"10.0.0.0/8\"",
    "to = \"fd00::/8\"",
    "iif = \"lo\"",
    "oif = \"r1\"",
    "not = true",
    "[firewall]",
    "rules = \"r.v4\"",
    "sets = \"\"",
    "[dataplane]",
    "workers = 0",
    "workers = 4",
    "conntrack_max = 1",
    "[conntrack]",
    "udp_timeout = 0",
    "udp_timeout = 60",
    "tcp_loose = true",
    "tcp_loose = 2",
    "tcp_max_retrans = 300",
    "max = 1",
    "x = 1",
    "[",
    "]",
    "\"",
];

fn file() -> impl Strategy<Value = String> {
    prop::collection::vec(prop::sample::select(LINES), 0..24).prop_map(|l| l.join("\n"))
}

proptest! {
    #[test]
    fn arbitrary_text_never_panics(text in "\\PC{0,200}") {
        let _ = p(&text);
    }

    #[test]
    fn arbitrary_lines_never_panic_and_errors_have_locations(text in file()) {
        if let Err(e) = p(&text) {
            prop_assert!(e.at.line >= 1);
            prop_assert!(e.at.line <= text.lines().count().max(1));
            prop_assert!(e.at.column.is_some_and(|c| c >= 1));
        }
    }
}
