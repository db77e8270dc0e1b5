//! IPv4 options on the receive and forward paths, as the kernel handles
//! them after routing (`ip_rcv_options` → `ip_options_compile`, then
//! `ip_forward_options` after FORWARD; `net/ipv4/ip_options.c`).
//!
//! * An option that does not compile drops the packet with an ICMP
//!   parameter problem (12/0) whose pointer names the bad byte, counted
//!   from the start of the IP header (`__ip_options_compile`'s `pp_ptr`):
//!   a length below 2 or past the end, a second record route, timestamp
//!   or source route, a pointer below its minimum, a pointer that leaves
//!   less than a whole slot, a full timestamp whose overflow counter is
//!   15, a router alert shorter than 4.
//! * A loose or strict source route is dropped once every option
//!   compiled (`accept_source_route` 0).
//! * A forwarded packet's record route gets the address of the port it
//!   leaves by in its next free slot (`ip_rt_get_source`), the pointer
//!   moves on; a timestamp gets the time (milliseconds since midnight
//!   UTC, `inet_current_timestamp`) and, for the address-and-time flag,
//!   the address; a prespecified timestamp only when the address named is
//!   the box's; a full timestamp has its overflow counter raised; bytes
//!   after End of Options become 0. Then the header checksum is computed
//!   anew (`ip_send_check`).
//!
//! * The ICMP errors and echo replies the pipeline sends carry the
//!   options that compiled (`__ip_options_echo`, [`echo`]): record route
//!   with the receiving side's address and a slot for the answer's
//!   source, timestamp, CIPSO.
//!
//! Packets for the box are checked but not changed (a copy is compiled):
//! the host stack they are punted to compiles their options itself. Where the kernel has
//! already changed an earlier option when a later one fails, the quote of
//! its parameter problem shows the change; sluice's shows it for
//! forwarded packets only.

use std::net::Ipv4Addr;
use std::sync::OnceLock;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

const END: u8 = 0;
const NOP: u8 = 1;
const RR: u8 = 7;
const TIMESTAMP: u8 = 68;
const LSRR: u8 = 131;
const SSRR: u8 = 137;
const RA: u8 = 148;
const CIPSO: u8 = 134;

const TS_TSONLY: u8 = 0;
const TS_TSANDADDR: u8 = 1;
const TS_PRESPEC: u8 = 3;

/// Where a forwarded packet's options want this router's address and
/// time: offsets from the start of the IP header (0: nothing).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(super) struct Compiled {
    /// The record-route slot for the outgoing address.
    pub rr_addr: usize,
    /// The timestamp's address slot (address-and-time).
    pub ts_addr: usize,
    /// The timestamp's time slot.
    pub ts_time: usize,
    /// A loose or strict source route is present.
    pub srr: bool,
    /// Some byte changed: the header checksum needs computing again.
    pub changed: bool,
    /// The kernel's `struct ip_options` as far as [`echo`] reads it:
    /// offsets of the record route, timestamp and CIPSO options that
    /// compiled (0: none) and what they asked for.
    pub rr: usize,
    pub rr_needaddr: bool,
    pub ts: usize,
    pub ts_needaddr: bool,
    pub ts_needtime: bool,
    pub cipso: usize,
}

/// What the receive side writes into a forwarded packet's options.
#[derive(Debug, Clone, Copy)]
pub(super) struct Stamp {
    /// `spec_dst` (`fib_compute_spec_dst`): the box's address toward the
    /// packet's source.
    pub addr: Ipv4Addr,
    /// [`ms_of_day`] now.
    pub time: u32,
}

/// `__ip_options_compile` over the header `hdr` (fixed part and options)
/// of a received packet. With `edit` (a forwarded packet) it changes the
/// header in place as the kernel does on receive: record-route and
/// timestamp address slots get `edit`'s address, time slots its time,
/// pointers and overflow counters move, bytes after End become 0 (the
/// header checksum is left stale until [`fill`], as in the kernel).
/// `is_local(a)`: `a` is one of the box's addresses (a prespecified
/// timestamp wants a time only then). `Err(pointer)`: the parameter
/// problem's pointer.
#[cfg(test)]
pub(super) fn compile(
    hdr: &mut [u8],
    edit: Option<Stamp>,
    is_local: impl Fn(Ipv4Addr) -> bool,
) -> Result<Compiled, u8> {
    let mut c = Compiled::default();
    compile_into(hdr, edit, is_local, &mut c).map(|()| c)
}

