//! ssd-align's gathering: the target (an image, a block device, or a device under `--root`),
//! its sysfs topology, its partition table and the layers on each partition, read-only.

use std::path::{Path, PathBuf};

use anyhow::{anyhow, bail, Context as _};

use crate::domain::align::{check_optimal_io, Raid, RaidLevel, Topology};
use crate::domain::disk::{stack, table, Role, Source, Table, TableKind};
use crate::domain::ssd::{part_dev, Input, Mover, PartIn, SourceKind};
use crate::output::escape::clean;
use crate::sys::block::{self, Dev, SysfsDevice};
use crate::sys::root::Root;

/// Gather everything about `target`.
pub fn gather(target: &Path, sector: Option<u64>, root: &Root) -> anyhow::Result<Input> {
    let meta = if root.is_live() || target.is_absolute() {
        std::fs::metadata(target).ok()
    } else {
        None
    };
    if meta.as_ref().is_some_and(|m| m.is_file()) {
        image(target, sector)
    } else {
        device(target, meta, sector, root)
    }
}

/// The partitions of `t` with their layers, named after `disk`.
fn table_parts(dev: &mut Dev, t: &Table, disk: &str, what: &str) -> anyhow::Result<Vec<PartIn>> {
    let mut v = Vec::new();
    for p in &t.partitions {
        let start = t.start_bytes(p).map_err(|e| anyhow!("{what}: {e}"))?;
        let size = t.size_bytes(p).map_err(|e| anyhow!("{what}: {e}"))?;
        let layers = if p.role == Role::Data {
            stack::layers(dev, start, size)
                .map_err(|e| anyhow!("{what}: partition {}: {e}", p.number))?
        } else {
            Vec::new()
        };
        v.push(PartIn {
            number: p.number,
            device: part_dev(disk, p.number),
            start_sector: p.start,
            sector_bytes: t.sector,
            start_bytes: start,
            size_bytes: size,
            role: p.role,
            type_name: Some(p.type_name.clone()),
            logical: p.logical,
            layers,
        });
    }
    Ok(v)
}

/// What sits on a whole device or image without a partition table, as partition 0.
fn whole(dev: &mut Dev, disk: &str, sector: u64, what: &str) -> anyhow::Result<Option<PartIn>> {
    let len = dev.size();
    let layers = stack::layers(dev, 0, len).map_err(|e| anyhow!("{what}: {e}"))?;
    if layers.is_empty() {
        return Ok(None);
    }
    Ok(Some(PartIn {
        number: 0,
        device: disk.to_string(),
        start_sector: 0,
        sector_bytes: sector,
        start_bytes: 0,
        size_bytes: len,
        role: Role::Data,
        type_name: None,
        logical: false,
        layers,
    }))
}

fn image(target: &Path, sector: Option<u64>) -> anyhow::Result<Input> {
    let what = clean(&target.display().to_string()).into_owned();
    let mut dev = Dev::open(target)?;
    let disk = "/dev/loopX";
    let mut i = Input {
        target: what.clone(),
        source: Some(SourceKind::Image),
        disk_dev: disk.into(),
        ..Default::default()
    };
    match table::read(&mut dev, sector, None).map_err(|e| anyhow!("{what}: {e}"))? {
        Some((t, ss, ev)) => {
            i.parts = table_parts(&mut dev, &t, disk, &what)?;
            i.table = Some(t.kind);
            i.sector = Some((ss, ev));
            i.topo.logical = ss;
            i.topo.physical = ss;
            i.notes.push(format!(
                "partition devices below are named as after `losetup -fP {what}`"
            ));
        }
        None => {
            let ss = sector.unwrap_or(512);
            let Some(p) = whole(&mut dev, disk, ss, &what)? else {
                bail!("{what}: no partition table (no GPT signature, no MBR boot signature 55 AA) and no filesystem, LVM, LUKS or md signature");
            };
            i.parts = vec![p];
            i.table = Some(TableKind::None);
            i.topo.logical = ss;
            i.topo.physical = ss;
            i.notes.push(
                "no partition table: what is on the whole image is checked as partition 0".into(),
            );
        }
    }
    i.mover = Some(Mover {
        dev: target.display().to_string(),
        len: dev.size(),
        sector: i.topo.logical,
        table: i.table,
        image: true,
    });
    Ok(i)
}

fn device(
    target: &Path,
    meta: Option<std::fs::Metadata>,
    sector: Option<u64>,
    root: &Root,
) -> anyhow::Result<Input> {
    use std::os::unix::fs::{FileTypeExt, MetadataExt};
    let shown = clean(&target.display().to_string()).into_owned();
    let is_blockdev = meta
        .as_ref()
        .is_some_and(|m| m.file_type().is_block_device());
    if meta.is_some() && !is_blockdev {
        bail!("{shown}: neither a block device nor a disk image file");
    }
    if meta.is_none() && root.is_live() {
        bail!("{shown}: no such device or image");
    }
    // a device node by any name (/dev/mapper/..., /dev/disk/by-id/...) is found by its device
    // number; a bare name (with --root) by that name
    let by_number = meta
        .as_ref()
        .filter(|_| is_blockdev)
        .and_then(|m| block::name_by_devnum(root, m.rdev()));
    let name = match by_number {
        Some(n) => n,
        None => target
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .with_context(|| format!("{shown}: not a device name"))?,
    };
    let d = block::read_sysfs(root, &name)?;
    let mut i = topology(&d, shown);
    let node = if root.is_live() {
        target.to_path_buf()
    } else {
        PathBuf::from(format!("/dev/{name}"))
    };
    i.disk_dev = clean(&match &d.partition_of {
        Some((parent, _)) => format!("/dev/{parent}"),
        None => node.display().to_string(),
    })
    .into_owned();
    i.parts = d
        .partitions
        .iter()
        .map(|(n, s, z)| PartIn {
            number: *n,
            device: part_dev(&i.disk_dev, *n),
            start_sector: *s,
            sector_bytes: 512,
            start_bytes: s.saturating_mul(512),
            size_bytes: z.saturating_mul(512),
            role: Role::Data,
            type_name: None,
            logical: false,
            layers: Vec::new(),
        })
        .collect();
    if is_blockdev {
        on_disk(&mut i, &d, target, sector)?;
    }
    Ok(i)
}

