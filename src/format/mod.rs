//! The output formats several tools share: writers of typed data that know no tool. Each
//! writes to any `std::io::Write` and never prints directly, so output is built in a buffer
//! and written whole (no partial output on error) and tested byte for byte.

pub(crate) mod json;
pub(crate) mod munin;
pub(crate) mod nagios;
pub(crate) mod prometheus;
pub(crate) mod table;
