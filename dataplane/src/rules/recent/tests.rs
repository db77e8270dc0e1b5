use std::path::Path;

use sluice_config::iptables::{parse, Match, TableKind};

use super::*;

const SEC: u64 = 1_000_000_000;
const T0: u64 = 5_000 * SEC;

/// The `-m recent` matches of INPUT, in order.
fn recents(rules: &[&str]) -> Vec<Recent> {
    recents_of(rules, parse)
}

/// The `-m recent` matches of INPUT of a ruleset read by `parse`.
fn recents_of(
    rules: &[&str],
    parse: fn(&str, &Path) -> Result<sluice_config::iptables::Ruleset, sluice_config::Error>,
) -> Vec<Recent> {
    let text: String = rules.iter().map(|r| format!("-A INPUT {r}\n")).collect();
    let rs = parse(&format!("*filter\n{text}COMMIT\n"), Path::new("t")).expect("parses");
    rs.table(TableKind::Filter)
        .unwrap()
        .chain("INPUT")
        .unwrap()
        .rules
        .iter()
        .flat_map(|r| r.matches.iter())
        .filter_map(|m| match m {
            Match::Recent(r) => Some(r.clone()),
            _ => None,
        })
        .collect()
}

fn setup(params: RecentParams, rules: &[&str]) -> (RecentConfig, Vec<RecentRule>) {
    let mut b = RecentBuilder::new(params).unwrap();
    let compiled = recents(rules)
        .iter()
        .map(|r| b.add_rule(r).unwrap())
        .collect();
    (b.build(), compiled)
}

fn from(a: [u8; 4]) -> RecentPacket {
    RecentPacket {
        src: Ipv4Addr::from(a).into(),
        dst: Ipv4Addr::new(10, 0, 0, 1).into(),
        ttl: 64,
        before_forward: false,
    }
}

const H1: [u8; 4] = [192, 0, 2, 1];
const H2: [u8; 4] = [192, 0, 2, 2];

#[test]
fn ssh_brute_force_pattern() {
    // The classic: --set on every new connection, drop the 4th within 60 s.
    let (cfg, r) = setup(
        RecentParams::default(),
        &[
            "-p tcp --dport 22 -m recent --set --name SSH",
            "-p tcp --dport 22 -m recent --update --seconds 60 --hitcount 4 --name SSH -j DROP",
        ],
    );
    let mut st = cfg.new_state();
    let p = from(H1);
    let mut dropped = Vec::new();
    for i in 0..6u64 {
        let t = T0 + i * SEC;
        assert!(r[0].matches(&mut st, &p, t));
        dropped.push(r[1].matches(&mut st, &p, t));
    }
    // Each --set adds a stamp; the --update matches from the 4th stamp
    // on and then adds one more itself.
    assert_eq!(dropped, [false, false, false, true, true, true]);
    let e = &st.entries(r[0].table)[0];
    assert_eq!(e.addr, IpAddr::from(H1));
    // 6 sets + 3 matching updates.
    assert_eq!(e.stamps.len(), 9);
}

#[test]
fn hitcount_counts_stamps_within_seconds() {
    let (cfg, r) = setup(
        RecentParams::default(),
        &[
            "-m recent --set --name A",
            "-m recent --rcheck --seconds 10 --hitcount 3 --name A",
            "-m recent --rcheck --hitcount 3 --name A",
            "-m recent --rcheck --seconds 10 --name A",
        ],
    );
    let mut st = cfg.new_state();
    let p = from(H1);
    assert!(!r[1].matches(&mut st, &p, T0)); // not listed
    assert!(!r[3].matches(&mut st, &p, T0));
    r[0].matches(&mut st, &p, T0);
    r[0].matches(&mut st, &p, T0 + 5 * SEC);
    assert!(!r[1].matches(&mut st, &p, T0 + 5 * SEC)); // 2 stamps
    r[0].matches(&mut st, &p, T0 + 8 * SEC);
    assert!(r[1].matches(&mut st, &p, T0 + 8 * SEC)); // 3 within 10 s
    assert!(r[1].matches(&mut st, &p, T0 + 10 * SEC)); // T0 exactly 10 s old: counts
    assert!(!r[1].matches(&mut st, &p, T0 + 10 * SEC + 4_000_000)); // one jiffy later: not
    assert!(r[2].matches(&mut st, &p, T0 + 1000 * SEC)); // no --seconds
    assert!(r[3].matches(&mut st, &p, T0 + 18 * SEC));
    assert!(!r[3].matches(&mut st, &p, T0 + 19 * SEC));
    // --rcheck never adds stamps.
    assert_eq!(st.entries(r[0].table)[0].stamps.len(), 3);
}

