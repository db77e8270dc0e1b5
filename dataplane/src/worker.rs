//! The poll loop of one worker core: its ports, its frame arena and its
//! pipeline. [`Worker::poll`] is one turn: the snapshot swap if the
//! control side published a new one, each port's RX batch through the
//! pipeline, neighbour timers, TX flush, port housekeeping, and now and
//! then the counters published for readers. Pinning the thread to a core
//! and the AF_XDP wakeup policy come with the AF_XDP port.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Instant;

use arc_swap::ArcSwap;

use crate::io::{Desc, Port, PortId, Umem};
use crate::packet::{CounterBlock, BATCH};
use crate::pipeline::Pipeline;
use crate::snapshot::Snapshot;

/// Where the control side publishes the current [`Snapshot`] for every
/// worker. A worker compares the generation (one relaxed-acquire load of
/// a line that only changes on an apply) at the start of each poll turn
/// and takes the new snapshot then: a batch never sees two.
#[derive(Debug)]
pub struct SnapshotCell {
    current: ArcSwap<Snapshot>,
    generation: AtomicU64,
}

impl SnapshotCell {
    pub fn new(s: Arc<Snapshot>) -> SnapshotCell {
        let g = s.generation;
        SnapshotCell {
            current: ArcSwap::new(s),
            generation: AtomicU64::new(g),
        }
    }

    /// Publishes `s` (the control side).
    pub fn store(&self, s: Arc<Snapshot>) {
        let g = s.generation;
        self.current.store(s);
        self.generation.store(g, Ordering::Release);
    }

    /// The current snapshot.
    pub fn load(&self) -> Arc<Snapshot> {
        self.current.load_full()
    }

    /// The generation of the current snapshot.
    #[inline]
    pub fn generation(&self) -> u64 {
        self.generation.load(Ordering::Acquire)
    }
}

/// Poll turns between two publications of the counters.
const PUBLISH_EVERY: u32 = 16;

/// One worker: port `i` is `PortId(i)` of the pipeline's snapshot.
#[derive(Debug)]
pub struct Worker<P: Port> {
    pub umem: Umem,
    pub ports: Vec<P>,
    pub pipeline: Pipeline,
    rx: [Desc; BATCH],
    cell: Option<Arc<SnapshotCell>>,
    published: Arc<CounterBlock>,
    turns: u32,
    /// The control side's requests about the conntrack shard.
    ct: crate::conntrack::view::Channel,
    ct_service: crate::conntrack::view::Service,
}

/// Conntrack slab slots the worker looks at per turn for a control
/// request (a listing of 1M entries takes about 250 turns).
const CT_SERVICE_BUDGET: usize = 4096;

impl<P: Port> Worker<P> {
    pub fn new(umem: Umem, ports: Vec<P>, pipeline: Pipeline) -> Worker<P> {
        Worker {
            umem,
            ports,
            pipeline,
            rx: [Desc::default(); BATCH],
            cell: None,
            published: Arc::new(CounterBlock::default()),
            turns: 0,
            ct: Default::default(),
            ct_service: crate::conntrack::view::Channel::default().service(),
        }
        .with_ct_channel()
    }

    fn with_ct_channel(mut self) -> Worker<P> {
        self.ct_service = self.ct.service();
        self
    }

    /// The channel another thread lists, counts, deletes and flushes this
    /// worker's conntrack entries through ([`crate::conntrack::view`]):
    /// served a bounded slice per poll turn, never stopping the worker.
    pub fn conntrack_channel(&self) -> crate::conntrack::view::Channel {
        self.ct.clone()
    }

    /// Follows the snapshots published in `cell` from the next turn on.
    pub fn follow(&mut self, cell: Arc<SnapshotCell>) {
        self.cell = Some(cell);
    }

    /// The block this worker publishes its counters to, for readers on
    /// other threads.
    pub fn counter_block(&self) -> Arc<CounterBlock> {
        Arc::clone(&self.published)
    }

    /// Publishes the counters now.
    pub fn publish(&mut self) {
        self.published.publish(&self.pipeline.counters());
        self.turns = 0;
    }

    /// One turn of the poll loop; returns how many frames were received.
    /// `now` is read once by the caller and used for the whole turn.
    pub fn poll(&mut self, now: Instant) -> usize {
        if let Some(cell) = &self.cell {
            if cell.generation() != self.pipeline.generation() {
                self.pipeline.set_snapshot(cell.load());
            }
        }
        let mut received = 0;
        for i in 0..self.ports.len() {
            let n = self.ports[i].rx(&mut self.umem, &mut self.rx);
            if n > 0 {
                received += n;
                self.pipeline
                    .rx(&mut self.umem, PortId(i as u16), &self.rx[..n], now);
                self.pipeline.flush_tx(&mut self.umem, &mut self.ports);
            }
        }
        self.pipeline.poll(&mut self.umem, now);
        self.pipeline.flush_tx(&mut self.umem, &mut self.ports);
        for p in &mut self.ports {
            p.poll(&mut self.umem);
        }
        self.ct_service.serve(
            &mut self.pipeline.state_mut().conntrack,
            now,
            CT_SERVICE_BUDGET,
        );
        self.turns += 1;
        if self.turns >= PUBLISH_EVERY {
            self.publish();
        }
        received
    }
}
