use super::*;
use crate::conntrack::tuple::addr;
use std::collections::HashSet;

fn a(s: &str) -> Addr {
    addr(s.parse().unwrap())
}

fn udp(src: &str, sport: u16, dst: &str, dport: u16) -> Tuple {
    let v6 = src.contains(':');
    Tuple {
        src: a(src),
        dst: a(dst),
        sport,
        dport,
        proto: 17,
        family: if v6 { 6 } else { 4 },
        zone: 0,
    }
}

fn to(lo: &str, hi: &str) -> Range {
    Range {
        addrs: Some((a(lo), a(hi))),
        ..Range::default()
    }
}

fn one() -> PortSlice {
    PortSlice::new(0, 1)
}

/// A table of tuples in use (original-direction form) that records
/// every probe and can hold bysource mappings (reply tuples).
#[derive(Default)]
struct Table {
    used: HashSet<Tuple>,
    bysource: Vec<Tuple>,
    probes: Vec<(Tuple, Check)>,
}

impl Table {
    fn with(used: &[Tuple]) -> Table {
        Table {
            used: used.iter().copied().collect(),
            ..Table::default()
        }
    }

    /// A connection confirmed with `new`: its tuple is used.
    fn commit(&mut self, new: Tuple) {
        self.used.insert(new);
    }
}

impl Conns for Table {
    fn taken(&mut self, t: &Tuple, check: Check) -> bool {
        self.probes.push((*t, check));
        self.used.contains(t)
    }
    fn same_src(&mut self, _: &Tuple, visit: &mut dyn FnMut(&Tuple) -> bool) {
        for r in self.bysource.iter().rev() {
            if visit(r) {
                return;
            }
        }
    }
}

/// A counter as randomness: each draw the next value.
fn counter(start: u32) -> impl FnMut() -> u32 {
    let mut n = start;
    move || {
        n = n.wrapping_add(1);
        n - 1
    }
}

fn no_rand() -> u32 {
    panic!("no randomness expected")
}

fn pick(orig: &Tuple, range: &Range, manip: Manip, table: &mut Table) -> Option<Tuple> {
    select(orig, range, manip, one(), &mut no_rand, table)
}

#[test]
fn a_free_tuple_in_range_is_kept_unchanged() {
    // The null binding: the range is the source address itself.
    let t = udp("198.51.100.1", 4000, "203.0.113.5", 53);
    let mut tab = Table::default();
    let range = to("198.51.100.1", "198.51.100.1");
    assert_eq!(pick(&t, &range, Manip::Src, &mut tab), Some(t));
    assert_eq!(tab.probes, vec![(t, Check::Unchanged)]);
    // SNAT to another address keeps the port when it is free.
    let range = to("192.0.2.200", "192.0.2.200");
    let got = pick(&t, &range, Manip::Src, &mut tab).unwrap();
    assert_eq!(
        got,
        Tuple {
            src: a("192.0.2.200"),
            ..t
        }
    );
}

/// The kernel (6.18, SNAT `--to-source 192.0.2.200`, three clients
/// with the same source port to the same server) kept the port for
/// the first and remapped the others into the port's default range:
/// 0 -> 169, 164; 100 -> 306, 346; 550 -> 920, 943; 700 -> 911, 624;
/// 4000 -> 59293, 55660. Ours, with a given offset, lands in the
/// same range at `min + offset % size`.
#[test]
fn a_clash_remaps_into_the_ports_default_range() {
    let range = to("192.0.2.200", "192.0.2.200");
    for (port, lo, hi) in [
        (0u16, 1u16, 511u16),
        (100, 1, 511),
        (550, 600, 1023),
        (700, 600, 1023),
        (4000, 1024, 65535),
    ] {
        let first = udp("198.51.100.1", port, "203.0.113.5", 53);
        let mut tab = Table::default();
        let kept = pick(&first, &range, Manip::Src, &mut tab).unwrap();
        assert_eq!(kept.sport, port, "the first keeps {port}");
        tab.commit(kept);
        let second = udp("198.51.100.2", port, "203.0.113.5", 53);
        let got = select(&second, &range, Manip::Src, one(), &mut || 1000, &mut tab).unwrap();
        let size = u32::from(hi - lo) + 1;
        assert_eq!(u32::from(got.sport), u32::from(lo) + 1000 % size, "{port}");
        assert_eq!(got.src, a("192.0.2.200"));
    }
}

