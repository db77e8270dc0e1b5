//! Differential cases: matches, chains and hooks, REJECT edge cases and
//! rate limits, the tables' order.

use super::*;

diff_test!(goto_vs_jump, &ports(2), |d| {
    let h = p("r0", H0, H1);
    d.round(&[
        h.udp(15),
        h.udp(25),
        h.udp_ports(1000, 25),
        h.udp_ports(1000, 15),
        h.udp(35),
        h.udp(36),
        h.udp(37),
        h.udp(9),
    ])
    .check();
});

diff_test!(return_nested_chains, &ports(2), |d| {
    let h = p("r0", H0, H1);
    let mut probes: Vec<Probe> = (1..=7).map(|port| h.udp(port)).collect();
    probes.extend([h.udp(10), h.syn(80), h.syn(81)]);
    d.round(&probes).check();
});

diff_test!(icmp_type_match, &ports(2), |d| {
    let quote = p("r0", H0, H1).udp(9).1[14..14 + 28].to_vec();
    let h = p("r1", H1, H0);
    d.round(&[
        h.ping(1),
        h.at(h.f.icmp(0, 0, 7 << 16 | 1, PAYLOAD)),
        h.icmp(3, 3, &quote),
        h.icmp(3, 1, &quote),
        h.at(h.f.icmp(3, 4, 1400, &quote)),
        h.icmp(11, 0, &quote),
        h.icmp(11, 1, &quote),
        h.icmp(13, 0, &[0; 12]),
        h.at(h.f.icmp(5, 1, u32::from(v4(H1B)), &quote)),
        h.icmp(9, 0, &[]),
    ])
    .check();
});

diff_test!(input_ping_rules, &ports(2), |d| {
    let big: Vec<u8> = (0..1000).map(|i| i as u8).collect();
    let h = p("r0", H0, R0);
    d.round(&[
        h.ping(1),
        p("r0", H0B, R0).ping(2),
        p("r1", H1, R0).ping(3),
        p("r1", H1, R1).ping(4),
        p("r0", H0, R1).ping(5),
        h.ttl(1).ping(6),
        h.df().at(h.df().f.icmp_echo(7, 7, &big)),
        p("r1", H1, R0).udp(53),
        p("r1", H1, R0).syn(22),
    ])
    .check();
});

diff_test!(output_chain, &ports(2), |d| {
    d.round(&[
        p("r0", H0, R0).ping(1),
        p("r0", H0B, R0).ping(2),
        p("r0", H0, H1).ttl(1).udp(9),
        p("r0", H0, "10.0.9.9").udp(9),
        p("r1", H1, R0).ping(3),
        p("r0", H0, H1).ping(4),
        p("r0", H0, R0).tos(0x03).ping(5),
    ])
    .check();
});

diff_test!(mark_match_xmark, &ports(2), |d| {
    let h = p("r0", H0, H1);
    d.round(&[
        h.udp(1),
        h.udp(2),
        h.udp(3),
        h.udp(4),
        h.udp(9),
        h.syn(80),
        h.ping(1),
    ])
    .check();
});

diff_test!(tcp_flags, &ports(2), |d| {
    let h = p("r0", H0, H1);
    d.round(&[
        h.tcp(80, 0),
        h.tcp(80, flags::FIN | flags::PSH | flags::URG),
        h.tcp(80, flags::SYN | flags::FIN),
        h.tcp(80, flags::SYN | flags::RST),
        h.syn(25),
        h.tcp(25, flags::SYN | flags::ACK),
        h.syn(26),
        h.tcp(26, flags::ACK),
        h.seg(Tcp::new(40000, 27, flags::SYN).option(&tcp_opt::timestamps(5, 0))),
        h.syn(27),
        h.seg(Tcp::new(40000, 80, flags::ACK | flags::PSH).payload(b"data")),
        h.tcp(80, flags::SYN | flags::ECE | flags::CWR),
        h.tcp_short_doff(80, flags::ACK),
        // The kernel's option walk (`tcp_find_option`) does not stop at
        // End of Option List, and steps over a zero length byte by one.
        h.seg(
            Tcp::new(40000, 27, flags::SYN)
                .option(&[0, 0, 0, 0])
                .option(&tcp_opt::timestamps(5, 0)),
        ),
        h.seg(
            Tcp::new(40000, 27, flags::SYN)
                .option(&[0x22, 0])
                .option(&tcp_opt::timestamps(5, 0)),
        ),
    ])
    .check();
});

