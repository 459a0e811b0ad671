//! `opskit ssd-align`: compute and check SSD alignment of partitions, LVM and filesystems.
//!
//! Never writes: devices and images are opened read-only and fixes are only printed.

pub(crate) mod disk;
pub(crate) mod gather;
pub(crate) mod judge;
pub(crate) mod render;

use std::path::PathBuf;

use anyhow::Context as _;

use crate::common::units::clap_parsers;
use crate::common::Context;
use crate::exit::Outcome;
use crate::ssd_align::judge::align::{Raid, RaidLevel, Request, MAX_DEVICES};

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub(crate) enum Format {
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
        Without TARGET it is a calculator: the grain partitions and LVM data must start on (the \
        erase block; with RAID 0/4/5/6/10, data disks x lcm(chunk, erase block), so every \
        member's data stays on its erase blocks), the first aligned start for 512-byte and 4Kn \
        sectors, and the sfdisk, parted, pvcreate, vgcreate, mkfs.ext4 and mkfs.xfs commands \
        that produce an aligned layout.\n\n\
        With TARGET (a block device by any name: /dev/sdb, /dev/disk/by-id/..., /dev/VG/LV, \
        /dev/mapper/..., /dev/md0, /dev/md0p1; a device name under --root; or a disk image) the \
        first line is the verdict, then each partition's chain of layers read as their own \
        tools read them: partition table (the kernel's compared with the disk's), md superblock \
        (data_offset), LUKS1/LUKS2 (the data offset; LUKS2 from the header whose checksum \
        holds, the secondary when the primary's does not), LVM2 PV (pe_start; the first value \
        of a key given twice, as lvm2) and every LV segment, thin pools (chunk size, thin LVs), \
        filesystem (ext4, XFS, btrfs, vfat, swap). A dm target is followed down through \
        dm-crypt to the disk; offsets are absolute on the disk. The verdict follows the data: \
        a partition whose own start is off but whose container realigns the data inside is \
        aligned; an extended partition is a container and is not judged.\n\n\
        A fix is printed only when the evidence proves it safe: `sfdisk --move-data` is offered \
        when moving the partition puts every innermost layer's data on the grain (naming the \
        layer at fault, e.g. a PV's pe_start) and it fits before the next partition (an \
        extended partition's boot record included). It is never printed when the kernel's \
        partition table differs from the disk's, when the sector size is not settled by the \
        on-disk evidence, for an md member, an MBR logical partition, a mounted partition (an \
        image's too, mounted through a loop device over it), a partition or disk held by \
        device-mapper or md, a member of an md/dm target, or past a GPT header's last usable \
        LBA. A conflict is an error, exit 2: the data is not where the disk's table says; a \
        filesystem, PV or LUKS larger than its partition; a signature on the whole device \
        beside a partition table; a leftover GPT behind an MBR without a 0xEE entry holding \
        data where no MBR partition starts; --sector-size, the device's logical block size or \
        the other reading finding signatures at more partition starts; LVM metadata whose \
        checksums fail in every copy. The layout commands \
        (which write a new partition table) are shown only by the calculator, for an empty \
        disk, or with --layout, with a warning naming what they would destroy.\n\n\
        TRIM: for a device, whether a discard from the filesystem reaches the SSD through every \
        layer (each holder's queue discard_max_bytes and discard_granularity, the LUKS2 \
        allow-discards flag, a thin pool's discards mode, md raid4/5/6), whether anything sends \
        one (the discard mount option, an enabled fstrim.timer), and one fix per layer that \
        blocks it; JSON `trim.layers[]`.\n\n\
        Exit status: 0 the data of everything checked is aligned, or nothing to judge (an empty \
        table; tuning warnings (ext4 stride/stripe-width, XFS sunit/swidth, a thin pool's \
        chunk) do not change it); 1 some data is misaligned (as `parted -s DEV align-check` \
        uses 1); 2 error: bad input, an unreadable or unrecognised device, a bad partition \
        table (overlaps, past the end, CRC), metadata its own tool refuses, conflicting \
        evidence, or an MBR whose 512- and 4096-byte readings give different verdicts (give \
        --sector-size).",
    after_help = "Examples:\n  \
        opskit ssd-align --erase-block 512k                      # calculator\n  \
        opskit ssd-align --erase-block 512k /dev/sdb             # check a disk\n  \
        opskit ssd-align --erase-block 1536k --format json disk.img\n  \
        opskit ssd-align --erase-block 512k --raid 5 --devices 4 --chunk 64k /dev/md0\n  \
        opskit --root /var/tmp/capture ssd-align --erase-block 512k sdb   # captured sysfs"
)]
pub(crate) struct Args {
    /// The SSD's erase block size (512k, 1536K, 4M, 4MiB, bytes, or 2048s in 512-byte sectors)
    #[arg(long, value_name = "SIZE", value_parser = clap_parsers::size)]
    pub(crate) erase_block: u64,

    /// The filesystem block size
    #[arg(long, value_name = "SIZE", default_value = "4k", value_parser = clap_parsers::size)]
    pub(crate) fs_block: u64,

    /// RAID level under the filesystem (0, 1, 4, 5, 6, 10); needs --devices and --chunk
    ///
    /// Found automatically for an md TARGET. Data disks: n (raid0), 1 (raid1), n-1 (raid4/5),
    /// n-2 (raid6), n/2 (raid10).
    #[arg(long, value_name = "LEVEL", value_parser = raid_level, requires_all = ["devices", "chunk"])]
    pub(crate) raid: Option<RaidLevel>,

    /// Number of devices in the RAID (with --raid)
    #[arg(long, value_name = "N", requires = "raid", value_parser = clap::value_parser!(u64).range(1..=MAX_DEVICES))]
    pub(crate) devices: Option<u64>,

    /// RAID chunk size (with --raid): 64k, 512k...
    #[arg(long, value_name = "SIZE", value_parser = clap_parsers::size, requires = "raid")]
    pub(crate) chunk: Option<u64>,

    /// Sector size of an image's MBR (an MBR does not record it)
    ///
    /// Default: settled by the GPT header's location, the device's logical block size, the
    /// signatures at the partition starts under each reading, or which reading fits; when
    /// none settles it both readings are judged: the verdict is given when they agree
    /// (without a move), else ssd-align stops and asks for this option. Given against the
    /// signatures (they sit at the starts only under the other size), it is an error.
    #[arg(long, value_name = "BYTES", value_parser = ["512", "4096"])]
    pub(crate) sector_size: Option<String>,

    /// Also print the commands that lay out the disk from scratch (shown without this only by
    /// the calculator and for an empty disk: they destroy what is on it)
    #[arg(long)]
    pub(crate) layout: bool,

    /// Explain why the old `fdisk -H32 -S32` recipe no longer aligns
    #[arg(long)]
    pub(crate) legacy_fdisk: bool,

    /// Output format
    #[arg(long, value_enum, default_value_t = Format::Text, value_name = "FORMAT")]
    pub(crate) format: Format,

    /// A block device (/dev/sdb), a device name under --root (sdb), or a disk image file
    #[arg(value_name = "TARGET")]
    pub(crate) target: Option<PathBuf>,
}

pub(crate) fn run(args: Args, ctx: &Context) -> anyhow::Result<Outcome> {
    let input = match &args.target {
        Some(t) => {
            let sector = args.sector_size.as_deref().and_then(|s| s.parse().ok());
            Some(crate::ssd_align::gather::gather(t, sector, &ctx.root)?)
        }
        None => None,
    };
    let opt_raid = match (args.raid, args.devices, args.chunk) {
        (Some(level), Some(devices), Some(chunk)) => Some(Raid {
            level,
            devices,
            chunk,
        }),
        _ => None,
    };
    let (raid, source) = judge::raid_of(opt_raid, input.as_ref());
    let plan = Request {
        erase_block: args.erase_block,
        fs_block: args.fs_block,
        raid,
    }
    .plan()
    .map_err(|e| anyhow::anyhow!("{e}"))?;
    let target = input.as_ref().map(|i| i.target.clone()).unwrap_or_default();
    let want = judge::Want {
        layout: args.layout,
    };
    let report = judge::judge(input, &plan, raid.map(|r| (r, source)), want)
        .map_err(|d| anyhow::anyhow!("{target}: {}", render::readings_differ(d)))?;
    let out = match args.format {
        Format::Json => {
            let mut buf = Vec::new();
            crate::format::json::write_pretty(&mut buf, &render::json(&report)?)?;
            buf
        }
        Format::Text => crate::ssd_align::render::text(&report, args.legacy_fdisk).into_bytes(),
    };
    crate::common::print(&out).context("writing to stdout")?;
    Ok(if report.misaligned() {
        Outcome::Findings
    } else {
        Outcome::Success
    })
}
