//! The TAP devices to the host kernel: one per interface, `sl-<ifname>`,
//! through which frames for the box that the dataplane does not answer
//! itself reach unchanged host services (sshd, a DNS or DHCP server), and
//! through which what those services send comes back into the dataplane's
//! OUTPUT path ([`crate::pipeline::Pipeline::rx_host`]).
//!
//! Owns: opening the device (`/dev/net/tun`, `TUNSETIFF` with `IFF_TAP |
//! IFF_NO_PI | IFF_MULTI_QUEUE`: one queue, one fd, per worker), reading and
//! writing one frame without ever blocking, and the host-side set-up the
//! daemon runs once at start ([`HostPlan`]). Not persistent
//! (no `TUNSETPERSIST`): the device goes when its last queue fd closes, so
//! a daemon killed with SIGKILL leaves nothing behind, and its addresses
//! and routes go with it.
//!
//! ## The design (`Documentation/networking/tuntap.rst`)
//!
//! * The TAP mirrors the interface: its MAC address, MTU and configured
//!   addresses (IPv6 ones `nodad`). The host therefore answers for the
//!   box's own addresses and picks them as sources.
//! * `arp off` (`IFF_NOARP`): the host's neighbour entries on the TAP are
//!   `NUD_NOARP` with the device's own address as link-layer destination
//!   (`arp_constructor`, `ndisc_constructor`), so the host never sends ARP
//!   or neighbour solicitations into the TAP and every unicast frame it
//!   writes carries destination MAC = the TAP's (= the interface's) MAC.
//!   sluice routes each frame again by its own tables and policy rules
//!   and resolves the real neighbour itself; the Ethernet header the host
//!   wrote is only read for its type.
//! * Host forwarding is off on every TAP (`net.ipv4.conf.sl-X.forwarding`,
//!   `net.ipv6.conf.sl-X.forwarding` 0): the host never routes between
//!   TAPs; only sluice forwards. Router advertisements, router
//!   solicitations and DAD are off on the TAP too (`accept_ra`,
//!   `router_solicitations`, `accept_dad` 0). The host keeps its
//!   link-local address; whatever link-layer chatter it still sends (MLD
//!   reports, ...) the dataplane drops and counts (`local.host_l2`).
//!   Observed on the test kernel: in the first 4 s after set-up the host
//!   wrote nothing unasked into the TAP, and no ARP or neighbour
//!   solicitation before answering (`bench/tests/tap.rs`).
//! * Host routes ([`HostPlan::routes`]): each route of the main table and
//!   its default become `ip route replace DST dev sl-<dev>` so a host
//!   service can answer a remote peer; the next hop is irrelevant with
//!   NOARP (sluice routes the packet again on the OUTPUT path). Only the
//!   route's interface matters: it makes the host choose that interface's
//!   address as source.
//! * Multi-queue: each worker has its own queue fd. For frames the host
//!   sends, the tun driver picks the queue by the flow's hash, steered to
//!   the queue that last wrote a frame of that flow (`tun_flow_update` /
//!   `tun_automq_select_queue`; read from the kernel source, not tested
//!   here with several queues): a reply usually reaches the worker that
//!   punted the request, which owns its conntrack entry.
//!
//! Offloads: the device is opened without `IFF_VNET_HDR` and no
//! `TUNSETOFFLOAD`, so the host kernel keeps checksum and segmentation
//! offloads off on it (`tun_net_fix_features`): frames it writes carry
//! complete checksums and are at most MTU + 14 bytes. The worker reads a
//! frame straight into an arena chunk after its headroom (2048 − 256 =
//! 1792 bytes): an MTU above 1777 would have the host's larger frames cut
//! and dropped (`local.tap_error`).
//!
//! A syscall per frame: host traffic is the slow path (management,
//! probes), and the worker bounds how many frames it reads per turn.
//!
//! `unsafe`: only the `TUNSETIFF` ioctl (allowed on that one block);
//! reads and writes go through `std::fs::File` on the non-blocking fd.

use std::fs::{File, OpenOptions};
use std::io::{self, Read, Write};
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, RawFd};
use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;
use std::process::Command;

use ipnet::IpNet;
use sluice_config::appliance::{Appliance, Interface, TABLE_MAIN};

use crate::wire::MacAddr;

/// The prefix of every TAP's name.
pub const PREFIX: &str = "sl-";

