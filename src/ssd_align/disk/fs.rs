//! Filesystem superblocks: ext2/3/4 (stride, stripe-width), XFS (sunit, swidth), btrfs.

use super::{be32, le16, le32};

/// Bytes read at a filesystem's start to recognise it (btrfs' superblock is at 64 KiB).
pub const FS_HEAD: usize = 0x10000 + 4096;

/// What an ext2/3/4 superblock says about RAID geometry.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub struct Ext4Info {
    pub block_size: u64,
    pub blocks_per_group: u64,
    /// s_raid_stride (0: not set).
    pub stride: u64,
    /// s_raid_stripe_width (0: not set).
    pub stripe_width: u64,
}

/// Parse an ext2/3/4 superblock from the first bytes of a partition (at least 2048).
pub fn ext4(head: &[u8]) -> Option<Ext4Info> {
    let sb = head.get(1024..2048)?;
    if le16(sb, 0x38) != 0xEF53 {
        return None;
    }
    let log = le32(sb, 0x18);
    if log > 6 {
        return None;
    }
    Some(Ext4Info {
        block_size: 1024 << log,
        blocks_per_group: le32(sb, 0x20),
        stride: le16(sb, 0x164),
        stripe_width: le32(sb, 0x170),
    })
}

/// The bytes an ext2/3/4 filesystem spans: its block count (the high half only with the
/// 64bit feature, as the kernel reads it) x its block size.
pub fn ext4_bytes(head: &[u8]) -> Option<u64> {
    let e = ext4(head)?;
    let sb = head.get(1024..2048)?;
    let hi = if le32(sb, 0x60) & 0x80 != 0 {
        le32(sb, 0x150)
    } else {
        0
    };
    ((hi << 32) | le32(sb, 0x04)).checked_mul(e.block_size)
}

/// The bytes an XFS data section spans: sb_dblocks x the block size.
pub fn xfs_bytes(head: &[u8]) -> Option<u64> {
    let x = xfs(head)?;
    super::be64(head, 8).checked_mul(x.block_size)
}

/// What an XFS superblock says about stripe geometry.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub struct XfsInfo {
    pub block_size: u64,
    /// sb_unit in filesystem blocks (0: not set).
    pub sunit_blocks: u64,
    /// sb_width in filesystem blocks.
    pub swidth_blocks: u64,
    /// sb_agblocks: the allocation group size in blocks.
    pub ag_blocks: u64,
    /// Made with stripe alignment (XFS_SB_VERSION_DALIGNBIT): only then does the kernel take
    /// new sunit/swidth at mount.
    pub dalign: bool,
}

/// Parse an XFS superblock (sector 0 of the partition).
pub fn xfs(head: &[u8]) -> Option<XfsInfo> {
    if head.get(0..4)? != b"XFSB" {
        return None;
    }
    let block_size = be32(head, 4);
    if !block_size.is_power_of_two() || !(512..=65536).contains(&block_size) {
        return None;
    }
    Some(XfsInfo {
        block_size,
        sunit_blocks: be32(head, 184),
        swidth_blocks: be32(head, 188),
        ag_blocks: be32(head, 84),
        dalign: super::be16(head, 100) & 0x0100 != 0,
    })
}

/// True for a btrfs superblock at 64 KiB.
pub fn btrfs(head: &[u8]) -> bool {
    head.get(0x10040..0x10048) == Some(b"_BHRfS_M".as_slice())
}

/// True for a FAT12/16/32 boot sector (an EFI system partition's vfat): the 55 AA signature,
/// a power-of-two sector size 512..4096, and "FAT" in the filesystem type field (offset 54,
/// or 82 for FAT32).
pub fn vfat(head: &[u8]) -> bool {
    let Some(b) = head.get(..512) else {
        return false;
    };
    let bps = le16(b, 11);
    b[510] == 0x55
        && b[511] == 0xAA
        && bps.is_power_of_two()
        && (512..=4096).contains(&bps)
        && (&b[54..57] == b"FAT" || &b[82..87] == b"FAT32")
}

/// True for Linux swap (`SWAPSPACE2` or the old `SWAP-SPACE` at the end of the first page,
/// for the page sizes mkswap uses: 4, 8, 16 and 64 KiB).
pub fn swap(head: &[u8]) -> bool {
    [4096usize, 8192, 16384, 65536].iter().any(|pg| {
        let m = head.get(pg - 10..*pg);
        m == Some(b"SWAPSPACE2".as_slice()) || m == Some(b"SWAP-SPACE".as_slice())
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn superblocks() {
        let mut h = vec![0u8; FS_HEAD];
        h[1024 + 0x38..1024 + 0x3a].copy_from_slice(&0xEF53u16.to_le_bytes());
        h[1024 + 0x18] = 2;
        h[1024 + 0x164..1024 + 0x166].copy_from_slice(&128u16.to_le_bytes());
        assert_eq!(ext4(&h).unwrap().stride, 128);
        assert_eq!(ext4(&h[..100]), None, "short input is not a panic");
        let mut x = vec![0u8; 4096];
        x[0..4].copy_from_slice(b"XFSB");
        x[4..8].copy_from_slice(&4096u32.to_be_bytes());
        x[184..188].copy_from_slice(&128u32.to_be_bytes());
        assert_eq!(xfs(&x).unwrap().sunit_blocks, 128);
        h[0x10040..0x10048].copy_from_slice(b"_BHRfS_M");
        assert!(btrfs(&h));
    }

    #[test]
    fn a_fat_boot_sector_is_vfat_and_an_mbr_is_not() {
        let mut b = vec![0u8; 4096];
        b[510] = 0x55;
        b[511] = 0xAA;
        assert!(!vfat(&b), "a bare 55 AA (an MBR) is not vfat");
        b[11..13].copy_from_slice(&512u16.to_le_bytes());
        b[82..90].copy_from_slice(b"FAT32   ");
        assert!(vfat(&b));
        b[11..13].copy_from_slice(&500u16.to_le_bytes());
        assert!(!vfat(&b));
        assert!(!vfat(&b[..100]), "short input is not a panic");
    }
}
