//! BIND statistics XML (v2 and v3, whole documents and subsets): the streaming parser never
//! panics or hangs, skipping zones changes nothing but the zones, a document read in chunks
//! (`--file`) parses as it does in memory (an HTTP body), and whatever it returns renders as
//! well-formed munin and Prometheus output.
#![no_main]

use libfuzzer_sys::fuzz_target;
use opskit::api::bind::{parse_chunked, parse_doc, ZoneFilter};
use opskit::api::bind::Chunked;

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
        let want = parse_doc(doc, &z);
        let chunked = parse_chunked(Chunked::with_capacity(doc, cap), &z);
        assert_eq!(chunked, want, "chunk {cap}");
        // and read one to three bytes at a time (a trickling pipe or HTTP body)
        let trickled = parse_chunked(Chunked::with_capacity(Trickle(doc, 0), 64), &z);
        assert_eq!(trickled, want, "trickled");
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

/// A reader that gives one, two or three bytes a read.
struct Trickle<'a>(&'a [u8], usize);

impl std::io::Read for Trickle<'_> {
    fn read(&mut self, out: &mut [u8]) -> std::io::Result<usize> {
        self.1 += 1;
        let n = (self.1 % 3 + 1).min(out.len()).min(self.0.len());
        out[..n].copy_from_slice(&self.0[..n]);
        self.0 = &self.0[n..];
        Ok(n)
    }
}
