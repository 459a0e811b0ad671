//! bindstats on documents that need nothing outside the repository: inline input and the
//! real captures in `fixtures/bind/`.

use crate::util::{fixtures, opskit, run, run_peak_rss};

/// A 20 MB stream of nested tags (`<x><x><x>...`) is refused at once, naming the file and
/// the depth, in bounded memory (before: 449 MB, 22 bytes per input byte).
#[test]
fn a_20mb_nested_document_is_refused_in_bounded_memory() {
    let tmp = tempfile::tempdir().unwrap();
    let f = tmp.path().join("nested.xml");
    let mut doc = b"<?xml version=\"1.0\"?><statistics version=\"3.13\">".to_vec();
    doc.extend(b"<x>".repeat(20 * 1024 * 1024 / 3));
    std::fs::write(&f, &doc).unwrap();
    let (code, out, err, peak) = run_peak_rss(
        opskit()
            .args(["bindstats", "--format", "json", "--file"])
            .arg(&f),
    );
    assert_eq!(code, 1, "{err}");
    assert!(out.is_empty(), "partial output: {out}");
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(err.contains(&f.display().to_string()), "{err}");
    assert!(err.contains("nested deeper than 32"), "{err}");
    assert!(peak < 64 * 1024, "peak RSS {peak} KiB");
}

/// The healthy twin: BIND's real documents (v2 is 9 deep) are under the cap.
#[test]
fn real_documents_nest_under_the_cap() {
    for f in [
        "bind_exporter-v0.7.0-v2.xml",
        "bind-9.18.49-lab-xml-v3-server.xml",
        "bind-9.18.49-lab-xml-v3-mem.xml",
    ] {
        let (code, out, err) = run(opskit()
            .args(["bindstats", "--format", "json", "--file"])
            .arg(fixtures().join("bind").join(f)));
        assert_eq!(code, 0, "{f}: {err}");
        assert!(err.is_empty(), "{f}: {err}");
        let v: serde_json::Value = serde_json::from_str(&out).unwrap();
        assert!(v["format"].as_str().unwrap().starts_with("xml-v"), "{f}");
    }
}
