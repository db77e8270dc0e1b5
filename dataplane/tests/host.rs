//! Frames the host kernel writes into a TAP (`Pipeline::rx_host`): the
//! OUTPUT path of locally generated packets, driven in memory (no TAP, no
//! root): the frames are put into the arena as the worker does after its
//! `read(2)`.

mod common;

use common::*;
use sluice_config::iptables::TableKind;
use sluice_dataplane::rules::RulesParams;
use sluice_dataplane::wire::{self, ipv4, ipv6, EtherType, MacAddr};

const BOX: &str = r#"
[[interface]]
name = "lan"
address = ["10.0.1.1/24", "2001:db8:1::1/64"]

[[interface]]
name = "wan"
address = ["192.0.2.1/24"]

[[route]]
to = "default"
via = "192.0.2.254"
"#;

/// MASQUERADE out of `wan`; INPUT lets only ESTABLISHED in; OUTPUT drops
/// SMTP.
const RULES: &str = "*nat
:PREROUTING ACCEPT [0:0]
:INPUT ACCEPT [0:0]
:OUTPUT ACCEPT [0:0]
:POSTROUTING ACCEPT [0:0]
-A POSTROUTING -o wan -j MASQUERADE
COMMIT
*filter
:INPUT DROP [0:0]
:FORWARD DROP [0:0]
:OUTPUT ACCEPT [0:0]
-A INPUT -m conntrack --ctstate ESTABLISHED -j ACCEPT
-A OUTPUT -p tcp --dport 25 -j DROP
COMMIT
";

fn neighbours(lab: &mut Lab) {
    lab.neighbour("wan", "192.0.2.254", hmac(254));
    lab.neighbour("lan", "10.0.1.2", hmac(2));
    lab.neighbour("lan", "2001:db8:1::2", hmac(2));
    lab.delta();
}

fn plain() -> Lab {
    let mut lab = Lab::new(BOX);
    neighbours(&mut lab);
    lab
}

fn ruled() -> Lab {
    let mut lab = Lab::with_rules(BOX, RULES, RulesParams::default());
    neighbours(&mut lab);
    lab
}

/// What the worker does with frames it read from the TAP of `port`.
fn from_host(lab: &mut Lab, port: &str, frames: &[Vec<u8>]) {
    let p = lab.port(port);
    let mut descs = Vec::new();
    for f in frames {
        let mut d = lab.w.umem.alloc().unwrap();
        assert!(lab.w.umem.set_len(&mut d, f.len()));
        lab.w.umem.bytes_mut(d).copy_from_slice(f);
        descs.push(d);
    }
    let now = lab.now;
    lab.w.pipeline.rx_host(&mut lab.w.umem, p, &descs, now);
    lab.w.pipeline.flush_tx(&mut lab.w.umem, &mut lab.w.ports);
}

/// A frame as the host writes it into the TAP of port `i`: from and to the
/// TAP's own MAC (NOARP).
fn host_frame(ip: &[u8], i: u8, v6: bool) -> Vec<u8> {
    let t = if v6 { EtherType::IPV6 } else { EtherType::IPV4 };
    eth(rmac(i), rmac(i), t, ip)
}

fn tcp_of(frame: &[u8]) -> (std::net::Ipv4Addr, u16, std::net::Ipv4Addr, u16, u8) {
    let ip = ipv4::Packet::new_checked(&frame[14..]).unwrap();
    let t = ip.payload();
    (
        ip.src_addr(),
        u16::from_be_bytes([t[0], t[1]]),
        ip.dst_addr(),
        u16::from_be_bytes([t[2], t[3]]),
        ip.ttl(),
    )
}

#[test]
fn a_host_syn_leaves_by_the_route_with_its_ttl() {
    let mut lab = plain();
    let syn = V4::tcp_syn("192.0.2.1", "198.51.100.7", 40000, 443);
    from_host(&mut lab, "wan", &[host_frame(&syn.ip(), 1, false)]);
    let out = lab.recv("wan");
    assert_eq!(out.len(), 1);
    assert_eq!(macs_of(&out[0]), (hmac(254), rmac(1), EtherType::IPV4));
    // Not forwarded: the TTL is the host's, the packet unchanged.
    assert_eq!(&out[0][14..], &syn.ip()[..]);
    assert_eq!(
        lab.delta(),
        counts(&[
            ("local.host_rx", 1),
            ("output.packets", 1),
            ("tx.frames", 1),
        ])
    );
    // Written into the lan TAP, still routed by sluice's tables: out of
    // wan (the host's own route choice does not matter).
    from_host(&mut lab, "lan", &[host_frame(&syn.ip(), 0, false)]);
    assert_eq!(lab.recv("wan").len(), 1);
    assert!(lab.recv("lan").is_empty());
    lab.assert_balanced();
}

