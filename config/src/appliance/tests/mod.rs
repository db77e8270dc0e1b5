use std::path::PathBuf;

use ipnet::IpNet;

use super::*;

fn p(text: &str) -> Result<Appliance, Error> {
    parse(text, Path::new("/etc/sluice/appliance.toml"))
}

/// Parses `text`, expecting an error; returns "line:col: message".
fn err(text: &str) -> String {
    match p(text) {
        Ok(a) => panic!("expected an error, parsed {a:?}"),
        Err(e) => {
            assert_eq!(e.at.file, Path::new("/etc/sluice/appliance.toml"));
            format!(
                "{}:{}: {}",
                e.at.line,
                e.at.column.expect("every appliance error has a column"),
                e.kind
            )
        }
    }
}

const IFACES: &str = r#"
[[interface]]
name = "r0"
address = ["10.0.1.1/24", "fd00:1::1/64"]

[[interface]]
name = "r1"
address = ["10.0.2.1/24"]

"#;

fn with_ifaces(rest: &str) -> String {
    format!("{IFACES}{rest}")
}

#[test]
fn full_example() {
    let text = r#"# the branch office box
[[interface]]
name = "r0"
address = ["10.0.1.1/24", "fd00:1::1/64"]
mtu = 9000

[[interface]]
name = "r1"
address = ["10.0.2.1/24", "fd00:2::1/64"]

[[route]]
to = "0.0.0.0/0"
via = "10.0.2.2"
dev = "r1"

[[route]]
to = "192.0.2.0/24"
via = "10.0.1.254"
table = 100
metric = 10

[[route]]
to = "::/0"
via = "fe80::1"
dev = "r1"
table = "main"

[[route]]
to = "198.51.100.7"
dev = "r0"
table = "local"

[[policy]]
priority = 100
fwmark = "0x1/0xff"
from = "10.0.0.0/8"
to = "192.0.2.0/24"
iif = "r0"
oif = "r1"
not = true
table = 100

[[policy]]
priority = 200
fwmark = 7
table = "default"

[firewall]
rules = "rules.v4"
sets = "/var/lib/sluice/sets.save"

[dataplane]
workers = 4
conntrack_max = 1048576

[conntrack]
tcp_timeout_established = 7200
tcp_loose = 0
tcp_be_liberal = true
udp_timeout_stream = 180
acct = 1
"#;
    let a = p(text).unwrap();
    assert_eq!(
        a.interfaces,
        vec![
            Interface {
                name: "r0".into(),
                addresses: vec![
                    "10.0.1.1/24".parse().unwrap(),
                    "fd00:1::1/64".parse().unwrap()
                ],
                dhcp: false,
                mtu: 9000,
                line: 2,
            },
            Interface {
                name: "r1".into(),
                addresses: vec![
                    "10.0.2.1/24".parse().unwrap(),
                    "fd00:2::1/64".parse().unwrap()
                ],
                dhcp: false,
                mtu: 1500,
                line: 7,
            },
        ]
    );
    // The address keeps its host bits.
    assert_eq!(a.interfaces[0].addresses[0].addr().to_string(), "10.0.1.1");
    assert_eq!(
        a.routes,
        vec![
            Route {
                to: "0.0.0.0/0".parse().unwrap(),
                via: Some("10.0.2.2".parse().unwrap()),
                dev: Some("r1".into()),
                table: TABLE_MAIN,
                metric: 0,
                line: 11,
            },
            Route {
                to: "192.0.2.0/24".parse().unwrap(),
                via: Some("10.0.1.254".parse().unwrap()),
                dev: None,
                table: 100,
                metric: 10,
                line: 16,
            },
            Route {
                to: "::/0".parse().unwrap(),
                via: Some("fe80::1".parse().unwrap()),
                dev: Some("r1".into()),
                table: TABLE_MAIN,
                metric: 0,
                line: 22,
            },
            Route {
                to: "198.51.100.7/32".parse().unwrap(),
                via: None,
                dev: Some("r0".into()),
                table: TABLE_LOCAL,
                metric: 0,
                line: 28,
            },
        ]
    );
    assert_eq!(
        a.policies,
        vec![
            PolicyRule {
                priority: 100,
                fwmark: Some((1, 0xff)),
                from: Some("10.0.0.0/8".parse().unwrap()),
                to: Some("192.0.2.0/24".parse().unwrap()),
                iif: Some("r0".into()),
                oif: Some("r1".into()),
                not: true,
                table: 100,
                line: 33,
            },
            PolicyRule {
                priority: 200,
                fwmark: Some((7, u32::MAX)),
                from: None,
                to: None,
                iif: None,
                oif: None,
                not: false,
                table: TABLE_DEFAULT,
                line: 43,
            },
        ]
    );
    assert_eq!(
        a.firewall,
        Some(Firewall {
            rules: PathBuf::from("/etc/sluice/rules.v4"),
            rules6: None,
            sets: Some(PathBuf::from("/var/lib/sluice/sets.save")),
            line: 48,
        })
    );
    assert_eq!(
        a.dataplane,
        Dataplane {
            workers: 4,
            conntrack_max: 1_048_576,
            cores: vec![],
            busy_poll: false,
        }
    );
    assert_eq!(
        a.conntrack,
        ConntrackConf {
            tcp_timeout_established: 7200,
            tcp_loose: false,
            tcp_be_liberal: true,
            udp_timeout_stream: 180,
            acct: true,
            ..ConntrackConf::default()
        }
    );
    assert_eq!(a.interface("r1").map(|i| i.line), Some(7));
    assert!(a.interface("r9").is_none());
}

