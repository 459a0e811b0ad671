//! ssd-align's judgement: from what was gathered (topology, partitions, the layers on each)
//! and the plan to a typed report. The verdict follows the data: a partition's innermost
//! layers (where data lands) decide, a container realigned inside is aligned where it
//! matters, an extended partition is never judged as data, and filesystem stripe settings
//! are tuning, not misalignment. Pure.

pub(crate) mod align;
pub(crate) mod findings;
pub(crate) mod moves;
pub(crate) mod trim;

use serde::Serialize;

use crate::common::units::format_size;
use crate::ssd_align::disk::fs::{Ext4Info, XfsInfo};
use crate::ssd_align::disk::stack::{Detail, Kind, Layer};
use crate::ssd_align::disk::{Role, TableKind};
use crate::ssd_align::judge::align::{
    check_start, ext4_limits, lcm, Check, Ext4Limit, Layout, Plan, PlanWarning, Raid, Topology,
    Unit,
};
pub(crate) use crate::ssd_align::judge::moves::{MovePlan, Mover};

/// Where the device's facts came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub(crate) enum SourceKind {
    Image,
    Sysfs,
}

pub(crate) use crate::ssd_align::disk::table::SectorEvidence;

/// Where the RAID geometry came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub(crate) enum RaidSource {
    Options,
    Md,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub(crate) enum Verdict {
    Calculated,
    Aligned,
    Misaligned,
    /// A partition table with no partitions and nothing on the whole device: nothing to
    /// judge (exit 0; the layout section shows how to make an aligned one).
    Empty,
}

/// What running the layout commands on the target would destroy.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "what", rename_all = "snake_case")]
pub(crate) enum Destroys {
    /// The existing partition table (and access to everything on it).
    Partitions { disk: String },
    /// A filesystem, PV, swap, LUKS or md signature on the whole device.
    Signature { disk: String, kind: Kind },
}

/// An MBR whose sector size nothing settled, judged under both readings.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub(crate) struct BothReadings {
    pub(crate) aligned_512: bool,
    pub(crate) aligned_4096: bool,
}

/// What holds a member of the target.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub(crate) enum Holder {
    Md,
    DeviceMapper,
}

/// A member of an md or device-mapper target (`md0`, `dm-0`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub(crate) struct Via {
    pub(crate) holder: Holder,
    pub(crate) top: String,
}

/// One partition as gathered.
#[derive(Debug, Clone)]
pub(crate) struct PartIn {
    pub(crate) number: u32,
    /// Its device node (`/dev/sdb1`; for an image, as `losetup -P` would name it).
    pub(crate) device: String,
    pub(crate) start_sector: u64,
    pub(crate) sector_bytes: u64,
    pub(crate) start_bytes: u64,
    pub(crate) size_bytes: u64,
    pub(crate) role: Role,
    pub(crate) type_name: Option<String>,
    pub(crate) logical: bool,
    pub(crate) layers: Vec<Layer>,
    /// For a member of the md or device-mapper target: judged against the erase block alone
    /// (the stripe is the array's business), never moved.
    pub(crate) via: Option<Via>,
}

/// A layer, judged.
#[derive(Debug, Clone, Serialize)]
pub(crate) struct LayerReport {
    pub(crate) kind: Kind,
    pub(crate) device: String,
    pub(crate) depth: usize,
    pub(crate) start_bytes: u64,
    /// Its data start relative to the partition's start.
    pub(crate) offset_bytes: u64,
    pub(crate) aligned: bool,
    pub(crate) innermost: bool,
    pub(crate) reasons: Vec<Misfit>,
    pub(crate) info: Detail,
}

/// A filesystem's stripe settings against the plan: tuning, not misalignment.
#[derive(Debug, Clone, Serialize)]
pub(crate) struct Tuning {
    pub(crate) kind: Kind,
    pub(crate) ok: bool,
    /// ext4: (stride, stripe-width) in blocks; XFS: (su in bytes, sw).
    pub(crate) have: (u64, u64),
    pub(crate) want: (u64, u64),
    /// ext4 limits the present values break.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub(crate) limits: Vec<Ext4Limit>,
    #[serde(rename = "tune", skip_serializing_if = "Option::is_none")]
    pub(crate) fix: Option<TuneFix>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) ext4: Option<Ext4Info>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) xfs: Option<XfsInfo>,
}

