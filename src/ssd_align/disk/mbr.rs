//! The MBR (DOS) partition table, with extended and logical partitions, parsed here rather
//! than by mbrman: mbrman panics on a partition at LBA 0, and the EBR chain of a hostile
//! image must be bounded and loop-free. An MBR does not record its sector size: the caller
//! passes the reading to use (see `judge::align::sector` for how it is chosen).

use super::{bad, le32, read_exact, Partition, Result, Role, Source, Table, TableKind};

/// At most this many logical partitions (the kernel's limit is far below).
const MAX_LOGICAL: usize = 256;

/// True for the extended-partition type bytes (DOS 0x05, Win95 LBA 0x0F, Linux 0x85).
fn is_extended(t: u8) -> bool {
    matches!(t, 0x05 | 0x0F | 0x85)
}

/// One 16-byte MBR entry: (type, start LBA, sectors), `None` when unused.
fn entry(b: &[u8], i: usize) -> Option<(u8, u64, u64)> {
    let e = b.get(446 + 16 * i..446 + 16 * (i + 1))?;
    let (t, start, n) = (e[4], le32(e, 8), le32(e, 12));
    (t != 0 && n != 0).then_some((t, start, n))
}

/// True when `sector0` carries an MBR: the 55 AA signature and boot flags 0x00/0x80 (a FAT
/// or NTFS boot sector also ends in 55 AA, but its "boot flags" are code).
pub fn looks_like_mbr(sector0: &[u8]) -> bool {
    sector0.len() >= 512
        && sector0[510] == 0x55
        && sector0[511] == 0xAA
        && (0..4).all(|i| matches!(sector0[446 + 16 * i], 0x00 | 0x80))
}

/// True when the MBR lists at least one partition.
pub fn has_entries(sector0: &[u8]) -> bool {
    (0..4).any(|i| entry(sector0, i).is_some())
}

/// True when the MBR holds a protective 0xEE entry (a GPT disk).
pub fn is_protective(sector0: &[u8]) -> bool {
    (0..4).any(|i| entry(sector0, i).is_some_and(|e| e.0 == 0xEE))
}

fn part(number: u32, t: u8, start: u64, sectors: u64, logical: bool) -> Partition {
    Partition {
        number,
        start,
        sectors,
        role: if is_extended(t) {
            Role::Extended
        } else {
            Role::Data
        },
        type_name: format!("0x{t:02x}"),
        logical,
    }
}

/// Parse the MBR of `src` read in `sector`-byte sectors, following the EBR chain.
pub fn parse(src: &mut dyn Source, sector: u64) -> Result<Table> {
    let s0 = read_exact(src, 0, 512, "MBR")?;
    if !looks_like_mbr(&s0) {
        return bad("no MBR: no 55 AA boot signature or invalid boot flags");
    }
    let mut parts = Vec::new();
    let mut ext = None;
    for i in 0..4 {
        let Some((t, start, n)) = entry(&s0, i) else {
            continue;
        };
        let number = i as u32 + 1;
        if start == 0 {
            return bad(format!(
                "MBR partition {number} starts at sector 0, over the partition table itself"
            ));
        }
        if is_extended(t) {
            if ext.is_some() {
                return bad("MBR has two extended partitions");
            }
            ext = Some((start, n));
        }
        parts.push(part(number, t, start, n, false));
    }
    if let Some((start, n)) = ext {
        logicals(src, sector, start, n, &mut parts)?;
    }
    Ok(Table {
        kind: TableKind::Dos,
        sector,
        partitions: parts,
        last_usable: None,
    })
}

/// Walk the EBR chain of the extended partition at `ext_start` (`ext_len` sectors); logical
/// partitions must lie inside it, after their EBR.
fn logicals(
    src: &mut dyn Source,
    sector: u64,
    ext_start: u64,
    ext_len: u64,
    parts: &mut Vec<Partition>,
) -> Result<()> {
    let ext_end = ext_start + ext_len; // both < 2^32: no overflow
    let mut ebr = ext_start;
    let mut seen = std::collections::HashSet::new();
    for k in 0..MAX_LOGICAL {
        if !seen.insert(ebr) {
            return bad(format!(
                "MBR logical partition chain loops back to sector {ebr}"
            ));
        }
        let number = 5 + k as u32;
        let off = super::mul(ebr, sector, "EBR offset")?;
        let b = read_exact(src, off, 512, &format!("EBR of partition {number}"))?;
        if b[510] != 0x55 || b[511] != 0xAA {
            return bad(format!(
                "EBR of logical partition {number} at sector {ebr} has no 55 AA signature"
            ));
        }
        if let Some((t, rel, n)) = entry(&b, 0) {
            if rel == 0 {
                return bad(format!(
                    "logical partition {number} starts at its own EBR (relative sector 0)"
                ));
            }
            let start = ebr + rel;
            if start + n > ext_end {
                return bad(format!(
                    "logical partition {number} (sectors {start}-{}) runs past its extended partition (ends at sector {})",
                    start + n - 1,
                    ext_end - 1
                ));
            }
            parts.push(part(number, t, start, n, true));
        }
        match entry(&b, 1) {
            Some((_, rel, _)) if rel > 0 => {
                ebr = ext_start + rel;
                if ebr >= ext_end {
                    return bad(format!(
                        "next EBR after logical partition {number} lies outside the extended partition"
                    ));
                }
            }
            _ => return Ok(()),
        }
    }
    bad(format!("more than {MAX_LOGICAL} logical partitions"))
}

