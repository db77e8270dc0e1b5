//! Differential cases for IPv6: ip6tables rulesets (`NAME.rules6`, loaded
//! by `ip6tables-legacy-restore` into the kernel and compiled into
//! sluice's ip6tables tables) with IPv6 probes; the iptables ruleset of a
//! case (`NAME.rules`) is empty but where a case runs both families.

use super::*;

/// `ports(n)` with an IPv6 network too: port rI has 10.0.(I+1).1/24 and
/// fd00:(I+1)::1/64.
fn ports6(n: usize) -> String {
    (0..n)
        .map(|i| {
            format!(
                "[[interface]]\nname = \"r{i}\"\naddress = [\"10.0.{n1}.1/24\", \"fd00:{n1}::1/64\"]\n",
                n1 = i + 1
            )
        })
        .collect()
}

const A0: &str = "fd00:1::2";
const A0B: &str = "fd00:1::3";
const A1: &str = "fd00:2::2";
const A1B: &str = "fd00:2::3";
const RA0: &str = "fd00:1::1";
const RA1: &str = "fd00:2::1";

fn v6addr(s: &str) -> Ipv6Addr {
    s.parse()
        .unwrap_or_else(|_| panic!("not an IPv6 address: {s}"))
}

/// IPv6 headers of a probe arriving at `port` from `src` to `dst`.
fn p6(port: &'static str, src: &str, dst: &str) -> P {
    let i = port_index(port);
    P {
        port,
        f: IpFrame::new(host_mac(i), router_mac(i), v6addr(src), v6addr(dst)),
    }
}

/// The offset of the IPv6 payload in a probe's frame.
const L3_END: usize = 14 + 40;

/// `probe` with the extension header `kind` (its bytes `body`, the next
/// header byte filled in) inserted before the upper layer; the payload
/// length follows (the transport checksum does not cover the headers).
fn with_ext((port, mut frame): Probe, kind: u8, body: &[u8]) -> Probe {
    let mut h = body.to_vec();
    h[0] = frame[14 + 6];
    frame[14 + 6] = kind;
    frame.splice(L3_END..L3_END, h);
    let pl = u16::from_be_bytes([frame[18], frame[19]]) + body.len() as u16;
    frame[18..20].copy_from_slice(&pl.to_be_bytes());
    (port, frame)
}

/// A fragment header: offset in bytes, M flag, identification.
fn frag_hdr(offset: u16, more: bool, id: u32) -> [u8; 8] {
    let mut h = [0u8; 8];
    h[2..4].copy_from_slice(&(offset | u16::from(more)).to_be_bytes());
    h[4..8].copy_from_slice(&id.to_be_bytes());
    h
}

/// An options header (hop-by-hop or destination) of 8 bytes: a PadN.
const OPTS8: [u8; 8] = [0, 0, 1, 4, 0, 0, 0, 0];

/// A type-`ty` routing header with `segs` segments left and `n` addresses.
fn rt_hdr(ty: u8, segs: u8, n: usize) -> Vec<u8> {
    let mut h = vec![0u8; 8 + 16 * n];
    h[1] = (2 * n) as u8;
    h[2] = ty;
    h[3] = segs;
    for k in 0..n {
        h[8 + 16 * k] = 0xfd;
        h[8 + 16 * k + 15] = k as u8 + 1;
    }
    h
}

impl P {
    /// A neighbour solicitation for `target` (hop limit 255, to its
    /// solicited-node group, with the source link-layer address option).
    fn ns(&self, target: &str) -> Probe {
        let t = v6addr(target).octets();
        let mut group = [0u8; 16];
        group[0] = 0xff;
        group[1] = 0x02;
        group[11] = 0x01;
        group[12] = 0xff;
        group[13..].copy_from_slice(&t[13..]);
        let mut f = self.f;
        f.dst = IpAddr::V6(Ipv6Addr::from(group));
        f.dst_mac = MacAddr([0x33, 0x33, 0xff, t[13], t[14], t[15]]);
        let mut data = t.to_vec();
        data.extend_from_slice(&[1, 1]);
        data.extend_from_slice(&f.src_mac.0);
        (self.port, f.ttl(255).icmp(135, 0, 0, &data))
    }
}

