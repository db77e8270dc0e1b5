
pub mod wire;
pub mod route;
