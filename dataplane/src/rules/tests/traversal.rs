//! Chain traversal: jumps, gotos, RETURN, policies, fall-through, and the
//! counters each step moves.

use super::frames::*;
use super::*;

const F: TableKind = TableKind::Filter;

/// A packet, whether it is accepted, the (chain, rule) counters it moves,
/// and the policy packets it adds.
type Case = (Pk, bool, Vec<(&'static str, usize)>, u64);

fn walk_rules() -> String {
    filter(
        "DROP",
        &["A", "B", "G"],
        &[
            "-A FORWARD -j A",
            "-A FORWARD -p udp -j ACCEPT",
            "-A FORWARD -s 10.0.1.3/32 -g G",
            "-A FORWARD -p tcp -m tcp --dport 22 -j ACCEPT",
            "-A A -p tcp -j B",
            "-A A -p icmp -j RETURN",
            "-A A",
            "-A B -p tcp -m tcp --dport 80 -j ACCEPT",
            "-A B -p tcp -m tcp --dport 81 -j RETURN",
            "-A B -p tcp -m tcp --dport 82 -j DROP",
            "-A G -p tcp -m tcp --dport 23 -j RETURN",
            "-A G -p tcp -m tcp --dport 24 -j ACCEPT",
        ],
    )
}

/// Each packet's path, as the counters it moved.
#[test]
fn jump_return_goto_and_policy() {
    for classifier in [true, false] {
        let params = RulesParams {
            classifier,
            ..RulesParams::default()
        };
        let mut h = H::with(THREE, &walk_rules(), "", params);
        let zero = || {
            vec![
                ("FORWARD", vec![0u64; 4]),
                ("A", vec![0; 3]),
                ("B", vec![0; 3]),
                ("G", vec![0; 2]),
            ]
        };
        let cases: Vec<Case> = vec![
            // Into A, into B, accepted there.
            (
                Pk::tcp("10.0.1.2", "10.0.2.2", 1000, 80, SYN),
                true,
                vec![("FORWARD", 0), ("A", 0), ("B", 0)],
                0,
            ),
            // RETURN from B: on in A after the jump, off A's end back into
            // FORWARD after its jump, to the policy.
            (
                Pk::tcp("10.0.1.2", "10.0.2.2", 1000, 81, SYN),
                false,
                vec![("FORWARD", 0), ("A", 0), ("B", 1), ("A", 2)],
                1,
            ),
            // Off the end of B: the same as RETURN.
            (
                Pk::tcp("10.0.1.2", "10.0.2.2", 1000, 9, SYN),
                false,
                vec![("FORWARD", 0), ("A", 0), ("A", 2)],
                1,
            ),
            // RETURN from A.
            (
                Pk::icmp("10.0.1.2", "10.0.2.2", 8, 0),
                false,
                vec![("FORWARD", 0), ("A", 1)],
                1,
            ),
            (
                Pk::udp("10.0.1.2", "10.0.2.2", 5, 53, b"q"),
                true,
                vec![("FORWARD", 0), ("A", 2), ("FORWARD", 1)],
                0,
            ),
            // DROP deep down ends everything.
            (
                Pk::tcp("10.0.1.2", "10.0.2.2", 1000, 82, SYN),
                false,
                vec![("FORWARD", 0), ("A", 0), ("B", 2)],
                0,
            ),
            // A goto pushes nothing: RETURN in G is the built-in chain's
            // policy...
            (
                Pk::tcp("10.0.1.3", "10.0.2.2", 1000, 23, SYN),
                false,
                vec![("FORWARD", 0), ("A", 0), ("A", 2), ("FORWARD", 2), ("G", 0)],
                1,
            ),
            // ... and so is falling off G (rule 3 of FORWARD is never seen).
            (
                Pk::tcp("10.0.1.3", "10.0.2.2", 1000, 22, SYN),
                false,
                vec![("FORWARD", 0), ("A", 0), ("A", 2), ("FORWARD", 2)],
                1,
            ),
            (
                Pk::tcp("10.0.1.3", "10.0.2.2", 1000, 24, SYN),
                true,
                vec![("FORWARD", 0), ("A", 0), ("A", 2), ("FORWARD", 2), ("G", 1)],
                0,
            ),
            (
                Pk::tcp("10.0.1.2", "10.0.2.2", 1000, 22, SYN),
                true,
                vec![("FORWARD", 0), ("A", 0), ("A", 2), ("FORWARD", 3)],
                0,
            ),
        ];
        let mut want = zero();
        let mut policy = 0;
        for (n, (pk, accept, path, pol)) in cases.iter().enumerate() {
            let r = h.fwd(pk);
            assert_eq!(r.accepted(), *accept, "case {n} (classifier {classifier})");
            if !accept {
                assert_eq!(r.dropped(), Some(Counter::FilterDrop), "case {n}");
            }
            for (chain, rule) in path {
                want.iter_mut().find(|(c, _)| c == chain).unwrap().1[*rule] += 1;
            }
            policy += pol;
            for (chain, hits) in &want {
                assert_eq!(
                    &h.hits(F, chain),
                    hits,
                    "case {n}: chain {chain} (classifier {classifier})"
                );
            }
            assert_eq!(h.policy(F, "FORWARD").0, policy, "case {n}: policy");
        }
    }
}

#[test]
fn return_in_builtin_chain_is_the_policy() {
    let rules = filter(
        "ACCEPT",
        &[],
        &["-A FORWARD -p udp -j RETURN", "-A FORWARD -j DROP"],
    );
    let mut h = H::new(&rules);
    let u = Pk::udp("10.0.1.2", "10.0.2.2", 5, 53, b"hello");
    assert!(h.fwd(&u).accepted());
    assert_eq!(h.policy(F, "FORWARD"), (1, u.len()));
    assert_eq!(h.hits(F, "FORWARD"), vec![1, 0]);
    let t = Pk::tcp("10.0.1.2", "10.0.2.2", 5, 53, SYN);
    assert_eq!(h.fwd(&t).dropped(), Some(Counter::FilterDrop));
    assert_eq!(h.policy(F, "FORWARD"), (1, u.len()));
    assert_eq!(h.rule(F, "FORWARD", 1), (1, t.len()));
}

/// A goto from a called chain returns, at its end, to the chain that
/// called: the return point is the jump's.
#[test]
fn goto_inside_a_call_returns_to_the_caller() {
    let rules = filter(
        "DROP",
        &["A", "C", "D"],
        &[
            "-A FORWARD -j A",
            "-A FORWARD -p tcp -j ACCEPT",
            "-A A -g C",
            "-A A -j DROP",
            "-A C -j D",
            "-A C",
            "-A D -p udp -j RETURN",
            "-A D",
        ],
    );
    let mut h = H::new(&rules);
    let t = Pk::tcp("10.0.1.2", "10.0.2.2", 1, 2, SYN);
    assert!(h.fwd(&t).accepted());
    assert_eq!(h.hits(F, "FORWARD"), vec![1, 1]);
    assert_eq!(
        h.hits(F, "A"),
        vec![1, 0],
        "A's DROP is skipped: the goto left A"
    );
    assert_eq!(h.hits(F, "C"), vec![1, 1]);
    assert_eq!(h.hits(F, "D"), vec![0, 1]);
    let u = Pk::udp("10.0.1.2", "10.0.2.2", 1, 2, b"");
    assert!(!h.fwd(&u).accepted());
    assert_eq!(h.hits(F, "D"), vec![1, 1]);
    assert_eq!(h.hits(F, "C"), vec![2, 2]);
    assert_eq!(h.policy(F, "FORWARD").0, 1);
}

/// Non-terminating targets go on with the next rule; counters count the
/// IP length (padding and the Ethernet header excluded).
#[test]
fn non_terminating_targets_continue_and_bytes_are_ip_bytes() {
    let rules = "*mangle\n:PREROUTING ACCEPT [0:0]\n:INPUT ACCEPT [0:0]\n:FORWARD ACCEPT [0:0]\n\
                 :OUTPUT ACCEPT [0:0]\n:POSTROUTING ACCEPT [0:0]\n\
                 -A FORWARD -j LOG\n\
                 -A FORWARD\n\
                 -A FORWARD -j MARK --set-xmark 0x5/0xff\n\
                 -A FORWARD -j CONNMARK --save-mark\n\
                 -A FORWARD -j TTL --ttl-dec 1\n\
                 -A FORWARD -j DSCP --set-dscp 10\n\
                 -A FORWARD -m mark --mark 0x5 -j ACCEPT\n\
                 -A FORWARD -j DROP\n\
                 COMMIT\n";
    let mut h = H::new(rules);
    let pk = Pk::udp("10.0.1.2", "10.0.2.2", 9, 9, &[7; 30]).pad(40);
    let r = h.run(TableKind::Mangle, &pk.frame(), At::forward(0, 1));
    assert!(r.accepted());
    assert_eq!(r.mark, 5);
    let n = pk.len();
    for i in 0..7 {
        assert_eq!(h.rule(TableKind::Mangle, "FORWARD", i), (1, n), "rule {i}");
    }
    assert_eq!(h.rule(TableKind::Mangle, "FORWARD", 7), (0, 0));
    assert_eq!(h.policy(TableKind::Mangle, "FORWARD"), (0, 0));
    assert_eq!(r.meta.ttl, 63);
    assert_eq!(r.meta.tos >> 2, 10);
    assert_checksums(&r.frame);
}

/// With no rules the policy decides, and counts.
#[test]
fn empty_chains_count_their_policy() {
    let mut h = H::new(&filter("DROP", &[], &[]));
    let pk = Pk::icmp("10.0.1.2", "10.0.2.2", 8, 0);
    for _ in 0..3 {
        assert_eq!(h.fwd(&pk).dropped(), Some(Counter::FilterDrop));
    }
    assert_eq!(h.policy(F, "FORWARD"), (3, 3 * pk.len()));
    let r = h.run(F, &pk.frame(), At::input(0));
    assert!(r.accepted());
    assert_eq!(h.policy(F, "INPUT"), (1, pk.len()));
}

/// The stage runs only where its tables have chains; IPv6 passes.
#[test]
fn points_and_other_families() {
    let h = H::new(&filter("DROP", &[], &[]));
    let mut pts: Vec<_> = h.stage.prog.points().collect();
    pts.sort_by_key(|(hk, t)| (*hk as u8, *t as u8));
    assert_eq!(
        pts,
        vec![
            (Hook::Input, TableKind::Filter),
            (Hook::Forward, TableKind::Filter),
            (Hook::Output, TableKind::Filter),
        ]
    );
}

#[test]
fn save_with_counters_prints_iptables_save_c() {
    let rules = filter(
        "DROP",
        &["A"],
        &[
            "-A FORWARD -j A",
            "-A FORWARD -p tcp -m tcp --dport 22 -j ACCEPT",
            "-A A -s 10.0.1.0/24 -j RETURN",
        ],
    );
    let mut h = H::new(&rules);
    let pk = Pk::tcp("10.0.1.2", "10.0.2.2", 1000, 22, SYN);
    h.fwd(&pk);
    h.fwd(&pk);
    let u = Pk::udp("10.0.3.2", "10.0.2.2", 1, 1, b"");
    h.fwd(&u);
    let n = pk.len();
    assert_eq!(
        h.stage.save_with_counters(),
        format!(
            "*filter\n:INPUT ACCEPT [0:0]\n:FORWARD DROP [1:{ul}]\n:OUTPUT ACCEPT [0:0]\n:A - [0:0]\n\
             [3:{all}] -A FORWARD -j A\n\
             [2:{two}] -A FORWARD -p tcp -m tcp --dport 22 -j ACCEPT\n\
             [2:{two}] -A A -s 10.0.1.0/24 -j RETURN\n\
             COMMIT\n",
            ul = u.len(),
            all = 2 * n + u.len(),
            two = 2 * n
        )
    );
}

#[test]
fn counters_merge_over_workers() {
    let rules = filter("ACCEPT", &[], &["-A FORWARD -p udp"]);
    let mut h = H::new(&rules);
    let mut w1 = h.stage.for_worker(1);
    let pk = Pk::udp("10.0.1.2", "10.0.2.2", 1, 1, b"");
    h.fwd(&pk);
    std::mem::swap(&mut h.stage, &mut w1);
    h.fwd(&pk);
    h.fwd(&pk);
    let mut sum = h.stage.counters();
    sum.merge(&w1.counters());
    assert_eq!(sum.rule(F, "FORWARD", 0).unwrap().packets, 3);
    assert_eq!(sum.policy(F, "FORWARD").unwrap().packets, 3);
}
