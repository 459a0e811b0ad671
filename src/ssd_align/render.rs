//! ssd-align's text report: the device, the grain, each partition with its chain of layers
//! (`p1 @1 MiB -> LUKS2 data @+16 MiB -> PV data @+1 MiB -> LV root @...`), the fixes, the
//! tuning warnings and the verdict. Device names were escaped when gathered.

use std::fmt::Write as _;

use crate::common::units::format_size;
use crate::ssd_align::disk::stack::Kind;
use crate::ssd_align::disk::{Role, TableKind};
use crate::ssd_align::judge::align::{Check, Ext4Limit, Layout, PlanWarning};
use crate::ssd_align::judge::findings::{Finding, OptIoWhy};
use crate::ssd_align::judge::moves::{Blocker, Culprit, Move, MovePlan};
use crate::ssd_align::judge::trim::{TrimFix, TrimKind, TrimReport};
use crate::ssd_align::judge::{
    Destroys, Holder, Misfit, PartNote, PartReport, ReadingsDiffer, Report, Subject, TuneDevice,
    TuneFix, Tuning, Verdict, XfsRefusal,
};

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

/// Why the weekly timer beats the mount option.
const TRIM_ADVICE: &str = "TRIM: prefer the weekly fstrim.timer (`systemctl enable --now fstrim.timer`) to the \
`discard` mount option: online discard sends a TRIM with every delete, which stalls I/O on many \
SSDs and queues, while a batched weekly fstrim gives the drive the same information at a quiet time.";

/// Why `fdisk -H32 -S32` no longer gives aligned partitions.
const LEGACY_FDISK: &str =
    "The 2012 recipe `fdisk -H32 -S32` made cylinders of 32 x 32 = 1024 sectors (512 KiB) so \
that cylinder-aligned partitions landed on erase-block boundaries. Current util-linux fdisk \
ignores -H/-S unless started in DOS-compatible mode (`-c=dos`), and in that mode it places the \
first partition at sector 32 and the next at 20513: both misaligned. Modern fdisk, sfdisk and \
parted align to 1 MiB (2048 sectors) by default, which is a multiple of every power-of-two erase \
block up to 1 MiB; for other erase blocks (1536 KiB, 3 MiB, 4 MiB...) give the grain explicitly \
(sfdisk `grain:`, parted start in sectors), as printed above.";

/// The commands that lay out a disk for an aligned plan.
pub(crate) fn layout_commands(l: &Layout) -> Vec<String> {
    let (dev, part1, sector, g, first) =
        (&l.disk, &l.part1, l.sector, l.grain_sectors, l.first_start);
    let kib = |b: u64| format!("{}k", b / 1024);
    let xfs_su = if l.su % 1024 == 0 {
        kib(l.su)
    } else {
        l.su.to_string()
    };
    vec![
        format!(
            "printf 'label: gpt\\nsector-size: {sector}\\ngrain: {}\\nfirst-lba: {first}\\nstart={first}, type=linux\\n' | sfdisk {dev}",
            format_size(l.grain)
        ),
        format!(
            "parted -s -a optimal {dev} mklabel gpt mkpart primary {first}s 100%  # start must be a multiple of {g}s"
        ),
        if l.grain % (1 << 20) == 0 {
            format!("parted -s {dev} align-check opt 1")
        } else {
            // parted's "opt" is the device's optimal I/O size, or 1 MiB when it reports
            // none: a start on a grain that is no multiple of 1 MiB fails it
            format!("parted -s {dev} align-check min 1  # not 'opt': parted's optimal alignment is the device's optimal I/O size or 1 MiB, and a start on the {} grain is not always on 1 MiB", format_size(l.grain))
        },
        format!("pvcreate --dataalignment {} {part1}", kib(l.grain)),
        format!("pvs -o +pe_start --units k {part1}  # pe_start must be a multiple of {}", kib(l.grain)),
        format!("vgcreate -s {} VG {part1}", kib(l.extent)),
        format!(
            "mkfs.ext4 -b {} -E stride={},stripe-width={} {part1}",
            l.fs_block, l.stride, l.stripe_width
        ),
        format!("mkfs.xfs -b size={} -d su={xfs_su},sw={} {part1}", l.fs_block, l.sw),
        "systemctl enable --now fstrim.timer  # weekly TRIM; mount without 'discard'".to_string(),
    ]
}