#[test]
fn update_adds_a_stamp_only_when_the_result_is_true() {
    let (cfg, r) = setup(
        RecentParams::default(),
        &[
            "-m recent --set --name U",
            "-m recent --update --seconds 5 --name U",
            "-m recent ! --update --seconds 5 --name U",
        ],
    );
    let mut st = cfg.new_state();
    let p = from(H1);
    r[0].matches(&mut st, &p, T0);
    assert!(r[1].matches(&mut st, &p, T0 + 4 * SEC)); // stamps: T0, T0+4
    assert!(r[1].matches(&mut st, &p, T0 + 8 * SEC)); // T0+4 is fresh: stamp T0+8
    assert!(!r[1].matches(&mut st, &p, T0 + 14 * SEC)); // all stale: no stamp
    assert_eq!(st.entries(r[0].table)[0].stamps.len(), 3);
    // Inverted: the stale address matches (ret true) and so gets stamped
    // — the kernel's behaviour.
    assert!(r[2].matches(&mut st, &p, T0 + 20 * SEC));
    assert_eq!(st.entries(r[0].table)[0].stamps.len(), 4);
    // Now fresh: inverted result false, no stamp.
    assert!(!r[2].matches(&mut st, &p, T0 + 21 * SEC));
    assert_eq!(st.entries(r[0].table)[0].stamps.len(), 4);
    // Not listed at all: the inverted match is true and adds nothing.
    assert!(r[2].matches(&mut st, &from(H2), T0 + 21 * SEC));
    assert_eq!(st.len(r[0].table), 1);
}

#[test]
fn remove_and_set_results() {
    let (cfg, r) = setup(
        RecentParams::default(),
        &[
            "-m recent --set --name R",
            "-m recent --remove --name R",
            "-m recent ! --set --name R",
            "-m recent ! --remove --name R",
        ],
    );
    let mut st = cfg.new_state();
    let p = from(H1);
    assert!(!r[1].matches(&mut st, &p, T0)); // nothing to remove
    assert!(r[3].matches(&mut st, &p, T0));
    assert!(r[0].matches(&mut st, &p, T0));
    assert!(r[1].matches(&mut st, &p, T0));
    assert_eq!(st.len(r[0].table), 0);
    assert!(!r[2].matches(&mut st, &p, T0)); // ! --set: adds, result false
    assert_eq!(st.len(r[0].table), 1);
    assert!(!r[3].matches(&mut st, &p, T0));
    assert!(st.is_empty());
}

#[test]
fn full_table_evicts_least_recently_updated() {
    let params = RecentParams {
        ip_list_tot: 3,
        ..RecentParams::default()
    };
    let (cfg, r) = setup(
        params,
        &["-m recent --set --name F", "-m recent --rcheck --name F"],
    );
    let mut st = cfg.new_state();
    let h = |i: u8| from([10, 1, 1, i]);
    for i in 1..=3 {
        r[0].matches(&mut st, &h(i), T0 + u64::from(i) * SEC);
    }
    // An --rcheck of .1 does not refresh it; a --set of .2 does.
    assert!(r[1].matches(&mut st, &h(1), T0 + 10 * SEC));
    r[0].matches(&mut st, &h(2), T0 + 11 * SEC);
    // Adding .4 evicts .1 (LRU), then .5 evicts .3.
    r[0].matches(&mut st, &h(4), T0 + 12 * SEC);
    assert!(!r[1].matches(&mut st, &h(1), T0 + 12 * SEC));
    r[0].matches(&mut st, &h(5), T0 + 13 * SEC);
    let listed: Vec<IpAddr> = st.entries(r[0].table).iter().map(|e| e.addr).collect();
    assert_eq!(
        listed,
        [
            IpAddr::from([10, 1, 1, 2]),
            IpAddr::from([10, 1, 1, 4]),
            IpAddr::from([10, 1, 1, 5])
        ]
    );
    // Many more addresses through a small table keep it consistent.
    for i in 0..=255u8 {
        r[0].matches(&mut st, &from([172, 16, i, 1]), T0 + 20 * SEC);
        assert!(r[1].matches(&mut st, &from([172, 16, i, 1]), T0 + 20 * SEC));
    }
    assert_eq!(st.len(r[0].table), 3);
    assert!(r[1].matches(&mut st, &from([172, 16, 253, 1]), T0 + 20 * SEC));
    assert!(!r[1].matches(&mut st, &from([172, 16, 252, 1]), T0 + 20 * SEC));
}

