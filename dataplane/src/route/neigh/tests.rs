use super::*;

type Table = NeighTable<u32>;
type Actions = Vec<NeighAction<u32>>;

const P: PortId = PortId(1);
const MAC: Mac = [2, 0, 0, 0, 0, 1];
const MAC2: Mac = [2, 0, 0, 0, 0, 2];

fn gw() -> IpAddr {
    "10.0.2.254".parse().unwrap()
}

fn secs(t0: Instant, s: f64) -> Instant {
    t0 + Duration::from_secs_f64(s)
}

struct T {
    t: Table,
    t0: Instant,
}

impl T {
    fn new() -> Self {
        T {
            t: Table::new(NeighParams::default()),
            t0: Instant::now(),
        }
    }
    fn at(&self, s: f64) -> Instant {
        secs(self.t0, s)
    }
    fn send(&mut self, frame: u32, s: f64) -> Actions {
        let mut out = Vec::new();
        let now = self.at(s);
        self.t.resolve(P, gw(), frame, now, &mut |a| out.push(a));
        out
    }
    fn poll(&mut self, s: f64) -> Actions {
        let mut out = Vec::new();
        let now = self.at(s);
        self.t.poll(now, &mut |a| out.push(a));
        out
    }
    fn arp(&mut self, mac: Mac, kind: ArpInput, s: f64) -> Actions {
        let mut out = Vec::new();
        let now = self.at(s);
        self.t
            .arp_input(P, gw(), mac, kind, now, &mut |a| out.push(a));
        out
    }
    fn nd(&mut self, mac: Mac, kind: NdInput, s: f64) -> Actions {
        let mut out = Vec::new();
        let now = self.at(s);
        self.t
            .ndisc_input(P, gw(), mac, kind, now, &mut |a| out.push(a));
        out
    }
    fn state(&self) -> Option<NeighState> {
        self.t.get(P, gw()).map(|i| i.state)
    }
    /// A reachable entry confirmed at time 0.
    fn reachable() -> Self {
        let mut t = T::new();
        t.send(1, 0.0);
        t.arp(MAC, ArpInput::Reply, 0.0);
        assert_eq!(t.state(), Some(NeighState::Reachable));
        t
    }
}

fn bcast() -> NeighAction<u32> {
    NeighAction::Solicit {
        port: P,
        target: gw(),
        unicast: None,
    }
}
fn ucast() -> NeighAction<u32> {
    NeighAction::Solicit {
        port: P,
        target: gw(),
        unicast: Some(MAC),
    }
}
fn tx(frame: u32) -> NeighAction<u32> {
    NeighAction::Transmit {
        port: P,
        mac: MAC,
        frame,
    }
}
fn dropped(frame: u32, reason: NeighDrop) -> NeighAction<u32> {
    NeighAction::Drop {
        port: P,
        target: gw(),
        frame,
        reason,
    }
}

#[test]
fn resolve_queue_then_reply_sends_in_order() {
    let mut t = T::new();
    assert_eq!(t.send(1, 0.0), vec![bcast()]);
    assert_eq!(t.state(), Some(NeighState::Incomplete));
    assert_eq!(t.send(2, 0.1), vec![]);
    assert_eq!(t.t.get(P, gw()).unwrap().queued, 2);
    assert_eq!(t.t.get(P, gw()).unwrap().mac, None);
    assert_eq!(t.arp(MAC, ArpInput::Reply, 0.2), vec![tx(1), tx(2)]);
    assert_eq!(t.state(), Some(NeighState::Reachable));
    assert_eq!(t.send(3, 0.3), vec![tx(3)]);
    assert_eq!(t.t.get(P, gw()).unwrap().mac, Some(MAC));
}

