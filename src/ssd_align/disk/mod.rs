//! On-disk metadata ssd-align reads, parsed from bytes: partition tables (MBR, GPT), md
//! superblocks, LUKS headers, LVM2 labels and metadata, filesystem superblocks. Pure: the
//! bytes come through [`Source`], which `sys::block` implements for a device or an image and
//! tests and fuzz targets implement for a byte slice.
//!
//! Every value read from disk goes through checked arithmetic: an overflow is an error
//! naming the value, never a wrap to a plausible number. Reads are bounded (a header that
//! claims 2^32-1 partition entries is an error, not a 600 GB allocation).

use std::fmt;

pub mod fs;
pub mod gpt;
pub mod luks;
pub mod lvm;
pub mod mbr;
pub mod md;
pub mod stack;
pub mod table;

/// Bad or unreadable metadata: one line, naming the value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DiskError(pub String);

impl fmt::Display for DiskError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for DiskError {}

pub type Result<T> = std::result::Result<T, DiskError>;

pub fn bad<T>(msg: impl Into<String>) -> Result<T> {
    Err(DiskError(msg.into()))
}

/// Random access to a device or an image (read-only).
pub trait Source {
    /// Its length in bytes.
    fn size(&self) -> u64;
    /// Up to `len` bytes at `off` (fewer at the end; none past it).
    fn read_at(&mut self, off: u64, len: usize) -> Result<Vec<u8>>;
}

/// A byte slice as a [`Source`] (tests, fuzz targets).
pub struct Bytes<'a>(pub &'a [u8]);

impl Source for Bytes<'_> {
    fn size(&self) -> u64 {
        self.0.len() as u64
    }
    fn read_at(&mut self, off: u64, len: usize) -> Result<Vec<u8>> {
        let Ok(start) = usize::try_from(off) else {
            return Ok(Vec::new());
        };
        let start = start.min(self.0.len());
        let end = start.saturating_add(len).min(self.0.len());
        Ok(self.0[start..end].to_vec())
    }
}

/// `len` bytes at `off` or an error naming `what` (a short read is an error here).
pub fn read_exact(src: &mut dyn Source, off: u64, len: usize, what: &str) -> Result<Vec<u8>> {
    let b = src.read_at(off, len)?;
    if b.len() < len {
        return bad(format!(
            "{what} at byte {off}: only {} of {len} bytes before the end",
            b.len()
        ));
    }
    Ok(b)
}

/// `a x b`, or an error naming the value.
pub fn mul(a: u64, b: u64, what: &str) -> Result<u64> {
    a.checked_mul(b)
        .ok_or_else(|| DiskError(format!("{what}: {a} x {b} overflows 64 bits")))
}

/// `a + b`, or an error naming the value.
pub fn add(a: u64, b: u64, what: &str) -> Result<u64> {
    a.checked_add(b)
        .ok_or_else(|| DiskError(format!("{what}: {a} + {b} overflows 64 bits")))
}

pub fn le16(b: &[u8], o: usize) -> u64 {
    b.get(o..o + 2)
        .map_or(0, |s| u64::from(u16::from_le_bytes([s[0], s[1]])))
}
pub fn le32(b: &[u8], o: usize) -> u64 {
    b.get(o..o + 4).map_or(0, |s| {
        u64::from(u32::from_le_bytes([s[0], s[1], s[2], s[3]]))
    })
}
pub fn le64(b: &[u8], o: usize) -> u64 {
    b.get(o..o + 8).map_or(0, |s| {
        u64::from_le_bytes([s[0], s[1], s[2], s[3], s[4], s[5], s[6], s[7]])
    })
}
pub fn be16(b: &[u8], o: usize) -> u64 {
    b.get(o..o + 2)
        .map_or(0, |s| u64::from(u16::from_be_bytes([s[0], s[1]])))
}
pub fn be32(b: &[u8], o: usize) -> u64 {
    b.get(o..o + 4).map_or(0, |s| {
        u64::from(u32::from_be_bytes([s[0], s[1], s[2], s[3]]))
    })
}
pub fn be64(b: &[u8], o: usize) -> u64 {
    b.get(o..o + 8).map_or(0, |s| {
        u64::from_be_bytes([s[0], s[1], s[2], s[3], s[4], s[5], s[6], s[7]])
    })
}

