//! Every match on crafted frames, with the kernel's answers.

use super::frames::*;
use super::*;

const F: TableKind = TableKind::Filter;

/// FORWARD with policy DROP and one rule, `-A FORWARD {rule} -j ACCEPT`.
fn accepting(rule: &str) -> H {
    H::new(&filter(
        "DROP",
        &[],
        &[&format!("-A FORWARD {rule} -j ACCEPT")],
    ))
}

/// Whether `pk` passes [`accepting`] `rule` (from r0 to r1).
fn passes(rule: &str, pk: &Pk) -> bool {
    accepting(rule).fwd(pk).accepted()
}

fn passes_at(rule: &str, pk: &Pk, at: At) -> bool {
    let mut h = accepting(rule);
    let mut at = at;
    at.hook = Hook::Forward;
    h.run(F, &pk.frame(), at).accepted()
}

/// Whether each of `n` copies of `pk` in a row is accepted in FORWARD.
fn fwd_n(h: &mut H, pk: &Pk, n: usize) -> Vec<bool> {
    (0..n).map(|_| h.fwd(pk).accepted()).collect()
}

#[test]
fn core_addresses_protocol_fragments() {
    let t = Pk::tcp("10.0.1.2", "10.0.2.2", 1000, 80, SYN);
    assert!(passes("-s 10.0.1.0/24", &t));
    assert!(!passes("! -s 10.0.1.0/24", &t));
    assert!(passes("-d 10.0.2.2", &t));
    assert!(passes(
        "-s 10.0.0.0/255.255.0.255",
        &Pk::tcp("10.0.9.0", "10.0.2.2", 1, 1, SYN)
    ));
    assert!(!passes("-s 10.0.0.0/255.255.0.255", &t));
    assert!(passes("-p tcp", &t));
    assert!(passes("! -p udp", &t));
    assert!(!passes("-p udp", &t));
    assert!(passes("-p 6", &t));
    // -f: non-first fragments only.
    let first = Pk::udp("10.0.1.2", "10.0.2.2", 1, 2, &[0; 32]).frag(0, true);
    let later = Pk::raw("10.0.1.2", "10.0.2.2", 17, vec![0; 16]).frag(64, false);
    assert!(!passes("-f", &first));
    assert!(passes("-f", &later));
    assert!(passes("! -f", &first));
    assert!(!passes("! -f", &later));
}

#[test]
fn interfaces() {
    let t = Pk::tcp("10.0.1.2", "10.0.2.2", 1000, 80, SYN);
    assert!(passes("-i r0", &t));
    assert!(!passes("-i r1", &t));
    assert!(passes("! -i r1", &t));
    assert!(passes("-i r+", &t));
    assert!(passes("-o r1", &t));
    assert!(passes("-i r0 -o r+", &t));
    assert!(!passes("! -o r+", &t));
    // lo and names the appliance lacks never match a received packet.
    assert!(!passes("-i lo", &t));
    assert!(!passes("-i eth0", &t));
    assert!(passes("! -i lo", &t));
    assert!(!passes("-i l+", &t));
    // In OUTPUT there is no input interface: only `+` matches it.
    // (iptables refuses -i in OUTPUT, not in a chain OUTPUT calls.)
    let mut h = H::new(&filter(
        "ACCEPT",
        &["T"],
        &[
            "-A OUTPUT -j T",
            "-A T -i r0 -j DROP",
            "-A T -i + -j LOG",
            "-A T -o r1 -j DROP",
        ],
    ));
    let r = h.run(F, &t.frame(), At::output(1));
    assert_eq!(r.dropped(), Some(Counter::FilterDrop));
    assert_eq!(h.hits(F, "T"), vec![0, 1, 1]);
}

