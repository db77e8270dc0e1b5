//! The state machine against a fake server and a fake clock: every wait is
//! an `Instant` the test makes, nothing sleeps.

use smoltcp::wire::{DhcpPacket, DhcpRepr, EthernetFrame, Ipv4Packet, UdpPacket};

use super::*;

const MAC: [u8; 6] = [2, 0, 0, 0, 0, 1];
const SERVER_MAC: [u8; 6] = [2, 0, 0, 0, 0, 0x99];
const SERVER: Ipv4Addr = Ipv4Addr::new(203, 0, 113, 1);

/// What the fake server reads of a client frame.
#[derive(Debug)]
struct Sent {
    kind: Msg,
    xid: u32,
    secs: u16,
    ciaddr: Ipv4Addr,
    requested: Option<Ipv4Addr>,
    server_id: Option<Ipv4Addr>,
    src: Ipv4Addr,
    dst: Ipv4Addr,
    dst_mac: [u8; 6],
}

fn read(f: &[u8]) -> Sent {
    let e = EthernetFrame::new_checked(f).unwrap();
    let ip = Ipv4Packet::new_checked(e.payload()).unwrap();
    assert!(ip.verify_checksum());
    let u = UdpPacket::new_checked(ip.payload()).unwrap();
    assert_eq!((u.src_port(), u.dst_port()), (68, 67));
    let d = DhcpPacket::new_checked(u.payload()).unwrap();
    let r = DhcpRepr::parse(&d).unwrap();
    assert_eq!(r.client_hardware_address.0, MAC);
    assert_eq!(e.src_addr().0, MAC);
    Sent {
        kind: r.message_type,
        xid: r.transaction_id,
        secs: r.secs,
        ciaddr: r.client_ip,
        requested: r.requested_ip,
        server_id: r.server_identifier,
        src: ip.src_addr(),
        dst: ip.dst_addr(),
        dst_mac: e.dst_addr().0,
    }
}

fn one(c: &mut Client) -> Sent {
    let f = c.take_frames();
    assert_eq!(f.len(), 1, "one frame sent");
    read(&f[0])
}

fn answer(kind: Msg, xid: u32, yiaddr: Ipv4Addr) -> Vec<u8> {
    frame::server_frame(
        &In {
            kind,
            xid,
            chaddr: MAC,
            yiaddr,
            server_id: Some(SERVER),
            subnet_mask: Some(Ipv4Addr::new(255, 255, 255, 0)),
            router: Some(SERVER),
            lease: Some(120),
            t1: Some(20),
            t2: Some(50),
            src_mac: SERVER_MAC,
            src: SERVER,
        },
        MAC,
        yiaddr,
    )
}

fn s(n: u64) -> Duration {
    Duration::from_secs(n)
}

/// A client bound to `addr` at `t0`; its last exchange began at `t0`.
fn bound(t0: Instant, addr: Ipv4Addr) -> Client {
    let mut c = Client::new(MAC, 42, t0);
    c.poll(t0);
    let d = one(&mut c);
    assert_eq!(d.kind, Msg::Discover);
    assert_eq!(
        (d.src, d.dst, d.dst_mac),
        (Ipv4Addr::UNSPECIFIED, Ipv4Addr::BROADCAST, BROADCAST_MAC)
    );
    c.input(&answer(Msg::Offer, d.xid, addr), t0);
    let r = one(&mut c);
    assert_eq!(r.kind, Msg::Request);
    assert_eq!(
        (r.xid, r.requested, r.server_id),
        (d.xid, Some(addr), Some(SERVER))
    );
    assert_eq!(r.ciaddr, Ipv4Addr::UNSPECIFIED);
    c.input(&answer(Msg::Ack, r.xid, addr), t0);
    assert_eq!(c.state(), State::Bound);
    c
}

/// A client bound to `addr` at `t0` that has just sent its renewal at T1
/// (20 s); the renewal.
fn renewing(t0: Instant, addr: Ipv4Addr) -> (Client, Sent) {
    let mut c = bound(t0, addr);
    c.take_events();
    c.poll(t0 + s(20));
    let r = one(&mut c);
    (c, r)
}

