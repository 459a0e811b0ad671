//! SSD alignment arithmetic: grains, RAID geometry, ext4/XFS/LVM parameters, per-partition
//! checks with exact offsets, the commands to print, and the on-disk headers (ext4 and XFS
//! superblocks, LVM2 label) read from byte slices. Pure: no I/O.

use std::fmt;

/// A byte count that must be a positive multiple of 512 (erase blocks, chunks).
const SECTOR: u64 = 512;

/// Largest optimal_io_size believed (larger values come from broken USB bridges and RAID HBAs).
const MAX_BELIEVABLE_OPT_IO: u64 = 16 << 20;

/// The largest erase block or chunk accepted (1 GiB): products of these stay far from
/// overflowing.
const MAX_UNIT: u64 = 1 << 30;

/// The largest grain (1 TiB): an erase block and a full stripe with no common factor.
const MAX_GRAIN: u64 = 1 << 40;

/// The most devices a RAID may have (md's v1 superblock allows 1920).
pub(crate) const MAX_DEVICES: u64 = 1920;

/// `0xFFFF * 512`: what some USB-SATA bridges report as optimal_io_size.
const USB_BRIDGE_BOGUS_OPT_IO: u64 = 33_553_920;

#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct AlignError(pub(crate) String);

impl fmt::Display for AlignError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for AlignError {}

fn err<T>(msg: impl Into<String>) -> Result<T, AlignError> {
    Err(AlignError(msg.into()))
}

fn gcd(a: u64, b: u64) -> u64 {
    if b == 0 {
        a
    } else {
        gcd(b, a % b)
    }
}

pub(crate) fn lcm(a: u64, b: u64) -> u64 {
    if a == 0 || b == 0 {
        a.max(b)
    } else {
        a / gcd(a, b) * b
    }
}

/// A RAID level.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum RaidLevel {
    Raid0,
    Raid1,
    Raid4,
    Raid5,
    Raid6,
    /// RAID10 with this many copies of each chunk (md's default near=2).
    Raid10 {
        copies: u64,
    },
}

impl RaidLevel {
    /// `0`, `raid5`, `10`, `raid10`, `linear`... (md's `level` file says `raid5`).
    pub(crate) fn parse(s: &str) -> Result<RaidLevel, AlignError> {
        let l = s.trim().to_ascii_lowercase();
        let l = l.strip_prefix("raid").unwrap_or(&l);
        Ok(match l {
            "0" | "stripe" => RaidLevel::Raid0,
            "1" | "mirror" => RaidLevel::Raid1,
            "4" => RaidLevel::Raid4,
            "5" => RaidLevel::Raid5,
            "6" => RaidLevel::Raid6,
            "10" => RaidLevel::Raid10 { copies: 2 },
            _ => {
                return err(format!(
                    "unknown RAID level '{s}': expected 0, 1, 4, 5, 6 or 10"
                ))
            }
        })
    }

    pub(crate) fn name(&self) -> String {
        match self {
            RaidLevel::Raid0 => "raid0".into(),
            RaidLevel::Raid1 => "raid1".into(),
            RaidLevel::Raid4 => "raid4".into(),
            RaidLevel::Raid5 => "raid5".into(),
            RaidLevel::Raid6 => "raid6".into(),
            RaidLevel::Raid10 { copies } => format!("raid10 ({copies} copies)"),
        }
    }

    /// Disks that carry data in one stripe: n (raid0), 1 (raid1), n-1 (raid4/5), n-2 (raid6),
    /// n/copies (raid10).
    pub(crate) fn data_disks(&self, devices: u64) -> Result<u64, AlignError> {
        let min = match self {
            RaidLevel::Raid0 | RaidLevel::Raid1 => 1,
            RaidLevel::Raid4 | RaidLevel::Raid5 => 2,
            RaidLevel::Raid6 => 3,
            RaidLevel::Raid10 { copies } => *copies,
        };
        if *self == (RaidLevel::Raid10 { copies: 0 }) {
            return err("raid10 with 0 copies");
        }
        if devices < min.max(1) {
            return err(format!(
                "{} needs at least {min} devices, got {devices}",
                self.name()
            ));
        }
        Ok(match self {
            RaidLevel::Raid0 => devices,
            RaidLevel::Raid1 => 1,
            RaidLevel::Raid4 | RaidLevel::Raid5 => devices - 1,
            RaidLevel::Raid6 => devices - 2,
            // as the kernel's raid10_nr_stripes: an odd count (near=2 on 3 disks) is valid and
            // its stripe spans every device
            RaidLevel::Raid10 { copies } => {
                if devices % copies != 0 {
                    devices
                } else {
                    devices / copies
                }
            }
        })
    }
}

