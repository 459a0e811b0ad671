//! Reading a partition table and settling its sector size: never guessed from one partition.
//! GPT records it (the header sits at LBA 1); for an MBR, `--sector-size`, the device's
//! logical block size, then the signatures at every partition's start under each reading,
//! then which reading fits the image; when nothing settles it, an error asks for
//! `--sector-size`.

use serde::Serialize;

use super::{bad, gpt, mbr, stack, validate, Result, Role, Source, Table};

/// What settled the sector size the partition table is read in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum SectorEvidence {
    /// `--sector-size`.
    Option,
    /// The GPT header's location (LBA 1).
    GptHeader,
    /// The device's logical block size.
    LogicalBlockSize,
    /// Signatures (md, LUKS, LVM, filesystems) at the partition starts under one reading only.
    Signatures,
    /// Only one reading keeps every partition inside the image.
    Fit,
    /// The table has no partitions: the sector size changes nothing.
    Empty,
    /// Nothing settles it: both readings fit and the signatures do not tell them apart (the
    /// table returned is the 512-byte reading; judge both).
    Unsettled,
}

impl SectorEvidence {
    pub fn describe(self) -> &'static str {
        match self {
            SectorEvidence::Option => "given by --sector-size",
            SectorEvidence::GptHeader => "the GPT header's location (LBA 1)",
            SectorEvidence::LogicalBlockSize => "the device's logical block size",
            SectorEvidence::Signatures => {
                "signatures at the partition starts under this reading only"
            }
            SectorEvidence::Fit => "only this reading keeps every partition inside the image",
            SectorEvidence::Empty => "no partitions (the sector size changes nothing)",
            SectorEvidence::Unsettled => {
                "nothing settles it; both 512 and 4096 were judged and agree"
            }
        }
    }
}

/// The sector sizes a table may count in.
const SIZES: [u64; 2] = [512, 4096];

/// Read the partition table: `Ok(None)` when there is none. `forced` is `--sector-size`,
/// `logical` the device's logical block size (a device, not an image).
pub fn read(
    src: &mut dyn Source,
    forced: Option<u64>,
    logical: Option<u64>,
) -> Result<Option<(Table, u64, SectorEvidence)>> {
    let t = read_table(src, forced, logical)?;
    if let Some((t, _, _)) = &t {
        if let Some(k) = stack::whole_signature(src)? {
            return bad(format!(
                "the whole device starts with a signature ({}) besides the {} partition table (blkid -p reports both): which one holds the data is not settled, so nothing is judged or moved; `wipefs` on the device lists both; remove the stale one",
                k.name(),
                t.kind.name()
            ));
        }
    }
    Ok(t)
}

fn read_table(
    src: &mut dyn Source,
    forced: Option<u64>,
    logical: Option<u64>,
) -> Result<Option<(Table, u64, SectorEvidence)>> {
    let len = src.size();
    if len < 512 {
        return bad(format!(
            "{len} bytes is too short to hold a partition table"
        ));
    }
    let s0 = src.read_at(0, 512)?;
    let mut leftover = None;
    for ss in SIZES {
        if gpt::has_header(src, ss)? {
            // the kernel (efi.c), libblkid and libfdisk read a GPT only behind an MBR with a
            // 0xEE entry (a hybrid MBR included); otherwise the MBR is the table and the GPT
            // headers are leftovers
            if !mbr::looks_like_mbr(&s0) {
                return bad(format!(
                    "a GPT header at LBA 1 of {ss}-byte sectors but no MBR boot signature (55 AA) before it: the kernel, blkid and sfdisk do not read this GPT; nothing is judged or moved until the disk has one table the kernel reads"
                ));
            }
            if !mbr::is_protective(&s0) {
                if mbr::has_entries(&s0) {
                    leftover = Some(ss);
                    break;
                }
                let n = gpt::parse(src, ss).map_or(0, |t| t.partitions.len());
                if n > 0 {
                    return bad(format!(
                        "the MBR is empty and has no protective 0xEE entry, but a GPT header at LBA 1 of {ss}-byte sectors lists {n} partitions: the kernel, blkid and sfdisk read the empty MBR; which table is meant is not settled, so nothing is judged or moved until the disk has one table the kernel reads"
                    ));
                }
                break;
            }
            if let Some(f) = forced.or(logical).filter(|f| *f != ss) {
                return bad(format!(
                    "the GPT header is at LBA 1 of {ss}-byte sectors, but the sector size is {f}"
                ));
            }
            let t = gpt::parse(src, ss)?;
            validate(&t, len)?;
            return Ok(Some((t, ss, SectorEvidence::GptHeader)));
        }
    }
    if !mbr::looks_like_mbr(&s0) {
        return Ok(None);
    }
    if mbr::is_protective(&s0) {
        return bad(
            "a protective MBR (type 0xEE) but no GPT header at LBA 1 of 512- or 4096-byte sectors",
        );
    }
    let given = forced
        .map(|f| (f, SectorEvidence::Option))
        .or(logical.map(|l| (l, SectorEvidence::LogicalBlockSize)));
    let read = if let Some((ss, ev)) = given {
        let t = mbr::parse(src, ss)?;
        validate(&t, len)?;
        conflict(src, &t, ss, ev, len)?;
        (t, ss, ev)
    } else {
        settle_mbr(src, len)?
    };
    if let Some(gss) = leftover {
        leftover_gpt(src, &read.0, gss)?;
    }
    Ok(Some(read))
}