#[test]
fn queue_bound_drops_oldest() {
    let mut t = T::new();
    t.send(1, 0.0);
    t.send(2, 0.0);
    t.send(3, 0.0);
    assert_eq!(t.send(4, 0.0), vec![dropped(1, NeighDrop::QueueFull)]);
    assert_eq!(t.send(5, 0.0), vec![dropped(2, NeighDrop::QueueFull)]);
    assert_eq!(t.t.stats().unres_discards, 2);
    assert_eq!(t.arp(MAC, ArpInput::Reply, 0.5), vec![tx(3), tx(4), tx(5)]);
    // A table with room for one frame.
    let mut one: NeighTable<u32, 1> = NeighTable::new(NeighParams::default());
    let mut out = Vec::new();
    let now = Instant::now();
    one.resolve(P, gw(), 1, now, &mut |a| out.push(a));
    one.resolve(P, gw(), 2, now, &mut |a| out.push(a));
    assert_eq!(out, vec![bcast(), dropped(1, NeighDrop::QueueFull)]);
}

#[test]
fn three_broadcasts_then_failed() {
    let mut t = T::new();
    assert_eq!(t.send(1, 0.0), vec![bcast()]);
    assert_eq!(t.t.next_timeout(), Some(t.at(1.0)));
    assert_eq!(t.poll(0.5), vec![], "gc runs, no timer due");
    assert_eq!(t.poll(1.0), vec![bcast()]);
    assert_eq!(t.poll(1.5), vec![]);
    t.send(2, 1.7);
    assert_eq!(t.poll(2.0), vec![bcast()]);
    assert_eq!(
        t.poll(3.0),
        vec![dropped(1, NeighDrop::Failed), dropped(2, NeighDrop::Failed)]
    );
    assert_eq!(t.state(), Some(NeighState::Failed));
    let s = t.t.stats();
    assert_eq!((s.solicits, s.res_failed, s.failed_drops), (3, 1, 2));
    // The next packet starts over.
    assert_eq!(t.send(3, 4.0), vec![bcast()]);
    assert_eq!(t.state(), Some(NeighState::Incomplete));
}

#[test]
fn failed_entry_is_collected() {
    let mut t = T::new();
    t.send(1, 0.0);
    for s in [1.0, 2.0, 3.0] {
        t.poll(s);
    }
    assert_eq!(t.state(), Some(NeighState::Failed));
    // Periodic gc every base_reachable_time / 2 = 15 s (first ran at 1 s).
    t.poll(10.0);
    assert_eq!(t.state(), Some(NeighState::Failed));
    t.poll(16.0);
    assert_eq!(t.state(), None);
    assert_eq!(t.t.stats().gc_removed, 1);
}

#[test]
fn reachable_to_stale_delay_probe_failed() {
    let mut t = T::reachable();
    assert_eq!(t.poll(29.0), vec![]);
    assert_eq!(t.state(), Some(NeighState::Reachable));
    // Not used since 0 s: STALE after reachable_time.
    assert_eq!(t.poll(30.5), vec![]);
    assert_eq!(t.state(), Some(NeighState::Stale));
    // Used while stale: sent at once, DELAY.
    assert_eq!(t.send(2, 40.0), vec![tx(2)]);
    assert_eq!(t.state(), Some(NeighState::Delay));
    assert_eq!(t.send(3, 41.0), vec![tx(3)]);
    // No confirmation within 5 s: PROBE, unicast to the cached address.
    assert_eq!(t.poll(45.0), vec![ucast()]);
    assert_eq!(t.state(), Some(NeighState::Probe));
    assert_eq!(t.send(4, 45.5), vec![tx(4)], "PROBE still uses the address");
    assert_eq!(t.poll(46.0), vec![ucast()]);
    assert_eq!(t.poll(47.0), vec![ucast()]);
    assert_eq!(t.poll(48.0), vec![]);
    assert_eq!(t.state(), Some(NeighState::Failed));
    assert_eq!(t.t.stats().res_failed, 1);
}