/// `--to-source 192.0.2.200:5000-5001`: two clients get the two
/// ports, a third finds none (the kernel left no entry for it).
#[test]
fn an_exhausted_port_range_gives_none() {
    let range = Range {
        ports: Some((5000, 5001)),
        ..to("192.0.2.200", "192.0.2.200")
    };
    let mut tab = Table::default();
    let mut rand = counter(0);
    let mut got = Vec::new();
    for c in 1..=3 {
        let t = udp(&format!("198.51.100.{c}"), 4000, "203.0.113.5", 53);
        let new = select(&t, &range, Manip::Src, one(), &mut rand, &mut tab);
        if let Some(new) = new {
            tab.commit(new);
        }
        got.push(new.map(|n| n.sport));
    }
    assert_eq!(got, vec![Some(5000), Some(5001), None]);
}

/// 128 probes from the offset, then rounds of 64, 32, 16 and 8 from
/// fresh offsets; the attempts left count down in each round.
#[test]
fn the_search_shrinks_its_rounds_then_gives_up() {
    let range = Range {
        ports: Some((10000, 10999)),
        ..to("192.0.2.200", "192.0.2.200")
    };
    struct Full(Vec<Check>);
    impl Conns for Full {
        fn taken(&mut self, _: &Tuple, check: Check) -> bool {
            self.0.push(check);
            true
        }
    }
    let mut full = Full(Vec::new());
    let mut draws = 0;
    // In the range: step 3 probes it once.
    let t = udp("198.51.100.1", 10500, "203.0.113.5", 53);
    let got = select(
        &t,
        &range,
        Manip::Src,
        one(),
        &mut || {
            draws += 1;
            0
        },
        &mut full,
    );
    assert_eq!(got, None);
    assert_eq!(full.0[0], Check::Used);
    let search: Vec<u32> = full.0[1..]
        .iter()
        .map(|c| match c {
            Check::Search { attempts_left } => *attempts_left,
            other => panic!("{other:?}"),
        })
        .collect();
    let mut want = Vec::new();
    for round in [128u32, 64, 32, 16, 8] {
        want.extend((1..=round).rev());
    }
    assert_eq!(search, want);
    assert_eq!(draws, 5, "one offset per round");
    // A range the first round covers whole is probed once (and
    // 10500 is not in it: no step 3).
    let small = Range {
        ports: Some((10000, 10099)),
        ..range
    };
    let mut full = Full(Vec::new());
    assert_eq!(
        select(&t, &small, Manip::Src, one(), &mut || 0, &mut full),
        None
    );
    assert_eq!(full.0.len(), 100);
}

/// Probes walk the range from the offset and wrap at its end; the u16
/// offset wraps at 65536 (not at the range's size).
#[test]
fn probes_walk_from_the_offset_and_wrap() {
    let range = Range {
        ports: Some((5000, 5009)),
        ..to("192.0.2.200", "192.0.2.200")
    };
    let t = udp("198.51.100.1", 4000, "203.0.113.5", 53);
    let mut tab = Table::with(&[5008, 5009, 5000].map(|p| Tuple {
        src: a("192.0.2.200"),
        sport: p,
        ..t
    }));
    let got = select(&t, &range, Manip::Src, one(), &mut || 8, &mut tab).unwrap();
    assert_eq!(got.sport, 5001);
    // 65535 % 10 = 5, then 0 % 10 = 0 (not 6).
    let mut tab = Table::with(&[Tuple {
        src: a("192.0.2.200"),
        sport: 5005,
        ..t
    }]);
    let got = select(&t, &range, Manip::Src, one(), &mut || 0xffff, &mut tab).unwrap();
    assert_eq!(got.sport, 5000);
}

