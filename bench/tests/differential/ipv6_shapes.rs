//! Differential cases for IPv6: real-world-shaped ip6tables rulesets (UFW,
//! Docker, kube-proxy) and one case per match or policy shape they lean
//! on (ICMPv6 rate limits, INVALID drops, resets in FORWARD, `inet6`
//! sets, mac/pkttype, length with extension headers, fragment flags, ND
//! at hop limit 255, CONNMARK save/restore, RETURN and goto).

use super::*;

/// A stray SYN-ACK: INVALID for conntrack.
fn stray_syn_ack(h: &P, dport: u16) -> Probe {
    h.tcp_seg(80, dport, SYN_ACK, 8000, 7000, &[])
}

/// ICMPv6 `ty` (code 0) with hop limit `hl`, the first word 0 and `data`.
fn icmp6_hl(h: P, hl: u8, ty: u8, data: &[u8]) -> Probe {
    h.ttl(hl).icmp(ty, 0, data)
}

diff_test!(v6_ufw, &ports6(2), rules6, |d| {
    let (lan, wan, banned) = (p6("r0", A0, RA0), p6("r1", A1, RA1), p6("r1", A1B, RA1));
    let ra0 = v6addr(RA0).octets();
    d.round(&[
        // ND at hop limit 255 only.
        p6("r0", A0, RA0).ns(RA0),
        icmp6_hl(lan, 64, 135, &ra0),
        lan.ping(1),
        // Not allowed: dropped; the banned host rejected. (The allowed
        // SSH would be the host stack's to answer: not sent.)
        wan.syn(80),
        banned.syn(80),
        banned.udp(53),
        banned.ping(2),
        // INVALID: logged (rate-limited) and dropped.
        stray_syn_ack(&wan, 41000),
        // A type 0 routing header: dropped whatever it carries.
        with_ext(wan.udp(9), 43, &rt_hdr(0, 0, 1)),
        // NetBIOS and DHCPv6 skip to the policy.
        wan.udp(137),
        lan.udp(546),
        // The routed LAN out, its answers back, nothing unsolicited in.
        p6("r0", A0, A1).udp(53),
        p6("r1", A1, A0).udp_ports(53, 40000),
        p6("r0", A0, A1).ping(3),
        p6("r1", A1, A0).syn(22),
        p6("r1", A1, A0).ping(4),
    ])
    .conntrack_now()
    .check();
});

diff_test!(v6_docker, &ports6(2), rules6, |d| {
    let wan = p6("r1", A1, RA1);
    d.round(&[
        // The published port: DNAT to the container, its answer back.
        wan.syn(8080),
        p6("r0", A0B, A1).tcp_seg(80, 40000, SYN_ACK, 5000, 1001, &[]),
        wan.tcp_seg(40000, 8080, ACK, 1001, 5001, &[]),
        // DOCKER-USER drops a host before anything else.
        p6("r1", A1B, RA1).syn(8080),
        // Straight to the containers: only the published one's port.
        p6("r1", A1, A0).syn(80),
        p6("r1", A1, A0B).seg(Tcp::new(40001, 80, flags::SYN)),
        // Containers out: masqueraded; the isolation chain drops UDP 9.
        p6("r0", A0, A1).udp(53),
        wan.udp_ports(53, 40000),
        p6("r0", A0, A1).udp(9),
    ])
    .conntrack_now()
    .check();
});

diff_test!(
    v6_kube_proxy,
    &format!(
        "{}[[route]]\nto = \"fd00:10:96::/64\"\nvia = \"{A1}\"\n",
        ports6(2)
    ),
    rules6,
    |d| {
        const SVC: &str = "fd00:10:96::1f4";
        d.round(&[
            // From outside the pod network: marked, DNATed round robin,
            // masqueraded toward the endpoint; its answer de-translated.
            p6("r1", A1, SVC).syn(80),
            p6("r0", A0, RA0).tcp_seg(8080, 40000, SYN_ACK, 5000, 1001, &[]),
            p6("r1", A1B, SVC).syn(80),
            // From a pod: DNATed, not masqueraded.
            p6("r0", A0B, SVC).seg(Tcp::new(40002, 80, flags::SYN)),
            p6("r0", A0, A0B).tcp_seg(8080, 40002, SYN_ACK, 6000, 1001, &[]),
            // A service without endpoints: rejected.
            p6("r1", A1, "fd00:10:96::a").syn(80),
            // Another port of the service address: routed on untouched.
            p6("r1", A1, SVC).udp(53),
            // INVALID from an endpoint: dropped by KUBE-FORWARD.
            stray_syn_ack(&p6("r0", A0, A1), 41000),
            // The NodePort on the box's address: the service's endpoints.
            p6("r1", A1, RA1).seg(Tcp::new(40003, 30080, flags::SYN)),
        ])
        .conntrack_now()
        .check();
    }
);