#[test]
fn probe_answered_becomes_reachable() {
    let mut t = T::reachable();
    t.poll(31.0);
    t.send(2, 40.0);
    assert_eq!(t.poll(45.0), vec![ucast()]);
    assert_eq!(t.arp(MAC, ArpInput::Reply, 45.2), vec![]);
    assert_eq!(t.state(), Some(NeighState::Reachable));
    assert_eq!(t.poll(46.0), vec![]);
}

#[test]
fn reachable_in_use_goes_to_delay_and_confirmation_returns() {
    let mut t = T::reachable();
    t.send(2, 28.0);
    // Used 2.5 s before the timer ran: DELAY, not STALE.
    t.poll(30.5);
    assert_eq!(t.state(), Some(NeighState::Delay));
    // An upper-layer confirmation within delay_first_probe_time.
    t.t.confirm(P, gw(), t.at(32.0));
    assert_eq!(t.poll(35.0), vec![]);
    assert_eq!(t.state(), Some(NeighState::Delay));
    assert_eq!(t.poll(35.5), vec![]);
    assert_eq!(t.state(), Some(NeighState::Reachable));
    // Next check at confirmed + reachable_time.
    assert_eq!(t.t.next_timeout().map(|n| n >= t.at(31.0)), Some(true));
    t.poll(62.5);
    assert_eq!(t.state(), Some(NeighState::Stale));
}

#[test]
fn arp_locktime_and_override() {
    let mut t = T::reachable();
    // Another reply within locktime (1 s) with another address: ignored.
    t.arp(MAC2, ArpInput::Reply, 0.5);
    assert_eq!(t.t.get(P, gw()).unwrap().mac, Some(MAC));
    // After locktime it replaces the address.
    t.arp(MAC2, ArpInput::Reply, 2.0);
    assert_eq!(t.t.get(P, gw()).unwrap().mac, Some(MAC2));
    assert_eq!(t.state(), Some(NeighState::Reachable));
    // A gratuitous ARP overrides at once, as STALE.
    t.arp(MAC, ArpInput::Other { gratuitous: true }, 2.1);
    assert_eq!(t.t.get(P, gw()).unwrap().mac, Some(MAC));
    assert_eq!(t.state(), Some(NeighState::Stale));
    // A request from a REACHABLE neighbour with the same address keeps
    // REACHABLE (new == STALE with the same lladdr: no change).
    t.arp(MAC, ArpInput::Reply, 5.0);
    t.arp(MAC, ArpInput::RequestToUs, 5.5);
    assert_eq!(t.state(), Some(NeighState::Reachable));
}

#[test]
fn unsolicited_information_only_creates_on_requests() {
    let mut t = T::new();
    t.arp(MAC, ArpInput::Reply, 0.0);
    t.arp(MAC, ArpInput::Other { gratuitous: true }, 0.0);
    assert_eq!(t.state(), None);
    t.arp(MAC, ArpInput::RequestToUs, 0.0);
    assert_eq!(t.state(), Some(NeighState::Stale));
    // Used: DELAY and sent.
    assert_eq!(t.send(1, 1.0), vec![tx(1)]);
    assert_eq!(t.state(), Some(NeighState::Delay));
}

#[test]
fn request_while_incomplete_sends_the_queue() {
    let mut t = T::new();
    t.send(1, 0.0);
    assert_eq!(t.arp(MAC, ArpInput::RequestToUs, 0.3), vec![tx(1)]);
    assert_eq!(t.state(), Some(NeighState::Stale));
}

