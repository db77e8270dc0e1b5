//! NAT (`nf_nat`): SNAT / DNAT / MASQUERADE / REDIRECT bindings on the
//! conntrack entries of a worker's shard, and port allocation.
//!
//! **Not built yet** (the conntrack and NAT issue): the targets are refused
//! when a ruleset is compiled. What is fixed here is how the translated
//! port space is shared among workers (DESIGN.md, "Conntrack sharding and
//! NAT"): each worker owns a disjoint slice ([`PortSlice`]), so a reply
//! names the worker that owns its flow by its destination port, and a
//! frame that arrives at the wrong worker can be handed to the owner.

pub mod jhash;
pub mod select;

/// The part of a port (or ICMP id) range that one worker allocates from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PortSlice {
    worker: u32,
    workers: u32,
}

impl PortSlice {
    /// Worker `worker` of `workers` (at least 1).
    pub fn new(worker: u32, workers: u32) -> PortSlice {
        let workers = workers.max(1);
        PortSlice {
            worker: worker % workers,
            workers,
        }
    }

    /// This worker's part of `lo..=hi`: `lo..=hi` cut into `workers`
    /// consecutive blocks as equal as possible, the first ones one larger;
    /// `None` when the range has fewer ports than there are workers and
    /// this worker gets none.
    pub fn range(&self, lo: u16, hi: u16) -> Option<(u16, u16)> {
        let (lo32, hi32) = (u32::from(lo.min(hi)), u32::from(hi.max(lo)));
        let n = hi32 - lo32 + 1;
        let (base, extra) = (n / self.workers, n % self.workers);
        let w = self.worker;
        let size = base + u32::from(w < extra);
        if size == 0 {
            return None;
        }
        let start = lo32 + w * base + w.min(extra);
        Some((start as u16, (start + size - 1) as u16))
    }

    /// The worker that owns `port` of `lo..=hi` among `workers` (the
    /// inverse of [`PortSlice::range`]); `None` outside the range.
    pub fn owner(port: u16, lo: u16, hi: u16, workers: u32) -> Option<u32> {
        (0..workers.max(1)).find(|&w| {
            PortSlice::new(w, workers)
                .range(lo, hi)
                .is_some_and(|(a, b)| (a..=b).contains(&port))
        })
    }

    pub fn worker(&self) -> u32 {
        self.worker
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slices_are_disjoint_and_cover_the_range() {
        for workers in 1..=7u32 {
            for (lo, hi) in [(1024u16, 65535u16), (0, 0), (10, 12), (500, 1000)] {
                let mut covered = Vec::new();
                for w in 0..workers {
                    if let Some((a, b)) = PortSlice::new(w, workers).range(lo, hi) {
                        assert!(a <= b);
                        covered.extend(a..=b);
                    }
                }
                let want: Vec<u16> = (lo..=hi).collect();
                assert_eq!(covered, want, "{workers} workers, {lo}..={hi}");
                for p in [lo, hi, lo + (hi - lo) / 2] {
                    let o = PortSlice::owner(p, lo, hi, workers).unwrap();
                    let (a, b) = PortSlice::new(o, workers).range(lo, hi).unwrap();
                    assert!((a..=b).contains(&p));
                }
            }
        }
        assert_eq!(PortSlice::owner(5, 10, 20, 2), None);
    }
}