/// The IPv6 packet of a probe (what an ICMPv6 error quotes).
fn l3(probe: &Probe) -> Vec<u8> {
    probe.1[14..].to_vec()
}

diff_test!(v6_filter_basics, &ports6(2), rules6, |d| {
    d.round(&[
        p6("r0", A0, A1).syn(22),
        p6("r0", A0, A1B).syn(22),
        p6("r0", A0B, A1).udp(53),
        p6("r0", A0, A1).udp(53),
        p6("r0", A0, A1).udp(9),
        p6("r1", A1, A0).tcp(22, flags::SYN | flags::ACK),
        p6("r1", A1, A0).syn(22),
        p6("r0", A0, A1).ping(1),
        p6("r0", A0, RA0).ping(2),
        p6("r1", A1, RA1).ping(3),
        p6("r0", A0, RA0).syn(22),
        p6("r0", A0, A1).ttl(1).udp(53),
        p6("r0", A0, "fd00:9::9").udp(53),
        p("r0", H0, H1).udp(9),
    ])
    .check();
});

diff_test!(v6_stateful_lan_wan, &ports6(2), rules6, |d| {
    let lan = p6("r0", A0, A1);
    let wan = p6("r1", A1, A0);
    let out_udp = lan.udp_ports(40001, 53);
    d.round(&[
        lan.seg(seg(40000, 80, flags::SYN, 1000, 0, b"")),
        wan.seg(seg(80, 40000, SYN_ACK, 5000, 1001, b"")),
        lan.seg(seg(40000, 80, ACK, 1001, 5001, b"")),
        lan.seg(seg(40000, 80, PSH_ACK, 1001, 5001, b"hello")),
        wan.seg(seg(80, 40000, ACK, 5001, 1006, b"")),
        // Unsolicited from the WAN: dropped.
        wan.seg(seg(40002, 22, flags::SYN, 77, 0, b"")),
        wan.udp_ports(53, 40009),
        out_udp.clone(),
        wan.udp_ports(53, 40001),
        // An error about the LAN host's datagram: RELATED.
        wan.icmp(1, 4, &l3(&out_udp)),
        // About a datagram never sent: not RELATED, dropped.
        wan.icmp(1, 4, &l3(&lan.udp_ports(40123, 53))),
        wan.ping(1),
        lan.pong(1),
        lan.seg(seg(40000, 80, flags::RST, 1006, 0, b"")),
    ])
    .conntrack_now()
    .check();
});

