//! The raw IPv4 and TCP builders here serve the REJECT tests too.

use std::path::Path;

use sluice_config::iptables::{parse, TableKind, Target, TargetExt};

use super::*;
use crate::wire::{self, checksum};

const R0_MAC: [u8; 6] = [0x72, 0xce, 0xd7, 0x66, 0xb9, 0x1a];
const A0_MAC: [u8; 6] = [0x5a, 0xb7, 0x09, 0x3f, 0x8e, 0x6b];
/// The sender and the router of the test packets.
pub(in crate::rules) const A: [u8; 4] = [10, 99, 0, 1];
pub(in crate::rules) const R: [u8; 4] = [10, 99, 0, 2];

fn spec(opts: &str) -> LogSpec {
    let rs = parse(
        &format!("*filter\n-A INPUT -j LOG {opts}\nCOMMIT\n"),
        Path::new("t"),
    )
    .expect("parses");
    match &rs
        .table(TableKind::Filter)
        .unwrap()
        .chain("INPUT")
        .unwrap()
        .rules[0]
        .target
    {
        Target::Ext(TargetExt::Log(l)) => LogSpec::compile(l),
        other => panic!("not LOG: {other:?}"),
    }
}

/// An IPv4 packet from [`A`] to [`R`], header checksum filled.
pub(in crate::rules) fn ip4(
    proto: u8,
    tos: u8,
    ttl: u8,
    id: u16,
    frag: u16,
    opts: &[u8],
    payload: &[u8],
) -> Vec<u8> {
    ip4_between(A, R, proto, tos, ttl, id, frag, opts, payload)
}

#[allow(clippy::too_many_arguments)]
fn ip4_between(
    src: [u8; 4],
    dst: [u8; 4],
    proto: u8,
    tos: u8,
    ttl: u8,
    id: u16,
    frag: u16,
    opts: &[u8],
    payload: &[u8],
) -> Vec<u8> {
    let ihl = 5 + opts.len() / 4;
    let total = (ihl * 4 + payload.len()) as u16;
    let mut h = vec![(4 << 4) | ihl as u8, tos];
    h.extend_from_slice(&total.to_be_bytes());
    h.extend_from_slice(&id.to_be_bytes());
    h.extend_from_slice(&frag.to_be_bytes());
    h.extend_from_slice(&[ttl, proto, 0, 0]);
    h.extend_from_slice(&src);
    h.extend_from_slice(&dst);
    h.extend_from_slice(opts);
    let c = checksum::checksum(&h);
    h[10..12].copy_from_slice(&c.to_be_bytes());
    h.extend_from_slice(payload);
    h
}

/// A packet from [`R`] back to [`A`], TOS 0, TTL 60: what the ICMP
/// errors below quote.
fn inner_ip4(proto: u8, id: u16, frag: u16, opts: &[u8], payload: &[u8]) -> Vec<u8> {
    ip4_between(R, A, proto, 0, 60, id, frag, opts, payload)
}

fn eth(ip: &[u8]) -> Vec<u8> {
    let mut f = Vec::new();
    f.extend_from_slice(&R0_MAC);
    f.extend_from_slice(&A0_MAC);
    f.extend_from_slice(&[0x08, 0x00]);
    f.extend_from_slice(ip);
    f
}

/// A TCP segment, checksum left 0.
#[allow(clippy::too_many_arguments)]
pub(in crate::rules) fn tcp(
    sport: u16,
    dport: u16,
    seq: u32,
    ack: u32,
    flags: u8,
    win: u16,
    opts: &[u8],
    data: &[u8],
) -> Vec<u8> {
    let doff = 5 + opts.len() / 4;
    let mut t = Vec::new();
    t.extend_from_slice(&sport.to_be_bytes());
    t.extend_from_slice(&dport.to_be_bytes());
    t.extend_from_slice(&seq.to_be_bytes());
    t.extend_from_slice(&ack.to_be_bytes());
    t.extend_from_slice(&[(doff as u8) << 4, flags]);
    t.extend_from_slice(&win.to_be_bytes());
    t.extend_from_slice(&[0, 0, 0, 0]);
    t.extend_from_slice(opts);
    t.extend_from_slice(data);
    t
}

