//! The classifier against the plain ordered evaluation
//! ([`reference_first_from`]), plus the edge cases of the kernel's match
//! semantics.

use super::*;
use proptest::prelude::*;

const TCP: u8 = 6;
const UDP: u8 = 17;
const ICMP: u8 = 1;

fn ifaces(names: &[&str]) -> InterfaceTable {
    InterfaceTable::new(names.iter().map(|n| IfName::new(n).unwrap())).unwrap()
}

fn ip(a: u8, b: u8, c: u8, d: u8) -> u32 {
    u32::from_be_bytes([a, b, c, d])
}

fn iface(spec: &str) -> Option<IfaceMatch> {
    IfaceMatch::parse(spec, false)
}

fn not_iface(spec: &str) -> Option<IfaceMatch> {
    IfaceMatch::parse(spec, true)
}

fn tcp_to(dst: u32, dport: u16) -> PacketKey {
    PacketKey {
        src: ip(192, 0, 2, 1),
        dst,
        proto: TCP,
        sport: 40000,
        dport,
        has_ports: true,
        iif: 0,
        oif: IF_NONE,
        mark: 0,
    }
}

/// `-d dst/32 -p tcp --dport P`, the kube-proxy service rule.
fn kube(dst: u32, dport: u16) -> ClassKey {
    ClassKey {
        dst: Some(AddrMatch::prefix(dst, 32)),
        proto: Some(ProtoMatch {
            proto: TCP,
            invert: false,
        }),
        dport: Some(PortMatch::single(dport)),
        ..ClassKey::default()
    }
}

/// Asserts classifier == reference for `pkt` at every `from`, returns the
/// answer at 0.
fn check_all_from(
    keys: &[ClassKey],
    t: &InterfaceTable,
    c: &Classifier,
    pkt: &PacketKey,
) -> Option<usize> {
    for from in 0..=keys.len() + 1 {
        assert_eq!(
            c.first_from(pkt, from),
            reference_first_from(keys, t, pkt, from),
            "from {from}, packet {pkt:?}, keys {keys:#?}"
        );
    }
    c.first_from(pkt, 0)
}

#[test]
fn iface_names_follow_the_kernel_mask() {
    let n = |s| IfName::new(s).unwrap();
    let eth_plus = iface("eth+").unwrap();
    assert!(eth_plus.test(&n("eth0")));
    assert!(eth_plus.test(&n("eth")), "the prefix itself matches");
    assert!(!eth_plus.test(&n("et")));
    assert!(!eth_plus.test(&IfName::EMPTY), "no device is not eth+");
    let eth0 = iface("eth0").unwrap();
    assert!(eth0.test(&n("eth0")));
    assert!(!eth0.test(&n("eth00")), "the NUL is compared too");
    assert!(!eth0.test(&n("eth")));
    let any = iface("+").unwrap();
    assert!(any.test(&n("lo")));
    assert!(any.test(&IfName::EMPTY), "+ matches no device too");
    assert!(!not_iface("+").unwrap().test(&IfName::EMPTY));
    assert!(not_iface("eth0").unwrap().test(&IfName::EMPTY));
    let long = iface("abcdefghijklmno").unwrap();
    assert!(long.test(&n("abcdefghijklmno")));
    assert!(IfName::new("abcdefghijklmnop").is_none());
    assert!(IfName::new("a\0b").is_none());
}

#[test]
fn interface_table_errors() {
    let n = |s| IfName::new(s).unwrap();
    assert_eq!(
        InterfaceTable::new([n("a"), n("a")]),
        Err(IfTableError::Duplicate(n("a")))
    );
    assert_eq!(
        InterfaceTable::new([IfName::EMPTY]),
        Err(IfTableError::Empty)
    );
    let t = ifaces(&["eth0", "lo"]);
    assert_eq!(t.id("lo"), Some(1));
    assert_eq!(t.id("wlan0"), None);
    assert_eq!(t.name(IF_NONE), &IfName::EMPTY);
    assert_eq!(t.name(7), &IfName::EMPTY);
}

#[test]
fn empty_chain() {
    let t = ifaces(&["eth0"]);
    let c = Classifier::build_with(&[], &t, BuildMode::Indexed);
    assert!(c.is_empty());
    assert_eq!(c.first_from(&tcp_to(1, 1), 0), None);
    assert_eq!(c.first_from(&tcp_to(1, 1), 5), None);
    assert_eq!(c.stats().tuples, 0);
}