#[test]
fn ring_size_follows_hitcount_and_wraps() {
    // Default ring: 32 stamps.
    let (cfg, r) = setup(RecentParams::default(), &["-m recent --set --name W"]);
    assert_eq!(cfg.tables()[0].nstamps_mask, 31);
    let mut st = cfg.new_state();
    for i in 0..40 {
        r[0].matches(&mut st, &from(H1), T0 + i * SEC);
    }
    let e = &st.entries(r[0].table)[0];
    assert_eq!(e.stamps.len(), 32);
    assert_eq!(e.last_seen, (T0 + 39 * SEC) / 4_000_000);
    // --hitcount 1 alone: a one-stamp ring; 40 → 64; the list takes the
    // largest; ip_pkt_list_tot 20 sizes it 32 for smaller hitcounts.
    let (cfg, _) = setup(
        RecentParams::default(),
        &["-m recent --rcheck --hitcount 1 --name A"],
    );
    assert_eq!(cfg.tables()[0].nstamps_mask, 0);
    let (cfg, _) = setup(
        RecentParams::default(),
        &[
            "-m recent --rcheck --hitcount 40 --name A",
            "-m recent --set --name A",
            "-m recent --set --name B",
        ],
    );
    assert_eq!(cfg.tables()[0].nstamps_mask, 63);
    assert_eq!(cfg.tables()[1].nstamps_mask, 31);
    let p20 = RecentParams {
        ip_pkt_list_tot: 20,
        ..RecentParams::default()
    };
    let (cfg, _) = setup(p20, &["-m recent --rcheck --hitcount 3 --name A"]);
    assert_eq!(cfg.tables()[0].nstamps_mask, 31);
    // A --set rule sizes its list like a --hitcount 0 one (32), so a
    // small ring needs ip_pkt_list_tot: 2 → a 2-stamp ring that wraps.
    let (cfg, _) = setup(
        RecentParams::default(),
        &[
            "-m recent --rcheck --hitcount 1 --name O",
            "-m recent --set --name O",
        ],
    );
    assert_eq!(cfg.tables()[0].nstamps_mask, 31);
    let p2 = RecentParams {
        ip_pkt_list_tot: 2,
        ..RecentParams::default()
    };
    let (cfg, r) = setup(
        p2,
        &[
            "-m recent --set --name O",
            "-m recent --rcheck --hitcount 2 --name O",
            "-m recent --rcheck --hitcount 2 --seconds 1 --name O",
        ],
    );
    assert_eq!(cfg.tables()[0].nstamps_mask, 1);
    let mut st = cfg.new_state();
    for i in 0..3 {
        r[0].matches(&mut st, &from(H1), T0 + i * SEC);
    }
    let j = |t: u64| t / 4_000_000;
    let e = &st.entries(r[0].table)[0];
    assert_eq!(e.stamps, [j(T0 + 2 * SEC), j(T0 + SEC)]);
    assert_eq!(e.last_seen, j(T0 + 2 * SEC));
    assert!(r[1].matches(&mut st, &from(H1), T0 + 2 * SEC));
    assert!(r[2].matches(&mut st, &from(H1), T0 + 2 * SEC));
    assert!(!r[2].matches(&mut st, &from(H1), T0 + 2 * SEC + 4_000_000));
}

#[test]
fn rttl_and_ttl_before_forwarding() {
    let (cfg, r) = setup(
        RecentParams::default(),
        &[
            "-m recent --set --name T",
            "-m recent --rcheck --rttl --name T",
            "-m recent --rcheck --name T",
        ],
    );
    let mut st = cfg.new_state();
    let mut p = from(H1);
    r[0].matches(&mut st, &p, T0); // remembered TTL 64
    assert!(r[1].matches(&mut st, &p, T0));
    p.ttl = 63;
    assert!(!r[1].matches(&mut st, &p, T0));
    assert!(r[2].matches(&mut st, &p, T0));
    // In FORWARD the TTL was already decremented: the kernel adds 1.
    p.before_forward = true;
    assert!(r[1].matches(&mut st, &p, T0));
    // An entry set with TTL 0 (255 + 1 wraps) agrees with any TTL.
    let mut q = from(H2);
    q.ttl = 255;
    q.before_forward = true;
    r[0].matches(&mut st, &q, T0);
    q.before_forward = false;
    q.ttl = 7;
    assert!(r[1].matches(&mut st, &q, T0));
}

