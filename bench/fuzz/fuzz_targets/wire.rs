//! The wire parser at the edge: any bytes as a received frame.
#![no_main]

use libfuzzer_sys::fuzz_target;
use sluice_dataplane::wire;

fuzz_target!(|data: &[u8]| {
    if let Ok(meta) = wire::parse(data) {
        // What later stages index the frame with lies inside it.
        let _ = std::hint::black_box(meta);
    }
    if let Ok(p) = wire::arp::Packet::new_checked(data) {
        let _ = wire::ArpRepr::parse(&p);
    }
});
