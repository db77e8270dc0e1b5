//! The in-memory port: a [`Port`] whose "wire" is two bounded queues of
//! descriptors. Tests push frames in ([`MemPort::inject`], which copies the
//! bytes into a fresh UMEM chunk as a NIC's DMA would) and collect what the
//! pipeline transmitted ([`MemPort::take_sent`]). Benches set
//! [`MemPort::set_recycle`] so transmitted frames go straight back to the
//! free list at the next [`Port::poll`], as TX completions do.
//!
//! Both rings are allocated once with their capacity; [`Port::tx`] takes a
//! prefix of what it is offered when its ring fills, like an AF_XDP TX ring.

use std::collections::VecDeque;

use super::{Desc, Port, Umem};

/// Counters of one in-memory port.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct MemPortStats {
    pub rx: u64,
    pub tx: u64,
    /// Frames [`Port::tx`] refused because the TX ring was full.
    pub tx_ring_full: u64,
    /// Frames [`MemPort::inject`] refused (RX ring full or no free chunk).
    pub rx_dropped: u64,
}

/// See the module docs.
#[derive(Debug)]
pub struct MemPort {
    rx: VecDeque<Desc>,
    sent: VecDeque<Desc>,
    rx_cap: usize,
    tx_cap: usize,
    recycle: bool,
    stats: MemPortStats,
}

impl MemPort {
    /// A port with RX and TX rings of `ring_size` descriptors.
    pub fn new(ring_size: usize) -> MemPort {
        MemPort {
            rx: VecDeque::with_capacity(ring_size),
            sent: VecDeque::with_capacity(ring_size),
            rx_cap: ring_size,
            tx_cap: ring_size,
            recycle: false,
            stats: MemPortStats::default(),
        }
    }

    /// Shrinks the TX ring (at most its initial size), to test a full ring.
    pub fn set_tx_capacity(&mut self, n: usize) {
        self.tx_cap = n.min(self.sent.capacity());
    }

    /// Frees transmitted frames at [`Port::poll`] instead of keeping them
    /// for [`MemPort::take_sent`].
    pub fn set_recycle(&mut self, on: bool) {
        self.recycle = on;
    }

    pub fn stats(&self) -> MemPortStats {
        self.stats
    }

    /// Copies `frame` into a free chunk and queues it for RX; `false` when
    /// the RX ring is full, no chunk is free or the frame does not fit.
    pub fn inject(&mut self, umem: &mut Umem, frame: &[u8]) -> bool {
        if self.rx.len() >= self.rx_cap {
            self.stats.rx_dropped += 1;
            return false;
        }
        let Some(mut d) = umem.alloc() else {
            self.stats.rx_dropped += 1;
            return false;
        };
        if !umem.set_len(&mut d, frame.len()) {
            umem.free_chunk(d);
            self.stats.rx_dropped += 1;
            return false;
        }
        umem.bytes_mut(d).copy_from_slice(frame);
        self.rx.push_back(d);
        true
    }

    /// Queues an already filled frame for RX (benches refill chunks
    /// themselves); `false` when the ring is full (the frame stays the
    /// caller's).
    #[inline]
    pub fn inject_desc(&mut self, d: Desc) -> bool {
        if self.rx.len() >= self.rx_cap {
            return false;
        }
        self.rx.push_back(d);
        true
    }

    /// Frames waiting for RX.
    pub fn rx_pending(&self) -> usize {
        self.rx.len()
    }

    /// Frames transmitted and not yet collected.
    pub fn sent_len(&self) -> usize {
        self.sent.len()
    }

    /// The transmitted frames' bytes, oldest first; their chunks go back to
    /// `umem`.
    pub fn take_sent(&mut self, umem: &mut Umem) -> Vec<Vec<u8>> {
        let mut out = Vec::with_capacity(self.sent.len());
        while let Some(d) = self.sent.pop_front() {
            out.push(umem.bytes(d).to_vec());
            umem.free_chunk(d);
        }
        out
    }

    /// Returns every frame still held (RX queue and sent frames) to `umem`.
    pub fn drain(&mut self, umem: &mut Umem) {
        for d in self.rx.drain(..).chain(self.sent.drain(..)) {
            umem.free_chunk(d);
        }
    }
}

impl Port for MemPort {
    fn held(&self) -> usize {
        self.sent_len()
    }

    fn counters(&mut self, _kernel: bool) -> super::PortCounters {
        super::PortCounters {
            rx: self.stats.rx,
            tx: self.stats.tx,
            rx_dropped: self.stats.rx_dropped,
            tx_ring_full: self.stats.tx_ring_full,
            ..Default::default()
        }
    }

    fn rx(&mut self, _umem: &mut Umem, out: &mut [Desc]) -> usize {
        // The ring's two halves copied out, as a descriptor ring is read.
        let n = out.len().min(self.rx.len());
        let (a, b) = self.rx.as_slices();
        let k = n.min(a.len());
        out[..k].copy_from_slice(&a[..k]);
        out[k..n].copy_from_slice(&b[..n - k]);
        self.rx.drain(..n);
        self.stats.rx += n as u64;
        n
    }

    fn tx(&mut self, _umem: &mut Umem, frames: &[Desc]) -> usize {
        let room = self.tx_cap.saturating_sub(self.sent.len());
        let n = frames.len().min(room);
        self.sent.extend(&frames[..n]);
        self.stats.tx += n as u64;
        self.stats.tx_ring_full += (frames.len() - n) as u64;
        n
    }

    fn poll(&mut self, umem: &mut Umem) {
        if self.recycle {
            let (a, b) = self.sent.as_slices();
            umem.free_slice(a);
            umem.free_slice(b);
            self.sent.clear();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn inject_rx_tx_collect() {
        let mut u = Umem::new(8, 2048);
        let mut p = MemPort::new(4);
        assert!(p.inject(&mut u, &[1, 2, 3]));
        assert!(p.inject(&mut u, &[4, 5]));
        let mut out = [Desc::default(); 8];
        assert_eq!(p.rx(&mut u, &mut out), 2);
        assert_eq!(u.bytes(out[0]), &[1, 2, 3]);
        assert_eq!(p.tx(&mut u, &out[..2]), 2);
        assert_eq!(p.take_sent(&mut u), vec![vec![1, 2, 3], vec![4, 5]]);
        assert_eq!(u.free_count(), 8);
        assert!(!p.inject(&mut u, &[0; 3000]));
        assert_eq!(u.free_count(), 8);
    }

    #[test]
    fn full_rings_and_recycle() {
        let mut u = Umem::new(8, 2048);
        let mut p = MemPort::new(4);
        p.set_tx_capacity(1);
        let a = u.alloc().unwrap();
        let b = u.alloc().unwrap();
        assert_eq!(p.tx(&mut u, &[a, b]), 1);
        assert_eq!(p.stats().tx_ring_full, 1);
        p.set_recycle(true);
        p.poll(&mut u);
        u.free(b);
        assert_eq!(u.free_count(), 8);
        for _ in 0..4 {
            assert!(p.inject(&mut u, &[0]));
        }
        assert!(!p.inject(&mut u, &[0]));
        p.drain(&mut u);
        assert_eq!(u.free_count(), 8);
    }
}