#[test]
fn all_wildcard_rule_first() {
    let t = ifaces(&["eth0"]);
    let keys = [
        ClassKey::default(),
        kube(ip(10, 0, 0, 1), 80),
        ClassKey::default(),
    ];
    let c = Classifier::build_with(&keys, &t, BuildMode::Indexed);
    let hit = tcp_to(ip(10, 0, 0, 1), 80);
    assert_eq!(c.first_from(&hit, 0), Some(0));
    assert_eq!(c.first_from(&hit, 1), Some(1));
    assert_eq!(c.first_from(&hit, 2), Some(2));
    assert_eq!(c.first_from(&hit, 3), None);
    let miss = tcp_to(ip(10, 0, 0, 2), 80);
    assert_eq!(c.first_from(&miss, 1), Some(2));
}

#[test]
fn duplicate_rules() {
    let t = ifaces(&["eth0"]);
    let r = kube(ip(10, 0, 0, 1), 80);
    let mut inv = r;
    inv.src = Some(AddrMatch::prefix(ip(10, 244, 0, 0), 16).inverted());
    let keys = [r, inv, r, inv, r];
    let c = Classifier::build_with(&keys, &t, BuildMode::Indexed);
    let p = tcp_to(ip(10, 0, 0, 1), 80);
    for from in 0..5 {
        assert_eq!(c.first_from(&p, from), Some(from));
    }
    let mut inside = p;
    inside.src = ip(10, 244, 1, 1);
    assert_eq!(c.first_from(&inside, 1), Some(2));
    assert_eq!(c.first_from(&inside, 3), Some(4));
    assert_eq!(
        c.stats().tuples,
        1,
        "inverted source is checked, not indexed"
    );
    assert_eq!(c.stats().largest_bucket, 5);
}

#[test]
fn fifty_thousand_kube_rules() {
    let t = ifaces(&["eth0", "eth1"]);
    let n = 50_000u32;
    let keys: Vec<ClassKey> = (0..n)
        .map(|i| kube(ip(10, 96, (i >> 8) as u8, i as u8), 1000 + (i % 7) as u16))
        .collect();
    let c = Classifier::build_with(&keys, &t, BuildMode::Indexed);
    assert_eq!(c.stats().tuples, 1);
    assert_eq!(c.stats().entries, n as usize);
    for i in (0..n).step_by(97).chain([n - 1]) {
        let p = tcp_to(ip(10, 96, (i >> 8) as u8, i as u8), 1000 + (i % 7) as u16);
        assert_eq!(c.first_from(&p, 0), Some(i as usize));
        assert_eq!(c.first_from(&p, i as usize), Some(i as usize));
        assert_eq!(c.first_from(&p, i as usize + 1), None);
        let mut wrong_port = p;
        wrong_port.dport += 1;
        if i % 7 != 6 {
            assert_eq!(c.first_from(&wrong_port, 0), None);
        }
        let mut udp = p;
        udp.proto = UDP;
        assert_eq!(c.first_from(&udp, 0), None);
    }
}

#[test]
fn values_outside_the_mask() {
    let t = ifaces(&["eth0"]);
    let p = tcp_to(ip(10, 0, 0, 1), 80);
    let bad_addr = ClassKey {
        dst: Some(AddrMatch {
            addr: ip(10, 0, 0, 1),
            mask: u32::prefix_mask(8),
            invert: false,
        }),
        ..ClassKey::default()
    };
    let mut bad_addr_inv = bad_addr;
    bad_addr_inv.dst = bad_addr.dst.map(AddrMatch::inverted);
    let bad_mark = ClassKey {
        mark: Some(MarkMatch {
            value: 3,
            mask: 1,
            invert: false,
        }),
        ..ClassKey::default()
    };
    let mut bad_mark_inv = bad_mark;
    bad_mark_inv.mark = Some(MarkMatch {
        value: 3,
        mask: 1,
        invert: true,
    });
    let keys = [bad_addr, bad_mark, bad_addr_inv, bad_mark_inv];
    let c = Classifier::build_with(&keys, &t, BuildMode::Indexed);
    assert_eq!(check_all_from(&keys, &t, &c, &p), Some(2));
    assert_eq!(c.first_from(&p, 3), Some(3));
    assert_eq!(c.stats().never, 2);
}

#[test]
fn protocol_zero_matches_everything_even_inverted() {
    let t = ifaces(&["eth0"]);
    let all_inv = ClassKey {
        proto: Some(ProtoMatch {
            proto: 0,
            invert: true,
        }),
        ..ClassKey::default()
    };
    let not_tcp = ClassKey {
        proto: Some(ProtoMatch {
            proto: TCP,
            invert: true,
        }),
        ..ClassKey::default()
    };
    let keys = [not_tcp, all_inv];
    let c = Classifier::build_with(&keys, &t, BuildMode::Indexed);
    assert_eq!(check_all_from(&keys, &t, &c, &tcp_to(1, 1)), Some(1));
    let mut icmp = tcp_to(1, 1);
    icmp.proto = ICMP;
    icmp.has_ports = false;
    assert_eq!(check_all_from(&keys, &t, &c, &icmp), Some(0));
}

