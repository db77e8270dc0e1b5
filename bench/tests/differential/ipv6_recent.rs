//! Differential cases for `-m recent` in ip6tables rulesets, and one list
//! used by iptables and ip6tables rules at once (the kernel's lists are
//! per name for both families; entries carry the family).

use super::*;

diff_test!(v6_recent_ssh, &ports6(2), rules6, |d| {
    let a = p6("r0", A0, A1);
    let syn = |h: &P, sport: u16| h.seg(Tcp::new(sport, 22, flags::SYN));
    let mut probes: Vec<Probe> = (0..6).map(|i| syn(&a, 41000 + i)).collect();
    probes.extend([
        // Another source: its own count.
        syn(&p6("r0", A0B, A1), 41000),
        // Not NEW: the list is not consulted.
        a.tcp(22, flags::ACK),
        // --remove, then A0 starts again.
        a.udp(9),
        syn(&a, 41010),
        a.udp(10),
        // Destinations masked to /64: A1 and A1B are one entry; --rttl
        // compares the hop limit before forwarding.
        a.tcp(23, flags::SYN),
        p6("r0", A0B, A1B).tcp(23, flags::SYN),
        a.ttl(30).tcp(23, flags::SYN),
        a.tcp(23, flags::SYN),
        a.tcp(23, flags::SYN),
    ]);
    d.round(&probes).check();
});

diff_test!(dual_stack_recent, &ports6(2), rules6, |d| {
    let (a4, b4) = (p("r0", H0, H1), p("r0", H0B, H1));
    let (a6, b6) = (p6("r0", A0, A1), p6("r0", A0B, A1));
    d.round(&[
        a4.udp(7),
        // The IPv6 source is not the IPv4 one.
        a6.udp(8),
        a6.udp(7),
        a4.udp(8),
        a4.udp(7),
        // Two stamps of H0: dropped; one of A0: passes.
        a4.udp(8),
        a6.udp(8),
        a6.udp(7),
        a6.udp(8),
        b4.udp(8),
        b6.udp(8),
        // NET masks with 255.255.255.0 (iptables created it): H0B is H0,
        // and an IPv6 source keeps its first 24 bits: A0, A0B and A1 are
        // all fd00:: there.
        a4.udp(11),
        b4.udp(12),
        b6.udp(12),
        a6.udp(11),
        b6.udp(12),
        p6("r1", A1, A0).udp(12),
    ])
    .check();
});