fn udp(sport: u16, dport: u16, data: &[u8]) -> Vec<u8> {
    let mut u = Vec::new();
    u.extend_from_slice(&sport.to_be_bytes());
    u.extend_from_slice(&dport.to_be_bytes());
    u.extend_from_slice(&(8 + data.len() as u16).to_be_bytes());
    u.extend_from_slice(&[0, 1]);
    u.extend_from_slice(data);
    u
}

fn icmp(ty: u8, code: u8, rest: [u8; 4], data: &[u8]) -> Vec<u8> {
    let mut m = vec![ty, code, 0, 0];
    m.extend_from_slice(&rest);
    m.extend_from_slice(data);
    m
}

/// An ICMP message from [`A`] to [`R`]: TTL 64, ID 0x1234, no flags.
fn icmp_ip4(ty: u8, code: u8, rest: [u8; 4], data: &[u8]) -> Vec<u8> {
    ip4(1, 0, 64, 0x1234, 0, &[], &icmp(ty, code, rest, data))
}

fn ctx_in() -> LogContext<'static> {
    LogContext {
        in_iface: Some("r0"),
        ..LogContext::default()
    }
}

fn line_with(spec: &LogSpec, ip: &[u8], ctx: &LogContext<'_>) -> String {
    let f = eth(ip);
    let meta = wire::parse(&f).expect("frame parses");
    LogRecord::capture(spec, &f, &meta, ctx, 0)
        .expect("IPv4")
        .line()
}

const MAC: &str = "MAC=72:ce:d7:66:b9:1a:5a:b7:09:3f:8e:6b:08:00 ";

// Every expected line below is the kernel's (Linux 6.18, `dmesg`) for
// the same packet and rule.

#[test]
fn tcp_lines() {
    let syn = ip4(
        6,
        0x10,
        64,
        0x1234,
        0x4000,
        &[],
        &tcp(
            40001,
            9,
            1000,
            0,
            0x02,
            64240,
            &[2, 4, 5, 0xb4, 1, 1, 4, 2],
            b"0123456789",
        ),
    );
    assert_eq!(
        line_with(&spec("--log-prefix \"LT: \""), &syn, &ctx_in()),
        format!("LT: IN=r0 OUT= {MAC}SRC=10.99.0.1 DST=10.99.0.2 LEN=58 TOS=0x10 PREC=0x00 TTL=64 ID=4660 DF PROTO=TCP SPT=40001 DPT=9 WINDOW=64240 RES=0x00 SYN URGP=0 ")
    );
    assert_eq!(
        line_with(
            &spec("--log-prefix \"LTT: \" --log-tcp-sequence --log-tcp-options --log-macdecode"),
            &syn,
            &ctx_in()
        ),
        "LTT: IN=r0 OUT= MACSRC=5a:b7:09:3f:8e:6b MACDST=72:ce:d7:66:b9:1a MACPROTO=0800 SRC=10.99.0.1 DST=10.99.0.2 LEN=58 TOS=0x10 PREC=0x00 TTL=64 ID=4660 DF PROTO=TCP SPT=40001 DPT=9 SEQ=1000 ACK=0 WINDOW=64240 RES=0x00 SYN URGP=0 OPT (020405B401010402) "
    );
    let ack = ip4(
        6,
        0,
        64,
        0x1234,
        0x4000,
        &[],
        &tcp(40002, 9, 2000, 5555, 0x18, 64240, &[], b"abc"),
    );
    assert_eq!(
        line_with(&spec("--log-prefix \"LT: \""), &ack, &ctx_in()),
        format!("LT: IN=r0 OUT= {MAC}SRC=10.99.0.1 DST=10.99.0.2 LEN=43 TOS=0x00 PREC=0x00 TTL=64 ID=4660 DF PROTO=TCP SPT=40002 DPT=9 WINDOW=64240 RES=0x00 ACK PSH URGP=0 ")
    );
    let all = ip4(
        6,
        0x03,
        64,
        0x1234,
        0x4000,
        &[],
        &tcp(40010, 9, 1, 2, 0xff, 1, &[], b""),
    );
    assert_eq!(
        line_with(&spec("--log-prefix \"LT: \""), &all, &ctx_in()),
        format!("LT: IN=r0 OUT= {MAC}SRC=10.99.0.1 DST=10.99.0.2 LEN=40 TOS=0x02 PREC=0x00 TTL=64 ID=4660 DF PROTO=TCP SPT=40010 DPT=9 WINDOW=1 RES=0x00 CWR ECE URG ACK PSH RST SYN FIN URGP=0 ")
    );
    let short = ip4(6, 0, 64, 0x1234, 0x4000, &[], &[0x9c, 0x4a, 0, 9, 0, 0]);
    assert_eq!(
        line_with(&spec("--log-prefix \"LT: \""), &short, &ctx_in()),
        format!("LT: IN=r0 OUT= {MAC}SRC=10.99.0.1 DST=10.99.0.2 LEN=26 TOS=0x00 PREC=0x00 TTL=64 ID=4660 DF PROTO=TCP INCOMPLETE [6 bytes] ")
    );
}

