//! sluice-control: the control side of the appliance: the CLI commands and
//! the daemon (`sluice run`).

pub mod api;
pub mod canon;
pub mod check;
pub mod ctl;
pub mod dhcp;
pub mod run;
pub mod views;
