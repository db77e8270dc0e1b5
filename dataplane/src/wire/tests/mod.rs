//! Tests across the views: real frames through [`parse`] and the views,
//! incremental checksum updates against full recomputes on random packets,
//! and a robustness run of mutated frames through every parser.

mod fast_path;
mod frames;

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use proptest::prelude::*;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

use super::*;

const MAC_A: MacAddr = MacAddr([0x52, 0x54, 0x00, 0x12, 0x34, 0x56]);
const MAC_R: MacAddr = MacAddr([0x02, 0x00, 0x00, 0x00, 0x00, 0x01]);

fn v4(a: [u8; 4]) -> IpAddr {
    IpAddr::V4(Ipv4Addr::from(a))
}

fn v6(s: &str) -> IpAddr {
    IpAddr::V6(s.parse().unwrap())
}

// ---------------------------------------------------------------------------
// Real frames, every field.

#[test]
fn arp_request() {
    let f = &frames::ARP_REQUEST;
    let eth = ethernet::Packet::new_checked(&f[..]).unwrap();
    assert_eq!(eth.dst_addr(), MacAddr::BROADCAST);
    assert_eq!(eth.src_addr(), MAC_A);
    assert_eq!(eth.ethertype(), EtherType::ARP);

    let m = parse(f).unwrap();
    assert_eq!(m.ethertype, EtherType::ARP);
    assert_eq!((m.l2_off, m.l3_off, m.l4_off, m.frame_len), (0, 14, 42, 60));
    assert_eq!((m.ip_version, m.vlan_count), (0, 0));
    assert_eq!(m.src, v4([192, 168, 1, 20]));
    assert_eq!(m.dst, v4([192, 168, 1, 1]));
    assert_eq!(m.l4, L4Status::Absent);
    assert!(!m.is_ip() && !m.has_l4());
    assert_eq!(m.l3(f).len(), 46); // ARP + padding

    let arp = ArpRepr::parse(&arp::Packet::new_checked(m.l3(f)).unwrap()).unwrap();
    assert_eq!(arp.operation, arp::Operation::Request);
    assert_eq!(arp.sender_hardware_addr, MAC_A);
    assert_eq!(arp.target_hardware_addr, MacAddr::ZERO);
    assert_eq!(arp.target_protocol_addr, Ipv4Addr::new(192, 168, 1, 1));
}

#[test]
fn icmp_echo() {
    let f = &frames::ICMP_ECHO;
    let m = parse(f).unwrap();
    assert_eq!(m.ethertype, EtherType::IPV4);
    assert_eq!((m.l3_off, m.l4_off, m.ip_len), (14, 34, 44));
    assert_eq!((m.ip_version, m.tos, m.ttl), (4, 0, 64));
    assert_eq!(m.src, v4([192, 168, 1, 20]));
    assert_eq!(m.dst, v4([8, 8, 8, 8]));
    assert_eq!(m.protocol, IpProtocol::ICMP);
    assert_eq!(m.ident, 0xa1b2);
    assert!(m.dont_frag && !m.more_frags && m.frag_offset == 0 && !m.is_fragment());
    assert_eq!(m.l4, L4Status::Parsed);
    assert_eq!((m.icmp_type, m.icmp_code, m.icmp_id), (8, 0, 0x1f2e));
    assert_eq!((m.src_port, m.dst_port, m.tcp_flags), (0, 0, 0));

    let ip = ipv4::Packet::new_checked(m.l3(f)).unwrap();
    assert!(ip.verify_checksum());
    assert_eq!(ip.header_len(), 20);
    let icmp = icmpv4::Packet::new_checked(m.l4(f)).unwrap();
    assert!(icmp.verify_checksum());
    assert_eq!(icmp.echo_seq_no(), 1);
    assert_eq!(icmp.data(), &(0x10..0x20).collect::<Vec<u8>>()[..]);
}

#[test]
fn tcp_syn_with_options() {
    let f = &frames::TCP_SYN;
    let m = parse(f).unwrap();
    assert_eq!((m.l4_off, m.ip_len, m.ident), (34, 60, 0x3c1d));
    assert_eq!(m.protocol, IpProtocol::TCP);
    assert_eq!(m.dst, v4([198, 51, 100, 34]));
    assert_eq!((m.src_port, m.dst_port), (54321, 443));
    assert_eq!(m.tcp_flags, tcp::flags::SYN);
    assert!(m.has_l4());

    let t = tcp::Packet::new_checked(m.l4(f)).unwrap();
    assert!(t.verify_checksum(&m.src, &m.dst));
    assert_eq!(t.seq_number(), 0x6b8b4567);
    assert_eq!(t.window_len(), 64240);
    assert_eq!(t.header_len(), 40);
    assert_eq!(t.mss(), Some(1460));
    let kinds: Vec<_> = t.options_iter().map(Result::unwrap).collect();
    assert_eq!(kinds.len(), 5);
    assert_eq!(kinds[4], tcp::TcpOption::WindowScale(7));
}