#[test]
fn tcp_reserved_bits_fragment_and_truncated_options() {
    let mut seg = tcp(1, 2, 0, 0, 0x10, 0, &[], b"");
    seg[12] |= 0x0f;
    let s = line_with(
        &spec(""),
        &ip4(6, 0, 64, 1, 0, &[], &seg),
        &LogContext::default(),
    );
    assert!(s.contains(" RES=0x3c ACK URGP=0 "), "{s}");
    // No input interface: no MAC.
    assert!(s.starts_with("IN= OUT= SRC="), "{s}");
    let s = line_with(
        &spec(""),
        &ip4(6, 0, 64, 1, 0x2003, &[], &[0; 8]),
        &LogContext::default(),
    );
    assert!(s.ends_with("ID=1 MF FRAG:3 PROTO=TCP "), "{s}");
    // Options claimed past the end: "OPT (TRUNCATED)" and nothing after.
    let mut seg = tcp(1, 2, 0, 0, 0x02, 0, &[], b"");
    seg[12] = 0xf0;
    let c = LogContext {
        mark: 7,
        ..LogContext::default()
    };
    let s = line_with(
        &spec("--log-tcp-options"),
        &ip4(6, 0, 64, 1, 0, &[], &seg),
        &c,
    );
    assert!(s.ends_with("SYN URGP=0 OPT (TRUNCATED)"), "{s}");
}

#[test]
fn udp_lines() {
    let mut data: Vec<u8> = (0..=255u8).chain(0..=255u8).collect();
    data.extend_from_slice(&[0; 88]);
    let big = ip4(17, 0xff, 63, 0x1234, 0x4000, &[], &udp(40000, 9, &data));
    assert_eq!(
        line_with(&spec("--log-prefix \"LTU: \" --log-ip-options"), &big, &ctx_in()),
        format!("LTU: IN=r0 OUT= {MAC}SRC=10.99.0.1 DST=10.99.0.2 LEN=628 TOS=0x1E PREC=0xE0 TTL=63 ID=4660 DF PROTO=UDP SPT=40000 DPT=9 LEN=608 ")
    );
    let opts = ip4(
        17,
        0,
        64,
        0x1234,
        0x4000,
        &[148, 4, 0, 0],
        &udp(40006, 9, b"o"),
    );
    assert_eq!(
        line_with(&spec("--log-prefix \"LTU: \" --log-ip-options"), &opts, &ctx_in()),
        format!("LTU: IN=r0 OUT= {MAC}SRC=10.99.0.1 DST=10.99.0.2 LEN=33 TOS=0x00 PREC=0x00 TTL=64 ID=4660 DF OPT (94040000) PROTO=UDP SPT=40006 DPT=9 LEN=9 ")
    );
    assert_eq!(
        line_with(&spec("--log-prefix \"LT: \""), &opts, &ctx_in()),
        format!("LT: IN=r0 OUT= {MAC}SRC=10.99.0.1 DST=10.99.0.2 LEN=33 TOS=0x00 PREC=0x00 TTL=64 ID=4660 DF PROTO=UDP SPT=40006 DPT=9 LEN=9 ")
    );
    let short = ip4(17, 0, 64, 0x1234, 0x4000, &[], &[0x9c, 0x4a, 0]);
    let c = LogContext {
        in_iface: Some("r0"),
        mark: 0x2a,
        ..LogContext::default()
    };
    // INCOMPLETE ends the UDP line: no MARK.
    assert_eq!(
        line_with(&spec("--log-prefix \"LT: \""), &short, &c),
        format!("LT: IN=r0 OUT= {MAC}SRC=10.99.0.1 DST=10.99.0.2 LEN=23 TOS=0x00 PREC=0x00 TTL=64 ID=4660 DF PROTO=UDP INCOMPLETE [3 bytes] ")
    );
    // UDP length field as sent, not as received.
    let mut u = udp(40011, 9, &[0; 16]);
    u.truncate(16);
    let cut = ip4(17, 0, 64, 0x1234, 0, &[], &u);
    assert_eq!(
        line_with(&spec("--log-prefix \"LT: \""), &cut, &ctx_in()),
        format!("LT: IN=r0 OUT= {MAC}SRC=10.99.0.1 DST=10.99.0.2 LEN=36 TOS=0x00 PREC=0x00 TTL=64 ID=4660 PROTO=UDP SPT=40011 DPT=9 LEN=24 ")
    );
    let lite = ip4(136, 0, 64, 1, 0, &[], &udp(1, 2, b""));
    assert!(line_with(&spec(""), &lite, &ctx_in()).ends_with("PROTO=UDPLITE SPT=1 DPT=2 LEN=8 "));
}

