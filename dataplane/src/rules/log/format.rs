//! The control side: a [`LogRecord`] printed as the kernel's log line.

use std::fmt::{self, Write as _};

use super::capture::{IP_CE, IP_DF, IP_MF, IP_OFFSET};
use super::*;

/// Writes one IPv4 dump; returns false when the kernel's dump stops early
/// (so `UID=`/`MARK=` are not printed).
pub(super) fn write_ipv4(
    f: &mut fmt::Formatter<'_>,
    ip: &Ipv4Log,
    inner: Option<&InnerLog>,
) -> Result<bool, fmt::Error> {
    write!(
        f,
        "SRC={} DST={} LEN={} TOS=0x{:02X} PREC=0x{:02X} TTL={} ID={} ",
        ip.src,
        ip.dst,
        ip.len,
        ip.tos & 0x1e,
        ip.tos & 0xe0,
        ip.ttl,
        ip.id
    )?;
    if ip.frag_off & IP_CE != 0 {
        f.write_str("CE ")?;
    }
    if ip.frag_off & IP_DF != 0 {
        f.write_str("DF ")?;
    }
    if ip.frag_off & IP_MF != 0 {
        f.write_str("MF ")?;
    }
    if ip.frag_off & IP_OFFSET != 0 {
        write!(f, "FRAG:{} ", ip.frag_off & IP_OFFSET)?;
    }
    match &ip.options {
        IpOptionsLog::None => {}
        IpOptionsLog::Logged(o) => write!(f, "OPT ({o:?}) ")?,
        IpOptionsLog::Truncated => {
            f.write_str("TRUNCATED")?;
            return Ok(false);
        }
    }
    write_l4(f, &ip.l4, inner, 0)
}

/// The quoted packet of an ICMP error, in `[...] `.
fn write_inner(f: &mut fmt::Formatter<'_>, inner: Option<&InnerLog>, lflags: u8) -> fmt::Result {
    if let Some(inner) = inner {
        f.write_str("[")?;
        match inner {
            InnerLog::Truncated => f.write_str("TRUNCATED")?,
            InnerLog::Ip(i) => {
                write_ipv4(f, i, None)?;
            }
            InnerLog::Ip6(i) => {
                super::v6::write_ipv6(f, i, None, lflags)?;
            }
        }
        f.write_str("] ")?;
    }
    Ok(())
}