#[test]
fn host_ipv6_and_broadcasts() {
    let mut lab = plain();
    let u6 = V6::udp("2001:db8:1::1", "2001:db8:1::2", 53, 5353, b"answer");
    from_host(&mut lab, "lan", &[host_frame(&u6.ip(), 0, true)]);
    let out = lab.recv("lan");
    assert_eq!(out.len(), 1);
    assert_eq!(macs_of(&out[0]), (hmac(2), rmac(0), EtherType::IPV6));
    assert_eq!(&out[0][14..], &u6.ip()[..]);
    assert_eq!(
        ipv6::Packet::new_checked(&out[0][14..])
            .unwrap()
            .hop_limit(),
        64
    );
    // A DHCP server's broadcast reply leaves by the TAP's port, to
    // ff:ff:ff:ff:ff:ff (and, as the kernel's ip_mc_output, a copy loops
    // back through the box's input and is used up).
    let offer = V4::udp("10.0.1.1", "255.255.255.255", 67, 68, b"offer");
    from_host(&mut lab, "lan", &[host_frame(&offer.ip(), 0, false)]);
    let out = lab.recv("lan");
    assert_eq!(out.len(), 1);
    assert_eq!(
        macs_of(&out[0]),
        (MacAddr::BROADCAST, rmac(0), EtherType::IPV4)
    );
    assert!(lab.recv("wan").is_empty());
    let d = lab.delta();
    assert_eq!(d.get("local.host_rx"), Some(&2));
    assert_eq!(d.get("tx.frames"), Some(&2));
    assert_eq!(d.get("output.loopback"), Some(&1));
    assert_eq!(d.get("local.loopback"), Some(&1));
    lab.assert_balanced();
}

#[test]
fn host_link_layer_chatter_and_bad_frames_are_dropped_and_counted() {
    let mut lab = plain();
    let arp = arp_request(rmac(0), "10.0.1.1", "10.0.1.2");
    let ns = V6::ns(
        "2001:db8:1::1",
        "ff02::1:ff00:2",
        "2001:db8:1::2",
        Some(rmac(0)),
    );
    let rs = V6::icmp("fe80::1", "ff02::2", &[133, 0, 0, 0, 0, 0, 0, 0]).hop_limit(255);
    let mld = V6::icmp("fe80::1", "ff02::16", &[143, 0, 0, 0, 0, 0, 0, 0]).hop_limit(1);
    let lldp = eth(rmac(0), rmac(0), EtherType(0x88cc), &[0u8; 46]);
    let mut bad = host_frame(&V4::udp("10.0.1.1", "10.0.1.2", 1, 2, b"x").ip(), 0, false);
    bad[14 + 10] ^= 0xff; // the IPv4 header checksum
    let truncated = host_frame(
        &V4::udp("10.0.1.1", "10.0.1.2", 1, 2, b"x").ip()[..12],
        0,
        false,
    );
    let to_self = host_frame(&V4::udp("10.0.1.1", "192.0.2.1", 1, 2, b"x").ip(), 0, false);
    from_host(
        &mut lab,
        "lan",
        &[
            arp,
            host_frame(&ns.ip(), 0, true),
            host_frame(&rs.ip(), 0, true),
            host_frame(&mld.ip(), 0, true),
            lldp,
            bad,
            truncated,
            to_self,
        ],
    );
    assert!(lab.recv_all().is_empty());
    assert_eq!(
        lab.delta(),
        counts(&[
            ("local.host_rx", 8),
            ("local.host_l2", 5),
            ("parse.checksum", 1),
            ("parse.truncated", 1),
            ("output.local", 1),
        ])
    );
    lab.assert_balanced();
}

