//! Differential cases: filter rulesets and targets, sets, REJECT,
//! mangle targets, the first half of the matches.

use super::*;

// ---------------------------------------------------------------------------
// The cases.

diff_test!(empty_ruleset, &ports(2), |d| {
    d.round(&[
        p("r0", H0, H1).udp(9),
        p("r1", H1, H0).udp(53),
        p("r0", H0, H1).syn(80),
        p("r0", H0, H1).ping(1),
        p("r0", H0, R0).ping(2),
        p("r1", H1, R0).ping(3),
        p("r0", H0, H1).ttl(1).udp(9),
        p("r0", H0, H1).ttl(2).udp(9),
        p("r0", H0, "10.0.9.9").udp(9),
    ])
    .check();
});

diff_test!(policy_accept_drop_rules, &ports(2), |d| {
    d.round(&[
        p("r0", H0, H1).syn(23),
        p("r0", H0, H1).syn(22),
        p("r1", H1B, H0).udp(53),
        p("r1", H1, H0).udp(53),
        p("r0", H0, H1B).ping(1),
        p("r0", H0, H1).ping(2),
        p("r0", H0, H1).syn(137),
        p("r0", H0, H1).syn(140),
        p("r1", H1B, R1).ping(3),
        p("r1", H1, R1).ping(4),
    ])
    .check();
});

diff_test!(bastion_ssh_allowlist, &ports(2), |d| {
    d.host("r1", "10.0.2.10").host("r0", "10.0.1.10");
    let bastion = "10.0.2.10";
    d.round(&[
        p("r0", "10.0.1.10", bastion).syn(22),
        p("r0", "10.0.1.11", bastion).syn(22),
        p("r0", "10.0.1.70", bastion).syn(22),
        p("r0", "10.0.1.12", bastion).syn(22),
        p("r0", "10.0.1.128", bastion).syn(22),
        p("r0", "10.0.1.10", bastion).syn(2222),
        p("r0", "10.0.1.10", H1).syn(22),
        p("r0", "10.0.1.12", bastion).ping(1),
        p("r1", bastion, "10.0.1.10").seg(
            Tcp::new(22, 40000, flags::SYN | flags::ACK)
                .ack(1001)
                .option(&tcp_opt::mss(1460)),
        ),
        p("r1", bastion, "10.0.1.10").udp_ports(22, 40000),
        p("r0", H0, R0).ping(2),
        p("r0", H0, R0).syn(22),
    ])
    .check();
});

diff_test!(database_isolation, &ports(2), |d| {
    let db = "10.0.2.20";
    d.host("r1", db)
        .host("r0", "10.0.1.17")
        .host("r0", "10.0.1.32");
    d.round(&[
        p("r0", "10.0.1.17", db).syn(5432),
        p("r0", "10.0.1.31", db).syn(5432),
        p("r0", "10.0.1.32", db).syn(5432),
        p("r0", "10.0.1.17", db).syn(22),
        p("r0", H0, db).udp(5432),
        p("r0", H0, db).ping(1),
        p("r1", db, "10.0.1.17").seg(Tcp::new(5432, 40000, flags::SYN | flags::ACK).ack(1001)),
        p("r1", db, H0).seg(Tcp::new(5432, 40000, flags::SYN | flags::ACK).ack(1001)),
        p("r1", db, "10.0.1.17").udp_ports(5432, 40000),
        p("r0", H0, H1).syn(5432),
    ])
    .check();
});

diff_test!(log_and_drop_chain, &ports(2), |d| {
    d.round(&[
        p("r0", H0, H1).syn(23),
        p("r0", H0, R0).syn(23),
        p("r1", H1, R0).syn(23),
        p("r1", H1, H0).udp(161),
        p("r0", H0, H1).udp(161),
        p("r0", H0, H1).syn(22),
        p("r1", H1, H0).ping(1),
    ])
    .check();
    // The LOG records are not compared with the kernel's log (in a
    // namespace the kernel logs nothing, nf_log_all_netns being 0), but
    // there is one per packet the chain dropped: telnet forwarded, telnet
    // to the box from either side, SNMP from the WAN.
    let log = d.sluice.take_log();
    assert_eq!(
        log.iter()
            .filter(|r| r.prefix.as_str() == "FW DROP: ")
            .count(),
        4,
        "{}",
        log.iter().map(|r| r.line()).collect::<Vec<_>>().join("\n")
    );
});