/// `IFNAMSIZ`: an interface name is at most 15 bytes and its NUL.
pub const IFNAMSIZ: usize = 16;

/// The character device of the tun driver.
pub const TUN_PATH: &str = "/dev/net/tun";

/// What went wrong with a TAP; every message names the device.
#[derive(Debug, thiserror::Error)]
pub enum TapError {
    /// The TAP name would be longer than 15 bytes (`IFNAMSIZ` 16 with the
    /// NUL): interface names of more than 12 bytes do not fit after `sl-`.
    #[error("TAP {name}: name longer than {max} bytes (IFNAMSIZ is 16 with the NUL; `sl-` leaves 12 bytes for the interface name)", max = IFNAMSIZ - 1)]
    NameTooLong { name: String },
    /// An empty name, or one with `/`, whitespace or NUL.
    #[error("TAP {name:?}: not a valid interface name")]
    BadName { name: String },
    /// `/dev/net/tun` is missing (no tun module, or a container without it).
    #[error("TAP {name}: {TUN_PATH} does not exist (load the tun module: modprobe tun): {source}")]
    NoTunDevice { name: String, source: io::Error },
    /// Not allowed: creating a TAP needs CAP_NET_ADMIN (root).
    #[error("TAP {name}: permission denied ({what}; creating a TAP needs CAP_NET_ADMIN, run as root): {source}")]
    NotPermitted {
        name: String,
        what: &'static str,
        source: io::Error,
    },
    /// Opening `/dev/net/tun` or the `TUNSETIFF` ioctl failed otherwise
    /// (e.g. a non-multi-queue device of that name exists: EINVAL).
    #[error("TAP {name}: {what}: {source}")]
    Io {
        name: String,
        what: &'static str,
        source: io::Error,
    },
    /// A host set-up command failed.
    #[error("TAP {name}: host set-up `{command}` failed: {detail}")]
    Setup {
        name: String,
        command: String,
        detail: String,
    },
}

/// The TAP name for interface `ifname`: `sl-<ifname>`, or
/// [`TapError::NameTooLong`] (no shortening: a name an operator can predict
/// is worth more than one that always fits).
pub fn tap_name(ifname: &str) -> Result<String, TapError> {
    let name = format!("{PREFIX}{ifname}");
    check_name(&name)?;
    Ok(name)
}

fn check_name(name: &str) -> Result<(), TapError> {
    if name.is_empty()
        || name
            .bytes()
            .any(|b| b == b'/' || b == 0 || b.is_ascii_whitespace())
        || name == "."
        || name == ".."
    {
        return Err(TapError::BadName {
            name: name.to_string(),
        });
    }
    if name.len() >= IFNAMSIZ {
        return Err(TapError::NameTooLong {
            name: name.to_string(),
        });
    }
    Ok(())
}

/// A TAP device, opened as queues.
#[derive(Debug)]
pub struct Tap;

/// `struct ifreq` as `TUNSETIFF` reads it: the name, the flags (a `short`
/// at the start of the union), padding to the union's 24 bytes.
#[repr(C)]
struct IfReq {
    name: [u8; IFNAMSIZ],
    flags: libc::c_short,
    _pad: [u8; 22],
}

impl Tap {
    /// Creates (or attaches to) the multi-queue TAP `name` with `n`
    /// queues, each a non-blocking fd: queue `i` for worker `i`. The
    /// device exists while one of the queues is open.
    pub fn open_queues(name: &str, n: usize) -> Result<Vec<TapQueue>, TapError> {
        check_name(name)?;
        (0..n.max(1)).map(|_| TapQueue::open(name)).collect()
    }
}

/// One queue of a TAP: frames the host sends are read here, frames for
/// the host written here. Never blocks.
#[derive(Debug)]
pub struct TapQueue {
    file: File,
    name: String,
}

