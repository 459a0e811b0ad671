//! BIND statistics JSON v1 (whole documents and subsets): never panics, and whatever it parses
//! to renders as well-formed munin and Prometheus output.
#![no_main]

use libfuzzer_sys::fuzz_target;
use opskit::api::bind::parse_json;

include!("bind_common.rs");

fuzz_target!(|data: &[u8]| {
    if let Ok(st) = parse_json(data) {
        check_renderings(&st);
    }
});