/// The kernel's picks for `-j DNAT --to-destination 10.0.1.2-10.0.1.3`
/// and `10.0.1.2-10.0.1.9` (with `--persistent`, and in zone 7 by
/// `-j CT --zone 7`), UDP from 198.51.100.N:4000, read back with
/// `conntrack -L` in a network namespace of a 6.18 kernel: the last
/// octet of the backend for N = 1, 2, ...
#[test]
fn dnat_range_picks_the_kernels_backend() {
    // server, highest backend, zone, persistent or not: the picks.
    let cases = [
        "203.0.113.5 10.0.1.3 0 -: 2 2 3 2 3 2 2 3 2 2 3 2 2 2 2 2 2 3 2 3",
        "203.0.113.5 10.0.1.9 0 -: 2 3 7 4 8 4 5 7 5 4 8 4 2 3 3 3",
        "203.0.113.77 10.0.1.9 0 -: 3 4 2 8 6 6 2 6 4 5 9 7 4 8 7 3",
        "8.8.8.8 10.0.1.9 0 -: 9 9 3 5 2 5 4 7 8 7 7 7 5 4 9 4",
        "203.0.113.5 10.0.1.9 0 persistent: 8 8 3 6 4 4 4 4 7 9 9 6 3 3 3 5",
        "8.8.8.8 10.0.1.9 0 persistent: 8 8 3 6 4 4 4 4 7 9 9 6 3 3 3 5",
        "203.0.113.5 10.0.1.9 7 -: 6 3 9 3 7 7 2 5 5 3 4 8 7 7 6 6",
        "203.0.113.77 10.0.1.9 7 -: 4 9 5 2 7 4 3 9 8 8 7 4 9 6 9 9",
        "8.8.8.8 10.0.1.9 7 -: 5 3 3 7 3 3 8 3 2 3 3 5 4 2 4 7",
    ];
    for case in cases {
        let (head, want) = case.split_once(": ").unwrap();
        let [dst, hi, zone, flag] = [0, 1, 2, 3].map(|i| head.split(' ').nth(i).unwrap());
        let range = Range {
            persistent: flag == "persistent",
            ..to("10.0.1.2", hi)
        };
        let got: Vec<String> = (1..=want.split(' ').count())
            .map(|n| {
                let t = Tuple {
                    zone: zone.parse().unwrap(),
                    ..udp(&format!("198.51.100.{n}"), 4000, dst, 53)
                };
                let new = pick(&t, &range, Manip::Dst, &mut Table::default()).unwrap();
                assert_eq!((new.src, new.sport, new.dport), (t.src, 4000, 53));
                new.dst[3].to_string()
            })
            .collect();
        assert_eq!(got.join(" "), want, "{head}");
    }
}

#[test]
fn dnat_range_spreads_clients_over_the_backends() {
    let range = to("10.0.1.2", "10.0.1.9");
    let mut per = [0u32; 8];
    for n in 0..4000u32 {
        let [_, _, x, y] = n.to_be_bytes();
        let t = udp(&format!("172.16.{x}.{y}"), 4000, "203.0.113.5", 80);
        let new = pick(&t, &range, Manip::Dst, &mut Table::default()).unwrap();
        per[usize::from(new.dst[3] - 2)] += 1;
    }
    for (i, n) in per.iter().enumerate() {
        assert!((400..600).contains(n), "backend {i}: {n} of 4000");
    }
}

/// `--persistent` hashes the source alone: the same client gets the
/// same backend whatever the destination; without it, it varies.
#[test]
fn persistent_hashes_the_source_alone() {
    let plain = to("10.0.1.2", "10.0.1.9");
    let persistent = Range {
        persistent: true,
        ..plain
    };
    let backend = |range: &Range, dst: &str| {
        let t = udp("198.51.100.1", 4000, dst, 53);
        pick(&t, range, Manip::Dst, &mut Table::default())
            .unwrap()
            .dst
    };
    let dsts = ["203.0.113.5", "203.0.113.77", "8.8.8.8", "192.0.2.9"];
    let p: HashSet<Addr> = dsts.iter().map(|d| backend(&persistent, d)).collect();
    let n: HashSet<Addr> = dsts.iter().map(|d| backend(&plain, d)).collect();
    assert_eq!(p.len(), 1);
    assert!(n.len() > 1);
}

