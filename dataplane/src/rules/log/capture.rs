//! Capture on the fast path: decoding a packet into a fixed-size
//! [`LogRecord`] as the kernel's dump functions read it.

use std::net::Ipv4Addr;

use super::*;
use crate::wire::{EtherType, MacAddr, PacketMeta};

pub(super) const IP_CE: u16 = 0x8000;
pub(super) const IP_DF: u16 = 0x4000;
pub(super) const IP_MF: u16 = 0x2000;
pub(super) const IP_OFFSET: u16 = 0x1fff;
const NR_ICMP_TYPES: u8 = 18;

/// `skb_header_pointer` over the IP packet.
pub(super) fn hp(pkt: &[u8], off: usize, len: usize) -> Option<&[u8]> {
    pkt.get(off..off.checked_add(len)?)
}

pub(super) fn be16(b: &[u8]) -> u16 {
    u16::from_be_bytes([b[0], b[1]])
}

pub(super) fn be32(b: &[u8]) -> u32 {
    u32::from_be_bytes([b[0], b[1], b[2], b[3]])
}

/// `skb->len - off`, in the kernel's unsigned 32-bit arithmetic.
pub(super) fn avail(pkt: &[u8], off: usize) -> u32 {
    (pkt.len() as u32).wrapping_sub(off as u32)
}

/// ICMP bytes each type needs to be dumped (`required_len` of
/// `dump_ipv4_packet`); 0: no requirement.
fn icmp_required_len(ty: u8) -> u32 {
    match ty {
        0 | 8 => 4,
        3 | 4 | 5 | 11 | 12 => 8 + 20,
        13 | 14 => 20,
        17 | 18 => 12,
        _ => 0,
    }
}

/// `dump_ipv4_packet` at `iphoff` of the IP packet `pkt` (the whole outer
/// packet: its length is the kernel's `skb->len`). `None`: `TRUNCATED`.
/// For the outer dump, also returns where an ICMP error's quoted packet
/// starts.
fn dump_ipv4(pkt: &[u8], iphoff: usize, lflags: u8) -> Option<(Ipv4Log, Option<usize>)> {
    let h = hp(pkt, iphoff, 20)?;
    let ihl = usize::from(h[0] & 0x0f) * 4;
    let frag_off = be16(&h[6..8]);
    let fragment = frag_off & IP_OFFSET != 0;
    let protocol = h[9];
    let mut log = Ipv4Log {
        src: Ipv4Addr::new(h[12], h[13], h[14], h[15]),
        dst: Ipv4Addr::new(h[16], h[17], h[18], h[19]),
        len: be16(&h[2..4]),
        tos: h[1],
        ttl: h[8],
        id: be16(&h[4..6]),
        frag_off,
        protocol,
        options: IpOptionsLog::None,
        l4: L4Log::Other(protocol),
    };
    if lflags & flags::IPOPT != 0 && ihl > 20 {
        match hp(pkt, iphoff + 20, ihl - 20) {
            Some(o) => log.options = IpOptionsLog::Logged(Options::new(o)),
            None => {
                log.options = IpOptionsLog::Truncated;
                return Some((log, None));
            }
        }
    }
    let off = iphoff + ihl;
    let mut inner = None;
    log.l4 = match protocol {
        6 => dump_tcp(pkt, off, fragment, lflags),
        17 | 136 => dump_udp(pkt, off, fragment, protocol == 136),
        1 => {
            if fragment {
                L4Log::IcmpFragment
            } else {
                match hp(pkt, off, 8) {
                    None => L4Log::IcmpIncomplete(avail(pkt, off)),
                    Some(ic) => {
                        let (ty, code) = (ic[0], ic[1]);
                        let need = if ty <= NR_ICMP_TYPES {
                            icmp_required_len(ty)
                        } else {
                            0
                        };
                        let body = if need != 0 && avail(pkt, off) < need {
                            IcmpBody::Incomplete(avail(pkt, off))
                        } else {
                            match ty {
                                0 | 8 => IcmpBody::Echo {
                                    id: be16(&ic[4..6]),
                                    seq: be16(&ic[6..8]),
                                },
                                12 => IcmpBody::Parameter(ic[4]),
                                3 | 4 | 5 | 11 => {
                                    if iphoff == 0 {
                                        inner = Some(off + 8);
                                    }
                                    IcmpBody::Error {
                                        gateway: (ty == 5)
                                            .then(|| Ipv4Addr::new(ic[4], ic[5], ic[6], ic[7])),
                                        mtu: (ty == 3 && code == 4).then(|| be16(&ic[6..8])),
                                    }
                                }
                                _ => IcmpBody::Plain,
                            }
                        };
                        L4Log::Icmp { ty, code, body }
                    }
                }
            }
        }
        51 => {
            if fragment {
                L4Log::AhFragment
            } else {
                match hp(pkt, off, 12) {
                    Some(a) => L4Log::Ah {
                        spi: be32(&a[4..8]),
                    },
                    None => L4Log::AhIncomplete(avail(pkt, off)),
                }
            }
        }
        50 => {
            if fragment {
                L4Log::EspFragment
            } else {
                match hp(pkt, off, 8) {
                    Some(e) => L4Log::Esp {
                        spi: be32(&e[0..4]),
                    },
                    None => L4Log::EspIncomplete(avail(pkt, off)),
                }
            }
        }
        p => L4Log::Other(p),
    };
    Some((log, inner))
}

