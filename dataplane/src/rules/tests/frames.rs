//! IPv4 frames for the tests, byte by byte, with every checksum right
//! unless a test spoils it.

use std::net::{IpAddr, Ipv4Addr};

use super::{ip, HOST_MAC, ROUTER_MAC};
use crate::wire::{checksum, MacAddr};

/// An IPv4 packet in an Ethernet frame.
#[derive(Debug, Clone)]
pub struct Pk {
    pub src: Ipv4Addr,
    pub dst: Ipv4Addr,
    pub proto: u8,
    pub ttl: u8,
    pub tos: u8,
    pub ident: u16,
    /// Fragment offset in bytes (a multiple of 8).
    pub frag: u16,
    pub mf: bool,
    pub df: bool,
    pub ip_opts: Vec<u8>,
    /// The transport header and data.
    pub l4: Vec<u8>,
    /// Fill in the transport checksum (TCP, UDP, ICMP).
    pub l4_csum: bool,
    pub smac: MacAddr,
    pub dmac: MacAddr,
    /// Bytes of link-layer padding after the IP packet.
    pub pad: usize,
}

pub const SYN: u8 = 0x02;
pub const ACK: u8 = 0x10;
pub const RST: u8 = 0x04;
pub const FIN: u8 = 0x01;

impl Pk {
    pub fn raw(src: &str, dst: &str, proto: u8, l4: Vec<u8>) -> Pk {
        Pk {
            src: ip(src),
            dst: ip(dst),
            proto,
            ttl: 64,
            tos: 0,
            ident: 0x1234,
            frag: 0,
            mf: false,
            df: true,
            ip_opts: Vec::new(),
            l4,
            l4_csum: true,
            smac: HOST_MAC,
            dmac: ROUTER_MAC,
            pad: 0,
        }
    }

    /// A TCP segment with these flags, options (padded to 4 bytes) and data.
    pub fn tcp_full(
        src: &str,
        dst: &str,
        sport: u16,
        dport: u16,
        flags: u8,
        opts: &[u8],
        data: &[u8],
    ) -> Pk {
        let olen = opts.len().div_ceil(4) * 4;
        let mut l4 = vec![0u8; 20 + olen];
        l4[0..2].copy_from_slice(&sport.to_be_bytes());
        l4[2..4].copy_from_slice(&dport.to_be_bytes());
        l4[4..8].copy_from_slice(&1000u32.to_be_bytes());
        l4[8..12].copy_from_slice(&if flags & ACK != 0 { 7777u32 } else { 0 }.to_be_bytes());
        l4[12] = (((20 + olen) / 4) as u8) << 4;
        l4[13] = flags;
        l4[14..16].copy_from_slice(&64240u16.to_be_bytes());
        l4[20..20 + opts.len()].copy_from_slice(opts);
        l4.extend_from_slice(data);
        Pk::raw(src, dst, 6, l4)
    }

    pub fn tcp(src: &str, dst: &str, sport: u16, dport: u16, flags: u8) -> Pk {
        Pk::tcp_full(src, dst, sport, dport, flags, &[], &[])
    }

    /// A SYN with an MSS option.
    pub fn syn_mss(src: &str, dst: &str, dport: u16, mss: u16) -> Pk {
        let m = mss.to_be_bytes();
        Pk::tcp_full(src, dst, 40000, dport, SYN, &[2, 4, m[0], m[1]], &[])
    }

    /// A SYN from 10.0.1.2:1 to 10.0.2.2:80 whose MSS (1460) follows other
    /// options: NOP, NOP, SACK permitted, MSS.
    pub fn syn_mss_after_options() -> Pk {
        let opts = [1, 1, 4, 2, 2, 4, 5, 0xb4];
        Pk::tcp_full("10.0.1.2", "10.0.2.2", 1, 80, SYN, &opts, &[])
    }