/// [`compile`], leaving in `c` what compiled before an error (the state
/// the kernel's parameter problem echoes).
pub(super) fn compile_into(
    hdr: &mut [u8],
    edit: Option<Stamp>,
    is_local: impl Fn(Ipv4Addr) -> bool,
    c: &mut Compiled,
) -> Result<(), u8> {
    let write = |hdr: &mut [u8], at: usize, v: [u8; 4]| {
        if let Some(s) = hdr.get_mut(at..at + 4) {
            s.copy_from_slice(&v);
        }
    };
    let (mut seen_rr, mut seen_ts) = (false, false);
    let mut at = crate::wire::ipv4::HEADER_LEN;
    let end = hdr.len();
    // The offset of the bad byte, as the parameter problem's pointer.
    let bad = |o: usize| Err(o.min(255) as u8);
    while at < end {
        let kind = hdr[at];
        if kind == END {
            for b in &mut hdr[at + 1..] {
                if *b != END {
                    if edit.is_some() {
                        *b = END;
                    }
                    c.changed = true;
                }
            }
            break;
        }
        if kind == NOP {
            at += 1;
            continue;
        }
        if end - at < 2 {
            return bad(at);
        }
        let len = hdr[at + 1] as usize;
        if len < 2 || len > end - at {
            return bad(at);
        }
        let opt = at;
        match kind {
            LSRR | SSRR => {
                if len < 3 {
                    return bad(opt + 1);
                }
                if hdr[opt + 2] < 4 {
                    return bad(opt + 2);
                }
                if c.srr {
                    return bad(opt);
                }
                c.srr = true;
            }
            RR => {
                let ptr = pointer(hdr, opt, len, seen_rr, 3)?;
                if ptr <= len {
                    c.rr_needaddr = true;
                    if let Some(e) = edit {
                        c.rr_addr = opt + ptr - 1;
                        write(hdr, c.rr_addr, e.addr.octets());
                        hdr[opt + 2] += 4;
                        c.changed = true;
                    }
                }
                seen_rr = true;
                c.rr = opt;
            }
            TIMESTAMP => {
                let ptr = pointer(hdr, opt, len, seen_ts, 4)?;
                let flags = hdr[opt + 3];
                if ptr <= len {
                    let slot = opt + ptr - 1;
                    let step = match flags & 0xf {
                        TS_TSONLY => {
                            c.ts_time = slot;
                            c.ts_needtime = true;
                            4
                        }
                        TS_TSANDADDR => {
                            if ptr + 7 > len {
                                return bad(opt + 2);
                            }
                            c.ts_addr = slot;
                            c.ts_time = slot + 4;
                            (c.ts_needaddr, c.ts_needtime) = (true, true);
                            8
                        }
                        TS_PRESPEC => {
                            if ptr + 7 > len {
                                return bad(opt + 2);
                            }
                            if !is_local(addr_at(hdr, slot)) {
                                0
                            } else {
                                c.ts_time = slot + 4;
                                c.ts_needtime = true;
                                8
                            }
                        }
                        // Other flags: left alone on receive.
                        _ => 0,
                    };
                    match edit {
                        Some(e) if step != 0 => {
                            if c.ts_addr != 0 {
                                write(hdr, c.ts_addr, e.addr.octets());
                            }
                            write(hdr, c.ts_time, e.time.to_be_bytes());
                            hdr[opt + 2] += step;
                            c.changed = true;
                        }
                        _ => {
                            c.ts_addr = 0;
                            c.ts_time = 0;
                        }
                    }
                } else if flags & 0xf != TS_PRESPEC {
                    let overflow = flags >> 4;
                    if overflow == 15 {
                        return bad(opt + 3);
                    }
                    if edit.is_some() {
                        hdr[opt + 3] = (flags & 0xf) | ((overflow + 1) << 4);
                        c.changed = true;
                    }
                }
                seen_ts = true;
                c.ts = opt;
            }
            RA if len < 4 => return bad(opt + 1),
            CIPSO => {
                // cipso_v4_validate: sluice knows no DOI, as a kernel with
                // no CIPSO configuration: a short option at its length,
                // else at its DOI.
                c.cipso = opt;
                return if len < 8 { bad(opt + 1) } else { bad(opt + 2) };
            }
            _ => {}
        }
        at += len;
    }
    Ok(())
}

/// The address in the 4 bytes at `at` (0.0.0.0 past the end).
fn addr_at(b: &[u8], at: usize) -> Ipv4Addr {
    match b.get(at..at + 4) {
        Some(&[a, b, c, d]) => Ipv4Addr::new(a, b, c, d),
        _ => Ipv4Addr::UNSPECIFIED,
    }
}