#[test]
fn tcp_ports_flags_options() {
    let syn = Pk::tcp("10.0.1.2", "10.0.2.2", 1000, 80, SYN);
    let ack = Pk::tcp("10.0.1.2", "10.0.2.2", 1000, 80, ACK);
    assert!(passes("-p tcp -m tcp --dport 80", &syn));
    assert!(passes("-p tcp -m tcp --dport 79:81 --sport 1000", &syn));
    assert!(!passes("-p tcp -m tcp ! --dport 79:81", &syn));
    assert!(passes("-p tcp -m tcp ! --sport 1:999", &syn));
    assert!(passes("-p tcp -m tcp --tcp-flags SYN,RST,ACK SYN", &syn));
    assert!(!passes("-p tcp -m tcp --tcp-flags SYN,RST,ACK SYN", &ack));
    assert!(passes("-p tcp -m tcp ! --tcp-flags SYN,RST,ACK SYN", &ack));
    assert!(passes("-p tcp -m tcp --syn", &syn));
    let fin = Pk::tcp("10.0.1.2", "10.0.2.2", 1000, 80, FIN | ACK);
    assert!(passes("-p tcp -m tcp --tcp-flags FIN,SYN,RST FIN", &fin));
    assert!(!passes("-p tcp -m tcp --tcp-flags FIN,SYN,RST FIN", &syn));
    assert!(!passes("-p tcp -m tcp --syn", &ack));
    let opts = Pk::syn_mss_after_options();
    assert!(passes("-p tcp -m tcp --tcp-option 2", &opts));
    assert!(passes("-p tcp -m tcp --tcp-option 4", &opts));
    assert!(!passes("-p tcp -m tcp --tcp-option 8", &opts));
    assert!(passes("-p tcp -m tcp ! --tcp-option 8", &opts));
    // A port match never matches a non-first fragment, nor another protocol.
    let frag = Pk::raw("10.0.1.2", "10.0.2.2", 6, vec![0; 24]).frag(16, false);
    assert!(!passes("-p tcp -m tcp --dport 0:65535", &frag));
    assert!(!passes("-p tcp -m tcp ! --dport 80", &frag));
    assert!(!passes(
        "-p tcp -m tcp --dport 80",
        &Pk::udp("10.0.1.2", "10.0.2.2", 1000, 80, b"")
    ));
    // Two tcp matches: both hold.
    assert!(passes("-p tcp -m tcp --dport 80 -m tcp --sport 1000", &syn));
    assert!(!passes(
        "-p tcp -m tcp --dport 80 -m tcp --sport 1001",
        &syn
    ));
}

#[test]
fn udp_icmp_multiport() {
    let u = Pk::udp("10.0.1.2", "10.0.2.2", 5353, 53, b"q");
    assert!(passes("-p udp -m udp --dport 53", &u));
    assert!(passes("-p udp -m udp --sport 5000:6000 ! --dport 54", &u));
    assert!(!passes("-p udp -m udp --dport 54", &u));
    assert!(passes("-p udp -m multiport --dports 22,53,80:90", &u));
    assert!(passes("-p udp -m multiport --ports 5353", &u));
    assert!(!passes("-p udp -m multiport --sports 53", &u));
    assert!(passes("-p udp -m multiport ! --sports 53", &u));
    let echo = Pk::icmp("10.0.1.2", "10.0.2.2", 8, 0);
    let unreach = Pk::icmp("10.0.1.2", "10.0.2.2", 3, 3);
    assert!(passes("-p icmp -m icmp --icmp-type 8", &echo));
    assert!(passes("-p icmp -m icmp --icmp-type echo-request", &echo));
    assert!(!passes("-p icmp -m icmp --icmp-type 8", &unreach));
    assert!(passes(
        "-p icmp -m icmp --icmp-type port-unreachable",
        &unreach
    ));
    assert!(!passes(
        "-p icmp -m icmp --icmp-type host-unreachable",
        &unreach
    ));
    assert!(passes(
        "-p icmp -m icmp --icmp-type destination-unreachable",
        &unreach
    ));
    assert!(passes("-p icmp -m icmp --icmp-type any", &unreach));
    assert!(passes("-p icmp -m icmp ! --icmp-type 8", &unreach));
    assert!(!passes("-p icmp -m icmp ! --icmp-type any", &unreach));
}

