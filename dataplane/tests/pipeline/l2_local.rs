//! Pipeline cases: ARP, VLANs, martians and malformed frames, IPv4
//! options, IPv6 forwarding and neighbour discovery, local delivery.

use super::*;

// ---------------------------------------------------------------------------
// ARP.

#[test]
fn arp_request_for_the_router_is_answered_and_the_sender_learnt() {
    let mut lab = Lab::new(TWO);
    lab.inject("r0", &arp_request(hmac(10), "10.0.1.10", "10.0.1.1"));
    assert_eq!(
        lab.recv("r0"),
        vec![arp_reply(rmac(0), "10.0.1.1", hmac(10), "10.0.1.10")]
    );
    // Padded to 60 bytes, the reply is still 42.
    let mut padded = arp_request(hmac(10), "10.0.1.10", "10.0.1.1");
    padded.resize(60, 0);
    lab.inject("r0", &padded);
    assert_eq!(lab.recv("r0")[0].len(), 42);
    // The weak host model: the router's address on another port too.
    lab.inject("r0", &arp_request(hmac(10), "10.0.1.10", "10.0.2.1"));
    assert_eq!(
        lab.recv("r0"),
        vec![arp_reply(rmac(0), "10.0.2.1", hmac(10), "10.0.1.10")]
    );
    // Not for us: learnt from only if known, never answered.
    lab.inject("r0", &arp_request(hmac(11), "10.0.1.11", "10.0.1.99"));
    assert!(lab.recv("r0").is_empty());
    assert_eq!(
        lab.delta(),
        counts(&[
            ("rx.frames", 4),
            ("arp.reply_sent", 3),
            ("arp.consumed", 1),
            ("tx.frames", 3),
        ])
    );
    // The requester was learnt: traffic to it goes out without a request.
    let p = V4::udp("10.0.2.5", "10.0.1.10", 1, 2, b"x");
    lab.inject("r1", &p.frame(rmac(1), hmac(5)));
    assert_eq!(lab.recv("r0"), vec![p.ttl(63).frame(hmac(10), rmac(0))]);
    // ... and 10.0.1.11 was not.
    let q = V4::udp("10.0.2.5", "10.0.1.11", 1, 2, b"x");
    lab.inject("r1", &q.frame(rmac(1), hmac(5)));
    let out = lab.recv("r0");
    assert_eq!(
        out,
        vec![arp_request_from_router(0, "10.0.1.1", "10.0.1.11")]
    );
    lab.assert_balanced();
}

/// The ARP request the router broadcasts out of port `i`.
fn arp_request_from_router(i: u8, spa: &str, tpa: &str) -> Vec<u8> {
    arp_frame(
        arp::Operation::Request,
        MacAddr::BROADCAST,
        rmac(i),
        spa,
        MacAddr::ZERO,
        tpa,
    )
}

#[test]
fn unresolved_next_hop_queues_frames_until_the_arp_reply() {
    let mut lab = Lab::new(TWO);
    let frames: Vec<V4> = (0..4)
        .map(|n| V4::udp("10.0.1.10", "10.0.2.7", 1000 + n, 53, b"q"))
        .collect();
    lab.inject("r0", &frames[0].frame(rmac(0), hmac(10)));
    assert_eq!(
        lab.recv("r1"),
        vec![arp_request_from_router(1, "10.0.2.1", "10.0.2.7")]
    );
    assert_eq!(
        lab.delta(),
        counts(&[
            ("rx.frames", 1),
            ("forward.packets", 1),
            ("neigh.arp_request", 1),
            ("tx.frames", 1),
        ])
    );
    assert_eq!(lab.counters().neigh_queued(), 1);
    // Three more: the queue holds three, the oldest goes.
    for f in &frames[1..] {
        lab.inject("r0", &f.frame(rmac(0), hmac(10)));
    }
    assert!(lab.recv("r1").is_empty());
    assert_eq!(
        lab.delta(),
        counts(&[
            ("rx.frames", 3),
            ("forward.packets", 3),
            ("neigh.unres_discard", 1)
        ])
    );
    lab.assert_balanced();
    // The reply releases them, with the right addresses.
    lab.inject("r1", &arp_reply(hmac(7), "10.0.2.7", rmac(1), "10.0.2.1"));
    let want: Vec<Vec<u8>> = frames[1..]
        .iter()
        .map(|f| f.clone().ttl(63).frame(hmac(7), rmac(1)))
        .collect();
    assert_eq!(lab.recv("r1"), want);
    assert_eq!(
        lab.delta(),
        counts(&[("rx.frames", 1), ("arp.consumed", 1), ("tx.frames", 3)])
    );
    assert_eq!(lab.counters().neigh_queued(), 0);
    lab.assert_balanced();
}

