//! The layers on a partition, read from on-disk metadata down from its start: md member ->
//! LUKS -> LVM PV -> LV segments -> filesystem. Each layer's data start is an absolute byte
//! offset on the device (the flash).

use super::fs::{self, Ext4Info, XfsInfo};
use super::luks::{self, Luks};
use super::lvm::{self, LvSegment};
use super::md::{self, Md};
use super::{add, read_exact, Result, Source};

/// What a layer is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Kind {
    Md,
    Luks1,
    Luks2,
    Pv,
    Lv,
    Ext4,
    Xfs,
    Btrfs,
    Swap,
    Vfat,
}

impl Kind {
    pub fn name(self) -> &'static str {
        match self {
            Kind::Md => "md",
            Kind::Luks1 => "LUKS1",
            Kind::Luks2 => "LUKS2",
            Kind::Pv => "PV",
            Kind::Lv => "LV",
            Kind::Ext4 => "ext4",
            Kind::Xfs => "XFS",
            Kind::Btrfs => "btrfs",
            Kind::Swap => "swap",
            Kind::Vfat => "vfat",
        }
    }
    /// True for a container: a header before the data it holds.
    pub fn is_container(self) -> bool {
        matches!(self, Kind::Md | Kind::Luks1 | Kind::Luks2 | Kind::Pv)
    }
}

/// What a layer's header says.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
#[serde(untagged)]
pub enum Detail {
    Md(Md),
    Luks(Luks),
    Pv {
        vg: Option<String>,
        pe_start: u64,
        extent_bytes: Option<u64>,
        #[serde(skip_serializing_if = "Vec::is_empty")]
        thin_pools: Vec<lvm::ThinPool>,
    },
    Lv(LvSegment),
    Ext4(Ext4Info),
    Xfs(XfsInfo),
    None,
}

/// One layer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Layer {
    pub kind: Kind,
    /// How deep in the stack (0 sits directly on the partition).
    pub depth: usize,
    /// Where its header is (absolute bytes).
    pub at: u64,
    /// Where its data starts (absolute bytes); for a filesystem, its own start.
    pub data_start: u64,
    pub detail: Detail,
    /// True when nothing recognised sits on its data: this is where data lands.
    pub innermost: bool,
}

const MAX_DEPTH: usize = 8;

/// Read every layer from `start` (absolute bytes) over `len` bytes.
pub fn layers(src: &mut dyn Source, start: u64, len: u64) -> Result<Vec<Layer>> {
    let mut out = Vec::new();
    probe(src, start, len, 0, &mut out)?;
    for i in 0..out.len() {
        let d = out[i].depth;
        out[i].innermost = out.get(i + 1).is_none_or(|n| n.depth <= d);
    }
    Ok(out)
}

/// A filesystem or container signature on the whole device where its header would sit at the
/// device's start (ext4, XFS, btrfs, swap, LUKS, an LVM PV label, an md 1.1/1.2 superblock
/// at 0 or 4 KiB), as `blkid -p` finds it beside a partition table. md 0.90/1.0 (at the end)
/// are not looked for: the last partition's own superblock sits there too.
pub fn whole_signature(src: &mut dyn Source) -> Result<Option<Kind>> {
    let head = src.read_at(0, fs::FS_HEAD)?;
    for (v, off) in [(md::MdVersion::V11, 0usize), (md::MdVersion::V12, 4096)] {
        if let Some(sb) = head.get(off..off + 4096) {
            if matches!(md::parse(sb, v), Ok(Some(_))) {
                return Ok(Some(Kind::Md));
            }
        }
    }
    let k = match luks::probe(&head) {
        Ok(luks::Probe::Done(l)) if l.version == 1 => Some(Kind::Luks1),
        Ok(luks::Probe::Done(_) | luks::Probe::NeedsJson { .. }) => Some(Kind::Luks2),
        _ if lvm::label(&head).is_some() => Some(Kind::Pv),
        _ if fs::ext4(&head).is_some() => Some(Kind::Ext4),
        _ if fs::xfs(&head).is_some() => Some(Kind::Xfs),
        _ if fs::btrfs(&head) => Some(Kind::Btrfs),
        _ if fs::swap(&head) => Some(Kind::Swap),
        _ => None,
    };
    Ok(k)
}