#[test]
fn ndisc_override_flags() {
    let mut t = T::new();
    assert_eq!(t.send(1, 0.0), vec![bcast()]);
    let na = |solicited, override_flag| NdInput::Advertisement {
        solicited,
        override_flag,
    };
    assert_eq!(t.nd(MAC, na(true, false), 0.1), vec![tx(1)]);
    assert_eq!(t.state(), Some(NeighState::Reachable));
    // O=0 with another address: weak override -> STALE, address kept.
    t.nd(MAC2, na(false, false), 0.2);
    assert_eq!(t.state(), Some(NeighState::Stale));
    assert_eq!(t.t.get(P, gw()).unwrap().mac, Some(MAC));
    // O=0 again while STALE: ignored.
    t.nd(MAC2, na(true, false), 0.3);
    assert_eq!(t.t.get(P, gw()).unwrap().mac, Some(MAC));
    // O=1: replaced.
    t.nd(MAC2, na(true, true), 0.4);
    assert_eq!(t.t.get(P, gw()).unwrap().mac, Some(MAC2));
    assert_eq!(t.state(), Some(NeighState::Reachable));
    // An NS creates an entry for its sender.
    let other: IpAddr = "fd00:2::9".parse().unwrap();
    let mut out: Actions = Vec::new();
    t.t.ndisc_input(P, other, MAC, NdInput::Solicitation, t.at(1.0), &mut |a| {
        out.push(a)
    });
    assert_eq!(t.t.get(P, other).map(|i| i.state), Some(NeighState::Stale));
}

#[test]
fn stale_entries_are_collected_after_gc_stale_time() {
    let mut t = T::new();
    t.arp(MAC, ArpInput::RequestToUs, 0.0);
    t.poll(0.0);
    for s in [15.0, 30.0, 45.0] {
        t.poll(s);
        assert_eq!(t.state(), Some(NeighState::Stale), "at {s}");
    }
    t.poll(60.0);
    assert_eq!(t.state(), None);
}

#[test]
fn permanent_entries_never_change() {
    let mut t = T::new();
    t.send(1, 0.0);
    let mut out = Vec::new();
    let now = t.at(0.1);
    t.t.add_permanent(P, gw(), MAC2, now, &mut |a| out.push(a));
    assert_eq!(
        out,
        vec![NeighAction::Transmit {
            port: P,
            mac: MAC2,
            frame: 1
        }]
    );
    t.arp(MAC, ArpInput::Other { gratuitous: true }, 5.0);
    t.poll(1000.0);
    let info = t.t.get(P, gw()).unwrap();
    assert_eq!((info.state, info.mac), (NeighState::Permanent, Some(MAC2)));
}

#[test]
fn table_full_forces_gc_or_drops() {
    let params = NeighParams {
        max_entries: 2,
        ..NeighParams::default()
    };
    let mut t: NeighTable<u32> = NeighTable::new(params);
    let t0 = Instant::now();
    let ip = |i: u8| IpAddr::from([10, 0, 2, i]);
    let mut out = Vec::new();
    t.resolve(P, ip(1), 1, t0, &mut |a| out.push(a));
    t.arp_input(P, ip(2), MAC, ArpInput::RequestToUs, t0, &mut |a| {
        out.push(a)
    });
    out.clear();
    // Both in use (INCOMPLETE, STALE updated just now): no room.
    t.resolve(P, ip(3), 3, secs(t0, 1.0), &mut |a| out.push(a));
    assert_eq!(
        out,
        vec![NeighAction::Drop {
            port: P,
            target: ip(3),
            frame: 3,
            reason: NeighDrop::TableFull
        }]
    );
    assert_eq!(t.stats().table_fulls, 1);
    // Ten seconds later the STALE entry is old enough to evict.
    out.clear();
    t.resolve(P, ip(3), 4, secs(t0, 10.0), &mut |a| out.push(a));
    assert_eq!(
        out,
        vec![NeighAction::Solicit {
            port: P,
            target: ip(3),
            unicast: None
        }]
    );
    assert_eq!(t.len(), 2);
    assert!(t.get(P, ip(2)).is_none());
}

#[test]
fn random_reachable_time_spans_half_to_one_and_a_half() {
    let base = Duration::from_secs(30);
    assert_eq!(
        NeighParams::random_reachable_time(base, 0),
        Duration::from_secs(15)
    );
    let max = NeighParams::random_reachable_time(base, u32::MAX);
    assert!(max < Duration::from_secs(45) && max > Duration::from_secs(44));
}
