//! TCP connection tracking: the kernel's TCP tracker
//! (`net/netfilter/nf_conntrack_proto_tcp.c`, as in Linux 6.17/6.18), one
//! connection at a time.
//!
//! **Contract.** Pure: no allocation, no I/O, no clock. The conntrack shard
//! owns the entries and their timers; this module owns the per-connection
//! TCP state ([`TcpConn`], the kernel's `struct ip_ct_tcp`) and decides, for
//! one segment, what the kernel's `nf_conntrack_tcp_packet` would: the new
//! state, the new timeout, ASSURED, or that the packet is INVALID, or that
//! the entry must go. The shard applies the [`TcpVerdict`].
//!
//! **Calling sequence** (as `nf_conntrack_in` does):
//!
//! ```text
//! seg = TcpSeg::from_header(header, payload_len)   None → INVALID ("truncated packet")
//! no entry:  conn = TcpConn::new(&seg, cfg)          None → INVALID, no entry made
//!            verdict = conn.packet(Orig, &seg, false, false, cfg)
//! entry:     verdict = conn.packet(dir, &seg, seen_reply, assured, cfg)
//! then:      Reopen → delete the entry and look the packet up again (it makes a new one);
//!            Invalid* → the packet leaves without an entry (ctstate INVALID);
//!            anything else → the packet keeps the entry, and a REPLY packet
//!            sets IPS_SEEN_REPLY (after the tracker ran, as the kernel does).
//! ```
//!
//! The checksum (`nf_conntrack_checksum`) is checked by the caller.
//!
//! **What the kernel does that this does not:** no NAT sequence adjustment
//! (`nf_ct_seq_offset` is 0: sluice's NAT does not resize payloads), no
//! SYN proxy keep-alive case, no `IPS_FIXED_TIMEOUT` and no cttimeout
//! policies (the timeouts are [`TcpConfig`]'s), no logging (each INVALID and
//! ignored case returns its reason instead of `nf_ct_l4proto_log_invalid`).
//! Timeouts are whole seconds where the kernel counts jiffies.
//!
//! **The window** (`tcp_in_window`) follows Guido van Rooij's "Real Stateful
//! TCP Packet Filtering in IP Filter" with the kernel's bounds: per direction
//! the tracker keeps `td_end` (highest seq + len sent), `td_maxend` (highest
//! ack + window the other side advertised), `td_maxwin` (largest window) and
//! `td_maxack` (highest ack sent); a segment must start no later than
//! `td_maxend`, end no earlier than `td_end - receiver.td_maxwin`, and
//! (s)ack no more than the receiver sent and no less than
//! `receiver.td_end - max(td_maxwin, 66000)`.

use std::fmt;

use super::tuple::Dir;
use crate::wire::tcp::{flags as tf, kind};

mod segment;
mod table;
#[cfg(test)]
mod tests;
mod verdict;

use ct_flag::*;
use segment::*;
pub use segment::{valid_flags, TcpSeg};
use table::*;
pub use verdict::*;

/// One direction's window (`struct ip_ct_tcp_state` without its scale and
/// flags, which [`TcpConn`] packs apart).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
struct Side {
    td_end: u32,
    td_maxend: u32,
    td_maxwin: u32,
    td_maxack: u32,
}

/// The outcome of `tcp_in_window` (`enum nf_ct_tcp_action`).
enum Window {
    Accept,
    Ignore(TcpIgnore),
    Invalid(TcpInvalid),
}

/// The outcome of the RST checks of the CLOSE transition.
enum RstCheck {
    Invalid,
    Pass { keep_state: bool, skip_window: bool },
}

const ORIG: usize = 0;
const REPLY: usize = 1;

/// Bits of `last_flags` the kernel uses; `last_wscale` lives in the rest.
const LAST_FLAGS: u8 = WINDOW_SCALE | SACK_PERM | EXP_CHALLENGE_ACK | SIMULTANEOUS_OPEN;
const LAST_WSCALE_SHIFT: u8 = 2;