#[test]
fn failed_resolution_retries_then_sends_host_unreachable() {
    let mut lab = Lab::with_neighbours(TWO, &[("r0", "10.0.1.10", hmac(10))]);
    let p = V4::udp("10.0.1.10", "10.0.2.9", 1, 2, b"x");
    lab.inject("r0", &p.frame(rmac(0), hmac(10)));
    let ask = arp_request_from_router(1, "10.0.2.1", "10.0.2.9");
    assert_eq!(lab.recv("r1"), vec![ask.clone()]);
    lab.advance(Duration::from_millis(1000));
    assert_eq!(lab.recv("r1"), vec![ask.clone()]);
    lab.advance(Duration::from_millis(1000));
    assert_eq!(lab.recv("r1"), vec![ask]);
    lab.advance(Duration::from_millis(1000));
    assert!(lab.recv("r1").is_empty());
    let out = lab.recv("r0");
    // Host unreachable, quoting the packet as it was when it was dropped
    // (TTL already decremented).
    assert_eq!(
        out,
        vec![icmp4_error(&out[0], 3, 1, 0, &p.clone().ttl(63).ip(), 0)]
    );
    assert_eq!(
        lab.delta(),
        counts(&[
            ("rx.frames", 1),
            ("forward.packets", 1),
            ("neigh.arp_request", 3),
            ("neigh.res_failed", 1),
            ("icmp.dest_unreachable", 1),
            ("output.packets", 1),
            ("tx.frames", 4),
        ])
    );
    lab.assert_balanced();
}

// ---------------------------------------------------------------------------
// VLANs, martians, malformed frames.

#[test]
fn vlan_tagged_frames_are_dropped_and_priority_tagged_ones_forwarded_untagged() {
    let mut lab = Lab::with_neighbours(TWO, &[("r1", "10.0.2.5", hmac(5))]);
    let p = V4::udp("10.0.1.10", "10.0.2.5", 1, 2, b"tagged");
    lab.inject(
        "r0",
        &eth_vlan(rmac(0), hmac(10), 100, EtherType::IPV4, &p.ip()),
    );
    assert!(lab.recv("r1").is_empty());
    lab.inject(
        "r0",
        &eth_vlan(rmac(0), hmac(10), 0, EtherType::IPV4, &p.ip()),
    );
    assert_eq!(lab.recv("r1"), vec![p.ttl(63).frame(hmac(5), rmac(1))]);
    // ARP in a priority tag is answered (untagged).
    lab.inject(
        "r0",
        &eth_vlan(
            MacAddr::BROADCAST,
            hmac(10),
            0,
            EtherType::ARP,
            &arp_request(hmac(10), "10.0.1.10", "10.0.1.1")[14..],
        ),
    );
    assert_eq!(
        lab.recv("r0"),
        vec![arp_reply(rmac(0), "10.0.1.1", hmac(10), "10.0.1.10")]
    );
    assert_eq!(
        lab.delta(),
        counts(&[
            ("rx.frames", 3),
            ("l2.vlan", 1),
            ("forward.packets", 1),
            ("arp.reply_sent", 1),
            ("tx.frames", 2),
        ])
    );
    lab.assert_balanced();
}

