//! The poll loop of one worker core: its ports, its frame arena and its
//! pipeline. [`Worker::poll`] is one turn: the snapshot swap if the
//! control side published a new one, each port's RX batch through the
//! pipeline, the punted frames written to the host's TAPs and the frames
//! the host wrote read back into the output path, neighbour timers, TX
//! flush, port housekeeping, and now and then the counters published for
//! readers. Pinning the thread to a core and the AF_XDP wakeup policy come
//! with the AF_XDP port.
//!
//! The TAPs ([`crate::io::tap`], one queue per worker, indexed by the
//! port they mirror) are the host's slow path: a `write(2)` per punted
//! frame, a `read(2)` per host frame (copied into an arena frame), at most
//! [`BATCH`] host frames per TAP per turn, plus one `read` that finds the
//! queue empty. Their fds are in [`Worker::wait_fds`] for an idle
//! `poll(2)`.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Instant;

use arc_swap::{ArcSwap, ArcSwapOption};

use crossbeam_queue::ArrayQueue;

use crate::io::tap::TapQueue;
use crate::io::{Desc, Port, PortId, Umem};
use crate::packet::{
    BatchTimes, Counter, CounterBlock, CtState, L2Class, LatencyBlock, Pkt, UmemLedger, BATCH,
};
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

/// The bytes a handoff slot carries; a longer frame is dropped
/// (`handoff.too_big`).
pub const HANDOFF_FRAME: usize = 2048;

/// A frame on its way to the worker that owns its flow, with what the
/// pipeline knew of it before the conntrack point (the raw table's mark,
/// a CT zone template, the port it came in on). Copied through the ring:
/// the workers' frame arenas are their own.
#[derive(Clone)]
pub struct HandoffFrame {
    bytes: [u8; HANDOFF_FRAME],
    len: u16,
    mark: u32,
    iif: u16,
    l2: L2Class,
    ct: CtState,
    hop: u8,
    /// A copy of an ARP reply another worker received, for this worker's
    /// neighbour table: it runs as received on port `iif`.
    arp: bool,
}

/// A bounded ring from one worker to another (single producer, single
/// consumer; a full ring drops and counts, never blocks).
pub type HandoffRing = Arc<ArrayQueue<HandoffFrame>>;

/// One worker's ends of the handoff rings: `to[w]` to worker `w` (none to
/// itself), and every ring into it.
#[derive(Clone, Default)]
pub struct HandoffLinks {
    pub to: Vec<Option<HandoffRing>>,
    pub from: Vec<HandoffRing>,
}

impl std::fmt::Debug for HandoffLinks {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HandoffLinks")
            .field("to", &self.to.len())
            .field("from", &self.from.len())
            .finish()
    }
}

/// The rings between `workers` workers, `capacity` frames each, one per
/// ordered pair: element `w` is worker `w`'s ends.
pub fn handoff_mesh(workers: usize, capacity: usize) -> Vec<HandoffLinks> {
    let mut links = vec![HandoffLinks::default(); workers];
    for l in &mut links {
        l.to = vec![None; workers];
    }
    for a in 0..workers {
        for b in 0..workers {
            if a != b {
                let r: HandoffRing = Arc::new(ArrayQueue::new(capacity.max(1)));
                links[a].to[b] = Some(Arc::clone(&r));
                links[b].from.push(r);
            }
        }
    }
    links
}

/// A neighbour of one worker's table: port, address, what is known.
pub type NeighRow = (PortId, std::net::IpAddr, crate::route::neigh::NeighInfo);