/// What the user asked for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Request {
    pub(crate) erase_block: u64,
    pub(crate) fs_block: u64,
    pub(crate) raid: Option<Raid>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Raid {
    pub(crate) level: RaidLevel,
    pub(crate) devices: u64,
    pub(crate) chunk: u64,
}

/// Everything derived from a [`Request`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Plan {
    pub(crate) erase_block: u64,
    pub(crate) fs_block: u64,
    /// Partitions and LVM data start on multiples of this (bytes): the erase block, or the
    /// least common multiple of it and the RAID full stripe.
    pub(crate) grain: u64,
    pub(crate) data_disks: u64,
    /// ext4 stride (fs blocks): chunk / block with RAID, else erase block / block.
    pub(crate) stride: u64,
    /// ext4 stripe-width (fs blocks): stride x data disks.
    pub(crate) stripe_width: u64,
    /// XFS su (bytes) and sw.
    pub(crate) su: u64,
    pub(crate) sw: u64,
    /// LVM extent size (bytes): 4 MiB rounded up to a multiple of the grain.
    pub(crate) extent: u64,
    pub(crate) warnings: Vec<PlanWarning>,
}

/// Blocks per group of an ext4 filesystem with `block` bytes per block (8 x block size).
pub(crate) fn blocks_per_group(block: u64) -> u64 {
    8 * block
}

impl Request {
    pub(crate) fn validate(&self) -> Result<(), AlignError> {
        if self.erase_block == 0 {
            return err("erase block size must be greater than 0");
        }
        if self.erase_block % SECTOR != 0 {
            return err(format!(
                "erase block size {} B is not a multiple of 512 bytes",
                self.erase_block
            ));
        }
        if !self.fs_block.is_power_of_two() || !(1024..=65536).contains(&self.fs_block) {
            return err(format!(
                "filesystem block size {} B must be a power of two from 1024 to 65536",
                self.fs_block
            ));
        }
        if self.erase_block > MAX_UNIT {
            return err(format!(
                "erase block size {} B is over the 1 GiB limit",
                self.erase_block
            ));
        }
        if let Some(r) = &self.raid {
            if !(1..=MAX_DEVICES).contains(&r.devices) {
                return err(format!(
                    "--devices {} is outside 1..={MAX_DEVICES}",
                    r.devices
                ));
            }
            if r.chunk > MAX_UNIT {
                return err(format!(
                    "RAID chunk size {} B is over the 1 GiB limit",
                    r.chunk
                ));
            }
            if r.chunk == 0 || r.chunk % SECTOR != 0 {
                return err(format!(
                    "RAID chunk size {} B must be a positive multiple of 512 bytes",
                    r.chunk
                ));
            }
            if r.chunk % self.fs_block != 0 {
                return err(format!(
                    "RAID chunk size {} B is not a multiple of the filesystem block ({} B)",
                    r.chunk, self.fs_block
                ));
            }
            r.level.data_disks(r.devices)?;
        }
        Ok(())
    }