#[test]
fn ipv6_udp_with_hop_by_hop() {
    let f = &frames::IPV6_HBH_UDP;
    let eth = ethernet::Packet::new_checked(&f[..]).unwrap();
    assert!(eth.dst_addr().is_multicast());
    let m = parse(f).unwrap();
    assert_eq!(m.ethertype, EtherType::IPV6);
    assert_eq!((m.ip_version, m.ttl, m.tos), (6, 1, 0));
    assert_eq!((m.l3_off, m.l4_off, m.ip_len), (14, 62, 60));
    assert_eq!(m.src, v6("2001:db8::1"));
    assert_eq!(m.dst, v6("2001:db8::2"));
    assert_eq!(m.protocol, IpProtocol::UDP);
    assert_eq!((m.src_port, m.dst_port), (5353, 53));
    assert!(!m.is_fragment());

    let ip = ipv6::Packet::new_checked(m.l3(f)).unwrap();
    assert_eq!(ip.flow_label(), 0xabcde);
    assert_eq!(ip.next_header(), IpProtocol::HOPOPTS);
    let up = ip.walk().unwrap();
    assert_eq!((up.ext_count, up.seen), (1, ipv6::seen::HOP_BY_HOP));
    let u = udp::Packet::new_checked(m.l4(f)).unwrap();
    assert!(u.verify_checksum(&m.src, &m.dst));
    assert_eq!(u.payload(), &[0xca, 0xfe, 0xba, 0xbe]);
}

#[test]
fn vlan_tagged() {
    let f = &frames::VLAN_UDP;
    let m = parse(f).unwrap();
    assert_eq!((m.vlan_count, m.vlan_ids), (1, [100, 0]));
    assert_eq!((m.l3_off, m.l4_off), (18, 38));
    assert_eq!(m.ethertype, EtherType::IPV4);
    assert_eq!((m.ttl, m.ident), (255, 7));
    assert!(!m.dont_frag);
    assert_eq!((m.src_port, m.dst_port), (40000, 514));
    let tag = vlan::Packet::new_checked(&f[14..]).unwrap();
    assert_eq!((tag.pcp(), tag.dei(), tag.vid()), (3, false, 100));
    assert_eq!(tag.ethertype(), EtherType::IPV4);
    let u = udp::Packet::new_checked(m.l4(f)).unwrap();
    assert_eq!(u.payload(), b"hello");
    assert!(u.verify_checksum(&m.src, &m.dst));
}

#[test]
fn qinq_tagged() {
    let f = &frames::QINQ_TCP;
    let eth = ethernet::Packet::new_checked(&f[..]).unwrap();
    assert_eq!(eth.ethertype(), EtherType::QINQ);
    let m = parse(f).unwrap();
    assert_eq!((m.vlan_count, m.vlan_ids), (2, [10, 20]));
    assert_eq!((m.l3_off, m.l4_off), (22, 42));
    assert_eq!(m.tcp_flags, tcp::flags::ACK);
    assert_eq!((m.src_port, m.dst_port, m.ttl), (22, 50000, 63));
    let t = tcp::Packet::new_checked(m.l4(f)).unwrap();
    assert!(t.verify_checksum(&m.src, &m.dst));
    assert_eq!(
        (t.seq_number(), t.ack_number(), t.window_len()),
        (1000, 2000, 501)
    );
}

#[test]
fn icmp_error_quoting_udp() {
    let f = &frames::ICMP_UNREACH;
    let m = parse(f).unwrap();
    assert_eq!((m.icmp_type, m.icmp_code, m.icmp_id), (3, 3, 0));
    assert_eq!(m.tos, 0xc0);
    let icmp = icmpv4::Packet::new_checked(m.l4(f)).unwrap();
    assert!(icmp.verify_checksum());
    let inner = icmp.embedded_ipv4().unwrap();
    assert_eq!(inner.src_addr(), Ipv4Addr::new(10, 0, 0, 2));
    assert_eq!(inner.protocol(), IpProtocol::UDP);
    assert_eq!(inner.total_len(), 32);
    // The quoted UDP header is whole (8 bytes) though its datagram is not.
    let q = inner.payload();
    assert_eq!(q.len(), 8);
    let u = udp::Packet::new_unchecked(q);
    assert_eq!((u.src_port(), u.dst_port(), u.len()), (40000, 9, 12));
    assert_eq!(udp::Packet::new_checked(q).unwrap_err(), Error::Truncated);
}

#[test]
fn fragments() {
    let f = &frames::IPV4_FRAG;
    let m = parse(f).unwrap();
    assert_eq!(m.l4, L4Status::Fragment);
    assert_eq!((m.frag_offset, m.more_frags, m.ident), (1480, true, 0xbeef));
    assert_eq!(m.protocol, IpProtocol::UDP);
    assert_eq!((m.src_port, m.dst_port), (0, 0));
    assert!(m.is_fragment() && !m.has_l4());

    let f = &frames::IPV6_FRAG;
    let m = parse(f).unwrap();
    assert_eq!(m.l4, L4Status::Fragment);
    assert_eq!(m.protocol, IpProtocol::UDP);
    assert_eq!(
        (m.frag_offset, m.more_frags, m.ident),
        (1448, false, 0xdeadbeef)
    );
    assert_eq!(m.l4_off, 14 + 48);
    assert_eq!(m.l4(f), &[0x22; 8]);
}

