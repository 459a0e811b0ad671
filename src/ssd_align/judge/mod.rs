//! ssd-align's judgement: from what was gathered (topology, partitions, the layers on each)
//! and the plan to a typed report. The verdict follows the data: a partition's innermost
//! layers (where data lands) decide, a container realigned inside is aligned where it
//! matters, an extended partition is never judged as data, and filesystem stripe settings
//! are tuning, not misalignment. Pure.

pub(crate) mod align;

use serde::Serialize;

use crate::common::units::format_size;
use crate::ssd_align::disk::fs::{Ext4Info, XfsInfo};
use crate::ssd_align::disk::stack::{Detail, Kind, Layer};
use crate::ssd_align::disk::{Role, TableKind};
use crate::ssd_align::judge::align::{
    check_start, ext4_warnings, lcm, Check, Plan, Raid, Topology, Unit, TRIM_ADVICE,
};

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
    /// For a member of the md or device-mapper target (`md member of md0`): judged against
    /// the erase block alone (the stripe is the array's business), never moved.
    pub(crate) via: Option<String>,
}

/// The device or image a move command acts on.
#[derive(Debug, Clone)]
pub(crate) struct Mover {
    pub(crate) dev: String,
    pub(crate) len: u64,
    pub(crate) sector: u64,
    pub(crate) table: Option<TableKind>,
    /// An image file: sfdisk must be told its sector size (it assumes 512 for a file).
    pub(crate) image: bool,
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
    pub(crate) reasons: Vec<String>,
    pub(crate) info: Detail,
}

/// A filesystem's stripe settings against the plan: tuning, not misalignment.
#[derive(Debug, Clone, Serialize)]
pub(crate) struct Tuning {
    pub(crate) kind: Kind,
    pub(crate) ok: bool,
    pub(crate) detail: String,
    pub(crate) fix: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) ext4: Option<Ext4Info>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) xfs: Option<XfsInfo>,
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
    pub(crate) via: Option<String>,
    pub(crate) start_sector: u64,
    pub(crate) sector_bytes: u64,
    pub(crate) start_bytes: u64,
    pub(crate) size_bytes: u64,
    /// The data is aligned (the innermost layers', or the partition's start when it holds
    /// nothing recognised).
    pub(crate) aligned: bool,
    pub(crate) reasons: Vec<String>,
    pub(crate) checks: Vec<Check>,
    pub(crate) layers: Vec<LayerReport>,
    pub(crate) contents: Vec<Tuning>,
    pub(crate) notes: Vec<String>,
    /// The `sfdisk --move-data` command that aligns the data, when it provably does and fits.
    pub(crate) fix: Option<String>,
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

fn rem_reasons(what: &str, at: u64, units: &[(Unit, u64)]) -> Vec<String> {
    units
        .iter()
        .filter(|(_, u)| *u > 0 && at % u != 0)
        .map(|(name, u)| format!("{name}: {what} starts at {at} B, {at} mod {u} = {}", at % u))
        .collect()
}

fn judge_part(p: &PartIn, plan: &Plan, units: &[(Unit, u64)]) -> PartReport {
    let label = match p.via {
        Some(_) => p.device.rsplit('/').next().unwrap_or(&p.device).to_string(),
        None => format!("p{}", p.number),
    };
    let checks = check_start(&label, p.start_sector, p.start_bytes, units);
    let start_ok = checks.iter().all(|c| c.aligned);
    let mut notes = Vec::new();
    let layers: Vec<LayerReport> = p.layers.iter().map(|l| judge_layer(p, l, units)).collect();
    let (aligned, reasons) = if p.role == Role::Extended {
        notes.push(format!(
            "{label} is an extended partition: a container of logical partitions, not judged as data"
        ));
        (true, Vec::new())
    } else if layers.is_empty() {
        let r = checks
            .iter()
            .filter(|c| !c.aligned)
            .map(|c| format!("{}: {}", c.what, c.detail))
            .collect();
        (start_ok, r)
    } else {
        let inner: Vec<&LayerReport> = layers.iter().filter(|l| l.innermost).collect();
        let r: Vec<String> = inner
            .iter()
            .flat_map(|l| l.reasons.iter().cloned())
            .collect();
        (r.is_empty(), r)
    };
    if aligned && !start_ok && !layers.is_empty() && p.role == Role::Data {
        let c = &layers[0];
        notes.push(format!(
            "{label} starts off the grain ({} B) but its data is realigned inside the {} (data at +{} B): aligned where it matters; do not move it",
            p.start_bytes,
            c.kind.name(),
            c.offset_bytes
        ));
    }
    let contents = p
        .layers
        .iter()
        .filter_map(|l| tuning(l, plan, &layer_device(p, l)))
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
        fix: None,
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
                dev = format!("/dev/{v}/{}", s.lv);
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
        (Kind::Lv, Detail::Lv(s)) => format!(
            "LV {} extent {} (PV extent {})",
            s.lv, s.lv_extent, s.pv_extent
        ),
        (Kind::Pv, _) => "PV data (pe_start)".to_string(),
        (k, _) if k.is_container() => format!("{} data", k.name()),
        (k, _) => k.name().to_string(),
    };
    let reasons = rem_reasons(&what, l.data_start, units);
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