#[test]
fn icmp_lines() {
    let lt = spec("--log-prefix \"LT: \"");
    let ping = icmp_ip4(8, 0, [0x42, 0x42, 0, 7], b"hello");
    assert_eq!(
        line_with(&lt, &ping, &ctx_in()),
        format!("LT: IN=r0 OUT= {MAC}SRC=10.99.0.1 DST=10.99.0.2 LEN=33 TOS=0x00 PREC=0x00 TTL=64 ID=4660 PROTO=ICMP TYPE=8 CODE=0 ID=16962 SEQ=7 ")
    );
    let inner = inner_ip4(17, 0x4444, 0x4000, &[], &udp(53, 40000, b"zzzzzzzz"));
    let unreach = icmp_ip4(3, 3, [0; 4], &inner[..28]);
    assert_eq!(
        line_with(&lt, &unreach, &ctx_in()),
        format!("LT: IN=r0 OUT= {MAC}SRC=10.99.0.1 DST=10.99.0.2 LEN=56 TOS=0x00 PREC=0x00 TTL=64 ID=4660 PROTO=ICMP TYPE=3 CODE=3 [SRC=10.99.0.2 DST=10.99.0.1 LEN=36 TOS=0x00 PREC=0x00 TTL=60 ID=17476 DF PROTO=UDP SPT=53 DPT=40000 LEN=16 ] ")
    );
    let fragneed = icmp_ip4(3, 4, [0, 0, 0x05, 0x78], &inner);
    assert_eq!(
        line_with(&lt, &fragneed, &ctx_in()),
        format!("LT: IN=r0 OUT= {MAC}SRC=10.99.0.1 DST=10.99.0.2 LEN=64 TOS=0x00 PREC=0x00 TTL=64 ID=4660 PROTO=ICMP TYPE=3 CODE=4 [SRC=10.99.0.2 DST=10.99.0.1 LEN=36 TOS=0x00 PREC=0x00 TTL=60 ID=17476 DF PROTO=UDP SPT=53 DPT=40000 LEN=16 ] MTU=1400 ")
    );
    let innert = inner_ip4(
        6,
        0x4445,
        0x4000,
        &[],
        &tcp(22, 40000, 1, 2, 0x12, 64240, &[], b""),
    );
    let ttlex = icmp_ip4(11, 0, [0; 4], &innert[..28]);
    assert_eq!(
        line_with(&lt, &ttlex, &ctx_in()),
        format!("LT: IN=r0 OUT= {MAC}SRC=10.99.0.1 DST=10.99.0.2 LEN=56 TOS=0x00 PREC=0x00 TTL=64 ID=4660 PROTO=ICMP TYPE=11 CODE=0 [SRC=10.99.0.2 DST=10.99.0.1 LEN=40 TOS=0x00 PREC=0x00 TTL=60 ID=17477 DF PROTO=TCP INCOMPLETE [8 bytes] ] ")
    );
    let redirect = icmp_ip4(5, 1, [10, 99, 0, 9], &inner);
    assert_eq!(
        line_with(&lt, &redirect, &ctx_in()),
        format!("LT: IN=r0 OUT= {MAC}SRC=10.99.0.1 DST=10.99.0.2 LEN=64 TOS=0x00 PREC=0x00 TTL=64 ID=4660 PROTO=ICMP TYPE=5 CODE=1 GATEWAY=10.99.0.9 [SRC=10.99.0.2 DST=10.99.0.1 LEN=36 TOS=0x00 PREC=0x00 TTL=60 ID=17476 DF PROTO=UDP SPT=53 DPT=40000 LEN=16 ] ")
    );
    let param = icmp_ip4(12, 0, [20, 0, 0, 0], &inner);
    assert_eq!(
        line_with(&lt, &param, &ctx_in()),
        format!("LT: IN=r0 OUT= {MAC}SRC=10.99.0.1 DST=10.99.0.2 LEN=64 TOS=0x00 PREC=0x00 TTL=64 ID=4660 PROTO=ICMP TYPE=12 CODE=0 PARAMETER=20 ")
    );
    let ts = icmp_ip4(13, 0, [0, 5, 0, 6], &[0; 8]);
    assert_eq!(
        line_with(&lt, &ts, &ctx_in()),
        format!("LT: IN=r0 OUT= {MAC}SRC=10.99.0.1 DST=10.99.0.2 LEN=36 TOS=0x00 PREC=0x00 TTL=64 ID=4660 PROTO=ICMP TYPE=13 CODE=0 INCOMPLETE [16 bytes] ")
    );
    let ts = icmp_ip4(13, 0, [0, 5, 0, 6], &[0; 4]);
    assert!(line_with(&lt, &ts, &ctx_in()).ends_with("TYPE=13 CODE=0 INCOMPLETE [12 bytes] "));
}

