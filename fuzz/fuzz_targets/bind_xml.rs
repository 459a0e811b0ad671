//! BIND statistics XML (v2 and v3, whole documents and subsets): the streaming parser never
//! panics or hangs, skipping zones changes nothing but the zones, and whatever it returns
//! renders as well-formed munin and Prometheus output.
#![no_main]

use libfuzzer_sys::fuzz_target;
use opskit::domain::bind::{parse_doc, ZoneFilter};

include!("bind_common.rs");

fuzz_target!(|data: &[u8]| {
    let doc = data;
    let Ok(st) = parse_doc(doc, &ZoneFilter::All) else {
        return;
    };
    check_renderings(&st);
    if let Ok(none) = parse_doc(doc, &ZoneFilter::None) {
        check_renderings(&none);
        assert!(none.views.iter().all(|v| v.zones.is_empty()));
    }
    if let Ok(summary) = parse_doc(doc, &ZoneFilter::Summary(vec!["example.com".into()])) {
        check_renderings(&summary);
    }
});
