//! One tracked connection (`struct nf_conn`, the parts sluice keeps).

use super::tcp::TcpConn;
use super::tuple::Tuple;

/// `enum ip_conntrack_status` bits (the kernel's values, so `--ctstatus`
/// and `conntrack -L` read them as they are).
pub mod status {
    pub const EXPECTED: u32 = 1 << 0;
    pub const SEEN_REPLY: u32 = 1 << 1;
    pub const ASSURED: u32 = 1 << 2;
    pub const CONFIRMED: u32 = 1 << 3;
    pub const SRC_NAT: u32 = 1 << 4;
    pub const DST_NAT: u32 = 1 << 5;
    pub const NAT_MASK: u32 = SRC_NAT | DST_NAT;
    pub const SRC_NAT_DONE: u32 = 1 << 7;
    pub const DST_NAT_DONE: u32 = 1 << 8;
    pub const DYING: u32 = 1 << 9;
    pub const FIXED_TIMEOUT: u32 = 1 << 10;
    pub const UNTRACKED: u32 = 1 << 12;
}

/// The protocol's part of an entry.
#[derive(Debug, Clone, Copy)]
pub enum ProtoState {
    /// ICMP, ICMPv6 and the generic tracker keep nothing.
    None,
    /// UDP: when a replied flow counts as a stream (`stream_ts`, ns).
    Udp {
        stream_ts: u64,
    },
    Tcp(TcpConn),
}

/// One connection. See the module docs. `repr(C)`: the field order is the
/// order the hot path reads (tuples, then expiry and status, then the
/// protocol's state), which the warm-up pass of
/// [`super::Shard::input`] touches line by line.
#[derive(Debug, Clone, Copy)]
#[repr(C)]
pub struct Entry {
    /// `tuplehash[IP_CT_DIR_ORIGINAL]`, `tuplehash[IP_CT_DIR_REPLY]`.
    pub tuple: [Tuple; 2],
    /// When it expires, in ms of the shard's clock, wrapping (compare with
    /// [`Entry::expired`]; a timeout is at most 2^31 ms, 24.8 days, as
    /// the kernel's in jiffies).
    pub expires: u32,
    /// `ct->status` ([`status`]).
    pub status: u32,
    /// `ct->mark` (CONNMARK).
    pub mark: u32,
    /// The port a MASQUERADE binding leaves by, plus one (`nf_conn_nat`'s
    /// `masq_index`); 0 when not masqueraded.
    pub masq_port: u16,
    pub proto: ProtoState,
}

impl Entry {
    /// A new, unconfirmed entry for `orig` with reply tuple `reply`.
    pub fn new(orig: Tuple, reply: Tuple, expires: u32) -> Entry {
        Entry {
            tuple: [orig, reply],
            expires,
            status: 0,
            mark: 0,
            masq_port: 0,
            proto: ProtoState::None,
        }
    }

    /// Whether it has expired at `now_ms` (the shard's clock in ms).
    #[inline]
    pub fn expired(&self, now_ms: u32) -> bool {
        now_ms.wrapping_sub(self.expires) as i32 >= 0
    }

    /// Milliseconds left at `now_ms` (0 once expired).
    #[inline]
    pub fn left_ms(&self, now_ms: u32) -> u32 {
        if self.expired(now_ms) {
            0
        } else {
            self.expires.wrapping_sub(now_ms)
        }
    }

    #[inline]
    pub fn has(&self, bits: u32) -> bool {
        self.status & bits == bits
    }

    /// The conntrack zone.
    pub fn zone(&self) -> u16 {
        self.tuple[0].zone
    }
}

/// Per-connection packet and byte counters (`nf_conn_acct`), kept apart
/// from the entries and only when `[conntrack] acct` is on.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Acct {
    pub packets: [u64; 2],
    pub bytes: [u64; 2],
}
