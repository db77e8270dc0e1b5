//! Every target on crafted frames.

use super::frames::*;
use super::*;
use crate::rules::log::LogRecord;

const M: TableKind = TableKind::Mangle;
const F: TableKind = TableKind::Filter;

fn mangle_one(rule: &str, pk: &Pk, at: At) -> Ran {
    let mut h = H::new(&mangle(&[], &[&format!("-A FORWARD {rule}")]));
    let mut at = at;
    at.hook = Hook::Forward;
    h.run(M, &pk.frame(), at)
}

#[test]
fn mark_operations() {
    let u = Pk::udp("10.0.1.2", "10.0.2.2", 1, 2, b"");
    let at = At::forward(0, 1).mark(0xf0f0);
    let cases = [
        ("--set-xmark 0x1/0xff", 0xf001),
        ("--set-xmark 0xff/0xf", 0xf00f),
        ("--set-mark 0x3/0xff", 0xf003),
        ("--set-mark 0x3", 0x3),
        ("--and-mark 0xff", 0xf0),
        ("--or-mark 0x1", 0xf0f1),
        ("--xor-mark 0xffff", 0x0f0f),
    ];
    for (opts, want) in cases {
        let r = mangle_one(&format!("-j MARK {opts}"), &u, at);
        assert_eq!(r.mark, want, "{opts}");
        assert!(r.accepted());
    }
}

#[test]
fn ttl_and_dscp_keep_checksums_right() {
    let u = Pk::udp("10.0.1.2", "10.0.2.2", 1, 2, b"abc")
        .ttl(200)
        .tos(0x03);
    let at = At::forward(0, 1);
    for (opts, want) in [
        ("--ttl-set 7", 7),
        ("--ttl-inc 100", 255),
        ("--ttl-dec 150", 50),
        ("--ttl-dec 255", 0),
    ] {
        let r = mangle_one(&format!("-j TTL {opts}"), &u, at);
        assert_eq!(r.meta.ttl, want, "{opts}");
        assert_eq!(r.frame[14 + 8], want);
        assert_checksums(&r.frame);
    }
    let r = mangle_one("-j DSCP --set-dscp 46", &u, at);
    assert_eq!(r.meta.tos, (46 << 2) | 3, "ECN kept");
    assert_eq!(r.frame[14 + 1], (46 << 2) | 3);
    assert_checksums(&r.frame);
    let r = mangle_one("-j DSCP --set-dscp-class AF41", &u, at);
    assert_eq!(r.meta.tos >> 2, 34);
    assert_checksums(&r.frame);
    // Unchanged when already so.
    let same = Pk::udp("10.0.1.2", "10.0.2.2", 1, 2, b"abc").tos(46 << 2);
    let r = mangle_one("-j DSCP --set-dscp 46", &same, at);
    assert_eq!(r.frame, same.frame());
}

const SYN_RULE: &str = "-p tcp -m tcp --tcp-flags SYN,RST SYN -j TCPMSS";

fn mss_of(frame: &[u8]) -> Option<u16> {
    let meta = wire::parse(frame).unwrap();
    wire::tcp::Packet::new_checked(meta.l4(frame)).ok()?.mss()
}

#[test]
fn tcpmss_lowers_never_raises() {
    let at = At::forward(0, 1);
    let syn = Pk::syn_mss("10.0.1.2", "10.0.2.2", 80, 1460);
    let r = mangle_one(&format!("{SYN_RULE} --set-mss 1200"), &syn, at);
    assert_eq!(mss_of(&r.frame), Some(1200));
    assert_checksums(&r.frame);
    assert_eq!(r.meta.ip_len as u64, syn.len());
    let r = mangle_one(&format!("{SYN_RULE} --set-mss 1500"), &syn, at);
    assert_eq!(r.frame, syn.frame(), "never raised");
    // After other options.
    let opts = Pk::syn_mss_after_options();
    let r = mangle_one(&format!("{SYN_RULE} --set-mss 1000"), &opts, at);
    assert_eq!(mss_of(&r.frame), Some(1000));
    assert_checksums(&r.frame);
}