#[test]
fn discover_offer_request_ack_gives_the_lease() {
    let t0 = Instant::now();
    let addr = Ipv4Addr::new(203, 0, 113, 50);
    let mut c = bound(t0, addr);
    let ev = c.take_events();
    let [Event::Acquired(l)] = ev[..] else {
        panic!("{ev:?}")
    };
    assert_eq!(
        (l.addr, l.prefix, l.router, l.server),
        (addr, 24, Some(SERVER), SERVER)
    );
    assert_eq!((l.lease_secs, l.t1_secs, l.t2_secs), (120, 20, 50));
    assert_eq!(l.server_mac, SERVER_MAC);
    assert_eq!(c.next_timer(), t0 + s(20));
    assert_eq!(c.counts.acquired, 1);
}

#[test]
fn discover_retransmits_with_backoff() {
    let t0 = Instant::now();
    let mut c = Client::new(MAC, 7, t0);
    c.poll(t0);
    let first = one(&mut c);
    let mut at = t0;
    for wait in [4, 8, 16, 32, 64, 64] {
        c.poll(at + s(wait) - Duration::from_millis(1));
        assert!(c.take_frames().is_empty(), "not before {wait}s");
        at += s(wait);
        c.poll(at);
        let d = one(&mut c);
        assert_eq!((d.kind, d.xid), (Msg::Discover, first.xid));
        assert_eq!(u64::from(d.secs), (at - t0).as_secs());
    }
    assert_eq!(c.state(), State::Selecting);
}

#[test]
fn answers_for_others_are_ignored() {
    let t0 = Instant::now();
    let mut c = Client::new(MAC, 7, t0);
    c.poll(t0);
    let d = one(&mut c);
    c.input(
        &answer(Msg::Offer, d.xid ^ 1, Ipv4Addr::new(10, 0, 0, 9)),
        t0,
    );
    c.input(&answer(Msg::Ack, d.xid, Ipv4Addr::new(10, 0, 0, 9)), t0);
    c.input(&[0u8; 60], t0);
    assert_eq!(c.state(), State::Selecting);
    assert_eq!(c.counts.ignored, 3);
    assert!(c.take_frames().is_empty() && c.take_events().is_empty());
}

#[test]
fn request_unanswered_four_times_starts_over() {
    let t0 = Instant::now();
    let mut c = Client::new(MAC, 7, t0);
    c.poll(t0);
    let d = one(&mut c);
    c.input(&answer(Msg::Offer, d.xid, Ipv4Addr::new(10, 0, 0, 9)), t0);
    one(&mut c);
    let mut at = t0;
    for wait in [4, 8, 16] {
        at += s(wait);
        c.poll(at);
        assert_eq!(one(&mut c).kind, Msg::Request);
    }
    at += s(32);
    c.poll(at);
    let again = one(&mut c);
    assert_eq!(again.kind, Msg::Discover);
    assert_ne!(again.xid, d.xid);
}

#[test]
fn renews_at_t1_unicast_then_rebinds_at_t2_then_expires() {
    let t0 = Instant::now();
    let addr = Ipv4Addr::new(203, 0, 113, 50);
    let mut c = bound(t0, addr);
    c.take_events();
    c.poll(t0 + s(20) - Duration::from_millis(1));
    assert!(c.take_frames().is_empty());
    c.poll(t0 + s(20));
    let r = one(&mut c);
    assert_eq!(c.state(), State::Renewing);
    assert_eq!(r.kind, Msg::Request);
    assert_eq!(
        (r.ciaddr, r.src, r.dst, r.dst_mac),
        (addr, addr, SERVER, SERVER_MAC)
    );
    assert_eq!((r.requested, r.server_id), (None, None));
    // Half of the 30 s to T2 is under a minute: the next try is at T2,
    // in REBINDING, broadcast.
    assert_eq!(c.next_timer(), t0 + s(50));
    c.poll(t0 + s(50));
    let b = one(&mut c);
    assert_eq!(c.state(), State::Rebinding);
    assert_eq!(c.counts.rebinds, 1);
    assert_eq!(
        (b.ciaddr, b.src, b.dst, b.dst_mac),
        (addr, addr, Ipv4Addr::BROADCAST, BROADCAST_MAC)
    );
    assert_eq!(c.next_timer(), t0 + s(110));
    c.poll(t0 + s(110));
    one(&mut c);
    assert_eq!(c.next_timer(), t0 + s(120));
    assert!(c.take_events().is_empty(), "still bound until expiry");
    c.poll(t0 + s(120));
    let ev = c.take_events();
    assert!(
        matches!(ev[..], [Event::Lost { lease, why: "expired" }] if lease.addr == addr),
        "{ev:?}"
    );
    // and it starts over at once
    assert_eq!(one(&mut c).kind, Msg::Discover);
    assert_eq!(c.state(), State::Selecting);
    assert!(c.lease().is_none());
}

