//! LVM2 labels, metadata area headers (a ring buffer) and text metadata: never panic, and
//! every LV segment found lies at pe_start + extent x extent size.
#![no_main]

use libfuzzer_sys::fuzz_target;
use opskit::api::disk::{lvm, stack, Bytes};

fuzz_target!(|data: &[u8]| {
    let _ = lvm::label(data);
    let _ = lvm::text_location(data, data.len() as u64);
    let text = String::from_utf8_lossy(data);
    if let Ok(v) = lvm::parse_text(&text) {
        for uuid in ["", "pv0"] {
            if let Ok(Some(pv)) = lvm::pv_layout(&v, uuid) {
                assert!(pv.pe_start > 0 && pv.extent_bytes > 0, "{pv:?}");
                for s in &pv.segments {
                    assert_eq!(s.offset, pv.pe_start + s.pv_extent * pv.extent_bytes);
                }
            }
        }
    }
    // every layer's data starts at or after its header and inside the device: never a
    // wrapped or saturated offset
    if let Ok(l) = stack::layers(&mut Bytes(data), 0, data.len() as u64) {
        for x in &l {
            assert!(x.at <= x.data_start && x.data_start < data.len() as u64, "{x:?}");
        }
    }
});