/// The node a tuning command acts on.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub(crate) enum TuneDevice {
    /// A node here (`/dev/sdb1`, `/dev/VG/LV`, `/dev/md0`).
    Node(String),
    /// The md array assembled from this member: never the member itself (a RAID1 leg's
    /// filesystem is the array's).
    MdArrayOf(String),
}

/// The command that tunes a filesystem's stripe settings (or why none can).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "tool", rename_all = "snake_case")]
pub(crate) enum TuneFix {
    Tune2fs {
        device: TuneDevice,
        stride: u64,
        stripe_width: u64,
    },
    /// No mount option the kernel keeps: recreate with `mkfs.xfs -d su=,sw=` (or leave it:
    /// stripe settings are a performance hint, not misalignment).
    XfsRecreate { su: u64, sw: u64, why: XfsRefusal },
}

/// Why the kernel refuses new XFS stripe settings at mount.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub(crate) enum XfsRefusal {
    /// su is not a multiple of the XFS block.
    BlockSize,
    /// Made without stripe alignment: "superblock does not support data alignment".
    NoDalign,
    /// The allocation group size is not a multiple of the new sunit.
    AgSize,
    /// Otherwise accepted, the kernel keeps new values only when the root inode would not
    /// move ("Cannot change stripe alignment; would require moving root inode"), which it
    /// does for an existing filesystem: `mount -o sunit=,swidth=` is never offered.
    RootInode,
}

#[derive(Debug, Clone, Serialize)]
pub(crate) struct PartReport {
    pub(crate) number: u32,
    pub(crate) device: String,
    #[serde(rename = "type")]
    pub(crate) type_name: Option<String>,
    pub(crate) role: Role,
    pub(crate) logical: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) via: Option<Via>,
    pub(crate) start_sector: u64,
    pub(crate) sector_bytes: u64,
    pub(crate) start_bytes: u64,
    pub(crate) size_bytes: u64,
    /// The data is aligned (the innermost layers', or the partition's start when it holds
    /// nothing recognised).
    pub(crate) aligned: bool,
    pub(crate) reasons: Vec<Misfit>,
    pub(crate) checks: Vec<Check>,
    pub(crate) layers: Vec<LayerReport>,
    pub(crate) contents: Vec<Tuning>,
    pub(crate) notes: Vec<PartNote>,
    /// Thin pools whose data lies on this partition: tuning, like the filesystem's stripe.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub(crate) thin_pools: Vec<ThinReport>,
    /// What moving the partition would do, or why it is not offered (misaligned data only).
    #[serde(rename = "move", skip_serializing_if = "Option::is_none")]
    pub(crate) plan: Option<MovePlan>,
}

/// A note on one partition.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(tag = "note", rename_all = "snake_case")]
pub(crate) enum PartNote {
    /// An MBR extended partition: a container of logical partitions, not judged as data.
    Extended,
    /// Its start is off the grain but the container on it realigns the data: do not move it.
    RealignedInside { kind: Kind, offset_bytes: u64 },
}

/// A thin pool on a partition's PV, against the erase block.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub(crate) struct ThinReport {
    pub(crate) vg: String,
    pub(crate) pool: String,
    /// The pool's hidden data LV as device-mapper names it (`/dev/mapper/VG-pool_tdata`).
    pub(crate) data_device: String,
    pub(crate) chunk_bytes: u64,
    /// The chunk is a multiple of the erase block: thin LVs' chunks stay on erase blocks.
    pub(crate) chunk_ok: bool,
    /// The smallest chunk size that is: a multiple of the erase block and of lvm2's 64 KiB.
    pub(crate) want_chunk_bytes: u64,
    pub(crate) discards: String,
    /// The thin LVs (`/dev/VG/thin1`).
    pub(crate) thin_lvs: Vec<String>,
}

fn thin_reports(p: &PartIn, plan: &Plan) -> Vec<ThinReport> {
    let dm = |s: &str| s.replace('-', "--");
    p.layers
        .iter()
        .filter_map(|l| match &l.detail {
            Detail::Pv {
                vg: Some(vg),
                thin_pools,
                ..
            } => Some((vg, thin_pools)),
            _ => None,
        })
        .flat_map(|(vg, pools)| {
            pools.iter().map(move |t| ThinReport {
                vg: vg.clone(),
                pool: t.name.clone(),
                data_device: format!("/dev/mapper/{}-{}", dm(vg), dm(&t.data_lv)),
                chunk_bytes: t.chunk_bytes,
                chunk_ok: t.chunk_bytes > 0 && t.chunk_bytes % plan.erase_block == 0,
                want_chunk_bytes: lcm(plan.erase_block, 64 << 10),
                discards: t.discards.clone(),
                thin_lvs: t
                    .thin_lvs
                    .iter()
                    .map(|n| format!("/dev/{vg}/{n}"))
                    .collect(),
            })
        })
        .collect()
}

