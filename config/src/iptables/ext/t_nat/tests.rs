use std::path::Path;

use super::*;
use crate::iptables::ext::testing::{load, saved_rules as saved};
use crate::iptables::{parse, Ruleset, Target, TargetExt};

fn nat(rules: &str) -> Result<Ruleset, String> {
    load(&format!("*nat\n{rules}\nCOMMIT\n"))
}

fn target(rs: &Ruleset, chain: &str) -> TargetExt {
    let t = rs
        .table(TableKind::Nat)
        .and_then(|t| t.chain(chain))
        .expect("chain");
    match &t.rules[0].target {
        Target::Ext(x) => x.clone(),
        other => panic!("not an extension target: {other:?}"),
    }
}

fn refused(rules: &str, msg: &str) {
    match nat(rules) {
        Ok(_) => panic!("accepted: {rules}"),
        Err(e) => assert!(e.contains(msg), "{rules}: `{e}' lacks `{msg}'"),
    }
}

fn ip(s: &str) -> IpAddr {
    s.parse().expect("ip")
}

#[test]
fn dnat_address_port_and_shift() {
    let rs = nat("-A PREROUTING -p tcp -j DNAT --to-destination 1.1.1.1-1.1.1.10:1000-2000/ftp --persistent --random")
        .expect("parses");
    let TargetExt::Dnat(d) = target(&rs, "PREROUTING") else {
        panic!("not DNAT")
    };
    assert_eq!(
        d.to.addrs,
        Some(AddrRange {
            min: ip("1.1.1.1"),
            max: ip("1.1.1.10")
        })
    );
    assert_eq!(
        d.to.ports,
        Some(PortRange {
            min: 1000,
            max: 2000,
            base: Some(21)
        })
    );
    assert!(d.random && d.persistent);
    assert_eq!(
        saved(&rs),
        ["-A PREROUTING -p tcp -j DNAT --to-destination 1.1.1.1-1.1.1.10:1000-2000/21 --random --persistent"]
    );
}

#[test]
fn dnat_canonical_forms() {
    for (input, out) in [
        (
            "-p tcp -j DNAT --to-destination 1.1.1.1:ssh",
            "-p tcp -j DNAT --to-destination 1.1.1.1:22",
        ),
        (
            "-p udp -j DNAT --to-destination 1.1.1.1:ssh",
            "-p udp -j DNAT --to-destination 1.1.1.1:22",
        ),
        (
            "-p tcp -j DNAT --to-destination 1.1.1.1:0x50-0x60",
            "-p tcp -j DNAT --to-destination 1.1.1.1:80-96",
        ),
        (
            "-p tcp -j DNAT --to-destination 1.1.1.1:80-80/100x",
            "-p tcp -j DNAT --to-destination 1.1.1.1:80/100",
        ),
        (
            "-p tcp -j DNAT --to-destination 1.1.1.1:0-0",
            "-p tcp -j DNAT --to-destination 1.1.1.1:0",
        ),
        (
            "-p tcp -j DNAT --to-destination :80",
            "-p tcp -j DNAT --to-destination :80",
        ),
        (
            "-p tcp -j DNAT --to-destination 12:80",
            "-p tcp -j DNAT --to-destination :80",
        ),
        (
            "-p icmp -j DNAT --to-destination 1.1.1.1:5",
            "-p icmp -j DNAT --to-destination 1.1.1.1:5",
        ),
        (
            "! -p tcp -j DNAT --to-destination 1.1.1.1:5",
            "! -p tcp -j DNAT --to-destination 1.1.1.1:5",
        ),
        (
            "-j DNAT --to-destination 1.1.1.1-1.1.1.1",
            "-j DNAT --to-destination 1.1.1.1",
        ),
        (
            "-j DNAT --to-destination 1.1.1.9-1.1.1.1",
            "-j DNAT --to-destination 1.1.1.9-1.1.1.1",
        ),
        (
            "-j DNAT --to-dest 1.1.1.1 --pers --rand",
            "-j DNAT --to-destination 1.1.1.1 --random --persistent",
        ),
    ] {
        let rs = nat(&format!("-A PREROUTING {input}")).unwrap_or_else(|e| panic!("{input}: {e}"));
        assert_eq!(saved(&rs), [format!("-A PREROUTING {out}")], "{input}");
    }
}