/// A GPT left behind an MBR without a protective entry is not read (the MBR is the table),
/// unless its partitions hold data where the MBR's do not start: then both tables are
/// plausible and a move by the MBR would write over the data the GPT locates. An error.
fn leftover_gpt(src: &mut dyn Source, t: &Table, gss: u64) -> Result<()> {
    let Ok(g) = gpt::parse(src, gss) else {
        return Ok(());
    };
    let starts: Vec<u64> = t
        .partitions
        .iter()
        .filter_map(|p| t.start_bytes(p).ok())
        .collect();
    for p in &g.partitions {
        let (Ok(s), Ok(n)) = (g.start_bytes(p), g.size_bytes(p)) else {
            continue;
        };
        if starts.contains(&s) {
            continue;
        }
        if let Some(l) = stack::layers(src, s, n)
            .ok()
            .and_then(|l| l.into_iter().next())
        {
            return bad(format!(
                "the MBR (no protective 0xEE entry) is the table the kernel, blkid and sfdisk read, but a leftover GPT's partition {} starts at byte {s}, where a {} is and no MBR partition starts: both tables are plausible, so nothing is judged or moved until the disk has one table that matches its data",
                p.number,
                l.kind.name()
            ));
        }
    }
    Ok(())
}

/// The device's logical block size or `--sector-size` against the signatures: when no data
/// partition has a signature at its start under the given reading and some do under the
/// other, the evidence conflicts (a 4Kn image on a 512-byte loop device): an error, never a
/// verdict or a move that would write over the headers.
fn conflict(src: &mut dyn Source, t: &Table, ss: u64, ev: SectorEvidence, len: u64) -> Result<()> {
    let other = if ss == 512 { 4096 } else { 512 };
    if t.partitions.is_empty() {
        return Ok(());
    }
    let here = signatures(src, t);
    let Ok(alt) = mbr::parse(src, other).and_then(|a| validate(&a, len).map(|()| a)) else {
        return Ok(());
    };
    // the other reading finds signatures at partition starts too: unless this reading finds
    // one at every data partition's start (and so at least as many), one coincidental
    // signature here does not settle it
    let data = t.partitions.iter().filter(|p| p.role == Role::Data).count();
    let found = signatures(src, &alt);
    if found == 0 || (here >= found && here == data) {
        return Ok(());
    }
    let (said, instead) = match ev {
        SectorEvidence::Option => (
            format!("--sector-size {ss} says {ss}-byte sectors"),
            format!("give --sector-size {other} (or none)"),
        ),
        _ => (
            format!("the device's logical block size is {ss} bytes"),
            format!(
                "attach it with a {other}-byte logical block (losetup --sector-size {other}) or check the image file"
            ),
        ),
    };
    let instead = if here == 0 {
        instead
    } else {
        "check which reading matches the data (`blkid -p --offset BYTES` at each start) before anything is moved".to_string()
    };
    let only = if here == 0 {
        format!("only under {other}-byte sectors ({found} of {data} partitions)")
    } else {
        format!(
            "at {found} of {data} partition starts under {other}-byte sectors, {here} under {ss}"
        )
    };
    bad(format!(
        "{said}, but the signatures sit {only}: the evidence conflicts, so nothing is judged or moved; {instead}"
    ))
}

