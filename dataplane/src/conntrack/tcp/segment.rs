//! A segment as the tracker reads it (`tcp_options`, `tcp_sack`), the
//! kernel's sequence arithmetic, and `tcp_error`'s flag check.

use super::*;

/// `TCP_MAX_WSCALE`: larger shifts are taken as 14 (RFC 7323 §2.3).
pub(super) const MAX_WSCALE: u8 = 14;

/// `MAXACKWINCONST`: the least slack allowed below the receiver's `td_end`
/// for an ACK.
pub(super) const MAX_ACK_WIN_CONST: u32 = 66000;

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
    pub(super) fn has(&self, flag: u8) -> bool {
        self.flags & flag != 0
    }

    #[inline]
    pub(super) fn options_present(&self) -> bool {
        self.has_options || self.wscale.is_some() || self.sack_perm || self.sack_max.is_some()
    }
}

#[inline]
pub(super) fn be32(b: &[u8]) -> u32 {
    u32::from_be_bytes([b[0], b[1], b[2], b[3]])
}

/// The kernel's `before()`: `a` comes before `b` in sequence space.
#[inline]
pub(super) fn before(a: u32, b: u32) -> bool {
    (a.wrapping_sub(b) as i32) < 0
}

/// The kernel's `after()`.
#[inline]
pub(super) fn after(a: u32, b: u32) -> bool {
    before(b, a)
}

/// `tcp_valid_flags`, indexed by the flags without PSH, ECE and CWR (which
/// are always allowed).
pub(super) const VALID_FLAGS: [bool; 0x38] = {
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