fn tuning(l: &Layer, plan: &Plan, dev: &str) -> Option<Tuning> {
    match &l.detail {
        Detail::Ext4(e) => Some(ext4_tuning(e, plan, dev)),
        Detail::Xfs(x) => Some(xfs_tuning(x, plan, dev)),
        _ => None,
    }
}

fn ext4_tuning(e: &Ext4Info, plan: &Plan, dev: &str) -> Tuning {
    let want_stride = (plan.su / e.block_size).max(1);
    let want_width = want_stride.saturating_mul(plan.data_disks);
    let ok = e.stride == want_stride && e.stripe_width == want_width;
    let mut detail = format!(
        "ext4 ({} B blocks): stride={} stripe-width={}, want stride={want_stride} stripe-width={want_width}",
        e.block_size, e.stride, e.stripe_width
    );
    for w in ext4_warnings(e.stride, e.stripe_width, e.block_size) {
        detail.push_str("; ");
        detail.push_str(&w);
    }
    Tuning {
        kind: Kind::Ext4,
        ok,
        detail,
        fix: (!ok)
            .then(|| format!("tune2fs -E stride={want_stride},stripe_width={want_width} {dev}")),
        ext4: Some(*e),
        xfs: None,
    }
}

fn xfs_tuning(x: &XfsInfo, plan: &Plan, dev: &str) -> Tuning {
    // both are 32-bit fields of the superblock: the product fits in 64 bits
    let su = x.sunit_blocks * x.block_size;
    let sw = x.swidth_blocks.checked_div(x.sunit_blocks).unwrap_or(0);
    let ok = su == plan.su && sw == plan.sw;
    // the kernel takes sunit/swidth in 512-byte units; sunit must be a multiple of the
    // filesystem block and swidth a multiple of sunit
    let sunit = plan.su / 512;
    let fix = if ok {
        None
    } else if plan.su % x.block_size != 0 {
        Some(format!(
            "# no mount option fits: su {} B is not a multiple of the {} B XFS block; recreate with mkfs.xfs -d su=..,sw=..",
            plan.su, x.block_size
        ))
    } else {
        Some(format!(
            "mount -o sunit={sunit},swidth={} {dev} /mnt  # in 512-byte units; XFS keeps the new values",
            sunit.saturating_mul(plan.sw)
        ))
    };
    Tuning {
        kind: Kind::Xfs,
        ok,
        detail: format!(
            "XFS: su={su} B sw={sw}, want su={} B sw={}",
            plan.su, plan.sw
        ),
        fix,
        ext4: None,
        xfs: Some(*x),
    }
}

/// Add the move command (or a note saying why there is none) to each partition whose data
/// is misaligned: only when moving the partition provably aligns every innermost layer's
/// data and the partition fits before the next one.
fn move_fixes(parts: &mut [PartReport], units: &[(Unit, u64)], m: &Mover, notes: &mut Vec<String>) {
    // GPT keeps a backup partition array (16 KiB) and header (a sector) at the end
    let usable_end = match m.table {
        Some(TableKind::Gpt) => m.len.saturating_sub(16384 + m.sector),
        _ => m.len,
    };
    if m.dev.chars().any(char::is_control) {
        notes.push("no move command is printed: the device or image name holds control characters; rename it first".into());
        return;
    }
    let starts: Vec<u64> = parts
        .iter()
        .filter(|p| p.role == Role::Data)
        .map(|p| p.start_bytes)
        .collect();
    let step = units.iter().map(|u| u.1).filter(|u| *u > 0).fold(1, lcm);
    for p in parts.iter_mut() {
        if p.aligned || p.number == 0 || p.role != Role::Data || p.via.is_some() {
            continue;
        }
        match move_plan(p, step, m, &starts, usable_end) {
            Ok(fix) => p.fix = Some(fix),
            Err(why) => notes.push(why),
        }
    }
}

