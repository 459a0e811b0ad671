//! ssd-align's gathering: the target (an image, a block device, or a device under `--root`),
//! its sysfs topology, its partition table and the layers on each partition, read-only.

pub(crate) mod block;

use std::path::{Path, PathBuf};

use anyhow::{anyhow, bail, Context as _};

use crate::common::escape::clean;
use crate::common::root::Root;
use crate::ssd_align::disk::{self as disk, lvm, stack, table, Role, Source, Table, TableKind};
use crate::ssd_align::judge::align::{Raid, RaidLevel, Topology};
use crate::ssd_align::judge::findings::Finding;
use crate::ssd_align::judge::moves::Blocker;
use crate::ssd_align::judge::trim::{QueueFact, TrimFacts, TrimKind};
use crate::ssd_align::judge::{part_dev, Holder, Input, Mover, PartIn, SourceKind, Via};
use block::{Dev, SysfsDevice};

/// Gather everything about `target`.
pub(crate) fn gather(target: &Path, sector: Option<u64>, root: &Root) -> anyhow::Result<Input> {
    let meta = if root.is_live() || target.is_absolute() {
        std::fs::metadata(target).ok()
    } else {
        None
    };
    if meta.as_ref().is_some_and(|m| m.is_file()) {
        let mut i = image(target, sector, root)?;
        if i.sector
            .is_some_and(|s| s.1 == table::SectorEvidence::Unsettled)
        {
            let mut alt = image(target, Some(4096), root)?;
            alt.sector = Some((4096, table::SectorEvidence::Unsettled));
            i.alt_4096 = Some(Box::new(alt));
        }
        Ok(i)
    } else {
        device(target, meta, sector, root)
    }
}

/// The partitions of `t` with their layers, named after `disk`.
fn table_parts(dev: &mut Dev, t: &Table, disk: &str, what: &str) -> anyhow::Result<Vec<PartIn>> {
    let mut v = Vec::new();
    for p in &t.partitions {
        let start = t
            .start_bytes(p)
            .map_err(|e| anyhow!("{what}: {}", clean(&e.0)))?;
        let size = t
            .size_bytes(p)
            .map_err(|e| anyhow!("{what}: {}", clean(&e.0)))?;
        let layers = if p.role == Role::Data {
            cleaned(
                stack::layers(dev, start, size)
                    .map_err(|e| anyhow!("{what}: partition {}: {}", p.number, clean(&e.0)))?,
            )
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
            via: None,
        });
    }
    Ok(v)
}

/// The byte a GPT's usable area ends at (its header's last usable LBA + 1).
fn gpt_end(t: &Table) -> Option<u64> {
    t.last_usable
        .and_then(|l| l.checked_add(1))
        .and_then(|l| l.checked_mul(t.sector))
}

/// What sits on a whole device or image without a partition table, as partition 0.
fn whole(dev: &mut Dev, disk: &str, sector: u64, what: &str) -> anyhow::Result<Option<PartIn>> {
    let len = dev.size();
    let layers =
        cleaned(stack::layers(dev, 0, len).map_err(|e| anyhow!("{what}: {}", clean(&e.0)))?);
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
        via: None,
    }))
}

fn image(target: &Path, sector: Option<u64>, root: &Root) -> anyhow::Result<Input> {
    let what = clean(&target.display().to_string()).into_owned();
    let mut dev = Dev::open(target)?;
    let disk = "/dev/loopX";
    let mut i = Input {
        target: what.clone(),
        source: Some(SourceKind::Image),
        disk_dev: disk.into(),
        ..Default::default()
    };
    let mut usable_end = None;
    match table::read(&mut dev, sector, None).map_err(|e| anyhow!("{what}: {}", clean(&e.0)))? {
        Some((t, ss, ev)) => {
            usable_end = gpt_end(&t);
            i.parts = table_parts(&mut dev, &t, disk, &what)?;
            i.table = Some(t.kind);
            i.sector = Some((ss, ev));
            i.topo.logical = ss;
            i.topo.physical = ss;
            i.findings.push(Finding::ImageNames {
                image: what.clone(),
            });
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
            i.findings.push(Finding::NoTable);
        }
    }
    i.mover = Some(Mover {
        dev: target.display().to_string(),
        len: dev.size(),
        sector: i.topo.logical,
        table: i.table,
        usable_end,
        image: true,
        blocked: None,
        held: Vec::new(),
        mounted: Vec::new(),
        loop_mounted: loop_mounts(target, &i.parts, root),
    });
    Ok(i)
}