#[cfg(test)]
mod tests {
    use super::super::Bytes;
    use super::*;

    pub fn set(b: &mut [u8], base: usize, i: usize, t: u8, start: u32, n: u32) {
        let e = base + 446 + 16 * i;
        b[e + 4] = t;
        b[e + 8..e + 12].copy_from_slice(&start.to_le_bytes());
        b[e + 12..e + 16].copy_from_slice(&n.to_le_bytes());
        b[base + 510] = 0x55;
        b[base + 511] = 0xAA;
    }

    #[test]
    fn primaries_extended_and_logicals() {
        let mut b = vec![0u8; 1 << 20];
        set(&mut b, 0, 0, 0x83, 63, 100);
        set(&mut b, 0, 1, 0x05, 200, 800);
        // EBR at 200: logical at +2, next EBR at ext+400
        set(&mut b, 200 * 512, 0, 0x83, 2, 100);
        set(&mut b, 200 * 512, 1, 0x05, 400, 300);
        set(&mut b, 600 * 512, 0, 0x8e, 2, 100);
        let t = parse(&mut Bytes(&b), 512).unwrap();
        let got: Vec<(u32, u64, Role, bool)> = t
            .partitions
            .iter()
            .map(|p| (p.number, p.start, p.role, p.logical))
            .collect();
        assert_eq!(
            got,
            [
                (1, 63, Role::Data, false),
                (2, 200, Role::Extended, false),
                (5, 202, Role::Data, true),
                (6, 602, Role::Data, true)
            ]
        );
        super::super::validate(&t, b.len() as u64).unwrap();
    }

    #[test]
    fn lba_0_a_loop_and_a_logical_outside_are_errors_not_panics() {
        let mut b = vec![0u8; 1 << 20];
        set(&mut b, 0, 0, 0x83, 0, 100);
        assert!(parse(&mut Bytes(&b), 512)
            .unwrap_err()
            .0
            .contains("sector 0"));
        let mut b = vec![0u8; 1 << 20];
        set(&mut b, 0, 0, 0x05, 100, 800);
        set(&mut b, 100 * 512, 0, 0x83, 2, 10);
        set(&mut b, 100 * 512, 1, 0x05, 0, 10); // rel 0: ends the chain
        assert_eq!(parse(&mut Bytes(&b), 512).unwrap().partitions.len(), 2);
        set(&mut b, 100 * 512, 1, 0x05, 300, 10);
        set(&mut b, 400 * 512, 0, 0x83, 2, 10);
        set(&mut b, 400 * 512, 1, 0x05, 300, 10); // points at itself
        assert!(parse(&mut Bytes(&b), 512).unwrap_err().0.contains("loops"));
        let mut b = vec![0u8; 1 << 20];
        set(&mut b, 0, 0, 0x05, 100, 50);
        set(&mut b, 100 * 512, 0, 0x83, 2, 100);
        assert!(parse(&mut Bytes(&b), 512)
            .unwrap_err()
            .0
            .contains("past its extended"));
    }

    #[test]
    fn overlaps_and_past_the_end() {
        let mut b = vec![0u8; 1 << 20];
        set(&mut b, 0, 0, 0x83, 2048, 100);
        set(&mut b, 0, 1, 0x83, 2100, 100);
        let t = parse(&mut Bytes(&b), 512).unwrap();
        let e = super::super::validate(&t, 1 << 30).unwrap_err();
        assert!(e.0.contains("overlap"), "{e}");
        let mut b = vec![0u8; 1 << 20];
        set(&mut b, 0, 0, 0x83, 2048, 4096);
        let t = parse(&mut Bytes(&b), 512).unwrap();
        let e = super::super::validate(&t, 1 << 20).unwrap_err();
        assert!(e.0.contains("past the end"), "{e}");
    }
}