diff_test!(v6_icmp_ratelimit, &ports6(2), rules6, |d| {
    let (lan, fwd) = (p6("r0", A0, RA0), p6("r0", A0, A1));
    let quoted = l3(&p6("r1", A1, A0).udp(9));
    d.round(&[
        lan.ping(1),
        lan.ping(2),
        lan.ping(3),
        lan.ping(4),
        p6("r0", A0, RA0).ns(RA0),
        fwd.ping(1),
        fwd.ping(2),
        fwd.ping(3),
        fwd.ping(4),
        fwd.ping(5),
        p6("r1", A1, A0).at(p6("r1", A1, A0).f.icmp(129, 0, (7 << 16) | 1, PAYLOAD)),
        fwd.icmp(1, 4, &quoted),
        fwd.icmp(3, 0, &quoted),
        fwd.udp(9),
    ])
    .check();
});

diff_test!(v6_ctstate_invalid, &ports6(2), rules6, |d| {
    let (lan, wan) = (p6("r0", A0, A1), p6("r1", A1, A0));
    let out_udp = lan.udp_ports(40001, 53);
    d.round(&[
        lan.seg(seg(40000, 80, flags::SYN, 1000, 0, b"")),
        wan.seg(seg(80, 40000, SYN_ACK, 5000, 1001, b"")),
        lan.seg(seg(40000, 80, ACK, 1001, 5001, b"")),
        // Out of the window, and acknowledging data never sent: INVALID.
        wan.seg(seg(80, 40000, PSH_ACK, 5001 + 1_000_000, 1001, b"late!")),
        wan.seg(seg(80, 40000, ACK, 5001, 1001 + 1_000_000, b"")),
        wan.seg(seg(80, 40000, PSH_ACK, 5001, 1001, b"hello")),
        stray_syn_ack(&wan, 41000),
        out_udp.clone(),
        wan.udp_ports(53, 40001),
        wan.udp_ports(53, 40009),
        wan.icmp(1, 4, &l3(&out_udp)),
        wan.icmp(1, 4, &l3(&lan.udp_ports(40123, 53))),
        // ND is not tracked: UNTRACKED, forwarded.
        icmp6_hl(lan, 255, 135, &v6addr(A1).octets()),
    ])
    .conntrack_now()
    .check();
});

diff_test!(v6_forward_tcp_reset, &ports6(2), rules6, |d| {
    let (lan, wan) = (p6("r0", A0, A1), p6("r1", A1, A0));
    d.round(&[
        wan.seg(seg(40000, 443, flags::SYN, 1000, 0, b"")),
        lan.seg(seg(443, 40000, SYN_ACK, 5000, 1001, b"")),
        wan.seg(seg(40000, 443, ACK, 1001, 5001, b"")),
        // New from the WAN: reset, port unreachable, dropped.
        wan.syn(22),
        wan.tcp(22, ACK),
        wan.tcp(22, flags::RST),
        wan.seg(seg(40002, 443, PSH_ACK, 1, 1, b"x")),
        wan.udp(53),
        wan.ping(1),
        // The LAN out and back.
        lan.syn(80),
        wan.tcp_seg(80, 40000, SYN_ACK, 5000, 1001, &[]),
        stray_syn_ack(&wan, 41000),
    ])
    .conntrack_now()
    .check();
});

diff_test!(v6_set_hash_net, &ports6(2), rules6, ipset, |d| {
    d.round(&[
        p6("r0", A0, A1).syn(22),
        p6("r0", A0B, A1).syn(22),
        p6("r0", A0, A1).udp(9),
        p6("r0", A0B, A1).udp(9),
        p6("r0", "fd00:1::41", A1).udp(9),
        p6("r0", "fd00:1::44", A1).udp(9),
        p6("r0", A0, A1B).syn(22),
        p6("r1", A1B, A0).udp(9),
        p6("r1", A1, A0).syn(22),
        p6("r1", A1, A0).udp(9),
    ])
    .check();
});