diff_test!(port_ranges, &ports(2), |d| {
    let h = p("r0", H0, H1);
    d.round(&[
        h.udp(1024),
        h.udp(1023),
        h.udp(53),
        h.udp_ports(53, 53),
        h.udp_ports(500, 500),
        h.udp_ports(1024, 500),
        h.seg(Tcp::new(0, 85, flags::SYN)),
        h.syn(85),
        h.syn(91),
        h.syn(79),
    ])
    .check();
});

diff_test!(interface_match, &ports(3), |d| {
    d.round(&[
        p("r0", H0, H1).udp(9),
        p("r0", H0, H2).udp(9),
        p("r0", H0, H2).syn(80),
        p("r1", H1, H2).syn(80),
        p("r1", H1, H0).udp(9),
        p("r1", H1, H0).ping(1),
        p("r2", H2, H0).ping(2),
        p("r2", H2, H1).udp(9),
        p("r2", H2, H1).syn(80),
    ])
    .check();
});

diff_test!(ttl_edges, &ports(2), |d| {
    let h = p("r0", H0, H1);
    d.round(&[
        h.ttl(0).udp(9),
        h.ttl(0).udp(7),
        h.ttl(1).udp(7),
        h.ttl(2).udp(7),
        h.ttl(2).udp(9),
        h.ttl(255).udp(9),
        p("r0", H0, R0).ttl(1).ping(1),
        p("r0", H0, R0).ttl(0).ping(2),
        p("r1", H1, R0).ttl(1).ping(3),
        p("r1", H1, H0).ttl(1).ping(4),
    ])
    .check();
});

diff_test!(connmark_restore_policy_route, own_toml, |d| {
    d.round(&[p("r1", H1B, H0).udp(9), p("r1", H1, H0).udp(9)]);
    d.counters_now();
    d.round(&[p("r0", H0, H1B).udp_ports(9, 40000)]);
    // A port forward reached over either uplink: the server's answers
    // leave by the uplink the connection came in on (the mark restored
    // from the connection picks table 100), translated back.
    let client = "198.51.100.9";
    d.round(&[
        p("r2", client, "10.0.3.1").syn(8080),
        p("r0", H0, client).tcp_seg(80, 40000, SYN_ACK, 5000, 1001, &[]),
        p("r1", client, R1).seg(Tcp::new(40001, 8080, flags::SYN)),
        p("r0", H0, client).tcp_seg(80, 40001, SYN_ACK, 6000, 1001, &[]),
        p("r2", client, "10.0.3.1").tcp_seg(40000, 8080, ACK, 1001, 5001, &[]),
    ]);
    d.conntrack_now().check();
});

diff_test!(hook_traversal_counts, &ports(2), |d| {
    let mcast9 = MacAddr([0x01, 0x00, 0x5e, 0x00, 0x00, 0x09]);
    let mut bad_csum = p("r0", H0, H1).udp(9);
    bad_csum.1[14 + 10] ^= 0xff;
    d.round(&[
        p("r0", H0, H1).udp(9),
        p("r0", H0, H1).syn(80),
        p("r0", H0, H1).ping(1),
        p("r0", H0, R0).ping(2),
        p("r0", H0, H1).ttl(1).udp(9),
        p("r0", H0, "10.0.9.9").udp(9),
        p("r0", "127.0.0.1", H1).udp(9),
        bad_csum,
        p("r0", H0, H1)
            .dst_mac(MacAddr([2, 0, 0, 0, 0, 0x99]))
            .udp(9),
        p("r0", H0, "10.0.1.255").dst_mac(MacAddr::BROADCAST).udp(9),
        p("r0", H0, "224.0.0.9").dst_mac(mcast9).udp(520),
    ])
    .check();
});

