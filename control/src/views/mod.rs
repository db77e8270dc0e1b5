//! Operator views: what `sluice rules list`, `rules save`, `conntrack
//! list|count`, `route show`, `rule show`, `neigh show`, `sets list` and
//! `stats` print, as pure functions of what the daemon holds (the
//! snapshot's ruleset, FIB and sets, the workers' counters, conntrack
//! listings and neighbour tables), each in the text layout of the tool
//! operators know (`iptables -L`, `iptables-save`, `conntrack -L`, `ip
//! route`, `ip rule`, `ip neigh`, `ipset list`) and as JSON. And
//! `sluice trace` ([`trace`]): a described packet's path through the
//! snapshot, from the dataplane's tracer.
//!
//! Nothing here talks to a worker or a socket: the daemon gathers the data
//! (see each function's doc for what it needs) and calls these; the CLI
//! parsing of each command is in [`cli`].

pub mod cli;
pub mod conntrack;
pub mod counters;
pub mod metrics;
pub mod names;
pub mod route;
pub mod rules_list;
pub mod rules_save;
pub mod sets;
pub mod stats;
pub mod trace;

use thiserror::Error;

/// Why a view cannot be printed; the message is what the tool it imitates
/// prints.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum ViewError {
    /// iptables' message for `-L CHAIN` of a chain the table does not have.
    #[error("iptables: No chain/target/match by that name.")]
    NoChain(String),
    /// A conntrack filter the command line got wrong, in conntrack-tools'
    /// words.
    #[error("conntrack v1.4.7 (conntrack-tools): {0}")]
    Conntrack(String),
    /// `ip route show table N` of a table that is not a number or name.
    #[error("Error: argument \"{0}\" is wrong: table id value is invalid")]
    RouteTable(String),
    /// `ip route show table N` of a table without routes (the kernel has
    /// no such table).
    #[error("Error: ipv4: FIB table does not exist.\nDump terminated")]
    NoFibTable,
    /// `ip neigh show dev IF` of an interface the box does not have.
    #[error("Cannot find device \"{0}\"")]
    NoDevice(String),
    /// `ip neigh show` with something other than `dev IF`.
    #[error("Error: sluice neigh show takes `dev IF` only, not \"{0}\".")]
    NeighSelector(String),
    /// `ipset list NAME` of a set that does not exist.
    #[error("ipset v7.17: The set with the given name does not exist")]
    NoSet(String),
}