diff_test!(default_drop_input_established, &ports(2), |d| {
    // First packets: NEW in the kernel, UNTRACKED in sluice; no state rule
    // matches either.
    d.round(&[
        p("r0", H0, R0).ping(1),
        p("r0", H0, R1).ping(1),
        p("r0", H0B, R0).ping(1),
        p("r1", H1, R0).ping(1),
        p("r1", H1, R1).syn(22),
        p("r1", H1, R0).udp(53),
        p("r0", H0, H1).udp(9),
    ]);
    d.counters_now();
    d.round(&[p("r0", H0, R0).ping(1), p("r1", H1, R1).icmp(0, 0, PAYLOAD)])
        .check();
});

diff_test!(stateful_forward, &ports(2), |d| {
    d.round(&[
        p("r0", H0, H1).syn(80),
        p("r0", H0, H1).udp(9),
        p("r0", H0, H1).ping(1),
        p("r1", H1, H0).syn(22),
        p("r1", H1, H0).udp_ports(41000, 53),
        p("r1", H1B, H0).ping(1),
    ]);
    d.counters_now();
    d.round(&[
        p("r1", H1, H0).seg(Tcp::new(80, 40000, flags::SYN | flags::ACK).ack(1001)),
        p("r1", H1, H0).udp_ports(9, 40000),
        p("r1", H1, H0).at(p("r1", H1, H0).f.icmp(0, 0, 7 << 16 | 1, PAYLOAD)),
        p("r1", H1, H0).tcp(5555, flags::RST),
    ])
    .check();
});

diff_test!(raw_notrack_untracked, &ports(2), |d| {
    d.round(&[
        p("r0", H0, H1).udp(5000),
        p("r1", H1, H0).udp_ports(5000, 40000),
        p("r0", H0, H1).syn(80),
        p("r1", H1, H0).udp(5000),
    ]);
    d.counters_now();
    d.round(&[p("r0", H0, H1).syn(443), p("r0", H0, H1).udp(5001)])
        .check();
});

diff_test!(nth_round_robin, own_toml, |d| {
    let far = "10.99.0.10";
    let mut probes: Vec<Probe> = (0..7).map(|i| p("r0", H0, far).udp(100 + i)).collect();
    probes.insert(3, p("r0", H0, H1).udp(9));
    probes.push(p("r1", H1, far).udp(9));
    d.round(&probes).check();
});

diff_test!(anti_spoofing, &ports(2), |d| {
    d.round(&[
        p("r1", "10.0.1.5", H0).udp(9),
        p("r1", "127.0.0.1", H0).udp(9),
        p("r1", "224.0.0.5", H0).udp(9),
        p("r1", "0.0.0.1", H0).udp(9),
        p("r1", R1, H0).udp(9),
        p("r1", H1, H0).udp(9),
        p("r1", "172.16.5.5", H0).udp(9),
        p("r0", H0, H1).udp(9),
        p("r0", "10.0.3.9", H1).udp(9),
        p("r0", "192.168.1.1", H1).udp(9),
        p("r0", H0, R0).ping(1),
    ])
    .check();
});

diff_test!(ipset_hash_ip, &ports(2), ipset, |d| {
    d.host("r1", "10.0.2.9");
    d.round(&[
        p("r1", "10.0.2.7", H0).udp(9),
        p("r1", "10.0.2.9", H0).udp(9),
        p("r1", "172.16.0.1", H0).udp(9),
        p("r1", "172.16.0.2", H0).udp(9),
        p("r0", H0, "10.0.2.8").udp(9),
        p("r0", H0, "10.0.2.9").udp(9),
        p("r1", "10.0.2.7", R1).ping(1),
        p("r1", H1, R1).ping(2),
    ])
    .check();
});

diff_test!(ipset_hash_net_nomatch, &ports(3), ipset, |d| {
    d.host("r1", "10.0.2.5").host("r1", "10.0.2.200");
    d.round(&[
        p("r1", "10.0.2.5", H0).udp(9),
        p("r1", "10.0.2.200", H0).udp(9),
        p("r1", "172.16.1.1", H0).udp(9),
        p("r1", "172.16.5.9", H0).udp(9),
        p("r1", "172.32.0.1", H0).udp(9),
        p("r0", H0, "10.0.2.5").udp(9),
        p("r0", H0, "10.0.2.200").udp(9),
        p("r0", H0, H2).udp(9),
        p("r2", H2, H0).udp(9),
        p("r2", "172.16.9.9", H0).udp(9),
        p("r2", "172.16.5.1", H0).udp(9),
    ])
    .check();
});