#[test]
fn icmp_edge_cases() {
    let none = spec("");
    // An error quoting fewer than 20 bytes: the kernel asks for 28 bytes
    // first, so this is INCOMPLETE, not TRUNCATED.
    let short = ip4(1, 0, 64, 1, 0, &[], &icmp(3, 1, [0; 4], &[0x45; 12]));
    assert!(line_with(&none, &short, &ctx_in()).ends_with("TYPE=3 CODE=1 INCOMPLETE [20 bytes] "));
    // Less than an ICMP header.
    let tiny = ip4(1, 0, 64, 1, 0, &[], &[8, 0, 0]);
    let c = LogContext {
        mark: 1,
        ..LogContext::default()
    };
    // ICMP INCOMPLETE does not stop the line: MARK follows.
    assert!(line_with(&none, &tiny, &c).ends_with("PROTO=ICMP INCOMPLETE [3 bytes] MARK=0x1 "));
    // A fragment prints the protocol only.
    let frag = ip4(1, 0, 64, 1, 0x0010, &[], &[0; 8]);
    assert!(line_with(&none, &frag, &c).ends_with("FRAG:16 PROTO=ICMP MARK=0x1 "));
    // An error in an error is not opened; inner IP options with
    // --log-ip-options; an inner header whose IHL points past the end.
    let inner_err = inner_ip4(1, 7, 0, &[], &icmp(3, 4, [0, 0, 0x05, 0xdc], &[0; 20]));
    let outer = ip4(1, 0, 64, 1, 0, &[], &icmp(11, 0, [0; 4], &inner_err));
    assert!(line_with(&none, &outer, &ctx_in())
        .ends_with("[SRC=10.99.0.2 DST=10.99.0.1 LEN=48 TOS=0x00 PREC=0x00 TTL=60 ID=7 PROTO=ICMP TYPE=3 CODE=4 MTU=1500 ] "));
    let with_opts = inner_ip4(17, 7, 0, &[1, 1, 1, 0], &udp(1, 2, b""));
    let outer = ip4(1, 0, 64, 1, 0, &[], &icmp(3, 3, [0; 4], &with_opts[..24]));
    assert!(line_with(&spec("--log-ip-options"), &outer, &ctx_in())
        .ends_with("[SRC=10.99.0.2 DST=10.99.0.1 LEN=32 TOS=0x00 PREC=0x00 TTL=60 ID=7 OPT (01010100) PROTO=UDP INCOMPLETE [0 bytes] ] "));
    let mut far = with_opts.clone();
    far[0] = 0x4f; // IHL 60 bytes, 32 quoted
    let outer = ip4(1, 0, 64, 1, 0, &[], &icmp(3, 3, [0; 4], &far));
    let s = line_with(&spec("--log-ip-options"), &outer, &ctx_in());
    assert!(s.ends_with("TTL=60 ID=7 TRUNCATED] "), "{s}");
    let s = line_with(&none, &outer, &ctx_in());
    assert!(
        s.ends_with("ID=7 PROTO=UDP INCOMPLETE [4294967268 bytes] ] "),
        "{s}"
    );
}

