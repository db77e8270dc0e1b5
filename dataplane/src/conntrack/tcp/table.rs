//! The kernel's state transition table (`tcp_conntracks`) and the row a
//! segment uses (`get_conntrack_index`).

use super::*;

/// `enum tcp_bit_set`: which row of the state table a segment uses.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u8)]
pub(super) enum Index {
    Syn = 0,
    SynAck,
    Fin,
    Ack,
    Rst,
    None,
}

impl Index {
    pub(super) const ALL: [Index; 6] = [
        Index::Syn,
        Index::SynAck,
        Index::Fin,
        Index::Ack,
        Index::Rst,
        Index::None,
    ];

    /// `get_conntrack_index`.
    pub(super) fn of(flags: u8) -> Index {
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
pub(super) mod st {
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
pub(super) const TCP_CONNTRACKS: [[[u8; 10]; 6]; 2] = {
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
