//! What the tracker and the shard share: the states, the per-direction
//! flags, the knobs, and the verdicts.

use super::*;

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
