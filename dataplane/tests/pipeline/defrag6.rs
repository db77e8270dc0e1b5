//! Pipeline cases: IPv6 fragments reassembled for conntrack
//! (`nf_defrag_ipv6`, `pipeline/defrag.rs`): the rules see one datagram,
//! it leaves in the fragments it came in with a new identification; bad
//! fragments die before any rule; timeouts on the reassembler's clock.

use super::*;
use sluice_config::iptables::TableKind;
use sluice_dataplane::wire::ipv6;

const FILTER_ACCEPT: &str = "*filter
:INPUT ACCEPT [0:0]
:FORWARD ACCEPT [0:0]
:OUTPUT ACCEPT [0:0]
COMMIT
";

/// Stateful: new flows only from r0 to r1, replies back.
const STATEFUL6: &str = "*filter
:INPUT ACCEPT [0:0]
:FORWARD DROP [0:0]
:OUTPUT ACCEPT [0:0]
-A FORWARD -m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT
-A FORWARD -i r0 -o r1 -j ACCEPT
COMMIT
";

/// A lab of [`TWO`] with `rules6` for IPv6 and hosts fd00:1::10 (r0),
/// fd00:2::10 (r1) known.
fn lab6(rules6: &str) -> Lab {
    lab6_on(TWO, rules6)
}

/// [`lab6`] on the ports of `toml`.
fn lab6_on(toml: &str, rules6: &str) -> Lab {
    let a = sluice_config::appliance::parse(toml, std::path::Path::new("t.toml")).unwrap();
    let path = std::path::Path::new("t.rules");
    let rs4 = sluice_config::iptables::parse(FILTER_ACCEPT, path).unwrap();
    let rs6 = sluice_config::iptables::parse6(rules6, path).unwrap();
    let snap = Snapshot::build_dual(
        &a,
        &rs4,
        Some(&rs6),
        &Default::default(),
        sluice_dataplane::rules::RulesParams::default(),
        1,
    )
    .unwrap();
    let mut lab = Lab::from_snapshot(snap, PipelineParams::default());
    lab.neighbour("r0", "fd00:1::10", hmac(10));
    lab.neighbour("r1", "fd00:2::10", hmac(20));
    lab.delta();
    lab
}

/// Fragment (`off`, `len`, more) of the IPv6 packet `ip` (no extension
/// headers), identification `id`.
fn frag(ip: &[u8], off: usize, len: usize, more: bool, id: u32) -> Vec<u8> {
    let mut p = ip[..ipv6::HEADER_LEN].to_vec();
    p[6] = 44;
    p[4..6].copy_from_slice(&((8 + len) as u16).to_be_bytes());
    p.extend_from_slice(&[ip[6], 0]);
    p.extend_from_slice(&((off as u16) | u16::from(more)).to_be_bytes());
    p.extend_from_slice(&id.to_be_bytes());
    p.extend_from_slice(&ip[ipv6::HEADER_LEN + off..ipv6::HEADER_LEN + off + len]);
    p
}

/// `ip` cut at `sizes` (data bytes of each fragment but the last, which
/// takes the rest), as frames from host `from` to the router's port.
fn cut(ip: &[u8], sizes: &[usize], id: u32, port: u8, from: MacAddr) -> Vec<Vec<u8>> {
    let data = ip.len() - ipv6::HEADER_LEN;
    let mut out = Vec::new();
    let mut off = 0;
    for &n in sizes {
        out.push(frag(ip, off, n, true, id));
        off += n;
    }
    out.push(frag(ip, off, data - off, false, id));
    out.into_iter()
        .map(|p| eth(rmac(port), from, EtherType::IPV6, &p))
        .collect()
}

/// (offset, data length, more, identification, hop limit) of a fragment.
type Piece = (usize, usize, bool, u32, u8);