/// Judge every partition.
fn judge_parts(parts: &[PartIn], plan: &Plan, units: &[(Unit, u64)]) -> Vec<PartReport> {
    let member_units = [(Unit::EraseBlock, plan.erase_block)];
    parts
        .iter()
        .map(|p| match p.via {
            Some(_) => judge_part(p, plan, &member_units),
            None => judge_part(p, plan, units),
        })
        .collect()
}

/// What starts off a unit.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "subject", rename_all = "snake_case")]
pub(crate) enum Subject {
    /// The partition's own start (it holds nothing recognised).
    Start { sector: u64 },
    /// A PV's data (pe_start).
    PvData,
    /// An LV segment.
    LvExtent {
        lv: String,
        lv_extent: u64,
        pv_extent: u64,
    },
    /// A container's data (md, LUKS).
    Data { kind: Kind },
    /// A filesystem or swap.
    Layer { kind: Kind },
}

/// One start off one unit.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub(crate) struct Misfit {
    pub(crate) unit: Unit,
    pub(crate) unit_bytes: u64,
    pub(crate) subject: Subject,
    /// The start, bytes on the disk, and its remainder.
    pub(crate) at: u64,
    pub(crate) rem: u64,
}

fn misfits(subject: &Subject, at: u64, units: &[(Unit, u64)]) -> Vec<Misfit> {
    units
        .iter()
        .filter(|(_, u)| *u > 0 && at % u != 0)
        .map(|(unit, u)| Misfit {
            unit: *unit,
            unit_bytes: *u,
            subject: subject.clone(),
            at,
            rem: at % u,
        })
        .collect()
}

fn judge_part(p: &PartIn, plan: &Plan, units: &[(Unit, u64)]) -> PartReport {
    let checks = check_start(p.start_sector, p.start_bytes, units);
    let start_ok = checks.iter().all(|c| c.aligned);
    let mut notes = Vec::new();
    let layers: Vec<LayerReport> = p.layers.iter().map(|l| judge_layer(p, l, units)).collect();
    let (aligned, reasons) = if p.role == Role::Extended {
        notes.push(PartNote::Extended);
        (true, Vec::new())
    } else if layers.is_empty() {
        let r = misfits(
            &Subject::Start {
                sector: p.start_sector,
            },
            p.start_bytes,
            units,
        );
        (start_ok, r)
    } else {
        let inner: Vec<&LayerReport> = layers.iter().filter(|l| l.innermost).collect();
        let r: Vec<Misfit> = inner
            .iter()
            .flat_map(|l| l.reasons.iter().cloned())
            .collect();
        (r.is_empty(), r)
    };
    if aligned && !start_ok && !layers.is_empty() && p.role == Role::Data {
        let c = &layers[0];
        notes.push(PartNote::RealignedInside {
            kind: c.kind,
            offset_bytes: c.offset_bytes,
        });
    }
    let contents = p
        .layers
        .iter()
        .filter_map(|l| tuning(l, plan, &tune_device(p, l)))
        .collect();
    PartReport {
        number: p.number,
        device: p.device.clone(),
        type_name: p.type_name.clone(),
        role: p.role,
        logical: p.logical,
        via: p.via.clone(),
        start_sector: p.start_sector,
        sector_bytes: p.sector_bytes,
        start_bytes: p.start_bytes,
        size_bytes: p.size_bytes,
        aligned,
        reasons,
        checks,
        layers,
        contents,
        notes,
        thin_pools: thin_reports(p, plan),
        plan: None,
    }
}

/// The node a filesystem's tuning command names: never an md member (the filesystem is the
/// array's), else as [`layer_device`].
fn tune_device(p: &PartIn, l: &Layer) -> TuneDevice {
    let under_md = p
        .layers
        .iter()
        .take_while(|x| !std::ptr::eq(*x, l))
        .any(|x| x.kind == Kind::Md);
    match (&p.via, under_md) {
        // a member of the md target: the target is the array
        (
            Some(Via {
                holder: Holder::Md,
                top,
            }),
            _,
        ) => TuneDevice::Node(format!("/dev/{top}")),
        (_, true) => TuneDevice::MdArrayOf(p.device.clone()),
        _ => TuneDevice::Node(layer_device(p, l)),
    }
}

