//! `opskit ssd-align`: compute and check SSD alignment of partitions, LVM and filesystems.
//!
//! Never writes: devices and images are opened read-only and fixes are only printed.

use std::fmt::Write as _;
use std::io::Write as _;
use std::path::{Path, PathBuf};

use anyhow::Context as _;
use serde::Serialize;

use crate::cmd::Context;
use crate::domain::align::{
    check_optimal_io, check_start, ext4_warnings, move_target, parse_ext4, parse_lvm, parse_xfs,
    units, Check, Ext4Info, LvmInfo, Plan, Raid, RaidLevel, Request, Topology, XfsInfo, HEAD_BYTES,
    LEGACY_FDISK, TRIM_ADVICE,
};
use crate::domain::units::{clap_parsers, format_size};
use crate::exit::Outcome;
use crate::sys::block;

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    /// A report for people
    Text,
    /// One JSON document for scripts
    Json,
}

fn raid_level(s: &str) -> Result<RaidLevel, String> {
    RaidLevel::parse(s).map_err(|e| e.to_string())
}

#[derive(Debug, clap::Args)]
#[command(
    about = "Compute and check SSD alignment of partitions, LVM and filesystems",
    long_about = "Compute and check SSD alignment of partitions, LVM and filesystems.\n\n\
        Without TARGET it is a calculator: the grain partitions and LVM data must start on, the \
        first aligned start for 512-byte and 4Kn sectors, and the sfdisk, parted, pvcreate, \
        vgcreate, mkfs.ext4 and mkfs.xfs commands that produce an aligned layout.\n\n\
        With TARGET (a block device such as /dev/sdb, a device name under --root, or a disk \
        image) it checks every partition's start against the erase block, the physical sector, \
        the optimal I/O size and the discard granularity, and the LVM pe_start, ext4 \
        stride/stripe-width and XFS sunit/swidth found on them, and prints the fixes. It never \
        writes: everything is opened read-only.\n\n\
        Exit status: 0 everything checked is aligned, 1 something is misaligned, 2 error \
        (as `parted -s DEV align-check` uses 1).",
    after_help = "Examples:\n  \
        opskit ssd-align --erase-block 512k                      # calculator\n  \
        opskit ssd-align --erase-block 512k /dev/sdb             # check a disk\n  \
        opskit ssd-align --erase-block 1536k --format json disk.img\n  \
        opskit ssd-align --erase-block 512k --raid 5 --devices 4 --chunk 64k /dev/md0\n  \
        opskit --root /var/tmp/capture ssd-align --erase-block 512k sdb   # captured sysfs"
)]
pub struct Args {
    /// The SSD's erase block size (512k, 1536K, 4M, 4MiB, bytes, or 2048s in 512-byte sectors)
    #[arg(long, value_name = "SIZE", value_parser = clap_parsers::size)]
    pub erase_block: u64,

    /// The filesystem block size
    #[arg(long, value_name = "SIZE", default_value = "4k", value_parser = clap_parsers::size)]
    pub fs_block: u64,

    /// RAID level under the filesystem (0, 1, 4, 5, 6, 10); needs --devices and --chunk
    ///
    /// Found automatically for an md TARGET. Data disks: n (raid0), 1 (raid1), n-1 (raid4/5),
    /// n-2 (raid6), n/2 (raid10).
    #[arg(long, value_name = "LEVEL", value_parser = raid_level, requires_all = ["devices", "chunk"])]
    pub raid: Option<RaidLevel>,

    /// Number of devices in the RAID (with --raid)
    #[arg(long, value_name = "N", requires = "raid")]
    pub devices: Option<u64>,

    /// RAID chunk size (with --raid): 64k, 512k...
    #[arg(long, value_name = "SIZE", value_parser = clap_parsers::size, requires = "raid")]
    pub chunk: Option<u64>,

    /// Sector size of an image's MBR (an MBR does not record it; default: inferred, else 512)
    #[arg(long, value_name = "BYTES", value_parser = ["512", "4096"])]
    pub sector_size: Option<String>,