impl TapQueue {
    fn open(name: &str) -> Result<TapQueue, TapError> {
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .custom_flags(libc::O_NONBLOCK)
            .open(TUN_PATH)
            .map_err(|source| match source.kind() {
                io::ErrorKind::NotFound => TapError::NoTunDevice {
                    name: name.to_string(),
                    source,
                },
                io::ErrorKind::PermissionDenied => TapError::NotPermitted {
                    name: name.to_string(),
                    what: "open /dev/net/tun",
                    source,
                },
                _ => TapError::Io {
                    name: name.to_string(),
                    what: "open /dev/net/tun",
                    source,
                },
            })?;
        let mut req = IfReq {
            name: [0; IFNAMSIZ],
            flags: (libc::IFF_TAP | libc::IFF_NO_PI | libc::IFF_MULTI_QUEUE) as libc::c_short,
            _pad: [0; 22],
        };
        // `check_name` bounds the length to IFNAMSIZ - 1: the NUL stays.
        req.name[..name.len()].copy_from_slice(name.as_bytes());
        // SAFETY: `file` is an open fd of /dev/net/tun; TUNSETIFF reads and
        // writes one `struct ifreq` (40 bytes on Linux: a 16-byte name and
        // a 24-byte union, whose first member here is the `short` flags),
        // which `req` is, laid out `repr(C)` and alive for the call.
        #[allow(unsafe_code)]
        let rc = unsafe {
            libc::ioctl(
                file.as_raw_fd(),
                libc::TUNSETIFF as _,
                &mut req as *mut IfReq,
            )
        };
        if rc < 0 {
            let source = io::Error::last_os_error();
            return Err(match source.raw_os_error() {
                Some(libc::EPERM) | Some(libc::EACCES) => TapError::NotPermitted {
                    name: name.to_string(),
                    what: "ioctl TUNSETIFF",
                    source,
                },
                _ => TapError::Io {
                    name: name.to_string(),
                    what: "ioctl TUNSETIFF (IFF_TAP | IFF_NO_PI | IFF_MULTI_QUEUE)",
                    source,
                },
            });
        }
        Ok(TapQueue {
            file,
            name: name.to_string(),
        })
    }

    /// The device's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The queue's fd, for the worker's idle `poll(2)` (readable: the host
    /// sent a frame).
    pub fn fd(&self) -> BorrowedFd<'_> {
        self.file.as_fd()
    }

    /// The raw fd (see [`TapQueue::fd`]).
    pub fn raw_fd(&self) -> RawFd {
        self.file.as_raw_fd()
    }

    /// Reads one frame the host sent into `buf`: `Ok(Some(len))`, or
    /// `Ok(None)` when there is none (EAGAIN). The tun driver cuts a frame
    /// longer than `buf` to `buf.len()` and drops the rest (observed:
    /// `read` returns `buf.len()`), so a read that fills `buf` is taken
    /// for a cut frame: an `InvalidData` error, the frame is gone. Give a
    /// buffer longer than the largest frame (MTU + 14).
    pub fn read(&mut self, buf: &mut [u8]) -> io::Result<Option<usize>> {
        loop {
            match self.file.read(buf) {
                Ok(n) if n >= buf.len() => {
                    return Err(io::Error::new(
                        io::ErrorKind::InvalidData,
                        format!(
                            "TAP {}: a frame of {n} bytes or more, cut to the buffer",
                            self.name
                        ),
                    ))
                }
                Ok(n) => return Ok(Some(n)),
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Ok(None),
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(e),
            }
        }
    }

    /// Writes one frame for the host: `Ok(true)` when it was taken,
    /// `Ok(false)` when the write would block (the caller drops and counts
    /// it; the tun driver hands frames to the host's backlog and in
    /// practice does not block writers).
    pub fn write(&mut self, frame: &[u8]) -> io::Result<bool> {
        loop {
            match self.file.write(frame) {
                Ok(_) => return Ok(true),
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Ok(false),
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(e),
            }
        }
    }
}

/// One step of the host set-up.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HostStep {
    /// `ip ARGS...`
    Ip(Vec<String>),
    /// Writes `value` to `/proc/sys/<path>` (`path` with slashes); skipped
    /// when the file does not exist and `optional` (IPv6 disabled).
    Sysctl {
        path: String,
        value: &'static str,
        optional: bool,
    },
}

impl std::fmt::Display for HostStep {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            HostStep::Ip(args) => write!(f, "ip {}", args.join(" ")),
            HostStep::Sysctl { path, value, .. } => {
                write!(f, "sysctl -w {}={value}", path.replace('/', "."))
            }
        }
    }
}

/// What the daemon runs in the host at start-up, as data (the tests read
/// it without root). See the module docs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HostPlan {
    /// The TAP the steps are about (for error messages).
    pub tap: String,
    pub steps: Vec<HostStep>,
}

