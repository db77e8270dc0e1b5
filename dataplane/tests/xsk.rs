//! The AF_XDP port on real veth pairs in network namespaces this test
//! creates: ns A (a0 10.77.0.1) — b0 [router ns: XskPort] b1 — c0 (10.77.0.2)
//! in ns C. A thread in the router namespace forwards frames between b0 and
//! b1 by descriptor (one shared UMEM), checks the frame ledger every turn
//! and that no chunk is handed out twice; UDP datagrams sent from A must all
//! reach a socket in C. Also the setup errors and stale-program cleanup.
//!
//! Needs root, iproute2 and netns: otherwise prints `SKIP: <reason>` and
//! passes. The router thread enters its namespace with setns(2) and mounts
//! that namespace's sysfs and a bpffs in a private mount namespace, as
//! `ip netns exec` does.

use std::fs::File;
use std::io::Write as _;
use std::net::UdpSocket;
use std::process::Command;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use nix::sched::{setns, unshare, CloneFlags};
use sluice_dataplane::io::xsk::{
    detach_stale, open_worker, preflight, xdp_programs, XskConfig, XskError, XskMode, XskPort,
    XSK_PROG_NAME,
};
use sluice_dataplane::io::{Desc, Port, Umem};

fn skip(test: &str, why: &str) {
    let _ = writeln!(std::io::stderr().lock(), "SKIP: {test}: {why}");
    println!("SKIP: {test}: {why}");
}

