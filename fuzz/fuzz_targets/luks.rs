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
    }
});