/// The channel the control side lists a worker's neighbour table through
/// ([`Worker::neigh_channel`]): a request is `()`, the answer every entry.
pub type NeighChannel = crate::ask::Channel<(), Vec<NeighRow>>;

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
    /// This worker's [`crate::rules::RulesReader`] for the snapshot it
    /// runs, replaced when it takes a new one (the control side reads
    /// counters and drains LOG records through it).
    reader: Arc<ArcSwapOption<crate::rules::RulesReader>>,
    published: Arc<CounterBlock>,
    /// Batch times, recorded per RX batch and published with the counters.
    batch_times: BatchTimes,
    published_times: Arc<LatencyBlock>,
    /// Turn times (each [`Worker::poll`] of [`Worker::run`], sleeps
    /// excluded: the snapshot swap, handoffs, batches, TAPs, timers, the
    /// control side's requests), one clock read per turn: a stall shows
    /// here.
    turn_times: BatchTimes,
    published_turns: Arc<LatencyBlock>,
    /// Each port's counters, published with the others.
    published_ports: Arc<crate::io::PortsBlock>,
    /// Publications so far: every [`KERNEL_STATS_EVERY`]th reads the
    /// ports' kernel statistics too (a syscall each).
    publications: u64,
    turns: u32,
    /// The control side's requests about the conntrack shard.
    ct: crate::conntrack::view::Channel,
    ct_service: crate::conntrack::view::Service,
    /// The control side's requests for the neighbour table.
    neigh: NeighChannel,
    /// The generation of the snapshot this worker runs, stored at the
    /// turn it swaps (the control side's apply waits for it).
    running: Arc<AtomicU64>,
    handoff: Option<HandoffLinks>,
    /// Handed-off packets being taken in (reused).
    taken: Vec<Pkt>,
    /// The host's TAP queue of each port (index: `PortId`); empty: no
    /// TAPs, punted frames stay in the pipeline's punt queue.
    taps: Vec<Option<TapQueue>>,
    /// Frames read from a TAP, one batch.
    host_rx: [Desc; BATCH],
    /// The control side's requests about the ports (interfaces gone and
    /// back), and the request generation served last.
    port_ctl: Arc<crate::io::PortControl>,
    port_ctl_seen: u64,
}

/// Conntrack slab slots the worker looks at per turn for a control
/// request (a listing of 1M entries takes about 250 turns).
const CT_SERVICE_BUDGET: usize = 4096;

/// Publications (one every 16 turns, and at each sleep) between two reads
/// of the ports' kernel statistics.
const KERNEL_STATS_EVERY: u64 = 64;

impl<P: Port> Worker<P> {
    pub fn new(umem: Umem, ports: Vec<P>, pipeline: Pipeline) -> Worker<P> {
        let published_ports = Arc::new(crate::io::PortsBlock::new(ports.len()));
        Worker {
            umem,
            ports,
            pipeline,
            rx: [Desc::default(); BATCH],
            cell: None,
            reader: Arc::new(ArcSwapOption::empty()),
            published: Arc::new(CounterBlock::default()),
            batch_times: BatchTimes::default(),
            published_times: Arc::new(LatencyBlock::default()),
            turn_times: BatchTimes::default(),
            published_turns: Arc::new(LatencyBlock::default()),
            published_ports,
            publications: 0,
            turns: 0,
            ct: Default::default(),
            ct_service: crate::conntrack::view::Channel::default().service(),
            neigh: NeighChannel::default(),
            running: Arc::new(AtomicU64::new(0)),
            handoff: None,
            taken: Vec::with_capacity(BATCH),
            taps: Vec::new(),
            host_rx: [Desc::default(); BATCH],
            port_ctl: Arc::default(),
            port_ctl_seen: 0,
        }
        .with_ct_channel()
    }

    fn with_ct_channel(mut self) -> Worker<P> {
        self.ct_service = self.ct.service();
        self.running
            .store(self.pipeline.generation(), Ordering::Release);
        self.reader
            .store(self.pipeline.rules_reader().map(Arc::new));
        self
    }

    /// Where this worker keeps its [`crate::rules::RulesReader`] for the
    /// snapshot it runs now: after a swap, the new program's counters
    /// (unchanged rules carried over) and the same LOG ring.
    pub fn rules_reader_slot(&self) -> Arc<ArcSwapOption<crate::rules::RulesReader>> {
        Arc::clone(&self.reader)
    }

    /// The channel another thread lists, counts, deletes and flushes this
    /// worker's conntrack entries through ([`crate::conntrack::view`]):
    /// served a bounded slice per poll turn, never stopping the worker.
    pub fn conntrack_channel(&self) -> crate::conntrack::view::Channel {
        self.ct.clone()
    }

    /// The channel another thread lists this worker's neighbour table
    /// through: answered whole at the end of the next poll turn (the table
    /// is bounded by `gc_thresh3`).
    pub fn neigh_channel(&self) -> NeighChannel {
        self.neigh.clone()
    }

