pub mod route;
pub mod wire;
