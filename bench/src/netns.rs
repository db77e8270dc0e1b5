//! Network namespaces and veth pairs for the kernel side of the
//! differential tests and for the lab.
//!
//! Owns: namespaces named `sluice-kd-<pid>-<n>` (the pid of the process
//! that made them, a per-process counter), created with `ip netns add` and
//! deleted with `ip netns delete` when their [`Netns`] guard drops — also
//! while a failing test unwinds. A run that was killed cannot drop its
//! guards: the first namespace a later process creates sweeps every
//! `sluice-kd-` namespace whose pid no longer exists ([`sweep_stale`]).
//!
//! Touches only namespaces it made: the commands run with `ip -n NAME` or
//! `ip netns exec NAME`, never in the caller's namespace, and veth pairs are
//! created directly in their namespaces (`ip link add ... netns`), so no
//! interface name is ever taken in the caller's namespace.

use std::io::Write as _;
use std::net::IpAddr;
use std::path::PathBuf;
use std::process::{Command, Output, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Once;

use ipnet::IpNet;

use crate::frames::MacAddr;

/// The prefix of every namespace this module creates.
pub const PREFIX: &str = "sluice-kd-";

static SEQ: AtomicUsize = AtomicUsize::new(0);
static SWEEP: Once = Once::new();

/// A network namespace, deleted on drop.
#[derive(Debug)]
pub struct Netns {
    name: String,
}

impl Netns {
    /// Creates `sluice-kd-<pid>-<n>`. The first call in a process sweeps
    /// namespaces left by dead processes first.
    pub fn new() -> Result<Netns, String> {
        SWEEP.call_once(|| {
            sweep_stale();
        });
        let name = format!(
            "{PREFIX}{}-{}",
            std::process::id(),
            SEQ.fetch_add(1, Ordering::Relaxed)
        );
        run_checked(Command::new("ip").args(["netns", "add", &name]), None)?;
        let ns = Netns { name };
        // Loopback up, as on any host; it sends nothing onto the veths.
        ns.ip(&["link", "set", "lo", "up"])?;
        Ok(ns)
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    /// The bind mount `ip netns` keeps the namespace alive with (what
    /// `setns(2)` takes).
    pub fn path(&self) -> PathBuf {
        PathBuf::from("/run/netns").join(&self.name)
    }

    /// Runs `argv` inside the namespace (`ip netns exec NAME argv...`) and
    /// returns its output whatever its exit status. `Err` only when it
    /// cannot be started.
    pub fn exec(&self, argv: &[&str]) -> Result<Output, String> {
        self.exec_stdin(argv, None)
    }

    /// [`Netns::exec`] with `input` on stdin.
    pub fn exec_stdin(&self, argv: &[&str], input: Option<&str>) -> Result<Output, String> {
        run(&mut self.command(argv), input)
    }

    /// Runs `argv` inside the namespace; its stdout when it exits 0, else an
    /// error naming the command, the namespace and its stderr.
    pub fn run(&self, argv: &[&str]) -> Result<String, String> {
        self.run_stdin(argv, None)
    }

    /// [`Netns::run`] with `input` on stdin.
    pub fn run_stdin(&self, argv: &[&str], input: Option<&str>) -> Result<String, String> {
        run_checked(&mut self.command(argv), input)
    }

    /// `ip netns exec NAME argv...`, not started.
    fn command(&self, argv: &[&str]) -> Command {
        let mut cmd = Command::new("ip");
        cmd.args(["netns", "exec", &self.name]).args(argv);
        cmd
    }

    /// `ip -n NAME args...` (cheaper than `exec`: no mount namespace).
    pub fn ip(&self, args: &[&str]) -> Result<String, String> {
        run_checked(Command::new("ip").args(["-n", &self.name]).args(args), None)
    }

    /// Runs `script`, one `ip` command a line, in one process: `ip -n NAME
    /// flags... -force -batch -` with the script on stdin. `-force` goes on
    /// past a failing line; each failure is reported on stderr as the
    /// command's error message followed by `Command failed -:LINE`. Returns
    /// the output whatever the exit status; `Err` only when `ip` cannot be
    /// started.
    pub fn batch(&self, flags: &[&str], script: &str) -> Result<Output, String> {
        run(
            Command::new("ip")
                .args(["-n", &self.name])
                .args(flags)
                .args(["-force", "-batch", "-"]),
            Some(script),
        )
    }

    /// Sets sysctls (`net.ipv4.ip_forward=1`, ...) in one `sysctl -w` run.
    pub fn sysctl(&self, settings: &[(&str, &str)]) -> Result<(), String> {
        if settings.is_empty() {
            return Ok(());
        }
        let args: Vec<String> = settings.iter().map(|(k, v)| format!("{k}={v}")).collect();
        let mut argv = vec!["sysctl", "-q", "-w"];
        argv.extend(args.iter().map(String::as_str));
        self.run(&argv).map(drop)
    }

    /// Turns transmit checksum offload off on `dev` (`ethtool -K DEV tx
    /// off`): frames the namespace's stack sends then carry complete
    /// checksums, as frames from a real wire do, not veth's partial ones.
    pub fn tx_offload_off(&self, dev: &str) -> Result<(), String> {
        self.run(&["ethtool", "-K", dev, "tx", "off"]).map(drop)
    }

    /// Adds the IPv4 / IPv6 address `addr` to `dev` (IPv6 without DAD, so
    /// it is usable at once and no solicitation is sent).
    pub fn add_address(&self, dev: &str, addr: &IpNet) -> Result<(), String> {
        let a = addr.to_string();
        let mut args = vec!["addr", "add", a.as_str(), "dev", dev];
        if matches!(addr, IpNet::V6(_)) {
            args.push("nodad");
        }
        self.ip(&args).map(drop)
    }

    /// A permanent neighbour entry: `ip neigh replace IP lladdr MAC dev DEV
    /// nud permanent`. The stack then never resolves `ip` (no ARP, no NS).
    pub fn add_neighbour(&self, dev: &str, ip: IpAddr, mac: MacAddr) -> Result<(), String> {
        self.ip(&[
            "neigh",
            "replace",
            &ip.to_string(),
            "lladdr",
            &mac.to_string(),
            "dev",
            dev,
            "nud",
            "permanent",
        ])
        .map(drop)
    }

    /// Brings `dev` up.
    pub fn link_up(&self, dev: &str) -> Result<(), String> {
        self.ip(&["link", "set", dev, "up"]).map(drop)
    }
}

impl Drop for Netns {
    fn drop(&mut self) {
        let out = Command::new("ip")
            .args(["netns", "delete", &self.name])
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .output();
        match out {
            Ok(o) if o.status.success() => {}
            Ok(o) => eprintln!(
                "warning: ip netns delete {}: {}",
                self.name,
                String::from_utf8_lossy(&o.stderr).trim()
            ),
            Err(e) => eprintln!("warning: ip netns delete {}: {e}", self.name),
        }
    }
}

/// One end of a veth pair: its namespace, name, MAC and MTU.
#[derive(Debug, Clone, Copy)]
pub struct VethEnd<'a> {
    pub ns: &'a Netns,
    pub name: &'a str,
    pub mac: MacAddr,
    pub mtu: u16,
}

/// Creates a veth pair from `a` to `b`, each end created directly in its
/// namespace with its name, MAC and MTU, both left down (set per-interface
/// sysctls, then [`Netns::link_up`]). Four RX and TX queues each, so that
/// AF_XDP can later bind more than one queue.
pub fn veth_pair(a: &VethEnd<'_>, b: &VethEnd<'_>) -> Result<(), String> {
    let (a_mac, b_mac) = (a.mac.to_string(), b.mac.to_string());
    let (a_mtu, b_mtu) = (a.mtu.to_string(), b.mtu.to_string());
    a.ns.ip(&[
        "link",
        "add",
        a.name,
        "address",
        &a_mac,
        "mtu",
        &a_mtu,
        "numtxqueues",
        "4",
        "numrxqueues",
        "4",
        "type",
        "veth",
        "peer",
        "name",
        b.name,
        "address",
        &b_mac,
        "mtu",
        &b_mtu,
        "numtxqueues",
        "4",
        "numrxqueues",
        "4",
        "netns",
        b.ns.name(),
    ])
    .map(drop)
}

/// Deletes every `sluice-kd-<pid>-<n>` namespace whose process no longer
/// exists; returns how many. A namespace of a live process (this one or a
/// test running in parallel) is never touched.
pub fn sweep_stale() -> usize {
    let Ok(out) = Command::new("ip").args(["netns", "list"]).output() else {
        return 0;
    };
    let mut swept = 0;
    for line in String::from_utf8_lossy(&out.stdout).lines() {
        // `NAME` or `NAME (id: N)`.
        let Some(name) = line.split_whitespace().next() else {
            continue;
        };
        let Some(pid) = stale_pid(name) else {
            continue;
        };
        if std::path::Path::new(&format!("/proc/{pid}")).exists() {
            continue;
        }
        let ok = Command::new("ip")
            .args(["netns", "delete", name])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success());
        swept += usize::from(ok);
    }
    swept
}