/// Per-connection TCP state: the kernel's `struct ip_ct_tcp` (60 bytes),
/// packed into 52 — eleven 32-bit fields, the last window, and the small
/// fields in nibbles and bits.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct TcpConn {
    seen: [Side; 2],
    /// Seq, ack and end of the last ACK-only segment (for retransmission
    /// counting) or of the last ignored packet.
    last_seq: u32,
    last_ack: u32,
    last_end: u32,
    /// Its window, unscaled.
    last_win: u16,
    /// `seen[dir].flags`.
    flags: [u8; 2],
    /// `seen[dir].td_scale`: the original side's in the low nibble.
    scales: u8,
    /// `last_flags` ([`LAST_FLAGS`]) with `last_wscale` in bits 2..=5.
    last: u8,
    /// Retransmissions of the last ACK segment.
    retrans: u8,
    /// `state` in bits 0..=3, `last_index` in 4..=6, `last_dir` in 7.
    meta: u8,
}

impl TcpConn {
    /// `tcp_new` (after `tcp_error`): the state for a packet that may open
    /// a connection. A SYN starts it (the original side's window from the
    /// segment, its options noted); with `cfg.loose` an ACK met mid-stream
    /// picks it up, both directions then checked liberally and SACK
    /// assumed, since the history (window scaling above all) is lost.
    /// `None`: the packet is INVALID and no entry is made
    /// ([`TcpConn::try_new`] says why).
    ///
    /// The state is still NONE: run [`TcpConn::packet`] on the same
    /// segment next, as the kernel does.
    pub fn new(seg: &TcpSeg, cfg: &TcpConfig) -> Option<TcpConn> {
        TcpConn::try_new(seg, cfg).ok()
    }

    /// [`TcpConn::new`] with the reason for a refusal.
    pub fn try_new(seg: &TcpSeg, cfg: &TcpConfig) -> Result<TcpConn, TcpInvalid> {
        if !valid_flags(seg.flags) {
            return Err(TcpInvalid::BadFlags);
        }
        let new_state = TCP_CONNTRACKS[ORIG][Index::of(seg.flags) as usize][usize::from(st::NO)];
        if new_state >= st::IV {
            return Err(TcpInvalid::New);
        }
        let mut c = TcpConn {
            seen: [Side::default(); 2],
            last_seq: 0,
            last_ack: 0,
            last_end: 0,
            last_win: 0,
            flags: [0; 2],
            scales: 0,
            last: 0,
            retrans: 0,
            meta: 0,
        };
        let end = seg.end();
        let maxwin = u32::from(seg.win).max(1);
        if new_state == st::SS {
            c.seen[ORIG] = Side {
                td_end: end,
                td_maxend: end,
                td_maxwin: maxwin,
                td_maxack: 0,
            };
            c.tcp_options(ORIG, seg);
        } else if !cfg.loose {
            return Err(TcpInvalid::NoPickup);
        } else {
            c.seen[ORIG] = Side {
                td_end: end,
                td_maxend: end.wrapping_add(maxwin),
                td_maxwin: maxwin,
                td_maxack: 0,
            };
            c.flags = [SACK_PERM | BE_LIBERAL; 2];
        }
        c.set_last_index(Index::None);
        Ok(c)
    }

    /// The connection's state.
    #[inline]
    pub fn state(&self) -> TcpState {
        TcpState::ALL[usize::from(self.meta & 0x0f)]
    }

    /// `IP_CT_TCP_FLAG_*` of one direction ([`ct_flag`]).
    pub fn flags(&self, dir: Dir) -> u8 {
        self.flags[dir.index()]
    }

    /// The window scale of one direction (0 unless both sides sent it).
    pub fn wscale(&self, dir: Dir) -> u8 {
        self.scale(dir.index())
    }

    /// `tcp_can_early_drop`: the connection is closing, so the entry may
    /// be evicted first when the table is full.
    pub fn can_early_drop(&self) -> bool {
        can_early_drop(self.state_raw())
    }