/// The options an ICMP error about a packet carries: `__ip_options_echo`
/// of the packet's compiled options (record route, timestamp, CIPSO, in
/// that order, padded with End), and where `ip_options_build` writes the
/// error's own source address and the time. A source route is not echoed
/// (the kernel reverses it; such packets are dropped before any error but
/// a parameter problem about a later option).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Echo {
    pub bytes: [u8; 40],
    pub len: u8,
    /// Offsets into `bytes` of the slots to fill (`NONE`: none).
    rr_addr: u8,
    ts_addr: u8,
    ts_time: u8,
}

const NONE: u8 = u8::MAX;

impl Echo {
    pub const EMPTY: Echo = Echo {
        bytes: [0; 40],
        len: 0,
        rr_addr: NONE,
        ts_addr: NONE,
        ts_time: NONE,
    };

    /// The options with the error's source `src` and the time `ms` (ms
    /// since midnight UTC) written in (`ip_options_build`).
    pub fn build(&self, src: Ipv4Addr, ms: u32) -> [u8; 40] {
        let mut b = self.bytes;
        for (at, v) in [
            (self.rr_addr, src.octets()),
            (self.ts_addr, src.octets()),
            (self.ts_time, ms.to_be_bytes()),
        ] {
            if let Some(s) = b.get_mut(at as usize..at as usize + 4) {
                s.copy_from_slice(&v);
            }
        }
        b
    }
}

/// `__ip_options_echo` over the header `hdr` as compiled into `c`;
/// `Err(())` where the kernel refuses (and sends no error at all).
pub(super) fn echo(
    hdr: &[u8],
    c: &Compiled,
    is_local: impl Fn(Ipv4Addr) -> bool,
) -> Result<Echo, ()> {
    let mut e = Echo::EMPTY;
    let mut n = 0usize;
    let mut copy = |e: &mut Echo, at: usize| -> Result<(usize, usize), ()> {
        let optlen = *hdr.get(at + 1).ok_or(())? as usize;
        let src = hdr.get(at..at + optlen).ok_or(())?;
        let dst = e.bytes.get_mut(n..n + optlen).ok_or(())?;
        dst.copy_from_slice(src);
        let start = n;
        n += optlen;
        Ok((start, optlen))
    };
    if c.rr != 0 {
        let (d, optlen) = copy(&mut e, c.rr)?;
        let soff = e.bytes[d + 2] as usize;
        if c.rr_needaddr && soff <= optlen {
            if soff + 3 > optlen {
                return Err(());
            }
            e.bytes[d + 2] = (soff + 4) as u8;
            e.rr_addr = (d + soff - 1) as u8;
        }
    }
    if c.ts != 0 {
        let (d, optlen) = copy(&mut e, c.ts)?;
        let mut soff = e.bytes[d + 2] as usize;
        if soff <= optlen {
            let (mut addr, mut time) = (false, false);
            if c.ts_needaddr {
                if soff + 3 > optlen {
                    return Err(());
                }
                addr = true;
                soff += 4;
            }
            if c.ts_needtime {
                if soff + 3 > optlen {
                    return Err(());
                }
                if e.bytes[d + 3] & 0xf != TS_PRESPEC {
                    time = true;
                    soff += 4;
                } else if soff + 7 <= optlen && is_local(addr_at(&e.bytes, d + soff - 1)) {
                    time = true;
                    soff += 8;
                }
            }
            e.bytes[d + 2] = soff as u8;
            if addr {
                e.ts_addr = (d + soff - 9) as u8;
            }
            if time {
                e.ts_time = (d + soff - 5) as u8;
            }
        }
    }
    if c.cipso != 0 {
        copy(&mut e, c.cipso)?;
    }
    // Padded with End (the bytes are 0 already).
    e.len = n.next_multiple_of(4) as u8;
    Ok(e)
}

/// The echoes of the last few packets with options, by frame: what an
/// ICMP error about one of them carries ([`echo`]). Written when a
/// packet's options compile (or fail to), read when an error is sent.
#[derive(Debug)]
pub(crate) struct EchoRing {
    entries: [(u64, Result<Echo, ()>); ECHO_RING],
    next: usize,
}

/// Packets with options whose echo is kept: more than a batch's errors
/// need (an entry is looked up by frame address, within the batch that
/// wrote it or soon after).
const ECHO_RING: usize = 16;

impl EchoRing {
    pub fn new() -> EchoRing {
        EchoRing {
            entries: [(u64::MAX, Ok(Echo::EMPTY)); ECHO_RING],
            next: 0,
        }
    }