/// Render the report as text.
pub(crate) fn text(r: &Report, legacy: bool) -> String {
    let mut out = String::new();
    verdict(&mut out, r);
    header(&mut out, r);
    if r.target.is_some() {
        if r.partitions.is_empty() {
            out.push_str("  no partitions\n");
        }
        for p in &r.partitions {
            partition(&mut out, p);
        }
        for p in &r.partitions {
            if let Some(MovePlan::Blocked(b)) = &p.plan {
                let _ = writeln!(out, "  no move for p{}: {}", p.number, blocker(p, b));
            }
        }
    }
    if let Some(w) = &r.commands_destroy {
        let _ = writeln!(out, "WARNING: {}", destroys(w));
    }
    if let Some(l) = &r.layout {
        out.push_str("commands for an aligned layout:\n");
        for c in layout_commands(l) {
            let _ = writeln!(out, "  {c}");
        }
    } else if r.target.is_some() {
        out.push_str("(commands for a new aligned layout: --layout)\n");
    }
    match &r.trim {
        Some(t) => trim(&mut out, t, TRIM_ADVICE),
        None => {
            let _ = writeln!(out, "{TRIM_ADVICE}");
        }
    }
    if legacy {
        let _ = writeln!(out, "{LEGACY_FDISK}");
    }
    out
}

/// The TRIM chain: one line per layer (top first), then who trims, each with its fix.
fn trim(out: &mut String, t: &TrimReport, advice: &str) {
    let reach = match t.reaches_ssd {
        Some(true) => "a discard reaches the SSD through every layer",
        Some(false) => "a discard does NOT reach the SSD",
        None => "whether a discard reaches the SSD is not known here",
    };
    let _ = writeln!(out, "TRIM: {reach}");
    for l in &t.layers {
        let kind = match l.kind {
            TrimKind::Disk => "disk",
            TrimKind::Md { .. } => "md",
            TrimKind::DmCrypt => "dm-crypt",
            TrimKind::Lvm => "LVM",
            TrimKind::Dm => "device-mapper",
            TrimKind::LuksHeader => "LUKS header",
            TrimKind::ThinPool => "thin pool",
            TrimKind::LvmConf => "LVM",
        };
        let state = match (l.kind, l.passes) {
            (TrimKind::ThinPool, Some(true)) => "discards passdown".to_string(),
            (TrimKind::ThinPool, _) => "discards not passed down to the disk".to_string(),
            (TrimKind::LvmConf, Some(true)) => {
                "issue_discards = 1: extents freed by lvremove/lvreduce are trimmed".to_string()
            }
            (TrimKind::LvmConf, _) => "issue_discards = 0: extents freed by lvremove/lvreduce are not trimmed (a filesystem's discards pass through an LV either way)".to_string(),
            (TrimKind::LuksHeader, Some(true)) => "allow-discards flag set".to_string(),
            (TrimKind::LuksHeader, Some(false)) => "no allow-discards flag".to_string(),
            (TrimKind::LuksHeader, None) => {
                "LUKS1: no flag in the header (crypttab's discard option decides)".to_string()
            }
            (_, Some(true)) => format!(
                "passes discards (discard_max_bytes {}, granularity {})",
                opt(l.discard_max_bytes),
                opt(l.discard_granularity)
            ),
            (_, Some(false)) => "BLOCKS discards (discard_max_bytes 0)".to_string(),
            (_, None) => "discard limits not reported".to_string(),
        };
        let _ = writeln!(out, "  {kind} {}: {state}", l.device);
        if let Some(f) = &l.fix {
            let _ = writeln!(out, "      fix: {}", trim_fix(f));
        }
    }
    let who = match (t.mount_discard, t.fstrim_timer) {
        (Some(true), _) => "mounted with the discard option (online TRIM)".to_string(),
        (_, Some(true)) => "fstrim.timer is enabled (weekly TRIM)".to_string(),
        (Some(false), Some(false)) | (None, Some(false)) => {
            "nothing trims it: no discard mount option, fstrim.timer not enabled".to_string()
        }
        (Some(false), None) => "mounted without discard; fstrim.timer not found".to_string(),
        (None, None) => {
            "who trims it is not known here (not mounted here, or an image)".to_string()
        }
    };
    let _ = writeln!(out, "  trimmed: {who}");
    if let Some(f) = &t.fix {
        let _ = writeln!(out, "      fix: {}", trim_fix(f));
    }
    if t.trimmed != Some(true) {
        let _ = writeln!(out, "  {advice}");
    }
}

