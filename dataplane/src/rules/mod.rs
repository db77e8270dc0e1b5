pub mod classify;
pub mod limit;
pub mod log;
pub mod recent;
pub mod reject;
pub mod sets;
pub mod statistic;
