//! The per-worker queue of captured records: bounded, allocated once,
//! lock-free between the worker (the only producer) and the control side
//! (the consumer, through a [`LogReader`]). A full ring drops the record
//! and counts it (`log.ring_full`); the worker never waits.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use crossbeam_queue::ArrayQueue;

use super::{LogContext, LogRecord, LogSpec};
use crate::wire::PacketMeta;

/// A worker's bounded queue of log records, preallocated.
#[derive(Debug)]
pub struct LogRing {
    records: Arc<ArrayQueue<LogRecord>>,
    /// Written by the worker only (relaxed load and store).
    ring_full: Arc<AtomicU64>,
}

/// The consumer side of a [`LogRing`], for another thread.
#[derive(Debug, Clone)]
pub struct LogReader {
    records: Arc<ArrayQueue<LogRecord>>,
    ring_full: Arc<AtomicU64>,
}

impl LogRing {
    /// A ring holding up to `capacity` records (at least 1), allocated now.
    pub fn new(capacity: usize) -> LogRing {
        LogRing {
            records: Arc::new(ArrayQueue::new(capacity.max(1))),
            ring_full: Arc::new(AtomicU64::new(0)),
        }
    }

    /// The same ring, for the state that replaces this one at a ruleset
    /// swap (readers keep reading it).
    pub(crate) fn clone_shared(&self) -> LogRing {
        LogRing {
            records: Arc::clone(&self.records),
            ring_full: Arc::clone(&self.ring_full),
        }
    }

    /// A reader for another thread.
    pub fn reader(&self) -> LogReader {
        LogReader {
            records: Arc::clone(&self.records),
            ring_full: Arc::clone(&self.ring_full),
        }
    }

    /// Captures a record for `frame` (see [`LogRecord::capture`]). Returns
    /// false, counting `log.ring_full`, when the ring is full; returns false
    /// without counting for a frame that is not IPv4.
    pub fn log(
        &mut self,
        spec: &LogSpec,
        frame: &[u8],
        meta: &PacketMeta,
        ctx: &LogContext<'_>,
        now_ns: u64,
    ) -> bool {
        if self.records.is_full() {
            self.count_full();
            return false;
        }
        match LogRecord::capture(spec, frame, meta, ctx, now_ns) {
            // A reader only makes room, so this push fails only if the
            // check above raced with nothing: count it all the same.
            Some(r) => match self.records.push(r) {
                Ok(()) => true,
                Err(_) => {
                    self.count_full();
                    false
                }
            },
            None => false,
        }
    }

    fn count_full(&self) {
        let n = self.ring_full.load(Ordering::Relaxed);
        self.ring_full.store(n + 1, Ordering::Relaxed);
    }

    /// The oldest record.
    pub fn pop(&mut self) -> Option<LogRecord> {
        self.records.pop()
    }

    /// Every record, oldest first.
    pub fn drain(&mut self) -> impl Iterator<Item = LogRecord> + '_ {
        std::iter::from_fn(|| self.records.pop())
    }

    pub fn len(&self) -> usize {
        self.records.len()
    }

    pub fn is_empty(&self) -> bool {
        self.records.is_empty()
    }

    pub fn capacity(&self) -> usize {
        self.records.capacity()
    }

    /// Records dropped because the ring was full (the `log.ring_full`
    /// counter, [`super::RING_FULL`]).
    pub fn ring_full(&self) -> u64 {
        self.ring_full.load(Ordering::Relaxed)
    }
}

impl LogReader {
    /// Moves every record captured so far to `out`, oldest first.
    pub fn drain_into(&self, out: &mut Vec<super::LogRecord>) {
        while let Some(r) = self.records.pop() {
            out.push(r);
        }
    }

    /// Records dropped because the ring was full.
    pub fn ring_full(&self) -> u64 {
        self.ring_full.load(Ordering::Relaxed)
    }
}