    pub(crate) fn plan(&self) -> Result<Plan, AlignError> {
        self.validate()?;
        let mut warnings = Vec::new();
        let (stride_bytes, data_disks) = match &self.raid {
            Some(r) => (r.chunk, r.level.data_disks(r.devices)?),
            None => (self.erase_block, 1),
        };
        if stride_bytes % self.fs_block != 0 {
            warnings.push(PlanWarning::StrideRoundedDown {
                unit_bytes: stride_bytes,
                fs_block: self.fs_block,
            });
        }
        let stride = (stride_bytes / self.fs_block).max(1);
        let stripe_width = stride * data_disks;
        let full_stripe = stride_bytes * data_disks;
        // each member's data must stay on its erase blocks: the array's offset x on data
        // disk k is at member offset (x / full stripe) x chunk, so x must be a multiple of
        // data disks x lcm(chunk, erase block) (a mirror does not stripe: the erase block)
        let grain = match &self.raid {
            Some(r) if r.level == RaidLevel::Raid1 => self.erase_block,
            Some(r) => {
                let per_disk = lcm(r.chunk, self.erase_block);
                match per_disk
                    .checked_mul(data_disks)
                    .map(|g| lcm(g, full_stripe))
                    .filter(|g| *g <= MAX_GRAIN)
                {
                    Some(g) => g,
                    None => {
                        return err(format!(
                            "the grain ({data_disks} data disks x lcm of the chunk ({} B) and the erase block ({} B)) is over 1 TiB",
                            r.chunk, self.erase_block
                        ))
                    }
                }
            }
            None => self.erase_block,
        };
        warnings.extend(
            ext4_limits(stride, stripe_width, self.fs_block)
                .into_iter()
                .map(PlanWarning::Ext4),
        );
        let extent = (4u64 << 20).div_ceil(grain) * grain;
        Ok(Plan {
            erase_block: self.erase_block,
            fs_block: self.fs_block,
            grain,
            data_disks,
            stride,
            stripe_width,
            su: stride_bytes,
            sw: data_disks,
            extent,
            warnings,
        })
    }
}

/// An ext4 limit mke2fs and the kernel apply to stride / stripe-width.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(tag = "limit", rename_all = "snake_case")]
pub(crate) enum Ext4Limit {
    /// stripe-width is not a multiple of stride.
    WidthNotMultiple { stride: u64, stripe_width: u64 },
    /// stride over 65535 (s_raid_stride is 16-bit).
    StrideTooLarge { stride: u64 },
    /// stripe-width over the blocks per group: the allocator ignores it.
    WidthOverGroup {
        stripe_width: u64,
        blocks_per_group: u64,
        block: u64,
    },
}

/// A warning of the plan itself.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(tag = "warning", rename_all = "snake_case")]
pub(crate) enum PlanWarning {
    /// The stride unit (erase block or chunk) is not a multiple of the filesystem block.
    StrideRoundedDown {
        unit_bytes: u64,
        fs_block: u64,
    },
    Ext4(Ext4Limit),
}

/// The ext4 limits mke2fs and the kernel apply to stride / stripe-width.
pub(crate) fn ext4_limits(stride: u64, stripe_width: u64, block: u64) -> Vec<Ext4Limit> {
    let mut w = Vec::new();
    if stride > 0 && stripe_width % stride != 0 {
        w.push(Ext4Limit::WidthNotMultiple {
            stride,
            stripe_width,
        });
    }
    if stride > 65535 {
        w.push(Ext4Limit::StrideTooLarge { stride });
    }
    let bpg = blocks_per_group(block);
    if stripe_width > bpg {
        w.push(Ext4Limit::WidthOverGroup {
            stripe_width,
            blocks_per_group: bpg,
            block,
        });
    }
    w
}

impl Plan {
    /// The first aligned partition start at or after 1 MiB, in sectors of `sector` bytes
    /// (1 MiB leaves room for the GPT and a boot loader, as fdisk and parted do).
    pub(crate) fn first_start(&self, sector: u64) -> u64 {
        let min = 1u64 << 20;
        min.div_ceil(self.grain) * self.grain / sector
    }

    /// The layout for a disk `disk` (first partition `part1`) of `sector`-byte sectors: what
    /// render turns into sfdisk, parted, pvcreate, vgcreate and mkfs commands.
    pub(crate) fn layout(&self, disk: &str, part1: &str, sector: u64) -> Layout {
        Layout {
            disk: disk.to_string(),
            part1: part1.to_string(),
            sector,
            grain: self.grain,
            grain_sectors: lcm(self.grain, sector) / sector,
            first_start: self.first_start(sector),
            extent: self.extent,
            fs_block: self.fs_block,
            stride: self.stride,
            stripe_width: self.stripe_width,
            su: self.su,
            sw: self.sw,
        }
    }
}

/// An aligned layout for a disk, as numbers (render writes the commands).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub(crate) struct Layout {
    pub(crate) disk: String,
    pub(crate) part1: String,
    pub(crate) sector: u64,
    pub(crate) grain: u64,
    /// The grain in sectors (rounded up to whole sectors).
    pub(crate) grain_sectors: u64,
    /// The first aligned start at or after 1 MiB, in sectors.
    pub(crate) first_start: u64,
    pub(crate) extent: u64,
    pub(crate) fs_block: u64,
    pub(crate) stride: u64,
    pub(crate) stripe_width: u64,
    pub(crate) su: u64,
    pub(crate) sw: u64,
}