diff_test!(ipset_hash_ip_port, &ports(2), ipset, |d| {
    d.round(&[
        p("r0", H0, H1).syn(80),
        p("r0", H0, H1).udp(80),
        p("r0", H0, H1).udp(53),
        p("r0", H0, H1B).syn(22),
        p("r0", H0, H1B).syn(80),
        p("r0", H0, H1).ping(1),
        p("r0", H0, H1B).ping(1),
        p("r1", H1, H0).seg(Tcp::new(80, 40000, flags::SYN | flags::ACK).ack(1001)),
        p("r1", H1, H0).seg(Tcp::new(81, 40000, flags::SYN | flags::ACK).ack(1001)),
        p("r1", H1, H0).udp_ports(53, 40000),
    ])
    .check();
});

diff_test!(mark_policy_route, own_toml, |d| {
    d.round(&[
        p("r0", H0B, H1).udp(9),
        p("r0", H0, H1).udp(9),
        p("r0", H0, H1).syn(443),
        p("r0", H0, H1).udp(53),
        p("r0", H0B, H1).syn(443),
        p("r0", H0B, R0).ping(1),
        p("r0", H0B, H2).udp(9),
        p("r0", H0, H1).udp(54),
        p("r0", H0, H1).udp(55),
    ])
    .check();
});

diff_test!(reject_icmp_codes, &ports(2), |d| {
    // At most four ICMP errors per source: the kernel's per-peer limit
    // allows a burst of six.
    let quote = p("r0", H0, H1).udp(9).1[14..14 + 28].to_vec();
    d.round(&[
        p("r0", H0, H1).udp(1),
        p("r0", H0, H1).udp(2),
        p("r0", H0, H1).udp(3),
        p("r0", H0, H1).udp(4),
        p("r0", H0B, H1).udp(5),
        p("r0", H0B, H1).udp(6),
        p("r0", H0B, H1).udp(7),
        p("r0", H0B, H1).syn(1),
        p("r1", H1, H0).ping(1),
        p("r1", H1B, H0).icmp(3, 3, &quote),
        p("r1", H1B, H0).udp_last_frag(),
        p("r1", H1B, H0).udp(9),
    ])
    .check();
});

diff_test!(reject_tcp_reset, &ports(2), |d| {
    d.round(&[
        p("r0", H0, H1).syn(80),
        p("r0", H0, H1).seg(
            Tcp::new(40000, 80, flags::ACK | flags::PSH)
                .seq(5000)
                .ack(7000)
                .payload(b"GET / HTTP/1.0\r\n"),
        ),
        p("r0", H0, H1).seg(Tcp::new(40000, 80, flags::FIN | flags::ACK).seq(9).ack(77)),
        p("r0", H0, H1).tcp(80, flags::RST),
        p("r0", H0, H1).syn_bad_checksum(80),
        p("r1", H1, H0).syn(80),
        p("r0", H0B, H1).syn(81),
        p("r0", H0B, H1).syn(82),
        p("r0", H0B, R0).syn(23),
        p("r1", H1B, R0).seg(Tcp::new(40000, 23, flags::ACK).seq(1).ack(2)),
        p("r0", H0, H1).syn(83),
    ])
    .check();
});

diff_test!(reject_input, &ports(2), |d| {
    d.round(&[
        p("r0", H0, R0).udp(53),
        p("r0", H0B, R1).udp(53),
        p("r0", H0, R0).syn(22),
        p("r0", H0B, R1).syn(22),
        p("r1", H1, R1).icmp(13, 0, &[0; 12]),
        p("r0", H0, "10.0.1.255")
            .dst_mac(MacAddr::BROADCAST)
            .udp(53),
        p("r1", H1, R1).ping(1),
    ])
    .check();
});

