//! Frames prebuilt per flow and frame size, and the per-packet patch: the
//! sequence number and timestamp of the mark, and the transport checksum
//! updated incrementally (RFC 1624 eqn. 3; the template's fields are zero,
//! so the update only adds the new words). Every protocol keeps a valid
//! checksum — UDP over IPv4 too (no checksum-0 shortcut), so a router or
//! sink that verifies it accepts the frames; a UDP result of 0 is sent as
//! 0xffff (RFC 768).
//!
//! A template holds the head of the frame (headers and mark, at most
//! [`HEAD_MAX`] bytes); the rest of the frame is zeros, written per packet
//! (a chunk may hold an older frame's bytes).

use std::net::IpAddr;

use super::mark;
use crate::frames::{IpFrame, MacAddr, Tcp};

/// Longest head: Ethernet + IPv6 + TCP + mark.
pub const HEAD_MAX: usize = 14 + 40 + 20 + mark::LEN;

/// The transport of the generated frames.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Proto {
    Udp,
    /// TCP with SYN set (the mark as payload).
    TcpSyn,
    /// ICMP or ICMPv6 echo request (identifier = the flow's source port).
    Icmp,
}

impl Proto {
    pub fn parse(s: &str) -> Option<Proto> {
        match s {
            "udp" => Some(Proto::Udp),
            "tcp-syn" => Some(Proto::TcpSyn),
            "icmp" => Some(Proto::Icmp),
            _ => None,
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Proto::Udp => "udp",
            Proto::TcpSyn => "tcp-syn",
            Proto::Icmp => "icmp",
        }
    }

    /// Transport header bytes.
    fn l4_len(self) -> usize {
        match self {
            Proto::Udp | Proto::Icmp => 8,
            Proto::TcpSyn => 20,
        }
    }

    /// Offset of the checksum inside the transport header.
    fn csum_at(self) -> usize {
        match self {
            Proto::Udp => 6,
            Proto::TcpSyn => 16,
            Proto::Icmp => 2,
        }
    }
}

/// Bytes in front of the mark.
pub fn headers_len(proto: Proto, ipv6: bool) -> usize {
    14 + if ipv6 { 40 } else { 20 } + proto.l4_len()
}

/// The smallest `--size` (with FCS) that carries the mark.
pub fn min_size(proto: Proto, ipv6: bool) -> usize {
    (headers_len(proto, ipv6) + mark::LEN + 4).max(64)
}

/// What every frame of a run shares.
#[derive(Debug, Clone, Copy)]
pub struct Spec {
    pub proto: Proto,
    pub src_mac: MacAddr,
    pub dst_mac: MacAddr,
    pub dst: IpAddr,
    pub dst_port: u16,
}

/// The heads of one worker's flows, for each frame length.
#[derive(Debug, Clone)]
pub struct Templates {
    /// Frame lengths in the UMEM (without FCS), one per size class.
    lens: Vec<usize>,
    head_len: usize,
    /// Offset of the mark's sequence number in the frame.
    seq_at: usize,
    /// Offset of the transport checksum in the frame.
    csum_at: usize,
    udp: bool,
    flows: usize,
    /// `flows × lens` heads of `head_len` bytes, flow-major.
    heads: Vec<u8>,
}

impl Templates {
    /// Heads for the flows `(flow index, source, source port)`, for each
    /// frame length in `lens` (UMEM bytes; each at least headers + mark).
    pub fn build(spec: &Spec, flows: &[(u32, IpAddr, u16)], lens: &[usize]) -> Templates {
        let ipv6 = spec.dst.is_ipv6();
        let hl = headers_len(spec.proto, ipv6);
        let head_len = hl + mark::LEN;
        let mut heads = Vec::with_capacity(flows.len() * lens.len() * head_len);
        for &(flow, src, sport) in flows {
            for &len in lens {
                let frame = build_frame(spec, flow, src, sport, len);
                heads.extend_from_slice(&frame[..head_len]);
            }
        }
        Templates {
            lens: lens.to_vec(),
            head_len,
            seq_at: hl + mark::SEQ_AT,
            csum_at: hl - spec.proto.l4_len() + spec.proto.csum_at(),
            udp: spec.proto == Proto::Udp,
            flows: flows.len(),
            heads,
        }
    }

