pub mod route;
pub mod rules;
pub mod wire;
