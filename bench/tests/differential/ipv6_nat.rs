//! Differential cases for NAT66 with addresses: `SNAT` and `DNAT` in the
//! ip6tables nat table (`--to-source` / `--to-destination` in the
//! ip6tables forms), through the translation and back, compared with
//! `ip6tables-legacy` frame by frame, counter by counter and `conntrack -L`
//! line by line.

use super::*;
use crate::nat::{balance_probes, forwarded_exchange, snat_clash_round, snat_two_ports};

/// The source address of the frame out for probe `probe`.
fn src6_of(caps: &[Captured], probe: usize) -> Option<String> {
    let c = caps.iter().find(|c| c.probe == probe)?;
    let a: [u8; 16] = c.frame.get(22..38)?.try_into().ok()?;
    Some(Ipv6Addr::from(a).to_string())
}

diff_test!(v6_nat_snat, &ports6(2), rules6, |d| {
    let far = "fd00:2::4";
    d.host6("r1", far);
    // UDP into [fd00:2::1]:1000-1001: every choice is forced, so it
    // compares.
    d.round(&snat_two_ports(p6, [A0, A0B], [A1, A1B], RA1));
    d.conntrack_now();
    // The address range fd00:2::200-203: the kernel's hash of the whole
    // source address, seeded with the destination's last word, picks
    // one per source and destination (several LAN hosts, two peers).
    let lan: Vec<&'static str> = (0x10..0x18)
        .map(|i| &*Box::leak(format!("fd00:1::{i:x}").into_boxed_str()))
        .collect();
    for h in &lan {
        d.host6("r0", h);
    }
    // Each from a port of its own: no two mappings clash (a clash would
    // have the kernel pick a random port).
    let first = d.probes_sent;
    let mut probes: Vec<Probe> = (41000..)
        .zip(&lan)
        .map(|(port, h)| p6("r0", h, A1).udp_ports(port, 5000))
        .collect();
    probes.extend(
        (42000..)
            .zip(&lan[..4])
            .map(|(port, h)| p6("r0", h, far).udp_ports(port, 5000)),
    );
    let (k, _) = d.round_masked(&probes, |_| {});
    // The peer answers the first: back to its LAN host.
    let mapped = src6_of(&k, first).expect("the kernel forwarded the first ranged datagram");
    assert!(mapped.starts_with("fd00:2::20"), "{mapped}");
    d.round(&[p6("r1", A1, &mapped).udp_ports(5000, 41000)]);
    // An error about a SNATed datagram: RELATED, de-translated to the
    // LAN host with the quoted packet.
    let (k, _) = d.round_masked(&[p6("r0", A0, far).udp_ports(1000, 53)], |_| {});
    let out = k
        .first()
        .expect("the kernel forwarded the datagram to the far host")
        .frame
        .clone();
    d.round(&[p6("r1", far, RA1).icmp(1, 4, &out[14..])]);
    d.conntrack_now();
    // TCP and ICMPv6 to a fixed address: a clash takes a random port (id)
    // in the kernel; masked, and checked apart.
    let peer = p6("r1", A1, "fd00:2::100");
    let pong = peer.at(peer.f.icmp(129, 0, (7 << 16) | 1, PAYLOAD));
    snat_clash_round(&mut d, p6, [A0, A0B], A1, "fd00:2::100", pong);
    d.check();
});

diff_test!(v6_nat_port_forward, &ports6(2), rules6, |d| {
    let (wan, web) = (p6("r1", A1, RA1), p6("r0", A0, A1));
    d.round(&forwarded_exchange(&wan, &web, 8080));
    d.round(&[
        // Not forwarded: straight to the server (no DNAT state), another
        // port of the box, the forward's port from the LAN side.
        p6("r1", A1, A0).syn(80),
        p6("r1", A1B, RA1).syn(8081),
        p6("r0", A0B, RA1).syn(8080),
        // UDP to the other server (its port kept), and its answer.
        p6("r1", A1B, RA1).udp(5353),
        p6("r0", A0B, A1B).udp_ports(5353, 40000),
        // The server says port unreachable about it: RELATED, and the
        // quoted datagram and the error's source translated back.
        p6("r0", A0B, A1B).icmp(1, 4, &l3(&p6("r0", A1B, A0B).ttl(63).udp(5353))),
        // A second client of the TCP forward.
        p6("r1", A1B, RA1).syn(8080),
        p6("r0", A0, A1B).tcp_seg(80, 40000, SYN_ACK, 7000, 1001, &[]),
        // Answers the box makes to translated packets go back translated:
        // FORWARD's rejects (a reset, a port unreachable), and a hop
        // limit exceeded quoting a forwarded SYN.
        p6("r1", A1, RA1).seg(Tcp::new(41000, 8443, flags::SYN)),
        p6("r1", A1, RA1).udp(5354),
        p6("r1", A1B, RA1)
            .ttl(1)
            .seg(Tcp::new(41001, 8080, flags::SYN)),
    ]);
    d.conntrack_now().check();
});

diff_test!(v6_nat_dnat_balance, &ports6(2), rules6, |d| {
    let clients: Vec<&'static str> = (2..=13)
        .map(|i| &*Box::leak(format!("fd00:2::{i:x}").into_boxed_str()))
        .collect();
    for c in &clients {
        d.host6("r1", c);
    }
    // The hash runs over all four words of the client address, seeded
    // with the destination's last word (none with --persistent); round
    // robin by connection; the backends' replies leave from the public
    // address.
    let probes = balance_probes(p6, &clients, RA1, "fd00:2::100", [A0, A0B]);
    d.round(&probes);
    d.conntrack_now().check();
});

diff_test!(v6_nat_hairpin, &ports6(2), rules6, |d| {
    let (client, server) = (p6("r0", A0, RA1), p6("r0", A0B, RA0));
    // A LAN client through the public address: out to the server from
    // the LAN port's address (SNAT), the answer back from the public one.
    d.round(&forwarded_exchange(&client, &server, 8080));
    d.round(&[
        // A WAN client: not SNATed on the way in.
        p6("r1", A1, RA1).syn(8080),
        p6("r0", A0B, A1).tcp_seg(80, 40000, SYN_ACK, 7000, 1001, &[]),
        // The server's own public port from the server itself.
        p6("r0", A0B, RA1).seg(Tcp::new(41000, 8080, flags::SYN)),
        // The LAN out to the WAN (masqueraded).
        p6("r0", A0, A1).udp(53),
        p6("r1", A1, RA1).udp_ports(53, 40000),
    ]);
    d.conntrack_now().check();
});
