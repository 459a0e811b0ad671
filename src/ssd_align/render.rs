//! ssd-align's text report: the device, the grain, each partition with its chain of layers
//! (`p1 @1 MiB -> LUKS2 data @+16 MiB -> PV data @+1 MiB -> LV root @...`), the fixes, the
//! tuning warnings and the verdict. Device names were escaped when gathered.

use std::fmt::Write as _;

use crate::common::units::format_size;
use crate::ssd_align::disk::stack::Kind;
use crate::ssd_align::disk::{Role, TableKind};
use crate::ssd_align::judge::align::LEGACY_FDISK;
use crate::ssd_align::judge::{PartReport, Report, Verdict};

fn opt(v: Option<u64>) -> String {
    v.map(|b| format!("{b} B")).unwrap_or_else(|| "-".into())
}

/// Bytes as `1 MiB` when whole, else exact bytes.
fn at(b: u64) -> String {
    if b > 0 && b % 1024 == 0 {
        format_size(b)
    } else {
        format!("{b} B")
    }
}

/// Render the report as text.
pub(crate) fn text(r: &Report, legacy: bool) -> String {
    let mut out = String::new();
    header(&mut out, r);
    if r.target.is_some() {
        if r.partitions.is_empty() {
            out.push_str("  no partitions\n");
        }
        for p in &r.partitions {
            partition(&mut out, p);
        }
    }
    if let Some(w) = &r.commands_destroy {
        let _ = writeln!(out, "WARNING: {w}");
    }
    out.push_str("commands for an aligned layout:\n");
    for c in &r.commands {
        let _ = writeln!(out, "  {c}");
    }
    let _ = writeln!(out, "{}", r.trim);
    if legacy {
        let _ = writeln!(out, "{LEGACY_FDISK}");
    }
    verdict(&mut out, r);
    out
}

fn header(out: &mut String, r: &Report) {
    match &r.target {
        Some(t) => {
            let table = match r.table {
                Some(TableKind::None) => ", no partition table".to_string(),
                Some(k) => format!(", {} partition table", k.name()),
                None => String::new(),
            };
            let source = match r.source {
                Some(s) => serde_json::to_value(s)
                    .ok()
                    .and_then(|v| v.as_str().map(str::to_string))
                    .unwrap_or_default(),
                None => "?".into(),
            };
            let _ = writeln!(out, "ssd-align: {t} ({source}{table})");
            let _ = writeln!(
                out,
                "  logical sector {}, physical sector {}, minimum I/O {}, optimal I/O {}, discard granularity {}, alignment offset {}",
                opt(r.logical_sector),
                opt(r.physical_sector),
                opt(r.minimum_io),
                opt(r.optimal_io),
                opt(r.discard_granularity),
                r.alignment_offset.map(|v| v.to_string()).unwrap_or_else(|| "-".into())
            );
            if let (Some(ev), Some(ss)) = (r.sector_evidence, r.logical_sector) {
                let _ = writeln!(out, "  table read in {ss}-byte sectors: {}", ev.describe());
            }
        }
        None => out.push_str("ssd-align calculator\n"),
    }
    let _ = writeln!(
        out,
        "  erase block {}, grain {} ({} B): partitions and LVM data start on multiples of it",
        format_size(r.erase_block_bytes),
        r.grain,
        r.grain_bytes
    );
    if let Some(raid) = &r.raid {
        let _ = writeln!(
            out,
            "  RAID {} over {} devices ({} data disks), chunk {} (from {})",
            raid.level,
            raid.devices,
            raid.data_disks,
            format_size(raid.chunk_bytes),
            if raid.source == crate::ssd_align::judge::RaidSource::Md {
                "md"
            } else {
                "options"
            }
        );
    }
    let _ = writeln!(
        out,
        "  ext4: stride={} stripe-width={} ({} B blocks); first aligned start: sector {} (512 B) / {} (4Kn)",
        r.stride, r.stripe_width, r.fs_block_bytes, r.first_start_512, r.first_start_4096
    );
    for n in &r.notes {
        let _ = writeln!(out, "  note: {n}");
    }
    for w in &r.warnings {
        let _ = writeln!(out, "  warning: {w}");
    }
}

