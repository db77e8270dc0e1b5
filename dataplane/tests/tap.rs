//! The TAP to the host kernel, for real: each test makes a network
//! namespace of its own (`sluice-tap-<pid>-<n>`, deleted by a guard even
//! when the test fails), enters it on a thread of its own, creates the TAP
//! there and sets it up as the daemon does. Needs root and
//! `/dev/net/tun`; otherwise each test prints `SKIP: <reason>` and passes.

mod common;

use std::fs::File;
use std::io::{Read, Write as _};
use std::net::{IpAddr, TcpListener};
use std::os::fd::AsFd;
use std::path::Path;
use std::process::Command;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use common::*;
use sluice_dataplane::io::tap::{HostPlan, Tap, TapQueue};
use sluice_dataplane::wire::{self, checksum, ipv4, EtherType, IpProtocol};

const LAN: &str = r#"
[[interface]]
name = "lan"
address = ["10.0.1.1/24", "2001:db8:1::1/64"]
"#;

/// Prints `SKIP: ...` past the harness's capture.
fn skip(test: &str, why: &str) {
    let _ = writeln!(std::io::stderr().lock(), "SKIP: {test}: {why}");
}

/// Why these tests cannot run here, if they cannot.
fn unable() -> Option<String> {
    if !nix::unistd::geteuid().is_root() {
        return Some("needs root (CAP_NET_ADMIN) to create namespaces and TAPs".into());
    }
    if !Path::new("/dev/net/tun").exists() {
        return Some("no /dev/net/tun".into());
    }
    if Command::new("ip").arg("-V").output().is_err() {
        return Some("no ip (iproute2)".into());
    }
    None
}

static SEQ: AtomicUsize = AtomicUsize::new(0);

/// A network namespace, deleted on drop.
struct Netns(String);

impl Netns {
    fn new() -> Netns {
        let name = format!(
            "sluice-tap-{}-{}",
            std::process::id(),
            SEQ.fetch_add(1, Ordering::Relaxed)
        );
        let out = Command::new("ip")
            .args(["netns", "add", &name])
            .output()
            .unwrap();
        assert!(out.status.success(), "ip netns add {name}: {out:?}");
        Netns(name)
    }

    /// Runs `f` on a thread inside the namespace (its TAPs, sockets and
    /// the `ip` commands it starts live there); a panic in `f` is the
    /// caller's after the namespace is gone.
    fn run<F: FnOnce() + Send + 'static>(self, f: F) {
        let path = format!("/run/netns/{}", self.0);
        let r = std::thread::spawn(move || {
            let ns = File::open(&path).unwrap();
            nix::sched::setns(ns.as_fd(), nix::sched::CloneFlags::CLONE_NEWNET).unwrap();
            let out = Command::new("ip")
                .args(["link", "set", "lo", "up"])
                .output()
                .unwrap();
            assert!(out.status.success());
            f()
        })
        .join();
        drop(self);
        if let Err(e) = r {
            std::panic::resume_unwind(e);
        }
    }
}

impl Drop for Netns {
    fn drop(&mut self) {
        let _ = Command::new("ip")
            .args(["netns", "delete", &self.0])
            .output();
    }
}

fn appliance() -> sluice_config::appliance::Appliance {
    sluice_config::appliance::parse(LAN, Path::new("t.toml")).unwrap()
}

/// The TAP of `lan`, one queue, set up as the daemon does.
fn lan_tap() -> TapQueue {
    let mut q = Tap::open_queues("sl-lan", 1).unwrap();
    HostPlan::interface(&appliance().interfaces[0], rmac(0))
        .unwrap()
        .apply()
        .unwrap();
    let fwd = std::fs::read_to_string("/proc/sys/net/ipv4/conf/sl-lan/forwarding").unwrap();
    assert_eq!(fwd.trim(), "0");
    q.pop().unwrap()
}

