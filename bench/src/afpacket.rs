//! Raw Ethernet frames in and out of one interface through an `AF_PACKET`
//! socket (packet(7)), without unsafe code: nix's wrappers for `socket`,
//! `bind`, `send`, `recvfrom`, `poll` and `setns`.
//!
//! A [`PacketSocket`] is bound to one interface of the network namespace
//! the calling thread is in when it is opened, and stays in that namespace
//! after the thread moves on ([`enter_netns`]): one process can hold a
//! socket on each host-side veth of a topology.
//!
//! What a socket sees: every frame that arrives on the interface (addressed
//! to it or not; packet types HOST, BROADCAST, MULTICAST, OTHERHOST), and
//! not the frames the interface transmits (OUTGOING: the namespace's own
//! stack, other sockets). Frames this socket sends are never looped back to
//! it (the kernel skips the sending socket).

use std::fs::File;
use std::os::fd::{AsFd, AsRawFd, OwnedFd};
use std::path::Path;
use std::time::{Duration, Instant};

use nix::errno::Errno;
use nix::ifaddrs::getifaddrs;
use nix::poll::{poll, PollFd, PollFlags, PollTimeout};
use nix::sched::{setns, CloneFlags};
use nix::sys::socket::{
    bind, recvfrom, send, socket, AddressFamily, LinkAddr, MsgFlags, SockFlag, SockProtocol,
    SockType,
};

/// `sll_pkttype` of a frame the interface transmitted (linux/if_packet.h).
const PACKET_OUTGOING: u8 = 4;

/// Moves the calling thread into the network namespace bound at `path`
/// (`/run/netns/NAME`). Needs CAP_SYS_ADMIN.
pub fn enter_netns(path: &Path) -> Result<(), String> {
    let file = File::open(path).map_err(|e| format!("cannot open {}: {e}", path.display()))?;
    setns(file.as_fd(), CloneFlags::CLONE_NEWNET)
        .map_err(|e| format!("setns({}): {e}", path.display()))
}

/// An `AF_PACKET` / `SOCK_RAW` / `ETH_P_ALL` socket bound to one interface,
/// non-blocking.
#[derive(Debug)]
pub struct PacketSocket {
    fd: OwnedFd,
    iface: String,
}

impl PacketSocket {
    /// Opens a socket on `iface` of the calling thread's network namespace
    /// and discards anything queued before the bind took effect (a socket
    /// hears every interface between `socket()` and `bind()`). Needs
    /// CAP_NET_RAW.
    pub fn open(iface: &str) -> Result<PacketSocket, String> {
        // getifaddrs lists one AF_PACKET entry per interface: a sockaddr_ll
        // with its index and protocol 0, which binds the socket to the
        // interface and keeps the socket's protocol (ETH_P_ALL).
        let link: LinkAddr = getifaddrs()
            .map_err(|e| format!("getifaddrs: {e}"))?
            .filter(|a| a.interface_name == iface)
            .find_map(|a| a.address.and_then(|s| s.as_link_addr().copied()))
            .ok_or_else(|| format!("no interface {iface:?} in this network namespace"))?;
        let fd = socket(
            AddressFamily::Packet,
            SockType::Raw,
            SockFlag::SOCK_NONBLOCK | SockFlag::SOCK_CLOEXEC,
            SockProtocol::EthAll,
        )
        .map_err(|e| format!("socket(AF_PACKET) for {iface}: {e}"))?;
        bind(fd.as_raw_fd(), &link).map_err(|e| format!("bind to {iface}: {e}"))?;
        let sock = PacketSocket {
            fd,
            iface: iface.to_string(),
        };
        let mut buf = vec![0u8; 65536];
        while sock.recv_any(&mut buf)?.is_some() {}
        Ok(sock)
    }

    pub fn iface(&self) -> &str {
        &self.iface
    }

    /// Transmits one whole Ethernet frame (header included) on the
    /// interface; waits up to a second for room in the send buffer.
    pub fn send(&self, frame: &[u8]) -> Result<(), String> {
        let deadline = Instant::now() + Duration::from_secs(1);
        loop {
            match send(self.fd.as_raw_fd(), frame, MsgFlags::empty()) {
                Ok(n) if n == frame.len() => return Ok(()),
                Ok(n) => return Err(format!("{}: sent {n} of {} bytes", self.iface, frame.len())),
                Err(Errno::EAGAIN) if Instant::now() < deadline => {
                    let mut fds = [PollFd::new(self.fd.as_fd(), PollFlags::POLLOUT)];
                    let _ = poll(&mut fds, PollTimeout::from(10u16));
                }
                Err(Errno::EINTR) => {}
                Err(e) => return Err(format!("send on {}: {e}", self.iface)),
            }
        }
    }

    /// The next frame that arrived on the interface, if one is queued (does
    /// not block); outgoing frames are skipped.
    pub fn try_recv(&self, buf: &mut [u8]) -> Result<Option<usize>, String> {
        loop {
            match self.recv_any(buf)? {
                Some((_, PACKET_OUTGOING)) => continue,
                Some((n, _)) => return Ok(Some(n)),
                None => return Ok(None),
            }
        }
    }

    /// Any queued frame with its packet type.
    fn recv_any(&self, buf: &mut [u8]) -> Result<Option<(usize, u8)>, String> {
        loop {
            match recvfrom::<LinkAddr>(self.fd.as_raw_fd(), buf) {
                Ok((n, addr)) => {
                    let pkttype = addr.map_or(0, |a| a.pkttype());
                    return Ok(Some((n, pkttype)));
                }
                Err(Errno::EAGAIN) => return Ok(None),
                Err(Errno::EINTR) => {}
                Err(e) => return Err(format!("recv on {}: {e}", self.iface)),
            }
        }
    }
}

/// Waits until one of `sockets` has a frame queued or `timeout` passes.
pub fn wait_readable(sockets: &[PacketSocket], timeout: Duration) -> Result<(), String> {
    let mut fds: Vec<PollFd<'_>> = sockets
        .iter()
        .map(|s| PollFd::new(s.fd.as_fd(), PollFlags::POLLIN))
        .collect();
    // Rounded up, so that a wait of less than a millisecond still waits.
    let ms = timeout.as_micros().div_ceil(1000).min(u128::from(u16::MAX)) as u16;
    match poll(&mut fds, PollTimeout::from(ms)) {
        Ok(_) | Err(Errno::EINTR) => Ok(()),
        Err(e) => Err(format!("poll: {e}")),
    }
}