#[test]
fn dnat_refusals() {
    for (rule, msg) in [
        ("-j DNAT", "option \"--to-destination\" must be specified"),
        (
            "-j DNAT --to-destination 1.1.1.1 --to-destination 2.2.2.2",
            "can only be used once",
        ),
        (
            "-j DNAT --to-destination 1.1.1.1 --random --random",
            "option \"--random\" can only be used once",
        ),
        ("-j DNAT ! --to-destination 1.1.1.1", "cannot be inverted"),
        (
            "-j DNAT --to-destination 1.1.1.1 --random-fully",
            "unknown option",
        ),
        (
            "-j DNAT --to-destination 1.1.1.1:80",
            "Need TCP, UDP, SCTP or DCCP",
        ),
        (
            "-p udplite -j DNAT --to-destination 1.1.1.1:80",
            "Need TCP, UDP, SCTP or DCCP",
        ),
        ("-j DNAT --to-destination 1.1.1", "Bad IP address \"1.1.1\""),
        ("-j DNAT --to-destination 1.1.1.01", "Bad IP address"),
        ("-j DNAT --to-destination 1.1.1.1-", "Bad IP address \"\""),
        (
            "-j DNAT --to-destination 1.1.1.1-2.2.2.2-3.3.3.3",
            "Bad IP address \"2.2.2.2-3.3.3.3\"",
        ),
        (
            "-p tcp -j DNAT --to-destination 1.1.1.1:80:90",
            "Bad IP address \"1.1.1.1:80:90\"",
        ),
        (
            "-p tcp -j DNAT --to-destination [1.1.1.1]:80",
            "Invalid address format",
        ),
        (
            "-p tcp -j DNAT --to-destination 1.1.1.1:",
            "Port `' not valid",
        ),
        (
            "-p tcp -j DNAT --to-destination 1.1.1.1:90-80",
            "Port range `80' funky",
        ),
        (
            "-p tcp -j DNAT --to-destination 1.1.1.1:080",
            "Garbage after port value: `80'",
        ),
        (
            "-p tcp -j DNAT --to-destination 1.1.1.1:80-90x",
            "Garbage after port range: `x'",
        ),
        (
            "-p tcp -j DNAT --to-destination 1.1.1.1:ssh-100",
            "Port `ssh-100' not valid",
        ),
        (
            "-p tcp -j DNAT --to-destination 1.1.1.1:5-ftp",
            "Port `ftp' not valid",
        ),
        (
            "-p tcp -j DNAT --to-destination 1.1.1.1:1-2/0",
            "Port `0' not valid",
        ),
        (
            "-p tcp -j DNAT --to-destination 1.1.1.1:1-2/65536",
            "Port `65536' not valid",
        ),
        (
            "-p tcp -j DNAT --to-destination 1.1.1.1:1025-65536",
            "Port `65536' not valid",
        ),
        (
            "-p tcp -j DNAT --to-destination 1.1.1.1:-5",
            "Port `-5' not valid",
        ),
    ] {
        refused(&format!("-A PREROUTING {rule}"), msg);
    }
}

#[test]
fn snat_flags_and_lost_shift_base() {
    let rs = nat("-A POSTROUTING -p tcp -j SNAT --to-source 1.1.1.1:1000-2000/500 --persistent --random-fully --random")
        .expect("parses");
    let TargetExt::Snat(s) = target(&rs, "POSTROUTING") else {
        panic!("not SNAT")
    };
    assert_eq!(s.to.addrs, Some(AddrRange::single(ip("1.1.1.1"))));
    assert_eq!(
        s.to.ports,
        Some(PortRange {
            min: 1000,
            max: 2000,
            base: Some(0)
        })
    );
    assert!(s.random && s.random_fully && s.persistent);
    assert_eq!(
        saved(&rs),
        ["-A POSTROUTING -p tcp -j SNAT --to-source 1.1.1.1:1000-2000/0 --random --random-fully --persistent"]
    );
    refused(
        "-A POSTROUTING -j SNAT --random",
        "option \"--to-source\" must be specified",
    );
    refused(
        "-A POSTROUTING -j SNAT --to-source 1.1.1.1:1025-65535",
        "Need TCP",
    );
    refused(
        "-A POSTROUTING -j SNAT --to-source 1.1.1.1 --to-source 1.1.1.1",
        "can only be used once",
    );
    refused(
        "-A POSTROUTING -j SNAT --to-source 1.1.1.1 ! --random-fully",
        "cannot be inverted",
    );
}