#[test]
fn minimal_uses_defaults() {
    let a = p("[[interface]]\nname = \"eth0\"\n").unwrap();
    assert_eq!(a.interfaces.len(), 1);
    assert_eq!(a.interfaces[0].mtu, DEFAULT_MTU);
    assert!(a.interfaces[0].addresses.is_empty());
    assert!(a.routes.is_empty() && a.policies.is_empty() && a.firewall.is_none());
    assert_eq!(a.dataplane, Dataplane::default());
    assert_eq!(a.dataplane.workers, 1);
    assert_eq!(a.dataplane.conntrack_max, 262_144);
    assert_eq!(a.conntrack, ConntrackConf::default());
    // An empty [conntrack] is the kernel's defaults too.
    let b = p("[[interface]]\nname = \"eth0\"\n[conntrack]\n").unwrap();
    assert_eq!(b.conntrack, ConntrackConf::default());
}

#[test]
fn relative_paths_without_a_folder() {
    let a = parse(
        "[[interface]]\nname = \"r0\"\n[firewall]\nrules = \"rules.v4\"\n",
        Path::new("appliance.toml"),
    )
    .unwrap();
    let fw = a.firewall.unwrap();
    assert_eq!(fw.rules, PathBuf::from("rules.v4"));
    assert_eq!(fw.sets, None);
    let a = parse(
        "[[interface]]\nname = \"r0\"\n[firewall]\nrules = \"../r/rules.v4\"\n",
        Path::new("conf/appliance.toml"),
    )
    .unwrap();
    assert_eq!(
        a.firewall.unwrap().rules,
        PathBuf::from("conf/../r/rules.v4")
    );
}

#[test]
fn no_interface() {
    assert_eq!(
        err("[dataplane]\nworkers = 2\n"),
        "1:1: no [[interface]] defined: sluice needs at least one interface to attach to"
    );
    assert_eq!(
        err(""),
        "1:1: no [[interface]] defined: sluice needs at least one interface to attach to"
    );
}

