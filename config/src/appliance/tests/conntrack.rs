//! `[conntrack]`: the kernel's defaults, every key, bad values and keys.

use super::*;

#[test]
fn conntrack_defaults_are_the_kernels() {
    assert_eq!(
        ConntrackConf::default().sysctls(),
        [
            ("tcp_timeout_syn_sent", 120),
            ("tcp_timeout_syn_recv", 60),
            ("tcp_timeout_established", 432_000),
            ("tcp_timeout_fin_wait", 120),
            ("tcp_timeout_close_wait", 60),
            ("tcp_timeout_last_ack", 30),
            ("tcp_timeout_time_wait", 120),
            ("tcp_timeout_close", 10),
            ("tcp_timeout_max_retrans", 300),
            ("tcp_timeout_unacknowledged", 300),
            ("tcp_loose", 1),
            ("tcp_be_liberal", 0),
            ("tcp_max_retrans", 3),
            ("tcp_ignore_invalid_rst", 0),
            ("udp_timeout", 30),
            ("udp_timeout_stream", 120),
            ("icmp_timeout", 30),
            ("icmpv6_timeout", 30),
            ("generic_timeout", 600),
            ("acct", 0),
            ("checksum", 1),
        ]
    );
}

/// Every key of [`ConntrackConf::keys`] is taken and sets its own field,
/// and only it: the key list, the validation and `sysctls` agree.
#[test]
fn conntrack_every_key_sets_its_field() {
    let defaults = ConntrackConf::default().sysctls();
    for (key, default) in defaults {
        // A value no default has: 0 <-> 1 for switches, else 7.
        let value = match default {
            0 => 1,
            1 => 0,
            _ => 7,
        };
        let a = p(&with_ifaces(&format!("[conntrack]\n{key} = {value}\n")))
            .unwrap_or_else(|e| panic!("{key} = {value}: {e}"));
        for ((k, got), (_, want)) in a.conntrack.sysctls().into_iter().zip(defaults) {
            let want = if k == key { value } else { want };
            assert_eq!(got, want, "after {key} = {value}, {k}");
        }
    }
    assert_eq!(ConntrackConf::keys().len(), 21);
    assert_eq!(ConntrackConf::keys()[0], "tcp_timeout_syn_sent");
}

#[test]
fn conntrack_values() {
    let ct = |body: &str| p(&with_ifaces(&format!("[conntrack]\n{body}\n"))).map(|a| a.conntrack);
    let c =
        ct("tcp_loose = false\nchecksum = false\nacct = true\ntcp_ignore_invalid_rst = 1").unwrap();
    assert!(!c.tcp_loose && !c.checksum && c.acct && c.tcp_ignore_invalid_rst);
    let c = ct("tcp_max_retrans = 0\nudp_timeout = 1\ngeneric_timeout = 2147483").unwrap();
    assert_eq!(
        (c.tcp_max_retrans, c.udp_timeout, c.generic_timeout),
        (0, 1, 2_147_483)
    );
    assert_eq!(ct("tcp_max_retrans = 255").unwrap().tcp_max_retrans, 255);
    // TOML's own hex and octal integers, as the sysctl reads 0x / 0.
    assert_eq!(ct("icmp_timeout = 0x3c").unwrap().icmp_timeout, 60);
    assert_eq!(ct("icmp_timeout = 0o17").unwrap().icmp_timeout, 15);
    // A later key wins over the default, keys in any order.
    let c = ct("udp_timeout_stream = 300\ntcp_timeout_close = 5").unwrap();
    assert_eq!((c.udp_timeout_stream, c.tcp_timeout_close), (300, 5));
}

