//! sluice-control: the control side of the appliance: CLI commands, and (with
//! the AF_XDP issue) the daemon and its control thread.

pub mod canon;
pub mod check;