#[test]
fn unknown_key() {
    assert_eq!(
        err("[[interface]]\nnmae = \"r0\"\n"),
        "2:1: unknown field `nmae`, expected one of `name`, `address`, `mtu`"
    );
    assert_eq!(
        err(&with_ifaces("[dataplane]\nworkers = 1\nthreads = 2\n")),
        "12:1: unknown field `threads`, expected one of `workers`, `conntrack_max`, `cores`, `busy_poll`"
    );
    let e = err(&with_ifaces("[routes]\nto = \"0.0.0.0/0\"\n"));
    assert!(e.starts_with("10:2: unknown field `routes`"), "{e}");
}

#[test]
fn toml_syntax_and_shape() {
    assert_eq!(
        err("[[interface]]\nname = r0\n"),
        "2:8: invalid string: expected `\"`, `'`"
    );
    let e = err("[[interface]]\nname = \"r0\"\naddress = \"10.0.1.1/24\"\n");
    assert!(e.starts_with("3:11: invalid type: string"), "{e}");
    let e = err("[[interface]]\naddress = []\n");
    assert!(e.starts_with("1:1: missing field `name`"), "{e}");
}

#[test]
fn bad_cidr() {
    assert_eq!(
        err("[[interface]]\nname = \"r0\"\naddress = [\"10.0.1.1/24\", \"10.0.1.300/24\"]\n"),
        "3:27: invalid address \"10.0.1.300/24\": expected ADDRESS/PREFIXLEN, \
         e.g. \"10.0.1.1/24\" or \"fd00:1::1/64\", or \"dhcp\""
    );
    assert_eq!(
        err(&with_ifaces(
            "[[route]]\nto = \"10.0.0.0/33\"\ndev = \"r0\"\n"
        )),
        "11:6: invalid route destination \"10.0.0.0/33\": expected PREFIX/LEN, \
         e.g. \"10.0.0.0/8\", \"::/0\" or \"default\""
    );
}

#[test]
fn host_bits_in_route() {
    assert_eq!(
        err(&with_ifaces(
            "[[route]]\nto = \"10.0.0.1/8\"\ndev = \"r0\"\n"
        )),
        "11:6: invalid prefix for given prefix length: 10.0.0.1/8 has host bits set \
         (the network is 10.0.0.0/8)"
    );
    assert_eq!(
        err(&with_ifaces(
            "[[route]]\nto = \"fd00::1/64\"\ndev = \"r0\"\n"
        )),
        "11:6: invalid prefix for given prefix length: fd00::1/64 has host bits set \
         (the network is fd00::/64)"
    );
}

#[test]
fn route_dev_undeclared() {
    assert_eq!(
        err(&with_ifaces(
            "[[route]]\nto = \"10.9.0.0/16\"\ndev = \"r7\"\n"
        )),
        "12:7: dev \"r7\" is not a declared [[interface]]"
    );
}

#[test]
fn route_gateway_checks() {
    assert_eq!(
        err(&with_ifaces(
            "[[route]]\nto = \"10.9.0.0/16\"\ndev = \"r0\"\nmetric = -5\n"
        )),
        "13:10: metric -5 is out of range 0..=4294967295"
    );
    assert_eq!(
        err(&with_ifaces(
            "[[route]]\nto = \"10.9.0.0/16\"\nvia = \"fd00:1::2\"\n"
        )),
        "12:7: gateway fd00:1::2 is IPv6 but destination 10.9.0.0/16 is IPv4"
    );
    assert_eq!(
        err(&with_ifaces(
            "[[route]]\nto = \"10.9.0.0/16\"\nvia = \"10.0.9.9\"\n"
        )),
        "12:7: invalid gateway 10.0.9.9: not on a connected network of any interface"
    );
    assert_eq!(
        err(&with_ifaces(
            "[[route]]\nto = \"10.9.0.0/16\"\nvia = \"10.0.2.2\"\ndev = \"r0\"\n"
        )),
        "12:7: invalid gateway 10.0.2.2: not on a connected network of interface \"r0\""
    );
    assert_eq!(
        err(&with_ifaces(
            "[[route]]\nto = \"10.9.0.0/16\"\nvia = \"10.0.2.1\"\n"
        )),
        "12:7: invalid gateway 10.0.2.1: it is the router's own address on interface \"r1\""
    );
    assert_eq!(
        err(&with_ifaces(
            "[[route]]\nto = \"::/0\"\nvia = \"fe80::1\"\n"
        )),
        "12:7: link-local gateway fe80::1 needs `dev` to say which link"
    );
    assert_eq!(
        err(&with_ifaces(
            "[[route]]\nto = \"10.9.0.0/16\"\nvia = \"10.0.2\"\n"
        )),
        "12:7: invalid gateway \"10.0.2\": expected an IPv4 or IPv6 address"
    );
    assert_eq!(
        err(&with_ifaces("[[route]]\nto = \"10.9.0.0/16\"\n")),
        "11:6: route 10.9.0.0/16 needs `via` or `dev`"
    );
    // IPv6 gateway on a connected IPv6 network.
    let a = p(&with_ifaces(
        "[[route]]\nto = \"fd00:9::/48\"\nvia = \"fd00:1::99\"\n",
    ))
    .unwrap();
    assert_eq!(a.routes[0].via, Some("fd00:1::99".parse().unwrap()));
}