/// The [`Piece`] of each IPv6 fragment frame, and the reassembled payload.
fn pieces(frames: &[Vec<u8>]) -> (Vec<Piece>, Vec<u8>) {
    let mut geo = Vec::new();
    let mut data = vec![0u8; 70_000];
    let mut end = 0;
    for f in frames {
        let ip = &f[14..];
        assert_eq!(ip[6], 44, "a fragment");
        let fh = &ip[40..48];
        let off = usize::from(u16::from_be_bytes([fh[2], fh[3]]) & !7);
        let len = usize::from(u16::from_be_bytes([ip[4], ip[5]])) - 8;
        geo.push((
            off,
            len,
            fh[3] & 1 == 1,
            u32::from_be_bytes([fh[4], fh[5], fh[6], fh[7]]),
            ip[7],
        ));
        data[off..off + len].copy_from_slice(&ip[48..48 + len]);
        end = end.max(off + len);
    }
    data.truncate(end);
    (geo, data)
}

fn udp6(src: &str, dst: &str, sport: u16, dport: u16, n: usize) -> Vec<u8> {
    let payload: Vec<u8> = (0..n).map(|i| (i * 7) as u8).collect();
    V6::udp(src, dst, sport, dport, &payload).ip()
}

#[test]
fn stateful_forward_sees_one_datagram_that_leaves_as_it_came() {
    let mut lab = lab6(STATEFUL6);
    let ip = udp6("fd00:1::10", "fd00:2::10", 5000, 53, 3000);
    // Out of order: the last first, then the first, then the middle.
    let frames = cut(&ip, &[1448, 1448], 0x1234, 0, hmac(10));
    for k in [2, 0, 1] {
        lab.inject("r0", &frames[k]);
    }
    let out = lab.recv("r1");
    let (geo, data) = pieces(&out);
    assert_eq!(geo.len(), 3);
    let id = geo[0].3;
    assert_ne!(id, 0x1234, "a new identification");
    assert_eq!(
        geo,
        vec![
            (0, 1448, true, id, 63),
            (1448, 1448, true, id, 63),
            (2896, 3008 - 2896, false, id, 63)
        ]
    );
    assert_eq!(data, ip[40..]);
    for f in &out {
        assert_eq!(macs_of(f), (hmac(20), rmac(1), EtherType::IPV6));
    }
    let d = lab.delta();
    assert_eq!(d.get("defrag.queued"), Some(&3));
    assert_eq!(d.get("defrag.reassembled"), Some(&1));
    assert_eq!(d.get("defrag.refragmented"), Some(&1));
    assert_eq!(d.get("frag.created"), Some(&2));
    assert_eq!(d.get("tx.frames"), Some(&3));
    assert_eq!(d.get("forward.packets"), Some(&1));
    // One datagram of 3 048 bytes in the accepting rule.
    let c = lab.rules().counters6();
    let r = c.rule(TableKind::Filter, "FORWARD", 1).unwrap();
    assert_eq!((r.packets, r.bytes), (1, 3048));

    // The reply, fragmented, with a duplicate: ESTABLISHED.
    let back = udp6("fd00:2::10", "fd00:1::10", 53, 5000, 2000);
    let frames = cut(&back, &[1000], 7, 1, hmac(20));
    lab.inject("r1", &frames[0]);
    lab.inject("r1", &frames[0]);
    lab.inject("r1", &frames[1]);
    let (geo, data) = pieces(&lab.recv("r0"));
    assert_eq!(
        geo.iter().map(|g| (g.0, g.1)).collect::<Vec<_>>(),
        vec![(0, 1000), (1000, 1008)]
    );
    assert_eq!(data, back[40..]);
    let d = lab.delta();
    assert_eq!(d.get("defrag.duplicate"), Some(&1));
    let r = lab
        .rules()
        .counters6()
        .rule(TableKind::Filter, "FORWARD", 0)
        .unwrap();
    assert_eq!((r.packets, r.bytes), (1, 2048));
    lab.assert_balanced();
    assert_eq!(lab.w.umem.jumbo_used(), 0);
}

#[test]
fn without_ipv6_conntrack_fragments_go_one_by_one() {
    let mut lab = lab6(FILTER_ACCEPT);
    let ip = udp6("fd00:1::10", "fd00:2::10", 5000, 53, 3000);
    let frames = cut(&ip, &[1448, 1448], 0x1234, 0, hmac(10));
    for f in &frames {
        lab.inject("r0", f);
    }
    let out = lab.recv("r1");
    assert_eq!(out.len(), 3);
    for (o, i) in out.iter().zip(&frames) {
        assert_eq!(o[14 + 40..], i[14 + 40..], "the fragment as it came");
    }
    let d = lab.delta();
    assert_eq!(d.get("defrag.queued"), None);
    assert_eq!(d.get("forward.packets"), Some(&3));
}