#[test]
fn masquerade_and_redirect() {
    let rs =
        nat("-A POSTROUTING -p udp -j MASQUERADE --random-fully --to-ports 1024-65535 --random")
            .expect("parses");
    let TargetExt::Masquerade(m) = target(&rs, "POSTROUTING") else {
        panic!("not MASQUERADE")
    };
    assert_eq!(
        m.ports,
        Some(PortRange {
            min: 1024,
            max: 65535,
            base: None
        })
    );
    assert!(m.random && m.random_fully);
    assert_eq!(
        saved(&rs),
        ["-A POSTROUTING -p udp -j MASQUERADE --to-ports 1024-65535 --random --random-fully"]
    );

    let rs = nat("-A POSTROUTING -p tcp -j MASQUERADE --to-ports 1-2/9").expect("parses");
    assert_eq!(
        saved(&rs),
        ["-A POSTROUTING -p tcp -j MASQUERADE --to-ports 1-2/0"]
    );

    let rs = nat("-A PREROUTING -j REDIRECT").expect("parses");
    assert_eq!(
        target(&rs, "PREROUTING"),
        TargetExt::Redirect(Redirect::default())
    );
    assert_eq!(saved(&rs), ["-A PREROUTING -j REDIRECT"]);

    let rs = nat("-A OUTPUT -p tcp -j REDIRECT --random --to-ports ssh").expect("parses");
    let TargetExt::Redirect(r) = target(&rs, "OUTPUT") else {
        panic!("not REDIRECT")
    };
    assert_eq!(
        r.ports,
        Some(PortRange {
            min: 22,
            max: 22,
            base: None
        })
    );
    assert_eq!(
        saved(&rs),
        ["-A OUTPUT -p tcp -j REDIRECT --to-ports 22 --random"]
    );

    for (rule, msg) in [
        ("-A POSTROUTING -j MASQUERADE --to-ports 5", "Need TCP"),
        (
            "-A POSTROUTING -p tcp -j MASQUERADE --to-ports 80:90",
            "Invalid port:port syntax - use dash",
        ),
        (
            "-A POSTROUTING -p tcp -j MASQUERADE --to-ports :80",
            "Port `:80' not valid",
        ),
        (
            "-A POSTROUTING -p tcp -j MASQUERADE --to-ports 80 --persistent",
            "unknown option",
        ),
        (
            "-A PREROUTING -p tcp -j REDIRECT --to-ports 42-1234/567",
            "Shifted portmap ranges not supported",
        ),
        (
            "-A PREROUTING -p tcp -j REDIRECT --to-ports 10-ssh",
            "Port `ssh' not valid",
        ),
        (
            "-A PREROUTING -p tcp -j REDIRECT --random-fully",
            "unknown option",
        ),
        ("-A PREROUTING -j REDIRECT --to-ports 42", "Need TCP"),
    ] {
        refused(rule, msg);
    }
}