    /// Explain why the old `fdisk -H32 -S32` recipe no longer aligns
    #[arg(long)]
    pub legacy_fdisk: bool,

    /// Output format
    #[arg(long, value_enum, default_value_t = Format::Text, value_name = "FORMAT")]
    pub format: Format,

    /// A block device (/dev/sdb), a device name under --root (sdb), or a disk image file
    #[arg(value_name = "TARGET")]
    pub target: Option<PathBuf>,
}

#[derive(Debug, Serialize)]
struct FsCheck {
    kind: &'static str,
    aligned: bool,
    detail: String,
    fix: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    ext4: Option<Ext4Info>,
    #[serde(skip_serializing_if = "Option::is_none")]
    xfs: Option<XfsInfo>,
    #[serde(skip_serializing_if = "Option::is_none")]
    lvm: Option<LvmInfo>,
}

#[derive(Debug, Serialize)]
struct PartReport {
    number: u32,
    start_sector: u64,
    sector_bytes: u64,
    start_bytes: u64,
    size_bytes: u64,
    aligned: bool,
    reasons: Vec<String>,
    checks: Vec<Check>,
    contents: Vec<FsCheck>,
    /// For a misaligned start: the `sfdisk --move-data` command that moves the partition,
    /// data and all, to the next aligned start (when it fits).
    fix: Option<String>,
}

#[derive(Debug, Serialize)]
struct Report {
    target: Option<String>,
    source: Option<&'static str>,
    table: Option<&'static str>,
    erase_block_bytes: u64,
    fs_block_bytes: u64,
    grain_bytes: u64,
    grain: String,
    raid: Option<RaidReport>,
    stride: u64,
    stripe_width: u64,
    logical_sector: Option<u64>,
    physical_sector: Option<u64>,
    minimum_io: Option<u64>,
    optimal_io: Option<u64>,
    alignment_offset: Option<i64>,
    discard_granularity: Option<u64>,
    discard_max_bytes: Option<u64>,
    rotational: Option<bool>,
    first_start_512: u64,
    first_start_4096: u64,
    partitions: Vec<PartReport>,
    warnings: Vec<String>,
    notes: Vec<String>,
    commands: Vec<String>,
    trim: &'static str,
    verdict: &'static str,
}

#[derive(Debug, Serialize)]
struct RaidReport {
    level: String,
    devices: u64,
    data_disks: u64,
    chunk_bytes: u64,
    members: Vec<String>,
    source: &'static str,
}

/// The device node of partition `n` of `disk` (`/dev/sdb` -> `/dev/sdb1`, `/dev/nvme0n1` ->
/// `/dev/nvme0n1p1`).
fn part_dev(disk: &str, n: u32) -> String {
    if disk.ends_with(|c: char| c.is_ascii_digit()) || disk.starts_with("/dev/loop") {
        format!("{disk}p{n}")
    } else {
        format!("{disk}{n}")
    }
}

pub fn run(args: Args, ctx: &Context) -> anyhow::Result<Outcome> {
    let mut out = String::new();
    let code = build(&args, ctx, &mut out)?;
    let mut so = std::io::stdout().lock();
    so.write_all(out.as_bytes())
        .and_then(|()| so.flush())
        .context("writing to stdout")?;
    Ok(code)
}

