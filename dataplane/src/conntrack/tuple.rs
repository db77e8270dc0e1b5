//! The conntrack tuple (`struct nf_conntrack_tuple`): what identifies one
//! direction of a connection, and its inverse (`nf_ct_invert_tuple`).
//!
//! Addresses are 16 bytes for both families (an IPv4 address in the first
//! four, the rest zero), so one tuple type serves both and hashes as
//! plain bytes. The "ports" are what the protocol has in their place:
//!
//! | protocol          | `sport`        | `dport`               |
//! |-------------------|----------------|-----------------------|
//! | TCP, UDP, UDPLITE, SCTP, DCCP | source port | destination port |
//! | ICMP, ICMPv6      | the query id   | `type << 8 | code`    |
//! | anything else     | 0              | 0                     |
//!
//! The zone (`-j CT --zone`) is part of the key, as the kernel compares
//! and hashes it with the tuple (`nf_ct_zone_equal`).

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

/// A direction of a connection (`enum ip_conntrack_dir`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[repr(u8)]
pub enum Dir {
    /// `IP_CT_DIR_ORIGINAL`: as the first packet went.
    Orig = 0,
    /// `IP_CT_DIR_REPLY`.
    Reply = 1,
}

impl Dir {
    #[inline]
    pub fn index(self) -> usize {
        self as usize
    }

    #[inline]
    pub fn other(self) -> Dir {
        match self {
            Dir::Orig => Dir::Reply,
            Dir::Reply => Dir::Orig,
        }
    }
}

/// An address of either family: IPv4 in the first four bytes.
pub type Addr = [u8; 16];

/// `addr` as a tuple address.
#[inline]
pub fn addr(ip: IpAddr) -> Addr {
    match ip {
        IpAddr::V4(a) => {
            let mut b = [0u8; 16];
            b[..4].copy_from_slice(&a.octets());
            b
        }
        IpAddr::V6(a) => a.octets(),
    }
}

/// The tuple address `a` of family `family` (4 or 6) as an [`IpAddr`].
#[inline]
pub fn ip(family: u8, a: &Addr) -> IpAddr {
    if family == 4 {
        IpAddr::V4(Ipv4Addr::new(a[0], a[1], a[2], a[3]))
    } else {
        IpAddr::V6(Ipv6Addr::from(*a))
    }
}

/// One direction of a connection. See the module docs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Tuple {
    pub src: Addr,
    pub dst: Addr,
    pub sport: u16,
    pub dport: u16,
    /// The IP protocol number (the upper layer for IPv6).
    pub proto: u8,
    /// 4 or 6.
    pub family: u8,
    /// The conntrack zone (0 unless `-j CT --zone`).
    pub zone: u16,
}

impl std::hash::Hash for Tuple {
    /// Five words, no length prefixes: the hot path hashes one tuple per
    /// packet.
    #[inline]
    fn hash<H: std::hash::Hasher>(&self, h: &mut H) {
        let w = |a: &[u8; 16], k: usize| {
            let mut b = [0u8; 8];
            b.copy_from_slice(&a[8 * k..8 * k + 8]);
            u64::from_ne_bytes(b)
        };
        h.write_u64(w(&self.src, 0));
        h.write_u64(w(&self.src, 1));
        h.write_u64(w(&self.dst, 0));
        h.write_u64(w(&self.dst, 1));
        h.write_u64(
            u64::from(self.sport)
                | u64::from(self.dport) << 16
                | u64::from(self.proto) << 32
                | u64::from(self.family) << 40
                | u64::from(self.zone) << 48,
        );
    }
}

/// ICMP types and their replies (`invmap` of `nf_conntrack_proto_icmp.c`):
/// echo, timestamp, info request, address mask.
const ICMP_QUERIES: [(u8, u8); 4] = [(8, 0), (13, 14), (15, 16), (17, 18)];
/// ICMPv6 echo request and reply, node information query and response
/// (`nf_conntrack_proto_icmpv6.c`).
const ICMPV6_QUERIES: [(u8, u8); 2] = [(128, 129), (139, 140)];