#[test]
fn route_default_keyword() {
    let a = p(&with_ifaces(
        "[[route]]\nto = \"default\"\nvia = \"10.0.2.2\"\n",
    ))
    .unwrap();
    assert_eq!(a.routes[0].to, "0.0.0.0/0".parse::<IpNet>().unwrap());
    let a = p(&with_ifaces(
        "[[route]]\nto = \"default\"\nvia = \"fd00:1::2\"\n",
    ))
    .unwrap();
    assert_eq!(a.routes[0].to, "::/0".parse::<IpNet>().unwrap());
    assert_eq!(
        err(&with_ifaces("[[route]]\nto = \"default\"\ndev = \"r0\"\n")),
        "11:6: \"default\" takes its family from `via`; without a gateway \
         write \"0.0.0.0/0\" or \"::/0\""
    );
}

#[test]
fn duplicate_route() {
    let text = with_ifaces(
        "[[route]]\nto = \"10.9.0.0/16\"\ndev = \"r0\"\n\
         [[route]]\nto = \"10.9.0.0/16\"\ndev = \"r1\"\ntable = 254\n",
    );
    assert_eq!(
        err(&text),
        "14:6: route 10.9.0.0/16 in table main with metric 0 is already defined at line 10"
    );
    // Another metric or another table is another route.
    let ok = with_ifaces(
        "[[route]]\nto = \"10.9.0.0/16\"\ndev = \"r0\"\n\
         [[route]]\nto = \"10.9.0.0/16\"\ndev = \"r1\"\nmetric = 5\n\
         [[route]]\nto = \"10.9.0.0/16\"\ndev = \"r1\"\ntable = 7\n",
    );
    assert_eq!(p(&ok).unwrap().routes.len(), 3);
}

#[test]
fn tables() {
    let route = |t: &str| {
        with_ifaces(&format!(
            "[[route]]\nto = \"10.9.0.0/16\"\ndev = \"r0\"\ntable = {t}\n"
        ))
    };
    assert_eq!(p(&route("\"local\"")).unwrap().routes[0].table, 255);
    assert_eq!(p(&route("\"default\"")).unwrap().routes[0].table, 253);
    assert_eq!(p(&route("4294967295")).unwrap().routes[0].table, u32::MAX);
    assert_eq!(
        err(&route("\"mian\"")),
        "13:9: unknown table \"mian\": expected \"main\", \"local\", \"default\" \
         or a number 1..=4294967295"
    );
    assert_eq!(
        err(&route("0")),
        "13:9: table 0 is out of range 1..=4294967295"
    );
    assert_eq!(
        err(&route("4294967296")),
        "13:9: table 4294967296 is out of range 1..=4294967295"
    );
    assert_eq!(
        err(&route("1.5")),
        "13:9: invalid type: floating point `1.5`, expected an integer or a string"
    );
}