    /// `nf_conntrack_tcp_packet` (from `tcp_error`'s flag check on) for a
    /// packet of this connection in direction `dir`. `seen_reply` and
    /// `assured`: the entry's IPS_SEEN_REPLY and IPS_ASSURED as they were
    /// before this packet.
    pub fn packet(
        &mut self,
        dir: Dir,
        seg: &TcpSeg,
        seen_reply: bool,
        assured: bool,
        cfg: &TcpConfig,
    ) -> TcpVerdict {
        if !valid_flags(seg.flags) {
            return TcpVerdict::Invalid(TcpInvalid::BadFlags);
        }
        let d = dir.index();
        let index = Index::of(seg.flags);
        let mut old_state = self.state_raw();
        let mut new_state = TCP_CONNTRACKS[d][index as usize][usize::from(old_state)];
        let mut check_window = true;

        match new_state {
            st::SS if old_state < st::TW => {}
            st::SS | st::IG => {
                // A SYN in TIME_WAIT or CLOSE (RFC 1122 4.2.2.13: TIME_WAIT
                // may be reopened), or a packet the table ignores.
                if new_state == st::SS && self.closed_by(d) {
                    return TcpVerdict::Reopen;
                }
                if !self.resync_on_synack(d, index, seg) {
                    self.note_ignored(d, index, seg, old_state);
                    return TcpVerdict::Ignore(TcpIgnore::Transition);
                }
                old_state = st::SS;
                new_state = st::SR;
            }
            st::IV => return TcpVerdict::Invalid(TcpInvalid::Transition),
            // RFC 5961: the answer to a SYN sent in LAST_ACK is a
            // challenge ACK, not the last ACK.
            st::TW
                if old_state == st::LA
                    && index == Index::Ack
                    && self.last_dir() != d
                    && self.last_index() == Index::Syn
                    && self.last_flags() & EXP_CHALLENGE_ACK != 0 =>
            {
                self.set_last_flags(self.last_flags() & !EXP_CHALLENGE_ACK);
                return TcpVerdict::Ignore(TcpIgnore::ChallengeAck);
            }
            // The table cannot tell a simultaneous open apart.
            st::S2 => self.set_last_flags(self.last_flags() | SIMULTANEOUS_OPEN),
            st::SR
                if d == REPLY
                    && index == Index::Ack
                    && self.last_flags() & SIMULTANEOUS_OPEN != 0 =>
            {
                new_state = st::ES;
            }
            st::CL if index == Index::Rst => {
                match self.check_rst(d, seg, old_state, seen_reply, assured, cfg) {
                    RstCheck::Invalid => return TcpVerdict::Invalid(TcpInvalid::Rst),
                    RstCheck::Pass {
                        keep_state,
                        skip_window,
                    } => {
                        if keep_state {
                            new_state = old_state;
                        }
                        check_window = !skip_window;
                    }
                }
            }
            _ => {}
        }

        if check_window {
            match self.tcp_in_window(d, index, seg, cfg) {
                Window::Accept => {}
                Window::Ignore(why) => return TcpVerdict::Ignore(why),
                Window::Invalid(why) => return self.handle_invalid(d, index, why, assured, cfg),
            }
        }

        // In window from here on.
        self.set_last_index(index);
        self.set_last_dir(d);
        self.set_state_raw(new_state);
        if old_state != new_state && new_state == st::FW {
            self.flags[d] |= CLOSE_INIT;
        }

        let t = &cfg.timeouts;
        let state_timeout = t[usize::from(new_state)];
        let mut timeout = if self.retrans >= cfg.max_retrans && state_timeout > cfg.retrans {
            cfg.retrans
        } else if index == Index::Rst {
            t[TcpState::Close.index()]
        } else if (self.flags[ORIG] | self.flags[REPLY]) & DATA_UNACKNOWLEDGED != 0
            && state_timeout > cfg.unack
        {
            cfg.unack
        } else if self.last_win == 0 && state_timeout > cfg.retrans {
            cfg.retrans
        } else {
            state_timeout
        };
        let changed = new_state != old_state;

        let mut set_assured = false;
        if !seen_reply {
            // Only an RST came back: no connection to speak of.
            if seg.has(tf::RST) {
                return TcpVerdict::Kill;
            }
            if index == Index::Syn && old_state == st::SS {
                return TcpVerdict::SynNoRefresh { changed };
            }
            // Picked up mid-stream and never answered: not 5 days.
            if new_state == st::ES && timeout > cfg.unack {
                timeout = cfg.unack;
            }
        } else if !assured && (old_state == st::SR || old_state == st::ES) && new_state == st::ES {
            // A valid ACK after SYN_RECV, or an answer to a picked-up
            // connection.
            set_assured = true;
        }
        TcpVerdict::Accept {
            timeout,
            assured: set_assured,
            changed,
        }
    }