fn ip(args: &[&str]) -> HostStep {
    HostStep::Ip(args.iter().map(|s| s.to_string()).collect())
}

/// `ip addr replace` (`add`) or `ip addr del` of `a` on `tap`.
fn addr_step(a: &IpNet, tap: &str, add: bool) -> HostStep {
    let a = a.to_string();
    match (a.contains(':'), add) {
        (true, true) => ip(&["-6", "addr", "replace", &a, "dev", tap, "nodad"]),
        (true, false) => ip(&["-6", "addr", "del", &a, "dev", tap]),
        (false, true) => ip(&["addr", "replace", &a, "brd", "+", "dev", tap]),
        (false, false) => ip(&["addr", "del", &a, "dev", tap]),
    }
}

/// What identifies a host route in the host's main table: IPv6 or not,
/// destination, metric.
type RouteKey = (bool, IpNet, u32);

/// The host routes of [`HostPlan::routes`], each with what identifies it
/// in the host's main table (family, destination, metric) and its `ip`
/// arguments (`-4|-6 route replace DST dev TAP [metric M]`).
fn host_routes(a: &Appliance) -> Result<Vec<(RouteKey, Vec<String>)>, TapError> {
    let mut out = Vec::new();
    for r in a.routes.iter().filter(|r| r.table == TABLE_MAIN) {
        let dev = r.dev.clone().or_else(|| {
            let via = r.via?;
            a.interfaces
                .iter()
                .find(|i| i.addresses.iter().any(|n| n.contains(&via)))
                .map(|i| i.name.clone())
        });
        let Some(dev) = dev else { continue };
        let tap = tap_name(&dev)?;
        let to = match r.to {
            n if n.prefix_len() == 0 => "default".to_string(),
            n => n.to_string(),
        };
        let v6 = matches!(r.to, IpNet::V6(_));
        let family = if v6 { "-6" } else { "-4" };
        let metric = r.metric.to_string();
        let mut args = vec![family, "route", "replace", &to, "dev", &tap];
        if r.metric != 0 {
            args.extend(["metric", &metric]);
        }
        out.push((
            (v6, r.to, r.metric),
            args.iter().map(|s| s.to_string()).collect(),
        ));
    }
    Ok(out)
}

impl HostPlan {
    /// The set-up of the TAP of `iface` (whose MAC is `mac`), to run after
    /// [`Tap::open_queues`] created it: MAC, MTU, `arp off`, no host
    /// forwarding, no RA/RS/DAD, the interface's addresses, link up.
    pub fn interface(iface: &Interface, mac: MacAddr) -> Result<HostPlan, TapError> {
        let tap = tap_name(&iface.name)?;
        let t = tap.as_str();
        let mac = mac.to_string();
        let mtu = iface.mtu.to_string();
        let mut steps = vec![
            ip(&[
                "link", "set", "dev", t, "address", &mac, "mtu", &mtu, "arp", "off",
            ]),
            HostStep::Sysctl {
                path: format!("net/ipv4/conf/{t}/forwarding"),
                value: "0",
                optional: false,
            },
            // An apply that replaces the primary address of a subnet adds
            // the new one (a secondary) before deleting the old: without
            // this the kernel deletes the secondaries with the primary.
            HostStep::Sysctl {
                path: format!("net/ipv4/conf/{t}/promote_secondaries"),
                value: "1",
                optional: false,
            },
        ];
        for (knob, value) in [
            ("forwarding", "0"),
            ("accept_ra", "0"),
            ("router_solicitations", "0"),
            ("accept_dad", "0"),
        ] {
            steps.push(HostStep::Sysctl {
                path: format!("net/ipv6/conf/{t}/{knob}"),
                value,
                optional: true,
            });
        }
        steps.extend(iface.addresses.iter().map(|a| addr_step(a, t, true)));
        steps.push(ip(&["link", "set", "dev", t, "up"]));
        Ok(HostPlan { tap, steps })
    }