#[test]
fn mask_and_side_and_shared_tables() {
    let (cfg, r) = setup(
        RecentParams::default(),
        &[
            "-m recent --set --name M --mask 255.255.255.0 --rdest",
            // Same list, another mask: the list's (first) mask wins.
            "-m recent --rcheck --name M --mask 255.255.255.255 --rsource",
            "-m recent --rcheck --name N",
        ],
    );
    assert_eq!(r[0].table, r[1].table);
    assert_ne!(r[0].table, r[2].table);
    assert_eq!(cfg.table("N"), Some(r[2].table));
    let mut st = cfg.new_state();
    let p = RecentPacket {
        src: Ipv4Addr::new(1, 1, 1, 1).into(),
        dst: Ipv4Addr::new(203, 0, 113, 77).into(),
        ttl: 64,
        before_forward: false,
    };
    r[0].matches(&mut st, &p, T0);
    assert_eq!(
        st.entries(r[0].table)[0].addr,
        IpAddr::from([203, 0, 113, 0])
    );
    let q = RecentPacket {
        src: Ipv4Addr::new(203, 0, 113, 9).into(),
        ..p
    };
    assert!(r[1].matches(&mut st, &q, T0));
    assert!(!r[2].matches(&mut st, &q, T0));
}

#[test]
fn reap_removes_the_stale_lru_entry_but_not_the_one_being_updated() {
    let (cfg, r) = setup(
        RecentParams::default(),
        &[
            "-m recent --set --name P",
            "-m recent --rcheck --seconds 10 --reap --name P",
            "-m recent --update --seconds 10 --reap --name P",
        ],
    );
    let mut st = cfg.new_state();
    r[0].matches(&mut st, &from(H1), T0);
    r[0].matches(&mut st, &from(H2), T0 + 15 * SEC);
    // Checking H2 reaps H1 (LRU head, last seen 20 s ago).
    assert!(r[1].matches(&mut st, &from(H2), T0 + 20 * SEC));
    assert_eq!(st.len(r[0].table), 1);
    // H2 is the LRU head now; an update that matches keeps it.
    assert!(r[2].matches(&mut st, &from(H2), T0 + 24 * SEC));
    assert_eq!(st.len(r[0].table), 1);
    // A check that finds it stale removes it (it is the head).
    assert!(!r[1].matches(&mut st, &from(H2), T0 + 40 * SEC));
    assert_eq!(st.len(r[0].table), 0);
    // A failing update of a stale head reaps it too.
    r[0].matches(&mut st, &from(H1), T0 + 50 * SEC);
    assert!(!r[2].matches(&mut st, &from(H1), T0 + 70 * SEC));
    assert!(st.is_empty());
}

#[test]
fn seconds_times_hz_wraps_in_32_bits() {
    // --seconds 17179870 * 250 = 2^32 + 204 wraps to 204 jiffies (816 ms).
    let (cfg, r) = setup(
        RecentParams::default(),
        &[
            "-m recent --set --name S",
            "-m recent --rcheck --seconds 17179870 --name S",
        ],
    );
    let mut st = cfg.new_state();
    r[0].matches(&mut st, &from(H1), T0);
    assert!(r[1].matches(&mut st, &from(H1), T0 + 816_000_000));
    assert!(!r[1].matches(&mut st, &from(H1), T0 + 820_000_000));
}

#[test]
fn carry_over_keeps_entries_of_surviving_lists() {
    let (cfg, r) = setup(
        RecentParams::default(),
        &["-m recent --set --name K", "-m recent --set --name GONE"],
    );
    let mut st = cfg.new_state();
    r[0].matches(&mut st, &from(H1), T0);
    r[0].matches(&mut st, &from(H2), T0 + SEC);
    r[1].matches(&mut st, &from(H1), T0);
    // The new ruleset names K with another mask: K keeps the old mask.
    let mut b = RecentBuilder::replacing(RecentParams::default(), &cfg).unwrap();
    let new: Vec<RecentRule> = recents(&[
        "-m recent --rcheck --name K --mask 255.0.0.0",
        "-m recent --rcheck --hitcount 40 --name NEW",
    ])
    .iter()
    .map(|x| b.add_rule(x).unwrap())
    .collect();
    let cfg2 = b.build();
    assert_eq!(cfg2.tables()[0].mask, u128::MAX);
    let st2 = RecentState::carry_over(&cfg2, &st);
    let kept: Vec<IpAddr> = st2.entries(new[0].table).iter().map(|e| e.addr).collect();
    assert_eq!(kept, [IpAddr::from(H1), IpAddr::from(H2)]);
    assert!(cfg2.table("GONE").is_none());
    // A ring that grows starts empty (the kernel flushes the list).
    let mut b = RecentBuilder::replacing(RecentParams::default(), &cfg).unwrap();
    b.add_rule(&recents(&["-m recent --rcheck --hitcount 33 --name K"])[0])
        .unwrap();
    let cfg3 = b.build();
    let mut st3 = RecentState::carry_over(&cfg3, &st);
    assert!(st3.is_empty());
    st3.flush(RecentTableId(0));
}