    /// Whether a SYN in TIME_WAIT or CLOSE reopens: either side sent a
    /// FIN, or the last packet in the SYN's direction was an RST.
    fn closed_by(&self, d: usize) -> bool {
        (self.flags[ORIG] | self.flags[REPLY]) & CLOSE_INIT != 0
            || (self.last_dir() == d && self.last_index() == Index::Rst)
    }

    /// Ignored case b): a SYN/ACK answering a SYN we ignored means both
    /// ends are in sync and we are not; take the SYN's noted values and
    /// go on as SYN_SENT → SYN_RECV. False when it is not that case.
    fn resync_on_synack(&mut self, d: usize, index: Index, seg: &TcpSeg) -> bool {
        let ld = self.last_dir();
        if !(index == Index::SynAck
            && self.last_index() == Index::Syn
            && ld != d
            && seg.ack == self.last_end)
        {
            return false;
        }
        self.seen[ld].td_end = self.last_end;
        self.seen[ld].td_maxend = self.last_end;
        self.seen[ld].td_maxwin = u32::from(self.last_win).max(1);
        self.set_scale(ld, self.last_wscale());
        let last_flags = self.last_flags() & !EXP_CHALLENGE_ACK;
        self.set_last_flags(last_flags);
        self.flags[ld] = last_flags;
        // nf_ct_tcp_state_reset
        self.seen[d] = Side::default();
        self.set_scale(d, 0);
        self.flags[d] &= BE_LIBERAL;
        true
    }

    /// Notes an ignored packet so that its answer can be recognised: case
    /// a) a SYN from the original side (its options too), case c) an ACK
    /// from the reply side in SYN_SENT (a possible challenge ACK).
    fn note_ignored(&mut self, d: usize, index: Index, seg: &TcpSeg, old_state: u8) {
        self.set_last_index(index);
        self.set_last_dir(d);
        self.last_seq = seg.seq;
        self.last_end = seg.end();
        self.last_win = seg.win;
        if index == Index::Syn && d == ORIG {
            let mut flags = 0;
            let mut wscale = 0;
            if let Some(ws) = seg.wscale {
                flags |= WINDOW_SCALE;
                wscale = ws.min(MAX_WSCALE);
            }
            if seg.sack_perm {
                flags |= SACK_PERM;
            }
            if old_state == st::LA {
                flags |= EXP_CHALLENGE_ACK;
            }
            self.last = flags | (wscale << LAST_WSCALE_SHIFT);
        }
        if old_state == st::SS && index == Index::Ack && d == REPLY {
            self.last_ack = seg.ack;
        }
    }

    /// The RST checks of a move to CLOSE.
    fn check_rst(
        &self,
        d: usize,
        seg: &TcpSeg,
        old_state: u8,
        seen_reply: bool,
        assured: bool,
        cfg: &TcpConfig,
    ) -> RstCheck {
        let pass = RstCheck::Pass {
            keep_state: false,
            skip_window: false,
        };
        // Closing already: the tuple may be in use again and the sequence
        // numbers stale, so no checks.
        if can_early_drop(old_state) {
            return RstCheck::Pass {
                keep_state: false,
                skip_window: true,
            };
        }
        let r = 1 - d;
        let mut keep_state = false;
        // td_maxack is stale if a SYN went through since.
        if self.flags[r] & MAXACK_SET != 0 && self.last_index() != Index::Syn {
            let seq = seg.seq;
            let established = old_state == st::ES && assured;
            // Most likely the answer to a SYN let through.
            if seq == 0 && !established {
                return pass;
            }
            if before(seq, self.seen[r].td_maxack) && !cfg.ignore_invalid_rst {
                return RstCheck::Invalid;
            }
            if !established || seq == self.seen[r].td_maxack {
                return pass;
            }
            // Part of a train: data, then an RST right after it.
            if self.last_index() == Index::Ack && self.last_dir() == d && seq == self.last_end {
                return pass;
            }
            // In window but not exact: keep the state for a challenge ACK.
            keep_state = true;
        }
        let last = self.last_index();
        // Answers to a SYN (case a) or an ACK (case c) we let through:
        // no window check, the packet may ACK what we ignored.
        if ((seen_reply && last == Index::Syn) || (!assured && last == Index::Ack))
            && seg.ack == self.last_end
        {
            return RstCheck::Pass {
                keep_state,
                skip_window: true,
            };
        }
        // An RST answering a challenge ACK we let through.
        if old_state == st::SS
            && last == Index::Ack
            && self.last_dir() == REPLY
            && seg.seq == self.last_ack
        {
            return RstCheck::Pass {
                keep_state,
                skip_window: true,
            };
        }
        RstCheck::Pass {
            keep_state,
            skip_window: false,
        }
    }