    pub fn put(&mut self, frame: u64, e: Result<Echo, ()>) {
        if let Some(slot) = self.entries.iter_mut().find(|s| s.0 == frame) {
            slot.1 = e;
            return;
        }
        self.entries[self.next] = (frame, e);
        self.next = (self.next + 1) % ECHO_RING;
    }

    /// The echo for the packet in `frame`; empty when none was kept.
    pub fn get(&self, frame: u64) -> Result<Echo, ()> {
        self.entries
            .iter()
            .find(|s| s.0 == frame)
            .map_or(Ok(Echo::EMPTY), |s| s.1)
    }
}

/// The checks record route (`min_len` 3) and timestamp (4) share, in the
/// kernel's order: the option not seen before, at least `min_len` long,
/// its pointer past the option's first `min_len` bytes, and a pointer
/// inside the option leaving room for a 4-byte slot. `Ok(pointer)`, or
/// the parameter problem's pointer.
fn pointer(hdr: &[u8], opt: usize, len: usize, seen: bool, min_len: usize) -> Result<usize, u8> {
    let at = |o: usize| Err(o.min(255) as u8);
    if seen {
        return at(opt);
    }
    if len < min_len {
        return at(opt + 1);
    }
    let ptr = hdr[opt + 2] as usize;
    if ptr <= min_len || (ptr <= len && ptr + 3 > len) {
        return at(opt + 2);
    }
    Ok(ptr)
}

/// `ip_forward_options` (after FORWARD): the outgoing address
/// (`ip_rt_get_source`) into the record-route slot `rr` and the
/// timestamp's address slot `ts` that [`compile`] filled (offsets from the
/// IP header; 0: none), then the header checksum.
pub(super) fn fill(hdr: &mut [u8], rr: u8, ts: u8, addr: Ipv4Addr) {
    for at in [rr as usize, ts as usize] {
        if at != 0 {
            if let Some(s) = hdr.get_mut(at..at + 4) {
                s.copy_from_slice(&addr.octets());
            }
        }
    }
    crate::wire::ipv4::Packet::new_unchecked(hdr).fill_checksum();
}

/// `inet_current_timestamp`: milliseconds since midnight UTC at `now`,
/// from the wall clock read once per process (the pipeline's time is an
/// `Instant`).
pub(super) fn ms_of_day(now: Instant) -> u32 {
    static ANCHOR: OnceLock<(Instant, Duration)> = OnceLock::new();
    let (at, wall) = *ANCHOR.get_or_init(|| {
        let wall = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap_or_default();
        (Instant::now(), wall)
    });
    let wall = match now.checked_duration_since(at) {
        Some(d) => wall + d,
        None => wall.saturating_sub(at - now),
    };
    (wall.as_millis() % 86_400_000) as u32
}

#[cfg(test)]
mod tests {
    use super::*;

    fn header(opts: &[u8]) -> Vec<u8> {
        let mut h = vec![0u8; 20];
        h[0] = 0x40 | (5 + opts.len() / 4) as u8;
        h.extend_from_slice(opts);
        h
    }

    const E: Option<Stamp> = Some(Stamp {
        addr: Ipv4Addr::new(10, 0, 1, 1),
        time: 0x0102_0304,
    });

    fn check(opts: &[u8]) -> Result<Compiled, u8> {
        compile(&mut header(opts), E, |_| false)
    }

    #[test]
    fn parameter_problem_pointers() {
        // The repros.
        assert_eq!(check(&[7, 11, 3, 0, 0, 0, 0, 0, 0, 0, 0, 0]), Err(22));
        assert_eq!(check(&[7, 2, 0, 0]), Err(21));
        assert_eq!(check(&[0x44, 8, 4, 0, 0, 0, 0, 0]), Err(22));
        assert_eq!(check(&[7, 7, 5, 0, 0, 0, 0, 0]), Err(22));
        // Longer than what is left; a lone kind byte; a second RR.
        assert_eq!(check(&[1, 1, 0x94, 8]), Err(22));
        assert_eq!(check(&[1, 1, 1, 0x94]), Err(23));
        assert_eq!(check(&[7, 3, 4, 7, 3, 4, 0, 0]), Err(23));
        // Full timestamp at overflow 15; short router alert.
        assert_eq!(check(&[0x44, 4, 5, 0xf0]), Err(23));
        assert_eq!(check(&[0x94, 3, 0, 0]), Err(21));
        // A source route is found, not refused, here.
        assert!(check(&[0x83, 3, 4, 0]).is_ok_and(|c| c.srr));
    }