diff_test!(v6_icmpv6_nd_pmtu, &ports6(2), rules6, |d| {
    let quoted = l3(&p6("r0", A0, A1).udp_len(1400));
    let ptb = p6("r1", A1, A0);
    d.round(&[
        p6("r0", A0, RA0).ns(RA0),
        p6("r1", A1, RA1).ns(RA1),
        p6("r0", A0, RA0).ping(1),
        p6("r0", A0, RA0).ttl(64).ping(2),
        p6("r0", A0, RA0).syn(22),
        ptb.at(ptb.f.icmp(2, 0, 1280, &quoted)),
        p6("r1", A1, A0).icmp(1, 4, &quoted),
        p6("r1", A1, A0).icmp(1, 3, &quoted),
        p6("r1", A1, A0).icmp(3, 0, &quoted),
        p6("r0", A0, A1).ping(3),
        p6("r0", A0, A1).udp(9),
    ])
    .check();
    // The LOG rule matched twice (its counter is compared above): the
    // kernel's lines (`dmesg`, Linux 6.18, nf_log_all_netns on).
    let lines: Vec<String> = d.sluice.take_log().iter().map(|r| r.line()).collect();
    assert_eq!(
        lines,
        [
            "v6 icmp IN=r1 OUT=r0 MAC=02:00:00:00:00:02:02:00:00:00:01:02:86:dd \
             SRC=fd00:0002:0000:0000:0000:0000:0000:0002 DST=fd00:0001:0000:0000:0000:0000:0000:0002 \
             LEN=1496 TC=0 HOPLIMIT=63 FLOWLBL=0 PROTO=ICMPv6 TYPE=1 CODE=3 \
             [SRC=fd00:0001:0000:0000:0000:0000:0000:0002 DST=fd00:0002:0000:0000:0000:0000:0000:0002 \
             LEN=1448 TC=0 HOPLIMIT=64 FLOWLBL=0 PROTO=UDP SPT=40000 DPT=9 LEN=1408 ] ",
            "v6 icmp IN=r0 OUT=r1 MAC=02:00:00:00:00:01:02:00:00:00:01:01:86:dd \
             SRC=fd00:0001:0000:0000:0000:0000:0000:0002 DST=fd00:0002:0000:0000:0000:0000:0000:0002 \
             LEN=53 TC=0 HOPLIMIT=63 FLOWLBL=0 PROTO=ICMPv6 TYPE=128 CODE=0 ID=7 SEQ=3 ",
        ]
    );
});

diff_test!(v6_ext_headers, &ports6(2), rules6, |d| {
    let h = p6("r0", A0, A1);
    d.round(&[
        h.udp(9),
        with_ext(h.udp(9), 0, &OPTS8),
        with_ext(h.udp(9), 60, &OPTS8),
        with_ext(h.udp(7), 60, &OPTS8),
        with_ext(h.udp(9), 44, &frag_hdr(0, true, 150)),
        with_ext(h.udp(9), 44, &frag_hdr(0, true, 300)),
        with_ext(h.udp(9), 44, &frag_hdr(64, true, 150)),
        with_ext(h.udp(9), 44, &frag_hdr(64, false, 301)),
        with_ext(with_ext(h.udp(9), 44, &frag_hdr(0, true, 5)), 60, &OPTS8),
        with_ext(h.udp(9), 43, &rt_hdr(0, 0, 1)),
        with_ext(h.udp(9), 43, &rt_hdr(2, 0, 1)),
        with_ext(h.udp(9), 43, &rt_hdr(4, 0, 0)),
        with_ext(h.syn(80), 60, &OPTS8),
    ])
    .check();
});

diff_test!(v6_hop_limit, &ports6(2), rules6, |d| {
    let h = p6("r0", A0, A1);
    d.round(&[
        h.udp(1),
        h.udp(2),
        h.ttl(7).udp(2),
        h.ttl(6).udp(2),
        h.udp(3),
        h.ttl(250).udp(3),
        h.ttl(4).udp(9),
        h.ttl(6).udp(9),
        h.ttl(2).udp(9),
        h.ttl(1).udp(9),
        p6("r0", A0, RA0).ttl(2).ping(1),
    ])
    .check();
});

diff_test!(v6_mark_connmark, &ports6(2), rules6, |d| {
    let lan = p6("r0", A0, A1);
    let wan = p6("r1", A1, A0);
    d.round(&[
        lan.syn(80),
        lan.udp(53),
        wan.udp_ports(53, 40000),
        lan.udp(54),
        lan.syn(81),
        lan.ping(1),
    ])
    .conntrack_now()
    .check();
});

diff_test!(v6_chains_and_negation, &ports6(2), rules6, |d| {
    d.round(&[
        p6("r0", A0, A1).syn(80),
        p6("r0", A0B, A1).syn(80),
        p6("r0", A0, A1B).syn(22),
        p6("r0", A0, A1).tcp(80, flags::ACK),
        p6("r0", A0, A1).udp(9),
        p6("r0", A0, A1).ping(1),
        p6("r1", A1, A0).syn(80),
        p6("r1", A1, A0).udp(9),
        p6("r1", A1, A0).tcp(81, flags::SYN),
        p6("r1", "fd00:7::1", A0).udp(9),
    ])
    .check();
});