/// Keep only the LV `lv`'s segments (and what sits on them) of a PV's layers: the chain of
/// one `/dev/VG/LV`.
pub fn only_lv(layers: Vec<Layer>, lv: &str) -> Vec<Layer> {
    let mut out: Vec<Layer> = Vec::new();
    let mut skip_below: Option<usize> = None;
    for l in layers {
        if let Some(d) = skip_below {
            if l.depth > d {
                continue;
            }
            skip_below = None;
        }
        if let Detail::Lv(s) = &l.detail {
            if s.lv != lv {
                skip_below = Some(l.depth);
                continue;
            }
        }
        out.push(l);
    }
    for i in 0..out.len() {
        let d = out[i].depth;
        out[i].innermost = out.get(i + 1).is_none_or(|n| n.depth <= d);
    }
    out
}

/// `vg-lv` (device-mapper's name, dashes inside names doubled) as (VG, LV).
pub fn split_dm_name(name: &str) -> Option<(String, String)> {
    let b = name.as_bytes();
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'-' {
            if b.get(i + 1) == Some(&b'-') {
                i += 2;
                continue;
            }
            let (vg, lv) = (&name[..i], &name[i + 1..]);
            return Some((vg.replace("--", "-"), lv.replace("--", "-")));
        }
        i += 1;
    }
    None
}

fn push(out: &mut Vec<Layer>, kind: Kind, depth: usize, at: u64, data_start: u64, detail: Detail) {
    out.push(Layer {
        kind,
        depth,
        at,
        data_start,
        detail,
        innermost: false,
    });
}

fn probe(
    src: &mut dyn Source,
    start: u64,
    len: u64,
    depth: usize,
    out: &mut Vec<Layer>,
) -> Result<()> {
    if depth >= MAX_DEPTH || len == 0 {
        return Ok(());
    }
    let head = src.read_at(start, fs::FS_HEAD)?;
    let md = match out.last() {
        // a mirror's data at the member's own start is not another member
        Some(l) if l.kind == Kind::Md && l.data_start == start => None,
        _ => find_md(src, &head, start, len)?,
    };
    if let Some((m, sb_at)) = md {
        let data = add(start, m.data_offset, "md data start")?;
        push(out, Kind::Md, depth, start, data, Detail::Md(m));
        // the data ends where a superblock at the end (0.90, 1.0) begins
        let end = if sb_at > m.data_offset { sb_at } else { len };
        // the array's content is readable in place only for a mirror (or one disk)
        if m.level == 1 || m.raid_disks == 1 {
            probe(src, data, end - m.data_offset, depth + 1, out)?;
        }
        return Ok(());
    }
    if let Some(l) = find_luks(src, &head, start)? {
        if l.data_offset >= len {
            return super::bad(format!(
                "LUKS data offset {} is past the device's end ({len} bytes)",
                l.data_offset
            ));
        }
        let data = add(start, l.data_offset, "LUKS data start")?;
        let kind = if l.version == 1 {
            Kind::Luks1
        } else {
            Kind::Luks2
        };
        push(out, kind, depth, start, data, Detail::Luks(l));
        // the payload is encrypted: nothing more can be read from it
        return Ok(());
    }
    if let Some(label) = lvm::label(&head) {
        overruns(Kind::Pv, label.dev_size, len)?;
        return pv(src, &label, start, len, depth, out);
    }
    let fs = if let Some(e) = fs::ext4(&head) {
        Some((Kind::Ext4, Detail::Ext4(e)))
    } else if let Some(x) = fs::xfs(&head) {
        Some((Kind::Xfs, Detail::Xfs(x)))
    } else if fs::btrfs(&head) {
        Some((Kind::Btrfs, Detail::None))
    } else if fs::swap(&head) {
        Some((Kind::Swap, Detail::None))
    } else if fs::vfat(&head) {
        Some((Kind::Vfat, Detail::None))
    } else {
        None
    };
    if let Some((k, d)) = fs {
        let span = match k {
            Kind::Ext4 => fs::ext4_bytes(&head),
            Kind::Xfs => fs::xfs_bytes(&head),
            _ => None,
        };
        overruns(k, span.unwrap_or(u64::MAX), len)?;
        push(out, k, depth, start, start, d);
    }
    Ok(())
}