/// The image's partitions whose bytes a mounted loop device over the image file covers (a
/// loop device at a partition's offset, or a partition of one attached whole), from
/// `/sys/block/loop*/loop/backing_file`, `offset` and `/proc/self/mountinfo` under the root:
/// (number, loop device, mount point).
fn loop_mounts(target: &Path, parts: &[PartIn], root: &Root) -> Vec<(u32, String, String)> {
    let mut out = Vec::new();
    let canon = std::fs::canonicalize(target).unwrap_or_else(|_| target.to_path_buf());
    let Ok(Some(info)) = root.read_optional("proc/self/mountinfo") else {
        return out;
    };
    let mounts: Vec<(&str, &str)> = info
        .lines()
        .filter_map(|l| {
            let w: Vec<&str> = l.splitn(6, ' ').collect();
            Some((*w.get(2)?, *w.get(4)?))
        })
        .collect();
    let Ok(dir) = std::fs::read_dir(root.path("sys/block")) else {
        return out;
    };
    let num = |rel: &str| -> Option<u64> { root.read_value(rel).ok()??.parse().ok() };
    for e in dir.flatten() {
        let name = e.file_name().to_string_lossy().into_owned();
        if !name.starts_with("loop") {
            continue;
        }
        let Ok(Some(backing)) = root.read_value(format!("sys/block/{name}/loop/backing_file"))
        else {
            continue;
        };
        if Path::new(&backing) != canon && Path::new(&backing) != target {
            continue;
        }
        let offset = num(&format!("sys/block/{name}/loop/offset")).unwrap_or(0);
        // (node, dev, start in the image, bytes)
        let mut regions = Vec::new();
        let whole = num(&format!("sys/block/{name}/size")).unwrap_or(0) * 512;
        if let Ok(Some(dev)) = root.read_value(format!("sys/block/{name}/dev")) {
            regions.push((name.clone(), dev, offset, whole));
        }
        if let Ok(sub) = std::fs::read_dir(root.path(format!("sys/block/{name}"))) {
            for s in sub.flatten() {
                let p = s.file_name().to_string_lossy().into_owned();
                let base = format!("sys/block/{name}/{p}");
                let (Some(start), Some(size), Ok(Some(dev))) = (
                    num(&format!("{base}/start")),
                    num(&format!("{base}/size")),
                    root.read_value(format!("{base}/dev")),
                ) else {
                    continue;
                };
                regions.push((p, dev, offset.saturating_add(start * 512), size * 512));
            }
        }
        for (node, dev, start, len) in regions {
            let Some((_, at)) = mounts.iter().find(|(mm, _)| *mm == dev) else {
                continue;
            };
            let end = start.saturating_add(len);
            for p in parts.iter().filter(|p| p.number > 0) {
                let p_end = p.start_bytes.saturating_add(p.size_bytes);
                if p.start_bytes < end && start < p_end {
                    out.push((
                        p.number,
                        format!("/dev/{}", clean(&node)),
                        clean(at).into_owned(),
                    ));
                }
            }
        }
    }
    out
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
        .map(|&(n, s, z)| {
            let dev = part_dev(&i.disk_dev, n);
            Ok(PartIn {
                number: n,
                start_sector: s,
                sector_bytes: 512,
                start_bytes: disk::mul(s, 512, &format!("{dev} start (sysfs)"))?,
                size_bytes: disk::mul(z, 512, &format!("{dev} size (sysfs)"))?,
                device: dev,
                role: Role::Data,
                type_name: None,
                logical: false,
                layers: Vec::new(),
                via: None,
            })
        })
        .collect::<Result<_, disk::DiskError>>()
        .map_err(|e| anyhow!("{}", clean(&e.0)))?;
    if is_blockdev {
        on_disk(&mut i, &d, target, sector)?;
    }
    members(&mut i, &d, root)?;
    i.trim = trim_facts(&d, &i, root)?;
    if let Some(m) = i.mover.as_mut() {
        m.mounted = mounted_parts(&d, root)?;
    }
    Ok(i)
}