#[test]
fn header_fields() {
    let u = Pk::udp("10.0.1.7", "10.0.2.2", 1, 2, &[0; 72])
        .ttl(9)
        .tos(0x2a);
    assert!(passes("-m length --length 100", &u));
    assert!(passes("-m length --length 90:110", &u));
    assert!(!passes("-m length ! --length 90:110", &u));
    assert!(passes("-m ttl --ttl-eq 9", &u));
    assert!(passes("-m ttl --ttl-lt 10", &u));
    assert!(!passes("-m ttl --ttl-gt 9", &u));
    assert!(passes("-m ttl ! --ttl-eq 8", &u));
    // TOS 0x2a: DSCP 10, ECN 2.
    assert!(passes("-m tos --tos 0x28/0xfc", &u));
    assert!(!passes("-m tos --tos 0x28", &u));
    assert!(passes("-m dscp --dscp 10", &u));
    assert!(passes("-m dscp --dscp-class AF11", &u));
    assert!(!passes("-m dscp ! --dscp 10", &u));
    assert!(passes("-m iprange --src-range 10.0.1.5-10.0.1.9", &u));
    assert!(!passes("-m iprange --src-range 10.0.1.8-10.0.1.9", &u));
    assert!(passes(
        "-m iprange ! --src-range 10.0.1.8-10.0.1.9 --dst-range 10.0.2.2",
        &u
    ));
    assert!(passes("-m comment --comment \"anything\"", &u));
}

#[test]
fn link_layer() {
    let u = Pk::udp("10.0.1.2", "10.0.2.2", 1, 2, b"");
    assert!(passes("-m mac --mac-source 52:54:00:00:00:10", &u));
    assert!(!passes("-m mac --mac-source 52:54:00:00:00:11", &u));
    assert!(passes("-m mac ! --mac-source 52:54:00:00:00:11", &u));
    let other = u.clone().smac(MacAddr([0x52, 0x54, 0, 0, 0, 0x11]));
    assert!(passes("-m mac --mac-source 52:54:00:00:00:11", &other));
    let at = At::forward(0, 1);
    assert!(passes_at("-m pkttype --pkt-type unicast", &u, at));
    assert!(!passes_at(
        "-m pkttype --pkt-type unicast",
        &u,
        at.l2(L2Class::Broadcast)
    ));
    assert!(passes_at(
        "-m pkttype --pkt-type broadcast",
        &u,
        at.l2(L2Class::Broadcast)
    ));
    assert!(passes_at(
        "-m pkttype --pkt-type multicast",
        &u,
        at.l2(L2Class::Multicast)
    ));
    assert!(passes_at("-m pkttype ! --pkt-type multicast", &u, at));
    assert!(!passes_at("-m pkttype --pkt-type otherhost", &u, at));
}

#[test]
fn marks() {
    let u = Pk::udp("10.0.1.2", "10.0.2.2", 1, 2, b"");
    let at = At::forward(0, 1);
    assert!(passes_at("-m mark --mark 0x10", &u, at.mark(0x10)));
    assert!(!passes_at("-m mark --mark 0x10", &u, at.mark(0x11)));
    assert!(passes_at("-m mark --mark 0x10/0xf0", &u, at.mark(0x1f)));
    assert!(passes_at("-m mark ! --mark 0x10/0xf0", &u, at.mark(0x2f)));
    // After a stateful match the mark is not in the classifier key; the
    // answer is the same.
    assert!(passes_at(
        "-m limit --limit 1/s -m mark --mark 0x10/0xf0",
        &u,
        at.mark(0x1f)
    ));
    assert!(!passes_at(
        "-m limit --limit 1/s -m mark --mark 0x10/0xf0",
        &u,
        at.mark(0x2f)
    ));
    // A mark changed by an earlier rule is seen by later ones.
    let mut h = H::new(&mangle(
        &[],
        &[
            "-A FORWARD -m mark --mark 0x1 -j DROP",
            "-A FORWARD -j MARK --set-mark 0x1",
            "-A FORWARD -m mark --mark 0x1 -j ACCEPT",
            "-A FORWARD -j DROP",
        ],
    ));
    let r = h.run(TableKind::Mangle, &u.frame(), at);
    assert!(r.accepted());
    assert_eq!(r.mark, 1);
    assert_eq!(h.hits(TableKind::Mangle, "FORWARD"), vec![0, 1, 1, 0]);
}