#[test]
fn tcpmss_adds_an_option_to_a_syn_without_one() {
    let at = At::forward(0, 1);
    // A bare SYN in a minimum-size frame (padding after the IP packet).
    let syn = Pk::tcp("10.0.1.2", "10.0.2.2", 1, 80, SYN).pad(6);
    let r = mangle_one(&format!("{SYN_RULE} --set-mss 1400"), &syn, at);
    // At most 536 when the option is added (RFC 1122's default).
    assert_eq!(mss_of(&r.frame), Some(536));
    assert_eq!(r.meta.ip_len as u64, syn.len() + 4);
    let meta = wire::parse(&r.frame).unwrap();
    assert_eq!(meta.ip_len as u64, syn.len() + 4);
    assert_eq!(
        wire::tcp::Packet::new_checked(meta.l4(&r.frame))
            .unwrap()
            .header_len(),
        24
    );
    assert_checksums(&r.frame[..14 + meta.ip_len as usize]);
    let r = mangle_one(&format!("{SYN_RULE} --set-mss 500"), &syn, at);
    assert_eq!(mss_of(&r.frame), Some(500));
    // With data after the header: left alone.
    let data = Pk::tcp_full("10.0.1.2", "10.0.2.2", 1, 80, SYN, &[], b"xy");
    let r = mangle_one(&format!("{SYN_RULE} --set-mss 500"), &data, at);
    assert_eq!(r.frame, data.frame());
    // A non-first fragment: left alone.
    let frag = Pk::raw("10.0.1.2", "10.0.2.2", 6, vec![0; 24]).frag(16, false);
    let mut h = H::new(
        &mangle(
            &[],
            &["-A FORWARD -p tcp -j TCPMSS --set-mss 500 -m comment --comment x"],
        )
        .replace(
            "-j TCPMSS --set-mss 500 -m comment --comment x",
            "-m tcp --tcp-flags SYN,RST SYN -j TCPMSS --set-mss 500",
        ),
    );
    let r = h.run(M, &frag.frame(), at);
    assert!(r.accepted());
    assert_eq!(r.frame, frag.frame());
}

#[test]
fn tcpmss_clamps_to_the_path_mtu() {
    let toml = format!("{THREE}\n").replace(
        "name = \"r1\"\naddress = [\"10.0.2.1/24\"]",
        "name = \"r1\"\naddress = [\"10.0.2.1/24\"]\nmtu = 1400",
    );
    let rules = mangle(
        &[],
        &[&format!("-A FORWARD {SYN_RULE} --clamp-mss-to-pmtu")],
    );
    let mut h = H::with(&toml, &rules, "", RulesParams::default());
    let syn = Pk::syn_mss("10.0.1.2", "10.0.2.2", 80, 1460);
    let r = h.run(M, &syn.frame(), At::forward(0, 1));
    assert_eq!(mss_of(&r.frame), Some(1360));
    assert_checksums(&r.frame);
    // The other way round, the route back (r1, 1400) is the smaller one.
    let back = Pk::syn_mss("10.0.2.2", "10.0.1.2", 80, 1460);
    let r = h.run(M, &back.frame(), At::forward(1, 0));
    assert_eq!(mss_of(&r.frame), Some(1360));
}

#[test]
fn log_records_and_a_full_ring() {
    let rules = filter(
        "ACCEPT",
        &[],
        &["-A FORWARD -p tcp -j LOG --log-prefix \"fw: \" --log-level 6"],
    );
    let params = RulesParams {
        log_ring: 2,
        ..RulesParams::default()
    };
    let mut h = H::with(THREE, &rules, "", params);
    let syn = Pk::tcp("10.0.1.2", "10.0.2.2", 1000, 80, SYN);
    for _ in 0..3 {
        let r = h.run(F, &syn.frame(), At::forward(0, 1).mark(0x2a));
        assert!(r.accepted(), "LOG continues");
    }
    let r = h.run(F, &syn.frame(), At::forward(0, 1));
    assert_eq!(r.counters.get(Counter::LogRingFull), 1);
    assert_eq!(h.stage.log_ring_full(), 2);
    let mut out: Vec<LogRecord> = Vec::new();
    h.stage.drain_log(&mut out);
    assert_eq!(out.len(), 2);
    let line = out[0].line();
    assert!(
        line.starts_with("fw: IN=r0 OUT=r1 MAC=02:00:00:00:01:00:52:54:00:00:00:10:08:00 SRC=10.0.1.2 DST=10.0.2.2 LEN=40 "),
        "{line}"
    );
    assert!(line.contains("PROTO=TCP SPT=1000 DPT=80 "), "{line}");
    assert!(line.ends_with("MARK=0x2a "), "{line}");
    assert_eq!(h.hits(F, "FORWARD"), vec![4]);
}