/// Read an image's MBR under both sector sizes and keep the one the evidence supports.
fn settle_mbr(src: &mut dyn Source, len: u64) -> Result<(Table, u64, SectorEvidence)> {
    let mut readings = Vec::new();
    for ss in SIZES {
        let t = mbr::parse(src, ss).and_then(|t| validate(&t, len).map(|()| t));
        let sigs = match &t {
            Ok(t) => signatures(src, t),
            Err(_) => 0,
        };
        readings.push((ss, t, sigs));
    }
    let [(_, a, sa), (_, b, sb)] = &mut readings[..] else {
        return bad("internal: two readings expected");
    };
    let pick = match (&*a, &*b) {
        (Err(e), Err(_)) => return Err(e.clone()),
        (Ok(_), Err(_)) => (0, SectorEvidence::Fit),
        (Err(_), Ok(_)) => (1, SectorEvidence::Fit),
        (Ok(t), Ok(_)) if t.partitions.is_empty() => (0, SectorEvidence::Empty),
        _ if *sa > 0 && *sb == 0 => (0, SectorEvidence::Signatures),
        _ if *sb > 0 && *sa == 0 => (1, SectorEvidence::Signatures),
        // signatures under both readings, at different numbers of partition starts: the
        // evidence conflicts (a move by either reading may write over the other's data)
        _ if *sa > 0 && *sb > 0 && sa != sb => {
            let n = |t: &Result<Table>| {
                t.as_ref().map_or(0, |t| {
                    t.partitions.iter().filter(|p| p.role == Role::Data).count()
                })
            };
            return bad(format!(
                "signatures sit at {sa} of {} partition starts under 512-byte sectors and at {sb} of {} under 4096: the evidence conflicts, so nothing is judged or moved; check which reading matches the data (e.g. `blkid -p -O OFFSET`) and give --sector-size only when the other reading's signatures are stale",
                n(a),
                n(b)
            ));
        }
        // both fit and the signatures do not tell them apart: judge both
        _ => (0, SectorEvidence::Unsettled),
    };
    let (ss, t, _) = readings.swap_remove(pick.0);
    Ok((t?, ss, pick.1))
}

/// How many data partitions hold something recognised at their start.
fn signatures(src: &mut dyn Source, t: &Table) -> usize {
    t.partitions
        .iter()
        .filter(|p| p.role == Role::Data)
        .filter(|p| {
            let (Ok(s), Ok(n)) = (t.start_bytes(p), t.size_bytes(p)) else {
                return false;
            };
            stack::layers(src, s, n).is_ok_and(|l| !l.is_empty())
        })
        .count()
}

#[cfg(test)]
mod tests {
    use super::super::{Bytes, TableKind};
    use super::*;

    fn mbr(start: u32, n: u32, len: usize) -> Vec<u8> {
        let mut b = vec![0u8; len];
        b[446 + 4] = 0x83;
        b[446 + 8..446 + 12].copy_from_slice(&start.to_le_bytes());
        b[446 + 12..446 + 16].copy_from_slice(&n.to_le_bytes());
        b[510] = 0x55;
        b[511] = 0xAA;
        b
    }

    fn ext4_at(b: &mut [u8], off: usize) {
        b[off + 1024 + 0x38..off + 1024 + 0x3a].copy_from_slice(&0xEF53u16.to_le_bytes());
    }

    #[test]
    fn the_sector_size_is_settled_by_evidence_or_asked_for() {
        // fits both readings, nothing at either start: unsettled (both are judged)
        let b = mbr(256, 1000, 8 << 20);
        let (_, ss, ev) = read(&mut Bytes(&b), None, None).unwrap().unwrap();
        assert_eq!((ss, ev), (512, SectorEvidence::Unsettled));
        assert_eq!(
            read(&mut Bytes(&b), Some(4096), None).unwrap().unwrap().2,
            SectorEvidence::Option
        );
        // ext4 at 256 x 4096 only: 4Kn, settled by the signature
        let mut b4 = b.clone();
        ext4_at(&mut b4, 256 * 4096);
        let (_, ss, ev) = read(&mut Bytes(&b4), None, None).unwrap().unwrap();
        assert_eq!((ss, ev), (4096, SectorEvidence::Signatures));
        // a device's logical block size settles it
        let (_, ss, ev) = read(&mut Bytes(&b), None, Some(512)).unwrap().unwrap();
        assert_eq!((ss, ev), (512, SectorEvidence::LogicalBlockSize));
        // ... unless the signatures sit only under the other reading: a conflict, not a verdict
        for (forced, logical, who) in [
            (None, Some(512), "logical block size is 512"),
            (Some(512), None, "--sector-size 512"),
        ] {
            let e = read(&mut Bytes(&b4), forced, logical).unwrap_err();
            assert!(e.0.contains(who) && e.0.contains("conflicts"), "{e}");
        }
        assert_eq!(
            read(&mut Bytes(&b4), Some(4096), None).unwrap().unwrap().2,
            SectorEvidence::Option
        );
        // only 512 fits
        let b = mbr(2048, 10000, 8 << 20);
        let (_, ss, ev) = read(&mut Bytes(&b), None, None).unwrap().unwrap();
        assert_eq!((ss, ev), (512, SectorEvidence::Fit));
    }