#[test]
fn conntrack_value_errors() {
    let e = |body: &str| err(&with_ifaces(&format!("[conntrack]\n{body}\n")));
    assert_eq!(
        e("udp_timeout = 0"),
        "11:15: udp_timeout = 0 would end every such connection as soon as it is made: \
         a timeout is 1..=2147483 seconds"
    );
    assert_eq!(
        e("tcp_timeout_established = -1"),
        "11:27: tcp_timeout_established = -1 is out of range 1..=2147483 (seconds)"
    );
    assert_eq!(
        e("generic_timeout = 2147484"),
        "11:19: generic_timeout = 2147484 is out of range 1..=2147483 (seconds)"
    );
    assert_eq!(
        e("icmp_timeout = 99999999999"),
        "11:16: icmp_timeout = 99999999999 is out of range 1..=2147483 (seconds)"
    );
    assert_eq!(
        e("udp_timeout = true"),
        "11:15: udp_timeout = true: expected an integer"
    );
    assert_eq!(
        e("tcp_loose = 2"),
        "11:13: tcp_loose = 2 is out of range: expected 0, 1, false or true"
    );
    assert_eq!(
        e("acct = 1\nchecksum = -1"),
        "12:12: checksum = -1 is out of range: expected 0, 1, false or true"
    );
    assert_eq!(
        e("tcp_max_retrans = 256"),
        "11:19: tcp_max_retrans = 256 is out of range 0..=255"
    );
    assert_eq!(
        e("tcp_max_retrans = -1"),
        "11:19: tcp_max_retrans = -1 is out of range 0..=255"
    );
    assert_eq!(
        e("tcp_max_retrans = false"),
        "11:19: tcp_max_retrans = false: expected an integer"
    );
    let s = e("udp_timeout = \"30\"");
    assert!(
        s.starts_with("11:15: invalid type: string \"30\", expected an integer or a boolean"),
        "{s}"
    );
    let s = e("udp_timeout = 1.5");
    assert!(
        s.starts_with(
            "11:15: invalid type: floating point `1.5`, expected an integer or a boolean"
        ),
        "{s}"
    );
    let s = err(&format!("conntrack = 5\n{IFACES}"));
    assert!(
        s.starts_with("1:13: invalid type: integer `5`, expected a table of conntrack settings"),
        "{s}"
    );
}

#[test]
fn conntrack_key_errors() {
    let e = |body: &str| err(&with_ifaces(&format!("[conntrack]\n{body}\n")));
    assert_eq!(
        e("udp_timeout = 30\nudp_timout = 30"),
        "12:1: unknown field `udp_timout`, expected one of `tcp_timeout_syn_sent`, \
         `tcp_timeout_syn_recv`, `tcp_timeout_established`, `tcp_timeout_fin_wait`, \
         `tcp_timeout_close_wait`, `tcp_timeout_last_ack`, `tcp_timeout_time_wait`, \
         `tcp_timeout_close`, `tcp_timeout_max_retrans`, `tcp_timeout_unacknowledged`, \
         `tcp_loose`, `tcp_be_liberal`, `tcp_max_retrans`, `tcp_ignore_invalid_rst`, \
         `udp_timeout`, `udp_timeout_stream`, `icmp_timeout`, `icmpv6_timeout`, \
         `generic_timeout`, `acct`, `checksum`"
    );
    for key in ["max", "buckets", "nf_conntrack_max", "nf_conntrack_buckets"] {
        assert_eq!(
            e(&format!("  {key} = 65536")),
            format!(
                "11:3: `{key}` is not a [conntrack] setting: the conntrack table is sized \
                 by `conntrack_max` in [dataplane]"
            )
        );
    }
    assert_eq!(
        e("nf_conntrack_udp_timeout = 60"),
        "11:1: unknown field `nf_conntrack_udp_timeout`: [conntrack] keys are the sysctl \
         names without the `nf_conntrack_` prefix, write `udp_timeout`"
    );
    // The prefix on an unknown key is just an unknown key.
    let s = e("nf_conntrack_events = 1");
    assert!(
        s.starts_with("11:1: unknown field `nf_conntrack_events`, expected one of"),
        "{s}"
    );
    // A quoted key is located at its opening quote.
    let s = e("\"tcp_timeout\" = 5");
    assert!(
        s.starts_with("11:1: unknown field `tcp_timeout`, expected one of"),
        "{s}"
    );
    // A table is no sysctl value.
    let s = e("tcp = { loose = 1 }");
    assert!(
        s.starts_with("11:7: invalid type: map, expected an integer or a boolean"),
        "{s}"
    );
    // TOML refuses a key given twice.
    let s = e("acct = 1\nacct = 0");
    assert!(s.starts_with("12:1: duplicate key `acct`"), "{s}");
    // The first bad key in file order is the one reported.
    assert!(e("zzz = 1\naaa = 1").starts_with("11:1: unknown field `zzz`"));
}
