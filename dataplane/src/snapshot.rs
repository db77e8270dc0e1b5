//! [`Snapshot`]: the whole configuration a worker runs a batch with — the
//! network (ports, addresses, routes, policy rules) and the compiled
//! ruleset with its sets — built by the control side, immutable, and
//! swapped whole at a batch boundary ([`crate::worker::SnapshotCell`],
//! [`crate::pipeline::Pipeline::set_snapshot`]): every packet of a batch
//! sees one whole configuration, never half of an apply.
//!
//! The sets are compiled into the ruleset's program (a `-m set` match
//! holds the index of its set), so a changed set comes with a new program
//! in a new snapshot.

use std::sync::Arc;

use sluice_config::appliance::Appliance;
use sluice_config::ipset::SetFile;
use sluice_config::iptables::{Hook, Ruleset};

use crate::net::Net;
use crate::route::RouteError;
use crate::rules::compile::hook_index;
use crate::rules::{Program, RulesError, RulesParams};

/// The bit of `hook` in hook masks ([`Snapshot::hooks`]).
pub fn hook_bit(h: sluice_config::iptables::Hook) -> u8 {
    1 << hook_index(h)
}

/// See the module docs.
#[derive(Debug, Clone)]
pub struct Snapshot {
    /// Bumped by the control side for every new configuration.
    pub generation: u64,
    pub net: Net,
    /// The compiled iptables ruleset (with its sets); `None`: no rules,
    /// every hook accepts.
    pub rules: Option<Arc<Program>>,
    /// [`hook_bit`] of every hook where the ruleset has a table to run.
    hooks: u8,
    /// Which families connections are tracked for: a rule of that
    /// family's ruleset needs it, as in the kernel (`nf_ct_netns_get`).
    tracks: crate::conntrack::Families,
    /// Conntrack timeouts and knobs (`[conntrack]`).
    pub conntrack: crate::conntrack::Config,
    /// Whether IPv4 / IPv6 packets are forwarded (the kernel's
    /// `net.ipv4.ip_forward`, `net.ipv6.conf.all.forwarding`). On by
    /// default; `sluice run` turns a family off when no ruleset filters
    /// it. The box still answers for its own addresses.
    pub forward_v4: bool,
    pub forward_v6: bool,
}

/// Why a snapshot could not be built.
#[derive(Debug, thiserror::Error)]
pub enum SnapshotError {
    #[error("routes: {0}")]
    Route(#[from] RouteError),
    #[error("{0}")]
    Rules(#[from] RulesError),
}

impl Snapshot {
    /// From parts.
    pub fn new(generation: u64, net: Net, rules: Option<Arc<Program>>) -> Snapshot {
        let tracks = crate::conntrack::Families {
            v4: rules.as_deref().is_some_and(|p| p.tracks()),
            v6: rules.as_deref().is_some_and(|p| p.tracks6()),
        };
        let mut hooks = rules
            .as_deref()
            .map_or(0, |p| p.points().fold(0, |m, (h, _)| m | hook_bit(h)));
        if tracks.any() {
            // The conntrack and confirm points.
            for h in [
                Hook::Prerouting,
                Hook::Input,
                Hook::Output,
                Hook::Postrouting,
            ] {
                hooks |= hook_bit(h);
            }
        }
        Snapshot {
            generation,
            net,
            rules,
            hooks,
            tracks,
            conntrack: crate::conntrack::Config::default(),
            forward_v4: true,
            forward_v6: true,
        }
    }

    /// The network of an appliance configuration, without rules.
    pub fn from_appliance(a: &Appliance, generation: u64) -> Result<Snapshot, RouteError> {
        let mut s = Snapshot::new(generation, Net::from_appliance(a)?, None);
        s.conntrack = crate::conntrack::Config::from_conf(&a.conntrack);
        Ok(s)
    }

    /// The network of `a` with `rules` (and the sets of `sets`) compiled.
    pub fn build(
        a: &Appliance,
        rules: &Ruleset,
        sets: &SetFile,
        params: RulesParams,
        generation: u64,
    ) -> Result<Snapshot, SnapshotError> {
        Snapshot::build_dual(a, rules, None, sets, params, generation)
    }

    /// [`Snapshot::build`] with an ip6tables ruleset too
    /// ([`Program::compile_dual`]).
    pub fn build_dual(
        a: &Appliance,
        rules: &Ruleset,
        rules6: Option<&Ruleset>,
        sets: &SetFile,
        params: RulesParams,
        generation: u64,
    ) -> Result<Snapshot, SnapshotError> {
        let prog = Program::compile_dual(a, rules, rules6, sets, params)?;
        let net = Net::from_appliance(a)?;
        let mut s = Snapshot::new(generation, net, Some(Arc::new(prog)));
        s.conntrack = crate::conntrack::Config::from_conf(&a.conntrack);
        Ok(s)
    }

    /// The same configuration with `rules` instead, as generation
    /// `generation`.
    pub fn with_rules(&self, rules: Option<Arc<Program>>, generation: u64) -> Snapshot {
        let mut s = Snapshot::new(generation, self.net.clone(), rules);
        s.conntrack = self.conntrack.clone();
        s.forward_v4 = self.forward_v4;
        s.forward_v6 = self.forward_v6;
        s
    }

    /// Whether connections of any family are tracked.
    #[inline]
    pub fn tracks(&self) -> bool {
        self.tracks.any()
    }

    /// The families whose connections are tracked.
    #[inline]
    pub fn tracked(&self) -> crate::conntrack::Families {
        self.tracks
    }

    /// [`hook_bit`] of every hook where the ruleset has something to run.
    #[inline]
    pub fn hooks(&self) -> u8 {
        self.hooks
    }
}