#[test]
fn overlapping_fragments_die_before_any_rule() {
    let mut lab = lab6(
        "*raw
:PREROUTING ACCEPT [0:0]
:OUTPUT ACCEPT [0:0]
-A PREROUTING -j ACCEPT
COMMIT
*filter
:INPUT ACCEPT [0:0]
:FORWARD ACCEPT [0:0]
:OUTPUT ACCEPT [0:0]
-A FORWARD -m conntrack --ctstate INVALID -j DROP
COMMIT
",
    );
    let ip = udp6("fd00:1::10", "fd00:2::10", 5000, 53, 2000);
    let a = eth(
        rmac(0),
        hmac(10),
        EtherType::IPV6,
        &frag(&ip, 0, 1000, true, 9),
    );
    let b = eth(
        rmac(0),
        hmac(10),
        EtherType::IPV6,
        &frag(&ip, 992, 1016, false, 9),
    );
    lab.inject("r0", &a);
    lab.inject("r0", &b);
    assert!(lab.recv("r1").is_empty());
    let d = lab.delta();
    assert_eq!(d.get("defrag.overlap"), Some(&1));
    let c = lab.rules().counters6();
    assert_eq!(c.rule(TableKind::Raw, "PREROUTING", 0).unwrap().packets, 0);
    lab.assert_balanced();
}

#[test]
fn frag_match_never_matches_and_length_sees_the_whole() {
    let mut lab = lab6(&STATEFUL6.replace(
        "-A FORWARD -m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT\n-A FORWARD -i r0 -o r1 -j ACCEPT",
        "-A FORWARD -m conntrack --ctstate INVALID -j DROP\n-A FORWARD -m frag --fragmore -j DROP\n-A FORWARD -m length --length 2048 -j ACCEPT",
    ));
    let ip = udp6("fd00:1::10", "fd00:2::10", 5000, 53, 2000);
    for f in cut(&ip, &[1000], 3, 0, hmac(10)) {
        lab.inject("r0", &f);
    }
    assert_eq!(lab.recv("r1").len(), 2);
    let c = lab.rules().counters6();
    assert_eq!(c.rule(TableKind::Filter, "FORWARD", 1).unwrap().packets, 0);
    assert_eq!(c.rule(TableKind::Filter, "FORWARD", 2).unwrap().packets, 1);
}

#[test]
fn an_atomic_fragment_leaves_without_its_fragment_header() {
    let mut lab = lab6(STATEFUL6);
    let ip = udp6("fd00:1::10", "fd00:2::10", 5000, 53, 100);
    let a = eth(
        rmac(0),
        hmac(10),
        EtherType::IPV6,
        &frag(&ip, 0, 108, false, 5),
    );
    lab.inject("r0", &a);
    let out = lab.recv("r1");
    assert_eq!(out.len(), 1);
    assert_eq!(out[0][14 + 6], 17);
    assert_eq!(out[0][14 + 40..], ip[40..]);
    lab.assert_balanced();
}

#[test]
fn masquerade_rewrites_every_fragment_and_the_whole_checksum() {
    let masquerade =
        "*nat\n:POSTROUTING ACCEPT [0:0]\n-A POSTROUTING -o r1 -j MASQUERADE\nCOMMIT\n";
    let mut lab = lab6(&format!("{masquerade}{FILTER_ACCEPT}"));
    let pkt = udp6("fd00:1::10", "fd00:2::10", 5000, 53, 2500);
    for f in cut(&pkt, &[1200], 11, 0, hmac(10)) {
        lab.inject("r0", &f);
    }
    let out = lab.recv("r1");
    assert_eq!(out.len(), 2);
    for f in &out {
        assert_eq!(&f[14 + 8..14 + 24], &v6("fd00:2::1").octets());
    }
    let (_, data) = pieces(&out);
    // The UDP checksum verifies over the whole datagram.
    let src = ip("fd00:2::1");
    let dst = ip("fd00:2::10");
    assert_eq!(
        wire::checksum::transport(&src, &dst, 17, &data),
        0,
        "checksum over the reassembled datagram"
    );
    // The reply comes back to the original source.
    let back = udp6("fd00:2::10", "fd00:2::1", 53, 5000, 1800);
    for f in cut(&back, &[1000], 12, 1, hmac(20)) {
        lab.inject("r1", &f);
    }
    let out = lab.recv("r0");
    assert_eq!(out.len(), 2);
    let (_, data) = pieces(&out);
    assert_eq!(
        wire::checksum::transport(&ip("fd00:2::10"), &ip("fd00:1::10"), 17, &data),
        0
    );
    lab.assert_balanced();
}

