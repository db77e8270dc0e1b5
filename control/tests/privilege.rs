//! Least privilege (issue 16, part 5), end to end in the lab: what the
//! running daemon keeps of root's powers, and who may talk to it.
//!
//! Needs root and network namespaces; otherwise each test prints `SKIP:`
//! and passes.

mod common;

use std::os::unix::fs::PermissionsExt;
use std::process::Command;

use common::*;

/// CAP_NET_ADMIN (12), CAP_NET_RAW (13), CAP_SYS_ADMIN (21).
const KEPT: u64 = 1 << 12 | 1 << 13 | 1 << 21;

/// `Cap*` lines of a `/proc/PID[/task/TID]/status`, by name.
fn caps(status: &str) -> Vec<(String, u64)> {
    status
        .lines()
        .filter_map(|l| l.strip_prefix("Cap"))
        .filter_map(|l| {
            let (k, v) = l.split_once(':')?;
            Some((k.to_string(), u64::from_str_radix(v.trim(), 16).ok()?))
        })
        .collect()
}

/// The running daemon keeps CAP_NET_ADMIN, CAP_NET_RAW and CAP_SYS_ADMIN
/// in its effective, permitted and bounding sets, nothing
/// inheritable or ambient — in every thread (workers and control threads
/// alike) — and with only those it still does what running asks: it
/// forwards, an apply moves addresses on its TAPs, a deleted and
/// re-created interface's port reopens, and its exit removes its XDP
/// programs and TAPs.
#[test]
fn the_running_daemon_keeps_only_what_it_needs() {
    if skip() {
        return;
    }
    let mut lab = Lab::up(2);
    let pid = lab.daemon.as_ref().unwrap().id();
    let comm = std::fs::read_to_string(format!("/proc/{pid}/comm")).unwrap();
    assert_eq!(comm.trim(), "sluice", "ip netns exec runs sluice in place");
    let mut threads = 0;
    for t in std::fs::read_dir(format!("/proc/{pid}/task")).unwrap() {
        let status = std::fs::read_to_string(t.unwrap().path().join("status")).unwrap();
        let c = caps(&status);
        let get = |k: &str| c.iter().find(|(n, _)| n == k).map(|(_, v)| *v);
        assert_eq!(get("Eff"), Some(KEPT), "{status}");
        assert_eq!(get("Prm"), Some(KEPT), "{status}");
        assert_eq!(get("Bnd"), Some(KEPT), "{status}");
        assert_eq!(get("Inh"), Some(0), "{status}");
        assert_eq!(get("Amb"), Some(0), "{status}");
        threads += 1;
    }
    assert!(threads >= 4, "main, 2 workers, API, log: {threads}");
    assert!(lab.log_text().contains("capabilities: kept CAP_NET_ADMIN"));

    ping(&lab.lan, "198.51.100.10").expect("forwarding with the reduced capabilities");
    // An apply that changes the LAN address moves it on the TAP (netlink,
    // CAP_NET_ADMIN).
    let moved = lab.dir.join("moved.toml");
    std::fs::write(
        &moved,
        std::fs::read_to_string(lab.config()).unwrap().replace(
            "address = [\"10.0.1.1/24\"]",
            "address = [\"10.0.1.1/24\", \"10.0.1.9/24\"]",
        ),
    )
    .unwrap();
    let (code, out, err) = ctl(&["apply", "--config", moved.to_str().unwrap()]);
    assert_eq!(code, Some(0), "{out}{err}");
    let addrs = lab.rtr.ip(&["-4", "addr", "show", "dev", "sl-r0"]).unwrap();
    assert!(addrs.contains("10.0.1.9/24"), "{addrs}");
    // A port reopened (a new AF_XDP socket and XDP program: NET_RAW, BPF).
    lab.rtr.ip(&["link", "del", "r2"]).unwrap();
    wait_for("r2 gone", || {
        lab.log_text().contains("r2: the interface is gone")
    });
    lab.add_link("r2", 2);
    // Every worker reopens its socket on r2 at once; a failed attempt is
    // retried after a second (`links::RETRY`), which the 10 s wait
    // allows. What matters here is that the reduced capabilities suffice.
    wait_for("r2's port reopened", || {
        let log = lab.log_text();
        log.contains("r2: port reopened") || log.contains("not permitted")
    });
    assert!(
        lab.log_text().contains("r2: port reopened"),
        "{}",
        lab.log_text()
    );
    let (st, _) = lab.stop();
    assert!(st.success(), "{}", lab.log_text());
    assert_eq!(
        lab.leftovers(),
        "",
        "the exit cleans up with the reduced capabilities"
    );
}