/// The validated device topology an alignment is checked against.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub(crate) struct Topology {
    pub(crate) logical: u64,
    pub(crate) physical: u64,
    pub(crate) min_io: Option<u64>,
    /// The optimal I/O size, if believable (see [`check_optimal_io`]).
    pub(crate) optimal_io: Option<u64>,
    /// The device's own misalignment (sysfs alignment_offset; -1 means "misaligned").
    pub(crate) alignment_offset: Option<i64>,
    pub(crate) discard_granularity: Option<u64>,
}

/// Whether an optimal_io_size is to be believed: `Err(reason)` for 0, the USB bridge value
/// 33553920, a value not a multiple of the physical sector, or one over 16 MiB.
pub(crate) fn check_optimal_io(
    v: u64,
    physical: u64,
) -> Result<u64, crate::ssd_align::judge::findings::OptIoWhy> {
    use crate::ssd_align::judge::findings::OptIoWhy;
    if v == 0 {
        return Err(OptIoWhy::Zero);
    }
    if v == USB_BRIDGE_BOGUS_OPT_IO {
        return Err(OptIoWhy::UsbBridge);
    }
    if physical > 0 && v % physical != 0 {
        return Err(OptIoWhy::NotMultiple { physical });
    }
    if v > MAX_BELIEVABLE_OPT_IO {
        return Err(OptIoWhy::TooLarge);
    }
    Ok(v)
}

/// What a start must be a multiple of.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub(crate) enum Unit {
    /// The grain: the erase block, or its least common multiple with the RAID full stripe.
    EraseBlock,
    PhysicalSector,
    OptimalIo,
    DiscardGranularity,
}

impl std::fmt::Display for Unit {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Unit::EraseBlock => "erase_block",
            Unit::PhysicalSector => "physical_sector",
            Unit::OptimalIo => "optimal_io",
            Unit::DiscardGranularity => "discard_granularity",
        })
    }
}

/// One alignment requirement and whether a start meets it.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub(crate) struct Check {
    /// `erase_block`, `physical_sector`, `optimal_io`, `discard_granularity`.
    pub(crate) what: Unit,
    pub(crate) unit_bytes: u64,
    pub(crate) aligned: bool,
    /// The start checked, in the table's sectors and in bytes, and its remainder.
    pub(crate) start_sector: u64,
    pub(crate) start_bytes: u64,
    pub(crate) rem: u64,
}

/// Check a start (`start` bytes, at `start_sector` in the table's own sectors) against each
/// unit of the plan and topology. The byte offset comes from the caller, which computed it
/// with checked arithmetic: nothing here multiplies a value read from the disk.
pub(crate) fn check_start(start_sector: u64, start: u64, units: &[(Unit, u64)]) -> Vec<Check> {
    units
        .iter()
        .filter(|(_, u)| *u > 0)
        .map(|(what, u)| {
            let rem = start % u;
            Check {
                what: *what,
                unit_bytes: *u,
                aligned: rem == 0,
                start_sector,
                start_bytes: start,
                rem,
            }
        })
        .collect()
}

/// The units a partition start must be a multiple of, from the plan and the topology.
pub(crate) fn units(plan: &Plan, topo: &Topology) -> Vec<(Unit, u64)> {
    let mut u = vec![(Unit::EraseBlock, plan.grain)];
    if topo.physical > 0 {
        u.push((Unit::PhysicalSector, topo.physical));
    }
    if let Some(o) = topo.optimal_io {
        u.push((Unit::OptimalIo, o));
    }
    if let Some(d) = topo.discard_granularity.filter(|d| *d > 0) {
        u.push((Unit::DiscardGranularity, d));
    }
    u
}

#[cfg(test)]
mod tests {
    use super::*;

    fn req(eb: u64) -> Request {
        Request {
            erase_block: eb,
            fs_block: 4096,
            raid: None,
        }
    }