    /// The generation of the snapshot this worker runs: it changes at the
    /// start of the first turn after a publication in the
    /// [`SnapshotCell`], before that turn's first batch, so every packet
    /// received after it is seen changed meets the new snapshot. An idle
    /// worker sleeping in `poll(2)` takes it when the sleep ends, at most
    /// [`RunParams::sleep_ms`] later.
    pub fn running_generation(&self) -> Arc<AtomicU64> {
        Arc::clone(&self.running)
    }

    /// Where the control side asks this worker to stop using a port
    /// whose interface is gone, or to reopen it ([`crate::io::PortControl`]).
    pub fn port_control(&self) -> Arc<crate::io::PortControl> {
        Arc::clone(&self.port_ctl)
    }

    /// Follows the snapshots published in `cell` from the next turn on.
    pub fn follow(&mut self, cell: Arc<SnapshotCell>) {
        self.cell = Some(cell);
    }

    /// Connects this worker to the others ([`handoff_mesh`]): packets of
    /// flows another worker owns go there, and theirs come here.
    pub fn set_handoff(&mut self, links: HandoffLinks) {
        self.handoff = Some(links);
    }

    /// Connects this worker to the host's TAPs: `taps[i]` is this worker's
    /// queue of the TAP of port `i` (`None`: that port has none, its
    /// punted frames are dropped as `local.tap_error`). From the next turn
    /// on, the punt queue is drained into them and what the host writes
    /// is read back ([`Pipeline::rx_host`]).
    pub fn set_taps(&mut self, taps: Vec<Option<TapQueue>>) {
        self.taps = taps;
    }

    /// The TAP queues (index: `PortId`).
    pub fn taps(&self) -> &[Option<TapQueue>] {
        &self.taps
    }

    /// Writes the punted frames to the TAP of their ingress port, each
    /// frame freed after its `write(2)`. Without TAPs, nothing: the frames
    /// stay queued.
    fn drain_punts(&mut self) {
        if self.taps.is_empty() {
            return;
        }
        while let Some(p) = self.pipeline.punt().pop() {
            let c = match self.taps.get_mut(p.iif.index()).and_then(|t| t.as_mut()) {
                None => Counter::LocalTapError,
                Some(tap) => match tap.write(self.umem.bytes(p.desc)) {
                    Ok(true) => Counter::LocalTapTx,
                    Ok(false) => Counter::LocalTapFull,
                    Err(_) => Counter::LocalTapError,
                },
            };
            self.pipeline.count(c, 1);
            self.umem.free(p.desc);
        }
    }

    /// Reads up to a batch of frames from each TAP into arena frames and
    /// runs them through the output path; returns how many.
    fn read_host(&mut self, now: Instant) -> usize {
        let mut total = 0;
        for i in 0..self.taps.len() {
            let Some(tap) = self.taps[i].as_mut() else {
                continue;
            };
            let mut n = 0;
            // At most a batch of frames, and as many failed reads.
            for _ in 0..2 * BATCH {
                if n == BATCH {
                    break;
                }
                let Some(mut d) = self.umem.alloc() else {
                    // The frames wait in the TAP's queue (the host drops
                    // what does not fit there).
                    break;
                };
                let room = self.umem.frame_size() as usize - self.umem.headroom(d);
                self.umem.set_len(&mut d, room);
                match tap.read(self.umem.bytes_mut(d)) {
                    Ok(Some(len)) => {
                        self.umem.set_len(&mut d, len);
                        self.host_rx[n] = d;
                        n += 1;
                    }
                    Ok(None) => {
                        self.umem.free(d);
                        break;
                    }
                    Err(e) => {
                        self.umem.free(d);
                        self.pipeline.count(Counter::LocalTapError, 1);
                        if e.kind() == std::io::ErrorKind::InvalidData {
                            // A frame too long for the chunk, cut and gone.
                            continue;
                        }
                        break;
                    }
                }
            }
            if n > 0 {
                self.pipeline
                    .rx_host(&mut self.umem, PortId(i as u16), &self.host_rx[..n], now);
                self.pipeline.flush_tx(&mut self.umem, &mut self.ports);
                total += n;
            }
        }
        total
    }