#[test]
fn neighbour_solicitation() {
    let f = &frames::ICMPV6_NS;
    let m = parse(f).unwrap();
    assert_eq!(m.protocol, IpProtocol::ICMPV6);
    assert_eq!(
        (m.icmp_type, m.icmp_code, m.icmp_id, m.ttl),
        (135, 0, 0, 255)
    );
    let ns = icmpv6::Packet::new_checked(m.l4(f)).unwrap();
    assert!(ns.verify_checksum(&m.src, &m.dst));
    assert_eq!(
        ns.target_addr(),
        Some("2001:db8::1".parse::<Ipv6Addr>().unwrap())
    );
    assert_eq!(ns.source_ll_addr(), Some(MAC_A));
}

#[test]
fn parse_rejections() {
    // Bad IPv4 header checksum.
    let mut f = frames::ICMP_ECHO;
    f[24] ^= 0xff;
    assert_eq!(parse(&f), Err(Error::Checksum));
    // IPv4 total length past the frame.
    let mut f = frames::ICMP_ECHO;
    f[17] += 1;
    assert_eq!(parse(&f[..f.len()]).unwrap_err(), Error::Truncated);
    // Three VLAN tags.
    let mut f = Vec::from(&frames::VLAN_UDP[..14]);
    f[12..14].copy_from_slice(&[0x88, 0xa8]);
    f.extend_from_slice(&[0, 1, 0x81, 0x00, 0, 2, 0x81, 0x00, 0, 3, 0x08, 0x00]);
    f.extend_from_slice(&frames::VLAN_UDP[18..]);
    assert!(matches!(parse(&f), Err(Error::Unsupported(_))));
    // Unknown ethertype, and an 802.3 length.
    let mut f = frames::ICMP_ECHO;
    f[12..14].copy_from_slice(&[0x88, 0xcc]);
    assert!(matches!(parse(&f), Err(Error::Unsupported(_))));
    f[12..14].copy_from_slice(&[0x00, 0x40]);
    assert!(matches!(parse(&f), Err(Error::Unsupported(_))));
    // Short frames.
    assert_eq!(parse(&frames::ICMP_ECHO[..13]), Err(Error::Truncated));
    assert_eq!(parse(&frames::VLAN_UDP[..17]), Err(Error::Truncated));
    assert_eq!(parse(&frames::ARP_REQUEST[..41]), Err(Error::Truncated));
    // A hop-by-hop option running past its header: dropped like ipv6_rcv.
    let mut f = frames::IPV6_HBH_UDP;
    f[14 + 40 + 3] = 9;
    assert!(matches!(parse(&f), Err(Error::Malformed(_))));
    // IPv6 payload length past the frame.
    let mut f = frames::IPV6_HBH_UDP;
    f[14 + 5] += 1;
    assert_eq!(parse(&f), Err(Error::Truncated));
    // The reason names counters.
    assert_eq!(Error::Checksum.reason(), "checksum");
    assert_eq!(Error::Malformed("x").to_string(), "malformed packet: x");
}

#[test]
fn transport_problems_are_invalid_not_errors() {
    // A TCP data offset of 4.
    let mut f = frames::TCP_SYN;
    f[34 + 12] = 0x40;
    let m = parse(&f).unwrap();
    assert_eq!(m.l4, L4Status::Invalid);
    assert_eq!((m.src_port, m.dst_port), (0, 0));
    // A UDP length below 8.
    let mut f = frames::VLAN_UDP;
    f[38 + 5] = 4;
    assert_eq!(parse(&f).unwrap().l4, L4Status::Invalid);
    // An IPv6 destination options header past the payload.
    let mut f = frames::IPV6_HBH_UDP;
    f[14 + 40] = 60; // HBH -> DST options (the UDP header read as one)
    f[14 + 48 + 1] = 200;
    let m = parse(&f).unwrap();
    assert_eq!(m.l4, L4Status::Invalid);
    // GRE is opaque, with its offset.
    let mut b = frames::ICMP_ECHO;
    let mut ip = ipv4::Packet::new_unchecked(&mut b[14..]);
    ip.set_protocol(IpProtocol::GRE);
    ip.fill_checksum();
    let m = parse(&b).unwrap();
    assert_eq!((m.l4, m.l4_off), (L4Status::Opaque, 34));
    // Ethernet padding after the IP packet is not L4.
    let mut f = Vec::from(&frames::TCP_SYN[..]);
    f.extend_from_slice(&[0; 6]);
    let m = parse(&f).unwrap();
    assert_eq!(m.l4(&f).len(), 40);
    assert_eq!(m.frame_len, 80);
}

// ---------------------------------------------------------------------------
// Emit / setter round trips across layers.