/// One line that unblocks a TRIM layer.
pub(crate) fn trim_fix(f: &TrimFix) -> String {
    match f {
        TrimFix::NoDeviceSupport => "none: the device accepts no discard (no TRIM support, or a controller that hides it)".into(),
        TrimFix::CryptRefresh { name } => format!("cryptsetup refresh --allow-discards --persistent {}  # LUKS2 keeps the flag; for LUKS1 add 'discard' to its crypttab line", shell_quote(name)),
        TrimFix::LuksFlag { device } => format!("cryptsetup open --allow-discards --persistent {} NAME  # or 'cryptsetup refresh --allow-discards --persistent NAME' while open", shell_quote(device)),
        TrimFix::Raid456 => "echo Y > /sys/module/raid456/parameters/devices_handle_discard_safely  # only if every member reads back zeroes after TRIM (hdparm -I: 'Deterministic read ZEROs after TRIM')".into(),
        TrimFix::Below => "a layer below blocks discards: fix that one".into(),
        TrimFix::EnableTimer => "systemctl enable --now fstrim.timer".into(),
        TrimFix::LvmIssueDiscards => "set 'issue_discards = 1' in the devices section of /etc/lvm/lvm.conf".into(),
        TrimFix::ThinPassdown { pool } => format!("lvchange --discards passdown {}", shell_quote(pool)),
    }
}

/// Why two readings of an MBR leave the verdict open.
pub(crate) fn readings_differ(d: ReadingsDiffer) -> String {
    let v = |a: bool| if a { "aligned" } else { "misaligned" };
    format!(
        "cannot tell whether this MBR counts 512- or 4096-byte sectors (an MBR does not record it, both readings fit and no signature settles it) and the verdict differs: {} under 512, {} under 4096: give --sector-size 512 or 4096",
        v(d.0.aligned_512),
        v(d.0.aligned_4096)
    )
}

