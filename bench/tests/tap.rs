//! The TAP to the host kernel (`sluice_dataplane::io::tap`), for real:
//! each test makes a namespace with bench's helper ([`Netns`], deleted by
//! its guard even when the test fails), enters it on a thread of its own,
//! creates the TAP there and sets it up as the daemon does
//! ([`HostPlan::interface`]). A worker with an in-memory port stands for
//! the AF_XDP side, so the whole loop — wire → INPUT → punt → TAP → host
//! socket → TAP → OUTPUT → wire — runs without AF_XDP.
//!
//! Needs root and `/dev/net/tun`; otherwise each test prints `SKIP:
//! <reason>` and passes.

use std::fs::File;
use std::io::Write as _;
use std::net::{IpAddr, Ipv4Addr, TcpListener};
use std::os::fd::AsFd;
use std::path::Path;
use std::process::Command;
use std::sync::Arc;
use std::time::{Duration, Instant};

use sluice_bench::frames::{IpFrame, MacAddr, Tcp};
use sluice_bench::netns::Netns;
use sluice_dataplane::io::mem::MemPort;
use sluice_dataplane::io::tap::{HostPlan, Tap, TapQueue};
use sluice_dataplane::io::{PortId, Umem};
use sluice_dataplane::pipeline::{Pipeline, Snapshot};
use sluice_dataplane::wire::{self, checksum, ethernet, icmpv4, ipv4, tcp, EtherType, IpProtocol};
use sluice_dataplane::worker::Worker;

const LAN: &str = r#"
[[interface]]
name = "lan"
address = ["10.0.1.1/24", "2001:db8:1::1/64"]
"#;

const ROUTER: MacAddr = MacAddr([0x02, 0, 0, 0, 0x01, 0x00]);
const CLIENT: MacAddr = MacAddr([0x52, 0x54, 0, 0, 0, 0x02]);

/// Prints `SKIP: ...` past the harness's capture.
fn skip(test: &str, why: &str) {
    let _ = writeln!(std::io::stderr().lock(), "SKIP: {test}: {why}");
}

/// Why these tests cannot run here, if they cannot.
fn unable() -> Option<String> {
    if !nix::unistd::geteuid().is_root() {
        return Some("needs root (CAP_NET_ADMIN) for namespaces and TAPs".into());
    }
    if !Path::new("/dev/net/tun").exists() {
        return Some("no /dev/net/tun".into());
    }
    None
}

/// Runs `f` on a thread inside a fresh namespace (its TAPs, sockets and
/// the `ip` commands it starts live there); a panic in `f` is re-raised
/// after the namespace is deleted.
fn in_netns<F: FnOnce() + Send + 'static>(f: F) {
    let ns = Netns::new().expect("a namespace");
    let path = ns.path();
    let r = std::thread::spawn(move || {
        let file = File::open(&path).unwrap();
        nix::sched::setns(file.as_fd(), nix::sched::CloneFlags::CLONE_NEWNET).unwrap();
        f()
    })
    .join();
    drop(ns);
    if let Err(e) = r {
        std::panic::resume_unwind(e);
    }
}

fn appliance() -> sluice_config::appliance::Appliance {
    sluice_config::appliance::parse(LAN, Path::new("t.toml")).unwrap()
}

/// The TAP of `lan`, one queue, set up as the daemon does.
fn lan_tap() -> TapQueue {
    let mut q = Tap::open_queues("sl-lan", 1).unwrap();
    HostPlan::interface(&appliance().interfaces[0], ROUTER)
        .unwrap()
        .apply()
        .unwrap();
    let fwd = std::fs::read_to_string("/proc/sys/net/ipv4/conf/sl-lan/forwarding").unwrap();
    assert_eq!(fwd.trim(), "0");
    q.pop().unwrap()
}

fn ip_link(dev: &str) -> Option<String> {
    let out = Command::new("ip")
        .args(["-d", "link", "show", dev])
        .output()
        .unwrap();
    out.status
        .success()
        .then(|| String::from_utf8_lossy(&out.stdout).to_string())
}

fn macs_of(f: &[u8]) -> (MacAddr, MacAddr, EtherType) {
    let e = ethernet::Packet::new_checked(f).unwrap();
    (e.dst_addr(), e.src_addr(), e.ethertype())
}

fn v4(s: &str) -> Ipv4Addr {
    s.parse().unwrap()
}

