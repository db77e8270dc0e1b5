//! The forwarding benchmark's setup, shared by `benches/pipeline.rs` (timed
//! medians) and the `sluice-pipeline-fixed` binary (a fixed packet count,
//! for `valgrind --tool=callgrind`).
//!
//! One worker, two in-memory ports: `r0` (10.0.1.1/24, fd00:1::1/64)
//! receives, `r1` (10.0.2.1/24, fd00:2::1/64) has four gateways with
//! permanent neighbours and a FIB of `prefixes` routes through them
//! (IPv4: /24s and /20s from 16.0.0.0; IPv6: /48s and /44s from 2001:db8::
//! upward), built from appliance TOML like the real configuration. The
//! ruleset is empty (every hook accepts). A batch is 64 UDP frames to
//! destinations spread over the whole FIB (64 different routes), each
//! frame copied into a fresh chunk from a template (what a NIC's DMA
//! does), received, parsed, routed (policy rules, LPM), TTL-decremented,
//! MAC-rewritten, neighbour-resolved and transmitted; the port then
//! recycles the transmitted chunks like TX completions.

use std::hint::black_box;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::sync::Arc;
use std::time::Instant;

use ipnet::{IpNet, Ipv4Net, Ipv6Net};
use sluice_dataplane::io::mem::MemPort;
use sluice_dataplane::io::{Port, Umem};
use sluice_dataplane::net::{Net, PortConf};
use sluice_dataplane::pipeline::{Counter, Pipeline, Snapshot, BATCH};
use sluice_dataplane::route::{self, PortId, Router, StaticRoute};
use sluice_dataplane::wire::{
    self, checksum, ethernet, ipv4, ipv6, EtherType, IpProtocol, MacAddr,
};
use sluice_dataplane::worker::Worker;

/// Which traffic the bench sends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Family {
    V4,
    V6,
}

const GATEWAYS_V4: [&str; 4] = ["10.0.2.251", "10.0.2.252", "10.0.2.253", "10.0.2.254"];
const GATEWAYS_V6: [&str; 4] = ["fd00:2::fb", "fd00:2::fc", "fd00:2::fd", "fd00:2::fe"];

fn port_mac(i: u8) -> MacAddr {
    MacAddr([0x02, 0, 0, 0, 0x01, i])
}

/// The destination prefix of route `i`: mostly /24 (/48), every eighth a
/// shorter /20 (/44) elsewhere, so the trie has several prefix lengths.
fn prefix_v4(i: usize) -> (Ipv4Addr, u8) {
    if i % 8 == 7 {
        let base = 0x3000_0000u32 + (i as u32) * 0x1000;
        (Ipv4Addr::from(base), 20)
    } else {
        let base = 0x1000_0000u32 + (i as u32) * 0x100;
        (Ipv4Addr::from(base), 24)
    }
}

fn prefix_v6(i: usize) -> (Ipv6Addr, u8) {
    let base = 0x2001_0db8u128 << 96;
    if i % 8 == 7 {
        (
            Ipv6Addr::from(base | (0x8000_0000u128 + (i as u128) * 16) << 80),
            44,
        )
    } else {
        (Ipv6Addr::from(base | ((i as u128) << 80)), 48)
    }
}

/// The appliance TOML of the bench with `prefixes` routes per family
/// (what [`snapshot`] builds, as an operator would write it).
pub fn config(prefixes: usize) -> String {
    let mut t = String::from(
        "[[interface]]\nname = \"r0\"\naddress = [\"10.0.1.1/24\", \"fd00:1::1/64\"]\n\n\
         [[interface]]\nname = \"r1\"\naddress = [\"10.0.2.1/24\", \"fd00:2::1/64\"]\n\n\
         [[route]]\nto = \"default\"\nvia = \"10.0.2.254\"\n\n\
         [[route]]\nto = \"default\"\nvia = \"fd00:2::fe\"\n",
    );
    for i in 0..prefixes {
        let (a, l) = prefix_v4(i);
        t.push_str(&format!(
            "\n[[route]]\nto = \"{a}/{l}\"\nvia = \"{}\"\n",
            GATEWAYS_V4[i % 4]
        ));
        let (a, l) = prefix_v6(i);
        t.push_str(&format!(
            "\n[[route]]\nto = \"{a}/{l}\"\nvia = \"{}\"\n",
            GATEWAYS_V6[i % 4]
        ));
    }
    t
}