#[test]
fn build_frame_from_reprs_and_parse_back() {
    let src = Ipv4Addr::new(192, 0, 2, 1);
    let dst = Ipv4Addr::new(198, 51, 100, 2);
    let mut f = [0u8; 14 + 4 + 20 + 8 + 3];
    ethernet::Repr {
        src_addr: MAC_R,
        dst_addr: MAC_A,
        ethertype: EtherType::VLAN,
    }
    .emit(&mut ethernet::Packet::new_unchecked(&mut f[..]));
    vlan::Repr {
        pcp: 6,
        dei: false,
        vid: 42,
        ethertype: EtherType::IPV4,
    }
    .emit(&mut vlan::Packet::new_unchecked(&mut f[14..]));
    f[46..].copy_from_slice(b"abc");
    udp::Repr {
        src_port: 1234,
        dst_port: 5678,
    }
    .emit(
        &mut udp::Packet::new_unchecked(&mut f[38..]),
        &IpAddr::V4(src),
        &IpAddr::V4(dst),
    );
    ipv4::Repr {
        src_addr: src,
        dst_addr: dst,
        protocol: IpProtocol::UDP,
        tos: 0,
        ident: 1,
        dont_frag: true,
        ttl: 64,
        payload_len: 11,
    }
    .emit(&mut ipv4::Packet::new_unchecked(&mut f[18..]));
    let m = parse(&f).unwrap();
    assert_eq!((m.vlan_ids[0], m.src_port, m.dst_port), (42, 1234, 5678));
    assert_eq!((m.src, m.dst), (IpAddr::V4(src), IpAddr::V4(dst)));
    let u = udp::Packet::new_checked(m.l4(&f)).unwrap();
    assert!(u.verify_checksum(&m.src, &m.dst));

    // Retag and re-address in place; the checksums stay right.
    let mut tag = vlan::Packet::new_checked(&mut f[14..]).unwrap();
    tag.set_vid(43);
    let mut eth = ethernet::Packet::new_checked(&mut f[..]).unwrap();
    eth.set_src_addr(MAC_A);
    eth.set_dst_addr(MAC_R);
    let new_src = Ipv4Addr::new(203, 0, 113, 9);
    ipv4::Packet::new_checked(&mut f[18..])
        .unwrap()
        .rewrite_src_addr(new_src);
    let mut u = udp::Packet::new_checked(&mut f[38..]).unwrap();
    u.adjust_checksum(&src.octets(), &new_src.octets());
    u.rewrite_src_port(40001);
    let m = parse(&f).unwrap();
    assert_eq!((m.vlan_ids[0], m.src_port), (43, 40001));
    let u = udp::Packet::new_checked(m.l4(&f)).unwrap();
    assert!(u.verify_checksum(&m.src, &m.dst));
}

// ---------------------------------------------------------------------------
// Incremental checksum update == full recompute, on random packets.

#[derive(Debug, Clone)]
struct Rewrite {
    src: Option<[u8; 16]>,
    dst: Option<[u8; 16]>,
    sport: Option<u16>,
    dport: Option<u16>,
    ttl_steps: u8,
    mss: Option<u16>,
    icmp_id: Option<u16>,
}

fn rewrite_strategy() -> impl Strategy<Value = Rewrite> {
    (
        proptest::option::of(any::<[u8; 16]>()),
        proptest::option::of(any::<[u8; 16]>()),
        proptest::option::of(any::<u16>()),
        proptest::option::of(any::<u16>()),
        0u8..3,
        proptest::option::of(any::<u16>()),
        proptest::option::of(any::<u16>()),
    )
        .prop_map(
            |(src, dst, sport, dport, ttl_steps, mss, icmp_id)| Rewrite {
                src,
                dst,
                sport,
                dport,
                ttl_steps,
                mss,
                icmp_id,
            },
        )
}