diff_test!(truncated_transport, &ports(2), |d| {
    let (a, b) = (p("r0", H0, H1), p("r1", H1, H0));
    // A datagram whose IP total length claims more than the frame holds.
    let (port, mut long) = a.udp(10);
    long[14 + 3] += 20;
    let mut ip = ipv4::Packet::new_unchecked(&mut long[14..]);
    ip.fill_checksum();
    d.round(&[
        truncated(a.udp(10), 4),
        truncated(a.ping(1), 2),
        truncated(a.ping(1), 6),
        truncated(a.syn(81), 12),
        a.tcp_short_doff(81, flags::ACK),
        truncated(a.udp(10), 8),
        truncated(b.udp(10), 4),
        truncated(b.ping(1), 2),
        truncated(b.syn(81), 12),
        truncated(b.udp(10), 0),
        (port, long),
        padded(b.udp(10), 13),
        a.udp(10),
    ])
    .check();
});

diff_test!(ip_options_matches, &ports(2), |d| {
    let nops = [1, 1, 1, 0];
    let h = p("r0", H0, H1);
    d.round(&[
        with_ip_options(h.udp(7), &nops),
        with_ip_options(h.udp(9), &nops),
        with_ip_options(h.udp(9), &[1, 1, 1, 1, 1, 1, 1, 0]),
        with_ip_options(h.udp(8), &nops),
        with_ip_options(h.syn(80), &nops),
        with_ip_options(p("r0", H0, R0).ping(1), &nops),
        with_ip_options(h.ttl(1).udp(9), &nops),
    ])
    .check();
});

diff_test!(reject_edge_cases, &ports(2), |d| {
    d.host("r0", "10.0.1.4").host("r0", "10.0.1.5");
    let (a, b, c) = (p("r0", H0, H1), p("r0", H0B, H1), p("r0", "10.0.1.4", H1));
    let whole = p("r1", H1, H0)
        .f
        .tcp(&Tcp::new(40000, 80, flags::SYN).payload(&[7; 40]));
    d.round(&[
        a.udp_len(1000),
        with_l4_checksum(a.udp(9), 6, 0x1234),
        with_l4_checksum(a.udp(9), 6, 0),
        with_l4_checksum(b.ping(1), 2, 0x1234),
        b.ping(2),
        b.seg(Tcp::new(40000, 80, flags::SYN).seq(100).payload(&[1; 10])),
        c.seg(
            Tcp::new(40000, 80, flags::FIN | flags::ACK | flags::PSH)
                .seq(100)
                .ack(200)
                .payload(&[1; 10]),
        ),
        c.seg(Tcp::new(40000, 80, flags::SYN | flags::FIN).seq(100)),
        c.tcp(80, flags::URG | flags::ACK),
        p("r0", "10.0.1.5", H1).df().udp_len(1400),
        p("r0", "10.0.1.5", H1).icmp(42, 0, &[0; 8]),
        p("r0", "10.0.1.5", H1).icmp(13, 0, &[0; 12]),
        p("r1", H1, H0).udp_last_frag(),
        p("r1", H1, H0).udp_first_frag(9),
        p("r1", H1B, H0).frag(6, 0, true, &whole[34..34 + 32]),
        p("r1", H1B, H0).frag(6, 4, false, &whole[34 + 32..]),
    ])
    .check();
});

diff_test!(reject_ratelimit, &ports(2), |d| {
    let mut probes: Vec<Probe> = (0..8).map(|i| p("r0", H0, H1).udp(100 + i)).collect();
    probes.extend((0..2).map(|i| p("r0", H0B, H1).udp(200 + i)));
    d.round(&probes).check();
});