#[test]
fn an_incomplete_datagram_times_out_on_the_reassemblers_clock() {
    let mut lab = lab6(STATEFUL6);
    let ip = udp6("fd00:1::10", "fd00:2::10", 5000, 53, 2000);
    let frames = cut(&ip, &[1000], 21, 0, hmac(10));
    lab.inject("r0", &frames[0]);
    assert_eq!(lab.delta().get("defrag.queued"), Some(&1));
    lab.advance(Duration::from_secs(59));
    assert_eq!(lab.delta().get("defrag.timeout"), None);
    lab.advance(Duration::from_secs(2));
    let d = lab.delta();
    assert_eq!(d.get("defrag.timeout"), Some(&1));
    assert_eq!(d.get("icmp6.time_exceeded"), Some(&1));
    // The time exceeded (code 1, fragment reassembly) from the box's
    // address on the sender's side, quoting the first fragment as it came.
    let back = lab.recv("r0");
    assert_eq!(back.len(), 1);
    let ip6 = &back[0][14..];
    assert_eq!(&ip6[8..24], &v6("fd00:1::1").octets());
    assert_eq!(&ip6[24..40], &v6("fd00:1::10").octets());
    assert_eq!((ip6[40], ip6[41]), (3, 1));
    assert_eq!(ip6[48..], frames[0][14..]);
    assert_icmpv6_checksum(&back[0]);
    // The last fragment alone does not complete it any more.
    lab.inject("r0", &frames[1]);
    assert!(lab.recv("r1").is_empty());
    let d = lab.delta();
    assert_eq!(d.get("defrag.queued"), Some(&1));
    assert_eq!(d.get("defrag.reassembled"), None);
    lab.assert_balanced();
}

#[test]
fn to_the_box_the_datagram_is_punted_whole() {
    let mut lab = lab6(STATEFUL6);
    let ip = udp6("fd00:1::10", "fd00:1::1", 5000, 7777, 3000);
    for f in cut(&ip, &[1448, 1448], 1, 0, hmac(10)) {
        lab.inject("r0", &f);
    }
    let punted = lab.punted();
    assert_eq!(punted.len(), 1);
    assert_eq!(punted[0].1[14..], ip[..]);
    lab.assert_balanced();
}

#[test]
fn packet_too_big_when_the_fragments_do_not_fit_the_route() {
    // r1's MTU is 1 400.
    let mut lab = lab6_on(SMALL_MTU, STATEFUL6);
    let ip = udp6("fd00:1::10", "fd00:2::10", 5000, 53, 3000);
    for f in cut(&ip, &[1448, 1448], 31, 0, hmac(10)) {
        lab.inject("r0", &f);
    }
    assert!(lab.recv("r1").is_empty());
    let back = lab.recv("r0");
    assert_eq!(back.len(), 1);
    let icmp = &back[0][14 + 40..];
    assert_eq!((icmp[0], icmp[1]), (2, 0), "packet too big");
    assert_eq!(
        u32::from_be_bytes([icmp[4], icmp[5], icmp[6], icmp[7]]),
        1400
    );
    // It quotes the reassembled datagram: no fragment header, the whole
    // payload length.
    let quoted = &icmp[8..];
    assert_eq!(
        (quoted[6], u16::from_be_bytes([quoted[4], quoted[5]])),
        (17, 3008)
    );
    let d = lab.delta();
    assert_eq!(d.get("forward.packet_too_big"), Some(&1));
    assert_eq!(d.get("icmp6.packet_too_big"), Some(&1));

    // In pieces that fit, the whole may be larger than the MTU
    // (`ip6_pkt_too_big`: frag_max_size is what counts).
    for f in cut(&ip, &[1000, 1000], 32, 0, hmac(10)) {
        lab.inject("r0", &f);
    }
    let (geo, data) = pieces(&lab.recv("r1"));
    assert_eq!(
        geo.iter().map(|g| (g.0, g.1)).collect::<Vec<_>>(),
        vec![(0, 1000), (1000, 1000), (2000, 1008)]
    );
    assert_eq!(data, ip[40..]);
    lab.assert_balanced();
}