/// `nf_log_dump_udp_header` (UDP-Lite with `lite`).
pub(super) fn dump_udp(pkt: &[u8], off: usize, fragment: bool, lite: bool) -> L4Log {
    if fragment {
        return L4Log::UdpFragment { lite };
    }
    match hp(pkt, off, 8) {
        Some(u) => L4Log::Udp {
            lite,
            sport: be16(&u[0..2]),
            dport: be16(&u[2..4]),
            len: be16(&u[4..6]),
        },
        None => L4Log::UdpIncomplete {
            lite,
            avail: avail(pkt, off),
        },
    }
}

/// `nf_log_dump_tcp_header`.
pub(super) fn dump_tcp(pkt: &[u8], off: usize, fragment: bool, lflags: u8) -> L4Log {
    if fragment {
        return L4Log::TcpFragment;
    }
    let Some(th) = hp(pkt, off, 20) else {
        return L4Log::TcpIncomplete(avail(pkt, off));
    };
    let doff = usize::from(th[12] >> 4) * 4;
    let options = if lflags & flags::TCPOPT != 0 && doff > 20 {
        match hp(pkt, off + 20, doff - 20) {
            Some(o) => TcpOptionsLog::Logged(Options::new(o)),
            None => TcpOptionsLog::Truncated,
        }
    } else {
        TcpOptionsLog::None
    };
    L4Log::Tcp(TcpLog {
        sport: be16(&th[0..2]),
        dport: be16(&th[2..4]),
        seq_ack: (lflags & flags::TCPSEQ != 0).then(|| (be32(&th[4..8]), be32(&th[8..12]))),
        window: be16(&th[14..16]),
        res: (th[12] & 0x0f) << 2,
        flags: th[13],
        urgp: be16(&th[18..20]),
        options,
    })
}

impl LogRecord {
    /// Captures what the kernel would log about `frame` for the rule
    /// `spec`. `None` for a frame that is neither IPv4 nor IPv6.
    pub fn capture(
        spec: &LogSpec,
        frame: &[u8],
        meta: &PacketMeta,
        ctx: &LogContext<'_>,
        now_ns: u64,
    ) -> Option<LogRecord> {
        let pkt = meta.l3(frame);
        let (ip, inner) = match (meta.ip_version, meta.ethertype) {
            (4, EtherType::IPV4) => {
                let (ip, inner_at) = dump_ipv4(pkt, 0, spec.flags)?;
                let inner = inner_at.map(|at| match dump_ipv4(pkt, at, spec.flags) {
                    Some((l, _)) => InnerLog::Ip(l),
                    None => InnerLog::Truncated,
                });
                (IpLog::V4(ip), inner)
            }
            (6, EtherType::IPV6) => {
                let (ip, inner_at) = super::v6::dump_ipv6(pkt, 0, spec.flags, true)?;
                let inner =
                    inner_at.map(
                        |at| match super::v6::dump_ipv6(pkt, at, spec.flags, false) {
                            Some((l, _)) => InnerLog::Ip6(l),
                            None => InnerLog::Truncated,
                        },
                    );
                (IpLog::V6(ip), inner)
            }
            _ => return None,
        };
        let l2 = usize::from(meta.l2_off);
        let mac = match (ctx.in_iface, frame.get(l2..l2 + 12)) {
            (Some(_), Some(h)) => Some(MacHeader {
                dst: MacAddr([h[0], h[1], h[2], h[3], h[4], h[5]]),
                src: MacAddr([h[6], h[7], h[8], h[9], h[10], h[11]]),
                ethertype: meta.ethertype.0,
            }),
            _ => None,
        };
        Some(LogRecord {
            time_ns: now_ns,
            level: spec.level,
            flags: spec.flags,
            prefix: spec.prefix,
            in_iface: InlineStr::new(ctx.in_iface.unwrap_or("")),
            out_iface: InlineStr::new(ctx.out_iface.unwrap_or("")),
            mac,
            ip,
            inner,
            mark: ctx.mark,
            uid_gid: ctx.uid_gid,
        })
    }

    /// The kernel's line (without the syslog level), trailing space
    /// included. Control side: allocates.
    pub fn line(&self) -> String {
        self.to_string()
    }
}
