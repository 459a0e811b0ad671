//! Size, duration and CPU-list parsers (command-line values and sysfs/procfs files):
//! never panic, never allocate without bound, and round-trip what they accept.
#![no_main]

use libfuzzer_sys::fuzz_target;
use opskit::api::units::{format_cpu_list, format_size, parse_cpu_list, parse_duration, parse_size};

fuzz_target!(|data: &[u8]| {
    let Ok(s) = std::str::from_utf8(data) else {
        return;
    };
    if let Ok(bytes) = parse_size(s) {
        assert_eq!(parse_size(&format_size(bytes)).ok(), Some(bytes), "{s:?}");
    }
    let _ = parse_duration(s);
    if let Ok(cpus) = parse_cpu_list(s) {
        assert_eq!(parse_cpu_list(&format_cpu_list(&cpus)).ok(), Some(cpus), "{s:?}");
    }
});