/// The JSON document: the report's fields, with the rendered command (`fix`, `contents[].fix`)
/// beside each typed plan and each blocked move's reason in `notes`.
pub(crate) fn json(r: &Report) -> serde_json::Result<serde_json::Value> {
    let mut v = serde_json::to_value(r)?;
    let (words, warnings) = notes_and_warnings(r);
    v["notes"] = words.into();
    v["warnings"] = warnings.into();
    let mut notes = Vec::new();
    if let Some(ps) = v.get_mut("partitions").and_then(|p| p.as_array_mut()) {
        for (p, pv) in r.partitions.iter().zip(ps.iter_mut()) {
            let fix = match &p.plan {
                Some(MovePlan::Move(m)) => serde_json::Value::String(move_line(m)),
                Some(MovePlan::Blocked(b)) => {
                    notes.push(serde_json::Value::String(format!(
                        "p{}: {}",
                        p.number,
                        blocker(p, b)
                    )));
                    serde_json::Value::Null
                }
                None => serde_json::Value::Null,
            };
            pv["fix"] = fix;
            let label = part_label(p);
            pv["reasons"] = p
                .reasons
                .iter()
                .map(|m| serde_json::Value::String(misfit(&label, m)))
                .collect();
            pv["misfits"] = serde_json::to_value(&p.reasons)?;
            if let Some(cs) = pv.get_mut("checks").and_then(|c| c.as_array_mut()) {
                for (c, cv) in p.checks.iter().zip(cs.iter_mut()) {
                    cv["detail"] = check_detail(&label, c).into();
                }
            }
            if let Some(ls) = pv.get_mut("layers").and_then(|c| c.as_array_mut()) {
                for (l, lv) in p.layers.iter().zip(ls.iter_mut()) {
                    lv["misfits"] = serde_json::to_value(&l.reasons)?;
                    lv["reasons"] = l
                        .reasons
                        .iter()
                        .map(|m| serde_json::Value::String(misfit(&label, m)))
                        .collect();
                }
            }
            if let Some(cs) = pv.get_mut("contents").and_then(|c| c.as_array_mut()) {
                for (c, cv) in p.contents.iter().zip(cs.iter_mut()) {
                    cv["detail"] = tuning_detail(c).into();
                    cv["fix"] = c
                        .fix
                        .as_ref()
                        .map_or(serde_json::Value::Null, |f| tune_line(f).into());
                }
            }
        }
    }
    if let Some(n) = v.get_mut("notes").and_then(|n| n.as_array_mut()) {
        n.extend(notes);
    }
    if let Some(d) = &r.commands_destroy {
        v["commands_destroy_message"] = destroys(d).into();
    }
    v["commands"] = r
        .layout
        .as_ref()
        .map(layout_commands)
        .unwrap_or_default()
        .into();
    v["trim_advice"] = TRIM_ADVICE.into();
    Ok(v)
}

fn destroys(d: &Destroys) -> String {
    match d {
        Destroys::Partitions { disk } => format!(
            "{disk} already has partitions: the mklabel/label commands below create a NEW, EMPTY partition table and destroy access to everything on it; use them only on an empty disk or after a full backup"
        ),
        Destroys::Signature { disk, kind } => format!(
            "{disk} holds {} on the whole device: the commands below write a partition table over it and destroy it; use them only after moving its data off",
            kind_name(*kind)
        ),
    }
}

fn kind_name(k: Kind) -> &'static str {
    match k {
        Kind::Pv => "an LVM PV",
        Kind::Swap => "swap",
        Kind::Md => "an md member",
        k => k.name(),
    }
}

/// `s` as one shell word: as is when plain, else single-quoted.
fn shell_quote(s: &str) -> String {
    if !s.is_empty()
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || "/._-+:,=@%".contains(c))
    {
        s.to_string()
    } else {
        format!("'{}'", s.replace('\'', "'\\''"))
    }
}

/// The `sfdisk --move-data` command of a move, with what it does.
pub(crate) fn move_line(m: &Move) -> String {
    let n = m.number;
    // sfdisk reads an image file in 512-byte sectors: a 4Kn image goes through a loop device
    let dev = shell_quote(&m.disk);
    let cmd = if m.via_loop {
        format!(
            "L=$(losetup -f --show --sector-size {} {dev}) && echo '{},' | sfdisk --move-data \"$L\" -N {n}; losetup -d \"$L\"",
            m.sector_bytes, m.to_sector
        )
    } else {
        format!("echo '{},' | sfdisk --move-data {dev} -N {n}", m.to_sector)
    };
    let holds = match m.holds {
        Some(k) if k.is_container() => {
            format!(
                "; p{n} holds {}: moving it moves the header with it",
                k.name()
            )
        }
        Some(k) => format!("; p{n} holds {}", k.name()),
        None => String::new(),
    };
    let why = match &m.culprit {
        Culprit::Partition => String::new(),
        Culprit::Offset { kind, offset_bytes } => format!(
            "; the {} data offset ({}) is what is off the grain: the move compensates for it",
            kind.name(),
            at(*offset_bytes)
        ),
    };
    format!(
        "{cmd}  # unmount {} and back it up first: moves p{n} and its data from byte {} to {} ({}){holds}{why}",
        m.part_device,
        m.from_bytes,
        m.to_bytes,
        format_size(m.to_bytes)
    )
}