/// IPv6 picks of a 6.18 kernel: a range in the last word, and one
/// across a word boundary (2001:db8:9::1:fffe-2001:db8:9::2:0:1),
/// where the kernel's word-by-word pick leaves the range, and where a
/// destination manip folds the words it has just written into the
/// hash. SNAT over the same kind of range folds the (unchanged)
/// destination in instead.
#[test]
fn ipv6_picks_match_the_kernel() {
    // Each line: client, server, the backend the kernel chose.
    let word = [
        "2001:db8:1::1 2001:db8:2::5 2001:db8:9::1d",
        "2001:db8:1:2::42 2001:db8:2::77:1234 2001:db8:9::11",
        "2001:db8:1::3 2001:db8:2:abcd::9 2001:db8:9::1b",
    ];
    let across = [
        "2001:db8:1:1::42 2001:db8:2::5 2001:db8:9::ef3:b283",
        "2001:db8:1::1 2001:db8:2::77:1234 2001:db8:9::48b1:e935",
        "2001:db8:1::2 2001:db8:2:abcd::9 2001:db8:9::1436:b2b3",
        "2001:db8:1::3 2001:db8:2::5 2001:db8:9::1:7352:e7ac",
    ];
    let across_persistent = [
        "2001:db8:1::1 2001:db8:2::5 2001:db8:9::1:9d30:b91d",
        "2001:db8:1::2 2001:db8:2:abcd::9 2001:db8:9::2:f1b6:e482",
    ];
    let in_word = ("2001:db8:9::10", "2001:db8:9::1f");
    let over_words = ("2001:db8:9::1:fffe", "2001:db8:9::2:0:1");
    let ranges = [
        (in_word, false, &word[..]),
        (over_words, false, &across[..]),
        (over_words, true, &across_persistent[..]),
    ];
    for ((lo, hi), persistent, cases) in ranges {
        let range = Range {
            persistent,
            ..to(lo, hi)
        };
        for case in cases {
            let [src, dst, want] = [0, 1, 2].map(|i| case.split(' ').nth(i).unwrap());
            let t = udp(src, 4000, dst, 53);
            let new = pick(&t, &range, Manip::Dst, &mut Table::default()).unwrap();
            assert_eq!(new.dst, a(want), "{src} -> {dst} in {lo}-{hi}");
        }
    }
    let snat = to("2001:db8:ff::1:fffe", "2001:db8:ff::2:0:1");
    for (src, want) in [
        ("2001:db8:1:1::42", "2001:db8:ff::ef3:b983"),
        ("2001:db8:1::1", "2001:db8:ff::2:d8d2:e08f"),
        ("2001:db8:1::2", "2001:db8:ff::1:9e7f:5de"),
    ] {
        let t = udp(src, 4000, "2001:db8:2::5", 53);
        let new = pick(&t, &snat, Manip::Src, &mut Table::default()).unwrap();
        assert_eq!((new.src, new.sport), (a(want), 4000), "{src}");
    }
}