#[test]
fn martians_and_link_layer_checks() {
    let mut lab = Lab::with_neighbours(TWO, &[("r1", "10.0.2.5", hmac(5))]);
    let send = |lab: &mut Lab, src: &str, dst: &str, mac: MacAddr| {
        lab.inject("r0", &V4::udp(src, dst, 1, 2, b"x").frame(mac, hmac(10)));
    };
    send(&mut lab, "127.0.0.1", "10.0.2.5", rmac(0));
    send(&mut lab, "10.0.2.1", "10.0.2.5", rmac(0)); // our own address
    send(&mut lab, "224.0.0.5", "10.0.2.5", rmac(0));
    send(&mut lab, "10.0.1.10", "0.1.2.3", rmac(0));
    send(&mut lab, "10.0.1.10", "127.0.0.1", rmac(0));
    send(&mut lab, "10.0.1.10", "10.0.2.5", hmac(99)); // another host's MAC
    send(&mut lab, "10.0.1.10", "10.0.2.5", MacAddr::BROADCAST);
    send(
        &mut lab,
        "10.0.1.10",
        "239.1.1.1",
        MacAddr([1, 0, 0x5e, 1, 1, 1]),
    );
    assert!(lab.recv_all().is_empty());
    assert_eq!(
        lab.delta(),
        counts(&[
            ("rx.frames", 8),
            ("input.martian_source", 3),
            ("input.martian_destination", 2),
            ("l2.other_host", 1),
            ("forward.not_host", 1),
            ("input.mcast_not_joined", 1),
        ])
    );
    // IPv6: loopback, multicast source, interface-local multicast.
    let send6 = |lab: &mut Lab, src: &str, dst: &str| {
        lab.inject(
            "r0",
            &V6::udp(src, dst, 1, 2, b"x").frame(rmac(0), hmac(10)),
        );
    };
    send6(&mut lab, "::1", "fd00:2::5");
    send6(&mut lab, "ff02::1", "fd00:2::5");
    send6(&mut lab, "fd00:1::10", "ff01::1");
    send6(&mut lab, "fe80::1", "fd00:2::5");
    send6(&mut lab, "fd00:1::10", "ff02::1:2");
    assert_eq!(
        lab.delta(),
        counts(&[
            ("rx.frames", 5),
            ("input.martian_source", 2),
            ("input.martian_destination", 1),
            ("forward.link_local", 1),
            ("input.mcast_not_joined", 1),
        ])
    );
    lab.assert_balanced();
}

#[test]
fn malformed_frames_are_counted_and_dropped() {
    let mut lab = Lab::with_neighbours(TWO, &[("r1", "10.0.2.5", hmac(5))]);
    let good = V4::udp("10.0.1.10", "10.0.2.5", 1, 2, b"payload").frame(rmac(0), hmac(10));
    let mut bad_ihl = good.clone();
    bad_ihl[14] = 0x44;
    let mut long_total = good.clone();
    long_total[16..18].copy_from_slice(&1000u16.to_be_bytes());
    let mut short_total = good.clone();
    short_total[16..18].copy_from_slice(&10u16.to_be_bytes());
    let mut bad_sum = good.clone();
    bad_sum[24] ^= 0xff;
    let mut v5 = good.clone();
    v5[14] = 0x55;
    let mut triple_tag = eth_vlan(
        rmac(0),
        hmac(10),
        0,
        EtherType::VLAN,
        &[0, 0, 0x81, 0, 0, 0, 0x08, 0],
    );
    triple_tag.extend_from_slice(&good[14..]);
    let cases: Vec<(&str, Vec<u8>)> = vec![
        ("parse.truncated", good[..10].to_vec()),
        ("parse.truncated", good[..30].to_vec()),
        ("parse.malformed", bad_ihl),
        ("parse.truncated", long_total),
        ("parse.malformed", short_total),
        ("parse.checksum", bad_sum),
        ("parse.malformed", v5),
        (
            "parse.unsupported",
            eth(rmac(0), hmac(10), EtherType(0x88cc), &[0; 40]),
        ),
        ("parse.unsupported", triple_tag),
        (
            "parse.truncated",
            arp_request(hmac(10), "10.0.1.10", "10.0.1.1")[..30].to_vec(),
        ),
    ];
    for (reason, frame) in &cases {
        lab.inject("r0", frame);
        assert_eq!(
            lab.delta(),
            counts(&[("rx.frames", 1), (reason, 1)]),
            "{reason}: {frame:02x?}"
        );
    }
    // A bad hop-by-hop header is dropped before PREROUTING; a long chain
    // of destination options is forwarded (the kernel's forwarding path
    // does not read them).
    let mut hbh = vec![17, 0, 7, 9, 0, 0, 0, 0]; // a TLV running past the header
    hbh.extend_from_slice(&udp_segment(ip("fd00:1::10"), ip("fd00:2::5"), 1, 2, b"x"));
    let p = V6 {
        next_header: IpProtocol::HOPOPTS,
        payload: hbh,
        ..V6::udp("fd00:1::10", "fd00:2::5", 1, 2, b"")
    };
    lab.inject("r0", &p.frame(rmac(0), hmac(10)));
    assert_eq!(
        lab.delta(),
        counts(&[("rx.frames", 1), ("parse.malformed", 1)])
    );
    let mut chain = Vec::new();
    for _ in 0..9 {
        chain.extend_from_slice(&[60, 0, 1, 4, 0, 0, 0, 0]);
    }
    let n = chain.len();
    chain[n - 8] = 17;
    chain.extend_from_slice(&udp_segment(ip("fd00:1::10"), ip("fd00:2::5"), 1, 2, b"x"));
    let p = V6 {
        next_header: IpProtocol::IPV6_OPTS,
        payload: chain,
        ..V6::udp("fd00:1::10", "fd00:2::5", 1, 2, b"")
    };
    lab.neighbour("r1", "fd00:2::5", hmac(5));
    lab.delta();
    lab.inject("r0", &p.frame(rmac(0), hmac(10)));
    assert_eq!(lab.recv("r1").len(), 1);
    lab.assert_balanced();
}