/// One line of the mount table.
struct Mount {
    source: String,
    target: String,
    discard: bool,
}

/// The mount table under `root` (`proc/self/mounts`, else `proc/mounts`); empty when absent.
fn mount_table(root: &Root) -> anyhow::Result<Vec<Mount>> {
    let Some(p) = ["proc/self/mounts", "proc/mounts"]
        .iter()
        .map(|r| root.path(r))
        .find(|p| p.exists())
    else {
        return Ok(Vec::new());
    };
    let text = crate::common::fsread::read_capped_string(&p, 4 << 20)?;
    Ok(text
        .lines()
        .filter_map(|l| {
            let mut w = l.split_whitespace();
            let (src, target, _, opts) = (w.next()?, w.next()?, w.next()?, w.next()?);
            Some(Mount {
                source: src.to_string(),
                target: target.to_string(),
                discard: opts.split(',').any(|o| o == "discard"),
            })
        })
        .collect())
}

/// The partitions of disk `d` (by number) with a mounted filesystem, found by the mounted
/// node's device number (any node name): (number, mount point). Live system only.
fn mounted_parts(d: &SysfsDevice, root: &Root) -> anyhow::Result<Vec<(u32, String)>> {
    use std::os::unix::fs::{FileTypeExt, MetadataExt};
    let mut out = Vec::new();
    if !root.is_live() {
        return Ok(out);
    }
    for m in mount_table(root)? {
        let Ok(meta) = std::fs::metadata(&m.source) else {
            continue;
        };
        if !meta.file_type().is_block_device() {
            continue;
        }
        let Some(name) = block::name_by_devnum(root, meta.rdev()) else {
            continue;
        };
        if let Ok(s) = block::read_sysfs(root, &name) {
            if let Some((disk, n)) = &s.partition_of {
                if *disk == d.name {
                    out.push((*n, clean(&m.target).into_owned()));
                }
            }
        }
    }
    Ok(out)
}

/// What a holder is, for the TRIM chain.
fn trim_kind(d: &SysfsDevice) -> TrimKind {
    match (&d.md_level, d.dm_uuid.as_deref()) {
        (Some(l), _) => TrimKind::Md {
            raid456: matches!(l.trim(), "raid4" | "raid5" | "raid6"),
        },
        (None, Some(u)) if u.starts_with("CRYPT-") => TrimKind::DmCrypt,
        (None, Some(u)) if u.starts_with("LVM-") => TrimKind::Lvm,
        (None, Some(_)) => TrimKind::Dm,
        (None, None) => TrimKind::Disk,
    }
}

/// The most holders followed down (a dm/md stack is a few deep).
const MAX_HOLDERS: usize = 64;

/// The TRIM facts of a device: its queue and every holder's below it (top first), its mounts
/// (the target, its partitions, its dm name or LV) and fstrim.timer, under `root`.
fn trim_facts(d: &SysfsDevice, i: &Input, root: &Root) -> anyhow::Result<TrimFacts> {
    let mut f = TrimFacts {
        live: true,
        ..Default::default()
    };
    let mut todo = std::collections::VecDeque::from([d.clone()]);
    let mut seen = std::collections::BTreeSet::new();
    while let Some(x) = todo.pop_front() {
        // a partition's queue is its disk's
        let name = x
            .partition_of
            .as_ref()
            .map_or(x.name.clone(), |(p, _)| p.clone());
        if !seen.insert(name.clone()) || seen.len() > MAX_HOLDERS {
            continue;
        }
        f.queues.push(QueueFact {
            device: clean(&name).into_owned(),
            kind: trim_kind(&x),
            dm_name: x.dm_name.as_deref().map(|n| clean(n).into_owned()),
            discard_max: x.discard_max,
            discard_granularity: x.discard_granularity,
        });
        for m in &x.members {
            if let Ok(s) = block::read_sysfs(root, m) {
                todo.push_back(s);
            }
        }
    }
    let mut sources: Vec<String> = vec![format!("/dev/{}", d.name)];
    sources.extend(i.parts.iter().map(|p| p.device.clone()));
    if let Some(n) = &d.dm_name {
        sources.push(format!("/dev/mapper/{n}"));
    }
    for m in mount_table(root)? {
        if sources.contains(&m.source) {
            f.mounts.push((clean(&m.source).into_owned(), m.discard));
        }
    }
    let conf = root.path("etc/lvm/lvm.conf");
    if conf.is_file() {
        f.lvm_conf = true;
        let text = crate::common::fsread::read_capped_string(&conf, 4 << 20)?;
        f.lvm_issue_discards = lvm::issue_discards(&text)
            .map_err(|e| anyhow!("{}: {}", conf.display(), clean(&e.0)))?;
    }
    let wants = root.path("etc/systemd/system/timers.target.wants/fstrim.timer");
    f.fstrim_timer = if std::fs::symlink_metadata(&wants).is_ok() {
        Some(true)
    } else if [
        "usr/lib/systemd/system/fstrim.timer",
        "lib/systemd/system/fstrim.timer",
    ]
    .iter()
    .any(|r| root.path(r).exists())
    {
        Some(false)
    } else {
        None
    };
    Ok(f)
}