/// The bench's snapshot: the ports and routes of [`config`], built
/// directly from route specs (`Router::build`, what
/// `Router::from_appliance` calls after parsing) — parsing and validating
/// 20 000 routes of TOML takes seconds, which would only slow the bench
/// down. `tests::config_and_specs_agree` checks both give the same FIB.
pub fn snapshot(prefixes: usize) -> Snapshot {
    let net = |s: &str| -> IpNet { s.parse().expect("bench address") };
    let ports = vec![
        route::Port {
            name: "r0".into(),
            addresses: vec![net("10.0.1.1/24"), net("fd00:1::1/64")],
            line: 1,
        },
        route::Port {
            name: "r1".into(),
            addresses: vec![net("10.0.2.1/24"), net("fd00:2::1/64")],
            line: 5,
        },
    ];
    let gw = |s: &str| -> Option<IpAddr> { Some(s.parse().expect("bench gateway")) };
    let mut routes = vec![
        StaticRoute::unicast(net("0.0.0.0/0"), gw("10.0.2.254"), None, 9),
        StaticRoute::unicast(net("::/0"), gw("fd00:2::fe"), None, 13),
    ];
    for i in 0..prefixes {
        let (a, l) = prefix_v4(i);
        let to = IpNet::V4(Ipv4Net::new(a, l).expect("prefix"));
        routes.push(StaticRoute::unicast(
            to,
            gw(GATEWAYS_V4[i % 4]),
            None,
            17 + 8 * i,
        ));
        let (a, l) = prefix_v6(i);
        let to = IpNet::V6(Ipv6Net::new(a, l).expect("prefix"));
        routes.push(StaticRoute::unicast(
            to,
            gw(GATEWAYS_V6[i % 4]),
            None,
            21 + 8 * i,
        ));
    }
    let router = Router::build(&ports, &routes, &[]).expect("bench routes build");
    let confs = ports
        .iter()
        .map(|p| PortConf::new(&p.name, 1500, &p.addresses))
        .collect();
    Snapshot::new(1, Net::new(router, confs), None)
}

/// A 64-byte (IPv4) or 78-byte (IPv6) UDP frame to `dst` with complete
/// checksums.
fn udp_frame(src: IpAddr, dst: IpAddr) -> Vec<u8> {
    let payload = [0xabu8; 18];
    let mut udp = vec![0u8; 8 + payload.len()];
    udp[0..2].copy_from_slice(&40000u16.to_be_bytes());
    udp[2..4].copy_from_slice(&9u16.to_be_bytes());
    let ulen = udp.len() as u16;
    udp[4..6].copy_from_slice(&ulen.to_be_bytes());
    udp[8..].copy_from_slice(&payload);
    let c = checksum::udp_wire(checksum::transport(&src, &dst, 17, &udp));
    udp[6..8].copy_from_slice(&c.to_be_bytes());
    let (ethertype, ip) = match (src, dst) {
        (IpAddr::V4(s), IpAddr::V4(d)) => {
            let mut ip = vec![0u8; ipv4::HEADER_LEN + udp.len()];
            ipv4::Repr {
                src_addr: s,
                dst_addr: d,
                protocol: IpProtocol::UDP,
                tos: 0,
                ident: 1,
                dont_frag: true,
                ttl: 64,
                payload_len: udp.len(),
            }
            .emit(&mut ipv4::Packet::new_unchecked(&mut ip[..]));
            ip[ipv4::HEADER_LEN..].copy_from_slice(&udp);
            (EtherType::IPV4, ip)
        }
        (IpAddr::V6(s), IpAddr::V6(d)) => {
            let mut ip = vec![0u8; ipv6::HEADER_LEN + udp.len()];
            ipv6::Repr {
                src_addr: s,
                dst_addr: d,
                next_header: IpProtocol::UDP,
                traffic_class: 0,
                flow_label: 0,
                hop_limit: 64,
                payload_len: udp.len() as u16,
            }
            .emit(&mut ipv6::Packet::new_unchecked(&mut ip[..]));
            ip[ipv6::HEADER_LEN..].copy_from_slice(&udp);
            (EtherType::IPV6, ip)
        }
        _ => unreachable!("same family"),
    };
    let mut f = vec![0u8; ethernet::HEADER_LEN + ip.len()];
    ethernet::Repr {
        src_addr: MacAddr([0x52, 0x54, 0, 0, 0, 0x10]),
        dst_addr: port_mac(0),
        ethertype,
    }
    .emit(&mut ethernet::Packet::new_unchecked(&mut f[..]));
    f[ethernet::HEADER_LEN..].copy_from_slice(&ip);
    f
}

