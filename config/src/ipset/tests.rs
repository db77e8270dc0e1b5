use std::fmt;
use std::net::IpAddr;

use ipnet::IpNet;

use super::expand::{parse_c_number, range_to_cidrs};
use super::lex::split;
use super::*;

fn p(text: &str) -> SetFile {
    match parse(text, Path::new("/etc/sluice/sets.save")) {
        Ok(f) => f,
        Err(e) => panic!("{e}"),
    }
}

/// Parses `text`, expecting an error; returns "line:col: message".
fn err(text: &str) -> String {
    match parse(text, Path::new("/etc/sluice/sets.save")) {
        Ok(f) => panic!("expected an error, parsed {f:?}"),
        Err(e) => {
            assert_eq!(e.at.file, Path::new("/etc/sluice/sets.save"));
            assert!(matches!(e.kind, ErrorKind::Sets(_)), "{e:?}");
            format!("{}:{}: {}", e.at.line, e.at.column.unwrap_or(0), e.kind)
        }
    }
}

fn ip(s: &str) -> IpAddr {
    s.parse().unwrap()
}

fn net(s: &str) -> IpNet {
    s.parse().unwrap()
}

fn ips(set: &IpSet) -> Vec<String> {
    match &set.entries {
        SetEntries::HashIp(v) => v.iter().map(|e| e.elem.to_string()).collect(),
        other => panic!("not hash:ip: {other:?}"),
    }
}

fn elems(set: &IpSet) -> Vec<String> {
    fn s<T: fmt::Display>(v: &[Entry<T>]) -> Vec<String> {
        v.iter().map(|e| e.elem.to_string()).collect()
    }
    match &set.entries {
        SetEntries::HashIp(v) => s(v),
        SetEntries::HashNet(v) => s(v),
        SetEntries::HashIpPort(v) => s(v),
        SetEntries::HashNetPort(v) => s(v),
        SetEntries::BitmapPort(v) => s(v),
    }
}

/// Printed by `ipset save` (ipset 7.17) after creating these sets in a
/// scratch network namespace.
const REAL_SAVE: &str = r#"create a hash:ip family inet hashsize 1024 maxelem 65536 bucketsize 12 initval 0x201f98f9
add a 10.0.1.0
add a 10.0.1.3
add a 10.0.2.1
create a6 hash:ip family inet6 hashsize 1024 maxelem 65536 timeout 300 counters comment bucketsize 12 initval 0x8f46a7ef
add a6 fd00::1 timeout 99 packets 5 bytes 100 comment "hello world"
create n hash:net family inet hashsize 1024 maxelem 65536 bucketsize 12 initval 0x33922f2d
add n 192.168.1.1
add n 10.0.0.0/8
add n 10.2.0.0/23
add n 10.1.0.0/16 nomatch
create n6 hash:net family inet6 hashsize 1024 maxelem 65536 bucketsize 12 initval 0x0a2c5b98
add n6 fd01::1
add n6 fd00::/64
create ipp hash:ip,port family inet hashsize 1024 maxelem 65536 bucketsize 12 initval 0x9f863b41
add ipp 10.0.0.1,tcp:80
add ipp 10.0.0.4,udplite:1000
add ipp 10.0.0.1,udp:53
add ipp 10.0.0.4,sctp:1000
add ipp 10.0.0.3,icmp:echo-request
add ipp 10.0.0.3,gre:0
add ipp 10.0.0.4,icmp:200/5
create ipp6 hash:ip,port family inet6 hashsize 1024 maxelem 65536 bucketsize 12 initval 0xe999826f
add ipp6 fd00::1,tcp:22
add ipp6 fd00::1,ipv6-icmp:echo-request
create bp bitmap:port range 1000-2000
add bp 1000
add bp 1502
create np hash:net,port family inet hashsize 1024 maxelem 65536 bucketsize 12 initval 0x6814203c
add np 10.0.0.0/24,tcp:80
add np 10.0.0.0/24,udp:53 nomatch
create x hash:ip family inet hashsize 1024 maxelem 65536 netmask 24 bucketsize 12 initval 0x12345678
add x 10.0.0.0
create y hash:ip,port family inet hashsize 1024 maxelem 65536 timeout 5 counters comment bucketsize 12 initval 0xe8f004c9 netmask 24
add y 10.0.0.0,tcp:1 timeout 2 packets 1 bytes 2 comment "c"
create d hash:net,port family inet6 hashsize 1024 maxelem 65536 timeout 5 counters comment bucketsize 12 initval 0x2223c824
add d fd00::/64,udp:5 timeout 3 nomatch packets 1 bytes 2 comment "c"
create b5 bitmap:port range 5-10 timeout 10 counters comment
add b5 8 timeout 9 packets 0 bytes 0
"#;