#[test]
fn renewal_ack_extends_the_lease() {
    let t0 = Instant::now();
    let addr = Ipv4Addr::new(203, 0, 113, 50);
    let t1 = t0 + s(20);
    let (mut c, r) = renewing(t0, addr);
    c.input(&answer(Msg::Ack, r.xid, addr), t1 + s(1));
    let ev = c.take_events();
    assert!(
        matches!(ev[..], [Event::Renewed(l)] if l.start == t1),
        "{ev:?}"
    );
    assert_eq!(c.state(), State::Bound);
    assert_eq!(c.next_timer(), t1 + s(20), "times count from the renewal");
    assert_eq!(c.counts.renewed, 1);
}

#[test]
fn nak_on_renewal_loses_the_address_and_starts_over() {
    let t0 = Instant::now();
    let addr = Ipv4Addr::new(203, 0, 113, 50);
    let (mut c, r) = renewing(t0, addr);
    c.input(&answer(Msg::Nak, r.xid, Ipv4Addr::UNSPECIFIED), t0 + s(20));
    let ev = c.take_events();
    assert!(
        matches!(ev[..], [Event::Lost { lease, why: "NAK from the server" }] if lease.addr == addr),
        "{ev:?}"
    );
    assert_eq!(c.state(), State::Init);
    c.poll(t0 + s(20));
    let d = one(&mut c);
    assert_eq!(d.kind, Msg::Discover);
    let new = Ipv4Addr::new(203, 0, 113, 100);
    c.input(&answer(Msg::Offer, d.xid, new), t0 + s(21));
    let r = one(&mut c);
    c.input(&answer(Msg::Ack, r.xid, new), t0 + s(21));
    assert!(matches!(c.take_events()[..], [Event::Acquired(l)] if l.addr == new));
}

#[test]
fn another_address_on_renewal_is_a_loss_and_a_new_lease() {
    let t0 = Instant::now();
    let addr = Ipv4Addr::new(203, 0, 113, 50);
    let (mut c, r) = renewing(t0, addr);
    let new = Ipv4Addr::new(203, 0, 113, 51);
    c.input(&answer(Msg::Ack, r.xid, new), t0 + s(20));
    let ev = c.take_events();
    assert!(
        matches!(ev[..], [Event::Lost { lease: o, .. }, Event::Acquired(n)] if o.addr == addr && n.addr == new),
        "{ev:?}"
    );
}

#[test]
fn a_late_poll_goes_through_every_due_timer() {
    let t0 = Instant::now();
    let mut c = bound(t0, Ipv4Addr::new(203, 0, 113, 50));
    c.take_events();
    c.poll(t0 + s(500));
    assert!(matches!(
        c.take_events()[..],
        [Event::Lost { why: "expired", .. }]
    ));
    let kinds: Vec<Msg> = c.take_frames().iter().map(|f| read(f).kind).collect();
    assert_eq!(kinds.last(), Some(&Msg::Discover));
}

#[test]
fn default_times_and_classful_prefix() {
    let t0 = Instant::now();
    let mut c = Client::new(MAC, 3, t0);
    c.poll(t0);
    let d = one(&mut c);
    let addr = Ipv4Addr::new(10, 1, 2, 3);
    let bare = |kind| {
        frame::server_frame(
            &In {
                kind,
                xid: d.xid,
                chaddr: MAC,
                yiaddr: addr,
                server_id: Some(SERVER),
                subnet_mask: None,
                router: None,
                lease: Some(3600),
                t1: None,
                t2: None,
                src_mac: SERVER_MAC,
                src: SERVER,
            },
            MAC,
            addr,
        )
    };
    c.input(&bare(Msg::Offer), t0);
    one(&mut c);
    c.input(&bare(Msg::Ack), t0);
    let [Event::Acquired(l)] = c.take_events()[..] else {
        panic!()
    };
    assert_eq!(
        (l.prefix, l.router, l.t1_secs, l.t2_secs),
        (8, None, 1800, 3150)
    );
}