fn build(args: &Args, ctx: &Context, out: &mut String) -> anyhow::Result<Outcome> {
    let mut raid = match (args.raid, args.devices, args.chunk) {
        (Some(level), Some(devices), Some(chunk)) => Some(Raid {
            level,
            devices,
            chunk,
        }),
        _ => None,
    };
    let mut raid_source = "options";
    let mut notes = Vec::new();
    let mut warnings = Vec::new();
    let mut topo = Topology::default();
    let mut rep_topo: Option<block::SysfsDevice> = None;
    let mut parts_in: Vec<(u32, u64, u64, u64)> = Vec::new(); // number, start, sector, size bytes
    let mut table_kind = None;
    let mut source = None;
    let mut data_path: Option<PathBuf> = None;
    let mut dev_display = "/dev/sdX".to_string();
    let mut members = Vec::new();
    // for move commands: the device or image, its length, and its sector size
    let mut move_dev: Option<(String, u64, u64)> = None;

    if let Some(target) = &args.target {
        let meta = if ctx.root.is_live() || target.is_absolute() {
            std::fs::metadata(target).ok()
        } else {
            None
        };
        let is_image = meta.as_ref().is_some_and(|m| m.is_file());
        if is_image {
            let sector = args.sector_size.as_deref().and_then(|s| s.parse().ok());
            let t = block::read_table(target, sector, None)?;
            source = Some("image");
            table_kind = Some(t.kind);
            topo.logical = t.sector;
            topo.physical = t.sector;
            notes.extend(t.note.clone());
            parts_in = t
                .partitions
                .iter()
                .map(|p| (p.number, p.start, t.sector, p.sectors * t.sector))
                .collect();
            data_path = Some(target.clone());
            dev_display = "/dev/loopX".into();
            if let Some(m) = &meta {
                move_dev = Some((target.display().to_string(), m.len(), t.sector));
            }
            if t.kind != "none" {
                notes.push(format!(
                    "partition devices below are named as after `losetup -fP {}`",
                    target.display()
                ));
            }
        } else {
            use std::os::unix::fs::FileTypeExt;
            let is_blockdev = meta
                .as_ref()
                .is_some_and(|m| m.file_type().is_block_device());
            if meta.is_some() && !is_blockdev {
                anyhow::bail!(
                    "{}: neither a block device nor a disk image file",
                    target.display()
                );
            }
            // a device node by any name (/dev/mapper/vg0-data, /dev/disk/by-id/...) is found
            // by its device number; a bare name (with --root) by that name
            use std::os::unix::fs::MetadataExt;
            let by_number = meta
                .as_ref()
                .filter(|_| is_blockdev)
                .and_then(|m| block::name_by_devnum(&ctx.root, m.rdev()));
            let name = match by_number {
                Some(n) => n,
                None => target
                    .file_name()
                    .map(|n| n.to_string_lossy().into_owned())
                    .with_context(|| format!("{}: not a device name", target.display()))?,
            };
            if meta.is_none() && ctx.root.is_live() {
                anyhow::bail!("{}: no such device or image", target.display());
            }
            let d = block::read_sysfs(&ctx.root, &name)?;
            source = Some("sysfs");
            topo.logical = d.logical;
            topo.physical = d.physical;
            topo.min_io = d.min_io;
            topo.alignment_offset = d.alignment_offset;
            topo.discard_granularity = d.discard_granularity;
            match d.optimal_io.map(|v| check_optimal_io(v, d.physical)) {
                Some(Ok(v)) => topo.optimal_io = Some(v),
                Some(Err(why)) => notes.push(why),
                None => {}
            }
            if d.rotational == Some(true) {
                warnings.push(format!("{name} reports rotational=1: it may not be an SSD (or the controller hides it)"));
            }
            if let (Some(level), Some(chunk), Some(n)) = (&d.md_level, d.md_chunk, d.md_disks) {
                match RaidLevel::parse(level) {
                    Ok(l) if raid.is_none() && chunk > 0 => {
                        raid = Some(Raid {
                            level: l,
                            devices: n,
                            chunk,
                        });
                        raid_source = "md";
                    }
                    Ok(_) => {}
                    Err(_) => notes.push(format!("md level '{level}' has no stripe geometry")),
                }
            }
            if let Some(dm) = &d.dm_name {
                notes.push(format!(
                    "device-mapper device '{dm}': members {}",
                    d.members.join(", ")
                ));
            }
            members = d.members.clone();
            parts_in = d
                .partitions
                .iter()
                .map(|(n, s, z)| (*n, *s, 512, z * 512))
                .collect();
            let node = if ctx.root.is_live() {
                target.clone()
            } else {
                PathBuf::from(format!("/dev/{name}"))
            };
            dev_display = match &d.partition_of {
                Some((parent, _)) => format!("/dev/{parent}"),
                None => node.display().to_string(),
            };
            if d.partition_of.is_none() {
                if let Some(size) = d.size512 {
                    let logical = if d.logical > 0 { d.logical } else { 512 };
                    move_dev = Some((dev_display.clone(), size * 512, logical));
                }
                if is_blockdev {
                    // the label kind (MBR logical partitions are not moved), read-only
                    table_kind = block::read_table(target, None, Some(d.logical))
                        .ok()
                        .map(|t| t.kind);
                }
            }
            if parts_in.is_empty() && d.partition_of.is_none() && is_blockdev {
                // no partitions: whatever sits on the whole device is checked as partition 0
                parts_in.push((0, 0, 512, d.size512.unwrap_or(0) * 512));
            }
            if is_blockdev {
                // file systems and PVs are read from the device itself, read-only
                data_path = Some(match &d.partition_of {
                    Some((parent, _)) => PathBuf::from(format!("/dev/{parent}")),
                    None => target.clone(),
                });
            }
            rep_topo = Some(d);
        }
    }

    let req = Request {
        erase_block: args.erase_block,
        fs_block: args.fs_block,
        raid,
    };
    let plan: Plan = req.plan().map_err(|e| anyhow::anyhow!("{e}"))?;
    warnings.extend(plan.warnings.iter().cloned());
    if topo.alignment_offset == Some(-1) {
        warnings.push("the device reports alignment_offset -1: its own sectors are misaligned to its physical blocks".into());
    }

    let mut misaligned = topo.alignment_offset.is_some_and(|o| o != 0);
    let units = units(&plan, &topo);
    let mut parts = Vec::new();
    let mut file = match &data_path {
        Some(p) => Some(block::open_ro(p)?),
        None => None,
    };
    for (n, start, sector, size) in parts_in {
        let label = format!("p{n}");
        let checks = check_start(&label, start, sector, &units);
        let mut reasons: Vec<String> = checks
            .iter()
            .filter(|c| !c.aligned)
            .map(|c| format!("{}: {}", c.what, c.detail))
            .collect();
        let mut contents = Vec::new();
        let start_bytes = start * sector;
        let pdev = part_dev(&dev_display, n);
        if let Some(f) = file.as_mut() {
            let head = block::read_bytes(f, start_bytes, HEAD_BYTES).with_context(|| {
                format!(
                    "reading partition {n} of {}",
                    data_path.as_deref().unwrap_or(Path::new("?")).display()
                )
            })?;
            contents.extend(check_contents(&head, start_bytes, &plan, &pdev));
        }
        for c in &contents {
            if !c.aligned {
                reasons.push(format!("{}: {}", c.kind, c.detail));
            }
        }
        let aligned = reasons.is_empty();
        misaligned |= !aligned;
        parts.push(PartReport {
            number: n,
            start_sector: start,
            sector_bytes: sector,
            start_bytes,
            size_bytes: size,
            aligned,
            reasons,
            checks,
            contents,
            fix: None,
        });
    }
    if let Some((dev, len, sector)) = &move_dev {
        move_fixes(
            &mut parts, &units, table_kind, dev, *len, *sector, &mut notes,
        );
    }
    let verdict = match (&args.target, misaligned) {
        (None, _) => "calculated",
        (Some(_), false) => "aligned",
        (Some(_), true) => "misaligned",
    };
    let sector_for_cmds = if topo.logical == 4096 { 4096 } else { 512 };
    let rep = Report {
        target: args.target.as_ref().map(|t| t.display().to_string()),
        source,
        table: table_kind,
        erase_block_bytes: plan.erase_block,
        fs_block_bytes: plan.fs_block,
        grain_bytes: plan.grain,
        grain: format_size(plan.grain),
        raid: raid.map(|r| RaidReport {
            level: r.level.name(),
            devices: r.devices,
            data_disks: plan.data_disks,
            chunk_bytes: r.chunk,
            members,
            source: raid_source,
        }),
        stride: plan.stride,
        stripe_width: plan.stripe_width,
        logical_sector: (topo.logical > 0).then_some(topo.logical),
        physical_sector: (topo.physical > 0).then_some(topo.physical),
        minimum_io: topo.min_io,
        optimal_io: topo.optimal_io,
        alignment_offset: topo.alignment_offset,
        discard_granularity: topo.discard_granularity,
        discard_max_bytes: rep_topo.as_ref().and_then(|d| d.discard_max),
        rotational: rep_topo.as_ref().and_then(|d| d.rotational),
        first_start_512: plan.first_start(512),
        first_start_4096: plan.first_start(4096),
        partitions: parts,
        warnings,
        notes,
        commands: plan.commands(&dev_display, &part_dev(&dev_display, 1), sector_for_cmds),
        trim: TRIM_ADVICE,
        verdict,
    };
    match args.format {
        Format::Json => {
            let mut buf = Vec::new();
            crate::output::json::write_pretty(&mut buf, &rep)?;
            out.push_str(&String::from_utf8_lossy(&buf));
        }
        Format::Text => text(out, &rep, args.legacy_fdisk),
    }
    Ok(if misaligned {
        Outcome::Findings
    } else {
        Outcome::Success
    })
}

