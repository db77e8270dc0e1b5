//! A smoltcp [`Device`] over one AF_XDP port (`sluice_dataplane::io::xsk`),
//! and what both ends of the stateful mode share: the interface set-up, the
//! payload pattern and its verifier.
//!
//! RX copies: each received frame is copied once into a per-batch buffer
//! (64 × 2 KiB, allocated once) and its UMEM chunk goes straight back to
//! the fill ring (smoltcp answers from inside the RX token, so an RX borrow
//! of the UMEM would collide with the TX token's). TX is zero-copy: smoltcp
//! writes the frame into a UMEM chunk, queued for the port until
//! [`XdpDevice::flush`] (once per loop turn, or when 256 frames wait). Received checksums are not verified (a veth peer
//! hands over checksum-offloaded frames); every payload byte is checked
//! against [`pattern_byte`] instead. Sent checksums are computed.

use std::net::{IpAddr, Ipv4Addr};

use sluice_dataplane::io::xsk::{self, XskConfig, XskPort};
use sluice_dataplane::io::{Desc, Port, Umem};
use smoltcp::iface::{Config, Interface};
use smoltcp::phy::{self, Checksum, ChecksumCapabilities, Device, DeviceCapabilities, Medium};
use smoltcp::time::Instant as SInstant;
use smoltcp::wire::{EthernetAddress, HardwareAddress, IpCidr};

use super::host::ip;
use super::{mono_ns, BATCH};

/// Bytes of one received-frame slot (a UMEM chunk).
const SLOT: usize = 2048;

pub struct XdpDevice {
    umem: Umem,
    port: XskPort,
    rx_buf: Vec<u8>,
    rx_len: [usize; BATCH],
    rx_n: usize,
    rx_i: usize,
    tx: Vec<Desc>,
    mtu: usize,
    /// Frames smoltcp built that the TX ring did not take (TCP resends).
    pub tx_dropped: u64,
    pub native: bool,
    pub zerocopy: bool,
}

impl XdpDevice {
    /// Opens queue 0 of `dev` (one worker, one queue).
    pub fn open(dev: &str) -> Result<(XdpDevice, [u8; 6]), String> {
        let info = xsk::preflight(dev, 1).map_err(|e| e.to_string())?;
        let (umem, mut ports) =
            xsk::open_worker(&[dev], 0, &XskConfig::default()).map_err(|e| e.to_string())?;
        let port = ports.remove(0);
        let mode = port.mode();
        let d = XdpDevice {
            umem,
            port,
            rx_buf: vec![0; BATCH * SLOT],
            rx_len: [0; BATCH],
            rx_n: 0,
            rx_i: 0,
            tx: Vec::with_capacity(4 * BATCH),
            mtu: (info.mtu as usize).min(1500),
            tx_dropped: 0,
            native: mode.native,
            zerocopy: mode.zerocopy,
        };
        Ok((d, info.mac))
    }

    /// Hands the queued frames to the port and does its housekeeping
    /// (completions, fill ring, kicks). Once per loop turn.
    pub fn flush(&mut self) {
        if !self.tx.is_empty() {
            let n = self.port.tx(&mut self.umem, &self.tx);
            for &d in &self.tx[n..] {
                self.umem.free(d);
                self.tx_dropped += 1;
            }
            self.tx.clear();
        }
        self.port.poll(&mut self.umem);
    }

    /// Received frames not yet handed to smoltcp.
    pub fn rx_pending(&self) -> bool {
        self.rx_i < self.rx_n
    }

    pub fn fd(&self) -> Option<std::os::fd::RawFd> {
        self.port.fd()
    }

    pub fn tx_pending(&self) -> bool {
        self.port.tx_pending()
    }

    /// Makes room for another frame to send: hands the queue to the port
    /// when it is full; `false` when no chunk or queue slot is left.
    fn tx_room(&mut self) -> bool {
        if self.tx.len() >= 4 * BATCH {
            self.flush();
        }
        self.umem.free_count() > 0 && self.tx.len() < 4 * BATCH
    }

    fn fetch(&mut self) {
        let mut descs = [Desc::default(); BATCH];
        let n = self.port.rx(&mut self.umem, &mut descs);
        for (i, &d) in descs[..n].iter().enumerate() {
            let b = self.umem.bytes(d);
            let len = b.len().min(SLOT);
            self.rx_buf[i * SLOT..i * SLOT + len].copy_from_slice(&b[..len]);
            self.rx_len[i] = len;
            self.umem.free(d);
        }
        (self.rx_n, self.rx_i) = (n, 0);
    }
}

pub struct RxTok<'a>(&'a [u8]);