#[test]
fn ports_need_a_first_fragment() {
    let t = ifaces(&["eth0"]);
    let range = |lo, hi, invert| ClassKey {
        dport: Some(PortMatch { lo, hi, invert }),
        ..ClassKey::default()
    };
    let keys = [
        range(0, u16::MAX, true), // never
        range(9, 3, false),       // never
        range(9, 3, true),        // any port
        range(0, u16::MAX, false),
        range(80, 80, true),
        ClassKey::default(),
    ];
    let c = Classifier::build_with(&keys, &t, BuildMode::Indexed);
    let mut frag = tcp_to(1, 80);
    frag.has_ports = false;
    assert_eq!(check_all_from(&keys, &t, &c, &frag), Some(5));
    assert_eq!(check_all_from(&keys, &t, &c, &tcp_to(1, 80)), Some(2));
    assert_eq!(c.first_from(&tcp_to(1, 80), 4), Some(5));
    assert_eq!(c.first_from(&tcp_to(1, 81), 4), Some(4));
    assert_eq!(c.stats().never, 2);
}

#[test]
fn port_ranges_are_indexed_as_blocks() {
    let t = ifaces(&["eth0"]);
    let keys: Vec<ClassKey> = [(6000, 6007), (1024, 2047), (1000, 2000), (443, 443)]
        .iter()
        .map(|&(lo, hi)| ClassKey {
            dport: Some(PortMatch::range(lo, hi)),
            ..ClassKey::default()
        })
        .collect();
    let c = Classifier::build_with(&keys, &t, BuildMode::Indexed);
    // Blocks up to 256 ports are indexed by their high byte, larger ones
    // not at all, the range checked on the entry; the single port 443
    // joins the high-byte tuple (TupleMerge): two tuples.
    assert_eq!(c.stats().tuples, 2);
    for port in [
        0, 443, 999, 1000, 1023, 1024, 2000, 2001, 2047, 2048, 5999, 6000, 6007, 6008,
    ] {
        check_all_from(&keys, &t, &c, &tcp_to(1, port));
    }
}

#[test]
fn interfaces_wildcards_and_none() {
    let t = ifaces(&["eth0", "eth1", "wlan0", "lo"]);
    let keys = [
        ClassKey {
            iif: iface("eth+"),
            oif: not_iface("eth+"),
            ..ClassKey::default()
        },
        ClassKey {
            oif: iface("+"),
            iif: iface("lo"),
            ..ClassKey::default()
        },
        ClassKey {
            iif: not_iface("+"),
            ..ClassKey::default()
        },
        ClassKey {
            iif: iface("nosuch0"),
            ..ClassKey::default()
        },
        ClassKey {
            iif: not_iface("nosuch0"),
            oif: iface("wlan0"),
            ..ClassKey::default()
        },
    ];
    let c = Classifier::build_with(&keys, &t, BuildMode::Indexed);
    assert_eq!(c.stats().never, 2);
    for iif in [0, 1, 2, 3, 4, 100, IF_NONE] {
        for oif in [0, 1, 2, 3, 4, 100, IF_NONE] {
            let mut p = tcp_to(1, 1);
            p.iif = iif;
            p.oif = oif;
            check_all_from(&keys, &t, &c, &p);
        }
    }
}

#[test]
fn large_interface_sets_are_checked() {
    let names: Vec<String> = (0..100)
        .map(|i| format!("veth{i}"))
        .chain(["eth0".into()])
        .collect();
    let refs: Vec<&str> = names.iter().map(|s| s.as_str()).collect();
    let t = ifaces(&refs);
    let keys = [
        ClassKey {
            iif: iface("veth+"),
            dst: Some(AddrMatch::prefix(ip(10, 0, 0, 0), 8)),
            ..ClassKey::default()
        },
        ClassKey {
            oif: not_iface("eth0"),
            ..ClassKey::default()
        },
        ClassKey {
            iif: iface("veth1+"),
            ..ClassKey::default()
        },
    ];
    let c = Classifier::build_with(&keys, &t, BuildMode::Indexed);
    assert_eq!(c.stats().verified, 3);
    for iif in [0, 1, 10, 19, 99, 100, 101, IF_NONE] {
        for oif in [0, 100, IF_NONE] {
            for dst in [ip(10, 1, 2, 3), ip(11, 0, 0, 0)] {
                let mut p = tcp_to(dst, 1);
                p.iif = iif;
                p.oif = oif;
                check_all_from(&keys, &t, &c, &p);
            }
        }
    }
}

