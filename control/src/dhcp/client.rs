//! The RFC 2131 client state machine, sans I/O: frames in
//! ([`Client::input`]), time in ([`Client::poll`], the caller's clock:
//! the tests drive it with a fake one), frames to send and lease events out.
//!
//! ```text
//! INIT ─DISCOVER─► SELECTING ─OFFER/REQUEST─► REQUESTING ─ACK─► BOUND
//!   ▲                                          │ NAK, 4 tries    │ T1
//!   └──────────────────────────────────────────┘                 ▼
//!   ◄──NAK, expiry──── REBINDING ◄──T2── RENEWING (unicast REQUEST)
//!                   (broadcast REQUEST)   ─ACK─► BOUND
//! ```
//!
//! Retransmissions (§4.1): DISCOVER and SELECTING's REQUEST after 4, 8, 16,
//! 32, then every 64 seconds (no random jitter); a REQUEST unanswered 4
//! times goes back to INIT. RENEWING retransmits after half the time left
//! to T2, REBINDING half the time left to expiry, 60 seconds at least
//! (§4.4.5). Lease times count from the start of the exchange that got
//! them (the DISCOVER, or a renewal's first REQUEST): at most one round
//! trip earlier than §4.4.1's REQUEST, so a renewal is never late. T1 and T2 are the server's options 58 and 59, else 1/2 and
//! 7/8 of the lease. An ACK in RENEWING/REBINDING for another address
//! loses the old lease and acquires the new one.
//!
//! Not done: the ARP probe of the offered address and DHCPDECLINE (§4.4.1
//! "SHOULD"), DHCPRELEASE at stop (dhclient does not either by default),
//! INIT-REBOOT of a remembered lease (leases are not kept across restarts).

use std::net::Ipv4Addr;
use std::time::{Duration, Instant};

use smoltcp::wire::DhcpMessageType as Msg;

use super::frame::{self, In, Out};

const BROADCAST_MAC: [u8; 6] = [0xff; 6];
/// Tries of SELECTING's REQUEST before starting over.
const REQUEST_TRIES: u32 = 4;
/// The least wait between retransmissions in RENEWING and REBINDING.
const MIN_RENEW_WAIT: Duration = Duration::from_secs(60);

/// The client's state (RFC 2131 figure 5).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum State {
    Init,
    Selecting,
    Requesting,
    Bound,
    Renewing,
    Rebinding,
}

impl State {
    pub fn name(self) -> &'static str {
        match self {
            State::Init => "init",
            State::Selecting => "selecting",
            State::Requesting => "requesting",
            State::Bound => "bound",
            State::Renewing => "renewing",
            State::Rebinding => "rebinding",
        }
    }
}

/// A lease the server granted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Lease {
    pub addr: Ipv4Addr,
    pub prefix: u8,
    /// Option 3, the first router.
    pub router: Option<Ipv4Addr>,
    /// Option 54, else the answer's IP source.
    pub server: Ipv4Addr,
    /// Where unicast renewals go: the MAC the ACK came from.
    pub server_mac: [u8; 6],
    /// Seconds; `u32::MAX`: infinite.
    pub lease_secs: u32,
    pub t1_secs: u32,
    pub t2_secs: u32,
    /// When the exchange that got it began.
    pub start: Instant,
}

impl Lease {
    fn at(&self, secs: u32) -> Option<Instant> {
        if secs == u32::MAX {
            return None;
        }
        self.start.checked_add(Duration::from_secs(u64::from(secs)))
    }

    /// When RENEWING begins; `None`: never (an infinite lease).
    pub fn t1(&self) -> Option<Instant> {
        self.at(self.t1_secs)
    }

    pub fn t2(&self) -> Option<Instant> {
        self.at(self.t2_secs)
    }

    pub fn expiry(&self) -> Option<Instant> {
        self.at(self.lease_secs)
    }

    /// The router option as the log and `sluice stats` show it.
    pub fn router_text(&self) -> String {
        self.router.map_or("none".to_string(), |r| r.to_string())
    }

    /// The lease time as the log and `sluice stats` show it.
    pub fn time_text(&self) -> String {
        if self.lease_secs == u32::MAX {
            "infinite".to_string()
        } else {
            format!("{}s", self.lease_secs)
        }
    }

    /// Same address, prefix and router.
    fn same_binding(&self, o: &Lease) -> bool {
        (self.addr, self.prefix, self.router) == (o.addr, o.prefix, o.router)
    }
}

/// A change of the lease, for the daemon to install and log.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Event {
    Acquired(Lease),
    /// An ACK in RENEWING or REBINDING for the same binding.
    Renewed(Lease),
    Lost {
        lease: Lease,
        why: &'static str,
    },
}

/// Messages counted, for `sluice stats` and the metrics.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Counts {
    pub discovers: u64,
    pub requests: u64,
    pub offers: u64,
    pub acks: u64,
    pub naks: u64,
    /// Answers that were not for this client or made no sense now.
    pub ignored: u64,
    pub acquired: u64,
    pub renewed: u64,
    pub lost: u64,
    /// Times RENEWING went unanswered until T2 and REBINDING began.
    pub rebinds: u64,
}