/// What a layer spans (its recorded size) against its container's `len` bytes: larger means
/// the content overruns the partition (a table rewritten smaller, or a filesystem made on a
/// bigger device), so part of the data lies outside it and any move would leave it behind.
/// `u64::MAX` (a size that does not fit in 64 bits) is read as unknown, not as a conflict.
fn overruns(kind: Kind, span: u64, len: u64) -> Result<()> {
    if span == u64::MAX || span <= len {
        return Ok(());
    }
    super::bad(format!(
        "the {} records {span} bytes but its partition holds {len} bytes: the content overruns the partition (the table and the data disagree), so nothing is judged or moved; restore a partition at least {span} bytes long (or check the table against the data) first",
        kind.name()
    ))
}

/// The md superblock on a member of `len` bytes at `start`, and where it sits (bytes into the
/// member).
fn find_md(src: &mut dyn Source, head: &[u8], start: u64, len: u64) -> Result<Option<(Md, u64)>> {
    for (v, off) in md::locations(len) {
        let sb = if off + 4096 <= head.len() as u64 {
            head[off as usize..off as usize + 4096].to_vec()
        } else {
            src.read_at(add(start, off, "md superblock offset")?, 4096)?
        };
        if let Some(m) = md::parse(&sb, v)? {
            if m.data_offset >= len {
                return super::bad(format!(
                    "md data_offset {} is past the member's end ({len} bytes)",
                    m.data_offset
                ));
            }
            return Ok(Some((m, off)));
        }
    }
    Ok(None)
}

fn find_luks(src: &mut dyn Source, head: &[u8], start: u64) -> Result<Option<Luks>> {
    match luks::probe(head)? {
        luks::Probe::None => Ok(None),
        luks::Probe::Done(l) => Ok(Some(l)),
        luks::Probe::NeedsJson { hdr_size } => {
            let hdr = read_exact(src, start, hdr_size as usize, "LUKS2 header")?;
            let second = src.read_at(
                add(start, hdr_size, "LUKS2 secondary header")?,
                hdr_size as usize,
            )?;
            luks::select_luks2(&hdr, &second, hdr_size).map(Some)
        }
    }
}

fn pv(
    src: &mut dyn Source,
    label: &lvm::Label,
    start: u64,
    len: u64,
    depth: usize,
    out: &mut Vec<Layer>,
) -> Result<()> {
    // lvm2 uses the first metadata area whose checksums hold (the second copy, at the
    // PV's end, when the first is damaged); none valid is an error, never a guess
    let mut text = None;
    let mut first_err = None;
    for (off, size) in [label.mda, label.mda2].into_iter().flatten() {
        match metadata(src, add(start, off, "LVM metadata area")?, size) {
            Ok(t) => {
                text = Some(t);
                break;
            }
            Err(e) => {
                first_err.get_or_insert(e);
            }
        }
    }
    if let (None, Some(e)) = (&text, first_err) {
        return Err(e);
    }
    let layout = match text.flatten() {
        Some(t) => Some(t)
            .map(|t| lvm::parse_text(&t))
            .transpose()?
            .map(|m| lvm::pv_layout(&m, &label.uuid))
            .transpose()?
            .flatten(),
        None => None,
    };
    let pe_start = layout.as_ref().map_or(label.pe_start, |l| l.pe_start);
    if pe_start >= len {
        return super::bad(format!(
            "LVM pe_start {pe_start} is past the PV's end ({len} bytes)"
        ));
    }
    let data = add(start, pe_start, "PV data start")?;
    push(
        out,
        Kind::Pv,
        depth,
        start,
        data,
        Detail::Pv {
            vg: layout.as_ref().map(|l| l.vg.clone()),
            pe_start,
            extent_bytes: layout.as_ref().map(|l| l.extent_bytes),
            thin_pools: layout
                .as_ref()
                .map(|l| l.thin_pools.clone())
                .unwrap_or_default(),
        },
    );
    for s in layout.map(|l| l.segments).unwrap_or_default() {
        if s.offset >= len {
            return super::bad(format!(
                "LV {} starts at byte {} of its PV, past the PV's end ({len} bytes)",
                s.lv, s.offset
            ));
        }
        let at = add(start, s.offset, "LV segment start")?;
        let first = s.lv_extent == 0;
        push(out, Kind::Lv, depth + 1, at, at, Detail::Lv(s));
        // offsets only grow: never probe the PV's own header again
        if first && at > start {
            probe(src, at, len - (at - start), depth + 2, out)?;
        }
    }
    Ok(())
}

