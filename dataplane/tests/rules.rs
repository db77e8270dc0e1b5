//! The rule engine in the pipeline: restore files and appliance TOML,
//! frames in through in-memory ports, frames and counters out.

mod common;

use std::time::Duration;

use common::*;
use sluice_config::iptables::TableKind;
use sluice_dataplane::rules::log::LogRecord;
use sluice_dataplane::rules::{RulesParams, RulesReader};
use sluice_dataplane::wire::{self, checksum, EtherType, MacAddr};

const BRANCH: &str = r#"
[[interface]]
name = "lan"
address = ["10.0.1.1/24"]

[[interface]]
name = "wan_a"
address = ["10.0.2.1/24"]
mtu = 1400

[[interface]]
name = "wan_b"
address = ["192.168.100.2/30"]

[[route]]
to = "default"
via = "10.0.2.254"

[[route]]
to = "default"
via = "192.168.100.1"
table = 100

[[policy]]
priority = 100
fwmark = "0x1"
table = 100
"#;

struct Box_ {
    lab: Lab,
    rules: RulesReader,
}

fn lab(rules: &str) -> Box_ {
    let mut lab = Lab::with_rules(BRANCH, rules, RulesParams::default());
    let rules = lab.rules();
    lab.neighbour("lan", "10.0.1.10", hmac(10));
    lab.neighbour("lan", "10.0.1.20", hmac(20));
    lab.neighbour("wan_a", "10.0.2.254", hmac(254));
    lab.neighbour("wan_a", "10.0.2.5", hmac(5));
    lab.neighbour("wan_b", "192.168.100.1", hmac(101));
    lab.delta();
    Box_ { lab, rules }
}

impl Box_ {
    fn hits(&self, table: TableKind, chain: &str) -> Vec<u64> {
        let c = self.rules.counters();
        let t = c.tables.iter().find(|t| t.table == table).unwrap();
        let ch = t.chains.iter().find(|c| c.name == chain).unwrap();
        ch.rules.iter().map(|r| r.packets).collect()
    }
    fn policy(&self, table: TableKind, chain: &str) -> u64 {
        let c = self.rules.counters();
        c.policy(table, chain).unwrap().packets
    }
    fn save(&self) -> String {
        self.rules.save_with_counters()
    }
}

/// A TCP segment with these flags and a complete checksum.
fn tcp(src: &str, dst: &str, sport: u16, dport: u16, flags: u8) -> V4 {
    let mut v = V4::tcp_syn(src, dst, sport, dport);
    v.l4[13] = flags;
    v.l4[16..18].fill(0);
    let c = checksum::transport(&ip(src), &ip(dst), 6, &v.l4);
    v.l4[16..18].copy_from_slice(&c.to_be_bytes());
    v
}

const SYN: u8 = 0x02;
const ACK: u8 = 0x10;

const BASTION: &str = "*filter
:INPUT DROP [0:0]
:FORWARD DROP [0:0]
:OUTPUT ACCEPT [0:0]
-A INPUT -s 10.0.1.10/32 -i lan -p tcp -m tcp --dport 22 -j ACCEPT
-A INPUT -p icmp -m icmp --icmp-type 8 -j ACCEPT
-A FORWARD -s 10.0.1.10/32 -i lan -o wan_a -p tcp -m tcp --dport 22 -j ACCEPT
-A FORWARD -d 10.0.1.10/32 -i wan_a -o lan -p tcp -m tcp --sport 22 -j ACCEPT
-A FORWARD -p tcp -m tcp --dport 22 -j REJECT --reject-with tcp-reset
COMMIT
";

