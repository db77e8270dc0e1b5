//! End to end, dual stack: the lab with IPv6 added (the LAN fd00:1::/64 on
//! r0, the uplink fd00:2::/64 on r1, a server 2001:db8:100::10 behind the
//! WAN host) and an ip6tables ruleset that lets the LAN out and nothing
//! in: the namespaces' own kernels talk IPv6 through `sluice run`.
//!
//! Needs root and network namespaces; otherwise the test prints `SKIP:`
//! and passes.

mod common;

use common::*;

/// Stateful allow-outbound, deny-inbound, with the ICMPv6 that must pass.
const RULES6: &str = "*filter
:INPUT DROP [0:0]
:FORWARD DROP [0:0]
:OUTPUT ACCEPT [0:0]
-A INPUT -i lo -j ACCEPT
-A INPUT -m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT
-A INPUT -p ipv6-icmp -m icmp6 --icmpv6-type 135 -j ACCEPT
-A INPUT -p ipv6-icmp -m icmp6 --icmpv6-type 136 -j ACCEPT
-A INPUT -p ipv6-icmp -m icmp6 --icmpv6-type 128 -j ACCEPT
-A FORWARD -m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT
-A FORWARD -m conntrack --ctstate INVALID -j DROP
-A FORWARD -p ipv6-icmp -m icmp6 --icmpv6-type 2 -j ACCEPT
-A FORWARD -i r0 -o r1 -s fd00:1::/64 -j ACCEPT
COMMIT
";

#[test]
fn dual_stack_lan_reaches_the_wan_over_ipv6_and_nothing_comes_in() {
    if skip() {
        return;
    }
    let mut lab = Lab::topology(1, "");
    // The router's IPv6 side in the config.
    let toml = std::fs::read_to_string(lab.config()).unwrap();
    let toml =
        toml.replace(
            "address = [\"10.0.1.1/24\"]",
            "address = [\"10.0.1.1/24\", \"fd00:1::1/64\"]",
        )
        .replace(
            "address = [\"10.0.2.1/24\"]",
            "address = [\"10.0.2.1/24\", \"fd00:2::1/64\"]",
        )
        .replace(
            "rules = \"rules.v4\"",
            "rules = \"rules.v4\"\nrules6 = \"rules.v6\"",
        ) + "\n[[route]]\nto = \"::/0\"\nvia = \"fd00:2::2\"\ndev = \"r1\"\n";
    std::fs::write(lab.config(), toml).unwrap();
    std::fs::write(lab.dir.join("rules.v6"), RULES6).unwrap();
    // The hosts' IPv6 side (no DAD: usable at once).
    for (ns, script) in [
        (
            &lab.lan,
            "addr add fd00:1::2/64 dev l0 nodad\nroute add default via fd00:1::1\n",
        ),
        (
            &lab.wan,
            "addr add fd00:2::2/64 dev w0 nodad\naddr add 2001:db8:100::10/128 dev lo\n\
             route add fd00:1::/64 via fd00:2::1\n",
        ),
    ] {
        let out = ns.batch(&["-6"], script).unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    lab.start();
    let log = lab.log_text();
    assert!(
        log.contains("IPv6: forwarded and filtered by")
            && log.contains("rules.v6 (9 rules, 1 table)"),
        "{log}"
    );

    // Out: echo to the box and through it, and TCP with every byte checked,
    // unNATed (the server sees the LAN host's own address).
    ping(&lab.lan, "fd00:1::1").expect("ping the gateway over IPv6");
    ping(&lab.lan, "2001:db8:100::10").expect("ping the WAN server over IPv6");
    tcp_server(&lab.wan, "[2001:db8:100::10]:5001", "wan");
    let answer = in_ns(&lab.lan, || {
        tcp_send(None, "[2001:db8:100::10]:5001", 6, 300_000)
    })
    .join()
    .unwrap()
    .expect("a TCP transfer LAN → WAN over IPv6");
    assert_eq!(answer, "wan fd00:1::2");

    // In: a connection the LAN did not open is dropped (no answer, not
    // even a reset), and so is an echo request.
    tcp_server(&lab.lan, "[fd00:1::2]:5003", "lan");
    let outcome = in_ns(&lab.wan, || connect_outcome("[fd00:1::2]:5003"))
        .join()
        .unwrap();
    assert_eq!(outcome, "timeout", "an unsolicited inbound IPv6 connection");
    assert!(
        ping(&lab.wan, "fd00:1::2").is_err(),
        "an inbound IPv6 echo request must be dropped"
    );
    // IPv4 still works beside it.
    ping(&lab.lan, "198.51.100.10").expect("ping through NAT over IPv4");
    let (st, _) = lab.stop();
    assert!(st.success(), "{}", lab.log_text());
}