/// Reads frames from the TAP for up to `wait` until `want` says one is it.
fn read_until(
    q: &mut TapQueue,
    wait: Duration,
    mut want: impl FnMut(&[u8]) -> bool,
) -> (Option<Vec<u8>>, Vec<Vec<u8>>) {
    let end = Instant::now() + wait;
    let mut others = Vec::new();
    let mut buf = vec![0u8; 2048];
    while Instant::now() < end {
        match q.read(&mut buf).unwrap() {
            Some(n) if want(&buf[..n]) => return (Some(buf[..n].to_vec()), others),
            Some(n) => others.push(buf[..n].to_vec()),
            None => std::thread::sleep(Duration::from_millis(2)),
        }
    }
    (None, others)
}

#[test]
fn the_host_answers_a_ping_into_the_tap_with_its_own_mac_as_destination() {
    if let Some(why) = unable() {
        return skip("tap ping", &why);
    }
    Netns::new().run(|| {
        let mut q = lan_tap();
        assert_eq!(q.name(), "sl-lan");
        let link = Command::new("ip")
            .args(["-d", "link", "show", "sl-lan"])
            .output()
            .unwrap();
        let link = String::from_utf8_lossy(&link.stdout).to_string();
        assert!(
            link.contains("NOARP") && link.contains("02:00:00:00:01:00"),
            "{link}"
        );
        assert!(link.contains("multi_queue"), "{link}");
        let ping = V4::echo("10.0.1.2", "10.0.1.1", 7, 1, b"sluice").frame(rmac(0), hmac(2));
        assert!(q.write(&ping).unwrap());
        let (reply, others) = read_until(&mut q, Duration::from_secs(3), |f| {
            wire::parse(f).is_ok_and(|m| m.ip_version == 4 && m.protocol == IpProtocol::ICMP)
        });
        let reply = reply.unwrap_or_else(|| panic!("no echo reply; the host wrote {others:?}"));
        // NOARP: the host's neighbour entry is the device's own address,
        // not the sender's MAC: sluice resolves the real one.
        assert_eq!(macs_of(&reply), (rmac(0), rmac(0), EtherType::IPV4));
        let ip4 = ipv4::Packet::new_checked(&reply[14..]).unwrap();
        assert_eq!(
            (ip4.src_addr(), ip4.dst_addr()),
            (v4("10.0.1.1"), v4("10.0.1.2"))
        );
        // Complete checksums: no offload on the TAP.
        assert_v4_checksums(&reply);
        // Never ARP on a NOARP device.
        assert!(
            others.iter().all(|f| macs_of(f).2 != EtherType::ARP),
            "{others:?}"
        );
    });
}

/// A TCP segment with a complete checksum.
fn tcp(src: &str, dst: &str, sport: u16, dport: u16, seq: u32, ack: u32, flags: u8) -> V4 {
    let mut v = V4::tcp_syn(src, dst, sport, dport);
    v.l4[4..8].copy_from_slice(&seq.to_be_bytes());
    v.l4[8..12].copy_from_slice(&ack.to_be_bytes());
    v.l4[13] = flags;
    v.l4[16..18].fill(0);
    let c = checksum::transport(&ip(src), &ip(dst), 6, &v.l4);
    v.l4[16..18].copy_from_slice(&c.to_be_bytes());
    v
}

/// (sport, dport, seq, ack, flags, payload) of a TCP frame, after checking
/// its checksum is complete.
fn tcp_fields(frame: &[u8]) -> Option<(u16, u16, u32, u32, u8, Vec<u8>)> {
    let ip4 = ipv4::Packet::new_checked(frame.get(14..)?).ok()?;
    if ip4.protocol() != IpProtocol::TCP {
        return None;
    }
    let t = ip4.payload();
    let sum = checksum::transport(
        &IpAddr::V4(ip4.src_addr()),
        &IpAddr::V4(ip4.dst_addr()),
        6,
        t,
    );
    assert_eq!(sum, 0, "TCP checksum of a frame from the host");
    let off = usize::from(t[12] >> 4) * 4;
    Some((
        u16::from_be_bytes([t[0], t[1]]),
        u16::from_be_bytes([t[2], t[3]]),
        u32::from_be_bytes([t[4], t[5], t[6], t[7]]),
        u32::from_be_bytes([t[8], t[9], t[10], t[11]]),
        t[13],
        t[off..].to_vec(),
    ))
}

