//! The GUID partition table, parsed here rather than by gptman: gptman panics on a partition
//! entry size other than 128 (256 is legal), on a partition at LBA 0, and allocates whatever
//! a header claims (2^32-1 entries: 600 GB). Here every header field is validated before it
//! is used, the entry array is bounded, and both CRCs are checked: a corrupt primary table is
//! an error, not a silent fall-back to the backup.

use super::{
    bad, crc32, le32, le64, mul, read_exact, Partition, Result, Role, Source, Table, TableKind,
};

/// The largest partition entry array read (the usual one is 16 KiB; 1 MiB holds 8192 entries
/// of 128 bytes).
pub const MAX_ARRAY_BYTES: u64 = 1 << 20;

/// True when "EFI PART" sits at LBA 1 for `sector`-byte sectors.
pub fn has_header(src: &mut dyn Source, sector: u64) -> Result<bool> {
    Ok(src.read_at(sector, 8)? == b"EFI PART")
}

/// The fields of a validated header.
struct Header {
    first_usable: u64,
    last_usable: u64,
    entries_lba: u64,
    count: u64,
    entry_size: u64,
    array_crc: u32,
}

fn header(h: &[u8], sector: u64, disk_sectors: u64) -> Result<Header> {
    let size = le32(h, 12);
    if size < 92 || size > sector {
        return bad(format!("GPT header size {size} is outside 92..={sector}"));
    }
    let mut copy = h[..size as usize].to_vec();
    copy[16..20].fill(0);
    let (want, got) = (le32(h, 16) as u32, crc32(&copy));
    if want != got {
        return bad(format!(
            "primary GPT header is invalid (bad CRC32: header says {want:#010x}, computed {got:#010x})"
        ));
    }
    if le64(h, 24) != 1 {
        return bad(format!("GPT header's own LBA is {}, not 1", le64(h, 24)));
    }
    let (first_usable, last_usable) = (le64(h, 40), le64(h, 48));
    if first_usable < 2 || last_usable < first_usable || last_usable >= disk_sectors {
        return bad(format!(
            "GPT usable area {first_usable}-{last_usable} is not inside the device ({disk_sectors} sectors)"
        ));
    }
    let entry_size = le32(h, 84);
    if entry_size < 128 || !entry_size.is_power_of_two() || entry_size > 4096 {
        return bad(format!(
            "GPT partition entry size {entry_size} is not 128 x 2^n (up to 4096)"
        ));
    }
    let count = le32(h, 80);
    let array = mul(count, entry_size, "GPT partition entry array size")?;
    if array > MAX_ARRAY_BYTES {
        return bad(format!(
            "GPT claims {count} partition entries of {entry_size} bytes ({array} bytes): more than the {MAX_ARRAY_BYTES}-byte limit"
        ));
    }
    let entries_lba = le64(h, 72);
    if entries_lba < 2 || entries_lba >= disk_sectors {
        return bad(format!(
            "GPT partition entry array at LBA {entries_lba} is outside the device"
        ));
    }
    Ok(Header {
        first_usable,
        last_usable,
        entries_lba,
        count,
        entry_size,
        array_crc: le32(h, 88) as u32,
    })
}

/// The type GUID (mixed-endian, as text) of an entry.
fn guid(e: &[u8]) -> String {
    format!(
        "{:08X}-{:04X}-{:04X}-{:02X}{:02X}-{}",
        le32(e, 0),
        super::le16(e, 4),
        super::le16(e, 6),
        e[8],
        e[9],
        e[10..16]
            .iter()
            .map(|b| format!("{b:02X}"))
            .collect::<String>()
    )
}

/// Parse the primary GPT of `src` in `sector`-byte sectors.
pub fn parse(src: &mut dyn Source, sector: u64) -> Result<Table> {
    let disk_sectors = src.size() / sector;
    let h = read_exact(src, sector, sector as usize, "GPT header")?;
    if &h[..8] != b"EFI PART" {
        return bad("no GPT header at LBA 1");
    }
    let hd = header(&h, sector, disk_sectors)?;
    let off = mul(hd.entries_lba, sector, "GPT entry array offset")?;
    let len = (hd.count * hd.entry_size) as usize; // bounded by MAX_ARRAY_BYTES
    let arr = read_exact(src, off, len, "GPT partition entry array")?;
    let got = crc32(&arr);
    if got != hd.array_crc {
        return bad(format!(
            "primary GPT partition entry array is invalid (bad CRC32: header says {:#010x}, computed {got:#010x})",
            hd.array_crc
        ));
    }
    let mut parts = Vec::new();
    for (i, e) in arr.chunks_exact(hd.entry_size as usize).enumerate() {
        if e[..16].iter().all(|b| *b == 0) {
            continue;
        }
        let n = i as u32 + 1;
        let (first, last) = (le64(e, 32), le64(e, 40));
        if last < first {
            return bad(format!(
                "GPT partition {n}: last LBA {last} < first LBA {first}"
            ));
        }
        if first < hd.first_usable || last > hd.last_usable {
            return bad(format!(
                "GPT partition {n} (LBA {first}-{last}) lies outside the usable area {}-{}",
                hd.first_usable, hd.last_usable
            ));
        }
        parts.push(Partition {
            number: n,
            start: first,
            sectors: super::add(last - first, 1, &format!("GPT partition {n} size"))?,
            role: Role::Data,
            type_name: guid(e),
            logical: false,
        });
    }
    Ok(Table {
        kind: TableKind::Gpt,
        sector,
        partitions: parts,
        last_usable: Some(hd.last_usable),
    })
}