/// The reply type of an ICMP (`v6` false) or ICMPv6 query type, or of a
/// reply its query: `None` when `ty` is neither (an error, or a type
/// conntrack does not track).
pub fn icmp_invert(v6: bool, ty: u8) -> Option<u8> {
    let table: &[(u8, u8)] = if v6 { &ICMPV6_QUERIES } else { &ICMP_QUERIES };
    table.iter().find_map(|&(q, r)| {
        if ty == q {
            Some(r)
        } else if ty == r {
            Some(q)
        } else {
            None
        }
    })
}

/// Whether `ty` is a query conntrack may start a connection with
/// (`icmp_new`: echo, timestamp, info and address mask requests; for
/// ICMPv6 `icmpv6_new`: echo request and node information query).
pub fn icmp_is_query(v6: bool, ty: u8) -> bool {
    let table: &[(u8, u8)] = if v6 { &ICMPV6_QUERIES } else { &ICMP_QUERIES };
    table.iter().any(|&(q, _)| q == ty)
}

/// Whether `proto` has ports in the tuple.
#[inline]
pub fn has_ports(proto: u8) -> bool {
    matches!(proto, 6 | 17 | 33 | 132 | 136)
}

/// Whether `proto` is ICMP for `family`.
#[inline]
pub fn is_icmp(family: u8, proto: u8) -> bool {
    (family == 4 && proto == 1) || (family == 6 && proto == 58)
}

impl Tuple {
    /// `nf_ct_invert_tuple`: the tuple of the other direction; `None` for
    /// an ICMP message with no inverse (not a query or its reply).
    #[inline]
    pub fn invert(&self) -> Option<Tuple> {
        let mut t = Tuple {
            src: self.dst,
            dst: self.src,
            sport: self.dport,
            dport: self.sport,
            ..*self
        };
        if is_icmp(self.family, self.proto) {
            let ty = icmp_invert(self.family == 6, (self.dport >> 8) as u8)?;
            t.sport = self.sport;
            t.dport = (u16::from(ty) << 8) | (self.dport & 0xff);
        }
        Some(t)
    }

    /// The source address.
    pub fn src_ip(&self) -> IpAddr {
        ip(self.family, &self.src)
    }

    /// The destination address.
    pub fn dst_ip(&self) -> IpAddr {
        ip(self.family, &self.dst)
    }

    /// The ICMP type (for an ICMP tuple).
    pub fn icmp_type(&self) -> u8 {
        (self.dport >> 8) as u8
    }

    /// The ICMP code (for an ICMP tuple).
    pub fn icmp_code(&self) -> u8 {
        self.dport as u8
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(proto: u8, sport: u16, dport: u16) -> Tuple {
        Tuple {
            src: addr("10.0.0.1".parse().unwrap()),
            dst: addr("192.0.2.7".parse().unwrap()),
            sport,
            dport,
            proto,
            family: 4,
            zone: 0,
        }
    }

    #[test]
    fn invert_swaps_ends_and_is_an_involution() {
        let a = t(6, 40000, 80);
        let r = a.invert().unwrap();
        assert_eq!((r.sport, r.dport), (80, 40000));
        assert_eq!(r.src_ip(), "192.0.2.7".parse::<IpAddr>().unwrap());
        assert_eq!(r.invert().unwrap(), a);
    }

    #[test]
    fn icmp_echo_keeps_the_id_and_inverts_the_type() {
        let echo = t(1, 0x1234, 8 << 8);
        let r = echo.invert().unwrap();
        assert_eq!((r.sport, r.icmp_type(), r.icmp_code()), (0x1234, 0, 0));
        assert_eq!(r.invert().unwrap(), echo);
        // A destination unreachable has no inverse.
        assert_eq!(t(1, 0, 3 << 8).invert(), None);
        assert!(icmp_is_query(false, 8) && !icmp_is_query(false, 0));
        assert_eq!(icmp_invert(true, 128), Some(129));
    }
}