/// `p1 @1 MiB -> LUKS2 data @+16 MiB -> PV data @+1 MiB -> LV data @...`
fn chain(p: &PartReport) -> String {
    let name = p.device.rsplit('/').next().unwrap_or(&p.device);
    let mut s = format!("{name} @{}", at(p.start_bytes));
    let mut prev = p.start_bytes;
    for l in &p.layers {
        let step = match l.kind {
            Kind::Pv => format!(
                "PV data @+{} (pe_start)",
                at(l.start_bytes - prev.min(l.start_bytes))
            ),
            Kind::Lv => format!(
                "{} data @{}",
                l.device
                    .rsplit('/')
                    .take(2)
                    .collect::<Vec<_>>()
                    .into_iter()
                    .rev()
                    .collect::<Vec<_>>()
                    .join("/"),
                at(l.start_bytes)
            ),
            k if k.is_container() => format!(
                "{} data @+{}",
                k.name(),
                at(l.start_bytes - prev.min(l.start_bytes))
            ),
            k => k.name().to_string(),
        };
        let _ = write!(
            s,
            " -> {step}{}",
            if l.aligned { "" } else { " (MISALIGNED)" }
        );
        if l.kind.is_container() {
            prev = l.start_bytes;
        }
    }
    s
}

fn partition(out: &mut String, p: &PartReport) {
    let state = match (p.role, p.aligned) {
        (Role::Extended, _) => "extended (container, not judged)",
        (_, true) => "aligned",
        (_, false) => "MISALIGNED",
    };
    let label = match &p.via {
        Some(via) => format!(
            "{} ({via})",
            p.device.rsplit('/').next().unwrap_or(&p.device)
        ),
        None => format!("p{}", p.number),
    };
    let _ = writeln!(
        out,
        "{label}  start sector {} ({} B sectors) = {} B  {state}",
        p.start_sector, p.sector_bytes, p.start_bytes
    );
    if !p.layers.is_empty() {
        let _ = writeln!(out, "    {}", chain(p));
    }
    for c in &p.checks {
        let _ = writeln!(
            out,
            "    {} {}: {}",
            if c.aligned { "ok " } else { "BAD" },
            c.what,
            c.detail
        );
    }
    for l in &p.layers {
        for r in &l.reasons {
            let _ = writeln!(out, "    BAD {r}");
        }
    }
    if let Some(f) = &p.fix {
        let _ = writeln!(out, "        fix: {f}");
    }
    for c in &p.contents {
        let _ = writeln!(
            out,
            "    {} {}: {}",
            if c.ok { "ok " } else { "TUNE" },
            c.kind.name(),
            c.detail
        );
        if let Some(f) = &c.fix {
            let _ = writeln!(out, "        tuning fix: {f}");
        }
    }
}

fn verdict(out: &mut String, r: &Report) {
    let n = r.partitions.len();
    let bad = r.partitions.iter().filter(|p| !p.aligned).count();
    let tune = r
        .partitions
        .iter()
        .flat_map(|p| &p.contents)
        .filter(|c| !c.ok)
        .count();
    let tuning = if tune > 0 {
        format!("; {tune} filesystem tuning warning(s)")
    } else {
        String::new()
    };
    let _ = match r.verdict {
        Verdict::Calculated => writeln!(out, "verdict: calculated (nothing checked)"),
        Verdict::Aligned => writeln!(out, "verdict: aligned ({n} partitions checked{tuning})"),
        Verdict::Misaligned => {
            writeln!(out, "verdict: misaligned ({bad} of {n} partitions{tuning})")
        }
    };
}