diff_test!(v6_raw_notrack, &ports6(2), rules6, |d| {
    let lan = p6("r0", A0, A1);
    let wan = p6("r1", A1, A0);
    d.round(&[
        lan.udp(53),
        wan.udp_ports(53, 40000),
        lan.udp(54),
        lan.udp(55),
        wan.udp_ports(55, 40000),
        lan.tcp(80, flags::SYN),
    ])
    .conntrack_now()
    .check();
});

diff_test!(v6_eui64, &ports6(2), rules6, |d| {
    let m = host_mac(0).0;
    let mut a = v6addr("fd00:1::").octets();
    a[8..].copy_from_slice(&[m[0] ^ 2, m[1], m[2], 0xff, 0xfe, m[3], m[4], m[5]]);
    let eui = Ipv6Addr::from(a).to_string();
    d.round(&[
        p6("r0", &eui, A1).udp(9),
        p6("r0", A0, A1).udp(9),
        p6("r0", &eui, RA0).ping(1),
        p6("r0", A0, RA0).ping(2),
        p6("r1", A1, A0).udp(9),
    ])
    .check();
});

diff_test!(v6_length_dscp_limit, &ports6(2), rules6, |d| {
    let h = p6("r0", A0, A1);
    d.round(&[
        h.udp_len(10),
        h.udp_len(40),
        h.udp_len(200),
        h.udp(5),
        h.tos(0x28).udp(9),
        h.tos(0x29).udp(9),
        h.udp(6),
        h.udp(6),
        h.udp(6),
        h.udp(6),
        h.udp(6),
    ])
    .check();
});

diff_test!(v6_multiport_sets, &ports6(2), rules6, |d| {
    let h = p6("r0", A0, A1);
    d.round(&[
        h.syn(22),
        h.syn(443),
        h.syn(8080),
        h.syn(8081),
        h.udp_ports(53, 9),
        h.udp_ports(123, 9),
        h.udp_ports(5000, 6000),
        h.udp_ports(5000, 53),
        h.seg(Tcp::new(1500, 9, flags::SYN)),
        h.seg(Tcp::new(2500, 9, flags::SYN)),
    ])
    .check();
});

diff_test!(dual_stack_separate, &ports6(2), rules6, |d| {
    d.round(&[
        p("r0", H0, H1).udp(9),
        p6("r0", A0, A1).udp(9),
        p("r0", H0, H1).udp(10),
        p6("r0", A0, A1).udp(10),
        p("r0", H0, H1).syn(22),
        p6("r0", A0, A1).syn(22),
        p("r0", H0, H1).syn(23),
        p6("r0", A0, A1).syn(23),
        p6("r1", A1, A0).syn(23),
    ])
    .check();
});

diff_test!(v6_reject, &ports6(2), rules6, |d| {
    let a = p6("r0", A0, A1);
    let b = p6("r0", A0B, A1);
    let quoted = l3(&p6("r1", A1, A0).udp(9));
    d.round(&[
        p6("r0", A0, RA0).syn(22),
        p6("r0", A0, RA0).udp(53),
        a.syn(23),
        a.seg(Tcp::new(40000, 23, flags::ACK).seq(7).ack(99)),
        a.seg(Tcp::new(40000, 23, flags::RST)),
        a.udp(1),
        a.udp(2),
        a.udp(3),
        b.udp(4),
        b.udp(5),
        b.udp(6),
        b.udp_len(1400),
        p6("r1", A1, A0).icmp(1, 4, &quoted),
        p6("r1", A1B, A0).ping(1),
        with_l4_checksum(a.udp(4), 6, 0x1234),
    ])
    .check();
});