/// `find_appropriate_src`: the kernel (SNAT to 192.0.2.210-213) gave
/// 198.51.100.1:4000 the address 192.0.2.212 for 8.8.8.1 and kept it
/// for 8.8.8.2..12, where the hash alone picks .210, .211 or .213
/// for some. A mapping out of the range is not reused (IPv6: the
/// kernel's first pick 2001:db8:ff::2:d8d2:e08f lies outside its
/// range, so the next flow is hashed anew).
#[test]
fn a_sources_mapping_is_reused_while_in_range() {
    let range = to("192.0.2.210", "192.0.2.213");
    let mut tab = Table::default();
    let first = udp("198.51.100.1", 4000, "8.8.8.1", 53);
    let new = pick(&first, &range, Manip::Src, &mut tab).unwrap();
    assert_eq!(new.src, a("192.0.2.212"));
    tab.commit(new);
    tab.bysource.push(new.invert().unwrap());
    let other = udp("198.51.100.1", 4000, "8.8.8.3", 53);
    let hashed = pick(&other, &range, Manip::Src, &mut Table::default()).unwrap();
    assert_eq!(hashed.src, a("192.0.2.210"));
    let got = pick(&other, &range, Manip::Src, &mut tab).unwrap();
    assert_eq!(
        (got.src, got.sport, got.dst),
        (a("192.0.2.212"), 4000, a("8.8.8.3"))
    );

    let v6 = to("2001:db8:ff::1:fffe", "2001:db8:ff::2:0:1");
    let mut tab = Table::default();
    let first = udp("2001:db8:1::1", 4000, "2001:db8:2::5", 53);
    let new = pick(&first, &v6, Manip::Src, &mut tab).unwrap();
    tab.commit(new);
    tab.bysource.push(new.invert().unwrap());
    let next = udp("2001:db8:1::1", 4000, "2001:db8:2::77:1234", 53);
    let got = pick(&next, &v6, Manip::Src, &mut tab).unwrap();
    assert_eq!(got.src, a("2001:db8:ff::48b1:e235"));
}

/// DNAT keeps an in-range destination port; on a clash it searches
/// from offset 0, not at random (6.18: 10.0.1.2:1000-1009 gave
/// 1005, then 1000, then 1001 for three flows to port 1005).
#[test]
fn dnat_port_range_searches_from_its_start() {
    let range = Range {
        ports: Some((1000, 1009)),
        ..to("10.0.1.2", "10.0.1.2")
    };
    let mut tab = Table::default();
    let mut got = Vec::new();
    for vip in ["203.0.113.5", "203.0.113.6", "203.0.113.7"] {
        let t = udp("198.51.100.1", 4000, vip, 1005);
        let new = pick(&t, &range, Manip::Dst, &mut tab).unwrap();
        assert_eq!((new.dst, new.sport), (a("10.0.1.2"), 4000));
        tab.commit(new);
        got.push(new.dport);
    }
    assert_eq!(got, vec![1005, 1000, 1001]);
    // A port outside the range goes to the range's first free port.
    let t = udp("198.51.100.9", 4000, "203.0.113.5", 53);
    assert_eq!(pick(&t, &range, Manip::Dst, &mut tab).unwrap().dport, 1000);
    // --random draws the offset.
    let random = Range {
        random: true,
        ..range
    };
    let got = select(&t, &random, Manip::Dst, one(), &mut || 4, &mut tab).unwrap();
    assert_eq!(got.dport, 1004);
}

/// A destination manip without a port range never changes the port,
/// even when the tuple is taken (the confirm step sees the clash).
#[test]
fn dnat_without_ports_keeps_the_port_even_if_taken() {
    let range = to("10.0.1.2", "10.0.1.2");
    let t = udp("198.51.100.1", 4000, "203.0.113.5", 80);
    let new = Tuple {
        dst: a("10.0.1.2"),
        ..t
    };
    let mut tab = Table::with(&[new]);
    assert_eq!(pick(&t, &range, Manip::Dst, &mut tab), Some(new));
}

/// `--to-destination 10.0.1.2:6000-6099/5000`: 5007 -> 6007 (6.18),
/// even though 5007 is free; taken, the next one.
#[test]
fn an_offset_range_shifts_the_port() {
    let range = Range {
        ports: Some((6000, 6099)),
        base: Some(5000),
        ..to("10.0.1.2", "10.0.1.2")
    };
    let t = udp("198.51.100.1", 5007, "203.0.113.5", 5007);
    let got = pick(&t, &range, Manip::Dst, &mut Table::default()).unwrap();
    assert_eq!((got.dst, got.dport), (a("10.0.1.2"), 6007));
    let mut tab = Table::with(&[got]);
    assert_eq!(pick(&t, &range, Manip::Dst, &mut tab).unwrap().dport, 6008);
}