#[test]
fn builder_refusals() {
    assert_eq!(
        RecentBuilder::new(RecentParams {
            ip_list_tot: 0,
            ..RecentParams::default()
        })
        .unwrap_err(),
        RecentError::ZeroListSize
    );
    assert!(RecentBuilder::new(RecentParams {
        ip_pkt_list_tot: 65_536,
        ..RecentParams::default()
    })
    .is_err());
    assert!(RecentBuilder::new(RecentParams {
        hz: 0,
        ..RecentParams::default()
    })
    .is_err());
}

#[test]
fn index_stays_consistent_under_churn() {
    // Property-style: random set/remove against a model.
    use rand::{Rng, SeedableRng};
    let params = RecentParams {
        ip_list_tot: 17,
        ..RecentParams::default()
    };
    let (cfg, r) = setup(
        params,
        &[
            "-m recent --set --name C",
            "-m recent --remove --name C",
            "-m recent --rcheck --name C",
        ],
    );
    let mut st = cfg.new_state();
    let mut model: Vec<u32> = Vec::new(); // LRU order
    let mut rng = rand::rngs::StdRng::seed_from_u64(7);
    for step in 0..20_000u64 {
        let a: u32 = rng.gen_range(0..40);
        let p = from(Ipv4Addr::from(0x0a00_0000 + a).octets());
        let t = T0 + step;
        match rng.gen_range(0..3) {
            0 => {
                r[0].matches(&mut st, &p, t);
                model.retain(|&x| x != a);
                if model.len() == 17 {
                    model.remove(0);
                }
                model.push(a);
            }
            1 => {
                let had = model.contains(&a);
                assert_eq!(r[1].matches(&mut st, &p, t), had);
                model.retain(|&x| x != a);
            }
            _ => assert_eq!(r[2].matches(&mut st, &p, t), model.contains(&a)),
        }
    }
    let listed: Vec<u32> = st
        .entries(r[0].table)
        .iter()
        .map(|e| match e.addr {
            IpAddr::V4(a) => u32::from(a) - 0x0a00_0000,
            IpAddr::V6(a) => panic!("an IPv6 entry {a}"),
        })
        .collect();
    assert_eq!(listed, model);
}

/// The `-m recent` matches of an ip6tables INPUT chain, in order.
fn recents6(rules: &[&str]) -> Vec<Recent> {
    recents_of(rules, sluice_config::iptables::parse6)
}

fn from6(a: &str) -> RecentPacket {
    RecentPacket {
        src: a.parse::<Ipv6Addr>().unwrap().into(),
        dst: "fd00::1".parse::<Ipv6Addr>().unwrap().into(),
        ttl: 64,
        before_forward: false,
    }
}

/// The iptables rules `v4`, then the ip6tables rules `v6`, into one
/// builder (as the compiler registers them).
fn setup_dual(params: RecentParams, v4: &[&str], v6: &[&str]) -> (RecentConfig, Vec<RecentRule>) {
    let mut b = RecentBuilder::new(params).unwrap();
    let compiled = recents(v4)
        .iter()
        .chain(recents6(v6).iter())
        .map(|r| b.add_rule(r).unwrap())
        .collect();
    (b.build(), compiled)
}