    /// `tcp_in_window`: checks the segment against both directions'
    /// windows and, if it passes, moves them on; counts retransmissions.
    fn tcp_in_window(&mut self, d: usize, index: Index, seg: &TcpSeg, cfg: &TcpConfig) -> Window {
        let r = 1 - d;
        let mut seq = seg.seq;
        let mut ack = seg.ack;
        let mut sack = ack;
        let win_raw = seg.win;
        let mut win = u32::from(win_raw);
        let mut end = seg.end();
        let syn = seg.has(tf::SYN);
        let has_ack = seg.has(tf::ACK);

        if self.flags[r] & SACK_PERM != 0 {
            if let Some(s) = seg.sack_max {
                sack = s;
            }
        }

        if self.seen[d].td_maxwin == 0 {
            // First packet from this side.
            if syn {
                self.init_sender(d, seg, end, win);
                if !has_ack {
                    // Simultaneous open.
                    return Window::Accept;
                }
            } else {
                // Mid-stream: take what the packet says.
                self.seen[d].td_end = end;
                let swin = win << self.scale(d);
                self.seen[d].td_maxwin = swin.max(1);
                self.seen[d].td_maxend = end.wrapping_add(self.seen[d].td_maxwin);
                if self.seen[r].td_maxwin == 0 {
                    // Nothing from the other side yet: let III and IV pass.
                    self.seen[r].td_end = sack;
                    self.seen[r].td_maxend = sack;
                } else if sack == self.seen[r].td_end.wrapping_add(1) {
                    // Likely the answer to a keepalive.
                    self.seen[r].td_end = self.seen[r].td_end.wrapping_add(1);
                }
            }
        } else if syn
            && after(end, self.seen[d].td_end)
            && matches!(self.state_raw(), st::SS | st::SR)
        {
            // RFC 793: a restarted TCP only needs higher sequence numbers;
            // take this SYN (or SYN/ACK) afresh.
            self.init_sender(d, seg, end, win);
            if d == REPLY && !has_ack {
                return Window::Accept;
            }
        }

        if !has_ack || (seg.has(tf::RST) && ack == 0) {
            // No ACK (or the ACK+RST with ack 0 of broken stacks):
            // pretend it acknowledges everything.
            ack = self.seen[r].td_end;
            sack = ack;
        }

        if seg.has(tf::RST) && seq == 0 && self.state_raw() == st::SS {
            // An RST answering a SYN.
            seq = self.seen[d].td_end;
            end = seq;
        }

        let sender = self.seen[d];
        let receiver = self.seen[r];
        let max_ack_win = sender.td_maxwin.max(MAX_ACK_WIN_CONST);
        let ack_floor = receiver.td_end.wrapping_sub(max_ack_win).wrapping_sub(1);

        // I. seq <= sender.td_maxend
        if !before(seq, sender.td_maxend.wrapping_add(1)) {
            let overshot = end.wrapping_sub(sender.td_maxend).wrapping_add(1);
            let ack_ok = after(sack, ack_floor);
            let in_recv_win = receiver.td_maxwin != 0
                && after(
                    end,
                    sender
                        .td_end
                        .wrapping_sub(receiver.td_maxwin)
                        .wrapping_sub(1),
                );
            if in_recv_win
                && ack_ok
                && overshot <= receiver.td_maxwin
                && before(sack, receiver.td_end.wrapping_add(1))
            {
                // A TCP sending more than the window allows: if the peer
                // takes it, its ACK must not look out of bounds later.
                self.seen[d].td_end = end;
                self.flags[d] |= DATA_UNACKNOWLEDGED;
                return self.log_invalid(d, cfg, Window::Ignore(TcpIgnore::Overshoot));
            }
            return self.log_invalid(d, cfg, Window::Invalid(TcpInvalid::SeqOverUpperBound));
        }

        // III. sack <= receiver.td_end
        if !before(sack, receiver.td_end.wrapping_add(1)) {
            return self.log_invalid(d, cfg, Window::Invalid(TcpInvalid::AckOverUpperBound));
        }

        // II. seq + len >= sender.td_end - receiver.td_maxwin
        let in_recv_win = receiver.td_maxwin == 0
            || after(
                end,
                sender
                    .td_end
                    .wrapping_sub(receiver.td_maxwin)
                    .wrapping_sub(1),
            );
        if !in_recv_win {
            return self.log_invalid(d, cfg, Window::Ignore(TcpIgnore::SeqUnderLowerBound));
        }

        // IV. sack >= receiver.td_end - MAXACKWINDOW
        if !after(sack, ack_floor) {
            return self.log_invalid(d, cfg, Window::Ignore(TcpIgnore::AckUnderLowerBound));
        }

        // RFC 7323: the window of a SYN is never scaled.
        if !syn {
            win <<= self.scale(d);
        }

        let swin = win.wrapping_add(sack.wrapping_sub(ack));
        let s = &mut self.seen[d];
        if s.td_maxwin < swin {
            s.td_maxwin = swin;
        }
        if after(end, s.td_end) {
            s.td_end = end;
            self.flags[d] |= DATA_UNACKNOWLEDGED;
        }
        if has_ack {
            if self.flags[d] & MAXACK_SET == 0 {
                self.seen[d].td_maxack = ack;
                self.flags[d] |= MAXACK_SET;
            } else if after(ack, self.seen[d].td_maxack) {
                self.seen[d].td_maxack = ack;
            }
        }

        let sender_maxend = self.seen[d].td_maxend;
        let rcv = &mut self.seen[r];
        if rcv.td_maxwin != 0 && after(end, sender_maxend) {
            rcv.td_maxwin = rcv.td_maxwin.wrapping_add(end.wrapping_sub(sender_maxend));
        }
        if after(sack.wrapping_add(win), rcv.td_maxend.wrapping_sub(1)) {
            rcv.td_maxend = sack.wrapping_add(win);
            if win == 0 {
                rcv.td_maxend = rcv.td_maxend.wrapping_add(1);
            }
        }
        if ack == rcv.td_end {
            self.flags[r] &= !DATA_UNACKNOWLEDGED;
        }

        // Retransmissions: the same ACK segment again.
        if index == Index::Ack {
            if self.last_dir() == d
                && self.last_seq == seq
                && self.last_ack == ack
                && self.last_end == end
                && self.last_win == win_raw
            {
                self.retrans = self.retrans.wrapping_add(1);
            } else {
                self.set_last_dir(d);
                self.last_seq = seq;
                self.last_ack = ack;
                self.last_end = end;
                self.last_win = win_raw;
                self.retrans = 0;
            }
        }
        Window::Accept
    }