#[test]
fn bad_fwmark() {
    let rule = |m: &str| {
        with_ifaces(&format!(
            "[[policy]]\npriority = 10\nfwmark = {m}\ntable = 100\n"
        ))
    };
    assert_eq!(
        err(&rule("\"0xzz\"")),
        "12:10: invalid fwmark \"0xzz\": expected VALUE[/MASK], numbers in decimal or 0x hex, \
         e.g. \"0x1/0xff\""
    );
    assert_eq!(
        err(&rule("\"1/\"")),
        "12:10: invalid fwmark \"1/\": expected VALUE[/MASK], numbers in decimal or 0x hex, \
         e.g. \"0x1/0xff\""
    );
    assert_eq!(
        err(&rule("\"0x100000000\"")),
        "12:10: invalid fwmark \"0x100000000\": expected VALUE[/MASK], numbers in decimal \
         or 0x hex, e.g. \"0x1/0xff\""
    );
    assert_eq!(
        err(&rule("-1")),
        "12:10: fwmark -1 is out of range 0..=0xffffffff"
    );
    let mark = |m: &str| p(&rule(m)).unwrap().policies[0].fwmark;
    assert_eq!(mark("\"0x10\""), Some((16, u32::MAX)));
    assert_eq!(mark("\"010/0xf0\""), Some((8, 0xf0)));
    assert_eq!(mark("\"42/255\""), Some((42, 255)));
    // fib_nl2rule(): a zero mark without a mask leaves the mask 0.
    assert_eq!(mark("\"0\""), Some((0, 0)));
    assert_eq!(mark("0"), Some((0, 0)));
    assert_eq!(mark("\"0/0xff\""), Some((0, 0xff)));
}

#[test]
fn policy_checks() {
    let rule = |body: &str| with_ifaces(&format!("[[policy]]\n{body}\n"));
    assert_eq!(
        err(&rule("priority = 1\niif = \"r5\"\ntable = 1")),
        "12:7: iif \"r5\" is not a declared [[interface]] (nor \"lo\")"
    );
    assert_eq!(
        err(&rule("priority = 1\noif = \"eth0\"\ntable = 1")),
        "12:7: oif \"eth0\" is not a declared [[interface]] (nor \"lo\")"
    );
    assert_eq!(
        err(&rule("priority = -1\ntable = 1")),
        "11:12: priority -1 is out of range 0..=4294967295"
    );
    assert_eq!(
        err(&rule(
            "priority = 1\nfrom = \"10.0.0.0/8\"\nto = \"fd00::/8\"\ntable = 1"
        )),
        "13:6: `to` fd00::/8 is IPv6 but `from` 10.0.0.0/8 is IPv4"
    );
    assert_eq!(
        err(&rule("priority = 1\nfrom = \"10.0.0.0/40\"\ntable = 1")),
        "12:8: invalid `from` prefix \"10.0.0.0/40\": expected PREFIX/LEN or \"all\""
    );
    let e = err(&rule("priority = 1"));
    assert!(e.starts_with("10:1: missing field `table`"), "{e}");
    let a = p(&rule(
        "priority = 5\nfrom = \"10.1.2.3/8\"\nto = \"all\"\niif = \"lo\"\ntable = \"main\"",
    ))
    .unwrap();
    let r = &a.policies[0];
    assert_eq!(r.from, Some("10.0.0.0/8".parse().unwrap()));
    assert_eq!(r.to, None);
    assert_eq!(r.iif.as_deref(), Some("lo"));
    assert_eq!(r.table, TABLE_MAIN);
    assert!(!r.not);
    assert_eq!(r.line, 10);
}