#[test]
fn addrtype() {
    let mut h = H::new(&filter(
        "ACCEPT",
        &["T"],
        &[
            "-A INPUT -j T",
            "-A T -m addrtype --dst-type LOCAL --limit-iface-in",
            "-A T -m addrtype --dst-type LOCAL",
            "-A T -m addrtype --dst-type BROADCAST",
            "-A T -m addrtype --dst-type MULTICAST",
            "-A T -m addrtype --dst-type UNICAST",
            "-A T -m addrtype --src-type LOCAL",
            "-A T -m addrtype ! --src-type UNICAST",
            "-A T -m addrtype --dst-type BROADCAST --limit-iface-in",
        ],
    ));
    let hits = |h: &mut H, dst: &str, src: &str| {
        let before = h.hits(F, "T");
        h.run(F, &Pk::udp(src, dst, 1, 2, b"").frame(), At::input(0));
        h.hits(F, "T")
            .iter()
            .zip(before)
            .map(|(a, b)| a - b)
            .collect::<Vec<_>>()
    };
    // Our address on the input port; on another port (local, but not
    // through r0); the subnet broadcast of r0, of r1; limited broadcast;
    // 0.x; multicast; anything else.
    for (dst, src, want) in [
        ("10.0.1.1", "10.0.1.2", [1, 1, 0, 0, 0, 0, 0, 0]),
        ("10.0.2.1", "10.0.1.2", [0, 1, 0, 0, 0, 0, 0, 0]),
        ("10.0.1.255", "10.0.1.2", [0, 0, 1, 0, 0, 0, 0, 1]),
        ("10.0.2.255", "10.0.1.2", [0, 0, 1, 0, 0, 0, 0, 0]),
        ("255.255.255.255", "10.0.1.2", [0, 0, 1, 0, 0, 0, 0, 1]),
        ("224.0.0.1", "10.0.1.2", [0, 0, 0, 1, 0, 0, 0, 0]),
        ("8.8.8.8", "10.0.1.2", [0, 0, 0, 0, 1, 0, 0, 0]),
        ("8.8.8.8", "192.168.9.1", [0, 0, 0, 0, 1, 1, 1, 0]),
        ("8.8.8.8", "127.0.0.1", [0, 0, 0, 0, 1, 1, 1, 0]),
        ("8.8.8.8", "0.1.2.3", [0, 0, 0, 0, 1, 0, 1, 0]),
    ] {
        assert_eq!(hits(&mut h, dst, src), want, "to {dst} from {src}");
    }
}

#[test]
fn conntrack_without_an_entry_is_invalid() {
    // A packet the rules see without conntrack having run (no rule here
    // enables tracking): `nf_ct_get` is NULL, the state is INVALID.
    let u = Pk::udp("10.0.1.2", "10.0.2.2", 1, 2, b"");
    assert!(passes("-m conntrack --ctstate INVALID", &u));
    assert!(passes("-m conntrack --ctstate NEW,INVALID", &u));
    assert!(!passes(
        "-m conntrack --ctstate NEW,ESTABLISHED,RELATED,UNTRACKED",
        &u
    ));
    assert!(passes("-m conntrack ! --ctstate NEW", &u));
    assert!(!passes("-m conntrack ! --ctstate INVALID", &u));
    // No entry: the other options are not looked at once the state holds,
    // and without a state test nothing matches.
    assert!(passes("-m conntrack --ctstate INVALID --ctproto udp", &u));
    assert!(!passes("-m conntrack --ctproto udp", &u));
    assert!(!passes("-m conntrack ! --ctproto tcp", &u));
    assert!(passes("-m state --state INVALID", &u));
    assert!(!passes("-m state --state NEW", &u));
    assert!(passes("-m state ! --state NEW,ESTABLISHED", &u));
    assert!(!passes("-m connmark --mark 0x0", &u));
    assert!(!passes("-m connmark ! --mark 0x1", &u));
}