diff_test!(net_unreachable_ratelimit, &ports(2), |d| {
    let mut probes: Vec<Probe> = (0..7)
        .map(|i| p("r0", H0, "10.0.9.9").udp(100 + i))
        .collect();
    probes.extend((0..2).map(|i| p("r0", H0B, "10.0.9.9").udp(200 + i)));
    probes.push(p("r0", H0, H1).ttl(1).udp(9));
    d.round(&probes).check();
});

diff_test!(output_mark_reroute, own_toml, |d| {
    d.round(&[
        p("r0", H0, R0).ping(1),
        p("r0", H0B, R0).ping(2),
        p("r0", H0B, "10.0.3.1").ping(3),
        p("r0", H0, H1).ttl(1).udp(9),
        p("r1", H1, H0).ttl(1).udp(9),
        p("r0", H0B, H1).udp(9),
    ])
    .check();
});

diff_test!(statistic_random_extremes, &ports(2), |d| {
    let h = p("r0", H0, H1);
    d.round(&[h.udp(9), h.udp(7), h.udp(9), h.udp(7), h.udp(7), h.ping(1)])
        .check();
});

diff_test!(recent_variants, &ports(2), |d| {
    let (a, b) = (p("r0", H0, H1), p("r0", H0, H1B));
    d.round(&[
        a.udp(2),
        a.udp(1),
        a.udp(2),
        b.udp(2),
        a.udp(3),
        a.udp(2),
        a.udp(4),
        a.udp(5),
        a.ttl(30).udp(5),
        a.udp(6),
        a.udp(6),
        a.udp(6),
        a.udp(6),
        a.udp(7),
        p("r0", "10.0.1.77", H1).udp(8),
        p("r1", H1, H0).udp(8),
    ])
    .check();
});

diff_test!(sets_bitmap_port_hash_net_port, &ports(2), ipset, |d| {
    d.host("r1", "10.0.2.200");
    let h = p("r0", H0, H1);
    d.round(&[
        h.syn(22),
        h.syn(80),
        h.syn(443),
        h.syn(23),
        h.syn(2000),
        h.udp(22),
        h.syn(8080),
        p("r0", H0, "10.0.2.200").syn(8080),
        h.udp(53),
        p("r0", H0, H1B).udp(53),
        p("r0", H0, H1B).syn(53),
    ])
    .check();
});

diff_test!(local_addresses, &ports(2), |d| {
    let bcast = MacAddr::BROADCAST;
    d.round(&[
        p("r0", H0, "10.0.2.0").ping(1),
        p("r0", H0, "10.0.2.255").udp(9),
        p("r0", H0, "10.0.2.0").udp(9),
        p("r0", "0.0.0.0", "255.255.255.255").dst_mac(bcast).udp(67),
        p("r0", H0, "127.0.0.1").ping(2),
        p("r0", H0, "0.0.0.0").udp(9),
        padded(p("r0", H0, R0).ping(3), 13),
        padded(p("r0", H0, H1).udp(9), 13),
        p("r0", H0, "10.0.1.255").ping(4),
    ])
    .check();
});

diff_test!(limit_refill, &ports(2), |d| {
    let h = p("r0", H0, H1);
    d.round(&[h.ping(1), h.ping(2)]);
    d.sleep(Duration::from_millis(1300));
    d.round(&[h.ping(3), h.ping(4)]).check();
});

diff_test!(
    output_oif_after_reroute,
    data!("output_mark_reroute.toml"),
    |d| {
        d.round(&[
            p("r0", H0, R0).ping(1),
            p("r0", H0B, R0).ping(2),
            p("r0", H0B, "10.0.3.1").ping(3),
        ])
        .check();
    }
);

diff_test!(reject_broadcast_source, &ports(2), |d| {
    d.round(&[p("r0", "10.0.1.255", H1).udp(9), p("r0", H0, H1).udp(9)])
        .check();
});