    #[test]
    fn errors_echo_what_compiled() {
        // RR with room for two: the receive side's address in the first
        // slot, the error's source in the second.
        let mut h = header(&[7, 11, 4, 0, 0, 0, 0, 0, 0, 0, 0, 0]);
        let mut c = Compiled::default();
        compile_into(&mut h, E, |_| false, &mut c).unwrap();
        let e = echo(&h, &c, |_| false).unwrap();
        assert_eq!(e.len, 12);
        let b = e.build(Ipv4Addr::new(10, 0, 2, 1), 0);
        assert_eq!(&b[..12], &[7, 11, 12, 10, 0, 1, 1, 10, 0, 2, 1, 0]);
        // Compiled up to an error: the first RR is echoed, full, as is.
        let mut h = header(&[7, 3, 4, 7, 3, 4, 0, 0]);
        let mut c = Compiled::default();
        assert_eq!(compile_into(&mut h, E, |_| false, &mut c), Err(23));
        let e = echo(&h, &c, |_| false).unwrap();
        assert_eq!(
            &e.build(Ipv4Addr::new(10, 0, 2, 1), 0)[..e.len as usize],
            &[7, 3, 4, 0]
        );
        // Timestamp, address and time: both written.
        let mut h = header(&[
            0x44, 20, 5, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
        ]);
        let mut c = Compiled::default();
        compile_into(&mut h, E, |_| false, &mut c).unwrap();
        let e = echo(&h, &c, |_| false).unwrap();
        let b = e.build(Ipv4Addr::new(10, 0, 2, 1), 0x0506_0708);
        assert_eq!(
            &b[..20],
            &[0x44, 20, 21, 1, 10, 0, 1, 1, 1, 2, 3, 4, 10, 0, 2, 1, 5, 6, 7, 8]
        );
        // Nothing compiled: nothing echoed.
        assert_eq!(
            echo(&header(&[1, 1, 1, 0]), &Compiled::default(), |_| false),
            Ok(Echo::EMPTY)
        );
    }

    #[test]
    fn record_route_and_timestamp_slots() {
        let mut h = header(&[7, 11, 4, 0, 0, 0, 0, 0, 0, 0, 0, 0]);
        let c = compile(&mut h, E, |_| false).unwrap();
        assert_eq!((c.rr_addr, h[22]), (23, 8));
        assert_eq!(&h[23..27], &[10, 0, 1, 1]);
        fill(&mut h, c.rr_addr as u8, 0, Ipv4Addr::new(10, 0, 2, 1));
        assert_eq!(&h[23..27], &[10, 0, 2, 1]);
        assert!(crate::wire::ipv4::Packet::new_unchecked(&h[..]).verify_checksum());
        // Full: unchanged.
        let mut h = header(&[7, 7, 8, 0, 0, 0, 0, 0]);
        let c = compile(&mut h, E, |_| false).unwrap();
        assert_eq!((c.rr_addr, c.changed, h[22]), (0, false, 8));
        // Address and time.
        let mut h = header(&[0x44, 12, 5, 1, 0, 0, 0, 0, 0, 0, 0, 0]);
        let c = compile(&mut h, E, |_| false).unwrap();
        assert_eq!((c.ts_addr, c.ts_time, h[22]), (24, 28, 13));
        assert_eq!(&h[24..32], &[10, 0, 1, 1, 1, 2, 3, 4]);
        // Prespecified: only for our address.
        let opts = [0x44, 12, 5, 3, 10, 0, 1, 1, 0, 0, 0, 0];
        let ours = Ipv4Addr::new(10, 0, 1, 1);
        let c = compile(&mut header(&opts), E, |a| a == ours).unwrap();
        assert_eq!(c.ts_time, 28);
        let c = compile(&mut header(&opts), E, |_| false).unwrap();
        assert_eq!(c.ts_time, 0);
        // Overflow counted; bytes after END zeroed.
        let mut h = header(&[0x44, 4, 5, 0x10]);
        compile(&mut h, E, |_| false).unwrap();
        assert_eq!(h[23], 0x20);
        let mut h = header(&[1, 0, 5, 6]);
        assert!(compile(&mut h, E, |_| false).unwrap().changed);
        assert_eq!(&h[20..], &[1, 0, 0, 0]);
        // Without edit nothing changes.
        let mut h = header(&[7, 7, 4, 0, 0, 0, 0, 0]);
        let c = compile(&mut h, None, |_| false).unwrap();
        assert_eq!((c.rr_addr, h[22]), (0, 4));
    }
}