/// The benchmark's worker and its traffic.
pub struct ForwardBench {
    worker: Worker<MemPort>,
    /// A whole number of batches of frames; batch `next` is refilled next.
    templates: Vec<Vec<u8>>,
    next: usize,
}

/// How many different destinations the random-destination case
/// ([`ForwardBench::random`]) cycles through.
pub const RANDOM_DESTINATIONS: usize = 4096;

impl ForwardBench {
    /// Builds the configuration (`prefixes` routes per family) and 64
    /// frames of `family` to destinations spread over it.
    pub fn new(prefixes: usize, family: Family) -> ForwardBench {
        // 64 destinations over the whole FIB: a stride coprime with the
        // route count visits routes far apart.
        let n = prefixes.max(1);
        let routes = (0..BATCH).map(|k| ((k * 7919 + 13) % n, 0x42)).collect();
        ForwardBench::with_destinations(prefixes, family, routes)
    }

    /// Like [`ForwardBench::new`], but the frames go to
    /// [`RANDOM_DESTINATIONS`] destinations drawn at random (a fixed seed)
    /// over the FIB's routes and their host parts, 64 different ones per
    /// batch: no run of packets shares a destination or a next-hop memo
    /// by construction of the bench.
    pub fn random(prefixes: usize, family: Family) -> ForwardBench {
        let n = prefixes.max(1);
        // xorshift64*: deterministic, no dependency on a seeded RNG crate.
        let mut x = 0x9e37_79b9_7f4a_7c15u64;
        let mut next = move || {
            x ^= x >> 12;
            x ^= x << 25;
            x ^= x >> 27;
            x.wrapping_mul(0x2545_f491_4f6c_dd1d)
        };
        let routes = (0..RANDOM_DESTINATIONS)
            .map(|_| {
                let r = next();
                ((r as usize) % n, ((r >> 40) as u32 & 0xff) | 1)
            })
            .collect();
        ForwardBench::with_destinations(prefixes, family, routes)
    }

    /// The bench with one frame per `(route index, host part)`; the count
    /// must be a multiple of [`BATCH`].
    fn with_destinations(
        prefixes: usize,
        family: Family,
        routes: Vec<(usize, u32)>,
    ) -> ForwardBench {
        assert!(!routes.is_empty() && routes.len().is_multiple_of(BATCH));
        let snap = snapshot(prefixes);
        let now = Instant::now();
        let pipeline = Pipeline::new(Arc::new(snap), vec![port_mac(0), port_mac(1)], now);
        let mut ports = vec![MemPort::new(4 * BATCH), MemPort::new(4 * BATCH)];
        for p in &mut ports {
            p.set_recycle(true);
        }
        let mut worker = Worker::new(Umem::new(1024, 2048), ports, pipeline);
        for (i, gw) in GATEWAYS_V4.iter().chain(GATEWAYS_V6.iter()).enumerate() {
            worker.pipeline.add_permanent_neighbour(
                &mut worker.umem,
                PortId(1),
                gw.parse().unwrap(),
                MacAddr([0x52, 0x54, 0, 0, 1, i as u8]),
                now,
            );
        }
        let templates = routes
            .into_iter()
            .map(|(i, host)| match family {
                Family::V4 => {
                    let (a, _) = prefix_v4(i);
                    let dst = Ipv4Addr::from(u32::from(a) | host);
                    udp_frame("10.0.1.10".parse().unwrap(), dst.into())
                }
                Family::V6 => {
                    let (a, _) = prefix_v6(i);
                    let dst = Ipv6Addr::from(u128::from(a) | u128::from(host));
                    udp_frame("fd00:1::10".parse().unwrap(), dst.into())
                }
            })
            .collect();
        ForwardBench {
            worker,
            templates,
            next: 0,
        }
    }

    /// Copies the next batch of 64 templates into fresh chunks and queues
    /// them on `r0` (the "NIC" side of the loop).
    #[inline(never)]
    pub fn refill(&mut self) {
        let w = &mut self.worker;
        let batches = self.templates.len() / BATCH;
        let first = (self.next % batches) * BATCH;
        for t in &self.templates[first..first + BATCH] {
            let Some(mut d) = w.umem.alloc() else {
                break;
            };
            w.umem.set_len(&mut d, t.len());
            w.umem.bytes_mut(d).copy_from_slice(t);
            if !w.ports[0].inject_desc(d) {
                w.umem.free(d);
            }
        }
        self.next += 1;
    }