/// Why a partition is not moved, and what to do instead.
pub(crate) fn blocker(p: &PartReport, b: &Blocker) -> String {
    let n = p.number;
    match b {
        Blocker::MdMember => format!("p{n} is an md member: realign it by re-adding it to the array with an aligned data offset, not by moving the partition"),
        Blocker::Logical => format!("p{n} is an MBR logical partition: move it with parted or gparted, not sfdisk --move-data"),
        Blocker::LvExtents { lv, extent_bytes, step } => format!(
            "{lv} starts off the grain because the VG's extent size ({}) is not a multiple of it ({}): moving the partition cannot fix that; move the LV to aligned extents with pvmove, or give a new VG an extent size that is a multiple{}",
            format_size(*extent_bytes), format_size(*step),
            extent_bytes.div_ceil(*step).checked_mul(*step).map_or_else(String::new, |m| format!(" (vgcreate -s {}k)", m / 1024))
        ),
        Blocker::LayersDisagree { kind, device, offset_bytes, step } => format!(
            "the {} data of {device} sits {offset_bytes} B into the partition, and the other data on it at offsets that differ modulo {step} B: no partition start aligns them all; recreate that layer with an aligned offset (pvcreate --dataalignment, or pvmove the LVs) after a backup",
            kind.name()
        ),
        Blocker::DoesNotFit { to_bytes, end_bytes, limit_bytes, empty: true } => format!(
            "p{n} holds nothing recognised and cannot move to byte {to_bytes}: it would end at byte {end_bytes}, past byte {limit_bytes} (the next partition or the end of the disk); if it is empty, delete it and create it again at an aligned start"
        ),
        Blocker::DoesNotFit { to_bytes, end_bytes, limit_bytes, empty: false } => format!(
            "p{n} cannot move to byte {to_bytes} with its data: it would end at byte {end_bytes}, past byte {limit_bytes} (the next partition, an extended partition's boot record, or the end of the disk); shrink its filesystem and the partition first"
        ),
        Blocker::Overflow => format!("p{n}: the aligned start overflows 64 bits"),
        Blocker::DeviceName => "no move command is printed: the device or image name holds control characters; rename it first".into(),
        Blocker::KernelTableStale => format!("the kernel's partition table differs from the disk's: nothing is moved until they agree (run partprobe or partx -u on the disk, check p{n} again)"),
        Blocker::Held { device, holders } => format!(
            "{device} is in use by {} (sysfs holders): moving data under an open mapping or array corrupts it; close them first (umount, vgchange -an, cryptsetup close, mdadm --stop), then check again",
            holders.join(", ")
        ),
        Blocker::Mounted { device, mountpoint } => format!(
            "{device} is mounted on {mountpoint}: moving a mounted filesystem corrupts it; unmount it (and back it up), then check again for the move"
        ),
        Blocker::MountedThroughLoop { loop_device, mountpoint } => format!(
            "its bytes are mounted on {mountpoint} through {loop_device} (a loop device over this image): moving a mounted filesystem corrupts it; unmount it and detach the loop device, then check again for the move"
        ),
        Blocker::SectorSizeUnsettled => "the MBR's sector size is not settled and the move differs between 512 and 4096: give --sector-size to get one".into(),
    }
}