/// The devices under an md or device-mapper target (sysfs `slaves/`), each judged down to
/// the flash: its start on its own disk, and the layers on it (read from the disk when its
/// node is here; for a captured tree, the md data offset sysfs records).
fn members(i: &mut Input, d: &SysfsDevice, root: &Root) -> anyhow::Result<()> {
    let holder = match (&d.md_level, &d.dm_uuid) {
        (Some(_), _) => Holder::Md,
        (None, Some(_)) => Holder::DeviceMapper,
        _ => return Ok(()),
    };
    let top = clean(match &d.partition_of {
        Some((p, _)) => p,
        None => &d.name,
    })
    .into_owned();
    for m in &d.members {
        let Ok(s) = block::read_sysfs(root, m) else {
            i.findings.push(Finding::MemberNotInSysfs {
                holder,
                member: clean(m).into_owned(),
                top: top.clone(),
            });
            continue;
        };
        let (number, start, size) = match (&s.partition_of, s.partitions.first()) {
            (Some(_), Some(&(n, st, z))) => (n, st, z),
            _ => (0, 0, s.size512.unwrap_or(0)),
        };
        let start_bytes = disk::mul(start, 512, &format!("{m} start"))?;
        let size_bytes = disk::mul(size, 512, &format!("{m} size"))?;
        let mut p = PartIn {
            number,
            device: format!("/dev/{}", clean(m)),
            start_sector: start,
            sector_bytes: 512,
            start_bytes,
            size_bytes,
            role: Role::Data,
            type_name: None,
            logical: false,
            layers: Vec::new(),
            via: Some(Via {
                holder,
                top: top.clone(),
            }),
        };
        if s.dm_uuid
            .as_deref()
            .is_some_and(|u| u.starts_with("CRYPT-"))
        {
            if let Some(q) = crypt_member(d, &s, m, root, &top, holder)? {
                i.parts.push(q);
                continue;
            }
        }
        let disk = s
            .partition_of
            .as_ref()
            .map_or(m.as_str(), |(p, _)| p.as_str());
        if let Some(node) = node_for(root, disk) {
            let mut dev = Dev::open(&node)?;
            p.layers = cleaned(
                stack::layers(&mut dev, start_bytes, size_bytes)
                    .map_err(|e| anyhow!("{}: {}", p.device, clean(&e.0)))?,
            );
            // an LV (/dev/VG/LV): only its own segments on the PV
            if let Some((_, lv)) = lvm_target(d) {
                p.layers = stack::only_lv(std::mem::take(&mut p.layers), &lv);
            }
        } else if let Some(l) = md_layer(d, m, start_bytes)? {
            p.layers.push(l);
        } else {
            i.findings.push(Finding::MemberLayersNotRead {
                device: p.device.clone(),
            });
        }
        i.parts.push(p);
    }
    Ok(())
}

