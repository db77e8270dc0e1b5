//! The iptables-restore parser: any bytes as a restore file.
#![no_main]

use std::path::Path;

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = sluice_config::iptables::parse_bytes(data, Path::new("fuzz.rules"));
});
