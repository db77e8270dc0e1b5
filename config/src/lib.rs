//! sluice-config: the typed model of everything an operator writes.
//!
//! * [`appliance`]: the appliance TOML (interfaces, routes, policy rules,
//!   firewall files, dataplane sizing, conntrack sysctls).
//! * [`iptables`]: the `iptables-restore` language, parsed into a typed rule
//!   model and printed back exactly as `iptables-save` prints it.
//! * [`ipset`]: `ipset save` / `ipset restore` files.
//! * [`lint`]: warnings about rulesets that load but do not do what the
//!   operator probably meant.
//!
//! This crate never touches packets; the dataplane compiles this model.

pub mod appliance;
pub mod error;
pub use error::{Error, ErrorKind, Location};
pub mod bundle;
pub mod ipset;
pub mod iptables;
pub mod lint;
mod num;
