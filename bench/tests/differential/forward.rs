//! Differential cases of the IPv4 forward path's kernel details: IPv4
//! options (`ip_options_compile`, `ip_forward_options`), ICMP redirects
//! (`ip_rt_send_redirect`) and the ICMP error rate limits (`icmp.c`,
//! `inetpeer.c`).

use super::*;

/// Record route with `slots` empty 4-byte slots, the pointer at `ptr`,
/// padded with END to a multiple of 4.
fn rr(slots: usize, ptr: u8) -> Vec<u8> {
    let len = 3 + 4 * slots;
    let mut o = vec![7, len as u8, ptr];
    o.resize(len.next_multiple_of(4), 0);
    o
}

/// One probe per case (destination, IPv4 options), each from a host of its
/// own on r0 (10.0.1.`first`, the next...): UDP, or an echo request to the
/// router's addresses.
fn from_hosts(d: &mut Diff, first: usize, cases: &[(&str, &[u8])]) -> Vec<Probe> {
    let mut probes = Vec::new();
    for (i, (dst, opts)) in cases.iter().enumerate() {
        let src: &'static str = format!("10.0.1.{}", first + i).leak();
        d.host("r0", src);
        let h = p("r0", src, dst);
        let probe = if dst.ends_with(".1") {
            h.ping(i as u16)
        } else {
            h.udp(9)
        };
        probes.push(with_ip_options(probe, opts));
    }
    probes
}

diff_test!(ip_options_malformed, &ports(2), |d| {
    // Each probe from a host of its own: every error goes back to the
    // sender, and one destination gets a burst of 6.
    let cases: [(&str, &[u8]); 12] = [
        // The repros: RR with pointer 3, RR of length 2, TS with
        // pointer 4, RR whose pointer leaves no room for an address.
        (H1, &[7, 11, 3, 0, 0, 0, 0, 0, 0, 0, 0, 0]),
        (H1, &[7, 2, 0, 0]),
        (H1, &[0x44, 8, 4, 0, 0, 0, 0, 0]),
        (H1, &[7, 7, 5, 0, 0, 0, 0, 0]),
        // An option longer than what is left; a lone kind byte at the end.
        (H1, &[1, 1, 0x94, 8]),
        (H1, &[1, 1, 1, 0x94]),
        // A full timestamp whose overflow counter is at 15.
        (H1, &[0x44, 4, 5, 0xf0]),
        // Router alert shorter than 4.
        (H1, &[0x94, 3, 0, 0]),
        // A bad option and a source route: the parameter problem wins.
        (H1, &[0x83, 3, 4, 7, 2, 0, 0, 0]),
        // To the router itself, to its other port, and with no route.
        (R0, &[7, 2, 0, 0]),
        (R1, &[7, 2, 0, 0]),
        ("10.0.9.9", &[7, 2, 0, 0]),
    ];
    let probes = from_hosts(&mut d, 10, &cases);
    d.round(&probes);
    // The error echoes the options that compiled before the bad one in
    // its own header (`__ip_options_echo`).
    let echoed: [(&str, &[u8]); 6] = [
        // Two record routes: the second is the error.
        (H1, &[7, 3, 4, 7, 3, 4, 0, 0]),
        // CIPSO (no DOI configured), short and whole.
        (H1, &[134, 6, 0, 0, 0, 1, 0, 0]),
        (H1, &[134, 10, 0, 0, 0, 1, 1, 4, 0, 0, 0, 0]),
        // A record route with room, then a bad one: forwarded, to the
        // box, unroutable (the first slot written differs).
        (H1, &[7, 7, 4, 0, 0, 0, 0, 7, 2, 0, 0, 0]),
        (R0, &[7, 7, 4, 0, 0, 0, 0, 7, 2, 0, 0, 0]),
        ("10.0.9.9", &[7, 7, 4, 0, 0, 0, 0, 7, 2, 0, 0, 0]),
    ];
    let probes = from_hosts(&mut d, 40, &echoed);
    d.round(&probes).check();
});

