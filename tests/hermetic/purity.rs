//! Every tool's model (parsers), judge (verdicts) and render (words, commands), and the shared
//! formats (`src/format/`), stay free of I/O: they take values and write to a `dyn Write`
//! they are given. Only a tool's `gather` and `mod.rs` touch the system. (Address *types*
//! from std::net are plain values and allowed; sockets and name resolution are not.)

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
    "gather::",
    "crate::app",
    "crate::cli",
    "crate::common::fsread",
    "crate::common::root",
    "crate::common::serve",
    "crate::common::munin_state",
];

/// The tools, and below each the pure parts: its parsers, its judge and its renderers.
const PURE: &[&str] = &[
    "src/itop/model",
    "src/itop/judge",
    "src/itop/render",
    "src/bindstats/model",
    "src/bindstats/render",
    "src/conn_audit/model",
    "src/conn_audit/judge",
    "src/conn_audit/render.rs",
    "src/ssd_align/disk",
    "src/ssd_align/judge",
    "src/ssd_align/render.rs",
];

/// Every `.rs` file below `dir` (subfolders included), or `dir` itself when it is a file.
fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    if dir.is_file() {
        out.push(dir.to_path_buf());
        return;
    }
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
fn every_tools_model_judge_and_render_have_no_io() {
    let mut bad = Vec::new();
    for part in PURE {
        bad.extend(io_uses(&repo().join(part)));
    }
    assert!(bad.is_empty(), "I/O in a pure part: {bad:#?}");
}

/// Every tool folder has its pure parts listed above: a new tool cannot slip past the scan.
#[test]
fn every_tool_is_scanned() {
    for tool in opskit::api::TOOLS {
        let dir = tool.replace('-', "_");
        assert!(
            PURE.iter().any(|p| p.starts_with(&format!("src/{dir}/"))),
            "{tool}: no pure part scanned"
        );
        assert!(
            repo().join("src").join(&dir).join("mod.rs").is_file(),
            "{tool}"
        );
    }
}

/// The arrows point one way: renderers read the judge's reports, never the reverse, and
/// neither a model nor a judge knows the output formats.
#[test]
fn judges_do_not_depend_on_render() {
    let mut bad = Vec::new();
    for part in PURE.iter().filter(|p| !p.contains("render")) {
        bad.extend(uses(
            &repo().join(part),
            &["render::", "crate::format", "super::super::format"],
        ));
    }
    assert!(bad.is_empty(), "a model or judge uses a renderer: {bad:#?}");
}

#[test]
fn shared_formats_only_write_where_they_are_told() {
    let bad = io_uses(&repo().join("src/format"));
    assert!(bad.is_empty(), "I/O in the shared formats: {bad:#?}");
    let bad = uses(
        &repo().join("src/format"),
        &[
            "crate::itop",
            "crate::bindstats",
            "crate::conn_audit",
            "crate::ssd_align",
        ],
    );
    assert!(bad.is_empty(), "a shared format knows a tool: {bad:#?}");
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