#[test]
fn ipv6_ssh_pattern_and_families_apart() {
    let (cfg, r) = setup_dual(
        RecentParams::default(),
        &["-m recent --rcheck --name SSH"],
        &[
            "-m recent --set --name SSH",
            "-m recent --update --seconds 60 --hitcount 4 --name SSH",
        ],
    );
    assert_eq!(cfg.tables().len(), 1);
    assert_eq!(cfg.tables()[0].mask, u128::MAX);
    let mut st = cfg.new_state();
    let p = from6("2001:db8::7");
    let hits: Vec<bool> = (0..6u64)
        .map(|i| {
            r[1].matches(&mut st, &p, T0 + i * SEC);
            r[2].matches(&mut st, &p, T0 + i * SEC)
        })
        .collect();
    assert_eq!(hits, [false, false, false, true, true, true]);
    // ::c000:201 and 192.0.2.1 share the bits of the first word, not the
    // family.
    assert!(!r[0].matches(&mut st, &from(H1), T0));
    let alias = RecentPacket {
        src: IpAddr::V6(Ipv6Addr::from(u128::from(u32::from_be_bytes(H1)) << 96)),
        ..p
    };
    r[1].matches(&mut st, &alias, T0);
    assert!(!r[0].matches(&mut st, &from(H1), T0));
    r[1].matches(&mut st, &from(H1), T0);
    assert!(r[0].matches(&mut st, &from(H1), T0));
    let listed: Vec<IpAddr> = st.entries(r[0].table).iter().map(|e| e.addr).collect();
    assert_eq!(listed, [p.src, alias.src, IpAddr::from(H1)]);
}

#[test]
fn shared_capacity_and_lru_across_families() {
    let params = RecentParams {
        ip_list_tot: 2,
        ..RecentParams::default()
    };
    let (cfg, r) = setup_dual(
        params,
        &["-m recent --set --name L", "-m recent --rcheck --name L"],
        &["-m recent --set --name L", "-m recent --rcheck --name L"],
    );
    let mut st = cfg.new_state();
    r[0].matches(&mut st, &from(H1), T0);
    r[2].matches(&mut st, &from6("fd00::2"), T0 + SEC);
    // A third address, IPv4, evicts the least recently updated: H1.
    r[0].matches(&mut st, &from(H2), T0 + 2 * SEC);
    assert!(!r[1].matches(&mut st, &from(H1), T0 + 3 * SEC));
    assert!(r[3].matches(&mut st, &from6("fd00::2"), T0 + 3 * SEC));
    // An IPv6 one evicts fd00::2 (an --rcheck does not refresh).
    r[2].matches(&mut st, &from6("fd00::3"), T0 + 4 * SEC);
    assert!(!r[3].matches(&mut st, &from6("fd00::2"), T0 + 5 * SEC));
    assert!(r[1].matches(&mut st, &from(H2), T0 + 5 * SEC));
    assert_eq!(st.len(r[0].table), 2);
}

#[test]
fn masks_across_families() {
    // Created by an iptables rule with --mask: IPv6 addresses keep their
    // first 32 bits masked with it (Linux 6.18: 2001:db8::1 is listed as
    // 2001:d00::).
    let (cfg, r) = setup_dual(
        RecentParams::default(),
        &["-m recent --set --name X --mask 255.255.255.0"],
        &[
            "-m recent --set --name X",
            "-m recent --set --name Y --mask ffff:ff00::",
            "-m recent --set --name Z --mask ffff:ffff:ffff:ffff::",
        ],
    );
    let mut st = cfg.new_state();
    r[1].matches(&mut st, &from6("2001:db8::1"), T0);
    r[0].matches(&mut st, &from([10, 0, 0, 1]), T0);
    let x: Vec<IpAddr> = st.entries(r[0].table).iter().map(|e| e.addr).collect();
    assert_eq!(
        x,
        [
            "2001:d00::".parse::<IpAddr>().unwrap(),
            IpAddr::from([10, 0, 0, 0])
        ]
    );
    r[2].matches(&mut st, &from6("2001:db8::1"), T0);
    r[3].matches(&mut st, &from6("2001:db8:1:2:3:4:5:6"), T0);
    let y: Vec<IpAddr> = st.entries(r[2].table).iter().map(|e| e.addr).collect();
    assert_eq!(y, ["2001:d00::".parse::<IpAddr>().unwrap()]);
    let z: Vec<IpAddr> = st.entries(r[3].table).iter().map(|e| e.addr).collect();
    assert_eq!(z, ["2001:db8:1:2::".parse::<IpAddr>().unwrap()]);
    // Without --mask an iptables rule's list masks nothing.
    let (cfg, r) = setup_dual(
        RecentParams::default(),
        &["-m recent --set --name D"],
        &["-m recent --set --name D"],
    );
    let mut st = cfg.new_state();
    r[1].matches(&mut st, &from6("2001:db8::1"), T0);
    assert_eq!(
        st.entries(r[0].table)[0].addr,
        "2001:db8::1".parse::<IpAddr>().unwrap()
    );
}