    /// What an apply from `old` to `new` (the same interfaces, in the same
    /// order: anything else needs a restart) changes on the host side:
    /// addresses the new config gives an interface are added to its TAP
    /// before the ones it no longer has are removed (a host service bound
    /// to an address that stays is never left without one), the main
    /// table's host routes ([`HostPlan::routes`]) that are gone are deleted
    /// before the addresses are, and the new or changed ones replaced last.
    /// Empty when nothing changed.
    pub fn update(old: &Appliance, new: &Appliance) -> Result<HostPlan, TapError> {
        let mut steps = Vec::new();
        let mut dels = Vec::new();
        for (o, n) in old.interfaces.iter().zip(&new.interfaces) {
            let tap = tap_name(&n.name)?;
            for a in n.addresses.iter().filter(|a| !o.addresses.contains(a)) {
                steps.push(addr_step(a, &tap, true));
            }
            for a in o.addresses.iter().filter(|a| !n.addresses.contains(a)) {
                dels.push(addr_step(a, &tap, false));
            }
        }
        let (o, n) = (host_routes(old)?, host_routes(new)?);
        for (key, args) in &o {
            if !n.iter().any(|(k, _)| k == key) {
                // `ip route del` of what `replace` made: same family,
                // destination, device and metric. Before the addresses
                // go: the kernel flushes a TAP's routes with its last
                // address of the family, and the `del` would then fail.
                let mut args = args.clone();
                args[2] = "del".into();
                steps.push(HostStep::Ip(args));
            }
        }
        steps.extend(dels);
        for (key, args) in &n {
            if !o.iter().any(|(k, a)| k == key && a == args) {
                steps.push(HostStep::Ip(args.clone()));
            }
        }
        Ok(HostPlan {
            tap: "host side".to_string(),
            steps,
        })
    }

    /// The host routes: each route of the main table (the default among
    /// them) as `ip route replace DST dev sl-<dev> [metric M]`, `dev` the
    /// route's interface (given, or the one whose network holds `via`).
    /// Routes whose interface cannot be told are left out. Run after every
    /// TAP is up (the kernel refuses a route over a down device).
    pub fn routes(a: &Appliance) -> Result<HostPlan, TapError> {
        Ok(HostPlan {
            tap: "routes".to_string(),
            steps: host_routes(a)?
                .into_iter()
                .map(|(_, args)| HostStep::Ip(args))
                .collect(),
        })
    }

    /// Runs every step, whatever fails: the failures, each naming its
    /// step (an apply's host side: the dataplane has the new config
    /// already, so as much of the host side as can follow does).
    pub fn apply_each(&self) -> Vec<TapError> {
        self.steps
            .iter()
            .filter_map(|s| self.run(s).err())
            .collect()
    }

    /// Runs the steps in order in the caller's network namespace; the
    /// first failure stops it and names the step.
    pub fn apply(&self) -> Result<(), TapError> {
        self.steps.iter().try_for_each(|s| self.run(s))
    }