/// See the module docs.
#[derive(Debug)]
pub struct Client {
    mac: [u8; 6],
    state: State,
    xid: u32,
    rng: u64,
    lease: Option<Lease>,
    /// SELECTING's chosen offer: (address, server).
    offer: Option<(Ipv4Addr, Ipv4Addr)>,
    /// When the current exchange began.
    began: Instant,
    /// The next timer.
    next: Instant,
    tries: u32,
    out: Vec<Vec<u8>>,
    events: Vec<Event>,
    pub counts: Counts,
}

impl Client {
    /// A client for the port whose MAC is `mac`, in INIT: it sends its
    /// DISCOVER at the first [`Client::poll`]. `seed` varies the
    /// transaction IDs.
    pub fn new(mac: [u8; 6], seed: u64, now: Instant) -> Client {
        Client {
            mac,
            state: State::Init,
            xid: 0,
            rng: seed | 1,
            lease: None,
            offer: None,
            began: now,
            next: now,
            tries: 0,
            out: Vec::new(),
            events: Vec::new(),
            counts: Counts::default(),
        }
    }

    pub fn state(&self) -> State {
        self.state
    }

    pub fn lease(&self) -> Option<&Lease> {
        self.lease.as_ref()
    }

    /// When [`Client::poll`] has something to do next.
    pub fn next_timer(&self) -> Instant {
        self.next
    }

    /// Frames to send (whole Ethernet frames), oldest first.
    pub fn take_frames(&mut self) -> Vec<Vec<u8>> {
        std::mem::take(&mut self.out)
    }

    /// Lease changes, oldest first.
    pub fn take_events(&mut self) -> Vec<Event> {
        std::mem::take(&mut self.events)
    }

    fn new_xid(&mut self) {
        // xorshift64
        self.rng ^= self.rng << 13;
        self.rng ^= self.rng >> 7;
        self.rng ^= self.rng << 17;
        self.xid = self.rng as u32;
    }

    /// 4, 8, 16, 32, 64, 64, ... seconds.
    fn backoff(tries: u32) -> Duration {
        Duration::from_secs(4u64 << tries.min(4))
    }

    /// Half the time left to `until`, [`MIN_RENEW_WAIT`] at least, never
    /// past `until`.
    fn renew_wait(now: Instant, until: Option<Instant>) -> Instant {
        match until {
            None => now + MIN_RENEW_WAIT,
            Some(u) => {
                let half = u.saturating_duration_since(now) / 2;
                (now + half.max(MIN_RENEW_WAIT)).min(u)
            }
        }
    }

    fn send(&mut self, kind: Msg, now: Instant) {
        let secs = now
            .saturating_duration_since(self.began)
            .as_secs()
            .min(65535) as u16;
        let unspec = Ipv4Addr::UNSPECIFIED;
        let mut o = Out {
            kind,
            xid: self.xid,
            secs,
            mac: self.mac,
            ciaddr: unspec,
            requested: None,
            server_id: None,
            src: unspec,
            dst: Ipv4Addr::BROADCAST,
            dst_mac: BROADCAST_MAC,
        };
        match (self.state, &self.lease) {
            (State::Requesting, _) => {
                if let Some((addr, server)) = self.offer {
                    o.requested = Some(addr);
                    o.server_id = Some(server);
                }
            }
            (State::Renewing, Some(l)) => {
                o.ciaddr = l.addr;
                o.src = l.addr;
                o.dst = l.server;
                o.dst_mac = l.server_mac;
            }
            (State::Rebinding, Some(l)) => {
                o.ciaddr = l.addr;
                o.src = l.addr;
            }
            _ => {}
        }
        match kind {
            Msg::Discover => self.counts.discovers += 1,
            _ => self.counts.requests += 1,
        }
        self.out.push(frame::build(&o));
    }

    fn lose(&mut self, why: &'static str, now: Instant) {
        if let Some(lease) = self.lease.take() {
            self.counts.lost += 1;
            self.events.push(Event::Lost { lease, why });
        }
        self.state = State::Init;
        self.offer = None;
        self.next = now;
    }

