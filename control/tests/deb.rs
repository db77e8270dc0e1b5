//! The Debian package (`scripts/deb`, README "Debian package").
//!
//! `the_package_holds_what_it_should`: the .deb's control fields, files,
//! modes, conffiles, maintainer scripts and man page (checked against the
//! binary's own `--help`).
//!
//! `the_package_installs_runs_and_purges_in_a_debian_12_root`: a minimal
//! Debian 12 root made by mmdebstrap (cached under the target dir); in it,
//! chrooted: `apt-get install ./sluice_*.deb` (not enabled, not started),
//! `sluice --version`, `sluice check` of the shipped config,
//! `systemd-analyze verify` of the unit, `systemctl enable`. Then the root
//! is booted by systemd-nspawn in a test namespace holding the example
//! config's interfaces (lan0, wan0, wan1, mgmt0 as veths): sluice.service
//! starts at boot and attaches, `systemctl reload` applies, `stop` detaches,
//! `start` attaches again, a reinstall (an upgrade's scripts) restarts it
//! but not when the config fails `sluice check`, `apt-get remove` stops it
//! and keeps the
//! conffiles, `apt-get purge` leaves nothing of sluice. Without
//! systemd-nspawn (or with SLUICE_DEB_CHROOT=1) the unit's ExecStart,
//! ExecReload and SIGTERM are run chrooted in that namespace instead.
//!
//! The package is built by `scripts/deb --binary` from the binary cargo
//! built for this test; `SLUICE_DEB=path/to/sluice_*.deb` tests a given
//! package (e.g. the release one) instead.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use sluice_bench::netns::Netns;

const VERSION: &str = env!("CARGO_PKG_VERSION");
/// What the cached root holds beyond mmdebstrap's `apt` variant: systemd
/// (for `systemd-analyze`, `systemctl enable`, deb-systemd-helper) and the
/// package's dependencies, so that installing needs no package lists.
const INCLUDE: &str = "systemd,systemd-sysv,init-system-helpers,iproute2,libelf1,zlib1g";
const CONFFILES: [&str; 3] = [
    "/etc/sluice/rules.v4",
    "/etc/sluice/sets.save",
    "/etc/sluice/sluice.toml",
];

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

fn tmp() -> PathBuf {
    PathBuf::from(env!("CARGO_TARGET_TMPDIR"))
}