#[test]
fn ipv4_options_bad_or_source_routed_are_dropped_others_forwarded() {
    let mut lab = Lab::with_neighbours(
        TWO,
        &[("r1", "10.0.2.5", hmac(5)), ("r0", "10.0.1.10", hmac(10))],
    );
    let with_options = |opts: &[u8]| {
        let p = V4::udp("10.0.1.10", "10.0.2.5", 1, 2, b"opt");
        let mut ip4 = p.ip();
        let mut out = ip4[..20].to_vec();
        out.extend_from_slice(opts);
        out.extend_from_slice(&ip4.split_off(20));
        let total = out.len() as u16;
        let mut h = ipv4::Packet::new_unchecked(&mut out[..]);
        h.set_header_len(20 + opts.len());
        h.set_total_len(total);
        h.fill_checksum();
        eth(rmac(0), hmac(10), EtherType::IPV4, &out)
    };
    // Router alert (kept), a loose source route, an option running past
    // the header (a parameter problem pointing at it).
    lab.inject("r0", &with_options(&[148, 4, 0, 0]));
    lab.inject("r0", &with_options(&[131, 7, 4, 10, 0, 2, 5, 0]));
    lab.inject("r0", &with_options(&[7, 9, 4, 0]));
    let out = lab.recv("r1");
    assert_eq!(out.len(), 1);
    assert_eq!(&out[0][34..38], &[148, 4, 0, 0]);
    assert_v4_checksums(&out[0]);
    let back = lab.recv("r0");
    assert_eq!(back.len(), 1);
    assert_eq!((back[0][34], back[0][35], back[0][38]), (12, 0, 20));
    assert_v4_checksums(&back[0]);
    assert_eq!(
        lab.delta(),
        counts(&[
            ("rx.frames", 3),
            ("tx.frames", 2),
            ("output.packets", 1),
            ("icmp.param_problem", 1),
            ("forward.packets", 1),
            ("input.source_route", 1),
            ("input.bad_options", 1),
        ])
    );
}

// ---------------------------------------------------------------------------
// IPv6 forwarding and neighbour discovery.

#[test]
fn ipv6_forwarding_resolves_with_ns_and_na() {
    let mut lab = Lab::new(TWO);
    let p = V6::udp("fd00:1::10", "fd00:2::5", 1000, 53, b"query");
    lab.inject("r0", &p.frame(rmac(0), hmac(10)));
    // A neighbour solicitation to the solicited-node group.
    let ns = V6::ns("fd00:2::1", "ff02::1:ff00:5", "fd00:2::5", Some(rmac(1)));
    assert_eq!(
        lab.recv("r1"),
        vec![ns.frame(MacAddr([0x33, 0x33, 0xff, 0, 0, 5]), rmac(1))]
    );
    assert_eq!(
        lab.delta(),
        counts(&[
            ("rx.frames", 1),
            ("forward.packets", 1),
            ("neigh.ns", 1),
            ("output.packets", 1),
            ("tx.frames", 1),
        ])
    );
    // The advertisement releases the packet, hop limit decremented.
    let na = V6::na(
        "fd00:2::5",
        "fd00:2::1",
        "fd00:2::5",
        icmpv6::na_flags::SOLICITED | icmpv6::na_flags::OVERRIDE,
        Some(hmac(5)),
    );
    lab.inject("r1", &na.frame(rmac(1), hmac(5)));
    assert_eq!(
        lab.recv("r1"),
        vec![p.hop_limit(63).frame(hmac(5), rmac(1))]
    );
    assert_eq!(
        lab.delta(),
        counts(&[
            ("rx.frames", 1),
            ("input.packets", 1),
            ("nd.na_processed", 1),
            ("tx.frames", 1),
        ])
    );
    lab.assert_balanced();
}

