//! Block devices for ssd-align: sysfs topology (under `--root`) and read-only, non-blocking
//! access to a device or image (the parsers are in `ssd_align::disk`).

use std::fs::File;
use std::io::{Seek, SeekFrom};
use std::os::unix::fs::{FileExt, FileTypeExt, OpenOptionsExt};
use std::path::{Path, PathBuf};

use anyhow::{bail, Context as _};

use crate::common::root::Root;
use crate::ssd_align::disk::{DiskError, Source};
use crate::ssd_align::judge::align::MAX_DEVICES;

/// What sysfs says about a block device.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct SysfsDevice {
    pub(crate) name: String,
    pub(crate) dir: PathBuf,
    pub(crate) logical: u64,
    pub(crate) physical: u64,
    pub(crate) min_io: Option<u64>,
    pub(crate) optimal_io: Option<u64>,
    pub(crate) alignment_offset: Option<i64>,
    pub(crate) discard_granularity: Option<u64>,
    pub(crate) discard_max: Option<u64>,
    pub(crate) rotational: Option<bool>,
    /// Size in 512-byte units.
    pub(crate) size512: Option<u64>,
    /// Partitions: (number, start, size) with start/size in 512-byte units (always, even on
    /// 4Kn disks).
    pub(crate) partitions: Vec<(u32, u64, u64)>,
    /// md: level, chunk size (bytes), raid_disks; dm: name. Members from `slaves/`.
    pub(crate) md_level: Option<String>,
    pub(crate) md_chunk: Option<u64>,
    pub(crate) md_disks: Option<u64>,
    pub(crate) dm_name: Option<String>,
    /// md: the array's metadata version (`1.2`), layout, and each member's data offset in
    /// 512-byte sectors (`md/dev-sda1/offset`).
    pub(crate) md_metadata: Option<String>,
    pub(crate) md_layout: Option<u64>,
    pub(crate) md_offsets: Vec<(String, u64)>,
    /// dm: the target's UUID (`CRYPT-LUKS2-...`, `LVM-...`).
    pub(crate) dm_uuid: Option<String>,
    pub(crate) members: Vec<String>,
    /// What holds the device, and each partition (sysfs `holders/`: dm or md devices using
    /// it): (partition number, 0 for the device itself, holder names).
    pub(crate) held: Vec<(u32, Vec<String>)>,
    /// When the target itself is a partition: its parent disk and partition number.
    pub(crate) partition_of: Option<(String, u32)>,
}

/// A one-value sysfs file at a full path (already under the root); `None` when absent.
fn value(p: &Path) -> anyhow::Result<Option<String>> {
    match std::fs::symlink_metadata(p) {
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        _ => Ok(Some(
            crate::common::fsread::read_capped_string(p, 4096)?
                .trim()
                .to_string(),
        )),
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

/// A partition's `start` and `size` (512-byte sectors, from sysfs dir `dir`) must fit in 64
/// bits as bytes and end within the disk's `size` (when known): an error naming the file
/// otherwise, never a wrapped or saturated number.
fn check_extent(dir: &Path, start: u64, size: u64, disk: Option<u64>) -> anyhow::Result<()> {
    let bytes = |n: u64, f: &str| {
        n.checked_mul(512).ok_or_else(|| {
            anyhow::anyhow!(
                "{}: {n} sectors x 512 overflows 64 bits",
                dir.join(f).display()
            )
        })
    };
    bytes(start, "start")?;
    bytes(size, "size")?;
    let end = start.checked_add(size).ok_or_else(|| {
        anyhow::anyhow!(
            "{}: start {start} + size {size} sectors overflows 64 bits",
            dir.display()
        )
    })?;
    bytes(end, "size")?;
    if let Some(disk) = disk.filter(|d| end > *d) {
        anyhow::bail!(
            "{}: partition ends at sector {end} (start {start} + size {size}), past the disk's end ({disk} sectors)",
            dir.display()
        );
    }
    Ok(())
}

/// The names in a sysfs `holders/` directory (sorted; none when absent).
fn holders(dir: &Path) -> Vec<String> {
    let mut v: Vec<String> = std::fs::read_dir(dir.join("holders"))
        .map(|rd| {
            rd.flatten()
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .collect()
        })
        .unwrap_or_default();
    v.sort();
    v
}

/// Find `name`'s sysfs directory: `sys/class/block/NAME` or `sys/block/NAME`.
fn sysfs_dir(root: &Root, name: &str) -> Option<PathBuf> {
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
pub(crate) fn name_by_devnum(root: &Root, rdev: u64) -> Option<String> {
    let (major, minor) = (nix::sys::stat::major(rdev), nix::sys::stat::minor(rdev));
    let link = root.path(format!("/sys/dev/block/{major}:{minor}"));
    let dir = link.canonicalize().ok()?;
    dir.file_name().map(|n| n.to_string_lossy().into_owned())
}

/// Read a device's topology and partitions from sysfs.
pub(crate) fn read_sysfs(root: &Root, name: &str) -> anyhow::Result<SysfsDevice> {
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
        let disk = num::<u64>(root, &parent.join("size"))?;
        check_extent(&dir, start, size, disk)?;
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
    if let Some(z) = d.size512.filter(|z| z.checked_mul(512).is_none()) {
        bail!(
            "{}: {z} sectors x 512 overflows 64 bits",
            dir.join("size").display()
        );
    }
    let own = holders(&dir);
    if !own.is_empty() {
        d.held.push((0, own));
    }
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
                    check_extent(&p, start, size, d.size512)?;
                    parts.push((n, start, size));
                    let h = holders(&p);
                    if !h.is_empty() {
                        d.held.push((n, h));
                    }
                }
            }
        }
        parts.sort_unstable();
        d.partitions = parts;
    }
    stacked(root, &mut d, &dir)?;
    Ok(d)
}