pub struct TxTok<'a> {
    umem: &'a mut Umem,
    tx: &'a mut Vec<Desc>,
}

impl phy::RxToken for RxTok<'_> {
    fn consume<R, F: FnOnce(&[u8]) -> R>(self, f: F) -> R {
        f(self.0)
    }
}

impl phy::TxToken for TxTok<'_> {
    fn consume<R, F: FnOnce(&mut [u8]) -> R>(self, len: usize, f: F) -> R {
        // `transmit` checked that a chunk is free; `len` is within the
        // MTU, which fits a chunk. Should either fail, smoltcp writes into a
        // scratch buffer and the frame is lost (TCP resends it).
        let mut d = self.umem.alloc();
        if let Some(x) = d.as_mut() {
            if !self.umem.set_len(x, len) {
                self.umem.free(*x);
                d = None;
            }
        }
        match d {
            Some(d) => {
                let r = f(self.umem.bytes_mut(d));
                self.tx.push(d);
                r
            }
            None => {
                let mut scratch = [0u8; SLOT];
                f(&mut scratch[..len.min(SLOT)])
            }
        }
    }
}

impl Device for XdpDevice {
    type RxToken<'a> = RxTok<'a>;
    type TxToken<'a> = TxTok<'a>;

    fn receive(&mut self, _t: SInstant) -> Option<(RxTok<'_>, TxTok<'_>)> {
        if self.rx_i == self.rx_n {
            self.fetch();
        }
        if self.rx_i == self.rx_n || !self.tx_room() {
            return None;
        }
        let i = self.rx_i;
        self.rx_i += 1;
        let rx = &self.rx_buf[i * SLOT..i * SLOT + self.rx_len[i]];
        Some((
            RxTok(rx),
            TxTok {
                umem: &mut self.umem,
                tx: &mut self.tx,
            },
        ))
    }

    fn transmit(&mut self, _t: SInstant) -> Option<TxTok<'_>> {
        if !self.tx_room() {
            return None;
        }
        Some(TxTok {
            umem: &mut self.umem,
            tx: &mut self.tx,
        })
    }

    fn capabilities(&self) -> DeviceCapabilities {
        let mut c = DeviceCapabilities::default();
        c.medium = Medium::Ethernet;
        c.max_transmission_unit = self.mtu + 14;
        c.max_burst_size = Some(BATCH);
        let mut sum = ChecksumCapabilities::default();
        sum.ipv4 = Checksum::Tx;
        sum.tcp = Checksum::Tx;
        sum.udp = Checksum::Tx;
        sum.icmpv4 = Checksum::Tx;
        c.checksum = sum;
        c
    }
}

/// smoltcp's clock: CLOCK_MONOTONIC.
pub fn now() -> SInstant {
    SInstant::from_micros((mono_ns() / 1000) as i64)
}

/// A smoltcp interface on `dev`'s MAC with address `addr/prefix` and, if
/// given, a default route via `gw`.
pub fn interface(
    dev: &mut XdpDevice,
    mac: [u8; 6],
    addr: Ipv4Addr,
    prefix: u8,
    gw: Option<Ipv4Addr>,
) -> Result<Interface, String> {
    let cfg = Config::new(HardwareAddress::Ethernet(EthernetAddress(mac)));
    let mut iface = Interface::new(cfg, dev, now());
    iface.update_ip_addrs(|a| {
        let _ = a.push(IpCidr::new(addr.into(), prefix));
    });
    if let Some(g) = gw {
        iface
            .routes_mut()
            .add_default_ipv4_route(g)
            .map_err(|_| "smoltcp route table full".to_string())?;
    }
    Ok(iface)
}

/// `dev`'s first global IPv4 address with its prefix length.
pub fn dev_cidr(dev: &str) -> Result<(Ipv4Addr, u8), String> {
    let out = ip(&["-4", "-o", "addr", "show", "dev", dev, "scope", "global"])?;
    out.split_whitespace()
        .skip_while(|w| *w != "inet")
        .nth(1)
        .and_then(parse_cidr)
        .ok_or(format!(
            "interface {dev} has no global IPv4 address: give --src/--addr CIDR"
        ))
}

/// `A.B.C.D/N` (or a bare address: /32).
pub fn parse_cidr(s: &str) -> Option<(Ipv4Addr, u8)> {
    let (a, p) = s.split_once('/').unwrap_or((s, "32"));
    let p: u8 = p.parse().ok().filter(|p| *p <= 32)?;
    Some((a.parse().ok()?, p))
}

