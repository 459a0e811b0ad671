//! The one decision that can destroy data: whether moving a partition (`sfdisk --move-data`)
//! aligns its data and keeps it. A [`MovePlan`] is a [`Move`] only when the evidence proves it
//! safe: the kernel's table agrees with the disk's, the sector size was settled by the
//! on-disk evidence, the partition is a primary/GPT data partition (not an md member, not a
//! logical partition), every innermost layer's data lands on the grain after the move, and the
//! moved partition ends before the next partition (any kind: an extended partition's boot
//! record included) or the table's end. Anything else is [`MovePlan::Blocked`] with the
//! reason. Pure; render turns plans into commands and words.

use serde::Serialize;

use crate::ssd_align::disk::stack::{Detail, Kind};
use crate::ssd_align::disk::{Role, TableKind};
use crate::ssd_align::judge::{LayerReport, PartReport};

/// What can be done about a misaligned partition.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub(crate) enum MovePlan {
    Move(Move),
    Blocked(Blocker),
}

/// `sfdisk --move-data` of one partition, proven to align its data.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub(crate) struct Move {
    /// The disk or image sfdisk acts on.
    pub(crate) disk: String,
    /// The partition's own node (to unmount first).
    pub(crate) part_device: String,
    pub(crate) number: u32,
    pub(crate) from_bytes: u64,
    pub(crate) to_bytes: u64,
    /// The new start in the table's sectors.
    pub(crate) to_sector: u64,
    pub(crate) sector_bytes: u64,
    /// An image whose table counts in 4096-byte sectors: sfdisk needs a loop device of that
    /// sector size (it reads a file in 512-byte sectors).
    pub(crate) via_loop: bool,
    /// What the partition holds at its start (moved with it).
    pub(crate) holds: Option<Kind>,
    /// The layer whose offset put the data off the grain.
    pub(crate) culprit: Culprit,
}

/// Which layer put the data off the grain.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "layer", rename_all = "snake_case")]
pub(crate) enum Culprit {
    /// The partition's own start.
    Partition,
    /// A container's data offset inside the partition (a PV's pe_start, a LUKS offset).
    Offset { kind: Kind, offset_bytes: u64 },
}

/// Why no move is printed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "reason", rename_all = "snake_case")]
pub(crate) enum Blocker {
    /// The partition is an md member: re-add it with an aligned data offset.
    MdMember,
    /// An MBR logical partition: sfdisk --move-data does not move them.
    Logical,
    /// The VG's extent size is not a multiple of the grain: LVs land off it whatever the
    /// partition does.
    LvExtents {
        lv: String,
        extent_bytes: u64,
        step: u64,
    },
    /// The innermost layers sit at offsets no single partition start aligns together.
    LayersDisagree {
        kind: Kind,
        device: String,
        offset_bytes: u64,
        step: u64,
    },
    /// The moved partition would run into the next partition or past the table's end.
    DoesNotFit {
        to_bytes: u64,
        end_bytes: u64,
        limit_bytes: u64,
        /// Nothing recognised on it (an empty partition: recreate it, nothing to shrink).
        empty: bool,
    },
    /// The aligned start or the moved end overflows 64 bits.
    Overflow,
    /// The device or image name holds control characters.
    DeviceName,
    /// The kernel's partition table differs from the disk's: nothing is moved until they
    /// agree.
    KernelTableStale,
    /// The sector size of the MBR is not settled: the move would differ between readings.
    SectorSizeUnsettled,
    /// The partition (or the whole disk) is in use by device-mapper or md (sysfs
    /// `holders/`): moving data under an open mapping corrupts it; close them first.
    Held {
        device: String,
        holders: Vec<String>,
    },
    /// The partition's filesystem is mounted: moving it under the kernel corrupts it.
    Mounted { device: String, mountpoint: String },
    /// An image's partition is mounted through a loop device over the image file.
    MountedThroughLoop {
        loop_device: String,
        mountpoint: String,
    },
}

/// The device or image a move command acts on.
#[derive(Debug, Clone)]
pub(crate) struct Mover {
    pub(crate) dev: String,
    pub(crate) len: u64,
    pub(crate) sector: u64,
    pub(crate) table: Option<TableKind>,
    /// Where a moved partition must end by (bytes): a GPT's last usable LBA + 1 from its
    /// header; else the device's end.
    pub(crate) usable_end: Option<u64>,
    /// An image file: sfdisk must be told its sector size (it assumes 512 for a file).
    pub(crate) image: bool,
    /// Set when a move must not be printed whatever the partition (stale kernel table,
    /// unsettled sector size).
    pub(crate) blocked: Option<Blocker>,
    /// What holds the disk (0) or a partition (its number): dm or md devices using it.
    pub(crate) held: Vec<(u32, Vec<String>)>,
    /// Partitions (by number) with a mounted filesystem, and where.
    pub(crate) mounted: Vec<(u32, String)>,
    /// An image's partitions (by number) mounted through a loop device over the image:
    /// (number, loop device, mount point).
    pub(crate) loop_mounted: Vec<(u32, String, String)>,
}

fn lcm(a: u64, b: u64) -> u64 {
    crate::ssd_align::judge::align::lcm(a, b)
}