diff_test!(ip_options_record_route, &ports(2), |d| {
    let h = p("r0", H0, H1);
    d.round(&[
        // Room for two addresses; for one; none left (passed as is).
        with_ip_options(h.udp(9), &rr(2, 4)),
        with_ip_options(h.udp(9), &rr(1, 4)),
        with_ip_options(h.udp(9), &rr(1, 8)),
        // The second slot of two, and the reverse direction.
        with_ip_options(h.udp(9), &rr(2, 8)),
        with_ip_options(p("r1", H1, H0).udp(9), &rr(2, 4)),
        // Bytes after END are zeroed.
        with_ip_options(h.udp(9), &[1, 0, 5, 6]),
        // A full timestamp: its overflow counter goes up.
        with_ip_options(h.udp(9), &[0x44, 4, 5, 0x10]),
        // Prespecified timestamps for other hosts: left alone.
        with_ip_options(h.udp(9), &[0x44, 12, 5, 3, 10, 0, 2, 2, 0, 0, 0, 0]),
    ]);
    // Timestamps (milliseconds since midnight UTC): the time slot and the
    // header checksum are blanked; both must be close to this clock.
    let ts_only = [0x44, 12, 5, 0, 0, 0, 0, 0, 0, 0, 0, 0];
    let ts_addr = [0x44, 12, 5, 1, 0, 0, 0, 0, 0, 0, 0, 0];
    let ts_ours = [0x44, 12, 5, 3, 10, 0, 1, 1, 0, 0, 0, 0];
    let (k, s) = d.round_masked(
        &[
            with_ip_options(h.udp(9), &ts_only),
            with_ip_options(h.udp(9), &ts_addr),
            with_ip_options(h.udp(9), &ts_ours),
        ],
        |c| {
            let [at, ..] = time_slot(&c.frame);
            c.frame[at..at + 4].fill(0);
            c.frame[14 + 10..14 + 12].fill(0);
        },
    );
    let now = ms_of_day();
    for c in k.iter().chain(&s) {
        let [at, ..] = time_slot(&c.frame);
        let t = u32::from_be_bytes(c.frame[at..at + 4].try_into().expect("4 bytes"));
        let off = now.abs_diff(t).min(86_400_000 - now.abs_diff(t));
        assert!(off < 10_000, "timestamp {t} ms is {off} ms from now: {c}");
    }
    // Errors echo record route, the receiving address in the first slot
    // and the error's source in the next (`ip_options_echo`,
    // `ip_options_build`): time exceeded, a redirect-free no route, and
    // a full record route (echoed as it is).
    for h in ["10.0.1.30", "10.0.1.31", "10.0.1.32"] {
        d.host("r0", h);
    }
    // Echo replies echo record route too (`icmp_reply`): to the port's
    // address and to the other port's, full, and after NOPs.
    d.round(&[
        with_ip_options(p("r0", H0, R0).ping(1), &rr(2, 4)),
        with_ip_options(p("r0", H0B, R1).ping(2), &rr(3, 4)),
        with_ip_options(p("r1", H1, R1).ping(3), &rr(1, 8)),
        with_ip_options(
            p("r1", H1B, R0).ping(4),
            &[1, 1, 1, 1, 7, 7, 4, 0, 0, 0, 0, 0],
        ),
    ]);
    d.round(&[
        with_ip_options(p("r0", "10.0.1.30", H1).ttl(1).udp(9), &rr(2, 4)),
        with_ip_options(p("r0", "10.0.1.31", "10.0.9.9").udp(9), &rr(2, 4)),
        with_ip_options(p("r0", "10.0.1.32", H1).ttl(1).udp(9), &rr(1, 8)),
    ])
    .check();
});

/// The frame offset of the time a forwarded timestamp option got (the
/// slot before its pointer).
fn time_slot(frame: &[u8]) -> [usize; 1] {
    let opt = 14 + 20;
    [opt + frame[opt + 2] as usize - 5]
}

/// Milliseconds since midnight UTC now.
fn ms_of_day() -> u32 {
    let t = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("after 1970");
    (t.as_millis() % 86_400_000) as u32
}

diff_test!(icmp_ratelimit_peers, &ports(2), |d| {
    // 10.0.1.2 and 10.0.1.146 shared a slot of the old 256-entry table.
    let (a, b) = (H0, "10.0.1.146");
    d.host("r0", b);
    let burst = |src: &'static str, n: u16| -> Vec<Probe> {
        (0..n)
            .map(|i| p("r0", src, H1).ttl(1).udp(100 + i))
            .collect()
    };
    let mut probes = burst(a, 6);
    probes.extend(burst(b, 6));
    probes.extend(burst(a, 3));
    probes.extend(burst(b, 3));
    d.round(&probes).check();
});

diff_test!(icmp_redirect, own_toml, |d| {
    for h in ["10.0.1.4", "10.0.1.5", "10.0.1.6", "10.0.1.7", "10.0.1.9"] {
        d.host("r0", h);
    }
    let h0 = |dst: &str| p("r0", H0, dst);
    d.round(&[
        // Back out of r0 to a host on it, then to a network behind a
        // router on it: a redirect to the host, then to that router
        // (the second 60 ms later, past the 40 ms back-off).
        h0(H0B).udp(9),
        h0("10.0.5.5").udp(9),
        // Another source: a peer of its own.
        p("r0", "10.0.1.4", H0B).udp(9),
        // Out of another port: none.
        h0(H1).udp(9),
        // Past the 80 ms back-off: a third; then within 160 ms: none.
        h0(H0B).udp(9),
        h0(H0B).udp(9),
        // On r1 too.
        p("r1", H1, H1B).udp(9),
        // No route: ip_error finds the bucket the redirects emptied.
        h0("10.0.9.9").udp(9),
        // FORWARD drops it, the redirect went before.
        p("r0", "10.0.1.5", "10.0.1.9").udp(9),
        // TTL exceeded: the error, no redirect.
        p("r0", "10.0.1.6", H0B).ttl(1).udp(9),
        // An echo request.
        p("r0", "10.0.1.7", H0B).ping(1),
    ])
    .check();
});
