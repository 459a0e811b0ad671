//! The shared core (`src/domain/`) and the renderers (`src/output/`) stay free of I/O: they
//! take values and write to a `dyn Write` they are given. (Address *types* from std::net are
//! plain values and allowed; sockets and name resolution are not.)

use std::path::{Path, PathBuf};

use crate::util::repo;

const FORBIDDEN: &[&str] = &[
    "std::fs",
    "File::open",
    "TcpStream",
    "TcpListener",
    "UdpSocket",
    "ToSocketAddrs",
    "std::env",
    "env::var",
    "std::process",
    "libc::",
    "nix::",
    "reqwest",
    "hyper",
    "crossterm",
    "ratatui",
    "Instant::now",
    "SystemTime::now",
    "stdin()",
    "stdout()",
    "stderr()",
    "println!",
    "eprintln!",
    "print!",
    "eprint!",
    "crate::sys",
    "crate::cmd",
    "crate::cli",
];

/// Every `.rs` file below `dir`, subfolders included.
fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for e in std::fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        if p.is_dir() {
            rust_files(&p, out);
        } else if p.extension().is_some_and(|x| x == "rs") {
            out.push(p);
        }
    }
}

fn io_uses(tree: &Path) -> Vec<String> {
    uses(tree, FORBIDDEN)
}

/// Where any of `forbidden` is used below `tree`, outside unit tests.
fn uses(tree: &Path, forbidden: &[&str]) -> Vec<String> {
    let mut files = Vec::new();
    rust_files(tree, &mut files);
    assert!(!files.is_empty(), "no sources under {}", tree.display());
    let mut bad = Vec::new();
    for p in files {
        let text = std::fs::read_to_string(&p).unwrap();
        // unit tests may read fixtures
        let code = text.split("#[cfg(test)]").next().unwrap_or("");
        for f in forbidden {
            if code.contains(f) {
                bad.push(format!("{} uses {f}", p.display()));
            }
        }
    }
    bad
}

#[test]
fn domain_has_no_io() {
    let bad = io_uses(&repo().join("src/domain"));
    assert!(bad.is_empty(), "I/O in the pure core: {bad:#?}");
}

/// The arrows point one way: `output/` renders `domain/`'s models, never the reverse (the
/// BIND graph and metric mapping lives in `output/`, as conn-audit's does).
#[test]
fn domain_does_not_depend_on_output() {
    let bad = uses(
        &repo().join("src/domain"),
        &["crate::output", "super::super::output"],
    );
    assert!(bad.is_empty(), "domain/ uses output/: {bad:#?}");
}

#[test]
fn output_only_writes_where_it_is_told() {
    let bad = io_uses(&repo().join("src/output"));
    assert!(bad.is_empty(), "I/O in the renderers: {bad:#?}");
}

#[test]
fn the_checker_sees_a_violation() {
    // the scan must be able to fail: a file that prints is reported
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(dir.path().join("sub")).unwrap();
    std::fs::write(dir.path().join("ok.rs"), "fn g() -> u8 { 1 }").unwrap();
    std::fs::write(dir.path().join("sub/x.rs"), "fn f() { println!(\"hi\"); }").unwrap();
    let bad = io_uses(dir.path());
    assert_eq!(bad.len(), 1, "{bad:?}");
    assert!(bad[0].contains("sub/x.rs uses println!"), "{bad:?}");
}
