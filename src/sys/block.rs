//! Block devices for ssd-align: sysfs topology (under `--root`), partition tables read with
//! gptman/mbrman, and the first bytes of each partition. Everything is opened read-only.

use std::fs::File;
use std::io::{Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};

use anyhow::{bail, Context as _};

use crate::sys::root::Root;

/// What sysfs says about a block device.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SysfsDevice {
    pub name: String,
    pub dir: PathBuf,
    pub logical: u64,
    pub physical: u64,
    pub min_io: Option<u64>,
    pub optimal_io: Option<u64>,
    pub alignment_offset: Option<i64>,
    pub discard_granularity: Option<u64>,
    pub discard_max: Option<u64>,
    pub rotational: Option<bool>,
    /// Size in 512-byte units.
    pub size512: Option<u64>,
    /// Partitions: (number, start, size) with start/size in 512-byte units (always, even on
    /// 4Kn disks).
    pub partitions: Vec<(u32, u64, u64)>,
    /// md: level, chunk size (bytes), raid_disks; dm: name. Members from `slaves/`.
    pub md_level: Option<String>,
    pub md_chunk: Option<u64>,
    pub md_disks: Option<u64>,
    pub dm_name: Option<String>,
    pub members: Vec<String>,
    /// When the target itself is a partition: its parent disk and partition number.
    pub partition_of: Option<(String, u32)>,
}

/// A one-value sysfs file at a full path (already under the root); `None` when absent.
fn value(p: &Path) -> anyhow::Result<Option<String>> {
    match std::fs::read_to_string(p) {
        Ok(s) => Ok(Some(s.trim().to_string())),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(e).with_context(|| format!("reading {}", p.display())),
    }
}

fn num<T: std::str::FromStr>(_root: &Root, p: &Path) -> anyhow::Result<Option<T>> {
    match value(p)? {
        None => Ok(None),
        Some(v) => v
            .parse::<T>()
            .map(Some)
            .map_err(|_| anyhow::anyhow!("{}: not a number: '{v}'", p.display())),
    }
}

/// Find `name`'s sysfs directory: `sys/class/block/NAME` or `sys/block/NAME`.
pub fn sysfs_dir(root: &Root, name: &str) -> Option<PathBuf> {
    for rel in [
        format!("/sys/class/block/{name}"),
        format!("/sys/block/{name}"),
    ] {
        let p = root.path(&rel);
        if p.is_dir() {
            return Some(p);
        }
    }
    None
}

/// The kernel's name of the block device with device number `rdev` (`dm-3` for
/// /dev/mapper/vg0-data, `sdb` for /dev/disk/by-id/ata-...), from `/sys/dev/block/MAJ:MIN`.
pub fn name_by_devnum(root: &Root, rdev: u64) -> Option<String> {
    let (major, minor) = (nix::sys::stat::major(rdev), nix::sys::stat::minor(rdev));
    let link = root.path(format!("/sys/dev/block/{major}:{minor}"));
    let dir = link.canonicalize().ok()?;
    dir.file_name().map(|n| n.to_string_lossy().into_owned())
}

