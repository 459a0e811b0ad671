//! MBR tables (with EBR chains) and the sector-size settling that reads every partition's
//! layers: never panic, never loop, and what parses is consistent.
#![no_main]

use libfuzzer_sys::fuzz_target;
use opskit::api::disk::{mbr, table, validate, Bytes, Role};

fuzz_target!(|data: &[u8]| {
    for ss in [512u64, 4096] {
        if let Ok(t) = mbr::parse(&mut Bytes(data), ss) {
            assert!(t.partitions.len() <= 4 + 256);
            for p in &t.partitions {
                assert!(p.start > 0 && p.sectors > 0, "{p:?}");
                assert_eq!(p.logical, p.number >= 5);
            }
            if validate(&t, data.len() as u64).is_ok() {
                for p in t.partitions.iter().filter(|p| p.role == Role::Data) {
                    assert!((p.start + p.sectors) * ss <= data.len() as u64);
                }
            }
        }
    }
    let _ = table::read(&mut Bytes(data), None, None);
});
