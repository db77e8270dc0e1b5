//! The read side for the control plane: entries as `conntrack -L` shows
//! them, filters, and a request channel another thread uses to list,
//! count, delete and flush a worker's shard without stopping it.
//!
//! The worker owns its shard alone, so another thread never reads it: it
//! puts a [`Request`] in the shard's [`Channel`] and the worker serves it
//! between batches ([`Service::serve`]), a bounded number of slots per
//! call, sending the answer back. Each entry is read whole by its only
//! writer, so every line is consistent; like the kernel's `conntrack -L`,
//! a listing is not a snapshot of the whole table at one instant.

use super::entry::{status, Acct, Entry, ProtoState};
use super::tuple::{is_icmp, Tuple};
use super::Shard;
use std::fmt;
use std::net::IpAddr;

/// One entry as `conntrack -L` prints it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EntryView {
    pub orig: Tuple,
    pub reply: Tuple,
    /// Seconds left.
    pub timeout: u64,
    /// The TCP state name (`ESTABLISHED`, `TIME_WAIT`, ...); `None` for
    /// other protocols.
    pub state: Option<&'static str>,
    pub status: u32,
    pub mark: u32,
    /// Counters when `acct` is on.
    pub acct: Option<Acct>,
}

impl EntryView {
    pub fn new(shard: &Shard, slot: u32, now: u64) -> Option<EntryView> {
        let e = shard.entry(slot)?;
        Some(EntryView {
            orig: e.tuple[0],
            reply: e.tuple[1],
            timeout: u64::from(e.left_ms(super::ms(now))) / 1000,
            state: match &e.proto {
                ProtoState::Tcp(c) => Some(c.state().name()),
                _ => None,
            },
            status: e.status,
            mark: e.mark,
            acct: shard.cfg.acct.then(|| shard.acct(slot)),
        })
    }

    pub fn assured(&self) -> bool {
        self.status & status::ASSURED != 0
    }
}

fn proto_name(p: u8) -> &'static str {
    match p {
        1 => "icmp",
        6 => "tcp",
        17 => "udp",
        33 => "dccp",
        47 => "gre",
        58 => "icmpv6",
        132 => "sctp",
        136 => "udplite",
        _ => "unknown",
    }
}

fn tuple_fmt(f: &mut fmt::Formatter<'_>, t: &Tuple) -> fmt::Result {
    write!(f, "src={} dst={} ", t.src_ip(), t.dst_ip())?;
    if is_icmp(t.family, t.proto) {
        write!(
            f,
            "type={} code={} id={} ",
            t.icmp_type(),
            t.icmp_code(),
            t.sport
        )
    } else if super::tuple::has_ports(t.proto) {
        write!(f, "sport={} dport={} ", t.sport, t.dport)
    } else {
        Ok(())
    }
}

impl fmt::Display for EntryView {
    /// `conntrack -L`'s line (`ipv4     2 tcp      6 ...` without the
    /// family columns, as `conntrack -L` prints by default).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let o = &self.orig;
        write!(
            f,
            "{:<8} {} {} ",
            proto_name(o.proto),
            o.proto,
            self.timeout
        )?;
        if let Some(s) = self.state {
            write!(f, "{s} ")?;
        }
        tuple_fmt(f, o)?;
        if let Some(a) = self.acct {
            write!(f, "packets={} bytes={} ", a.packets[0], a.bytes[0])?;
        }
        if self.status & status::SEEN_REPLY == 0 {
            write!(f, "[UNREPLIED] ")?;
        }
        tuple_fmt(f, &self.reply)?;
        if let Some(a) = self.acct {
            write!(f, "packets={} bytes={} ", a.packets[1], a.bytes[1])?;
        }
        if self.assured() {
            write!(f, "[ASSURED] ")?;
        }
        write!(f, "mark={} ", self.mark)?;
        if o.zone != 0 {
            write!(f, "zone={} ", o.zone)?;
        }
        write!(f, "use=1")
    }
}

/// Which entries a request is about (`conntrack -L/-D` options); every
/// field given must hold. The same test selects for a listing and a
/// deletion, so `-D` takes every option `-L` does.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Filter {
    /// `-f ipv4|ipv6`: 4 or 6.
    pub family: Option<u8>,
    /// `-p`.
    pub proto: Option<u8>,
    /// `-s` / `--orig-src`, `-d` / `--orig-dst`.
    pub orig_src: Option<IpAddr>,
    pub orig_dst: Option<IpAddr>,
    /// `-r` / `--reply-src`, `-q` / `--reply-dst`.
    pub reply_src: Option<IpAddr>,
    pub reply_dst: Option<IpAddr>,
    /// `--sport` / `--dport`: the original direction's ports.
    pub sport: Option<u16>,
    pub dport: Option<u16>,
    /// `--state`: the TCP state's name (`LISTEN` also selects
    /// `SYN_SENT2`, as the kernel's state table names it so).
    pub state: Option<&'static str>,
    /// `-m VALUE[/MASK]`: `(mark & mask) == value`.
    pub mark: Option<(u32, u32)>,
    /// `--zone`.
    pub zone: Option<u16>,
    /// `--status ASSURED` etc.: these status bits all set.
    pub status: Option<u32>,
}

