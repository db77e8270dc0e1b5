//! The kernel half of the differential tests: an appliance config and an
//! `iptables-restore` ruleset loaded into Linux in a router namespace, and
//! crafted frames sent through it.
//!
//! ```text
//!   host ns "r0"          router ns                 host ns "r1"
//!   eth0 ─────veth───── r0   iptables, ip rule,   r1 ─────veth───── eth0
//!   02:00:00:00:01:01   02:00:00:00:00:01 ...  02:00:00:00:00:02   02:00:00:00:01:02
//! ```
//!
//! [`KernelRouter::new`] reads the appliance TOML with
//! `sluice_config::appliance::parse` and builds: one router namespace with a
//! veth per `[[interface]]` (same name, MAC [`router_mac`]`(index)`, the
//! interface's addresses and MTU), each paired with `eth0` (MAC
//! [`host_mac`]`(index)`) in a host namespace of its own; the `[[route]]`s
//! (`ip route add ... table N`) and `[[policy]]` rules (`ip rule add`); the
//! sets (`ipset restore`) and the ruleset (`iptables-legacy-restore`);
//! forwarding on, `rp_filter` off.
//!
//! [`KernelRouter::probe`] injects frames on the host side of a port, so
//! they arrive at the router's interface as from a wire, and returns every
//! frame the router sent out of any port (seen on the host side of each
//! veth) while listening, each tagged with the probe that caused it. The
//! `sluice-probe run` binary does the sending and listening: one process,
//! one AF_PACKET socket per host namespace (entered with setns), probes sent
//! one at a time with a listening window (`wait`) after each.
//!
//! What keeps the result deterministic:
//!
//! * The host namespaces are mute: no addresses, IPv6 disabled, forwarding
//!   off, so their stacks never answer a probe, solicit a router, join a
//!   group or run DAD. Only frames from the router reach the sockets, and
//!   captures are filtered to those whose Ethernet source is the router's
//!   MAC on that port.
//! * The router's interfaces have IPv6 disabled unless the config gives
//!   them an IPv6 address; then DAD is off (`accept_dad=0`, `nodad`), no
//!   link-local address is generated (`addr_gen_mode=1`), RAs are ignored,
//!   and the MLD reports the kernel still sends are filtered out.
//! * Neighbours are static: [`KernelRouter::add_neighbour`] adds permanent
//!   entries, so the router never ARPs for a probe's addresses (a missing
//!   entry shows up as the router's ARP request in the capture, which says
//!   what to add).
//! * Transmit checksum offload is off on both ends of every veth: frames
//!   carry complete checksums (the kernel's own TCP resets and ICMP errors
//!   included), as on a real wire.
//! * Conntrack state and rule counters persist across `probe` calls in one
//!   router (a flow's later packets need them);
//!   [`KernelRouter::flush_conntrack`] and
//!   [`KernelRouter::zero_counters`] reset them.
//!
//! What stays nondeterministic: the IPv4 identification of packets the
//! router originates (ICMP errors; `ip_select_ident` hashes a per-boot
//! secret), so compare those with [`crate::frames::mask_ipv4_ident`].
//!
//! Every namespace is a [`Netns`]: deleted when the router drops, also when
//! a test fails, and swept by a later run when a test process was killed.

use std::collections::HashMap;
use std::io::{Read as _, Write as _};
use std::net::IpAddr;
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use ipnet::IpNet;
use sluice_config::appliance::{Appliance, PolicyRule, Route};
use sluice_dataplane::wire::{self, IpProtocol};

use crate::frames::{hex, unhex, Captured, MacAddr};
use crate::netns::{veth_pair, Netns, VethEnd};

/// The interface at the host end of every port's veth, in its host
/// namespace.
pub const HOST_IFACE: &str = "eth0";

/// The router's MAC on the port of that index: `02:00:00:00:00:<index+1>`.
pub fn router_mac(index: usize) -> MacAddr {
    MacAddr([2, 0, 0, 0, 0, index as u8 + 1])
}

/// The host's MAC on the port of that index: `02:00:00:00:01:<index+1>`.
pub fn host_mac(index: usize) -> MacAddr {
    MacAddr([2, 0, 0, 0, 1, index as u8 + 1])
}