#[test]
fn cursor_resumes_like_fresh_searches() {
    let t = ifaces(&["eth0", "eth1"]);
    let mut keys: Vec<ClassKey> = (0..300u32)
        .map(|i| kube(ip(10, 0, (i >> 8) as u8, i as u8), 80))
        .collect();
    keys.insert(
        150,
        ClassKey {
            src: Some(AddrMatch::prefix(ip(192, 0, 2, 0), 24).inverted()),
            ..ClassKey::default()
        },
    );
    for (i, k) in keys.iter_mut().enumerate().step_by(7) {
        k.src = Some(AddrMatch::prefix(ip(198, 51, 100, 0), 8 + (i % 25) as u32));
    }
    let c = Classifier::build_with(&keys, &t, BuildMode::Indexed);
    let pkts: Vec<PacketKey> = (0..200u32)
        .map(|i| {
            let mut p = tcp_to(ip(10, 0, (i >> 8) as u8, (i * 3) as u8), 80);
            if i % 5 == 0 {
                p.src = ip(198, 51, 100, 1);
            }
            p
        })
        .collect();
    for p in &pkts {
        let mut cur = c.cursor(p);
        let mut from = 0;
        loop {
            let got = cur.first_from(from);
            assert_eq!(
                got,
                reference_first_from(&keys, &t, p, from),
                "{p:?} from {from}"
            );
            match got {
                Some(r) => from = r + 1 + (r % 3),
                None => break,
            }
        }
    }
}

#[test]
fn residual_flags_are_kept() {
    let t = ifaces(&[]);
    let keys = [
        ClassKey {
            residual: true,
            ..ClassKey::default()
        },
        ClassKey::default(),
    ];
    let c = Classifier::build_with(&keys, &t, BuildMode::Indexed);
    assert!(c.has_residual(0));
    assert!(!c.has_residual(1));
    assert!(!c.has_residual(2));
    assert_eq!(c.first_from(&tcp_to(1, 1), 0), Some(0));
    assert_eq!(c.first_from(&tcp_to(1, 1), 1), Some(1));
}

#[test]
fn ipv6_addresses() {
    let t = ifaces(&["eth0"]);
    let net: u128 = 0x2001_0db8 << 96;
    let keys: Vec<ClassKey<u128>> = vec![
        ClassKey {
            src: Some(AddrMatch::prefix(net, 32).inverted()),
            ..ClassKey::default()
        },
        ClassKey {
            dst: Some(AddrMatch::prefix(net | 1, 128)),
            proto: Some(ProtoMatch {
                proto: TCP,
                invert: false,
            }),
            dport: Some(PortMatch::single(443)),
            ..ClassKey::default()
        },
        ClassKey {
            dst: Some(AddrMatch::prefix(net, 64)),
            ..ClassKey::default()
        },
    ];
    let unpruned = Classifier::build_pruned(&keys, &t, BuildMode::Indexed, Some(false));
    let pruned = Classifier::build_pruned(&keys, &t, BuildMode::Indexed, Some(true));
    for c in [unpruned, pruned] {
        ipv6_lookups(&keys, &t, &c);
    }
}

fn ipv6_lookups(keys: &[ClassKey<u128>], t: &InterfaceTable, c: &Classifier<u128>) {
    let net: u128 = 0x2001_0db8 << 96;
    let p = PacketKey::<u128> {
        src: net | 2,
        dst: net | 1,
        proto: TCP,
        sport: 1,
        dport: 443,
        has_ports: true,
        iif: 0,
        oif: IF_NONE,
        mark: 0,
    };
    assert_eq!(c.first_from(&p, 0), Some(1));
    assert_eq!(c.first_from(&p, 2), Some(2));
    let mut outside = p;
    outside.src = 1;
    assert_eq!(c.first_from(&outside, 0), Some(0));
    for from in 0..4 {
        assert_eq!(
            c.first_from(&p, from),
            reference_first_from(keys, t, &p, from)
        );
    }
    let mut other = p;
    other.dst = net << 1 | 1;
    assert_eq!(
        c.first_from(&other, 0),
        reference_first_from(keys, t, &other, 0)
    );
}

#[test]
fn shared_read_only() {
    fn assert_send_sync<T: Send + Sync>() {}
    assert_send_sync::<Classifier>();
    assert_send_sync::<Classifier<u128>>();
}