impl Filter {
    /// Whether the entry with these tuples, TCP state, mark and status is
    /// selected.
    fn selects(&self, o: &Tuple, r: &Tuple, state: Option<&str>, mark: u32, st: u32) -> bool {
        self.family.is_none_or(|f| f == o.family)
            && self.proto.is_none_or(|p| p == o.proto)
            && self.orig_src.is_none_or(|a| a == o.src_ip())
            && self.orig_dst.is_none_or(|a| a == o.dst_ip())
            && self.reply_src.is_none_or(|a| a == r.src_ip())
            && self.reply_dst.is_none_or(|a| a == r.dst_ip())
            && self.sport.is_none_or(|p| p == o.sport)
            && self.dport.is_none_or(|p| p == o.dport)
            && self.state.is_none_or(|s| {
                state.is_some_and(|x| x == s || (s == "LISTEN" && x == "SYN_SENT2"))
            })
            && self.mark.is_none_or(|(v, m)| mark & m == v)
            && self.zone.is_none_or(|z| z == o.zone)
            && self.status.is_none_or(|s| st & s == s)
    }

    /// Whether the worker's entry `e` is selected.
    pub fn matches(&self, e: &Entry) -> bool {
        let state = match &e.proto {
            ProtoState::Tcp(c) => Some(c.state().name()),
            _ => None,
        };
        self.selects(&e.tuple[0], &e.tuple[1], state, e.mark, e.status)
    }

    /// Whether the listed entry `e` is selected.
    pub fn matches_view(&self, e: &EntryView) -> bool {
        self.selects(&e.orig, &e.reply, e.state, e.mark, e.status)
    }
}

/// What the control side asks a worker.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Request {
    /// The confirmed entries the filter selects.
    List(Filter),
    /// How many confirmed entries, by state (`conntrack -C` and more).
    Count,
    /// Deletes the entries the filter selects; answers them as they were
    /// (`conntrack -D` prints what it deleted).
    Delete(Filter),
    /// Deletes every entry.
    Flush,
}

/// Counts of the confirmed entries of a shard.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Counts {
    pub total: usize,
    pub assured: usize,
    pub unreplied: usize,
    /// TCP entries by state name.
    pub tcp: Vec<(&'static str, usize)>,
    pub udp: usize,
    pub icmp: usize,
    pub other: usize,
}

/// A worker's answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Reply {
    /// A listing, or the entries a `Delete` removed.
    Entries(Vec<EntryView>),
    Counts(Counts),
    /// How many entries a `Flush` removed.
    Deleted(usize),
}

/// The channel between the control thread and one worker's shard
/// ([`crate::ask`]): one request at a time in flight.
pub type Channel = crate::ask::Channel<Request, Reply>;

impl Channel {
    /// The worker's end.
    pub fn service(&self) -> Service {
        Service {
            chan: self.clone(),
            job: None,
        }
    }
}

/// The worker's end of a [`Channel`], with the request it is working on.
#[derive(Debug)]
pub struct Service {
    chan: Channel,
    job: Option<Job>,
}

#[derive(Debug)]
struct Job {
    req: Request,
    at: u32,
    entries: Vec<EntryView>,
    counts: Counts,
}

impl Service {
    /// Works on the pending request for at most `budget` slab slots;
    /// sends the answer when the whole table has been walked. Call it
    /// between batches (allocation happens here, on the control's behalf,
    /// never in a batch).
    pub fn serve(&mut self, shard: &mut Shard, now: std::time::Instant, budget: usize) {
        if self.job.is_none() {
            let Some(req) = self.chan.request() else {
                return;
            };
            if req == Request::Flush {
                let n = shard.len();
                shard.flush();
                self.chan.reply(Reply::Deleted(n));
                return;
            }
            self.job = Some(Job {
                req,
                at: 0,
                entries: Vec::new(),
                counts: Counts::default(),
            });
        }
        let clock = shard.clock(now);
        let Some(job) = self.job.as_mut() else {
            return;
        };
        let end = shard.table.slots() as u32;
        let stop = job.at.saturating_add(budget as u32).min(end);
        for slot in job.at..stop {
            let Some(e) = shard.entry(slot) else { continue };
            if e.status & status::CONFIRMED == 0 {
                continue;
            }
            match &job.req {
                Request::List(f) => {
                    if f.matches(e) {
                        if let Some(v) = EntryView::new(shard, slot, clock) {
                            job.entries.push(v);
                        }
                    }
                }
                Request::Delete(f) => {
                    if f.matches(e) {
                        if let Some(v) = EntryView::new(shard, slot, clock) {
                            job.entries.push(v);
                        }
                        shard.kill(slot);
                    }
                }
                Request::Count => {
                    let c = &mut job.counts;
                    c.total += 1;
                    if e.status & status::ASSURED != 0 {
                        c.assured += 1;
                    }
                    if e.status & status::SEEN_REPLY == 0 {
                        c.unreplied += 1;
                    }
                    match &e.proto {
                        ProtoState::Tcp(t) => {
                            let name = t.state().name();
                            match c.tcp.iter_mut().find(|(n, _)| *n == name) {
                                Some((_, k)) => *k += 1,
                                None => c.tcp.push((name, 1)),
                            }
                        }
                        ProtoState::Udp { .. } => c.udp += 1,
                        ProtoState::None if is_icmp(e.tuple[0].family, e.tuple[0].proto) => {
                            c.icmp += 1
                        }
                        ProtoState::None => c.other += 1,
                    }
                }
                Request::Flush => {}
            }
        }
        job.at = stop;
        if stop >= end {
            let Some(job) = self.job.take() else {
                return;
            };
            let reply = match job.req {
                Request::List(_) | Request::Delete(_) => Reply::Entries(job.entries),
                Request::Count => Reply::Counts(job.counts),
                // Answered at once, never a job.
                Request::Flush => Reply::Deleted(0),
            };
            self.chan.reply(reply);
        }
    }
}
