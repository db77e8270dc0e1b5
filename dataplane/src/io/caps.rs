//! Least privilege: once the daemon has attached, it keeps only the
//! capabilities running needs and drops the rest, from the effective,
//! permitted and inheritable sets (`capset(2)`, version 3), the bounding
//! set (`PR_CAPBSET_DROP`) and the ambient set (`PR_CAP_AMBIENT_CLEAR_ALL`),
//! as `capabilities(7)` describes. Capabilities are per thread: call
//! [`keep_only`] before any other thread is spawned, so every thread
//! inherits the reduced sets.
//!
//! Which ones running needs ([`RUNNING`], found by testing in the lab,
//! `control/tests/privilege.rs`):
//!
//! | capability      | for                                                          |
//! |-----------------|--------------------------------------------------------------|
//! | CAP_NET_ADMIN   | addresses and host routes on the TAPs (`sluice apply`), XDP attach/detach when a port is reopened or closed |
//! | CAP_NET_RAW     | a new AF_XDP socket (a port reopened on a re-created interface) |
//! | CAP_SYS_ADMIN   | libxdp: loading its program and map for a reopened port, and looking programs up by id (`BPF_PROG_GET_FD_BY_ID`, which CAP_BPF does not allow) when it attaches and detaches |
//!
//! CAP_BPF is not kept: CAP_SYS_ADMIN, needed anyway, covers what it
//! allows (the kernel's `bpf_capable()`), and the daemon is tested to
//! start and run without it. Dropped, among others: CAP_IPC_LOCK (the
//! UMEM is registered before), CAP_SETPCAP (used for this very drop),
//! CAP_SYS_NICE, CAP_DAC_OVERRIDE, CAP_SYS_MODULE, CAP_SYS_PTRACE,
//! CAP_SETUID/SETGID, CAP_CHOWN.

use std::io;

pub const CAP_DAC_OVERRIDE: u32 = 1;
pub const CAP_NET_ADMIN: u32 = 12;
pub const CAP_NET_RAW: u32 = 13;
pub const CAP_IPC_LOCK: u32 = 14;
pub const CAP_SYS_ADMIN: u32 = 21;
pub const CAP_BPF: u32 = 39;

/// What the running daemon keeps.
pub const RUNNING: [u32; 3] = [CAP_NET_ADMIN, CAP_NET_RAW, CAP_SYS_ADMIN];

/// `_LINUX_CAPABILITY_VERSION_3`.
const VERSION_3: u32 = 0x2008_0522;

#[repr(C)]
struct Header {
    version: u32,
    pid: i32,
}

#[repr(C)]
#[derive(Clone, Copy, Default)]
struct Data {
    effective: u32,
    permitted: u32,
    inheritable: u32,
}

/// The highest capability this kernel knows
/// (`/proc/sys/kernel/cap_last_cap`; 40 when it cannot be read).
fn last_cap() -> u32 {
    std::fs::read_to_string("/proc/sys/kernel/cap_last_cap")
        .ok()
        .and_then(|s| s.trim().parse().ok())
        .unwrap_or(40)
}

/// The capability's name as `capabilities(7)` spells it, for messages.
pub fn name(cap: u32) -> &'static str {
    match cap {
        CAP_DAC_OVERRIDE => "CAP_DAC_OVERRIDE",
        CAP_NET_ADMIN => "CAP_NET_ADMIN",
        CAP_NET_RAW => "CAP_NET_RAW",
        CAP_IPC_LOCK => "CAP_IPC_LOCK",
        CAP_SYS_ADMIN => "CAP_SYS_ADMIN",
        CAP_BPF => "CAP_BPF",
        _ => "another capability",
    }
}

/// Keeps only `keep` in the calling thread's effective and permitted
/// sets (inheritable and ambient emptied) and in the bounding set.
/// A capability in `keep` the thread does not have stays absent.
#[allow(unsafe_code)]
pub fn keep_only(keep: &[u32]) -> io::Result<()> {
    let last = last_cap();
    for cap in 0..=last {
        if keep.contains(&cap) {
            continue;
        }
        // SAFETY: prctl with integer arguments only; no memory is passed.
        let r = unsafe { libc::prctl(libc::PR_CAPBSET_DROP, cap as libc::c_ulong, 0, 0, 0) };
        // EINVAL: a capability this kernel does not have.
        if r != 0 && io::Error::last_os_error().raw_os_error() != Some(libc::EINVAL) {
            return Err(io::Error::last_os_error());
        }
    }
    // SAFETY: as above.
    let r = unsafe {
        libc::prctl(
            libc::PR_CAP_AMBIENT,
            libc::PR_CAP_AMBIENT_CLEAR_ALL as libc::c_ulong,
            0,
            0,
            0,
        )
    };
    if r != 0 && io::Error::last_os_error().raw_os_error() != Some(libc::EINVAL) {
        return Err(io::Error::last_os_error());
    }
    let mut hdr = Header {
        version: VERSION_3,
        pid: 0,
    };
    let mut now = [Data::default(); 2];
    // SAFETY: `hdr` and `now` are live, correctly laid out (`repr(C)`,
    // version 3 takes two data structs) and only written by the kernel.
    let r = unsafe { libc::syscall(libc::SYS_capget, &mut hdr as *mut Header, now.as_mut_ptr()) };
    if r != 0 {
        return Err(io::Error::last_os_error());
    }
    let mut want = [Data::default(); 2];
    for &cap in keep {
        let (i, bit) = ((cap / 32) as usize, 1u32 << (cap % 32));
        if let (Some(w), Some(n)) = (want.get_mut(i), now.get(i)) {
            w.permitted |= n.permitted & bit;
            w.effective |= n.permitted & bit;
        }
    }
    hdr.version = VERSION_3;
    // SAFETY: as for capget; the kernel only reads `want`.
    let r = unsafe { libc::syscall(libc::SYS_capset, &mut hdr as *mut Header, want.as_ptr()) };
    if r != 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_and_the_running_set() {
        assert_eq!(name(CAP_BPF), "CAP_BPF");
        assert!(RUNNING.contains(&CAP_NET_ADMIN));
        assert!(!RUNNING.contains(&CAP_BPF));
        assert!(!RUNNING.contains(&CAP_IPC_LOCK));
        assert!(!RUNNING.contains(&CAP_DAC_OVERRIDE));
    }
}
