//! /proc/interrupts and /proc/softirqs: the parser never panics, and what it accepts is
//! consistent (CPU ids increasing, every per-CPU row as wide as the header, labels short
//! ASCII, members pointing at summaries); rates between two halves of the input are finite and
//! non-negative, the rates of a snapshot against itself are zero, and both printers run
//! without letting a control character through (JSON included).
#![no_main]

use libfuzzer_sys::fuzz_target;
use opskit::api::itop::{RowKind, RowRole, Snapshot, Stamp, MAX_LABEL, MAX_ROWS};
use opskit::api::itop::rates;
use opskit::api::itop::ViewOpts;
use opskit::api::itop::{write_json, write_text, Sample, Source};

fn check(s: &Snapshot) {
    assert!(s.cpus.windows(2).all(|w| w[0] < w[1]));
    assert!(s.len() <= MAX_ROWS);
    for r in s.rows() {
        assert!(!r.label.is_empty() && r.label.len() <= MAX_LABEL && r.label.is_ascii());
        match r.kind {
            RowKind::PerCpu => assert_eq!(r.counts.len(), s.cpus.len()),
            RowKind::Single => assert_eq!(r.counts.len(), 1),
            RowKind::NoCount => assert!(r.counts.is_empty()),
        }
        if let RowRole::Member(g) = r.role {
            assert_eq!(s.row(g).role, RowRole::Summary);
        }
    }
}

fn print(s: &Snapshot, r: &opskit::api::itop::Rates) {
    let facts = opskit::api::itop::Facts::default();
    let nodes = Default::default();
    // the one judge, as batch and the TUI call it
    let report = opskit::api::itop::judge(&opskit::api::itop::Input {
        source: Source::Interrupts,
        prev_cpus: &s.cpus,
        snap: s,
        rates: r,
        facts: &facts,
        nodes: &nodes,
        prev_stat: None,
        stat: None,
    });
    let sample = Sample {
        snap: s,
        rates: r,
        stamp: Stamp {
            mono: 1.0,
            wall: (0, 0),
        },
        source: Source::Interrupts,
        facts: &facts,
        nodes: &nodes,
        report: &report,
    };
    let mut out = Vec::new();
    write_json(&mut out, &sample, &ViewOpts::default()).unwrap();
    serde_json::from_slice::<serde_json::Value>(&out).unwrap();
    // outside text is escaped before serde: no raw ESC or C1 CSI, no \u001b for jq -r to undo
    assert!(!out.contains(&0x1b) && !out.windows(2).any(|w| w == [0xc2, 0x9b]));
    assert!(!out.windows(6).any(|w| w.eq_ignore_ascii_case(b"\\u001b")));
    out.clear();
    write_text(&mut out, &sample, &ViewOpts::default()).unwrap();
    assert!(!out.contains(&0x1b), "an escape reached the text output");
}

fuzz_target!(|data: &[u8]| {
    if let Ok(s) = Snapshot::parse(data) {
        check(&s);
        let same = rates(&s, &s, 1.0);
        assert_eq!(same.total, 0.0);
        print(&s, &same);
    }
    // two snapshots: the input split at its first NUL (or in half)
    let cut = data.iter().position(|&b| b == 0).unwrap_or(data.len() / 2);
    let (a, b) = (&data[..cut], &data[(cut + 1).min(data.len())..]);
    if let (Ok(a), Ok(b)) = (Snapshot::parse(a), Snapshot::parse(b)) {
        let r = rates(&a, &b, 1.0);
        assert!(r.total.is_finite() && r.total >= 0.0);
        for ir in &r.irqs {
            assert!(ir.total.is_none_or(|t| t.is_finite() && t >= 0.0));
            assert!(ir
                .per_cpu
                .iter()
                .flatten()
                .all(|v| v.is_finite() && v >= 0.0));
        }
        print(&b, &r);
    }
});
