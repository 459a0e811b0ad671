//! The system tests: real servers and tools (named, munin, tmux, Prometheus, ss, lsirq,
//! mpstat, loop devices, lvm2/cryptsetup/mdadm, dpkg), network namespaces and root. Built only
//! with `--features system-tests`; `scripts/test.sh` installs what they need and runs them.
//! A test that cannot run prints `SKIPPED: reason`; under `CI=true` an unexpected skip fails.
#![allow(clippy::unwrap_used)] // tests may panic on unexpected failures

#[path = "../common/util.rs"]
mod util;

mod bindstats;
mod bindstats_http;
mod bindstats_listen;
mod bindstats_munin;
mod bindstats_perl;
mod bindstats_prom;
mod conn_audit;
mod conn_audit_causes;
mod conn_audit_review;
mod conn_audit_twins;
mod docs_commands;
mod install;
mod itop;
mod ssd_align;
mod ssd_align_hardening;
mod ssd_align_layers;
mod ssd_align_property;
mod ssd_align_review;
mod ssd_align_safety;
mod ssd_align_stack;