diff_test!(ttl_target, &ports(2), |d| {
    d.round(&[
        p("r0", H0, H1).udp(1),
        p("r0", H0, H1).ttl(1).udp(1),
        p("r0", H0, H1).udp(2),
        p("r0", H0, H1).ttl(5).udp(2),
        p("r0", H0, H1).ttl(200).udp(3),
        p("r0", H0, H1).udp(4),
        p("r0", H0, H1).udp(5),
        p("r0", H0, H1).ttl(255).udp(5),
        p("r0", H0, H1).ttl(1).udp(9),
    ])
    .check();
});

diff_test!(dscp_target, &ports(2), |d| {
    d.round(&[
        p("r0", H0, H1).udp(1),
        p("r0", H0, H1).tos(0x03).udp(1),
        p("r0", H0, H1).tos(0x01).udp(2),
        p("r0", H0, H1).tos(0xfe).udp(3),
        p("r0", H0, H1).tos(0x01).syn(80),
        p("r0", H0, H1).tos(0x10).udp(9),
        p("r0", H0, R0).tos(0xb8).ping(1),
    ])
    .check();
});

diff_test!(tcpmss_set_mss, &ports(2), |d| {
    d.round(&[
        p("r0", H0, H1).syn(80),
        p("r0", H0, H1).seg(Tcp::new(40000, 80, flags::SYN).option(&tcp_opt::mss(1000))),
        p("r0", H0, H1).tcp(80, flags::SYN),
        p("r0", H0, H1).seg(
            Tcp::new(40000, 80, flags::SYN)
                .option(&tcp_opt::mss(1460))
                .option(&tcp_opt::sack_permitted())
                .option(&tcp_opt::timestamps(1, 0))
                .option(&tcp_opt::nop())
                .option(&tcp_opt::window_scale(7)),
        ),
        p("r1", H1, H0).seg(
            Tcp::new(80, 40000, flags::SYN | flags::ACK)
                .ack(1001)
                .option(&tcp_opt::mss(1460)),
        ),
        p("r0", H0, H1).seg(Tcp::new(40000, 80, flags::ACK).option(&tcp_opt::mss(1460))),
        p("r0", H0, H1).seg(Tcp::new(40000, 80, flags::SYN).payload(b"fast open")),
        p("r0", H0, H1)
            .seg(Tcp::new(40000, 80, flags::SYN | flags::RST).option(&tcp_opt::mss(1460))),
        // A 60-byte header without MSS: no room to add one.
        p("r0", H0, H1).seg(Tcp::new(40000, 80, flags::SYN).option(&[1; 40])),
        // MSS after other options, not 4-aligned.
        p("r0", H0, H1).seg(
            Tcp::new(40000, 80, flags::SYN)
                .option(&tcp_opt::nop())
                .option(&tcp_opt::window_scale(7))
                .option(&tcp_opt::mss(1460)),
        ),
        // A data offset below 5: TCPMSS drops the packet.
        p("r0", H0, H1).tcp_short_doff(80, flags::SYN),
        // IPv4 options in front of the SYN.
        with_ip_options(p("r0", H0, H1).syn(80), &[1, 1, 1, 0]),
    ])
    .check();
});

diff_test!(tcpmss_clamp_pmtu, own_toml, |d| {
    d.round(&[
        p("r0", H0, H1).syn(80),
        p("r0", H0, H1).seg(Tcp::new(40000, 80, flags::SYN).option(&tcp_opt::mss(1300))),
        p("r1", H1, H0).seg(
            Tcp::new(80, 40000, flags::SYN | flags::ACK)
                .ack(1001)
                .option(&tcp_opt::mss(1460)),
        ),
        p("r1", H1, H0).seg(Tcp::new(40001, 22, flags::SYN).option(&tcp_opt::mss(1500))),
        p("r0", H0, H1).df().udp_len(1400),
        p("r0", H0, H1).udp_len(1400),
    ])
    .check();
});

diff_test!(multiport, &ports(2), |d| {
    d.round(&[
        p("r0", H0, H1).syn(22),
        p("r0", H0, H1).syn(8080),
        p("r0", H0, H1).syn(8081),
        p("r0", H0, H1).syn(7999),
        p("r0", H0, H1).syn(443),
        p("r1", H1, H0).udp_ports(53, 999),
        p("r1", H1, H0).udp_ports(54, 999),
        p("r0", H0, H1).udp(2000),
        p("r0", H0, H1).seg(Tcp::new(587, 3000, flags::SYN)),
        p("r0", H0, H1).seg(Tcp::new(3000, 25, flags::SYN)),
        p("r0", H0, H1).ping(1),
    ])
    .check();
});