// ---------------------------------------------------------------------------
// Property: classifier == reference.

const IFACE_NAMES: &[&str] = &[
    "eth0", "eth1", "eth10", "eth", "wlan0", "lo", "docker0", "veth1a2b", "eth2", "wlan1",
    "br-lan", "e",
];
const IFACE_SPECS: &[&str] = &[
    "eth0", "eth+", "eth1", "+", "lo", "docker0", "nosuch0", "wlan+", "e+", "eth1+",
];
const ADDR_BASES: &[u32] = &[
    0,
    0x0a00_0000,
    0x0a00_0001,
    0x0a00_00ff,
    0x0a01_0000,
    0xc0a8_0101,
    0xffff_ffff,
    0x8000_0000,
];
const PORTS: &[u16] = &[
    0, 1, 22, 53, 80, 443, 1023, 1024, 2047, 2048, 6000, 6007, 65535,
];
const MARKS: &[u32] = &[0, 1, 2, 3, 0xff, 0x100, 0xffff_ffff, 0x8000_0001];

fn addr_value() -> impl Strategy<Value = u32> {
    prop_oneof![
        4 => (prop::sample::select(ADDR_BASES), prop::sample::select(&[0u32, 1, 255, 256, u32::MAX][..]))
            .prop_map(|(b, d)| b.wrapping_add(d)),
        1 => any::<u32>(),
    ]
}

fn addr_match() -> impl Strategy<Value = Option<AddrMatch>> {
    let mask = prop_oneof![
        6 => prop::sample::select(&[0u32, 1, 8, 16, 24, 31, 32][..]).prop_map(u32::prefix_mask),
        2 => (0u32..=32).prop_map(u32::prefix_mask),
        1 => any::<u32>(),
    ];
    let m = (
        addr_value(),
        mask,
        prop::bool::weighted(0.1),
        prop::bool::weighted(0.2),
    )
        .prop_map(|(addr, mask, keep_outside, invert)| AddrMatch {
            addr: if keep_outside { addr } else { addr & mask },
            mask,
            invert,
        });
    prop::option::weighted(0.6, m)
}

fn proto_match() -> impl Strategy<Value = Option<ProtoMatch>> {
    let m = (
        prop::sample::select(&[TCP, UDP, ICMP, 0][..]),
        prop::bool::weighted(0.2),
    )
        .prop_map(|(proto, invert)| ProtoMatch { proto, invert });
    prop::option::weighted(0.6, m)
}

fn port_match() -> impl Strategy<Value = Option<PortMatch>> {
    let bound = prop_oneof![3 => prop::sample::select(PORTS), 1 => any::<u16>()];
    let m = prop_oneof![
        3 => bound.clone().prop_map(PortMatch::single),
        2 => (bound.clone(), bound).prop_map(|(lo, hi)| PortMatch::range(lo, hi)),
        1 => (0u32..16, any::<u16>()).prop_map(|(bits, base)| {
            let size = 1u32 << bits;
            let lo = (base as u32 / size) * size;
            PortMatch::range(lo as u16, (lo + size - 1) as u16)
        }),
    ];
    let m = (m, prop::bool::weighted(0.2)).prop_map(|(m, invert)| PortMatch { invert, ..m });
    prop::option::weighted(0.35, m)
}

fn port_list() -> impl Strategy<Value = Option<PortList>> {
    let bound = prop_oneof![3 => prop::sample::select(PORTS), 1 => any::<u16>()];
    let item = prop_oneof![
        3 => bound.clone().prop_map(|p| (p, p)),
        1 => (bound.clone(), bound).prop_map(|(a, b)| (a.min(b), a.max(b))),
    ];
    let side = prop::sample::select(&[PortSide::Src, PortSide::Dst, PortSide::Either][..]);
    let m = (
        side,
        prop::collection::vec(item, 1..5),
        prop::bool::weighted(0.2),
    )
        .prop_map(|(side, items, invert)| PortList::new(side, &items, invert).unwrap());
    prop::option::weighted(0.25, m)
}

fn iface_match() -> impl Strategy<Value = Option<IfaceMatch>> {
    let m = (prop::sample::select(IFACE_SPECS), prop::bool::weighted(0.3))
        .prop_map(|(s, invert)| IfaceMatch::parse(s, invert).unwrap());
    prop::option::weighted(0.3, m)
}