fn move_plan(
    p: &PartReport,
    step: u64,
    m: &Mover,
    starts: &[u64],
    usable_end: u64,
) -> Result<String, String> {
    let n = p.number;
    if p.layers.iter().any(|l| l.kind == Kind::Md) {
        return Err(format!("p{n} is an md member: realign it by re-adding it to the array with an aligned data offset, not by moving the partition"));
    }
    if p.logical {
        return Err(format!("p{n} is an MBR logical partition: move it with parted or gparted, not sfdisk --move-data"));
    }
    let inner: Vec<&LayerReport> = p.layers.iter().filter(|l| l.innermost).collect();
    if let Some(l) = inner
        .iter()
        .find(|l| l.kind == Kind::Lv && l.offset_bytes % step != 0)
    {
        return Err(lv_note(p, l, step));
    }
    if let Some(l) = inner.iter().find(|l| l.offset_bytes % step != 0) {
        return Err(format!(
            "p{n}: the {} data sits {} B into the partition, not a multiple of {step} B: moving the partition cannot align it; recreate that layer with an aligned offset (after a backup)",
            l.kind.name(),
            l.offset_bytes
        ));
    }
    let to = p
        .start_bytes
        .div_ceil(step)
        .checked_mul(step)
        .ok_or_else(|| format!("p{n}: the aligned start overflows"))?;
    let limit = starts
        .iter()
        .copied()
        .filter(|s| *s > p.start_bytes)
        .min()
        .unwrap_or(usable_end);
    let end = to
        .checked_add(p.size_bytes)
        .ok_or_else(|| format!("p{n}: the moved end overflows"))?;
    if end > limit || to % m.sector != 0 {
        return Err(format!(
            "p{n} cannot move to the next aligned start with its data: it would end at byte {end}, past byte {limit} (the next partition or the end of the disk); shrink its filesystem and the partition first"
        ));
    }
    let holds = match p.layers.first() {
        Some(l) if l.kind.is_container() => format!(
            "; p{n} holds {}: moving it moves the header with it",
            l.kind.name()
        ),
        Some(l) => format!("; p{n} holds {}", l.kind.name()),
        None => String::new(),
    };
    // sfdisk reads an image file in 512-byte sectors: a 4Kn image goes through a loop device
    let dev = shell_quote(&m.dev);
    let cmd = if m.image && m.sector != 512 {
        format!(
            "L=$(losetup -f --show --sector-size {} {dev}) && echo '{},' | sfdisk --move-data \"$L\" -N {n}; losetup -d \"$L\"",
            m.sector,
            to / m.sector
        )
    } else {
        format!(
            "echo '{},' | sfdisk --move-data {dev} -N {n}",
            to / m.sector
        )
    };
    Ok(format!(
        "{cmd}  # unmount {} and back it up first: moves p{n} and its data from byte {} to {to} ({}){holds}",
        p.device,
        p.start_bytes,
        format_size(to)
    ))
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
    pub(crate) notes: Vec<String>,
    pub(crate) warnings: Vec<String>,
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
    pub(crate) warnings: Vec<String>,
    pub(crate) notes: Vec<String>,
    /// Set when the layout commands would replace an existing partition table.
    pub(crate) commands_destroy: Option<String>,
    pub(crate) commands: Vec<String>,
    pub(crate) trim: &'static str,
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

/// Judge a target (or, without one, only calculate) against `plan`.
pub(crate) fn judge(input: Option<Input>, plan: &Plan, raid: Option<(Raid, RaidSource)>) -> Report {
    let mut i = input.unwrap_or_default();
    let checked = i.source.is_some();
    let mut warnings = std::mem::take(&mut i.warnings);
    warnings.extend(plan.warnings.iter().cloned());
    if i.topo.alignment_offset == Some(-1) {
        warnings.push("the device reports alignment_offset -1: its own sectors are misaligned to its physical blocks".into());
    }
    let units = crate::ssd_align::judge::align::units(plan, &i.topo);
    let mut parts = judge_parts(&i.parts, plan, &units);
    let mut notes = std::mem::take(&mut i.notes);
    for p in &parts {
        notes.extend(p.notes.iter().cloned());
    }
    if let Some(m) = &i.mover {
        move_fixes(&mut parts, &units, m, &mut notes);
    }
    let misaligned =
        i.topo.alignment_offset.is_some_and(|o| o != 0) || parts.iter().any(|p| !p.aligned);
    let verdict = match (checked, misaligned) {
        (false, _) => Verdict::Calculated,
        (true, false) => Verdict::Aligned,
        (true, true) => Verdict::Misaligned,
    };
    let disk = if i.disk_dev.is_empty() {
        "/dev/sdX".to_string()
    } else {
        i.disk_dev.clone()
    };
    let sector_for_cmds = if i.topo.logical == 4096 { 4096 } else { 512 };
    let has_parts = parts.iter().any(|p| p.number > 0 && p.via.is_none());
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
        warnings,
        notes,
        commands_destroy: has_parts.then(|| format!(
            "{disk} already has partitions: the mklabel/label commands below create a NEW, EMPTY partition table and destroy access to everything on it; use them only on an empty disk or after a full backup"
        )),
        commands: plan.commands(&disk, &part_dev(&disk, 1), sector_for_cmds),
        trim: TRIM_ADVICE,
        verdict,
    }
}