fn have(tool: &str) -> bool {
    Command::new("sh")
        .args(["-c", &format!("command -v {tool}")])
        .stdout(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

fn out(o: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

/// `o`, asserted successful (`what` names it otherwise).
fn succeeded(what: &str, o: Output) -> Output {
    assert!(o.status.success(), "{what}: {}\n{}", o.status, out(&o));
    o
}

/// Runs `argv`, asserts it succeeds, returns stdout.
fn run(argv: &[&str]) -> String {
    let o = Command::new(argv[0]).args(&argv[1..]).output().unwrap();
    String::from_utf8_lossy(&succeeded(&format!("{argv:?}"), o).stdout).into_owned()
}

/// Missing Debian tools: the reason to skip.
fn skip_tools(tools: &[&str]) -> bool {
    for t in tools {
        if !have(t) {
            eprintln!("SKIP: `{t}` is not installed (scripts/bootstrap installs it on Debian)");
            return true;
        }
    }
    false
}

/// The package under test, built into `dir`.
fn package(dir: &Path) -> PathBuf {
    if let Ok(p) = std::env::var("SLUICE_DEB") {
        return PathBuf::from(p);
    }
    let o = Command::new(repo().join("scripts/deb"))
        .arg("--binary")
        .arg(env!("CARGO_BIN_EXE_sluice"))
        .arg("--out")
        .arg(dir)
        .output()
        .unwrap();
    assert!(o.status.success(), "scripts/deb: {}", out(&o));
    let path = String::from_utf8_lossy(&o.stdout).trim().to_string();
    PathBuf::from(path)
}

/// A directory under the target dir, removed when dropped.
struct TempDir(PathBuf);

impl TempDir {
    fn new(what: &str) -> TempDir {
        let p = tmp().join(format!("{what}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&p);
        std::fs::create_dir_all(&p).unwrap();
        TempDir(p)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

#[test]
fn the_package_holds_what_it_should() {
    if skip_tools(&["dpkg-deb", "dpkg-shlibdeps", "objcopy"]) {
        return;
    }
    let dir = TempDir::new("deb-contents");
    let deb = package(&dir.0);
    let deb = deb.to_str().unwrap();
    let arch = run(&["dpkg", "--print-architecture"]);
    assert!(
        deb.ends_with(&format!("/sluice_{VERSION}_{}.deb", arch.trim())),
        "{deb}"
    );
    let field = |f: &str| run(&["dpkg-deb", "--field", deb, f]).trim().to_string();
    assert_eq!(field("Package"), "sluice");
    assert_eq!(field("Version"), VERSION);
    assert_eq!(field("Architecture"), arch.trim());
    // Depends from dpkg-shlibdeps: the libraries the binary links.
    let depends = field("Depends");
    for d in [
        "libc6 (>= ",
        "libelf1",
        "zlib1g",
        "libgcc-s1",
        "init-system-helpers",
    ] {
        assert!(depends.contains(d), "Depends lacks {d}: {depends}");
    }

    // Debian's own checks: no error or warning (the binary's iptables
    // messages keep iptables' spelling, an info).
    if have("lintian") {
        let o = Command::new("lintian")
            .args([
                "--fail-on",
                "error,warning",
                "--suppress-tags",
                "hardening-no-fortify-functions",
            ])
            .arg(deb)
            .output()
            .unwrap();
        assert!(o.status.success(), "lintian: {}", out(&o));
    } else {
        eprintln!("lintian is not installed: not run (scripts/bootstrap installs it)");
    }

    // Files, modes, owners.
    let listing = run(&["dpkg-deb", "--contents", deb]);
    let mut files = Vec::new();
    for line in listing.lines() {
        let f: Vec<&str> = line.split_whitespace().collect();
        assert_eq!(f[1], "root/root", "{line}");
        if !f[0].starts_with('d') {
            files.push((f[0].to_string(), f[5].trim_start_matches('.').to_string()));
        }
    }
    let mut want = vec![
        ("-rwxr-xr-x", "/usr/sbin/sluice"),
        ("-rw-r--r--", "/lib/systemd/system/sluice.service"),
        ("-rw-r--r--", "/usr/share/man/man8/sluice.8.gz"),
        ("-rw-r--r--", "/usr/share/doc/sluice/README.md.gz"),
        ("-rw-r--r--", "/usr/share/doc/sluice/copyright"),
        ("-rw-r--r--", "/usr/share/doc/sluice/changelog.gz"),
    ];
    want.extend(CONFFILES.iter().map(|c| ("-rw-r--r--", *c)));
    let mut want: Vec<(String, String)> = want
        .into_iter()
        .map(|(m, p)| (m.to_string(), p.to_string()))
        .collect();
    want.sort_by(|a, b| a.1.cmp(&b.1));
    files.sort_by(|a, b| a.1.cmp(&b.1));
    assert_eq!(files, want, "{listing}");

    // Control area: conffiles, maintainer scripts.
    let ctl = dir.0.join("DEBIAN");
    run(&["dpkg-deb", "--control", deb, ctl.to_str().unwrap()]);
    let conffiles = std::fs::read_to_string(ctl.join("conffiles")).unwrap();
    assert_eq!(conffiles.lines().collect::<Vec<_>>(), CONFFILES);
    for s in ["postinst", "prerm", "postrm"] {
        let p = ctl.join(s);
        let mode = std::fs::metadata(&p).unwrap().permissions();
        assert_eq!(
            std::os::unix::fs::PermissionsExt::mode(&mode) & 0o777,
            0o755,
            "{s}"
        );
        run(&["sh", "-n", p.to_str().unwrap()]);
        let text = std::fs::read_to_string(&p).unwrap();
        assert!(
            text.starts_with("#!/bin/sh\n") && text.contains("set -e"),
            "{s}"
        );
    }

    // The unit is the repository's; the man page is the binary's --help.
    let root = dir.0.join("root");
    run(&["dpkg-deb", "--extract", deb, root.to_str().unwrap()]);
    assert_eq!(
        std::fs::read_to_string(root.join("lib/systemd/system/sluice.service")).unwrap(),
        std::fs::read_to_string(repo().join("control/debian/sluice.service")).unwrap()
    );
    let man_gz = root.join("usr/share/man/man8/sluice.8.gz");
    let man = run(&["gzip", "-dc", man_gz.to_str().unwrap()]);
    assert!(man.contains(".TH SLUICE 8 "), "{man}");
    let sluice = root.join("usr/sbin/sluice");
    let sluice = sluice.to_str().unwrap();
    assert_eq!(
        run(&[sluice, "--version"]).trim(),
        format!("sluice {VERSION}")
    );
    let help = run(&[sluice, "--help"]);
    let mut commands = 0;
    for line in help.lines().skip_while(|l| *l != "Commands:").skip(1) {
        let Some(cmd) = line
            .strip_prefix("  ")
            .and_then(|l| l.split_whitespace().next())
        else {
            break;
        };
        if cmd == "help" {
            continue;
        }
        commands += 1;
        assert!(
            man.contains(&format!("\n.SS sluice {cmd}\n")),
            "no section for {cmd}"
        );
        let first = run(&[sluice, cmd, "--help"]);
        let first = first.lines().next().unwrap().replace('\\', "\\e");
        assert!(
            man.contains(&first),
            "{cmd}'s help is not in the man page: {first}"
        );
    }
    assert!(commands >= 10, "{help}");
    if have("groff") {
        std::fs::write(root.join("man.8"), &man).unwrap();
        let o = Command::new("groff")
            .args(["-man", "-Tutf8", "-ww", "-z"])
            .arg(root.join("man.8"))
            .output()
            .unwrap();
        assert!(
            o.status.success() && o.stderr.is_empty(),
            "groff: {}",
            out(&o)
        );
    }
}

/// The cached Debian 12 root tarball, made by mmdebstrap when missing;
/// `Err(reason)` to skip when it cannot be made (no mirror).
fn debian_root_tarball() -> Result<PathBuf, String> {
    // Named by what it holds: a new INCLUDE makes a new root.
    let key = INCLUDE
        .bytes()
        .fold(0u32, |h, b| h.wrapping_mul(31).wrapping_add(u32::from(b)));
    let tar = tmp().join(format!("deb-root-bookworm-{key:08x}.tar"));
    if tar.exists() {
        return Ok(tar);
    }
    let part = tmp().join(format!(
        "deb-root-bookworm-{key:08x}.{}.tar",
        std::process::id()
    ));
    let t = Instant::now();
    let o = Command::new("mmdebstrap")
        .args([
            "--variant=apt",
            "--format=tar",
            "--quiet",
            &format!("--include={INCLUDE}"),
            "bookworm",
        ])
        .arg(&part)
        .output()
        .map_err(|e| format!("mmdebstrap: {e}"))?;
    if !o.status.success() {
        let _ = std::fs::remove_file(&part);
        let text = out(&o);
        let tail: Vec<&str> = text.lines().rev().take(5).collect();
        return Err(format!(
            "mmdebstrap of Debian 12 failed (mirror unreachable?): {}",
            tail.into_iter().rev().collect::<Vec<_>>().join(" | ")
        ));
    }
    std::fs::rename(&part, &tar).unwrap();
    eprintln!(
        "made the Debian 12 root in {:.0?}: {}",
        t.elapsed(),
        tar.display()
    );
    Ok(tar)
}

/// Every path under `root` (relative), but the API file systems.
fn tree(root: &Path) -> BTreeSet<String> {
    let mut set = BTreeSet::new();
    let mut stack = vec![root.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).unwrap() {
            let e = e.unwrap();
            let p = e.path();
            let rel = p.strip_prefix(root).unwrap().to_string_lossy().into_owned();
            if ["proc", "sys", "dev"].contains(&rel.as_str()) {
                continue;
            }
            if e.file_type().unwrap().is_dir() {
                stack.push(p);
            }
            set.insert(rel);
        }
    }
    set
}

/// `argv` run chrooted into `root` in namespace `ns` with /proc, /sys,
/// /dev and bpffs mounted in a private mount namespace (gone with it).
fn in_root(ns: &Netns, root: &Path, argv: &[&str]) -> Command {
    let mut c = Command::new("ip");
    c.args([
        "netns",
        "exec",
        ns.name(),
        "unshare",
        "--mount",
        "--propagation",
        "private",
    ])
    .args(["sh", "-ec"])
    .arg(
        "r=$1; shift; mount -t proc proc \"$r/proc\"; mount --rbind /sys \"$r/sys\"; \
             mount --rbind /dev \"$r/dev\"; mount -t bpf bpf \"$r/sys/fs/bpf\"; \
             exec chroot \"$r\" \"$@\"",
    )
    .arg("sh")
    .arg(root)
    .args(argv);
    c
}

/// `argv` chrooted into `root` (no mounts): apt, dpkg, systemctl enable.
fn chroot(root: &Path, argv: &[&str]) -> Output {
    Command::new("chroot")
        .arg(root)
        .args(argv)
        .env("DEBIAN_FRONTEND", "noninteractive")
        .env("PATH", "/usr/sbin:/usr/bin:/sbin:/bin")
        .output()
        .unwrap()
}

fn chroot_ok(root: &Path, argv: &[&str]) -> String {
    out(&succeeded(&format!("chroot {argv:?}"), chroot(root, argv)))
}

/// The unit's `KEY=` command line, split on blanks (the unit quotes nothing).
fn unit_command(unit: &str, key: &str) -> Vec<String> {
    let line = unit
        .lines()
        .find_map(|l| l.strip_prefix(&format!("{key}=")))
        .unwrap_or_else(|| panic!("no {key}= in the unit"));
    line.split_whitespace().map(str::to_string).collect()
}

/// The daemon: killed if the test fails before stopping it.
struct Daemon(Child);

impl Drop for Daemon {
    fn drop(&mut self) {
        if let Ok(None) = self.0.try_wait() {
            let _ = self.0.kill();
            let _ = self.0.wait();
        }
    }
}

/// The example config's interfaces, as veths in `ns` (peers `p-IF`).
fn example_interfaces() -> Netns {
    let ns = Netns::new().unwrap();
    for i in ["lan0", "wan0", "wan1", "mgmt0"] {
        let peer = format!("p-{i}");
        ns.ip(&["link", "add", i, "type", "veth", "peer", "name", &peer])
            .unwrap();
        ns.ip(&["link", "set", i, "up"]).unwrap();
        ns.ip(&["link", "set", &peer, "up"]).unwrap();
    }
    ns
}

/// Whether sluice is attached in `ns`: its TAPs and XDP programs.
fn attached(ns: &Netns) -> (bool, String) {
    let links = ns.ip(&["-details", "link", "show"]).unwrap();
    let taps = ["sl-lan0", "sl-wan0", "sl-wan1", "sl-mgmt0"]
        .iter()
        .all(|t| links.contains(&format!(": {t}: ")));
    let xdp = links.contains("xdp");
    assert_eq!(taps, xdp, "TAPs without XDP or XDP without TAPs:\n{links}");
    assert!(taps || !links.contains(": sl-"), "some TAPs left:\n{links}");
    (taps, links)
}

/// After `apt-get remove`: the binary gone, the conffiles kept.
fn assert_removed(root: &Path, status: &str) {
    assert!(!root.join("usr/sbin/sluice").exists());
    for c in CONFFILES {
        assert!(root.join(&c[1..]).exists(), "remove must keep {c}");
    }
    assert_eq!(status.trim(), "deinstall ok config-files");
}

/// After `apt-get purge`: nothing of sluice in the tree, and nothing new
/// but apt's, dpkg's and the booted system's own bookkeeping.
fn assert_purged(root: &Path, before: &BTreeSet<String>) {
    let after = tree(root);
    let bookkeeping = [
        "var/log/",
        "var/cache/",
        "var/lib/dpkg/",
        "var/lib/apt/",
        "var/lib/systemd/",
        "run/",
        // Written by systemd-nspawn and the container's systemd at boot.
        "etc/machine-id",
        "etc/localtime",
    ];
    let left: Vec<&String> = after
        .symmetric_difference(before)
        .filter(|p| !bookkeeping.iter().any(|b| p.starts_with(b)))
        .collect();
    assert!(left.is_empty(), "left after purge (or removed): {left:?}");
    let named: Vec<&String> = after
        .iter()
        .filter(|p| p.contains("sluice") && !p.starts_with("var/log/"))
        .collect();
    assert!(named.is_empty(), "left after purge: {named:?}");
}

#[test]
fn the_package_installs_runs_and_purges_in_a_debian_12_root() {
    if let Some(why) = sluice_bench::kernel::skip_reason() {
        eprintln!("SKIP: {why}");
        return;
    }
    let tools = [
        "dpkg-deb",
        "dpkg-shlibdeps",
        "objcopy",
        "mmdebstrap",
        "unshare",
        "chroot",
    ];
    if skip_tools(&tools) {
        return;
    }
    let tar = match debian_root_tarball() {
        Ok(t) => t,
        Err(why) => {
            eprintln!("SKIP: {why}");
            return;
        }
    };
    let dir = TempDir::new("deb-install");
    let deb = package(&dir.0);
    let root = dir.0.join("root");
    std::fs::create_dir_all(&root).unwrap();
    run(&[
        "tar",
        "-C",
        root.to_str().unwrap(),
        "-xf",
        tar.to_str().unwrap(),
    ]);
    let before = tree(&root);
    std::fs::copy(&deb, root.join("var/tmp/sluice.deb")).unwrap();

    // Install: as an edge box would, `apt install ./sluice_*.deb`.
    let log = chroot_ok(&root, &["apt-get", "install", "-y", "/var/tmp/sluice.deb"]);
    assert!(log.contains("installed, not enabled"), "{log}");
    let version = chroot_ok(&root, &["sluice", "--version"]);
    assert_eq!(version.trim(), format!("sluice {VERSION}"));
    let check = chroot_ok(
        &root,
        &["sluice", "check", "--config", "/etc/sluice/sluice.toml"],
    );
    assert!(check.contains("OK: 4 interfaces"), "{check}");
    let wants = root.join("etc/systemd/system/multi-user.target.wants/sluice.service");
    assert!(
        wants.symlink_metadata().is_err(),
        "a fresh install must not enable the unit"
    );
    let unit_path = "/lib/systemd/system/sluice.service";
    let ns = example_interfaces();
    let o = in_root(
        &ns,
        &root,
        &["systemd-analyze", "verify", "--man=no", unit_path],
    )
    .output()
    .unwrap();
    assert!(o.status.success(), "systemd-analyze verify: {}", out(&o));
    // The admin, having edited the config (here: the interfaces exist).
    chroot_ok(&root, &["systemctl", "enable", "sluice.service"]);
    assert!(
        wants.symlink_metadata().is_ok(),
        "systemctl enable made no link"
    );

    if have("systemd-nspawn") && std::env::var_os("SLUICE_DEB_CHROOT").is_none() {
        under_systemd(&ns, &root, &dir.0);
    } else {
        eprintln!("no systemd-nspawn (or SLUICE_DEB_CHROOT): the unit's commands run chrooted");
        let unit = std::fs::read_to_string(root.join(&unit_path[1..])).unwrap();
        unit_commands_chrooted(&ns, &root, &unit, &dir.0);
        chroot_ok(&root, &["apt-get", "remove", "-y", "sluice"]);
        let st = chroot_ok(&root, &["dpkg-query", "-W", "-f", "${Status}", "sluice"]);
        assert_removed(&root, &st);
        chroot_ok(&root, &["apt-get", "purge", "-y", "sluice"]);
    }
    assert!(!chroot(&root, &["dpkg-query", "-W", "sluice"])
        .status
        .success());
    drop(ns);
    std::fs::remove_file(root.join("var/tmp/sluice.deb")).unwrap();
    assert_purged(&root, &before);
}

/// The unit's ExecStart, ExecReload and SIGTERM (`systemctl stop`), run
/// chrooted in `ns` without systemd.
fn unit_commands_chrooted(ns: &Netns, root: &Path, unit: &str, dir: &Path) {
    let start = unit_command(unit, "ExecStart");
    let start: Vec<&str> = start.iter().map(String::as_str).collect();
    let daemon_log = dir.join("daemon.log");
    let logf = std::fs::File::create(&daemon_log).unwrap();
    let mut daemon = Daemon(
        in_root(ns, root, &start)
            .stdin(Stdio::null())
            .stdout(logf.try_clone().unwrap())
            .stderr(logf)
            .spawn()
            .unwrap(),
    );
    let t = Instant::now();
    loop {
        let text = std::fs::read_to_string(&daemon_log).unwrap_or_default();
        if text.contains("] running: ") {
            break;
        }
        if let Ok(Some(st)) = daemon.0.try_wait() {
            panic!("{start:?} exited ({st}):\n{text}");
        }
        assert!(
            t.elapsed() < Duration::from_secs(30),
            "not running after 30 s:\n{text}"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    let (on, links) = attached(ns);
    assert!(on, "not attached:\n{links}");
    let reload = unit_command(unit, "ExecReload");
    let reload: Vec<&str> = reload.iter().map(String::as_str).collect();
    let o = in_root(ns, root, &reload).output().unwrap();
    assert!(o.status.success(), "{reload:?}: {}", out(&o));
    assert!(out(&o).contains("applied generation 2"), "{}", out(&o));
    // `systemctl stop`: SIGTERM, then SIGKILL after TimeoutStopSec=10s.
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(daemon.0.id() as i32),
        nix::sys::signal::Signal::SIGTERM,
    )
    .unwrap();
    let t = Instant::now();
    let status = loop {
        if let Some(st) = daemon.0.try_wait().unwrap() {
            break st;
        }
        assert!(
            t.elapsed() < Duration::from_secs(10),
            "not stopped 10 s after SIGTERM"
        );
        std::thread::sleep(Duration::from_millis(50));
    };
    let text = std::fs::read_to_string(&daemon_log).unwrap();
    assert!(status.success(), "{status}:\n{text}");
    assert!(text.contains("everything attached was removed"), "{text}");
    let (on, links) = attached(ns);
    assert!(!on, "still attached after stop:\n{links}");
}

/// The root booted by systemd-nspawn in `ns`'s network namespace.
struct Container {
    nspawn: Child,
    pid1: i32,
    machine: String,
    root: PathBuf,
}

impl Container {
    /// Boots `root`: the container shares `ns` (nsenter --net, so that its
    /// sysfs shows `ns`'s interfaces) and gets what `sluice run` needs
    /// beyond nspawn's defaults: CAP_NET_ADMIN (TAPs, XDP), CAP_IPC_LOCK
    /// (UMEM), the bpf() system call and the host's bpffs.
    fn boot(ns: &Netns, root: &Path, log: &Path) -> Container {
        let logf = std::fs::File::create(log).unwrap();
        let machine = format!("sluice-deb-{}", std::process::id());
        let mut nspawn = Command::new("nsenter")
            .arg(format!("--net={}", ns.path().display()))
            .args([
                "systemd-nspawn",
                "--quiet",
                "--boot",
                "--register=no",
                "--keep-unit",
            ])
            .arg(format!("--machine={machine}"))
            .args([
                "--capability=CAP_NET_ADMIN,CAP_IPC_LOCK",
                "--system-call-filter=bpf",
            ])
            .args(["--bind=/sys/fs/bpf", "--console=pipe", "-D"])
            .arg(root)
            .stdin(Stdio::null())
            .stdout(logf.try_clone().unwrap())
            .stderr(logf)
            .spawn()
            .unwrap();
        let id = nspawn.id();
        let t = Instant::now();
        let pid1 = loop {
            let children = std::fs::read_to_string(format!("/proc/{id}/task/{id}/children"))
                .unwrap_or_default();
            let systemd = children.split_whitespace().find(|c| {
                std::fs::read_to_string(format!("/proc/{c}/comm"))
                    .is_ok_and(|n| n.trim() == "systemd")
            });
            if let Some(p) = systemd {
                break p.parse().unwrap();
            }
            if let Ok(Some(st)) = nspawn.try_wait() {
                panic!(
                    "systemd-nspawn exited ({st}):\n{}",
                    std::fs::read_to_string(log).unwrap()
                );
            }
            assert!(
                t.elapsed() < Duration::from_secs(30),
                "no systemd in the container after 30 s"
            );
            std::thread::sleep(Duration::from_millis(100));
        };
        let c = Container {
            nspawn,
            pid1,
            machine,
            root: root.to_path_buf(),
        };
        // Up: `running`, or `degraded` (units a container cannot run).
        let t = Instant::now();
        loop {
            let o = c.exec(&["systemctl", "is-system-running", "--wait"]);
            let state = String::from_utf8_lossy(&o.stdout).trim().to_string();
            if state == "running" || state == "degraded" {
                break;
            }
            assert!(
                t.elapsed() < Duration::from_secs(60),
                "container not up: {}",
                out(&o)
            );
            std::thread::sleep(Duration::from_millis(200));
        }
        c
    }

    /// `argv` in the container (its namespaces, a clean environment).
    fn exec(&self, argv: &[&str]) -> Output {
        Command::new("nsenter")
            .args([
                "-t",
                &self.pid1.to_string(),
                "-m",
                "-u",
                "-i",
                "-n",
                "-p",
                "--",
            ])
            .args(["env", "-i", "PATH=/usr/sbin:/usr/bin:/sbin:/bin"])
            .arg("DEBIAN_FRONTEND=noninteractive")
            .args(argv)
            .output()
            .unwrap()
    }

    fn ok(&self, argv: &[&str]) -> String {
        out(&succeeded(
            &format!("in the container: {argv:?}"),
            self.exec(argv),
        ))
    }

    /// The journal of sluice.service in this boot.
    fn journal(&self) -> String {
        self.ok(&[
            "journalctl",
            "-b",
            "-u",
            "sluice.service",
            "--no-pager",
            "-o",
            "cat",
        ])
    }

    /// Waits until the journal holds `n` lines containing `what`.
    fn wait_journal(&self, what: &str, n: usize) {
        let t = Instant::now();
        loop {
            let j = self.journal();
            if j.matches(what).count() >= n {
                return;
            }
            assert!(
                t.elapsed() < Duration::from_secs(30),
                "no {n}×'{what}' in sluice.service's journal after 30 s:\n{j}"
            );
            std::thread::sleep(Duration::from_millis(200));
        }
    }

    fn is_active(&self) -> String {
        let o = self.exec(&["systemctl", "is-active", "sluice.service"]);
        String::from_utf8_lossy(&o.stdout).trim().to_string()
    }

    /// `systemctl poweroff`; the container's end within 30 s.
    fn poweroff(mut self) {
        let _ = self.exec(&["systemctl", "poweroff"]);
        let t = Instant::now();
        while self.nspawn.try_wait().unwrap().is_none() {
            assert!(
                t.elapsed() < Duration::from_secs(30),
                "container still up 30 s after poweroff"
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }
}

impl Drop for Container {
    fn drop(&mut self) {
        if let Ok(None) = self.nspawn.try_wait() {
            // SIGKILL to the container's PID 1 ends its PID namespace.
            let _ = nix::sys::signal::kill(
                nix::unistd::Pid::from_raw(self.pid1),
                nix::sys::signal::Signal::SIGKILL,
            );
            let _ = self.nspawn.kill();
            let _ = self.nspawn.wait();
        }
        // What nspawn leaves in the host's /run when /run is no tmpfs (it
        // refuses to remove it then): its propagation dir and image lock.
        let _ = std::fs::remove_dir(format!("/run/systemd/nspawn/propagate/{}", self.machine));
        if let Ok(m) = std::fs::metadata(&self.root) {
            use std::os::unix::fs::MetadataExt;
            let lock = format!("/run/systemd/nspawn/locks/inode-{}:{}", m.dev(), m.ino());
            let _ = std::fs::remove_file(lock);
        }
    }
}

/// The package under systemd: enabled, it starts at boot; reload, stop,
/// start; `apt-get remove` stops it (prerm), purge cleans up.
fn under_systemd(ns: &Netns, root: &Path, dir: &Path) {
    let c = Container::boot(ns, root, &dir.join("nspawn.log"));
    c.wait_journal("] running: ", 1);
    assert_eq!(c.is_active(), "active");
    let (on, links) = attached(ns);
    assert!(on, "not attached after boot:\n{links}");
    c.ok(&["systemctl", "reload", "sluice.service"]);
    c.wait_journal("applied generation 2", 1);
    c.ok(&["systemctl", "stop", "sluice.service"]);
    assert_eq!(c.is_active(), "inactive", "{}", c.journal());
    assert!(c.journal().contains("everything attached was removed"));
    let (on, links) = attached(ns);
    assert!(!on, "still attached after systemctl stop:\n{links}");
    c.ok(&["systemctl", "start", "sluice.service"]);
    c.wait_journal("] running: ", 2);
    let (on, links) = attached(ns);
    assert!(on, "not attached after systemctl start:\n{links}");
    // An upgrade (here a reinstall: postinst configure OLD-VERSION)
    // restarts the running daemon on the new binary, the config checked...
    let reinstall = [
        "apt-get",
        "install",
        "-y",
        "--reinstall",
        "-o",
        "Dpkg::Options::=--force-confold",
        "/var/tmp/sluice.deb",
    ];
    c.ok(&reinstall);
    c.wait_journal("] running: ", 3);
    assert_eq!(c.is_active(), "active");
    assert!(root
        .join("etc/systemd/system/multi-user.target.wants/sluice.service")
        .symlink_metadata()
        .is_ok());
    // ...and leaves it running when the config no longer passes `sluice check`.
    let rules = root.join("etc/sluice/rules.v4");
    std::fs::write(&rules, "*filter\n-A FORWARD -j NO_SUCH_CHAIN\nCOMMIT\n").unwrap();
    let log = c.ok(&reinstall);
    assert!(log.contains("does not pass 'sluice check'"), "{log}");
    assert_eq!(c.is_active(), "active");
    assert_eq!(
        c.journal().matches("] running: ").count(),
        3,
        "restarted on a bad config"
    );
    // Remove stops the daemon (prerm) and keeps the conffiles.
    c.ok(&["apt-get", "remove", "-y", "sluice"]);
    assert_ne!(c.is_active(), "active");
    c.wait_journal("everything attached was removed", 2);
    let (on, links) = attached(ns);
    assert!(!on, "still attached after apt-get remove:\n{links}");
    let st = c.ok(&["dpkg-query", "-W", "-f", "${Status}", "sluice"]);
    assert_removed(root, &st);
    c.ok(&["apt-get", "purge", "-y", "sluice"]);
    assert!(!root.join("etc/sluice").exists());
    c.poweroff();
}
