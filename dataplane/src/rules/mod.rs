pub mod classify;
pub mod limit;
pub mod recent;
pub mod statistic;
pub mod sets;
pub mod reject;
pub mod log;
