//! One integration-test binary, a module per topic (ripgrep's layout).

mod util;

mod bindstats;
mod cli;
mod conn_audit;
mod generated;
mod itop;
mod purity;
mod ssd_align;