/// Why the kernel router cannot be built on this machine, if it cannot:
/// not root, `ip`/`iptables-legacy-restore`/`ethtool` missing, or network
/// namespaces not available. Checked once per process.
pub fn skip_reason() -> Option<String> {
    static REASON: OnceLock<Option<String>> = OnceLock::new();
    REASON
        .get_or_init(|| {
            if !nix::unistd::geteuid().is_root() {
                return Some("not root (network namespaces and iptables need it)".into());
            }
            for (tool, arg) in [
                ("ip", "-V"),
                ("iptables-legacy-restore", "--version"),
                ("iptables-legacy-save", "--version"),
                ("ip6tables-legacy-restore", "--version"),
                ("ip6tables-legacy-save", "--version"),
                ("ethtool", "--version"),
                ("sysctl", "--version"),
            ] {
                let ok = Command::new(tool)
                    .arg(arg)
                    .stdout(Stdio::null())
                    .stderr(Stdio::null())
                    .status()
                    .is_ok_and(|s| s.success());
                if !ok {
                    return Some(format!("`{tool}` is not installed"));
                }
            }
            let ns = match Netns::new() {
                Ok(ns) => ns,
                Err(e) => return Some(format!("cannot create a network namespace: {e}")),
            };
            if let Err(e) = ns.run_stdin(
                &["iptables-legacy-restore", "-w", "10"],
                Some("*filter\nCOMMIT\n"),
            ) {
                return Some(format!("iptables-legacy does not work in a namespace: {e}"));
            }
            None
        })
        .clone()
}

/// The `sluice-probe` binary: `$SLUICE_PROBE`, else next to the running
/// executable or one folder up (where cargo puts binaries relative to test
/// executables in `target/*/deps/`).
pub fn default_probe_binary() -> Option<PathBuf> {
    if let Some(p) = std::env::var_os("SLUICE_PROBE") {
        return Some(PathBuf::from(p));
    }
    let exe = std::env::current_exe().ok()?;
    let dir = exe.parent()?;
    [dir.join("sluice-probe"), dir.parent()?.join("sluice-probe")]
        .into_iter()
        .find(|p| p.is_file())
}

/// One `[[interface]]` and the host namespace at the other end of its veth.
#[derive(Debug)]
struct Port {
    name: String,
    router_mac: MacAddr,
    host_mac: MacAddr,
    host: Netns,
}

/// Linux configured as the appliance: see the module docs.
#[derive(Debug)]
pub struct KernelRouter {
    appliance: Appliance,
    // Dropped in order: the router namespace first, then the hosts.
    router: Netns,
    ports: Vec<Port>,
    probe_binary: Option<PathBuf>,
}

impl KernelRouter {
    /// Builds the topology for `appliance_toml` and loads `rules_v4` (an
    /// `iptables-restore` file) and `sets` (an `ipset save` file). The
    /// TOML's `[firewall]` file names are not read. On error every
    /// namespace made so far is deleted.
    pub fn new(
        appliance_toml: &str,
        rules_v4: &str,
        sets: Option<&str>,
    ) -> Result<KernelRouter, String> {
        KernelRouter::new_dual(appliance_toml, rules_v4, None, sets)
    }