diff_test!(iprange, &ports(2), |d| {
    d.host("r1", "10.0.2.99").host("r1", "10.0.2.201");
    d.round(&[
        p("r0", "10.0.1.9", H1).udp(9),
        p("r0", "10.0.1.10", H1).udp(9),
        p("r0", "10.0.1.20", H1).udp(9),
        p("r0", "10.0.1.21", H1).udp(9),
        p("r0", H0, "10.0.2.99").udp(9),
        p("r0", H0, "10.0.2.100").udp(9),
        p("r0", H0, "10.0.2.200").udp(9),
        p("r0", H0, "10.0.2.201").udp(9),
        p("r0", H0, "10.0.2.100").ping(1),
        p("r1", "10.0.2.127", H0).udp(9),
        p("r1", "10.0.2.128", H0).udp(9),
    ])
    .check();
});

diff_test!(length_match, &ports(2), |d| {
    let ping = |n: usize| {
        let data: Vec<u8> = (0..n).map(|i| i as u8).collect();
        let h = p("r0", H0, H1);
        h.at(h.f.icmp_echo(7, 1, &data))
    };
    d.round(&[
        p("r0", H0, H1).udp_len(12),
        p("r0", H0, H1).udp_len(13),
        p("r0", H0, H1).udp_len(971),
        p("r0", H0, H1).udp_len(972),
        p("r0", H0, H1).udp_len(1072),
        p("r0", H0, H1).udp_len(1073),
        ping(56),
        ping(5),
        p("r0", H0, H1).syn(80),
    ])
    .check();
});

diff_test!(ttl_match, &ports(2), |d| {
    d.round(&[
        p("r0", H0, H1).udp(1),
        p("r0", H0, H1).ttl(63).udp(1),
        p("r0", H0, H1).ttl(4).udp(9),
        p("r0", H0, H1).ttl(5).udp(9),
        p("r0", H0, H1).ttl(255).udp(9),
        p("r0", H0, H1).ttl(201).udp(9),
        p("r0", H0, H1).ttl(10).udp(2),
        p("r0", H0, H1).ttl(9).udp(2),
        p("r0", H0, R0).ttl(4).ping(1),
        p("r0", H0, R0).ttl(5).ping(2),
        p("r0", H0, H1).ttl(1).udp(9),
    ])
    .check();
});

diff_test!(tos_dscp_match, &ports(2), |d| {
    d.round(&[
        p("r0", H0, H1).tos(0x10).udp(1),
        p("r0", H0, H1).tos(0x12).udp(1),
        p("r0", H0, H1).tos(0x50).udp(1),
        p("r0", H0, H1).tos(0x08).udp(2),
        p("r0", H0, H1).tos(0x09).udp(2),
        p("r0", H0, H1).tos(0xb8).udp(9),
        p("r0", H0, H1).tos(0xb9).ping(1),
        p("r0", H0, H1).tos(0x28).udp(9),
        p("r0", H0, H1).tos(0x28).syn(80),
        p("r0", H0, H1).tos(0x02).syn(80),
        p("r0", H0, H1).syn(81),
    ])
    .check();
});

diff_test!(pkttype_match, &ports(2), |d| {
    let mcast = MacAddr([0x01, 0x00, 0x5e, 0x00, 0x00, 0x01]);
    let mcast9 = MacAddr([0x01, 0x00, 0x5e, 0x00, 0x00, 0x09]);
    d.round(&[
        p("r0", H0, "10.0.1.255").dst_mac(MacAddr::BROADCAST).udp(9),
        p("r0", H0, "255.255.255.255")
            .dst_mac(MacAddr::BROADCAST)
            .udp(9),
        p("r0", H0, "224.0.0.1").dst_mac(mcast).udp(9),
        p("r0", H0, "224.0.0.9").dst_mac(mcast9).udp(520),
        p("r0", H0, R0).dst_mac(mcast).udp(9),
        p("r0", H0, R0).ping(1),
        p("r0", H0, "10.0.1.255")
            .dst_mac(MacAddr::BROADCAST)
            .ping(2),
        p("r0", H0, H1).dst_mac(MacAddr::BROADCAST).udp(9),
        p("r0", H0, H1).udp(7),
        p("r0", H0, H1).udp(9),
    ])
    .check();
});