    /// Runs the timers that are due at `now`.
    pub fn poll(&mut self, now: Instant) {
        // A few steps at most: a late call may pass T1, T2 and expiry.
        for _ in 0..6 {
            if now < self.next {
                return;
            }
            match self.state {
                State::Init => {
                    self.new_xid();
                    self.began = now;
                    self.tries = 0;
                    self.state = State::Selecting;
                    self.send(Msg::Discover, now);
                    self.next = now + Self::backoff(0);
                }
                State::Selecting => {
                    self.tries += 1;
                    self.send(Msg::Discover, now);
                    self.next = now + Self::backoff(self.tries);
                }
                State::Requesting => {
                    self.tries += 1;
                    if self.tries >= REQUEST_TRIES {
                        self.state = State::Init;
                        self.next = now;
                        continue;
                    }
                    self.send(Msg::Request, now);
                    self.next = now + Self::backoff(self.tries);
                }
                State::Bound => {
                    let Some(l) = self.lease else {
                        self.lose("no lease", now);
                        continue;
                    };
                    self.state = State::Renewing;
                    self.new_xid();
                    self.began = now;
                    self.tries = 0;
                    if l.t2().is_some_and(|t2| now >= t2) {
                        continue;
                    }
                    self.send(Msg::Request, now);
                    self.next = Self::renew_wait(now, l.t2());
                }
                State::Renewing | State::Rebinding => {
                    let Some(l) = self.lease else {
                        self.lose("no lease", now);
                        continue;
                    };
                    if l.expiry().is_some_and(|e| now >= e) {
                        self.lose("expired", now);
                        continue;
                    }
                    if self.state == State::Renewing && l.t2().is_some_and(|t2| now >= t2) {
                        self.state = State::Rebinding;
                        self.counts.rebinds += 1;
                    }
                    self.tries += 1;
                    self.send(Msg::Request, now);
                    self.next = if self.state == State::Renewing {
                        Self::renew_wait(now, l.t2())
                    } else {
                        Self::renew_wait(now, l.expiry())
                    };
                }
            }
        }
    }

    /// Takes a frame the dataplane handed over.
    pub fn input(&mut self, bytes: &[u8], now: Instant) {
        let Some(m) = frame::parse(bytes) else {
            self.counts.ignored += 1;
            return;
        };
        if m.chaddr != self.mac || m.xid != self.xid {
            self.counts.ignored += 1;
            return;
        }
        match (self.state, m.kind) {
            (State::Selecting, Msg::Offer) => {
                let Some(server) = m.server_id else {
                    self.counts.ignored += 1;
                    return;
                };
                if m.yiaddr.is_unspecified() || m.yiaddr.is_broadcast() {
                    self.counts.ignored += 1;
                    return;
                }
                self.counts.offers += 1;
                self.offer = Some((m.yiaddr, server));
                self.state = State::Requesting;
                self.tries = 0;
                self.send(Msg::Request, now);
                self.next = now + Self::backoff(0);
            }
            (State::Requesting | State::Renewing | State::Rebinding, Msg::Ack) => {
                let Some(new) = self.lease_of(&m) else {
                    self.counts.ignored += 1;
                    return;
                };
                self.counts.acks += 1;
                match self.lease {
                    Some(old) if old.same_binding(&new) => {
                        self.counts.renewed += 1;
                        self.events.push(Event::Renewed(new));
                    }
                    Some(old) => {
                        self.counts.lost += 1;
                        self.events.push(Event::Lost {
                            lease: old,
                            why: "the server gave another address",
                        });
                        self.counts.acquired += 1;
                        self.events.push(Event::Acquired(new));
                    }
                    None => {
                        self.counts.acquired += 1;
                        self.events.push(Event::Acquired(new));
                    }
                }
                self.lease = Some(new);
                self.offer = None;
                self.state = State::Bound;
                self.tries = 0;
                self.next = new
                    .t1()
                    .unwrap_or(now + Duration::from_secs(u32::MAX as u64));
            }
            (State::Requesting | State::Renewing | State::Rebinding, Msg::Nak) => {
                self.counts.naks += 1;
                self.lose("NAK from the server", now);
            }
            _ => self.counts.ignored += 1,
        }
    }

    /// The lease an ACK grants; `None` when it grants no usable address.
    fn lease_of(&self, m: &In) -> Option<Lease> {
        let addr = m.yiaddr;
        if addr.is_unspecified() || addr.is_broadcast() || addr.is_multicast() {
            return None;
        }
        if let (State::Requesting, Some((offered, _))) = (self.state, self.offer) {
            if offered != addr {
                return None;
            }
        }
        let prefix = match m.subnet_mask {
            Some(mask) => u32::from(mask).leading_ones() as u8,
            // The class's mask, as dhclient-script's ipcalc would.
            None => match addr.octets()[0] {
                0..=127 => 8,
                128..=191 => 16,
                _ => 24,
            },
        };
        let lease_secs = m.lease.unwrap_or(u32::MAX);
        let part = |n: u64, d: u64| (u64::from(lease_secs) * n / d) as u32;
        let (t1, t2) = if lease_secs == u32::MAX {
            (u32::MAX, u32::MAX)
        } else {
            let t2 = m.t2.filter(|&t| t <= lease_secs).unwrap_or(part(7, 8));
            let t1 = m.t1.filter(|&t| t <= t2).unwrap_or(part(1, 2).min(t2));
            (t1, t2)
        };
        Some(Lease {
            addr,
            prefix,
            router: m.router.filter(|r| !r.is_unspecified()),
            server: m.server_id.unwrap_or(m.src),
            server_mac: m.src_mac,
            lease_secs,
            t1_secs: t1,
            t2_secs: t2,
            start: self.began,
        })
    }
}

#[cfg(test)]
mod tests;
