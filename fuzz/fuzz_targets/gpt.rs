//! GPT headers and entry arrays: never panic, never allocate what a header claims, and every
//! accepted partition lies inside the usable area with first <= last.
#![no_main]

use libfuzzer_sys::fuzz_target;
use opskit::api::disk::{gpt, table, Bytes};

fuzz_target!(|data: &[u8]| {
    for ss in [512u64, 4096] {
        if let Ok(t) = gpt::parse(&mut Bytes(data), ss) {
            assert!(t.partitions.len() as u64 <= gpt::MAX_ARRAY_BYTES / 128);
            for p in &t.partitions {
                assert!(p.start >= 2 && p.sectors >= 1, "{p:?}");
                assert!((p.start + p.sectors) * ss <= data.len() as u64, "{p:?}");
            }
        }
    }
    let _ = table::read(&mut Bytes(data), Some(512), None);
});