/// The pid in `sluice-kd-<pid>-<n>`, if `name` has that shape.
fn stale_pid(name: &str) -> Option<u32> {
    let rest = name.strip_prefix(PREFIX)?;
    let (pid, n) = rest.split_once('-')?;
    n.parse::<usize>().ok()?;
    pid.parse().ok()
}

/// Runs `cmd` with `input` on stdin (if any), collecting its output.
pub(crate) fn run(cmd: &mut Command, input: Option<&str>) -> Result<Output, String> {
    let mut child = cmd
        .stdin(if input.is_some() {
            Stdio::piped()
        } else {
            Stdio::null()
        })
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| format!("cannot run {}: {e}", show(cmd)))?;
    if let Some(text) = input {
        let mut stdin = child.stdin.take().expect("stdin is piped");
        // A command that fails early may close its stdin: its status says
        // what went wrong.
        let _ = stdin.write_all(text.as_bytes());
    }
    child
        .wait_with_output()
        .map_err(|e| format!("cannot wait for {}: {e}", show(cmd)))
}

/// [`run`], then stdout on success or an error with the command and its
/// stderr.
pub(crate) fn run_checked(cmd: &mut Command, input: Option<&str>) -> Result<String, String> {
    let out = run(cmd, input)?;
    if out.status.success() {
        Ok(String::from_utf8_lossy(&out.stdout).into_owned())
    } else {
        Err(format!(
            "`{}` failed ({}): {}",
            show(cmd),
            out.status,
            String::from_utf8_lossy(&out.stderr).trim()
        ))
    }
}

/// A command line for messages.
fn show(cmd: &Command) -> String {
    std::iter::once(cmd.get_program())
        .chain(cmd.get_args())
        .map(|a| a.to_string_lossy().into_owned())
        .collect::<Vec<_>>()
        .join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stale_names() {
        assert_eq!(stale_pid("sluice-kd-123-4"), Some(123));
        assert_eq!(stale_pid("sluice-kd-123"), None);
        assert_eq!(stale_pid("sluice-kd-x-1"), None);
        assert_eq!(stale_pid("sluice-test-123-4"), None);
        assert_eq!(stale_pid("sluice-kd-1-2-3"), None);
    }
}