/// Polls the worker until a frame leaves `lan` that `want` takes.
fn poll_until(lab: &mut Lab, wait: Duration, mut want: impl FnMut(&[u8]) -> bool) -> Vec<u8> {
    let end = Instant::now() + wait;
    let mut seen = Vec::new();
    while Instant::now() < end {
        lab.now = Instant::now();
        let now = lab.now;
        lab.w.poll(now);
        for f in lab.recv("lan") {
            if want(&f) {
                return f;
            }
            seen.push(f);
        }
        std::thread::sleep(Duration::from_millis(1));
    }
    panic!(
        "nothing came out of lan; other frames {seen:?}; counters {:?}",
        lab.counters()
    );
}

#[test]
fn a_client_on_the_wire_reaches_a_host_tcp_listener_through_the_worker() {
    if let Some(why) = unable() {
        return skip("tap tcp", &why);
    }
    Netns::new().run(|| {
        let q = lan_tap();
        let listener = TcpListener::bind("10.0.1.1:7777").unwrap();
        listener.set_nonblocking(true).unwrap();
        let mut lab = Lab::with_neighbours(LAN, &[("lan", "10.0.1.2", hmac(2))]);
        lab.w.set_taps(vec![Some(q)]);
        assert_eq!(lab.w.wait_fds().count(), 1);

        // SYN from the wire → INPUT → punt → the TAP → the host's
        // listener answers → read from the TAP → OUTPUT → out of lan.
        let syn = tcp(
            "10.0.1.2",
            "10.0.1.1",
            50000,
            7777,
            1000,
            0,
            wire::tcp::flags::SYN,
        );
        lab.inject("lan", &syn.frame(rmac(0), hmac(2)));
        let synack = poll_until(&mut lab, Duration::from_secs(3), |f| {
            tcp_fields(f).is_some_and(|t| t.0 == 7777)
        });
        assert_eq!(macs_of(&synack), (hmac(2), rmac(0), EtherType::IPV4));
        let ip4 = ipv4::Packet::new_checked(&synack[14..]).unwrap();
        assert_eq!(
            (ip4.src_addr(), ip4.dst_addr(), ip4.ttl()),
            (v4("10.0.1.1"), v4("10.0.1.2"), 64)
        );
        let (_, dport, seq, ack, flags, _) = tcp_fields(&synack).unwrap();
        assert_eq!((dport, ack), (50000, 1001));
        assert_eq!(flags, wire::tcp::flags::SYN | wire::tcp::flags::ACK);

        // ACK, then data: the host accepts and answers.
        let a = wire::tcp::flags::ACK;
        let ack_seg = tcp("10.0.1.2", "10.0.1.1", 50000, 7777, 1001, seq + 1, a);
        lab.inject("lan", &ack_seg.frame(rmac(0), hmac(2)));
        let end = Instant::now() + Duration::from_secs(3);
        let mut conn = loop {
            lab.now = Instant::now();
            let now = lab.now;
            lab.w.poll(now);
            match listener.accept() {
                Ok((c, peer)) => {
                    assert_eq!(peer.to_string(), "10.0.1.2:50000");
                    break c;
                }
                Err(_) if Instant::now() < end => std::thread::sleep(Duration::from_millis(1)),
                Err(e) => panic!("no connection accepted: {e}; {:?}", lab.counters()),
            }
        };
        conn.write_all(b"hello from the host").unwrap();
        let data = poll_until(&mut lab, Duration::from_secs(3), |f| {
            tcp_fields(f).is_some_and(|t| t.0 == 7777 && !t.5.is_empty())
        });
        assert_eq!(tcp_fields(&data).unwrap().5, b"hello from the host");
        let mut buf = [0u8; 1];
        conn.set_nonblocking(true).unwrap();
        assert!(conn.read(&mut buf).is_err()); // nothing sent to it yet

        let c = lab.counters();
        let get = |n| c.by_name(n).unwrap();
        assert!(get("local.tap_tx") >= 2, "{c:?}");
        assert_eq!(get("local.tap_tx"), get("local.punted"));
        assert!(get("local.host_rx") >= 2, "{c:?}");
        assert_eq!(get("local.tap_full") + get("local.tap_error"), 0, "{c:?}");
        lab.assert_balanced();
    });
}
