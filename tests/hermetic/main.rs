//! The hermetic tests: what `cargo test` runs anywhere, without root, network, `../shared` or
//! anything installed beyond the Rust toolchain. Inputs are inline or copied into `fixtures/`
//! (each folder with its SOURCES); renderers are compared byte for byte.
//!
//! The system tests (real named, munin, tmux, loop devices, lvm2/cryptsetup, dpkg, root) are
//! the `system` target: `scripts/test.sh` runs them (`cargo test --features system-tests`).
#![allow(clippy::unwrap_used)] // tests may panic on unexpected failures

#[path = "../common/util.rs"]
mod util;

mod bindstats;
mod cli;
mod conn_audit;
mod docs_flags;
mod generated;
mod itop;
mod itop_tree;
mod purity;
mod ssd_align;