/// The device a layer's own fix names: the partition, or the LV (`/dev/VG/LV`) inside it.
fn layer_device(p: &PartIn, l: &Layer) -> String {
    let mut dev = p.device.clone();
    let mut vg = None;
    for x in &p.layers {
        if let Detail::Pv { vg: Some(v), .. } = &x.detail {
            vg = Some(v.clone());
        }
        if let (Detail::Lv(s), Some(v)) = (&x.detail, &vg) {
            if x.depth < l.depth || std::ptr::eq(x, l) {
                dev = if s.hidden {
                    // no /dev/VG/LV node: device-mapper's name, dashes doubled
                    format!(
                        "/dev/mapper/{}-{}",
                        v.replace('-', "--"),
                        s.lv.replace('-', "--")
                    )
                } else {
                    format!("/dev/{v}/{}", s.lv)
                };
            }
        }
        if std::ptr::eq(x, l) {
            break;
        }
    }
    dev
}

fn judge_layer(p: &PartIn, l: &Layer, units: &[(Unit, u64)]) -> LayerReport {
    let what = match (&l.kind, &l.detail) {
        (Kind::Lv, Detail::Lv(s)) => Subject::LvExtent {
            lv: s.lv.clone(),
            lv_extent: s.lv_extent,
            pv_extent: s.pv_extent,
        },
        (Kind::Pv, _) => Subject::PvData,
        (k, _) if k.is_container() => Subject::Data { kind: *k },
        (k, _) => Subject::Layer { kind: *k },
    };
    let reasons = misfits(&what, l.data_start, units);
    LayerReport {
        kind: l.kind,
        device: layer_device(p, l),
        depth: l.depth,
        start_bytes: l.data_start,
        offset_bytes: l.data_start.saturating_sub(p.start_bytes),
        aligned: reasons.is_empty(),
        innermost: l.innermost,
        reasons,
        info: l.detail.clone(),
    }
}

fn tuning(l: &Layer, plan: &Plan, dev: &TuneDevice) -> Option<Tuning> {
    match &l.detail {
        Detail::Ext4(e) => Some(ext4_tuning(e, plan, dev)),
        Detail::Xfs(x) => Some(xfs_tuning(x, plan)),
        _ => None,
    }
}

fn ext4_tuning(e: &Ext4Info, plan: &Plan, dev: &TuneDevice) -> Tuning {
    let want_stride = (plan.su / e.block_size).max(1);
    let want_width = want_stride.saturating_mul(plan.data_disks);
    let ok = e.stride == want_stride && e.stripe_width == want_width;
    Tuning {
        kind: Kind::Ext4,
        ok,
        have: (e.stride, e.stripe_width),
        want: (want_stride, want_width),
        limits: ext4_limits(e.stride, e.stripe_width, e.block_size),
        fix: (!ok).then(|| TuneFix::Tune2fs {
            device: dev.clone(),
            stride: want_stride,
            stripe_width: want_width,
        }),
        ext4: Some(*e),
        xfs: None,
    }
}

fn xfs_tuning(x: &XfsInfo, plan: &Plan) -> Tuning {
    // both are 32-bit fields of the superblock: the product fits in 64 bits
    let su = x.sunit_blocks * x.block_size;
    let sw = x.swidth_blocks.checked_div(x.sunit_blocks).unwrap_or(0);
    let ok = su == plan.su && sw == plan.sw;
    // as the kernel's xfs_validate_new_dalign: a multiple of the block, a superblock made
    // with stripe alignment, and an allocation group size that is a multiple of the new unit
    let refusal = if plan.su % x.block_size != 0 {
        Some(XfsRefusal::BlockSize)
    } else if !x.dalign {
        Some(XfsRefusal::NoDalign)
    } else if x.ag_blocks % (plan.su / x.block_size).max(1) != 0 {
        Some(XfsRefusal::AgSize)
    } else {
        None
    };
    let fix = (!ok).then(|| TuneFix::XfsRecreate {
        su: plan.su,
        sw: plan.sw,
        why: refusal.unwrap_or(XfsRefusal::RootInode),
    });
    Tuning {
        kind: Kind::Xfs,
        ok,
        have: (su, sw),
        want: (plan.su, plan.sw),
        limits: Vec::new(),
        fix,
        ext4: None,
        xfs: Some(*x),
    }
}

