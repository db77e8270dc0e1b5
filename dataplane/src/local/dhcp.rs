//! The DHCPv4 client's link to the workers (`address = ["dhcp"]`): the
//! dataplane's side of what a `dhclient` packet socket is in the kernel.
//!
//! - Received: an IPv4 UDP datagram from port 67 to port 68, unfragmented,
//!   on a port whose address comes from DHCP ([`crate::net::PortConf::dhcp`]),
//!   to the port's MAC or broadcast, is taken before PREROUTING (a packet
//!   socket sees it before netfilter: no rule can drop the lease) and
//!   copied into one of [`SLOTS`] preallocated buffers for the client
//!   (`local.dhcp_rx`); no free buffer or a frame over [`FRAME`] bytes:
//!   dropped (`local.dhcp_full`). The client runs off the fast path, on a
//!   control-side thread (`sluice run`), and gives the buffer back.
//! - Sent: the client's frames (whole Ethernet frames, built by it) wait
//!   in the same kind of buffers; a worker takes them at the start of a
//!   poll turn, copies each into an arena frame and queues it on the port's
//!   TX as it is (`local.dhcp_tx`): no hook sees them, as no hook sees a
//!   packet socket's frames.
//!
//! Per packet the fast path pays one compare of the UDP destination port
//! (and, for port 68, of the source port and the port's flag); per poll
//! turn one atomic load of an empty queue. No allocation, lock or syscall:
//! the buffers are allocated once, the queues are lock-free.

use std::sync::Arc;

use crossbeam_queue::ArrayQueue;

use crate::io::PortId;

/// Longest frame the link carries (a DHCP message fits a 1500-byte MTU).
pub const FRAME: usize = 1536;
/// Buffers each way.
pub const SLOTS: usize = 16;

/// The DHCP client's UDP port (RFC 2131 §4.1).
pub const CLIENT_PORT: u16 = 68;
/// The DHCP server's UDP port.
pub const SERVER_PORT: u16 = 67;

type Buf = Box<[u8; FRAME]>;

/// A frame in a buffer of the link.
#[derive(Debug)]
pub struct Frame {
    pub port: PortId,
    len: u16,
    buf: Buf,
}

impl Frame {
    pub fn bytes(&self) -> &[u8] {
        &self.buf[..self.len as usize]
    }
}

/// One direction: frames, and the free buffers.
#[derive(Debug)]
struct Way {
    full: ArrayQueue<Frame>,
    free: ArrayQueue<Buf>,
}

impl Way {
    fn new() -> Way {
        let free = ArrayQueue::new(SLOTS);
        for _ in 0..SLOTS {
            let _ = free.push(Box::new([0u8; FRAME]));
        }
        Way {
            full: ArrayQueue::new(SLOTS),
            free,
        }
    }

    /// Copies `bytes` into a free buffer and queues it; `false` when no
    /// buffer is free or the frame is too long.
    fn put(&self, port: PortId, bytes: &[u8]) -> bool {
        if bytes.len() > FRAME {
            return false;
        }
        let Some(mut buf) = self.free.pop() else {
            return false;
        };
        buf[..bytes.len()].copy_from_slice(bytes);
        let f = Frame {
            port,
            len: bytes.len() as u16,
            buf,
        };
        match self.full.push(f) {
            Ok(()) => true,
            Err(f) => {
                let _ = self.free.push(f.buf);
                false
            }
        }
    }

    fn take(&self) -> Option<Frame> {
        self.full.pop()
    }

    fn give_back(&self, f: Frame) {
        let _ = self.free.push(f.buf);
    }
}

/// The two ways between the workers and the client; clones share them
/// (every worker holds one, the client another).
#[derive(Debug, Clone)]
pub struct DhcpLink {
    rx: Arc<Way>,
    tx: Arc<Way>,
}

impl Default for DhcpLink {
    fn default() -> Self {
        DhcpLink {
            rx: Arc::new(Way::new()),
            tx: Arc::new(Way::new()),
        }
    }
}

impl DhcpLink {
    /// A worker hands a received frame over; `false`: dropped.
    #[inline]
    pub fn received(&self, port: PortId, frame: &[u8]) -> bool {
        self.rx.put(port, frame)
    }

    /// The client's next received frame; give it back when done.
    pub fn recv(&self) -> Option<Frame> {
        self.rx.take()
    }

    /// The client is done with a received frame.
    pub fn done(&self, f: Frame) {
        self.rx.give_back(f)
    }

    /// The client queues a whole Ethernet frame to send out of `port`;
    /// `false`: no buffer free (the workers are not taking them) or too
    /// long.
    pub fn send(&self, port: PortId, frame: &[u8]) -> bool {
        self.tx.put(port, frame)
    }

    /// A worker takes the next frame to send; give it back once copied.
    #[inline]
    pub fn to_send(&self) -> Option<Frame> {
        self.tx.take()
    }

    /// A worker copied a frame to send.
    pub fn sent(&self, f: Frame) {
        self.tx.give_back(f)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frames_both_ways_bounded_and_recycled() {
        let link = DhcpLink::default();
        let worker = link.clone();
        for i in 0..SLOTS {
            assert!(worker.received(PortId(1), &[i as u8; 300]));
        }
        assert!(!worker.received(PortId(1), &[0; 300]), "all buffers taken");
        assert!(!worker.received(PortId(1), &[0; FRAME + 1]));
        let f = link.recv().unwrap();
        assert_eq!((f.port, f.bytes().len(), f.bytes()[0]), (PortId(1), 300, 0));
        link.done(f);
        assert!(worker.received(PortId(0), &[7; 64]), "a buffer came back");

        assert!(link.send(PortId(0), &[9; 342]));
        let f = worker.to_send().unwrap();
        assert_eq!(f.bytes(), &[9; 342][..]);
        worker.sent(f);
        assert!(worker.to_send().is_none());
    }
}