/// Read a device's topology and partitions from sysfs.
pub fn read_sysfs(root: &Root, name: &str) -> anyhow::Result<SysfsDevice> {
    let Some(dir) = sysfs_dir(root, name) else {
        bail!(
            "no block device '{name}' in {} (looked for sys/class/block/{name} and sys/block/{name})",
            root.base().display()
        );
    };
    let dir = dir.canonicalize().unwrap_or(dir);
    let mut d = SysfsDevice {
        name: name.to_string(),
        dir: dir.clone(),
        ..Default::default()
    };
    // a partition has no queue/: its limits are the parent disk's
    let mut qdir = dir.join("queue");
    if let Some(pn) = num::<u32>(root, &dir.join("partition"))? {
        let parent = dir.parent().map(Path::to_path_buf).unwrap_or_default();
        let pname = parent
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        d.partition_of = Some((pname, pn));
        qdir = parent.join("queue");
        let start = num::<u64>(root, &dir.join("start"))?.unwrap_or(0);
        let size = num::<u64>(root, &dir.join("size"))?.unwrap_or(0);
        d.partitions.push((pn, start, size));
    }
    d.logical = num(root, &qdir.join("logical_block_size"))?.unwrap_or(512);
    d.physical = num(root, &qdir.join("physical_block_size"))?.unwrap_or(d.logical);
    d.min_io = num(root, &qdir.join("minimum_io_size"))?;
    d.optimal_io = num(root, &qdir.join("optimal_io_size"))?;
    d.discard_granularity = num(root, &qdir.join("discard_granularity"))?;
    d.discard_max = num(root, &qdir.join("discard_max_bytes"))?;
    d.rotational = num::<u8>(root, &qdir.join("rotational"))?.map(|v| v != 0);
    d.alignment_offset = num(root, &dir.join("alignment_offset"))?;
    d.size512 = num(root, &dir.join("size"))?;
    if d.partition_of.is_none() {
        let mut parts = Vec::new();
        if let Ok(rd) = std::fs::read_dir(&dir) {
            for e in rd.flatten() {
                let p = e.path();
                if !p.is_dir() {
                    continue;
                }
                if let Some(n) = num::<u32>(root, &p.join("partition"))? {
                    let start = num::<u64>(root, &p.join("start"))?.unwrap_or(0);
                    let size = num::<u64>(root, &p.join("size"))?.unwrap_or(0);
                    parts.push((n, start, size));
                }
            }
        }
        parts.sort_unstable();
        d.partitions = parts;
    }
    d.md_level = value(&dir.join("md/level"))?;
    d.md_chunk = num(root, &dir.join("md/chunk_size"))?;
    d.md_disks = num(root, &dir.join("md/raid_disks"))?;
    d.dm_name = value(&dir.join("dm/name"))?;
    if let Ok(rd) = std::fs::read_dir(dir.join("slaves")) {
        let mut m: Vec<String> = rd
            .flatten()
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .collect();
        m.sort();
        d.members = m;
    }
    Ok(d)
}

/// A partition read from a partition table.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TablePartition {
    pub number: u32,
    /// In the table's sectors.
    pub start: u64,
    pub sectors: u64,
}

/// A partition table read from an image or a device.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Table {
    /// `gpt` or `dos`.
    pub kind: &'static str,
    pub sector: u64,
    pub partitions: Vec<TablePartition>,
    /// How the sector size was chosen, when it was a guess.
    pub note: Option<String>,
}

/// Open a file or device read-only.
pub fn open_ro(path: &Path) -> anyhow::Result<File> {
    File::open(path).with_context(|| format!("opening {} read-only", path.display()))
}

fn read_at(f: &mut File, off: u64, buf: &mut [u8]) -> std::io::Result<usize> {
    f.seek(SeekFrom::Start(off))?;
    let mut n = 0;
    while n < buf.len() {
        match f.read(&mut buf[n..])? {
            0 => break,
            k => n += k,
        }
    }
    Ok(n)
}

/// Read `len` bytes at `off` (fewer at the end of the file).
pub fn read_bytes(f: &mut File, off: u64, len: usize) -> std::io::Result<Vec<u8>> {
    let mut buf = vec![0u8; len];
    let n = read_at(f, off, &mut buf)?;
    buf.truncate(n);
    Ok(buf)
}