/// The `sfdisk --move-data` command for each partition whose start is misaligned, when it
/// fits before the next partition (or the end of the usable disk); a note when it does not.
fn move_fixes(
    parts: &mut [PartReport],
    units: &[(&str, u64)],
    table: Option<&str>,
    dev: &str,
    len: u64,
    sector: u64,
    notes: &mut Vec<String>,
) {
    // GPT keeps a backup partition array (16 KiB) and header (a sector) at the end
    let usable_end = match table {
        Some("dos") => len,
        _ => len.saturating_sub(16384 + sector),
    };
    let starts: Vec<u64> = parts.iter().map(|p| p.start_bytes).collect();
    for p in parts.iter_mut() {
        if p.number == 0 || p.checks.iter().all(|c| c.aligned) {
            continue;
        }
        let n = p.number;
        if n >= 5 && table != Some("gpt") {
            notes.push(format!(
                "p{n} may be an MBR logical partition: move it with parted or gparted, not sfdisk --move-data"
            ));
            continue;
        }
        let limit = starts
            .iter()
            .copied()
            .filter(|s| *s > p.start_bytes)
            .min()
            .unwrap_or(usable_end);
        match move_target(p.start_bytes, p.size_bytes, units, limit) {
            Ok(to) => {
                p.fix = Some(format!(
                    "echo '{},' | sfdisk --move-data {dev} -N {n}  # unmounted and backed up first: moves p{n} and its data from byte {} to {to}",
                    to / sector,
                    p.start_bytes
                ));
            }
            Err(end) => notes.push(format!(
                "p{n} cannot move to the next aligned start with its data: it would end at byte {end}, past byte {limit} (the next partition or the end of the disk); shrink its filesystem and the partition first"
            )),
        }
    }
}