/// The node of block device `name`: `/dev/NAME` on the live system; under a captured
/// `--root`, a disk image at ROOT/dev/NAME standing for it (how the dm and md chains are
/// tested on a kernel without them).
fn node_for(root: &Root, name: &str) -> Option<PathBuf> {
    if root.is_live() {
        let p = PathBuf::from(format!("/dev/{name}"));
        node_is_block(&p).then_some(p)
    } else {
        let p = root.path(format!("dev/{name}"));
        p.is_file().then_some(p)
    }
}

/// A dm-crypt member `m` of the target (an LV on LUKS): followed down to the disk. The LUKS
/// header is read on the partition under it, the layers above it (PV, this LV's segments,
/// the filesystem) from the crypt device's own (decrypted) node, and every offset is made
/// absolute on the disk: LUKS data start + offset inside the crypt device.
fn crypt_member(
    d: &SysfsDevice,
    s: &SysfsDevice,
    m: &str,
    root: &Root,
    top: &str,
    holder: Holder,
) -> anyhow::Result<Option<PartIn>> {
    let [lower] = s.members.as_slice() else {
        return Ok(None);
    };
    let Ok(ls) = block::read_sysfs(root, lower) else {
        return Ok(None);
    };
    let (number, start, size) = match (&ls.partition_of, ls.partitions.first()) {
        (Some(_), Some(&(n, st, z))) => (n, st, z),
        _ => (0, 0, ls.size512.unwrap_or(0)),
    };
    let disk = ls
        .partition_of
        .as_ref()
        .map_or(lower.as_str(), |(p, _)| p.as_str());
    let (Some(disk_node), Some(crypt_node)) = (node_for(root, disk), node_for(root, m)) else {
        return Ok(None);
    };
    let start_bytes = disk::mul(start, 512, &format!("{lower} start"))?;
    let size_bytes = disk::mul(size, 512, &format!("{lower} size"))?;
    let shown = format!("/dev/{}", clean(lower));
    let mut dev = Dev::open(&disk_node)?;
    let under = stack::layers(&mut dev, start_bytes, size_bytes)
        .map_err(|e| anyhow!("{shown}: {}", clean(&e.0)))?;
    let Some(luks) = under
        .first()
        .filter(|l| matches!(l.kind, stack::Kind::Luks1 | stack::Kind::Luks2))
        .cloned()
    else {
        bail!(
            "{shown}: the dm-crypt device {} sits on it, but no LUKS header is there (plain dm-crypt is not followed)",
            clean(m)
        );
    };
    let mut cdev = Dev::open(&crypt_node)?;
    let clen = cdev.size();
    let mut inner = stack::layers(&mut cdev, 0, clen)
        .map_err(|e| anyhow!("/dev/{}: {}", clean(m), clean(&e.0)))?;
    if let Some((_, lv)) = lvm_target(d) {
        inner = stack::only_lv(inner, &lv);
    }
    let mut layers = vec![stack::Layer {
        innermost: inner.is_empty(),
        ..luks.clone()
    }];
    for mut l in inner {
        l.depth += 1;
        l.at = disk::add(l.at, luks.data_start, "offset on the disk")?;
        l.data_start = disk::add(l.data_start, luks.data_start, "offset on the disk")?;
        layers.push(l);
    }
    Ok(Some(PartIn {
        number,
        device: shown,
        start_sector: start,
        sector_bytes: 512,
        start_bytes,
        size_bytes,
        role: Role::Data,
        type_name: None,
        logical: false,
        layers: cleaned(layers),
        via: Some(Via {
            holder,
            top: top.to_string(),
        }),
    }))
}

/// (VG, LV) of a device-mapper LVM target (`dm/uuid` LVM-..., `dm/name` vg-lv).
fn lvm_target(d: &SysfsDevice) -> Option<(String, String)> {
    if !d.dm_uuid.as_deref()?.starts_with("LVM-") {
        return None;
    }
    stack::split_dm_name(d.dm_name.as_deref()?)
}