    pub fn udp(src: &str, dst: &str, sport: u16, dport: u16, data: &[u8]) -> Pk {
        let mut l4 = vec![0u8; 8];
        l4[0..2].copy_from_slice(&sport.to_be_bytes());
        l4[2..4].copy_from_slice(&dport.to_be_bytes());
        l4[4..6].copy_from_slice(&((8 + data.len()) as u16).to_be_bytes());
        l4.extend_from_slice(data);
        Pk::raw(src, dst, 17, l4)
    }

    pub fn icmp(src: &str, dst: &str, t: u8, code: u8) -> Pk {
        let mut l4 = vec![t, code, 0, 0, 0, 7, 0, 1];
        l4.extend_from_slice(b"ping");
        Pk::raw(src, dst, 1, l4)
    }

    pub fn ttl(mut self, t: u8) -> Pk {
        self.ttl = t;
        self
    }
    pub fn tos(mut self, t: u8) -> Pk {
        self.tos = t;
        self
    }
    pub fn frag(mut self, offset: u16, mf: bool) -> Pk {
        self.frag = offset;
        self.mf = mf;
        self.df = false;
        self
    }
    pub fn smac(mut self, m: MacAddr) -> Pk {
        self.smac = m;
        self
    }
    pub fn dmac(mut self, m: MacAddr) -> Pk {
        self.dmac = m;
        self
    }
    pub fn pad(mut self, n: usize) -> Pk {
        self.pad = n;
        self
    }
    /// Cuts the transport part to `n` bytes (after the checksum).
    pub fn cut(mut self, n: usize) -> Pk {
        self.fill_l4_checksum();
        self.l4.truncate(n);
        self.l4_csum = false;
        self
    }

    fn fill_l4_checksum(&mut self) {
        if !self.l4_csum || self.frag != 0 {
            return;
        }
        let (s, d) = (IpAddr::V4(self.src), IpAddr::V4(self.dst));
        let at = match self.proto {
            6 if self.l4.len() >= 18 => 16,
            17 if self.l4.len() >= 8 => 6,
            1 if self.l4.len() >= 4 => 2,
            _ => return,
        };
        self.l4[at..at + 2].fill(0);
        let c = if self.proto == 1 {
            checksum::checksum(&self.l4)
        } else {
            checksum::transport(&s, &d, self.proto, &self.l4)
        };
        let c = if self.proto == 17 {
            checksum::udp_wire(c)
        } else {
            c
        };
        self.l4[at..at + 2].copy_from_slice(&c.to_be_bytes());
        self.l4_csum = false;
    }

    /// The IP packet.
    pub fn ip(&self) -> Vec<u8> {
        let mut me = self.clone();
        me.fill_l4_checksum();
        let hl = 20 + me.ip_opts.len();
        let total = hl + me.l4.len();
        let mut p = vec![0u8; total];
        p[0] = 0x40 | (hl / 4) as u8;
        p[1] = me.tos;
        p[2..4].copy_from_slice(&(total as u16).to_be_bytes());
        p[4..6].copy_from_slice(&me.ident.to_be_bytes());
        let mut ff = me.frag / 8;
        if me.mf {
            ff |= 0x2000;
        }
        if me.df {
            ff |= 0x4000;
        }
        p[6..8].copy_from_slice(&ff.to_be_bytes());
        p[8] = me.ttl;
        p[9] = me.proto;
        p[12..16].copy_from_slice(&me.src.octets());
        p[16..20].copy_from_slice(&me.dst.octets());
        p[20..hl].copy_from_slice(&me.ip_opts);
        let c = checksum::checksum(&p[..hl]);
        p[10..12].copy_from_slice(&c.to_be_bytes());
        p[hl..].copy_from_slice(&me.l4);
        p
    }

    pub fn frame(&self) -> Vec<u8> {
        let mut f = Vec::with_capacity(14 + 60 + self.l4.len() + self.pad);
        f.extend_from_slice(&self.dmac.0);
        f.extend_from_slice(&self.smac.0);
        f.extend_from_slice(&[0x08, 0x00]);
        f.extend_from_slice(&self.ip());
        f.resize(f.len() + self.pad, 0);
        f
    }

    /// The IP total length.
    pub fn len(&self) -> u64 {
        (20 + self.ip_opts.len() + self.l4.len()) as u64
    }
}