/// The current metadata text of the area at `at` (absolute) of `size` bytes.
fn metadata(src: &mut dyn Source, at: u64, size: u64) -> Result<Option<String>> {
    let hdr = read_exact(src, at, 512, "LVM metadata area header")?;
    if !lvm::header_crc_ok(&hdr) && hdr.get(4..20) == Some(b" LVM2 x[5A%r0N*>".as_slice()) {
        return super::bad(format!(
            "LVM metadata area header at byte {at} has a bad checksum (lvm2 ignores it), and no other metadata area is valid: nothing is judged or moved"
        ));
    }
    let Some((off, n)) = lvm::text_location(&hdr, size)? else {
        return Ok(None);
    };
    // the area is a ring buffer: text past its end continues at byte 512
    let first = n.min(size - off);
    let mut text = read_exact(
        src,
        add(at, off, "LVM metadata")?,
        first as usize,
        "LVM metadata",
    )?;
    if first < n {
        text.extend(read_exact(
            src,
            at + 512,
            (n - first) as usize,
            "LVM metadata",
        )?);
    }
    let want = super::le32(&hdr, 56) as u32;
    if lvm::calc_crc(lvm::INITIAL_CRC, &text) != want {
        return super::bad(format!(
            "LVM metadata text in the area at byte {at} has a bad checksum (lvm2 ignores it), and no other metadata area is valid: nothing is judged or moved"
        ));
    }
    Ok(Some(String::from_utf8_lossy(&text).into_owned()))
}

#[cfg(test)]
mod tests {
    use super::super::md::tests::sb1;
    use super::super::Bytes;
    use super::*;

    #[test]
    fn an_md_superblock_at_the_end_is_not_found_again_inside_the_mirror() {
        // a 1 MiB raid1 member with a v1.0 superblock at its end and ext4 at its start
        let len = 1usize << 20;
        let mut b = vec![0u8; len];
        b[1024 + 0x38..1024 + 0x3a].copy_from_slice(&0xEF53u16.to_le_bytes());
        let at = ((len / 512 - 16) & !7) * 512;
        b[at..at + 4096].copy_from_slice(&sb1(1, 0, 0, 2, 0));
        let l = layers(&mut Bytes(&b), 0, len as u64).unwrap();
        let kinds: Vec<Kind> = l.iter().map(|l| l.kind).collect();
        assert_eq!(kinds, [Kind::Md, Kind::Ext4]);
        assert!(l[1].innermost && !l[0].innermost);
    }

    /// A PV (8 MiB) whose metadata text of `text` wraps around the end of its 8 KiB area.
    fn wrapped_pv(text: &str) -> Vec<u8> {
        let mut b = vec![0u8; 8 << 20];
        let l = 512;
        b[l..l + 8].copy_from_slice(b"LABELONE");
        b[l + 20..l + 24].copy_from_slice(&32u32.to_le_bytes());
        b[l + 24..l + 32].copy_from_slice(b"LVM2 001");
        let h = l + 32;
        b[h..h + 32].copy_from_slice(b"AAAAAABBBBCCCCDDDDEEEEFFFFGGGGGG");
        b[h + 40..h + 48].copy_from_slice(&(1u64 << 20).to_le_bytes()); // data area
        b[h + 72..h + 80].copy_from_slice(&4096u64.to_le_bytes()); // metadata area
        b[h + 80..h + 88].copy_from_slice(&8192u64.to_le_bytes());
        let m = 4096;
        b[m + 4..m + 20].copy_from_slice(b" LVM2 x[5A%r0N*>");
        let t = text.as_bytes();
        let off = 8192 - 100;
        b[m + 40..m + 48].copy_from_slice(&(off as u64).to_le_bytes());
        b[m + 48..m + 56].copy_from_slice(&(t.len() as u64).to_le_bytes());
        b[m + off..m + 8192].copy_from_slice(&t[..100]);
        b[m + 512..m + 512 + t.len() - 100].copy_from_slice(&t[100..]);
        let c = lvm::calc_crc(lvm::INITIAL_CRC, t);
        b[m + 56..m + 60].copy_from_slice(&c.to_le_bytes());
        let c = lvm::calc_crc(lvm::INITIAL_CRC, &b[m + 4..m + 512]);
        b[m..m + 4].copy_from_slice(&c.to_le_bytes());
        b
    }