#[test]
fn the_host_answers_a_ping_into_the_tap_with_its_own_mac_as_destination() {
    if let Some(why) = unable() {
        return skip("tap ping", &why);
    }
    in_netns(|| {
        let mut q = lan_tap();
        assert_eq!(q.name(), "sl-lan");
        let link = ip_link("sl-lan").unwrap();
        assert!(
            link.contains("NOARP") && link.contains("02:00:00:00:01:00"),
            "{link}"
        );
        assert!(link.contains("multi_queue"), "{link}");
        let ping =
            IpFrame::new(CLIENT, ROUTER, v4("10.0.1.2"), v4("10.0.1.1")).icmp_echo(7, 1, b"sl");
        assert!(q.write(&ping).unwrap());
        let end = Instant::now() + Duration::from_secs(3);
        let mut others = Vec::new();
        let mut buf = vec![0u8; 2048];
        let reply = loop {
            assert!(
                Instant::now() < end,
                "no echo reply; the host wrote {others:?}"
            );
            match q.read(&mut buf).unwrap() {
                Some(n) => {
                    let f = buf[..n].to_vec();
                    match wire::parse(&f) {
                        Ok(m) if m.ip_version == 4 && m.protocol == IpProtocol::ICMP => break f,
                        _ => others.push(f),
                    }
                }
                None => std::thread::sleep(Duration::from_millis(2)),
            }
        };
        // NOARP: the host's neighbour entry holds the device's own
        // address, not the sender's MAC; sluice resolves the real one.
        assert_eq!(macs_of(&reply), (ROUTER, ROUTER, EtherType::IPV4));
        let ip4 = ipv4::Packet::new_checked(&reply[14..]).unwrap();
        assert_eq!(
            (ip4.src_addr(), ip4.dst_addr()),
            (v4("10.0.1.1"), v4("10.0.1.2"))
        );
        // Complete checksums: no offload on the TAP.
        assert!(ip4.verify_checksum());
        let icmp = icmpv4::Packet::new_checked(ip4.payload()).unwrap();
        assert!(icmp.verify_checksum());
        // IPv6 alike (`ndisc_constructor`): no neighbour solicitation,
        // the device's own address as destination.
        let ping6 = IpFrame::new(
            CLIENT,
            ROUTER,
            "2001:db8:1::2".parse::<std::net::Ipv6Addr>().unwrap(),
            "2001:db8:1::1".parse::<std::net::Ipv6Addr>().unwrap(),
        )
        .icmp_echo(7, 1, b"sl");
        assert!(q.write(&ping6).unwrap());
        let end = Instant::now() + Duration::from_secs(3);
        let reply6 = loop {
            assert!(
                Instant::now() < end,
                "no echo6 reply; the host wrote {others:?}"
            );
            match q.read(&mut buf).unwrap() {
                Some(n) => {
                    let f = buf[..n].to_vec();
                    match wire::parse(&f) {
                        Ok(m) if m.protocol == IpProtocol::ICMPV6 && m.icmp_type == 129 => break f,
                        _ => others.push(f),
                    }
                }
                None => std::thread::sleep(Duration::from_millis(2)),
            }
        };
        assert_eq!(macs_of(&reply6), (ROUTER, ROUTER, EtherType::IPV6));
        // Never ARP or neighbour solicitations on a NOARP device.
        for f in &others {
            assert_ne!(macs_of(f).2, EtherType::ARP, "{others:?}");
            if let Ok(m) = wire::parse(f) {
                assert!(
                    !(m.protocol == IpProtocol::ICMPV6 && m.icmp_type == 135),
                    "{others:?}"
                );
            }
        }
    });
}

