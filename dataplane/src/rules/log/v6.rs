//! IPv6 records: `dump_ipv6_packet` (net/netfilter/nf_log_syslog.c) on
//! the fast path ([`dump_ipv6`]) and the line on the control side
//! ([`write_ipv6`]). The transport dumps are IPv4's (`capture.rs`,
//! `format.rs`); ICMPv6 has its own variants of [`L4Log`].

use std::fmt;
use std::net::Ipv6Addr;

use super::capture::{avail, be16, be32, dump_tcp, dump_udp, hp};
use super::format::write_l4;
use super::*;

/// `nf_ip6_ext_hdr` without `NEXTHDR_NONE` (which ends the walk).
fn is_ext(h: u8) -> bool {
    matches!(h, 0 | 43 | 44 | 50 | 51 | 60)
}

/// `dump_ipv6_packet` at `off` of the IP packet `pkt` (the whole outer
/// packet: its length is the kernel's `skb->len`); `recurse` for the outer
/// dump (an ICMPv6 error's quoted packet is opened once). `None`: fewer
/// than 40 bytes, `TRUNCATED`. For the outer dump, also returns where an
/// ICMPv6 error's quoted packet starts.
pub(super) fn dump_ipv6(
    pkt: &[u8],
    off: usize,
    lflags: u8,
    recurse: bool,
) -> Option<(Ipv6Log, Option<usize>)> {
    let h = hp(pkt, off, 40)?;
    let word = be32(&h[0..4]);
    let addr = |b: &[u8]| {
        let mut a = [0u8; 16];
        a.copy_from_slice(b);
        Ipv6Addr::from(a)
    };
    let mut log = Ipv6Log {
        src: addr(&h[8..24]),
        dst: addr(&h[24..40]),
        len: u32::from(be16(&h[4..6])) + 40,
        tc: ((word & 0x0ff0_0000) >> 20) as u8,
        hop_limit: h[7],
        flow_label: word & 0x000f_ffff,
        ext: [Ext6Log::Opts; EXT6_MAX],
        ext_len: 0,
        end: Ext6End::Upper,
        l4: L4Log::Other(h[6]),
    };
    let ipopt = lflags & flags::IPOPT != 0;
    let push = |log: &mut Ipv6Log, e: Ext6Log| {
        if usize::from(log.ext_len) < EXT6_MAX {
            log.ext[usize::from(log.ext_len)] = e;
            log.ext_len += 1;
        }
    };
    let mut fragment = false;
    let mut ptr = off + 40;
    let mut cur = h[6];
    while is_ext(cur) {
        let Some(x) = hp(pkt, ptr, 2) else {
            log.end = Ext6End::Truncated;
            return Some((log, None));
        };
        let (next, len_byte) = (x[0], usize::from(x[1]));
        let hdrlen = match cur {
            44 => {
                let Some(fh) = hp(pkt, ptr, 8) else {
                    log.end = Ext6End::FragTruncated;
                    return Some((log, None));
                };
                let frag_off = be16(&fh[2..4]);
                push(
                    &mut log,
                    Ext6Log::Frag {
                        offset: frag_off & 0xfff8,
                        more: frag_off & 1 != 0,
                        id: be32(&fh[4..8]),
                    },
                );
                if frag_off & 0xfff8 != 0 {
                    fragment = true;
                }
                8
            }
            0 | 43 | 60 => {
                if fragment {
                    log.end = Ext6End::OptsAfterFragment;
                    return Some((log, None));
                }
                push(&mut log, Ext6Log::Opts);
                (len_byte + 1) * 8
            }
            51 => {
                if ipopt {
                    if fragment {
                        log.end = Ext6End::AhAfterFragment;
                        return Some((log, None));
                    }
                    let Some(ah) = hp(pkt, ptr, 12) else {
                        log.end = Ext6End::AhIncomplete(avail(pkt, ptr));
                        return Some((log, None));
                    };
                    push(
                        &mut log,
                        Ext6Log::Ah {
                            spi: be32(&ah[4..8]),
                        },
                    );
                } else {
                    push(&mut log, Ext6Log::Opts);
                }
                (len_byte + 2) * 4
            }
            // ESP (50): the dump ends there.
            _ => {
                log.end = if !ipopt || fragment {
                    Ext6End::Esp(None)
                } else {
                    match hp(pkt, ptr, 8) {
                        Some(e) => Ext6End::Esp(Some(be32(&e[0..4]))),
                        None => Ext6End::EspIncomplete(avail(pkt, ptr)),
                    }
                };
                return Some((log, None));
            }
        };
        cur = next;
        ptr += hdrlen;
    }
    let mut inner = None;
    log.l4 = match cur {
        6 => dump_tcp(pkt, ptr, fragment, lflags),
        17 | 136 => dump_udp(pkt, ptr, fragment, cur == 136),
        58 if fragment => L4Log::Icmp6Fragment,
        58 => match hp(pkt, ptr, 8) {
            None => L4Log::Icmp6Incomplete(avail(pkt, ptr)),
            Some(ic) => {
                let (ty, code) = (ic[0], ic[1]);
                let body = match ty {
                    128 | 129 => Icmp6Body::Echo {
                        id: be16(&ic[4..6]),
                        seq: be16(&ic[6..8]),
                    },
                    1..=4 => {
                        if recurse {
                            inner = Some(ptr + 8);
                        }
                        Icmp6Body::Error {
                            pointer: (ty == 4).then(|| be32(&ic[4..8])),
                            mtu: (ty == 2).then(|| be32(&ic[4..8])),
                        }
                    }
                    _ => Icmp6Body::Plain,
                };
                L4Log::Icmp6 { ty, code, body }
            }
        },
        p => L4Log::Other(p),
    };
    Some((log, inner))
}

