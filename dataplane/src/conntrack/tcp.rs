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

/// `TCP_CONNTRACK_*`, in the kernel's order (`enum tcp_conntrack`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[repr(u8)]
pub enum TcpState {
    None = 0,
    SynSent,
    SynRecv,
    Established,
    FinWait,
    CloseWait,
    LastAck,
    TimeWait,
    Close,
    /// `TCP_CONNTRACK_SYN_SENT2` (the old `LISTEN` slot): a SYN from the
    /// reply side after one from the original side, a simultaneous open.
    SynSent2,
}

impl TcpState {
    /// Every state, by value.
    pub const ALL: [TcpState; 10] = [
        TcpState::None,
        TcpState::SynSent,
        TcpState::SynRecv,
        TcpState::Established,
        TcpState::FinWait,
        TcpState::CloseWait,
        TcpState::LastAck,
        TcpState::TimeWait,
        TcpState::Close,
        TcpState::SynSent2,
    ];

    /// As `conntrack -L` prints it (`tcp_conntrack_names`).
    pub fn name(self) -> &'static str {
        match self {
            TcpState::None => "NONE",
            TcpState::SynSent => "SYN_SENT",
            TcpState::SynRecv => "SYN_RECV",
            TcpState::Established => "ESTABLISHED",
            TcpState::FinWait => "FIN_WAIT",
            TcpState::CloseWait => "CLOSE_WAIT",
            TcpState::LastAck => "LAST_ACK",
            TcpState::TimeWait => "TIME_WAIT",
            TcpState::Close => "CLOSE",
            TcpState::SynSent2 => "SYN_SENT2",
        }
    }

    /// The index into [`TcpConfig::timeouts`].
    #[inline]
    pub fn index(self) -> usize {
        self as usize
    }
}

impl fmt::Display for TcpState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// The per-direction flags (`IP_CT_TCP_FLAG_*`, `nf_conntrack_tcp.h`), as
/// ctnetlink reports them.
pub mod ct_flag {
    /// The sender sent the window scale option.
    pub const WINDOW_SCALE: u8 = 0x01;
    /// The sender sent SACK-permitted.
    pub const SACK_PERM: u8 = 0x02;
    /// The sender sent the first FIN.
    pub const CLOSE_INIT: u8 = 0x04;
    /// No window checks for this sender.
    pub const BE_LIBERAL: u8 = 0x08;
    /// The sender has data the other side has not acknowledged.
    pub const DATA_UNACKNOWLEDGED: u8 = 0x10;
    /// `td_maxack` is set.
    pub const MAXACK_SET: u8 = 0x20;
    /// `last_flags` only: an RFC 5961 challenge ACK may come
    /// (`IP_CT_EXP_CHALLENGE_ACK`).
    pub const EXP_CHALLENGE_ACK: u8 = 0x40;
    /// `last_flags` only: a simultaneous open began
    /// (`IP_CT_TCP_SIMULTANEOUS_OPEN`).
    pub const SIMULTANEOUS_OPEN: u8 = 0x80;
}
use ct_flag::*;

/// `TCP_MAX_WSCALE`: larger shifts are taken as 14 (RFC 7323 §2.3).
const MAX_WSCALE: u8 = 14;

/// `MAXACKWINCONST`: the least slack allowed below the receiver's `td_end`
/// for an ACK.
const MAX_ACK_WIN_CONST: u32 = 66000;

/// What the tracker needs of one segment (the shard fills it from the
/// frame, usually with [`TcpSeg::from_header`]).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct TcpSeg {
    /// The flags byte (`crate::wire::tcp::flags`).
    pub flags: u8,
    pub seq: u32,
    pub ack: u32,
    pub win: u16,
    /// Payload bytes: the IP payload minus the TCP header with options.
    pub data_len: u32,
    /// The window scale option, if present (the last one), at most 14.
    pub wscale: Option<u8>,
    /// A SACK-permitted option is present.
    pub sack_perm: bool,
    /// What `tcp_sack` leaves in `sack`: starting from `ack`, the right
    /// edge of each block of the first well-formed SACK option that is
    /// after the value so far replaces it. `None` without a SACK option.
    /// (Built by hand: the highest right edge, if after `ack`.)
    pub sack_max: Option<u32>,
    /// The header has options (data offset > 5). The kernel's
    /// `tcp_options` resets a sender's scale and flags only then; a
    /// `wscale`, `sack_perm` or `sack_max` implies it.
    pub has_options: bool,
}

impl TcpSeg {
    /// Reads a segment from the TCP header as in the frame (fixed header
    /// and options; bytes after the data offset are not read):
    /// `tcp_options` and `tcp_sack`'s parse, including where they stop
    /// (EOL, a length under 2, an option running past the header). `None`
    /// when the header is cut short (`tcp_error`'s "truncated packet").
    /// Never panics.
    pub fn from_header(tcp_header: &[u8], data_len: u32) -> Option<TcpSeg> {
        let h = tcp_header;
        if h.len() < 20 {
            return None;
        }
        let hlen = usize::from(h[12] >> 4) * 4;
        if hlen < 20 || h.len() < hlen {
            return None;
        }
        let ack = be32(&h[8..12]);
        let mut seg = TcpSeg {
            flags: h[13],
            seq: be32(&h[4..8]),
            ack,
            win: u16::from_be_bytes([h[14], h[15]]),
            data_len,
            has_options: hlen > 20,
            ..TcpSeg::default()
        };
        // One walk serves both kernel parsers: they stop at the same
        // places, `tcp_sack` only earlier (after its first SACK option).
        let opts = &h[20..hlen];
        let mut i = 0;
        while i < opts.len() {
            match opts[i] {
                kind::END => break,
                kind::NOP => i += 1,
                k => {
                    let left = opts.len() - i;
                    if left < 2 {
                        break;
                    }
                    let size = usize::from(opts[i + 1]);
                    if size < 2 || size > left {
                        break;
                    }
                    let body = &opts[i + 2..i + size];
                    match (k, size) {
                        (kind::SACK_PERMITTED, 2) => seg.sack_perm = true,
                        (kind::WINDOW_SCALE, 3) => seg.wscale = Some(body[0].min(MAX_WSCALE)),
                        (kind::SACK, _)
                            if seg.sack_max.is_none() && size >= 10 && (size - 2) % 8 == 0 =>
                        {
                            let mut sack = ack;
                            for block in body.chunks_exact(8) {
                                let right = be32(&block[4..8]);
                                if after(right, sack) {
                                    sack = right;
                                }
                            }
                            seg.sack_max = Some(sack);
                        }
                        _ => {}
                    }
                    i += size;
                }
            }
        }
        Some(seg)
    }

