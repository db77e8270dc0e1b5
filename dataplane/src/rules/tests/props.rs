//! The classifier-driven evaluation equals the plain ordered one: random
//! rulesets (core matches with inversions, ports, marks, fragments, other
//! matches, stateful matches, jumps, gotos, RETURN, MARK), random packets
//! (some fragmented or cut short), the same verdicts, marks and counters.
//! And the traced traversal (`sluice trace`) equals the packet path's: the
//! same verdicts, marks, frames and counters, one matched rule reported
//! per rule counted, every policy hit reported.

use proptest::prelude::{
    any, prop_assert, prop_assert_eq, proptest, ProptestConfig, TestCaseError,
};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

use super::frames::*;
use super::*;

const ADDRS: &[&str] = &[
    "10.0.1.2",
    "10.0.1.3",
    "10.0.1.130",
    "10.0.2.2",
    "10.0.2.9",
    "10.1.0.1",
    "192.168.9.7",
];
const NETS: &[&str] = &[
    "10.0.1.2/32",
    "10.0.1.0/24",
    "10.0.1.128/25",
    "10.0.2.0/24",
    "10.0.0.0/8",
    "10.0.2.9/32",
    "192.168.0.0/16",
    "10.0.0.0/255.0.255.0",
];
const PORTS: &[u16] = &[22, 53, 80, 443, 1000, 8080];
const IFACES: &[&str] = &["r0", "r1", "r2", "r+", "lo", "eth0"];

fn pick<'a, T>(rng: &mut StdRng, v: &'a [T]) -> &'a T {
    &v[rng.gen_range(0..v.len())]
}

fn bang(rng: &mut StdRng, p: f64) -> &'static str {
    if rng.gen_bool(p) {
        "! "
    } else {
        ""
    }
}

fn ports(rng: &mut StdRng) -> String {
    let p = *pick(rng, PORTS);
    if rng.gen_bool(0.3) {
        format!("{}:{}", p, p + 1 + rng.gen_range(0..600))
    } else {
        p.to_string()
    }
}

/// One random rule for `chain`; `jumps` are the chains it may call.
fn rule(rng: &mut StdRng, chain: &str, jumps: &[&str]) -> String {
    let mut r = format!("-A {chain}");
    if rng.gen_bool(0.4) {
        r += &format!(" {}-s {}", bang(rng, 0.2), pick(rng, NETS));
    }
    if rng.gen_bool(0.4) {
        r += &format!(" {}-d {}", bang(rng, 0.2), pick(rng, NETS));
    }
    if rng.gen_bool(0.25) {
        r += &format!(" {}-i {}", bang(rng, 0.3), pick(rng, IFACES));
    }
    if rng.gen_bool(0.15) {
        r += &format!(" {}-o {}", bang(rng, 0.3), pick(rng, IFACES));
    }
    let proto = match rng.gen_range(0..6) {
        0 | 1 => Some("tcp"),
        2 => Some("udp"),
        3 => Some("icmp"),
        _ => None,
    };
    let inv_proto = proto.is_some() && rng.gen_bool(0.15);
    if let Some(p) = proto {
        r += &format!(" {}-p {p}", if inv_proto { "! " } else { "" });
    }
    if rng.gen_bool(0.1) {
        r += &format!(" {}-f", bang(rng, 0.5));
    }
    let n = rng.gen_range(0..3);
    for _ in 0..n {
        match (rng.gen_range(0..10), proto, inv_proto) {
            (0..=2, Some(p @ ("tcp" | "udp")), false) => {
                r += &format!(" -m {p}");
                if rng.gen_bool(0.7) {
                    r += &format!(" {}--dport {}", bang(rng, 0.2), ports(rng));
                }
                if rng.gen_bool(0.3) {
                    r += &format!(" {}--sport {}", bang(rng, 0.2), ports(rng));
                }
                if p == "tcp" && rng.gen_bool(0.3) {
                    r += &format!(" {}--tcp-flags SYN,ACK SYN", bang(rng, 0.3));
                }
                if p == "tcp" && rng.gen_bool(0.1) {
                    r += " --tcp-option 2";
                }
            }
            (3, Some(p @ ("tcp" | "udp")), false) => {
                r += &format!(
                    " -m multiport {}--dports {},{}",
                    bang(rng, 0.2),
                    pick(rng, PORTS),
                    ports(rng)
                );
                let _ = p;
            }
            (3, Some("icmp"), false) => {
                r += &format!(
                    " -m icmp {}--icmp-type {}",
                    bang(rng, 0.2),
                    pick(rng, &["8", "0", "3/3", "any"])
                );
            }
            (4, ..) => {
                r += &format!(
                    " -m mark {}--mark {:#x}/{:#x}",
                    bang(rng, 0.3),
                    rng.gen_range(0..4u32),
                    pick(rng, &[0x3u32, 0x1, 0xffffffff])
                );
            }
            (5, ..) => {
                r += &format!(
                    " -m length {}--length {}:{}",
                    bang(rng, 0.2),
                    rng.gen_range(20..60),
                    rng.gen_range(40..100)
                );
            }
            (6, ..) => {
                r += &format!(
                    " -m statistic --mode nth --every {} --packet 0",
                    rng.gen_range(2..4)
                );
            }
            (7, ..) => {
                r += &format!(
                    " -m limit --limit 1/hour --limit-burst {}",
                    rng.gen_range(1..4)
                );
            }
            (8, ..) => {
                r += &format!(" -m ttl --ttl-gt {}", rng.gen_range(30..70));
            }
            _ => {
                r += " -m iprange --dst-range 10.0.2.0-10.0.2.5";
            }
        }
    }
    let t = rng.gen_range(0..12);
    r += &match t {
        0 | 1 => " -j ACCEPT".to_string(),
        2 | 3 => " -j DROP".to_string(),
        4 => " -j RETURN".to_string(),
        5 | 6 if !jumps.is_empty() => format!(" -j {}", pick(rng, jumps)),
        7 if !jumps.is_empty() => format!(" -g {}", pick(rng, jumps)),
        8 | 9 => format!(" -j MARK --set-xmark {:#x}/0x3", rng.gen_range(0..4)),
        _ => String::new(),
    };
    r
}