/// A tuning command (or what to do when the kernel refuses one).
pub(crate) fn tune_line(f: &TuneFix) -> String {
    let dev = |d: &TuneDevice| {
        match d {
        TuneDevice::Node(n) => (shell_quote(n), String::new()),
        TuneDevice::MdArrayOf(m) => (
            "/dev/mdN".to_string(),
            format!("  # on the md array assembled from {m} (find it with mdadm --examine {m}), never on the member itself"),
        ),
    }
    };
    match f {
        TuneFix::Tune2fs {
            device,
            stride,
            stripe_width,
        } => {
            let (d, note) = dev(device);
            let line = format!("tune2fs -E stride={stride},stripe_width={stripe_width} {d}{note}");
            if note.is_empty() {
                line
            } else {
                format!("# {line}")
            }
        }
        TuneFix::XfsRecreate { su, sw, why } => {
            let why = match why {
                XfsRefusal::BlockSize => "su is not a multiple of the XFS block",
                XfsRefusal::NoDalign => "it was made without stripe alignment, and the kernel refuses sunit/swidth at mount then",
                XfsRefusal::AgSize => "its allocation group size is not a multiple of the new sunit, and the kernel refuses it at mount",
                XfsRefusal::RootInode => "the kernel keeps new sunit/swidth only when the root inode would not move, which it would for an existing filesystem",
            };
            format!("# no mount option fits ({why}): recreate it with mkfs.xfs -d su={},sw={sw} after a backup, or leave it (stripe settings tune allocation; they do not misalign data)", if su % 1024 == 0 { format!("{}k", su / 1024) } else { su.to_string() })
        }
    }
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
    let (notes, warnings) = notes_and_warnings(r);
    for n in &notes {
        let _ = writeln!(out, "  note: {n}");
    }
    for w in &warnings {
        let _ = writeln!(out, "  warning: {w}");
    }
}

fn ext4_limit(l: &Ext4Limit) -> String {
    match l {
        Ext4Limit::WidthNotMultiple { stride, stripe_width } => {
            format!("stripe-width {stripe_width} is not a multiple of stride {stride}")
        }
        Ext4Limit::StrideTooLarge { stride } => format!(
            "stride {stride} exceeds 65535, the largest value ext4 stores (s_raid_stride is 16-bit)"
        ),
        Ext4Limit::WidthOverGroup { stripe_width, blocks_per_group, block } => format!(
            "stripe-width {stripe_width} exceeds the {blocks_per_group} blocks per group of a {block}-byte-block ext4: the allocator ignores it"
        ),
    }
}

fn plan_warning(w: &PlanWarning) -> String {
    match w {
        PlanWarning::StrideRoundedDown { unit_bytes, fs_block } => format!(
            "the erase block ({unit_bytes} B) is not a multiple of the filesystem block ({fs_block} B): stride rounded down"
        ),
        PlanWarning::Ext4(l) => ext4_limit(l),
    }
}

/// A filesystem's stripe settings against the plan, in words.
fn tuning_detail(t: &Tuning) -> String {
    match (t.kind, t.ext4) {
        (Kind::Ext4, Some(e)) => {
            let mut d = format!(
                "ext4 ({} B blocks): stride={} stripe-width={}, want stride={} stripe-width={}",
                e.block_size, t.have.0, t.have.1, t.want.0, t.want.1
            );
            for l in &t.limits {
                d.push_str("; ");
                d.push_str(&ext4_limit(l));
            }
            d
        }
        _ => format!(
            "XFS: su={} B sw={}, want su={} B sw={}",
            t.have.0, t.have.1, t.want.0, t.want.1
        ),
    }
}

/// `p1`, or a member's device name.
fn part_label(p: &PartReport) -> String {
    match p.via {
        Some(_) => p.device.rsplit('/').next().unwrap_or(&p.device).to_string(),
        None => format!("p{}", p.number),
    }
}

/// `p1 starts at sector 63 = 32256 B, 32256 mod 524288 = 32256`
fn check_detail(label: &str, c: &Check) -> String {
    format!(
        "{label} starts at sector {} = {} B, {} mod {} = {}",
        c.start_sector, c.start_bytes, c.start_bytes, c.unit_bytes, c.rem
    )
}

