//! Records the git commit opskit is built from, for `opskit --version` only (the man pages
//! show the plain version: src/generate.rs drops the long version). A build outside its own
//! git checkout (a crate tarball, `cargo install opskit`) just says the version.
use std::path::Path;
use std::process::Command;

fn git(args: &[&str]) -> Option<String> {
    let out = Command::new("git").args(args).output().ok()?;
    let s = String::from_utf8(out.stdout).ok()?;
    (out.status.success() && !s.trim().is_empty()).then(|| s.trim().to_string())
}

/// The short commit of this checkout's own repository (not, say, a dotfiles repository a
/// tarball was unpacked in), with the files whose change moves it.
fn commit() -> Option<(String, Vec<String>)> {
    let manifest = Path::new(&std::env::var("CARGO_MANIFEST_DIR").ok()?).canonicalize();
    let top = Path::new(&git(&["rev-parse", "--show-toplevel"])?).canonicalize();
    if manifest.ok()? != top.ok()? {
        return None;
    }
    let c = git(&["rev-parse", "--short=7", "HEAD"])?;
    // HEAD, the branch it names, packed refs; existing files only (a missing one would
    // rerun this script on every build)
    let mut refs = vec!["HEAD".to_string(), "packed-refs".to_string()];
    refs.extend(git(&["symbolic-ref", "-q", "HEAD"]));
    let watch = refs
        .iter()
        .filter_map(|r| git(&["rev-parse", "--path-format=absolute", "--git-path", r]))
        .filter(|f| Path::new(f).exists())
        .collect();
    Some((c, watch))
}

fn main() {
    let version = std::env::var("CARGO_PKG_VERSION").unwrap_or_default();
    println!("cargo:rerun-if-changed=build.rs");
    let long = match commit() {
        Some((c, watch)) => {
            for f in watch {
                println!("cargo:rerun-if-changed={f}");
            }
            format!("{version} (git {c})")
        }
        None => version,
    };
    println!("cargo:rustc-env=OPSKIT_LONG_VERSION={long}");
}