    #[test]
    fn lvm_checksums_are_checked_as_lvm2_checks_them() {
        let text = "vg0 {\nextent_size = 8192\nphysical_volumes {\npv0 {\nid = \"AAAAAA-BBBB-CCCC-DDDD-EEEE-FFFF-GGGGGG\"\npe_start = 2048\n}\n}\n}\n";
        let b = wrapped_pv(text);
        assert!(layers(&mut Bytes(&b), 0, b.len() as u64).is_ok());
        // a text byte changed (pe_start 2048 -> 2049) without its checksum: refused
        let mut bad = b.clone();
        let at = bad.windows(4).rposition(|w| w == b"2048").unwrap();
        bad[at + 3] = b'9';
        let e = layers(&mut Bytes(&bad), 0, b.len() as u64).unwrap_err();
        assert!(
            e.0.contains("metadata text") && e.0.contains("bad checksum"),
            "{e}"
        );
        // the header's checksum broken: refused
        let mut bad = b.clone();
        bad[4096] ^= 1;
        let e = layers(&mut Bytes(&bad), 0, b.len() as u64).unwrap_err();
        assert!(
            e.0.contains("header at byte 4096 has a bad checksum"),
            "{e}"
        );
        // lvm2's known value: calc_crc over nothing is the initial value
        assert_eq!(lvm::calc_crc(lvm::INITIAL_CRC, b""), lvm::INITIAL_CRC);
    }

    #[test]
    fn lvm_metadata_wrapping_around_its_ring_buffer_is_read_whole() {
        let text = "vg0 {\nextent_size = 8192\nphysical_volumes {\npv0 {\nid = \"AAAAAA-BBBB-CCCC-DDDD-EEEE-FFFF-GGGGGG\"\npe_start = 2048\n}\n}\nlogical_volumes {\nroot {\nsegment1 {\nstart_extent = 0\nextent_count = 1\nstripes = [\"pv0\", 1]\n}\n}\n}\n}\n";
        assert!(text.len() > 100);
        let b = wrapped_pv(text);
        let l = layers(&mut Bytes(&b), 0, b.len() as u64).unwrap();
        assert_eq!(l.len(), 2, "{l:?}");
        assert_eq!((l[0].kind, l[0].data_start), (Kind::Pv, 1 << 20));
        assert_eq!(
            (l[1].kind, l[1].data_start),
            (Kind::Lv, (1 << 20) + (4 << 20))
        );
        assert!(l[1].innermost);
    }

    #[test]
    fn a_pv_data_start_or_lv_past_the_pv_is_an_error() {
        let text = "vg0 {\nextent_size = 8192\nphysical_volumes {\npv0 {\nid = \"AAAAAA-BBBB-CCCC-DDDD-EEEE-FFFF-GGGGGG\"\npe_start = 2048\n}\n}\nlogical_volumes {\nroot {\nsegment1 {\nstart_extent = 0\nextent_count = 1\nstripes = [\"pv0\", 1]\n}\n}\n}\n}\n";
        for (from, to, want) in [
            (
                "pe_start = 2048",
                "pe_start = 16384",
                "pe_start 8388608 is past the PV's end",
            ),
            (
                "\"pv0\", 1]",
                "\"pv0\", 2]",
                "LV root starts at byte 9437184 of its PV, past",
            ),
        ] {
            let b = wrapped_pv(&text.replacen(from, to, 1));
            let e = layers(&mut Bytes(&b), 0, b.len() as u64).unwrap_err();
            assert!(e.0.contains(want), "{to}: {}", e.0);
        }
    }