    /// Takes in what other workers handed over (a batch per ring at most).
    fn take_handoffs(&mut self, now: Instant) {
        let Some(links) = &self.handoff else { return };
        for ring in &links.from {
            self.taken.clear();
            while self.taken.len() < BATCH {
                let Some(h) = ring.pop() else { break };
                if h.arp {
                    take_arp_copy(&mut self.umem, &mut self.pipeline, &h, now);
                    continue;
                }
                self.pipeline.count(Counter::HandoffReceived, 1);
                let Some(mut d) = self.umem.alloc() else {
                    self.pipeline.count(Counter::HandoffNoBuffer, 1);
                    continue;
                };
                let len = usize::from(h.len);
                if !self.umem.set_len(&mut d, len) {
                    self.umem.free(d);
                    self.pipeline.count(Counter::HandoffTooBig, 1);
                    continue;
                }
                self.umem.bytes_mut(d).copy_from_slice(&h.bytes[..len]);
                let Ok(meta) = crate::wire::parse(self.umem.bytes(d)) else {
                    self.umem.free(d);
                    self.pipeline.count(Counter::ParseMalformed, 1);
                    continue;
                };
                let mut p = Pkt::generated(d, meta);
                p.mark = h.mark;
                p.iif = Some(PortId(h.iif));
                p.l2 = h.l2;
                p.ct = h.ct;
                p.hop = h.hop;
                self.taken.push(p);
            }
            if !self.taken.is_empty() {
                self.pipeline.rx_handoff(&mut self.umem, &self.taken, now);
            }
        }
        if self.handoff.as_ref().is_some_and(|l| !l.from.is_empty()) {
            self.pipeline.flush_tx(&mut self.umem, &mut self.ports);
        }
    }

    /// Copies the ARP replies among `self.rx[..n]` (received on port
    /// `iif`) to every other worker: each worker has its own neighbour
    /// table, and the reply to one worker's request may arrive on another
    /// worker's queue. Replies are rare; a full ring loses the copy
    /// (`handoff.arp_copy_lost`), never blocks.
    fn copy_arp_replies(&mut self, iif: u16, n: usize) {
        let Some(links) = &self.handoff else { return };
        for &d in &self.rx[..n] {
            let b = self.umem.bytes(d);
            // Ethernet type ARP, operation 2 (reply).
            if b.len() < 42 || b.len() > HANDOFF_FRAME || b[12..14] != [8, 6] || b[20..22] != [0, 2]
            {
                continue;
            }
            for ring in links.to.iter().flatten() {
                let mut h = HandoffFrame {
                    bytes: [0; HANDOFF_FRAME],
                    len: b.len() as u16,
                    mark: 0,
                    iif,
                    l2: L2Class::Host,
                    ct: CtState::default(),
                    hop: 0,
                    arp: true,
                };
                h.bytes[..b.len()].copy_from_slice(b);
                let c = match ring.push(h) {
                    Ok(()) => Counter::HandoffArpCopy,
                    Err(_) => Counter::HandoffArpCopyLost,
                };
                self.pipeline.count(c, 1);
            }
        }
    }

    /// Passes the packets the pipeline handed off to their workers.
    fn give_handoffs(&mut self) {
        let out = std::mem::take(self.pipeline.handoffs());
        for &(w, p) in &out {
            let bytes = self.umem.bytes(p.desc);
            let ring = self
                .handoff
                .as_ref()
                .and_then(|l| l.to.get(w as usize))
                .and_then(|r| r.as_ref());
            let c = match ring {
                _ if bytes.len() > HANDOFF_FRAME => Counter::HandoffTooBig,
                None => Counter::HandoffRingFull,
                Some(r) => {
                    let mut h = HandoffFrame {
                        bytes: [0; HANDOFF_FRAME],
                        len: bytes.len() as u16,
                        mark: p.mark,
                        iif: p.iif.map_or(u16::MAX, |i| i.0),
                        l2: p.l2,
                        ct: p.ct,
                        hop: p.hop,
                        arp: false,
                    };
                    h.bytes[..bytes.len()].copy_from_slice(bytes);
                    match r.push(h) {
                        Ok(()) => Counter::HandoffSent,
                        Err(_) => Counter::HandoffRingFull,
                    }
                }
            };
            self.pipeline.count(c, 1);
            self.umem.free(p.desc);
        }
        // Keep the vector's room for the next turn.
        let mut out = out;
        out.clear();
        *self.pipeline.handoffs() = out;
    }