#[test]
fn ipv6_hop_limit_and_packet_too_big() {
    let mut lab = small_mtu();
    let p = V6::udp("fd00:1::10", "fd00:2::5", 1, 2, b"x").hop_limit(1);
    lab.inject("r0", &p.frame(rmac(0), hmac(10)));
    let out = lab.recv("r0");
    assert_eq!(out.len(), 1);
    let mut te = vec![3, 0, 0, 0, 0, 0, 0, 0];
    te.extend_from_slice(&p.ip());
    assert_eq!(
        out[0],
        V6::icmp("fd00:1::1", "fd00:1::10", &te).frame(hmac(10), rmac(0))
    );
    let big = V6::udp_len("fd00:1::10", "fd00:2::5", 1452); // 1500 bytes
    lab.inject("r0", &big.frame(rmac(0), hmac(10)));
    let out = lab.recv("r0");
    let mut ptb = vec![2, 0, 0, 0];
    ptb.extend_from_slice(&1400u32.to_be_bytes());
    ptb.extend_from_slice(&big.ip()[..1232]);
    assert_eq!(
        out,
        vec![V6::icmp("fd00:1::1", "fd00:1::10", &ptb).frame(hmac(10), rmac(0))]
    );
    assert!(lab.recv("r1").is_empty());
    let d = lab.delta();
    assert_eq!(d["forward.ttl_exceeded"], 1);
    assert_eq!(d["forward.packet_too_big"], 1);
    assert_eq!(d["icmp6.time_exceeded"], 1);
    assert_eq!(d["icmp6.packet_too_big"], 1);
}

#[test]
fn neighbour_solicitation_for_the_router_is_answered() {
    let mut lab = Lab::new(TWO);
    let ns = V6::ns("fd00:1::10", "ff02::1:ff00:1", "fd00:1::1", Some(hmac(10)));
    lab.inject(
        "r0",
        &ns.frame(MacAddr([0x33, 0x33, 0xff, 0, 0, 1]), hmac(10)),
    );
    let na = V6::na(
        "fd00:1::1",
        "fd00:1::10",
        "fd00:1::1",
        icmpv6::na_flags::ROUTER | icmpv6::na_flags::SOLICITED | icmpv6::na_flags::OVERRIDE,
        Some(rmac(0)),
    );
    assert_eq!(lab.recv("r0"), vec![na.frame(hmac(10), rmac(0))]);
    // A unicast probe is answered without the option and the override flag.
    let probe = V6::ns("fd00:1::10", "fd00:1::1", "fd00:1::1", Some(hmac(10)));
    lab.inject("r0", &probe.frame(rmac(0), hmac(10)));
    let na = V6::na(
        "fd00:1::1",
        "fd00:1::10",
        "fd00:1::1",
        icmpv6::na_flags::ROUTER | icmpv6::na_flags::SOLICITED,
        None,
    );
    assert_eq!(lab.recv("r0"), vec![na.frame(hmac(10), rmac(0))]);
    // Duplicate address detection: to all nodes, not solicited.
    let dad = V6::ns("::", "ff02::1:ff00:1", "fd00:1::1", None);
    lab.inject(
        "r0",
        &dad.frame(MacAddr([0x33, 0x33, 0xff, 0, 0, 1]), hmac(11)),
    );
    let na = V6::na(
        "fd00:1::1",
        "ff02::1",
        "fd00:1::1",
        icmpv6::na_flags::ROUTER | icmpv6::na_flags::OVERRIDE,
        Some(rmac(0)),
    );
    assert_eq!(
        lab.recv("r0"),
        vec![na.frame(MacAddr([0x33, 0x33, 0, 0, 0, 1]), rmac(0))]
    );
    // Someone else's address; a bad hop limit.
    let other = V6::ns(
        "fd00:1::10",
        "ff02::1:ff00:99",
        "fd00:1::99",
        Some(hmac(10)),
    );
    lab.inject(
        "r0",
        &other.frame(MacAddr([0x33, 0x33, 0xff, 0, 0, 0x99]), hmac(10)),
    );
    let hop = V6::ns("fd00:1::10", "ff02::1:ff00:1", "fd00:1::1", Some(hmac(10))).hop_limit(64);
    lab.inject(
        "r0",
        &hop.frame(MacAddr([0x33, 0x33, 0xff, 0, 0, 1]), hmac(10)),
    );
    assert!(lab.recv("r0").is_empty());
    assert_eq!(
        lab.delta(),
        counts(&[
            ("rx.frames", 5),
            ("input.packets", 4),
            ("nd.na_sent", 3),
            ("output.packets", 3),
            ("tx.frames", 3),
            ("input.mcast_not_joined", 1),
            ("nd.invalid", 1),
        ])
    );
    lab.assert_balanced();
}