    #[test]
    fn one_lv_of_a_pv() {
        let lv = |name: &str, depth| Layer {
            kind: Kind::Lv,
            depth,
            at: 0,
            data_start: 0,
            detail: Detail::Lv(LvSegment {
                lv: name.into(),
                lv_extent: 0,
                pv_extent: 0,
                extents: 1,
                offset: 0,
                hidden: false,
            }),
            innermost: false,
        };
        let fs = Layer {
            kind: Kind::Ext4,
            depth: 2,
            at: 0,
            data_start: 0,
            detail: Detail::None,
            innermost: false,
        };
        let pv = Layer {
            kind: Kind::Pv,
            depth: 0,
            at: 0,
            data_start: 0,
            detail: Detail::None,
            innermost: false,
        };
        let all = vec![pv, lv("a", 1), fs.clone(), lv("b", 1), fs, lv("a", 1)];
        let kinds: Vec<(Kind, usize)> = only_lv(all, "b")
            .iter()
            .map(|l| (l.kind, l.depth))
            .collect();
        assert_eq!(kinds, [(Kind::Pv, 0), (Kind::Lv, 1), (Kind::Ext4, 2)]);
        assert_eq!(
            split_dm_name("vg0-data"),
            Some(("vg0".into(), "data".into()))
        );
        assert_eq!(
            split_dm_name("my--vg-lv--1"),
            Some(("my-vg".into(), "lv-1".into()))
        );
        assert_eq!(split_dm_name("plain"), None);
    }

    #[test]
    fn content_larger_than_its_partition_is_a_conflict() {
        // XFS of 512 blocks of 4096 (2 MiB) in 1 MiB, then in 2 MiB
        let mut b = vec![0u8; 2 << 20];
        b[0..4].copy_from_slice(b"XFSB");
        b[4..8].copy_from_slice(&4096u32.to_be_bytes());
        b[8..16].copy_from_slice(&512u64.to_be_bytes());
        let e = layers(&mut Bytes(&b), 0, 1 << 20).unwrap_err();
        assert!(
            e.0.contains("XFS records 2097152 bytes but its partition holds 1048576"),
            "{e}"
        );
        assert_eq!(
            layers(&mut Bytes(&b), 0, 2 << 20).unwrap()[0].kind,
            Kind::Xfs
        );
        // ext4: 64bit feature counts the high half
        let mut b = vec![0u8; 2 << 20];
        b[1024 + 0x38..1024 + 0x3a].copy_from_slice(&0xEF53u16.to_le_bytes());
        b[1024 + 4..1024 + 8].copy_from_slice(&2048u32.to_le_bytes());
        assert!(layers(&mut Bytes(&b), 0, 2 << 20).is_ok());
        b[1024 + 0x150] = 1;
        assert!(
            layers(&mut Bytes(&b), 0, 2 << 20).is_ok(),
            "hi ignored without 64bit"
        );
        b[1024 + 0x60] = 0x80;
        assert!(layers(&mut Bytes(&b), 0, 2 << 20)
            .unwrap_err()
            .0
            .contains("overruns"));
        // a PV whose recorded device size is larger than the partition
        let text = "vg0 {\nextent_size = 8192\nphysical_volumes {\npv0 {\nid = \"AAAAAA-BBBB-CCCC-DDDD-EEEE-FFFF-GGGGGG\"\npe_start = 2048\n}\n}\n}\n";
        let mut b = wrapped_pv(text);
        b[576..584].copy_from_slice(&(8u64 << 20).to_le_bytes());
        assert!(layers(&mut Bytes(&b), 0, 8 << 20).is_ok());
        b[576..584].copy_from_slice(&(9u64 << 20).to_le_bytes());
        let e = layers(&mut Bytes(&b), 0, 8 << 20).unwrap_err();
        assert!(e.0.contains("PV records 9437184 bytes"), "{e}");
    }

    #[test]
    fn an_md_data_offset_past_the_member_is_an_error() {
        let mut b = vec![0u8; 1 << 20];
        b[4096..8192].copy_from_slice(&sb1(1, 0, 0, 2, 1 << 20));
        let e = layers(&mut Bytes(&b), 0, 1 << 20).unwrap_err();
        assert!(e.0.contains("past the member's end"), "{e}");
    }
}