/// `--random` remaps a free port too (6.18 gave three flows random
/// ports, the first included).
#[test]
fn random_skips_keeping_the_port() {
    let range = Range {
        random_fully: true,
        ..to("192.0.2.200", "192.0.2.200")
    };
    let t = udp("198.51.100.1", 4000, "203.0.113.5", 53);
    let mut tab = Table::default();
    let got = select(&t, &range, Manip::Src, one(), &mut || 7, &mut tab).unwrap();
    assert_eq!(got.sport, 1024 + 7);
    assert_eq!(tab.probes.len(), 1);
    assert!(matches!(tab.probes[0].1, Check::Search { .. }));
}

/// ICMP: the echo id is remapped on a clash, over all ids (6.18 gave
/// 20835 and 5548 to the second and third client's id 777), or in a
/// given range.
#[test]
fn icmp_ids_are_remapped_on_a_clash() {
    let echo = |c: u8| Tuple {
        proto: 1,
        sport: 777,
        dport: 8 << 8,
        ..udp(&format!("198.51.100.{c}"), 0, "203.0.113.5", 0)
    };
    let range = to("192.0.2.200", "192.0.2.200");
    let mut tab = Table::default();
    let first = pick(&echo(1), &range, Manip::Src, &mut tab).unwrap();
    assert_eq!(
        (first.src, first.sport, first.dport),
        (a("192.0.2.200"), 777, 8 << 8)
    );
    tab.commit(first);
    let second = select(&echo(2), &range, Manip::Src, one(), &mut || 20835, &mut tab).unwrap();
    assert_eq!((second.sport, second.dport), (20835, 8 << 8));
    let ids = Range {
        ports: Some((100, 199)),
        ..range
    };
    let third = select(&echo(3), &ids, Manip::Src, one(), &mut || 5, &mut tab).unwrap();
    assert_eq!(third.sport, 105);
}

/// DNAT of ICMP changes the id too, from 0 up (6.18: echo id 777
/// from one client to three addresses DNATed to 10.0.1.2 got the
/// ids 777, 0 and 1).
#[test]
fn dnat_of_icmp_searches_ids_from_zero() {
    let range = to("10.0.1.2", "10.0.1.2");
    let mut tab = Table::default();
    let mut got = Vec::new();
    for vip in ["203.0.113.5", "203.0.113.6", "203.0.113.7"] {
        let echo = Tuple {
            proto: 1,
            sport: 777,
            dport: 8 << 8,
            ..udp("198.51.100.1", 0, vip, 0)
        };
        let new = pick(&echo, &range, Manip::Dst, &mut tab).unwrap();
        assert_eq!((new.dst, new.dport), (a("10.0.1.2"), 8 << 8));
        tab.commit(new);
        got.push(new.sport);
    }
    assert_eq!(got, vec![777, 0, 1]);
}

/// A protocol without ports (GRE here): only the address changes,
/// and a taken tuple is returned as is.
#[test]
fn a_protocol_without_ports_changes_only_the_address() {
    let t = Tuple {
        proto: 47,
        ..udp("198.51.100.1", 0, "203.0.113.5", 0)
    };
    let range = to("192.0.2.200", "192.0.2.200");
    let want = Tuple {
        src: a("192.0.2.200"),
        ..t
    };
    let mut tab = Table::with(&[want]);
    assert_eq!(
        select(&t, &range, Manip::Src, one(), &mut || 3, &mut tab),
        Some(want)
    );
}