#[test]
fn host_packets_run_output_conntrack_nat_and_filter_and_replies_are_punted() {
    let mut lab = ruled();
    let rules = lab.rules();
    let hits = |t: TableKind, chain: &str| -> Vec<u64> {
        let c = rules.counters();
        let t = c.tables.iter().find(|x| x.table == t).unwrap();
        let ch = t.chains.iter().find(|c| c.name == chain).unwrap();
        ch.rules.iter().map(|r| r.packets).collect()
    };
    // OUTPUT filter drops SMTP and counts the rule.
    let smtp = V4::tcp_syn("192.0.2.1", "198.51.100.7", 40001, 25);
    from_host(&mut lab, "wan", &[host_frame(&smtp.ip(), 1, false)]);
    assert!(lab.recv_all().is_empty());
    assert_eq!(hits(TableKind::Filter, "OUTPUT"), vec![1]);
    assert_eq!(
        lab.delta(),
        counts(&[
            ("local.host_rx", 1),
            ("filter.drop", 1),
            // OUTPUT conntrack made an entry; dropped before confirm.
            ("conntrack.unconfirmed_dropped", 1),
        ])
    );
    // A service bound to the lan address talks to a remote peer: OUTPUT
    // conntrack, POSTROUTING MASQUERADE to the wan address.
    let syn = V4::tcp_syn("10.0.1.1", "198.51.100.7", 40000, 443);
    from_host(&mut lab, "lan", &[host_frame(&syn.ip(), 0, false)]);
    let out = lab.recv("wan");
    assert_eq!(out.len(), 1);
    let (src, sport, dst, dport, ttl) = tcp_of(&out[0]);
    assert_eq!(
        (src, dst, dport, ttl),
        (v4("192.0.2.1"), v4("198.51.100.7"), 443, 64)
    );
    assert_eq!(macs_of(&out[0]), (hmac(254), rmac(1), EtherType::IPV4));
    assert_eq!(hits(TableKind::Nat, "POSTROUTING"), vec![1]);
    let d = lab.delta();
    assert_eq!(d.get("conntrack.new"), Some(&1));
    assert_eq!(d.get("tx.frames"), Some(&1));
    // The peer's SYN-ACK comes in on wan: conntrack finds the reply,
    // un-NATs it to the lan address, INPUT lets it in as ESTABLISHED, and
    // it is punted for the host (its TAP).
    let mut synack = V4::tcp_syn("198.51.100.7", "192.0.2.1", 443, sport);
    synack.l4[13] = wire::tcp::flags::SYN | wire::tcp::flags::ACK;
    synack.l4[8..12].copy_from_slice(&1001u32.to_be_bytes());
    synack.l4[16..18].fill(0);
    let c = wire::checksum::transport(&ip("198.51.100.7"), &ip("192.0.2.1"), 6, &synack.l4);
    synack.l4[16..18].copy_from_slice(&c.to_be_bytes());
    lab.inject("wan", &synack.frame(rmac(1), hmac(254)));
    let punted = lab.punted();
    assert_eq!(punted.len(), 1);
    assert_eq!(punted[0].0, lab.port("wan"));
    let (src, sport2, dst, dport2, _) = tcp_of(&punted[0].1);
    assert_eq!(
        (src, sport2, dst, dport2),
        (v4("198.51.100.7"), 443, v4("10.0.1.1"), 40000)
    );
    assert_eq!(hits(TableKind::Filter, "INPUT"), vec![1]);
    let d = lab.delta();
    assert_eq!(d.get("local.punted"), Some(&1));
    assert_eq!(d.get("filter.drop"), None);
    lab.assert_balanced();
}

#[test]
fn redirect_to_the_box_lands_at_the_host_and_its_answer_is_translated_back() {
    let rules = "*nat
:PREROUTING ACCEPT [0:0]
:INPUT ACCEPT [0:0]
:OUTPUT ACCEPT [0:0]
:POSTROUTING ACCEPT [0:0]
-A PREROUTING -i wan -p tcp --dport 2222 -j REDIRECT --to-ports 22
COMMIT
";
    let mut lab = Lab::with_rules(BOX, rules, RulesParams::default());
    neighbours(&mut lab);
    let syn = V4::tcp_syn("192.0.2.254", "192.0.2.1", 50000, 2222);
    lab.inject("wan", &syn.frame(rmac(1), hmac(254)));
    // The host's sshd sees port 22.
    let punted = lab.punted();
    assert_eq!(punted.len(), 1);
    let (src, sport, dst, dport, _) = tcp_of(&punted[0].1);
    assert_eq!(
        (src, sport, dst, dport),
        (v4("192.0.2.254"), 50000, v4("192.0.2.1"), 22)
    );
    // Its SYN-ACK from port 22 leaves as from port 2222.
    let mut synack = V4::tcp_syn("192.0.2.1", "192.0.2.254", 22, 50000);
    synack.l4[13] = wire::tcp::flags::SYN | wire::tcp::flags::ACK;
    synack.l4[8..12].copy_from_slice(&1001u32.to_be_bytes());
    synack.l4[16..18].fill(0);
    let c = wire::checksum::transport(&ip("192.0.2.1"), &ip("192.0.2.254"), 6, &synack.l4);
    synack.l4[16..18].copy_from_slice(&c.to_be_bytes());
    from_host(&mut lab, "wan", &[host_frame(&synack.ip(), 1, false)]);
    let out = lab.recv("wan");
    assert_eq!(out.len(), 1);
    let (src, sport, dst, dport, _) = tcp_of(&out[0]);
    assert_eq!(
        (src, sport, dst, dport),
        (v4("192.0.2.1"), 2222, v4("192.0.2.254"), 50000)
    );
    assert_eq!(macs_of(&out[0]), (hmac(254), rmac(1), EtherType::IPV4));
    let seg = &out[0][14 + 20..];
    assert_eq!(
        wire::checksum::transport(&ip("192.0.2.1"), &ip("192.0.2.254"), 6, seg),
        0,
        "TCP checksum after de-translation"
    );
    lab.assert_balanced();
}

#[test]
fn a_worker_with_taps_drops_punts_for_a_port_without_one() {
    let mut lab = plain();
    lab.w.set_taps(vec![None, None]);
    let mut fds = Vec::new();
    lab.w.wait_fds(&mut fds);
    assert!(fds.is_empty());
    let ssh = V4::tcp_syn("10.0.1.2", "10.0.1.1", 40000, 22).frame(rmac(0), hmac(2));
    lab.inject("lan", &ssh);
    assert!(lab.punted().is_empty());
    assert_eq!(
        lab.delta(),
        counts(&[
            ("rx.frames", 1),
            ("input.packets", 1),
            ("local.punted", 1),
            ("local.tap_error", 1),
        ])
    );
    lab.assert_balanced();
}