diff_test!(core_matches, &ports(3), |d| {
    let (a, b) = (p("r0", H0, H1), p("r0", H0B, H1));
    // SCTP common header (12 bytes) and a GRE header (4 bytes).
    let sctp = [0x9c, 0x40, 0x00, 0x07, 0, 0, 0, 1, 0, 0, 0, 0];
    let gre = [0, 0, 0x08, 0x00];
    d.round(&[
        a.at(a.f.ip(47, &gre)),
        a.at(a.f.ip(50, &[0; 16])),
        a.at(a.f.ip(132, &sctp)),
        p("r0", H0, H1B).at(p("r0", H0, H1B).f.ip(132, &sctp)),
        b.udp(9),
        b.syn(80),
        b.at(b.f.ip(47, &gre)),
        p("r0", "10.0.1.200", H1).syn(80),
        a.syn(80),
        p("r0", H0, H1B).udp(9),
        a.udp(7),
        p("r2", H2, H1).udp(7),
        p("r2", H2, H0).udp(7),
        p("r1", H1B, H0).ping(1),
        p("r1", H1B, H0).at(p("r1", H1B, H0).f.ip(255, &[1, 2, 3])),
        p("r1", H1, H0).at(p("r1", H1, H0).f.ip(0, &[1, 2, 3, 4])),
    ])
    .check();
});

diff_test!(
    raw_mark_policy_route,
    data!("mark_policy_route.toml"),
    |d| {
        d.round(&[
            p("r0", H0, H1).udp(5353),
            p("r0", H0, H1).udp(53),
            p("r1", H1, H0).udp(5353),
        ])
        .check();
    }
);

diff_test!(match_order_side_effects, &ports(2), |d| {
    let h = p("r0", H0, H1);
    d.round(&[
        // limit before the port: two packets to port 10 use the burst up.
        h.udp(10),
        h.udp(10),
        h.udp(9),
        // nth before the port: the counter moves for port 10 too.
        h.udp(10),
        h.udp(11),
        h.udp(11),
        // recent --set before the port: every UDP source is recorded.
        p("r0", H0B, H1).udp(14),
        p("r0", H0B, H1).udp(13),
        // limit before the mark.
        h.udp(25),
        h.udp(26),
    ])
    .check();
});

diff_test!(shared_state_chain, &ports(2), |d| {
    d.round(&[
        p("r0", H0, R0).ping(1),
        p("r0", H0, H1).ping(2),
        p("r0", H0, R0).ping(3),
        p("r0", H0, H1).ping(4),
        p("r0", H0, R0).ping(5),
        p("r0", H0, H1).ping(6),
        p("r0", H0, H1).udp(2),
        p("r0", H0, H1).udp(1),
        p("r0", H0, H1).udp(2),
    ])
    .check();
});

diff_test!(classifier_order, &ports(2), |d| {
    let from = |src: &str| p("r0", src, H1);
    d.round(&[
        from("10.0.1.9").udp(100),
        from("10.0.1.10").udp(100),
        from("10.0.1.10").udp(150),
        from("10.0.1.20").udp(150),
        p("r0", H0, "10.0.2.200").udp(9),
        from("10.0.1.5").syn(22),
        from("10.0.1.20").syn(22),
        from("10.0.1.100").syn(80),
        from(H0).syn(80),
        from(H0).seg(Tcp::new(1000, 80, flags::SYN)),
        p("r0", H0, H1B).syn(80),
        p("r1", H1, H0).seg(Tcp::new(80, 40000, flags::SYN | flags::ACK).ack(1001)),
        p("r1", H1, H0).seg(Tcp::new(81, 40000, flags::SYN | flags::ACK).ack(1001)),
        from("10.0.1.5").udp(53),
        from("10.0.1.9").udp(53),
        from("10.0.1.20").udp(53),
        from(H0).udp(61000),
        p("r0", H0, H1B).udp(9),
        p("r1", H1, H0).ping(1),
        from("10.0.1.5").udp(2000),
        from("10.0.1.5").udp(2001),
        p("r1", "10.0.2.20", H0).udp(2001),
        from("10.0.1.40").udp(2002),
        from("10.0.1.40").udp(2010),
        from("10.0.1.50").udp(2018),
    ])
    .check();
});

