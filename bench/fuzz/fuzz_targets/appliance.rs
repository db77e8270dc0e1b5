//! The appliance TOML parser and validation: any UTF-8 text as sluice.toml.
#![no_main]

use std::path::Path;

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(text) = std::str::from_utf8(data) {
        let _ = sluice_config::appliance::parse(text, Path::new("fuzz.toml"));
    }
});