/// The device node of partition `n` of `disk` (`/dev/sdb` -> `/dev/sdb1`, `/dev/nvme0n1`,
/// `/dev/md0`, `/dev/loop0` -> `...p1`); partition 0 (what sits on the whole disk) is the
/// disk itself, never `/dev/loop0p0`.
pub(crate) fn part_dev(disk: &str, n: u32) -> String {
    if n == 0 {
        disk.to_string()
    } else if disk.ends_with(|c: char| c.is_ascii_digit()) || disk.ends_with("loopX") {
        format!("{disk}p{n}")
    } else {
        format!("{disk}{n}")
    }
}

/// Why an LV segment is off the grain and what realigns it.
fn lv_note(p: &PartReport, l: &LayerReport, step: u64) -> String {
    let ext = p.layers.iter().find_map(|x| match x.info {
        Detail::Pv {
            extent_bytes: Some(e),
            ..
        } => Some(e),
        _ => None,
    });
    let pv_ok = p
        .layers
        .iter()
        .filter(|x| x.kind == Kind::Pv)
        .all(|x| x.aligned);
    match ext {
        Some(e) if pv_ok && e % step != 0 => format!(
            "p{}: {} starts off the grain because the VG's extent size ({}) is not a multiple of it ({}): moving the partition cannot fix that; move the LV to aligned extents with pvmove, or give a new VG an extent size that is a multiple{}",
            p.number, l.device, format_size(e), format_size(step),
            e.div_ceil(step).checked_mul(step).map_or_else(String::new, |m| format!(" (vgcreate -s {}k)", m / 1024))
        ),
        _ => format!(
            "p{}: {} starts {} B into the partition, not a multiple of {step} B: moving the partition cannot align it; recreate the PV with pvcreate --dataalignment (after moving its data off)",
            p.number, l.device, l.offset_bytes
        ),
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
            }),
            innermost: true,
        }
    }

    #[test]
    fn the_verdict_follows_the_data() {
        let p = plan(512 << 10);
        let u = [(Unit::EraseBlock, p.grain)];
        // aligned partition, LUKS2 data 4 KiB off: misaligned, and no move can fix it
        let r = judge_part(
            &part(1 << 20, vec![luks(1 << 20, (16 << 20) + 4096)]),
            &p,
            &u,
        );
        assert!(!r.aligned);
        assert!(
            r.reasons[0].contains("LUKS2 data starts at"),
            "{:?}",
            r.reasons
        );
        let m = Mover {
            dev: "/dev/sdb".into(),
            len: 1 << 30,
            sector: 512,
            table: Some(TableKind::Gpt),
            image: false,
        };
        let mut rs = vec![r];
        let mut notes = Vec::new();
        move_fixes(&mut rs, &u, &m, &mut notes);
        assert_eq!(rs[0].fix, None);
        assert!(notes[0].contains("cannot align it"), "{notes:?}");
        // a partition at 63 sectors whose LUKS offset compensates: aligned, with a note
        let start = 63 * 512;
        let r = judge_part(&part(start, vec![luks(start, (1 << 20) - start)]), &p, &u);
        assert!(r.aligned, "{:?}", r.reasons);
        assert!(
            r.notes[0].contains("aligned where it matters"),
            "{:?}",
            r.notes
        );
        // a misaligned partition with aligned-relative LUKS: the move says what moves
        let r = judge_part(&part(start, vec![luks(start, 16 << 20)]), &p, &u);
        let mut rs = vec![r];
        move_fixes(&mut rs, &u, &m, &mut notes);
        let fix = rs[0].fix.as_deref().unwrap();
        assert!(
            fix.starts_with("echo '1024,' | sfdisk --move-data /dev/sdb -N 1"),
            "{fix}"
        );
        assert!(
            fix.contains("p1 holds LUKS2: moving it moves the header with it"),
            "{fix}"
        );
        assert!(fix.contains("unmount /dev/sdb1 and back it up"), "{fix}");
    }

    #[test]
    fn an_extended_partition_is_a_container() {
        let p = plan(512 << 10);
        let u = [(Unit::EraseBlock, p.grain)];
        let mut e = part(63 * 512, Vec::new());
        e.role = Role::Extended;
        let r = judge_part(&e, &p, &u);
        assert!(r.aligned);
        let mut rs = vec![r];
        let mut notes = Vec::new();
        let m = Mover {
            dev: "x.img".into(),
            len: 1 << 30,
            sector: 512,
            table: Some(TableKind::Dos),
            image: true,
        };
        move_fixes(&mut rs, &u, &m, &mut notes);
        assert_eq!(rs[0].fix, None);
    }
}
