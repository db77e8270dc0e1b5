//! TCP connection tracking (`nf_conntrack_proto_tcp.c`). Being written:
//! a stand-in with the agreed interface, replaced by the real tracker.
#![allow(dead_code)]

use super::tuple::Dir;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
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
    SynSent2,
}

impl TcpState {
    pub fn name(self) -> &'static str {
        "ESTABLISHED"
    }
}

#[derive(Clone, Copy, Debug, Default)]
pub struct TcpSeg {
    pub flags: u8,
    pub seq: u32,
    pub ack: u32,
    pub win: u16,
    pub data_len: u32,
    pub wscale: Option<u8>,
    pub sack_perm: bool,
    pub sack_max: Option<u32>,
}

impl TcpSeg {
    pub fn from_header(h: &[u8], data_len: u32) -> Option<TcpSeg> {
        if h.len() < 20 {
            return None;
        }
        Some(TcpSeg {
            flags: h[13],
            seq: u32::from_be_bytes([h[4], h[5], h[6], h[7]]),
            ack: u32::from_be_bytes([h[8], h[9], h[10], h[11]]),
            win: u16::from_be_bytes([h[14], h[15]]),
            data_len,
            ..TcpSeg::default()
        })
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TcpConfig {
    pub timeouts: [u32; 10],
    pub retrans: u32,
    pub unack: u32,
    pub loose: bool,
    pub be_liberal: bool,
    pub max_retrans: u8,
    pub ignore_invalid_rst: bool,
}

impl Default for TcpConfig {
    fn default() -> Self {
        TcpConfig {
            timeouts: [0, 120, 60, 432000, 120, 60, 30, 120, 10, 120],
            retrans: 300,
            unack: 300,
            loose: true,
            be_liberal: false,
            max_retrans: 3,
            ignore_invalid_rst: false,
        }
    }
}

#[derive(Clone, Copy, Debug)]
pub struct TcpConn {
    state: TcpState,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TcpInvalid {
    Flags,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TcpVerdict {
    Accept { timeout: u32, assured: bool },
    Invalid(TcpInvalid),
    Reopen,
}

pub fn valid_flags(_flags: u8) -> bool {
    true
}

impl TcpConn {
    pub fn new(seg: &TcpSeg, _cfg: &TcpConfig) -> Option<TcpConn> {
        Some(TcpConn {
            state: if seg.flags & 0x02 != 0 {
                TcpState::SynSent
            } else {
                TcpState::Established
            },
        })
    }

    pub fn packet(
        &mut self,
        _dir: Dir,
        _seg: &TcpSeg,
        _seen_reply: bool,
        _assured: bool,
        cfg: &TcpConfig,
    ) -> TcpVerdict {
        TcpVerdict::Accept {
            timeout: cfg.timeouts[self.state as usize],
            assured: false,
        }
    }

    pub fn state(&self) -> TcpState {
        self.state
    }
}