fn mark_match() -> impl Strategy<Value = Option<MarkMatch>> {
    let m = (
        prop::sample::select(MARKS),
        prop::sample::select(&[0u32, 1, 0xff, 0xffff_ffff, 0xf0f0, 3][..]),
        prop::bool::weighted(0.1),
        prop::bool::weighted(0.2),
    )
        .prop_map(|(value, mask, keep_outside, invert)| MarkMatch {
            value: if keep_outside { value } else { value & mask },
            mask,
            invert,
        });
    prop::option::weighted(0.25, m)
}

fn class_key() -> impl Strategy<Value = ClassKey> {
    (
        (addr_match(), addr_match(), proto_match()),
        (port_match(), port_match(), port_list()),
        (iface_match(), iface_match(), mark_match(), any::<bool>()),
    )
        .prop_map(
            |((src, dst, proto), (sport, dport, ports), (iif, oif, mark, residual))| ClassKey {
                src,
                dst,
                proto,
                sport,
                dport,
                ports,
                iif,
                oif,
                mark,
                residual,
            },
        )
}

fn iface_id() -> impl Strategy<Value = u16> {
    prop_oneof![6 => 0u16..14, 1 => Just(IF_NONE), 1 => any::<u16>()]
}

fn packet() -> impl Strategy<Value = PacketKey> {
    (
        (addr_value(), addr_value()),
        (
            prop::sample::select(&[TCP, UDP, ICMP, 0, 47][..]),
            prop::bool::weighted(0.85),
        ),
        (
            prop_oneof![3 => prop::sample::select(PORTS), 1 => any::<u16>()],
            prop_oneof![3 => prop::sample::select(PORTS), 1 => any::<u16>()],
        ),
        (
            iface_id(),
            iface_id(),
            prop_oneof![3 => prop::sample::select(MARKS), 1 => any::<u32>()],
        ),
    )
        .prop_map(
            |((src, dst), (proto, has_ports), (sport, dport), (iif, oif, mark))| PacketKey {
                src,
                dst,
                proto,
                sport,
                dport,
                has_ports,
                iif,
                oif,
                mark,
            },
        )
}

fn iface_table() -> impl Strategy<Value = InterfaceTable> {
    prop::sample::subsequence(IFACE_NAMES, 0..=IFACE_NAMES.len())
        .prop_shuffle()
        .prop_map(|names| ifaces(&names))
}

/// A packet built to satisfy rule `k`'s positive matches, at the low or
/// high edge of each, so the boundaries of every rule get probed.
fn aimed_at(k: &ClassKey, t: &InterfaceTable, base: &PacketKey, high: bool) -> PacketKey {
    let mut p = *base;
    let edge = |m: &AddrMatch| if high { m.addr | !m.mask } else { m.addr };
    if let Some(m) = &k.src {
        p.src = edge(m);
    }
    if let Some(m) = &k.dst {
        p.dst = edge(m);
    }
    if let Some(m) = &k.proto {
        p.proto = m.proto;
    }
    if k.sport.is_some() || k.dport.is_some() || k.ports.is_some() {
        p.has_ports = true;
    }
    if let Some(&(lo, hi)) = k.ports.as_ref().and_then(|l| l.items().first()) {
        let port = if high { hi } else { lo };
        match k.ports.map(|l| l.side) {
            Some(PortSide::Src) => p.sport = port,
            _ => p.dport = port,
        }
    }
    if let Some(m) = &k.sport {
        p.sport = if high { m.hi } else { m.lo };
    }
    if let Some(m) = &k.dport {
        p.dport = if high { m.hi } else { m.lo };
    }
    let pick = |m: &IfaceMatch| {
        (0..t.len() as u16)
            .chain([IF_NONE])
            .filter(|&id| m.test(t.name(id)))
            .nth(usize::from(high))
    };
    if let Some(id) = k.iif.as_ref().and_then(pick) {
        p.iif = id;
    }
    if let Some(id) = k.oif.as_ref().and_then(pick) {
        p.oif = id;
    }
    if let Some(m) = &k.mark {
        p.mark = if high { m.value | !m.mask } else { m.value };
    }
    p
}