    #[test]
    fn a_gpt_is_read_only_behind_a_protective_mbr_as_blkid_and_the_kernel_do() {
        let g = super::super::gpt::tests::image(512, 8192, 128, 128, &[(40, 5000)]);
        // MBR with a real partition, no 0xEE: the MBR is the table
        let mut b = g.clone();
        b[446..462].fill(0);
        b[446 + 4] = 0x83;
        b[446 + 8..446 + 12].copy_from_slice(&63u32.to_le_bytes());
        b[446 + 12..446 + 16].copy_from_slice(&2000u32.to_le_bytes());
        let (t, _, _) = read(&mut Bytes(&b), None, None).unwrap().unwrap();
        assert_eq!((t.kind, t.partitions[0].start), (TableKind::Dos, 63));
        // hybrid: 0xEE plus a real entry is GPT
        b[462 + 4] = 0xEE;
        b[462 + 8..462 + 12].copy_from_slice(&1u32.to_le_bytes());
        b[462 + 12..462 + 16].copy_from_slice(&62u32.to_le_bytes());
        let (t, _, _) = read(&mut Bytes(&b), None, None).unwrap().unwrap();
        assert_eq!((t.kind, t.partitions[0].start), (TableKind::Gpt, 40));
        // an empty MBR before a GPT listing partitions: not settled
        let mut b = g.clone();
        b[446..462].fill(0);
        let e = read(&mut Bytes(&b), None, None).unwrap_err();
        assert!(e.0.contains("lists 1 partitions"), "{e}");
        // no MBR at all: the kernel ignores the GPT
        let mut b = g;
        b[510] = 0;
        let e = read(&mut Bytes(&b), None, None).unwrap_err();
        assert!(e.0.contains("no MBR boot signature"), "{e}");
    }

    #[test]
    fn a_coincidental_signature_under_one_reading_does_not_settle_it() {
        // two partitions; under 4096 both hold ext4; under 512 one coincidental ext4 at p1
        let mut b = vec![0u8; 64 << 20];
        for (i, (start, n)) in [(257u32, 1000u32), (2000, 1000)].iter().enumerate() {
            let e = 446 + 16 * i;
            b[e + 4] = 0x83;
            b[e + 8..e + 12].copy_from_slice(&start.to_le_bytes());
            b[e + 12..e + 16].copy_from_slice(&n.to_le_bytes());
        }
        b[510] = 0x55;
        b[511] = 0xAA;
        ext4_at(&mut b, 257 * 4096);
        ext4_at(&mut b, 2000 * 4096);
        ext4_at(&mut b, 257 * 512);
        let e = read(&mut Bytes(&b), Some(512), None).unwrap_err();
        assert!(
            e.0.contains("at 2 of 2 partition starts under 4096-byte sectors, 1 under 512"),
            "{e}"
        );
        let e = read(&mut Bytes(&b), None, None).unwrap_err();
        assert!(
            e.0.contains("1 of 2 partition starts under 512-byte sectors and at 2 of 2 under 4096"),
            "{e}"
        );
        assert_eq!(
            read(&mut Bytes(&b), Some(4096), None).unwrap().unwrap().1,
            4096
        );
        // one each: neither reading is backed at every start
        b[2000 * 4096 + 1024 + 0x38] = 0;
        let e = read(&mut Bytes(&b), Some(4096), None).unwrap_err();
        assert!(
            e.0.contains("1 of 2 partition starts under 512-byte sectors, 1 under 4096")
                && e.0.contains("blkid"),
            "{e}"
        );
        // twin: every start backed under 512, a coincidence under 4096: the 512 reading holds
        ext4_at(&mut b, 2000 * 512);
        assert_eq!(
            read(&mut Bytes(&b), Some(512), None).unwrap().unwrap().1,
            512
        );
    }

    #[test]
    fn gpt_location_settles_it_and_contradictions_are_errors() {
        let b = super::super::gpt::tests::image(4096, 4096, 128, 128, &[(256, 1000)]);
        let (_, ss, ev) = read(&mut Bytes(&b), None, None).unwrap().unwrap();
        assert_eq!((ss, ev), (4096, SectorEvidence::GptHeader));
        assert!(read(&mut Bytes(&b), Some(512), None)
            .unwrap_err()
            .0
            .contains("GPT header is at LBA 1 of 4096"));
    }
}