/// Everything gathered about a target.
#[derive(Debug, Clone, Default)]
pub(crate) struct Input {
    pub(crate) target: String,
    pub(crate) source: Option<SourceKind>,
    pub(crate) table: Option<TableKind>,
    pub(crate) sector: Option<(u64, SectorEvidence)>,
    pub(crate) topo: Topology,
    pub(crate) discard_max: Option<u64>,
    pub(crate) rotational: Option<bool>,
    /// The md array's geometry (an md device or one of its partitions).
    pub(crate) md_raid: Option<Raid>,
    pub(crate) members: Vec<String>,
    pub(crate) parts: Vec<PartIn>,
    pub(crate) mover: Option<Mover>,
    /// The disk's node for the layout commands (`/dev/sdb`, `/dev/loopX` for an image).
    pub(crate) disk_dev: String,
    /// What gather found besides the layers.
    pub(crate) findings: Vec<findings::Finding>,
    /// The device's optimal_io_size as sysfs reports it (believed or not by the judge).
    pub(crate) optimal_io_raw: Option<u64>,
    /// An MBR whose sector size nothing settled: the same target read in 4096-byte sectors
    /// (this one in 512).
    pub(crate) alt_4096: Option<Box<Input>>,
    /// The TRIM facts: holders' queues, mounts, fstrim.timer.
    pub(crate) trim: trim::TrimFacts,
}

#[derive(Debug, Clone, Serialize)]
pub(crate) struct RaidReport {
    pub(crate) level: String,
    pub(crate) devices: u64,
    pub(crate) data_disks: u64,
    pub(crate) chunk_bytes: u64,
    pub(crate) members: Vec<String>,
    pub(crate) source: RaidSource,
}

/// The whole report (JSON as is; text through `output::ssd_align`).
#[derive(Debug, Clone, Serialize)]
pub(crate) struct Report {
    pub(crate) target: Option<String>,
    pub(crate) source: Option<SourceKind>,
    pub(crate) table: Option<TableKind>,
    pub(crate) sector_evidence: Option<SectorEvidence>,
    pub(crate) erase_block_bytes: u64,
    pub(crate) fs_block_bytes: u64,
    pub(crate) grain_bytes: u64,
    pub(crate) grain: String,
    pub(crate) raid: Option<RaidReport>,
    pub(crate) stride: u64,
    pub(crate) stripe_width: u64,
    pub(crate) logical_sector: Option<u64>,
    pub(crate) physical_sector: Option<u64>,
    pub(crate) minimum_io: Option<u64>,
    pub(crate) optimal_io: Option<u64>,
    pub(crate) alignment_offset: Option<i64>,
    pub(crate) discard_granularity: Option<u64>,
    pub(crate) discard_max_bytes: Option<u64>,
    pub(crate) rotational: Option<bool>,
    pub(crate) first_start_512: u64,
    pub(crate) first_start_4096: u64,
    pub(crate) partitions: Vec<PartReport>,
    /// The plan's warnings (ext4 limits on stride/stripe-width).
    pub(crate) plan_warnings: Vec<PlanWarning>,
    /// Typed findings; render words them into `notes` and `warnings`.
    pub(crate) findings: Vec<findings::Finding>,
    /// The MBR's sector size was not settled: the verdict under each reading (given only
    /// when they agree; moves are then not offered).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) both_readings: Option<BothReadings>,
    /// Set when the layout commands would destroy what is on the target.
    pub(crate) commands_destroy: Option<Destroys>,
    /// The aligned layout (render writes its commands): for the calculator, with `--layout`,
    /// or on an empty disk.
    pub(crate) layout: Option<Layout>,
    /// TRIM through the stack of a checked target.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) trim: Option<trim::TrimReport>,
    pub(crate) verdict: Verdict,
}

impl Report {
    /// Misaligned data anywhere (exit 1).
    pub(crate) fn misaligned(&self) -> bool {
        self.verdict == Verdict::Misaligned
    }
}

/// The RAID geometry to plan with: the options win over an md device's own.
pub(crate) fn raid_of(opt: Option<Raid>, input: Option<&Input>) -> (Option<Raid>, RaidSource) {
    match (opt, input.and_then(|i| i.md_raid)) {
        (Some(r), _) => (Some(r), RaidSource::Options),
        (None, Some(r)) => (Some(r), RaidSource::Md),
        (None, None) => (None, RaidSource::Options),
    }
}