#[test]
fn limit_is_the_kernels_bucket() {
    // 3/min burst 5: five at once, then one per 20 s.
    let mut h = accepting("-m limit --limit 3/min --limit-burst 5");
    let u = Pk::udp("10.0.1.2", "10.0.2.2", 1, 2, b"");
    assert_eq!(
        fwd_n(&mut h, &u, 8),
        [true, true, true, true, true, false, false, false]
    );
    h.now += Duration::from_secs(19);
    assert!(!h.fwd(&u).accepted());
    h.now += Duration::from_secs(2);
    assert!(h.fwd(&u).accepted());
    assert!(!h.fwd(&u).accepted());
}

/// A stateful match before a port match sees every packet that gets that
/// far, whatever its port (the port match is not lifted before it).
#[test]
fn stateful_match_before_a_port_match_runs_first() {
    for classifier in [true, false] {
        let params = RulesParams {
            classifier,
            ..RulesParams::default()
        };
        let mut h = H::with(
            THREE,
            &filter(
                "DROP",
                &[],
                &["-A FORWARD -p tcp -m limit --limit 1/hour --limit-burst 2 -m tcp --dport 22 -j ACCEPT"],
            ),
            "",
            params,
        );
        // Two tokens, both taken by packets to port 80: none left for 22.
        h.fwd(&Pk::tcp("10.0.1.2", "10.0.2.2", 1, 80, SYN));
        h.fwd(&Pk::tcp("10.0.1.2", "10.0.2.2", 1, 80, SYN));
        assert!(
            !h.fwd(&Pk::tcp("10.0.1.2", "10.0.2.2", 1, 22, SYN))
                .accepted(),
            "classifier {classifier}"
        );
    }
    // After the port match, only port 22 takes tokens.
    let mut h = accepting("-p tcp -m tcp --dport 22 -m limit --limit 1/hour --limit-burst 2");
    h.fwd(&Pk::tcp("10.0.1.2", "10.0.2.2", 1, 80, SYN));
    h.fwd(&Pk::tcp("10.0.1.2", "10.0.2.2", 1, 80, SYN));
    assert!(h
        .fwd(&Pk::tcp("10.0.1.2", "10.0.2.2", 1, 22, SYN))
        .accepted());
}

#[test]
fn recent_lists() {
    // The SSH brute-force pattern: the fourth new connection within 60 s
    // from one source is dropped.
    let mut h = H::new(&filter(
        "ACCEPT",
        &[],
        &[
            "-A FORWARD -p tcp -m tcp --dport 22 -m recent --set --name ssh --rsource",
            "-A FORWARD -p tcp -m tcp --dport 22 -m recent --update --seconds 60 --hitcount 4 --name ssh --rsource -j DROP",
        ],
    ));
    let a = Pk::tcp("10.0.1.2", "10.0.2.2", 1, 22, SYN);
    let b = Pk::tcp("10.0.1.3", "10.0.2.2", 1, 22, SYN);
    assert_eq!(fwd_n(&mut h, &a, 5), [true, true, true, false, false]);
    assert!(h.fwd(&b).accepted());
    h.now += Duration::from_secs(61);
    assert!(h.fwd(&a).accepted(), "old stamps expire");
}

#[test]
fn statistic_nth() {
    let mut h = accepting("-m statistic --mode nth --every 3 --packet 1");
    let u = Pk::udp("10.0.1.2", "10.0.2.2", 1, 2, b"");
    assert_eq!(
        fwd_n(&mut h, &u, 7),
        [false, true, false, false, true, false, false]
    );
    // Probability 1 and 0.
    assert!(passes("-m statistic --mode random --probability 1", &u));
    assert!(!passes("-m statistic --mode random --probability 0", &u));
}