/// Read the partition table: GPT (512 or 4096-byte sectors, found by its signature) or MBR
/// with extended/logical partitions. `sector` forces the sector size (an MBR does not record
/// it); `logical` is the device's logical sector size when known.
pub fn read_table(path: &Path, sector: Option<u64>, logical: Option<u64>) -> anyhow::Result<Table> {
    let mut f = open_ro(path)?;
    let what = path.display();
    let len = f
        .seek(SeekFrom::End(0))
        .with_context(|| format!("reading {what}"))?;
    if len < 512 {
        bail!("{what}: {len} bytes is too short to hold a partition table");
    }
    // GPT: "EFI PART" at LBA 1
    for ss in [512u64, 4096] {
        if sector.is_some_and(|s| s != ss) {
            continue;
        }
        let sig = read_bytes(&mut f, ss, 8).with_context(|| format!("reading {what}"))?;
        if sig == b"EFI PART" {
            f.seek(SeekFrom::Start(ss))
                .with_context(|| format!("reading {what}"))?;
            // check the primary header and its partition entry array ourselves: gptman
            // would silently use the backup (parted warns and uses it; we refuse to guess)
            let primary = gptman::GPTHeader::read_from(&mut f).map_err(|e| {
                anyhow::anyhow!("{what}: primary GPT header is invalid ({})", gpt_err(&e))
            })?;
            primary.read_partitions(&mut f, ss).map_err(|e| {
                anyhow::anyhow!(
                    "{what}: primary GPT partition entry array is invalid ({})",
                    gpt_err(&e)
                )
            })?;
            let gpt = gptman::GPT::read_from(&mut f, ss)
                .map_err(|e| anyhow::anyhow!("{what}: GPT is invalid ({})", gpt_err(&e)))?;
            let mut parts: Vec<TablePartition> = gpt
                .iter()
                .filter(|(_, p)| p.is_used())
                .map(|(n, p)| TablePartition {
                    number: n,
                    start: p.starting_lba,
                    sectors: p.ending_lba.saturating_sub(p.starting_lba) + 1,
                })
                .collect();
            parts.sort_by_key(|p| p.number);
            return Ok(Table {
                kind: "gpt",
                sector: ss,
                partitions: parts,
                note: None,
            });
        }
    }
    let head = read_bytes(&mut f, 0, 512).with_context(|| format!("reading {what}"))?;
    if head.len() < 512 || head[510] != 0x55 || head[511] != 0xAA {
        // no table: a filesystem or PV on the whole device is checked as "partition 0"
        let h = read_bytes(&mut f, 0, crate::domain::align::HEAD_BYTES)
            .with_context(|| format!("reading {what}"))?;
        if crate::domain::align::has_known_content(&h) {
            return Ok(Table {
                kind: "none",
                sector: sector.unwrap_or(512),
                partitions: vec![TablePartition {
                    number: 0,
                    start: 0,
                    sectors: len / sector.unwrap_or(512),
                }],
                note: Some(
                    "no partition table: the filesystem or PV covers the whole image".into(),
                ),
            });
        }
        bail!("{what}: no partition table (no GPT signature, no MBR boot signature 55 AA) and no filesystem or LVM label");
    }
    let (ss, note) = match sector.or(logical) {
        Some(s) => (s, None),
        None => guess_mbr_sector(&mut f, len)?,
    };
    let ss32 = u32::try_from(ss).context("sector size")?;
    f.seek(SeekFrom::Start(0))
        .with_context(|| format!("reading {what}"))?;
    let mbr = mbrman::MBR::read_from(&mut f, ss32)
        .map_err(|e| anyhow::anyhow!("{what}: MBR partition table is invalid ({e})"))?;
    let mut parts = Vec::new();
    for (n, p) in mbr.iter() {
        if p.is_used() {
            parts.push(TablePartition {
                number: u32::try_from(n).unwrap_or(0),
                start: u64::from(p.starting_lba),
                sectors: u64::from(p.sectors),
            });
        }
    }
    for p in &parts {
        if (p.start + p.sectors).saturating_mul(ss) > len {
            bail!(
                "{what}: partition {} ends at byte {} beyond the end of the image ({len} bytes): truncated or corrupt table",
                p.number,
                (p.start + p.sectors) * ss
            );
        }
    }
    Ok(Table {
        kind: "dos",
        sector: ss,
        partitions: parts,
        note,
    })
}

fn gpt_err(e: &gptman::Error) -> String {
    match e {
        gptman::Error::InvalidChecksum(want, got) => {
            format!("bad CRC32: header says {want:#010x}, computed {got:#010x}")
        }
        gptman::Error::InvalidPartitionEntryArrayChecksum(want, got) => {
            format!("bad CRC32: header says {want:#010x}, computed {got:#010x}")
        }
        e => e.to_string(),
    }
}

/// An MBR does not record its sector size: take 4096 when a filesystem or LVM signature sits
/// at the first partition's start x 4096 and not at x 512; else 512.
fn guess_mbr_sector(f: &mut File, len: u64) -> anyhow::Result<(u64, Option<String>)> {
    let head = read_bytes(f, 0, 512)?;
    let start = u64::from(u32::from_le_bytes([
        head[454], head[455], head[456], head[457],
    ]));
    if start == 0 {
        return Ok((512, None));
    }
    let known = |f: &mut File, off: u64| -> bool {
        if off >= len {
            return false;
        }
        read_bytes(f, off, crate::domain::align::HEAD_BYTES)
            .map(|h| crate::domain::align::has_known_content(&h))
            .unwrap_or(false)
    };
    if !known(f, start * 512) && known(f, start * 4096) {
        return Ok((
            4096,
            Some("MBR sector size 4096 inferred from the data at the first partition".into()),
        ));
    }
    Ok((
        512,
        Some("an MBR does not record its sector size: assuming 512 (use --sector-size 4096 for a 4Kn image)".into()),
    ))
}
