//! /proc/stat `cpu` lines: the parser never panics; CPU ids come out increasing; the handler
//! percentages between two halves of the input are within 0..=100 (or unknown).
#![no_main]

use libfuzzer_sys::fuzz_target;
use opskit::api::itop::{handler_time, CpuStat};

fuzz_target!(|data: &[u8]| {
    let Ok(s) = CpuStat::parse(data) else {
        return;
    };
    assert!(s.cpus.windows(2).all(|w| w[0].0 < w[1].0));
    for &(id, _) in &s.cpus {
        assert!(handler_time(&s, &s, id).is_none(), "no tick passed");
    }
    let cut = data.iter().position(|&b| b == 0).unwrap_or(data.len() / 2);
    let (Ok(a), Ok(b)) = (CpuStat::parse(&data[..cut]), CpuStat::parse(&data[cut..])) else {
        return;
    };
    for &(id, _) in &b.cpus {
        if let Some(h) = handler_time(&a, &b, id) {
            assert!((0.0..=100.0).contains(&h.irq) && (0.0..=100.0).contains(&h.softirq));
            assert!(h.total() <= 100.0 + 1e-9, "{h:?}");
        }
    }
});