/// Check what sits on a partition: an LVM PV (pe_start), ext4 (stride/stripe-width) or XFS
/// (sunit/swidth), against the plan.
fn check_contents(head: &[u8], start_bytes: u64, plan: &Plan, pdev: &str) -> Vec<FsCheck> {
    let mut v = Vec::new();
    if let Some(l) = parse_lvm(head) {
        let data = start_bytes + l.pe_start;
        let rem = data % plan.grain;
        v.push(FsCheck {
            kind: "lvm",
            aligned: rem == 0,
            detail: format!(
                "PV pe_start {} B: data starts at {data} B, {data} mod {} = {rem}",
                l.pe_start, plan.grain
            ),
            fix: (rem != 0).then(|| {
                format!("pvcreate --dataalignment {}k {pdev}  # recreates the PV: move its data off first", plan.grain / 1024)
            }),
            ext4: None,
            xfs: None,
            lvm: Some(l),
        });
    }
    if let Some(e) = parse_ext4(head) {
        // stride in this filesystem's blocks
        let want_stride = plan.su / e.block_size;
        let want_width = want_stride * plan.data_disks;
        let ok = e.stride == want_stride && e.stripe_width == want_width;
        let mut detail = format!(
            "ext4 ({} B blocks): stride={} stripe-width={}, want stride={want_stride} stripe-width={want_width}",
            e.block_size, e.stride, e.stripe_width
        );
        for w in ext4_warnings(e.stride, e.stripe_width, e.block_size) {
            let _ = write!(detail, "; {w}");
        }
        v.push(FsCheck {
            kind: "ext4",
            aligned: ok,
            detail,
            fix: (!ok).then(|| {
                format!("tune2fs -E stride={want_stride},stripe_width={want_width} {pdev}")
            }),
            ext4: Some(e),
            xfs: None,
            lvm: None,
        });
    }
    if let Some(x) = parse_xfs(head) {
        let su = x.sunit_blocks * x.block_size;
        let sw = x.swidth_blocks.checked_div(x.sunit_blocks).unwrap_or(0);
        let ok = su == plan.su && sw == plan.sw;
        v.push(FsCheck {
            kind: "xfs",
            aligned: ok,
            detail: format!("XFS: su={su} B sw={sw}, want su={} B sw={}", plan.su, plan.sw),
            fix: (!ok).then(|| {
                format!(
                    "mount -o sunit={},swidth={} {pdev} /mnt  # in 512-byte units; XFS keeps the new values",
                    plan.su / 512,
                    plan.su / 512 * plan.sw
                )
            }),
            ext4: None,
            xfs: Some(x),
            lvm: None,
        });
    }
    v
}