#[test]
fn reject_with_icmp_answers_from_the_route_back() {
    let rules = filter(
        "ACCEPT",
        &[],
        &[
            "-A INPUT -p udp -j REJECT",
            "-A FORWARD -p udp -j REJECT --reject-with icmp-host-prohibited",
        ],
    );
    let mut h = H::new(&rules);
    // Forwarded: from the address of the port toward the sender.
    let u = Pk::udp("10.0.1.2", "10.0.3.9", 5000, 53, b"query");
    let r = h.fwd(&u);
    assert_eq!(r.dropped(), Some(Counter::FilterReject));
    assert_eq!(r.counters.get(Counter::RejectIcmp), 1);
    assert_eq!(r.generated.len(), 1);
    let g = &r.generated[0];
    assert_checksums(g);
    let m = wire::parse(g).unwrap();
    assert_eq!(m.src, IpAddr::V4(ip("10.0.1.1")));
    assert_eq!(m.dst, IpAddr::V4(ip("10.0.1.2")));
    assert_eq!((m.icmp_type, m.icmp_code), (3, 10));
    assert_eq!(m.ttl, 64);
    assert_eq!(m.ident, 1, "the pipeline's identification");
    assert_eq!(&m.l4(g)[8..], &u.ip()[..], "the whole datagram quoted");
    // Addressed to the box: from the address it was sent to.
    let local = Pk::udp("10.0.1.2", "10.0.3.1", 5000, 53, b"query");
    let r = h.run(F, &local.frame(), At::input(0));
    assert_eq!(r.dropped(), Some(Counter::FilterReject));
    let m = wire::parse(&r.generated[0]).unwrap();
    assert_eq!(m.src, IpAddr::V4(ip("10.0.3.1")));
    assert_eq!((m.icmp_type, m.icmp_code), (3, 3));
    // Never about a link-layer broadcast; the packet is dropped anyway.
    let bcast = local.clone().dmac(MacAddr::BROADCAST);
    let r = h.run(F, &bcast.frame(), At::input(0).l2(L2Class::Broadcast));
    assert_eq!(r.dropped(), Some(Counter::FilterReject));
    assert!(r.generated.is_empty());
    assert_eq!(r.counters.get(Counter::RejectNotHost), 1);
}

#[test]
fn reject_with_tcp_reset() {
    let rules = filter(
        "ACCEPT",
        &[],
        &["-A FORWARD -p tcp -j REJECT --reject-with tcp-reset"],
    );
    let mut h = H::new(&rules);
    let syn = Pk::tcp("10.0.1.2", "10.0.2.2", 40000, 23, SYN);
    let r = h.fwd(&syn);
    assert_eq!(r.dropped(), Some(Counter::FilterReject));
    assert_eq!(r.counters.get(Counter::RejectTcpReset), 1);
    let g = &r.generated[0];
    assert_checksums(g);
    let m = wire::parse(g).unwrap();
    assert_eq!(
        (m.src, m.dst),
        (IpAddr::V4(ip("10.0.2.2")), IpAddr::V4(ip("10.0.1.2")))
    );
    assert_eq!((m.src_port, m.dst_port), (23, 40000));
    assert_eq!(m.tcp_flags, RST | ACK);
    let t = wire::tcp::Packet::new_checked(m.l4(g)).unwrap();
    assert_eq!((t.seq_number(), t.ack_number()), (0, 1001));
    assert_eq!(m.ident, 0);
    assert!(m.dont_frag);
    // No reset for a reset.
    let rst = Pk::tcp("10.0.1.2", "10.0.2.2", 40000, 23, RST);
    let r = h.fwd(&rst);
    assert!(r.generated.is_empty());
    assert_eq!(r.counters.get(Counter::RejectRst), 1);
}

#[test]
fn notrack_ct_and_connmark() {
    let rules = "*raw\n:PREROUTING ACCEPT [0:0]\n:OUTPUT ACCEPT [0:0]\n\
                 -A PREROUTING -p udp -j CT --notrack\n\
                 -A PREROUTING -p tcp -j NOTRACK\n\
                 -A PREROUTING -j CT --zone 5\nCOMMIT\n\
                 *mangle\n:PREROUTING ACCEPT [0:0]\n:INPUT ACCEPT [0:0]\n:FORWARD ACCEPT [0:0]\n\
                 :OUTPUT ACCEPT [0:0]\n:POSTROUTING ACCEPT [0:0]\n\
                 -A PREROUTING -j CONNMARK --set-mark 0x9\n\
                 -A PREROUTING -j CONNMARK --restore-mark\nCOMMIT\n";
    let mut h = H::new(rules);
    let u = Pk::udp("10.0.1.2", "10.0.2.2", 1, 2, b"");
    let r = h.run(TableKind::Raw, &u.frame(), At::prerouting(0));
    assert!(r.accepted());
    assert_eq!(r.ct, CtState::Untracked);
    assert_eq!(h.hits(TableKind::Raw, "PREROUTING"), vec![1, 0, 1]);
    let r = h.run(M, &u.frame(), At::prerouting(0).mark(3));
    assert!(r.accepted());
    assert_eq!(r.mark, 3, "no conntrack entry: CONNMARK changes nothing");
    assert_eq!(h.hits(M, "PREROUTING"), vec![1, 1]);
}

#[test]
fn output_and_postrouting() {
    let rules = filter("ACCEPT", &[], &["-A OUTPUT -o r1 -p icmp -j DROP"]);
    let mut h = H::new(&rules);
    let echo = Pk::icmp("10.0.2.1", "10.0.2.2", 0, 0);
    let r = h.run(F, &echo.frame(), At::output(1));
    assert_eq!(r.dropped(), Some(Counter::FilterDrop));
    let r = h.run(F, &echo.frame(), At::output(0));
    assert!(r.accepted());
    let mut h = H::new(&mangle(
        &[],
        &["-A POSTROUTING -o r1 -j MARK --set-mark 0x4"],
    ));
    let r = h.run(M, &echo.frame(), At::postrouting(0, 1));
    assert_eq!(r.mark, 4);
}