/// Names read from disk (VG and LV names in LVM metadata) escaped before they reach a
/// terminal: LVM restricts them, a hostile image does not.
fn cleaned(mut layers: Vec<stack::Layer>) -> Vec<stack::Layer> {
    for l in &mut layers {
        match &mut l.detail {
            stack::Detail::Lv(s) => s.lv = clean(&s.lv).into_owned(),
            stack::Detail::Pv { vg, thin_pools, .. } => {
                if let Some(v) = vg {
                    *v = clean(v).into_owned();
                }
                for t in thin_pools {
                    t.name = clean(&t.name).into_owned();
                    t.data_lv = clean(&t.data_lv).into_owned();
                    t.discards = clean(&t.discards).into_owned();
                    for l in &mut t.thin_lvs {
                        *l = clean(l).into_owned();
                    }
                }
            }
            _ => {}
        }
    }
    layers
}

fn node_is_block(p: &Path) -> bool {
    use std::os::unix::fs::FileTypeExt;
    std::fs::metadata(p).is_ok_and(|m| m.file_type().is_block_device())
}

/// The md layer of member `m` as sysfs records it (`md/dev-M/offset`).
fn md_layer(d: &SysfsDevice, m: &str, start: u64) -> anyhow::Result<Option<stack::Layer>> {
    use crate::ssd_align::disk::md::{level_number, Md, MdVersion};
    let Some((_, off)) = d.md_offsets.iter().find(|(n, _)| n == m) else {
        return Ok(None);
    };
    let Some(version) = d.md_metadata.as_deref().and_then(MdVersion::parse) else {
        return Ok(None);
    };
    let off = disk::mul(*off, 512, &format!("md data offset of {m}"))?;
    Ok(Some(stack::Layer {
        kind: stack::Kind::Md,
        depth: 0,
        at: start,
        data_start: crate::ssd_align::disk::add(start, off, &format!("md data start of {m}"))?,
        detail: stack::Detail::Md(Md {
            version,
            level: d.md_level.as_deref().and_then(level_number).unwrap_or(0),
            layout: d.md_layout.unwrap_or(0),
            chunk_bytes: d.md_chunk.unwrap_or(0),
            raid_disks: d.md_disks.unwrap_or(0),
            data_offset: off,
        }),
        innermost: true,
    }))
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
    i.optimal_io_raw = d.optimal_io;
    if d.rotational == Some(true) {
        i.findings.push(Finding::Rotational {
            device: clean(&d.name).into_owned(),
        });
    }
    if let (Some(level), Some(chunk), Some(n)) = (&d.md_level, d.md_chunk, d.md_disks) {
        let parsed = match (RaidLevel::parse(level), d.md_layout) {
            // raid10's copies are near x far of md's layout (near=2 is 0x102)
            (Ok(RaidLevel::Raid10 { .. }), Some(layout)) => Ok(RaidLevel::Raid10 {
                copies: ((layout & 0xff) * ((layout >> 8) & 0xff)).max(1),
            }),
            (l, _) => l,
        };
        match parsed {
            Ok(l) if chunk > 0 => {
                i.md_raid = Some(Raid {
                    level: l,
                    devices: n,
                    chunk,
                })
            }
            Ok(_) => {}
            Err(_) => i.findings.push(Finding::NoStripeGeometry {
                level: clean(level).into_owned(),
            }),
        }
    }
    if let Some(dm) = &d.dm_name {
        i.findings.push(Finding::DmDevice {
            name: clean(dm).into_owned(),
            members: i.members.clone(),
        });
    }
    i
}
/// Read the device itself: its on-disk table (compared with the kernel's: the on-disk one is
/// judged, as it is what the data was written by and what the next boot reads), the layers
/// on each partition, and what a move would act on.
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
    let t = table::read(&mut dev, sector, Some(logical))
        .map_err(|e| anyhow!("{what}: {}", clean(&e.0)))?;
    let mut stale = false;
    if let Some((t, ss, ev)) = &t {
        i.table = Some(t.kind);
        i.sector = Some((*ss, *ev));
        stale = compare_kernel(i, t, &what, d.partition_of.is_none());
        if stale {
            data_where_disk_says(i, t, &mut dev, &what)?;
        }
        if d.partition_of.is_none() {
            i.parts = table_parts(&mut dev, t, &i.disk_dev, &what)?;
        }
    }
    for p in i.parts.iter_mut().filter(|p| p.layers.is_empty()) {
        let on_disk = t
            .as_ref()
            .and_then(|(t, _, _)| t.partitions.iter().find(|q| q.number == p.number));
        if let Some(q) = on_disk {
            p.role = q.role;
            p.logical = q.logical;
            p.type_name = Some(q.type_name.clone());
        }
        if p.role == Role::Data {
            p.layers = cleaned(
                stack::layers(&mut dev, p.start_bytes, p.size_bytes)
                    .map_err(|e| anyhow!("{what}: partition {}: {}", p.number, clean(&e.0)))?,
            );
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
            usable_end: t.as_ref().and_then(|(t, _, _)| gpt_end(t)),
            image: false,
            blocked: stale.then_some(Blocker::KernelTableStale),
            held: d
                .held
                .iter()
                .map(|(n, h)| (*n, h.iter().map(|x| clean(x).into_owned()).collect()))
                .collect(),
            mounted: Vec::new(),
            loop_mounted: Vec::new(),
        });
    }
    Ok(())
}

