//! Connection tracking (`nf_conntrack`): one flow table shard per worker,
//! run at the conntrack points of PREROUTING and OUTPUT (priority −200)
//! and confirmed at the end of INPUT and POSTROUTING
//! ([`crate::pipeline::hooks`]).
//!
//! **Not built yet** (the conntrack issue): the shard holds no entries and
//! its points leave every packet UNTRACKED, as after `-j CT --notrack`,
//! which is what sluice did before this module existed. What is fixed
//! here is where it plugs in: the shard lives in the worker's
//! [`WorkerState`](crate::pipeline::WorkerState), sized once from
//! `[dataplane] conntrack_max`, and the pipeline hands it each batch at
//! its points, so `--ctstate` matches, CONNMARK, NAT targets and confirm
//! will all see the same entry through the packet's conntrack slot
//! ([`crate::packet::CtState`]).

pub mod tcp;
pub mod tuple;

use crate::packet::Batch;

/// One worker's flow table (empty until conntrack is built).
#[derive(Debug, Clone)]
pub struct Shard {
    max: usize,
}

impl Shard {
    /// A shard for at most `max` entries.
    pub fn new(max: usize) -> Shard {
        Shard { max }
    }

    /// The most entries the shard holds.
    pub fn max(&self) -> usize {
        self.max
    }

    /// Entries now (none yet).
    pub fn len(&self) -> usize {
        0
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// `nf_conntrack_in` for the packets of `batch`: today every packet
    /// stays UNTRACKED (its slot as `load` left it).
    #[inline]
    pub fn input(&mut self, _batch: &mut Batch<'_>) {}

    /// `nf_confirm` for the packets of `batch` that made it through: today
    /// nothing to confirm.
    #[inline]
    pub fn confirm(&mut self, _batch: &mut Batch<'_>) {}
}
