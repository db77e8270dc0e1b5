//! The DHCPv4 client's link (`local::dhcp`): the server's answers on a
//! DHCP port are taken before any hook and handed over, nothing else is;
//! the client's frames leave their port as they are. In memory.

mod common;

use common::*;
use sluice_dataplane::local::dhcp::{DhcpLink, SLOTS};
use sluice_dataplane::rules::RulesParams;
use sluice_dataplane::wire::{EtherType, MacAddr};

const BOX: &str = r#"
[[interface]]
name = "lan"
address = ["10.0.1.1/24"]

[[interface]]
name = "wan"
address = ["dhcp"]
"#;

/// Everything the rules see is dropped: a DHCP answer still gets through.
const RULES: &str = "*raw
:PREROUTING DROP [0:0]
:OUTPUT DROP [0:0]
COMMIT
*filter
:INPUT DROP [0:0]
:FORWARD DROP [0:0]
:OUTPUT DROP [0:0]
COMMIT
";

fn lab() -> (Lab, DhcpLink) {
    let mut lab = Lab::with_rules(BOX, RULES, RulesParams::default());
    let link = DhcpLink::default();
    lab.w.pipeline.set_dhcp(link.clone());
    lab.delta();
    (lab, link)
}

fn answer(dst: &str, dst_mac: MacAddr, sport: u16) -> Vec<u8> {
    V4::udp("203.0.113.1", dst, sport, 68, &[0x02; 300]).frame(dst_mac, hmac(1))
}

#[test]
fn answers_on_a_dhcp_port_go_to_the_client_before_any_hook() {
    let (mut lab, link) = lab();
    let bcast = answer("255.255.255.255", MacAddr([0xff; 6]), 67);
    // dnsmasq unicasts the OFFER to the offered address and our MAC.
    let unicast = answer("203.0.113.50", rmac(1), 67);
    lab.inject("wan", &bcast);
    lab.inject("wan", &unicast);
    assert_eq!(
        lab.delta(),
        counts(&[("rx.frames", 2), ("local.dhcp_rx", 2)])
    );
    let a = link.recv().unwrap();
    assert_eq!((a.port, a.bytes()), (lab.port("wan"), &bcast[..]));
    link.done(a);
    let b = link.recv().unwrap();
    assert_eq!(b.bytes(), &unicast[..]);
    link.done(b);
    assert!(link.recv().is_none());
    assert!(lab.recv_all().is_empty());
    lab.assert_balanced();
}

#[test]
fn other_frames_take_the_normal_path() {
    let (mut lab, link) = lab();
    // Not a DHCP port; not from port 67; not to port 68.
    lab.inject("lan", &answer("255.255.255.255", MacAddr([0xff; 6]), 67));
    lab.inject("wan", &answer("255.255.255.255", MacAddr([0xff; 6]), 53));
    let to_server =
        V4::udp("0.0.0.0", "255.255.255.255", 67, 67, b"x").frame(MacAddr([0xff; 6]), hmac(1));
    lab.inject("wan", &to_server);
    assert!(link.recv().is_none());
    let d = lab.delta();
    assert_eq!(d.get("local.dhcp_rx"), None, "{d:?}");
    assert_eq!(
        d.get("raw.drop").copied(),
        Some(3),
        "the raw table saw them: {d:?}"
    );
    lab.assert_balanced();
}

#[test]
fn a_client_that_does_not_read_loses_answers_counted() {
    let (mut lab, link) = lab();
    let f = answer("255.255.255.255", MacAddr([0xff; 6]), 67);
    for _ in 0..SLOTS + 2 {
        lab.inject("wan", &f);
    }
    assert_eq!(
        lab.delta(),
        counts(&[
            ("rx.frames", SLOTS as u64 + 2),
            ("local.dhcp_rx", SLOTS as u64),
            ("local.dhcp_full", 2),
        ])
    );
    let mut n = 0;
    while let Some(f) = link.recv() {
        link.done(f);
        n += 1;
    }
    assert_eq!(n, SLOTS);
    lab.assert_balanced();
}

/// A DHCPDISCOVER as the client sends it from the wan port's MAC.
fn discover() -> Vec<u8> {
    eth(
        MacAddr([0xff; 6]),
        rmac(1),
        EtherType::IPV4,
        &V4::udp("0.0.0.0", "255.255.255.255", 68, 67, &[1; 300]).ip(),
    )
}

#[test]
fn the_clients_frames_leave_as_they_are_past_the_rules() {
    let (mut lab, link) = lab();
    let discover = discover();
    assert!(link.send(lab.port("wan"), &discover));
    lab.run();
    assert_eq!(lab.recv("wan"), vec![discover]);
    assert!(lab.recv("lan").is_empty());
    assert_eq!(
        lab.delta(),
        counts(&[("local.dhcp_tx", 1), ("tx.frames", 1)])
    );
    lab.assert_balanced();
}

#[test]
fn a_client_frame_for_a_port_that_does_not_exist_is_counted_lost() {
    let (mut lab, link) = lab();
    let discover = discover();
    assert!(link.send(sluice_dataplane::io::PortId(7), &discover));
    lab.run();
    assert!(lab.recv("wan").is_empty() && lab.recv("lan").is_empty());
    assert_eq!(lab.delta(), counts(&[("local.dhcp_tx_lost", 1)]));
    lab.assert_balanced();
    // The buffer went back to the client: it can queue again.
    for _ in 0..SLOTS {
        assert!(link.send(lab.port("wan"), &discover));
        lab.run();
    }
}