#[test]
fn ports_need_the_protocol_given_before() {
    for (rule, target) in [
        (
            "-A PREROUTING -j DNAT --to-destination 1.1.1.1:80 -p tcp",
            "DNAT",
        ),
        (
            "-A PREROUTING -j DNAT --to-destination 1.1.1.1:80 ! -p tcp",
            "DNAT",
        ),
        (
            "-A PREROUTING -j DNAT --to-destination 1.1.1.1:x -p tcp",
            "DNAT",
        ),
        (
            "-A POSTROUTING -j SNAT --to-source 1.1.1.1:80 -p udp",
            "SNAT",
        ),
        (
            "-A POSTROUTING -j MASQUERADE --to-ports 80 -p tcp",
            "MASQUERADE",
        ),
        ("-A PREROUTING -j REDIRECT --to-ports 80 -p tcp", "REDIRECT"),
        ("-A PREROUTING -p all -j REDIRECT --to-ports 80", "REDIRECT"),
    ] {
        refused(
            rule,
            &format!("{target}: Need TCP, UDP, SCTP or DCCP with port specification"),
        );
    }
    // Without ports the protocol does not matter, wherever it is.
    nat("-A PREROUTING -j DNAT --to-destination 1.1.1.1 -p tcp").expect("no port");
    nat("-A PREROUTING -j REDIRECT -p tcp").expect("no port");
}

#[test]
fn tables_and_hooks() {
    nat("-A OUTPUT -j DNAT --to-destination 1.1.1.1").expect("DNAT in OUTPUT");
    nat("-A INPUT -j SNAT --to-source 1.1.1.1").expect("SNAT in INPUT");
    nat("-A OUTPUT -j REDIRECT").expect("REDIRECT in OUTPUT");
    refused(
        "-A INPUT -j DNAT --to-destination 1.1.1.1",
        "used from hooks INPUT, but only usable from PREROUTING/OUTPUT",
    );
    refused(
        "-A OUTPUT -j SNAT --to-source 1.1.1.1",
        "only usable from INPUT/POSTROUTING",
    );
    refused(
        "-A PREROUTING -j MASQUERADE",
        "used from hooks PREROUTING, but only usable from POSTROUTING",
    );
    refused(
        "-A POSTROUTING -j REDIRECT",
        "only usable from PREROUTING/OUTPUT",
    );
    // Through a user chain: every hook that reaches it counts.
    refused(
        ":X - [0:0]\n-A OUTPUT -j X\n-A POSTROUTING -j X\n-A X -j DNAT --to-destination 1.1.1.1",
        "used from hooks OUTPUT/POSTROUTING",
    );
    nat(":X - [0:0]\n-A INPUT -j X\n-A X -j SNAT --to-source 1.1.1.1").expect("SNAT via INPUT");
    // Unreachable chain: only the table counts.
    nat(":X - [0:0]\n-A X -j MASQUERADE").expect("unreachable chain");
    let err = parse(
        "*filter\n:X - [0:0]\n-A X -j DNAT --to-destination 1.1.1.1\nCOMMIT\n",
        Path::new("t"),
    )
    .expect_err("DNAT in filter");
    assert!(
        err.to_string()
            .contains("only valid in nat table, not filter"),
        "{err}"
    );
}

#[test]
fn same_meaning_compares_equal() {
    let a = nat("-A OUTPUT -j DNAT --random --to-destination 1.1.1.1").expect("a");
    let b = nat("-A OUTPUT -j DNAT --to-destination 1.1.1.1-1.1.1.1 --random").expect("b");
    assert_eq!(target(&a, "OUTPUT"), target(&b, "OUTPUT"));
}

/// `-A CHAIN RULE` in an ip6tables nat table: the saved line or the error.
fn nat6(chain: &str, rule: &str) -> Result<String, String> {
    crate::iptables::ext::testing::rule6_in("nat", chain, rule).map(|(_, line)| line)
}

