//! Differential cases for IPv6 reassembly for conntrack (`nf_defrag_ipv6`,
//! dataplane `pipeline/defrag.rs`): with an ip6tables rule that needs
//! conntrack, fragments are reassembled before raw PREROUTING, the rules
//! count one datagram of the whole length, `-m frag` never matches,
//! overlapping fragments die before any rule, and the datagram leaves in
//! the fragments it came in with a new identification — the kernel's
//! (`ipv6_select_ident`) is a keyed hash, so it is masked in both
//! captures. The timeout (60 s) is covered by the pipeline tests on the
//! reassembler's clock, not here.

use super::*;

/// The fragments of `probe` (an IPv6 frame without extension headers):
/// (offset, length, more) of its payload each, identification `id`.
fn frags((port, frame): &Probe, pieces: &[(usize, usize, bool)], id: u32) -> Vec<Probe> {
    pieces
        .iter()
        .map(|&(off, len, more)| {
            let mut f = frame[..L3_END].to_vec();
            f[20] = 44;
            f[18..20].copy_from_slice(&((8 + len) as u16).to_be_bytes());
            f.extend_from_slice(&[frame[20], 0]);
            f.extend_from_slice(&((off as u16) | u16::from(more)).to_be_bytes());
            f.extend_from_slice(&id.to_be_bytes());
            f.extend_from_slice(&frame[L3_END + off..L3_END + off + len]);
            (*port, f)
        })
        .collect()
}

/// `probe` cut in fragments of `size` bytes of payload (a multiple of
/// 8), the last one the rest.
fn cut(probe: &Probe, size: usize, id: u32) -> Vec<Probe> {
    let total = probe.1.len() - L3_END;
    let pieces: Vec<(usize, usize, bool)> = (0..total)
        .step_by(size)
        .map(|off| (off, size.min(total - off), off + size < total))
        .collect();
    frags(probe, &pieces, id)
}

/// Zeroes the identification of an IPv6 fragment (a fragment header right
/// after the fixed header); no checksum covers it.
fn mask_frag_ident(c: &mut Captured) {
    let f = &mut c.frame;
    if f.len() >= L3_END + 8 && f[12..14] == [0x86, 0xdd] && f[20] == 44 {
        f[L3_END + 4..L3_END + 8].fill(0);
    }
}

diff_test!(v6_defrag_stateful, &ports6(2), rules6, |d| {
    let lan = p6("r0", A0, A1);
    let wan = p6("r1", A1, A0);
    let out = lan.udp_len(3000);
    let back = wan.at(wan.f.udp(9, 40000, &[7u8; 2000]));
    let mut probes = cut(&out, 1448, 100);
    // The reply out of order: the last fragment first.
    let mut r = cut(&back, 1000, 200);
    r.reverse();
    probes.extend(r);
    // A duplicate fragment: freed, the datagram completes.
    let dup = cut(&lan.udp_len(2400), 1232, 101);
    probes.extend([dup[0].clone(), dup[0].clone(), dup[1].clone()]);
    // Overlapping fragments: nothing leaves, no rule counts.
    let ov = lan.udp_len(2000);
    probes.extend(frags(&ov, &[(0, 1000, true), (992, 1016, false)], 102));
    // A new flow from the WAN, fragmented: the FORWARD policy, once.
    probes.extend(cut(&wan.at(wan.f.udp(5000, 53, &[1u8; 1600])), 1024, 300));
    // A small datagram in fragments smaller than the minimum MTU.
    probes.extend(cut(&lan.udp_ports(40001, 9), 8, 103));
    // An atomic fragment: leaves without its fragment header.
    let atomic = lan.udp_ports(40002, 9);
    probes.extend(frags(&atomic, &[(0, atomic.1.len() - L3_END, false)], 104));
    let (_, s) = d.round_masked(&probes, mask_frag_ident);
    // Sluice's own identification for the datagram it sent on: new.
    let first = s.iter().find(|c| c.frame[20] == 44).expect("fragments out");
    assert_ne!(first.frame[L3_END + 4..L3_END + 8], 100u32.to_be_bytes());
    d.conntrack_now().check();
});

diff_test!(v6_defrag_reject_length, &ports6(2), rules6, |d| {
    let lan = p6("r0", A0, A1);
    let mut probes = Vec::new();
    for (k, n) in [(0u32, 1400), (1, 2000), (2, 3000)] {
        probes.extend(cut(&lan.udp_len(n), 1232, 400 + k));
    }
    // REJECTed (port 7): the error quotes the reassembled datagram.
    probes.extend(cut(&lan.at(lan.f.udp(40000, 7, &[3u8; 2500])), 1232, 410));
    // TCP in two fragments: the segment checked whole.
    let syn = lan.seg(Tcp::new(40000, 80, flags::SYN).payload(&[5u8; 1500]));
    probes.extend(cut(&syn, 800, 420));
    d.round_masked(&probes, mask_frag_ident);
    d.check();
});

diff_test!(v6_defrag_masquerade, &ports6(2), rules6, |d| {
    let lan = p6("r0", A0, A1);
    let wan = p6("r1", A1, RA1);
    let out = lan.at(lan.f.udp(40000, 9, &[9u8; 2600]));
    d.round_masked(&cut(&out, 1280, 500), mask_frag_ident);
    let back = wan.at(wan.f.udp(9, 40000, &[4u8; 1800]));
    d.round_masked(&cut(&back, 1000, 600), mask_frag_ident);
    d.conntrack_now().check();
});

/// [`ports6`]`(2)` with an MTU of 1 400 on r1.
const MTU1400: &str = "[[interface]]
name = \"r0\"
address = [\"10.0.1.1/24\", \"fd00:1::1/64\"]

[[interface]]
name = \"r1\"
address = [\"10.0.2.1/24\", \"fd00:2::1/64\"]
mtu = 1400
";

diff_test!(v6_defrag_too_big, MTU1400, rules6, |d| {
    let lan = p6("r0", A0, A1);
    let wan = p6("r1", A1, A0);
    // Fragments larger than r1's MTU: a packet too big quoting the
    // reassembled datagram, nothing forwarded (ip6_pkt_too_big).
    let mut probes = cut(&lan.udp_len(3000), 1448, 700);
    // Fragments that fit, a whole larger than the MTU: forwarded as they
    // came.
    probes.extend(cut(&lan.udp_len(3000), 1000, 701));
    // The other way (r0 has 1 500; r1's link takes 1 400): as they came.
    probes.extend(cut(&wan.at(wan.f.udp(9, 40000, &[2u8; 2800])), 1200, 702));
    d.round_masked(&probes, mask_frag_ident);
    d.check();
});