// ---------------------------------------------------------------------------
// Local delivery.

#[test]
fn echo_to_the_router_is_answered() {
    let mut lab = Lab::with_neighbours(
        TWO,
        &[
            ("r0", "10.0.1.10", hmac(10)),
            ("r0", "fd00:1::10", hmac(10)),
        ],
    );
    let ping = V4::echo("10.0.1.10", "10.0.1.1", 0x1f2e, 3, b"abcdefgh").tos(0x10);
    lab.inject("r0", &ping.frame(rmac(0), hmac(10)));
    let out = lab.recv("r0");
    assert_eq!(out.len(), 1);
    let want = V4 {
        src: v4("10.0.1.1"),
        dst: v4("10.0.1.10"),
        ttl: 64,
        tos: 0x10,
        ident: ident_of(&out[0]),
        df: false,
        protocol: IpProtocol::ICMP,
        l4: icmp4(0, 0, 0x1f2e, 3, b"abcdefgh"),
    };
    assert_eq!(out[0], want.frame(hmac(10), rmac(0)));
    // The address of the other port answers too, from that address.
    lab.inject(
        "r0",
        &V4::echo("10.0.1.10", "10.0.2.1", 1, 1, b"").frame(rmac(0), hmac(10)),
    );
    let out = lab.recv("r0");
    assert_eq!(
        ipv4::Packet::new_checked(&out[0][14..]).unwrap().src_addr(),
        v4("10.0.2.1")
    );
    // IPv6.
    let ping6 = V6::echo("fd00:1::10", "fd00:1::1", 9, 4, b"xyz");
    lab.inject("r0", &ping6.frame(rmac(0), hmac(10)));
    let mut reply = vec![129, 0, 0, 0, 0, 9, 0, 4];
    reply.extend_from_slice(b"xyz");
    assert_eq!(
        lab.recv("r0"),
        vec![V6::icmp("fd00:1::1", "fd00:1::10", &reply).frame(hmac(10), rmac(0))]
    );
    // Broadcast echo is ignored; a bad checksum is dropped.
    lab.inject(
        "r0",
        &V4::echo("10.0.1.10", "10.0.1.255", 1, 1, b"").frame(MacAddr::BROADCAST, hmac(10)),
    );
    let mut bad = V4::echo("10.0.1.10", "10.0.1.1", 1, 1, b"").frame(rmac(0), hmac(10));
    bad[36] ^= 1;
    lab.inject("r0", &bad);
    assert!(lab.recv("r0").is_empty());
    assert_eq!(
        lab.delta(),
        counts(&[
            ("rx.frames", 5),
            ("input.packets", 5),
            ("local.echo_reply", 3),
            ("local.echo_broadcast", 1),
            ("local.icmp_checksum", 1),
            ("output.packets", 3),
            ("tx.frames", 3),
        ])
    );
    lab.assert_balanced();
}

#[test]
fn everything_else_for_the_box_is_punted_to_a_bounded_queue() {
    let params = PipelineParams {
        punt_capacity: 2,
        ..PipelineParams::default()
    };
    let mut lab = Lab::with_params(TWO, params);
    let ssh = V4::tcp_syn("10.0.1.10", "10.0.1.1", 40000, 22).frame(rmac(0), hmac(10));
    let dhcp = V4::udp("0.0.0.0", "255.255.255.255", 68, 67, b"discover")
        .frame(MacAddr::BROADCAST, hmac(10));
    let dns6 = V6::udp("fd00:1::10", "fd00:1::1", 1, 53, b"q").frame(rmac(0), hmac(10));
    lab.send("r0", &ssh);
    lab.send("r0", &dhcp);
    lab.send("r0", &dns6);
    lab.run();
    let got = lab.punted();
    assert_eq!(got, vec![(lab.port("r0"), ssh), (lab.port("r0"), dhcp)]);
    assert_eq!(
        lab.delta(),
        counts(&[
            ("rx.frames", 3),
            ("input.packets", 3),
            ("local.punted", 2),
            ("local.punt_full", 1),
        ])
    );
    lab.assert_balanced();
}