#[test]
fn ipv6_snat_keeps_a_free_port_and_remaps_a_taken_one() {
    let range = to("2001:db8:ff::10", "2001:db8:ff::10");
    let t = udp("2001:db8:1::1", 4000, "2001:db8:2::5", 53);
    let mut tab = Table::default();
    let new = pick(&t, &range, Manip::Src, &mut tab).unwrap();
    assert_eq!(
        (new.src, new.sport, new.family),
        (a("2001:db8:ff::10"), 4000, 6)
    );
    tab.commit(new);
    let t2 = udp("2001:db8:1::2", 4000, "2001:db8:2::5", 53);
    let got = select(&t2, &range, Manip::Src, one(), &mut || 9, &mut tab).unwrap();
    assert_eq!((got.src, got.sport), (a("2001:db8:ff::10"), 1024 + 9));
}

/// Two workers NATing clients that all use the same source port to
/// the same server: each keeps only ports it owns, chooses only from
/// its own part, and no port is chosen twice.
#[test]
fn two_workers_never_share_a_port() {
    let range = to("192.0.2.200", "192.0.2.200");
    // Each worker sees only its own shard.
    let mut tabs = [Table::default(), Table::default()];
    let mut mine: [Vec<u16>; 2] = [Vec::new(), Vec::new()];
    let mut rand = counter(12345);
    for c in 0..400u32 {
        let w = c % 2;
        let slice = PortSlice::new(w, 2);
        let [_, _, x, y] = c.to_be_bytes();
        let t = udp(&format!("10.{x}.{y}.1"), 40000, "203.0.113.5", 53);
        let tab = &mut tabs[w as usize];
        let new = select(&t, &range, Manip::Src, slice, &mut rand, tab).unwrap();
        tab.commit(new);
        mine[w as usize].push(new.sport);
    }
    assert!(mine[0].iter().all(|&p| PortSlice::new(0, 2).owns(p)));
    assert!(mine[1].iter().all(|&p| PortSlice::new(1, 2).owns(p)));
    // 40000 is worker 0's: only worker 0 kept it (once).
    assert!(PortSlice::new(0, 2).owns(40000));
    assert_eq!(mine[0].iter().filter(|&&p| p == 40000).count(), 1);
    let all: HashSet<u16> = mine.iter().flatten().copied().collect();
    assert_eq!(all.len(), 400);
    // 550 (no default range holds it) is worker 0's by its parity.
    let t = udp("10.0.0.1", 550, "203.0.113.5", 53);
    let w0 = select(
        &t,
        &range,
        Manip::Src,
        PortSlice::new(0, 2),
        &mut rand,
        &mut Table::default(),
    );
    assert_eq!(w0.unwrap().sport, 550);
    let w1 = select(
        &t,
        &range,
        Manip::Src,
        PortSlice::new(1, 2),
        &mut rand,
        &mut Table::default(),
    );
    let p = w1.unwrap().sport;
    assert!(
        PortSlice::new(1, 2).owns(p) && (600..=1023).contains(&p),
        "{p}"
    );
}

/// A one-port range has a part for one worker only: the others find
/// nothing.
#[test]
fn a_worker_without_a_part_of_the_range_finds_nothing() {
    let range = Range {
        ports: Some((5000, 5000)),
        ..to("192.0.2.200", "192.0.2.200")
    };
    let t = udp("198.51.100.1", 4000, "203.0.113.5", 53);
    let w0 = select(
        &t,
        &range,
        Manip::Src,
        PortSlice::new(0, 2),
        &mut || 0,
        &mut Table::default(),
    );
    assert_eq!(w0.unwrap().sport, 5000);
    let w1 = select(
        &t,
        &range,
        Manip::Src,
        PortSlice::new(1, 2),
        &mut || 0,
        &mut Table::default(),
    );
    assert_eq!(w1, None);
}

#[test]
fn unique_tuple_answers_every_check_with_taken() {
    let range = to("192.0.2.200", "192.0.2.200");
    let t = udp("198.51.100.1", 4000, "203.0.113.5", 53);
    let kept = Tuple {
        src: a("192.0.2.200"),
        ..t
    };
    let mut seen = 0;
    let got = unique_tuple(&t, &range, Manip::Src, one(), &mut || 5, &mut |x| {
        seen += 1;
        *x == kept
    });
    assert_eq!(got.unwrap().sport, 1024 + 5);
    assert_eq!(seen, 2);
}