    /// `segment_seq_plus_len`: the sequence number after this segment
    /// (SYN and FIN count one each).
    #[inline]
    pub fn end(&self) -> u32 {
        self.seq
            .wrapping_add(self.data_len)
            .wrapping_add(u32::from(self.flags & tf::SYN != 0))
            .wrapping_add(u32::from(self.flags & tf::FIN != 0))
    }

    #[inline]
    fn has(&self, flag: u8) -> bool {
        self.flags & flag != 0
    }

    #[inline]
    fn options_present(&self) -> bool {
        self.has_options || self.wscale.is_some() || self.sack_perm || self.sack_max.is_some()
    }
}

#[inline]
fn be32(b: &[u8]) -> u32 {
    u32::from_be_bytes([b[0], b[1], b[2], b[3]])
}

/// The kernel's `before()`: `a` comes before `b` in sequence space.
#[inline]
fn before(a: u32, b: u32) -> bool {
    (a.wrapping_sub(b) as i32) < 0
}

/// The kernel's `after()`.
#[inline]
fn after(a: u32, b: u32) -> bool {
    before(b, a)
}

/// `tcp_valid_flags`, indexed by the flags without PSH, ECE and CWR (which
/// are always allowed).
const VALID_FLAGS: [bool; 0x38] = {
    let mut t = [false; 0x38];
    let valid = [
        tf::SYN,
        tf::SYN | tf::URG,
        tf::SYN | tf::ACK,
        tf::RST,
        tf::RST | tf::ACK,
        tf::FIN | tf::ACK,
        tf::FIN | tf::ACK | tf::URG,
        tf::ACK,
        tf::ACK | tf::URG,
    ];
    let mut i = 0;
    while i < valid.len() {
        t[valid[i] as usize] = true;
        i += 1;
    }
    t
};

/// `tcp_error`'s flag check: whether the flag combination is one a TCP may
/// send. Any other (no flags, SYN+FIN, SYN+RST, FIN without ACK, ...) makes
/// the packet INVALID, for new and existing connections alike.
#[inline]
pub fn valid_flags(flags: u8) -> bool {
    VALID_FLAGS[usize::from(flags & !(tf::ECE | tf::CWR | tf::PSH))]
}

/// The sysctls of the TCP tracker (`net.netfilter.nf_conntrack_tcp_*`);
/// [`Default`] is the kernel's.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TcpConfig {
    /// Seconds, by [`TcpState::index`] (`tcp_timeout_*`; NONE is unused by
    /// the kernel's sysctls and equal to SYN_SENT).
    pub timeouts: [u32; 10],
    /// `tcp_timeout_max_retrans`: after `max_retrans` retransmissions, or
    /// with a zero window.
    pub retrans: u32,
    /// `tcp_timeout_unacknowledged`: with data in flight.
    pub unack: u32,
    /// `tcp_loose`: pick up connections met mid-stream.
    pub loose: bool,
    /// `tcp_be_liberal`: out-of-window packets are not INVALID (RSTs are
    /// still checked).
    pub be_liberal: bool,
    /// `tcp_max_retrans`.
    pub max_retrans: u8,
    /// `tcp_ignore_invalid_rst`: no check of an RST's sequence number
    /// against the peer's highest ACK.
    pub ignore_invalid_rst: bool,
}

impl Default for TcpConfig {
    /// `tcp_timeouts` and `nf_conntrack_tcp_init_net`.
    fn default() -> TcpConfig {
        TcpConfig {
            timeouts: [
                120,       // NONE (= SYN_SENT)
                120,       // SYN_SENT
                60,        // SYN_RECV
                5 * 86400, // ESTABLISHED
                120,       // FIN_WAIT
                60,        // CLOSE_WAIT
                30,        // LAST_ACK
                120,       // TIME_WAIT
                10,        // CLOSE
                120,       // SYN_SENT2
            ],
            retrans: 300,
            unack: 300,
            loose: true,
            be_liberal: false,
            max_retrans: 3,
            ignore_invalid_rst: false,
        }
    }
}

/// Why a packet is INVALID for conntrack.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum TcpInvalid {
    /// The header is cut short or its data offset is under 5 (`tcp_error`).
    Truncated,
    /// A flag combination no TCP sends (`tcp_error`, [`valid_flags`]).
    BadFlags,
    /// Only a SYN, or an ACK with `tcp_loose`, may start a connection
    /// (`tcp_new`).
    New,
    /// Not a SYN, and `tcp_loose` is 0 (`tcp_new`).
    NoPickup,
    /// The state table has no transition for this packet here (`sIV`).
    Transition,
    /// An RST below the highest ACK the other side sent.
    Rst,
    /// `tcp_in_window`: the segment starts past the receiver's window.
    SeqOverUpperBound,
    /// `tcp_in_window`: it acknowledges data not sent yet.
    AckOverUpperBound,
}

impl TcpInvalid {
    /// The counter reason.
    pub fn name(self) -> &'static str {
        match self {
            TcpInvalid::Truncated => "truncated",
            TcpInvalid::BadFlags => "bad_flags",
            TcpInvalid::New => "invalid_new",
            TcpInvalid::NoPickup => "no_pickup",
            TcpInvalid::Transition => "invalid_transition",
            TcpInvalid::Rst => "invalid_rst",
            TcpInvalid::SeqOverUpperBound => "seq_over_upper_bound",
            TcpInvalid::AckOverUpperBound => "ack_over_upper_bound",
        }
    }
}

impl fmt::Display for TcpInvalid {
    /// The kernel's log text.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            TcpInvalid::Truncated => "truncated packet",
            TcpInvalid::BadFlags => "invalid tcp flag combination",
            TcpInvalid::New => "invalid new",
            TcpInvalid::NoPickup => "not a SYN and tcp_loose is 0",
            TcpInvalid::Transition => "packet invalid in this state",
            TcpInvalid::Rst => "invalid rst",
            TcpInvalid::SeqOverUpperBound => {
                "SEQ is over upper bound (over the window of the receiver)"
            }
            TcpInvalid::AckOverUpperBound => "ACK is over upper bound (ACKed data not seen yet)",
        })
    }
}