    /// `nf_tcp_log_invalid`: a liberal sender (or `tcp_be_liberal`) gets
    /// every window failure accepted, as is and at once.
    fn log_invalid(&self, d: usize, cfg: &TcpConfig, res: Window) -> Window {
        if self.flags[d] & BE_LIBERAL != 0 || cfg.be_liberal {
            Window::Accept
        } else {
            res
        }
    }

    /// `tcp_init_sender`: a side's first SYN (or SYN/ACK) sets its window;
    /// scaling holds only if both sides offered it (RFC 7323 §1.3).
    fn init_sender(&mut self, d: usize, seg: &TcpSeg, end: u32, win: u32) {
        self.seen[d].td_end = end;
        self.seen[d].td_maxend = end;
        self.seen[d].td_maxwin = win.max(1);
        self.tcp_options(d, seg);
        let r = 1 - d;
        if d == REPLY && !(self.flags[d] & WINDOW_SCALE != 0 && self.flags[r] & WINDOW_SCALE != 0) {
            self.set_scale(d, 0);
            self.set_scale(r, 0);
        }
    }

    /// `tcp_options` applied to side `d`: with options present, the scale
    /// and the flags (all but BE_LIBERAL) are taken from them afresh.
    fn tcp_options(&mut self, d: usize, seg: &TcpSeg) {
        if !seg.options_present() {
            return;
        }
        self.set_scale(d, 0);
        self.flags[d] &= BE_LIBERAL;
        if seg.sack_perm {
            self.flags[d] |= SACK_PERM;
        }
        if let Some(ws) = seg.wscale {
            self.set_scale(d, ws.min(MAX_WSCALE));
            self.flags[d] |= WINDOW_SCALE;
        }
    }