/// SSH only from the bastion: its SYN is forwarded, the reply comes back;
/// anyone else's SSH SYN gets a reset, other traffic the DROP policy.
#[test]
fn bastion_ssh_allowlist_in_forward() {
    let mut b = lab(BASTION);
    let l = &mut b.lab;
    let ok = V4::tcp_syn("10.0.1.10", "10.0.2.5", 40000, 22);
    l.inject("lan", &ok.frame(rmac(0), hmac(10)));
    assert_eq!(
        l.recv("wan_a"),
        vec![ok.clone().ttl(63).frame(hmac(5), rmac(1))]
    );
    let reply = tcp("10.0.2.5", "10.0.1.10", 22, 40000, SYN | ACK);
    l.inject("wan_a", &reply.frame(rmac(1), hmac(5)));
    assert_eq!(
        l.recv("lan"),
        vec![reply.clone().ttl(63).frame(hmac(10), rmac(0))]
    );
    // Someone else: a reset from the server's address, out of lan.
    let other = V4::tcp_syn("10.0.1.20", "10.0.2.5", 40001, 22);
    l.inject("lan", &other.frame(rmac(0), hmac(20)));
    let out = l.recv_all();
    assert_eq!(out.len(), 1, "{out:?}");
    let rst = &out["lan"][0];
    let m = wire::parse(rst).unwrap();
    assert_eq!((m.src, m.dst), (ip("10.0.2.5"), ip("10.0.1.20")));
    assert_eq!(m.tcp_flags, 0x14);
    // UDP from anyone: the policy.
    l.inject(
        "lan",
        &V4::udp("10.0.1.10", "10.0.2.5", 1, 53, b"q").frame(rmac(0), hmac(10)),
    );
    assert!(l.recv_all().is_empty());
    // The router itself: SSH from the bastion is for the host stack,
    // from anyone else dropped; pings are answered.
    l.inject(
        "lan",
        &V4::tcp_syn("10.0.1.10", "10.0.1.1", 40002, 22).frame(rmac(0), hmac(10)),
    );
    assert_eq!(l.punted().len(), 1);
    l.inject(
        "lan",
        &V4::tcp_syn("10.0.1.20", "10.0.1.1", 40003, 22).frame(rmac(0), hmac(20)),
    );
    assert!(l.punted().is_empty());
    l.inject(
        "lan",
        &V4::echo("10.0.1.20", "10.0.1.1", 1, 1, b"hi").frame(rmac(0), hmac(20)),
    );
    assert_eq!(l.recv("lan").len(), 1);
    assert_eq!(
        l.delta(),
        counts(&[
            ("rx.frames", 7),
            ("tx.frames", 4),
            ("forward.packets", 2),
            ("filter.drop", 2),
            ("filter.reject", 1),
            ("reject.tcp_reset", 1),
            ("output.packets", 2),
            ("input.packets", 2),
            ("local.punted", 1),
            ("local.echo_reply", 1),
        ])
    );
    assert_eq!(b.hits(TableKind::Filter, "FORWARD"), vec![1, 1, 1]);
    assert_eq!(b.hits(TableKind::Filter, "INPUT"), vec![1, 1]);
    assert_eq!(b.policy(TableKind::Filter, "FORWARD"), 1);
    assert_eq!(b.policy(TableKind::Filter, "INPUT"), 1);
    // The reset and the echo reply went through OUTPUT.
    assert_eq!(b.policy(TableKind::Filter, "OUTPUT"), 2);
    b.lab.assert_balanced();
}

/// The reset's bytes, exactly (`nf_send_reset`): from the destination,
/// ports swapped, RST|ACK acknowledging the SYN, TTL 64, DF, ID 0.
#[test]
fn reject_tcp_reset_reply_bytes() {
    let mut b = lab(BASTION);
    let syn = V4::tcp_syn("10.0.1.20", "10.0.2.5", 40001, 22);
    b.lab.inject("lan", &syn.frame(rmac(0), hmac(20)));
    let got = b.lab.recv("lan");
    let mut t = vec![0u8; 20];
    t[0..2].copy_from_slice(&22u16.to_be_bytes());
    t[2..4].copy_from_slice(&40001u16.to_be_bytes());
    t[8..12].copy_from_slice(&1001u32.to_be_bytes());
    t[12] = 0x50;
    t[13] = 0x14;
    let c = checksum::transport(&ip("10.0.2.5"), &ip("10.0.1.20"), 6, &t);
    t[16..18].copy_from_slice(&c.to_be_bytes());
    let mut ipb = vec![
        0x45, 0, 0, 40, 0, 0, 0x40, 0, 64, 6, 0, 0, 10, 0, 2, 5, 10, 0, 1, 20,
    ];
    let c = checksum::checksum(&ipb);
    ipb[10..12].copy_from_slice(&c.to_be_bytes());
    ipb.extend_from_slice(&t);
    assert_eq!(got, vec![eth(hmac(20), rmac(0), EtherType::IPV4, &ipb)]);
}