/// Why the tracker let a packet pass without tracking it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum TcpIgnore {
    /// The state table says `sIG`: a packet that may mean the entry is out
    /// of sync (a SYN in an open connection, a late SYN/ACK...); it is
    /// noted, and the answer it draws resynchronises the entry.
    Transition,
    /// The ACK answering a SYN sent in LAST_ACK: an RFC 5961 challenge
    /// ACK, not the last ACK.
    ChallengeAck,
    /// A few bytes past the receiver's window, which the receiver may
    /// well accept (`td_end` is moved on).
    Overshoot,
    /// Data the receiver has already acknowledged, sent again.
    SeqUnderLowerBound,
    /// An ACK far below what the receiver has sent (overly delayed).
    AckUnderLowerBound,
}

impl TcpIgnore {
    /// The counter reason.
    pub fn name(self) -> &'static str {
        match self {
            TcpIgnore::Transition => "ignored_transition",
            TcpIgnore::ChallengeAck => "challenge_ack",
            TcpIgnore::Overshoot => "overshoot",
            TcpIgnore::SeqUnderLowerBound => "seq_under_lower_bound",
            TcpIgnore::AckUnderLowerBound => "ack_under_lower_bound",
        }
    }
}

impl fmt::Display for TcpIgnore {
    /// The kernel's log text.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            TcpIgnore::Transition => "packet ignored in this state",
            TcpIgnore::ChallengeAck => "challenge-ack ignored",
            TcpIgnore::Overshoot => "bytes more than expected",
            TcpIgnore::SeqUnderLowerBound => {
                "SEQ is under lower bound (already ACKed data retransmitted)"
            }
            TcpIgnore::AckUnderLowerBound => {
                "ignored ACK under lower bound (possible overly delayed)"
            }
        })
    }
}

/// What the caller must do after [`TcpConn::packet`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TcpVerdict {
    /// `NF_ACCEPT` and `nf_ct_refresh_acct`: the entry now expires in
    /// `timeout` seconds. `assured`: set IPS_ASSURED now (`IPCT_ASSURED`).
    /// `changed`: this packet moved the state (`IPCT_PROTOINFO`).
    Accept {
        timeout: u32,
        assured: bool,
        changed: bool,
    },
    /// `NF_ACCEPT` with the timeout left alone: the state was updated, but
    /// a SYN in SYN_SENT before any reply (a retransmission, or the
    /// other side's SYN of a simultaneous open) does not renew the
    /// timeout, so reused ports cannot keep an entry alive.
    SynNoRefresh { changed: bool },
    /// `NF_ACCEPT` and nothing else: the tracker ignored the packet (it
    /// keeps its entry and ctstate; the timeout is left alone).
    Ignore(TcpIgnore),
    /// `-NF_ACCEPT`: INVALID; the packet leaves without an entry.
    Invalid(TcpInvalid),
    /// INVALID as above, and (`nf_tcp_handle_invalid`) a FIN or RST
    /// out of window answering one from the other side on an ASSURED
    /// entry: if the entry has at least 120 s left and more than
    /// `timeout`, its timeout becomes `timeout` (see
    /// [`TcpVerdict::shortened`]).
    InvalidShorten { reason: TcpInvalid, timeout: u32 },
    /// A SYN reopening a closed or aborted connection: delete the entry
    /// and handle the packet as new (`nf_ct_kill` and `-NF_REPEAT`).
    Reopen,
    /// An RST before any reply (state CLOSE): the packet is accepted with
    /// its entry, and the entry is deleted now (`nf_ct_kill_acct`).
    Kill,
}

impl TcpVerdict {
    /// The least time left (seconds) for [`TcpVerdict::InvalidShorten`] to
    /// act.
    pub const SHORTEN_MIN_LEFT: u32 = 120;

    /// For [`TcpVerdict::InvalidShorten`]: the new timeout given `left`
    /// seconds to expiry, or `None` to keep it.
    pub fn shortened(left: u32, timeout: u32) -> Option<u32> {
        (left >= Self::SHORTEN_MIN_LEFT && left > timeout).then_some(timeout)
    }
}

/// `enum tcp_bit_set`: which row of the state table a segment uses.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u8)]
enum Index {
    Syn = 0,
    SynAck,
    Fin,
    Ack,
    Rst,
    None,
}

impl Index {
    const ALL: [Index; 6] = [
        Index::Syn,
        Index::SynAck,
        Index::Fin,
        Index::Ack,
        Index::Rst,
        Index::None,
    ];

    /// `get_conntrack_index`.
    fn of(flags: u8) -> Index {
        if flags & tf::RST != 0 {
            Index::Rst
        } else if flags & tf::SYN != 0 {
            if flags & tf::ACK != 0 {
                Index::SynAck
            } else {
                Index::Syn
            }
        } else if flags & tf::FIN != 0 {
            Index::Fin
        } else if flags & tf::ACK != 0 {
            Index::Ack
        } else {
            Index::None
        }
    }
}

/// State values as the table holds them (`sNO`...`sS2`, `sIV`, `sIG`).
mod st {
    pub const NO: u8 = 0;
    pub const SS: u8 = 1;
    pub const SR: u8 = 2;
    pub const ES: u8 = 3;
    pub const FW: u8 = 4;
    pub const CW: u8 = 5;
    pub const LA: u8 = 6;
    pub const TW: u8 = 7;
    pub const CL: u8 = 8;
    pub const S2: u8 = 9;
    /// `TCP_CONNTRACK_MAX`: invalid.
    pub const IV: u8 = 10;
    /// `TCP_CONNTRACK_IGNORE`.
    pub const IG: u8 = 11;
}

