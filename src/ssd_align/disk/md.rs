//! Linux md superblocks: v0.90 (at the end, 64 KiB aligned), v1.0 (at the end, 4 KiB
//! aligned), v1.1 (at 0), v1.2 (at 4 KiB). What ssd-align needs: level, layout, chunk, raid
//! disks and where the member's data starts (data_offset; 0 for 0.90 and 1.0).

use super::{bad, le32, le64, mul, Result};

const MAGIC: u64 = 0xa92b_4efc;

/// The md superblock format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub enum MdVersion {
    #[serde(rename = "0.90")]
    V090,
    #[serde(rename = "1.0")]
    V10,
    #[serde(rename = "1.1")]
    V11,
    #[serde(rename = "1.2")]
    V12,
}

impl MdVersion {
    /// md's `metadata_version` (`1.2`, `0.90`); `None` for external metadata (imsm, ddf).
    pub fn parse(s: &str) -> Option<MdVersion> {
        Some(match s.trim() {
            "0.90" | "0.90.0" => MdVersion::V090,
            "1.0" => MdVersion::V10,
            "1.1" => MdVersion::V11,
            "1.2" => MdVersion::V12,
            _ => return None,
        })
    }

    pub fn name(self) -> &'static str {
        match self {
            MdVersion::V090 => "0.90",
            MdVersion::V10 => "1.0",
            MdVersion::V11 => "1.1",
            MdVersion::V12 => "1.2",
        }
    }
}

/// What an md member's superblock says.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub struct Md {
    pub version: MdVersion,
    /// -1 linear, 0, 1, 4, 5, 6, 10.
    pub level: i64,
    pub layout: u64,
    pub chunk_bytes: u64,
    pub raid_disks: u64,
    /// Where the member's data starts, in bytes from the member's start.
    pub data_offset: u64,
}

/// Byte offsets where a superblock of each version sits on a member of `size` bytes.
pub fn locations(size: u64) -> Vec<(MdVersion, u64)> {
    let sectors = size / 512;
    let mut v = vec![(MdVersion::V11, 0), (MdVersion::V12, 4096)];
    if sectors >= 16 {
        v.push((MdVersion::V10, ((sectors - 16) & !7) * 512));
    }
    if sectors >= 256 {
        v.push((MdVersion::V090, ((sectors & !127) - 128) * 512));
    }
    v
}

/// The v1 superblock checksum (mdadm's calc_sb_1_csum) over `sb`, whose csum field is taken
/// as 0.
fn sb1_csum(sb: &[u8]) -> Option<u32> {
    let max_dev = usize::try_from(le32(sb, 220)).ok()?;
    let size = 256usize.checked_add(max_dev.checked_mul(2)?)?;
    let b = sb.get(..size)?;
    let mut sum: u64 = 0;
    let mut i = 0;
    while i + 4 <= size {
        if i != 216 {
            sum += le32(b, i);
        }
        i += 4;
    }
    if size - i == 2 {
        sum += super::le16(b, i);
    }
    Some(((sum & 0xffff_ffff) + (sum >> 32)) as u32)
}

/// Parse the superblock found at `version`'s location (`sb` starts there; 4 KiB suffice).
/// `None` when there is no md magic there.
pub fn parse(sb: &[u8], version: MdVersion) -> Result<Option<Md>> {
    if sb.len() < 256 || le32(sb, 0) != MAGIC {
        return Ok(None);
    }
    if version == MdVersion::V090 {
        return v090(sb).map(Some);
    }
    if le32(sb, 4) != 1 {
        return Ok(None);
    }
    match sb1_csum(sb) {
        Some(c) if u64::from(c) == le32(sb, 216) => {}
        Some(c) => {
            return bad(format!(
                "md v{} superblock checksum {:#010x} does not match the computed {c:#010x}",
                version.name(),
                le32(sb, 216)
            ))
        }
        None => {
            return bad(format!(
                "md v{} superblock: max_dev {} is too large",
                version.name(),
                le32(sb, 220)
            ))
        }
    }
    let level = i64::from(le32(sb, 72) as u32 as i32);
    let chunk = mul(le32(sb, 88), 512, "md chunk size")?;
    Ok(Some(Md {
        version,
        level,
        layout: le32(sb, 76),
        chunk_bytes: chunk,
        raid_disks: le32(sb, 92),
        data_offset: mul(le64(sb, 128), 512, "md data_offset")?,
    }))
}

/// The 0.90 superblock checksum (mdadm's calc_sb0_csum): the 1024 words with sb_csum as 0.
fn sb0_csum(sb: &[u8]) -> Option<u32> {
    let b = sb.get(..4096)?;
    let sum: u64 = (0..1024).filter(|w| *w != 38).map(|w| le32(b, w * 4)).sum();
    Some(((sum & 0xffff_ffff) + (sum >> 32)) as u32)
}

