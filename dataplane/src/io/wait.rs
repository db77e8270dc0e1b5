//! Sleeping until a port has work: `poll(2)` on the ports' file
//! descriptors, for a worker's idle back-off. Called only after a run of
//! empty poll turns, never per packet.

use std::os::fd::RawFd;

/// The most descriptors one wait watches (ports and TAP queues of a
/// worker); more are not watched, the timeout still wakes the worker.
pub const MAX_WAIT_FDS: usize = 64;

/// Sleeps until one of `fds` is readable or `timeout_ms` passed (an
/// interrupted wait returns early, as a timeout does). Returns whether a
/// descriptor is readable. With no descriptors it just sleeps.
#[allow(unsafe_code)]
pub fn wait_readable(fds: &[RawFd], timeout_ms: i32) -> bool {
    let mut set = [libc::pollfd {
        fd: -1,
        events: 0,
        revents: 0,
    }; MAX_WAIT_FDS];
    let n = fds.len().min(MAX_WAIT_FDS);
    for (slot, &fd) in set.iter_mut().zip(&fds[..n]) {
        slot.fd = fd;
        slot.events = libc::POLLIN;
    }
    // SAFETY: `set` is a live array of `MAX_WAIT_FDS` initialised pollfd
    // structs and `n <= MAX_WAIT_FDS`; poll(2) writes only their `revents`.
    // The descriptors need not stay open: a closed one reports POLLNVAL.
    let r = unsafe { libc::poll(set.as_mut_ptr(), n as libc::nfds_t, timeout_ms) };
    r > 0
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;
    use std::os::fd::AsRawFd;
    use std::os::unix::net::UnixStream;
    use std::time::{Duration, Instant};

    #[test]
    fn wakes_on_data_and_times_out_without() {
        let (mut a, b) = UnixStream::pair().unwrap();
        let t = Instant::now();
        assert!(!wait_readable(&[b.as_raw_fd()], 20));
        assert!(t.elapsed() >= Duration::from_millis(15));
        a.write_all(b"x").unwrap();
        assert!(wait_readable(&[b.as_raw_fd()], 5000));
        assert!(!wait_readable(&[], 1));
    }
}
