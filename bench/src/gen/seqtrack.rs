//! Per-flow accounting of what the sink received: loss, duplicates and
//! reordering from gen's sequence numbers, in a flow table of fixed size
//! (flow indexes at or above it are counted in `over_capacity`, never
//! silently lost).
//!
//! Per flow: the highest sequence number seen and a 64-bit window of the
//! ones below it. A number above the highest opens a gap (counted lost);
//! one inside the window that was not seen fills a gap (reordered, one
//! fewer lost); one seen already is a duplicate; one older than the window
//! is counted reordered and `late` (it cannot be told from a duplicate).
//! The 32-bit numbers on the wire are extended to 64 bits against the
//! highest seen (RFC 1982 serial arithmetic), so wrapping is no loss.
//! Frames lost after the last one received are invisible here: compare
//! with gen's `sent`.

use serde::Serialize;

const WINDOW: u64 = 64;

/// One flow's state.
#[derive(Debug, Clone, Copy, Default)]
pub struct FlowState {
    /// Highest sequence number seen + 1 (0: none yet).
    next: u64,
    /// Bit `d`: `next - 1 - d` was seen.
    window: u64,
    pub received: u64,
    pub lost: u64,
    pub duplicates: u64,
    pub reordered: u64,
    pub late: u64,
}

/// Sums over flows.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct SeqTotals {
    /// Frames with a mark (duplicates included).
    pub received: u64,
    /// Distinct flows seen (inside the table).
    pub flows: u64,
    pub lost: u64,
    pub duplicates: u64,
    pub reordered: u64,
    /// Reordered by more than the 64-frame window.
    pub late: u64,
    /// Frames of flows whose index is past the table.
    pub over_capacity: u64,
}

/// The flow table of one sink worker.
#[derive(Debug, Clone)]
pub struct FlowTable {
    flows: Vec<FlowState>,
    over_capacity: u64,
}

/// Extends a 32-bit serial number to 64 bits, nearest to `around`.
fn extend(around: u64, s: u32) -> u64 {
    let cand = (around & !0xffff_ffff) | u64::from(s);
    if cand > around && cand - around > 1 << 31 && cand >= 1 << 32 {
        cand - (1 << 32)
    } else if cand < around && around - cand > 1 << 31 {
        cand + (1 << 32)
    } else {
        cand
    }
}

impl FlowState {
    pub fn record(&mut self, seq: u32) {
        self.received += 1;
        let s = if self.next == 0 {
            u64::from(seq)
        } else {
            extend(self.next - 1, seq)
        };
        if s >= self.next {
            self.lost += s - self.next;
            let shift = s + 1 - self.next;
            self.window = if self.next == 0 || shift >= WINDOW {
                0
            } else {
                self.window << shift
            };
            self.window |= 1;
            self.next = s + 1;
            return;
        }
        let d = self.next - 1 - s;
        if d >= WINDOW {
            self.reordered += 1;
            self.late += 1;
            self.lost = self.lost.saturating_sub(1);
        } else if self.window & (1 << d) != 0 {
            self.duplicates += 1;
        } else {
            self.window |= 1 << d;
            self.reordered += 1;
            self.lost = self.lost.saturating_sub(1);
        }
    }
}

impl FlowTable {
    /// A table for flow indexes `0..capacity` (allocated here, once).
    pub fn new(capacity: usize) -> FlowTable {
        FlowTable {
            flows: vec![FlowState::default(); capacity],
            over_capacity: 0,
        }
    }

    #[inline]
    pub fn record(&mut self, flow: u32, seq: u32) {
        match self.flows.get_mut(flow as usize) {
            Some(f) => f.record(seq),
            None => self.over_capacity += 1,
        }
    }

    /// Adds `other` (another worker's table of the same size) into this
    /// one: counters add; a flow seen by both keeps this one's window.
    pub fn merge(&mut self, other: &FlowTable) {
        for (a, b) in self.flows.iter_mut().zip(&other.flows) {
            if a.received == 0 {
                *a = *b;
                continue;
            }
            a.received += b.received;
            a.lost += b.lost;
            a.duplicates += b.duplicates;
            a.reordered += b.reordered;
            a.late += b.late;
        }
        self.over_capacity += other.over_capacity;
    }

    pub fn totals(&self) -> SeqTotals {
        let mut t = SeqTotals {
            over_capacity: self.over_capacity,
            ..SeqTotals::default()
        };
        for f in self.flows.iter().filter(|f| f.received > 0) {
            t.flows += 1;
            t.received += f.received;
            t.lost += f.lost;
            t.duplicates += f.duplicates;
            t.reordered += f.reordered;
            t.late += f.late;
        }
        t
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(seqs: &[u32]) -> FlowState {
        let mut f = FlowState::default();
        for &s in seqs {
            f.record(s);
        }
        f
    }

    #[test]
    fn in_order_is_clean() {
        let f = run(&[0, 1, 2, 3]);
        assert_eq!(
            (f.received, f.lost, f.duplicates, f.reordered),
            (4, 0, 0, 0)
        );
    }

    #[test]
    fn gap_then_fill_is_reorder_not_loss() {
        let f = run(&[0, 1, 3, 4, 2]);
        assert_eq!((f.lost, f.reordered, f.duplicates), (0, 1, 0));
        let f = run(&[0, 1, 3, 4]);
        assert_eq!((f.lost, f.reordered), (1, 0));
    }

    #[test]
    fn first_frames_missing_are_lost() {
        assert_eq!(run(&[5, 6]).lost, 5);
    }

    #[test]
    fn duplicates_are_counted_once_each() {
        let f = run(&[0, 1, 1, 2, 0]);
        assert_eq!((f.duplicates, f.reordered, f.lost), (2, 0, 0));
    }

    #[test]
    fn older_than_the_window_is_late() {
        let mut seqs: Vec<u32> = (1..100).collect();
        seqs.push(0);
        let f = run(&seqs);
        // 0 was counted lost when 1 came first, then found late.
        assert_eq!((f.lost, f.reordered, f.late), (0, 1, 1));
    }

    #[test]
    fn wrapping_sequence_numbers_are_not_loss() {
        let f = run(&[u32::MAX - 1, u32::MAX, 0, 1]);
        assert_eq!(
            (f.received, f.lost, f.reordered, f.duplicates),
            (4, u64::from(u32::MAX) - 1, 0, 0)
        );
        let mut g = FlowState::default();
        g.record(u32::MAX - 1);
        let base = g.lost;
        for s in [u32::MAX, 0, 1, u32::MAX] {
            g.record(s);
        }
        assert_eq!((g.lost - base, g.duplicates), (0, 1));
    }

    #[test]
    fn table_counts_flows_and_overflow_and_merges() {
        let mut a = FlowTable::new(4);
        let mut b = FlowTable::new(4);
        a.record(0, 0);
        a.record(1, 0);
        a.record(9, 0);
        b.record(1, 1);
        b.record(3, 2);
        a.merge(&b);
        let t = a.totals();
        assert_eq!(t.flows, 3);
        assert_eq!(t.received, 4);
        assert_eq!(t.over_capacity, 1);
        // Flow 1 seen on two workers: b counts its seq 0 lost (see module docs).
        assert_eq!(t.lost, 3);
    }
}
