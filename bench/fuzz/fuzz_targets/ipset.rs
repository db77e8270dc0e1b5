//! The ipset file parser: any UTF-8 text as an `ipset save` file.
#![no_main]

use std::path::Path;

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(text) = std::str::from_utf8(data) {
        let _ = sluice_config::ipset::parse(text, Path::new("fuzz.sets"));
    }
});