    /// The block this worker publishes its counters to, for readers on
    /// other threads.
    pub fn counter_block(&self) -> Arc<CounterBlock> {
        Arc::clone(&self.published)
    }

    /// The block this worker publishes its batch-time histogram to
    /// ([`crate::packet::latency`]), with the counters.
    pub fn latency_block(&self) -> Arc<LatencyBlock> {
        Arc::clone(&self.published_times)
    }

    /// The block this worker publishes its turn-time histogram to (the
    /// whole poll turn, sleeps excluded), with the counters.
    pub fn turn_block(&self) -> Arc<LatencyBlock> {
        Arc::clone(&self.published_turns)
    }

    /// The block this worker publishes each port's counters to.
    pub fn ports_block(&self) -> Arc<crate::io::PortsBlock> {
        Arc::clone(&self.published_ports)
    }

    /// Where the arena's frames are now (between two turns): free, or
    /// held by the ports, the punt queue or the neighbour queue
    /// (`neigh_queued` frames, from the counters). Between turns a jumbo
    /// frame (a reassembled IPv6 datagram) can only be in the punt queue,
    /// and is no chunk of the arena.
    fn umem_ledger(&mut self, neigh_queued: u64) -> UmemLedger {
        let held = self.ports.iter().map(|p| p.held()).sum::<usize>()
            + self
                .pipeline
                .punt()
                .len()
                .saturating_sub(self.umem.jumbo_used())
            + neigh_queued as usize;
        UmemLedger {
            frames: self.umem.frames() as u64,
            free: self.umem.free_count() as u64,
            held: held as u64,
        }
    }

    /// Publishes the counters (and the batch times, the ports', the
    /// arena's gauges) now.
    pub fn publish(&mut self) {
        let mut c = self.pipeline.counters();
        let u = self.umem_ledger(c.neigh_queued());
        c.set_umem(u);
        self.published.publish(&c);
        self.published_times.publish(&self.batch_times);
        self.published_turns.publish(&self.turn_times);
        let kernel = self.publications.is_multiple_of(KERNEL_STATS_EVERY);
        self.publications += 1;
        for (i, p) in self.ports.iter_mut().enumerate() {
            self.published_ports.publish(i, &p.counters(kernel));
        }
        self.turns = 0;
    }

    /// One turn of the poll loop; returns how many frames were received
    /// (from the ports and the TAPs).
    /// `now` is read once by the caller and used for the whole turn.
    pub fn poll(&mut self, now: Instant) -> usize {
        if let Some(cell) = &self.cell {
            if cell.generation() != self.pipeline.generation() {
                self.pipeline.set_snapshot(cell.load());
                // Between batches: the allocation is the control's.
                self.reader
                    .store(self.pipeline.rules_reader().map(Arc::new));
                self.running
                    .store(self.pipeline.generation(), Ordering::Release);
            }
        }
        let g = self.port_ctl.generation();
        if g != self.port_ctl_seen {
            self.port_ctl_seen = g;
            self.port_ctl.serve(&mut self.ports, &mut self.umem);
        }
        if self.handoff.is_some() {
            self.take_handoffs(now);
        }
        self.pipeline.send_dhcp(&mut self.umem);
        let mut received = 0;
        // Start of the next batch's time: the turn's start, then the end
        // of the previous batch (one clock read per batch).
        let mut mark = now;
        for i in 0..self.ports.len() {
            let n = self.ports[i].rx(&mut self.umem, &mut self.rx);
            if n > 0 {
                received += n;
                self.pipeline.count(Counter::WorkerBatches, 1);
                if self.handoff.is_some() {
                    self.copy_arp_replies(i as u16, n);
                }
                self.pipeline
                    .rx(&mut self.umem, PortId(i as u16), &self.rx[..n], now);
                self.pipeline.flush_tx(&mut self.umem, &mut self.ports);
                let end = Instant::now();
                self.batch_times
                    .record(end.saturating_duration_since(mark).as_nanos() as u64);
                mark = end;
            }
        }
        if !self.pipeline.handoffs().is_empty() {
            self.give_handoffs();
        }
        if !self.taps.is_empty() {
            self.drain_punts();
            received += self.read_host(now);
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
        if self.neigh.request().is_some() {
            // Between batches: the allocation is the control's.
            let rows = self.pipeline.state().neigh.entries().collect();
            self.neigh.reply(rows);
        }
        self.pipeline.count(Counter::WorkerTurns, 1);
        if received == 0 {
            self.pipeline.count(Counter::WorkerEmptyPolls, 1);
        }
        self.turns += 1;
        if self.turns >= PUBLISH_EVERY {
            self.publish();
        }
        received
    }
}

/// Runs a copy of an ARP reply another worker received as received here
/// (it is learnt from, and frames waiting for that neighbour leave).
fn take_arp_copy(umem: &mut Umem, pipeline: &mut Pipeline, h: &HandoffFrame, now: Instant) {
    let Some(mut d) = umem.alloc() else {
        pipeline.count(Counter::HandoffArpCopyLost, 1);
        return;
    };
    let len = usize::from(h.len);
    if !umem.set_len(&mut d, len) {
        umem.free(d);
        pipeline.count(Counter::HandoffArpCopyLost, 1);
        return;
    }
    umem.bytes_mut(d).copy_from_slice(&h.bytes[..len]);
    pipeline.count(Counter::HandoffArpCopyReceived, 1);
    pipeline.rx(umem, PortId(h.iif), std::slice::from_ref(&d), now);
}

/// How a worker's loop waits for work ([`Worker::run`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RunParams {
    /// Never sleep: poll the rings back to back (a core at 100 %).
    pub busy_poll: bool,
    /// Empty turns in a row before the worker sleeps in `poll(2)`.
    pub idle_turns: u32,
    /// The longest sleep (ms): timers (neighbours, conntrack expiry, the
    /// control side's requests, a new snapshot) run at least this often.
    pub sleep_ms: i32,
}

