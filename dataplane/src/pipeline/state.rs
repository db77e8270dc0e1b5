//! [`WorkerState`]: everything a worker keeps from batch to batch besides
//! frames — the rules' state for the snapshot's program, the conntrack
//! shard, the NAT port slice, the neighbour table — owned by the worker's
//! pipeline and handed to every hook point of a batch, so that several
//! points share it (a `--ctstate` match, a NAT target and confirm see the
//! same conntrack entry).

use super::*;
use crate::conntrack;
use crate::nat;
use crate::rules::RulesState;

/// See the module docs.
#[derive(Debug)]
pub struct WorkerState {
    /// The rules' state for the snapshot's program (`None` without one).
    pub rules: Option<RulesState>,
    pub conntrack: conntrack::Shard,
    /// This worker's NAT state (its slice of the translated port space).
    pub nat: nat::Nat,
    pub neigh: NeighTable<NeighFrame>,
    /// IPv6 reassembly for conntrack: made once the snapshot tracks IPv6,
    /// kept from then on.
    pub defrag: Option<Box<super::defrag::Defrag>>,
    worker: u32,
}

impl WorkerState {
    /// The state of worker `worker` for `snap`.
    pub fn new(snap: &Snapshot, params: &PipelineParams, worker: u32) -> WorkerState {
        let mut conntrack = conntrack::Shard::new(params.conntrack_max, snap.conntrack.clone());
        conntrack.set_workers(worker, params.workers);
        WorkerState {
            rules: snap.rules.as_deref().map(|p| RulesState::new(p, worker)),
            conntrack,
            nat: nat::Nat::new(worker, params.workers),
            neigh: NeighTable::new(params.neigh.clone()),
            defrag: snap
                .tracked()
                .v6
                .then(|| Box::new(super::defrag::Defrag::new(worker))),
            worker,
        }
    }

    /// Follows a swap from `old` to `new`: a new program gets new rule
    /// state with the counters of its unchanged rules carried over
    /// ([`RulesState::carry_over`]); the same program keeps its state.
    /// Conntrack entries, NAT bindings and neighbours stay, as they do
    /// across an `iptables-restore`.
    pub fn follow(&mut self, old: &Snapshot, new: &Snapshot) {
        self.rules = match (&old.rules, &new.rules, self.rules.take()) {
            (Some(o), Some(n), Some(st)) if Arc::ptr_eq(o, n) => Some(st),
            (Some(o), Some(n), Some(st)) => Some(st.carry_over(o, n)),
            (_, Some(n), _) => Some(RulesState::new(n, self.worker)),
            (_, None, _) => None,
        };
        if new.tracked().v6 && self.defrag.is_none() {
            self.defrag = Some(Box::new(super::defrag::Defrag::new(self.worker)));
        }
        if old.conntrack != new.conntrack {
            self.conntrack.set_config(new.conntrack.clone());
        }
        // The kernel kills the entries masqueraded through an address that
        // went away (`masq_inet_event`).
        if old.net.ports != new.net.ports {
            let net = &new.net;
            self.conntrack
                .delete_where(|e| e.masq_port != 0 && !net.is_own(e.tuple[1].dst_ip()));
        }
    }

    /// This worker's index.
    pub fn worker(&self) -> u32 {
        self.worker
    }
}