    /// [`KernelRouter::new`] with an `ip6tables-restore` file too, loaded
    /// by `ip6tables-legacy-restore`.
    pub fn new_dual(
        appliance_toml: &str,
        rules_v4: &str,
        rules_v6: Option<&str>,
        sets: Option<&str>,
    ) -> Result<KernelRouter, String> {
        let appliance = crate::sluice::parse_appliance(appliance_toml)?;
        let router = Netns::new()?;
        // Defaults first, so the interfaces created next inherit them.
        router.sysctl(&[
            ("net.ipv4.conf.all.rp_filter", "0"),
            ("net.ipv4.conf.default.rp_filter", "0"),
            ("net.ipv6.conf.default.disable_ipv6", "1"),
            ("net.ipv6.conf.default.accept_dad", "0"),
            ("net.ipv6.conf.default.addr_gen_mode", "1"),
            ("net.ipv6.conf.default.accept_ra", "0"),
            // The MLD reports an interface with IPv6 sends when it comes
            // up are repeated after a random delay below these intervals
            // (ms): an hour, so that no repeat passes the ip6tables
            // OUTPUT chain during a test (the first ones are sent while
            // the topology is built, and their counts zeroed below).
            (
                "net.ipv6.conf.default.mldv1_unsolicited_report_interval",
                "3600000",
            ),
            (
                "net.ipv6.conf.default.mldv2_unsolicited_report_interval",
                "3600000",
            ),
        ])?;
        let mut ports = Vec::with_capacity(appliance.interfaces.len());
        for (i, iface) in appliance.interfaces.iter().enumerate() {
            let host = Netns::new()?;
            host.sysctl(&[
                ("net.ipv6.conf.all.disable_ipv6", "1"),
                ("net.ipv6.conf.default.disable_ipv6", "1"),
            ])?;
            let port = Port {
                name: iface.name.clone(),
                router_mac: router_mac(i),
                host_mac: host_mac(i),
                host,
            };
            veth_pair(
                &VethEnd {
                    ns: &router,
                    name: &port.name,
                    mac: port.router_mac,
                    mtu: iface.mtu,
                },
                &VethEnd {
                    ns: &port.host,
                    name: HOST_IFACE,
                    mac: port.host_mac,
                    mtu: iface.mtu,
                },
            )?;
            port.host.tx_offload_off(HOST_IFACE)?;
            router.tx_offload_off(&port.name)?;
            ports.push(port);
        }
        let mut sysctls: Vec<(String, String)> = vec![
            ("net.ipv4.ip_forward".into(), "1".into()),
            ("net.ipv6.conf.all.forwarding".into(), "1".into()),
        ];
        for iface in &appliance.interfaces {
            // The slash form: an interface name may contain dots.
            let v4 = format!("net/ipv4/conf/{}", iface.name);
            sysctls.push((format!("{v4}/rp_filter"), "0".into()));
            if iface.addresses.iter().any(|a| matches!(a, IpNet::V6(_))) {
                let v6 = format!("net/ipv6/conf/{}", iface.name);
                sysctls.push((format!("{v6}/disable_ipv6"), "0".into()));
            }
        }
        let refs: Vec<(&str, &str)> = sysctls
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .collect();
        router.sysctl(&refs)?;
        for iface in &appliance.interfaces {
            for addr in &iface.addresses {
                router.add_address(&iface.name, addr)?;
            }
        }
        for port in &ports {
            router.link_up(&port.name)?;
            port.host.link_up(HOST_IFACE)?;
        }
        for route in &appliance.routes {
            let args = route_args(route);
            router
                .ip(&args.iter().map(String::as_str).collect::<Vec<_>>())
                .map_err(|e| format!("[[route]] at line {}: {e}", route.line))?;
        }
        for rule in &appliance.policies {
            for args in rule_args(rule) {
                router
                    .ip(&args.iter().map(String::as_str).collect::<Vec<_>>())
                    .map_err(|e| format!("[[policy]] at line {}: {e}", rule.line))?;
            }
        }
        if let Some(sets) = sets {
            router
                .run_stdin(&["ipset", "restore"], Some(sets))
                .map_err(|e| format!("loading the sets: {e}"))?;
        }
        router
            .run_stdin(&["iptables-legacy-restore", "-w", "10"], Some(rules_v4))
            .map_err(|e| format!("loading the ruleset: {e}"))?;
        if let Some(r6) = rules_v6 {
            router
                .run_stdin(&["ip6tables-legacy-restore", "-w", "10"], Some(r6))
                .map_err(|e| format!("loading the ip6tables ruleset: {e}"))?;
            // The router's own MLD reports of the set-up (see above) are
            // no probe's: once the kernel's MLD work has sent them (it
            // runs from a workqueue right after the links come up), their
            // counts go.
            std::thread::sleep(std::time::Duration::from_millis(150));
            for table in r6.lines().filter_map(|l| l.trim().strip_prefix('*')) {
                router
                    .run(&["ip6tables-legacy", "-w", "10", "-t", table.trim(), "-Z"])
                    .map_err(|e| format!("zeroing the ip6tables counters: {e}"))?;
            }
        }
        Ok(KernelRouter {
            appliance,
            router,
            ports,
            probe_binary: default_probe_binary(),
        })
    }