/// The sysfs facts of a device.
fn topology(d: &SysfsDevice, target: String) -> Input {
    let mut i = Input {
        target,
        source: Some(SourceKind::Sysfs),
        topo: Topology {
            logical: d.logical,
            physical: d.physical,
            min_io: d.min_io,
            optimal_io: None,
            alignment_offset: d.alignment_offset,
            discard_granularity: d.discard_granularity,
        },
        discard_max: d.discard_max,
        rotational: d.rotational,
        members: d.members.iter().map(|m| clean(m).into_owned()).collect(),
        ..Default::default()
    };
    match d.optimal_io.map(|v| check_optimal_io(v, d.physical)) {
        Some(Ok(v)) => i.topo.optimal_io = Some(v),
        Some(Err(why)) => i.notes.push(why),
        None => {}
    }
    let name = clean(&d.name).into_owned();
    if d.rotational == Some(true) {
        i.warnings.push(format!(
            "{name} reports rotational=1: it may not be an SSD (or the controller hides it)"
        ));
    }
    if let (Some(level), Some(chunk), Some(n)) = (&d.md_level, d.md_chunk, d.md_disks) {
        match RaidLevel::parse(level) {
            Ok(l) if chunk > 0 => {
                i.md_raid = Some(Raid {
                    level: l,
                    devices: n,
                    chunk,
                })
            }
            Ok(_) => {}
            Err(_) => i.notes.push(format!(
                "md level '{}' has no stripe geometry",
                clean(level)
            )),
        }
    }
    if let Some(dm) = &d.dm_name {
        i.notes.push(format!(
            "device-mapper device '{}': members {}",
            clean(dm),
            i.members.join(", ")
        ));
    }
    i
}

/// Read the device itself: its on-disk table (compared with the kernel's), the layers on each
/// partition, and what a move would act on.
fn on_disk(
    i: &mut Input,
    d: &SysfsDevice,
    target: &Path,
    sector: Option<u64>,
) -> anyhow::Result<()> {
    let path = match &d.partition_of {
        Some((parent, _)) => PathBuf::from(format!("/dev/{parent}")),
        None => target.to_path_buf(),
    };
    let what = clean(&path.display().to_string()).into_owned();
    let mut dev = Dev::open(&path)?;
    let logical = if d.logical > 0 { d.logical } else { 512 };
    let t = table::read(&mut dev, sector, Some(logical)).map_err(|e| anyhow!("{what}: {e}"))?;
    if let Some((t, ss, ev)) = &t {
        i.table = Some(t.kind);
        i.sector = Some((*ss, *ev));
        compare_kernel(i, t, &what);
    }
    for p in &mut i.parts {
        p.layers = stack::layers(&mut dev, p.start_bytes, p.size_bytes)
            .map_err(|e| anyhow!("{what}: partition {}: {e}", p.number))?;
        if let Some((t, _, _)) = &t {
            if let Some(q) = t.partitions.iter().find(|q| q.number == p.number) {
                p.role = q.role;
                p.logical = q.logical;
                p.type_name = Some(q.type_name.clone());
                if q.role == Role::Extended {
                    p.layers.clear();
                }
            }
        }
    }
    if d.partition_of.is_none() {
        if i.parts.is_empty() {
            if let Some(p) = whole(&mut dev, &i.disk_dev, logical, &what)? {
                i.parts.push(p);
            }
        }
        i.mover = Some(Mover {
            dev: i.disk_dev.clone(),
            len: dev.size(),
            sector: logical,
            table: i.table,
            image: false,
        });
    }
    Ok(())
}

/// Warn (as parted does) when the kernel's partitions differ from the on-disk table.
fn compare_kernel(i: &mut Input, t: &Table, what: &str) {
    let disk: Vec<(u32, u64)> = t
        .partitions
        .iter()
        .filter_map(|p| t.start_bytes(p).ok().map(|s| (p.number, s)))
        .collect();
    for p in &i.parts {
        match disk.iter().find(|(n, _)| *n == p.number) {
            Some((_, s)) if *s == p.start_bytes => {}
            Some((_, s)) => i.warnings.push(format!(
                "{what}: the kernel's partition {} starts at byte {}, the on-disk table says {s}: the kernel's table is stale (run partprobe or partx -u {what}); checked the kernel's view",
                p.number, p.start_bytes
            )),
            None => i.warnings.push(format!(
                "{what}: the kernel knows partition {} but the on-disk table does not: the kernel's table is stale (run partprobe or partx -u {what})",
                p.number
            )),
        }
    }
}