    pub fn flows(&self) -> usize {
        self.flows
    }

    /// The frame length of size class `class`.
    #[inline]
    pub fn len(&self, class: usize) -> usize {
        self.lens[class]
    }

    /// Writes the frame of flow slot `flow`, size class `class`, with
    /// `seq` and `ts` into `buf` (exactly [`Templates::len`] bytes).
    /// The head of `flow` (worker-local index) for size class `class`:
    /// headers and mark with seq and timestamp zero, the checksum over
    /// that.
    pub fn head(&self, flow: usize, class: usize) -> Option<&[u8]> {
        let at = (flow * self.lens.len() + class) * self.head_len;
        self.heads.get(at..at + self.head_len)
    }

    /// Bytes of a head.
    pub fn head_len(&self) -> usize {
        self.head_len
    }

    /// Offset of the mark's sequence number in the frame (the 48-bit
    /// timestamp follows it).
    pub fn seq_at(&self) -> usize {
        self.seq_at
    }

    /// Offset of the transport checksum in the frame.
    pub fn csum_at(&self) -> usize {
        self.csum_at
    }

    /// UDP: a checksum of 0 is sent as 0xffff.
    pub fn udp(&self) -> bool {
        self.udp
    }

    #[inline]
    pub fn write(&self, buf: &mut [u8], flow: usize, class: usize, seq: u32, ts: u64) {
        let at = (flow * self.lens.len() + class) * self.head_len;
        let Some(head) = self.heads.get(at..at + self.head_len) else {
            return;
        };
        if buf.len() < self.head_len {
            return;
        }
        let (front, tail) = buf.split_at_mut(self.head_len);
        front.copy_from_slice(head);
        tail.fill(0);
        mark::write_seq_ts(&mut front[self.seq_at..], seq, ts);
        let c = u16::from_be_bytes([front[self.csum_at], front[self.csum_at + 1]]);
        // The template's seq/ts words are zero: ~m + m' = m' (RFC 1624).
        let acc = (!c) as u64 + mark::seq_ts_words(seq, ts);
        let mut new = !fold(acc);
        if self.udp && new == 0 {
            new = 0xffff;
        }
        front[self.csum_at..self.csum_at + 2].copy_from_slice(&new.to_be_bytes());
    }
}

#[inline]
fn fold(acc: u64) -> u16 {
    let mut a = acc;
    while a >> 16 != 0 {
        a = (a & 0xffff) + (a >> 16);
    }
    a as u16
}