/// How the report is wanted.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct Want {
    /// Show the layout commands even on a disk that holds something (`--layout`).
    pub(crate) layout: bool,
}

/// Two readings of one MBR disagree: which sector size is the operator's to say.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct ReadingsDiffer(pub(crate) BothReadings);

/// Judge a target (or, without one, only calculate) against `plan`. An MBR whose sector size
/// nothing settled is judged under both readings: the verdict is given when they agree (with
/// no move: the moves differ), else the caller must ask for `--sector-size`.
pub(crate) fn judge(
    input: Option<Input>,
    plan: &Plan,
    raid: Option<(Raid, RaidSource)>,
    want: Want,
) -> Result<Report, ReadingsDiffer> {
    let Some(mut i) = input else {
        return Ok(judge_one(Input::default(), plan, raid, want));
    };
    let Some(alt) = i.alt_4096.take() else {
        return Ok(judge_one(i, plan, raid, want));
    };
    let block = |m: &mut Option<Mover>| {
        if let Some(m) = m {
            m.blocked = Some(moves::Blocker::SectorSizeUnsettled);
        }
    };
    let mut alt = *alt;
    block(&mut i.mover);
    block(&mut alt.mover);
    let a = judge_one(i, plan, raid, want);
    let b = judge_one(alt, plan, raid, want);
    let both = BothReadings {
        aligned_512: a.verdict != Verdict::Misaligned,
        aligned_4096: b.verdict != Verdict::Misaligned,
    };
    if a.verdict != b.verdict {
        return Err(ReadingsDiffer(both));
    }
    let mut a = a;
    a.both_readings = Some(both);
    Ok(a)
}

fn judge_one(mut i: Input, plan: &Plan, raid: Option<(Raid, RaidSource)>, want: Want) -> Report {
    let checked = i.source.is_some();
    let mut found = std::mem::take(&mut i.findings);
    if i.topo.alignment_offset == Some(-1) {
        found.push(findings::Finding::DeviceMisaligned);
    }
    if let Some(v) = i.optimal_io_raw {
        match align::check_optimal_io(v, i.topo.physical) {
            Ok(v) => i.topo.optimal_io = Some(v),
            Err(why) => found.push(findings::Finding::OptimalIoIgnored { value: v, why }),
        }
    }
    let units = crate::ssd_align::judge::align::units(plan, &i.topo);
    let mut parts = judge_parts(&i.parts, plan, &units);
    if let Some(m) = &i.mover {
        let step = units.iter().map(|u| u.1).filter(|u| *u > 0).fold(1, lcm);
        moves::plan_moves(&mut parts, step, m);
    }
    let misaligned =
        i.topo.alignment_offset.is_some_and(|o| o != 0) || parts.iter().any(|p| !p.aligned);
    let verdict = match (checked, misaligned) {
        (false, _) => Verdict::Calculated,
        (true, _) if parts.is_empty() => Verdict::Empty,
        (true, false) => Verdict::Aligned,
        (true, true) => Verdict::Misaligned,
    };
    let disk = if i.disk_dev.is_empty() {
        "/dev/sdX".to_string()
    } else {
        i.disk_dev.clone()
    };
    let sector_for_cmds = if i.topo.logical == 4096 { 4096 } else { 512 };
    let own: Vec<&PartReport> = parts.iter().filter(|p| p.via.is_none()).collect();
    let destroys = match own.iter().find(|p| p.number == 0) {
        Some(p) => p.layers.first().map(|l| Destroys::Signature {
            disk: disk.clone(),
            kind: l.kind,
        }),
        None if !own.is_empty() => Some(Destroys::Partitions { disk: disk.clone() }),
        None => None,
    };
    // an md or dm target's members are another disk's business: the layout is the target's
    let show_layout = !checked || want.layout || (destroys.is_none() && parts.is_empty());
    Report {
        target: checked.then(|| i.target.clone()),
        source: i.source,
        table: i.table,
        sector_evidence: i.sector.map(|s| s.1),
        erase_block_bytes: plan.erase_block,
        fs_block_bytes: plan.fs_block,
        grain_bytes: plan.grain,
        grain: format_size(plan.grain),
        raid: raid.map(|(r, source)| RaidReport {
            level: r.level.name(),
            devices: r.devices,
            data_disks: plan.data_disks,
            chunk_bytes: r.chunk,
            members: i.members.clone(),
            source,
        }),
        stride: plan.stride,
        stripe_width: plan.stripe_width,
        logical_sector: (i.topo.logical > 0).then_some(i.topo.logical),
        physical_sector: (i.topo.physical > 0).then_some(i.topo.physical),
        minimum_io: i.topo.min_io,
        optimal_io: i.topo.optimal_io,
        alignment_offset: i.topo.alignment_offset,
        discard_granularity: i.topo.discard_granularity,
        discard_max_bytes: i.discard_max,
        rotational: i.rotational,
        first_start_512: plan.first_start(512),
        first_start_4096: plan.first_start(4096),
        partitions: parts,
        plan_warnings: plan.warnings.clone(),
        findings: found,
        both_readings: None,
        commands_destroy: if show_layout { destroys } else { None },
        layout: show_layout.then(|| plan.layout(&disk, &part_dev(&disk, 1), sector_for_cmds)),
        trim: checked.then(|| trim::judge(&i.trim, &i.parts)),
        verdict,
    }
}