diff_test!(v6_mac_pkttype, &ports6(2), rules6, |d| {
    let other = MacAddr([0x52, 0x54, 0x00, 0xaa, 0xbb, 0xcc]);
    let all_nodes = MacAddr([0x33, 0x33, 0, 0, 0, 1]);
    d.round(&[
        p6("r0", A0, RA0).syn(22),
        p6("r0", A0, RA0).src_mac(other).syn(22),
        p6("r0", A0, RA0).src_mac(other).syn(23),
        p6("r0", A0, RA0).syn(23),
        p6("r0", A0, RA0).udp(9),
        p6("r0", A0, "ff02::1").dst_mac(all_nodes).udp(9),
        p6("r0", A0, A1).udp(9),
        p6("r0", A0, A1).src_mac(other).udp(9),
        p6("r1", A1, A0).udp(9),
    ])
    .check();
});

diff_test!(v6_length_ext, &ports6(2), rules6, |d| {
    let h = p6("r0", A0, A1);
    let short = || h.at(h.f.udp(40000, 9, &[1, 2, 3, 4]));
    d.round(&[
        short(),
        h.udp_len(10),
        with_ext(h.udp_len(10), 60, &OPTS8),
        with_ext(h.udp_len(10), 0, &OPTS8),
        with_ext(short(), 0, &OPTS8),
        h.udp_len(20),
        h.udp_len(1000),
        h.syn(80),
        with_ext(h.syn(80), 60, &OPTS8),
    ])
    .check();
});

/// `probe` with a fragment header whose reserved byte is set.
fn frag_reserved(probe: Probe, offset: u16, more: bool, id: u32) -> Probe {
    let mut h = frag_hdr(offset, more, id);
    h[1] = 0x5a;
    with_ext(probe, 44, &h)
}

diff_test!(v6_frag_flags, &ports6(2), rules6, |d| {
    let h = p6("r0", A0, A1);
    d.round(&[
        with_ext(h.udp(9), 44, &frag_hdr(0, true, 5)),
        with_ext(h.udp(9), 44, &frag_hdr(0, true, 50)),
        with_ext(h.udp(9), 44, &frag_hdr(0, false, 5)),
        with_ext(h.udp(9), 44, &frag_hdr(0, false, 50)),
        with_ext(h.udp(9), 44, &frag_hdr(64, false, 50)),
        with_ext(h.udp(9), 44, &frag_hdr(64, false, 5)),
        with_ext(h.udp(9), 44, &frag_hdr(64, true, 42)),
        frag_reserved(h.udp(9), 64, true, 42),
        frag_reserved(h.udp(9), 64, true, 43),
        with_ext(with_ext(h.udp(9), 44, &frag_hdr(128, true, 7)), 0, &OPTS8),
        h.udp(9),
    ])
    .check();
});

diff_test!(v6_nd_hl255, &ports6(2), rules6, |d| {
    let (lan, ll) = (p6("r0", A0, RA0), p6("r0", "fe80::2", RA0));
    let ra0 = v6addr(RA0).octets();
    let a0 = v6addr(A0).octets();
    // An RA body after the first word: reachable time and retrans timer.
    let ra = [0u8; 8];
    d.round(&[
        icmp6_hl(lan, 255, 133, &[0; 4]),
        icmp6_hl(ll, 255, 134, &ra),
        icmp6_hl(lan, 255, 134, &ra),
        icmp6_hl(ll, 64, 134, &ra),
        p6("r0", A0, RA0).ns(RA0),
        icmp6_hl(lan, 64, 135, &ra0),
        icmp6_hl(lan, 255, 136, &a0),
        icmp6_hl(ll, 255, 137, &[0; 36]),
        lan.ping(1),
        icmp6_hl(lan, 254, 128, &[0; 4]),
        // ND types through the box: FORWARD drops them.
        icmp6_hl(p6("r0", A0, A1), 255, 136, &a0),
        icmp6_hl(p6("r0", A0, A1), 255, 133, &[0; 4]),
    ])
    .check();
});