impl Default for RunParams {
    fn default() -> Self {
        RunParams {
            busy_poll: false,
            idle_turns: 256,
            sleep_ms: 10,
        }
    }
}

impl<P: Port> Worker<P> {
    /// The descriptors that poll readable when this worker has work: its
    /// ports' and its TAP queues' (the host sent a frame).
    pub fn wait_fds(&self, out: &mut Vec<std::os::fd::RawFd>) {
        out.extend(self.ports.iter().filter_map(|p| p.fd()));
        out.extend(self.taps.iter().flatten().map(|t| t.raw_fd()));
    }

    /// The poll loop: turns until `stop` is set (checked once a turn),
    /// sleeping in `poll(2)` after `params.idle_turns` empty turns unless
    /// busy-polling, and never while a port still has frames to send.
    /// Publishes the counters before it returns.
    pub fn run(&mut self, stop: &AtomicBool, params: &RunParams) {
        let mut empty = 0u32;
        let mut fds = Vec::with_capacity(crate::io::wait::MAX_WAIT_FDS);
        // One clock read per turn: the end of a turn starts the next.
        let mut start = Instant::now();
        while !stop.load(Ordering::Relaxed) {
            let n = self.poll(start);
            let end = Instant::now();
            self.turn_times
                .record(end.saturating_duration_since(start).as_nanos() as u64);
            start = end;
            if n > 0 {
                empty = 0;
                continue;
            }
            empty = empty.saturating_add(1);
            if params.busy_poll
                || empty < params.idle_turns
                || self.ports.iter().any(|p| p.tx_pending())
            {
                continue;
            }
            fds.clear();
            self.wait_fds(&mut fds);
            self.pipeline.count(Counter::WorkerSleeps, 1);
            crate::io::wait::wait_readable(&fds, params.sleep_ms);
            start = Instant::now();
        }
        self.publish();
    }
}

impl Worker<crate::io::mem::MemPort> {
    /// Between polls of a worker over in-memory ports: every frame in is
    /// accounted for (the ledger balances), and every chunk of the arena is
    /// free or held where the ledger says (sent and not collected yet,
    /// punted, queued for a neighbour). For the tests and the fuzz target;
    /// the error says which does not hold.
    pub fn check_ledger(&mut self) -> Result<(), String> {
        let l = self.pipeline.counters().ledger();
        if !l.balanced() {
            return Err(format!("ledger does not balance: {l:?}"));
        }
        let u = self.umem_ledger(l.queued);
        if u.lost() != 0 {
            return Err(format!(
                "frames leaked: {} free + {} held of {} (ledger {l:?})",
                u.free, u.held, u.frames
            ));
        }
        Ok(())
    }
}
