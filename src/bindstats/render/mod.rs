//! bindstats' mapping of a parsed statistics document onto munin graphs and Prometheus
//! families; the shared writers in [`crate::format`] print them.

pub(crate) mod metrics;
pub(crate) mod munin;
