//! The daemon's API: a Unix socket (`[control] socket`, default
//! `/run/sluice/sluice.sock`, mode 0600, root only) that `sluice run`
//! serves from its control thread, and every CLI command that touches a
//! running box calls.
//!
//! One request per connection, one JSON line each way ([`proto`]); the
//! client side is [`client::call`]; the daemon's side is
//! `crate::run::api`. [`diff`] is what `sluice diff` prints.

pub mod client;
pub mod diff;
pub mod proto;