fn run(args: &[&str]) -> Result<String, String> {
    let out = Command::new(args[0])
        .args(&args[1..])
        .output()
        .map_err(|e| format!("{}: {e}", args.join(" ")))?;
    if !out.status.success() {
        return Err(format!(
            "{}: {}",
            args.join(" "),
            String::from_utf8_lossy(&out.stderr).trim()
        ));
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

/// Namespaces named after the test and the pid; deleted on drop (panics
/// included), which also deletes their veths.
struct Lab {
    ns: Vec<String>,
}

impl Lab {
    fn new(tag: &str, names: &[&str]) -> Result<Lab, String> {
        let pid = std::process::id();
        let mut lab = Lab { ns: Vec::new() };
        for n in names {
            let name = format!("slx{tag}{n}{pid}");
            run(&["ip", "netns", "add", &name])?;
            lab.ns.push(name);
        }
        Ok(lab)
    }

    fn ns(&self, i: usize) -> &str {
        &self.ns[i]
    }

    /// `ip -n NS args...`
    fn ip(&self, i: usize, args: &[&str]) -> Result<String, String> {
        let mut v = vec!["ip", "-n", self.ns(i)];
        v.extend_from_slice(args);
        run(&v)
    }

    fn exec(&self, i: usize, args: &[&str]) -> Result<String, String> {
        let mut v = vec!["ip", "netns", "exec", self.ns(i)];
        v.extend_from_slice(args);
        run(&v)
    }

    /// A veth pair `a` in ns `i` — `b` in ns `j` with `queues` queues.
    fn veth(&self, i: usize, a: &str, j: usize, b: &str, queues: u32) -> Result<(), String> {
        let q = queues.to_string();
        run(&[
            "ip",
            "link",
            "add",
            "name",
            a,
            "numtxqueues",
            &q,
            "numrxqueues",
            &q,
            "netns",
            self.ns(i),
            "type",
            "veth",
            "peer",
            "name",
            b,
            "numtxqueues",
            &q,
            "numrxqueues",
            &q,
            "netns",
            self.ns(j),
        ])?;
        Ok(())
    }

    fn mac(&self, i: usize, dev: &str) -> Result<String, String> {
        let out = self.ip(i, &["-br", "link", "show", "dev", dev])?;
        out.split_whitespace()
            .nth(2)
            .map(str::to_string)
            .ok_or_else(|| format!("no MAC for {dev}: {out}"))
    }
}

impl Drop for Lab {
    fn drop(&mut self) {
        for n in &self.ns {
            let _ = run(&["ip", "netns", "del", n]);
        }
    }
}

/// Moves the calling thread into namespace `ns`; with `mounts`, into a
/// private mount namespace with that netns's sysfs and a bpffs.
fn enter(ns: &str, mounts: bool) -> Result<(), String> {
    let f = File::open(format!("/run/netns/{ns}")).map_err(|e| format!("open netns {ns}: {e}"))?;
    setns(&f, CloneFlags::CLONE_NEWNET).map_err(|e| format!("setns {ns}: {e}"))?;
    if mounts {
        unshare(CloneFlags::CLONE_NEWNS).map_err(|e| format!("unshare mount ns: {e}"))?;
        run(&["mount", "--make-rslave", "/"])?;
        run(&["mount", "-t", "sysfs", "sysfs", "/sys"])?;
        run(&["mount", "-t", "bpf", "bpf", "/sys/fs/bpf"])?;
    }
    Ok(())
}

/// Root, netns, veth: `Err(reason)` to skip.
fn can_run() -> Result<(), String> {
    if !nix::unistd::geteuid().is_root() {
        return Err("needs root".into());
    }
    run(&["ip", "-V"]).map(|_| ())
}

/// Every chunk is in one place: free list, a fill ring, a TX ring, or
/// `held` by the forwarder.
fn ledger(umem: &Umem, ports: &[XskPort], held: usize) -> (usize, usize) {
    let rings: usize = ports
        .iter()
        .map(|p| p.fill_outstanding() + p.tx_outstanding())
        .sum();
    (umem.free_count() + rings + held, umem.frames())
}

/// The forwarding lab: A(a0) — b0 [R] b1 — c0(C).
fn forwarding_lab(tag: &str) -> Result<Lab, String> {
    let lab = Lab::new(tag, &["a", "r", "c"])?;
    lab.veth(0, "a0", 1, "b0", 1)?;
    lab.veth(1, "b1", 2, "c0", 1)?;
    lab.ip(0, &["addr", "add", "10.77.0.1/24", "dev", "a0"])?;
    lab.ip(2, &["addr", "add", "10.77.0.2/24", "dev", "c0"])?;
    for (i, d) in [(0, "a0"), (1, "b0"), (1, "b1"), (2, "c0")] {
        lab.ip(i, &["link", "set", "dev", d, "up"])?;
    }
    lab.exec(0, &["ethtool", "-K", "a0", "tx", "off"])?;
    lab.exec(2, &["ethtool", "-K", "c0", "tx", "off"])?;
    let (ma, mc) = (lab.mac(0, "a0")?, lab.mac(2, "c0")?);
    lab.ip(
        0,
        &[
            "neigh",
            "replace",
            "10.77.0.2",
            "lladdr",
            &mc,
            "dev",
            "a0",
            "nud",
            "permanent",
        ],
    )?;
    lab.ip(
        2,
        &[
            "neigh",
            "replace",
            "10.77.0.1",
            "lladdr",
            &ma,
            "dev",
            "c0",
            "nud",
            "permanent",
        ],
    )?;
    Ok(lab)
}

/// What the forwarder saw.
#[derive(Debug, Default)]
struct Forwarded {
    rx: u64,
    tx: u64,
    dropped: u64,
    turns: u64,
    tx_kicks: u64,
    head_moves: u64,
    programs_after_drop: usize,
    stats: Vec<String>,
}

/// Forwards b0 <-> b1 until `stop`, checking the ledger every turn. With
/// `shift`, every frame from b0 has its start moved (adjust_head there and
/// back with a copy), exercising the head-move path.
fn forwarder(
    ns: String,
    stop: Arc<AtomicBool>,
    ready: Arc<AtomicBool>,
    shift: bool,
    frames: u32,
) -> Result<Forwarded, String> {
    enter(&ns, true)?;
    for d in ["b0", "b1"] {
        detach_stale(d).map_err(|e| e.to_string())?;
        preflight(d, 1).map_err(|e| e.to_string())?;
    }
    let cfg = XskConfig {
        frames,
        ring_size: 1024,
        ..XskConfig::default()
    };
    let (mut umem, mut ports) = open_worker(&["b0", "b1"], 0, &cfg).map_err(|e| e.to_string())?;
    for d in ["b0", "b1"] {
        let progs = xdp_programs(d).map_err(|e| e.to_string())?;
        assert!(
            progs.iter().any(|p| p.name == XSK_PROG_NAME),
            "{d}: {progs:?}"
        );
    }
    let frames = umem.frames();
    let mut owned = vec![false; frames];
    let mut buf = [Desc::default(); 64];
    let mut f = Forwarded::default();
    ready.store(true, Ordering::Release);
    let mut quiet_since: Option<Instant> = None;
    loop {
        let mut moved = 0;
        for i in 0..2 {
            let n = ports[i].rx(&mut umem, &mut buf);
            for d in &mut buf[..n] {
                let c = (umem.base(*d) / u64::from(umem.frame_size())) as usize;
                assert!(!owned[c], "chunk {c} handed out twice");
                owned[c] = true;
                if shift && i == 0 {
                    // Move the start 14 bytes back and copy the frame there,
                    // as a pipeline prepending a header would.
                    let old = *d;
                    assert!(umem.adjust_head(d, -14));
                    umem.copy(old, 0, *d, 0, old.len as usize);
                    assert!(umem.set_len(d, old.len as usize));
                }
            }
            let (held, total) = ledger(&umem, &ports, n);
            assert_eq!(held, total, "ledger with {n} frames in hand");
            f.rx += n as u64;
            moved += n;
            let t = ports[1 - i].tx(&mut umem, &buf[..n]);
            for d in &buf[..n] {
                owned[(umem.base(*d) / u64::from(umem.frame_size())) as usize] = false;
            }
            for d in &buf[t..n] {
                umem.free(*d);
                f.dropped += 1;
            }
            f.tx += t as u64;
        }
        for p in &mut ports {
            p.poll(&mut umem);
        }
        let (sum, total) = ledger(&umem, &ports, 0);
        assert_eq!(sum, total, "ledger between turns");
        f.turns += 1;
        if moved == 0 && stop.load(Ordering::Acquire) {
            let outstanding: usize = ports.iter().map(XskPort::tx_outstanding).sum();
            let since = *quiet_since.get_or_insert_with(Instant::now);
            if outstanding == 0 || since.elapsed() > Duration::from_secs(2) {
                break;
            }
        } else {
            quiet_since = None;
        }
        if moved == 0 {
            std::thread::sleep(Duration::from_micros(50));
        }
    }
    for p in &ports {
        let s = p.stats();
        f.stats
            .push(format!("{}: {s:?} mode {:?}", p.ifname(), p.mode()));
        f.tx_kicks += s.tx_kicks;
        f.head_moves += s.head_moves;
        assert_eq!(s.kernel_rx_invalid + s.kernel_tx_invalid, 0, "{s:?}");
        assert_eq!(p.tx_outstanding(), 0, "{}: TX never completed", p.ifname());
    }
    let (sum, total) = ledger(&umem, &ports, 0);
    assert_eq!(sum, total);
    drop(ports);
    drop(umem);
    f.programs_after_drop = xdp_programs("b0").map_err(|e| e.to_string())?.len()
        + xdp_programs("b1").map_err(|e| e.to_string())?.len();
    Ok(f)
}

/// How the test drives the lab.
#[derive(Clone, Copy)]
struct Load {
    count: u32,
    /// Head-move path on every frame from b0.
    shift: bool,
    /// Sleep between bursts of 16 (lossless); `false`: as fast as the
    /// sender goes, with a small UMEM, so rings run dry and the kernel drops.
    paced: bool,
    frames: u32,
}

fn forward_udp(tag: &str, load: Load) {
    let Load {
        count,
        shift,
        paced,
        frames,
    } = load;
    let test = format!("xsk forward ({tag})");
    if let Err(why) = can_run() {
        return skip(&test, &why);
    }
    let lab = match forwarding_lab(tag) {
        Ok(l) => l,
        Err(why) => return skip(&test, &format!("cannot build the lab: {why}")),
    };
    let stop = Arc::new(AtomicBool::new(false));
    let ready = Arc::new(AtomicBool::new(false));
    let fwd = {
        let (ns, stop, ready) = (lab.ns(1).to_string(), stop.clone(), ready.clone());
        std::thread::spawn(move || forwarder(ns, stop, ready, shift, frames))
    };
    let rcv = {
        let ns = lab.ns(2).to_string();
        std::thread::spawn(move || -> Result<u32, String> {
            enter(&ns, false)?;
            let s = UdpSocket::bind("10.77.0.2:7777").map_err(|e| e.to_string())?;
            nix::sys::socket::setsockopt(&s, nix::sys::socket::sockopt::RcvBuf, &(4 << 20))
                .map_err(|e| e.to_string())?;
            s.set_read_timeout(Some(Duration::from_secs(3)))
                .map_err(|e| e.to_string())?;
            let mut got = 0;
            let mut b = [0u8; 2048];
            while got < count {
                match s.recv(&mut b) {
                    Ok(n) => {
                        assert_eq!(n, 200);
                        assert!(b[..n].iter().all(|&x| x == 0x5a));
                        got += 1;
                    }
                    Err(_) => break,
                }
            }
            Ok(got)
        })
    };
    let t0 = Instant::now();
    while !ready.load(Ordering::Acquire) {
        if fwd.is_finished() || t0.elapsed() > Duration::from_secs(10) {
            break;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    if !ready.load(Ordering::Acquire) {
        stop.store(true, Ordering::Release);
        let r = fwd.join().expect("forwarder panicked");
        panic!("forwarder did not start: {r:?}");
    }
    // Let the receiver bind.
    std::thread::sleep(Duration::from_millis(200));
    let snd = {
        let ns = lab.ns(0).to_string();
        std::thread::spawn(move || -> Result<(), String> {
            enter(&ns, false)?;
            let s = UdpSocket::bind("10.77.0.1:0").map_err(|e| e.to_string())?;
            let payload = [0x5au8; 200];
            for i in 0..count {
                s.send_to(&payload, "10.77.0.2:7777")
                    .map_err(|e| e.to_string())?;
                if paced && i % 16 == 15 {
                    std::thread::sleep(Duration::from_micros(500));
                }
            }
            Ok(())
        })
    };
    snd.join().expect("sender panicked").expect("sender");
    let got = rcv.join().expect("receiver panicked").expect("receiver");
    stop.store(true, Ordering::Release);
    let f = fwd.join().expect("forwarder panicked").expect("forwarder");
    println!("{test}: sent {count}, received {got}, forwarder {f:?}");
    if !paced {
        // Losses are the point here; the ledger (checked every turn) is
        // the assertion. Whatever reached C went through the port.
        assert!(u64::from(got) <= f.tx && got > 0, "{f:?}");
        assert_eq!(f.programs_after_drop, 0, "XDP programs left after drop");
        return;
    }
    assert_eq!(got, count, "datagrams lost: {f:?}");
    assert!(
        f.rx >= u64::from(count) && f.tx >= u64::from(count),
        "{f:?}"
    );
    assert_eq!(f.dropped, 0, "{f:?}");
    assert!(f.tx_kicks > 0, "copy mode needs TX kicks: {f:?}");
    assert!(
        f.tx_kicks <= 2 * f.turns + f.tx / 32 + 2,
        "more TX kicks than one per port per turn plus one per 32 frames sent: {f:?}"
    );
    if shift {
        assert!(f.head_moves >= u64::from(count), "{f:?}");
    } else {
        assert_eq!(f.head_moves, 0, "{f:?}");
    }
    assert_eq!(f.programs_after_drop, 0, "XDP programs left after drop");
    drop(lab);
}

#[test]
fn xsk_forwards_by_descriptor_and_the_ledger_balances() {
    forward_udp(
        "f",
        Load {
            count: 5000,
            shift: false,
            paced: true,
            frames: 4096,
        },
    );
}

#[test]
fn xsk_moves_shifted_frames_back_before_tx() {
    forward_udp(
        "h",
        Load {
            count: 2000,
            shift: true,
            paced: true,
            frames: 4096,
        },
    );
}

/// Unpaced, with 256 chunks for two ports: fill rings run dry, the TX
/// ring fills, the kernel drops; no chunk may be lost or handed out twice.
#[test]
fn xsk_ledger_balances_under_overload() {
    forward_udp(
        "o",
        Load {
            count: 20000,
            shift: false,
            paced: false,
            frames: 256,
        },
    );
}

/// The lab of the error cases: R holds `q0` (2 queues, peer in A) up,
/// `dn` down.
#[test]
fn xsk_setup_errors_and_stale_cleanup() {
    let test = "xsk setup errors";
    if let Err(why) = can_run() {
        return skip(test, &why);
    }
    let lab = match (|| {
        let lab = Lab::new("e", &["a", "r"])?;
        lab.veth(0, "p0", 1, "q0", 2)?;
        lab.veth(0, "p1", 1, "dn", 1)?;
        lab.ip(0, &["link", "set", "dev", "p0", "up"])?;
        lab.ip(1, &["link", "set", "dev", "q0", "up"])?;
        Ok::<Lab, String>(lab)
    })() {
        Ok(l) => l,
        Err(why) => return skip(test, &format!("cannot build the lab: {why}")),
    };
    // A foreign XDP program, if clang can build one.
    let dir = std::env::temp_dir().join(format!("slx-xdp-{}", std::process::id()));
    let _ = std::fs::create_dir_all(&dir);
    let src = dir.join("pass.c");
    let obj = dir.join("pass.o");
    std::fs::write(
        &src,
        "__attribute__((section(\"xdp\"), used)) int foreign_pass(void *ctx) { return 2; }\n\
         char _license[] __attribute__((section(\"license\"), used)) = \"GPL\";\n",
    )
    .unwrap();
    let have_obj = run(&[
        "clang",
        "-O2",
        "-target",
        "bpf",
        "-c",
        src.to_str().unwrap(),
        "-o",
        obj.to_str().unwrap(),
    ])
    .is_ok();
    let ns = lab.ns(1).to_string();
    let obj_s = obj.to_str().unwrap().to_string();
    let r = std::thread::spawn(move || -> Result<(), String> {
        enter(&ns, true)?;
        let e = preflight("nosuch0", 1).unwrap_err();
        assert!(matches!(e, XskError::NoSuchInterface { .. }), "{e}");
        assert!(e.to_string().contains("nosuch0"), "{e}");
        let e = preflight("dn", 1).unwrap_err();
        assert!(matches!(e, XskError::Down { .. }), "{e}");
        assert!(e.to_string().contains("ip link set dev dn up"), "{e}");
        let e = preflight("q0", 3).unwrap_err();
        assert!(
            matches!(
                e,
                XskError::TooFewQueues {
                    have: 2,
                    need: 3,
                    ..
                }
            ),
            "{e}"
        );
        let info = preflight("q0", 2).map_err(|e| e.to_string())?;
        assert_eq!(info.queues, 2);
        assert_eq!(info.mtu, 1500);
        // Queue 1 of a two-queue veth.
        let cfg = XskConfig {
            frames: 1024,
            ring_size: 256,
            ..XskConfig::default()
        };
        let (umem, ports) = open_worker(&["q0"], 1, &cfg).map_err(|e| e.to_string())?;
        assert_eq!(ports[0].queue(), 1);
        assert!(!ports[0].mode().zerocopy, "veth has no zero-copy");
        assert!(ports[0].fd().is_some());
        // A killed run: the sockets never close, the program stays.
        std::mem::forget((umem, ports));
        let progs = xdp_programs("q0").map_err(|e| e.to_string())?;
        assert!(progs.iter().any(|p| p.name == XSK_PROG_NAME), "{progs:?}");
        assert!(detach_stale("q0").map_err(|e| e.to_string())?);
        assert_eq!(xdp_programs("q0").map_err(|e| e.to_string())?, vec![]);
        assert!(!detach_stale("q0").map_err(|e| e.to_string())?);
        // The interface is usable again.
        let (umem, ports) = open_worker(&["q0"], 0, &cfg).map_err(|e| e.to_string())?;
        drop((umem, ports));
        assert_eq!(xdp_programs("q0").map_err(|e| e.to_string())?, vec![]);
        // No native XDP on a bridge: generic mode, one warning.
        run(&["ip", "link", "add", "dm", "type", "bridge"])?;
        run(&["ip", "link", "set", "dev", "dm", "up"])?;
        let (umem, ports) = open_worker(&["dm"], 0, &cfg).map_err(|e| e.to_string())?;
        assert_eq!(
            ports[0].mode(),
            XskMode {
                native: false,
                zerocopy: false
            }
        );
        drop((umem, ports));
        // Forced generic mode on a veth that has native XDP.
        let forced = XskConfig {
            force_generic: true,
            force_copy: true,
            ..cfg
        };
        // (Queue 1 is still held by the "killed" sockets above.)
        let (umem, ports) = open_worker(&["q0"], 0, &forced).map_err(|e| e.to_string())?;
        assert!(!ports[0].mode().native);
        drop((umem, ports));
        let e = open_worker(&["q0"], 2, &cfg).unwrap_err();
        assert!(matches!(e, XskError::TooFewQueues { need: 3, .. }), "{e}");
        if have_obj {
            run(&[
                "ip",
                "link",
                "set",
                "dev",
                "q0",
                "xdpgeneric",
                "obj",
                &obj_s,
                "sec",
                "xdp",
            ])?;
            let e = preflight("q0", 1).unwrap_err();
            assert!(
                matches!(&e, XskError::ForeignProgram { name, .. } if name == "foreign_pass"),
                "{e}"
            );
            let e = detach_stale("q0").unwrap_err();
            assert!(matches!(e, XskError::ForeignProgram { .. }), "{e}");
            run(&["ip", "link", "set", "dev", "q0", "xdpgeneric", "off"])?;
        } else {
            println!("SKIP: foreign XDP program case: clang cannot build a BPF object");
        }
        Ok(())
    })
    .join();
    let _ = std::fs::remove_dir_all(&dir);
    r.expect("router thread panicked").expect("router thread");
    drop(lab);
}

#[test]
fn not_root_is_a_clear_error() {
    if nix::unistd::geteuid().is_root() {
        return skip(
            "xsk not root",
            "runs as root: the not-root error cannot show",
        );
    }
    let e = open_worker(&["lo"], 0, &XskConfig::default()).unwrap_err();
    assert!(matches!(e, XskError::NotRoot), "{e}");
    assert!(e.to_string().contains("root"));
}

/// IFF_ALLMULTI of `dev` (the namespace's sysfs is mounted).
fn allmulti(dev: &str) -> Result<bool, String> {
    let f = std::fs::read_to_string(format!("/sys/class/net/{dev}/flags"))
        .map_err(|e| format!("{dev} flags: {e}"))?;
    let f =
        u32::from_str_radix(f.trim().trim_start_matches("0x"), 16).map_err(|e| e.to_string())?;
    Ok(f & 0x200 != 0)
}

#[test]
fn ports_turn_allmulticast_on_while_open_and_back_off_after() {
    let test = "xsk allmulticast";
    if let Err(why) = can_run() {
        return skip(test, &why);
    }
    let lab = match (|| {
        let lab = Lab::new("m", &["a", "r"])?;
        lab.veth(0, "p0", 1, "m0", 2)?;
        lab.veth(0, "p1", 1, "m1", 1)?;
        for (i, d) in [(0, "p0"), (0, "p1"), (1, "m0"), (1, "m1")] {
            lab.ip(i, &["link", "set", "dev", d, "up"])?;
        }
        // The operator's own setting on m1: it must stay.
        lab.ip(1, &["link", "set", "dev", "m1", "allmulticast", "on"])?;
        Ok::<Lab, String>(lab)
    })() {
        Ok(l) => l,
        Err(why) => return skip(test, &format!("cannot build the lab: {why}")),
    };
    let ns = lab.ns(1).to_string();
    let r = std::thread::spawn(move || -> Result<(), String> {
        enter(&ns, true)?;
        let cfg = XskConfig {
            frames: 1024,
            ring_size: 256,
            ..XskConfig::default()
        };
        assert!(!allmulti("m0")? && allmulti("m1")?);
        // Two workers, queues 0 and 1 of m0: on while either is open.
        let w0 = open_worker(&["m0", "m1"], 0, &cfg).map_err(|e| e.to_string())?;
        assert!(allmulti("m0")? && allmulti("m1")?);
        let w1 = open_worker(&["m0"], 1, &cfg).map_err(|e| e.to_string())?;
        drop(w0);
        assert!(allmulti("m0")?, "still open on queue 1");
        drop(w1);
        assert!(!allmulti("m0")?, "the last socket put it back");
        assert!(allmulti("m1")?, "the operator's allmulticast stays");
        // An interface created again under the same name is a new one.
        let w = open_worker(&["m0"], 0, &cfg).map_err(|e| e.to_string())?;
        assert!(allmulti("m0")?);
        run(&["ip", "link", "del", "m0"])?;
        run(&[
            "ip",
            "link",
            "add",
            "m0",
            "numtxqueues",
            "2",
            "numrxqueues",
            "2",
            "type",
            "veth",
            "peer",
            "name",
            "p9",
        ])?;
        run(&["ip", "link", "set", "dev", "m0", "up"])?;
        run(&["ip", "link", "set", "dev", "p9", "up"])?;
        drop(w);
        assert!(!allmulti("m0")?, "the new m0 was never touched");
        let w = open_worker(&["m0"], 0, &cfg).map_err(|e| e.to_string())?;
        assert!(allmulti("m0")?);
        drop(w);
        assert!(!allmulti("m0")?);
        Ok(())
    })
    .join();
    r.expect("router thread panicked").expect("router thread");
    drop(lab);
}