#[cfg(test)]
pub mod tests {
    use super::super::Bytes;
    use super::*;

    /// A GPT image of `sectors` x `ss` bytes with `count` entries of `esize` bytes and the
    /// given (first, last) partitions; CRCs right.
    pub fn image(
        ss: usize,
        sectors: usize,
        count: u32,
        esize: u32,
        parts: &[(u64, u64)],
    ) -> Vec<u8> {
        let mut b = vec![0u8; ss * sectors];
        b[510] = 0x55;
        b[511] = 0xAA;
        b[446 + 4] = 0xEE;
        b[446 + 8..446 + 12].copy_from_slice(&1u32.to_le_bytes());
        let pmbr = u32::try_from(sectors - 1).unwrap_or(u32::MAX);
        b[446 + 12..446 + 16].copy_from_slice(&pmbr.to_le_bytes());
        let arr_off = 2 * ss;
        for (i, (f, l)) in parts.iter().enumerate() {
            let e = arr_off + i * esize as usize;
            b[e] = 0xAF; // any non-zero type GUID
            b[e + 32..e + 40].copy_from_slice(&f.to_le_bytes());
            b[e + 40..e + 48].copy_from_slice(&l.to_le_bytes());
        }
        let arr_len = (count as usize * esize as usize).min(b.len() - arr_off);
        let acrc = crc32(&b[arr_off..arr_off + arr_len]);
        let h = ss;
        b[h..h + 8].copy_from_slice(b"EFI PART");
        b[h + 8..h + 12].copy_from_slice(&0x0001_0000u32.to_le_bytes());
        b[h + 12..h + 16].copy_from_slice(&92u32.to_le_bytes());
        b[h + 24..h + 32].copy_from_slice(&1u64.to_le_bytes());
        b[h + 32..h + 40].copy_from_slice(&(sectors as u64 - 1).to_le_bytes());
        b[h + 40..h + 48].copy_from_slice(&34u64.to_le_bytes());
        b[h + 48..h + 56].copy_from_slice(&(sectors as u64 - 34).to_le_bytes());
        b[h + 72..h + 80].copy_from_slice(&2u64.to_le_bytes());
        b[h + 80..h + 84].copy_from_slice(&count.to_le_bytes());
        b[h + 84..h + 88].copy_from_slice(&esize.to_le_bytes());
        b[h + 88..h + 92].copy_from_slice(&acrc.to_le_bytes());
        let hcrc = crc32(&b[h..h + 92]);
        b[h + 16..h + 20].copy_from_slice(&hcrc.to_le_bytes());
        b
    }

    #[test]
    fn entries_of_256_bytes_are_legal() {
        let b = image(512, 4096, 64, 256, &[(2048, 3000), (3072, 4000)]);
        let t = parse(&mut Bytes(&b), 512).unwrap();
        let got: Vec<(u32, u64, u64)> = t
            .partitions
            .iter()
            .map(|p| (p.number, p.start, p.sectors))
            .collect();
        assert_eq!(got, [(1, 2048, 953), (2, 3072, 929)]);
    }

    #[test]
    fn lba_0_is_an_error_not_a_panic() {
        let b = image(512, 4096, 128, 128, &[(0, 100)]);
        let e = parse(&mut Bytes(&b), 512).unwrap_err();
        assert!(e.0.contains("outside the usable area"), "{e}");
        let b = image(512, 4096, 128, 128, &[(3000, 2048)]);
        assert!(parse(&mut Bytes(&b), 512)
            .unwrap_err()
            .0
            .contains("last LBA 2048 < first"));
    }

    #[test]
    fn a_header_claiming_2_pow_32_minus_1_entries_is_refused_without_allocating() {
        let b = image(512, 4096, u32::MAX, 128, &[(2048, 3000)]);
        let e = parse(&mut Bytes(&b), 512).unwrap_err();
        assert!(e.0.contains("4294967295 partition entries"), "{e}");
        let b = image(512, 4096, 128, 200, &[]);
        assert!(parse(&mut Bytes(&b), 512)
            .unwrap_err()
            .0
            .contains("entry size 200"));
    }

    #[test]
    fn crcs_are_checked() {
        let mut b = image(512, 4096, 128, 128, &[(2048, 3000)]);
        b[1024 + 56] ^= 1; // a name byte of partition 1
        assert!(parse(&mut Bytes(&b), 512)
            .unwrap_err()
            .0
            .contains("entry array is invalid (bad CRC32"));
        let mut b = image(512, 4096, 128, 128, &[(2048, 3000)]);
        b[512 + 40] ^= 1;
        assert!(parse(&mut Bytes(&b), 512)
            .unwrap_err()
            .0
            .contains("header is invalid (bad CRC32"));
    }
}