/// The answer of REJECT goes through OUTPUT like any packet of the box.
#[test]
fn reject_answers_pass_the_output_chain() {
    let rules = BASTION.replace(
        ":OUTPUT ACCEPT [0:0]\n",
        ":OUTPUT ACCEPT [0:0]\n-A OUTPUT -p tcp -m tcp --tcp-flags RST RST -j DROP\n",
    );
    let mut b = lab(&rules);
    b.lab.inject(
        "lan",
        &V4::tcp_syn("10.0.1.20", "10.0.2.5", 40001, 22).frame(rmac(0), hmac(20)),
    );
    assert!(b.lab.recv_all().is_empty());
    assert_eq!(b.hits(TableKind::Filter, "OUTPUT"), vec![1]);
    let d = b.lab.delta();
    assert_eq!(d.get("reject.tcp_reset"), Some(&1));
    assert_eq!(d.get("filter.drop"), Some(&1));
    assert_eq!(d.get("filter.reject"), Some(&1));
    b.lab.assert_balanced();
}

/// REJECT with ICMP: port unreachable from the address probed, within
/// the kernel's per-destination rate limit (a burst of 6).
#[test]
fn reject_icmp_port_unreachable_rate_limited() {
    let rules = "*filter\n:INPUT ACCEPT [0:0]\n:FORWARD ACCEPT [0:0]\n:OUTPUT ACCEPT [0:0]\n\
                 -A INPUT -p udp -m udp --dport 161 -j REJECT\nCOMMIT\n";
    let mut b = lab(rules);
    let probe = V4::udp("10.0.1.20", "10.0.2.1", 5000, 161, b"get");
    for _ in 0..8 {
        b.lab.send("lan", &probe.frame(rmac(0), hmac(20)));
    }
    b.lab.run();
    let out = b.lab.recv("lan");
    assert_eq!(out.len(), 6);
    for f in &out {
        let m = wire::parse(f).unwrap();
        assert_eq!((m.src, m.dst), (ip("10.0.2.1"), ip("10.0.1.20")));
        assert_eq!((m.icmp_type, m.icmp_code), (3, 3));
        assert_eq!(&m.l4(f)[8..], &probe.ip()[..]);
        assert_v4_checksums(f);
    }
    let d = b.lab.delta();
    assert_eq!(d.get("reject.icmp_unreachable"), Some(&6));
    assert_eq!(d.get("icmp.ratelimited"), Some(&2));
    assert_eq!(d.get("filter.reject"), Some(&8));
    b.lab.advance(Duration::from_secs(2));
    b.lab.inject("lan", &probe.frame(rmac(0), hmac(20)));
    assert_eq!(b.lab.recv("lan").len(), 1, "a token back after a second");
    b.lab.assert_balanced();
}

/// A user chain that logs and drops.
#[test]
fn log_and_drop_user_chain() {
    let rules = "*filter\n:INPUT ACCEPT [0:0]\n:FORWARD ACCEPT [0:0]\n:OUTPUT ACCEPT [0:0]\n\
                 :LOG_AND_DROP - [0:0]\n\
                 -A FORWARD -p tcp -m tcp --dport 23 -j LOG_AND_DROP\n\
                 -A LOG_AND_DROP -j LOG --log-prefix \"telnet: \"\n\
                 -A LOG_AND_DROP -j DROP\nCOMMIT\n";
    let mut b = lab(rules);
    let telnet = V4::tcp_syn("10.0.1.20", "10.0.2.5", 40000, 23);
    b.lab.inject("lan", &telnet.frame(rmac(0), hmac(20)));
    let web = V4::tcp_syn("10.0.1.20", "10.0.2.5", 40000, 80);
    b.lab.inject("lan", &web.frame(rmac(0), hmac(20)));
    assert_eq!(
        b.lab.recv("wan_a"),
        vec![web.ttl(63).frame(hmac(5), rmac(1))]
    );
    assert_eq!(b.lab.delta().get("filter.drop"), Some(&1));
    let mut log: Vec<LogRecord> = Vec::new();
    b.rules.drain_log(&mut log);
    assert_eq!(log.len(), 1);
    assert_eq!(
        log[0].line(),
        "telnet: IN=lan OUT=wan_a MAC=02:00:00:00:01:00:52:54:00:00:00:14:08:00 \
         SRC=10.0.1.20 DST=10.0.2.5 LEN=40 TOS=0x00 PREC=0x00 TTL=63 ID=4660 DF \
         PROTO=TCP SPT=40000 DPT=23 WINDOW=64240 RES=0x00 SYN URGP=0 "
    );
    assert_eq!(b.hits(TableKind::Filter, "LOG_AND_DROP"), vec![1, 1]);
    assert_eq!(b.hits(TableKind::Filter, "FORWARD"), vec![1]);
    assert_eq!(b.policy(TableKind::Filter, "FORWARD"), 1);
}