/// `erase_block: LUKS2 data starts at 17829888 B, 17829888 mod 524288 = 4096`
pub(crate) fn misfit(label: &str, m: &Misfit) -> String {
    let what = match &m.subject {
        Subject::Start { sector } => {
            return format!(
                "{}: {label} starts at sector {sector} = {} B, {} mod {} = {}",
                m.unit, m.at, m.at, m.unit_bytes, m.rem
            )
        }
        Subject::PvData => "PV data (pe_start)".to_string(),
        Subject::LvExtent {
            lv,
            lv_extent,
            pv_extent,
        } => format!("LV {lv} extent {lv_extent} (PV extent {pv_extent})"),
        Subject::Data { kind } => format!("{} data", kind.name()),
        Subject::Layer { kind } => kind.name().to_string(),
    };
    format!(
        "{}: {what} starts at {} B, {} mod {} = {}",
        m.unit, m.at, m.at, m.unit_bytes, m.rem
    )
}

/// The findings and partition notes in words: (notes, warnings).
pub(crate) fn notes_and_warnings(r: &Report) -> (Vec<String>, Vec<String>) {
    let (mut notes, mut warnings) = (Vec::new(), Vec::new());
    for f in &r.findings {
        let w = finding(f);
        if f.is_warning() {
            warnings.push(w);
        } else {
            notes.push(w);
        }
    }
    warnings.extend(r.plan_warnings.iter().map(plan_warning));
    for p in &r.partitions {
        let label = part_label(p);
        for n in &p.notes {
            notes.push(match n {
                PartNote::Extended => format!("{label} is an extended partition: a container of logical partitions, not judged as data"),
                PartNote::RealignedInside { kind, offset_bytes } => format!(
                    "{label} starts off the grain ({} B) but its data is realigned inside the {} (data at +{offset_bytes} B): aligned where it matters; do not move it",
                    p.start_bytes,
                    kind.name()
                ),
            });
        }
    }
    (notes, warnings)
}

fn finding(f: &Finding) -> String {
    let stale = |disk: &str| {
        format!("the kernel's partition table is stale (run partprobe or partx -u {disk}); the on-disk table is checked")
    };
    match f {
        Finding::Rotational { device } => format!("{device} reports rotational=1: it may not be an SSD (or the controller hides it)"),
        Finding::OptimalIoIgnored { value, why } => match why {
            OptIoWhy::Zero => "optimal_io_size is 0 (the device does not report one)".into(),
            OptIoWhy::UsbBridge => format!("optimal_io_size {value} = 0xFFFF x 512 is a USB bridge's placeholder: ignored"),
            OptIoWhy::NotMultiple { physical } => format!("optimal_io_size {value} is not a multiple of the physical sector ({physical} B): ignored"),
            OptIoWhy::TooLarge => format!("optimal_io_size {value} is over 16 MiB: not believable, ignored"),
        },
        Finding::DeviceMisaligned => "the device reports alignment_offset -1: its own sectors are misaligned to its physical blocks".into(),
        Finding::NoStripeGeometry { level } => format!("md level '{level}' has no stripe geometry"),
        Finding::DmDevice { name, members } => format!("device-mapper device '{name}': members {}", members.join(", ")),
        Finding::KernelStartDiffers { disk, number, kernel_start, disk_start } => format!(
            "{disk}: the kernel's partition {number} starts at byte {kernel_start}, the on-disk table says {disk_start}: {}",
            stale(disk)
        ),
        Finding::KernelSizeDiffers { disk, number, kernel_size, disk_size } => format!(
            "{disk}: the kernel's partition {number} is {kernel_size} bytes, the on-disk table says {disk_size}: {}",
            stale(disk)
        ),
        Finding::KernelOnly { disk, number } => format!("{disk}: the kernel knows partition {number}, the on-disk table does not: {}", stale(disk)),
        Finding::DiskOnly { disk, number } => format!("{disk}: the on-disk table has partition {number}, the kernel does not: {}", stale(disk)),
        Finding::MemberNotInSysfs { holder, member, top } => format!(
            "{} member {member} of {top} is not in sysfs here: not judged",
            match holder {
                Holder::Md => "md",
                Holder::DeviceMapper => "device-mapper",
            }
        ),
        Finding::MemberLayersNotRead { device } => format!("{device}: its device is not here, so the layers on it were not read: only its start is judged"),
        Finding::ImageNames { image } => format!("partition devices below are named as after `losetup -fP {image}`"),
        Finding::NoTable => "no partition table: what is on the whole image is checked as partition 0".into(),
    }
}