#[test]
fn cores_and_busy_poll() {
    let a = p(&with_ifaces(
        "[dataplane]\nworkers = 2\ncores = [3, 1]\nbusy_poll = true\n",
    ))
    .unwrap();
    assert_eq!(a.dataplane.cores, vec![3, 1]);
    assert!(a.dataplane.busy_poll);
    assert_eq!(
        err(&with_ifaces("[dataplane]\nworkers = 2\ncores = [1]\n")),
        "12:9: cores lists 1 core(s) but workers = 2: give one core per worker"
    );
    assert_eq!(
        err(&with_ifaces("[dataplane]\nworkers = 2\ncores = [1, 1]\n")),
        "12:13: cores: 1 is listed twice: one worker per core"
    );
    assert_eq!(
        err(&with_ifaces("[dataplane]\ncores = [-1]\n")),
        "11:10: cores: -1 is not a CPU number (0..=65535)"
    );
}

#[test]
fn workers_zero() {
    assert_eq!(
        err(&with_ifaces("[dataplane]\nworkers = 0\n")),
        "11:11: workers = 0 is out of range 1..=4294967295"
    );
    assert_eq!(
        err(&with_ifaces("[dataplane]\nconntrack_max = -5\n")),
        "11:17: conntrack_max = -5 is out of range 1..=4294967295"
    );
    let e = err(&with_ifaces("[dataplane]\nworkers = \"2\"\n"));
    assert!(
        e.starts_with("11:11: invalid type: string \"2\", expected i64"),
        "{e}"
    );
}

/// The values of a fresh Linux 6.18 namespace (`sysctl -a | grep
/// nf_conntrack`), written out so that a slip in `Default` shows here too;
/// bench's config_oracle compares them with the running kernel.
#[test]
fn duplicate_interface() {
    assert_eq!(
        err(&with_ifaces("[[interface]]\nname = \"r0\"\n")),
        "11:8: interface \"r0\" is already defined at line 2"
    );
    // Also when the first one has no addresses.
    assert_eq!(
        err("[[interface]]\nname = \"a\"\n\n[[interface]]\nname = \"a\"\n"),
        "5:8: interface \"a\" is already defined at line 1"
    );
}

#[test]
fn dhcp_addresses() {
    let a = p("[[interface]]\nname = \"wan\"\naddress = [\"dhcp\", \"fd00::1/64\"]\n").unwrap();
    assert!(a.interfaces[0].dhcp);
    assert_eq!(
        a.interfaces[0].addresses,
        vec!["fd00::1/64".parse::<IpNet>().unwrap()]
    );
    let a = p("[[interface]]\nname = \"lan\"\naddress = [\"10.0.0.1/24\"]\n").unwrap();
    assert!(!a.interfaces[0].dhcp);
    assert_eq!(
        err("[[interface]]\nname = \"wan\"\naddress = [\"dhcp\", \"dhcp\"]\n"),
        "3:20: \"dhcp\" is already in the address list of interface \"wan\": one DHCPv4 client per interface"
    );
    // The later of the two is at fault, whichever it is.
    let both = "interface \"wan\" takes its IPv4 address by DHCP and has the static IPv4 address 10.0.0.2/24: use one or the other (static IPv6 addresses beside \"dhcp\" are fine)";
    assert_eq!(
        err("[[interface]]\nname = \"wan\"\naddress = [\"dhcp\", \"10.0.0.2/24\"]\n"),
        format!("3:20: {both}")
    );
    assert_eq!(
        err("[[interface]]\nname = \"wan\"\naddress = [\"10.0.0.2/24\", \"dhcp\"]\n"),
        format!("3:27: {both}")
    );
    assert!(err("[[interface]]\nname = \"wan\"\naddress = [\"DHCP\"]\n").contains("or \"dhcp\""));
}

#[test]
fn duplicate_address() {
    assert_eq!(
        err(&with_ifaces(
            "[[interface]]\nname = \"r2\"\naddress = [\"10.0.2.1/16\"]\n"
        )),
        "12:12: address 10.0.2.1 is already assigned to interface \"r1\" at line 6"
    );
    assert_eq!(
        err("[[interface]]\nname = \"r0\"\naddress = [\"fd00::1/64\", \"fd00::1/128\"]\n"),
        "3:26: address fd00::1 is already assigned to interface \"r0\" at line 1"
    );
}