/// MARK in mangle PREROUTING picks the policy route (fwmark 1 → table
/// 100, out of wan_b).
#[test]
fn mark_then_policy_route() {
    let rules = "*mangle\n:PREROUTING ACCEPT [0:0]\n:INPUT ACCEPT [0:0]\n:FORWARD ACCEPT [0:0]\n\
                 :OUTPUT ACCEPT [0:0]\n:POSTROUTING ACCEPT [0:0]\n\
                 -A PREROUTING -s 10.0.1.20/32 -j MARK --set-xmark 0x1/0xffffffff\n\
                 -A POSTROUTING -o wan_b -m mark --mark 0x1\nCOMMIT\n";
    let mut b = lab(rules);
    let p20 = V4::udp("10.0.1.20", "8.8.8.8", 1, 53, b"q");
    let p10 = V4::udp("10.0.1.10", "8.8.8.8", 1, 53, b"q");
    b.lab.inject("lan", &p20.frame(rmac(0), hmac(20)));
    b.lab.inject("lan", &p10.frame(rmac(0), hmac(10)));
    let out = b.lab.recv_all();
    assert_eq!(out["wan_b"], vec![p20.ttl(63).frame(hmac(101), rmac(2))]);
    assert_eq!(out["wan_a"], vec![p10.ttl(63).frame(hmac(254), rmac(1))]);
    assert_eq!(b.hits(TableKind::Mangle, "PREROUTING"), vec![1]);
    assert_eq!(b.hits(TableKind::Mangle, "POSTROUTING"), vec![1]);
}

/// `--clamp-mss-to-pmtu` on the way to wan_a (MTU 1400).
#[test]
fn mss_clamped_to_the_egress_mtu() {
    let rules = "*mangle\n:PREROUTING ACCEPT [0:0]\n:INPUT ACCEPT [0:0]\n:FORWARD ACCEPT [0:0]\n\
                 :OUTPUT ACCEPT [0:0]\n:POSTROUTING ACCEPT [0:0]\n\
                 -A FORWARD -p tcp -m tcp --tcp-flags SYN,RST SYN -j TCPMSS --clamp-mss-to-pmtu\n\
                 COMMIT\n";
    let mut b = lab(rules);
    let mut syn = V4::tcp_syn("10.0.1.20", "10.0.2.5", 40000, 443);
    // With an MSS option of 1460.
    syn.l4[12] = 6 << 4;
    syn.l4.extend_from_slice(&[2, 4, 0x05, 0xb4]);
    syn.l4[16..18].fill(0);
    let c = checksum::transport(&ip("10.0.1.20"), &ip("10.0.2.5"), 6, &syn.l4);
    syn.l4[16..18].copy_from_slice(&c.to_be_bytes());
    b.lab.inject("lan", &syn.frame(rmac(0), hmac(20)));
    let out = b.lab.recv("wan_a");
    assert_eq!(out.len(), 1);
    let m = wire::parse(&out[0]).unwrap();
    let t = wire::tcp::Packet::new_checked(m.l4(&out[0])).unwrap();
    assert_eq!(t.mss(), Some(1360));
    assert_v4_checksums(&out[0]);
}