/// Kind 0 TCP, 1 UDP, 2 UDP without checksum (IPv4 only), 3 ICMP/ICMPv6.
fn build(v6: bool, kind: u8, src: [u8; 16], dst: [u8; 16], ttl: u8, payload: &[u8]) -> Vec<u8> {
    let l4_len = match kind {
        0 => 28 + payload.len(),
        1 | 2 => 8 + payload.len(),
        _ => 8 + payload.len(),
    };
    let l3_len = if v6 { 40 } else { 20 };
    let mut b = vec![0u8; l3_len + l4_len];
    let (s, d) = addrs(v6, &src, &dst);
    let proto = match (kind, v6) {
        (0, _) => IpProtocol::TCP,
        (1 | 2, _) => IpProtocol::UDP,
        (_, false) => IpProtocol::ICMP,
        (_, true) => IpProtocol::ICMPV6,
    };
    {
        let l4 = &mut b[l3_len..];
        l4[l4_len - payload.len()..].copy_from_slice(payload);
        match kind {
            0 => {
                let mut t = tcp::Packet::new_unchecked(&mut *l4);
                t.set_src_port(u16::from_be_bytes([src[0], dst[1]]));
                t.set_dst_port(u16::from_be_bytes([src[2], dst[3]]));
                t.set_header_len(28);
                t.set_flags(tcp::flags::SYN);
                // MSS first (its value at an even offset) or after a NOP
                // (at an odd one).
                let opts = if src[4] & 1 == 1 {
                    [1, 2, 4, 0x05, 0xb4, 1, 1, 0]
                } else {
                    [2, 4, 0x05, 0xb4, 1, 1, 1, 0]
                };
                t.options_mut().copy_from_slice(&opts);
                t.fill_checksum(&s, &d);
            }
            1 | 2 => {
                let mut u = udp::Packet::new_unchecked(&mut *l4);
                u.set_src_port(u16::from_be_bytes([src[5], dst[6]]));
                u.set_dst_port(u16::from_be_bytes([src[7], dst[8]]));
                u.set_len(l4_len as u16);
                if kind == 1 || v6 {
                    u.fill_checksum(&s, &d);
                }
            }
            _ => {
                if v6 {
                    let mut m = icmpv6::Packet::new_unchecked(&mut *l4);
                    m.set_msg_type(icmpv6::types::ECHO_REQUEST);
                    m.set_echo_ident(u16::from_be_bytes([src[9], dst[10]]));
                    m.fill_checksum(&s, &d);
                } else {
                    let mut m = icmpv4::Packet::new_unchecked(&mut *l4);
                    m.set_msg_type(icmpv4::types::ECHO_REQUEST);
                    m.set_echo_ident(u16::from_be_bytes([src[9], dst[10]]));
                    m.fill_checksum();
                }
            }
        }
    }
    if v6 {
        ipv6::Repr {
            src_addr: Ipv6Addr::from(src),
            dst_addr: Ipv6Addr::from(dst),
            next_header: proto,
            traffic_class: 0,
            flow_label: 0,
            hop_limit: ttl,
            payload_len: l4_len as u16,
        }
        .emit(&mut ipv6::Packet::new_unchecked(&mut b[..]));
    } else {
        ipv4::Repr {
            src_addr: ipv4_at(&src),
            dst_addr: ipv4_at(&dst),
            protocol: proto,
            tos: src[11],
            ident: u16::from_be_bytes([src[12], dst[13]]),
            dont_frag: true,
            ttl,
            payload_len: l4_len,
        }
        .emit(&mut ipv4::Packet::new_unchecked(&mut b[..]));
    }
    b
}

fn addrs(v6: bool, src: &[u8; 16], dst: &[u8; 16]) -> (IpAddr, IpAddr) {
    if v6 {
        (
            IpAddr::V6(Ipv6Addr::from(*src)),
            IpAddr::V6(Ipv6Addr::from(*dst)),
        )
    } else {
        (
            v4([src[0], src[1], src[2], src[3]]),
            v4([dst[0], dst[1], dst[2], dst[3]]),
        )
    }
}

/// Applies `rw` with the incremental methods a NAT/forwarding stage uses.
fn apply_incremental(v6: bool, kind: u8, b: &mut [u8], rw: &Rewrite) {
    let alen = if v6 { 16 } else { 4 };
    let l3_len = if v6 { 40 } else { 20 };
    let (old_src, old_dst) = {
        let (s, d) = if v6 {
            let p = ipv6::Packet::new_checked(&*b).unwrap();
            (
                p.src_addr().octets().to_vec(),
                p.dst_addr().octets().to_vec(),
            )
        } else {
            let p = ipv4::Packet::new_checked(&*b).unwrap();
            (
                p.src_addr().octets().to_vec(),
                p.dst_addr().octets().to_vec(),
            )
        };
        (s, d)
    };
    let new_src = rw.src.map(|a| a[..alen].to_vec());
    let new_dst = rw.dst.map(|a| a[..alen].to_vec());
    if v6 {
        let mut p = ipv6::Packet::new_checked(&mut *b).unwrap();
        if let Some(a) = &new_src {
            p.set_src_addr(Ipv6Addr::from(<[u8; 16]>::try_from(&a[..]).unwrap()));
        }
        if let Some(a) = &new_dst {
            p.set_dst_addr(Ipv6Addr::from(<[u8; 16]>::try_from(&a[..]).unwrap()));
        }
        for _ in 0..rw.ttl_steps {
            p.decrement_hop_limit();
        }
    } else {
        let mut p = ipv4::Packet::new_checked(&mut *b).unwrap();
        if let Some(a) = &new_src {
            p.rewrite_src_addr(ipv4_at(a));
        }
        if let Some(a) = &new_dst {
            p.rewrite_dst_addr(ipv4_at(a));
        }
        for _ in 0..rw.ttl_steps {
            p.decrement_ttl();
        }
    }
    let l4 = &mut b[l3_len..];
    let changes = [(old_src, new_src), (old_dst, new_dst)];
    match kind {
        0 => {
            let mut t = tcp::Packet::new_checked(l4).unwrap();
            for (old, new) in &changes {
                if let Some(new) = new {
                    t.adjust_checksum(old, new);
                }
            }
            if let Some(p) = rw.sport {
                t.rewrite_src_port(p);
            }
            if let Some(p) = rw.dport {
                t.rewrite_dst_port(p);
            }
            if let Some(m) = rw.mss {
                t.rewrite_mss(m);
            }
        }
        1 | 2 => {
            let mut u = udp::Packet::new_checked(l4).unwrap();
            for (old, new) in &changes {
                if let Some(new) = new {
                    u.adjust_checksum(old, new);
                }
            }
            if let Some(p) = rw.sport {
                u.rewrite_src_port(p);
            }
            if let Some(p) = rw.dport {
                u.rewrite_dst_port(p);
            }
        }
        _ => {
            if v6 {
                let mut m = icmpv6::Packet::new_checked(l4).unwrap();
                for (old, new) in &changes {
                    if let Some(new) = new {
                        m.adjust_checksum(old, new);
                    }
                }
                if let Some(id) = rw.icmp_id {
                    m.rewrite_echo_ident(id);
                }
            } else if let Some(id) = rw.icmp_id {
                icmpv4::Packet::new_checked(l4)
                    .unwrap()
                    .rewrite_echo_ident(id);
            }
        }
    }
}