/// md and device-mapper facts of the device at `dir`: level, chunk, disks, layout, metadata
/// version, members (`slaves/`) with their data offsets; dm name and UUID.
fn stacked(root: &Root, d: &mut SysfsDevice, dir: &Path) -> anyhow::Result<()> {
    // md0p1 keeps its array's RAID geometry and members
    let mddir = match &d.partition_of {
        Some(_) => dir.parent().map(Path::to_path_buf).unwrap_or_default(),
        None => dir.to_path_buf(),
    };
    d.md_level = value(&mddir.join("md/level"))?;
    d.md_chunk = num(root, &mddir.join("md/chunk_size"))?;
    d.md_disks = num(root, &mddir.join("md/raid_disks"))?;
    if let Some(n) = d.md_disks.filter(|n| !(1..=MAX_DEVICES).contains(n)) {
        bail!(
            "{}: {n} devices is outside md's 1..={MAX_DEVICES}",
            mddir.join("md/raid_disks").display()
        );
    }
    d.md_metadata = value(&mddir.join("md/metadata_version"))?;
    d.md_layout = num(root, &mddir.join("md/layout"))?;
    d.dm_name = value(&dir.join("dm/name"))?;
    d.dm_uuid = value(&dir.join("dm/uuid"))?;
    if let Ok(rd) = std::fs::read_dir(mddir.join("slaves")) {
        let mut m: Vec<String> = rd
            .flatten()
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .collect();
        m.sort();
        for name in &m {
            if let Some(off) = num::<u64>(root, &mddir.join(format!("md/dev-{name}/offset")))? {
                d.md_offsets.push((name.clone(), off));
            }
        }
        d.members = m;
    }
    Ok(())
}

/// A device or image opened read-only for [`Source`] reads.
pub(crate) struct Dev {
    file: File,
    len: u64,
    name: String,
}

impl Dev {
    /// Open `path` read-only without blocking (a FIFO given as the image returns at once and
    /// is refused): only a regular file or a block device is accepted.
    pub(crate) fn open(path: &Path) -> anyhow::Result<Dev> {
        let what = crate::common::escape::clean(&path.display().to_string()).into_owned();
        let f = std::fs::OpenOptions::new()
            .read(true)
            .custom_flags(libc::O_NONBLOCK | libc::O_NOCTTY)
            .open(path)
            .with_context(|| format!("opening {what} read-only"))?;
        let ft = f
            .metadata()
            .with_context(|| format!("opening {what}"))?
            .file_type();
        if !(ft.is_file() || ft.is_block_device()) {
            bail!("{what}: neither a block device nor a disk image file");
        }
        nix::fcntl::fcntl(
            &f,
            nix::fcntl::FcntlArg::F_SETFL(nix::fcntl::OFlag::empty()),
        )
        .with_context(|| format!("opening {what}"))?;
        let mut file = f;
        let len = file
            .seek(SeekFrom::End(0))
            .with_context(|| format!("reading {what}"))?;
        if len == 0 {
            bail!("{what}: empty (0 bytes)");
        }
        Ok(Dev {
            file,
            len,
            name: what,
        })
    }
}

impl Source for Dev {
    fn size(&self) -> u64 {
        self.len
    }
    fn read_at(&mut self, off: u64, len: usize) -> Result<Vec<u8>, DiskError> {
        if off >= self.len {
            return Ok(Vec::new());
        }
        let want = len.min(usize::try_from(self.len - off).unwrap_or(usize::MAX));
        let mut buf = vec![0u8; want];
        let mut n = 0;
        while n < want {
            match self.file.read_at(&mut buf[n..], off + n as u64) {
                Ok(0) => break,
                Ok(k) => n += k,
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                Err(e) => {
                    return Err(DiskError(format!(
                        "reading {} at byte {}: {e}",
                        self.name,
                        off + n as u64
                    )))
                }
            }
        }
        buf.truncate(n);
        Ok(buf)
    }
}