/// Exact counters after N packets, as `iptables-save -c` prints them.
#[test]
fn exact_counters_after_n_packets() {
    let rules = "*filter\n:INPUT ACCEPT [0:0]\n:FORWARD DROP [0:0]\n:OUTPUT ACCEPT [0:0]\n\
                 -A FORWARD -p udp -m udp --dport 53 -j ACCEPT\n\
                 -A FORWARD -p udp -m udp --dport 123\n\
                 COMMIT\n";
    let mut b = lab(rules);
    let (mut dns, mut ntp) = (0u64, 0u64);
    for n in 0..10usize {
        let d = V4::udp_len("10.0.1.20", "10.0.2.5", n * 10);
        // udp_len sends to port 9; make half of them DNS and half NTP.
        let port = if n % 2 == 0 { 53 } else { 123 };
        let p = V4::udp("10.0.1.20", "10.0.2.5", 40000, port, &d.l4[8..]);
        b.lab.inject("lan", &p.frame(rmac(0), hmac(20)));
        let len = p.ip().len() as u64;
        if port == 53 {
            dns += len;
        } else {
            ntp += len;
        }
    }
    assert_eq!(b.lab.recv("wan_a").len(), 5);
    assert_eq!(
        b.save(),
        format!(
            "*filter\n:INPUT ACCEPT [0:0]\n:FORWARD DROP [5:{ntp}]\n:OUTPUT ACCEPT [0:0]\n\
             [5:{dns}] -A FORWARD -p udp -m udp --dport 53 -j ACCEPT\n\
             [5:{ntp}] -A FORWARD -p udp -m udp --dport 123\n\
             COMMIT\n"
        )
    );
    b.lab.assert_balanced();
}

/// A NOTRACK in raw makes `--ctstate UNTRACKED` (which every packet is,
/// without conntrack) hold in filter.
#[test]
fn raw_notrack_and_ctstate() {
    let rules = "*raw\n:PREROUTING ACCEPT [0:0]\n:OUTPUT ACCEPT [0:0]\n\
                 -A PREROUTING -p udp -j CT --notrack\nCOMMIT\n\
                 *filter\n:INPUT ACCEPT [0:0]\n:FORWARD DROP [0:0]\n:OUTPUT ACCEPT [0:0]\n\
                 -A FORWARD -m conntrack --ctstate UNTRACKED -j ACCEPT\nCOMMIT\n";
    let mut b = lab(rules);
    let p = V4::udp("10.0.1.20", "10.0.2.5", 1, 2, b"");
    b.lab.inject("lan", &p.frame(rmac(0), hmac(20)));
    assert_eq!(b.lab.recv("wan_a").len(), 1);
    assert_eq!(b.hits(TableKind::Raw, "PREROUTING"), vec![1]);
    assert_eq!(b.hits(TableKind::Filter, "FORWARD"), vec![1]);
}