/// The checksums the packet should carry, computed from scratch.
fn recompute(v6: bool, kind: u8, b: &[u8]) -> (Option<u16>, u16) {
    let mut c = b.to_vec();
    let l3_len = if v6 { 40 } else { 20 };
    let (ip_sum, s, d) = if v6 {
        let p = ipv6::Packet::new_checked(&c[..]).unwrap();
        (None, IpAddr::V6(p.src_addr()), IpAddr::V6(p.dst_addr()))
    } else {
        let mut p = ipv4::Packet::new_checked(&mut c[..]).unwrap();
        p.fill_checksum();
        (
            Some(p.checksum()),
            IpAddr::V4(p.src_addr()),
            IpAddr::V4(p.dst_addr()),
        )
    };
    let l4 = &mut c[l3_len..];
    let l4_sum = match kind {
        0 => {
            let mut t = tcp::Packet::new_checked(l4).unwrap();
            t.fill_checksum(&s, &d);
            t.checksum()
        }
        2 if !v6 => 0,
        1 | 2 => {
            let mut u = udp::Packet::new_checked(l4).unwrap();
            u.fill_checksum(&s, &d);
            u.checksum()
        }
        _ if v6 => {
            let mut m = icmpv6::Packet::new_checked(l4).unwrap();
            m.fill_checksum(&s, &d);
            m.checksum()
        }
        _ => {
            let mut m = icmpv4::Packet::new_checked(l4).unwrap();
            m.fill_checksum();
            m.checksum()
        }
    };
    (ip_sum, l4_sum)
}

fn carried(v6: bool, kind: u8, b: &[u8]) -> (Option<u16>, u16) {
    let l3_len = if v6 { 40 } else { 20 };
    let ip_sum = (!v6).then(|| ipv4::Packet::new_checked(b).unwrap().checksum());
    let l4 = &b[l3_len..];
    let l4_sum = match kind {
        0 => tcp::Packet::new_checked(l4).unwrap().checksum(),
        1 | 2 => udp::Packet::new_checked(l4).unwrap().checksum(),
        _ if v6 => icmpv6::Packet::new_checked(l4).unwrap().checksum(),
        _ => icmpv4::Packet::new_checked(l4).unwrap().checksum(),
    };
    (ip_sum, l4_sum)
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn incremental_update_equals_recompute(
        v6 in any::<bool>(),
        kind in 0u8..4,
        src in any::<[u8; 16]>(),
        dst in any::<[u8; 16]>(),
        ttl in 1u8..=255,
        payload in proptest::collection::vec(any::<u8>(), 0..64),
        rw in rewrite_strategy(),
    ) {
        let mut b = build(v6, kind, src, dst, ttl, &payload);
        prop_assert_eq!(carried(v6, kind, &b), recompute(v6, kind, &b));
        apply_incremental(v6, kind, &mut b, &rw);
        prop_assert_eq!(carried(v6, kind, &b), recompute(v6, kind, &b));
        // And the packet still parses behind an Ethernet header.
        let mut f = vec![0u8; 14];
        f[12..14].copy_from_slice(&(if v6 { EtherType::IPV6 } else { EtherType::IPV4 }).0.to_be_bytes());
        f.extend_from_slice(&b);
        let m = parse(&f).unwrap();
        prop_assert_eq!(m.l4, L4Status::Parsed);
        prop_assert_eq!(m.ttl, ttl.saturating_sub(rw.ttl_steps));
    }

    /// Arbitrary bytes behind an IPv4/IPv6/ARP/VLAN ethertype never panic.
    #[test]
    fn arbitrary_bytes_never_panic(
        et in prop::sample::select(vec![0x0800u16, 0x86dd, 0x0806, 0x8100, 0x88a8, 0x1234]),
        body in proptest::collection::vec(any::<u8>(), 0..128),
    ) {
        let mut f = vec![0u8; 12];
        f.extend_from_slice(&et.to_be_bytes());
        f.extend_from_slice(&body);
        check_frame(&f);
    }
}

// ---------------------------------------------------------------------------
// Robustness: mutated frames through parse and every new_checked.

