//! What ssd-align found besides the verdict, typed: facts gather read (a rotational device,
//! an optimal I/O size not to believe, a stale kernel table, members it could not read) and
//! notes of the judge. Render turns them into words (`notes` and `warnings` in JSON, beside
//! the typed `findings`). Pure.

use serde::Serialize;

use crate::ssd_align::judge::Holder;

/// Why an optimal_io_size is not believed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub(crate) enum OptIoWhy {
    /// 0: the device reports none.
    Zero,
    /// 33553920 = 0xFFFF x 512: a USB bridge's placeholder.
    UsbBridge,
    /// Not a multiple of the physical sector.
    NotMultiple { physical: u64 },
    /// Over 16 MiB: not believable.
    TooLarge,
}

/// One finding.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "finding", rename_all = "snake_case")]
pub(crate) enum Finding {
    /// sysfs says rotational=1: perhaps not an SSD (or a controller hiding it).
    Rotational { device: String },
    /// The device's optimal_io_size is ignored.
    OptimalIoIgnored { value: u64, why: OptIoWhy },
    /// alignment_offset -1: the device's own sectors are misaligned to its physical blocks.
    DeviceMisaligned,
    /// An md level without stripe geometry (linear, multipath...).
    NoStripeGeometry { level: String },
    /// The target is a device-mapper device over these members.
    DmDevice { name: String, members: Vec<String> },
    /// The kernel's partition `number` starts elsewhere than the disk's table says.
    KernelStartDiffers {
        disk: String,
        number: u32,
        kernel_start: u64,
        disk_start: u64,
    },
    /// The kernel's partition `number` starts where the disk's table says but has another
    /// size: the kernel's table is stale all the same.
    KernelSizeDiffers {
        disk: String,
        number: u32,
        kernel_size: u64,
        disk_size: u64,
    },
    /// The kernel knows a partition the disk's table does not.
    KernelOnly { disk: String, number: u32 },
    /// The disk's table has a partition the kernel does not know.
    DiskOnly { disk: String, number: u32 },
    /// A member of the md/dm target is not in sysfs here.
    MemberNotInSysfs {
        holder: Holder,
        member: String,
        top: String,
    },
    /// A member's node is not here: only its start is judged.
    MemberLayersNotRead { device: String },
    /// Partition devices of an image are named as `losetup -fP` would name them.
    ImageNames { image: String },
    /// No partition table on an image: what is on it is checked as partition 0.
    NoTable,
}

impl Finding {
    /// A warning (something may be wrong) rather than a note.
    pub(crate) fn is_warning(&self) -> bool {
        matches!(
            self,
            Finding::Rotational { .. }
                | Finding::DeviceMisaligned
                | Finding::KernelStartDiffers { .. }
                | Finding::KernelSizeDiffers { .. }
                | Finding::KernelOnly { .. }
                | Finding::DiskOnly { .. }
        )
    }
}