    #[test]
    fn ocz_512k() {
        let p = req(512 << 10).plan().unwrap();
        assert_eq!((p.stride, p.stripe_width), (128, 128));
        assert_eq!(p.layout("/dev/sdb", "/dev/sdb1", 512).grain_sectors, 1024);
        assert_eq!(p.layout("/dev/sdb", "/dev/sdb1", 4096).grain_sectors, 128);
        assert_eq!(p.first_start(512) % 1024, 0);
        assert_eq!(p.first_start(4096) % 128, 0);
        assert_eq!(p.first_start(512), 2048);
        assert!(p.warnings.is_empty());
        let cmds =
            crate::ssd_align::render::layout_commands(&p.layout("/dev/sdb", "/dev/sdb1", 512))
                .join("\n");
        assert!(
            cmds.contains("mkfs.ext4 -b 4096 -E stride=128,stripe-width=128 /dev/sdb1"),
            "{cmds}"
        );
        assert_eq!(cmds.matches(" -E ").count(), 1);
        assert!(cmds.contains("pvcreate --dataalignment 512k"), "{cmds}");
        assert!(
            cmds.contains("mkfs.xfs -b size=4096 -d su=512k,sw=1"),
            "{cmds}"
        );
        assert!(cmds.contains("grain: 512KiB"), "{cmds}");
        assert!(cmds.contains("vgcreate -s 4096k"), "{cmds}");
    }

    #[test]
    fn erase_block_1536k() {
        let p = req(1536 << 10).plan().unwrap();
        assert_eq!(p.stride, 384);
        assert_eq!(p.first_start(512), 3072);
        assert_eq!(p.extent % p.grain, 0);
        assert_eq!(p.extent, 4608 << 10);
    }

    #[test]
    fn raid_geometry() {
        let p = Request {
            erase_block: 512 << 10,
            fs_block: 4096,
            raid: Some(Raid {
                level: RaidLevel::Raid5,
                devices: 4,
                chunk: 64 << 10,
            }),
        }
        .plan()
        .unwrap();
        assert_eq!((p.stride, p.stripe_width, p.data_disks), (16, 48, 3));
        assert_eq!(p.grain, lcm(512 << 10, 192 << 10));
        assert_eq!(RaidLevel::parse("10").unwrap().data_disks(4).unwrap(), 2);
        assert_eq!(RaidLevel::Raid0.data_disks(3).unwrap(), 3);
        assert_eq!(RaidLevel::Raid1.data_disks(2).unwrap(), 1);
        assert_eq!(RaidLevel::parse("raid6").unwrap().data_disks(6).unwrap(), 4);
        assert!(RaidLevel::Raid6.data_disks(2).is_err());
        assert!(RaidLevel::parse("7").is_err());
    }

    #[test]
    fn ext4_limits_warn() {
        assert!(ext4_limits(16, 48, 4096).is_empty());
        assert_eq!(ext4_limits(16, 50, 4096).len(), 1);
        assert!(
            ext4_limits(70000, 70000, 4096).contains(&Ext4Limit::StrideTooLarge { stride: 70000 })
        );
        assert!(ext4_limits(16384, 49152, 4096)
            .iter()
            .any(|w| matches!(w, Ext4Limit::WidthOverGroup { .. })));
    }

    #[test]
    fn bad_requests() {
        assert!(req(0).plan().unwrap_err().0.contains("greater than 0"));
        assert!(req(1000).plan().unwrap_err().0.contains("multiple of 512"));
        let mut r = req(512 << 10);
        r.fs_block = 3000;
        assert!(r.plan().is_err());
    }

    #[test]
    fn optimal_io_distrust() {
        assert!(check_optimal_io(0, 512).is_err());
        assert_eq!(
            check_optimal_io(33_553_920, 512),
            Err(crate::ssd_align::judge::findings::OptIoWhy::UsbBridge)
        );
        assert!(check_optimal_io(6144, 4096).is_err());
        assert!(check_optimal_io(32 << 20, 512).is_err());
        assert_eq!(check_optimal_io(1 << 20, 4096), Ok(1 << 20));
    }

    #[test]
    fn start_checks_have_exact_offsets() {
        let c = check_start(
            63,
            63 * 512,
            &[(Unit::EraseBlock, 524_288), (Unit::PhysicalSector, 4096)],
        );
        assert!(!c[0].aligned);
        assert_eq!((c[0].start_bytes, c[0].rem), (32256, 32256));
        assert!(!c[1].aligned);
        let c = check_start(2048, 2048 * 512, &[(Unit::EraseBlock, 524_288)]);
        assert!(c[0].aligned);
        let c = check_start(256, 256 * 4096, &[(Unit::EraseBlock, 524_288)]);
        assert!(c[0].aligned);
    }
}
