//! The iptables-restore parser: any bytes as a restore file, read by both
//! families' restores (iptables and ip6tables).
#![no_main]

use std::path::Path;

use libfuzzer_sys::fuzz_target;
use sluice_config::iptables::{bytes, parse_family, Family};

fuzz_target!(|data: &[u8]| {
    let path = Path::new("fuzz.rules");
    if let Ok(text) = bytes::decode(data, path) {
        for family in [Family::Ipv4, Family::Ipv6] {
            let _ = parse_family(&text, path, family);
        }
    }
});