    /// Runs step `s`; the failure names it.
    fn run(&self, s: &HostStep) -> Result<(), TapError> {
        let fail = |detail: String| TapError::Setup {
            name: self.tap.clone(),
            command: s.to_string(),
            detail,
        };
        match s {
            HostStep::Ip(args) => {
                let out = Command::new("ip")
                    .args(args)
                    .output()
                    .map_err(|e| fail(format!("cannot run ip (iproute2): {e}")))?;
                if !out.status.success() {
                    return Err(fail(
                        String::from_utf8_lossy(&out.stderr).trim().to_string(),
                    ));
                }
            }
            HostStep::Sysctl {
                path,
                value,
                optional,
            } => {
                let file = Path::new("/proc/sys").join(path);
                if *optional && !file.exists() {
                    return Ok(());
                }
                std::fs::write(&file, value).map_err(|e| fail(e.to_string()))?;
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_fit_ifnamsiz_or_fail_clearly() {
        assert_eq!(tap_name("eth0").unwrap(), "sl-eth0");
        assert_eq!(tap_name("abcdefghijkl").unwrap(), "sl-abcdefghijkl");
        let e = tap_name("abcdefghijklm").unwrap_err();
        assert!(matches!(e, TapError::NameTooLong { .. }));
        let msg = e.to_string();
        assert!(
            msg.contains("sl-abcdefghijklm") && msg.contains("IFNAMSIZ"),
            "{msg}"
        );
        assert!(matches!(
            tap_name("a/b").unwrap_err(),
            TapError::BadName { .. }
        ));
        assert!(matches!(
            Tap::open_queues("sl-abcdefghijklm", 1).unwrap_err(),
            TapError::NameTooLong { .. }
        ));
    }

    fn appliance() -> Appliance {
        sluice_config::appliance::parse(
            r#"
[[interface]]
name = "lan"
address = ["10.0.1.1/24", "2001:db8:1::1/64"]
mtu = 1400

[[interface]]
name = "wan"
address = ["192.0.2.1/24"]

[[route]]
to = "default"
via = "192.0.2.254"

[[route]]
to = "10.9.0.0/16"
via = "10.0.1.254"
metric = 5

[[route]]
to = "10.8.0.0/16"
via = "10.0.1.254"
table = 100
"#,
            Path::new("t.toml"),
        )
        .unwrap()
    }

    #[test]
    fn the_host_plan_mirrors_the_interface() {
        let a = appliance();
        let mac = MacAddr([2, 0, 0, 0, 1, 0]);
        let p = HostPlan::interface(&a.interfaces[0], mac).unwrap();
        let lines: Vec<String> = p.steps.iter().map(|s| s.to_string()).collect();
        assert_eq!(
            lines,
            [
                "ip link set dev sl-lan address 02:00:00:00:01:00 mtu 1400 arp off",
                "sysctl -w net.ipv4.conf.sl-lan.forwarding=0",
                "sysctl -w net.ipv4.conf.sl-lan.promote_secondaries=1",
                "sysctl -w net.ipv6.conf.sl-lan.forwarding=0",
                "sysctl -w net.ipv6.conf.sl-lan.accept_ra=0",
                "sysctl -w net.ipv6.conf.sl-lan.router_solicitations=0",
                "sysctl -w net.ipv6.conf.sl-lan.accept_dad=0",
                "ip addr replace 10.0.1.1/24 brd + dev sl-lan",
                "ip -6 addr replace 2001:db8:1::1/64 dev sl-lan nodad",
                "ip link set dev sl-lan up",
            ]
        );
        let r = HostPlan::routes(&a).unwrap();
        let lines: Vec<String> = r.steps.iter().map(|s| s.to_string()).collect();
        assert_eq!(
            lines,
            [
                "ip -4 route replace default dev sl-wan",
                "ip -4 route replace 10.9.0.0/16 dev sl-lan metric 5",
            ]
        );
    }

    #[test]
    fn an_apply_changes_only_what_changed_on_the_host() {
        let old = appliance();
        assert!(HostPlan::update(&old, &old).unwrap().steps.is_empty());
        let text = r#"
[[interface]]
name = "lan"
address = ["10.0.1.1/24", "10.0.7.1/24"]
mtu = 1400

[[interface]]
name = "wan"
address = ["192.0.2.1/24"]

[[route]]
to = "default"
via = "192.0.2.254"
metric = 7

[[route]]
to = "10.6.0.0/16"
via = "10.0.7.254"

[[route]]
to = "10.8.0.0/16"
via = "10.0.1.254"
"#;
        let new = sluice_config::appliance::parse(text, Path::new("t.toml")).unwrap();
        let steps: Vec<String> = HostPlan::update(&old, &new)
            .unwrap()
            .steps
            .iter()
            .map(|s| s.to_string())
            .collect();
        assert_eq!(
            steps,
            [
                "ip addr replace 10.0.7.1/24 brd + dev sl-lan",
                "ip -4 route del default dev sl-wan",
                "ip -4 route del 10.9.0.0/16 dev sl-lan metric 5",
                "ip -6 addr del 2001:db8:1::1/64 dev sl-lan",
                "ip -4 route replace default dev sl-wan metric 7",
                "ip -4 route replace 10.6.0.0/16 dev sl-lan",
                "ip -4 route replace 10.8.0.0/16 dev sl-lan",
            ]
        );
        // And back: the inverse changes.
        let back: Vec<String> = HostPlan::update(&new, &old)
            .unwrap()
            .steps
            .iter()
            .map(|s| s.to_string())
            .collect();
        assert_eq!(
            back,
            [
                "ip -6 addr replace 2001:db8:1::1/64 dev sl-lan nodad",
                "ip -4 route del default dev sl-wan metric 7",
                "ip -4 route del 10.6.0.0/16 dev sl-lan",
                "ip -4 route del 10.8.0.0/16 dev sl-lan",
                "ip addr del 10.0.7.1/24 dev sl-lan",
                "ip -4 route replace default dev sl-wan",
                "ip -4 route replace 10.9.0.0/16 dev sl-lan metric 5",
            ]
        );
    }
}