#[test]
fn other_protocols_mark_and_uid() {
    let lt = spec("--log-prefix \"LT: \"");
    let c = LogContext {
        in_iface: Some("r0"),
        mark: 0x2a,
        ..LogContext::default()
    };
    assert_eq!(
        line_with(&lt, &ip4(99, 0, 64, 0x1234, 0x4000, &[], b"abcd"), &c),
        format!("LT: IN=r0 OUT= {MAC}SRC=10.99.0.1 DST=10.99.0.2 LEN=24 TOS=0x00 PREC=0x00 TTL=64 ID=4660 DF PROTO=99 MARK=0x2a ")
    );
    let esp = ip4(
        50,
        0,
        64,
        0x1234,
        0x4000,
        &[],
        &[0x12, 0x34, 0xab, 0xcd, 0, 0, 0, 1],
    );
    assert_eq!(
        line_with(&lt, &esp, &ctx_in()),
        format!("LT: IN=r0 OUT= {MAC}SRC=10.99.0.1 DST=10.99.0.2 LEN=28 TOS=0x00 PREC=0x00 TTL=64 ID=4660 DF PROTO=ESP SPI=0x1234abcd ")
    );
    let mut ah = vec![6, 4, 0, 0, 0xde, 0xad, 0xbe, 0xef, 0, 0, 0, 1];
    ah.extend_from_slice(&[0; 12]);
    assert_eq!(
        line_with(&lt, &ip4(51, 0, 64, 0x1234, 0x4000, &[], &ah), &ctx_in()),
        format!("LT: IN=r0 OUT= {MAC}SRC=10.99.0.1 DST=10.99.0.2 LEN=44 TOS=0x00 PREC=0x00 TTL=64 ID=4660 DF PROTO=AH SPI=0xdeadbeef ")
    );
    // AH fragments print nothing at all; ESP ones their name.
    assert!(line_with(&lt, &ip4(51, 0, 64, 1, 1, &[], &ah), &ctx_in()).ends_with("FRAG:1 "));
    assert!(
        line_with(&lt, &ip4(50, 0, 64, 1, 1, &[], &ah), &ctx_in()).ends_with("FRAG:1 PROTO=ESP ")
    );
    assert!(
        line_with(&lt, &ip4(50, 0, 64, 1, 0, &[], &[1, 2]), &ctx_in())
            .ends_with("PROTO=ESP INCOMPLETE [2 bytes] ")
    );
    // The CE ("evil") bit.
    assert!(
        line_with(&lt, &ip4(99, 0, 64, 1, 0x8000, &[], b""), &ctx_in())
            .contains(" ID=1 CE PROTO=99 ")
    );
    // --log-uid with a local socket; an OUTPUT packet has no MAC.
    let out = LogContext {
        out_iface: Some("eth1"),
        uid_gid: Some((1000, 100)),
        mark: 0xffff_ffff,
        ..LogContext::default()
    };
    let udp4 = ip4(17, 0, 64, 1, 0, &[], &udp(5, 6, b""));
    assert_eq!(
        line_with(&spec("--log-uid"), &udp4, &out),
        "IN= OUT=eth1 SRC=10.99.0.1 DST=10.99.0.2 LEN=28 TOS=0x00 PREC=0x00 TTL=64 ID=1 PROTO=UDP SPT=5 DPT=6 LEN=8 UID=1000 GID=100 MARK=0xffffffff "
    );
    assert!(!line_with(&spec(""), &udp4, &out).contains("UID="));
}