#[test]
fn sets() {
    let sets = "create blk hash:ip family inet hashsize 1024 maxelem 65536\n\
                add blk 10.0.1.7\n\
                create svc hash:ip,port family inet hashsize 1024 maxelem 65536\n\
                add svc 10.0.2.2,tcp:443\n";
    let rules = filter(
        "ACCEPT",
        &[],
        &[
            "-A FORWARD -m set --match-set blk src -j DROP",
            "-A FORWARD -m set --match-set svc dst,dst -j ACCEPT",
            "-A FORWARD -j DROP",
        ],
    );
    let mut h = H::with(THREE, &rules, sets, RulesParams::default());
    assert!(!h
        .fwd(&Pk::tcp("10.0.1.7", "10.0.2.2", 1, 443, SYN))
        .accepted());
    assert!(h
        .fwd(&Pk::tcp("10.0.1.8", "10.0.2.2", 1, 443, SYN))
        .accepted());
    assert!(!h
        .fwd(&Pk::tcp("10.0.1.8", "10.0.2.2", 1, 444, SYN))
        .accepted());
    assert_eq!(h.hits(F, "FORWARD"), vec![1, 1, 1]);
}

/// A header cut short drops the packet when a match that needs it is
/// reached — only then.
#[test]
fn hotdrop() {
    for classifier in [true, false] {
        let params = RulesParams {
            classifier,
            ..RulesParams::default()
        };
        let rules = filter(
            "ACCEPT",
            &[],
            &[
                "-A FORWARD -s 10.9.9.9/32 -p tcp -m tcp --dport 22 -j DROP",
                "-A FORWARD -p tcp -m mark --mark 0x7 -m tcp --dport 22 -j DROP",
                "-A FORWARD -p udp -j LOG",
                "-A FORWARD -p tcp -m tcp --dport 23 -j DROP",
            ],
        );
        let mut h = H::with(THREE, &rules, "", params);
        // 12 bytes of TCP header: the first two rules do not get to their
        // tcp match (-s, the mark), the fourth does.
        let short = Pk::tcp("10.0.1.2", "10.0.2.2", 1, 22, SYN).cut(12);
        let r = h.fwd(&short);
        assert_eq!(
            r.dropped(),
            Some(Counter::RulesHotdrop),
            "classifier {classifier}"
        );
        assert_eq!(h.hits(F, "FORWARD"), vec![0, 0, 0, 0]);
        assert_eq!(h.policy(F, "FORWARD"), (0, 0));
        // With the mark, the second rule's tcp match is reached.
        let r = h.run(F, &short.frame(), At::forward(0, 1).mark(7));
        assert_eq!(r.dropped(), Some(Counter::RulesHotdrop));
        // A UDP packet cut short is fine until a udp match.
        let u = Pk::udp("10.0.1.2", "10.0.2.2", 1, 2, b"").cut(6);
        assert!(h.fwd(&u).accepted());
        // The evil fragment: TCP at offset 8.
        let evil = Pk::raw("10.0.1.2", "10.0.2.2", 6, vec![0; 16]).frag(8, false);
        assert_eq!(h.fwd(&evil).dropped(), Some(Counter::RulesHotdrop));
        let later = Pk::raw("10.0.1.2", "10.0.2.2", 6, vec![0; 16]).frag(16, false);
        assert!(h.fwd(&later).accepted());
        // --tcp-option with the options cut short: the data offset says
        // 24 bytes, the packet has 22.
        let mut h = H::with(
            THREE,
            &filter(
                "ACCEPT",
                &[],
                &["-A FORWARD -p tcp -m tcp --tcp-option 2 -j DROP"],
            ),
            "",
            params,
        );
        let opt = Pk::tcp_full("10.0.1.2", "10.0.2.2", 1, 2, SYN, &[2, 4, 5, 0xb4], &[]).cut(22);
        assert_eq!(h.fwd(&opt).dropped(), Some(Counter::RulesHotdrop));
        let icmp = Pk::icmp("10.0.1.2", "10.0.2.2", 8, 0).cut(6);
        let mut h = H::with(
            THREE,
            &filter(
                "ACCEPT",
                &[],
                &["-A FORWARD -p icmp -m icmp --icmp-type 8 -j DROP"],
            ),
            "",
            params,
        );
        assert_eq!(h.fwd(&icmp).dropped(), Some(Counter::RulesHotdrop));
    }
}