#[test]
fn real_save_output_parses_and_prints_back() {
    let f = p(REAL_SAVE);
    assert_eq!(f.sets.len(), 12);

    let a = f.set("a").unwrap();
    assert_eq!(a.kind, SetKind::HashIp);
    assert_eq!(a.family, Some(Family::Inet));
    assert_eq!(
        a.hash,
        Some(HashOptions {
            hashsize: 1024,
            maxelem: 65536,
            bucketsize: 12,
            initval: Some(0x201f_98f9),
            netmask: None,
            forceadd: false,
        })
    );
    assert_eq!(a.line, 1);
    assert_eq!(ips(a), ["10.0.1.0", "10.0.1.3", "10.0.2.1"]);

    let a6 = f.set("a6").unwrap();
    assert_eq!(
        (a6.timeout, a6.counters, a6.comment),
        (Some(300), true, true)
    );
    assert_eq!(
        a6.entries,
        SetEntries::HashIp(vec![Entry {
            elem: ip("fd00::1"),
            timeout: Some(99),
            packets: Some(5),
            bytes: Some(100),
            comment: Some("hello world".into()),
            line: 6,
        }])
    );

    let n = f.set("n").unwrap();
    match &n.entries {
        SetEntries::HashNet(v) => {
            let got: Vec<(IpNet, bool)> = v.iter().map(|e| (e.elem.net, e.elem.nomatch)).collect();
            assert_eq!(
                got,
                [
                    (net("192.168.1.1/32"), false),
                    (net("10.0.0.0/8"), false),
                    (net("10.2.0.0/23"), false),
                    (net("10.1.0.0/16"), true),
                ]
            );
        }
        other => panic!("{other:?}"),
    }

    let ipp = f.set("ipp").unwrap();
    match &ipp.entries {
        SetEntries::HashIpPort(v) => {
            let got: Vec<ProtoPort> = v.iter().map(|e| e.elem.port).collect();
            assert_eq!(
                got,
                [
                    ProtoPort::Tcp(80),
                    ProtoPort::UdpLite(1000),
                    ProtoPort::Udp(53),
                    ProtoPort::Sctp(1000),
                    ProtoPort::Icmp { ty: 8, code: 0 },
                    ProtoPort::Other(47),
                    ProtoPort::Icmp { ty: 200, code: 5 },
                ]
            );
            assert_eq!(got[4].port(), 0x0800);
            assert_eq!(got[5].proto(), 47);
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(
        elems(f.set("ipp6").unwrap()),
        ["fd00::1,tcp:22", "fd00::1,ipv6-icmp:echo-request"]
    );

    let bp = f.set("bp").unwrap();
    assert_eq!(
        (bp.family, bp.hash.as_ref(), bp.range),
        (None, None, Some((1000, 2000)))
    );
    assert_eq!(elems(bp), ["1000", "1502"]);

    assert_eq!(f.set("x").unwrap().hash.as_ref().unwrap().netmask, Some(24));
    assert_eq!(f.set("y").unwrap().hash.as_ref().unwrap().netmask, Some(24));
    match &f.set("d").unwrap().entries {
        SetEntries::HashNetPort(v) => {
            assert_eq!(
                v[0].elem,
                NetPortElem {
                    net: net("fd00::/64"),
                    port: ProtoPort::Udp(5),
                    nomatch: true
                }
            );
            assert_eq!(v[0].timeout, Some(3));
        }
        other => panic!("{other:?}"),
    }

    // Printed back exactly as ipset printed it.
    assert_eq!(f.save(), REAL_SAVE);
}

#[test]
fn save_round_trips() {
    let text = "create s hash:ip hashsize 100 maxelem 10 bucketsize 5 forceadd timeout 0\n\
                add s 10.0.0.1-10.0.0.2 timeout 5\n\
                create t bitmap:port range 9-1 comment\n\
                add t udp:2-3 comment \"two  words\"\n";
    let once = p(text).save();
    assert_eq!(
        once,
        "create s hash:ip family inet hashsize 128 maxelem 10 timeout 0 forceadd bucketsize 6\n\
         add s 10.0.0.1 timeout 5\n\
         add s 10.0.0.2 timeout 5\n\
         create t bitmap:port range 1-9 comment\n\
         add t 2 comment \"two  words\"\n\
         add t 3 comment \"two  words\"\n"
    );
    assert_eq!(p(&once).save(), once);
}

#[test]
fn comments_blank_lines_and_quotes() {
    let f = p(
        "# saved\n\n   # indented comment\ncreate c hash:ip comment\n\
               \tadd  c\t10.0.0.1 comment \"a  b\"\n\
               add c 10.0.0.2 comment a\"b c\"\n\
               add c 10.0.0.3 comment \"x#y\"\n\
               add c 10.0.0.4 comment \"it's\"\n",
    );
    let c = f.set("c").unwrap();
    assert_eq!(c.line, 4);
    match &c.entries {
        SetEntries::HashIp(v) => {
            let got: Vec<(&str, usize)> = v
                .iter()
                .map(|e| (e.comment.as_deref().unwrap_or(""), e.line))
                .collect();
            assert_eq!(got, [("a  b", 5), ("ab c", 6), ("x#y", 7), ("it's", 8)]);
        }
        other => panic!("{other:?}"),
    }
    // A `#` later on a line is a word, not a comment (as ipset restore).
    assert_eq!(
        err("create c hash:ip\nadd c 10.0.0.1 # why\n"),
        "2:16: unknown element option `#` for set type hash:ip"
    );
    assert_eq!(
        err("create c hash:ip comment\nadd c 10.0.0.1 comment \"open\n"),
        "2:24: unterminated quote"
    );
    assert_eq!(
        err("create c hash:ip comment\nadd c 10.0.0.1 comment \"\"\n"),
        "2:24: `comment` needs a value"
    );
    assert_eq!(
        err("create c hash:ip comment\nadd c 10.0.0.1 comment\n"),
        "2:16: `comment` needs a value"
    );
    let long = "x".repeat(256);
    assert_eq!(
        err(&format!(
            "create c hash:ip comment\nadd c 10.0.0.1 comment {long}\n"
        )),
        "2:24: comment is longer than 255 characters"
    );
}

#[test]
fn hash_ip_expansion() {
    let f = p("create a hash:ip\n\
               add a 10.0.1.5/30\n\
               add a 10.0.2.9-10.0.2.7\n\
               add a 10.0.3.1/32\n");
    assert_eq!(
        ips(&f.sets[0]),
        [
            "10.0.1.4", "10.0.1.5", "10.0.1.6", "10.0.1.7", "10.0.2.7", "10.0.2.8", "10.0.2.9",
            "10.0.3.1"
        ]
    );
    // netmask: elements are the masked blocks.
    let f = p("create a hash:ip netmask 24\nadd a 10.0.0.0/22\nadd a 10.9.9.9\n");
    assert_eq!(
        ips(&f.sets[0]),
        ["10.0.0.0", "10.0.1.0", "10.0.2.0", "10.0.3.0", "10.9.9.0"]
    );
    let f = p("create a hash:ip family inet6 netmask 64\nadd a fd00:0:0:1::5\nadd a fd01::1/128\n");
    assert_eq!(ips(&f.sets[0]), ["fd00:0:0:1::", "fd01::"]);
    // The cap, and the kernel's /0 refusal.
    assert_eq!(
        err("create a hash:ip\nadd a 10.0.0.0/15\n"),
        "2:7: `10.0.0.0/15` expands to 131072 entries, more than the 65536 sluice allows on one line"
    );
    assert_eq!(
        p("create a hash:ip\nadd a 10.0.0.0/16\n").sets[0]
            .entries
            .len(),
        65536
    );
    assert_eq!(
        err("create a hash:ip\nadd a 0.0.0.0/0\n"),
        "2:7: CIDR /0 is invalid: 0 matches everything"
    );
    assert_eq!(
        err("create a hash:ip\nadd a 10.0.0.0/33\n"),
        "2:7: `33` is out of range 0-32"
    );
    assert_eq!(
        err("create a hash:ip family inet6\nadd a fd00::1-fd00::3\n"),
        "2:7: `fd00::1-fd00::3`: an IPv6 element takes a plain address (no range or network)"
    );
    assert_eq!(
        err("create a hash:ip family inet6\nadd a fd00::/126\n"),
        "2:7: `fd00::/126`: an IPv6 element takes a plain address (no range or network)"
    );
}

#[test]
fn wrong_family() {
    assert_eq!(
        err("create a hash:ip\nadd a fd00::1\n"),
        "2:7: cannot parse `fd00::1` as an IPv4 address"
    );
    assert_eq!(
        err("create a hash:net family inet6\nadd a 10.0.0.0/8\n"),
        "2:7: cannot parse `10.0.0.0` as an IPv6 address"
    );
    assert_eq!(
        err("create a hash:ip\nadd a 10.0.0.300\n"),
        "2:7: cannot parse `10.0.0.300` as an IPv4 address"
    );
    // No inet_aton shorthands.
    assert_eq!(
        err("create a hash:ip\nadd a 10.1\n"),
        "2:7: cannot parse `10.1` as an IPv4 address"
    );
    assert_eq!(
        err("create a hash:ip,port\nadd a 10.0.0.1,ipv6-icmp:ping\n"),
        "2:7: protocol ICMPv6 can be used with family inet6 only"
    );
    assert_eq!(
        err("create a hash:ip,port family inet6\nadd a fd00::1,icmp:ping\n"),
        "2:7: protocol ICMP can be used with family inet only"
    );
}

#[test]
fn hash_net() {
    let f = p("create n hash:net\n\
               add n 10.0.0.5/8\n\
               add n 10.2.0.0-10.2.1.255\n\
               add n 10.3.0.1-10.3.0.6\n\
               add n 192.0.2.7\n\
               create n6 hash:net family inet6\n\
               add n6 fd00::5/127 nomatch\n");
    assert_eq!(
        elems(&f.sets[0]),
        [
            "10.0.0.0/8",
            "10.2.0.0/23",
            "10.3.0.1",
            "10.3.0.2/31",
            "10.3.0.4/31",
            "10.3.0.6",
            "192.0.2.7"
        ]
    );
    match &f.sets[1].entries {
        SetEntries::HashNet(v) => assert_eq!(
            v[0].elem,
            NetElem {
                net: net("fd00::4/127"),
                nomatch: true
            }
        ),
        other => panic!("{other:?}"),
    }
    assert_eq!(
        range_to_cidrs(0, u32::MAX),
        vec![net("0.0.0.0/1"), net("128.0.0.0/1")]
    );
    assert_eq!(
        range_to_cidrs(1, u32::MAX).len(),
        32,
        "1..=2^32-1 is /32 + /31 + ... + /1"
    );
    assert_eq!(
        err("create n hash:net family inet6\nadd n fd00::1-fd00::3\n"),
        "2:7: `fd00::1-fd00::3`: IPv6 takes ADDRESS or ADDRESS/CIDR, no ranges"
    );
    assert_eq!(
        err("create n hash:net\nadd n 10.0.0.0/0\n"),
        "2:7: CIDR /0 is invalid: 0 matches everything"
    );
    assert_eq!(
        err("create n hash:ip\nadd n 10.0.0.1 nomatch\n"),
        "2:16: `nomatch` is not valid for set type hash:ip"
    );
    // nomatch does not make another element.
    assert_eq!(
        err("create n hash:net\nadd n 10.0.0.0/24 nomatch\nadd n 10.0.0.0/24\n"),
        "3:7: element 10.0.0.0/24 is already in set `n` (added at line 2)"
    );
}

#[test]
fn hash_ip_port() {
    let f = p("create p hash:ip,port\n\
               add p 10.0.0.1,80\n\
               add p 10.0.0.2,udp:90-88\n\
               add p 10.0.0.8/31,udp:5\n\
               add p 10.0.0.3,icmp:ping\n\
               add p 10.0.0.3,icmp:echo\n\
               add p 10.0.0.3,ICMP:3/1\n\
               add p 10.0.0.3,47:0\n\
               add p 10.0.0.3,esp:0\n\
               add p 10.0.0.3,TCP:0x10\n\
               add p 10.0.0.3,tcp:http\n\
               add p 10.0.0.3,udp:domain\n\
               add p 10.0.0.3,132:5\n\
               create p6 hash:ip,port family inet6\n\
               add p6 fd00::1,icmpv6:ping\n\
               add p6 fd00::1,ipv6-icmp:1/3\n\
               add p6 fd00::2,sctp:9\n");
    assert_eq!(
        elems(&f.sets[0]),
        [
            "10.0.0.1,tcp:80",
            "10.0.0.2,udp:88",
            "10.0.0.2,udp:89",
            "10.0.0.2,udp:90",
            "10.0.0.8,udp:5",
            "10.0.0.9,udp:5",
            "10.0.0.3,icmp:echo-request",
            "10.0.0.3,icmp:echo-reply",
            "10.0.0.3,icmp:host-unreachable",
            "10.0.0.3,gre:0",
            "10.0.0.3,esp:0",
            "10.0.0.3,tcp:16",
            "10.0.0.3,tcp:80",
            "10.0.0.3,udp:53",
            "10.0.0.3,sctp:5",
        ]
    );
    assert_eq!(
        elems(&f.sets[1]),
        [
            "fd00::1,ipv6-icmp:echo-request",
            "fd00::1,ipv6-icmp:address-unreachable",
            "fd00::2,sctp:9"
        ]
    );
    let e = |el: &str| err(&format!("create p hash:ip,port\nadd p {el}\n"));
    assert_eq!(
        e("10.0.0.1,47:5"),
        "2:7: protocol 47 can be used with pseudo port value 0 only"
    );
    assert_eq!(e("10.0.0.1,0:0"), "2:7: invalid protocol `0`");
    assert_eq!(e("10.0.0.1,ip:0"), "2:7: invalid protocol `ip`");
    assert_eq!(
        e("10.0.0.1,nope:1"),
        "2:7: cannot parse `nope` as a protocol"
    );
    assert_eq!(
        e("10.0.0.1,tcp:70000"),
        "2:7: `70000` is out of range 0-65535"
    );
    assert_eq!(e("10.0.0.1,tcp:5-"), "2:7: cannot parse `5-` as a port");
    assert_eq!(e("10.0.0.1,gre"), "2:7: cannot parse `gre` as a port");
    assert_eq!(
        e("10.0.0.1,icmp:8"),
        "2:7: cannot parse `8` as an ICMP type/code: expected TYPE/CODE or a name"
    );
    assert_eq!(
        e("10.0.0.1,icmp:1000/0"),
        "2:7: `1000` is out of range 0-255"
    );
    assert_eq!(
        e("10.0.0.1,tcp:1-3,udp:5"),
        "2:7: `10.0.0.1,tcp:1-3,udp:5` has two `,` but set type hash:ip,port takes one"
    );
    assert_eq!(
        e("10.0.0.1"),
        "2:7: `10.0.0.1` is not an element of hash:ip,port: expected ADDRESS,[PROTO:]PORT"
    );
    assert_eq!(
        e("10.0.0.0/24,tcp:0-65535"),
        "2:7: element expands to 16777216 entries, more than the 65536 sluice allows on one line"
    );
    assert_eq!(
        e("10.0.0.1,80 10.0.0.2,80"),
        "2:19: unknown element option `10.0.0.2,80` for set type hash:ip,port"
    );
}

#[test]
fn hash_net_port() {
    let f = p("create np hash:net,port\n\
               add np 10.0.0.0-10.0.0.5,tcp:1\n\
               add np 10.0.0.7,tcp:1-2 nomatch\n\
               add np 10.0.1.0/24,udp:53\n");
    assert_eq!(
        elems(&f.sets[0]),
        [
            "10.0.0.0/30,tcp:1",
            "10.0.0.4/31,tcp:1",
            "10.0.0.7,tcp:1",
            "10.0.0.7,tcp:2",
            "10.0.1.0/24,udp:53"
        ]
    );
    match &f.sets[0].entries {
        SetEntries::HashNetPort(v) => {
            let nomatch: Vec<bool> = v.iter().map(|e| e.elem.nomatch).collect();
            assert_eq!(nomatch, [false, false, true, true, false]);
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(
        err("create np hash:net,port\nadd np 10.0.0.9/0,udp:9\n"),
        "2:8: CIDR /0 is invalid: 0 matches everything"
    );
}

#[test]
fn bitmap_port() {
    let f = p("create b bitmap:port range 0x10-020\n\
               create c bitmap:port range 2000-1000 timeout 10\n\
               add c 1000\n\
               add c tcp:1001\n\
               add c udp:1500-1502 timeout 0\n");
    assert_eq!(f.sets[0].range, Some((16, 16)));
    let c = &f.sets[1];
    assert_eq!(c.range, Some((1000, 2000)));
    assert_eq!(c.timeout, Some(10));
    assert_eq!(elems(c), ["1000", "1001", "1500", "1501", "1502"]);
    let e = |el: &str| err(&format!("create b bitmap:port range 5-10\nadd b {el}\n"));
    assert_eq!(e("4"), "2:7: `4` is out of the range 5-10 of the set");
    assert_eq!(
        e("tcp:8-12"),
        "2:7: `tcp:8-12` is out of the range 5-10 of the set"
    );
    assert_eq!(e("sctp:6"), "2:7: only protocols TCP and UDP are valid");
    assert_eq!(
        err("create b bitmap:port\n"),
        "1:10: bitmap:port needs `range FROM-TO`"
    );
    assert_eq!(
        err("create b bitmap:port range 5\n"),
        "1:28: range `5` must be FROM-TO"
    );
    assert_eq!(
        err("create b bitmap:port range 5-6 family inet\n"),
        "1:32: unknown option `family` for set type bitmap:port"
    );
    assert_eq!(
        err("create b bitmap:port range 5-6 hashsize 64\n"),
        "1:32: unknown option `hashsize` for set type bitmap:port"
    );
}

#[test]
fn create_options() {
    let f = p(
        "create a hash:ip family inet6 hashsize 0x100 maxelem 010 timeout 2147483 \
               counters comment bucketsize 1 initval 5 netmask 64\n\
               create b hash:net hashsize 0 bucketsize 200 family ipv4\n\
               create c hash:ip netmask 32\n",
    );
    let a = &f.sets[0];
    assert_eq!(a.family, Some(Family::Inet6));
    assert_eq!(
        a.hash,
        Some(HashOptions {
            hashsize: 256,
            maxelem: 8,
            bucketsize: 2,
            initval: Some(5),
            netmask: Some(64),
            forceadd: false,
        })
    );
    assert_eq!(
        (a.timeout, a.counters, a.comment),
        (Some(2_147_483), true, true)
    );
    let b = f.sets[1].hash.as_ref().unwrap();
    assert_eq!((b.hashsize, b.bucketsize), (64, 12));
    assert_eq!(f.sets[2].hash.as_ref().unwrap().netmask, None);

    let e = |opts: &str| err(&format!("create a hash:ip {opts}\n"));
    assert_eq!(
        e("timeout 2147484"),
        "1:26: `2147484` is out of range 0-2147483"
    );
    assert_eq!(
        e("maxelem 4294967296"),
        "1:26: `4294967296` is out of range 0-4294967295"
    );
    assert_eq!(
        e("hashsize 4294967295"),
        "1:27: hashsize 4294967295 is too large"
    );
    assert_eq!(e("hashsize lots"), "1:27: `lots` is invalid as number");
    assert_eq!(
        e("family inet family inet6"),
        "1:30: `family` is given twice"
    );
    assert_eq!(
        e("family ipx"),
        "1:25: unknown family `ipx`: expected inet or inet6"
    );
    assert_eq!(
        e("netmask 33"),
        "1:26: netmask 33 is out of range 1-32 for family inet"
    );
    assert_eq!(
        e("netmask 129 family inet6"),
        "1:26: netmask 129 is out of range 1-128 for family inet6"
    );
    assert_eq!(
        e("netmask 0"),
        "1:26: netmask 0 is out of range 1-32 for family inet"
    );
    assert_eq!(e("hashsize"), "1:18: `hashsize` needs a value");
    assert_eq!(
        e("bogus 1"),
        "1:18: unknown option `bogus` for set type hash:ip"
    );
    assert_eq!(
        e("skbinfo"),
        "1:18: option `skbinfo` is not supported by sluice"
    );
    assert_eq!(
        err("create a hash:net netmask 24\n"),
        "1:19: unknown option `netmask` for set type hash:net"
    );
}

#[test]
fn create_errors() {
    assert_eq!(
        err("create a hash:ip\n# again\ncreate a hash:net\n"),
        "3:8: set `a` is already created at line 1"
    );
    assert_eq!(
        err("create a hash:foo\n"),
        "1:10: unknown set type `hash:foo`"
    );
    assert_eq!(
        err("create a list:set\n"),
        "1:10: set type `list:set` is not supported by sluice (supported: hash:ip, hash:net, \
         hash:ip,port, hash:net,port, bitmap:port)"
    );
    assert_eq!(
        err("create a\n"),
        "1:1: `create` needs a set name and a type"
    );
    assert_eq!(
        err("create toolongnameaaaaaaaaaaaaaaaaaaaaaa hash:ip\n"),
        "1:8: set name `toolongnameaaaaaaaaaaaaaaaaaaaaaa` is longer than 31 characters"
    );
    assert_eq!(
        err("create a hash:ip\nflush a\n"),
        "2:1: unsupported command `flush`: a sets file holds `create` and `add` lines, \
         as `ipset save` writes them"
    );
}

#[test]
fn add_errors() {
    assert_eq!(
        err("add nope 10.0.0.1\n"),
        "1:5: set `nope` does not exist (no `create` line for it before this one)"
    );
    assert_eq!(
        err("create a hash:ip\nadd a\n"),
        "2:1: `add` needs a set name and an element"
    );
    assert_eq!(
        err("create r4 hash:ip\nadd r4 10.0.0.1\nadd r4 10.0.0.0-10.0.0.3\n"),
        "3:8: element 10.0.0.1 is already in set `r4` (added at line 2)"
    );
    assert_eq!(
        err("create a hash:ip\nadd a 10.0.0.1 timeout 5\n"),
        "2:16: `timeout` cannot be used: set `a` was created without `timeout`"
    );
    assert_eq!(
        err("create a hash:ip\nadd a 10.0.0.1 packets 5\n"),
        "2:16: `packets` cannot be used: set `a` was created without `counters`"
    );
    assert_eq!(
        err("create a hash:ip\nadd a 10.0.0.1 comment x\n"),
        "2:16: `comment` cannot be used: set `a` was created without `comment`"
    );
    assert_eq!(
        err("create a hash:ip timeout 9\nadd a 10.0.0.1 timeout 5 timeout 6\n"),
        "2:26: `timeout` is given twice"
    );
    assert_eq!(
        err("create a hash:ip counters\nadd a 10.0.0.1 packets 18446744073709551615\n"),
        "2:24: `18446744073709551615` is out of range 0-18446744073709551614"
    );
    assert_eq!(
        err("create a hash:ip maxelem 2\nadd a 10.0.0.1\nadd a 10.0.0.2-10.0.0.3\n"),
        "3:7: set `a` is full: it holds maxelem 2 elements"
    );
    // forceadd never fills up.
    let f = p("create a hash:ip maxelem 2 forceadd\nadd a 10.0.0.1-10.0.0.3\n");
    assert_eq!(f.sets[0].entries.len(), 3);
    // Counters: a missing one is 0 when printed.
    let f = p("create c hash:ip counters\nadd c 10.0.0.1 bytes 7\n");
    assert_eq!(
        f.save().lines().nth(1),
        Some("add c 10.0.0.1 packets 0 bytes 7")
    );
}

#[test]
fn numbers_like_strtoull() {
    let n = |s: &str, max: u64| parse_c_number(s, max).map_err(|e| e.to_string());
    assert_eq!(n("0", 10), Ok(0));
    assert_eq!(n("010", 10), Ok(8));
    assert_eq!(n("0x1F", 100), Ok(31));
    assert_eq!(n("0X1f", 100), Ok(31));
    assert_eq!(n("09", 100), Err("`09` is invalid as number".into()));
    assert_eq!(n("0x", 100), Err("`0x` is invalid as number".into()));
    assert_eq!(n("", 100), Err("`` is invalid as number".into()));
    assert_eq!(n("+1", 100), Err("`+1` is invalid as number".into()));
    assert_eq!(
        n("99999999999999999999999", u64::MAX),
        Err(format!(
            "`99999999999999999999999` is out of range 0-{}",
            u64::MAX
        ))
    );
    assert_eq!(
        parse_c_number("101", 100),
        Err(SetsError::NumberRange {
            text: "101".into(),
            max: 100
        })
    );
}

#[test]
fn split_words() {
    let w = split("  add\ta  \"b c\"d \"\" x\"y\"").unwrap();
    let got: Vec<(&str, usize)> = w.iter().map(|w| (w.text.as_str(), w.column)).collect();
    assert_eq!(
        got,
        [("add", 3), ("a", 7), ("b cd", 10), ("", 17), ("xy", 20)]
    );
    assert_eq!(
        split("é \"x").unwrap_err(),
        (3, SetsError::UnterminatedQuote)
    );
    assert!(split("").unwrap().is_empty());
}

#[test]
fn no_panics_on_odd_input() {
    for text in [
        "create",
        "add",
        "create a",
        "create a hash:ip family",
        "create a bitmap:port range -",
        "create a bitmap:port range 1--2",
        "create a hash:ip,port\nadd a ,",
        "create a hash:ip,port\nadd a 1.2.3.4,:",
        "create a hash:ip,port\nadd a 1.2.3.4,icmp:/",
        "create a hash:ip,port\nadd a 1.2.3.4,icmp:",
        "create a hash:net\nadd a /",
        "create a hash:net\nadd a 1.2.3.4/",
        "create a hash:net\nadd a -",
        "create a hash:ip\nadd a 255.255.255.255-0.0.0.0",
        "create a hash:ip netmask 1\nadd a 0.0.0.0-255.255.255.255",
        "create a hash:ip family inet6 netmask 128\nadd a ::/128",
        "\"",
        "\u{feff}create a hash:ip",
    ] {
        let _ = parse(text, Path::new("x"));
    }
    // netmask 1 over the whole space is just two blocks.
    let f = p("create a hash:ip netmask 1\nadd a 0.0.0.0-255.255.255.255\n");
    assert_eq!(ips(&f.sets[0]), ["0.0.0.0", "128.0.0.0"]);
}

#[test]
fn load_reads_and_reports_io_errors() {
    let path = Path::new("/nonexistent/sluice/sets.save");
    let e = load(path).unwrap_err();
    assert_eq!(e.at.file, path);
    assert!(matches!(e.kind, ErrorKind::Io(_)));

    let dir = std::env::temp_dir().join(format!("sluice-ipset-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("sets.save");
    std::fs::write(&file, "create a hash:ip\nadd a 10.0.0.1\n").unwrap();
    let f = load(&file).unwrap();
    assert_eq!(ips(&f.sets[0]), ["10.0.0.1"]);
    std::fs::write(&file, "create a hash:ip\nadd b 10.0.0.1\n").unwrap();
    let e = load(&file).unwrap_err();
    assert_eq!(
        e.to_string(),
        format!(
            "{}:2:5: set `b` does not exist (no `create` line for it before this one)",
            file.display()
        )
    );
    std::fs::remove_dir_all(&dir).unwrap();
}

mod props {
    use super::*;
    use proptest::prelude::*;

    const WORDS: &[&str] = &[
        "create",
        "add",
        "a",
        "b",
        "hash:ip",
        "hash:net",
        "hash:ip,port",
        "hash:net,port",
        "bitmap:port",
        "list:set",
        "range",
        "1-5",
        "0-65535",
        "family",
        "inet",
        "inet6",
        "hashsize",
        "maxelem",
        "bucketsize",
        "initval",
        "netmask",
        "forceadd",
        "24",
        "64",
        "0",
        "1",
        "2",
        "0x10",
        "010",
        "timeout",
        "counters",
        "comment",
        "packets",
        "bytes",
        "nomatch",
        "\"x y\"",
        "\"",
        "#",
        "10.0.0.1",
        "10.0.0.0/30",
        "10.0.0.9-10.0.0.1",
        "0.0.0.0/1",
        "fd00::1",
        "fd00::/64",
        "10.0.0.1,tcp:80-82",
        "10.0.0.0/31,udp:53",
        "fd00::1,ipv6-icmp:ping",
        "10.0.0.1,icmp:3/1",
        "10.0.0.1,gre:0",
        "tcp:3",
        "udp:2-4",
        "10.0.0.1,",
        ",",
        ":",
        "/",
        "-",
    ];

    fn line() -> impl Strategy<Value = String> {
        prop::collection::vec(prop::sample::select(WORDS), 0..8).prop_map(|w| w.join(" "))
    }

    fn file() -> impl Strategy<Value = String> {
        prop::collection::vec(line(), 0..12).prop_map(|l| l.join("\n"))
    }

    type Shape = (&'static str, &'static [&'static str]);
    const SHAPES: &[Shape] = &[
        (
            "hash:ip",
            &["10.0.0.1", "10.0.0.0/30", "10.0.1.9-10.0.1.2", "10.0.0.2"],
        ),
        (
            "hash:ip family inet6 netmask 64",
            &["fd00::1", "fd00:0:0:1::9", "fd01::1/128"],
        ),
        (
            "hash:net timeout 5 comment",
            &[
                "10.0.0.0/8",
                "10.1.0.0-10.1.2.0 nomatch",
                "192.0.2.1 timeout 0 comment \"a b\"",
            ],
        ),
        (
            "hash:ip,port counters",
            &[
                "10.0.0.1,80",
                "10.0.0.2/31,udp:1-3 packets 4",
                "10.0.0.3,icmp:ping",
                "10.0.0.4,esp:0 bytes 9",
            ],
        ),
        (
            "hash:net,port family inet6",
            &[
                "fd00::/64,tcp:22",
                "fd00::1,ipv6-icmp:128/0",
                "fd01::/48,sctp:9-8 nomatch",
            ],
        ),
        (
            "bitmap:port range 1-100 timeout 3",
            &["5", "tcp:7-9", "udp:99 timeout 1"],
        ),
    ];

    /// A well-formed set with a few elements: mostly loads.
    fn set_file() -> impl Strategy<Value = String> {
        let sets = prop::sample::select(SHAPES);
        sets.prop_flat_map(|(create, elems)| {
            prop::collection::vec(prop::sample::select(elems), 0..4).prop_map(move |adds| {
                let mut text = format!("create s {create}\n");
                for a in adds {
                    text.push_str(&format!("add s {a}\n"));
                }
                text
            })
        })
    }

    proptest! {
        #[test]
        fn well_formed_sets_round_trip(text in set_file()) {
            // Duplicates are the only way these fail.
            match parse(&text, Path::new("x")) {
                Ok(f) => {
                    let once = f.save();
                    let again = parse(&once, Path::new("saved")).map(|g| g.save());
                    prop_assert_eq!(again, Ok(once));
                }
                Err(e) => prop_assert!(e.to_string().contains("is already in set"), "{}", e),
            }
        }

        #[test]
        fn arbitrary_text_never_panics(text in "\\PC{0,120}") {
            let _ = parse(&text, Path::new("x"));
        }

        /// Whatever parses prints back to text that parses to the same
        /// sets (compared through a second print).
        #[test]
        fn parse_save_round_trips(text in file()) {
            if let Ok(f) = parse(&text, Path::new("x")) {
                let once = f.save();
                let again = parse(&once, Path::new("saved")).map(|g| g.save());
                prop_assert_eq!(again, Ok(once));
            }
        }
    }
}
