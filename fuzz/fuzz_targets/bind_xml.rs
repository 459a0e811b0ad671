//! BIND statistics XML (v2 and v3, whole documents and subsets): the streaming parser never
//! panics or hangs, skipping zones changes nothing but the zones, a document read in chunks
//! (`--file`) parses as it does in memory (an HTTP body), and whatever it returns renders as
//! well-formed munin and Prometheus output.
#![no_main]

use libfuzzer_sys::fuzz_target;
use opskit::domain::bind::{parse_chunked, parse_doc, ZoneFilter};
use opskit::domain::xml_source::Chunked;

include!("bind_common.rs");

fuzz_target!(|data: &[u8]| {
    let doc = data;
    // chunk boundaries anywhere (64 bytes is the smallest chunk)
    let cap = 64 + data.len() % 61;
    for z in [
        ZoneFilter::All,
        ZoneFilter::None,
        ZoneFilter::Summary(vec!["example.com".into()]),
    ] {
        let chunked = parse_chunked(Chunked::with_capacity(doc, cap), &z);
        assert_eq!(chunked, parse_doc(doc, &z), "chunk {cap}");
    }
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