fn ruleset(rng: &mut StdRng, n: usize) -> String {
    let mut rules = Vec::new();
    for _ in 0..n {
        rules.push(rule(rng, "FORWARD", &["A", "B"]));
    }
    for _ in 0..n / 2 {
        rules.push(rule(rng, "A", &["B"]));
    }
    for _ in 0..n / 2 {
        rules.push(rule(rng, "B", &[]));
    }
    let refs: Vec<&str> = rules.iter().map(String::as_str).collect();
    mangle(&["A", "B"], &refs)
}

fn packet(rng: &mut StdRng) -> (Pk, At) {
    let src = pick(rng, ADDRS);
    let dst = pick(rng, ADDRS);
    let mut pk = match rng.gen_range(0..8) {
        0..=2 => {
            let flags = *pick(rng, &[SYN, ACK, SYN | ACK]);
            if rng.gen_bool(0.2) {
                Pk::syn_mss(src, dst, *pick(rng, PORTS), 1460)
            } else {
                Pk::tcp(src, dst, *pick(rng, PORTS), *pick(rng, PORTS), flags)
            }
        }
        3 | 4 => Pk::udp(src, dst, *pick(rng, PORTS), *pick(rng, PORTS), &[0; 9]),
        5 => Pk::icmp(src, dst, *pick(rng, &[0, 8, 3]), *pick(rng, &[0, 3])),
        _ => Pk::raw(src, dst, 47, vec![0; 12]),
    };
    pk.ttl = rng.gen_range(1..100);
    match rng.gen_range(0..12) {
        0 => pk = pk.frag(*pick(rng, &[8, 16, 64]), false),
        1 => pk = pk.frag(0, true),
        2 => {
            let n = rng.gen_range(0..pk.l4.len());
            pk = pk.cut(n);
        }
        _ => {}
    }
    let iif = rng.gen_range(0..3);
    let oif = rng.gen_range(0..3);
    (pk, At::forward(iif, oif).mark(rng.gen_range(0..4)))
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(96))]

    #[test]
    fn classifier_equals_plain_evaluation(seed in any::<u64>(), n in 1usize..24) {
        let mut rng = StdRng::seed_from_u64(seed);
        let rules = ruleset(&mut rng, n);
        let with = |classifier| RulesParams { classifier, ..RulesParams::default() };
        // None: a combination iptables refuses; rare.
        let Some((mut fast, mut plain)) = two(&rules, with(true), with(false)) else {
            return Ok(());
        };
        for k in 0..48 {
            let (pk, at) = packet(&mut rng);
            let a = fast.run(TableKind::Mangle, &pk.frame(), at);
            let b = plain.run(TableKind::Mangle, &pk.frame(), at);
            same(&a, &b, &fast, &plain, &format!("packet {k} {pk:?}\n{rules}"))?;
        }
    }

    #[test]
    fn traced_evaluation_equals_the_packet_path(seed in any::<u64>(), n in 1usize..24) {
        let mut rng = StdRng::seed_from_u64(seed);
        let rules = ruleset(&mut rng, n);
        let p = RulesParams::default();
        let Some((mut fast, mut traced)) = two(&rules, p, p) else {
            return Ok(());
        };
        for k in 0..48 {
            let (pk, at) = packet(&mut rng);
            traced.stage.events = Some(Vec::new());
            let before: u64 = rule_hits(&traced.stage.counters());
            let policy_before = traced.policy(TableKind::Mangle, "FORWARD").0;
            let a = fast.run(TableKind::Mangle, &pk.frame(), at);
            let b = traced.run(TableKind::Mangle, &pk.frame(), at);
            same(&a, &b, &fast, &traced, &format!("packet {k} {pk:?}\n{rules}"))?;
            let ev = traced.stage.events.take().unwrap_or_default();
            let matched = ev.iter().filter(|e| matches!(e, Event::Tested { matched: true, .. })).count() as u64;
            prop_assert_eq!(matched, rule_hits(&traced.stage.counters()) - before, "packet {}\n{}\n{:?}", k, rules, ev);
            let policies = ev.iter().filter(|e| matches!(e, Event::Policy(_))).count() as u64;
            prop_assert_eq!(policies, traced.policy(TableKind::Mangle, "FORWARD").0 - policy_before);
            // A traversal that ends in a drop says so last (or hotdrops).
            if let Some(c) = b.dropped() {
                let last = ev.last().copied();
                let said = matches!(last, Some(Event::Drop(d)) if d == c)
                    || matches!(last, Some(Event::Hotdrop { .. }))
                    || matches!(last, Some(Event::Policy(sluice_config::iptables::Policy::Drop)));
                prop_assert!(said, "packet {} dropped {:?}, events {:?}", k, c, ev);
            }
        }
    }
}