fn assert_same(
    keys: &[ClassKey],
    t: &InterfaceTable,
    c: &Classifier,
    p: &PacketKey,
) -> Result<(), TestCaseError> {
    for from in 0..=keys.len() + 1 {
        prop_assert_eq!(
            c.first_from(p, from),
            reference_first_from(keys, t, p, from),
            "from {}, packet {:?}",
            from,
            p
        );
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(400))]

    #[test]
    fn classifier_equals_reference(
        t in iface_table(),
        keys in prop::collection::vec(class_key(), 0..40),
        pkts in prop::collection::vec(packet(), 1..24),
    ) {
        let c = Classifier::build_with(&keys, &t, BuildMode::Indexed);
        // The same index with tuple pruning forced on and off.
        let pruned = Classifier::build_pruned(&keys, &t, BuildMode::Indexed, Some(true));
        let unpruned = Classifier::build_pruned(&keys, &t, BuildMode::Indexed, Some(false));
        for c in [&c, &pruned, &unpruned] {
            for p in &pkts {
                assert_same(&keys, &t, c, p)?;
            }
            for (i, k) in keys.iter().enumerate() {
                let base = &pkts[i % pkts.len()];
                for high in [false, true] {
                    assert_same(&keys, &t, c, &aimed_at(k, &t, base, high))?;
                }
            }
        }
        // The automatic choice (mostly the ordered scan for chains this
        // short) and a resumed cursor give the same answers.
        let auto = Classifier::build(&keys, &t);
        for p in &pkts {
            let mut cur = c.cursor(p);
            for from in [0, 1, keys.len() / 3, keys.len() / 2, keys.len()] {
                let want = reference_first_from(&keys, &t, p, from);
                prop_assert_eq!(auto.first_from(p, from), want);
                prop_assert_eq!(cur.first_from(from), want);
            }
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(24))]

    /// Big chains: many rules per tuple, real hash tables, long buckets.
    #[test]
    fn big_chains_equal_reference(
        t in iface_table(),
        seed_keys in prop::collection::vec(class_key(), 1..60),
        n in 200usize..2000,
        pkts in prop::collection::vec(packet(), 1..16),
    ) {
        // Mostly kube-proxy-like rules, the random ones sprinkled in.
        let keys: Vec<ClassKey> = (0..n)
            .map(|i| {
                if i % 17 == 0 {
                    seed_keys[i % seed_keys.len()]
                } else {
                    let mut k = kube(0x0a00_0000 + (i as u32 % 300), PORTS[i % PORTS.len()]);
                    k.src = seed_keys[i % seed_keys.len()].src;
                    k
                }
            })
            .collect();
        let pruned = n % 2 == 0;
        let c = Classifier::build_pruned(&keys, &t, BuildMode::Indexed, Some(pruned));
        prop_assert_eq!(c.prune.is_some(), pruned);
        let mut probes: Vec<PacketKey> = pkts.clone();
        for (i, k) in keys.iter().enumerate().step_by(7) {
            probes.push(aimed_at(k, &t, &pkts[i % pkts.len()], i % 2 == 0));
        }
        for p in &probes {
            for from in (0..=n + 1).step_by(n / 16).chain([1, n - 1, n, n + 1]) {
                prop_assert_eq!(c.first_from(p, from), reference_first_from(&keys, &t, p, from));
            }
            // Resume after each hit, as the evaluator does.
            let mut from = 0;
            let mut cur = c.cursor(p);
            while let Some(i) = cur.first_from(from) {
                prop_assert_eq!(Some(i), reference_first_from(&keys, &t, p, from));
                from = i + 1;
            }
            prop_assert_eq!(None, reference_first_from(&keys, &t, p, from));
        }
    }
}

#[test]
fn nested_prefixes_with_tuple_pruning() {
    // Nested prefixes of different lengths, later rules shorter, some
    // merged into tuples of shorter prefixes.
    let t = ifaces(&["eth0"]);
    let src = |a, len| ClassKey {
        src: Some(AddrMatch::prefix(a, len)),
        ..ClassKey::default()
    };
    let keys = [
        src(ip(10, 1, 2, 3), 32),
        src(ip(10, 1, 2, 0), 24),
        src(ip(10, 1, 0, 0), 16),
        src(ip(10, 0, 0, 0), 8),
        src(ip(10, 1, 2, 128), 25),
        src(ip(192, 168, 0, 0), 16),
        src(ip(10, 0, 0, 0), 0),
    ];
    let c = Classifier::build_pruned(&keys, &t, BuildMode::Indexed, Some(true));
    assert!(c.prune.is_some());
    for (a, want) in [
        (ip(10, 1, 2, 3), 0),
        (ip(10, 1, 2, 200), 1),
        (ip(10, 1, 3, 1), 2),
        (ip(10, 2, 0, 0), 3),
        (ip(192, 168, 9, 9), 5),
        (ip(11, 0, 0, 0), 6),
    ] {
        let mut p = tcp_to(1, 1);
        p.src = a;
        assert_eq!(check_all_from(&keys, &t, &c, &p), Some(want), "{a:x}");
    }
    let mut p = tcp_to(1, 1);
    p.src = ip(10, 1, 2, 200);
    assert_eq!(c.first_from(&p, 2), Some(2));
    assert_eq!(c.first_from(&p, 4), Some(4), "the /25 after the /8");
}