/// The plan for each misaligned data partition (members of an md/dm target are never moved).
pub(crate) fn plan_moves(parts: &mut [PartReport], step: u64, m: &Mover) {
    // every partition's start limits the one before it: an extended partition's boot record
    // (at its start) included
    let starts: Vec<u64> = parts
        .iter()
        .filter(|p| p.number > 0 && p.via.is_none())
        .map(|p| p.start_bytes)
        .collect();
    // GPT keeps a backup partition array and header at the end: the header's last usable
    // LBA says where (an array of 256 entries is 32 KiB, not the usual 16)
    let usable_end = match (m.usable_end, m.table) {
        (Some(e), _) => e.min(m.len),
        (None, Some(TableKind::Gpt)) => m.len.saturating_sub(16384 + m.sector),
        _ => m.len,
    };
    for p in parts.iter_mut() {
        if p.aligned || p.number == 0 || p.role != Role::Data || p.via.is_some() {
            continue;
        }
        p.plan = Some(plan_one(p, step, m, &starts, usable_end));
    }
}

fn plan_one(p: &PartReport, step: u64, m: &Mover, starts: &[u64], usable_end: u64) -> MovePlan {
    match try_plan(p, step, m, starts, usable_end) {
        Ok(mv) => MovePlan::Move(mv),
        Err(b) => MovePlan::Blocked(b),
    }
}

fn try_plan(
    p: &PartReport,
    step: u64,
    m: &Mover,
    starts: &[u64],
    usable_end: u64,
) -> Result<Move, Blocker> {
    if p.layers.iter().any(|l| l.kind == Kind::Md) {
        return Err(Blocker::MdMember);
    }
    if p.logical {
        return Err(Blocker::Logical);
    }
    if let Some(b) = &m.blocked {
        return Err(b.clone());
    }
    if let Some((_, at)) = m.mounted.iter().find(|(n, _)| *n == p.number) {
        return Err(Blocker::Mounted {
            device: p.device.clone(),
            mountpoint: at.clone(),
        });
    }
    if let Some((_, dev, at)) = m.loop_mounted.iter().find(|(n, ..)| *n == p.number) {
        return Err(Blocker::MountedThroughLoop {
            loop_device: dev.clone(),
            mountpoint: at.clone(),
        });
    }
    if let Some((n, h)) = m
        .held
        .iter()
        .find(|(n, h)| (*n == 0 || *n == p.number) && !h.is_empty())
    {
        return Err(Blocker::Held {
            device: if *n == 0 {
                m.dev.clone()
            } else {
                p.device.clone()
            },
            holders: h.clone(),
        });
    }
    if m.dev.chars().any(char::is_control) {
        return Err(Blocker::DeviceName);
    }
    let inner: Vec<&LayerReport> = p.layers.iter().filter(|l| l.innermost).collect();
    // every innermost layer must land on the grain at the same new start: their offsets
    // inside the partition must agree modulo the grain
    let rem = inner.first().map_or(0, |l| l.offset_bytes % step);
    if let Some(l) = inner.iter().find(|l| l.offset_bytes % step != rem) {
        return Err(disagree(p, l, step));
    }
    // the new start: the first one at or after the current start that puts the data on the
    // grain and is a whole sector of the table
    let sector_step = lcm(step, m.sector);
    let mut to = p
        .start_bytes
        .checked_add(rem)
        .and_then(|s| s.div_ceil(step).checked_mul(step))
        .and_then(|s| s.checked_sub(rem))
        .ok_or(Blocker::Overflow)?;
    let mut tries = 0;
    while to % m.sector != 0 {
        to = to.checked_add(step).ok_or(Blocker::Overflow)?;
        tries += 1;
        if tries > sector_step / step {
            return Err(Blocker::Overflow);
        }
    }
    let limit = starts
        .iter()
        .copied()
        .filter(|s| *s > p.start_bytes)
        .min()
        .unwrap_or(usable_end)
        .min(usable_end);
    let end = to.checked_add(p.size_bytes).ok_or(Blocker::Overflow)?;
    if end > limit {
        return Err(Blocker::DoesNotFit {
            to_bytes: to,
            end_bytes: end,
            limit_bytes: limit,
            empty: p.layers.is_empty(),
        });
    }
    let culprit = culprit(p, step);
    Ok(Move {
        disk: m.dev.clone(),
        part_device: p.device.clone(),
        number: p.number,
        from_bytes: p.start_bytes,
        to_bytes: to,
        to_sector: to / m.sector,
        sector_bytes: m.sector,
        via_loop: m.image && m.sector != 512,
        holds: p.layers.first().map(|l| l.kind),
        culprit,
    })
}

/// The outermost container whose data offset inside the partition is off the grain, or the
/// partition's start.
fn culprit(p: &PartReport, step: u64) -> Culprit {
    p.layers
        .iter()
        .filter(|l| l.kind.is_container() && !l.innermost)
        .find(|l| l.offset_bytes % step != 0)
        .map_or(Culprit::Partition, |l| Culprit::Offset {
            kind: l.kind,
            offset_bytes: l.offset_bytes,
        })
}

fn disagree(p: &PartReport, l: &LayerReport, step: u64) -> Blocker {
    let ext = p.layers.iter().find_map(|x| match x.info {
        Detail::Pv {
            extent_bytes: Some(e),
            ..
        } => Some(e),
        _ => None,
    });
    match (l.kind, ext) {
        (Kind::Lv, Some(e)) if e % step != 0 => Blocker::LvExtents {
            lv: l.device.clone(),
            extent_bytes: e,
            step,
        },
        _ => Blocker::LayersDisagree {
            kind: l.kind,
            device: l.device.clone(),
            offset_bytes: l.offset_bytes,
            step,
        },
    }
}