diff_test!(mac_source, &ports(2), |d| {
    let other = MacAddr([0x52, 0x54, 0x00, 0xaa, 0xbb, 0xcc]);
    let banned = MacAddr([0x52, 0x54, 0x00, 0x12, 0x34, 0x56]);
    d.round(&[
        p("r0", H0, H1).udp(9),
        p("r0", H0, H1).src_mac(other).udp(9),
        p("r1", H1, H0).udp(9),
        p("r1", H1, H0).src_mac(banned).udp(9),
        p("r1", H1, H0).src_mac(other).udp(9),
        p("r0", H0, R0).src_mac(banned).ping(1),
        p("r0", H0, R0).src_mac(other).ping(2),
    ])
    .check();
});

diff_test!(addrtype_match, &ports(2), |d| {
    let mcast = MacAddr([0x01, 0x00, 0x5e, 0x00, 0x00, 0x01]);
    d.round(&[
        p("r0", H0, R0).ping(1),
        p("r0", H0, R1).ping(2),
        p("r0", H0, R1).udp(53),
        p("r0", H0, R0).udp(53),
        p("r0", H0, "10.0.1.255").dst_mac(MacAddr::BROADCAST).udp(9),
        p("r0", H0, "255.255.255.255")
            .dst_mac(MacAddr::BROADCAST)
            .udp(9),
        p("r0", H0, "224.0.0.1").dst_mac(mcast).udp(9),
        p("r0", H0, H1).udp(7),
        p("r0", H0, H1).udp(9),
        p("r1", "10.0.2.255", H0).udp(9),
        p("r1", R1, H0).udp(9),
        p("r1", "10.0.1.255", H0).udp(9),
    ])
    .check();
});

diff_test!(limit_burst, &ports(2), |d| {
    let mut probes: Vec<Probe> = (0..5).map(|i| p("r0", H0, H1).ping(i)).collect();
    probes.extend((0..4).map(|i| p("r0", H0, R0).ping(10 + i)));
    d.round(&probes).check();
});

diff_test!(recent_hitcount, &ports(2), |d| {
    d.round(&[
        p("r0", H0, H1).syn(22),
        p("r0", H0, H1).syn(22),
        p("r0", H0, H1).syn(22),
        p("r0", H0, H1).syn(22),
        p("r0", H0B, H1).syn(22),
        p("r0", H0, H1).udp(2),
        p("r0", H0, H1).udp(1),
        p("r0", H0, H1).udp(2),
        p("r0", H0B, H1).udp(2),
    ])
    .check();
});

diff_test!(recent_seconds_expiry, &ports(2), |d| {
    d.round(&[
        p("r0", H0, H1).udp(9),
        p("r0", H0, H1).udp(1),
        p("r0", H0, H1).udp(9),
        p("r0", H0B, H1).udp(9),
    ]);
    d.sleep(Duration::from_millis(1300));
    d.round(&[p("r0", H0, H1).udp(9), p("r0", H0, H1).udp(9)])
        .check();
});

diff_test!(fragments_f_match, &ports(2), |d| {
    d.round(&[
        p("r0", H0, H1).udp_first_frag(7),
        p("r0", H0, H1).udp_first_frag(9),
        p("r0", H0, H1).udp_last_frag(),
        p("r0", H0, H1).udp(7),
        p("r0", H0, H1).udp(8),
        p("r0", H0, H1).udp_first_frag(8),
    ])
    .check();
});

diff_test!(fragment_port_match, &ports(2), |d| {
    let h = p("r0", H0, H1);
    let echo = h.f.icmp_echo(7, 1, &[0x33; 40]);
    d.round(&[
        h.udp_first_frag(9),
        h.udp_first_frag(10),
        h.udp_last_frag(),
        h.frag(1, 3, false, &[0x33; 24]),
        h.frag(1, 0, true, &echo[34..34 + 24]),
        h.frag(6, 3, false, &[0x44; 24]),
        h.frag(6, 1, true, &[0x44; 16]),
        h.frag(17, 0, true, &h.f.udp(40000, 10, &[0; 40])[34..38]),
        h.syn(80),
        h.tcp(80, flags::ACK),
    ])
    .check();
});