#[test]
fn ip6tables_forms_of_the_ranges() {
    for (input, out) in [
        (
            "-p tcp -j DNAT --to-destination [fd00::2]:80",
            "-p tcp -j DNAT --to-destination [fd00::2]:80",
        ),
        // A bare address (no ports): no brackets, in or out.
        (
            "-j DNAT --to-destination fd00::2",
            "-j DNAT --to-destination fd00::2",
        ),
        (
            "-j DNAT --to-destination [fd00::2]",
            "-j DNAT --to-destination fd00::2",
        ),
        (
            "-j DNAT --to-destination fd00::2-fd00::3",
            "-j DNAT --to-destination fd00::2-fd00::3",
        ),
        (
            "-p tcp -j DNAT --to-destination [fd00::2-fd00::3]:80-90/100 --persistent",
            "-p tcp -j DNAT --to-destination [fd00::2-fd00::3]:80-90/100 --persistent",
        ),
        // What lies between the `]` and the colon is ignored, as by
        // ip6tables.
        (
            "-p tcp -j DNAT --to-destination [fd00::2]x:80",
            "-p tcp -j DNAT --to-destination [fd00::2]:80",
        ),
        (
            "-p tcp -j DNAT --to-destination []:80",
            "-p tcp -j DNAT --to-destination :80",
        ),
        (
            "-p tcp -j DNAT --to-destination :80",
            "-p tcp -j DNAT --to-destination :80",
        ),
        // glibc's inet_ntop text.
        (
            "-j DNAT --to-destination 0:0:0:0:0:0:102:304",
            "-j DNAT --to-destination ::1.2.3.4",
        ),
        (
            "-p udp -j DNAT --to-destination [FD00:0::0:2]:53",
            "-p udp -j DNAT --to-destination [fd00::2]:53",
        ),
    ] {
        assert_eq!(
            nat6("PREROUTING", input).unwrap_or_else(|e| panic!("{input}: {e}")),
            format!("-A PREROUTING {out}"),
            "{input}"
        );
    }
    // SNAT is revision 1 for IPv6: the shift base is lost.
    assert_eq!(
        nat6(
            "POSTROUTING",
            "-p udp -j SNAT --to-source [fd00::1]:1000-2000/5 --random-fully"
        )
        .expect("SNAT"),
        "-A POSTROUTING -p udp -j SNAT --to-source [fd00::1]:1000-2000/0 --random-fully"
    );
    assert_eq!(
        nat6("POSTROUTING", "-j SNAT --to-source fd00::1-fd00::1").expect("SNAT"),
        "-A POSTROUTING -j SNAT --to-source fd00::1"
    );
}

#[test]
fn ip6tables_range_refusals() {
    for (rule, msg) in [
        (
            "-j DNAT --to-destination 1.2.3.4",
            "Bad IP address \"1.2.3.4\"",
        ),
        (
            "-p tcp -j DNAT --to-destination 1.2.3.4:80",
            "Bad IP address \"1.2.3.4\"",
        ),
        // Two colons without brackets: all address.
        (
            "-p tcp -j DNAT --to-destination fd00:2:80",
            "Bad IP address \"fd00:2:80\"",
        ),
        (
            "-p tcp -j DNAT --to-destination [fd00::2:80",
            "Invalid address format",
        ),
        // The ports follow the first colon after the `]`: a second
        // bracketed address is no range end.
        (
            "-p tcp -j DNAT --to-destination [fd00::2]-[fd00::3]:80",
            "Port `:3]:80' not valid",
        ),
        (
            "-j DNAT --to-destination [fd00::2]:80",
            "Need TCP, UDP, SCTP or DCCP",
        ),
        (
            "-p ipv6-icmp -j DNAT --to-destination [fd00::2]:80",
            "Need TCP, UDP, SCTP or DCCP",
        ),
        (
            "-p tcp -j DNAT --to-destination [fd00::2]:",
            "Port `' not valid",
        ),
        (
            "-j DNAT --to-destination [fd00::x]",
            "Bad IP address \"fd00::x\"",
        ),
        ("-j DNAT --to-destination fd00::2-", "Bad IP address \"\""),
    ] {
        match nat6("PREROUTING", rule) {
            Ok(l) => panic!("accepted: {rule} as {l}"),
            Err(e) => assert!(e.contains(msg), "{rule}: `{e}' lacks `{msg}'"),
        }
    }
    // The IPv4 reader still refuses brackets and IPv6 addresses.
    refused(
        "-A PREROUTING -j DNAT --to-destination [1.1.1.1]",
        "Invalid address format",
    );
    refused(
        "-A PREROUTING -j DNAT --to-destination fd00::2",
        "Bad IP address \"fd00::2\"",
    );
}