/// `tcp_conntracks[dir][index][old state]`: the kernel's table, cell for
/// cell (6.x: a SYN/ACK from the original side only in SYN_RECV or
/// SYN_SENT2, a SYN from the reply side reopens TIME_WAIT).
#[rustfmt::skip]
const TCP_CONNTRACKS: [[[u8; 10]; 6]; 2] = {
    use st::*;
    [
        // ORIGINAL
        [
        //   sNO sSS sSR sES sFW sCW sLA sTW sCL sS2
            [SS, SS, IG, IG, IG, IG, IG, SS, SS, S2], // syn
            [IV, IV, SR, IV, IV, IV, IV, IV, IV, SR], // synack
            [IV, IV, FW, FW, LA, LA, LA, TW, CL, IV], // fin
            [ES, IV, ES, ES, CW, CW, TW, TW, CL, IV], // ack
            [IV, CL, CL, CL, CL, CL, CL, CL, CL, CL], // rst
            [IV, IV, IV, IV, IV, IV, IV, IV, IV, IV], // none
        ],
        // REPLY
        [
        //   sNO sSS sSR sES sFW sCW sLA sTW sCL sS2
            [IV, S2, IV, IV, IV, IV, IV, SS, IV, S2], // syn
            [IV, SR, IG, IG, IG, IG, IG, IG, IG, SR], // synack
            [IV, IV, FW, FW, LA, LA, LA, TW, CL, IV], // fin
            [IV, IG, SR, ES, CW, CW, TW, TW, CL, IG], // ack
            [IV, CL, CL, CL, CL, CL, CL, CL, CL, CL], // rst
            [IV, IV, IV, IV, IV, IV, IV, IV, IV, IV], // none
        ],
    ]
};

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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::tcp::flags::{ACK, CWR, ECE, FIN, PSH, RST, SYN, URG};

    const C: u32 = 1_000; // client ISN
    const S: u32 = 500_000; // server ISN

    fn seg(flags: u8, seq: u32, ack: u32, win: u16, len: u32) -> TcpSeg {
        TcpSeg {
            flags,
            seq,
            ack,
            win,
            data_len: len,
            ..TcpSeg::default()
        }
    }

    fn with_ws(mut s: TcpSeg, ws: u8) -> TcpSeg {
        s.wscale = Some(ws);
        s.has_options = true;
        s
    }

    /// One entry as the shard keeps it: the TCP state plus the status
    /// bits nf_conntrack_in sets.
    struct Flow {
        ct: TcpConn,
        cfg: TcpConfig,
        seen_reply: bool,
        assured: bool,
    }

    impl Flow {
        fn open(cfg: TcpConfig, first: TcpSeg) -> (Flow, TcpVerdict) {
            let ct = TcpConn::new(&first, &cfg).expect("opens");
            assert_eq!(ct.state(), TcpState::None);
            let mut flow = Flow {
                ct,
                cfg,
                seen_reply: false,
                assured: false,
            };
            let v = flow.send(Dir::Orig, first);
            (flow, v)
        }

        fn send(&mut self, dir: Dir, s: TcpSeg) -> TcpVerdict {
            let v = self
                .ct
                .packet(dir, &s, self.seen_reply, self.assured, &self.cfg);
            if let TcpVerdict::Accept { assured: true, .. } = v {
                self.assured = true;
            }
            let keeps_entry = !matches!(
                v,
                TcpVerdict::Invalid(_) | TcpVerdict::InvalidShorten { .. } | TcpVerdict::Reopen
            );
            if dir == Dir::Reply && keeps_entry {
                self.seen_reply = true;
            }
            v
        }

        fn state(&self) -> TcpState {
            self.ct.state()
        }
    }

    fn accept(timeout: u32, assured: bool, changed: bool) -> TcpVerdict {
        TcpVerdict::Accept {
            timeout,
            assured,
            changed,
        }
    }

    /// SYN (win 64240), SYN/ACK (win 65160), ACK (win 502), no options.
    fn established(cfg: TcpConfig) -> Flow {
        let (mut f, _) = Flow::open(cfg, seg(SYN, C, 0, 64240, 0));
        f.send(Dir::Reply, seg(SYN | ACK, S, C + 1, 65160, 0));
        f.send(Dir::Orig, seg(ACK, C + 1, S + 1, 502, 0));
        assert_eq!(f.state(), TcpState::Established);
        f
    }

    #[test]
    fn size() {
        assert_eq!(std::mem::size_of::<TcpConn>(), 52);
    }

    #[test]
    fn default_config_is_the_kernels() {
        let c = TcpConfig::default();
        let t = |s: TcpState| c.timeouts[s.index()];
        assert_eq!(t(TcpState::SynSent), 120);
        assert_eq!(t(TcpState::SynRecv), 60);
        assert_eq!(t(TcpState::Established), 432_000);
        assert_eq!(t(TcpState::FinWait), 120);
        assert_eq!(t(TcpState::CloseWait), 60);
        assert_eq!(t(TcpState::LastAck), 30);
        assert_eq!(t(TcpState::TimeWait), 120);
        assert_eq!(t(TcpState::Close), 10);
        assert_eq!(t(TcpState::SynSent2), 120);
        assert_eq!((c.retrans, c.unack, c.max_retrans), (300, 300, 3));
        assert!(c.loose && !c.be_liberal && !c.ignore_invalid_rst);
    }

    #[test]
    fn names_and_order() {
        for (i, s) in TcpState::ALL.iter().enumerate() {
            assert_eq!(s.index(), i);
        }
        assert_eq!(TcpState::SynSent2 as u8, 9);
        assert_eq!(TcpState::TimeWait.name(), "TIME_WAIT");
        assert_eq!(TcpState::SynSent2.to_string(), "SYN_SENT2");
        assert_eq!(TcpState::Established.name(), "ESTABLISHED");
    }

    #[test]
    fn table_is_the_modern_kernels() {
        use st::*;
        let t = |d: usize, i: Index, s: u8| TCP_CONNTRACKS[d][i as usize][usize::from(s)];
        // Changed since 5.x: SYN/ACK from the client only in SR / S2.
        assert_eq!(t(ORIG, Index::SynAck, SR), SR);
        assert_eq!(t(ORIG, Index::SynAck, ES), IV);
        // A SYN from the server side reopens TIME_WAIT.
        assert_eq!(t(REPLY, Index::Syn, TW), SS);
        assert_eq!(t(REPLY, Index::Ack, SS), IG);
        assert_eq!(t(ORIG, Index::Ack, NO), ES);
        for d in [ORIG, REPLY] {
            assert!(TCP_CONNTRACKS[d][Index::None as usize]
                .iter()
                .all(|&s| s == IV));
        }
    }

    #[test]
    fn handshake_establishes_and_assures() {
        let (mut f, v) = Flow::open(TcpConfig::default(), seg(SYN, C, 0, 64240, 0));
        assert_eq!(v, accept(120, false, true));
        assert_eq!(f.state(), TcpState::SynSent);

        let v = f.send(Dir::Reply, seg(SYN | ACK, S, C + 1, 65160, 0));
        // No reply seen before the SYN/ACK itself: not assured yet.
        assert_eq!(v, accept(60, false, true));
        assert_eq!(f.state(), TcpState::SynRecv);

        let v = f.send(Dir::Orig, seg(ACK, C + 1, S + 1, 502, 0));
        assert_eq!(v, accept(432_000, true, true));
        assert_eq!(f.state(), TcpState::Established);

        // Assured once only.
        let v = f.send(Dir::Reply, seg(ACK, S + 1, C + 1, 509, 0));
        assert_eq!(v, accept(432_000, false, false));
    }

    #[test]
    fn syn_retransmit_does_not_refresh() {
        let (mut f, _) = Flow::open(TcpConfig::default(), seg(SYN, C, 0, 64240, 0));
        let v = f.send(Dir::Orig, seg(SYN, C, 0, 64240, 0));
        assert_eq!(v, TcpVerdict::SynNoRefresh { changed: false });
        assert_eq!(f.state(), TcpState::SynSent);
    }

    #[test]
    fn data_in_flight_uses_unack_timeout() {
        let mut f = established(TcpConfig::default());
        let v = f.send(Dir::Orig, seg(ACK | PSH, C + 1, S + 1, 502, 100));
        assert_eq!(v, accept(300, false, false));
        assert_ne!(f.ct.flags(Dir::Orig) & DATA_UNACKNOWLEDGED, 0);
        // Acknowledged: back to ESTABLISHED's timeout.
        let v = f.send(Dir::Reply, seg(ACK, S + 1, C + 101, 509, 0));
        assert_eq!(v, accept(432_000, false, false));
        assert_eq!(f.ct.flags(Dir::Orig) & DATA_UNACKNOWLEDGED, 0);
    }

    #[test]
    fn fin_exchange_reaches_time_wait_then_syn_reopens() {
        let mut f = established(TcpConfig::default());
        let v = f.send(Dir::Orig, seg(FIN | ACK, C + 1, S + 1, 502, 0));
        assert_eq!(v, accept(120, false, true));
        assert_eq!(f.state(), TcpState::FinWait);
        assert_ne!(f.ct.flags(Dir::Orig) & CLOSE_INIT, 0);

        let v = f.send(Dir::Reply, seg(ACK, S + 1, C + 2, 509, 0));
        assert_eq!(v, accept(60, false, true));
        assert_eq!(f.state(), TcpState::CloseWait);

        let v = f.send(Dir::Reply, seg(FIN | ACK, S + 1, C + 2, 509, 0));
        assert_eq!(v, accept(30, false, true));
        assert_eq!(f.state(), TcpState::LastAck);

        let v = f.send(Dir::Orig, seg(ACK, C + 2, S + 2, 502, 0));
        assert_eq!(v, accept(120, false, true));
        assert_eq!(f.state(), TcpState::TimeWait);

        // A retransmitted last ACK stays in TIME_WAIT.
        let v = f.send(Dir::Orig, seg(ACK, C + 2, S + 2, 502, 0));
        assert_eq!(v, accept(120, false, false));

        let mut again = f.ct;
        let syn = seg(SYN, C + 100_000, 0, 64240, 0);
        assert_eq!(
            f.send(Dir::Orig, syn),
            TcpVerdict::Reopen,
            "client reuses the port"
        );
        // The server side may reopen too (6.x: it may have switched role).
        let v = again.packet(Dir::Reply, &syn, true, true, &f.cfg);
        assert_eq!(v, TcpVerdict::Reopen);
    }

    #[test]
    fn syn_in_close_reopens_only_from_the_resetting_side() {
        let mut f = established(TcpConfig::default());
        let mut other = established(TcpConfig::default());

        // The client resets (seq = the server's highest ACK), then SYNs.
        let v = f.send(Dir::Orig, seg(RST, C + 1, 0, 0, 0));
        assert_eq!(v, accept(10, false, true));
        assert_eq!(f.state(), TcpState::Close);
        assert_eq!(
            f.send(Dir::Orig, seg(SYN, C + 7_000, 0, 64240, 0)),
            TcpVerdict::Reopen
        );

        // The server resets: the client's next SYN is only noted ...
        let v = other.send(Dir::Reply, seg(RST, S + 1, 0, 0, 0));
        assert_eq!(v, accept(10, false, true));
        let n = C + 7_000;
        let v = other.send(Dir::Orig, with_ws(seg(SYN, n, 0, 64240, 0), 7));
        assert_eq!(v, TcpVerdict::Ignore(TcpIgnore::Transition));
        assert_eq!(other.state(), TcpState::Close);
        // ... and the SYN/ACK answering it resynchronises the entry.
        let v = other.send(
            Dir::Reply,
            with_ws(seg(SYN | ACK, S + 9_000, n + 1, 65160, 0), 7),
        );
        assert_eq!(v, accept(60, false, true));
        assert_eq!(other.state(), TcpState::SynRecv);
        assert_eq!(other.ct.wscale(Dir::Orig), 7);
        assert_eq!(other.ct.wscale(Dir::Reply), 7);
        let v = other.send(Dir::Orig, seg(ACK, n + 1, S + 9_001, 502, 0));
        assert!(matches!(v, TcpVerdict::Accept { changed: true, .. }));
        assert_eq!(other.state(), TcpState::Established);
    }

    #[test]
    fn rst_in_window_closes() {
        let mut f = established(TcpConfig::default());
        // seq == the client's highest ACK: exact.
        let v = f.send(Dir::Reply, seg(RST | ACK, S + 1, C + 1, 0, 0));
        assert_eq!(v, accept(10, false, true));
        assert_eq!(f.state(), TcpState::Close);
        assert!(f.ct.can_early_drop());
    }

    #[test]
    fn rst_below_max_ack_is_invalid_unless_ignored() {
        let mut f = established(TcpConfig::default());
        let v = f.send(Dir::Reply, seg(RST | ACK, S, C + 1, 0, 0));
        assert_eq!(v, TcpVerdict::Invalid(TcpInvalid::Rst));
        assert_eq!(f.state(), TcpState::Established);

        // tcp_ignore_invalid_rst: in window but not exact, so the state
        // stays (a challenge ACK may follow), the timeout drops to CLOSE's.
        let mut f = established(TcpConfig {
            ignore_invalid_rst: true,
            ..TcpConfig::default()
        });
        let v = f.send(Dir::Reply, seg(RST | ACK, S, C + 1, 0, 0));
        assert_eq!(v, accept(10, false, false));
        assert_eq!(f.state(), TcpState::Established);
    }

    #[test]
    fn rst_past_the_window_is_invalid_and_a_second_shortens() {
        let mut f = established(TcpConfig::default());
        let far = S + 1_000_000;
        let v = f.send(Dir::Reply, seg(RST, far, 0, 0, 0));
        assert_eq!(v, TcpVerdict::Invalid(TcpInvalid::SeqOverUpperBound));
        assert_eq!(f.state(), TcpState::Established);
        // An out-of-window RST back from the other side: both ends think
        // the connection is gone; the entry's timeout is cut to unack's.
        let v = f.send(Dir::Orig, seg(RST, C + 2_000_000, 0, 0, 0));
        assert_eq!(
            v,
            TcpVerdict::InvalidShorten {
                reason: TcpInvalid::SeqOverUpperBound,
                timeout: 300
            }
        );
        assert_eq!(TcpVerdict::shortened(432_000, 300), Some(300));
        assert_eq!(TcpVerdict::shortened(119, 300), None);
        assert_eq!(TcpVerdict::shortened(200, 300), None);
    }

    #[test]
    fn rst_answering_the_syn_kills_the_entry() {
        let (mut f, _) = Flow::open(TcpConfig::default(), seg(SYN, C, 0, 64240, 0));
        let v = f.send(Dir::Reply, seg(RST | ACK, 0, C + 1, 0, 0));
        assert_eq!(v, TcpVerdict::Kill);
        assert_eq!(f.state(), TcpState::Close);
    }

    #[test]
    fn out_of_window_data_is_invalid() {
        let mut f = established(TcpConfig::default());
        // The server offered 65160 bytes; this starts 200000 in.
        let v = f.send(Dir::Orig, seg(ACK | PSH, C + 1 + 200_000, S + 1, 502, 100));
        assert_eq!(v, TcpVerdict::Invalid(TcpInvalid::SeqOverUpperBound));
        // Acknowledging data the server never sent.
        let v = f.send(Dir::Orig, seg(ACK, C + 1, S + 1 + 5_000, 502, 0));
        assert_eq!(v, TcpVerdict::Invalid(TcpInvalid::AckOverUpperBound));
        // Old data already acknowledged is ignored, not INVALID.
        f.send(Dir::Orig, seg(ACK | PSH, C + 1, S + 1, 502, 70_000));
        f.send(Dir::Reply, seg(ACK, S + 1, C + 70_001, 509, 0));
        let v = f.send(
            Dir::Orig,
            seg(ACK | PSH, C.wrapping_sub(80_000), S + 1, 502, 10),
        );
        assert_eq!(v, TcpVerdict::Ignore(TcpIgnore::SeqUnderLowerBound));

        // tcp_be_liberal: accepted.
        let mut f = established(TcpConfig {
            be_liberal: true,
            ..TcpConfig::default()
        });
        let v = f.send(Dir::Orig, seg(ACK | PSH, C + 1 + 200_000, S + 1, 502, 100));
        assert!(matches!(v, TcpVerdict::Accept { .. }));
    }

    #[test]
    fn a_little_past_the_window_is_ignored_and_moves_td_end() {
        let mut f = established(TcpConfig::default());
        // The server offered up to C + 1 + 65160; this starts 40 bytes on.
        let v = f.send(Dir::Orig, seg(ACK | PSH, C + 1 + 65_200, S + 1, 502, 1_000));
        assert_eq!(v, TcpVerdict::Ignore(TcpIgnore::Overshoot));
        // The server's ACK of it is then within bounds.
        let v = f.send(Dir::Reply, seg(ACK, S + 1, C + 1 + 66_200, 509, 0));
        assert!(matches!(v, TcpVerdict::Accept { .. }));
    }

    #[test]
    fn stray_ack_is_picked_up_only_when_loose() {
        let ack = seg(ACK, 77_000, 99_000, 1_000, 0);
        let (mut f, v) = Flow::open(TcpConfig::default(), ack);
        // Never answered: unack's timeout, not 5 days.
        assert_eq!(v, accept(300, false, true));
        assert_eq!(f.state(), TcpState::Established);
        assert_eq!(f.ct.flags(Dir::Orig) & BE_LIBERAL, BE_LIBERAL);
        assert_eq!(f.ct.flags(Dir::Reply) & BE_LIBERAL, BE_LIBERAL);
        // The first answer: SEEN_REPLY is set only after the tracker ran.
        let v = f.send(Dir::Reply, seg(ACK, 99_000, 77_000, 2_000, 0));
        assert_eq!(v, accept(300, false, false));
        // The next packet assures it.
        let v = f.send(Dir::Orig, seg(ACK, 77_000, 99_000, 1_000, 0));
        assert_eq!(v, accept(432_000, true, false));

        let strict = TcpConfig {
            loose: false,
            ..TcpConfig::default()
        };
        assert!(TcpConn::new(&ack, &strict).is_none());
        assert_eq!(
            TcpConn::try_new(&ack, &strict).err(),
            Some(TcpInvalid::NoPickup)
        );
        // Neither a FIN nor an RST opens anything.
        let fin = seg(FIN | ACK, 1, 1, 1, 0);
        assert_eq!(
            TcpConn::try_new(&fin, &TcpConfig::default()).err(),
            Some(TcpInvalid::New)
        );
        let rst = seg(RST, 1, 0, 0, 0);
        assert!(TcpConn::new(&rst, &TcpConfig::default()).is_none());
    }

    #[test]
    fn flag_combinations() {
        for bad in [
            SYN | FIN,
            SYN | RST,
            0,
            FIN,
            PSH,
            URG,
            FIN | SYN | ACK,
            SYN | ACK | URG,
            FIN | PSH | URG,
        ] {
            assert!(!valid_flags(bad), "{bad:#x}");
        }
        for good in [
            SYN,
            SYN | URG,
            SYN | ACK,
            SYN | ACK | ECE | CWR,
            RST,
            RST | ACK,
            FIN | ACK,
            FIN | ACK | PSH,
            FIN | ACK | URG,
            ACK,
            ACK | PSH,
            ACK | URG,
        ] {
            assert!(valid_flags(good), "{good:#x}");
        }
        assert!((0..=255u8).all(|f| valid_flags(f) == valid_flags(f & 0x37)));

        let cfg = TcpConfig::default();
        assert_eq!(
            TcpConn::try_new(&seg(SYN | FIN, C, 0, 1, 0), &cfg).err(),
            Some(TcpInvalid::BadFlags)
        );
        let mut f = established(cfg);
        let v = f.send(Dir::Orig, seg(SYN | RST, C + 1, 0, 0, 0));
        assert_eq!(v, TcpVerdict::Invalid(TcpInvalid::BadFlags));
        let v = f.send(Dir::Orig, seg(0, C + 1, 0, 0, 0));
        assert_eq!(v, TcpVerdict::Invalid(TcpInvalid::BadFlags));
        assert_eq!(f.state(), TcpState::Established);
    }

    #[test]
    fn invalid_transitions() {
        let (mut f, _) = Flow::open(TcpConfig::default(), seg(SYN, C, 0, 64240, 0));
        // No FIN or ACK from the client before a SYN/ACK.
        let v = f.send(Dir::Orig, seg(FIN | ACK, C + 1, 0, 64240, 0));
        assert_eq!(v, TcpVerdict::Invalid(TcpInvalid::Transition));
        let v = f.send(Dir::Orig, seg(SYN | ACK, C, 1, 64240, 0));
        assert_eq!(v, TcpVerdict::Invalid(TcpInvalid::Transition));
        assert_eq!(f.state(), TcpState::SynSent);
    }

    #[test]
    fn simultaneous_open_through_syn_sent2() {
        const A: u32 = 10_000;
        const B: u32 = 90_000;
        let (mut f, _) = Flow::open(TcpConfig::default(), seg(SYN, A, 0, 1_000, 0));
        let v = f.send(Dir::Reply, seg(SYN, B, 0, 2_000, 0));
        assert_eq!(v, TcpVerdict::SynNoRefresh { changed: true });
        assert_eq!(f.state(), TcpState::SynSent2);

        let v = f.send(Dir::Orig, seg(SYN | ACK, A, B + 1, 1_000, 0));
        assert_eq!(v, accept(60, false, true));
        assert_eq!(f.state(), TcpState::SynRecv);

        let v = f.send(Dir::Reply, seg(SYN | ACK, B, A + 1, 2_000, 0));
        assert_eq!(v, TcpVerdict::Ignore(TcpIgnore::Transition));

        // A plain REPLY ACK in SYN_RECV stays there; after SYN_SENT2 it
        // establishes.
        let v = f.send(Dir::Reply, seg(ACK, B + 1, A + 1, 2_000, 0));
        assert_eq!(v, accept(432_000, true, true));
        assert_eq!(f.state(), TcpState::Established);
    }

    #[test]
    fn window_scale_is_applied_only_when_both_offer_it() {
        let run = |server_ws: Option<u8>| {
            let (mut f, _) = Flow::open(TcpConfig::default(), with_ws(seg(SYN, C, 0, 64240, 0), 7));
            let mut synack = seg(SYN | ACK, S, C + 1, 65160, 0);
            if let Some(ws) = server_ws {
                synack = with_ws(synack, ws);
            }
            f.send(Dir::Reply, synack);
            f.send(Dir::Orig, seg(ACK, C + 1, S + 1, 502, 0));
            // 2000 << 7 = 256000 bytes of window, or 2000 unscaled.
            f.send(Dir::Reply, seg(ACK, S + 1, C + 1, 2_000, 0));
            let v = f.send(Dir::Orig, seg(ACK | PSH, C + 1 + 200_000, S + 1, 502, 100));
            (f.ct.wscale(Dir::Orig), f.ct.wscale(Dir::Reply), v)
        };
        let (o, r, v) = run(Some(7));
        assert_eq!((o, r), (7, 7));
        assert_eq!(v, accept(300, false, false));
        let (o, r, v) = run(None);
        assert_eq!((o, r), (0, 0));
        assert_eq!(v, TcpVerdict::Invalid(TcpInvalid::SeqOverUpperBound));
    }

    #[test]
    fn retransmissions_switch_to_the_retrans_timeout() {
        let mut f = established(TcpConfig {
            retrans: 77,
            ..TcpConfig::default()
        });
        let data = seg(ACK | PSH, C + 1, S + 1, 502, 100);
        let timeouts: Vec<u32> = (0..5)
            .map(|_| match f.send(Dir::Orig, data) {
                TcpVerdict::Accept { timeout, .. } => timeout,
                v => panic!("{v:?}"),
            })
            .collect();
        // Sent, then retransmitted: from the third retransmission on.
        assert_eq!(timeouts, [300, 300, 300, 77, 77]);
        assert_eq!(f.ct.retrans, 4);
        // An acceptable ACK from the other side resets the count.
        let v = f.send(Dir::Reply, seg(ACK, S + 1, C + 101, 509, 0));
        assert_eq!(v, accept(432_000, false, false));
        assert_eq!(f.ct.retrans, 0);
    }

    #[test]
    fn zero_window_uses_the_retrans_timeout() {
        let mut f = established(TcpConfig::default());
        let v = f.send(Dir::Reply, seg(ACK, S + 1, C + 1, 0, 0));
        assert_eq!(v, accept(300, false, false));
    }

    #[test]
    fn challenge_ack_in_last_ack_is_not_the_last_ack() {
        let mut f = established(TcpConfig::default());
        f.send(Dir::Orig, seg(FIN | ACK, C + 1, S + 1, 502, 0));
        f.send(Dir::Reply, seg(FIN | ACK, S + 1, C + 2, 509, 0));
        assert_eq!(f.state(), TcpState::LastAck);
        // The client reuses the port; the server answers with an ACK.
        let v = f.send(Dir::Orig, seg(SYN, C + 50_000, 0, 64240, 0));
        assert_eq!(v, TcpVerdict::Ignore(TcpIgnore::Transition));
        let v = f.send(Dir::Reply, seg(ACK, S + 2, C + 2, 509, 0));
        assert_eq!(v, TcpVerdict::Ignore(TcpIgnore::ChallengeAck));
        assert_eq!(f.state(), TcpState::LastAck);
        // The real last ACK still closes.
        let v = f.send(Dir::Orig, seg(ACK, C + 2, S + 2, 502, 0));
        assert_eq!(v, accept(120, false, true));
        assert_eq!(f.state(), TcpState::TimeWait);
    }

    fn header(flags: u8, seq: u32, ack: u32, win: u16, opts: &[u8]) -> Vec<u8> {
        assert_eq!(opts.len() % 4, 0);
        let mut h = vec![0u8; 20];
        h[0..2].copy_from_slice(&1234u16.to_be_bytes());
        h[2..4].copy_from_slice(&80u16.to_be_bytes());
        h[4..8].copy_from_slice(&seq.to_be_bytes());
        h[8..12].copy_from_slice(&ack.to_be_bytes());
        h[12] = (((20 + opts.len()) / 4) as u8) << 4;
        h[13] = flags;
        h[14..16].copy_from_slice(&win.to_be_bytes());
        h.extend_from_slice(opts);
        h
    }

    #[test]
    fn options_of_a_syn() {
        // MSS 1460, NOP, WS 15 (taken as 14), SACK-permitted, NOP, NOP.
        let opts = [2, 4, 5, 180, 1, 3, 3, 15, 4, 2, 1, 1];
        let h = header(SYN, 7, 0, 64240, &opts);
        let s = TcpSeg::from_header(&h, 0).unwrap();
        assert_eq!((s.flags, s.seq, s.ack, s.win), (SYN, 7, 0, 64240));
        assert_eq!(s.wscale, Some(14));
        assert!(s.sack_perm && s.has_options);
        assert_eq!(s.sack_max, None);
        assert_eq!(s.end(), 8);

        let bare = TcpSeg::from_header(&header(ACK, 1, 2, 3, &[]), 10).unwrap();
        assert!(!bare.has_options && bare.wscale.is_none() && !bare.sack_perm);
        assert_eq!(bare.data_len, 10);
    }

    #[test]
    fn sack_blocks() {
        let block = |l: u32, r: u32| [l.to_be_bytes(), r.to_be_bytes()].concat();
        let mut opts = vec![1, 1, 5, 18];
        opts.extend(block(1_100, 1_500));
        opts.extend(block(2_000, 3_000));
        let s = TcpSeg::from_header(&header(ACK, 1, 1_000, 9, &opts), 0).unwrap();
        assert_eq!(s.sack_max, Some(3_000));

        // Edges before the ACK leave it as is.
        let mut opts = vec![1, 1, 5, 10];
        opts.extend(block(100, 500));
        let s = TcpSeg::from_header(&header(ACK, 1, 1_000, 9, &opts), 0).unwrap();
        assert_eq!(s.sack_max, Some(1_000));

        // A SACK option of a bad size is skipped; the next one counts.
        let mut opts = vec![5, 6, 0, 0, 0, 0, 5, 10];
        opts.extend(block(1_000, 4_000));
        let s = TcpSeg::from_header(&header(ACK, 1, 1_000, 9, &opts), 0).unwrap();
        assert_eq!(s.sack_max, Some(4_000));

        // SACK blocks count only if the receiver sent SACK-permitted: a
        // block beyond what the server sent is then over the upper bound.
        let mut sacked = seg(ACK, C + 1, S + 1, 502, 0);
        sacked.sack_max = Some(S + 1 + 10_000);
        sacked.has_options = true;
        let mut f = established(TcpConfig::default());
        assert!(matches!(
            f.send(Dir::Orig, sacked),
            TcpVerdict::Accept { .. }
        ));

        let (mut f, _) = Flow::open(TcpConfig::default(), seg(SYN, C, 0, 64240, 0));
        let mut synack = seg(SYN | ACK, S, C + 1, 65160, 0);
        synack.sack_perm = true;
        f.send(Dir::Reply, synack);
        f.send(Dir::Orig, seg(ACK, C + 1, S + 1, 502, 0));
        let v = f.send(Dir::Orig, sacked);
        assert_eq!(v, TcpVerdict::Invalid(TcpInvalid::AckOverUpperBound));
    }

    #[test]
    fn malformed_options_stop_the_parse() {
        // Length 1, then a window option that is never read.
        let h = header(SYN, 1, 0, 1, &[8, 1, 3, 3, 7, 0, 0, 0]);
        assert_eq!(TcpSeg::from_header(&h, 0).unwrap().wscale, None);
        // An option running past the header.
        let h = header(SYN, 1, 0, 1, &[1, 1, 3, 9]);
        assert_eq!(TcpSeg::from_header(&h, 0).unwrap().wscale, None);
        // EOL ends it.
        let h = header(SYN, 1, 0, 1, &[0, 3, 3, 7]);
        assert_eq!(TcpSeg::from_header(&h, 0).unwrap().wscale, None);
        // A lone kind byte at the end.
        let h = header(SYN, 1, 0, 1, &[3, 3, 7, 2]);
        assert_eq!(TcpSeg::from_header(&h, 0).unwrap().wscale, Some(7));

        // Cut short, or a data offset under 5.
        let h = header(SYN, 1, 0, 1, &[3, 3, 7, 1]);
        assert!(TcpSeg::from_header(&h[..22], 0).is_none());
        assert!(TcpSeg::from_header(&h[..19], 0).is_none());
        let mut h = header(SYN, 1, 0, 1, &[]);
        h[12] = 4 << 4;
        assert!(TcpSeg::from_header(&h, 0).is_none());
    }

    proptest::proptest! {
        #[test]
        fn from_header_never_panics(bytes in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..80)) {
            if let Some(s) = TcpSeg::from_header(&bytes, 0) {
                proptest::prop_assert!(s.wscale.is_none_or(|w| w <= 14));
            }
        }

        /// Whatever arrives, the tracker never panics and keeps a valid state.
        #[test]
        fn packet_never_panics(pkts in proptest::collection::vec(
            (proptest::prelude::any::<bool>(), proptest::prelude::any::<u8>(),
             proptest::prelude::any::<u32>(), proptest::prelude::any::<u32>(),
             proptest::prelude::any::<u16>(), 0u32..3000, proptest::option::of(0u8..20)),
            1..40,
        )) {
            let cfg = TcpConfig::default();
            let mut ct: Option<TcpConn> = None;
            let (mut seen_reply, mut assured) = (false, false);
            for (reply, flags, seq, ack, win, len, ws) in pkts {
                let s = TcpSeg { flags, seq, ack, win, data_len: len, wscale: ws, has_options: ws.is_some(), ..TcpSeg::default() };
                let dir = if reply && ct.is_some() { Dir::Reply } else { Dir::Orig };
                if ct.is_none() {
                    ct = TcpConn::new(&s, &cfg);
                }
                let Some(c) = ct.as_mut() else { continue };
                match c.packet(dir, &s, seen_reply, assured, &cfg) {
                    TcpVerdict::Reopen | TcpVerdict::Kill => { ct = None; seen_reply = false; assured = false; continue; }
                    TcpVerdict::Invalid(_) | TcpVerdict::InvalidShorten { .. } => {}
                    v => {
                        if let TcpVerdict::Accept { assured: true, .. } = v { assured = true; }
                        if dir == Dir::Reply { seen_reply = true; }
                    }
                }
                proptest::prop_assert!(c.state().index() < 10);
                proptest::prop_assert!(c.wscale(Dir::Orig) <= 14 && c.wscale(Dir::Reply) <= 14);
            }
        }
    }
}