diff_test!(v6_npt, &ports6(2), rules6, |d| {
    let ones = "fd00:1::ffff:ffff:ffff:ffff";
    d.host6("r0", ones);
    let out = p6("r0", A0, A1).udp_ports(40000, 53);
    let (k, _) = d.round_masked(
        &[
            out.clone(),
            p6("r0", A0B, A1).syn(80),
            // No identifier word to adjust: dropped, the parameter
            // problem about the half-mapped packet has no route back.
            p6("r0", ones, A1).udp(53),
            // Outside the prefix: mapped all the same (a wrong checksum).
            p6("r0", "fd00:7::1", A1).udp(53),
        ],
        |_| {},
    );
    // The translated source the WAN host saw, and its packet.
    let sent = k
        .iter()
        .find(|c| c.probe == 0)
        .expect("the kernel forwarded the first probe")
        .frame
        .clone();
    let mapped = Ipv6Addr::from(<[u8; 16]>::try_from(&sent[22..38]).unwrap()).to_string();
    assert!(mapped.starts_with("2001:db8:1:"), "{mapped}");
    let back = p6("r1", A1, &mapped);
    // The router's own error (no route to 2001:db8:2::1) leaves with its
    // source translated too: its flow label, the kernel's hash, is masked
    // although the address is no longer one of the router's.
    let first = d.probes_sent;
    d.round_masked(
        &[
            back.udp_ports(53, 40000),
            back.udp_ports(54, 40000),
            back.icmp(1, 4, &sent[14..]),
            p6("r1", A1, "2001:db8:2::1").udp_ports(53, 40000),
        ],
        |c| {
            if c.probe == first + 3 {
                mask_ipv6_flow_label(&mut c.frame);
            }
        },
    );
    d.check();
});

diff_test!(v6_nat_masquerade, &ports6(2), rules6, |d| {
    let lan = p6("r0", A0, A1);
    let lan_b = p6("r0", A0B, A1);
    let wan = p6("r1", A1, RA1);
    let (k, _) = d.round_masked(
        &[
            lan.udp_ports(40000, 9),
            lan.seg(seg(40001, 80, flags::SYN, 1000, 0, b"")),
            lan_b.udp_ports(40002, 9),
            lan.ping(1),
            // REDIRECTed to the box's port 53, which INPUT drops.
            lan.udp(5353),
        ],
        |_| {},
    );
    let out = k
        .iter()
        .find(|c| c.probe == 0)
        .expect("the kernel forwarded the first probe")
        .frame
        .clone();
    d.round(&[
        wan.udp_ports(9, 40000),
        wan.seg(seg(80, 40001, SYN_ACK, 5000, 1001, b"")),
        lan.seg(seg(40001, 80, ACK, 1001, 5001, b"")),
        wan.udp_ports(9, 40002),
        wan.at(wan.f.icmp(129, 0, (7 << 16) | 1, PAYLOAD)),
        // An error about the masqueraded datagram: de-translated to the
        // LAN host, the quoted packet with it.
        wan.icmp(1, 4, &out[14..]),
    ])
    .conntrack_now()
    .check();
});

diff_test!(v6_tcpmss, &ports6(2), rules6, |d| {
    let h = p6("r0", A0, A1);
    d.round(&[
        // MSS 1460 clamped to the path MTU: 1500 - 60.
        h.syn(80),
        // No MSS option: one is added (at most 1220).
        h.tcp(80, flags::SYN),
        h.syn(81),
        // Never raised.
        h.syn(82),
        // Data after the header: left alone.
        h.seg(Tcp::new(40000, 80, flags::SYN).payload(b"x")),
        h.seg(Tcp::new(40000, 80, flags::SYN | flags::ACK).option(&tcp_opt::mss(9000))),
        h.tcp(80, flags::ACK),
    ])
    .check();
});

#[path = "ipv6_nat.rs"]
mod nat6;

#[path = "ipv6_shapes.rs"]
mod shapes6;

#[path = "ipv6_recent.rs"]
mod recent6;

#[path = "ipv6_defrag.rs"]
mod defrag6;