#[test]
fn queues_share_one_device_that_goes_with_the_last_fd_and_cut_frames_are_errors() {
    if let Some(why) = unable() {
        return skip("tap queues", &why);
    }
    in_netns(|| {
        let qs = Tap::open_queues("sl-mq", 3).unwrap();
        assert_eq!(qs.len(), 3);
        assert!(ip_link("sl-mq").is_some());
        let fds: std::collections::HashSet<_> = qs.iter().map(|q| q.raw_fd()).collect();
        assert_eq!(fds.len(), 3);
        // Nothing to read: never blocks.
        let mut q = Tap::open_queues("sl-mq", 1).unwrap().pop().unwrap();
        assert_eq!(q.read(&mut [0u8; 2048]).unwrap(), None);
        drop(q);
        drop(qs);
        // Not persistent: the last close removed it (a SIGKILLed daemon
        // leaves nothing).
        let end = Instant::now() + Duration::from_secs(2);
        while ip_link("sl-mq").is_some() && Instant::now() < end {
            std::thread::sleep(Duration::from_millis(10));
        }
        assert!(ip_link("sl-mq").is_none());
        // A frame longer than the buffer is cut by the tun driver: taken
        // for an error, the next read goes on.
        let mut q = lan_tap();
        let big = IpFrame::new(CLIENT, ROUTER, v4("10.0.1.2"), v4("10.0.1.1")).icmp_echo(
            7,
            1,
            &[0u8; 1000],
        );
        assert!(q.write(&big).unwrap());
        let end = Instant::now() + Duration::from_secs(3);
        let e = loop {
            assert!(Instant::now() < end, "no echo reply");
            match q.read(&mut [0u8; 100]) {
                Ok(None) => std::thread::sleep(Duration::from_millis(2)),
                Ok(Some(n)) => panic!("a {n}-byte frame fit in 100 bytes"),
                Err(e) => break e,
            }
        };
        assert_eq!(e.kind(), std::io::ErrorKind::InvalidData);
        assert_eq!(q.read(&mut [0u8; 2048]).unwrap(), None);
        drop(q);
        // A name that does not fit is refused before any syscall.
        let e = Tap::open_queues("sl-abcdefghijklm", 1).unwrap_err();
        assert!(e.to_string().contains("IFNAMSIZ"), "{e}");
    });
}

/// (sport, dport, seq, ack, flags, payload) of a TCP frame, after checking
/// that its checksum is complete.
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

/// One worker, one in-memory port `lan`, the client 10.0.1.2 a permanent
/// neighbour.
fn worker() -> Worker<MemPort> {
    let now = Instant::now();
    let snap = Snapshot::from_appliance(&appliance(), 1).unwrap();
    let pipeline = Pipeline::new(Arc::new(snap), vec![ROUTER], now);
    let mut w = Worker::new(Umem::new(1024, 2048), vec![MemPort::new(256)], pipeline);
    w.pipeline.add_permanent_neighbour(
        &mut w.umem,
        PortId(0),
        "10.0.1.2".parse().unwrap(),
        CLIENT,
        now,
    );
    w
}

/// Polls until a frame leaves `lan` that `want` takes.
fn poll_until(w: &mut Worker<MemPort>, mut want: impl FnMut(&[u8]) -> bool) -> Vec<u8> {
    let end = Instant::now() + Duration::from_secs(3);
    let mut seen = Vec::new();
    while Instant::now() < end {
        w.poll(Instant::now());
        for f in w.ports[0].take_sent(&mut w.umem) {
            if want(&f) {
                return f;
            }
            seen.push(f);
        }
        std::thread::sleep(Duration::from_millis(1));
    }
    panic!(
        "nothing came out of lan; other frames {seen:?}; counters {:?}",
        w.pipeline.counters()
    );
}

