//! Renderers: each writes to any `std::io::Write` and never prints directly, so output can be
//! built in a buffer and written whole (no partial output on error) and tested byte for byte.

pub mod bind_metrics;
pub mod bind_munin;
pub mod conn_audit;
pub mod escape;
pub mod itop;
pub mod json;
pub mod munin;
pub mod nagios;
pub mod prometheus;
pub mod ssd_align;
pub mod table;