/// When the kernel's table and the disk's disagree, the data must be where the disk's table
/// says: a partition whose on-disk start holds nothing recognised while the kernel's start
/// holds a signature means the on-disk table was rewritten under the data. That is a
/// conflict (an error, exit 2), never a verdict or a move.
fn data_where_disk_says(i: &Input, t: &Table, dev: &mut Dev, what: &str) -> anyhow::Result<()> {
    for p in &i.parts {
        let Some(q) = t.partitions.iter().find(|q| q.number == p.number) else {
            continue;
        };
        let (Ok(start), Ok(size)) = (t.start_bytes(q), t.size_bytes(q)) else {
            continue;
        };
        if start == p.start_bytes || q.role != Role::Data {
            continue;
        }
        let at_disk = stack::layers(dev, start, size).is_ok_and(|l| !l.is_empty());
        let at_kernel = stack::layers(dev, p.start_bytes, p.size_bytes)
            .ok()
            .and_then(|l| l.first().map(|l| l.kind));
        if let (false, Some(k)) = (at_disk, at_kernel) {
            bail!(
                "{what}: partition {} starts at byte {start} in the on-disk table but at byte {} in the kernel's, and the {} is at the kernel's start, nothing at the disk's: the on-disk table was rewritten under the data; nothing is judged or moved. Restore the table that matches the data (its start is byte {}), then run partprobe",
                p.number,
                p.start_bytes,
                k.name(),
                p.start_bytes
            );
        }
    }
    Ok(())
}

/// Warn (as parted does) when the kernel's partitions differ from the on-disk table;
/// `whole` when the target is the disk (every partition compared both ways). True when they
/// differ.
fn compare_kernel(i: &mut Input, t: &Table, what: &str, whole: bool) -> bool {
    let before = i.findings.len();
    let disk: Vec<(u32, u64, u64, Role)> = t
        .partitions
        .iter()
        .filter_map(|p| {
            let s = t.start_bytes(p).ok()?;
            let z = t.size_bytes(p).ok()?;
            Some((p.number, s, z, p.role))
        })
        .collect();
    let mut found = Vec::new();
    for p in &i.parts {
        match disk.iter().find(|(n, ..)| *n == p.number) {
            // the kernel sizes an extended partition 1 KiB (its boot record): only a data
            // partition's size is compared
            Some((_, s, z, r))
                if *s == p.start_bytes && (*z == p.size_bytes || *r != Role::Data) => {}
            Some((_, s, z, _)) if *s == p.start_bytes => found.push(Finding::KernelSizeDiffers {
                disk: what.to_string(),
                number: p.number,
                kernel_size: p.size_bytes,
                disk_size: *z,
            }),
            Some((_, s, ..)) => found.push(Finding::KernelStartDiffers {
                disk: what.to_string(),
                number: p.number,
                kernel_start: p.start_bytes,
                disk_start: *s,
            }),
            None => found.push(Finding::KernelOnly {
                disk: what.to_string(),
                number: p.number,
            }),
        }
    }
    for (n, ..) in disk.iter().filter(|_| whole) {
        if !i.parts.iter().any(|p| p.number == *n) {
            found.push(Finding::DiskOnly {
                disk: what.to_string(),
                number: *n,
            });
        }
    }
    i.findings.extend(found);
    i.findings.len() > before
}
