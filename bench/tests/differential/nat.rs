//! Differential cases: NAT and conntrack, flows through the translation
//! and back.

use super::*;

/// The IP datagram of `frame` (without its Ethernet header), cut to `n`
/// bytes: what an ICMP error quotes.
fn quote(frame: &[u8], n: usize) -> Vec<u8> {
    let ip = &frame[14..];
    ip[..n.min(ip.len())].to_vec()
}

/// A client's exchange with a server behind a forward of the box's
/// `port` to the server's port 80: handshake, request, answer.
pub(crate) fn forwarded_exchange(client: &P, server: &P, port: u16) -> [Probe; 5] {
    [
        client.syn(port),
        server.tcp_seg(80, 40000, SYN_ACK, 5000, 1001, &[]),
        client.tcp_seg(40000, port, ACK, 1001, 5001, &[]),
        client.tcp_seg(40000, port, PSH_ACK, 1001, 5001, b"GET /"),
        server.tcp_seg(80, 40000, PSH_ACK, 5001, 1006, b"200OK"),
    ]
}

/// The probes of a DNAT load-balancing case (`nat_dnat_balance.rules`,
/// `v6_nat_dnat_balance.rules6`): SYNs from `clients` (on r1, at least
/// six) to `public` port 80 (the hash), one client again from another
/// port, six to `other` port 80 (the hash's seed), six to port 82
/// (`--persistent`), five of the second client to port 81 (round robin),
/// and the two `backends` (on r0) answering its first two. Each group
/// from ports of its own, so no two reply tuples clash (a clash would
/// have the kernel pick a random port). `at` makes a probe's headers.
pub(crate) fn balance_probes(
    at: fn(&'static str, &str, &str) -> P,
    clients: &[&'static str],
    public: &str,
    other: &str,
    backends: [&str; 2],
) -> Vec<Probe> {
    let syn = |c: &'static str, dst: &str, sport: u16, dport: u16| {
        at("r1", c, dst).seg(Tcp::new(sport, dport, flags::SYN))
    };
    let mut probes: Vec<Probe> = clients.iter().map(|c| syn(c, public, 40000, 80)).collect();
    probes.push(syn(clients[0], public, 40001, 80));
    probes.extend(clients[..6].iter().map(|c| syn(c, other, 40100, 80)));
    probes.extend(clients[..6].iter().map(|c| syn(c, public, 40200, 82)));
    probes.extend((41000..41005).map(|sport| syn(clients[1], public, sport, 81)));
    for (sport, b) in (41000..).zip(backends) {
        probes.push(at("r0", b, clients[1]).tcp_seg(8080, sport, SYN_ACK, 9000, 1001, &[]));
    }
    probes
}

diff_test!(nat_masquerade_lan, &ports(2), |d| {
    let (lan, wan) = (p("r0", H0, H1), p("r1", H1, R1));
    d.round(&[
        // TCP: handshake, data both ways, FIN both ways.
        lan.syn(80),
        wan.tcp_seg(80, 40000, SYN_ACK, 5000, 1001, &[]),
        lan.tcp_seg(40000, 80, ACK, 1001, 5001, &[]),
        lan.tcp_seg(40000, 80, PSH_ACK, 1001, 5001, b"hello"),
        wan.tcp_seg(80, 40000, PSH_ACK, 5001, 1006, b"world"),
        lan.tcp_seg(40000, 80, FIN_ACK, 1006, 5006, &[]),
        wan.tcp_seg(80, 40000, FIN_ACK, 5006, 1007, &[]),
        lan.tcp_seg(40000, 80, ACK, 1007, 5007, &[]),
        // UDP out and the reply.
        lan.udp(53),
        wan.udp_ports(53, 40000),
        // ICMP echo and the reply.
        lan.ping(1),
        wan.pong(1),
        // Not replies: to the masquerading address's other ports, and
        // straight to the LAN.
        wan.udp_ports(53, 40001),
        p("r1", H1, H0).syn(22),
    ]);
    d.conntrack_now().check();
});

diff_test!(nat_port_forward, &ports(2), |d| {
    let (wan, web) = (p("r1", H1, R1), p("r0", H0, H1));
    d.round(&forwarded_exchange(&wan, &web, 8080));
    d.round(&[
        // Not forwarded: straight to the server (no DNAT state), another
        // port of the box, the forward's port from the LAN side.
        p("r1", H1, H0).syn(80),
        p("r1", H1B, R1).syn(8081),
        p("r0", H0B, R1).syn(8080),
        // UDP to the other server, and its answer.
        p("r1", H1B, R1).udp(5353),
        p("r0", H0B, H1B).udp_ports(53, 40000),
        // The server says port unreachable about it: RELATED, and the
        // quoted datagram and the error's source translated back.
        p("r0", H0B, H1B).icmp(3, 3, &quote(&p("r0", H1B, H0B).ttl(63).udp(53).1, 64)),
        // A second client of the TCP forward.
        p("r1", H1B, R1).syn(8080),
        p("r0", H0, H1B).tcp_seg(80, 40000, SYN_ACK, 7000, 1001, &[]),
        // Answers the box makes to translated packets go back translated
        // (the kernel attaches the packet's conntrack entry to them,
        // `nf_ct_attach`): FORWARD's rejects, and a TTL exceeded quoting
        // a forwarded SYN.
        p("r1", H1, R1).seg(Tcp::new(41000, 8443, flags::SYN)),
        p("r1", H1, R1).udp(5354),
        p("r1", H1B, R1)
            .ttl(1)
            .seg(Tcp::new(41001, 8080, flags::SYN)),
    ]);
    d.conntrack_now().check();
});

diff_test!(nat_dnat_balance, &ports(2), |d| {
    let clients: Vec<&'static str> = (2..=13)
        .map(|i| &*Box::leak(format!("10.0.2.{i}").into_boxed_str()))
        .collect();
    for c in &clients {
        d.host("r1", c);
    }
    // The hash over the client addresses, seeded with the destination
    // (none with --persistent); round robin by connection (the nat table
    // sees first packets only); the backends' replies leave from the
    // public address.
    let probes = balance_probes(p, &clients, R1, "10.0.2.100", [H0, H0B]);
    d.round(&probes);
    d.conntrack_now().check();
});

/// Blanks the source port (TCP, UDP) or the query id (ICMP or ICMPv6
/// echo) of a frame, and the transport checksum that covers it.
pub(crate) fn blank_src_port(frame: &mut [u8]) {
    let Ok(m) = sluice_dataplane::wire::parse(frame) else {
        return;
    };
    let l4 = m.l4_off as usize;
    match m.protocol.0 {
        6 => {
            frame[l4..l4 + 2].fill(0);
            frame[l4 + 16..l4 + 18].fill(0);
        }
        17 => {
            frame[l4..l4 + 2].fill(0);
            frame[l4 + 6..l4 + 8].fill(0);
        }
        1 | 58 => {
            frame[l4 + 2..l4 + 6].fill(0);
        }
        _ => {}
    }
}

/// The source port (TCP, UDP) or query id (ICMP, ICMPv6) of the frame out
/// for probe `probe`.
pub(crate) fn src_port_of(caps: &[Captured], probe: usize) -> Option<u16> {
    let c = caps.iter().find(|c| c.probe == probe)?;
    let m = c.meta();
    Some(if matches!(m.protocol.0, 1 | 58) {
        m.icmp_id
    } else {
        m.src_port
    })
}

/// UDP from two LAN hosts (`lan`) to two peers (`wan`) into a two-port
/// SNAT range on `to` (the box's WAN address, ports 1000-1001): every
/// choice is forced, so it compares; then the replies.
pub(crate) fn snat_two_ports(
    at: fn(&'static str, &str, &str) -> P,
    lan: [&str; 2],
    wan: [&str; 2],
    to: &str,
) -> [Probe; 8] {
    [
        // Kept: in range and unique.
        at("r0", lan[0], wan[0]).udp_ports(1000, 53),
        // Clashes with the first: the other port.
        at("r0", lan[1], wan[0]).udp_ports(1000, 53),
        // The same source again: its mapping (1000) is reused.
        at("r0", lan[0], wan[1]).udp_ports(1000, 53),
        // Out of range: 1000 is taken towards this destination, so 1001.
        at("r0", lan[0], wan[1]).udp_ports(40000, 53),
        // Both taken towards it: dropped (the kernel at confirm).
        at("r0", lan[1], wan[1]).udp_ports(40000, 53),
        // Replies, each to its own flow.
        at("r1", wan[0], to).udp_ports(53, 1001),
        at("r1", wan[1], to).udp_ports(53, 1001),
        at("r1", wan[0], to).udp_ports(53, 1000),
    ]
}

/// TCP and echo from two LAN hosts (`lan`) to `peer`, SNATed to the fixed
/// address `to`: the second of each clashes, and the kernel takes a
/// random port (id) for it (`get_random_u16` offset into 1024-65535,
/// 0-65535 for ids); those are masked and checked apart: not the
/// clashing one. `pong` is the peer's echo reply to `to`. Returns both
/// captures and the probe number of the clashing TCP flow.
pub(crate) fn snat_clash_round(
    d: &mut Diff,
    at: fn(&'static str, &str, &str) -> P,
    lan: [&str; 2],
    peer: &str,
    to: &str,
    pong: Probe,
) -> (Vec<Captured>, Vec<Captured>, usize) {
    let first = d.probes_sent;
    let random = [first + 1, first + 4];
    let (k, s) = d.round_masked(
        &[
            at("r0", lan[0], peer).syn(80),
            at("r0", lan[1], peer).syn(80),
            at("r1", peer, to).tcp_seg(80, 40000, SYN_ACK, 5000, 1001, &[]),
            at("r0", lan[0], peer).ping(1),
            at("r0", lan[1], peer).ping(1),
            pong,
        ],
        |c| {
            if random.contains(&c.probe) {
                blank_src_port(&mut c.frame);
            }
        },
    );
    for (side, caps) in [("kernel", &k), ("sluice", &s)] {
        match (src_port_of(caps, random[0]), src_port_of(caps, random[1])) {
            (Some(tcp), Some(icmp)) if tcp >= 1024 && tcp != 40000 && icmp != 7 => {}
            ports => d.failures.push(format!(
                "{side}: the clashing TCP flow and echo went out from {ports:?} \
                 (the port must be >= 1024 and not 40000, the id not 7)"
            )),
        }
    }
    (k, s, random[0])
}

diff_test!(nat_snat_ports, &ports(2), |d| {
    let far = "10.0.2.4";
    d.host("r1", far);
    d.round(&snat_two_ports(p, [H0, H0B], [H1, H1B], R1));
    d.conntrack_now();
    // TCP and ICMP to a fixed address: a clash takes a random port.
    let pong = p("r1", H1, "10.0.2.100").pong(1);
    let (k, s, clash) = snat_clash_round(&mut d, p, [H0, H0B], H1, "10.0.2.100", pong);
    // GRE has no ports: one LAN host's tunnel and its answer.
    // The kernel's GRE manip needs 8 bytes after the header's start, so
    // the packets carry a payload (an IPv4 header's worth), as real ones
    // do.
    let mut gre = vec![0, 0, 0x08, 0x00];
    gre.extend_from_slice(&[0x45; 20]);
    let gre_from = |port: &'static str, src: &str, dst: &str, l4: &[u8]| {
        let h = p(port, src, dst);
        h.at(h.f.ip(47, l4))
    };
    d.round(&[gre_from("r0", H0, H1, &gre), gre_from("r1", H1, R1, &gre)]);
    // The kernel reuses a source's mapping for its next connection: UDP
    // from H0B:1000 (mapped to 1001) to a third peer gets 1001 although
    // 1000 is free towards it; TCP from H0B:40000 (mapped to the random
    // port above) gets that port again.
    let (tcp_k, tcp_s) = (src_port_of(&k, clash), src_port_of(&s, clash));
    d.round(&[
        p("r0", H0B, far).udp_ports(1000, 53),
        p("r1", far, R1).udp_ports(53, 1001),
    ]);
    // The random port itself differs between the two; each must reuse its
    // own.
    let (k2, s2) = d.run(&[p("r0", H0B, H1B).syn(80)]);
    let (again_k, again_s) = (
        k2.first().map(|c| c.meta().src_port),
        s2.first().map(|c| c.meta().src_port),
    );
    if again_k != tcp_k || again_s != tcp_s {
        d.failures.push(format!(
            "the same source's next TCP flow: kernel {again_k:?} (first {tcp_k:?}), \
             sluice {again_s:?} (first {tcp_s:?}): each must reuse its mapping"
        ));
    }
    // A second LAN host's tunnel to the same peer clashes: the kernel
    // drops it at confirm (insert_failed).
    d.round(&[gre_from("r0", H0B, H1, &gre)]);
    // A bare 4-byte GRE header to a new peer: the kernel's manip cannot
    // write its 8 bytes (`gre_manip_pkt`) and drops it.
    d.round(&[gre_from("r0", H0B, H1B, &gre[..4])]).check();
});

diff_test!(nat_hairpin, &ports(2), |d| {
    let (client, server) = (p("r0", H0, R1), p("r0", H0B, R0));
    // A LAN client through the public address: out to the server from
    // the LAN port's address, the answer back from the public one.
    d.round(&forwarded_exchange(&client, &server, 8080));
    d.round(&[
        // A WAN client: not masqueraded on the way in.
        p("r1", H1, R1).syn(8080),
        p("r0", H0B, H1).tcp_seg(80, 40000, SYN_ACK, 7000, 1001, &[]),
        // The server's own public port from the server itself.
        p("r0", H0B, R1).seg(Tcp::new(41000, 8080, flags::SYN)),
        // The LAN out to the WAN.
        p("r0", H0, H1).udp(53),
        p("r1", H1, R1).udp_ports(53, 40000),
    ]);
    d.conntrack_now().check();
});

diff_test!(nat_redirect_local, &ports(2), |d| {
    d.round(&[
        // To the WAN address: redirected to 10.0.2.1:2222, reset from
        // there, and the reset's source translated back (the kernel runs
        // the reset through the nat POSTROUTING chain too: the SYN never
        // got there, so the entry has no source binding yet).
        p("r1", H1, R1).syn(8080),
        // To the box's LAN address through the WAN port: REDIRECT takes
        // the first address of the port it came in on (10.0.2.1).
        p("r1", H1B, R0).syn(8080),
        // UDP: the port unreachable quotes the datagram as it was sent
        // (and comes from the address it was sent to).
        p("r1", H1, R1).udp(5353),
        p("r1", H1B, R0).udp(5353),
        // From the LAN: not redirected.
        p("r0", H0, R0).syn(8080),
        p("r0", H0, R1).udp(5353),
        // The redirect's own target port, straight.
        p("r1", H1, R1).seg(Tcp::new(41000, 2222, flags::SYN)),
    ]);
    d.conntrack_now().check();
});

diff_test!(nat_established_related, own_toml, |d| {
    let (lan, wan) = (p("r0", H0, H1), p("r1", H1, R1));
    d.round(&[
        lan.syn(80),
        wan.tcp_seg(80, 40000, SYN_ACK, 5000, 1001, &[]),
        lan.tcp_seg(40000, 80, ACK, 1001, 5001, &[]),
        // Out of the window: INVALID.
        wan.tcp_seg(80, 40000, PSH_ACK, 5001 + 1_000_000, 1001, b"late!"),
        // Acknowledges data never sent: INVALID.
        wan.tcp_seg(80, 40000, ACK, 5001, 1001 + 1_000_000, &[]),
        // In the window: ESTABLISHED.
        wan.tcp_seg(80, 40000, PSH_ACK, 5001, 1001, b"hello"),
        // A stray ACK from the LAN: with tcp_loose (the default) the
        // kernel picks the connection up mid-stream, as NEW.
        p("r0", H0B, H1).tcp_seg(41000, 80, ACK, 7000, 8000, &[]),
        wan.tcp_seg(80, 41000, ACK, 8000, 7000, &[]),
        // Stray from the WAN: an ACK is NEW (dropped by policy), a SYN-ACK
        // INVALID.
        p("r1", H1, H0).tcp_seg(80, 41002, ACK, 8000, 7000, &[]),
        p("r1", H1, H0).tcp_seg(80, 41003, SYN_ACK, 8000, 7000, &[]),
    ]);
    d.conntrack_now();
    // ICMP errors about masqueraded flows: RELATED, and translated back
    // (outer destination and the quoted datagram).
    let out_udp = p("r1", R1, H1).ttl(63).f.udp(40000, 53, PAYLOAD);
    let out_far = p("r1", R1, "198.51.100.7")
        .ttl(1)
        .f
        .udp(40001, 33434, PAYLOAD);
    let out_tcp = p("r1", R1, H1).ttl(63).syn(80).1;
    let stray = p("r1", R1, H1).ttl(63).f.udp(40999, 53, PAYLOAD);
    let hop = p("r1", "203.0.113.1", R1);
    d.round(&[
        lan.udp(53),
        wan.icmp(3, 3, &quote(&out_udp, 64)),
        // Past the gateway: a hop further on says time exceeded.
        p("r0", H0, "198.51.100.7").ttl(2).udp_ports(40001, 33434),
        hop.icmp(11, 0, &quote(&out_far, 28)),
        // Fragmentation needed about the TCP flow, quoting 8 bytes of TCP
        // (the quoted checksum cannot be updated).
        wan.at(wan.f.icmp(3, 4, 1400, &quote(&out_tcp, 28))),
        // About a flow that does not exist: INVALID.
        wan.icmp(3, 3, &quote(&stray, 28)),
        lan.ping(1),
        wan.pong(1),
    ]);
    d.conntrack_now().check();
});

diff_test!(nat_notrack_bypass, &ports(2), |d| {
    d.round(&[
        // Untracked: leaves with the LAN address, and its answer (to the
        // LAN address) is let in untracked.
        p("r0", H0, H1).udp(5000),
        p("r1", H1, H0).udp_ports(5000, 40000),
        // Tracked: masqueraded, the answer to the LAN address is not let
        // in, the one to the WAN address is.
        p("r0", H0, H1).udp(5001),
        p("r1", H1, H0).udp_ports(5001, 40000),
        p("r1", H1, R1).udp_ports(5001, 40000),
        // An untracked packet to the masquerading address is not
        // translated: it stays the box's (INPUT drops it).
        p("r1", H1, R1).udp_ports(5000, 40000),
    ]);
    d.conntrack_now().check();
});