#[test]
fn shared_filters_are_the_tuples() {
    // The `! -s 192.0.2.0/24` of four rules is their tuple's filter,
    // tested once per lookup (one bucket of four); the rarer `! -s /16` is
    // checked on its entry; so is `! --sport` (its port blocks are wide:
    // one entry of a tuple that does not index the source port).
    let t = ifaces(&["eth0"]);
    let base = kube(ip(10, 0, 0, 1), 80);
    let not_src = |a, len| ClassKey {
        src: Some(AddrMatch::prefix(a, len).inverted()),
        ..base
    };
    let not_sport = ClassKey {
        sport: Some(PortMatch::single(40000).inverted()),
        ..base
    };
    let keys = [
        not_src(ip(192, 0, 2, 0), 24),
        not_src(ip(192, 0, 2, 0), 24),
        not_sport,
        not_src(ip(192, 0, 2, 0), 24),
        not_src(ip(192, 0, 0, 0), 16),
        not_src(ip(192, 0, 2, 0), 24),
        base,
    ];
    let c = Classifier::build_with(&keys, &t, BuildMode::Indexed);
    assert_eq!(c.stats().filtered_tuples, 1);
    assert_eq!(c.stats().largest_bucket, 4);
    assert_eq!(c.stats().verified, 2);
    let p = tcp_to(ip(10, 0, 0, 1), 80); // from 192.0.2.1, sport 40000
    assert_eq!(check_all_from(&keys, &t, &c, &p), Some(6));
    let mut other_sport = p;
    other_sport.sport = 1;
    assert_eq!(check_all_from(&keys, &t, &c, &other_sport), Some(2));
    let mut other_src = p;
    other_src.src = ip(192, 0, 3, 1);
    assert_eq!(check_all_from(&keys, &t, &c, &other_src), Some(0));
    assert_eq!(c.first_from(&other_src, 4), Some(5));
    let mut far = p;
    far.src = ip(198, 51, 100, 1);
    assert_eq!(c.first_from(&far, 4), Some(4));
}

#[test]
fn tuple_pruning_probes_only_tuples_that_can_match() {
    // A rule for each (source, destination) prefix-length pair of 32, 24,
    // 16 and 8 bits, longest first so that none joins another's tuple:
    // 16 tuples, each with an early rule. A packet that
    // only the last rule matches probes every tuple without pruning; with
    // it, only the tuple of the one rule whose prefixes cover the packet.
    let t = ifaces(&["eth0"]);
    let rule = |a: u32, sl: u32, dl: u32| ClassKey {
        src: Some(AddrMatch::prefix(a, sl)),
        dst: Some(AddrMatch::prefix(a, dl)),
        ..ClassKey::default()
    };
    let mut keys: Vec<ClassKey> = [32, 24, 16, 8]
        .into_iter()
        .flat_map(|s| [32, 24, 16, 8].map(|d| (s, d)))
        .enumerate()
        .map(|(k, (sl, dl))| rule(ip(20 + k as u8, 1, 2, 3), sl, dl))
        .collect();
    keys.push(rule(ip(99, 1, 2, 3), 32, 32));
    let p = PacketKey {
        src: ip(99, 1, 2, 3),
        dst: ip(99, 1, 2, 3),
        ..tcp_to(0, 1)
    };
    let pruned = Classifier::build_pruned(&keys, &t, BuildMode::Indexed, Some(true));
    let unpruned = Classifier::build_pruned(&keys, &t, BuildMode::Indexed, Some(false));
    assert_eq!(pruned.stats().tuples, 16);
    let mut probes = Vec::new();
    for c in [&pruned, &unpruned] {
        let mut cur = c.cursor(&p);
        assert_eq!(cur.first_from(0), Some(16));
        probes.push(cur.probes());
        assert_eq!(check_all_from(&keys, &t, c, &p), Some(16));
    }
    assert_eq!(probes, [1, 16], "probes with and without pruning");
    // Inside rule 10's `30.1.0.0/16` on both sides (and no other rule's):
    // one probe, where the walk without pruning stops after 11.
    let q = PacketKey {
        src: ip(30, 1, 9, 9),
        dst: ip(30, 1, 9, 9),
        ..p
    };
    for c in [&pruned, &unpruned] {
        assert_eq!(check_all_from(&keys, &t, c, &q), Some(10));
    }
    let mut cur = pruned.cursor(&q);
    assert_eq!(cur.first_from(0), Some(10));
    assert_eq!(cur.probes(), 1);
}