/// A whole frame of `len` bytes with seq and timestamp zero, checksums
/// complete (the dataplane's wire code writes the headers).
pub fn build_frame(spec: &Spec, flow: u32, src: IpAddr, sport: u16, len: usize) -> Vec<u8> {
    let hl = headers_len(spec.proto, spec.dst.is_ipv6());
    let mut payload = vec![0u8; len.saturating_sub(hl).max(mark::LEN)];
    let mut m = [0u8; mark::LEN];
    mark::write_head(&mut m, flow);
    payload[..mark::LEN].copy_from_slice(&m);
    let ip = IpFrame::new(spec.src_mac, spec.dst_mac, src, spec.dst);
    match spec.proto {
        Proto::Udp => ip.udp(sport, spec.dst_port, &payload),
        Proto::TcpSyn => ip.tcp(
            &Tcp::new(sport, spec.dst_port, 0x02)
                .window(65535)
                .payload(&payload),
        ),
        Proto::Icmp => ip.icmp_echo(sport, 0, &payload),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use sluice_dataplane::wire::checksum::{self, transport};

    fn spec(proto: Proto, dst: &str) -> Spec {
        Spec {
            proto,
            src_mac: MacAddr([2, 0, 0, 0, 0, 1]),
            dst_mac: MacAddr([2, 0, 0, 0, 0, 2]),
            dst: dst.parse().unwrap(),
            dst_port: 9,
        }
    }

    /// The transport checksum of a frame verifies (sum over pseudo-header
    /// and segment is 0xffff, i.e. `transport` of it is 0).
    fn l4_ok(frame: &[u8], ipv6: bool) -> bool {
        let l3 = 14;
        let (src, dst, proto, l4): (IpAddr, IpAddr, u8, usize) = if ipv6 {
            let a: [u8; 16] = frame[l3 + 8..l3 + 24].try_into().unwrap();
            let b: [u8; 16] = frame[l3 + 24..l3 + 40].try_into().unwrap();
            (a.into(), b.into(), frame[l3 + 6], l3 + 40)
        } else {
            let a: [u8; 4] = frame[l3 + 12..l3 + 16].try_into().unwrap();
            let b: [u8; 4] = frame[l3 + 16..l3 + 20].try_into().unwrap();
            (a.into(), b.into(), frame[l3 + 9], l3 + 20)
        };
        if proto == 1 {
            return checksum::checksum(&frame[l4..]) == 0;
        }
        transport(&src, &dst, proto, &frame[l4..]) == 0
    }

    /// Patched per packet == built from scratch with the same mark, for
    /// every protocol and family, across seq/timestamp values that carry.
    #[test]
    fn patch_equals_recompute() {
        let cases = [
            (Proto::Udp, "10.9.0.1", "10.0.0.2"),
            (Proto::TcpSyn, "10.9.0.1", "10.0.0.2"),
            (Proto::Icmp, "10.9.0.1", "10.0.0.2"),
            (Proto::Udp, "fd00::9", "fd00::2"),
            (Proto::TcpSyn, "fd00::9", "fd00::2"),
            (Proto::Icmp, "fd00::9", "fd00::2"),
        ];
        for (proto, dst, src) in cases {
            let s = spec(proto, dst);
            let ipv6 = s.dst.is_ipv6();
            let len = min_size(proto, ipv6) - 4 + 30;
            let src: IpAddr = src.parse().unwrap();
            let t = Templates::build(&s, &[(7, src, 1030)], &[len, len + 100]);
            for (seq, ts) in [
                (0u32, 0u64),
                (1, 5),
                (u32::MAX, mark::TS_MASK),
                (0x8000_0001, 0x0123_4567_89ab),
            ] {
                for class in 0..2 {
                    let mut buf = vec![0xaau8; t.len(class)];
                    t.write(&mut buf, 0, class, seq, ts);
                    assert!(l4_ok(&buf, ipv6), "{proto:?} {dst} seq {seq} ts {ts}");
                    let m = mark::find(&buf).unwrap();
                    assert_eq!((m.flow, m.seq, m.ts), (7, seq, ts & mark::TS_MASK));
                    // The same frame built whole, mark included.
                    let mut whole = build_frame(&s, 7, src, 1030, t.len(class));
                    let at = headers_len(proto, ipv6) + mark::SEQ_AT;
                    mark::write_seq_ts(&mut whole[at..], seq, ts);
                    let cs = headers_len(proto, ipv6) - proto.l4_len() + proto.csum_at();
                    assert_eq!(buf[..cs], whole[..cs]);
                    assert_eq!(buf[cs + 2..], whole[cs + 2..]);
                }
            }
        }
    }

    #[test]
    fn sizes_fit_the_minimum() {
        assert_eq!(min_size(Proto::Udp, false), 64);
        assert_eq!(min_size(Proto::Icmp, false), 64);
        assert_eq!(min_size(Proto::TcpSyn, false), 76);
        assert_eq!(min_size(Proto::Udp, true), 84);
        let s = spec(Proto::Udp, "10.9.0.1");
        let f = build_frame(&s, 0, "10.0.0.1".parse().unwrap(), 1024, 60);
        assert_eq!(f.len(), 60);
    }
}