diff_test!(v6_connmark_policy, &ports6(2), rules6, |d| {
    let (lan, wan) = (p6("r0", A0, A1), p6("r1", A1, A0));
    d.round(&[
        lan.syn(80),
        wan.tcp_seg(80, 40000, SYN_ACK, 5000, 1001, &[]),
        lan.tcp_seg(40000, 80, ACK, 1001, 5001, &[]),
        lan.udp(53),
        wan.udp_ports(53, 40000),
        lan.seg(Tcp::new(40001, 22, flags::SYN)),
        lan.ping(1),
        wan.udp_ports(53, 40099),
        wan.syn(8080),
    ])
    .conntrack_now()
    .check();
});

diff_test!(v6_return_goto, &ports6(2), rules6, |d| {
    let (a, b) = (p6("r0", A0, A1), p6("r0", A0B, A1));
    d.round(&[
        a.syn(22),
        a.syn(8080),
        a.syn(80),
        a.syn(443),
        a.syn(25),
        b.syn(25),
        a.syn(1234),
        a.udp(53),
        a.udp(9),
        b.udp(9),
        a.udp(10),
        p6("r1", A1, A0).udp(9),
        p6("r1", A1, A0).syn(25),
    ])
    .check();
});

/// `probe` with traffic class `tc` and flow label `label`.
fn with_tc_flow((port, mut frame): Probe, tc: u8, label: u32) -> Probe {
    frame[14] = 0x60 | (tc >> 4);
    frame[15] = (tc << 4) | ((label >> 16) as u8 & 0x0f);
    frame[16] = (label >> 8) as u8;
    frame[17] = label as u8;
    (port, frame)
}