/// Calls every accessor of every view that accepts `b`: after `new_checked`
/// none may panic.
fn exercise_views(b: &[u8]) {
    if let Ok(p) = ethernet::Packet::new_checked(b) {
        let _ = (p.dst_addr(), p.src_addr(), p.ethertype(), p.payload().len());
        let _ = ethernet::Repr::parse(&p);
    }
    if let Ok(p) = vlan::Packet::new_checked(b) {
        let _ = (
            p.tci(),
            p.pcp(),
            p.dei(),
            p.vid(),
            p.ethertype(),
            p.payload(),
        );
        let _ = vlan::Repr::parse(&p);
    }
    if let Ok(p) = arp::Packet::new_checked(b) {
        let _ = (p.hardware_type(), p.protocol_type(), p.operation());
        let _ = (p.hardware_len(), p.protocol_len());
        let _ = (p.sender_hardware_addr(), p.sender_protocol_addr());
        let _ = (p.target_hardware_addr(), p.target_protocol_addr());
        let _ = ArpRepr::parse(&p);
    }
    for p in [
        ipv4::Packet::new_checked(b),
        ipv4::Packet::new_checked_header(b),
    ]
    .into_iter()
    .flatten()
    {
        let _ = (p.version(), p.header_len(), p.tos(), p.dscp(), p.ecn());
        let _ = (p.total_len(), p.ident(), p.reserved_flag(), p.dont_frag());
        let _ = (p.more_frags(), p.frag_offset(), p.is_fragment(), p.ttl());
        let _ = (p.protocol(), p.checksum(), p.src_addr(), p.dst_addr());
        let _ = (p.options().len(), p.check_options(), p.verify_checksum());
        let _ = (p.options_iter().count(), p.payload().len());
        let _ = ipv4::Repr::parse(&p);
        let mut copy = b.to_vec();
        let mut q = ipv4::Packet::new_unchecked(&mut copy[..]);
        q.decrement_ttl();
        q.rewrite_src_addr(Ipv4Addr::BROADCAST);
        let _ = (q.payload_mut().len(), q.options_mut().len());
        q.fill_checksum();
    }
    for p in [
        ipv6::Packet::new_checked(b),
        ipv6::Packet::new_checked_header(b),
    ]
    .into_iter()
    .flatten()
    {
        let _ = (
            p.version(),
            p.traffic_class(),
            p.flow_label(),
            p.payload_len(),
        );
        let _ = (p.total_len(), p.next_header(), p.hop_limit());
        let _ = (p.src_addr(), p.dst_addr(), p.payload().len(), p.walk());
        let _ = ipv6::check_hop_by_hop(&b[..p.total_len().min(b.len())]);
        let _ = ipv6::Repr::parse(&p);
        let mut copy = b.to_vec();
        let mut q = ipv6::Packet::new_unchecked(&mut copy[..]);
        q.decrement_hop_limit();
        let _ = q.payload_mut().len();
    }
    let (s, d) = (v4([1, 2, 3, 4]), v6("2001:db8::1"));
    if let Ok(p) = tcp::Packet::new_checked(b) {
        let _ = (p.src_port(), p.dst_port(), p.seq_number(), p.ack_number());
        let _ = (p.header_len(), p.flags(), p.ns(), p.fin(), p.syn(), p.rst());
        let _ = (p.psh(), p.ack(), p.urg(), p.ece(), p.cwr(), p.window_len());
        let _ = (p.checksum(), p.urgent_at(), p.options().len());
        let _ = (p.options_iter().count(), p.mss_offset(), p.mss());
        let _ = (p.payload().len(), p.verify_checksum(&s, &d));
        let _ = tcp::Repr::parse(&p);
        let mut copy = b.to_vec();
        let mut q = tcp::Packet::new_checked(&mut copy[..]).unwrap();
        q.rewrite_mss(1200);
        q.rewrite_src_port(1);
        q.adjust_checksum(&[1, 2, 3, 4], &[5, 6, 7, 8]);
        let _ = (q.options_mut().len(), q.payload_mut().len());
    }
    if let Ok(p) = udp::Packet::new_checked(b) {
        let _ = (p.src_port(), p.dst_port(), p.len(), p.checksum());
        let _ = (p.payload().len(), p.verify_checksum(&s, &s));
        let _ = udp::Repr::parse(&p);
        let mut copy = b.to_vec();
        let mut q = udp::Packet::new_checked(&mut copy[..]).unwrap();
        q.rewrite_dst_port(2);
        q.fill_checksum(&d, &d);
        let _ = q.payload_mut().len();
    }
    if let Ok(p) = icmpv4::Packet::new_checked(b) {
        let _ = (p.msg_type(), p.msg_code(), p.checksum(), p.is_error());
        let _ = (p.echo_ident(), p.echo_seq_no(), p.next_hop_mtu());
        let _ = (p.gateway(), p.pointer(), p.data().len());
        let _ = (p.original_datagram(), p.verify_checksum());
        if let Ok(inner) = p.embedded_ipv4() {
            exercise_views(inner.into_inner());
        }
        let mut copy = b.to_vec();
        let mut q = icmpv4::Packet::new_checked(&mut copy[..]).unwrap();
        q.rewrite_echo_ident(3);
        q.rewrite_bytes(b.len().saturating_sub(3), &[1, 2, 3, 4]);
        q.rewrite_bytes(usize::MAX, &[1]);
    }
    if let Ok(p) = icmpv6::Packet::new_checked(b) {
        let _ = (p.msg_type(), p.msg_code(), p.checksum(), p.is_error());
        let _ = (p.is_ndisc(), p.echo_ident(), p.echo_seq_no(), p.mtu());
        let _ = (p.pointer(), p.na_flags(), p.target_addr(), p.data().len());
        let _ = (p.original_packet(), p.ndisc_options().count());
        let _ = (
            p.check_ndisc_options(),
            p.source_ll_addr(),
            p.target_ll_addr(),
        );
        let _ = p.verify_checksum(&d, &d);
        if let Ok(inner) = p.embedded_ipv6() {
            exercise_views(inner.into_inner());
        }
    }
}

