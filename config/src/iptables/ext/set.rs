//! PLACEHOLDER: not implemented yet; every use is refused with an error.
use super::{Cx, Extension, Opt};
use crate::iptables::model::Rule;

/// Not implemented yet: refused.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Set;

impl Extension for Set {
    const OPTIONS: &'static [Opt] = &[];
    fn parse(&mut self, _: &'static str, _: bool, _: &[String], _: &Cx) -> Result<(), String> {
        Err("not implemented yet".into())
    }
    fn finish(&mut self, _: &Rule, _: &Cx) -> Result<(), String> {
        Err("not implemented yet".into())
    }
    fn save(&self, _: &mut String) {}
}