/// The lines the kernel (Linux 6.18, `dmesg` with `nf_log_all_netns` on)
/// logged for the probes of `v6_log_lines`, in order.
const KERNEL_LOG6: &[&str] = &[
    "t6 IN=r0 OUT=r1 MAC=02:00:00:00:00:01:02:00:00:00:01:01:86:dd SRC=fd00:0001:0000:0000:0000:0000:0000:0002 DST=fd00:0002:0000:0000:0000:0000:0000:0002 LEN=64 TC=0 HOPLIMIT=63 FLOWLBL=0 PROTO=TCP SPT=40000 DPT=80 SEQ=1000 ACK=0 WINDOW=64240 RES=0x00 SYN URGP=0 OPT (020405B4) ",
    "u6 IN=r0 OUT=r1 MAC=02:00:00:00:00:01:02:00:00:00:01:01:86:dd SRC=fd00:0001:0000:0000:0000:0000:0000:0002 DST=fd00:0002:0000:0000:0000:0000:0000:0002 LEN=53 TC=40 HOPLIMIT=63 FLOWLBL=74565 PROTO=UDP SPT=40000 DPT=9 LEN=13 ",
    "u6 IN=r0 OUT=r1 MAC=02:00:00:00:00:01:02:00:00:00:01:01:86:dd SRC=fd00:0001:0000:0000:0000:0000:0000:0002 DST=fd00:0002:0000:0000:0000:0000:0000:0002 LEN=53 TC=0 HOPLIMIT=63 FLOWLBL=0 PROTO=UDP SPT=40000 DPT=7 LEN=13 MARK=0x2a ",
    "u6 IN=r0 OUT=r1 MAC=02:00:00:00:00:01:02:00:00:00:01:01:86:dd SRC=fd00:0001:0000:0000:0000:0000:0000:0002 DST=fd00:0002:0000:0000:0000:0000:0000:0002 LEN=61 TC=0 HOPLIMIT=63 FLOWLBL=0 OPT ( ) PROTO=UDP SPT=40000 DPT=9 LEN=13 ",
    "u6 IN=r0 OUT=r1 MAC=02:00:00:00:00:01:02:00:00:00:01:01:86:dd SRC=fd00:0001:0000:0000:0000:0000:0000:0002 DST=fd00:0002:0000:0000:0000:0000:0000:0002 LEN=69 TC=0 HOPLIMIT=63 FLOWLBL=0 OPT ( ) OPT ( ) PROTO=UDP SPT=40000 DPT=9 LEN=13 ",
    "u6 IN=r0 OUT=r1 MAC=02:00:00:00:00:01:02:00:00:00:01:01:86:dd SRC=fd00:0001:0000:0000:0000:0000:0000:0002 DST=fd00:0002:0000:0000:0000:0000:0000:0002 LEN=61 TC=0 HOPLIMIT=63 FLOWLBL=0 OPT ( FRAG:0 INCOMPLETE ID:00001234 ) PROTO=UDP SPT=40000 DPT=9 LEN=13 ",
    "f6 IN=r0 OUT=r1 MAC=02:00:00:00:00:01:02:00:00:00:01:01:86:dd SRC=fd00:0001:0000:0000:0000:0000:0000:0002 DST=fd00:0002:0000:0000:0000:0000:0000:0002 LEN=61 TC=0 HOPLIMIT=63 FLOWLBL=0 FRAG:0 INCOMPLETE ID:00001234 PROTO=UDP SPT=40000 DPT=9 LEN=13 ",
    "u6 IN=r0 OUT=r1 MAC=02:00:00:00:00:01:02:00:00:00:01:01:86:dd SRC=fd00:0001:0000:0000:0000:0000:0000:0002 DST=fd00:0002:0000:0000:0000:0000:0000:0002 LEN=61 TC=0 HOPLIMIT=63 FLOWLBL=0 OPT ( FRAG:64 ID:00001234 ) PROTO=UDP ",
    "f6 IN=r0 OUT=r1 MAC=02:00:00:00:00:01:02:00:00:00:01:01:86:dd SRC=fd00:0001:0000:0000:0000:0000:0000:0002 DST=fd00:0002:0000:0000:0000:0000:0000:0002 LEN=61 TC=0 HOPLIMIT=63 FLOWLBL=0 FRAG:64 ID:00001234 PROTO=UDP ",
    "u6 IN=r0 OUT=r1 MAC=02:00:00:00:00:01:02:00:00:00:01:01:86:dd SRC=fd00:0001:0000:0000:0000:0000:0000:0002 DST=fd00:0002:0000:0000:0000:0000:0000:0002 LEN=65 TC=0 HOPLIMIT=63 FLOWLBL=0 OPT ( AH SPI=0x12345678 ) PROTO=UDP SPT=40000 DPT=9 LEN=13 ",
    "e6 IN=r0 OUT=r1 MAC=02:00:00:00:00:01:02:00:00:00:01:01:86:dd SRC=fd00:0001:0000:0000:0000:0000:0000:0002 DST=fd00:0002:0000:0000:0000:0000:0000:0002 LEN=52 TC=0 HOPLIMIT=63 FLOWLBL=0 OPT ( ESP SPI=0xabcd0001 )",
    "i6 IN=r0 OUT=r1 MAC=02:00:00:00:00:01:02:00:00:00:01:01:86:dd SRC=fd00:0001:0000:0000:0000:0000:0000:0002 DST=fd00:0002:0000:0000:0000:0000:0000:0002 LEN=53 TC=0 HOPLIMIT=63 FLOWLBL=0 PROTO=ICMPv6 TYPE=128 CODE=0 ID=7 SEQ=1 ",
    "i6 IN=r1 OUT=r0 MAC=02:00:00:00:00:02:02:00:00:00:01:02:86:dd SRC=fd00:0002:0000:0000:0000:0000:0000:0002 DST=fd00:0001:0000:0000:0000:0000:0000:0002 LEN=101 TC=0 HOPLIMIT=63 FLOWLBL=0 PROTO=ICMPv6 TYPE=2 CODE=0 [SRC=fd00:0001:0000:0000:0000:0000:0000:0002 DST=fd00:0002:0000:0000:0000:0000:0000:0002 LEN=53 TC=0 HOPLIMIT=64 FLOWLBL=0 PROTO=UDP SPT=40000 DPT=9 LEN=13 ] MTU=1280 ",
    "i6 IN=r1 OUT=r0 MAC=02:00:00:00:00:02:02:00:00:00:01:02:86:dd SRC=fd00:0002:0000:0000:0000:0000:0000:0002 DST=fd00:0001:0000:0000:0000:0000:0000:0002 LEN=101 TC=0 HOPLIMIT=63 FLOWLBL=0 PROTO=ICMPv6 TYPE=4 CODE=0 POINTER=00000028 [SRC=fd00:0001:0000:0000:0000:0000:0000:0002 DST=fd00:0002:0000:0000:0000:0000:0000:0002 LEN=53 TC=0 HOPLIMIT=64 FLOWLBL=0 PROTO=UDP SPT=40000 DPT=9 LEN=13 ] ",
    "i6 IN=r1 OUT=r0 MAC=02:00:00:00:00:02:02:00:00:00:01:02:86:dd SRC=fd00:0002:0000:0000:0000:0000:0000:0002 DST=fd00:0001:0000:0000:0000:0000:0000:0002 LEN=68 TC=0 HOPLIMIT=63 FLOWLBL=0 PROTO=ICMPv6 TYPE=3 CODE=0 [TRUNCATED] ",
    "i6 IN=r0 OUT=r1 MAC=02:00:00:00:00:01:02:00:00:00:01:01:86:dd SRC=fd00:0001:0000:0000:0000:0000:0000:0002 DST=fd00:0002:0000:0000:0000:0000:0000:0002 LEN=44 TC=0 HOPLIMIT=63 FLOWLBL=0 PROTO=ICMPv6 INCOMPLETE [4 bytes] ",
    "t6 IN=r0 OUT=r1 MAC=02:00:00:00:00:01:02:00:00:00:01:01:86:dd SRC=fd00:0001:0000:0000:0000:0000:0000:0002 DST=fd00:0002:0000:0000:0000:0000:0000:0002 LEN=50 TC=0 HOPLIMIT=63 FLOWLBL=0 PROTO=TCP INCOMPLETE [10 bytes] ",
];