/// Parses `f`, checks what the metadata promises, and exercises every view
/// at every offset that could start a header.
fn check_frame(f: &[u8]) -> bool {
    let r = parse(f);
    let mut offsets = vec![0usize, 14, 18, 22];
    if let Ok(m) = &r {
        assert_eq!(m.frame_len as usize, f.len());
        assert!(m.l3_off as usize <= f.len());
        assert!(m.l4_off >= m.l3_off);
        if m.is_ip() {
            assert!(m.l3_off as usize + m.ip_len as usize <= f.len());
            assert!(m.l4_off as usize <= m.l3_off as usize + m.ip_len as usize);
        }
        assert!(m.vlan_count <= 2);
        let _ = (m.l3(f), m.l4(f));
        offsets.push(m.l3_off as usize);
        offsets.push(m.l4_off as usize);
    }
    for o in offsets {
        if let Some(b) = f.get(o..) {
            exercise_views(b);
        }
    }
    r.is_ok()
}

/// Offsets in a frame where a length or header-length field lives.
fn length_fields(f: &[u8]) -> Vec<usize> {
    let mut v = vec![12, 13, 16, 17, 18, 19, 20, 21];
    if let Ok(m) = parse(f) {
        let (l3, l4) = (m.l3_off as usize, m.l4_off as usize);
        v.extend_from_slice(&[l3, l3 + 2, l3 + 3, l3 + 4, l3 + 5, l3 + 6, l3 + 40, l3 + 41]);
        v.extend_from_slice(&[l4, l4 + 1, l4 + 4, l4 + 5, l4 + 12, l4 + 21, l4 + 25]);
    }
    v.retain(|&o| o < f.len());
    v
}

#[test]
fn robustness_mutated_frames() {
    let mut rng = StdRng::seed_from_u64(0x5eed_f00d);
    let (mut ok, mut err) = (0u32, 0u32);
    for i in 0..12_000u32 {
        let seed = frames::ALL[i as usize % frames::ALL.len()];
        let mut f = seed.to_vec();
        for _ in 0..rng.gen_range(1..=3) {
            match rng.gen_range(0..6) {
                0 => {
                    for _ in 0..rng.gen_range(1..=8) {
                        let at = rng.gen_range(0..f.len().max(1));
                        if let Some(b) = f.get_mut(at) {
                            *b ^= 1 << rng.gen_range(0..8);
                        }
                    }
                }
                1 => {
                    let n = rng.gen_range(0..=f.len());
                    f.truncate(n);
                }
                2 | 3 => {
                    let fields = length_fields(&f);
                    if !fields.is_empty() {
                        let at = fields[rng.gen_range(0..fields.len())];
                        f[at] = match rng.gen_range(0..4) {
                            0 => 0,
                            1 => 0xff,
                            2 => f[at].wrapping_add(rng.gen_range(1..16)),
                            _ => rng.gen(),
                        };
                    }
                }
                4 => {
                    let n = rng.gen_range(0..64);
                    f.extend((0..n).map(|_| rng.gen::<u8>()));
                }
                _ => {
                    let n = rng.gen_range(0..160);
                    f = (0..n).map(|_| rng.gen()).collect();
                    if n > 14 && rng.gen_bool(0.7) {
                        let et: u16 = [0x0800, 0x86dd, 0x0806, 0x8100, 0x88a8][rng.gen_range(0..5)];
                        f[12..14].copy_from_slice(&et.to_be_bytes());
                        if et == 0x0800 {
                            f[14] = 0x45;
                        } else if et == 0x86dd {
                            f[14] = 0x60;
                        }
                    }
                }
            }
        }
        if check_frame(&f) {
            ok += 1;
        } else {
            err += 1;
        }
    }
    // Both outcomes happen a lot: the mutations are neither all fatal nor
    // all harmless.
    assert!(ok > 1_000, "ok {ok}");
    assert!(err > 1_000, "err {err}");
}

#[test]
fn every_truncation_of_every_seed() {
    for seed in frames::ALL {
        assert!(check_frame(seed));
        for n in 0..seed.len() {
            let _ = check_frame(&seed[..n]);
        }
    }
}

#[test]
fn packet_meta_stays_small() {
    // One cache line and a half at most: it travels with every packet.
    assert!(std::mem::size_of::<PacketMeta>() <= 96);
}
