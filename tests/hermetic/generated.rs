//! The checked-in man pages and completions match the clap definitions.

use crate::util::repo;

#[test]
fn man_pages_and_completions_are_fresh() {
    let bless = std::env::var_os("OPSKIT_BLESS").is_some();
    let mut stale = Vec::new();
    for (rel, want) in opskit::api::artifacts().unwrap() {
        let p = repo().join(&rel);
        if std::fs::read(&p).ok().as_deref() != Some(&want[..]) {
            if bless {
                std::fs::create_dir_all(p.parent().unwrap()).unwrap();
                std::fs::write(&p, &want).unwrap();
            } else {
                stale.push(rel);
            }
        }
    }
    assert!(
        stale.is_empty(),
        "stale generated files {stale:?}: run `OPSKIT_BLESS=1 cargo test --test hermetic generated`"
    );
}

#[test]
fn every_checked_in_page_is_still_generated() {
    let want = opskit::api::artifacts().unwrap();
    for dir in ["man", "completions"] {
        for e in std::fs::read_dir(repo().join(dir)).unwrap() {
            let rel = format!("{dir}/{}", e.unwrap().file_name().to_string_lossy());
            assert!(
                want.contains_key(&rel),
                "{rel} is no longer generated: delete it"
            );
        }
    }
}