/// Two stages over the same `rules` (THREE's ports), with `a` and `b`;
/// `None` when iptables would refuse the ruleset.
fn two(rules: &str, a: RulesParams, b: RulesParams) -> Option<(H, H)> {
    let app = sluice_config::appliance::parse(THREE, Path::new("t.toml")).unwrap();
    let rs = sluice_config::iptables::parse(rules, Path::new("t.rules")).ok()?;
    let sets = sluice_config::ipset::SetFile::default();
    let snap = Net::from_appliance(&app).unwrap();
    let now = Instant::now();
    let h = |p| H {
        stage: Stage::new(&app, &rs, &sets, p).unwrap(),
        snap: snap.clone(),
        now,
    };
    Some((h(a), h(b)))
}

/// One packet run on both stages left the same verdict, mark, frame and
/// counters.
fn same(a: &Ran, b: &Ran, ha: &H, hb: &H, what: &str) -> Result<(), TestCaseError> {
    prop_assert_eq!(a.verdict, b.verdict, "{}", what);
    prop_assert_eq!(a.mark, b.mark, "{}", what);
    prop_assert_eq!(&a.frame, &b.frame, "{}", what);
    prop_assert_eq!(ha.stage.counters(), hb.stage.counters(), "after {}", what);
    Ok(())
}

/// Packets counted by every rule of every chain.
fn rule_hits(c: &RuleCounters) -> u64 {
    c.tables
        .iter()
        .flat_map(|t| &t.chains)
        .flat_map(|ch| &ch.rules)
        .map(|r| r.packets)
        .sum()
}