    /// Uses `path` as the `sluice-probe` binary (tests pass
    /// `env!("CARGO_BIN_EXE_sluice-probe")`).
    pub fn with_probe_binary(mut self, path: impl Into<PathBuf>) -> KernelRouter {
        self.probe_binary = Some(path.into());
        self
    }

    /// The parsed appliance config.
    pub fn appliance(&self) -> &Appliance {
        &self.appliance
    }

    /// The router namespace (for `ip -n`, `exec`, ...).
    pub fn router_ns(&self) -> &Netns {
        &self.router
    }

    /// The host namespace at the other end of `port`.
    pub fn host_ns(&self, port: &str) -> &Netns {
        &self.port(port).host
    }

    /// The router's MAC on `port`. Panics when there is no such port.
    pub fn router_mac(&self, port: &str) -> MacAddr {
        self.port(port).router_mac
    }

    /// The host's MAC at the other end of `port`. Panics when there is no
    /// such port.
    pub fn host_mac(&self, port: &str) -> MacAddr {
        self.port(port).host_mac
    }

    fn port(&self, name: &str) -> &Port {
        self.ports
            .iter()
            .find(|p| p.name == name)
            .unwrap_or_else(|| panic!("no port {name:?} in the appliance config"))
    }

    /// A permanent neighbour entry in the router: `ip` is at `mac` on
    /// `port`.
    pub fn add_neighbour(&self, port: &str, ip: IpAddr, mac: MacAddr) -> Result<(), String> {
        self.router.add_neighbour(&self.port(port).name, ip, mac)
    }

    /// [`KernelRouter::add_neighbour`] with the MAC of `port`'s host: `ip`
    /// lives in the host namespace behind `port`.
    pub fn add_host(&self, port: &str, ip: IpAddr) -> Result<(), String> {
        self.add_neighbour(port, ip, self.host_mac(port))
    }

    /// Sends each `(port, frame)` on the host side of `port`, in order,
    /// listening on every port for `wait` after each, and returns the frames
    /// the router sent meanwhile, in the order they were seen, each tagged
    /// with the index of the probe sent last before it.
    pub fn probe<S: AsRef<str>>(
        &self,
        frames: &[(S, Vec<u8>)],
        wait: Duration,
    ) -> Result<Vec<Captured>, String> {
        let binary = self.probe_binary.as_ref().ok_or(
            "the sluice-probe binary was not found: set SLUICE_PROBE or use with_probe_binary",
        )?;
        let mut script = String::new();
        for p in &self.ports {
            script.push_str(&format!(
                "port {} {} {HOST_IFACE}\n",
                p.name,
                p.host.path().display()
            ));
        }
        script.push_str(&format!("settle {}\n", wait.as_millis()));
        let mut index = HashMap::new();
        for (i, p) in self.ports.iter().enumerate() {
            index.insert(p.name.as_str(), i);
        }
        for (port, frame) in frames {
            let port = port.as_ref();
            if !index.contains_key(port) {
                return Err(format!("probe on unknown port {port:?}"));
            }
            script.push_str(&format!("frame {port} {}\n", hex(frame)));
        }
        // Setup, then one window per frame, then a margin for a loaded box.
        let limit = wait * frames.len() as u32 + Duration::from_secs(10);
        let out = run_bounded(Command::new(binary).arg("run"), &script, limit)?;
        let mut captured = Vec::new();
        let mut done = false;
        for line in out.lines() {
            let words: Vec<&str> = line.split_whitespace().collect();
            match words.as_slice() {
                ["done"] => done = true,
                ["frame", probe, port, bytes] => {
                    let probe: usize = probe
                        .parse()
                        .map_err(|_| format!("sluice-probe printed {line:?}"))?;
                    let frame = unhex(bytes)?;
                    let Some(&i) = index.get(port) else {
                        return Err(format!("sluice-probe printed {line:?}"));
                    };
                    if from_router(&frame, self.ports[i].router_mac) {
                        captured.push(Captured {
                            probe,
                            port: port.to_string(),
                            frame,
                        });
                    }
                }
                _ => return Err(format!("sluice-probe printed {line:?}")),
            }
        }
        if !done {
            return Err("sluice-probe ended without `done`".into());
        }
        Ok(captured)
    }