/// The device node of partition `n` of `disk` (`/dev/sdb` -> `/dev/sdb1`, `/dev/nvme0n1`,
/// `/dev/md0`, `/dev/loop0` -> `...p1`); partition 0 (what sits on the whole disk) is the
/// disk itself, never `/dev/loop0p0`.
pub(crate) fn part_dev(disk: &str, n: u32) -> String {
    if n == 0 {
        disk.to_string()
    } else if disk.starts_with("/dev/disk/by-") {
        // udev's links to partitions
        format!("{disk}-part{n}")
    } else if disk.ends_with(|c: char| c.is_ascii_digit()) || disk.ends_with("loopX") {
        format!("{disk}p{n}")
    } else {
        format!("{disk}{n}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ssd_align::disk::luks::Luks;
    use crate::ssd_align::judge::align::Request;

    fn plan(eb: u64) -> Plan {
        Request {
            erase_block: eb,
            fs_block: 4096,
            raid: None,
        }
        .plan()
        .unwrap()
    }

    fn part(start: u64, layers: Vec<Layer>) -> PartIn {
        PartIn {
            number: 1,
            device: "/dev/sdb1".into(),
            start_sector: start / 512,
            sector_bytes: 512,
            start_bytes: start,
            size_bytes: 64 << 20,
            role: Role::Data,
            type_name: None,
            logical: false,
            layers,
            via: None,
        }
    }

    fn luks(at: u64, off: u64) -> Layer {
        Layer {
            kind: Kind::Luks2,
            depth: 0,
            at,
            data_start: at + off,
            detail: Detail::Luks(Luks {
                version: 2,
                data_offset: off,
                sector_size: 512,
                allow_discards: Some(false),
            }),
            innermost: true,
        }
    }

    fn mover(dev: &str, table: TableKind, image: bool) -> Mover {
        Mover {
            dev: dev.into(),
            len: 1 << 30,
            sector: 512,
            table: Some(table),
            usable_end: None,
            image,
            blocked: None,
            held: Vec::new(),
            mounted: Vec::new(),
            loop_mounted: Vec::new(),
        }
    }

    fn moved(r: PartReport, u: &[(Unit, u64)], m: &Mover) -> MovePlan {
        let mut rs = vec![r];
        let step = u.iter().map(|u| u.1).fold(1, lcm);
        moves::plan_moves(&mut rs, step, m);
        rs.remove(0).plan.unwrap()
    }

    #[test]
    fn the_verdict_follows_the_data() {
        let p = plan(512 << 10);
        let u = [(Unit::EraseBlock, p.grain)];
        let m = mover("/dev/sdb", TableKind::Gpt, false);
        // aligned partition, LUKS2 data 4 KiB off: misaligned; moving the partition by
        // 512 KiB - 4 KiB puts the data on the grain (the LUKS offset is the culprit)
        let r = judge_part(
            &part(1 << 20, vec![luks(1 << 20, (16 << 20) + 4096)]),
            &p,
            &u,
        );
        assert!(!r.aligned);
        assert_eq!(
            r.reasons[0].subject,
            Subject::Data { kind: Kind::Luks2 },
            "{:?}",
            r.reasons
        );
        let MovePlan::Move(mv) = moved(r, &u, &m) else {
            panic!("a move aligns it")
        };
        assert_eq!(mv.to_bytes, (1 << 20) + (512 << 10) - 4096);
        assert_eq!((mv.to_bytes + (16 << 20) + 4096) % (512 << 10), 0);
        assert_eq!(
            mv.culprit,
            moves::Culprit::Partition,
            "LUKS is innermost: its own offset is data, the partition moves"
        );
        // a partition at 63 sectors whose LUKS offset compensates: aligned, with a note
        let start = 63 * 512;
        let r = judge_part(&part(start, vec![luks(start, (1 << 20) - start)]), &p, &u);
        assert!(r.aligned, "{:?}", r.reasons);
        assert!(
            matches!(r.notes[0], PartNote::RealignedInside { .. }),
            "{:?}",
            r.notes
        );
        // a misaligned partition with aligned-relative LUKS: the move says what moves
        let r = judge_part(&part(start, vec![luks(start, 16 << 20)]), &p, &u);
        let MovePlan::Move(mv) = moved(r, &u, &m) else {
            panic!("a move aligns it")
        };
        let fix = crate::ssd_align::render::move_line(&mv);
        assert!(
            fix.starts_with("echo '1024,' | sfdisk --move-data /dev/sdb -N 1"),
            "{fix}"
        );
        assert!(
            fix.contains("p1 holds LUKS2: moving it moves the header with it"),
            "{fix}"
        );
        assert!(fix.contains("unmount /dev/sdb1 and back it up"), "{fix}");
        // the same with p1 held by device-mapper: blocked, naming the holder
        let mut held = m.clone();
        held.held = vec![(1, vec!["dm-0".into()])];
        let r = judge_part(&part(start, vec![luks(start, 16 << 20)]), &p, &u);
        assert_eq!(
            moved(r, &u, &held),
            MovePlan::Blocked(moves::Blocker::Held {
                device: "/dev/sdb1".into(),
                holders: vec!["dm-0".into()]
            })
        );
        // held partition 2 does not block p1
        held.held = vec![(2, vec!["dm-0".into()])];
        let r = judge_part(&part(start, vec![luks(start, 16 << 20)]), &p, &u);
        assert!(matches!(moved(r, &u, &held), MovePlan::Move(_)));
        // the same with a stale kernel table: blocked
        let mut stale = m.clone();
        stale.blocked = Some(moves::Blocker::KernelTableStale);
        let r = judge_part(&part(start, vec![luks(start, 16 << 20)]), &p, &u);
        assert_eq!(
            moved(r, &u, &stale),
            MovePlan::Blocked(moves::Blocker::KernelTableStale)
        );
    }

    #[test]
    fn an_extended_partition_is_a_container_and_limits_a_move() {
        let p = plan(512 << 10);
        let u = [(Unit::EraseBlock, p.grain)];
        let mut e = part(63 * 512, Vec::new());
        e.role = Role::Extended;
        let r = judge_part(&e, &p, &u);
        assert!(r.aligned);
        let mut rs = vec![r];
        moves::plan_moves(&mut rs, p.grain, &mover("x.img", TableKind::Dos, true));
        assert_eq!(rs[0].plan, None);
        // p1 at 63 sectors ending just before the extended partition's boot record: a move
        // would overlap it (sfdisk refuses), so none is printed
        let mut p1 = part(63 * 512, Vec::new());
        p1.size_bytes = (2048 - 63) * 512;
        let mut ext = part(2048 * 512, Vec::new());
        ext.number = 2;
        ext.role = Role::Extended;
        let mut rs = vec![judge_part(&p1, &p, &u), judge_part(&ext, &p, &u)];
        moves::plan_moves(&mut rs, p.grain, &mover("x.img", TableKind::Dos, true));
        assert!(
            matches!(
                rs[0].plan,
                Some(MovePlan::Blocked(moves::Blocker::DoesNotFit {
                    limit_bytes: 1048576,
                    empty: true,
                    ..
                }))
            ),
            "{:?}",
            rs[0].plan
        );
    }

    #[test]
    fn by_id_links_name_partitions_as_udev_does() {
        assert_eq!(
            part_dev("/dev/disk/by-id/ata-X", 1),
            "/dev/disk/by-id/ata-X-part1"
        );
        assert_eq!(part_dev("/dev/nvme0n1", 2), "/dev/nvme0n1p2");
        assert_eq!(part_dev("/dev/sdb", 2), "/dev/sdb2");
    }
}