// ---------------------------------------------------------------------------
// The frame pool and TX.

#[test]
fn the_frame_pool_is_stable_under_load() {
    let mut lab = branch();
    let frames: Vec<Vec<u8>> = (0..64)
        .map(|i| V4::udp("10.0.1.10", "10.0.2.5", 1000 + i, 2, b"x").frame(rmac(0), hmac(10)))
        .collect();
    let free = lab.w.umem.free_count();
    for _ in 0..50 {
        for f in &frames {
            lab.send("lan", f);
        }
        lab.run();
        assert_eq!(lab.recv("wan_a").len(), 64);
        assert_eq!(lab.w.umem.free_count(), free);
    }
    assert_eq!(lab.delta()["tx.frames"], 64 * 50);
    lab.assert_balanced();
}

#[test]
fn a_full_tx_ring_drops_and_counts() {
    let mut lab = branch();
    lab.w.ports[1].set_tx_capacity(1);
    for _ in 0..3 {
        lab.send(
            "lan",
            &V4::udp("10.0.1.10", "10.0.2.5", 1, 2, b"x").frame(rmac(0), hmac(10)),
        );
    }
    lab.run();
    assert_eq!(lab.recv("wan_a").len(), 1);
    let d = lab.delta();
    assert_eq!((d["tx.frames"], d["tx.ring_full"]), (1, 2));
    lab.assert_balanced();
}

#[test]
fn generated_packets_wait_for_arp_too() {
    // An echo request from a host the router has not learnt: the reply
    // waits for an ARP exchange.
    let mut lab = Lab::new(TWO);
    let ping = V4::echo("10.0.1.10", "10.0.1.1", 1, 1, b"x");
    lab.inject("r0", &ping.frame(rmac(0), hmac(10)));
    assert_eq!(
        lab.recv("r0"),
        vec![arp_request_from_router(0, "10.0.1.1", "10.0.1.10")]
    );
    lab.inject("r0", &arp_reply(hmac(10), "10.0.1.10", rmac(0), "10.0.1.1"));
    let out = lab.recv("r0");
    assert_eq!(out.len(), 1);
    assert_eq!(macs_of(&out[0]).0, hmac(10));
    assert_eq!(out[0][34], 0, "echo reply");
    lab.assert_balanced();
}

#[test]
fn a_family_switched_off_is_not_forwarded_but_the_box_still_answers() {
    let a = sluice_config::appliance::parse(TWO, std::path::Path::new("test.toml")).unwrap();
    let mut snap = Snapshot::from_appliance(&a, 1).unwrap();
    snap.forward_v6 = false;
    let mut lab = Lab::from_snapshot(snap, PipelineParams::default());
    lab.neighbour("r1", "10.0.2.5", hmac(5));
    lab.neighbour("r1", "fd00:2::5", hmac(5));
    lab.delta();
    // IPv6 to forward: dropped and counted, no ICMPv6 error.
    let p6 = V6::udp("fd00:1::10", "fd00:2::5", 1234, 80, b"v6");
    lab.inject("r0", &p6.frame(rmac(0), hmac(10)));
    assert!(lab.recv_all().is_empty());
    assert_eq!(
        lab.delta(),
        counts(&[("rx.frames", 1), ("forward.disabled", 1)])
    );
    // IPv4 still forwarded.
    let p4 = V4::udp("10.0.1.10", "10.0.2.5", 1234, 80, b"v4");
    lab.inject("r0", &p4.frame(rmac(0), hmac(10)));
    assert_eq!(lab.recv("r1"), vec![p4.ttl(63).frame(hmac(5), rmac(1))]);
    lab.delta();
    // An IPv6 echo request to the box's own address is still answered.
    let echo = V6::echo("fd00:1::10", "fd00:1::1", 7, 1, b"ping");
    lab.neighbour("r0", "fd00:1::10", hmac(10));
    lab.inject("r0", &echo.frame(rmac(0), hmac(10)));
    assert_eq!(lab.recv("r0").len(), 1);
    lab.assert_balanced();
}