#[test]
fn record_fields_are_structured() {
    let s = spec("--log-prefix p: --log-level info --log-tcp-sequence");
    assert_eq!(s.level, LogLevel::Info);
    assert_eq!(s.prefix.as_str(), "p:");
    let f = eth(&ip4(
        6,
        0,
        64,
        9,
        0x4000,
        &[],
        &tcp(1, 2, 3, 4, 0x12, 5, &[], b""),
    ));
    let meta = wire::parse(&f).unwrap();
    let c = LogContext {
        in_iface: Some("a-very-long-interface-name"),
        out_iface: Some("wan"),
        ..LogContext::default()
    };
    let r = LogRecord::capture(&s, &f, &meta, &c, 77).unwrap();
    assert_eq!(r.time_ns, 77);
    assert_eq!(r.in_iface.as_str(), "a-very-long-int");
    assert_eq!(r.out_iface.as_str(), "wan");
    assert_eq!(r.mac.unwrap().src, MacAddr(A0_MAC));
    let IpLog::V4(ip) = r.ip else {
        panic!("not IPv4: {:?}", r.ip)
    };
    assert_eq!(ip.id, 9);
    match ip.l4 {
        L4Log::Tcp(t) => {
            assert_eq!(
                (t.sport, t.dport, t.seq_ack, t.window, t.flags),
                (1, 2, Some((3, 4)), 5, 0x12)
            );
        }
        other => panic!("{other:?}"),
    }
    assert!(r.inner.is_none());
    // IPv6 (the rule engine runs ip6tables rules on it): no next header.
    let mut v6 = vec![0; 14];
    v6[12..14].copy_from_slice(&[0x86, 0xdd]);
    v6.extend_from_slice(&[0x60, 0, 0, 0, 0, 0, 59, 64]);
    v6.extend_from_slice(&[0; 32]);
    let meta = wire::parse(&v6).unwrap();
    let r = LogRecord::capture(&s, &v6, &meta, &c, 0).expect("IPv6 is logged");
    assert!(
        r.line()
            .ends_with(" LEN=40 TC=0 HOPLIMIT=64 FLOWLBL=0 PROTO=59 "),
        "{}",
        r.line()
    );
}

#[test]
fn ring_overflow_counts_and_never_blocks() {
    let s = spec("--log-prefix x");
    let f = eth(&ip4(17, 0, 64, 1, 0, &[], &udp(1, 2, b"")));
    let meta = wire::parse(&f).unwrap();
    let mut ring = LogRing::new(3);
    let results: Vec<bool> = (0..5u64)
        .map(|t| ring.log(&s, &f, &meta, &ctx_in(), t))
        .collect();
    assert_eq!(results, [true, true, true, false, false]);
    assert_eq!(ring.ring_full(), 2);
    assert_eq!(ring.len(), 3);
    assert_eq!(ring.pop().unwrap().time_ns, 0);
    assert!(ring.log(&s, &f, &meta, &ctx_in(), 9));
    let times: Vec<u64> = ring.drain().map(|r| r.time_ns).collect();
    assert_eq!(times, [1, 2, 9]);
    assert!(ring.is_empty());
    assert_eq!(ring.capacity(), 3);
    assert_eq!(ring.ring_full(), 2);
    assert_eq!(RING_FULL, "log.ring_full");
}

#[test]
fn any_bytes_never_panic() {
    use rand::{Rng, SeedableRng};
    let mut rng = rand::rngs::StdRng::seed_from_u64(3);
    let s = spec("--log-ip-options --log-tcp-options --log-tcp-sequence");
    for _ in 0..20_000 {
        let proto = [1u8, 6, 17, 50, 51, 136, 99][rng.gen_range(0..7)];
        let n = rng.gen_range(0..80);
        let payload: Vec<u8> = (0..n).map(|_| rng.gen()).collect();
        let frag = if rng.gen_bool(0.1) { 1 } else { 0 };
        let f = eth(&ip4(proto, rng.gen(), 64, 1, frag, &[], &payload));
        let meta = wire::parse(&f).unwrap();
        if let Some(r) = LogRecord::capture(&s, &f, &meta, &ctx_in(), 0) {
            let _ = r.line();
        }
    }
}