/// The gateway of the kernel's IPv4 default route on `dev`, if any.
pub fn default_gateway(dev: &str) -> Result<Option<Ipv4Addr>, String> {
    let out = ip(&["-4", "route", "show", "default", "dev", dev])?;
    Ok(out
        .split_whitespace()
        .skip_while(|w| *w != "via")
        .nth(1)
        .and_then(|g| g.parse().ok()))
}

/// Byte `pos` of connection `id`'s stream: the id (8 bytes, little endian)
/// then a hash of (id, pos), so a byte from another connection or another
/// offset does not match.
#[inline]
pub fn pattern_byte(id: u64, pos: u64) -> u8 {
    if pos < 8 {
        return (id >> (8 * pos)) as u8;
    }
    let x = (id.wrapping_mul(0x9E37_79B9_7F4A_7C15) ^ pos).wrapping_mul(0xFF51_AFD7_ED55_8CCD);
    (x >> 56) as u8
}

/// Fills `buf` with connection `id`'s bytes from offset `pos`.
pub fn fill(id: u64, pos: u64, buf: &mut [u8]) {
    for (k, b) in buf.iter_mut().enumerate() {
        *b = pattern_byte(id, pos + k as u64);
    }
}

/// Checks a stream against the pattern as it arrives; the id is either
/// known (the client) or read from the first 8 bytes (the server).
#[derive(Debug, Clone, Copy)]
pub struct Verifier {
    pub pos: u64,
    id: u64,
    known: bool,
    pub ok: bool,
}

impl Verifier {
    pub fn known(id: u64) -> Verifier {
        Verifier {
            pos: 0,
            id,
            known: true,
            ok: true,
        }
    }

    pub fn learn() -> Verifier {
        Verifier {
            pos: 0,
            id: 0,
            known: false,
            ok: true,
        }
    }

    pub fn feed(&mut self, data: &[u8]) {
        for &b in data {
            if self.pos < 8 && !self.known {
                self.id |= u64::from(b) << (8 * self.pos);
            } else if b != pattern_byte(self.id, self.pos) {
                self.ok = false;
            }
            self.pos += 1;
        }
    }
}

/// Sleeps on the port's socket for up to `ms` when nothing is pending.
pub fn idle(dev: &XdpDevice, ms: i32) {
    if dev.rx_pending() || dev.tx_pending() || ms <= 0 {
        return;
    }
    if let Some(fd) = dev.fd() {
        sluice_dataplane::io::wait::wait_readable(&[fd], ms);
    }
}

/// The IPv4 address of `a`, or an error naming `what`.
pub fn v4(a: IpAddr, what: &str) -> Result<Ipv4Addr, String> {
    match a {
        IpAddr::V4(a) => Ok(a),
        IpAddr::V6(_) => Err(format!("{what} {a}: the stateful TCP mode is IPv4 only")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_pattern_round_trips_in_any_split() {
        let mut buf = vec![0u8; 3000];
        fill(12345, 0, &mut buf);
        let mut v = Verifier::known(12345);
        for chunk in buf.chunks(7) {
            v.feed(chunk);
        }
        assert!(v.ok);
        let mut s = Verifier::learn();
        s.feed(&buf[..5]);
        s.feed(&buf[5..]);
        assert!(s.ok && s.pos == 3000 && s.id == 12345);
    }

    #[test]
    fn a_wrong_byte_or_connection_fails_verification() {
        let mut buf = vec![0u8; 100];
        fill(7, 0, &mut buf);
        let mut v = Verifier::known(8);
        v.feed(&buf);
        assert!(!v.ok, "connection 7's bytes verified as 8's");
        buf[50] ^= 1;
        let mut s = Verifier::learn();
        s.feed(&buf);
        assert!(!s.ok, "a flipped bit went unnoticed");
        // Another offset of the same connection does not match either.
        let mut v = Verifier::known(7);
        let mut off = vec![0u8; 100];
        fill(7, 9, &mut off[8..]);
        fill(7, 0, &mut off[..8]);
        v.feed(&off);
        assert!(!v.ok, "bytes of offset 9 verified at offset 8");
    }

    #[test]
    fn cidr_and_family_checks() {
        assert_eq!(
            parse_cidr("10.0.0.2/24"),
            Some(("10.0.0.2".parse().unwrap(), 24))
        );
        assert_eq!(
            parse_cidr("10.0.0.2"),
            Some(("10.0.0.2".parse().unwrap(), 32))
        );
        assert_eq!(parse_cidr("10.0.0.2/33"), None);
        assert!(v4("fd00::1".parse().unwrap(), "--dst")
            .unwrap_err()
            .contains("IPv4 only"));
    }
}