/// Every match and target of the engine on thousands of random and
/// mutated frames: no panic, every frame accounted for, nothing leaked,
/// and the classifier and the plain evaluation agree on every counter.
#[test]
fn random_frames_through_every_match_and_target() {
    use rand::rngs::StdRng;
    use rand::{Rng, SeedableRng};
    let rules = "*raw\n:PREROUTING ACCEPT [0:0]\n:OUTPUT ACCEPT [0:0]\n\
        -A PREROUTING -p udp -m udp --dport 9 -j CT --notrack\n\
        -A PREROUTING -f -j NOTRACK\nCOMMIT\n\
        *mangle\n:PREROUTING ACCEPT [0:0]\n:INPUT ACCEPT [0:0]\n:FORWARD ACCEPT [0:0]\n\
        :OUTPUT ACCEPT [0:0]\n:POSTROUTING ACCEPT [0:0]\n\
        -A PREROUTING -m statistic --mode nth --every 3 --packet 0 -j MARK --set-xmark 0x1/0xff\n\
        -A PREROUTING -m statistic --mode random --probability 0.5 -j CONNMARK --save-mark\n\
        -A PREROUTING -m tos --tos 0x10/0x3f -j DSCP --set-dscp 46\n\
        -A FORWARD -p tcp -m tcp --tcp-flags SYN,RST SYN -j TCPMSS --clamp-mss-to-pmtu\n\
        -A FORWARD -p tcp -m tcp --tcp-flags SYN,RST SYN -m tcp --tcp-option 8 -j TCPMSS --set-mss 500\n\
        -A FORWARD -m ttl --ttl-lt 10 -j TTL --ttl-inc 5\n\
        -A POSTROUTING -m length --length 0:100 -j TTL --ttl-dec 1\nCOMMIT\n\
        *filter\n:INPUT ACCEPT [0:0]\n:FORWARD ACCEPT [0:0]\n:OUTPUT ACCEPT [0:0]\n\
        :CHK - [0:0]\n:LOGDROP - [0:0]\n\
        -A INPUT -p udp -m udp --dport 161 -j REJECT\n\
        -A INPUT -p tcp -m multiport --dports 23,2323 -j REJECT --reject-with tcp-reset\n\
        -A INPUT -m addrtype --dst-type BROADCAST -j LOG --log-prefix \"bcast \"\n\
        -A INPUT -m pkttype --pkt-type multicast -j DROP\n\
        -A FORWARD -j CHK\n\
        -A FORWARD -m conntrack --ctstate UNTRACKED -m limit --limit 100/s -j ACCEPT\n\
        -A FORWARD -p icmp -m icmp --icmp-type 8 -m recent --set --name ping\n\
        -A FORWARD -p icmp -m recent --update --seconds 1 --hitcount 5 --name ping -j LOGDROP\n\
        -A FORWARD -p tcp -m tcp --dport 22 -j REJECT --reject-with tcp-reset\n\
        -A FORWARD -p udp -j REJECT --reject-with icmp-admin-prohibited\n\
        -A CHK -m iprange --src-range 10.0.1.100-10.0.1.200 -j RETURN\n\
        -A CHK -m mac --mac-source 52:54:00:00:00:ff -j LOGDROP\n\
        -A CHK -m mark --mark 0x1/0xff -g LOGDROP\n\
        -A CHK -p tcp -m tcp ! --sport 1024:65535 -j DROP\n\
        -A CHK -m dscp --dscp 46 -m state --state UNTRACKED\n\
        -A CHK -m connmark --mark 0x1 -j DROP\n\
        -A LOGDROP -j LOG --log-prefix \"drop \" --log-tcp-options --log-ip-options\n\
        -A LOGDROP -j DROP\n\
        -A OUTPUT -p icmp -m icmp --icmp-type 3 -m limit --limit 50/s\nCOMMIT\n";
    let mut labs: Vec<(Lab, RulesReader)> = [true, false]
        .into_iter()
        .map(|classifier| {
            let params = RulesParams {
                classifier,
                log_ring: 16,
                ..RulesParams::default()
            };
            let mut lab = Lab::with_rules(BRANCH, rules, params);
            let shared = lab.rules();
            lab.neighbour("lan", "10.0.1.20", hmac(20));
            lab.neighbour("wan_a", "10.0.2.254", hmac(254));
            lab.neighbour("wan_a", "10.0.2.5", hmac(5));
            (lab, shared)
        })
        .collect();
    let mut rng = StdRng::seed_from_u64(0x5eed);
    let templates: Vec<Vec<u8>> = vec![
        V4::tcp_syn("10.0.1.20", "10.0.2.5", 40000, 22).frame(rmac(0), hmac(20)),
        V4::tcp_syn("10.0.1.150", "10.0.2.5", 80, 443).frame(rmac(0), hmac(20)),
        V4::tcp_syn("10.0.1.20", "10.0.1.1", 40000, 23).frame(rmac(0), hmac(20)),
        V4::udp("10.0.1.20", "10.0.2.5", 5, 9, b"discard").frame(rmac(0), hmac(20)),
        V4::udp("10.0.1.20", "10.0.1.1", 5, 161, b"get").frame(rmac(0), hmac(20)),
        V4::udp("10.0.1.20", "10.0.1.255", 5, 67, b"bc").frame(MacAddr::BROADCAST, hmac(20)),
        V4::echo("10.0.1.20", "10.0.2.5", 1, 1, b"ping")
            .tos(0x10)
            .frame(rmac(0), hmac(20)),
        V4::echo("10.0.2.5", "10.0.1.20", 1, 1, b"ping")
            .ttl(3)
            .frame(rmac(1), hmac(5)),
        V4::udp_len("10.0.1.20", "10.0.2.5", 1300).frame(rmac(0), hmac(0xff)),
    ];
    for round in 0..3000 {
        let mut f = templates[rng.gen_range(0..templates.len())].clone();
        match rng.gen_range(0..4) {
            0 => {}
            1 => {
                for _ in 0..rng.gen_range(1..4) {
                    let at = rng.gen_range(14..f.len());
                    f[at] = rng.gen();
                }
            }
            2 => {
                let n = rng.gen_range(14..f.len());
                f.truncate(n);
                // Keep the IPv4 header consistent with the cut so the
                // packet reaches the rules with a short transport header.
                if n >= 34 {
                    let total = (n - 14) as u16;
                    f[16..18].copy_from_slice(&total.to_be_bytes());
                    f[24..26].fill(0);
                    let c = checksum::checksum(&f[14..34]);
                    f[24..26].copy_from_slice(&c.to_be_bytes());
                }
            }
            _ => {
                // A fragment: offset and MF at random, header checksum right.
                if f.len() >= 34 {
                    let off: u16 = rng.gen_range(0..4);
                    let ff = off | if rng.gen() { 0x2000 } else { 0 };
                    f[20..22].copy_from_slice(&ff.to_be_bytes());
                    f[24..26].fill(0);
                    let c = checksum::checksum(&f[14..34]);
                    f[24..26].copy_from_slice(&c.to_be_bytes());
                }
            }
        }
        let port = if f[6..12] == hmac(5).0 {
            "wan_a"
        } else {
            "lan"
        };
        for (lab, _) in &mut labs {
            lab.send(port, &f);
            if round % 7 == 0 {
                lab.run();
                lab.advance(Duration::from_millis(3));
                lab.recv_all();
            }
        }
    }
    let mut saved = Vec::new();
    for (lab, stage) in &mut labs {
        lab.run();
        lab.advance(Duration::from_secs(10));
        lab.recv_all();
        lab.punted();
        lab.assert_balanced();
        saved.push(stage.save_with_counters());
    }
    assert_eq!(saved[0], saved[1], "classifier and plain evaluation");
    assert!(saved[0].contains("] -A FORWARD -p tcp -m tcp --dport 22 -j REJECT"));
}