/// The control socket refuses a non-root client, tested with a real
/// unprivileged user (`nobody`, through `setpriv`): at the socket's mode
/// (0600) first, then — the socket made world-writable to reach it — at
/// the daemon's SO_PEERCRED check, which answers without reading the
/// request; each time one clear line, exit 1, and the daemon unaffected.
#[test]
fn the_control_socket_refuses_non_root_peers() {
    if skip() {
        return;
    }
    let mut lab = Lab::up(1);
    let sock = lab.dir.join("sluice.sock");
    let as_nobody = || {
        let out = Command::new("setpriv")
            .args(["--reuid=65534", "--regid=65534", "--clear-groups"])
            .arg(env!("CARGO_BIN_EXE_sluice"))
            .args(["history", "--socket"])
            .arg(&sock)
            .output()
            .unwrap();
        (
            out.status.code(),
            String::from_utf8_lossy(&out.stdout).into_owned(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    };
    let mode = std::fs::metadata(&sock).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o600);
    let (code, out, err) = as_nobody();
    assert_eq!(code, Some(1), "{out}{err}");
    assert!(out.is_empty(), "{out}");
    assert!(
        err.contains("permission denied") && err.contains("root only"),
        "{err}"
    );
    assert_eq!(err.lines().count(), 1, "{err}");

    std::fs::set_permissions(&sock, std::fs::Permissions::from_mode(0o666)).unwrap();
    let (code, out, err) = as_nobody();
    assert_eq!(code, Some(1), "{out}{err}");
    assert!(
        err.contains("permission denied") && err.contains("uid 65534"),
        "the daemon's own refusal names the peer's uid: {err}"
    );
    // Root still gets its answer.
    let (code, out, err) = ctl(&["history", "--socket", sock.to_str().unwrap()]);
    assert_eq!(code, Some(0), "{out}{err}");
    let (st, _) = lab.stop();
    assert!(st.success(), "{}", lab.log_text());
}

/// The capability names of the unit's `CapabilityBoundingSet=`
/// (`control/debian/sluice.service`), as `setpriv` spells them
/// (`net_admin`).
fn unit_bounding_set() -> Vec<String> {
    let unit = std::fs::read_to_string(
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("debian/sluice.service"),
    )
    .unwrap();
    let line = unit
        .lines()
        .find_map(|l| l.strip_prefix("CapabilityBoundingSet="))
        .expect("the unit sets CapabilityBoundingSet");
    line.split_whitespace()
        .map(|c| c.trim_start_matches("CAP_").to_lowercase())
        .collect()
}

/// The systemd unit's `CapabilityBoundingSet` is enough, and no more than
/// enough: `sluice run` started with only those capabilities in its
/// bounding set (through `setpriv`, as systemd would) starts, drops to
/// the four it keeps (reducing the bounding set needs CAP_SETPCAP, which
/// the unit grants for that), forwards, applies, and stops leaving
/// nothing behind; started without any one of them it is refused (exit
/// 1, an error line, nothing left behind).
#[test]
fn the_units_capability_bounding_set_is_what_it_needs() {
    if skip() {
        return;
    }
    let caps = unit_bounding_set();
    assert!(caps.contains(&"setpcap".to_string()), "{caps:?}");
    let only = |caps: &[String]| {
        let mut set = String::from("-all");
        for c in caps {
            set.push_str(&format!(",+{c}"));
        }
        vec![
            "setpriv".to_string(),
            format!("--bounding-set={set}"),
            format!("--inh-caps={set}"),
        ]
    };
    let mut lab = Lab::topology(1, "");
    for missing in &caps {
        let fewer: Vec<String> = caps.iter().filter(|c| *c != missing).cloned().collect();
        lab.wrap = only(&fewer);
        let mut child = lab
            .sluice_run(&lab.config())
            .stdin(std::process::Stdio::null())
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        let t = std::time::Instant::now();
        while child.try_wait().unwrap().is_none() {
            if t.elapsed() > std::time::Duration::from_secs(5) {
                let _ = child.kill();
                let _ = child.wait();
                panic!("sluice run started without {missing}: the unit need not grant it");
            }
            std::thread::sleep(std::time::Duration::from_millis(20));
        }
        let out = child.wait_with_output().unwrap();
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(1), "without {missing}: {err}");
        assert!(err.contains("sluice: error: "), "without {missing}: {err}");
        assert_eq!(lab.leftovers(), "", "without {missing}");
    }
    lab.wrap = only(&caps);
    lab.start();
    let pid = lab.daemon.as_ref().unwrap().id();
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    let c = caps_of(&status);
    assert_eq!(c, (KEPT, KEPT, KEPT), "{status}");
    ping(&lab.lan, "198.51.100.10").expect("forwarding");
    let (code, out, err) = ctl(&["apply", "--config", lab.config().to_str().unwrap()]);
    assert_eq!(code, Some(0), "{out}{err}");
    let (st, _) = lab.stop();
    assert!(st.success(), "{}", lab.log_text());
    assert_eq!(lab.leftovers(), "");
}

/// (CapEff, CapPrm, CapBnd) of a `/proc/PID/status`.
fn caps_of(status: &str) -> (u64, u64, u64) {
    let c = caps(status);
    let get = |k: &str| c.iter().find(|(n, _)| n == k).map_or(u64::MAX, |(_, v)| *v);
    (get("Eff"), get("Prm"), get("Bnd"))
}
