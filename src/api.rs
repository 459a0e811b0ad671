//! The library's only public surface: the parsers and writers that the fuzz targets
//! (`fuzz/`), the benches (`benches/`) and the integration tests call directly. Everything
//! else is crate-private, so the compiler reports what nothing uses. Nothing here is a stable
//! interface for other programs: opskit is a command.

/// BIND statistics documents (XML v2/v3 and JSON) and the munin/Prometheus mapping.
pub mod bind {
    pub use crate::bindstats::model::xml_source::Chunked;
    pub use crate::bindstats::model::{
        parse, parse_chunked, parse_doc, parse_json, Stats, ZoneFilter,
    };
    pub use crate::bindstats::render::metrics::families;
    pub use crate::bindstats::render::munin::{graphs, Settings};
}

/// On-disk metadata: partition tables, md, LUKS, LVM, filesystems.
pub mod disk {
    pub use crate::ssd_align::disk::{
        crc32, gpt, luks, lvm, mbr, md, stack, table, validate, Bytes, Role,
    };
}

/// /proc/interrupts, /proc/stat, rates and itop's renderers.
pub mod itop {
    pub use crate::itop::judge::numa::CpuNodes;
    pub use crate::itop::judge::view::ViewOpts;
    pub use crate::itop::judge::{judge, Input, Report};
    pub use crate::itop::model::cpustat::{handler_time, CpuStat};
    pub use crate::itop::model::devices::Facts;
    pub use crate::itop::model::interrupts::{
        RowKind, RowRole, Snapshot, Stamp, MAX_LABEL, MAX_ROWS,
    };
    pub use crate::itop::model::rates::{rates, rates_into, RateScratch, Rates};
    pub use crate::itop::render::{write_json, write_text, Sample, Source};
}

/// /proc/net/tcp and sock_diag replies.
pub mod tcp {
    pub use crate::conn_audit::model::sock_diag::parse_dump;
    pub use crate::conn_audit::model::tcp::{canonical, parse_proc_net_tcp, TcpState};
}

/// The shared output formats.
pub mod format {
    pub use crate::format::json::write_pretty_clean;
    pub use crate::format::munin::{clean_fieldname, clean_graphname, write, Dirty, Values, Verb};
    pub use crate::format::prometheus::write as write_prometheus;
}

/// Units: sizes, durations, CPU lists.
pub mod units {
    pub use crate::common::units::{
        format_cpu_list, format_size, parse_cpu_list, parse_duration, parse_size,
    };
}

pub use crate::cli::TOOLS;
pub use crate::generate::artifacts;