/// Writes the transport part of a dump (either family; `lflags` for an
/// IPv6 quoted packet); false when the dump stops there.
pub(super) fn write_l4(
    f: &mut fmt::Formatter<'_>,
    l4: &L4Log,
    inner: Option<&InnerLog>,
    lflags: u8,
) -> Result<bool, fmt::Error> {
    let udp = |lite: bool| if lite { "PROTO=UDPLITE " } else { "PROTO=UDP " };
    match l4 {
        L4Log::Tcp(t) => {
            write!(f, "PROTO=TCP SPT={} DPT={} ", t.sport, t.dport)?;
            if let Some((seq, ack)) = t.seq_ack {
                write!(f, "SEQ={seq} ACK={ack} ")?;
            }
            write!(f, "WINDOW={} RES=0x{:02x} ", t.window, t.res)?;
            for (bit, name) in [
                (0x80, "CWR "),
                (0x40, "ECE "),
                (0x20, "URG "),
                (0x10, "ACK "),
                (0x08, "PSH "),
                (0x04, "RST "),
                (0x02, "SYN "),
                (0x01, "FIN "),
            ] {
                if t.flags & bit != 0 {
                    f.write_str(name)?;
                }
            }
            write!(f, "URGP={} ", t.urgp)?;
            match &t.options {
                TcpOptionsLog::None => {}
                TcpOptionsLog::Logged(o) => write!(f, "OPT ({o:?}) ")?,
                TcpOptionsLog::Truncated => {
                    f.write_str("OPT (TRUNCATED)")?;
                    return Ok(false);
                }
            }
        }
        L4Log::TcpFragment => f.write_str("PROTO=TCP ")?,
        L4Log::TcpIncomplete(n) => {
            write!(f, "PROTO=TCP INCOMPLETE [{n} bytes] ")?;
            return Ok(false);
        }
        L4Log::Udp {
            lite,
            sport,
            dport,
            len,
        } => write!(f, "{}SPT={sport} DPT={dport} LEN={len} ", udp(*lite))?,
        L4Log::UdpFragment { lite } => f.write_str(udp(*lite))?,
        L4Log::UdpIncomplete { lite, avail } => {
            write!(f, "{}INCOMPLETE [{avail} bytes] ", udp(*lite))?;
            return Ok(false);
        }
        L4Log::IcmpFragment => f.write_str("PROTO=ICMP ")?,
        L4Log::IcmpIncomplete(n) => write!(f, "PROTO=ICMP INCOMPLETE [{n} bytes] ")?,
        L4Log::Icmp { ty, code, body } => {
            write!(f, "PROTO=ICMP TYPE={ty} CODE={code} ")?;
            match body {
                IcmpBody::Plain => {}
                IcmpBody::Incomplete(n) => write!(f, "INCOMPLETE [{n} bytes] ")?,
                IcmpBody::Echo { id, seq } => write!(f, "ID={id} SEQ={seq} ")?,
                IcmpBody::Parameter(p) => write!(f, "PARAMETER={p} ")?,
                IcmpBody::Error { gateway, mtu } => {
                    if let Some(g) = gateway {
                        write!(f, "GATEWAY={g} ")?;
                    }
                    write_inner(f, inner, lflags)?;
                    if let Some(m) = mtu {
                        write!(f, "MTU={m} ")?;
                    }
                }
            }
        }
        L4Log::AhFragment => {}
        L4Log::AhIncomplete(n) => write!(f, "PROTO=AH INCOMPLETE [{n} bytes] ")?,
        L4Log::Ah { spi } => write!(f, "PROTO=AH SPI=0x{spi:x} ")?,
        L4Log::EspFragment => f.write_str("PROTO=ESP ")?,
        L4Log::EspIncomplete(n) => write!(f, "PROTO=ESP INCOMPLETE [{n} bytes] ")?,
        L4Log::Esp { spi } => write!(f, "PROTO=ESP SPI=0x{spi:x} ")?,
        L4Log::Other(p) => write!(f, "PROTO={p} ")?,
        L4Log::Icmp6Fragment => f.write_str("PROTO=ICMPv6 ")?,
        L4Log::Icmp6Incomplete(n) => {
            write!(f, "PROTO=ICMPv6 INCOMPLETE [{n} bytes] ")?;
            return Ok(false);
        }
        L4Log::Icmp6 { ty, code, body } => {
            write!(f, "PROTO=ICMPv6 TYPE={ty} CODE={code} ")?;
            match body {
                Icmp6Body::Plain => {}
                Icmp6Body::Echo { id, seq } => write!(f, "ID={id} SEQ={seq} ")?,
                Icmp6Body::Error { pointer, mtu } => {
                    if let Some(p) = pointer {
                        write!(f, "POINTER={p:08x} ")?;
                    }
                    write_inner(f, inner, lflags)?;
                    if let Some(m) = mtu {
                        write!(f, "MTU={m} ")?;
                    }
                }
            }
        }
    }
    Ok(true)
}

impl fmt::Display for LogRecord {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}IN={} OUT={} ",
            self.prefix.as_str(),
            self.in_iface.as_str(),
            self.out_iface.as_str()
        )?;
        if let Some(m) = &self.mac {
            if self.flags & flags::MACDECODE != 0 {
                write!(
                    f,
                    "MACSRC={} MACDST={} MACPROTO={:04x} ",
                    m.src, m.dst, m.ethertype
                )?;
            } else {
                f.write_str("MAC=")?;
                let mut first = true;
                let et = m.ethertype.to_be_bytes();
                for b in m.dst.0.iter().chain(m.src.0.iter()).chain(et.iter()) {
                    if !first {
                        f.write_char(':')?;
                    }
                    first = false;
                    write!(f, "{b:02x}")?;
                }
                f.write_char(' ')?;
            }
        }
        let whole = match &self.ip {
            IpLog::V4(ip) => write_ipv4(f, ip, self.inner.as_ref())?,
            IpLog::V6(ip) => super::v6::write_ipv6(f, ip, self.inner.as_ref(), self.flags)?,
        };
        if !whole {
            return Ok(());
        }
        if self.flags & flags::UID != 0 {
            if let Some((uid, gid)) = self.uid_gid {
                write!(f, "UID={uid} GID={gid} ")?;
            }
        }
        if self.mark != 0 {
            write!(f, "MARK=0x{:x} ", self.mark)?;
        }
        Ok(())
    }
}