/// `%pI6`: eight groups of four hex digits, nothing compressed.
struct Full(Ipv6Addr);

impl fmt::Display for Full {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, g) in self.0.segments().iter().enumerate() {
            if i != 0 {
                f.write_str(":")?;
            }
            write!(f, "{g:04x}")?;
        }
        Ok(())
    }
}

/// Writes one IPv6 dump (`lflags`: the rule's [`flags`], which change how
/// extension headers print); false when the kernel's dump stops early
/// (no `UID=`/`MARK=`).
pub(super) fn write_ipv6(
    f: &mut fmt::Formatter<'_>,
    ip: &Ipv6Log,
    inner: Option<&InnerLog>,
    lflags: u8,
) -> Result<bool, fmt::Error> {
    write!(
        f,
        "SRC={} DST={} LEN={} TC={} HOPLIMIT={} FLOWLBL={} ",
        Full(ip.src),
        Full(ip.dst),
        ip.len,
        ip.tc,
        ip.hop_limit,
        ip.flow_label
    )?;
    let ipopt = lflags & flags::IPOPT != 0;
    let open = |f: &mut fmt::Formatter<'_>| if ipopt { f.write_str("OPT ( ") } else { Ok(()) };
    for e in &ip.ext[..usize::from(ip.ext_len)] {
        open(f)?;
        match e {
            Ext6Log::Opts => {}
            Ext6Log::Frag { offset, more, id } => {
                write!(f, "FRAG:{offset} ")?;
                if *more {
                    f.write_str("INCOMPLETE ")?;
                }
                write!(f, "ID:{id:08x} ")?;
            }
            Ext6Log::Ah { spi } => write!(f, "AH SPI=0x{spi:x} ")?,
        }
        if ipopt {
            f.write_str(") ")?;
        }
    }
    match ip.end {
        Ext6End::Upper => write_l4(f, &ip.l4, inner, lflags),
        Ext6End::Truncated => f.write_str("TRUNCATED").map(|_| false),
        Ext6End::FragTruncated => {
            open(f)?;
            f.write_str("FRAG:TRUNCATED ").map(|_| false)
        }
        Ext6End::OptsAfterFragment => {
            if ipopt {
                f.write_str("OPT ( )")?;
            }
            Ok(false)
        }
        Ext6End::AhAfterFragment => f.write_str("OPT ( AH )").map(|_| false),
        Ext6End::AhIncomplete(n) => write!(f, "OPT ( AH INCOMPLETE [{n} bytes] )").map(|_| false),
        Ext6End::Esp(spi) => {
            if ipopt {
                match spi {
                    Some(s) => write!(f, "OPT ( ESP SPI=0x{s:x} )")?,
                    None => f.write_str("OPT ( ESP )")?,
                }
            }
            Ok(false)
        }
        Ext6End::EspIncomplete(n) => write!(f, "OPT ( ESP INCOMPLETE [{n} bytes] )").map(|_| false),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire;

    /// An Ethernet frame around the IPv6 packet `next` + `payload` from
    /// fd00:1::2 to fd00:2::2 (hop limit 64).
    fn frame(next: u8, payload: &[u8]) -> Vec<u8> {
        let mut f = vec![2, 0, 0, 0, 0, 1, 2, 0, 0, 0, 1, 1, 0x86, 0xdd];
        f.extend_from_slice(&[0x60, 0, 0, 0]);
        f.extend_from_slice(&(payload.len() as u16).to_be_bytes());
        f.extend_from_slice(&[next, 64]);
        f.extend_from_slice(&"fd00:1::2".parse::<Ipv6Addr>().unwrap().octets());
        f.extend_from_slice(&"fd00:2::2".parse::<Ipv6Addr>().unwrap().octets());
        f.extend_from_slice(payload);
        f
    }

    fn line(flags: u8, f: &[u8]) -> String {
        let meta = wire::parse(f).expect("frame parses");
        let spec = LogSpec {
            prefix: InlineStr::new("x "),
            level: sluice_config::iptables::ext::t_log::LogLevel::Warning,
            flags,
        };
        let ctx = LogContext {
            out_iface: Some("r1"),
            ..LogContext::default()
        };
        LogRecord::capture(&spec, f, &meta, &ctx, 0)
            .expect("IPv6 is logged")
            .line()
    }

    const HEAD: &str = "x IN= OUT=r1 SRC=fd00:0001:0000:0000:0000:0000:0000:0002 \
                        DST=fd00:0002:0000:0000:0000:0000:0000:0002 ";

    #[test]
    fn extension_headers_end_the_dump_as_the_kernel_does() {
        // Ten destination options headers, then UDP: the record keeps the
        // first eight (the kernel prints all ten).
        let mut p = Vec::new();
        for _ in 0..9 {
            p.extend_from_slice(&[60, 0, 1, 4, 0, 0, 0, 0]);
        }
        p.extend_from_slice(&[17, 0, 1, 4, 0, 0, 0, 0]);
        p.extend_from_slice(&[0x9c, 0x40, 0, 9, 0, 8, 0, 0]);
        let l = line(flags::IPOPT, &frame(60, &p));
        assert_eq!(l.matches("OPT ( ) ").count(), EXT6_MAX, "{l}");
        assert!(l.ends_with("PROTO=UDP SPT=40000 DPT=9 LEN=8 "), "{l}");
        // An options header cut short: TRUNCATED, nothing after it.
        assert_eq!(
            line(flags::IPOPT, &frame(60, &[17])),
            format!("{HEAD}LEN=41 TC=0 HOPLIMIT=64 FLOWLBL=0 TRUNCATED")
        );
        // ESP without --log-ip-options: the dump just ends.
        assert_eq!(
            line(0, &frame(50, &[0, 0, 0, 1, 0, 0, 0, 1])),
            format!("{HEAD}LEN=48 TC=0 HOPLIMIT=64 FLOWLBL=0 ")
        );
        // AH cut short, with the flag.
        assert_eq!(
            line(flags::IPOPT, &frame(51, &[17, 1, 0, 0, 0, 0])),
            format!("{HEAD}LEN=46 TC=0 HOPLIMIT=64 FLOWLBL=0 OPT ( AH INCOMPLETE [6 bytes] )")
        );
        // No next header.
        assert_eq!(
            line(0, &frame(59, &[])),
            format!("{HEAD}LEN=40 TC=0 HOPLIMIT=64 FLOWLBL=0 PROTO=59 ")
        );
    }

    #[test]
    fn any_bytes_never_panic() {
        use rand::{Rng, SeedableRng};
        let mut rng = rand::rngs::StdRng::seed_from_u64(6);
        for _ in 0..20_000 {
            let next = [0u8, 6, 17, 43, 44, 50, 51, 58, 59, 60, 136][rng.gen_range(0..11)];
            let n = rng.gen_range(0..120);
            let mut payload: Vec<u8> = (0..n).map(|_| rng.gen()).collect();
            // Mostly walkable chains: small header lengths.
            for b in payload.iter_mut().skip(1).step_by(8) {
                *b &= 1;
            }
            let f = frame(next, &payload);
            let Ok(meta) = wire::parse(&f) else { continue };
            let spec = LogSpec {
                prefix: InlineStr::EMPTY,
                level: sluice_config::iptables::ext::t_log::LogLevel::Warning,
                flags: rng.gen(),
            };
            if let Some(r) = LogRecord::capture(&spec, &f, &meta, &LogContext::default(), 0) {
                let _ = r.line();
            }
        }
    }
}