fn opt(v: Option<u64>) -> String {
    v.map(|b| format!("{b} B")).unwrap_or_else(|| "-".into())
}

fn text(out: &mut String, r: &Report, legacy: bool) {
    match &r.target {
        Some(t) => {
            let _ = writeln!(
                out,
                "ssd-align: {t} ({}{})",
                r.source.unwrap_or("?"),
                match r.table {
                    Some("none") => ", no partition table".to_string(),
                    Some(k) => format!(", {k} partition table"),
                    None => String::new(),
                }
            );
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
        }
        None => {
            let _ = writeln!(out, "ssd-align calculator");
        }
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
            raid.source
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
    if r.target.is_some() {
        if r.partitions.is_empty() {
            let _ = writeln!(out, "  no partitions");
        }
        for p in &r.partitions {
            let _ = writeln!(
                out,
                "p{}  start sector {} ({} B sectors) = {} B  {}",
                p.number,
                p.start_sector,
                p.sector_bytes,
                p.start_bytes,
                if p.aligned { "aligned" } else { "MISALIGNED" }
            );
            for c in &p.checks {
                let _ = writeln!(
                    out,
                    "    {} {}: {}",
                    if c.aligned { "ok " } else { "BAD" },
                    c.what,
                    c.detail
                );
            }
            if let Some(f) = &p.fix {
                let _ = writeln!(out, "        fix: {f}");
            }
            for c in &p.contents {
                let _ = writeln!(
                    out,
                    "    {} {}: {}",
                    if c.aligned { "ok " } else { "BAD" },
                    c.kind,
                    c.detail
                );
                if let Some(f) = &c.fix {
                    let _ = writeln!(out, "        fix: {f}");
                }
            }
        }
    }
    let _ = writeln!(out, "commands for an aligned layout:");
    for c in &r.commands {
        let _ = writeln!(out, "  {c}");
    }
    let _ = writeln!(out, "{}", r.trim);
    if legacy {
        let _ = writeln!(out, "{LEGACY_FDISK}");
    }
    let bad = r.partitions.iter().filter(|p| !p.aligned).count();
    let _ = match r.verdict {
        "calculated" => writeln!(out, "verdict: calculated (nothing checked)"),
        "aligned" => writeln!(
            out,
            "verdict: aligned ({} partitions checked)",
            r.partitions.len()
        ),
        _ => writeln!(
            out,
            "verdict: misaligned ({bad} of {} partitions)",
            r.partitions.len()
        ),
    };
}
