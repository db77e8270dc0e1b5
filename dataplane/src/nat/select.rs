//! NAT tuple selection (`get_unique_tuple`): a stand-in with the agreed
//! interface, replaced by the real one.
#![allow(dead_code)]

use super::PortSlice;
use crate::conntrack::tuple::Tuple;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Manip {
    Src,
    Dst,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub struct Range {
    pub addrs: Option<([u8; 16], [u8; 16])>,
    pub ports: Option<(u16, u16)>,
    pub base: Option<u16>,
    pub random: bool,
    pub random_fully: bool,
    pub persistent: bool,
}

pub fn unique_tuple(
    orig: &Tuple,
    range: &Range,
    manip: Manip,
    _slice: PortSlice,
    _rand: &mut dyn FnMut() -> u32,
    taken: &mut dyn FnMut(&Tuple) -> bool,
) -> Option<Tuple> {
    let mut t = *orig;
    if let Some((a, _)) = range.addrs {
        match manip {
            Manip::Src => t.src = a,
            Manip::Dst => t.dst = a,
        }
    }
    if let Some((lo, hi)) = range.ports {
        for p in lo..=hi {
            match manip {
                Manip::Src => t.sport = p,
                Manip::Dst => t.dport = p,
            }
            if !taken(&t) {
                return Some(t);
            }
        }
        return None;
    }
    (!taken(&t)).then_some(t)
}
