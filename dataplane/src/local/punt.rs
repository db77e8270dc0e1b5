//! The punt queue: frames for the host stack, bounded. The worker drains
//! it each poll turn into the TAP (`sl-<ifname>`, [`crate::io::tap`]) of
//! each frame's ingress port (`local.tap_tx`, `local.tap_full`,
//! `local.tap_error`); a worker without TAPs leaves the frames here for
//! its owner to take (the tests do). When full, the pipeline drops what
//! would not fit (`local.punt_full`).

use std::collections::VecDeque;

use crate::io::PortId;
use crate::io::{Desc, Umem};

/// A frame for the host stack and the port it came in on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Punted {
    pub desc: Desc,
    pub iif: PortId,
}

/// See the module docs.
#[derive(Debug)]
pub struct PuntQueue {
    q: VecDeque<Punted>,
    cap: usize,
}

impl PuntQueue {
    pub fn new(capacity: usize) -> PuntQueue {
        PuntQueue {
            q: VecDeque::with_capacity(capacity),
            cap: capacity,
        }
    }

    /// `false` when full (the frame stays the caller's).
    pub fn push(&mut self, desc: Desc, iif: PortId) -> bool {
        if self.q.len() >= self.cap {
            return false;
        }
        self.q.push_back(Punted { desc, iif });
        true
    }

    /// The oldest frame; it is the caller's from here.
    pub fn pop(&mut self) -> Option<Punted> {
        self.q.pop_front()
    }

    pub fn len(&self) -> usize {
        self.q.len()
    }

    pub fn is_empty(&self) -> bool {
        self.q.is_empty()
    }

    /// The queued frames' bytes with their ingress port; the frames go back
    /// to `umem`.
    pub fn take_all(&mut self, umem: &mut Umem) -> Vec<(PortId, Vec<u8>)> {
        let mut out = Vec::with_capacity(self.q.len());
        while let Some(p) = self.q.pop_front() {
            out.push((p.iif, umem.bytes(p.desc).to_vec()));
            umem.free(p.desc);
        }
        out
    }
}