    /// The rules of `table` with their packet and byte counters, as
    /// `iptables-legacy-save -c -t TABLE` prints them, `#` lines removed.
    pub fn counters(&self, table: &str) -> Result<String, String> {
        self.counters_by("iptables-legacy-save", table)
    }

    /// [`KernelRouter::counters`] of an ip6tables table
    /// (`ip6tables-legacy-save`).
    pub fn counters6(&self, table: &str) -> Result<String, String> {
        self.counters_by("ip6tables-legacy-save", table)
    }

    fn counters_by(&self, save: &str, table: &str) -> Result<String, String> {
        let out = self.router.run(&[save, "-c", "-t", table])?;
        Ok(out
            .lines()
            .filter(|l| !l.starts_with('#'))
            .map(|l| format!("{l}\n"))
            .collect())
    }

    /// Sets every rule and policy counter of every table to zero.
    pub fn zero_counters(&self) -> Result<(), String> {
        for table in ["raw", "mangle", "nat", "filter"] {
            self.router
                .run(&["iptables-legacy", "-w", "10", "-t", table, "-Z"])?;
        }
        Ok(())
    }

    /// The conntrack table, `conntrack -L` (empty when the ruleset never
    /// needed conntrack; an error when conntrack-tools is not installed).
    pub fn conntrack(&self) -> Result<String, String> {
        self.router.run(&["conntrack", "-L"])
    }

    /// The conntrack table as [`crate::ctlist`] lines, sorted.
    pub fn conntrack_entries(&self) -> Result<Vec<String>, String> {
        Ok(crate::ctlist::from_conntrack_l(&self.conntrack()?))
    }

    /// Empties the conntrack table (`conntrack -F`).
    pub fn flush_conntrack(&self) -> Result<(), String> {
        self.router.run(&["conntrack", "-F"]).map(drop)
    }
}

/// True for a frame the router sent (Ethernet source `router`) that is not
/// MLD chatter (listener reports/queries/done, which the kernel sends for
/// the groups an interface with IPv6 joins).
fn from_router(frame: &[u8], router: MacAddr) -> bool {
    if frame.len() < 12 || frame[6..12] != router.0 {
        return false;
    }
    match wire::parse(frame) {
        Ok(m) if m.ip_version == 6 && m.protocol == IpProtocol::ICMPV6 => !matches!(
            m.icmp_type,
            130..=132 | 143 // MLD query, v1 report, done; MLDv2 report
        ),
        _ => true,
    }
}

/// `ip route add TO [via V] [dev D] table T metric M`.
fn route_args(r: &Route) -> Vec<String> {
    let mut args: Vec<String> = vec!["route".into(), "add".into(), r.to.to_string()];
    if let Some(via) = r.via {
        args.extend(["via".into(), via.to_string()]);
    }
    if let Some(dev) = &r.dev {
        args.extend(["dev".into(), dev.clone()]);
    }
    args.extend([
        "table".into(),
        r.table.to_string(),
        "metric".into(),
        r.metric.to_string(),
    ]);
    args
}

/// `ip [-4|-6] rule add [not] priority P [fwmark V/M] [from P] [to P] [iif I]
/// [oif O] lookup T`, once per family the rule applies to (both when it
/// names no prefix, as sluice applies such a rule to both).
fn rule_args(r: &PolicyRule) -> Vec<Vec<String>> {
    let family = r.from.or(r.to).map(|p| matches!(p, IpNet::V4(_)));
    let families: &[&str] = match family {
        Some(true) => &["-4"],
        Some(false) => &["-6"],
        None => &["-4", "-6"],
    };
    families
        .iter()
        .map(|fam| {
            let mut a: Vec<String> = vec![fam.to_string(), "rule".into(), "add".into()];
            if r.not {
                a.push("not".into());
            }
            a.extend(["priority".into(), r.priority.to_string()]);
            if let Some((value, mask)) = r.fwmark {
                a.extend(["fwmark".into(), format!("{value:#x}/{mask:#x}")]);
            }
            if let Some(from) = r.from {
                a.extend(["from".into(), from.to_string()]);
            }
            if let Some(to) = r.to {
                a.extend(["to".into(), to.to_string()]);
            }
            if let Some(iif) = &r.iif {
                a.extend(["iif".into(), iif.clone()]);
            }
            if let Some(oif) = &r.oif {
                a.extend(["oif".into(), oif.clone()]);
            }
            a.extend(["lookup".into(), r.table.to_string()]);
            a
        })
        .collect()
}