/// `p1 @1 MiB -> LUKS2 data @+16 MiB -> PV data @+1 MiB -> LV data @...`
fn chain(p: &PartReport) -> String {
    let name = p.device.rsplit('/').next().unwrap_or(&p.device);
    let mut s = format!("{name} @{}", at(p.start_bytes));
    let mut prev = p.start_bytes;
    let mut depth = 0;
    let mut out_first = true;
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
        // siblings (the LV segments on one PV) are listed, not chained as if nested
        let sep = if l.depth > depth || out_first {
            " -> "
        } else {
            ", "
        };
        out_first = false;
        depth = l.depth;
        let _ = write!(
            s,
            "{sep}{step}{}",
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
            "{} ({} member of {})",
            p.device.rsplit('/').next().unwrap_or(&p.device),
            match via.holder {
                Holder::Md => "md",
                Holder::DeviceMapper => "device-mapper",
            },
            via.top
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
    let label = part_label(p);
    for c in &p.checks {
        let _ = writeln!(
            out,
            "    {} {}: {}",
            if c.aligned { "ok " } else { "BAD" },
            c.what,
            check_detail(&label, c)
        );
    }
    for l in &p.layers {
        for r in &l.reasons {
            let _ = writeln!(out, "    BAD {}", misfit(&label, r));
        }
    }
    if let Some(MovePlan::Move(m)) = &p.plan {
        let _ = writeln!(out, "        fix: {}", move_line(m));
    }
    for t in &p.thin_pools {
        let _ = writeln!(
            out,
            "    {} thin pool {}/{} (data {}): chunk {}, discards {}; thin LVs: {}",
            if t.chunk_ok { "ok " } else { "TUNE" },
            t.vg,
            t.pool,
            t.data_device,
            format_size(t.chunk_bytes),
            t.discards,
            if t.thin_lvs.is_empty() {
                "none".to_string()
            } else {
                t.thin_lvs.join(", ")
            }
        );
        if !t.chunk_ok {
            let _ = writeln!(
                out,
                "        the chunk is not a multiple of the erase block: thin LVs allocate {} chunks, so their data does not stay on erase blocks; a pool's chunk size cannot change: make a new pool with lvcreate --type thin-pool --chunksize {}k",
                format_size(t.chunk_bytes),
                t.want_chunk_bytes / 1024
            );
        }
    }
    for c in &p.contents {
        let _ = writeln!(
            out,
            "    {} {}: {}",
            if c.ok { "ok " } else { "TUNE" },
            c.kind.name(),
            tuning_detail(c)
        );
        if let Some(f) = &c.fix {
            let _ = writeln!(out, "        tuning fix: {}", tune_line(f));
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
        .count()
        + r.partitions
            .iter()
            .flat_map(|p| &p.thin_pools)
            .filter(|t| !t.chunk_ok)
            .count();
    let tuning = if tune > 0 {
        format!("; {tune} filesystem tuning warning(s)")
    } else {
        String::new()
    };
    let _ = match r.verdict {
        Verdict::Calculated => writeln!(out, "verdict: calculated (nothing checked)"),
        Verdict::Empty => writeln!(
            out,
            "verdict: empty (no partitions and nothing on the whole device: nothing to judge)"
        ),
        Verdict::Aligned => writeln!(
            out,
            "verdict: aligned ({n} {} checked{tuning}{})",
            if n == 1 { "partition" } else { "partitions" },
            both(r)
        ),
        Verdict::Misaligned => {
            writeln!(
                out,
                "verdict: misaligned ({bad} of {n} partitions{tuning}{})",
                both(r)
            )
        }
    };
}

fn both(r: &Report) -> &'static str {
    if r.both_readings.is_some() {
        "; the same under 512- and 4096-byte sectors: the sector size was not needed"
    } else {
        ""
    }
}