/// An apply: a new snapshot with another ruleset, published through a
/// `SnapshotCell` and taken by the worker at its next turn. Rules whose
/// text is unchanged in their chain keep their counters, new rules start
/// at zero and hold for the next packet, and a reader made before the
/// swap still reads the old program's counters (as they were). Prepared:
/// the carry map worked out before publication, as the daemon does
/// (`Program::prepare_carry`); else the worker works it out at the swap.
#[test]
fn snapshot_swap_carries_counters_of_unchanged_rules() {
    snapshot_swap_carries(false);
}

#[test]
fn snapshot_swap_carries_counters_prepared_by_the_control_side() {
    snapshot_swap_carries(true);
}

fn snapshot_swap_carries(prepared: bool) {
    use std::sync::Arc;

    use sluice_dataplane::pipeline::Snapshot;
    use sluice_dataplane::worker::SnapshotCell;

    let v1 = "*filter\n:FORWARD DROP [0:0]\n\
        -A FORWARD -p udp -m udp --dport 53 -j ACCEPT\n\
        -A FORWARD -p tcp -m tcp --dport 80 -j ACCEPT\nCOMMIT\n";
    let v2 = "*filter\n:FORWARD DROP [0:0]\n\
        -A FORWARD -p tcp -m tcp --dport 22 -j ACCEPT\n\
        -A FORWARD -p udp -m udp --dport 53 -j ACCEPT\nCOMMIT\n";
    let mut b = lab(v1);
    let cell = Arc::new(SnapshotCell::new(Arc::clone(b.lab.w.pipeline.snapshot())));
    b.lab.w.follow(Arc::clone(&cell));
    let dns = V4::udp("10.0.1.10", "10.0.2.5", 5000, 53, b"q");
    let web = V4::tcp_syn("10.0.1.10", "10.0.2.5", 40000, 80);
    let ssh = V4::tcp_syn("10.0.1.10", "10.0.2.5", 40001, 22);
    for _ in 0..3 {
        b.lab.inject("lan", &dns.frame(rmac(0), hmac(10)));
    }
    b.lab.inject("lan", &web.frame(rmac(0), hmac(10)));
    b.lab.inject("lan", &ssh.frame(rmac(0), hmac(10)));
    assert_eq!(b.lab.recv("wan_a").len(), 4);
    assert_eq!(b.hits(TableKind::Filter, "FORWARD"), vec![3, 1]);
    let old = b.rules.clone();

    let app = sluice_config::appliance::parse(BRANCH, std::path::Path::new("t.toml")).unwrap();
    let rs = sluice_config::iptables::parse(v2, std::path::Path::new("v2.rules")).unwrap();
    let mut next =
        Snapshot::build(&app, &rs, &Default::default(), RulesParams::default(), 2).unwrap();
    if prepared {
        let old = Arc::clone(b.lab.w.pipeline.snapshot().rules.as_ref().unwrap());
        let prog = next.rules.as_mut().and_then(Arc::get_mut).unwrap();
        prog.prepare_carry(&old);
    }
    let running = b.lab.w.running_generation();
    assert_eq!(running.load(std::sync::atomic::Ordering::Acquire), 1);
    cell.store(Arc::new(next));
    // Not taken (nor acknowledged) before the worker's next turn.
    assert_eq!(b.lab.w.pipeline.generation(), 1);
    assert_eq!(running.load(std::sync::atomic::Ordering::Acquire), 1);
    b.lab.inject("lan", &ssh.frame(rmac(0), hmac(10)));
    assert_eq!(b.lab.w.pipeline.generation(), 2);
    assert_eq!(running.load(std::sync::atomic::Ordering::Acquire), 2);
    assert_eq!(b.lab.recv("wan_a").len(), 1, "the new rule holds at once");
    b.lab.inject("lan", &web.frame(rmac(0), hmac(10)));
    assert!(b.lab.recv("wan_a").is_empty(), "the removed rule is gone");
    b.rules = b.lab.rules();
    // --dport 22 is new (1 packet since), --dport 53 kept its 3.
    assert_eq!(b.hits(TableKind::Filter, "FORWARD"), vec![1, 3]);
    assert_eq!(
        b.policy(TableKind::Filter, "FORWARD"),
        2,
        "1 before + 1 after"
    );
    // The old reader still sees the old program's counters.
    assert_eq!(
        old.counters().rule(TableKind::Filter, "FORWARD", 1),
        Some(sluice_config::iptables::Counters {
            packets: 1,
            bytes: web.frame(rmac(0), hmac(10)).len() as u64 - 14,
        })
    );
}

