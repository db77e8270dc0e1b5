//! IFF_ALLMULTI on the interfaces the sockets are bound to.
//!
//! The kernel joins the solicited-node group of every IPv6 address an
//! interface holds (`ipv6_dev_mc_inc` → the NIC's multicast filter), so a
//! neighbour solicitation for the address reaches it. sluice holds its
//! addresses in userspace and the host holds none of them on the NIC, so a
//! NIC that filters multicast (virtio-net, most hardware) would drop the
//! solicitations before XDP sees them: nobody could resolve the box's IPv6
//! addresses. Opening a port turns IFF_ALLMULTI on (`ip link set IF
//! allmulticast on`) unless it is on already, and the last of the
//! process's sockets on that interface to close turns it off again — only
//! where this process turned it on, so an operator's own setting stays.
//! Multicast beyond ND that arrives so is what any host on the segment
//! sees; the pipeline treats it as it treats the rest.
//!
//! Per interface index, so an interface deleted and created again under
//! the same name is a new one. Taken once per port open and close, never on
//! a frame's path.

use std::io;
use std::sync::Mutex;

use super::XskError;

/// (ifindex, sockets of this process on it) of the interfaces whose
/// IFF_ALLMULTI this process turned on.
static HELD: Mutex<Vec<(u32, usize)>> = Mutex::new(Vec::new());

/// A socket on `ifname` (index `ifindex`) opens: IFF_ALLMULTI on.
/// `Ok(true)` when this process holds the flag (so [`release`] must be
/// called when the socket closes), `Ok(false)` when it was on already.
pub(super) fn hold(ifname: &str, ifindex: u32) -> Result<bool, XskError> {
    let mut held = HELD
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    if let Some(e) = held.iter_mut().find(|e| e.0 == ifindex) {
        e.1 += 1;
        return Ok(true);
    }
    let err = |what: &'static str| {
        move |source: io::Error| XskError::Sys {
            ifname: ifname.to_string(),
            what,
            source,
        }
    };
    let flags = get_flags(ifname).map_err(err("reading the interface flags (SIOCGIFFLAGS)"))?;
    if flags & IFF_ALLMULTI != 0 {
        return Ok(false);
    }
    set_flags(ifname, flags | IFF_ALLMULTI)
        .map_err(err("setting allmulticast (SIOCSIFFLAGS IFF_ALLMULTI)"))?;
    held.push((ifindex, 1));
    Ok(true)
}

/// A socket that [`hold`] counted closes; the last one turns the flag
/// off, if the interface still exists (a failure then is left alone: the
/// interface is going or gone).
pub(super) fn release(ifname: &str, ifindex: u32) {
    let mut held = HELD
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    let Some(i) = held.iter().position(|e| e.0 == ifindex) else {
        return;
    };
    held[i].1 -= 1;
    if held[i].1 > 0 {
        return;
    }
    held.swap_remove(i);
    if super::ifindex(ifname).ok() == Some(ifindex) {
        if let Ok(flags) = get_flags(ifname) {
            let _ = set_flags(ifname, flags & !IFF_ALLMULTI);
        }
    }
}

const IFF_ALLMULTI: i16 = nix::libc::IFF_ALLMULTI as i16;

fn ifreq(ifname: &str) -> io::Result<nix::libc::ifreq> {
    let b = ifname.as_bytes();
    // SAFETY: `ifreq` is plain old data; all zeroes is a valid value.
    #[allow(unsafe_code)]
    let mut r: nix::libc::ifreq = unsafe { std::mem::zeroed() };
    if b.is_empty() || b.len() >= r.ifr_name.len() {
        return Err(io::Error::from_raw_os_error(nix::libc::ENODEV));
    }
    for (d, s) in r.ifr_name.iter_mut().zip(b) {
        *d = *s as nix::libc::c_char;
    }
    Ok(r)
}

/// `ioctl(fd, req, &ifreq)` on a throw-away datagram socket.
fn ioctl(req: nix::libc::Ioctl, r: &mut nix::libc::ifreq) -> io::Result<()> {
    use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
    // SAFETY: socket(2) returns a new fd or -1; OwnedFd closes it.
    #[allow(unsafe_code)]
    let fd = unsafe {
        let fd = nix::libc::socket(
            nix::libc::AF_INET,
            nix::libc::SOCK_DGRAM | nix::libc::SOCK_CLOEXEC,
            0,
        );
        if fd < 0 {
            return Err(io::Error::last_os_error());
        }
        OwnedFd::from_raw_fd(fd)
    };
    // SAFETY: `r` is a valid, NUL-terminated `ifreq` the kernel reads and
    // (for a get) writes within its size.
    #[allow(unsafe_code)]
    let rc = unsafe { nix::libc::ioctl(fd.as_raw_fd(), req, r as *mut nix::libc::ifreq) };
    if rc < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

fn get_flags(ifname: &str) -> io::Result<i16> {
    let mut r = ifreq(ifname)?;
    ioctl(nix::libc::SIOCGIFFLAGS, &mut r)?;
    // SAFETY: SIOCGIFFLAGS fills the `ifru_flags` member of the union.
    #[allow(unsafe_code)]
    Ok(unsafe { r.ifr_ifru.ifru_flags })
}

fn set_flags(ifname: &str, flags: i16) -> io::Result<()> {
    let mut r = ifreq(ifname)?;
    r.ifr_ifru.ifru_flags = flags;
    ioctl(nix::libc::SIOCSIFFLAGS, &mut r)
}