fn v090(sb: &[u8]) -> Result<Md> {
    if le32(sb, 4) != 0 || le32(sb, 8) != 90 {
        return bad(format!(
            "md superblock version {}.{} is not 0.90",
            le32(sb, 4),
            le32(sb, 8)
        ));
    }
    match sb0_csum(sb) {
        Some(c) if u64::from(c) == le32(sb, 152) => {}
        Some(c) => {
            return bad(format!(
                "md v0.90 superblock checksum {:#010x} does not match the computed {c:#010x}",
                le32(sb, 152)
            ))
        }
        None => return bad("md v0.90 superblock: fewer than 4096 bytes"),
    }
    Ok(Md {
        version: MdVersion::V090,
        level: i64::from(le32(sb, 28) as u32 as i32),
        layout: le32(sb, 256),
        chunk_bytes: le32(sb, 260),
        raid_disks: le32(sb, 40),
        data_offset: 0,
    })
}

/// md's `level` (`raid10`, `linear`) as the superblock's number.
pub fn level_number(s: &str) -> Option<i64> {
    let l = s.trim();
    if l == "linear" {
        return Some(-1);
    }
    l.strip_prefix("raid")?.parse().ok()
}

impl Md {
    /// The RAID10 copies (near x far) of the layout; 1 for other levels.
    pub fn copies(&self) -> u64 {
        if self.level == 10 {
            ((self.layout & 0xff) * ((self.layout >> 8) & 0xff)).max(1)
        } else {
            1
        }
    }
}

#[cfg(test)]
pub mod tests {
    use super::*;

    /// A v1 superblock (4 KiB) with the given geometry and a right checksum.
    pub fn sb1(
        level: i32,
        layout: u32,
        chunk_sectors: u32,
        disks: u32,
        data_offset: u64,
    ) -> Vec<u8> {
        let mut b = vec![0u8; 4096];
        b[0..4].copy_from_slice(&(MAGIC as u32).to_le_bytes());
        b[4..8].copy_from_slice(&1u32.to_le_bytes());
        b[72..76].copy_from_slice(&level.to_le_bytes());
        b[76..80].copy_from_slice(&layout.to_le_bytes());
        b[88..92].copy_from_slice(&chunk_sectors.to_le_bytes());
        b[92..96].copy_from_slice(&disks.to_le_bytes());
        b[128..136].copy_from_slice(&data_offset.to_le_bytes());
        b[220..224].copy_from_slice(&disks.to_le_bytes());
        let c = sb1_csum(&b).unwrap();
        b[216..220].copy_from_slice(&c.to_le_bytes());
        b
    }

    /// A 0.90 superblock (4 KiB) with the given geometry and a right checksum.
    pub fn sb090(level: i32, layout: u32, chunk: u32, disks: u32) -> Vec<u8> {
        let mut b = vec![0u8; 4096];
        let w = |b: &mut Vec<u8>, word: usize, v: u32| {
            b[word * 4..word * 4 + 4].copy_from_slice(&v.to_le_bytes())
        };
        w(&mut b, 0, MAGIC as u32);
        w(&mut b, 2, 90);
        w(&mut b, 7, level as u32);
        w(&mut b, 10, disks);
        w(&mut b, 64, layout);
        w(&mut b, 65, chunk);
        let c = sb0_csum(&b).unwrap();
        w(&mut b, 38, c);
        b
    }

    #[test]
    fn v090_geometry_and_checksum() {
        let b = sb090(5, 2, 65536, 3);
        let m = parse(&b, MdVersion::V090).unwrap().unwrap();
        assert_eq!(
            (
                m.level,
                m.layout,
                m.chunk_bytes,
                m.raid_disks,
                m.data_offset
            ),
            (5, 2, 65536, 3, 0)
        );
        let mut bad = b;
        bad[40] = 4;
        assert!(parse(&bad, MdVersion::V090)
            .unwrap_err()
            .0
            .contains("checksum"));
    }

    #[test]
    fn v1_geometry_and_checksum() {
        let b = sb1(10, 0x102, 1024, 3, 2048);
        let m = parse(&b, MdVersion::V12).unwrap().unwrap();
        assert_eq!(
            (m.level, m.chunk_bytes, m.raid_disks, m.data_offset),
            (10, 512 << 10, 3, 1 << 20)
        );
        assert_eq!(m.copies(), 2);
        let mut bad = b.clone();
        bad[92] = 4;
        assert!(parse(&bad, MdVersion::V12)
            .unwrap_err()
            .0
            .contains("checksum"));
        assert_eq!(parse(&[0u8; 4096], MdVersion::V12).unwrap(), None);
        // a huge max_dev is an error, not a read past the buffer
        let mut huge = b;
        huge[220..224].copy_from_slice(&u32::MAX.to_le_bytes());
        assert!(parse(&huge, MdVersion::V12).is_err());
    }

    #[test]
    fn locations_at_the_end() {
        // 100 MiB member: 1.0 at size - 8 KiB rounded down to 4 KiB, 0.90 at size - 64 KiB
        let l = locations(100 << 20);
        assert!(l.contains(&(MdVersion::V10, (100 << 20) - 8192)));
        assert!(l.contains(&(MdVersion::V090, (100 << 20) - 65536)));
    }
}