/// The neighbour table is listed through the worker's channel: nothing
/// until the worker's next turn, then every entry, permanent and learnt.
#[test]
fn neighbour_table_listed_through_the_channel() {
    use sluice_dataplane::route::neigh::NeighState;

    let mut b = lab("*filter\n:FORWARD ACCEPT [0:0]\nCOMMIT\n");
    let chan = b.lab.w.neigh_channel();
    // An unresolved next hop: the first packet starts resolution.
    let pk = V4::udp("10.0.1.10", "10.0.2.77", 5000, 53, b"q");
    b.lab.inject("lan", &pk.frame(rmac(0), hmac(10)));
    assert_eq!(chan.ask(()), Ok(()));
    assert!(chan.answer().is_none(), "answered at a turn, not before");
    b.lab.run();
    let mut rows = chan.answer().expect("answered at the next turn");
    rows.sort_by_key(|r| (r.0, r.1));
    let wan_a = b.lab.port("wan_a");
    let got: Vec<_> = rows
        .iter()
        .filter(|r| r.0 == wan_a)
        .map(|r| (r.1.to_string(), r.2.state, r.2.mac.is_some()))
        .collect();
    assert_eq!(
        got,
        vec![
            ("10.0.2.5".into(), NeighState::Permanent, true),
            ("10.0.2.77".into(), NeighState::Incomplete, false),
            ("10.0.2.254".into(), NeighState::Permanent, true),
        ]
    );
    assert_eq!(rows.len(), 6, "{rows:?}");
}

/// Counters and LOG records are read from another thread while the worker
/// goes on: no lock, the reader sees what the worker wrote.
#[test]
fn rules_reader_from_another_thread() {
    let mut b = lab(
        "*filter\n:FORWARD ACCEPT [0:0]\n-A FORWARD -p udp -j LOG --log-prefix \"u \"\nCOMMIT\n",
    );
    let reader = b.lab.rules();
    let pk = V4::udp("10.0.1.10", "10.0.2.5", 5000, 53, b"q");
    for _ in 0..5 {
        b.lab.inject("lan", &pk.frame(rmac(0), hmac(10)));
    }
    let (hits, lines) = std::thread::spawn(move || {
        let mut log = Vec::new();
        reader.drain_log(&mut log);
        (
            reader
                .counters()
                .rule(TableKind::Filter, "FORWARD", 0)
                .unwrap()
                .packets,
            log.len(),
        )
    })
    .join()
    .unwrap();
    assert_eq!((hits, lines), (5, 5));
}