/// Runs `cmd` with `input` on stdin; its stdout when it exits 0 within
/// `limit`. Killed (by its pid, through the handle) when it takes longer.
fn run_bounded(cmd: &mut Command, input: &str, limit: Duration) -> Result<String, String> {
    let mut child = cmd
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| format!("cannot run {cmd:?}: {e}"))?;
    {
        let mut stdin = child.stdin.take().expect("stdin is piped");
        stdin
            .write_all(input.as_bytes())
            .map_err(|e| format!("writing to {cmd:?}: {e}"))?;
    }
    // Read both pipes on threads so a chatty child never blocks on a full
    // pipe while this thread waits for it to exit.
    let mut stdout = child.stdout.take().expect("stdout is piped");
    let mut stderr = child.stderr.take().expect("stderr is piped");
    let out = std::thread::spawn(move || {
        let mut s = String::new();
        let _ = stdout.read_to_string(&mut s);
        s
    });
    let err = std::thread::spawn(move || {
        let mut s = String::new();
        let _ = stderr.read_to_string(&mut s);
        s
    });
    let deadline = Instant::now() + limit;
    let status = loop {
        match child.try_wait() {
            Ok(Some(status)) => break status,
            Ok(None) if Instant::now() < deadline => std::thread::sleep(Duration::from_millis(5)),
            Ok(None) => {
                let _ = child.kill();
                let _ = child.wait();
                return Err(format!("{cmd:?} did not finish within {limit:?}"));
            }
            Err(e) => return Err(format!("waiting for {cmd:?}: {e}")),
        }
    };
    let out = out.join().unwrap_or_default();
    let err = err.join().unwrap_or_default();
    if status.success() {
        Ok(out)
    } else {
        Err(format!("{cmd:?} failed ({status}): {}", err.trim()))
    }
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use sluice_config::appliance;
    use sluice_dataplane::wire::icmpv6;

    use super::*;

    #[test]
    fn macs_are_fixed() {
        assert_eq!(router_mac(0).to_string(), "02:00:00:00:00:01");
        assert_eq!(host_mac(2).to_string(), "02:00:00:00:01:03");
    }

    #[test]
    fn rule_arguments() {
        let a = appliance::parse(
            "[[interface]]\nname = \"r0\"\naddress = [\"10.0.1.1/24\"]\n\
             [[policy]]\npriority = 100\nfwmark = \"0x1/0xff\"\niif = \"r0\"\ntable = 100\n\
             [[policy]]\npriority = 200\nfrom = \"10.0.0.0/8\"\nnot = true\ntable = \"main\"\n",
            Path::new("t.toml"),
        )
        .unwrap();
        assert_eq!(
            rule_args(&a.policies[0]),
            vec![
                "-4 rule add priority 100 fwmark 0x1/0xff iif r0 lookup 100"
                    .split(' ')
                    .map(String::from)
                    .collect::<Vec<_>>(),
                "-6 rule add priority 100 fwmark 0x1/0xff iif r0 lookup 100"
                    .split(' ')
                    .map(String::from)
                    .collect::<Vec<_>>(),
            ]
        );
        assert_eq!(
            rule_args(&a.policies[1]),
            vec!["-4 rule add not priority 200 from 10.0.0.0/8 lookup 254"
                .split(' ')
                .map(String::from)
                .collect::<Vec<_>>()]
        );
    }

    #[test]
    fn mld_is_not_from_the_router() {
        let mac = router_mac(0);
        let f = crate::frames::IpFrame::new(
            mac,
            MacAddr([0x33, 0x33, 0, 0, 0, 0x16]),
            "fd00::1".parse::<std::net::Ipv6Addr>().unwrap(),
            "ff02::16".parse::<std::net::Ipv6Addr>().unwrap(),
        );
        assert!(!from_router(&f.icmp(143, 0, 0, &[]), mac));
        assert!(from_router(
            &f.icmp(icmpv6::types::ECHO_REQUEST, 0, 0, &[]),
            mac
        ));
        assert!(!from_router(&f.icmp(128, 0, 0, &[]), host_mac(0)));
    }
}