#[test]
fn a_client_on_the_wire_reaches_a_host_tcp_listener_through_the_worker() {
    if let Some(why) = unable() {
        return skip("tap tcp", &why);
    }
    in_netns(|| {
        let q = lan_tap();
        let listener = TcpListener::bind("10.0.1.1:7777").unwrap();
        listener.set_nonblocking(true).unwrap();
        let mut w = worker();
        w.set_taps(vec![Some(q)]);
        // The idle poll(2) watches the TAP queue (the mem port has no fd).
        let mut fds = Vec::new();
        w.wait_fds(&mut fds);
        assert_eq!(fds, vec![w.taps()[0].as_ref().unwrap().raw_fd()]);
        let client = IpFrame::new(CLIENT, ROUTER, v4("10.0.1.2"), v4("10.0.1.1"));

        // SYN from the wire → INPUT → punt → the TAP → the host's
        // listener answers → read from the TAP → OUTPUT → out of lan.
        let syn = client.tcp(&Tcp::new(50000, 7777, tcp::flags::SYN));
        assert!(w.ports[0].inject(&mut w.umem, &syn));
        let synack = poll_until(&mut w, |f| tcp_fields(f).is_some_and(|t| t.0 == 7777));
        assert_eq!(macs_of(&synack), (CLIENT, ROUTER, EtherType::IPV4));
        let ip4 = ipv4::Packet::new_checked(&synack[14..]).unwrap();
        assert_eq!(
            (ip4.src_addr(), ip4.dst_addr(), ip4.ttl()),
            (v4("10.0.1.1"), v4("10.0.1.2"), 64)
        );
        let (_, dport, seq, ack, flags, _) = tcp_fields(&synack).unwrap();
        assert_eq!((dport, ack), (50000, 1001));
        assert_eq!(flags, tcp::flags::SYN | tcp::flags::ACK);

        // The ACK: the host accepts; its data comes out of lan.
        let ack_seg = client.tcp(
            &Tcp::new(50000, 7777, tcp::flags::ACK)
                .seq(1001)
                .ack(seq.wrapping_add(1)),
        );
        assert!(w.ports[0].inject(&mut w.umem, &ack_seg));
        let end = Instant::now() + Duration::from_secs(3);
        let mut conn = loop {
            w.poll(Instant::now());
            match listener.accept() {
                Ok((c, peer)) => {
                    assert_eq!(peer.to_string(), "10.0.1.2:50000");
                    break c;
                }
                Err(_) if Instant::now() < end => std::thread::sleep(Duration::from_millis(1)),
                Err(e) => panic!("nothing accepted: {e}; {:?}", w.pipeline.counters()),
            }
        };
        conn.write_all(b"hello from the host").unwrap();
        let data = poll_until(&mut w, |f| {
            tcp_fields(f).is_some_and(|t| t.0 == 7777 && !t.5.is_empty())
        });
        assert_eq!(tcp_fields(&data).unwrap().5, b"hello from the host");

        let c = w.pipeline.counters();
        let get = |n| c.by_name(n).unwrap();
        assert!(get("local.tap_tx") >= 2, "{c:?}");
        assert_eq!(get("local.tap_tx"), get("local.punted"));
        assert!(get("local.host_rx") >= 2, "{c:?}");
        assert_eq!(get("local.tap_full") + get("local.tap_error"), 0, "{c:?}");
        assert!(c.ledger().balanced(), "{:?}", c.ledger());
    });
}

/// Sets the flag when dropped: a failing assertion still stops the
/// worker thread (after its current sleep).
struct StopOnDrop<'a>(&'a std::sync::atomic::AtomicBool);

impl Drop for StopOnDrop<'_> {
    fn drop(&mut self) {
        self.0.store(true, std::sync::atomic::Ordering::Relaxed);
    }
}

#[test]
fn a_sleeping_worker_wakes_when_the_host_writes_into_its_tap() {
    if let Some(why) = unable() {
        return skip("tap wakeup", &why);
    }
    in_netns(|| {
        use sluice_dataplane::worker::RunParams;
        use std::sync::atomic::AtomicBool;
        let q = lan_tap();
        let mut w = worker();
        w.set_taps(vec![Some(q)]);
        let counters = w.counter_block();
        let stop = AtomicBool::new(false);
        // Sleeps of 5 s: only the TAP's fd can wake it sooner.
        let params = RunParams {
            busy_poll: false,
            idle_turns: 64,
            sleep_ms: 5_000,
        };
        let connect = || {
            let _ = std::net::TcpStream::connect_timeout(
                &"10.0.1.2:80".parse().unwrap(),
                Duration::from_millis(20),
            );
        };
        std::thread::scope(|s| {
            let runner = s.spawn(|| w.run(&stop, &params));
            let _stop = StopOnDrop(&stop);
            // 64 empty turns take far less: it sleeps by then.
            std::thread::sleep(Duration::from_millis(300));
            connect();
            // The SYN goes out in the turn after the wakeup, and the
            // counters are published within the 64 empty turns after.
            let end = Instant::now() + Duration::from_millis(2_500);
            while counters.read().by_name("tx.frames") == Some(0) {
                assert!(
                    Instant::now() < end,
                    "the host's SYN did not wake the worker: {:?}",
                    counters.read()
                );
                std::thread::sleep(Duration::from_millis(5));
            }
            drop(_stop);
            // Wake it once more so it sees `stop` at once.
            connect();
            runner.join().unwrap();
        });
        let sent = w.ports[0].take_sent(&mut w.umem);
        let syn = sent
            .iter()
            .find(|f| tcp_fields(f).is_some_and(|t| t.1 == 80))
            .expect("the host's SYN left by lan");
        assert_eq!(macs_of(syn), (CLIENT, ROUTER, EtherType::IPV4));
        let (_, _, _, _, flags, _) = tcp_fields(syn).unwrap();
        assert_eq!(flags, tcp::flags::SYN);
        let c = w.pipeline.counters();
        assert!(c.by_name("worker.sleeps").unwrap() >= 1, "{c:?}");
        assert!(c.by_name("local.host_rx").unwrap() >= 1, "{c:?}");
    });
}