diff_test!(ipv6_untouched, own_toml, |d| {
    d.host6("r1", "fd00:2::2").host6("r0", "fd00:1::2");
    let v6 = |port: &'static str, src: &str, dst: &str| {
        let i = port_index(port);
        let (src, dst): (Ipv6Addr, Ipv6Addr) = (src.parse().unwrap(), dst.parse().unwrap());
        IpFrame::new(host_mac(i), router_mac(i), src, dst)
    };
    let a = v6("r0", "fd00:1::2", "fd00:2::2");
    let b = v6("r1", "fd00:2::2", "fd00:1::2");
    d.round(&[
        p("r0", H0, H1).udp(9),
        p("r0", H0, R0).ping(1),
        ("r0", a.udp(40000, 9, PAYLOAD)),
        ("r0", a.tcp(&Tcp::new(40000, 22, flags::SYN))),
        ("r1", b.udp(40000, 9, PAYLOAD)),
        ("r0", a.icmp_echo(7, 1, PAYLOAD)),
        ("r0", a.ttl(1).udp(40000, 9, PAYLOAD)),
    ])
    .check();
});

diff_test!(output_matches, &ports(2), |d| {
    d.round(&[
        p("r0", H0, R0).ping(1),
        p("r0", H0, R1).ping(2),
        p("r1", H1, R0).ping(3),
        p("r0", H0, H1).ttl(1).udp(9),
        p("r0", H0, H1).udp(8),
        p("r0", H0, H1).syn(8),
        p("r1", H1, H0).syn(8),
        p("r0", H0B, "10.0.9.9").udp(9),
        p("r0", H0, H1).udp(9),
    ])
    .check();
});

diff_test!(reject_after_mangle, &ports(2), |d| {
    let h = p("r0", H0, H1);
    d.round(&[
        h.udp(1),
        h.tos(0x01).udp(6),
        h.udp(9),
        h.ttl(1).udp(7),
        h.tos(0x02).udp(10),
    ])
    .check();
});

diff_test!(security_table, &ports(2), |d| {
    d.round(&[
        p("r0", H0, H1).udp(9),
        p("r0", H0B, H1).udp(9),
        p("r0", H0B, H1).udp(10),
        p("r0", H0B, H1).udp(11),
        p("r0", H0B, R0).ping(1),
        p("r0", H0, R0).ping(2),
        p("r1", H1, R1).ping(3),
    ])
    .check();
});

diff_test!(nat_table_first_packets, &ports(2), |d| {
    // First packets of forwarded connections: the nat chains see each in
    // both.
    d.round(&[
        p("r0", H0, H1).udp(9),
        p("r0", H0, H1).syn(80),
        p("r1", H1, H0).udp(53),
        p("r0", H0, H1).ping(1),
    ]);
    d.counters_now();
    d.round(&[p("r0", H0, H1).udp(9), p("r0", H0, R0).ping(2)])
        .check();
});

diff_test!(nat_table_without_conntrack, &ports(2), |d| {
    d.round(&[p("r0", H0, H1).udp(7), p("r0", H0, H1).udp(9)])
        .check();
});

diff_test!(fragments_with_conntrack, &ports(2), |d| {
    d.round(&[p("r0", H0, H1).udp(9), p("r0", H0, H1).syn(80)]);
    d.counters_now();
    d.known_divergent(
        "no IPv4 reassembly for conntrack: the kernel holds the lone first \
         fragment for the rest and forwards nothing; sluice tracks it by its \
         own header and forwards it",
        &[
            p("r0", H0, H1).ident(7).udp_first_frag(9),
            p("r0", H0B, H1).ident(8).udp_last_frag(),
        ],
    )
    .check();
});