diff_test!(v6_log_lines, &ports6(2), rules6, |d| {
    let h = p6("r0", A0, A1);
    let back = p6("r1", A1, A0);
    let quoted = l3(&h.udp(9));
    let mut ah = vec![0u8, 1, 0, 0];
    ah.extend_from_slice(&0x1234_5678u32.to_be_bytes());
    ah.extend_from_slice(&1u32.to_be_bytes());
    let mut esp = 0xabcd_0001u32.to_be_bytes().to_vec();
    esp.extend_from_slice(&[0, 0, 0, 1, 9, 9, 9, 9]);
    d.round(&[
        h.syn(80),
        with_tc_flow(h.udp(9), 0x28, 0x12345),
        h.udp(7),
        with_ext(h.udp(9), 60, &OPTS8),
        with_ext(with_ext(h.udp(9), 60, &OPTS8), 0, &OPTS8),
        with_ext(h.udp(9), 44, &frag_hdr(0, true, 0x1234)),
        with_ext(h.udp(9), 44, &frag_hdr(64, false, 0x1234)),
        // A non-first fragment followed by another extension header: the
        // first `-p` rule (mangle's) hotdrops it (`ipv6_find_hdr`).
        with_ext(
            with_ext(h.udp(9), 60, &OPTS8),
            44,
            &frag_hdr(64, true, 0xbeef),
        ),
        with_ext(h.udp(9), 51, &ah),
        h.at(h.f.ip(50, &esp)),
        h.ping(1),
        back.at(back.f.icmp(2, 0, 1280, &quoted)),
        back.at(back.f.icmp(4, 0, 0x28, &quoted)),
        back.icmp(3, 0, &quoted[..20]),
        h.at(h.f.ip(58, &[128, 0, 0, 0])),
        h.at(h.f.ip(6, &[0; 10])),
    ])
    .check();
    let lines: Vec<String> = d.sluice.take_log().iter().map(|r| r.line()).collect();
    assert_eq!(lines, KERNEL_LOG6);
});

diff_test!(v6_addrtype, &ports6(2), rules6, |d| {
    let all_nodes = MacAddr([0x33, 0x33, 0, 0, 0, 1]);
    d.round(&[
        // INPUT: local, anycast, multicast.
        p6("r0", A0, RA0).udp(9),
        p6("r0", A0, "fd00:1::").udp(9),
        p6("r0", A0, "fd00:2::").udp(9),
        p6("r0", A0, "ff02::1").dst_mac(all_nodes).udp(9),
        // FORWARD: a source of the box (on the port in, on another
        // port), one with no route back, plain unicast.
        p6("r0", RA0, A1).udp(53),
        p6("r0", RA1, A1).udp(53),
        p6("r0", "fd00:77::1", A1).udp(53),
        p6("r0", A0, A1).udp(53),
        p6("r0", A0, A1).syn(80),
        // DNAT to a LAN server for the box's addresses only.
        p6("r1", A1, RA1).syn(8080),
        p6("r1", A1B, RA0).syn(8080),
        p6("r1", A1, A0).syn(8080),
    ])
    .conntrack_now()
    .check();
});