    /// The refill alone, its chunks freed again: what [`ForwardBench::refill`]
    /// costs (to subtract from the loop).
    #[inline(never)]
    pub fn refill_only(&mut self) {
        let w = &mut self.worker;
        let batches = self.templates.len() / BATCH;
        let first = (self.next % batches) * BATCH;
        self.next += 1;
        for t in &self.templates[first..first + BATCH] {
            let Some(mut d) = w.umem.alloc() else {
                break;
            };
            w.umem.set_len(&mut d, t.len());
            w.umem.bytes_mut(d).copy_from_slice(t);
            black_box(&d);
            w.umem.free(d);
        }
    }

    /// One poll-loop turn at `now`: RX, the pipeline, TX, recycling.
    #[inline(never)]
    pub fn turn(&mut self, now: Instant) -> usize {
        self.worker.poll(now)
    }

    /// `batches` batches of refill + one turn each; the time is read once
    /// per turn, as a worker does. Returns frames forwarded.
    #[inline(never)]
    pub fn run_batches(&mut self, batches: usize) -> u64 {
        let before = self.forwarded();
        for _ in 0..batches {
            self.refill();
            let now = Instant::now();
            black_box(self.turn(now));
        }
        self.forwarded() - before
    }

    /// Frames transmitted so far.
    pub fn forwarded(&self) -> u64 {
        self.worker.pipeline.counters().get(Counter::TxFrames)
    }

    /// Every counter that is not zero.
    pub fn counters(&self) -> Vec<(&'static str, u64)> {
        self.worker
            .pipeline
            .counters()
            .iter()
            .filter(|(_, v)| *v != 0)
            .collect()
    }

    /// A forwarded frame, for checking the bench does what it says.
    pub fn sample_output(&mut self) -> Option<Vec<u8>> {
        let w = &mut self.worker;
        w.ports[1].set_recycle(false);
        self.refill();
        let now = Instant::now();
        self.worker.poll(now);
        let w = &mut self.worker;
        let out = w.ports[1].take_sent(&mut w.umem);
        w.ports[1].set_recycle(true);
        w.ports[1].poll(&mut w.umem);
        out.into_iter().next()
    }

    /// Chunks free in the arena (stable across batches: nothing leaks).
    pub fn free_frames(&self) -> usize {
        self.worker.umem.free_count()
    }
}

/// A short check that a forwarded frame is what the bench claims:
/// TTL / hop limit decremented, MAC rewritten to a gateway's.
pub fn check_output(frame: &[u8]) -> Result<(), String> {
    let m = wire::parse(frame).map_err(|e| e.to_string())?;
    if m.ttl != 63 {
        return Err(format!("TTL/hop limit {} (want 63)", m.ttl));
    }
    if frame[6..12] != port_mac(1).0 || frame[0..4] != [0x52, 0x54, 0, 0] {
        return Err("MAC addresses not rewritten".into());
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use sluice_dataplane::route::FlowKey;
    use std::path::Path;

    /// The TOML an operator would write and the specs the bench builds
    /// from route the same.
    #[test]
    fn config_and_specs_agree() {
        let n = 200;
        let a = sluice_config::appliance::parse(&config(n), Path::new("bench.toml")).unwrap();
        let from_toml = Snapshot::from_appliance(&a, 1).unwrap();
        let direct = snapshot(n);
        for i in 0..n {
            for dst in [
                IpAddr::V4(Ipv4Addr::from(u32::from(prefix_v4(i).0) | 0x42)),
                IpAddr::V6(Ipv6Addr::from(u128::from(prefix_v6(i).0) | 0x42)),
                "8.8.8.8".parse().unwrap(),
            ] {
                let key = FlowKey::forward("10.0.1.10".parse().unwrap(), dst, PortId(0));
                let key = if dst.is_ipv6() {
                    FlowKey::forward("fd00:1::10".parse().unwrap(), dst, PortId(0))
                } else {
                    key
                };
                assert_eq!(
                    from_toml.net.router.lookup(&key),
                    direct.net.router.lookup(&key),
                    "{dst}"
                );
            }
        }
    }
}
