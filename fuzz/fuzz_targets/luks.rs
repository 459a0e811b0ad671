//! LUKS1/LUKS2 headers and the LUKS2 JSON metadata: never panic; a LUKS2 header size is
//! bounded before it is read.
#![no_main]

use libfuzzer_sys::fuzz_target;
use opskit::api::disk::luks;

fuzz_target!(|data: &[u8]| {
    if let Ok(luks::Probe::NeedsJson { hdr_size }) = luks::probe(data) {
        assert!(hdr_size <= luks::MAX_LUKS2_HDR);
    }
    if let Ok(l) = luks::parse_luks2(data) {
        assert!(matches!(l.sector_size, 512 | 1024 | 2048 | 4096));
        assert!(l.data_offset >= 2 * data.len() as u64, "never inside the headers");
    }
    // the primary/secondary choice: at the smallest header size, both halves of the input
    let h = 16384;
    if data.len() >= 2 * h {
        let _ = luks::select_luks2(&data[..h], &data[h..2 * h], h as u64);
    }
});
