//! One integration-test binary, a module per topic (ripgrep's layout).
#![allow(clippy::unwrap_used)] // tests may panic on unexpected failures

mod util;

mod bindstats;
mod bindstats_http;
mod bindstats_munin;
mod bindstats_perl;
mod bindstats_prom;
mod cli;
mod conn_audit;
mod conn_audit_causes;
mod conn_audit_review;
mod generated;
mod install;
mod itop;
mod purity;
mod ssd_align;
mod ssd_align_hardening;
mod ssd_align_layers;
mod ssd_align_stack;