/// CRC-32 (IEEE 802.3, reflected), as GPT uses; crc32fast is already in the tree (flate2).
pub fn crc32(data: &[u8]) -> u32 {
    crc32fast::hash(data)
}

/// The kind of partition table.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum TableKind {
    Gpt,
    Dos,
    /// No table: what is on the whole device is checked as partition 0.
    None,
}

impl TableKind {
    pub fn name(self) -> &'static str {
        match self {
            TableKind::Gpt => "gpt",
            TableKind::Dos => "dos",
            TableKind::None => "none",
        }
    }
}

/// What a partition-table entry is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    /// Holds data (a primary MBR, GPT or logical partition).
    Data,
    /// An MBR extended partition: a container of logical partitions, never judged as data.
    Extended,
}

/// One partition, in the table's sectors.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Partition {
    pub number: u32,
    pub start: u64,
    pub sectors: u64,
    pub role: Role,
    /// The MBR type byte (`0x83`) or the GPT type GUID, as text.
    pub type_name: String,
    /// A logical partition (MBR numbers 5 and up).
    pub logical: bool,
}

/// A partition table.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Table {
    pub kind: TableKind,
    /// Bytes per sector the table counts in.
    pub sector: u64,
    pub partitions: Vec<Partition>,
    /// A GPT's last usable LBA (the header's; the backup array and header lie after it).
    pub last_usable: Option<u64>,
}

impl Table {
    /// Start of partition `p` in bytes.
    pub fn start_bytes(&self, p: &Partition) -> Result<u64> {
        mul(
            p.start,
            self.sector,
            &format!("partition {} start", p.number),
        )
    }
    /// Size of partition `p` in bytes.
    pub fn size_bytes(&self, p: &Partition) -> Result<u64> {
        mul(
            p.sectors,
            self.sector,
            &format!("partition {} size", p.number),
        )
    }
}

/// Check a table against the device: no partition past the end, none overlapping another
/// (logical partitions lie inside their extended one and may not overlap each other).
pub fn validate(t: &Table, disk_bytes: u64) -> Result<()> {
    let disk_sectors = disk_bytes / t.sector;
    let mut spans = Vec::new();
    for p in &t.partitions {
        if p.sectors == 0 {
            return bad(format!("partition {} has 0 sectors", p.number));
        }
        let end = add(p.start, p.sectors, &format!("partition {} end", p.number))?;
        if end > disk_sectors {
            return bad(format!(
                "partition {} ends at sector {} ({}-byte sectors), past the end of the device ({disk_sectors} sectors): truncated image or corrupt table",
                p.number,
                end - 1,
                t.sector
            ));
        }
        if p.role == Role::Data {
            spans.push((p.start, end, p.number));
        }
    }
    spans.sort_unstable();
    for w in spans.windows(2) {
        if w[1].0 < w[0].1 {
            return bad(format!(
                "partitions {} (sectors {}-{}) and {} (from sector {}) overlap",
                w[0].2,
                w[0].0,
                w[0].1 - 1,
                w[1].2,
                w[1].0
            ));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn crc32_of_known_strings() {
        assert_eq!(crc32(b""), 0);
        assert_eq!(crc32(b"123456789"), 0xCBF4_3926);
    }

    #[test]
    fn overflow_names_the_value() {
        let e = mul(u64::MAX, 4096, "partition 1 start").unwrap_err();
        assert!(e.0.contains("partition 1 start"), "{e}");
        assert!(add(u64::MAX, 1, "pe_start")
            .unwrap_err()
            .0
            .contains("pe_start"));
    }
}