    /// `nf_tcp_handle_invalid`: on an ASSURED entry, a FIN or RST out of
    /// window answering one from the other side shortens the timeout (the
    /// ends and the tracker disagree; let the entry go sooner); else the
    /// packet is noted as the last one.
    fn handle_invalid(
        &mut self,
        d: usize,
        index: Index,
        reason: TcpInvalid,
        assured: bool,
        cfg: &TcpConfig,
    ) -> TcpVerdict {
        if assured && matches!(index, Index::Rst | Index::Fin) {
            if self.last_dir() != d && matches!(self.last_index(), Index::Fin | Index::Rst) {
                return TcpVerdict::InvalidShorten {
                    reason,
                    timeout: cfg.unack,
                };
            }
            self.set_last_index(index);
            self.set_last_dir(d);
        }
        TcpVerdict::Invalid(reason)
    }

    // The packed fields.

    #[inline]
    fn state_raw(&self) -> u8 {
        self.meta & 0x0f
    }

    #[inline]
    fn set_state_raw(&mut self, s: u8) {
        debug_assert!(s < st::IV);
        self.meta = (self.meta & 0xf0) | s;
    }

    #[inline]
    fn last_index(&self) -> Index {
        Index::ALL[usize::from((self.meta >> 4) & 0x07)]
    }

    #[inline]
    fn set_last_index(&mut self, i: Index) {
        self.meta = (self.meta & 0x8f) | ((i as u8) << 4);
    }

    #[inline]
    fn last_dir(&self) -> usize {
        usize::from(self.meta >> 7)
    }

    #[inline]
    fn set_last_dir(&mut self, d: usize) {
        self.meta = (self.meta & 0x7f) | ((d as u8) << 7);
    }

    #[inline]
    fn scale(&self, d: usize) -> u8 {
        (self.scales >> (4 * d)) & 0x0f
    }

    #[inline]
    fn set_scale(&mut self, d: usize, s: u8) {
        let shift = 4 * d;
        self.scales = (self.scales & !(0x0f << shift)) | ((s & 0x0f) << shift);
    }

    #[inline]
    fn last_flags(&self) -> u8 {
        self.last & LAST_FLAGS
    }

    #[inline]
    fn set_last_flags(&mut self, f: u8) {
        self.last = (self.last & !LAST_FLAGS) | (f & LAST_FLAGS);
    }

    #[inline]
    fn last_wscale(&self) -> u8 {
        (self.last >> LAST_WSCALE_SHIFT) & 0x0f
    }
}

/// `tcp_can_early_drop` on a raw state.
fn can_early_drop(state: u8) -> bool {
    matches!(state, st::FW | st::LA | st::TW | st::CL | st::CW)
}

impl fmt::Debug for TcpConn {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let side = |d: usize| {
            let s = self.seen[d];
            (
                s.td_end,
                s.td_maxend,
                s.td_maxwin,
                s.td_maxack,
                self.scale(d),
                self.flags[d],
            )
        };
        f.debug_struct("TcpConn")
            .field("state", &self.state())
            .field("orig(end,maxend,maxwin,maxack,scale,flags)", &side(ORIG))
            .field("reply(end,maxend,maxwin,maxack,scale,flags)", &side(REPLY))
            .field("last_index", &self.last_index())
            .field("last_dir", &self.last_dir())
            .field("last_seq", &self.last_seq)
            .field("last_ack", &self.last_ack)
            .field("last_end", &self.last_end)
            .field("last_win", &self.last_win)
            .field("last_wscale", &self.last_wscale())
            .field("last_flags", &self.last_flags())
            .field("retrans", &self.retrans)
            .finish()
    }
}
