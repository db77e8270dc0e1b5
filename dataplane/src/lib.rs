//! sluice-dataplane: everything a worker core does to a frame. The tree
//! reads like a frame's path: [`io`] (ports and frame memory), [`wire`]
//! (parsing), [`pipeline`] (the hook order), [`rules`] (compiled rule
//! programs), [`route`] (FIB, policy, neighbours), [`local`] (delivery to
//! the box), [`worker`] (the poll loop). See DESIGN.md.

pub mod io;
pub mod local;
pub mod pipeline;
pub mod route;
pub mod rules;
pub mod wire;
pub mod worker;
