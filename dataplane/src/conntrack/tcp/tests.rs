//! The tracker's tests.

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