#[test]
fn the_hosts_fragments_are_reassembled_at_output() {
    let mut lab = lab6(STATEFUL6);
    let ip = udp6("fd00:2::1", "fd00:2::10", 5000, 53, 2000);
    let frames = cut(&ip, &[1232], 41, 1, rmac(1));
    let p = lab.port("r1");
    let mut descs = Vec::new();
    for f in &frames {
        let mut d = lab.w.umem.alloc().unwrap();
        assert!(lab.w.umem.set_len(&mut d, f.len()));
        lab.w.umem.bytes_mut(d).copy_from_slice(f);
        descs.push(d);
    }
    let now = lab.now;
    lab.w.pipeline.rx_host(&mut lab.w.umem, p, &descs, now);
    lab.w.pipeline.flush_tx(&mut lab.w.umem, &mut lab.w.ports);
    let (geo, data) = pieces(&lab.recv("r1"));
    assert_eq!(geo.len(), 2);
    assert_ne!(geo[0].3, 41);
    assert_eq!(data, ip[40..]);
    let d = lab.delta();
    assert_eq!(d.get("defrag.queued"), Some(&2));
    assert_eq!(d.get("defrag.reassembled"), Some(&1));
    assert_eq!(d.get("output.packets"), Some(&1));
}

#[test]
fn a_datagram_a_stage_made_longer_is_cut_anew() {
    // TCPMSS adds an MSS option to a SYN without one: 4 bytes more than
    // the pieces it came in cover (ip6_fragment's slow path).
    let mangle = "*mangle\n:FORWARD ACCEPT [0:0]\n\
                  -A FORWARD -p tcp --tcp-flags SYN,RST SYN -j TCPMSS --clamp-mss-to-pmtu\n\
                  COMMIT\n";
    let mut lab = lab6(&format!("{mangle}{STATEFUL6}"));
    let (src, dst) = (ip("fd00:1::10"), ip("fd00:2::10"));
    // A 40-byte header: 20 bytes of NOP options, no MSS.
    let mut seg = vec![0u8; 40];
    seg[0..2].copy_from_slice(&40000u16.to_be_bytes());
    seg[2..4].copy_from_slice(&80u16.to_be_bytes());
    seg[4..8].copy_from_slice(&1000u32.to_be_bytes());
    seg[12] = 10 << 4;
    seg[13] = 0x02;
    seg[14..16].copy_from_slice(&64240u16.to_be_bytes());
    seg[20..40].fill(1);
    let c = wire::checksum::transport(&src, &dst, 6, &seg);
    seg[16..18].copy_from_slice(&c.to_be_bytes());
    let mut pkt = V6::udp("fd00:1::10", "fd00:2::10", 1, 2, b"").ip();
    pkt.truncate(40);
    pkt[6] = 6;
    pkt[4..6].copy_from_slice(&40u16.to_be_bytes());
    pkt.extend_from_slice(&seg);
    for f in cut(&pkt, &[24], 51, 0, hmac(10)) {
        lab.inject("r0", &f);
    }
    let out = lab.recv("r1");
    assert_eq!(out.len(), 1);
    let (geo, data) = pieces(&out);
    assert_eq!((geo[0].0, geo[0].1, geo[0].2), (0, 44, false));
    assert_eq!(data[12] >> 4, 11, "an MSS option added");
    assert_eq!(wire::checksum::transport(&src, &dst, 6, &data), 0);
    let d = lab.delta();
    assert_eq!(d.get("defrag.recut"), Some(&1));
    lab.assert_balanced();
}