#[test]
fn interface_checks() {
    assert_eq!(
        err("[[interface]]\nname = \"..\"\n"),
        "2:8: invalid interface name \"..\": reserved"
    );
    assert_eq!(
        err("[[interface]]\nname = \"averyveryverylongname\"\n"),
        "2:8: invalid interface name \"averyveryverylongname\": longer than 15 bytes"
    );
    assert_eq!(
        err("[[interface]]\nname = \"r0:1\"\n"),
        "2:8: invalid interface name \"r0:1\": contains ':'"
    );
    assert_eq!(
        err("[[interface]]\nname = \"\"\n"),
        "2:8: invalid interface name \"\": empty"
    );
    assert_eq!(
        err("[[interface]]\nname = \"r0\"\nmtu = 67\n"),
        "3:7: mtu 67 is out of range 68..=65535"
    );
    assert_eq!(
        err("[[interface]]\nname = \"r0\"\nmtu = 65536\n"),
        "3:7: mtu 65536 is out of range 68..=65535"
    );
    assert_eq!(
        err("[[interface]]\nname = \"r0\"\naddress = [\"fd00::1/64\"]\nmtu = 1000\n"),
        "4:7: mtu 1000 is below 1280, the IPv6 minimum (RFC 8200), \
         and interface \"r0\" has an IPv6 address"
    );
    // A plain address is a host prefix, as `ip addr add`.
    let a = p("[[interface]]\nname = \"r0\"\naddress = [\"10.0.0.1\"]\nmtu = 68\n").unwrap();
    assert_eq!(
        a.interfaces[0].addresses,
        vec!["10.0.0.1/32".parse::<IpNet>().unwrap()]
    );
}

#[test]
fn firewall_checks() {
    assert_eq!(
        err(&with_ifaces("[firewall]\nrules = \"\"\n")),
        "11:9: `rules` is an empty path"
    );
    let e = err(&with_ifaces("[firewall]\nsets = \"s\"\n"));
    assert!(e.starts_with("10:1: missing field `rules`"), "{e}");
}

#[test]
fn columns_count_characters() {
    // A multi-byte character before the bad value on the same line.
    assert_eq!(
        err("[[interface]]\nname = \"r0\"\naddress = [ \"é\" ]\n"),
        "3:13: invalid address \"é\": expected ADDRESS/PREFIXLEN, \
         e.g. \"10.0.1.1/24\" or \"fd00:1::1/64\", or \"dhcp\""
    );
    assert_eq!(
        err("# café\n[[interface]]\nname = \"r0\"\naddress = [\"x\", \"é\", \"y\"]\n"),
        "4:12: invalid address \"x\": expected ADDRESS/PREFIXLEN, \
         e.g. \"10.0.1.1/24\" or \"fd00:1::1/64\", or \"dhcp\""
    );
}

#[test]
fn load_reports_io_errors_with_the_path() {
    let path = Path::new("/nonexistent/sluice/appliance.toml");
    let e = load(path).unwrap_err();
    assert_eq!(e.at.file, path);
    assert!(matches!(e.kind, ErrorKind::Io(ref r) if r.kind == std::io::ErrorKind::NotFound));
    assert!(
        e.to_string()
            .starts_with("/nonexistent/sluice/appliance.toml: cannot read file: No such file"),
        "{e}"
    );
}

#[test]
fn load_reads_a_file() {
    let dir = std::env::temp_dir().join(format!("sluice-appliance-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("appliance.toml");
    std::fs::write(
        &path,
        "[[interface]]\nname = \"r0\"\n[firewall]\nrules = \"rules.v4\"\n",
    )
    .unwrap();
    let a = load(&path).unwrap();
    assert_eq!(a.firewall.unwrap().rules, dir.join("rules.v4"));
    std::fs::remove_dir_all(&dir).unwrap();
}

mod conntrack;
mod control;
mod props;
